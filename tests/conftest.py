"""Shared by every test folder (no TensorFlow, no Qt here): process and thread hygiene, a small
real disk for fault tests, and how the property tests draw their examples."""
from __future__ import annotations

import contextlib
import multiprocessing
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from hypothesis import settings

# CI judges one change: there the property tests draw the same examples every run, so a new random draw
# that happens on an old bug elsewhere cannot fail a change that did not cause it. A developer's run draws
# new examples each time; what one finds is fixed and pinned with @example (test_lowering has one).
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


def _alive_children() -> set:
    return {p for p in multiprocessing.active_children() if p.is_alive()}


@pytest.fixture(scope="module", autouse=True)
def _nothing_left_running():
    """After a module (and its module-scoped windows) is done, every process it started has ended and
    every Python thread it started has stopped: a compute process or worker left behind would keep
    running after the window that owned it closed."""
    processes, threads = _alive_children(), set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5.0  # a process asked to stop gets a moment to do so
    while time.monotonic() < deadline and (_alive_children() - processes):
        time.sleep(0.05)
    left = _alive_children() - processes
    stray = [t for t in threading.enumerate() if t not in threads and t.is_alive() and not t.daemon]
    assert not left, f"processes left running: {[p.name for p in left]}"
    assert not stray, f"threads left running: {[t.name for t in stray]}"


@pytest.fixture
def small_disk():
    """small_disk(folder, size_kb, files, read_only): a real tmpfs of ``size_kb`` mounted on ``folder``
    holding ``files`` (name -> text), remounted read-only if asked; unmounted after the test. Skips
    where mounting is not allowed (the tests with an injected ENOSPC cover the same code there)."""
    mounted: list[Path] = []

    def mount(folder: Path, size_kb: int = 64, files: dict[str, str] | None = None, read_only: bool = False) -> Path:
        folder.mkdir(exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(folder)
        for name, text in (files or {}).items():
            (folder / name).write_text(text)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        return folder

    yield mount
    for folder in reversed(mounted):
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["umount", "-l", str(folder)], check=True)
