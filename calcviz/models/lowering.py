"""The one lowering of a parsed formula into numbers, over a backend: numpy here, TensorFlow in tf_lowering.py.

What each node means is written once, in :func:`operation` and :func:`function_table`, in terms of a
backend's few primitives (``sin``, ``log``, ``maximum``, ``pow``, ...). numpy's primitives live here, so a
formula can be evaluated without TensorFlow: constants typed where numbers are expected (``--at
y=log(2)``), quick previews of values. TensorFlow's primitives live in tf_lowering.py, where the
engine's derivatives come from. A test checks the two backends agree, operation by operation.

No TensorFlow and no Qt here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from .expression import (
    CONSTANTS, Binary, Call, Expression, Name, Node, Num, ParseError, Unary, children, names_in, parse,
)

# What a backend provides. Everything else (ln, log2, min, logsumexp, x^2 as x*x) is built from these.
PRIMITIVES = ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp", "log", "sqrt", "abs",
              "sigmoid", "softplus", "relu", "atan2", "maximum", "minimum", "pow", "stop_gradient")


def _fold(op: Callable) -> Callable:
    def folded(*args):
        out = args[0]
        for a in args[1:]:
            out = op(out, a)
        return out
    return folded


def function_table(p: Mapping[str, Callable]) -> dict[str, Callable]:
    """The implementations of expression.FUNCTIONS from a backend's primitives ``p``."""

    def logsumexp(*args):
        top = p["stop_gradient"](_fold(p["maximum"])(*args))  # shift for stability; the gradient is exact without it
        return top + p["log"](sum(p["exp"](a - top) for a in args))

    return {
        **{name: p[name] for name in ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp",
                                      "log", "sqrt", "abs", "sigmoid", "softplus", "relu", "atan2")},
        "ln": p["log"],
        "log2": lambda a: p["log"](a) / math.log(2.0),
        "log10": lambda a: p["log"](a) / math.log(10.0),
        "min": _fold(p["minimum"]), "max": _fold(p["maximum"]), "logsumexp": logsumexp,
    }


@dataclass(frozen=True)
class Backend:
    """An array library as the lowering sees it: how to make a constant, and its primitives."""

    name: str
    constant: Callable[[float], Any]
    primitives: Mapping[str, Callable]
    functions: dict[str, Callable] = field(init=False, repr=False)

    def __post_init__(self):
        missing = set(PRIMITIVES) - set(self.primitives)
        assert not missing, f"{self.name} lacks {sorted(missing)}"
        object.__setattr__(self, "functions", function_table(self.primitives))


def operation(node: Node, operands: list, backend: Backend):
    """One node's own operation on its operands' values (children in order): the meaning of each operator."""
    if isinstance(node, Unary):
        return -operands[0]
    if isinstance(node, Call):
        return backend.functions[node.func](*operands)
    assert isinstance(node, Binary), node
    left, right = operands
    if node.op == "+":
        return left + right
    if node.op == "-":
        return left - right
    if node.op == "*":
        return left * right
    if node.op == "/":
        return left / right
    if isinstance(node.right, Num) and node.right.value == 2:
        return left * left  # exact, faster, and with a clean derivative at 0
    return backend.primitives["pow"](left, right)


def value(node: Node, env: Mapping, backend: Backend):
    """A tree's value over ``env`` (name -> backend value)."""
    if isinstance(node, Num):
        return backend.constant(node.value)
    if isinstance(node, Name):
        return env[node.id] if node.id in env else backend.constant(CONSTANTS[node.id])
    return operation(node, [value(c, env, backend) for c in children(node)], backend)


def lower(expression: Expression, env: Mapping, backend: Backend, keep: dict | None = None):
    """Evaluate the definitions in order over ``env`` (input name -> backend value); return the output.

    With ``keep``, every definition's value is stored there by name (for the chain-rule view).
    """
    env = dict(env)
    for name, body in expression.definitions:
        env[name] = value(body, env, backend)
        if keep is not None:
            keep[name] = env[name]
    return env[expression.output]


# ----------------------------------------------------------------------------- numpy
def _sigmoid(a):
    z = np.exp(-np.abs(a))  # never overflows; exact on both sides of 0
    return np.where(a >= 0, 1 / (1 + z), z / (1 + z))


NUMPY = Backend("numpy", np.float64, {
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
    "abs": np.abs, "sigmoid": _sigmoid, "softplus": lambda a: np.logaddexp(0.0, a),
    "relu": lambda a: np.maximum(a, 0.0), "atan2": np.arctan2, "maximum": np.maximum, "minimum": np.minimum,
    "pow": np.power, "stop_gradient": lambda a: a,
})
NUMPY_FUNCTIONS = NUMPY.functions


def evaluate(expression: Expression, env: Mapping[str, Any]) -> np.ndarray:
    """The formula's value with numpy (float64), inputs given as numbers or arrays. Outside a
    function's domain the value is nan or inf, as with TensorFlow; numpy's warnings are silenced."""
    with np.errstate(all="ignore"):
        return np.asarray(lower(expression, {k: np.asarray(v, np.float64) for k, v in env.items()}, NUMPY))


def constant_value(text: str) -> float:
    """The value of a formula of numbers (``log(2)``, ``pi/4``, ``2e^-1``), for fields that take a number.

    Raises ParseError when the text is not a formula, or uses a name that has no value here (at that name).
    The value may be inf or nan (``log(0)``): the caller says whether it accepts that.
    """
    expression = parse(text)
    if expression.inputs:
        free = next(n for _, body in expression.definitions for n in names_in(body) if n.id in expression.inputs)
        raise ParseError(f"'{free.id}' has no value here: use numbers, pi and e, as in log(2) or pi/4",
                         free.pos, text)
    return float(evaluate(expression, {}))

