"""Headless subcommands: parse arguments, call the models, print JSON or text.

Every failure a user can cause (a typo in the formula, a missing value, a bad device) prints a
message and exits with status 2; nothing prints a traceback.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Sequence

from .models.expression import ParseError, parse

COMMANDS = ("eval",)


class UsageError(ValueError):
    pass


def assignments(items: Sequence[str] | None, what: str) -> dict[str, float]:
    """['x=0', 'y=0.69'] -> {'x': 0.0, 'y': 0.69}, with messages for what does not fit."""
    values: dict[str, float] = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise UsageError(f"{what} takes NAME=NUMBER pairs, e.g. x=1.5 (got {item!r})")
        try:
            values[name] = float(text)
        except ValueError:
            raise UsageError(f"{what} {name}: {text!r} is not a number") from None
        if not math.isfinite(values[name]):
            raise UsageError(f"{what} {name}: the value must be finite")
    return values


def _json_default(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(type(obj).__name__)


def _print_json(data: dict) -> None:
    # NaN/inf are not JSON: write them as null so every JSON reader accepts the output.
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    print(json.dumps(clean(json.loads(json.dumps(data, default=_json_default))), indent=2))


def _fmt(v: float) -> str:
    return f"{v:.10g}"


def cmd_eval(args) -> int:
    expression = parse(args.expr)
    at = assignments(args.at, "--at")
    params = assignments(args.param, "--param")
    from .models.autodiff import Engine  # TensorFlow loads only once the input is known to be good
    if not at:
        at = {name: 0.0 for name in expression.inputs if name not in params}
    result = Engine(args.device).evaluate_point(args.expr, at, params)
    result.pop("seconds")
    if args.json:
        _print_json({k: result[k] for k in ("variables", "point", "params", "value", "gradient",
                                            "hessian", "eigenvalues", "device")})
        return 0
    names = result["variables"]
    signature = f"{expression.output}({', '.join(names)})"
    print(f"{signature} where {expression.to_text()}" if expression.intermediates
          else f"{signature} = {expression.to_text()}")
    print("at         " + ", ".join(f"{n} = {_fmt(v)}" for n, v in result["point"].items())
          + "".join(f"; {n} = {_fmt(v)}" for n, v in result["params"].items()))
    print(f"value      {_fmt(result['value'])}")
    print("gradient   " + ", ".join(f"d{expression.output}/d{n} = {_fmt(g)}" for n, g in result["gradient"].items()))
    width = max(len(_fmt(h)) for row in result["hessian"] for h in row) if names else 0
    for k, row in enumerate(result["hessian"]):
        print(("hessian    " if k == 0 else "           ") + "  ".join(_fmt(h).rjust(width) for h in row))
    print("eigenvalues " + ", ".join(_fmt(e) for e in result["eigenvalues"]))
    print(f"device     {result['device']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="calcviz", description="calcviz headless commands")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("eval", help="value, gradient and Hessian at a point")
    p.add_argument("expr", help="a formula, or definitions separated by ';'")
    p.add_argument("--at", nargs="+", metavar="NAME=VALUE", help="the point (the variables to differentiate)")
    p.add_argument("--param", nargs="+", metavar="NAME=VALUE", help="values of the fixed parameters")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_eval)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ParseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(exc.caret(), file=sys.stderr)
        return 2
    except ValueError as exc:  # UsageError, EngineError: already worded for the user
        print(f"error: {exc}", file=sys.stderr)
        return 2
