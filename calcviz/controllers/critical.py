"""Critical points: the side panel's list and the markers on every view, from the Session's result;
a row chosen in the panel selects that point."""
from __future__ import annotations

from PyQt6 import QtCore

from ..models import grid as gridlib
from ..models.session import Session


class CriticalController(QtCore.QObject):
    def __init__(self, session: Session, window, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.session, self.window = session, window
        window.critical.pointChosen.connect(lambda coords: session.select(*coords))
        session.result_changed.connect(self.show_result)
        session.progress_changed.connect(self.show_progress)
        session.settings_changed.connect(self.show_settings)

    def show_settings(self, before, after) -> None:
        if after.view.toggles.critical_markers != before.view.toggles.critical_markers or before is after:
            self.draw_markers()

    def show_progress(self, kind: str, fraction) -> None:
        if kind == "critical" and fraction is not None:
            self.window.critical.set_searching(fraction)

    def show_result(self, kind: str) -> None:
        if kind != "critical":
            return
        s, panel = self.session, self.window.critical
        result, error = s.critical, s.error("critical")
        if result is not None:
            panel.set_points(result, gridlib.scales(s.grid, s.document.ranges))
        elif error is not None:
            panel.set_error(error)
        elif s.request("critical") is not None:
            panel.set_searching()
        self.draw_markers()

    def draw_markers(self) -> None:
        """Markers per type on every view (or none when switched off)."""
        w, s = self.window, self.session
        result = s.critical
        shown = result is not None and s.settings.view.toggles.critical_markers
        points = result["critical_points"] if shown else []
        axes = list(result["axes"]) if result else list(s.axes)
        one = len(axes) == 1
        w.curve.set_critical_points(points if one else [], axes)
        w.contour.set_critical_points([] if one else points, axes)
        w.surface.set_critical_points([] if one else points, axes)
