"""Headless subcommands: parse arguments, call the models, print JSON or text.

Every failure a user can cause (a typo in the formula, a missing value, a bad device) prints a
message and exits with status 2; nothing prints a traceback.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from typing import Mapping, Sequence

from .models.expression import CONSTANTS, ParseError, parse

COMMANDS = ("eval", "critical", "approx", "descend", "backprop")


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


def check_params(expression, params: Mapping[str, float], given: Mapping[str, float] | None = None,
                 given_by: str = "--at") -> None:
    """What every subcommand checks of --param: each names an input of the formula (not a constant
    such as e, not a name it does not use) that ``given`` (the point, by ``given_by``) does not give too."""
    for name in params:
        if name in CONSTANTS:
            raise UsageError(f"--param {name}: {name} is a constant ({CONSTANTS[name]:.10g}), not a parameter")
        if given is not None and name in given:
            raise UsageError(f"{name} is given by both {given_by} and --param")
        if name not in expression.inputs:
            raise UsageError(f"--param {name}: the formula has no input {name} "
                             f"(its inputs: {', '.join(expression.inputs) or 'none'})")


def _strict(v):
    """``v`` in JSON's types: numpy values as Python's, NaN/inf as null (so every JSON reader accepts it)."""
    if hasattr(v, "tolist"):
        v = v.tolist()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _strict(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_strict(x) for x in v]
    return v


def _json_text(data) -> str:
    return json.dumps(_strict(data), indent=2)


def _print_json(data: dict) -> None:
    print(_json_text(data))


def _fmt(v: float) -> str:
    return f"{v:.10g}"


def cmd_eval(args) -> int:
    expression = parse(args.expr)
    at = assignments(args.at, "--at")
    params = assignments(args.param, "--param")
    check_params(expression, params, at)
    from .models.engine import Engine  # TensorFlow loads only once the input is known to be good
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


def _axes_for(expression, params: dict[str, float]) -> list[str]:
    """The search axes: x and y when the formula uses them, else its first one or two free inputs."""
    free = [name for name in expression.inputs if name not in params]
    named = [a for a in ("x", "y") if a in free]
    axes = named or free[:2]
    if not axes:
        raise UsageError("the formula has no variable to search over (every input is a --param)")
    return axes


def _signature(expression, names) -> str:
    signature = f"{expression.output}({', '.join(names)})"
    return (f"{signature} where {expression.to_text()}" if expression.intermediates
            else f"{signature} = {expression.to_text()}")


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[k]) for r in rows) for k in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]


def cmd_critical(args) -> int:
    expression = parse(args.expr)
    params = assignments(args.param, "--param")
    check_params(expression, params)
    axes = _axes_for(expression, params)
    given = [args.x, args.y]
    ranges = [tuple(given[k]) if given[k] is not None else (-5.0, 5.0) for k in range(len(axes))]
    if len(axes) == 1 and args.y is not None:
        raise UsageError(f"--y gives a second axis, but the formula has one variable ({axes[0]})")
    from .models.engine import Engine
    result = Engine(args.device).find_critical_points(args.expr, axes, ranges, params, seeds_per_side=args.seeds)
    if args.json:
        _print_json({k: result[k] for k in ("axes", "critical_points", "complete", "note")})
        return 0
    points = result["critical_points"]
    print(_signature(expression, axes))
    print("box        " + ", ".join(f"{a} in [{_fmt(lo)}, {_fmt(hi)}]" for a, (lo, hi) in zip(axes, ranges))
          + "".join(f"; {n} = {_fmt(v)}" for n, v in params.items()))
    counts = {kind: sum(p["type"] == kind for p in points) for kind in ("min", "max", "saddle", "degenerate")}
    print(f"found      {len(points)} critical point{'s' if len(points) != 1 else ''}"
          + (": " + ", ".join(f"{c} {k}" for k, c in counts.items() if c) if points else ""))
    if points:
        rows = [["type", *axes, "f", "eigenvalues", "|grad f|"]]
        for p in points:
            tags = [t for t, on in (("global min", p["global_min"]), ("global max", p["global_max"])) if on]
            rows.append([p["type"] + (f" ({', '.join(tags)})" if tags else ""),
                         *(_fmt(p["point"][a]) for a in axes), _fmt(p["value"]),
                         ", ".join(_fmt(e) for e in p["eigenvalues"]), f"{p['grad_norm']:.2g}"])
        print()
        for line in _table(rows):
            print(line)
        print()
    print(f"complete   {'yes' if result['complete'] else 'no'}")
    if result["note"]:
        print(f"note       {result['note']}")
    print(f"device     {result['device']}")
    return 0


def cmd_approx(args) -> int:
    expression = parse(args.expr)
    at = assignments(args.at, "--at")
    params = assignments(args.param, "--param")
    check_params(expression, params, at)
    for what, values in (("--eps", args.eps), ("--direction", args.direction)):
        if values is not None and not all(math.isfinite(v) for v in values):
            raise UsageError(f"{what}: the values must be finite")
    if not at:
        at = {name: 0.0 for name in expression.inputs if name not in params}
    from .models.engine import Engine
    result = Engine(args.device).approximate(args.expr, at, params, eps=args.eps, direction=args.direction)
    result.pop("seconds")
    if args.json:
        _print_json(result)
        return 0
    names, out = result["variables"], expression.output

    def vector(values) -> str:
        return "(" + ", ".join(_fmt(v + 0.0) for v in values) + ")"

    print(_signature(expression, names))
    print("at           " + ", ".join(f"{n} = {_fmt(v)}" for n, v in result["point"].items())
          + "".join(f"; {n} = {_fmt(v)}" for n, v in result["params"].items()))
    print("eps          " + ", ".join(f"{n} = {_fmt(v)}" for n, v in result["eps"].items()))
    print(f"value        {_fmt(result['value'])}")
    print("gradient     " + ", ".join(f"d{out}/d{n} = {_fmt(g)}" for n, g in result["gradient"].items()))
    for k, row in enumerate(result["hessian"]):
        print(("hessian      " if k == 0 else "             ") + "  ".join(_fmt(h) for h in row))
    print("eigenvalues  " + ", ".join(_fmt(e) for e in result["eigenvalues"]))
    print(f"true         f(p + eps) = {_fmt(result['true'])}")
    print(f"linear       {_fmt(result['linear'])}   error {result['linear_error']:.3e}")
    print(f"quadratic    {_fmt(result['quadratic'])}   error {result['quadratic_error']:.3e}")
    errors = result["errors"]

    def slope(v) -> str:
        return "n/a (errors at round-off)" if v is None else f"{v:.3f}"

    print(f"error slopes along v = {vector(errors['direction'])}: linear {slope(errors['slope_linear'])} "
          f"(expect 2), quadratic {slope(errors['slope_quadratic'])} (expect 3)")
    if result["newton_step"] is None:
        print("newton step  none (the Hessian is not positive definite)")
    else:
        print(f"newton step  {vector(result['newton_step'].values())} to {vector(result['newton_point'].values())}")
    rate = result["stable_learning_rate"]
    print("stable rate  " + ("none (the Hessian is not positive definite)" if rate is None else
                             f"gradient descent is stable near here for learning rates below "
                             f"2/lambda_max = {_fmt(rate)}"))
    print(f"device       {result['device']}")
    return 0


# --descend options -> the engine's hyperparameter names
_HYPER_OPTIONS = (("momentum", "momentum"), ("beta1", "beta_1"), ("beta2", "beta_2"), ("rho", "rho"),
                  ("epsilon", "epsilon"), ("damping", "damping"))


def cmd_descend(args) -> int:
    expression = parse(args.expr)
    params = assignments(args.param, "--param")
    starts = [assignments(items, "--from") for items in args.start]
    for start in starts:
        if not start:
            raise UsageError("--from takes the start point as NAME=NUMBER pairs, e.g. --from x=-1.5 y=2")
        check_params(expression, params, start, "--from")
    optimizers = [name.strip() for name in args.optimizer.split(",") if name.strip()]
    hyper = {key: getattr(args, option) for option, key in _HYPER_OPTIONS if getattr(args, option) is not None}
    schedule = {"name": args.schedule}
    for option, key in (("decay_steps", "decay_steps"), ("decay_rate", "decay_rate"), ("alpha", "alpha")):
        if getattr(args, option) is not None:
            schedule[key] = getattr(args, option)
    given = [("--lr", args.lr), ("--tol", args.tol), *((f"--{o}", getattr(args, o)) for o, _ in _HYPER_OPTIONS)]
    for what, value in given:
        if value is not None and not math.isfinite(value):
            raise UsageError(f"{what}: the value must be finite")
    from .models import descent
    try:
        descent.check_optimizers(optimizers)  # before TensorFlow loads
    except descent.DescentError as exc:
        raise UsageError(str(exc)) from None
    from .models import storage

    def compute(path):
        from .models.engine import Engine  # (after the output file is known to be writable)

        result = Engine(args.device).descend(args.expr, starts[0] if len(starts) == 1 else starts, params,
                                            optimizers=optimizers, lr=args.lr, steps=args.steps, tol=args.tol,
                                            hyperparameters=hyper, schedule=schedule, path=path)
        result.pop("seconds")
        return result

    # The paths come as numpy columns and are written a step at a time: a million steps as Python
    # dicts took gigabytes. The table prints no path, so it asks for none.
    if args.json:
        _print_descent_json(compute("columns"))
        return 0
    if args.csv == "-":
        _write_descent_csv(sys.stdout, compute("columns"))
        return 0
    if args.csv:
        # The temporary file is made first: a folder that cannot take the file is reported before the
        # computation, and the old file is replaced only by a complete new one.
        with storage.atomic_writer(args.csv) as file:
            text = io.TextIOWrapper(file, encoding="utf-8", newline="")
            _write_descent_csv(text, compute("columns"))
            text.flush()
            text.detach()  # the atomic writer closes (and fsyncs) the file
        return 0
    result = compute(False)
    names = result["variables"]
    print(_signature(expression, names))
    if params:
        print("params     " + ", ".join(f"{n} = {_fmt(v)}" for n, v in result["params"].items()))
    print(f"rate       {_fmt(args.lr)}, schedule {args.schedule}; at most {args.steps} steps, "
          f"tolerance |grad f| < {args.tol:g}")
    rows = [["run", "optimizer", "status", "steps", "start", "final point", "value", "|grad f|"]]
    for k, run in enumerate(result["runs"]):
        rows.append([str(k), run["optimizer"], run["status"], str(run["steps"]),
                     "(" + ", ".join(_fmt(v) for v in run["start"].values()) + ")",
                     "(" + ", ".join(_fmt(v) for v in run["point"].values()) + ")",
                     _fmt(run["value"]), f"{run['grad_norm']:.3g}"])
    print()
    for line in _table(rows):
        print(line)
    print()
    for k, run in enumerate(result["runs"]):
        print(f"run {k} ({run['optimizer']}): {run['message']}")
    print(f"device     {result['device']}")
    return 0


def _write_descent_csv(out, result: dict) -> None:
    """One row per run and step: run, optimizer, step, the point, value, grad_norm (full precision)."""
    writer = csv.writer(out)
    writer.writerow(["run", "optimizer", "step", *result["variables"], "value", "grad_norm"])
    for k, run in enumerate(result["runs"]):
        path = run["path"]
        for first in range(0, len(path["step"]), CHUNK):
            rows = zip(*(path[key][first:first + CHUNK].tolist() for key in ("step", "point", "value", "grad_norm")))
            writer.writerows([k, run["optimizer"], step, *point, value, norm] for step, point, value, norm in rows)


def _print_descent_json(result: dict) -> None:
    """The descend result as JSON, each run's path written a step at a time as it is made (a
    million-step path would take gigabytes as one document in memory)."""
    from .models.descent import path_records

    paths = []
    for k, run in enumerate(result["runs"]):
        paths.append(run["path"])
        run["path"] = f"\0path {k}\0"  # a marker where the path goes in the text
    text = _json_text(result)
    out = sys.stdout
    for k, path in enumerate(paths):
        before, text = text.split(json.dumps(f"\0path {k}\0"), 1)
        indent = " " * (len(before) - before.rfind("\n") - 1 - len('"path": '))
        out.write(before + "[")
        for step, record in enumerate(path_records(path, result["variables"], CHUNK)):
            item = _json_text(record).replace("\n", "\n  " + indent)
            out.write(("," if step else "") + "\n  " + indent + item)
        out.write("\n" + indent + "]")
    out.write(text + "\n")


CHUNK = 4096  # path steps written at a time


def cmd_backprop(args) -> int:
    expression = parse(args.expr)
    at = assignments(args.at, "--at")
    params = assignments(args.param, "--param")
    check_params(expression, params, at)
    at.update(params)  # every free name is an input node of the network
    if not at:
        at = {name: 0.0 for name in expression.inputs}
    from .models.tf_lowering import pick_device
    from .models.backprop import backprop
    device, device_name = pick_device(args.device)
    result = backprop(args.expr, at, expand=args.expand, device=device)
    result.pop("seconds")
    result["device"] = device_name
    if args.json:
        _print_json(result)
        return 0
    nodes, out = result["nodes"], result["output"]
    by_name = {node["name"]: node for node in nodes}

    def num(v: float) -> str:
        return _fmt(v + 0.0)

    def factor(v: float) -> str:
        return f"({num(v)})" if v < 0 else num(v)

    print(_signature(expression, result["inputs"]))
    print("at         " + ", ".join(f"{n} = {num(v)}" for n, v in result["at"].items()))
    print("\nforward pass (inputs to output)")
    rows = [["node", "kind", "formula", "value"]]
    rows += [[n["name"], n["kind"] if n["label"] == n["name"] else f"{n['kind']} {n['label']}",
              n["formula"], num(n["value"])] for n in nodes]
    for line in _table(rows):
        print("  " + line)
    print(f"\nbackward pass (output to inputs): d{out}/d(node) = sum over its children c of "
          f"d{out}/dc * dc/d(node)")
    rows = [["node", f"d{out}/d(node)", "chain rule"]]
    for name in result["backward_order"]:
        node = by_name[name]
        kids = node["children"]  # a child that does not lead to the output has adjoint 0
        if name == out:
            rule = f"d{out}/d{out} = 1"
        elif not kids:
            rule = f"{out} does not depend on {name}"
        else:
            terms = " + ".join(f"d{out}/d{c}*d{c}/d{name}" for c in kids)
            products = " + ".join(f"{factor(by_name[c]['adjoint'])}*{factor(by_name[c]['local_partials'][name])}"
                                  for c in kids)
            rule = f"d{out}/d{name} = {terms} = {products} = {num(node['adjoint'])}"
        rows.append([name, num(node["adjoint"]), rule])
    for line in _table(rows):
        print("  " + line)
    print()
    print("gradient   " + ", ".join(f"d{out}/d{n} = {num(g)}" for n, g in result["gradient"].items()))
    print("paths      " + ", ".join(f"{n}: {result['path_counts'][n]} (sum {num(result['path_sums'][n])})"
                                    for n in result["inputs"]))
    ops = result["operations"]
    print(f"operations {ops['edges']} edges, {ops['inputs']} inputs: forward mode {ops['forward_mode']} "
          f"multiplications, reverse mode {ops['reverse_mode']}")
    print(f"           {ops['explanation']}")
    print(f"check      forward mode and the path sums agree with the adjoints to "
          f"{result['max_check_error']:.1e} (relative)")
    print(f"device     {result['device']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="calcviz", description="calcviz headless commands")
    sub = parser.add_subparsers(dest="command", required=True)
    # What every subcommand takes: parameter values and the device.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--param", nargs="+", metavar="NAME=VALUE", help="values of the fixed parameters")
    common.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    p = sub.add_parser("eval", parents=[common], help="value, gradient and Hessian at a point")
    p.add_argument("expr", help="a formula, or definitions separated by ';'")
    p.add_argument("--at", nargs="+", metavar="NAME=VALUE", help="the point (the variables to differentiate)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_eval)

    p = sub.add_parser("critical", parents=[common], help="critical points in a box: where, which type, the value there")
    p.add_argument("expr", help="a formula of one or two variables, or definitions separated by ';'")
    p.add_argument("--x", nargs=2, type=float, metavar=("XMIN", "XMAX"),
                   help="range of the first axis (x), default -5 5")
    p.add_argument("--y", nargs=2, type=float, metavar=("YMIN", "YMAX"),
                   help="range of the second axis (y), default -5 5")
    p.add_argument("--seeds", type=int, metavar="N", help="Newton seeds per side of the box (default 48 for "
                   "two variables, 1001 for one)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_critical)

    p = sub.add_parser("approx", parents=[common], help="tangent-plane and quadratic approximations at a point, and their errors")
    p.add_argument("expr", help="a formula, or definitions separated by ';'")
    p.add_argument("--at", nargs="+", metavar="NAME=VALUE", help="the point (the variables to differentiate)")
    p.add_argument("--eps", nargs="+", type=float, metavar="E",
                   help="the displacement where the models are compared, one number per variable (default 0.01)")
    p.add_argument("--direction", nargs="+", type=float, metavar="V",
                   help="the direction of the error-against-distance sweep (default: the gradient)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_approx)

    p = sub.add_parser("descend", parents=[common], help="gradient descent and its variants from a start point, step by step")
    p.add_argument("expr", help="a formula, or definitions separated by ';'")
    p.add_argument("--from", dest="start", nargs="+", action="append", required=True, metavar="NAME=VALUE",
                   help="the start point; give --from once for all optimizers or once per optimizer")
    p.add_argument("--optimizer", default="gd", metavar="NAME[,NAME...]",
                   help="gd, momentum, nesterov, adagrad, rmsprop, adam, newton (comma-separated to race them)")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate (default 0.01)")
    p.add_argument("--steps", type=int, default=1000, help="maximum number of steps (default 1000)")
    p.add_argument("--tol", type=float, default=1e-8, help="converged when |grad f| is below this (default 1e-8)")
    p.add_argument("--momentum", type=float, help="momentum and nesterov: the momentum (default 0.9)")
    p.add_argument("--beta1", type=float, help="adam: beta_1 (default 0.9)")
    p.add_argument("--beta2", type=float, help="adam: beta_2 (default 0.999)")
    p.add_argument("--rho", type=float, help="rmsprop: rho (default 0.9)")
    p.add_argument("--epsilon", type=float, help="adagrad, rmsprop, adam: epsilon (default 1e-7)")
    p.add_argument("--damping", type=float, help="newton: the step scale (default 1)")
    p.add_argument("--schedule", choices=("constant", "exponential", "cosine"), default="constant",
                   help="learning-rate schedule (as keras' ExponentialDecay, CosineDecay)")
    p.add_argument("--decay-steps", dest="decay_steps", type=float, help="schedule: decay steps (default --steps)")
    p.add_argument("--decay-rate", dest="decay_rate", type=float, help="exponential: decay rate (default 0.1)")
    p.add_argument("--alpha", type=float, help="cosine: the final fraction of the rate (default 0)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print JSON")
    out.add_argument("--csv", metavar="FILE", help="write one row per step and run to FILE ('-' for stdout)")
    p.set_defaults(run=cmd_descend)

    p = sub.add_parser("backprop", parents=[common],
                       help="the chain rule as a network: forward values, adjoints, paths and operation counts")
    p.add_argument("expr", help="definitions separated by ';' (or one formula, with --expand)")
    p.add_argument("--at", nargs="+", metavar="NAME=VALUE",
                   help="the value of every input (default 0; --param values are inputs too)")
    p.add_argument("--expand", action="store_true",
                   help="break every definition into its primitive operations (+, *, ^2, sin, ...)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_backprop)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ParseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(exc.caret(), file=sys.stderr)
        return 2
    except ValueError as exc:  # UsageError, EngineError, StorageError: already worded for the user
        print(f"error: {exc}", file=sys.stderr)
        return 2
