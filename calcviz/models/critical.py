"""Critical points of a function of n variables inside a box: search, de-duplicate, classify, and
say what is true of them: which are the box's extremes, which form curves, how complete the list is.

The search starts Newton's method on the gradient from a grid of seeds over the box (``newton_iteration``:
the iteration in numpy, each step one call of the formula's traced value/gradient/Hessian function,
:meth:`calcviz.models.autodiff.Compiled.at`; this module never imports TensorFlow, it is handed that
function as a callable). Seeds stop when their Newton step is
negligible, when they leave the box or reach a place where f is undefined; the rest iterate on, in
chunks, up to a budget. Besides the grid, the grid's seeds on the box's boundary search again, each
along the face it lies on (an edge of a rectangle, an end of an interval): the box's extremes over
its closed set are among the values met, and those on its boundary are found by a real search.
Where the sampled values show an extremum that no seed converged to (a peak narrower than the seed
spacing), or where f changes between neighbouring seeds more than its derivatives at them allow
(``unresolved_pairs``), a finer grid of seeds is tried around the place, twice over.
What remains is judged here in plain numpy:

* accepted: finite, inside the box, gradient zero to round-off (``judge``) and Newton step negligible;
* de-duplicated: points closer than ``CLUSTER_TOL`` of the box are one point, represented by the
  seed that polished it best (smallest gradient);
* classified by the eigenvalues of the Hessian (numpy ``eigh``): min, max, saddle, or degenerate
  when an eigenvalue is zero relative to the Hessian's scale there and around (the second-derivative
  test is inconclusive there);
* a degenerate point whose zero-eigenvalue direction leads on to more critical points is traced
  along it, a cell at a time (``_Search.trace``): the curve is reported as a set, not as points;
* the lowest (highest) minimum (maximum) is flagged global only when no value met in the closed box
  is lower (higher) beyond round-off; the box's min and max are reported with where they are;
* reported with an honest ``complete`` flag and a note saying why the list may be incomplete and
  the resolution below which features can be missed.

Everything is measured in box units: coordinate i is divided by the box width w_i, and f by its
spread F over the seeds (max f - min f). Then a gradient component scales as g_i w_i / F and a
Hessian entry as H_ij w_i w_j / F, so one set of tolerances serves x^2 on [-1, 1] and
1e6 (x^2 + y^2) on [-1000, 1000] alike. (Classification compares a Hessian with the Hessians of
the seeds around it instead: F is dominated by the largest values in the box, which for
exp(x^2 + y^2) are 1e21 at the corners and say nothing about the curvature at the origin; the
gradient test likewise compares with the gradients of the seeds around.)
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .grid import without_round_off

# Seeds per side of the box when not given. The seeds span the box, so they scale with it. Rastrigin
# on [-5.12, 5.12]^2 has critical points 0.5 apart, each with a Newton basin roughly 0.25 wide along
# each axis; 32 seeds per side (spacing 0.33) is the least that finds all 441 of them here, 48
# (spacing 0.22, 2304 seeds) leaves a margin and keeps a warm Himmelblau search near 20 ms.
# Beyond two variables: about SEED_BUDGET seeds in all (16 per side for three).
DEFAULT_SEEDS_PER_SIDE = {1: 1001, 2: 48}
SEED_BUDGET = 4096
MAX_SEEDS = {1: 1_000_000, 2: 1000}    # per side; beyond two variables, MAX_TOTAL_SEEDS in all
MAX_TOTAL_SEEDS = 1_000_000
MAX_VARIABLES = 6                      # the grid, its faces and its 3^n neighbourhoods grow as seeds^n
TRUST_RADIUS = 2.0                     # first step cap, in seed spacings (a box unit is 1 / (seeds - 1))
MAX_RADIUS = 0.25                      # the cap grows while |grad f| falls, up to this (box units)
CHUNK = 10                             # Newton steps per call (progress is reported between calls)
MAX_ITERATIONS = 200                   # Newton steps at most: x^6 converges linearly at 5/6 per step
FACE_ITERATIONS = CHUNK                # ... and for a seed on a face of the box (see boundary_seeds)
STILL = 1e-12                          # a seed whose next step is below this (box units) has stopped
LEAVE_MARGIN = 0.25                    # a seed this far outside the box (box units) has left it
GRAD_TOL = 1e-8                        # accept: |g_i w_i| / F below this ...
LOCAL_GRAD_TOL = 1e-8                  # ... and below this times |g_i w_i| at the seeds around ...
STEP_TOL = 1e-6                        # ... and the next Newton step below this (box units)
EDGE_TOL = 1e-9                        # a point this close outside the box (box units) is on its edge
CLUSTER_TOL = 1e-5                     # points this close (box units, max norm) are the same point
DEGENERATE_TOL = 1e-6                  # |eigenvalue| below this times the Hessian's scale is zero
TIE = 1e-9                             # values this close, relative to |f| + its variation over a cell, are equal
REFINE = {1: 9, 2: 9, 3: 5}            # seeds per side of a finer grid (3 beyond three variables) ...
REFINE_LEVELS = 2                      # ... tried around a place, then around what is still unresolved in it
MAX_REFINED = 64                       # refine around at most this many places per level
RESOLVE_TOL = 0.05                     # f between neighbouring seeds off its local model by this much: unresolved
FLAT_PLACES = 3                        # flat at this many distinct places: a flat region, not a point
DENSE = 4                              # fewer seeds than this per point found: the grid may be too coarse
CURVE = 6                              # more degenerate points than this left untraced: probably a region
MAX_CURVE_STARTS = 8                   # trace curves from at most this many degenerate points
TRACE_STEPS = 4                        # a traced curve takes at most this many cells per seed per side
# Newton's pseudo-inverse ignores Hessian eigenvalues below this fraction of the largest: a rank-one
# Hessian (log(e^x+e^y)) computes its zero eigenvalue as +-1e-17 of the other, and inverting that
# would fling the point away along the valley.
PINV_CUTOFF = 1e-12

TYPES = ("min", "max", "saddle", "degenerate")

# newton(points (B, n), steps, free (B, n) bool, known) -> points, value (B,), gradient (B, n), Hessian (B, n, n),
# next step (B, n): Newton's iteration with each point moving only along its free coordinates (see
# newton_iteration; ``known`` is None or the value, gradient and Hessian at the points).
NewtonFunction = Callable[[np.ndarray, int, np.ndarray, tuple | None], tuple]
# evaluate(points (B, n), batch) -> value (B,), gradient (B, n), Hessian (B, n, n): the formula's derivatives,
# computed in batches of ``batch`` points (B <= batch: one traced function serves a whole search).
Evaluate = Callable[[np.ndarray, int], tuple]


class BoxError(ValueError):
    """The box or the seed count cannot be searched (worded for the user)."""


def default_seeds(n: int) -> int:
    return DEFAULT_SEEDS_PER_SIDE.get(n) or max(3, int(round(SEED_BUDGET ** (1.0 / n))))


def max_seeds(n: int) -> int:
    return MAX_SEEDS.get(n) or int(MAX_TOTAL_SEEDS ** (1.0 / n) + 1e-9)


def check_search(axes: Sequence[str], ranges: Sequence[Sequence[float]], seeds_per_side: int | None) -> int:
    """Validate the request; return the seeds per side to use."""
    if not 1 <= len(axes) <= MAX_VARIABLES or len(ranges) != len(axes):
        raise BoxError(f"critical points are searched for over one to {MAX_VARIABLES} axes, each with a range "
                       f"(got {len(axes)} axes and {len(ranges)} ranges)")
    for r in ranges:
        if len(r) != 2:
            raise BoxError(f"a range is a pair of numbers (got {list(r)})")
        lo, hi = float(r[0]), float(r[1])
        if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
            raise BoxError(f"a range must go from a smaller to a larger finite number (got {lo} to {hi})")
    n = len(axes)
    if seeds_per_side is None:
        return default_seeds(n)
    if isinstance(seeds_per_side, bool) or int(seeds_per_side) != seeds_per_side \
            or not 2 <= seeds_per_side <= max_seeds(n):
        raise BoxError(f"seeds per side must be a whole number from 2 to {max_seeds(n)} (got {seeds_per_side})")
    return int(seeds_per_side)


def seed_grid(ranges: Sequence[Sequence[float]], per_side: int) -> np.ndarray:
    """A regular grid of per_side^n seeds spanning the box, corners included: (B, n)."""
    axes = [np.linspace(float(lo), float(hi), per_side) for lo, hi in ranges]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(ranges))


def boundary_seeds(grid: np.ndarray, per_side: int) -> tuple[np.ndarray, np.ndarray]:
    """The grid's seeds on the box's boundary, and which coordinates each may move: those not at a bound.

    A seed on an edge of a rectangle moves along that edge, a corner's seed does not move (it is
    evaluated only), a seed inside a face of a 3-D box moves across that face.
    """
    n = grid.shape[1]
    index = np.indices((per_side,) * n).reshape(n, -1).T  # the grid's own order (seed_grid: "ij")
    at_bound = (index == 0) | (index == per_side - 1)
    on = at_bound.any(axis=1)
    return grid[on], ~at_bound[on]


def newton_iteration(evaluate: Callable[[np.ndarray], tuple], lo: np.ndarray, scale: np.ndarray,
                     radius: float) -> NewtonFunction:
    """Newton's method on the gradient over the box [lo, lo + scale], driven from numpy: a NewtonFunction.

    ``newton(points, steps, free)`` takes up to ``steps`` capped Newton steps from each point and
    returns the final points, and the value, gradient, Hessian and the next, uncapped, Newton step
    there. Each pass evaluates, then moves (except on its last pass), so the last evaluation is the
    report. Each step solves H d = -g in the least-squares sense through the Hessian's
    eigen-decomposition (closed form for n = 1, 2), dropping eigenvalues below PINV_CUTOFF of the
    largest (a pseudo-inverse: a singular Hessian gives a step in its range instead of infinity). The
    step, in box units (divided by ``scale``), is capped at a per-point trust radius that starts at
    ``radius`` and doubles after a step that reduced |grad f| (so a point travels down a long valley
    such as Rosenbrock's quickly), up to MAX_RADIUS; a point that lands where f or its derivatives
    are undefined goes back a quarter of its step and its radius shrinks by 4. A point stops once its
    step is below STILL or it is more than LEAVE_MARGIN outside the box. ``free`` (B, n) says which
    coordinates each point may move: a point on a face of the box moves along it, solving the
    face's own Newton equation (the fixed rows and columns of H and entries of g dropped).

    A point that did not move in a pass never moves again in the call (nothing it depends on
    changes), so only the points still moving are evaluated and updated: ``evaluate`` gets those rows.
    ``known`` (value, gradient, Hessian at ``points``, when the caller has them) saves the first pass.
    """
    lo, scale = np.asarray(lo, float), np.asarray(scale, float)

    def newton(points: np.ndarray, steps: int, free: np.ndarray | None = None, known: tuple | None = None) -> tuple:
        X = np.array(points, np.float64)
        B, n = X.shape
        v, g, H, d = np.zeros(B), np.zeros((B, n)), np.zeros((B, n, n)), np.zeros((B, n))
        # The points still iterated (``idx``: their rows, ``x``: where they are, ``back``: where they came
        # from, ``r``: their trust radius). A point that stopped is iterated on unchanged (it stays put)
        # until enough have stopped to be worth dropping; its results are written out then.
        idx, x, back, r, g_before = np.arange(B), X.copy(), X.copy(), np.full(B, float(radius)), None
        fr = None if free is None or np.all(free) else np.asarray(free, np.float64)  # None: all free
        pin = None if fr is None else fr[:, :, None] * fr[:, None, :]  # a face's own Hessian: fixed rows, columns out
        with np.errstate(all="ignore"):
            for i in range(int(steps) + 1):
                vl, gl, Hl = known if i == 0 and known is not None else evaluate(x)
                g_free = gl if fr is None else gl * fr
                norm = _row_norm(g_free / scale)
                # The radius doubles after a step that reduced |g| and is back to its start after one that
                # did not (Newton's path to a saddle need not reduce |g|: never below the start).
                r = np.minimum(r, radius) if g_before is None else \
                    np.where(norm < g_before, np.minimum(2.0 * r, MAX_RADIUS), np.minimum(r, radius))
                dl = _solve(g_free, Hl if fr is None else Hl * pin)
                if not np.isfinite(dl).all():
                    dl[~np.isfinite(dl)] = 0.0
                defined = np.isfinite(vl).all() and np.isfinite(gl).all() and np.isfinite(Hl).all()
                bad = None if defined else ~(np.isfinite(vl) & _finite_rows(gl) & _finite_rows(Hl))
                length = _row_norm(dl / scale)
                move = _inside((x - lo) / scale, LEAVE_MARGIN) & (length > STILL)
                if bad is not None:  # an undefined point moves only if it came from elsewhere: back towards there
                    move = np.where(bad, ~_all_columns(x == back), move)
                if i == steps or not move.any():
                    if len(idx) == B:  # no point was dropped: these are the results
                        return x, vl, gl, Hl, dl
                    X[idx], v[idx], g[idx], H[idx], d[idx] = x, vl, gl, Hl, dl
                    break
                cap = np.minimum(1.0, np.divide(r, length, out=np.zeros_like(r), where=length > 0))
                ahead = x + dl * cap[:, None]
                if bad is not None:  # back a quarter of the way, with a quarter of the radius
                    ahead = np.where(bad[:, None], back + 0.25 * (x - back), ahead)
                    back = np.where(bad[:, None], back, x)
                    r = np.where(move & bad, 0.25 * r, r)
                else:
                    back = x
                moving = np.count_nonzero(move)
                if moving < 0.75 * len(move):  # drop the points that stopped
                    stop = ~move
                    k = idx[stop]
                    X[k], v[k], g[k], H[k], d[k] = x[stop], vl[stop], gl[stop], Hl[stop], dl[stop]
                    idx, x, back, r, g_before = idx[move], ahead[move], back[move], r[move], norm[move]
                    fr, pin = (None, None) if fr is None else (fr[move], pin[move])
                else:  # (a stopped point's next pass repeats this one: its place, values and step)
                    x, g_before = np.where(move[:, None], ahead, x), norm
        return X, v, g, H, d

    return newton


def _solve(g: np.ndarray, H: np.ndarray) -> np.ndarray:
    """-H^+ g for each row (H symmetric up to round-off), dropping eigenvalues below PINV_CUTOFF of the largest."""
    n = g.shape[1]

    def inverse(lam, largest):
        keep = np.abs(lam) > PINV_CUTOFF * largest
        return np.where(keep, 1.0 / np.where(keep, lam, 1.0), 0.0)

    if n == 1:
        h = H[:, 0, 0]
        return -(inverse(h, np.abs(h)) * g[:, 0])[:, None]
    if n == 2:
        a, b, c = H[:, 0, 0], 0.5 * (H[:, 0, 1] + H[:, 1, 0]), H[:, 1, 1]
        g0, g1 = g[:, 0], g[:, 1]
        # Where |det| = |l1 l2| is not small next to (|a| + |b| + |c|)^2 >= l_max^2, the inverse directly;
        # the rest (near singular: the pseudo-inverse may drop an eigenvalue) through its eigenvalues.
        det = a * c - b * b
        size = np.abs(a) + np.abs(b) + np.abs(c)
        direct = np.abs(det) > 1e-6 * size * size
        out = np.stack([(b * g1 - c * g0) / det, (b * g0 - a * g1) / det], axis=1)
        if not direct.all():
            rest = np.flatnonzero(~direct)
            diagonal = b[rest] == 0  # (a seed on an edge: its fixed row and column are zero)
            if diagonal.any():
                k = rest[diagonal]
                largest = np.maximum(np.abs(a[k]), np.abs(c[k]))
                out[k] = -np.stack([inverse(a[k], largest) * g0[k], inverse(c[k], largest) * g1[k]], axis=1)
                rest = rest[~diagonal]
            a, b, c, g0, g1 = a[rest], b[rest], c[rest], g0[rest], g1[rest]
            theta = 0.5 * np.arctan2(2.0 * b, a - c)  # the one Jacobi rotation that diagonalises H
            cs, sn = np.cos(theta), np.sin(theta)
            l1 = a * cs * cs + 2.0 * b * cs * sn + c * sn * sn
            l2 = a * sn * sn - 2.0 * b * cs * sn + c * cs * cs
            largest = np.maximum(np.abs(l1), np.abs(l2))
            q1 = inverse(l1, largest) * (cs * g0 + sn * g1)
            q2 = inverse(l2, largest) * (cs * g1 - sn * g0)
            out[rest] = -np.stack([cs * q1 - sn * q2, sn * q1 + cs * q2], axis=1)
        return out
    finite = _finite_rows(H)[:, None, None]  # eigh needs finite input
    lam, V = np.linalg.eigh(np.where(finite, _sym(H), np.eye(n)))
    q = inverse(lam, np.max(np.abs(lam), axis=1, keepdims=True)) * np.einsum("bji,bj->bi", V, g)
    return -np.einsum("bij,bj->bi", V, q)


def _rows(a: np.ndarray) -> np.ndarray:
    return a.reshape(len(a), int(np.prod(a.shape[1:])))


def _finite_rows(a: np.ndarray) -> np.ndarray:
    return _all_columns(np.isfinite(_rows(a)))


# Row reductions as folds over the (few) columns: numpy reduces along a short last axis ten times slower.
def _all_columns(m: np.ndarray) -> np.ndarray:
    """Each row of the boolean (B, k) all True."""
    if not m.shape[1]:
        return np.ones(len(m), bool)
    return functools.reduce(np.logical_and, (m[:, k] for k in range(1, m.shape[1])), m[:, 0])


def _row_norm(a: np.ndarray) -> np.ndarray:
    """The Euclidean norm of each row of (B, n) (inf and nan carry through the product with ones)."""
    return np.sqrt((a * a) @ np.ones(a.shape[1]))


def _inside(u: np.ndarray, margin: float) -> np.ndarray:
    """Each point (box units) within ``margin`` of the box, strictly."""
    return _all_columns((u > -margin) & (u < 1.0 + margin))


def run_newton(newton: NewtonFunction, seeds: np.ndarray, free: np.ndarray, lo: np.ndarray, width: np.ndarray,
               cell: float, progress: Callable[[float], None] | None = None, batch: int | None = None,
               budget: np.ndarray | None = None) -> dict:
    """Iterate every seed, in chunks of CHUNK steps, until all have stopped, left the box or become undefined.

    ``newton`` takes batches of exactly ``batch`` seeds (default: all of them; a short last batch is
    padded with NaN seeds, which stay put). ``free`` (B, n) says which coordinates each seed may
    move, ``budget`` (B,) how many steps it may take (default MAX_ITERATIONS; a seed out of budget is
    held where it is). Returns arrays over all seeds: final point, value, gradient, Hessian, next Newton step, the
    value, gradient and Hessian at the seeds themselves, and for the seeds still moving inside the box
    when the budget ran out whether they were converging (``slow``: their step shrank over the last
    chunk while they stayed within a cell, as on the way into a degenerate point) or not
    (``drifting``: exp(50x) has Newton step -1/50 everywhere, forever).
    """
    B, n = seeds.shape
    batch = batch or B
    free = np.asarray(free, bool)
    budget = np.full(B, MAX_ITERATIONS) if budget is None else np.asarray(budget)
    parts = []
    for start in range(0, B, batch):
        part, part_free, part_budget = seeds[start:start + batch], free[start:start + batch], budget[start:start + batch]
        if len(part) < batch:
            part = np.vstack([part, np.full((batch - len(part), n), np.nan)])
            part_free = np.vstack([part_free, np.ones((batch - len(part_free), n), bool)])
            part_budget = np.r_[part_budget, np.zeros(batch - len(part_budget))]
        done = start / B
        share = min(batch, B - start) / B

        def report(fraction, done=done, share=share):
            if progress is not None:
                progress(done + share * fraction)

        out = _iterate(newton, part, part_free, part_budget, lo, width, cell, report)
        parts.append({k: a[:B - start] for k, a in out.items()})
    merged = parts[0] if len(parts) == 1 else {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    merged["free"] = free
    return merged


def _iterate(newton: NewtonFunction, seeds: np.ndarray, free: np.ndarray, budget: np.ndarray, lo: np.ndarray,
             width: np.ndarray, cell: float, report) -> dict:
    B = len(seeds)
    X, v, g, H, d = newton(seeds, 0, free)  # the seeds themselves: values for the scale, undefined seeds out
    with np.errstate(invalid="ignore", over="ignore"):
        curvature = _row_norm(_rows(H * width[:, None] * width[None, :]))
    out = {"X": X, "v": v, "g": g, "H": H, "d": d, "seed_X": X.copy(), "seed_values": v.copy(), "seed_gradient": g.copy(),
           "seed_hessian": H.copy(), "seed_curvature": np.where(np.isfinite(curvature), curvature, 0.0),
           "slow": np.zeros(B, bool), "drifting": np.zeros(B, bool)}
    defined = np.isfinite(v) & _finite_rows(g) & _finite_rows(H)
    step = _row_norm(d / width)
    moving = active = defined & (step > STILL)
    before, start, done_steps = step, X, 0
    while active.any() and done_steps < MAX_ITERATIONS:
        before, start = step, X
        steps = min(CHUNK, MAX_ITERATIONS - done_steps)
        # Only the seeds still going iterate; the others would stay where they are (their values there
        # are known), and one held by its budget has no step.
        if active.all():
            X, v, g, H, d = newton(X, steps, free, (v, g, H))
        else:
            rows = np.flatnonzero(active)
            held = budget <= done_steps
            X, v, g, H, d = X.copy(), v.copy(), g.copy(), H.copy(), np.where(held[:, None], 0.0, d)
            X[rows], v[rows], g[rows], H[rows], d[rows] = newton(X[rows], steps, free[rows], (v[rows], g[rows], H[rows]))
        done_steps += steps
        u = (X - lo) / width
        finite = np.isfinite(v) & _finite_rows(g) & _finite_rows(H)
        inside = _inside(u, LEAVE_MARGIN)
        step = _row_norm(d / width)
        moved = functools.reduce(np.maximum, (np.abs(X[:, k] - start[:, k]) / width[k] for k in range(len(width))))
        moving = finite & inside & (step > STILL)
        active = moving & (budget > done_steps)
        report(min(1.0, done_steps / MAX_ITERATIONS))
    if moving.any():
        # Converging slowly (linearly, into a degenerate point): the step keeps shrinking and the seed
        # hardly moves. Seeds bouncing between basins (Rastrigin) or drifting off do neither.
        settling = (step < 0.9 * before) & (moved < cell)
        out["slow"] = moving & settling
        out["drifting"] = moving & ~settling
    out.update(X=X, v=v, g=g, H=H, d=d)
    report(1.0)
    return out


def _sym(H: np.ndarray) -> np.ndarray:
    return 0.5 * (H + np.swapaxes(H, -1, -2))


def classify(eigenvalues: np.ndarray, local_scale: np.ndarray | float = 0.0) -> np.ndarray:
    """min / max / saddle / degenerate from Hessian eigenvalues in box units, (..., n) -> (...).

    An eigenvalue counts as zero when it is at most DEGENERATE_TOL times the Hessian's scale there:
    the larger of its own largest eigenvalue and ``local_scale``, the size of the Hessian at the
    seeds around the point. The second matters when every eigenvalue is small: x^3 - 3xy^2 has
    eigenvalues +-6r, which at a point polished to r = 1e-11 are 1e-10 of the Hessian one seed away,
    while exp(x^2 + y^2) at 0 has eigenvalues 2, 2, the same as its neighbourhood (however large f
    gets at the corners of the box: no global scale is used here).
    """
    lam = np.asarray(eigenvalues, float)
    zero = np.any(_null(lam, local_scale), axis=-1)
    return np.where(zero, "degenerate", np.where(np.all(lam > 0, axis=-1), "min",
                                                 np.where(np.all(lam < 0, axis=-1), "max", "saddle")))


def judged_zero(eigenvalues, zeros: int) -> list[bool]:
    """Which of a point's eigenvalues its classification counted as zero: the ``zeros`` smallest in size
    (its "zero_eigenvalues"). They were judged in box units, where the eigenvalues differ, but a change of
    units keeps how many are positive, negative and zero (Sylvester's law of inertia), and the ones judged
    zero are the smallest in either units."""
    order = np.argsort(np.abs(np.asarray(eigenvalues, float)), kind="stable")
    zero = np.zeros(len(order), bool)
    zero[order[:zeros]] = True
    return zero.tolist()


def _null(lam: np.ndarray, local_scale) -> np.ndarray:
    """Which eigenvalues count as zero (see classify)."""
    scale = np.maximum(np.max(np.abs(lam), axis=-1), np.asarray(local_scale, float))[..., None]
    return np.abs(lam) <= DEGENERATE_TOL * scale


def local_max(u: np.ndarray, per_seed: np.ndarray, per_side: int, around: np.ndarray | None = None) -> np.ndarray:
    """For points u (box units), the largest of ``per_seed`` (a number or a row per grid seed) at the
    grid seeds within one cell: (len(u),) or (len(u), k). ``around``: ``neighbourhood_max`` of it, if known."""
    n = u.shape[1]
    if around is None:
        around = neighbourhood_max(per_seed, per_side, n)
    nearest = np.clip(np.round(u * (per_side - 1)).astype(np.int64), 0, per_side - 1)
    return around[tuple(nearest.T)]


def neighbourhood_max(per_seed: np.ndarray, per_side: int, n: int) -> np.ndarray:
    """The largest of ``per_seed`` over each grid seed's 3^n neighbourhood (cut at the box's edge), on
    the grid: a maximum filter, one axis at a time."""
    grid = np.asarray(per_seed, float).reshape((per_side,) * n + np.shape(per_seed)[1:])
    below = np.clip(np.arange(per_side) - 1, 0, per_side - 1)
    above = np.clip(np.arange(per_side) + 1, 0, per_side - 1)
    for axis in range(n):
        grid = np.maximum(grid, np.maximum(grid.take(below, axis), grid.take(above, axis)))
    return grid


def cluster(u: np.ndarray, order: np.ndarray) -> list[np.ndarray]:
    """Group points (box units) closer than CLUSTER_TOL; each group lists indices best-first (``order``).

    Points are first bucketed by rounding (cheap, and exact for seeds polished to the same place),
    then bucket representatives closer than CLUSTER_TOL are merged, greedily and best first.
    """
    if len(u) == 0:
        return []
    u = u[order]
    keys = np.round(u / CLUSTER_TOL).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    reps = np.sort(first)  # one point per bucket, best first (u is in ``order``)
    near = _with_neighbour(u[reps], CLUSTER_TOL)  # only these can merge: the rest are groups of their own
    group = np.arange(len(reps))  # rep -> group
    if near.any():
        centers, groups, count = [], [], 0  # the groups started by near reps: where, which
        for k in range(len(reps)):
            if near[k]:
                point = u[reps[k]]
                close = np.flatnonzero(np.max(np.abs(np.array(centers) - point), axis=1) <= CLUSTER_TOL) \
                    if centers else ()
                if len(close):
                    group[k] = groups[close[0]]
                    continue
                centers.append(point)
                groups.append(count)
            group[k] = count
            count += 1
    else:
        count = len(reps)
    owner = np.empty(len(first), dtype=np.int64)  # bucket -> group
    owner[inverse[reps]] = group
    member_group = owner[inverse]
    by_group = np.argsort(member_group, kind="stable")  # keeps best-first order inside each group
    bounds = np.searchsorted(member_group[by_group], np.arange(count + 1))
    return [order[by_group[bounds[k]:bounds[k + 1]]] for k in range(count)]


def _with_neighbour(u: np.ndarray, tol: float) -> np.ndarray:
    """Which points (rows of u) have another within ``tol`` (max norm): a sweep along the first axis."""
    out = np.zeros(len(u), bool)
    by_first = np.argsort(u[:, 0], kind="stable")
    first = u[by_first, 0]
    ends = np.searchsorted(first, first + tol * (1 + 1e-9), side="right")  # (a hair wide: exact test below)
    for i in np.flatnonzero(ends - np.arange(len(u)) > 1):
        others = by_first[i + 1:ends[i]]
        close = np.max(np.abs(u[others] - u[by_first[i]]), axis=1) <= tol
        if close.any():
            out[by_first[i]] = True
            out[others[close]] = True
    return out


def _fmt(v: float) -> str:
    return f"{v + 0.0:.6g}"


def _where(point: dict, span: float = 0.0) -> str:
    """'(3, 2)'; with ``span`` (the box's size), round-off of it as 0, as the window shows it: the
    monkey saddle's point polished to (-7.6e-12, -6.5e-12) is (0, 0)."""
    return "(" + ", ".join(_fmt(c) for c in without_round_off(point.values(), span)) + ")"


def _at(point: dict) -> str:
    """'x = -2' for one variable, '(x, y) = (3, 2)' for more."""
    if len(point) == 1:
        (name, c), = point.items()
        return f"{name} = {_fmt(c)}"
    return f"({', '.join(point)}) = {_where(point)}"


def spread(run: dict) -> float:
    """F: how much f varies over the seeds and the points reached (finite values; 1 for a constant)."""
    values = np.concatenate([run["seed_values"], run["v"]])
    values = values[np.isfinite(values)]
    F = float(values.max() - values.min()) if values.size else 0.0
    if not F > 0:
        F = max(1.0, float(np.max(np.abs(values), initial=0.0)))
    return F if math.isfinite(F) else float(np.finfo(float).max)


def sampled_extrema(values: np.ndarray, per_side: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeds (indices) where the sampled values are a local min / max among their grid neighbours.

    Not strict (four seeds around a peak sample it equally) but not flat either: some neighbour must
    be higher (for a min) or lower (for a max). Interior seeds only (on the edge a sampled extremum
    need not be critical). For a smooth f such a seed usually has a local extremum of f nearby, so a
    search that found no critical point near it may have missed one (a narrow peak whose Newton
    basin fell between the seeds).
    """
    grid = values.reshape((per_side,) * n)
    if per_side < 3:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    core = (slice(1, -1),) * n
    centre = grid[core]
    is_min = np.isfinite(centre)
    is_max = is_min.copy()
    below, above = np.zeros_like(is_min), np.zeros_like(is_min)
    for shift in np.ndindex(*(3,) * n):
        if all(s == 1 for s in shift):
            continue
        other = grid[tuple(slice(s, per_side - 2 + s) for s in shift)]
        with np.errstate(invalid="ignore"):
            is_min &= centre <= other
            is_max &= centre >= other
            below |= centre < other
            above |= centre > other
    index = np.arange(grid.size).reshape(grid.shape)[core]
    return index[is_min & below], index[is_max & above]


def unresolved(hints: np.ndarray, per_side: int, found_u: np.ndarray) -> np.ndarray:
    """The hint seeds (grid indices) with no accepted point within 1.5 cells.

    Accepted points are marked on the seed grid's cells (cell k spans seeds k and k + 1), and a
    hint at seed k is explained by a mark in cells k - 2 .. k + 1 along every axis.
    """
    if hints.size == 0 or found_u.size == 0:
        return hints
    n = found_u.shape[1]
    cells = per_side - 1
    occupied = np.zeros((cells + 4,) * n, bool)  # two cells of padding on each side
    index = np.clip(np.floor(found_u * cells).astype(np.int64), 0, cells - 1) + 2
    occupied[tuple(index.T)] = True
    near = occupied.copy()  # near[c] = any occupied in c-1 .. c+2 (shifted by the padding below)
    for axis in range(n):
        acc = near.copy()
        for shift in (-1, 1, 2):
            acc |= np.roll(near, -shift, axis=axis)
        near = acc
    k = np.stack(np.unravel_index(hints, (per_side,) * n), axis=1)  # seed indices of the hints
    # cells k-2 .. k+1 around seed k: start at cell k - 2 (index + 2 padding = k), window c-1 .. c+2
    return hints[~near[tuple((k - 1 + 2).T)]]


def unresolved_pairs(X: np.ndarray, v: np.ndarray, g: np.ndarray, H: np.ndarray,
                     F: float) -> tuple[np.ndarray, np.ndarray]:
    """Where f changes between neighbouring seeds more than its derivatives at them allow.

    The arrays are grids of seeds, (P, s, ..., s, ...): P patches of s^n seeds (one patch for the main
    grid). For neighbours a, b along axis k at distance h, the corrected trapezoid rule
        f(b) - f(a) = h/2 (f_k(a) + f_k(b)) + h^2/12 (f_kk(a) - f_kk(b))
    is exact for a quintic along the segment, and for a smooth f sampled finely enough its error is
    a small part of its terms (Rastrigin at 48 seeds per side: 0.5%). A narrow well or peak between
    the seeds, a kink or a pole breaks it by much more. Errors below 1e-10 of f's spread F over the box
    do not count (x^40 near 0 changes by 2^40 between seeds 0.001 and 0.002 apart, all of it 1e-110).
    Returns the midpoints of the pairs off by more than RESOLVE_TOL of the terms' size (round-off
    aside), and how far off each is (that fraction).
    """
    n = X.shape[-1]
    mids, errors = [], []
    for k in range(n):
        axis = 1 + k
        size = X.shape[axis]
        a, b = (np.arange(size - 1), np.arange(1, size))
        Xa, Xb = np.take(X, a, axis=axis), np.take(X, b, axis=axis)
        va, vb = np.take(v, a, axis=axis), np.take(v, b, axis=axis)
        ga, gb = np.take(g[..., k], a, axis=axis), np.take(g[..., k], b, axis=axis)
        Ha, Hb = np.take(H[..., k, k], a, axis=axis), np.take(H[..., k, k], b, axis=axis)
        h = Xb[..., k] - Xa[..., k]
        with np.errstate(invalid="ignore", over="ignore"):
            change = vb - va
            slope = 0.5 * (ga + gb) * h
            bend = h * h / 12.0 * (Ha - Hb)
            error = np.abs(change - slope - bend)
            size_of = np.maximum.reduce([np.abs(change), np.abs(ga * h), np.abs(gb * h), np.abs(bend)])
            ok = np.isfinite(error) & np.isfinite(size_of) & (h > 0)
            off = ok & (error > RESOLVE_TOL * size_of + 1e-13 * (np.abs(va) + np.abs(vb))) & (error > 1e-10 * F)
            fraction = np.where(off, error / np.where(size_of > 0, size_of, 1.0), 0.0)
        mids.append((0.5 * (Xa + Xb))[off])
        errors.append(fraction[off])
    return np.concatenate(mids).reshape(-1, n), np.concatenate(errors)


def refinement_seeds(centres: np.ndarray, half: float, per_side: int) -> np.ndarray:
    """A per_side^n grid of seeds over +-half (box units) around each centre (box units), clipped to
    the box: (P, per_side, ..., per_side, n), in box units."""
    n = centres.shape[1]
    offsets = np.linspace(-half, half, per_side)
    local = np.stack(np.meshgrid(*(offsets,) * n, indexing="ij"), axis=-1)
    return np.clip(centres.reshape((-1,) + (1,) * n + (n,)) + local[None], 0.0, 1.0)


def _merge(a: dict, b: dict) -> dict:
    return {k: np.concatenate([a[k], b[k]]) for k in a}


def _places(u: np.ndarray, spacing: float, priority: np.ndarray) -> np.ndarray:
    """Places (box units) at least about ``spacing`` apart, highest priority first."""
    if not len(u):
        return u
    order = np.argsort(-priority, kind="stable")
    _, first = np.unique(np.round(u[order] / spacing).astype(np.int64), axis=0, return_index=True)
    return u[order[np.sort(first)]]


@dataclass
class _Box:
    axes: list
    lo: np.ndarray
    width: np.ndarray
    per_side: int

    @property
    def cell(self) -> float:
        """The seed spacing in box units."""
        return 1.0 / (self.per_side - 1)

    def u(self, X: np.ndarray) -> np.ndarray:
        return (X - self.lo) / self.width

    def X(self, u: np.ndarray) -> np.ndarray:
        return self.lo + u * self.width

    def named(self, x) -> dict:
        return {a: float(c) for a, c in zip(self.axes, x)}

    def where(self, u: np.ndarray) -> str:
        """interior, edge (on the boundary: an end of an interval, a side of a rectangle) or corner."""
        bound = int(np.sum((np.abs(u) <= EDGE_TOL) | (np.abs(u - 1) <= EDGE_TOL)))
        return "interior" if bound == 0 else "corner" if bound == len(u) > 1 else "edge"

    def spacing(self, fraction: float) -> str:
        return ", ".join(f"{_fmt(fraction * w)} in {a}" for a, w in zip(self.axes, self.width))


class _Search:
    """One search: the Newton iteration, the box, one batch size, and the grid's own seeds (the
    local scales that judge and classify what the iteration finds)."""

    def __init__(self, newton: NewtonFunction, box: _Box, batch: int, progress):
        self.newton, self.box, self.batch, self.progress = newton, box, batch, progress
        self._around = {}  # id of a per-seed array -> (it, its neighbourhood_max)

    def report(self, fraction: float) -> None:
        if self.progress is not None:
            self.progress(fraction)

    def run(self, seeds: np.ndarray, free: np.ndarray | None = None, origin=0, progress=None) -> dict:
        """Newton from ``seeds``; ``origin`` (per seed or one for all): 0 the grid, 1 a face's search (see
        boundary_seeds), 2 a finer grid. A face's seeds have a smaller budget: they look for the
        box's extremes there, and one bouncing where the face's f has no critical point (Himmelblau
        along y = 5 for 0.9 < x < 1.8) would hold up the whole batch."""
        free = np.ones(seeds.shape, bool) if free is None else free
        origin = np.broadcast_to(np.asarray(origin, np.int8), (len(seeds),)).copy()
        budget = np.where(origin == 1, FACE_ITERATIONS, MAX_ITERATIONS)
        run = run_newton(self.newton, seeds, free, self.box.lo, self.box.width, self.box.cell, progress, self.batch,
                         budget)
        run["origin"] = origin
        return run

    def scales(self, grid_run: dict) -> None:
        """What the grid's seeds say about the neighbourhood of any point (see local_max)."""
        B, box = self.box.per_side ** len(self.box.axes), self.box
        values = grid_run["seed_values"][:B]
        with np.errstate(invalid="ignore", over="ignore"):
            slope = np.abs(grid_run["seed_gradient"][:B] * box.width)
        self.slope = np.where(np.isfinite(slope), slope, 0.0)
        self.curvature = grid_run["seed_curvature"][:B]
        self.high = np.where(np.isfinite(values), values, -np.inf)
        self.low = np.where(np.isfinite(values), -values, -np.inf)
        self.undefined = ~(np.isfinite(values) & _finite_rows(grid_run["seed_gradient"][:B])
                           & _finite_rows(grid_run["seed_hessian"][:B]))
        self.F = spread(grid_run)

    def local(self, u: np.ndarray, per_seed: np.ndarray) -> np.ndarray:
        # The same few per-seed arrays are asked about again and again: their filtered grids are kept.
        key = id(per_seed)
        if key not in self._around or self._around[key][0] is not per_seed:
            self._around[key] = per_seed, neighbourhood_max(per_seed, self.box.per_side, len(self.box.axes))
        return local_max(u, per_seed, self.box.per_side, self._around[key][1])

    def tie(self, value: float, u: np.ndarray) -> float:
        """Round-off in values of f near u: TIE of |f| plus f's variation over a cell there."""
        variation = float(self.local(u[None], self.high)[0] + self.local(u[None], self.low)[0])
        return TIE * (abs(value) + (variation if math.isfinite(variation) else 0.0))

    def judge(self, run: dict) -> dict:
        """Per seed: position in box units, scaled gradient, whether it is inside the box and accepted.

        A computed gradient at a true critical point is not exactly zero but round-off: about 1e-16
        times the size of the terms that cancel in it. Two tests, both in box units, must pass. Against
        f's spread F over the box, |(g_i w_i)| / F <= GRAD_TOL = 1e-8, as a polished point does with
        eight orders of magnitude to spare. And against the gradient at the seeds around the point
        (within a cell), component by component, |g_i| <= LOCAL_GRAD_TOL times theirs: e^(50x) + y^2
        has df/dx = 50 e^(-50) at x = -1, nothing next to F = e^50, but no smaller than df/dx a cell
        away, so it is a slope, not round-off. A far-out flat tail passes neither (x e^(-x^2-y^2) at the
        corners of [-5, 5]^2). And the Newton step from the point must be negligible too (STEP_TOL):
        in a tail the step heads on down the tail and stays large (1/(2r) for e^(-r^2)), at a critical
        point, even a degenerate one, it shrinks to nothing. Seeds on a face of the box (see
        boundary_seeds) are judged by their free coordinates only.
        """
        box = self.box
        X, v, g, H, d = run["X"], run["v"], run["g"], run["H"], run["d"]
        u = box.u(X)
        with np.errstate(invalid="ignore", over="ignore"):
            gw = np.abs(g * run["free"] * box.width)
            gs = _row_norm(gw) / self.F
            steps = _row_norm(d / box.width)
        finite = np.isfinite(v) & _finite_rows(g) & _finite_rows(H) & _finite_rows(X)
        inside = finite & _all_columns((u >= -EDGE_TOL) & (u <= 1 + EDGE_TOL))
        accepted = inside & (gs <= GRAD_TOL) & (steps <= STEP_TOL)
        # The local test for these only, once per place (thousands of seeds polish to the same few points).
        candidates = np.flatnonzero(accepted)
        _, first, inverse = np.unique(np.round(u[candidates] / CLUSTER_TOL), axis=0, return_index=True,
                                      return_inverse=True)
        around = self.local(np.clip(u[candidates[first]], 0.0, 1.0), self.slope)[inverse.reshape(-1)]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(gw[candidates] == 0, 0.0, gw[candidates] / around)
        accepted[candidates] = np.max(ratio, axis=1, initial=0.0) <= LOCAL_GRAD_TOL
        return {"u": u, "gs": gs, "inside": inside, "accepted": accepted}

    def null_directions(self, H: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvalues of the box-scaled Hessian, and the unit directions (box units) of its zero ones."""
        D = np.diag(self.box.width)
        lam, V = np.linalg.eigh(_sym(D @ H @ D))
        null = _null(lam, self.local(u[None], self.curvature)[0])
        return lam, V[:, null].T

    # ------------------------------------------------------------------ finer grids
    def refine(self, run: dict) -> tuple[dict, dict]:
        """Finer grids where the seed grid may have missed something; returns the run with their seeds
        and what is left unresolved at the finest level.

        Around (1) sampled extrema no accepted point explains (a peak narrower than the seed spacing:
        exp(-100 (x^2 + y^2)) on [-5, 5]^2) and (2) neighbouring seeds between which f is off its
        local model (``unresolved_pairs``: a well of width 0.007 between seeds 0.085 apart), a
        REFINE^n grid over +-1 cell, then around what is still off inside those, a grid four times
        finer again. What is off at the finest level is reported as unresolved.
        """
        box, n = self.box, len(self.box.axes)
        B, s = box.per_side ** n, box.per_side
        mins, maxs = sampled_extrema(run["seed_values"][:B], s, n)
        hints = unresolved(np.concatenate([mins, maxs]), s, run["u"][run["accepted"] & (run["origin"] != 1)])
        # Not every such hint is a missed point: a valley narrower than the cells (Rosenbrock's) also
        # samples as a chain of local minima. What the finer grid does not resolve there is not reported.
        shape = (1,) + (s,) * n
        mids, off = unresolved_pairs(box.u(run["seed_X"][:B]).reshape(shape + (n,)), run["seed_values"][:B].reshape(shape),
                                     (run["seed_gradient"][:B] * box.width).reshape(shape + (n,)),
                                     (run["seed_hessian"][:B] * box.width[:, None] * box.width).reshape(shape + (n, n)),
                                     self.F)
        u = np.vstack([box.u(run["seed_X"][hints]), mids])
        places = _places(u, box.cell, np.concatenate([np.full(len(hints), np.inf), off]))
        per_side = REFINE.get(n, 3)
        half, skipped, levels = box.cell, [], []
        for level in range(REFINE_LEVELS):
            if not len(places):
                break
            skipped.append(places[MAX_REFINED:])
            places = places[:MAX_REFINED]
            patches = refinement_seeds(places, half, per_side)
            part = self.run(box.X(patches.reshape(-1, n)), origin=2)
            part.update(self.judge(part))
            run = _merge(run, part)
            levels.append(len(places))
            half = 2.0 * half / (per_side - 1)  # the finer grid's spacing: the next level's half-width
            shape = (len(places),) + (per_side,) * n
            mids, off = unresolved_pairs(patches, part["seed_values"].reshape(shape),
                                         (part["seed_gradient"] * box.width).reshape(shape + (n,)),
                                         (part["seed_hessian"] * box.width[:, None] * box.width).reshape(shape + (n, n)),
                                         self.F)
            places = _places(mids, half, off) if len(mids) else mids
        finest = half if levels else box.cell
        left = np.vstack(skipped + [places]) if levels else np.zeros((0, n))
        return run, {"levels": levels, "finest": finest, "left": left}

    # ------------------------------------------------------------------ curves of critical points
    def polish(self, points: np.ndarray, free: np.ndarray) -> dict:
        """Newton from ``points`` along their ``free`` coordinates, judged as critical points of f."""
        run = self.run(points, free)
        run["free"] = np.ones_like(free)
        run.update(self.judge(run))
        return run

    def trace(self, X0: np.ndarray, v0: float, H0: np.ndarray) -> list[dict]:
        """Curves of critical points through the degenerate point X0: along each direction where its
        Hessian is zero, step a cell, hold the coordinate the step moved most and let Newton on the
        others pull the probe back onto the set (the curve is locally a graph over that coordinate),
        while it keeps finding new critical points of f.

        Returns one curve per direction that led on: {"u": points (box units, in order), "values",
        "kinds" (per point, from its nonzero eigenvalues), "closed"}; none if X0 is isolated.
        """
        box, cell = self.box, self.box.cell
        u0 = box.u(X0)
        _, directions = self.null_directions(H0, u0)
        fronts = [{"curve": k, "sign": sign, "u": u0, "dir": sign * d, "path": []}
                  for k, d in enumerate(directions) for sign in (1, -1)]
        live = list(fronts)
        closed = set()
        for _ in range(TRACE_STEPS * box.per_side):
            for f in live:  # the next probe, onto the box's edge at the last
                f["probe"] = np.clip(f["u"] + cell * f["dir"], 0.0, 1.0)
            probes = [f for f in live if np.max(np.abs(f["probe"] - f["u"])) >= 0.5 * cell]
            if not probes:
                break
            held = np.array([np.argmax(np.abs(f["dir"])) for f in probes])
            out = self.polish(box.X(np.array([f["probe"] for f in probes])), np.arange(len(box.axes)) != held[:, None])
            live = []
            for f, q, ok, v, H in zip(probes, out["u"], out["accepted"], out["v"], out["H"]):
                if not ok or not 0.5 * cell <= np.max(np.abs(q - f["u"])) <= 2 * cell:
                    continue  # not critical there, or back to where it came from, or off to another set
                others = [p[0] for g in fronts if g["curve"] == f["curve"] and g is not f for p in g["path"]] \
                    + [p[0] for p in f["path"][:-2]] + ([u0] if len(f["path"]) >= 2 else [])
                if others and np.min(np.max(np.abs(np.array(others) - q), axis=1)) <= 0.5 * cell:
                    closed.add(f["curve"])  # round a loop, back to its own start
                    continue
                lam, following = self.null_directions(H, q)
                if np.max(np.abs(lam)) <= DEGENERATE_TOL * self.F:
                    continue  # numerically flat: no curve to follow (exp(-100 r^2) where it underflows)
                f["path"].append((q, float(v), lam))
                if not len(following):
                    continue
                turn = following @ f["dir"]
                best = int(np.argmax(np.abs(turn)))
                if abs(turn[best]) >= 0.5:
                    f["u"], f["dir"] = q, np.sign(turn[best]) * following[best]
                    live.append(f)
        curves = []
        lam0, _ = self.null_directions(H0, u0)
        for k in range(len(directions)):
            back, ahead = (next(f["path"] for f in fronts if f["curve"] == k and f["sign"] == s) for s in (-1, 1))
            path = back[::-1] + [(u0, v0, lam0)] + ahead
            if len(back) + len(ahead) < 2:
                continue  # isolated along this direction
            curves.append({"u": np.array([p[0] for p in path]), "values": [p[1] for p in path],
                           "kinds": [_kind_beside(p[2], self.local(p[0][None], self.curvature)[0]) for p in path],
                           "closed": k in closed})
        return curves

    def curves(self, points: list[dict], best: np.ndarray, run: dict) -> tuple[list[dict], set]:
        """Trace curves from the degenerate points (at most MAX_CURVE_STARTS, each one not already on a
        curve or next to a point found isolated); returns the curves and the indices (into ``points``)
        of the points they cover."""
        box, cell = self.box, self.box.cell
        curves, isolated, covered = [], [], set()
        degenerate = [k for k, p in enumerate(points) if p["type"] == "degenerate"]
        u = box.u(run["X"][best])
        for k in degenerate:
            near = [c["u"] for c in curves] + [np.array(isolated).reshape(-1, len(box.axes))]
            if any(len(a) and np.min(np.max(np.abs(a - u[k]), axis=1)) <= cell for a in near):
                continue
            if len(curves) + len(isolated) >= MAX_CURVE_STARTS:
                break
            found = self.trace(run["X"][best[k]], float(run["v"][best[k]]), run["H"][best[k]])
            curves.extend(found)
            if not found:
                isolated.append(u[k])
        for k in degenerate:
            if any(np.min(np.max(np.abs(c["u"] - u[k]), axis=1)) <= 0.75 * cell for c in curves):
                covered.add(k)
        return curves, covered


def _kind_beside(lam: np.ndarray, local_scale: float) -> str | None:
    """min / max / saddle from the eigenvalues that are not zero (None if all are)."""
    rest = lam[~_null(lam, local_scale)]
    if not rest.size:
        return None
    return "min" if np.all(rest > 0) else "max" if np.all(rest < 0) else "saddle"


def _describe(box: _Box, u: np.ndarray, closed: bool) -> str:
    """'x = 0', 'the line through (..) and (..)', or 'a (closed) curve from (..) to (..)'."""
    X = box.X(u)
    constant = [k for k in range(u.shape[1]) if np.ptp(u[:, k]) <= 1e-7]
    if len(constant) == u.shape[1] - 1:
        return ", ".join(f"{box.axes[k]} = {_fmt(float(np.median(X[:, k])))}" for k in constant)
    centred = u - u.mean(axis=0)
    straight = np.linalg.svd(centred, compute_uv=False)[1:].max(initial=0.0) <= 1e-6 * np.sqrt(len(u))
    ends = [_where(box.named(X[i])) for i in (0, -1)]
    if straight:
        return f"the line through {ends[0]} and {ends[1]}"
    if closed:
        return f"a closed curve through {ends[0]}"
    return f"a curve from {ends[0]} to {ends[1]}"


def _curve_result(box: _Box, curve: dict) -> dict:
    kinds = {k for k in curve["kinds"] if k is not None}
    kind = "degenerate/" + kinds.pop() if len(kinds) == 1 else "degenerate"
    X = box.X(curve["u"])
    values = [float(v) for v in curve["values"]]
    return {"type": kind, "description": _describe(box, curve["u"], curve["closed"]),
            "closed": bool(curve["closed"]),
            "points": [{"point": box.named(x), "value": v} for x, v in zip(X, values)],
            "global_min": False, "global_max": False}


def _extreme(box: _Box, u: np.ndarray, values: np.ndarray, k: int | None) -> dict | None:
    if k is None:
        return None
    return {"value": float(values[k]), "point": box.named(box.X(u[k])), "where": box.where(u[k])}


def find_critical_points(evaluate: Evaluate, axes: Sequence[str], ranges: Sequence[Sequence[float]],
                         seeds_per_side: int | None = None,
                         progress: Callable[[float], None] | None = None) -> dict:
    """The whole search, with f's derivatives from ``evaluate`` (see Evaluate). Adds "seconds".

    1. Newton from a per_side^n grid of seeds over the box, and from the grid's seeds on the box's
       boundary along their faces (see boundary_seeds).
    2. Finer grids where the first may have missed something (_Search.refine).
    3. Accept, de-duplicate, classify, trace curves, find the box's extremes, report (``summarize``).
    """
    t0 = time.perf_counter()
    per_side = check_search(axes, ranges, seeds_per_side)
    box = _Box(list(axes), np.array([float(r[0]) for r in ranges]),
               np.array([float(r[1]) - float(r[0]) for r in ranges]), per_side)
    grid = seed_grid(ranges, per_side)
    edge, edge_free = boundary_seeds(grid, per_side)
    batch = len(grid) + len(edge)  # one batch size per search: grid and faces together
    newton = newton_iteration(lambda X: evaluate(X, batch), box.lo, box.width, trust_radius(per_side))
    search = _Search(newton, box, batch, progress)
    run = search.run(np.vstack([grid, edge]), np.vstack([np.ones(grid.shape, bool), edge_free]),
                     np.r_[np.zeros(len(grid)), np.ones(len(edge))], progress=lambda f: search.report(0.8 * f))
    search.scales(run)
    run.update(search.judge(run))
    run, refined = search.refine(run)
    search.report(0.9)
    result = summarize(search, run, refined)
    search.report(1.0)
    result["seconds"] = time.perf_counter() - t0
    return result


def summarize(search: _Search, run: dict, refined: dict) -> dict:
    """Accept (as judged: the run holds _Search.judge's arrays), de-duplicate, classify, trace curves,
    find the box's extremes and report."""
    box = search.box
    n, B = len(box.axes), box.per_side ** len(box.axes)
    X, v, g, H = run["X"], run["v"], run["g"], run["H"]
    F = search.F
    u, gs = run["u"], run["gs"]
    interior = run["origin"] != 1  # a seed on a face finds the face's critical points, not f's
    accepted = run["accepted"] & interior
    wandering = run["slow"] & run["inside"] & ~accepted & interior

    # Numerically flat: no curvature next to the function's overall variation (scaled Hessian
    # eigenvalues below DEGENERATE_TOL), and no seed came there from elsewhere: the seeds just
    # stopped where they started. One such place is a point (a seed right on x^4 + y^4's origin); several are a
    # region where f is constant to round-off (a constant, or exp(-100 (x^2 + y^2)) where it
    # underflows), and are not listed. (A genuine point is reached from all around it: the minima of
    # sin(5x) on top of exp(x^2 + y^2), whose curvature is 1e-19 of F, are kept.)
    D = np.diag(box.width)
    idx = np.flatnonzero(accepted)
    groups = [idx[grp] for grp in cluster(u[idx], np.argsort(gs[idx], kind="stable"))]
    stayed = _all_columns(X == run["seed_X"])
    lone = np.array([grp[0] for grp in groups if len(grp) == 1 or stayed[grp].all()], dtype=np.int64)
    scaled = np.linalg.eigvalsh(_sym(D @ H[lone] @ D) / F) if lone.size else np.zeros((0, n))
    flat = set(lone[np.all(np.abs(scaled) <= DEGENERATE_TOL, axis=1)].tolist())
    flat_region = len(flat) >= FLAT_PLACES
    if flat_region:
        groups = [grp for grp in groups if int(grp[0]) not in flat]

    best = np.array([grp[0] for grp in groups], dtype=np.int64)  # the best polished seed of each point
    h = _sym(H[best])
    local = search.local(u[best], search.curvature) if best.size else np.zeros(0)
    scaled = np.linalg.eigvalsh(_sym(D @ h @ D)) if best.size else np.zeros((0, n))
    kinds = classify(scaled, local) if best.size else []
    zeros = np.sum(_null(scaled, local), axis=-1) if best.size else []
    eigenvalues = np.linalg.eigvalsh(h) if best.size else np.zeros((0, n))
    grad_norms = np.linalg.norm(g[best], axis=1)
    points = [{
        "point": box.named(X[k]),
        "value": float(v[k]),
        "type": str(kind),
        "eigenvalues": [float(e) for e in lam],
        "zero_eigenvalues": int(z),
        "grad_norm": float(gn),
        "global_min": False,
        "global_max": False,
    } for k, kind, lam, z, gn in zip(best, kinds, eigenvalues, zeros, grad_norms)]

    # Curves of critical points: reported as sets; the points on them leave the list.
    traced, covered = search.curves(points, best, run) if n > 1 else ([], set())
    curves = [_curve_result(box, c) for c in traced]
    keep = [k for k in range(len(points)) if k not in covered]
    points, best = [points[k] for k in keep], best[keep]
    order = sorted(range(len(points)), key=lambda k: (points[k]["value"], tuple(points[k]["point"].values())))
    points, best = [points[k] for k in order], best[order]

    # The box's extremes: the lowest and highest values met anywhere in the closed box (critical points,
    # curves, seeds, where seeds ended), which include every critical point of f and of each face of
    # the box. Critical points and curves come first: an extreme they tie to round-off is named by
    # them (their value polished, not a seed's beside it).
    cu = np.vstack([c["u"] for c in traced]) if traced else np.zeros((0, n))
    cv = np.concatenate([np.array(c["values"], float) for c in traced]) if traced else np.zeros(0)
    P = np.vstack([u[best], cu, box.u(run["seed_X"]), u])
    V = np.concatenate([v[best], cv, run["seed_values"], v])
    named = len(best) + len(cu)
    with np.errstate(invalid="ignore"):
        met = ~np.isnan(V) & _finite_rows(P) & _all_columns((P >= -EDGE_TOL) & (P <= 1 + EDGE_TOL))
    candidates = np.flatnonzero(met)
    tie = {}  # extreme -> how close counts as equal to it (round-off)

    def extreme(sign: float) -> int | None:
        if not candidates.size:
            return None
        k = int(candidates[np.argmin(sign * V[candidates])])
        if not math.isfinite(V[k]):
            return k
        tolerance = search.tie(float(V[k]), P[k])
        k = next((i for i in candidates[candidates < named] if abs(V[i] - V[k]) <= tolerance), k)
        tie[k] = tolerance
        return k

    low, high = extreme(1.0), extreme(-1.0)
    box_min, box_max = _extreme(box, P, V, low), _extreme(box, P, V, high)

    # Global flags: a minimum (maximum) is global only when it ties the box's min (max) to round-off
    # (Himmelblau's four minima are all 0: all four are global minima). So is a degenerate point: the
    # second-derivative test cannot tell what x^4 + y^4's origin is, but its value shows it is the lowest.
    def ties(value: float, k: int | None) -> bool:
        return k in tie and abs(value - V[k]) <= tie[k]

    for p in points:
        p["global_min"] = bool(p["type"] in ("min", "degenerate") and ties(p["value"], low))
        p["global_max"] = bool(p["type"] in ("max", "degenerate") and ties(p["value"], high))
    for c in curves:
        values = [q["value"] for q in c["points"]]
        c["global_min"] = bool(c["type"] == "degenerate/min" and ties(min(values), low))
        c["global_max"] = bool(c["type"] == "degenerate/max" and ties(max(values), high))

    # Honesty: why the list may be incomplete, and what else the reader should know.
    reasons, remarks = [], []
    if flat_region:
        seed_values = run["seed_values"][:B][np.isfinite(run["seed_values"][:B])]
        constant = seed_values.size > 0 and seed_values.min() == seed_values.max()
        reasons.append("f is numerically constant over the box, so every point is critical"
                       if constant else
                       f"f is numerically flat over part of the box (no slope or curvature at {len(flat)} "
                       f"seeds, e.g. where it underflows to 0), so every point there looks critical; "
                       f"those are not listed")
    if wandering.any():
        reasons.append(f"{int(wandering.sum())} seeds were still converging slowly inside the box after "
                       f"{MAX_ITERATIONS} Newton steps (neither converged nor left it)")
    if curves:
        listed = "; ".join(f"{c['type']} along {c['description']}" for c in curves[:3])
        more = f"; and {len(curves) - 3} more" if len(curves) > 3 else ""
        reasons.append(f"the critical points are not isolated: they form {len(curves)} "
                       f"curve{'s' if len(curves) != 1 else ''} ({listed}{more}), listed as sets sampled a seed "
                       f"spacing apart")
    degenerate = [p for p in points if p["type"] == "degenerate"]
    if len(degenerate) > CURVE:
        reasons.append(f"{len(degenerate)} of the points are degenerate: the critical points are probably "
                       f"not isolated (a curve or region of them), so the list only samples them")
    seeds = int(np.count_nonzero(interior))
    if len(points) * DENSE > B:
        reasons.append(f"that is many points for {B} seeds (fewer than {DENSE} seeds per point): "
                       f"the seed grid may be too coarse, try more seeds")
    left = len(refined["left"])
    if left:
        where = _where(box.named(box.X(refined["left"][0])))
        reasons.append(f"f changes faster than the finest seeds (spacing {box.spacing(refined['finest'])}) "
                       f"can follow at {left} place{'s' if left != 1 else ''}, e.g. near {where} (a narrow "
                       f"well or peak, a kink or a pole): critical points there can be missed")
    explained = np.vstack([u[best], cu])
    for kind, k, word in (("min", low, "lower"), ("max", high, "larger")):
        if k is None or k < named or box.where(P[k]) != "interior":
            continue
        if len(explained) and np.min(np.max(np.abs(explained - P[k]), axis=1)) <= box.cell:
            continue
        extreme = (box_min, box_max)[kind == "max"]
        if search.local(P[k][None], search.undefined)[0] > 0:
            remarks.append(f"f is {word} next to where it is undefined ({extreme['value']:.6g} at "
                           f"{_at(extreme['point'])}) than at any critical point: it has no {kind}imum there.")
        else:
            reasons.append(f"f is {word} at {_at(extreme['point'])} (f = {extreme['value']:.6g}) than at any "
                           f"critical point found, away from the box's edge: a {kind}imum there was missed, "
                           f"or f is not differentiable there")
    if degenerate and len(degenerate) <= CURVE:
        where = ", ".join(_where(p["point"], box.width.max()) for p in degenerate)
        remarks.append(f"At {where} the Hessian has a zero eigenvalue: the second-derivative test is "
                       f"inconclusive there (degenerate critical point).")
    undefined = int(np.count_nonzero(search.undefined))
    if undefined:
        remarks.append(f"f or its derivatives are undefined at {undefined} of {B} seeds; "
                       f"those parts of the box were skipped.")
    for kind, extreme, word in (("min", box_min, "lower"), ("max", box_max, "larger")):
        local_ones = [p for p in points if p["type"] == kind]
        if local_ones and extreme and not any(p[f"global_{kind}"] for p in points) \
                and extreme["where"] != "interior":
            place = {"edge": "on the edge", "corner": "at a corner"}[extreme["where"]]
            remarks.append(f"f is {word} {place}: {extreme['value']:.6g} at {_at(extreme['point'])}, so no "
                           f"{kind}imum found is the global one.")
    finer = ""
    if refined["levels"]:
        places = refined["levels"][0]
        finer = (f"; {places} place{'s' if places != 1 else ''} where the seeds may have missed something "
                 f"({'were' if places != 1 else 'was'} searched down to {box.spacing(refined['finest'])})")
    remarks.append(f"Features narrower than the seed spacing ({box.spacing(box.cell)}) can be missed{finer}.")
    found = f"{len(points)} critical point{'s' if len(points) != 1 else ''} found"
    note = [f"{found}; the search may be incomplete because " + "; ".join(reasons) + "."] if reasons else []
    return {
        "axes": list(box.axes),
        "ranges": [[float(lo), float(lo + w)] for lo, w in zip(box.lo, box.width)],
        "critical_points": points,
        "curves": curves,
        "box_min": box_min,
        "box_max": box_max,
        "complete": not reasons,
        "note": " ".join(note + remarks),
        "resolution": {a: float(w * box.cell) for a, w in zip(box.axes, box.width)},
        "seeds": seeds,
    }


def trust_radius(per_side: int) -> float:
    """The step cap in box units for a grid of per_side seeds per side."""
    return TRUST_RADIUS / max(per_side - 1, 1)
