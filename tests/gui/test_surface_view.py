"""The 3D view drawn as a reader sees it: round ticks, labels clear of each other, the local models solid
where they touch the surface, no floor grid through it, paths kept in the box, the camera fitted.

A SurfaceView on its own (a numpy grid, no compute process) for what the view decides; the whole window
for what a user does (a new formula refits the camera). Real OpenGL pixels under Xvfb.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
from OpenGL import GL
from pyqtgraph.opengl.GLGraphicsItem import GLOptions
from PyQt6 import QtCore, QtGui

from calcviz.models import grid as gridlib
from calcviz.views.common import OPTIMIZER_COLORS, SELECTED_COLOR, TYPE_STYLE
from calcviz.views.surface import FLOOR, H, S, SurfaceView
from ui import TIMEOUT, open_window, show

pytestmark = pytest.mark.gl
SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")


def ROSENBROCK(x, y):
    return (1 - x) ** 2 + 100 * (y - x ** 2) ** 2


@pytest.fixture
def view(qtbot):
    return show(qtbot, SurfaceView(), 700, 500)


def draw(view, f, box=(-2, 2, -2, 2), n=120, log=False):
    xs, ys = np.linspace(box[0], box[1], n), np.linspace(box[2], box[3], n)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    z = f(X, Y)
    value = gridlib.symlog(z) if log else z
    limits = gridlib.display_limits(value)
    view.set_grid(xs, ys, value, limits, [], [], ("x", "y"), log=log)
    view.reset_view()
    return xs, ys, value, limits


def rgb(view) -> np.ndarray:
    """The GL view's pixels as drawn on screen (labels are painted over it separately)."""
    view.gl.update()
    image = view.gl.grabFramebuffer().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    a = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), np.uint8)
    return a.reshape(image.height(), image.bytesPerLine())[:, : 3 * image.width()].reshape(
        image.height(), image.width(), 3).astype(int)


def pixels(view, points) -> np.ndarray:
    """Scene points -> pixel coordinates in the GL view (x right, y down)."""
    from calcviz.views.surface import _mvp, _pixels
    ratio = view.gl.devicePixelRatioF()
    mvp = _mvp(view.gl, round(view.gl.width() * ratio), round(view.gl.height() * ratio))
    return _pixels(mvp, np.asarray(points, float))


def inside_polygon(shape, polygon) -> np.ndarray:
    """Mask of the pixels of an image of ``shape`` inside a convex polygon (pixel coordinates, in order)."""
    path = QtGui.QPainterPath()
    path.addPolygon(QtGui.QPolygonF([QtCore.QPointF(*p) for p in polygon]))
    image = QtGui.QImage(shape[1], shape[0], QtGui.QImage.Format.Format_Grayscale8)
    image.fill(0)
    painter = QtGui.QPainter(image)
    painter.fillPath(path, QtGui.QColor("white"))
    painter.end()
    a = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), np.uint8).reshape(image.height(), -1)
    return a[:, : shape[1]] > 128


def value(text: str) -> float:
    """A tick label's number: "2500", "-0.4", "2.0e6", "10⁴" (a power of ten with a superscript exponent)."""
    power = re.fullmatch(r"(−?)10([⁰¹²³⁴⁵⁶⁷⁸⁹]+)", text)
    if power:
        return (-1 if power[1] else 1) * 10.0 ** int(power[2].translate(SUPERSCRIPTS))
    return float(text.replace("−", "-"))


