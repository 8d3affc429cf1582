"""Issue 13: every label of the critical-point search true. Global extremes against the closed box
(its edges searched, not sampled), curves of critical points as sets, honest completeness, no
"critical points" where the gradient is a real slope, and searches in more than two variables.

Ground truth: closed forms, published minima, and sympy (exact gradients, real roots of polynomials,
Hessians) on expressions written here by hand, never parsed from calcviz's text.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

from calcviz.models import critical
from calcviz.models.engine import Engine
from reference import TEST_FUNCTIONS
from cli_run import run, strict_json

x, y, z = sp.symbols("x y z", real=True)


@pytest.fixture(scope="module")
def engine():
    return Engine("cpu")


def search(engine, text, box, axes=("x", "y"), **kw):
    return engine.find_critical_points(text, list(axes), [tuple(r) for r in box], **kw)


def flagged(result, flag):
    return [p for p in result["critical_points"] if p[flag]]


def box_extremes(f, box, variables=(x, y), interior=True):
    """min and max of a polynomial f over a closed box, with sympy: f at every real critical point of f
    restricted to each face of the box (each corner, edge, face and, with ``interior``, the inside)."""
    candidates = []
    n = len(variables)
    for fixed in np.ndindex(*(3,) * n):  # per variable: 0 free, 1 at its low bound, 2 at its high bound
        if not interior and not any(fixed):
            continue
        g = sp.expand(f.subs({v: box[k][fixed[k] - 1] for k, v in enumerate(variables) if fixed[k]}))
        free = [v for k, v in enumerate(variables) if not fixed[k]]
        if len(free) == 1:  # a polynomial in one variable: all its real roots
            derivative = sp.Poly(sp.diff(g, free[0]), free[0])
            solutions = [{free[0]: r} for r in (derivative.real_roots() if not derivative.is_zero else [])]
        else:
            solutions = sp.solve([sp.diff(g, v) for v in free], free, dict=True) if free else [{}]
        for sol in solutions:
            at = {v: complex(sp.N(sol[v], 30)) for v in free}
            if all(abs(c.imag) < 1e-12 and box[variables.index(v)][0] <= c.real <= box[variables.index(v)][1]
                   for v, c in at.items()):
                candidates.append(float(g.subs({v: c.real for v, c in at.items()})))
    return min(candidates), max(candidates)


# ----------------------------------------------------------------------------- global labels, both sides
def test_quintic_has_neither_global_extreme_inside(engine):
    # f' = 5x^4 - 5: local max f(-1) = 4, local min f(1) = -4; f(-2) = -22, f(2) = 22 on the edges
    result = search(engine, "x^5 - 5x", [(-2.0, 2.0)], axes=("x",))
    low, high = result["critical_points"]
    assert (low["type"], low["point"]["x"], low["value"]) == ("min", pytest.approx(1.0, abs=1e-12), pytest.approx(-4.0))
    assert (high["type"], high["point"]["x"], high["value"]) == ("max", pytest.approx(-1.0, abs=1e-12), pytest.approx(4.0))
    assert not low["global_min"] and not high["global_max"]
    assert result["box_min"] == {"value": -22.0, "point": {"x": -2.0}, "where": "edge"}
    assert result["box_max"] == {"value": 22.0, "point": {"x": 2.0}, "where": "edge"}
    assert "f is lower on the edge: -22 at x = -2" in result["note"]
    assert "f is larger on the edge: 22 at x = 2" in result["note"]


SIX_HUMP = ("(4 - 2.1x^2 + x^4/3)x^2 + x y + (-4 + 4y^2)y^2",
            (4 - sp.Rational(21, 10) * x**2 + x**4 / 3) * x**2 + x * y + (-4 + 4 * y**2) * y**2,
            ((-3.0, 3.0), (-2.0, 2.0)))
GOLDSTEIN_PRICE = ("(1 + (x+y+1)^2 (19 - 14x + 3x^2 - 14y + 6x y + 3y^2)) "
                   "(30 + (2x-3y)^2 (18 - 32x + 12x^2 + 48y - 36x y + 27y^2))",
                   (1 + (x + y + 1)**2 * (19 - 14 * x + 3 * x**2 - 14 * y + 6 * x * y + 3 * y**2))
                   * (30 + (2 * x - 3 * y)**2 * (18 - 32 * x + 12 * x**2 + 48 * y - 36 * x * y + 27 * y**2)),
                   ((-2.0, 2.0), (-2.0, 2.0)))
STYBLINSKI_TANG = ("(x^4 - 16x^2 + 5x + y^4 - 16y^2 + 5y)/2",
                   (x**4 - 16 * x**2 + 5 * x + y**4 - 16 * y**2 + 5 * y) / 2,
                   ((-5.0, 5.0), (-5.0, 5.0)))


@pytest.mark.parametrize("text, f, box, published_min", [
    (*SIX_HUMP, -1.031628453490),        # at (0.0898420131, -0.7126564030) and its mirror image
    (*GOLDSTEIN_PRICE, 3.0),            # at (0, -1)
    (*STYBLINSKI_TANG, -78.332331407543),  # at (-2.903534, -2.903534): 2 (t^4 - 16t^2 + 5t)/2, 4t^3 - 32t + 5 = 0
], ids=["six-hump camel", "Goldstein-Price", "Styblinski-Tang"])
def test_interior_maxima_are_local_when_the_box_is_higher_on_its_edge(engine, text, f, box, published_min):
    result = search(engine, text, box)
    edge_min, true_max = box_extremes(f, box, interior=False)  # the inside: the published minimum
    true_min = published_min
    assert edge_min > true_min
    maxima = [p for p in result["critical_points"] if p["type"] == "max"]
    assert maxima and all(p["value"] < true_max for p in maxima)
    assert flagged(result, "global_max") == []
    assert result["box_max"]["value"] == pytest.approx(true_max, rel=1e-12)
    assert result["box_max"]["where"] in ("edge", "corner")
    lows = flagged(result, "global_min")
    assert lows and all(p["type"] == "min" and p["value"] == pytest.approx(true_min, abs=1e-9) for p in lows)
    assert result["box_min"]["value"] == pytest.approx(true_min, abs=1e-9) and result["box_min"]["where"] == "interior"
    assert max(p["value"] for p in maxima) < true_max
    for p in result["critical_points"]:  # every listed point is critical (sympy's gradient there)
        at = {x: p["point"]["x"], y: p["point"]["y"]}
        grad = [float(sp.diff(f, v).subs(at)) for v in (x, y)]
        assert np.abs(grad).max() < 1e-7 * (1 + abs(p["value"]))
    assert "so no maximum found is the global one" in result["note"]


def test_goldstein_price_edge_maximum_is_polished_not_sampled(engine):
    # f(x, 2) peaks inside the edge at x = -1.7374 (a root of a degree-7 polynomial): no seed sits there
    text, f, box = GOLDSTEIN_PRICE
    result = search(engine, text, box)
    edge = sp.expand(f.subs(y, 2))
    roots = [float(r) for r in sp.Poly(sp.diff(edge, x), x).real_roots() if -2 <= float(r) <= 2]
    peak = max(roots, key=lambda r: float(edge.subs(x, r)))
    assert result["box_max"]["point"] == {"x": pytest.approx(peak, abs=1e-9), "y": 2.0}
    assert result["box_max"]["where"] == "edge"


@pytest.mark.parametrize("name, box_max, where", [
    ("sphere", 50.0, "corner"), ("booth", 2594.0, "corner"), ("rosenbrock", 2509.0, "corner"),
    ("himmelblau", 890.0, "corner")])
def test_reference_functions_keep_their_global_minimum(engine, name, box_max, where):
    fn = TEST_FUNCTIONS[name]
    result = search(engine, fn.formula, fn.box)
    mins = [p for p in fn.critical_points if p.kind == "min"]
    lows = flagged(result, "global_min")
    assert len(lows) == len(mins)  # Himmelblau: all four minima are 0
    for p in lows:
        assert p["value"] == pytest.approx(0.0, abs=1e-12)
        assert any(abs(p["point"]["x"] - m.x) < 1e-6 and abs(p["point"]["y"] - m.y) < 1e-6 for m in mins)
    assert result["box_min"]["value"] == pytest.approx(0.0, abs=1e-12) and result["box_min"]["where"] == "interior"
    assert flagged(result, "global_max") == []
    assert (result["box_max"]["value"], result["box_max"]["where"]) == (box_max, where)


def test_rastrigin_four_highest_maxima_are_global(engine):
    fn = TEST_FUNCTIONS["rastrigin"]
    result = search(engine, fn.formula, fn.box)
    # along each axis 2t + 20 pi sin(2 pi t) = 0 has a root near 4.52; f is largest at (+-t, +-t)
    t = float(sp.nsolve(2 * x + 20 * sp.pi * sp.sin(2 * sp.pi * x), x, 4.52))
    top = 20 + 2 * (t * t - 10 * math.cos(2 * math.pi * t))
    highs = flagged(result, "global_max")
    assert sorted((round(p["point"]["x"], 6), round(p["point"]["y"], 6)) for p in highs) == sorted(
        (round(a * t, 6), round(b * t, 6)) for a in (-1, 1) for b in (-1, 1))
    assert all(p["value"] == pytest.approx(top, abs=1e-10) for p in highs)
    assert result["box_max"]["value"] == pytest.approx(top, abs=1e-10) and result["box_max"]["where"] == "interior"
    (low,) = flagged(result, "global_min")
    assert low["point"] == {"x": pytest.approx(0.0, abs=1e-12), "y": pytest.approx(0.0, abs=1e-12)}


# ----------------------------------------------------------------------------- honest completeness
def test_both_axes_of_x2y2_are_curves_of_critical_points(engine):
    result = search(engine, "x^2 y^2", ((-1.0, 1.0), (-1.0, 1.0)))
    assert result["critical_points"] == [] and result["complete"] is False
    curves = sorted(result["curves"], key=lambda c: c["description"])
    assert [c["description"] for c in curves] == ["x = 0", "y = 0"]
    for c, along in zip(curves, ("y", "x")):
        assert c["type"] == "degenerate/min" and c["global_min"] and not c["closed"]
        ts = sorted(q["point"][along] for q in c["points"])
        assert ts[0] == pytest.approx(-1.0, abs=0.05) and ts[-1] == pytest.approx(1.0, abs=0.05)
        assert all(q["value"] == pytest.approx(0.0, abs=1e-12) for q in c["points"])
    assert "not isolated" in result["note"] and "2 curves" in result["note"]


def test_a_circle_of_minima_is_one_closed_curve(engine):
    result = search(engine, "(x^2 + y^2 - 1)^2", ((-2.0, 2.0), (-2.0, 2.0)))
    (circle,) = result["curves"]
    assert circle["type"] == "degenerate/min" and circle["closed"] and circle["global_min"]
    radii = [math.hypot(q["point"]["x"], q["point"]["y"]) for q in circle["points"]]
    assert max(abs(r - 1) for r in radii) < 1e-9
    angles = sorted(math.atan2(q["point"]["y"], q["point"]["x"]) for q in circle["points"])
    assert max(np.diff(angles + [angles[0] + 2 * math.pi])) < 2.5 * result["resolution"]["x"]  # all round
    (top,) = result["critical_points"]  # the local maximum in the middle, f = 1; f(2, 2) = 49
    assert top["type"] == "max" and top["value"] == pytest.approx(1.0) and not top["global_max"]
    assert result["box_max"]["value"] == 49.0 and result["box_max"]["where"] == "corner"
    assert {abs(c) for c in result["box_max"]["point"].values()} == {2.0}
    assert result["complete"] is False


def test_a_narrow_well_between_the_seeds_is_found(engine):
    text = "x^2 + y^2 - 2exp(-10000((x-1.3)^2+(y-0.7)^2))"
    f = x**2 + y**2 - 2 * sp.exp(-10000 * ((x - sp.Rational(13, 10))**2 + (y - sp.Rational(7, 10))**2))
    result = search(engine, text, ((-2.0, 2.0), (-2.0, 2.0)))
    well = sp.nsolve([sp.diff(f, x), sp.diff(f, y)], [x, y], [1.3, 0.7], prec=30)
    value = float(f.subs({x: well[0], y: well[1]}))
    (p,) = [p for p in result["critical_points"] if abs(p["point"]["x"] - 1.3) < 0.01]
    assert p["type"] == "min" and not p["global_min"]
    assert (p["point"]["x"], p["point"]["y"]) == (pytest.approx(float(well[0]), abs=1e-9),
                                                  pytest.approx(float(well[1]), abs=1e-9))
    assert p["value"] == pytest.approx(value, abs=1e-9)
    (low,) = flagged(result, "global_min")
    assert low["point"] == {"x": pytest.approx(0.0, abs=1e-12), "y": pytest.approx(0.0, abs=1e-12)}
    # between the well and the bowl's minimum: a saddle; three points in all
    assert sorted(p["type"] for p in result["critical_points"]) == ["min", "min", "saddle"]
    assert result["complete"] is True
    assert "Features narrower than the seed spacing (0.0851064 in x, 0.0851064 in y) can be missed" in result["note"]
    assert "searched down to 0.00531915 in x, 0.00531915 in y" in result["note"]


def test_a_kink_is_never_called_complete(engine):
    # |x - 0.1| + y^2 has its minimum on a kink (no gradient there): no critical point can be listed,
    # and the search says why it is not complete
    result = search(engine, "abs(x - 0.1) + y^2", ((-1.0, 1.0), (-1.0, 1.0)))
    assert result["critical_points"] == [] and result["complete"] is False
    assert 0 <= result["box_min"]["value"] <= 0.01  # the lowest value met, near the kink
    assert "f changes faster than the finest seeds" in result["note"]


def test_complete_names_the_resolution(engine):
    fn = TEST_FUNCTIONS["sphere"]
    result = search(engine, fn.formula, fn.box)
    assert result["complete"] is True
    assert result["resolution"] == {"x": pytest.approx(10 / 47), "y": pytest.approx(10 / 47)}
    assert result["note"] == "Features narrower than the seed spacing (0.212766 in x, 0.212766 in y) can be missed."


# ----------------------------------------------------------------------------- only real critical points
def test_a_steep_exponential_has_no_critical_points(engine):
    # df/dx = 50 e^(50x) > 0 everywhere: tiny at x = -1 next to e^50 at x = 1, but a slope all the same
    result = search(engine, "exp(50x) + y^2", ((-1.0, 1.0), (-1.0, 1.0)))
    assert result["critical_points"] == [] and result["curves"] == []
    assert result["complete"] is True and "not listed" not in result["note"]
    assert result["box_min"] == {"value": pytest.approx(math.exp(-50), rel=1e-12), "point": {"x": -1.0, "y": 0.0},
                                 "where": "edge"}


def test_cli_exp_lists_nothing(capsys):
    code, out, err = run(capsys, "critical", "exp(50x) + y^2", "--x", "-1", "1", "--y", "-1", "1", "--json")
    data = strict_json(out)
    assert code == 0 and data["critical_points"] == [] and data["complete"] is True


# ----------------------------------------------------------------------------- more than two variables
def sympy_critical_points(f, variables, box):
    """Every real critical point of a polynomial f inside the box, with its Hessian eigenvalues (sympy)."""
    grad = [sp.diff(f, v) for v in variables]
    hess = sp.hessian(f, variables)
    out = []
    for sol in sp.solve(grad, variables, dict=True):
        point = [complex(sp.N(sol[v], 30)) for v in variables]
        if any(abs(c.imag) > 1e-12 for c in point):
            continue
        point = [c.real for c in point]
        if all(lo <= c <= hi for c, (lo, hi) in zip(point, box)):
            at = dict(zip(variables, point))
            lam = np.linalg.eigvalsh(np.array(hess.subs(at).evalf(), dtype=float))
            out.append((point, float(f.subs(at)), lam))
    return out


def kind_of(lam, tol=1e-9):
    if lam.min() > tol:
        return "min"
    if lam.max() < -tol:
        return "max"
    return "saddle" if lam.min() < -tol and lam.max() > tol else "degenerate"


THREE_VARIABLES = [
    # a min at 0 and four saddles at (+-1, +-1, +-1) with an even number of minus signs
    ("x^2 + y^2 + z^2 - 2x y z", x**2 + y**2 + z**2 - 2 * x * y * z, ((-2, 2), (-2, 2), (-2, 2))),
    # a sum of 1-D quartics (and a quadratic part): 3 x 3 x 3 = 27 points, 8 minima, 1 maximum
    ("x^4 - 2x^2 + y^4 - 4y^2 + y + z^4 - z^2", x**4 - 2 * x**2 + y**4 - 4 * y**2 + y + z**4 - z**2,
     ((-2, 2), (-2, 2), (-1.5, 1.5))),
    # a non-degenerate saddle with coupled coordinates
    ("x^2 - y^2 + z^2 + x y - y z + 3z", x**2 - y**2 + z**2 + x * y - y * z + 3 * z, ((-5, 5), (-5, 5), (-5, 5))),
]


@pytest.mark.parametrize("text, f, box", THREE_VARIABLES, ids=["2xyz", "quartics", "saddle"])
def test_three_variables_against_sympy(engine, text, f, box):
    truth = sympy_critical_points(f, (x, y, z), box)
    result = search(engine, text, box, axes=("x", "y", "z"))
    points = result["critical_points"]
    assert len(points) == len(truth) and result["curves"] == []
    for at, value, lam in truth:
        (p,) = [p for p in points if np.abs(np.array([p["point"][a] for a in "xyz"]) - at).max() < 1e-7]
        assert p["type"] == kind_of(lam)
        assert p["value"] == pytest.approx(value, abs=1e-9)
        np.testing.assert_allclose(p["eigenvalues"], lam, atol=1e-7)
    true_min, true_max = box_extremes(f, box, (x, y, z))
    assert result["box_min"]["value"] == pytest.approx(true_min, abs=1e-9)
    assert result["box_max"]["value"] == pytest.approx(true_max, abs=1e-9)
    for p in points:
        assert p["global_min"] == (p["type"] == "min" and abs(p["value"] - true_min) < 1e-9)
        assert p["global_max"] == (p["type"] == "max" and abs(p["value"] - true_max) < 1e-9)
    assert result["seeds"] == critical.default_seeds(3) ** 3 == 16 ** 3


def test_counts_of_the_quartic_sum(engine):
    text, f, box = THREE_VARIABLES[1]
    kinds = [p["type"] for p in search(engine, text, box, axes=("x", "y", "z"))["critical_points"]]
    assert (kinds.count("min"), kinds.count("max"), kinds.count("saddle")) == (8, 1, 18)


def test_a_slice_holds_the_other_inputs_as_parameters(engine):
    # f(x, y, 1/2) = x^2 + y^2 - x y + 1/4: one minimum at the origin
    result = engine.find_critical_points("x^2 + y^2 + z^2 - 2x y z", ["x", "y"], [(-2, 2), (-2, 2)], {"z": 0.5})
    (p,) = result["critical_points"]
    assert p["type"] == "min" and p["value"] == pytest.approx(0.25, abs=1e-15) and p["global_min"]
    np.testing.assert_allclose(p["eigenvalues"], [1.0, 3.0], atol=1e-12)  # [[2, -1], [-1, 2]]
    assert result["params"] == {"z": 0.5} and result["axes"] == ["x", "y"]


def test_cli_third_variable(capsys):
    code, out, err = run(capsys, "critical", "x^2 + y^2 + z^2 - 2x y z", "--x", "-2", "2", "--y", "-2", "2",
                         "--z", "-2", "2", "--json")
    assert code == 0 and err == ""
    data = strict_json(out)
    assert data["axes"] == ["x", "y", "z"] and data["ranges"] == [[-2, 2]] * 3
    assert sorted(p["type"] for p in data["critical_points"]) == ["min"] + ["saddle"] * 4
    code, out, _ = run(capsys, "critical", "x^2 + y^2 + w^2", "--box", "w=-1,1", "--x", "-1", "1", "--y", "-1", "1")
    assert code == 0
    assert out.splitlines()[1] == "box        x in [-1, 1], y in [-1, 1], w in [-1, 1]"
    assert "min (global min)  0  0  0  0  2, 2, 2" in out


@pytest.mark.parametrize("argv, phrase", [
    (["x^2 + y^2 + k z^2"], "give a value for k (e.g. --param k=1), or search over it with --box k=-5,5"),
    (["x^2 + y^2", "--box", "w=-1,1"], "--box w: the formula has no variable w"),
    (["x^2 + y^2", "--box", "x"], "--box takes NAME=LOW,HIGH"),
    (["x^2 + y^2", "--box", "x=1,0"], "a range must go from a smaller to a larger finite number"),
    (["x^2 + y^2", "--box", "x=-1,1", "--x", "-1", "1"], "x is given a range by both --x and --box"),
    (["x^2 + y^2", "--z", "-1", "1"], "--z gives a third axis, but the formula has 2 variables (x, y)"),
])
def test_cli_box_errors(capsys, argv, phrase):
    code, out, err = run(capsys, "critical", *argv)
    assert code == 2 and out == "" and phrase in err
