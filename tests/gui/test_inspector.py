"""PointInspector: what it shows for a point and a directional profile, and what the user's angle emits."""
import math

import numpy as np
import pytest
from PyQt6.QtCore import QEvent, QPointF, Qt
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtWidgets import QAbstractSlider, QApplication

from calcviz.models.directional import directional_profile
from calcviz.views.inspector import PLACEHOLDER, PointInspector, format_number
from ui import show, type_into  # noqa: E402

TWO = {"variables": ["x", "y"], "point": {"x": 0.5, "y": -0.25}, "value": 0.123456789,
       "gradient": {"x": 3.0, "y": 4.0}, "hessian": [[-1.2345678, 0.5], [0.5, 2.0]],
       "eigenvalues": [-1.30780135, 2.07323355], "eigenvectors": [[1, 0], [0, 1]], "device": "/CPU:0", "seconds": 0.01}
ONE = {"variables": ["x"], "point": {"x": 1.5}, "value": -20.8125, "gradient": {"x": -4.5},
       "hessian": [[float("nan")]], "eigenvalues": [float("nan")], "device": "/CPU:0"}
FOUR = {"variables": ["w", "x", "y", "z"], "point": {"w": -1, "x": 0.5, "y": -2, "z": 1}, "value": 1234567.89,
        "gradient": {"w": 1, "x": 2, "y": 2, "z": 4}, "hessian": [[1, 2, 3, 4], [2, 5, 6, 7], [3, 6, 8, 9], [4, 7, 9, 10]],
        "eigenvalues": [-1.1, 0.2, 3.0, 25.5], "device": "GPU:0"}


@pytest.fixture
def inspector(qtbot):
    return show(qtbot, PointInspector(), 360, 600)




@pytest.mark.parametrize("value, text", [(0.123456789, "0.123457"), (1234567.89, "1.23457e+06"), (5.0, "5"),
                                         (-0.0, "0"), (float("nan"), "undefined"), (float("inf"), "∞"), (None, "—")])
def test_format_number(value, text):
    assert format_number(value) == text


def test_placeholder_until_a_point_is_set(inspector):
    assert inspector.placeholder.isVisible()
    assert inspector.placeholder.text() == PLACEHOLDER
    assert not inspector.details.isVisible()
    assert not inspector.directional_box.isVisible()
    inspector.set_point(TWO)
    assert not inspector.placeholder.isVisible() and inspector.details.isVisible()
    inspector.set_point(None)
    assert inspector.placeholder.isVisible() and not inspector.details.isVisible()
    assert inspector.shown()["value"] is None


def test_shows_the_numbers_of_a_two_variable_point(inspector):
    inspector.set_point(TWO)
    shown = inspector.shown()
    assert shown["point"] == "(0.5, -0.25)"
    assert shown["value"] == "0.123457"
    assert shown["gradient"] == "(3, 4)"
    assert shown["gradient_norm"] == "5"          # |(3, 4)| = 5
    assert shown["hessian"] == [["-1.23457", "0.5"], ["0.5", "2"]]
    assert shown["eigenvalues"] == "-1.3078, 2.07323"
    assert shown["device"] == "/CPU:0"
    assert shown["second_derivative"] is None
    # The labels on screen say the same.
    assert inspector.norm_label.isVisible() and inspector.norm_label.text() == "5"
    assert inspector.gradient_caption.text() == "∇f" and inspector.point_caption.text() == "(x, y)"
    table = inspector.hessian_table
    assert table.isVisible()
    assert [table.horizontalHeaderItem(i).text() for i in range(2)] == ["x", "y"]
    assert table.item(0, 0).text() == "-1.23457"


def test_nan_is_undefined(inspector):
    info = dict(TWO, value=float("nan"), gradient={"x": float("nan"), "y": 1.0},
                hessian=[[float("nan"), 0.0], [0.0, 1.0]], eigenvalues=[float("nan"), float("nan")])
    inspector.set_point(info)
    shown = inspector.shown()
    assert shown["value"] == "undefined"
    assert shown["gradient"] == "(undefined, 1)"
    assert shown["gradient_norm"] == "undefined"
    assert shown["hessian"][0][0] == "undefined"
    assert shown["eigenvalues"] == "undefined, undefined"


