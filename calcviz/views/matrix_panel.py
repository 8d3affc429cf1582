"""The matrix-calculus panel: the formula's inputs (vectors and matrices as small editable tables), the seed
their values were drawn with, f's value, each gradient as a heat-map table with its numbers, and the check of
derivatives the user writes (d/dx = ...) against TensorFlow's.

A view: it emits what the user asks for (``valueEdited``, ``drawRequested``, ``derivativesSubmitted``) and
shows what ``set_*`` gives it, with its own signals blocked while it does.
"""
from __future__ import annotations

import html
from typing import Any, Sequence

from PyQt6 import QtCore, QtGui, QtWidgets

from .common import ERROR_STYLE, format_number

AXIS_COLOR = "#ffe0b2"      # an entry on the plot's axes: the selected point, not a parameter
POSITIVE = (214, 39, 40)    # the heat map: red for positive, blue for negative, white at 0
NEGATIVE = (31, 119, 180)
CELL_WIDTH = 64
COLUMNS = 2                 # tables side by side (caption above each), then the next row
PLACEHOLDER = "d/dx = (A + A^T) x\nd/dA = x x^T"
SEED_MAX = 2**31 - 1


def heat(value: float, largest: float) -> QtGui.QColor:
    """The colour of a gradient's entry: white at 0, full red (blue) at +largest (-largest)."""
    if not largest > 0 or value != value:
        return QtGui.QColor("white")
    t = min(abs(value) / largest, 1.0)
    r, g, b = POSITIVE if value > 0 else NEGATIVE
    return QtGui.QColor(round(255 + (r - 255) * t), round(255 + (g - 255) * t), round(255 + (b - 255) * t))


def _rows(values: Any) -> list[list[float]]:
    """A number, a vector (one column) or a matrix (lists or numpy arrays) as rows."""
    if hasattr(values, "tolist"):
        values = values.tolist()
    if not isinstance(values, (list, tuple)):
        return [[values]]
    if values and isinstance(values[0], (list, tuple)):
        return [list(r) for r in values]
    return [[v] for v in values]


def _clear(grid: QtWidgets.QGridLayout) -> None:
    """Take every widget out of a grid at once (and delete it once Qt is back in its event loop)."""
    while grid.count():
        widget = grid.takeAt(0).widget()
        if widget is not None:
            widget.hide()
            widget.deleteLater()


def _place(grid: QtWidgets.QGridLayout, k: int, caption: QtWidgets.QLabel, table: QtWidgets.QWidget) -> None:
    """The k-th table with its caption above it, COLUMNS to a row."""
    row, column = divmod(k, COLUMNS)
    grid.addWidget(caption, 2 * row, column, QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignBottom)
    grid.addWidget(table, 2 * row + 1, column, QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignTop)
    grid.setColumnStretch(COLUMNS, 1)


