"""Gradient descent and its adaptations, several runs advancing together.

Optimizers (update rules as tf.keras.optimizers, default hyperparameters as there):

    gd        x <- x - lr g                                        (SGD)
    momentum  m <- mu m - lr g;  x <- x + m                        (SGD(momentum=mu))
    nesterov  m <- mu m - lr g;  x <- x + mu m - lr g              (SGD(momentum=mu, nesterov=True))
    adagrad   a <- a + g^2 (a starts at 0.1);  x <- x - lr g / sqrt(a + eps)
    rmsprop   a <- rho a + (1 - rho) g^2;      x <- x - lr g / sqrt(a + eps)
    adam      m <- m + (g - m)(1 - b1);  v <- v + (g^2 - v)(1 - b2);
              x <- x - m alpha / (sqrt(v) + eps),  alpha = lr sqrt(1 - b2^t) / (1 - b1^t)
              (the b^t of alpha from b rounded to float32, as keras computes them)
    newton    x <- x - damping H^-1 g where H is positive definite; elsewhere the step falls back to
              x - lr g, and the run records (and its message says) that it did.

Learning-rate schedules as keras' (evaluated at the optimizer's iteration count, 0 on the first step):
constant; exponential  lr decay_rate^(step / decay_steps); cosine  lr ((1 - alpha) c + alpha) with
c = (1 + cos(pi min(step, decay_steps) / decay_steps)) / 2.

Every run evaluates f and its gradient at all runs' points in one batched call per step (the
``evaluate`` callable handed in: the TensorFlow engine's). The update arithmetic is numpy float64.
A run stops when |grad f| < tol (converged), after ``steps`` updates (max_steps), or when its value,
gradient or point stops being finite or the point leaves the box scaled DIVERGE_FACTOR times about
its centre (diverged); the step where it happened is recorded.

Pure numpy: no Qt, no TensorFlow.
"""
from __future__ import annotations

import math
from typing import Callable, Mapping, Sequence

import numpy as np

from . import approximation

