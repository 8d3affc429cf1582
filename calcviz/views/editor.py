"""The formula field: what the user types goes out as intent; what to show comes back in.

The editor does no math and parses nothing. It emits ``expressionEdited(text)`` (debounced while
typing, at once on Ctrl+Enter) and ``presetChosen(preset)``; the controller parses the text and
answers with :meth:`EquationEditor.set_preview` (rich text, see calcviz.models.pretty) or
:meth:`EquationEditor.set_error` (a message and the character it is about).
"""
from __future__ import annotations

import copy
import functools
import math
from collections.abc import Sequence

from PyQt6.QtCore import QEvent, QKeyCombination, QObject, QSignalBlocker, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import (QAction, QColor, QFontDatabase, QFontMetrics, QKeyEvent, QKeySequence, QTextCharFormat, QTextCursor,
                         QTextFormat)
from PyQt6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QMenu, QPlainTextEdit, QScrollArea, QSizePolicy, QTextEdit,
                             QToolButton, QVBoxLayout, QWidget)

from calcviz import resources
from calcviz.models.expression import MAX_LENGTH

from .common import ERROR_COLOR

ERROR_BACKGROUND = "#fdecea"  # behind the marked character, or the whole line when there is none

SYNTAX_HELP = (
    "Type a function of x and y, as on paper:\n"
    "    x^2 + y^2      2x sin(y)      exp(-x^2 - y^2)      (x+1)(x-1)\n"
    "Definitions, one per line or separated by ';' (the last line is the function):\n"
    "    a = x + y;  f = a^2\n"
    "Functions: sin cos tan exp log sqrt abs min max …   Constants: pi, e\n"
    "Enter starts a new line; Ctrl+Enter applies at once."
)
PRESETS_HELP = "Load an example formula, with its plot ranges. Ctrl+Z brings your text back."


class FormulaField(QPlainTextEdit):
    """The text field. A paste (or drop) that would make the text longer than a formula may be is
    refused whole: laying out a megabyte of text froze the window for most of a minute."""

    refused = pyqtSignal(str)

    def __init__(self, parent: QWidget, max_length: int):
        super().__init__(parent)
        self.max_length = max_length

    def insertFromMimeData(self, source) -> None:  # noqa: N802 - Qt override
        incoming = len(source.text()) if source.hasText() else 0
        selected = len(self.textCursor().selectedText())
        length = len(self.toPlainText()) - selected + incoming
        if length > self.max_length:
            self.refused.emit(f"Not pasted: the text would be {length:,} characters long; a formula has at most "
                              f"{self.max_length:,}. Split it into definitions, one per line.")
            return
        super().insertFromMimeData(source)


