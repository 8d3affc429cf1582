"""Hostile and random text through the parser (hypothesis).

Whatever the text, ``parse`` returns an Expression or raises ParseError with a position inside the
text and a bounded message; never any other exception, and it never reaches eval/exec/compile/__import__/open.
Every Expression survives printing and re-parsing (to_text gives the same tree). Generated valid formulas,
in the readers' notations too (x², xy, \frac, ln x, sin^2), must parse to the tree they were built from
(checked by value). The parser's work grows linearly with the text (counted in Python calls, not seconds).
"""
from __future__ import annotations

import builtins
import contextlib
import math
import string
import sys

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from calcviz.models.expression import CARET_WINDOW, MAX_LENGTH, Expression, ParseError, parse
from test_expression import evaluate

FUZZ = settings(deadline=None, max_examples=2500, suppress_health_check=[HealthCheck.too_slow])
VALID = settings(deadline=None, max_examples=1200, suppress_health_check=[HealthCheck.too_slow])


class Trapped(BaseException):
    """Raised by the trapped builtins; a BaseException so no `except Exception` can swallow it."""


@contextlib.contextmanager
def no_code_execution():
    """While inside, eval/exec/compile/__import__/open/breakpoint record the call and raise."""
    calls: list[str] = []
    names = ("eval", "exec", "compile", "__import__", "open", "breakpoint")
    saved = {name: getattr(builtins, name) for name in names}

    def trap(name):
        def trapped(*args, **kwargs):
            calls.append(name)
            raise Trapped(name)
        return trapped

    for name in names:
        setattr(builtins, name, trap(name))
    try:
        yield calls
    finally:
        for name, value in saved.items():
            setattr(builtins, name, value)


