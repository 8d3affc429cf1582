"""What the views share: number formatting, colours and markers, and small widgets.

Views import this module and nothing else of each other's (an import-linter contract checks it).
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor, QIcon, QPixmap, QValidator
from PyQt6.QtWidgets import QAbstractSpinBox, QDoubleSpinBox, QLabel, QSizePolicy, QWidget

from ..models.critical import judged_zero
from ..models.grid import is_round_off
from ..models.settings import VALUE_LIMIT

UNDEFINED = "undefined"
ERROR_COLOR = "#c62828"
ERROR_STYLE = f"color: {ERROR_COLOR};"
DOMAIN_LIMIT = VALUE_LIMIT

# One colour and one marker per type, shared by the table, the contour map, the curve and the surface.
TYPE_STYLE = {
    "min": {"color": "#1f77b4", "symbol": "t", "label": "minimum"},
    "max": {"color": "#d62728", "symbol": "t1", "label": "maximum"},
    "saddle": {"color": "#ff7f0e", "symbol": "x", "label": "saddle"},
    "degenerate": {"color": "#7f7f7f", "symbol": "d", "label": "degenerate"},
}
GLOBAL_MIN_SYMBOL = "star"
# The selected point and its gradient: magenta, apart from the maxima's red and the optimizers' colours.
SELECTED_COLOR = "#d000d0"

# Okabe–Ito (colour-blind safe) without its yellow, which vanishes on white and on viridis' top end.
# Vermillion goes to the default run: it stands out on every part of viridis and on white.
OPTIMIZER_COLORS = {
    "gd": "#d55e00",        # vermillion
    "momentum": "#0072b2",  # blue
    "nesterov": "#56b4e9",  # sky blue
    "adagrad": "#009e73",   # bluish green
    "rmsprop": "#cc79a7",   # reddish purple
    "adam": "#e69f00",      # orange
    "newton": "#000000",    # black
}
START_COLOR = "#ffffff"  # one start shared by every optimizer
# Basins of attraction: one colour per minimum reached; diverged and unconverged starts stand apart.
BASIN_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]
DIVERGED_COLOR = "#b00020"
UNCONVERGED_COLOR = "#7f7f7f"


def format_number(value: Any, digits: int = 6, scale: float | None = None) -> str:
    """A number for people: ~6 significant digits, no trailing zeros, NaN as "undefined"; with ``scale``
    (the size of such numbers here), its round-off (models.grid.is_round_off) as 0."""
    if value is None:
        return "—"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return UNDEFINED
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if is_round_off(x, scale):
        return "0"
    text = f"{x:.{digits}g}"
    return "0" if text == "-0" else text


def format_eigenvalues(values: Sequence[float], zeros: int = 0, scale: float | None = None) -> tuple[str, str]:
    """A Hessian's eigenvalues for people, and the tooltip with their exact values. At a critical point,
    the ``zeros`` its classification counted as zero read 0: the monkey saddle's polished point, 4e-12
    from the origin, has eigenvalues +-2.4e-11, round-off of the exact 0, 0."""
    zero = judged_zero(values, zeros)
    text = ", ".join("0" if z else format_number(e, scale=scale) for e, z in zip(values, zero)) or "—"
    tip = ", ".join(repr(float(e)) for e in values)  # (the shortest text that reads back as the same number)
    if zeros:
        which = ({1: "The smallest"}.get(zeros, f"The {zeros} smallest") if zeros < len(values) else
                 {1: "It", 2: "Both"}.get(zeros, "All"))
        tip += f"\n{which} counted as zero: below a millionth of the Hessian's size around this critical point."
    return text, tip


def format_vector(values: Sequence[Any], scale: float | None = None) -> str:
    return "(" + ", ".join(format_number(v, scale=scale) for v in values) + ")"


def nice_ticks(lo: float, hi: float, target: int = 5) -> np.ndarray:
    """Round tick values in [lo, hi]: multiples of a step of 1, 2 or 5 times a power of ten, about
    ``target`` of them. A tick within half a percent of the range outside it counts as inside (0 for a
    minimum of 2.5e-5 on a range of thousands). Computed as integer x step, so 0 is exactly 0."""
    span = hi - lo
    if not (np.isfinite(lo) and np.isfinite(hi)) or span <= 0:
        return np.array([lo]) if np.isfinite(lo) else np.zeros(0)
    slack = 0.005 * span
    best = None
    power = 10.0 ** np.floor(np.log10(span / target))
    for step in (m * power for m in (0.5, 1, 2, 5, 10, 20)):
        k = np.arange(np.ceil((lo - slack) / step), np.floor((hi + slack) / step) + 1)
        if best is None or abs(len(k) - target) <= abs(len(best[0]) - target):  # a tie: fewer ticks
            best = (k, step)
    k, step = best
    return k * step + 0.0  # + 0.0: no -0


def tick_texts(values: Sequence[float]) -> list[str]:
    """One format for all of an axis' ticks (as many decimals as the step needs), 0 as "0";
    scientific notation with a common mantissa for very large or small steps."""
    values = np.asarray(values, float)
    if len(values) == 0:
        return []
    step = float(np.min(np.diff(values))) if len(values) > 1 else abs(float(values[0])) or 1.0
    e = int(np.floor(np.log10(step) + 1e-9))
    big = float(np.max(np.abs(values)))
    if e >= -4 and big < 1e6:
        return ["0" if v == 0 else f"{v:.{max(0, -e)}f}" for v in values]
    exps = [int(np.floor(np.log10(abs(v)) + 1e-9)) for v in values if v != 0]
    digits = max(0, max(exps, default=e) - e)
    out = []
    for v in values:
        if v == 0:
            out.append("0")
            continue
        mantissa, exp = f"{v:.{digits}e}".split("e")
        out.append(f"{mantissa}e{int(exp)}")
    return out


def clip_path(coords: Sequence, box: Sequence[tuple[float, float]]) -> tuple[list[np.ndarray], np.ndarray]:
    """A polyline cut to a box: ``coords`` one array per axis (x, y; or x, y, f), ``box`` one (lo, hi)
    per axis. Returns the coordinates of the points inside plus where a segment crosses the box's
    edge, NaN between pieces (a path that left the box and came back), and where each point lies
    along the input (k + t between its finite points k and k + 1): an integer at a step, NaN at a
    break. A diverging descent path ends at the edge instead of reaching 1e10 (a line across the
    panel, and coordinates an SVG renderer refuses)."""
    p = np.column_stack([np.asarray(c, float) for c in coords]) if len(coords[0]) else np.zeros((0, len(coords)))
    p = p[np.isfinite(p).all(axis=1)]
    lo, hi = np.array([b[0] for b in box], float), np.array([b[1] for b in box], float)
    inside = ((p >= lo) & (p <= hi)).all(axis=1)
    if inside.all():
        return list(p.T), np.arange(len(p), dtype=float)
    out: list[np.ndarray] = []
    where: list[float] = []

    def add(k: int, t: float) -> None:
        """The point at t along the segment k-1 -> k (t = 0 and 1: the steps themselves, exactly)."""
        at = k - 1 + t
        q = p[int(at)] if t in (0.0, 1.0) else p[k - 1] + t * (p[k] - p[k - 1])
        if out and np.array_equal(out[-1], q):
            if at == where[-1] or t not in (0.0, 1.0):
                return  # already there (the end of the last segment), or a crossing at a step
            if where[-1] != int(where[-1]):
                out.pop(), where.pop()  # a crossing exactly at a step: the step it is
        out.append(q)
        where.append(at)

    if len(p) and inside[0]:
        out.append(p[0])
        where.append(0.0)
    for k in range(1, len(p)):
        # Liang-Barsky: the part of the segment k-1 -> k inside the box is t0 <= t <= t1.
        a, d = p[k - 1], p[k] - p[k - 1]
        if np.any((d == 0) & ((a < lo) | (a > hi))):
            continue  # runs along an edge outside the box
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            t_lo, t_hi = (lo - a) / d, (hi - a) / d
        t0 = max(0.0, float(np.max(np.where(d == 0, -np.inf, np.minimum(t_lo, t_hi)))))
        t1 = min(1.0, float(np.min(np.where(d == 0, np.inf, np.maximum(t_lo, t_hi)))))
        if t0 > t1:
            continue
        if t0 > 0 and out:  # enters the box: a new piece
            out.append(np.full(p.shape[1], np.nan))
            where.append(np.nan)
        add(k, t0)
        add(k, 1.0 if inside[k] else t1)
    a = np.array(out, float).reshape(-1, p.shape[1])
    return list(a.T), np.array(where, float)


def run_color(run) -> str:
    """A descent run's colour: its optimizer's, unless the run names one."""
    return run.get("color") or OPTIMIZER_COLORS.get(run.get("optimizer"), "#000000")


def critical_spots(points: Sequence[dict], axes: Sequence[str]) -> list[dict]:
    """Marker styles of critical points on a 2D plot: (x, y) on a map, (x, f) on a curve."""
    spots = []
    for p in points:
        style = TYPE_STYLE[p["type"]]
        coords = [p["point"][a] for a in axes]
        pos = (coords[0], coords[1]) if len(coords) == 2 else (coords[0], p["value"])
        top = bool(p.get("global_min"))
        spots.append({"pos": pos, "symbol": GLOBAL_MIN_SYMBOL if top else style["symbol"],
                      "color": style["color"], "size": 16 if top else 12})
    return spots


def swatch(color: str) -> QIcon:
    """A small square of ``color`` (table rows, check boxes, combo items)."""
    pixmap = QPixmap(12, 12)
    pixmap.fill(QColor(color))
    return QIcon(pixmap)


def error_label(parent: QWidget) -> QLabel:
    """A hidden, wrapping, red label for messages about what the user typed."""
    label = QLabel(parent)
    label.setStyleSheet(ERROR_STYLE)
    label.setWordWrap(True)
    label.hide()
    return label


class NumberBox(QDoubleSpinBox):
    """A QDoubleSpinBox that shows ~6 significant digits without trailing zeros ("-2", "0.25", "1e-05").

    Like every box here it commits on Enter or focus-out (no keyboard tracking), so typing "-2.5"
    emits one valueChanged, not four.
    """

    def __init__(self, parent: QWidget, lo: float = -DOMAIN_LIMIT, hi: float = DOMAIN_LIMIT, step: float = 1.0):
        super().__init__(parent)
        self.setDecimals(12)
        self.setRange(lo, hi)
        self.setSingleStep(step)
        self.setKeyboardTracking(False)
        self.setAccelerated(True)
        self.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)
        self.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def _bare(self, text: str) -> str:
        text = text.strip()
        if self.prefix() and text.startswith(self.prefix()):
            text = text[len(self.prefix()):]
        if self.suffix() and text.endswith(self.suffix()):
            text = text[: -len(self.suffix())]
        return text.strip()

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt override
        return format_number(value)

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt override
        try:
            value = float(self._bare(text))
        except ValueError:
            return self.value()
        return value if math.isfinite(value) else self.value()

    def validate(self, text: str, pos: int):  # Qt override
        bare = self._bare(text).lower()
        if bare in ("", "-", "+", ".", "-.", "+.") or bare.endswith(("e", "e-", "e+")):
            return QValidator.State.Intermediate, text, pos
        try:
            value = float(bare)
        except ValueError:
            return QValidator.State.Invalid, text, pos
        if not math.isfinite(value) or "_" in bare:
            return QValidator.State.Invalid, text, pos
        inside = self.minimum() <= value <= self.maximum()
        return (QValidator.State.Acceptable if inside else QValidator.State.Intermediate), text, pos


class ElidedLabel(QLabel):
    """One line of text that is cut with "…" where it does not fit; the whole text is its tooltip then.
    (A status bar cannot wrap: a long message would otherwise be clipped at a random character.)"""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the window

    def set_full_text(self, text: str) -> None:
        self._full = text
        self._fit()

    def full_text(self) -> str:
        return self._full

    def is_elided(self) -> bool:
        return self.text() != self._full

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        shown = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(self.width(), 1))
        super().setText(shown)
        self.setToolTip(self._full if shown != self._full else "")


class TidyAxis(pg.AxisItem):
    """An axis whose tick labels never overlap, a log axis's rounder ones first.

    pyqtgraph judges crowding by the labels' total size, as if evenly spaced; a log axis's minor ticks
    are not (0.8 and 0.9 crowd beside 1), and their labels were drawn over each other. Here the minor
    ticks form three levels, 10^k, then 2 and 5 times it, then the rest; labels are kept level by level
    and a label that would overlap one kept is left out (its tick stays).
    """

    ROUNDNESS = ((1,), (2, 5), (3, 4, 6, 7, 8, 9))  # a log axis's minor tick levels, by mantissa

    def logTickValues(self, minVal, maxVal, size, stdTicks):  # noqa: N802 - pyqtgraph override
        levels, seen = [], []
        for spacing, values in super().logTickValues(minVal, maxVal, size, stdTicks):
            if spacing is not None:
                levels.append((spacing, values))
                seen.extend(values)
                continue
            v = np.asarray(values, float)
            v = v[~np.isclose(v[:, None], np.asarray(seen, float)[None, :], atol=1e-9).any(axis=1)] if seen else v
            mantissa = np.rint(10.0 ** (v - np.floor(v + 1e-9)))
            levels += [(None, v[np.isin(mantissa, group)].tolist()) for group in self.ROUNDNESS]
        return levels

    def generateDrawSpecs(self, p):  # noqa: N802 - pyqtgraph override
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return None
        axis, ticks, texts = specs
        kept: list = []
        for text in texts:  # (in level order: the first level's labels first)
            if not any(text[0].intersects(other[0]) for other in kept):
                kept.append(text)
        return axis, ticks, kept


class StepAxis(TidyAxis):
    """An axis of whole numbers (descent steps): ticks at integers only, never 0.5 or "(x0.001)"."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802 - pyqtgraph override
        levels = [(max(1.0, round(spacing)), offset) for spacing, offset in super().tickSpacing(minVal, maxVal, size)]
        return [level for k, level in enumerate(levels) if k == 0 or level[0] < levels[0][0]]


