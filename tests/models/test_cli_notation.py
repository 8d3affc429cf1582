"""The command line takes formulas as readers write them (issue 13): constant formulas where numbers are
expected (--at y=log(2), --param k=pi/4), formulas that start with '-', and a --help that names every command."""
from __future__ import annotations

import importlib.metadata
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from calcviz import cli, headless
from cli_run import run, strict_json
from reference import LINEAR_APPROX

ROOT = Path(__file__).resolve().parents[2]


def json_of(capsys, *argv):
    code, out, err = run(capsys, *argv, "--device", "cpu", "--json")
    assert code == 0 and err == "", err
    return strict_json(out)


# ----------------------------------------------------------------------------- constant formulas as values
def test_the_seed_point_typed_as_the_book_writes_it(capsys):
    data = json_of(capsys, "eval", LINEAR_APPROX["formula"], "--at", "x=0", "y=log(2)")
    assert data["point"] == {"x": 0.0, "y": math.log(2)}
    assert data["value"] == pytest.approx(math.log(3), abs=1e-15)
    assert data["gradient"]["x"] == pytest.approx(1 / 3, abs=1e-15)


def test_parameters_and_starts_take_constant_formulas(capsys):
    data = json_of(capsys, "eval", "k x", "--at", "x=2", "--param", "k=pi/4")
    assert data["params"] == {"k": math.pi / 4} and data["value"] == pytest.approx(math.pi / 2, rel=1e-15)
    data = json_of(capsys, "descend", "x^2", "--from", "x=-sqrt(2)", "--steps", "1", "--lr", "0.25")
    run0 = data["runs"][0]
    assert run0["start"] == {"x": -math.sqrt(2)}
    assert run0["point"]["x"] == pytest.approx(-math.sqrt(2) / 2, rel=1e-15)   # x - 0.25 * 2x


@pytest.mark.parametrize("value, phrase", [
    ("y=log(k)", "--at y: 'log(k)' is not a number, nor a formula of numbers ('k' has no value here"),
    ("y=xy", "--at y: 'xy' is not a number, nor a formula of numbers ('x' has no value here"),
    ("y=log(2", "this '(' is never closed"),
    ("y=log(0)", "--at y: the value must be finite"),
    ("y=1/0", "--at y: the value must be finite"),
])
def test_values_with_free_names_or_errors_are_refused(capsys, value, phrase):
    code, out, err = run(capsys, "eval", "x + y", "--at", "x=1", value)
    assert code == 2 and out == "" and phrase in err and "Traceback" not in err


def test_constant_values_load_no_tensorflow():
    code = ("import sys; from calcviz.cli import assignments; "
            "print(assignments(['y=log(2)', 'k=2pi'], '--at'), 'tensorflow' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.stdout.strip() == f"{{'y': {math.log(2)!r}, 'k': {2 * math.pi!r}}} False", p.stderr


# ----------------------------------------------------------------------------- formulas that start with '-'
def test_eval_of_a_formula_starting_with_minus(capsys):
    data = json_of(capsys, "eval", "-x^2", "--at", "x=3")
    assert data["value"] == -9.0 and data["gradient"] == {"x": -6.0}
    data = json_of(capsys, "eval", "--at", "x=3", "y=1", "--json", "-xy")  # anywhere, and -xy is -x·y
    assert data["value"] == -3.0


def test_every_command_takes_a_formula_starting_with_minus(capsys):
    data = json_of(capsys, "critical", "-x^2-y^2", "--x", "-1", "1", "--y", "-1", "1")
    (point,) = data["critical_points"]
    assert point["type"] == "max" and point["point"] == {"x": 0.0, "y": 0.0}
    data = json_of(capsys, "approx", "-x^2", "--at", "x=1", "--eps", "-0.5")
    assert data["true"] == -0.25 and data["linear"] == 0.0 and data["quadratic"] == -0.25
    data = json_of(capsys, "descend", "-1 + x^2", "--from", "x=1", "--lr", "0.5", "--steps", "3")
    assert data["runs"][0]["point"] == {"x": 0.0} and data["runs"][0]["value"] == -1.0
    data = json_of(capsys, "backprop", "-x y", "--at", "x=2", "y=3")
    assert data["gradient"] == {"x": -3.0, "y": -2.0}


def test_export_takes_a_formula_starting_with_minus():
    args = cli.parse_arguments(headless.build_parser(),
                               headless._joined(["-x^2-y^2", "--view", "contour", "--out", "c.png", "--x", "-2,2"]))
    assert args.expr == "-x^2-y^2" and args.x == "-2,2" and args.view == "contour"


def test_negative_numbers_stay_values(capsys):
    args = cli.parse_arguments(cli.build_parser(), ["approx", "x^2", "--at", "x=1", "--eps", "-0.03", "-.5"])
    assert args.expr == "x^2" and args.eps == [-0.03, -0.5]
    args = cli.parse_arguments(cli.build_parser(), ["critical", "-x^2", "--x", "-1", "2"])
    assert args.expr == "-x^2" and args.x == [-1.0, 2.0]


# ----------------------------------------------------------------------------- --help and --version
def _calcviz(*argv) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return subprocess.run([sys.executable, "-m", "calcviz", *argv], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env=env)


def test_help_names_every_command():
    p = _calcviz("--help")
    assert p.returncode == 0 and p.stderr == ""
    listed = [line.split()[0] for line in p.stdout.split("commands (")[1].splitlines()[1:] if line.strip()]
    assert listed == ["(none)", "eval", "critical", "approx", "descend", "backprop", "check", "export"]
    assert "open the window" in p.stdout


def test_version():
    p = _calcviz("--version")
    assert p.returncode == 0 and p.stdout.strip() == f"calcviz {importlib.metadata.version('calcviz')}"
