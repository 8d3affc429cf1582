"""TensorFlow's side of the one lowering (lowering.py): a parsed formula as TensorFlow ops. A leaf: the
engine and backprop build on it.

TensorFlow is imported here, and through this module only. Also where TensorFlow computes
(:func:`pick_device`) and the error a request the engine cannot serve raises.
"""
from __future__ import annotations

import contextlib
import functools
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

import numpy as np  # noqa: E402

from .expression import Expression  # noqa: E402
from . import lowering  # noqa: E402
from .lowering import Backend, function_table  # noqa: E402

tf.get_logger().setLevel("ERROR")
# One thread runs a graph's ops in turn (each op may still use the intra-op threads): calcviz's graphs are
# chains of small ops, and handing them between two inter-op threads cost more than it overlapped
# (a point's derivatives 0.20 -> 0.15 ms; large grids, whose ops are parallel inside, unchanged).
tf.config.threading.set_inter_op_parallelism_threads(1)


class EngineError(ValueError):
    """A request the engine cannot serve, worded for the user."""


def _logdet(a):
    sign, log_abs = tf.linalg.slogdet(a)
    return tf.where(sign > 0, log_abs, tf.constant(np.nan, log_abs.dtype))[..., None, None]


def _assemble(entries, rows: int, cols: int):
    """Entries (row by row; numbers, or batches of one shape) as one array [..., rows, cols]."""
    entries = [tf.convert_to_tensor(e) for e in entries]
    shape = functools.reduce(tf.broadcast_dynamic_shape, [tf.shape(e) for e in entries])
    stacked = tf.stack([tf.broadcast_to(e, shape) for e in entries], axis=-1)
    return tf.reshape(stacked, tf.concat([shape, [rows, cols]], 0))


# TensorFlow's primitives for the one lowering (lowering.py), which defines every function from them.
_PRIMITIVES = {
    "sin": tf.sin, "cos": tf.cos, "tan": tf.tan, "asin": tf.asin, "acos": tf.acos, "atan": tf.atan,
    "sinh": tf.sinh, "cosh": tf.cosh, "tanh": tf.tanh, "exp": tf.exp, "log": tf.math.log, "sqrt": tf.sqrt,
    "abs": tf.abs, "sigmoid": tf.sigmoid, "softplus": tf.math.softplus, "relu": tf.nn.relu, "atan2": tf.atan2,
    "maximum": tf.maximum, "minimum": tf.minimum, "pow": tf.pow, "stop_gradient": tf.stop_gradient,
    "matmul": tf.linalg.matmul, "transpose": tf.linalg.matrix_transpose,
    "sum": lambda a: tf.reduce_sum(a, axis=[-2, -1], keepdims=True),
    "max": lambda a: tf.reduce_max(a, axis=[-2, -1], keepdims=True),
    "trace": lambda a: tf.linalg.trace(a)[..., None, None], "det": lambda a: tf.linalg.det(a)[..., None, None],
    "logdet": _logdet, "inv": tf.linalg.inv, "assemble": _assemble,
}
# The implementations of expression.FUNCTIONS (a test checks the two tables agree).
TF_FUNCTIONS = function_table(_PRIMITIVES)
_BACKENDS: dict = {}  # dtype -> Backend


def backend(dtype) -> Backend:
    """The TensorFlow backend whose constants have ``dtype``."""
    if dtype not in _BACKENDS:
        # From a 0-d array: eager tf.constant caches scalars by value, so -0.0 could come back as 0.0 (and
        # atan2(0, -0) would be 0, not pi, unlike numpy and unlike the same formula compiled).
        _BACKENDS[dtype] = Backend(f"tensorflow {dtype.name}",
                                   lambda v: tf.constant(np.asarray(v, np.float64), dtype), _PRIMITIVES)
    return _BACKENDS[dtype]


def lower(expression: Expression, env: dict, dtype, keep: dict | None = None):
    """Evaluate the definitions in TensorFlow over ``env`` (name -> tensor); return the output.

    With ``keep``, every definition's tensor is stored there by name (for the chain-rule view).
    """
    return lowering.lower(expression, env, backend(dtype), keep)


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
