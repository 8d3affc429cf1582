"""Export what the views show: one view as PNG or SVG, a composed figure, the descent race as a GIF.

Qt side only (never TensorFlow): pyqtgraph's exporters draw the 2D plots, the GL view's own offscreen
render draws the surface, QPainter composes the figure and Pillow writes the GIF. Every file goes
through models.storage's atomic_path (a temporary file renamed into place), so a failed or cancelled
export leaves no partial file and never replaces a good one.
"""
from __future__ import annotations

import contextlib
import html
import math
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pyqtgraph as pg
import pyqtgraph.exporters  # noqa: F401 - registers ImageExporter and SVGExporter
from PyQt6 import QtCore, QtGui, QtWidgets

from .models.expression import ParseError, parse
from .models.pretty import to_html
from .models.storage import StorageError, atomic_path

VIEW_FORMATS: dict[str, tuple[str, ...]] = {
    "contour": ("png", "svg"),
    "surface": ("png",),
    "curve": ("png", "svg"),
    "loss": ("png", "svg"),
    "figure": ("png",),
    "chain": ("png", "svg"),
}
GIF_FORMATS = ("gif",)
VIEW_NAMES = {"contour": "the contour map", "surface": "the 3D surface", "curve": "the curve",
              "loss": "the loss curves", "figure": "the figure", "gif": "the descent animation",
              "chain": "the chain-rule graph"}
DEFAULT_SIZE = (1600, 1000)      # surface and figure when no size is given
MAX_SIDE = 8000                  # larger images take gigabytes to compose
BASE_SIZE = (800.0, 500.0)       # 2D plots exported at a chosen size are laid out at least this big, then scaled
FIGURE_BASE = (1600.0, 1000.0)   # a figure is laid out at this size (text as on screen) and scaled up to bigger ones
TITLE_PX = 22                    # the figure's title, pixels at FIGURE_BASE
MAP_MAX_SIDE = 2400              # the contour map's colour image is resampled to at most this many pixels a side
SVG_DETAIL = 2                   # an SVG's colour image has this many pixels per unit (it is zoomed into)
GIF_FRAME_MS = 50
# Qt's PNG "quality" sets zlib's effort. Seen at 1600x1000: the default 77 ms and 221 KB, 50 46 ms and 233 KB.
PNG_QUALITY = 50
TEXT = QtGui.QColor(30, 30, 40)


class ExportError(StorageError):
    """Nothing to export (a view that shows nothing, no race), worded for the user."""


class _Cancelled(Exception):
    pass


# ----------------------------------------------------------------------------- checks
def check_path(path, formats: tuple[str, ...], what: str) -> tuple[Path, str]:
    """The path and its format (from the suffix), checked before anything is drawn."""
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in formats:
        choices = " or ".join(f".{f}" for f in formats)
        raise StorageError(f"{what} can be saved as {choices} (got {path.suffix or 'no extension'})")
    return path, fmt


def check_folder(path) -> None:
    """StorageError now, before seconds of drawing, if ``path`` cannot be written (no folder, no
    permission, a folder in its place): storage's own check, by opening a temporary file next to it."""
    with contextlib.suppress(_Cancelled):
        with atomic_path(path):
            raise _Cancelled  # leaves the temporary file removed and ``path`` untouched


def check_gif_size(frames: int, size: tuple[int, int]) -> None:
    """Refuse, before anything is drawn, a GIF whose frames would not fit in memory: Pillow holds
    every frame until it writes the file (measured: about 2.2 bytes a pixel a frame; 201 frames at
    1500x1500 peaked at 1.3 GB)."""
    w, h = size
    pixels = frames * w * h
    if pixels > MAX_GIF_PIXELS:
        raise ExportError(f"a GIF of {frames} frames at {w}x{h} would hold {pixels / 1e6:,.0f} million pixels in "
                          f"memory (frames x width x height); at most {MAX_GIF_PIXELS / 1e6:,.0f} million: make "
                          f"the image smaller or show fewer frames")


def _checked_size(size) -> tuple[int, int] | None:
    if size is None:
        return None
    w, h = (int(v) for v in size)
    if not (0 < w <= MAX_SIDE and 0 < h <= MAX_SIDE):
        raise ExportError(f"the image size must be 1 to {MAX_SIDE} pixels per side (got {w}x{h})")
    return w, h


