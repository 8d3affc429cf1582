"""Reading a computed grid: values under the cursor, colour limits, a coarse gradient field; and a
preview of a grid's values from numpy while TensorFlow loads (``preview``).

Pure numpy on the arrays the engine returns (value/d1/d2 indexed [i, j] -> (xs[i], ys[j])).
"""
from __future__ import annotations

import time

import numpy as np

from .expression import ParseError, parse
from .lowering import evaluate

PREVIEW_SIDE = 200  # a preview has at most this many points per side (numpy: ~1 ms for a simple formula)


def preview(text: str, axes, ranges, n: int, params=None) -> dict | None:
    """The grid request's values of f computed with numpy through the one lowering (lowering.evaluate),
    for the window to draw while the compute process imports TensorFlow: values only, no derivatives
    ("d1", "d2" are None), at most PREVIEW_SIDE points per side. None when there is nothing to draw
    (not a surface, or the formula cannot be evaluated here). TensorFlow's grid replaces it."""
    if len(axes) != 2:
        return None
    t0 = time.perf_counter()
    n = min(int(n), PREVIEW_SIDE)
    coords = [np.linspace(float(lo), float(hi), n) for lo, hi in ranges]
    X, Y = np.meshgrid(*coords, indexing="ij")
    try:
        value = evaluate(parse(text), {**(params or {}), axes[0]: X, axes[1]: Y})
    except (ParseError, KeyError, ValueError, ArithmeticError):
        return None
    value = np.broadcast_to(value, X.shape).astype(np.float32)
    return {"axes": list(axes), "coords": coords, "value": value, "d1": None, "d2": None,
            "device": "numpy preview", "seconds": time.perf_counter() - t0}


def nearest_index(coords: np.ndarray, value: float) -> int | None:
    """Index of the grid line nearest to ``value``, or None outside the range."""
    lo, hi = coords[0], coords[-1]
    if not lo <= value <= hi:
        return None
    return int(round((value - lo) / (hi - lo) * (len(coords) - 1)))


def sample(grid: dict, x: float, y: float | None = None) -> dict | None:
    """f and its gradient at the grid node nearest (x, y) (for hover read-outs; clicks ask the engine)."""
    coords = grid["coords"]
    i = nearest_index(coords[0], x)
    if i is None:
        return None
    if len(coords) == 1:
        return {"x": float(coords[0][i]), "value": float(grid["value"][i]), "gradient": (float(grid["d1"][i]),)}
    j = nearest_index(coords[1], y)
    if j is None:
        return None
    return {"x": float(coords[0][i]), "y": float(coords[1][j]), "value": float(grid["value"][i, j]),
            "gradient": (float(grid["d1"][i, j]), float(grid["d2"][i, j]))}


def robust_limits(values: np.ndarray, tail: float = 1.0) -> tuple[float, float] | None:
    """Colour/height limits that ignore NaN/inf and the extreme ``tail`` percent on each side.

    Without this, one huge value (exp(50x)) flattens every colour into one. Returns None when
    nothing is finite.
    """
    finite = values[np.isfinite(values)].astype(np.float64)
    if finite.size == 0:
        return None
    lo, hi = np.percentile(finite, [tail, 100 - tail]) if finite.size > 50 else (finite.min(), finite.max())
    lo, hi = float(lo), float(hi)
    if hi - lo < 1e-12 * max(1.0, abs(lo)):
        pad = max(abs(lo) * 0.05, 1e-6)
        lo, hi = lo - pad, hi + pad
    return lo, hi


def is_heavy_tailed(values: np.ndarray) -> bool:
    """True when the extremes lie far outside the robust limits: the colour scale clips them."""
    limits = robust_limits(values)
    finite = values[np.isfinite(values)].astype(np.float64)
    if limits is None or finite.size == 0:
        return False
    span = limits[1] - limits[0]
    return bool(finite.max() - limits[1] > 10 * span or limits[0] - finite.min() > 10 * span)


