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

Session files are JSON (UTF-8): their schema is the session's own models (models/settings.py).
Here they are read (bounded, strict JSON: no NaN, no hostile nesting) and written atomically.

Exports: descent runs and critical points as CSV or JSON, grids as NPZ or long-format CSV. JSON
exports are strict JSON (non-finite numbers are null); CSV writes floats as the shortest text that
reads back to the same number (Python's repr; a float32 grid's values at float32 precision) and
non-finite values as nan, inf, -inf.
"""
from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import re
import secrets
import stat
import sys
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np

from .settings import MAX_GRID, NOT_SESSION, SessionError, SessionFile, check_file, strict_json  # noqa: F401 - MAX_GRID re-exported

SESSION_SUFFIXES = (".json",)
MAX_FILE_BYTES = 100 * 1024 * 1024  # larger files are refused before they are read
MAX_NESTING = 32                     # the schema nests 7 deep; deeper JSON is hostile or not ours

_NOT_SESSION = NOT_SESSION


class StorageError(ValueError):
    """A file that could not be written, worded for the user."""


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
def _dumps(obj, indent: int | None = None) -> str:
    separators = None if indent else (",", ":")
    return json.dumps(strict_json(obj), indent=indent, separators=separators, ensure_ascii=False, allow_nan=False)


# ----------------------------------------------------------------------------- reading a session file
def _check_nesting(data) -> None:
    stack = [(data, 1)]
    while stack:
        obj, depth = stack.pop()
        if depth > MAX_NESTING:
            raise SessionError(f"{_NOT_SESSION}: its JSON nests more than {MAX_NESTING} levels deep")
        children = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else ()
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


# ----------------------------------------------------------------------------- sessions: public
def session_to_text(file: Mapping) -> str:
    """The session file's text: compact strict JSON (non-finite numbers as null), UTF-8 safe.

    ``file`` is JSON-shaped (Session.file()); it is checked as a file being opened is, so what is
    saved opens again. Raises SessionError when it would not load (too large, or a part refused).
    """
    check_file(json.loads(_dumps(file)))
    text = _dumps(file) + "\n"
    size = len(text.encode("utf-8"))
    if size > MAX_FILE_BYTES:
        raise SessionError(f"the session is too large to save ({size / 2**20:.0f} MB; at most "
                           f"{MAX_FILE_BYTES // 2**20} MB): clear the descent runs or show fewer steps")
    return text


def parse_session(text: str) -> SessionFile:
    """The checked session of a session file's text; SessionError names what is wrong."""
    return check_file(_loads(text))


def _opener_not_waiting(name, flags: int) -> int:
    return os.open(name, flags | getattr(os, "O_NONBLOCK", 0))


def _not_regular(path: Path, mode: int) -> str:
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file")
    return f"{path} is not a regular file ({kind}), so it cannot be a session file"


def load_session(path) -> SessionFile:
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


def save_session(path, file: Mapping) -> None:
    """Write the session ``file`` (Session.file()) to ``path`` (.json) atomically."""
    atomic_write(path, session_to_text(file), allowed_suffixes=SESSION_SUFFIXES)



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
