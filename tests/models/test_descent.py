"""Gradient descent (models/descent.py through Engine.descend): known answers, and keras' optimizers as the peer."""
from __future__ import annotations

import math
import re
import time

import numpy as np
import pytest

from calcviz.models import descent
from calcviz.models.engine import Engine, EngineError
from reference import HIMMELBLAU, ONE_VARIABLE, ROSENBROCK, SADDLE_FN, SPHERE

tf = pytest.importorskip("tensorflow")

FIRST_ORDER = ("gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


@pytest.fixture(scope="module")
def engine():
    return Engine("cpu")


def xy(run):
    return np.array([[p["point"]["x"], p["point"]["y"]] for p in run["path"]])


# ----------------------------------------------------------------------------- known answers
def test_gd_on_the_sphere_converges_to_the_origin(engine):
    (run,) = engine.descend(SPHERE.formula, {"x": 3.0, "y": -4.0}, lr=0.1, steps=1000, tol=1e-8)["runs"]
    assert run["status"] == "converged" and run["optimizer"] == "gd"
    assert run["grad_norm"] < 1e-8 and abs(run["point"]["x"]) < 1e-8 and abs(run["point"]["y"]) < 1e-8
    # x <- 0.8 x: each step shrinks the point by exactly 1 - 2 lr
    pts = xy(run)
    np.testing.assert_allclose(pts[1:4], pts[:3] * 0.8, rtol=1e-15)
    assert run["steps"] == len(run["path"]) - 1 and run["path"][-1]["update"] is None
    first = run["path"][0]
    assert first["gradient"] == {"x": 6.0, "y": -8.0} and first["grad_norm"] == 10.0 and first["value"] == 25.0
    assert first["update"] == {"x": pytest.approx(-0.6, abs=1e-15), "y": pytest.approx(0.8, abs=1e-15)}
    assert "converged at step" in run["message"]


def test_gd_on_rosenbrock_reaches_the_minimum(engine):
    (run,) = engine.descend(ROSENBROCK.formula, {"x": -1.5, "y": 2.0}, lr=0.001, steps=20000)["runs"]
    (m,) = ROSENBROCK.critical_points
    pts = xy(run)
    reached = np.flatnonzero(np.all(np.abs(pts - [m.x, m.y]) <= 1e-3, axis=1))
    assert len(reached) and reached[0] <= 20000
    assert abs(run["point"]["x"] - 1) <= 1e-3 and abs(run["point"]["y"] - 1) <= 1e-3
    assert run["status"] == "max_steps" and run["steps"] == 20000


def test_gd_on_rosenbrock_with_a_large_rate_diverges_with_a_reason(engine):
    (run,) = engine.descend(ROSENBROCK.formula, {"x": -1.5, "y": 2.0}, lr=0.01, steps=1000)["runs"]
    assert run["status"] == "diverged" and run["steps"] <= 10
    # The Hessian at (-1.5, 2) is [[1902, 600], [600, 200]]: 2 / lambda_max
    lam = np.linalg.eigvalsh([[1902.0, 600.0], [600.0, 200.0]])[-1]
    assert run["stable_learning_rate"] == pytest.approx(2 / lam, rel=1e-12)
    assert "diverged at step" in run["message"] and "2/lambda_max" in run["message"]
    assert f"{2 / lam:.4g}" in run["message"]


def test_non_finite_value_is_divergence(engine):
    (run,) = engine.descend("log(x)", {"x": 0.5}, lr=1.0, steps=10)["runs"]  # x -> 0.5 - 2 < 0
    assert run["status"] == "diverged" and run["steps"] == 1 and "nan" in run["message"]
    assert run["stable_learning_rate"] is None and "not positive definite" in run["message"]


def test_newton_solves_a_quadratic_in_one_step(engine):
    (run,) = engine.descend("(x+2y-7)^2 + (2x+y-5)^2", {"x": -4.0, "y": 6.0}, optimizers=["newton"],
                            steps=50, tol=1e-9)["runs"]
    assert run["status"] == "converged" and run["steps"] == 1
    assert run["point"] == {"x": pytest.approx(1.0, abs=1e-12), "y": pytest.approx(3.0, abs=1e-12)}
    assert run["path"][0]["fallback"] is False and run["newton_fallbacks"] == 0


def test_newton_falls_back_where_the_hessian_is_not_positive_definite(engine):
    (run,) = engine.descend("3x^4-4x^3-12x^2", {"x": 0.1}, optimizers=["newton"], lr=0.01, steps=200)["runs"]
    # f''(0.1) = 36(0.01) - 2.4 - 24 < 0: a gradient step, recorded
    first = run["path"][0]
    assert first["fallback"] is True
    assert first["update"]["x"] == pytest.approx(-0.01 * first["gradient"]["x"], rel=1e-15)
    assert run["newton_fallbacks"] >= 1 and "fell back to a gradient step" in run["message"]
    assert run["status"] == "converged" and run["point"]["x"] == pytest.approx(2.0, abs=1e-9)


def test_a_run_near_a_saddle_escapes_along_the_descending_direction(engine):
    (lo, hi), _ = SADDLE_FN.box
    (run,) = engine.descend(SADDLE_FN.formula, {"x": 0.5, "y": 1e-3}, lr=0.1, steps=500,
                            box=SADDLE_FN.box)["runs"]
    ys = np.abs(xy(run)[:, 1])
    assert np.all(np.diff(ys) > 0)  # |y| grows by 1.2 each step
    assert ys[-1] > hi and abs(run["point"]["x"]) < 1e-6
    assert run["status"] == "diverged" and "left the box" in run["message"]


def test_one_variable_descent_reaches_the_global_minimum(engine):
    ex = ONE_VARIABLE
    (run,) = engine.descend(ex["formula"], {"x": 3.0}, lr=0.01, steps=1000)["runs"]
    assert run["status"] == "converged"
    assert run["point"]["x"] == pytest.approx(2.0, abs=1e-9) and run["value"] == pytest.approx(-32.0, abs=1e-12)
    assert set(run["path"][0]["point"]) == {"x"}


def test_runs_race_together_and_record_their_state(engine):
    result = engine.descend(HIMMELBLAU.formula, {"x": 0.0, "y": 0.0}, optimizers=descent.OPTIMIZERS,
                            lr=0.01, steps=300)
    runs = result["runs"]
    assert [r["optimizer"] for r in runs] == list(descent.OPTIMIZERS)
    assert result["device"] == "CPU" and result["variables"] == ["x", "y"]
    for run in runs:
        first = run["path"][0]
        assert first["value"] == 170.0 and first["gradient"] == {"x": -14.0, "y": -22.0}
        assert ("velocity" in first) == (run["optimizer"] in ("momentum", "nesterov", "adam"))
        assert ("accumulator" in first) == (run["optimizer"] in ("adagrad", "rmsprop", "adam"))
        assert run["hyperparameters"] == descent.HYPERPARAMETERS[run["optimizer"]]
    momentum = runs[1]["path"]
    assert momentum[0]["velocity"] == momentum[0]["update"]  # m = -lr g, then x += m
    # one start per optimizer
    two = engine.descend(SPHERE.formula, [{"x": 1.0, "y": 1.0}, {"x": -2.0, "y": 0.5}],
                         optimizers=["gd", "adam"], lr=0.1, steps=5)["runs"]
    assert [r["start"] for r in two] == [{"x": 1.0, "y": 1.0}, {"x": -2.0, "y": 0.5}]
    # many starts, one optimizer, no path: each run as if alone
    many = engine.descend(SPHERE.formula, [{"x": 1.0, "y": 1.0}, {"x": -2.0, "y": 0.5}], lr=0.1, steps=3,
                          path=False)["runs"]
    assert "path" not in many[0] and many[1]["point"] == {"x": pytest.approx(-2 * 0.8 ** 3),
                                                          "y": pytest.approx(0.5 * 0.8 ** 3)}


@pytest.mark.parametrize("kwargs, phrase", [
    ({"optimizers": ["sgd"]}, "unknown optimizer 'sgd'"),
    ({"lr": -1.0}, "learning rate must be positive"),
    ({"steps": -3}, "steps must be"),
    ({"schedule": "linear"}, "unknown schedule"),
    ({"hyperparameters": {"beta": 0.9}}, "unknown hyperparameter 'beta'"),
    ({"hyperparameters": {"momentum": 1.5}}, "momentum must be in [0, 1]"),
    ({"optimizers": ["gd", "adam", "newton"], "start": [{"x": 1, "y": 1}, {"x": 2, "y": 2}]}, "one per optimizer"),
    ({"start": {"x": 1.0}}, "give a value for y"),
    ({"start": {"x": 1.0, "y": float("nan")}}, "finite"),
])
def test_bad_requests_are_engine_errors(engine, kwargs, phrase):
    kwargs = {"start": {"x": 1.0, "y": 1.0}, **kwargs}
    with pytest.raises(EngineError, match=None) as info:
        engine.descend("x^2 + y^2", **kwargs)
    assert phrase in str(info.value)


# ----------------------------------------------------------------------------- keras as the peer
def himmelblau_tf(v):
    x, y = v[0], v[1]
    return (x * x + y - 11.0) ** 2 + (x + y * y - 7.0) ** 2


KERAS = {
    "gd": (0.01, lambda lr: tf.keras.optimizers.SGD(lr)),
    "momentum": (0.002, lambda lr: tf.keras.optimizers.SGD(lr, momentum=0.9)),
    "nesterov": (0.002, lambda lr: tf.keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)),
    "adagrad": (0.1, lambda lr: tf.keras.optimizers.Adagrad(lr)),
    "rmsprop": (0.01, lambda lr: tf.keras.optimizers.RMSprop(lr)),
    "adam": (0.05, lambda lr: tf.keras.optimizers.Adam(lr)),
}


