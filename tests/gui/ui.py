"""What a user does with a widget, shared by the GUI tests."""
from PyQt6.QtCore import Qt


def show(qtbot, widget, width: int = 340, height: int = 300):
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def type_into(qtbot, box, text):
    """Select the box's text, type, press Enter."""
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, text)
    qtbot.keyClick(box, Qt.Key.Key_Return)
