"""A race on a formula new to the engine: its first steps come first (the compute process steps it
while its loop compiles), then the whole race replaces them. Played on the real Session and controllers
with fake views and a numpy engine."""
from __future__ import annotations

import copy

from calcviz.models.compute import Reply
from conftest import emit


def first_steps(result: dict, steps: int) -> dict:
    """The engine's partial result: each run cut after ``steps`` steps, still "running" if it went on."""
    out = copy.deepcopy(result)
    for run in out["runs"]:
        if run["steps"] > steps:
            run.update(status="running", steps=steps, path=run["path"][:steps + 1], message="running")
    return out


def race_on_its_way(r):
    """The race request the rig's client holds: (id, the whole result the engine would give)."""
    request_id, kwargs = r.client.pending.pop("descend")
    return request_id, r.client.engine.descend(**kwargs)


def test_the_first_steps_answer_a_step_and_the_whole_race_keeps_it(rig):
    r = rig("x^2 + y^2")
    s, w = r.session, r.window
    s.set_descent_setup({"optimizers": ["gd", "adam"], "lr": 0.1, "max_steps": 40, "steps_per_click": 3})
    emit(w.contour.startPicked, 1.0, 1.0)
    request_id, whole = race_on_its_way(r)
    r.client.replies.append(Reply("descend", request_id, first_steps(whole, 1), partial=True))
    r.bridge.receive()
    race = s.race
    assert race is not None and race.partial and r.descent.pending
    assert "race" in s.wanted() and "descend" not in r.client.pending  # still wanted, not asked again
    emit(w.descent.stepRequested)  # three steps asked, one there: it shows, the other two wait
    x = w.contour.set_paths.call_args.args[0][0]["x"]
    assert race.shown == 1 and len(x) == 2 and abs(x[1] - 0.8) < 1e-9  # x - 0.1 * 2x
    r.client.replies.append(Reply("descend", request_id, whole))
    r.bridge.receive()
    assert s.race is not race and not s.race.partial and not r.descent.pending
    assert s.race.shown == 3 and "race" not in s.wanted()
    assert len(w.contour.set_paths.call_args.args[0][0]["x"]) == 4


def test_a_new_formula_keeps_the_races_lines_until_its_first_steps_come(rig):
    r = rig("x^2 + y^2")
    s, w = r.session, r.window
    s.set_descent_setup({"optimizers": ["gd", "adam"], "lr": 0.1, "max_steps": 40})
    emit(w.contour.startPicked, 1.0, 1.0)
    r.settle()
    emit(w.editor.expressionEdited, "x^2 + 2y^2")  # the start stays: the new race is on its way
    assert s.race is None and r.descent.pending
    paths = w.contour.set_paths.call_args.args[0]
    assert [p["label"] for p in paths] == ["Gradient descent", "Adam"] and all(len(p["x"]) == 0 for p in paths)
    assert w.descent.set_runs.call_args.args[0] == []  # no rows for runs not computed
    r.settle()
    assert s.race is not None and s.race.shown == 0  # a new function's race starts over: at its start
    assert [p["x"].tolist() for p in w.contour.set_paths.call_args.args[0]] == [[1.0], [1.0]]


def test_cancelling_keeps_the_first_steps_and_does_not_ask_again(rig):
    r = rig("x^2 + y^2")
    s, w = r.session, r.window
    emit(w.contour.startPicked, 1.0, 1.0)
    request_id, whole = race_on_its_way(r)
    r.client.replies.append(Reply("descend", request_id, first_steps(whole, 2), partial=True))
    r.bridge.receive()
    r.bridge.cancel()
    assert s.race is not None and s.race.partial and "race" not in s.wanted()
    asked = len(r.client.submitted)
    r.settle()
    assert "descend" not in [kind for kind, _ in r.client.submitted[asked:]]
    assert s.file()["descent"]["result"] is None  # a race still arriving is not saved
