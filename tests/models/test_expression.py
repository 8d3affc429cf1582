"""The expression language: what parses to which tree, what is refused, with which message, and where.

No TensorFlow here (except one check that the two function tables agree): the parser is pure Python.
A tiny evaluator below (plain ``math``, no eval) turns trees into numbers, so precedence is checked
by value as well as by shape.
"""
from __future__ import annotations

import math
import sys

import pytest

from calcviz.models import expression as ex
from calcviz.models.expression import (
    CONSTANTS, FUNCTIONS, MAX_DEPTH, MAX_HEIGHT, MAX_LENGTH, Binary, Call, Expression, Name, Num, ParseError, Unary,
    format_node, parse,
)
from reference import CHAIN, LINEAR_APPROX, QUADRATIC_APPROX, TEST_FUNCTIONS

# ----------------------------------------------------------------------------- a reference evaluator


def _pow(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except ValueError:
        return math.nan
    except OverflowError:
        return math.inf


def _div(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a) * math.copysign(1, b)
    return a / b


def _nan_or(fn):
    """min/max that propagate NaN, as tf.minimum/tf.maximum do (Python's depend on the order)."""
    return lambda *args: math.nan if any(math.isnan(a) for a in args) else fn(args)


def _lse(*args):
    top = max(args)
    return top + math.log(sum(math.exp(a - top) for a in args))


MATH = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos,
    "atan": math.atan, "sinh": math.sinh, "cosh": math.cosh, "tanh": math.tanh, "exp": math.exp,
    "log": math.log, "ln": math.log, "log2": math.log2, "log10": math.log10, "sqrt": math.sqrt,
    "abs": abs, "sigmoid": lambda a: 1 / (1 + math.exp(-a)), "softplus": lambda a: math.log1p(math.exp(a)),
    "relu": lambda a: max(a, 0.0), "atan2": math.atan2, "min": _nan_or(min), "max": _nan_or(max), "logsumexp": _lse,
}


def value_of(node, env: dict) -> float:
    """Evaluate a tree with Python floats (no eval anywhere)."""
    if isinstance(node, Num):
        return node.value
    if isinstance(node, Name):
        return env[node.id] if node.id in env else CONSTANTS[node.id]
    if isinstance(node, Unary):
        assert node.op == "-"
        return -value_of(node.operand, env)
    if isinstance(node, Call):
        args = [value_of(a, env) for a in node.args]
        try:
            return float(MATH[node.func](*args))
        except ValueError:  # outside the domain
            return math.nan
        except OverflowError:  # exp(1000)
            return math.inf
    a, b = value_of(node.left, env), value_of(node.right, env)
    if node.op == "+":
        return a + b
    if node.op == "-":
        return a - b
    if node.op == "*":
        return a * b
    if node.op == "/":
        return _div(a, b)
    assert node.op == "^", node.op
    return _pow(a, b)


def evaluate(expression: Expression, **env: float) -> float:
    values = dict(env)
    for name, body in expression.definitions:
        values[name] = value_of(body, values)
    return values[expression.output]


def tree(text: str):
    e = parse(text)
    assert len(e.definitions) == 1
    return e.body


X, Y = Name("x"), Name("y")


def B(op, a, b):
    return Binary(op, a, b)


# ----------------------------------------------------------------------------- numbers
@pytest.mark.parametrize("text, value", [
    ("2", 2.0), ("0.5", 0.5), ("1e-3", 0.001), (".5", 0.5), ("5.", 5.0), ("1E3", 1000.0),
    ("2.5e+2", 250.0), ("0", 0.0), ("007", 7.0), ("1.25e-1", 0.125), ("123456789", 123456789.0),
])
def test_numbers(text, value):
    node = tree(text)
    assert isinstance(node, Num) and node.value == value
    assert parse(text).inputs == ()


def test_negative_literal_is_folded_into_the_number():
    assert tree("-2") == Num(-2.0)
    assert tree("-x") == Unary("-", X)
    assert tree("+x") == X


