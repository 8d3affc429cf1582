"""Compiled kernels: one parsed formula as TensorFlow functions (values, gradients, Hessians on
grids and points, the Newton iteration of the critical-point search, the descent loops).

Every derivative comes from tf.GradientTape. A parsed expression is lowered once into TensorFlow
ops (models/tf_lowering.py) and wrapped in tf.functions with fixed input signatures, so moving a
point or a parameter never retraces; only a new expression does.

Points work in float64 (results match published values); grids in float32 (the benchmark shows
it twice as fast, and a picture needs no more).
"""
from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Sequence

import numpy as np

from . import descent, lowering
from .expression import Expression
from .tf_lowering import EngineError, backend, lower, tf

XLA_MIN_POINTS = 500 * 500  # grids this large are compiled with XLA (see Compiled.grid)
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


RACE_RUNS = 8  # races of up to this many runs share one compiled descent loop per formula (see Compiled.descend)


class Compiled:
    """One expression with a fixed split into differentiated variables and fixed parameters."""

    def __init__(self, expression: Expression, variables: Sequence[str], params: Sequence[str]):
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
            return out + (tf.zeros_like(columns[0]) if shape is None else tf.zeros(shape, dtype))

        f64 = tf.float64

        @tf.function(input_signature=[tf.TensorSpec([None, n], f64), tf.TensorSpec([m], f64)],
                     reduce_retracing=True, autograph=False)
        def point(X, P):
            with tf.GradientTape() as outer:
                outer.watch(X)
                with tf.GradientTape() as inner:
                    inner.watch(X)
                    value = f(tf.unstack(X, n, axis=1), P, f64, tf.shape(X)[:1])
                grad = inner.gradient(value, X, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            hess = outer.batch_jacobian(grad, X, unconnected_gradients=tf.UnconnectedGradients.ZERO)
            return value, grad, hess

        def derivatives(X, P):
            """f and its gradient at a batch of points (traced into the functions that call it)."""
            with tf.GradientTape() as tape:
                tape.watch(X)
                value = f(tf.unstack(X, n, axis=1), P, f64, tf.shape(X)[:1])
            return value, tape.gradient(value, X, unconnected_gradients=tf.UnconnectedGradients.ZERO)

        self._point = point
        self._derivatives = derivatives
        self._value_and_gradient = tf.function(derivatives, reduce_retracing=True, autograph=False,
                                               input_signature=[tf.TensorSpec([None, n], f64), tf.TensorSpec([m], f64)])
        self._f = f
        self._grids = {False: None, True: None}  # plain graph / XLA, built on first use
        self._curve = None
        self._newton = {}  # batch size -> Newton iteration (see newton)
        self._descents = {}  # (optimizers present, path) -> descent loop (see descend)

    # -- points (float64)
    def at(self, points: np.ndarray, param_values: np.ndarray):
        """Value (B,), gradient (B, n) and Hessian (B, n, n) at a batch of points."""
        v, g, h = self._point(np.asarray(points, np.float64), np.asarray(param_values, np.float64))
        return v.numpy(), g.numpy(), h.numpy()

    def value_and_gradient(self, points: np.ndarray, param_values: np.ndarray):
        v, g = self._value_and_gradient(np.asarray(points, np.float64), np.asarray(param_values, np.float64))
        return v.numpy(), g.numpy()

    def newton(self, points: np.ndarray, param_values: np.ndarray, lo: np.ndarray, scale: np.ndarray,
               radius: float, steps: int, free: np.ndarray | None = None):
        """Up to ``steps`` capped Newton steps on the gradient from each of a batch of points (float64).

        Returns the final points (B, n), and the value (B,), gradient (B, n), Hessian (B, n, n) and
        the next, uncapped, Newton step (B, n) there. Seeds move independently; a seed stops moving
        once its step is below critical.STILL (in box units: divided by ``scale``), or it is more than
        critical.LEAVE_MARGIN outside the box [lo, lo + scale]; the loop ends early when all have.
        ``free`` (B, n) says which coordinates each seed may move (default: all): a seed on a face of
        the box moves only along it, and its step solves the face's own Newton equation (the fixed
        rows and columns of H and entries of the gradient are dropped); gradient and Hessian are
        returned whole. The graph is traced once per batch size (static shapes make a gradient graph
        three times faster to build: see _newton_function), so callers use one batch size per search.
        """
        points = np.asarray(points, np.float64)
        fn = self._newton.get(len(points))
        if fn is None:
            fn = self._newton[len(points)] = self._newton_function(len(points))
        free = np.ones(points.shape) if free is None else np.asarray(free, np.float64)
        out = fn(points, np.asarray(param_values, np.float64), np.asarray(lo, np.float64),
                 np.asarray(scale, np.float64), np.float64(radius), np.int32(steps), free)
        return tuple(t.numpy() for t in out)

    def _newton_function(self, batch: int):
        """The Newton iteration in one graph, a tf.while_loop: a warm search is a few calls.

        Each step solves H d = -g in the least-squares sense through the Hessian's eigen-decomposition
        (closed form for n = 1, 2: the 2 x 2 case is one Jacobi rotation; tf.linalg.eigh beyond),
        dropping the components along eigenvalues below PINV_CUTOFF of the largest (a pseudo-inverse): a singular Hessian gives
        a step in its range instead of infinity, and a zero Hessian no step at all. The step, measured
        in box units, is capped at a per-seed trust radius (which grows while |grad f| falls, so a
        seed can travel down a long valley such as Rosenbrock's quickly); a seed that lands where f
        or its derivatives are undefined goes back to a quarter of its step and its radius shrinks by 4.
        The loop evaluates, then moves (except on its last pass), so one copy of the value, gradient
        and Hessian graph serves both the iteration and the report.

        The batch size is static: with a known shape TensorFlow's gradient functions skip the
        broadcast bookkeeping (shape, broadcast-args, sum, reshape per binary op) that an unknown
        batch dimension needs, which makes the traced Hessian graph much smaller (Himmelblau: trace
        0.10 s instead of 0.30 s).
        """
        from .critical import LEAVE_MARGIN, MAX_RADIUS, STILL  # plain numbers; critical.py imports no TensorFlow

        n, m, f = len(self.variables), len(self.params), self._f
        if n < 1:
            raise EngineError("critical points are searched for in at least one variable")
        f64 = tf.float64
        zero = tf.UnconnectedGradients.ZERO

        def evaluate(X, P):
            with tf.GradientTape(persistent=True) as outer:
                outer.watch(X)
                with tf.GradientTape() as inner:
                    inner.watch(X)
                    value = f(tf.unstack(X, n, axis=1), P, f64, [batch])
                grad = inner.gradient(value, X, unconnected_gradients=zero)
                rows = [grad[:, i] for i in range(n)]
            # Points are independent, so the gradient of a column's sum is that Hessian row at every point.
            hess = tf.stack([outer.gradient(r, X, unconnected_gradients=zero) for r in rows], axis=1)
            del outer
            return value, grad, hess

        def inverse(lam, largest):
            # 1/lambda, or 0 for an eigenvalue that is round-off next to the largest (pseudo-inverse)
            keep = tf.abs(lam) > PINV_CUTOFF * largest
            return tf.where(keep, 1.0 / tf.where(keep, lam, tf.ones_like(lam)), tf.zeros_like(lam))

        def solve(g, H):
            if n == 1:
                h = H[:, 0, 0]
                return -(inverse(h, tf.abs(h)) * g[:, 0])[:, None]
            if n > 2:  # no closed form: a batched eigen-decomposition (it needs finite input)
                finite = finite_rows(H)[:, None, None]
                S = tf.where(finite, 0.5 * (H + tf.linalg.matrix_transpose(H)), tf.eye(n, dtype=f64))
                lam, V = tf.linalg.eigh(S)
                q = inverse(lam, tf.reduce_max(tf.abs(lam), axis=1, keepdims=True)) * tf.linalg.matvec(V, g, adjoint_a=True)
                return -tf.linalg.matvec(V, q)
            a, b, c = H[:, 0, 0], 0.5 * (H[:, 0, 1] + H[:, 1, 0]), H[:, 1, 1]
            theta = 0.5 * tf.atan2(2.0 * b, a - c)  # the rotation that diagonalises H
            cs, sn = tf.cos(theta), tf.sin(theta)
            l1 = a * cs * cs + 2.0 * b * cs * sn + c * sn * sn
            l2 = a * sn * sn - 2.0 * b * cs * sn + c * cs * cs
            largest = tf.maximum(tf.abs(l1), tf.abs(l2))
            q1 = inverse(l1, largest) * (cs * g[:, 0] + sn * g[:, 1])
            q2 = inverse(l2, largest) * (cs * g[:, 1] - sn * g[:, 0])
            return -tf.stack([cs * q1 - sn * q2, sn * q1 + cs * q2], axis=1)

        def finite_rows(t):
            return tf.reduce_all(tf.reshape(tf.math.is_finite(t), [batch, -1]), axis=1)

        @tf.function(input_signature=[tf.TensorSpec([batch, n], f64), tf.TensorSpec([m], f64),
                                      tf.TensorSpec([n], f64), tf.TensorSpec([n], f64),
                                      tf.TensorSpec([], f64), tf.TensorSpec([], tf.int32),
                                      tf.TensorSpec([batch, n], f64)],
                     autograph=False)
        def newton(X, P, lo, scale, radius, steps, free):
            one = tf.constant(1.0, f64)
            pinned = free[:, :, None] * free[:, None, :]  # a face's own Hessian: fixed rows and columns out

            def body(i, _, X, Xprev, r, v, g_before, H, d):
                v, g, H = evaluate(X, P)
                g_free = g * free
                # The trust radius doubles after a step that reduced |g| and is back to its start after
                # one that did not (Newton's path to a saddle need not reduce |g|: never below the start).
                better = tf.norm(g_free / scale, axis=1) < tf.norm(g_before * free / scale, axis=1)
                r = tf.where((i > 0) & better, tf.minimum(2.0 * r, MAX_RADIUS), tf.minimum(r, radius))
                d = solve(g_free, H * pinned)
                d = tf.where(tf.math.is_finite(d), d, tf.zeros_like(d))
                bad = ~(tf.math.is_finite(v) & finite_rows(g) & finite_rows(H))
                u = (X - lo) / scale
                inside = tf.reduce_all((u > -LEAVE_MARGIN) & (u < 1.0 + LEAVE_MARGIN), axis=1)
                length = tf.norm(d / scale, axis=1)
                came_from_elsewhere = tf.reduce_any(tf.not_equal(X, Xprev), axis=1)
                active = tf.where(bad, came_from_elsewhere, inside & (length > STILL))
                capped = d * tf.minimum(one, tf.math.divide_no_nan(r, length))[:, None]
                move = (active & (i < steps))[:, None]
                X_next = tf.where(bad[:, None], Xprev + 0.25 * (X - Xprev), X + capped)
                X_next = tf.where(move, X_next, X)
                Xprev_next = tf.where(move & ~bad[:, None], X, Xprev)
                r_next = tf.where(move[:, 0] & bad, 0.25 * r, r)
                return i + 1, tf.reduce_any(move), X_next, Xprev_next, r_next, v, g, H, d

            start = (tf.constant(0), tf.constant(True), X, X, tf.fill([batch], radius), tf.zeros([batch], f64),
                     tf.zeros([batch, n], f64), tf.zeros([batch, n, n], f64), tf.zeros([batch, n], f64))
            out = tf.while_loop(lambda i, moved, *_: (i <= steps) & moved, body, start)
            X, v, g, H, d = out[2], out[5], out[6], out[7], out[8]
            return X, v, g, H, d

        return newton

    # -- descent (float64)
    def descend(self, plan: descent.Plan, param_values: np.ndarray, path: bool) -> dict:
        """Run a descent.Plan's runs in the compiled loop; the arrays descent.report takes (numpy).

        The loop is traced once per set of optimizers built and per ``path`` (a race of up to
        RACE_RUNS runs builds them all): the runs' starts, hyperparameters, learning rates, steps and
        tolerance are inputs, so changing them does not retrace. It is compiled with XLA, which fuses each step's small element-wise ops (a step costs
        a few microseconds instead of a hundred) but compiles (0.3 to 1.5 s) for each input shape. So a
        call runs a fixed span of STEPS_PER_CALL steps (fewer when a path of that many steps would not
        fit in PATH_BUFFER_MB), ending early when no run is going, and is called again while runs
        are going: a new number of runs compiles again, a new number of steps does not.
        """
        R = len(plan.starts)
        used = plan.used
        if R <= RACE_RUNS:
            # A race in the window: build every first-order rule and pad the runs to RACE_RUNS, so
            # ticking another optimizer reuses the compiled loop instead of compiling for ~1 s. The
            # padding repeats the first run and is cut off below.
            used = tuple(o for o in descent.OPTIMIZERS if o != "newton" or "newton" in used)
            plan = plan.take(np.r_[np.arange(R), np.zeros(RACE_RUNS - R, int)])
        key = (used, path)
        fn = self._descents.get(key)
        if fn is None:
            fn = self._descents[key] = self._descent_function(*key)
        box, rows = plan.box, len(plan.starts)  # rows: the runs computed, padding included
        span = descent.STEPS_PER_CALL
        if path:  # the path's buffer: span x R x (5n + 3) numbers (see below)
            fits = int(descent.PATH_BUFFER_MB * 2 ** 20) // (rows * (5 * len(self.variables) + 3) * 8)
            # a power of two (few shapes), and not below 64: XLA unrolls short loops, and compiling the
            # unrolled body took 2 s at 32 steps, 9 s at 4 (0.8 s at 4096)
            span = min(span, 1 << max(fits.bit_length() - 1, 6))
        zeros = np.zeros(rows, np.int32)
        state = (plan.starts, np.zeros_like(plan.starts), plan.accumulator, zeros, zeros, zeros)
        fixed = (np.asarray(param_values, np.float64), plan.kind, plan.table, np.int32(plan.steps),
                 np.float64(plan.tol), box.mean(axis=1), 0.5 * (box[:, 1] - box[:, 0]))
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
        out = {k: t.numpy()[:R] for k, t in zip(("X", "code", "stop", "fallbacks"), (state[0], *state[3:]))}
        out.update(zip(("value", "gradient", "grad_norm"), (t.numpy()[:R] for t in final)))
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
            transpose=tf.linalg.matrix_transpose, eye=lambda k: tf.eye(k, dtype=f64))

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
                active = tf.equal(code, descent.RUNNING)
                code = tf.where(active, descent.stop_codes(ops, k, X, v, g, norm, steps, tol, centre, half), code)
                stop = tf.where(active, k, stop)  # a run's last step is the one where it stopped
                going = tf.equal(code, descent.RUNNING)
                update, velocity, accumulator, fallback = descent.updates(
                    ops, used, kind, hp, tf.cast(k + 1, f64), rates[i], g, H, velocity, accumulator)
                fallbacks += tf.cast(fallback & going, i32)
                if path:
                    numbers = tf.stack([v, norm, tf.cast(fallback, f64)], axis=1)
                    record = (record[0].write(i, tf.concat([X, g, update, velocity, accumulator, numbers], 1)),)
                X = tf.where(going[:, None], X + update, X)
                return (i + 1, X, velocity, accumulator, code, stop, fallbacks) + record

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
        # the live-editing case, stay on the plain graph.
        large = len(xs) * len(ys) >= XLA_MIN_POINTS
        if self._grids[large] is None:
            self._grids[large] = self._grid_function(jit=large)
        v, gx, gy = self._grids[large](np.asarray(xs, np.float32), np.asarray(ys, np.float32),
                                       np.asarray(param_values, np.float32))
        return np.asarray(v), np.asarray(gx), np.asarray(gy)  # views on TF's buffers: no copy

    def _grid_function(self, jit: bool):
        f32, f = tf.float32, self._f

        @tf.function(input_signature=[tf.TensorSpec([None], f32), tf.TensorSpec([None], f32),
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
