"""calcviz's entry point: headless subcommands, or the window."""
from __future__ import annotations

import argparse
import sys
from typing import Sequence


def gui_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="calcviz", description="See and explore multivariable calculus.",
                                     epilog="Headless commands: calcviz eval --help; images: calcviz export --help")
    parser.add_argument("session", nargs="?", help="a session file (.json) to open")
    parser.add_argument("--expr", help="start on this formula")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                        help="where TensorFlow computes (default: a GPU when there is one)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "export":  # draws with the window's views: a Qt process, TensorFlow never loaded
        from . import headless

        sys.exit(headless.main(argv[1:]))
    from . import cli

    if argv and argv[0] in cli.COMMANDS:
        sys.exit(cli.main(argv))
    args = gui_arguments(argv)
    from .gui import NO_DISPLAY, has_display, run

    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        sys.exit(1)
    sys.exit(run(args))