# ----------------------------------------------------------------------------- operators, precedence
@pytest.mark.parametrize("text, expected", [
    ("x + y", B("+", X, Y)),
    ("x - y", B("-", X, Y)),
    ("x * y", B("*", X, Y)),
    ("x / y", B("/", X, Y)),
    ("x ^ y", B("^", X, Y)),
    ("x ** y", B("^", X, Y)),
    ("1 - 2 - 3", B("-", B("-", Num(1), Num(2)), Num(3))),           # left-associative
    ("8 / 4 / 2", B("/", B("/", Num(8), Num(4)), Num(2))),
    ("2^3^2", B("^", Num(2), B("^", Num(3), Num(2)))),               # right-associative
    ("2**3**2", B("^", Num(2), B("^", Num(3), Num(2)))),
    ("-x^2", Unary("-", B("^", X, Num(2)))),                         # -(x^2), not (-x)^2
    ("(-x)^2", B("^", Unary("-", X), Num(2))),
    ("2^-1", B("^", Num(2), Num(-1))),
    ("x^-y", B("^", X, Unary("-", Y))),
    ("x + y * 2", B("+", X, B("*", Y, Num(2)))),
    ("(x + y) * 2", B("*", B("+", X, Y), Num(2))),
    ("x * y ^ 2", B("*", X, B("^", Y, Num(2)))),
    ("--x", Unary("-", Unary("-", X))),
    ("x - -y", B("-", X, Unary("-", Y))),
    ("((x))", X),
])
def test_operator_trees(text, expected):
    assert tree(text) == expected


@pytest.mark.parametrize("text, env, value", [
    ("2^3^2", {}, 512.0),
    ("-2^2", {}, -4.0),
    ("(-2)^2", {}, 4.0),
    ("2^-1", {}, 0.5),
    ("2**-2", {}, 0.25),
    ("-x^2", {"x": 3.0}, -9.0),
    ("1 - 2 - 3", {}, -4.0),
    ("8 / 4 / 2", {}, 1.0),
    ("2 * 3 + 4", {}, 10.0),
    ("2 + 3 * 4", {}, 14.0),
    ("2 * 3 ^ 2", {}, 18.0),
    ("-3 - -3", {}, 0.0),
    ("1/2x", {"x": 4.0}, 2.0),            # (1/2) x, as Python and most calculators read it
])
def test_operator_values(text, env, value):
    assert evaluate(parse(text), **env) == pytest.approx(value, rel=1e-15)


# ----------------------------------------------------------------------------- implicit multiplication
@pytest.mark.parametrize("implicit, explicit", [
    ("2x", "2*x"),
    ("3(x+1)", "3*(x+1)"),
    ("(x+1)(x-1)", "(x+1)*(x-1)"),
    ("2pi", "2*pi"),
    ("x y", "x*y"),
    ("2sin(x)", "2*sin(x)"),
    ("2x^2", "2*(x^2)"),
    ("2 x y", "(2*x)*y"),
    ("x y^2", "x*(y^2)"),
    ("2(x)(y)", "(2*x)*y"),
    ("sin(x)cos(y)", "sin(x)*cos(y)"),
    ("2e^x", "2*(e^x)"),
    ("x²", "x^2"),          # typographic superscripts read as powers
    ("x² + y³", "x^2 + y^3"),
    ("2²", "2^2"),
    ("3×x", "3*x"),
    ("x−y", "x-y"),
    ("2π", "2*pi"),
])
def test_implicit_multiplication(implicit, explicit):
    assert parse(implicit).definitions == parse(explicit).definitions
    assert parse(implicit).inputs == parse(explicit).inputs


def test_implicit_multiplication_value():
    assert evaluate(parse("3(x+1)(x-1)"), x=2.0) == 9.0
    assert evaluate(parse("2pi"), ) == pytest.approx(2 * math.pi, rel=1e-15)
    assert evaluate(parse("x²y"), x=3.0, y=2.0) == 18.0


