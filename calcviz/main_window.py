"""The main window: composition only. Builds the views and docks; the controller wires them."""
from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

from . import help_text
from .views.approximation_panel import ApproximationPanel
from .views.contour import ContourView
from .views.common import ElidedLabel
from .views.critical_panel import CriticalPointsPanel
from .views.curve import CurveView
from .views.descent_panel import DescentPanel
from .views.editor import EquationEditor
from .views.graph_view import ChainRuleView
from .views.inspector import PointInspector
from .views.loss_plot import LossPlot
from .views.matrix_panel import MatrixPanel
from .views.panels import DomainPanel, ParametersPanel
from .views.surface import SurfaceView


PREFERRED_SIZE = (1500, 950)  # the first window, where the screen has room
# Side panels whose content may be taller than a laptop's column: they scroll rather than make the
# window taller than the screen.
SCROLLING = ("domain", "parameters", "inspector", "approximation", "critical")


def _scrolling(widget: QtWidgets.QWidget) -> QtWidgets.QScrollArea:
    area = QtWidgets.QScrollArea()
    area.setWidget(widget)
    area.setWidgetResizable(True)
    area.setFrameShape(QtWidgets.QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return area


class MainWindow(QtWidgets.QMainWindow):
    closing = QtCore.pyqtSignal()  # before the window closes: what should persist is saved then

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("calcviz")
        self.resize(*PREFERRED_SIZE)
        self.editor = EquationEditor(self)
        self.surface = SurfaceView(self)
        self.contour = ContourView(self)
        self.curve = CurveView(self)

        # Right of the surface: the contour map for f(x, y), the curve for f(x).
        self.plane = QtWidgets.QStackedWidget(self)
        self.plane.addWidget(self.contour)
        self.plane.addWidget(self.curve)
        self.views = views = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal, self)
        views.addWidget(self.surface)
        views.addWidget(self.plane)
        views.setChildrenCollapsible(False)
        views.setSizes([700, 700])
        central = QtWidgets.QWidget(self)
        # A native window (the GL view makes its ancestors native): unpainted gaps between its children would
        # show as black bars on X11 unless it paints its own background.
        central.setAutoFillBackground(True)
        layout = QtWidgets.QVBoxLayout(central)
        layout.setContentsMargins(3, 3, 3, 0)
        layout.setSpacing(3)
        layout.addWidget(self.editor)
        layout.addWidget(views, 1)
        self.setCentralWidget(central)

        self.domain = DomainPanel(self)
        self.parameters = ParametersPanel(self)
        self.inspector = PointInspector(self)
        self.critical = CriticalPointsPanel(self)
        self.approximation = ApproximationPanel(self)
        self.descent = DescentPanel(self)
        self.loss = LossPlot(self)
        self.chain = ChainRuleView(self)
        self.matrix = MatrixPanel(self)
        self.docks = {}
        left, right = QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, QtCore.Qt.DockWidgetArea.RightDockWidgetArea
        bottom = QtCore.Qt.DockWidgetArea.BottomDockWidgetArea
        # The side columns run the full height; the bottom docks sit under the views only, so a tall
        # side panel never squeezes the loss curves or the chain-rule graph.
        self.setCorner(QtCore.Qt.Corner.BottomLeftCorner, left)
        self.setCorner(QtCore.Qt.Corner.BottomRightCorner, right)
        for key, title, widget, area in (("domain", "Domain", self.domain, left),
                                         ("parameters", "Parameters", self.parameters, left),
                                         ("descent", "Gradient descent", self.descent, left),
                                         ("loss", "Loss curves", self.loss, bottom),
                                         ("chain", "Chain rule", self.chain, bottom),
                                         ("inspector", "Point inspector", self.inspector, right),
                                         ("approximation", "Local models", self.approximation, right),
                                         ("critical", "Critical points", self.critical, right),
                                         ("matrix", "Matrix calculus", self.matrix, right)):
            dock = QtWidgets.QDockWidget(title, self)
            dock.setObjectName(f"dock-{key}")
            dock.setWidget(_scrolling(widget) if key in SCROLLING else widget)
            self.addDockWidget(area, dock)
            self.docks[key] = dock
        # The loss curves and the chain-rule graph appear when there is something to show (a race, a chain
        # of definitions): on a laptop screen the plots keep the height until then.
        self.docks["loss"].hide()
        self.docks["chain"].hide()
        self._arranged = False

        self.actions = self._build_actions()
        self._build_status_bar()
        self.set_device(None)

    def _action(self, text: str, shortcut=None, checkable=False, checked=False, tip="", short="") -> QtGui.QAction:
        """A menu action; ``short`` is its toolbar label. Its tooltip says what it does and its shortcut."""
        action = QtGui.QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QtGui.QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.setChecked(checked)
        if short:
            action.setIconText(short)
        keys = action.shortcut().toString(QtGui.QKeySequence.SequenceFormat.NativeText)
        name = text.replace("&", "").rstrip("…")
        action.setToolTip(f"<b>{name}</b>{f' ({keys})' if keys else ''}<br>{tip}" if tip else name)
        action.setStatusTip(tip or name)
        return action

    def _build_actions(self) -> dict[str, QtGui.QAction]:
        Std = QtGui.QKeySequence.StandardKey
        a = {
            "undo": self._action("&Undo", Std.Undo, tip="Undo the last change of formula, parameter, box or resolution"),
            "redo": self._action("&Redo", "Ctrl+Shift+Z", tip="Do again what was undone"),
            "quit": self._action("&Quit", Std.Quit, tip="Close calcviz (the session reopens next time)"),
            "open": self._action("&Open session…", Std.Open, tip="Open a saved session (.json)"),
            "save": self._action("&Save session", Std.Save, tip="Save formula, box, camera, point and descent runs"),
            "save_as": self._action("Save session &as…", Std.SaveAs, tip="Save the session to a new file"),
            "export": self._action("&Export…", "Ctrl+E",
                                   tip="Export a plot (PNG, SVG), the race (GIF) or data (CSV, JSON, NPZ)"),
            "cancel": self._action("&Cancel computation", "Esc", tip="Stop the computation under way"),
            "field": self._action("&Gradient field", "Ctrl+G", checkable=True, short="∇f field",
                                  tip="Draw the gradient as arrows on a coarse grid of the contour map"),
            "surface_isolines": self._action("&Iso-lines on surface", "Ctrl+I", checkable=True, short="Iso-lines 3D",
                                             tip="Draw the contour lines on the 3D surface too"),
            "second_derivative": self._action("Show f″ on curves", checkable=True, tip="Draw f″ beside f and f′ on the curve of a function of one variable"),
            "critical_markers": self._action("&Critical points", "Ctrl+K", checkable=True, checked=True, short="Critical",
                                             tip="Mark the critical points on both views (▼ min, ▲ max, × saddle, ◆ degenerate, ★ global min)"),
            "tangent_plane": self._action("&Tangent plane", "Ctrl+T", checkable=True, short="Tangent",
                                          tip="Draw the tangent plane (linear model) at the selected point"),
            "quadratic_model": self._action("&Quadratic model", "Ctrl+M", checkable=True, short="Quadratic",
                                            tip="Draw the quadratic (Hessian) model at the selected point"),
            "log_scale": self._action("&Log colour scale", "Ctrl+L", checkable=True, short="Log scale",
                                      tip="Colour and height by sign(f)·log10(1+|f|); switched on by itself "
                                          "when f spans many orders of magnitude"),
            "equal_aspect": self._action("Equal &aspect (1:1)", checkable=True, checked=True,
                                         tip="One unit of x as long as one unit of y on the map, so circles are round "
                                             "and the gradient is drawn perpendicular to the level sets (off: the map "
                                             "fills its panel; always off for a box over 10 times longer one way)"),
            "reset_view": self._action("&Reset 3D view", "Ctrl+0", tip="Fit the 3D camera to the box again", short="Reset 3D"),
            "descent_step": self._action("&Step", "Space", tip="Take one step (or the steps per click) of every run"),
            "descent_run": self._action("&Run / Pause", "Ctrl+R", checkable=True, tip="Animate the race; again to pause"),
            "descent_reset": self._action("Rese&t descent", "Ctrl+Shift+R", tip="Back to the start points"),
            "explain_step": self._action("&Explain this step", "Ctrl+J", checkable=True, short="Explain step",
                                         tip="Arrows for −∇f, the velocity and the update at the current step "
                                             "of the chosen run (click a row of the run table), numbers in the inspector"),
            "basins": self._action("&Basins of attraction", "Ctrl+B", checkable=True, short="Basins",
                                   tip="Colour the map by the minimum descent reaches from each start "
                                       "(first ticked optimizer, current learning rate)"),
            "formula_help": self._action("&Formula syntax", Std.HelpContents, tip="How to write formulas"),
            "shortcuts": self._action("&Keyboard and mouse", tip="Every shortcut and what the mouse does"),
            "about": self._action("&About calcviz", tip="Versions, and where TensorFlow computes"),
        }
        a["undo"].setEnabled(False)
        a["redo"].setEnabled(False)
        a["quit"].triggered.connect(self.close)
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        file_menu.addActions([a["open"], a["save"], a["save_as"]])
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addSeparator()
        file_menu.addAction(a["export"])
        file_menu.addSeparator()
        file_menu.addAction(a["quit"])
        edit = menus.addMenu("&Edit")
        edit.addActions([a["undo"], a["redo"]])
        edit.addSeparator()
        edit.addAction(a["cancel"])
        view = menus.addMenu("&View")
        view.addActions([a["field"], a["surface_isolines"], a["log_scale"], a["critical_markers"], a["tangent_plane"],
                         a["quadratic_model"], a["second_derivative"], a["equal_aspect"], a["reset_view"]])
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        descent = menus.addMenu("&Descent")
        descent.addActions([a["descent_step"], a["descent_run"], a["descent_reset"]])
        descent.addSeparator()
        descent.addActions([a["explain_step"], a["basins"]])
        help_menu = menus.addMenu("&Help")
        help_menu.addActions([a["formula_help"], a["shortcuts"]])
        help_menu.addSeparator()
        help_menu.addAction(a["about"])
        a["formula_help"].triggered.connect(lambda: self._show_help("Formula syntax", help_text.formula_html()))
        a["shortcuts"].triggered.connect(lambda: self._show_help("Keyboard and mouse",
                                                                 help_text.shortcuts_html(self._shortcut_rows())))
        a["about"].triggered.connect(lambda: QtWidgets.QMessageBox.about(self, "About calcviz",
                                                                         help_text.about_html(self._device_name)))
        # The view switches sit in the menu bar's row: a toolbar row of its own costs the plots 33 px.
        # Right-click menus: each view's own actions, then the switches that belong to it.
        self.contour.add_context_actions([a[k] for k in ("equal_aspect", "field", "critical_markers", "tangent_plane",
                                                         "quadratic_model", "explain_step", "basins")])
        self.curve.add_context_actions([a[k] for k in ("second_derivative", "critical_markers", "quadratic_model")])
        self.surface.add_context_actions([a[k] for k in ("reset_view", "surface_isolines", "critical_markers",
                                                         "tangent_plane", "quadratic_model")])
        bar = QtWidgets.QToolBar("View", self)
        bar.setObjectName("toolbar-view")
        bar.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextOnly)
        bar.setIconSize(QtCore.QSize(1, 1))
        menus.setCornerWidget(bar, QtCore.Qt.Corner.TopRightCorner)
        self.toolbar = bar
        bar.addActions([a["field"], a["surface_isolines"], a["log_scale"], a["critical_markers"], a["tangent_plane"],
                        a["quadratic_model"], a["reset_view"]])
        bar.addSeparator()
        bar.addActions([a["explain_step"], a["basins"]])
        return a

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.message = ElidedLabel(self)
        self.busy = QtWidgets.QProgressBar(self)
        self.busy.setRange(0, 0)  # indeterminate: the engine does not report progress for one grid
        self.busy.setMaximumWidth(90)
        self.busy.setVisible(False)
        self.compute_time = QtWidgets.QLabel(self)
        self.device = QtWidgets.QLabel(self)
        self.device.setToolTip("Where TensorFlow computes (calcviz --device cpu|gpu)")
        status.addWidget(self.message, 1)
        status.addPermanentWidget(self.busy)
        status.addPermanentWidget(self.compute_time)
        status.addPermanentWidget(self.device)

    def fit_to_screen(self) -> None:
        """The first window's size: as much of the preferred size as the screen's free area has."""
        screen = self.screen() or QtGui.QGuiApplication.primaryScreen()
        free = screen.availableGeometry()
        frame = self.frameGeometry().size() - self.geometry().size()  # title bar and borders
        # The preferred size, or 90% of a larger screen (up to 1920 x 1200), or all of a smaller one.
        w = min(max(PREFERRED_SIZE[0], int(free.width() * 0.9)), 1920, free.width() - frame.width())
        h = min(max(PREFERRED_SIZE[1], int(free.height() * 0.9)), 1200, free.height() - frame.height())
        self.resize(w, h)
        self.move(free.left() + (free.width() - w - frame.width()) // 2, free.top() + (free.height() - h - frame.height()) // 2)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._arranged:
            self._arranged = True
            # Tabbed after the window shows: Qt 6.11 draws a second, stale tab bar for a second tabbed
            # group made before (seen with two groups in one window).
            QtCore.QTimer.singleShot(0, self._arrange_docks)

    def _arrange_docks(self) -> None:
        if not self.tabifiedDockWidgets(self.docks["inspector"]):
            self.tabifyDockWidget(self.docks["inspector"], self.docks["approximation"])
            self.tabifyDockWidget(self.docks["approximation"], self.docks["matrix"])
            self.tabifyDockWidget(self.docks["loss"], self.docks["chain"])
            self.docks["inspector"].raise_()
        # Side columns: enough for their tables, and the rest for the plots (half the window or more).
        Qt = QtCore.Qt.Orientation
        left, right = (250, 260) if self.width() < 1500 else (300, 380)
        self.resizeDocks([self.docks["domain"], self.docks["inspector"]], [left, right], Qt.Horizontal)
        self.resizeDocks([self.docks["inspector"], self.docks["critical"]],
                         [int(self.height() * 0.55), int(self.height() * 0.3)], Qt.Vertical)
        # The box and the parameters as tall as they need; the descent panel has the rest of the column.
        heights = [self.domain.sizeHint().height() + 30, self.parameters.sizeHint().height() + 30]
        self.resizeDocks([self.docks["domain"], self.docks["parameters"], self.docks["descent"]],
                         [*heights, max(200, self.height() - sum(heights))], Qt.Vertical)

    def show_dock(self, key: str) -> None:
        """Bring a dock on screen (the loss curves when a race starts, the chain rule for a chain)."""
        dock = self.docks[key]
        first = dock.isHidden()
        dock.show()
        dock.raise_()
        if first and key in ("loss", "chain"):  # (the chain's graph: room for its boxes' text)
            share = 0.45 if key == "chain" else 1 / 3
            self.resizeDocks([dock], [max(200, int(self.height() * share))], QtCore.Qt.Orientation.Vertical)

    def _shortcut_rows(self) -> list[tuple[str, str]]:
        rows = []
        for action in self.actions.values():
            keys = action.shortcut().toString(QtGui.QKeySequence.SequenceFormat.NativeText)
            if keys:
                rows.append((keys, action.text().replace("&", "").rstrip("…")))
        return rows

    def _show_help(self, title: str, html: str) -> None:
        dialog = QtWidgets.QDialog(self)
        dialog.setWindowTitle(title)
        text = QtWidgets.QTextBrowser(dialog)
        text.setHtml(html)
        text.setOpenExternalLinks(False)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close, dialog)
        buttons.rejected.connect(dialog.reject)
        layout = QtWidgets.QVBoxLayout(dialog)
        layout.addWidget(text)
        layout.addWidget(buttons)
        dialog.resize(min(720, self.width()), min(640, self.height()))
        dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.show()

    def closeEvent(self, event) -> None:
        self.closing.emit()
        super().closeEvent(event)

    def snapshot(self) -> QtGui.QPixmap:
        """The window as shown. QWidget.grab() misses the text the GL view paints over its
        framebuffer (tick labels), so the GL view's own framebuffer is painted in on top."""
        pixmap = self.grab()
        gl = self.surface.gl
        if gl.isVisible():
            painter = QtGui.QPainter(pixmap)
            painter.drawImage(gl.mapTo(self, QtCore.QPoint(0, 0)), gl.grabFramebuffer())
            painter.end()
        return pixmap

    # ------------------------------------------------------------------ set_* for the controllers
    def set_checked(self, action: str, on: bool) -> None:
        """Show an action's state without emitting (it follows the Session, it does not change it)."""
        with QtCore.QSignalBlocker(self.actions[action]):
            self.actions[action].setChecked(bool(on))

    def show_status(self, text: str, error: bool = False) -> None:
        """A message in the status bar: whole when it fits, else cut with "…" and whole in its tooltip."""
        self.message.setStyleSheet("color: #b00020;" if error else "")
        self.message.set_full_text(text)

    def set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)

    def set_device(self, name: str | None) -> None:
        self._device_name = name
        self.device.setText(f"Device: {name}" if name else "starting TensorFlow…")

    def set_compute_time(self, text: str) -> None:
        self.compute_time.setText(text)

    def set_dimension(self, count: int) -> None:
        """Curve view for f(x), across the whole width; contour map beside the surface for two or more variables."""
        self.plane.setCurrentWidget(self.curve if count == 1 else self.contour)
        self.surface.setVisible(count != 1)
