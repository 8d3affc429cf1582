"""The engine: requests by formula text (a point, a grid, critical points, local models, descent,
basins, backprop) served by the compiled kernels of models/autodiff.py.

The engine keeps the compiled functions of the current expression alone (old ones are dropped:
see the benchmark's RSS figure). Each request returns plain numbers and numpy arrays, so results
pickle across the compute process's pipe.
"""
from __future__ import annotations

import operator
import time
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from . import approximation, critical, descent, matrix
from .autodiff import ArrayGradients, Compiled
from .expression import CONSTANTS, Expression, parse, parse_derivatives
from .session import MAX_GRID
from .tf_lowering import EngineError, pick_device, tf

KEPT_KERNELS = 4  # traced value-and-gradient functions of formulas with vectors and matrices kept (see _arrays)


@dataclass
class Split:
    """Which inputs are differentiated (variables) and which are held fixed (parameters)."""

    variables: tuple[str, ...]
    params: tuple[str, ...]
    param_values: np.ndarray


def split_inputs(expression: Expression, variables: Sequence[str], values: Mapping[str, float],
                 allow_unused: bool = False) -> Split:
    """Check the inputs are all given: ``variables`` are differentiated, the rest come from ``values``.

    With ``allow_unused`` (a surface over the x, y plane), a variable may be absent from the formula:
    log(x) drawn over x and y is constant along y. It still may not name a constant or a definition.
    A formula with vectors or matrices is seen entry by entry (x[1], A[1,2]: Expression.entries).
    """
    if len(set(variables)) != len(variables):
        raise EngineError(f"each variable can be given only once (got {', '.join(variables)})")
    entries = expression.entries
    unknown = [v for v in variables if v not in entries]
    if allow_unused:
        defined = {name for name, _ in expression.definitions}
        unknown = [v for v in unknown if v in CONSTANTS or v in defined or expression.arrays]
    if unknown:
        used = ", ".join(entries) or "no variables"
        raise EngineError(f"'{unknown[0]}' does not appear in the formula (it uses {used})")
    params = tuple(n for n in entries if n not in variables)
    missing = [p for p in params if p not in values]
    if missing:
        raise EngineError("give a value for " + ", ".join(missing) + " (e.g. --param "
                          + " ".join(f"{p}=1" for p in missing) + ")")
    return Split(tuple(variables), params, np.array([float(values[p]) for p in params], np.float64))


def linspace(lo: float, hi: float, n: int) -> np.ndarray:
    return np.linspace(float(lo), float(hi), int(n))


def check_box(ranges: Sequence[tuple[float, float]], n: int) -> None:
    if not 2 <= int(n) <= MAX_GRID:
        raise EngineError(f"grid resolution must be between 2 and {MAX_GRID} points per side (got {n})")
    for lo, hi in ranges:
        if not (np.isfinite(lo) and np.isfinite(hi)) or not lo < hi:
            raise EngineError(f"a range must go from a smaller to a larger finite number (got {lo} to {hi})")


def definedness(value: float, gradient: np.ndarray, hessian: np.ndarray, names: Sequence[str],
                output: str = "f") -> tuple[dict, str]:
    """Which of f, its gradient and its Hessian are defined at a point, and a sentence saying why not.

    Autodiff differentiates the formula, not the function: at x = -1, log(x) is nan but its tape still
    gives d/dx = 1/x = -1. So where f is not finite its derivatives are undefined whatever the tape
    says, and where the tape gives nan or inf (sqrt(x^2 + y^2) at its tip) f is not differentiable.
    """
    def first_bad(a):
        bad = [(k, c) for k, c in np.ndenumerate(np.asarray(a)) if not np.isfinite(c)]
        return bad[0] if bad else None

    defined = {"value": bool(np.isfinite(value)), "gradient": False, "hessian": False}
    if not defined["value"]:
        why = ("infinite here (log(0), 1/0 or an overflow)" if np.isinf(value) else
               "not defined here (nan: outside the domain of a function in it, such as log or sqrt of a "
               "negative number)")
        return defined, f"{output} is {why}, so its gradient and Hessian are undefined."
    bad = first_bad(gradient)
    if bad is not None:
        (k,), c = bad
        return defined, (f"{output} is not differentiable here: d{output}/d{names[k]} comes out {c}, so its "
                         f"gradient and Hessian are undefined.")
    defined["gradient"] = True
    bad = first_bad(hessian)
    if bad is not None:
        (i, j), c = bad
        return defined, (f"{output} has no second derivatives here: d2{output}/d{names[i]}d{names[j]} comes out "
                         f"{c}, so its Hessian is undefined (its gradient is defined).")
    defined["hessian"] = True
    return defined, ""


