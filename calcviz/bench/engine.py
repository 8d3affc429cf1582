"""The engine section: grids, new expressions, points, memory, and the compute process round trip.

Figures (times in ms, medians of perf_counter timings; targets via calcviz.bench.target):
- grid:           Compiled.grid value+gradient (warm, float32) against numpy with the hand-written gradient
                  (float32) at N = 100..1000. The floor is that numpy arithmetic into preallocated arrays:
                  plain numpy's time swings 5x with the allocator's state (fresh pages fault; see
                  page_faults_per_call), so it is reported beside, not used as the floor.
                  Target: engine/floor <= 1 at N >= 500. The same grid in float64 backs the float32 choice.
- new_expression: new text -> first N=200 grid result through Engine.evaluate_grid (parse + trace + run),
                  target <= 40 ms; compute_client: the same round trip through ComputeClient (what the GUI sees).
- point:          value+gradient+Hessian after the first call, Engine.evaluate_point and Compiled.at, <= 1 ms.
- rss:            VmRSS growth over 300 distinct expressions after a 20-expression warm-up, <= 30 MB.
"""
from __future__ import annotations

import gc
import resource
import statistics
import time

import numpy as np

from . import median_ms, ms, rss_mb, rss_mb_of, sayer, settle_memory, target, timed_ms

EXPRESSION = "sin(x)*cos(y)+0.1*x^2"
BOX = (-3.0, 3.0)
GRID_NS = (100, 200, 500, 1000)
RATIO_FROM_N = 500             # the engine/numpy ratio target applies from this N up
NEW_EXPRESSION_N = 200
TARGET_RATIO = 1.0
TARGET_NEW_EXPRESSION_MS = 40.0
TARGET_POINT_MS = 1.0
TARGET_RSS_MB = 30.0

# Shapes the RSS loop cycles through ({c} is a coefficient that makes every text new).
TEMPLATES = (
    "sin(x)*cos(y)+{c}*x^2",
    "exp(-{c}*(x^2+y^2))",
    "x^2-{c}*y^2+x*y",
    "log(1+x^2+{c}*y^2)",
    "tanh({c}*x)*sigmoid(y)+0.1*y^2",
    "a = x+{c}*y; b = x-y; a^2*b",
)


_say = sayer("engine")


def _new_texts(count: int, start: int, templates=(TEMPLATES[0],)) -> list[str]:
    """``count`` expression texts never seen before in this process (coefficients from ``start`` up)."""
    return [templates[k % len(templates)].format(c=f"{0.1 + 0.0001 * (start + k):.4f}") for k in range(count)]


def numpy_grid(xs: np.ndarray, ys: np.ndarray):
    """sin(x)cos(y) + 0.1 x^2 and its gradient by hand on the same ij grid, as numpy is usually written."""
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    sx, cx, sy, cy = np.sin(X), np.cos(X), np.sin(Y), np.cos(Y)
    return sx * cy + 0.1 * (X * X), cx * cy + 0.2 * X, -(sx * sy)


def numpy_grid_buffers(n: int, dtype) -> list[np.ndarray]:
    return [np.empty((n, n), dtype) for _ in range(10)]


