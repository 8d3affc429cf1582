"""Gradient descent in the window: start points, the race on both views, loss curves, basins.

The engine computes every run to its end in one batched request (a few ms); a :class:`Race`
reveals it step by step, so Step and every animation frame only redraw and Pause stops at once.
A changed setup recomputes the runs and keeps the step on screen; a new start or formula starts over.
"""
from __future__ import annotations

import numpy as np
from PyQt6 import QtCore, QtGui

from .models import grid as gridlib
from .models.compute import Reply
from .models.race import Race, reached
from .views.descent_panel import OPTIMIZER_COLORS

START_COLOR = "#ffffff"  # one start shared by every optimizer
BASIN_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
DIVERGED_COLOR = "#b00020"
UNCONVERGED_COLOR = "#7f7f7f"
BASINS_MAX_SIDE = 200
FRAME_MS = 16  # the animation never asks for more than ~60 frames a second
# While animating, the contour map follows every frame; the other views take turns, one per frame
# at most every SECONDARY_MS (each repaint costs 10-40 ms on software GL: all of them in every frame
# stalled the event loop ~90 ms, all of them in one frame ~65 ms).
SECONDARY = ("surface", "loss", "table")
SECONDARY_MS = 80


class DescentController(QtCore.QObject):
    def __init__(self, controller):
        super().__init__(controller)
        self.controller = controller
        self.window = w = controller.window
        self.panel, self.loss = w.descent, w.loss
        self.starts: list[dict] = []   # by variable; one for all optimizers, or one per optimizer
        self.race: Race | None = None
        self.pending = False           # a descend request is out
        self._request_id = -1          # only the reply to this request is shown
        self._queued_steps = 0         # Step pressed before the runs arrived
        self._keep_shown = 0
        self.explained = 0             # the run whose step is explained
        self.basins: dict | None = None
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self._tick)
        self._secondary = QtCore.QElapsedTimer()  # since a secondary view was last drawn
        self._secondary.start()
        self._turn = 0                              # the secondary view whose turn is next
        p = self.panel
        p.setupChanged.connect(lambda _setup: self.setup_changed())
        p.stepRequested.connect(self.step)
        p.runToggled.connect(self.set_running)
        p.resetRequested.connect(self.reset)
        p.startTyped.connect(self.set_starts)
        p.setStartToggled.connect(self._start_mode)
        p.runChosen.connect(self.explain_run)
        w.contour.startPicked.connect(lambda x, y: self.pick_start(x, y))
        w.contour.startDragged.connect(self.drag_start)
        w.curve.startPicked.connect(lambda x: self.pick_start(x))
        w.actions["descent_step"].triggered.connect(self.step)
        w.actions["descent_run"].triggered.connect(lambda: self.panel.run_button.click())
        w.actions["descent_reset"].triggered.connect(self.reset)
        w.actions["explain_step"].toggled.connect(lambda _on: self._explain())
        w.actions["basins"].toggled.connect(self._basins_toggled)

    # ------------------------------------------------------------------ start points
    @property
    def variables(self) -> list[str]:
        doc = self.controller.document
        return list(doc.axes) if doc else []

    def _start_mode(self, on: bool) -> None:
        self.window.contour.set_start_mode(on)
        self.window.curve.set_start_mode(on)
        if on:
            self.window.show_status("Click the map to place the start point of gradient descent.")

    def pick_start(self, *coords: float) -> None:
        """A click (Shift, or in set-start mode): the start of every run, or of the chosen optimizer's."""
        point = dict(zip(self.variables, map(float, coords)))
        target = self.panel.start_target()  # None: one start for all
        if target is None or not self.starts:
            starts = [point]
        else:
            starts = self.panel.starts()
            starts[self.panel.checked_optimizers().index(target)] = point
        self.panel.set_start_picking(False)
        self._start_mode(False)
        self.set_starts(starts)

    def drag_start(self, index: int, x: float, y: float) -> None:
        starts = self.panel.starts()
        if self.starts and index < len(starts):
            starts[index] = dict(zip(self.variables, (x, y)))
            self.set_starts(starts)

    def set_starts(self, starts: list[dict]) -> None:
        """New start point(s) (one for all, or one per ticked optimizer): the race starts over."""
        self.panel.set_start(starts)
        self.starts = self.panel.starts() if starts else []
        self._keep_shown = 0
        self.race = None
        self.request()

    # ------------------------------------------------------------------ requests
    def _request_kwargs(self, setup: dict) -> dict:
        doc = self.controller.document
        return dict(text=doc.text, params=doc.param_values, lr=setup["lr"], steps=setup["max_steps"], tol=setup["tol"],
                    hyperparameters=setup["hyperparameters"], schedule=setup["schedule"], box=doc.ranges)

    def request(self) -> None:
        """Compute the race for the current start(s), formula and setup."""
        doc = self.controller.document
        setup = self.panel.setup()
        if not self.starts or doc is None or not doc.axes:
            return
        if not setup["optimizers"]:
            self.panel.set_message("Tick at least one optimizer.", error=True)
            return
        self.starts = self.panel.starts()  # one per ticked optimizer in "one start each"
        self._request_id = self.controller.client.submit("descend", start=self.starts, optimizers=setup["optimizers"],
                                      **self._request_kwargs(setup))
        self.pending = True
        self.panel.set_busy(True)
        self.window.set_busy(True)

    def setup_changed(self) -> None:
        """Recompute with the new setup; the race stays at the step on screen."""
        if self.race is not None:
            self._keep_shown = self.race.shown
        self._draw_starts()
        self.request()
        if self.window.actions["basins"].isChecked():
            self.request_basins()
        if self.timer.isActive():
            self.timer.setInterval(self._interval()[0])

    def document_changed(self, axes_changed: bool) -> None:
        """A new formula, box or parameter: the same start(s) on the new function, from step 0."""
        self.set_running(False)
        if axes_changed:
            self.starts, self.race, self.basins = [], None, None
            self.panel.set_variables(self.variables)
            self.panel.set_start([])
            self.window.contour.set_basins(None, None, None)
            self.redraw()
            return
        self._keep_shown = 0
        self.request()
        if self.window.actions["basins"].isChecked():
            self.request_basins()

    def handle(self, reply: Reply) -> None:
        w = self.window
        if reply.kind == "basins":
            if reply.progress is not None:
                w.show_status(f"Basins of attraction… {reply.progress:.0%} (Esc cancels)")
            elif reply.error is not None:
                w.show_status(f"Basins of attraction: {reply.error}", error=True)
            else:
                self.show_basins(reply.payload)
            return
        if reply.id != self._request_id:
            return  # asked for before a session was opened or the runs were cleared
        self.pending = False
        self.panel.set_busy(False)
        if reply.error is not None:
            self.race = None
            self.set_running(False)
            self.panel.set_message(reply.error, error=True)
            w.show_status(f"Gradient descent: {reply.error}", error=True)
            self.redraw()
            return
        self.race = Race(reply.payload, shown=self._keep_shown)
        self.loss.set_steps(self.race.length)
        self.explained = min(self.explained, len(self.race.runs) - 1)
        self.panel.set_message("")
        steps, self._queued_steps = self._queued_steps, 0
        before = self.race.shown
        self.race.advance(steps)
        self._report(-1 if before == 0 else before, self.race.shown)
        self.redraw()

    def forget(self) -> None:
        """No start, no race, nothing on its way (before a session is opened)."""
        self.set_running(False)
        self.starts, self.race, self._request_id = [], None, -1
        self.pending = False
        self.panel.set_busy(False)
        self.redraw()

    def cancelled(self) -> None:
        """Esc restarted the compute process: whatever was asked for will not come."""
        self.pending = False
        self.panel.set_busy(False)
        self._queued_steps = 0

    # ------------------------------------------------------------------ Step, Run/Pause, Reset
    def step(self) -> None:
        k = int(self.panel.setup()["steps_per_click"])
        if self.race is None:
            if not self.starts:
                self.panel.set_message("Set a start point first: Shift+click the map (or press Set start).", error=True)
            elif self.pending:
                self._queued_steps += k  # taken as soon as the runs arrive
            return
        before = self.race.shown
        self.race.advance(k)
        self._report(before, self.race.shown)
        self.redraw()

    def _interval(self) -> tuple[int, int]:
        """(timer interval in ms, steps per tick) for the chosen speed in steps per second."""
        speed = max(float(self.panel.setup()["speed"]), 0.1)
        interval = max(FRAME_MS, int(round(1000.0 / speed)))
        return interval, max(1, int(round(speed * interval / 1000.0)))

    def set_running(self, on: bool) -> None:
        if on and not self.starts:
            self.panel.set_message("Set a start point first: Shift+click the map (or press Set start).", error=True)
            on = False
        if on and self.race is not None and self.race.finished:
            self.race.reset()  # Run after the end replays the race
        if on:
            self.timer.start(self._interval()[0])
        else:
            if self.timer.isActive():
                self.redraw()  # every view shows the step the race paused at
            self.timer.stop()  # no tick after this: Pause takes effect before the next frame
        self.panel.set_running(on)
        self.window.actions["descent_run"].setChecked(on)

    def _tick(self) -> None:
        if self.race is None:
            return  # the runs are on their way
        before = self.race.shown
        self.race.advance(self._interval()[1])
        self._report(before, self.race.shown)
        if self.race.finished:
            self.redraw()
        elif self._secondary.hasExpired(SECONDARY_MS):
            self._secondary.restart()
            self._turn = (self._turn + 1) % len(SECONDARY)
            self.redraw(("map", SECONDARY[self._turn]))
        else:
            self.redraw(("map",))
        if self.race.finished:
            self.set_running(False)

    def reset(self) -> None:
        self.set_running(False)
        if self.race is not None:
            self.race.reset()
        self._queued_steps = 0
        self.panel.set_message("")
        self.redraw()

    def _report(self, before: int, after: int) -> None:
        """A message for each run whose end just came on screen; a divergence where the user looks."""
        race = self.race
        for r in race.stopped_between(before, after):
            run, label = race.runs[r], race.labels[r]
            error = run["status"] == "diverged"
            self.panel.set_message(f"{label}: {run['message']}", error=error)
            self.window.show_status(f"{label}: {run['message']}", error=error)

    # ------------------------------------------------------------------ drawing
    def _colors(self) -> list[str]:
        return [OPTIMIZER_COLORS[r["optimizer"]] for r in self.race.runs] if self.race else []

    def _draw_starts(self) -> None:
        w = self.window
        if len(self.variables) != 2:
            w.contour.set_starts([], [])
            return
        setup = self.panel.setup()
        starts = self.panel.starts() if self.starts else []
        if len(starts) > 1:
            colors = [OPTIMIZER_COLORS[o] for o in setup["optimizers"]]
        else:
            colors = [START_COLOR]
        a, b = self.variables
        w.contour.set_starts([(s[a], s[b]) for s in starts], colors)

    def redraw(self, parts=("starts", "map", *SECONDARY)) -> None:
        """Draw the race at its step on the given views ("map": the contour map or curve). Animation
        frames name a few of them: nothing is computed for a view that is not drawn."""
        w, race = self.window, self.race
        if "starts" in parts:  # the start markers change with the starts and the setup, not the step
            self._draw_starts()
        runs = []  # per run: label, colour, points, values and |grad| up to the step on screen
        if race is not None:
            runs = [(label, color, *race.path(r)) for r, (label, color) in enumerate(zip(race.labels, self._colors()))]
        two = len(self.variables) == 2
        if "map" in parts:
            paths = [{"label": label, "color": color, "x": points[:, 0], "y": points[:, 1] if two else values}
                     for label, color, points, values, _ in runs]
            w.contour.set_paths(paths if two else [])
            w.curve.set_paths([] if two else paths)
        if "surface" in parts:
            log_scale = w.actions["log_scale"].isChecked() and two
            w.surface.set_paths([{"label": label, "color": color, "x": points[:, 0], "y": points[:, 1],
                                  "z": gridlib.symlog(values) if log_scale else values}
                                 for label, color, points, values, _ in runs] if two else [])
        if "loss" in parts:
            self.loss.set_runs([{"label": label, "color": color, "steps": np.arange(len(values)), "values": values,
                                 "grad_norms": norms} for label, color, _, values, norms in runs])
        if "table" in parts:
            self.panel.set_runs([self._row(r, label, color, values, norms)
                                 for r, (label, color, _, values, norms) in enumerate(runs)])
            self._explain()

    def _row(self, r: int, label: str, color: str, values, norms) -> dict:
        """Run r's line in the run table at the step on screen."""
        race, doc = self.race, self.controller.document
        run, status = race.runs[r], race.status(r)
        return {"optimizer": run["optimizer"], "label": label, "color": color, "steps": race.step_of(r),
                "value": float(values[-1]), "grad_norm": float(norms[-1]), "status": status,
                "message": run["message"] if status != "running" else "",
                "reached": reached(race.entry(r)["point"], self.controller.critical, doc.ranges if doc else [])}

    def explain_run(self, index: int) -> None:
        self.explained = int(index)
        self._explain()

    def _explain(self) -> None:
        """At the step on screen of the chosen run: -grad, velocity and the update, drawn and in numbers."""
        w, race = self.window, self.race
        if not w.actions["explain_step"].isChecked() or race is None or self.explained >= len(race.runs):
            w.contour.clear_explain()
            w.inspector.set_step(None)
            return
        r = self.explained
        entry, run = race.entry(r), race.runs[r]
        names = self.variables
        w.inspector.set_step({"label": race.labels[r], "optimizer": run["optimizer"], "variables": names, **entry})
        if len(names) != 2:
            return
        vectors = [("−∇f", [-entry["gradient"][n] for n in names], "#d62728")]
        if entry.get("velocity"):
            vectors.append(("velocity", [entry["velocity"][n] for n in names], "#9467bd"))
        if entry.get("update"):
            vectors.append(("update", [entry["update"][n] for n in names], "#111111"))
        w.contour.set_explain(entry["point"][names[0]], entry["point"][names[1]], vectors)

    # ------------------------------------------------------------------ basins of attraction
    def _basins_toggled(self, on: bool) -> None:
        if on:
            self.request_basins()
        else:
            self.basins = None
            self.window.contour.set_basins(None, None, None)

    def request_basins(self) -> None:
        doc, w = self.controller.document, self.window
        if doc is None or len(doc.axes) != 2:
            w.show_status("Basins of attraction need a function of two variables.", error=True)
            return
        setup = self.panel.setup()
        optimizer = (setup["optimizers"] or ["gd"])[0]
        kwargs = self._request_kwargs(setup)
        kwargs.pop("box")
        self.controller.client.submit("basins", axes=list(doc.axes), ranges=doc.ranges,
                                      n=min(doc.n, BASINS_MAX_SIDE), optimizer=optimizer, **kwargs)
        w.set_busy(True)
        w.show_status("Basins of attraction… (Esc cancels)")

    def show_basins(self, result: dict) -> None:
        self.basins = result
        labels = np.asarray(result["labels"])
        palette = np.array([QtGui.QColor(c).getRgb() for c in BASIN_COLORS], np.uint8)
        rgba = palette[np.maximum(labels, 0) % len(palette)].copy()
        rgba[labels == -1] = QtGui.QColor(DIVERGED_COLOR).getRgb()
        rgba[labels == -2] = QtGui.QColor(UNCONVERGED_COLOR).getRgb()
        rgba[..., 3] = 150  # the contour lines and paths stay readable through it
        xs, ys = (np.asarray(c) for c in result["coords"])
        self.window.contour.set_basins(xs, ys, rgba)
        minima = len(result["minima"])
        self.window.show_status(
            f"Basins of attraction ({result['optimizer']}, lr {result['learning_rate']:g}): {minima} "
            f"minim{'um' if minima == 1 else 'a'} reached; {result['diverged']} starts diverged, "
            f"{result['unconverged']} did not converge in {result['steps']} steps "
            f"({result['seconds']:.1f} s for {labels.size:,} starts)")
