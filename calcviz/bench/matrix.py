"""The matrix section: the gradient of ||X - UV||_F^2 with respect to X, U and V for a 1000 x 1000 X and
rank 50 (U 1000 x 50, V 50 x 1000), float64, through the engine against the hand-written numpy formula
R = X - UV, gradients 2R, -2 R V^T, -2 U^T R, in the same run.

Figures (ms, medians of perf_counter timings):
- engine:  Engine.evaluate_matrix with the arrays given (what `calcviz eval` and the window ask): parse, check
           the values, then the formula's traced value-and-gradient function (one GradientTape), warm.
- kernel:  the engine's traced kernel alone (autodiff.ArrayGradients, warm: the tape's graph and the copies of
           the arrays into and out of TensorFlow), without parsing and checking the values.
- numpy:   the formula written by hand (value and the three gradients).
- ratio:   engine / numpy (and kernel / numpy). Both results agree (largest relative difference reported).
"""
from __future__ import annotations

import numpy as np

from . import median_ms, ms, sayer

SIZE, RANK = 1000, 50
QUICK_SIZE = 300
TEXT = "X: m x n\nU: m x k\nV: k x n\n||X - UV||^2"

_say = sayer("matrix")


def numpy_formula(X, U, V):
    """||X - UV||_F^2 and its gradients with respect to X, U, V, by hand."""
    R = X - U @ V
    return float(np.sum(R * R)), {"X": 2 * R, "U": -2 * (R @ V.T), "V": -2 * (U.T @ R)}


def run(quick: bool = False) -> dict:
    from calcviz.models.autodiff import ArrayGradients
    from calcviz.models.engine import Engine
    from calcviz.models.expression import parse

    size = QUICK_SIZE if quick else SIZE
    repeats = 3 if quick else 15
    engine = Engine("auto")
    rng = np.random.default_rng(0)
    values = {"X": rng.standard_normal((size, size)), "U": rng.standard_normal((size, RANK)),
              "V": rng.standard_normal((RANK, size))}
    _say(f"||X - UV||^2 with X {size}x{size}, rank {RANK}, on {engine.device_name}")
    out = engine.evaluate_matrix(TEXT, values)
    value, grads = numpy_formula(**values)
    difference = max(float(np.max(np.abs(out["gradients"][k] - grads[k]) / (np.max(np.abs(grads[k])))))
                     for k in grads)
    expression = parse(TEXT)
    engine_ms = median_ms(lambda: engine.evaluate_matrix(TEXT, values), repeats)
    kernel = ArrayGradients(expression)
    kernel_ms = median_ms(lambda: kernel(values), repeats)
    numpy_ms = median_ms(lambda: numpy_formula(**values), repeats)
    _say(f"engine {engine_ms:.1f} ms, kernel {kernel_ms:.1f} ms, numpy {numpy_ms:.1f} ms")
    return {
        "machine": {"device": engine.device_name},
        "problem": {"formula": "||X - UV||_F^2", "X": [size, size], "U": [size, RANK], "V": [RANK, size],
                    "dtype": "float64", "gradients": ["X", "U", "V"]},
        "engine_ms": ms(engine_ms),
        "kernel_ms": ms(kernel_ms),
        "numpy_ms": ms(numpy_ms),
        "ratio_engine_to_numpy": round(engine_ms / numpy_ms, 3),
        "ratio_kernel_to_numpy": round(kernel_ms / numpy_ms, 3),
        "value_relative_difference": abs(float(out["value"]) - value) / abs(value),
        "gradient_largest_relative_difference": difference,
    }
