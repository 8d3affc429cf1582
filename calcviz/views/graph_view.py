"""The chain-rule view: the computational graph of f, its forward and backward passes, step by step.

A view only: every number (values, adjoints, local partials, paths and their products) comes in the
graph dict computed in the compute process; this module lays the graph out and writes text. It
emits ``inputsChanged({name: value, ...})`` (every input's value, the one just changed included)
when the user moves a slider or types a value. ``set_graph`` / ``update_values`` / ``clear`` never emit.

Stages of the step-through (``stage``): 0 shows no number; 1..N reveal the N nodes' values in
forward (``nodes``) order; N+1..N+B reveal adjoints in ``backward_order``; N+B+1 is "everything",
the stage a new graph starts at.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from PyQt6.QtCore import QPointF, QRectF, QSignalBlocker, Qt, pyqtSignal
from PyQt6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPainter, QPainterPath, QPalette, QPen, QPolygonF
from PyQt6.QtWidgets import (
    QGraphicsItem, QGraphicsScene, QGraphicsView, QGridLayout,
    QCheckBox, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSizePolicy, QSlider, QStackedWidget, QVBoxLayout, QWidget,
)

from .common import NumberBox, format_number

INPUTS_WIDTH = 250  # px: the input column left of the graph
DEFAULT_MESSAGE = "Type definitions like a = ...; f = ... to see their computational graph"
HIDDEN = "?"
NAME_KEY = 0            # QGraphicsItem.data key holding a node box's name
SLIDER_STEPS = 1000     # slider positions across [-span, span]
DEFAULT_SPAN = 10.0     # sliders cover [-10, 10] until a value outside asks for more

# Layout, in scene units (pixels at zoom 1).
PAD_X, PAD_Y = 10.0, 6.0   # text margins inside a box
GAP_X, GAP_Y = 120.0, 22.0 # between layers / between boxes of one layer
ARROW = 7.0
# Edge labels sit off the middle (two edges crossing there would share it), towards the end where fewer
# edges meet: near the parent when the child has more parents than the parent has children.
LABEL_NEAR, LABEL_FAR = 0.35, 0.65
SWEEPS = 4                 # barycentre sweeps (down and up) ordering the layers
MIN_ZOOM, MAX_ZOOM, MAX_FIT_ZOOM = 0.02, 8.0, 1.5
WIDEST_NUMBER = "-8.88888e-88"  # the widest text format_number writes (boxes are sized for it)
MIN_TEXT_PX = 6.0          # text whose lines would be smaller on screen is not drawn

KIND_COLOR = {"input": "#1f77b4", "output": "#ff7f0e", "definition": "#7f7f7f", "operation": "#9e9e9e"}
STEP_COLOR = "#e6a700"     # the node the step-through is at
STEP_FILL = QColor(255, 214, 64, 90)
PATH_COLOR = "#d62728"     # the paths from a clicked input to the output
DIM = 0.2                  # opacity of what is off the clicked input's paths


def _factor(x: Any) -> str:
    """A number inside a product: negatives in parentheses, so "64·(-8)" cannot read as a subtraction."""
    text = format_number(x)
    return f"({text})" if text.startswith("-") else text


def _count(x: Any) -> str:
    """An operation count as the producer gives it: a number, or a dict with "multiplications"."""
    if isinstance(x, Mapping):
        x = x.get("multiplications", x.get("count"))
    return format_number(x)


def layer_order(nodes: Sequence[Mapping], sweeps: int = SWEEPS) -> list[list[str]]:
    """Layers left to right (longest path from the inputs) and each layer's order top to bottom.

    ``nodes`` is in topological order. The order within layers comes from barycentre sweeps: each
    node moves to the mean position of its parents (sweeping right), then of its children (sweeping
    left), which removes most crossings. The first layer (the inputs) keeps the given order.
    """
    layer: dict[str, int] = {}
    for node in nodes:
        parents = [p for p in node.get("parents") or () if p in layer]
        layer[node["name"]] = 1 + max(layer[p] for p in parents) if parents else 0
    if not layer:
        return []
    layers: list[list[str]] = [[] for _ in range(max(layer.values()) + 1)]
    parents_of: dict[str, list[str]] = {}
    children_of: dict[str, list[str]] = {name: [] for name in layer}
    for node in nodes:
        name = node["name"]
        layers[layer[name]].append(name)
        parents_of[name] = [p for p in node.get("parents") or () if p in layer]
        for p in parents_of[name]:
            children_of[p].append(name)
    # Positions as fractions of the layer's height, so layers of different sizes compare.
    pos = {name: (i + 0.5) / len(row) for row in layers for i, name in enumerate(row)}

    def reorder(row: list[str], neighbours: dict[str, list[str]]) -> None:
        def key(name: str) -> float:
            near = neighbours[name]
            return sum(pos[m] for m in near) / len(near) if near else pos[name]
        row.sort(key=key)
        for i, name in enumerate(row):
            pos[name] = (i + 0.5) / len(row)

    for _ in range(sweeps):
        for row in layers[1:]:
            reorder(row, parents_of)
        for row in reversed(layers[1:-1]):
            reorder(row, children_of)
    for row in layers[1:]:
        reorder(row, parents_of)
    return layers


def _structure(data: Mapping) -> tuple:
    """What fixes the drawing (boxes, arrows, input rows): update_values needs it unchanged."""
    return (tuple((n["name"], n.get("label"), tuple(n.get("parents") or ())) for n in data["nodes"]),
            tuple((e["parent"], e["child"]) for e in data["edges"]),
            tuple(data["inputs"]), data["output"], tuple(data.get("backward_order") or ()))


def _cosmetic(color: QColor, width: float) -> QPen:
    pen = QPen(color, width)
    pen.setCosmetic(True)
    return pen


def _readable(painter: QPainter, option, line_height: float) -> bool:
    """Whether text of this line height is legible at the current zoom (else skipped: cheaper, no smudge)."""
    return line_height * option.levelOfDetailFromTransform(painter.worldTransform()) >= MIN_TEXT_PX


class _Box(QGraphicsItem):
    """A node: a rounded box of fixed size with its text painted centred in it.

    Fixed geometry: a new text is a repaint only (no geometry change, no text layout until painted),
    which keeps update_values cheap while a slider moves.
    """

    def __init__(self, name: str, width: float, height: float, font: QFont, color: QColor):
        super().__init__()
        self.setData(NAME_KEY, name)
        self.rect = QRectF(0, 0, width, height)
        self.font, self.color = font, color
        self.line_height = QFontMetricsF(font).lineSpacing()
        self.pen, self.brush = QPen(), QBrush()
        self._text = ""
        # Did the last paint draw the text? If not (zoomed out, or never painted: off screen), a new text
        # needs no repaint; a zoom or scroll that shows it repaints it anyway. Keeps live updates cheap.
        self._text_drawn = False

    def text(self) -> str:
        return self._text

    def set_text(self, text: str) -> None:
        if text != self._text:
            self._text = text
            if self._text_drawn:  # zoomed out, the box looks the same: no repaint
                self.update()

    def scene_rect(self) -> QRectF:
        """The box itself in scene coordinates (the bounding rect has room for the pen around it)."""
        return self.mapRectToScene(self.rect)

    def set_style(self, pen: QPen, brush: QBrush) -> None:
        self.pen, self.brush = pen, brush
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return self.rect.adjusted(-3, -3, 3, 3)  # room for the widest pen

    def paint(self, painter: QPainter, option, widget=None) -> None:  # Qt override
        painter.setPen(self.pen)
        painter.setBrush(self.brush)
        painter.drawRoundedRect(self.rect, 8, 8)
        self._text_drawn = _readable(painter, option, self.line_height)
        if self._text_drawn:
            painter.setFont(self.font)
            painter.setPen(self.color)
            painter.drawText(self.rect, Qt.AlignmentFlag.AlignCenter, self._text)


class _Arrows(QGraphicsItem):
    """Every edge: a curve from the parent's right side to a filled head at the child's left side.

    One item, cached as a pixmap of what the view shows (DeviceCoordinateCache): while a slider
    moves, the boxes and labels repaint over the cached arrows instead of re-rendering hundreds of
    curves. The arrows are re-rendered only when their styles change or the view zooms.
    """

    def __init__(self):
        super().__init__()
        self.shapes: dict[tuple[str, str], tuple[QPainterPath, QPolygonF, QRectF]] = {}
        self.pens: dict[tuple[str, str], QPen] = {}
        self.opacities: dict[tuple[str, str], float] = {}
        self.on_top: set[tuple[str, str]] = set()
        self.rect = QRectF()
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)  # option.exposedRect

    def add(self, key: tuple[str, str], curve: QPainterPath, head: QPolygonF) -> None:
        bounds = curve.boundingRect().united(head.boundingRect()).adjusted(-3, -3, 3, 3)
        self.prepareGeometryChange()
        self.shapes[key] = (curve, head, bounds)
        self.rect = self.rect.united(bounds)

    def set_styles(self, pens: dict, opacities: dict, on_top: set) -> None:
        self.pens, self.opacities, self.on_top = pens, opacities, on_top
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return self.rect

    def paint(self, painter: QPainter, option, widget=None) -> None:  # Qt override
        exposed = option.exposedRect
        keys = [k for k in self.shapes if k not in self.on_top] + [k for k in self.shapes if k in self.on_top]
        for key in keys:
            curve, head, bounds = self.shapes[key]
            if not bounds.intersects(exposed):
                continue
            pen = self.pens.get(key) or QPen()
            painter.setOpacity(self.opacities.get(key, 1.0))
            painter.setPen(pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawPath(curve)
            painter.setBrush(pen.color())
            painter.drawPolygon(head)


class _EdgeLabel(QGraphicsItem):
    """An edge's local partial, centred on a point of the edge, on a plate of the background colour."""

    def __init__(self, anchor: QPointF, font: QFont, color: QColor, plate: QColor, widest: float):
        super().__init__()
        self.font, self.color, self.plate = font, color, plate
        self.metrics = QFontMetricsF(font)
        h = self.metrics.height()
        self.rect = QRectF(-widest / 2 - 2, -h / 2, widest + 4, h)
        self.setPos(anchor)
        self.setZValue(0.8)  # over the arrows, under the boxes (whose text matters more)
        self._text, self._width = "", 0.0
        self._text_drawn = False  # as in _Box

    def text(self) -> str:
        return self._text

    def set_text(self, text: str) -> None:
        if text != self._text:
            self._text = text
            self._width = self.metrics.horizontalAdvance(text)
            if self._text_drawn:
                self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt override
        return self.rect

    def paint(self, painter: QPainter, option, widget=None) -> None:  # Qt override
        self._text_drawn = _readable(painter, option, self.rect.height())
        if not self._text_drawn:
            return
        plate = QRectF(-self._width / 2 - 2, self.rect.top(), self._width + 4, self.rect.height())
        painter.fillRect(plate, self.plate)
        painter.setFont(self.font)
        painter.setPen(self.color)
        painter.drawText(plate, Qt.AlignmentFlag.AlignCenter, self._text)


