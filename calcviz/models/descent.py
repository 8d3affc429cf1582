"""Gradient descent and its adaptations, several runs advancing together.

Optimizers: gd, momentum, nesterov, adagrad, rmsprop, adam (update rules as tf.keras.optimizers,
default hyperparameters as there) and damped Newton; OPTIMIZER_FORMS says which published form each
follows, with its update rule (for ``calcviz descend --help`` and the window's tooltips).

Learning-rate schedules as keras' (evaluated at the optimizer's iteration count, 0 on the first step):
constant; exponential  lr decay_rate^(step / decay_steps); cosine  lr ((1 - alpha) c + alpha) with
c = (1 + cos(pi min(step, decay_steps) / decay_steps)) / 2.

All runs advance together in the engine's compiled loop (Compiled.descend in autodiff.py), one batched
value-and-gradient evaluation per step (Hessians too when a Newton run is present), in float64. This
module holds the arithmetic of a step (``step``: ``stop_codes``, ``updates``), written against an
``ops`` namespace the engine fills with TensorFlow's functions, so it exists once; with numpy's
(``NUMPY_OPS``, ``run_steps``) it steps a race before its loop is compiled. The request checking
(``plan``) and the result (``report``) are numpy. A run stops when |grad f| < tol (converged), after
``steps`` updates (max_steps), or when its value, gradient or point stops being finite or the point
leaves the box scaled DIVERGE_FACTOR times about its centre (diverged); the step where it happened is
recorded. A converged run also says what it reached, from the Hessian there (``reached``): a minimum, or
a saddle, a maximum or a degenerate point, where the gradient vanishes but a nudge would leave (or the
second-derivative test cannot tell). ``label_basins`` names the minimum each of many runs reached
(basins of attraction).

No Qt, no TensorFlow imported here.
"""
from __future__ import annotations

import functools
import gc
import math
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from . import approximation, critical

