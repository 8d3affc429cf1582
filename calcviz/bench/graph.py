"""The graph section: the chain-rule view with a 200-node computational graph (under Xvfb).

Figures (times in ms; clocks are time.perf_counter):
- layout:  ChainRuleView.set_graph(200-node random layered graph) on a shown window, then the view's
           viewport repainted synchronously (QWidget.repaint): layout + items + first draw, <= 500 ms.
           Median over distinct graphs, with the split between set_graph and the paint.
- live:    a slider of the shown view moved at 60 Hz for 2 s; every inputsChanged is answered at once
           with update_values(the same graph, new numbers), as the controller does when a result comes
           back. The longest gap between ticks of a 5 ms probe timer is the longest event-loop stall
           (paints included); three drags, target on the median of their longest stalls (each listed),
           <= 50 ms; with the update_values and paint times. Twice: the whole graph
           fitted in the view (too small for text: only boxes and arrows are drawn) and at zoom 1.
           Beside it, the GUI thread's CPU time within that gap: on a loaded machine a long gap with
           little CPU time is the process waiting for a core, not the view's work.

The graph generator (:func:`layered_graph`) is shared with tests/gui/test_graph_view.py.
TensorFlow is never imported here: the view gets its numbers in a dict.
"""
from __future__ import annotations

import json
import math
import os
import random
import statistics
import sys
import time

from . import ms, sayer, target

TARGET_LAYOUT_MS = 500.0
TARGET_STALL_MS = 50.0
NODES = 200
RATE_HZ = 60.0
PROBE_MS = 5


_say = sayer("graph")


def layered_graph(nodes: int = NODES, inputs: int = 8, layers: int = 12, seed: int = 0) -> dict:
    """A random graph dict in the chain-rule view's schema: ``inputs`` inputs, ``layers`` layers, one output.

    Every node has a parent in the layer just before its own (so its longest path from the inputs puts it
    in that layer) and 0-2 more from earlier layers; every node without a child feeds the output.
    The numbers are random: the view only draws them.
    """
    rng = random.Random(seed)
    names = [f"x{i}" for i in range(inputs)]
    rows = [names[:]]
    inner = nodes - inputs - 1
    for k in range(layers - 2):
        size = inner // (layers - 2) + (1 if k < inner % (layers - 2) else 0)
        rows.append([f"n{len(rows)}_{i}" for i in range(size)])
    rows.append(["f"])
    parents: dict[str, list[str]] = {name: [] for name in names}
    earlier = names[:]
    for k in range(1, len(rows) - 1):
        for name in rows[k]:
            extra = rng.sample(earlier, k=min(len(earlier), rng.randint(0, 2)))
            parents[name] = list(dict.fromkeys([rng.choice(rows[k - 1])] + extra))
        earlier += rows[k]
    has_child = {p for ps in parents.values() for p in ps}
    parents["f"] = list(dict.fromkeys(rows[-2] + [n for n in earlier if n not in has_child and n not in rows[-2]]))
    order = [n for row in rows for n in row]
    children: dict[str, list[str]] = {n: [] for n in order}
    for child in order:
        for p in parents[child]:
            children[p].append(child)
    kind = {n: "input" for n in names} | {"f": "output"}
    data = {
        "output": "f", "inputs": names,
        "nodes": [{"name": n, "label": n, "kind": kind.get(n, "definition"),
                   "formula": None if n in names else "(" + " + ".join(parents[n]) + ")^2",
                   "parents": parents[n], "children": children[n]} for n in order],
        "edges": [{"parent": p, "child": c} for c in order for p in parents[c]],
        "backward_order": order[::-1],
        "paths_truncated": True,
        "operations": {"edges": sum(map(len, parents.values())), "inputs": inputs,
                       "explanation": "random graph for the benchmark"},
    }
    data["operations"]["reverse_mode"] = data["operations"]["edges"]
    data["operations"]["forward_mode"] = inputs * data["operations"]["edges"]
    # A few paths per input, walked to the output (the producer also gives a sample when there are many).
    data["paths"] = {}
    for x in names:
        found = []
        for _ in range(3):
            path = [x]
            while path[-1] != "f" and children[path[-1]]:
                path.append(rng.choice(children[path[-1]]))
            if path[-1] == "f":
                found.append(path)
        data["paths"][x] = [{"nodes": p, "factors": [0.0] * (len(p) - 1), "product": 0.0} for p in found]
    data["path_counts"] = {x: len(data["paths"][x]) + 10 for x in names}
    return renumber(data, rng)


