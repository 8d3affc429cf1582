"""The Session: the one home of everything the window shows or saves, evented (psygnal).

It holds
- ``settings`` (models/settings.py): what the user chose. Immutable; every change replaces them and
  emits ``settings_changed(before, after)``. Intent methods (set_text, set_param, select, ...) are
  the only way to change them; undo/redo restore snapshots of the editable part (:class:`History`).
- ``results``: what the engine computed, each tagged with the request it answers. Which request
  each result kind wants is decided in one place, :meth:`Session.request` (kwargs for the engine,
  or None when nothing is wanted). The rule that follows: a result stays only while its request is
  still the one the settings want. So a change drops every result it makes stale (and the
  messages and hover read-out derived from them), and a late reply to an older request is dropped
  on arrival. ``result_changed(kind)`` tells the views.
- previews: another backend's stand-in for a result while TensorFlow is not there yet (the grid's
  values from numpy at launch), kept apart from ``results`` so that nothing takes one for
  TensorFlow's: only drawing reads them (``preview``), and the real result replaces them.
- messages (status bar, descent panel), the hover read-out, progress, whether the race animates.

No Qt here: controllers connect the signals to the views and the compute bridge; tests drive a
Session alone.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from psygnal import Signal

from . import grid as gridlib
from . import matrix
from .expression import Expression, ParseError, parse, parse_derivatives
from .lowering import constant_value
from .race import Race
from .settings import (  # noqa: F401 - re-exported: the session's vocabulary
    DEFAULT_EXPRESSION, MAX_ASPECT, MAX_GRID, TOGGLES, VALUE_LIMIT, Camera, Check, Descent, DescentSetup, Document,
    Param, SessionError, SessionFile, Settings, View, file_of, settings_of,
)

# Also the order they are asked for: what the user waits on first (the race before the critical points:
# its first steps answer a Step; a point's function is the race's too, so it costs the race nothing).
RESULTS = ("grid", "point", "race", "critical", "approximation", "basins", "chain", "matrix", "check")
CHECK_GRID = 101        # points per side where a formula of numbers' derivatives are checked (the error map)
BASINS_MAX_SIDE = 200   # starts per side of the basins map
DEFAULT_EPS = (0.01, -0.03)  # where the local models are compared: the chapter's epsilon
HISTORY_LIMIT = 200     # undo steps kept
NO_START = "no start"   # the source of the message asking for a start point (gone once there is one)


@dataclass(frozen=True)
class Result:
    key: str                  # the request it answers (see Session.request)
    payload: Any = None
    error: str | None = None
    final: bool = True        # False: the result so far (a race's first steps); the rest is on its way


@dataclass(frozen=True)
class Message:
    text: str
    error: bool = False
    panel: bool = False       # also shown in the descent panel (divergence, "set a start first", ...)


def request_key(kwargs: Mapping | None) -> str | None:
    """A request's identity: its arguments, canonically (floats round-trip exactly through repr)."""
    return None if kwargs is None else json.dumps(kwargs, sort_keys=True, default=repr)


# ----------------------------------------------------------------------------- undo
@dataclass(frozen=True)
class Snapshot:
    """The editable part undo restores as one: the text as typed (with its check state), the document
    (formula, box, resolution, axes, parameters) and the view's switches."""
    editor: str | None
    document: Document
    toggles: Any
    log_scale: bool | None

    @classmethod
    def of(cls, s: Settings) -> "Snapshot":
        return cls(s.editor, s.document, s.view.toggles, s.view.log_scale)

    def into(self, s: Settings) -> Settings:
        view = s.view.model_copy(update={"toggles": self.toggles, "log_scale": self.log_scale})
        return s.model_copy(update={"editor": self.editor, "document": self.document, "view": view})


