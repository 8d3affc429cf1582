"""Dock panels: the plotted domain (ranges, grid, axes) and the parameter sliders.

Views only: they emit what the user asks for (``domainChanged``, ``axesChanged``,
``parameterChanged``, ...) and show what ``set_*`` gives them, with their own signals blocked
so that a controller's update never echoes back as a user change.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from PyQt6.QtCore import QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtGui import QPalette
from PyQt6.QtWidgets import (
    QComboBox, QFormLayout, QGridLayout, QHBoxLayout, QLabel, QPushButton,
    QSizePolicy, QSlider, QSpinBox, QVBoxLayout, QWidget,
)

from ..models.settings import MAX_GRID
from .common import NumberBox, error_label, format_number

NO_PARAMETERS = "No parameters (names other than the axes become sliders)"
DEFAULT_GRID = 200
SLIDER_STEPS = 1000  # slider positions across a parameter's range


class DomainPanel(QWidget):
    """The plotted box: horizontal and vertical ranges, grid resolution, and (3+ inputs) which axes.

    ``domainChanged({"x": (lo, hi), "y": (lo, hi), "n": n})`` when the user changes a range or the
    resolution and every shown range has lo < hi ("x" is the horizontal axis, "y" the vertical
    one, whatever their variables are called); otherwise a red message and nothing emitted.
    """

    domainChanged = pyqtSignal(object)
    refitRequested = pyqtSignal()
    axesChanged = pyqtSignal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._axes: tuple[str, str] = ("x", "y")
        self._inputs: list[str] = ["x", "y"]
        self._one_dimensional = False

        self.form = QFormLayout(self)
        self.form.setContentsMargins(6, 6, 6, 6)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        self.horizontal_combo = QComboBox(self)
        self.vertical_combo = QComboBox(self)
        for combo in (self.horizontal_combo, self.vertical_combo):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.horizontal_combo.setToolTip("The variable along the plot's horizontal axis; the others become sliders")
        self.vertical_combo.setToolTip("The variable along the plot's vertical axis; the others become sliders")
        # (short captions: "horizontal axis" widened the label column so far that a laptop's dock cut the ranges off)
        self.form.addRow("across", self.horizontal_combo)
        self.form.addRow("up", self.vertical_combo)

        self.x_caption = QLabel("x", self)
        self.y_caption = QLabel("y", self)
        self.x_min, self.x_max, x_row = self._range_row(-2.0, 2.0)
        self.y_min, self.y_max, y_row = self._range_row(-2.0, 2.0)
        self.form.addRow(self.x_caption, x_row)
        self.form.addRow(self.y_caption, y_row)

        grid_row = QWidget(self)
        grid_layout = QHBoxLayout(grid_row)
        grid_layout.setContentsMargins(0, 0, 0, 0)
        self.grid_spin = QSpinBox(grid_row)
        self.grid_spin.setRange(2, MAX_GRID)
        self.grid_spin.setValue(DEFAULT_GRID)
        self.grid_spin.setSingleStep(50)
        self.grid_spin.setKeyboardTracking(False)
        self.grid_spin.setAccelerated(True)
        self.grid_spin.setToolTip(f"Points per side of the grid (2 to {MAX_GRID}); more is finer and slower")
        grid_layout.addWidget(self.grid_spin)
        self.grid_unit = QLabel("points per side", grid_row)
        grid_layout.addWidget(self.grid_unit)
        grid_layout.addStretch(1)
        self.form.addRow("grid", grid_row)

        self.refit_button = QPushButton("Refit to view", self)
        self.refit_button.setToolTip("Take the ranges from what the plot shows now")
        self.form.addRow(self.refit_button)

        self.error_label = error_label(self)
        self.form.addRow(self.error_label)

        for box in (self.x_min, self.x_max, self.y_min, self.y_max):
            box.valueChanged.connect(self._user_changed)
        self.grid_spin.valueChanged.connect(self._user_changed)
        self.refit_button.clicked.connect(self.refitRequested)
        self.horizontal_combo.activated.connect(lambda _: self._axis_picked(horizontal=True))
        self.vertical_combo.activated.connect(lambda _: self._axis_picked(horizontal=False))

        self.set_axis_choices(["x", "y"], ("x", "y"))

    def _range_row(self, lo: float, hi: float) -> tuple[NumberBox, NumberBox, QWidget]:
        row = QWidget(self)
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        low = NumberBox(row, step=0.5)
        high = NumberBox(row, step=0.5)
        low.setValue(lo)
        high.setValue(hi)
        low.setToolTip("Lower end")
        high.setToolTip("Upper end")
        to = QLabel("to", row)
        layout.addWidget(low, 1)
        layout.addWidget(to)
        layout.addWidget(high, 1)
        return low, high, row

    # --- public interface ------------------------------------------------------------------------
    def domain(self) -> dict:
        """What the boxes show: {"x": (lo, hi), "y": (lo, hi), "n": n}."""
        return {"x": (self.x_min.value(), self.x_max.value()),
                "y": (self.y_min.value(), self.y_max.value()),
                "n": int(self.grid_spin.value())}

    def set_domain(self, x: Sequence[float], y: Sequence[float] | None, n: int) -> None:
        """Show these ranges and resolution (y None: leave it), without emitting; clears the message."""
        pairs = [(self.x_min, x[0]), (self.x_max, x[1])]
        if y is not None:
            pairs += [(self.y_min, y[0]), (self.y_max, y[1])]
        for box, value in pairs:
            with QSignalBlocker(box):
                box.setValue(float(value))
        with QSignalBlocker(self.grid_spin):
            self.grid_spin.setValue(int(n))
        self._show_error(self._problem())

    def set_axis_choices(self, inputs: Sequence[str], axes: Sequence[str]) -> None:
        """Offer ``inputs`` for the two plot axes (combos shown only for 3+ inputs); select ``axes``."""
        self._inputs = list(inputs)
        a, b = axes[0], axes[1] if len(axes) > 1 else ""
        self._axes = (a, b)
        for combo, chosen in ((self.horizontal_combo, a), (self.vertical_combo, b)):
            with QSignalBlocker(combo):
                combo.clear()
                combo.addItems(self._inputs)
                if chosen in self._inputs:
                    combo.setCurrentIndex(self._inputs.index(chosen))
        self.x_caption.setText(a or "x")
        self.y_caption.setText(b or "y")
        self._update_rows()

    def axes(self) -> tuple[str, str]:
        return self._axes

    def set_one_dimensional(self, one: bool) -> None:
        """One-variable functions: hide the vertical range (and the vertical axis choice)."""
        self._one_dimensional = bool(one)
        self.grid_unit.setText("points" if self._one_dimensional else "points per side")
        self._update_rows()
        self._show_error(self._problem())

    def error(self) -> str | None:
        """The red message shown, if any."""
        return None if self.error_label.isHidden() else self.error_label.text()

    # --- internals ---------------------------------------------------------------------------------
    def _update_rows(self) -> None:
        choose = len(self._inputs) > 2
        self.form.setRowVisible(self.horizontal_combo, choose)
        self.form.setRowVisible(self.vertical_combo, choose and not self._one_dimensional)
        self.form.setRowVisible(self.y_caption, not self._one_dimensional)

    def _problem(self) -> str | None:
        rows = [(self.x_caption.text(), self.x_min, self.x_max)]
        if not self._one_dimensional:
            rows.append((self.y_caption.text(), self.y_min, self.y_max))
        for name, low, high in rows:
            if not low.value() < high.value():
                return (f"{name}: the range must go from a smaller to a larger number "
                        f"(now {format_number(low.value())} to {format_number(high.value())})")
        return None

    def _show_error(self, message: str | None) -> None:
        self.error_label.setText(message or "")
        self.error_label.setVisible(message is not None)

    def _user_changed(self, *_: Any) -> None:
        problem = self._problem()
        self._show_error(problem)
        if problem is None:
            self.domainChanged.emit(self.domain())

    def _axis_picked(self, horizontal: bool) -> None:
        a, b = self.horizontal_combo.currentText(), self.vertical_combo.currentText()
        old_a, old_b = self._axes
        if a == b:  # picking the other axis' variable swaps the two
            if horizontal:
                b = old_a
            else:
                a = old_b
            for combo, name in ((self.horizontal_combo, a), (self.vertical_combo, b)):
                with QSignalBlocker(combo):
                    combo.setCurrentIndex(self._inputs.index(name) if name in self._inputs else -1)
        if (a, b) == self._axes:
            return
        self._axes = (a, b)
        self.x_caption.setText(a)
        self.y_caption.setText(b)
        self._show_error(self._problem())
        self.axesChanged.emit((a, b))


@dataclass
class ParameterRow:
    """The widgets of one parameter (``ParametersPanel.rows[name]``)."""
    name: str
    name_label: QLabel
    slider: QSlider
    value_box: NumberBox
    min_box: NumberBox
    max_box: NumberBox


def _decimals(lo: float, hi: float) -> int:
    """Decimals that resolve one slider step of the range [lo, hi]."""
    step = (hi - lo) / SLIDER_STEPS
    return int(min(12, max(0, math.ceil(-math.log10(step))))) if step > 0 else 6


class ParametersPanel(QWidget):
    """One slider row per parameter; ``parameterChanged(name, value)``, ``rangeChanged(name, lo, hi)``."""

    parameterChanged = pyqtSignal(str, float)
    rangeChanged = pyqtSignal(str, float, float)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.rows: dict[str, ParameterRow] = {}
        self._ranges: dict[str, tuple[float, float]] = {}
        self._problems: dict[str, str] = {}  # name -> why its typed range is refused

        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(6, 6, 6, 6)
        self.empty_label = QLabel(NO_PARAMETERS, self)
        self.empty_label.setWordWrap(True)
        self.empty_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self._layout.addWidget(self.empty_label)
        self.container = QWidget(self)
        self._layout.addWidget(self.container)
        self.error_label = error_label(self)
        self._layout.addWidget(self.error_label)
        self._layout.addStretch(1)
        self.set_parameters({})

    # --- public interface ------------------------------------------------------------------------
    def set_parameters(self, params: Mapping[str, Mapping[str, float]]) -> None:
        """Show {name: {"value": v, "min": lo, "max": hi}} without emitting.

        Rows are rebuilt only when the set of names changes; otherwise values and ranges are
        updated in place (so a slider being dragged is not destroyed). A value outside its range
        widens the shown range to include it; a missing range defaults to [-10, 10] around it.
        """
        names = list(params)
        if set(names) != set(self.rows):
            self._rebuild(names)
        for name in names:
            self._show(name, params[name])
        self.empty_label.setVisible(not names)
        self.container.setVisible(bool(names))
        self._problems.clear()
        self._show_problems()

    def values(self) -> dict[str, float]:
        return {name: row.value_box.value() for name, row in self.rows.items()}

    def ranges(self) -> dict[str, tuple[float, float]]:
        return dict(self._ranges)

    def error(self) -> str | None:
        return None if self.error_label.isHidden() else self.error_label.text()

    # --- internals ---------------------------------------------------------------------------------
    def _rebuild(self, names: Sequence[str]) -> None:
        self._layout.removeWidget(self.container)
        self.container.hide()
        self.container.deleteLater()
        self.container = QWidget(self)
        self._layout.insertWidget(1, self.container)
        grid = QGridLayout(self.container)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(2)
        grid.setColumnStretch(1, 1)
        self.rows = {}
        self._ranges = {}
        small = self.font()
        small.setPointSizeF(max(6.0, small.pointSizeF() * 0.9))
        for i, name in enumerate(names):
            name_label = QLabel(f"<b>{name}</b>", self.container)
            slider = QSlider(Qt.Orientation.Horizontal, self.container)
            slider.setRange(0, SLIDER_STEPS)
            slider.setSingleStep(SLIDER_STEPS // 100)
            slider.setPageStep(SLIDER_STEPS // 10)
            slider.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            slider.setMinimumWidth(80)
            value_box = NumberBox(self.container)
            value_box.setToolTip(f"Value of {name} (type a number, Enter to apply)")
            value_box.setMinimumWidth(72)

            range_row = QWidget(self.container)
            range_layout = QHBoxLayout(range_row)
            range_layout.setContentsMargins(0, 0, 0, 6)
            min_box = NumberBox(range_row)
            max_box = NumberBox(range_row)
            min_box.setToolTip(f"Smallest value of {name}'s slider")
            max_box.setToolTip(f"Largest value of {name}'s slider")
            range_caption = QLabel("range", range_row)
            to = QLabel("to", range_row)
            for widget in (range_caption, to, min_box, max_box):
                widget.setFont(small)
            range_caption.setForegroundRole(QPalette.ColorRole.PlaceholderText)
            to.setForegroundRole(QPalette.ColorRole.PlaceholderText)
            range_layout.addWidget(range_caption)
            range_layout.addWidget(min_box, 1)
            range_layout.addWidget(to)
            range_layout.addWidget(max_box, 1)

            grid.addWidget(name_label, 2 * i, 0)
            grid.addWidget(slider, 2 * i, 1)
            grid.addWidget(value_box, 2 * i, 2)
            grid.addWidget(range_row, 2 * i + 1, 1, 1, 2)

            row = ParameterRow(name, name_label, slider, value_box, min_box, max_box)
            self.rows[name] = row
            slider.valueChanged.connect(lambda position, n=name: self._slider_moved(n, position))
            value_box.valueChanged.connect(lambda value, n=name: self._value_typed(n, value))
            min_box.valueChanged.connect(lambda _, n=name: self._range_edited(n))
            max_box.valueChanged.connect(lambda _, n=name: self._range_edited(n))

    def _show_problems(self) -> None:
        self.error_label.setText("\n".join(self._problems.values()))
        self.error_label.setVisible(bool(self._problems))

    def _show(self, name: str, spec: Mapping[str, float]) -> None:
        row = self.rows[name]
        value = float(spec.get("value", 0.0))
        lo = float(spec.get("min", min(-10.0, value)))
        hi = float(spec.get("max", max(10.0, value)))
        lo, hi = min(lo, value), max(hi, value)
        if not lo < hi:
            hi = lo + 1.0
        for box, v in ((row.min_box, lo), (row.max_box, hi)):
            with QSignalBlocker(box):
                box.setValue(v)
        self._apply_range(name, lo, hi)
        with QSignalBlocker(row.value_box):
            row.value_box.setValue(value)
        self._place_slider(row, value)

    def _apply_range(self, name: str, lo: float, hi: float) -> None:
        row = self.rows[name]
        self._ranges[name] = (lo, hi)
        with QSignalBlocker(row.value_box):
            row.value_box.setRange(lo, hi)
            row.value_box.setSingleStep((hi - lo) / 100)
        row.slider.setToolTip(f"{name} from {format_number(lo)} to {format_number(hi)}")

    def _place_slider(self, row: ParameterRow, value: float) -> None:
        lo, hi = self._ranges[row.name]
        position = round((value - lo) / (hi - lo) * SLIDER_STEPS)
        with QSignalBlocker(row.slider):
            row.slider.setValue(max(0, min(SLIDER_STEPS, position)))

    def _slider_moved(self, name: str, position: int) -> None:
        lo, hi = self._ranges[name]
        value = round(lo + (hi - lo) * position / SLIDER_STEPS, _decimals(lo, hi)) + 0.0  # + 0.0: no -0
        value = min(max(value, lo), hi)
        row = self.rows[name]
        with QSignalBlocker(row.value_box):
            row.value_box.setValue(value)
        self.parameterChanged.emit(name, float(value))

    def _value_typed(self, name: str, value: float) -> None:
        self._place_slider(self.rows[name], value)
        self.parameterChanged.emit(name, float(value))

    def _range_edited(self, name: str) -> None:
        row = self.rows[name]
        lo, hi = row.min_box.value(), row.max_box.value()
        if not lo < hi:
            self._problems[name] = (f"{name}: the smallest value must be below the largest "
                                    f"(now {format_number(lo)} to {format_number(hi)})")
            self._show_problems()
            return
        self._problems.pop(name, None)
        self._show_problems()
        before = row.value_box.value()
        self._apply_range(name, lo, hi)
        value = min(max(before, lo), hi)
        with QSignalBlocker(row.value_box):
            row.value_box.setValue(value)
        self._place_slider(row, value)
        self.rangeChanged.emit(name, float(lo), float(hi))
        if value != before:  # the new range moved the value in: say so
            self.parameterChanged.emit(name, float(value))
