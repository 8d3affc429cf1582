"""The point inspector: f, its gradient and Hessian at one picked point, and directional derivatives.

A view only: it shows what it is given (an engine's point result, a directional profile from
:func:`calcviz.models.directional.directional_profile`) and emits ``angleChanged`` when the user
turns the direction. ``set_*`` methods never emit.
"""
from __future__ import annotations

import math
import re
from typing import Any, Sequence

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import (
    QAbstractItemView, QDial, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QHeaderView,
    QLabel, QLineEdit, QSizePolicy, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from .common import ERROR_COLOR, UNDEFINED, format_eigenvalues, format_number, format_vector, plain_axes  # noqa: F401 - format_number: tests use it

PLACEHOLDER = "Click the contour map to pick a point"

# Plot colours: readable on light and dark backgrounds.
CURVE_COLOR = (31, 119, 180)
MAX_COLOR = (44, 160, 44)
MIN_COLOR = (214, 39, 40)
ANGLE_COLOR = (255, 127, 14)


def _plain(html: str) -> str:
    """A label's rich text as plain text (tags, word joiners and no-break spaces undone)."""
    text = re.sub(r"<[^>]+>", "", html).replace("\u2060", "").replace("\u00a0", " ")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _muted(label: QLabel) -> QLabel:
    label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
    return label


class PointInspector(QWidget):
    """Shows one point's numbers; ``angleChanged(degrees)`` when the user turns the direction v."""

    angleChanged = pyqtSignal(float)
    pointTyped = pyqtSignal(object)  # {axis: text}: a point typed as numbers or formulas of numbers (Enter)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._info: dict | None = None
        self._profile: dict | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        # --- the point, typed: log(2), -1/sqrt(2) and pi/4 are points too --------------------------------
        self.entry = QWidget(self)
        entry = QHBoxLayout(self.entry)
        entry.setContentsMargins(0, 0, 0, 0)
        entry.addWidget(QLabel("at", self.entry))
        self.entry_captions: list[QLabel] = []
        self.entry_fields: list[QLineEdit] = []
        for _ in range(2):
            caption = QLabel(self.entry)
            field = QLineEdit(self.entry)
            field.setPlaceholderText("log(2)")
            field.setToolTip("A coordinate of the point: a number or a formula of numbers (log(2), -1/sqrt(2), "
                             "pi/4); Enter selects the point")
            field.returnPressed.connect(self._entry_committed)
            entry.addWidget(caption)
            entry.addWidget(field, 1)
            self.entry_captions.append(caption)
            self.entry_fields.append(field)
        self.entry_error = QLabel(self)
        self.entry_error.setWordWrap(True)
        self.entry_error.setStyleSheet(f"color: {ERROR_COLOR};")
        self.entry_error.hide()
        self._entry_axes: list[str] = []
        self._typed: dict[str, tuple[str, float | None]] = {}  # axis -> (text typed, the value it gave)
        layout.addWidget(self.entry)
        layout.addWidget(self.entry_error)

        self.placeholder = _muted(QLabel(PLACEHOLDER, self))
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        layout.addWidget(self.placeholder)

        # --- the numbers at the point ----------------------------------------------------------
        self.details = QWidget(self)
        self.form = QFormLayout(self.details)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        def row(caption: str) -> tuple[QLabel, QLabel]:
            name = QLabel(caption, self.details)
            value = QLabel(self.details)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.form.addRow(name, value)
            return name, value

        self.point_caption, self.point_label = row("(x, y)")
        self.value_caption, self.value_label = row("f")
        self.gradient_caption, self.gradient_label = row("∇f")
        self.norm_caption, self.norm_label = row("|∇f|")
        self.second_caption, self.second_label = row("f″(x)")  # one variable only

        self.hessian_caption = QLabel("Hessian H", self.details)
        self.hessian_table = QTableWidget(self.details)
        self.hessian_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.hessian_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.hessian_table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.hessian_table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # No scroll bars: columns share the width, and a cell too narrow for its number elides it
        # (its tooltip has the whole number).
        self.hessian_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.hessian_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.hessian_table.horizontalHeader().setMinimumSectionSize(24)
        self.hessian_table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.hessian_table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        # The table spans the form's width (below its caption): 3+ variables need the room.
        self.form.addRow(self.hessian_caption, QWidget(self.details))
        self.form.addRow(self.hessian_table)

        self.eigen_caption, self.eigen_label = row("eigenvalues of H")
        self.undefined_label = QLabel(self.details)  # why the derivatives are undefined here, when they are
        self.undefined_label.setWordWrap(True)
        self.undefined_label.setStyleSheet(f"color: {ERROR_COLOR};")
        self.undefined_label.hide()
        self.form.addRow(self.undefined_label)
        self.device_caption, self.device_label = row("computed on")
        _muted(self.device_label)
        layout.addWidget(self.details)

        # --- directional derivative ------------------------------------------------------------
        self.directional_box = QGroupBox("Directional derivative", self)
        box = QVBoxLayout(self.directional_box)
        box.setContentsMargins(6, 6, 6, 6)
        controls = QHBoxLayout()
        box.addLayout(controls)

        angle_caption = QLabel("angle θ", self.directional_box)
        self.angle_spin = QDoubleSpinBox(self.directional_box)
        self.angle_spin.setRange(0.0, 360.0)
        self.angle_spin.setWrapping(True)
        self.angle_spin.setDecimals(1)
        self.angle_spin.setSingleStep(1.0)
        self.angle_spin.setSuffix("°")
        self.angle_spin.setKeyboardTracking(False)  # emit on Enter / focus out, not per keystroke
        self.angle_spin.setToolTip("Direction of v, counter-clockwise from the positive horizontal axis")
        angle_caption.setBuddy(self.angle_spin)

        # The dial's pointer shows v itself: QDial's wrapping dial starts at 6 o'clock and runs
        # clockwise, so dial value = 270 - angle (mod 360).
        self.angle_dial = QDial(self.directional_box)
        self.angle_dial.setRange(0, 360)
        self.angle_dial.setWrapping(True)
        self.angle_dial.setNotchesVisible(True)
        self.angle_dial.setNotchTarget(15.0)
        self.angle_dial.setSingleStep(1)
        self.angle_dial.setPageStep(15)
        self.angle_dial.setFixedSize(56, 56)
        self.angle_dial.setToolTip("Drag to turn v; the pointer points along v")
        self.angle_dial.setValue(self._dial_from_angle(0.0))

        readout = QVBoxLayout()
        readout.setSpacing(2)
        self.direction_label = QLabel(self.directional_box)
        self.directional_label = QLabel(self.directional_box)
        for label in (self.direction_label, self.directional_label):
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            readout.addWidget(label)

        # [dial] | angle θ [spin]
        #        | v = ...
        #        | D_v f = ...
        angle_row = QHBoxLayout()
        angle_row.addWidget(angle_caption)
        angle_row.addWidget(self.angle_spin)
        angle_row.addStretch(1)
        readout.insertLayout(0, angle_row)
        controls.addWidget(self.angle_dial, 0, Qt.AlignmentFlag.AlignTop)
        controls.addSpacing(4)
        controls.addLayout(readout, 1)

        self.plot = pg.PlotWidget(parent=self.directional_box, background=self.palette().color(QPalette.ColorRole.Base))
        plain_axes(self.plot.getPlotItem())
        self.plot.setFixedHeight(150)
        self.plot.setMinimumWidth(220)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseEnabled(x=False, y=False)
        item = self.plot.getPlotItem()
        foreground = self.palette().color(QPalette.ColorRole.Text)
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(foreground)
            axis.setTextPen(foreground)
        item.getAxis("bottom").setTicks([[(a, f"{a}°") for a in (0, 90, 180, 270, 360)],
                                         [(a, "") for a in range(0, 361, 45)]])
        item.getAxis("bottom").setStyle(hideOverlappingLabels=20)  # keep the 0° and 360° labels
        item.getAxis("left").setWidth(40)
        # Vertical guides as lines, not the bottom axis' grid: a gridded axis hides its end labels.
        item.showGrid(x=False, y=True, alpha=0.15)
        guide = QColor(foreground)
        guide.setAlpha(40)
        for quarter in (90, 180, 270):
            item.addItem(pg.InfiniteLine(pos=quarter, angle=90, pen=pg.mkPen(guide, width=1)))
        item.setContentsMargins(0, 4, 14, 0)  # room for the "360°" label
        item.setXRange(0, 360, padding=0.02)
        item.setYRange(-1, 1, padding=0)

        # Created once; set_directional updates them with setData / setPos.
        self.zero_line = pg.InfiniteLine(pos=0, angle=0, pen=pg.mkPen(foreground, width=1, style=Qt.PenStyle.DotLine))
        self.curve = pg.PlotDataItem([], [], pen=pg.mkPen(CURVE_COLOR, width=2))
        self.angle_line = pg.InfiniteLine(pos=0, angle=90, movable=True, bounds=(0, 360),
                                          pen=pg.mkPen(ANGLE_COLOR, width=1.5, style=Qt.PenStyle.DashLine),
                                          hoverPen=pg.mkPen(ANGLE_COLOR, width=3))
        self.angle_line.setToolTip("Drag to turn v")
        self.angle_dot = pg.ScatterPlotItem([], [], size=9, brush=pg.mkBrush(ANGLE_COLOR), pen=pg.mkPen(None))
        self.max_marker = pg.ScatterPlotItem([], [], symbol="t1", size=11, brush=pg.mkBrush(MAX_COLOR),
                                             pen=pg.mkPen(None))
        self.min_marker = pg.ScatterPlotItem([], [], symbol="t", size=11, brush=pg.mkBrush(MIN_COLOR),
                                             pen=pg.mkPen(None))
        self.max_text = pg.TextItem("", color=MAX_COLOR, anchor=(0, 1))
        self.min_text = pg.TextItem("", color=MIN_COLOR, anchor=(0, 0))
        for graphic in (self.zero_line, self.curve, self.angle_line, self.max_marker, self.min_marker,
                        self.angle_dot, self.max_text, self.min_text):
            item.addItem(graphic)
        box.addWidget(self.plot)

        self.note_label = _muted(QLabel(self.directional_box))
        self.note_label.setWordWrap(True)
        box.addWidget(self.note_label)
        layout.addWidget(self.directional_box)

        # --- the descent step being explained ------------------------------------------------------
        self.step_box = QGroupBox("This descent step", self)
        self.step_form = QFormLayout(self.step_box)
        self.step_labels: dict[str, QLabel] = {}
        for key, caption in (("run", "run"), ("step", "step k"), ("point", "point"), ("value", "f"),
                             ("gradient", "∇f"), ("learning_rate", "learning rate η"),
                             ("velocity", "velocity"), ("update", "update taken")):
            label = QLabel(self.step_box)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.step_form.addRow(caption, label)
            self.step_labels[key] = label
        self.step_note = _muted(QLabel(self.step_box))
        self.step_note.setWordWrap(True)
        self.step_form.addRow(self.step_note)
        layout.addWidget(self.step_box)
        self.step_box.hide()
        layout.addStretch(1)

        self.angle_spin.valueChanged.connect(self._spin_changed)
        self.angle_dial.valueChanged.connect(self._dial_changed)
        self.angle_line.sigDragged.connect(self._line_dragged)

        self.set_point(None)
        self.set_directional(None)

    # --- public interface ------------------------------------------------------------------------
    # --- the typed point ------------------------------------------------------------------------------
    def set_entry(self, axes: Sequence[str], point: Sequence[float] | None, scale: float | None = None) -> None:
        """One field per axis, showing the selected point (round-off below ``scale``'s as 0, as everywhere
        else: a critical point polished to 4e-12 from the origin reads 0); a formula typed for it (log(2))
        stays as typed."""
        axes = list(axes)
        if axes != self._entry_axes:
            self._entry_axes = axes
            self._typed = {}
            for k, (caption, field) in enumerate(zip(self.entry_captions, self.entry_fields)):
                shown = k < len(axes)
                caption.setText(f"{axes[k]} =" if shown else "")
                caption.setVisible(shown)
                field.setVisible(shown)
        for k, axis in enumerate(axes[:2]):
            field = self.entry_fields[k]
            if point is None:
                field.clear()
                continue
            if axis in self._typed:
                text, value = self._typed[axis]
                if value is None:  # the point the text just typed selected: keep the text
                    self._typed[axis] = (text, point[k])
                    continue
                if value == point[k]:
                    continue
                del self._typed[axis]  # moved since (a click, a nudge): show the number
            field.setText(format_number(point[k], 10, scale))
        self.entry.setVisible(bool(axes))

    def set_entry_error(self, message: str | None) -> None:
        """Why the typed point was not taken (None: it was)."""
        self.entry_error.setText(message or "")
        self.entry_error.setVisible(bool(message))
        if message:
            self._typed = {}

    def _entry_committed(self) -> None:
        texts = {axis: self.entry_fields[k].text() for k, axis in enumerate(self._entry_axes[:2])}
        self._typed = {axis: (text, None) for axis, text in texts.items()}
        self.pointTyped.emit(texts)

    def set_point(self, info: dict | None, scales: dict | None = None, zero_eigenvalues: int = 0) -> None:
        """Show an engine point result (see Engine.evaluate_point), or None for the placeholder. ``scales``
        (models.grid.scales: the size of f, its gradient and Hessian over the box) turns round-off into 0;
        so does ``zero_eigenvalues`` for the eigenvalues a listed critical point's classification counted as zero."""
        self._info = info
        if info is None:
            self.placeholder.show()
            self.details.hide()
            self.directional_box.hide()
            self.undefined_label.hide()
            return
        scales = scales or {}
        sp, sv, sg, sh = (scales.get(k) for k in ("point", "value", "gradient", "hessian"))
        note = info.get("note") or ""
        self.undefined_label.setText(note)
        self.undefined_label.setVisible(bool(note))
        variables = list(info.get("variables") or list((info.get("point") or {}).keys()))
        point = info.get("point") or {}
        gradient = info.get("gradient") or {}
        hessian = info.get("hessian") or []
        one = len(variables) == 1

        self.placeholder.hide()
        self.details.show()
        if one:
            x = variables[0]
            self.point_caption.setText(x)
            self.value_caption.setText(f"f({x})")
            self.gradient_caption.setText(f"f′({x})")
            self.second_caption.setText(f"f″({x})")
            self.point_label.setText(format_number(point.get(x), scale=sp))
            self.gradient_label.setText(format_number(gradient.get(x), scale=sg))
            self.gradient_label.setToolTip("")
            second = hessian[0][0] if hessian and hessian[0] else None
            self.second_label.setText("0" if zero_eigenvalues else format_number(second, scale=sh))
        else:
            self.point_caption.setText("(" + ", ".join(variables) + ")")
            self.value_caption.setText("f")
            self.gradient_caption.setText("∇f")
            self.point_label.setText(format_vector([point.get(v) for v in variables], sp))
            components = [gradient.get(v) for v in variables]
            self.gradient_label.setText(format_vector(components, sg))
            self.gradient_label.setToolTip("\n".join(f"∂f/∂{v} = {format_number(c, 17)}" for v, c in zip(variables, components)))
            self.norm_label.setText(format_number(self._norm(components), scale=sg))
            # Every eigenvalue counted as zero: so is every entry (none exceeds the largest eigenvalue's size).
            self._fill_hessian(variables, hessian, sh, zero=zero_eigenvalues == len(variables))
            text, tip = format_eigenvalues(info.get("eigenvalues") or [], zero_eigenvalues, sh)
            self.eigen_label.setText(text)
            self.eigen_label.setToolTip(tip)
        self.value_label.setText(format_number(info.get("value"), scale=sv))
        self.value_label.setToolTip(format_number(info.get("value"), 17))
        device = info.get("device")
        self.device_label.setText(str(device) if device else "")

        self.form.setRowVisible(self.norm_label, not one)
        self.form.setRowVisible(self.second_label, one)
        self.form.setRowVisible(self.hessian_caption, not one)
        self.form.setRowVisible(self.hessian_table, not one)
        self.form.setRowVisible(self.eigen_label, not one)
        self.form.setRowVisible(self.device_label, bool(device))
        # Directional derivatives need a plane: hidden for one variable, else shown once a profile is set.
        self.directional_box.setVisible(not one and self._profile is not None)

    def set_step(self, step: dict | None) -> None:
        """The numbers of one descent step (a path record plus "label", "optimizer", "variables"); None hides."""
        if step is None:
            self.step_box.hide()
            return
        names = step["variables"]

        def vector(key: str) -> str | None:
            v = step.get(key)
            return format_vector([v[n] for n in names]) if v else None

        texts = {"run": step["label"], "step": str(step["step"]), "point": vector("point"),
                 "value": format_number(step["value"]), "gradient": vector("gradient"),
                 "learning_rate": format_number(step["learning_rate"]), "velocity": vector("velocity"),
                 "update": vector("update") or "— (the run stopped here)"}
        for key, label in self.step_labels.items():
            self.step_form.setRowVisible(label, texts[key] is not None)
            label.setText(texts[key] or "")
        rule = {"gd": "update = −η ∇f", "momentum": "velocity = μ·velocity − η ∇f; update = velocity",
                "nesterov": "velocity = μ·velocity − η ∇f; update = μ·velocity − η ∇f",
                "adagrad": "update = −η ∇f / √(Σ∇f² + ε)", "rmsprop": "update = −η ∇f / √(running mean of ∇f² + ε)",
                "adam": "update = −η̂ m / (√v + ε): m, v running means of ∇f, ∇f²",
                "newton": "update = −damping · H⁻¹ ∇f (a gradient step where H is not positive definite)"}
        note = rule.get(step["optimizer"], "")
        if step.get("fallback"):
            note += "; this step fell back to −η ∇f"
        self.step_note.setText(note)
        self.step_box.show()

    def shown_step(self) -> dict | None:
        """The step box's texts (None when hidden), for tests."""
        if self.step_box.isHidden():
            return None
        return {k: v.text() for k, v in self.step_labels.items() if not v.isHidden()}

    def set_angle(self, degrees: float) -> None:
        """Turn the angle controls (and the plot's angle line) to ``degrees``, without emitting."""
        angle = float(degrees) % 360.0
        with QSignalBlocker(self.angle_spin):
            if abs(self.angle_spin.value() % 360.0 - angle) > 1e-9:
                self.angle_spin.setValue(angle)
        with QSignalBlocker(self.angle_dial):
            self.angle_dial.setValue(self._dial_from_angle(angle))
        if not self.angle_line.moving:
            self.angle_line.setValue(angle)

    def angle(self) -> float:
        return float(self.angle_spin.value()) % 360.0

    def set_directional(self, profile: dict | None, axes: Sequence[str] | None = None) -> None:
        """Show ``directional_profile()``'s result; None hides the section.

        ``axes`` names the plane of v for functions of 3+ variables, e.g. ("x", "z").
        """
        self._profile = profile
        if profile is None:
            self.directional_box.hide()
            for scatter in (self.angle_dot, self.max_marker, self.min_marker):
                scatter.setData([], [])
            self.curve.setData([], [])
            return
        one = self._info is not None and len(self._info.get("variables") or []) == 1
        self.directional_box.setVisible(self._info is not None and not one)
        self.set_angle(profile["angle"])

        title = "Directional derivative"
        if axes:
            title += " in the (" + ", ".join(list(axes)[:2]) + ") plane"
        self.directional_box.setTitle(title)
        self.direction_label.setText(f"v = (cos θ, sin θ) = {format_vector(profile['direction'])}")
        self.directional_label.setText(f"D<sub>v</sub>f = ∇f · v = <b>{format_number(profile['value'])}</b>")
        self.note_label.setText(self._note(profile))

        angles = np.asarray(profile["angles"], dtype=float)
        values = np.asarray(profile["values"], dtype=float)
        defined = bool(profile.get("defined", True))
        self.curve.setData(angles, values, connect="finite")
        if defined and math.isfinite(profile["value"]):
            self.angle_dot.setData([profile["angle"]], [profile["value"]])
        else:
            self.angle_dot.setData([], [])

        norm = profile.get("norm", float("nan"))
        extremes = defined and profile.get("max_angle") is not None
        if extremes:
            self.max_marker.setData([profile["max_angle"]], [profile["max_value"]])
            self.min_marker.setData([profile["min_angle"]], [profile["min_value"]])
            self._place_text(self.max_text, profile["max_angle"], profile["max_value"], above=True,
                             text=f"+|∇f| = {format_number(profile['max_value'])}")
            self._place_text(self.min_text, profile["min_angle"], profile["min_value"], above=False,
                             text=f"-|∇f| = {format_number(profile['min_value'])}")
        else:
            self.max_marker.setData([], [])
            self.min_marker.setData([], [])
        self.max_text.setVisible(extremes)
        self.min_text.setVisible(extremes)
        span = norm if defined and math.isfinite(norm) and norm > 0 else 1.0
        self.plot.getPlotItem().setYRange(-1.5 * span, 1.5 * span, padding=0)

    def shown(self) -> dict:
        """The texts on screen (None for hidden rows): what a reader sees, for tests and debugging."""
        def visible(label: QLabel) -> str | None:
            return label.text() if self.details.isVisibleTo(self) and not label.isHidden() else None

        table = self.hessian_table
        hessian = None
        if self.details.isVisibleTo(self) and not table.isHidden():
            hessian = [[table.item(r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]
        directional = None
        if self.directional_box.isVisibleTo(self) and self._profile is not None:
            p = self._profile
            directional = {
                "angle": self.angle_spin.value(),
                "direction": format_vector(p["direction"]),
                "value": format_number(p["value"]),
                "max": (p.get("max_angle"), format_number(p.get("max_value"))) if p.get("max_angle") is not None else None,
                "min": (p.get("min_angle"), format_number(p.get("min_value"))) if p.get("min_angle") is not None else None,
                "note": _plain(self.note_label.text()),
            }
        return {
            "placeholder": self.placeholder.text() if not self.placeholder.isHidden() else None,
            "point": visible(self.point_label),
            "value": visible(self.value_label),
            "gradient": visible(self.gradient_label),
            "gradient_norm": visible(self.norm_label),
            "second_derivative": visible(self.second_label),
            "hessian": hessian,
            "eigenvalues": visible(self.eigen_label),
            "device": visible(self.device_label),
            "directional": directional,
        }

    # --- internals ---------------------------------------------------------------------------------
    @staticmethod
    def _norm(components: Sequence[Any]) -> float:
        try:
            values = [float(c) for c in components]
        except (TypeError, ValueError):
            return float("nan")
        return math.hypot(*values)

    def _fill_hessian(self, variables: Sequence[str], hessian: Sequence[Sequence[Any]], scale: float | None = None,
                      zero: bool = False) -> None:
        n = len(variables)
        table = self.hessian_table
        table.setRowCount(n)
        table.setColumnCount(n)
        table.setHorizontalHeaderLabels(list(variables))
        table.setVerticalHeaderLabels(list(variables))
        for r in range(n):
            for c in range(n):
                try:
                    value = hessian[r][c]
                except (IndexError, TypeError):
                    value = None
                cell = QTableWidgetItem("0" if zero else format_number(value, scale=scale))
                cell.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                cell.setToolTip(f"∂²f/∂{variables[r]}∂{variables[c]} = {format_number(value, 17)}")
                table.setItem(r, c, cell)
        table.resizeRowsToContents()
        header = table.horizontalHeader().sizeHint().height()
        table.setFixedHeight(header + sum(table.rowHeight(r) for r in range(n)) + 2 * table.frameWidth())

    @staticmethod
    def _note(profile: dict) -> str:
        if not profile.get("defined", True):
            return "The gradient is undefined here, so D<sub>v</sub>f is too."
        if profile.get("zero"):
            return "∇f = 0: D<sub>v</sub>f = 0 in every direction (no direction of steepest ascent)."
        def keep(text: str) -> str:  # one unbreakable run: no-break spaces, a word joiner after "|"
            return text.replace(" ", "\u00a0").replace("|", "|\u2060")

        return (f"Largest <b>{keep('+|∇f| = ' + format_number(profile['max_value']))}</b> at "
                f"{keep(format_number(round(profile['max_angle'], 2)) + '° (along ∇f)')}; smallest "
                f"<b>{keep('-|∇f| = ' + format_number(profile['min_value']))}</b> at "
                f"{keep(format_number(round(profile['min_angle'], 2)) + '° (opposite ∇f)')}.")

    @staticmethod
    def _place_text(text_item: pg.TextItem, angle: float, value: float, above: bool, text: str) -> None:
        # Keep the label inside the plot: to the right of the marker, or to its left near 360°.
        right = angle > 270
        text_item.setAnchor((1.0 if right else 0.0, 1.0 if above else 0.0))
        text_item.setText(text)
        text_item.setPos(angle, value)

    @staticmethod
    def _dial_from_angle(angle: float) -> int:
        return int(round(270.0 - angle)) % 360

    @staticmethod
    def _angle_from_dial(value: int) -> float:
        return float((270 - value) % 360)

    def _spin_changed(self, value: float) -> None:
        angle = float(value) % 360.0
        with QSignalBlocker(self.angle_dial):
            self.angle_dial.setValue(self._dial_from_angle(angle))
        self.angle_line.setValue(angle)
        self.angleChanged.emit(angle)

    def _dial_changed(self, value: int) -> None:
        angle = self._angle_from_dial(value)
        with QSignalBlocker(self.angle_spin):
            self.angle_spin.setValue(angle)
        self.angle_line.setValue(angle)
        self.angleChanged.emit(angle)

    def _line_dragged(self, line: pg.InfiniteLine) -> None:
        angle = round(float(line.value()), 1) % 360.0
        with QSignalBlocker(self.angle_spin):
            self.angle_spin.setValue(angle)
        with QSignalBlocker(self.angle_dial):
            self.angle_dial.setValue(self._dial_from_angle(angle))
        self.angleChanged.emit(angle)
