"""The critical section: critical-point search on the reference test functions, against scipy.

For each test function of tests/models/reference.py (sphere, saddle, booth, rosenbrock, himmelblau,
rastrigin, each over its reference box), in the same process and run:

- calcviz:  Engine.find_critical_points with the default seeds. ``new_expression_ms``: a text the
            engine has not seen (parse + compile + trace + search; the same formula with extra
            trailing spaces, which the engine caches by text), median over several. ``warm_ms``:
            the same text again (the search alone). The process's very first searches pay for
            TensorFlow's own start-up (the GUI's compute process has paid it before the user types),
            so they are reported apart (``first_three_in_process_ms``) and kept out of the medians.
- scipy:    what a careful user would write: scipy.optimize.root(grad, x0, jac=hessian,
            method="hybr") with the gradient and Hessian written by hand in numpy, started from a
            grid of at least as many seeds as calcviz used (ceil(sqrt(result["seeds"])) per side),
            accepted when scipy reports success and the point is inside the box, de-duplicated as
            calcviz does (critical.cluster: CLUSTER_TOL in box units, the smallest gradient kept)
            and classified by the signs of the Hessian's eigenvalues. The hand derivatives are
            checked against central differences first.
- accuracy: recall (fraction of the reference critical points with a reported point within
            MATCH_TOL, Euclidean) and precision (fraction of the reported points within MATCH_TOL of
            a reference point: 1 means no false points). Rastrigin's 441 points are listed in
            reference.py only by count; they are computed here from its separable gradient (each
            coordinate solves 2t + 20 pi sin(2 pi t) = 0; bisection in float64) and checked against
            those counts.

Targets: a new Himmelblau expression to result <= 300 ms; a warm Himmelblau search <= 30 ms;
Rastrigin's 441 of 441 points, from a new expression, in <= 2 s; and for every function calcviz's
warm search faster than the scipy baseline (speed ratio scipy / calcviz >= 1) at equal or better
recall (the ratio against calcviz's new-expression time is reported beside).
"""
from __future__ import annotations

import importlib.util
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from . import median_ms, ms, sayer, target, timed_ms

FUNCTIONS = ("sphere", "saddle", "booth", "rosenbrock", "himmelblau", "rastrigin")
AXES = ["x", "y"]
MATCH_TOL = 1e-5                  # a reported point matches a reference point this close (Euclidean)
TARGET_HIMMELBLAU_NEW_MS = 300.0
TARGET_HIMMELBLAU_WARM_MS = 30.0
TARGET_RASTRIGIN_MS = 2000.0
RASTRIGIN_POINTS = 441
TAU = 2.0 * math.pi

REFERENCE_PATH = Path(__file__).resolve().parents[2] / "tests" / "models" / "reference.py"


_say = sayer("critical")


