"""Formulas as readers of the chapter write them (issue 13) and the parser's bounds (issue 15).

Each reader's form is checked two ways: it parses to the same tree as an explicit form, and its
value matches sympy on a test-authored expression (sympy never sees the user's text). Readings of
ambiguous text are checked in Expression.notes, the preview's source.
"""
from __future__ import annotations

import math

import pytest
import sympy

from calcviz.models.expression import (
    CARET_WINDOW, MAX_LENGTH, Binary, Call, Name, Num, ParseError, Unary, parse,
)
from test_expression import evaluate

X, Y = sympy.symbols("x y")
POINTS = [(0.7, -1.3), (-0.4, 0.9), (1.6, 0.25)]


def same_tree(text: str, explicit: str) -> None:
    e, f = parse(text), parse(explicit)
    assert e.definitions == f.definitions, (e.to_text(), f.to_text())
    assert e.inputs == f.inputs


def matches_sympy(text: str, truth: str) -> None:
    """calcviz's reading of ``text`` against sympy's value of the test-authored ``truth``."""
    e, reference = parse(text), sympy.sympify(truth)
    for x, y in POINTS:
        env = {n: v for n, v in (("x", x), ("y", y)) if n in e.inputs}
        expected = float(reference.subs({X: x, Y: y}).evalf(30))
        assert evaluate(e, **env) == pytest.approx(expected, rel=1e-13, abs=1e-15), (text, x, y)


def notes(text: str) -> list[str]:
    return [str(n) for n in parse(text).notes]


# ----------------------------------------------------------------------------- superscripts
@pytest.mark.parametrize("text, explicit", [
    ("3x⁴ - 4x³ - 12x²", "3x^4 - 4x^3 - 12x^2"),
    ("x⁰ + x¹ + x⁵ + x⁶ + x⁷ + x⁸ + x⁹", "x^0 + x^1 + x^5 + x^6 + x^7 + x^8 + x^9"),
    ("x¹⁰", "x^10"),
    ("x⁻¹", "x^(-1)"),
    ("x⁻²y", "x^(-2) y"),
    ("e⁻ˣ", "e^(-x)"),
    ("e⁻⁽ˣ⁺ʸ⁾", "e^(-(x+y))"),
    ("2ˣʸ", "2^(x y)"),
    ("(x+1)²", "(x+1)^2"),
    ("x⁺³", "x^3"),
])
def test_superscripts_are_powers(text, explicit):
    same_tree(text, explicit)
    assert notes(text) == [] or all("read as x·y" in n for n in notes(text))


def test_seed_one_variable_function_with_superscripts():
    e = parse("3x⁴ - 4x³ - 12x²")
    assert e.inputs == ("x",)
    # the chapter's critical points: f(-1) = -5, f(0) = 0, f(2) = -32; f(-2) = 32 on the box's edge
    assert [evaluate(e, x=v) for v in (-1.0, 0.0, 2.0, -2.0, 3.0)] == [-5.0, 0.0, -32.0, 32.0, 27.0]


@pytest.mark.parametrize("text, phrase, position", [
    ("e⁻ˣ²", "a power inside a superscript is ambiguous", 3),
    ("x⁻", "expected a number, a name or '(' after '-'", 2),
    ("²", "'^' needs something on its left", 0),
    ("x⁾", "this superscript bracket is not matched", 1),
    ("x⁽²", "this superscript bracket is not matched", 1),
    ("x⁽²⁾⁾", "this superscript bracket is not matched", 4),
])
def test_superscript_errors_point_at_the_superscript(text, phrase, position):
    with pytest.raises(ParseError) as info:
        parse(text)
    assert phrase in info.value.message and info.value.position == position


