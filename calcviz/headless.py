"""``calcviz export``: draw a view of a formula to a file without showing a window.

It runs the real window (never shown on screen) in a Qt process without TensorFlow, like the app:
the compute process does the math, the views draw, calcviz.exporting writes the file. The 3D view
needs an OpenGL context, so a display is needed (xvfb-run on a machine without one).

Exit status: 0 written; 2 a bad argument, formula or output path (the message says which);
1 no display, or the computation could not run.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

from .cli import UsageError, assignments, check_params, parse_arguments
from .gui import has_display
from .models.expression import ParseError, parse

VIEWS = ("surface", "contour", "curve", "loss", "figure", "gif", "chain")
DEFAULT_SIZES = {"surface": (1600, 1000), "figure": (1600, 1000), "contour": (1000, 800), "curve": (1000, 700),
                 "loss": (1200, 600), "gif": (800, 640), "chain": (1600, 1000)}
TIMEOUT_S = 180.0      # for the compute process (TensorFlow's import included) and each result
NEEDS_DISPLAY = "calcviz export needs a display for the 3D view: run it under xvfb-run"
EXAMPLE = 'e.g.  xvfb-run -a calcviz export "x*exp(-x^2-y^2)" --view figure --out figure.png'


class Failure(Exception):
    """The computation did not deliver (exit status 1)."""


def _pair(text: str, what: str, sep: str, kind=float) -> tuple:
    parts = text.lower().split(sep)
    try:
        if len(parts) != 2:
            raise ValueError
        a, b = kind(parts[0]), kind(parts[1])
    except ValueError:
        example = "1600x1000" if sep == "x" else "-2,2"
        raise UsageError(f"{what} takes two numbers like {example} (got {text!r})") from None
    return a, b


def _range(text: str | None, what: str) -> tuple[float, float] | None:
    if text is None:
        return None
    lo, hi = _pair(text, what, ",")
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise UsageError(f"{what} needs finite numbers, low < high (got {text!r})")
    return lo, hi


def build_parser() -> argparse.ArgumentParser:
    from .exporting import MAX_GIF_FRAMES

    p = argparse.ArgumentParser(
        prog="calcviz export", description="Draw a view of a formula to an image file (no window is shown).",
        epilog=EXAMPLE)
    p.add_argument("expr", metavar="EXPR", help="a formula, or definitions separated by ';' (or a session .json)")
    p.add_argument("--view", choices=VIEWS, required=True,
                   help="what to draw: the 3D surface, the contour map, the curve (one variable), the loss "
                        "curves, the figure (surface + contour + loss), an animated GIF of the descent or the "
                        "chain-rule graph (of a chain of definitions; of the primitive operations otherwise)")
    p.add_argument("--out", required=True, metavar="FILE", help="the file to write (.png; .svg for contour, "
                                                                "curve, loss and chain; .gif for gif)")
    p.add_argument("--size", metavar="WxH", help="image size in pixels (default: "
                   + ", ".join(f"{v} {w}x{h}" for v, (w, h) in DEFAULT_SIZES.items()) + ")")
    p.add_argument("--x", metavar="LO,HI", help="range of the first axis (default -2,2)")
    p.add_argument("--y", metavar="LO,HI", help="range of the second axis (default -2,2)")
    p.add_argument("--n", type=int, metavar="N", help="grid points per side (default 200)")
    p.add_argument("--param", nargs="+", metavar="NAME=VALUE", help="values of the formula's parameters")
    p.add_argument("--descent", metavar="NAME[,NAME...]",
                   help="race these optimizers (gd, momentum, nesterov, adagrad, rmsprop, adam, newton) "
                        "from --from; every step is shown")
    p.add_argument("--from", dest="start", nargs="+", metavar="NAME=VALUE", help="the descent's start point")
    p.add_argument("--lr", type=float, default=0.01, help="descent: learning rate (default 0.01)")
    p.add_argument("--steps", type=int, default=200, help="descent: at most this many steps (default 200)")
    p.add_argument("--every", type=int, metavar="K",
                   help=f"gif: one frame every K steps (default: at most {MAX_GIF_FRAMES} frames)")
    p.add_argument("--critical", action="store_true", help="find and mark the critical points")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    return p


def _joined(argv: Sequence[str]) -> list[str]:
    """'--x -2,2' -> '--x=-2,2': argparse reads a value starting with '-' as an option otherwise."""
    out, args = [], list(argv)
    while args:
        a = args.pop(0)
        if a in ("--x", "--y") and args and args[0].startswith("-") and len(args[0]) > 1 and args[0][1] in ".0123456789":
            a = f"{a}={args.pop(0)}"
        out.append(a)
    return out


def _check(args) -> dict:
    """Everything that can be checked before the window starts, as the settings of the run."""
    from . import exporting
    from .models import descent
    from .models.storage import MAX_GRID
    from .models.race import WINDOW_MAX_STEPS

    out = Path(args.out)
    formats = exporting.GIF_FORMATS if args.view == "gif" else exporting.VIEW_FORMATS[args.view]
    exporting.check_path(out, formats, exporting.VIEW_NAMES[args.view])
    size = _pair(args.size, "--size", "x", int) if args.size else DEFAULT_SIZES[args.view]
    if not all(0 < s <= exporting.MAX_SIDE for s in size):
        raise UsageError(f"--size must be 1 to {exporting.MAX_SIDE} pixels per side (got {args.size})")
    if args.n is not None and not 2 <= args.n <= MAX_GRID:
        raise UsageError(f"--n must be from 2 to {MAX_GRID} (got {args.n})")
    session = args.expr.lower().endswith(".json")
    if session and (args.x or args.y or args.n or args.param):
        raise UsageError("a session file opens as saved: --x, --y, --n and --param apply to a formula only")
    settings = {"out": out, "size": size, "session": _session(Path(args.expr)) if session else None,
                "x": _range(args.x, "--x") or (-2.0, 2.0), "y": _range(args.y, "--y") or (-2.0, 2.0),
                "params": assignments(args.param, "--param"), "optimizers": None, "start": None}
    if not session:
        expression = parse(args.expr)  # a ParseError is reported with its caret
        if not expression.inputs:
            raise UsageError("the formula has no variables: there is nothing to draw")
        axes = expression.axes
        check_params(expression, settings["params"])
        for name in settings["params"]:
            if name in axes:
                raise UsageError(f"--param {name}: {name} is an axis of the plot, not a parameter "
                                 f"(its range is --{name})")
    if args.view in ("loss", "gif") and not args.descent:
        raise UsageError(f"--view {args.view} shows a descent race: give --descent and --from")
    if args.descent:
        try:
            settings["optimizers"] = list(descent.check_optimizers(args.descent))
        except descent.DescentError as exc:
            raise UsageError(f"--descent: {exc}") from None
        start = assignments(args.start, "--from")
        if not start:
            raise UsageError("--descent needs a start point: --from x=-1.5 y=2")
        if not session and set(start) != set(axes):
            raise UsageError(f"--from must give {' and '.join(axes)} (got {', '.join(start)})")
        if not (math.isfinite(args.lr) and args.lr > 0):
            raise UsageError(f"--lr must be a positive number (got {args.lr:g})")
        if not 1 <= args.steps <= WINDOW_MAX_STEPS:  # (the window would cut a longer race short)
            raise UsageError(f"--steps must be from 1 to {WINDOW_MAX_STEPS:,}, the window's limit (got "
                             f"{args.steps:,}); calcviz descend --csv runs up to {descent.MAX_STEPS:,} steps")
        settings["start"] = start
    elif args.start:
        raise UsageError("--from is the start of a descent: give --descent too (e.g. --descent gd)")
    if args.every is not None and args.every < 1:
        raise UsageError(f"--every must be at least 1 (got {args.every})")
    if args.view == "gif":  # the most frames the race can make: it has at most --steps steps
        every = args.every
        frames = exporting.MAX_GIF_FRAMES if every is None else len(exporting.race_steps(args.steps, every))
        exporting.check_gif_size(frames, size)
    exporting.check_folder(out)
    return settings


def _session(path: Path):
    """The session file, checked before the window starts (a FIFO or a broken file is refused at once,
    with the window never shown)."""
    from .models import storage

    try:
        return storage.load_session(path)
    except storage.SessionError as exc:
        raise UsageError(str(exc)) from None


class Run:
    """The window, never shown on screen, and the event loop until a result is in."""

    def __init__(self, device: str):
        from PyQt6 import QtCore

        from .gui import build, create_app

        self.QtCore = QtCore
        self.qt = create_app()
        self.app = build(device, persist=False)
        self.window, self.session = self.app.window, self.app.session
        # Mapped nowhere, yet "shown": the GL view gets its context and every view its size.
        self.window.setAttribute(QtCore.Qt.WidgetAttribute.WA_DontShowOnScreen)
        self.window.resize(1400, 900)
        self.tick = QtCore.QTimer()
        self.tick.start(50)  # wakes the wait loop even when nothing arrives

    def wait(self, done: Callable[[], bool], what: str) -> None:
        flags = self.QtCore.QEventLoop.ProcessEventsFlag
        end = time.monotonic() + TIMEOUT_S
        while not done():
            failed = self.app.bridge.client.failed
            if failed is not None:
                raise Failure(f"the compute process could not start: {failed}")
            if time.monotonic() > end:
                raise Failure(f"{what} did not arrive within {TIMEOUT_S:g} s")
            self.qt.processEvents(flags.AllEvents | flags.WaitForMoreEvents, 100)

    def settle(self, what: str) -> None:
        """Until the compute process has nothing queued or under way."""
        self.wait(lambda: not self.app.bridge.busy and not self.session.wanted(), what)

    def close(self) -> None:
        from .gui import dispose

        self.tick.stop()
        dispose(self.app)


def _status(run: Run) -> str:
    message = run.session.status
    return message.text if message is not None else "the computation failed"


def _draw(run: Run, args, settings: dict) -> str:
    """Set the window up as asked, wait for its results, export. Returns what was written."""
    from . import exporting

    app, window, session = run.app, run.window, run.session
    if settings["session"] is not None:
        app.session.restore(settings["session"])
    else:
        app.start(args.expr, x_range=settings["x"], y_range=settings["y"], params=settings["params"])
        if args.n is not None and args.n != session.document.n:
            session.set_box(n=args.n)
    session.set_toggle("critical_markers", args.critical)  # markers only when asked for
    window.show()
    doc = session.document
    run.settle("the grid")
    grid = session.grid
    if grid is None or grid["axes"] != list(doc.axes) or len(grid["coords"][0]) != doc.n:
        raise UsageError(_status(run))
    if args.critical and session.critical is None:
        print(f"calcviz export: warning: critical points: {session.error('critical') or 'not found in time'}",
              file=sys.stderr)
    if settings["optimizers"]:
        session.set_descent_setup({"optimizers": settings["optimizers"], "lr": args.lr, "max_steps": args.steps,
                                   "start_mode": "shared"})
        session.set_starts([settings["start"]])
        run.settle("the descent")
        if session.race is None:
            raise UsageError(f"descent: {session.error('race') or _status(run)}")
        session.race.advance(session.race.length)
        app.descent.redraw()
    if args.view == "chain":
        if len(session.expression.definitions) < 2:  # one formula: its graph of primitive operations
            session.set_expand(True)
        window.show_dock("chain")  # the graph is computed while its view is on screen
        run.wait(lambda: session.chain is not None or session.error("chain") is not None, "the chain-rule graph")
        run.settle("the chain-rule graph")
        if not window.chain.has_graph():
            raise UsageError(f"chain: {session.error('chain') or window.chain.message_label.text()}")
    size, out = settings["size"], settings["out"]
    if args.view == "gif":
        length = session.race.length
        every = args.every or exporting.default_every(length)
        frames = exporting.export_race_gif(window, app.descent, out, every=every, size=size)
        return f"{out} ({frames} frames, {size[0]}x{size[1]})"
    exporting.export_view(window, args.view, out, size)
    return f"{out} ({size[0]}x{size[1]})" if out.suffix.lower() != ".svg" else str(out)


def main(argv: Sequence[str] | None = None) -> int:
    from .models.storage import StorageError

    argv = list(sys.argv[2:] if argv is None else argv)
    args = parse_arguments(build_parser(), _joined(argv))  # exits 2 with argparse's message on bad options
    try:
        settings = _check(args)
    except ParseError as exc:
        print(f"calcviz export: error: {exc}\n{exc.caret()}", file=sys.stderr)
        return 2
    except (UsageError, StorageError) as exc:
        print(f"calcviz export: error: {exc}", file=sys.stderr)
        return 2
    if not has_display():
        print(f"{NEEDS_DISPLAY}\n{EXAMPLE}", file=sys.stderr)
        return 1
    run = Run(args.device)
    try:
        written = _draw(run, args, settings)
    except (UsageError, StorageError) as exc:
        print(f"calcviz export: error: {exc}", file=sys.stderr)
        return 2
    except Failure as exc:
        print(f"calcviz export: {exc}", file=sys.stderr)
        return 1
    finally:
        run.close()
    print(f"calcviz export: wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
