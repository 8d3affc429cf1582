"""What a user chooses in calcviz, as immutable pydantic models: the live settings of the window's
:class:`~calcviz.models.session.Session` and, the same models, the schema of a session file.

Settings: the formula as typed (``editor``) and the last one that parses (``document``: text, box,
resolution, axes, parameters), the selected point, the view (toggles, camera, direction angle,
epsilon, log scale), the descent setup and its start points, the chain-rule view's options and the
derivatives written to check.

A session file (JSON, UTF-8, format version 1) is::

    {"format": "calcviz-session", "version": 1, "saved": ISO 8601 time (optional),
     "document": Document, "editor": text (optional), "view": View (optional),
     "selected": [one number per axis] | null (optional), "descent": Descent | null (optional),
     "chain": Chain (optional), "critical": Engine.find_critical_points' result | null (optional),
     "check": Check (optional: the derivatives written to check)}

with Descent = {"setup": DescentSetup, "starts": [{axis: number}], "shown_steps",
"result": Engine.descend's result (with paths) | null}. Files written before "editor" and "chain"
existed open as they are. Every value is checked where it is declared below, and again against the
formula (axes and parameters are its inputs, a race's variables are the axes, its paths are whole):
what loads is what the window can show. A refusal is a :class:`SessionError` naming the field
("document.params.a.value must lie within ±1e+09 (got 1e+308)"). Unknown keys are dropped,
except inside the two results, which keep what they hold beyond what is checked. Non-finite
numbers are written as null (strict JSON); along a descent path null reads back as NaN.

Pure Python (pydantic, numpy): no Qt, no TensorFlow.
"""
from __future__ import annotations

import datetime
import json
import math
from typing import Annotated, Any, ClassVar, Mapping, Sequence

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError, model_validator

from . import critical, descent, matrix
from .expression import Expression, ParseError, parse
from .race import MAX_SPEED, WINDOW_MAX_STEPS

DEFAULT_EXPRESSION = "x*exp(-x^2 - y^2)"
MAX_GRID = 2000  # points per side of a grid; 2000 x 2000 is 4 million evaluations
# The largest magnitude of a box's end or a parameter (value or slider end): the panels' number boxes
# stop there, and a slider across +-1e308 would compute inf - -inf = NaN.
VALUE_LIMIT = 1e9
DEFAULT_PARAM = {"value": 1.0, "min": -5.0, "max": 5.0}
SESSION_FORMAT = "calcviz-session"
SESSION_VERSION = 1
MAX_RUNS = 64                        # descent runs (and start points) in a session
MAX_PATH = descent.MAX_STEPS + 1     # records in one run's path: steps 0 .. MAX_STEPS
MAX_CRITICAL = 1_000_000             # critical points: no search has more seeds than this
START_MODES = ("shared", "each")
# The view's switches (menu actions): name -> on in a new window.
TOGGLES = {"field": False, "surface_isolines": False, "critical_markers": True, "tangent_plane": False,
           "quadratic_model": False, "second_derivative": False, "explain_step": False, "basins": False,
           "equal_aspect": True}
MAX_ASPECT = 10.0  # a box longer than this on one side is drawn filling the map, not to scale


class SessionError(ValueError):
    """A session that cannot be read, worded for the user (names the field at fault)."""


# ----------------------------------------------------------------------------- leaf checks
# Each returns the cleaned value or raises ValueError("must be ... (got ...)"); the field's path is
# put in front of the message when a ValidationError becomes a SessionError (see _refusal).
def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "a list" if isinstance(value, (list, tuple)) else "an object" if isinstance(value, dict) else "?"


