"""The GUI section: launch, edit latency, memory and 3D frame rate of the real window (under Xvfb).

Figures (times in ms, medians where repeated; clocks are CLOCK_MONOTONIC, shared by all processes):
- launch:  a fresh ``python -c DRIVER`` process runs calcviz.app.main() (what ``python -m calcviz`` runs)
           with hooks added by the driver only: launch -> window shown (first frame of the window on
           screen) <= 1500 ms, window shown -> something of the function on screen (numpy's preview
           while TensorFlow loads) <= 1000 ms, and launch -> first surface drawn, checked against a
           fresh process's ``import tensorflow`` time + 1 s (measured in the same run).
- edit:    Controller.set_text(new formula) -> both views repainted with its grid, N = 200, engine warm,
           each edit starting from a settled window (no computation pending), <= 100 ms; with where the
           time goes (compute round trip, show_grid, first paint of each view after it).
- first step: every optimizer ticked and a start set, a new formula typed and Step pressed at once ->
           the race's first step answered (in the Session and shown): 95th percentile <= 150 ms.
- memory:  peak RSS (VmHWM) of the GUI and compute processes, and VmRSS growth of both over 300 edits
           of distinct formulas, <= 50 MB each.
- idle:    GUI process CPU while nothing computes, with and without the status bar's busy indicator.
- fps:     the 3D view orbiting 2 degrees a frame, each frame really painted (paintGL counted) and put on
           screen by Qt's usual update cycle: >= 60 fps at N = 200, >= 30 at N = 400; GL_RENDERER.
- race:    every optimizer racing down Rosenbrock at 120 steps/s (N = 200): the longest event-loop stall
           while it animates (largest gap between ticks of a 1 ms timer) <= 50 ms, frames (race timer ticks),
           steps shown, and the median DescentController.redraw() time.

TensorFlow is never imported in this process (it crashes Mesa's GL): the window computes in its
spawned compute process, exactly like the app.
"""
from __future__ import annotations

import gc
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from . import ms, sayer, target

TARGET_SHOWN_MS = 1500.0
TARGET_SURFACE_AFTER_TF_MS = 1000.0   # first surface <= TensorFlow's import + this
TARGET_FUNCTION_AFTER_SHOWN_MS = 1000.0  # something of the function (numpy's preview) on screen after the window shows
TARGET_EDIT_MS = 100.0
TARGET_RSS_GROWTH_MB = 50.0
TARGET_FPS = {200: 60.0, 400: 30.0}
EDIT_N = 200
TARGET_STALL_MS = 50.0
TARGET_FIRST_STEP_MS = 150.0
RACE_TEXT = "(1-x)^2 + 100(y-x^2)^2"
RACE_BOX = {"x": (-2.0, 2.0), "y": (-1.0, 3.0)}
RACE_START = {"x": -1.5, "y": 2.0}
RACE_SETUP = {"lr": 0.001, "max_steps": 2000, "speed": 120}  # speed: steps per second
BOX = (-2.0, 2.0)
MARK = "CALCVIZ_BENCH_GUI_MARKS "

# Shapes the edits cycle through ({c} makes every text new: each edit is a formula the engine never saw).
TEMPLATES = (
    "x*exp(-{c}*(x^2+y^2))",
    "sin(x)*cos(y)+{c}*x^2",
    "x^2-{c}*y^2+x*y",
    "log(1+x^2+{c}*y^2)",
    "tanh({c}*x)*sigmoid(y)+0.1*y^2",
    "a = x+{c}*y; b = x-y; a^2*b",
)


def now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


_say = sayer("gui")


def _texts(count: int, start: int) -> list[str]:
    return [TEMPLATES[k % len(TEMPLATES)].format(c=f"{0.5 + 0.0001 * (start + k):.4f}") for k in range(count)]


