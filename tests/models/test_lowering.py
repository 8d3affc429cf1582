"""The one lowering over two backends: numpy (no TensorFlow) and TensorFlow must mean the same.

numpy's values are checked against math (ground truth), and the two backends against each other on
random formulas and points, operation by operation: every node is computed by both from the same
operand values, so they must agree to float64 round-off (an error of one backend is not amplified by
the next operation). Whole formulas are compared too, on the reference functions.
"""
from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from calcviz.models import lowering
from calcviz.models.expression import (
    CONSTANTS, FUNCTIONS, MAX_HEIGHT, Binary, Call, Name, Node, Num, ParseError, Unary, children, format_node, parse,
)
from calcviz.models.tf_lowering import TF_FUNCTIONS, backend, lower, tf
from reference import CHAIN, LINEAR_APPROX, QUADRATIC_APPROX, TEST_FUNCTIONS
from test_expression import MATH

TF64 = backend(tf.float64)


def tensor(v) -> tf.Tensor:
    """A float64 scalar tensor that keeps the sign of -0.0 (eager tf.constant caches scalars by value,
    so tf.constant(-0.0) after tf.constant(0.0) is +0.0)."""
    return tf.constant(np.asarray(v, np.float64))


def close(a: float, b: float, rel: float = 1e-14) -> bool:
    """Equal to float64 round-off: the same non-finite value, or within ``rel`` (or 1e-300 near 0)."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-300)


def same(a: float, b: float) -> bool:
    """The same float: equal, zeros of the same sign."""
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def test_numpy_lowering_needs_no_tensorflow():
    code = ("import sys; from calcviz.models.lowering import constant_value, evaluate; "
            "from calcviz.models.expression import parse; "
            "print(constant_value('log(2)'), float(evaluate(parse('x y'), {'x': 2, 'y': 3})), "
            "'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == [repr(math.log(2)), "6.0", "False"], out.stderr


def test_both_backends_implement_every_function():
    assert set(lowering.NUMPY_FUNCTIONS) == set(FUNCTIONS) == set(TF_FUNCTIONS)


ARGS = {"acos": 0.3, "asin": -0.4, "log": 2.5, "ln": 2.5, "log2": 8.0, "log10": 1e-3, "sqrt": 2.0}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_numpy_values_against_math(name):
    low, _ = FUNCTIONS[name]
    extra = [0.25, -0.6, 1.1][: max(0, low - 1)]
    for x in (ARGS.get(name, 0.7), -1.3 if name not in ARGS else ARGS[name] / 2, 0.0 if name not in ARGS else 1.0):
        text = f"{name}(x{''.join(f', {a}' for a in extra)})"
        got = float(lowering.evaluate(parse(text), {"x": x}))
        assert got == pytest.approx(MATH[name](x, *extra), rel=1e-15, abs=1e-300), (name, x)


@pytest.mark.parametrize("text, env, expected", [
    ("sigmoid(x)", {"x": -800.0}, math.exp(-800.0)),   # no overflow on either side of 0
    ("sigmoid(x)", {"x": 800.0}, 1.0),
    ("softplus(x)", {"x": 1000.0}, 1000.0),
    ("softplus(x)", {"x": -800.0}, math.exp(-800.0)),
    ("logsumexp(x, y)", {"x": 1000.0, "y": 1000.0}, 1000 + math.log(2)),
    ("1/x", {"x": 0.0}, math.inf),
    ("log(x)", {"x": -1.0}, math.nan),
    ("(-8)^(1/3)", {}, math.nan),
    ("x^2", {"x": -3.0}, 9.0),
    ("max(x, y, 0)", {"x": math.nan, "y": 1.0}, math.nan),
    ("atan2(x, -x)", {"x": 0.0}, math.pi),              # signed zeros as IEEE says, in both
    ("atan2(-x, -1)", {"x": 0.0}, -math.pi),
])
def test_edge_values_agree_with_tensorflow(text, env, expected):
    e = parse(text)
    numpy_value = float(lowering.evaluate(e, env))
    tf_value = float(lower(e, {k: tensor(v) for k, v in env.items()}, tf.float64))
    assert close(numpy_value, expected, 1e-15) and close(tf_value, expected, 1e-15), (numpy_value, tf_value)


def test_arrays_and_definitions():
    e = parse(CHAIN["formula"])
    keep = {}
    out = lowering.lower(e, {n: np.float64(v) for n, v in CHAIN["point"].items()}, lowering.NUMPY, keep)
    assert float(out) == CHAIN["value"] and {n: float(keep[n]) for n in "abuv"} == CHAIN["intermediates"]
    x = np.linspace(-2, 2, 5)
    np.testing.assert_array_equal(lowering.evaluate(parse("x^2 + y"), {"x": x, "y": 1.0}), x * x + 1.0)


@pytest.mark.parametrize("formula", [LINEAR_APPROX["formula"], QUADRATIC_APPROX["formula"],
                                     *[f.formula for f in TEST_FUNCTIONS.values()]])
def test_whole_reference_formulas_agree(formula):
    e = parse(formula)
    x, y = np.meshgrid(np.linspace(-3, 3, 41), np.linspace(-2.5, 3.5, 37))
    numpy_values = lowering.evaluate(e, {"x": x, "y": y})
    tf_values = lower(e, {"x": tf.constant(x), "y": tf.constant(y)}, tf.float64).numpy()
    np.testing.assert_allclose(numpy_values, tf_values, rtol=1e-13, atol=1e-12)


def test_a_flat_chain_as_tall_as_allowed_lowers_in_both():
    e = parse("+".join(["x"] * MAX_HEIGHT))
    assert float(lowering.evaluate(e, {"x": 0.5})) == MAX_HEIGHT / 2
    assert float(lower(e, {"x": tf.constant(0.5, tf.float64)}, tf.float64)) == MAX_HEIGHT / 2


# ----------------------------------------------------------------------------- constant formulas
@pytest.mark.parametrize("text, expected", [
    ("log(2)", math.log(2)), ("pi/4", math.pi / 4), ("2e^-1", 2 / math.e), ("-3", -3.0), ("1e-3", 1e-3),
    ("√2", math.sqrt(2)), (r"\frac{1}{2}", 0.5), ("ln 2", math.log(2)), ("2²", 4.0), ("a = 2; a^3", 8.0),
    ("sin(pi/6)", 0.5), ("log(0)", -math.inf),
])
def test_constant_value(text, expected):
    assert close(lowering.constant_value(text), expected, 1e-15)


@pytest.mark.parametrize("text, name, position", [("log(k)", "k", 4), ("x y", "x", 0), ("2 + xy", "x", 4),
                                                  ("a = t; a", "t", 4)])
def test_constant_value_refuses_free_names(text, name, position):
    with pytest.raises(ParseError) as info:
        lowering.constant_value(text)
    assert info.value.message.startswith(f"'{name}' has no value here") and info.value.position == position


# ----------------------------------------------------------------------------- numpy == TensorFlow, node by node
LEAVES = st.one_of(st.sampled_from([Name("x"), Name("y"), Name("pi"), Name("e")]),
                   st.floats(-20, 20, allow_nan=False).map(lambda v: Num(round(v, 3))),
                   st.sampled_from([Num(2.0), Num(0.0), Num(0.5), Num(-1.0)]))


def _trees(children_strategy):
    unary_functions = sorted(n for n, (low, high) in FUNCTIONS.items() if (low, high) == (1, 1))
    return st.one_of(
        st.builds(lambda a: Unary("-", a), children_strategy),
        st.builds(Binary, st.sampled_from(["+", "-", "*", "/", "^"]), children_strategy, children_strategy),
        st.builds(lambda f, a: Call(f, (a,)), st.sampled_from(unary_functions), children_strategy),
        st.builds(lambda a, b: Call("atan2", (a, b)), children_strategy, children_strategy),
        st.builds(lambda f, args: Call(f, tuple(args)), st.sampled_from(["min", "max", "logsumexp"]),
                  st.lists(children_strategy, min_size=2, max_size=3)),
    )


TREES = st.recursive(LEAVES, _trees, max_leaves=10)
POINTS = st.floats(-5, 5, allow_nan=False)
TINY = np.finfo(np.float64).tiny  # below it (but not 0), a number is subnormal


def _numpy_values(node: Node, env: dict, out: list) -> np.float64:
    """The node's numpy value; appends (node, operand values, value) for every operation node."""
    if not children(node):
        return lowering.value(node, env, lowering.NUMPY)
    operands = [_numpy_values(c, env, out) for c in children(node)]
    result = lowering.operation(node, operands, lowering.NUMPY)
    out.append((node, operands, result))
    return result