@pytest.fixture
def float64_keras():
    before = tf.keras.backend.floatx()
    tf.keras.backend.set_floatx("float64")  # keras keeps its learning rate in floatx
    yield
    tf.keras.backend.set_floatx(before)


def keras_path(optimizer, start, steps: int) -> np.ndarray:
    var = tf.Variable(np.array(start, np.float64))
    out = [var.numpy().copy()]
    for _ in range(steps):
        with tf.GradientTape() as tape:
            loss = himmelblau_tf(var)
        optimizer.apply_gradients([(tape.gradient(loss, var), var)])
        out.append(var.numpy().copy())
    return np.array(out)


@pytest.mark.parametrize("name", FIRST_ORDER)
def test_first_order_optimizers_match_keras_for_100_steps(engine, float64_keras, name):
    lr, make = KERAS[name]
    start = (0.5, -0.5)
    (run,) = engine.descend(HIMMELBLAU.formula, {"x": start[0], "y": start[1]}, optimizers=[name], lr=lr,
                            steps=100, tol=0.0)["runs"]
    assert run["status"] == "max_steps" and run["steps"] == 100
    ours, theirs = xy(run), keras_path(make(lr), start, 100)
    assert np.max(np.abs(theirs[-1] - theirs[0])) > 0.5  # the runs went somewhere
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name, schedule, make_schedule", [
    ("adam", {"name": "cosine", "decay_steps": 60, "alpha": 0.1},
     lambda lr: tf.keras.optimizers.schedules.CosineDecay(tf.constant(lr, tf.float64), 60, alpha=0.1)),
    ("momentum", {"name": "exponential", "decay_steps": 30, "decay_rate": 0.5},
     lambda lr: tf.keras.optimizers.schedules.ExponentialDecay(tf.constant(lr, tf.float64), 30, 0.5)),
])
def test_scheduled_runs_match_keras(engine, float64_keras, name, schedule, make_schedule):
    lr, make = KERAS[name]
    (run,) = engine.descend(HIMMELBLAU.formula, {"x": 0.5, "y": -0.5}, optimizers=[name], lr=lr, steps=100,
                            tol=0.0, schedule=schedule)["runs"]
    np.testing.assert_allclose(xy(run), keras_path(make(make_schedule(lr)), (0.5, -0.5), 100), rtol=0, atol=1e-6)


