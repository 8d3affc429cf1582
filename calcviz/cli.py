"""Headless subcommands: parse arguments, call the models, print JSON or text.

Every failure a user can cause (a typo in the formula, a missing value, a bad device) prints a
message and exits with status 2; nothing prints a traceback. ``eval`` at a point where f is not
defined or not differentiable prints its full output and exits with status 1.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
import textwrap
from typing import Mapping, Sequence

from .models.expression import CONSTANTS, ParseError, parse, shorten

COMMANDS = ("eval", "critical", "approx", "descend", "backprop", "check")
# What each subcommand does, for its own --help and for `calcviz --help` (export is in headless.py).
COMMAND_HELP = {
    "eval": "value, gradient and Hessian at a point",
    "critical": "critical points in a box: where, which type, the value there",
    "approx": "tangent-plane and quadratic approximations at a point, and their errors",
    "descend": "gradient descent and its variants from a start point, step by step",
    "backprop": "the chain rule as a network: forward values, adjoints, paths and operation counts",
    "check": "check a derivative you worked out (d/dx = ...) against TensorFlow's gradient",
    "export": "draw a view (surface, contour, curve, loss, figure, gif) to a file without showing a window",
}


class UsageError(ValueError):
    pass


def _pairs(items: Sequence[str] | None, what: str, example: str):
    """The NAME=TEXT pairs given to an option, in order; a message for one that is not such a pair."""
    for item in items or []:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise UsageError(f"{what} takes {example} (got {shorten(item)!r})")
        yield name, text


def _number(text: str) -> float:
    """A number, or a formula of numbers (pi/4, log(2): computed with numpy, no TensorFlow); ParseError else."""
    try:
        return float(text)
    except ValueError:
        from .models.lowering import constant_value
        return constant_value(text)


def assignments(items: Sequence[str] | None, what: str) -> dict[str, float]:
    """['x=0', 'y=log(2)'] -> {'x': 0.0, 'y': 0.693...}: a number or a formula of numbers each, with
    messages for what does not fit."""
    values: dict[str, float] = {}
    for name, text in _pairs(items, what, "NAME=NUMBER pairs, e.g. x=1.5 or y=log(2)"):
        try:
            values[name] = _number(text)
        except ParseError as exc:
            raise UsageError(f"{what} {name}: {shorten(text)!r} is not a number, nor a formula of numbers "
                             f"({exc.message})") from None
        if not math.isfinite(values[name]):
            raise UsageError(f"{what} {name}: the value must be finite")
    return values


def parse_arguments(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """parser.parse_args, with a formula that starts with '-' taken as the formula.

    argparse reads any argument starting with '-' as an option, so "-x^2" would be "unrecognized".
    No subcommand has a one-dash option but -h, so the first one-dash argument that is not a number
    is the formula: argparse gets it with a leading space (a value, never an option), then it is restored.
    """
    argv = list(argv)
    formula = None
    for k, arg in enumerate(argv):
        if arg == "--":
            break
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 1 and arg != "-h" and not _is_number(arg):
            formula, argv[k] = arg, " " + arg
            break
    args = parser.parse_args(argv)
    if formula is not None and getattr(args, "expr", None) == " " + formula:
        args.expr = formula
    return args


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


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


def _json_text(data) -> str:
    """Strict JSON (NaN/inf as null, so every JSON reader accepts it)."""
    from .models.settings import strict_json

    return json.dumps(strict_json(data), indent=2)


def _print_json(data: dict) -> None:
    print(_json_text(data))


def _fmt(v: float) -> str:
    return f"{v:.10g}"


def _eigenvalues(point: Mapping) -> str:
    """A critical point's eigenvalues, those its classification counted as zero as 0 (the exact values
    are in --json)."""
    from .models.critical import judged_zero

    zero = judged_zero(point["eigenvalues"], point["zero_eigenvalues"])
    return ", ".join("0" if z else _fmt(e) for e, z in zip(point["eigenvalues"], zero))


def cmd_eval(args) -> int:
    shapes = declared_shapes(args.shape)
    expression = parse(args.expr, shapes)
    if expression.matrix:
        return _eval_arrays(args, expression, shapes)
    _say_power_t(expression)
    at = assignments(args.at, "--at")
    params = assignments(args.param, "--param")
    check_params(expression, params, at)
    from .models.engine import Engine  # TensorFlow loads only once the input is known to be good
    if not at:
        at = {name: 0.0 for name in expression.inputs if name not in params}
    result = Engine(args.device).evaluate_point(args.expr, at, params)
    result.pop("seconds")
    names = result["variables"]
    keys = ["variables", "point", "params", "value", "gradient", "hessian", "eigenvalues", "defined", "note"]
    if args.direction is not None:
        from .models.directional import along
        result["directional"] = along(list(result["gradient"].values()), names, args.direction)
        keys.append("directional")
    status = 0 if not result["note"] else 1  # something asked for is undefined at the point
    if args.json:
        _print_json({k: result[k] for k in keys + ["device"]})
        return status
    out = expression.output
    signature = f"{out}({', '.join(names)})"
    print(f"{signature} where {expression.to_text()}" if expression.intermediates
          else f"{signature} = {expression.to_text()}")
    print("at         " + ", ".join(f"{n} = {_fmt(v)}" for n, v in result["point"].items())
          + "".join(f"; {n} = {_fmt(v)}" for n, v in result["params"].items()))
    print(f"value      {_fmt(result['value'])}")
    defined = result["defined"]
    if defined["gradient"]:
        print("gradient   " + ", ".join(f"d{out}/d{n} = {_fmt(g)}" for n, g in result["gradient"].items()))
    else:
        print("gradient   undefined")
    if defined["hessian"]:
        width = max(len(_fmt(h)) for row in result["hessian"] for h in row) if names else 0
        for k, row in enumerate(result["hessian"]):
            print(("hessian    " if k == 0 else "           ") + "  ".join(_fmt(h).rjust(width) for h in row))
        print("eigenvalues " + ", ".join(_fmt(e) for e in result["eigenvalues"]))
    else:
        print("hessian    undefined")
    if "directional" in result:
        d = result["directional"]
        unit = "(" + ", ".join(_fmt(c + 0.0) for c in d["unit"].values()) + ")"
        angle = f" at {_fmt(d['angle'])} degrees" if d["angle"] is not None else ""
        value = _fmt(d["value"]) if math.isfinite(d["value"]) else "undefined"
        print(f"along u    u = {unit}{angle} (normalised): D_u {out} = grad {out} . u = {value}")
    if result["note"]:
        print(f"note       {result['note']}")
    print(f"device     {result['device']}")
    return status


AXIS_LETTERS = ("x", "y", "z")
_ORDINALS = ("first", "second", "third")


def _boxes(items: Sequence[str] | None) -> dict[str, tuple[float, float]]:
    """['z=-1,1', 'w=0,2'] -> {'z': (-1.0, 1.0), 'w': (0.0, 2.0)}."""
    boxes = {}
    for name, text in _pairs(items, "--box", "NAME=LOW,HIGH, e.g. z=-1,1"):
        parts = text.split(",")
        try:
            if len(parts) != 2:
                raise ValueError
            boxes[name] = (float(parts[0]), float(parts[1]))
        except ValueError:
            raise UsageError(f"--box {name}: {shorten(text)!r} is not two numbers, LOW,HIGH") from None
    return boxes


def _search_box(expression, params: dict[str, float], args) -> tuple[list[str], list[tuple[float, float]]]:
    """The search axes and their ranges.

    The axes are the formula's x, y and z (those not held by --param) and every name given a --box;
    a formula with none of those searches over its first one or two inputs. --x, --y, --z give the
    range of x, y, z (of the first, second, third axis for a formula whose axes have other names);
    the default range is -5 5.
    """
    boxes = _boxes(getattr(args, "box", None))
    free = [name for name in expression.inputs if name not in params]
    for name in boxes:
        if name not in free:
            used = ", ".join(free) or "no variables"
            raise UsageError(f"--box {name}: the formula has no variable {name} to search over (it has {used})"
                             if name not in params else f"{name} is given by both --box and --param")
    axes = [a for a in free if a in AXIS_LETTERS or a in boxes] or free[:2]
    if not axes:
        raise UsageError("the formula has no variable to search over (every input is a --param)")
    ranges = {a: boxes.get(a, (-5.0, 5.0)) for a in axes}
    for k, letter in enumerate(AXIS_LETTERS):
        given = getattr(args, letter, None)
        if given is None:
            continue
        name = letter if letter in axes else (axes[k] if k < len(axes) and axes[k] not in AXIS_LETTERS else None)
        if name is None:
            have = f"{len(axes)} variable{'s' if len(axes) != 1 else ''} ({', '.join(axes)})"
            raise UsageError(f"--{letter} gives a {_ORDINALS[k]} axis, but the formula has {have}")
        if name in boxes:
            raise UsageError(f"{name} is given a range by both --{letter} and --box")
        ranges[name] = tuple(given)
    missing = [name for name in free if name not in axes]
    if missing:
        raise UsageError("give a value for " + ", ".join(missing) + " (e.g. --param "
                         + " ".join(f"{m}=1" for m in missing) + "), or search over "
                         + ("it" if len(missing) == 1 else "them") + " with --box " + " ".join(f"{m}=-5,5" for m in missing))
    return axes, [ranges[a] for a in axes]


# ----------------------------------------------------------------------------- vectors and matrices
def _say_power_t(expression) -> None:
    """x^T in a formula of numbers is x to the power T: the one reading where the book means something else
    (a transpose) is said on stderr, with the declarations that would give the book's meaning."""
    for note in expression.notes:
        if " to the power T (" in note.text:
            print(f"note: {note.text}", file=sys.stderr)


