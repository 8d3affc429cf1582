"""Vectors and matrices in the formula language (issue 16): declared shapes, the book's and matrixcalculus.org's
notations read to the trees they mean, shapes checked with messages that point at the spot, formulas of
numbers read as before, derivatives a user writes, and numpy's values against the closed forms.

No TensorFlow here: the parser and the numpy lowering are pure Python and numpy.
"""
from __future__ import annotations

import numpy as np
import pytest

from calcviz.models import matrix
from calcviz.models.expression import (
    Binary, Call, Name, Num, ParseError, Shape, declared_shape, parse, parse_derivatives, with_declarations,
)
from calcviz.models.lowering import evaluate
from calcviz.models.pretty import to_html
from reference import MATRIX_IDENTITIES

X, A, U, V, XX = Name("x"), Name("A"), Name("U"), Name("V"), Name("X")


def T(node):
    return Call("transpose", (node,))


def at(left, right):
    return Binary("@", left, right)


QUADRATIC = at(at(T(X), A), X)
FACTORIZATION = Binary("^", Call("norm", (Binary("-", XX, at(U, V)),)), Num(2.0))


# ----------------------------------------------------------------------------- declarations
@pytest.mark.parametrize("kind, shape", [
    ("scalar", Shape()), ("3", Shape("vector", 3)), ("n", Shape("vector", "n")), ("3x3", Shape("matrix", 3, 3)),
    ("3 x 4", Shape("matrix", 3, 4)), ("3×4", Shape("matrix", 3, 4)), ("n x n", Shape("matrix", "n", "n")),
    ("nxn", Shape("matrix", "n", "n")), ("m x k", Shape("matrix", "m", "k")), ("1x3", Shape("matrix", 1, 3)),
    ("n1 x n2", Shape("matrix", "n1", "n2")),
])
def test_declared_shapes(kind, shape):
    assert declared_shape(kind) == shape


def test_declarations_and_shape_of_every_definition():
    e = parse("X: m x n; U: m x k; V: k x n\nr = X - U V\nf = ||r||^2")
    assert e.declarations == (("X", "m x n"), ("U", "m x k"), ("V", "k x n"))
    assert e.inputs == ("X", "U", "V") and e.matrix and e.symbols == ("m", "n", "k")
    assert e.shape("r") == Shape("matrix", "m", "n") and e.output_shape.scalar
    assert e.arrays == {"X": Shape("matrix", "m", "n"), "U": Shape("matrix", "m", "k"), "V": Shape("matrix", "k", "n")}


def test_command_line_shapes_are_declarations_before_the_text():
    shapes = {"x": "3", "A": "3x3"}
    e = parse("x^T A x", shapes)
    assert e.body == QUADRATIC and e.declarations == (("x", "3"), ("A", "3x3"))
    assert parse(with_declarations("x^T A x", shapes)).definitions == e.definitions
    with pytest.raises(ParseError) as info:
        parse("x: 4; x^T x", {"x": "3"})
    assert info.value.message == "'x' is declared twice (here and by --shape)" and info.value.position == 0


# ----------------------------------------------------------------------------- readings
QUADRATIC_SPELLINGS = ["x^T A x", "x^TAx", "xᵀAx", "x^⊤ A x", "x^{T} A x", "x^\\top A x", "x'*A*x", "x' A x",
                       "x.'*A*x", "x^T @ A @ x", "transpose(x) A x", "(x^T A) x", "x^T * A * x"]


@pytest.mark.parametrize("text", QUADRATIC_SPELLINGS)
def test_the_quadratic_form_in_every_notation(text):
    """The book's x^T A x, matrixcalculus.org's x'*A*x, Python's @, LaTeX's \\top: one tree."""
    e = parse(f"x: 3; A: 3x3; {text}")
    assert e.body == QUADRATIC and e.output_shape.scalar