# ------------------------------------------------------------------------------------------ ticks
@pytest.mark.parametrize("f, box, expected_f", [
    (ROSENBROCK, (-2, 2, -1, 3), ["0", "500", "1000", "1500", "2000", "2500"]),  # was 2.53e-05 .. 2.51e+03
    (lambda x, y: x * np.exp(-x ** 2 - y ** 2), (-2, 2, -2, 2), ["-0.4", "-0.2", "0", "0.2", "0.4"]),
    (lambda x, y: 1e-4 * (x ** 2 + y ** 2), (-1.5, 1.5, -1.5, 1.5), None),
    (lambda x, y: 3e6 + 1e5 * x * y, (-5, 5, 0, 7), None),
])
def test_ticks_are_round_numbers_at_their_true_places(view, f, box, expected_f):
    _, _, _, (zlo, zhi) = draw(view, f, box)
    shown = view.tick_values()
    if expected_f is not None:
        assert shown["f"] == expected_f
    for axis, (lo, hi) in (("x", box[:2]), ("y", box[2:]), ("f", (zlo, zhi))):
        texts = shown[axis]
        values = np.array([value(t) for t in texts])
        assert 3 <= len(values) <= 9, (axis, texts)
        steps = np.diff(values)
        assert np.allclose(steps, steps[0], rtol=1e-9), (axis, texts)  # evenly spaced
        mantissa = steps[0] / 10.0 ** np.floor(np.log10(steps[0]))
        assert min(abs(mantissa - m) for m in (1, 2, 5)) < 1e-9, (axis, texts)  # a step of 1, 2 or 5 x 10^k
        assert np.allclose(values / steps[0], np.round(values / steps[0]), atol=1e-6), (axis, texts)  # multiples
        assert values.min() >= lo - 0.01 * (hi - lo) and values.max() <= hi + 0.01 * (hi - lo)
        assert len({t.split("e")[0].partition(".")[2].__len__() for t in texts if t != "0"}) == 1  # one format
        assert "0" in texts or not (lo < 0 < hi)  # 0 is written 0 (not -0, 0.0 or 1e-17)
        # Each label sits at its value's place along the axis (the axis' own scale).
        items = [i for i in view._ticks[axis] if i.text]
        along = {"x": 0, "y": 1, "f": 2}[axis]
        coords = np.array([i.pos[along] for i in items])
        span = (2 * S, 2 * S, H)[along]
        start = (-S, -S, 0.0)[along]
        np.testing.assert_allclose(coords, start + span * (values - lo) / (hi - lo), atol=1e-9)


def test_log_scale_ticks_are_powers_of_ten_of_f(view):
    draw(view, ROSENBROCK, (-2, 2, -1, 3), log=True)
    texts = view.tick_values()["f"]
    assert texts == ["0", "10", "100", "1000"]  # not 2.69 / 1.69 / 0.693 / -0.307
    heights = [i.pos[2] for i in view._ticks["f"] if i.text]
    zlo, zhi = view._box[4:]
    np.testing.assert_allclose(heights, H * (np.log10(1 + np.array([0, 10, 100, 1000])) - zlo) / (zhi - zlo))


# ------------------------------------------------------------------------------------------ labels
@pytest.mark.parametrize("size", [(700, 500), (330, 290), (900, 420)])
@pytest.mark.parametrize("f, box", [(ROSENBROCK, (-2, 2, -1, 3)),
                                    (lambda x, y: x * np.exp(-x ** 2 - y ** 2), (-2, 2, -2, 2)),
                                    (lambda x, y: 1e-4 * x * y, (-0.001, 0.001, -20, 20))])
def test_f_labels_clear_of_the_x_and_y_labels_and_all_on_screen(qtbot, f, box, size):
    view = show(qtbot, SurfaceView(), *size)
    draw(view, f, box)
    qtbot.wait(20)  # the fitted camera follows the view's size
    boxes = view.label_boxes()
    assert len(boxes["f"]) >= 3 and len(boxes["x"]) >= 3 and len(boxes["y"]) >= 3
    for a in boxes["f"] + boxes["titles"]:
        for b in boxes["x"] + boxes["y"]:
            assert not a.intersects(b), (a, b)
    for group in boxes.values():  # tick labels of one axis do not touch each other either
        for i, a in enumerate(group):
            assert not any(a.intersects(b) for b in group[i + 1:])
    frame = QtCore.QRectF(0, 0, view.gl.width(), view.gl.height())
    assert all(frame.contains(r) for group in boxes.values() for r in group)


def test_the_fitted_camera_holds_still_while_a_parameter_moves(view, qtbot):
    """A new grid of the same formula (a slider) keeps the camera; one whose labels would be cut refits."""
    xs = ys = np.linspace(-2, 2, 120)
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    view.reset_view()  # a new formula: the first grid after it is fitted
    view.set_grid(xs, ys, X * Y, gridlib.display_limits(X * Y), [], [])
    camera = view.camera()
    for k in (1.1, 1.2, 1.3):  # no reset between: as the Session does when only a parameter changes
        z = k * X * Y
        view.set_grid(xs, ys, z, gridlib.display_limits(z), [], [])
        assert view.camera() == camera
    z = 12345.678 * X * Y  # labels like -40000: wider
    view.set_grid(xs, ys, z, gridlib.display_limits(z), [], [])
    frame = QtCore.QRectF(0, 0, view.gl.width(), view.gl.height())
    assert all(frame.contains(r) for group in view.label_boxes().values() for r in group)