@contextlib.contextmanager
def default_recursion_limit():
    """Python's default limit of 1000 frames while inside (hypothesis raises it during a test,
    which would hide a parser that recurses too deeply for a real caller)."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(max(1000, depth + 250))  # a caller about as deep as a Qt slot
    try:
        yield
    finally:
        sys.setrecursionlimit(saved)


def check(text: str):
    """Parse under the trap; return the Expression or the ParseError, failing on anything else."""
    with no_code_execution() as calls, default_recursion_limit():
        try:
            result = parse(text)
        except ParseError as error:
            result = error
    assert calls == [], f"parse({text!r}) reached {calls}"
    if isinstance(result, ParseError):
        assert isinstance(result.message, str) and result.message
        assert 0 <= result.position <= len(text), (text, result.position)
        # what the CLI and the editor show must not fail either, and stays short whatever the text
        assert str(result) and len(str(result)) < 400
        shown, caret = result.caret().split("\n")
        assert caret.endswith("^") and len(shown) <= CARET_WINDOW + 2 and len(caret) <= CARET_WINDOW + 2
        line, column = result.line_column()
        assert line >= 1 and column >= 1
    else:
        assert isinstance(result, Expression)
        assert result.definitions and result.text == text
        assert all(isinstance(n, str) and n for n in result.inputs)
        assert len(set(result.inputs)) == len(result.inputs)
        assert all(0 <= n.pos <= n.end <= len(text) and len(n.text) < 300 for n in result.notes)
        round_trip(result)
    return result


def round_trip(result: Expression) -> None:
    """to_text() parses back to the same tree. Printing may add characters ("x+x" -> "x + x") and
    brackets ("--x" -> "-(-x)"), so at the very limits the printed form may be refused, saying which limit."""
    printed = result.to_text()
    with no_code_execution(), default_recursion_limit():
        try:
            again = parse(printed)
        except ParseError as error:
            assert "too long" in error.message or "nested too deeply" in error.message, (printed, error)
            return
    assert again.definitions == result.definitions, (result.text, printed)
    assert again.inputs == result.inputs and again.declarations == result.declarations
    assert again.to_text() == printed


def test_the_trap_works():
    with no_code_execution() as calls:
        try:
            eval("1")  # noqa: S307 - the trapped builtin, it must not run
        except Trapped:
            pass
    assert calls == ["eval"]
    assert eval("1 + 1") == 2  # noqa: S307 - restored


# ----------------------------------------------------------------------------- random characters
FORMULA_CHARS = "xyzabkte0123456789.+-*/^()=;,\n \t{}:"
PYTHON_CHARS = "[]'\"_#@!%&|<>~`\\$?"
UNICODE_CHARS = "π×÷−–·⋅²³¹⁴⁰⁻⁺⁽⁾ˣʸᶻλ∑√∞αβ\u00a0\u2028\ud800é中"
ALPHABET = FORMULA_CHARS + PYTHON_CHARS + UNICODE_CHARS


@FUZZ
@given(st.text(alphabet=ALPHABET, max_size=60))
@example("")
@example("x²y³")
@example("\ud800")
@example("e\u2028")
def test_random_formula_characters(text):
    check(text)


@settings(deadline=None, max_examples=500)
@given(st.text(max_size=40))
def test_random_unicode(text):
    check(text)


# ----------------------------------------------------------------------------- random tokens
TOKENS = [
    "x", "y", "z", "w", "a", "k", "t", "e", "pi", "2", "0.5", ".5", "1e-3", "1e999", "3.", "1.2.3", "007",
    "+", "-", "*", "/", "^", "**", "(", ")", ",", "=", "==", ";", "\n", " ", "  ",
    "sin", "cos", "exp", "log", "sqrt", "atan2", "min", "max", "logsumexp", "relu", "abs",
    "f(x, y) =", "a =", "b = ", "f =", "sin =",
    "lambda", "import", "os", "__import__", "eval", "exec", "open", "globals", "getattr", "__class__",
    "__builtins__", "if", "else", "for", "in", "not", "and", "or", "None", "True", "def", "return",
    ".", "[", "]", "{", "}", ":", "'", '"', "#", "@", "!", "%", "|", "&", "<", ">", "\\", "_",
    "²", "π", "×", "−",
    # the readers' notations (issue 13)
    "xy", "xe", "yx", "ex", "xyz", "ln", "sin^2", "sin²", "⁻¹", "ˣ", "⁴", "√", "{", "}", "e^{", "\\frac",
    "\\frac{", "}{", "\\sqrt", "\\sqrt{", "\\sin", "\\log", "\\cdot", "\\times", "\\left(", "\\right)",
    "\\pi", "\\alpha", "\\,", "\\foo", "\\", ":", ": scalar", "xy: scalar", "x: 3", "A: 3x3", "norm", "sum",
    "transpose", "xsin", "arcsin", "/2y", "^1/2",
    # vectors and matrices (issue 16)
    "x: 3;", "A: 3x3;", "B: n x n;", "v: n;", "X: m x k;", "x: 0;", "A: 3x", "A", "B", "X", "U", "V", "UV", "Ax",
    "^T", "^{T}", "'", ".'", "ᵀ", "⊤", "\\top", "||", "‖", "_F", "_2", "_{F}", "\\|", ".*", "./", ".^", "@", "2.",
    "tr", "det", "inv", "logdet", "norm2", "norm1", "dot", "vector", "^-1", "T", "x^TAx", "d/dx =",
]


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=30))
@example(["__import__", "(", "'", "os", "'", ")", ".", "system", "(", "'", "ls", "'", ")"])
@example(["lambda", "x", ":", "x"])
@example(["[", "x", "for", "x", "in", "y", "]"])
@example(["a =", "a", "+", "2", ";", "f =", "a"])
def test_random_token_sequences(tokens):
    check("".join(tokens))


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=30), st.sampled_from([" ", "", "\n", ";"]))
def test_random_token_sequences_with_separators(tokens, sep):
    check(sep.join(tokens))


@settings(deadline=None, max_examples=150)
@given(st.sampled_from(["(", "sin(", "-", "x^", "max(x, ", "(-", "2*("]), st.integers(0, 3000),
       st.sampled_from(["x", "", ")"]))
def test_deep_nesting_never_overflows_the_stack(opener, depth, middle):
    closer = {"(": ")", "sin(": ")", "max(x, ": ")", "(-": ")", "2*(": ")"}.get(opener, "")
    text = opener * depth + middle + closer * depth
    result = check(text)
    if isinstance(result, ParseError) and len(text) <= MAX_LENGTH and depth > 100 and middle == "x":
        assert "nested too deeply" in result.message


@settings(deadline=None, max_examples=100)
@given(st.sampled_from(["+", "*", " ", "-", "/", "^"]), st.integers(1, 12000))
def test_long_flat_chains_never_overflow_the_stack(op, n):
    text = op.join(["x"] * n)
    result = check(text)
    if isinstance(result, Expression):
        assert result.to_text()  # printing recurses over the tree: it must be shallow enough


# ----------------------------------------------------------------------------- valid formulas
def _safe(fn, *args):
    try:
        value = fn(*args)
    except (ValueError, ZeroDivisionError):
        return math.nan
    except OverflowError:
        return math.inf
    return float(value)


def _pow(a, b):
    return _safe(math.pow, a, b)


def _div(a, b):
    from test_expression import _div as div
    return div(a, b)


ENV = {"x": 0.7, "y": -1.3, "k": 2.0, "t": 0.25}
LEAF_NAMES = st.sampled_from(sorted(ENV) + ["pi", "e"])
NUMBERS = st.one_of(st.integers(0, 50).map(float),
                    st.floats(0, 1e6, allow_nan=False, allow_infinity=False),
                    st.sampled_from([0.5, 1e-3, 2.5e-7, 1e20]))


def _number_text(draw, value: float) -> str:
    forms = [repr(value)]
    if value == int(value) and value < 1e15:
        forms.append(str(int(value)))
    if 0 < value < 1 and repr(value).startswith("0."):
        forms.append(repr(value)[1:])  # .5
    return draw(st.sampled_from(forms))


SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
ONE_ARGUMENT = {"sin": math.sin, "cos": math.cos, "atan": math.atan, "tanh": math.tanh, "exp": math.exp,
                "abs": abs}


@st.composite
def notations(draw, depth):
    """The readers' notations (issue 13), as (text, value, kind) like formulas()."""
    kind = draw(st.sampled_from(["superscript", "product", "frac", "sqrt", "brace", "left_right", "function_power",
                                 "applied", "cdot"]))
    if kind == "product":  # xy, xe, yxe: the letters' product
        letters = draw(st.lists(st.sampled_from("xye"), min_size=2, max_size=3))
        values = {"x": ENV["x"], "y": ENV["y"], "e": math.e}
        return "".join(letters), math.prod(values[c] for c in letters), "name"
    if kind == "applied":  # ln x, sin 2: a function applied to a name or a number, without brackets
        name = draw(st.sampled_from(sorted(ONE_ARGUMENT)))
        leaf = draw(st.sampled_from(["x", "y", "k", "t", "2", "0.5"]))
        argument = ENV.get(leaf) if leaf in ENV else float(leaf)
        return f"{name} {leaf}", _safe(ONE_ARGUMENT[name], argument), "applied"
    text, value, _ = draw(formulas(depth + 1))
    if kind == "superscript":  # (a)⁻², (a)³
        n = draw(st.integers(-3, 9))
        return f"({text}){str(n).translate(SUPERSCRIPT)}", _pow(value, float(n)), "paren"
    if kind == "sqrt":
        return f"\\sqrt{{{text}}}", _safe(math.sqrt, value), "call"
    if kind == "brace":
        return f"{{{text}}}", value, "paren"
    if kind == "left_right":
        return f"\\left({text}\\right)", value, "paren"
    if kind == "function_power":  # sin^2(a), cos²(a)
        name = draw(st.sampled_from(sorted(ONE_ARGUMENT)))
        n = draw(st.integers(2, 3))
        power = draw(st.sampled_from([f"^{n}", f"^{{{n}}}", str(n).translate(SUPERSCRIPT)]))
        return f"{name}{power}({text})", _pow(_safe(ONE_ARGUMENT[name], value), float(n)), "call"
    other, other_value, _ = draw(formulas(depth + 1))
    if kind == "frac":
        return f"\\frac{{{text}}}{{{other}}}", _div(value, other_value), "call"
    return f"({text}) \\cdot ({other})", value * other_value, "op"


