"""calcviz's entry point: headless subcommands, or the window."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

DEFAULT_EXPRESSION = "x*exp(-x^2 - y^2)"

NO_DISPLAY = """calcviz: no display found (DISPLAY and WAYLAND_DISPLAY are not set).
The window needs a screen. On a machine without one, run it on a virtual screen:
    xvfb-run -a -s "-screen 0 1280x1024x24" .venv/bin/calcviz
Headless commands work anywhere, e.g.:  .venv/bin/calcviz eval "x^2+y^2" --at x=1 y=2"""


def has_display() -> bool:
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) or platform.startswith("offscreen")


def gui_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="calcviz", description="See and explore multivariable calculus.",
                                     epilog="Headless commands: calcviz eval --help; images: calcviz export --help")
    parser.add_argument("session", nargs="?", help="a session file (.json) to open")
    parser.add_argument("--expr", help="start on this formula")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                        help="where TensorFlow computes (default: a GPU when there is one)")
    return parser.parse_args(argv)


def _printing(command, argv: Sequence[str]) -> int:
    """Run a command that prints; a reader that leaves early (``calcviz critical ... | head -1``)
    ends it quietly, with status 1, instead of with a BrokenPipeError traceback."""
    try:
        code = command(argv)
        sys.stdout.flush()  # a closed pipe shows here at the latest
    except BrokenPipeError:
        # Python flushes stdout again at exit and would fail again: point it at /dev/null first
        # (the recipe of Python's signal module documentation, "Note on SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return code


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "export":  # draws with the window's views: a Qt process, TensorFlow never loaded
        from . import headless

        sys.exit(_printing(headless.main, argv[1:]))
    from . import cli

    if argv and argv[0] in cli.COMMANDS:
        sys.exit(_printing(cli.main, argv))
    args = gui_arguments(argv)
    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        sys.exit(1)
    from .gui import run

    sys.exit(run(args))
