"""Matrix calculus with TensorFlow (issue 16): the chapter's identities through `calcviz eval` and `calcviz check`
at several sizes and seeds against their closed forms (tests/models/reference.py, REFERENCE item 6), wrong
derivatives found out, the numpy and TensorFlow lowerings agreeing on every array operation, and a formula with
vectors drawn on the plot's axes entry by entry (its Hessian is A + A^T)."""
from __future__ import annotations

import numpy as np
import pytest

from calcviz.models import lowering, matrix, tf_lowering
from calcviz.models.engine import Engine
from calcviz.models.expression import parse
from cli_run import run, strict_json
from reference import MATRIX_IDENTITIES

tf = tf_lowering.tf


@pytest.fixture(scope="module")
def engine():
    return Engine("cpu")


def shape_args(identity, sizes):
    """--shape for an identity at concrete sizes (x=3, A=3x3) or symbolic ones (sizes None)."""
    def concrete(kind):
        return "x".join(str(sizes[d.strip()]) for d in kind.split("x")) if sizes else kind.replace(" ", "")
    return ["--shape", *(f"{name}={concrete(kind)}" for name, kind in identity["shapes"].items())]


# ----------------------------------------------------------------------------- calcviz eval against the closed forms
@pytest.mark.parametrize("name", sorted(MATRIX_IDENTITIES))
@pytest.mark.parametrize("seed, sizes", [(0, {"n": 3, "m": 3, "k": 3}), (1, {"n": 1, "m": 5, "k": 1}),
                                         (42, {"n": 7, "m": 4, "k": 2})])
def test_eval_gives_every_gradient_shaped_like_its_input(capsys, name, seed, sizes):
    identity = MATRIX_IDENTITIES[name]
    code, out, err = run(capsys, "eval", identity["formula"], *shape_args(identity, sizes), "--seed", str(seed),
                         "--json", "--device", "cpu")
    assert code == 0 and err == ""
    data = strict_json(out)
    inputs = {k: np.array(v) for k, v in data["inputs"].items()}
    assert set(inputs) == set(identity["shapes"]) and data["seed"] == seed and data["value_shape"] == "scalar"
    assert data["value"] == pytest.approx(identity["value"](**inputs), rel=1e-12)
    for wrt, closed_form in identity["gradient"].items():
        gradient = np.array(data["gradient"][wrt])
        assert gradient.shape == inputs[wrt].shape  # a vector for x, a matrix for A
        np.testing.assert_allclose(gradient, closed_form(**inputs), rtol=1e-12, atol=1e-12)


def test_eval_prints_the_inputs_it_used(capsys):
    code, out, _ = run(capsys, "eval", "x^T A x", "--shape", "x=2", "A=2x2", "--at", "x=1,2", "A=1,2;0,1",
                       "--device", "cpu")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "f(x, A) = x^T A x" and lines[1] == "shapes     x: 2, A: 2x2"
    assert lines[2:5] == ["inputs     x = [ 1  2 ]", "           A = [ 1  2 ]", "               [ 0  1 ]"]
    # x^T A x = 1 + 2*2 + 4 = 9; (A + A^T) x = [[2, 2], [2, 2]] [1, 2] = [6, 6]; x x^T
    assert lines[5] == "value      9"
    assert lines[6:9] == ["gradient   df/dx = [ 6  6 ]", "           df/dA = [ 1  2 ]", "                   [ 2  4 ]"]


def test_eval_of_a_vector_gives_its_value_and_says_why_no_gradient(capsys):
    code, out, _ = run(capsys, "eval", "A x", "--shape", "A=2x2", "x=2", "--at", "A=1,2;3,4", "x=1,1", "--json")
    data = strict_json(out)
    assert code == 0 and data["value"] == [3.0, 7.0] and data["value_shape"] == "2" and data["gradient"] is None


def test_eval_shape_error_points_at_the_spot(capsys):
    code, out, err = run(capsys, "eval", "A x", "--shape", "A=3x3", "x=4")
    assert code == 2 and out == ""
    assert err == "error: A x: A is 3x3 and x has 4 entries (column 3)\nA x\n  ^\n"


