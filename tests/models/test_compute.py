"""The compute process: spawned child with TensorFlow, stale results dropped, pending requests
coalesced per kind, cancel by restart, crash recovery. Each start imports TensorFlow (2-3 s), so
one client is shared by the module where the tests allow it."""
from __future__ import annotations

import multiprocessing as mp
import os
import time

import numpy as np
import pytest

from calcviz.models.compute import KINDS, ComputeClient, Reply

# A grid heavy enough to be still running a second after it is sent (tracing and computing
# 25 definitions on 2000 x 2000 points takes several seconds here).
HEAVY = "; ".join(["a0 = sin(x)*cos(y)"] + [f"a{k} = sin(a{k - 1} + x) * cos(a{k - 1} - y) + exp(-a{k - 1}^2)"
                                           for k in range(1, 25)])
HEAVY_GRID = dict(text=HEAVY, axes=["x", "y"], ranges=[(-1.0, 1.0), (-1.0, 1.0)], n=2000)


def wait_ready(client: ComputeClient, timeout: float = 90.0) -> list[Reply]:
    seen: list[Reply] = []
    deadline = time.monotonic() + timeout
    while client.device_name is None:
        assert time.monotonic() < deadline, "the compute process never reported ready"
        seen += client.wait(1.0)
    return seen


def drain(client: ComputeClient, seconds: float) -> list[Reply]:
    """Everything that arrives within ``seconds``."""
    replies: list[Reply] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        replies += client.wait(left)
    return replies


class CountingConnection:
    """Wraps the client's pipe to count what really crosses it."""

    def __init__(self, conn):
        self.conn, self.sent, self.received = conn, [], []

    def send(self, obj):
        self.sent.append(obj)
        self.conn.send(obj)

    def recv(self):
        message = self.conn.recv()
        self.received.append(message)
        return message

    def poll(self, *args):
        return self.conn.poll(*args)

    def fileno(self):
        return self.conn.fileno()

    def close(self):
        self.conn.close()


def compute_children():
    return [p for p in mp.active_children() if p.name == "calcviz-compute"]


@pytest.fixture(scope="module", autouse=True)
def no_leaked_processes():
    yield
    deadline = time.monotonic() + 5
    while compute_children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert compute_children() == [], "a compute process outlived its test"


@pytest.fixture(scope="module")
def client():
    c = ComputeClient("cpu")
    try:
        yield c
    finally:
        process = c._process
        c.close()
        assert not process.is_alive()


@pytest.fixture
def ready(client):
    wait_ready(client)
    assert not client.busy
    return client


# ----------------------------------------------------------------------------- start
def test_starts_with_spawn_and_reports_ready():
    c = ComputeClient("cpu")
    try:
        assert type(c._process).__name__ == "SpawnProcess"
        assert c._process.name == "calcviz-compute" and c._process.daemon
        assert c.device_name is None and c.starts == 1
        replies = wait_ready(c)
        assert [r.kind for r in replies] == ["ready"]
        assert replies[0].payload == "CPU" and c.device_name == "CPU"
        assert c._process.is_alive()
    finally:
        process = c._process
        c.close()
    assert not process.is_alive()


def test_requests_before_ready_wait_and_coalesce():
    c = ComputeClient("cpu")
    try:
        counting = c._conn = CountingConnection(c._conn)
        first = c.submit("evaluate_point", text="x^2", at={"x": 1.0})
        last = c.submit("evaluate_point", text="x^2", at={"x": 3.0})
        assert c.busy and counting.sent == []  # nothing goes before "ready"
        reply = c.request("evaluate_point", text="x^2", at={"x": 4.0})
        assert reply.payload["value"] == 16.0
        assert [m[0] for m in counting.sent] == [last + 1]  # only the newest was ever sent
        assert first < last
    finally:
        c.close()


# ----------------------------------------------------------------------------- requests
def test_point_matches_the_in_process_engine(ready):
    from calcviz.models.engine import Engine
    text, at = "(x^2+y-11)^2 + (x+y^2-7)^2", {"x": 0.0, "y": 0.0}
    reply = ready.request("evaluate_point", text=text, at=at)
    assert reply.kind == "evaluate_point" and reply.error is None
    local = Engine("cpu").evaluate_point(text, at)
    remote = reply.payload
    assert remote["value"] == local["value"] == 170.0
    assert remote["gradient"] == local["gradient"] == {"x": -14.0, "y": -22.0}
    assert remote["hessian"] == local["hessian"]
    assert remote["eigenvalues"] == local["eigenvalues"]
    assert remote["device"] == "CPU"
    assert not ready.busy