def test_schedules_match_keras_values(float64_keras):
    steps = np.arange(0, 151)
    cos = descent.check_schedule({"name": "cosine", "decay_steps": 100, "alpha": 0.05}, 1000)
    lr = tf.constant(0.3, tf.float64)  # a Python float would make keras' schedule float32
    keras_cos = tf.keras.optimizers.schedules.CosineDecay(lr, 100, alpha=0.05)
    exp = descent.check_schedule({"name": "exponential", "decay_steps": 40, "decay_rate": 0.7}, 1000)
    keras_exp = tf.keras.optimizers.schedules.ExponentialDecay(lr, 40, 0.7)
    for k in steps:
        # (to 1e-7: keras rounds pi and decay_rate through float32 on the way to a float64 rate)
        assert descent.learning_rate(0.3, cos, k) == pytest.approx(float(keras_cos(int(k))), rel=1e-7)
        assert descent.learning_rate(0.3, exp, k) == pytest.approx(float(keras_exp(int(k))), rel=1e-7)
    assert descent.learning_rate(0.3, descent.check_schedule("constant", 10), 77) == 0.3
    # defaults: the decay spans the run
    assert descent.check_schedule("cosine", 500) == {"name": "cosine", "decay_steps": 500.0, "alpha": 0.0}
    assert descent.learning_rate(0.3, descent.check_schedule("cosine", 500), 500) == 0.0
    assert math.isclose(descent.learning_rate(1.0, descent.check_schedule("exponential", 500), 500), 0.1)


