"""The race being watched (models/race.py): the step cursor over runs computed ahead, and what it names."""
from __future__ import annotations

import numpy as np
import pytest

from calcviz.models.race import Race, reached, run_labels


def gd_on_sphere(start, lr, steps):
    """A descend()-shaped run of GD on x^2 + y^2, by hand: x_{k+1} = (1 - 2 lr) x_k."""
    x = np.array(start, float)
    path = []
    for k in range(steps + 1):
        path.append({"step": k, "point": {"x": x[0], "y": x[1]}, "value": float(x @ x),
                     "gradient": {"x": 2 * x[0], "y": 2 * x[1]}, "grad_norm": float(2 * np.hypot(*x)),
                     "learning_rate": lr, "update": None if k == steps else {"x": -2 * lr * x[0], "y": -2 * lr * x[1]}})
        x = (1 - 2 * lr) * x
    return {"optimizer": "gd", "status": "max_steps", "steps": steps, "message": "stopped", "path": path}


@pytest.fixture
def race():
    runs = [gd_on_sphere((3.0, -4.0), 0.1, 10), gd_on_sphere((1.0, 1.0), 0.25, 4)]
    runs[1]["status"] = "converged"
    return Race({"variables": ["x", "y"], "runs": runs})


def test_the_cursor_reveals_steps_and_stops_each_run_at_its_end(race):
    assert race.length == 10 and race.shown == 0 and not race.finished
    points, values, norms = race.path(0)
    assert points.tolist() == [[3.0, -4.0]] and values.tolist() == [25.0] and norms.tolist() == [10.0]
    race.advance(3)
    points, values, _ = race.path(0)
    np.testing.assert_allclose(points, [[3, -4], [2.4, -3.2], [1.92, -2.56], [1.536, -2.048]], rtol=1e-15)
    assert race.status(0) == "running" and race.status(1) == "running"
    assert race.stopped_between(0, 3) == []
    race.advance(5)  # run 1 stopped at step 4: it stays at its end
    assert race.step_of(1) == 4 and len(race.path(1)[0]) == 5 and race.status(1) == "converged"
    assert race.stopped_between(3, 8) == [1]
    assert race.entry(1)["update"] is None
    race.advance(100)
    assert race.shown == 10 and race.finished and race.status(0) == "max_steps"
    race.reset()
    assert race.shown == 0 and race.stopped_between(-1, 0) == []


def test_a_new_race_keeps_the_step_on_screen_within_its_length(race):
    again = Race(race.result, shown=7)
    assert again.shown == 7
    assert Race(race.result, shown=50).shown == 10


def test_labels_number_repeated_optimizers():
    runs = [{"optimizer": "gd"}, {"optimizer": "adam"}, {"optimizer": "gd"}]
    assert run_labels(runs) == ["Gradient descent #1", "Adam", "Gradient descent #2"]


def test_reached_names_the_critical_point_a_run_sits_on():
    critical = {"axes": ["x", "y"], "critical_points": [
        {"type": "saddle", "point": {"x": 0.0, "y": 0.0}},
        {"type": "min", "point": {"x": 3.0, "y": 2.0}, "global_min": True},
        {"type": "min", "point": {"x": -2.805118, "y": 3.131313}}]}
    box = [(-5.0, 5.0), (-5.0, 5.0)]  # 0.5% of 10: within 0.05 per axis
    assert reached({"x": 3.04, "y": 1.97}, critical, box) == "global min (3, 2)"
    assert reached({"x": -2.8, "y": 3.13}, critical, box) == "min (-2.805, 3.131)"
    assert reached({"x": 3.06, "y": 2.0}, critical, box) == ""
    assert reached({"x": 0.0, "y": 0.0}, None, box) == ""


def test_a_races_first_steps_wait_at_their_end_and_report_no_end():
    """Before the rest of a new formula's race arrives, its runs still going are "running": the cursor
    stops at the last step there is, the race is not finished, and no run is reported as ended."""
    runs = [gd_on_sphere((3.0, -4.0), 0.1, 2), gd_on_sphere((1.0, 1.0), 0.25, 1)]
    runs[0].update(status="running")
    runs[1].update(status="converged")
    race = Race({"variables": ["x", "y"], "runs": runs})
    assert race.partial and race.length == 2
    assert race.advance(5) == 2 and not race.finished
    assert race.stopped_between(-1, 2) == [1]  # the converged run only
    assert race.status(0) == "running"
    runs[0].update(status="max_steps")
    assert not Race({"variables": ["x", "y"], "runs": runs}, shown=2).partial