def test_grid_through_the_process(ready):
    reply = ready.request("evaluate_grid", text="k x y", axes=["x", "y"], ranges=[(0, 1), (0, 2)], n=5,
                          params={"k": 3.0})
    X, Y = np.meshgrid(np.linspace(0, 1, 5), np.linspace(0, 2, 5), indexing="ij")
    np.testing.assert_allclose(reply.payload["value"], 3 * X * Y, rtol=1e-6)
    np.testing.assert_allclose(reply.payload["d1"], 3 * Y, rtol=1e-6)
    np.testing.assert_allclose(reply.payload["d2"], 3 * X, rtol=1e-6)


def test_burst_of_grids_only_the_last_is_computed_and_delivered(ready):
    counting = ready._conn = CountingConnection(ready._conn)
    try:
        ids = [ready.submit("evaluate_grid", text="k x y", axes=["x", "y"], ranges=[(-1, 1), (-1, 1)], n=50,
                            params={"k": float(k)}) for k in range(1, 21)]
        assert ids == sorted(ids) and ready.latest["evaluate_grid"] == ids[-1]
        delivered: list[Reply] = []
        deadline = time.monotonic() + 60
        while not any(r.id == ids[-1] for r in delivered):
            assert time.monotonic() < deadline
            delivered += ready.wait(5)
        delivered += drain(ready, 0.5)  # nothing else may come
        assert [r.id for r in delivered] == [ids[-1]]
        X, Y = np.meshgrid(np.linspace(-1, 1, 50), np.linspace(-1, 1, 50), indexing="ij")
        np.testing.assert_allclose(delivered[0].payload["value"], 20 * X * Y, rtol=1e-6)
        # the first went out at once; 2..19 were superseded while it ran and never computed
        assert [m[0] for m in counting.sent] == [ids[0], ids[-1]]
        results = [m for m in counting.received if m[0] in ("result", "error")]
        assert [m[1] for m in results] == [ids[0], ids[-1]]  # ids[0]'s result was dropped as stale
        assert not ready.busy
    finally:
        ready._conn = counting.conn


def test_kinds_are_coalesced_separately(ready):
    grid = ready.submit("evaluate_grid", text="x+y", axes=["x", "y"], ranges=[(0, 1), (0, 1)], n=3)
    point = ready.submit("evaluate_point", text="x+y", at={"x": 1.0, "y": 2.0})
    got: dict[int, Reply] = {}
    deadline = time.monotonic() + 60
    while len(got) < 2:
        assert time.monotonic() < deadline
        got.update({r.id: r for r in ready.wait(5)})
    assert got[grid].kind == "evaluate_grid" and got[grid].payload["value"].shape == (3, 3)
    assert got[point].kind == "evaluate_point" and got[point].payload["value"] == 3.0


def test_a_request_of_another_kind_goes_behind_a_grid_and_both_survive_a_crash(ready):
    """While a grid is computed the next request of another kind is sent too (the race's first steps need
    not wait for the window to read the grid), but no third; killed then, both are computed again."""
    counting = ready._conn = CountingConnection(ready._conn)
    try:
        grid = ready.submit("evaluate_grid", **HEAVY_GRID)
        race = ready.submit("descend", text="x^2 + y^2", start={"x": 1.0, "y": 1.0}, lr=0.5, steps=50)
        point = ready.submit("evaluate_point", text="x^2 + y^2", at={"x": 1.0, "y": 2.0})
        assert [sent[:2] for sent in ready._in_flight] == [(grid, "evaluate_grid"), (race, "descend")]
        assert [m[:2] for m in counting.sent] == [(grid, "evaluate_grid"), (race, "descend")]
        time.sleep(0.3)
        ready._process.kill()
        replies = until(ready, lambda r: r.id == point)
        got = {r.id: r for r in replies if r.progress is None and not r.partial}
        assert [r.error for r in replies if r.kind == "crashed"] == [
            "the compute process stopped while computing evaluate grid; it was restarted and the evaluate grid "
            "request sent again"]
        assert got[grid].payload["value"].shape == (2000, 2000)
        (run,) = got[race].payload["runs"]
        assert run["status"] == "converged" and run["point"] == {"x": 0.0, "y": 0.0}  # (one step at lr 1/2)
        assert got[point].payload["value"] == 5.0 and not ready.busy
    finally:
        if ready._conn is counting:  # (not restarted: the pipe is still this one)
            ready._conn = counting.conn