def _status_mb(pid, field: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no {field} line in /proc/{pid}/status")


# ---------------------------------------------------------------------------------------------- launch
# Runs in a fresh interpreter. It runs the app's own entry point, calcviz.app.main(), and only wraps
# calcviz.gui.build to watch what it built: when the window is exposed and first painted, when the
# compute process is ready, when the first grid reaches the views and when the surface is painted.
# Then it quits the event loop (gui.run's own dispose follows) and prints the marks as one JSON line.
DRIVER = r'''
import time
T_SCRIPT = time.clock_gettime(time.CLOCK_MONOTONIC)
import json, os, sys

def now():
    return time.clock_gettime(time.CLOCK_MONOTONIC)

def process_age_s():
    with open("/proc/self/stat") as f:
        start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")

marks = {"script": T_SCRIPT}
age_at_script_s = process_age_s()

import calcviz.gui as G
from PyQt6 import QtCore, QtGui, QtWidgets
marks["imports_done"] = now()
_build = G.build


class Watch(QtCore.QObject):
    def __init__(self, window):
        super().__init__()
        self.window = window

    def eventFilter(self, obj, event):
        kind = event.type()
        if (kind == QtCore.QEvent.Type.Expose and "exposed" not in marks and isinstance(obj, QtGui.QWindow)
                and obj.isExposed() and obj is self.window.windowHandle()):
            marks["exposed"] = now()
        return False


def build(device="auto", persist=True):
    marks["build_start"] = now()
    built = _build(device, persist)
    marks["build_end"] = now()
    window, session = built.window, built.session
    app = QtWidgets.QApplication.instance()
    watch = Watch(window)
    app.installEventFilter(watch)
    window._bench_watch = watch
    gl = window.surface.gl
    paint_gl, paint_window = gl.paintGL, window.paintEvent

    def gl_painted():
        paint_gl()
        t = now()
        marks.setdefault("first_gl_paint", t)
        if "preview_shown" in marks:
            marks.setdefault("preview_drawn", t)
        if "grid_shown" in marks and "surface_drawn" not in marks:
            marks["surface_drawn"] = t
            marks["surface_widget_shown"] = window.surface._stack.currentWidget() is gl
            app.removeEventFilter(watch)
            QtCore.QTimer.singleShot(0, app.quit)
    gl.paintGL = gl_painted

    def window_painted(event):
        paint_window(event)
        marks.setdefault("first_window_paint", now())
    window.paintEvent = window_painted

    session.device_changed.connect(lambda _name: marks.setdefault("compute_ready", now()), priority=1)

    def grid_received(kind):
        if kind == "grid" and session.grid is not None:
            marks.setdefault("grid_received", now())

    def grid_shown(kind):
        if kind == "grid" and session.grid is not None:
            marks.setdefault("grid_shown", now())
    def preview_shown(kind):
        if kind == "grid" and session.grid is None and session.preview("grid") is not None:
            marks.setdefault("preview_shown", now())
    session.result_changed.connect(grid_received, priority=1)  # before the views draw it
    session.result_changed.connect(grid_shown, priority=-1)    # after
    session.result_changed.connect(preview_shown, priority=-1)

    QtCore.QTimer.singleShot(120000, app.quit)  # never hang the benchmark
    return built


G.build = build
from calcviz.app import main
sys.argv = ["calcviz"]
try:
    main()
except SystemExit as exc:
    marks["exit_status"] = exc.code
marks["exited"] = now()
marks["process_age_at_script_s"] = age_at_script_s
print("''' + MARK + r'''" + json.dumps(marks), flush=True)
'''


def _launch_once() -> dict:
    t0 = now()
    proc = subprocess.run([sys.executable, "-c", DRIVER], capture_output=True, text=True, timeout=180)
    line = next((l for l in proc.stdout.splitlines() if l.startswith(MARK)), None)
    if line is None:
        raise RuntimeError(f"the launch driver printed no marks (status {proc.returncode}): {proc.stderr[-2000:]}")
    marks = json.loads(line[len(MARK):])
    missing = [k for k in ("exposed", "first_gl_paint", "grid_shown", "surface_drawn") if k not in marks]
    if missing or not marks.get("surface_widget_shown"):
        raise RuntimeError(f"the launch driver missed {missing or 'the surface'}: {proc.stderr[-2000:]}")
    age_ms = marks.pop("process_age_at_script_s") * 1e3
    out = {k: (v - t0) * 1e3 for k, v in marks.items() if isinstance(v, float)}
    out["process_age_at_script"] = age_ms
    # The window is on screen once it is exposed and Qt has painted it (the GL view included).
    out["shown"] = max(out["exposed"], out["first_gl_paint"], out.get("first_window_paint", 0.0))
    return out


def _ms_or_none(value: float | None) -> float | None:
    return None if value is None else ms(value)


def _tf_import_once() -> float:
    code = "import time; t=time.perf_counter(); import tensorflow; print(time.perf_counter()-t)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        raise RuntimeError(f"import tensorflow failed: {proc.stderr[-2000:]}")
    return float(proc.stdout.strip().splitlines()[-1]) * 1e3


def bench_launch(quick: bool) -> dict:
    repeats = 1 if quick else 3
    tf_ms = []
    for _ in range(repeats):
        tf_ms.append(_tf_import_once())
        _say(f"import tensorflow in a fresh process: {tf_ms[-1]:.0f} ms")
    runs = []
    for _ in range(repeats):
        runs.append(_launch_once())
        _say(f"launch: shown at {runs[-1]['shown']:.0f} ms, surface at {runs[-1]['surface_drawn']:.0f} ms")
    for r in runs:  # the function first on screen: numpy's preview (or TensorFlow's grid, if that came first)
        r["function_on_screen"] = min(r.get("preview_drawn", r["surface_drawn"]), r["surface_drawn"])
        r["function_after_shown"] = max(0.0, r["function_on_screen"] - r["shown"])  # 0: in the first frame
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if all(k in r for r in runs)}
    tf_import = statistics.median(tf_ms)
    return {
        "what": "fresh `python -c DRIVER` running calcviz.app.main() (the `python -m calcviz` path); ms after "
                "the parent called Popen; medians of the launches, warm file cache",
        "launches": repeats,
        "window_shown_ms": target(med["shown"], TARGET_SHOWN_MS, "ms", all_ms=[ms(r["shown"]) for r in runs],
                                  measured="top-level window exposed and first painted (GL view included)"),
        "first_surface_ms": target(med["surface_drawn"], tf_import + TARGET_SURFACE_AFTER_TF_MS, "ms",
                                   all_ms=[ms(r["surface_drawn"]) for r in runs],
                                   measured="first grid in the views and the GL view repainted with it; "
                                            "target: tensorflow_import_ms + 1000"),
        "function_on_screen_after_window_shown_ms": target(
            med["function_after_shown"], TARGET_FUNCTION_AFTER_SHOWN_MS, "ms",
            all_ms=[ms(r["function_after_shown"]) for r in runs],
            measured="first GL frame with the function (numpy's preview while TensorFlow loads) minus window shown"),
        "tensorflow_import_ms": ms(tf_import),
        "tensorflow_import_all_ms": [ms(t) for t in tf_ms],
        "milestones_median_ms": {
            "interpreter_up": ms(med["script"]),
            "process_age_at_first_line_per_proc_stat_10ms_ticks": ms(med["process_age_at_script"]),
            "gui_imports_done": ms(med["imports_done"]),
            "build_start": ms(med["build_start"]),
            "build_end_compute_process_spawned": ms(med["build_end"]),
            "window_exposed": ms(med["exposed"]),
            "first_window_paint": _ms_or_none(med.get("first_window_paint")),
            "first_gl_paint": ms(med["first_gl_paint"]),
            "compute_process_ready_tensorflow_loaded": _ms_or_none(med.get("compute_ready")),
            "preview_drawn_numpy": _ms_or_none(med.get("preview_drawn")),
            "first_grid_received": ms(med["grid_received"]),
            "first_grid_in_views": ms(med["grid_shown"]),
            "first_surface_painted": ms(med["surface_drawn"]),
        },
    }


