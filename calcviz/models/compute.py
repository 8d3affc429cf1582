"""The compute process: TensorFlow lives there, never in the window's process.

TensorFlow and the OpenGL view crash when they share a process on Mesa's software GL, and the
2 s TensorFlow import should not delay the window. So the GUI talks to one child process,
started with ``spawn`` (never fork after GL or TF exist), over a pipe.

Protocol, child -> parent: ``("ready", device_name)``, ``("result", id, kind, payload)``,
``("error", id, kind, message)``, and before a result ``("progress", id, kind, fraction)`` or
``("partial", id, kind, payload)`` (the result so far: a race's first steps). Parent -> child:
``(id, kind, kwargs)`` where kind names an Engine request method.

Stale work is dropped twice: the client keeps at most one request in flight and only the
newest pending request per kind (superseded ones are never computed), and a result whose id is
not the newest issued for its kind is discarded. Cancelling restarts the process.

A crash of the process (killed, out of memory) is reported as a ``crashed`` reply, and the
process restarts. The request it was computing, if still current, is sent again once, with
the same id; should it crash the process again, its kind gets an error reply instead (so a
view waiting for it stops waiting). The process also ends when the window's process dies,
even mid-computation: a thread waits on the pipe multiprocessing keeps to the parent.

No Qt here: the window watches :meth:`ComputeClient.fileno` with a socket notifier and calls
:meth:`ComputeClient.receive`.
"""
from __future__ import annotations

import itertools
import multiprocessing as mp
import multiprocessing.connection
import os
import queue
import threading
import traceback
from dataclasses import dataclass
from typing import Any

# Request kinds the child serves: Engine method names (a whitelist: nothing else is callable).
# Long ones among them take a ``progress(fraction)`` callback, reported as ("progress", ...) messages.
REPORTS_PROGRESS = ("find_critical_points", "basins")
QUICK = ("evaluate_grid", "evaluate_point")  # milliseconds each: another request may be sent behind one
REPORTS_PARTIAL = ("descend",)  # these take a ``partial(result so far)`` callback
KINDS = ("evaluate_grid", "evaluate_point", "find_critical_points", "approximate", "descend", "basins", "backprop",
         "evaluate_matrix", "check_derivatives")


@dataclass
class Reply:
    kind: str          # the request kind, or "ready" / "crashed"
    id: int
    payload: Any = None
    error: str | None = None
    progress: float | None = None  # set on an interim reply: the fraction done so far
    partial: bool = False          # an interim reply with the result so far (the final one follows)


def _exit_with_parent() -> None:
    """End this process as soon as its parent dies (a window killed with kill -9 leaves no one to
    stop it). The parent holds the write end of a pipe multiprocessing gave this process
    (parent_process().sentinel); it reads as closed once the parent is gone. A thread, because the
    main thread may be deep in a computation and only notices the closed request pipe after it."""
    parent = mp.parent_process()
    if parent is None:
        return

    def watch():
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)  # nothing to save here; the results have no one to go to

    threading.Thread(target=watch, daemon=True, name="calcviz-parent-watch").start()


class _Outbox:
    """The child's messages to the window, in order, sent by a thread of their own: a large result (a
    grid, half a megabyte) fills the pipe until the window reads it, which it does only between its own
    work (drawing the last result), and meanwhile the next request (a race's first steps) is computed
    instead of waiting for the send to end."""

    def __init__(self, conn):
        self._conn, self._queue = conn, queue.SimpleQueue()
        threading.Thread(target=self._run, daemon=True, name="calcviz-outbox").start()

    def send(self, message) -> None:
        self._queue.put(message)

    def _run(self) -> None:
        while True:
            try:
                self._conn.send(self._queue.get())
            except (OSError, ValueError):  # the window is gone: the results have no one to go to
                os._exit(0)


