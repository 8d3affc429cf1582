"""Vectors and matrices in formulas, the numbers' side: values drawn with a seed, typed values, the entries
the window's sliders and axes are made of, and the verdict of a check of a derivative a user wrote against
TensorFlow's gradient (engine.py computes both with TensorFlow; this module compares them).

A check draws every input (vectors, matrices, numbers) from a standard normal distribution, and every
symbolic size (n in ``x: n``) from CHECK_SIZES, ``draws`` times; draw d depends on the seed and d only,
and each input on its name too, so the same seed gives the same draws on every machine. A derivative
agrees when its relative error ``||yours - TensorFlow's|| / ||TensorFlow's||`` (Frobenius norms; the
larger of the two norms below, and never less than a millionth of the typical gradient's, so that a
gradient of 0 compares by difference) is at most TOLERANCE at every draw where f and its gradient are
defined. A formula of numbers f(x, y) is checked on a grid over its box instead, which the window draws
as an error map.

No TensorFlow and no Qt here.
"""
from __future__ import annotations

import math
import re
import zlib
from typing import Any, Mapping, Sequence

import numpy as np

from .expression import DEFAULT_SIZE, Expression, ParseError, Shape, entry_name, shorten

CHECK_DRAWS = 20
MAX_DRAWS = 1000
CHECK_SIZES = (2, 6)        # symbolic sizes are drawn from 2 to 6 (1 would hide a missing transpose)
TOLERANCE = 1e-6            # float64 gradients of a right derivative agree to about 1e-13
FLOOR = 1e-6                # of the typical gradient's norm: below it, errors are measured against it
MAX_LISTED = 8              # entries listed of the worst draw
MAX_SHOWN = 400             # entries of a draw's inputs shown in a verdict (larger ones give their shape only)
MAX_WINDOW_ENTRIES = 100    # entries of all vectors and matrices of a formula the window shows (sliders)


def _key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) % 2**63, *keys])


def check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**63:
        raise ValueError(f"the seed must be a whole number from 0 (got {seed!r})")
    return int(seed)


# ----------------------------------------------------------------------------- values
def sizes_for(expression: Expression, sizes: Mapping[str, int] | None = None,
              values: Mapping[str, Any] | None = None) -> dict[str, int]:
    """A number for every symbolic size: given, else read from a typed value's shape, else DEFAULT_SIZE."""
    symbols = expression.symbols
    out: dict[str, int] = {}
    for name, n in (sizes or {}).items():
        if name not in symbols:
            raise ValueError(f"'{shorten(name)}' is not a size of the formula (its sizes: {', '.join(symbols) or 'none'})")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= 100_000:
            raise ValueError(f"the size {name} must be a whole number from 1 (got {n!r})")
        out[name] = int(n)
    for name, given in (values or {}).items():
        shape = expression.arrays.get(name)
        if shape is None or not shape.symbols:
            continue
        actual = np.shape(given)
        dims = (shape.rows,) if shape.kind == "vector" else (shape.rows, shape.cols)
        if len(actual) != len(dims):
            continue  # a value of the wrong shape: inputs_for says so
        for dim, n in zip(dims, actual):
            if isinstance(dim, str):
                if out.setdefault(dim, int(n)) != n:
                    raise ValueError(f"{name} has {dim} = {n}, but {dim} = {out[dim]} elsewhere")
    return {s: out.get(s, DEFAULT_SIZE) for s in symbols}


