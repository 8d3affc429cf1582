"""The equation editor, driven like a user would: keystrokes, the presets menu, Ctrl+Enter."""
import time

import pytest
from PyQt6.QtCore import QObject, Qt, QTimer
from PyQt6.QtGui import QAction, QColor, QTextCharFormat, QTextFormat

from calcviz import resources
from calcviz.models.expression import ParseError, parse
from calcviz.models.pretty import to_html
from calcviz.views.editor import EquationEditor
from ui import show  # noqa: E402

SETTLE_MS = 500  # comfortably longer than the 150 ms debounce


@pytest.fixture
def editor(qtbot):
    return show(qtbot, EquationEditor(), 560, 220)


@pytest.fixture
def edits(editor):
    """Every expressionEdited, with the time it came."""
    seen: list[tuple[str, float]] = []
    editor.expressionEdited.connect(lambda text: seen.append((text, time.monotonic())))
    return seen


def texts(edits):
    return [text for text, _ in edits]


def parse_error(text: str) -> ParseError:
    with pytest.raises(ParseError) as info:
        parse(text)
    return info.value


def marker(editor):
    (selection,) = editor.field.extraSelections()
    return selection


# ----------------------------------------------------------------------------- typing
def test_a_burst_of_keystrokes_emits_once_after_the_pause(editor, edits, qtbot):
    with qtbot.waitSignal(editor.expressionEdited, timeout=2000) as blocker:
        qtbot.keyClicks(editor.field, "x^2 + y^2")
        typed_at = time.monotonic()
        assert edits == []  # nothing while typing
    assert blocker.args == ["x^2 + y^2"]
    qtbot.wait(SETTLE_MS)
    assert texts(edits) == ["x^2 + y^2"]
    assert edits[0][1] - typed_at >= 0.1  # it waited for the pause
    assert editor.text() == "x^2 + y^2"


def test_keystrokes_closer_than_the_debounce_still_emit_once(editor, edits, qtbot):
    qtbot.keyClicks(editor.field, "sin(x)", delay=30)
    qtbot.waitUntil(lambda: len(edits) > 0, timeout=2000)
    qtbot.wait(SETTLE_MS)
    assert texts(edits) == ["sin(x)"]


def test_enter_makes_a_new_line_and_the_full_text_is_emitted(editor, edits, qtbot):
    qtbot.keyClicks(editor.field, "a = x + y")
    qtbot.keyClick(editor.field, Qt.Key.Key_Return)
    qtbot.keyClicks(editor.field, "f = a^2")
    qtbot.waitUntil(lambda: len(edits) > 0, timeout=2000)
    qtbot.wait(SETTLE_MS)
    assert texts(edits) == ["a = x + y\nf = a^2"]


def test_typing_and_undoing_within_the_wait_emits_nothing(editor, edits, qtbot):
    editor.set_text("x")
    qtbot.keyClicks(editor.field, "y")
    qtbot.keyClick(editor.field, Qt.Key.Key_Backspace)
    qtbot.wait(SETTLE_MS)
    assert editor.text() == "x" and edits == []