def plain_axes(plot: pg.PlotItem) -> None:
    """Tick labels as the numbers they are: no SI-prefix multiplier like "(x1e+21)" beside an axis."""
    for name in ("left", "bottom", "right", "top"):
        axis = plot.getAxis(name)
        if axis is not None:
            axis.enableAutoSIPrefix(False)


class ContextMenu:
    """A view's own right-click menu (pyqtgraph's, with its axis and mouse-mode settings and its own Export,
    is switched off): the view's actions at the click, then the window's actions given to it, then Export.
    Mixed into views that define ``exportRequested`` and ``VIEW`` (the name File > Export knows them by)."""

    def add_context_actions(self, actions) -> None:
        self._context_actions = list(actions)

    def context_menu(self, at=None):
        """The menu (for a click at ``at`` in data coordinates, or None), built anew each time."""
        from PyQt6.QtWidgets import QMenu

        menu = QMenu(self)
        for text, slot in self.actions_at(at):
            menu.addAction(text, slot)
        shared = getattr(self, "_context_actions", [])
        if shared:
            menu.addSeparator()
            menu.addActions(shared)
        menu.addSeparator()
        menu.addAction(f"Export this {self.VIEW_TITLE}…", lambda: self.exportRequested.emit(self.VIEW))
        return menu

    def actions_at(self, at) -> list:
        """(text, slot) pairs for a click at ``at``: the view's own, none by default."""
        return []
