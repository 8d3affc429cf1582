"""`calcviz backprop`: the chain-rule network through the CLI (in-process with capsys, and one real process)."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli_run import run, strict_json
from reference import CHAIN, CHAIN_NETWORK, QUADRATIC_APPROX

ROOT = Path(__file__).resolve().parents[2]
SEED_AT = ["--at", "w=-1", "x=0", "y=-2", "z=1"]
KEYS = {"output", "value", "inputs", "at", "gradient", "nodes", "edges", "backward_order", "paths", "path_counts",
        "path_sums", "paths_truncated", "operations", "forward_mode_gradient", "max_check_error", "device"}


def backprop_json(capsys, *argv):
    code, out, err = run(capsys, "backprop", *argv, "--json")
    assert code == 0 and err == ""
    return strict_json(out)


def test_seed_json(capsys):
    data = backprop_json(capsys, CHAIN["formula"], *SEED_AT, "--device", "cpu")
    assert set(data) == KEYS
    assert data["value"] == 1024.0 and data["at"] == CHAIN["point"] and data["inputs"] == ["w", "x", "y", "z"]
    nodes = {n["name"]: n for n in data["nodes"]}
    assert {n: nodes[n]["value"] for n in "abuv"} == CHAIN["intermediates"]
    assert {n: nodes[n]["adjoint"] for n in "abuv"} == CHAIN["partials"]
    assert data["gradient"] == data["forward_mode_gradient"] == data["path_sums"] == CHAIN["gradient"]
    assert {c: nodes[c]["local_partials"] for c in "abuvf"} == CHAIN_NETWORK["local_partials"]
    assert data["path_counts"] == {n: 4 for n in "wxyz"}
    assert [p["product"] for p in data["paths"]["w"]] == list(CHAIN_NETWORK["path_products"])
    ops = data["operations"]
    assert {k: ops[k] for k in ("edges", "inputs", "forward_mode", "reverse_mode")} == CHAIN_NETWORK["operations"]
    assert data["max_check_error"] == 0.0 and data["device"] == "CPU"


def test_seed_text(capsys):
    code, out, err = run(capsys, "backprop", CHAIN["formula"], *SEED_AT, "--device", "cpu")
    assert code == 0 and err == ""
    lines = [line.strip() for line in out.splitlines()]
    assert lines[0] == "f(w, x, y, z) where " + "; ".join(
        ["a = (w + x + y + z)^2", "b = (w + x - y - z)^2", "u = (a + b)^2", "v = (a - b)^2", "f = (u + v)^2"])
    assert lines[1] == "at         w = -1, x = 0, y = -2, z = 1"
    forward = lines[lines.index("forward pass (inputs to output)") + 1:]
    assert forward[0].split() == ["node", "kind", "formula", "value"]
    assert forward[1].split() == ["w", "input", "-1"]
    assert forward[5].split() == ["a", "definition", "(w", "+", "x", "+", "y", "+", "z)^2", "4"]
    assert forward[9].split() == ["f", "output", "(u", "+", "v)^2", "1024"]
    start = next(k for k, line in enumerate(lines) if line.startswith("backward pass"))
    assert lines[start + 1].split() == ["node", "df/d(node)", "chain", "rule"]
    backward = {line.split()[0]: line for line in lines[start + 2:start + 11]}
    assert list(backward) == ["f", "v", "u", "b", "a", "z", "y", "x", "w"]
    assert backward["f"].endswith("df/df = 1")
    assert backward["u"].endswith("df/du = df/df*df/du = 1*64 = 64")
    assert backward["a"].split(maxsplit=2) == ["a", "1024", "df/da = df/du*du/da + df/dv*dv/da = 64*8 + 64*8 = 1024"]
    assert backward["b"].endswith("df/db = df/du*du/db + df/dv*dv/db = 64*8 + 64*(-8) = 0")
    assert backward["w"].endswith("df/dw = df/da*da/dw + df/db*db/dw = 1024*(-4) + 0*0 = -4096")
    assert "gradient   df/dw = -4096, df/dx = -4096, df/dy = -4096, df/dz = -4096" in lines
    assert "paths      w: 4 (sum -4096), x: 4 (sum -4096), y: 4 (sum -4096), z: 4 (sum -4096)" in lines
    assert "operations 14 edges, 4 inputs: forward mode 32 multiplications, reverse mode 14" in lines
    assert lines[-1] == "device     CPU"


def test_expand_json(capsys):
    data = backprop_json(capsys, "x*exp(-x^2-y^2)", "--at", "x=-1", "y=0", "--expand")
    assert [n["label"] for n in data["nodes"]] == ["x", "y", "^2", "neg", "^2", "-", "exp", "f"]
    assert len(data["edges"]) == 8
    assert data["gradient"] == pytest.approx(QUADRATIC_APPROX["gradient"], abs=1e-15)
    data = backprop_json(capsys, "x*exp(-x^2-y^2)", "--at", "x=-1", "y=0")
    assert [n["name"] for n in data["nodes"]] == ["x", "y", "f"]


def test_params_are_inputs_and_at_defaults_to_zero(capsys):
    data = backprop_json(capsys, "k*x^2", "--at", "x=2", "--param", "k=3")
    assert data["inputs"] == ["k", "x"] and data["gradient"] == {"k": 4.0, "x": 12.0}
    data = backprop_json(capsys, "a = x + 1; f = a*y")
    assert data["at"] == {"x": 0.0, "y": 0.0} and data["gradient"] == {"x": 0.0, "y": 1.0}


@pytest.mark.parametrize("argv, message", [
    ([CHAIN["formula"], "--at", "w=-1", "x=0", "y=-2"], "error: give a value for z"),
    (["x^2", "--at", "x=1", "q=2"], "error: 'q' is not an input of the formula (its inputs are x)"),
    (["k*x", "--at", "x=1", "k=2", "--param", "k=3"], "error: k is given by both --at and --param"),
    (["x^2", "--at", "x=abc"], "error: --at x: 'abc' is not a number"),
    (["log(x)", "--at", "x=-1"], "error: the value of f is nan at this point"),
])
def test_user_errors_exit_2(capsys, argv, message):
    code, out, err = run(capsys, "backprop", *argv)
    assert code == 2 and out == ""
    assert err.startswith(message) and "Traceback" not in err


def test_parse_error_has_a_caret(capsys):
    code, out, err = run(capsys, "backprop", "a = x^2; f = a +* 2", "--at", "x=1")
    assert code == 2 and out == ""
    assert err.splitlines() == ["error: '*' needs something on its left (column 17)",
                                "a = x^2; f = a +* 2", " " * 16 + "^"]


def test_real_process_json_and_clean_stderr():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    p = subprocess.run([sys.executable, "-m", "calcviz", "backprop", CHAIN["formula"], *SEED_AT, "--json"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert p.returncode == 0 and p.stderr.strip() == "", p.stderr
    data = strict_json(p.stdout)
    assert data["value"] == 1024.0 and data["gradient"] == CHAIN["gradient"]
    assert not math.isnan(data["max_check_error"])