@st.composite
def formulas(draw, depth=0):
    """(text, value, needs_parens_when_juxtaposed) built together: the value is computed here,
    from the structure, not from calcviz's tree."""
    kind = draw(st.sampled_from(["leaf", "leaf", "op", "op", "neg", "call", "notation"])
                if depth < 6 else st.just("leaf"))
    if kind == "notation":
        return draw(notations(depth))
    if kind == "leaf":
        if draw(st.booleans()):
            name = draw(LEAF_NAMES)
            return name, ENV.get(name, {"pi": math.pi, "e": math.e}.get(name)), "name"
        value = draw(NUMBERS)
        return _number_text(draw, value), value, "number"
    if kind == "neg":
        text, value, _ = draw(formulas(depth + 1))
        return f"(-({text}))", -value, "paren"
    if kind == "call":
        name = draw(st.sampled_from(["sin", "cos", "atan", "tanh", "abs", "exp", "min", "max", "atan2"]))
        if name in ("min", "max", "atan2"):
            n = 2 if name == "atan2" else draw(st.integers(2, 4))
            args = [draw(formulas(depth + 1)) for _ in range(n)]
            fn = {"min": min, "max": max, "atan2": math.atan2}[name]
            vals = [a[1] for a in args]
            value = math.nan if any(math.isnan(v) for v in vals) else _safe(fn, *vals)
            sep = draw(st.sampled_from([", ", ",", " , "]))
            return f"{name}({sep.join(a[0] for a in args)})", value, "call"
        text, value, _ = draw(formulas(depth + 1))
        return f"{name}({text})", _safe(getattr(math, name) if name != "abs" else abs, value), "call"
    op = draw(st.sampled_from(["+", "-", "*", "/", "^", "**", "implicit"]))
    (lt, lv, lk), (rt, rv, rk) = draw(formulas(depth + 1)), draw(formulas(depth + 1))
    left, right = f"({lt})", f"({rt})"
    if op == "implicit":
        # 2x, 2 sin(x), (a)(b), 2(b): never name( which is a call, never 2 3
        if lk == "number" and rk in ("name", "call"):
            text = lt + draw(st.sampled_from(["", " "])) + rt
        else:
            text = left + draw(st.sampled_from(["", " "])) + right
        return text, lv * rv, "implicit"
    value = {"+": lambda: lv + rv, "-": lambda: lv - rv, "*": lambda: lv * rv, "/": lambda: _div(lv, rv),
             "^": lambda: _pow(lv, rv), "**": lambda: _pow(lv, rv)}[op]()
    space = draw(st.sampled_from(["", " "]))
    return f"{left}{space}{op}{space}{right}", value, "op"


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300)


