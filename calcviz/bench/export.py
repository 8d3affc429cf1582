"""The export section: the surface + contour figure written as a 1600x1000 PNG, against matplotlib.

Figures (ms, medians; under Xvfb):
- calcviz:    calcviz.exporting.export_view(window, "figure", path, (1600, 1000)) on the real window
              (never shown on screen is not needed here: it is shown, like the app) holding an N = 200 grid
              of x*exp(-x^2-y^2), the engine warm: the 3D view rendered offscreen, the contour map drawn
              by pyqtgraph's ImageExporter, both composed under the title, PNG encoded and written
              atomically. Also each part on its own.
- matplotlib: the same 200x200 grid drawn the way the D2L book draws surfaces (Agg backend): a
              full-resolution plot_surface (rstride = cstride = 1) and a filled contour (contourf, with
              iso-lines and a colour bar, as calcviz shows) side by side on a 16x10 inch figure at
              100 dpi (1600x1000 pixels), savefig to PNG. The grid's values are computed before timing.
- target:     calcviz at least 2x faster (matplotlib ms / calcviz ms >= 2).

matplotlib runs in this process too (it never imports TensorFlow); the window computes in its spawned
compute process, like the app.
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import ms, sayer, target

SEED = "x*exp(-x^2 - y^2)"
N = 200
SIZE = (1600, 1000)
TARGET_RATIO = 2.0


_say = sayer("export")


def _png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG header (IHDR), to check both sides wrote what they claim."""
    head = path.read_bytes()[:24]
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise RuntimeError(f"{path} is not a PNG")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e3


class Window:
    """The real window on the seed function, its N = 200 grid drawn and nothing left computing."""

    def __init__(self):
        from PyQt6 import QtCore

        from calcviz.gui import build, create_app

        self.QtCore = QtCore
        self.app = create_app()
        self.built = build("auto")
        self.window, self.session = self.built.window, self.built.session
        self.window.resize(1400, 900)
        self.tick = QtCore.QTimer()
        self.tick.start(20)
        self.built.start(SEED)
        self.window.show()
        self.wait(lambda: self.session.grid is not None and self.built.idle, 120)
        if len(self.session.grid["coords"][0]) != N:
            raise RuntimeError(f"the window's grid is not {N} points per side")
        end = time.monotonic() + 0.3  # let the first paints happen
        self.wait(lambda: time.monotonic() > end, 5)

    def wait(self, done, timeout: float) -> None:
        flags = self.QtCore.QEventLoop.ProcessEventsFlag
        end = time.monotonic() + timeout
        while not done():
            failed = self.built.bridge.client.failed
            if failed is not None:
                raise RuntimeError(f"the compute process could not start: {failed}")
            if time.monotonic() > end:
                raise TimeoutError(f"the window's results did not arrive within {timeout:g} s")
            self.app.processEvents(flags.AllEvents | flags.WaitForMoreEvents, 50)

    def close(self) -> None:
        from calcviz.gui import dispose

        self.tick.stop()
        dispose(self.built)


def bench_calcviz(w: Window, folder: Path, repeats: int) -> dict:
    from calcviz import exporting

    window = w.window
    path = folder / "calcviz.png"
    exporting.export_view(window, "figure", path, SIZE)  # warm-up: first offscreen FBO, fonts
    totals = [_timed(lambda: exporting.export_view(window, "figure", path, SIZE)) for _ in range(repeats)]
    if _png_size(path) != SIZE:
        raise RuntimeError(f"calcviz wrote {_png_size(path)}, not {SIZE}")
    half = (SIZE[0] // 2, SIZE[1] - max(24, round(SIZE[1] * 0.06)))  # one pane of the figure (no runs)
    parts = {
        "surface_offscreen_render": [_timed(lambda: exporting.render_view(window, "surface", half))
                                     for _ in range(repeats)],
        "contour_image_exporter": [_timed(lambda: exporting.render_view(window, "contour", half))
                                   for _ in range(repeats)],
        "figure_composed_not_saved": [_timed(lambda: exporting.render_figure(window, SIZE))
                                      for _ in range(repeats)],
    }
    total = statistics.median(totals)
    _say(f"calcviz figure: {total:.0f} ms")
    return {"median_ms": ms(total), "all_ms": [ms(t) for t in totals], "bytes": path.stat().st_size,
            "parts_median_ms": {k: ms(statistics.median(v)) for k, v in parts.items()}}


def bench_matplotlib(grid: dict, folder: Path, repeats: int) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    xs, ys = (np.asarray(c, float) for c in grid["coords"])
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    Z = np.asarray(grid["value"], float)
    path = folder / "matplotlib.png"

    def draw() -> None:
        fig = Figure(figsize=(SIZE[0] / 100, SIZE[1] / 100), dpi=100)
        FigureCanvasAgg(fig)
        fig.suptitle("f = x * exp(-x^2 - y^2)")
        ax = fig.add_subplot(1, 2, 1, projection="3d")
        ax.plot_surface(X, Y, Z, rstride=1, cstride=1, cmap="viridis", linewidth=0, antialiased=False)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        ax.set_zlabel("f")
        ax2 = fig.add_subplot(1, 2, 2)
        filled = ax2.contourf(X, Y, Z, levels=50, cmap="viridis")
        ax2.contour(X, Y, Z, levels=10, colors="k", linewidths=0.6)
        fig.colorbar(filled, ax=ax2)
        ax2.set_xlabel("x")
        ax2.set_ylabel("y")
        fig.savefig(path, dpi=100)

    draw()  # warm-up: imports, font cache
    times = [_timed(draw) for _ in range(repeats)]
    if _png_size(path) != SIZE:
        raise RuntimeError(f"matplotlib wrote {_png_size(path)}, not {SIZE}")
    total = statistics.median(times)
    _say(f"matplotlib figure: {total:.0f} ms")
    return {"median_ms": ms(total), "all_ms": [ms(t) for t in times], "bytes": path.stat().st_size,
            "version": matplotlib.__version__}


def run(quick: bool = False) -> dict:
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise RuntimeError("the export section needs a display: run it under xvfb-run (./dev.sh bench)")
    repeats = 3 if quick else 7
    load_start = os.getloadavg()[0]
    w = Window()
    try:
        with tempfile.TemporaryDirectory(prefix="calcviz-bench-export-") as tmp:
            folder = Path(tmp)
            ours = bench_calcviz(w, folder, repeats)
            theirs = bench_matplotlib(w.session.grid, folder, max(1, repeats // 2))
        if "tensorflow" in sys.modules:
            raise RuntimeError("TensorFlow was imported in the GUI process")
    finally:
        w.close()
    ratio = theirs["median_ms"] / ours["median_ms"]
    _say(f"matplotlib / calcviz = {ratio:.1f}x")
    return {
        "what": f"surface + contour figure of {SEED} on a {N}x{N} grid written as a {SIZE[0]}x{SIZE[1]} PNG: "
                "calcviz.exporting.export_view(window, 'figure') against matplotlib (Agg) plot_surface "
                "(rstride=cstride=1) + contourf side by side, savefig; ms, medians",
        "n": N, "size": list(SIZE),
        "calcviz": ours,
        "matplotlib": theirs,
        "speedup": target(ratio, TARGET_RATIO, "x", at_most=False, measured="matplotlib ms / calcviz ms"),
        "load_average_1min": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