# ----------------------------------------------------------------------------- functions and constants
def _call_text(name: str, n: int) -> str:
    return f"{name}({', '.join(['x', 'y', '0.5', '2', '3', '4'][:n])})"


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_parses_with_its_arity(name):
    low, high = FUNCTIONS[name]
    for n in sorted({low, low + 1 if high is None else high, 5 if high is None else high}):
        node = tree(_call_text(name, n))
        assert isinstance(node, Call) and node.func == name and len(node.args) == n
    # one argument too few / too many is refused, at the function's name
    bad = [low - 1] + ([] if high is None else [high + 1])
    for n in bad:
        with pytest.raises(ParseError) as info:
            parse("1 + " + _call_text(name, n))
        assert info.value.position == 4
        assert f"{name} takes" in info.value.message and f"got {n}" in info.value.message


def test_function_table():
    assert FUNCTIONS["atan2"] == (2, 2)
    assert FUNCTIONS["min"] == (2, None) and FUNCTIONS["max"] == (2, None)
    assert FUNCTIONS["logsumexp"] == (1, None)
    one = {"sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp", "log", "ln",
           "log2", "log10", "sqrt", "abs", "sigmoid", "softplus", "relu"}
    assert {k for k, v in FUNCTIONS.items() if v == (1, 1)} == one
    assert set(FUNCTIONS) == one | {"atan2", "min", "max", "logsumexp"}


def test_function_tables_agree_with_tensorflow_lowering():
    from calcviz.models.tf_lowering import TF_FUNCTIONS  # imports TensorFlow
    assert set(FUNCTIONS) == set(TF_FUNCTIONS)


@pytest.mark.parametrize("text, value", [
    ("sin(pi/6)", 0.5), ("cos(0)", 1.0), ("exp(1)", math.e), ("ln(e)", 1.0), ("log(e^2)", 2.0),
    ("log2(8)", 3.0), ("log10(1000)", 3.0), ("sqrt(16)", 4.0), ("abs(-3)", 3.0), ("relu(-2)", 0.0),
    ("sigmoid(0)", 0.5), ("atan2(1, 1)", math.pi / 4), ("min(3, 1, 2)", 1.0), ("max(3, 1, 2)", 3.0),
    ("logsumexp(0, 0)", math.log(2)), ("softplus(0)", math.log(2)),
])
def test_function_values(text, value):
    assert evaluate(parse(text)) == pytest.approx(value, rel=1e-14)


def test_constants():
    assert parse("pi").inputs == () and parse("e").inputs == ()
    assert tree("pi") == Name("pi") and tree("e") == Name("e")
    assert CONSTANTS == {"pi": math.pi, "e": math.e}
    assert parse("e^x").inputs == ("x",)
    assert evaluate(parse("e^1 - e")) == 0.0
    assert evaluate(parse("2 pi")) == 2 * math.pi


# ----------------------------------------------------------------------------- inputs, axes
@pytest.mark.parametrize("text, inputs", [
    ("x + y", ("x", "y")),
    ("y + x", ("x", "y")),
    ("b + y + a + x", ("x", "y", "b", "a")),
    ("k x^2", ("x", "k")),
    ("t^2 + s", ("t", "s")),
    ("a*y", ("y", "a")),
    ("sin(theta) + r", ("theta", "r")),
    ("x + x + x", ("x",)),
    ("pi e", ()),
    (CHAIN["formula"], CHAIN["inputs"]),
    ("a = k x; f = a + y + m", ("x", "y", "k", "m")),
])
def test_inputs_order(text, inputs):
    assert parse(text).inputs == inputs


def test_chain_inputs_are_x_y_then_w_z():
    e = parse("a = (w+x+y+z)^2; b = (w+x-y-z)^2; u = (a+b)^2; v = (a-b)^2; f = (u+v)^2")
    assert e.inputs == ("x", "y", "w", "z")
    assert e.intermediates == ("a", "b", "u", "v") and e.output == "f"
    values = dict(w=-1.0, x=0.0, y=-2.0, z=1.0)
    assert evaluate(e, **values) == CHAIN["value"]


@pytest.mark.parametrize("text, axes", [
    ("x + y + k", ("x", "y")), ("k x", ("x",)), ("y k", ("y",)), ("t + s + r", ("t", "s")), ("u^2", ("u",)),
    ("2", ()),
])
def test_axes(text, axes):
    assert parse(text).axes == axes


