"""Session files: the Session's own schema (models/settings.py) read and written through
models/storage.py. Every refusal names the field. No TensorFlow, no display."""
from __future__ import annotations

import errno
import json
import math
import os
from pathlib import Path

import pytest

from calcviz.models import descent, storage
from calcviz.models.session import Session
from calcviz.models.settings import Document, Settings, file_of, settings_of, strict_json as as_json
from calcviz.models.storage import SessionError, StorageError
from results import critical_result, gd_result, gd_run


def strict_json(text: str):
    """json.loads that refuses NaN/Infinity (what strict readers do)."""
    def refuse(name):
        raise AssertionError(f"{name} in strict JSON")
    return json.loads(text, parse_constant=refuse)


def document() -> Document:
    return Document.model_validate({"text": "a x^2 + y^2", "x_range": (-3.0, 3.0), "y_range": (-2.0, 2.5), "n": 150,
                                    "axes": ("x", "y"), "params": {"a": {"value": 1.0, "min": -5.0, "max": 5.0}}})


SETUP = {"optimizers": ["gd"], "lr": 0.1, "hyperparameters": {"adam": {"beta_1": 0.8}},
         "schedule": {"name": "constant"}, "steps_per_click": 10, "max_steps": 1000, "tol": 1e-8, "speed": 20.0,
         "start_mode": "shared"}
VIEW = {"camera": {"distance": 12.5, "elevation": 30.0, "azimuth": -45.0, "center": (0.0, 0.0, 1.5)},
        "toggles": {"field": True, "critical_markers": False}, "angle": 30.0, "log_scale": None}


def full_state() -> dict:
    """A session file (JSON-shaped) with every part: view, point, a two-run race six steps in, critical points."""
    settings = Settings.model_validate({"document": document(), "view": VIEW, "selected": (0.5, -1.25),
                                        "descent": {"setup": {**SETUP, "start_mode": "each", "optimizers": ["gd", "adam"]},
                                                    "starts": [{"x": 1.0, "y": -2.0}, {"x": 0.3, "y": 0.7}]}})
    return file_of(settings, race=gd_result(), shown_steps=6, critical_result=critical_result(),
                   saved="2025-01-02T03:04:05+00:00")


# ----------------------------------------------------------------------------- sessions: round trips
def test_session_round_trip_gives_the_same_state():
    state = full_state()
    text = storage.session_to_text(state)
    strict_json(text)
    back = storage.parse_session(text)
    assert as_json(back) == state
    assert back.document == document() and back.document.params["a"].value == 1.0
    assert back.selected == (0.5, -1.25) and back.view.camera.center == (0.0, 0.0, 1.5)
    # GD on x^2 + y^2 with lr = 0.1 shrinks the point by 0.8 a step: read back to the last bit.
    path = back.descent.result.runs[0].path
    assert [p.point["x"] for p in path] == [p["point"]["x"] for p in gd_run((1.0, -2.0), 0.1, 6)["path"]]
    assert path[3].point["y"] == pytest.approx(-2.0 * 0.8 ** 3, rel=1e-15)
    assert back.critical.critical_points[0].eigenvalues == [-2.0, 2.0]
    # ... and the window's Session shows it as it was: the race six steps in, nothing to recompute.
    session = Session()
    session.restore(back)
    assert session.settings == settings_of(back) and session.race.shown == 6
    assert session.critical["critical_points"][0]["type"] == "saddle"
    assert set(session.wanted()) == {"grid", "point", "approximation"}


def test_a_session_saved_before_zero_eigenvalues_were_counted_reads_none():
    data = json.loads(storage.session_to_text(full_state()))
    del data["critical"]["critical_points"][0]["zero_eigenvalues"]
    back = storage.parse_session(json.dumps(data))
    assert back.critical.critical_points[0].zero_eigenvalues == 0


def test_save_and_load_session_file(tmp_path):
    state = full_state()
    target = tmp_path / "work.json"
    storage.save_session(target, state)
    assert as_json(storage.load_session(target)) == state
    assert os.listdir(tmp_path) == ["work.json"]
    assert storage.load_session(target).document == document()
    with pytest.raises(StorageError, match=r"save as \.json \(got \.txt\)"):
        storage.save_session(tmp_path / "work.txt", state)


