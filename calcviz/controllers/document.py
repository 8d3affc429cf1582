"""The formula, its box and parameters, the selected point, the view switches and undo.

Intents from the editor, the domain and parameter panels, the maps and the menus become Session
changes; the Session's settings and results (grid, point, local models, hover read-out, messages)
are drawn on the editor, the panels, the surface, the contour map, the curve and the inspector.
"""
from __future__ import annotations

import numpy as np
from PyQt6 import QtCore

from ..models import approximation
from ..models import grid as gridlib
from ..models.directional import directional_profile
from ..models.pretty import notes_html, to_html
from ..models.session import Session
from ..models.settings import TOGGLES, Settings
from ..views.common import format_number

ISO_LEVELS = 10
ISO_MAX_SIDE = 300  # iso-lines are traced on at most this many points per side (fast enough to redraw live)
MODEL_PATCH = 0.25  # the local models are drawn over this fraction of the box around the point


class DocumentController(QtCore.QObject):
    def __init__(self, session: Session, window, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.session, self.window = session, window
        self._view_range = None  # the map's (or curve's) range after the user's last pan or zoom, for "refit"
        w, s = window, session
        w.editor.expressionEdited.connect(s.set_text)
        w.editor.presetChosen.connect(self.load_preset)
        w.editor.undoRequested.connect(s.undo)
        w.editor.redoRequested.connect(s.redo)
        w.domain.domainChanged.connect(lambda d: s.set_box(d["x"], d.get("y"), d["n"]))
        w.domain.refitRequested.connect(self.refit)
        w.domain.axesChanged.connect(s.set_axes)
        w.parameters.parameterChanged.connect(s.set_param)
        w.parameters.rangeChanged.connect(s.set_param_range)
        w.contour.hovered.connect(s.set_hover)
        w.contour.left.connect(lambda: s.set_hover(None))
        w.contour.pointPicked.connect(s.select)
        w.contour.nudged.connect(s.nudge)
        w.contour.viewRangeChanged.connect(self._remember_range)
        w.contour.boxRequested.connect(s.zoom_to)
        w.curve.viewRangeChanged.connect(self._remember_range)
        w.curve.pointPicked.connect(lambda x, _y: s.select(x))
        w.inspector.angleChanged.connect(s.set_angle)
        w.inspector.pointTyped.connect(self.type_point)
        w.contour.directionDragged.connect(s.set_angle)
        w.approximation.epsChanged.connect(s.set_eps)
        w.surface.cameraMoved.connect(s.set_camera)
        w.actions["reset_view"].triggered.connect(lambda: s.set_camera(None))
        for name in TOGGLES:
            if name in w.actions:
                w.actions[name].toggled.connect(lambda on, name=name: s.set_toggle(name, on))
        w.actions["log_scale"].toggled.connect(s.set_log_scale)
        w.actions["undo"].triggered.connect(s.undo)
        w.actions["redo"].triggered.connect(s.redo)

        s.settings_changed.connect(self.show_settings)
        s.result_changed.connect(self.show_result)
        s.hover_changed.connect(self.show_hover)
        s.messages_changed.connect(self.show_status)
        s.history_changed.connect(self.show_history)
        s.device_changed.connect(w.set_device)

    # ------------------------------------------------------------------ intents
    def load_preset(self, preset: dict) -> None:
        self.session.load(preset["text"], preset.get("x"), preset.get("y"), preset.get("params"),
                          description=f"preset {preset.get('name', '')}".strip(), point=preset.get("point"),
                          eps=preset.get("eps"), toggles=preset.get("toggles"))

    def type_point(self, texts: dict) -> None:
        self.window.inspector.set_entry_error(self.session.type_point(texts))

    def _remember_range(self, ranges) -> None:
        self._view_range = ranges

    def refit(self) -> None:
        """The box becomes what the map shows (rounded to round numbers)."""
        if self._view_range is None:
            return
        (x0, x1), (y0, y1) = self._view_range
        if len(self.session.axes) == 1:
            self.session.set_box(gridlib.nice_range(x0, x1))
        else:
            self.session.set_box(gridlib.nice_range(x0, x1), gridlib.nice_range(y0, y1))

    # ------------------------------------------------------------------ settings -> views
    def show_settings(self, before: Settings, after: Settings) -> None:
        w, s = self.window, self.session
        doc = after.document
        if w.editor.text() != after.text:
            w.editor.set_text(after.text)
        w.editor.set_preview(to_html(s.expression), notes_html(s.expression))
        if s.editor_error is not None:
            w.editor.set_error(s.editor_error.message, s.editor_error.position)
        w.domain.set_domain(doc.x_range, doc.y_range, doc.n)
        w.domain.set_axis_choices(list(s.expression.entries), tuple(doc.axes))
        w.domain.set_one_dimensional(len(doc.axes) == 1)
        w.parameters.set_parameters({name: p.model_dump() for name, p in doc.params.items()})
        w.set_dimension(len(doc.axes))
        w.approximation.set_dimension(len(doc.axes))
        w.approximation.set_eps(s.eps)
        w.inspector.set_angle(after.view.angle)
        w.inspector.set_entry(list(doc.axes), after.selected, gridlib.scales(None, doc.ranges)["point"])
        toggles = after.view.toggles
        for name in TOGGLES:
            if name in w.actions:
                w.set_checked(name, getattr(toggles, name))
        w.set_checked("log_scale", s.log_scale)
        w.surface.set_isolines_visible(toggles.surface_isolines)
        w.curve.set_second_derivative_visible(toggles.second_derivative)
        w.contour.set_field_visible(toggles.field)
        w.contour.set_aspect_locked(s.equal_aspect)
        if after.view.camera != before.view.camera or before is after:
            w.surface.set_camera(after.view.camera)
        if not doc.axes:
            w.surface.show_message("This formula has no variables: it is a constant.")
            s.note("grid", "This formula has no variables: it is a constant.")
        view_changed = (toggles, after.view.log_scale) != (before.view.toggles, before.view.log_scale)
        if view_changed or before is after:
            self._draw_grid()
        if view_changed or after.view.angle != before.view.angle or before is after:
            self._draw_point()

    def show_result(self, kind: str) -> None:
        if kind == "grid":
            self.window.set_checked("log_scale", self.session.log_scale)
            self._draw_grid()
            self._draw_point()  # the local models follow the surface's scale
        elif kind in ("point", "critical"):  # (the inspector reads a listed critical point's zero eigenvalues)
            self._draw_point()
        elif kind == "approximation":
            self.window.approximation.set_result(self.session.approximation)

    def show_hover(self, hover: dict | None) -> None:
        if hover is None:
            self.window.contour.hide_readout()
            return
        (a, b), n = hover["axes"], format_number  # (NaN reads "undefined", as in the inspector)
        gx, gy = hover["gradient"]
        text = (f"{a} = {n(hover['x'], 4)}, {b} = {n(hover['y'], 4)}\nf = {n(hover['value'], 5)}\n"
                f"∇f = ({n(gx, 4)}, {n(gy, 4)})")
        self.window.contour.show_readout(hover["x"], hover["y"], text)

    def show_status(self) -> None:
        w, s = self.window, self.session
        message = s.status
        w.show_status(message.text if message else "", error=bool(message and message.error))
        grid_error = s.error("grid")
        if s.editor_error is None and grid_error is not None:
            w.editor.set_error(grid_error, len(s.settings.text))

    def show_history(self) -> None:
        h, w = self.session.history, self.window
        w.actions["undo"].setEnabled(h.can_undo)
        w.actions["redo"].setEnabled(h.can_redo)
        w.actions["undo"].setText(f"&Undo {h.undo_text}".rstrip())
        w.actions["redo"].setText(f"&Redo {h.redo_text}".rstrip())

    # ------------------------------------------------------------------ drawing
    def _draw_grid(self) -> None:
        w, s = self.window, self.session
        grid = s.grid if s.grid is not None else s.preview("grid")  # (numpy's values while TensorFlow loads)
        if grid is None:
            return
        names = tuple(grid["axes"])
        log_scale = s.log_scale
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
            w.surface.set_grid(xs, ys, value, limits, levels, lines, names, log=log_scale)
            w.contour.set_grid(xs, ys, value, limits, lines, names)
            if s.settings.view.toggles.field and grid["d1"] is not None:
                w.contour.set_field(*gridlib.gradient_field(grid))
        w.set_compute_time(f"{grid['device']} · {grid['seconds'] * 1e3:.1f} ms for {value.size:,} points")

    def _draw_point(self) -> None:
        w, s = self.window, self.session
        info = s.point
        if info is None:
            w.surface.set_model("plane")
            w.surface.set_model("quadric")
            w.inspector.set_point(None)
            w.surface.clear_point()
            w.contour.clear_point()
            w.curve.clear_point()
            if s.selected is None:
                w.approximation.set_result(None)
            return
        listed, scales = s.listed_critical_point(), gridlib.scales(s.grid, s.document.ranges)
        w.inspector.set_point(info, scales, listed["zero_eigenvalues"] if listed else 0)
        grad = gridlib.without_round_off([info["gradient"][n] for n in info["variables"]], scales["gradient"])
        coords = [info["point"][n] for n in info["variables"]]
        self._draw_models(info)
        if len(coords) == 1:
            w.curve.set_point(coords[0], info["value"], grad[0])
            return
        profile = directional_profile(grad, s.settings.view.angle)
        w.inspector.set_directional(profile, tuple(info["variables"][:2]))
        z = gridlib.symlog(np.array(info["value"])).item() if s.log_scale else info["value"]
        w.surface.set_point(coords[0], coords[1], z, tuple(grad))
        w.contour.set_point(coords[0], coords[1], tuple(grad), tuple(profile["direction"]))

    def _draw_models(self, info: dict) -> None:
        """Tangent plane / quadratic model over a patch around the selected point, when switched on."""
        w, s = self.window, self.session
        toggles = s.settings.view.toggles
        names = info["variables"]
        p = np.array([info["point"][n] for n in names])
        grad = np.array([info["gradient"][n] for n in names])
        hess = np.array(info["hessian"], dtype=float)
        spans = [(hi - lo) * MODEL_PATCH for lo, hi in s.document.ranges]
        axes_values = [np.linspace(c - r, c + r, 24) for c, r in zip(p, spans)]
        if len(names) == 1:
            q = axes_values[0][:, None]
            show = toggles.quadratic_model
            quad = approximation.quadratic_model(info["value"], grad, hess, p, q) if show else []
            w.curve.set_quadratic(axes_values[0] if show else [], quad)
            return
        Q = np.stack(np.meshgrid(*axes_values, indexing="ij"), axis=-1)
        for on, which, model in ((toggles.tangent_plane, "plane",
                                  lambda: approximation.linear_model(info["value"], grad, p, Q)),
                                 (toggles.quadratic_model, "quadric",
                                  lambda: approximation.quadratic_model(info["value"], grad, hess, p, Q))):
            if on and np.all(np.isfinite(hess)):
                z = model()
                w.surface.set_model(which, axes_values[0], axes_values[1], gridlib.symlog(z) if s.log_scale else z)
            else:
                w.surface.set_model(which)
