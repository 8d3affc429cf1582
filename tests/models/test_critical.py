"""Critical points: the Newton search (TensorFlow), de-duplication and classification against ground
truth (REFERENCE.md via reference.py), the honesty of "complete" and "note", and the plain-numpy
pieces of calcviz/models/critical.py on their own."""
from __future__ import annotations

import math

import numpy as np
import pytest

from calcviz.models import critical
from calcviz.models.engine import Engine, EngineError
from calcviz.models.expression import ParseError
from reference import (
    COORD_TOL, DEGENERATE, HIMMELBLAU, MAX, MIN, ONE_VARIABLE, OUTSIDE_DOMAIN, QUADRATIC_APPROX,
    ROSENBROCK_EIGENVALUE_TOL, SADDLE, TEST_FUNCTIONS, UNDERFLOW_FLAT, LINEAR_APPROX, RASTRIGIN,
)

KEYS = {"axes", "ranges", "params", "critical_points", "curves", "box_min", "box_max", "complete", "note",
        "resolution", "seeds", "device", "seconds"}
POINT_KEYS = {"point", "value", "type", "eigenvalues", "zero_eigenvalues", "grad_norm", "global_min", "global_max"}


@pytest.fixture(scope="module")
def engine():
    return Engine("cpu")


def search(engine, text, box, axes=("x", "y"), **kw):
    return engine.find_critical_points(text, list(axes), [tuple(r) for r in box], **kw)


def coords(p, axes=("x", "y")):
    return np.array([p["point"][a] for a in axes])


def only(points, kind):
    return [p for p in points if p["type"] == kind]


def check_shape(result, axes=("x", "y")):
    assert set(result) == KEYS
    assert result["axes"] == list(axes)
    values = [p["value"] for p in result["critical_points"]]
    assert values == sorted(values), "sorted by value"
    for p in result["critical_points"]:
        assert set(p) == POINT_KEYS and list(p["point"]) == list(axes)
        assert p["type"] in critical.TYPES
        assert len(p["eigenvalues"]) == len(axes)
        # degenerate exactly when an eigenvalue counted as zero
        assert 0 <= p["zero_eigenvalues"] <= len(axes) and (p["zero_eigenvalues"] > 0) == (p["type"] == "degenerate")
        assert all(type(v) is float for v in (p["value"], p["grad_norm"], *p["eigenvalues"], *p["point"].values()))
    # de-duplicated: no two points closer than a millionth of the box
    pts = np.array([coords(p, axes) for p in result["critical_points"]]).reshape(-1, len(axes))
    if len(pts) > 1:
        gaps = np.abs(pts[:, None, :] - pts[None, :, :]).max(axis=2) + np.eye(len(pts))
        assert gaps.min() > 1e-4
    # A minimum (maximum) is global exactly when it ties the box's min (max), which no value of f at
    # a critical point undercuts (overcuts); the box's extremes lie in the closed box.
    for kind, flag, extreme, sign in (("min", "global_min", "box_min", 1), ("max", "global_max", "box_max", -1)):
        box = result[extreme]
        assert set(box) == {"value", "point", "where"} and box["where"] in ("interior", "edge", "corner")
        for a, (lo, hi) in zip(axes, result["ranges"]):
            assert lo <= box["point"][a] <= hi
        tol = 1e-9 * (1 + abs(box["value"]))
        for p in result["critical_points"]:
            assert sign * (p["value"] - box["value"]) >= -tol
            # (a degenerate point too: the second-derivative test says nothing, its value says it all)
            assert p[flag] == (p["type"] in (kind, "degenerate") and abs(p["value"] - box["value"]) <= tol)


def match(points, x, y):
    near = [p for p in points if abs(p["point"]["x"] - x) <= COORD_TOL and abs(p["point"]["y"] - y) <= COORD_TOL]
    assert len(near) == 1, f"no single point at ({x}, {y}): {[coords(p) for p in points]}"
    return near[0]