class GraphCanvas(QGraphicsView):
    """The scene's view: wheel zooms (under the mouse), drag pans, a click reports a node or the background."""

    nodeClicked = pyqtSignal(str)
    backgroundClicked = pyqtSignal()

    def __init__(self, scene: QGraphicsScene, parent: QWidget):
        super().__init__(scene, parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.auto_fit = True  # fit on resize until the user zooms
        self._pressed_at: QPointF | None = None

    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float) -> None:
        self.auto_fit = False  # the user's zoom: a resize (e.g. scroll bars appearing) must not undo it
        factor = min(max(factor, MIN_ZOOM / self.zoom()), MAX_ZOOM / self.zoom())
        self.scale(factor, factor)

    def fit(self) -> None:
        rect = self.scene().itemsBoundingRect().adjusted(-20, -20, 20, 20)
        if rect.isEmpty():
            return
        self.setSceneRect(rect)
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if self.zoom() > MAX_FIT_ZOOM:  # a five-node graph would be drawn huge
            self.zoom_by(MAX_FIT_ZOOM / self.zoom())
        self.auto_fit = True

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.zoom_by(1.0015 ** event.angleDelta().y())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self.auto_fit:
            self.fit()

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        self._pressed_at = event.position()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().mouseReleaseEvent(event)
        start, self._pressed_at = self._pressed_at, None
        if start is None or (event.position() - start).manhattanLength() > 4:
            return  # a drag (pan), not a click
        for item in self.items(event.position().toPoint()):
            while item is not None and item.data(NAME_KEY) is None:
                item = item.parentItem()
            if item is not None:
                self.nodeClicked.emit(item.data(NAME_KEY))
                return
        self.backgroundClicked.emit()


