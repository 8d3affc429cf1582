"""Local models at the selected point: the eps comparison, errors against distance, the Newton step."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from .common import format_number, format_vector, plain_axes

LINEAR_COLOR = "#ff7f0e"
QUADRATIC_COLOR = "#9467bd"


class ApproximationPanel(QtWidgets.QWidget):
    epsChanged = QtCore.pyqtSignal(object)  # tuple of displacements, one per axis

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.placeholder = QtWidgets.QLabel("Click the contour map to pick a point.", self)
        layout.addWidget(self.placeholder)

        eps_row = QtWidgets.QHBoxLayout()
        eps_row.addWidget(QtWidgets.QLabel("ε =", self))
        self.eps_boxes = []
        for default in (0.01, -0.03):
            box = QtWidgets.QDoubleSpinBox(self)
            box.setDecimals(6)
            box.setRange(-1e6, 1e6)
            box.setSingleStep(0.01)
            box.setValue(default)
            box.setToolTip("The displacement from the selected point at which the models are compared")
            box.setMinimumWidth(70)  # a narrow side column still shows both
            box.editingFinished.connect(self._eps_edited)
            eps_row.addWidget(box)
            self.eps_boxes.append(box)
        eps_row.addStretch(1)
        layout.addLayout(eps_row)

        self.table = QtWidgets.QTableWidget(3, 2, self)
        self.table.setHorizontalHeaderLabels(["f(p + ε)", "error"])
        self.table.setVerticalHeaderLabels(["true", "tangent plane", "quadratic model"])
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMaximumHeight(115)
        layout.addWidget(self.table)

        self.plot = pg.PlotWidget(self, background="w")
        self.plot.getPlotItem().setMenuEnabled(False)  # its axes and mouse modes are not the user's business
        self.plot.setMinimumHeight(170)
        self.plot.setLogMode(x=True, y=True)
        plain_axes(self.plot.getPlotItem())
        self.plot.setLabel("bottom", "distance t along v", color="k")
        self.plot.setLabel("left", "|error|", color="k")
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setPen("k")
            self.plot.getAxis(side).setTextPen("k")
        self.legend = self.plot.addLegend(offset=(6, 6), labelTextColor="k")
        self.linear_curve = self.plot.plot(pen=pg.mkPen(LINEAR_COLOR, width=2), symbol="o", symbolSize=4,
                                           symbolBrush=LINEAR_COLOR, name="tangent plane")
        self.quadratic_curve = self.plot.plot(pen=pg.mkPen(QUADRATIC_COLOR, width=2), symbol="o", symbolSize=4,
                                              symbolBrush=QUADRATIC_COLOR, name="quadratic model")
        layout.addWidget(self.plot, 1)
        self.slopes = QtWidgets.QLabel(self)
        self.newton = QtWidgets.QLabel(self)
        self.learning_rate = QtWidgets.QLabel(self)
        for label in (self.slopes, self.newton, self.learning_rate):
            label.setWordWrap(True)
            label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(label)
        self._details = [self.table, self.plot, self.slopes, self.newton, self.learning_rate]
        self.set_result(None)

    def eps(self) -> tuple[float, ...]:
        return tuple(box.value() for box in self.eps_boxes if box.isVisible() or box is self.eps_boxes[0])

    def set_eps(self, eps) -> None:
        """Show the displacement(s) without emitting."""
        for box, value in zip(self.eps_boxes, eps):
            with QtCore.QSignalBlocker(box):
                box.setValue(float(value))

    def set_dimension(self, count: int) -> None:
        self.eps_boxes[1].setVisible(count >= 2)

    def _eps_edited(self) -> None:
        self.epsChanged.emit(self.eps())

    def set_result(self, result: dict | None) -> None:
        """Show the engine's approximation result; None clears the panel."""
        self.placeholder.setVisible(result is None)
        for widget in self._details:
            widget.setVisible(result is not None)
        if result is None:
            return
        rows = [(result["true"], None), (result["linear"], result["linear_error"]),
                (result["quadratic"], result["quadratic_error"])]
        for r, (value, error) in enumerate(rows):
            self.table.setItem(r, 0, QtWidgets.QTableWidgetItem(format_number(value, 10)))
            self.table.setItem(r, 1, QtWidgets.QTableWidgetItem("" if error is None else format_number(error, 3)))
        errors = result["errors"]
        t = np.asarray(errors["t"], dtype=float)
        for curve, key in ((self.linear_curve, "linear"), (self.quadratic_curve, "quadratic")):
            e = np.asarray(errors[key], dtype=float)
            keep = e > 0  # a log axis cannot show exact zeros
            curve.setData(t[keep], e[keep])
        slope_l, slope_q = errors.get("slope_linear"), errors.get("slope_quadratic")
        self.slopes.setText(
            f"Measured slopes: tangent plane {format_number(slope_l, 3)} (expect 2), "
            f"quadratic model {format_number(slope_q, 3)} (expect 3) — along v = "
            f"{format_vector(errors.get('direction', ()))}")
        step = result.get("newton_step")
        if step is None:
            self.newton.setText("Newton step: none (the Hessian is not positive definite here).")
        else:
            self.newton.setText(f"Newton step −H⁻¹∇f = {format_vector(list(step.values()))}, "
                                f"to {format_vector(list(result['newton_point'].values()))}")
        rate = result.get("stable_learning_rate")
        self.learning_rate.setText("Largest stable gradient-descent learning rate near here: "
                                   + (f"2/λmax = {format_number(rate)}" if rate is not None
                                      else "none (H is not positive definite)"))