# ----------------------------------------------------------------------------- definitions
def test_definitions_with_semicolons_or_newlines_are_the_same():
    a = parse(CHAIN["formula"])
    b = parse(CHAIN["formula"].replace("; ", "\n"))
    c = parse(CHAIN["formula"].replace("; ", ";\n\n  "))
    assert a.definitions == b.definitions == c.definitions
    assert a.inputs == b.inputs == c.inputs


def test_definitions_are_ordered_and_named():
    e = parse("a = x + 1\nb = a^2\ng = a b")
    assert [name for name, _ in e.definitions] == ["a", "b", "g"]
    assert e.output == "g" and e.intermediates == ("a", "b")
    assert e.body == B("*", Name("a"), Name("b"))
    assert e.inputs == ("x",)
    assert evaluate(e, x=2.0) == 27.0


def test_bare_last_line_is_called_f():
    e = parse("a = x^2; a + 1")
    assert e.output == "f" and e.intermediates == ("a",)
    assert parse("x + 1").output == "f"


def test_signature_form():
    e = parse("f(x, y) = x^2 + y")
    assert e.output == "f" and e.inputs == ("x", "y")
    assert e.definitions == parse("x^2 + y").definitions
    g = parse("g(t) = t^3")
    assert g.output == "g" and g.inputs == ("t",)
    # the signature only documents the inputs: their order is still x, y first
    assert parse("h(y, x) = x - y").inputs == ("x", "y")


def test_trailing_and_blank_separators_are_ignored():
    assert parse("x + 1;").definitions == parse("x + 1").definitions
    assert parse("\n\na = x\n\n;;f = a\n").definitions == parse("a = x; f = a").definitions


def test_reference_formulas_parse():
    for f in TEST_FUNCTIONS.values():
        e = parse(f.formula)
        assert e.inputs == ("x", "y"), f.name
    assert parse(LINEAR_APPROX["formula"]).inputs == ("x", "y")
    assert parse(QUADRATIC_APPROX["formula"]).inputs == ("x", "y")
    himmelblau = parse(TEST_FUNCTIONS["himmelblau"].formula)
    assert evaluate(himmelblau, x=0.0, y=0.0) == 170.0
    assert evaluate(himmelblau, x=3.0, y=2.0) == 0.0
    assert evaluate(parse(TEST_FUNCTIONS["rosenbrock"].formula), x=-1.0, y=1.0) == 4.0
    assert evaluate(parse(TEST_FUNCTIONS["booth"].formula), x=1.0, y=3.0) == 0.0
    assert evaluate(parse(TEST_FUNCTIONS["rastrigin"].formula), x=0.0, y=0.0) == 0.0
    assert evaluate(parse(QUADRATIC_APPROX["formula"]), x=-1.0, y=0.0) == pytest.approx(-1 / math.e, rel=1e-15)


# ----------------------------------------------------------------------------- printing
@pytest.mark.parametrize("text, canonical", [
    ("2x^2 + sin(x y)", "2 * x^2 + sin(x * y)"),
    ("-x^2", "-x^2"),
    ("(-x)^2", "(-x)^2"),
    ("2^-1", "2^(-1)"),
    ("2^3^2", "2^3^2"),
    ("(2^3)^2", "(2^3)^2"),
    ("1 - (2 - 3)", "1 - (2 - 3)"),
    ("(1 - 2) - 3", "1 - 2 - 3"),
    ("x / (y * 2)", "x / (y * 2)"),
    ("x ** 0.5", "x^0.5"),
    ("1e-3 x", "0.001 * x"),
    ("a = x; b = a^2", "a = x; b = a^2"),
    ("a = x\na + 1", "a = x; f = a + 1"),
    ("g = x + 1", "g = x + 1"),
    ("f(x, y) = x + y", "x + y"),
    ("max(x, y, 1)", "max(x, y, 1)"),
])
def test_to_text(text, canonical):
    assert parse(text).to_text() == canonical