def _serve(conn, device: str) -> None:
    """The child's loop: one Engine, requests in order, every failure reported as a message."""
    _exit_with_parent()
    try:
        import gc

        from .engine import Engine  # the TensorFlow import happens here, in the child
        from .expression import ParseError
        engine = Engine(device)
        # TensorFlow's objects never die: keep the collector from walking them (a full collection
        # went from ~150 ms to a few ms; a descent result's thousands of dicts trigger one).
        gc.freeze()
    except Exception as exc:  # noqa: BLE001 - report anything, then stop
        conn.send(("fatal", str(exc)))
        return
    conn.send(("ready", engine.device_name))
    outbox = _Outbox(conn)
    while True:
        try:
            request_id, kind, kwargs = conn.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        try:
            if kind not in KINDS:
                raise ValueError(f"unknown request {kind!r}")
            if kind in REPORTS_PROGRESS:
                kwargs["progress"] = lambda fraction, r=request_id, k=kind: outbox.send(("progress", r, k, fraction))
            if kind in REPORTS_PARTIAL:
                kwargs["partial"] = lambda payload, r=request_id, k=kind: outbox.send(("partial", r, k, payload))
            outbox.send(("result", request_id, kind, getattr(engine, kind)(**kwargs)))
        except (ParseError, ValueError, ArithmeticError) as exc:
            outbox.send(("error", request_id, kind, str(exc)))
        except Exception as exc:  # noqa: BLE001 - TensorFlow's own errors, worded as they come
            detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
            outbox.send(("error", request_id, kind, f"the computation failed: {detail}"))