OPTIMIZERS = ("gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "newton")
OPTIMIZER_LABELS = {"gd": "Gradient descent", "momentum": "Momentum", "nesterov": "Nesterov", "adagrad": "AdaGrad",
                    "rmsprop": "RMSProp", "adam": "Adam", "newton": "Newton"}
# The published form each optimizer follows (checked against ``updates`` below and keras 3's optimizers).
OPTIMIZER_FORMS = {
    "gd": "Plain gradient descent as keras SGD: x <- x - lr g.",
    "momentum": "Polyak's heavy ball in keras' form, SGD(momentum=mu): m <- mu m - lr g; x <- x + m (the "
                "velocity m holds the step itself, lr included).",
    "nesterov": "Nesterov's accelerated gradient in keras' form, SGD(momentum=mu, nesterov=True): "
                "m <- mu m - lr g; x <- x + mu m - lr g, the look-ahead rewritten so that g is taken at x "
                "itself, not at x + mu m.",
    "adagrad": "AdaGrad (Duchi, Hazan and Singer 2011) as keras Adagrad: a <- a + g^2 with a starting at 0.1 "
               "(keras' initial_accumulator_value, not 0); x <- x - lr g / sqrt(a + eps), eps = 1e-7 inside the "
               "root.",
    "rmsprop": "RMSProp (Hinton's lecture 6e) as keras RMSprop, without momentum and not centred: "
               "a <- rho a + (1 - rho) g^2 from a = 0; x <- x - lr g / sqrt(a + eps), eps = 1e-7 inside the root.",
    "adam": "Adam (Kingma and Ba 2015), Algorithm 1 with the bias corrections folded into the rate, as keras "
            "Adam: m <- m + (1 - b1)(g - m); v <- v + (1 - b2)(g^2 - v); x <- x - alpha m / (sqrt(v) + eps), "
            "alpha = lr sqrt(1 - b2^t) / (1 - b1^t) (b^t from b rounded to float32, as keras); eps = 1e-7 "
            "outside the root (the paper's 1e-8).",
    "newton": "Damped Newton: x <- x - damping H^-1 g where the Hessian H is positive definite; elsewhere a "
              "gradient step x <- x - lr g, which the run counts and its message reports (calcviz's safeguard, "
              "not a published variant).",
}
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
# Newton's n x n Hessians make the compiled loop grow fast with n: measured (two cores) 2.1 GB and
# 48 s to build at 99 variables, 5.7 GB and 3.5 min at 200, past 24 GB at 400.
MAX_NEWTON_VARIABLES = 100
STEPS_PER_CALL = 4096  # the engine's loop runs at most this many steps per call (a power of two) ...
PATH_BUFFER_MB = 64    # ... and fewer when recording that many steps of all runs would take more


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


# ----------------------------------------------------------------------------- the update rules
# Written once, against ``ops`` (the engine hands in TensorFlow's, and runs them inside its compiled
# loop): where(cond, a, b) (broadcasting), sqrt, abs, isfinite, all_rows / any_rows (reduce every
# axis but the first), float32 (round through float32, back to float64), eigh (batched, ascending),
# matvec(A, x, transpose) (batched), transpose (batched matrices), eye(n). Plain operators do the rest.
HP_KEYS = ("momentum", "rho", "epsilon", "beta_1", "beta_2", "damping")  # the columns of Plan.table

# A run's stop code: 0 while it runs. The diverged reasons are in the order they are tested.
RUNNING, CONVERGED, OUT_OF_STEPS, POINT_NOT_FINITE, LEFT_BOX, VALUE_NOT_FINITE, GRADIENT_NOT_FINITE = range(7)
STATUS = {RUNNING: "running", CONVERGED: "converged", OUT_OF_STEPS: "max_steps"}  # any other code: "diverged"
# ("running": a race's runs reported before their end, see descend's ``partial``)


def stop_codes(ops, k, X, v, g, grad_norm, steps, tol, centre, half):
    """Each run's stop code at step k (0 = keep going) from its point, value and gradient there."""
    code = ops.where(k >= steps, OUT_OF_STEPS, RUNNING)
    code = ops.where(grad_norm < tol, CONVERGED, code)
    # later tests override earlier ones: the last written is the first reason given
    code = ops.where(~ops.all_rows(ops.isfinite(g)), GRADIENT_NOT_FINITE, code)
    code = ops.where(~ops.isfinite(v), VALUE_NOT_FINITE, code)
    code = ops.where(ops.any_rows(ops.abs(X - centre) > DIVERGE_FACTOR * half), LEFT_BOX, code)
    return ops.where(~ops.all_rows(ops.isfinite(X)), POINT_NOT_FINITE, code)


def updates(ops, used, kind, hp, t, rate, g, H, velocity, accumulator):
    """Every run's update from its gradient g (R, n), by its optimizer (kind: index into OPTIMIZERS).

    ``used`` names the optimizers present (only their rules are built); ``hp`` maps HP_KEYS to
    (R, 1) columns; t is the iteration count from 1 (Adam's bias correction); H the Hessians
    (R, n, n), needed only with Newton. Returns (update, velocity, accumulator, Newton fell back).
    """
    update, new_velocity, new_accumulator = -(g * rate), velocity, accumulator  # gd: the plain step
    fallback = kind < 0  # all False
    for name in used:
        mine = (kind == OPTIMIZERS.index(name))[:, None]
        if name in ("momentum", "nesterov"):
            mu = hp["momentum"]
            m = velocity * mu - g * rate
            step = m if name == "momentum" else m * mu - g * rate
            new_velocity = ops.where(mine, m, new_velocity)
        elif name in ("adagrad", "rmsprop"):
            rho = hp["rho"]
            a = accumulator + g * g if name == "adagrad" else rho * accumulator + (1 - rho) * (g * g)
            step = -((rate * g) / ops.sqrt(a + hp["epsilon"]))
            new_accumulator = ops.where(mine, a, new_accumulator)
        elif name == "adam":
            b1, b2 = hp["beta_1"], hp["beta_2"]
            # keras casts the betas of the bias correction through float32 (ops.cast of a Python float
            # makes a float32 tensor first); the moment updates use them in full precision.
            alpha = rate * ops.sqrt(1 - ops.float32(b2) ** t) / (1 - ops.float32(b1) ** t)
            m = velocity + (g - velocity) * (1 - b1)
            a = accumulator + (g * g - accumulator) * (1 - b2)
            step = -((m * alpha) / (ops.sqrt(a) + hp["epsilon"]))
            new_velocity = ops.where(mine, m, new_velocity)
            new_accumulator = ops.where(mine, a, new_accumulator)
        elif name == "newton":
            step, fell_back = _newton(ops, g, H, rate, hp["damping"])
            fallback = mine[:, 0] & fell_back
        else:
            continue  # gd
        update = ops.where(mine, step, update)
    return update, new_velocity, new_accumulator, fallback


def _newton(ops, g, H, rate, damping):
    """damping * -H^-1 g where H is positive definite (as approximation.newton_step judges it), else -rate g."""
    finite = ops.all_rows(ops.isfinite(H)) & ops.all_rows(ops.isfinite(g))
    n = g.shape[-1]
    S = ops.where(finite[:, None, None], 0.5 * (H + ops.transpose(H)), ops.eye(n))  # eigh needs finite input
    lam, V = ops.eigh(S)
    positive = finite & (lam[:, 0] > approximation.PD_TOL * ops.abs(lam[:, n - 1]))
    d = -ops.matvec(V, ops.matvec(V, g, True) / ops.where(positive[:, None], lam, 1.0))  # -V diag(1/lam) V^T g
    return ops.where(positive[:, None], damping * d, -(g * rate)), ~positive


def step(ops, used, k, rate, X, v, g, H, grad_norm, velocity, accumulator, code, stop, fallbacks, kind, hp, steps,
         tol, centre, half):
    """Step k of every run from its point X, where f is v with gradient g (and Hessian H): the stop tests,
    then the update of the runs still going. The body of the engine's compiled loop (TensorFlow's ops)
    and of the numpy stepping a race starts with (``run_steps``). Returns the new X, velocity,
    accumulator, code, stop and fallbacks, and the update made and whether Newton fell back.
    """
    active = code == RUNNING
    code = ops.where(active, stop_codes(ops, k, X, v, g, grad_norm, steps, tol, centre, half), code)
    stop = ops.where(active, k, stop)  # a run's last step is the one where it stopped
    going = code == RUNNING
    update, velocity, accumulator, fallback = updates(ops, used, kind, hp, ops.float64(k + 1), rate, g, H,
                                                      velocity, accumulator)
    fallbacks = fallbacks + ops.count(fallback & going)
    return ops.where(going[:, None], X + update, X), velocity, accumulator, code, stop, fallbacks, update, fallback


# numpy's side of ``ops`` (the rules above), for run_steps
NUMPY_OPS = SimpleNamespace(
    where=np.where, sqrt=np.sqrt, abs=np.abs, isfinite=np.isfinite,
    all_rows=lambda a: a.reshape(len(a), -1).all(axis=1), any_rows=lambda a: a.reshape(len(a), -1).any(axis=1),
    float32=lambda a: np.asarray(a, np.float32).astype(np.float64), eigh=np.linalg.eigh,
    matvec=lambda A, x, transpose=False: np.einsum("bji,bj->bi" if transpose else "bij,bj->bi", A, x),
    transpose=lambda A: np.swapaxes(A, -1, -2), eye=np.eye, float64=np.float64,
    count=lambda b: b.astype(np.int32))


def run_steps(evaluate: Callable, used: tuple[str, ...], p: "Plan", state: tuple, first: int, count: int,
              path: bool) -> tuple[tuple, list]:
    """Steps ``first`` to ``first + count - 1`` of every run (fewer once no run is going), in numpy: the
    compiled loop's arithmetic (``step``) without its compile. ``evaluate(X)`` gives f, its gradient and
    Hessian at the runs' points (the formula's traced point function). ``state`` and the result's state
    are (X, velocity, accumulator, code, stop, fallbacks); the records are the loop's, one (R, 5n + 3)
    row block per step.
    """
    X, velocity, accumulator, code, stop, fallbacks = state
    hp = {key: p.table[:, i:i + 1] for i, key in enumerate(HP_KEYS)}
    centre, half = p.box.mean(axis=1), 0.5 * (p.box[:, 1] - p.box[:, 0])
    records = []
    with np.errstate(all="ignore"):
        for k in range(first, first + count):
            if not np.any(code == RUNNING):
                break
            v, g, H = evaluate(X)
            norm = np.sqrt((g * g) @ np.ones(g.shape[1]))
            moved, velocity, accumulator, code, stop, fallbacks, update, fallback = step(
                NUMPY_OPS, used, k, p.rates[k], X, v, g, H, norm, velocity, accumulator, code, stop, fallbacks,
                p.kind, hp, p.steps, p.tol, centre, half)
            if path:
                records.append(np.concatenate([X, g, update, velocity, accumulator,
                                               np.stack([v, norm, fallback.astype(np.float64)], axis=1)], axis=1))
            X = moved
    return (X, velocity, accumulator, code, stop, fallbacks), records


# ----------------------------------------------------------------------------- the request
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


@dataclass(frozen=True)
class Plan:
    """A checked request, as the arrays the engine's loop takes: one row per run."""

    variables: list[str]
    names: list[str]            # each run's optimizer
    hyperparameters: dict       # optimizer -> its hyperparameters
    starts: np.ndarray          # (R, n)
    kind: np.ndarray            # (R,) int32: index into OPTIMIZERS
    table: np.ndarray           # (R, len(HP_KEYS)): each run's hyperparameters (0 where it has none)
    accumulator: np.ndarray     # (R, n): the accumulator's start (AdaGrad's initial value, else 0)
    rates: np.ndarray           # (steps + 1,): the learning rate at each step
    lr: float
    steps: int
    tol: float
    schedule: dict
    box: np.ndarray             # (n, 2)

    @property
    def used(self) -> tuple[str, ...]:
        """The optimizers present, in OPTIMIZERS' order (the engine compiles a loop per set)."""
        return tuple(name for name in OPTIMIZERS if name in self.hyperparameters)

    def take(self, rows) -> "Plan":
        """The same request for the runs ``rows`` only."""
        rows = np.asarray(rows)
        return replace(self, names=[self.names[r] for r in rows], starts=self.starts[rows], kind=self.kind[rows],
                       table=self.table[rows], accumulator=self.accumulator[rows])


def plan(variables: Sequence[str], starts, optimizers=("gd",), lr: float = 0.01, steps: int = 1000,
         tol: float = 1e-8, hyperparameters: Mapping | None = None, schedule="constant", box=None) -> Plan:
    """Check a request (DescentError says what is wrong) and lay it out as arrays."""
    variables = list(variables)
    n = len(variables)
    if n == 0:
        raise DescentError("the formula has no variable to descend in")
    names = check_optimizers(optimizers)
    if "newton" in names and n > MAX_NEWTON_VARIABLES:
        raise DescentError(f"Newton's method takes at most {MAX_NEWTON_VARIABLES} variables (this formula has {n}): "
                           f"its Hessians grow with the square of their number; the other optimizers take more")
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
    box = default_box(X) if box is None else check_box(box, n)
    hp = {name: hyperparameters_for(name, hyperparameters) for name in dict.fromkeys(run_names)}
    position = {name: i for i, name in enumerate(hp)}
    which = np.fromiter((position[name] for name in run_names), np.int64, len(run_names))  # run -> its optimizer
    kind = np.array([OPTIMIZERS.index(name) for name in hp], np.int32)[which]
    table = np.array([[hp[name].get(key, 0.0) for key in HP_KEYS] for name in hp], np.float64)[which]
    start = np.array([hp[name].get("initial_accumulator_value", 0.0) for name in hp], np.float64)[which]
    return Plan(variables, run_names, hp, X.copy(), kind, table, np.repeat(start[:, None], n, axis=1),
                np.asarray(learning_rate(lr, sched, np.arange(int(steps) + 1)), np.float64),
                lr, int(steps), tol, sched, box)


# ----------------------------------------------------------------------------- the runs
def descend(loop: Callable, hessians: Callable, variables: Sequence[str], starts, optimizers=("gd",),
            lr: float = 0.01, steps: int = 1000, tol: float = 1e-8, hyperparameters: Mapping | None = None,
            schedule="constant", box=None, path: bool = True, partial: Callable | None = None) -> dict:
    """Run the optimizers: ``loop(plan, path) -> arrays`` (the engine's compiled loop, see ``report``),
    ``hessians(points (B, n)) -> (B, n, n)`` (for diverged runs' stable learning rates and what the
    converged runs reached).

    Returns {"variables", "box", "runs": [...]}: per run its optimizer, hyperparameters, start, status,
    steps (the step where it stopped), message, final point/value/grad_norm, stable_learning_rate (for
    a diverged run whose start has a positive definite Hessian), reached, reached_eigenvalues and
    escape_direction (see ``reached``; None unless the run converged) and, with ``path``, one record
    per step (with ``path="columns"`` the same as numpy columns: see ``path_columns``). With ``partial``,
    ``loop(plan, path, report)`` may report the steps so far first, and ``partial`` gets each as a result
    of the same form (runs still going: status "running").
    """
    p = plan(variables, starts, optimizers, lr, steps, tol, hyperparameters, schedule, box)
    out = loop(p, bool(path)) if partial is None else loop(
        p, bool(path), lambda part: partial(report(p, part, {}, columns=path == "columns")))
    # A diverged run's message offers the learning rate at which plain descent is stable near its start.
    diverged = np.flatnonzero(out["code"] >= POINT_NOT_FINITE)
    stable = {}
    if len(diverged):
        H0 = hessians(p.starts[diverged])
        stable = {int(r): approximation.stable_learning_rate(H0[j]) for j, r in enumerate(diverged)}
    converged = np.flatnonzero(out["code"] == CONVERGED)
    ends = {}
    if len(converged):
        ends = dict(zip(converged.tolist(), reached(hessians, out["X"][converged], out["gradient"][converged])))
    return report(p, out, stable, ends, columns=path == "columns")


REACHED = {"min": "minimum", "max": "maximum", "saddle": "saddle", "degenerate": "degenerate"}
HESSIAN_DRIFT = 0.25  # eigenvalues changing by more than this fraction on the way to the critical point: degenerate


def reached(hessians: Callable, X: np.ndarray, g: np.ndarray) -> list[tuple[str, list, list | None]]:
    """What each converged run reached, from the Hessian at its end point X (gradient g there).

    The run stopped where |g| < tol, near but not at a critical point: Newton's step d = -H^+ g
    points the rest of the way. When the Hessian's eigenvalues at X and at X + d have the same signs
    and differ by less than HESSIAN_DRIFT, the second-derivative test holds there: "minimum", "saddle"
    or "maximum". Otherwise (x^3 or x^4 at 0, whose Hessian vanishes as the run closes in) it is
    "degenerate": the test cannot tell. Returns per run (reached, Hessian eigenvalues at X, and for a
    saddle or maximum the unit direction of steepest descent of the curvature: a nudge along it
    leaves, else None).
    """
    H = hessians(X)
    S = 0.5 * (H + np.swapaxes(H, -1, -2))
    finite = np.isfinite(S).all(axis=(1, 2))
    S = np.where(finite[:, None, None], S, 0.0)
    lam, V = np.linalg.eigh(S)
    keep = np.abs(lam) > 1e-12 * np.abs(lam).max(axis=1, keepdims=True)
    inverse = np.where(keep, 1.0 / np.where(keep, lam, 1.0), 0.0)
    d = -np.einsum("bij,bj->bi", V, inverse * np.einsum("bji,bj->bi", V, g))  # -H^+ g
    lam_next = np.linalg.eigvalsh(0.5 * (lambda A: A + np.swapaxes(A, -1, -2))(hessians(X + d)))
    kind, kind_next = critical.classify(lam), critical.classify(lam_next)
    with np.errstate(invalid="ignore"):
        drift = np.any(np.abs(lam_next - lam) > HESSIAN_DRIFT * np.abs(lam), axis=1)
    out = []
    for r in range(len(X)):
        if not finite[r] or kind[r] != kind_next[r] or drift[r]:
            out.append(("degenerate", lam[r].tolist() if finite[r] else None, None))
            continue
        escape = V[r][:, 0].tolist() if kind[r] in ("saddle", "max") else None
        out.append((REACHED[str(kind[r])], lam[r].tolist(), escape))
    return out


def _collector_paused(build: Callable) -> Callable:
    """``build`` with the garbage collector off: everything it makes is live, and with TensorFlow loaded
    a full collection walks a few hundred thousand objects (about 150 ms here). Building thousands of
    result dicts with it on set one off every few calls; built with it off, a result that is dropped
    soon (the compute process pickles it and lets it go) is freed before a collection counts it."""
    @functools.wraps(build)
    def paused(*args, **kwargs):
        enabled = gc.isenabled()
        gc.disable()
        try:
            return build(*args, **kwargs)
        finally:
            if enabled:
                gc.enable()
    return paused


@_collector_paused
def report(p: Plan, out: Mapping, stable: Mapping[int, float | None], ends: Mapping[int, tuple] | None = None,
           columns: bool = False) -> dict:
    """The result of ``descend`` from the loop's arrays, as plain Python numbers (the paths as numpy
    columns with ``columns``: a million-step path as dicts takes gigabytes).

    ``out`` holds per run the final "X" (R, n), "value", "gradient", "grad_norm", the stop "code" and
    "stop" step and Newton's "fallbacks"; with a path, "path" holds per step k (first axis) "X",
    "value", "gradient", "grad_norm" at the point and the "update", "velocity", "accumulator" and
    "fallback" made there (meaningful for k below the run's stop step). ``ends`` maps a converged run to
    what it reached (see ``reached``).
    """
    variables, names = p.variables, p.names
    # Whole arrays to Python numbers at once, then comprehensions: with many runs the per-run Python
    # work is most of the call's time.
    codes, stops, values, norms, fallbacks, points = (
        out[key].tolist() for key in ("code", "stop", "value", "grad_norm", "fallbacks", "X"))
    fallbacks = [f if name == "newton" else 0 for f, name in zip(fallbacks, names)]
    stable = [stable.get(r) for r in range(len(names))]
    statuses = [STATUS.get(code, "diverged") for code in codes]
    ends = [(ends or {}).get(r, (None, None, None)) for r in range(len(names))]
    messages = [_message(status, code, stop, value, norm, p.tol, rate, fell_back, p.lr, end, variables) for
                status, code, stop, value, norm, rate, fell_back, end in
                zip(statuses, codes, stops, values, norms, stable, fallbacks, ends)]
    runs = [{"optimizer": name, "hyperparameters": dict(p.hyperparameters[name]), "learning_rate": p.lr,
             "schedule": dict(p.schedule), "start": start, "status": status, "steps": stop, "message": message,
             "point": point, "value": value, "grad_norm": norm, "stable_learning_rate": rate}
            for name, start, status, stop, message, point, value, norm, rate in
            zip(names, _named(variables, p.starts.tolist()), statuses, stops, messages,
                _named(variables, points), values, norms, stable)]
    for r, run in enumerate(runs):
        kind, eigenvalues, escape = ends[r]
        run.update(reached=kind, reached_eigenvalues=eigenvalues,
                   escape_direction=None if escape is None else dict(zip(variables, escape)))
        if names[r] == "newton":
            run["newton_fallbacks"] = fallbacks[r]
        if "path" in out:
            path = path_columns(out["path"], r, stops[r], p.rates, names[r])
            run["path"] = path if columns else list(path_records(path, variables))
    return {"variables": variables, "box": p.box.tolist(), "runs": runs}


def _named(variables: list, rows: list) -> list[dict]:
    """One {variable: value} dict per row; spelt out for two variables, where it is 4x faster."""
    if len(variables) == 2:
        a, b = variables
        return [{a: x, b: y} for x, y in rows]
    return [dict(zip(variables, row)) for row in rows]


def path_columns(rec: Mapping, r: int, stop: int, rates: np.ndarray, name: str) -> dict:
    """Run r's path as numpy columns (views on the loop's records), one row per step 0..stop:
    "step", "point" (n wide, in the variables' order), "value", "gradient", "grad_norm",
    "learning_rate"; and one row per move (steps 0..stop-1): "update", with "velocity" and
    "accumulator" for the optimizers that keep them and Newton's "fallback"."""
    out = {"step": np.arange(stop + 1), "point": rec["X"][:stop + 1, r], "value": rec["value"][:stop + 1, r],
           "gradient": rec["gradient"][:stop + 1, r], "grad_norm": rec["grad_norm"][:stop + 1, r],
           "learning_rate": rates[:stop + 1]}
    moved = ["update"] + (["velocity"] if name in HAS_VELOCITY else []) \
        + (["accumulator"] if name in HAS_ACCUMULATOR else []) + (["fallback"] if name == "newton" else [])
    out.update({key: rec[key][:stop, r] for key in moved})
    return out


PER_STEP = ("step", "point", "value", "gradient", "grad_norm", "learning_rate")


def path_records(columns: Mapping, variables: list, chunk: int = 4096) -> Iterator[dict]:
    """The path of ``path_columns`` as one dict per step (the moves' entries None at the last step),
    made ``chunk`` steps at a time: iterating costs memory for a chunk, not for the path."""
    last = len(columns["step"]) - 1
    for first in range(0, last + 1, chunk):
        end = min(first + chunk, last + 1)
        # whole chunks to Python numbers at once, then comprehensions (per-step Python work is the cost)
        at = {key: _named(variables, columns[key][first:end].tolist()) if key in ("point", "gradient")
              else columns[key][first:end].tolist() for key in PER_STEP}
        moves = {key: columns[key][first:end].tolist() for key in columns if key not in PER_STEP}
        for key, values in moves.items():
            if key != "fallback":
                values = _named(variables, values)
            moves[key] = values + [False if key == "fallback" else None] * (end - first - len(values))
        keys = PER_STEP + tuple(moves)
        yield from (dict(zip(keys, row)) for row in zip(*(at[key] for key in PER_STEP), *moves.values()))


def _reached_text(kind: str, eigenvalues: list | None, escape: list | None, step: int) -> str:
    lam = "" if eigenvalues is None else f" (Hessian eigenvalues {', '.join(f'{e:.4g}' for e in eigenvalues)})"
    where = "it started at" if step == 0 else "it reached"
    if kind == "minimum":
        return f"{where} a minimum{lam}"
    if kind == "degenerate":
        return (f"{where} a degenerate critical point{lam}: the Hessian there is singular (or changes too fast "
                f"to tell), so the second-derivative test cannot say whether it is a minimum")
    along = "in every direction" if kind == "maximum" else \
        "along (" + ", ".join(f"{c + 0.0:.4g}" for c in escape) + ")"
    return (f"{where} a {'saddle point' if kind == 'saddle' else 'maximum'}{lam}, not a minimum: the gradient "
            f"vanishes there, but f decreases {along}, so a nudge would leave it")


_WHY = {POINT_NOT_FINITE: "the point is no longer finite",  # (VALUE_NOT_FINITE's names the value)
        LEFT_BOX: f"the point left the box {DIVERGE_FACTOR:g} times enlarged about its centre",
        GRADIENT_NOT_FINITE: "the gradient is not defined there"}


def _message(status: str, code: int, step: int, value: float, grad_norm: float, tol: float, stable: float | None,
             fallbacks: int, lr: float, end: tuple = (None, None, None), variables: Sequence[str] = ()) -> str:
    if status == "running":
        return f"running: step {step} so far, |grad f| = {grad_norm:.3g}"
    if status == "converged":
        text = f"converged at step {step}: |grad f| = {grad_norm:.3g} < {tol:g}"
        kind, eigenvalues, escape = end
        if kind is not None:
            text += "; " + _reached_text(kind, eigenvalues, escape, step)
    elif status == "max_steps":
        text = f"stopped after {step} steps without converging: |grad f| = {grad_norm:.3g} (tolerance {tol:g})"
    else:
        why = f"the value became {value}" if code == VALUE_NOT_FINITE else _WHY[code]
        text = f"diverged at step {step}: {why}"
        if step == 0 and code in (VALUE_NOT_FINITE, GRADIENT_NOT_FINITE):
            # nothing diverged: the start itself is outside f's domain (or where f has no gradient)
            what = f"f is {value}" if code == VALUE_NOT_FINITE else "the gradient of f is not defined"
            text = f"cannot start there: {what} at the start point; pick a start where both are defined"
        elif stable is not None:
            text += (f"; the Hessian at the start is positive definite and plain gradient descent is stable "
                     f"there for learning rates below 2/lambda_max = {stable:.4g} (this run used {lr:g})")
        else:
            text += "; the Hessian at the start is not positive definite, so no learning rate is stable there"
    if fallbacks:
        text += (f"; Newton's step fell back to a gradient step {fallbacks} time{'s' if fallbacks != 1 else ''}"
                 f" where the Hessian was not positive definite")
    return text


# ----------------------------------------------------------------------------- basins of attraction
MAX_BASINS = 300        # starts per side of a basins grid
BASIN_CHUNKS = 4        # a basins grid runs in about this many chunks (progress is reported between them) ...
BASIN_CHUNK = (64, 8192)  # ... of a power of two from 64 to 8192 starts (few sizes: few XLA compiles)
BASIN_TOL = 1e-3        # converged end points this close (box units, max norm) reached the same minimum
DIVERGED, UNCONVERGED = -1, -2  # the labels of starts that reached no minimum


def basin_chunk(total: int) -> int:
    """How many starts a basins grid of ``total`` runs per loop call."""
    want = 1 << max(0, math.ceil(total / BASIN_CHUNKS) - 1).bit_length()  # the next power of two
    return min(max(want, BASIN_CHUNK[0]), BASIN_CHUNK[1])


def label_basins(out: Mapping, box: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Label each run by the minimum it converged to, from the loop's arrays (see ``report``).

    Converged end points are grouped with critical.cluster (BASIN_TOL of the box apart); each group
    is a minimum, represented by its run with the smallest gradient. Returns the labels (R,) int32:
    the minimum's index, DIVERGED or UNCONVERGED; and the representative runs, sorted by value.
    """
    code = out["code"]
    labels = np.where(code == CONVERGED, 0, np.where(code == OUT_OF_STEPS, UNCONVERGED, DIVERGED)).astype(np.int32)
    done = np.flatnonzero(code == CONVERGED)
    u = (out["X"][done] - box[:, 0]) / (box[:, 1] - box[:, 0])
    # critical.cluster merges within its CLUSTER_TOL: rescale so that that is BASIN_TOL here
    groups = critical.cluster(u * (critical.CLUSTER_TOL / BASIN_TOL), np.argsort(out["grad_norm"][done]))
    groups.sort(key=lambda members: out["value"][done[members[0]]])
    for k, members in enumerate(groups):
        labels[done[members]] = k
    return labels, [int(done[members[0]]) for members in groups]