def test_one_variable_shows_f_prime_and_f_second(inspector):
    inspector.set_point(ONE)
    inspector.set_directional(directional_profile((1, 0), 0))  # even if given, one variable has no plane
    shown = inspector.shown()
    assert shown["point"] == "1.5" and inspector.point_caption.text() == "x"
    assert shown["value"] == "-20.8125" and inspector.value_caption.text() == "f(x)"
    assert shown["gradient"] == "-4.5" and inspector.gradient_caption.text() == "f′(x)"
    assert shown["second_derivative"] == "undefined" and inspector.second_caption.text() == "f″(x)"
    assert shown["gradient_norm"] is None and shown["hessian"] is None and shown["eigenvalues"] is None
    assert not inspector.hessian_table.isVisible() and not inspector.norm_label.isVisible()
    assert not inspector.directional_box.isVisible()
    # Back to two variables: the rows come back.
    inspector.set_point(TWO)
    assert inspector.norm_label.isVisible() and not inspector.second_label.isVisible()
    assert inspector.directional_box.isVisible()


def test_four_variables(inspector):
    inspector.set_point(FOUR)
    shown = inspector.shown()
    assert shown["point"] == "(-1, 0.5, -2, 1)"
    assert shown["value"] == "1.23457e+06"
    assert shown["gradient_norm"] == "5"          # |(1, 2, 2, 4)| = 5
    assert shown["hessian"][3] == ["4", "7", "9", "10"]
    assert inspector.point_caption.text() == "(w, x, y, z)"
    # The table is tall enough for its rows: no row is cut off.
    table = inspector.hessian_table
    assert table.rowViewportPosition(3) + table.rowHeight(3) <= table.viewport().height()


def test_directional_plot_matches_the_profile(inspector):
    inspector.set_point(TWO)
    profile = directional_profile((3, 4), 90)
    inspector.set_directional(profile)
    assert inspector.directional_box.isVisible()
    x, y = inspector.curve.getData()
    np.testing.assert_array_equal(x, profile["angles"])
    np.testing.assert_array_equal(y, profile["values"])
    # Extremes: +5 along the gradient (53.13°), -5 opposite (233.13°).
    mx, my = inspector.max_marker.getData()
    nx, ny = inspector.min_marker.getData()
    assert mx[0] == pytest.approx(math.degrees(math.atan2(4, 3))) and my[0] == 5.0
    assert nx[0] == pytest.approx(math.degrees(math.atan2(4, 3)) + 180) and ny[0] == -5.0
    assert inspector.max_text.isVisible() and "+|∇f| = 5" in inspector.max_text.toPlainText()
    assert inspector.min_text.isVisible() and "-|∇f| = -5" in inspector.min_text.toPlainText()
    assert inspector.max_text.pos().x() == pytest.approx(mx[0])
    # The current angle: line and dot at (90°, D_v f = 4).
    assert inspector.angle_line.value() == 90.0
    dx, dy = inspector.angle_dot.getData()
    assert (dx[0], dy[0]) == (90.0, 4.0)
    assert inspector.angle_spin.value() == 90.0
    shown = inspector.shown()["directional"]
    assert shown["value"] == "4" and shown["direction"] == "(0, 1)"
    assert "<b>4</b>" in inspector.directional_label.text()
    assert shown["note"] == ("Largest +|∇f| = 5 at 53.13° (along ∇f); "
                             "smallest -|∇f| = -5 at 233.13° (opposite ∇f).")
    # The y range shows the whole curve.
    lo, hi = inspector.plot.getPlotItem().viewRange()[1]
    assert lo < -5 and hi > 5


