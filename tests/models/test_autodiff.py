"""The TensorFlow engine against ground truth: hand-written derivatives (numpy), the seed's worked
examples and the published test functions. Points are float64 (1e-9), grids float32."""
from __future__ import annotations

import gc
import math
import weakref

import numpy as np
import pytest

from calcviz.models import tf_lowering
from calcviz.models.engine import MAX_GRID, Engine, EngineError
from calcviz.models.tf_lowering import TF_FUNCTIONS, lower
from calcviz.models.expression import FUNCTIONS, parse
from reference import (
    CHAIN, DEGENERATE, HIMMELBLAU_POINTS, LINEAR_APPROX, MAX, MIN, ONE_VARIABLE, QUADRATIC_APPROX,
    ROSENBROCK_EIGENVALUE_TOL, SADDLE, SPOT_CHECKS, TEST_FUNCTIONS, UNDERFLOW_FLAT,
)

TOL = dict(rtol=1e-9, atol=1e-9)
F32 = dict(rtol=2e-5, atol=2e-5)


@pytest.fixture(scope="module")
def engine():
    return Engine("cpu")


def point(engine, text, **at):
    return engine.evaluate_point(text, at)


def grad_of(result):
    return np.array([result["gradient"][n] for n in result["variables"]])


# ----------------------------------------------------------------------------- analytic derivatives
PI = np.pi


def _f_grad_hess(name, x, y):
    """f, gradient, Hessian written out by hand (numpy, no autodiff)."""
    if name == "sphere":
        return x**2 + y**2, [2 * x, 2 * y], [[2, 0], [0, 2]]
    if name == "saddle":
        return x**2 - y**2, [2 * x, -2 * y], [[2, 0], [0, -2]]
    if name == "booth":
        return ((x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2, [10 * x + 8 * y - 34, 8 * x + 10 * y - 38],
                [[10, 8], [8, 10]])
    if name == "rosenbrock":
        return ((1 - x) ** 2 + 100 * (y - x**2) ** 2,
                [-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)],
                [[2 - 400 * (y - x**2) + 800 * x**2, -400 * x], [-400 * x, 200]])
    if name == "himmelblau":
        a, b = x**2 + y - 11, x + y**2 - 7
        return (a**2 + b**2, [4 * x * a + 2 * b, 2 * a + 4 * y * b],
                [[12 * x**2 + 4 * y - 42, 4 * x + 4 * y], [4 * x + 4 * y, 12 * y**2 + 4 * x - 26]])
    if name == "rastrigin":
        return (20 + x**2 + y**2 - 10 * np.cos(2 * PI * x) - 10 * np.cos(2 * PI * y),
                [2 * x + 20 * PI * np.sin(2 * PI * x), 2 * y + 20 * PI * np.sin(2 * PI * y)],
                [[2 + 40 * PI**2 * np.cos(2 * PI * x), 0], [0, 2 + 40 * PI**2 * np.cos(2 * PI * y)]])
    raise KeyError(name)


POINTS = [(0.0, 0.0), (1.0, 2.0), (-1.5, 0.5), (0.3, -2.7), (3.0, 2.0), (-2.805118, 3.131313), (4.9, -4.2)]


@pytest.mark.parametrize("name", list(TEST_FUNCTIONS))
def test_reference_functions_value_gradient_hessian(engine, name):
    formula = TEST_FUNCTIONS[name].formula
    for x, y in POINTS:
        r = point(engine, formula, x=x, y=y)
        f, g, h = _f_grad_hess(name, x, y)
        assert r["variables"] == ["x", "y"]
        np.testing.assert_allclose(r["value"], f, **TOL, err_msg=f"{name} at {(x, y)}")
        np.testing.assert_allclose(grad_of(r), g, **TOL, err_msg=f"{name} gradient at {(x, y)}")
        np.testing.assert_allclose(np.array(r["hessian"]), np.array(h, float), **TOL,
                                   err_msg=f"{name} Hessian at {(x, y)}")
        np.testing.assert_allclose(r["eigenvalues"], np.linalg.eigvalsh(np.array(h, float)), **TOL)


@pytest.mark.parametrize("name", ["sphere", "saddle", "booth", "rosenbrock"])
def test_published_eigenvalues_at_the_critical_point(engine, name):
    (cp,) = TEST_FUNCTIONS[name].critical_points
    r = point(engine, TEST_FUNCTIONS[name].formula, x=cp.x, y=cp.y)
    assert r["value"] == pytest.approx(cp.f, abs=1e-12)
    np.testing.assert_allclose(grad_of(r), [0.0, 0.0], atol=1e-12)
    tol = ROSENBROCK_EIGENVALUE_TOL if name == "rosenbrock" else 1e-9
    np.testing.assert_allclose(sorted(r["eigenvalues"]), cp.eigenvalues, rtol=0, atol=tol)
    # eigenvectors are unit, orthogonal and really eigenvectors
    H, V = np.array(r["hessian"]), np.array(r["eigenvectors"])
    for lam, v in zip(r["eigenvalues"], V):
        np.testing.assert_allclose(H @ v, lam * v, atol=1e-9)
    np.testing.assert_allclose(V @ V.T, np.eye(2), atol=1e-12)


