"""The matrix-calculus panel (issue 16): alone, what a user's typing emits and what set_* shows; in the real
window, the quadratic form x^T A x preset drawn over x's two entries, its gradients in the panel and the
inspector's Hessian A + A^T, a check of derivatives, and a formula of numbers' error map on the contour map."""
from __future__ import annotations

import numpy as np
import pytest
from PyQt6 import QtCore, QtGui

from calcviz.views.matrix_panel import MatrixPanel, heat
from ui import TIMEOUT, open_window, show  # noqa: E402

INPUTS = [{"name": "x", "size": "2", "values": [0.5, -1.0], "entries": ["x[1]", "x[2]"], "axes": ("x[1]", "x[2]")},
          {"name": "A", "size": "2x2", "values": [[1.0, 2.0], [0.0, -3.0]],
           "entries": [["A[1,1]", "A[1,2]"], ["A[2,1]", "A[2,2]"]], "axes": ("x[1]", "x[2]")}]
RESULT = {"function": "f", "value": 3.25, "shape": "scalar", "inputs": {"x": {"shape": "2"}, "A": {"shape": "2x2"}},
          "gradients": {"x": [-1.0, 7.0], "A": [[0.25, -0.5], [-0.5, 1.0]]}}


@pytest.fixture
def panel(qtbot):
    p = show(qtbot, MatrixPanel(), 420, 700)
    p.set_inputs(INPUTS)
    return p


def edit_cell(qtbot, table, row, col, text):
    rect = table.visualItemRect(table.item(row, col))
    qtbot.mouseDClick(table.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())
    editor = table.focusWidget()
    editor.selectAll()
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, QtCore.Qt.Key.Key_Return)


def test_inputs_are_tables_with_the_axes_marked(panel):
    assert panel.shown_inputs() == {"x": [["0.5"], ["-1"]], "A": [["1", "2"], ["0", "-3"]]}
    x = panel.input_tables["x"]
    assert x.item(0, 0).background().color() == QtGui.QColor("#ffe0b2")       # on the plot's axes
    assert panel.input_tables["A"].item(0, 1).background().color() == QtGui.QColor("white")
    assert "on the plot's axes" in x.item(1, 0).toolTip()


def test_typing_an_entry_emits_it_and_nonsense_is_refused(panel, qtbot):
    with qtbot.waitSignal(panel.valueEdited, timeout=2000) as blocker:
        edit_cell(qtbot, panel.input_tables["A"], 1, 0, "2.5")
    assert blocker.args == ["A[2,1]", 2.5]
    with qtbot.assertNotEmitted(panel.valueEdited):
        edit_cell(qtbot, panel.input_tables["A"], 0, 0, "abc")
    assert panel.shown_inputs()["A"][0][0] == "1"  # the value shown before comes back


def test_the_seed_and_draw_again(panel, qtbot):
    panel.set_seed(4)
    with qtbot.waitSignal(panel.drawRequested, timeout=2000) as blocker:
        qtbot.mouseClick(panel.draw_button, QtCore.Qt.MouseButton.LeftButton)
    assert blocker.args == [5]
    with qtbot.waitSignal(panel.drawRequested, timeout=2000) as blocker:
        panel.seed_spin.setFocus()
        panel.seed_spin.selectAll()
        qtbot.keyClicks(panel.seed_spin, "11")
        qtbot.keyClick(panel.seed_spin, QtCore.Qt.Key.Key_Return)
    assert blocker.args == [11]


def test_gradients_are_heat_maps_with_numbers(panel):
    panel.set_result(RESULT)
    assert panel.value_label.text() == "<i>f</i> = 3.25"
    assert panel.shown_gradients() == {"x": [["-1"], ["7"]], "A": [["0.25", "-0.5"], ["-0.5", "1"]]}
    x = panel.gradient_tables["x"]
    assert x.item(1, 0).background().color() == QtGui.QColor(214, 39, 40)       # the largest: full red
    assert x.item(0, 0).background().color() == heat(-1.0, 7.0) != QtGui.QColor("white")  # light blue
    panel.set_result({"function": "f", "value": [3.0, 7.0], "shape": "2", "inputs": {}, "gradients": None})
    assert panel.value_label.text().startswith("<i>f</i> (2 entries) =<br>No gradient: f is not a number")
    assert panel.value_table.isVisible() and panel.value_table.numbers() == [["3"], ["7"]]
    panel.set_result(None, "No value: a matrix is not invertible at these values")
    assert panel.shown_gradients() == {} and "not invertible" in panel.value_label.text()


def test_typing_derivatives_and_the_verdict(panel, qtbot):
    panel.derivatives_edit.setFocus()
    qtbot.keyClicks(panel.derivatives_edit, "d/dx = (A + A^T) x")
    with qtbot.waitSignal(panel.derivativesSubmitted, timeout=2000) as blocker:
        qtbot.mouseClick(panel.check_button, QtCore.Qt.MouseButton.LeftButton)
    assert blocker.args == ["d/dx = (A + A^T) x"]
    panel.set_check(None, "your derivative is 1x2 (a row); d/dx of a number must have x's shape (line 1, column 8)")
    assert panel.problem.isVisible() and panel.verdict.text() == ""
    verdict = {"mode": "draws", "agrees": False, "results": [
        {"wrt": "x", "text": "d/dx = A x", "agrees": False, "message": "d/dx disagrees with TensorFlow's gradient",
         "worst": {"draw": 3, "sizes": {"n": 4}, "entries": [{"entry": "x[2]", "yours": 1.5, "tensorflow": -2.0}]}}]}
    panel.set_check(verdict)
    text = panel.verdict.text()
    assert not panel.problem.isVisible() and "✗" in text and "draw 3 (n = 4)" in text and "x[2]" in text


