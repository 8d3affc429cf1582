"""``python -m calcviz.bench [SECTION ...] [--quick] [--strict]``: run the benchmark sections, print JSON.

With no SECTION every registered section runs (see calcviz.bench.SECTIONS), one after the other,
each in a fresh child process (``--child``), so TensorFlow and OpenGL never share a process.
Only the final JSON document goes to stdout; progress and anything a library prints go to stderr.
Exit status: 0 when every section ran (1 with --strict if a target failed), 2 for a bad argument,
3 when a section crashed.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from importlib import metadata

from . import SECTIONS, find_targets


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict:
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), None)
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    mem_total = None
    try:
        with open("/proc/meminfo") as f:
            mem_total = round(int(next(l for l in f if l.startswith("MemTotal:")).split()[1]) / 1024 ** 2, 1)
    except (OSError, StopIteration):
        pass
    return {
        "cpu_count": os.cpu_count(),
        "cpu_usable": usable,
        "cpu_model": model,
        "memory_gb": mem_total,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "tensorflow": _version("tensorflow") or _version("tensorflow-cpu"),
    }


def _child(section: str, out: str, quick: bool) -> int:
    """Run one section in this process and write its result (JSON) to ``out``."""
    module = importlib.import_module(SECTIONS[section])
    result = module.run(quick=quick)
    with open(out, "w") as f:
        json.dump(result, f)
    return 0


def _cpu_busy_seconds() -> float | None:
    """CPU time spent by everything on the machine so far (all CPUs, /proc/stat), in seconds."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_section(section: str, quick: bool, timeout: float) -> dict:
    fd, out = tempfile.mkstemp(prefix=f"calcviz-bench-{section}-", suffix=".json")
    os.close(fd)
    cmd = [sys.executable, "-m", "calcviz.bench", "--child", section, "--out", out] + (["--quick"] if quick else [])
    t0 = time.perf_counter()
    busy0, own0 = _cpu_busy_seconds(), _children_cpu_seconds()
    try:
        # The child's stdout goes to our stderr: only the final document may reach stdout.
        proc = subprocess.run(cmd, stdout=sys.stderr, timeout=timeout)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            return {"error": f"section process exited with status {proc.returncode}", "seconds": round(seconds, 1)}
        with open(out) as f:
            result = json.load(f)
        result["seconds"] = round(seconds, 1)
        busy1 = _cpu_busy_seconds()
        if busy0 is not None and busy1 is not None:
            # CPU that other processes used meanwhile: the figures are only as good as this is small.
            others = max(0.0, (busy1 - busy0) - (_children_cpu_seconds() - own0))
            result["other_processes_cpu_share"] = round(others / (seconds * (os.cpu_count() or 1)), 3)
        return result
    except subprocess.TimeoutExpired:
        return {"error": f"section did not finish within {timeout:g} s"}
    except (OSError, ValueError) as exc:
        return {"error": f"could not read the section's result: {exc}"}
    finally:
        try:
            os.unlink(out)
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m calcviz.bench", description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", metavar="SECTION",
                        help=f"sections to run (default: all of {', '.join(SECTIONS)})")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke test; figures are rough)")
    parser.add_argument("--strict", action="store_true", help="exit with status 1 when a target fails")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per section")
    parser.add_argument("--child", metavar="SECTION", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        return _child(args.child, args.out, args.quick)

    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section {unknown[0]!r}: choose from {', '.join(SECTIONS)}")
    chosen = list(dict.fromkeys(args.sections)) or list(SECTIONS)

    report: dict = {"machine": machine(), "quick": args.quick, "sections": {}}
    report["machine"]["load_average_1min_at_start"] = round(os.getloadavg()[0], 2)
    crashed = False
    for section in chosen:
        print(f"calcviz.bench: running {section} ...", file=sys.stderr, flush=True)
        result = _run_section(section, args.quick, args.timeout)
        crashed |= "error" in result
        report["machine"].update(result.pop("machine", {}))  # e.g. the device the engine picked
        report["sections"][section] = result

    targets = find_targets(report["sections"])
    failed = [path for path, t in targets if not t["pass"]]
    report["summary"] = {
        "targets": len(targets),
        "passed": len(targets) - len(failed),
        "failed": failed,
        "sections_crashed": [s for s, r in report["sections"].items() if "error" in r],
        "all_pass": not failed and not crashed,
    }
    print(json.dumps(report, indent=2))
    if crashed:
        return 3
    return 1 if (args.strict and failed) else 0


if __name__ == "__main__":
    sys.exit(main())