def test_booth_and_rosenbrock_eigenvalues_exactly():
    # 2 and 18 exactly; Rosenbrock's Hessian at (1, 1) is [[802, -400], [-400, 200]]
    assert np.linalg.eigvalsh([[10, 8], [8, 10]]) == pytest.approx([2, 18])
    expected = (1002 + np.array([-1, 1]) * math.sqrt(602**2 + 4 * 400**2)) / 2
    assert expected == pytest.approx([0.39936, 1001.6006], abs=1e-4)


@pytest.mark.parametrize("cp", HIMMELBLAU_POINTS, ids=[f"{p.kind}{p.x:+.2f}{p.y:+.2f}" for p in HIMMELBLAU_POINTS])
def test_himmelblau_critical_points(engine, cp):
    r = point(engine, TEST_FUNCTIONS["himmelblau"].formula, x=cp.x, y=cp.y)
    assert r["value"] == pytest.approx(cp.f, abs=1e-5)
    # coordinates are good to 1e-6 and the Hessian is at most ~100 there
    assert np.abs(grad_of(r)).max() < 2e-4
    lo, hi = sorted(r["eigenvalues"])
    kind = MIN if lo > 0 else MAX if hi < 0 else SADDLE
    assert kind == cp.kind


def test_rastrigin_global_minimum(engine):
    r = point(engine, TEST_FUNCTIONS["rastrigin"].formula, x=0.0, y=0.0)
    assert r["value"] == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(grad_of(r), 0.0, atol=1e-12)
    np.testing.assert_allclose(r["eigenvalues"], [2 + 40 * PI**2] * 2, **TOL)


@pytest.mark.parametrize("name, xy, f, g", SPOT_CHECKS)
def test_spot_checks(engine, name, xy, f, g):
    r = point(engine, TEST_FUNCTIONS[name].formula, x=xy[0], y=xy[1])
    assert r["value"] == pytest.approx(f, abs=1e-12)
    np.testing.assert_allclose(grad_of(r), g, **TOL)


# ----------------------------------------------------------------------------- the seed's examples
def test_seed_linear_approximation(engine):
    ex = LINEAR_APPROX
    r = engine.evaluate_point(ex["formula"], ex["point"])
    assert r["value"] == pytest.approx(math.log(3), abs=1e-12)
    assert r["value"] == pytest.approx(ex["value"], abs=1e-12)
    np.testing.assert_allclose(grad_of(r), [1 / 3, 2 / 3], **TOL)
    eps = np.array([ex["eps"]["x"], ex["eps"]["y"]])
    assert r["value"] + grad_of(r) @ eps == pytest.approx(ex["linear_value"], abs=1e-7)
    moved = {n: ex["point"][n] + ex["eps"][n] for n in ("x", "y")}
    assert engine.evaluate_point(ex["formula"], moved)["value"] == pytest.approx(ex["true_value"], abs=1e-7)
    # same as logsumexp, value and gradient
    s = engine.evaluate_point("logsumexp(x, y)", ex["point"])
    assert s["value"] == pytest.approx(r["value"], abs=1e-12)
    np.testing.assert_allclose(grad_of(s), grad_of(r), **TOL)


def test_seed_quadratic_approximation(engine):
    ex = QUADRATIC_APPROX
    r = engine.evaluate_point(ex["formula"], ex["point"])
    assert r["value"] == pytest.approx(-1 / math.e, abs=1e-12)
    np.testing.assert_allclose(grad_of(r), [-1 / math.e, 0.0], **TOL)
    np.testing.assert_allclose(np.array(r["hessian"]), (2 / math.e) * np.eye(2), **TOL)
    np.testing.assert_allclose(np.array(r["hessian"]), np.array(ex["hessian"]), **TOL)
    # The quadratic model e^-1 (-1 - (x+1) + (x+1)^2 + y^2) (not the book's factor-2 slip)
    model = engine.evaluate_point(ex["model"], ex["point"])
    assert model["value"] == pytest.approx(r["value"], abs=1e-12)
    np.testing.assert_allclose(grad_of(model), grad_of(r), **TOL)
    np.testing.assert_allclose(model["hessian"], r["hessian"], **TOL)
    for cp in ex["critical_points"]:
        c = engine.evaluate_point(ex["formula"], {"x": cp.x, "y": cp.y})
        assert c["value"] == pytest.approx(cp.f, abs=1e-7)
        np.testing.assert_allclose(grad_of(c), 0.0, atol=1e-12)
        assert (max(c["eigenvalues"]) < 0) if cp.kind == MAX else (min(c["eigenvalues"]) > 0)


def test_seed_chain_rule_network(engine):
    r = engine.evaluate_point(CHAIN["formula"], CHAIN["point"])
    assert r["variables"] == ["w", "x", "y", "z"]
    assert r["value"] == CHAIN["value"] == 1024.0
    assert r["gradient"] == {name: -4096.0 for name in "wxyz"}
    assert r["gradient"] == CHAIN["gradient"]
    # the same with the differentiated variables given in another order
    shuffled = {n: CHAIN["point"][n] for n in ("z", "x", "w", "y")}
    r2 = engine.evaluate_point(CHAIN["formula"], shuffled)
    assert r2["variables"] == ["z", "x", "w", "y"] and r2["gradient"] == CHAIN["gradient"]


