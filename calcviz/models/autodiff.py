"""Compiled kernels: one parsed formula as TensorFlow functions (values, gradients, Hessians on
grids and points, the descent loops).

Every derivative comes from tf.GradientTape. A parsed expression is lowered once into TensorFlow
ops (models/tf_lowering.py) and wrapped in tf.functions with fixed input signatures, so moving a
point or a parameter never retraces; only a new expression does.

Points work in float64 (results match published values); grids in float32 (the benchmark shows
it twice as fast, and a picture needs no more).
"""
from __future__ import annotations

import atexit
import contextlib
import functools
import os
import threading
import time
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Callable, Sequence

import numpy as np

from . import descent, lowering
from .expression import Expression
from .tf_lowering import EngineError, backend, lower, tf

XLA_MIN_POINTS = 500 * 500  # grids this large are compiled with XLA (see Compiled.grid)
EAGER_CALLS = 3  # calls run eagerly (untraced) per grid size, and at the small point batch (see Compiled.grid, at)
# Newton's pseudo-inverse ignores Hessian eigenvalues below this fraction of the largest: a rank-one
# Hessian (log(e^x+e^y)) computes its zero eigenvalue as +-1e-17 of the other, and inverting that
# would fling the point away along the valley.
PINV_CUTOFF = 1e-12


def not_a_number(expression: Expression) -> str:
    out = expression.output
    return (f"{expression.output_shape.describe(out)}: surfaces, gradients and Hessians need a number, such as "
            f"||{out}||^2 or sum({out})")


class ArrayGradients:
    """f, its gradient with respect to every input and the values of derivatives a user wrote
    (expression.Derivative), on a batch: every input's value has the batch's axes in front (draws, grid
    points; none for one set of values). Each gradient has its input's shape (one per draw), as tf.GradientTape
    gives it for the sum of f over the batch. With f not a number: its value only (no gradients).

    One traced tf.function per formula and derivatives (reduce_retracing: new sizes trace again only until the
    shapes generalise); calling returns numpy arrays: (value, {input: gradient}, [each derivative's value]).
    """

    def __init__(self, expression: Expression, derivatives=(), dtype=tf.float64):
        self.dtype = dtype
        scalar = expression.output_shape.scalar

        def run(inputs):
            kept: dict = {}
            with tf.GradientTape() as tape:
                tape.watch(list(inputs.values()))
                value = lower(expression, inputs, dtype, kept)
                total = tf.reduce_sum(value)
            grads = tape.gradient(total, inputs, unconnected_gradients=tf.UnconnectedGradients.ZERO) if scalar else {}
            yours = [lowering.derivative_value(expression, d.node, d.shape, kept, backend(dtype)) for d in derivatives]
            return value, grads, yours

        self._run = tf.function(run, reduce_retracing=True, autograph=False)

    def __call__(self, inputs):
        value, grads, yours = self._run({name: tf.constant(np.asarray(v), self.dtype) for name, v in inputs.items()})
        return value.numpy(), {name: g.numpy() for name, g in grads.items()}, [np.asarray(y) for y in yours]


def array_gradients(expression: Expression, inputs, derivatives=(), dtype=tf.float64):
    """ArrayGradients once (traced for this one call: the engine keeps its kernels, see Engine._arrays)."""
    return ArrayGradients(expression, derivatives, dtype)(inputs)


SMALL_BATCH = 32  # points: the inspector's one, the local models' 32 and a race's runs share one trace (see at)
TAIL_BATCH = 256  # points: a critical-point search's last Newton steps, on a formula searched before ...
TAIL_WORTH = 16  # ... whose search took this many of them (see critical_search)
RACE_RUNS = 8  # races of up to this many runs share one compiled descent loop per formula (see Compiled.descend)
# A race stepped before its loop is compiled reports its first PARTIAL_FIRST steps at once (eagerly: one step on
# screen needs two), then more every PARTIAL_SECONDS (each report rebuilds the path so far in the window).
PARTIAL_FIRST = 2
PARTIAL_CHUNK = 32
PARTIAL_SECONDS = 0.2
COMPILE_AFTER_SECONDS = 2.0  # a stepped race running this long has its loop compiled aside (see Compiled._stepped)
_ASIDE = threading.Semaphore(1)  # one function compiles aside at a time (edits come faster than compiles end)
_ASIDE_THREADS: set = set()


