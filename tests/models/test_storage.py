"""models/storage.py: atomic writes, session files, data exports. No TensorFlow, no display."""
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

from calcviz.models import descent, storage
from calcviz.models.session import Document
from calcviz.models.storage import SessionError, StorageError

ROOT = Path(__file__).resolve().parents[2]


def strict_json(text: str):
    """json.loads that refuses NaN/Infinity (what strict readers do)."""
    def refuse(name):
        raise AssertionError(f"{name} in strict JSON")
    return json.loads(text, parse_constant=refuse)


def gd_run(start, lr: float, steps: int) -> dict:
    """Plain gradient descent on x^2 + y^2, by hand: g = 2p, p_{k+1} = p_k - lr g = (1 - 2 lr) p_k."""
    path = []
    x, y = start
    for k in range(steps + 1):
        g = (2 * x, 2 * y)
        last = k == steps
        path.append({"step": k, "point": {"x": x, "y": y}, "value": x * x + y * y,
                     "gradient": {"x": g[0], "y": g[1]}, "grad_norm": math.hypot(*g), "learning_rate": lr,
                     "update": None if last else {"x": -lr * g[0], "y": -lr * g[1]}})
        x, y = x - lr * g[0], y - lr * g[1]
    final = path[-1]
    return {"optimizer": "gd", "hyperparameters": {}, "learning_rate": lr, "schedule": {"name": "constant"},
            "start": {"x": start[0], "y": start[1]}, "status": "max_steps", "steps": steps,
            "message": f"stopped after {steps} steps", "point": final["point"], "value": final["value"],
            "grad_norm": final["grad_norm"], "stable_learning_rate": None, "path": path}


def gd_result() -> dict:
    return {"variables": ["x", "y"], "box": [[-5.0, 5.0], [-5.0, 5.0]],
            "runs": [gd_run((1.0, -2.0), 0.1, 6), gd_run((0.3, 0.7), 0.45, 4)],
            "params": {"a": 1.0}, "device": "CPU", "seconds": 0.01}


def critical_result() -> dict:
    """x^2 - y^2 on [-1, 1]^2: one saddle at the origin, Hessian diag(2, -2)."""
    return {"axes": ["x", "y"], "critical_points": [
        {"point": {"x": 0.0, "y": 0.0}, "value": 0.0, "type": "saddle", "eigenvalues": [-2.0, 2.0],
         "grad_norm": 0.0, "global_min": False, "global_max": False}],
        "complete": True, "note": "", "seeds": 2304, "device": "CPU", "seconds": 0.02}


SETUP = {"optimizers": ["gd"], "lr": 0.1, "hyperparameters": {"adam": {"beta_1": 0.8}},
         "schedule": {"name": "constant"}, "steps_per_click": 10, "max_steps": 1000, "tol": 1e-8, "speed": 20.0,
         "start_mode": "shared"}
VIEW = {"camera": {"distance": 12.5, "elevation": 30.0, "azimuth": -45.0, "center": (0.0, 0.0, 1.5)},
        "toggles": {"field": True, "critical_markers": False}, "angle": 30.0, "log_scale": None}


def full_state() -> dict:
    document = Document("a x^2 + y^2", (-3.0, 3.0), (-2.0, 2.5), 150, ("x", "y"),
                        {"a": {"value": 1.0, "min": -5.0, "max": 5.0}})
    descent_state = {"setup": SETUP, "starts": [{"x": 1.0, "y": -2.0}, {"x": 0.3, "y": 0.7}], "shown_steps": 6,
                     "result": gd_result()}
    return storage.make_session(document, view=VIEW, selected=(0.5, -1.25), descent=descent_state,
                                critical=critical_result(), saved="2025-01-02T03:04:05+00:00")


# ----------------------------------------------------------------------------- sessions: round trips
def test_session_round_trip_gives_the_same_state():
    state = full_state()
    text = storage.session_to_text(state)
    strict_json(text)
    back = storage.parse_session(text)
    assert back == state
    assert back["document"] == {"text": "a x^2 + y^2", "x_range": (-3.0, 3.0), "y_range": (-2.0, 2.5), "n": 150,
                                "axes": ("x", "y"), "params": {"a": {"value": 1.0, "min": -5.0, "max": 5.0}}}
    assert back["selected"] == (0.5, -1.25) and back["view"]["camera"]["center"] == (0.0, 0.0, 1.5)
    # GD on x^2 + y^2 with lr = 0.1 shrinks the point by 0.8 a step: read back to the last bit.
    path = back["descent"]["result"]["runs"][0]["path"]
    assert [p["point"]["x"] for p in path] == [p["point"]["x"] for p in gd_run((1.0, -2.0), 0.1, 6)["path"]]
    assert path[3]["point"]["y"] == pytest.approx(-2.0 * 0.8 ** 3, rel=1e-15)
    assert back["critical"]["critical_points"][0]["eigenvalues"] == [-2.0, 2.0]