ROUND_TRIP = [
    "2x^2 + sin(x y)", "-x^2", "(-x)^2", "2^-1", "x^-y", "-(x - y)", "x - (y - 1)", "x / (y / 2)",
    "(x + y)(x - y)", "2^3^2", "(2^3)^2", "-2^2", "(-2)^2", "x - -y", "--x", "3 - -2", "-(-2)",
    "1e-20 + 1e20 x + 123456789012345678", "0.1 + 0.2", "atan2(y, x) + min(x, y, 2) - logsumexp(x)",
    CHAIN["formula"], LINEAR_APPROX["formula"], QUADRATIC_APPROX["formula"], QUADRATIC_APPROX["model"],
    *[f.formula for f in TEST_FUNCTIONS.values()],
    "a = x\nb = -a^-2\nc = (a - b)/(a + b)\nc^c",
]


@pytest.mark.parametrize("text", ROUND_TRIP)
def test_round_trip(text):
    e = parse(text)
    again = parse(e.to_text())
    assert again.definitions == e.definitions
    assert again.inputs == e.inputs and again.output == e.output
    assert again.to_text() == e.to_text()
    env = {name: 0.3 + 0.1 * k for k, name in enumerate(e.inputs)}
    v1, v2 = evaluate(e, **env), evaluate(again, **env)
    assert v1 == v2 or (math.isnan(v1) and math.isnan(v2))


def test_format_node_parenthesises_only_what_it_must():
    assert format_node(B("-", X, B("-", Y, Num(1)))) == "x - (y - 1)"
    assert format_node(B("-", B("-", X, Y), Num(1))) == "x - y - 1"
    assert format_node(B("^", B("^", X, Y), Num(2))) == "(x^y)^2"
    assert format_node(B("^", X, B("^", Y, Num(2)))) == "x^y^2"
    assert format_node(B("*", Num(-2), X)) == "(-2) * x"
    assert format_node(Num(2.5)) == "2.5" and format_node(Num(3.0)) == "3"
    assert format_node(Num(1e20)) == "1e+20"


def test_tree_equality_ignores_positions():
    assert parse("x+y").body == parse("  x   +    y").body
    assert parse("x+y").body != parse("y+x").body


# ----------------------------------------------------------------------------- errors
LONG_TEXT = "x+" * 15_000 + "x"   # 30 001 characters
DEEP = "(" * 1000 + "x" + ")" * 1000

