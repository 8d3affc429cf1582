"""Files: save and open sessions, recent files, exports (plots, data, the race as a GIF), and what
persists between launches (window layout, recent files, the last session) through QSettings.

A session is the Session's own file (Session.file(); its schema is models/settings.py) and opens
through Session.restore, which builds everything before it changes anything: a file that cannot
be shown is refused with the field named and nothing on screen changes.
"""
from __future__ import annotations

from pathlib import Path

from PyQt6 import QtCore, QtGui, QtWidgets

from .. import exporting
from ..models import storage
from ..models.session import Session

MAX_RECENT = 8
LAST_SESSION = "last-session.json"
# The export dialog's choices: filter text -> (what, the file suffix used when none is typed).
EXPORTS = {
    "Figure: surface + contour (+ loss curves) (*.png)": ("figure", ".png"),
    "Contour map (*.png *.svg)": ("contour", ".png"),
    "3D surface (*.png)": ("surface", ".png"),
    "Curve (*.png *.svg)": ("curve", ".png"),
    "Loss curves (*.png *.svg)": ("loss", ".png"),
    "Chain-rule graph (*.png *.svg)": ("chain", ".png"),
    "Descent race, animated (*.gif)": ("gif", ".gif"),
    "Descent paths (*.csv *.json)": ("runs", ".csv"),
    "Critical points (*.csv *.json)": ("critical", ".csv"),
    "Grid values (*.npz *.csv)": ("grid", ".npz"),
}


def settings() -> QtCore.QSettings:
    return QtCore.QSettings()


def data_folder() -> Path:
    folder = Path(QtCore.QStandardPaths.writableLocation(QtCore.QStandardPaths.StandardLocation.AppDataLocation))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def set_aside(path: Path) -> Path:
    """Rename a session that could not be reopened to a name no launch reads again; the user's work
    in it is kept (and the next close saves a fresh last session)."""
    stamp = QtCore.QDateTime.currentDateTime().toString("yyyyMMdd-hhmmss")
    kept = path.with_name(f"{path.stem}-unreadable-{stamp}{path.suffix}")
    try:
        path.replace(kept)
    except OSError:
        return path
    return kept


