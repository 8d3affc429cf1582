"""The one lowering of a parsed formula into numbers, over a backend: numpy here, TensorFlow in tf_lowering.py.

What each node means is written once, in :func:`operation` and :func:`function_table`, in terms of a
backend's few primitives (``sin``, ``log``, ``maximum``, ``pow``, ...). numpy's primitives live here, so a
formula can be evaluated without TensorFlow: constants typed where numbers are expected (``--at
y=log(2)``), quick previews of values. TensorFlow's primitives live in tf_lowering.py, where the
engine's derivatives come from. A test checks the two backends agree, operation by operation.

A formula that declares vectors or matrices is lowered with every value as an array of shape
``[..., rows, cols]`` (a number is ``[..., 1, 1]``, a vector ``[..., n, 1]``, a row ``[..., 1, n]``; the
leading axes are a batch: grid points, random draws), so one matrix product, transpose and sum serve every
shape. The parser has already resolved what each operator means (``@`` is the matrix product, ``*`` a
product with a number), so the lowering needs no shapes except to bring inputs in and the output out.

No TensorFlow and no Qt here.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from .expression import (
    CONSTANTS, Binary, Call, Expression, Name, Node, Num, ParseError, Shape, Unary, children, entry_name, names_in,
    parse,
)

# What a backend provides. Everything else (ln, log2, min, logsumexp, x^2 as x*x) is built from these.
PRIMITIVES = ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp", "log", "sqrt", "abs",
              "sigmoid", "softplus", "relu", "atan2", "maximum", "minimum", "pow", "stop_gradient",
              # arrays [..., rows, cols]: the matrix product, swapping the last two axes, sum and largest entry
              # over them (kept as [..., 1, 1]), trace, determinant, log-determinant (NaN unless det > 0),
              # inverse, and entries (a list, row by row, each a number or a batch) into one array
              "matmul", "transpose", "sum", "max", "trace", "det", "logdet", "inv", "assemble")


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


def array_function(name: str, operands: list, p: Mapping[str, Callable]):
    """The functions of vectors and matrices (expression.MATRIX_FUNCTIONS), and logsumexp over the entries,
    on arrays [..., rows, cols]; every result is an array too (a number is [..., 1, 1])."""
    a = operands[0]
    if name == "transpose":
        return p["transpose"](a)
    if name == "sum":
        return p["sum"](a)
    if name == "norm":
        return p["sqrt"](p["sum"](a * a))
    if name == "norm1":
        return p["sum"](p["abs"](a))
    if name == "dot":
        return p["sum"](a * operands[1])
    if name == "logsumexp":
        top = p["stop_gradient"](p["max"](a))
        return top + p["log"](p["sum"](p["exp"](a - top)))
    return p[name](a)  # tr -> trace, det, logdet, inv


def operation(node: Node, operands: list, backend: Backend, arrays: bool = False):
    """One node's own operation on its operands' values (children in order): the meaning of each operator.

    ``arrays``: the values are arrays [..., rows, cols] (a formula with vectors or matrices)."""
    if isinstance(node, Unary):
        return -operands[0]
    if isinstance(node, Call):
        if arrays and (node.func not in backend.functions or (node.func == "logsumexp" and len(operands) == 1)):
            return array_function("trace" if node.func == "tr" else node.func, operands, backend.primitives)
        return backend.functions[node.func](*operands)
    assert isinstance(node, Binary), node
    left, right = operands
    op = node.op
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op in ("*", ".*"):
        return left * right
    if op in ("/", "./"):
        return left / right
    if op == "@":
        return backend.primitives["matmul"](left, right)
    if isinstance(node.right, Num) and node.right.value == 2:
        return left * left  # exact, faster, and with a clean derivative at 0
    return backend.primitives["pow"](left, right)


def value(node: Node, env: Mapping, backend: Backend, arrays: bool = False):
    """A tree's value over ``env`` (name -> backend value)."""
    if isinstance(node, Num):
        return backend.constant(node.value)
    if isinstance(node, Name):
        return env[node.id] if node.id in env else backend.constant(CONSTANTS[node.id])
    if arrays and isinstance(node, Binary) and node.op == "^" and isinstance(node.left, Call) \
            and node.left.func == "norm" and node.right == Num(2.0):
        inner = value(node.left.args[0], env, backend, arrays)  # ||e||^2 as the sum of squares: exact at e = 0
        return backend.primitives["sum"](inner * inner)
    return operation(node, [value(c, env, backend, arrays) for c in children(node)], backend, arrays)


def as_array(v, shape: Shape):
    """An input's value (a number, a vector [..., n] or a matrix [..., rows, cols], with batch axes in front)
    as an array [..., rows, cols]."""
    if shape.kind == "scalar":
        return v[..., None, None]
    if shape.kind == "vector":
        return v[..., :, None]
    return v