def show(value) -> str:
    """A value as a user wrote it, cut to 40 characters."""
    text = json.dumps(strict_json(value), ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


def as_float(value) -> float | None:
    """A JSON number as a finite float; None for anything else (true/false are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        out = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return out if math.isfinite(out) else None


def _finite(value) -> float:
    out = as_float(value)
    if out is None:
        raise ValueError(f"must be a finite number (got {show(value)})")
    return out


def _bounded(value) -> float:
    out = _finite(value)
    if abs(out) > VALUE_LIMIT:
        raise ValueError(f"must lie within ±{VALUE_LIMIT:g} (got {out:g})")
    return out


def _positive(value) -> float:
    out = _finite(value)
    if not out > 0:
        raise ValueError(f"must be positive (got {out:g})")
    return out


def _not_negative(value) -> float:
    out = _finite(value)
    if out < 0:
        raise ValueError(f"must be at least 0 (got {out:g})")
    return out


def _speed(value) -> float:
    out = _positive(value)
    if out > MAX_SPEED:
        raise ValueError(f"must be at most {MAX_SPEED} steps per second (got {out:g})")
    return out


def _whole(lo: int, hi: int):
    def check(value) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"must be a whole number from {lo} to {hi} (got {show(value)})")
        return value
    return BeforeValidator(check)


def _flag(value) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false (got {_kind(value)})")
    return value


def _text(value) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be text (got {_kind(value)})")
    return value


def _range(value) -> tuple[float, float]:
    pair = [as_float(v) for v in value] if isinstance(value, (list, tuple)) and len(value) == 2 else []
    if len(pair) != 2 or None in pair or not pair[0] < pair[1]:
        raise ValueError(f"must be two finite numbers, low < high (got {show(value)})")
    if max(abs(pair[0]), abs(pair[1])) > VALUE_LIMIT:
        raise ValueError(f"must lie within ±{VALUE_LIMIT:g} (got {show(value)})")
    return pair[0], pair[1]


def _listed(most: int):
    def check(value):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"must be a list (got {_kind(value)})")
        if len(value) > most:
            raise ValueError(f"has {len(value)} entries; at most {most} are allowed")
        return value
    return BeforeValidator(check)


def _object(value):
    if not isinstance(value, Mapping):
        raise ValueError(f"must be an object (got {_kind(value)})")
    return value


def _point(value) -> dict[str, float]:
    """{name: finite number} (which names: checked against the formula by the model that holds it)."""
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"must give a finite number for each variable (got {show(value)})")
    out = {}
    for name, v in value.items():
        x = as_float(v)
        if x is None or not isinstance(name, str):
            raise ValueError(f"must give a finite number for each variable (got {show(value)})")
        out[name] = x
    return out


Finite = Annotated[float, BeforeValidator(_finite)]
Bounded = Annotated[float, BeforeValidator(_bounded)]
Positive = Annotated[float, BeforeValidator(_positive)]
Flag = Annotated[bool, BeforeValidator(_flag)]
Text = Annotated[str, BeforeValidator(_text)]
Range = Annotated[tuple[float, float], BeforeValidator(_range)]
Point = Annotated[dict[str, float], BeforeValidator(_point)]


class Model(BaseModel):
    """Immutable; unknown keys dropped. Changed with model_copy(update=...), which does not validate:
    the Session builds only valid settings; files and hand-made states go through validation."""
    model_config = ConfigDict(frozen=True, extra="ignore")


# ----------------------------------------------------------------------------- the document
class Param(Model):
    value: Bounded
    min: Bounded
    max: Bounded

    @model_validator(mode="after")
    def _ordered(self):
        if not self.min < self.max:
            raise ValueError(f": min must be below max (got {self.min:g} and {self.max:g})")
        return self


def _seed(value) -> int:
    try:
        return matrix.check_seed(value)
    except ValueError as exc:
        raise ValueError(f"must be a whole number from 0 (got {show(value)})") from exc


class Document(Model):
    """The formula that is plotted (it parses), its box, resolution, axes and parameters.

    A formula with vectors and matrices is seen entry by entry (x[1], A[1,2]): its axes are two entries and
    every other entry is a parameter, drawn at random with ``seed`` when it first appears."""

    text: Text
    x_range: Range = (-2.0, 2.0)
    y_range: Range = (-2.0, 2.0)
    n: Annotated[int, _whole(2, MAX_GRID)] = 200
    axes: Annotated[tuple[str, ...], _listed(2)] = ("x", "y")
    params: Annotated[dict[str, Param], BeforeValidator(_object)] = {}
    seed: Annotated[int, BeforeValidator(_seed)] = 0

    @model_validator(mode="after")
    def _fits_its_formula(self):
        """The text parses; axes and parameters are inputs of it; every other input is a parameter."""
        try:
            expression = parse(self.text)
            matrix.check_window(expression)
        except ParseError as exc:
            raise ValueError(f".text is not a formula calcviz can read: {exc}") from None
        inputs = expression.entries
        its = f"(its inputs: {', '.join(inputs) or 'none'})"
        for name in self.axes:
            if not isinstance(name, str) or name not in inputs:
                raise ValueError(f".axes names '{name}', which is not an input of the formula {its}")
        if len(set(self.axes)) != len(self.axes):
            raise ValueError(f".axes names an input twice ({show(self.axes)})")
        if inputs and not self.axes:
            raise ValueError(f".axes must name one or two inputs of the formula ({', '.join(inputs)})")
        for name in self.params:
            if name not in inputs:
                raise ValueError(f".params names '{name}', which is not an input of the formula {its}")
            if name in self.axes:
                raise ValueError(f".params names '{name}', which is an axis")
        missing = [i for i in inputs if i not in self.axes and i not in self.params]
        if missing:  # the document's own rule: every input that is not an axis is a parameter
            object.__setattr__(self, "params", {**self.params, **{m: Param(**DEFAULT_PARAM) for m in missing}})
        return self

    @property
    def ranges(self) -> list[tuple[float, float]]:
        return [self.x_range, self.y_range][: len(self.axes)]

    @property
    def param_values(self) -> dict[str, float]:
        return {name: p.value for name, p in self.params.items()}

    def with_expression(self, expression: Expression, axes: Sequence[str] | None = None,
                        values: Mapping[str, float] | None = None) -> "Document":
        """The document for a new formula: axes kept where still used, every other input a parameter.

        Parameters keep their values and ranges across edits; new ones start at 1 in [-5, 5] (the entries of a
        vector or matrix drawn with the document's seed); ``values`` overrides (presets). A ParseError when the
        window cannot show the formula's vectors and matrices (matrix.check_window)."""
        matrix.check_window(expression)
        inputs = expression.entries
        values = {**{k: v for k, v in matrix.drawn_entries(expression, self.seed).items() if k not in self.params},
                  **(values or {})}
        if axes is None:
            kept = tuple(a for a in self.axes if a in inputs)
            axes = kept if len(kept) == min(2, len(inputs)) else expression.axes
        params = {}
        for name in inputs:
            if name in axes:
                continue
            p = self.params.get(name) or Param(**DEFAULT_PARAM)
            if values and name in values:
                v = float(values[name])
                p = Param.model_construct(value=v, min=min(p.min, v), max=max(p.max, v))
            params[name] = p
        return self.model_copy(update={"text": expression.text, "axes": tuple(axes), "params": params})

    def with_param(self, name: str, value: float | None = None, lo: float | None = None,
                   hi: float | None = None) -> "Document":
        p = self.params[name]
        p = p.model_copy(update={k: float(v) for k, v in (("value", value), ("min", lo), ("max", hi)) if v is not None})
        return self.model_copy(update={"params": {**self.params, name: p}})


# ----------------------------------------------------------------------------- the view
class Camera(Model):
    distance: Positive
    elevation: Finite
    azimuth: Finite
    center: tuple[Finite, Finite, Finite]


class Toggles(Model):
    field: Flag = TOGGLES["field"]
    surface_isolines: Flag = TOGGLES["surface_isolines"]
    critical_markers: Flag = TOGGLES["critical_markers"]
    tangent_plane: Flag = TOGGLES["tangent_plane"]
    quadratic_model: Flag = TOGGLES["quadratic_model"]
    second_derivative: Flag = TOGGLES["second_derivative"]
    explain_step: Flag = TOGGLES["explain_step"]
    basins: Flag = TOGGLES["basins"]
    equal_aspect: Flag = TOGGLES["equal_aspect"]


class View(Model):
    camera: Camera | None = None      # None: fitted to the function (a new formula or box refits)
    toggles: Toggles = Toggles()
    angle: Finite = 0.0               # the directional derivative's direction, degrees
    log_scale: Flag | None = None     # None: chosen for each grid (on when f spans many decades)
    eps: tuple[Finite, ...] | None = None  # where the local models are compared; None: 0.01 per axis


# ----------------------------------------------------------------------------- descent
def _hyperparameters(value) -> dict[str, dict[str, float]]:
    out = {}
    for name, values in _object(value).items():
        if name not in descent.OPTIMIZERS:
            raise ValueError(f"names '{name}', which is not an optimizer (use one of {', '.join(descent.OPTIMIZERS)})")
        values = {k: _finite(v) for k, v in _object(values).items()}
        try:
            checked = descent.hyperparameters_for(name, {name: values})
        except descent.DescentError as exc:
            raise ValueError(f".{name}: {exc}") from None
        out[name] = {k: checked[k] for k in values}
    return out


def _optimizers(value) -> tuple[str, ...]:
    _listed(MAX_RUNS).func(value)
    try:
        return descent.check_optimizers(list(value))
    except descent.DescentError as exc:
        raise ValueError(f": {exc}") from None


class DescentSetup(Model):
    optimizers: Annotated[tuple[str, ...], BeforeValidator(_optimizers)] = ("gd",)
    lr: Positive = 0.01
    hyperparameters: Annotated[dict[str, dict[str, float]], BeforeValidator(_hyperparameters)] = {}
    schedule: Annotated[dict[str, Any], BeforeValidator(_object)] = {"name": "constant"}
    steps_per_click: Annotated[int, _whole(1, descent.MAX_STEPS)] = 1
    max_steps: Annotated[int, _whole(1, WINDOW_MAX_STEPS)] = 1000
    tol: Annotated[float, BeforeValidator(_not_negative)] = 1e-6
    speed: Annotated[float, BeforeValidator(_speed)] = 20.0
    start_mode: Text = "shared"

    @model_validator(mode="after")
    def _valid(self):
        given = {k: v if k == "name" else _finite(v) for k, v in self.schedule.items()}
        if not isinstance(given.get("name"), str):
            raise ValueError(f".schedule.name must be text (got {show(given.get('name'))})")
        try:
            checked = descent.check_schedule(given, self.max_steps)
        except descent.DescentError as exc:
            raise ValueError(f".schedule: {exc}") from None
        if checked.get("decay_steps", 1) > descent.MAX_STEPS:  # the panel's box holds no more
            raise ValueError(f".schedule.decay_steps must be at most {descent.MAX_STEPS:,} "
                             f"(got {checked['decay_steps']:g})")
        if self.start_mode not in START_MODES:
            raise ValueError(f".start_mode must be shared or each (got {show(self.start_mode)})")
        object.__setattr__(self, "schedule", {k: checked[k] for k in given})
        return self

    @property
    def engine_schedule(self) -> dict:
        return dict(self.schedule)


class Descent(Model):
    """The descent setup and its start point(s): one for every optimizer, or one per optimizer ("each")."""
    setup: DescentSetup = DescentSetup()
    starts: Annotated[tuple[Point, ...], _listed(MAX_RUNS)] = ()


class Chain(Model):
    expand: Flag = False  # every primitive operation as a node


class Check(Model):
    """Derivatives the user wrote, one per line (d/dx = ...), checked against TensorFlow's gradient."""
    derivatives: Annotated[str, BeforeValidator(_text)] = ""
    draws: Annotated[int, _whole(1, matrix.MAX_DRAWS)] = matrix.CHECK_DRAWS


# ----------------------------------------------------------------------------- all of it
class Settings(Model):
    document: Document
    editor: Text | None = None   # the formula as typed when it differs from the document's (it does not parse)
    selected: tuple[Finite, ...] | None = None
    view: View = View()
    descent: Descent = Descent()
    chain: Chain = Chain()
    check: Check = Check()

    @classmethod
    def for_text(cls, text: str = DEFAULT_EXPRESSION, x_range=(-2.0, 2.0), y_range=(-2.0, 2.0), n: int = 200,
                 params: Mapping[str, float] | None = None) -> "Settings":
        """New settings on a formula (a ParseError if it does not parse)."""
        expression = parse(text)
        document = Document.model_construct(text=text, x_range=tuple(map(float, x_range)),
                                            y_range=tuple(map(float, y_range)), n=int(n), axes=(), params={})
        return cls.model_construct(document=document.with_expression(expression, values=params), editor=None,
                                   selected=None, view=View(), descent=Descent(), chain=Chain(), check=Check())

    @property
    def text(self) -> str:
        """What the editor shows."""
        return self.document.text if self.editor is None else self.editor


# ----------------------------------------------------------------------------- results in a file
def _nan_or_number(value) -> float:
    """A number, or null (a non-finite number, written as null) read as NaN."""
    if value is None:
        return math.nan
    out = as_float(value)
    if out is None:
        raise ValueError(f"must be a number (or null) (got {show(value)})")
    return out


def _numbers_by_name(value) -> dict[str, float]:
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"must give a number (or null) for each variable (got {show(value)})")
    try:
        return {str(k): _nan_or_number(v) for k, v in value.items()}
    except ValueError:
        raise ValueError(f"must give a number (or null) for each variable (got {show(value)})") from None


Measure = Annotated[float, BeforeValidator(_nan_or_number)]
Numbers = Annotated[dict[str, float], BeforeValidator(_numbers_by_name)]


class Loose(BaseModel):
    """A result record: what is checked, plus whatever else it holds, kept as it is."""
    model_config = ConfigDict(extra="allow")


class PathEntry(Loose):
    step: Annotated[int, _whole(0, descent.MAX_STEPS)]
    point: Numbers
    value: Measure
    gradient: Numbers  # (these two are what the window's step explanation reads: required)
    grad_norm: Measure
    learning_rate: Measure

    VECTORS: ClassVar = ("update", "velocity", "accumulator")  # kept where present (null after the last step)

    @model_validator(mode="after")
    def _vectors(self):
        for key in self.VECTORS:
            value = (self.__pydantic_extra__ or {}).get(key)
            if value is not None:
                try:
                    self.__pydantic_extra__[key] = _numbers_by_name(value)
                except ValueError as exc:
                    raise ValueError(f".{key} {exc}") from None
        return self


def _optimizer(value) -> str:
    if not isinstance(value, str) or value not in descent.OPTIMIZERS:
        raise ValueError(f": unknown optimizer '{value}' (use one of {', '.join(descent.OPTIMIZERS)})")
    return value


class Run(Loose):
    optimizer: Annotated[str, BeforeValidator(_optimizer)]
    start: Point
    status: Text
    steps: Annotated[int, _whole(0, descent.MAX_STEPS)]
    point: Numbers
    value: Measure
    grad_norm: Measure
    path: Annotated[list[PathEntry], _listed(MAX_PATH)]

    @model_validator(mode="after")
    def _whole_path(self):
        """The window shows a run step by step: its path holds every step, 0 to steps, in order."""
        if len(self.path) != self.steps + 1:
            raise ValueError(f".path has {len(self.path)} entries; a run of {self.steps} steps has {self.steps + 1}")
        for k, entry in enumerate(self.path):
            if entry.step != k:
                raise ValueError(f".path[{k}].step must be {k}, its place in the path (got {entry.step})")
        return self


class DescentResult(Loose):
    variables: Annotated[tuple[str, ...], _listed(64)]
    box: Annotated[list, _listed(64)]
    runs: Annotated[list[Run], _listed(MAX_RUNS)]

    @model_validator(mode="after")
    def _consistent(self):
        try:
            box = descent.check_box(self.box, len(self.variables))
        except descent.DescentError as exc:
            raise ValueError(f".box: {exc}") from None
        object.__setattr__(self, "box", box.tolist())
        names = set(self.variables)
        for k, run in enumerate(self.runs):
            for key in ("start", "point"):
                if set(getattr(run, key)) != names:
                    raise ValueError(f".runs[{k}].{key} must give a number for each of {', '.join(self.variables)} "
                                     f"(got {show(getattr(run, key))})")
            for j, entry in enumerate(run.path):
                for key in ("point", "gradient", *PathEntry.VECTORS):
                    values = getattr(entry, key, None)
                    if values is not None and set(values) != names:
                        raise ValueError(f".runs[{k}].path[{j}].{key} must give a number (or null) for each of "
                                         f"{', '.join(self.variables)} (got {show(values)})")
        return self


def _type(value) -> str:
    if value not in critical.TYPES:
        raise ValueError(f"must be {', '.join(critical.TYPES[:-1])} or {critical.TYPES[-1]} (got {show(value)})")
    return value


class CriticalPoint(Loose):
    type: Annotated[str, BeforeValidator(_type)]
    point: Point
    value: Finite
    eigenvalues: Annotated[list[Finite], _listed(64)]
    zero_eigenvalues: Annotated[int, _whole(0, 64)] = 0  # how many the classification counted as zero
    grad_norm: Finite
    global_min: Flag
    global_max: Flag


class CriticalResult(Loose):
    axes: Annotated[tuple[str, ...], _listed(2)]
    critical_points: Annotated[list[CriticalPoint], _listed(MAX_CRITICAL)]

    @model_validator(mode="after")
    def _consistent(self):
        for k, p in enumerate(self.critical_points):
            if set(p.point) != set(self.axes):
                raise ValueError(f".critical_points[{k}].point must give a finite number for each of "
                                 f"{', '.join(self.axes)} (got {show(p.point)})")
            if len(p.eigenvalues) != len(self.axes):
                raise ValueError(f".critical_points[{k}].eigenvalues must be one number per axis")
            if p.zero_eigenvalues > len(p.eigenvalues):
                raise ValueError(f".critical_points[{k}].zero_eigenvalues must be at most {len(p.eigenvalues)}")
        return self


class SavedDescent(Model):
    setup: DescentSetup
    starts: Annotated[tuple[Point, ...], _listed(MAX_RUNS)]
    shown_steps: Annotated[int, _whole(0, descent.MAX_STEPS)]
    result: DescentResult | None


class SessionFile(Model):
    """A session file as the schema above; checked against its formula as a whole."""
    format: str
    version: int
    saved: Text | None = None
    document: Document
    editor: Text | None = None
    view: View | None = None
    selected: Annotated[tuple[Finite, ...], _listed(2)] | None = None
    descent: SavedDescent | None = None
    chain: Chain | None = None
    critical: CriticalResult | None = None
    check: Check | None = None

    @model_validator(mode="after")
    def _shows_on_its_axes(self):
        """What the window needs to show it: the point, the starts and both results on the document's axes."""
        axes = self.document.axes
        on = f"({', '.join(axes) or 'none'})"
        if self.selected is not None and len(self.selected) != len(axes):
            raise ValueError(f"selected must be one number per axis {on}; got {show(self.selected)}")
        d = self.descent
        if d is not None:
            for k, start in enumerate(d.starts):
                if set(start) != set(axes):
                    raise ValueError(f"descent.starts[{k}] must give a finite number for each axis {on}; "
                                     f"got {show(start)}")
            if d.result is not None:
                if tuple(d.result.variables) != tuple(axes):
                    raise ValueError(f"descent.result.variables must be the axes {on}; got {show(d.result.variables)}")
                length = max((run.steps for run in d.result.runs), default=0)
                if d.shown_steps > length:
                    raise ValueError(f"descent.shown_steps must be at most the race's length, {length} "
                                     f"(got {d.shown_steps})")
        if self.critical is not None and tuple(self.critical.axes) != tuple(axes):
            raise ValueError(f"critical.axes must be the axes {on}; got {show(self.critical.axes)}")
        return self


TOP_LEVEL_KEYS = tuple(SessionFile.model_fields)


# ----------------------------------------------------------------------------- reading and writing
def strict_json(obj):
    """``obj`` in JSON's types: tuples and arrays as lists, numpy scalars as Python ones, models as
    dicts, NaN/inf as None."""
    if isinstance(obj, BaseModel):
        obj = obj.model_dump()
    if isinstance(obj, Mapping):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return strict_json(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _path(loc: Sequence) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not (part.startswith("function-") or part.endswith("]")):  # pydantic's tags for validators
            out += f".{part}" if out else str(part)
    return out


def _refusal(error: ValidationError) -> SessionError:
    """The first error as a sentence: the field's path, then what is wrong with it."""
    first = error.errors(include_url=False)[0]
    where = _path(first["loc"])
    if first["type"] == "missing":
        return SessionError(f"{where} is missing")
    if first["type"] == "value_error":
        text = str(first["ctx"]["error"])
    elif first["type"] in ("model_type", "model_attributes_type", "dict_type"):
        text = f"must be an object (got {_kind(first['input'])})"
    elif first["type"] in ("tuple_type", "list_type", "too_short", "too_long"):
        text = f"must be a list of the right length (got {show(first['input'])})"
    else:
        text = f"{first['msg'][0].lower()}{first['msg'][1:]} (got {show(first['input'])})"
    if text.startswith((".", "[")) or text.startswith(":"):
        return SessionError(f"{where}{text}")
    return SessionError(f"{where} {text}" if where else text)


NOT_SESSION = "the file is not a calcviz session"


def check_file(data) -> SessionFile:
    """The checked session of JSON-shaped ``data``; SessionError names what is wrong."""
    if not isinstance(data, dict):
        raise SessionError(f"{NOT_SESSION}: it holds {_kind(data)}, not an object")
    if data.get("format") != SESSION_FORMAT:
        found = f"its format is {show(data['format'])}" if "format" in data else "it has no \"format\" entry"
        raise SessionError(f"{NOT_SESSION} ({found}; a session has \"format\": \"{SESSION_FORMAT}\")")
    if "version" not in data:
        raise SessionError("version is missing")
    version = data["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SessionError(f"version must be a whole number from 1 (got {show(version)})")
    if version > SESSION_VERSION:
        raise SessionError(f"the session was written by a newer calcviz (format version {version}; this one "
                           f"reads up to {SESSION_VERSION})")
    try:
        return SessionFile.model_validate(data)
    except ValidationError as exc:
        raise _refusal(exc) from None


def file_of(settings: Settings, race: dict | None = None, shown_steps: int = 0, critical_result: dict | None = None,
            saved: str | None = None) -> dict:
    """The JSON-shaped session file of ``settings`` and the results worth keeping (strict JSON types)."""
    if saved is None:
        saved = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    descent_part = None
    if settings.descent.starts:
        descent_part = {"setup": settings.descent.setup, "starts": settings.descent.starts,
                        "shown_steps": shown_steps if race else 0, "result": race}
    return strict_json({"format": SESSION_FORMAT, "version": SESSION_VERSION, "saved": saved,
                        "document": settings.document, "editor": settings.editor, "view": settings.view,
                        "selected": settings.selected, "descent": descent_part, "chain": settings.chain,
                        "critical": critical_result, "check": settings.check})


def settings_of(checked: SessionFile) -> Settings:
    """The Settings a checked session file restores."""
    d = checked.descent
    return Settings(document=checked.document, editor=checked.editor, selected=checked.selected,
                    view=checked.view or View(),
                    descent=Descent(setup=d.setup, starts=d.starts) if d else Descent(),
                    chain=checked.chain or Chain(), check=checked.check or Check())


def result_dict(model: BaseModel | None) -> dict | None:
    """A checked result (descent or critical) as the plain dict the engine gave, NaN for null."""
    return None if model is None else model.model_dump()