def test_labels_follow_the_camera_to_the_edges_facing_it(view, qtbot):
    draw(view, ROSENBROCK, (-2, 2, -1, 3))
    before = [tuple(i.pos) for i in view._ticks["x"] if i.text]
    view.set_camera({"distance": 40.0, "elevation": 30.0, "azimuth": 120.0, "center": (0, 0, 5)})
    after = [tuple(i.pos) for i in view._ticks["x"] if i.text]
    assert before[0][1] < 0 < after[0][1]  # the x labels moved to the other side of the box
    boxes = view.label_boxes()
    for a in boxes["f"]:
        assert not any(a.intersects(b) for b in boxes["x"] + boxes["y"])


# ------------------------------------------------------------------------------------------ local models
def model_share(view, qtbot, offset: bool = True) -> float:
    """The share of the tangent plane's patch drawn in the plane's colour when the plane is the surface
    itself (f linear: the reader's 2x + 3y), the closest a model and the surface can be."""
    a, b = 0.5, 0.3
    draw(view, lambda x, y: a * x + b * y, (-2, 2, -2, 2), n=200)
    p = np.array([0.3, -0.4])
    ax, ay = np.linspace(p[0] - 1, p[0] + 1, 24), np.linspace(p[1] - 1, p[1] + 1, 24)
    X, Y = np.meshgrid(ax, ay, indexing="ij")
    view.set_model("plane", ax, ay, a * X + b * Y)
    ghost, solid, outline = view._models["plane"]
    ghost.setVisible(False)  # the solid layer alone: the faint one is drawn regardless of depth
    outline.setVisible(False)
    if not offset:
        solid.setGLOptions({**GLOptions["translucent"], GL.GL_POLYGON_OFFSET_FILL: False})
    qtbot.wait(20)
    with_model = rgb(view)
    solid.setVisible(False)
    without = rgb(view)
    corners = [(p[0] + dx, p[1] + dy) for dx, dy in ((-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8))]
    sx, sy, sz = view.to_scene(*np.transpose([(x, y, a * x + b * y) for x, y in corners]))
    mask = inside_polygon(with_model.shape, pixels(view, np.column_stack([sx, sy, sz])))
    assert mask.sum() > 5000
    changed = np.abs(with_model - without).sum(axis=-1) > 30
    return float(changed[mask].mean())


def test_tangent_plane_is_solid_where_it_touches_the_surface(view, qtbot):
    assert model_share(view, qtbot) > 0.99  # was speckled: the surface won pixels wherever they touch


def test_without_its_depth_offset_the_plane_would_speckle(view, qtbot):
    """The measure above can tell: the same plane without polygon offset loses pixels to the surface."""
    assert model_share(view, qtbot, offset=False) < 0.9


def test_models_fade_beyond_the_box_instead_of_flattening_on_its_lid(view):
    draw(view, lambda x, y: x ** 2 + y ** 2, (-2, 2, -2, 2))
    ax = ay = np.linspace(-1, 1, 24)
    X, Y = np.meshgrid(ax, ay, indexing="ij")
    view.set_model("quadric", ax, ay, 50 * (X ** 2 + Y ** 2))  # far above the box (f <= 8) at the patch's edge
    ghost, solid, outline = view._models["quadric"]
    assert solid.visible() and outline.visible()
    alpha = solid._colors.reshape(24, 24, 4)[..., 3]
    assert alpha[11:13, 11:13].min() > 0.5 and alpha[0, 0] == 0.0  # solid at the point, gone at the corners
    assert len(outline.pos) == 0  # the whole border is above the box: no outline floating on the lid
    view.set_model("quadric")
    assert not any(i.visible() for i in (ghost, solid, outline))


# ------------------------------------------------------------------------------------------ floor, paths, colours
def test_floor_grid_does_not_show_through_a_valley_at_the_bottom_of_the_range(view, qtbot):
    # Half the box lies exactly at f's lowest value (the floor's height before the fix).
    draw(view, lambda x, y: np.maximum(x, 0) ** 2, (-2, 2, -2, 2), n=200)
    qtbot.wait(20)
    with_floor = rgb(view)
    view.floor.setVisible(False)
    without = rgb(view)
    view.floor.setVisible(True)
    flat = [(-S * 0.9, -S * 0.9, 0), (-S * 0.1, -S * 0.9, 0), (-S * 0.1, S * 0.9, 0), (-S * 0.9, S * 0.9, 0)]
    mask = inside_polygon(with_floor.shape, pixels(view, flat))
    assert mask.sum() > 2000
    assert (np.abs(with_floor - without).sum(axis=-1)[mask] > 30).mean() < 0.002
    assert view.floor.pos[:, 2].max() == pytest.approx(FLOOR) and FLOOR < 0