def draw(expression: Expression, seed: int, sizes: Mapping[str, int],
         names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Every input (or those ``names``) drawn from a standard normal distribution, its shape at ``sizes``: the
    same input, seed and shape always give the same values, whatever else the formula holds."""
    seed = check_seed(seed)
    return {name: _rng(seed, _key(name)).standard_normal(expression.shape(name).concrete(sizes).array_shape)
            for name in (expression.inputs if names is None else names)}


def inputs_for(expression: Expression, seed: int = 0, sizes: Mapping[str, int] | None = None,
               values: Mapping[str, Any] | None = None) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """The inputs' values: those given (``values``, checked against their shapes), the others drawn with
    ``seed``. Returns (values by input, the sizes used)."""
    values = dict(values or {})
    unknown = [name for name in values if name not in expression.inputs]
    if unknown:
        raise ValueError(f"'{shorten(unknown[0])}' is not an input of the formula (its inputs: "
                         f"{', '.join(expression.inputs) or 'none'})")
    used = sizes_for(expression, sizes, values)
    out = draw(expression, seed, used, [name for name in expression.inputs if name not in values])
    for name, given in values.items():
        shape = expression.shape(name).concrete(used)
        try:
            array = np.asarray(given, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"the value of {name} must be numbers") from None
        if array.shape != shape.array_shape:
            got = "a number" if array.ndim == 0 else f"{array.size} numbers" if array.ndim == 1 else \
                "x".join(map(str, array.shape))
            raise ValueError(f"{shape.describe(name)}; got {got}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"the values of {name} must be finite")
        out[name] = array
    return out, used


_ROW_SPLIT = re.compile(r"\s*;\s*")


def parse_array(text: str, evaluate) -> np.ndarray:
    """A value typed on the command line: 2.5, 1,2,3 (a vector), 1,2;3,4 (a matrix, rows split by ';').
    Each entry is a number or a formula of numbers, read by ``evaluate`` (lowering.constant_value)."""
    rows = [r for r in _ROW_SPLIT.split(text.strip())]
    table = [[evaluate(cell) for cell in _split_commas(row)] for row in rows]
    if len({len(r) for r in table}) != 1:
        raise ValueError("every row of a matrix needs the same number of entries")
    array = np.array(table, dtype=np.float64)
    if len(rows) == 1:
        array = array[0]
        return array[0] if array.size == 1 and "," not in text else array
    return array


def _split_commas(row: str) -> list[str]:
    """1, atan2(1, 2), 3 -> three cells: commas inside brackets belong to their function."""
    cells, depth, start = [], 0, 0
    for k, ch in enumerate(row):
        depth += ch in "({"
        depth -= ch in ")}"
        if ch == "," and depth == 0:
            cells.append(row[start:k])
            start = k + 1
    cells.append(row[start:])
    return cells


# ----------------------------------------------------------------------------- the window's entries
def entries_of(name: str, array: np.ndarray, shape: Shape) -> dict[str, float]:
    """An input's value entry by entry: {"A[1,1]": .., "A[1,2]": .., ...}."""
    flat = np.asarray(array, np.float64).reshape(-1)
    return {entry_name(name, shape, k): float(v) for k, v in enumerate(flat)}


def drawn_entries(expression: Expression, seed: int) -> dict[str, float]:
    """The entries of every vector and matrix input drawn with ``seed`` (symbolic sizes at DEFAULT_SIZE)."""
    arrays = expression.arrays
    values = draw(expression, seed, {})
    out: dict[str, float] = {}
    for name, shape in arrays.items():
        out.update(entries_of(name, values[name], shape.concrete({})))
    return out


def arrays_from_entries(expression: Expression, entries: Mapping[str, float]) -> dict[str, Any]:
    """Every input's value from the window's entries (numbers by entry or input name), as JSON-like lists."""
    out: dict[str, Any] = {}
    for name in expression.inputs:
        shape = expression.shape(name).concrete({})
        if shape.scalar:
            out[name] = float(entries[name])
            continue
        flat = [float(entries[entry_name(name, shape, k)]) for k in range(shape.rows * shape.cols)]
        out[name] = np.reshape(flat, shape.array_shape).tolist()
    return out


def check_window(expression: Expression) -> None:
    """The window shows every entry of a formula's vectors and matrices (a slider each): refuse more than
    MAX_WINDOW_ENTRIES, pointing at the largest declaration."""
    arrays = expression.arrays
    counts = {name: math.prod(shape.concrete({}).array_shape) for name, shape in arrays.items()}
    if sum(counts.values()) <= MAX_WINDOW_ENTRIES:
        return
    largest = max(counts, key=counts.get)
    where = next((m.start() for m in re.finditer(rf"(?m)^\s*{re.escape(largest)}\s*:", expression.text)), 0)
    raise ParseError(f"the window shows vectors and matrices of at most {MAX_WINDOW_ENTRIES} entries in all (these "
                     f"have {sum(counts.values()):,}); calcviz eval and calcviz check take larger ones",
                     where, expression.text)


# ----------------------------------------------------------------------------- draws of a check
def check_draws(expression: Expression, seed: int, count: int, sizes: Mapping[str, int] | None = None):
    """The draws of a check, grouped by their sizes: [(sizes, draw numbers, {input: array [D, ...]})]."""
    seed = check_seed(seed)
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= MAX_DRAWS:
        raise ValueError(f"the number of draws must be from 1 to {MAX_DRAWS} (got {count!r})")
    fixed = sizes_for(expression, sizes) if sizes else {}
    lo, hi = CHECK_SIZES
    groups: dict[tuple, tuple[dict, list[int], dict[str, list]]] = {}
    for d in range(count):
        rng = _rng(seed, d)
        used = {s: fixed[s] if s in fixed else int(rng.integers(lo, hi + 1)) for s in expression.symbols}
        group = groups.setdefault(tuple(used.items()), (used, [], {name: [] for name in expression.inputs}))
        group[1].append(d)
        for name in expression.inputs:
            shape = expression.shape(name).concrete(used).array_shape
            group[2][name].append(_rng(seed, d, _key(name)).standard_normal(shape))
    return [(used, numbers, {name: np.stack(v) for name, v in values.items()})
            for used, numbers, values in groups.values()]


# ----------------------------------------------------------------------------- comparing
def relative_errors(value: np.ndarray, tf_grad: np.ndarray, yours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per draw (the first axis): the relative error of ``yours`` against TensorFlow's gradient (NaN where f or
    its gradient is undefined, inf where yours is not finite but TensorFlow's is), and the scale it is
    relative to."""
    count = len(value)
    g = np.asarray(tf_grad, np.float64).reshape(count, -1)
    c = np.broadcast_to(np.asarray(yours, np.float64), np.shape(tf_grad)).reshape(count, -1)
    defined = np.isfinite(value) & np.all(np.isfinite(g), axis=1)
    with np.errstate(all="ignore"):
        g_norm, c_norm = np.linalg.norm(g, axis=1), np.linalg.norm(c, axis=1)
        typical = float(np.median(g_norm[defined])) if defined.any() else 1.0
        scale = np.fmax(np.fmax(g_norm, c_norm), FLOOR * (typical if typical > 0 else 1.0))
        errors = np.linalg.norm(c - g, axis=1) / scale
    errors = np.where(np.all(np.isfinite(c), axis=1), errors, np.inf)
    return np.where(defined, errors, np.nan), scale


def verdict(derivative, errors: np.ndarray, where: str, worst_detail: dict | None = None) -> dict:
    """One derivative's verdict from its per-draw (or per-point) errors. ``where``: "draws" or "points of the box"."""
    defined = ~np.isnan(errors)
    count = int(defined.sum())
    out = {"wrt": derivative.wrt, "text": derivative.text, "checked": count, "skipped": int(len(errors) - count),
           "agrees": None, "max_relative_error": None, "worst": None}
    if count == 0:
        out["message"] = (f"could not check d/d{derivative.wrt}: f or its gradient is undefined at every one of the "
                          f"{len(errors)} {where}")
        return out
    worst = int(np.argmax(np.where(defined, errors, -1.0)))
    largest = float(errors[worst])
    out.update(agrees=bool(largest <= TOLERANCE), max_relative_error=largest, worst=worst_detail)
    skipped = f" ({out['skipped']} where f is undefined left out)" if out["skipped"] else ""
    if out["agrees"]:
        out["message"] = (f"d/d{derivative.wrt} agrees with TensorFlow's gradient to relative error {largest:.1e} "
                          f"over {count:,} {where}{skipped}")
    else:
        share = float(np.mean(errors[defined] > TOLERANCE))
        error = "∞ (yours is not a number there)" if math.isinf(largest) else f"{largest:.3g}"
        out["message"] = (f"d/d{derivative.wrt} disagrees with TensorFlow's gradient: relative error {error} at the "
                          f"worst of {count:,} {where} (they differ at {share:.0%} of them)")
    return out


def differing_entries(name: str, shape: Shape, tf_grad: np.ndarray, yours: np.ndarray, scale: float) -> list[dict]:
    """The entries of one draw where yours and TensorFlow's gradient differ, largest difference first."""
    g = np.asarray(tf_grad, np.float64).reshape(-1)
    c = np.broadcast_to(np.asarray(yours, np.float64), np.shape(tf_grad)).reshape(-1)
    with np.errstate(invalid="ignore"):
        gap = np.where(np.isfinite(c), np.abs(c - g), np.inf)
    order = [k for k in np.argsort(-gap, kind="stable") if gap[k] > TOLERANCE * scale][:MAX_LISTED]
    cols = shape.cols if shape.kind == "matrix" else 1
    return [{"entry": entry_name(name, Shape(shape.kind, shape.rows, cols), int(k)), "yours": float(c[k]),
             "tensorflow": float(g[k])} for k in order]


def shown(array: np.ndarray):
    """A draw's value for a verdict: its numbers when small, else its shape."""
    array = np.asarray(array)
    return array.tolist() if array.size <= MAX_SHOWN else {"shape": list(array.shape)}