# ----------------------------------------------------------------------------- the compiled loop
def test_changing_runs_steps_rates_and_hyperparameters_does_not_retrace(engine):
    text = "(x-1)^2 + 3*(y+2)^2 + 0.5*x*y"
    alone = engine.descend(text, {"x": 0.5, "y": 0.5}, optimizers=["adam"], lr=0.05, steps=300, tol=0.0)["runs"][0]
    starts = [{"x": 0.5, "y": 0.5}, {"x": -3.0, "y": 2.0}, {"x": 4.0, "y": -1.0}]
    together = engine.descend(text, starts, optimizers=["adam"], lr=0.05, steps=300, tol=0.0)["runs"]
    # runs batched together go as if alone
    np.testing.assert_allclose(xy(together[0]), xy(alone), rtol=0, atol=1e-12)
    engine.descend(text, starts[:2], optimizers=["adam"], lr=0.2, steps=5000, tol=1e-3,
                   hyperparameters={"beta_1": 0.5}, schedule={"name": "cosine", "decay_steps": 100})
    engine.descend(text, starts[0], optimizers=["adam"], lr=0.001, steps=7, path=True)
    # A race (up to RACE_RUNS runs) builds every first-order rule: ticking other optimizers reuses the loop.
    engine.descend(text, starts[0], optimizers=["gd", "momentum", "rmsprop"], lr=0.01, steps=50)
    engine.descend(text, starts[:2], optimizers=["nesterov", "adagrad"], lr=0.01, steps=50)
    first_order = tuple(o for o in descent.OPTIMIZERS if o != "newton")
    loops = engine.compile(text, ("x", "y"), ())._descents
    assert set(loops) == {(first_order, True)}
    assert loops[(first_order, True)].experimental_get_tracing_count() == 1
    # A large batch is built for what it uses (no padding, no unused rules).
    engine.descend(text, [{"x": 0.1 * i, "y": 0.0} for i in range(20)], optimizers=["gd"], lr=0.01, steps=5)
    assert (("gd",), True) in loops


def test_path_and_no_path_give_the_same_runs(engine):
    kwargs = dict(optimizers=descent.OPTIMIZERS, lr=0.01, steps=400)
    with_path = engine.descend(HIMMELBLAU.formula, {"x": 0.0, "y": 0.0}, path=True, **kwargs)["runs"]
    without = engine.descend(HIMMELBLAU.formula, {"x": 0.0, "y": 0.0}, path=False, **kwargs)["runs"]
    for a, b in zip(with_path, without):
        assert (a["status"], a["steps"], a["message"]) == (b["status"], b["steps"], b["message"])
        assert a["point"] == a["path"][-1]["point"] and a["value"] == a["path"][-1]["value"]
        for name in ("x", "y"):
            assert b["point"][name] == pytest.approx(a["point"][name], abs=1e-12)
    assert {r["status"] for r in with_path} >= {"converged", "max_steps"}