class History:
    """Undo and redo as snapshots. Consecutive changes with the same ``merge`` key (one parameter's
    slider being dragged) are one step; text edits never merge, so typing never loses text."""

    def __init__(self):
        self._steps: list[tuple[str, Snapshot, Snapshot, str | None]] = []
        self._index = 0  # steps before it are done

    def record(self, description: str, before: Snapshot, after: Snapshot, merge: str | None = None) -> None:
        if before == after:
            return
        del self._steps[self._index:]
        if merge is not None and self._steps and self._steps[-1][3] == merge:
            first = self._steps.pop()
            before = first[1]
        self._steps.append((description, before, after, merge))
        del self._steps[:-HISTORY_LIMIT]
        self._index = len(self._steps)

    def seal(self) -> None:
        """The next change starts a new step even if it could merge (a slider released)."""
        if self._steps:
            d, b, a, _ = self._steps[-1]
            self._steps[-1] = (d, b, a, None)

    def undo(self) -> Snapshot | None:
        if not self.can_undo:
            return None
        self._index -= 1
        return self._steps[self._index][1]

    def redo(self) -> Snapshot | None:
        if not self.can_redo:
            return None
        self._index += 1
        return self._steps[self._index - 1][2]

    def clear(self) -> None:
        self._steps.clear()
        self._index = 0

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._steps)

    @property
    def undo_text(self) -> str:
        return self._steps[self._index - 1][0] if self.can_undo else ""

    @property
    def redo_text(self) -> str:
        return self._steps[self._index][0] if self.can_redo else ""