# ----------------------------------------------------------------------------- products of axis letters
@pytest.mark.parametrize("text, explicit, truth", [
    ("x^2y + xy^2", "x^2*y + x*y^2", "x**2*y + x*y**2"),        # the chapter's exercise
    ("x^4+y^4-4xy", "x^4 + y^4 - 4*x*y", "x**4 + y**4 - 4*x*y"),
    ("xe^(-x^2-y^2)", "x*e^(-x^2-y^2)", "x*exp(-x**2-y**2)"),    # the seed's quadratic example
    ("xy", "x*y", "x*y"),
    ("2xy", "2*x*y", "2*x*y"),
    ("yx", "y*x", "y*x"),
    ("ex", "e*x", "E*x"),
    ("xy(x+y)", "x*y*(x+y)", "x*y*(x+y)"),
    ("12x(x-2)(x+1)", "12*x*(x-2)*(x+1)", "12*x*(x-2)*(x+1)"),   # the chapter's f'(x)
    ("x(y)", "x*y", "x*y"),
    ("e(x+1)", "e*(x+1)", "E*(x+1)"),
])
def test_names_of_axis_letters_are_products(text, explicit, truth):
    same_tree(text, explicit)
    matches_sympy(text, truth)


def test_xy_alone_is_a_function_of_two_variables_and_says_so():
    e = parse("xy")
    assert e.inputs == ("x", "y") and e.body == Binary("*", Name("x"), Name("y"))
    assert notes("xy") == ["xy read as x·y (for one name, add a line xy: scalar)"]
    note = parse("1 + xe^x").notes[0]
    assert (note.pos, note.end) == (4, 6) and str(note).startswith("xe read as x·e")


def test_other_names_stay_names():
    assert parse("k x^2 + theta + x2 + xk + e1").inputs == ("x", "k", "theta", "x2", "xk", "e1")
    assert notes("k x^2 + theta") == []


def test_a_declaration_keeps_a_product_name_whole():
    e = parse("xy: scalar\nxy x^2 + y")
    assert e.inputs == ("x", "y", "xy") and e.declarations == (("xy", "scalar"),)
    assert e.body == Binary("+", Binary("*", Name("xy"), Binary("^", Name("x"), Num(2.0))), Name("y"))
    assert notes("xy: scalar\nxy x^2 + y") == []
    assert evaluate(e, x=2.0, y=1.0, xy=3.0) == 13.0
    # the canonical text keeps the declaration, so it reads back the same
    assert e.to_text() == "xy: scalar; f = xy * x^2 + y"
    again = parse(e.to_text())
    assert again.definitions == e.definitions and again.inputs == e.inputs
    # a declaration can come after its use, and ';' separates lines as usual
    assert parse("a = xy^2; xy: scalar; a + 1").inputs == ("xy",)


def test_a_definition_keeps_its_name_whole():
    e = parse("xy = x + y\nf = xy^2")
    assert e.intermediates == ("xy",) and e.inputs == ("x", "y")
    assert evaluate(e, x=1.0, y=2.0) == 9.0
    assert notes("xy = x + y\nf = xy^2") == []


@pytest.mark.parametrize("text, phrase, position", [
    ("xy: scalar; xy: scalar; xy", "'xy' is declared twice", 12),
    ("a: scalar; a = x; a", "'a' is both declared and defined", 11),
    ("x: three\nx", "'three' is not a kind calcviz knows: write scalar, a vector's size (3, or a letter such as n "
                    "for any size) or a matrix's rows x columns (3x3, m x n)", 3),
    ("x: 0\nx", "a size must be from 1 to 100,000 (got 0)", 3),
    ("A: 3 by 3; A", "'3 by 3' is not a kind", 3),
    ("A: 3x3x3; A", "'3x3x3' is not a kind", 3),
    ("x: vector; x", "'vector' is not a kind", 3),
    ("sum: 3; sum(sum)", "'sum' is a built-in name", 0),
    ("k:", "'k:' needs a kind after the colon", 1),
    ("k: scalar", "after the declarations, type the function", 9),
    ("x^2; k: scalar", "the last line must be the function", 5),
    ("sin: scalar; x", "'sin' is a built-in name", 0),
    ("e: scalar; x", "'e' is a built-in name", 0),
    ("x + k: scalar", "':' has no meaning here", 5),
    ("lambda: 0", "'lambda' is a reserved word", 0),
])
def test_declaration_errors(text, phrase, position):
    with pytest.raises(ParseError) as info:
        parse(text)
    assert phrase in info.value.message and info.value.position == position


def test_an_unused_declaration_is_noted():
    assert notes("k: scalar\nx^2") == ["k is declared but not used"]