@settings(deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(TREES, POINTS, POINTS)
@example(parse("atan2(x, relu(-x))").body, 0.0, 0.0)  # found by it: see `same`
def test_numpy_and_tensorflow_agree_operation_by_operation(tree, x, y):
    # a real formula: the tree printed and parsed back (the parser folds -2 into a number, so use its tree)
    expression = parse(format_node(tree) + " + 0*x + 0*y")
    body = expression.body.left.left
    env = {"x": np.float64(x), "y": np.float64(y)}
    operations = []
    with np.errstate(all="ignore"):
        _numpy_values(body, env, operations)
    exact = True
    for node, operands, numpy_value in operations:
        if any(0 < abs(float(v)) < TINY for v in operands):
            # TensorFlow's CPU kernels flush subnormal numbers to zero (a mode of the processor, not a
            # meaning of the formula): log(2e-311) is -inf there, -715.3 in numpy.
            exact = False
            continue
        tf_value = float(lowering.operation(node, [tensor(v) for v in operands], TF64))
        assert close(float(numpy_value), tf_value), (format_node(node), [float(v) for v in operands],
                                                     float(numpy_value), tf_value)
        # Equal down to the sign of a zero, which the two may give differently (numpy's relu(-0) is 0,
        # TensorFlow's scalar kernel keeps -0) and which atan2 tells apart: atan2(0, relu(-0)) is 0 or pi.
        exact = exact and (same(float(numpy_value), tf_value) or math.isnan(tf_value))
    if exact:  # the same walk: equal operations give an equal whole
        whole_numpy = float(lowering.evaluate(expression, env))
        whole_tf = float(lower(expression, {k: tensor(v) for k, v in env.items()}, tf.float64))
        assert close(whole_numpy, whole_tf, 0.0)


def test_constants_are_the_parsers_constants():
    assert lowering.value(Name("e"), {}, lowering.NUMPY) == CONSTANTS["e"]
    assert float(lowering.value(Name("pi"), {}, TF64)) == CONSTANTS["pi"]

