"""A point typed exactly (log(2), not a click near it) and presets that carry the chapter's points."""
from __future__ import annotations

import math

from calcviz import resources
from conftest import emit


def preset(start: str) -> dict:
    return next(p for p in resources.presets() if p["name"].startswith(start))


def test_a_typed_point_is_exact_and_a_bad_one_is_refused_by_name(rig):
    r = rig("log(exp(x) + exp(y))")
    w, s = r.window, r.session
    emit(w.inspector.pointTyped, {"x": "0", "y": "log(2)"})
    assert s.selected == (0.0, math.log(2))
    w.inspector.set_entry_error.assert_called_with(None)
    r.settle()
    assert math.isclose(s.point["value"], math.log(3), rel_tol=1e-9)  # f(0, log 2) = log 3
    emit(w.inspector.pointTyped, {"x": "-1/sqrt(2)", "y": "pi/4"})
    assert s.selected == (-1 / math.sqrt(2), math.pi / 4)
    emit(w.inspector.pointTyped, {"x": "log(x)", "y": "1"})
    message = w.inspector.set_entry_error.call_args.args[0]
    assert message.startswith("x: ") and "'x' has no value here" in message
    emit(w.inspector.pointTyped, {"x": "log(0)", "y": "1"})
    assert "finite" in w.inspector.set_entry_error.call_args.args[0]
    assert s.selected == (-1 / math.sqrt(2), math.pi / 4)  # nothing changed


def test_the_chapters_presets_carry_its_points_and_overlays(rig):
    r = rig("x^2 + y^2")
    w, s = r.window, r.session
    emit(w.editor.presetChosen, preset("Linear approximation"))
    assert s.selected == (0.0, math.log(2)) and s.eps == (0.01, -0.03)
    r.settle()
    request = next(kwargs for kind, kwargs in reversed(r.client.submitted) if kind == "approximate")
    assert request["eps"] == {"x": 0.01, "y": -0.03} and request["at"] == {"x": 0.0, "y": math.log(2)}
    emit(w.editor.presetChosen, preset("Quadratic model"))
    assert s.selected == (-1.0, 0.0) and s.settings.view.toggles.quadratic_model
    emit(w.editor.presetChosen, preset("Chain rule"))
    assert s.document.params["w"].value == -1.0 and s.document.params["z"].value == 1.0
    assert s.at == {"x": 0.0, "y": -2.0}
    emit(w.editor.undoRequested)  # a preset is one undo step: the quadratic model's formula and overlay again
    assert s.document.text == "x*exp(-x^2 - y^2)" and s.settings.view.toggles.quadratic_model
    assert "w" not in s.document.params