# ----------------------------------------------------------------------------- the real window
@pytest.fixture(scope="module")
def app_window(qapp):
    yield from open_window("x^2 + y^2")


def choose_preset(window, name):
    action = next(a for menu in window.editor.presets_button.menu().actions() if menu.menu()
                  for a in menu.menu().actions() if a.text() == name)
    action.trigger()


def test_the_quadratic_form_preset_in_the_window(app_window, qtbot, tmp_path):
    window, app = app_window
    s = app.session
    window.docks["matrix"].show()
    window.docks["matrix"].raise_()
    choose_preset(window, "d/dx xᵀAx = (A + Aᵀ)x")
    qtbot.waitUntil(lambda: s.document.text == "x: 2\nA: 2x2\nx^T A x" and s.grid is not None and s.matrix is not None
                    and s.check is not None and app.idle, timeout=TIMEOUT)
    p = s.document.params
    A = np.array([[p["A[1,1]"].value, p["A[1,2]"].value], [p["A[2,1]"].value, p["A[2,2]"].value]])
    assert not np.allclose(A, A.T)  # drawn with seed 0: not symmetric, so 2A would be wrong
    # the surface and the contour map are the quadratic form over x[1], x[2]
    xs, ys = s.grid["coords"]
    X1, X2 = np.meshgrid(xs, ys, indexing="ij")
    form = A[0, 0] * X1**2 + (A[0, 1] + A[1, 0]) * X1 * X2 + A[1, 1] * X2**2
    np.testing.assert_allclose(window.contour.image.image, form, rtol=1e-4, atol=1e-4)
    # a point: the inspector's Hessian is A + A^T, the panel's gradients (A + A^T) x and x x^T
    s.select(0.5, -1.0)
    qtbot.waitUntil(lambda: s.point is not None and s.matrix is not None and app.idle, timeout=TIMEOUT)
    hessian = np.array([[float(c) for c in row] for row in window.inspector.shown()["hessian"]])
    np.testing.assert_allclose(hessian, A + A.T, rtol=1e-5, atol=1e-5)
    x = np.array([0.5, -1.0])
    gradients = window.matrix.shown_gradients()
    np.testing.assert_allclose([float(v[0]) for v in gradients["x"]], (A + A.T) @ x, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose([[float(v) for v in row] for row in gradients["A"]], np.outer(x, x), rtol=1e-3,
                               atol=1e-3)
    assert window.matrix.shown_inputs()["x"] == [["0.5"], ["-1"]]
    # the preset's derivatives were checked: they agree
    assert window.matrix.derivatives_edit.toPlainText() == "d/dx = (A + A^T) x\nd/dA = x x^T"
    assert s.check["agrees"] is True and window.matrix.verdict.text().count("✓") == 2
    window.resize(1400, 900)
    qtbot.wait(200)
    window.snapshot().save(str(tmp_path / "matrix.png"))
    # a wrong one: A x for the non-symmetric A
    window.matrix.derivatives_edit.setPlainText("d/dx = A x")
    qtbot.mouseClick(window.matrix.check_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: s.check is not None and s.check["agrees"] is False, timeout=TIMEOUT)
    assert "✗" in window.matrix.verdict.text() and "disagrees" in window.matrix.verdict.text()


def test_a_wrong_derivative_of_a_formula_of_numbers_is_mapped_on_the_contour_view(app_window, qtbot):
    window, app = app_window
    s = app.session
    choose_preset(window, "Saddle")
    qtbot.waitUntil(lambda: s.document.text == "x^2 - y^2" and s.grid is not None and app.idle, timeout=TIMEOUT)
    assert window.matrix.derivatives_edit.toPlainText() == ""  # a preset without derivatives clears them
    window.matrix.derivatives_edit.setPlainText("d/dx = 2x\nd/dy = 2y")  # the sign of d/dy is wrong
    qtbot.mouseClick(window.matrix.check_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: s.check is not None and window.contour.error_map.isVisible(), timeout=TIMEOUT)
    dx, dy = s.check["results"]
    assert dx["agrees"] and not dy["agrees"]
    image = window.contour.error_map.image
    xs, ys = s.check["coords"]
    assert image.shape == (len(xs), len(ys), 4)
    differs = image[..., 3] > 0
    Y = np.meshgrid(xs, ys, indexing="ij")[1]
    assert np.array_equal(differs, Y != 0)  # 2y and -2y differ wherever y != 0
    window.matrix.derivatives_edit.setPlainText("d/dx = 2x\nd/dy = -2y")
    qtbot.mouseClick(window.matrix.check_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: s.check is not None and s.check["agrees"] is True, timeout=TIMEOUT)
    assert not window.contour.error_map.image[..., 3].any()
