"""Exporting the views (PNG, SVG, the figure, the race GIF) and ``calcviz export``, on the real window.

Every file is read back and checked: image sizes, the colours of f where the map shows a known value,
the descent paths' points in the SVG, the GIF's frame count for a race of known length, and that a
failed export leaves the file that was there before.
"""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image
from PyQt6 import QtCore, QtGui

from calcviz import exporting
from calcviz.models.storage import StorageError
from calcviz.views.descent_panel import OPTIMIZER_COLORS
from ui import TIMEOUT, open_window

pytestmark = pytest.mark.gl

FORMULA = "x*exp(-x^2 - y^2)"
GD, ADAM = OPTIMIZER_COLORS["gd"], OPTIMIZER_COLORS["adam"]
RACE_STEPS = 30
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def app_window(qapp):
    yield from open_window(FORMULA)


@pytest.fixture
def win(app_window, qtbot):
    window, app = app_window
    qtbot.waitUntil(lambda: app.session.grid is not None and app.idle, timeout=TIMEOUT)
    return window, app


def no_race(app):
    app.session.set_starts([])
    app.descent.redraw()


def race(qtbot, window, app, shown=None):
    """Gradient descent and Adam from (0.3, 0.8): 30 steps each (neither has converged by then)."""
    app.session.set_descent_setup({"optimizers": ["gd", "adam"], "lr": 0.1, "max_steps": RACE_STEPS, "tol": 1e-12,
                                   "start_mode": "shared"})
    app.session.set_starts([{"x": 0.3, "y": 0.8}])
    qtbot.waitUntil(lambda: app.session.race is not None and not app.descent.pending, timeout=TIMEOUT)
    r = app.session.race
    assert r.length == RACE_STEPS
    r.advance(r.length if shown is None else shown)
    app.descent.redraw()
    return r


def rgb(image: QtGui.QImage) -> np.ndarray:
    """(h, w, 3) uint8 of a QImage."""
    image = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    data = np.frombuffer(image.constBits().asstring(image.sizeInBytes()), np.uint8)
    return data.reshape(image.height(), image.bytesPerLine())[:, : 3 * image.width()].reshape(
        image.height(), image.width(), 3)


def read_png(path) -> np.ndarray:
    image = QtGui.QImage(str(path))
    assert not image.isNull(), f"{path} does not decode as an image"
    return rgb(image)


def distinct_colours(a: np.ndarray) -> int:
    return len(np.unique(a.reshape(-1, 3), axis=0))


def near(a: np.ndarray, colour: str, tol: int = 40) -> np.ndarray:
    c = QtGui.QColor(colour)
    return np.all(np.abs(a.astype(int) - [c.red(), c.green(), c.blue()]) <= tol, axis=-1)


def patch(a: np.ndarray, x: float, y: float) -> np.ndarray:
    """The median colour of a 7x7 patch at pixel (x, y) (a thin iso-line through it does not count)."""
    i, j = int(round(y)), int(round(x))
    return np.median(a[i - 3:i + 4, j - 3:j + 4].reshape(-1, 3), axis=0)


def svg(path):
    root = ET.parse(path).getroot()
    assert root.tag == SVG + "svg"
    return root


def stroked_paths(root, colour: str) -> list[list[str]]:
    """The path data (split in points) of every path drawn with ``colour`` (pyqtgraph sets the
    stroke on the group around each item's paths)."""
    out = []
    for g in root.iter(SVG + "g"):
        if g.get("stroke") == colour:
            out += [p.get("d").split() for p in g.iter(SVG + "path")]
    return out


# ------------------------------------------------------------------------------------------ contour
def test_contour_png_shows_the_map_with_f_coloured_where_it_is(win, tmp_path):
    window, app = win
    no_race(app)
    path = exporting.export_view(window, "contour", tmp_path / "map.png")
    a = read_png(path)
    contour = window.contour
    assert a.shape[:2] == (contour.height(), contour.width())  # at its size on screen
    assert distinct_colours(a) > 500
    # The exported image is the view: data points map to the same pixels as on screen.
    # f(0.707, 0.35) = 0.38 (near the top of the colour range: viridis yellow-green);
    # f(-0.707, 0.35) = -0.38 (near the bottom: dark purple).
    high = contour.plot.vb.mapViewToScene(QtCore.QPointF(0.707, 0.35))
    low = contour.plot.vb.mapViewToScene(QtCore.QPointF(-0.707, 0.35))
    r, g, b = patch(a, high.x(), high.y())
    assert r > 150 and g > 180 and b < 110, (r, g, b)
    r, g, b = patch(a, low.x(), low.y())
    assert r < 110 and g < 70 and b > 60, (r, g, b)
    # The colour bar: its top is yellow (viridis' end), its bottom dark purple.
    bar = contour.colorbar.bar.sceneBoundingRect()
    column = a[int(bar.top()) + 2:int(bar.bottom()) - 2, int(bar.center().x())]
    assert near(column[:10], "#fde725", 60).mean() > 0.5 and near(column[-10:], "#440154", 60).mean() > 0.5


