"""Critical points of a function of one or two variables inside a box: search, de-duplicate, classify.

The search starts Newton's method on the gradient from a grid of seeds over the box (the batched
TensorFlow iteration is :meth:`calcviz.models.autodiff.Compiled.newton`; this module never imports
TensorFlow, it is handed that iteration as a callable). Seeds stop when their Newton step is
negligible, when they leave the box or reach a place where f is undefined; the rest iterate on, in
chunks, up to a budget. Where the sampled values show an extremum that no seed converged to (a
peak narrower than the seed spacing), a finer grid of seeds is tried around it. What remains is
judged here in plain numpy:

* accepted: finite, inside the box, gradient negligible and Newton step negligible (see ``judge``);
* de-duplicated: points closer than ``CLUSTER_TOL`` of the box are one point, represented by the
  seed that polished it best (smallest gradient);
* classified by the eigenvalues of the Hessian (numpy ``eigh``): min, max, saddle, or degenerate
  when an eigenvalue is zero relative to the Hessian's scale there and around (the second-derivative
  test is inconclusive there);
* reported with an honest ``complete`` flag and a note saying why the list may be incomplete.

Everything is measured in box units: coordinate i is divided by the box width w_i, and f by its
spread F over the seeds (max f - min f). Then a gradient component scales as g_i w_i / F and a
Hessian entry as H_ij w_i w_j / F, so one set of tolerances serves x^2 on [-1, 1] and
1e6 (x^2 + y^2) on [-1000, 1000] alike. (Classification compares a Hessian with the Hessians of
the seeds around it instead: F is dominated by the largest values in the box, which for
exp(x^2 + y^2) are 1e21 at the corners and say nothing about the curvature at the origin.)
"""
from __future__ import annotations

import math
import time
from typing import Callable, Sequence

import numpy as np

# Seeds per side of the box when not given. The seeds span the box, so they scale with it. Rastrigin
# on [-5.12, 5.12]^2 has critical points 0.5 apart, each with a Newton basin roughly 0.25 wide along
# each axis; 32 seeds per side (spacing 0.33) is the least that finds all 441 of them here, 48
# (spacing 0.22, 2304 seeds) leaves a margin and keeps a warm Himmelblau search near 20 ms.
DEFAULT_SEEDS_PER_SIDE = {1: 1001, 2: 48}
MAX_SEEDS = {1: 1_000_000, 2: 1000}    # per side
TRUST_RADIUS = 2.0                     # first step cap, in seed spacings (a box unit is 1 / (seeds - 1))
MAX_RADIUS = 0.25                      # the cap grows while |grad f| falls, up to this (box units)
CHUNK = 10                             # Newton steps per call (progress is reported between calls)
MAX_ITERATIONS = 200                   # Newton steps at most: x^6 converges linearly at 5/6 per step
STILL = 1e-12                          # a seed whose next step is below this (box units) has stopped
LEAVE_MARGIN = 0.25                    # a seed this far outside the box (box units) has left it
GRAD_TOL = 1e-8                        # accept: |g_i w_i| / F below this ...
STEP_TOL = 1e-6                        # ... and the next Newton step below this (box units)
EDGE_TOL = 1e-9                        # a point this close outside the box (box units) is on its edge
CLUSTER_TOL = 1e-5                     # points this close (box units, max norm) are the same point
DEGENERATE_TOL = 1e-6                  # |eigenvalue| below this times the Hessian's scale is zero
REFINE = 9                             # seeds per side of the finer grid around a missed sampled extremum
MAX_REFINED = 64                       # refine around at most this many of them
FLAT_PLACES = 3                        # flat at this many distinct places: a flat region, not a point
DENSE = 4                              # fewer seeds than this per point found: the grid may be too coarse
CURVE = 6                              # more degenerate points than this: probably a curve of them

TYPES = ("min", "max", "saddle", "degenerate")

# newton(points (B, n), steps) -> points, value (B,), gradient (B, n), Hessian (B, n, n), next step (B, n)
NewtonFunction = Callable[[np.ndarray, int], tuple]


class BoxError(ValueError):
    """The box or the seed count cannot be searched (worded for the user)."""


