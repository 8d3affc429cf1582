"""View intents -> document changes and compute requests; compute results -> view updates.

The controller owns the Document (undoable), the compute client and the latest results. Views
never talk to each other or to the engine; results reach them only through here.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from PyQt6 import QtCore, QtGui

from .chain_controller import ChainController
from .descent_controller import DescentController
from .files_controller import FilesController
from .models import approximation
from .models import grid as gridlib
from .models.compute import ComputeClient, Reply
from .models.directional import directional_profile
from .models.expression import Expression, ParseError, parse
from .models.pretty import to_html
from .models.session import Document
from .views.critical_panel import GLOBAL_MIN_SYMBOL, TYPE_STYLE

ISO_LEVELS = 10
ISO_MAX_SIDE = 300  # iso-lines are traced on at most this many points per side (fast enough to redraw live)


class DocumentChange(QtGui.QUndoCommand):
    def __init__(self, controller: "Controller", before: Document, after: Document, text: str, merge_id: int = -1):
        super().__init__(text)
        self.controller, self.before, self.after, self._id = controller, before, after, merge_id

    def id(self) -> int:
        return self._id

    def mergeWith(self, other) -> bool:  # consecutive slider moves of one parameter are one undo step
        if other.id() != self._id or self._id < 0:
            return False
        self.after = other.after
        return True

    def redo(self) -> None:
        self.controller.apply(self.after)

    def undo(self) -> None:
        self.controller.apply(self.before)


class Controller(QtCore.QObject):
    def __init__(self, window, client: ComputeClient, persist: bool = True):
        super().__init__(window)
        self.window, self.client = window, client
        self.undo_stack = QtGui.QUndoStack(self)
        self.document: Document | None = None
        self.expression: Expression | None = None
        self.grid: dict | None = None
        self.selected: tuple[float, ...] | None = None
        self.point_info: dict | None = None
        self.critical: dict | None = None
        self.angle = 0.0
        self.forced_log_scale: bool | None = None  # a reopened session's choice, for its first grid
        self._notifier: QtCore.QSocketNotifier | None = None
        self._watched_start = -1
        self._watch_client()
        self._connect()
        self.descent = DescentController(self)
        self.chain = ChainController(self)
        self.files = FilesController(self, persist)

    # ------------------------------------------------------------------ wiring
    def _connect(self) -> None:
        w = self.window
        w.editor.expressionEdited.connect(self.set_text)
        w.editor.presetChosen.connect(self.load_preset)
        w.domain.domainChanged.connect(self.set_domain)
        w.domain.refitRequested.connect(self.refit)
        w.domain.axesChanged.connect(self.set_axes)
        w.parameters.parameterChanged.connect(self.set_param)
        w.parameters.rangeChanged.connect(self.set_param_range)
        w.contour.hovered.connect(self.hover)
        w.contour.pointPicked.connect(self.select)
        w.contour.nudged.connect(self.nudge)
        w.curve.pointPicked.connect(lambda x, _y: self.select(x))
        w.inspector.angleChanged.connect(self.set_angle)
        w.contour.directionDragged.connect(self.drag_direction)
        w.critical.pointChosen.connect(lambda coords: self.select(*coords))
        w.approximation.epsChanged.connect(lambda _eps: self.request_point())
        w.actions["critical_markers"].toggled.connect(lambda _on: self._draw_critical())
        for key in ("tangent_plane", "quadratic_model"):
            w.actions[key].toggled.connect(lambda _on: self.point_info and self._draw_point(self.point_info))
        w.actions["field"].toggled.connect(self._field_toggled)
        w.actions["surface_isolines"].toggled.connect(w.surface.set_isolines_visible)
        w.actions["second_derivative"].toggled.connect(w.curve.set_second_derivative_visible)
        w.actions["log_scale"].triggered.connect(self._redraw)
        w.actions["cancel"].triggered.connect(self.cancel)
        w.actions["undo"].triggered.connect(self.undo_stack.undo)
        w.actions["redo"].triggered.connect(self.undo_stack.redo)
        self.undo_stack.canUndoChanged.connect(w.actions["undo"].setEnabled)
        self.undo_stack.canRedoChanged.connect(w.actions["redo"].setEnabled)

    def _watch_client(self) -> None:
        """(Re)attach a notifier to the compute pipe; a restarted process has a new pipe, a failed one none."""
        if self._watched_start == self.client.starts and self.client.failed is None:
            return
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        if self.client.failed is not None:
            return
        self._notifier = QtCore.QSocketNotifier(self.client.fileno(), QtCore.QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._receive)
        self._watched_start = self.client.starts

    # ------------------------------------------------------------------ document changes (undoable)
    def start(self, text: str, x_range=(-2.0, 2.0), y_range=(-2.0, 2.0), params=None) -> None:
        """Open on a formula (no undo step)."""
        expression = parse(text)
        doc = Document(text, tuple(x_range), tuple(y_range)).with_expression(text, expression, values=params)
        self.window.editor.set_text(text)
        self.apply(doc)

    def change(self, after: Document, description: str, merge_id: int = -1) -> None:
        if after != self.document:
            self.undo_stack.push(DocumentChange(self, self.document, after, description, merge_id))

    def set_text(self, text: str) -> None:
        try:
            expression = parse(text)
        except ParseError as exc:
            self.window.editor.set_error(str(exc), exc.position)
            self.window.show_status(f"Not plotted: {exc.message}. The last valid plot stays on screen.")
            return
        self.change(self.document.with_expression(text, expression), "edit formula")

    def load_preset(self, preset: dict) -> None:
        expression = parse(preset["text"])
        doc = Document(preset["text"], tuple(preset["x"]), tuple(preset["y"]), self.document.n)
        self.change(doc.with_expression(preset["text"], expression, values=preset.get("params")),
                    f"preset {preset['name']}")

    def set_domain(self, domain: dict) -> None:
        self.change(replace(self.document, x_range=tuple(domain["x"]), y_range=tuple(domain["y"]),
                            n=int(domain["n"])), "change box")

    def refit(self) -> None:
        x_range, y_range = self.window.contour.view_box()
        if len(self.document.axes) == 1:
            x_range = self.window.curve.plot.vb.viewRange()[0]
            y_range = self.document.y_range
        self.change(replace(self.document, x_range=tuple(map(float, x_range)), y_range=tuple(map(float, y_range))),
                    "refit box")

    def set_axes(self, axes) -> None:
        self.change(self.document.with_axes(tuple(axes), self.expression), "change axes")

    def set_param(self, name: str, value: float) -> None:
        self.change(self.document.with_param(name, value=value), f"set {name}",
                    merge_id=1000 + sorted(self.document.params).index(name))

    def set_param_range(self, name: str, lo: float, hi: float) -> None:
        self.change(self.document.with_param(name, lo=lo, hi=hi), f"range of {name}")

    def apply(self, doc: Document) -> None:
        """Make the window show ``doc`` (widgets updated without echoing signals) and recompute."""
        previous, self.document = self.document, doc
        self.expression = parse(doc.text)
        w = self.window
        if w.editor.text() != doc.text:
            w.editor.set_text(doc.text)
        w.editor.set_preview(to_html(self.expression))
        w.domain.set_domain(doc.x_range, doc.y_range, doc.n)
        w.domain.set_axis_choices(list(self.expression.inputs), tuple(doc.axes))
        w.domain.set_one_dimensional(len(doc.axes) == 1)
        w.parameters.set_parameters(doc.params)
        w.set_dimension(len(doc.axes))
        axes_changed = previous is None or previous.axes != doc.axes or not doc.axes
        if axes_changed:
            self.selected = None
            self.point_info = None
            self._clear_point()
        if not doc.axes:
            w.show_status("This formula has no variables: it is a constant.")
            return
        self.request_grid()
        self.descent.document_changed(axes_changed)
        self.chain.request()

    # ------------------------------------------------------------------ compute
    def request_grid(self) -> None:
        doc = self.document
        self.client.submit("evaluate_grid", text=doc.text, axes=list(doc.axes), ranges=doc.ranges, n=doc.n,
                           params=doc.param_values)
        self.window.set_busy(True)
        self.critical = None
        self.client.submit("find_critical_points", text=doc.text, axes=list(doc.axes), ranges=doc.ranges,
                           params=doc.param_values)
        self.window.critical.set_searching()
        if self.selected is not None:
            self.request_point()

    def request_point(self) -> None:
        if self.selected is None:
            return
        doc = self.document
        at = dict(zip(doc.axes, self.selected))
        self.client.submit("evaluate_point", text=doc.text, at=at, params=doc.param_values)
        eps = dict(zip(doc.axes, self.window.approximation.eps()))
        self.client.submit("approximate", text=doc.text, at=at, params=doc.param_values, eps=eps)

    def cancel(self) -> None:
        self.client.cancel()
        self.descent.cancelled()
        self._watch_client()
        self.window.set_busy(False)
        self.window.show_status("Computation cancelled.")

    def _receive(self) -> None:
        replies = self.client.receive()
        self._watch_client()
        for reply in replies:
            self.handle(reply)
        self.window.set_busy(self.client.busy)

    def handle(self, reply: Reply) -> None:
        w = self.window
        if reply.kind in ("descend", "basins"):
            self.descent.handle(reply)
        elif reply.kind == "backprop":
            self.chain.handle(reply)
        elif reply.progress is not None:
            w.critical.set_searching(reply.progress)
        elif reply.kind == "ready":
            w.set_device(reply.payload)
        elif reply.kind == "crashed":
            w.show_status(reply.error, error=True)
        elif reply.error is not None:
            if reply.kind == "find_critical_points":
                w.critical.set_error(reply.error)
                return
            w.show_status(reply.error, error=True)
            if reply.kind == "evaluate_grid":
                w.editor.set_error(reply.error, len(self.document.text))
        elif reply.kind == "evaluate_grid":
            self.show_grid(reply.payload)
        elif reply.kind == "evaluate_point":
            self.show_point(reply.payload)
        elif reply.kind == "find_critical_points":
            self.critical = reply.payload
            w.critical.set_points(reply.payload)
            self._draw_critical()
            self.descent.redraw()  # the run table names the critical points runs reached
        elif reply.kind == "approximate":
            w.approximation.set_result(reply.payload)

    # ------------------------------------------------------------------ results -> views
    def show_grid(self, grid: dict) -> None:
        self.grid = grid
        log_action = self.window.actions["log_scale"]
        automatic = len(grid["axes"]) == 2 and gridlib.needs_log_scale(grid["value"])
        forced, self.forced_log_scale = self.forced_log_scale, None
        with QtCore.QSignalBlocker(log_action):  # automatic choice for each new grid; the user may flip it
            log_action.setChecked(automatic if forced is None else forced)
        self._redraw()

    def _redraw(self) -> None:
        grid, w = self.grid, self.window
        if grid is None:
            return
        names = tuple(grid["axes"])
        log_scale = w.actions["log_scale"].isChecked() and len(names) == 2
        value = gridlib.symlog(grid["value"]) if log_scale else grid["value"]
        limits = gridlib.display_limits(value)
        if len(names) == 1:
            w.curve.set_curve(grid["coords"][0], value, grid["d1"], grid["d2"], names[0])
            w.surface.show_message("The 3D surface needs a function of two variables.\n"
                                   "This one depends on one: see its curve.")
        elif limits is None:
            w.surface.show_message("The function is undefined everywhere in this box.")
        else:
            xs, ys = grid["coords"]
            levels = gridlib.contour_levels(limits, ISO_LEVELS)
            stride = max(1, int(np.ceil(len(xs) / ISO_MAX_SIDE)))
            lines = gridlib.isolines(xs[::stride], ys[::stride], value[::stride, ::stride], levels)
            w.surface.set_grid(xs, ys, value, limits, levels, lines, names)
            w.contour.set_grid(xs, ys, value, limits, lines, names)
            if w.actions["field"].isChecked():
                w.contour.set_field(*gridlib.gradient_field(grid))
        self.descent.redraw()  # paths lifted onto the surface follow its scale
        w.set_compute_time(f"{grid['device']} · {grid['seconds'] * 1e3:.1f} ms for {value.size:,} points")
        w.show_status(gridlib.describe_problems(grid["value"], log_scale))

    def _field_toggled(self, on: bool) -> None:
        w = self.window
        if on and self.grid is not None and len(self.grid["axes"]) == 2:
            w.contour.set_field(*gridlib.gradient_field(self.grid))
        w.contour.set_field_visible(on)

    def hover(self, x: float, y: float) -> None:
        if self.grid is None or len(self.grid["axes"]) != 2:
            return
        s = gridlib.sample(self.grid, x, y)
        if s is None:
            return
        a, b = self.grid["axes"]
        text = (f"{a} = {s['x']:.4g}, {b} = {s['y']:.4g}\nf = {s['value']:.5g}\n"
                f"∇f = ({s['gradient'][0]:.4g}, {s['gradient'][1]:.4g})")
        self.window.contour.show_readout(x, y, text)

    def select(self, *coords: float) -> None:
        if not self.document or not self.document.axes:
            return
        self.selected = tuple(float(c) for c in coords[: len(self.document.axes)])
        self.request_point()
        self.chain.request()

    def nudge(self, steps_x: int, steps_y: int) -> None:
        if self.selected is None:
            return
        doc = self.document
        moved = [self.selected[0] + steps_x * (doc.x_range[1] - doc.x_range[0]) / 100]
        if len(self.selected) == 2:
            moved.append(self.selected[1] + steps_y * (doc.y_range[1] - doc.y_range[0]) / 100)
        self.select(*moved)

    def set_angle(self, degrees: float) -> None:
        self.angle = float(degrees)
        if self.point_info is not None:
            self._draw_point(self.point_info)

    def drag_direction(self, degrees: float) -> None:
        self.window.inspector.set_angle(degrees)
        self.set_angle(degrees)

    def show_point(self, info: dict) -> None:
        self.point_info = info
        self._draw_point(info)

    def _draw_point(self, info: dict) -> None:
        w = self.window
        w.inspector.set_point(info)
        grad = [info["gradient"][n] for n in info["variables"]]
        coords = [info["point"][n] for n in info["variables"]]
        self._draw_models(info)
        if len(coords) == 1:
            w.curve.set_point(coords[0], info["value"], grad[0])
            return
        profile = directional_profile(grad, self.angle)
        w.inspector.set_directional(profile, tuple(info["variables"][:2]))
        w.surface.set_point(coords[0], coords[1], info["value"], tuple(grad))
        w.contour.set_point(coords[0], coords[1], tuple(grad), tuple(profile["direction"]))

    def _draw_critical(self) -> None:
        """Markers per type on every view (or none when switched off)."""
        w = self.window
        points = self.critical["critical_points"] if self.critical and w.actions["critical_markers"].isChecked() else []
        axes = self.critical["axes"] if self.critical else []
        spots, xyz, colors = [], [], []
        for p in points:
            style = TYPE_STYLE[p["type"]]
            coords = [p["point"][a] for a in axes]
            pos = (coords[0], coords[1]) if len(coords) == 2 else (coords[0], p["value"])
            symbol = GLOBAL_MIN_SYMBOL if p.get("global_min") else style["symbol"]
            spots.append({"pos": pos, "symbol": symbol, "color": style["color"], "size": 16 if p.get("global_min") else 12})
            if len(coords) == 2:
                xyz.append((coords[0], coords[1], p["value"]))
                colors.append(QtGui.QColor(style["color"]).getRgbF())
        if len(axes) == 1:
            w.curve.set_critical_points(spots)
            w.contour.set_critical_points([])
        else:
            w.contour.set_critical_points(spots)
            w.curve.set_critical_points([])
        w.surface.set_critical_points(np.array(xyz, dtype=float).reshape(-1, 3), np.array(colors, dtype=float).reshape(-1, 4))

    def _draw_models(self, info: dict) -> None:
        """Tangent plane / quadratic model over a patch around the selected point, when switched on."""
        w, doc = self.window, self.document
        names = info["variables"]
        p = np.array([info["point"][n] for n in names])
        grad = np.array([info["gradient"][n] for n in names])
        hess = np.array(info["hessian"], dtype=float)
        spans = [(hi - lo) * 0.15 for lo, hi in doc.ranges]
        axes_values = [np.linspace(c - r, c + r, 24) for c, r in zip(p, spans)]
        if len(names) == 1:
            q = axes_values[0][:, None]
            show = w.actions["quadratic_model"].isChecked()
            quad = approximation.quadratic_model(info["value"], grad, hess, p, q) if show else []
            w.curve.set_quadratic(axes_values[0] if show else [], quad)
            return
        Q = np.stack(np.meshgrid(*axes_values, indexing="ij"), axis=-1)
        for key, which, model in (("tangent_plane", "plane", lambda: approximation.linear_model(info["value"], grad, p, Q)),
                                  ("quadratic_model", "quadric",
                                   lambda: approximation.quadratic_model(info["value"], grad, hess, p, Q))):
            if w.actions[key].isChecked() and np.all(np.isfinite(hess)):
                w.surface.set_model(which, axes_values[0], axes_values[1], model())
            else:
                w.surface.set_model(which)

    def _clear_point(self) -> None:
        w = self.window
        w.approximation.set_result(None)
        w.surface.set_model("plane")
        w.surface.set_model("quadric")
        w.inspector.set_point(None)
        w.surface.clear_point()
        w.contour.clear_point()
        w.curve.clear_point()

    def shutdown(self) -> None:
        self.descent.set_running(False)
        if self._notifier is not None:
            self._notifier.setEnabled(False)
        self.client.close()