def test_a_run_longer_than_one_call_is_one_continuous_path(engine):
    steps = descent.STEPS_PER_CALL + 904
    schedule = {"name": "exponential", "decay_steps": 1000, "decay_rate": 0.5}
    (run,) = engine.descend("x^2", {"x": 3.0}, lr=1e-4, steps=steps, tol=0.0, schedule=schedule)["runs"]
    path = run["path"]
    assert run["status"] == "max_steps" and [p["step"] for p in path] == list(range(steps + 1))
    rates = descent.learning_rate(1e-4, descent.check_schedule(schedule, steps), np.arange(steps + 1))
    np.testing.assert_allclose([p["learning_rate"] for p in path], rates, rtol=1e-15)
    x = np.array([p["point"]["x"] for p in path])
    np.testing.assert_allclose(x[1:], x[:-1] * (1 - 2 * rates[:-1]), rtol=1e-15)  # x <- x - lr 2x, across calls
    # the closed form: x_k = 3 prod(1 - 2 lr_j)
    assert x[-1] == pytest.approx(3.0 * np.prod(1 - 2 * rates[:-1]), rel=1e-12)


def test_an_undefined_gradient_is_divergence(engine):
    (run,) = engine.descend("sqrt(x^2 + y^2)", {"x": 0.0, "y": 0.0}, steps=10)["runs"]
    assert run["status"] == "diverged" and run["steps"] == 0
    assert run["message"].startswith("cannot start there: the gradient of f is not defined at the start point")


def test_many_runs_at_once_match_runs_one_at_a_time(engine):
    rng = np.random.default_rng(3)
    points = rng.uniform(-6.0, 6.0, size=(300, 2))
    starts = [{"x": float(a), "y": float(b)} for a, b in points]
    many = engine.descend(HIMMELBLAU.formula, starts, lr=0.02, steps=400, tol=1e-6, path=False)["runs"]
    statuses = {r["status"] for r in many}
    assert statuses >= {"converged", "diverged"}  # lr 0.02 is past 2 / lambda_max at some minima
    for k in (0, 1, 2, 3, 299):
        (alone,) = engine.descend(HIMMELBLAU.formula, starts[k], lr=0.02, steps=400, tol=1e-6, path=False)["runs"]
        assert (alone["status"], alone["steps"], alone["message"]) == (many[k]["status"], many[k]["steps"],
                                                                       many[k]["message"])
        if alone["status"] != "diverged":
            assert alone["point"] == {"x": pytest.approx(many[k]["point"]["x"], abs=1e-12),
                                      "y": pytest.approx(many[k]["point"]["y"], abs=1e-12)}


def test_a_path_split_over_many_calls_is_the_same_path(engine, monkeypatch):
    kwargs = dict(optimizers=["momentum", "newton"], lr=0.01, steps=150, tol=0.0)
    whole = engine.descend(HIMMELBLAU.formula, {"x": 0.5, "y": -0.5}, **kwargs)["runs"]
    monkeypatch.setattr(descent, "PATH_BUFFER_MB", 1e-6)  # the least span: 64 steps a call, so 3 calls
    loops = engine.compile(HIMMELBLAU.formula, ("x", "y"), ())._descents
    (key,) = [k for k in loops if "newton" in k[0]]  # a race: every first-order rule and Newton's
    loop, spans = loops[key], []

    def counted(first, *args):
        spans.append((int(first), len(args[6])))  # (first step, steps this call may take)
        return loop(first, *args)
    monkeypatch.setitem(loops, key, counted)
    pieces = engine.descend(HIMMELBLAU.formula, {"x": 0.5, "y": -0.5}, **kwargs)["runs"]
    assert spans == [(0, 64), (64, 64), (128, 64)]
    for a, b in zip(whole, pieces):
        assert len(a["path"]) == len(b["path"]) == 151 and a["steps"] == b["steps"] == 150
        np.testing.assert_allclose(xy(a), xy(b), rtol=0, atol=1e-12)
        assert [p.get("velocity") for p in a["path"]] == [p.get("velocity") for p in b["path"]]
    assert whole[1]["newton_fallbacks"] == pieces[1]["newton_fallbacks"]


