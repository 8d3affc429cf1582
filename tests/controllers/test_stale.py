"""What the window shows after a change is never left over from before it: each case a user met
(issue "One home for the window's state"), played on the real Session and controllers with fake
views and a numpy engine."""
from __future__ import annotations

import math

import numpy as np

from conftest import emit


def test_the_hover_readout_goes_with_the_function_it_was_read_from(rig):
    r = rig("x^2 + 100 y^2")
    w = r.window
    emit(w.contour.hovered, 1.0, 1.0)
    x, y, text = w.contour.show_readout.call_args.args  # at the grid node nearest the mouse
    assert abs(x - 1.0) <= 0.02 and abs(y - 1.0) <= 0.02 and f"f = {x * x + 100 * y * y:.5g}" in text
    w.contour.hide_readout.reset_mock()
    emit(w.editor.expressionEdited, "log(x) + y^2")
    w.contour.hide_readout.assert_called()  # at once: not after the new grid arrives
    assert r.session.hover is None
    r.settle()
    w.contour.show_readout.reset_mock()
    emit(w.contour.hovered, -1.0, 0.5)  # where log is undefined: the new grid's NaN (said so), not a stale number
    assert "f = undefined" in w.contour.show_readout.call_args.args[2]
    emit(w.contour.left)
    assert r.session.hover is None and w.contour.hide_readout.called


def test_a_new_function_clears_the_old_race_its_table_and_pause(rig):
    r = rig("3x^4 - 4x^3 - 12x^2", x_range=(-2, 3))
    w, s = r.window, r.session
    emit(w.contour.startPicked, 2.5, 0.0) if len(s.axes) == 2 else emit(w.curve.startPicked, 2.5)
    r.settle()
    assert s.race is not None
    emit(w.descent.runToggled, True)
    assert s.running and r.descent.timer.isActive()
    w.descent.set_runs.reset_mock()
    emit(w.editor.expressionEdited, "log(x) + y^2")
    assert s.race is None and not s.running and not r.descent.timer.isActive()
    w.descent.set_running.assert_called_with(False)
    assert w.descent.set_runs.call_args.args[0] == []      # the run table is empty...
    assert w.loss.set_runs.call_args.args[0] == []         # ...and so are the loss curves
    assert w.contour.set_starts.call_args.args[0] == []    # the start belonged to the old axes


def test_a_fixed_learning_rate_clears_the_divergence_message(rig):
    r = rig("x^2 + y^2")
    w, s = r.window, r.session
    emit(w.descent.setupChanged, {"lr": 1.5, "max_steps": 60, "steps_per_click": 60})  # x <- -2x: diverges
    emit(w.contour.startPicked, 1.0, 1.0)
    r.settle()
    emit(w.descent.stepRequested)  # the whole race in one click: its end comes on screen
    assert "diverged" in r.shown_status() and "diverged" in w.descent.set_message.call_args.args[0]
    emit(w.descent.setupChanged, {"lr": 0.1})  # the learning rate fixed
    assert "diverged" not in r.shown_status()
    assert w.descent.set_message.call_args.args[0] == ""
    r.settle()
    assert s.race.runs[0]["status"] in ("converged", "max_steps")


def test_clearing_the_formula_then_undo_brings_back_the_text_and_clears_the_error(rig):
    r = rig("x^2 + y^2")
    w, s = r.window, r.session
    emit(w.editor.expressionEdited, "")  # Ctrl+A, Backspace
    message, position = w.editor.set_error.call_args.args
    assert s.editor_error is not None and "Not plotted" in r.shown_status()
    w.editor.set_error.reset_mock()
    emit(w.editor.undoRequested)  # Ctrl+Z
    w.editor.set_text.assert_called_with("x^2 + y^2")
    w.editor.set_preview.assert_called()          # the preview is live again (set_preview clears the error mark)
    w.editor.set_error.assert_not_called()
    assert s.editor_error is None and "Not plotted" not in r.shown_status()


def test_typing_then_a_typo_then_undo_keeps_what_was_typed(rig):
    r = rig("x*exp(-x^2 - y^2)")
    w, s = r.window, r.session
    s.load("(x^2 + y - 11)^2 + (x + y^2 - 7)^2", (-5, 5), (-5, 5))  # a preset
    emit(w.editor.expressionEdited, "x^2+y^2")
    emit(w.editor.expressionEdited, "x^2+y^2+")
    emit(w.editor.undoRequested)
    assert s.settings.text == "x^2+y^2" and s.editor_error is None
    emit(w.editor.undoRequested)
    assert s.settings.text == "(x^2 + y - 11)^2 + (x + y^2 - 7)^2"
    emit(w.editor.redoRequested)
    emit(w.editor.redoRequested)
    assert s.settings.text == "x^2+y^2+" and s.editor_error is not None
    assert s.document.text == "x^2+y^2"  # the plot stays on the last formula that parses


def test_a_late_reply_to_an_older_request_is_dropped(rig):
    r = rig("x^2 + y^2")
    s, w = r.session, r.window
    old_key, old_grid = s.results["grid"].key, s.grid
    emit(w.editor.expressionEdited, "x^2 - y^2")
    w.contour.set_grid.reset_mock()
    assert s.deliver("grid", old_key, old_grid) is False  # x^2 + y^2's grid arriving after the edit
    assert s.grid is None and not w.contour.set_grid.called
    r.settle()
    assert s.grid["value"][0, 0] == 0.0  # x^2 - y^2 at (-2, -2)
    assert w.contour.set_grid.call_args.args[2][0, 0] == 0.0


def test_a_parameter_move_clears_what_depends_on_it_and_keeps_the_rest(rig):
    r = rig("k x^2 + y^2")
    w, s = r.window, r.session
    emit(w.contour.pointPicked, 1.0, 0.5)
    r.settle()
    assert s.point is not None and s.grid is not None and s.critical is not None
    before = s.point["value"]
    emit(w.parameters.parameterChanged, "k", 3.0)
    assert s.point is None and s.grid is None  # both depend on k...
    assert s.selected == (1.0, 0.5)            # ...the point chosen does not
    r.settle()
    assert math.isclose(s.point["value"], 3 * 1.0 + 0.25) and math.isclose(before, 1.25)
    np.testing.assert_allclose(s.grid["value"][-1, 100], 3 * 4 + s.grid["coords"][1][100] ** 2, rtol=1e-5)


def test_the_ask_for_a_start_point_goes_once_there_is_one(rig):
    """Step or Run with no start asks for one, in the panel and the status bar; a start picked answers it:
    neither keeps asking while the race it started runs."""
    r = rig("x^2 + sin(y)")
    w, s = r.window, r.session
    emit(w.descent.stepRequested)
    asked = w.descent.set_message.call_args.args[0]
    assert asked.startswith("Set a start point first") and asked in r.shown_status()
    emit(w.contour.startPicked, -1.0, 1.2)
    assert w.descent.set_message.call_args.args[0] == "" and "start point" not in r.shown_status()
    r.settle()
    emit(w.descent.stepRequested)
    assert s.race.shown == 1 and w.descent.set_message.call_args.args[0] == ""
    emit(w.editor.expressionEdited, "x^2 + z^2")  # other axes: the start goes with the old ones, so Run asks again
    r.settle()
    emit(w.descent.runToggled, True)
    assert w.descent.set_message.call_args.args[0].startswith("Set a start point first")
    emit(w.contour.startPicked, 0.5, 0.5)
    assert w.descent.set_message.call_args.args[0] == "" and "start point" not in r.shown_status()