class _Table(QtWidgets.QTableWidget):
    """A small table of numbers sized to its contents (up to a limit, then it scrolls)."""

    MAX_VISIBLE = 8

    def __init__(self, parent: QtWidgets.QWidget, editable: bool):
        super().__init__(parent)
        self.horizontalHeader().setDefaultSectionSize(CELL_WIDTH)
        self.horizontalHeader().setMinimumSectionSize(40)
        self.verticalHeader().setDefaultSectionSize(22)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.AllEditTriggers if editable
                             else QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSizeAdjustPolicy(QtWidgets.QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.setSizePolicy(QtWidgets.QSizePolicy.Policy.Maximum, QtWidgets.QSizePolicy.Policy.Maximum)

    def set_numbers(self, rows: list[list[float]], colours: bool = False, names=None, axes=()) -> None:
        n_rows, n_cols = len(rows), len(rows[0]) if rows else 0
        if (self.rowCount(), self.columnCount()) != (n_rows, n_cols):
            self.setRowCount(n_rows)
            self.setColumnCount(n_cols)
            self.setHorizontalHeaderLabels([str(j + 1) for j in range(n_cols)])
            self.setVerticalHeaderLabels([str(i + 1) for i in range(n_rows)])
        largest = max((abs(v) for r in rows for v in r if v == v), default=0.0)
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                item = self.item(i, j)
                if item is None:
                    item = QtWidgets.QTableWidgetItem()
                    item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
                    self.setItem(i, j, item)
                item.setText(format_number(v, 4))
                item.setToolTip(format_number(v, 12))
                name = names[i][j] if names else None
                item.setData(QtCore.Qt.ItemDataRole.UserRole, name)
                if colours:
                    item.setBackground(heat(float(v), largest))
                elif name in axes:
                    item.setBackground(QtGui.QColor(AXIS_COLOR))
                    item.setToolTip(f"{name} = {format_number(v, 12)}: on the plot's axes (editing it moves the "
                                    f"selected point)")
                else:
                    item.setBackground(QtGui.QColor("white"))
        visible_rows, visible_cols = min(n_rows, self.MAX_VISIBLE), min(n_cols, self.MAX_VISIBLE)
        frame = 2 * self.frameWidth()
        self.setFixedHeight(self.horizontalHeader().height() + visible_rows * self.verticalHeader().defaultSectionSize()
                            + frame + (self.horizontalScrollBar().sizeHint().height() if n_cols > visible_cols else 0))
        self.setFixedWidth(self.verticalHeader().sizeHint().width() + visible_cols * CELL_WIDTH + frame
                           + (self.verticalScrollBar().sizeHint().width() if n_rows > visible_rows else 0))

    def numbers(self) -> list[list[str]]:
        return [[self.item(i, j).text() for j in range(self.columnCount())] for i in range(self.rowCount())]


class MatrixPanel(QtWidgets.QWidget):
    valueEdited = QtCore.pyqtSignal(str, float)         # an entry (x[1], A[1,2]) or a number typed
    drawRequested = QtCore.pyqtSignal(int)              # draw the vectors' and matrices' values with this seed
    derivativesSubmitted = QtCore.pyqtSignal(str)       # the derivatives to check, one per line

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QtWidgets.QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
        outer.addWidget(scroll)
        body = QtWidgets.QWidget(scroll)
        scroll.setWidget(body)
        self.layout_ = layout = QtWidgets.QVBoxLayout(body)
        layout.setContentsMargins(6, 6, 6, 6)

        self.note = QtWidgets.QLabel(self)
        self.note.setWordWrap(True)
        layout.addWidget(self.note)

        self.inputs_box = QtWidgets.QGroupBox("Inputs", self)
        self.inputs_layout = QtWidgets.QVBoxLayout(self.inputs_box)
        self.inputs_grid = QtWidgets.QGridLayout()
        self.inputs_layout.addLayout(self.inputs_grid)
        layout.addWidget(self.inputs_box)
        seed_row = QtWidgets.QHBoxLayout()
        seed_row.addWidget(QtWidgets.QLabel("Seed", self))
        self.seed_spin = QtWidgets.QSpinBox(self)
        self.seed_spin.setRange(0, SEED_MAX)
        self.seed_spin.setKeyboardTracking(False)
        self.seed_spin.setToolTip("The values of the vectors and matrices (off the plot's axes) are drawn from a "
                                  "standard normal distribution with this seed; so are the check's draws")
        self.seed_spin.valueChanged.connect(self.drawRequested.emit)
        self.draw_button = QtWidgets.QPushButton("Draw again", self)
        self.draw_button.setToolTip("New values with the next seed")
        self.draw_button.clicked.connect(lambda: self.drawRequested.emit(min(self.seed_spin.value() + 1, SEED_MAX)))
        seed_row.addWidget(self.seed_spin)
        seed_row.addWidget(self.draw_button)
        seed_row.addStretch(1)
        self.inputs_layout.addLayout(seed_row)

        self.value_label = QtWidgets.QLabel(self)
        self.value_label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.value_label.setWordWrap(True)
        layout.addWidget(self.value_label)
        self.value_table = _Table(self, editable=False)
        self.value_table.hide()
        layout.addWidget(self.value_table)

        self.gradients_box = QtWidgets.QGroupBox("Gradient (TensorFlow): each shaped like its input", self)
        self.gradients_grid = QtWidgets.QGridLayout(self.gradients_box)
        layout.addWidget(self.gradients_box)

        check_box = QtWidgets.QGroupBox("Check your derivative", self)
        check_layout = QtWidgets.QVBoxLayout(check_box)
        self.derivatives_edit = QtWidgets.QPlainTextEdit(self)
        self.derivatives_edit.setPlaceholderText(PLACEHOLDER)
        self.derivatives_edit.setTabChangesFocus(True)
        self.derivatives_edit.setFixedHeight(64)
        self.derivatives_edit.setToolTip("One derivative per line, d/dx = ... (Ctrl+Enter checks)")
        self.check_button = QtWidgets.QPushButton("Check", self)
        self.check_button.setToolTip("Compare with TensorFlow's gradient (Ctrl+Enter)")
        self.check_button.clicked.connect(self._submit)
        shortcut = QtGui.QShortcut(QtGui.QKeySequence("Ctrl+Return"), self.derivatives_edit)
        shortcut.setContext(QtCore.Qt.ShortcutContext.WidgetShortcut)
        shortcut.activated.connect(self._submit)
        self.problem = QtWidgets.QLabel(self)
        self.problem.setStyleSheet(ERROR_STYLE)
        self.problem.setWordWrap(True)
        self.problem.hide()
        self.verdict = QtWidgets.QLabel(self)
        self.verdict.setWordWrap(True)
        self.verdict.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.verdict.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        check_layout.addWidget(self.derivatives_edit)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.check_button)
        row.addStretch(1)
        check_layout.addLayout(row)
        check_layout.addWidget(self.problem)
        check_layout.addWidget(self.verdict)
        layout.addWidget(check_box)
        layout.addStretch(1)

        self.input_tables: dict[str, _Table] = {}
        self.gradient_tables: dict[str, _Table] = {}
        self.gradient_captions: dict[str, QtWidgets.QLabel] = {}
        self._structure: tuple = ()
        self._gradient_structure: tuple = ()
        self._shown_inputs: list[dict] = []
        self.set_inputs([])

    # ------------------------------------------------------------------ intents
    def _submit(self) -> None:
        self.derivativesSubmitted.emit(self.derivatives_edit.toPlainText())

    def _edited(self, item: QtWidgets.QTableWidgetItem) -> None:
        name = item.data(QtCore.Qt.ItemDataRole.UserRole)
        if name is None:
            return
        try:
            value = float(item.text())
        except ValueError:
            value = None
        if value is None or value != value or abs(value) == float("inf"):
            self.set_inputs(self._shown_inputs)  # not a number: the value shown before comes back
            return
        self.valueEdited.emit(name, value)

    # ------------------------------------------------------------------ set_*
    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setVisible(bool(text))

    def set_inputs(self, inputs: Sequence[dict]) -> None:
        """[{"name", "size" ("3", "3x3", "scalar"), "values" (number, list or rows), "entries" (the entry names,
        as values), "axes" (entries on the plot's axes)}]: one editable table each."""
        self._shown_inputs = list(inputs)
        structure = tuple((i["name"], i["size"]) for i in inputs)
        if structure != self._structure:
            self._structure = structure
            _clear(self.inputs_grid)
            self.input_tables = {}
            for k, item in enumerate(inputs):
                caption = QtWidgets.QLabel(f"<i>{html.escape(item['name'])}</i>: {html.escape(item['size'])}",
                                           self.inputs_box)
                table = _Table(self.inputs_box, editable=True)
                table.itemChanged.connect(self._edited)
                _place(self.inputs_grid, k, caption, table)
                self.input_tables[item["name"]] = table
        for item in inputs:
            table = self.input_tables[item["name"]]
            with QtCore.QSignalBlocker(table):
                table.set_numbers(_rows(item["values"]), names=_rows(item["entries"]), axes=set(item.get("axes", ())))
        self.inputs_box.setVisible(bool(inputs))

    def set_seed(self, seed: int) -> None:
        with QtCore.QSignalBlocker(self.seed_spin):
            self.seed_spin.setValue(int(seed))

    def set_result(self, result: dict | None, message: str = "") -> None:
        """Engine.evaluate_matrix's result (value, gradients by input), or None with why there is none (the
        tables wait hidden for the next result)."""
        if result is None:
            self.value_label.setText(message)
            self.value_table.hide()
            self.gradients_box.hide()
            return
        out = result["function"]
        value = result["value"]
        if hasattr(value, "tolist"):
            value = value.tolist()
        if isinstance(value, list):
            shape = result["shape"]
            what = f"{shape} entries" if shape.isdigit() else shape  # 3 entries, 3x3, 1x3
            self.value_label.setText(f"<i>{html.escape(out)}</i> ({html.escape(what)}) =")
            self.value_table.set_numbers(_rows(value))
            self.value_table.show()
        else:
            self.value_label.setText(f"<i>{html.escape(out)}</i> = {format_number(value, 10)}")
            self.value_table.hide()
        if result["gradients"] is None:
            self.value_label.setText(self.value_label.text() + f"<br>No gradient: {html.escape(out)} is not a number "
                                     f"(try ||{html.escape(out)}||^2 or sum({html.escape(out)}))")
        self._set_gradients(result["gradients"] or {}, out, {n: v["shape"] for n, v in result["inputs"].items()})

    def _set_gradients(self, gradients: dict, out: str = "f", shapes: dict | None = None) -> None:
        structure = tuple(gradients)
        if structure != self._gradient_structure:
            self._gradient_structure = structure
            _clear(self.gradients_grid)
            self.gradient_tables, self.gradient_captions = {}, {}
            for k, name in enumerate(gradients):
                caption = QtWidgets.QLabel(self.gradients_box)
                table = _Table(self.gradients_box, editable=False)
                _place(self.gradients_grid, k, caption, table)
                self.gradient_tables[name], self.gradient_captions[name] = table, caption
        for name, g in gradients.items():
            size = (shapes or {}).get(name, "")
            self.gradient_captions[name].setText(
                f"∂<i>{html.escape(out)}</i>/∂<i>{html.escape(name)}</i>" + (f": {html.escape(size)}" if size else ""))
            self.gradient_tables[name].set_numbers(_rows(g), colours=True)
        self.gradients_box.setVisible(bool(gradients))

    def set_derivatives(self, text: str) -> None:
        if self.derivatives_edit.toPlainText() != text:
            self.derivatives_edit.setPlainText(text)

    def set_check(self, result: dict | None, problem: str = "", waiting: bool = False) -> None:
        """Engine.check_derivatives' result, or what is wrong with the text (``problem``), or a check on its way."""
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        if waiting:
            self.verdict.setText("Checking against TensorFlow…")
            return
        if result is None:
            self.verdict.setText("")
            return
        parts = []
        for r in result["results"]:
            mark, colour = ("✓", "#2e7d32") if r["agrees"] else ("?", "#8a5a00") if r["agrees"] is None else \
                ("✗", "#c62828")
            parts.append(f"<p><b style='color:{colour}'>{mark}</b> <code>{html.escape(r['text'])}</code><br>"
                         f"{html.escape(r['message'])}{self._worst(result['mode'], r)}</p>")
        if result["mode"] == "grid" and result["agrees"] is False:
            parts.append("<p>Where they differ is drawn in red on the contour map.</p>")
        self.verdict.setText("".join(parts))

    @staticmethod
    def _worst(mode: str, r: dict) -> str:
        worst = r["worst"]
        if r["agrees"] or worst is None:
            return ""
        if mode == "grid":
            where = ", ".join(f"{html.escape(a)} = {format_number(v, 4)}" for a, v in worst["point"].items())
            return (f"<br>worst at {where}: yours {format_number(worst['yours'], 6)}, TensorFlow's "
                    f"{format_number(worst['tensorflow'], 6)}")
        sizes = ", ".join(f"{html.escape(s)} = {n}" for s, n in worst["sizes"].items())
        rows = "".join(f"<tr><td>{html.escape(e['entry'])}</td><td align='right'>{format_number(e['yours'], 5)}</td>"
                       f"<td align='right'>{format_number(e['tensorflow'], 5)}</td></tr>" for e in worst["entries"])
        return (f"<br>draw {worst['draw']}{' (' + sizes + ')' if sizes else ''}, the entries that differ most:"
                f"<table cellspacing='4'><tr><th align='left'>entry</th><th>yours</th><th>TensorFlow's</th></tr>"
                f"{rows}</table>")

    # ------------------------------------------------------------------ reading (tests, export)
    def shown_inputs(self) -> dict[str, list[list[str]]]:
        return {name: table.numbers() for name, table in self.input_tables.items()}

    def shown_gradients(self) -> dict[str, list[list[str]]]:
        if self.gradients_box.isHidden():
            return {}
        return {name: table.numbers() for name, table in self.gradient_tables.items()}
