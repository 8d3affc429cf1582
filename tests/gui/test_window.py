"""The whole window, driven like a user: real widgets, real compute process, real OpenGL under Xvfb."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from PyQt6 import QtCore, QtGui, QtWidgets

from ui import TIMEOUT, open_window  # noqa: E402



@pytest.fixture(scope="module")
def app_window(qapp):
    yield from open_window("x*exp(-x^2 - y^2)")


@pytest.fixture
def win(app_window, qtbot):
    window, app = app_window
    qtbot.waitUntil(lambda: app.session.grid is not None, timeout=TIMEOUT)
    yield window, app


def grid_of(xs, ys, f):
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    return f(X, Y)


def wait_for_text(qtbot, app, text):
    """Until the views hold the grid computed for ``text`` (the latest request, nothing in flight)."""
    qtbot.waitUntil(lambda: app.session.document.text == text and app.idle
                    and app.session.grid is not None, timeout=TIMEOUT)


def type_formula(qtbot, window, text):
    if window.editor.text() == text:
        return  # the editor sends no edit for unchanged text
    field = window.editor.field
    field.selectAll()
    qtbot.keyClick(field, QtCore.Qt.Key.Key_Delete)
    qtbot.keyClicks(field, text)
    with qtbot.waitSignal(window.editor.expressionEdited, timeout=2000):
        pass


def click_contour(qtbot, window, x, y):
    contour = window.contour
    scene = contour.plot.vb.mapViewToScene(QtCore.QPointF(x, y))
    pos = contour.mapFromScene(scene)
    qtbot.mouseClick(contour.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=pos)


def test_default_example_drawn_on_both_views(win):
    window, app = win
    xs, ys = app.session.grid["coords"]
    expected = grid_of(xs, ys, lambda X, Y: X * np.exp(-X**2 - Y**2))
    np.testing.assert_allclose(window.contour.image.image, expected, atol=1e-6)
    # The surface holds the same values, mapped into its scene box.
    _, _, sz = window.surface.to_scene(xs, ys, expected)
    np.testing.assert_allclose(window.surface.surface._z, sz, atol=1e-4)
    assert window.device.text() == "Device: CPU"
    assert "ms" in window.compute_time.text()
    assert window.editor.preview_label.text().startswith("<i>f</i>")


def test_typing_a_formula_redraws_and_a_typo_keeps_the_plot(win, qtbot):
    window, app = win
    type_formula(qtbot, window, "x^2 + 3y^2")
    wait_for_text(qtbot, app, "x^2 + 3y^2")
    xs, ys = app.session.grid["coords"]
    np.testing.assert_allclose(window.contour.image.image, grid_of(xs, ys, lambda X, Y: X**2 + 3 * Y**2), rtol=1e-5)
    before = window.contour.image.image.copy()

    type_formula(qtbot, window, "x^2 + sin(y")
    assert "never closed" in window.editor.error_label.text()
    assert "last valid plot" in window.message.full_text()
    assert app.session.document.text == "x^2 + 3y^2"
    np.testing.assert_array_equal(window.contour.image.image, before)


def test_click_selects_point_and_inspector_matches_cli(win, qtbot):
    window, app = win
    type_formula(qtbot, window, "log(exp(x) + exp(y))")
    wait_for_text(qtbot, app, "log(exp(x) + exp(y))")
    click_contour(qtbot, window, 0.5, -0.75)
    qtbot.waitUntil(lambda: app.session.point is not None and app.session.point["value"]
                    == pytest.approx(np.log(np.exp(app.session.selected[0]) + np.exp(app.session.selected[1]))),
                    timeout=TIMEOUT)
    x, y = app.session.selected
    assert x == pytest.approx(0.5, abs=0.02) and y == pytest.approx(-0.75, abs=0.02)
    mx, my = window.contour.marker.getData()
    assert (mx[0], my[0]) == (pytest.approx(x), pytest.approx(y))
    out = subprocess.run([sys.executable, "-m", "calcviz", "eval", "log(exp(x) + exp(y))", "--at", f"x={x!r}",
                          f"y={y!r}", "--json", "--device", "cpu"], capture_output=True, text=True, check=True)
    cli = json.loads(out.stdout)
    shown = window.inspector.shown()
    assert float(shown["value"]) == pytest.approx(cli["value"], rel=1e-5)
    info = app.session.point
    assert info["gradient"] == pytest.approx(cli["gradient"], rel=1e-12)
    np.testing.assert_allclose(info["hessian"], cli["hessian"], rtol=1e-12)
    # The surface marks the same point (in its scene units).
    px, py, _ = window.surface.to_scene(x, y, info["value"])
    np.testing.assert_allclose(window.surface.marker.pos[0][:2], [px, py], atol=1e-6)


def test_a_click_beside_the_box_says_why_it_does_nothing(win, qtbot):
    """The map keeps equal scales, so a box that is not the map's shape leaves a blank margin: a click or
    Shift+click there selects nothing and starts nothing, and says so where the mouse is."""
    window, app = win
    app.start("x*exp(-x^2 - y^2)", x_range=(-2.0, 2.0), y_range=(-1.0, 1.0))
    wait_for_text(qtbot, app, "x*exp(-x^2 - y^2)")
    qtbot.waitUntil(lambda: window.contour._box == (-2.0, 2.0, -1.0, 1.0), timeout=TIMEOUT)
    app.session.select(0.5, 0.5)
    (_, x1), (vy0, vy1) = window.contour.plot.vb.viewRange()
    assert x1 < 2.1 and vy1 - vy0 > 3.0  # the margin is above and below the box
    QtWidgets.QToolTip.hideText()
    for modifier in (QtCore.Qt.KeyboardModifier.NoModifier, QtCore.Qt.KeyboardModifier.ShiftModifier):
        scene = window.contour.plot.vb.mapViewToScene(QtCore.QPointF(0.0, (1.0 + vy1) / 2))
        qtbot.mouseClick(window.contour.viewport(), QtCore.Qt.MouseButton.LeftButton, modifier,
                         window.contour.mapFromScene(scene))
        qtbot.waitUntil(QtWidgets.QToolTip.isVisible, timeout=5000)
        assert QtWidgets.QToolTip.text() == ("Outside the box (x from -2 to 2, y from -1 to 1): click inside it.\n"
                                             "Zoom out or set the Domain to widen the box.")
        assert app.session.selected == (0.5, 0.5) and not app.session.settings.descent.starts
        QtWidgets.QToolTip.hideText()
    app.start("x*exp(-x^2 - y^2)")
    wait_for_text(qtbot, app, "x*exp(-x^2 - y^2)")


def test_arrow_keys_nudge_the_selected_point(win, qtbot):
    window, app = win
    app.session.select(0.0, 0.0)
    qtbot.waitUntil(lambda: app.session.point is not None and app.session.point["point"]["x"] == 0.0,
                    timeout=TIMEOUT)
    window.contour.setFocus()
    qtbot.keyClick(window.contour, QtCore.Qt.Key.Key_Right)
    qtbot.keyClick(window.contour, QtCore.Qt.Key.Key_Up, QtCore.Qt.KeyboardModifier.ShiftModifier)
    span_x = app.session.document.x_range[1] - app.session.document.x_range[0]
    span_y = app.session.document.y_range[1] - app.session.document.y_range[0]
    assert app.session.selected == (pytest.approx(span_x / 100), pytest.approx(10 * span_y / 100))


def test_parameter_slider_redraws(win, qtbot):
    window, app = win
    type_formula(qtbot, window, "k x^2 + y^2")
    wait_for_text(qtbot, app, "k x^2 + y^2")
    row = window.parameters.rows["k"]
    row.slider.setValue(row.slider.maximum())  # as a drag to the right end would
    qtbot.waitUntil(lambda: app.session.document.params["k"].value == pytest.approx(5.0) and app.idle,
                    timeout=TIMEOUT)
    xs, ys = app.session.grid["coords"]
    np.testing.assert_allclose(window.contour.image.image, grid_of(xs, ys, lambda X, Y: 5 * X**2 + Y**2), rtol=1e-5)


def test_preset_sets_formula_and_box_and_undo_restores(win, qtbot):
    window, app = win
    type_formula(qtbot, window, "x^2 - y^2")
    wait_for_text(qtbot, app, "x^2 - y^2")
    action = next(a for menu in window.editor.presets_button.menu().actions() if menu.menu()
                  for a in menu.menu().actions() if a.text() == "Rosenbrock")
    action.trigger()
    text = "(1 - x)^2 + 100(y - x^2)^2"
    wait_for_text(qtbot, app, text)
    xs, ys = app.session.grid["coords"]
    assert (xs[0], xs[-1], ys[0], ys[-1]) == (-2, 2, -1, 3)
    np.testing.assert_allclose(window.contour.image.image,
                               grid_of(xs, ys, lambda X, Y: (1 - X)**2 + 100 * (Y - X**2)**2),
                               rtol=1e-5, atol=1e-3)  # float32 grid; values reach 2509
    window.actions["undo"].trigger()
    wait_for_text(qtbot, app, "x^2 - y^2")
    assert window.editor.text() == "x^2 - y^2"
    assert window.domain.domain()["y"] == (-2.0, 2.0)
    window.actions["redo"].trigger()
    wait_for_text(qtbot, app, text)


def test_one_variable_shows_curve(win, qtbot):
    window, app = win
    type_formula(qtbot, window, "3x^4 - 4x^3 - 12x^2")
    wait_for_text(qtbot, app, "3x^4 - 4x^3 - 12x^2")
    assert window.plane.currentWidget() is window.curve
    assert "two variables" in window.surface.message.text()
    xs, f = window.curve.f.getData()
    np.testing.assert_allclose(f, 3 * xs**4 - 4 * xs**3 - 12 * xs**2, rtol=1e-9, atol=1e-9)
    _, d1 = window.curve.d1.getData()
    np.testing.assert_allclose(d1, 12 * xs * (xs - 2) * (xs + 1), rtol=1e-9, atol=1e-9)
    type_formula(qtbot, window, "x y")
    wait_for_text(qtbot, app, "x y")
    assert window.plane.currentWidget() is window.contour


def test_undefined_region_is_a_hole_with_a_message(win, qtbot):
    window, app = win
    type_formula(qtbot, window, "log(x) + y")
    wait_for_text(qtbot, app, "log(x) + y")
    assert "undefined" in window.message.full_text() and "%" in window.message.full_text()
    assert np.isnan(window.contour.image.image[0, 0]) and np.isfinite(window.contour.image.image[-1, 0])
    xs, ys = app.session.grid["coords"]
    x, y = xs[len(xs) // 4], ys[len(ys) // 2]  # a grid node in the hole (x < 0)
    app.session.set_hover(x, y)  # said as the inspector says it: not "nan", and no gradient (TF's 1/x)
    assert window.contour.readout.textItem.toPlainText() == (f"x = {x:.4g}, y = {y:.4g}\nf = undefined\n"
                                                             "∇f = (undefined, undefined)")
    app.session.set_hover(None)


def test_hover_shows_value_and_gradient(win, qtbot):
    window, app = win
    type_formula(qtbot, window, "x^2 + y^2")
    wait_for_text(qtbot, app, "x^2 + y^2")
    app.session.set_hover(1.0, -1.0)
    xs, ys = app.session.grid["coords"]
    i, j = np.argmin(abs(xs - 1.0)), np.argmin(abs(ys + 1.0))  # the grid node under the cursor
    x, y = xs[i], ys[j]
    text = window.contour.readout.textItem.toPlainText()
    # The layout exactly; the numbers to the digits shown (the grid is float32: a last digit may round either way).
    assert re.fullmatch(r"x = \S+, y = \S+\nf = \S+\n∇f = \(\S+, \S+\)", text), text
    shown = [float(v) for v in re.findall(r"-?[\d.]+(?:e[-+]?\d+)?", text.replace("∇", ""))]
    np.testing.assert_allclose(shown, [x, y, x * x + y * y, 2 * x, 2 * y], rtol=5e-4)


def test_hover_read_out_stays_inside_the_map_and_goes_when_the_mouse_leaves(win, qtbot):
    window, app = win
    type_formula(qtbot, window, "x^2 + y^2")
    wait_for_text(qtbot, app, "x^2 + y^2")
    contour = window.contour
    xs, ys = app.session.grid["coords"]
    shown = contour.plot.vb.sceneBoundingRect()
    for x, y in [(xs[-1], ys[-1]), (xs[0], ys[0]), (xs[-1], ys[0]), (xs[0], ys[-1])]:  # the grid's four corners
        app.session.set_hover(None)
        app.session.set_hover(x, y)
        qtbot.waitUntil(contour.readout.isVisible, timeout=5000)
        box = contour.readout.mapRectToScene(contour.readout.boundingRect())
        assert shown.contains(box), (x, y, box, shown)  # not cut by the map's edge
    # The mouse leaves the widget altogether (no move inside the scene says so): the read-out goes, as does the hover.
    QtWidgets.QApplication.sendEvent(contour, QtCore.QEvent(QtCore.QEvent.Type.Leave))
    assert not contour.readout.isVisible() and app.session.hover is None


def test_gl_pixels_change_with_the_expression(win, qtbot):
    window, app = win
    type_formula(qtbot, window, "x^2 + y^2")
    wait_for_text(qtbot, app, "x^2 + y^2")
    qtbot.wait(50)
    bowl = window.surface.render_image(320, 240)
    type_formula(qtbot, window, "sin(3x) cos(3y)")
    wait_for_text(qtbot, app, "sin(3x) cos(3y)")
    qtbot.wait(50)
    waves = window.surface.render_image(320, 240)
    assert bowl.shape == (240, 320, 4)
    coloured = lambda img: np.mean(np.ptp(img[..., :3].astype(int), axis=-1) > 40)  # noqa: E731
    assert coloured(bowl) > 0.05 and coloured(waves) > 0.05, "the surface was not drawn"
    assert np.mean(np.any(bowl[..., :3] != waves[..., :3], axis=-1)) > 0.05


def test_burst_of_edits_shows_the_last_and_never_stalls(win, qtbot):
    window, app = win
    gaps = []
    last = [time.perf_counter()]

    def probe():
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    timer = QtCore.QTimer(window)
    timer.timeout.connect(probe)
    timer.start(10)
    for k in range(200):
        window.editor.expressionEdited.emit(f"x^2 + {k}*y")
        QtWidgets.QApplication.processEvents()
        qtbot.wait(2)
    wait_for_text(qtbot, app, "x^2 + 199*y")
    timer.stop()
    xs, ys = app.session.grid["coords"]
    np.testing.assert_allclose(window.contour.image.image, grid_of(xs, ys, lambda X, Y: X**2 + 199 * Y), rtol=1e-5)
    # Only a real freeze fails here; how long an edit takes is the benchmark's figure (calcviz.bench gui).
    assert max(gaps) < 2.0, f"event loop froze for {max(gaps) * 1e3:.0f} ms"


def test_window_screenshot_is_not_blank(win, qtbot, tmp_path):
    window, _ = win
    path = tmp_path / "window.png"
    assert window.snapshot().save(str(path))
    from PyQt6.QtGui import QImage
    image = QImage(str(path))
    assert image.width() == window.width() and image.height() == window.height()


def test_refit_evaluates_the_zoomed_box(win, qtbot):
    window, app = win
    type_formula(qtbot, window, "x^2 + y^2")
    wait_for_text(qtbot, app, "x^2 + y^2")
    window.actions["equal_aspect"].trigger()  # the map fills its panel: the view is exactly the range set below
    window.contour.plot.vb.setRange(xRange=(0.0, 1.0), yRange=(-0.5, 0.5), padding=0)
    qtbot.mouseClick(window.domain.refit_button, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: app.idle and app.session.grid["coords"][0][0] == pytest.approx(0.0, abs=1e-6)
                    and app.session.grid["coords"][0][-1] == pytest.approx(1.0, abs=1e-6), timeout=TIMEOUT)
    assert window.domain.domain()["x"] == (pytest.approx(0.0, abs=1e-6), pytest.approx(1.0, abs=1e-6))
    ys = app.session.grid["coords"][1]
    assert (ys[0], ys[-1]) == (pytest.approx(-0.5, abs=1e-6), pytest.approx(0.5, abs=1e-6))
    window.actions["undo"].trigger()
    qtbot.waitUntil(lambda: app.idle and app.session.grid["coords"][0][0] != pytest.approx(0.0),
                    timeout=TIMEOUT)
    window.actions["equal_aspect"].trigger()


def test_three_variables_pick_axes_others_are_sliders(win, qtbot):
    window, app = win
    text = "a = (w+x+y+z)^2; b = (w+x-y-z)^2; u = (a+b)^2; v = (a-b)^2; f = (u+v)^2"
    type_formula(qtbot, window, text)
    wait_for_text(qtbot, app, text)
    assert set(window.parameters.rows) == {"w", "z"}
    window.domain.axesChanged.emit(("w", "z"))  # as picking w and z in the axis boxes does
    qtbot.waitUntil(lambda: app.idle and app.session.grid["axes"] == ["w", "z"], timeout=TIMEOUT)
    assert set(window.parameters.rows) == {"x", "y"}
    xs, ys = app.session.grid["coords"]
    px, py = app.session.document.params["x"].value, app.session.document.params["y"].value

    def chain(W, Z):
        a, b = (W + px + py + Z) ** 2, (W + px - py - Z) ** 2
        return ((a + b) ** 2 + (a - b) ** 2) ** 2
    np.testing.assert_allclose(window.contour.image.image, grid_of(xs, ys, chain), rtol=1e-4, atol=1e-3)


def test_huge_values_do_not_flatten_the_colours(win, qtbot):
    window, app = win
    type_formula(qtbot, window, "exp(50x) + y")
    qtbot.waitUntil(lambda: app.session.document.text == "exp(50x) + y" and app.idle, timeout=TIMEOUT)
    assert window.actions["log_scale"].isChecked()
    xs, ys = app.session.grid["coords"]
    with np.errstate(over="ignore"):
        exact = grid_of(xs, ys, lambda X, Y: np.exp(50 * X) + Y).astype(np.float32)  # overflows like the engine
    shown = window.contour.image.image
    finite = np.isfinite(exact)
    np.testing.assert_allclose(shown[finite], (np.sign(exact) * np.log10(1 + np.abs(exact.astype(float))))[finite],
                               rtol=1e-4, atol=1e-4)
    lo, hi = window.contour.image.getLevels()
    assert hi < 40 and lo < 0, "the colour scale is not logarithmic"
    assert "log scale" in window.message.full_text() and "beyond float32's ±3.4e38" in window.message.full_text()
    window.actions["log_scale"].trigger()  # the user switches back to linear
    assert window.contour.image.getLevels()[1] > 1e30


def test_dragging_the_direction_handle_turns_the_direction(win, qtbot):
    window, app = win
    type_formula(qtbot, window, "x^2 + y^2")
    wait_for_text(qtbot, app, "x^2 + y^2")
    app.session.select(1.0, 0.5)
    qtbot.waitUntil(lambda: app.session.point is not None and app.session.point["point"]["x"] == 1.0,
                    timeout=TIMEOUT)
    handle = window.contour.direction_handle
    assert handle.isVisible()
    handle.setPos(1.0, 1.5)  # what a drag to straight above the point does (TargetItem.mouseDragEvent)
    assert window.inspector.angle() == pytest.approx(90.0)
    assert app.session.settings.view.angle == pytest.approx(90.0)
    # D_v f for v = (0, 1) is df/dy = 2y = 1 at (1, 0.5); the largest is |grad f| = sqrt(5) along (2, 1).
    shown = window.inspector.shown()["directional"]
    assert (shown["direction"], shown["value"]) == ("(0, 1)", "1")
    assert shown["max"] == (pytest.approx(np.degrees(np.arctan2(1, 2))), "2.23607")
    _, ys = window.contour.direction_arrow.getData()
    assert ys[1] > 0.5  # the arrow now points up


def test_dense_grids_draw_a_decimated_mesh_but_a_full_contour_map(win, qtbot):
    from calcviz.views.surface import MESH_MAX_SIDE
    window, app = win
    type_formula(qtbot, window, "x^2 + y^2")
    wait_for_text(qtbot, app, "x^2 + y^2")
    window.domain.domainChanged.emit({"x": (-2.0, 2.0), "y": (-2.0, 2.0), "n": 701})
    qtbot.waitUntil(lambda: app.session.grid is not None and app.session.grid["value"].shape == (701, 701)
                    and app.idle, timeout=TIMEOUT)
    assert window.contour.image.image.shape == (701, 701)
    z = window.surface.surface._z
    assert max(z.shape) <= MESH_MAX_SIDE + 1
    corners = app.session.grid["value"][[0, 0, -1, -1], [0, -1, 0, -1]]
    _, _, expected = window.surface.to_scene(0, 0, corners)
    np.testing.assert_allclose(z[[0, 0, -1, -1], [0, -1, 0, -1]], expected, rtol=1e-6)  # the box's edges kept
    window.actions["undo"].trigger()
    qtbot.waitUntil(lambda: app.idle and app.session.grid["value"].shape == (200, 200),
                    timeout=TIMEOUT)


def test_a_chain_of_forty_definitions_keeps_the_window_its_size(win, qtbot):
    """It used to push the plots off a 1000 px screen and grow the window to 1400 x 23941."""
    window, app = win
    size = window.size()
    text = "a0 = y\n" + "\n".join(f"a{k} = a{k - 1}/2 + x" for k in range(1, 41))
    app.session.set_text(text)
    qtbot.waitUntil(lambda: app.idle and app.session.grid is not None, timeout=TIMEOUT)
    qtbot.wait(100)
    assert window.size() == size
    assert window.minimumSizeHint().height() < 900
    assert window.contour.height() > 200 and window.surface.height() > 200


def screen_extent(window, xs, ys) -> tuple[float, float]:
    """Width and height in screen pixels of data points on the contour map."""
    vb = window.contour.plot.vb
    points = [vb.mapViewToScene(QtCore.QPointF(float(x), float(y))) for x, y in zip(xs, ys)]
    px, py = [p.x() for p in points], [p.y() for p in points]
    return max(px) - min(px), max(py) - min(py)


def test_a_circle_is_round_on_the_map(win, qtbot):
    """The chapter is about the gradient being perpendicular to level sets: the map keeps x and y to scale."""
    window, app = win
    app.start("x^2 + y^2", x_range=(-2.0, 2.0), y_range=(-2.0, 2.0))
    qtbot.waitUntil(lambda: app.idle and app.session.grid is not None, timeout=TIMEOUT)
    qtbot.wait(50)
    assert window.contour.width() / window.contour.height() > 1.05 or window.contour.height() / window.contour.width() > 1.05
    xs, ys = window.contour.isolines.getData()
    r = np.hypot(xs, ys)
    level = np.median(r)  # one iso-line: the circle of that radius
    keep = np.abs(r - level) < 0.02
    w, h = screen_extent(window, xs[keep], ys[keep])
    assert abs(w / h - 1) < 0.02, f"the circle is {w:.0f} x {h:.0f} px on screen"
    window.actions["equal_aspect"].trigger()  # fill the panel instead
    qtbot.wait(50)
    w, h = screen_extent(window, xs[keep], ys[keep])
    assert abs(w / h - 1) > 0.05
    window.actions["equal_aspect"].trigger()


def test_the_wheel_zooms_the_box_and_the_function_is_computed_there(win, qtbot):
    window, app = win
    app.start("x^2 + y^2", x_range=(-2.0, 2.0), y_range=(-2.0, 2.0))
    qtbot.waitUntil(lambda: app.idle and app.session.grid is not None, timeout=TIMEOUT)
    contour = window.contour
    centre = contour.mapFromScene(contour.plot.vb.mapViewToScene(QtCore.QPointF(1.0, 1.0)))
    for _ in range(3):  # three notches in, around (1, 1)
        event = QtGui.QWheelEvent(QtCore.QPointF(centre), QtCore.QPointF(contour.mapToGlobal(centre)),
                                  QtCore.QPoint(0, 0), QtCore.QPoint(0, 120), QtCore.Qt.MouseButton.NoButton,
                                  QtCore.Qt.KeyboardModifier.NoModifier, QtCore.Qt.ScrollPhase.NoScrollPhase, False)
        QtWidgets.QApplication.sendEvent(contour.viewport(), event)
    qtbot.waitUntil(lambda: app.session.document.x_range != (-2.0, 2.0), timeout=5000)
    (x0, x1), (y0, y1) = app.session.document.x_range, app.session.document.y_range
    assert x1 - x0 < 4.0 and y1 - y0 < 4.0           # zoomed in...
    assert x0 < 1.0 < x1 and y0 < 1.0 < y1             # ...around the mouse
    assert x0 == round(x0, 6) and x1 == round(x1, 6)   # to round numbers
    qtbot.waitUntil(lambda: app.idle and app.session.grid is not None, timeout=TIMEOUT)
    xs, ys = app.session.grid["coords"]
    assert (xs[0], xs[-1], ys[0], ys[-1]) == (x0, x1, y0, y1)  # the function was computed on the new box
    app.session.undo()  # the burst of notches is one undo step
    assert app.session.document.x_range == (-2.0, 2.0)


def test_a_point_typed_in_the_inspector_is_the_chapters_exact_point(win, qtbot):
    window, app = win
    app.start("log(exp(x) + exp(y))")
    qtbot.waitUntil(lambda: app.idle and app.session.grid is not None, timeout=TIMEOUT)
    x_field, y_field = window.inspector.entry_fields
    x_field.setText("0")
    y_field.setFocus()
    y_field.selectAll()
    qtbot.keyClicks(y_field, "log(2)")
    qtbot.keyClick(y_field, QtCore.Qt.Key.Key_Return)
    assert app.session.selected == (0.0, float(np.log(2)))
    qtbot.waitUntil(lambda: app.idle and app.session.point is not None, timeout=TIMEOUT)
    assert app.session.point["value"] == pytest.approx(np.log(3), rel=1e-12)  # log 3 = 1.0986123
    assert window.inspector.shown()["value"] == "1.09861"
    assert y_field.text() == "log(2)"  # the formula typed stays
    y_field.selectAll()
    qtbot.keyClicks(y_field, "log(y)")
    qtbot.keyClick(y_field, QtCore.Qt.Key.Key_Return)
    assert "'y' has no value here" in window.inspector.entry_error.text() and window.inspector.entry_error.isVisible()
    assert app.session.selected == (0.0, float(np.log(2)))


def test_round_off_is_shown_as_zero_and_kept_in_the_tooltip(win, qtbot):
    """log(e^x + e^y) has a rank-one Hessian: one eigenvalue is exactly 0, computed as about 1e-17."""
    window, app = win
    app.start("log(exp(x) + exp(y))")
    qtbot.waitUntil(lambda: app.idle and app.session.grid is not None, timeout=TIMEOUT)
    app.session.select(0.0, float(np.log(2)))
    qtbot.waitUntil(lambda: app.idle and app.session.point is not None, timeout=TIMEOUT)
    small, large = sorted(app.session.point["eigenvalues"], key=abs)
    assert abs(small) < 1e-14 and large == pytest.approx(4 / 9)  # 2 p (1 - p) with p = 1/3
    assert window.inspector.shown()["eigenvalues"] == "0, 0.444444"
    assert repr(small)[:4] in window.inspector.eigen_label.toolTip() or small == 0.0


def test_right_click_menus_are_calcvizs_own(win, qtbot, monkeypatch):
    """pyqtgraph's raw menus (axis settings, mouse modes, their own Export) are replaced by the view's actions."""
    window, app = win
    app.start("x^2 + y^2")
    qtbot.waitUntil(lambda: app.idle and app.session.grid is not None, timeout=TIMEOUT)
    assert not window.contour.plot.vb.menuEnabled() and not window.loss.value_plot.vb.menuEnabled()
    menu = window.contour.context_menu((0.5, -0.5))
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts[:2] == ["Select this point", "Start gradient descent here"]
    assert "Equal &aspect (1:1)" in texts and texts[-1] == "Export this map…"
    assert not any("Mouse Mode" in t or "View All" in t for t in texts)
    menu.actions()[0].trigger()
    assert app.session.selected == (0.5, -0.5)
    asked = []
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *args: asked.append(args) or ("", ""))
    [a for a in menu.actions() if a.text() == "Export this map…"][0].trigger()
    assert asked and asked[0][-1] == "Contour map (*.png *.svg)"  # File > Export, on the map's choice
    assert "Reset 3D view" in [a.text().replace("&", "") for a in window.surface.context_menu().actions()]
    assert "Logarithmic f axis" in [a.text() for a in window.loss.context_menu().actions()]


def test_on_a_laptop_the_chapters_chain_shows_whole_ranges_and_a_readable_graph(win, qtbot):
    """Seen at 1366x768 on the chapter's chain (f of x, y, w, z): the axis choices' captions widened the
    Domain panel past its dock, and the upper ends of both ranges were cut off out of reach; the chain
    rule's graph, fitted into a third of the window's height, had text 5 px high."""
    window, app = win
    window.docks["chain"].hide()
    try:
        window.resize(1366, 768)
        qtbot.wait(100)
        window._arrange_docks()
        qtbot.wait(100)
        app.start("a = w+x+y+z; b = w+x-y-z; f = a^2 + b^2", x_range=(-2.0, 2.0), y_range=(-2.0, 2.0))
        qtbot.waitUntil(lambda: app.idle and app.session.grid is not None and "w" in window.chain._boxes,
                        timeout=TIMEOUT)
        qtbot.wait(200)
        graph = window.chain
        box = graph.node_item("w")
        assert graph.canvas.zoom() * box.line_height >= 9.0  # (pixels between lines of a box's text)
        assert graph.canvas.mapToScene(graph.canvas.viewport().rect()).boundingRect().contains(
            graph.canvas.scene().itemsBoundingRect())  # ...and the whole graph in view
        domain = window.domain
        assert domain.horizontal_combo.isVisible() and domain.vertical_combo.isVisible()
        viewport = domain.parentWidget()  # (the dock's scroll area shows the panel through this)
        for box in (domain.x_min, domain.x_max, domain.y_min, domain.y_max, domain.vertical_combo):
            corner = box.mapTo(viewport, QtCore.QPoint(box.width(), box.height()))
            assert box.width() >= box.minimumSizeHint().width() and corner.x() <= viewport.width(), box.toolTip()
    finally:
        window.resize(1400, 900)
        qtbot.wait(50)


def test_the_window_fits_a_laptop_screen_with_the_plots_over_half_of_it(win, qtbot):
    window, app = win
    app.start("(x^2+y-11)^2 + (x+y^2-7)^2", x_range=(-5.0, 5.0), y_range=(-5.0, 5.0))
    qtbot.waitUntil(lambda: app.idle and app.session.grid is not None, timeout=TIMEOUT)
    shown = {key: window.docks[key].isVisible() for key in ("loss", "chain")}
    for key in shown:  # a first window on a formula: no race, no chain, so neither is on screen
        window.docks[key].hide()
    try:
        window.resize(1366, 768)
        qtbot.wait(100)
        window._arrange_docks()
        qtbot.wait(100)
        hint = window.minimumSizeHint()
        assert hint.width() <= 1366 and hint.height() <= 768
        assert window.size() == QtCore.QSize(1366, 768)
        plots = window.surface.width() * window.surface.height() + window.contour.width() * window.contour.height()
        assert plots / (1366 * 768) >= 0.5
        message = window.message
        for text in ("Gradient descent: diverged at step 4: lower the learning rate below 2/lambda_max = 0.0009559",
                     "The last session could not be reopened (document.params.a.value must lie within ±1e+09 "
                     "(got 1e+308)); it was kept as /home/student/.local/share/calcviz/calcviz/last-session-"
                     "unreadable-20261205-231501.json, and the window opened on the default example instead"):
            window.show_status(text, error=True)
            qtbot.wait(50)  # whole when it fits; else cut with "…" and whole in the tooltip, never clipped
            assert message.fontMetrics().horizontalAdvance(message.text()) <= message.width()
            assert message.text() == text or (message.text().endswith("…") and message.toolTip() == text)
        assert message.text().endswith("…")  # the second is longer than a laptop's status bar
    finally:
        window.resize(1400, 900)
        for key, visible in shown.items():
            window.docks[key].setVisible(visible)
        qtbot.wait(50)
