"""Local approximations: the numpy models (no TensorFlow) and Engine.approximate against the seed's
worked examples and hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest

from calcviz.models import approximation
from calcviz.models.approximation import (
    error_slopes, linear_model, newton_step, quadratic_model, stable_learning_rate,
)
from calcviz.models.engine import Engine, EngineError
from reference import LINEAR_APPROX, ONE_VARIABLE, QUADRATIC_APPROX, TEST_FUNCTIONS, max_stable_step

E = math.e
KEYS = {"variables", "point", "params", "value", "gradient", "hessian", "eigenvalues", "eps", "true", "linear",
        "quadratic", "linear_error", "quadratic_error", "errors", "newton_step", "newton_point",
        "stable_learning_rate", "device", "seconds"}
ERROR_KEYS = {"direction", "t", "true", "linear", "quadratic", "slope_linear", "slope_quadratic"}


@pytest.fixture(scope="module")
def engine():
    return Engine("cpu")


def book_model(x, y):
    """QUADRATIC_APPROX["model"]: e^-1 (-1 - (x+1) + (x+1)^2 + y^2), written out by hand."""
    return (-1 - (x + 1) + (x + 1) ** 2 + y**2) / E


Q_POINTS = np.array([[-1.0, 0.0], [-0.9, 0.1], [-1.3, -0.4], [0.0, 0.0], [2.0, -3.0], [-1.0, 0.25]])


# ----------------------------------------------------------------------------- numpy models
def test_models_from_the_reference_derivatives():
    ex = QUADRATIC_APPROX
    p = [ex["point"]["x"], ex["point"]["y"]]
    grad = [ex["gradient"]["x"], ex["gradient"]["y"]]
    got = quadratic_model(ex["value"], grad, ex["hessian"], p, Q_POINTS)
    np.testing.assert_allclose(got, book_model(Q_POINTS[:, 0], Q_POINTS[:, 1]), rtol=0, atol=1e-12)
    lin = linear_model(ex["value"], grad, p, Q_POINTS)
    np.testing.assert_allclose(lin, (-1 - (Q_POINTS[:, 0] + 1)) / E, rtol=0, atol=1e-15)
    # the book's printed 2(x+1)^2 + 2y^2 is not the model
    assert got[2] != pytest.approx((-1 - (-0.3) + 2 * 0.09 + 2 * 0.16) / E, abs=1e-3)


def test_models_take_any_batch_shape():
    value, grad, hess, p = 1.0, [2.0, -1.0], [[2.0, 1.0], [1.0, 4.0]], [0.5, 0.5]
    q = np.random.default_rng(0).normal(size=(3, 4, 2))
    quad = quadratic_model(value, grad, hess, p, q)
    lin = linear_model(value, grad, p, q)
    assert quad.shape == lin.shape == (3, 4)
    d = q - np.array(p)
    np.testing.assert_allclose(lin, value + d @ np.array(grad))
    expected = value + d @ np.array(grad) + 0.5 * (2 * d[..., 0] ** 2 + 2 * d[..., 0] * d[..., 1] + 4 * d[..., 1] ** 2)
    np.testing.assert_allclose(quad, expected, rtol=1e-14)
    assert float(quadratic_model(value, grad, hess, p, [0.5, 0.5])) == value  # one point -> a scalar
    # one variable, q as a column (what the curve view passes)
    xs = np.linspace(0, 2, 5)[:, None]
    np.testing.assert_allclose(quadratic_model(3.0, [1.0], [[4.0]], [1.0], xs),
                               3 + (xs[:, 0] - 1) + 2 * (xs[:, 0] - 1) ** 2)


def test_newton_step_lands_on_the_minimum_of_a_quadratic():
    # f = x^2 + 3y^2 + xy - 2x + 4y: grad = (2x + y - 2, 6y + x + 4), H = [[2, 1], [1, 6]], min at (16/11, -10/11)
    H = np.array([[2.0, 1.0], [1.0, 6.0]])
    minimum = np.array([16 / 11, -10 / 11])
    for p in ([0.0, 0.0], [5.0, -3.0], [-100.0, 40.0]):
        x, y = p
        step = newton_step([2 * x + y - 2, 6 * y + x + 4], H)
        np.testing.assert_allclose(np.array(p) + step, minimum, rtol=0, atol=1e-12)


@pytest.mark.parametrize("hess", [[[1.0, 0.0], [0.0, -1.0]], [[-2.0, 0.0], [0.0, -1.0]], [[1.0, 1.0], [1.0, 1.0]],
                                  [[0.0, 0.0], [0.0, 0.0]], [[1.0, np.nan], [np.nan, 1.0]]])
def test_no_newton_step_or_learning_rate_unless_positive_definite(hess):
    assert newton_step([1.0, 1.0], hess) is None
    assert stable_learning_rate(hess) is None


def test_stable_learning_rate_is_two_over_the_largest_eigenvalue():
    booth = TEST_FUNCTIONS["booth"].critical_points[0].eigenvalues  # 2, 18
    H = np.array([[10.0, 8.0], [8.0, 10.0]])  # booth's Hessian
    assert stable_learning_rate(H) == pytest.approx(max_stable_step(booth)) == pytest.approx(2 / 18)
    assert stable_learning_rate([[4.0]]) == 0.5
    # and it is the threshold: fixed-step descent on the quadratic converges just below it, diverges just above
    for factor, converges in ((0.99, True), (1.01, False)):
        w = np.array([1.0, -2.0])
        eta = factor * stable_learning_rate(H)
        for _ in range(3000):
            w = w - eta * (H @ w)
        assert (np.linalg.norm(w) < 1e-6) == converges


def test_error_slopes():
    t = np.logspace(-3, -1, 15)
    assert error_slopes(t, 3 * t**2) == pytest.approx(2.0, abs=1e-12)
    assert error_slopes(t, 0.5 * t**3) == pytest.approx(3.0, abs=1e-12)
    # errors below 1e-12 of f's scale are round-off and left out: here 1e-4 t^3 sinks into noise of
    # ~3e-13 for t < 0.02; counting those points would flatten the slope to 2.8
    t21 = np.logspace(-3, -1, 21)
    noisy = 1e-4 * t21**3 + 3e-13 * (1 + np.cos(np.arange(21)))
    assert error_slopes(t21, noisy, scale=1.0) == pytest.approx(3.0, abs=0.03)
    assert error_slopes(t21, noisy) < 2.85  # without the scale the floor is relative to the largest error
    assert error_slopes(t, np.zeros_like(t)) is None
    assert error_slopes(t[:2], t[:2] ** 2) is None


# ----------------------------------------------------------------------------- Engine.approximate
def test_seed_linear_approximation(engine):
    ex = LINEAR_APPROX
    r = engine.approximate(ex["formula"], ex["point"], eps=ex["eps"])
    assert set(r) == KEYS and set(r["errors"]) == ERROR_KEYS
    assert r["value"] == pytest.approx(ex["value"], abs=1e-12)
    assert r["gradient"] == {"x": pytest.approx(1 / 3, abs=1e-15), "y": pytest.approx(2 / 3, abs=1e-15)}
    assert r["linear"] == pytest.approx(ex["linear_value"], abs=1e-7)
    assert r["true"] == pytest.approx(ex["true_value"], abs=1e-7)
    assert r["true"] == pytest.approx(math.log(math.exp(0.01) + 2 * math.exp(-0.03)), abs=1e-15)
    assert r["linear_error"] == pytest.approx(abs(r["true"] - r["linear"]), abs=0)
    assert r["quadratic_error"] < r["linear_error"] / 100
    # the Hessian is singular (rank one): no Newton step, no stable learning rate
    assert r["newton_step"] is None and r["newton_point"] is None and r["stable_learning_rate"] is None
    # eps as a list in the variables' order is the same request
    same = engine.approximate(ex["formula"], ex["point"], eps=[ex["eps"]["x"], ex["eps"]["y"]])
    assert same["true"] == r["true"] and same["linear"] == r["linear"] and same["eps"] == ex["eps"]


def test_seed_quadratic_model(engine):
    ex = QUADRATIC_APPROX
    r = engine.approximate(ex["formula"], ex["point"])
    p = [r["point"]["x"], r["point"]["y"]]
    grad = [r["gradient"]["x"], r["gradient"]["y"]]
    got = quadratic_model(r["value"], grad, r["hessian"], p, Q_POINTS)
    np.testing.assert_allclose(got, book_model(Q_POINTS[:, 0], Q_POINTS[:, 1]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(r["hessian"], ex["hessian"], atol=1e-15)
    # its minimum: d/dx = -1 + 2(x+1) = 0 at x = -1/2; the Newton step goes exactly there
    assert r["newton_step"] == {"x": pytest.approx(0.5, abs=1e-15), "y": pytest.approx(0.0, abs=1e-15)}
    assert r["newton_point"] == {"x": pytest.approx(-0.5, abs=1e-15), "y": pytest.approx(0.0, abs=1e-15)}
    assert r["stable_learning_rate"] == pytest.approx(max_stable_step([2 / E, 2 / E]), rel=1e-14)  # = e
    # default eps: 0.01 in each variable
    assert r["eps"] == {"x": 0.01, "y": 0.01}
    assert r["quadratic"] == pytest.approx(book_model(-0.99, 0.01), abs=1e-15)
    x, y = -0.99, 0.01
    assert r["true"] == pytest.approx(x * math.exp(-x * x - y * y), abs=1e-15)


def test_newton_point_of_a_quadratic_is_its_minimum(engine):
    for at in ({"x": 0.0, "y": 0.0}, {"x": 7.0, "y": -2.5}):
        r = engine.approximate("x^2 + 3y^2 + x y - 2x + 4y", at)
        assert r["newton_point"] == {"x": pytest.approx(16 / 11, abs=1e-12), "y": pytest.approx(-10 / 11, abs=1e-12)}
        assert r["stable_learning_rate"] == pytest.approx(2 / ((8 + math.sqrt(20)) / 2), rel=1e-12)
        assert r["quadratic_error"] < 1e-12  # the model is the function
        assert r["errors"]["slope_quadratic"] is None  # nothing above round-off to measure


@pytest.mark.parametrize("text, at", [
    (LINEAR_APPROX["formula"], LINEAR_APPROX["point"]),
    (QUADRATIC_APPROX["formula"], QUADRATIC_APPROX["point"]),
    ("sin(x) cos(2y) + x^3", {"x": 0.3, "y": -0.2}),
])
def test_error_slopes_two_and_three_for_smooth_functions(engine, text, at):
    errors = engine.approximate(text, at)["errors"]
    t = np.array(errors["t"])
    assert t[0] == pytest.approx(1e-3) and t[-1] == pytest.approx(1.0) and len(t) == len(errors["linear"])
    assert errors["slope_linear"] == pytest.approx(2.0, abs=0.05)
    assert errors["slope_quadratic"] == pytest.approx(3.0, abs=0.05)
    lin, quad = np.array(errors["linear"]), np.array(errors["quadratic"])
    assert np.all(quad[:10] < lin[:10])


def test_sweep_direction(engine):
    r = engine.approximate(LINEAR_APPROX["formula"], LINEAR_APPROX["point"])
    np.testing.assert_allclose(r["errors"]["direction"], np.array([1, 2]) / math.sqrt(5), atol=1e-15)  # unit gradient
    r = engine.approximate("x^2 + y^2", {"x": 0.0, "y": 0.0})
    assert r["errors"]["direction"] == [1.0, 0.0]  # zero gradient: along the first axis
    np.testing.assert_allclose(r["errors"]["linear"], np.array(r["errors"]["t"]) ** 2, rtol=1e-12)
    r = engine.approximate("x^2 + y^2", {"x": 0.0, "y": 0.0}, direction=[0.0, -3.0])
    assert r["errors"]["direction"] == [0.0, -1.0]
    assert r["errors"]["true"][-1] == 1.0  # f(0, -1)
    with pytest.raises(EngineError, match="zero vector"):
        engine.approximate("x^2 + y^2", {"x": 0.0, "y": 0.0}, direction={"x": 0.0, "y": 0.0})


def test_one_variable(engine):
    r = engine.approximate(ONE_VARIABLE["formula"], {"x": 1.0}, eps=[0.1])
    # f(1) = -13, f'(1) = 12 - 12 - 24 = -24, f''(1) = 36 - 24 - 24 = -12
    assert (r["value"], r["gradient"], r["hessian"]) == (-13.0, {"x": -24.0}, [[-12.0]])
    assert r["linear"] == pytest.approx(-13 - 2.4, abs=1e-12)
    assert r["quadratic"] == pytest.approx(-13 - 2.4 - 0.06, abs=1e-12)
    assert r["true"] == pytest.approx(3 * 1.1**4 - 4 * 1.1**3 - 12 * 1.1**2, abs=1e-12)
    assert r["newton_step"] is None and r["stable_learning_rate"] is None  # f'' < 0
    r = engine.approximate(ONE_VARIABLE["formula"], {"x": 2.5})
    assert r["newton_step"]["x"] == pytest.approx(-(3 * 62.5 - 12 * 6.25 - 24 * 2.5) / (36 * 6.25 - 24 * 2.5 - 24))


def test_parameters(engine):
    r = engine.approximate("k x^2", {"x": 1.0}, {"k": 3.0}, eps={"x": 0.5})
    assert r["params"] == {"k": 3.0} and r["variables"] == ["x"]
    assert (r["true"], r["linear"], r["quadratic"]) == (6.75, 6.0, 6.75)


@pytest.mark.parametrize("kwargs, phrase", [
    (dict(eps=[0.1]), "eps needs 2 numbers"),
    (dict(eps={"z": 0.1}), "eps names 'z'"),
    (dict(eps=[0.1, float("nan")]), "eps must be finite"),
    (dict(eps=["a", "b"]), "eps must be numbers"),
    (dict(direction=[1.0, 2.0, 3.0]), "direction needs 2 numbers"),
])
def test_bad_eps_and_direction(engine, kwargs, phrase):
    with pytest.raises(EngineError, match=phrase):
        engine.approximate("x^2 + y^2", {"x": 0.0, "y": 0.0}, **kwargs)


def test_undefined_point_gives_nan_not_an_exception(engine):
    r = engine.approximate("log(x) + y", {"x": -1.0, "y": 0.0})
    assert math.isnan(r["value"]) and r["newton_step"] is None and r["stable_learning_rate"] is None
    assert r["errors"]["slope_linear"] is None


def test_models_module_has_no_tensorflow():
    import ast
    import inspect
    tree = ast.parse(inspect.getsource(approximation))
    imported = {a.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert "tensorflow" not in imported and imported <= {"__future__", "typing", "numpy"}
