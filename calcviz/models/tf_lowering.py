"""The one lowering of a parsed formula into TensorFlow ops (a leaf: the engine and backprop build on it).

TensorFlow is imported here, and through this module only. Also where TensorFlow computes
(:func:`pick_device`) and the error a request the engine cannot serve raises.
"""
from __future__ import annotations

import contextlib
import os

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

from .expression import CONSTANTS, Binary, Call, Expression, Name, Node, Num, Unary  # noqa: E402

tf.get_logger().setLevel("ERROR")


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
