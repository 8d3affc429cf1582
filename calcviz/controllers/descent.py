"""Gradient descent in the window: start points, the race on both views, loss curves, the run
table, "explain this step", basins of attraction.

The engine computes every run to its end in one request (a few ms); the Session's Race reveals it
step by step, so Step and every animation frame only redraw and Pause stops at once. A changed
setup recomputes the runs and keeps the step on screen; a new start or function starts over (the
Session's rule).
"""
from __future__ import annotations

import numpy as np
from PyQt6 import QtCore

from ..models import grid as gridlib
from ..models.race import reached, run_labels
from ..models.session import NO_START, Session

FRAME_MS = 16  # the animation never asks for more than ~60 frames a second
# While animating, the contour map follows every frame; the other views take turns, one frame of
# their own at most every SECONDARY_MS (each repaint costs 10-40 ms on software GL: all of them in
# every frame stalled the event loop ~90 ms, all of them in one frame ~65 ms).
SECONDARY = ("surface", "loss", "table")
SECONDARY_MS = 80
SET_START_FIRST = "Set a start point first: Shift+click the map (or press Set start)."


class DescentController(QtCore.QObject):
    def __init__(self, session: Session, window, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.session, self.window = session, window
        self.panel, self.loss = window.descent, window.loss
        self.start_target: str | None = None   # the panel's choice: whose start a click on the map sets
        self.explained = 0                     # the run whose step is explained (a row of the run table)
        self._queued_steps = 0                 # Step pressed while the runs were on their way
        self.timer = QtCore.QTimer(self)
        self.timer.timeout.connect(self._tick)
        self._secondary = QtCore.QElapsedTimer()  # since a secondary view was last drawn
        self._secondary.start()
        self._turn = 0                              # the secondary view whose turn is next
        w, p, s = window, self.panel, session
        p.setupChanged.connect(s.set_descent_setup)
        p.stepRequested.connect(self.step)
        p.runToggled.connect(self.set_running)
        p.resetRequested.connect(self.reset)
        p.startTyped.connect(s.set_starts)
        p.setStartToggled.connect(self._start_mode)
        p.runChosen.connect(self.explain_run)
        p.startTargetChanged.connect(self._target)
        w.contour.startPicked.connect(lambda x, y: self.pick_start(x, y))
        w.contour.startDragged.connect(self.drag_start)
        w.curve.startPicked.connect(lambda x: self.pick_start(x))
        w.actions["descent_step"].triggered.connect(self.step)
        w.actions["descent_run"].triggered.connect(lambda: self.set_running(not s.running))
        w.actions["descent_reset"].triggered.connect(self.reset)
        s.settings_changed.connect(self.show_settings)
        s.result_changed.connect(self.show_result)
        s.running_changed.connect(self.show_running)
        s.messages_changed.connect(self.show_message)
        s.progress_changed.connect(self.show_progress)

    @property
    def pending(self) -> bool:
        """The runs (or the rest of them, after their first steps) are on their way."""
        s = self.session
        return s.request("race") is not None and s.error("race") is None and (s.race is None or s.race.partial)

    # ------------------------------------------------------------------ intents
    def _target(self, optimizer) -> None:
        self.start_target = optimizer

    def _start_mode(self, on: bool) -> None:
        self.window.contour.set_start_mode(on)
        self.window.curve.set_start_mode(on)
        if on:
            self.session.note("status", "Click the map to place the start point of gradient descent.")

    def pick_start(self, *coords: float) -> None:
        """A click (Shift, or in set-start mode): the start of every run, or of the chosen optimizer's."""
        self.panel.set_start_picking(False)
        self._start_mode(False)
        self.session.pick_start(coords, self.start_target)

    def drag_start(self, index: int, x: float, y: float) -> None:
        starts = [dict(p) for p in self.session.settings.descent.starts]
        if index < len(starts):
            starts[index] = dict(zip(self.session.axes, (x, y)))
            self.session.set_starts(starts)

    def step(self) -> None:
        s = self.session
        k = s.settings.descent.setup.steps_per_click
        race = s.race
        if race is None:
            if not s.settings.descent.starts:
                s.note(NO_START, SET_START_FIRST, error=True, panel=True)
            elif s.request("race") is not None:
                self._queued_steps += k  # taken as soon as the runs arrive
            return
        before = race.shown
        race.advance(k)
        if race.partial:  # the first steps of a new formula's race: the rest of the click when more arrive
            self._queued_steps += k - (race.shown - before)
        self._report(before, race.shown)
        self.redraw()

    def set_running(self, on: bool) -> None:
        s = self.session
        if on and not s.settings.descent.starts:
            s.note(NO_START, SET_START_FIRST, error=True, panel=True)
        race = s.race
        if on and race is not None and race.finished:
            race.reset()  # Run after the end replays the race
        s.set_running(on)
        self.show_running(s.running)

    def reset(self) -> None:
        s = self.session
        s.set_running(False)
        if s.race is not None:
            s.race.reset()
        self._queued_steps = 0
        s.forget("race")
        s.forget(NO_START)
        self.redraw()

    def explain_run(self, index: int) -> None:
        self.explained = int(index)
        self._explain()

    # ------------------------------------------------------------------ session -> views
    def show_settings(self, before, after) -> None:
        p, s = self.panel, self.session
        p.set_variables(list(after.document.axes))
        if after.descent.setup != before.descent.setup or before is after:
            p.set_setup(after.descent.setup.model_dump())
            if self.timer.isActive():
                self.timer.setInterval(self._interval()[0])
        if after.descent.starts != before.descent.starts or before is after:
            p.set_start(list(after.descent.starts))
            self._draw_starts()
        if after.view.toggles.explain_step != before.view.toggles.explain_step:
            self._explain()
        if after.view.toggles.basins != before.view.toggles.basins or before is after:
            self.show_basins()
        if after.document.axes != before.document.axes:
            self._draw_starts()
        if s.request("race") is not None and s.race is None:
            p.set_busy(True)

    def show_result(self, kind: str) -> None:
        s = self.session
        if kind == "race":
            race = s.race
            self.panel.set_busy(self.pending)
            if race is not None:
                if race.shown == 0:  # a new race: its loss curves come on screen
                    self.window.show_dock("loss")
                self.loss.set_steps(race.length)
                self.explained = min(self.explained, len(race.runs) - 1)
                steps, self._queued_steps = self._queued_steps, 0
                before = race.shown
                race.advance(steps)
                if race.partial:
                    self._queued_steps = steps - (race.shown - before)
                self._report(-1 if before == 0 else before, race.shown)
            self.redraw()
        elif kind == "basins":
            self.show_basins()
        elif kind == "grid":
            self.redraw(("surface",))  # paths lifted onto the surface follow its scale
        elif kind == "critical":
            self.redraw(("table",))    # the run table names the critical points runs reached

    def show_running(self, on: bool) -> None:
        if on:
            self.timer.start(self._interval()[0])
        else:
            if self.timer.isActive():
                self.redraw()  # every view shows the step the race paused at
            self.timer.stop()  # no tick after this: Pause takes effect before the next frame
        self.window.loss.hold_axes(on)
        self.panel.set_running(on)
        self.window.set_checked("descent_run", on)

    def show_message(self) -> None:
        message = self.session.panel_message
        self.panel.set_message(message.text if message else "", error=bool(message and message.error))

    def show_progress(self, kind: str, fraction) -> None:
        if kind == "basins" and fraction is not None:
            self.session.note("basins", f"Basins of attraction… {fraction:.0%} (Esc cancels)")

    def show_basins(self) -> None:
        s = self.session
        result = s.basins
        self.window.contour.set_basins(result)
        if result is None:
            if s.request("basins") is not None and s.error("basins") is None:
                s.note("basins", "Basins of attraction… (Esc cancels)")
            elif s.settings.view.toggles.basins and len(s.axes) != 2:
                s.note("basins", "Basins of attraction need a function of two variables.", error=True)
            return
        minima = len(result["minima"])
        labels = np.asarray(result["labels"])
        s.note("basins",
               f"Basins of attraction ({result['optimizer']}, lr {result['learning_rate']:g}): {minima} "
               f"minim{'um' if minima == 1 else 'a'} reached; {result['diverged']} starts diverged, "
               f"{result['unconverged']} did not converge in {result['steps']} steps "
               f"({result['seconds']:.1f} s for {labels.size:,} starts)")

    # ------------------------------------------------------------------ the animation
    def _interval(self) -> tuple[int, int]:
        """(timer interval in ms, steps per tick) for the chosen speed in steps per second."""
        speed = max(float(self.session.settings.descent.setup.speed), 0.1)
        interval = max(FRAME_MS, int(round(1000.0 / speed)))
        return interval, max(1, int(round(speed * interval / 1000.0)))

    def _tick(self) -> None:
        race = self.session.race
        if race is None:
            return  # the runs are on their way
        before = race.shown
        race.advance(self._interval()[1])
        if race.shown == before and not race.finished:
            return  # at the end of a race's first steps: the rest is on its way
        self._report(before, race.shown)
        if race.finished:
            self.redraw()
        elif self._secondary.hasExpired(SECONDARY_MS):
            # A secondary view's frame is its alone (the map catches up next frame): a repaint of the map
            # with the surface or the loss curves stalled the event loop 35-50 ms, each alone 10-25 ms.
            self._secondary.restart()
            self._turn = (self._turn + 1) % len(SECONDARY)
            self.redraw((SECONDARY[self._turn],))
        else:
            self.redraw(("map",))
        if race.finished:
            self.session.set_running(False)

    def _report(self, before: int, after: int) -> None:
        """A message for each run whose end just came on screen; a divergence where the user looks."""
        s = self.session
        race = s.race
        for r in race.stopped_between(before, after):
            run, label = race.runs[r], race.labels[r]
            s.note("race", f"{label}: {run['message']}", error=run["status"] == "diverged", panel=True)

    # ------------------------------------------------------------------ drawing
    def _draw_starts(self) -> None:
        w, s = self.window, self.session
        axes = s.axes
        starts = s.settings.descent.starts
        if len(axes) != 2:
            w.contour.set_starts([])
            return
        setup = s.settings.descent.setup
        each = len(starts) > 1
        w.contour.set_starts([(p[axes[0]], p[axes[1]]) for p in starts], list(setup.optimizers) if each else None)

    def redraw(self, parts=("map", *SECONDARY)) -> None:
        """Draw the race at its step on the given views ("map": the contour map or curve). Animation
        frames name a few of them: nothing is computed for a view that is not drawn."""
        w, s = self.window, self.session
        race = s.race
        runs = []  # per run: label, optimizer, points, values and |grad| up to the step on screen
        if race is not None:
            runs = [(label, run["optimizer"], *race.path(r)) for r, (label, run) in enumerate(zip(race.labels, race.runs))]
        elif self.pending:
            # Its runs on their way (a new formula): their lines stay, empty, so that the first steps only
            # fill them in (making the plot items again cost ~40 ms before the first step showed).
            optimizers = s.settings.descent.setup.optimizers
            empty = (np.zeros((0, len(s.axes))), np.zeros(0), np.zeros(0))
            runs = [(label, o, *empty) for label, o in zip(run_labels([{"optimizer": o} for o in optimizers]), optimizers)]
        two = len(race.variables if race is not None else s.axes) == 2
        if "map" in parts:
            paths = [{"label": label, "optimizer": o, "x": points[:, 0], "y": points[:, 1] if two else values}
                     for label, o, points, values, _ in runs]
            w.contour.set_paths(paths if two else [])
            w.curve.set_paths([] if two else paths)
        if "surface" in parts:
            log_scale = s.log_scale
            w.surface.set_paths([{"label": label, "optimizer": o, "x": points[:, 0], "y": points[:, 1],
                                  "z": gridlib.symlog(values) if log_scale else values}
                                 for label, o, points, values, _ in (runs if two else [])])
        if "loss" in parts:
            self.loss.set_runs([{"label": label, "optimizer": o, "steps": np.arange(len(values)), "values": values,
                                 "grad_norms": norms} for label, o, _, values, norms in runs])
        if "table" in parts:
            self.panel.set_runs([self._row(r, label, values, norms) for r, (label, _, _, values, norms) in enumerate(runs)]
                                if race is not None else [])
            self._explain()

    def _row(self, r: int, label: str, values, norms) -> dict:
        """Run r's line in the run table at the step on screen."""
        s = self.session
        race = s.race
        run, status = race.runs[r], race.status(r)
        return {"optimizer": run["optimizer"], "label": label, "steps": race.step_of(r),
                "value": float(values[-1]), "grad_norm": float(norms[-1]), "status": status,
                "message": run["message"] if status != "running" else "",
                "reached": reached(race.entry(r)["point"], s.critical, s.document.ranges) or _ended(run, status)}

    def _explain(self) -> None:
        """At the step on screen of the chosen run: -grad, velocity and the update, drawn and in numbers."""
        w, s = self.window, self.session
        race = s.race
        if not s.settings.view.toggles.explain_step or race is None or self.explained >= len(race.runs):
            w.contour.clear_explain()
            w.inspector.set_step(None)
            return
        r = self.explained
        entry, run = race.entry(r), race.runs[r]
        names = race.variables
        w.inspector.set_step({"label": race.labels[r], "optimizer": run["optimizer"], "variables": names, **entry})
        if len(names) != 2:
            return
        vectors = [("−∇f", [-entry["gradient"][n] for n in names], "#d62728")]
        if entry.get("velocity"):
            vectors.append(("velocity", [entry["velocity"][n] for n in names], "#9467bd"))
        if entry.get("update"):
            vectors.append(("update", [entry["update"][n] for n in names], "#111111"))
        facts = [(race.labels[r], f"step {entry['step']}"), ("learning rate", f"{entry['learning_rate']:.4g}"),
                 ("f", f"{entry['value']:.6g}")]
        w.contour.set_explain(entry["point"][names[0]], entry["point"][names[1]], vectors, facts)

    def shutdown(self) -> None:
        self.timer.stop()


def _ended(run: dict, status: str) -> str:
    """What a converged run reached by its own Hessian (when the critical-point list does not name it):
    a saddle or maximum is one a nudge would leave."""
    kind = run.get("reached") if status == "converged" else None
    if kind in ("saddle", "maximum"):
        return f"{kind}: a nudge would leave it"
    return kind or ""