@pytest.mark.parametrize("text", ["||X - UV||^2", "||X - U V||_F^2", "||X - U*V||_{F}^2", "norm2(X - U V)^2",
                                  "norm(X - U@V)^2", "\\|X - UV\\|^2", "‖X − UV‖²", "\\lVert X - UV \\rVert^2"])
def test_the_frobenius_norm_in_every_notation(text):
    e = parse(f"X: 4x3; U: 4x2; V: 2x3; {text}")
    assert e.body == FACTORIZATION and e.output_shape.scalar


@pytest.mark.parametrize("text, body", [
    ("2 A", Binary("*", Num(2.0), A)),                       # a number times a matrix: scaling
    ("A * 2", Binary("*", A, Num(2.0))),
    ("c A", Binary("*", Name("c"), A)),
    ("A B", at(A, Name("B"))),                               # juxtaposition of two matrices: the product
    ("A * B", at(A, Name("B"))),                             # * as matrixcalculus.org and the book mean it
    ("A @ B", at(A, Name("B"))),
    ("A .* B", Binary(".*", A, Name("B"))),                  # entry by entry
    ("A ./ B", Binary("./", A, Name("B"))),
    ("A .^ 2", Binary(".^", A, Num(2.0))),
    ("2.*A", Binary(".*", Num(2.0), A)),                     # the number 2, then .*
    ("A / 2", Binary("/", A, Num(2.0))),
    ("A^-1", Call("inv", (A,))),
    ("A'", T(A)), ("(A^T)^T", T(T(A))),
    ("tr(A)", Call("tr", (A,))), ("trace(A)", Call("tr", (A,))), ("\\det(A)", Call("det", (A,))),
    ("det A B", Call("det", (at(A, Name("B")),))),          # a function without brackets takes the product
    ("exp(A) B", at(Call("exp", (A,)), Name("B"))),          # elementwise functions keep the shape
    ("A (A + B)", at(A, Binary("+", A, Name("B")))),         # a declared name before a bracket: a product
])
def test_operators_between_matrices(text, body):
    assert parse(f"A: 3x3; B: 3x3; {text}").body == body


def test_shapes_of_products():
    def shape(text):
        return parse(f"x: n; y: n; A: m x n; {text}").output_shape
    assert shape("A x") == Shape("vector", "m")
    assert shape("x^T y") == Shape()                           # a row times a column: a number
    assert shape("x y^T") == Shape("matrix", "n", "n")         # a column times a row: the outer product
    assert shape("x^T A^T") == Shape("row", 1, "m")
    assert parse("x: 3; B: 3x1; x^T B").output_shape == Shape("row", 1, 1)  # a 1x1 matrix is no number
    assert parse("x: 1; A: 1x1; x^T A x").output_shape == Shape()          # (x^T A) x: a row times a column
    assert shape("A^T A") == Shape("matrix", "n", "n")
    assert shape("sum(A)") == shape("||A||") == shape("dot(x, y)") == shape("logsumexp(x)") == Shape()
    assert shape("exp(A) .* A") == Shape("matrix", "m", "n")
    assert shape("x + 1") == Shape("vector", "n")              # a number is added to every entry


