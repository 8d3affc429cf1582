"""Gradient descent in the window, driven like a user: Shift+click a start, Step, Run/Pause, Reset."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PyQt6 import QtCore

from ui import TIMEOUT, open_window

ROSENBROCK = "(1-x)^2 + 100(y-x^2)^2"
HIMMELBLAU = "(x^2+y-11)^2 + (x+y^2-7)^2"
HIMMELBLAU_MINIMA = [(3.0, 2.0), (-2.805118, 3.131313), (-3.779310, -3.283186), (3.584428, -1.848127)]


@pytest.fixture(scope="module")
def app_window(qapp):
    yield from open_window(ROSENBROCK, x_range=(-2.0, 2.0), y_range=(-1.0, 3.0))


@pytest.fixture
def win(app_window, qtbot):
    window, app = app_window
    qtbot.waitUntil(lambda: app.session.grid is not None, timeout=TIMEOUT)
    yield window, app
    app.descent.set_running(False)


def on_formula(qtbot, app, text, x_range, y_range):
    app.start(text, x_range=x_range, y_range=y_range)
    qtbot.waitUntil(lambda: app.session.document.text == text and app.idle
                    and app.session.grid is not None and app.session.grid["axes"] == ["x", "y"], timeout=TIMEOUT)


def shift_click(qtbot, window, x, y):
    contour = window.contour
    pos = contour.mapFromScene(contour.plot.vb.mapViewToScene(QtCore.QPointF(x, y)))
    qtbot.mouseClick(contour.viewport(), QtCore.Qt.MouseButton.LeftButton,
                     QtCore.Qt.KeyboardModifier.ShiftModifier, pos)


def configure(window, **setup):
    panel = window.descent
    panel.set_setup({**panel.setup(), **setup})
    panel.setupChanged.emit(panel.setup())


def wait_for_race(qtbot, app):
    qtbot.waitUntil(lambda: app.session.race is not None and not app.descent.pending, timeout=TIMEOUT)


def cli_descend(*args):
    out = subprocess.run([sys.executable, "-m", "calcviz", "descend", *args, "--json", "--device", "cpu"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_click_a_start_and_step_three_times_matches_the_cli(win, qtbot):
    window, app = win
    on_formula(qtbot, app, ROSENBROCK, (-2.0, 2.0), (-1.0, 3.0))
    configure(window, optimizers=["gd"], lr=0.001, max_steps=1000, tol=1e-8, steps_per_click=1,
              start_mode="shared")
    shift_click(qtbot, window, -1.5, 2.0)
    wait_for_race(qtbot, app)
    start = app.session.settings.descent.starts[0]
    assert start["x"] == pytest.approx(-1.5, abs=0.03) and start["y"] == pytest.approx(2.0, abs=0.03)
    window.activateWindow()  # Space is a window shortcut: it needs the active window
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    window.contour.setFocus()
    for _ in range(3):
        qtbot.keyClick(window.contour, QtCore.Qt.Key.Key_Space)
    (label,) = window.contour.path_labels()
    x, y = window.contour.path_data(label)
    assert len(x) == 4

    cli = cli_descend(ROSENBROCK, "--from", f"x={start['x']!r}", f"y={start['y']!r}", "--optimizer", "gd",
                      "--lr", "0.001", "--steps", "1000", "--tol", "1e-8")
    expected = np.array([[p["point"]["x"], p["point"]["y"]] for p in cli["runs"][0]["path"][:4]])
    np.testing.assert_allclose(np.column_stack([x, y]), expected, rtol=1e-12, atol=1e-12)
    # The same path lifted onto the surface, and the loss curve holds the four values.
    xs, ys, zs = window.surface.to_scene(expected[:, 0], expected[:, 1],
                                         [p["value"] for p in cli["runs"][0]["path"][:4]])
    pos = window.surface.path_positions(label)
    np.testing.assert_allclose(pos[:, :2], np.column_stack([xs, ys]), atol=1e-9)
    value_item, _ = window.loss.curves()[label]
    np.testing.assert_allclose(value_item.getData()[1], [p["value"] for p in cli["runs"][0]["path"][:4]], rtol=1e-12)


def test_run_then_pause_stops_the_animation(win, qtbot):
    window, app = win
    on_formula(qtbot, app, ROSENBROCK, (-2.0, 2.0), (-1.0, 3.0))
    configure(window, optimizers=["gd", "momentum", "adam"], lr=0.001, max_steps=5000, speed=60,
              start_mode="shared")
    app.session.set_starts([{"x": -1.5, "y": 2.0}])
    wait_for_race(qtbot, app)
    race = app.session.race
    qtbot.mouseClick(window.descent.run_button, QtCore.Qt.MouseButton.LeftButton)
    assert app.descent.timer.isActive()
    qtbot.waitUntil(lambda: race.shown >= 5, timeout=5000)
    qtbot.mouseClick(window.descent.run_button, QtCore.Qt.MouseButton.LeftButton)
    paused_at = race.shown
    assert not app.descent.timer.isActive()
    qtbot.wait(400)
    assert race.shown == paused_at and 5 <= paused_at < race.length
    # Ctrl+R resumes; Reset goes back to the start points.
    window.actions["descent_run"].trigger()
    qtbot.waitUntil(lambda: race.shown > paused_at, timeout=5000)
    window.actions["descent_reset"].trigger()
    assert race.shown == 0 and not app.descent.timer.isActive()
    for label in window.contour.path_labels():
        assert len(window.contour.path_data(label)[0]) == 1


def test_a_diverging_run_says_why_where_the_user_looks(win, qtbot):
    window, app = win
    on_formula(qtbot, app, ROSENBROCK, (-2.0, 2.0), (-1.0, 3.0))
    configure(window, optimizers=["gd"], lr=0.01, max_steps=1000, steps_per_click=20, start_mode="shared")
    app.session.set_starts([{"x": -1.5, "y": 2.0}])
    wait_for_race(qtbot, app)
    qtbot.mouseClick(window.descent.step_button, QtCore.Qt.MouseButton.LeftButton)
    (run,) = app.session.race.runs
    assert run["status"] == "diverged"
    message = window.descent.message_text()
    assert "diverged at step" in message and "2/lambda_max = 0.0009559" in message
    assert "diverged at step" in window.message.full_text()
    # The path stays drawn up to where it leaves the box (a NaN between pieces when it comes back).
    (label,) = window.contour.path_labels()
    x, y = window.contour.path_data(label)
    drawn = np.isfinite(x)
    assert drawn.sum() >= 2 and x[0] == -1.5
    assert np.all((np.abs(x[drawn]) <= 2) & (y[drawn] >= -1) & (y[drawn] <= 3))


def test_explain_this_step_draws_the_vectors_and_gives_their_numbers(win, qtbot):
    window, app = win
    on_formula(qtbot, app, "x^2 + 3y^2", (-2.0, 2.0), (-2.0, 2.0))
    configure(window, optimizers=["momentum"], lr=0.05, max_steps=200, steps_per_click=2, start_mode="shared")
    app.session.set_starts([{"x": 1.5, "y": 1.0}])
    wait_for_race(qtbot, app)
    window.actions["explain_step"].setChecked(True)
    qtbot.mouseClick(window.descent.step_button, QtCore.Qt.MouseButton.LeftButton)
    # Momentum 0.9, lr 0.05 on x^2 + 3y^2 from (1.5, 1): v1 = -lr g0, x1 = x0 + v1; v2 = 0.9 v1 - lr g1; ...
    x = np.array([1.5, 1.0])
    v = np.zeros(2)
    for _ in range(2):
        g = np.array([2 * x[0], 6 * x[1]])
        v = 0.9 * v - 0.05 * g
        x = x + v
    g = np.array([2 * x[0], 6 * x[1]])
    v_next = 0.9 * v - 0.05 * g
    shown = window.inspector.shown_step()
    assert shown["step"] == "2" and shown["run"] == "Momentum"
    assert [float(t) for t in shown["point"].strip("()").split(",")] == pytest.approx(x, rel=1e-5)
    assert [float(t) for t in shown["update"].strip("()").split(",")] == pytest.approx(v_next, rel=1e-5)
    assert set(window.contour.explain_arrows) == {"−∇f", "velocity", "update"}
    ax, ay = window.contour.explain_arrows["−∇f"].getData()
    assert (ax[0], ay[0]) == (pytest.approx(x[0]), pytest.approx(x[1]))
    direction = np.array([ax[1] - ax[0], ay[1] - ay[0]])
    cosine = direction @ -g / np.linalg.norm(direction) / np.linalg.norm(g)
    assert cosine == pytest.approx(1.0, abs=1e-6)
    # The numbers beside the arrows, and the step's facts in the map's corner; no two labels overlap.
    texts = window.contour.explain_texts()
    assert f"−∇f = ({-g[0]:.3g}, {-g[1]:.3g})" in texts
    assert any(t.startswith("update = (") for t in texts) and any(t.startswith("velocity = (") for t in texts)
    assert any("Momentum step 2" in t and "learning rate 0.05" in t for t in texts)
    boxes = [label.sceneBoundingRect() for label in window.contour.explain_labels.values() if label.isVisible()]
    assert all(not a.intersects(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    window.actions["explain_step"].setChecked(False)
    assert window.inspector.shown_step() is None and not window.contour.explain_arrows


def test_basins_of_attraction_colour_the_map_by_minimum(win, qtbot):
    window, app = win
    on_formula(qtbot, app, HIMMELBLAU, (-5.0, 5.0), (-5.0, 5.0))
    window.domain.set_domain((-5.0, 5.0), (-5.0, 5.0), 40)
    app.session.set_box((-5.0, 5.0), (-5.0, 5.0), 40)
    qtbot.waitUntil(lambda: app.session.document.n == 40 and app.idle, timeout=TIMEOUT)
    configure(window, optimizers=["gd"], lr=0.01, max_steps=1000, tol=1e-6)
    window.actions["basins"].setChecked(True)
    qtbot.waitUntil(lambda: app.session.basins is not None, timeout=TIMEOUT)
    result = app.session.basins
    minima = [(m["point"]["x"], m["point"]["y"]) for m in result["minima"]]
    np.testing.assert_allclose(sorted(minima), sorted(HIMMELBLAU_MINIMA), atol=1e-3)
    image = window.contour.basins.image
    assert window.contour.basins.isVisible() and image.shape[:2] == (40, 40)
    assert len({tuple(c) for c in image.reshape(-1, 4)}) >= 4
    window.actions["basins"].setChecked(False)
    assert not window.contour.basins.isVisible()


def test_descent_on_a_curve_of_one_variable(win, qtbot):
    window, app = win
    app.start("3x^4 - 4x^3 - 12x^2", x_range=(-2.0, 3.0))
    qtbot.waitUntil(lambda: app.session.grid is not None and app.session.grid["axes"] == ["x"]
                    and app.idle, timeout=TIMEOUT)
    configure(window, optimizers=["gd"], lr=0.01, max_steps=1000, tol=1e-8, steps_per_click=1000,
              start_mode="shared")
    app.session.set_starts([{"x": 3.0}])
    wait_for_race(qtbot, app)
    qtbot.mouseClick(window.descent.step_button, QtCore.Qt.MouseButton.LeftButton)
    (run,) = app.session.race.runs
    assert run["status"] == "converged"
    x, f = window.curve.path_data("Gradient descent")
    # f'(x) = 12x(x-2)(x+1): from x = 3 descent slides into the global minimum x = 2, f = -32.
    assert x[0] == 3.0 and x[-1] == pytest.approx(2.0, abs=1e-8) and f[-1] == pytest.approx(-32.0, abs=1e-9)
    assert x[1] == pytest.approx(3.0 - 0.01 * 12 * 3 * 1 * 4)  # one step: x - lr f'(x), f'(3) = 144
    assert window.contour.path_labels() == []
    # The run table names the critical point the run reached (from the side panel's search).
    qtbot.waitUntil(lambda: app.session.critical is not None, timeout=TIMEOUT)
    table = window.descent.table
    assert table.item(0, 4).text() == "✓ converged"
    assert table.item(0, 5).text() == "global min (2)"


def test_one_start_each_typed_and_dragged(win, qtbot):
    """One start per optimizer: typed into the fields for the chosen optimizer, then one dragged on the map."""
    from ui import type_into

    window, app = win
    on_formula(qtbot, app, "x^2 + 3y^2", (-2.0, 2.0), (-2.0, 2.0))
    configure(window, optimizers=["gd", "adam"], lr=0.05, max_steps=100, start_mode="each")
    app.session.set_starts([{"x": 1.0, "y": 1.0}])
    wait_for_race(qtbot, app)
    panel = window.descent
    panel.start_optimizer_combo.setCurrentIndex(panel.start_optimizer_combo.findData("adam"))
    type_into(qtbot, panel.start_fields["x"], "-1.5")
    qtbot.waitUntil(lambda: [s["x"] for s in app.session.settings.descent.starts] == [1.0, -1.5]
                    and not app.descent.pending, timeout=TIMEOUT)
    race = app.session.race
    assert [r["start"] for r in race.runs] == [{"x": 1.0, "y": 1.0}, {"x": -1.5, "y": 1.0}]
    # Two start markers in the optimizers' colours; dragging Adam's moves only Adam's run.
    assert window.contour.start_positions() == [(1.0, 1.0), (-1.5, 1.0)]
    marker = window.contour._starts[1]
    marker.setPos(0.5, -0.5)
    marker.sigPositionChangeFinished.emit(marker)  # what the end of a drag emits
    qtbot.waitUntil(lambda: app.session.race is not None and not app.descent.pending
                    and app.session.race.runs[1]["start"] == {"x": 0.5, "y": -0.5}, timeout=TIMEOUT)
    assert app.session.race.runs[0]["start"] == {"x": 1.0, "y": 1.0}
    configure(window, start_mode="shared")