def test_save_and_load_session_file(tmp_path):
    state = full_state()
    target = tmp_path / "work.json"
    storage.save_session(target, state)
    assert storage.load_session(target) == state
    assert os.listdir(tmp_path) == ["work.json"]
    doc = storage.document_from_state(storage.load_session(target))
    assert doc == Document("a x^2 + y^2", (-3.0, 3.0), (-2.0, 2.5), 150, ("x", "y"),
                           {"a": {"value": 1.0, "min": -5.0, "max": 5.0}})
    with pytest.raises(StorageError, match=r"save as \.json \(got \.txt\)"):
        storage.save_session(tmp_path / "work.txt", state)


def test_minimal_session_defaults_and_ignores_unknown_keys():
    text = json.dumps({"format": "calcviz-session", "version": 1, "from_the_future": [1, 2],
                       "document": {"text": "k sin(x) + y", "x_range": [-1, 1], "y_range": [0, 2], "n": 64,
                                    "axes": ["x", "y"], "params": {}, "colour": "red"}})
    state = storage.parse_session(text)
    assert "from_the_future" not in state and "colour" not in state["document"]
    assert state["view"] == {"camera": None, "toggles": {}, "angle": 0.0, "log_scale": None}
    assert state["selected"] is None and state["descent"] is None and state["critical"] is None
    doc = storage.document_from_state(state)
    assert doc.x_range == (-1.0, 1.0) and isinstance(doc.x_range[0], float)
    assert doc.params == {"k": {"value": 1.0, "min": -5.0, "max": 5.0}}  # a missing parameter gets the defaults


def test_non_finite_numbers_are_written_as_null_and_read_back_as_nan():
    result = gd_result()
    run = result["runs"][0]
    run["path"][-1]["value"] = math.inf
    run["path"][-1]["point"]["x"] = math.nan
    run["value"] = math.inf
    state = full_state()
    state["descent"]["result"] = result
    text = storage.session_to_text(state)
    assert "NaN" not in text and "Infinity" not in text
    raw = strict_json(text)["descent"]["result"]["runs"][0]
    assert raw["path"][-1]["value"] is None and raw["path"][-1]["point"]["x"] is None
    back = storage.parse_session(text)["descent"]["result"]["runs"][0]
    assert math.isnan(back["path"][-1]["value"]) and math.isnan(back["path"][-1]["point"]["x"])
    assert back["path"][-1]["point"]["y"] == run["path"][-1]["point"]["y"]
    assert back["path"][-1]["update"] is None and back["stable_learning_rate"] is None  # real nulls stay


def test_document_from_state_checks_a_hand_made_state():
    state = full_state()
    state["document"] = dict(state["document"], n=1)
    with pytest.raises(SessionError, match="document.n must be a whole number from 2 to 2000"):
        storage.document_from_state(state)


def test_session_text_loads_with_a_byte_order_mark(tmp_path):
    target = tmp_path / "bom.json"
    target.write_bytes(b"\xef\xbb\xbf" + storage.session_to_text(full_state()).encode())
    assert storage.load_session(target)["document"]["n"] == 150


def test_every_cut_of_a_session_file_is_reported_as_truncated():
    text = storage.session_to_text(storage.make_session(Document("x^2 - 3y"), saved="now"))
    for cut in range(1, len(text) - 1):
        with pytest.raises(SessionError, match="ends too early") as info:
            storage.parse_session(text[:cut])
        assert "JSON error at line 1 column" in str(info.value)


def test_sessions_refuse_what_the_engine_would_refuse():
    from calcviz.models.engine import MAX_GRID  # one constant (models/session.py), the same object
    assert storage.MAX_GRID is MAX_GRID == 2000
    state = json.loads(storage.session_to_text(full_state()))
    state["document"]["n"] = MAX_GRID + 1
    with pytest.raises(SessionError, match="document.n"):
        storage.parse_session(json.dumps(state))


# ----------------------------------------------------------------------------- sessions: refused
def base() -> dict:
    return json.loads(storage.session_to_text(full_state()))