@VALID
@given(formulas())
@example(("2x", 1.4, "implicit"))
@example(("(-(2))^(0.5)", math.nan, "op"))
def test_generated_formulas_parse_to_what_they_mean(generated):
    text, value, _ = generated
    result = check(text)
    assert isinstance(result, Expression), f"{text!r}: {result}"
    assert set(result.inputs) <= set(ENV)
    got = evaluate(result, **ENV)
    assert _same(got, value), (text, got, value)
    # printing and re-parsing keeps the tree
    again = check(result.to_text())
    assert isinstance(again, Expression), (result.to_text(), again)
    assert again.definitions == result.definitions
    assert again.inputs == result.inputs


@VALID
@given(formulas(), formulas(), st.sampled_from(["; ", "\n", ";\n", " ;  "]))
def test_generated_definitions(first, second, sep):
    text = f"a = {first[0]}{sep}g = a * ({second[0]}) + a"
    result = check(text)
    assert isinstance(result, Expression), f"{text!r}: {result}"
    assert result.output == "g" and result.intermediates == ("a",)
    assert "a" not in result.inputs
    expected = first[1] * second[1] + first[1]
    assert _same(evaluate(result, **ENV), expected), (text, expected)


@settings(deadline=None, max_examples=300)
@given(formulas(), st.integers(0, 200), st.data())
def test_damaged_valid_formulas_fail_cleanly(generated, cut, data):
    """Delete, duplicate or swap characters of a valid formula: still an Expression or a ParseError."""
    text = generated[0]
    i = cut % (len(text) + 1)
    action = data.draw(st.sampled_from(["delete", "insert", "truncate", "swap"]))
    if action == "delete":
        damaged = text[:i] + text[i + 1:]
    elif action == "insert":
        damaged = text[:i] + data.draw(st.sampled_from(list(ALPHABET) + TOKENS)) + text[i:]
    elif action == "truncate":
        damaged = text[:i]
    else:
        damaged = text[:i] + text[i + 1:i + 2] + text[i:i + 1] + text[i + 2:]
    check(damaged)


