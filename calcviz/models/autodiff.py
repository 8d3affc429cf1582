"""The TensorFlow engine: values, gradients and Hessians of a parsed expression.

Every derivative comes from tf.GradientTape. A parsed expression is lowered once into TensorFlow
ops and wrapped in tf.functions with fixed input signatures, so moving a point or a parameter
never retraces; only a new expression does. The engine keeps the compiled functions of the
current expression alone (old ones are dropped: see the benchmark's RSS figure).

Points work in float64 (results match published values); grids in float32 (the benchmark shows
it twice as fast, and a picture needs no more). TensorFlow is imported here and only here.
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


@contextlib.contextmanager
def _native_stderr_silenced():
    """TensorFlow's C++ side logs "no CUDA driver" lines before its log level applies; hide them.

    Python exceptions still propagate with their messages.
    """
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with _native_stderr_silenced():
    import tensorflow as tf  # noqa: E402
    _GPUS = tf.config.list_physical_devices("GPU")  # CUDA's probing logs too

from .expression import CONSTANTS, Binary, Call, Expression, Name, Node, Num, Unary, parse  # noqa: E402

tf.get_logger().setLevel("ERROR")

MAX_GRID = 2000  # points per side; 2000 x 2000 is 4 million evaluations
XLA_MIN_POINTS = 500 * 500  # grids this large are compiled with XLA (see Compiled.grid)


class EngineError(ValueError):
    """A request the engine cannot serve, worded for the user."""


def _logsumexp(*args):
    top = args[0]
    for a in args[1:]:
        top = tf.maximum(top, a)
    top = tf.stop_gradient(top)  # shift for stability; the gradient is exact without it
    return top + tf.math.log(sum(tf.exp(a - top) for a in args))


def _fold(op):
    def folded(*args):
        out = args[0]
        for a in args[1:]:
            out = op(out, a)
        return out
    return folded


# The implementations of expression.FUNCTIONS (a test checks the two tables agree).
TF_FUNCTIONS = {
    "sin": tf.sin, "cos": tf.cos, "tan": tf.tan, "asin": tf.asin, "acos": tf.acos, "atan": tf.atan,
    "sinh": tf.sinh, "cosh": tf.cosh, "tanh": tf.tanh, "exp": tf.exp,
    "log": tf.math.log, "ln": tf.math.log,
    "log2": lambda a: tf.math.log(a) / tf.math.log(tf.constant(2.0, a.dtype)),
    "log10": lambda a: tf.math.log(a) / tf.math.log(tf.constant(10.0, a.dtype)),
    "sqrt": tf.sqrt, "abs": tf.abs, "sigmoid": tf.sigmoid, "softplus": tf.math.softplus, "relu": tf.nn.relu,
    "atan2": tf.atan2, "min": _fold(tf.minimum), "max": _fold(tf.maximum), "logsumexp": _logsumexp,
}


def lower(expression: Expression, env: dict, dtype, keep: dict | None = None):
    """Evaluate the definitions in TensorFlow over ``env`` (name -> tensor); return the output.

    With ``keep``, every definition's tensor is stored there by name (for the chain-rule view).
    """
    env = dict(env)

    def build(node: Node):
        if isinstance(node, Num):
            return tf.constant(node.value, dtype)
        if isinstance(node, Name):
            if node.id in env:
                return env[node.id]
            return tf.constant(CONSTANTS[node.id], dtype)
        if isinstance(node, Unary):
            return -build(node.operand)
        if isinstance(node, Call):
            return TF_FUNCTIONS[node.func](*[build(a) for a in node.args])
        assert isinstance(node, Binary)
        left = build(node.left)
        if node.op == "^" and isinstance(node.right, Num) and node.right.value == 2:
            return left * left  # exact, faster, and with a clean derivative at 0
        right = build(node.right)
        if node.op == "+":
            return left + right
        if node.op == "-":
            return left - right
        if node.op == "*":
            return left * right
        if node.op == "/":
            return left / right
        return tf.pow(left, right)

    for name, body in expression.definitions:
        env[name] = build(body)
        if keep is not None:
            keep[name] = env[name]
    return env[expression.output]


def pick_device(requested: str = "auto") -> tuple[str, str]:
    """(TensorFlow device string, name to show). A GPU when one is visible, unless asked for CPU."""
    if requested not in ("auto", "cpu", "gpu"):
        raise EngineError(f"unknown device '{requested}': use auto, cpu or gpu")
    gpus = _GPUS if requested != "cpu" else []
    if requested == "gpu" and not gpus:
        raise EngineError("no GPU is visible to TensorFlow here; use --device cpu (or auto)")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return "/GPU:0", f"GPU ({details.get('device_name', gpus[0].name)})"
    return "/CPU:0", "CPU"


class Compiled:
    """One expression with a fixed split into differentiated variables and fixed parameters."""

    def __init__(self, expression: Expression, variables: Sequence[str], params: Sequence[str]):
        self.expression, self.variables, self.params = expression, tuple(variables), tuple(params)
        n, m = len(self.variables), len(self.params)

        variables, params = self.variables, self.params  # not self: no cycle, old expressions free at once

        def f(columns, param_values, dtype, shape=None):
            env = {name: col for name, col in zip(variables, columns)}
            env.update({name: param_values[k] for k, name in enumerate(params)})
            out = lower(expression, env, dtype)
            # A constant still has the grid's shape (``shape`` also covers a formula with no variables).
            return out + (tf.zeros_like(columns[0]) if shape is None else tf.zeros(shape, dtype))

        f64 = tf.float64

        @tf.function(input_signature=[tf.TensorSpec([None, n], f64), tf.TensorSpec([m], f64)],
                     reduce_retracing=True, autograph=False)
        def point(X, P):
            with tf.GradientTape() as outer:
                outer.watch(X)
                with tf.GradientTape() as inner:
                    inner.watch(X)
                    value = f(tf.unstack(X, n, axis=1), P, f64, tf.shape(X)[:1])
                grad = inner.gradient(value, X, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            hess = outer.batch_jacobian(grad, X, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return value, grad, hess

        @tf.function(input_signature=[tf.TensorSpec([None, n], f64), tf.TensorSpec([m], f64)],
                     reduce_retracing=True, autograph=False)
        def value_and_gradient(X, P):
            with tf.GradientTape() as tape:
                tape.watch(X)
                value = f(tf.unstack(X, n, axis=1), P, f64, tf.shape(X)[:1])
            return value, tape.gradient(value, X, unconnected_gradients=tf.UnconnectedGradients.ZERO)

        self._point = point
        self._value_and_gradient = value_and_gradient
        self._f = f
        self._grids = {False: None, True: None}  # plain graph / XLA, built on first use
        self._curve = None

    # -- points (float64)
    def at(self, points: np.ndarray, param_values: np.ndarray):
        """Value (B,), gradient (B, n) and Hessian (B, n, n) at a batch of points."""
        v, g, h = self._point(np.asarray(points, np.float64), np.asarray(param_values, np.float64))
        return v.numpy(), g.numpy(), h.numpy()

    def value_and_gradient(self, points: np.ndarray, param_values: np.ndarray):
        v, g = self._value_and_gradient(np.asarray(points, np.float64), np.asarray(param_values, np.float64))
        return v.numpy(), g.numpy()

    # -- grids (float32)
    def grid(self, xs: np.ndarray, ys: np.ndarray, param_values: np.ndarray):
        """f, df/dx, df/dy on the grid xs x ys; arrays indexed [i, j] -> (xs[i], ys[j])."""
        if len(self.variables) != 2:
            raise EngineError("a surface needs two axis variables")
        # Large grids go through XLA, which fuses the element-wise ops into one pass (2x faster at
        # N = 1000) but costs about 100 ms to compile per expression and grid size: small grids,
        # the live-editing case, stay on the plain graph.
        large = len(xs) * len(ys) >= XLA_MIN_POINTS
        if self._grids[large] is None:
            self._grids[large] = self._grid_function(jit=large)
        v, gx, gy = self._grids[large](np.asarray(xs, np.float32), np.asarray(ys, np.float32),
                                       np.asarray(param_values, np.float32))
        return np.asarray(v), np.asarray(gx), np.asarray(gy)  # views on TF's buffers: no copy

    def _grid_function(self, jit: bool):
        f32, f = tf.float32, self._f

        @tf.function(input_signature=[tf.TensorSpec([None], f32), tf.TensorSpec([None], f32),
                                      tf.TensorSpec([len(self.params)], f32)],
                     autograph=False, jit_compile=jit)
        def grid(xs, ys, P):
            X, Y = tf.meshgrid(xs, ys, indexing="ij")
            with tf.GradientTape() as tape:
                tape.watch([X, Y])
                value = f([X, Y], P, f32)
            gx, gy = tape.gradient(value, [X, Y], unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return value, gx, gy

        return grid

    def curve(self, xs: np.ndarray, param_values: np.ndarray):
        """f, f', f'' along xs for a one-variable function (float64: curves are cheap)."""
        if len(self.variables) != 1:
            raise EngineError("a curve needs exactly one variable")
        if self._curve is None:
            f64 = tf.float64
            f = self._f

            @tf.function(input_signature=[tf.TensorSpec([None], f64), tf.TensorSpec([len(self.params)], f64)],
                         autograph=False)
            def curve(xs, P):
                with tf.GradientTape() as outer:
                    outer.watch(xs)
                    with tf.GradientTape() as inner:
                        inner.watch(xs)
                        value = f([xs], P, f64)
                    d1 = inner.gradient(value, xs, unconnected_gradients=tf.UnconnectedGradients.ZERO)
                d2 = outer.gradient(d1, xs, unconnected_gradients=tf.UnconnectedGradients.ZERO)
                return value, d1, d2

            self._curve = curve
        v, d1, d2 = self._curve(np.asarray(xs, np.float64), np.asarray(param_values, np.float64))
        return v.numpy(), d1.numpy(), d2.numpy()