class FilesController(QtCore.QObject):
    def __init__(self, session: Session, window, descent, persist: bool = True,
                 parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.session, self.window, self.descent = session, window, descent
        self.path: Path | None = None  # the session file being edited (Save writes here)
        w = window
        w.actions["save"].triggered.connect(self.save)
        w.actions["save_as"].triggered.connect(self.save_as)
        w.actions["open"].triggered.connect(self.open_dialog)
        w.actions["export"].triggered.connect(lambda: self.export_dialog())
        for view in (w.contour, w.curve, w.surface, w.loss):
            view.exportRequested.connect(self.export_dialog)
        if persist:  # `calcviz export`'s hidden window never touches the user's layout or last session
            w.closing.connect(self.save_last)
        self._fill_recent()
        QtWidgets.QApplication.instance().installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        """Ctrl+E exports wherever the focus is. A text box (a spin box's too) claims Ctrl+E as "end of
        line" through a ShortcutOverride, and the window's shortcut then never fires: that override is
        kept from boxes of this window, so the shortcut runs."""
        if event.type() == QtCore.QEvent.Type.ShortcutOverride and isinstance(watched, QtWidgets.QWidget) \
                and watched.window() is self.window:
            keys = QtGui.QKeySequence(event.keyCombination())
            if any(keys.matches(k) == QtGui.QKeySequence.SequenceMatch.ExactMatch
                   for k in self.window.actions["export"].shortcuts()):
                return True
        return False

    # ------------------------------------------------------------------ sessions
    def save(self) -> bool:
        return self.save_to(self.path) if self.path else self.save_as()

    def save_as(self) -> bool:
        start = str(self.path or self._folder() / "session.json")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self.window, "Save session", start, "calcviz session (*.json)")
        return bool(path) and self.save_to(Path(path if path.endswith(".json") else path + ".json"))

    def save_to(self, path) -> bool:
        try:
            storage.save_session(path, self.session.file())
        except (storage.StorageError, storage.SessionError) as exc:
            self.session.note("status", f"Not saved: {exc}", error=True)
            return False
        self.path = Path(path)
        self._remember(self.path)
        self.session.note("status", f"Session saved to {self.path}")
        return True

    def open_dialog(self) -> None:
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Open session", str(self._folder()),
                                                        "calcviz session (*.json);;All files (*)")
        if path:
            self.open(path)

    def open(self, path) -> bool:
        """Open a session file; a broken one is refused with its reason and nothing changes."""
        try:
            self.session.restore(storage.load_session(path))
        except storage.SessionError as exc:
            self.session.note("status", f"Not opened: {exc}", error=True)
            return False
        self.path = Path(path)
        self._remember(self.path)
        self.window.setWindowTitle(f"calcviz — {self.path.name}")
        self.session.note("status", f"Opened {self.path}")
        return True

    # ------------------------------------------------------------------ recent files and the last session
    def _folder(self) -> Path:
        """Where file dialogs open: the folder used last, else the home folder."""
        folder = settings().value("folder", "", type=str)
        return Path(folder) if folder and Path(folder).is_dir() else Path.home()

    def _remember(self, path: Path) -> None:
        recent = [p for p in settings().value("recent", [], type=list) if p != str(path)]
        settings().setValue("recent", [str(path)] + recent[: MAX_RECENT - 1])
        settings().setValue("folder", str(Path(path).parent))
        self._fill_recent()

    def _fill_recent(self) -> None:
        menu = self.window.recent_menu
        menu.clear()
        recent = settings().value("recent", [], type=list)
        for p in recent:
            menu.addAction(Path(p).name, lambda p=p: self.open(p)).setToolTip(p)
        menu.setEnabled(bool(recent))

    def save_last(self) -> None:
        """On close: the layout, and the session to reopen next time (quietly skipped if it cannot be saved)."""
        s = settings()
        s.setValue("geometry", self.window.saveGeometry())
        s.setValue("state", self.window.saveState())
        try:
            storage.save_session(data_folder() / LAST_SESSION, self.session.file())
        except (storage.StorageError, storage.SessionError, OSError):
            pass

    def restore_layout(self) -> None:
        s = settings()
        if s.value("geometry") is not None:
            self.window.restoreGeometry(s.value("geometry"))
        if s.value("state") is not None:
            self.window.restoreState(s.value("state"))

    def open_last(self) -> bool:
        """Reopen where the user left off; False when there is no usable last session."""
        path = data_folder() / LAST_SESSION
        if not path.exists():
            return False
        try:
            self.session.restore(storage.load_session(path))
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, the app must still start
            kept = set_aside(path)
            self.session.note("status", f"The last session could not be reopened ({exc}); it was kept as {kept}",
                              error=True)
            return False
        return True

    # ------------------------------------------------------------------ exports
    def export_dialog(self, what: str | None = None) -> None:
        """File > Export, or a view's "Export this …" (``what``: that view's choice comes first)."""
        filters = ";;".join(EXPORTS)
        chosen = next((f for f, (w, _) in EXPORTS.items() if w == what), "")
        name = f"calcviz-{what}.png" if what else "calcviz.png"
        path, chosen = QtWidgets.QFileDialog.getSaveFileName(self.window, "Export", str(self._folder() / name),
                                                             filters, chosen)
        if not path:
            return
        what, suffix = EXPORTS[chosen]
        size = None
        if what in exporting.VIEW_FORMATS or what == "gif":
            size = self._ask_size(what)
            if size is False:
                return
        target = Path(path) if Path(path).suffix else Path(path + suffix)
        if self.export(what, target, size):
            settings().setValue("folder", str(target.parent))

    def _ask_size(self, what: str):
        """The image size: as on screen, a print size, or twice the screen (False: cancelled)."""
        view = {"figure": self.window, "surface": self.window.surface, "contour": self.window.contour,
                "curve": self.window.curve, "loss": self.window.loss, "gif": self.window.contour,
                "chain": self.window.chain.canvas}[what]
        w, h = view.width(), view.height()
        offered = [(f"as on screen ({w} × {h})", None), (f"twice the screen ({2 * w} × {2 * h})", (2 * w, 2 * h)),
                   ("1600 × 1000", (1600, 1000)), ("3200 × 2000 (print)", (3200, 2000))]
        if what in ("surface", "figure"):  # they have no on-screen twin of their own size
            offered.pop(0)
        choices, seen = {}, set()
        for label, size in offered:  # one entry per size (twice a 1600 x 1000 view is the print size)
            if (size or (w, h)) not in seen:
                seen.add(size or (w, h))
                choices[label] = size
        choice, ok = QtWidgets.QInputDialog.getItem(self.window, "Export", "Image size:", list(choices), 0, False)
        return choices[choice] if ok else False

    def export(self, what: str, path: Path, size: tuple[int, int] | None = None) -> bool:
        """Write ``what`` (a view, "gif", "runs", "critical" or "grid") to ``path``; the status bar says how it went."""
        s = self.session
        path = Path(path)
        suffix = path.suffix.lower()
        try:
            if what in exporting.VIEW_FORMATS:
                exporting.export_view(self.window, what, path, size)
            elif what == "gif":
                if not self._export_gif(path, size):
                    s.note("status", "GIF export cancelled; nothing was written.")
                    return False
            elif what == "runs":
                if s.race is None:
                    raise storage.StorageError("there are no descent runs yet: set a start point first")
                result = s.race.result
                text = storage.runs_json(result) if suffix == ".json" else storage.runs_csv(result)
                storage.atomic_write(path, text, allowed_suffixes=(".csv", ".json"))
            elif what == "critical":
                if not s.critical:
                    raise storage.StorageError("the critical points are not found yet")
                text = storage.critical_json(s.critical) if suffix == ".json" else storage.critical_csv(s.critical)
                storage.atomic_write(path, text, allowed_suffixes=(".csv", ".json"))
            elif what == "grid":
                if s.grid is None:
                    raise storage.StorageError("there is no grid yet")
                if suffix == ".csv":
                    storage.atomic_write(path, storage.grid_csv(s.grid), allowed_suffixes=(".csv",))
                else:
                    storage.grid_npz(s.grid, path)
            else:
                raise ValueError(f"unknown export {what!r}")
        except storage.StorageError as exc:
            s.note("status", f"Not exported: {exc}", error=True)
            return False
        s.note("status", f"Exported to {path}")
        return True

    def _export_gif(self, path: Path, size: tuple[int, int] | None = None) -> bool:
        """The race as an animated GIF, with a progress dialog whose Cancel stops it (no file is left)."""
        dialog = QtWidgets.QProgressDialog("Writing the race as a GIF…", "Cancel", 0, 1000, self.window)
        dialog.setWindowModality(QtCore.Qt.WindowModality.WindowModal)
        dialog.setMinimumDuration(300)
        race = self.session.race
        every = exporting.default_every(race.length if race else 0)

        def progress(fraction: float) -> None:
            dialog.setValue(int(fraction * 1000))
            QtWidgets.QApplication.processEvents()

        try:
            frames = exporting.export_race_gif(self.window, self.descent, path, every=every, size=size,
                                               progress=progress, should_stop=dialog.wasCanceled)
        finally:
            dialog.close()
        return frames > 0