def test_contour_png_at_a_chosen_size(win, tmp_path):
    window, app = win
    before = window.contour.plot.vb.viewRange()
    a = read_png(exporting.export_view(window, "contour", tmp_path / "big.png", size=(1200, 900)))
    assert a.shape[:2] == (900, 1200)
    assert distinct_colours(a) > 1000
    # Laid out for that size before it is drawn: the next export is the same picture, pixel for pixel.
    again = read_png(exporting.export_view(window, "contour", tmp_path / "again.png", size=(1200, 900)))
    assert np.array_equal(a, again)
    assert window.contour.plot.vb.viewRange() == before  # the view on screen is as it was


def test_contour_svg_has_the_iso_lines_and_the_descent_paths(win, qtbot, tmp_path):
    window, app = win
    no_race(app)
    root = svg(exporting.export_view(window, "contour", tmp_path / "empty.svg"))
    assert len(list(root.iter(SVG + "path"))) + len(list(root.iter(SVG + "polyline"))) > 20
    assert len(list(root.iter(SVG + "image"))) >= 1  # the colour map (and bar) as embedded images
    iso = stroked_paths(root, "#141414")  # the iso-lines' pen (20, 20, 20)
    assert iso and sum(t.startswith("M") for t in iso[0]) > 100  # one segment per M: hundreds of them
    assert stroked_paths(root, GD) == []

    r = race(qtbot, window, app, shown=12)
    root = svg(exporting.export_view(window, "contour", tmp_path / "race.svg"))
    (label,) = [lb for lb in window.contour.path_labels() if lb == r.labels[0]]
    x, _ = window.contour.path_data(label)
    assert len(x) == 13
    # The gradient-descent line: one point per step shown, 0..12 (and its arrow heads elsewhere).
    assert 13 in [len(p) for p in stroked_paths(root, GD)]
    assert 13 in [len(p) for p in stroked_paths(root, ADAM)]


# ------------------------------------------------------------------------------------------ surface
def test_surface_png_at_1600x1000_with_its_labels_and_paths(win, qtbot, tmp_path):
    window, app = win
    race(qtbot, window, app)
    a = read_png(exporting.export_view(window, "surface", tmp_path / "surface.png", size=(1600, 1000)))
    assert a.shape == (1000, 1600, 3)
    assert distinct_colours(a) > 2000
    assert near(a[:20, :20], "#ffffff", 3).all()  # the background
    assert near(a, "#fde725", 50).sum() > 500 and near(a, "#440154", 50).sum() > 500  # the top and the bottom of f
    # The descent paths are drawn over the surface (items added after the GL labels used to be lost).
    assert near(a, GD, 30).sum() > 200 and near(a, ADAM, 30).sum() > 200
    # The tick and axis labels: dark text that an export with them written in white lacks.
    labels = [item for item in window.surface.tick_labels + window.surface.axis_labels if item.text]
    assert len(labels) >= 15
    colour = labels[0].color
    for item in labels:
        item.setData(color=QtGui.QColor("white"))
    try:
        bare = rgb(exporting.render_view(window, "surface", (1600, 1000)))
    finally:
        for item in labels:
            item.setData(color=colour)
    assert near(a, "#282832", 40).sum() > near(bare, "#282832", 40).sum() + 1000
    assert all(item.visible() for item in labels)