# ----------------------------------------------------------------------------- shape errors point at the spot
@pytest.mark.parametrize("text, message, position", [
    ("A: 3x3; x: 4; A x", "A x: A is 3x3 and x has 4 entries", 16),
    ("A: 3x3; x: 4; (A + A^T) x", "(A + A^T) x: (A + A^T) is 3x3 and x has 4 entries", 24),
    ("x: 3; y: 3; x y", "x y: x and y are both columns (3 and 3 entries); for their dot product write x^T y, for "
                        "the product entry by entry x .* y", 14),
    ("x: n; y: m; x^T y", "x^T y: x^T is a row of n entries and y has m entries", 16),
    ("x: 3; A: 3x3; x + A", "x + A: x has 3 entries and A is 3x3; + and - need equal shapes", 16),
    ("x: 3; x + x^T", "x + x^T: x has 3 entries and x^T is a row of 3 entries; + and - need equal shapes (is a "
                      "transpose missing?)", 8),
    ("X: m x n; U: m x k; V: n x k; ||X - U V||^2", "U V: U is m x k and V is n x k (is a transpose missing?)", 38),
    ("x: 3; y: 2; x .* y", "x .* y: x has 3 entries and y has 2 entries; .* needs equal shapes", 14),
    ("x: 3; 1 / x", "1 / x: x has 3 entries; divide by a number, or write ./ to divide entry by entry", 8),
    ("x: 3; x^2", "x^2: x has 3 entries; the power of a vector or matrix is only ^T (its transpose) or ^-1 (its "
                  "inverse): for each entry to the power 2, write x.^2, for the squared length ||x||^2", 7),
    ("A: 3x3; A^2", "for each entry to the power 2, write A.^2, for the matrix product A A", 9),
    ("x: 3; 2^x", "2^x: x has 3 entries; for each entry as the power, write 2 .^ x", 7),
    ("A: 2x3; det(A)", "det(A): A is 2x3, and det needs a square matrix", 8),
    ("A: 2x3; A^-1", "A^-1: A is 2x3, and inv needs a square matrix", 8),
    ("x: 3; tr(x)", "tr(x): x has 3 entries, and tr needs a square matrix", 6),
    ("x: 3; y: 2; dot(x, y)", "dot(x, y): x has 3 entries and y has 2 entries; dot needs two vectors", 12),
    ("x: 3; A: 3x3; x^T A x + y", "y has no declared shape: by matrixcalculus.org's convention it would be a "
                                  "vector; declare it on a line before, as in y: 3 (or y: scalar for a number)", 24),
    ("x: 3; B x", "B has no declared shape: by matrixcalculus.org's convention it would be a matrix; declare it "
                  "on a line before, as in B: 3x3", 6),
    ("x: n; n x", "'n' is a size here, not a number", 6),
    ("x: 3; ||x", "this '||' is never closed", 6),
    ("A: 3x3; ||A||_2", "||A||_2 of a matrix is its largest singular value", 13),
    ("x: 3; ||x||_7", "unknown norm _7", 11),
    ("x: 3; (x)_F", "unexpected character '_'", 9),
    ("x: 3; ||_F x||", "a subscript such as _F only follows a norm's closing bars", 8),
    ("x: 3; vector(1) + x", "vector(...) is not supported (its size would be guessed)", 6),
    ("x: 3; sum = x; sum", "'sum' is a built-in name", 6),
    ("x: 3; 'x'", "strings are not part of a formula", 6),
    ("x: 3; ^T x", "'^' needs something on its left", 6),
    ("x: 3; ᵀx", "a transpose needs something on its left", 6),
])
def test_shape_errors(text, message, position):
    with pytest.raises(ParseError) as info:
        parse(text)
    assert message in info.value.message and info.value.position == position, (info.value.message,
                                                                                info.value.position)


def test_a_shape_error_in_the_second_definition_points_into_it():
    text = "x: 3; A: 3x4\ny = A x\nf = y^T y"
    with pytest.raises(ParseError) as info:
        parse(text)
    assert info.value.message == "A x: A is 3x4 and x has 3 entries (is a transpose missing?)"
    assert info.value.line_column() == (2, 7)
    assert info.value.caret() == "y = A x\n      ^"


# ----------------------------------------------------------------------------- formulas of numbers stay as they were
def test_x_to_the_power_t_is_still_a_power_with_a_note():
    e = parse("x^T A x")
    assert not e.matrix and e.inputs == ("x", "T", "A")
    assert e.body == Binary("*", Binary("*", Binary("^", X, Name("T")), A), X)
    assert [n.text for n in e.notes] == [
        "x^T read as x to the power T (for x transposed, declare the shapes first: x: 3; A: 3x3)"]
    assert [n.text for n in parse("x^(T)").notes] == []  # written as a power: nothing to say


