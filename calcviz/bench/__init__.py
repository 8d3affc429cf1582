"""Benchmarks: ``python -m calcviz.bench [SECTION ...]`` prints one JSON document.

Each section is a module here with ``run(quick: bool) -> dict``, registered in :data:`SECTIONS`.
Every section runs in a process of its own (TensorFlow and OpenGL must never share one, and a
fresh process keeps one section's memory and threads out of the next one's figures).

A figure that has a target is a dict made by :func:`target` (``{"value", "target", "pass"}``, plus
the unit); the runner finds them wherever they sit and lists the failed ones. Helpers here must not
import TensorFlow or Qt: the runner process imports this module.
"""
from __future__ import annotations

import ctypes
import gc
import statistics
import sys
import time
from typing import Callable

# name -> module (imported only in that section's own process). Add a section by adding a line.
SECTIONS: dict[str, str] = {
    "engine": "calcviz.bench.engine",
    "critical": "calcviz.bench.critical",
    "gui": "calcviz.bench.gui",
    "descent": "calcviz.bench.descent",
    "graph": "calcviz.bench.graph",
    "export": "calcviz.bench.export",
    "matrix": "calcviz.bench.matrix",
}


def sayer(section: str) -> Callable[..., None]:
    """A section's progress printer (stderr: stdout carries the JSON)."""
    def say(*parts) -> None:
        print(f"calcviz.bench {section}:", *parts, file=sys.stderr, flush=True)
    return say


def target(value: float, limit: float, unit: str, *, at_most: bool = True, **extra) -> dict:
    """A measured figure next to its target and whether it meets it (``value <= limit`` by default)."""
    ok = value <= limit if at_most else value >= limit
    return {"value": round(float(value), 4), "unit": unit,
            "target": f"{'<=' if at_most else '>='} {limit:g}", "pass": bool(ok), **extra}


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` in milliseconds (time.perf_counter), after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    return statistics.median(timed_ms(fn) for _ in range(repeats))


def timed_ms(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


def ms(x: float) -> float:
    """Round a millisecond figure for printing."""
    return round(float(x), 4)


def settle_memory() -> None:
    """Collect garbage and hand free heap pages back to the OS, so VmRSS reflects live memory.

    Without malloc_trim, RSS after gc.collect() depends on where the freed blocks sit in the heap
    (seen here: +-40 MB between two readings of the same live memory).
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the collect alone
        pass


def rss_mb() -> float:
    """This process's resident set size (VmRSS from /proc/self/status), in MB."""
    return rss_mb_of("self")


def rss_mb_of(pid: int | str) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS line in /proc/status")


def find_targets(node, path: str = "") -> list[tuple[str, dict]]:
    """Every target dict (see :func:`target`) under ``node``, with its dotted path."""
    found = []
    if isinstance(node, dict):
        if "pass" in node and "target" in node:
            return [(path, node)]
        for key, value in node.items():
            found += find_targets(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += find_targets(value, f"{path}[{i}]")
    return found