# ------------------------------------------------------------------------------------------ loss
def test_loss_png_and_svg_show_one_curve_per_run(win, qtbot, tmp_path):
    window, app = win
    r = race(qtbot, window, app)
    a = read_png(exporting.export_view(window, "loss", tmp_path / "loss.png", size=(1000, 500)))
    assert a.shape[:2] == (500, 1000)
    assert near(a, GD, 30).sum() > 300 and near(a, ADAM, 30).sum() > 300
    root = svg(exporting.export_view(window, "loss", tmp_path / "loss.svg"))
    # f and |grad f| per run, one point per step (and the legend's short sample line).
    assert [len(p) for p in stroked_paths(root, GD)].count(r.length + 1) == 2
    assert [len(p) for p in stroked_paths(root, ADAM)].count(r.length + 1) == 2

    no_race(app)
    with pytest.raises(StorageError, match="loss curves are empty"):
        exporting.export_view(window, "loss", tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


# ------------------------------------------------------------------------------------------ figure
def test_figure_has_the_title_both_views_and_the_loss_curves_when_runs_exist(win, qtbot, tmp_path):
    window, app = win
    no_race(app)
    a = read_png(exporting.export_view(window, "figure", tmp_path / "plain.png", size=(1600, 1000)))
    assert a.shape == (1000, 1600, 3)
    title = a[:60, 400:1200]
    assert (title.max(axis=-1) < 100).sum() > 300  # dark text on white
    assert exporting.default_title(window) == "f = x * exp(-x^2 - y^2)"
    left, right = a[60:, :800], a[60:, 800:]
    assert near(left, "#fde725", 50).sum() > 200 and near(right, "#fde725", 50).sum() > 2000
    assert near(a[-200:], "#21918c", 40).sum() > 2000  # no runs: the views fill the height (viridis' middle)

    race(qtbot, window, app)
    a = read_png(exporting.export_view(window, "figure", tmp_path / "race.png", size=(1600, 1000)))
    bottom = a[-250:]
    assert near(bottom, "#21918c", 40).sum() < 200  # the views end above the loss curves ...
    assert near(bottom, GD, 30).sum() > 300 and near(bottom, ADAM, 30).sum() > 300  # ... drawn per run


# ------------------------------------------------------------------------------------------ GIF
def test_race_gif_has_one_frame_per_every_steps_and_restores_the_race(win, qtbot, tmp_path):
    window, app = win
    r = race(qtbot, window, app, shown=7)
    done = []
    frames = exporting.export_race_gif(window, app.descent, tmp_path / "race.gif", every=4, size=(400, 300),
                                       progress=done.append)
    expected = exporting.race_steps(RACE_STEPS, 4)
    assert expected == [0, 4, 8, 12, 16, 20, 24, 28, 30]
    assert frames == len(expected) == 9
    assert done == pytest.approx([(k + 1) / 9 for k in range(9)])
    assert r.shown == 7 and app.session.race is r
    x, _ = window.contour.path_data(r.labels[0])
    assert len(x) == 8  # the view shows step 7 again

    gif = Image.open(tmp_path / "race.gif")
    assert gif.n_frames == 9 and gif.size == (400, 300) and gif.info["loop"] == 0
    counts = []
    for k in range(gif.n_frames):
        gif.seek(k)
        counts.append(near(np.asarray(gif.convert("RGB")), GD, 40).sum())
    # Frame 0 shows only the legend's gradient-descent sample; the path grows from there (Adam's,
    # drawn over it, hides some of it near the minimum at the end).
    assert counts[0] < counts[-1] / 2 and counts[0] == min(counts)


def test_cancelled_gif_writes_nothing(win, qtbot, tmp_path):
    window, app = win
    r = race(qtbot, window, app, shown=3)
    asked = []

    def stop():
        asked.append(1)
        return len(asked) > 3

    assert exporting.export_race_gif(window, app.descent, tmp_path / "race.gif", every=1, size=(200, 150),
                                     should_stop=stop) == 0
    assert len(asked) == 4
    assert list(tmp_path.iterdir()) == []  # no GIF, no temporary file
    assert r.shown == 3


def test_gif_needs_a_race_and_a_gif_name(win, tmp_path):
    window, app = win
    no_race(app)
    with pytest.raises(StorageError, match="no descent race"):
        exporting.export_race_gif(window, app.descent, tmp_path / "race.gif")
    with pytest.raises(StorageError, match=r"saved as \.gif \(got \.png\)"):
        exporting.export_race_gif(window, app.descent, tmp_path / "race.png")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------------ failures
def test_bad_extension_and_folder_give_messages_and_keep_the_old_file(win, tmp_path, monkeypatch):
    window, app = win
    good = exporting.export_view(window, "contour", tmp_path / "plot.png")
    before = good.read_bytes()

    with pytest.raises(StorageError, match=r"the contour map can be saved as \.png or \.svg \(got \.jpg\)"):
        exporting.export_view(window, "contour", tmp_path / "plot.jpg")
    with pytest.raises(StorageError, match=r"the 3D surface can be saved as \.png \(got \.svg\)"):
        exporting.export_view(window, "surface", tmp_path / "plot.svg")
    with pytest.raises(StorageError, match="does not exist"):
        exporting.export_view(window, "contour", tmp_path / "missing" / "plot.png")
    with pytest.raises(StorageError, match="is not a folder"):
        exporting.export_view(window, "contour", good / "plot.png")  # a file where a folder should be

    # The image writer fails half-way onto the good file: it stays as it was.
    def broken_save(self, name, *args):
        with open(name, "wb") as f:
            f.write(b"\x89PNG half")
        return False

    monkeypatch.setattr(QtGui.QImage, "save", broken_save)
    with pytest.raises(StorageError, match="could not write the PNG"):
        exporting.export_view(window, "contour", good)
    assert good.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]  # no temporary file left