def test_chain_intermediates_and_their_partials():
    """lower(keep=...) exposes each definition's tensor (the chain-rule view): check a, b, u, v and
    df/du, df/dv, df/da, df/db."""
    tf = tf_lowering.tf
    expression = parse(CHAIN["formula"])
    env = {n: tf.constant(v, tf.float64) for n, v in CHAIN["point"].items()}
    keep = {}
    with tf.GradientTape(persistent=True) as tape:
        for t in env.values():
            tape.watch(t)
        out = lower(expression, env, tf.float64, keep)
    assert float(out) == 1024.0
    assert {n: float(keep[n]) for n in "abuv"} == CHAIN["intermediates"]
    partials = {n: float(tape.gradient(out, keep[n])) for n in "abuv"}
    assert partials == CHAIN["partials"]
    assert {n: float(tape.gradient(out, env[n])) for n in "wxyz"} == CHAIN["gradient"]


def test_seed_one_variable_curve(engine):
    formula = ONE_VARIABLE["formula"]
    out = engine.evaluate_grid(formula, ["x"], [(-2.0, 3.0)], 201)
    x = np.linspace(-2.0, 3.0, 201)
    np.testing.assert_allclose(out["coords"][0], x)
    assert out["value"].shape == out["d1"].shape == out["d2"].shape == (201,)
    assert out["value"].dtype == np.float64
    np.testing.assert_allclose(out["value"], 3 * x**4 - 4 * x**3 - 12 * x**2, **TOL)
    np.testing.assert_allclose(out["d1"], 12 * x * (x - 2) * (x + 1), **TOL)
    np.testing.assert_allclose(out["d2"], 36 * x**2 - 24 * x - 24, **TOL)
    assert out["undefined_fraction"] == 0.0
    for kind, xc, fc in ONE_VARIABLE["critical_points"]:
        r = engine.evaluate_point(formula, {"x": xc})
        assert r["value"] == fc
        assert r["gradient"] == {"x": 0.0}
        (second,) = r["eigenvalues"]
        assert second == 36 * xc**2 - 24 * xc - 24
        assert (second > 0) == (kind == MIN)
    assert min(out["value"]) == pytest.approx(ONE_VARIABLE["global_min"][1], abs=1e-12)
    assert x[np.argmin(out["value"])] == pytest.approx(ONE_VARIABLE["global_min"][0], abs=1e-12)


# ----------------------------------------------------------------------------- parameters
def test_parameters(engine):
    r = engine.evaluate_point("k*x^2", {"x": 2.0}, {"k": 3.0})
    assert r["variables"] == ["x"] and r["params"] == {"k": 3.0}
    assert r["value"] == 12.0 and r["gradient"] == {"x": 12.0} and r["hessian"] == [[6.0]]
    compiled = engine._compiled
    from calcviz.models.autodiff import EAGER_CALLS
    for _ in range(EAGER_CALLS):  # (the first calls run eagerly; then one function is traced)
        engine.evaluate_point("k*x^2", {"x": 2.0}, {"k": 3.0})
    traced = dict(compiled._points)
    r = engine.evaluate_point("k*x^2", {"x": -1.0}, {"k": 0.5})
    assert r["value"] == 0.5 and r["gradient"] == {"x": -1.0} and r["hessian"] == [[1.0]]
    # a new parameter value or point reuses the traced function, and does not trace another
    assert engine._compiled is compiled
    assert compiled._points == traced and len(traced) == 1


def test_parameter_held_fixed_while_the_other_is_differentiated(engine):
    # k x y: differentiate in x only, y is a parameter
    r = engine.evaluate_point("k x y", {"x": 2.0}, {"k": 3.0, "y": 5.0})
    assert r["variables"] == ["x"] and r["gradient"] == {"x": 15.0}
    assert r["params"] == {"y": 5.0, "k": 3.0}
    r = engine.evaluate_point("k x y", {"x": 2.0, "y": 5.0, "k": 3.0})
    assert r["gradient"] == {"x": 15.0, "y": 6.0, "k": 10.0}


def test_missing_parameter_and_unknown_variable(engine):
    with pytest.raises(EngineError, match="give a value for k"):
        engine.evaluate_point("k*x^2", {"x": 1.0})
    with pytest.raises(EngineError, match="'z' does not appear in the formula"):
        engine.evaluate_point("x^2 + y", {"x": 1.0, "y": 1.0, "z": 2.0})
    with pytest.raises(EngineError, match="give a value for k"):
        engine.evaluate_grid("k*x*y", ["x", "y"], [(0, 1), (0, 1)], 5)


def test_parse_errors_pass_through(engine):
    from calcviz.models.expression import ParseError
    with pytest.raises(ParseError):
        engine.evaluate_point("x +", {"x": 1.0})
    with pytest.raises(ParseError):
        engine.evaluate_grid("foo(x)", ["x"], [(0, 1)], 5)