def test_a_start_outside_the_domain_is_named_as_such(engine):
    (run,) = engine.descend("log(x) + y^2", {"x": -1.0, "y": 1.0})["runs"]
    assert run["status"] == "diverged" and run["steps"] == 0
    assert run["message"] == ("cannot start there: f is nan at the start point; pick a start where both are defined")


# ----------------------------------------------------------------------------- where a run ended (issue 13)
def test_converging_to_a_saddle_says_so(engine):
    # x^2 - y^2 from (1, 0): y stays 0, x shrinks by 0.8 a step to the saddle at the origin
    (run,) = engine.descend(SADDLE_FN.formula, {"x": 1.0, "y": 0.0}, lr=0.1)["runs"]
    assert run["status"] == "converged" and run["steps"] == 86  # 2 (0.8)^k < 1e-8 first at k = 86
    assert run["reached"] == "saddle" and run["reached_eigenvalues"] == [-2.0, 2.0]
    assert run["escape_direction"] == {"x": 0.0, "y": pytest.approx(1.0)} or \
        run["escape_direction"] == {"x": 0.0, "y": pytest.approx(-1.0)}
    assert run["message"] == ("converged at step 86: |grad f| = 9.26e-09 < 1e-08; it reached a saddle point (Hessian "
                              "eigenvalues -2, 2), not a minimum: the gradient vanishes there, but f decreases along "
                              f"(0, {run['escape_direction']['y']:.4g}), so a nudge would leave it")


def test_starting_on_a_maximum_does_not_converge_silently(engine):
    (run,) = engine.descend("0 - x^2 - y^2", {"x": 0.0, "y": 0.0})["runs"]
    assert (run["status"], run["steps"], run["reached"]) == ("converged", 0, "maximum")
    assert run["reached_eigenvalues"] == [-2.0, -2.0] and run["escape_direction"] is not None
    assert "it started at a maximum (Hessian eigenvalues -2, -2), not a minimum" in run["message"]
    assert "f decreases in every direction, so a nudge would leave it" in run["message"]


def test_a_minimum_and_a_degenerate_end(engine):
    runs = engine.descend(HIMMELBLAU.formula, [{"x": 0.0, "y": 0.0}, {"x": 1.0, "y": 1.0}], optimizers="newton")["runs"]
    for run in runs:  # Newton from (0, 0) and (1, 1) both reach the minimum (3, 2)
        assert run["reached"] == "minimum" and run["escape_direction"] is None
        assert run["point"] == {"x": pytest.approx(3.0), "y": pytest.approx(2.0)}
        lam = np.linalg.eigvalsh([[74.0, 20.0], [20.0, 34.0]])  # the Hessian of Himmelblau at (3, 2)
        np.testing.assert_allclose(run["reached_eigenvalues"], lam, rtol=1e-6)
    # x^4 + y^4: the Hessian 12 x^2 vanishes at the minimum; Newton closes in by 2/3 a step
    (run,) = engine.descend("x^4 + y^4", {"x": 1.0, "y": 1.0}, optimizers="newton", steps=200)["runs"]
    assert run["status"] == "converged" and run["reached"] == "degenerate"
    assert "second-derivative test cannot say whether it is a minimum" in run["message"]
    # an inflection: x^3 + y^2 from x = 0.01, gd creeps to 0 (x' = 3x^2 > 0) and stops when 3x^2 < tol
    (run,) = engine.descend("x^3 + y^2", {"x": 0.01, "y": 0.0}, lr=0.1, steps=100000, tol=1e-6)["runs"]
    assert run["status"] == "converged" and run["reached"] == "degenerate"