def test_failed_gif_write_keeps_the_old_gif(win, qtbot, tmp_path, monkeypatch):
    window, app = win
    race(qtbot, window, app)
    old = tmp_path / "race.gif"
    assert exporting.export_race_gif(window, app.descent, old, every=10, size=(200, 150)) == 4
    before = old.read_bytes()

    def full_disk(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"GIF89a")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    with pytest.raises(StorageError, match="the disk is full"):
        exporting.export_race_gif(window, app.descent, old, every=10, size=(200, 150))
    assert old.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["race.gif"]


# ------------------------------------------------------------------------------------------ calcviz export
def calcviz_export(*args, env=None):
    return subprocess.run([sys.executable, "-m", "calcviz", "export", *args], capture_output=True, text=True,
                          timeout=240, env=env)


def test_headless_export_writes_a_png_of_the_requested_size(tmp_path):
    out = tmp_path / "surface.png"
    proc = calcviz_export("x^2 - y^2", "--view", "surface", "--size", "640x400", "--x", "-1,1", "--n", "80",
                          "--out", str(out), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout and str(out) in proc.stdout
    a = read_png(out)
    assert a.shape == (400, 640, 3)
    assert distinct_colours(a) > 300
    assert near(a, "#fde725", 50).sum() > 100 and near(a, "#440154", 50).sum() > 100  # a saddle: both ends of f


def test_headless_export_refuses_a_bad_formula_with_a_caret(tmp_path):
    out = tmp_path / "x.png"
    proc = calcviz_export("x*exp(-x^2 - y^", "--view", "contour", "--out", str(out))
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert "error" in lines[0] and lines[1] == "x*exp(-x^2 - y^" and lines[2].rstrip() == " " * 15 + "^"
    assert not out.exists()


def test_headless_export_without_a_display_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = calcviz_export("x^2+y^2", "--view", "surface", "--out", str(tmp_path / "s.png"), env=env)
    assert proc.returncode == 1
    assert "calcviz export needs a display for the 3D view: run it under xvfb-run" in proc.stderr
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------------ one variable
def test_one_variable_exports_the_curve_not_the_contour(win, qtbot, tmp_path):
    window, app = win
    no_race(app)
    app.start("x^3 - x", x_range=(-2.0, 2.0))
    qtbot.waitUntil(lambda: app.session.document.text == "x^3 - x" and app.session.grid is not None
                    and app.session.grid["axes"] == ["x"] and app.idle, timeout=TIMEOUT)
    with pytest.raises(StorageError, match="export its curve"):
        exporting.export_view(window, "contour", tmp_path / "c.png")
    with pytest.raises(StorageError, match="shows no surface"):
        exporting.export_view(window, "surface", tmp_path / "s.png")
    a = read_png(exporting.export_view(window, "curve", tmp_path / "curve.png", size=(800, 500)))
    assert a.shape == (500, 800, 3)
    assert near(a, "#1f77b4", 30).sum() > 300  # f's line
    root = svg(exporting.export_view(window, "curve", tmp_path / "curve.svg"))
    # f's line: one point per grid node (the path data splits into one token per point).
    assert len(app.session.grid["coords"][0]) in [len(p) for p in stroked_paths(root, "#1f77b4")]
    figure = read_png(exporting.export_view(window, "figure", tmp_path / "figure.png", size=(1000, 600)))
    assert near(figure, "#1f77b4", 30).sum() > 300
    app.start(FORMULA)
