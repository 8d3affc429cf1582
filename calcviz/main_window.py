"""The main window: composition only. Builds the views and docks; the controller wires them."""
from __future__ import annotations

from PyQt6 import QtCore, QtGui, QtWidgets

from .views.approximation_panel import ApproximationPanel
from .views.contour import ContourView
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


class MainWindow(QtWidgets.QMainWindow):
    closing = QtCore.pyqtSignal()  # before the window closes: what should persist is saved then

    def __init__(self, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("calcviz")
        self.resize(1400, 900)
        self.editor = EquationEditor(self)
        self.surface = SurfaceView(self)
        self.contour = ContourView(self)
        self.curve = CurveView(self)

        # Right of the surface: the contour map for f(x, y), the curve for f(x).
        self.plane = QtWidgets.QStackedWidget(self)
        self.plane.addWidget(self.contour)
        self.plane.addWidget(self.curve)
        views = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal, self)
        views.addWidget(self.surface)
        views.addWidget(self.plane)
        views.setSizes([700, 700])
        central = QtWidgets.QWidget(self)
        layout = QtWidgets.QVBoxLayout(central)
        layout.setContentsMargins(6, 6, 6, 0)
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
            dock.setWidget(widget)
            self.addDockWidget(area, dock)
            self.docks[key] = dock
        self.tabifyDockWidget(self.docks["inspector"], self.docks["approximation"])
        self.tabifyDockWidget(self.docks["approximation"], self.docks["matrix"])
        self.tabifyDockWidget(self.docks["loss"], self.docks["chain"])
        self.docks["inspector"].raise_()
        self.docks["loss"].raise_()
        # The inspector's directional plot needs room; the critical-point table scrolls.
        Qt = QtCore.Qt.Orientation
        self.resizeDocks([self.docks["inspector"], self.docks["critical"]], [640, 260], Qt.Vertical)
        self.resizeDocks([self.docks["inspector"]], [400], Qt.Horizontal)
        self._sized = False

        self.actions = self._build_actions()
        self._build_status_bar()

    def _action(self, text: str, shortcut=None, checkable=False, checked=False, tip="") -> QtGui.QAction:
        action = QtGui.QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QtGui.QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.setChecked(checked)
        action.setToolTip(tip or text)
        action.setStatusTip(tip or text)
        return action

    def _build_actions(self) -> dict[str, QtGui.QAction]:
        Std = QtGui.QKeySequence.StandardKey
        a = {
            "undo": self._action("&Undo", Std.Undo, tip="Undo the last change of formula, parameter, box or resolution"),
            "redo": self._action("&Redo", "Ctrl+Shift+Z", tip="Redo"),
            "quit": self._action("&Quit", Std.Quit),
            "open": self._action("&Open session…", Std.Open, tip="Open a saved session (.json)"),
            "save": self._action("&Save session", Std.Save, tip="Save formula, box, camera, point and descent runs"),
            "save_as": self._action("Save session &as…", Std.SaveAs),
            "export": self._action("&Export…", "Ctrl+E",
                                   tip="Export a plot (PNG, SVG), the race (GIF) or data (CSV, JSON, NPZ)"),
            "cancel": self._action("&Cancel computation", "Esc", tip="Stop the computation under way"),
            "field": self._action("&Gradient field", "Ctrl+G", checkable=True,
                                  tip="Draw the gradient as arrows on a coarse grid of the contour map"),
            "surface_isolines": self._action("&Iso-lines on surface", "Ctrl+I", checkable=True,
                                             tip="Draw the contour lines on the 3D surface too"),
            "second_derivative": self._action("Show f″ on curves", checkable=True),
            "critical_markers": self._action("&Critical points", "Ctrl+K", checkable=True, checked=True,
                                             tip="Mark the critical points on both views (▼ min, ▲ max, × saddle, ◆ degenerate, ★ global min)"),
            "tangent_plane": self._action("&Tangent plane", "Ctrl+T", checkable=True,
                                          tip="Draw the tangent plane (linear model) at the selected point"),
            "quadratic_model": self._action("&Quadratic model", "Ctrl+M", checkable=True,
                                            tip="Draw the quadratic (Hessian) model at the selected point"),
            "log_scale": self._action("&Log colour scale", "Ctrl+L", checkable=True,
                                      tip="Colour and height by sign(f)·log10(1+|f|); switched on by itself "
                                          "when f spans many orders of magnitude"),
            "reset_view": self._action("&Reset 3D view", "Ctrl+0", tip="Put the 3D camera back where it started"),
            "descent_step": self._action("&Step", "Space", tip="Take one step (or the steps per click) of every run"),
            "descent_run": self._action("&Run / Pause", "Ctrl+R", checkable=True, tip="Animate the race; again to pause"),
            "descent_reset": self._action("Rese&t descent", "Ctrl+Shift+R", tip="Back to the start points"),
            "explain_step": self._action("&Explain this step", "Ctrl+J", checkable=True,
                                         tip="Arrows for −∇f, the velocity and the update at the current step "
                                             "of the chosen run (click a row of the run table), numbers in the inspector"),
            "basins": self._action("&Basins of attraction", "Ctrl+B", checkable=True,
                                   tip="Colour the map by the minimum descent reaches from each start "
                                       "(first ticked optimizer, current learning rate)"),
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
                         a["quadratic_model"], a["second_derivative"], a["reset_view"]])
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        descent = menus.addMenu("&Descent")
        descent.addActions([a["descent_step"], a["descent_run"], a["descent_reset"]])
        descent.addSeparator()
        descent.addActions([a["explain_step"], a["basins"]])
        bar = self.addToolBar("View")
        bar.setObjectName("toolbar-view")
        bar.addActions([a["field"], a["surface_isolines"], a["log_scale"], a["critical_markers"], a["tangent_plane"],
                        a["quadratic_model"], a["reset_view"]])
        bar.addSeparator()
        bar.addActions([a["explain_step"], a["basins"]])
        return a

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.message = QtWidgets.QLabel(self)
        self.busy = QtWidgets.QProgressBar(self)
        self.busy.setRange(0, 0)  # indeterminate: the engine does not report progress for one grid
        self.busy.setMaximumWidth(90)
        self.busy.setVisible(False)
        self.compute_time = QtWidgets.QLabel(self)
        self.device = QtWidgets.QLabel("starting TensorFlow…", self)
        self.device.setToolTip("Where TensorFlow computes (calcviz --device cpu|gpu)")
        status.addWidget(self.message, 1)
        status.addPermanentWidget(self.busy)
        status.addPermanentWidget(self.compute_time)
        status.addPermanentWidget(self.device)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._sized:  # dock sizes only hold once the window has its size
            self._sized = True
            self.resizeDocks([self.docks["loss"]], [max(260, self.height() // 3)], QtCore.Qt.Orientation.Vertical)

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
        self.message.setStyleSheet("color: #b00020;" if error else "")
        self.message.setText(text)

    def set_busy(self, busy: bool) -> None:
        self.busy.setVisible(busy)

    def set_device(self, name: str) -> None:
        self.device.setText(f"Device: {name}")

    def set_compute_time(self, text: str) -> None:
        self.compute_time.setText(text)

    def set_dimension(self, count: int) -> None:
        """Curve view for f(x); contour map for two or more variables."""
        self.plane.setCurrentWidget(self.curve if count == 1 else self.contour)