ERRORS = [
    # (text, a phrase of the message, position)
    ("x.y", "attribute access", 1),
    ("sin(x).real", "attribute access", 6),
    ("x[0]", "subscripts", 1),
    ("'x'", "strings are not part of a formula", 0),
    ('x + "abc"', "strings are not part of a formula", 4),
    ("lambda x: x", "':' has no meaning here", 8),
    ("lambda x", "'lambda' is a reserved word", 0),
    ("[x for x in y]", "subscripts and lists", 0),
    ("__import__('os')", "'_'", 0),
    ("x + __import__('os').system('ls')", "'_'", 4),
    ("import os", "'import' is a reserved word", 0),
    ("foo(x)", "unknown function 'foo'", 0),
    ("x + foo(x)", "unknown function 'foo'", 4),
    ("pi(x)", "unknown function 'pi'", 0),
    ("sin(x, y)", "sin takes 1 argument, got 2", 0),
    ("atan2(x)", "atan2 takes 2 arguments, got 1", 0),
    ("min(x)", "min takes at least 2 arguments, got 1", 0),
    ("sin()", "sin takes 1 argument, got 0", 0),
    ("sin + x", "sin needs parentheses", 0),
    ("2 + sin", "sin needs parentheses", 4),
    ("(x + 1", "this '(' is never closed", 0),
    ("((x + 1)", "this '(' is never closed", 0),
    ("sin(x", "this '(' is never closed", 3),
    ("x + 1)", "unmatched ')'", 5),
    (")", "unmatched ')'", 0),
    ("(x))", "unmatched ')'", 3),
    ("x +", "expected a number, a name or '(' after '+'", 3),
    ("x ^", "after '^'", 3),
    ("(x *)", "expected a number, a name or '(' after '*'", 4),
    ("()", "expected a number, a name or '(' after '('", 1),
    ("max(x, )", "after ','", 7),
    ("* x", "'*' needs something on its left", 0),
    ("x + * y", "'*' needs something on its left", 4),
    ("^2", "'^' needs something on its left", 0),
    ("2 3", "missing operator before the number 3", 2),
    ("x 2", "missing operator before the number 2", 2),
    ("", "type a function", 0),
    ("   ", "type a function", 0),
    (" ;\n ; ", "type a function", 0),
    ("a = b; b = 1; f = a", "'b' is used before it is defined", 4),
    ("a = a + 1", "'a' is defined in terms of itself", 4),
    ("a = b; b = a; f = a", "go round in a circle: a -> b -> a", 4),
    ("a = c; b = a; c = b; f = c", "go round in a circle: a -> c -> b -> a", 4),
    ("a = 1; a = 2; f = a", "'a' is defined twice", 7),
    ("x = 1; x = 2", "'x' is defined twice", 7),
    ("sin = x", "'sin' is a built-in name", 0),
    ("pi = 3", "'pi' is a built-in name", 0),
    ("if = 2", "'if' is a reserved word", 0),
    ("x == y", "only one '='", 3),
    ("a = 1 = 2", "only one '='", 6),
    ("= x", "'=' needs a name on its left", 0),
    ("2 = x", "the left of '=' must be a single name", 0),
    ("a b = x", "the left of '=' must be a single name", 0),
    ("a =", "'a =' needs a formula after the '='", 2),
    ("x + (y = 2)", "the left of '=' must be a single name", 0),
    ("(y = 2)", "the left of '=' must be a single name", 0),
    ("x; y", "only the last line may be a bare formula", 0),
    ("x, y", "',' is only used between", 1),
    ("x!", "no factorials", 1),
    ("x % 2", "'%' is not supported", 2),
    ("|x|", "use abs(...)", 0),
    ("x < y", "comparisons are not supported", 2),
    ("{x)", "this ')' closes the '{'", 2),
    ("x # note", "comments are not supported", 2),
    ("x @ y", "'@' is for vectors and matrices, and none is declared: declare their shapes first, as in a line "
              "x: 3; y: 3", 2),
    ("x & y", "'&' is not supported", 2),
    ("$x", "not part of a formula", 0),
    ("1.2.3", "a number has two decimal points", 3),
    ("1e999", "the number 1e999 is too large", 0),
    ("x + 1e400", "too large", 4),
    (DEEP, f"nested too deeply (over {MAX_DEPTH} levels)", MAX_DEPTH),
    (LONG_TEXT, f"too long (over {MAX_LENGTH} characters)", MAX_LENGTH),
]


@pytest.mark.parametrize("text, phrase, position", ERRORS, ids=[repr(t[:20]) for t, _, _ in ERRORS])
def test_errors(text, phrase, position):
    with pytest.raises(ParseError) as info:
        parse(text)
    error = info.value
    assert phrase in error.message
    assert error.position == position
    assert 0 <= error.position <= len(text)
    assert str(error).startswith(error.message)
    assert error.caret().endswith("^")


def test_not_text_is_refused():
    with pytest.raises(ParseError, match="must be text"):
        parse(None)  # type: ignore[arg-type]
    with pytest.raises(ParseError, match="must be text"):
        parse(b"x + y")  # type: ignore[arg-type]


