"""The side panel listing the critical points in view: type, coordinates, value, eigenvalues."""
from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

from .common import GLOBAL_MIN_SYMBOL, TYPE_STYLE, format_eigenvalues, format_number, swatch  # noqa: F401

class _NumberItem(QtWidgets.QTableWidgetItem):
    """Sorts by the number, not the text; round-off next to ``scale`` shows as 0 (the tooltip has the number)."""

    def __init__(self, value: float, scale: float | None = None):
        super().__init__(format_number(value, scale=scale))
        self.setToolTip(repr(float(value)))
        self.setData(QtCore.Qt.ItemDataRole.UserRole, float(value))
        self.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other) -> bool:
        a = self.data(QtCore.Qt.ItemDataRole.UserRole)
        b = other.data(QtCore.Qt.ItemDataRole.UserRole)
        return a < b if a is not None and b is not None else super().__lt__(other)


class CriticalPointsPanel(QtWidgets.QWidget):
    pointChosen = QtCore.pyqtSignal(object)  # the point's coordinates, a tuple in axis order

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.summary = QtWidgets.QLabel("Critical points appear here once the function is drawn.", self)
        self.summary.setWordWrap(True)
        self.table = QtWidgets.QTableWidget(0, 0, self)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.setAlternatingRowColors(True)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setToolTip("Click a row to select that point on both views. Click a header to sort.")
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.note = QtWidgets.QLabel(self)
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #8a5a00;")
        self.note.hide()
        # The box's own lowest and highest values, and where: "global" is only said when a point is one.
        self.extremes = QtWidgets.QLabel(self)
        self.extremes.setWordWrap(True)
        self.extremes.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.extremes.hide()
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.extremes)
        layout.addWidget(self.note)
        self._axes: list[str] = []

    def set_searching(self, fraction: float | None = None) -> None:
        """A search under way (``fraction`` done): the last list was about another function, so it goes."""
        if self.table.rowCount():
            self.table.setRowCount(0)
            self.note.hide()
            self.extremes.hide()
        done = f" {fraction:.0%}" if fraction is not None else ""
        self.summary.setText(f"Searching for critical points…{done} (Esc cancels)")

    def set_error(self, message: str) -> None:
        self.table.setRowCount(0)
        self.summary.setText(f"No search: {message}")
        self.note.hide()

    def set_points(self, result: dict, scales: dict | None = None) -> None:
        """The search's result; ``scales`` (models.grid.scales) turns round-off into 0 on screen."""
        scales = scales or {}
        """Fill the table from the engine's critical-point result."""
        self._axes = list(result["axes"])
        points = result["critical_points"]
        headers = ["type", *self._axes, "f", "eigenvalues", "|∇f|"]
        with QtCore.QSignalBlocker(self.table):
            self.table.setSortingEnabled(False)
            self.table.clear()
            self.table.setColumnCount(len(headers))
            self.table.setHorizontalHeaderLabels(headers)
            self.table.setRowCount(len(points))
            for row, p in enumerate(points):
                style = TYPE_STYLE[p["type"]]
                label = style["label"] + (" · global min" if p.get("global_min") else "") + \
                    (" · global max" if p.get("global_max") else "")
                kind = QtWidgets.QTableWidgetItem(swatch(style["color"]), label)
                kind.setData(QtCore.Qt.ItemDataRole.UserRole, tuple(p["point"][a] for a in self._axes))
                if p.get("global_min"):
                    font = kind.font()
                    font.setBold(True)
                    kind.setFont(font)
                    kind.setBackground(QtGui.QColor("#dcecff"))
                if p["type"] == "degenerate":
                    kind.setToolTip("A zero eigenvalue: the second-derivative test is inconclusive here.")
                self.table.setItem(row, 0, kind)
                for col, a in enumerate(self._axes, start=1):
                    c = p["point"][a]
                    # Round-off around an exact zero (4.6e-17) reads as noise: show 0, keep it in the tooltip.
                    self.table.setItem(row, col, _NumberItem(c, scales.get("point", 1.0)))
                self.table.setItem(row, len(self._axes) + 1, _NumberItem(p["value"], scales.get("value")))
                text, tip = format_eigenvalues(p["eigenvalues"], p.get("zero_eigenvalues", 0), scales.get("hessian"))
                eig = QtWidgets.QTableWidgetItem(text)
                eig.setToolTip(tip)
                self.table.setItem(row, len(self._axes) + 2, eig)
                self.table.setItem(row, len(self._axes) + 3, _NumberItem(p["grad_norm"], scales.get("gradient")))
            self.table.setSortingEnabled(True)
            self.table.resizeColumnsToContents()
        counts = {}
        for p in points:
            counts[p["type"]] = counts.get(p["type"], 0) + 1
        parts = [f"{counts[t]} {TYPE_STYLE[t]['label']}{'s' if counts[t] != 1 else ''}"
                 for t in TYPE_STYLE if t in counts]
        self.summary.setText(f"{len(points)} critical point{'s' if len(points) != 1 else ''} in the box"
                             + (": " + ", ".join(parts) if parts else "") + ".")
        curves = result.get("curves") or []
        if curves:
            self.summary.setText(self.summary.text() + " Curves of critical points (not isolated): "
                                 + "; ".join(f"{c.get('description', '?')} ({c.get('type', '?')})" for c in curves) + ".")
        lines = []
        for key, word in (("box_min", "lowest"), ("box_max", "highest")):
            extreme = result.get(key)
            if extreme and extreme.get("value") is not None:
                at = ", ".join(f"{a} = {format_number(extreme['point'].get(a), scale=scales.get('point', 1.0))}"
                               for a in self._axes if a in extreme.get("point", {}))
                where = extreme.get("where", "")
                lines.append(f"{word} f on the box: <b>{format_number(extreme['value'], scale=scales.get('value'))}"
                             f"</b> at {at}{f' ({where})' if where and where != 'interior' else ''}")
        self.extremes.setText("<br>".join(lines))
        self.extremes.setVisible(bool(lines))
        note = result.get("note", "")
        self.note.setText(note)
        self.note.setVisible(bool(note))

    def row_count(self) -> int:
        return self.table.rowCount()

    def point_at(self, row: int) -> tuple:
        return self.table.item(row, 0).data(QtCore.Qt.ItemDataRole.UserRole)

    def _selection_changed(self) -> None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        if rows:
            self.pointChosen.emit(self.point_at(min(rows)))
