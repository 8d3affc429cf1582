"""What the window says about a formula and a run is true: how ambiguous text was read, what a run reached."""
from __future__ import annotations

from conftest import emit


def test_the_preview_says_how_the_text_was_read(rig):
    r = rig("x^2 + y^2")
    w = r.window
    emit(w.editor.expressionEdited, "x^2y + xy^2")  # the chapter's exercise
    html, notes = w.editor.set_preview.call_args.args
    assert "xy" in notes and "x·y" in notes
    emit(w.editor.expressionEdited, "x^2 + y^2")
    assert w.editor.set_preview.call_args.args[1] == ""  # nothing to say


def test_a_run_that_stops_at_a_saddle_says_so(rig):
    """x^2 - y^2 from (1, 0): gradient descent converges to the saddle at the origin (y stays 0)."""
    r = rig("x^2 - y^2")
    w = r.window
    emit(w.descent.setupChanged, {"lr": 0.1, "max_steps": 300, "steps_per_click": 300, "tol": 1e-6})
    emit(w.contour.startPicked, 1.0, 0.0)
    r.settle()
    emit(w.descent.stepRequested)
    (row,) = w.descent.set_runs.call_args.args[0]
    assert row["status"] == "converged" and row["reached"] == "saddle: a nudge would leave it"