class EquationEditor(QWidget):
    """Multi-line formula field, presets menu, preview line and error line."""

    expressionEdited = pyqtSignal(str)  # full text, ~150 ms after the last keystroke, or at once on Ctrl+Enter
    presetChosen = pyqtSignal(dict)     # a copy of the preset dict from resources/presets.json
    undoRequested = pyqtSignal()        # Ctrl+Z in the field (the text typed so far is sent first)
    redoRequested = pyqtSignal()

    DEBOUNCE_MS = 150
    MIN_LINES, MAX_LINES = 2, 8
    PREVIEW_LINES = 4.5  # the preview's height at most; more definitions scroll

    def __init__(self, parent: QWidget | None = None, presets: Sequence[dict] | None = None):
        super().__init__(parent)
        self._presets = [dict(p) for p in (resources.presets() if presets is None else presets)]
        self._last_emitted: str | None = None

        self.field = FormulaField(self, MAX_LENGTH)
        self.field.refused.connect(lambda message: self._show_message(message))
        self.field.setObjectName("equationField")
        self.field.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.field.setPlaceholderText("x^2 + y^2")
        self.field.setToolTip(SYNTAX_HELP)
        self.field.setTabChangesFocus(True)
        self.field.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        # One undo for the formula: the window's, whose steps are the edits sent (the field's own merges
        # a run of typing into one step, so Ctrl+Z would take back more than the last edit).
        self.field.setUndoRedoEnabled(False)
        self.field.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.field.installEventFilter(self)

        self.presets_button = QToolButton(self)
        self.presets_button.setObjectName("presetsButton")
        self.presets_button.setText("Presets")
        self.presets_button.setToolTip(PRESETS_HELP)
        self.presets_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.presets_button.setMenu(self._build_presets_menu())

        self.preview_label = QLabel(self)
        self.preview_label.setObjectName("previewLabel")
        self.preview_label.setTextFormat(Qt.TextFormat.RichText)
        self.preview_label.setWordWrap(True)
        font = self.preview_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.25)
        self.preview_label.setFont(font)
        # A long chain of definitions scrolls inside the preview instead of pushing the plots off screen.
        self.preview_area = QScrollArea(self)
        self.preview_area.setWidget(self.preview_label)
        self.preview_area.setWidgetResizable(True)
        self.preview_area.setFrameShape(QFrame.Shape.NoFrame)
        self.preview_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._preview_max = round(QFontMetrics(font).lineSpacing() * self.PREVIEW_LINES) + 6

        self.error_label = QLabel(self)
        self.error_label.setObjectName("errorLabel")
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)  # messages quote user text like '<'
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {ERROR_COLOR};")
        self.error_label.hide()

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(self.DEBOUNCE_MS)
        self._timer.timeout.connect(self._emit_debounced)
        self.field.textChanged.connect(self._timer.start)  # every keystroke restarts the wait
        self.field.document().documentLayout().documentSizeChanged.connect(self._fit_height)

        # The typeset formula beside the field, not under it: the plots keep that height.
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.field, 3)
        row.addWidget(self.preview_area, 2, Qt.AlignmentFlag.AlignVCenter)
        row.addWidget(self.presets_button, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.error_label)
        self.setFocusProxy(self.field)
        self._fit_height()

    # ------------------------------------------------------------------------- public
    def text(self) -> str:
        return self.field.toPlainText()

    def set_text(self, text: str) -> None:
        """Show ``text`` without emitting expressionEdited; clears the error marker (it was about the old text)."""
        self._timer.stop()
        self._last_emitted = text
        if text == self.text():
            return
        with QSignalBlocker(self.field):
            cursor = QTextCursor(self.field.document())
            cursor.beginEditBlock()
            cursor.select(QTextCursor.SelectionType.Document)
            cursor.insertText(text)
            cursor.endEditBlock()
            self.field.moveCursor(QTextCursor.MoveOperation.End)
        self.clear_error()

    def set_preview(self, html: str, notes: str = "") -> None:
        """Show the rendered formula (rich text) and clear any error; ``notes`` (rich text) say how ambiguous
        pieces of the text were read ("xy read as x·y"), in small print under it."""
        if notes:
            html += f"<br><span style='font-size:small; color:#666'>{notes}</span>"
        self.preview_label.setText(html)
        self._fit_preview()
        self.clear_error()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_preview()

    def _fit_preview(self) -> None:
        """As tall as the preview's lines, up to PREVIEW_LINES; beyond that it scrolls."""
        width = max(self.preview_area.viewport().width(), 50)
        needed = self.preview_label.heightForWidth(width)
        if needed <= 0:
            needed = self.preview_label.sizeHint().height()
        self.preview_area.setFixedHeight(min(needed + 2, self._preview_max))

    def set_error(self, message: str, position: int) -> None:
        """Show ``message`` and underline the character at ``position`` (an index into text()).

        A position at the end of the text or of a line marks the last visible character before it.
        The preview keeps the last good formula, greyed out. The field's content is never changed."""
        self.error_label.setText(message)
        self.error_label.show()
        self.preview_label.setEnabled(False)
        self.field.setExtraSelections(self._error_marker(position))

    def _show_message(self, message: str) -> None:
        """A note about what the user just did (the text and its marks stay as they are)."""
        self.error_label.setText(message)
        self.error_label.show()

    def clear_error(self) -> None:
        self.error_label.clear()
        self.error_label.hide()
        self.preview_label.setEnabled(True)
        self.field.setExtraSelections([])

    # ------------------------------------------------------------------------- presets
    def _build_presets_menu(self) -> QMenu:
        menu = QMenu(self.presets_button)
        menu.setToolTipsVisible(True)
        groups: dict[str, QMenu] = {}
        for index, preset in enumerate(self._presets):
            group = str(preset.get("group") or "Examples")
            if group not in groups:
                groups[group] = QMenu(group, menu)
                groups[group].setToolTipsVisible(True)
                menu.addMenu(groups[group])
            action = QAction(str(preset.get("name", preset.get("text", ""))).replace("&", "&&"), groups[group])
            action.setToolTip(str(preset.get("text", "")))
            action.setData(index)
            action.triggered.connect(functools.partial(self._preset_triggered, index))
            groups[group].addAction(action)
        return menu

    def _preset_triggered(self, index: int, _checked: bool = False) -> None:
        preset = self._presets[index]
        self.set_text(str(preset.get("text", "")))
        self.presetChosen.emit(copy.deepcopy(preset))

    # ------------------------------------------------------------------------- typing
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.field and event.type() in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            key_event: QKeyEvent = event
            history = (self.undoRequested if key_event.matches(QKeySequence.StandardKey.Undo) else
                       self.redoRequested if key_event.matches(QKeySequence.StandardKey.Redo)
                       or key_event.keyCombination() == QKeyCombination(Qt.KeyboardModifier.ControlModifier
                                                                        | Qt.KeyboardModifier.ShiftModifier, Qt.Key.Key_Z)
                       else None)
            if history is not None:
                event.accept()  # ours, not the window's shortcut (which would skip the flush below)
                if event.type() == QEvent.Type.KeyPress:
                    self.flush()
                    history.emit()
                return True
        if watched is self.field and event.type() == QEvent.Type.KeyPress:
            key_event: QKeyEvent = event
            if (key_event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
                    and key_event.modifiers() & Qt.KeyboardModifier.ControlModifier):
                self._apply_now()
                return True  # no new line
        return super().eventFilter(watched, event)

    def flush(self) -> None:
        """Send the text typed so far now, if the wait for more typing has not sent it yet."""
        if self._timer.isActive():
            self._timer.stop()
            self._emit_debounced()

    def _apply_now(self) -> None:
        self._timer.stop()
        self._last_emitted = self.text()
        self.expressionEdited.emit(self._last_emitted)

    def _emit_debounced(self) -> None:
        text = self.text()
        if text != self._last_emitted:  # typed and undone within the wait: nothing new to say
            self._last_emitted = text
            self.expressionEdited.emit(text)

    def _fit_height(self, *_args) -> None:
        lines = max(self.MIN_LINES, min(self.MAX_LINES, self.field.document().lineCount()))
        margin = self.field.document().documentMargin()
        # +2: QPlainTextEdit shows its scroll bar unless a pixel is left over below the last line.
        height = lines * self.field.fontMetrics().lineSpacing() + 2 * margin + 2 * self.field.frameWidth() + 2
        self.field.setFixedHeight(math.ceil(height))

    # ------------------------------------------------------------------------- error marker
    def _error_marker(self, position: int) -> list[QTextEdit.ExtraSelection]:
        text = self.text()
        position = start = max(0, min(int(position), len(text)))
        if position == len(text) or text[position] == "\n":
            # "expected ... after '+'": the error is at the end; mark what comes last before it.
            while start > 0 and text[start - 1] in " \t\r":
                start -= 1
            position = start - 1 if start > 0 and text[start - 1] != "\n" else -1
        selection = QTextEdit.ExtraSelection()
        cursor = QTextCursor(self.field.document())
        fmt = QTextCharFormat()
        if position < 0:  # nothing to underline (an empty text or line): tint the line instead
            cursor.setPosition(_utf16_offset(text, start))
            fmt.setBackground(QColor(ERROR_BACKGROUND))
            fmt.setProperty(QTextFormat.Property.FullWidthSelection, True)
        else:
            cursor.setPosition(_utf16_offset(text, position))
            cursor.setPosition(_utf16_offset(text, position + 1), QTextCursor.MoveMode.KeepAnchor)
            fmt.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
            fmt.setUnderlineColor(QColor(ERROR_COLOR))
            fmt.setBackground(QColor(ERROR_BACKGROUND))  # one wavy character is easy to miss
        selection.cursor = cursor
        selection.format = fmt
        return [selection]


def _utf16_offset(text: str, index: int) -> int:
    """Qt counts UTF-16 units: a pasted 𝑥 (outside the BMP) is one Python character but two Qt ones."""
    return len(text[:index].encode("utf-16-le")) // 2