# ---------------------------------------------------------------------------------------------- in-process
class Probe:
    """Timestamps of what the window does: grids shown, GL frames painted, contour frames painted."""

    def __init__(self, app):
        from OpenGL import GL

        self.window, self.session = app.window, app.session
        window, session = self.window, self.session
        self.gl_paints, self.contour_paints = 0, 0
        self.gl_painted_at = self.contour_painted_at = 0.0
        self.paint_gl_ms: list[float] = []
        self.grid_received_at = self.grid_shown_at = 0.0
        # First paint of each view after the latest grid reached the views (None until it happens).
        self.gl_after_grid: float | None = None
        self.contour_after_grid: float | None = None
        self.grid_text: str | None = None
        self.grid_n = 0
        self.grid_engine_ms = 0.0
        self.renderer: dict | None = None
        gl, contour = window.surface.gl, window.contour
        paint_gl, paint_contour = gl.paintGL, contour.paintEvent

        def gl_painted():
            t = now()
            paint_gl()
            self.gl_painted_at = now()
            self.paint_gl_ms.append((self.gl_painted_at - t) * 1e3)
            self.gl_paints += 1
            if self.gl_after_grid is None and self.grid_shown_at:
                self.gl_after_grid = self.gl_painted_at
            if self.renderer is None:
                self.renderer = {name: GL.glGetString(getattr(GL, "GL_" + name)).decode()
                                 for name in ("RENDERER", "VERSION", "VENDOR")}

        def contour_painted(event):
            paint_contour(event)
            self.contour_painted_at = now()
            self.contour_paints += 1
            if self.contour_after_grid is None and self.grid_shown_at:
                self.contour_after_grid = self.contour_painted_at

        def grid_received(kind):
            if kind == "grid" and session.grid is not None:
                self.grid_received_at = now()

        def grid_shown(kind):
            grid = session.grid
            if kind != "grid" or grid is None:
                return
            self.grid_shown_at = now()
            self.gl_after_grid = self.contour_after_grid = None
            self.grid_text = session.document.text
            self.grid_n = len(grid["coords"][0])
            self.grid_engine_ms = grid["seconds"] * 1e3

        gl.paintGL = gl_painted
        contour.paintEvent = contour_painted
        session.result_changed.connect(grid_received, priority=1)  # before the views draw it
        session.result_changed.connect(grid_shown, priority=-1)    # after

    def drawn(self, text: str, n: int) -> bool:
        """The grid for ``text`` at ``n`` is in both views and both have been painted since.

        (Stale replies never reach the views: the Session keeps only the reply to the request it wants.)"""
        return (self.grid_text == text and self.grid_n == n
                and self.gl_after_grid is not None and self.contour_after_grid is not None)