# ----------------------------------------------------------------------------- published test functions
def test_himmelblau_nine_points_types_and_values(engine):
    result = search(engine, HIMMELBLAU.formula, HIMMELBLAU.box)
    check_shape(result)
    points = result["critical_points"]
    assert len(points) == 9
    for ref in HIMMELBLAU.critical_points:
        p = match(points, ref.x, ref.y)
        assert p["type"] == ref.kind, (ref, p)
        assert p["value"] == pytest.approx(ref.f, abs=COORD_TOL)
        assert p["grad_norm"] < 1e-9
        lo, hi = p["eigenvalues"]
        assert lo <= hi and {MIN: lo > 0, MAX: hi < 0, SADDLE: lo < 0 < hi}[ref.kind]
    assert result["complete"] is True
    assert result["seeds"] == critical.DEFAULT_SEEDS_PER_SIDE[2] ** 2
    # The maximum (f = 181.6) is local only: f(5, 5) = 19^2 + 23^2 = 890 at a corner of the box.
    assert not any(p["global_max"] for p in points)
    assert result["box_max"] == {"value": 890.0, "point": {"x": 5.0, "y": 5.0}, "where": "corner"}
    assert result["note"].startswith("f is larger at a corner: 890 at (x, y) = (5, 5), so no maximum found is "
                                     "the global one.")
    # All four minima are 0: each is a global minimum of the box.
    lows = [p for p in points if p["global_min"]]
    assert len(lows) == 4 and all(p["type"] == MIN and p["value"] == pytest.approx(0.0, abs=1e-12) for p in lows)


def test_rosenbrock_single_minimum_and_nothing_else(engine):
    fn = TEST_FUNCTIONS["rosenbrock"]
    result = search(engine, fn.formula, fn.box)
    check_shape(result)
    (p,) = result["critical_points"]
    assert p["type"] == MIN and p["global_min"] and not p["global_max"]
    np.testing.assert_allclose(coords(p), [1.0, 1.0], atol=1e-9)
    assert p["value"] == pytest.approx(0.0, abs=1e-15)
    np.testing.assert_allclose(p["eigenvalues"], fn.critical_points[0].eigenvalues, atol=ROSENBROCK_EIGENVALUE_TOL)
    assert result["complete"]


@pytest.mark.parametrize("name", ["sphere", "saddle", "booth"])
def test_single_critical_point_with_published_eigenvalues(engine, name):
    fn = TEST_FUNCTIONS[name]
    (ref,) = fn.critical_points
    result = search(engine, fn.formula, fn.box)
    check_shape(result)
    (p,) = result["critical_points"]
    assert p["type"] == ref.kind
    np.testing.assert_allclose(coords(p), [ref.x, ref.y], atol=1e-12)
    assert p["value"] == pytest.approx(ref.f, abs=1e-12)
    np.testing.assert_allclose(p["eigenvalues"], ref.eigenvalues, atol=1e-9)
    assert p["global_min"] == (ref.kind == MIN) and not p["global_max"]
    assert result["complete"]


def test_rastrigin_all_441_points(engine):
    result = search(engine, RASTRIGIN.formula, RASTRIGIN.box)  # how long: calcviz.bench critical's figure
    check_shape(result)
    points = result["critical_points"]
    assert len(points) == 441
    assert {k: len(only(points, k)) for k in (MIN, MAX, SADDLE)} == RASTRIGIN.counts
    assert not only(points, "degenerate")
    (low,) = [p for p in points if p["global_min"]]
    np.testing.assert_allclose(coords(low), [0.0, 0.0], atol=1e-12)
    assert low["value"] == pytest.approx(RASTRIGIN.critical_points[0].f, abs=1e-12)
    # every point near a multiple of 1/2 along each axis, all 21 x 21 of them
    grid = np.array([coords(p) for p in points])
    halves = np.round(grid * 2)
    assert np.abs(grid - halves / 2).max() < 0.03
    assert len({tuple(h) for h in halves}) == 441
    assert result["complete"]


def test_rastrigin_with_too_few_seeds_says_so(engine):
    result = search(engine, RASTRIGIN.formula, RASTRIGIN.box, seeds_per_side=24)
    assert len(result["critical_points"]) < 441
    assert result["complete"] is False
    assert result["note"].startswith(f"{len(result['critical_points'])} critical points found; "
                                     "the search may be incomplete because")
    assert "too coarse" in result["note"]