@settings(deadline=None, max_examples=200)
@given(st.text(alphabet=string.printable, min_size=0, max_size=25), st.integers(1, 40))
def test_repeated_hostile_text(piece, times):
    check(piece * times)


# ----------------------------------------------------------------------------- vectors and matrices
_M = np.random.default_rng(16)
MATRIX_ENV = {"x": _M.standard_normal(3), "y": _M.standard_normal(3), "A": _M.standard_normal((3, 3)),
              "B": _M.standard_normal((3, 3)), "c": 0.7}
DECLARED = "x: 3; y: 3; A: 3x3; B: 3x3\n"


def _transpose_text(draw, text: str) -> str:
    return draw(st.sampled_from([f"({text})^T", f"({text})'", f"({text})ᵀ", f"({text})^{{T}}", f"({text})^\\top",
                                 f"transpose({text})"]))


def _product_text(draw, left: str, right: str) -> str:
    return draw(st.sampled_from([f"({left}) ({right})", f"({left})*({right})", f"({left}) @ ({right})",
                                 f"({left})({right})"]))


@st.composite
def matrix_formulas(draw, shape: str, depth: int = 0):
    """(text, numpy value) of a formula of the given shape ("s" a number, "v" a vector of 3, "m" 3x3), the
    value computed with numpy from the structure drawn, in the notations calcviz reads (the book's,
    matrixcalculus.org's, Python's, LaTeX's)."""
    kinds = {"s": ["leaf", "number", "dot", "sum", "tr", "norm2", "norm", "quadratic", "op", "exp"],
             "v": ["leaf", "matvec", "plus", "scale", "hadamard", "exp", "rowback"],
             "m": ["leaf", "matmul", "plus", "scale", "hadamard", "transpose", "outer", "exp"]}[shape]
    kind = draw(st.sampled_from(kinds if depth < 3 else kinds[:1]))
    env = MATRIX_ENV
    if kind == "leaf":
        name = draw(st.sampled_from({"s": ["c"], "v": ["x", "y"], "m": ["A", "B"]}[shape]))
        return name, env[name]
    if kind == "number":
        value = draw(st.sampled_from([0.5, 2.0, 3.0]))
        return repr(value), value
    if kind in ("plus", "hadamard", "op"):
        (a, av), (b, bv) = draw(matrix_formulas(shape, depth + 1)), draw(matrix_formulas(shape, depth + 1))
        if kind == "hadamard":
            return draw(st.sampled_from([f"({a}) .* ({b})", f"({a}) ⊙ ({b})"])), av * bv
        op = draw(st.sampled_from(["+", "-"] + (["*"] if shape == "s" else [])))
        return f"({a}) {op} ({b})", {"+": av + bv, "-": av - bv, "*": av * bv}[op]
    if kind == "scale":
        (a, av), (b, bv) = draw(matrix_formulas("s", depth + 1)), draw(matrix_formulas(shape, depth + 1))
        return draw(st.sampled_from([f"({a}) ({b})", f"({a})*({b})", f"({b}) * ({a})"])), av * bv
    if kind == "exp":
        a, av = draw(matrix_formulas(shape, depth + 1))
        return f"tanh({a})", np.tanh(av)
    if kind in ("dot", "quadratic"):
        (a, av), (b, bv) = draw(matrix_formulas("v", depth + 1)), draw(matrix_formulas("v", depth + 1))
        if kind == "dot":
            return draw(st.sampled_from([f"{_transpose_text(draw, a)} ({b})", f"dot({a}, {b})"])), float(av @ bv)
        m, mv = draw(matrix_formulas("m", depth + 1))
        return _product_text(draw, _product_text(draw, _transpose_text(draw, a), m), b), float(av @ mv @ bv)
    if kind in ("sum", "tr", "norm2", "norm"):
        inner_shape = "m" if kind == "tr" else draw(st.sampled_from(["v", "m"]))
        a, av = draw(matrix_formulas(inner_shape, depth + 1))
        if kind == "sum":
            return f"sum({a})", float(np.sum(av))
        if kind == "tr":
            return draw(st.sampled_from([f"tr({a})", f"trace({a})"])), float(np.trace(av))
        if kind == "norm2":
            return draw(st.sampled_from([f"||{a}||^2", f"||{a}||_F^2", f"norm2({a})^2", f"‖{a}‖²"])), float(np.sum(av**2))
        return draw(st.sampled_from([f"||{a}||", f"norm({a})"])), float(np.sqrt(np.sum(av**2)))
    if kind == "matvec":
        (m, mv), (a, av) = draw(matrix_formulas("m", depth + 1)), draw(matrix_formulas("v", depth + 1))
        return _product_text(draw, m, a), mv @ av
    if kind == "rowback":  # (v^T M)^T = M^T v
        (a, av), (m, mv) = draw(matrix_formulas("v", depth + 1)), draw(matrix_formulas("m", depth + 1))
        return _transpose_text(draw, _product_text(draw, _transpose_text(draw, a), m)), av @ mv
    if kind == "matmul":
        (a, av), (b, bv) = draw(matrix_formulas("m", depth + 1)), draw(matrix_formulas("m", depth + 1))
        return _product_text(draw, a, b), av @ bv
    if kind == "transpose":
        a, av = draw(matrix_formulas("m", depth + 1))
        return _transpose_text(draw, a), av.T
    (a, av), (b, bv) = draw(matrix_formulas("v", depth + 1)), draw(matrix_formulas("v", depth + 1))  # outer
    return _product_text(draw, a, _transpose_text(draw, b)), np.outer(av, bv)