def test_minimal_session_defaults_and_ignores_unknown_keys():
    text = json.dumps({"format": "calcviz-session", "version": 1, "from_the_future": [1, 2],
                       "document": {"text": "k sin(x) + y", "x_range": [-1, 1], "y_range": [0, 2], "n": 64,
                                    "axes": ["x", "y"], "params": {}, "colour": "red"}})
    checked = storage.parse_session(text)
    assert "from_the_future" not in as_json(checked) and "colour" not in as_json(checked.document)
    assert checked.view is None and checked.selected is None and checked.descent is None and checked.critical is None
    settings = settings_of(checked)
    assert settings.view.camera is None and settings.view.toggles.critical_markers and not settings.view.toggles.field
    doc = checked.document
    assert doc.x_range == (-1.0, 1.0) and isinstance(doc.x_range[0], float)
    assert as_json(doc.params) == {"k": {"value": 1.0, "min": -5.0, "max": 5.0}}  # a missing parameter: defaults


def test_non_finite_numbers_are_written_as_null_and_read_back_as_nan():
    result = gd_result()
    run = result["runs"][0]
    run["path"][-1]["value"] = math.inf
    run["path"][-1]["point"]["x"] = math.nan
    run["value"] = math.inf
    state = full_state()
    state["descent"]["result"] = as_json(result)
    text = storage.session_to_text(state)
    assert "NaN" not in text and "Infinity" not in text
    raw = strict_json(text)["descent"]["result"]["runs"][0]
    assert raw["path"][-1]["value"] is None and raw["path"][-1]["point"]["x"] is None
    back = storage.parse_session(text).descent.result.model_dump()["runs"][0]
    assert math.isnan(back["path"][-1]["value"]) and math.isnan(back["path"][-1]["point"]["x"])
    assert back["path"][-1]["point"]["y"] == run["path"][-1]["point"]["y"]
    assert back["path"][-1]["update"] is None and back["stable_learning_rate"] is None  # real nulls stay


def test_what_is_saved_is_checked_as_a_file_being_opened_is():
    state = full_state()
    state["document"] = dict(state["document"], n=1)
    with pytest.raises(SessionError, match="document.n must be a whole number from 2 to 2000"):
        storage.session_to_text(state)


def test_session_text_loads_with_a_byte_order_mark(tmp_path):
    target = tmp_path / "bom.json"
    target.write_bytes(b"\xef\xbb\xbf" + storage.session_to_text(full_state()).encode())
    assert storage.load_session(target).document.n == 150


def test_every_cut_of_a_session_file_is_reported_as_truncated():
    text = storage.session_to_text(file_of(Settings.for_text("x^2 - 3y"), saved="now"))
    for cut in range(1, len(text) - 1):
        with pytest.raises(SessionError, match="ends too early") as info:
            storage.parse_session(text[:cut])
        assert "JSON error at line 1 column" in str(info.value)


def test_sessions_refuse_what_the_engine_would_refuse():
    from calcviz.models.engine import MAX_GRID  # one constant (models/settings.py), the same object
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
    *parents, last = [int(k) if k.isdigit() else k for k in where.split(".")]

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
    # A parameter at 1e308 in +-1.7e308 was accepted, then broke the slider (inf - -inf) on every launch.
    ("param value 1e308", changed(put("document.params.a", {"value": 1e308, "min": -1.7e308, "max": 1.7e308})),
     "document.params.a.value must lie within ±1e+09 (got 1e+308)"),
    ("param range reversed", changed(put("document.params.a", {"value": 1, "min": 2, "max": -2})),
     "document.params.a: min must be below max (got 2 and -2)"),
    ("x_range beyond the panels", changed(put("document.x_range", [-1e300, 1])),
     "document.x_range must lie within ±1e+09"),
    ("speed 1e308", changed(put("descent.setup.speed", 1e308)), "descent.setup.speed must be at most 200"),
    ("decay_steps 1e300", changed(put("descent.setup.schedule", {"name": "exponential", "decay_steps": 1e300})),
     "descent.setup.schedule.decay_steps must be at most 1,000,000"),
    ("max_steps beyond the window", changed(put("descent.setup.max_steps", 1_000_000)),
     "descent.setup.max_steps must be a whole number from 1 to 20000"),
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
    # (the step explanation reads each step's gradient and learning rate)
    ("path step without its learning rate", changed(drop("descent.result.runs.0.path.3.learning_rate")),
     "descent.result.runs[0].path[3].learning_rate is missing"),
    ("path step without its gradient", changed(drop("descent.result.runs.1.path.0.gradient")),
     "descent.result.runs[1].path[0].gradient is missing"),
    ("path gradient missing y", changed(put("descent.result.runs.0.path.1.gradient", {"x": 1.0})),
     "descent.result.runs[0].path[1].gradient must give a number (or null) for each of x, y"),
    ("critical type", changed(put("critical.critical_points.0.type", "bowl")),
     "critical.critical_points[0].type must be min, max, saddle or degenerate"),
    ("more zero eigenvalues than eigenvalues", changed(put("critical.critical_points.0.zero_eigenvalues", 3)),
     "critical.critical_points[0].zero_eigenvalues must be at most 2"),
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