# ----------------------------------------------------------------------------- grids
def test_grid_shape_indexing_and_values(engine):
    text = "sin(x)*cos(y) + 0.1x^2 + 0.3 y"
    xr, yr, n = (-2.0, 2.0), (-1.0, 3.0), 41
    out = engine.evaluate_grid(text, ["x", "y"], [xr, yr], n)
    xs, ys = np.linspace(*xr, n), np.linspace(*yr, n)
    np.testing.assert_allclose(out["coords"][0], xs)
    np.testing.assert_allclose(out["coords"][1], ys)
    assert out["axes"] == ["x", "y"]
    for key in ("value", "d1", "d2"):
        assert out[key].shape == (n, n) and out[key].dtype == np.float32
    X, Y = np.meshgrid(xs, ys, indexing="ij")  # [i, j] -> (xs[i], ys[j])
    np.testing.assert_allclose(out["value"], np.sin(X) * np.cos(Y) + 0.1 * X**2 + 0.3 * Y, **F32)
    np.testing.assert_allclose(out["d1"], np.cos(X) * np.cos(Y) + 0.2 * X, **F32)
    np.testing.assert_allclose(out["d2"], -np.sin(X) * np.sin(Y) + 0.3, **F32)
    # one explicit element, so a transposed array cannot pass
    i, j = 3, 30
    assert out["value"][i, j] == pytest.approx(math.sin(xs[i]) * math.cos(ys[j]) + 0.1 * xs[i] ** 2 + 0.3 * ys[j],
                                               abs=2e-5)
    assert out["undefined_fraction"] == 0.0
    assert out["device"] == "CPU"


def test_grid_axes_in_the_other_order(engine):
    out = engine.evaluate_grid("x - 2y", ["y", "x"], [(0.0, 1.0), (10.0, 20.0)], 11)
    ys, xs = np.linspace(0, 1, 11), np.linspace(10, 20, 11)
    Yg, Xg = np.meshgrid(ys, xs, indexing="ij")
    np.testing.assert_allclose(out["value"], Xg - 2 * Yg, **F32)
    np.testing.assert_allclose(out["d1"], -2.0)  # d/dy first
    np.testing.assert_allclose(out["d2"], 1.0)


def test_grid_with_a_parameter(engine):
    out = engine.evaluate_grid("k x y", ["x", "y"], [(-1, 1), (-1, 1)], 5, {"k": 2.0})
    X, Y = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5), indexing="ij")
    np.testing.assert_allclose(out["value"], 2 * X * Y, **F32)
    np.testing.assert_allclose(out["d1"], 2 * Y, **F32)
    np.testing.assert_allclose(out["d2"], 2 * X, **F32)