def test_runs_that_did_not_converge_reached_nothing(engine):
    result = engine.descend(ROSENBROCK.formula, {"x": -1.5, "y": 2.0}, optimizers=["gd", "adam"], lr=0.01, steps=50)
    for run in result["runs"]:
        assert run["status"] in ("diverged", "max_steps")
        assert run["reached"] is run["reached_eigenvalues"] is run["escape_direction"] is None


def test_each_optimizer_names_the_form_it_follows():
    assert set(descent.OPTIMIZER_FORMS) == set(descent.OPTIMIZERS)
    forms = descent.OPTIMIZER_FORMS
    assert f"a starting at {descent.HYPERPARAMETERS['adagrad']['initial_accumulator_value']:g}" in forms["adagrad"]
    for name in ("adagrad", "rmsprop", "adam"):
        stated = re.search(r"eps = ([0-9.e-]+)", forms[name]).group(1)
        assert float(stated) == descent.HYPERPARAMETERS[name]["epsilon"]
    assert "keras' form" in forms["nesterov"] and "x + mu m - lr g" in forms["nesterov"]
    assert "sqrt(1 - b2^t) / (1 - b1^t)" in forms["adam"]


def test_newton_in_three_variables_solves_a_quadratic_in_one_step(engine):
    """(The Hessians come from one vectorized backward pass: checked here beyond two variables.)"""
    text = "(x - 1)^2 + 2(y + 2)^2 + 3(z - 0.5)^2 + x*y + y*z"
    (run,) = engine.descend(text, {"x": 4.0, "y": -1.0, "z": 2.0}, optimizers=["newton"], steps=20, tol=1e-6)["runs"]
    # the minimum solves H p = b: [[2, 1, 0], [1, 4, 1], [0, 1, 6]] p = [2, -8, 3]
    hessian = [[2.0, 1.0, 0.0], [1.0, 4.0, 1.0], [0.0, 1.0, 6.0]]
    expected = np.linalg.solve(hessian, [2.0, -8.0, 3.0])
    assert run["status"] == "converged" and run["steps"] == 1
    # (XLA's iterative eigh on the CPU leaves ~1e-10 where the 2 x 2 closed form leaves round-off)
    np.testing.assert_allclose([run["point"][v] for v in "xyz"], expected, rtol=0, atol=1e-8)
    g = np.array([run["path"][0]["gradient"][v] for v in "xyz"])
    step = np.array([run["path"][0]["update"][v] for v in "xyz"])
    np.testing.assert_allclose(step, -np.linalg.solve(hessian, g), rtol=1e-8)  # the step from the exact Hessian


def grouped_sum(terms: list[str]) -> str:
    """A sum of many terms as nested groups of ten (a flat sum that long is refused as too deep)."""
    while len(terms) > 1:
        terms = ["(" + " + ".join(terms[k:k + 10]) + ")" for k in range(0, len(terms), 10)]
    return terms[0]


def test_newton_refuses_more_variables_than_a_laptop_can_hold(engine):
    n = descent.MAX_NEWTON_VARIABLES + 1
    text = grouped_sum([f"(w{k} - 1)^2" for k in range(n)])
    start = {f"w{k}": 0.0 for k in range(n)}
    with pytest.raises(EngineError, match=f"Newton's method takes at most {n - 1} variables "
                                          f"\\(this formula has {n}\\)"):
        engine.descend(text, start, optimizers=["gd", "newton"], steps=5)
    (run,) = engine.descend(text, start, optimizers=["gd"], lr=0.5, steps=5)["runs"]  # first order: fine
    assert run["status"] == "converged" and run["point"]["w7"] == 1.0


COMPILES = """
from calcviz.models.engine import Engine
Engine("cpu").descend("x^2 + y^2", {"x": 1.0, "y": 1.0}, lr=1e-6, steps=3 * %d, tol=0.0, path=False)
"""