def test_ctrl_enter_emits_at_once_without_a_new_line(editor, edits, qtbot):
    qtbot.keyClicks(editor.field, "x + 1")
    qtbot.keyClick(editor.field, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert texts(edits) == ["x + 1"]  # synchronously, before any timer could fire
    assert editor.text() == "x + 1"
    qtbot.wait(SETTLE_MS)
    assert texts(edits) == ["x + 1"]  # the pending debounced emission was cancelled
    # Ctrl+Enter always applies, even when nothing changed (a "recompute" gesture).
    qtbot.keyClick(editor.field, Qt.Key.Key_Enter, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.KeypadModifier)
    assert texts(edits) == ["x + 1", "x + 1"]


def test_set_text_does_not_emit_and_cancels_pending_typing(editor, edits, qtbot):
    editor.set_text("sin(x) cos(y)")
    assert editor.text() == "sin(x) cos(y)"
    qtbot.keyClicks(editor.field, " + 1")
    editor.set_text("x^2")  # the app replaces the text before the pause ends
    with qtbot.assertNotEmitted(editor.expressionEdited, wait=SETTLE_MS):
        pass
    assert editor.text() == "x^2" and edits == []


# ----------------------------------------------------------------------------- presets
def preset_menus(editor):
    return [action.menu() for action in editor.presets_button.menu().actions() if action.menu()]


def test_presets_menu_is_grouped_like_the_resource_file(editor):
    presets = resources.presets()
    groups = list(dict.fromkeys(p["group"] for p in presets))
    menus = preset_menus(editor)
    assert [m.title() for m in menus] == groups
    for menu, group in zip(menus, groups):
        assert [a.text() for a in menu.actions()] == [p["name"] for p in presets if p["group"] == group]
        assert [a.toolTip() for a in menu.actions()] == [p["text"] for p in presets if p["group"] == group]


def test_choosing_a_preset_emits_it_and_shows_its_text(editor, edits, qtbot):
    chain = next(p for p in resources.presets() if p["name"].startswith("Chain rule"))
    action = next(a for m in preset_menus(editor) for a in m.actions() if a.text() == chain["name"])
    height_before = editor.field.height()
    editor.set_error("stale", 0)
    with qtbot.waitSignal(editor.presetChosen, timeout=1000) as blocker:
        action.trigger()
    assert blocker.args == [chain]
    assert blocker.args[0] is not chain  # a copy: receivers cannot change the shared resource
    assert editor.text() == chain["text"] and editor.text().count("\n") == 4
    assert editor.field.height() > height_before  # five lines: the field grew
    assert editor.error_label.isHidden() and editor.field.extraSelections() == []
    qtbot.wait(SETTLE_MS)
    assert edits == []  # showing the preset's text is not an edit


def test_ctrl_z_sends_the_text_typed_so_far_then_asks_the_window_to_undo(editor, edits, qtbot):
    """The formula has one undo, the window's, whose steps are the edits sent: Ctrl+Z in the field
    first sends what was typed within the debounce wait (so it is a step of its own), then asks."""
    asked = []
    editor.undoRequested.connect(lambda: asked.append(("undo", texts(edits))))
    editor.redoRequested.connect(lambda: asked.append(("redo", texts(edits))))
    qtbot.keyClicks(editor.field, "x y")
    qtbot.keyClick(editor.field, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # before the wait is over
    assert asked == [("undo", ["x y"])]
    assert editor.text() == "x y"  # the field's own undo (which merges typing) does not run
    qtbot.keyClick(editor.field, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert asked[-1] == ("redo", ["x y"]) and len(edits) == 1


# ----------------------------------------------------------------------------- preview and errors
def test_set_error_shows_the_message_and_underlines_the_character(editor, qtbot):
    text = "x^2 + * y"
    editor.set_text(text)
    editor.set_preview(to_html(parse("x^2")))
    error = parse_error(text)
    editor.set_error(error.message, error.position)

    assert editor.error_label.isVisible() and editor.error_label.text() == "'*' needs something on its left"
    selection = marker(editor)
    assert (selection.cursor.selectionStart(), selection.cursor.selectionEnd()) == (6, 7)
    assert selection.cursor.selectedText() == "*"
    assert selection.format.underlineStyle() == QTextCharFormat.UnderlineStyle.WaveUnderline
    assert selection.format.underlineColor() == QColor("#c62828")
    assert selection.format.background().color() == QColor("#fdecea")
    assert editor.text() == text  # the field is never edited
    assert not editor.preview_label.isEnabled()  # the last good preview stays, greyed out

    html = to_html(parse("x^2 + y"))
    editor.set_preview(html)
    assert editor.preview_label.text() == html and editor.preview_label.isEnabled()
    assert editor.error_label.isHidden() and editor.error_label.text() == ""
    assert editor.field.extraSelections() == []


@pytest.mark.parametrize("text, marked", [
    ("x^2 +", "+"),                # position == len(text): the last character
    ("x^2 +   ", "+"),             # ... skipping trailing blanks
    ("a = x +\nf = a", "+"),       # position on a line's end
    ("sin(x", "("),                # "this '(' is never closed"
])
def test_errors_at_the_end_mark_the_last_character(editor, text, marked):
    editor.set_text(text)
    error = parse_error(text)
    editor.set_error(error.message, error.position)
    assert marker(editor).cursor.selectedText() == marked
    assert editor.error_label.text() == error.message
    assert editor.text() == text


def test_error_on_empty_text_tints_the_line(editor):
    editor.set_text("")
    error = parse_error("")
    editor.set_error(error.message, error.position)
    selection = marker(editor)
    assert selection.cursor.position() == 0 and not selection.cursor.hasSelection()
    assert selection.format.property(QTextFormat.Property.FullWidthSelection) is True
    assert editor.error_label.text() == "type a function, for example x^2 + y^2"


def test_error_position_counts_python_characters_not_utf16_units(editor):
    text = "𝑥^2 + * 𝑦"  # mathematical italic letters, outside the BMP, pasted from notes
    editor.set_text(text)
    error = parse_error(text)
    assert text[error.position] == "*"
    editor.set_error(error.message, error.position)
    assert marker(editor).cursor.selectedText() == "*"


def test_error_messages_are_plain_text(editor):
    editor.set_error("unexpected character '<': comparisons are not supported", 0)
    assert editor.error_label.textFormat() == Qt.TextFormat.PlainText
    assert editor.error_label.text() == "unexpected character '<': comparisons are not supported"


def test_clear_error(editor):
    editor.set_text("x +")
    editor.set_error("expected a number, a name or '(' after '+'", 3)
    editor.clear_error()
    assert editor.error_label.isHidden() and editor.field.extraSelections() == []
    assert editor.preview_label.isEnabled()


# ----------------------------------------------------------------------------- looks and structure
def test_field_height_follows_the_lines_between_2_and_8(editor, qtbot):
    line = editor.field.fontMetrics().lineSpacing()
    editor.set_text("x")
    two = editor.field.height()  # two lines at least: the plots keep the height on a laptop
    editor.set_text("\n".join(f"a{i} = x" for i in range(5)))
    five = editor.field.height()
    editor.set_text("\n".join(f"a{i} = x" for i in range(8)))
    qtbot.wait(50)
    assert not editor.field.verticalScrollBar().isVisible()  # eight lines fit exactly
    editor.set_text("\n".join(f"a{i} = x" for i in range(20)))
    capped = editor.field.height()
    qtbot.wait(50)
    assert editor.field.verticalScrollBar().isVisible()
    assert five - two == 3 * line
    assert capped - two == 6 * line
    editor.set_text("x")
    assert editor.field.height() == two


def test_tooltips_explain_the_syntax(editor):
    assert "x^2 + y^2" in editor.field.toolTip() and "a = x + y" in editor.field.toolTip()
    assert "Ctrl+Enter" in editor.field.toolTip()
    assert "example" in editor.presets_button.toolTip()


def test_every_object_belongs_to_the_editor(editor):
    actions = editor.findChildren(QAction)
    names = {a.text() for a in actions}
    assert {p["name"] for p in resources.presets()} <= names
    assert len(editor.findChildren(QTimer)) >= 1
    for child in editor.findChildren(QObject):
        assert child.parent() is not None
    assert editor.field.font().fixedPitch() or editor.field.font().styleHint() == editor.field.font().StyleHint.TypeWriter


# ----------------------------------------------------------------------------- too much text
def test_pasting_a_megabyte_is_refused_at_once_and_the_text_stays(editor, edits, qtbot):
    from PyQt6.QtWidgets import QApplication

    qtbot.keyClicks(editor.field, "x^2 + y^2")
    QApplication.clipboard().setText("x+" * 500_000 + "y")  # a megabyte
    started = time.monotonic()
    editor.field.paste()
    qtbot.wait(SETTLE_MS)
    assert time.monotonic() - started < 5.0  # a freeze only: it used to take 54 s, and 27 s more per keystroke
    assert editor.text() == "x^2 + y^2"
    assert "Not pasted" in editor.error_label.text() and "1,000,010 characters" in editor.error_label.text()
    assert editor.error_label.isVisible()
    assert texts(edits) == ["x^2 + y^2"]
    QApplication.clipboard().setText(" - 3")  # a paste that fits goes in as usual
    editor.field.paste()
    qtbot.waitUntil(lambda: texts(edits)[-1:] == ["x^2 + y^2 - 3"], timeout=2000)


def test_a_long_chain_scrolls_in_the_preview_instead_of_growing_the_editor(editor, qtbot):
    chain = "\n".join(f"a{k} = a{k - 1}^2 + x" for k in range(1, 41))
    text = "a0 = y\n" + chain
    editor.set_text(text)
    editor.set_preview(to_html(parse(text)))
    qtbot.wait(50)
    lines = editor.preview_label.fontMetrics().lineSpacing()
    assert editor.preview_area.height() <= 5 * lines + 6       # at most about four lines of preview...
    assert editor.preview_label.sizeHint().height() > 10 * lines  # ...of a much taller preview, which scrolls
    assert editor.sizeHint().height() < 400 and editor.minimumSizeHint().height() < 400