def test_errors_come_back_as_messages(ready):
    starts = ready.starts
    reply = ready.request("evaluate_point", text="x +", at={"x": 1.0})
    assert reply.kind == "evaluate_point" and reply.payload is None
    assert "expected a number, a name or '(' after '+'" in reply.error
    reply = ready.request("evaluate_point", text="k x", at={"x": 1.0})
    assert "give a value for k" in reply.error
    reply = ready.request("evaluate_grid", text="x y", axes=["x", "y"], ranges=[(0, 1), (0, 1)], n=1)
    assert "between 2 and 2000" in reply.error
    reply = ready.request("evaluate_point", text="x", at={"x": 1.0}, bogus=1)  # a TypeError in the child
    assert reply.error and "the computation failed" in reply.error
    # the process is still the same one, and still works
    assert ready.starts == starts and ready._process.is_alive()
    assert ready.request("evaluate_point", text="2x", at={"x": 2.0}).payload["value"] == 4.0


def test_unknown_kind_is_refused_in_the_parent(ready):
    with pytest.raises(ValueError, match="unknown request"):
        ready.submit("__class__")
    assert set(KINDS) == {"evaluate_grid", "evaluate_point", "find_critical_points", "approximate",
                          "descend", "basins", "backprop", "evaluate_matrix", "check_derivatives"}


# ----------------------------------------------------------------------------- cancel, crash
def test_a_race_on_a_new_formula_sends_its_first_steps_before_the_result(ready):
    request_id = ready.submit("descend", text="(1-x)^2 + 100(y-x^2)^2", start={"x": -1.5, "y": 2.0},
                              optimizers=["gd", "adam", "newton"], lr=0.001, steps=500)
    replies: list[Reply] = []
    deadline = time.monotonic() + 60
    while not any(r.id == request_id and not r.partial for r in replies):
        assert time.monotonic() < deadline
        replies += ready.wait(5.0)
    race = [r for r in replies if r.kind == "descend"]
    assert race[0].partial and race[-1] is not race[0] and not race[-1].partial
    assert all(r.id == request_id for r in race)
    first, final = race[0].payload, race[-1].payload
    assert {r["status"] for r in first["runs"]} >= {"running"}
    assert [r["optimizer"] for r in first["runs"]] == [r["optimizer"] for r in final["runs"]]
    step = first["runs"][0]["path"][1], final["runs"][0]["path"][1]
    assert step[0]["point"] == pytest.approx(step[1]["point"]) and step[0]["value"] == pytest.approx(step[1]["value"])
    assert not ready.busy


def test_cancel_when_idle_does_not_restart(ready):
    starts = ready.starts
    ready.cancel()
    assert ready.starts == starts and ready.device_name == "CPU"


def test_cancel_during_a_long_request_restarts_and_the_next_request_works(ready):
    starts, old = ready.starts, ready._process
    heavy = ready.submit("evaluate_grid", **HEAVY_GRID)
    queued = ready.submit("evaluate_point", text="x", at={"x": 1.0})
    assert ready.busy and ready._in_flight[0][:2] == (heavy, "evaluate_grid")
    assert ready.wait(1.0) == []  # still computing after a second
    t0 = time.monotonic()
    ready.cancel()
    assert time.monotonic() - t0 < 5  # it did not wait for the computation
    assert ready.starts == starts + 1 and not old.is_alive()
    assert not ready.busy  # the queued point request was dropped too
    reply = ready.request("evaluate_point", text="x^2 + y^2", at={"x": 3.0, "y": 4.0})
    assert reply.kind == "evaluate_point" and reply.payload["value"] == 25.0
    late = drain(ready, 0.3)
    assert all(r.id not in (heavy, queued) for r in late)


def test_killed_child_is_reported_and_the_client_recovers(ready):
    starts = ready.starts
    ready._process.kill()
    ready._process.join(5)
    replies = ready.wait(10)
    assert [r.kind for r in replies] == ["crashed"]
    assert "the compute process stopped" in replies[0].error and "restarted" in replies[0].error
    assert ready.starts == starts + 1
    reply = ready.request("evaluate_point", text="x y", at={"x": 2.0, "y": 3.0})
    assert reply.payload["value"] == 6.0 and reply.payload["gradient"] == {"x": 3.0, "y": 2.0}