OPTIMIZERS = ("gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "newton")
HYPERPARAMETERS = {
    "gd": {},
    "momentum": {"momentum": 0.9},
    "nesterov": {"momentum": 0.9},
    "adagrad": {"initial_accumulator_value": 0.1, "epsilon": 1e-7},
    "rmsprop": {"rho": 0.9, "epsilon": 1e-7},
    "adam": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    "newton": {"damping": 1.0},
}
# Which optimizers keep a velocity (a running step or first moment) and an accumulator (of g^2).
HAS_VELOCITY = ("momentum", "nesterov", "adam")
HAS_ACCUMULATOR = ("adagrad", "rmsprop", "adam")
SCHEDULES = ("constant", "exponential", "cosine")
DEFAULT_DECAY_RATE = 0.1  # exponential: the rate falls to a tenth over decay_steps (default: the whole run)
DIVERGE_FACTOR = 100.0    # a point this many box half-widths from the box's centre has diverged
DEFAULT_HALF_WIDTH = 5.0  # the box when none is given: [-5, 5] per variable, widened to hold the starts
MAX_STEPS = 1_000_000


class DescentError(ValueError):
    """A descent request that cannot run, worded for the user."""


# ----------------------------------------------------------------------------- checking the request
def _number(value, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise DescentError(f"{what} must be a number (got {value!r})") from None
    if not math.isfinite(out):
        raise DescentError(f"{what} must be finite")
    return out


def check_optimizers(names) -> tuple[str, ...]:
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    names = tuple(str(n).strip().lower() for n in names)
    if not names:
        raise DescentError("name at least one optimizer: " + ", ".join(OPTIMIZERS))
    for name in names:
        if name not in OPTIMIZERS:
            raise DescentError(f"unknown optimizer '{name}': use one of {', '.join(OPTIMIZERS)}")
    return names


_RANGES = {  # name -> (lowest, highest, lowest included, highest included)
    "momentum": (0.0, 1.0, True, True),
    "beta_1": (0.0, 1.0, True, False),
    "beta_2": (0.0, 1.0, True, False),
    "rho": (0.0, 1.0, True, False),
    "epsilon": (0.0, math.inf, False, False),
    "initial_accumulator_value": (0.0, math.inf, True, False),
    "damping": (0.0, math.inf, False, False),
}


def hyperparameters_for(name: str, given: Mapping | None) -> dict:
    """The optimizer's defaults overridden by the entries of ``given`` it has (others are ignored).

    ``given`` is flat ({"momentum": 0.5, "beta_1": 0.8}) or per optimizer ({"adam": {"beta_1": 0.8}}).
    """
    out = dict(HYPERPARAMETERS[name])
    for key, value in (given or {}).items():
        if isinstance(value, Mapping):  # per optimizer ("momentum" is both an optimizer and a hyperparameter)
            if key not in OPTIMIZERS:
                raise DescentError(f"unknown optimizer '{key}' in the hyperparameters")
            if key == name:
                for k, v in value.items():
                    if k not in out:
                        raise DescentError(f"{name} has no hyperparameter '{k}' (it has "
                                           f"{', '.join(out) or 'none'})")
                    out[k] = v
            continue
        if key in out:
            out[key] = value
    for key, value in out.items():
        out[key] = _checked(key, value)
    return out


def _checked(key: str, value) -> float:
    value = _number(value, key)
    lo, hi, lo_in, hi_in = _RANGES[key]
    if not ((value > lo or (lo_in and value == lo)) and (value < hi or (hi_in and value == hi))):
        interval = ("[" if lo_in else "(") + f"{lo:g}, {hi:g}" + ("]" if hi_in else ")")
        raise DescentError(f"{key} must be in {interval} (got {value:g})")
    return value


def check_hyperparameters(given: Mapping | None) -> None:
    """Every flat entry names some optimizer's hyperparameter and is in its range."""
    known = {k for hp in HYPERPARAMETERS.values() for k in hp}
    for key, value in (given or {}).items():
        if isinstance(value, Mapping):
            continue
        if key not in known:
            raise DescentError(f"unknown hyperparameter '{key}': the optimizers have "
                               f"{', '.join(sorted(known))}")
        _checked(key, value)


def check_schedule(schedule, steps: int) -> dict:
    """{"name": ..., and its parameters}, from a name or a dict with "name" and any of the parameters."""
    spec = {"name": schedule} if isinstance(schedule, str) else dict(schedule or {"name": "constant"})
    name = str(spec.pop("name", "constant")).lower()
    if name not in SCHEDULES:
        raise DescentError(f"unknown schedule '{name}': use one of {', '.join(SCHEDULES)}")
    allowed = {"constant": {}, "exponential": {"decay_steps": max(steps, 1), "decay_rate": DEFAULT_DECAY_RATE},
               "cosine": {"decay_steps": max(steps, 1), "alpha": 0.0}}[name]
    for key in spec:
        if key not in allowed:
            raise DescentError(f"the {name} schedule has no parameter '{key}'"
                               + (f" (it has {', '.join(allowed)})" if allowed else ""))
    out = {"name": name}
    for key, default in allowed.items():
        value = _number(spec.get(key, default), key)
        if key == "decay_steps" and not value > 0:
            raise DescentError("decay_steps must be positive")
        if key == "decay_rate" and not value > 0:
            raise DescentError("decay_rate must be positive")
        if key == "alpha" and not 0 <= value <= 1:
            raise DescentError("alpha must be in [0, 1]")
        out[key] = value
    return out


def learning_rate(lr: float, schedule: Mapping, step):
    """The learning rate at iteration ``step`` (0 on the first update), as keras' schedules give it."""
    step = np.asarray(step, dtype=np.float64)
    name = schedule["name"]
    if name == "constant":
        return lr + 0.0 * step
    if name == "exponential":
        return lr * np.power(schedule["decay_rate"], step / schedule["decay_steps"])
    fraction = np.minimum(step, schedule["decay_steps"]) / schedule["decay_steps"]
    cosine = 0.5 * (1.0 + np.cos(np.pi * fraction))
    return lr * ((1.0 - schedule["alpha"]) * cosine + schedule["alpha"])


# ----------------------------------------------------------------------------- the optimizers
class _Group:
    """The runs that use one optimizer: their state as (k, n) arrays, updated together."""

    def __init__(self, name: str, hp: dict, rows: np.ndarray, n: int):
        self.name, self.hp, self.rows = name, hp, rows
        k = len(rows)
        self.velocity = np.zeros((k, n)) if name in HAS_VELOCITY else None
        start = hp.get("initial_accumulator_value", 0.0)
        self.accumulator = np.full((k, n), start) if name in HAS_ACCUMULATOR else None
        self.fallback = np.zeros(k, bool)

    def step(self, local: np.ndarray, g: np.ndarray, lr: float, iteration: int, H=None) -> np.ndarray:
        """The update for the group's runs ``local`` (indices into the group), with their gradients g."""
        name, hp = self.name, self.hp
        if name == "gd":
            return -(g * lr)
        if name in ("momentum", "nesterov"):
            mu = hp["momentum"]
            m = self.velocity[local] * mu - g * lr
            self.velocity[local] = m
            return m if name == "momentum" else m * mu - g * lr
        if name == "adagrad":
            a = self.accumulator[local] + np.square(g)
            self.accumulator[local] = a
            return -((lr * g) / np.sqrt(a + hp["epsilon"]))
        if name == "rmsprop":
            rho = hp["rho"]
            a = rho * self.accumulator[local] + (1 - rho) * np.square(g)
            self.accumulator[local] = a
            return -((lr * g) / np.sqrt(a + hp["epsilon"]))
        if name == "adam":
            b1, b2, t = hp["beta_1"], hp["beta_2"], float(iteration + 1)
            # keras casts the betas of the bias correction through float32 (ops.cast of a Python float
            # makes a float32 tensor first); the moment updates use them in full precision.
            p1, p2 = float(np.float32(b1)) ** t, float(np.float32(b2)) ** t
            alpha = lr * np.sqrt(1 - p2) / (1 - p1)
            m = self.velocity[local]
            m = m + (g - m) * (1 - b1)
            v = self.accumulator[local]
            v = v + (np.square(g) - v) * (1 - b2)
            self.velocity[local], self.accumulator[local] = m, v
            return -((m * alpha) / (np.sqrt(v) + hp["epsilon"]))
        assert name == "newton"
        out = np.empty_like(g)
        for j in range(len(g)):
            d = approximation.newton_step(g[j], H[j])
            self.fallback[local[j]] = d is None
            out[j] = -(g[j] * lr) if d is None else hp["damping"] * d
        return out


# ----------------------------------------------------------------------------- the runs
def pair_runs(starts: np.ndarray, optimizers: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """One start for all optimizers, one optimizer for all starts, or one start per optimizer."""
    s, o = len(starts), len(optimizers)
    if s == 1:
        return np.repeat(starts, o, axis=0), list(optimizers)
    if o == 1:
        return starts, list(optimizers) * s
    if s != o:
        raise DescentError(f"give one start point for all optimizers or one per optimizer "
                           f"({o} optimizers, {s} start points)")
    return starts, list(optimizers)


def default_box(starts: np.ndarray) -> np.ndarray:
    """[-5, 5] per variable, widened to hold every start; (n, 2)."""
    lo = np.minimum(-DEFAULT_HALF_WIDTH, starts.min(axis=0))
    hi = np.maximum(DEFAULT_HALF_WIDTH, starts.max(axis=0))
    return np.stack([lo, hi], axis=1)


def check_box(box, n: int) -> np.ndarray:
    try:
        out = np.asarray(box, dtype=np.float64).reshape(n, 2)
    except (TypeError, ValueError):
        raise DescentError(f"the box needs a (low, high) range for each of the {n} variables") from None
    if not np.all(np.isfinite(out)) or not np.all(out[:, 0] < out[:, 1]):
        raise DescentError("each range of the box must go from a smaller to a larger finite number")
    return out


def descend(evaluate: Callable, variables: Sequence[str], starts, optimizers=("gd",), lr: float = 0.01,
            steps: int = 1000, tol: float = 1e-8, hyperparameters: Mapping | None = None,
            schedule="constant", box=None, path: bool = True) -> dict:
    """Run the optimizers; ``evaluate(points (R, n), hessian: bool) -> (values, gradients, Hessians|None)``.

    Returns {"runs": [...]}: per run its optimizer, hyperparameters, start, status, steps (the step
    where it stopped), message, final point/value/grad_norm, stable_learning_rate (for a diverged
    run whose start has a positive definite Hessian) and, with ``path``, one record per step.
    """
    variables = list(variables)
    n = len(variables)
    if n == 0:
        raise DescentError("the formula has no variable to descend in")
    names = check_optimizers(optimizers)
    starts = np.asarray(starts, dtype=np.float64).reshape(-1, n)
    if len(starts) == 0:
        raise DescentError("give a start point")
    if not np.all(np.isfinite(starts)):
        raise DescentError("start points must have finite coordinates")
    lr = _number(lr, "the learning rate")
    if not lr > 0:
        raise DescentError(f"the learning rate must be positive (got {lr:g})")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 0 <= steps <= MAX_STEPS:
        raise DescentError(f"steps must be a whole number from 0 to {MAX_STEPS} (got {steps!r})")
    tol = _number(tol, "the tolerance")
    if tol < 0:
        raise DescentError("the tolerance must not be negative")
    check_hyperparameters(hyperparameters)
    sched = check_schedule(schedule, int(steps))
    X, run_names = pair_runs(starts, names)
    X0, X = X.copy(), X.copy()
    R = len(X)
    box = default_box(X) if box is None else check_box(box, n)
    centre, half = box.mean(axis=1), 0.5 * (box[:, 1] - box[:, 0])

    groups = []
    for name in dict.fromkeys(run_names):
        rows = np.array([r for r in range(R) if run_names[r] == name])
        groups.append(_Group(name, hyperparameters_for(name, hyperparameters), rows, n))
    group_of = np.empty(R, int)
    local_of = np.empty(R, int)
    for gi, grp in enumerate(groups):
        group_of[grp.rows] = gi
        local_of[grp.rows] = np.arange(len(grp.rows))
    newton_rows = np.array([run_names[r] == "newton" for r in range(R)])

    active = np.ones(R, bool)
    status = [""] * R
    stop = np.zeros(R, int)
    why = [""] * R
    fallbacks = np.zeros(R, int)
    record = []  # per step: (X, v, g, |g|, lr, update, velocity, accumulator, fallback)
    last = {}    # without ``path``: run -> its final (X, v, g, |g|)
    for k in range(int(steps) + 1):
        v, g, H = evaluate(X, bool(np.any(newton_rows & active)))
        v, g = np.asarray(v, np.float64).reshape(R), np.asarray(g, np.float64).reshape(R, n)
        gnorm = np.linalg.norm(g, axis=1)
        with np.errstate(invalid="ignore"):
            outside = np.any(np.abs(X - centre) > DIVERGE_FACTOR * half, axis=1)
        point_bad = ~np.all(np.isfinite(X), axis=1)
        value_bad = ~np.isfinite(v)
        grad_bad = ~np.all(np.isfinite(g), axis=1)
        rate = float(learning_rate(lr, sched, k))
        for r in np.flatnonzero(active):
            reason = ("the point is no longer finite" if point_bad[r] else
                      f"the point left the box {DIVERGE_FACTOR:g} times enlarged about its centre"
                      if outside[r] else
                      f"the value became {v[r]}" if value_bad[r] else
                      "the gradient is not defined there" if grad_bad[r] else None)
            if reason is not None:
                status[r], why[r] = "diverged", reason
            elif gnorm[r] < tol:
                status[r] = "converged"
            elif k == steps:
                status[r] = "max_steps"
            else:
                continue
            active[r] = False
            stop[r] = k
        update = np.full((R, n), np.nan)
        step_fallback = np.zeros(R, bool)
        for gi, grp in enumerate(groups):
            rows = grp.rows[active[grp.rows]]
            if len(rows) == 0:
                continue
            local = local_of[rows]
            hess = None if H is None else np.asarray(H)[rows]
            update[rows] = grp.step(local, g[rows], rate, k, hess)
            if grp.name == "newton":
                step_fallback[rows] = grp.fallback[local]
                fallbacks[rows] += grp.fallback[local]
        velocity = np.full((R, n), np.nan)
        accumulator = np.full((R, n), np.nan)
        for grp in groups:
            if grp.velocity is not None:
                velocity[grp.rows] = grp.velocity
            if grp.accumulator is not None:
                accumulator[grp.rows] = grp.accumulator
        if path:
            record.append((X.copy(), v, g, gnorm, rate, update, velocity, accumulator, step_fallback))
        else:
            for r in np.flatnonzero(~active & (stop == k)):
                last[r] = (X[r].copy(), v[r], g[r].copy(), gnorm[r])
        if not active.any():
            break
        X[active] = X[active] + update[active]

    # A diverged run's message offers the learning rate at which plain descent is stable near its start.
    diverged = [r for r in range(R) if status[r] == "diverged"]
    stable = {}
    if diverged:
        _, _, H0 = evaluate(X0[diverged], True)
        for j, r in enumerate(diverged):
            stable[r] = approximation.stable_learning_rate(H0[j])

    def named(a):
        return {name: float(c) for name, c in zip(variables, a)}

    runs = []
    for r in range(R):
        grp = groups[group_of[r]]
        if path:
            p = []
            for k in range(stop[r] + 1):
                Xk, v, g, gnorm, rate, update, velocity, accumulator, fb = record[k]
                entry = {"step": k, "point": named(Xk[r]), "value": float(v[r]), "gradient": named(g[r]),
                         "grad_norm": float(gnorm[r]), "learning_rate": rate,
                         "update": named(update[r]) if k < stop[r] else None}
                if grp.velocity is not None:
                    entry["velocity"] = named(velocity[r]) if k < stop[r] else None
                if grp.accumulator is not None:
                    entry["accumulator"] = named(accumulator[r]) if k < stop[r] else None
                if grp.name == "newton":
                    entry["fallback"] = bool(fb[r]) if k < stop[r] else False
                p.append(entry)
            final = p[-1]
            final_point, final_value, final_norm = final["point"], final["value"], final["grad_norm"]
        else:
            Xr, vr, gr, nr = last[r]
            final_point, final_value, final_norm = named(Xr), float(vr), float(nr)
        run = {
            "optimizer": grp.name,
            "hyperparameters": dict(grp.hp),
            "learning_rate": lr,
            "schedule": dict(sched),
            "start": named(X0[r]),
            "status": status[r],
            "steps": int(stop[r]),
            "message": _message(status[r], int(stop[r]), why[r], final_norm, tol, stable.get(r),
                                int(fallbacks[r]) if grp.name == "newton" else 0, lr),
            "point": final_point,
            "value": final_value,
            "grad_norm": final_norm,
            "stable_learning_rate": stable.get(r),
        }
        if grp.name == "newton":
            run["newton_fallbacks"] = int(fallbacks[r])
        if path:
            run["path"] = p
        runs.append(run)
    return {"variables": variables, "box": box.tolist(), "runs": runs}


def _message(status: str, step: int, why: str, grad_norm: float, tol: float, stable: float | None,
             fallbacks: int, lr: float) -> str:
    if status == "converged":
        text = f"converged at step {step}: |grad f| = {grad_norm:.3g} < {tol:g}"
    elif status == "max_steps":
        text = f"stopped after {step} steps without converging: |grad f| = {grad_norm:.3g} (tolerance {tol:g})"
    else:
        text = f"diverged at step {step}: {why}"
        if stable is not None:
            text += (f"; the Hessian at the start is positive definite and plain gradient descent is stable "
                     f"there for learning rates below 2/lambda_max = {stable:.4g} (this run used {lr:g})")
        else:
            text += "; the Hessian at the start is not positive definite, so no learning rate is stable there"
    if fallbacks:
        text += (f"; Newton's step fell back to a gradient step {fallbacks} time{'s' if fallbacks != 1 else ''}"
                 f" where the Hessian was not positive definite")
    return text
