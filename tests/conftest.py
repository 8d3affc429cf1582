"""Hygiene for every test folder: a test module may not leave processes or threads running."""
from __future__ import annotations

import multiprocessing
import threading
import time

import pytest


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