# ----------------------------------------------------------------------------- calcviz check
@pytest.mark.parametrize("name", sorted(MATRIX_IDENTITIES))
@pytest.mark.parametrize("seed", [0, 3])
def test_check_agrees_with_every_closed_form_over_sizes(capsys, name, seed):
    identity = MATRIX_IDENTITIES[name]
    written = [f"d/d{wrt} = {text}" for wrt, text in identity["derivatives"].items()]
    code, out, err = run(capsys, "check", identity["formula"], *written, *shape_args(identity, None),
                         "--seed", str(seed), "--json")
    data = strict_json(out)
    assert code == 0 and err == "" and data["agrees"] is True and data["draws"] == 20
    for result in data["results"]:
        assert result["agrees"] and result["checked"] == 20 and result["max_relative_error"] < 1e-13
        assert result["message"].startswith(f"d/d{result['wrt']} agrees with TensorFlow's gradient to relative error")
    assert all(sizes == list(range(2, 7)) for sizes in data["sizes"].values())  # every size 2..6 was drawn


@pytest.mark.parametrize("formula, shapes, written, sizes", [
    # a missing transpose (square sizes, so the shapes fit)
    ("||X - UV||^2", ["X=nxn", "U=nxn", "V=nxn"], "d/dV = -2 U (X - UV)", []),
    ("||X - UV||^2", ["X=nxn", "U=nxn", "V=nxn"], "d/dU = -2 (X - UV) V", []),
    # a missing factor 2
    ("||X - UV||^2", ["X=mxn", "U=mxk", "V=kxn"], "d/dX = X - UV", []),
    ("x^T A x", ["x=n", "A=nxn"], "d/dx = (A + A^T) x / 2", []),
    # (A) x instead of (A + A^T) x, and 2 A x, for a non-symmetric A
    ("x^T A x", ["x=n", "A=nxn"], "d/dx = A x", []),
    ("x^T A x", ["x=n", "A=nxn"], "d/dx = 2 A x", []),
    ("x^T A x", ["x=n", "A=nxn"], "d/dA = x^T x", None),  # a number for a matrix: refused before any draw
])
def test_check_finds_wrong_derivatives(capsys, formula, shapes, written, sizes):
    code, out, err = run(capsys, "check", formula, written, "--shape", *shapes, "--json")
    if sizes is None:
        assert code == 2 and "your derivative is a number; d/dA of a number must have A's shape: n x n" in err
        return
    data = strict_json(out)
    (result,) = data["results"]
    assert code == 1 and data["agrees"] is False and result["agrees"] is False
    assert result["max_relative_error"] > 0.01 and result["message"].startswith(
        f"{written.split(' =')[0]} disagrees with TensorFlow's gradient: relative error")
    worst = result["worst"]
    assert worst["entries"] and 1 <= worst["draw"] <= 20 and set(worst["values"]) == {s.split("=")[0] for s in shapes}
    for entry in worst["entries"]:
        assert abs(entry["yours"] - entry["tensorflow"]) > 1e-6 * max(1.0, abs(entry["tensorflow"]))


def test_a_missing_transpose_in_the_text_of_a_check_shows_the_worst_draw(capsys):
    """The worst draw is recomputed here from its printed values: the entries listed are truly the ones that differ."""
    code, out, _ = run(capsys, "check", "x^T A x", "d/dx = A x", "--shape", "x=n", "A=nxn", "--seed", "5", "--json")
    result = strict_json(out)["results"][0]
    worst = result["worst"]
    x, A = np.array(worst["values"]["x"]), np.array(worst["values"]["A"])
    truth, yours = (A + A.T) @ x, A @ x
    assert worst["sizes"]["n"] == len(x) and A.shape == (len(x), len(x))
    assert worst["relative_error"] == pytest.approx(np.linalg.norm(yours - truth) /
                                                    max(np.linalg.norm(truth), np.linalg.norm(yours)), rel=1e-9)
    for entry in worst["entries"]:
        k = int(entry["entry"][2:-1]) - 1
        assert entry["yours"] == pytest.approx(yours[k]) and entry["tensorflow"] == pytest.approx(truth[k])


def test_check_text_output(capsys):
    code, out, _ = run(capsys, "check", "x^T A x", "d/dx = (A + A^T) x", "d/dA = A", "--shape", "x=n", "A=nxn")
    assert code == 1
    assert out.startswith("f(x, A) = x^T A x\nshapes     x: n, A: n x n (n from 2 to 6 over the draws)\n"
                          "draws      20, every input standard normal, seed 0\n\nd/dx = (A + A^T) x\n"
                          "  d/dx agrees with TensorFlow's gradient to relative error ")
    assert "\nd/dA = A\n  d/dA disagrees with TensorFlow's gradient: relative error" in out
    assert "entry   yours" in out and "TensorFlow's" in out


