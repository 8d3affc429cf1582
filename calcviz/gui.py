"""Start the window: the display check, QApplication, the compute process, the Session, the window
and its controllers."""
from __future__ import annotations

import gc
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from PyQt6 import QtCore, QtWidgets

NO_DISPLAY = """calcviz: no display found (DISPLAY and WAYLAND_DISPLAY are not set).
The window needs a screen. On a machine without one, run it on a virtual screen:
    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/calcviz
Headless commands work anywhere, e.g.:  .venv/bin/calcviz eval "x^2+y^2" --at x=1 y=2"""


def has_display() -> bool:
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or platform.startswith("offscreen")


def create_app() -> QtWidgets.QApplication:
    # pyqtgraph caches GL shader programs per class: every GL view must share one context group.
    QtCore.QCoreApplication.setAttribute(QtCore.Qt.ApplicationAttribute.AA_ShareOpenGLContexts)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationName("calcviz")
    app.setOrganizationName("calcviz")
    return app


@dataclass
class App:
    """The window and what drives it: the Session (all state), the bridge to the compute process and
    one controller per feature."""
    window: object
    session: object
    bridge: object
    document: object
    critical: object
    descent: object
    chain: object
    files: object
    matrix: object = None

    def start(self, text: str, x_range=(-2.0, 2.0), y_range=(-2.0, 2.0), params=None) -> None:
        """Open on a formula (a new session: nothing to undo)."""
        from .models.settings import Settings

        self.session.open(Settings.for_text(text, x_range, y_range, params=params))

    @property
    def idle(self) -> bool:
        """Nothing is being computed and nothing is waiting to be."""
        return not self.bridge.busy and not self.session.wanted()

    def shutdown(self) -> None:
        self.descent.shutdown()
        self.bridge.shutdown()


def build(device: str = "auto", persist: bool = True) -> App:
    """The compute process (started first: its TensorFlow import overlaps building the window), the
    Session, the window and its controllers. ``persist``: the window saves its layout and the last
    session on close (the app); `calcviz export` draws with a window that must leave the user's state alone."""
    from .models.compute import ComputeClient

    client = ComputeClient(device)
    import pyqtgraph as pg

    pg.setConfigOptions(antialias=True)
    from .controllers.chain import ChainController
    from .controllers.compute_bridge import ComputeBridge
    from .controllers.critical import CriticalController
    from .controllers.descent import DescentController
    from .controllers.document import DocumentController
    from .controllers.files import FilesController
    from .controllers.matrix import MatrixController
    from .main_window import MainWindow
    from .models.session import Session

    session = Session()
    window = MainWindow()
    bridge = ComputeBridge(session, client, window)
    document = DocumentController(session, window, window)
    critical = CriticalController(session, window, window)
    descent = DescentController(session, window, window)
    chain = ChainController(session, window, window)
    files = FilesController(session, window, descent, persist, window)
    matrix = MatrixController(session, window, window)
    bridge.busyChanged.connect(window.set_busy)
    window.actions["cancel"].triggered.connect(bridge.cancel)
    app = App(window, session, bridge, document, critical, descent, chain, files, matrix)
    window.destroyed.connect(app.shutdown)
    return app


def run(args) -> int:
    """A session file or --expr opens that; otherwise the app reopens where the user left off."""
    from .models import storage
    from .models.expression import ParseError, parse
    from .models.matrix import check_window
    from .models.settings import DEFAULT_EXPRESSION

    checked = None
    try:
        if args.session:
            checked = storage.load_session(args.session)
        elif args.expr:
            check_window(parse(args.expr))
    except ParseError as exc:
        print(f"calcviz: --expr: {exc}\n{exc.caret()}", file=sys.stderr)
        return 2
    except storage.SessionError as exc:
        print(f"calcviz: {exc}", file=sys.stderr)
        return 2
    qt = create_app()
    app = build(args.device)
    app.window.fit_to_screen()  # the saved layout, if any, then puts the window where the user left it
    app.files.restore_layout()
    if checked is not None:
        app.session.restore(checked)
        app.files.path = Path(args.session)
    elif args.expr or not app.files.open_last():
        message = app.session.status
        app.start(args.expr or DEFAULT_EXPRESSION)
        if message is not None:  # why the last session did not reopen
            app.session.note("status", message.text, error=message.error)
    app.window.show()
    # What exists now lives as long as the window: out of the collector's full passes, which walked
    # ~110,000 objects for 40-45 ms each (stalling a race's animation or a first step).
    gc.freeze()
    try:
        return qt.exec()
    finally:
        dispose(app)


def dispose(app: App) -> None:
    """Stop the compute process and destroy the window while the QApplication is alive.

    Left to interpreter exit, Qt objects die in an arbitrary order and the GL view segfaulted
    about one exit in four."""
    app.shutdown()
    window = app.window
    window.close()
    window.deleteLater()
    QtWidgets.QApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete.value)
    QtWidgets.QApplication.processEvents()
