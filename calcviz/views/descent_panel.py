"""The gradient-descent panel: optimizers and their settings, the start point, the controls, the runs.

A view only: it emits what the user asks for (``stepRequested``, ``runToggled``, ``setupChanged``,
``startTyped``, ...) and shows what ``set_*`` gives it without emitting. ``setup()`` is the keyword
shape ``Engine.descend`` takes: hyperparameters per optimizer, the schedule as a dict with "name".
Typed numbers are checked with :mod:`calcviz.models.descent`'s own checks (pure numpy), so the
panel refuses exactly what the engine would, with the engine's wording.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Callable, Mapping, Sequence

from PyQt6.QtCore import QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont
from PyQt6.QtWidgets import (
    QAbstractItemView, QCheckBox, QComboBox, QFormLayout, QFrame, QGridLayout, QGroupBox, QHBoxLayout,
    QLabel, QLineEdit, QPushButton, QScrollArea, QSlider, QSpinBox, QSplitter, QTableWidget,
    QTableWidgetItem, QVBoxLayout, QWidget,
)
from superqt import QLabeledSlider

from ..models import descent
from ..models.race import MAX_SPEED, WINDOW_MAX_STEPS
from .common import ERROR_STYLE, OPTIMIZER_COLORS, format_number, swatch

OPTIMIZER_LABELS = descent.OPTIMIZER_LABELS
CHECK_LABELS = {"gd": "GD (plain)"}  # the check boxes sit two to a row in a narrow column
HYPERPARAMETER_LABELS = {
    "momentum": "momentum μ", "initial_accumulator_value": "initial accumulator", "epsilon": "ε",
    "rho": "ρ", "beta_1": "β₁", "beta_2": "β₂", "damping": "damping",
}
SCHEDULE_LABELS = {"constant": "constant", "exponential": "exponential decay", "cosine": "cosine decay"}
START_MODES = {"shared": "one start for all", "each": "one start each"}
STATUS_TEXT = {"running": "running…", "converged": "✓ converged", "max_steps": "max steps", "diverged": "⚠ diverged"}
COLUMNS = ("run", "steps", "f", "|∇f|", "status", "reached")

DEFAULT_LR = 0.01
LR_RANGE = (1e-5, 10.0)      # the slider's range; a typed rate beyond it widens the slider
LR_STEPS_PER_DECADE = 10     # slider positions are 10^(k/10), shown to 2 digits: 1, 1.3, 1.6, 2, 2.5, ...
DEFAULT_TOL = 1e-6
DEFAULT_SPEED = 20
DEFAULT_MAX_STEPS = 1000
CONVERGED_TINT = "#e3f2e1"
CONVERGED_INK = "#1b5e20"
DIVERGED_COLOR = "#c62828"


def lr_at(position: int) -> float:
    """The learning rate at a slider position: 10^(position/10) to two significant digits."""
    return float(f"{10.0 ** (position / LR_STEPS_PER_DECADE):.2g}")


def lr_position(lr: float) -> int:
    return round(math.log10(lr) * LR_STEPS_PER_DECADE)


class NumberField(QLineEdit):
    """A typed number, committed on Enter or focus-out.

    ``check(value)`` returns why a value is refused (or None). A refused or non-numeric entry puts
    the previous value back and emits ``refused(reason)``; an accepted new value emits ``committed``.
    An empty field (value None) is allowed until the user types into it.
    """

    committed = pyqtSignal(float)
    refused = pyqtSignal(str)

    def __init__(self, parent: QWidget, value: float | None, what: str,
                 check: Callable[[float], str | None] | None = None):
        super().__init__(parent)
        self._what = what
        self._check = check
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.set_value(value)
        self.editingFinished.connect(self._commit)

    def value(self) -> float | None:
        return self._value

    def set_value(self, value: float | None) -> None:
        """Show ``value`` without emitting."""
        self._value = None if value is None else float(value)
        self._shown = "" if value is None else format_number(value)
        self.setText(self._shown)

    def _commit(self) -> None:
        text = self.text().strip()
        if text == self._shown:  # unchanged (also a focus-out after Enter, or a shown rounding)
            return
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        problem = (f"{self._what} must be a number (got '{text}')" if not math.isfinite(value)
                   else self._check(value) if self._check else None)
        if problem:
            self.setText(self._shown)
            kept = f"; kept {self._shown}" if self._shown else ""
            self.refused.emit(problem + kept)
            return
        self.set_value(value)
        self.committed.emit(value)


def _hyperparameter_check(optimizer: str, key: str) -> Callable[[float], str | None]:
    def check(value: float) -> str | None:
        try:
            descent.hyperparameters_for(optimizer, {optimizer: {key: value}})
        except descent.DescentError as exc:
            return f"{OPTIMIZER_LABELS[optimizer]}: {exc}"
        return None
    return check


def _schedule_check(name: str, key: str) -> Callable[[float], str | None]:
    def check(value: float) -> str | None:
        try:
            descent.check_schedule({"name": name, key: value}, 1)
        except descent.DescentError as exc:
            return f"The schedule's {exc}"
        return None
    return check


class DescentPanel(QWidget):
    """Set up and drive gradient-descent runs; a table of the runs below the controls."""

    stepRequested = pyqtSignal()
    runToggled = pyqtSignal(bool)
    resetRequested = pyqtSignal()
    setStartToggled = pyqtSignal(bool)
    setupChanged = pyqtSignal(object)   # setup()
    startTyped = pyqtSignal(object)     # list of {variable: value}, one per start
    runChosen = pyqtSignal(int)         # the clicked table row (the run's index in set_runs)
    startTargetChanged = pyqtSignal(object)  # the optimizer whose start a click sets (None: every run's)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._quiet = False            # True while set_* copies values in: nothing is emitted
        self._input_error = False      # the message shows a refused entry (cleared by the next good one)
        self._variables: list[str] = []
        self._shared_start: dict[str, float] = {}
        self._each_start: dict[str, dict[str, float]] = {}
        self._row_items: list[list[QTableWidgetItem]] = []
        self._row_style: list[tuple] = []
        self._widest = [0] * len(COLUMNS)  # longest text seen per column

        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        # The settings scroll above, the controls and the runs below; the user drags the split.
        splitter = QSplitter(Qt.Orientation.Vertical, self)
        splitter.setChildrenCollapsible(False)
        outer.addWidget(splitter)
        scroll = QScrollArea(splitter)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        body = QWidget(scroll)
        scroll.setWidget(body)
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_optimizers(body))
        layout.addWidget(self._build_settings(body))
        layout.addWidget(self._build_hyperparameters(body))
        layout.addWidget(self._build_start(body))
        layout.addStretch(1)

        bottom = QWidget(splitter)
        below = QVBoxLayout(bottom)
        below.setContentsMargins(0, 0, 0, 0)
        buttons = QHBoxLayout()
        self.step_button = QPushButton("Step", bottom)
        self.step_button.setToolTip("Take one click's worth of steps (Space)")
        self.run_button = QPushButton("Run", bottom)
        self.run_button.setCheckable(True)
        self.run_button.setToolTip("Run or pause the animation (Ctrl+R)")
        self.reset_button = QPushButton("Reset", bottom)
        self.reset_button.setToolTip("Put every run back at its start")
        for button in (self.step_button, self.run_button, self.reset_button):
            button.setMinimumWidth(40)  # the style's 80 px each would widen a narrow side column
            buttons.addWidget(button)
        below.addLayout(buttons)
        self.message = QLabel(bottom)
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message.hide()
        below.addWidget(self.message)

        self.table = QTableWidget(0, len(COLUMNS), bottom)
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setToolTip("Click a run to follow it")
        below.addWidget(self.table, 1)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)

        self.step_button.clicked.connect(self.stepRequested)
        self.run_button.toggled.connect(self._run_toggled)
        self.reset_button.clicked.connect(self.resetRequested)
        self.set_start_button.toggled.connect(self.setStartToggled)
        self.table.cellClicked.connect(lambda row, _col: self.runChosen.emit(row))
        self._update_visibility()

    # --- building ----------------------------------------------------------------------------------
    def _build_optimizers(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox("Optimizers", parent)
        grid = QGridLayout(box)
        grid.setHorizontalSpacing(4)
        self.optimizer_checks: dict[str, QCheckBox] = {}
        for i, name in enumerate(descent.OPTIMIZERS):
            check = QCheckBox(CHECK_LABELS.get(name, OPTIMIZER_LABELS[name]), box)
            check.setToolTip(f"<b>{OPTIMIZER_LABELS[name]}</b><br>{descent.OPTIMIZER_FORMS[name]}")
            # the run's colour in the label itself: an icon would cost the narrow column 16 px a box
            check.setStyleSheet(f"QCheckBox {{ color: {OPTIMIZER_COLORS[name]}; font-weight: bold; }}")
            check.setChecked(name == "gd")
            check.toggled.connect(lambda on, n=name: self._optimizer_toggled(n, on))
            grid.addWidget(check, i // 2, i % 2)
            self.optimizer_checks[name] = check
        return box

    def _build_settings(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox("Settings", parent)
        self.settings_form = form = QFormLayout(box)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)  # a narrow column puts fields under labels
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)

        lr_row = QWidget(box)
        lr_layout = QHBoxLayout(lr_row)
        lr_layout.setContentsMargins(0, 0, 0, 0)
        self.lr_slider = QSlider(Qt.Orientation.Horizontal, lr_row)
        self.lr_slider.setRange(lr_position(LR_RANGE[0]), lr_position(LR_RANGE[1]))
        self.lr_slider.setPageStep(LR_STEPS_PER_DECADE)
        self.lr_slider.setTracking(False)  # a drag commits once, on release; the box follows live
        self.lr_slider.setValue(lr_position(DEFAULT_LR))
        self.lr_slider.setToolTip("Learning rate, one decade per ten steps")
        self.lr_box = NumberField(lr_row, DEFAULT_LR, "the learning rate",
                                  lambda v: None if v > 0 else f"the learning rate must be positive (got {v:g})")
        self.lr_box.setMinimumWidth(58)
        self.lr_box.setMaximumWidth(80)
        self.lr_slider.setMinimumWidth(50)
        self.lr_box.setToolTip("Learning rate (type any positive number, Enter to apply)")
        lr_layout.addWidget(self.lr_slider, 1)
        lr_layout.addWidget(self.lr_box)
        form.addRow("learning rate", lr_row)

        self.schedule_combo = QComboBox(box)
        for name in descent.SCHEDULES:
            self.schedule_combo.addItem(SCHEDULE_LABELS.get(name, name), name)
        self.schedule_combo.setToolTip("How the learning rate changes with the step")
        form.addRow("schedule", self.schedule_combo)
        self.decay_steps_spin = QSpinBox(box)
        self.decay_steps_spin.setRange(1, descent.MAX_STEPS)
        self.decay_steps_spin.setValue(DEFAULT_MAX_STEPS)
        self.decay_steps_spin.setKeyboardTracking(False)
        self.decay_steps_spin.setToolTip("Steps over which the learning rate decays")
        form.addRow("decay steps", self.decay_steps_spin)
        self.decay_rate_box = NumberField(box, descent.DEFAULT_DECAY_RATE, "decay_rate",
                                          _schedule_check("exponential", "decay_rate"))
        self.decay_rate_box.setToolTip("The rate is multiplied by this over each decay_steps steps")
        form.addRow("decay rate", self.decay_rate_box)
        self.alpha_box = NumberField(box, 0.0, "alpha", _schedule_check("cosine", "alpha"))
        self.alpha_box.setToolTip("The fraction of the learning rate left at the end of the decay (0 to 1)")
        form.addRow("final fraction α", self.alpha_box)

        self.steps_per_click_spin = QSpinBox(box)
        self.steps_per_click_spin.setRange(1, descent.MAX_STEPS)
        self.steps_per_click_spin.setValue(1)
        self.steps_per_click_spin.setKeyboardTracking(False)
        self.steps_per_click_spin.setToolTip("Steps taken by one press of Step")
        form.addRow("steps per click", self.steps_per_click_spin)
        self.max_steps_spin = QSpinBox(box)
        self.max_steps_spin.setRange(1, WINDOW_MAX_STEPS)
        self.max_steps_spin.setValue(DEFAULT_MAX_STEPS)
        self.max_steps_spin.setKeyboardTracking(False)
        self.max_steps_spin.setToolTip(f"A run stops after this many steps (at most {WINDOW_MAX_STEPS:,} here; "
                                       f"calcviz descend runs up to {descent.MAX_STEPS:,})")
        form.addRow("maximum steps", self.max_steps_spin)
        self.tol_box = NumberField(box, DEFAULT_TOL, "the tolerance",
                                   lambda v: None if v >= 0 else f"the tolerance must not be negative (got {v:g})")
        self.tol_box.setToolTip("A run has converged when |∇f| falls below this")
        form.addRow("tolerance |∇f| <", self.tol_box)
        self.speed_slider = QLabeledSlider(Qt.Orientation.Horizontal, box)
        self.speed_slider.setRange(1, MAX_SPEED)
        self.speed_slider.setValue(DEFAULT_SPEED)
        self.speed_slider.setToolTip("Animation speed while running, in steps per second")
        form.addRow("steps per second", self.speed_slider)

        self.lr_slider.sliderMoved.connect(lambda k: self.lr_box.setText(format_number(lr_at(k))))
        self.lr_slider.valueChanged.connect(self._lr_slid)
        self.lr_box.committed.connect(self._lr_typed)
        self.schedule_combo.currentIndexChanged.connect(self._schedule_changed)
        for spin in (self.decay_steps_spin, self.steps_per_click_spin, self.max_steps_spin):
            spin.valueChanged.connect(self._changed)
        self.speed_slider.valueChanged.connect(self._changed)
        for field in (self.decay_rate_box, self.alpha_box, self.tol_box):
            field.committed.connect(self._changed)
        for field in (self.lr_box, self.decay_rate_box, self.alpha_box, self.tol_box):
            field.refused.connect(self._refused)
        return box

    def _build_hyperparameters(self, parent: QWidget) -> QWidget:
        holder = QWidget(parent)
        layout = QVBoxLayout(holder)
        layout.setContentsMargins(0, 0, 0, 0)
        self.hyper_boxes: dict[str, QGroupBox] = {}
        self.hyper_fields: dict[str, dict[str, NumberField]] = {}
        for name in descent.OPTIMIZERS:
            self.hyper_fields[name] = {}
            if not descent.HYPERPARAMETERS[name]:
                continue
            box = QGroupBox(OPTIMIZER_LABELS[name], holder)
            form = QFormLayout(box)
            for key, default in descent.HYPERPARAMETERS[name].items():
                field = NumberField(box, default, key, _hyperparameter_check(name, key))
                field.setToolTip(f"{OPTIMIZER_LABELS[name]}'s {key} (default {format_number(default)})")
                field.committed.connect(self._changed)
                field.refused.connect(self._refused)
                form.addRow(HYPERPARAMETER_LABELS.get(key, key), field)
                self.hyper_fields[name][key] = field
            layout.addWidget(box)
            self.hyper_boxes[name] = box
        return holder

    def _build_start(self, parent: QWidget) -> QGroupBox:
        box = QGroupBox("Start", parent)
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.set_start_button = QPushButton("Set start", box)
        self.set_start_button.setCheckable(True)
        self.set_start_button.setToolTip("Then click the contour map to put the start there")
        self.start_mode_combo = QComboBox(box)
        for mode, label in START_MODES.items():
            self.start_mode_combo.addItem(label, mode)
        for combo in (self.start_mode_combo,):
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(6)  # a narrow side column shows "one start…"
        self.start_optimizer_combo = QComboBox(box)
        self.start_optimizer_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.start_optimizer_combo.setMinimumContentsLength(4)
        self.start_optimizer_combo.setToolTip("The optimizer whose start the fields below show")
        row.addWidget(self.set_start_button)
        row.addWidget(self.start_mode_combo)
        row.addWidget(self.start_optimizer_combo)
        row.addStretch(1)
        layout.addLayout(row)
        self.start_row = QWidget(box)
        self.start_grid = QGridLayout(self.start_row)
        self.start_grid.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.start_row)
        self.start_fields: dict[str, NumberField] = {}
        self.start_mode_combo.currentIndexChanged.connect(self._start_mode_changed)
        self.start_optimizer_combo.currentIndexChanged.connect(lambda _: self._target_changed())
        return box

    # --- public interface ------------------------------------------------------------------------
    def checked_optimizers(self) -> list[str]:
        return [n for n in descent.OPTIMIZERS if self.optimizer_checks[n].isChecked()]

    def setup(self) -> dict:
        """Everything set up here, as keywords for ``Engine.descend`` plus the panel's own settings."""
        checked = self.checked_optimizers()
        name = self.schedule_combo.currentData()
        schedule = {"name": name}
        if name == "exponential":
            schedule.update(decay_steps=self.decay_steps_spin.value(), decay_rate=self.decay_rate_box.value())
        elif name == "cosine":
            schedule.update(decay_steps=self.decay_steps_spin.value(), alpha=self.alpha_box.value())
        return {
            "optimizers": checked,
            "lr": self.lr_box.value(),
            "hyperparameters": {n: {k: f.value() for k, f in self.hyper_fields[n].items()} for n in checked},
            "schedule": schedule,
            "steps_per_click": self.steps_per_click_spin.value(),
            "max_steps": self.max_steps_spin.value(),
            "tol": self.tol_box.value(),
            "speed": float(self.speed_slider.value()),
            "start_mode": self.start_mode_combo.currentData(),
        }

    def set_setup(self, setup: Mapping) -> None:
        """Show a setup() (e.g. from a saved session) without emitting; missing keys stay as they are."""
        with self._silently():
            if "optimizers" in setup:
                names = set(setup["optimizers"]) or {"gd"}
                # check before unchecking: one optimizer must stay checked throughout
                for name in sorted(self.optimizer_checks, key=lambda n: n not in names):
                    self.optimizer_checks[name].setChecked(name in names)
            if "lr" in setup:
                self._lr_typed(float(setup["lr"]))
                self.lr_box.set_value(float(setup["lr"]))
            for name, values in setup.get("hyperparameters", {}).items():
                for key, value in values.items():
                    if key in self.hyper_fields.get(name, {}):
                        self.hyper_fields[name][key].set_value(float(value))
            schedule = setup.get("schedule")
            if schedule:
                schedule = {"name": schedule} if isinstance(schedule, str) else schedule
                self.schedule_combo.setCurrentIndex(max(0, self.schedule_combo.findData(schedule["name"])))
                if "decay_steps" in schedule:
                    self.decay_steps_spin.setValue(int(schedule["decay_steps"]))
                if "decay_rate" in schedule:
                    self.decay_rate_box.set_value(float(schedule["decay_rate"]))
                if "alpha" in schedule:
                    self.alpha_box.set_value(float(schedule["alpha"]))
            for key, spin in (("steps_per_click", self.steps_per_click_spin), ("max_steps", self.max_steps_spin)):
                if key in setup:
                    spin.setValue(int(setup[key]))
            if "tol" in setup:
                self.tol_box.set_value(float(setup["tol"]))
            if "speed" in setup:
                self.speed_slider.setValue(round(float(setup["speed"])))
            if "start_mode" in setup:
                self.start_mode_combo.setCurrentIndex(max(0, self.start_mode_combo.findData(setup["start_mode"])))

    def set_variables(self, names: Sequence[str]) -> None:
        """One start field per variable (starts typed for other variables are forgotten)."""
        names = list(names)
        if names == self._variables:
            return
        self._variables = names
        self._shared_start = {k: v for k, v in self._shared_start.items() if k in names}
        self._each_start = {o: {k: v for k, v in p.items() if k in names} for o, p in self._each_start.items()}
        for field in self.start_fields.values():
            field.deleteLater()
        while self.start_grid.count():
            item = self.start_grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.start_fields = {}
        for i, name in enumerate(names):
            field = NumberField(self.start_row, None, name)
            field.setPlaceholderText("type or click")
            field.setToolTip(f"The start's {name} (Enter to apply)")
            field.committed.connect(lambda value, n=name: self._start_typed(n, value))
            field.refused.connect(self._refused)
            self.start_grid.addWidget(QLabel(name, self.start_row), i // 2, 2 * (i % 2))
            self.start_grid.addWidget(field, i // 2, 2 * (i % 2) + 1)
            self.start_fields[name] = field
        self._show_start()

    def set_start(self, points: Sequence[Mapping[str, float]]) -> None:
        """Show start point(s) without emitting: one for all, or (one start each) one per checked optimizer."""
        points = [dict(p) for p in points]
        if not points:
            return
        checked = self.checked_optimizers()
        if self.start_mode_combo.currentData() == "each" and len(points) == len(checked) > 1:
            self._each_start.update(zip(checked, points))
        else:
            self._shared_start = points[0]
            self._each_start.clear()
        self._show_start()

    def starts(self) -> list[dict[str, float]]:
        """The start(s) the fields hold: a list of one, or one per checked optimizer."""
        if self.start_mode_combo.currentData() == "shared":
            return [dict(self._shared_start)]
        return [dict(self._each_start.get(n, self._shared_start)) for n in self.checked_optimizers()]

    def set_start_picking(self, on: bool) -> None:
        """Check or uncheck "Set start" without emitting (e.g. once the map took the click)."""
        with QSignalBlocker(self.set_start_button):
            self.set_start_button.setChecked(on)

    def set_running(self, running: bool) -> None:
        with QSignalBlocker(self.run_button):
            self.run_button.setChecked(running)
        self.run_button.setText("Pause" if running else "Run")

    def set_busy(self, busy: bool) -> None:
        """While the engine works on a step: no new Step (Run, Pause and Reset stay available)."""
        self.step_button.setEnabled(not busy)

    def set_message(self, text: str, error: bool = False) -> None:
        self._input_error = False
        self.message.setText(text)
        self.message.setStyleSheet(ERROR_STYLE if error else "")
        self.message.setVisible(bool(text))

    def message_text(self) -> str:
        return "" if self.message.isHidden() else self.message.text()

    def set_runs(self, rows: Sequence[Mapping]) -> None:
        """Show one row per run, updating the items in place (cheap enough for every animation frame)."""
        fit = len(rows) != self.table.rowCount()
        if fit:
            self.table.setRowCount(len(rows))
            del self._row_items[len(rows):], self._row_style[len(rows):]
            for r in range(len(self._row_items), len(rows)):
                items = [QTableWidgetItem() for _ in COLUMNS]
                for col in (1, 2, 3):
                    items[col].setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                for col, item in enumerate(items):
                    self.table.setItem(r, col, item)
                self._row_items.append(items)
                self._row_style.append(())
        for r, run in enumerate(rows):
            name, status = run["optimizer"], run.get("status", "running")
            texts = (run.get("label") or OPTIMIZER_LABELS.get(name, name), str(int(run.get("steps", 0))),
                     format_number(run.get("value")), format_number(run.get("grad_norm")),
                     STATUS_TEXT.get(status, status), run.get("reached") or "")
            items = self._row_items[r]
            for col, (item, text) in enumerate(zip(items, texts)):
                if item.text() != text:
                    item.setText(text)
                    if col == len(COLUMNS) - 1:
                        item.setToolTip(text)  # "reached" may be longer than its column shows
                    if len(text) > self._widest[col]:  # a longer text than any so far: refit
                        self._widest[col] = len(text)
                        fit = True
            style = (run.get("color") or OPTIMIZER_COLORS.get(name, "#000000"), status, run.get("message") or "")
            if style != self._row_style[r]:  # restyle only when the status changes, not per frame
                self._row_style[r] = style
                self._style_row(items, *style)
                fit = True
        if fit:  # fitting the columns measures every cell: on new rows and status changes only
            self.table.resizeColumnsToContents()

    def run_count(self) -> int:
        return self.table.rowCount()

    # --- internals ---------------------------------------------------------------------------------
    @contextmanager
    def _silently(self):
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False
            self._update_visibility()

    def _changed(self, *_) -> None:
        if self._input_error:
            self.set_message("")
        if not self._quiet:
            self.setupChanged.emit(self.setup())

    def _refused(self, reason: str) -> None:
        self.set_message(reason[:1].upper() + reason[1:], error=True)
        self._input_error = True

    def _style_row(self, items: list[QTableWidgetItem], color: str, status: str, message: str) -> None:
        items[0].setIcon(swatch(color))
        bold = QFont(self.table.font())
        bold.setBold(status == "converged")
        tint = QColor(CONVERGED_TINT) if status == "converged" else None
        # dark green ink on the tint stays readable under a dark palette too
        ink = QColor(DIVERGED_COLOR) if status == "diverged" else QColor(CONVERGED_INK) if tint is not None else None
        for item in items:
            item.setFont(bold)
            # None puts back the palette's colours
            item.setData(Qt.ItemDataRole.BackgroundRole, tint)
            item.setData(Qt.ItemDataRole.ForegroundRole, ink)
            item.setToolTip(message)

    def _optimizer_toggled(self, name: str, on: bool) -> None:
        if not on and not self.checked_optimizers():  # a run needs at least one optimizer
            with QSignalBlocker(self.optimizer_checks[name]):
                self.optimizer_checks[name].setChecked(True)
            self._refused("keep at least one optimizer checked")
            return
        self._update_visibility()
        self._changed()

    def _lr_slid(self, position: int) -> None:
        self.lr_box.set_value(lr_at(position))
        self._changed()

    def _lr_typed(self, lr: float) -> None:
        position = lr_position(lr)
        with QSignalBlocker(self.lr_slider):  # a typed rate beyond the slider widens it
            self.lr_slider.setRange(min(self.lr_slider.minimum(), position), max(self.lr_slider.maximum(), position))
            self.lr_slider.setValue(position)
        self._changed()

    def _schedule_changed(self) -> None:
        self._update_visibility()
        self._changed()

    def _start_mode_changed(self) -> None:
        self._update_visibility()
        self._show_start()
        self._changed()
        self.startTargetChanged.emit(self.start_target())

    def _target_changed(self) -> None:
        self._show_start()
        self.startTargetChanged.emit(self.start_target())

    def _update_visibility(self) -> None:
        checked = self.checked_optimizers()
        for name, box in self.hyper_boxes.items():
            box.setVisible(name in checked)
        schedule = self.schedule_combo.currentData()
        self.settings_form.setRowVisible(self.decay_steps_spin, schedule != "constant")
        self.settings_form.setRowVisible(self.decay_rate_box, schedule == "exponential")
        self.settings_form.setRowVisible(self.alpha_box, schedule == "cosine")
        with QSignalBlocker(self.start_optimizer_combo):
            current = self.start_optimizer_combo.currentData()
            self.start_optimizer_combo.clear()
            for name in checked:
                self.start_optimizer_combo.addItem(swatch(OPTIMIZER_COLORS[name]), OPTIMIZER_LABELS[name], name)
            self.start_optimizer_combo.setCurrentIndex(max(0, self.start_optimizer_combo.findData(current)))
        self.start_optimizer_combo.setVisible(self.start_mode_combo.currentData() == "each")
        self._show_start()

    def start_target(self) -> str | None:
        """The optimizer whose start the fields edit (None: the shared start)."""
        if self.start_mode_combo.currentData() == "each":
            return self.start_optimizer_combo.currentData()
        return None

    def _show_start(self) -> None:
        target = self.start_target()
        point = self._each_start.get(target, self._shared_start) if target else self._shared_start
        for name, field in self.start_fields.items():
            field.set_value(point.get(name))

    def _start_typed(self, variable: str, value: float) -> None:
        target = self.start_target()
        if target is None:
            self._shared_start[variable] = value
        else:
            self._each_start[target] = {**self._each_start.get(target, self._shared_start), variable: value}
        if self._input_error:
            self.set_message("")
        starts = self.starts()
        missing = [v for v in self._variables if any(v not in p for p in starts)]
        if missing:
            self.set_message("Type the start's " + ", ".join(missing) + " too")
            self._input_error = True  # a hint, gone once the start is complete
            return
        self.startTyped.emit(starts)

    def _run_toggled(self, running: bool) -> None:
        self.run_button.setText("Pause" if running else "Run")
        self.runToggled.emit(running)