def test_a_long_run_compiles_its_loop_once():
    """Four calls of the loop (4 x STEPS_PER_CALL steps), one XLA compile: a compile per call took
    about a second and kept its program (a million steps: 245 compiles, minutes and ~450 MB).
    Counted from XLA's own log of its compilations."""
    import os
    import re
    import subprocess
    import sys
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0", "TF_CPP_VMODULE": "device_compilation_profiler=1"}
    done = subprocess.run([sys.executable, "-c", COMPILES % descent.STEPS_PER_CALL], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    counts = [int(c) for c in re.findall(r"Compiled __inference_run_\d+ (\d+) times", done.stderr)]
    assert counts, "XLA's compilation log was not found (has TensorFlow's log format changed?)"
    assert max(counts) == 1


# ----------------------------------------------------------------------------- a race's first steps
def test_a_new_formulas_race_answers_its_first_steps_before_the_loop_compiles():
    """The window's race on a formula new to the engine is stepped in numpy first (no XLA compile): its
    first steps come as "running" runs, and every step is the compiled loop's to round-off. A formula
    raced again gets its loop compiled aside, and the races after that need no stepping."""
    engine = Engine("cpu")
    text, start = ROSENBROCK.formula, {"x": -1.5, "y": 2.0}
    kw = dict(optimizers=descent.OPTIMIZERS, lr=0.001, steps=300)
    parts = []
    stepped = engine.descend(text, start, partial=parts.append, **kw)
    assert parts, "no steps before the result"
    first = parts[0]
    assert [r["optimizer"] for r in first["runs"]] == list(descent.OPTIMIZERS)
    assert all(r["status"] == "running" and r["steps"] == 1 and len(r["path"]) == 2 and "running" in r["message"]
               for r in first["runs"] if r["optimizer"] != "newton")
    assert first["device"] == "CPU" and first["params"] == {}
    lengths = [max(r["steps"] for r in p["runs"]) for p in parts]
    assert lengths == sorted(lengths) and all(r["status"] != "running" for r in stepped["runs"])
    # The same race from the compiled loop (waiting for it here, as a second race would find it compiled).
    compiled = engine.descend(text, start, **kw)
    for s, c, p in zip(stepped["runs"], compiled["runs"], first["runs"]):
        assert s["optimizer"] == c["optimizer"] and s["status"] == c["status"] and s["steps"] == c["steps"]
        np.testing.assert_allclose(xy(p), xy(c)[:len(p["path"])], rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(xy(s)[:50], xy(c)[:50], rtol=1e-10, atol=1e-10)
        assert [e["value"] for e in p["path"]] == pytest.approx([e["value"] for e in c["path"][:len(p["path"])]],
                                                                rel=1e-13)
    # A formula new again (the same function, another text): its second race starts the loop's compile aside.
    other = text + " "
    engine.descend(other, start, partial=lambda r: None, **kw)
    compiled_fn = engine._compiled
    assert not compiled_fn._compiling  # raced once, briefly: not worth a compile
    engine.descend(other, {"x": 0.5, "y": 0.5}, partial=lambda r: None, **kw)
    deadline = time.monotonic() + 120
    while not compiled_fn._ready and time.monotonic() < deadline:
        time.sleep(0.1)
    parts.clear()
    third = engine.descend(other, {"x": 0.5, "y": 0.5}, partial=parts.append, **kw)
    assert parts == [] and len(third["runs"]) == len(descent.OPTIMIZERS)


def test_a_race_stepped_in_numpy_stops_diverges_and_converges_like_the_loop():
    engine = Engine("cpu")
    for text, start, lr in ((SPHERE.formula, {"x": 3.0, "y": -4.0}, 0.1), (ROSENBROCK.formula, {"x": -1.5, "y": 2.0}, 0.01)):
        kw = dict(optimizers=("gd", "adam", "newton"), lr=lr, steps=400, tol=1e-6)
        stepped = engine.descend(text + " ", start, partial=lambda r: None, **kw)
        compiled = engine.descend(text, start, **kw)
        for s, c in zip(stepped["runs"], compiled["runs"]):
            assert (s["status"], s["steps"], s["reached"]) == (c["status"], c["steps"], c["reached"])
            assert s["message"] == c["message"] or s["status"] == "converged"