def test_directional_items_are_reused(inspector):
    inspector.set_point(TWO)
    items = list(inspector.plot.getPlotItem().items)
    for angle in (0, 45, 300):
        inspector.set_directional(directional_profile((3, 4), angle))
    assert list(inspector.plot.getPlotItem().items) == items
    assert inspector.angle_dot.getData()[1][0] == pytest.approx(3 * 0.5 - 4 * math.sqrt(3) / 2)


def test_zero_gradient_has_no_markers(inspector):
    inspector.set_point(dict(TWO, gradient={"x": 0.0, "y": 0.0}))
    inspector.set_directional(directional_profile((0, 0), 30))
    assert len(inspector.max_marker.getData()[0]) == 0 and len(inspector.min_marker.getData()[0]) == 0
    assert not inspector.max_text.isVisible() and not inspector.min_text.isVisible()
    assert "every direction" in inspector.shown()["directional"]["note"]
    assert inspector.shown()["directional"]["max"] is None


def test_axes_name_the_plane(inspector):
    inspector.set_point(FOUR)
    inspector.set_directional(directional_profile((2, 4), 0), axes=("x", "z"))
    assert inspector.directional_box.title() == "Directional derivative in the (x, z) plane"


def test_typing_an_angle_emits_angle_changed(inspector, qtbot):
    inspector.set_point(TWO)
    inspector.set_directional(directional_profile((3, 4), 0))
    with qtbot.waitSignal(inspector.angleChanged, timeout=1000) as blocker:
        type_into(qtbot, inspector.angle_spin, "45")
    assert blocker.args == [45.0]
    # The dial follows (its pointer along v: 270 - 45), without a second emission.
    assert inspector.angle_dial.value() == 225


def test_turning_the_dial_emits_angle_changed(inspector, qtbot):
    inspector.set_point(TWO)
    inspector.set_directional(directional_profile((3, 4), 90))
    assert inspector.angle_dial.value() == 180  # pointing up
    with qtbot.waitSignal(inspector.angleChanged, timeout=1000) as blocker:
        inspector.angle_dial.triggerAction(QAbstractSlider.SliderAction.SliderSingleStepAdd)
    assert blocker.args == [89.0]  # clockwise on the dial is a smaller angle
    assert inspector.angle_spin.value() == 89.0


def test_set_methods_do_not_emit(inspector, qtbot):
    with qtbot.assertNotEmitted(inspector.angleChanged, wait=50):
        inspector.set_point(TWO)
        inspector.set_angle(120)
        inspector.set_directional(directional_profile((3, 4), 200))
        inspector.set_angle(-30)
    assert inspector.angle_spin.value() == 330.0
    assert inspector.angle_dial.value() == (270 - 330) % 360
    assert inspector.angle_line.value() == 330.0


def _send(widget, kind, pos, button, buttons):
    event = QMouseEvent(kind, QPointF(pos), widget.mapToGlobal(QPointF(pos)), button, buttons,
                        Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)


def test_dragging_the_angle_line_emits_angle_changed(inspector, qtbot):
    inspector.set_point(TWO)
    inspector.set_directional(directional_profile((3, 4), 90))
    qtbot.wait(50)
    view = inspector.plot.getPlotItem().getViewBox()
    start = inspector.plot.mapFromScene(view.mapViewToScene(QPointF(90, 0)))
    end = inspector.plot.mapFromScene(view.mapViewToScene(QPointF(180, 0)))
    viewport = inspector.plot.viewport()
    left = Qt.MouseButton.LeftButton
    angles = []
    inspector.angleChanged.connect(angles.append)
    _send(viewport, QEvent.Type.MouseButtonPress, start, left, left)
    for t in np.linspace(0, 1, 12)[1:]:
        _send(viewport, QEvent.Type.MouseMove, start + (end - start) * t, Qt.MouseButton.NoButton, left)
    _send(viewport, QEvent.Type.MouseButtonRelease, end, left, Qt.MouseButton.NoButton)
    assert angles, "dragging the line emitted nothing"
    assert angles[-1] == pytest.approx(180, abs=3)
    assert inspector.angle_spin.value() == pytest.approx(angles[-1])