@dataclass
class Split:
    """Which inputs are differentiated (variables) and which are held fixed (parameters)."""

    variables: tuple[str, ...]
    params: tuple[str, ...]
    param_values: np.ndarray


def split_inputs(expression: Expression, variables: Sequence[str], values: Mapping[str, float],
                 allow_unused: bool = False) -> Split:
    """Check the inputs are all given: ``variables`` are differentiated, the rest come from ``values``.

    With ``allow_unused`` (a surface over the x, y plane), a variable may be absent from the formula:
    log(x) drawn over x and y is constant along y. It still may not name a constant or a definition.
    """
    if len(set(variables)) != len(variables):
        raise EngineError(f"each variable can be given only once (got {', '.join(variables)})")
    unknown = [v for v in variables if v not in expression.inputs]
    if allow_unused:
        defined = {name for name, _ in expression.definitions}
        unknown = [v for v in unknown if v in CONSTANTS or v in defined]
    if unknown:
        used = ", ".join(expression.inputs) or "no variables"
        raise EngineError(f"'{unknown[0]}' does not appear in the formula (it uses {used})")
    params = tuple(n for n in expression.inputs if n not in variables)
    missing = [p for p in params if p not in values]
    if missing:
        raise EngineError("give a value for " + ", ".join(missing) + " (e.g. --param "
                          + " ".join(f"{p}=1" for p in missing) + ")")
    return Split(tuple(variables), params, np.array([float(values[p]) for p in params], np.float64))


