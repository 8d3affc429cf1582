"""Loss curves: f and |∇f| against the step for every descent run, one colour per run.

Two stacked plots share the step axis. |∇f| is on a log axis by default; f can be (``set_value_log``,
or "Logarithmic f axis" in the plot's context menu). A log axis cannot show f ≤ 0, so then every
run's f − min f (over all runs shown, plus a tiny floor) is drawn instead, and the axis says so.
Non-finite points (a diverged run's last ones) are dropped.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QAction, QFontMetrics
from PyQt6.QtWidgets import QSizePolicy, QWidget

from .common import ContextMenu, StepAxis, TidyAxis, plain_axes, run_color

LOG_FLOOR = 1e-12  # f − min f + LOG_FLOOR · (the spread of f): the minimum itself stays on a log axis
VALUE_LABEL = "f"
SHIFTED_LABEL = "f − min f (f is not all positive)"


class LossPlot(ContextMenu, pg.GraphicsLayoutWidget):
    exportRequested = pyqtSignal(str)  # "loss": File > Export for this view
    VIEW, VIEW_TITLE = "loss", "plot"

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        del self.clear  # GraphicsLayoutWidget binds its layout's clear() here; ours removes the runs
        self.setBackground("w")
        self._length: int | None = None   # the race's length, when known (see set_steps)
        self._x_max: int | None = None
        self.value_plot = self.addPlot(row=0, col=0, axisItems={"bottom": StepAxis("bottom"), "left": TidyAxis("left")})
        self.grad_plot = self.addPlot(row=1, col=0, axisItems={"bottom": StepAxis("bottom"), "left": TidyAxis("left")})
        self.grad_plot.setXLink(self.value_plot)
        for plot in (self.value_plot, self.grad_plot):
            plain_axes(plot)
            plot.showGrid(x=True, y=True, alpha=0.25)
            for side in ("left", "bottom"):
                plot.getAxis(side).setPen("k")
                plot.getAxis(side).setTextPen("k")
        self._value_label = VALUE_LABEL
        self.value_plot.setLabel("left", VALUE_LABEL, color="k")
        self.grad_plot.setLabel("left", "|∇f|", color="k")
        self.grad_plot.setLabel("bottom", "step", color="k")
        # Beside the plots, not over the curves: every run listed, whole.
        self.legend = pg.LegendItem(labelTextColor="k")
        self.legend.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)  # rows close together
        self.addItem(self.legend, row=0, col=1)
        self.grad_plot.setLogMode(y=True)

        self.value_log_action = QAction("Logarithmic f axis", self)
        self.value_log_action.setCheckable(True)
        self.value_log_action.toggled.connect(self.set_value_log)
        for plot in (self.value_plot, self.grad_plot):
            plot.setMenuEnabled(False)  # calcviz's own menu instead (see context_menu)
        # pyqtgraph's own "Log Y" (Plot Options) must shift the data too: follow its check box.
        self.value_plot.ctrl.logYCheck.toggled.connect(self._value_log_changed)
        self.grad_plot.ctrl.logYCheck.toggled.connect(self._redraw)

        self._curves: dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem]] = {}
        self._colors: dict[str, str] = {}
        self._runs: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]] = []

    def contextMenuEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.context_menu().exec(event.globalPos())

    def actions_at(self, at) -> list:
        return []

    def context_menu(self, at=None):
        menu = super().context_menu(at)
        menu.insertAction(menu.actions()[0] if menu.actions() else None, self.value_log_action)
        return menu

    # --- public interface ------------------------------------------------------------------------
    def set_runs(self, runs: Sequence[Mapping]) -> None:
        """Draw {"label", "optimizer" (or "color"), "steps", "values", "grad_norms"} per run; curves are kept
        per label, in the optimizer's colour."""
        labels = [run["label"] for run in runs]
        for label in [k for k in self._curves if k not in labels]:
            self._remove(label)
        self._runs = []
        for run in runs:
            label, color = run["label"], run_color(run)
            if label not in self._curves:
                self._curves[label] = (self._curve(self.value_plot, color, label), self._curve(self.grad_plot, color))
            elif self._colors[label] != color:
                for item in self._curves[label]:
                    item.setPen(pg.mkPen(color, width=2))
            self._colors[label] = color
            self._runs.append((label, np.asarray(run["steps"], float), np.asarray(run["values"], float),
                               np.asarray(run["grad_norms"], float)))
        self._redraw()

    def set_steps(self, length: int | None) -> None:
        """The race's whole length (known before it is shown): the step axis then grows in doublings up
        to it instead of following every frame (a re-laid-out axis cost ~13 ms a frame); None: autorange."""
        self._length = length
        self._x_max = None
        if not length:
            self.value_plot.enableAutoRange(axis="x")

    def _fit_steps(self) -> None:
        if not self._length:
            return
        last = max((steps[-1] for _, steps, _, _ in self._runs if len(steps)), default=0)
        x_max = min(self._length, max(16, 2 ** int(np.ceil(np.log2(last + 1)))))
        if x_max != self._x_max:
            self._x_max = x_max
            self.value_plot.setXRange(0, x_max, padding=0.02)

    def clear(self) -> None:
        for label in list(self._curves):
            self._remove(label)
        self._runs = []
        self._set_value_label(VALUE_LABEL)

    def curves(self) -> dict[str, tuple[pg.PlotDataItem, pg.PlotDataItem]]:
        return dict(self._curves)

    def hold_axes(self, hold: bool) -> None:
        """While a race animates the value axes keep their width, with room for four more digits: a tick
        label of another width re-laid out both plots in the middle of a paint, which stalled the event
        loop 20-30 ms a few times a second. Released, they fit their labels again."""
        room = QFontMetrics(self.font()).horizontalAdvance("0000")
        for plot in (self.value_plot, self.grad_plot):
            axis = plot.getAxis("left")
            if hold != (axis.fixedWidth is not None):  # (held already: not wider again)
                axis.setWidth(round(axis.width()) + room if hold else None)

    def set_value_log(self, on: bool) -> None:
        self.value_plot.setLogMode(y=bool(on))  # its check box's signal redraws

    def value_log(self) -> bool:
        return self.value_plot.ctrl.logYCheck.isChecked()

    def value_axis_label(self) -> str:
        return self._value_label

    # --- internals ---------------------------------------------------------------------------------
    def _curve(self, plot: pg.PlotItem, color: str, name: str | None = None) -> pg.PlotDataItem:
        item = plot.plot(pen=pg.mkPen(color, width=2))
        if name is not None:
            self.legend.addItem(item, name)
        # Cheap per frame: the data arrive finite, and long runs are drawn decimated to the view.
        item.setSkipFiniteCheck(True)
        item.setDownsampling(auto=True, method="peak")
        item.setClipToView(True)
        return item

    def _remove(self, label: str) -> None:
        value_item, grad_item = self._curves.pop(label)
        self._colors.pop(label, None)
        self.legend.removeItem(value_item)
        self.value_plot.removeItem(value_item)
        self.grad_plot.removeItem(grad_item)

    def _value_log_changed(self, on: bool) -> None:
        if self.value_log_action.isChecked() != on:
            self.value_log_action.blockSignals(True)
            self.value_log_action.setChecked(on)
            self.value_log_action.blockSignals(False)
        self._redraw()

    def _shift(self) -> float | None:
        """What to subtract from f on a log axis (None: f is all positive, or no log axis)."""
        if not self.value_log():
            return None
        finite = [v[np.isfinite(v)] for _, _, v, _ in self._runs]
        values = np.concatenate(finite) if finite else np.empty(0)
        if values.size == 0 or values.min() > 0:
            return None
        low = values.min()
        spread = max(values.max() - low, abs(low)) or 1.0
        return low - LOG_FLOOR * spread

    def _redraw(self, *_) -> None:
        self._fit_steps()
        shift = self._shift()
        grad_log = self.grad_plot.ctrl.logYCheck.isChecked()
        for label, steps, values, grads in self._runs:
            value_item, grad_item = self._curves[label]
            y = values if shift is None else values - shift
            keep = np.isfinite(steps) & np.isfinite(y)
            if self.value_log():
                keep &= y > 0
            value_item.setData(steps[keep], y[keep])
            keep = np.isfinite(steps) & np.isfinite(grads)
            if grad_log:
                keep &= grads > 0
            grad_item.setData(steps[keep], grads[keep])
        self._set_value_label(VALUE_LABEL if shift is None else SHIFTED_LABEL)

    def _set_value_label(self, text: str) -> None:
        if text != self._value_label:  # relabelling re-lays out the axis: only on change
            self._value_label = text
            self.value_plot.setLabel("left", text, color="k")
