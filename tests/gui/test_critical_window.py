"""Critical points and local models in the window (real compute process, real widgets)."""
from __future__ import annotations

import numpy as np
import pytest
from PyQt6 import QtCore

from ui import TIMEOUT, open_window  # noqa: E402

HIMMELBLAU = "(x^2 + y - 11)^2 + (x + y^2 - 7)^2"
# REFERENCE.md: Himmelblau's nine critical points in [-5, 5]^2.
HIMMELBLAU_POINTS = [("min", 3, 2), ("min", -2.805118, 3.131313), ("min", -3.779310, -3.283186),
                     ("min", 3.584428, -1.848127), ("max", -0.270845, -0.923039), ("saddle", 3.385154, 0.073852),
                     ("saddle", 0.086678, 2.884255), ("saddle", -3.073026, -0.081353),
                     ("saddle", -0.127961, -1.953715)]


@pytest.fixture(scope="module")
def app_window(qapp):
    yield from open_window(HIMMELBLAU, x_range=(-5, 5), y_range=(-5, 5))


@pytest.fixture
def win(app_window, qtbot):
    window, app = app_window
    qtbot.waitUntil(lambda: app.session.critical is not None and app.idle, timeout=TIMEOUT)
    return window, app


def test_himmelblau_fills_the_panel_with_nine_points(win):
    window, app = win
    panel = window.critical
    assert panel.row_count() == 9
    found = sorted(panel.point_at(r) for r in range(9))
    for (kind, x, y) in HIMMELBLAU_POINTS:
        match = [p for p in found if abs(p[0] - x) < 1e-5 and abs(p[1] - y) < 1e-5]
        assert match, f"{kind} at ({x}, {y}) missing"
    kinds = sorted(panel.table.item(r, 0).text().split(" ·")[0] for r in range(9))
    assert kinds == sorted(["minimum"] * 4 + ["maximum"] + ["saddle"] * 4)
    assert "9 critical points" in panel.summary.text()
    # Himmelblau's four minima are all 0: four global-minimum stars among the nine markers.
    symbols = [spot.symbol() for spot in window.contour.critical.points()]
    assert len(symbols) == 9 and symbols.count("star") == 4
    assert len(window.surface.critical.pos) == 9


def test_clicking_a_row_selects_that_point(win, qtbot):
    window, app = win
    table = window.critical.table
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text().startswith("maximum"))
    rect = table.visualItemRect(table.item(row, 1))
    qtbot.mouseClick(table.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: app.session.point is not None
                    and app.session.point["point"]["x"] == pytest.approx(-0.270845, abs=1e-5), timeout=TIMEOUT)
    mx, my = window.contour.marker.getData()
    assert (mx[0], my[0]) == (pytest.approx(-0.270845, abs=1e-5), pytest.approx(-0.923039, abs=1e-5))
    assert app.session.point["value"] == pytest.approx(181.616522, abs=1e-5)
    assert float(window.inspector.shown()["gradient_norm"]) < 1e-5


def test_tangent_plane_and_quadratic_model_drawn_at_the_point(win, qtbot):
    window, app = win
    app.session.select(1.0, 1.0)
    qtbot.waitUntil(lambda: app.session.point is not None and app.session.point["point"]["x"] == 1.0,
                    timeout=TIMEOUT)
    window.actions["tangent_plane"].setChecked(True)
    window.actions["quadratic_model"].setChecked(True)
    assert window.surface.plane.visible() and window.surface.quadric.visible()
    # Himmelblau at (1, 1): f = 106, grad = (-46, -38); the plane's centre vertex holds f(p) (in scene units).
    plane_z = window.surface.plane._z
    _, _, centre = window.surface.to_scene(1.0, 1.0, 106.0)
    assert plane_z.shape == (24, 24)
    np.testing.assert_allclose(plane_z[11:13, 11:13].mean(), centre, rtol=1e-9)  # a plane: symmetric mean = f(p)
    qtbot.waitUntil(lambda: window.approximation.table.item(0, 0) is not None, timeout=TIMEOUT)
    window.actions["tangent_plane"].setChecked(False)
    assert not window.surface.plane.visible()


def test_one_variable_critical_points_marked_on_the_curve(win, qtbot):
    window, app = win
    text = "3x^4 - 4x^3 - 12x^2"  # the seed's quartic: min -1 (f -5), max 0 (f 0), global min 2 (f -32)
    app.start(text, x_range=(-2, 3))
    qtbot.waitUntil(lambda: app.session.critical is not None and app.session.critical["axes"] == ["x"]
                    and app.idle, timeout=TIMEOUT)
    spots = sorted((s.pos().x(), s.pos().y(), s.symbol()) for s in window.curve.critical.points())
    assert [(round(x, 6), round(y, 6)) for x, y, _ in spots] == [(-1, -5), (0, 0), (2, -32)]
    assert [symbol for *_, symbol in spots] == ["t", "t1", "star"]
    assert window.critical.row_count() == 3
    app.start(HIMMELBLAU, x_range=(-5, 5), y_range=(-5, 5))  # leave the window as the other tests expect
    qtbot.waitUntil(lambda: app.session.critical is not None and app.session.critical["axes"] == ["x", "y"]
                    and app.idle, timeout=TIMEOUT)


