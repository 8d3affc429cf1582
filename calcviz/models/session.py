"""The document a user edits: formula, box, resolution, axes and parameters (what undo/redo covers)."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .expression import Expression

DEFAULT_PARAM = {"value": 1.0, "min": -5.0, "max": 5.0}
MAX_GRID = 2000  # points per side of a grid; 2000 x 2000 is 4 million evaluations
# The largest magnitude of a box's end or a parameter (value or slider end): the panels' number boxes
# stop there, and a slider across +-1e308 would compute inf - -inf = NaN.
VALUE_LIMIT = 1e9


@dataclass(frozen=True)
class Document:
    text: str
    x_range: tuple[float, float] = (-2.0, 2.0)
    y_range: tuple[float, float] = (-2.0, 2.0)
    n: int = 200
    axes: tuple[str, ...] = ("x", "y")
    params: dict[str, dict] = field(default_factory=dict)  # name -> {"value", "min", "max"}

    @property
    def ranges(self) -> list[tuple[float, float]]:
        return [self.x_range, self.y_range][: len(self.axes)]

    @property
    def param_values(self) -> dict[str, float]:
        return {name: p["value"] for name, p in self.params.items()}

    def with_expression(self, text: str, expression: Expression, axes: tuple[str, ...] | None = None,
                        values: dict[str, float] | None = None) -> "Document":
        """The document for a new formula: axes kept where still used, every other input a parameter.

        Parameters keep their values and ranges across edits; new ones start at 1 in [-5, 5];
        ``values`` overrides (presets).
        """
        inputs = expression.inputs
        if axes is None:
            kept = tuple(a for a in self.axes if a in inputs)
            axes = kept if len(kept) == min(2, len(inputs)) else expression.axes
        params = {}
        for name in inputs:
            if name in axes:
                continue
            p = dict(self.params.get(name, DEFAULT_PARAM))
            if values and name in values:
                p["value"] = float(values[name])
                p["min"], p["max"] = min(p["min"], p["value"]), max(p["max"], p["value"])
            params[name] = p
        return replace(self, text=text, axes=tuple(axes), params=params)

    def with_param(self, name: str, value: float | None = None, lo: float | None = None,
                   hi: float | None = None) -> "Document":
        p = dict(self.params[name])
        if value is not None:
            p["value"] = float(value)
        if lo is not None:
            p["min"] = float(lo)
        if hi is not None:
            p["max"] = float(hi)
        return replace(self, params={**self.params, name: p})

    def with_axes(self, axes: tuple[str, ...], expression: Expression) -> "Document":
        return replace(self, axes=tuple(axes)).with_expression(self.text, expression, axes=tuple(axes))
