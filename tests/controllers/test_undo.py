"""Undo and redo restore the editable part of the session as one: the text with its check state,
the box, the parameters and the view's switches."""
from __future__ import annotations

from conftest import emit


def test_undo_restores_text_box_parameters_and_toggles_together(rig):
    r = rig("k x^2 + y^2")
    w, s = r.window, r.session
    emit(w.domain.domainChanged, {"x": (-1.0, 1.0), "y": (-3.0, 3.0), "n": 50})
    emit(w.actions["field"].toggled, True)
    emit(w.parameters.parameterChanged, "k", 2.0)
    emit(w.parameters.parameterChanged, "k", 2.5)  # one drag of the slider: one step
    emit(w.parameters.parameterChanged, "k", 3.0)
    assert s.document.params["k"].value == 3.0 and s.settings.view.toggles.field
    emit(w.actions["undo"].triggered)
    assert s.document.params["k"].value == 1.0  # the whole drag at once
    emit(w.actions["undo"].triggered)
    assert not s.settings.view.toggles.field
    w.set_checked.assert_any_call("field", False)  # the menu follows without echoing back
    emit(w.actions["undo"].triggered)
    assert s.document.x_range == (-2.0, 2.0) and s.document.n == 200
    w.domain.set_domain.assert_called_with((-2.0, 2.0), (-2.0, 2.0), 200)
    assert not s.history.can_undo
    for _ in range(3):
        emit(w.actions["redo"].triggered)
    assert (s.document.x_range, s.document.n, s.settings.view.toggles.field, s.document.params["k"].value) == \
        ((-1.0, 1.0), 50, True, 3.0)


def test_the_undo_menu_says_what_it_undoes_and_is_off_when_there_is_nothing(rig):
    r = rig("x^2 + y^2")
    w = r.window
    w.actions["undo"].setEnabled.assert_called_with(False)
    emit(w.editor.expressionEdited, "x^2 + 2y^2")
    w.actions["undo"].setEnabled.assert_called_with(True)
    w.actions["undo"].setText.assert_called_with("&Undo edit formula")


def test_an_undo_that_changes_the_axes_forgets_the_point_and_the_starts(rig):
    r = rig("x^2 + y^2")
    w, s = r.window, r.session
    emit(w.editor.expressionEdited, "a^2 + b^2")
    emit(w.contour.pointPicked, 0.5, 0.5)
    emit(w.contour.startPicked, 1.0, 1.0)
    assert s.selected == (0.5, 0.5) and s.settings.descent.starts
    emit(w.editor.undoRequested)
    assert s.axes == ("x", "y") and s.selected is None and not s.settings.descent.starts