# ----------------------------------------------------------------------------- the seed's examples
def test_seed_quadratic_example_max_and_min(engine):
    ex = QUADRATIC_APPROX
    for box in (((-2.0, 2.0), (-2.0, 2.0)), ((-5.0, 5.0), (-5.0, 5.0))):
        result = search(engine, ex["formula"], box)
        check_shape(result)
        assert len(result["critical_points"]) == 2 and result["complete"]
        for ref in ex["critical_points"]:
            p = match(result["critical_points"], ref.x, ref.y)
            assert p["type"] == ref.kind
            assert p["value"] == pytest.approx(ref.f, abs=1e-7)
            assert p["global_min"] == (ref.kind == MIN) and p["global_max"] == (ref.kind == MAX)
        low, high = result["critical_points"]
        np.testing.assert_allclose(coords(high), [1 / math.sqrt(2), 0.0], atol=1e-12)
        np.testing.assert_allclose(coords(low), [-1 / math.sqrt(2), 0.0], atol=1e-12)


def test_seed_one_variable_quartic(engine):
    ex = ONE_VARIABLE
    result = search(engine, ex["formula"], [(-2.0, 3.0)], axes=("x",))
    check_shape(result, axes=("x",))
    points = result["critical_points"]
    assert [(p["type"], p["point"]["x"], p["value"]) for p in points] == sorted(
        [(k, pytest.approx(x, abs=1e-12), pytest.approx(f, abs=1e-9)) for k, x, f in ex["critical_points"]],
        key=lambda t: t[2].expected)
    (best,) = [p for p in points if p["global_min"]]
    assert (best["point"]["x"], best["value"]) == (pytest.approx(ex["global_min"][0], abs=1e-12), -32.0)
    # x = 0 is a local maximum only: f(-2) = 32 (and f(3) = 27) on the edge (REFERENCE.md)
    assert not any(p["global_max"] for p in points)
    assert result["box_max"] == {"value": 32.0, "point": {"x": -2.0}, "where": "edge"}
    assert result["box_min"] == {"value": -32.0, "point": {"x": 2.0}, "where": "interior"}
    assert "f is larger on the edge: 32 at x = -2" in result["note"]
    # f'' = 36x^2 - 24x - 24: 36 at -1, -24 at 0, 72 at 2
    assert {round(p["point"]["x"]): p["eigenvalues"][0] for p in points} == {
        -1: pytest.approx(36.0), 0: pytest.approx(-24.0), 2: pytest.approx(72.0)}
    assert result["complete"] and result["seeds"] == critical.DEFAULT_SEEDS_PER_SIDE[1]


def test_no_false_points_for_log_sum_exp(engine):
    assert LINEAR_APPROX["has_critical_points"] is False
    result = search(engine, LINEAR_APPROX["formula"], ((-5.0, 5.0), (-5.0, 5.0)))
    check_shape(result)
    assert result["critical_points"] == []
    assert result["complete"] is True


# ----------------------------------------------------------------------------- degenerate points
@pytest.mark.parametrize("text", [DEGENERATE[0][0], "x^2 y + x y^2", DEGENERATE[1][0]])
def test_degenerate_points_at_the_origin(engine, text):
    result = search(engine, text, ((-2.0, 2.0), (-2.0, 2.0)))
    check_shape(result)
    (p,) = result["critical_points"]
    assert p["type"] == "degenerate"
    np.testing.assert_allclose(coords(p), [0.0, 0.0], atol=1e-6)
    # The Hessian is 0 at the origin: both eigenvalues are zero, whatever round-off the polish left
    # (the monkey saddle's read +-2.4e-11 at a point 4e-12 from the origin).
    assert p["zero_eigenvalues"] == 2 and critical.judged_zero(p["eigenvalues"], 2) == [True, True]
    if text == DEGENERATE[0][0]:  # polished to (2.6e-12, -3.1e-12): round-off of the box's 4, named as the window shows it
        assert np.abs(coords(p)).max() < 4e-12 and "At (0, 0) the Hessian has a zero eigenvalue" in result["note"]
    assert p["value"] == pytest.approx(0.0, abs=1e-12)
    # x^4 + y^4's origin is its global minimum, though the second-derivative test cannot say so; the
    # others have lower and higher values at the box's corners.
    assert p["global_min"] == (text == DEGENERATE[1][0]) and not p["global_max"]
    assert "second-derivative test is inconclusive" in result["note"]
    assert result["complete"]