def check_search(axes: Sequence[str], ranges: Sequence[Sequence[float]], seeds_per_side: int | None) -> int:
    """Validate the request; return the seeds per side to use."""
    if len(axes) not in (1, 2) or len(ranges) != len(axes):
        raise BoxError(f"critical points are searched for over one or two axes, each with a range "
                       f"(got {len(axes)} axes and {len(ranges)} ranges)")
    for r in ranges:
        if len(r) != 2:
            raise BoxError(f"a range is a pair of numbers (got {list(r)})")
        lo, hi = float(r[0]), float(r[1])
        if not (math.isfinite(lo) and math.isfinite(hi)) or not lo < hi:
            raise BoxError(f"a range must go from a smaller to a larger finite number (got {lo} to {hi})")
    n = len(axes)
    if seeds_per_side is None:
        return DEFAULT_SEEDS_PER_SIDE[n]
    if isinstance(seeds_per_side, bool) or int(seeds_per_side) != seeds_per_side \
            or not 2 <= seeds_per_side <= MAX_SEEDS[n]:
        raise BoxError(f"seeds per side must be a whole number from 2 to {MAX_SEEDS[n]} (got {seeds_per_side})")
    return int(seeds_per_side)


def seed_grid(ranges: Sequence[Sequence[float]], per_side: int) -> np.ndarray:
    """A regular grid of per_side^n seeds spanning the box, corners included: (B, n)."""
    axes = [np.linspace(float(lo), float(hi), per_side) for lo, hi in ranges]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(ranges))


def _rows(a: np.ndarray) -> np.ndarray:
    return a.reshape(len(a), int(np.prod(a.shape[1:])))


def _finite_rows(a: np.ndarray) -> np.ndarray:
    return np.isfinite(_rows(a)).all(axis=1)


def run_newton(newton: NewtonFunction, seeds: np.ndarray, lo: np.ndarray, width: np.ndarray, cell: float,
               progress: Callable[[float], None] | None = None, batch: int | None = None) -> dict:
    """Iterate every seed, in chunks of CHUNK steps, until all have stopped, left the box or become undefined.

    ``newton`` takes batches of exactly ``batch`` seeds (default: all of them; a short last batch is
    padded with NaN seeds, which stay put). Returns arrays over all seeds: final point, value,
    gradient, Hessian, next Newton step, the values at the seeds themselves, and for the seeds still
    moving inside the box when the budget ran out whether they were converging (``slow``: their step
    shrank over the last chunk while they stayed within a cell, as on the way into a degenerate
    point) or not (``drifting``: exp(50x) has Newton step -1/50 everywhere, forever).
    """
    B, n = seeds.shape
    batch = batch or B
    parts = []
    for start in range(0, B, batch):
        part = seeds[start:start + batch]
        padded = np.vstack([part, np.full((batch - len(part), n), np.nan)]) if len(part) < batch else part
        done = start / B
        share = len(part) / B

        def report(fraction, done=done, share=share):
            if progress is not None:
                progress(done + share * fraction)

        out = _iterate(newton, padded, lo, width, cell, report)
        parts.append({k: (a[:len(part)] if isinstance(a, np.ndarray) else a) for k, a in out.items()})
    if len(parts) == 1:
        return parts[0]
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0] if k != "undefined_seeds"}
    merged["undefined_seeds"] = sum(p["undefined_seeds"] for p in parts)
    return merged