def test_a_diverging_path_stays_in_the_box(view, qtbot):
    draw(view, ROSENBROCK, (-2, 2, -1, 3))
    k = np.arange(40)
    x, y = -0.5 + 0.3 * (-1.9) ** k, 1.0 + 0.2 * (-1.7) ** k  # leaves the box, grows to 1e11
    path = {"label": "gd", "optimizer": "gd", "x": x, "y": y, "z": ROSENBROCK(x, y)}
    view.set_paths([path])
    pos = view.path_positions("gd")
    drawn = pos[np.isfinite(pos).all(axis=1)]
    assert len(drawn) >= 3
    assert np.all(np.abs(drawn[:, :2]) <= S + 1e-9) and np.all((drawn[:, 2] >= 0) & (drawn[:, 2] <= H + 0.1))
    np.testing.assert_allclose(drawn[0, :2], view.to_scene(x[0], y[0], 0)[:2])  # from the start
    # On screen: every pixel of the path's colour lies within the box' outline.
    qtbot.wait(20)
    a = rgb(view)
    colour = QtGui.QColor(OPTIMIZER_COLORS["gd"])
    hit = np.all(np.abs(a - [colour.red(), colour.green(), colour.blue()]) <= 30, axis=-1)
    assert hit.sum() > 50
    box = pixels(view, [(x_, y_, z_) for x_ in (-S, S) for y_ in (-S, S) for z_ in (FLOOR, H + 0.2)])
    lo, hi = box.min(axis=0) - 3, box.max(axis=0) + 3
    rows, cols = np.nonzero(hit)
    assert cols.min() >= lo[0] and cols.max() <= hi[0] and rows.min() >= lo[1] and rows.max() <= hi[1]


def test_the_selected_point_is_not_the_maxima_red(view):
    draw(view, ROSENBROCK, (-2, 2, -1, 3))
    view.set_point(0.0, 1.0, ROSENBROCK(0.0, 1.0), (-2.0, 200.0))
    selected = QtGui.QColor(SELECTED_COLOR)
    maximum = QtGui.QColor(TYPE_STYLE["max"]["color"])
    assert np.allclose(view.marker.color, selected.getRgbF()) and np.allclose(view.arrow.color, selected.getRgbF())
    distance = np.abs(np.array(selected.getRgb()[:3]) - maximum.getRgb()[:3]).sum()
    assert distance > 150


# ------------------------------------------------------------------------------------------ the whole window
@pytest.fixture(scope="module")
def app_window(qapp):
    yield from open_window("x*exp(-x^2 - y^2)")


def test_a_new_formula_fits_the_camera_to_the_box(app_window, qtbot):
    """Rosenbrock on [-2, 2] x [-1, 3] after a turned camera: refitted, the box and its labels on screen."""
    window, app = app_window
    qtbot.waitUntil(lambda: app.session.grid is not None and app.idle, timeout=TIMEOUT)
    window.surface.set_camera({"distance": 9.0, "elevation": 70.0, "azimuth": 150.0, "center": (8, 8, 0)})
    window.surface.cameraMoved.emit(window.surface.camera())  # as the end of a drag does
    qtbot.waitUntil(lambda: app.session.settings.view.camera is not None, timeout=2000)
    app.session.load("(1-x)^2 + 100(y-x^2)^2", (-2.0, 2.0), (-1.0, 3.0))
    qtbot.waitUntil(lambda: app.session.grid is not None and app.idle
                    and app.session.document.text.startswith("(1-x)"), timeout=TIMEOUT)
    qtbot.wait(50)
    view = window.surface
    assert view.gl.opts["azimuth"] == -60.0 and view.gl.opts["elevation"] == 28.0
    corners = pixels(view, [(x, y, z) for x in (-S, S) for y in (-S, S) for z in (FLOOR, H)])
    w, h = view.gl.width() * view.gl.devicePixelRatioF(), view.gl.height() * view.gl.devicePixelRatioF()
    assert np.all((corners >= 0) & (corners <= [w, h]))
    frame = QtCore.QRectF(0, 0, view.gl.width(), view.gl.height())
    assert all(frame.contains(r) for group in view.label_boxes().values() for r in group)
    # And it fills the view: the box spans most of its width or height.
    span = (corners.max(axis=0) - corners.min(axis=0)) / [w, h]
    assert span.max() > 0.6