def declared_shapes(items: Sequence[str] | None) -> dict[str, str]:
    """--shape x=3 A=3x3 A="n x n" -> {"x": "3", "A": "3x3"}: declarations made before the formula."""
    from .models.expression import declared_shape

    shapes: dict[str, str] = {}
    for name, kind in _pairs(items, "--shape", "NAME=SIZE pairs, e.g. x=3 A=3x3 or A=nxn"):
        try:
            declared_shape(kind)
        except ValueError as exc:
            raise UsageError(f"--shape {name}: {exc}") from None
        shapes[name] = kind
    return shapes


def _sizes(items: Sequence[str] | None) -> dict[str, int]:
    sizes = {}
    for name, text in _pairs(items, "--size", "NAME=NUMBER pairs for symbolic sizes, e.g. n=4"):
        if not text.strip().isdigit():
            raise UsageError(f"--size {name}: {shorten(text)!r} is not a whole number of entries")
        sizes[name] = int(text)
    return sizes


def _array_values(items: Sequence[str] | None) -> dict:
    """--at x=1,2,3 A="1,2;3,4" c=pi/4: values of vectors (entries split by ','), matrices (rows by ';') and
    numbers, each entry a number or a formula of numbers."""
    from .models.matrix import parse_array

    values = {}
    for name, text in _pairs(items, "--at", 'NAME=VALUES pairs, e.g. x=1,2,3 or A="1,2;3,4"'):
        try:
            values[name] = parse_array(text, _number)
        except (ParseError, ValueError) as exc:
            raise UsageError(f"--at {name}: {shorten(text)!r} is not numbers ({getattr(exc, 'message', exc)})") from None
    return values


