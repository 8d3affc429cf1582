"""calcviz's entry point: headless subcommands, or the window."""
from __future__ import annotations

import argparse
import importlib.metadata
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


def version() -> str:
    try:
        return importlib.metadata.version("calcviz")
    except importlib.metadata.PackageNotFoundError:  # a source checkout that was never installed
        return "unknown (not installed)"


def gui_arguments(argv: Sequence[str]) -> argparse.Namespace:
    from .cli import COMMAND_HELP, parse_arguments

    commands = "\n".join(f"  {name:<9} {text}" for name, text in COMMAND_HELP.items())
    parser = argparse.ArgumentParser(
        prog="calcviz", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="See and explore multivariable calculus. Without a command, calcviz opens the window.",
        epilog=f"commands (each has its own --help, e.g. calcviz eval --help):\n"
               f"  {'(none)':<9} open the window, on a session file or a formula (--expr)\n{commands}")
    parser.add_argument("session", nargs="?", help="a session file (.json) to open")
    parser.add_argument("--expr", help="start on this formula")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                        help="where TensorFlow computes (default: a GPU when there is one)")
    parser.add_argument("--version", action="version", version=f"calcviz {version()}")
    return parse_arguments(parser, argv)  # --expr "-x^2" too


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "export":  # draws with the window's views: a Qt process, TensorFlow never loaded
        from . import headless

        sys.exit(headless.main(argv[1:]))
    from . import cli

    if argv and argv[0] in cli.COMMANDS:
        sys.exit(cli.main(argv))
    args = gui_arguments(argv)
    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        sys.exit(1)
    from .gui import run

    sys.exit(run(args))
