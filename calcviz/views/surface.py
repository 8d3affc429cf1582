"""The 3D surface view: the graph of f over the box, coloured by height, with labelled axes.

The box is drawn in a fixed scene cube (x, y in [-S, S], z in [0, H]) so every function looks
well proportioned; tick labels carry the real values. Items are created once and updated.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pyqtgraph.opengl as gl
from OpenGL import GL
from pyqtgraph.opengl.GLGraphicsItem import GLOptions
from PyQt6 import QtCore, QtGui, QtWidgets

from ..models.grid import symlog
from .common import SELECTED_COLOR, TYPE_STYLE, ContextMenu, clip_path, nice_ticks, run_color, tick_texts

S = 10.0     # half-width of the box in scene units
MESH_MAX_SIDE = 300  # level of detail: a denser mesh has more triangles than the view has pixels
H = 10.0     # height of the value range in scene units
FLOOR = -0.02 * H  # the floor grid and the box's bottom edges, just under f's lowest value: a valley
                   # of the surface at the bottom of the range must not share its depth with them
TICKS = 5          # about this many round ticks per axis
MAX_TICKS = 9      # label items per axis (created once)
TICK = 0.4         # length of a tick mark, scene units
TICK_GAP = 0.7     # from the axis line to its tick labels
TITLE_GAP = 2.6    # from the axis line to its name
COLORMAP = "viridis"
INK = (0.15, 0.15, 0.2, 1.0)
TEXT = QtGui.QColor(40, 40, 50)
Align = QtCore.Qt.AlignmentFlag

LABEL_SCALE_MAX = 1.6  # exported labels grow with the image up to this factor
FILL = 0.92            # the box and its labels fill this much of an exported image (and of the view, fitted)
CAMERA = {"elevation": 28.0, "azimuth": -60.0}  # the fitted camera's angles

# GL state is not restored between items: every filled item says whether it is offset.
_OFFSET_OFF = {GL.GL_POLYGON_OFFSET_FILL: False}
# The local models: where one lies on the surface (at the point they touch it) the model wins the depth
# test instead of speckling with it; the plane and the quadric are offset apart for the same reason.
MODELS = {"plane": ((1.0, 0.5, 0.05), -1.0), "quadric": ((0.58, 0.40, 0.74), -2.0)}
MODEL_ALPHA, GHOST_ALPHA = 0.55, 0.16  # in front of the surface / behind it (seen through it)
FADE = 0.06 * H  # a model fades out over this height beyond the box's f range


def _labels(view) -> list[gl.GLTextItem]:
    return [item for item in view.items if isinstance(item, gl.GLTextItem) and item.visible() and item.text]


def _mvp(view, w: int, h: int) -> QtGui.QMatrix4x4:
    """Scene -> pixel coordinates (y down) of a w x h image of the current camera."""
    to_pixels = QtGui.QMatrix4x4()
    to_pixels.viewport(0, h, w, -h)
    return to_pixels * view.projectionMatrix((0, 0, w, h), (0, 0, w, h)) * view.viewMatrix()


def label_rect(item: gl.GLTextItem, mvp: QtGui.QMatrix4x4, scale: float = 1.0) -> tuple[QtCore.QRectF, QtCore.QPointF]:
    """Where a label's ink lands in pixels, and its baseline origin, placed as GLTextItem places it."""
    font = QtGui.QFont(item.font)
    font.setPointSizeF(item.font.pointSizeF() * scale)
    at = mvp.map(QtGui.QVector3D(*map(float, item.pos))).toPointF()
    box = QtGui.QFontMetricsF(font).tightBoundingRect(item.text)
    a = item.alignment
    dx = box.width() if a & Align.AlignRight else box.width() / 2 if a & Align.AlignHCenter else 0
    dy = box.height() if a & Align.AlignTop else box.height() / 2 if a & Align.AlignVCenter else 0
    origin = QtCore.QPointF(at.x() - dx, at.y() + dy)
    return box.translated(origin), origin


def _pixels(mvp: QtGui.QMatrix4x4, points: np.ndarray) -> np.ndarray:
    """(n, 3) scene points -> (n, 2) pixels, through a QMatrix4x4 from _mvp."""
    m = np.array(mvp.data(), float).reshape(4, 4).T  # Qt stores it column by column
    h = np.column_stack([points, np.ones(len(points))]) @ m.T
    return h[:, :2] / h[:, 3:4]