def load_reference():
    """tests/models/reference.py as a module (the test suite's ground truth; it imports no calcviz)."""
    if not REFERENCE_PATH.is_file():
        raise FileNotFoundError(f"the critical benchmark needs the reference data at {REFERENCE_PATH} "
                                f"(run it from a source checkout)")
    name = "calcviz_bench_reference"
    spec = importlib.util.spec_from_file_location(name, REFERENCE_PATH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- ground truth
def _rastrigin_axis_roots() -> tuple[np.ndarray, np.ndarray]:
    """Roots of 2t + 20 pi sin(2 pi t) on [-5.12, 5.12], and whether each is a minimum along the axis."""
    h = lambda t: 2.0 * t + 10.0 * TAU * np.sin(TAU * t)  # noqa: E731
    t = np.linspace(-5.12, 5.12, 200_000)  # an even count: 0 (a root) is not a sample
    s = np.sign(h(t))
    k = np.flatnonzero(s[:-1] * s[1:] < 0)
    a, b = t[k].copy(), t[k + 1].copy()
    fa = h(a)
    for _ in range(80):  # bisection to float64 resolution
        m = 0.5 * (a + b)
        fm = h(m)
        left = np.sign(fm) == np.sign(fa)
        a, fa = np.where(left, m, a), np.where(left, fm, fa)
        b = np.where(left, b, m)
    roots = 0.5 * (a + b)
    return roots, 2.0 + 20.0 * TAU * math.pi * np.cos(TAU * roots) > 0


def reference_points(ref, name: str) -> tuple[np.ndarray, list[str]]:
    """Every critical point of the function in its box, (m, 2), with its kind."""
    fn = ref.TEST_FUNCTIONS[name]
    if name != "rastrigin":
        return np.array([[p.x, p.y] for p in fn.critical_points]), [p.kind for p in fn.critical_points]
    roots, is_min = _rastrigin_axis_roots()
    X, Y = np.meshgrid(roots, roots, indexing="ij")
    MX, MY = np.meshgrid(is_min, is_min, indexing="ij")
    kinds = np.where(MX & MY, ref.MIN, np.where(~MX & ~MY, ref.MAX, ref.SADDLE)).reshape(-1).tolist()
    counts = {k: kinds.count(k) for k in (ref.MIN, ref.MAX, ref.SADDLE)}
    if counts != fn.counts:
        raise AssertionError(f"computed Rastrigin critical points {counts} differ from reference.py's {fn.counts}")
    return np.stack([X.reshape(-1), Y.reshape(-1)], axis=1), kinds


def accuracy(found: np.ndarray, kinds: list[str], ref_points: np.ndarray, ref_kinds: list[str]) -> dict:
    """Recall, precision and type agreement of the found points against the reference, within MATCH_TOL."""
    if len(found) == 0:
        return {"found": 0, "reference": len(ref_points), "recall": 0.0, "precision": 1.0,
                "false_points": 0, "duplicates": 0, "types_agree": None}
    dist = np.linalg.norm(found[:, None, :] - ref_points[None, :, :], axis=2)  # (found, reference)
    close = dist <= MATCH_TOL
    nearest = np.argmin(dist, axis=1)
    matched = close.any(axis=1)
    agree = [kinds[i] == ref_kinds[nearest[i]] for i in np.flatnonzero(matched)]
    return {
        "found": int(len(found)),
        "reference": int(len(ref_points)),
        "recall": round(float(close.any(axis=0).mean()), 4),
        "precision": round(float(matched.mean()), 4),
        "false_points": int((~matched).sum()),
        "duplicates": int(np.maximum(close.sum(axis=0) - 1, 0).sum()),  # reference points found twice
        "types_agree": round(float(np.mean(agree)), 4) if agree else None,
        "max_error": float(np.max(dist[np.arange(len(found)), nearest][matched])) if matched.any() else None,
    }


# ----------------------------------------------------------------------------- the scipy baseline
def _f_sphere(x, y): return x * x + y * y
def _g_sphere(x, y): return np.array([2.0 * x, 2.0 * y])
def _h_sphere(x, y): return np.array([[2.0, 0.0], [0.0, 2.0]])


def _f_saddle(x, y): return x * x - y * y
def _g_saddle(x, y): return np.array([2.0 * x, -2.0 * y])
def _h_saddle(x, y): return np.array([[2.0, 0.0], [0.0, -2.0]])


def _f_booth(x, y): return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2


def _g_booth(x, y):
    a, b = x + 2.0 * y - 7.0, 2.0 * x + y - 5.0
    return np.array([2.0 * a + 4.0 * b, 4.0 * a + 2.0 * b])


def _h_booth(x, y): return np.array([[10.0, 8.0], [8.0, 10.0]])


def _f_rosenbrock(x, y): return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _g_rosenbrock(x, y):
    return np.array([-2.0 * (1.0 - x) - 400.0 * x * (y - x * x), 200.0 * (y - x * x)])


def _h_rosenbrock(x, y):
    return np.array([[2.0 - 400.0 * y + 1200.0 * x * x, -400.0 * x], [-400.0 * x, 200.0]])


def _f_himmelblau(x, y): return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2


def _g_himmelblau(x, y):
    a, b = x * x + y - 11.0, x + y * y - 7.0
    return np.array([4.0 * x * a + 2.0 * b, 2.0 * a + 4.0 * y * b])


def _h_himmelblau(x, y):
    return np.array([[12.0 * x * x + 4.0 * y - 42.0, 4.0 * (x + y)],
                     [4.0 * (x + y), 12.0 * y * y + 4.0 * x - 26.0]])


def _f_rastrigin(x, y):
    return 20 + x * x + y * y - 10 * np.cos(TAU * x) - 10 * np.cos(TAU * y)


def _g_rastrigin(x, y):
    return np.array([2.0 * x + 10.0 * TAU * np.sin(TAU * x), 2.0 * y + 10.0 * TAU * np.sin(TAU * y)])


def _h_rastrigin(x, y):
    return np.array([[2.0 + 10.0 * TAU * TAU * np.cos(TAU * x), 0.0],
                     [0.0, 2.0 + 10.0 * TAU * TAU * np.cos(TAU * y)]])


HAND = {name: tuple(globals()[f"_{part}_{name}"] for part in "fgh") for name in FUNCTIONS}


def check_hand_derivatives(box, f, g, h, rng) -> float:
    """Largest relative difference between the hand gradient/Hessian and central differences."""
    worst = 0.0
    lo, hi = np.array([b[0] for b in box]), np.array([b[1] for b in box])
    for p in rng.uniform(lo, hi, size=(20, 2)):
        eps = 1e-5 * np.maximum(1.0, np.abs(p))
        fd_g = np.array([(f(*(p + e)) - f(*(p - e))) / (2 * e[i]) for i, e in enumerate(np.diag(eps))])
        fd_h = np.stack([(g(*(p + e)) - g(*(p - e))) / (2 * e[i]) for i, e in enumerate(np.diag(eps))], axis=1)
        for exact, approx in ((g(*p), fd_g), (h(*p), fd_h)):
            worst = max(worst, float(np.max(np.abs(exact - approx)) / max(1.0, float(np.max(np.abs(exact))))))
    if worst > 1e-5:
        raise AssertionError(f"hand-written derivatives disagree with central differences ({worst:.3g})")
    return worst


def scipy_search(root, box, g, h, per_side: int) -> dict:
    """The baseline: root(hybr, analytic Jacobian) from each seed, accepted, de-duplicated, classified."""
    from calcviz.models import critical  # numpy only (no TensorFlow)

    lo = np.array([float(b[0]) for b in box])
    width = np.array([float(b[1]) - float(b[0]) for b in box])
    grad = lambda p: g(p[0], p[1])  # noqa: E731
    jac = lambda p: h(p[0], p[1])  # noqa: E731
    seeds = critical.seed_grid(box, per_side)
    X = np.empty_like(seeds)
    ok = np.empty(len(seeds), bool)
    evaluations = 0
    for k, seed in enumerate(seeds):
        sol = root(grad, seed, jac=jac, method="hybr")
        X[k], ok[k] = sol.x, sol.success
        evaluations += sol.nfev + getattr(sol, "njev", 0)
    u = (X - lo) / width
    accepted = ok & np.isfinite(X).all(axis=1) & np.all((u >= -critical.EDGE_TOL) & (u <= 1 + critical.EDGE_TOL), axis=1)
    idx = np.flatnonzero(accepted)
    gnorm = np.array([np.linalg.norm(grad(X[k]) * width) for k in idx])
    groups = [idx[grp] for grp in critical.cluster(u[idx], np.argsort(gnorm, kind="stable"))]
    best = np.array([grp[0] for grp in groups], dtype=np.int64)
    D = np.diag(width)
    hess = np.array([D @ jac(X[k]) @ D for k in best]).reshape(-1, 2, 2)
    kinds = critical.classify(np.linalg.eigvalsh(hess)).tolist() if best.size else []
    return {"points": X[best], "types": kinds, "seeds": len(seeds), "converged": int(ok.sum()),
            "accepted": int(accepted.sum()), "evaluations_per_seed": evaluations / len(seeds)}


# ----------------------------------------------------------------------------- calcviz
class Texts:
    """New texts for a formula: the same function, never seen by the engine (trailing spaces)."""

    def __init__(self):
        self.count = 0

    def __call__(self, formula: str) -> str:
        self.count += 1
        return formula + " " * self.count


def _found(result: dict) -> tuple[np.ndarray, list[str]]:
    points = result["critical_points"]
    return np.array([[p["point"]["x"], p["point"]["y"]] for p in points]).reshape(-1, 2), [p["type"] for p in points]


def bench_function(engine, root, ref, name: str, texts: Texts, quick: bool, rng) -> dict:
    fn = ref.TEST_FUNCTIONS[name]
    box = [list(r) for r in fn.box]
    ref_points, ref_kinds = reference_points(ref, name)
    search = lambda text: engine.find_critical_points(text, AXES, box)  # noqa: E731

    heavy = name in ("rosenbrock", "rastrigin")
    new_count = (2 if heavy else 3) if quick else (5 if heavy else 9)
    new = []
    for _ in range(new_count):
        text = texts(fn.formula)
        new.append(timed_ms(lambda: search(text)))
    result = search(text)  # warm from here on
    warm = median_ms(lambda: search(text), 5 if quick else (10 if heavy else 20), warmup=1)
    cv = accuracy(*_found(result), ref_points, ref_kinds)

    f, g, h = HAND[name]
    check = check_hand_derivatives(box, f, g, h, rng)
    per_side = math.ceil(math.sqrt(result["seeds"]))
    base = scipy_search(root, box, g, h, per_side)  # also the warm-up
    scipy_runs = 1 if quick else 3 if heavy else 5
    scipy_ms = statistics.median(timed_ms(lambda: scipy_search(root, box, g, h, per_side)) for _ in range(scipy_runs))
    sp = accuracy(base["points"], base["types"], ref_points, ref_kinds)

    warm_ratio = scipy_ms / warm
    recall_ok = cv["recall"] >= sp["recall"]
    faster = target(warm_ratio, 1.0, "x", at_most=False, recall_at_least_scipy=recall_ok,
                    measured="scipy_ms / calcviz warm_ms; passes only if calcviz's recall >= scipy's too")
    faster["pass"] = bool(faster["pass"] and recall_ok)
    out = {
        "formula": fn.formula, "box": box, "reference_points": len(ref_points),
        "calcviz": {
            "new_expression_ms": ms(statistics.median(new)),
            "new_expression_ms_range": [ms(min(new)), ms(max(new))],
            "warm_ms": ms(warm),
            "search_seconds_reported": round(float(result["seconds"]), 4),
            "seeds": int(result["seeds"]),
            "complete": bool(result["complete"]),
            **cv,
        },
        "scipy": {
            "ms": ms(scipy_ms),
            "method": "root(hybr, jac=hand Hessian) per seed",
            "seeds": base["seeds"], "seeds_per_side": per_side,
            "converged_seeds": base["converged"], "accepted_seeds": base["accepted"],
            "evaluations_per_seed": round(base["evaluations_per_seed"], 2),
            "hand_derivative_check_max_rel_error": float(f"{check:.3g}"),
            **sp,
        },
        "speed_ratio_scipy_over_calcviz_warm": round(warm_ratio, 3),
        "speed_ratio_scipy_over_calcviz_new_expression": round(scipy_ms / statistics.median(new), 3),
        "calcviz_faster_than_scipy": faster,
    }
    return out


def run(quick: bool = False) -> dict:
    t0 = time.perf_counter()
    from scipy import __version__ as scipy_version
    from scipy.optimize import root

    from calcviz.models import critical, engine as engine_module, tf_lowering
    tf = tf_lowering.tf
    import_ms = (time.perf_counter() - t0) * 1e3
    ref = load_reference()
    engine = engine_module.Engine("auto")
    rng = np.random.default_rng(0)

    # TensorFlow's first traces in a process are slower: pay them on an unrelated function first.
    texts = Texts()
    first = [timed_ms(lambda: engine.find_critical_points(texts("sin(x)*cos(y) + 0.1*x^2"), AXES, [[-3, 3], [-3, 3]]))
             for _ in range(3)]

    functions = {}
    for name in FUNCTIONS:
        _say(f"{name} ...")
        functions[name] = bench_function(engine, root, ref, name, texts, quick, rng)

    h, r = functions["himmelblau"], functions["rastrigin"]
    targets = {
        "himmelblau_new_expression_ms": target(h["calcviz"]["new_expression_ms"], TARGET_HIMMELBLAU_NEW_MS, "ms",
                                               recall=h["calcviz"]["recall"], precision=h["calcviz"]["precision"]),
        "himmelblau_warm_ms": target(h["calcviz"]["warm_ms"], TARGET_HIMMELBLAU_WARM_MS, "ms"),
        "rastrigin_points_found": target(r["calcviz"]["recall"] * r["reference_points"], RASTRIGIN_POINTS, "points",
                                         at_most=False, false_points=r["calcviz"]["false_points"]),
        "rastrigin_new_expression_ms": target(r["calcviz"]["new_expression_ms"], TARGET_RASTRIGIN_MS, "ms"),
    }
    return {
        "machine": {"device": engine.device_name, "scipy": scipy_version},
        "what": "Engine.find_critical_points (default seeds) vs scipy.optimize.root(hybr, hand Jacobian) from a "
                "seed grid; recall/precision against tests/models/reference.py within "
                f"{MATCH_TOL:g}",
        "import_ms": ms(import_ms),
        "first_three_in_process_ms": [ms(t) for t in first],
        "default_seeds_per_side": critical.DEFAULT_SEEDS_PER_SIDE[2],
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or "default",
        "targets": targets,
        "functions": functions,
    }
