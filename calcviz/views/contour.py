"""The contour map: a filled colour image of f, iso-lines, a colour bar, real axes, pan and zoom.

Emits where the user hovers and clicks (in data coordinates); draws what the controller hands it.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6 import QtCore, QtGui, QtWidgets

from .common import (BASIN_COLORS, DIVERGED_COLOR, OPTIMIZER_COLORS, SELECTED_COLOR, START_COLOR, UNCONVERGED_COLOR,
                     ContextMenu, clip_path, critical_spots, format_number, plain_axes, run_color)

COLORMAP = "viridis"
POINT_COLOR = SELECTED_COLOR
DIRECTION_COLOR = "#ff7f0e"


def _segments_xy(segments: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(K, 2, 2) segments -> x, y arrays for a PlotCurveItem with connect='pairs'."""
    flat = segments.reshape(-1, 2)
    return flat[:, 0], flat[:, 1]


def arrow_segments(x, y, dx, dy, head: float = 0.3) -> np.ndarray:
    """Shafts plus two head strokes per arrow, as (K, 2, 2) segments (drawing geometry only)."""
    x, y, dx, dy = (np.atleast_1d(np.asarray(v, dtype=float)) for v in (x, y, dx, dy))
    tip = np.stack([x + dx, y + dy], -1)
    base = np.stack([x, y], -1)
    back = (base - tip) * head
    side = np.stack([-dy, dx], -1) * head * 0.5
    return np.concatenate([np.stack([base, tip], 1), np.stack([tip, tip + back + side], 1),
                           np.stack([tip, tip + back - side], 1)])