def _iterate(newton: NewtonFunction, seeds: np.ndarray, lo: np.ndarray, width: np.ndarray, cell: float,
             report) -> dict:
    B = len(seeds)
    X, v, g, H, d = newton(seeds, 0)  # the seeds themselves: values for the scale, undefined seeds out
    with np.errstate(invalid="ignore", over="ignore"):
        curvature = np.linalg.norm(_rows(H * width[:, None] * width[None, :]), axis=1)
    out = {"X": X, "v": v, "g": g, "H": H, "d": d, "seed_values": v.copy(),
           "seed_curvature": np.where(np.isfinite(curvature), curvature, 0.0),
           "slow": np.zeros(B, bool), "drifting": np.zeros(B, bool)}
    defined = np.isfinite(v) & _finite_rows(g) & _finite_rows(H)
    out["undefined_seeds"] = int((~defined[np.isfinite(seeds).all(axis=1)]).sum())  # padding is not a seed
    step = np.linalg.norm(d / width, axis=1)
    active = defined & (step > STILL)
    done_steps = 0
    while active.any() and done_steps < MAX_ITERATIONS:
        before, start = step, X
        steps = min(CHUNK, MAX_ITERATIONS - done_steps)
        X, v, g, H, d = newton(X, steps)
        done_steps += steps
        u = (X - lo) / width
        finite = np.isfinite(v) & _finite_rows(g) & _finite_rows(H)
        inside = np.all((u > -LEAVE_MARGIN) & (u < 1 + LEAVE_MARGIN), axis=1)
        step = np.linalg.norm(d / width, axis=1)
        moved = np.max(np.abs(X - start) / width, axis=1)
        active = finite & inside & (step > STILL)
        report(min(1.0, done_steps / MAX_ITERATIONS))
    if active.any():
        # Converging slowly (linearly, into a degenerate point): the step keeps shrinking and the seed
        # hardly moves. Seeds bouncing between basins (Rastrigin) or drifting off do neither.
        settling = (step < 0.9 * before) & (moved < cell)
        out["slow"] = active & settling
        out["drifting"] = active & ~settling
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
    scale = np.maximum(np.max(np.abs(lam), axis=-1), np.asarray(local_scale, float))[..., None]
    zero = np.any(np.abs(lam) <= DEGENERATE_TOL * scale, axis=-1)
    return np.where(zero, "degenerate", np.where(np.all(lam > 0, axis=-1), "min",
                                                 np.where(np.all(lam < 0, axis=-1), "max", "saddle")))


def local_curvature(u: np.ndarray, seed_curvature: np.ndarray, per_side: int) -> np.ndarray:
    """For points u (box units), the largest Hessian norm at the grid seeds within one cell."""
    n = u.shape[1]
    grid = seed_curvature.reshape((per_side,) * n)
    nearest = np.clip(np.round(u * (per_side - 1)).astype(np.int64), 0, per_side - 1)
    out = np.zeros(len(u))
    for shift in np.ndindex(*(3,) * n):
        k = np.clip(nearest + np.array(shift) - 1, 0, per_side - 1)
        out = np.maximum(out, grid[tuple(k.T)])
    return out


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
    centers = np.empty((len(reps), u.shape[1]))
    owner = np.empty(len(first), dtype=np.int64)  # bucket -> group
    count = 0
    for rep in reps:
        if count:
            close = np.flatnonzero(np.max(np.abs(centers[:count] - u[rep]), axis=1) <= CLUSTER_TOL)
            if close.size:
                owner[inverse[rep]] = close[0]
                continue
        owner[inverse[rep]] = count
        centers[count] = u[rep]
        count += 1
    member_group = owner[inverse]
    by_group = np.argsort(member_group, kind="stable")  # keeps best-first order inside each group
    bounds = np.searchsorted(member_group[by_group], np.arange(count + 1))
    return [order[by_group[bounds[k]:bounds[k + 1]]] for k in range(count)]


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _where(point: dict) -> str:
    return "(" + ", ".join(_fmt(c) for c in point.values()) + ")"


def spread(run: dict) -> float:
    """F: how much f varies over the seeds and the points reached (finite values; 1 for a constant)."""
    values = np.concatenate([run["seed_values"], run["v"]])
    values = values[np.isfinite(values)]
    F = float(values.max() - values.min()) if values.size else 0.0
    if not F > 0:
        F = max(1.0, float(np.max(np.abs(values), initial=0.0)))
    return F if math.isfinite(F) else float(np.finfo(float).max)


def judge(run: dict, lo: np.ndarray, width: np.ndarray, F: float) -> dict:
    """Per seed: position in box units, scaled gradient, whether it is inside the box and accepted.

    A computed gradient at a true critical point is not exactly zero but round-off: about 1e-16
    times the size of the terms that cancel in it, which for a function varying by F across a box of
    width w is about 1e-16 F / w. We accept |(g_i w_i)| / F <= GRAD_TOL = 1e-8, so a polished point
    passes with eight orders of magnitude to spare, while a non-critical point would need a slope
    1e8 times smaller than f's typical slope over the box. That alone would let in far-out flat tails
    (x e^(-x^2-y^2) has slope 1e-10 at the corners of [-5, 5]^2), so the Newton step from the point
    must be negligible too (STEP_TOL): in a tail the step heads on down the tail and stays large
    (1/(2r) for e^(-r^2)), at a critical point, even a degenerate one, it shrinks to nothing.
    """
    X, v, g, H, d = run["X"], run["v"], run["g"], run["H"], run["d"]
    u = (X - lo) / width
    with np.errstate(invalid="ignore", over="ignore"):
        gs = np.linalg.norm(g * width, axis=1) / F
        steps = np.linalg.norm(d / width, axis=1)
    finite = np.isfinite(v) & _finite_rows(g) & _finite_rows(H) & _finite_rows(X)
    inside = finite & np.all((u >= -EDGE_TOL) & (u <= 1 + EDGE_TOL), axis=1)
    return {"u": u, "gs": gs, "inside": inside, "accepted": inside & (gs <= GRAD_TOL) & (steps <= STEP_TOL)}


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


