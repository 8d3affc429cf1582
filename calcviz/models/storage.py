"""Files: atomic writes, calcviz session files, and data exports (CSV, JSON, NPZ).

Pure Python and numpy: no Qt and no TensorFlow, because the window's process saves and loads.

Writing. Every file is written to a temporary file in the target's folder, flushed and fsynced,
then renamed over the target (``os.replace``, atomic on one file system). On any failure the target
is untouched and the temporary file removed; OS errors become a :class:`StorageError` that says
what went wrong in words (missing folder, permission denied, disk full, a folder in the way).
A process killed with SIGKILL (or a power cut) mid-write cannot remove its temporary file: SIGKILL
is not delivered to the process at all, so no handler, ``finally`` or atexit code runs. The file
stays, hidden, until the next save of the same target removes it (the temporary name holds the
writer's process id, so a file still being written by a live process is left alone).

Session files are JSON (UTF-8). Version 1, every key required unless marked optional:

    {"format": "calcviz-session", "version": 1, "saved": ISO 8601 time (optional),
     "document": {"text": formula, "x_range": [lo, hi], "y_range": [lo, hi], "n": 2..MAX_GRID,
                  "axes": [one or two inputs], "params": {input: {"value", "min", "max"}}},
     "view" (optional): {"camera": {"distance" > 0, "elevation", "azimuth", "center": [x, y, z]} | null,
                         "toggles": {action name: bool}, "angle": degrees, "log_scale": bool | null},
     "selected" (optional): [one number per axis] | null,
     "descent" (optional): null | {
         "setup": {"optimizers": [names], "lr" > 0, "hyperparameters": {optimizer: {name: value}},
                   "schedule": {"name", its parameters}, "steps_per_click" >= 1, "max_steps", "tol" >= 0,
                   "speed" > 0, "start_mode": "shared" | "each"},
         "starts": [{input: number}], "shown_steps", "result": Engine.descend's result | null},
     "critical" (optional): Engine.find_critical_points' result | null}

Inputs that are neither axes nor in "params" get the default parameter (as Document.with_expression
gives). Loading returns the state cleaned: tuples for document.x_range/y_range/axes, selected and
the camera's center, floats for numbers, full optimizer names; unknown keys are dropped, except
inside the descent and critical results, which keep what they hold beyond what is checked. A file
that is not a session, or holds a value calcviz cannot use, is refused with a :class:`SessionError`
naming the field. Non-finite numbers are written as null (strict JSON); in a descent run's numbers
(points, values, gradients, updates along the path) null is read back as NaN.

Exports: descent runs and critical points as CSV or JSON, grids as NPZ or long-format CSV. JSON
exports are strict JSON (non-finite numbers are null); CSV writes floats as the shortest text that
reads back to the same number (Python's repr; a float32 grid's values at float32 precision) and
non-finite values as nan, inf, -inf.
"""
from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime
import errno
import io
import json
import math
import os
import re
import secrets
import stat
import sys
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from . import critical, descent
from .expression import Expression, ParseError, parse
from .session import MAX_GRID, Document

SESSION_FORMAT = "calcviz-session"
SESSION_VERSION = 1
SESSION_SUFFIXES = (".json",)
MAX_FILE_BYTES = 100 * 1024 * 1024  # larger files are refused before they are read
MAX_RUNS = 64                        # descent runs (and start points) in a session
MAX_PATH = descent.MAX_STEPS + 1     # records in one run's path: steps 0 .. MAX_STEPS
MAX_CRITICAL = 1_000_000             # critical points: no search has more seeds than this
MAX_NESTING = 32                     # the schema nests 7 deep; deeper JSON is hostile or not ours
START_MODES = ("shared", "each")

_NOT_SESSION = "the file is not a calcviz session"


class StorageError(ValueError):
    """A file that could not be written, worded for the user."""


class SessionError(ValueError):
    """A session file that cannot be read, worded for the user (names the field at fault)."""