# ----------------------------------------------------------------------------- LaTeX and typography
@pytest.mark.parametrize("text, explicit", [
    ("e^{-x^2-y^2}", "e^(-x^2-y^2)"),
    (r"\log(e^x + e^y)", "log(e^x + e^y)"),
    (r"\sin(x) + \cos(y)", "sin(x) + cos(y)"),
    (r"x \cdot y", "x*y"),
    (r"x \times y \div 2", "x*y/2"),
    (r"\frac{1}{2}", "1/2"),
    (r"\frac{x+1}{y-1}", "(x+1)/(y-1)"),
    (r"\frac{1}{2}x", "(1/2)*x"),
    (r"x^\frac{1}{2}", "x^(1/2)"),
    (r"\frac{x}{2}^2", "(x/2)^2"),
    (r"\sqrt{x}", "sqrt(x)"),
    (r"\sqrt{x}y", "sqrt(x)*y"),               # the group right after a function is its argument
    (r"\sqrt{x^2 + y^2}", "sqrt(x^2 + y^2)"),
    (r"\left( x+1 \right)^{2}", "(x+1)^2"),
    (r"\exp\left(-x^2\right)", "exp(-x^2)"),
    (r"\pi x", "pi*x"),
    (r"2\,x\;y", "2*x*y"),
    (r"\alpha x^2 + \beta", "α*x^2 + β"),
    (r"\arctan(y)", "atan(y)"),
    ("{x + 1}{x - 1}", "(x+1)*(x-1)"),
    ("√(x)", "sqrt(x)"),
    ("x·y", "x*y"),
    ("x×y", "x*y"),
    ("x−y", "x-y"),
    ("x–y", "x-y"),
    ("arcsin(x) + arccos(y)", "asin(x) + acos(y)"),
])
def test_latex_and_typography(text, explicit):
    same_tree(text, explicit)


def test_the_seed_formulas_in_latex():
    # the chapter's own LaTeX, as a reader would paste it
    matches_sympy(r"\log(e^x + e^y)", "log(exp(x) + exp(y))")
    matches_sympy(r"x e^{-x^2-y^2}", "x*exp(-x**2-y**2)")
    matches_sympy(r"\left(\left(x+y\right)^{2}+\left(x-y\right)^{2}\right)^2", "((x+y)**2+(x-y)**2)**2")
    matches_sympy(r"\frac{e^x}{e^x+e^y}", "exp(x)/(exp(x)+exp(y))")


@pytest.mark.parametrize("text, phrase, position", [
    (r"\foo x", "unknown LaTeX command \\foo", 0),
    (r"\frac{1}", "\\frac needs two groups", 8),
    (r"\frac 1 2", "\\frac needs two groups", 0),
    ("{x + 1", "this '{' is never closed", 0),
    ("(x + 1}", "this '}' closes the '(' at column 1; close it with ')'", 6),
    ("x}", "unmatched '}'", 1),
    ("\\", "'\\' starts a LaTeX command", 0),
])
def test_latex_errors(text, phrase, position):
    with pytest.raises(ParseError) as info:
        parse(text)
    assert phrase in info.value.message and info.value.position == position


# ----------------------------------------------------------------------------- functions without brackets
@pytest.mark.parametrize("text, explicit, note", [
    ("ln x", "ln(x)", "ln x read as ln(x)"),
    ("sin x", "sin(x)", "sin x read as sin(x)"),
    ("sin 2x", "sin(2x)", "sin 2x read as sin(2·x)"),
    ("sin 2x y", "sin(2*x*y)", "sin 2x y read as sin(2·x·y)"),
    ("ln xy", "ln(x*y)", "ln xy read as ln(x·y)"),
    ("sin x^2", "sin(x^2)", "sin x^2 read as sin(x^2)"),
    ("ln x + 1", "ln(x) + 1", "ln x read as ln(x)"),
    ("sin x/2", "sin(x)/2", "sin x read as sin(x)"),
    ("2 sin x cos y", "2*sin(x)*cos(y)", "sin x read as sin(x)"),
    ("sin cos x", "sin(cos(x))", "sin cos x read as sin(cos(x))"),
    ("√2x", "sqrt(2x)", "√2x read as sqrt(2·x)"),
    ("√x + 1", "sqrt(x) + 1", "√x read as sqrt(x)"),
    (r"\ln x", "ln(x)", r"\ln x read as ln(x)"),
    ("sin^2 x", "sin(x)^2", "sin^2 x read as sin(x)^2"),
    ("sin²x + cos²x", "sin(x)^2 + cos(x)^2", "sin²x read as sin(x)^2"),
])
def test_functions_without_brackets(text, explicit, note):
    same_tree(text, explicit)
    assert note in notes(text)


