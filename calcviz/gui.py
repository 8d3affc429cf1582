"""Start the window: QApplication, pyqtgraph options, compute process, controller."""
from __future__ import annotations

import sys
from pathlib import Path

from PyQt6 import QtCore, QtWidgets


def create_app() -> QtWidgets.QApplication:
    # pyqtgraph caches GL shader programs per class: every GL view must share one context group.
    QtCore.QCoreApplication.setAttribute(QtCore.Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("calcviz")
    app.setOrganizationName("calcviz")
    return app


def build(device: str = "auto", persist: bool = True):
    """The compute process (started first: its TensorFlow import overlaps building the window),
    the window and the controller. ``persist``: the window saves its layout and the last session
    on close (the app); `calcviz export` draws with a window that must leave the user's state alone."""
    from .models.compute import ComputeClient

    client = ComputeClient(device)
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True)
    from .controller import Controller
    from .main_window import MainWindow

    window = MainWindow()
    controller = Controller(window, client, persist)
    window.destroyed.connect(controller.shutdown)
    return window, controller


def run(args) -> int:
    """A session file or --expr opens that; otherwise the app reopens where the user left off."""
    from .app import DEFAULT_EXPRESSION
    from .models import storage
    from .models.expression import ParseError, parse

    state = None
    try:
        if args.session:
            state = storage.load_session(args.session)
        elif args.expr:
            parse(args.expr)
    except ParseError as exc:
        print(f"calcviz: --expr: {exc}\n{exc.caret()}", file=sys.stderr)
        return 2
    except storage.SessionError as exc:
        print(f"calcviz: {exc}", file=sys.stderr)
        return 2
    app = create_app()
    window, controller = build(args.device)
    controller.files.restore_layout()
    if state is not None:
        controller.files.restore(state)
        controller.files.path = Path(args.session)
    elif args.expr or not controller.files.open_last():
        controller.start(args.expr or DEFAULT_EXPRESSION)
    window.show()
    try:
        return app.exec()
    finally:
        dispose(window, controller)


def dispose(window, controller) -> None:
    """Stop the compute process and destroy the window while the QApplication is alive.

    Left to interpreter exit, Qt objects die in an arbitrary order and the GL view segfaulted
    about one exit in four."""
    controller.shutdown()
    window.close()
    window.deleteLater()
    QtWidgets.QApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete.value)
    QtWidgets.QApplication.processEvents()