# ----------------------------------------------------------------------------- atomic writing
def _or(suffixes: Sequence[str]) -> str:
    names = list(suffixes)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _checked_target(path, allowed_suffixes: Sequence[str] | None) -> Path:
    given = Path(path)
    if allowed_suffixes is not None:
        suffix = given.suffix.lower()
        if suffix not in [s.lower() for s in allowed_suffixes]:
            raise StorageError(f"save as {_or(allowed_suffixes)} (got {suffix or 'no extension'})")
    target = Path(os.path.realpath(given))  # saving through a symbolic link keeps the link
    if target.is_dir():
        raise StorageError(f"cannot save {given}: it is a folder")
    if not target.parent.exists():
        raise StorageError(f"cannot save {given.name}: the folder {target.parent} does not exist")
    if not target.parent.is_dir():
        raise StorageError(f"cannot save {given.name}: {target.parent} is not a folder")
    if target.exists() and not os.access(target, os.W_OK):
        if os.statvfs(target.parent).f_flag & os.ST_RDONLY:
            raise StorageError(f"cannot save {given.name}: the folder {target.parent} is on a read-only disk")
        raise StorageError(f"cannot save {given.name}: permission denied (the file is read-only)")
    return target


_REASONS = {
    errno.ENOENT: "the folder {folder} does not exist",
    errno.ENOTDIR: "{folder} is not a folder",
    errno.EACCES: "permission denied in the folder {folder}",
    errno.EPERM: "permission denied in the folder {folder}",
    errno.EROFS: "the folder {folder} is on a read-only disk",
    errno.ENOSPC: "the disk is full",
    errno.EISDIR: "{target} is a folder",
}