class ContourView(ContextMenu, pg.GraphicsLayoutWidget):
    """Image + iso-lines + colour bar; selected point, gradient and direction arrows; gradient field."""

    hovered = QtCore.pyqtSignal(float, float)
    left = QtCore.pyqtSignal()
    pointPicked = QtCore.pyqtSignal(float, float)
    nudged = QtCore.pyqtSignal(int, int)  # arrow keys: move the selected point by steps of 1% of the box
    directionDragged = QtCore.pyqtSignal(float)  # degrees, from dragging the direction arrow's handle
    startPicked = QtCore.pyqtSignal(float, float)  # Shift+click, or a click in "set start" mode
    startDragged = QtCore.pyqtSignal(int, float, float)  # a start marker dragged: its index and new place
    viewRangeChanged = QtCore.pyqtSignal(object)  # ((x0, x1), (y0, y1)) shown now (after a pan, a zoom, a new box)
    boxRequested = QtCore.pyqtSignal(object, object)  # (x_range, y_range): the box the user panned or zoomed to
    exportRequested = QtCore.pyqtSignal(str)          # "contour": File > Export for this view
    VIEW, VIEW_TITLE = "contour", "map"

    BOX_DELAY_MS = 300  # a burst of wheel notches (or a drag) becomes one new box once it pauses

    _ARROWS = {QtCore.Qt.Key.Key_Left: (-1, 0), QtCore.Qt.Key.Key_Right: (1, 0),
               QtCore.Qt.Key.Key_Up: (0, 1), QtCore.Qt.Key.Key_Down: (0, -1)}

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setBackground("w")
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)
        self.setToolTip("Hover: f and its gradient. Click: select a point. Arrow keys: nudge it "
                        "(Shift: 10x). Wheel/drag: zoom and pan.")
        self.plot = self.addPlot()
        self.plot.setAspectLocked(False)
        self.plot.showGrid(x=False, y=False)
        plain_axes(self.plot)
        self.plot.setMenuEnabled(False)  # calcviz's own menu instead (see context_menu)
        self.plot.hideButtons()  # pyqtgraph's "A" (auto-range): the box is the range here
        for side in ("left", "bottom"):
            self.plot.getAxis(side).setPen("k")
            self.plot.getAxis(side).setTextPen("k")
        self.image = pg.ImageItem(axisOrder="col-major")
        self.plot.addItem(self.image)
        self.colorbar = pg.ColorBarItem(colorMap=pg.colormap.get(COLORMAP), interactive=False, width=16, pen="k")
        self.colorbar.setImageItem(self.image, insert_in=self.plot)
        self.colorbar.axis.setTextPen("k")
        self.colorbar.axis.enableAutoSIPrefix(False)
        pen = pg.mkPen((20, 20, 20, 170), width=1)
        self.isolines = pg.PlotCurveItem(pen=pen, connect="pairs", antialias=True)
        self.field = pg.PlotCurveItem(pen=pg.mkPen((255, 255, 255, 220), width=1.2), connect="pairs", antialias=True)
        self.gradient_arrow = pg.PlotCurveItem(pen=pg.mkPen(POINT_COLOR, width=2.5), connect="pairs", antialias=True)
        self.direction_arrow = pg.PlotCurveItem(pen=pg.mkPen(DIRECTION_COLOR, width=2.5, style=QtCore.Qt.PenStyle.DashLine),
                                                connect="pairs", antialias=True)
        self.marker = pg.ScatterPlotItem(size=11, brush=pg.mkBrush(POINT_COLOR), pen=pg.mkPen("w", width=1.5))
        self.critical = pg.ScatterPlotItem(pxMode=True)
        # The handle at the direction arrow's tip: drag it to turn the direction around the point.
        self.direction_handle = pg.TargetItem(size=13, symbol="o", pen=pg.mkPen(DIRECTION_COLOR, width=2),
                                              brush=pg.mkBrush(255, 255, 255, 200), movable=True)
        self.direction_handle.setToolTip("Drag to turn the direction of the directional derivative")
        self.direction_handle.sigPositionChanged.connect(self._handle_moved)
        for item in (self.isolines, self.field, self.critical, self.gradient_arrow, self.direction_arrow,
                     self.marker, self.direction_handle):
            self.plot.addItem(item)
        self.direction_handle.hide()
        self._point = None
        self.readout = pg.TextItem(color="k", fill=pg.mkBrush(255, 255, 255, 210), anchor=(0, 1))
        self.readout.setZValue(20)
        self.plot.addItem(self.readout, ignoreBounds=True)
        self.readout.hide()
        self.field.setVisible(False)
        self._box = None  # (x0, x1, y0, y1) of the grid on screen
        self._names = ("x", "y")
        # Descent: one line + step markers + arrow heads per run, draggable start markers, "explain" arrows.
        # The runs' legend goes under the map, never over its data, and only while runs are drawn.
        self.legend = pg.LegendItem(labelTextColor="k", colCount=2)
        self.legend.setVisible(False)
        self._paths: dict[str, tuple[pg.PlotDataItem, pg.PlotCurveItem]] = {}
        self._path_input: list[dict] = []  # as last given: drawn again, clipped anew, when the box changes
        self._starts: list[pg.TargetItem] = []
        self.explain_arrows: dict[str, pg.PlotCurveItem] = {}
        self.explain_labels: dict[str, pg.TextItem] = {}
        self.basins = pg.ImageItem(axisOrder="col-major")
        self.basins.setZValue(1)  # over the colour image, under the iso-lines
        self.basins.setVisible(False)
        self.plot.addItem(self.basins)
        self.error_map = pg.ImageItem(axisOrder="col-major")  # where derivatives a user wrote are wrong
        self.error_map.setZValue(2)
        self.error_map.setVisible(False)
        self.plot.addItem(self.error_map)
        self._start_mode = False
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        self.scene().sigMouseClicked.connect(self._mouse_clicked)
        self.plot.vb.sigRangeChanged.connect(lambda *_: self.viewRangeChanged.emit(self.view_box()))
        # Pan and zoom move the box itself: what the view does to its range is done to the box, and the
        # function is computed anew there (the picture never shrinks into white space).
        self._range = None           # the view's range before the user's last move
        self._asked = None           # the box the moves so far lead to
        self._box_timer = QtCore.QTimer(self)
        self._box_timer.setSingleShot(True)
        self._box_timer.setInterval(self.BOX_DELAY_MS)
        self._box_timer.timeout.connect(self._ask_box)
        self.plot.vb.sigRangeChangedManually.connect(self._user_moved)
        self.plot.vb.sigRangeChanged.connect(self._remember_range)

    # ------------------------------------------------------------------ input
    def keyPressEvent(self, event) -> None:
        step = self._ARROWS.get(QtCore.Qt.Key(event.key()))
        if step is None:
            super().keyPressEvent(event)
            return
        k = 10 if event.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier else 1
        self.nudged.emit(step[0] * k, step[1] * k)

    def _to_data(self, scene_pos) -> QtCore.QPointF | None:
        if not self.plot.vb.sceneBoundingRect().contains(scene_pos):
            return None
        return self.plot.vb.mapSceneToView(scene_pos)

    def _mouse_moved(self, scene_pos) -> None:
        p = self._to_data(scene_pos)
        if p is None:
            self.readout.hide()
            self.left.emit()
        else:
            self.hovered.emit(p.x(), p.y())

    def leaveEvent(self, event) -> None:
        """The mouse left the widget (no scene move comes then): the hover read-out goes with it."""
        self.readout.hide()
        self.left.emit()
        super().leaveEvent(event)

    def _mouse_clicked(self, event) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton or event.double():
            return
        p = self._to_data(event.scenePos())
        if p is not None and self._box is not None and not self._inside(p.x(), p.y()):
            # The margin the equal scales leave around the box: say why the click does nothing. (Shown once
            # the click's events are done: a tooltip hides at a mouse release, this one's included.)
            at, text = event.screenPos().toPoint(), self.outside_text()
            QtCore.QTimer.singleShot(0, lambda: QtWidgets.QToolTip.showText(at, text, self))
        elif p is not None and self._inside(p.x(), p.y()):
            self.setFocus()
            shift = event.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier
            if self._start_mode or shift:
                self.startPicked.emit(p.x(), p.y())
            else:
                self.pointPicked.emit(p.x(), p.y())

    def contextMenuEvent(self, event) -> None:  # noqa: N802 - Qt override
        p = self._to_data(self.mapToScene(event.pos()))
        self.context_menu(None if p is None or not self._inside(p.x(), p.y()) else (p.x(), p.y())).exec(event.globalPos())

    def actions_at(self, at) -> list:
        if at is None:
            return []
        x, y = at
        return [("Select this point", lambda: self.pointPicked.emit(x, y)),
                ("Start gradient descent here", lambda: self.startPicked.emit(x, y))]

    def _remember_range(self, *_) -> None:
        if not self._box_timer.isActive():
            self._range = self.view_box()

    def _user_moved(self, *_) -> None:
        """The view moved by x -> a x + b per axis (a pan: a = 1; a zoom about the mouse: b keeps it still):
        the box makes the same move."""
        if self._box is None or self._range is None:
            return
        x0, x1, y0, y1 = self._asked or self._box
        moved = []
        for (old0, old1), (new0, new1), (lo, hi) in zip(self._range, self.view_box(), ((x0, x1), (y0, y1))):
            a = (new1 - new0) / (old1 - old0)
            b = new0 - a * old0
            moved += [a * lo + b, a * hi + b]
        self._asked = tuple(moved)
        self._range = self.view_box()
        self._box_timer.start()

    def _ask_box(self) -> None:
        if self._asked is not None:
            x0, x1, y0, y1 = self._asked
            self._asked = None
            self.boxRequested.emit((x0, x1), (y0, y1))

    def fit_view(self) -> None:
        """Show the whole box (and no more than the aspect lock needs)."""
        if self._box is not None:
            x0, x1, y0, y1 = self._box
            self.plot.vb.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.02)

    def set_aspect_locked(self, on: bool) -> None:
        """One unit of x as long on screen as one unit of y (circles round, gradients perpendicular to
        level sets as they are), or the map filling its panel."""
        if bool(self.plot.vb.state["aspectLocked"]) == bool(on):
            return
        self.plot.setAspectLocked(bool(on), ratio=1.0)
        self.fit_view()

    def set_start_mode(self, on: bool) -> None:
        """In "set start" mode a plain click places the descent's start point instead of selecting."""
        self._start_mode = bool(on)
        self.setCursor(QtCore.Qt.CursorShape.CrossCursor if on else QtCore.Qt.CursorShape.ArrowCursor)

    def _handle_moved(self) -> None:
        if self._point is None:
            return
        tip = self.direction_handle.pos()
        angle = np.degrees(np.arctan2(tip.y() - self._point[1], tip.x() - self._point[0])) % 360.0
        self.directionDragged.emit(float(angle))

    def outside_text(self) -> str:
        x0, x1, y0, y1 = self._box
        (a, b), n = self._names, format_number
        return (f"Outside the box ({a} from {n(x0)} to {n(x1)}, {b} from {n(y0)} to {n(y1)}): click inside it.\n"
                "Zoom out or set the Domain to widen the box.")

    def _inside(self, x: float, y: float) -> bool:
        if self._box is None:
            return False
        x0, x1, y0, y1 = self._box
        return x0 <= x <= x1 and y0 <= y <= y1

    # ------------------------------------------------------------------ drawing
    def set_grid(self, xs: np.ndarray, ys: np.ndarray, z: np.ndarray, limits: tuple[float, float],
                 isolines: list[np.ndarray], names: tuple[str, str] = ("x", "y"), reset_range: bool = True) -> None:
        x0, x1, y0, y1 = float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1])
        box_changed = self._box != (x0, x1, y0, y1)
        self._box, self._names = (x0, x1, y0, y1), tuple(names)
        dx, dy = (x1 - x0) / max(len(xs) - 1, 1), (y1 - y0) / max(len(ys) - 1, 1)
        self.image.setImage(np.asarray(z, dtype=np.float32), levels=limits, autoLevels=False)
        # Pixel centres sit on the grid nodes.
        self.image.setRect(QtCore.QRectF(x0 - dx / 2, y0 - dy / 2, x1 - x0 + dx, y1 - y0 + dy))
        self.colorbar.setLevels(limits)
        segments = np.concatenate(isolines) if isolines else np.zeros((0, 2, 2))
        self.isolines.setData(*_segments_xy(segments))
        self.plot.setLabel("bottom", names[0], color="k")
        self.plot.setLabel("left", names[1], color="k")
        if box_changed and reset_range:
            self.plot.vb.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0.02)
        if box_changed and self._path_input:
            self.set_paths(self._path_input)  # clipped to the new box

    def set_field(self, x, y, gx, gy) -> None:
        """Gradient arrows on a coarse grid, scaled so the longest is about one cell."""
        if self._box is None or len(x) == 0:
            self.field.setData([], [])
            return
        x0, x1, y0, y1 = self._box
        cells = max(int(np.sqrt(len(x))), 2)
        # Scale each axis separately so arrows fit the cells however the box is stretched.
        sx, sy = (x1 - x0) / cells * 0.85, (y1 - y0) / cells * 0.85
        big = max(float(np.max(np.hypot(gx, gy))), 1e-300)
        length = np.sqrt(np.hypot(gx, gy) / big)  # sqrt: small gradients stay visible
        with np.errstate(invalid="ignore", divide="ignore"):
            ux, uy = np.nan_to_num(gx / np.hypot(gx, gy)), np.nan_to_num(gy / np.hypot(gx, gy))
        self.field.setData(*_segments_xy(arrow_segments(x, y, ux * length * sx, uy * length * sy)))

    def set_field_visible(self, visible: bool) -> None:
        self.field.setVisible(visible)

    def set_point(self, x: float, y: float, gradient: tuple[float, float] | None,
                  direction: tuple[float, float] | None = None) -> None:
        """Mark the selected point; draw the gradient (red) and the chosen direction (orange, dashed)."""
        self.marker.setData([x], [y])
        self._point = (x, y)
        x0, x1, y0, y1 = self._box or (x - 1, x + 1, y - 1, y + 1)
        reach = 0.15 * min(x1 - x0, y1 - y0)
        for item, vector in ((self.gradient_arrow, gradient), (self.direction_arrow, direction)):
            if vector is None or not np.all(np.isfinite(vector)) or np.hypot(*vector) == 0:
                item.setData([], [])
                if item is self.direction_arrow:
                    self.direction_handle.hide()
                continue
            u = np.asarray(vector, dtype=float) / np.hypot(*vector) * reach
            item.setData(*_segments_xy(arrow_segments(x, y, u[0], u[1])))
            if item is self.direction_arrow:
                with QtCore.QSignalBlocker(self.direction_handle):
                    self.direction_handle.setPos(x + u[0], y + u[1])
                self.direction_handle.show()

    def clear_point(self) -> None:
        self._point = None
        self.direction_handle.hide()
        self.marker.setData([], [])
        self.gradient_arrow.setData([], [])
        self.direction_arrow.setData([], [])

    def set_critical_points(self, points: list[dict], axes=("x", "y")) -> None:
        """Critical points (Engine.find_critical_points' entries), marked by type."""
        self.critical.setData(spots=[{"pos": s["pos"], "symbol": s["symbol"], "size": s["size"],
                                      "brush": pg.mkBrush(s["color"]), "pen": pg.mkPen("w", width=1.2)}
                                     for s in critical_spots(points, axes)])

    # ------------------------------------------------------------------ descent
    def set_paths(self, paths: list[dict]) -> None:
        """paths: [{"label", "optimizer", "x", "y"}], one per run, in the optimizer's colour (or "color").
        Items are kept per label and updated."""
        self._path_input = paths
        wanted = {p["label"] for p in paths}
        for label in list(self._paths):
            if label not in wanted:
                for item in self._paths.pop(label):
                    self.plot.removeItem(item)
                self.legend.removeItem(label)
        for p in paths:
            x, y = np.asarray(p["x"], float), np.asarray(p["y"], float)
            keep = np.isfinite(x) & np.isfinite(y)
            x, y = x[keep], y[keep]
            at = np.arange(len(x), dtype=float)
            if self._box is not None:  # a path leaving the box ends at its edge
                (x, y), at = clip_path((x, y), (self._box[:2], self._box[2:]))
            if p["label"] not in self._paths:
                color = run_color(p)
                line = pg.PlotDataItem(pen=pg.mkPen(color, width=2.2), symbol="o", symbolSize=5,
                                       symbolBrush=pg.mkBrush(color), symbolPen=pg.mkPen("w", width=0.8),
                                       antialias=True)
                heads = pg.PlotCurveItem(pen=pg.mkPen(color, width=2.2), connect="pairs", antialias=True)
                for item in (line, heads):
                    item.setZValue(5)
                    self.plot.addItem(item)
                self.legend.addItem(line, p["label"])
                self._paths[p["label"]] = (line, heads)
            line, heads = self._paths[p["label"]]
            # Step markers while they can be told apart; a long path is a line.
            # No marker where the path crosses the box's edge (it is no step).
            line.setData(x, y, symbol="o" if len(x) <= 400 else None, symbolSize=np.where(at == np.floor(at), 5, 0))
            finite = np.isfinite(x)
            heads.setData(*_segments_xy(self._heads(x[finite], y[finite])))
        self.show_legend(bool(paths))

    def show_legend(self, on: bool) -> None:
        """In the layout's second row while there are runs; out of it (no blank band) otherwise."""
        if on == self.legend.isVisible():
            return
        if on:
            self.ci.addItem(self.legend, row=1, col=0)
        else:
            self.ci.removeItem(self.legend)
        self.legend.setVisible(on)

    def _heads(self, x: np.ndarray, y: np.ndarray, last: int = 3) -> np.ndarray:
        """Arrow heads on the last few steps (those long enough to see), sized to the view."""
        if len(x) < 2:
            return np.zeros((0, 2, 2))
        (x0, x1), (y0, y1) = self.view_box()
        size = 0.025 * np.array([x1 - x0, y1 - y0])
        out = []
        for k in range(max(1, len(x) - last), len(x)):
            d = np.array([x[k] - x[k - 1], y[k] - y[k - 1]])
            length = np.hypot(*(d / size))
            if length < 0.3:  # shorter than a head: no head
                continue
            u = d / length  # one head size in each axis' own units
            tip = np.array([x[k], y[k]])
            side = np.array([-u[1] * size[0] / size[1], u[0] * size[1] / size[0]]) * 0.5
            out += [(tip, tip - u + side), (tip, tip - u - side)]
        return np.array(out, dtype=float).reshape(-1, 2, 2)

    def path_data(self, label: str) -> tuple[np.ndarray, np.ndarray]:
        x, y = self._paths[label][0].getData()
        return (np.zeros(0), np.zeros(0)) if x is None else (x, y)

    def path_labels(self) -> list[str]:
        return list(self._paths)

    def set_starts(self, points: list[tuple[float, float]], optimizers: list[str] | None = None) -> None:
        """Draggable start markers: one for all runs (white), or one per optimizer in its colour."""
        colors = [OPTIMIZER_COLORS[o] for o in optimizers] if optimizers else [START_COLOR] * len(points)
        while len(self._starts) > len(points):
            self.plot.removeItem(self._starts.pop())
        while len(self._starts) < len(points):
            index = len(self._starts)
            target = pg.TargetItem(size=15, symbol="s", movable=True)
            target.setZValue(6)
            target.setToolTip("Start point of gradient descent: drag to move it")
            target.sigPositionChangeFinished.connect(
                lambda t, i=index: self.startDragged.emit(i, t.pos().x(), t.pos().y()))
            self.plot.addItem(target)
            self._starts.append(target)
        for target, (x, y), color in zip(self._starts, points, colors):
            with QtCore.QSignalBlocker(target):
                target.setPos(x, y)
            target.setPen(pg.mkPen("k", width=2))
            target.setBrush(pg.mkBrush(color))

    def start_positions(self) -> list[tuple[float, float]]:
        return [(t.pos().x(), t.pos().y()) for t in self._starts]

    def set_explain(self, x: float, y: float, vectors: list[tuple[str, tuple[float, float], str]],
                    facts: list[tuple[str, str]] | None = None) -> None:
        """Arrows from (x, y) for the step being explained: [(name, (dx, dy) in data units, colour)], each
        labelled with its numbers at its tip; ``facts`` ([(name, text)]: the run, the step, the learning
        rate...) in a box in the map's corner. An arrow is drawn at its true length when that is visible,
        else stretched to a readable length (its numbers are the true ones)."""
        for name in list(self.explain_arrows):
            if name not in {v[0] for v in vectors}:
                self.plot.removeItem(self.explain_arrows.pop(name))
                self.plot.removeItem(self.explain_labels.pop(name))
        (x0, x1), (y0, y1) = self.view_box()
        scale = np.array([x1 - x0, y1 - y0])
        placed = []  # label anchors so far, in view fractions: labels that would touch are moved apart
        for name, (dx, dy), color in vectors:
            if name not in self.explain_arrows:
                arrow = pg.PlotCurveItem(pen=pg.mkPen(color, width=3.5), connect="pairs", antialias=True)
                label = pg.TextItem(color=color, fill=pg.mkBrush(255, 255, 255, 225),
                                    border=pg.mkPen(color, width=1))
                font = label.textItem.font()
                font.setPointSizeF(font.pointSizeF() * 1.1)
                font.setBold(True)
                label.setFont(font)
                for item in (arrow, label):
                    item.setZValue(8)
                    self.plot.addItem(item, ignoreBounds=True)
                self.explain_arrows[name], self.explain_labels[name] = arrow, label
            d = np.array([dx, dy], float)
            relative = np.hypot(*(d / scale)) if np.all(np.isfinite(d)) else 0.0
            label = self.explain_labels[name]
            if relative == 0:
                self.explain_arrows[name].setData([], [])
                label.hide()
                continue
            label.setText(f"{name} = ({format_number(dx, 3)}, {format_number(dy, 3)})")
            shown = d if 0.04 <= relative <= 0.3 else d / relative * 0.12  # too short or too long: readable
            self.explain_arrows[name].setData(*_segments_xy(arrow_segments(x, y, shown[0], shown[1], head=0.22)))
            # The label beyond the tip, on the side the arrow points to; nudged down past labels it would cover.
            tip = np.array([x + shown[0], y + shown[1]])
            where = (tip - [x0, y0]) / scale
            while any(abs(where[0] - a) < 0.25 and abs(where[1] - b) < 0.06 for a, b in placed):
                where[1] -= 0.07
            placed.append(tuple(where))
            label.setAnchor((0.0 if where[0] < 0.5 else 1.0, 0.5))  # the text runs inward, never off the map
            label.setPos(x0 + where[0] * scale[0], y0 + where[1] * scale[1])
            label.show()
        self._set_facts(facts or [])

    def _set_facts(self, facts: list[tuple[str, str]]) -> None:
        """The step's numbers in the map's top-left corner (kept off the arrows and the data's centre)."""
        if not hasattr(self, "explain_facts"):
            self.explain_facts = pg.TextItem(color="k", fill=pg.mkBrush(255, 255, 255, 225), border=pg.mkPen("k"),
                                             anchor=(0, 0))
            self.explain_facts.setParentItem(self.plot.vb)
            self.explain_facts.setZValue(9)
        if not facts:
            self.explain_facts.hide()
            return
        self.explain_facts.setHtml("<br>".join(f"<b>{name}</b> {text}" for name, text in facts))
        self.explain_facts.setPos(6, 6)
        self.explain_facts.show()

    def clear_explain(self) -> None:
        self.set_explain(0.0, 0.0, [], [])

    def explain_texts(self) -> list[str]:
        """The explain labels on screen (for tests)."""
        labels = [label.textItem.toPlainText() for label in self.explain_labels.values() if label.isVisible()]
        facts = getattr(self, "explain_facts", None)
        return labels + ([facts.textItem.toPlainText()] if facts is not None and facts.isVisible() else [])

    def set_basins(self, result: dict | None) -> None:
        """Colour the map by the minimum descent reaches from each start (Engine.basins' result): one
        colour per minimum, diverged and unconverged starts apart, translucent; None hides it."""
        if result is None:
            self.basins.setVisible(False)
            return
        labels = np.asarray(result["labels"])
        palette = np.array([QtGui.QColor(c).getRgb() for c in BASIN_COLORS], np.uint8)
        rgba = palette[np.maximum(labels, 0) % len(palette)].copy()
        rgba[labels == -1] = QtGui.QColor(DIVERGED_COLOR).getRgb()
        rgba[labels == -2] = QtGui.QColor(UNCONVERGED_COLOR).getRgb()
        rgba[..., 3] = 150  # the contour lines and paths stay readable through it
        xs, ys = (np.asarray(c) for c in result["coords"])
        dx, dy = (xs[-1] - xs[0]) / max(len(xs) - 1, 1), (ys[-1] - ys[0]) / max(len(ys) - 1, 1)
        self.basins.setImage(rgba, autoLevels=False)
        self.basins.setRect(QtCore.QRectF(xs[0] - dx / 2, ys[0] - dy / 2, xs[-1] - xs[0] + dx, ys[-1] - ys[0] + dy))
        self.basins.setVisible(True)

    def set_error_map(self, coords=None, errors=None, tolerance: float = 0.0) -> None:
        """Where derivatives a user wrote differ from TensorFlow's (a check's map of relative errors on a grid, as
        Engine.check_derivatives gives it): red, more opaque the larger the error, over the points whose error
        is above ``tolerance``; grey where f is undefined; None hides it."""
        if coords is None:
            self.error_map.setVisible(False)
            return
        errors = np.asarray(errors, dtype=float)
        rgba = np.zeros(errors.shape + (4,), np.uint8)
        with np.errstate(divide="ignore", invalid="ignore"):
            strength = np.clip((np.log10(errors) - np.log10(tolerance)) / -np.log10(tolerance), 0.0, 1.0)
        differs = errors > tolerance
        rgba[differs] = (220, 20, 20, 0)
        rgba[..., 3] = np.where(differs, 60 + 120 * np.nan_to_num(strength), 0).astype(np.uint8)  # the map shows through
        rgba[np.isnan(errors)] = (128, 128, 128, 90)
        xs, ys = (np.asarray(c) for c in coords)
        dx, dy = (xs[-1] - xs[0]) / max(len(xs) - 1, 1), (ys[-1] - ys[0]) / max(len(ys) - 1, 1)
        self.error_map.setImage(rgba, autoLevels=False)
        self.error_map.setRect(QtCore.QRectF(xs[0] - dx / 2, ys[0] - dy / 2, xs[-1] - xs[0] + dx, ys[-1] - ys[0] + dy))
        self.error_map.setVisible(True)

    def show_readout(self, x: float, y: float, text: str) -> None:
        """The read-out beside the mouse, on the side of it with room (never cut by the map's edge)."""
        (x0, x1), (y0, y1) = self.view_box()
        self.readout.setAnchor((1.0 if x > (x0 + x1) / 2 else 0.0, 0.0 if y > (y0 + y1) / 2 else 1.0))
        self.readout.setText(text)
        self.readout.setPos(x, y)
        self.readout.show()

    def hide_readout(self) -> None:
        self.readout.hide()

    def view_box(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The x and y ranges currently shown (for 'refit')."""
        (x0, x1), (y0, y1) = self.plot.vb.viewRange()
        return (x0, x1), (y0, y1)

    def export_image(self) -> QtGui.QImage:
        return self.grab().toImage()