class Engine:
    """Serves requests by expression text; keeps only the current expression compiled."""

    def __init__(self, device: str = "auto"):
        self.device, self.device_name = pick_device(device)
        self._key = None
        self._compiled: Compiled | None = None
        self._kernels: dict[tuple, ArrayGradients] = {}  # (text, derivatives) -> kernel, the last few used

    def compile(self, text: str, variables: Sequence[str], params: Sequence[str]) -> Compiled:
        key = (text, tuple(variables), tuple(params))
        if key != self._key:
            self._compiled = None  # drop the old functions first, so their memory can go
            self._compiled = Compiled(parse(text), variables, params, self.device)
            self._key = key
        return self._compiled

    # Each request method returns plain numbers and numpy arrays, so results pickle across processes.
    def evaluate_point(self, text: str, at: Mapping[str, float], params: Mapping[str, float] | None = None) -> dict:
        """Value, gradient, Hessian and its eigen-decomposition at one point.

        Where f is not finite or not differentiable the gradient and Hessian are NaN (undefined), and
        "defined" ({"value", "gradient", "hessian"} -> bool) and "note" (a sentence; "" when all are
        defined) say which and why (see ``definedness``).
        """
        expression = parse(text)
        split = split_inputs(expression, list(at), params or {})
        compiled = self.compile(text, split.variables, split.params)
        t0 = time.perf_counter()
        with tf.device(self.device):
            v, g, h = compiled.at(np.array([[float(at[n]) for n in split.variables]]), split.param_values)
        grad, hess = g[0], h[0]
        defined, note = definedness(float(v[0]), grad, hess, split.variables, expression.output)
        if not defined["gradient"]:
            grad = np.full_like(grad, np.nan)
        if not defined["hessian"]:
            hess = np.full_like(hess, np.nan)
        eigenvalues, eigenvectors = np.linalg.eigh((hess + hess.T) / 2) if defined["hessian"] else (
            np.full(len(hess), np.nan), np.full_like(hess, np.nan))
        return {
            "variables": list(split.variables),
            "point": {n: float(at[n]) for n in split.variables},
            "params": dict(zip(split.params, map(float, split.param_values))),
            "value": float(v[0]),
            "gradient": dict(zip(split.variables, map(float, grad))),
            "hessian": hess.tolist(),
            "eigenvalues": eigenvalues.tolist(),
            "eigenvectors": eigenvectors.T.tolist(),  # one row per eigenvalue
            "defined": defined,
            "note": note,
            "device": self.device_name,
            "seconds": time.perf_counter() - t0,
        }

    def evaluate_grid(self, text: str, axes: Sequence[str], ranges: Sequence[tuple[float, float]], n: int,
                      params: Mapping[str, float] | None = None) -> dict:
        """f and its gradient on an n x n grid (or f, f', f'' on n points for one axis)."""
        if len(axes) not in (1, 2) or len(ranges) != len(axes):
            raise EngineError(f"a grid needs one or two axes, each with a range (got {len(axes)} axes "
                              f"and {len(ranges)} ranges)")
        check_box(ranges, n)
        expression = parse(text)
        split = split_inputs(expression, list(axes), params or {}, allow_unused=True)
        compiled = self.compile(text, split.variables, split.params)
        coords = [linspace(lo, hi, n) for lo, hi in ranges]
        t0 = time.perf_counter()
        with tf.device(self.device):
            if len(axes) == 2:
                value, d1, d2 = compiled.grid(coords[0], coords[1], split.param_values)
            else:
                value, d1, d2 = compiled.curve(coords[0], split.param_values)
        # Where f is undefined or infinite, so are its derivatives, as evaluate_point says: TensorFlow
        # still gives log(x)'s 1/x at x = -1, which the hover read-out and the gradient field would show.
        defined = np.isfinite(value)
        undefined_fraction = float(1.0 - defined.mean())
        if undefined_fraction:
            d1, d2 = (np.where(defined, d, np.float32(np.nan)) for d in (d1, d2))
        seconds = time.perf_counter() - t0
        return {
            "axes": list(axes),
            "coords": coords,
            "value": value,
            "d1": d1,  # df/dx on a surface, f' on a curve
            "d2": d2,  # df/dy on a surface, f'' on a curve
            "undefined_fraction": undefined_fraction,
            "device": self.device_name,
            "seconds": seconds,
        }

    def find_critical_points(self, text: str, axes: Sequence[str], ranges: Sequence[tuple[float, float]],
                             params: Mapping[str, float] | None = None, seeds_per_side: int | None = None,
                             progress=None) -> dict:
        """Critical points of f over the box ``ranges`` of any number of axes (see models/critical.py).

        Every other input of the formula is held at its value in ``params``: a 2-D slice of a function
        of more variables is the search over two axes with the rest as parameters.
        ``progress`` (optional) is called with the fraction done between chunks of Newton steps.
        Returns {"axes", "ranges", "params", "critical_points", "curves", "box_min", "box_max",
        "complete", "note", "resolution", "seeds", "device", "seconds"}.
        """
        try:
            per_side = critical.check_search(axes, ranges, seeds_per_side)
        except critical.BoxError as exc:
            raise EngineError(str(exc)) from None
        expression = parse(text)
        split = split_inputs(expression, list(axes), params or {}, allow_unused=True)
        compiled = self.compile(text, split.variables, split.params)

        with tf.device(self.device):
            result = compiled.critical_search(split.param_values, lambda evaluate: critical.find_critical_points(
                evaluate, list(axes), ranges, per_side, progress))
        result["params"] = dict(zip(split.params, map(float, split.param_values)))
        result["device"] = self.device_name
        return result

    def approximate(self, text: str, at: Mapping[str, float], params: Mapping[str, float] | None = None,
                    eps=None, direction=None) -> dict:
        """The tangent-plane and quadratic models of f at ``at``, compared with f (see models/approximation.py).

        ``eps`` (a dict per variable, or a list in the order of ``at``; default 0.01 each) is the
        displacement where the models are compared with the true value. Along ``direction`` v
        (default: the unit gradient, or the first axis when the gradient is 0) the errors at
        p + t v for t from 1e-3 to 1 are returned with their measured log-log slopes (over t <= 0.1).
        """
        expression = parse(text)
        split = split_inputs(expression, list(at), params or {})
        names, n = split.variables, len(split.variables)
        if n == 0:
            raise EngineError("the formula has no variable to approximate in")
        p = np.array([float(at[name]) for name in names])
        if not np.all(np.isfinite(p)):
            raise EngineError("the point must have finite coordinates")
        e = self._per_variable(eps, names, "eps", default=0.01)
        v = None if direction is None else self._per_variable(direction, names, "direction", default=0.0)
        compiled = self.compile(text, names, split.params)
        t0 = time.perf_counter()
        with tf.device(self.device):
            value, grad, hess = compiled.at(p[None, :], split.param_values)
        value, grad, hess = float(value[0]), grad[0], hess[0]
        if v is None:
            norm = float(np.linalg.norm(grad))
            v = grad / norm if np.isfinite(norm) and norm > 0 else np.eye(n)[0]
        else:
            norm = float(np.linalg.norm(v))
            if not norm > 0:
                raise EngineError("the direction must not be the zero vector")
            v = v / norm
        ts = np.logspace(-3.0, 0.0, 31)
        with tf.device(self.device):
            f_at, _, _ = compiled.at(np.vstack([p + e, p + ts[:, None] * v]), split.param_values)
        true, along = float(f_at[0]), f_at[1:]
        line = p + ts[:, None] * v
        lin_t = approximation.linear_model(value, grad, p, line)
        quad_t = approximation.quadratic_model(value, grad, hess, p, line)
        lin = float(approximation.linear_model(value, grad, p, p + e))
        quad = float(approximation.quadratic_model(value, grad, hess, p, p + e))
        err_l, err_q = np.abs(along - lin_t), np.abs(along - quad_t)
        small = ts <= 0.1 + 1e-12
        finite_along = along[np.isfinite(along)]
        scale = max(abs(value), float(np.max(np.abs(finite_along), initial=0.0))) if np.isfinite(value) else None
        step = approximation.newton_step(grad, hess)
        finite_h = bool(np.all(np.isfinite(hess)))
        eigenvalues = np.linalg.eigvalsh(0.5 * (hess + hess.T)) if finite_h else np.full(n, np.nan)

        def named(a):
            return {name: float(c) for name, c in zip(names, a)}

        return {
            "variables": list(names),
            "point": named(p),
            "params": dict(zip(split.params, map(float, split.param_values))),
            "value": value,
            "gradient": named(grad),
            "hessian": hess.tolist(),
            "eigenvalues": eigenvalues.tolist(),
            "eps": named(e),
            "true": true,
            "linear": lin,
            "quadratic": quad,
            "linear_error": abs(true - lin),
            "quadratic_error": abs(true - quad),
            "errors": {
                "direction": v.tolist(),
                "t": ts.tolist(),
                "true": along.tolist(),
                "linear": err_l.tolist(),
                "quadratic": err_q.tolist(),
                "slope_linear": approximation.error_slopes(ts[small], err_l[small], scale),
                "slope_quadratic": approximation.error_slopes(ts[small], err_q[small], scale),
            },
            "newton_step": None if step is None else named(step),
            "newton_point": None if step is None else named(p + step),
            "stable_learning_rate": approximation.stable_learning_rate(hess),
            "device": self.device_name,
            "seconds": time.perf_counter() - t0,
        }

    def descend(self, text: str, start, params: Mapping[str, float] | None = None, optimizers=("gd",),
                lr: float = 0.01, steps: int = 1000, tol: float = 1e-8, hyperparameters: Mapping | None = None,
                schedule="constant", box=None, path: bool = True, partial=None) -> dict:
        """Gradient descent (and momentum, Nesterov, AdaGrad, RMSProp, Adam, Newton) from ``start``.

        ``start`` is one point (a dict by variable) for every optimizer, or a list of them: one per
        optimizer, or many for a single optimizer. ``hyperparameters`` override the optimizers'
        defaults (flat, or per optimizer name); ``schedule`` is "constant", "exponential", "cosine"
        or a dict with "name" and its parameters; ``box`` a (low, high) per variable (the divergence
        test's scale; default [-5, 5] widened to hold the starts). All runs advance together in one
        compiled loop (Compiled.descend; Hessians only when a Newton run is present). See models/descent.py.
        Each run's "path" is a list of one dict per step, or with ``path="columns"`` numpy columns
        (descent.path_columns; far smaller for long runs), or absent with ``path=False``.
        Returns {"variables", "params", "box", "runs": [...], "device", "seconds"}.
        ``partial`` (optional, a race): called with results of the same form for the steps so far while
        the loop for a new formula compiles (runs still going have status "running"; see Compiled.descend).
        """
        from collections.abc import Mapping as AnyMapping  # (isinstance with typing's Mapping is slow)
        starts = [start] if isinstance(start, AnyMapping) else list(start)
        if not starts or not all(isinstance(s, AnyMapping) for s in starts):
            raise EngineError("give the start point as values by variable, e.g. {'x': -1.5, 'y': 2}")
        variables = list(starts[0])
        names = set(variables)
        for s in starts[1:]:
            if s.keys() != names:
                raise EngineError("every start point must give the same variables "
                                  f"({', '.join(variables)}; got {', '.join(s)})")
        expression = parse(text)
        split = split_inputs(expression, variables, params or {})
        if not split.variables:
            raise EngineError("the formula has no variable to descend in")
        coordinates = operator.itemgetter(*split.variables)  # (a number for one variable: reshaped below)
        try:
            points = np.array([coordinates(s) for s in starts], np.float64).reshape(len(starts), -1)
        except (TypeError, ValueError):
            raise EngineError("start coordinates must be numbers") from None
        compiled = self.compile(text, split.variables, split.params)

        def loop(plan, path, steps_so_far=None):
            with tf.device(self.device):
                return compiled.descend(plan, split.param_values, path, steps_so_far)

        def hessians(points):
            with tf.device(self.device):
                return compiled.at(points, split.param_values)[2]

        def finish(result):
            result["params"] = dict(zip(split.params, map(float, split.param_values)))
            result["device"] = self.device_name
            result["seconds"] = time.perf_counter() - t0
            return result

        t0 = time.perf_counter()
        try:
            return finish(descent.descend(loop, hessians, split.variables, points, optimizers, lr, steps, tol,
                                          hyperparameters, schedule, box, path,
                                          None if partial is None else lambda r: partial(finish(r))))
        except descent.DescentError as exc:
            raise EngineError(str(exc)) from None

    def backprop(self, text: str, at: Mapping[str, float], expand: bool = False) -> dict:
        """The chain-rule view's numbers: forward values, local partials, adjoints, paths (models/backprop.py)."""
        from .backprop import backprop  # backprop builds on this module's lowering

        result = backprop(text, at, expand, device=self.device)
        result["device"] = self.device_name
        return result

    def basins(self, text: str, axes: Sequence[str], ranges: Sequence[tuple[float, float]], n: int,
               params: Mapping[str, float] | None = None, optimizer: str = "gd", lr: float = 0.01,
               steps: int = 1000, tol: float = 1e-6, hyperparameters: Mapping | None = None,
               schedule="constant", progress=None) -> dict:
        """Basins of attraction: descend from every point of an n x n grid over ``ranges`` (no path).

        The runs go in a few chunks; ``progress`` (optional) is called with the fraction done after
        each. Each start is labelled with the index of the minimum its run converged to (in
        "minima", sorted by value), -1 if it diverged, -2 if it stopped without converging (see
        descent.label_basins). The box ``ranges`` is also the divergence test's box.
        Returns {"axes", "coords", "labels" (n, n) int32 indexed [i_x, j_y], "minima", "diverged",
        "unconverged", "optimizer", "learning_rate", "steps", "device", "seconds"}.
        """
        if len(axes) != 2 or len(ranges) != 2:
            raise EngineError(f"basins need two axes, each with a range (got {len(axes)} axes and "
                              f"{len(ranges)} ranges)")
        if isinstance(n, bool) or int(n) != n or not 2 <= n <= descent.MAX_BASINS:
            raise EngineError(f"basins need from 2 to {descent.MAX_BASINS} starts per side (got {n})")
        n = int(n)
        check_box(ranges, n)
        expression = parse(text)
        split = split_inputs(expression, list(axes), params or {}, allow_unused=True)
        coords = [linspace(lo, hi, n) for lo, hi in ranges]
        starts = np.stack(np.meshgrid(*coords, indexing="ij"), axis=-1).reshape(-1, 2)
        try:
            names = descent.check_optimizers(optimizer)
            if len(names) != 1:
                raise descent.DescentError("basins are drawn for one optimizer at a time")
            name = names[0]
            plan = descent.plan(split.variables, starts, names, lr, steps, tol, hyperparameters, schedule, ranges)
        except descent.DescentError as exc:
            raise EngineError(str(exc)) from None
        compiled = self.compile(text, split.variables, split.params)
        t0 = time.perf_counter()
        total = len(starts)
        chunk = descent.basin_chunk(total)
        parts = []
        with tf.device(self.device):
            for first in range(0, total, chunk):
                # the last chunk is padded with copies of the last start: one chunk size, one XLA compile
                rows = np.minimum(np.arange(first, first + chunk), total - 1)
                out = compiled.descend(plan.take(rows), split.param_values, path=False)
                parts.append({k: a[:total - first] for k, a in out.items()})
                if progress is not None:
                    progress(min(first + chunk, total) / total)
        out = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        labels, minima = descent.label_basins(out, plan.box)
        return {
            "axes": list(axes),
            "coords": coords,
            "labels": labels.reshape(n, n),
            "minima": [{"point": dict(zip(split.variables, map(float, out["X"][r]))), "value": float(out["value"][r]),
                        "count": int(np.count_nonzero(labels == k))} for k, r in enumerate(minima)],
            "diverged": int(np.count_nonzero(labels == descent.DIVERGED)),
            "unconverged": int(np.count_nonzero(labels == descent.UNCONVERGED)),
            "optimizer": name,
            "learning_rate": plan.lr,
            "steps": plan.steps,
            "device": self.device_name,
            "seconds": time.perf_counter() - t0,
        }

    def evaluate_matrix(self, text: str, values: Mapping | None = None, seed: int = 0,
                        sizes: Mapping[str, int] | None = None) -> dict:
        """f and its gradient with respect to every input, each shaped like its input (a vector for a vector,
        a matrix for a matrix), at ``values`` (by input: numbers, nested lists); inputs not given are drawn
        with ``seed`` (models/matrix.py). Symbolic sizes come from ``sizes``, the values given, or DEFAULT_SIZE.
        Returns {"function", "inputs": {name: {"shape", "value"}}, "value", "shape", "gradients" (None when f is
        not a number), "seed", "sizes", "device", "seconds"}."""
        expression = parse(text)
        try:
            inputs, used = matrix.inputs_for(expression, seed, sizes, values)
        except ValueError as exc:
            raise EngineError(str(exc)) from None
        t0 = time.perf_counter()
        with tf.device(self.device):
            value, grads, _ = self._arrays(expression, inputs)
        shapes = {name: expression.shape(name).concrete(used) for name in expression.inputs}
        return {  # numpy arrays (they pickle whole, as a grid's do; the CLI writes them as lists)
            "function": expression.output,
            "inputs": {name: {"shape": shapes[name].size, "value": inputs[name]} for name in inputs},
            "value": value,
            "shape": expression.output_shape.concrete(used).size,
            "gradients": grads if expression.output_shape.scalar else None,
            "seed": int(seed),
            "sizes": used,
            "device": self.device_name,
            "seconds": time.perf_counter() - t0,
        }

    def check_derivatives(self, text: str, derivatives: str, seed: int = 0, draws: int = matrix.CHECK_DRAWS,
                          sizes: Mapping[str, int] | None = None, axes: Sequence[str] | None = None,
                          ranges: Sequence[tuple[float, float]] | None = None, n: int = 101,
                          params: Mapping[str, float] | None = None) -> dict:
        """Derivatives a user wrote (``d/dx = (A + A^T) x``, one per line) against TensorFlow's gradient.

        A formula with vectors or matrices: over ``draws`` random draws of every input (and of its symbolic
        sizes, unless given) with ``seed``. A formula of numbers: on an n x n grid over ``ranges`` of ``axes``
        (default: its plot axes over [-2, 2]), the parameters at ``params``; the result also holds the
        error map (the largest relative error of any derivative at each grid point). See models/matrix.py.
        Returns {"mode": "draws"|"grid", "results": [verdict per derivative], "agrees", "seed", "draws" |
        "axes", "coords", "map", "device", "seconds"}."""
        expression = parse(text)
        written = parse_derivatives(expression, derivatives)
        t0 = time.perf_counter()
        try:
            out = (self._check_draws(expression, written, seed, draws, sizes) if expression.matrix
                   else self._check_grid(expression, written, axes, ranges, n, params or {}))
        except ValueError as exc:
            raise EngineError(str(exc)) from None
        results = out["results"]
        out["agrees"] = None if any(r["agrees"] is None for r in results) else all(r["agrees"] for r in results)
        out.update(device=self.device_name, seconds=time.perf_counter() - t0)
        return out

    def _arrays(self, expression, inputs, written=()):
        """Value and gradients (and derivatives' values) through the kernel kept for this formula: the window
        asks for the same formula with new values, and its check, again and again."""
        key = (expression.text, tuple(d.text for d in written))
        kernel = self._kernels.pop(key, None) or ArrayGradients(expression, written)
        self._kernels[key] = kernel
        while len(self._kernels) > KEPT_KERNELS:
            del self._kernels[next(iter(self._kernels))]  # the least recently used
        try:
            return kernel(inputs)
        except tf.errors.InvalidArgumentError as exc:
            if "invertible" in str(exc):
                raise EngineError("a matrix is not invertible at these values (inv, or ^-1, of a singular matrix)") \
                    from None
            raise

    def _check_draws(self, expression, written, seed, draws, sizes) -> dict:
        groups = matrix.check_draws(expression, seed, draws, sizes)
        errors = {d.wrt: np.full(draws, np.nan) for d in written}
        scales = {d.wrt: np.ones(draws) for d in written}
        kept = {}  # draw -> (sizes, inputs, {wrt: (tf gradient, yours)}) for the worst draws
        with tf.device(self.device):
            for used, numbers, inputs in groups:
                value, grads, yours = self._arrays(expression, inputs, written)
                for d, c in zip(written, yours):
                    e, scale = matrix.relative_errors(value, grads[d.wrt], c)
                    errors[d.wrt][numbers], scales[d.wrt][numbers] = e, scale
                kept.update({k: (used, inputs, grads, yours, j) for j, k in enumerate(numbers)})
        results = []
        for c_index, d in enumerate(written):
            e = errors[d.wrt]
            detail = None
            if np.any(~np.isnan(e)):
                worst = int(np.argmax(np.where(np.isnan(e), -1.0, e)))
                used, inputs, grads, yours, j = kept[worst]
                shape = expression.shape(d.wrt).concrete(used)
                detail = {"draw": worst + 1, "sizes": used, "relative_error": float(e[worst]),
                          "values": {name: matrix.shown(v[j]) for name, v in inputs.items()},
                          "entries": matrix.differing_entries(d.wrt, shape, grads[d.wrt][j],
                                                              np.broadcast_to(yours[c_index], grads[d.wrt].shape)[j],
                                                              float(scales[d.wrt][worst]))}
            results.append(matrix.verdict(d, e, "draws", detail))
        return {"mode": "draws", "results": results, "seed": int(seed), "draws": int(draws),
                "sizes": {s: sorted({used[s] for used, _, _ in groups}) for s in expression.symbols}}

    def _check_grid(self, expression, written, axes, ranges, n, params) -> dict:
        axes = list(axes or expression.axes)
        if not axes or len(axes) > 2:
            raise EngineError("the formula has no variable to check along")
        ranges = [tuple(map(float, r)) for r in (ranges or [(-2.0, 2.0)] * len(axes))]
        if len(ranges) != len(axes):
            raise EngineError(f"give one range per axis ({', '.join(axes)})")
        check_box(ranges, n)
        split = split_inputs(expression, axes, params)
        coords = [linspace(lo, hi, n) for lo, hi in ranges]
        mesh = [m.reshape(-1) for m in np.meshgrid(*coords, indexing="ij")]
        inputs = dict(zip(axes, mesh))
        inputs.update({p: np.full(mesh[0].shape, v) for p, v in zip(split.params, split.param_values)})
        with tf.device(self.device):
            value, grads, yours = self._arrays(expression, inputs, written)
        results, worst_map = [], np.full(mesh[0].shape, np.nan)
        for d, c in zip(written, yours):
            e, _ = matrix.relative_errors(value, grads[d.wrt], c)
            worst_map = np.fmax(worst_map, e)  # NaN only where every derivative's error is
            detail = None
            if np.any(~np.isnan(e)):
                k = int(np.argmax(np.where(np.isnan(e), -1.0, e)))
                detail = {"point": {a: float(m[k]) for a, m in zip(axes, mesh)}, "relative_error": float(e[k]),
                          "yours": float(np.broadcast_to(c, value.shape)[k]), "tensorflow": float(grads[d.wrt][k])}
            results.append(matrix.verdict(d, e, "points of the box", detail))
        shape = tuple(len(c) for c in coords)
        return {"mode": "grid", "results": results, "axes": axes, "coords": coords, "ranges": ranges,
                "params": dict(zip(split.params, map(float, split.param_values))),
                "map": worst_map.reshape(shape)}

    @staticmethod
    def _per_variable(given, names: Sequence[str], what: str, default: float) -> np.ndarray:
        """A vector from a dict by variable name or a sequence in the variables' order."""
        if given is None:
            return np.full(len(names), float(default))
        if isinstance(given, Mapping):
            unknown = [k for k in given if k not in names]
            if unknown:
                raise EngineError(f"{what} names '{unknown[0]}', which is not one of the variables "
                                  f"({', '.join(names)})")
            try:
                out = np.array([float(given.get(name, default)) for name in names])
            except (TypeError, ValueError):
                raise EngineError(f"{what} must be numbers, one per variable ({', '.join(names)})") from None
        else:
            try:
                values = list(np.asarray(given, dtype=np.float64).reshape(-1))
            except (TypeError, ValueError):
                raise EngineError(f"{what} must be numbers, one per variable ({', '.join(names)})") from None
            if len(values) != len(names):
                raise EngineError(f"{what} needs {len(names)} number{'s' if len(names) != 1 else ''}, "
                                  f"one per variable ({', '.join(names)}); got {len(values)}")
            out = np.array(values, dtype=np.float64)
        if not np.all(np.isfinite(out)):
            raise EngineError(f"{what} must be finite numbers")
        return out
