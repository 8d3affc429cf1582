"""The matrix-calculus panel on the real Session and controllers (fake views, a numpy engine): a formula with a
vector and a matrix becomes entries (two on the plot's axes, the others parameters drawn with the seed), its
values and gradients reach the panel, typed values and new draws are undoable, and checks of derivatives go
out only once they read, with a formula of numbers' error map on the contour view."""
from __future__ import annotations

import numpy as np
import pytest

from calcviz.models import matrix
from calcviz.models.expression import parse
from conftest import emit

QUADRATIC = "x: 2\nA: 2x2\nx^T A x"


def last(mock):
    return mock.call_args.args


def a_matrix(session) -> np.ndarray:
    p = session.document.params
    return np.array([[p["A[1,1]"].value, p["A[1,2]"].value], [p["A[2,1]"].value, p["A[2,2]"].value]])


def test_a_vector_of_two_is_the_plot_and_the_matrix_is_drawn_with_the_seed(rig):
    r = rig(QUADRATIC)
    s, w = r.session, r.window
    drawn = matrix.drawn_entries(parse(QUADRATIC), 0)
    assert s.axes == ("x[1]", "x[2]") and s.document.seed == 0
    assert {k: p.value for k, p in s.document.params.items()} == {k: v for k, v in drawn.items() if k.startswith("A")}
    w.domain.set_axis_choices.assert_called_with(["x[1]", "x[2]", "A[1,1]", "A[1,2]", "A[2,1]", "A[2,2]"],
                                                 ("x[1]", "x[2]"))
    inputs = last(w.matrix.set_inputs)[0]
    assert [(i["name"], i["size"]) for i in inputs] == [("x", "2"), ("A", "2x2")]
    assert inputs[0]["values"] == [0.0, 0.0] and inputs[0]["axes"] == ("x[1]", "x[2]")   # the box's centre
    assert inputs[1]["entries"] == [["A[1,1]", "A[1,2]"], ["A[2,1]", "A[2,2]"]]
    np.testing.assert_array_equal(inputs[1]["values"], a_matrix(s))
    w.matrix.set_seed.assert_called_with(0)


def test_the_panel_gets_value_and_gradients_at_the_selected_point(rig):
    r = rig(QUADRATIC)
    s, w = r.session, r.window
    emit(w.contour.pointPicked, 1.0, -0.5)
    r.settle()
    (kind, kwargs), = [(k, a) for k, a in r.client.submitted if k == "evaluate_matrix"][-1:]
    assert kwargs["values"]["x"] == [1.0, -0.5]
    result = last(w.matrix.set_result)[0]
    x, A = np.array([1.0, -0.5]), a_matrix(s)
    assert result["value"] == pytest.approx(x @ A @ x, abs=1e-9)
    np.testing.assert_allclose(result["gradients"]["x"], (A + A.T) @ x, atol=1e-6)
    np.testing.assert_allclose(result["gradients"]["A"], np.outer(x, x), atol=1e-6)


def test_typed_values_change_a_parameter_or_the_point_and_undo_brings_them_back(rig):
    r = rig(QUADRATIC)
    s, w = r.session, r.window
    before = a_matrix(s)
    emit(w.matrix.valueEdited, "A[1,2]", 7.5)
    assert s.document.params["A[1,2]"].value == 7.5 and s.document.params["A[1,2]"].max >= 7.5
    emit(w.matrix.valueEdited, "x[2]", 0.25)
    assert s.selected == (0.0, 0.25)
    assert last(w.matrix.set_inputs)[0][0]["values"] == [0.0, 0.25]
    emit(w.editor.undoRequested)
    np.testing.assert_array_equal(a_matrix(s), before)


def test_a_new_seed_draws_the_matrix_anew_keeps_the_point_and_undoes_as_one_step(rig):
    r = rig(QUADRATIC)
    s, w = r.session, r.window
    emit(w.contour.pointPicked, 0.5, 0.5)
    before = a_matrix(s)
    emit(w.matrix.drawRequested, 7)
    drawn = matrix.drawn_entries(parse(QUADRATIC), 7)
    assert s.document.seed == 7 and s.selected == (0.5, 0.5)
    assert {k: s.document.params[k].value for k in drawn if k.startswith("A")} == \
        {k: v for k, v in drawn.items() if k.startswith("A")}
    w.matrix.set_seed.assert_called_with(7)
    assert s.history.undo_text == "draw values (seed 7)"
    emit(w.editor.undoRequested)
    assert s.document.seed == 0
    np.testing.assert_array_equal(a_matrix(s), before)
    w.matrix.set_seed.assert_called_with(0)