def _fit(view, w: int, h: int, points: np.ndarray, labels, scale: float = 1.0) -> tuple[float, QtGui.QVector3D]:
    """Camera distance and centre at which ``points`` (scene) and ``labels`` fill a w x h image, centred,
    the camera's angles kept. Labels keep their size in pixels while the box shrinks with the distance,
    and perspective is not linear: a few steps settle it."""
    opts = view.opts
    distance, center = opts["distance"], QtGui.QVector3D(opts["center"])
    try:
        for _ in range(8):
            mvp = _mvp(view, w, h)
            px = _pixels(mvp, points)
            lo, hi = px.min(axis=0), px.max(axis=0)
            for item in labels:
                r = label_rect(item, mvp, scale)[0]
                lo, hi = np.minimum(lo, (r.left(), r.top())), np.maximum(hi, (r.right(), r.bottom()))
            extent = max((hi[0] - lo[0]) / w, (hi[1] - lo[1]) / h) / FILL
            if not np.isfinite(extent) or extent <= 0:
                break
            # Move the centre by the content's offset from the image's middle (pixels -> scene units at the
            # centre's depth; the view matrix' rows are the screen's right and up in the scene).
            dx, dy = (lo + hi) / 2 - (w / 2, h / 2)
            per_pixel = 2 * opts["distance"] * np.tan(np.radians(opts["fov"]) / 2) / w
            rows = view.viewMatrix()
            right, up = rows.row(0).toVector3D(), rows.row(1).toVector3D()
            opts["center"] = opts["center"] + (right * float(dx) - up * float(dy)) * float(per_pixel)
            opts["distance"] *= extent
        return opts["distance"], QtGui.QVector3D(opts["center"])
    finally:
        opts["distance"], opts["center"] = distance, center


def _draw_labels(view, labels: list[gl.GLTextItem], image: QtGui.QImage, scale: float) -> None:
    """The tick and axis labels. GLTextItem paints them with a QPainter on the widget, which an
    offscreen render never sees: drawn here at the same projected places."""
    if not labels:
        return
    mvp = _mvp(view, image.width(), image.height())
    painter = QtGui.QPainter(image)
    painter.setRenderHints(QtGui.QPainter.RenderHint.Antialiasing | QtGui.QPainter.RenderHint.TextAntialiasing)
    for item in labels:
        font = QtGui.QFont(item.font)
        font.setPointSizeF(item.font.pointSizeF() * scale)
        painter.setFont(font)
        painter.setPen(item.color)
        painter.drawText(label_rect(item, mvp, scale)[1], item.text)
    painter.end()


def _log_ticks(lo: float, hi: float) -> tuple[np.ndarray, list[str]]:
    """Ticks of the log scale (heights are sign(f) log10(1 + |f|)): 0 and powers of ten of f at their
    heights, every second or third decade when there are many. Within a decade the scale is nearly
    linear: round values of f then, at their heights."""
    slack = 0.005 * (hi - lo)
    if hi - lo < 1:
        values = nice_ticks(float(np.sign(lo) * (10 ** abs(lo) - 1)), float(np.sign(hi) * (10 ** abs(hi) - 1)), TICKS)
        return symlog(values), tick_texts(values)
    found = [(s * k, s) for k in range(0, 309) for s in (-1, 1)
             if lo - slack <= s * np.log10(1 + 10.0 ** k) <= hi + slack]
    every = int(np.ceil(len({k for k, _ in found}) / TICKS))
    found = sorted(((s * np.log10(1 + 10.0 ** abs(k)), s, abs(k)) for k, s in found if abs(k) % every == 0))
    if lo - slack <= 0 <= hi + slack:
        found = [(0.0, 0, 0)] + found
    kept = []  # 0 first, then the largest decades: none closer than a tenth of the axis to another
    for t in sorted(found, key=lambda t: (t[1] != 0, -t[2])):
        if all(abs(t[0] - u[0]) >= (hi - lo) / (2 * TICKS) for u in kept):
            kept.append(t)
    found = sorted(kept)
    big = any(k >= 4 for _, _, k in found)
    sup = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")

    def text(s: int, k: int) -> str:
        if s == 0:
            return "0"
        return ("−" if s < 0 else "") + (f"10{str(k).translate(sup)}" if big else str(10 ** k))

    return np.array([t[0] for t in found]), [text(s, k) for _, s, k in found]