def test_huge_values_elsewhere_do_not_make_a_point_degenerate(engine):
    # f reaches e^50 at the corners; at the origin the Hessian is 2 I, just like around it
    (p,) = search(engine, "exp(x^2 + y^2)", ((-5.0, 5.0), (-5.0, 5.0)))["critical_points"]
    assert p["type"] == MIN and p["eigenvalues"] == [2.0, 2.0] and coords(p).tolist() == [0.0, 0.0]
    # ... nor flat: the wiggles of sin(5x) near the origin have curvature 1e-19 of f's range in the box.
    # Along y = 0, f' = 2x e^(x^2) + 5 cos(5x) has three roots: min, saddle (a max along x), min.
    result = search(engine, "exp(x^2 + y^2) + sin(5x)", ((-5.0, 5.0), (-5.0, 5.0)))
    assert [p["type"] for p in sorted(result["critical_points"], key=lambda p: p["point"]["x"])] == [
        MIN, SADDLE, MIN]
    for p in result["critical_points"]:
        x = p["point"]["x"]
        assert p["point"]["y"] == pytest.approx(0.0, abs=1e-12) and -1 < x < 1
        assert 2 * x * math.exp(x * x) + 5 * math.cos(5 * x) == pytest.approx(0.0, abs=1e-12)
    assert result["complete"]
    # one flat direction is enough: x^2 + y^4
    (p,) = search(engine, "x^2 + y^4", ((-5.0, 5.0), (-5.0, 5.0)))["critical_points"]
    assert p["type"] == "degenerate" and np.abs(coords(p)).max() < 1e-6 and p["global_min"]
    # its Hessian diag(2, 12 y^2): the second eigenvalue is the zero one, the first is x's 2
    assert p["zero_eigenvalues"] == 1 and p["eigenvalues"][1] == pytest.approx(2.0)
    assert critical.judged_zero(p["eigenvalues"], 1) == [True, False]


def test_very_slow_convergence_is_reported(engine):
    # Newton's step into x^40's flat bottom shrinks only by 38/39 each time: 200 steps are not enough
    result = search(engine, "x^40 + y^40", ((-1.0, 1.0), (-1.0, 1.0)))
    assert result["complete"] is False
    assert f"still converging slowly inside the box after {critical.MAX_ITERATIONS} Newton steps" in result["note"]
    assert all(p["type"] == "degenerate" for p in result["critical_points"])


def test_one_variable_degenerate_and_flat_second_derivative(engine):
    result = search(engine, "x^3", [(-1.0, 2.0)], axes=("x",))
    (p,) = result["critical_points"]
    assert p["type"] == "degenerate" and abs(p["point"]["x"]) < 1e-6 and p["zero_eigenvalues"] == 1
    assert "inconclusive" in result["note"] and not p["global_min"]  # f(-1) = -1 is lower
    # On [0, 2] the same point is the lowest of the box: its global minimum, at the box's edge.
    (p,) = search(engine, "x^3", [(0.0, 2.0)], axes=("x",))["critical_points"]
    assert p["type"] == "degenerate" and p["global_min"] and not p["global_max"]