@VALID
@given(st.sampled_from(["s", "v", "m"]).flatmap(lambda shape: matrix_formulas(shape)))
@example(("x^TAx", float(MATRIX_ENV["x"] @ MATRIX_ENV["A"] @ MATRIX_ENV["x"])))
def test_generated_matrix_formulas_parse_to_what_they_mean(generated):
    text, value = generated
    result = check(DECLARED + text)
    assert isinstance(result, Expression), f"{text!r}: {result}"
    assert set(result.inputs) <= set(MATRIX_ENV)
    got = evaluate_arrays(result, {k: MATRIX_ENV[k] for k in result.inputs})
    assert np.shape(got) == np.shape(value) and np.allclose(got, value, rtol=1e-9, atol=1e-12), (text, got, value)


def evaluate_arrays(expression, env):
    from calcviz.models.lowering import evaluate as lowered
    return lowered(expression, env)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=30))
@example(["x", "w", "'", "^1/2"])  # (xw^T)^1 / 2 printed back without its brackets did not parse
def test_random_token_sequences_with_declared_arrays(tokens):
    check("x: 3; y: 3; A: 3x3; B: n x n\n" + "".join(tokens))


@settings(deadline=None, max_examples=300)
@given(st.sampled_from(["s", "v", "m"]).flatmap(lambda shape: matrix_formulas(shape)), st.integers(0, 400), st.data())
def test_damaged_matrix_formulas_fail_cleanly(generated, cut, data):
    text = DECLARED + generated[0]
    i = len(DECLARED) + cut % (len(generated[0]) + 1)
    action = data.draw(st.sampled_from(["delete", "insert", "truncate"]))
    if action == "delete":
        damaged = text[:i] + text[i + 1:]
    elif action == "insert":
        damaged = text[:i] + data.draw(st.sampled_from(TOKENS)) + text[i:]
    else:
        damaged = text[:i]
    check(damaged)


# ----------------------------------------------------------------------------- work, not time
def python_calls(text: str) -> int:
    """How many Python function calls parse(text) makes: a measure of work that no machine load changes."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        parse(text)
    except ParseError:
        pass
    finally:
        sys.setprofile(None)
    return calls


WORK_PER_CHARACTER = 60  # measured: about 25 calls per character for the densest texts


@settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=12), st.integers(1, 400),
       st.sampled_from(["", " ", ";", "\n", "+", "*"]))
@example(["xy"], 3000, "")                      # one long name split into 6000 factors
@example(["a = x", "\n"], 400, "")             # 400 definitions
@example(["(", "x"], 2000, "")                  # deep nesting, refused early
@example(["x", "^1/2"], 300, "+")               # a note per term
@example(["sin", " ", "x"], 500, "+")           # ln x everywhere
def test_work_grows_linearly_with_the_text(tokens, times, sep):
    text = sep.join(["".join(tokens)] * times)[:MAX_LENGTH]
    assert python_calls(text) <= WORK_PER_CHARACTER * len(text) + 2000
