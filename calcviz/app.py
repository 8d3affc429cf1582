"""calcviz's entry point: headless subcommands, or the window."""
from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
from typing import Sequence


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
    from .gui import NO_DISPLAY, has_display, run

    if not has_display():
        print(NO_DISPLAY, file=sys.stderr)
        sys.exit(1)
    sys.exit(run(args))
