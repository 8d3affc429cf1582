"""`calcviz critical` and `calcviz approx`: in-process through cli.main (capsys), and once through the
real entry point for the exit code and a clean stderr."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from calcviz import cli
from reference import COORD_TOL, HIMMELBLAU, LINEAR_APPROX, ONE_VARIABLE, QUADRATIC_APPROX
from cli_run import run, strict_json

ROOT = Path(__file__).resolve().parents[2]


def as_json(capsys, *argv):
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0 and err == ""
    return strict_json(out)


def test_commands_are_registered():
    assert {"eval", "critical", "approx"} <= set(cli.COMMANDS)


# ----------------------------------------------------------------------------- critical
def test_critical_json_himmelblau(capsys):
    data = as_json(capsys, "critical", HIMMELBLAU.formula, "--device", "cpu")  # default box [-5, 5]^2
    assert set(data) == {"axes", "ranges", "params", "critical_points", "curves", "box_min", "box_max", "complete",
                         "note", "resolution"}
    assert data["axes"] == ["x", "y"] and data["complete"] is True and data["curves"] == []
    # the maximum (f = 181.6) is local: f(5, 5) = 890
    assert data["box_max"] == {"value": 890.0, "point": {"x": 5.0, "y": 5.0}, "where": "corner"}
    assert data["note"].startswith("f is larger at a corner: 890 at (x, y) = (5, 5)")
    assert data["resolution"] == {"x": pytest.approx(10 / 47), "y": pytest.approx(10 / 47)}
    points = data["critical_points"]
    assert len(points) == 9
    for ref in HIMMELBLAU.critical_points:
        (p,) = [p for p in points
                if abs(p["point"]["x"] - ref.x) <= COORD_TOL and abs(p["point"]["y"] - ref.y) <= COORD_TOL]
        assert p["type"] == ref.kind and p["value"] == pytest.approx(ref.f, abs=COORD_TOL)
        assert set(p) == {"point", "value", "type", "eigenvalues", "zero_eigenvalues", "grad_norm", "global_min",
                          "global_max"}
        assert p["zero_eigenvalues"] == 0
    assert [p["value"] for p in points] == sorted(p["value"] for p in points)


def test_critical_json_one_variable(capsys):
    data = as_json(capsys, "critical", ONE_VARIABLE["formula"], "--x", "-2", "3")
    assert data["axes"] == ["x"]
    got = [(p["type"], p["point"]["x"], p["value"], p["global_min"]) for p in data["critical_points"]]
    assert got == [("min", 2.0, -32.0, True), ("min", -1.0, -5.0, False), ("max", 0.0, 0.0, False)]


def test_critical_box_and_parameters(capsys):
    data = as_json(capsys, "critical", "(x-a)^2 - (y-1)^2", "--x", "0", "4", "--y", "-2", "2", "--param", "a=3")
    (p,) = data["critical_points"]
    assert p["point"] == {"x": 3.0, "y": 1.0} and p["type"] == "saddle" and p["eigenvalues"] == [-2.0, 2.0]
    data = as_json(capsys, "critical", "(x-a)^2 - (y-1)^2", "--x", "4", "5", "--param", "a=3")
    assert data["critical_points"] == [] and data["complete"] is True


def test_critical_incomplete_note_in_json(capsys):
    data = as_json(capsys, "critical", "x^3 - 3x y^2", "--x", "-1", "1", "--y", "-1", "1")
    (p,) = data["critical_points"]
    assert p["type"] == "degenerate" and "inconclusive" in data["note"] and p["zero_eigenvalues"] == 2
    data = as_json(capsys, "critical", "exp(-(x^2+y^2)*100)")
    assert data["complete"] is False and "the search may be incomplete because" in data["note"]


def test_critical_human_readable(capsys):
    code, out, err = run(capsys, "critical", QUADRATIC_APPROX["formula"], "--x", "-2", "2", "--y", "-2", "2")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "f(x, y) = x * e^(-x^2 - y^2)"
    assert lines[1] == "box        x in [-2, 2], y in [-2, 2]"
    assert lines[2] == "found      2 critical points: 1 min, 1 max"
    header = next(line for line in lines if line.startswith("type"))
    assert header.split() == ["type", "x", "y", "f", "eigenvalues", "|grad", "f|"]
    rows = [line for line in lines if line.startswith(("min", "max"))]
    assert rows[0].startswith("min (global min)") and "-0.7071067812" in rows[0] and "-0.4288819425" in rows[0]
    assert rows[1].startswith("max (global max)") and "0.7071067812" in rows[1] and "0.4288819425" in rows[1]
    assert "complete   yes" in lines and lines[-1] == "device     CPU"


def test_critical_human_readable_note(capsys):
    code, out, _ = run(capsys, "critical", "x^4 + y^4")
    assert code == 0
    assert "complete   yes" in out and "note       At (" in out and "inconclusive" in out
    # Its Hessian at the origin is 0: the eigenvalues the classification counted as zero read 0, not round-off.
    (row,) = [line for line in out.splitlines() if line.startswith("degenerate")]
    assert "  0, 0  " in row
    code, out, _ = run(capsys, "critical", "x^2 + y^4")
    (row,) = [line for line in out.splitlines() if line.startswith("degenerate")]
    assert "  0, 2  " in row


# ----------------------------------------------------------------------------- approx
def test_approx_json_seed_example(capsys):
    ex = LINEAR_APPROX
    data = as_json(capsys, "approx", ex["formula"], "--at", "x=0", f"y={math.log(2)!r}", "--eps", "0.01", "-0.03")
    assert data["linear"] == pytest.approx(ex["linear_value"], abs=1e-7)
    assert data["true"] == pytest.approx(ex["true_value"], abs=1e-7)
    assert data["linear_error"] == pytest.approx(ex["true_value"] - ex["linear_value"], abs=2e-7)
    assert data["gradient"] == {"x": pytest.approx(1 / 3, abs=1e-15), "y": pytest.approx(2 / 3, abs=1e-15)}
    assert data["eps"] == ex["eps"]
    assert data["newton_step"] is None and data["stable_learning_rate"] is None
    assert data["errors"]["slope_linear"] == pytest.approx(2.0, abs=0.05)
    assert data["errors"]["slope_quadratic"] == pytest.approx(3.0, abs=0.05)
    assert "seconds" not in data and data["device"] == "CPU"


def test_approx_json_newton_and_learning_rate(capsys):
    data = as_json(capsys, "approx", QUADRATIC_APPROX["formula"], "--at", "x=-1", "y=0")
    assert data["newton_point"] == {"x": pytest.approx(-0.5, abs=1e-15), "y": pytest.approx(0.0, abs=1e-15)}
    assert data["stable_learning_rate"] == pytest.approx(math.e, rel=1e-14)
    assert data["hessian"] == [[pytest.approx(2 / math.e), 0.0], [0.0, pytest.approx(2 / math.e)]]


def test_approx_without_at_uses_zero_and_nan_is_null(capsys):
    data = as_json(capsys, "approx", "x^2 + k y", "--param", "k=2")
    assert data["point"] == {"x": 0.0, "y": 0.0} and data["gradient"] == {"x": 0.0, "y": 2.0}
    data = as_json(capsys, "approx", "log(x)", "--at", "x=-1")
    assert data["value"] is None and data["errors"]["slope_linear"] is None


def test_approx_human_readable(capsys):
    code, out, err = run(capsys, "approx", LINEAR_APPROX["formula"], "--at", "x=0", f"y={math.log(2)!r}",
                         "--eps", "0.01", "-0.03")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "f(x, y) = log(e^x + e^y)"
    assert lines[1] == "at           x = 0, y = 0.6931471806"
    assert lines[2] == "eps          x = 0.01, y = -0.03"
    assert "true         f(p + eps) = 1.082124182" in lines
    assert any(line.startswith("linear       1.081945622   error 1.786e-04") for line in lines)
    assert "newton step  none (the Hessian is not positive definite)" in lines
    assert any(line.startswith("error slopes along v = (0.4472135955, 0.894427191): linear 1.99") for line in lines)
    code, out, _ = run(capsys, "approx", QUADRATIC_APPROX["formula"], "--at", "x=-1", "y=0")
    assert "newton step  (0.5, 0) to (-0.5, 0)" in out
    assert "2/lambda_max = 2.718281828" in out


def test_approx_prints_the_models_as_formulas(capsys):
    code, out, _ = run(capsys, "approx", LINEAR_APPROX["formula"], "--at", "x=0", f"y={math.log(2)!r}")
    assert code == 0
    lines = out.splitlines()
    # f = log 3, grad = (1/3, 2/3), H = [[2/9, -2/9], [-2/9, 2/9]]: 1/2 H_xx = 1/9, H_xy = -2/9
    assert "tangent      f ≈ 1.0986 + 0.33333(x - 0) + 0.66667(y - 0.69315)" in lines
    assert ("2nd order    f ≈ 1.0986 + 0.33333(x - 0) + 0.66667(y - 0.69315) + 0.11111(x - 0)^2 "
            "- 0.22222(x - 0)(y - 0.69315) + 0.11111(y - 0.69315)^2") in lines
    # the seed's quadratic model e^-1 (-1 - (x+1) + (x+1)^2 + y^2), not the book's 2(x+1)^2 + 2y^2
    data = as_json(capsys, "approx", QUADRATIC_APPROX["formula"], "--at", "x=-1", "y=0")
    assert data["linear_formula"] == "f ≈ -0.36788 - 0.36788(x + 1)"
    assert data["quadratic_formula"] == "f ≈ -0.36788 - 0.36788(x + 1) + 0.36788(x + 1)^2 + 0.36788(y - 0)^2"
    data = as_json(capsys, "approx", "log(x)", "--at", "x=-1")
    assert data["linear_formula"] is None and data["quadratic_formula"] is None


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("argv, phrase", [
    (["critical", "x^2 +"], "expected a number, a name or '(' after '+'"),
    (["critical", "x^2", "--x", "3", "-2"], "a range must go from a smaller to a larger finite number"),
    (["critical", "x^2", "--x", "0", "inf"], "a range must go from a smaller to a larger finite number"),
    (["critical", "x^2", "--y", "0", "1"], "--y gives a second axis"),
    (["critical", "k x^2 + y^2"], "give a value for k"),
    (["critical", "k", "--param", "k=1"], "no variable to search over"),
    (["critical", "x^2", "--seeds", "1"], "seeds per side must be a whole number"),
    (["critical", "x^2 + y^2", "--param", "k"], "--param takes NAME=NUMBER pairs"),
    (["approx", "x^2 + y^2", "--at", "x=0", "y=0", "--eps", "0.1"], "eps needs 2 numbers"),
    (["approx", "x^2 + y^2", "--at", "x=0", "y=0", "--direction", "0", "0"], "zero vector"),
    (["approx", "x^2 + y^2", "--at", "x=0", "y=0", "--eps", "nan", "1"], "--eps: the values must be finite"),
    (["approx", "x^2", "--at", "z=1"], "'z' does not appear in the formula"),
    (["approx", "x +"], "expected a number"),
])
def test_user_errors_exit_2_with_a_message(capsys, argv, phrase):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and phrase in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [["critical", "x", "--x", "1"], ["critical", "x", "--x", "a", "b"],
                                  ["approx", "x", "--eps", "one"], ["critical"]])
def test_malformed_arguments_are_argparse_errors(capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2


def test_entry_point_critical_json_and_error_exit():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    p = subprocess.run([sys.executable, "-m", "calcviz", "critical", "x^2 - y^2", "--json", "--device", "cpu"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert p.returncode == 0 and p.stderr.strip() == "", p.stderr
    (point,) = strict_json(p.stdout)["critical_points"]
    assert point["type"] == "saddle" and point["point"] == {"x": 0.0, "y": 0.0}
    p = subprocess.run([sys.executable, "-m", "calcviz", "approx", "x^2", "--at", "x=1", "--eps", "1", "2"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert p.returncode == 2 and p.stdout == "" and "Traceback" not in p.stderr
    assert p.stderr.strip() == "error: eps needs 1 number, one per variable (x); got 2"