def test_killed_during_a_request_says_what_was_lost(ready):
    ready.submit("evaluate_grid", **HEAVY_GRID)
    time.sleep(0.3)
    ready._process.kill()
    replies = ready.wait(10)
    assert [r.kind for r in replies] == ["crashed"]
    assert "while computing evaluate grid" in replies[0].error
    ready.cancel()  # (not to wait for the grid, sent again)
    assert ready.request("evaluate_point", text="x", at={"x": 5.0}).payload["value"] == 5.0


# Long requests that report progress between their chunks (so a test knows they are under way) and
# still have seconds to go then: a basins map (about 9 s here) and a critical-point search (10 s).
LONG_BASINS = dict(text="(x^2 + y - 11)^2 + (x + y^2 - 7)^2", axes=["x", "y"], ranges=[(-5.0, 5.0), (-5.0, 5.0)],
                   n=200, lr=1e-4, steps=20000, tol=0.0)
LONG_SEARCH = dict(text="(x^2 + y - 11)^2 + (x + y^2 - 7)^2", axes=["x", "y"], ranges=[(-5.0, 5.0), (-5.0, 5.0)],
                   seeds_per_side=1000)


def until(client: ComputeClient, done, timeout: float = 180.0) -> list[Reply]:
    """Every reply up to the first for which done(reply) holds, that one included."""
    replies: list[Reply] = []
    deadline = time.monotonic() + timeout
    while not (replies and done(replies[-1])):
        assert time.monotonic() < deadline, f"no such reply within {timeout} s (got {replies})"
        for reply in client.wait(5):
            replies.append(reply)
            if done(reply):
                break
    return replies


def kill_while_computing(client: ComputeClient, request_id: int) -> None:
    until(client, lambda r: r.id == request_id and r.progress is not None)  # under way
    client._process.kill()


def test_a_request_the_process_crashed_on_is_sent_again(ready):
    """kill -9 during a basins map: the map is computed again after the restart, once."""
    counting = ready._conn = CountingConnection(ready._conn)
    starts = ready.starts
    request_id = ready.submit("basins", **LONG_BASINS)
    kill_while_computing(ready, request_id)
    replies = until(ready, lambda r: r.id == request_id and r.progress is None)
    crashed = [r for r in replies if r.kind == "crashed"]
    assert [r.error for r in crashed] == ["the compute process stopped while computing basins; it was restarted "
                                          "and the basins request sent again"]
    result = replies[-1]
    assert result.kind == "basins" and result.error is None and result.payload["labels"].shape == (200, 200)
    assert result.payload["unconverged"] == 200 * 200  # (tol 0: every start runs its 20,000 steps)
    assert ready.starts == starts + 1 and not ready.busy
    assert [m[:2] for m in counting.sent] == [(request_id, "basins")]  # then the new pipe: sent once more
    assert ready._conn is not counting


def test_a_request_that_crashes_the_process_twice_gets_an_error(ready):
    """kill -9 during a critical-point search, and again during its second try: the search gets an
    error reply (the window's "Searching..." ends), and the process works for what comes next."""
    request_id = ready.submit("find_critical_points", **LONG_SEARCH)
    kill_while_computing(ready, request_id)
    kill_while_computing(ready, request_id)  # its second try, under way in the new process
    replies = until(ready, lambda r: r.id == request_id and r.progress is None)
    error = replies[-1]
    assert error.kind == "find_critical_points" and error.payload is None
    assert error.error.startswith("the compute process stopped twice while computing find critical points, "
                                  "so it was not tried again")
    assert not ready.busy
    assert drain(ready, 1.0) == []  # not sent a third time
    assert ready.request("evaluate_point", text="x y", at={"x": 2.0, "y": 3.0}).payload["value"] == 6.0


def test_a_superseded_request_is_not_sent_again(ready):
    """Killed while computing a grid that a newer grid has replaced: only the newer one is sent."""
    old = ready.submit("evaluate_grid", **HEAVY_GRID)
    new = ready.submit("evaluate_grid", text="x + y", axes=["x", "y"], ranges=[(0, 1), (0, 1)], n=3)
    assert ready._in_flight[0][0] == old
    time.sleep(0.3)
    ready._process.kill()
    replies = until(ready, lambda r: r.id == new)
    assert [r.kind for r in replies] == ["crashed", "ready", "evaluate_grid"]
    assert replies[0].error == "the compute process stopped while computing evaluate grid; it was restarted"
    assert replies[2].payload["value"].shape == (3, 3) and not ready.busy


