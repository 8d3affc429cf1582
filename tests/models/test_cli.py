"""`calcviz eval`: in-process through cli.main (capsys), and through the real entry points in a
subprocess for exit codes and clean stderr."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from calcviz import cli
from reference import CHAIN, LINEAR_APPROX, ONE_VARIABLE, QUADRATIC_APPROX, TEST_FUNCTIONS
from cli_run import run, strict_json

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "calcviz"


def eval_json(capsys, *argv):
    code, out, err = run(capsys, "eval", *argv, "--json")
    assert code == 0 and err == ""
    return strict_json(out)


# ----------------------------------------------------------------------------- --json
def test_seed_linear_approximation_json(capsys):
    data = eval_json(capsys, LINEAR_APPROX["formula"], "--at", "x=0", f"y={math.log(2)!r}")
    assert set(data) == {"variables", "point", "params", "value", "gradient", "hessian", "eigenvalues", "defined",
                         "note", "device"}
    assert data["defined"] == {"value": True, "gradient": True, "hessian": True} and data["note"] == ""
    assert data["variables"] == ["x", "y"]
    assert data["value"] == pytest.approx(math.log(3), abs=1e-12)
    assert data["gradient"]["x"] == pytest.approx(1 / 3, abs=1e-12)
    assert data["gradient"]["y"] == pytest.approx(2 / 3, abs=1e-12)
    assert data["device"] == "CPU" or data["device"].startswith("GPU")


def test_seed_chain_json(capsys):
    at = [f"{n}={v:g}" for n, v in CHAIN["point"].items()]
    data = eval_json(capsys, CHAIN["formula"], "--at", *at, "--device", "cpu")
    assert data["variables"] == ["w", "x", "y", "z"]
    assert data["point"] == CHAIN["point"]
    assert data["value"] == 1024.0
    assert data["gradient"] == CHAIN["gradient"] == {n: -4096.0 for n in "wxyz"}
    assert data["device"] == "CPU"


def test_seed_quadratic_json(capsys):
    data = eval_json(capsys, QUADRATIC_APPROX["formula"], "--at", "x=-1", "y=0")
    assert data["value"] == pytest.approx(-1 / math.e, abs=1e-12)
    assert data["gradient"]["x"] == pytest.approx(-1 / math.e, abs=1e-12)
    assert data["gradient"]["y"] == pytest.approx(0.0, abs=1e-12)
    assert data["hessian"][0] == pytest.approx([2 / math.e, 0.0], abs=1e-12)
    assert data["hessian"][1] == pytest.approx([0.0, 2 / math.e], abs=1e-12)
    assert data["eigenvalues"] == pytest.approx([2 / math.e, 2 / math.e], abs=1e-12)


def test_seed_one_variable_json(capsys):
    for kind, x, f in ONE_VARIABLE["critical_points"]:
        data = eval_json(capsys, ONE_VARIABLE["formula"], "--at", f"x={x:g}")
        assert data["value"] == f and data["gradient"] == {"x": 0.0}
        assert (data["hessian"][0][0] > 0) == (kind == "min")


def test_rosenbrock_spot_check_json(capsys):
    data = eval_json(capsys, TEST_FUNCTIONS["rosenbrock"].formula, "--at", "x=-1", "y=1")
    assert data["value"] == 4.0 and data["gradient"] == {"x": -4.0, "y": 0.0}


def test_parameters_json(capsys):
    data = eval_json(capsys, "k*x^2", "--at", "x=2", "--param", "k=3")
    assert data["params"] == {"k": 3.0} and data["variables"] == ["x"]
    assert data["value"] == 12.0 and data["gradient"] == {"x": 12.0} and data["hessian"] == [[6.0]]


def test_without_at_every_input_is_zero(capsys):
    data = eval_json(capsys, "x^2 + y^2 + 3 + k", "--param", "k=1")
    assert data["point"] == {"x": 0.0, "y": 0.0} and data["value"] == 4.0


def test_nan_is_written_as_null(capsys):
    code, out, err = run(capsys, "eval", "sqrt(x^2+y^2)", "--at", "x=0", "y=0", "--json")
    data = strict_json(out)
    assert code == 1 and err == ""  # not differentiable at the tip: exit 1, the output in full
    assert data["value"] == 0.0
    assert data["gradient"] == {"x": None, "y": None}
    assert data["eigenvalues"] == [None, None]
    assert data["defined"] == {"value": True, "gradient": False, "hessian": False}
    assert data["note"] == "f is not differentiable here: df/dx comes out nan, so its gradient and Hessian are undefined."


@pytest.mark.parametrize("at, note", [
    (["x=-1", "y=0"], "f is not defined here (nan: outside the domain of a function in it, such as log or sqrt of a "
                      "negative number), so its gradient and Hessian are undefined."),
    (["x=0", "y=0"], "f is infinite here (log(0), 1/0 or an overflow), so its gradient and Hessian are undefined."),
])
def test_no_derivatives_where_f_is_undefined(capsys, at, note):
    # TensorFlow's tape gives d/dx log(x) = 1/x = -1 at x = -1, though log(-1) is not a real number
    code, out, err = run(capsys, "eval", "log(x)+y", "--at", *at)
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert "gradient   undefined" in lines and "hessian    undefined" in lines
    assert f"note       {note}" in lines and "df/dx" not in out
    code, out, _ = run(capsys, "eval", "log(x)+y", "--at", *at, "--json")
    data = strict_json(out)
    assert code == 1 and data["gradient"] == {"x": None, "y": None} and data["hessian"] == [[None, None]] * 2
    assert data["defined"] == {"value": False, "gradient": False, "hessian": False} and data["note"] == note


def test_undefined_second_derivatives_only(capsys):
    # |x|^1.5 at 0: f' = 1.5 |x|^0.5 sign(x) = 0, f'' = 0.75 |x|^-0.5 is infinite
    code, out, _ = run(capsys, "eval", "abs(x)^1.5", "--at", "x=0", "--json")
    data = strict_json(out)
    assert code == 1 and data["gradient"] == {"x": 0.0} and data["hessian"] == [[None]]
    assert data["defined"] == {"value": True, "gradient": True, "hessian": False}
    assert data["note"].startswith("f has no second derivatives here: d2f/dxdx comes out")


def test_directional_derivative_by_angle_and_by_vector(capsys):
    # grad (x^2 + 3y) at (1, 2) = (2, 3): along 90 degrees 3; along (1, 1) (2 + 3)/sqrt 2; along (3, 4) 18/5
    data = eval_json(capsys, "x^2 + 3y", "--at", "x=1", "y=2", "--direction", "90")
    assert data["directional"] == {"angle": 90.0, "vector": {"x": 0.0, "y": 1.0}, "unit": {"x": 0.0, "y": 1.0},
                                   "value": 3.0, "normalised": True}
    data = eval_json(capsys, "x^2 + 3y", "--at", "x=1", "y=2", "--direction", "3", "4")
    assert data["directional"]["unit"] == {"x": pytest.approx(0.6), "y": pytest.approx(0.8)}
    assert data["directional"]["value"] == pytest.approx(18 / 5, abs=1e-15)
    assert data["directional"]["angle"] == pytest.approx(math.degrees(math.atan2(4, 3)))
    data = eval_json(capsys, "x^2 + 3y + z", "--at", "x=1", "y=2", "z=0", "--direction", "1", "1", "1")
    assert data["directional"]["value"] == pytest.approx(6 / math.sqrt(3), abs=1e-15)
    assert data["directional"]["angle"] is None
    code, out, _ = run(capsys, "eval", "x^2 + 3y", "--at", "x=1", "y=2", "--direction", "45")
    assert code == 0
    assert "along u    u = (0.7071067812, 0.7071067812) at 45 degrees (normalised): D_u f = grad f . u = " \
           "3.535533906" in out.splitlines()


@pytest.mark.parametrize("argv, phrase", [
    (["x^2 + 3y", "--at", "x=1", "y=2", "--direction", "0", "0"], "must not be the zero vector"),
    (["x^2 + 3y", "--at", "x=1", "y=2", "--direction", "1", "2", "3"],
     "--direction takes an angle in degrees or 2 numbers, one per variable (x, y); got 3"),
    (["x^2 + 3y + z", "--direction", "45"], "--direction takes 3 numbers, one per variable (x, y, z); got 1"),
])
def test_direction_errors(capsys, argv, phrase):
    code, out, err = run(capsys, "eval", *argv)
    assert code == 2 and out == "" and phrase in err


def test_constant_formula(capsys):
    data = eval_json(capsys, "2 pi")
    assert data["value"] == pytest.approx(2 * math.pi, abs=1e-15)
    assert data["variables"] == [] and data["gradient"] == {}
    code, out, err = run(capsys, "eval", "2 pi")
    assert code == 0 and err == "" and "value      6.283185307" in out


def test_leading_minus_needs_double_dash(capsys):
    code, out, err = run(capsys, "eval", "--json", "--at", "x=3", "--", "-x^2")
    assert code == 0 and err == ""
    data = strict_json(out)
    assert data["value"] == -9.0 and data["gradient"] == {"x": -6.0}


# ----------------------------------------------------------------------------- human-readable
def test_human_readable_output(capsys):
    code, out, err = run(capsys, "eval", "x^2 + y^2", "--at", "x=1", "y=2")
    assert code == 0 and err == ""
    assert out.splitlines() == [
        "f(x, y) = x^2 + y^2",
        "at         x = 1, y = 2",
        "value      5",
        "gradient   df/dx = 2, df/dy = 4",
        "hessian    2  0",
        "           0  2",
        "eigenvalues 2, 2",
        "device     CPU",
    ]


def test_human_readable_definitions_and_parameters(capsys):
    code, out, err = run(capsys, "eval", "a = k x\ng = a^2 + y", "--at", "x=0.5", "y=1", "--param", "k=4")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "g(x, y) where a = k * x; g = a^2 + y"
    assert lines[1] == "at         x = 0.5, y = 1; k = 4"
    assert lines[2] == "value      5"
    assert lines[3] == "gradient   dg/dx = 16, dg/dy = 1"
    assert lines[4].split() == ["hessian", "32", "0"] and lines[5].split() == ["0", "0"]


def test_human_readable_seed_value_and_gradient(capsys):
    code, out, _ = run(capsys, "eval", LINEAR_APPROX["formula"], "--at", "x=0", f"y={math.log(2)!r}")
    assert code == 0
    assert "value      1.098612289" in out
    assert "gradient   df/dx = 0.3333333333, df/dy = 0.6666666667" in out


# ----------------------------------------------------------------------------- errors
def test_parse_error_exits_2_with_message_and_caret(capsys):
    code, out, err = run(capsys, "eval", "x^2 + foo(y)", "--at", "x=1", "y=2")
    assert code == 2 and out == ""
    lines = err.splitlines()
    # issue 13: an unknown function is named, with the functions that exist (no "write foo*(...)")
    assert lines[0].startswith("error: unknown function 'foo'. The functions are sin, cos, tan,")
    assert lines[0].endswith("logsumexp (column 7)") and "*(" not in lines[0]
    assert lines[1] == "x^2 + foo(y)"
    assert lines[2] == " " * 6 + "^"
    assert "Traceback" not in err


def test_parse_error_caret_on_the_right_line(capsys):
    code, _, err = run(capsys, "eval", "a = x^2\nf = a +* 2")
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == "error: '*' needs something on its left (line 2, column 8)"
    assert lines[1] == "f = a +* 2"
    assert lines[2].index("^") == 7 and lines[1][7] == "*"


@pytest.mark.parametrize("argv, phrase", [
    (["k*x^2", "--at", "x=1"], "give a value for k (e.g. --param k=1)"),
    (["a*x + b", "--at", "x=1", "--param", "a=2"], "give a value for b"),
    (["x^2", "--at", "x=abc"], "--at x: 'abc' is not a number"),
    (["x^2", "--at", "x"], "--at takes NAME=NUMBER pairs"),
    (["x^2", "--at", "1x=2"], "--at takes NAME=NUMBER pairs"),
    (["x^2", "--at", "x=inf"], "--at x: the value must be finite"),
    (["x^2", "--at", "x=nan"], "--at x: the value must be finite"),
    (["k x", "--at", "x=1", "--param", "k=two"], "--param k: 'two' is not a number"),
    (["x^2", "--at", "z=1"], "'z' does not appear in the formula (it uses x)"),
    (["x +", "--at", "x=1"], "expected a number, a name or '(' after '+'"),
    (["", "--at", "x=1"], "type a function"),
])
def test_user_errors_exit_2_with_a_message(capsys, argv, phrase):
    code, out, err = run(capsys, "eval", *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and phrase in err
    assert "Traceback" not in err


def test_gpu_without_gpu_exits_2(capsys):
    from calcviz.models import tf_lowering
    if tf_lowering._GPUS:
        pytest.skip("a GPU is present")
    code, out, err = run(capsys, "eval", "x", "--at", "x=1", "--device", "gpu")
    assert code == 2 and "no GPU" in err


def test_bad_arguments_are_argparse_errors(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["eval", "x", "--device", "tpu"])
    assert info.value.code == 2
    assert "invalid choice: 'tpu'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        cli.main(["eval"])
    assert info.value.code == 2


# ----------------------------------------------------------------------------- real processes
def _run_process(args, timeout=120):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def test_entry_point_script_json():
    exe = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "calcviz"]
    p = _run_process([*exe, "eval", CHAIN["formula"], "--at", "w=-1", "x=0", "y=-2", "z=1", "--json"])
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr and p.stderr.strip() == ""
    data = strict_json(p.stdout)
    assert data["value"] == 1024.0 and data["gradient"] == CHAIN["gradient"]


def test_module_entry_point_errors_exit_2_without_traceback():
    p = _run_process([sys.executable, "-m", "calcviz", "eval", "sin(x, y)", "--at", "x=1", "y=2"])
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.splitlines() == ["error: sin takes 1 argument, got 2 (column 1)", "sin(x, y)", "^"]
    p = _run_process([sys.executable, "-m", "calcviz", "eval", "k*x^2", "--at", "x=1"])
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.strip() == "error: give a value for k (e.g. --param k=1)"
    p = _run_process([sys.executable, "-m", "calcviz", "eval", "x^2", "--at", "x=abc"])
    assert p.returncode == 2 and "Traceback" not in p.stderr and "'abc' is not a number" in p.stderr


def test_tensorflow_is_not_loaded_for_a_typo():
    code = ("import sys; from calcviz.cli import main; rc = main(['eval', 'x +']); "
            "print(rc, 'tensorflow' in sys.modules)")
    p = _run_process([sys.executable, "-c", code], timeout=60)
    assert p.stdout.split() == ["2", "False"], p.stderr


def test_window_without_a_display_says_how_to_run_it():
    """No DISPLAY: a clear message naming xvfb-run and exit 1, not a Qt crash."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "-m", "calcviz"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    assert "no display" in done.stderr and "xvfb-run" in done.stderr and "Traceback" not in done.stderr


