"""Exporting the views (PNG, SVG, the figure, the race GIF) and ``calcviz export``, on the real window.

Every file is read back and checked: image sizes, the colours of f where the map shows a known value,
the descent paths' points in the SVG, the GIF's frame count for a race of known length, and that a
failed export leaves the file that was there before.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PyQt6 import QtCore, QtGui, QtWidgets

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
    assert distinct_colours(a) > 1500  # a shaded surface (a blank or flat render has a few dozen)
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
    left, right = a[60:, :800], a[60:, 800:]
    assert near(left, "#fde725", 50).sum() > 200 and near(right, "#fde725", 50).sum() > 2000
    mapped = np.nonzero(near(right, "#21918c", 40).any(axis=1))[0] + 60  # rows the map's colours reach
    assert mapped.max() > 0.8 * 1000  # no runs: the views go down where the loss curves would be

    race(qtbot, window, app)
    a = read_png(exporting.export_view(window, "figure", tmp_path / "race.png", size=(1600, 1000)))
    bottom = a[-250:]
    assert near(bottom, "#21918c", 40).sum() < 200  # the views end above the loss curves ...
    assert near(bottom, GD, 30).sum() > 300 and near(bottom, ADAM, 30).sum() > 300  # ... drawn per run
    # One legend, the loss curves': between the map's last row and the loss curves, nothing of a run's colour.
    map_bottom = np.nonzero(near(a[:, 800:], "#21918c", 40).any(axis=1))[0].max()
    assert near(a[map_bottom + 5:-350, 800:], GD, 30).sum() < 10
    assert window.contour.legend.isVisible()  # still shown on screen


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
    assert counts[0] == min(counts) and counts[-1] > counts[0] + 5


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


def test_a_gif_too_large_for_memory_is_refused_before_a_frame_is_drawn(win, qtbot, tmp_path, monkeypatch):
    window, controller = win
    r = race(qtbot, window, controller, shown=5)

    def drawn(*args, **kwargs):
        raise AssertionError("a frame was drawn")
    monkeypatch.setattr(exporting, "render_view", drawn)
    with pytest.raises(StorageError, match=r"^a GIF of 31 frames at 8000x8000 would hold 1,984 million pixels in "
                                           r"memory \(frames x width x height\); at most 500 million: make the image "
                                           r"smaller or show fewer frames$"):
        exporting.export_race_gif(window, controller, tmp_path / "race.gif", every=1, size=(8000, 8000))
    assert list(tmp_path.iterdir()) == [] and r.shown == 5


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

    # The image encoder fails half-way: the good file stays as it was.
    def broken_save(self, device, *args):
        device.write(b"\x89PNG half")
        return False

    monkeypatch.setattr(QtGui.QImage, "save", broken_save)
    with pytest.raises(StorageError, match="could not encode the PNG"):
        exporting.export_view(window, "contour", good)
    assert good.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.png"]  # no temporary file left


def test_png_on_a_full_disk_says_the_disk_is_full(win, tmp_path, small_disk):
    """A real 64 KB disk: a 1600x1000 figure does not fit (Qt's writer only said it "could not write")."""
    window, controller = win
    disk = small_disk(tmp_path / "disk", 64, {"figure.png": "old"})
    with pytest.raises(StorageError, match=r"^cannot save figure.png: the disk is full$"):
        exporting.export_view(window, "figure", disk / "figure.png", (1600, 1000))
    assert (disk / "figure.png").read_text() == "old" and os.listdir(disk) == ["figure.png"]


def test_png_failing_at_the_disk_says_why(win, tmp_path, monkeypatch):
    """The same without mount rights: the disk fills half-way through the write."""
    import errno
    import pathlib
    window, controller = win
    old = tmp_path / "contour.png"
    old.write_bytes(b"old")
    real = pathlib.Path.write_bytes

    def half_then_full(self, data):
        real(self, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(pathlib.Path, "write_bytes", half_then_full)
    with pytest.raises(StorageError, match=r"^cannot save contour.png: the disk is full$"):
        exporting.export_view(window, "contour", old, (800, 600))
    assert old.read_bytes() == b"old" and os.listdir(tmp_path) == ["contour.png"]


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


@pytest.mark.parametrize("args, message", [
    (["x^2 + y^2", "--view", "gif", "--descent", "gd", "--from", "x=1", "y=1", "--size", "8000x8000"],
     "a GIF of 200 frames at 8000x8000 would hold 12,800 million pixels in memory"),
    (["x^2 + y^2", "--view", "gif", "--descent", "gd", "--from", "x=1", "y=1", "--steps", "5000", "--every", "1"],
     "a GIF of 5001 frames at 800x640 would hold 2,561 million pixels in memory"),
    (["x^2 + y^2", "--view", "contour", "--descent", "gd", "--from", "x=1", "y=1", "--steps", "20001"],
     "--steps must be from 1 to 20,000, the window's limit (got 20,001); calcviz descend --csv runs up to "
     "1,000,000 steps"),
    (["e*x + y", "--view", "contour", "--param", "e=3"], "--param e: e is a constant (2.718281828), not a parameter"),
    (["a*x + y", "--view", "contour", "--param", "q=3"], "--param q: the formula has no input q (its inputs: x, y, a)"),
    (["a*x + y", "--view", "contour", "--param", "y=3"], "--param y: y is an axis of the plot, not a parameter"),
])
def test_headless_export_refuses_what_it_would_cut_or_ignore(tmp_path, args, message):
    """Refused before the window starts (no display needed), with exit status 2."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    suffix = ".gif" if "gif" in args else ".png"
    proc = calcviz_export(*args, "--out", str(tmp_path / f"out{suffix}"), env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"calcviz export: error: {message}")
    assert list(tmp_path.iterdir()) == []


def test_headless_export_of_a_fifo_is_refused_without_waiting(tmp_path):
    fifo = tmp_path / "session.json"
    os.mkfifo(fifo)
    proc = calcviz_export(str(fifo), "--view", "contour", "--out", str(tmp_path / "c.png"))  # (240 s timeout)
    assert proc.returncode == 2
    assert proc.stderr == (f"calcviz export: error: {fifo} is not a regular file (a named pipe (FIFO)), so it "
                           f"cannot be a session file\n")


def test_headless_export_without_a_display_says_so(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    proc = calcviz_export("x^2+y^2", "--view", "surface", "--out", str(tmp_path / "s.png"), env=env)
    assert proc.returncode == 1
    assert "calcviz export needs a display for the 3D view: run it under xvfb-run" in proc.stderr
    assert "Traceback" not in proc.stderr


# ------------------------------------------------------------------------------------------ one variable
def show_formula(qtbot, app, text, **box):
    app.start(text, **box)
    qtbot.waitUntil(lambda: app.session.document.text == text and app.session.grid is not None and app.idle,
                    timeout=TIMEOUT)


@pytest.fixture
def one_variable(win, qtbot):
    """``x^3 - x`` on [-2, 2], the module's formula back after the test whatever happened in it."""
    window, app = win
    no_race(app)
    show_formula(qtbot, app, "x^3 - x", x_range=(-2.0, 2.0))
    assert app.session.grid["axes"] == ["x"]
    yield window, app
    show_formula(qtbot, app, FORMULA)


def test_one_variable_exports_the_curve_not_the_contour(one_variable, tmp_path):
    window, app = one_variable
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


def test_an_exported_curve_still_follows_the_next_formula(one_variable, qtbot, tmp_path):
    """Seen in CI: a curve exported before the window repainted was drawn in the previous formula's
    range (pyqtgraph fits a view to new data when it paints), and exporting turned the view's fitting
    off for good, so the next formula's curve stayed in this one's range."""
    window, app = one_variable
    box = window.curve.plot.vb
    assert box.autoRangeEnabled() == [True, True]
    exporting.export_view(window, "curve", tmp_path / "first.png", size=(800, 500))
    assert box.autoRangeEnabled() == [True, True]
    # Exported before the curve repaints (as on a busy machine): x^2 over [-10, 10] runs from 0 to 100.
    window.curve.setUpdatesEnabled(False)
    try:
        show_formula(qtbot, app, "x^2", x_range=(-10.0, 10.0))
        a = read_png(exporting.export_view(window, "curve", tmp_path / "second.png", size=(800, 500)))
    finally:
        window.curve.setUpdatesEnabled(True)
    line = np.argwhere(near(a, "#1f77b4", 30))
    # The parabola fills the plot, from its floor up to both top corners (in the old range it sat in the middle).
    assert line[:, 0].max() - line[:, 0].min() > 0.7 * 500 and line[:, 1].max() - line[:, 1].min() > 0.7 * 800
    (x0, x1), (y0, y1) = box.viewRange()
    assert x0 <= -10 and x1 >= 10 and y0 <= 0 and y1 >= 100


# ------------------------------------------------------------------------------------------ what a teacher puts on a slide
def hover(qtbot, window, x, y):
    """Move the real mouse over the map at data point (x, y): the read-out shows."""
    contour = window.contour
    pos = contour.mapFromScene(contour.plot.vb.mapViewToScene(QtCore.QPointF(x, y)))
    qtbot.mouseMove(contour.viewport(), pos)
    qtbot.waitUntil(lambda: contour.readout.isVisible(), timeout=5000)


def test_exports_never_bake_in_the_hover_read_out(win, qtbot, tmp_path):
    window, app = win
    no_race(app)
    app.session.set_hover(None)
    clean = {view: read_png(exporting.export_view(window, view, tmp_path / f"{view}.png", size))
             for view, size in (("contour", None), ("figure", (1200, 750)))}
    hover(qtbot, window, 0.2, 0.3)
    for view, size in (("contour", None), ("figure", (1200, 750))):
        hovered = read_png(exporting.export_view(window, view, tmp_path / f"{view}-hovered.png", size))
        assert np.array_equal(hovered, clean[view]), view  # the read-out's box and text are not in it
    root = svg(exporting.export_view(window, "contour", tmp_path / "hovered.svg"))
    assert not any("∇f" in (t.text or "") or "f = " in (t.text or "") for t in root.iter(SVG + "text"))
    assert window.contour.readout.isVisible()  # still shown on screen, where the mouse is


def test_the_figure_title_is_the_formula_typeset(win, tmp_path):
    window, app = win
    no_race(app)
    html = exporting.title_html(window)
    assert html == "<i>f</i>(<i>x</i>, <i>y</i>) = <i>x</i> exp(\u2212<i>x</i><sup>2</sup> \u2212 <i>y</i><sup>2</sup>)"
    document = exporting._title(html, 1500, 1.0)
    assert document.toPlainText() == "f(x, y) = x exp(\u2212x2 \u2212 y2)"  # not "f = x * exp(-x^2 - y^2)"
    formats = [f.format for f in document.firstBlock().textFormats()]
    Super = QtGui.QTextCharFormat.VerticalAlignment.AlignSuperScript
    assert sum(f.verticalAlignment() == Super for f in formats) == 2 and any(f.fontItalic() for f in formats)
    # The figure's title band is that document, drawn (compared with drawing it here the same way).
    a = rgb(exporting.render_figure(window, (1600, 1000)))
    band = QtGui.QImage(1600, 60, QtGui.QImage.Format.Format_RGB32)
    band.fill(QtGui.QColor("white"))
    painter = QtGui.QPainter(band)
    painter.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing)
    painter.translate(10, 10)
    exporting._title(html, 1580, 1.0).drawContents(painter)
    painter.end()
    expected = rgb(band)
    ink = expected.max(axis=-1) < 128
    assert ink.sum() > 300
    assert np.abs(a[:40].astype(int) - expected[:40]).max() <= 2


def test_a_print_size_figure_is_the_screen_figure_scaled_up(win, qtbot, tmp_path):
    """At 3200 x 2000 every text grows with the image: the picture is the 1600 x 1000 one, twice as sharp
    (the title used to be huge beside tiny ticks)."""
    window, app = win
    race(qtbot, window, app)
    small = rgb(exporting.render_figure(window, (1600, 1000))).astype(float)
    big = rgb(exporting.render_figure(window, (3200, 2000))).astype(float)
    halved = big.reshape(1000, 2, 1600, 2, 3).mean(axis=(1, 3))
    # Seen: 2.3 (what differs is anti-aliasing and the one-pixel lines); 6.7 with each pane's text scaled
    # on its own as before (the 3D labels and the plots' ticks smaller than the title's proportion).
    assert np.abs(halved - small).mean() < 4


def test_the_size_menu_offers_each_size_once(win, monkeypatch):
    window, app = win
    window.resize(1600, 1000)
    offered = []

    def get_item(parent, title, label, items, current, editable):
        offered.append(list(items))
        return items[0], True

    monkeypatch.setattr(QtWidgets.QInputDialog, "getItem", get_item)
    try:
        for what in ("figure", "contour", "chain"):
            app.files._ask_size(what)
    finally:
        window.resize(1400, 900)
    for items in offered:
        numbers = [re.search(r"(\d+) × (\d+)", item).groups() for item in items]
        assert len(numbers) == len(set(numbers)), items
    assert sum("3200 × 2000" in item for item in offered[0]) == 1  # twice a 1600 x 1000 window is the print size


def test_the_contour_svg_draws_the_map_smoothly_where_it_is(win, qtbot, tmp_path):
    """Rendered by Qt's own SVG renderer (a warning fails the test): the colour map sits under the axes
    (also after a figure export re-laid the plot out), at a finer resolution than the grid, with the legend
    only when runs are drawn."""
    from PyQt6.QtSvg import QSvgRenderer

    window, app = win
    no_race(app)
    exporting.export_view(window, "figure", tmp_path / "first.png", (3200, 2000))  # lays the map out elsewhere
    path = exporting.export_view(window, "contour", tmp_path / "map.svg")
    root = svg(path)
    contour = window.contour
    # The colour map: an embedded image finer than the 200 x 200 grid, no longer drawn pixelated.
    images = [i for i in root.iter(SVG + "image") if int(i.get("height")) > 100 and int(i.get("width")) > 100]
    sizes = sorted((int(i.get("width")), int(i.get("height"))) for i in images)
    shown = contour.image.sceneBoundingRect()  # the map's size in the SVG's units (pixels on screen)
    assert (sizes[-1][0] >= 2 * shown.width() - 2) and (sizes[-1][1] >= 2 * shown.height() - 2), (sizes, shown)
    assert not any(t.text and "Gradient descent" in t.text for t in root.iter(SVG + "text"))  # no runs: no legend
    renderer = QSvgRenderer(str(path))
    assert renderer.isValid()
    size = renderer.defaultSize()
    image = QtGui.QImage(size, QtGui.QImage.Format.Format_RGB32)
    image.fill(QtGui.QColor("white"))
    painter = QtGui.QPainter(image)
    renderer.render(painter, QtCore.QRectF(0, 0, size.width(), size.height()))
    painter.end()
    a = rgb(image)
    assert a.shape[:2] == (contour.height(), contour.width())
    # Known values where they belong (as in the PNG): f(0.707, 0.35) near the top, f(-0.707, 0.35) the bottom;
    # the corners of the plot, inside the box, show the map (not white).
    for (x, y), check in (((0.707, 0.35), lambda c: c[0] > 150 and c[1] > 180 and c[2] < 110),
                          ((-0.707, 0.35), lambda c: c[0] < 110 and c[1] < 70 and c[2] > 60),
                          ((-1.95, -1.95), lambda c: c.max() < 230), ((1.95, 1.95), lambda c: c.max() < 230)):
        at = contour.plot.vb.mapViewToScene(QtCore.QPointF(x, y))
        colour = patch(a, at.x(), at.y())
        assert check(colour), ((x, y), colour)
    # Outside the plot (right of the colour bar's labels, under the x axis' title) it is white, not map.
    assert near(a[-3:, :], "#ffffff", 3).all()

    r = race(qtbot, window, app, shown=12)
    root = svg(exporting.export_view(window, "contour", tmp_path / "race.svg"))
    legend = [t.text for t in root.iter(SVG + "text") if t.text in r.labels]
    assert sorted(legend) == sorted(r.labels)  # both runs listed, both drawn
    assert 13 in [len(p) for p in stroked_paths(root, GD)] and 13 in [len(p) for p in stroked_paths(root, ADAM)]
    assert QSvgRenderer(str(tmp_path / "race.svg")).isValid()


def test_a_diverging_race_exports_an_svg_that_renders_cleanly(win, qtbot, tmp_path):
    """Rosenbrock with too large a step: gradient descent leaves the box for 1e30. Its path ends at the edge;
    Qt's SVG renderer draws it without a warning (it refused the 1e10-wide shape before)."""
    from PyQt6.QtSvg import QSvgRenderer

    window, app = win
    no_race(app)
    app.start("(1-x)^2 + 100(y-x^2)^2", x_range=(-2.0, 2.0), y_range=(-1.0, 3.0))
    try:
        qtbot.waitUntil(lambda: app.session.document.text.startswith("(1-x)") and app.idle
                        and app.session.grid is not None, timeout=TIMEOUT)
        app.session.set_descent_setup({"optimizers": ["gd"], "lr": 0.01, "max_steps": 50, "start_mode": "shared"})
        app.session.set_starts([{"x": -1.5, "y": 2.0}])
        qtbot.waitUntil(lambda: app.session.race is not None and not app.descent.pending, timeout=TIMEOUT)
        app.session.race.advance(app.session.race.length)
        app.descent.redraw()
        assert app.session.race.runs[0]["status"] == "diverged"
        path = exporting.export_view(window, "contour", tmp_path / "diverged.svg")
        renderer = QSvgRenderer(str(path))
        assert renderer.isValid()
        image = QtGui.QImage(renderer.defaultSize(), QtGui.QImage.Format.Format_RGB32)
        painter = QtGui.QPainter(image)
        renderer.render(painter)
        painter.end()
        clip = window.contour.plot.vb.sceneBoundingRect()
        tokens = [t for p in stroked_paths(svg(path), GD) for t in p]  # the line and its arrow heads
        xy = np.array([[float(v) for v in t.lstrip("MLZ").split(",")] for t in tokens if t not in ("Z", "z")])
        assert len(xy) > 3
        assert np.all((xy[:, 0] >= clip.left() - 1) & (xy[:, 0] <= clip.right() + 1)
                      & (xy[:, 1] >= clip.top() - 1) & (xy[:, 1] <= clip.bottom() + 1)), xy
    finally:
        no_race(app)
        app.start(FORMULA)
        qtbot.waitUntil(lambda: app.session.document.text == FORMULA and app.idle, timeout=TIMEOUT)


def test_the_export_dialog_opens_in_the_last_folder(win, tmp_path, monkeypatch):
    window, app = win
    no_race(app)
    asked = []
    folder = tmp_path / "slides"
    folder.mkdir()

    def get_save_file_name(parent, caption, start, filters, *chosen):
        asked.append(start)
        return str(folder / "map.png"), "Contour map (*.png *.svg)"

    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", get_save_file_name)
    monkeypatch.setattr(QtWidgets.QInputDialog, "getItem", lambda *a: (a[3][0], True))
    app.files.export_dialog()
    assert (folder / "map.png").exists()
    app.files.export_dialog()
    assert Path(asked[-1]).parent == folder


def test_ctrl_e_exports_with_the_focus_in_a_spin_box(win, qtbot, monkeypatch):
    window, app = win
    monkeypatch.setattr(QtWidgets.QFileDialog, "getSaveFileName", lambda *a: ("", ""))  # cancelled at once
    window.activateWindow()  # a window shortcut needs the active window
    qtbot.waitUntil(window.isActiveWindow, timeout=5000)
    for box in (window.domain.x_min, window.editor.field):
        box.setFocus()
        qtbot.waitUntil(box.hasFocus, timeout=2000)
        with qtbot.waitSignal(window.actions["export"].triggered, timeout=2000):
            target = box.lineEdit() if hasattr(box, "lineEdit") else box
            qtbot.keyClick(target, QtCore.Qt.Key.Key_E, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert window.domain.x_min.value() == -2.0  # the box itself is unchanged


# ------------------------------------------------------------------------------------------ the chain-rule graph
CHAIN = "a = (w+x+y+z)^2; b = (w+x-y-z)^2; u = (a+b)^2; v = (a-b)^2; f = (u+v)^2"


def test_the_chain_rule_graph_exports_as_png_and_svg(win, qtbot, tmp_path):
    from PyQt6.QtSvg import QSvgRenderer

    window, app = win
    no_race(app)
    with pytest.raises(StorageError, match="chain-rule graph is empty"):
        exporting.export_view(window, "chain", tmp_path / "none.png")
    app.start(CHAIN, params={"w": -1.0, "z": 1.0})
    window.docks["chain"].raise_()
    try:
        qtbot.waitUntil(lambda: app.session.document.text == CHAIN and app.idle and app.session.chain is not None
                        and window.chain.has_graph(), timeout=TIMEOUT)
        a = read_png(exporting.export_view(window, "chain", tmp_path / "chain.png", size=(1200, 700)))
        assert a.shape == (700, 1200, 3)
        assert near(a, "#1f77b4", 40).sum() > 500 and near(a, "#ff7f0e", 40).sum() > 100  # inputs' and f's boxes
        assert (a.max(axis=-1) < 90).sum() > 1000  # the numbers and names
        path = exporting.export_view(window, "chain", tmp_path / "chain.svg")
        texts = " ".join(t.text or "" for t in svg(path).iter(SVG + "text"))
        assert "∂f/∂a" in texts and "1024" in texts  # text, not a picture of it
        assert QSvgRenderer(str(path)).isValid()
    finally:
        window.docks["loss"].raise_()
        app.start(FORMULA)
        qtbot.waitUntil(lambda: app.session.document.text == FORMULA and app.idle, timeout=TIMEOUT)


def test_headless_export_of_the_chain_rule_graph(tmp_path):
    out = tmp_path / "chain.svg"
    proc = calcviz_export(CHAIN, "--view", "chain", "--out", str(out), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    assert "∂f/∂u" in out.read_text()
    png = tmp_path / "ops.png"
    proc = calcviz_export("x*exp(-x^2 - y^2)", "--view", "chain", "--size", "800x500", "--out", str(png), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    a = read_png(png)
    assert a.shape == (500, 800, 3)  # the primitive operations' graph: inputs in blue, f in orange
    r, g, b = (a[..., k].astype(int) for k in range(3))
    assert ((b - r > 60) & (b > 150)).sum() > 30 and ((r - b > 60) & (r > 200)).sum() > 30  # thin, anti-aliased