@atexit.register
def _finish_compiling() -> None:
    """A compile aside still running at exit is waited for: TensorFlow aborts the process when the
    interpreter ends under one of its threads."""
    for thread in list(_ASIDE_THREADS):
        thread.join(60)


class Compiled:
    """One expression with a fixed split into differentiated variables and fixed parameters."""

    def __init__(self, expression: Expression, variables: Sequence[str], params: Sequence[str],
                 device: str | None = None):
        if not expression.output_shape.scalar:
            raise EngineError(not_a_number(expression))
        self.expression, self.variables, self.params = expression, tuple(variables), tuple(params)
        n, m = len(self.variables), len(self.params)

        variables, params = self.variables, self.params  # not self: no cycle, old expressions free at once

        def f(columns, param_values, dtype, shape=None):
            env = {name: col for name, col in zip(variables, columns)}
            env.update({name: param_values[k] for k, name in enumerate(params)})
            out = lower(expression, env, dtype)
            # A constant still has the grid's shape (``shape`` also covers a formula with no variables).
            full = columns[0].shape if shape is None else tf.TensorShape(shape if isinstance(shape, list) else None)
            if full.is_fully_defined() and out.shape == full:
                return out  # (known to have it: no op to trace, differentiate twice, and run)
            return out + (tf.zeros_like(columns[0]) if shape is None else tf.zeros(shape, dtype))

        f64 = tf.float64

        def derivatives(X, P):
            """f and its gradient at a batch of points (traced into the functions that call it)."""
            with tf.GradientTape() as tape:
                tape.watch(X)
                value = f(tf.unstack(X, n, axis=1), P, f64, tf.shape(X)[:1])
            return value, tape.gradient(value, X, unconnected_gradients=tf.UnconnectedGradients.ZERO)

        self._derivatives = derivatives
        self._value_and_gradient = tf.function(derivatives, reduce_retracing=True, autograph=False,
                                               input_signature=[tf.TensorSpec([None, n], f64), tf.TensorSpec([m], f64)])
        self._f = f
        self._grids = {}  # (points along x, along y, XLA) -> the grid's function, traced on second use
        self._eager_calls: dict = {}  # ("grid", size) or ("points", SMALL_BATCH) -> calls run eagerly so far
        self._curve = None
        self._points = {}  # batch size -> value, gradient and Hessian at that many points (see at)
        self._param_tensor = (None, None)  # the last parameter values at() was given, and their tensor
        self._searches = 0  # critical-point searches of this formula so far (see critical_search)
        self._descents = {}  # (optimizers present, path) -> descent loop (see descend)
        self._ready = set()  # the keys of the loops compiled (for a race's shapes)
        self._compiling = {}  # key -> Future of a race run in the loop while it compiles aside (see descend)
        self._stepped_races = {}  # key -> how many races were stepped before their loop was compiled
        self._lock = threading.Lock()
        self.device = device  # where a background thread computes (None: TensorFlow's default)

    # -- points (float64)
    def at(self, points: np.ndarray, param_values: np.ndarray, batch: int | None = None, eager: bool = False):
        """Value (B,), gradient (B, n) and Hessian (B, n, n) at a batch of points.

        One traced function per formula and batch size serves the inspector, the local models, the
        critical-point search (which drives its Newton iteration from numpy: critical.newton_iteration)
        and the race's first steps. Its batch size is static: with known shapes TensorFlow's gradient
        functions skip the broadcast bookkeeping (shape, broadcast-args, sum, reshape per binary op)
        that an unknown batch needs, which makes the Hessian graph less than half as big and as slow
        to trace. So points are padded to ``batch`` (default: SMALL_BATCH for up to that many points,
        else exactly B), and callers use few sizes: the search its own, everything else SMALL_BATCH.
        ``eager``: the same function run op by op, untraced (a few ms a call, but no 30-40 ms trace
        first: a race's first steps on a new formula). The first EAGER_CALLS calls at SMALL_BATCH run so
        too: a new formula's point read-out comes before the race's first steps, which would wait for it.
        """
        points = np.asarray(points, np.float64)
        B, n = len(points), len(self.variables)
        size = max(B, batch or (SMALL_BATCH if B <= SMALL_BATCH else B))
        if B == 0:
            return np.zeros(0), np.zeros((0, n)), np.zeros((0, n, n))
        fn = self._points.get(size)
        if fn is None and size == SMALL_BATCH and self._eager_call(("points", size)):
            eager = True
        if fn is None and eager:
            fn = self._points_function(size)
        elif fn is None:
            fn = self._trace_points(size)
        if B < size:  # padded with copies of the first point (rows are independent); cut off below
            padded = np.empty((size, n))
            padded[:B], padded[B:] = points, points[0]
            points = padded
        # (A search calls this a few dozen times with the same parameters: their tensor is made once.)
        P = np.asarray(param_values, np.float64)
        if self._param_tensor[0] is None or not np.array_equal(self._param_tensor[0], P):
            self._param_tensor = (P.copy(), tf.constant(P))
        # (Read-only views of the results: Tensor.numpy() would copy them, 6% of a search's time.)
        v, g, h = (np.asarray(t) for t in fn(tf.constant(points), self._param_tensor[1]))
        return (v, g, h) if B == size else (v[:B], g[:B], h[:B])

    def critical_search(self, param_values: np.ndarray, search: Callable[[Callable], dict]) -> dict:
        """``search(evaluate)``: a critical-point search (critical.find_critical_points) with at() as its
        Evaluate (points, and the search's batch of thousands).

        A search's last Newton steps move a few seeds, padded to the whole batch. A formula searched
        again whose search had TAIL_WORTH such steps or more (a long valley such as Rosenbrock's) has a
        TAIL_BATCH function traced aside for them, which the next searches use. Not after its first
        search: most formulas are searched once, and the 30-40 ms trace pays for itself only over
        several; not inline: the search would wait for it.
        """
        tail = 0  # the search's calls with few enough points for TAIL_BATCH, made at its own batch

        def evaluate(points: np.ndarray, batch: int):
            nonlocal tail
            if len(points) <= TAIL_BATCH < batch:
                if TAIL_BATCH in self._points:
                    batch = TAIL_BATCH
                else:
                    tail += 1
            return self.at(points, param_values, batch)

        result = search(evaluate)
        self._searches += 1
        if self._searches >= 2 and tail >= TAIL_WORTH and _ASIDE.acquire(blocking=False):
            self._aside("calcviz-trace-search-tail", lambda: self._trace_points(TAIL_BATCH))  # (failed: padded on)
        return result

    def _trace_points(self, batch: int):
        """The traced function of _points_function at ``batch`` points, kept for at(). A graph function of
        fixed signature (wrap_function): no tf.function dispatch or automatic control dependencies for a
        pure function, which trace 15% and call 25% faster."""
        spec = [tf.TensorSpec([batch, len(self.variables)], tf.float64), tf.TensorSpec([len(self.params)], tf.float64)]
        fn = self._points[batch] = tf.compat.v1.wrap_function(self._points_function(batch), spec)
        return fn

    def _eager_call(self, key) -> bool:
        """Whether this call of the function ``key`` runs eagerly: one of its first EAGER_CALLS (counted)."""
        count = self._eager_calls.get(key, 0)
        if count >= EAGER_CALLS:
            return False
        self._eager_calls[key] = count + 1
        return True

    def _points_function(self, batch: int):
        """f, its gradient and its Hessian at ``batch`` points, as a Python function of TensorFlow ops:
        traced once (see at), or run eagerly.

        Each variable is its own watched column (no gather/stack in the tapes), and the Hessian's row
        i is the gradient of the gradient's column i: the points are independent, so the gradient of
        a column's sum is that row at every point.
        """
        n, f, f64 = len(self.variables), self._f, tf.float64
        zero = tf.UnconnectedGradients.ZERO

        def points(X, P):
            columns = tf.unstack(X, n, axis=1)
            with tf.GradientTape(persistent=True) as outer:
                outer.watch(columns)
                with tf.GradientTape() as inner:
                    inner.watch(columns)
                    value = f(columns, P, f64, [batch])
                grad = inner.gradient(value, columns, unconnected_gradients=zero)
            if n == 0:
                return value, tf.zeros([batch, 0], f64), tf.zeros([batch, 0, 0], f64)
            hess = [tf.stack(outer.gradient(g, columns, unconnected_gradients=zero), axis=1) for g in grad]
            del outer
            return value, tf.stack(grad, axis=1), tf.stack(hess, axis=1)

        return points

    def value_and_gradient(self, points: np.ndarray, param_values: np.ndarray):
        v, g = self._value_and_gradient(np.asarray(points, np.float64), np.asarray(param_values, np.float64))
        return v.numpy(), g.numpy()

    # -- descent (float64)
    def descend(self, plan: descent.Plan, param_values: np.ndarray, path: bool, partial=None) -> dict:
        """Run a descent.Plan's runs; the arrays descent.report takes (numpy).

        The runs go in a compiled loop, traced once per set of optimizers built and per ``path`` (a race
        of up to RACE_RUNS runs builds them all): the runs' starts, hyperparameters, learning rates,
        steps and tolerance are inputs, so changing them does not retrace. It is compiled with XLA,
        which fuses each step's small element-wise ops (a step costs a few microseconds instead of a
        hundred) but compiles (0.3 to 1.5 s) for each input shape. So a call runs a fixed span of
        STEPS_PER_CALL steps (fewer when a path of that many steps would not fit in PATH_BUFFER_MB),
        ending early when no run is going, and is called again while runs are going: a new number of
        runs compiles again, a new number of steps does not.

        With ``partial`` (a race in the window) and that loop not compiled yet, the first steps need no
        compile: the runs are stepped in numpy (descent.run_steps) with the formula's traced point
        function (the first PARTIAL_FIRST steps eagerly: no trace), ``partial(out)`` gets the steps so
        far (those first steps at once, the next PARTIAL_CHUNK once traced, then every PARTIAL_SECONDS;
        runs still going have code RUNNING). For a formula raced again, or a race stepped longer than
        COMPILE_AFTER_SECONDS, the loop compiles in a background thread meanwhile; the result is the
        loop's if it compiles before the stepping ends, else the stepping's (the same numbers to
        round-off), and the next race on the formula finds it compiled.
        """
        R = len(plan.starts)
        used = plan.used
        race = R <= RACE_RUNS
        if race:
            # A race in the window: build every first-order rule and pad the runs to RACE_RUNS, so
            # ticking another optimizer reuses the compiled loop instead of compiling for ~1 s. The
            # padding repeats the first run and is cut off below.
            used = tuple(o for o in descent.OPTIMIZERS if o != "newton" or "newton" in used)
            plan = plan.take(np.r_[np.arange(R), np.zeros(RACE_RUNS - R, int)])
        key = (used, path)
        P = np.asarray(param_values, np.float64)
        if partial is not None and race and path and key not in self._ready:
            return self._stepped(plan, R, key, P, partial)
        return self._result(R, path, *self._loop(plan, key, P, R))

    def _loop(self, plan: descent.Plan, key: tuple, P: np.ndarray, R: int):
        """The plan in the compiled loop: (state, final value/gradient/|gradient|, path records of the first
        R runs: the rest pad a race), numpy."""
        with self._lock:  # (a background compile may be building it)
            fn = self._descents.get(key)
            if fn is None:
                fn = self._descents[key] = self._descent_function(*key)
        path = key[1]
        box, rows = plan.box, len(plan.starts)  # rows: the runs computed, padding included
        span = descent.STEPS_PER_CALL
        if path:  # the path's buffer: span x R x (5n + 3) numbers (see below)
            fits = int(descent.PATH_BUFFER_MB * 2 ** 20) // (rows * (5 * len(self.variables) + 3) * 8)
            # a power of two (few shapes), and not below 64: XLA unrolls short loops, and compiling the
            # unrolled body took 2 s at 32 steps, 9 s at 4 (0.8 s at 4096)
            span = min(span, 1 << max(fits.bit_length() - 1, 6))
        zeros = np.zeros(rows, np.int32)
        state = (plan.starts, np.zeros_like(plan.starts), plan.accumulator, zeros, zeros, zeros)
        fixed = (P, plan.kind, plan.table, np.int32(plan.steps),
                 np.float64(plan.tol), box.mean(axis=1), 0.5 * (box[:, 1] - box[:, 0]))
        records = None
        if path:
            # Room for every step the runs may take, padding rows left out; np.empty's untouched
            # pages take no memory, so a run that stops early costs only the steps it took.
            records = np.empty((plan.steps + 1, R, 5 * len(self.variables) + 3))
        for first in range(0, plan.steps + 1, span):
            rates = plan.rates[first:first + span]
            rates = np.pad(rates, (0, span - len(rates)), mode="edge")  # one shape per span
            *state, final, record = fn(np.int32(first), *state, rates, *fixed)
            if path:
                taken = min(span, plan.steps + 1 - first)
                records[first:first + taken] = record.numpy()[:taken, :R]
            if not np.any(state[3].numpy() == descent.RUNNING):
                break
        self._ready.add(key)
        return [t.numpy() for t in state], [t.numpy() for t in final], records

    def _stepped(self, plan: descent.Plan, R: int, key: tuple, P: np.ndarray, partial) -> dict:
        """A race whose loop is not compiled: numpy steps, partial results, the loop compiling aside (see descend)."""
        used, path = key
        mine = None  # this race run in the loop compiling aside, if this call started it
        zeros = np.zeros(len(plan.starts), np.int32)
        state = (plan.starts, np.zeros_like(plan.starts), plan.accumulator, zeros, zeros, zeros)
        records, k, reported, reports, t0 = [], 0, 0.0, 0, time.perf_counter()
        self._stepped_races[key] = again = self._stepped_races.get(key, 0) + 1
        while np.any(state[3] == descent.RUNNING):
            count = PARTIAL_FIRST if not reports else PARTIAL_CHUNK
            # The first steps eagerly: they are out before the point function would have traced.
            evaluate = lambda X, eager=not reports: self.at(X, P, eager=eager)  # noqa: E731
            state, steps = descent.run_steps(evaluate, used, plan, state, k, count, path)
            records += steps
            k += len(steps)
            # the first steps, the first chunk after the trace, then every PARTIAL_SECONDS (not the end:
            # the result follows at once)
            going = np.any(state[3] == descent.RUNNING)
            if going and (reports < 2 or time.perf_counter() - reported >= PARTIAL_SECONDS):
                partial(self._result(R, path, state, None, np.stack(records)[:, :R]))
                reported, reports = time.perf_counter(), reports + 1
            # The loop compiles aside (after the first steps are out: it competes for the CPU) for a
            # formula raced again, or a long race: a formula raced once, briefly, is not worth it (the
            # compile costs a second of CPU, and XLA keeps ~10 MB per loop compiled for good).
            wanted = again > 1 or time.perf_counter() - t0 >= COMPILE_AFTER_SECONDS
            if reports and wanted and key not in self._compiling and _ASIDE.acquire(blocking=False):
                mine = self._compile_aside(plan, key, P, R)
            if key in self._ready:  # compiled meanwhile: this race from the loop (run aside, or now: warm)
                done = mine is not None and mine.done() and mine.exception() is None
                return self._result(R, path, *(mine.result() if done else self._loop(plan, key, P, R)))
        v, g, _ = self.at(state[0], P)
        final = (v, g, np.sqrt((g * g) @ np.ones(g.shape[1])))
        return self._result(R, path, state, final, np.stack(records)[:, :R])

    def _compile_aside(self, plan: descent.Plan, key: tuple, P: np.ndarray, R: int) -> Future:
        """Run the plan in the compiled loop aside: its result when it is done, and the loop compiled for
        the next race. (The caller holds _ASIDE.)"""
        def failed(future: Future) -> None:  # the stepping goes on without it; the next race may try again
            if future.exception() is not None:
                self._compiling.pop(key, None)

        future = self._compiling[key] = self._aside("calcviz-compile-race", lambda: self._loop(plan, key, P, R))
        future.add_done_callback(failed)
        return future

    def _aside(self, name: str, work: Callable) -> Future:
        """Run ``work`` in a background thread at the lowest priority, on this formula's device: a Future
        of its result. (The caller holds _ASIDE; released here.)"""
        future, device = Future(), self.device

        def run():
            try:
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # Linux: this thread only
            except (AttributeError, OSError):
                pass
            try:
                with tf.device(device) if device else contextlib.nullcontext():
                    future.set_result(work())
            except BaseException as exc:  # noqa: BLE001 - reported through the Future
                future.set_exception(exc)
            finally:
                _ASIDE.release()
                _ASIDE_THREADS.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=name, daemon=True)
        _ASIDE_THREADS.add(thread)
        thread.start()
        return future

    def _result(self, R: int, path: bool, state, final, records: np.ndarray | None) -> dict:
        """The arrays descent.report takes, for the first R runs, from a loop's state and its records
        (steps x R x columns)."""
        out = {k: np.asarray(t)[:R] for k, t in zip(("X", "code", "stop", "fallbacks"), (state[0], *state[3:]))}
        if final is not None:
            out.update(zip(("value", "gradient", "grad_norm"), (np.asarray(t)[:R] for t in final)))
        if path:  # the columns the loop packed: X, g, update, velocity, accumulator (n each), v, |g|, fallback
            n, columns = len(self.variables), records[:out["stop"].max() + 1]
            out["path"] = {key: columns[:, :, i * n:(i + 1) * n]
                           for i, key in enumerate(("X", "gradient", "update", "velocity", "accumulator"))}
            out["path"].update(value=columns[:, :, 5 * n], grad_norm=columns[:, :, 5 * n + 1],
                               fallback=columns[:, :, 5 * n + 2] > 0)
            # the final value and gradient exactly as recorded at the stop step
            at_stop = (out["stop"], np.arange(R))
            for key in ("value", "gradient", "grad_norm"):
                out[key] = out["path"][key][at_stop]
        return out

    def _descent_function(self, used: tuple[str, ...], path: bool):
        """Steps of the descent loop from ``first`` as one tf.while_loop: evaluate, stop tests, update, move.

        Each pass evaluates f and its gradient (and Hessians, only when a Newton run is present) at
        every run's point, sets the stop code of the runs that stop there, and moves the others with
        descent.py's update rules. With ``path`` every pass is recorded. The loop ends when no run
        is going or after len(rates) passes; it returns the state to go on from.
        """
        n, m = len(self.variables), len(self.params)
        f64, i32, zero = tf.float64, tf.int32, tf.UnconnectedGradients.ZERO
        newton = "newton" in used

        def columns(a):
            # Row reductions as element-wise folds over the (few, static) columns: XLA runs a
            # reduction over a short minor axis as a separate, slow loop (twice the time of a step).
            width = int(np.prod(a.shape[1:]))
            return tf.unstack(tf.reshape(a, [-1, width]), width, axis=1)

        ops = SimpleNamespace(  # what descent.py's rules call (see there)
            where=tf.where, sqrt=tf.sqrt, abs=tf.abs, isfinite=tf.math.is_finite,
            all_rows=lambda a: functools.reduce(tf.logical_and, columns(a)),
            any_rows=lambda a: functools.reduce(tf.logical_or, columns(a)),
            float32=lambda a: tf.cast(tf.cast(a, tf.float32), f64), eigh=tf.linalg.eigh,
            matvec=lambda A, x, transpose=False: tf.linalg.matvec(A, x, adjoint_a=transpose),
            transpose=tf.linalg.matrix_transpose, eye=lambda k: tf.eye(k, dtype=f64),
            float64=lambda a: tf.cast(a, f64), count=lambda b: tf.cast(b, i32))

        derivatives = self._derivatives

        def with_hessians(X, P):
            # One vectorized backward pass (batch_jacobian), not one per Hessian row: as fast for two
            # variables, and the compiled loop no longer grows with n^2 (40 variables: 4.2 GB and 3 min
            # to compile before, 1.2 GB and 17 s now).
            with tf.GradientTape() as outer:
                outer.watch(X)
                value, grad = derivatives(X, P)
            return value, grad, outer.batch_jacobian(grad, X, unconnected_gradients=zero)

        evaluate = with_hessians if newton else lambda X, P: (*derivatives(X, P), None)

        def row_norm(g):
            return tf.sqrt(functools.reduce(tf.add, [c * c for c in columns(g)]))

        runs, points = tf.TensorSpec([None], i32), tf.TensorSpec([None, n], f64)

        @tf.function(input_signature=[tf.TensorSpec([], i32), points, points, points, runs, runs, runs,
                                      tf.TensorSpec([None], f64), tf.TensorSpec([m], f64), runs,
                                      tf.TensorSpec([None, len(descent.HP_KEYS)], f64), tf.TensorSpec([], i32),
                                      tf.TensorSpec([], f64), tf.TensorSpec([n], f64), tf.TensorSpec([n], f64)],
                     autograph=False, jit_compile=True)
        def run(first, X, velocity, accumulator, code, stop, fallbacks, rates, P, kind, table, steps, tol,
                centre, half):
            hp = {key: table[:, i:i + 1] for i, key in enumerate(descent.HP_KEYS)}

            # Few loop variables: each costs several control-flow ops per pass (the record is one array).
            def body(i, X, velocity, accumulator, code, stop, fallbacks, *record):
                k = first + i  # the step; i counts from 0 in each call
                v, g, H = evaluate(X, P)
                norm = row_norm(g)
                moved, velocity, accumulator, code, stop, fallbacks, update, fallback = descent.step(
                    ops, used, k, rates[i], X, v, g, H, norm, velocity, accumulator, code, stop, fallbacks,
                    kind, hp, steps, tol, centre, half)
                if path:
                    numbers = tf.stack([v, norm, tf.cast(fallback, f64)], axis=1)
                    record = (record[0].write(i, tf.concat([X, g, update, velocity, accumulator, numbers], 1)),)
                return (i + 1, moved, velocity, accumulator, code, stop, fallbacks) + record

            def going(i, X, velocity, accumulator, code, *_):
                # (the span test inside the reduction: as `(k < end) & reduce_any(...)` XLA's loop ran 1.5x slower)
                return tf.reduce_any(tf.equal(code, descent.RUNNING) & (i < tf.shape(rates)[0]))

            span = tf.shape(rates)[0]
            record = (tf.TensorArray(f64, size=span),) if path else ()  # XLA: a static size
            # The loop counts from 0, not from `first`: XLA took a loop's start as a constant of the
            # compiled program and compiled again (about 1 s, and kept it: ~2 MB) for every call.
            out = tf.while_loop(going, body, (tf.constant(0), X, velocity, accumulator, code, stop, fallbacks) + record)
            X = out[1]
            v, g = derivatives(X, P)  # where the runs are now (where they stopped, for the stopped ones)
            return (*out[1:7], (v, g, row_norm(g)), out[7].stack() if path else ())

        return run

    # -- grids (float32)
    def grid(self, xs: np.ndarray, ys: np.ndarray, param_values: np.ndarray):
        """f, df/dx, df/dy on the grid xs x ys; arrays indexed [i, j] -> (xs[i], ys[j])."""
        if len(self.variables) != 2:
            raise EngineError("a surface needs two axis variables")
        # Large grids go through XLA, which fuses the element-wise ops into one pass (2x faster at
        # N = 1000) but costs about 100 ms to compile per expression and grid size: small grids,
        # the live-editing case, stay on the plain graph. Traced per grid size: with static shapes the
        # gradient needs no broadcast bookkeeping, and a new formula's grid traces in half the time.
        # The first EAGER_CALLS grids of a size run eagerly, untraced: most formulas are drawn once or
        # twice, and eagerly that took 3-8 ms at N = 200 against 25 ms to trace (N = 1000: 40 against
        # 150-400 ms of XLA). A formula drawn more often (a parameter dragged) is traced then.
        key = (len(xs), len(ys), len(xs) * len(ys) >= XLA_MIN_POINTS)
        fn = self._grids.get(key)
        if fn is None and self._eager_call(("grid", key)):
            fn = self._grid_function(*key).python_function
        elif fn is None:
            fn = self._grids[key] = self._grid_function(*key).get_concrete_function()
        v, gx, gy = fn(tf.constant(xs, tf.float32), tf.constant(ys, tf.float32),
                       tf.constant(param_values, tf.float32))
        return np.asarray(v), np.asarray(gx), np.asarray(gy)  # views on TF's buffers: no copy

    def _grid_function(self, nx: int, ny: int, jit: bool):
        f32, f = tf.float32, self._f

        @tf.function(input_signature=[tf.TensorSpec([nx], f32), tf.TensorSpec([ny], f32),
                                      tf.TensorSpec([len(self.params)], f32)],
                     autograph=False, jit_compile=jit)
        def grid(xs, ys, P):
            X, Y = tf.meshgrid(xs, ys, indexing="ij")
            with tf.GradientTape() as tape:
                tape.watch([X, Y])
                value = f([X, Y], P, f32)
            gx, gy = tape.gradient(value, [X, Y], unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return value, gx, gy

        return grid

    def curve(self, xs: np.ndarray, param_values: np.ndarray):
        """f, f', f'' along xs for a one-variable function (float64: curves are cheap)."""
        if len(self.variables) != 1:
            raise EngineError("a curve needs exactly one variable")
        if self._curve is None:
            f64 = tf.float64
            f = self._f

            @tf.function(input_signature=[tf.TensorSpec([None], f64), tf.TensorSpec([len(self.params)], f64)],
                         autograph=False)
            def curve(xs, P):
                with tf.GradientTape() as outer:
                    outer.watch(xs)
                    with tf.GradientTape() as inner:
                        inner.watch(xs)
                        value = f([xs], P, f64)
                    d1 = inner.gradient(value, xs, unconnected_gradients=tf.UnconnectedGradients.ZERO)
                d2 = outer.gradient(d1, xs, unconnected_gradients=tf.UnconnectedGradients.ZERO)
                return value, d1, d2

            self._curve = curve
        v, d1, d2 = self._curve(np.asarray(xs, np.float64), np.asarray(param_values, np.float64))
        return v.numpy(), d1.numpy(), d2.numpy()