def _error(exc: OSError, target: Path) -> StorageError:
    reason = _REASONS.get(exc.errno)
    if exc.errno == errno.ENOENT and target.parent.is_dir():  # /proc and other kernel file systems
        reason = "the folder {folder} does not take new files (it belongs to the system, not to storage)"
    reason = reason.format(folder=target.parent, target=target) if reason else (exc.strerror or str(exc))
    return StorageError(f"cannot save {target.name}: {reason}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _temporary_name(target: Path, pid: int) -> str:
    return f".{target.stem}.{pid}-{secrets.token_hex(4)}.tmp{target.suffix}"


def _running(pid: int) -> bool:
    if os.name != "posix":
        return True  # (os.kill with signal 0 would end the process on Windows)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True


def _remove_stale_temporaries(target: Path) -> None:
    """Remove the temporary files of earlier saves of ``target`` whose writers are gone (killed:
    see the module's docstring); those of a writer still running are its work in progress."""
    pattern = re.compile(re.escape(f".{target.stem}.") + r"(\d+)-[0-9a-f]{8}" + re.escape(f".tmp{target.suffix}"))
    with contextlib.suppress(OSError):
        for entry in os.scandir(target.parent):
            found = pattern.fullmatch(entry.name)
            if found and int(found[1]) != os.getpid() and not _running(int(found[1])):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


@contextlib.contextmanager
def atomic_path(path, *, allowed_suffixes: Sequence[str] | None = None) -> Iterator[Path]:
    """A temporary path next to ``path`` to write to; renamed over ``path`` when the block succeeds.

    For writers that want a file name (numpy.savez, image exporters): the temporary name ends with
    the target's suffix, so writers that choose the format by it (or append it) behave. On failure
    the temporary file is removed and ``path`` is untouched. Temporary files that killed writers
    left beside ``path`` are removed first.
    """
    target = _checked_target(path, allowed_suffixes)
    _remove_stale_temporaries(target)
    temp = target.with_name(_temporary_name(target, os.getpid()))
    try:
        # Created here (O_EXCL: never someone else's file) with the mode a new file gets (umask).
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        raise _error(exc, target) from exc
    try:
        if target.exists():
            with contextlib.suppress(OSError):  # keep the replaced file's permissions
                os.chmod(temp, stat.S_IMODE(target.stat().st_mode))
        yield temp
        _fsync(temp)  # the data is on disk before the name points at it
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise _error(exc, target) from exc
        raise
    with contextlib.suppress(OSError):  # make the rename durable; not every system can fsync a folder
        _fsync(target.parent)


@contextlib.contextmanager
def atomic_writer(path, *, allowed_suffixes: Sequence[str] | None = None):
    """A binary file to write ``path``'s new content to (see :func:`atomic_path`)."""
    with atomic_path(path, allowed_suffixes=allowed_suffixes) as temp:
        file = open(temp, "wb")
        try:
            yield file
        finally:
            file.close()  # flushes: a full disk can surface here


def atomic_write(path, data: bytes | str, *, allowed_suffixes: Sequence[str] | None = None) -> None:
    """Replace ``path``'s content with ``data`` (text is written as UTF-8), all or nothing."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_writer(path, allowed_suffixes=allowed_suffixes) as file:
        file.write(data)


# ----------------------------------------------------------------------------- strict JSON
def _strict(obj):
    """``obj`` in JSON's types: tuples and arrays as lists, numpy scalars as Python ones, NaN/inf as None."""
    if isinstance(obj, dict):
        return {str(k): _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if isinstance(obj, (np.ndarray, np.generic)):
        return _strict(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _dumps(obj, indent: int | None = None) -> str:
    separators = None if indent else (",", ":")
    return json.dumps(_strict(obj), indent=indent, separators=separators, ensure_ascii=False, allow_nan=False)


# ----------------------------------------------------------------------------- checking a session
def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, (list, tuple)) else "an object" if isinstance(value, dict) else "?"


def _show(value) -> str:
    text = json.dumps(_strict(value), ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def _field(obj: dict, key: str, where: str):
    if key not in obj:
        raise SessionError(f"{where + '.' if where else ''}{key} is missing")
    return obj[key]


def _object(value, where: str) -> dict:
    if not isinstance(value, dict):
        raise SessionError(f"{where} must be an object (got {_kind(value)})")
    return value


def _list(value, where: str, most: int) -> list | tuple:
    if not isinstance(value, (list, tuple)):
        raise SessionError(f"{where} must be a list (got {_kind(value)})")
    if len(value) > most:
        raise SessionError(f"{where} has {len(value)} entries; at most {most} are allowed")
    return value


def _text(value, where: str) -> str:
    if not isinstance(value, str):
        raise SessionError(f"{where} must be text (got {_kind(value)})")
    return value


def _flag(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise SessionError(f"{where} must be true or false (got {_kind(value)})")
    return value


def _as_float(value) -> float | None:
    """A JSON number as a finite float; None for anything else (true/false are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        out = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return out if math.isfinite(out) else None


def _number(value, where: str, least: float | None = None, strict: bool = False) -> float:
    """A finite number, at least ``least`` (above it when ``strict``)."""
    out = _as_float(value)
    if out is None:
        raise SessionError(f"{where} must be a finite number (got {_show(value)})")
    if least is not None and (out < least or (strict and out == least)):
        what = "positive" if strict and least == 0 else f"at least {least:g}"
        raise SessionError(f"{where} must be {what} (got {out:g})")
    return out


def _integer(value, where: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SessionError(f"{where} must be a whole number from {lo} to {hi} (got {_show(value)})")
    return value


def _range(value, where: str) -> tuple[float, float]:
    pair = [_as_float(v) for v in value] if isinstance(value, (list, tuple)) and len(value) == 2 else []
    if len(pair) != 2 or None in pair or not pair[0] < pair[1]:
        raise SessionError(f"{where} must be two finite numbers, low < high (got {_show(value)})")
    return pair[0], pair[1]


def _names(value, where: str, inputs: Sequence[str], most: int) -> list[str]:
    """Distinct inputs of the formula."""
    names = _list(value, where, most)
    for name in names:
        if _text(name, f"{where} entries") not in inputs:
            raise SessionError(f"{where} names '{name}', which is not an input of the formula "
                               f"(its inputs: {', '.join(inputs) or 'none'})")
    if len(set(names)) != len(names):
        raise SessionError(f"{where} names an input twice ({_show(value)})")
    return list(names)


def _by_name(value, names: Sequence[str], where: str, finite: bool = True) -> dict[str, float]:
    """{name: number} for exactly ``names``; with ``finite=False`` null is allowed and read as NaN
    (a non-finite number, written as null)."""
    if isinstance(value, dict) and len(value) == len(names):
        out = {}
        for name in names:
            v = value.get(name, "")
            x = math.nan if v is None and not finite else _as_float(v)
            if x is None:
                break
            out[name] = x
        else:
            return out
    what = "a finite number" if finite else "a number (or null)"
    raise SessionError(f"{where} must give {what} for each of {', '.join(names)} (got {_show(value)})")


def _measure(value, where: str) -> float:
    """A number, or null (a non-finite number) read as NaN."""
    return math.nan if value is None else _number(value, where)


def _document(data, where: str = "document") -> tuple[Document, Expression]:
    data = _object(data, where)
    text = _text(_field(data, "text", where), f"{where}.text")
    try:
        expression = parse(text)
    except ParseError as exc:
        raise SessionError(f"{where}.text is not a formula calcviz can read: {exc}") from None
    inputs = expression.inputs
    x_range = _range(_field(data, "x_range", where), f"{where}.x_range")
    y_range = _range(_field(data, "y_range", where), f"{where}.y_range")
    n = _integer(_field(data, "n", where), f"{where}.n", 2, MAX_GRID)
    axes = _names(_field(data, "axes", where), f"{where}.axes", inputs, 2)
    if not axes and inputs:
        raise SessionError(f"{where}.axes must name one or two inputs of the formula ({', '.join(inputs)})")
    params = {}
    for name, p in _object(_field(data, "params", where), f"{where}.params").items():
        at = f"{where}.params.{name}"
        if name not in inputs:
            raise SessionError(f"{where}.params names '{name}', which is not an input of the formula "
                               f"(its inputs: {', '.join(inputs) or 'none'})")
        if name in axes:
            raise SessionError(f"{where}.params names '{name}', which is an axis")
        p = _object(p, at)
        params[name] = {k: _number(_field(p, k, at), f"{at}.{k}") for k in ("value", "min", "max")}
    document = Document(text, x_range, y_range, n, tuple(axes), params)
    # The document's own rule: every input that is not an axis is a parameter (defaults for missing ones).
    return document.with_expression(text, expression, axes=tuple(axes)), expression


def _view(data, where: str = "view") -> dict:
    if data is None:
        return {"camera": None, "toggles": {}, "angle": 0.0, "log_scale": None}
    data = _object(data, where)
    camera = _field(data, "camera", where)
    if camera is not None:
        at = f"{where}.camera"
        camera = _object(camera, at)
        center = _list(_field(camera, "center", at), f"{at}.center", 3)
        if len(center) != 3:
            raise SessionError(f"{at}.center must be three numbers (got {_show(center)})")
        camera = {"distance": _number(_field(camera, "distance", at), f"{at}.distance", 0, strict=True),
                  "elevation": _number(_field(camera, "elevation", at), f"{at}.elevation"),
                  "azimuth": _number(_field(camera, "azimuth", at), f"{at}.azimuth"),
                  "center": tuple(_number(c, f"{at}.center") for c in center)}
    toggles = _object(_field(data, "toggles", where), f"{where}.toggles")
    toggles = {name: _flag(on, f"{where}.toggles.{name}") for name, on in toggles.items()}
    log_scale = _field(data, "log_scale", where)
    return {"camera": camera, "toggles": toggles, "angle": _number(_field(data, "angle", where), f"{where}.angle"),
            "log_scale": None if log_scale is None else _flag(log_scale, f"{where}.log_scale")}


def _setup(data, where: str) -> dict:
    data = _object(data, where)
    try:
        optimizers = list(descent.check_optimizers(_list(_field(data, "optimizers", where),
                                                         f"{where}.optimizers", MAX_RUNS)))
    except descent.DescentError as exc:
        raise SessionError(f"{where}.optimizers: {exc}") from None
    max_steps = _integer(_field(data, "max_steps", where), f"{where}.max_steps", 0, descent.MAX_STEPS)
    hyperparameters = {}
    for name, values in _object(_field(data, "hyperparameters", where), f"{where}.hyperparameters").items():
        at = f"{where}.hyperparameters.{name}"
        if name not in descent.OPTIMIZERS:
            raise SessionError(f"{where}.hyperparameters names '{name}', which is not an optimizer "
                               f"(use one of {', '.join(descent.OPTIMIZERS)})")
        values = {k: _number(v, f"{at}.{k}") for k, v in _object(values, at).items()}
        try:
            checked = descent.hyperparameters_for(name, {name: values})
        except descent.DescentError as exc:
            raise SessionError(f"{at}: {exc}") from None
        hyperparameters[name] = {k: checked[k] for k in values}
    schedule = _object(_field(data, "schedule", where), f"{where}.schedule")
    _text(_field(schedule, "name", f"{where}.schedule"), f"{where}.schedule.name")
    given = {k: v if k == "name" else _number(v, f"{where}.schedule.{k}") for k, v in schedule.items()}
    try:
        checked = descent.check_schedule(given, max_steps)
    except descent.DescentError as exc:
        raise SessionError(f"{where}.schedule: {exc}") from None
    start_mode = _text(_field(data, "start_mode", where), f"{where}.start_mode")
    if start_mode not in START_MODES:
        raise SessionError(f"{where}.start_mode must be {_or(START_MODES)} (got {_show(start_mode)})")
    return {
        "optimizers": optimizers,
        "lr": _number(_field(data, "lr", where), f"{where}.lr", 0, strict=True),
        "hyperparameters": hyperparameters,
        "schedule": {k: checked[k] for k in given},
        "steps_per_click": _integer(_field(data, "steps_per_click", where), f"{where}.steps_per_click", 1,
                                    descent.MAX_STEPS),
        "max_steps": max_steps,
        "tol": _number(_field(data, "tol", where), f"{where}.tol", 0),
        "speed": _number(_field(data, "speed", where), f"{where}.speed", 0, strict=True),
        "start_mode": start_mode,
    }


def _path_entry(entry, k: int, names: Sequence[str], where: str) -> dict:
    entry = _object(entry, where)
    step = _field(entry, "step", where)
    if type(step) is not int or step != k:
        raise SessionError(f"{where}.step must be {k}, its place in the path (got {_show(step)})")
    out = dict(entry)
    out["point"] = _by_name(_field(entry, "point", where), names, f"{where}.point", finite=False)
    out["value"] = _measure(_field(entry, "value", where), f"{where}.value")
    out["grad_norm"] = _measure(_field(entry, "grad_norm", where), f"{where}.grad_norm")
    if "gradient" in entry:
        out["gradient"] = _by_name(entry["gradient"], names, f"{where}.gradient", finite=False)
    for key in ("update", "velocity", "accumulator"):  # null after the last step
        if entry.get(key) is not None:
            out[key] = _by_name(entry[key], names, f"{where}.{key}", finite=False)
    return out


def _run(data, names: Sequence[str], where: str) -> dict:
    data = _object(data, where)
    out = dict(data)  # keys not checked here (message, hyperparameters, ...) are kept as they are
    optimizer = _text(_field(data, "optimizer", where), f"{where}.optimizer")
    if optimizer not in descent.OPTIMIZERS:
        raise SessionError(f"{where}.optimizer: unknown optimizer '{optimizer}' "
                           f"(use one of {', '.join(descent.OPTIMIZERS)})")
    out["start"] = _by_name(_field(data, "start", where), names, f"{where}.start")
    out["status"] = _text(_field(data, "status", where), f"{where}.status")
    out["steps"] = _integer(_field(data, "steps", where), f"{where}.steps", 0, descent.MAX_STEPS)
    out["point"] = _by_name(_field(data, "point", where), names, f"{where}.point", finite=False)
    out["value"] = _measure(_field(data, "value", where), f"{where}.value")
    out["grad_norm"] = _measure(_field(data, "grad_norm", where), f"{where}.grad_norm")
    if "path" in data:
        path = _list(data["path"], f"{where}.path", MAX_PATH)
        out["path"] = [_path_entry(e, k, names, f"{where}.path[{k}]") for k, e in enumerate(path)]
    return out


def _descent_result(data, inputs: Sequence[str], where: str) -> dict:
    data = _object(data, where)
    names = _names(_field(data, "variables", where), f"{where}.variables", inputs, len(inputs))
    if not names:
        raise SessionError(f"{where}.variables must name the variables the runs descend in")
    try:
        box = descent.check_box(_list(_field(data, "box", where), f"{where}.box", len(names)), len(names)).tolist()
    except descent.DescentError as exc:
        raise SessionError(f"{where}.box: {exc}") from None
    runs = _list(_field(data, "runs", where), f"{where}.runs", MAX_RUNS)
    return {**data, "variables": names, "box": box,
            "runs": [_run(run, names, f"{where}.runs[{k}]") for k, run in enumerate(runs)]}


def _descent(data, inputs: Sequence[str], where: str = "descent") -> dict | None:
    if data is None:
        return None
    data = _object(data, where)
    starts = []
    for k, start in enumerate(_list(_field(data, "starts", where), f"{where}.starts", MAX_RUNS)):
        at = f"{where}.starts[{k}]"
        names = _names(list(_object(start, at)), at, inputs, len(inputs))
        starts.append(_by_name(start, names, at))
    result = _field(data, "result", where)
    return {
        "setup": _setup(_field(data, "setup", where), f"{where}.setup"),
        "starts": starts,
        "shown_steps": _integer(_field(data, "shown_steps", where), f"{where}.shown_steps", 0, descent.MAX_STEPS),
        "result": None if result is None else _descent_result(result, inputs, f"{where}.result"),
    }


def _critical(data, where: str = "critical") -> dict | None:
    """A critical-points result (Engine.find_critical_points): checked where it is drawn from, else kept."""
    if data is None:
        return None
    data = _object(data, where)
    axes = _list(_field(data, "axes", where), f"{where}.axes", 2)
    if not axes or not all(isinstance(a, str) for a in axes):
        raise SessionError(f"{where}.axes must name one or two axes (got {_show(axes)})")
    points = []
    for k, p in enumerate(_list(_field(data, "critical_points", where), f"{where}.critical_points",
                                MAX_CRITICAL)):
        at = f"{where}.critical_points[{k}]"
        p = _object(p, at)
        kind = _text(_field(p, "type", at), f"{at}.type")
        if kind not in critical.TYPES:
            raise SessionError(f"{at}.type must be {_or(critical.TYPES)} (got {_show(kind)})")
        eigenvalues = _list(_field(p, "eigenvalues", at), f"{at}.eigenvalues", len(axes))
        points.append({**p, "point": _by_name(_field(p, "point", at), axes, f"{at}.point"),
                       "value": _number(_field(p, "value", at), f"{at}.value"),
                       "eigenvalues": [_number(e, f"{at}.eigenvalues") for e in eigenvalues],
                       "grad_norm": _number(_field(p, "grad_norm", at), f"{at}.grad_norm"),
                       "global_min": _flag(_field(p, "global_min", at), f"{at}.global_min"),
                       "global_max": _flag(_field(p, "global_max", at), f"{at}.global_max")})
    return {**data, "axes": list(axes), "critical_points": points}


def _check_nesting(data) -> None:
    stack = [(data, 1)]
    while stack:
        obj, depth = stack.pop()
        if depth > MAX_NESTING:
            raise SessionError(f"{_NOT_SESSION}: its JSON nests more than {MAX_NESTING} levels deep")
        children = obj.values() if isinstance(obj, dict) else obj
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))


def _refuse_constant(name: str):
    raise ValueError(f"it contains {name}, which is not a JSON number (calcviz writes non-finite numbers as null)")


def _loads(text: str):
    if len(text) > MAX_FILE_BYTES:
        raise SessionError(f"{_NOT_SESSION}: it is too large (over {MAX_FILE_BYTES // 2**20} MB)")
    if not text.strip():
        raise SessionError(f"{_NOT_SESSION}: the file is empty")
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise SessionError(f"{_NOT_SESSION}: its JSON nests too deeply") from None
    except json.JSONDecodeError as exc:
        # Cut off: the error is in the file's last, unfinished token ("0.", "tru", nothing at all), or
        # in a string the end of the file left open.
        rest = text[exc.pos:].rstrip()
        truncated = exc.msg.startswith("Unterminated string") or not any(c in rest for c in ' \t\n\r,:[]{}"')
        raise SessionError(f"{_NOT_SESSION}: JSON error at line {exc.lineno} column {exc.colno} ({exc.msg})"
                           + ("; the file ends too early (truncated?)" if truncated else "")) from None
    except ValueError as exc:  # NaN/Infinity (worded by _refuse_constant), or an integer too long to read
        limit = sys.get_int_max_str_digits()
        long = limit and re.search(r"(?<![\d.])\d{%d,}(?![\d.eE])" % (limit + 1), text)
        if not long:
            raise SessionError(f"{_NOT_SESSION}: {exc}") from None
        line = text.count("\n", 0, long.start()) + 1
        column = long.start() - (text.rfind("\n", 0, long.start()) + 1) + 1
        raise SessionError(f"{_NOT_SESSION}: it holds a whole number of {len(long[0])} digits at line {line} "
                           f"column {column}; calcviz reads numbers of up to {limit} digits") from None
    _check_nesting(data)
    return data


def _state(data) -> dict:
    """The checked, cleaned state of JSON-shaped ``data`` (see the module's schema)."""
    if not isinstance(data, dict):
        raise SessionError(f"{_NOT_SESSION}: it holds {_kind(data)}, not an object")
    if data.get("format") != SESSION_FORMAT:
        found = f"its format is {_show(data['format'])}" if "format" in data else "it has no \"format\" entry"
        raise SessionError(f"{_NOT_SESSION} ({found}; a session has \"format\": \"{SESSION_FORMAT}\")")
    version = _field(data, "version", "")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SessionError(f"version must be a whole number from 1 (got {_show(version)})")
    if version > SESSION_VERSION:
        raise SessionError(f"the session was written by a newer calcviz (format version {version}; this one "
                           f"reads up to {SESSION_VERSION})")
    saved = data.get("saved")
    document, expression = _document(_field(data, "document", ""))
    selected = data.get("selected")
    if selected is not None:
        point = _list(selected, "selected", 2)
        if len(point) != len(document.axes):
            raise SessionError(f"selected must be one number per axis ({', '.join(document.axes) or 'none'}; "
                               f"got {_show(selected)})")
        selected = tuple(_number(c, "selected") for c in point)
    return {
        "format": SESSION_FORMAT,
        "version": SESSION_VERSION,
        "saved": None if saved is None else _text(saved, "saved"),
        "document": dataclasses.asdict(document),
        "view": _view(data.get("view")),
        "selected": selected,
        "descent": _descent(data.get("descent"), expression.inputs),
        "critical": _critical(data.get("critical")),
    }


# ----------------------------------------------------------------------------- sessions: public
def make_session(document: Document, *, view: Mapping | None = None, selected: Sequence[float] | None = None,
                 descent: Mapping | None = None, critical: Mapping | None = None, saved: str | None = None) -> dict:
    """The checked state to save (the same dict :func:`parse_session` returns for its text).

    ``saved`` defaults to now (UTC, ISO 8601). Raises SessionError when a part would not load.
    """
    if saved is None:
        saved = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    data = {"format": SESSION_FORMAT, "version": SESSION_VERSION, "saved": saved,
            "document": dataclasses.asdict(document), "view": view, "selected": selected,
            "descent": descent, "critical": critical}
    return _state(_strict(data))


def session_to_text(state: Mapping) -> str:
    """The session file's text: compact strict JSON (non-finite numbers as null), UTF-8 safe.

    The state is written as given (build it with :func:`make_session`, which checks it). Raises
    SessionError when the text would be too large to load again.
    """
    text = _dumps(state) + "\n"
    size = len(text.encode("utf-8"))
    if size > MAX_FILE_BYTES:
        raise SessionError(f"the session is too large to save ({size / 2**20:.0f} MB; at most "
                           f"{MAX_FILE_BYTES // 2**20} MB): clear the descent runs or show fewer steps")
    return text


def parse_session(text: str) -> dict:
    """The checked, cleaned state of a session file's text; SessionError names what is wrong."""
    return _state(_loads(text))


def _opener_not_waiting(name, flags: int) -> int:
    return os.open(name, flags | getattr(os, "O_NONBLOCK", 0))


def _not_regular(path: Path, mode: int) -> str:
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file")
    return f"{path} is not a regular file ({kind}), so it cannot be a session file"


def load_session(path) -> dict:
    """Read and check a session file (see :func:`parse_session`)."""
    path = Path(path)
    try:
        # Non-blocking: opening a FIFO for reading would otherwise wait for a writer, forever.
        with open(path, "rb", opener=_opener_not_waiting) as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):  # a FIFO, a device (/dev/zero), ...: never read
                raise SessionError(_not_regular(path, info.st_mode))
            size = info.st_size
            # Refused unread when too large; the read is bounded even where the size lies (/proc).
            data = b"" if size > MAX_FILE_BYTES else file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise SessionError(f"there is no file {path}") from None
    except IsADirectoryError:
        raise SessionError(f"{path} is a folder, not a session file") from None
    except PermissionError:
        raise SessionError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket (which cannot be opened as a file)
            raise SessionError(_not_regular(path, stat.S_IFSOCK)) from None
        raise SessionError(f"cannot read {path}: {exc.strerror or exc}") from None
    if size > MAX_FILE_BYTES or len(data) > MAX_FILE_BYTES:
        raise SessionError(f"{path.name} is too large to be a calcviz session (over "
                           f"{MAX_FILE_BYTES // 2**20} MB)")
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark some editors add is fine
    except UnicodeDecodeError as exc:
        raise SessionError(f"{_NOT_SESSION}: it is not UTF-8 text (byte {data[exc.start]:#04x} at "
                           f"offset {exc.start})") from None
    return parse_session(text)


def save_session(path, state: Mapping) -> None:
    """Write ``state`` (from :func:`make_session`) to ``path`` (.json) atomically."""
    atomic_write(path, session_to_text(state), allowed_suffixes=SESSION_SUFFIXES)


def document_from_state(state: Mapping) -> Document:
    """The Document of a session state (checked: a hand-made state gets the same checks as a file)."""
    return _document(_strict(_field(_object(state, "the session"), "document", "")))[0]


# ----------------------------------------------------------------------------- exports
def _csv(rows) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)  # floats as repr: full precision, nan/inf as such
    return out.getvalue()


def runs_csv(result: Mapping) -> str:
    """Descent runs, one row per run and step: run, optimizer, step, <variables>, value, grad_norm.

    The format of ``calcviz descend --csv``. A run without a path gives one row: where it stopped.
    """
    names = list(result["variables"])

    def rows():
        yield ["run", "optimizer", "step", *names, "value", "grad_norm"]
        for k, run in enumerate(result["runs"]):
            path = run.get("path") or [{"step": run["steps"], "point": run["point"], "value": run["value"],
                                        "grad_norm": run["grad_norm"]}]
            for p in path:
                yield [k, run["optimizer"], p["step"], *(float(p["point"][n]) for n in names),
                       float(p["value"]), float(p["grad_norm"])]
    return _csv(rows())


def runs_json(result: Mapping) -> str:
    """The descent result as strict JSON (non-finite numbers as null)."""
    return _dumps(result, indent=2) + "\n"


def critical_csv(result: Mapping) -> str:
    """Critical points, one row each: <axes>, value, type, eigenvalue_1.., grad_norm, global_min, global_max."""
    axes = list(result["axes"])

    def rows():
        yield [*axes, "value", "type", *(f"eigenvalue_{i + 1}" for i in range(len(axes))), "grad_norm",
               "global_min", "global_max"]
        for p in result["critical_points"]:
            yield [*(float(p["point"][a]) for a in axes), float(p["value"]), p["type"],
                   *map(float, p["eigenvalues"]), float(p["grad_norm"]),
                   str(bool(p["global_min"])).lower(), str(bool(p["global_max"])).lower()]
    return _csv(rows())


def critical_json(result: Mapping) -> str:
    """The critical-points result as strict JSON (non-finite numbers as null)."""
    return _dumps(result, indent=2) + "\n"


def grid_npz(grid: Mapping, path) -> None:
    """An evaluated grid (Engine.evaluate_grid) as .npz: axes (names), xs, ys (two axes only), values.

    values[i, j] is f at (xs[i], ys[j]); on one axis values[i] is f at xs[i].
    """
    coords = grid["coords"]
    arrays = {"axes": np.array(list(grid["axes"]), dtype=str), "xs": np.asarray(coords[0])}
    if len(coords) == 2:
        arrays["ys"] = np.asarray(coords[1])
    arrays["values"] = np.asarray(grid["value"])
    with atomic_path(path, allowed_suffixes=(".npz",)) as temp:
        np.savez(temp, **arrays)


def grid_csv(grid: Mapping) -> str:
    """An evaluated grid in long format: one row per node, <axis 1>[, <axis 2>], f (x slowest).

    f is written in the shortest text of its own precision (a float32 grid's 0.1 as 0.1), which reads
    back to the same float32; formatted by hand, as csv.writer is four times slower on a 2000^2 grid.
    """
    coords = [[repr(float(c)) for c in axis] for axis in grid["coords"]]
    values = list(map(str, np.asarray(grid["value"]).ravel()))  # numpy's shortest round-trip text
    if len(coords) == 1:
        lines = (f"{x},{f}" for x, f in zip(coords[0], values))
    else:
        xs, ys = coords
        n = len(ys)
        lines = (f"{xs[k // n]},{ys[k % n]},{f}" for k, f in enumerate(values))
    return "\r\n".join([",".join([*grid["axes"], "f"]), *lines]) + "\r\n"  # csv.writer's line ends
