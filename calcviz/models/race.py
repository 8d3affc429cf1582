"""A descent race being watched: the runs computed ahead by the engine, revealed a step at a time.

The compute process runs every optimizer to its end in one batched call (milliseconds); the window
then shows the first ``shown`` steps and moves that cursor (Step, Run/Pause, Reset). So stepping
never waits for the engine and Pause stops at once. On a formula new to the engine its first steps
come first (``partial``: runs still "running"), and the cursor waits at their end for the rest.
Pure numpy: no Qt, no TensorFlow.
"""
from __future__ import annotations

import numpy as np

from .descent import OPTIMIZER_LABELS

REACH_FRACTION = 0.005  # a run "reached" a critical point within this fraction of the box per axis
MAX_SPEED = 200         # steps per second of the animation
# The window receives every step of every run (7 runs x 20,000 steps is ~140,000 records, read in a
# fraction of a second); a million-step race would be gigabytes crossing into the window's process.
# Longer runs: calcviz descend (up to descent.MAX_STEPS).
WINDOW_MAX_STEPS = 20_000


def run_labels(runs: list[dict]) -> list[str]:
    """Legend names: the optimizer's, numbered when several runs share one."""
    names = [OPTIMIZER_LABELS.get(r["optimizer"], r["optimizer"]) for r in runs]
    out = []
    for i, name in enumerate(names):
        out.append(f"{name} #{names[:i].count(name) + 1}" if names.count(name) > 1 else name)
    return out


class Race:
    """The result of Engine.descend (with paths) and how many steps of it are on screen."""

    def __init__(self, result: dict, shown: int = 0):
        self.result = result
        self.variables: list[str] = list(result["variables"])
        self.runs: list[dict] = result["runs"]
        self.labels = run_labels(self.runs)
        # Per run: points (steps + 1, n), values, |grad| — arrays once, sliced per frame.
        self.points = [np.array([[e["point"][v] for v in self.variables] for e in r["path"]], float).reshape(-1, len(self.variables))
                       for r in self.runs]
        self.values = [np.array([e["value"] for e in r["path"]], float) for r in self.runs]
        self.grad_norms = [np.array([e["grad_norm"] for e in r["path"]], float) for r in self.runs]
        self.length = max((r["steps"] for r in self.runs), default=0)
        self.shown = min(max(int(shown), 0), self.length)
        # The first steps of a race whose runs are still being computed (the rest replaces this Race).
        self.partial = any(r["status"] == "running" for r in self.runs)

    # ------------------------------------------------------------------ the cursor
    def advance(self, steps: int) -> int:
        self.shown = min(self.shown + max(int(steps), 0), self.length)
        return self.shown

    def reset(self) -> None:
        self.shown = 0

    @property
    def finished(self) -> bool:
        return self.shown >= self.length and not self.partial

    # ------------------------------------------------------------------ what is on screen
    def step_of(self, r: int) -> int:
        """The last step of run r on screen (a run that stopped earlier stays at its end)."""
        return min(self.shown, self.runs[r]["steps"])

    def path(self, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Points, values and |grad| of run r from its start to the step on screen."""
        k = self.step_of(r) + 1
        return self.points[r][:k], self.values[r][:k], self.grad_norms[r][:k]

    def entry(self, r: int) -> dict:
        """The path record at the step on screen: point, value, gradient, and the update taken next."""
        return self.runs[r]["path"][self.step_of(r)]

    def status(self, r: int) -> str:
        """"running" until the run's last step is on screen, then its status."""
        run = self.runs[r]
        return run["status"] if self.shown >= run["steps"] else "running"

    def stopped_between(self, before: int, after: int) -> list[int]:
        """Runs whose end came on screen when the cursor moved from ``before`` to ``after``
        (``before`` = -1: from nothing shown, so runs that stopped at their start count)."""
        return [r for r, run in enumerate(self.runs) if before < run["steps"] <= after and run["status"] != "running"]


def reached(point: dict, critical: dict | None, box: list[tuple[float, float]]) -> str:
    """The critical point (from the side panel's search) that ``point`` sits on, named; else ""."""
    if not critical:
        return ""
    axes = critical["axes"]
    tol = [REACH_FRACTION * (hi - lo) for lo, hi in box]
    for p in critical["critical_points"]:
        if all(abs(point[a] - p["point"][a]) <= t for a, t in zip(axes, tol)):
            kind = "global min" if p.get("global_min") else p["type"]
            coords = ", ".join(f"{p['point'][a]:.4g}" for a in axes)
            return f"{kind} ({coords})"
    return ""