@pytest.mark.parametrize("name", list(TEST_FUNCTIONS))
def test_reference_functions_on_their_box(engine, name):
    fn = TEST_FUNCTIONS[name]
    n = 33
    out = engine.evaluate_grid(fn.formula, ["x", "y"], list(fn.box), n)
    X, Y = np.meshgrid(np.linspace(*fn.box[0], n), np.linspace(*fn.box[1], n), indexing="ij")
    f, g, _ = _f_grad_hess(name, X, Y)
    scale = max(1.0, float(np.abs(f).max()))
    np.testing.assert_allclose(out["value"], f, rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(out["d1"], g[0], rtol=1e-5, atol=1e-6 * scale)
    np.testing.assert_allclose(out["d2"], g[1], rtol=1e-5, atol=1e-6 * scale)


def test_log_outside_its_domain_gives_holes_not_errors(engine):
    out = engine.evaluate_grid("log(x)", ["x", "y"], [(-1.0, 1.0), (-1.0, 1.0)], 100)
    xs = np.linspace(-1, 1, 100)
    assert out["value"].shape == (100, 100)
    assert np.isnan(out["value"][xs < 0]).all()
    assert np.isfinite(out["value"][xs > 0]).all()
    np.testing.assert_allclose(out["value"][xs > 0], np.log(xs[xs > 0])[:, None] * np.ones(100), **F32)
    assert out["undefined_fraction"] == pytest.approx(0.5, abs=0.01)
    np.testing.assert_allclose(out["d2"][xs > 0], 0.0)  # constant along y
    np.testing.assert_allclose(out["d1"][xs > 0], (1 / xs[xs > 0])[:, None] * np.ones(100), **F32)
    # where f is undefined, so is its gradient (TensorFlow alone would give log's 1/x there)
    assert np.isnan(out["d1"][xs < 0]).all() and np.isnan(out["d2"][xs < 0]).all()
    assert out["d1"].dtype == out["d2"].dtype == np.float32
    # ... and on a curve: no f' or f'' drawn where there is no f
    curve = engine.evaluate_grid("log(x)", ["x"], [(-1.0, 1.0)], 100)
    assert np.isnan(curve["d1"][xs < 0]).all() and np.isnan(curve["d2"][xs < 0]).all()
    np.testing.assert_allclose(curve["d2"][xs > 0], -1 / xs[xs > 0] ** 2, **F32)
    # with x = 0 on the grid: log(0) = -inf counts as undefined too
    out = engine.evaluate_grid("log(x)", ["x", "y"], [(-1.0, 1.0), (-1.0, 1.0)], 101)
    assert out["undefined_fraction"] == pytest.approx(51 / 101)


@pytest.mark.parametrize("text, x", [("sqrt(x)", -1.0), ("1/x", 0.0), ("log(x)", -1.0), ("log(x)", 0.0),
                                     ("asin(2x)", 1.0)])
def test_outside_the_domain_on_a_point_is_nan_not_an_error(engine, text, x):
    r = engine.evaluate_point(text, {"x": x})
    assert not math.isfinite(r["value"])  # (TF still gives log's gradient 1/x at x = -1: only the value tells)


def test_not_differentiable_point(engine):
    r = engine.evaluate_point("sqrt(x^2+y^2)", {"x": 0.0, "y": 0.0})
    assert r["value"] == 0.0
    assert not np.isfinite(grad_of(r)).all()
    assert not np.isfinite(r["eigenvalues"]).all()  # no eigen-decomposition of a NaN Hessian
    out = engine.evaluate_grid("sqrt(x^2+y^2)", ["x", "y"], [(-1, 1), (-1, 1)], 5)
    assert not np.isfinite(out["d1"][2, 2])
    assert np.isfinite(np.delete(out["d1"].ravel(), 12)).all()
    np.testing.assert_allclose(out["d1"][4, 2], 1.0)  # at (1, 0)


def test_overflow_is_inf_not_an_exception(engine):
    out = engine.evaluate_grid("exp(50*x)", ["x", "y"], [(-5, 5), (-5, 5)], 21)
    xs = np.linspace(-5, 5, 21)
    big = 50 * xs > 89  # float32 overflows past about e^88.7
    assert np.isposinf(out["value"][big]).all() and np.isnan(out["d1"][big]).all()
    assert np.isfinite(out["value"][~big]).all() and np.isfinite(out["d1"][~big]).all()
    assert out["undefined_fraction"] == pytest.approx(big.mean())
    r = engine.evaluate_point("exp(50*x)", {"x": 20.0})  # float64 overflows past e^709
    assert r["value"] == math.inf


def test_flat_region_underflows_to_zero(engine):
    out = engine.evaluate_grid(UNDERFLOW_FLAT, ["x", "y"], [(-5, 5), (-5, 5)], 11)
    assert np.isfinite(out["value"]).all() and np.isfinite(out["d1"]).all()
    assert out["value"][5, 5] == 1.0
    assert out["d1"][0, 0] == 0.0 and out["value"][0, 0] == 0.0


@pytest.mark.parametrize("text, xy", DEGENERATE)
def test_degenerate_critical_points(engine, text, xy):
    r = engine.evaluate_point(text, {"x": xy[0], "y": xy[1]})
    assert r["value"] == 0.0 and r["gradient"] == {"x": 0.0, "y": 0.0}
    np.testing.assert_allclose(r["hessian"], np.zeros((2, 2)), atol=0)


@pytest.mark.parametrize("n", [0, 1, MAX_GRID + 1, 10**6])
def test_grid_resolution_is_refused_outside_2_to_2000(engine, n):
    with pytest.raises(EngineError, match="between 2 and 2000"):
        engine.evaluate_grid("x*y", ["x", "y"], [(0, 1), (0, 1)], n)


def test_smallest_grid(engine):
    out = engine.evaluate_grid("x*y", ["x", "y"], [(0, 1), (0, 1)], 2)
    np.testing.assert_allclose(out["value"], [[0, 0], [0, 1]])


@pytest.mark.parametrize("ranges", [[(1, 1), (0, 1)], [(2, 1), (0, 1)], [(0, math.inf), (0, 1)],
                                    [(0, 1), (math.nan, 1)]])
def test_bad_ranges_are_refused(engine, ranges):
    with pytest.raises(EngineError, match="a range must go from a smaller to a larger finite number"):
        engine.evaluate_grid("x*y", ["x", "y"], ranges, 5)


@pytest.mark.parametrize("axes, ranges", [(["x", "y"], [(0, 1)]), (["x"], [(0, 1), (0, 1)]),
                                          (["x", "y", "k"], [(0, 1)] * 3), ([], [])])
def test_axes_and_ranges_must_match(engine, axes, ranges):
    with pytest.raises(EngineError, match="one or two axes"):
        engine.evaluate_grid("x*y*k", axes, ranges, 5, {"k": 1.0})


def test_axes_must_be_distinct_and_not_constants_or_definitions(engine):
    with pytest.raises(EngineError, match="only once"):
        engine.evaluate_grid("x*y", ["x", "x"], [(0, 1), (0, 1)], 5)
    with pytest.raises(EngineError, match="'pi' does not appear"):
        engine.evaluate_grid("x*pi", ["x", "pi"], [(0, 1), (0, 1)], 5)
    with pytest.raises(EngineError, match="'a' does not appear"):
        engine.evaluate_grid("a = x^2; a + y", ["a", "y"], [(0, 1), (0, 1)], 5)


def test_a_surface_may_ignore_one_axis(engine):
    out = engine.evaluate_grid("x^2", ["x", "y"], [(-1, 1), (-1, 1)], 5)
    X = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5), indexing="ij")[0]
    np.testing.assert_allclose(out["value"], X**2)
    np.testing.assert_allclose(out["d1"], 2 * X)
    np.testing.assert_allclose(out["d2"], 0.0)