def numpy_grid_floor(xs: np.ndarray, ys: np.ndarray, buffers: list[np.ndarray]):
    """The same arithmetic into preallocated arrays: the floor (no allocation, so no page faults)."""
    X, Y, sx, cx, sy, cy, v, gx, gy, t = buffers
    np.copyto(X, xs[:, None])
    np.copyto(Y, ys[None, :])
    np.sin(X, out=sx), np.cos(X, out=cx), np.sin(Y, out=sy), np.cos(Y, out=cy)
    np.multiply(X, X, out=t)
    t *= 0.1
    np.multiply(sx, cy, out=v)
    v += t
    np.multiply(X, 0.2, out=t)
    np.multiply(cx, cy, out=gx)
    gx += t
    np.multiply(sx, sy, out=gy)
    np.negative(gy, out=gy)
    return v, gx, gy


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _grid_function(tf, lower, compiled, dtype):
    """The same computation as Compiled.grid, in ``dtype`` (Compiled.grid is float32 only)."""
    expression, variables = compiled.expression, compiled.variables

    @tf.function(input_signature=[tf.TensorSpec([None], dtype), tf.TensorSpec([None], dtype)], autograph=False)
    def grid(xs, ys):
        X, Y = tf.meshgrid(xs, ys, indexing="ij")
        with tf.GradientTape() as tape:
            tape.watch([X, Y])
            value = lower(expression, dict(zip(variables, (X, Y))), dtype) + tf.zeros_like(X)
        gx, gy = tape.gradient(value, [X, Y], unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return value, gx, gy

    def run(xs, ys):
        return [t.numpy() for t in grid(xs, ys)]
    return run


def bench_grid(tf, lower, engine, quick: bool) -> dict:
    compiled = engine.compile(EXPRESSION, ("x", "y"), ())
    no_params = np.zeros(0)
    f64_grid = _grid_function(tf, lower, compiled, tf.float64)
    per_n = {}
    for n in GRID_NS:
        xs32 = np.linspace(*BOX, n).astype(np.float32)
        xs64 = np.linspace(*BOX, n)
        buffers = numpy_grid_buffers(n, np.float32)
        runs = {
            "engine_float32": lambda: compiled.grid(xs32, xs32, no_params),
            "numpy_float32": lambda: numpy_grid_floor(xs32, xs32, buffers),
            "numpy_float32_allocating": lambda: numpy_grid(xs32, xs32),
            "engine_float64": lambda: f64_grid(xs64, xs64),
        }
        # Same answers first (this also traces and warms every function up).
        expect32, expect64 = numpy_grid(xs32, xs32), numpy_grid(xs64, xs64)
        err32 = max(float(np.max(np.abs(a - b))) for out in (runs["engine_float32"](), runs["numpy_float32"]())
                    for a, b in zip(out, expect32))
        err64 = max(float(np.max(np.abs(a - b))) for a, b in zip(runs["engine_float64"](), expect64))
        if err32 > 1e-4 or err64 > 1e-10:
            raise AssertionError(f"engine and numpy disagree at N={n}: {err32:g} (float32), {err64:g} (float64)")
        # Rounds of short blocks: each block's first call is dropped (it pays for the other variant's
        # traces in the caches), the rest are timed; rounds interleave so machine drift hits all alike.
        rounds = max(3, int(150 / n) if n <= 200 else int(6000 / n))  # 1000 -> 6, 500 -> 12, <=200 -> 3+
        block = 4 if n > 200 else 12
        if quick:
            rounds = max(2, rounds // 4)
        times: dict[str, list[float]] = {name: [] for name in runs}
        faults = dict.fromkeys(runs, 0)
        for _ in range(rounds):
            for name, fn in runs.items():
                fn()
                f0 = _minor_faults()
                times[name] += [timed_ms(fn) for _ in range(block - 1)]
                faults[name] += _minor_faults() - f0
        med = {name: statistics.median(t) for name, t in times.items()}
        calls = rounds * (block - 1)
        # The floor is numpy computing the function and its hand-written gradient as a person
        # writes it (the figures in ENVIRONMENT.md: 2.3-3.2 ms at N = 500): that ratio carries the target.
        # The preallocated variant (out= arrays, no page faults) is a stricter floor, reported beside it.
        ratio = med["engine_float32"] / med["numpy_float32_allocating"]
        per_n[str(n)] = {
            "engine_float32_ms": ms(med["engine_float32"]),
            "numpy_float32_ms": ms(med["numpy_float32_allocating"]),
            "ratio_engine_over_numpy": (target(ratio, TARGET_RATIO, "x") if n >= RATIO_FROM_N
                                        else round(ratio, 3)),
            "numpy_preallocated_float32_ms": ms(med["numpy_float32"]),
            "ratio_engine_over_numpy_preallocated": round(med["engine_float32"] / med["numpy_float32"], 3),
            "engine_float64_ms": ms(med["engine_float64"]),
            "float64_over_float32": round(med["engine_float64"] / med["engine_float32"], 3),
            "page_faults_per_call": {name: round(f / calls) for name, f in faults.items()},
            "engine_float32_min_ms": ms(min(times["engine_float32"])),
            "max_abs_difference_float32": float(f"{err32:.3g}"),
            "repeats": calls,
        }
        _say(f"grid N={n}: engine {med['engine_float32']:.3f} ms, numpy {med['numpy_float32_allocating']:.3f} ms "
             f"(preallocated {med['numpy_float32']:.3f} ms), float64 {med['engine_float64']:.3f} ms")
    return {
        "expression": EXPRESSION, "box": f"[{BOX[0]:g}, {BOX[1]:g}]^2",
        "what": "value, df/dx, df/dy on an N x N grid, warm, float32 unless named",
        "numpy_floor": "numpy_float32: the function and its hand-written gradient written plainly (the "
                       "issue's floor; its time depends on whether malloc hands it fresh pages: see "
                       "page_faults_per_call); numpy_preallocated_float32: the same into preallocated arrays, "
                       "a stricter floor with no target",
        "per_n": per_n,
    }


def bench_new_expression(engine, parse, Compiled, quick: bool) -> dict:
    count = 6 if quick else 20
    box = [BOX, BOX]
    grid = lambda text: engine.evaluate_grid(text, ["x", "y"], box, NEW_EXPRESSION_N)  # noqa: E731
    # The process's very first traces are slower (TF sets itself up); the GUI's compute process has
    # done those before the user edits anything, so they are reported apart and kept out of the median.
    first = [timed_ms(lambda t=t: grid(t)) for t in _new_texts(3, 1000)]
    totals = [timed_ms(lambda t=t: grid(t)) for t in _new_texts(count, 2000)]
    # Where the time goes, on other new texts (same steps evaluate_grid takes, each timed).
    steps: dict[str, list[float]] = {"parse": [], "build_compiled": [], "first_grid_call": [], "warm_grid_call": []}
    xs = np.linspace(*BOX, NEW_EXPRESSION_N)
    for text in _new_texts(count, 3000):
        t0 = time.perf_counter()
        expression = parse(text)
        t1 = time.perf_counter()
        compiled = Compiled(expression, ("x", "y"), ())
        t2 = time.perf_counter()
        compiled.grid(xs, xs, np.zeros(0))
        t3 = time.perf_counter()
        compiled.grid(xs, xs, np.zeros(0))
        t4 = time.perf_counter()
        for name, a, b in (("parse", t0, t1), ("build_compiled", t1, t2),
                           ("first_grid_call", t2, t3), ("warm_grid_call", t3, t4)):
            steps[name].append((b - a) * 1e3)
        del compiled
    # A new expression's first point result (the GUI asks for one too): traces the Hessian function.
    points = [timed_ms(lambda t=t: engine.evaluate_point(t, {"x": 0.3, "y": -0.2}))
              for t in _new_texts(max(3, count // 2), 4000)]
    return {
        "n": NEW_EXPRESSION_N, "expressions": count,
        "engine_evaluate_grid_ms": target(statistics.median(totals), TARGET_NEW_EXPRESSION_MS, "ms",
                                          max_ms=ms(max(totals)), min_ms=ms(min(totals))),
        "first_three_in_process_ms": [ms(t) for t in first],
        "breakdown_median_ms": {name: ms(statistics.median(v)) for name, v in steps.items()},
        "engine_evaluate_point_first_call_ms": ms(statistics.median(points)),
    }


def bench_point(engine, quick: bool) -> dict:
    repeats = 60 if quick else 400
    rng = np.random.default_rng(0)
    pts = rng.uniform(-2.0, 2.0, size=(repeats + 5, 2))
    first = timed_ms(lambda: engine.evaluate_point(EXPRESSION, {"x": 0.5, "y": -0.25}))
    compiled = engine.compile(EXPRESSION, ("x", "y"), ())  # the one evaluate_point just built
    no_params = np.zeros(0)
    ev, at = [], []
    for i in range(repeats + 5):
        x, y = float(pts[i, 0]), float(pts[i, 1])
        t_ev = timed_ms(lambda: engine.evaluate_point(EXPRESSION, {"x": x, "y": y}))
        t_at = timed_ms(lambda: compiled.at(np.array([[x, y]]), no_params))
        if i >= 5:
            ev.append(t_ev)
            at.append(t_at)
    return {
        "expression": EXPRESSION, "what": "value, gradient, Hessian at one point (float64), after the first call",
        "first_call_ms": ms(first),
        "engine_evaluate_point_ms": target(statistics.median(ev), TARGET_POINT_MS, "ms",
                                           p90_ms=ms(float(np.percentile(ev, 90)))),
        "compiled_at_ms": target(statistics.median(at), TARGET_POINT_MS, "ms",
                                 p90_ms=ms(float(np.percentile(at, 90)))),
        "repeats": repeats,
    }


def bench_rss(engine, quick: bool) -> dict:
    """VmRSS over many distinct expressions: what stays (the target) and how high it swings meanwhile.

    Old compiled functions are freed by Python's cyclic collector (TensorFlow's graphs hold reference
    cycles), which runs a full collection only now and then, and malloc keeps freed pages: RSS rises
    and falls by tens of MB while the live memory stays flat. So the target compares RSS after
    settle_memory() (gc.collect + malloc_trim) at both ends: memory that stays. The swing is reported
    next to it (peak above the start, end minus start unsettled, and a least-squares trend).
    """
    warmup, count = (5, 60) if quick else (20, 300)
    box = [BOX, BOX]

    def one(text):
        engine.evaluate_grid(text, ["x", "y"], box, NEW_EXPRESSION_N)
        engine.evaluate_point(text, {"x": 0.3, "y": -0.2})

    for text in _new_texts(warmup, 10_000, TEMPLATES):
        one(text)
    settle_memory()
    start = rss_mb()
    full_collections = []
    callback = lambda phase, info: full_collections.append(1) if phase == "stop" and info["generation"] == 2 else None  # noqa: E731
    gc.callbacks.append(callback)
    samples, every = {"0": round(start, 1)}, []
    t0 = time.perf_counter()
    try:
        for k, text in enumerate(_new_texts(count, 20_000, TEMPLATES), 1):
            one(text)
            every.append(rss_mb())
            if k % 50 == 0 or k == count:
                samples[str(k)] = round(every[-1], 1)
    finally:
        gc.callbacks.remove(callback)
    seconds = time.perf_counter() - t0
    end_raw = every[-1]
    gc_t0 = time.perf_counter()
    settle_memory()
    gc_ms = (time.perf_counter() - gc_t0) * 1e3
    end = rss_mb()
    window = max(1, count // 6)
    growth = end - start
    trend = float(np.polyfit(np.arange(count), every, 1)[0]) * count
    return {
        "expressions": count, "warmup_expressions": warmup,
        "what": "each: evaluate_grid N=200 and evaluate_point, through one Engine (as the compute process does)",
        "rss_start_mb": round(start, 1),
        "growth_mb": target(growth, TARGET_RSS_MB, "MB", per_expression_kb=round(growth * 1024 / count, 1),
                            measured="RSS after gc.collect()+malloc_trim(0) at the end minus the same at the start"),
        "growth_without_collect_mb": round(end_raw - start, 1),
        "trend_over_run_mb": round(trend, 1),
        "peak_above_start_mb": round(max(every) - start, 1),
        "range_first_window_mb": [round(min(every[:window]), 1), round(max(every[:window]), 1)],
        "range_last_window_mb": [round(min(every[-window:]), 1), round(max(every[-window:]), 1)],
        "rss_mb_after_k_expressions": samples,
        "full_gc_collections_during_run": len(full_collections),
        "collect_and_trim_ms": ms(gc_ms),
        "ms_per_expression": ms(seconds * 1e3 / count),
    }


def bench_compute_client(quick: bool) -> dict:
    from calcviz.models.compute import ComputeClient

    count = 6 if quick else 20
    kwargs = dict(axes=["x", "y"], ranges=[BOX, BOX], n=NEW_EXPRESSION_N)
    t0 = time.perf_counter()
    client = ComputeClient()
    try:
        ready = None
        while ready is None:
            replies = client.wait(120)
            if not replies:
                raise TimeoutError("the compute process did not start within 120 s")
            for reply in replies:
                if reply.kind == "crashed":
                    raise RuntimeError(reply.error)
                if reply.kind == "ready":
                    ready = time.perf_counter()
        start_ms = (ready - t0) * 1e3

        def grid(text):
            reply = client.request("evaluate_grid", text=text, **kwargs)
            if reply.error:
                raise RuntimeError(reply.error)
            return reply

        first = [timed_ms(lambda t=t: grid(t)) for t in _new_texts(3, 1000)]
        new = [timed_ms(lambda t=t: grid(t)) for t in _new_texts(count, 2000)]
        warm = median_ms(lambda: grid(EXPRESSION), 5 if quick else 30)

        def point(x):
            reply = client.request("evaluate_point", text=EXPRESSION, at={"x": x, "y": -0.2})
            if reply.error:
                raise RuntimeError(reply.error)
        point(0.0)
        warm_point = statistics.median(timed_ms(lambda x=x: point(x)) for x in np.linspace(-1, 1, 5 if quick else 30))
        child_rss = rss_mb_of(client._process.pid)
    finally:
        client.close()
    return {
        "what": "ComputeClient.request round trips (spawned process, results pickled back), as the GUI sees them",
        "start_to_ready_ms": ms(start_ms),
        "first_three_new_grids_ms": [ms(t) for t in first],
        "new_expression_grid_ms": target(statistics.median(new), TARGET_NEW_EXPRESSION_MS, "ms",
                                         max_ms=ms(max(new)), min_ms=ms(min(new))),
        "same_expression_grid_ms": ms(warm),
        "same_expression_point_ms": ms(warm_point),
        "compute_process_rss_mb": round(child_rss, 1),
        "n": NEW_EXPRESSION_N, "expressions": count,
    }


def run(quick: bool = False) -> dict:
    t0 = time.perf_counter()
    rss0 = rss_mb()
    from calcviz.models import autodiff, engine as engine_module, tf_lowering
    from calcviz.models.expression import parse
    tf = tf_lowering.tf
    import_ms = (time.perf_counter() - t0) * 1e3
    rss_import = rss_mb()

    engine = engine_module.Engine("auto")
    result: dict = {
        "machine": {
            "device": engine.device_name,
            "tensorflow_runtime": tf.__version__,
            "numpy_runtime": np.__version__,
            "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads() or "default",
            "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads() or "default",
        },
        "import_autodiff_ms": ms(import_ms),
        "import_rss_mb": round(rss_import - rss0, 1),
    }
    with tf.device(engine.device):
        _say("grid ...")
        result["grid"] = bench_grid(tf, tf_lowering.lower, engine, quick)
        _say("point ...")
        result["point"] = bench_point(engine, quick)
        _say("new expression ...")
        result["new_expression"] = bench_new_expression(engine, parse, autodiff.Compiled, quick)
        _say("rss ...")
        result["rss"] = bench_rss(engine, quick)
    _say("compute client ...")
    result["compute_client"] = bench_compute_client(quick)
    return result