def refinement_seeds(centres: np.ndarray, lo: np.ndarray, width: np.ndarray, cell: float) -> np.ndarray:
    """A REFINE^n grid of seeds over +-1 cell around each centre (clipped to the box)."""
    n = centres.shape[1]
    offsets = np.linspace(-cell, cell, REFINE)
    local = np.stack(np.meshgrid(*(offsets,) * n, indexing="ij"), axis=-1).reshape(-1, n)
    u = np.clip((centres[:, None, :] - lo) / width + local[None], 0.0, 1.0).reshape(-1, n)
    return lo + u * width


def _merge(a: dict, b: dict) -> dict:
    keys = ("X", "v", "g", "H", "d", "slow", "drifting", "seed_values", "seed_curvature")
    out = {k: np.concatenate([a[k], b[k]]) for k in keys}
    out["undefined_seeds"] = a["undefined_seeds"]  # reported over the main grid only
    return out


def summarize(axes: Sequence[str], ranges: Sequence[Sequence[float]], per_side: int, seeds: np.ndarray,
              run: dict) -> dict:
    """Accept, de-duplicate, classify and report (everything after the Newton iteration)."""
    n = len(axes)
    lo = np.array([float(r[0]) for r in ranges])
    width = np.array([float(r[1]) - float(r[0]) for r in ranges])
    X, v, g, H = run["X"], run["v"], run["g"], run["H"]
    B = len(seeds)
    F = spread(run)
    j = judge(run, lo, width, F)
    u, gs, accepted = j["u"], j["gs"], j["accepted"]
    wandering = run["slow"] & j["inside"] & ~accepted

    # Numerically flat: no curvature next to the function's overall variation (scaled Hessian
    # eigenvalues below DEGENERATE_TOL), and the place was reached by one seed alone: the seed just
    # stopped there. One such place is a point (a seed right on x^4 + y^4's origin); several are a
    # region where f is constant to round-off (a constant, or exp(-100 (x^2 + y^2)) where it
    # underflows), and are not listed. (A genuine point is reached from all around it: the minima of
    # sin(5x) on top of exp(x^2 + y^2), whose curvature is 1e-19 of F, are kept.)
    D = np.diag(width)
    idx = np.flatnonzero(accepted)
    groups = [idx[grp] for grp in cluster(u[idx], np.argsort(gs[idx], kind="stable"))]
    lone = np.array([grp[0] for grp in groups if len(grp) == 1], dtype=np.int64)
    scaled = np.linalg.eigvalsh(_sym(D @ H[lone] @ D) / F) if lone.size else np.zeros((0, n))
    flat = set(lone[np.all(np.abs(scaled) <= DEGENERATE_TOL, axis=1)].tolist())
    flat_region = len(flat) >= FLAT_PLACES
    if flat_region:
        groups = [grp for grp in groups if not (len(grp) == 1 and int(grp[0]) in flat)]

    best = np.array([grp[0] for grp in groups], dtype=np.int64)  # the best polished seed of each point
    h = _sym(H[best])
    local = local_curvature(u[best], run["seed_curvature"][:B], per_side)
    kinds = classify(np.linalg.eigvalsh(_sym(D @ h @ D)), local) if best.size else []
    eigenvalues = np.linalg.eigvalsh(h) if best.size else np.zeros((0, n))
    grad_norms = np.linalg.norm(g[best], axis=1)
    points = [{
        "point": {a: float(c) for a, c in zip(axes, X[k])},
        "value": float(v[k]),
        "type": str(kind),
        "eigenvalues": [float(e) for e in lam],
        "grad_norm": float(gn),
        "global_min": False,
        "global_max": False,
    } for k, kind, lam, gn in zip(best, kinds, eigenvalues, grad_norms)]
    points.sort(key=lambda p: (p["value"], tuple(p["point"].values())))

    # Global flags: the lowest minimum and the highest maximum in the box, and every one tied with
    # it to round-off (Himmelblau's four minima are all 0: all four are global minima).
    tie = 1e-10 * F
    minima = [p for p in points if p["type"] == "min"]
    maxima = [p for p in points if p["type"] == "max"]
    for p in minima:
        p["global_min"] = p["value"] <= minima[0]["value"] + tie
    for p in maxima:
        p["global_max"] = p["value"] >= maxima[-1]["value"] - tie

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
    degenerate = [p for p in points if p["type"] == "degenerate"]
    if len(degenerate) > CURVE:
        reasons.append(f"{len(degenerate)} of the points are degenerate: the critical points are probably "
                       f"not isolated (a curve or region of them), so the list only samples them")
    if len(points) * DENSE > B:
        reasons.append(f"that is many points for {B} seeds (fewer than {DENSE} seeds per point): "
                       f"the seed grid may be too coarse, try more seeds")
    if degenerate and len(degenerate) <= CURVE:
        where = ", ".join(_where(p["point"]) for p in degenerate)
        remarks.append(f"At {where} the Hessian has a zero eigenvalue: the second-derivative test is "
                       f"inconclusive there (degenerate critical point).")
    if run["undefined_seeds"]:
        remarks.append(f"f or its derivatives are undefined at {run['undefined_seeds']} of {B} seeds; "
                       f"those parts of the box were skipped.")
    finite_seeds = run["seed_values"][np.isfinite(run["seed_values"])]
    if minima and finite_seeds.size and finite_seeds.min() < minima[0]["value"] - tie:
        remarks.append("f is lower at the edge of the box than at any minimum inside: the marked global "
                       "minimum is the lowest local minimum, not the smallest value in the box.")
    found = f"{len(points)} critical point{'s' if len(points) != 1 else ''} found"
    note = [f"{found}; the search may be incomplete because " + "; ".join(reasons) + "."] if reasons else []
    return {
        "axes": list(axes),
        "critical_points": points,
        "complete": not reasons,
        "note": " ".join(note + remarks),
        "seeds": int(len(run["X"])),
    }


