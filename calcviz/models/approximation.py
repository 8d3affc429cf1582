"""Local models of f at a point p: the tangent plane (linear) and the quadratic (Taylor) model.

    linear     L(q) = f(p) + grad f(p) . (q - p)
    quadratic  Q(q) = L(q) + 1/2 (q - p)^T H(p) (q - p)

Along a line q = p + t v the errors |f - L| and |f - Q| shrink like t^2 and t^3 for a smooth f, which
shows as slopes 2 and 3 on a log-log plot (``error_slopes`` measures them). When H is positive
definite the quadratic model has a minimum, reached by the Newton step -H^-1 grad f; and fixed-step
gradient descent on that model converges only for learning rates below 2 / lambda_max(H).

Pure numpy: no Qt, no TensorFlow (the window's process calls these to draw the models).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

PD_TOL = 1e-10    # positive definite: the smallest eigenvalue above this times the largest
ROUNDOFF = 1e-12  # errors below this times the function's scale are round-off, not approximation error


def _vec(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).reshape(-1)


def linear_model(value: float, grad, p, q) -> np.ndarray:
    """L(q) = f(p) + grad . (q - p) for points q of any batch shape (..., n)."""
    grad, p = _vec(grad), _vec(p)
    q = np.asarray(q, dtype=np.float64)
    return float(value) + (q - p) @ grad


def quadratic_model(value: float, grad, hess, p, q) -> np.ndarray:
    """Q(q) = f(p) + grad . (q - p) + 1/2 (q - p)^T H (q - p) for points q of any batch shape (..., n)."""
    grad, p = _vec(grad), _vec(p)
    H = np.asarray(hess, dtype=np.float64).reshape(len(p), len(p))
    dq = np.asarray(q, dtype=np.float64) - p
    return float(value) + dq @ grad + 0.5 * np.einsum("...i,ij,...j->...", dq, H, dq)


def _positive_definite_eigenvalues(hess) -> np.ndarray | None:
    H = np.asarray(hess, dtype=np.float64)
    H = H.reshape(int(round(np.sqrt(H.size))), -1)
    if H.size == 0 or not np.all(np.isfinite(H)):
        return None
    lam = np.linalg.eigvalsh(0.5 * (H + H.T))
    # Positive beyond round-off: log(e^x + e^y) has a singular Hessian whose zero eigenvalue
    # computes as +5.6e-17; inverting that would send the Newton step to 1e16.
    return lam if lam[0] > PD_TOL * abs(lam[-1]) else None


def newton_step(grad, hess) -> np.ndarray | None:
    """-H^-1 grad, the step to the quadratic model's minimum; None unless H is positive definite."""
    if _positive_definite_eigenvalues(hess) is None:
        return None
    g = _vec(grad)
    if not np.all(np.isfinite(g)):
        return None
    H = np.asarray(hess, dtype=np.float64).reshape(len(g), len(g))
    return -np.linalg.solve(0.5 * (H + H.T), g)


def stable_learning_rate(hess) -> float | None:
    """2 / lambda_max: fixed-step gradient descent near here converges for smaller rates (H positive definite)."""
    lam = _positive_definite_eigenvalues(hess)
    return None if lam is None else float(2.0 / lam[-1])


def error_slopes(t: Sequence[float], errors: Sequence[float], scale: float | None = None) -> float | None:
    """Least-squares slope of log(error) against log(t), over the errors above round-off.

    Round-off is ROUNDOFF times ``scale`` (the size of f near the point; the largest error when not
    given): below it the difference f - model is mostly rounding noise and would flatten the line.
    None when fewer than three points are left.
    """
    t = np.asarray(t, dtype=np.float64).reshape(-1)
    e = np.asarray(errors, dtype=np.float64).reshape(-1)
    ok = np.isfinite(t) & np.isfinite(e) & (t > 0) & (e > 0)
    if not ok.any():
        return None
    if scale is None or not np.isfinite(scale) or scale <= 0:
        scale = float(e[ok].max())
    ok &= e > ROUNDOFF * scale
    if ok.sum() < 3:
        return None
    slope, _ = np.polyfit(np.log(t[ok]), np.log(e[ok]), 1)
    return float(slope)


def model_formula(value: float, grad, hess, point, names, output: str = "f", quadratic: bool = False,
                  digits: int = 5) -> str | None:
    """The tangent plane (or the quadratic model) at ``point`` as a formula a reader can check by hand:

        f ≈ 1.0986 + 0.33333(x - 0) + 0.66667(y - 0.69315)
        f ≈ ... + 0.11111(x - 0)^2 - 0.22222(x - 0)(y - 0.69315) + 0.11111(y - 0.69315)^2

    the quadratic terms being 1/2 H_ii (x_i - p_i)^2 and H_ij (x_i - p_i)(x_j - p_j) for i < j. Numbers
    to ``digits`` significant digits; zero terms left out. None where a number needed is not finite.
    """
    g, p = _vec(grad), _vec(point)
    H = np.asarray(hess, dtype=np.float64).reshape(len(p), len(p))
    if not (np.isfinite(value) and np.all(np.isfinite(g)) and np.all(np.isfinite(p))
            and (not quadratic or np.all(np.isfinite(H)))):
        return None

    def num(v: float) -> str:
        return f"{v + 0.0:.{digits}g}"

    def shifted(k: int) -> str:
        return f"({names[k]} - {num(p[k])})" if p[k] >= 0 else f"({names[k]} + {num(-p[k])})"

    terms = [(g[k], shifted(k)) for k in range(len(p))]
    if quadratic:
        for i in range(len(p)):
            terms.append((0.5 * H[i, i], f"{shifted(i)}^2"))
            terms += [(0.5 * (H[i, j] + H[j, i]), shifted(i) + shifted(j)) for j in range(i + 1, len(p))]
    text = f"{output} ≈ {num(value)}"
    for c, factor in terms:
        if c != 0:
            coefficient = "" if abs(c) == 1 else num(abs(c))
            text += f" {'-' if c < 0 else '+'} {coefficient}{factor}"
    return text