def test_constant_expression_has_the_grid_shape(engine):
    out = engine.evaluate_grid("3", ["x", "y"], [(0, 1), (0, 2)], 7)
    assert out["value"].shape == out["d1"].shape == out["d2"].shape == (7, 7)
    np.testing.assert_allclose(out["value"], 3.0)
    np.testing.assert_allclose(out["d1"], 0.0)
    np.testing.assert_allclose(out["d2"], 0.0)
    curve = engine.evaluate_grid("pi", ["x"], [(0, 1)], 9)
    assert curve["value"].shape == (9,)
    np.testing.assert_allclose(curve["value"], math.pi)
    np.testing.assert_allclose(curve["d1"], 0.0)


def test_constant_expression_at_a_point(engine):
    r = engine.evaluate_point("2 pi", {})
    assert r["value"] == 2 * math.pi
    assert r["variables"] == [] and r["gradient"] == {} and r["hessian"] == [] and r["eigenvalues"] == []


def test_results_are_plain_python_and_numpy(engine):
    r = engine.evaluate_point("x^2 y", {"x": 1.0, "y": 2.0})
    assert type(r["value"]) is float
    assert all(type(v) is float for v in r["gradient"].values())
    assert all(type(v) is float for row in r["hessian"] for v in row)
    out = engine.evaluate_grid("x^2 y", ["x", "y"], [(0, 1), (0, 1)], 4)
    assert all(isinstance(out[k], np.ndarray) for k in ("value", "d1", "d2"))
    assert type(out["undefined_fraction"]) is float


# ----------------------------------------------------------------------------- the function table
ARGS = {"asin": 0.3, "acos": -0.4, "log": 1.7, "ln": 2.2, "log2": 3.0, "log10": 5.0, "sqrt": 2.5,
        "relu": 0.8, "abs": -1.3}


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_function_value_and_derivative(engine, name):
    """Each TF lowering against math (value) and a central difference (derivative) in float64."""
    from test_expression import MATH
    low, _ = FUNCTIONS[name]
    extra = [0.25, -0.6, 1.1][: max(0, low - 1)]
    text = f"{name}(x{''.join(f', {a}' for a in extra)})"
    x0 = ARGS.get(name, 0.7)
    r = engine.evaluate_point(text, {"x": x0})
    assert r["value"] == pytest.approx(MATH[name](x0, *extra), rel=1e-12, abs=1e-15)
    h = 1e-6
    numeric = (MATH[name](x0 + h, *extra) - MATH[name](x0 - h, *extra)) / (2 * h)
    assert r["gradient"]["x"] == pytest.approx(numeric, rel=1e-6, abs=1e-8)
    assert name in TF_FUNCTIONS


def test_logsumexp_is_stable_for_large_arguments(engine):
    r = engine.evaluate_point("logsumexp(x, y)", {"x": 1000.0, "y": 1000.0})
    assert r["value"] == pytest.approx(1000 + math.log(2), abs=1e-9)
    np.testing.assert_allclose(grad_of(r), [0.5, 0.5], **TOL)
    np.testing.assert_allclose(r["hessian"], [[0.25, -0.25], [-0.25, 0.25]], **TOL)


def test_square_is_exact_and_smooth_at_zero(engine):
    r = engine.evaluate_point("x^2 + y^3", {"x": 0.0, "y": 0.0})
    assert r["gradient"] == {"x": 0.0, "y": 0.0}
    assert r["hessian"] == [[2.0, 0.0], [0.0, 0.0]]
    r = engine.evaluate_point("x^2", {"x": -3.0})
    assert r["value"] == 9.0 and r["gradient"] == {"x": -6.0}


def test_deep_formulas_lower_without_recursion_errors(engine):
    deep = "sin(" * 99 + "x" + ")" * 99
    v = 0.5
    for _ in range(99):
        v = math.sin(v)
    assert engine.evaluate_point(deep, {"x": 0.5})["value"] == pytest.approx(v, rel=1e-12)
    flat = "+".join(["x"] * 100)
    r = engine.evaluate_point(flat, {"x": 0.5})
    assert r["value"] == 50.0 and r["gradient"] == {"x": 100.0}
    out = engine.evaluate_grid(flat, ["x"], [(0, 1)], 3)
    np.testing.assert_allclose(out["d1"], 100.0)


