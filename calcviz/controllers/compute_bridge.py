"""The compute process seen from the window: what the Session wants computed goes out, replies
come back into the Session by kind, each tagged with the request it answers.

The Session decides what is wanted (Session.wanted) and which replies are still current
(Session.deliver drops the rest); this bridge only carries them. TensorFlow lives in the
spawned compute process (models/compute.py), never here. Until it is ready (TensorFlow's import
takes seconds at launch), a grid that is wanted is previewed: its values from numpy
(models/grid.preview), drawn until TensorFlow's grid replaces them.
"""
from __future__ import annotations

from PyQt6 import QtCore

from ..models import grid as gridlib
from ..models.compute import ComputeClient, Reply
from ..models.session import Session

# Result kind -> the Engine method that computes it.
ENGINE = {"grid": "evaluate_grid", "critical": "find_critical_points", "point": "evaluate_point",
          "approximation": "approximate", "race": "descend", "basins": "basins", "chain": "backprop",
          "matrix": "evaluate_matrix", "check": "check_derivatives"}
KIND = {method: kind for kind, method in ENGINE.items()}

RECEIVE_ROUNDS = 4  # reads of the pipe per wake-up at most: a stream of replies never starves the repaint


class ComputeBridge(QtCore.QObject):
    busyChanged = QtCore.pyqtSignal(bool)

    def __init__(self, session: Session, client: ComputeClient, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.session, self.client = session, client
        self._sent: dict[int, tuple[str, str]] = {}   # request id -> (kind, key)
        self._out: dict[str, str] = {}                # kind -> key of the request on its way
        self._notifier: QtCore.QSocketNotifier | None = None
        self._watched_start = -1
        self._previewing: str | None = None           # key of the grid request last previewed
        self._busy = False
        self._watch()
        session.settings_changed.connect(lambda *_: self.sync())
        session.wants_changed.connect(self.sync)

    # ------------------------------------------------------------------ out
    def sync(self) -> None:
        """Ask for every result the session wants that is neither here nor on its way."""
        for kind, (key, kwargs) in self.session.wanted().items():
            if kind == "grid" and self.session.device is None and self._previewing != key:
                self._previewing = key  # after the events queued now: the window shows first
                QtCore.QTimer.singleShot(0, lambda key=key, kwargs=kwargs: self._preview(key, kwargs))
            if self._out.get(kind) == key:
                continue
            request_id = self.client.submit(ENGINE[kind], **kwargs)
            # the client sends only the newest request of a kind: an older one's reply never comes
            self._sent = {i: sent for i, sent in self._sent.items() if sent[0] != kind}
            self._sent[request_id] = (kind, key)
            self._out[kind] = key
        self._update_busy()

    def _preview(self, key: str, kwargs: dict) -> None:
        s = self.session
        if s.device is None and s.grid is None and s.is_current("grid", key):
            payload = gridlib.preview(**kwargs)
            if payload is not None:
                s.deliver_preview("grid", key, payload)

    def cancel(self) -> None:
        """Stop what is under way (the compute process restarts); nothing is asked again until a change."""
        self.client.cancel()
        self._sent.clear()
        self._out.clear()
        self._watch()
        self.session.cancelled()
        self._update_busy()

    @property
    def busy(self) -> bool:
        return self.client.busy

    # ------------------------------------------------------------------ in
    def _watch(self) -> None:
        """(Re)attach a notifier to the compute pipe: a restarted process has a new pipe, a failed one none."""
        if self._watched_start == self.client.starts and self.client.failed is None:
            return
        if self._notifier is not None:
            self._notifier.setEnabled(False)
            self._notifier.deleteLater()
            self._notifier = None
        if self.client.failed is not None:
            return
        self._notifier = QtCore.QSocketNotifier(self.client.fileno(), QtCore.QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self.receive)
        self._watched_start = self.client.starts

    def receive(self) -> None:
        # What arrives while replies are handled is handled too, before the views repaint: a race's first
        # steps come a moment after the grid, and would otherwise wait for the grid's paint (~40 ms).
        for _ in range(RECEIVE_ROUNDS):
            replies = self.client.receive()
            self._watch()
            for reply in replies:
                self.handle(reply)
            self.sync()
            if not replies:
                return

    def handle(self, reply: Reply) -> None:
        session = self.session
        if reply.kind == "ready":
            session.set_device(reply.payload)
            return
        if reply.kind == "crashed":
            # The client sends the request in flight again to the restarted process (once: a second crash
            # on it comes back as that request's error), so what is on its way stays on its way.
            session.note("status", reply.error, error=True)
            return
        sent = self._sent.get(reply.id)
        if sent is None:
            return  # asked for before a cancel or a crash
        kind, key = sent
        if reply.progress is not None:
            session.progress(kind, key, reply.progress)
            return
        if reply.partial:  # the result so far: the final one is still on its way
            session.deliver(kind, key, reply.payload, partial=True)
            return
        del self._sent[reply.id]
        if self._out.get(kind) == key:
            del self._out[kind]
        session.deliver(kind, key, reply.payload, reply.error)

    def _update_busy(self) -> None:
        busy = self.client.busy
        if busy != self._busy:
            self._busy = busy
            self.busyChanged.emit(busy)

    def shutdown(self) -> None:
        if self._notifier is not None:
            self._notifier.setEnabled(False)
        self.client.close()