def test_a_derivative_of_the_wrong_shape_is_told_so(capsys):
    code, out, err = run(capsys, "check", "x^T A x", "d/dx = x^T (A + A^T)", "--shape", "x=3", "A=3x3")
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "error: your derivative is 1x3 (a row); d/dx of a number must have x's shape: 3 entries (a column) (column 8)",
        "d/dx = x^T (A + A^T)", "       ^"]


def test_check_of_a_formula_of_numbers_on_its_box(engine):
    """f(x, y) = x^2 y: df/dx = 2xy everywhere; a wrong df/dy = x^2 + x/10 differs wherever x != 0."""
    out = engine.check_derivatives("x^2 y", "d/dx = 2x y\nd/dy = x^2 + x/10", ranges=[(-1, 1), (0, 2)], n=21)
    dx, dy = out["results"]
    assert out["mode"] == "grid" and out["agrees"] is False and out["axes"] == ["x", "y"]
    assert dx["agrees"] and dx["checked"] == 21 * 21 and dx["max_relative_error"] == 0.0
    assert not dy["agrees"] and dy["checked"] == 441
    xs, ys = out["coords"]
    error_map = out["map"]
    assert error_map.shape == (21, 21)
    # the map is the relative error of d/dy: |x/10| / max(x^2, |x^2 + x/10|, floor), 0 on the line x = 0
    X, _ = np.meshgrid(xs, ys, indexing="ij")
    expected = np.abs(X / 10) / np.maximum(np.maximum(X**2, np.abs(X**2 + X / 10)), 1e-6 * np.median(X**2))
    np.testing.assert_allclose(error_map, expected, rtol=1e-9, atol=1e-15)
    assert np.all(error_map[10] == 0.0)  # x = 0: both are 0
    worst = dy["worst"]
    assert abs(worst["point"]["x"]) == pytest.approx(0.1) and worst["relative_error"] == pytest.approx(1.0)


def test_check_uses_the_parameters_of_a_formula_of_numbers(engine):
    out = engine.check_derivatives("k x^2 + y", "d/dx = 2 k x", params={"k": 3.0}, n=5)
    assert out["agrees"] and out["params"] == {"k": 3.0}
    out = engine.check_derivatives("k x^2 + y", "d/dx = 2 x", params={"k": 3.0}, n=5)
    assert not out["agrees"]


def test_draws_where_f_is_undefined_are_left_out(engine):
    """logdet(A) = log(det A) is undefined where det A <= 0 (half the random draws); d/dA = inv(A)^T."""
    out = engine.check_derivatives("A: n x n; logdet(A)", "d/dA = inv(A)^T", draws=40, seed=2)
    (result,) = out["results"]
    assert result["agrees"] and result["checked"] + result["skipped"] == 40 and 5 < result["skipped"] < 35
    assert f"({result['skipped']} where f is undefined left out)" in result["message"]


def test_engine_values_match_typed_inputs(engine):
    A = [[1.0, 2.0], [3.0, 4.0]]
    out = engine.evaluate_matrix("A: 2x2; det(A) + tr(A) + logdet(A^T A)", {"A": A})
    a = np.array(A)
    assert out["value"] == pytest.approx(-2 + 5 + np.log(4.0), rel=1e-12)
    # d/dA det A = det(A) A^-T; d/dA tr A = I; d/dA log det(A^T A) = 2 A^-T
    expected = -2 * np.linalg.inv(a).T + np.eye(2) + 2 * np.linalg.inv(a).T
    np.testing.assert_allclose(out["gradients"]["A"], expected, rtol=1e-12, atol=1e-12)


def test_a_singular_matrix_is_said_so(engine):
    from calcviz.models.tf_lowering import EngineError
    with pytest.raises(EngineError, match="a matrix is not invertible at these values"):
        engine.evaluate_matrix("A: 2x2; sum(inv(A))", {"A": [[1.0, 2.0], [2.0, 4.0]]})


# ----------------------------------------------------------------------------- the two lowerings agree
ARRAY_FORMULAS = [
    "x^T A x", "sum(A .* B) + tr(A B^T)", "det(A) + logdet(A A^T + 1)", "sum(inv(A + 5 B))", "||A x - y||^2",
    "||A||_F + norm1(x) + dot(x, y)", "logsumexp(x) + sum(log(1 + exp(-y .* (A x))))", "sum(x .^ 2 ./ (1 + y .^ 2))",
    "x^T (A + A^T)^T y / 2", "sum(sigmoid(A) .* tanh(B)) + max(sum(x), 1)", "sum(x y^T) - sum(x) sum(y)",
]


