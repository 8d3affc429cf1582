"""Sessions in the window: save, close, reopen exactly (no run recomputed); broken files change nothing."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PyQt6 import QtCore

from ui import TIMEOUT, open_window

HIMMELBLAU = "(x^2+y-11)^2 + (x+y^2-7)^2"


@pytest.fixture(scope="module")
def app_window(qapp):
    yield from open_window(HIMMELBLAU, x_range=(-5.0, 5.0), y_range=(-5.0, 5.0))


def settled(app):
    return (app.session.grid is not None and app.idle and app.session.critical is not None
            and not app.descent.pending)


@pytest.fixture
def saved(app_window, qtbot, tmp_path):
    """The window with a race of two optimizers five steps in, a point, toggles and a turned camera: saved."""
    window, app = app_window
    qtbot.waitUntil(lambda: settled(app), timeout=TIMEOUT)
    app.session.set_descent_setup({"optimizers": ["gd", "adam"], "lr": 0.01, "max_steps": 300})
    app.session.set_starts([{"x": 0.5, "y": -0.5}])
    qtbot.waitUntil(lambda: app.session.race is not None and not app.descent.pending, timeout=TIMEOUT)
    app.session.race.advance(5)
    app.descent.redraw()
    app.session.select(1.0, 1.5)
    qtbot.waitUntil(lambda: app.session.point is not None and app.idle, timeout=TIMEOUT)
    window.actions["field"].setChecked(True)
    window.surface.gl.setCameraPosition(distance=40.0, elevation=50.0, azimuth=10.0)
    window.surface.cameraMoved.emit(window.surface.camera())  # as the end of a drag does
    path = tmp_path / "himmelblau.json"
    assert app.files.save_to(path)
    return window, app, path


def drawn(window):
    """What the views hold: paths on the contour and surface, loss values, the selected point."""
    out = {}
    for label in window.contour.path_labels():
        out[label] = (np.column_stack(window.contour.path_data(label)), window.surface.path_positions(label).copy(),
                      window.loss.curves()[label][0].getData()[1].copy())
    return out


def test_save_close_reopen_restores_the_same_plot_and_paths(saved, qtbot):
    window, app, path = saved
    before = drawn(window)
    assert set(before) == {"Gradient descent", "Adam"} and all(len(v[0]) == 6 for v in before.values())
    doc, selected, grid = app.session.document, app.session.selected, app.session.grid["value"].copy()
    gen = open_window("x^2 + y^2")  # a second window, as after a restart
    window2, app2 = next(gen)
    try:
        qtbot.waitUntil(lambda: app2.session.grid is not None and app2.idle, timeout=TIMEOUT)
        assert app2.files.open(path)
        qtbot.waitUntil(lambda: app2.session.grid is not None and app2.session.document.text == HIMMELBLAU
                        and app2.idle, timeout=TIMEOUT)
        assert app2.session.document == doc and app2.session.selected == selected
        np.testing.assert_array_equal(app2.session.grid["value"], grid)
        after = drawn(window2)
        assert set(after) == set(before)
        for label in before:
            for a, b in zip(before[label], after[label]):
                np.testing.assert_array_equal(a, b)
        # The runs came from the file: nothing was asked of the engine for them.
        assert app2.session.race.shown == 5 and "descend" not in app2.bridge.client.latest
        assert window2.actions["field"].isChecked()
        opts = window2.surface.gl.opts
        assert (opts["distance"], opts["elevation"], opts["azimuth"]) == (40.0, 50.0, 10.0)
        assert window2.descent.setup()["optimizers"] == ["gd", "adam"]  # the panel shows the saved setup
        assert window2.windowTitle().endswith("himmelblau.json")
    finally:
        for _ in gen:
            pass


BROKEN = [
    ("", "the file is empty"),
    ('{"format": "calcviz-session", "version": 1, "document": {"text": "x^2"', "truncated"),
    ("[1, 2, 3]", "holds a list, not an object"),
    ('{"format": "something-else", "version": 1}', "not a calcviz session"),
    ('{"format": "calcviz-session", "version": 99, "document": {}}', "newer calcviz"),
    ('{"format": "calcviz-session", "version": 1, "document": {"text": "x^2 + sin(y", "x_range": [-1, 1], '
     '"y_range": [-1, 1], "n": 50, "axes": ["x", "y"], "params": {}}}', "never closed"),
    ('{"format": "calcviz-session", "version": 1, "document": {"text": "x^2", "x_range": [1, -1], '
     '"y_range": [-1, 1], "n": 50, "axes": ["x"], "params": {}}}', "x_range"),
    ('{"format": "calcviz-session", "version": 1, "document": {"text": "x^2", "x_range": [-1, 1], '
     '"y_range": [-1, 1], "n": 1000000000, "axes": ["x"], "params": {}}}', "document.n"),
    ("[" * 100000 + "]" * 100000, "nests too deeply"),
]


@pytest.mark.parametrize("text, message", BROKEN, ids=[m for _, m in BROKEN])
def test_a_broken_session_is_refused_and_nothing_changes(saved, qtbot, tmp_path, text, message):
    window, app, _ = saved
    doc, race = app.session.document, app.session.race
    shown = drawn(window)
    broken = tmp_path / "broken.json"
    broken.write_text(text)
    assert not app.files.open(broken)
    assert message.lower() in window.message.full_text().lower() and window.message.full_text().startswith("Not opened")
    assert app.session.document == doc and app.session.race is race
    after = drawn(window)
    for label in shown:
        np.testing.assert_array_equal(shown[label][0], after[label][0])


def test_the_saved_file_is_a_versioned_json_session(saved):
    _, _, path = saved
    data = json.loads(path.read_text())
    assert data["format"] == "calcviz-session" and data["version"] == 1
    assert data["document"]["text"] == HIMMELBLAU
    assert [r["optimizer"] for r in data["descent"]["result"]["runs"]] == ["gd", "adam"]
    assert data["descent"]["shown_steps"] == 5 and data["selected"] == [1.0, 1.5]


def test_an_unwritable_save_says_so_and_keeps_the_good_file(saved, tmp_path):
    window, app, path = saved
    good = path.read_bytes()
    assert not app.files.save_to(tmp_path / "missing" / "s.json")
    assert "Not saved" in window.message.full_text() and "folder" in window.message.full_text()
    assert not app.files.save_to(path.with_suffix(".txt"))
    assert path.read_bytes() == good


def test_recent_files_list_the_saved_session(saved):
    window, _, path = saved
    names = [a.toolTip() for a in window.recent_menu.actions()]
    assert str(path) in names
    assert window.actions["save"].shortcut().toString() == "Ctrl+S"
    assert window.actions["open"].shortcut().toString() == "Ctrl+O"
    assert window.actions["export"].shortcut().toString() == "Ctrl+E"
    assert QtCore.QSettings().value("recent", [], type=list)[0] == str(path)


def test_headless_export_opens_a_session_with_its_paths(saved, tmp_path):
    """calcviz export SESSION draws the saved race (not a recomputed one) to an SVG."""
    import os
    import subprocess
    import sys
    import xml.etree.ElementTree as ET

    window, app, path = saved
    out = tmp_path / "contour.svg"
    proc = subprocess.run([sys.executable, "-m", "calcviz", "export", str(path), "--view", "contour", "--out", str(out),
                           "--device", "cpu"], capture_output=True, text=True, timeout=240, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg") and len(list(root.iter())) > 50
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "calcviz-session", "version": 7}')
    proc = subprocess.run([sys.executable, "-m", "calcviz", "export", str(broken), "--view", "contour", "--out",
                           str(out), "--device", "cpu"], capture_output=True, text=True, timeout=240, env=dict(os.environ))
    assert proc.returncode == 2 and "newer calcviz" in proc.stderr


def test_closing_saves_the_last_session_and_the_next_launch_reopens_it(saved, qtbot):
    window, app, _ = saved
    window.closing.emit()  # what closing the window does first
    gen = open_window("x^2 + y^2")
    window2, app2 = next(gen)
    try:
        qtbot.waitUntil(lambda: app2.session.grid is not None and app2.idle, timeout=TIMEOUT)
        assert app2.files.open_last()
        qtbot.waitUntil(lambda: app2.session.document.text == HIMMELBLAU and app2.idle, timeout=TIMEOUT)
        assert app2.session.document == app.session.document and app2.session.selected == app.session.selected
        assert app2.session.race.shown == app.session.race.shown
        assert QtCore.QSettings().value("geometry") is not None
    finally:
        for _ in gen:
            pass


def test_file_export_writes_runs_critical_points_and_grid_that_read_back(saved, tmp_path):
    import csv

    window, app, _ = saved
    race = app.session.race
    files = app.files
    assert files.export("runs", tmp_path / "runs.csv") and files.export("runs", tmp_path / "runs.json")
    rows = list(csv.DictReader(open(tmp_path / "runs.csv")))
    gd = [r for r in rows if r["optimizer"] == "gd"]
    assert [float(r["x"]) for r in gd] == [p["point"]["x"] for p in race.runs[0]["path"]]
    data = json.loads((tmp_path / "runs.json").read_text())
    assert data["runs"][1]["path"][3]["value"] == race.runs[1]["path"][3]["value"]
    assert files.export("critical", tmp_path / "critical.csv")
    rows = list(csv.DictReader(open(tmp_path / "critical.csv")))
    assert len(rows) == 9 and sum(r["global_min"] == "true" for r in rows) == 4
    assert files.export("grid", tmp_path / "grid.npz")
    grid = np.load(tmp_path / "grid.npz")
    np.testing.assert_array_equal(grid["values"], app.session.grid["value"])
    assert files.export("contour", tmp_path / "contour.png", (640, 480))
    assert not files.export("contour", tmp_path / "contour.jpg")
    assert "Not exported" in window.message.full_text() and ".jpg" in window.message.full_text()


def poisoned_session(path) -> None:
    """A last session as an earlier calcviz saved it: a parameter at 1e308 in +-1.7e308 (refused today;
    it used to break every launch with 'cannot convert float NaN to integer')."""
    from calcviz.models.settings import Settings, file_of

    state = file_of(Settings.for_text("a x^2 + y^2", n=50))
    state["document"]["params"] = {"a": {"value": 1e308, "min": -1.7e308, "max": 1.7e308}}
    path.write_text(json.dumps(state))


def test_a_last_session_that_cannot_be_shown_never_stops_a_launch_and_is_kept(qapp, qtbot, monkeypatch):
    from calcviz.controllers import files

    last = files.data_folder() / files.LAST_SESSION
    poisoned_session(last)
    text = last.read_text()
    gen = open_window("x^2 + y^2")
    window, app = next(gen)
    try:
        assert not app.files.open_last()
        assert "could not be reopened" in window.message.full_text() and "kept as" in window.message.full_text()
        assert not last.exists()  # set aside, not read again at the next launch...
        kept = list(last.parent.glob("last-session-unreadable-*.json"))
        assert [k.read_text() for k in kept] == [text]  # ...and not lost
        # A session the loader accepts but the window fails to show: the launch goes on all the same.
        assert app.files.save_to(last)
        monkeypatch.setattr(app.session, "restore", lambda checked: 1 / 0)
        assert not app.files.open_last()
        app.start("x^2 + y^2")
        qtbot.waitUntil(lambda: app.session.grid is not None and app.idle, timeout=TIMEOUT)
        assert app.session.document.text == "x^2 + y^2"
    finally:
        for _ in gen:
            pass
        for k in last.parent.glob("last-session-unreadable-*.json"):
            k.unlink()


def test_headless_export_leaves_the_last_session_and_layout_alone(tmp_path):
    """`calcviz export` draws with a hidden window; closing it used to overwrite the user's last session."""
    import os
    import subprocess
    import sys

    home = tmp_path / "home"
    env = {**os.environ, "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data")}
    last = home / "data" / "calcviz" / "calcviz" / "last-session.json"
    last.parent.mkdir(parents=True)
    from calcviz.models import storage
    from calcviz.models.settings import Settings, file_of

    storage.save_session(last, file_of(Settings.for_text("x^3 - 3x y^2")))
    before = last.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "calcviz", "export", "sin(x)*cos(y)", "--view", "contour", "--out",
                           str(tmp_path / "c.png"), "--device", "cpu"], capture_output=True, text=True, timeout=240,
                          env=env)
    assert proc.returncode == 0, proc.stderr
    assert last.read_bytes() == before
    assert not (home / "config" / "calcviz" / "calcviz.conf").exists()  # no geometry or layout saved either