class BenchWindow:
    def __init__(self):
        from PyQt6 import QtCore

        from calcviz.gui import build, create_app
        from calcviz.models.settings import DEFAULT_EXPRESSION

        self.QtCore = QtCore
        self.app = create_app()
        self.built = build("auto", persist=False)
        self.window, self.session = self.built.window, self.built.session
        self.window.resize(1400, 900)
        self.probe = Probe(self.built)
        # Wakes the wait loop at least this often (the loop otherwise sleeps in Qt until an event comes).
        self.tick = QtCore.QTimer()
        self.tick.start(20)
        self.built.start(DEFAULT_EXPRESSION)
        self.window.show()
        self.wait(lambda: self.probe.drawn(DEFAULT_EXPRESSION, EDIT_N), 120, "the first grid")
        self.idle()
        gc.freeze()  # as calcviz.gui.run does once the window is up

    def wait(self, condition, timeout: float, what: str) -> None:
        flags = self.QtCore.QEventLoop.ProcessEventsFlag
        end = now() + timeout
        while not condition():
            if self.built.bridge.client.failed is not None:
                raise RuntimeError(f"the compute process could not start: {self.built.bridge.client.failed}")
            if now() > end:
                raise TimeoutError(f"{what} did not arrive within {timeout:g} s")
            self.app.processEvents(flags.AllEvents | flags.WaitForMoreEvents)

    def idle(self) -> None:
        """Until the compute process has nothing queued or under way (the grid's follow-up requests,
        e.g. critical points, included): each timed edit starts from a settled window."""
        self.wait(lambda: self.built.idle, 120, "the end of the pending computations")

    def settle(self, seconds: float = 0.2) -> None:
        end = now() + seconds
        self.wait(lambda: now() > end, seconds + 5, "settling")

    def edit(self, text: str) -> dict:
        p = self.probe
        self.idle()
        t0 = now()
        self.built.session.set_text(text)
        t1 = now()
        self.wait(lambda: p.drawn(text, self.built.session.document.n), 60, f"the grid of {text!r}")
        return {"total": (max(p.gl_after_grid, p.contour_after_grid) - t0) * 1e3,
                "set_text": (t1 - t0) * 1e3,
                "until_reply_handled": (p.grid_received_at - t0) * 1e3,
                "engine_grid_call": p.grid_engine_ms,
                "show_grid": (p.grid_shown_at - p.grid_received_at) * 1e3,
                "until_gl_painted_after_show_grid": (p.gl_after_grid - p.grid_shown_at) * 1e3,
                "until_contour_painted_after_show_grid": (p.contour_after_grid - p.grid_shown_at) * 1e3}

    def set_n(self, n: int) -> None:
        self.idle()
        doc = self.built.session.document
        self.built.session.set_box(n=n)
        self.wait(lambda: self.probe.drawn(doc.text, n), 120, f"the N={n} grid")
        self.idle()

    def close(self) -> None:
        from calcviz.gui import dispose

        self.tick.stop()
        dispose(self.built)