def _matrix_text(value, indent: int) -> list[str]:
    """A number, vector or matrix as aligned lines: [ 1.5  -2 ] for a vector, one row per line for a matrix."""
    import numpy as np

    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return [_fmt(float(array) + 0.0)]
    rows = array.reshape(1, -1) if array.ndim == 1 else array
    cells = [[_fmt(v + 0.0) for v in row] for row in rows]
    width = max(len(c) for row in cells for c in row)
    lines = ["[ " + "  ".join(c.rjust(width) for c in row) + " ]" for row in cells]
    return [lines[0]] + [" " * indent + line for line in lines[1:]]


def _declared_text(expression) -> str:
    return ", ".join(f"{name}: {kind}" for name, kind in expression.declarations)


def _eval_arrays(args, expression, shapes) -> int:
    """eval of a formula with vectors or matrices: the value and the gradient with respect to every input,
    each shaped like its input; inputs not given by --at are drawn with --seed."""
    from .models.expression import with_declarations

    values = _array_values(args.at)
    values.update(assignments(args.param, "--param"))
    from .models.engine import Engine
    result = Engine(args.device).evaluate_matrix(with_declarations(args.expr, shapes), values, args.seed,
                                                 _sizes(args.size))
    out = expression.output
    drawn = [name for name in result["inputs"] if name not in values]
    if args.json:
        _print_json({"function": out, "text": expression.to_text(),
                     "shapes": {name: v["shape"] for name, v in result["inputs"].items()},
                     "inputs": {name: v["value"] for name, v in result["inputs"].items()},
                     "drawn": drawn, "seed": result["seed"], "sizes": result["sizes"], "value": result["value"],
                     "value_shape": result["shape"], "gradient": result["gradients"], "device": result["device"]})
        return 0
    print(f"{out}({', '.join(expression.inputs)}) = {format_body(expression)}")
    print(f"shapes     {_declared_text(expression)}"
          + "".join(f"; {s} = {n}" for s, n in result["sizes"].items()))
    if drawn:
        print(f"drawn      {', '.join(drawn)} (standard normal, seed {result['seed']}; --at gives values, "
              f"--seed another draw)")
    for j, (name, v) in enumerate(result["inputs"].items()):
        head = f"{name} = "
        for k, line in enumerate(_matrix_text(v["value"], 11 + len(head))):
            print((("inputs     " if j == 0 else " " * 11) + head if k == 0 else "") + line)
    shape = "" if result["shape"] == "scalar" else f"  ({result['shape']})"
    for k, line in enumerate(_matrix_text(result["value"], 11)):
        print(("value      " if k == 0 else "") + line + (shape if k == 0 else ""))
    if result["gradients"] is None:
        print(f"gradient   none: {out} is not a number (try ||{out}||^2 or sum({out}))")
    else:
        for j, (name, g) in enumerate(result["gradients"].items()):
            head = f"d{out}/d{name} = "
            for k, line in enumerate(_matrix_text(g, 11 + len(head))):
                print((("gradient   " if j == 0 else " " * 11) + head if k == 0 else "") + line)
    print(f"device     {result['device']}")
    return 0