def test_a_degenerate_points_zero_eigenvalues_read_0_in_the_panel_and_the_inspector(win, qtbot):
    """The monkey saddle's Hessian is 0 at the origin; its polished point, picoscales away, computes
    eigenvalues of about +-1e-11. The panel and the inspector (at that point, chosen from its row) show
    the classification's 0, 0, the exact values in the tooltip; elsewhere the inspector shows the Hessian's."""
    window, app = win
    try:
        app.start("x^3 - 3x y^2", x_range=(-2, 2), y_range=(-2, 2))
        qtbot.waitUntil(lambda: app.session.critical is not None and app.session.document.text == "x^3 - 3x y^2"
                        and app.idle, timeout=TIMEOUT)
        (p,) = app.session.critical["critical_points"]
        assert p["type"] == "degenerate" and p["zero_eigenvalues"] == 2 and p["eigenvalues"] != [0.0, 0.0]
        table = window.critical.table
        eig = table.item(0, 4)
        assert table.horizontalHeaderItem(4).text() == "eigenvalues" and eig.text() == "0, 0"
        assert "Both counted as zero" in eig.toolTip() and repr(p["eigenvalues"][1])[:8] in eig.toolTip()
        qtbot.mouseClick(table.viewport(), QtCore.Qt.MouseButton.LeftButton,
                         pos=table.visualItemRect(table.item(0, 1)).center())
        qtbot.waitUntil(lambda: app.session.point is not None
                        and app.session.point["point"]["x"] == p["point"]["x"], timeout=TIMEOUT)
        shown = window.inspector.shown()
        assert shown["eigenvalues"] == "0, 0" and shown["hessian"] == [["0", "0"], ["0", "0"]]
        # Its gradient (about 1e-22) is round-off too: 0 everywhere, and no arrow in a direction it chose.
        assert shown["gradient"] == "(0, 0)" and shown["directional"]["value"] == "0"
        assert shown["point"] == "(0, 0)" and [f.text() for f in window.inspector.entry_fields[:2]] == ["0", "0"]
        assert window.contour.gradient_arrow.getData()[0] is None or len(window.contour.gradient_arrow.getData()[0]) == 0
        app.session.select(1.0, 0.5)  # Hessian [[6x, -6y], [-6y, -6x]]: eigenvalues +-6 sqrt(x^2 + y^2)
        qtbot.waitUntil(lambda: app.session.point is not None and app.session.point["point"]["x"] == 1.0,
                        timeout=TIMEOUT)
        shown = window.inspector.shown()
        assert shown["eigenvalues"] == "-6.7082, 6.7082" and shown["hessian"] == [["6", "-3"], ["-3", "-6"]]
        assert shown["gradient"] == "(2.25, -3)"  # (3x^2 - 3y^2, -6xy)
        assert len(window.contour.gradient_arrow.getData()[0]) > 0
    finally:
        app.start(HIMMELBLAU, x_range=(-5, 5), y_range=(-5, 5))  # leave the window as the other tests expect
        qtbot.waitUntil(lambda: app.idle and app.session.critical is not None
                        and len(app.session.critical["critical_points"]) == 9, timeout=TIMEOUT)


def test_a_killed_compute_process_loses_no_search(win, qtbot):
    """kill -9 of the compute process while it searches: the search is sent again to the restarted
    process and its points arrive; the panel never stays at "Searching…"."""
    import os
    import signal

    window, app = win
    client = app.bridge.client
    app.start("20 + x^2 + y^2 - 10cos(2pi x) - 10cos(2pi y)", x_range=(-5.12, 5.12), y_range=(-5.12, 5.12))
    qtbot.waitUntil(lambda: client._in_flight and client._in_flight[0][1] == "find_critical_points",
                    timeout=TIMEOUT)
    os.kill(client._process.pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: "stopped" in window.message.full_text(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: app.idle and app.session.critical is not None, timeout=3 * TIMEOUT)
    assert len(app.session.critical["critical_points"]) == 441  # Rastrigin's, whole
    assert window.critical.summary.text().startswith("441 critical points")
    app.start(HIMMELBLAU, x_range=(-5, 5), y_range=(-5, 5))  # leave the window as the other tests expect
    qtbot.waitUntil(lambda: app.idle and app.session.critical is not None, timeout=TIMEOUT)
