"""Basins of attraction (Engine.basins): which minimum gradient descent reaches from each start of a grid."""
from __future__ import annotations

import numpy as np
import pytest

from calcviz.models import descent
from calcviz.models.engine import Engine, EngineError
from reference import HIMMELBLAU, MIN, ROSENBROCK, SPHERE

pytest.importorskip("tensorflow")

BOX = [(-5.0, 5.0), (-5.0, 5.0)]


@pytest.fixture(scope="module")
def engine():
    return Engine("cpu")


@pytest.fixture(scope="module")
def himmelblau(engine):
    fractions = []
    result = engine.basins(HIMMELBLAU.formula, ["x", "y"], BOX, 40, lr=0.01, progress=fractions.append)
    return result, fractions


def test_himmelblau_has_exactly_its_four_minima(himmelblau):
    result, _ = himmelblau
    reference = np.array([(p.x, p.y) for p in HIMMELBLAU.point(MIN)])
    found = np.array([(m["point"]["x"], m["point"]["y"]) for m in result["minima"]])
    assert found.shape == (4, 2)
    # each reference minimum is matched by exactly one found minimum, to 1e-4
    distance = np.max(np.abs(found[:, None, :] - reference[None, :, :]), axis=2)
    assert np.all(np.sum(distance < 1e-4, axis=0) == 1) and np.all(np.sum(distance < 1e-4, axis=1) == 1)
    assert all(abs(m["value"]) < 1e-10 for m in result["minima"])
    values = [m["value"] for m in result["minima"]]
    assert values == sorted(values)


def test_every_start_is_labelled_and_the_counts_add_up(himmelblau):
    result, _ = himmelblau
    labels = result["labels"]
    assert labels.shape == (40, 40) and labels.dtype == np.int32
    assert set(np.unique(labels)) <= {0, 1, 2, 3, descent.DIVERGED, descent.UNCONVERGED}
    counts = [m["count"] for m in result["minima"]]
    assert counts == [int(np.count_nonzero(labels == k)) for k in range(4)]
    assert sum(counts) + result["diverged"] + result["unconverged"] == 40 * 40
    assert result["diverged"] == int(np.count_nonzero(labels == -1))
    assert result["unconverged"] == int(np.count_nonzero(labels == -2))
    # lr 0.01 and 1000 steps: every start in [-5, 5]^2 reaches a minimum (each basin is large)
    assert min(counts) > 200 and result["diverged"] == 0 and result["unconverged"] == 0
    assert (result["optimizer"], result["learning_rate"], result["steps"]) == ("gd", 0.01, 1000)
    assert result["device"] == "CPU" and result["seconds"] > 0


def test_the_start_next_to_each_minimum_is_labelled_with_it(himmelblau):
    result, _ = himmelblau
    xs, ys = result["coords"]
    for k, m in enumerate(result["minima"]):
        i = int(np.argmin(np.abs(xs - m["point"]["x"])))
        j = int(np.argmin(np.abs(ys - m["point"]["y"])))
        assert result["labels"][i, j] == k


def test_labels_are_indexed_like_evaluate_grid_and_agree_with_single_runs(engine, himmelblau):
    result, _ = himmelblau
    grid = engine.evaluate_grid(HIMMELBLAU.formula, ["x", "y"], BOX, 40)
    for ours, theirs in zip(result["coords"], grid["coords"]):
        np.testing.assert_array_equal(ours, theirs)
    xs, ys = result["coords"]
    # Himmelblau is not symmetric under x <-> y: a transposed label array would disagree here
    picks = [(0, 39), (39, 0), (5, 30), (30, 5), (12, 27), (20, 20)]
    starts = [{"x": float(xs[i]), "y": float(ys[j])} for i, j in picks]
    runs = engine.descend(HIMMELBLAU.formula, starts, lr=0.01, steps=1000, tol=1e-6, box=BOX, path=False)["runs"]
    for (i, j), run in zip(picks, runs):
        assert run["status"] == "converged"
        m = result["minima"][result["labels"][i, j]]["point"]
        assert abs(run["point"]["x"] - m["x"]) < 1e-4 and abs(run["point"]["y"] - m["y"]) < 1e-4
    labels = result["labels"]
    assert any(labels[i, j] != labels[j, i] for i, j in picks)  # so the check above would see a transpose


def test_progress_rises_to_one(himmelblau):
    _, fractions = himmelblau
    assert len(fractions) >= 2 and fractions[-1] == 1.0
    assert all(0 < a < b for a, b in zip(fractions, fractions[1:]))


def test_the_sphere_has_one_basin(engine):
    result = engine.basins(SPHERE.formula, ["x", "y"], BOX, 25, lr=0.1)
    (m,) = result["minima"]
    assert m["count"] == 25 * 25 and np.all(result["labels"] == 0)
    assert abs(m["point"]["x"]) < 1e-6 and abs(m["point"]["y"]) < 1e-6


def test_a_huge_rate_diverges_everywhere(engine):
    # x <- x - 5 (2x) = -9x: every start but the origin leaves the box; the 24 x 24 grid misses the origin
    result = engine.basins(SPHERE.formula, ["x", "y"], BOX, 24, lr=5.0)
    assert result["minima"] == [] and result["diverged"] == 24 * 24
    assert np.all(result["labels"] == descent.DIVERGED)


def test_too_few_steps_leave_every_start_unconverged(engine):
    result = engine.basins(ROSENBROCK.formula, ["x", "y"], list(ROSENBROCK.box), 10, lr=1e-4, steps=5)
    assert result["minima"] == [] and result["unconverged"] == 100
    assert np.all(result["labels"] == descent.UNCONVERGED)


def test_parameters_move_the_minimum(engine):
    result = engine.basins("(x-a)^2 + k*(y-b)^2", ["x", "y"], BOX, 12, params={"a": 1.5, "b": -2.0, "k": 3.0},
                           lr=0.05, optimizer="adam")
    (m,) = result["minima"]
    assert m["point"]["x"] == pytest.approx(1.5, abs=1e-5) and m["point"]["y"] == pytest.approx(-2.0, abs=1e-5)
    assert m["count"] == 144 and result["optimizer"] == "adam"


@pytest.mark.parametrize("kwargs, phrase", [
    ({"n": 1}, "from 2 to 300"),
    ({"n": 301}, "from 2 to 300"),
    ({"optimizer": "gd,adam"}, "one optimizer"),
    ({"optimizer": "sgd"}, "unknown optimizer"),
    ({"lr": 0.0}, "learning rate must be positive"),
    ({"axes": ["x"], "ranges": [(-1.0, 1.0)]}, "two axes"),
    ({"ranges": [(1.0, -1.0), (-1.0, 1.0)]}, "smaller to a larger"),
])
def test_bad_requests_are_engine_errors(engine, kwargs, phrase):
    kwargs = {"text": "x^2 + y^2", "axes": ["x", "y"], "ranges": BOX, "n": 10, **kwargs}
    with pytest.raises(EngineError) as info:
        engine.basins(**kwargs)
    assert phrase in str(info.value)