# ----------------------------------------------------------------------------- batches, compiling
def test_batch_of_points(engine):
    compiled = engine.compile("x^2 y + k", ["x", "y"], ["k"])
    pts = np.array([[1.0, 2.0], [3.0, -1.0], [0.0, 0.5]])
    v, g, h = compiled.at(pts, np.array([10.0]))
    assert v.shape == (3,) and g.shape == (3, 2) and h.shape == (3, 2, 2)
    x, y = pts[:, 0], pts[:, 1]
    np.testing.assert_allclose(v, x**2 * y + 10, **TOL)
    np.testing.assert_allclose(g, np.stack([2 * x * y, x**2], axis=1), **TOL)
    np.testing.assert_allclose(h[:, 0, 0], 2 * y, **TOL)
    np.testing.assert_allclose(h[:, 0, 1], 2 * x, **TOL)
    np.testing.assert_allclose(h[:, 1, 1], 0.0, **TOL)
    v2, g2 = compiled.value_and_gradient(pts, np.array([10.0]))
    np.testing.assert_allclose(v2, v, **TOL)
    np.testing.assert_allclose(g2, g, **TOL)


def test_a_new_formulas_first_points_run_eagerly_then_one_traced_function_agrees(engine):
    """The first EAGER_CALLS small batches skip the 30-40 ms trace (a new formula's read-out, a race's first
    steps); the traced function that follows gives the same numbers."""
    from calcviz.models.autodiff import EAGER_CALLS
    compiled = engine.compile("sin(x) y^3 + k e^(x y)", ["x", "y"], ["k"])
    pts, k = np.array([[0.3, -1.2], [2.0, 0.5]]), np.array([0.7])
    eager = [compiled.at(pts, k) for _ in range(EAGER_CALLS)]
    assert compiled._points == {}
    traced = compiled.at(pts, k)
    assert list(compiled._points) == [32]
    x, y = pts[:, 0], pts[:, 1]
    exact_v = np.sin(x) * y**3 + 0.7 * np.exp(x * y)
    exact_g = np.stack([np.cos(x) * y**3 + 0.7 * y * np.exp(x * y), 3 * np.sin(x) * y**2 + 0.7 * x * np.exp(x * y)], 1)
    exact_hxy = 3 * np.cos(x) * y**2 + 0.7 * (1 + x * y) * np.exp(x * y)
    for v, g, h in (*eager, traced):
        np.testing.assert_allclose(v, exact_v, rtol=1e-13)
        np.testing.assert_allclose(g, exact_g, rtol=1e-13)
        np.testing.assert_allclose(h[:, 0, 1], exact_hxy, rtol=1e-13)
        np.testing.assert_allclose(h[:, 1, 0], exact_hxy, rtol=1e-13)


def test_a_formula_searched_again_traces_its_search_tail_aside_and_finds_the_same_points(engine, monkeypatch):
    """The first two searches pad their last few moving seeds to their own batch (no second trace for a
    formula that may be searched once, none that the second would wait for); after the second, the
    TAIL_BATCH function is traced aside, and the searches that use it find the same points, to round-off.
    A formula whose search has no long tail (the sphere: Newton lands in one step) gets no such trace."""
    from calcviz.models import autodiff
    from calcviz.models.autodiff import TAIL_BATCH
    fn = TEST_FUNCTIONS["rosenbrock"]  # (a long valley: its last Newton steps move a few seeds)
    box = [list(r) for r in fn.box]
    sizes = []
    at = autodiff.Compiled.at
    monkeypatch.setattr(autodiff.Compiled, "at", lambda self, X, P, batch=None, eager=False:
                        sizes.append(batch) or at(self, X, P, batch, eager))
    first = engine.find_critical_points(fn.formula, ["x", "y"], box)
    compiled = engine._compiled
    assert TAIL_BATCH not in compiled._points and len(compiled._points) == 1 and TAIL_BATCH not in sizes
    engine.find_critical_points(fn.formula, ["x", "y"], box)
    assert TAIL_BATCH not in sizes
    autodiff._finish_compiling()  # (the trace aside ends)
    assert engine._compiled is compiled and TAIL_BATCH in compiled._points
    third = engine.find_critical_points(fn.formula, ["x", "y"], box)
    assert sizes.count(TAIL_BATCH) >= 10  # (its last 20-30 Newton passes move fewer than 256 seeds)
    (cp,) = fn.critical_points
    for result in (first, third):
        (found,) = result["critical_points"]
        assert found["type"] == "min" and result["complete"]
        assert found["point"]["x"] == pytest.approx(cp.x, abs=1e-9) and found["point"]["y"] == pytest.approx(cp.y, abs=1e-9)
        np.testing.assert_allclose(found["eigenvalues"], cp.eigenvalues, rtol=ROSENBROCK_EIGENVALUE_TOL)
    assert third["critical_points"][0]["point"] == pytest.approx(first["critical_points"][0]["point"], abs=1e-12)

    sphere = TEST_FUNCTIONS["sphere"]
    for _ in range(3):
        engine.find_critical_points(sphere.formula, ["x", "y"], [list(r) for r in sphere.box])
    autodiff._finish_compiling()
    assert list(engine._compiled._points) == [sizes[-1]]  # (its search's batch alone)