@pytest.mark.parametrize("text", ARRAY_FORMULAS)
def test_numpy_and_tensorflow_agree_on_array_formulas(text):
    e = parse(f"x: 4; y: 4; A: 4x4; B: 4x4; {text}")
    values, _ = matrix.inputs_for(e, seed=11)
    numpy_value = float(lowering.evaluate(e, values))
    tf_value = float(tf_lowering.lower(e, {k: tf.constant(v) for k, v in values.items()}, tf.float64))
    assert np.isfinite(numpy_value) and tf_value == pytest.approx(numpy_value, rel=1e-12)


def test_batches_of_draws_give_one_gradient_per_draw():
    from calcviz.models.autodiff import array_gradients
    e = parse("x: 3; A: 3x3; x^T A x")
    (group,) = matrix.check_draws(e, seed=1, count=5)
    _, numbers, inputs = group
    value, grads, _ = array_gradients(e, inputs)
    assert numbers == [0, 1, 2, 3, 4] and grads["x"].shape == (5, 3) and grads["A"].shape == (5, 3, 3)
    for d in range(5):
        x, A = inputs["x"][d], inputs["A"][d]
        assert value[d] == pytest.approx(x @ A @ x)
        np.testing.assert_allclose(grads["x"][d], (A + A.T) @ x, rtol=1e-12)


# ----------------------------------------------------------------------------- the plot's axes are entries
def test_the_quadratic_form_on_the_axes_has_hessian_a_plus_a_transpose(engine):
    text = "x: 2; A: 2x2; x^T A x"
    A = np.array([[1.0, 3.0], [-1.0, 2.0]])  # not symmetric: the Hessian is A + A^T, not 2A
    params = {"A[1,1]": 1.0, "A[1,2]": 3.0, "A[2,1]": -1.0, "A[2,2]": 2.0}
    p = np.array([0.5, -2.0])
    out = engine.evaluate_point(text, {"x[1]": p[0], "x[2]": p[1]}, params)
    assert out["variables"] == ["x[1]", "x[2]"] and out["value"] == pytest.approx(p @ A @ p)
    np.testing.assert_allclose([out["gradient"]["x[1]"], out["gradient"]["x[2]"]], (A + A.T) @ p, rtol=1e-12)
    np.testing.assert_allclose(out["hessian"], A + A.T, rtol=1e-12)
    grid = engine.evaluate_grid(text, ["x[1]", "x[2]"], [(-1, 1), (-2, 2)], 5, params)
    X1, X2 = np.meshgrid(*grid["coords"], indexing="ij")
    np.testing.assert_allclose(grid["value"], A[0, 0] * X1**2 + (A[0, 1] + A[1, 0]) * X1 * X2 + A[1, 1] * X2**2,
                               rtol=1e-5, atol=1e-5)  # float32 grids


def test_a_vector_valued_formula_cannot_be_drawn(engine):
    from calcviz.models.tf_lowering import EngineError
    with pytest.raises(EngineError, match="f has 2 entries: surfaces, gradients and Hessians need a number, such as "
                                          r"\|\|f\|\|\^2 or sum\(f\)"):
        engine.evaluate_grid("x: 2; A: 2x2; A x", ["x[1]", "x[2]"], [(-1, 1), (-1, 1)], 4,
                             {"A[1,1]": 1.0, "A[1,2]": 0.0, "A[2,1]": 0.0, "A[2,2]": 1.0})


def test_the_presets_of_the_chapters_identities_check_out(engine):
    from calcviz import resources
    presets = [p for p in resources.presets() if p.get("group") == "Matrix calculus"]
    assert len(presets) == 4
    for preset in presets:
        out = engine.check_derivatives(preset["text"], preset["derivatives"])
        assert out["agrees"] is True, (preset["name"], [r["message"] for r in out["results"]])


def test_eval_of_x_to_the_power_t_says_how_it_was_read(capsys):
    """Without declarations, the book's x^T A x keeps its meaning of today (x to the power T): said on stderr."""
    code, out, err = run(capsys, "eval", "x^T A x", "--at", "x=3", "--param", "T=2", "A=1", "--json")
    assert code == 0 and strict_json(out)["value"] == 27.0  # 3^2 * 1 * 3
    assert err == ("note: x^T read as x to the power T (for x transposed, declare the shapes first: x: 3; "
                   "A: 3x3)\n")
