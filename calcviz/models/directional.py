"""Directional derivatives of a function of two variables at one point, from its gradient.

For a unit vector v = (cos a, sin a) the directional derivative is D_v f = grad f . v. As a
function of the angle a it is |grad f| cos(a - a_g), where a_g is the gradient's own angle: it
is largest (+|grad f|) along the gradient, smallest (-|grad f|) opposite it, and zero across it.
When the gradient is zero every directional derivative is zero and no direction is special.

Pure numpy: no Qt, no TensorFlow.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

# Exact cosine and sine at the quarter turns, so that e.g. v at 90 degrees is (0, 1), not (6e-17, 1).
_QUARTER_TURNS = {0: (1.0, 0.0), 90: (0.0, 1.0), 180: (-1.0, 0.0), 270: (0.0, -1.0)}


def _cos_sin_degrees(angles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin of angles in degrees, exact at multiples of 90 degrees."""
    angles = np.asarray(angles, dtype=np.float64)
    radians = np.deg2rad(angles)
    c, s = np.cos(radians), np.sin(radians)
    for turn, (exact_c, exact_s) in _QUARTER_TURNS.items():
        hit = np.mod(angles, 360.0) == turn
        c = np.where(hit, exact_c, c)
        s = np.where(hit, exact_s, s)
    return c, s


def directional_profile(gradient: Sequence[float], angle_degrees: float, samples: int = 361) -> dict:
    """D_v f at one angle, and over all angles, for the 2D gradient ``gradient`` = (df/dx, df/dy).

    Angles are in degrees, counter-clockwise from the positive x axis. Returns::

        {
          "gradient": (gx, gy),        # as floats
          "norm": |g|,
          "angle": a,                  # angle_degrees wrapped into [0, 360)
          "direction": (cos a, sin a), # the unit vector v
          "value": g . v,              # D_v f at the chosen angle
          "angles": ndarray,           # `samples` angles from 0 to 360 inclusive
          "values": ndarray,           # D_v f at each of them
          "max_angle": float | None,   # along the gradient, in [0, 360); None when g = 0 or undefined
          "max_value": +|g|,
          "min_angle": float | None,   # opposite the gradient
          "min_value": -|g|,
          "zero": bool,                # g = 0: D_v f = 0 for every v, no unique direction
          "defined": bool,             # False when a component of g is NaN or infinite
          "note": str,                 # one sentence for the user: what the extremes are
        }

    When the gradient is not finite, "value", "values", "norm" and the extremes' values are NaN.
    """
    g = [float(c) for c in gradient]
    if len(g) != 2:
        raise ValueError(f"a directional profile needs a gradient with 2 components (got {len(g)})")
    angle = float(angle_degrees)
    if not math.isfinite(angle):
        raise ValueError(f"the angle must be a finite number of degrees (got {angle_degrees})")
    samples = int(samples)
    if samples < 2:
        raise ValueError(f"samples must be at least 2 (got {samples})")

    angle = angle % 360.0
    if angle == 360.0:  # a tiny negative angle wraps to 360.0 in floating point
        angle = 0.0
    gx, gy = g
    (cx,), (sx,) = _cos_sin_degrees(np.array([angle]))
    angles = np.linspace(0.0, 360.0, samples)
    c, s = _cos_sin_degrees(angles)
    defined = math.isfinite(gx) and math.isfinite(gy)
    zero = defined and gx == 0.0 and gy == 0.0

    if not defined:
        nan = float("nan")
        return {
            "gradient": (gx, gy), "norm": nan, "angle": angle, "direction": (float(cx), float(sx)),
            "value": nan, "angles": angles, "values": np.full(samples, np.nan),
            "max_angle": None, "max_value": nan, "min_angle": None, "min_value": nan,
            "zero": False, "defined": False,
            "note": "the gradient is undefined here, so the directional derivatives are too",
        }

    norm = math.hypot(gx, gy)
    value = gx * float(cx) + gy * float(sx)
    values = gx * c + gy * s
    if zero:
        max_angle = min_angle = None
        note = "grad f = 0: D_v f = 0 in every direction (no direction of steepest ascent)"
    else:
        max_angle = math.degrees(math.atan2(gy, gx)) % 360.0
        if max_angle == 360.0:
            max_angle = 0.0
        min_angle = (max_angle + 180.0) % 360.0
        note = "largest (+|grad f|) along the gradient, smallest (-|grad f|) opposite it"
    return {
        "gradient": (gx, gy), "norm": norm, "angle": angle, "direction": (float(cx), float(sx)),
        "value": float(value), "angles": angles, "values": values,
        "max_angle": max_angle, "max_value": norm, "min_angle": min_angle, "min_value": -norm,
        "zero": zero, "defined": True, "note": note,
    }


def along(gradient: Sequence[float], names: Sequence[str], direction: Sequence[float]) -> dict:
    """The directional derivative at a point along ``direction`` (``calcviz eval --direction``).

    With two variables a single number is an angle in degrees, counter-clockwise from the first
    axis; otherwise ``direction`` is a vector, one number per variable. Either way it is normalised:
    the result is D_u f = grad f . u with u = v / |v|, the rate of change of f per unit distance along
    v (a vector's length does not scale it). Returns {"angle" (degrees, two variables only, else None),
    "vector" (as given, by name), "unit" (u, by name), "value", "normalised": True}; "value" is NaN
    where the gradient is undefined. ValueError (worded for the user) for a direction that does not fit.
    """
    names = list(names)
    given = [float(c) for c in direction]
    if not all(math.isfinite(c) for c in given):
        raise ValueError("--direction: the values must be finite")
    if len(names) == 2 and len(given) == 1:
        (c,), (s,) = _cos_sin_degrees(np.array([given[0] % 360.0]))
        v = np.array([c, s])
    elif len(given) == len(names):
        v = np.array(given)
    else:
        angle = "an angle in degrees or " if len(names) == 2 else ""
        raise ValueError(f"--direction takes {angle}{len(names)} number{'s' if len(names) != 1 else ''}, "
                         f"one per variable ({', '.join(names)}); got {len(given)}")
    norm = float(np.linalg.norm(v))
    if not norm > 0:
        raise ValueError("--direction: the direction must not be the zero vector")
    u = v / norm
    g = np.asarray(gradient, np.float64).reshape(-1)
    angle = None
    if len(names) == 2:
        angle = given[0] % 360.0 if len(given) == 1 else math.degrees(math.atan2(u[1], u[0])) % 360.0
    return {"angle": angle, "vector": dict(zip(names, map(float, v))), "unit": dict(zip(names, map(float, u))),
            "value": float(g @ u) if np.all(np.isfinite(g)) else math.nan, "normalised": True}