def test_points_come_back_read_only(engine):
    """at() hands out TensorFlow's buffers without copying them: writing into one is an error, not a
    silent change of a later result."""
    v, g, h = engine.compile("x y^2", ["x", "y"], []).at(np.array([[1.0, 2.0]]), np.zeros(0))
    assert (v[0], *g[0], *h[0].ravel()) == (4.0, 4.0, 4.0, 0.0, 4.0, 4.0, 2.0)
    with pytest.raises(ValueError, match="read-only"):
        g[0, 0] = 1.0


def test_compiling_a_second_expression_drops_the_first(engine):
    from calcviz.models.autodiff import EAGER_CALLS
    for _ in range(EAGER_CALLS + 1):  # (the first run eagerly: no function kept)
        engine.evaluate_point("x^2 + y^2 + 1", {"x": 1.0, "y": 2.0})
    first = engine._compiled
    assert engine.compile("x^2 + y^2 + 1", ["x", "y"], []) is first  # same key: kept
    (point_function,) = first._points.values()
    gone, gone_fn = weakref.ref(first), weakref.ref(point_function)
    del point_function
    del first
    r = engine.evaluate_point("x^3 - y", {"x": 2.0, "y": 1.0})
    assert r["value"] == 7.0
    assert engine._compiled.expression.text == "x^3 - y"
    gc.collect()
    assert gone() is None and gone_fn() is None, "the old compiled functions are still alive"
    # a different split of the same text is a new compilation too
    engine.evaluate_point("x^3 - y", {"x": 2.0}, {"y": 1.0})
    assert engine._compiled.variables == ("x",) and engine._compiled.params == ("y",)


def test_curve_and_grid_need_the_right_number_of_variables(engine):
    compiled = engine.compile("x y", ["x"], ["y"])
    with pytest.raises(EngineError, match="two axis variables"):
        compiled.grid(np.zeros(3), np.zeros(3), np.array([1.0]))
    compiled = engine.compile("x y", ["x", "y"], [])
    with pytest.raises(EngineError, match="exactly one variable"):
        compiled.curve(np.zeros(3), np.array([]))


# ----------------------------------------------------------------------------- devices
def test_cpu_device():
    e = Engine("cpu")
    assert e.device_name == "CPU" and e.device == "/CPU:0"
    assert e.evaluate_point("x+1", {"x": 1.0})["device"] == "CPU"


def test_gpu_request_without_a_gpu_is_refused():
    if tf_lowering._GPUS:
        e = Engine("gpu")
        assert e.device_name.startswith("GPU")
        pytest.skip("a GPU is present: the no-GPU refusal cannot be checked here")
    with pytest.raises(EngineError, match="no GPU"):
        Engine("gpu")


def test_auto_device_is_the_gpu_only_when_there_is_one():
    e = Engine("auto")
    assert e.device_name == ("CPU" if not tf_lowering._GPUS else e.device_name)
    assert e.device_name.startswith("GPU") == bool(tf_lowering._GPUS)


@pytest.mark.parametrize("device", ["tpu", "CPU", "", "/GPU:0"])
def test_unknown_device_is_refused(device):
    with pytest.raises(EngineError, match="unknown device"):
        Engine(device)


def test_large_grids_through_xla_agree_with_the_plain_graph():
    """Grids of XLA_MIN_POINTS or more take the XLA-compiled function; it must give the same numbers."""
    from calcviz.models.autodiff import EAGER_CALLS, XLA_MIN_POINTS
    from calcviz.models.engine import Engine
    engine = Engine("cpu")
    n = int(np.ceil(np.sqrt(XLA_MIN_POINTS)))
    text = "sin(x)*cos(y) + 0.1x^2 + log(x)"
    big = engine.evaluate_grid(text, ["x", "y"], [(-3.0, 3.0), (-3.0, 3.0)], n)
    X, Y = np.meshgrid(big["coords"][0], big["coords"][1], indexing="ij")
    with np.errstate(invalid="ignore"):
        expected = (np.sin(X) * np.cos(Y) + 0.1 * X**2 + np.log(X), np.cos(X) * np.cos(Y) + 0.2 * X + 1 / X,
                    -np.sin(X) * np.sin(Y))
    for got, want in zip((big["value"], big["d1"], big["d2"]), expected):
        finite = np.isfinite(want) & (X > 0)
        np.testing.assert_allclose(got[finite], want[finite], rtol=2e-4, atol=2e-4)
    assert np.isnan(big["value"][X < 0]).all()  # holes survive XLA's fusion
    compiled = engine.compile(text, ("x", "y"), ())
    for _ in range(EAGER_CALLS - 1):  # the first grids of a size run eagerly; the next through XLA
        assert list(compiled._grids) == []
        engine.evaluate_grid(text, ["x", "y"], [(-3.0, 3.0), (-3.0, 3.0)], n)
    assert list(compiled._grids) == []
    again = engine.evaluate_grid(text, ["x", "y"], [(-3.0, 3.0), (-3.0, 3.0)], n)
    assert list(compiled._grids) == [(n, n, True)]
    for key in ("value", "d1", "d2"):
        np.testing.assert_allclose(again[key], big[key], rtol=1e-5, atol=1e-5)