@pytest.mark.parametrize("text, what, position", [
    ("x' A x", "a transpose", 1), ("xᵀ A x", "a transpose", 1), ("x^⊤ A x", "a transpose", 1),
    ("||X - UV||^2", "||...|| (a norm)", 0), ("x @ y", "'@'", 2), ("x .* y", "'.*'", 2), ("x .^ 2", "'.^'", 2),
    ("sum(x)", "sum(...)", 0), ("2 + tr(A)", "tr(...)", 4),
])
def test_matrix_notation_without_declarations_offers_them(text, what, position):
    """matrixcalculus.org's letters are offered, never applied: x and y are the plot axes of today's formulas."""
    with pytest.raises(ParseError) as info:
        parse(text)
    message = info.value.message
    assert message.startswith(f"{what} is for vectors and matrices, and none is declared: declare their shapes "
                              f"first, as in a line ")
    assert message.endswith("(matrixcalculus.org's convention: a–g are numbers, h–z vectors, A–Z matrices)")
    assert info.value.position == position
    if text.startswith("||"):
        assert "as in a line X: 3x3; U: 3x3; V: 3x3 (" in message


@pytest.mark.parametrize("text", ["x^2 + y^2", "sum + x", "x T", "a^T", "2.5*x", "x*exp(-x^2 - y^2)", "det x"])
def test_formulas_of_numbers_parse_as_before(text):
    e = parse(text)
    assert not e.matrix and e.shapes == () and e.entries == e.inputs


# ----------------------------------------------------------------------------- notes
def test_notes_say_how_matrix_text_was_read():
    notes = [n.text for n in parse("A: 3x3; B: 3x3; beta: 3; A*B beta").notes]
    assert notes == ["A*B beta read as A B beta, with * as the matrix product (for the product entry by entry, "
                     "write .*)"]
    notes = [n.text for n in parse("X: 2x2; U: 2x2; V: 2x2; ||X - UV||^2 + c").notes]
    assert notes == ["UV read as U V (declared names written together are a product)",
                     "c is a number here (it is not declared)"]


# ----------------------------------------------------------------------------- round trips and the preview
@pytest.mark.parametrize("text", [
    "x: 3; A: 3x3; x^T A x", "X: m x n; U: m x k; V: k x n; ||X - UV||^2 + 0.1 ||U||^2", "x: 3; beta: 3; beta^T x",
    "A: 3x3; B: 3x3; (A B)^T - B^T A^T", "A: n x n; logdet(A) + tr(inv(A)) - det(A^-1)", "x: 3; w: 3; "
    "sum(log(1 + exp(-x .* w)))", "x: 3; x .^ 2 ./ (1 + x^T x)", "x: 3; A: 3x3; r = A x - x; f = r^T r / 2",
    "A: 2x2; -A^T", "x: 3; (x^T)^T", "x: 3; y: 3; logsumexp(x) + dot(x, y) + norm1(x)",
])
def test_matrix_formulas_round_trip(text):
    e = parse(text)
    again = parse(e.to_text())
    assert again.definitions == e.definitions and again.shapes == e.shapes and again.to_text() == e.to_text()


def test_the_preview_writes_the_book_notation():
    assert to_html(parse("x: 3; A: 3x3; x^T A x")) == (
        "<i>x</i>: 3<br><i>A</i>: 3x3<br><i>f</i>(<i>x</i>, <i>A</i>) = <i>x</i><sup>T</sup> <i>A</i> <i>x</i>")
    assert to_html(parse("X: 4x3; U: 4x2; V: 2x3; ||X - UV||^2")).endswith(
        "= ‖<i>X</i> − <i>U</i> <i>V</i>‖<sup>2</sup>")
    assert to_html(parse("A: 3x3; B: 3x3; (A + B)^T .* A")).endswith(
        "= (<i>A</i> + <i>B</i>)<sup>T</sup> ⊙ <i>A</i>")


