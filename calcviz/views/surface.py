"""The 3D surface view: the graph of f over the box, coloured by height, with labelled axes.

The box is drawn in a fixed scene cube (x, y in [-S, S], z in [0, H]) so every function looks
well proportioned; tick labels carry the real values. Items are created once and updated.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
import pyqtgraph.opengl as gl
from OpenGL import GL
from PyQt6 import QtCore, QtGui, QtWidgets

from .common import TYPE_STYLE, ContextMenu, run_color

S = 10.0     # half-width of the box in scene units
MESH_MAX_SIDE = 300  # level of detail: a denser mesh has more triangles than the view has pixels
H = 10.0     # height of the value range in scene units
TICKS = 5
COLORMAP = "viridis"
INK = (0.15, 0.15, 0.2, 1.0)
TEXT = QtGui.QColor(40, 40, 50)


LABEL_SCALE_MAX = 1.6  # exported labels grow with the image up to this factor
FILL = 0.92            # the box and its labels fill this much of an exported image


def _fmt(v: float) -> str:
    return f"{v:.3g}"


def _content_points(view) -> list[tuple[float, float, float]]:
    """Scene points an exported image must show: the box's corners and every label."""
    corners = [(x, y, z) for x in (-S, S) for y in (-S, S) for z in (0.0, H)]
    return corners + [tuple(map(float, item.pos)) for item in _labels(view)]


def _labels(view) -> list[gl.GLTextItem]:
    return [item for item in view.items if isinstance(item, gl.GLTextItem) and item.visible() and item.text]


def _ndc(view, points, w: int, h: int) -> np.ndarray:
    """Normalised device coordinates (x, y) of scene points for a w x h image of the current camera."""
    mvp = view.projectionMatrix((0, 0, w, h), (0, 0, w, h)) * view.viewMatrix()
    mapped = [mvp.map(QtGui.QVector3D(*p)) for p in points]
    return np.array([[v.x(), v.y()] for v in mapped], float).reshape(-1, 2)


def _fit_distance(view, w: int, h: int) -> float:
    """The camera distance at which what the screen shows of the box fills a w x h image.

    The camera keeps the user's angles; only the zoom changes. Without this an image wider than the
    (usually tall) view crops the box: the GL projection keeps the horizontal field of view."""
    points = _content_points(view)
    on_screen = np.all(np.abs(_ndc(view, points, max(view.width(), 1), max(view.height(), 1))) <= 1.0, axis=1)
    if not on_screen.any():
        return view.opts["distance"]
    points = [p for p, keep in zip(points, on_screen) if keep]
    distance = view.opts["distance"]
    try:
        for _ in range(3):  # perspective: the size is not exactly inverse to the distance; three steps settle it
            extent = float(np.abs(_ndc(view, points, w, h)).max())
            view.opts["distance"] *= extent / FILL
        return view.opts["distance"]
    finally:
        view.opts["distance"] = distance