# ----------------------------------------------------------------------------- the session
class Session:
    settings_changed = Signal(object, object)  # (before, after): Settings
    result_changed = Signal(str)               # a result kind that was set or dropped
    messages_changed = Signal()
    hover_changed = Signal(object)             # the read-out under the mouse (a dict), or None
    progress_changed = Signal(str, object)     # (kind, fraction done or None)
    running_changed = Signal(bool)             # the race animates
    history_changed = Signal()
    device_changed = Signal(str)               # where TensorFlow computes
    wants_changed = Signal()                   # what is wanted changed without a setting changing

    def __init__(self, settings: Settings | None = None):
        self.settings = settings or Settings.for_text(DEFAULT_EXPRESSION)
        self.expression: Expression = parse(self.settings.document.text)
        self.editor_error: ParseError | None = _check(self.settings.editor)
        self.results: dict[str, Result] = {}
        self.previews: dict[str, Result] = {}    # kind -> a stand-in until the result comes (see preview)
        self.messages: dict[str, Message] = {}   # by source; the status bar shows the newest
        self.history = History()
        self.hover: dict | None = None
        self.running = False
        self.chain_visible = False     # the chain-rule view is on screen (its graph is computed only then)
        self.device: str | None = None
        self._declined: dict[str, str] = {}      # kind -> request cancelled by the user (not asked again)
        self._kept_step = (None, 0)             # (race origin, step on screen) of the last race dropped
        self._race_from = None                  # the origin of the race on screen
        self._checked: tuple = (None, None)     # ((formula, derivatives), what is wrong with them) last read
        self._needs_log = (None, False)         # (grid, whether it needs a log scale): see log_scale

    # ------------------------------------------------------------------ reading
    @property
    def document(self) -> Document:
        return self.settings.document

    @property
    def axes(self) -> tuple[str, ...]:
        return self.settings.document.axes

    @property
    def selected(self) -> tuple[float, ...] | None:
        return self.settings.selected

    def payload(self, kind: str):
        """The current result of ``kind`` (None while it is on its way, failed or not wanted)."""
        r = self.results.get(kind)
        return None if r is None or r.error is not None else r.payload

    def preview(self, kind: str):
        """A stand-in for the result of ``kind`` to draw until it comes (the grid's values from numpy while
        TensorFlow loads), or None. Never a result: no gradient, no hover read-out, no critical points."""
        r = self.previews.get(kind)
        return None if r is None or kind in self.results else r.payload

    grid = property(lambda self: self.payload("grid"))
    critical = property(lambda self: self.payload("critical"))
    point = property(lambda self: self.payload("point"))
    approximation = property(lambda self: self.payload("approximation"))
    race = property(lambda self: self.payload("race"))  # a Race (the step on screen is its cursor)
    basins = property(lambda self: self.payload("basins"))
    chain = property(lambda self: self.payload("chain"))
    matrix = property(lambda self: self.payload("matrix"))  # values and gradients of a formula with arrays
    check = property(lambda self: self.payload("check"))    # the verdict on the derivatives written

    @property
    def check_problem(self) -> ParseError | None:
        """What is wrong with the derivatives written (their text, their names, their shapes), if anything."""
        text = self.settings.check.derivatives
        if not text.strip():
            return None
        key = (self.settings.document.text, text)
        if self._checked[0] != key:
            try:
                parse_derivatives(self.expression, text)
                problem = None
            except ParseError as exc:
                problem = exc
            self._checked = (key, problem)
        return self._checked[1]

    @property
    def values(self) -> dict:
        """Every input's value (vectors and matrices whole, as lists): the parameters, and the selected point
        (the box's centre until one is picked) for the entries on the axes."""
        return matrix.arrays_from_entries(self.expression, {**self.document.param_values, **self.at})

    def listed_critical_point(self) -> dict | None:
        """The critical point of the list that the point shown is (chosen from its row: the same numbers)."""
        point, critical = self.point, self.critical
        if point is None or critical is None:
            return None
        return next((c for c in critical["critical_points"] if c["point"] == point["point"]), None)

    def error(self, kind: str) -> str | None:
        r = self.results.get(kind)
        return None if r is None else r.error

    @property
    def status(self) -> Message | None:
        """The newest message (the status bar's)."""
        return next(reversed(self.messages.values()), None)

    @property
    def panel_message(self) -> Message | None:
        """The newest message for the descent panel."""
        return next((m for m in reversed(self.messages.values()) if m.panel), None)

    @property
    def log_scale(self) -> bool:
        """The colour/height scale in use: the user's choice, else what the grid needs."""
        chosen, grid = self.settings.view.log_scale, self.grid
        if chosen is not None:
            return chosen and len(self.axes) == 2
        grid = self.preview("grid") if grid is None else grid
        if grid is None or len(grid["axes"]) != 2:
            return False
        if self._needs_log[0] is not grid:  # (asked several times per grid drawn: a median over the grid)
            self._needs_log = (grid, gridlib.needs_log_scale(grid["value"]))
        return self._needs_log[1]

    @property
    def equal_aspect(self) -> bool:
        """The map to scale (1:1), as the user asks, unless the box is too long on one side for it."""
        (x0, x1), (y0, y1) = self.document.x_range, self.document.y_range
        ratio = (x1 - x0) / (y1 - y0)
        return self.settings.view.toggles.equal_aspect and 1 / MAX_ASPECT <= ratio <= MAX_ASPECT

    @property
    def eps(self) -> tuple[float, ...]:
        eps = self.settings.view.eps
        return eps if eps is not None and len(eps) == len(self.axes) else DEFAULT_EPS[: len(self.axes)]

    @property
    def at(self) -> dict[str, float]:
        """The selected point (the box's centre until one is picked), by axis."""
        point = self.selected
        if point is None:
            point = tuple((lo + hi) / 2 for lo, hi in self.document.ranges)
        return dict(zip(self.axes, map(float, point)))

    # ------------------------------------------------------------------ what to compute
    def request(self, kind: str) -> dict | None:
        """The engine request (keyword arguments) the settings want for ``kind``; None: nothing now."""
        s, doc = self.settings, self.settings.document
        if not doc.axes:
            return None
        common = {"text": doc.text, "params": doc.param_values}
        if kind == "grid":
            return {**common, "axes": list(doc.axes), "ranges": doc.ranges, "n": doc.n}
        if kind == "critical":
            return {**common, "axes": list(doc.axes), "ranges": doc.ranges}
        if kind in ("point", "approximation"):
            if s.selected is None:
                return None
            at = dict(zip(doc.axes, s.selected))
            return {**common, "at": at} if kind == "point" else {**common, "at": at, "eps": dict(zip(doc.axes, self.eps))}
        if kind == "chain":
            if not self.chain_visible:
                return None
            return {"text": doc.text, "at": {**self.at, **doc.param_values}, "expand": s.chain.expand}
        if kind == "matrix":
            return {"text": doc.text, "values": self.values} if self.expression.arrays else None
        if kind == "check":
            if not s.check.derivatives.strip() or self.check_problem is not None:
                return None
            if self.expression.matrix:
                return {"text": doc.text, "derivatives": s.check.derivatives, "seed": doc.seed, "draws": s.check.draws}
            return {"text": doc.text, "derivatives": s.check.derivatives, "axes": list(doc.axes), "ranges": doc.ranges,
                    "n": min(doc.n, CHECK_GRID), "params": doc.param_values}
        setup = s.descent.setup
        run = {**common, "lr": setup.lr, "steps": setup.max_steps, "tol": setup.tol,
               "hyperparameters": {o: setup.hyperparameters.get(o, {}) for o in setup.optimizers},
               "schedule": setup.engine_schedule}
        if kind == "race":
            if not s.descent.starts:
                return None
            return {**run, "start": [dict(p) for p in s.descent.starts], "optimizers": list(setup.optimizers),
                    "box": doc.ranges}
        if kind == "basins":
            if not s.view.toggles.basins or len(doc.axes) != 2:
                return None
            return {**run, "axes": list(doc.axes), "ranges": doc.ranges, "n": min(doc.n, BASINS_MAX_SIDE),
                    "optimizer": setup.optimizers[0]}
        raise ValueError(f"unknown result kind {kind!r}")

    def wanted(self) -> dict[str, tuple[str, dict]]:
        """kind -> (key, kwargs) of every request the settings want whose (final) result is not here yet."""
        out = {}
        for kind in RESULTS:
            kwargs = self.request(kind)
            key = request_key(kwargs)
            here = kind in self.results and self.results[kind].final
            if key is not None and not here and self._declined.get(kind) != key:
                out[kind] = (key, kwargs)
        return out

    def is_current(self, kind: str, key: str) -> bool:
        return request_key(self.request(kind)) == key

    # ------------------------------------------------------------------ results in
    def deliver(self, kind: str, key: str, payload=None, error: str | None = None, partial: bool = False) -> bool:
        """A reply from the engine; kept only if it answers the request the settings want now.
        ``partial``: the result so far (a race's first steps), which the final reply replaces."""
        if not self.is_current(kind, key):
            return False
        self._declined.pop(kind, None)
        if kind == "race" and error is None:
            before = self.results.get("race")
            origin, shown = self._kept_step
            if before is not None and before.key == key and isinstance(before.payload, Race):
                shown, origin = before.payload.shown, self._race_origin()  # more of the same race: the step stays
            payload = Race(payload, shown=shown if origin == self._race_origin() else 0)
            self._race_from = self._race_origin()
        self.results[kind] = Result(key, payload, error, final=not partial)
        self.previews.pop(kind, None)
        if not partial:
            self.progress_changed.emit(kind, None)
        if error is not None:
            self.note(kind, f"{LABELS[kind]}: {error}", error=True, panel=kind == "race")
        elif kind == "grid":
            problems = gridlib.describe_problems(payload["value"], self.log_scale)
            self.note("grid", problems) if problems else self.forget("grid")
        self.result_changed.emit(kind)
        return True

    def deliver_preview(self, kind: str, key: str, payload) -> bool:
        """A stand-in for the result the settings want now (see preview); dropped when it comes."""
        if not self.is_current(kind, key) or kind in self.results:
            return False
        self.previews[kind] = Result(key, payload)
        self.result_changed.emit(kind)
        return True

    def progress(self, kind: str, key: str, fraction: float) -> None:
        if self.is_current(kind, key):
            self.progress_changed.emit(kind, float(fraction))

    def cancelled(self) -> None:
        """The user stopped the computations under way: do not ask for them again until something changes."""
        for kind, (key, _) in self.wanted().items():
            self._declined[kind] = key
            self.progress_changed.emit(kind, None)
        self.note("status", "Computation cancelled.")

    def _race_origin(self) -> str:
        """What a race's step on screen belongs to: a new setup keeps the step, a new start or function not."""
        doc = self.document
        return request_key({"text": doc.text, "params": doc.param_values, "box": doc.ranges,
                            "starts": [dict(p) for p in self.settings.descent.starts]})

    def _invalidate(self) -> None:
        """Drop every result whose request is no longer the wanted one, with what derives from it.
        All are dropped before anyone is told, so no listener sees an old result beside a new setting."""
        dropped = {kind: self.results.pop(kind) for kind in list(self.results)
                   if request_key(self.request(kind)) != self.results[kind].key}
        for kind in [k for k, r in self.previews.items() if request_key(self.request(k)) != r.key]:
            del self.previews[kind]
            dropped.setdefault(kind, None)
        for kind in list(self._declined):
            if request_key(self.request(kind)) != self._declined[kind]:
                del self._declined[kind]
        if "race" in dropped:
            race, origin = getattr(dropped["race"], "payload", None), self._race_origin()
            if isinstance(race, Race) and origin == self._race_from:  # a new setup: same step, still running
                self._kept_step = (origin, race.shown)
            else:
                self._kept_step = (None, 0)
                self.set_running(False)
        if "grid" in dropped:
            self.set_hover(None)
        for kind in dropped:
            self.forget(kind)
            self.result_changed.emit(kind)

    def _check_editor(self) -> None:
        """The editor's text checked: where it does not parse, why (the plot stays on the last formula)."""
        self.editor_error = _check(self.settings.editor)
        if self.editor_error is None:
            self.forget("editor")
        else:
            self.note("editor", f"Not plotted: {self.editor_error.message}. The last valid plot stays on screen.",
                      error=True)

    # ------------------------------------------------------------------ messages, hover, running
    def note(self, source: str, text: str, error: bool = False, panel: bool = False) -> None:
        """A message from ``source`` (a result kind, "status" or "descent"); it replaces that source's last."""
        self.messages.pop(source, None)
        if text:
            self.messages[source] = Message(text, error, panel)
        self.messages_changed.emit()

    def forget(self, source: str) -> None:
        if self.messages.pop(source, None) is not None:
            self.messages_changed.emit()

    def set_hover(self, x: float | None, y: float | None = None) -> None:
        """The read-out at (x, y) from the grid on screen; None when the mouse left the map."""
        hover = None
        grid = self.grid
        if x is not None and grid is not None and len(grid["axes"]) == 2:
            hover = gridlib.sample(grid, x, y)
            if hover is not None:
                hover = {**hover, "axes": tuple(grid["axes"])}
        if hover != self.hover:
            self.hover = hover
            self.hover_changed.emit(hover)

    def set_running(self, on: bool) -> None:
        """Animate the race (it may still be on its way: the animation waits for it)."""
        on = bool(on) and self.request("race") is not None
        if on != self.running:
            self.running = on
            self.running_changed.emit(on)

    def set_chain_visible(self, visible: bool) -> None:
        if bool(visible) == self.chain_visible:
            return
        self.chain_visible = bool(visible)
        self._invalidate()
        self.wants_changed.emit()

    def set_device(self, name: str) -> None:
        self.device = name
        self.device_changed.emit(name)

    # ------------------------------------------------------------------ changing the settings
    def apply(self, after: Settings, description: str | None = None, merge: str | None = None) -> None:
        """Make ``after`` the settings (recorded for undo when ``description`` is given)."""
        before = self.settings
        if after == before:
            return
        if description is not None:
            self.history.record(description, Snapshot.of(before), Snapshot.of(after), merge)
            self.history_changed.emit()
        self.settings = after
        if after.document.text != before.document.text:
            self.expression = parse(after.document.text)
        if after.editor != before.editor:
            self._check_editor()
        self._invalidate()
        if after.descent.starts:
            self.forget(NO_START)  # answered (by a click, Set start or a session file)
        self.settings_changed.emit(before, after)

    def _with_document(self, document: Document, **more) -> Settings:
        """The settings on a new document: what belonged to the old axes goes (point, starts, camera),
        and a new formula or box refits the camera and chooses its colour scale afresh."""
        s = self.settings
        update = {"document": document, "editor": None, **more}
        old = s.document
        view = s.view
        if document.axes != old.axes:
            update["selected"] = None
            update["descent"] = s.descent.model_copy(update={"starts": ()})
        if (document.text, document.ranges) != (old.text, old.ranges):
            view = view.model_copy(update={"camera": None})
        if document.text != old.text:
            view = view.model_copy(update={"log_scale": None})
        return s.model_copy(update={**update, "view": view})

    def set_text(self, text: str) -> None:
        """The editor's text: plotted when it parses, else kept with its error (the plot stays)."""
        if text == self.settings.text:
            return
        try:
            expression = parse(text)
            document = self.document.with_expression(expression)
        except ParseError:
            self.apply(self.settings.model_copy(update={"editor": text}), "edit formula")
            return
        self.apply(self._with_document(document), "edit formula")

    def load(self, text: str, x_range=None, y_range=None, params: Mapping[str, float] | None = None,
             description: str = "preset", point: Sequence[str] | None = None, eps: Sequence[float] | None = None,
             toggles: Mapping[str, bool] | None = None) -> None:
        """A new formula with its box and parameter values; a preset may also carry the chapter's point
        (numbers or formulas of numbers: "log(2)"), its epsilon and the overlays to show there."""
        doc = self.document
        base = doc.model_copy(update={"x_range": tuple(map(float, x_range or doc.x_range)),
                                      "y_range": tuple(map(float, y_range or doc.y_range)), "params": {}, "axes": ()})
        after = self._with_document(base.with_expression(parse(text), values=params))
        view = after.view
        if toggles:
            view = view.model_copy(update={"toggles": view.toggles.model_copy(update=dict(toggles))})
        if eps is not None:
            view = view.model_copy(update={"eps": tuple(map(float, eps))})
        selected = tuple(constant_value(str(c)) for c in point) if point is not None else None
        after = after.model_copy(update={"view": view, "selected": selected})
        self.apply(after, description)

    def set_box(self, x_range=None, y_range=None, n: int | None = None, merge: str | None = None) -> None:
        """A new box (and resolution); ``merge`` makes a burst of zooms one undo step."""
        doc = self.document
        update = {k: tuple(map(float, v)) for k, v in (("x_range", x_range), ("y_range", y_range)) if v is not None}
        for key in ("x_range", "y_range"):
            lo, hi = update.get(key, getattr(doc, key))
            if not (abs(lo) <= VALUE_LIMIT and abs(hi) <= VALUE_LIMIT and lo < hi):
                self.note("status", f"That box is beyond what calcviz draws (±{VALUE_LIMIT:g}); it stays as it was.",
                          error=True)
                return
        if n is not None:
            update["n"] = int(n)
        self.apply(self._with_document(doc.model_copy(update=update)), "zoom" if merge else "change box", merge=merge)

    def zoom_to(self, x_range, y_range) -> None:
        """The box the user panned or zoomed the map to, rounded to round numbers."""
        self.set_box(gridlib.nice_range(*x_range), gridlib.nice_range(*y_range), merge="zoom")

    def set_axes(self, axes: Sequence[str]) -> None:
        doc = self.document
        self.apply(self._with_document(doc.with_expression(self.expression, axes=tuple(axes))), "change axes")

    def set_param(self, name: str, value: float) -> None:
        if name in self.document.params:
            self.apply(self.settings.model_copy(update={"document": self.document.with_param(name, value=value)}),
                       f"set {name}", merge=f"param {name}")

    def set_param_range(self, name: str, lo: float, hi: float) -> None:
        if name in self.document.params:
            self.apply(self.settings.model_copy(update={"document": self.document.with_param(name, lo=lo, hi=hi)}),
                       f"range of {name}")

    def set_toggle(self, name: str, on: bool) -> None:
        toggles = self.settings.view.toggles.model_copy(update={name: bool(on)})
        self._set_view(f"{'show' if on else 'hide'} {name.replace('_', ' ')}", toggles=toggles)

    def set_log_scale(self, on: bool) -> None:
        self._set_view("log colour scale", log_scale=bool(on))

    def set_angle(self, degrees: float) -> None:
        self._set_view(None, angle=float(degrees) % 360.0)

    def set_eps(self, eps: Sequence[float]) -> None:
        self._set_view(None, eps=tuple(map(float, eps)))

    def set_camera(self, camera: Mapping | None) -> None:
        self._set_view(None, camera=None if camera is None else Camera(**camera))

    def _set_view(self, description: str | None, **update) -> None:
        view = self.settings.view.model_copy(update=update)
        self.apply(self.settings.model_copy(update={"view": view}), description)

    def select(self, *coords: float) -> None:
        """The point the inspector, the local models and the chain-rule view are about (None: none)."""
        axes = self.axes
        if not axes:
            return
        point = None if not coords or coords[0] is None else tuple(float(c) for c in coords[: len(axes)])
        if point is not None and len(point) != len(axes):
            return
        self.apply(self.settings.model_copy(update={"selected": point}))

    def type_point(self, texts: Mapping[str, str]) -> str | None:
        """A point typed as numbers or formulas of numbers (log(2), -1/sqrt(2), pi/4), by axis: selected,
        or the reason it cannot be (which field, what is wrong) returned and nothing changed."""
        values = []
        for axis in self.axes:
            text = (texts.get(axis) or "").strip()
            if not text:
                return f"{axis}: type a number or a formula of numbers, such as log(2) or pi/4"
            try:
                value = constant_value(text)
            except ParseError as exc:
                return f"{axis}: {exc}"
            if not math.isfinite(value) or abs(value) > VALUE_LIMIT:
                return f"{axis}: {text} is {value:g}; a point needs finite coordinates within ±{VALUE_LIMIT:g}"
            values.append(value)
        self.select(*values)
        return None

    def nudge(self, steps_x: int, steps_y: int) -> None:
        """Move the selected point by steps of 1% of the box."""
        if self.selected is None:
            return
        moved = [c + k * (hi - lo) / 100 for c, k, (lo, hi) in zip(self.selected, (steps_x, steps_y), self.document.ranges)]
        self.select(*moved)

    # descent
    def set_descent_setup(self, setup: Mapping) -> None:
        """A new setup (the panel's): the race is recomputed and keeps the step on screen."""
        current = self.settings.descent.setup.model_dump()
        new = DescentSetup.model_validate({**current, **setup})
        starts = self.settings.descent.starts
        if new.start_mode != current["start_mode"] or (new.start_mode == "each" and new.optimizers != tuple(current["optimizers"])):
            starts = _starts_for(new, starts[:1])
        self._set_descent(setup=new, starts=starts)

    def set_starts(self, starts: Sequence[Mapping[str, float]]) -> None:
        """The start(s): one for all, or one per ticked optimizer ("each"). The race starts over."""
        axes = self.axes
        starts = _starts_for(self.settings.descent.setup,
                             tuple({a: float(p[a]) for a in axes} for p in starts if all(a in p for a in axes)))
        self._kept_step = (None, 0)
        if starts == self.settings.descent.starts and self.race is not None:  # the same start again: from step 0
            self.set_running(False)
            self.race.reset()
            self.forget("race")
            self.result_changed.emit("race")
            return
        self._set_descent(starts=starts)

    def pick_start(self, coords: Sequence[float], optimizer: str | None = None) -> None:
        """A click on the map: the start of every run, or (one start each) of ``optimizer``'s run."""
        point = dict(zip(self.axes, map(float, coords)))
        setup, starts = self.settings.descent.setup, list(self.settings.descent.starts)
        if optimizer is None or setup.start_mode != "each" or not starts or optimizer not in setup.optimizers:
            self.set_starts([point])
            return
        starts = list(_starts_for(setup, tuple(starts)))
        starts[setup.optimizers.index(optimizer)] = point
        self.set_starts(starts)

    def _set_descent(self, **update) -> None:
        descent = self.settings.descent.model_copy(update=update)
        self.apply(self.settings.model_copy(update={"descent": descent}))

    # vectors and matrices, and the check of derivatives
    def set_value(self, entry: str, value: float) -> None:
        """An input's value typed (an entry of a vector or matrix, or a number): an entry on an axis moves the
        selected point, any other is a parameter."""
        axes = self.axes
        if entry in axes:
            at = self.at
            at[entry] = float(value)
            self.select(*(at[a] for a in axes))
        elif entry in self.document.params:
            doc = self.document
            p = doc.params[entry]
            v = float(value)
            self.apply(self.settings.model_copy(update={"document": doc.with_param(entry, value=v, lo=min(p.min, v),
                                                                                     hi=max(p.max, v))}), f"set {entry}")

    def draw_values(self, seed: int) -> None:
        """Every entry of the vectors and matrices that is not on an axis drawn anew with ``seed`` (one undo step);
        the seed is also the one of the check's draws."""
        seed = matrix.check_seed(seed)
        doc = self.document
        drawn = {k: v for k, v in matrix.drawn_entries(self.expression, seed).items() if k in doc.params}
        params = {**doc.params, **{k: Param.model_construct(value=v, min=min(doc.params[k].min, v),
                                                            max=max(doc.params[k].max, v)) for k, v in drawn.items()}}
        document = doc.model_copy(update={"seed": seed, "params": params})
        self.apply(self.settings.model_copy(update={"document": document}), f"draw values (seed {seed})")

    def set_derivatives(self, text: str) -> None:
        """The derivatives to check (d/dx = ..., one per line); checked against TensorFlow's once they read."""
        check = self.settings.check.model_copy(update={"derivatives": str(text)})
        self.apply(self.settings.model_copy(update={"check": check}))

    def set_expand(self, on: bool) -> None:
        chain = self.settings.chain.model_copy(update={"expand": bool(on)})
        self.apply(self.settings.model_copy(update={"chain": chain}))

    # undo
    def undo(self) -> None:
        self._restore_snapshot(self.history.undo())

    def redo(self) -> None:
        self._restore_snapshot(self.history.redo())

    def _restore_snapshot(self, snapshot: Snapshot | None) -> None:
        if snapshot is None:
            return
        after = snapshot.into(self.settings)
        if after.document.axes != self.document.axes:
            after = after.model_copy(update={"selected": None,
                                             "descent": after.descent.model_copy(update={"starts": ()})})
        self.apply(after)
        self.history_changed.emit()

    # files
    def restore(self, checked: SessionFile) -> None:
        """Show a checked session file: its settings, its race at the step it was on, its critical points.
        Everything is built before anything changes, so a session that cannot be shown changes nothing."""
        from .settings import result_dict

        race = checked.descent.result if checked.descent else None
        race = Race(result_dict(race), shown=checked.descent.shown_steps) if race is not None else None
        self.open(settings_of(checked), race=race, critical=result_dict(checked.critical))

    def open(self, settings: Settings, race: Race | None = None, critical: dict | None = None) -> None:
        """A new session on ``settings`` (with results computed for them, from a file): nothing to undo."""
        expression = parse(settings.document.text)  # the one step that can fail: before anything changes
        before = self.settings
        self.settings, self.expression = settings, expression
        self.history.clear()
        self.results.clear()
        self.previews.clear()
        self.messages.clear()
        self._declined.clear()
        self._kept_step = (None, 0)
        self._race_from = None
        self.hover = None
        self.running = False
        self._check_editor()
        if race is not None:
            self.results["race"] = Result(request_key(self.request("race")), race)
            self._race_from = self._race_origin()
        if critical is not None:
            self.results["critical"] = Result(request_key(self.request("critical")), critical)
        self.history_changed.emit()
        self.hover_changed.emit(None)
        self.running_changed.emit(False)
        self.messages_changed.emit()
        self.settings_changed.emit(before, settings)
        for kind in RESULTS:
            self.result_changed.emit(kind)

    def file(self) -> dict:
        """The session file (JSON-shaped) of what is on screen (a race still arriving is not saved)."""
        race = self.race if self.race is not None and self.results["race"].final else None
        return file_of(self.settings, race=race.result if race else None, shown_steps=race.shown if race else 0,
                       critical_result=self.critical)


LABELS = {"grid": "Not plotted", "critical": "Critical points", "point": "Point", "approximation": "Local models",
          "race": "Gradient descent", "basins": "Basins of attraction", "chain": "Chain rule",
          "matrix": "Matrix calculus", "check": "Check"}


def _check(text: str | None) -> ParseError | None:
    if text is None:
        return None
    try:
        matrix.check_window(parse(text))
    except ParseError as exc:
        return exc
    return None


def _starts_for(setup: DescentSetup, starts: tuple) -> tuple:
    """One start for all ("shared"), or one per ticked optimizer ("each": missing ones copy the first)."""
    if not starts:
        return ()
    if setup.start_mode == "shared":
        return starts[:1]
    count = len(setup.optimizers)
    return tuple(starts[k] if k < len(starts) else starts[0] for k in range(count))