@pytest.mark.parametrize("text, explicit", [
    ("sin^2(x)", "sin(x)^2"),
    ("sin²(x) + cos²(x)", "sin(x)^2 + cos(x)^2"),
    ("log^{2}(x)", "log(x)^2"),
    ("sin^(3)(x)", "sin(x)^3"),
    ("tan^-2(x)", "tan(x)^-2"),
    (r"\sin^2{x}", "sin(x)^2"),
    ("sin (x) y", "sin(x)*y"),           # brackets right after a name are its arguments
])
def test_powers_of_functions_need_no_note(text, explicit):
    same_tree(text, explicit)
    assert notes(text) == []


def test_sin_squared_plus_cos_squared_is_one():
    matches_sympy("sin²x + cos²x", "1")
    matches_sympy("sin^2(x y) + cos^2(x y)", "1")


@pytest.mark.parametrize("text, phrase, position", [
    ("sin^-1(x)", "sin^-1 is ambiguous: write asin(x) for the inverse function, or 1/sin(x)", 3),
    ("sin⁻¹(x)", "sin^-1 is ambiguous", 3),
    ("log^-1(x)", "write 1/log(x)", 3),
    ("sin^x(y)", "write the power of sin as a number, as in sin^2(x)", 4),
    ("sin -x", "sin needs parentheses, as in sin(x)", 0),
    ("atan2 x", "atan2 needs parentheses", 0),
    ("sin", "sin needs parentheses", 0),
])
def test_function_notation_errors(text, phrase, position):
    with pytest.raises(ParseError) as info:
        parse(text)
    assert phrase in info.value.message and info.value.position == position


# ----------------------------------------------------------------------------- ambiguous forms, read by rule
@pytest.mark.parametrize("text, explicit, note", [
    ("x/2y", "(x/2)*y", "x/2y read as (x/2)·y, not x/(2·y)"),
    ("1/2x", "(1/2)*x", "1/2x read as (1/2)·x, not 1/(2·x)"),
    ("x/y z", "(x/y)*z", "x/y z read as (x/y)·z, not x/(y·z)"),
    ("x^1/2", "(x^1)/2", "x^1/2 read as (x^1)/2, not x^(1/2)"),
    ("e^-x/2", "(e^(-x))/2", "e^-x/2 read as (e^(-x))/2, not e^(-x/2)"),
    ("x + y^3/2", "x + (y^3)/2", "y^3/2 read as (y^3)/2, not y^(3/2)"),
])
def test_ambiguous_forms_are_read_by_rule_and_noted(text, explicit, note):
    same_tree(text, explicit)
    assert note in notes(text)


@pytest.mark.parametrize("text", ["x/(2y)", "x^(1/2)", "(x/2) y", "x^{1}/2", "x²/2", "x/2 * y", "x*y/2"])
def test_unambiguous_forms_have_no_note(text):
    assert notes(text) == []


def test_note_positions_cover_the_piece():
    text = "a = 1; f = 3 + x/2y"
    (note,) = parse(text).notes
    assert text[note.pos:note.end] == "x/2y"


# ----------------------------------------------------------------------------- unknown functions
@pytest.mark.parametrize("name", ["norm", "dot", "sum", "transpose", "tr", "trace", "norm2", "vector"])
def test_matrix_functions_are_not_products(name):
    """Without a declared vector or matrix, name(...) says how to declare one (by matrixcalculus.org's letters)."""
    with pytest.raises(ParseError) as info:
        parse(f"1 + {name}(x)")
    message = info.value.message
    assert message == (f"{name}(...) is for vectors and matrices, and none is declared: declare their shapes first, "
                       f"as in a line x: 3 (matrixcalculus.org's convention: a–g are numbers, h–z vectors, A–Z matrices)")
    assert info.value.position == 4