def test_max_length_itself_is_allowed():
    text = "x+" * (MAX_LENGTH // 2 - 1) + "xx"
    assert len(text) == MAX_LENGTH
    with pytest.raises(ParseError, match="too long to compute in one piece"):  # allowed length, 10 000 terms
        parse(text)
    ok = "x" + " " * (MAX_LENGTH - 1)
    assert parse(ok).inputs == ("x",)


@pytest.mark.parametrize("make", [
    lambda n: "(" * n + "x" + ")" * n,
    lambda n: "sin(" * n + "x" + ")" * n,
    lambda n: "-" * n + "x",
    lambda n: "x^" * n + "x",
    lambda n: "min(" * n + "x" + ", 1)" * n,
    lambda n: "sin " * n + "x",                 # ln x: a function applied without brackets
])
def test_depth_limit_is_exact_and_never_a_recursion_error(make):
    deep_ok = parse(make(MAX_DEPTH - 1))  # allowed, and printable
    assert deep_ok.to_text()
    # to_text may add parentheses ("--x" prints as "-(-x)"), so round-trip at half the limit
    half = parse(make(MAX_DEPTH // 2 - 1))
    assert parse(half.to_text()).definitions == half.definitions
    with pytest.raises(ParseError, match="nested too deeply"):
        parse(make(MAX_DEPTH + 1))
    with pytest.raises(ParseError, match="nested too deeply"):
        parse(make(2000))


@pytest.mark.parametrize("op", ["+", "-", "*", "/", " "])
def test_flat_chains_are_not_nesting(op):
    """Issue 15: a flat sum of 150 terms is not "nested too deeply"; only the tree's height is bounded
    (printing, comparing and lowering recurse once per level), with its own message."""
    flat = parse(op.join(["x"] * 150))
    assert parse(flat.to_text()).definitions == flat.definitions
    assert evaluate(parse("+".join(["x"] * 150)), x=0.5) == 75.0
    assert parse(op.join(["x"] * MAX_HEIGHT)).to_text()  # MAX_HEIGHT - 1 operations: allowed
    for n in (MAX_HEIGHT + 1, 5000):
        with pytest.raises(ParseError, match=f"too long to compute in one piece \\(over {MAX_HEIGHT} operations"):
            parse(op.join(["x"] * n))


def test_depth_limit_leaves_headroom_on_a_deep_stack():
    """The window parses from deep inside Qt's event handling: the limit must hold well below
    Python's recursion limit, not just from a shallow test."""
    texts = ["sin(" * (MAX_DEPTH - 1) + "x" + ")" * (MAX_DEPTH - 1),
             "(" * (MAX_DEPTH - 1) + "x" + ")" * (MAX_DEPTH - 1),
             "sin(" * (MAX_DEPTH + 50) + "x" + ")" * (MAX_DEPTH + 50),
             "sin " * (MAX_DEPTH - 1) + "x",
             "+".join(["x"] * MAX_HEIGHT)]
    used = 200  # frames already on the stack

    def descend(k):
        if k:
            return descend(k - 1)
        out = []
        for t in texts:
            try:
                e = parse(t)
                # what callers do with a tree: print it, compare it, hash it
                assert parse(e.to_text()).definitions == e.definitions and hash(e.body)
                out.append(e)
            except ParseError as err:
                out.append(err)
        return out

    assert sys.getrecursionlimit() >= 1000
    results = descend(used)
    assert [type(r) for r in results] == [Expression, Expression, ParseError, Expression, Expression]
    assert "nested too deeply" in results[2].message


def test_error_in_a_later_line_reports_line_and_column():
    text = "a = x\nf = a +"
    with pytest.raises(ParseError) as info:
        parse(text)
    error = info.value
    assert error.position == 13
    assert error.line_column() == (2, 8)
    assert str(error) == "expected a number, a name or '(' after '+' (line 2, column 8)"
    assert error.caret() == "f = a +\n       ^"


def test_caret_points_at_the_offending_character():
    with pytest.raises(ParseError) as info:
        parse("x^2 + foo(y)")
    assert info.value.caret() == "x^2 + foo(y)\n      ^"
    assert str(info.value).endswith("(column 7)")


def test_parse_error_is_a_value_error():
    assert issubclass(ParseError, ValueError)


def test_parser_never_evaluates_text(monkeypatch):
    import builtins
    calls = []

    def trap(name):
        def f(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} called")
        return f

    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, trap(name))
    hostile = ["__import__('os').system('echo hi')", "eval('1')", "exec('x=1')", "open('f')",
               "x.__class__", "().__class__.__bases__[0]", "lambda: 0", "globals()", "x if y else z"]
    for text in hostile:
        with pytest.raises(ParseError):
            parse(text)
    assert parse("exp(x) + log(y)").inputs == ("x", "y")
    assert calls == []


def test_names_like_python_builtins_are_plain_inputs():
    # They are just names: nothing is looked up, nothing is called.
    e = parse("open + print + exit")
    assert e.inputs == ("open", "print", "exit")
    assert evaluate(e, open=1.0, print=2.0, exit=3.0) == 6.0


def test_module_does_not_import_heavy_libraries():
    assert "tensorflow" not in ex.__dict__ and "numpy" not in ex.__dict__