# ----------------------------------------------------------------------------- derivatives a user writes
def test_derivatives_name_an_input_and_have_its_shape():
    e = parse("x: n; A: n x n; x^T A x")
    dx, dA = parse_derivatives(e, "d/dx = (A + A^T) x\ndf/dA = x x^T")
    assert (dx.wrt, dx.node, dx.shape, dx.text) == ("x", at(Binary("+", A, T(A)), X), Shape("vector", "n"),
                                                    "d/dx = (A + A^T) x")
    assert (dA.wrt, dA.node, dA.shape) == ("A", at(X, T(X)), Shape("matrix", "n", "n"))
    (partial,) = parse_derivatives(e, "∂f/∂x = 2 A x")
    assert partial.wrt == "x"


@pytest.mark.parametrize("formula, text, message, position", [
    ("x: 3; A: 3x3; x^T A x", "d/dx = x^T (A + A^T)",
     "your derivative is 1x3 (a row); d/dx of a number must have x's shape: 3 entries (a column)", 7),
    ("x: 3; A: 3x3; x^T A x", "d/dx = A", "your derivative is 3x3; d/dx of a number must have x's shape: 3 entries", 7),
    ("x: 3; A: 3x3; x^T A x", "d/dA = x^T x", "your derivative is a number; d/dA of a number must have A's shape: 3x3",
     7),
    ("x: 3; x1: 3x1; sum(x^T x1)", "d/dx1 = x", "your derivative is 3 entries (a column); d/dx1 of a number must "
                                                "have x1's shape: 3x1", 8),
    ("x: 3; x1: 3x1; x^T x1", "d/dx1 = x1", "f is a row of 1 entry: a derivative to check needs a number", 0),
    ("x: 3; A: 3x3; x^T A x", "dg/dx = x", "the function is named f: write df/dx or d/dx", 1),
    ("x: 3; A: 3x3; x^T A x", "d/dq = x", "'q' is not in the formula (its inputs: x, A)", 3),
    ("x: 3; A: 3x3; x^T A x", "d/dx = A q", "'q' is not in the formula (its inputs: x, A)", 9),
    ("x: 3; A: 3x3; r = A x; r^T r", "d/dr = x", "'r' is defined in the formula; derivatives are checked with "
                                                 "respect to its inputs", 3),
    ("x: 3; A: 3x3; A x", "d/dx = A", "f has 3 entries: a derivative to check needs a number, such as ||f||^2 or "
                                      "sum(f)", 0),
    ("x: 3; A: 3x3; x^T A x", "d/dx = A x; d/dx = x", "d/dx is given twice", 12),
    ("x: 3; A: 3x3; x^T A x", "the gradient is 2Ax", "write a derivative as d/dx = ..., for example d/dx = 2x", 0),
    ("x^2 y", "d/dx = 2 x y + k", "'k' is not in the formula (its inputs: x, y)", 15),
])
def test_derivative_errors(formula, text, message, position):
    with pytest.raises(ParseError) as info:
        parse_derivatives(parse(formula), text)
    assert message in info.value.message and info.value.position == position, (info.value.message,
                                                                                info.value.position)


def test_derivatives_of_formulas_of_numbers():
    d = parse_derivatives(parse("x^2 y + k y"), "d/dx = 2xy\nd/dy = x^2 + k")
    assert [x.wrt for x in d] == ["x", "y"] and all(x.shape == Shape() for x in d)


# ----------------------------------------------------------------------------- the window's entries
def test_entries_and_axes_of_a_formula_with_arrays():
    e = parse("x: 2; A: 2x2; x^T A x")
    assert e.entries == ("x[1]", "x[2]", "A[1,1]", "A[1,2]", "A[2,1]", "A[2,2]") and e.axes == ("x[1]", "x[2]")
    e = parse("X: 2x2; U: 2x1; V: 1x2; ||X - UV||^2")
    assert e.axes == ("X[1,1]", "X[1,2]")  # no vector: the first two entries
    assert parse("x: n; c x^T x").entries == ("x[1]", "x[2]", "x[3]", "c")  # symbolic sizes at DEFAULT_SIZE (3)
    assert parse("x: 3; y: scalar; x^T x + y").axes == ("y",)  # a number named y is still an axis