def find_critical_points(newton: NewtonFunction, axes: Sequence[str], ranges: Sequence[Sequence[float]],
                         seeds_per_side: int | None = None,
                         progress: Callable[[float], None] | None = None) -> dict:
    """The whole search with a given Newton iteration (see NewtonFunction). Adds "seconds".

    1. Newton from a per_side^n grid of seeds over the box.
    2. Where the sampled values have a local min or max that no accepted point explains (a
       peak narrower than the seed spacing: exp(-100 (x^2 + y^2)) on [-5, 5]^2), Newton again from
       a finer grid around it.
    3. Accept, de-duplicate, classify, report (``summarize``).
    """
    t0 = time.perf_counter()
    per_side = check_search(axes, ranges, seeds_per_side)
    n = len(axes)
    seeds = seed_grid(ranges, per_side)
    lo = np.array([float(r[0]) for r in ranges])
    width = np.array([float(r[1]) - float(r[0]) for r in ranges])
    cell = 1.0 / (per_side - 1)

    def report(fraction):
        if progress is not None:
            progress(fraction)

    run = run_newton(newton, seeds, lo, width, cell, lambda f: report(0.9 * f))
    mins, maxs = sampled_extrema(run["seed_values"], per_side, n)
    hints = np.concatenate([mins, maxs])
    j = judge(run, lo, width, spread(run))
    todo = unresolved(hints, per_side, j["u"][j["accepted"]])[:MAX_REFINED]
    if todo.size:
        # Not every such hint is a missed point: a valley narrower than the cells (Rosenbrock's) also
        # samples as a chain of local minima. What the finer grid does not resolve is not reported.
        extra = refinement_seeds(seeds[todo], lo, width, cell)
        run = _merge(run, run_newton(newton, extra, lo, width, cell, batch=len(seeds)))
    result = summarize(axes, ranges, per_side, seeds, run)
    report(1.0)
    result["seconds"] = time.perf_counter() - t0
    return result


def trust_radius(per_side: int) -> float:
    """The step cap in box units for a grid of per_side seeds per side."""
    return TRUST_RADIUS / max(per_side - 1, 1)