def test_the_base_of_the_broken_files_loads(tmp_path):
    assert as_json(storage.load_session(changed(lambda data: None)(tmp_path))) == full_state()


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


# ----------------------------------------------------------------------------- files that are not sessions
def test_a_long_integer_is_worded_for_a_user(tmp_path):
    with pytest.raises(SessionError) as info:
        storage.load_session(raw('[1.' + "0" * 6000 + ', -' + "9" * 4400 + ']')(tmp_path))
    message = str(info.value)
    assert "a whole number of 4400 digits at line 1 column 6007" in message  # not the long fraction
    assert "set_int_max_str_digits" not in message


def _refusal(path: Path) -> str:
    try:
        storage.load_session(path)
    except SessionError as exc:
        return str(exc)
    return "loaded"


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


# ----------------------------------------------------------------------------- compatibility and completeness
RELEASED = Path(__file__).parent / "data" / "session-saved-by-0.1.0.json"  # saved by calcviz 0.1.0's window


def test_a_session_saved_by_the_previous_release_opens_as_it_was():
    checked = storage.load_session(RELEASED)
    saved = json.loads(RELEASED.read_text())
    session = Session()
    session.restore(checked)
    s = session.settings
    assert s.document.text == saved["document"]["text"] and s.document.params["a"].value == 1.0
    assert s.selected == (1.0, 1.5) and s.view.toggles.field
    assert [r["optimizer"] for r in session.race.runs] == ["gd", "adam"] and session.race.shown == 12
    assert session.race.runs[0]["path"][12]["value"] == saved["descent"]["result"]["runs"][0]["path"][12]["value"]
    assert len(session.critical["critical_points"]) == len(saved["critical"]["critical_points"])
    assert storage.parse_session(storage.session_to_text(session.file())) is not None  # and saves again


def released(edit):
    """The previous release's file, changed by ``edit(data)``."""
    def make(tmp_path):
        data = json.loads(RELEASED.read_text())
        edit(data)
        path = tmp_path / "s.json"
        path.write_text(json.dumps(data))
        return path
    return make


# What the loader used to accept that the window could not show: refused now, by name, before anything changes.
UNSHOWABLE = [
    ("a run without a path", released(lambda d: d["descent"]["result"]["runs"][0].pop("path")),
     "descent.result.runs[0].path is missing"),
    ("a path shorter than its steps", released(lambda d: d["descent"]["result"]["runs"][0]["path"].pop()),
     "descent.result.runs[0].path has 40 entries; a run of 40 steps has 41"),
    ("decay_steps 1e300", released(put("descent.setup.schedule", {"name": "cosine", "decay_steps": 1e300})),
     "descent.setup.schedule.decay_steps must be at most 1,000,000"),
    ("speed 1e308", released(put("descent.setup.speed", 1e308)), "descent.setup.speed must be at most 200"),
    ("a start naming a parameter", released(put("descent.starts", [{"x": 0.5, "a": -0.5}])),
     "descent.starts[0] must give a finite number for each axis (x, y)"),
    ("a result on other variables", released(put("descent.result.variables", ["x", "a"])),
     "descent.result.runs[0].start must give a number for each of x, a"),
    ("critical points on other axes", released(put("critical.axes", ["y", "x"])), "critical.axes must be the axes"),
    ("more steps shown than run", released(put("descent.shown_steps", 41)), "descent.shown_steps must be at most"),
]


@pytest.mark.parametrize("make, fragment", [case[1:] for case in UNSHOWABLE], ids=[case[0] for case in UNSHOWABLE])
def test_what_the_window_cannot_show_is_refused_by_name(tmp_path, make, fragment):
    with pytest.raises(SessionError) as info:
        storage.load_session(make(tmp_path))
    assert fragment in str(info.value)