def test_entries_and_arrays_go_both_ways():
    e = parse("x: 2; A: 2x2; c x^T A x")
    entries = {"x[1]": 1.0, "x[2]": 2.0, "A[1,1]": 1.0, "A[1,2]": 2.0, "A[2,1]": 3.0, "A[2,2]": 4.0, "c": 0.5}
    assert matrix.arrays_from_entries(e, entries) == {"x": [1.0, 2.0], "A": [[1.0, 2.0], [3.0, 4.0]], "c": 0.5}
    # the scalar view (entries) and the whole arrays give the same value: 0.5 * x^T A x = 0.5 * 27
    assert float(evaluate(e, entries)) == 13.5
    assert float(evaluate(e, {"x": np.array([1.0, 2.0]), "A": np.array([[1.0, 2], [3, 4]]), "c": 0.5})) == 13.5


def test_the_window_refuses_more_entries_than_it_can_show():
    matrix.check_window(parse("x: 10; A: 9x9; x^T x + sum(A)"))  # 91 entries
    with pytest.raises(ParseError) as info:
        matrix.check_window(parse("x: 3\nA: 10x10\nx^T x + sum(A)"))
    assert info.value.message.startswith("the window shows vectors and matrices of at most 100 entries in all "
                                         "(these have 103)") and info.value.position == 5


# ----------------------------------------------------------------------------- values (numpy) against the closed forms
@pytest.mark.parametrize("name", sorted(MATRIX_IDENTITIES))
@pytest.mark.parametrize("seed, sizes", [(0, {"n": 3, "m": 4, "k": 2}), (7, {"n": 5, "m": 2, "k": 3})])
def test_numpy_values_of_the_identities(name, seed, sizes):
    identity = MATRIX_IDENTITIES[name]
    e = parse(identity["formula"], identity["shapes"])
    values, _ = matrix.inputs_for(e, seed, {s: sizes[s] for s in e.symbols})
    assert float(evaluate(e, values)) == pytest.approx(identity["value"](**values), rel=1e-12)


def test_draws_depend_on_the_seed_and_the_name_only():
    a = matrix.inputs_for(parse("x: 3; A: 3x3; x^T A x"), seed=4)[0]
    b = matrix.inputs_for(parse("x: 3; A: 3x3; B: 2x2; x^T A x + sum(B)"), seed=4)[0]
    c = matrix.inputs_for(parse("x: 3; A: 3x3; x^T A x"), seed=5)[0]
    assert np.array_equal(a["A"], b["A"]) and np.array_equal(a["x"], b["x"]) and not np.array_equal(a["A"], c["A"])


def test_typed_values_are_checked_against_their_shapes():
    e = parse("x: n; A: n x n; x^T A x")
    values, sizes = matrix.inputs_for(e, 0, None, {"x": [1.0, 2.0]})
    assert sizes == {"n": 2} and values["A"].shape == (2, 2) and values["x"].tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="x has 2 entries; got 3 numbers"):
        matrix.inputs_for(parse("x: 2; x^T x"), 0, None, {"x": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match="A has n = 3, but n = 2 elsewhere"):
        matrix.inputs_for(e, 0, None, {"x": [1.0, 2.0], "A": np.eye(3)})


@pytest.mark.parametrize("text, value", [("2.5", 2.5), ("1,2,3", [1.0, 2.0, 3.0]), ("1, 2; 3, 4", [[1.0, 2.0], [3.0, 4.0]]),
                                         ("atan2(1, 1), 2", [np.pi / 4, 2.0])])
def test_typed_arrays(text, value):
    from calcviz.models.lowering import constant_value
    assert np.allclose(matrix.parse_array(text, constant_value), value)