def changed(edit):
    """A session file: the full state as JSON, changed by ``edit(data)``."""
    def make(tmp_path):
        data = base()
        edit(data)
        path = tmp_path / "s.json"
        path.write_text(json.dumps(data))
        return path
    return make


def raw(content: bytes | str):
    def make(tmp_path):
        path = tmp_path / "s.json"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path
    return make


def truncated(tmp_path):
    return raw(storage.session_to_text(full_state())[:700])(tmp_path)


def x_range_text(text: str):
    """The full state as JSON with document.x_range written as ``text`` (what json.dumps never writes)."""
    def make(tmp_path):
        data = json.dumps(base())
        assert data.count('"x_range": [-3.0, 3.0]') == 1
        return raw(data.replace('"x_range": [-3.0, 3.0]', f'"x_range": {text}'))(tmp_path)
    return make


def too_large(tmp_path):
    path = tmp_path / "s.json"
    with open(path, "wb") as f:
        f.truncate(storage.MAX_FILE_BYTES + 1)  # sparse: no disk used, and never read
    return path


def put(where: str, value):
    """An edit setting data[a][b]... (dotted path; integers index lists)."""
    *parents, last = [int(k) if k.isdigit() else k for k in where.split(".")]

    def edit(data):
        for k in parents:
            data = data[k]
        data[last] = value
    return edit


def drop(where: str):
    *parents, last = where.split(".")

    def edit(data):
        for k in parents:
            data = data[k]
        del data[last]
    return edit


