"""models/storage.py: atomic writes and data exports. No TensorFlow, no display. (Session files:
test_session_file.py.)"""
from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from calcviz.models import storage
from calcviz.models.storage import StorageError
from results import critical_result, gd_result

ROOT = Path(__file__).resolve().parents[2]


def strict_json(text: str):
    """json.loads that refuses NaN/Infinity (what strict readers do)."""
    def refuse(name):
        raise AssertionError(f"{name} in strict JSON")
    return json.loads(text, parse_constant=refuse)



# ----------------------------------------------------------------------------- atomic writes
def test_atomic_write_creates_and_replaces(tmp_path):
    target = tmp_path / "out.csv"
    storage.atomic_write(target, "a,b\n1,2\n")
    assert target.read_text() == "a,b\n1,2\n"
    storage.atomic_write(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01" and os.listdir(tmp_path) == ["out.csv"]


def test_atomic_write_keeps_permissions_and_symlinks(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    storage.atomic_write(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    assert real.stat().st_mode & 0o777 == 0o640
    assert sorted(os.listdir(tmp_path)) == ["link.csv", "real.csv"]


class HalfThenDiskFull:
    """A file whose write gets half the bytes out, then fails as a full disk does."""

    def __init__(self, file):
        self.file = file

    def write(self, data):
        self.file.write(data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self):
        self.file.close()


def test_disk_full_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "session.json"
    target.write_text("old content")
    real_open = open
    monkeypatch.setattr(storage, "open", lambda *a, **k: HalfThenDiskFull(real_open(*a, **k)), raising=False)
    with pytest.raises(StorageError, match="cannot save session.json: the disk is full"):
        storage.atomic_write(target, "new content " * 1000)
    assert target.read_text() == "old content" and os.listdir(tmp_path) == ["session.json"]


def test_failing_writer_keeps_the_old_file(tmp_path):
    target = tmp_path / "grid.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="exporter broke"):
        with storage.atomic_writer(target) as f:
            f.write(b"partial")
            raise RuntimeError("exporter broke")
    with pytest.raises(KeyError):
        with storage.atomic_path(target) as temp:
            np.savez(temp, values=np.arange(3))
            assert temp.exists() and temp.parent == tmp_path and temp.name.endswith(".npz")
            raise KeyError("values")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["grid.npz"]


def test_failing_fsync_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "a.json"
    target.write_text("old")

    def fsync(fd):
        raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(storage.os, "fsync", fsync)
    with pytest.raises(StorageError, match="cannot save a.json: Input/output error"):
        storage.atomic_write(target, "new")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["a.json"]


def test_missing_folder_directory_and_extension(tmp_path):
    with pytest.raises(StorageError, match=r"cannot save a\.json: the folder .*nope does not exist"):
        storage.atomic_write(tmp_path / "nope" / "a.json", "{}")
    (tmp_path / "sub.json").mkdir()
    with pytest.raises(StorageError, match="sub.json: it is a folder"):
        storage.atomic_write(tmp_path / "sub.json", "{}")
    with pytest.raises(StorageError, match=r"^save as \.png or \.svg \(got \.jpg\)$"):
        storage.atomic_write(tmp_path / "plot.jpg", b"", allowed_suffixes=(".png", ".svg"))
    with pytest.raises(StorageError, match=r"save as \.csv, \.json or \.npz \(got no extension\)"):
        storage.atomic_write(tmp_path / "plot", b"", allowed_suffixes=(".csv", ".json", ".npz"))
    storage.atomic_write(tmp_path / "PLOT.PNG", b"ok", allowed_suffixes=(".png", ".svg"))
    assert sorted(os.listdir(tmp_path)) == ["PLOT.PNG", "sub.json"]


def test_unwritable_folder(tmp_path):
    if os.geteuid() == 0:  # chmod does not stop root; sysfs refuses new files to everyone
        folder = Path("/sys/kernel")
        before = sorted(os.listdir(folder))
        with pytest.raises(StorageError, match="cannot save a.json: permission denied in the folder /sys/kernel"):
            storage.atomic_write(folder / "a.json", "{}")
        assert sorted(os.listdir(folder)) == before
        return
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(StorageError, match="cannot save a.json: permission denied in the folder"):
            storage.atomic_write(folder / "a.json", "{}")
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o700)


def test_permission_denied_message(tmp_path, monkeypatch):
    # The same failure as an unwritable folder, for runs as root (where chmod does not restrict).
    real = os.open

    def refuse(path, flags, *args):
        if flags & os.O_CREAT and Path(path).parent == tmp_path:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, flags, *args)
    monkeypatch.setattr(storage.os, "open", refuse)
    with pytest.raises(StorageError, match=f"cannot save a.json: permission denied in the folder {tmp_path}"):
        storage.atomic_write(tmp_path / "a.json", "{}")
    assert os.listdir(tmp_path) == []


def test_saving_into_proc_gives_the_real_reason():
    with pytest.raises(StorageError, match=r"^cannot save a.csv: the folder /proc does not take new files "
                                           r"\(it belongs to the system, not to storage\)$"):
        storage.atomic_write("/proc/a.csv", "x")


SLOW_SAVE = """
import os, sys, time
from calcviz.models import storage
with storage.atomic_writer(sys.argv[1]) as f:
    f.write(b"x" * 2_000_000)
    f.flush()
    print(os.getpid(), flush=True)
    time.sleep(60)
"""


def test_a_save_killed_midway_leaves_its_temporary_file_until_the_next_save(tmp_path):
    import signal
    import subprocess
    import sys
    target = tmp_path / "big.json"
    target.write_text("old")
    writer = subprocess.Popen([sys.executable, "-c", SLOW_SAVE, str(target)], stdout=subprocess.PIPE, text=True,
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        pid = int(writer.stdout.readline())  # it is writing now
        # a second writer of the same target while the first is alive leaves the first one's work alone
        storage.atomic_write(target, "second")
        left = [name for name in os.listdir(tmp_path) if name != "big.json"]
        assert len(left) == 1 and left[0].startswith(f".big.{pid}-") and left[0].endswith(".tmp.json")
        assert (tmp_path / left[0]).stat().st_size == 2_000_000
        os.kill(pid, signal.SIGKILL)  # no handler runs: the temporary file stays
    finally:
        writer.kill()
        writer.wait(10)  # reaped: the process id is free
    assert sorted(os.listdir(tmp_path)) == sorted(["big.json", left[0]]) and target.read_text() == "second"
    storage.atomic_write(tmp_path / "other.json", "{}")  # another target's save leaves it too
    assert left[0] in os.listdir(tmp_path)
    storage.atomic_write(target, "third")
    assert sorted(os.listdir(tmp_path)) == ["big.json", "other.json"] and target.read_text() == "third"


# ----------------------------------------------------------------------------- exports
def test_runs_csv_round_trip_to_full_precision():
    result = gd_result()
    rows = list(csv.reader(io.StringIO(storage.runs_csv(result))))
    assert rows[0] == ["run", "optimizer", "step", "x", "y", "value", "grad_norm"]  # calcviz descend --csv's
    expected = [(k, p) for k, run in enumerate(result["runs"]) for p in run["path"]]
    assert len(rows) - 1 == len(expected) == 7 + 5
    for row, (k, p) in zip(rows[1:], expected):
        assert row[:3] == [str(k), "gd", str(p["step"])]
        assert [float(c) for c in row[3:]] == [p["point"]["x"], p["point"]["y"], p["value"], p["grad_norm"]]
    # lr = 0.45 shrinks the second run by 1 - 2 lr = 0.1 a step
    assert float(rows[8 + 2][3]) == pytest.approx(0.3 * 0.1 ** 2, rel=1e-14)


def test_runs_csv_without_paths_gives_where_each_run_stopped():
    result = gd_result()
    for run in result["runs"]:
        del run["path"]
    rows = list(csv.reader(io.StringIO(storage.runs_csv(result))))
    first = result["runs"][0]
    assert rows[1] == ["0", "gd", "6", *map(repr, (first["point"]["x"], first["point"]["y"], first["value"],
                                                   first["grad_norm"]))]
    assert float(rows[1][3]) == pytest.approx(0.8 ** 6, rel=1e-14)
    assert len(rows) == 3 and rows[2][2] == "4"


def test_runs_json_round_trip_and_strict():
    result = gd_result()
    result["runs"][1]["path"][-1]["value"] = math.nan
    back = strict_json(storage.runs_json(result))
    assert back["runs"][1]["path"][-1]["value"] is None
    result["runs"][1]["path"][-1]["value"] = None
    assert back == result


def test_critical_exports():
    result = critical_result()
    rows = list(csv.reader(io.StringIO(storage.critical_csv(result))))
    assert rows == [["x", "y", "value", "type", "eigenvalue_1", "eigenvalue_2", "grad_norm", "global_min",
                     "global_max"], ["0.0", "0.0", "0.0", "saddle", "-2.0", "2.0", "0.0", "false", "false"]]
    result["seconds"] = math.inf
    back = strict_json(storage.critical_json(result))
    assert back["seconds"] is None and back["critical_points"] == result["critical_points"]


def surface_grid() -> dict:
    xs, ys = np.linspace(-1.0, 2.0, 7), np.linspace(0.0, 1.0, 5)
    value = (xs[:, None] ** 2 + np.sqrt(ys[None, :]) / 3).astype(np.float32)
    value[2, 3] = np.nan
    return {"axes": ["x", "y"], "coords": [xs, ys], "value": value, "d1": None, "d2": None}


def test_grid_npz_round_trip(tmp_path):
    grid = surface_grid()
    target = tmp_path / "grid.npz"
    storage.grid_npz(grid, target)
    with np.load(target) as data:
        assert list(data["axes"]) == ["x", "y"]
        np.testing.assert_array_equal(data["xs"], grid["coords"][0])
        np.testing.assert_array_equal(data["ys"], grid["coords"][1])
        np.testing.assert_array_equal(data["values"], grid["value"])  # NaN where NaN
        assert data["values"].dtype == np.float32
    assert os.listdir(tmp_path) == ["grid.npz"]
    with pytest.raises(StorageError, match=r"save as \.npz \(got \.csv\)"):
        storage.grid_npz(grid, tmp_path / "grid.csv")


def test_grid_csv_long_format_round_trip():
    grid = surface_grid()
    rows = list(csv.reader(io.StringIO(storage.grid_csv(grid))))
    assert rows[0] == ["x", "y", "f"] and len(rows) == 1 + 7 * 5
    table = np.array([[float(c) for c in row] for row in rows[1:]])
    xs, ys = grid["coords"]
    np.testing.assert_array_equal(table[:, 0], np.repeat(xs, 5))
    np.testing.assert_array_equal(table[:, 1], np.tile(ys, 7))
    np.testing.assert_array_equal(table[:, 2].astype(np.float32).reshape(7, 5), grid["value"])
    assert rows[1 + 2 * 5 + 3][2] == "nan"
    assert rows[1 + 4 * 5][:3] == ["1.0", "0.0", "1.0"]  # 1 + 0 in float32: no float64 digits of round-off
    assert rows[1 + 4 * 5 + 1][2] == str(np.float32(1 + np.sqrt(0.25) / 3)) == "1.1666666"


def test_grid_csv_one_axis():
    grid = {"axes": ["t"], "coords": [np.array([0.0, 0.5, 1.0])], "value": np.array([1.0, 0.25, 0.0])}
    assert storage.grid_csv(grid) == "t,f\r\n0.0,1.0\r\n0.5,0.25\r\n1.0,0.0\r\n"