PARENT = """
import sys
from calcviz.models.compute import ComputeClient
client = ComputeClient("cpu")
while client.device_name is None:
    client.wait(1.0)
# a basins map that would take hours: 90,000 starts, a million steps each
client.submit("basins", text="x^2 + y^2", axes=["x", "y"], ranges=[(-1.0, 1.0), (-1.0, 1.0)], n=300, lr=1e-6,
              steps=1_000_000, tol=0.0)
while not any(r.progress is not None for r in client.wait(5)):
    pass
print(client._process.pid, flush=True)
while True:
    client.wait(5)
"""


def gone(pid: int) -> bool:
    """The process has ended (a zombie waiting for its new parent to reap it has ended too)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_the_compute_process_ends_when_the_window_is_killed(tmp_path):
    """kill -9 of the window's process (here a script using the client) while the compute process is
    in the middle of a request: the compute process ends within seconds, not when its request does."""
    import signal
    import subprocess
    import sys
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    child = None
    try:
        child = int(parent.stdout.readline())  # computing now
        assert not gone(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 30
        while not gone(child):
            assert time.monotonic() < deadline, "the compute process ran on after its parent was killed"
            time.sleep(0.2)
    finally:
        parent.kill()
        parent.wait(10)
        if child is not None and not gone(child):
            os.kill(child, signal.SIGKILL)


def test_a_process_that_cannot_start_is_not_restarted_forever():
    from calcviz.models import tf_lowering
    if tf_lowering._GPUS:
        pytest.skip("a GPU is present: 'gpu' starts fine here")
    c = ComputeClient("gpu")
    try:
        reply = c.request("evaluate_point", text="x", at={"x": 1.0}, timeout=90)
        assert reply.kind == "crashed"
        assert "could not start" in reply.error and "no GPU" in reply.error
        assert c.failed and c.starts == 1
        assert c.wait(1.0) == [] and c.receive() == []
        assert c.starts == 1 and not c._process.is_alive()  # no endless respawning
        again = c.request("evaluate_point", text="x", at={"x": 1.0})
        assert again.kind == "crashed" and "could not start" in again.error
    finally:
        c.close()
    assert not c._process.is_alive()


def test_critical_search_reports_progress_then_its_result(ready):
    """Long searches send interim progress replies through the pipe before the result."""
    request_id = ready.submit("find_critical_points", text="(x^2 + y - 11)^2 + (x + y^2 - 7)^2", axes=["x", "y"],
                              ranges=[(-5.0, 5.0), (-5.0, 5.0)])
    fractions, result = [], None
    while result is None:
        replies = ready.wait(60)
        assert replies, "no reply within 60 s"
        for reply in replies:
            assert reply.id == request_id and reply.error is None
            if reply.progress is not None:
                fractions.append(reply.progress)
            else:
                result = reply.payload
    assert fractions and all(0.0 <= f <= 1.0 for f in fractions) and fractions == sorted(fractions)
    assert len(result["critical_points"]) == 9


def test_descent_runs_through_the_compute_process(ready):
    """The window will race optimizers through the child: the result must pickle back intact."""
    reply = ready.request("descend", text="x^2 + y^2", start={"x": 1.0, "y": -2.0}, optimizers=["gd", "adam"],
                          lr=0.1, steps=200, tol=1e-6)
    assert reply.error is None
    gd, adam = reply.payload["runs"]
    assert (gd["optimizer"], gd["status"]) == ("gd", "converged")
    assert gd["path"][1]["point"] == {"x": pytest.approx(0.8), "y": pytest.approx(-1.6)}  # w - 0.1 * 2w
    assert adam["optimizer"] == "adam" and len(adam["path"]) == adam["steps"] + 1


def test_matrix_requests_run_through_the_compute_process(ready):
    """The matrix panel's two kinds: values and gradients (numpy arrays pickle back), and a check's verdict."""
    reply = ready.request("evaluate_matrix", text="x: 2\nA: 2x2\nx^T A x",
                          values={"x": [1.0, 2.0], "A": [[1.0, 2.0], [0.0, 1.0]]})
    assert reply.error is None and float(reply.payload["value"]) == 9.0  # 1 + 2*2 + 4
    np.testing.assert_array_equal(reply.payload["gradients"]["x"], [6.0, 6.0])  # (A + A^T) x
    reply = ready.request("check_derivatives", text="x: n\nA: n x n\nx^T A x", derivatives="d/dx = 2 A x")
    assert reply.error is None and reply.payload["agrees"] is False
    reply = ready.request("check_derivatives", text="x: 3\nx^T x", derivatives="d/dx = x^T")
    assert reply.payload is None and "your derivative is 1x3 (a row)" in reply.error