def _draw_labels(view, labels: list[gl.GLTextItem], image: QtGui.QImage, scale: float) -> None:
    """The tick and axis labels. GLTextItem paints them with a QPainter on the widget, which an
    offscreen render never sees: drawn here at the same projected places."""
    w, h = image.width(), image.height()
    if not labels:
        return
    to_pixels = QtGui.QMatrix4x4()
    to_pixels.viewport(0, h, w, -h)
    mvp = to_pixels * view.projectionMatrix((0, 0, w, h), (0, 0, w, h)) * view.viewMatrix()
    painter = QtGui.QPainter(image)
    painter.setRenderHints(QtGui.QPainter.RenderHint.Antialiasing | QtGui.QPainter.RenderHint.TextAntialiasing)
    Align = QtCore.Qt.AlignmentFlag
    for item in labels:
        font = QtGui.QFont(item.font)
        font.setPointSizeF(item.font.pointSizeF() * scale)
        painter.setFont(font)
        painter.setPen(item.color)
        at = mvp.map(QtGui.QVector3D(*map(float, item.pos))).toPointF()
        box = QtGui.QFontMetricsF(font).tightBoundingRect(item.text)
        dx = box.width() if item.alignment & Align.AlignRight else box.width() / 2 if item.alignment & Align.AlignHCenter else 0
        dy = box.height() if item.alignment & Align.AlignTop else box.height() / 2 if item.alignment & Align.AlignVCenter else 0
        painter.drawText(QtCore.QPointF(at.x() - dx, at.y() + dy), item.text)
    painter.end()


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

        self.floor = gl.GLGridItem(color=(0, 0, 0, 40))
        self.floor.setSize(2 * S, 2 * S)
        self.floor.setSpacing(2 * S / (TICKS - 1), 2 * S / (TICKS - 1))
        self.surface = gl.GLSurfacePlotItem(shader=None, computeNormals=False, smooth=False, glOptions="opaque")
        self.frame = gl.GLLinePlotItem(mode="lines", color=INK, width=1.5, antialias=True)
        self.isolines = gl.GLLinePlotItem(mode="lines", color=(0.1, 0.1, 0.1, 0.8), width=1.2, antialias=True)
        self.marker = gl.GLScatterPlotItem(color=(0.85, 0.1, 0.1, 1), size=14, pxMode=True)
        self.arrow = gl.GLLinePlotItem(mode="lines", color=(0.85, 0.1, 0.1, 1), width=3, antialias=True)
        self.critical = gl.GLScatterPlotItem(size=12, pxMode=True)
        # The local models at the selected point, translucent over the surface.
        self.plane = gl.GLSurfacePlotItem(shader=None, computeNormals=False, color=(1.0, 0.5, 0.05, 0.45),
                                          glOptions="translucent")
        self.quadric = gl.GLSurfacePlotItem(shader=None, computeNormals=False, color=(0.58, 0.40, 0.74, 0.45),
                                            glOptions="translucent")
        for item in (self.floor, self.surface, self.frame, self.isolines, self.plane, self.quadric, self.critical,
                     self.marker, self.arrow):
            self.gl.addItem(item)
        self.plane.setVisible(False)
        self.quadric.setVisible(False)
        # Points and arrows are drawn over the surface (no depth test), so one on a slope stays visible.
        on_top = {GL.GL_DEPTH_TEST: False, GL.GL_BLEND: True,
                  "glBlendFunc": (GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA)}
        for item in (self.marker, self.arrow, self.critical):
            item.setGLOptions(on_top)
        self._paths: dict[str, tuple[gl.GLLinePlotItem, gl.GLScatterPlotItem]] = {}
        self._on_top = on_top
        self.tick_labels = [gl.GLTextItem(color=TEXT, font=QtGui.QFont("Sans", 9)) for _ in range(3 * TICKS)]
        self.axis_labels = [gl.GLTextItem(color=TEXT, font=QtGui.QFont("Sans", 13, QtGui.QFont.Weight.Bold),
                                          text=t) for t in ("x", "y", "f")]
        for item in self.tick_labels + self.axis_labels:
            self.gl.addItem(item)
        self.isolines.setVisible(False)
        self.clear_point()
        self.reset_view()
        self.gl.installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        """The user's drag or wheel ended: say where the camera is now. A right click: calcviz's menu."""
        if watched is self.gl and event.type() == QtCore.QEvent.Type.ContextMenu:
            self.context_menu().exec(event.globalPos())
            return True
        if watched is self.gl and event.type() in (QtCore.QEvent.Type.MouseButtonRelease, QtCore.QEvent.Type.Wheel):
            QtCore.QTimer.singleShot(0, lambda: self.cameraMoved.emit(self.camera()))
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
        self.gl.setCameraPosition(pos=QtGui.QVector3D(*map(float, get("center"))), distance=float(get("distance")),
                                  elevation=float(get("elevation")), azimuth=float(get("azimuth")))

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
                 levels: np.ndarray, isolines: list[np.ndarray], names: tuple[str, str] = ("x", "y")) -> None:
        """Draw f over xs x ys. ``limits`` are the colour/height limits; ``isolines`` one (K,2,2) array per level."""
        self._stack.setCurrentWidget(self.gl)
        self._box = (float(xs[0]), float(xs[-1]), float(ys[0]), float(ys[-1]), *limits)
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
        self.surface.setData(x=sx, y=sy, z=np.nan_to_num(sz, nan=-0.01 * H), colors=colors)
        self.surface.setGLOptions("opaque" if finite.all() else "translucent")
        self._set_isolines(levels, isolines)
        self._draw_axes(names)

    def _set_isolines(self, levels, isolines) -> None:
        lifted = []
        for level, segments in zip(levels, isolines):
            if len(segments):
                px, py, pz = self.to_scene(segments[..., 0].ravel(), segments[..., 1].ravel(), np.full(segments.size // 2, level))
                lifted.append(np.column_stack([px, py, pz + 0.02]))
        self.isolines.setData(pos=np.concatenate(lifted) if lifted else np.zeros((0, 3)))

    def set_isolines_visible(self, visible: bool) -> None:
        self.isolines.setVisible(visible)

    def _draw_axes(self, names) -> None:
        x0, x1, y0, y1, zlo, zhi = self._box
        c = [(-S, -S, 0), (S, -S, 0), (-S, -S, 0), (-S, S, 0), (-S, S, 0), (-S, S, H)]
        self.frame.setData(pos=np.array(c, dtype=float))
        k = 0
        for t in np.linspace(0, 1, TICKS):
            for pos, value in (((-S + 2 * S * t, -S - 1.2, 0), x0 + t * (x1 - x0)),
                               ((-S - 1.5, -S + 2 * S * t, 0), y0 + t * (y1 - y0)),
                               ((-S + 0.3, S + 1.2, H * t), zlo + t * (zhi - zlo))):
                self.tick_labels[k].setData(pos=pos, text=_fmt(value))
                k += 1
        self.axis_labels[0].setData(pos=(0, -S - 3.0, 0), text=names[0])
        self.axis_labels[1].setData(pos=(-S - 3.5, 0, 0), text=names[1])
        self.axis_labels[2].setData(pos=(-S - 1.0, S + 1.0, H + 1.2), text="f")

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
        """Descent paths lifted onto the surface: [{"label", "optimizer", "x", "y", "z"}] in data units."""
        wanted = {p["label"] for p in paths}
        for label in list(self._paths):
            if label not in wanted:
                for item in self._paths.pop(label):
                    self.gl.removeItem(item)
        for p in paths:
            if p["label"] not in self._paths:
                rgba = QtGui.QColor(run_color(p)).getRgbF()
                line = gl.GLLinePlotItem(mode="line_strip", color=rgba, width=2.5, antialias=True)
                dots = gl.GLScatterPlotItem(color=rgba, size=6, pxMode=True)
                for item in (line, dots):
                    item.setGLOptions(self._on_top)  # over the surface, like the selected point
                    self.gl.addItem(item)
                self._paths[p["label"]] = (line, dots)
            line, dots = self._paths[p["label"]]
            x, y, z = (np.asarray(p[k], float) for k in ("x", "y", "z"))
            keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(z)
            sx, sy, sz = self.to_scene(x[keep], y[keep], z[keep])
            pos = np.column_stack([sx, sy, np.asarray(sz) + 0.05]) if keep.any() else np.zeros((0, 3))
            line.setData(pos=pos)
            dots.setData(pos=pos if len(pos) <= 400 else pos[-1:])

    def path_positions(self, label: str) -> np.ndarray:
        return self._paths[label][0].pos

    def set_model(self, which: str, xs=None, ys=None, z=None) -> None:
        """Draw the tangent plane ("plane") or quadratic model ("quadric") over xs x ys; None hides it."""
        item = self.plane if which == "plane" else self.quadric
        if z is None:
            item.setVisible(False)
            return
        sx, sy, sz = self.to_scene(xs, ys, z)
        item.setData(x=sx, y=sy, z=np.where(np.isfinite(sz), sz, np.nan))
        item.setVisible(True)

    def clear_point(self) -> None:
        self.marker.setData(pos=np.zeros((0, 3)))
        self.arrow.setData(pos=np.zeros((0, 3)))

    def reset_view(self) -> None:
        self.gl.setCameraPosition(pos=QtGui.QVector3D(0, 0, H / 2), distance=2.9 * S, elevation=28, azimuth=-60)

    def render_image(self, width: int, height: int) -> np.ndarray:
        """The view rendered offscreen at a chosen size, (h, w, 4) RGBA uint8."""
        # Tiles overlap by ``padding``; pyqtgraph's 256 makes a 1600x1000 render draw the scene 3x as often
        # for no visible gain (measured: 148 -> 50 ms, ~85 pixels differ by anti-aliasing).
        bgra = self.gl.renderToArray((width, height), padding=32)  # (h, w, 4), BGRA
        return np.ascontiguousarray(bgra[..., [2, 1, 0, 3]])

    def export_image(self, w: int, h: int) -> QtGui.QImage:
        """The view as a w x h image for export: the box refitted to the image's shape (the user's
        angles kept), with the tick and axis labels drawn in at their projected places."""
        view = self.gl
        distance = view.opts["distance"]
        fitted = _fit_distance(view, w, h)
        labels = _labels(view)
        # Hidden while rendering: a GLTextItem opens a QPainter on the widget, which binds the widget's
        # own framebuffer, so every item drawn after it (the descent paths) would miss the offscreen image.
        for item in labels:
            item.setVisible(False)
        view.opts["distance"] = fitted
        try:
            rgba = self.render_image(w, h)
            image = QtGui.QImage(rgba.data, w, h, 4 * w, QtGui.QImage.Format.Format_RGBA8888).copy()
            # Text grows with the drawing (as it would on a screen that size), within reason.
            scale = float(np.clip(w / max(view.width(), 1) * distance / fitted, 1.0, LABEL_SCALE_MAX))
            _draw_labels(view, labels, image, scale)
        finally:
            view.opts["distance"] = distance
            for item in labels:
                item.setVisible(True)
        return image.convertToFormat(QtGui.QImage.Format.Format_RGB32)