@pytest.mark.parametrize("name", ["sum", "tr", "det", "inv", "norm"])
def test_matrix_function_names_stay_parameters_in_formulas_of_numbers(name):
    """Today's scalar formulas keep working: a parameter named sum is still a parameter."""
    e = parse(f"{name} + x^2")
    assert e.inputs == ("x", name) and e.body == Binary("+", Name(name), Binary("^", Name("x"), Num(2.0)))


@pytest.mark.parametrize("text, message", [
    ("foo(x)", "unknown function 'foo'. The functions are sin, cos, tan"),
    ("sinn(x)", "unknown function 'sinn'; did you mean sin? The functions are"),
    ("xsin(y)", "unknown function 'xsin'; for x times sin(...) write x sin(...)"),
    ("k(x + 1)", "unknown function 'k'; for k times (...) write k*(...)"),
])
def test_unknown_function_messages(text, message):
    with pytest.raises(ParseError) as info:
        parse(text)
    assert info.value.message.startswith(message) and info.value.position == 0


# ----------------------------------------------------------------------------- bounded messages (issue 15)
def test_error_in_a_long_line_shows_a_window_of_it():
    text = "x" + " " * 15_998 + "+ foo(x)" + " + y" * 800       # 19 207 characters, the error in the middle
    with pytest.raises(ParseError) as info:
        parse(text)
    error = info.value
    assert error.position == 16001
    shown, caret = error.caret().split("\n")
    assert shown.startswith("…") and shown.endswith("…") and len(shown) == CARET_WINDOW + 2
    assert caret.endswith("^") and shown[len(caret) - 1] == "f" and shown[len(caret) - 1:].startswith("foo(x)")
    assert len(str(error)) < 300


def test_a_100_kb_formula_is_refused_briefly():
    text = "x+" * 50_000
    with pytest.raises(ParseError) as info:
        parse(text)
    error = info.value
    assert "too long (over 20000 characters)" in error.message and error.position == MAX_LENGTH
    shown, caret = error.caret().split("\n")
    assert len(shown) <= CARET_WINDOW + 2 and len(caret) <= CARET_WINDOW + 2
    assert shown[len(caret) - 1] == text[MAX_LENGTH]


def test_caret_at_the_start_and_end_of_long_lines():
    for text, position in [("foo(x) + x" + " " * 2000, 0), ("x" + " " * 1999 + "foo(x)", 2000)]:
        with pytest.raises(ParseError) as info:
            parse(text)
        assert info.value.position == position
        shown, caret = info.value.caret().split("\n")
        assert len(shown) == CARET_WINDOW + 1 and shown[len(caret) - 1] == "f"


def test_long_names_are_shortened_in_messages():
    name = "q" * 15_000
    for text in (f"{name}(x)", f"{name} = 1; {name} = 2; x", f"if + {name}", "1" * 5000 + " 2" * 10):
        with pytest.raises(ParseError) as info:
            parse(text)
        assert len(info.value.message) < 300, info.value.message[:80]


def test_readings_are_values_not_just_trees():
    """The readings, by value against sympy on the explicit meaning."""
    matches_sympy("x/2y", "(x/2)*y")
    matches_sympy("x^1/2 + 0*y", "x/2")
    matches_sympy("ln x^2 + y", "log(x**2) + y")
    matches_sympy("e⁻ˣ + y", "exp(-x) + y")
    matches_sympy(r"\frac{1}{2}xy", "x*y/2")
    matches_sympy("√2x^2 + y", "sqrt(2*x**2) + y")


def test_unary_and_calls_in_trees():
    assert parse("-ln x").body == Unary("-", Call("ln", (Name("x"),)))
    assert parse("2^sin x").body == Binary("^", Num(2.0), Call("sin", (Name("x"),)))
    assert math.isclose(evaluate(parse("2^sin x"), x=1.0), 2 ** math.sin(1.0), rel_tol=1e-15)