@dataclass
class InputRow:
    """The widgets of one input (``ChainRuleView.rows[name]``)."""
    name: str
    slider: QSlider
    value_box: NumberBox
    span: float = DEFAULT_SPAN  # the slider covers [-span, span]


class ChainRuleView(QWidget):
    """The computational graph of f with its values, adjoints and local partials."""

    inputsChanged = pyqtSignal(dict)
    expandToggled = pyqtSignal(bool)  # show every primitive operation as a node

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._data: dict | None = None
        self._structure: tuple | None = None
        self._boxes: dict[str, _Box] = {}
        self._edges: dict[tuple[str, str], QPainterPath] = {}  # (parent, child) -> its curve
        self._arrows = _Arrows()
        self._edge_labels: dict[tuple[str, str], _EdgeLabel] = {}
        self._nodes: dict[str, dict] = {}
        self._partial: dict[tuple[str, str], float] = {}
        self._forward_index: dict[str, int] = {}
        self._backward_index: dict[str, int] = {}
        self._stage = 0
        self._selected: str | None = None
        self._path_nodes: set[str] = set()
        self._path_edges: set[tuple[str, str]] = set()
        self._point: dict[str, float] = {}
        self.rows: dict[str, InputRow] = {}

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)

        # Inputs: a slider and a number box each (scrolls when there are many).
        self.inputs_area = QScrollArea(self)
        self.inputs_area.setWidgetResizable(True)
        self.inputs_area.setFrameShape(QScrollArea.Shape.NoFrame)
        self.inputs_area.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Expanding)
        self.inputs_area.setFixedWidth(INPUTS_WIDTH)
        self.inputs_widget = QWidget()
        self.inputs_area.setWidget(self.inputs_widget)

        buttons = QHBoxLayout()
        self.back_button = QPushButton("◀ Back", self)
        self.step_button = QPushButton("Step ▶", self)
        self.reset_button = QPushButton("Reset", self)
        self.all_button = QPushButton("Show all", self)
        self.fit_button = QPushButton("Fit", self)
        self.expand_box = QCheckBox("Expand operations", self)
        self.expand_box.setToolTip("Break every definition into its primitive operations (+, ·, ^, sin, …), "
                                   "so a one-line formula has a graph too")
        self.expand_box.toggled.connect(self.expandToggled)
        self.back_button.setToolTip("Undo the last step")
        self.step_button.setToolTip("Compute one more node: values forward, then adjoints backward")
        self.reset_button.setToolTip("Back to the start: nothing computed yet")
        self.all_button.setToolTip("Show every value and adjoint")
        self.fit_button.setToolTip("Zoom to show the whole graph (wheel zooms, drag pans)")
        self.stage_label = QLabel(self)
        self.stage_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        for button in (self.back_button, self.step_button, self.reset_button, self.all_button):
            buttons.addWidget(button)
        buttons.addWidget(self.stage_label, 1)
        buttons.addWidget(self.expand_box)
        buttons.addWidget(self.fit_button)
        layout.addLayout(buttons)

        self.scene = QGraphicsScene(self)
        # Items change text live (sliders): no spatial index to keep up to date.
        self.scene.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.canvas = GraphCanvas(self.scene, self)
        self.canvas.setBackgroundBrush(self.palette().color(QPalette.ColorRole.Base))
        self.message_label = QLabel(DEFAULT_MESSAGE, self)
        self.message_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message_label.setWordWrap(True)
        self.message_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.stack = QStackedWidget(self)
        self.stack.addWidget(self.message_label)
        self.stack.addWidget(self.canvas)
        # Inputs in a column left of the graph: the graph keeps the dock's whole height.
        body = QHBoxLayout()
        body.addWidget(self.inputs_area)
        body.addWidget(self.stack, 1)
        layout.addLayout(body, 1)

        self.formula_label = QLabel(self)
        self.formula_label.setTextFormat(Qt.TextFormat.PlainText)
        self.formula_label.setWordWrap(True)
        self.formula_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.operations_label = QLabel(self)
        self.operations_label.setTextFormat(Qt.TextFormat.PlainText)
        self.operations_label.setWordWrap(True)
        self.operations_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        layout.addWidget(self.formula_label)
        layout.addWidget(self.operations_label)

        self._font = QFont(self.font())
        self._small = QFont(self.font())
        self._small.setPointSizeF(max(6.0, self._small.pointSizeF() * 0.8))

        self.back_button.clicked.connect(self.back)
        self.step_button.clicked.connect(self.step)
        self.reset_button.clicked.connect(self.reset_steps)
        self.all_button.clicked.connect(self.show_all)
        self.fit_button.clicked.connect(self.canvas.fit)
        self.canvas.nodeClicked.connect(self._node_clicked)
        self.canvas.backgroundClicked.connect(lambda: self.select_input(None))
        self.clear()

    # --- public interface ------------------------------------------------------------------------
    def set_expand(self, on: bool) -> None:
        """Show whether every primitive operation is a node, without emitting."""
        with QSignalBlocker(self.expand_box):
            self.expand_box.setChecked(bool(on))

    def clear(self, message: str = DEFAULT_MESSAGE) -> None:
        """No graph: show ``message`` instead."""
        self._data = self._structure = None
        self._selected = None
        self._path_nodes, self._path_edges = set(), set()
        self.scene.clear()  # deletes the items
        self._boxes, self._edges, self._edge_labels = {}, {}, {}
        self._arrows = _Arrows()
        self._stage = 0
        self._set_inputs([])
        self.message_label.setText(message)
        self.stack.setCurrentWidget(self.message_label)
        self.formula_label.setText("")
        self.operations_label.setText("")
        self._update_controls()

    def has_graph(self) -> bool:
        return self.stack.currentWidget() is self.canvas

    def render_graph(self, painter: QPainter, target: QRectF) -> None:
        """The whole graph as shown now (its numbers, the lit paths) fitted into ``target`` on the view's
        ground, for an export. Drawn item by item, not from cached pixmaps: an SVG gets paths and text."""
        source = self.scene.itemsBoundingRect().adjusted(-20, -20, 20, 20)
        painter.fillRect(target, self.canvas.backgroundBrush())
        scale = min(target.width() / source.width(), target.height() / source.height())
        fitted = QRectF(0, 0, source.width() * scale, source.height() * scale)
        fitted.moveCenter(target.center())  # centred (QGraphicsScene.render puts it in the corner)
        cached = [item for item in self.scene.items() if item.cacheMode() != QGraphicsItem.CacheMode.NoCache]
        modes = [item.cacheMode() for item in cached]
        for item in cached:
            item.setCacheMode(QGraphicsItem.CacheMode.NoCache)
        try:
            self.scene.render(painter, fitted, source, Qt.AspectRatioMode.IgnoreAspectRatio)
        finally:
            for item, mode in zip(cached, modes):
                item.setCacheMode(mode)

    def set_graph(self, data: Mapping) -> None:
        """A new graph: lay it out, build its items, show every number (the last stage)."""
        self._take(data)
        self._structure = _structure(data)
        self._selected = None
        self._path_nodes, self._path_edges = set(), set()
        self._build()
        self._set_inputs(list(data["inputs"]))
        self._stage = self.max_stage
        self.stack.setCurrentWidget(self.canvas)
        self._refresh()
        self._refresh_highlight()
        self.canvas.fit()

    def update_values(self, data: Mapping) -> None:
        """The same graph with new numbers: texts change, items stay (cheap: called while a slider moves)."""
        if self._data is None or _structure(data) != self._structure:
            self.set_graph(data)
            return
        self._take(data)
        self._refresh()

    @property
    def stage(self) -> int:
        return self._stage

    @property
    def max_stage(self) -> int:
        """The "everything shown" stage: after N forward steps and B backward ones."""
        if self._data is None:
            return 0
        return len(self._data["nodes"]) + len(self._data["backward_order"]) + 1

    def step(self) -> None:
        self._go(self._stage + 1)

    def back(self) -> None:
        self._go(self._stage - 1)

    def reset_steps(self) -> None:
        self._go(0)

    def show_all(self) -> None:
        self._go(self.max_stage)

    def highlighted_node(self) -> str | None:
        """The node the step-through is at (None at stage 0 and when everything is shown)."""
        if self._data is None:
            return None
        nodes, backward = self._data["nodes"], self._data["backward_order"]
        s = self._stage
        if 1 <= s <= len(nodes):
            return nodes[s - 1]["name"]
        if len(nodes) < s <= len(nodes) + len(backward):
            return backward[s - len(nodes) - 1]
        return None

    def formula_text(self) -> str:
        return self.formula_label.text()

    def operations_text(self) -> str:
        return self.operations_label.text()

    def select_input(self, name: str | None) -> None:
        """Light up the paths from input ``name`` to the output (None, or an unknown name: clear)."""
        if self._data is None or name not in self._data["inputs"]:
            name = None
        self._selected = name
        self._path_nodes, self._path_edges = self._paths_from(name) if name else (set(), set())
        self._refresh_highlight()
        self._refresh_formula()

    def selected_input(self) -> str | None:
        return self._selected

    def highlighted_edges(self) -> set[tuple[str, str]]:
        return set(self._path_edges)

    def highlighted_nodes(self) -> set[str]:
        return set(self._path_nodes)

    def node_text(self, name: str) -> str:
        return self._boxes[name].text()

    def node_item(self, name: str) -> QGraphicsItem:
        return self._boxes[name]

    def edge_style(self, parent: str, child: str) -> tuple[str, float]:
        """How the edge's arrow is drawn: its colour ("#rrggbb") and opacity."""
        key = (parent, child)
        return self._arrows.pens[key].color().name(), self._arrows.opacities[key]

    def edge_text(self, parent: str, child: str) -> str:
        return self._edge_labels[(parent, child)].text()

    def input_values(self) -> dict[str, float]:
        return dict(self._point)

    # --- building ----------------------------------------------------------------------------------
    def _take(self, data: Mapping) -> None:
        """Keep the dict and the lookups every refresh needs."""
        self._data = dict(data)
        self._data.setdefault("backward_order", [])
        self._nodes = {n["name"]: n for n in data["nodes"]}
        self._partial = {(e["parent"], e["child"]): e.get("local_partial") for e in data["edges"]}
        self._forward_index = {n["name"]: i for i, n in enumerate(data["nodes"])}
        self._backward_index = {name: j for j, name in enumerate(self._data["backward_order"])}
        self._point = {name: float(data["at"][name]) for name in data["inputs"] if name in data.get("at", {})}

    def _build(self) -> None:
        data = self._data
        self.scene.clear()
        self._boxes, self._edges, self._edge_labels = {}, {}, {}
        self._arrows = _Arrows()
        self.scene.addItem(self._arrows)
        text_color = self.palette().color(QPalette.ColorRole.Text)
        base = self.palette().color(QPalette.ColorRole.Base)
        plate = QColor(base)
        plate.setAlpha(220)
        out = self._label(data["output"])

        # One box size for all, wide enough for any number format_number writes.
        metrics = QFontMetricsF(self._font)
        widest = max((max(metrics.horizontalAdvance(self._label(n)),
                          metrics.horizontalAdvance(f"∂{out}/∂{self._label(n)} = {WIDEST_NUMBER}"))
                      for n in self._nodes), default=0.0)
        width = max(widest, metrics.horizontalAdvance("= " + WIDEST_NUMBER)) + 2 * PAD_X
        height = 3 * metrics.lineSpacing() + 2 * PAD_Y

        for column, row in enumerate(layer_order(data["nodes"])):
            x = column * (width + GAP_X)
            top = -(len(row) * (height + GAP_Y) - GAP_Y) / 2
            for i, name in enumerate(row):
                box = _Box(name, width, height, self._font, text_color)
                box.setPos(x, top + i * (height + GAP_Y))
                box.setZValue(1)
                if name in data["inputs"]:
                    box.setCursor(Qt.CursorShape.PointingHandCursor)
                    box.setToolTip(f"Click to light up every path from {self._label(name)} to {out}")
                self.scene.addItem(box)
                self._boxes[name] = box

        widest_label = QFontMetricsF(self._small).horizontalAdvance(WIDEST_NUMBER)
        edge_color = QColor(text_color)
        edge_color.setAlpha(150)
        # Cosmetic 1-pixel pens: drawn without stroking an outline (10x cheaper), and as thin zoomed out.
        self._edge_pen = _cosmetic(edge_color, 1.0)
        fan_in: dict[str, int] = {}
        fan_out: dict[str, int] = {}
        for parent, child in self._partial:
            fan_out[parent] = fan_out.get(parent, 0) + 1
            fan_in[child] = fan_in.get(child, 0) + 1
        for parent, child in self._partial:
            if parent not in self._boxes or child not in self._boxes:
                continue
            a = self._boxes[parent].scene_rect()
            b = self._boxes[child].scene_rect()
            p0 = QPointF(a.right(), a.center().y())
            p3 = QPointF(b.left() - ARROW, b.center().y())
            bend = max(30.0, (p3.x() - p0.x()) / 2)
            p1, p2 = QPointF(p0.x() + bend, p0.y()), QPointF(p3.x() - bend, p3.y())
            curve = QPainterPath(p0)
            curve.cubicTo(p1, p2, p3)
            # The curve ends horizontally: the head points straight right into the child.
            head = QPolygonF([QPointF(p3.x(), p3.y() - ARROW / 2), QPointF(b.left(), b.center().y()),
                              QPointF(p3.x(), p3.y() + ARROW / 2)])
            self._arrows.add((parent, child), curve, head)
            self._edges[(parent, child)] = curve
            t = LABEL_NEAR if fan_in[child] > fan_out[parent] else LABEL_FAR
            s = 1 - t  # the cubic Bezier at t:
            anchor = (p0 * s ** 3 + p1 * (3 * s * s * t) + p2 * (3 * s * t * t) + p3 * t ** 3)
            label = _EdgeLabel(anchor, self._small, text_color, plate, widest_label)
            label.setToolTip(f"∂{self._label(child)}/∂{self._label(parent)}")
            self.scene.addItem(label)
            self._edge_labels[(parent, child)] = label
        self.scene.setSceneRect(self.scene.itemsBoundingRect().adjusted(-40, -40, 40, 40))

    def _set_inputs(self, names: list[str]) -> None:
        """One row per input; rebuilt only when the names change (a dragged slider survives updates)."""
        self.inputs_area.setVisible(bool(names))
        if names == list(self.rows):
            return
        self.inputs_widget = QWidget()
        grid = QGridLayout(self.inputs_widget)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setVerticalSpacing(2)
        grid.setColumnStretch(1, 1)
        self.rows = {}
        for i, name in enumerate(names):
            caption = QLabel(name, self.inputs_widget)
            slider = QSlider(Qt.Orientation.Horizontal, self.inputs_widget)
            slider.setRange(-SLIDER_STEPS, SLIDER_STEPS)
            slider.setSingleStep(SLIDER_STEPS // 100)
            slider.setPageStep(SLIDER_STEPS // 10)
            slider.setToolTip(f"Drag to change {name}")
            box = NumberBox(self.inputs_widget)
            box.setMinimumWidth(80)
            box.setToolTip(f"Value of {name} (type a number, Enter to apply)")
            grid.addWidget(caption, i, 0)
            grid.addWidget(slider, i, 1)
            grid.addWidget(box, i, 2)
            self.rows[name] = InputRow(name, slider, box)
            slider.valueChanged.connect(lambda position, n=name: self._slider_moved(n, position))
            box.valueChanged.connect(lambda value, n=name: self._value_typed(n, value))
        self.inputs_area.setWidget(self.inputs_widget)  # deletes the old one
        grid.setRowStretch(len(names), 1)  # rows packed at the top; many inputs scroll

    # --- refreshing --------------------------------------------------------------------------------
    def _refresh(self) -> None:
        """New numbers: texts, input rows, formula and counts (highlights depend on structure only)."""
        self._refresh_texts()
        self._refresh_inputs()
        self._refresh_formula()
        ops = self._data.get("operations") or {}
        text = (f"Reverse mode (backprop): {_count(ops.get('reverse_mode'))} multiplications in one pass; "
                f"forward mode: {_count(ops.get('forward_mode'))} (one pass per input)") if ops else ""
        if text != self.operations_label.text():  # a label's setText relayouts: skip when unchanged
            self.operations_label.setText(text)
            self.operations_label.setToolTip(str(ops.get("explanation") or ""))
        self._update_controls()

    def _shown(self) -> tuple[int, int]:
        """How many nodes show their value, and how many their adjoint, at this stage."""
        n, b = len(self._data["nodes"]), len(self._data["backward_order"])
        if self._stage >= self.max_stage:
            return n, len(self._nodes) + 1  # everything, adjoints missing from backward_order too
        return min(self._stage, n), min(max(self._stage - n, 0), b)

    def _refresh_texts(self) -> None:
        values_shown, adjoints_shown = self._shown()
        out = self._label(self._data["output"])
        back = self._backward_index
        for name, box in self._boxes.items():
            node = self._nodes[name]
            label = self._label(name)
            value_on = self._forward_index[name] < values_shown
            adjoint_on = back.get(name, len(back)) < adjoints_shown
            value = format_number(node.get("value")) if value_on else HIDDEN
            adjoint = format_number(node.get("adjoint")) if adjoint_on else HIDDEN
            box.set_text(f"{label}\n= {value}\n∂{out}/∂{label} = {adjoint}")
        # A local partial is known once its child's value is computed.
        for (parent, child), label in self._edge_labels.items():
            known = self._forward_index[child] < values_shown
            label.set_text(format_number(self._partial[(parent, child)]) if known else HIDDEN)

    def _refresh_inputs(self) -> None:
        for name, row in self.rows.items():
            if name not in self._point:
                continue
            value = self._point[name]
            if not row.slider.isSliderDown():  # never pull a slider out of the user's hand
                self._show_on_slider(row, value)
            if not row.value_box.hasFocus() and row.value_box.value() != value:
                with QSignalBlocker(row.value_box):
                    row.value_box.setValue(value)

    def _refresh_highlight(self) -> None:
        current = self.highlighted_node()
        selecting = self._selected is not None
        base = QBrush(self.palette().color(QPalette.ColorRole.Base))
        path_pen = _cosmetic(QColor(PATH_COLOR), 2.5)
        for name, box in self._boxes.items():
            kind = self._nodes[name].get("kind", "definition")
            if name == current:
                box.set_style(QPen(QColor(STEP_COLOR), 3.5), QBrush(STEP_FILL))
            else:
                on_path = name in self._path_nodes
                box.set_style(path_pen if on_path else QPen(QColor(KIND_COLOR.get(kind, "#7f7f7f")), 1.5), base)
            box.setOpacity(DIM if selecting and name not in self._path_nodes else 1.0)
        pens, opacities = {}, {}
        for key in self._edges:
            on_path = key in self._path_edges
            pens[key] = path_pen if on_path else self._edge_pen
            opacities[key] = DIM if selecting and not on_path else 1.0
            self._edge_labels[key].setOpacity(opacities[key])
        self._arrows.set_styles(pens, opacities, self._path_edges)

    def _refresh_formula(self) -> None:
        for label, text in ((self.formula_label, self._formula()), (self.stage_label, self._stage_caption())):
            if text != label.text():
                label.setText(text)

    def _stage_caption(self) -> str:
        if self._data is None:
            return ""
        n, b, s = len(self._data["nodes"]), len(self._data["backward_order"]), self._stage
        if s == 0:
            return "Nothing computed yet: Step ▶ runs the forward pass"
        if s <= n:
            return f"Forward pass: node {s} of {n}"
        if s <= n + b:
            return f"Backward pass: node {s - n} of {b}"
        return "Everything computed"

    def _update_controls(self) -> None:
        has = self._data is not None
        self.back_button.setEnabled(has and self._stage > 0)
        self.step_button.setEnabled(has and self._stage < self.max_stage)
        self.reset_button.setEnabled(has and self._stage > 0)
        self.all_button.setEnabled(has and self._stage < self.max_stage)
        self.fit_button.setEnabled(has)

    def _go(self, stage: int) -> None:
        if self._data is None:
            return
        self._stage = min(max(stage, 0), self.max_stage)
        self._selected = None  # stepping and the path view share the highlight: stepping wins
        self._path_nodes, self._path_edges = set(), set()
        self._refresh_texts()
        self._refresh_highlight()
        self._refresh_formula()
        self._update_controls()
        current = self.highlighted_node()
        if current in self._boxes:  # a big graph: scroll the step's node into view
            self.canvas.ensureVisible(self._boxes[current], 30, 30)

    # --- formulas ----------------------------------------------------------------------------------
    def _label(self, name: str) -> str:
        node = self._nodes.get(name)
        return str(node.get("label") or name) if node else name

    def _formula(self) -> str:
        if self._data is None:
            return ""
        if self._selected is not None:
            return self._path_formula(self._selected)
        current = self.highlighted_node()
        if current is None:
            if self._stage == 0:
                return ""
            out = self._label(self._data["output"])
            gradient = self._data.get("gradient") or {}
            names = self._data["inputs"]
            return (f"∇{out}({', '.join(self._label(n) for n in names)}) = "
                    f"({', '.join(format_number(gradient.get(n)) for n in names)})")
        if self._stage <= len(self._data["nodes"]):
            return self._forward_formula(current)
        return self._backward_formula(current)

    def _forward_formula(self, name: str) -> str:
        node = self._nodes[name]
        label, value = self._label(name), format_number(node.get("value"))
        formula = node.get("formula")
        if node.get("kind") == "input" or not formula:
            return f"{label} = {value}" + (" (input)" if node.get("kind") == "input" else "")
        numbers = {}
        for p in node.get("parents") or ():
            text = _factor(self._nodes[p].get("value")) if p in self._nodes else p
            numbers[p] = numbers[self._label(p)] = text
        substituted = re.sub(r"[A-Za-z_][A-Za-z_0-9]*", lambda m: numbers.get(m.group(0), m.group(0)), formula)
        middle = f" = {substituted}" if substituted != formula else ""
        return f"{label} = {formula}{middle} = {value}"

    def _backward_formula(self, name: str) -> str:
        out = self._label(self._data["output"])
        label = self._label(name)
        if name == self._data["output"]:
            return f"∂{out}/∂{out} = 1"
        node = self._nodes[name]
        children = [c for c in node.get("children") or () if (name, c) in self._partial]
        adjoint = format_number(node.get("adjoint"))
        if not children:
            return f"∂{out}/∂{label} = {adjoint} ({out} does not depend on {label})"
        symbols = " + ".join(f"∂{out}/∂{self._label(c)}·∂{self._label(c)}/∂{label}" for c in children)
        numbers = " + ".join(f"{_factor(self._nodes[c].get('adjoint'))}·{_factor(self._partial[(name, c)])}"
                             for c in children)
        return f"∂{out}/∂{label} = {symbols} = {numbers} = {adjoint}"

    def _path_formula(self, name: str) -> str:
        out, label = self._label(self._data["output"]), self._label(name)
        paths = (self._data.get("paths") or {}).get(name) or []
        total = (self._data.get("path_sums") or {}).get(name, (self._data.get("gradient") or {}).get(name))
        count = (self._data.get("path_counts") or {}).get(name, len(paths))
        terms = ["".join(f"({format_number(f)})" for f in path.get("factors") or ()) for path in paths]
        text = " + ".join(terms) if terms else "0 (no path)"
        if count > len(paths):
            text += f" … and {count - len(paths)} more paths"
        return f"∂{out}/∂{label} = {text} = {format_number(total)}"

    def _paths_from(self, name: str) -> tuple[set[str], set[tuple[str, str]]]:
        """Nodes and edges on some path from ``name`` to the output: below ``name`` and above the output."""
        below = {name}
        for node in self._data["nodes"]:  # topological order: parents come first
            if any(p in below for p in node.get("parents") or ()):
                below.add(node["name"])
        above = {self._data["output"]}
        for node in reversed(self._data["nodes"]):
            if node["name"] in above:
                above.update(node.get("parents") or ())
        on = below & above
        return on, {(p, c) for (p, c) in self._edges if p in on and c in on}

    # --- user input ----------------------------------------------------------------------------------
    def _node_clicked(self, name: str) -> None:
        if self._data is not None and name in self._data["inputs"]:
            self.select_input(None if name == self._selected else name)

    def _show_on_slider(self, row: InputRow, value: float) -> None:
        if abs(value) > row.span:  # widen to the next power of ten that holds the value
            row.span = DEFAULT_SPAN * 10 ** math.ceil(math.log10(abs(value) / DEFAULT_SPAN))
        with QSignalBlocker(row.slider):
            row.slider.setValue(round(value / row.span * SLIDER_STEPS))

    def _slider_moved(self, name: str, position: int) -> None:
        row = self.rows[name]
        value = round(position * row.span / SLIDER_STEPS, 12)
        with QSignalBlocker(row.value_box):
            row.value_box.setValue(value)
        self._point[name] = value
        self.inputsChanged.emit(dict(self._point))

    def _value_typed(self, name: str, value: float) -> None:
        self._show_on_slider(self.rows[name], value)
        self._point[name] = float(value)
        self.inputsChanged.emit(dict(self._point))