# ----------------------------------------------------------------------------- awkward functions
def test_outside_the_domain_is_skipped_not_raised(engine):
    assert "log(x)" in OUTSIDE_DOMAIN
    result = search(engine, "log(x) + y^2", ((-1.0, 1.0), (-1.0, 1.0)))
    check_shape(result)
    assert result["critical_points"] == []  # d/dx log(x) = 1/x never vanishes
    assert "undefined at 1152 of 2304 seeds" in result["note"]
    # ... and a critical point in the defined half is still found: x - log(x) + y^2 has its minimum at (1, 0)
    result = search(engine, "x - log(x) + y^2", ((-2.0, 3.0), (-1.0, 1.0)))
    (p,) = result["critical_points"]
    assert p["type"] == MIN and p["value"] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(coords(p), [1.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("text", ["sqrt(x)", "1/x", "sqrt(x^2+y^2)", "exp(50*x)"])
def test_awkward_functions_do_not_raise(engine, text):
    result = search(engine, text, ((-5.0, 5.0), (-5.0, 5.0)))
    check_shape(result)
    assert result["critical_points"] == []


def test_flat_region_is_reported_not_listed(engine):
    result = search(engine, UNDERFLOW_FLAT, ((-5.0, 5.0), (-5.0, 5.0)))
    check_shape(result)
    assert result["complete"] is False
    assert "numerically flat over part of the box" in result["note"]
    # the narrow peak at the origin (between the seeds) is still found by the finer grid around it
    (p,) = result["critical_points"]
    assert p["type"] == MAX and p["value"] == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(coords(p), [0.0, 0.0], atol=1e-9)
    assert result["seeds"] > critical.DEFAULT_SEEDS_PER_SIDE[2] ** 2


def test_constant_function(engine):
    result = search(engine, "3 + 0*x + 0*y", ((-1.0, 1.0), (-1.0, 1.0)))
    assert result["critical_points"] == [] and result["complete"] is False
    assert "numerically constant over the box" in result["note"]


def test_a_line_of_critical_points_is_not_called_complete(engine):
    result = search(engine, "x^2", ((-1.0, 1.0), (-1.0, 1.0)))  # every (0, y) is critical
    assert result["critical_points"] == []  # a set, not a pile of points
    (line,) = result["curves"]
    assert line["type"] == "degenerate/min" and line["description"] == "x = 0" and line["global_min"]
    ys = sorted(q["point"]["y"] for q in line["points"])
    assert all(q["point"]["x"] == 0.0 and q["value"] == 0.0 for q in line["points"])
    assert ys[0] == pytest.approx(-1.0, abs=0.05) and ys[-1] == pytest.approx(1.0, abs=0.05)  # end to end
    assert max(np.diff(ys)) <= 1.01 * result["resolution"]["y"]
    assert result["complete"] is False and "not isolated" in result["note"]


def test_box_edge_counts_only_where_the_gradient_vanishes(engine):
    result = search(engine, "(x-1)^2 + y^2", ((1.0, 2.0), (-1.0, 1.0)))  # the minimum sits on the left edge
    (p,) = result["critical_points"]
    assert p["type"] == MIN and coords(p).tolist() == [1.0, 0.0]
    assert search(engine, "x + y^2", ((0.0, 1.0), (-1.0, 1.0)))["critical_points"] == []  # slope 1 on the edge
    outside = search(engine, "(x-1.001)^2 + y^2", ((0.0, 1.0), (-1.0, 1.0)))  # just outside the box
    assert outside["critical_points"] == []


def test_the_edge_is_lower_than_the_lowest_minimum(engine):
    result = search(engine, "x^3 - 3x", [(-3.0, 3.0)], axes=("x",))  # local min at 1 (f = -2), f(-3) = -18
    low, high = result["critical_points"]
    assert (low["type"], low["point"]["x"], low["value"]) == (MIN, pytest.approx(1.0), pytest.approx(-2.0))
    assert (high["type"], high["point"]["x"], high["value"]) == (MAX, pytest.approx(-1.0), pytest.approx(2.0))
    assert not low["global_min"] and not high["global_max"] and result["complete"]  # f(3) = 18 too
    assert result["box_min"] == {"value": -18.0, "point": {"x": -3.0}, "where": "edge"}
    assert result["box_max"] == {"value": 18.0, "point": {"x": 3.0}, "where": "edge"}
    assert "f is lower on the edge: -18 at x = -3, so no minimum found is the global one." in result["note"]


# ----------------------------------------------------------------------------- request handling
def test_parameters_and_other_axis_names(engine):
    result = engine.find_critical_points("(x-a)^2 + (y-b)^2", ["x", "y"], [(-5, 5), (-5, 5)], {"a": 1.5, "b": -2.0})
    (p,) = result["critical_points"]
    assert coords(p).tolist() == [1.5, -2.0] and p["type"] == MIN
    # axes are whatever the request says: here u and v, with x a parameter
    result = engine.find_critical_points("(u-x)^2 - (v+1)^2", ["u", "v"], [(-3, 3), (-3, 3)], {"x": 2.0})
    (p,) = result["critical_points"]
    assert result["axes"] == ["u", "v"] and p["point"] == {"u": 2.0, "v": -1.0} and p["type"] == SADDLE


def test_seed_override_and_progress(engine):
    fractions = []
    result = engine.find_critical_points("x^2 + y^2", ["x", "y"], [(-1, 1), (-1, 1)], seeds_per_side=20,
                                         progress=fractions.append)
    assert result["seeds"] == 400 and len(result["critical_points"]) == 1
    assert fractions and fractions[-1] == 1.0
    assert all(0.0 <= a <= b <= 1.0 for a, b in zip(fractions, fractions[1:]))
    assert result["device"] == "CPU" and 0 < result["seconds"] < 60


def test_results_are_plain_python(engine):
    result = search(engine, HIMMELBLAU.formula, HIMMELBLAU.box)
    for p in result["critical_points"]:
        assert type(p["type"]) is str and type(p["global_min"]) is bool and type(p["global_max"]) is bool
    assert type(result["complete"]) is bool and type(result["note"]) is str and type(result["seeds"]) is int


@pytest.mark.parametrize("axes, ranges, seeds, phrase", [
    (["x", "y"], [(-1, 1)], None, "one to 6 axes, each with a range"),
    (list("xyzuvwt"), [(-1, 1)] * 7, None, "one to 6 axes"),
    (["x", "y"], [(1, -1), (-1, 1)], None, "smaller to a larger finite number"),
    (["x", "y"], [(-1, float("inf")), (-1, 1)], None, "smaller to a larger finite number"),
    (["x", "y"], [(-1, 1), (-1, 1)], 1, "seeds per side must be a whole number from 2 to 1000"),
    (["x", "y"], [(-1, 1), (-1, 1)], 2.5, "seeds per side"),
])
def test_bad_requests_are_engine_errors(engine, axes, ranges, seeds, phrase):
    with pytest.raises(EngineError, match=phrase):
        engine.find_critical_points("x^2 + y^2", axes, ranges, seeds_per_side=seeds)


def test_parse_errors_and_missing_parameters(engine):
    with pytest.raises(ParseError):
        engine.find_critical_points("x^2 +", ["x"], [(-1, 1)])
    with pytest.raises(EngineError, match="give a value for k"):
        engine.find_critical_points("k x^2 + y", ["x", "y"], [(-1, 1), (-1, 1)])


def test_both_request_kinds_through_the_compute_process():
    from calcviz.models.compute import KINDS, ComputeClient
    assert {"find_critical_points", "approximate"} <= set(KINDS)
    client = ComputeClient("cpu")
    try:
        reply = client.request("find_critical_points", text=HIMMELBLAU.formula, axes=["x", "y"],
                               ranges=[(-5.0, 5.0), (-5.0, 5.0)], params={})
        assert reply.error is None and len(reply.payload["critical_points"]) == 9
        reply = client.request("approximate", text=LINEAR_APPROX["formula"], at=LINEAR_APPROX["point"],
                               params={}, eps=LINEAR_APPROX["eps"])
        assert reply.error is None and reply.payload["linear"] == pytest.approx(LINEAR_APPROX["linear_value"], abs=1e-7)
        reply = client.request("find_critical_points", text="x^2", axes=["x"], ranges=[(1.0, -1.0)])
        assert reply.payload is None and "smaller to a larger" in reply.error
    finally:
        client.close()


# ----------------------------------------------------------------------------- the numpy pieces alone
def test_classify():
    eigenvalues = np.array([[1.0, 2.0], [-1.0, -3.0], [-1.0, 2.0], [0.0, 2.0], [1e-9, 5.0], [-1e-7, 1e-8],
                            [3.0, 1e-5]])
    assert critical.classify(eigenvalues).tolist() == ["min", "max", "saddle", "degenerate", "degenerate",
                                                       "saddle", "min"]
    # all eigenvalues tiny next to the Hessian one seed away: degenerate
    assert critical.classify(eigenvalues, 1.0).tolist() == ["min", "max", "saddle", "degenerate", "degenerate",
                                                            "degenerate", "min"]
    assert critical.classify(np.array([[4.0], [-4.0], [0.0]])).tolist() == ["min", "max", "degenerate"]


def test_judged_zero_marks_the_smallest_eigenvalues_in_size():
    assert critical.judged_zero([-3.0, 1e-9, 2.0], 1) == [False, True, False]
    assert critical.judged_zero([-1e-11, 2.4e-11, 5.0], 2) == [True, True, False]
    assert critical.judged_zero([-1.0, 1.0], 0) == [False, False]


def test_local_max_takes_the_largest_of_the_nearby_seeds():
    curvature = np.arange(25.0)  # a 5 x 5 grid, seed (i, j) -> 5 i + j
    got = critical.local_max(np.array([[0.5, 0.5], [0.0, 0.0], [0.52, 0.26]]), curvature, 5)
    assert got.tolist() == [18.0, 6.0, 17.0]  # nearest seeds (2, 2), (0, 0), (2, 1)


def test_cluster_merges_close_points_and_keeps_the_best_first():
    tol = critical.CLUSTER_TOL
    u = np.array([[0.5, 0.5], [0.5 + tol / 3, 0.5], [0.2, 0.2], [0.5, 0.5 - tol / 2], [0.2 + 2 * tol, 0.2]])
    order = np.array([3, 2, 4, 0, 1])  # best first
    groups = critical.cluster(u, order)
    assert [g.tolist() for g in groups] == [[3, 0, 1], [2], [4]]
    assert critical.cluster(np.zeros((0, 2)), np.zeros(0, int)) == []


def test_sampled_extrema_on_a_grid():
    xs = np.linspace(-1, 1, 9)
    X, Y = np.meshgrid(xs, xs, indexing="ij")
    values = ((X - 0.25) ** 2 + (Y + 0.5) ** 2).reshape(-1)
    mins, maxs = critical.sampled_extrema(values, 9, 2)
    assert np.unravel_index(mins, (9, 9)) == ((5,), (2,)) and maxs.size == 0
    flat = np.zeros(81)
    assert all(a.size == 0 for a in critical.sampled_extrema(flat, 9, 2))
    line = -np.abs(np.linspace(-1, 1, 11))
    assert critical.sampled_extrema(line, 11, 1)[1].tolist() == [5]


def test_seed_grid_spans_the_box():
    seeds = critical.seed_grid([(-1.0, 3.0), (0.0, 1.0)], 5)
    assert seeds.shape == (25, 2)
    assert seeds[0].tolist() == [-1.0, 0.0] and seeds[-1].tolist() == [3.0, 1.0]
    assert sorted(set(seeds[:, 0])) == [-1.0, 0.0, 1.0, 2.0, 3.0]


def test_a_tiny_but_real_slope_is_not_a_critical_point(engine):
    # The Hessian is singular along y, so Newton cannot move there and its step is zero on the line
    # x = 0; the gradient (0, 1e-6) is small, but 4e-7 of f's typical slope is not round-off.
    result = search(engine, "x^2 + 1e-6*y", ((-5.0, 5.0), (-5.0, 5.0)))
    assert result["critical_points"] == []


def test_the_newton_iteration_in_numpy():
    """critical.newton_iteration on a quadratic given by hand: capped steps reach the minimum, a face's
    seed moves only along its free coordinate, known values save the first evaluation, an undefined
    seed stays put."""
    calls = []

    def evaluate(X):
        calls.append(len(X))
        x, y = X[:, 0], X[:, 1]
        v = (x - 1) ** 2 + 3 * (y + 2) ** 2 + np.where(x > 4.5, np.nan, 0.0)
        g = np.stack([2 * (x - 1), 6 * (y + 2)], axis=1)
        return v, g, np.broadcast_to(np.diag([2.0, 6.0]), (len(X), 2, 2)).copy()

    lo, width = np.array([-5.0, -5.0]), np.array([10.0, 10.0])
    newton = critical.newton_iteration(evaluate, lo, width, radius=0.05)  # steps of at most half a unit at first
    seeds = np.array([[-4.0, 3.0], [0.0, 0.0], [2.0, 4.0], [4.8, 0.0]])
    free = np.array([[1, 1], [1, 1], [1, 0], [1, 1]], bool)
    X, v, g, H, d = newton(seeds, 0, free)
    assert np.array_equal(X, seeds) and calls == [4]
    del calls[:]
    X, v, g, H, d = newton(X, 40, free, (v, g, H))
    np.testing.assert_allclose(X[:2], [[1.0, -2.0], [1.0, -2.0]], atol=1e-12)
    assert X[2, 1] == 4.0 and abs(X[2, 0] - 1.0) < 1e-12  # along its edge only: y stays
    assert np.array_equal(X[3], seeds[3]) and np.isnan(v[3])  # undefined where it started: it stays
    assert np.all(np.abs(d[:3]) < 1e-12)
    with_known = len(calls)
    del calls[:]
    again = newton(seeds, 40, free)
    assert len(calls) == with_known + 1  # the known values saved the first evaluation...
    for a, b in zip(again, (X, v, g, H, d)):
        np.testing.assert_array_equal(a, b)  # ...and nothing else
    assert calls[-1] < 4  # the points that stopped are no longer evaluated