class ComputeClient:
    """Parent side: start, send (coalescing), receive (dropping stale), cancel by restart."""

    def __init__(self, device: str = "auto"):
        self._device = device
        self._ids = itertools.count(1)
        self.latest: dict[str, int] = {}           # kind -> newest id issued
        self._pending: dict[str, tuple[int, dict]] = {}
        self._in_flight: list[tuple[int, str, dict]] = []  # sent, final reply not in yet; oldest first
        self._resent: set[int] = set()            # ids sent again after a crash: a second one gives up
        self.device_name: str | None = None
        self.failed: str | None = None            # why the process could not start (then it stays down)
        self.starts = 0                           # bumps on every (re)start: the pipe is new
        self._start()

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child, self._device), daemon=True, name="calcviz-compute")
        self._process.start()
        child.close()
        self._in_flight = []
        self.device_name = None
        self.failed = None
        self.starts += 1

    def fileno(self) -> int:
        return self._conn.fileno()

    @property
    def busy(self) -> bool:
        return bool(self._in_flight) or bool(self._pending)

    def submit(self, kind: str, **kwargs) -> int:
        """Queue a request; it replaces any not-yet-sent request of the same kind. Returns its id."""
        if kind not in KINDS:
            raise ValueError(f"unknown request {kind!r}")
        request_id = next(self._ids)
        self.latest[kind] = request_id
        self._pending[kind] = (request_id, kwargs)
        self._pump()
        return request_id

    def _pump(self) -> None:
        # One request at a time (a newer one of its kind can still replace a queued one), except that one
        # of another kind goes behind a QUICK one: the process goes on to it (a race's first steps) while
        # the window draws the grid. (Not a second grid: a burst of them still coalesces.)
        while self._pending and self.device_name is not None and (
                not self._in_flight or (len(self._in_flight) == 1 and self._in_flight[0][1] in QUICK)):
            kind = next((k for k in self._pending if all(k != sent[1] for sent in self._in_flight)), None)
            if kind is None:
                return
            request_id, kwargs = self._pending.pop(kind)
            self._conn.send((request_id, kind, kwargs))
            self._in_flight.append((request_id, kind, kwargs))

    def receive(self) -> list[Reply]:
        """Read what has arrived (call when fileno is readable); return the replies still current."""
        replies: list[Reply] = []
        if self.failed is not None:
            return replies  # it could not start: restarting would only fail again, forever
        try:
            while self._conn.poll():
                message = self._conn.recv()
                tag = message[0]
                if tag == "ready":
                    self.device_name = message[1]
                    replies.append(Reply("ready", 0, message[1]))
                elif tag == "fatal":
                    replies.append(Reply("crashed", 0, error=f"the compute process could not start: {message[1]}"))
                    self.failed = message[1]
                    self._stop()  # the child has returned; close the pipe so it is not read (and restarted) again
                    return replies
                elif tag == "progress":
                    _, request_id, kind, fraction = message
                    if request_id == self.latest.get(kind):
                        replies.append(Reply(kind, request_id, progress=float(fraction)))
                elif tag == "partial":
                    _, request_id, kind, payload = message
                    if request_id == self.latest.get(kind):
                        replies.append(Reply(kind, request_id, payload, partial=True))
                else:
                    _, request_id, kind, body = message
                    self._in_flight = [sent for sent in self._in_flight if sent[0] != request_id]
                    self._resent.discard(request_id)
                    if request_id == self.latest.get(kind):
                        replies.append(Reply(kind, request_id, None if tag == "error" else body,
                                             body if tag == "error" else None))
        except (EOFError, OSError):
            lost = self._in_flight
            self.restart()
            replies += self._recover(lost)
        self._pump()
        return replies

    def _recover(self, lost: list[tuple[int, str, dict]]) -> list[Reply]:
        """After a crash: the request it was computing goes again, first, unless superseded; a
        request that already crashed the process once gets its error reply instead. One sent behind
        it (see _pump) goes again after it, unless superseded."""
        if not lost:
            return [Reply("crashed", 0, error="the compute process stopped; it was restarted")]
        (request_id, kind, kwargs), behind = lost[0], lost[1:]
        self._pending = {k: (i, kw) for i, k, kw in behind
                         if i == self.latest.get(k) and k not in self._pending} | self._pending
        what = kind.replace("_", " ")
        stopped = f"the compute process stopped while computing {what}; it was restarted"
        if request_id != self.latest.get(kind) or kind in self._pending:
            return [Reply("crashed", 0, error=stopped)]  # a newer request of its kind goes instead
        if request_id in self._resent:
            self._resent.discard(request_id)
            return [Reply("crashed", 0, error=stopped),
                    Reply(kind, request_id, error=f"the compute process stopped twice while computing {what}, "
                                                  f"so it was not tried again (out of memory? try a smaller "
                                                  f"grid, fewer steps or a smaller box)")]
        self._resent.add(request_id)
        self._pending = {kind: (request_id, kwargs), **self._pending}
        return [Reply("crashed", 0, error=f"{stopped} and the {what} request sent again")]

    def wait(self, timeout: float = 60.0) -> list[Reply]:
        """Block until something arrives (for the CLI, tests and benchmarks; the GUI never blocks)."""
        if self.failed is None and self._conn.poll(timeout):
            return self.receive()
        return []

    def request(self, kind: str, timeout: float = 120.0, **kwargs) -> Reply:
        """Submit and wait for this request's reply (blocking; not for the GUI thread)."""
        request_id = self.submit(kind, **kwargs)
        while True:
            if self.failed is not None:
                return Reply("crashed", 0, error=f"the compute process could not start: {self.failed}")
            replies = self.wait(timeout)
            if not replies:
                raise TimeoutError(f"no reply to {kind} within {timeout} s")
            for reply in replies:
                if reply.id == request_id and reply.progress is None and not reply.partial:
                    return reply
                if reply.kind == "crashed" and not self._waiting(request_id):
                    return reply

    def _waiting(self, request_id: int) -> bool:
        """The request is queued or being computed (after a crash: being sent again)."""
        return any(sent[0] == request_id for sent in self._in_flight) or any(
            queued == request_id for queued, _ in self._pending.values())

    def cancel(self) -> None:
        """Drop everything queued and stop the computation under way (by restarting the process)."""
        self._pending.clear()
        self._resent.clear()
        self.latest = {kind: next(self._ids) for kind in self.latest}
        if self._in_flight:
            self.restart()

    def restart(self) -> None:
        self._stop()
        self._start()

    def _stop(self) -> None:
        try:
            self._conn.close()
        except OSError:
            pass
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(2)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(1)

    def close(self) -> None:
        self._pending.clear()
        self._stop()