# ----------------------------------------------------------------------------- --param, in every subcommand
@pytest.mark.parametrize("argv, message", [
    (["eval", "e*x", "--at", "x=1", "--param", "e=3"], "--param e: e is a constant (2.718281828), not a parameter"),
    (["eval", "x*y", "--at", "x=1", "y=2", "--param", "x=5"], "x is given by both --at and --param"),
    (["eval", "x*y", "--at", "x=1", "y=2", "--param", "q=3"], "--param q: the formula has no input q (its inputs: x, y)"),
    (["approx", "x*y", "--at", "x=1", "y=2", "--param", "y=5"], "y is given by both --at and --param"),
    (["approx", "pi*x", "--param", "pi=3"], "--param pi: pi is a constant (3.141592654), not a parameter"),
    (["critical", "k x^2 + y^2", "--param", "k=1", "q=2"], "--param q: the formula has no input q (its inputs: x, y, k)"),
    (["descend", "x^2 + y^2", "--from", "x=1", "y=1", "--param", "x=2"], "x is given by both --from and --param"),
    (["descend", "x^2 + y^2", "--from", "x=1", "y=1", "--param", "e=2"], "--param e: e is a constant"),
    (["backprop", "a = x*y; f = a^2", "--at", "x=1", "--param", "x=2"], "x is given by both --at and --param"),
    (["backprop", "a = x*y; f = a^2", "--param", "a=2"], "--param a: the formula has no input a (its inputs: x, y)"),
])
def test_params_that_would_be_ignored_are_refused(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith("error: " + message)


def test_a_param_may_fix_an_input_the_point_does_not_give(capsys):
    data = eval_json(capsys, "x*y", "--param", "x=5")  # y is the variable, at 0
    assert data["variables"] == ["y"] and data["params"] == {"x": 5.0} and data["gradient"] == {"y": 5.0}


# ----------------------------------------------------------------------------- a reader that leaves early
@pytest.mark.parametrize("argv", [
    ["eval", "x^2 + y", "--at", "x=1", "y=2"],
    ["critical", "(x^2+y-11)^2 + (x+y^2-7)^2"],
    ["approx", "x^2 + y", "--at", "x=1", "y=2"],
    ["descend", "x^2 + y^2", "--from", "x=1", "y=1"],
    ["descend", "x^2 + y^2", "--from", "x=1", "y=1", "--json"],
    ["descend", "x^2 + y^2", "--from", "x=1", "y=1", "--csv", "-"],
    ["backprop", "a = x*y; f = a^2", "--at", "x=1", "y=2"],
])
def test_a_closed_output_pipe_ends_quietly(argv):
    """`calcviz ... | head -0`: the reader is gone before the first line. Exit 1, nothing on stderr."""
    read, write = os.pipe()
    os.close(read)
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    try:
        done = subprocess.run([sys.executable, "-m", "calcviz", *argv, "--device", "cpu"], stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=120, cwd=ROOT, env=env)
    finally:
        os.close(write)
    assert done.returncode == 1 and done.stderr == ""


@pytest.mark.parametrize("output", [["--json"], ["--csv", "-"]])
def test_head_takes_the_first_line_of_a_long_descent(output):
    """`calcviz descend ... --steps 200000 --json | head -1` through a real shell pipe: the first line,
    then a quiet end long before the 200,000 steps are written."""
    command = (f"'{sys.executable}' -m calcviz descend 'x^2 + y^2' --from x=1 y=1 --lr 1e-6 --steps 200000 "
               f"--tol 0 --device cpu {' '.join(output)} | head -1; echo \"status ${{PIPESTATUS[0]}}\"")
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=300, cwd=ROOT)
    first = "{" if output == ["--json"] else "run,optimizer,step,x,y,value,grad_norm"
    assert done.stdout.splitlines() == [first, "status 1"] and done.stderr == ""


def test_the_window_refuses_a_fifo_as_its_session_without_waiting(tmp_path):
    """`calcviz FIFO.json` is refused before any window is made (it blocked start-up forever)."""
    fifo = tmp_path / "session.json"
    os.mkfifo(fifo)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}  # (a "display": the session is read first)
    done = subprocess.run([sys.executable, "-m", "calcviz", str(fifo)], capture_output=True, text=True, env=env,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr == f"calcviz: {fifo} is not a regular file (a named pipe (FIFO)), so it cannot be a session file\n"
