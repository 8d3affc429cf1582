"""What a user does with a widget, shared by the GUI tests."""
from PyQt6.QtCore import Qt

TIMEOUT = 60_000  # ms; the first result waits for TensorFlow's import in the compute process


def open_window(text: str, **box):
    """The real window and its App (session, bridge, controllers) on ``text`` (a generator for
    module-scoped fixtures)."""
    from calcviz.gui import build, dispose

    app = build("cpu")
    window = app.window
    window.resize(1400, 900)
    app.start(text, **box)
    window.show()
    yield window, app
    dispose(app)


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