class SurfaceView(ContextMenu, QtWidgets.QWidget):
    """GL surface + axes + selected point and its gradient; or a message when there is no surface.

    ``cameraMoved(camera)`` when the user turns or zooms the view (a dict: distance, elevation,
    azimuth, center); ``set_camera`` shows one, or fits the box (None)."""

    cameraMoved = QtCore.pyqtSignal(object)
    exportRequested = QtCore.pyqtSignal(str)  # "surface": File > Export for this view
    VIEW, VIEW_TITLE = "surface", "3D view"

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self._stack = QtWidgets.QStackedLayout(self)
        self.gl = gl.GLViewWidget(self)
        # A native child window: each frame swaps only the GL area instead of making Qt recompose the
        # whole window in software (measured: 57 -> 67 fps at N = 200 on llvmpipe, and the animated
        # busy bar no longer costs a CPU).
        self.gl.setAttribute(QtCore.Qt.WidgetAttribute.WA_NativeWindow)
        self.gl.setBackgroundColor("w")
        self.gl.setMinimumSize(200, 200)
        self.message = QtWidgets.QLabel(self)
        self.message.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #555; font-size: 14px;")
        self._stack.addWidget(self.gl)
        self._stack.addWidget(self.message)
        self._cmap = pg.colormap.get(COLORMAP)
        self._box = (-1.0, 1.0, -1.0, 1.0, 0.0, 1.0)  # x0, x1, y0, y1, zlo, zhi
        self._names = ("x", "y")
        self._log = False
        self._fitted = True  # the camera is the fitted one (None in the Session): refit when resized
        self._fit_pending = True  # reset before this surface (and its labels) arrived: fit again then
        self._layout_key = None

        translucent = dict(GLOptions["translucent"])
        self.floor = gl.GLLinePlotItem(mode="lines", color=(0, 0, 0, 0.13), width=1, antialias=True,
                                       glOptions=translucent)
        self.surface = gl.GLSurfacePlotItem(shader=None, computeNormals=False, smooth=False)
        self.surface.setGLOptions({**GLOptions["opaque"], **_OFFSET_OFF})
        self.frame = gl.GLLinePlotItem(mode="lines", color=INK, width=1.5, antialias=True)
        self.isolines = gl.GLLinePlotItem(mode="lines", color=(0.1, 0.1, 0.1, 0.8), width=1.2, antialias=True)
        selected = QtGui.QColor(SELECTED_COLOR).getRgbF()
        self.marker = gl.GLScatterPlotItem(color=selected, size=14, pxMode=True)
        self.arrow = gl.GLLinePlotItem(mode="lines", color=selected, width=3, antialias=True)
        self.critical = gl.GLScatterPlotItem(size=12, pxMode=True)
        # Points and arrows are drawn over the surface (no depth test), so one on a slope stays visible.
        on_top = {GL.GL_DEPTH_TEST: False, GL.GL_BLEND: True,
                  "glBlendFunc": (GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA)}
        # The local models at the selected point: solid where in front of the surface (depth-tested,
        # offset towards the camera), faint where behind it, and outlined, so the patch reads at a glance.
        self._models = {}
        for which, (rgb, offset) in MODELS.items():
            ghost = gl.GLSurfacePlotItem(shader=None, computeNormals=False, glOptions={**on_top, **_OFFSET_OFF})
            solid = gl.GLSurfacePlotItem(shader=None, computeNormals=False, glOptions={
                **translucent, GL.GL_POLYGON_OFFSET_FILL: True, "glPolygonOffset": (offset, offset)})
            outline = gl.GLLinePlotItem(mode="lines", color=(*(0.6 * c for c in rgb), 1.0), width=1.5,
                                        antialias=True, glOptions=on_top)
            self._models[which] = (ghost, solid, outline)
        self.plane, self.quadric = self._models["plane"][1], self._models["quadric"][1]
        for item in (self.floor, self.surface, self.frame, self.isolines,
                     *(i for m in self._models.values() for i in m), self.critical, self.marker, self.arrow):
            self.gl.addItem(item)
        for item in (*self._models["plane"], *self._models["quadric"]):
            item.setVisible(False)
        for item in (self.marker, self.arrow, self.critical):
            item.setGLOptions(on_top)
        self._paths: dict[str, tuple[gl.GLLinePlotItem, gl.GLScatterPlotItem]] = {}
        self._drawn: dict[str, np.ndarray] = {}  # each path's polyline as drawn (NaN rows between pieces)
        self._path_input: list[dict] = []  # as last given: drawn again, clipped anew, when the box changes
        self._on_top = on_top
        self._ticks = {axis: [gl.GLTextItem(color=TEXT, font=QtGui.QFont("Sans", 9)) for _ in range(MAX_TICKS)]
                       for axis in ("x", "y", "f")}
        self.tick_labels = [item for items in self._ticks.values() for item in items]
        self.axis_labels = [gl.GLTextItem(color=TEXT, font=QtGui.QFont("Sans", 13, QtGui.QFont.Weight.Bold),
                                          text=t) for t in ("x", "y", "f")]
        for item in self.tick_labels + self.axis_labels:
            self.gl.addItem(item)
        self.isolines.setVisible(False)
        self.clear_point()
        self.reset_view()
        self.gl.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        """The user's drag or wheel ended: say where the camera is now. While turning, the axes' labels
        follow to the edges facing the camera. A right click: calcviz's menu."""
        if watched is self.gl and event.type() == QtCore.QEvent.Type.ContextMenu:
            self.context_menu().exec(event.globalPos())
            return True
        if watched is self.gl:
            kind = event.type()
            if kind in (QtCore.QEvent.Type.MouseButtonRelease, QtCore.QEvent.Type.Wheel):
                self._fitted = False
                QtCore.QTimer.singleShot(0, lambda: self.cameraMoved.emit(self.camera()))
            elif kind == QtCore.QEvent.Type.MouseMove:
                self._place_axes()
            elif kind == QtCore.QEvent.Type.Resize:
                self._refit()
        return super().eventFilter(watched, event)

    def camera(self) -> dict:
        opts = self.gl.opts
        c = opts["center"]
        return {"distance": float(opts["distance"]), "elevation": float(opts["elevation"]),
                "azimuth": float(opts["azimuth"]), "center": (c.x(), c.y(), c.z())}

    def set_camera(self, camera) -> None:
        """Show the camera (a dict as camera() gives, or a model with those fields); None fits the box."""
        if camera is None:
            self.reset_view()
            return
        get = camera.get if isinstance(camera, dict) else lambda k: getattr(camera, k)
        self._fitted = False
        self.gl.setCameraPosition(pos=QtGui.QVector3D(*map(float, get("center"))), distance=float(get("distance")),
                                  elevation=float(get("elevation")), azimuth=float(get("azimuth")))
        self._place_axes()

    # ------------------------------------------------------------------ mapping
    def to_scene(self, x, y, z):
        x0, x1, y0, y1, zlo, zhi = self._box
        return (-S + 2 * S * (np.asarray(x) - x0) / (x1 - x0),
                -S + 2 * S * (np.asarray(y) - y0) / (y1 - y0),
                H * (np.clip(np.asarray(z, dtype=float), zlo, zhi) - zlo) / (zhi - zlo))

    # ------------------------------------------------------------------ public
    def show_message(self, text: str) -> None:
        self.message.setText(text)
        self._stack.setCurrentWidget(self.message)

    def set_grid(self, xs: np.ndarray, ys: np.ndarray, z: np.ndarray, limits: tuple[float, float],
                 levels: np.ndarray, isolines: list[np.ndarray], names: tuple[str, str] = ("x", "y"),
                 log: bool = False) -> None:
        """Draw f over xs x ys. ``limits`` are the colour/height limits; ``isolines`` one (K,2,2) array per
        level. ``log``: z holds sign(f) log10(1 + |f|) (the f axis is then labelled in f)."""
        self._stack.setCurrentWidget(self.gl)
        self._box = (float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1]), *limits)
        self._names, self._log = tuple(names), bool(log)
        stride = max(1, int(np.ceil(max(len(xs), len(ys)) / MESH_MAX_SIDE)))
        if stride > 1:  # keep the box's edges: take every stride-th node and always the last one
            ix = np.unique(np.r_[np.arange(0, len(xs), stride), len(xs) - 1])
            iy = np.unique(np.r_[np.arange(0, len(ys), stride), len(ys) - 1])
            xs, ys, z = xs[ix], ys[iy], z[np.ix_(ix, iy)]
        sx, sy, sz = self.to_scene(xs, ys, z)
        finite = np.isfinite(z)
        colors = self._cmap.map(np.clip((np.where(finite, z, limits[0]) - limits[0]) / (limits[1] - limits[0]), 0, 1),
                                mode="float").reshape(-1, 4)
        colors[~finite.ravel(), 3] = 0.0
        # Holes: undefined vertices are pushed below the floor and made transparent.
        sz = np.where(finite, sz, np.nan)
        self.surface.setData(x=sx, y=sy, z=np.nan_to_num(sz, nan=FLOOR - 0.01 * H), colors=colors)
        self.surface.setGLOptions({**GLOptions["opaque" if finite.all() else "translucent"],
                                   **_OFFSET_OFF})
        self._set_isolines(levels, isolines)
        self._draw_axes()
        if self._path_input:
            self.set_paths(self._path_input)  # clipped to the new box
        # The fitted camera makes room for new labels (2500 is wider than 2): after a reset, or when one
        # is cut off; not at every new grid, or the view would breathe while a parameter's slider moves.
        if self._fit_pending or not self._labels_on_screen():
            self._refit()
        self._fit_pending = False

    def _set_isolines(self, levels, isolines) -> None:
        lifted = []
        for level, segments in zip(levels, isolines):
            if len(segments):
                px, py, pz = self.to_scene(segments[..., 0].ravel(), segments[..., 1].ravel(), np.full(segments.size // 2, level))
                lifted.append(np.column_stack([px, py, pz + 0.02]))
        self.isolines.setData(pos=np.concatenate(lifted) if lifted else np.zeros((0, 3)))

    def set_isolines_visible(self, visible: bool) -> None:
        self.isolines.setVisible(visible)

    # ------------------------------------------------------------------ axes
    def _axis_ticks(self) -> dict[str, tuple[np.ndarray, list[str]]]:
        """Round tick values of each axis, their scene coordinate along it, and their texts."""
        x0, x1, y0, y1, zlo, zhi = self._box
        out = {}
        for axis, lo, hi, scene_lo, scene_span in (("x", x0, x1, -S, 2 * S), ("y", y0, y1, -S, 2 * S)):
            values = nice_ticks(lo, hi, TICKS)[:MAX_TICKS]
            out[axis] = (scene_lo + scene_span * (values - lo) / (hi - lo), tick_texts(values))
        heights, texts = _log_ticks(zlo, zhi) if self._log else (nice_ticks(zlo, zhi, TICKS), None)
        texts = texts or tick_texts(heights)
        out["f"] = (H * (np.asarray(heights)[:MAX_TICKS] - zlo) / (zhi - zlo), texts[:MAX_TICKS])
        return out

    def _sides(self) -> tuple[float, float, tuple[float, float]]:
        """Which edges face the camera: x is labelled along y = sy*S, y along x = sx*S (the two edges
        meeting at the floor's corner nearest the camera), f up the corner at the left end of those."""
        a = np.radians(self.gl.opts["azimuth"])
        sx, sy = (1.0 if np.cos(a) >= 0 else -1.0), (1.0 if np.sin(a) >= 0 else -1.0)
        right = np.array([-np.sin(a), np.cos(a)])  # the screen's x direction on the floor
        ends = [(-sx * S, sy * S), (sx * S, -sy * S)]
        corner = min(ends, key=lambda c: float(np.dot(c, right)))
        return sx, sy, corner

    def _alignment(self, at, outward) -> Align:
        """Text placed on the side of its anchor that ``outward`` (a scene direction) points to on screen."""
        mvp = _mvp(self.gl, 640, 480)
        p = mvp.map(QtGui.QVector3D(*at)).toPointF()
        q = mvp.map(QtGui.QVector3D(*(np.asarray(at) + outward))).toPointF()
        dx, dy = q.x() - p.x(), q.y() - p.y()
        norm = max(np.hypot(dx, dy), 1e-9)
        h = Align.AlignRight if dx < -0.4 * norm else Align.AlignLeft if dx > 0.4 * norm else Align.AlignHCenter
        v = Align.AlignTop if dy > 0.4 * norm else Align.AlignBottom if dy < -0.4 * norm else Align.AlignVCenter
        return h | v

    def _draw_axes(self) -> None:
        self._layout_key = None
        self._place_axes()
        ticks = self._axis_ticks()
        grid = [((t, -S, FLOOR), (t, S, FLOOR)) for t in ticks["x"][0]]
        grid += [((-S, t, FLOOR), (S, t, FLOOR)) for t in ticks["y"][0]]
        self.floor.setData(pos=np.array(grid, float).reshape(-1, 3))

    def _place_axes(self) -> None:
        """Axis lines, tick marks and labels on the edges that face the camera (again when it turns)."""
        key = (self._sides(), self._box, self._names, self._log)
        if key == self._layout_key:
            return
        self._layout_key = key
        sx, sy, (cx, cy) = self._sides()
        ticks = self._axis_ticks()
        out_x, out_y = np.array([0.0, sy, 0.0]), np.array([sx, 0.0, 0.0])
        out_f = np.array([cx, cy, 0.0]) / np.hypot(cx, cy)
        lines = [(-S, sy * S, FLOOR), (S, sy * S, FLOOR), (sx * S, -S, FLOOR), (sx * S, S, FLOOR),
                 (cx, cy, FLOOR), (cx, cy, H)]
        places = {"x": lambda t: np.array([t, sy * S, FLOOR]), "y": lambda t: np.array([sx * S, t, FLOOR]),
                  "f": lambda t: np.array([cx, cy, t])}
        for axis, outward in (("x", out_x), ("y", out_y), ("f", out_f)):
            positions, texts = ticks[axis]
            items = self._ticks[axis]
            for k, item in enumerate(items):
                if k >= len(texts):
                    item.setData(text="")
                    continue
                base = places[axis](positions[k])
                lines += [tuple(base), tuple(base + TICK * outward)]
                at = base + (TICK + TICK_GAP) * outward
                item.setData(pos=at, text=texts[k], alignment=self._alignment(at, outward))
        self.frame.setData(pos=np.array(lines, float))
        def gap(axis: str) -> float:  # an axis' name sits between its two middle ticks, not under one
            p = np.asarray(ticks[axis][0])
            mids = (p[:-1] + p[1:]) / 2 if len(p) > 1 else np.zeros(1)
            return float(mids[np.argmin(np.abs(mids))])

        titles = ((places["x"](gap("x")) + TITLE_GAP * out_x, out_x),
                  (places["y"](gap("y")) + TITLE_GAP * out_y, out_y),
                  (places["f"](H) + np.array([0.0, 0.0, 0.9]), np.array([0.0, 0.0, 1.0])))
        for item, text, (at, outward) in zip(self.axis_labels, (*self._names, "f"), titles):
            item.setData(pos=at, text=text, alignment=self._alignment(at, outward))

    def label_boxes(self) -> dict[str, list[QtCore.QRectF]]:
        """Each label's ink in the view's pixels, by axis ("x", "y", "f"; "titles" for the axes' names)."""
        mvp = _mvp(self.gl, max(self.gl.width(), 1), max(self.gl.height(), 1))
        out = {axis: [label_rect(i, mvp)[0] for i in items if i.text] for axis, items in self._ticks.items()}
        out["titles"] = [label_rect(i, mvp)[0] for i in self.axis_labels if i.text]
        return out

    def tick_values(self) -> dict[str, list[str]]:
        """The tick labels shown on each axis."""
        return {axis: [i.text for i in items if i.text] for axis, items in self._ticks.items()}

    # ------------------------------------------------------------------ point, models, paths
    def set_point(self, x: float, y: float, z: float, gradient: tuple[float, float]) -> None:
        """Mark (x, y, f) and draw the gradient as an arrow along the tangent plane."""
        px, py, pz = (float(v) for v in self.to_scene(x, y, z))
        if not np.isfinite(pz):
            self.clear_point()
            return
        self.marker.setData(pos=np.array([[px, py, pz]]))
        gx, gy = gradient
        x0, x1, y0, y1, zlo, zhi = self._box
        # Direction of steepest ascent in scene units (x and y scale differently), lifted along the tangent plane.
        sx, sy = 2 * S / (x1 - x0), 2 * S / (y1 - y0)
        vx, vy = gx * sx, gy * sy
        norm = float(np.hypot(vx, vy))
        if not np.isfinite(norm) or norm == 0:
            self.arrow.setData(pos=np.zeros((0, 3)))
            return
        length = 0.2 * S
        ux, uy = vx / norm * length, vy / norm * length
        rise = (gx * ux / sx + gy * uy / sy) * H / (zhi - zlo)  # df along the step, in scene units
        if self._log:  # heights are sign(f) log10(1 + |f|): its slope is 1 / ((1 + |f|) ln 10)
            rise /= (10.0 ** min(abs(float(z)), 300.0)) * np.log(10.0)
        tip = np.array([px + ux, py + uy, pz + rise])
        base = np.array([px, py, pz])
        back = (base - tip) * 0.25
        side = np.array([-uy, ux, 0.0]) * 0.12
        self.arrow.setData(pos=np.array([base, tip, tip, tip + back + side, tip, tip + back - side]))

    def set_critical_points(self, points: list[dict], axes=("x", "y")) -> None:
        """Critical points (Engine.find_critical_points' entries) at (x, y, f), coloured by type."""
        if len(points) == 0 or len(axes) != 2:
            self.critical.setData(pos=np.zeros((0, 3)))
            return
        xyz = np.array([[p["point"][axes[0]], p["point"][axes[1]], p["value"]] for p in points], float)
        colors = np.array([QtGui.QColor(TYPE_STYLE[p["type"]]["color"]).getRgbF() for p in points], float)
        sx, sy, sz = self.to_scene(xyz[:, 0], xyz[:, 1], xyz[:, 2])
        self.critical.setData(pos=np.column_stack([sx, sy, sz]), color=colors)

    def set_paths(self, paths: list[dict]) -> None:
        """Descent paths lifted onto the surface: [{"label", "optimizer", "x", "y", "z"}] in data units.
        A path that leaves the box (x, y or f) ends at its edge, and resumes where it comes back."""
        self._path_input = paths
        wanted = {p["label"] for p in paths}
        for label in list(self._paths):
            if label not in wanted:
                for item in self._paths.pop(label):
                    self.gl.removeItem(item)
                self._drawn.pop(label, None)
        for p in paths:
            if p["label"] not in self._paths:
                rgba = QtGui.QColor(run_color(p)).getRgbF()
                line = gl.GLLinePlotItem(mode="lines", color=rgba, width=2.5, antialias=True)
                dots = gl.GLScatterPlotItem(color=rgba, size=6, pxMode=True)
                for item in (line, dots):
                    item.setGLOptions(self._on_top)  # over the surface, like the selected point
                    self.gl.addItem(item)
                self._paths[p["label"]] = (line, dots)
            line, dots = self._paths[p["label"]]
            x, y, z = (np.asarray(p[k], float) for k in ("x", "y", "z"))
            x0, x1, y0, y1, zlo, zhi = self._box
            (cx, cy, cz), at = clip_path((x, y, z), ((x0, x1), (y0, y1), (zlo, zhi)))
            sx, sy, sz = self.to_scene(cx, cy, cz)
            pos = np.column_stack([sx, sy, np.asarray(sz) + 0.05]).reshape(-1, 3)
            self._drawn[p["label"]] = pos
            pairs = np.stack([pos[:-1], pos[1:]], 1)
            line.setData(pos=pairs[np.isfinite(pairs).all(axis=(1, 2))].reshape(-1, 3))
            steps = pos[at == np.floor(at)]
            dots.setData(pos=steps if len(steps) <= 400 else steps[-1:])

    def path_positions(self, label: str) -> np.ndarray:
        """The path as drawn, in scene units (NaN rows where it leaves the box and comes back)."""
        return self._drawn[label]

    def set_model(self, which: str, xs=None, ys=None, z=None) -> None:
        """Draw the tangent plane ("plane") or quadratic model ("quadric") over xs x ys; None hides it.
        What rises above or falls below the box fades out instead of being flattened onto its lid."""
        items = self._models[which]
        if z is None:
            for item in items:
                item.setVisible(False)
            return
        ghost, solid, outline = items
        x0, x1, y0, y1, zlo, zhi = self._box
        z = np.asarray(z, float)
        sx, sy, sz = self.to_scene(xs, ys, z)
        # Beyond the box' f range a model fades out over FADE (scene units): with alpha linear in the height
        # the fade follows the model's own level lines, not the steps of its grid.
        height = H * (z - zlo) / (zhi - zlo)
        fade = np.clip(1 - np.maximum(-height, height - H) / FADE, 0, 1)
        fade[~np.isfinite(fade)] = 0.0
        inside = fade > 0.5
        sz = np.where(np.isfinite(sz), sz, np.nan)
        rgb = MODELS[which][0]
        for item, alpha in ((ghost, GHOST_ALPHA), (solid, MODEL_ALPHA)):
            colors = np.tile([*rgb, alpha], (z.size, 1))
            colors[:, 3] *= fade.ravel()
            item.setData(x=sx, y=sy, z=sz, colors=colors)
        ring = np.concatenate([np.column_stack([np.zeros(len(ys), int), np.arange(len(ys))]),
                               np.column_stack([np.arange(len(xs)), np.full(len(xs), len(ys) - 1)]),
                               np.column_stack([np.full(len(ys), len(xs) - 1), np.arange(len(ys))[::-1]]),
                               np.column_stack([np.arange(len(xs))[::-1], np.zeros(len(xs), int)])])
        X, Y = np.meshgrid(sx, sy, indexing="ij")
        border = np.column_stack([X[ring[:, 0], ring[:, 1]], Y[ring[:, 0], ring[:, 1]], sz[ring[:, 0], ring[:, 1]]])
        shown = inside[ring[:, 0], ring[:, 1]]
        pairs = np.stack([border[:-1], border[1:]], 1)[shown[:-1] & shown[1:]]
        outline.setData(pos=pairs.reshape(-1, 3))
        for item in items:
            item.setVisible(True)

    def clear_point(self) -> None:
        self.marker.setData(pos=np.zeros((0, 3)))
        self.arrow.setData(pos=np.zeros((0, 3)))

    # ------------------------------------------------------------------ camera
    def reset_view(self) -> None:
        """The fitted camera: the default angles, the box and its labels filling the view."""
        self._fitted = self._fit_pending = True
        self.gl.setCameraPosition(pos=QtGui.QVector3D(0, 0, H / 2), distance=2.9 * S, **CAMERA)
        self._refit()

    def _refit(self) -> None:
        if not self._fitted:
            return
        self._place_axes()
        w, h = self.gl.width(), self.gl.height()
        if w > 50 and h > 50:  # not laid out yet: the resize that follows fits it
            distance, center = _fit(self.gl, w, h, *self._content())
            self.gl.setCameraPosition(pos=center, distance=distance)

    def _labels_on_screen(self) -> bool:
        frame = QtCore.QRectF(0, 0, self.gl.width(), self.gl.height())
        return all(frame.contains(r) for group in self.label_boxes().values() for r in group)

    def _content(self, on_screen: bool = False) -> tuple[np.ndarray, list[gl.GLTextItem]]:
        """What a fitted camera must show: the floor, the f axis, the surface (sampled) and the labels.
        ``on_screen``: only what the view shows now (an export keeps the user's zoom)."""
        points = [(x, y, FLOOR) for x in (-S, S) for y in (-S, S)]
        points.append((*self._sides()[2], H))  # the top of the f axis
        vertices = self.surface._vertexes
        if vertices is not None and self._stack.currentWidget() is self.gl:
            k = max(1, max(vertices.shape[:2]) // 40)
            points += list(map(tuple, vertices[::k, ::k].reshape(-1, 3)))
        points = np.array(points, float)
        labels = _labels(self.gl)
        if on_screen:
            mvp = _mvp(self.gl, max(self.gl.width(), 1), max(self.gl.height(), 1))
            px = _pixels(mvp, points)
            seen = (px[:, 0] >= 0) & (px[:, 0] <= self.gl.width()) & (px[:, 1] >= 0) & (px[:, 1] <= self.gl.height())
            points = points[seen] if seen.any() else points
            frame = QtCore.QRectF(0, 0, self.gl.width(), self.gl.height())
            labels = [item for item in labels if frame.intersects(label_rect(item, mvp)[0])]
        return points, labels

    def render_image(self, width: int, height: int) -> np.ndarray:
        """The view rendered offscreen at a chosen size, (h, w, 4) RGBA uint8."""
        # Tiles overlap by ``padding``; pyqtgraph's 256 makes a 1600x1000 render draw the scene 3x as often
        # for no visible gain (measured: 148 -> 50 ms, ~85 pixels differ by anti-aliasing).
        bgra = self.gl.renderToArray((width, height), padding=32)  # (h, w, 4), BGRA
        return np.ascontiguousarray(bgra[..., [2, 1, 0, 3]])

    def export_image(self, w: int, h: int, label_scale: float | None = None) -> QtGui.QImage:
        """The view as a w x h image for export: the box refitted to the image's shape (the user's
        angles kept), with the tick and axis labels drawn in at their projected places, ``label_scale``
        times their size on screen (default: grown with the image, within reason)."""
        view = self.gl
        distance = view.opts["distance"]
        if label_scale is None:  # text grows with the drawing (as it would on a screen that size)
            label_scale = float(np.clip(min(w / max(view.width(), 1), h / max(view.height(), 1)), 1.0, LABEL_SCALE_MAX))
        points, labels = self._content(on_screen=not self._fitted)
        fitted = _fit(view, w, h, points, labels, label_scale)
        labels = _labels(view)
        # Hidden while rendering: a GLTextItem opens a QPainter on the widget, which binds the widget's
        # own framebuffer, so every item drawn after it (the descent paths) would miss the offscreen image.
        for item in labels:
            item.setVisible(False)
        center = QtGui.QVector3D(view.opts["center"])
        view.opts["distance"], view.opts["center"] = fitted
        # Points and lines are sized in pixels: they grow with the labels.
        points = [i for i in view.items if isinstance(i, gl.GLScatterPlotItem) and np.isscalar(i.size)]
        lines = [i for i in view.items if isinstance(i, gl.GLLinePlotItem)]
        sizes, widths = [i.size for i in points], [i.width for i in lines]
        for item in points:
            item.size = item.size * label_scale
        for item in lines:
            item.width = item.width * label_scale
        try:
            rgba = self.render_image(w, h)
            image = QtGui.QImage(rgba.data, w, h, 4 * w, QtGui.QImage.Format.Format_RGBA8888).copy()
            _draw_labels(view, labels, image, label_scale)
        finally:
            view.opts["distance"], view.opts["center"] = distance, center
            for item, size in zip(points, sizes):
                item.size = size
            for item, width in zip(lines, widths):
                item.width = width
            for item in labels:
                item.setVisible(True)
        return image.convertToFormat(QtGui.QImage.Format.Format_RGB32)