def needs_log_scale(values: np.ndarray) -> bool:
    """True when f spans so many orders of magnitude that a linear colour scale shows one colour.

    Percentile clipping cannot fix exp(50x): its top percent alone spans a factor of e^2.
    """
    magnitude = np.abs(values[np.isfinite(values)].astype(np.float64))
    if magnitude.size < 10:
        return False
    return bool(magnitude.max() > 1e4 * (np.median(magnitude) + 1e-12) and magnitude.max() > 1e4)


def symlog(values: np.ndarray) -> np.ndarray:
    """sign(f) log10(1 + |f|): the log colour scale, defined for negative values and zero too."""
    with np.errstate(invalid="ignore"):
        return np.sign(values) * np.log10(1.0 + np.abs(values.astype(np.float64)))


def describe_problems(values: np.ndarray, log_scale: bool = False) -> str:
    """What the user should know about a grid: undefined or overflowing parts, clipped colours."""
    notes = []
    nan, inf = float(np.isnan(values).mean()), float(np.isinf(values).mean())
    if nan:
        notes.append(f"f is undefined (NaN) on {nan:.1%} of the box: shown as holes")
    if inf:
        # (±inf: a pole, as 1/(x - y) on its diagonal, or an overflow of the grid's float32, as exp(50x))
        notes.append(f"f is infinite or beyond float32's ±3.4e38 on {inf:.1%} of the box: shown as holes")
    finite = values[np.isfinite(values)]
    limits = robust_limits(values)
    if log_scale and finite.size:
        notes.append(f"f spans {finite.min():.3g} to {finite.max():.3g}: colours and heights use a log scale, "
                     "sign(f)·log10(1+|f|)")
    elif limits is not None and is_heavy_tailed(values):
        notes.append(f"f spans {finite.min():.3g} to {finite.max():.3g}: colours and heights are clipped to "
                     f"{limits[0]:.3g} … {limits[1]:.3g} so the rest stays readable")
    return "; ".join(notes) + ("." if notes else "")


def display_limits(values: np.ndarray) -> tuple[float, float] | None:
    """The full finite range, unless a few extreme values would flatten it: then robust limits."""
    if is_heavy_tailed(values):
        return robust_limits(values)
    return robust_limits(values, tail=0.0)


def contour_levels(limits: tuple[float, float], count: int = 10) -> np.ndarray:
    """``count`` evenly spaced iso-levels strictly inside the limits."""
    return np.linspace(limits[0], limits[1], count + 2)[1:-1]