def format_body(expression) -> str:
    """The formula without its declarations: a = ...; f = ... (the declarations are listed apart)."""
    from .models.expression import format_node

    parts = [f"{name} = {format_node(node)}" for name, node in expression.definitions[:-1]]
    return "; ".join(parts + [format_node(expression.body)])


def cmd_check(args) -> int:
    """Derivatives you worked out against TensorFlow's: exit 0 when all agree, 1 when one does not."""
    from .models.expression import parse_derivatives, with_declarations

    shapes = declared_shapes(args.shape)
    expression = parse(args.expr, shapes)
    _say_power_t(expression)
    derivatives = "\n".join(args.derivative)
    parse_derivatives(expression, derivatives)  # a wrong shape or name is said before TensorFlow loads
    params = assignments(args.param, "--param")
    axes = ranges = None
    if not expression.matrix:
        axes = _axes_for(expression, params)
        given = [args.x, args.y]
        ranges = [tuple(given[k]) if given[k] is not None else (-2.0, 2.0) for k in range(len(axes))]
    from .models.engine import Engine
    result = Engine(args.device).check_derivatives(with_declarations(args.expr, shapes), derivatives, args.seed,
                                                   args.draws, _sizes(args.size), axes, ranges, args.n, params)
    result.pop("seconds")
    code = 0 if result["agrees"] else 1
    if args.json:
        result.pop("map", None)
        _print_json(result)
        return code
    out = expression.output
    print(f"{out}({', '.join(expression.inputs)}) = {format_body(expression)}")
    if result["mode"] == "draws":
        sizes = "; ".join(f"{s} from {min(v)} to {max(v)}" for s, v in result["sizes"].items())
        print(f"shapes     {_declared_text(expression)}" + (f" ({sizes} over the draws)" if sizes else ""))
        print(f"draws      {result['draws']}, every input standard normal, seed {result['seed']}")
    else:
        print("box        " + ", ".join(f"{a} in [{_fmt(lo)}, {_fmt(hi)}]" for a, (lo, hi) in
                                        zip(result["axes"], result["ranges"]))
              + "".join(f"; {n} = {_fmt(v)}" for n, v in result["params"].items())
              + f" ({args.n} points per side)")
    for r in result["results"]:
        print()
        print(r["text"])
        print(f"  {r['message']}")
        worst = r["worst"]
        if r["agrees"] or worst is None:
            continue
        if result["mode"] == "grid":
            where = ", ".join(f"{a} = {_fmt(v)}" for a, v in worst["point"].items())
            print(f"  worst at {where}: yours {_fmt(worst['yours'])}, TensorFlow's {_fmt(worst['tensorflow'])}")
            continue
        sizes = ", ".join(f"{s} = {n}" for s, n in worst["sizes"].items())
        print(f"  worst draw {worst['draw']}" + (f" ({sizes})" if sizes else "") + ": the entries that differ most")
        rows = [["entry", "yours", "TensorFlow's"]] + [[e["entry"], _fmt(e["yours"]), _fmt(e["tensorflow"])]
                                                       for e in worst["entries"]]
        for line in _table(rows):
            print("    " + line)
        for name, value in worst["values"].items():
            if isinstance(value, dict):
                print(f"    {name}: {'x'.join(map(str, value['shape']))} (too large to list)")
                continue
            for k, line in enumerate(_matrix_text(value, 4 + len(name) + 3)):
                print(("    " + name + " = " if k == 0 else "") + line)
    print(f"\ndevice     {result['device']}")
    return code