def _plot_widget(window, view: str):
    """The pyqtgraph view behind ``view``, refusing one that shows nothing."""
    if view == "loss":
        if not window.loss.curves():
            raise ExportError("the loss curves are empty: run gradient descent first")
        return window.loss
    widget = window.contour if view == "contour" else window.curve
    if window.plane.currentWidget() is not widget:
        raise ExportError("this function has one variable: export its curve" if view == "contour"
                          else "this function has two variables: export its contour map")
    return widget


def _has_surface(window) -> bool:
    # The surface view shows a message instead of the GL view for one variable or an undefined f.
    return not window.surface.gl.isHidden()


# ----------------------------------------------------------------------------- 2D plots
class _LaidOut:
    """The view's central item laid out at ``size``'s aspect for the export, and put back after.

    Laid out at ``size`` divided by a scale that the exporter then multiplies back: ``scale`` when
    given (a figure's panes share one), else the image's size over the size on screen (or BASE_SIZE
    when larger), never below 1. A big image gets a roomier plot and somewhat larger text, never text
    smaller than on screen."""

    def __init__(self, widget: pg.GraphicsView, size: tuple[int, int] | None, scale: float | None = None):
        self.widget, self.item, self.size, self.scale = widget, widget.centralWidget, size, scale
        self.old = self.item.geometry()
        # pyqtgraph fits a view to new data only when it next paints: fitted now, or the export (made
        # before the window repainted) would show the previous data's range.
        widget.scene().prepareForPaint()
        # An aspect-locked plot widens its range to the export's shape: its range on screen is put back
        # too, and whether it follows its data (setting a range turns that off: the next formula's curve
        # would be drawn in this one's range).
        self.boxes = [(vb, vb.viewRange(), vb.autoRangeEnabled())
                      for vb in widget.scene().items() if isinstance(vb, pg.ViewBox)]

    def __enter__(self) -> pg.GraphicsObject:
        if self.size is not None:
            w, h = self.size
            scale = self.scale or max(1.0, min(w / max(self.old.width(), BASE_SIZE[0]),
                                               h / max(self.old.height(), BASE_SIZE[1])))
            self.item.setGeometry(QtCore.QRectF(0, 0, w / scale, h / scale))
            self._show_ranges()  # the same ranges at the export's shape: the same picture every time
        _settle(self.item)  # also when kept: a previous export's layout may not have settled back yet
        # Legends ignore transformations (they keep their size when the view zooms): in an image drawn
        # larger than the screen they would stay small beside everything else.
        self.legends = [i for i in self.item.scene().items() if isinstance(i, pg.LegendItem)]
        for legend in self.legends:
            legend.setFlag(legend.GraphicsItemFlag.ItemIgnoresTransformations, False)
        return self.item

    def _show_ranges(self) -> None:
        if hasattr(self.widget, "fit_view"):  # the map: its box, tight at this shape
            self.widget.fit_view()
            return
        for vb, (x_range, y_range), _ in self.boxes:
            vb.setRange(xRange=x_range, yRange=y_range, padding=0)

    def __exit__(self, *exc) -> None:
        for legend in self.legends:
            legend.setFlag(legend.GraphicsItemFlag.ItemIgnoresTransformations, True)
        if self.size is not None:
            self.item.setGeometry(self.old)
            # Settled now: an export drawn next at the size on screen (an SVG) would otherwise take its
            # image's place from this layout (seen: the colour map drawn off the plot, twice its size).
            _settle(self.item)
            for vb, (x_range, y_range), (x_auto, y_auto) in self.boxes:  # the view on screen as it was
                vb.setRange(xRange=x_range, yRange=y_range, padding=0)
                vb.enableAutoRange(x=x_auto, y=y_auto)


def _settle(item) -> None:
    """Let the new layout take its final shape before it is drawn. An axis sizes itself to its tick
    labels only when it draws them, and the layout follows on a posted event: without this the first
    export at a new size has the axes of the old one (and differs from the next export by pixels)."""
    scratch = QtGui.QImage(8, 8, QtGui.QImage.Format.Format_ARGB32)
    for _ in range(2):  # new widths can change the ticks once more
        painter = QtGui.QPainter(scratch)
        item.scene().render(painter, QtCore.QRectF(0, 0, 8, 8), item.sceneBoundingRect())
        painter.end()
        QtWidgets.QApplication.sendPostedEvents(None, QtCore.QEvent.Type.LayoutRequest.value)