BROKEN = [
    ("empty file", raw(b""), "the file is empty"),
    ("truncated JSON", truncated, "ends too early (truncated?)"),
    ("not an object", raw("[1, 2, 3]"), "it holds a list, not an object"),
    ("wrong format", changed(put("format", "spreadsheet")), 'its format is "spreadsheet"'),
    ("no format", changed(drop("format")), 'it has no "format" entry'),
    ("future version", changed(put("version", 3)),
     "written by a newer calcviz (format version 3; this one reads up to 1)"),
    ("NaN number", x_range_text("[NaN, 3.0]"), "it contains NaN, which is not a JSON number"),
    ("Infinity number", x_range_text("[-Infinity, 3.0]"), "it contains -Infinity, which is not a JSON number"),
    ("huge number", x_range_text("[-1e999, 3.0]"), "document.x_range must be two finite numbers"),
    ("5000-digit integer", raw('{"a": 1.5,\n "n": 1' + "0" * 5000 + "}"),
     "it holds a whole number of 5001 digits at line 2 column 7; calcviz reads numbers of up to 4300 digits"),
    ("missing text", changed(drop("document.text")), "document.text is missing"),
    ("text not text", changed(put("document.text", 5)), "document.text must be text (got a number)"),
    ("syntax error", changed(put("document.text", "x^2 +* y")),
     "document.text is not a formula calcviz can read: '*' needs something on its left (column 6)"),
    ("unknown function", changed(put("document.text", "sinn(x) + y")), "unknown function 'sinn'"),
    ("x_range reversed", changed(put("document.x_range", [2, -2])),
     "document.x_range must be two finite numbers, low < high (got [2, -2])"),
    ("y_range of three", changed(put("document.y_range", [0, 1, 2])), "document.y_range must be two finite numbers"),
    ("n = 10**9", changed(put("document.n", 10**9)),
     "document.n must be a whole number from 2 to 2000 (got 1000000000)"),
    ("n not whole", changed(put("document.n", 200.5)), "document.n must be a whole number"),
    ("axes not inputs", changed(put("document.axes", ["x", "z"])),
     "document.axes names 'z', which is not an input of the formula (its inputs: x, y, a)"),
    ("params naming non-inputs", changed(put("document.params.q", {"value": 1, "min": 0, "max": 2})),
     "document.params names 'q', which is not an input"),
    ("param value missing", changed(drop("document.params.a.value")), "document.params.a.value is missing"),
    ("selected of one number", changed(put("selected", [0.5])), "selected must be one number per axis"),
    ("camera distance 0", changed(put("view.camera.distance", 0)), "view.camera.distance must be positive"),
    ("toggle not a flag", changed(put("view.toggles.field", "yes")), "view.toggles.field must be true or false"),
    ("unknown optimizer", changed(put("descent.setup.optimizers", ["gd", "sgdx"])), "unknown optimizer 'sgdx'"),
    ("unknown run optimizer", changed(put("descent.result.runs.0.optimizer", "lbfgs")), "unknown optimizer 'lbfgs'"),
    ("bad hyperparameter", changed(put("descent.setup.hyperparameters.adam.beta_1", 1.5)),
     "descent.setup.hyperparameters.adam: beta_1 must be in [0, 1)"),
    ("bad start mode", changed(put("descent.setup.start_mode", "all")),
     "descent.setup.start_mode must be shared or each"),
    ("runs list of 1000", changed(put("descent.result.runs", [{}] * 1000)),
     "descent.result.runs has 1000 entries; at most 64 are allowed"),
    ("path too long", changed(put("descent.result.runs.0.path", [0] * (descent.MAX_STEPS + 2))),
     f"descent.result.runs[0].path has {descent.MAX_STEPS + 2} entries; at most {descent.MAX_STEPS + 1}"),
    ("path step out of place", changed(put("descent.result.runs.0.path.2.step", 5)),
     "descent.result.runs[0].path[2].step must be 2"),
    ("path point missing y", changed(put("descent.result.runs.1.path.0.point", {"x": 1.0})),
     "descent.result.runs[1].path[0].point must give a number (or null) for each of x, y"),
    ("critical type", changed(put("critical.critical_points.0.type", "bowl")),
     "critical.critical_points[0].type must be min, max, saddle or degenerate"),
    ("critical points not a list", changed(put("critical.critical_points", {"x": 1})),
     "critical.critical_points must be a list"),
    ("nested 10**5 deep", raw("[" * 10**5), "nests too deeply"),
    ("nested 100 deep", raw("[" * 100 + "]" * 100), "nests more than 32 levels deep"),
    ("binary garbage", raw(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"),
     "it is not UTF-8 text (byte 0x89 at offset 0)"),
    ("over 100 MB", too_large, "too large to be a calcviz session (over 100 MB)"),
    ("a directory", lambda tmp_path: tmp_path, "is a folder, not a session file"),
    ("a missing file", lambda tmp_path: tmp_path / "nothing.json", "there is no file"),
]


@pytest.mark.parametrize("make, fragment", [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_broken_session_files_are_refused(tmp_path, make, fragment):
    path = make(tmp_path)
    with pytest.raises(SessionError) as info:
        storage.load_session(path)
    assert fragment in str(info.value)


def test_a_long_integer_is_worded_for_a_user(tmp_path):
    with pytest.raises(SessionError) as info:
        storage.load_session(raw('[1.' + "0" * 6000 + ', -' + "9" * 4400 + ']')(tmp_path))
    message = str(info.value)
    assert "a whole number of 4400 digits at line 1 column 6007" in message  # not the long fraction
    assert "set_int_max_str_digits" not in message


def refused_within(seconds: float, path: Path) -> str:
    """load_session(path)'s refusal, run in a thread so that a blocking open fails the test, not hangs it."""
    import threading
    outcome: list = []
    thread = threading.Thread(target=lambda: outcome.append(_refusal(path)), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        with open(path, "wb"):  # a writer unblocks the reader (a FIFO), so the thread can end
            pass
        thread.join(seconds)
        pytest.fail(f"load_session({path}) blocked for {seconds} s")
    return outcome[0]


def _refusal(path: Path) -> str:
    try:
        storage.load_session(path)
    except SessionError as exc:
        return str(exc)
    return "loaded"


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "session.json"
    os.mkfifo(fifo)
    assert refused_within(10, fifo) == f"{fifo} is not a regular file (a named pipe (FIFO)), so it cannot be a session file"


def test_devices_and_sockets_are_refused(tmp_path):
    import socket
    assert refused_within(10, Path("/dev/zero")) == \
        "/dev/zero is not a regular file (a device), so it cannot be a session file"
    path = tmp_path / "s.json"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
        server.listen()
        assert refused_within(10, path) == f"{path} is not a regular file (a socket), so it cannot be a session file"


def test_the_base_of_the_broken_files_loads(tmp_path):
    assert storage.load_session(changed(lambda data: None)(tmp_path)) == full_state()


def test_unreadable_file_is_refused(tmp_path, monkeypatch):
    path = raw("{}")(tmp_path)
    real_open = open

    def denied(file, *args, **kwargs):
        if Path(file) == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)
    monkeypatch.setattr(storage, "open", denied, raising=False)
    with pytest.raises(SessionError, match="cannot read .*s.json: permission denied"):
        storage.load_session(path)


def test_too_large_session_is_not_saved(monkeypatch):
    monkeypatch.setattr(storage, "MAX_FILE_BYTES", 1000)
    with pytest.raises(SessionError, match="too large to save"):
        storage.session_to_text(full_state())


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