def _axes_for(expression, params: dict[str, float]) -> list[str]:
    """The plot axes of a formula of numbers: x and y when it uses them, else its first one or two free inputs."""
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


def _at(point: dict) -> str:
    """'x = -2' for one variable, '(x, y) = (3, 2)' for more."""
    if len(point) == 1:
        (name, value), = point.items()
        return f"{name} = {_fmt(value)}"
    return f"({', '.join(point)}) = ({', '.join(_fmt(v) for v in point.values())})"


CRITICAL_KEYS = ("axes", "ranges", "params", "critical_points", "curves", "box_min", "box_max", "complete",
                 "note", "resolution")


def cmd_critical(args) -> int:
    expression = parse(args.expr)
    params = assignments(args.param, "--param")
    check_params(expression, params)
    axes, ranges = _search_box(expression, params, args)
    from .models.engine import Engine
    result = Engine(args.device).find_critical_points(args.expr, axes, ranges, params, seeds_per_side=args.seeds)
    if args.json:
        _print_json({k: result[k] for k in CRITICAL_KEYS})
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
                         _eigenvalues(p), f"{p['grad_norm']:.2g}"])
        print()
        for line in _table(rows):
            print(line)
        print()
    for c in result["curves"]:
        values = [q["value"] for q in c["points"]]
        tags = [t for t, on in (("global min", c["global_min"]), ("global max", c["global_max"])) if on]
        low, high = min(values), max(values)
        span = _fmt(low) if high - low <= 1e-12 * max(1.0, abs(high)) else f"from {_fmt(low)} to {_fmt(high)}"
        print(f"curve      {c['type']} along {c['description']}: f {span}, {len(values)} points"
              + (f" ({', '.join(tags)})" if tags else ""))
    for label, key in (("box min", "box_min"), ("box max", "box_max")):
        extreme = result[key]
        if extreme is not None:
            print(f"{label}    {_fmt(extreme['value'])} at {_at(extreme['point'])} ({extreme['where']})")
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
    names, out = result["variables"], expression.output
    from .models.approximation import model_formula
    for key, quadratic in (("linear_formula", False), ("quadratic_formula", True)):
        result[key] = model_formula(result["value"], list(result["gradient"].values()), result["hessian"],
                                    list(result["point"].values()), names, out, quadratic)
    if args.json:
        _print_json(result)
        return 0

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
    # the tangent line / plane, and the quadratic (second-order Taylor) model, as formulas
    print(f"tangent      {result['linear_formula'] or 'undefined (f or its gradient is not finite here)'}")
    print(f"2nd order    {result['quadratic_formula'] or 'undefined (f or its derivatives are not finite here)'}")
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
        status = run["status"] + (f" ({run['reached']})" if run.get("reached") else "")
        rows.append([str(k), run["optimizer"], status, str(run["steps"]),
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
    common.add_argument("--param", nargs="+", metavar="NAME=VALUE",
                        help="values of the fixed parameters: numbers or formulas of numbers (k=pi/4)")
    common.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    # Vectors and matrices: what eval and check take besides.
    arrays = argparse.ArgumentParser(add_help=False)
    arrays.add_argument("--shape", nargs="+", metavar="NAME=SIZE",
                        help="declare vectors and matrices: x=3 A=3x3, or symbolic sizes x=n A=nxn "
                             "(as lines x: 3; A: 3x3 in the formula)")
    arrays.add_argument("--seed", type=int, default=0, help="the seed of the values drawn at random (default 0)")
    arrays.add_argument("--size", nargs="+", metavar="NAME=N", help="a number for a symbolic size, e.g. n=4")
    p = sub.add_parser("eval", parents=[common, arrays], help=COMMAND_HELP["eval"],
                       description="The value, gradient, Hessian and its eigenvalues at a point (and a directional "
                       "derivative). Where f is not defined or not differentiable at the point, the gradient and "
                       "Hessian are reported undefined with a sentence saying why, and the exit status is 1 (the "
                       "output, JSON included, is still printed in full); 0 when all is defined; 2 for an error "
                       "in the command. With vectors and matrices: the value and the gradient with respect to "
                       "every input, shaped like it.")
    p.add_argument("expr", help="a formula, or definitions separated by ';'")
    p.add_argument("--at", nargs="+", metavar="NAME=VALUE",
                   help="the point (the variables to differentiate); a vector x=1,2,3, a matrix A=\"1,2;3,4\" "
                        "(inputs not given are drawn with --seed)")
    p.add_argument("--direction", nargs="+", type=float, metavar="V",
                   help="the directional derivative along V: with two variables one number is an angle in degrees "
                   "(counter-clockwise from the first axis), else one number per variable (a vector); either is "
                   "normalised to unit length, so the result is the rate of change per unit distance")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_eval)

    p = sub.add_parser("check", parents=[common, arrays], help=COMMAND_HELP["check"])
    p.add_argument("expr", help="a formula (declare vectors and matrices with --shape or lines such as x: 3)")
    p.add_argument("derivative", nargs="+", help="what you worked out: \"d/dx = (A + A^T) x\" (one argument each)")
    p.add_argument("--draws", type=int, default=20, help="random draws of the inputs, for vectors and matrices "
                   "(default 20); symbolic sizes are drawn from 2 to 6 unless --size gives them")
    p.add_argument("--x", nargs=2, type=float, metavar=("XMIN", "XMAX"),
                   help="a formula of numbers is checked on a grid over its box: the first axis (default -2 2)")
    p.add_argument("--y", nargs=2, type=float, metavar=("YMIN", "YMAX"), help="the second axis (default -2 2)")
    p.add_argument("--n", type=int, default=101, help="grid points per side (default 101)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("critical", parents=[common], help=COMMAND_HELP["critical"],
                       description="Critical points of f in a box, classified by the Hessian's eigenvalues; the box's "
                       "min and max and where they are; curves of critical points as sets. The axes are x, y "
                       "and z (those the formula uses) and every name given a --box; other names need --param.")
    p.add_argument("expr", help="a formula, or definitions separated by ';'")
    p.add_argument("--x", nargs=2, type=float, metavar=("XMIN", "XMAX"),
                   help="range of x (of the first axis when the formula has no x), default -5 5")
    p.add_argument("--y", nargs=2, type=float, metavar=("YMIN", "YMAX"),
                   help="range of y (of the second axis when the formula has no y), default -5 5")
    p.add_argument("--z", nargs=2, type=float, metavar=("ZMIN", "ZMAX"), help="range of z, default -5 5")
    p.add_argument("--box", action="append", metavar="NAME=LOW,HIGH",
                   help="search over NAME from LOW to HIGH (repeat for more variables), e.g. --box w=-1,1")
    p.add_argument("--seeds", type=int, metavar="N", help="Newton seeds per side of the box (default 1001 for "
                   "one variable, 48 for two, about 4096 seeds in all beyond)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_critical)

    p = sub.add_parser("approx", parents=[common], help=COMMAND_HELP["approx"])
    p.add_argument("expr", help="a formula, or definitions separated by ';'")
    p.add_argument("--at", nargs="+", metavar="NAME=VALUE", help="the point (the variables to differentiate)")
    p.add_argument("--eps", nargs="+", type=float, metavar="E",
                   help="the displacement where the models are compared, one number per variable (default 0.01)")
    p.add_argument("--direction", nargs="+", type=float, metavar="V",
                   help="the direction of the error-against-distance sweep (default: the gradient)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_approx)

    from .models.descent import OPTIMIZER_FORMS
    forms = "\n".join(textwrap.fill(text, 100, initial_indent=f"  {name:9s}", subsequent_indent=" " * 11)
                      for name, text in OPTIMIZER_FORMS.items())
    p = sub.add_parser("descend", parents=[common], help=COMMAND_HELP["descend"],
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description="Race optimizers from a start point. Each run stops when |grad f| < --tol "
                       "(converged: the table and message say what it reached, from the Hessian there: a minimum, "
                       "or a saddle, a maximum or a degenerate point where a nudge would leave), after --steps "
                       "(max_steps), or when it diverges.",
                       epilog="the optimizers and the published form each follows:\n" + forms)
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
                       help=COMMAND_HELP["backprop"])
    p.add_argument("expr", help="definitions separated by ';' (or one formula, with --expand)")
    p.add_argument("--at", nargs="+", metavar="NAME=VALUE",
                   help="the value of every input (default 0; --param values are inputs too)")
    p.add_argument("--expand", action="store_true",
                   help="break every definition into its primitive operations (+, *, ^2, sin, ...)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_backprop)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(build_parser(), argv)
    try:
        return args.run(args)
    except ParseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        print(exc.caret(), file=sys.stderr)
        return 2
    except ValueError as exc:  # UsageError, EngineError, StorageError: already worded for the user
        print(f"error: {exc}", file=sys.stderr)
        return 2