def gradient_field(grid: dict, arrows_per_side: int = 15) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Positions (x, y) and gradient components (gx, gy) on a coarse sub-grid, finite ones only."""
    xs, ys = grid["coords"]
    n, m = len(xs), len(ys)
    ii = np.unique(np.linspace(0, n - 1, min(arrows_per_side, n)).round().astype(int))
    jj = np.unique(np.linspace(0, m - 1, min(arrows_per_side, m)).round().astype(int))
    I, J = np.meshgrid(ii, jj, indexing="ij")
    gx, gy = grid["d1"][I, J], grid["d2"][I, J]
    keep = np.isfinite(gx) & np.isfinite(gy)
    return xs[I][keep], ys[J][keep], gx[keep], gy[keep]


def isolines(xs: np.ndarray, ys: np.ndarray, values: np.ndarray, levels) -> list[np.ndarray]:
    """Marching squares, vectorised: for each level, the iso-line ``values == level`` as segments
    (K, 2, 2) in (x, y).

    pyqtgraph.functions.isocurve does the same in a Python loop (about 14 ms a level at 200 x 200,
    too slow for a live redraw of ten levels); this takes about 1 ms a level. Cells touching NaN are skipped.
    """
    corners = values[:-1, :-1], values[1:, :-1], values[1:, 1:], values[:-1, 1:]
    finite = np.isfinite(values)
    ok = finite[:-1, :-1] & finite[1:, :-1] & finite[1:, 1:] & finite[:-1, 1:]  # once for every level
    return [_isoline(xs, ys, corners, ok, level) for level in np.atleast_1d(levels)]


def _isoline(xs, ys, corners, ok, level: float) -> np.ndarray:
    a, b, c, d = corners
    sa, sb, sc, sd = a >= level, b >= level, c >= level, d >= level
    # Edges: 0 a-b (bottom), 1 b-c (right), 2 d-c (top), 3 a-d (left); a=(i,j) b=(i+1,j) c=(i+1,j+1) d=(i,j+1).
    # (Counted edge by edge: a sum over a short last axis of the whole grid cost most of the time.)
    edges = [(sa != sb) & ok, (sb != sc) & ok, (sd != sc) & ok, (sa != sd) & ok]
    count = sum(e.view(np.int8) for e in edges)
    I, J = np.nonzero(count >= 2)
    if I.size == 0:
        return np.zeros((0, 2, 2))
    x0, x1, y0, y1 = xs[I], xs[I + 1], ys[J], ys[J + 1]
    va, vb, vc, vd = a[I, J], b[I, J], c[I, J], d[I, J]

    def frac(u, v):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (level - u) / (v - u)
        return np.clip(np.where(np.isnan(t), 0.5, t), 0.0, 1.0)

    points = np.stack([
        np.stack([x0 + frac(va, vb) * (x1 - x0), y0], -1),
        np.stack([x1, y0 + frac(vb, vc) * (y1 - y0)], -1),
        np.stack([x0 + frac(vd, vc) * (x1 - x0), y1], -1),
        np.stack([x0, y0 + frac(va, vd) * (y1 - y0)], -1),
    ], axis=1)  # (K, 4 edges, 2)
    cx, cnt = np.stack([e[I, J] for e in edges], axis=1), count[I, J]
    rows = np.arange(I.size)
    two = cnt == 2
    first = np.argmax(cx, axis=1)
    second = 3 - np.argmax(cx[:, ::-1], axis=1)
    segments = [np.stack([points[rows[two], first[two]], points[rows[two], second[two]]], axis=1)]
    four = cnt == 4
    if four.any():
        # Saddle cell: the centre's side decides which corners the line cuts off.
        r = rows[four]
        centre_like_a = ((va + vb + vc + vd)[four] / 4 >= level) == sa[I, J][four]
        pairs_a = np.where(centre_like_a[:, None], [[0, 1]], [[0, 3]])
        pairs_b = np.where(centre_like_a[:, None], [[2, 3]], [[1, 2]])
        for pairs in (pairs_a, pairs_b):
            segments.append(np.stack([points[r, pairs[:, 0]], points[r, pairs[:, 1]]], axis=1))
    return np.concatenate(segments)


def nice_range(lo: float, hi: float) -> tuple[float, float]:
    """A view's range rounded outwards to a step of 1, 2 or 5 times a power of ten (about a 50th of it)."""
    span = hi - lo
    if not np.isfinite(span) or span <= 0:
        return lo, hi
    step = 10.0 ** np.floor(np.log10(span / 50))
    step *= next(m for m in (1, 2, 5, 10) if span / (step * m) <= 50)
    digits = max(0, int(-np.floor(np.log10(step))))  # -0.7000000000000001 prints as -0.7
    return round(float(np.floor(lo / step) * step), digits), round(float(np.ceil(hi / step) * step), digits)


ROUND_OFF = 1e-12  # below this fraction of its quantity's scale, a number is round-off: shown as 0


def is_round_off(value: float, scale: float | None) -> bool:
    """Whether ``value`` is round-off next to ``scale``, the size of such numbers here (none: never)."""
    return bool(scale) and abs(value) < ROUND_OFF * abs(scale)


def without_round_off(values, scale: float) -> list[float]:
    """``values`` with the round-off among them as 0, as the window shows them: a gradient of 1e-22 at a
    critical point is 0, and draws no arrow in a direction that round-off chose."""
    return [0.0 if is_round_off(v, scale) else float(v) for v in values]


def scales(grid: dict | None, ranges) -> dict[str, float]:
    """The size of f, its gradient and its Hessian over the box, from the grid on screen: what a number
    must be compared with to tell a real value from round-off (an eigenvalue of -4e-17 beside f ~ 1)."""
    span = max((hi - lo for lo, hi in ranges), default=1.0) or 1.0
    values = np.asarray(grid["value"], float) if grid is not None else np.zeros(0)
    finite = np.abs(values[np.isfinite(values)])
    f = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return {"point": span, "value": f, "gradient": f / span, "hessian": f / span ** 2}