def from_array(v, shape: Shape):
    """An array [..., rows, cols] as the value of its shape: [...], [..., n] (a vector or a row) or itself."""
    if len(v.shape) < 2:  # a formula of constants only: a plain number
        return v
    if shape.kind == "scalar":
        return v[..., 0, 0]
    if shape.kind == "vector":
        return v[..., :, 0]
    if shape.kind == "row":
        return v[..., 0, :]
    return v


def array_inputs(expression: Expression, env: Mapping, backend: Backend) -> dict:
    """The inputs of a formula with vectors or matrices as arrays [..., rows, cols]: each given whole by name
    (``x`` -> [..., n], ``A`` -> [..., rows, cols]), or entry by entry (``x[1]``, ``A[1,2]``: the scalar view
    of the surface and the inspector, symbolic sizes at DEFAULT_SIZE)."""
    out = {}
    for name in expression.inputs:
        shape = expression.shape(name)
        if name in env:
            out[name] = as_array(env[name], shape)
        else:
            concrete = shape.concrete({})
            entries = [env[entry_name(name, concrete, k)] for k in range(concrete.rows * concrete.cols)]
            out[name] = backend.primitives["assemble"](entries, concrete.rows, concrete.cols)
    return out


def lower(expression: Expression, env: Mapping, backend: Backend, keep: dict | None = None):
    """Evaluate the definitions in order over ``env`` (input name -> backend value); return the output.

    With ``keep``, every input's and definition's value is stored there by name (for the chain-rule view, and
    derivative_value); in a formula with vectors or matrices as arrays [..., rows, cols].
    """
    arrays = expression.matrix
    env = array_inputs(expression, env, backend) if arrays else dict(env)
    if keep is not None:
        keep.update(env)
    for name, body in expression.definitions:
        env[name] = value(body, env, backend, arrays)
        if keep is not None:
            keep[name] = env[name]
    out = env[expression.output]
    return from_array(out, expression.output_shape) if arrays else out


def derivative_value(expression: Expression, node: Node, shape: Shape, kept: Mapping, backend: Backend):
    """The value of another tree over a lowered formula's inputs and definitions (``kept``, from lower's
    ``keep``): a derivative a user wrote (expression.Derivative), shaped as ``shape`` says."""
    arrays = expression.matrix
    out = value(node, kept, backend, arrays)
    return from_array(out, shape) if arrays else out


# ----------------------------------------------------------------------------- numpy
def _sigmoid(a):
    z = np.exp(-np.abs(a))  # never overflows; exact on both sides of 0
    return np.where(a >= 0, 1 / (1 + z), z / (1 + z))


def _np_logdet(a):
    sign, log_abs = np.linalg.slogdet(a)
    return np.where(sign > 0, log_abs, np.nan)[..., None, None]


def _np_inv(a):
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:  # exactly singular: no inverse (TensorFlow says so too)
        return np.full(np.shape(a), np.nan)


def _np_assemble(entries, rows, cols):
    parts = np.broadcast_arrays(*(np.asarray(e, np.float64) for e in entries))
    return np.stack(parts, axis=-1).reshape(parts[0].shape + (rows, cols))


NUMPY = Backend("numpy", np.float64, {
    "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "exp": np.exp, "log": np.log, "sqrt": np.sqrt,
    "abs": np.abs, "sigmoid": _sigmoid, "softplus": lambda a: np.logaddexp(0.0, a),
    "relu": lambda a: np.maximum(a, 0.0), "atan2": np.arctan2, "maximum": np.maximum, "minimum": np.minimum,
    "pow": np.power, "stop_gradient": lambda a: a,
    "matmul": np.matmul, "transpose": lambda a: np.swapaxes(a, -1, -2),
    "sum": lambda a: np.sum(a, axis=(-2, -1), keepdims=True), "max": lambda a: np.max(a, axis=(-2, -1), keepdims=True),
    "trace": lambda a: np.trace(a, axis1=-2, axis2=-1)[..., None, None],
    "det": lambda a: np.linalg.det(a)[..., None, None], "logdet": _np_logdet, "inv": _np_inv,
    "assemble": _np_assemble,
})
NUMPY_FUNCTIONS = NUMPY.functions


def evaluate(expression: Expression, env: Mapping[str, Any]) -> np.ndarray:
    """The formula's value with numpy (float64), inputs given as numbers or arrays (a vector input as [..., n],
    a matrix as [..., rows, cols]). Outside a function's domain the value is nan or inf, as with TensorFlow;
    numpy's warnings are silenced."""
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