def renumber(data: dict, rng: random.Random) -> dict:
    """The same graph with new random numbers (what a moved slider brings back)."""
    out = dict(data)
    num = lambda: rng.uniform(-50, 50)  # noqa: E731
    out["at"] = {x: round(rng.uniform(-3, 3), 2) for x in data["inputs"]}
    out["nodes"] = [dict(n, value=out["at"].get(n["name"], num()), adjoint=num()) for n in data["nodes"]]
    out["edges"] = [dict(e, local_partial=num()) for e in data["edges"]]
    for node in out["nodes"]:
        node["local_partials"] = {p: e["local_partial"] for e in out["edges"] if e["child"] == node["name"]
                                  for p in [e["parent"]]}
    out["value"] = out["nodes"][-1]["value"]
    out["gradient"] = {x: num() for x in data["inputs"]}
    out["path_sums"] = dict(out["gradient"])
    out["paths"] = {x: [dict(p, factors=[num() for _ in p["factors"]]) for p in paths]
                    for x, paths in data["paths"].items()}
    return out


class _Window:
    def __init__(self):
        from PyQt6.QtWidgets import QApplication

        from calcviz.views.graph_view import ChainRuleView

        self.app = QApplication.instance() or QApplication(sys.argv[:1])
        self.view = ChainRuleView()
        self.view.resize(1200, 800)
        self.view.show()
        self.wait(0.3)

    def wait(self, seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            self.app.processEvents()
            time.sleep(0.001)

    def close(self) -> None:
        self.view.close()
        self.view.deleteLater()
        self.wait(0.05)


def bench_layout(w: _Window, quick: bool) -> dict:
    graphs = [layered_graph(seed=s) for s in range(3 if quick else 7)]
    w.view.set_graph(layered_graph(seed=100))  # warm-up: fonts, first scene
    w.view.canvas.viewport().repaint()
    runs = []
    for data in graphs:
        w.view.clear("next")
        w.wait(0.05)
        t0 = time.perf_counter()
        w.view.set_graph(data)
        t1 = time.perf_counter()
        w.view.canvas.viewport().repaint()
        t2 = time.perf_counter()
        runs.append(((t2 - t0) * 1e3, (t1 - t0) * 1e3, (t2 - t1) * 1e3))
        w.wait(0.05)
    total = [r[0] for r in runs]
    _say(f"layout + first draw: median {statistics.median(total):.1f} ms")
    return {
        "what": f"set_graph({NODES}-node random layered graph, {len(graphs[0]['edges'])}-ish edges) on a shown "
                "1200x800 view, then its viewport repainted (synchronous): median over distinct graphs",
        "graphs": len(graphs),
        "layout_and_first_draw_ms": target(statistics.median(total), TARGET_LAYOUT_MS, "ms",
                                           max_ms=ms(max(total))),
        "set_graph_ms_median": ms(statistics.median(r[1] for r in runs)),
        "first_paint_ms_median": ms(statistics.median(r[2] for r in runs)),
    }


def _drag(w: _Window, data: dict, replies: list[dict], seconds: float) -> dict:
    """One drag of the first input's slider at RATE_HZ for ``seconds``, answered with update_values."""
    from PyQt6.QtCore import QEvent, QObject, Qt, QTimer

    view = w.view
    update_ms: list[float] = []
    paint_ms: list[float] = []
    ticks: list[tuple[float, float]] = []

    def answer(point: dict) -> None:  # the controller: inputsChanged -> (compute) -> update_values
        reply = replies[len(update_ms) % len(replies)]
        t = time.perf_counter()
        view.update_values(dict(reply, at=point))
        update_ms.append((time.perf_counter() - t) * 1e3)

    class PaintTimer(QObject):
        """Paint time of the graph's viewport: from its Paint event to the next event anywhere."""
        start = None

        def eventFilter(self, obj, event):  # noqa: N802 - Qt override
            if self.start is not None:
                paint_ms.append((time.perf_counter() - self.start) * 1e3)
                self.start = None
            if obj is view.canvas.viewport() and event.type() == QEvent.Type.Paint:
                self.start = time.perf_counter()
            return False

    slider = view.rows[data["inputs"][0]].slider
    moves = iter([int(300 * math.sin(k / 20)) for k in range(int(seconds * RATE_HZ) + 1)])

    def move() -> None:
        position = next(moves, None)
        if position is None:
            mover.stop()
        else:
            slider.setValue(position)  # a user's drag: valueChanged -> inputsChanged

    probe = QTimer()
    probe.setTimerType(Qt.TimerType.PreciseTimer)
    probe.timeout.connect(lambda: ticks.append((time.perf_counter(), time.thread_time())))
    mover = QTimer()
    mover.setTimerType(Qt.TimerType.PreciseTimer)
    mover.timeout.connect(move)
    painter = PaintTimer()
    view.inputsChanged.connect(answer)
    w.app.installEventFilter(painter)
    probe.start(PROBE_MS)
    mover.start(round(1000 / RATE_HZ))
    w.wait(seconds + 0.3)
    probe.stop()
    mover.stop()
    w.app.removeEventFilter(painter)
    view.inputsChanged.disconnect(answer)
    gaps = [(b[0] - a[0]) * 1e3 for a, b in zip(ticks, ticks[1:])]
    cpu = [(b[1] - a[1]) * 1e3 for a, b in zip(ticks, ticks[1:])]  # this thread's CPU time in each gap
    return {"update_ms": update_ms, "paint_ms": paint_ms, "gaps": gaps, "stall": max(gaps),
            "stall_cpu": cpu[gaps.index(max(gaps))], "max_cpu": max(cpu)}


def bench_live(w: _Window, quick: bool, zoom: str) -> dict:
    seconds, repeats = (1.0, 1) if quick else (2.0, 3)
    view = w.view
    data = layered_graph(seed=1)
    view.set_graph(data)
    if zoom == "1:1":  # readable: every visible box and label shows its numbers
        view.canvas.resetTransform()
        view.canvas.auto_fit = False
        view.canvas.centerOn(view.canvas.sceneRect().center())
    w.wait(0.2)
    rng = random.Random(7)
    replies = [renumber(data, rng) for _ in range(32)]
    runs = []
    for _ in range(repeats):
        runs.append(_drag(w, data, replies, seconds))
        w.wait(0.2)
    stalls = [r["stall"] for r in runs]
    update_ms = [t for r in runs for t in r["update_ms"]]
    paint_ms = [t for r in runs for t in r["paint_ms"]]
    gaps = [t for r in runs for t in r["gaps"]]
    _say(f"live ({zoom}): longest stalls {', '.join(f'{x:.1f}' for x in stalls)} ms, update_values median "
         f"{statistics.median(update_ms):.2f} ms, {len(paint_ms)} paints")
    return {
        "zoom": zoom, "zoom_factor": round(view.canvas.zoom(), 3), "drags": repeats, "seconds_each": seconds,
        "updates_each": [len(r["update_ms"]) for r in runs],
        "longest_stall_ms": target(statistics.median(stalls), TARGET_STALL_MS, "ms",
                                   measured="median over the drags of each drag's longest gap",
                                   each_drag_ms=[ms(x) for x in stalls]),
        # On a loaded machine a gap also holds time the process waited for a core: its own CPU time tells.
        "gui_thread_cpu_in_longest_gap_ms": [ms(r["stall_cpu"]) for r in runs],
        "most_gui_thread_cpu_in_one_gap_ms": ms(max(r["max_cpu"] for r in runs)),
        "gap_ms_median": ms(statistics.median(gaps)),
        "gap_ms_p99": ms(statistics.quantiles(gaps, n=100)[98]),
        "update_values_ms_median": ms(statistics.median(update_ms)),
        "update_values_ms_max": ms(max(update_ms)),
        "viewport_paints": len(paint_ms),
        "paint_ms_median": ms(statistics.median(paint_ms)) if paint_ms else None,
        "paint_ms_max": ms(max(paint_ms)) if paint_ms else None,
    }


def run(quick: bool = False) -> dict:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise RuntimeError("the graph section needs a display: run it under xvfb-run (./dev.sh bench)")
    w = _Window()
    try:
        _say("layout ...")
        result = {"layout": bench_layout(w, quick)}
        _say("live ...")
        result["live"] = {
            "what": f"a slider of the {NODES}-node view moved at {RATE_HZ:g} Hz, each inputsChanged answered with "
                    f"update_values (new numbers); longest gap between {PROBE_MS} ms probe ticks. 'fit': the whole "
                    "graph in view (numbers too small to draw, so boxes do not repaint); '1:1': zoom 1, readable",
            **{zoom: bench_live(w, quick, zoom) for zoom in ("fit", "1:1")}}
        result["load_average_1min"] = round(os.getloadavg()[0], 2)
        if "tensorflow" in sys.modules:
            raise RuntimeError("TensorFlow was imported in the GUI process")
    finally:
        w.close()
    return result


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