def linspace(lo: float, hi: float, n: int) -> np.ndarray:
    return np.linspace(float(lo), float(hi), int(n))


def check_box(ranges: Sequence[tuple[float, float]], n: int) -> None:
    if not 2 <= int(n) <= MAX_GRID:
        raise EngineError(f"grid resolution must be between 2 and {MAX_GRID} points per side (got {n})")
    for lo, hi in ranges:
        if not (np.isfinite(lo) and np.isfinite(hi)) or not lo < hi:
            raise EngineError(f"a range must go from a smaller to a larger finite number (got {lo} to {hi})")


class Engine:
    """Serves requests by expression text; keeps only the current expression compiled."""

    def __init__(self, device: str = "auto"):
        self.device, self.device_name = pick_device(device)
        self._key = None
        self._compiled: Compiled | None = None

    def compile(self, text: str, variables: Sequence[str], params: Sequence[str]) -> Compiled:
        key = (text, tuple(variables), tuple(params))
        if key != self._key:
            self._compiled = None  # drop the old functions first, so their memory can go
            self._compiled = Compiled(parse(text), variables, params)
            self._key = key
        return self._compiled

    # Each request method returns plain numbers and numpy arrays, so results pickle across processes.
    def evaluate_point(self, text: str, at: Mapping[str, float], params: Mapping[str, float] | None = None) -> dict:
        """Value, gradient, Hessian and its eigen-decomposition at one point."""
        expression = parse(text)
        split = split_inputs(expression, list(at), params or {})
        compiled = self.compile(text, split.variables, split.params)
        t0 = time.perf_counter()
        with tf.device(self.device):
            v, g, h = compiled.at(np.array([[float(at[n]) for n in split.variables]]), split.param_values)
        hess = h[0]
        finite = np.all(np.isfinite(hess))
        eigenvalues, eigenvectors = np.linalg.eigh((hess + hess.T) / 2) if finite else (
            np.full(len(hess), np.nan), np.full_like(hess, np.nan))
        return {
            "variables": list(split.variables),
            "point": {n: float(at[n]) for n in split.variables},
            "params": dict(zip(split.params, map(float, split.param_values))),
            "value": float(v[0]),
            "gradient": dict(zip(split.variables, map(float, g[0]))),
            "hessian": hess.tolist(),
            "eigenvalues": eigenvalues.tolist(),
            "eigenvectors": eigenvectors.T.tolist(),  # one row per eigenvalue
            "device": self.device_name,
            "seconds": time.perf_counter() - t0,
        }

    def evaluate_grid(self, text: str, axes: Sequence[str], ranges: Sequence[tuple[float, float]], n: int,
                      params: Mapping[str, float] | None = None) -> dict:
        """f and its gradient on an n x n grid (or f, f', f'' on n points for one axis)."""
        if len(axes) not in (1, 2) or len(ranges) != len(axes):
            raise EngineError(f"a grid needs one or two axes, each with a range (got {len(axes)} axes "
                              f"and {len(ranges)} ranges)")
        check_box(ranges, n)
        expression = parse(text)
        split = split_inputs(expression, list(axes), params or {}, allow_unused=True)
        compiled = self.compile(text, split.variables, split.params)
        coords = [linspace(lo, hi, n) for lo, hi in ranges]
        t0 = time.perf_counter()
        with tf.device(self.device):
            if len(axes) == 2:
                value, d1, d2 = compiled.grid(coords[0], coords[1], split.param_values)
            else:
                value, d1, d2 = compiled.curve(coords[0], split.param_values)
        seconds = time.perf_counter() - t0
        return {
            "axes": list(axes),
            "coords": coords,
            "value": value,
            "d1": d1,  # df/dx on a surface, f' on a curve
            "d2": d2,  # df/dy on a surface, f'' on a curve
            "undefined_fraction": float(1.0 - np.isfinite(value).mean()),
            "device": self.device_name,
            "seconds": seconds,
        }