def _set_size(exporter, size: tuple[int, int] | None) -> None:
    """Both sides exactly (the exporter's own handlers would recompute the other side from the aspect)."""
    if size is None:
        return
    params = exporter.parameters()
    params.param("width").setValue(size[0], blockSignal=exporter.widthChanged)
    params.param("height").setValue(size[1], blockSignal=exporter.heightChanged)


@contextlib.contextmanager
def _without_transients(window):
    """What follows the mouse is not part of a picture: the hover read-out is hidden while drawing."""
    readout = window.contour.readout
    shown = readout.isVisible()
    readout.hide()
    try:
        yield
    finally:
        readout.setVisible(shown)


@contextlib.contextmanager
def _without_map_legend(window):
    """The figure's loss curves name the runs: the map's legend would name them a second time."""
    contour = window.contour
    shown = contour.legend.isVisible()
    contour.show_legend(False)
    try:
        yield
    finally:
        contour.show_legend(shown)


def _resampled(z: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """z (the grid's values at pixel centres) resampled bilinearly to ``shape``, over the same extent
    (half a cell beyond the first and last nodes, as the map draws it)."""
    out = z.astype(np.float32)
    for axis, m in enumerate(shape):
        n = out.shape[axis]
        at = np.clip((np.arange(m) + 0.5) * n / m - 0.5, 0, n - 1)
        k = np.minimum(at.astype(int), max(n - 2, 0))
        t = (at - k).reshape([-1 if a == axis else 1 for a in range(2)])
        lo, hi = np.take(out, k, axis=axis), np.take(out, np.minimum(k + 1, n - 1), axis=axis)
        out = lo + t * (hi - lo)
    return out


@contextlib.contextmanager
def _smooth_map(widget, item, per_unit: float):
    """The contour map's colour image resampled to the pixels it covers in the export (``per_unit``
    pixels per unit of its layout), instead of its grid of about 200 cells scaled up into blocks."""
    image = getattr(widget, "image", None)  # the contour map's (the curve and the loss plots have none)
    if not isinstance(image, pg.ImageItem) or image.image is None:
        yield
        return
    z, rect, levels = image.image, image.mapRectToScene(image.boundingRect()), image.getLevels()
    shown = rect.intersected(widget.plot.vb.sceneBoundingRect())
    scale = (rect.width() / max(shown.width(), 1e-9), rect.height() / max(shown.height(), 1e-9))
    shape = tuple(int(min(MAP_MAX_SIDE, max(n, math.ceil(side * per_unit * k))))
                  for n, side, k in zip(z.shape, (shown.width(), shown.height()), scale))
    if shape == z.shape:
        yield
        return
    data_rect = image.mapRectToParent(image.boundingRect())
    image.setImage(_resampled(z, shape), levels=levels, autoLevels=False)
    image.setRect(data_rect)
    try:
        yield
    finally:
        image.setImage(z, levels=levels, autoLevels=False)
        image.setRect(data_rect)


def _plot_image(widget: pg.GraphicsView, size: tuple[int, int] | None = None,
                scale: float | None = None) -> QtGui.QImage:
    with _LaidOut(widget, size, scale) as item:
        per_unit = size[0] / item.geometry().width() if size else 1.0
        with _smooth_map(widget, item, per_unit):
            exporter = pg.exporters.ImageExporter(item)
            _set_size(exporter, size)
            return exporter.export(toBytes=True)


def _allow_closed_svg_paths() -> None:
    """Work around pyqtgraph 0.14.0's SVG exporter failing on closed paths (pyqtgraph issue #3495):
    Qt 6.10+ writes them with a bare "Z", which its coordinate rewriting cannot split. The Zs are taken
    out before the rewriting (it maps the other tokens one for one) and put back after. Drop this when
    pyqtgraph ships the fix."""
    module = sys.modules["pyqtgraph.exporters.SVGExporter"]
    original = module.correctCoordinates
    if getattr(original, "_calcviz_closed_paths", False):
        return

    def correct(node, defs, item, options):
        closed = []
        for path in node.getElementsByTagName("path"):
            tokens = path.getAttribute("d").split()
            where = [k for k, t in enumerate(tokens) if t in ("Z", "z")]
            if where:
                path.setAttribute("d", " ".join(t for t in tokens if t not in ("Z", "z")))
                closed.append((path, where))
        original(node, defs, item, options)
        for path, where in closed:
            tokens = path.getAttribute("d").split()
            for k in where:
                tokens.insert(k, "Z")
            path.setAttribute("d", " ".join(tokens))

    correct._calcviz_closed_paths = True
    module.correctCoordinates = correct


def _plot_svg(widget: pg.GraphicsView, size: tuple[int, int] | None = None) -> bytes:
    _allow_closed_svg_paths()
    with _LaidOut(widget, size) as item:
        per_unit = SVG_DETAIL * (size[0] / item.geometry().width() if size else 1.0)
        with _smooth_map(widget, item, per_unit):
            exporter = pg.exporters.SVGExporter(item)
            _set_size(exporter, size)
            return exporter.export(toBytes=True)


# ----------------------------------------------------------------------------- the chain-rule graph
def _chain(window, size: tuple[int, int] | None):
    """The chain-rule view and the image size (as its canvas on screen unless given)."""
    view = window.chain
    if not view.has_graph():
        raise ExportError("the chain-rule graph is empty: type definitions such as a = x + y; f = a^2 "
                          "(or tick Expand operations in its tab)")
    return view, size or (max(view.canvas.width(), 1), max(view.canvas.height(), 1))


def _chain_image(window, size: tuple[int, int] | None) -> QtGui.QImage:
    view, (w, h) = _chain(window, size)
    image = QtGui.QImage(w, h, QtGui.QImage.Format.Format_RGB32)
    painter = QtGui.QPainter(image)
    painter.setRenderHints(QtGui.QPainter.RenderHint.Antialiasing | QtGui.QPainter.RenderHint.TextAntialiasing)
    view.render_graph(painter, QtCore.QRectF(0, 0, w, h))
    painter.end()
    return image


def _chain_svg(window, size: tuple[int, int] | None) -> bytes:
    from PyQt6.QtSvg import QSvgGenerator

    view, (w, h) = _chain(window, size)
    data = QtCore.QByteArray()
    buffer = QtCore.QBuffer(data)
    buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    generator = QSvgGenerator()
    generator.setOutputDevice(buffer)
    generator.setSize(QtCore.QSize(w, h))
    generator.setViewBox(QtCore.QRect(0, 0, w, h))
    generator.setTitle("calcviz: the chain-rule graph")
    painter = QtGui.QPainter(generator)
    view.render_graph(painter, QtCore.QRectF(0, 0, w, h))
    painter.end()
    buffer.close()
    return bytes(data)


# ----------------------------------------------------------------------------- the figure
def title_html(window) -> str:
    """The formula typeset as the editor's preview shows it (rich text), or as typed while it does not parse."""
    try:
        return to_html(parse(window.editor.text()))
    except ParseError:
        return html.escape(window.editor.text())


def _title(html_text: str, width: float, scale: float) -> QtGui.QTextDocument:
    document = QtGui.QTextDocument()
    font = QtGui.QFont()
    font.setPixelSize(max(8, round(TITLE_PX * scale)))
    document.setDefaultFont(font)
    document.setDefaultStyleSheet(f"body {{ color: {TEXT.name()}; }}")
    option = QtGui.QTextOption(QtCore.Qt.AlignmentFlag.AlignHCenter)
    option.setWrapMode(QtGui.QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    document.setDefaultTextOption(option)
    document.setDocumentMargin(0)
    document.setHtml(html_text)
    document.setTextWidth(width)
    return document


def render_figure(window, size: tuple[int, int] = DEFAULT_SIZE, title: str | None = None) -> QtGui.QImage:
    """Surface and contour map (or the curve) side by side under the formula (typeset, or ``title``
    as plain text); the loss curves below them when descent runs exist, nothing there otherwise.

    Laid out as at FIGURE_BASE and scaled to ``size`` when larger: a print-size figure is the same
    picture with every text as large relative to it (not tiny ticks beside a huge title)."""
    w, h = size
    scale = max(1.0, min(w / FIGURE_BASE[0], h / FIGURE_BASE[1]))
    image = QtGui.QImage(w, h, QtGui.QImage.Format.Format_RGB32)
    image.fill(QtGui.QColor("white"))
    margin = round(10 * scale)
    document = _title(html.escape(title) if title is not None else title_html(window), w - 2 * margin, scale)
    while document.size().height() > 0.25 * h and document.defaultFont().pixelSize() > 8:  # a long chain
        font = document.defaultFont()
        font.setPixelSize(font.pixelSize() - 1)
        document.setDefaultFont(font)
    title_h = min(round(document.size().height()) + 2 * margin, h // 3)
    runs = bool(window.loss.curves())
    top = round((h - title_h) * (0.65 if runs else 1.0))
    plane = window.plane.currentWidget()
    panes = []  # (image, x, y)
    with _without_map_legend(window) if runs else contextlib.nullcontext():
        if _has_surface(window) and plane is window.contour:
            half = w // 2
            panes += [(window.surface.export_image(half, top, label_scale=scale), 0, title_h),
                      (_plot_image(plane, (w - half, top), scale), half, title_h)]
        else:
            panes.append((_plot_image(plane, (w, top), scale), 0, title_h))
    if runs and h - title_h - top > 0:
        panes.append((_plot_image(window.loss, (w, h - title_h - top), scale), 0, title_h + top))
    painter = QtGui.QPainter(image)
    for pane, x, y in panes:
        painter.drawImage(QtCore.QPoint(x, y), pane)
    painter.setRenderHint(QtGui.QPainter.RenderHint.TextAntialiasing)
    painter.setClipRect(0, 0, w, title_h)
    painter.translate(margin, margin)
    document.drawContents(painter)
    painter.end()
    return image


# ----------------------------------------------------------------------------- public
def render_view(window, view: str, size: tuple[int, int] | None = None, title: str | None = None) -> QtGui.QImage:
    """``view`` drawn as an image: at ``size`` (w, h), or for the 2D plots at their size on screen."""
    with _without_transients(window):
        return _render_view(window, view, _checked_size(size), title)


def _render_view(window, view: str, size: tuple[int, int] | None, title: str | None) -> QtGui.QImage:
    if view == "surface":
        if not _has_surface(window):
            raise ExportError("the 3D view shows no surface for this function (it needs two variables "
                              "and values in the box)")
        return window.surface.export_image(*(size or DEFAULT_SIZE))
    if view == "figure":
        return render_figure(window, size or DEFAULT_SIZE, title)
    if view == "chain":
        return _chain_image(window, size)
    if view not in VIEW_FORMATS:
        raise ExportError(f"unknown view {view!r} (one of {', '.join(VIEW_FORMATS)})")
    return _plot_image(_plot_widget(window, view), size)


def export_view(window, view: str, path, size: tuple[int, int] | None = None, title: str | None = None) -> Path:
    """Write ``view`` (a key of VIEW_FORMATS) to ``path``; the suffix picks the format (.png, .svg).

    Raises StorageError (ExportError for a view with nothing to show) with a message for the user;
    on any failure ``path`` is left as it was."""
    if view not in VIEW_FORMATS:
        raise ExportError(f"unknown view {view!r} (one of {', '.join(VIEW_FORMATS)})")
    path, fmt = check_path(path, VIEW_FORMATS[view], VIEW_NAMES[view])
    size = _checked_size(size)
    with atomic_path(path, allowed_suffixes=(path.suffix,)) as temp:
        if fmt == "svg":
            with _without_transients(window):
                data = _chain_svg(window, size) if view == "chain" else _plot_svg(_plot_widget(window, view), size)
        else:
            data = _encoded(render_view(window, view, size, title), fmt, path)
        # Written by Python, not by Qt's image writer: a full disk (or any failure) comes back as an
        # OSError that storage words ("the disk is full"), where Qt says only that it could not write.
        temp.write_bytes(data)
    return path


def _encoded(image: QtGui.QImage, fmt: str, path: Path) -> bytes:
    data = QtCore.QByteArray()
    buffer = QtCore.QBuffer(data)
    buffer.open(QtCore.QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, fmt.upper(), PNG_QUALITY):
        raise StorageError(f"cannot save {path.name}: Qt could not encode the {fmt.upper()} image")
    buffer.close()
    return bytes(data)


MAX_GIF_FRAMES = 200  # without a chosen "every", steps are skipped evenly to stay under this many frames
MAX_GIF_PIXELS = 500_000_000  # frames x width x height (200 frames of 1580x1580): about 1.1 GB held


def default_every(length: int) -> int:
    """Steps per frame so a race of ``length`` steps makes at most MAX_GIF_FRAMES frames."""
    return max(1, math.ceil(length / (MAX_GIF_FRAMES - 1)))


def race_steps(length: int, every: int) -> list[int]:
    """The steps a GIF shows: 0, every, 2*every, ... and always the last."""
    steps = list(range(0, length + 1, max(1, int(every))))
    return steps if steps[-1] == length else steps + [length]


def _stamp(image: QtGui.QImage, text: str) -> QtGui.QImage:
    """The step number in the corner: the viewer knows where the race is (and no two frames are alike,
    so the GIF keeps one frame per step shown)."""
    painter = QtGui.QPainter(image)
    font = QtGui.QFont()
    font.setPixelSize(max(11, image.height() // 40))
    painter.setFont(font)
    metrics = QtGui.QFontMetrics(font)
    box = QtCore.QRect(0, 0, metrics.horizontalAdvance(text) + 12, metrics.height() + 6)
    box.moveBottomRight(QtCore.QPoint(image.width() - 4, image.height() - 4))
    painter.fillRect(box, QtGui.QColor(255, 255, 255, 220))
    painter.setPen(TEXT)
    painter.drawText(box, QtCore.Qt.AlignmentFlag.AlignCenter, text)
    painter.end()
    return image


def _to_pillow(image: QtGui.QImage):
    from PIL import Image

    rgb = image.convertToFormat(QtGui.QImage.Format.Format_RGB888)
    data = rgb.constBits().asstring(rgb.sizeInBytes())
    return Image.frombuffer("RGB", (rgb.width(), rgb.height()), data, "raw", "RGB", rgb.bytesPerLine(), 1).copy()


def export_race_gif(window, descent, path, every: int = 1, size: tuple[int, int] | None = None,
                    progress: Callable[[float], None] | None = None,
                    should_stop: Callable[[], bool] | None = None,
                    view: str | None = None, frame_ms: int = GIF_FRAME_MS) -> int:
    """An animated GIF of the descent race: one frame per ``every`` steps from 0 to the race's end
    (the last step always included), each the view (default: the contour map, or the curve for one
    variable; "figure" works too) as drawn at that step. Loops forever.

    ``progress(fraction)`` is called after each frame; ``should_stop()`` between frames: True cancels,
    writes nothing and returns 0. Otherwise returns the number of frames written. The race is paused
    and afterwards shows the step it showed before. ``descent`` is the window's DescentController."""
    from PIL import Image

    path, _ = check_path(path, GIF_FORMATS, VIEW_NAMES["gif"])
    size = _checked_size(size)
    race = descent.session.race
    if race is None:
        raise ExportError("there is no descent race to animate: set a start point and wait for the runs")
    if view is None:
        view = "contour" if window.plane.currentWidget() is window.contour else "curve"
    steps = race_steps(race.length, every)
    if size is None and view not in ("figure", "surface"):  # drawn at its size on screen
        widget = _plot_widget(window, view)
        check_gif_size(len(steps), (widget.width(), widget.height()))
    else:
        check_gif_size(len(steps), size or DEFAULT_SIZE)
    descent.set_running(False)  # the animation timer would move the race under us
    kept = race.shown
    frames: list[Image.Image] = []
    flags = QtCore.QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents
    try:
        with atomic_path(path, allowed_suffixes=(path.suffix,)) as temp:  # checks the folder before the long part
            palette = None
            # The last frame first: it holds every path, so its colours make the palette all frames share
            # (one palette: no colour flicker from frame to frame).
            for i, k in enumerate([steps[-1], *steps[:-1]]):
                if should_stop is not None and should_stop():
                    raise _Cancelled
                race.shown = k
                descent.redraw()
                QtWidgets.QApplication.processEvents(flags)
                if descent.session.race is not race:
                    raise ExportError("the descent changed while the animation was being made; nothing was saved")
                image = render_view(window, view, size)
                size = size or (image.width(), image.height())  # every frame as big as the first
                frame = _to_pillow(_stamp(image, f"step {k}"))
                if palette is None:
                    palette = frame.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
                frames.append(frame.quantize(palette=palette, dither=Image.Dither.NONE))
                if progress is not None:
                    progress((i + 1) / len(steps))
            frames = frames[1:] + frames[:1]
            frames[0].save(temp, format="GIF", save_all=True, append_images=frames[1:], duration=frame_ms,
                           loop=0)
    except _Cancelled:
        return 0
    finally:
        if descent.session.race is race:
            race.shown = kept
            descent.redraw()
    return len(frames)