def test_derivatives_are_checked_once_they_read(rig):
    r = rig(QUADRATIC)
    w = r.window
    r.client.submitted.clear()
    emit(w.matrix.derivativesSubmitted, "d/dx = x^T (A + A^T)")       # a row: refused, nothing computed
    result, problem = last(w.matrix.set_check)[:2]
    assert result is None and problem == ("your derivative is 1x2 (a row); d/dx of a number must have x's shape: "
                                          "2 entries (a column) (line 1, column 8)")
    assert not [k for k, _ in r.client.submitted if k == "check_derivatives"]
    emit(w.matrix.derivativesSubmitted, "d/dx = (A + A^T) x\nd/dA = x x^T")
    assert w.matrix.set_check.call_args.kwargs.get("waiting") is True
    r.settle()
    (kwargs,) = [a for k, a in r.client.submitted if k == "check_derivatives"]
    assert kwargs == {"text": QUADRATIC, "derivatives": "d/dx = (A + A^T) x\nd/dA = x x^T", "seed": 0, "draws": 20}
    verdict = last(w.matrix.set_check)[0]
    assert verdict["agrees"] is True and [v["wrt"] for v in verdict["results"]] == ["x", "A"]
    emit(w.matrix.derivativesSubmitted, "d/dx = 2 A x")
    r.settle()
    assert last(w.matrix.set_check)[0]["agrees"] is False
    w.contour.set_error_map.assert_called_with(None)  # draws: no map on the contour view


def test_a_formula_of_numbers_is_checked_on_its_box_and_the_map_drawn(rig):
    r = rig("x^2 y")
    s, w = r.session, r.window
    emit(w.matrix.derivativesSubmitted, "d/dx = 2 x y\nd/dy = x^2 + x")
    r.settle()
    (kwargs,) = [a for k, a in r.client.submitted if k == "check_derivatives"]
    assert kwargs["axes"] == ["x", "y"] and kwargs["n"] == 101 and kwargs["ranges"] == [(-2.0, 2.0), (-2.0, 2.0)]
    verdict = last(w.matrix.set_check)[0]
    assert verdict["results"][0]["agrees"] and not verdict["results"][1]["agrees"]
    coords, errors, tolerance = last(w.contour.set_error_map)
    xs, ys = coords
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    assert tolerance == matrix.TOLERANCE
    assert np.all(errors[X != 0] > tolerance) and np.all(errors[np.isclose(X, 0)] <= tolerance)  # yours = x^2 + x
    emit(w.editor.expressionEdited, "x^2 y + 1")  # a new formula: the old map goes at once
    w.contour.set_error_map.assert_called_with(None)
    r.settle()
    assert last(w.contour.set_error_map)[0] is not None  # ... and the new one comes
    emit(w.matrix.derivativesSubmitted, "")
    w.contour.set_error_map.assert_called_with(None)
    assert s.request("check") is None


def test_a_formula_too_large_for_the_window_is_said_so_and_the_plot_stays(rig):
    r = rig(QUADRATIC)
    s, w = r.session, r.window
    emit(w.editor.expressionEdited, "x: 3\nA: 10x10\nx^T x + sum(A)")
    message, position = last(w.editor.set_error)
    assert message.startswith("the window shows vectors and matrices of at most 100 entries in all (these have 103)")
    assert position == 5 and s.document.text == QUADRATIC


def test_symbolic_sizes_are_shown_at_three_in_the_window(rig):
    r = rig("x: n\nA: n x n\nx^T A x")
    inputs = last(r.window.matrix.set_inputs)[0]
    assert [(i["name"], i["size"]) for i in inputs] == [("x", "n (n = 3 here)"), ("A", "n x n (n = 3 here)")]
    assert r.session.axes == ("x[1]", "x[2]") and "x[3]" in r.session.document.params


def test_a_session_with_matrices_saves_and_opens_again(rig, tmp_path):
    from calcviz.models import storage
    r = rig(QUADRATIC)
    s, w = r.session, r.window
    emit(w.matrix.drawRequested, 3)
    emit(w.matrix.derivativesSubmitted, "d/dx = (A + A^T) x")
    path = tmp_path / "matrix.json"
    storage.save_session(path, s.file())
    other = rig("x^2")
    other.session.restore(storage.load_session(path))
    assert other.session.document == s.document and other.session.settings.check == s.settings.check