def bench_edit(s: BenchWindow, quick: bool) -> dict:
    warmup, count = (3, 8) if quick else (5, 20)
    for text in _texts(warmup, 100):
        s.edit(text)
    runs = [s.edit(text) for text in _texts(count, 1000)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    totals = [r["total"] for r in runs]
    _say(f"edit: median {med['total']:.1f} ms (reply handled at {med['until_reply_handled']:.1f} ms)")
    return {
        "what": "Controller.set_text(new formula) -> the views hold its grid and both have repainted since; "
                "every formula new to the engine (parse + trace + grid in the compute process)",
        "n": EDIT_N, "edits": count, "warmup_edits": warmup,
        "edit_to_both_views_redrawn_ms": target(med["total"], TARGET_EDIT_MS, "ms", min_ms=ms(min(totals)),
                                                max_ms=ms(max(totals))),
        "breakdown_median_ms": {k: ms(v) for k, v in med.items() if k != "total"},
    }


def bench_first_step(s: BenchWindow, quick: bool) -> dict:
    """A start is set and every optimizer ticked; a new formula is typed and Step pressed at once: how long
    until the first step is answered (the race's first step in the Session, shown) and drawn on the map."""
    from calcviz.models.descent import OPTIMIZERS

    count = 8 if quick else 20
    session, d, p = s.session, s.built.descent, s.probe
    d.set_running(False)
    session.set_descent_setup({"optimizers": list(OPTIMIZERS), "lr": 0.001, "max_steps": 1000, "steps_per_click": 1})
    session.set_starts([{"x": 0.7, "y": -0.4}])
    s.idle()
    answered: list[float | None] = [None]

    def race_shown(kind):
        race = session.race
        if kind == "race" and race is not None and race.shown >= 1 and answered[0] is None:
            answered[0] = now()
    session.result_changed.connect(race_shown, priority=-1)  # after the controllers drew it
    runs = []
    try:
        for text in _texts(count, 20_000):
            s.idle()
            answered[0] = None
            t0 = now()
            session.set_text(text)
            d.step()  # what the Step button does
            s.wait(lambda: answered[0] is not None, 60, f"the first step on {text!r}")
            s.wait(lambda: p.contour_painted_at > answered[0], 10, "the map's repaint")
            grid_at = p.grid_received_at if p.grid_text == text else None
            runs.append({"answered": (answered[0] - t0) * 1e3, "drawn": (p.contour_painted_at - t0) * 1e3,
                         "grid_handled": None if grid_at is None else (grid_at - t0) * 1e3,
                         "partial": bool(session.race.partial)})
            s.idle()  # the rest of the race, and the critical points
    finally:
        session.result_changed.disconnect(race_shown)
        session.set_starts([])  # the sections after this one edit formulas without a race
        s.idle()
    answered_ms = [r["answered"] for r in runs]
    drawn_ms = [r["drawn"] for r in runs]
    p95 = float(np.percentile(answered_ms, 95))
    _say(f"first step: median {statistics.median(answered_ms):.1f} ms, p95 {p95:.1f} ms")
    return {
        "what": f"{len(OPTIMIZERS)} optimizers (Newton too) from one start; Session.set_text(new formula) then "
                "DescentController.step() at once -> the race's first step is in the Session and on screen "
                "(answered), and the map has repainted (drawn); every formula new to the engine",
        "trials": count,
        "first_step_answered_ms": target(p95, TARGET_FIRST_STEP_MS, "ms", measured="95th percentile",
                                         median_ms=ms(statistics.median(answered_ms)), max_ms=ms(max(answered_ms)),
                                         all_ms=[ms(t) for t in answered_ms]),
        "first_step_drawn_ms": {"median_ms": ms(statistics.median(drawn_ms)),
                                "p95_ms": ms(float(np.percentile(drawn_ms, 95)))},
        "answered_by_first_steps": sum(r["partial"] for r in runs),
        "grid_handled_median_ms": _ms_or_none(statistics.median([r["grid_handled"] for r in runs
                                                                 if r["grid_handled"] is not None] or [0.0])),
    }


def bench_memory(s: BenchWindow, quick: bool) -> dict:
    count = 60 if quick else 300
    gui_pid, compute_pid = os.getpid(), s.built.bridge.client._process.pid
    gc.collect()
    start = {"gui": _status_mb(gui_pid, "VmRSS"), "compute": _status_mb(compute_pid, "VmRSS")}
    samples = {"gui": [], "compute": []}
    t0 = now()
    for k, text in enumerate(_texts(count, 10_000), 1):
        s.edit(text)
        if k % 10 == 0 or k == count:
            samples["gui"].append(_status_mb(gui_pid, "VmRSS"))
            samples["compute"].append(_status_mb(compute_pid, "VmRSS"))
    seconds = now() - t0
    gc.collect()
    end = {"gui": _status_mb(gui_pid, "VmRSS"), "compute": _status_mb(compute_pid, "VmRSS")}
    if s.built.bridge.client._process.pid != compute_pid:
        raise RuntimeError("the compute process was restarted during the memory run")
    _say(f"memory: GUI {start['gui']:.0f} -> {end['gui']:.0f} MB, compute {start['compute']:.0f} -> "
         f"{end['compute']:.0f} MB over {count} edits")
    out = {"what": f"VmRSS over {count} edits of distinct formulas at N={EDIT_N}, each drawn before the next "
                   "(GUI side gc.collect() at both ends; the compute process is measured as it is)",
           "edits": count, "seconds_per_edit_ms": ms(seconds * 1e3 / count)}
    for side in ("gui", "compute"):
        out[side] = {
            "rss_start_mb": round(start[side], 1), "rss_end_mb": round(end[side], 1),
            "growth_mb": target(end[side] - start[side], TARGET_RSS_GROWTH_MB, "MB"),
            "rss_mb_every_10_edits_min_max": [round(min(samples[side]), 1), round(max(samples[side]), 1)],
        }
    return out


def bench_busy_indicator(s: BenchWindow, seconds: float) -> dict:
    """CPU the GUI process spends while idle, without and with the status bar's busy indicator shown
    (it is shown whenever a computation is under way, e.g. during the whole TensorFlow import at launch)."""
    out = {}
    s.idle()
    for busy in (False, True):
        s.window.set_busy(busy)
        s.settle(0.2)
        c0, t0 = time.process_time(), now()
        s.settle(seconds)
        out["gui_cpu_percent_busy_indicator_shown" if busy else "gui_cpu_percent_idle"] = round(
            100 * (time.process_time() - c0) / (now() - t0), 1)
    s.window.set_busy(s.built.bridge.busy)
    _say(f"idle GUI CPU: {out['gui_cpu_percent_idle']}%, with the busy indicator: "
         f"{out['gui_cpu_percent_busy_indicator_shown']}%")
    return {"what": "CPU time / wall time of the GUI process (all its threads, llvmpipe's included), nothing "
                    "computing, over " + f"{seconds:g} s each", **out}


def bench_fps(s: BenchWindow, n: int, seconds: float) -> dict:
    p, gl = s.probe, s.window.surface.gl
    s.set_n(n)
    s.settle(0.3)

    def frames(duration: float) -> tuple[int, float, list[float]]:
        count0, t0 = p.gl_paints, now()
        frame_ms = []
        while now() - t0 < duration:
            before, tf = p.gl_paints, now()
            gl.orbit(2, 0)  # calls gl.update(): the frame goes through Qt's normal repaint and flush
            s.wait(lambda: p.gl_paints > before, 10, "a frame")
            frame_ms.append((now() - tf) * 1e3)
        return p.gl_paints - count0, now() - t0, frame_ms

    frames(0.3)  # warm-up
    paint0 = len(p.paint_gl_ms)
    count, elapsed, frame_ms = frames(seconds)
    paint_ms = p.paint_gl_ms[paint0:]
    fps = count / elapsed
    _say(f"fps N={n}: {fps:.1f} (paintGL {statistics.median(paint_ms):.1f} ms of {statistics.median(frame_ms):.1f} ms)")
    s.window.surface.reset_view()
    return {
        "n": n, "triangles": 2 * (n - 1) ** 2,
        "fps": target(fps, TARGET_FPS[n], "fps", at_most=False),
        "frames": count, "seconds": round(elapsed, 2),
        "frame_ms_median": ms(statistics.median(frame_ms)),
        "paint_gl_ms_median": ms(statistics.median(paint_ms)),
    }


class StallMeter:
    """Ticks of a 1 ms precise QTimer: a gap between two ticks is time the event loop could not run."""

    def __init__(self, QtCore):
        self.ticks: list[float] = []
        self.timer = QtCore.QTimer()
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(lambda: self.ticks.append(now()))

    def start(self) -> None:
        self.ticks = [now()]
        self.timer.start(1)

    def stop(self) -> list[float]:
        """The gaps (ms) from start() to now, the last partial one included."""
        self.timer.stop()
        ticks = self.ticks + [now()]
        return [(b - a) * 1e3 for a, b in zip(ticks, ticks[1:])]


def _gap_figures(gaps: list[float]) -> dict:
    ordered = sorted(gaps)
    return {"longest_ms": ms(ordered[-1]), "p99_ms": ms(ordered[int(0.99 * (len(ordered) - 1))]),
            "gaps_over_50_ms": sum(g > TARGET_STALL_MS for g in gaps), "ticks": len(gaps)}


def bench_race(s: BenchWindow, quick: bool) -> dict:
    """Every optimizer racing down Rosenbrock, animated by the Run button's timer: what it costs the event loop."""
    from calcviz.models.descent import OPTIMIZERS

    seconds = 1.5 if quick else 3.0
    session, d = s.session, s.built.descent
    d.set_running(False)
    if session.document.text != RACE_TEXT:
        s.edit(RACE_TEXT)
    s.idle()
    session.set_box(RACE_BOX["x"], RACE_BOX["y"], EDIT_N)
    s.wait(lambda: s.probe.drawn(RACE_TEXT, EDIT_N), 120, "the Rosenbrock grid")
    session.set_descent_setup({"optimizers": list(OPTIMIZERS), **RACE_SETUP})
    session.set_starts([dict(RACE_START)])  # asks the compute process for every run (a new start: from step 0)
    s.wait(lambda: session.race is not None and not d.pending, 120, "the race")
    race = session.race
    if [r["optimizer"] for r in race.runs] != list(OPTIMIZERS):
        raise RuntimeError(f"the race has {[r['optimizer'] for r in race.runs]}, not every optimizer")
    s.idle()
    s.settle(0.3)

    meter = StallMeter(s.QtCore)
    meter.start()  # the same wait with nothing animating: what the machine's load alone costs
    s.settle(min(seconds, 1.0))
    idle_gaps = meter.stop()

    frames, redraw_ms, redraw = [0], [], d.redraw

    def count_frame():
        frames[0] += 1

    def timed_redraw(*args, **kwargs):
        t = now()
        redraw(*args, **kwargs)
        redraw_ms.append((now() - t) * 1e3)

    interval, steps_per_tick = d._interval()
    d.timer.timeout.connect(count_frame)
    d.redraw = timed_redraw  # DescentController._tick calls self.redraw()
    p = s.probe
    gl0, contour0, shown0, paint0 = p.gl_paints, p.contour_paints, race.shown, len(p.paint_gl_ms)
    try:
        meter.start()
        t0 = now()
        d.set_running(True)  # what the Run button does
        s.wait(lambda: now() - t0 >= seconds or not d.timer.isActive(), seconds + 30, "the race's animation")
        elapsed = now() - t0
        gaps = meter.stop()
        steps = race.shown - shown0
        gl_paints, contour_paints = p.gl_paints - gl0, p.contour_paints - contour0
        paint_gl_ms = p.paint_gl_ms[paint0:]
    finally:
        d.set_running(False)
        meter.stop()
        d.timer.timeout.disconnect(count_frame)
        del d.redraw  # the class's method again
    if session.race is not race:
        raise RuntimeError("a new race arrived while the animation was measured")
    stall = _gap_figures(gaps)
    _say(f"race: longest stall {stall['longest_ms']:.1f} ms ({_gap_figures(idle_gaps)['longest_ms']:.1f} ms "
         f"idle), {frames[0]} frames, {steps} steps in {elapsed:.2f} s, redraw {statistics.median(redraw_ms):.1f} ms")
    return {
        "what": f"{RACE_TEXT} on x {list(RACE_BOX['x'])}, y {list(RACE_BOX['y'])}, N={EDIT_N}: all "
                f"{len(OPTIMIZERS)} optimizers from ({RACE_START['x']:g}, {RACE_START['y']:g}), lr "
                f"{RACE_SETUP['lr']:g}, max {RACE_SETUP['max_steps']} steps, Run at {RACE_SETUP['speed']} steps/s "
                f"for {seconds:g} s; stall = largest gap between ticks of a 1 ms precise QTimer",
        "longest_stall_ms": target(stall["longest_ms"], TARGET_STALL_MS, "ms"),
        "frames": frames[0],
        "steps_shown": steps,
        "redraw_ms_median": ms(statistics.median(redraw_ms)),
        "redraw_ms_max": ms(max(redraw_ms)),
        "seconds": round(elapsed, 3),
        "timer_interval_ms": interval, "steps_per_frame": steps_per_tick,
        "frames_nominal": int(elapsed * 1000 / interval),
        "race_length_steps": race.length,
        "gl_frames_painted": gl_paints, "contour_frames_painted": contour_paints,
        "paint_gl_ms_median": ms(statistics.median(paint_gl_ms)) if paint_gl_ms else None,
        "stall_gaps": {k: v for k, v in stall.items() if k != "longest_ms"},
        "idle_before_run_gaps": _gap_figures(idle_gaps),
    }


def run(quick: bool = False) -> dict:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise RuntimeError("the gui section needs a display: run it under xvfb-run (./dev.sh bench)")
    load_start = os.getloadavg()[0]
    _say("launch ...")
    result: dict = {"launch": bench_launch(quick)}
    _say("window ...")
    s = BenchWindow()
    try:
        gl = s.window.surface.gl
        _say("edit ...")
        result["edit"] = bench_edit(s, quick)
        _say("first step ...")
        result["first_step"] = bench_first_step(s, quick)
        result["idle"] = bench_busy_indicator(s, 1.0)
        _say("memory ...")
        result["memory"] = bench_memory(s, quick)
        _say("fps ...")
        fps = {str(n): bench_fps(s, n, 1.0 if quick else 2.0) for n in (200, 400)}
        compute_pid = s.built.bridge.client._process.pid
        result["memory"]["gui"]["peak_rss_mb"] = round(_status_mb(os.getpid(), "VmHWM"), 1)
        result["memory"]["compute"]["peak_rss_mb"] = round(_status_mb(compute_pid, "VmHWM"), 1)
        _say("race ...")
        result["race"] = bench_race(s, quick)
        ratio = gl.devicePixelRatioF()
        result["fps"] = {
            "what": "the 3D view orbiting 2 degrees a frame (GLViewWidget.orbit -> update), each frame painted "
                    "(paintGL counted) and flushed by Qt before the next; frames / seconds",
            "gl_renderer": (s.probe.renderer or {}).get("RENDERER"),
            "gl_version": (s.probe.renderer or {}).get("VERSION"),
            "gl_view_pixels": [round(gl.width() * ratio), round(gl.height() * ratio)],
            "per_n": fps,
        }
        result["machine"] = {"gl_renderer": result["fps"]["gl_renderer"]}
        result["load_average_1min"] = {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)}
        if "tensorflow" in sys.modules:
            raise RuntimeError("TensorFlow was imported in the GUI process")
    finally:
        s.close()
    return result


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
