"""The curve view for one-variable functions: f, f' (and f''), the selected point and its tangent."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtWidgets

from .common import SELECTED_COLOR, ContextMenu, critical_spots, plain_axes, run_color


class CurveView(ContextMenu, pg.PlotWidget):
    pointPicked = QtCore.pyqtSignal(float, float)
    hovered = QtCore.pyqtSignal(float, float)
    startPicked = QtCore.pyqtSignal(float)  # Shift+click, or a click in "set start" mode: descent's start x
    viewRangeChanged = QtCore.pyqtSignal(object)  # ((x0, x1), (y0, y1)) shown now
    exportRequested = QtCore.pyqtSignal(str)      # "curve": File > Export for this view
    VIEW, VIEW_TITLE = "curve", "curve"

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent, background="w")
        self.plot = self.getPlotItem()
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        plain_axes(self.plot)
        self.plot.setMenuEnabled(False)  # calcviz's own menu instead (see context_menu)
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setPen("k")
            self.plot.getAxis(side).setTextPen("k")
        self.plot.addLegend(offset=(10, 10), labelTextColor="k")
        self.f = self.plot.plot(pen=pg.mkPen("#1f77b4", width=2.5), name="f")
        self.d1 = self.plot.plot(pen=pg.mkPen("#2ca02c", width=1.8, style=QtCore.Qt.PenStyle.DashLine), name="f′")
        self.d2 = self.plot.plot(pen=pg.mkPen("#9467bd", width=1.5, style=QtCore.Qt.PenStyle.DotLine), name="f″")
        self.tangent = self.plot.plot(pen=pg.mkPen(SELECTED_COLOR, width=1.8))
        self.quadratic = self.plot.plot(pen=pg.mkPen("#9467bd", width=1.8, style=QtCore.Qt.PenStyle.DashDotLine))
        self.critical = pg.ScatterPlotItem(pxMode=True)
        self.marker = pg.ScatterPlotItem(size=11, brush=pg.mkBrush(SELECTED_COLOR), pen=pg.mkPen("w", width=1.5))
        self.plot.addItem(self.critical)
        self.plot.addItem(self.marker)
        self.d2.setVisible(False)
        self._range = (0.0, 1.0)
        self._start_mode = False
        self._paths: dict[str, pg.PlotDataItem] = {}
        self.scene().sigMouseClicked.connect(self._clicked)
        self.scene().sigMouseMoved.connect(self._moved)
        self.plot.vb.sigRangeChanged.connect(
            lambda *_: self.viewRangeChanged.emit(tuple(map(tuple, self.plot.vb.viewRange()))))

    def _data_pos(self, scene_pos):
        if not self.plot.vb.sceneBoundingRect().contains(scene_pos):
            return None
        return self.plot.vb.mapSceneToView(scene_pos)

    def _clicked(self, event) -> None:
        p = self._data_pos(event.scenePos())
        if event.button() == QtCore.Qt.MouseButton.LeftButton and p is not None and \
                self._range[0] <= p.x() <= self._range[1]:
            if self._start_mode or event.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier:
                self.startPicked.emit(p.x())
            else:
                self.pointPicked.emit(p.x(), p.y())

    def contextMenuEvent(self, event) -> None:  # noqa: N802 - Qt override
        p = self._data_pos(self.mapToScene(event.pos()))
        inside = p is not None and self._range[0] <= p.x() <= self._range[1]
        self.context_menu((p.x(), p.y()) if inside else None).exec(event.globalPos())

    def actions_at(self, at) -> list:
        if at is None:
            return []
        x, y = at
        return [("Select this point", lambda: self.pointPicked.emit(x, y)),
                ("Start gradient descent here", lambda: self.startPicked.emit(x))]

    def set_start_mode(self, on: bool) -> None:
        self._start_mode = bool(on)

    def set_paths(self, paths: list[dict]) -> None:
        """Descent paths on the curve: [{"label", "optimizer", "x", "y"}] (y = f at each step)."""
        wanted = {p["label"] for p in paths}
        for label in list(self._paths):
            if label not in wanted:
                self.plot.removeItem(self._paths.pop(label))
        for p in paths:
            if p["label"] not in self._paths:
                color = run_color(p)
                item = pg.PlotDataItem(pen=pg.mkPen(color, width=1.5), symbol="o", symbolSize=7,
                                       symbolBrush=pg.mkBrush(color), symbolPen=pg.mkPen("w", width=0.8),
                                       name=p["label"])
                item.setZValue(5)
                self.plot.addItem(item)
                self._paths[p["label"]] = item
            x, y = np.asarray(p["x"], float), np.asarray(p["y"], float)
            keep = np.isfinite(x) & np.isfinite(y)
            self._paths[p["label"]].setData(x[keep], y[keep])

    def path_data(self, label: str):
        return self._paths[label].getData()

    def _moved(self, scene_pos) -> None:
        p = self._data_pos(scene_pos)
        if p is not None:
            self.hovered.emit(p.x(), p.y())

    def set_curve(self, xs, f, d1, d2, name: str = "x") -> None:
        self._range = (float(xs[0]), float(xs[-1]))
        self.f.setData(xs, f, connect="finite")
        self.d1.setData(xs, d1, connect="finite")
        self.d2.setData(xs, d2, connect="finite")
        self.plot.setLabel("bottom", name, color="k")

    def set_second_derivative_visible(self, visible: bool) -> None:
        self.d2.setVisible(visible)

    def set_point(self, x: float, value: float, slope: float) -> None:
        """The selected point and its tangent line across a fifth of the range."""
        self.marker.setData([x], [value])
        half = (self._range[1] - self._range[0]) / 10
        if np.isfinite(value) and np.isfinite(slope):
            self.tangent.setData([x - half, x + half], [value - slope * half, value + slope * half])
        else:
            self.tangent.setData([], [])

    def set_quadratic(self, xs, values) -> None:
        """The quadratic (second-order Taylor) model near the selected point; empty to hide."""
        self.quadratic.setData(xs, values)

    def set_critical_points(self, points: list[dict], axes=("x",)) -> None:
        """Critical points (Engine.find_critical_points' entries) on the curve, marked by type."""
        self.critical.setData(spots=[{"pos": s["pos"], "symbol": s["symbol"], "size": s["size"],
                                      "brush": pg.mkBrush(s["color"]), "pen": pg.mkPen("w", width=1.2)}
                                     for s in critical_spots(points, axes)])

    def clear_point(self) -> None:
        self.marker.setData([], [])
        self.tangent.setData([], [])
        self.quadratic.setData([], [])
