"""`calcviz descend`: in-process through cli.main (capsys)."""
from __future__ import annotations

import csv
import errno
import os

import pytest

from calcviz import cli
from reference import HIMMELBLAU, ONE_VARIABLE, ROSENBROCK, SPHERE
from cli_run import run, strict_json


def as_json(capsys, *argv):
    code, out, err = run(capsys, "descend", *argv, "--device", "cpu", "--json")
    assert code == 0 and err == ""
    return strict_json(out)


def test_command_is_registered():
    assert "descend" in cli.COMMANDS


def test_json_race_on_rosenbrock(capsys):
    data = as_json(capsys, ROSENBROCK.formula, "--from", "x=-1.5", "y=2", "--optimizer", "gd,momentum,newton",
                   "--lr", "0.001", "--steps", "200")
    runs = data["runs"]
    assert [r["optimizer"] for r in runs] == ["gd", "momentum", "newton"]
    for r in runs:
        assert {"optimizer", "hyperparameters", "status", "steps", "message", "path"} <= set(r)
        assert r["path"][0]["step"] == 0 and r["path"][0]["point"] == {"x": -1.5, "y": 2.0}
        assert r["path"][0]["value"] == pytest.approx(12.5, abs=1e-12)  # 2.5^2 + 100 (2 - 2.25)^2
        assert len(r["path"]) == r["steps"] + 1
    assert runs[0]["status"] == "max_steps" and runs[0]["steps"] == 200
    assert runs[1]["hyperparameters"] == {"momentum": 0.9}
    assert runs[2]["status"] == "converged" and runs[2]["path"][-1]["point"] == {"x": pytest.approx(1.0),
                                                                                  "y": pytest.approx(1.0)}
    assert data["device"] == "CPU" and "seconds" not in data


def test_json_diverging_run_says_why_with_nulls_not_nan(capsys):
    data = as_json(capsys, ROSENBROCK.formula, "--from", "x=-1.5", "y=2", "--lr", "0.01", "--steps", "100")
    (r,) = data["runs"]
    assert r["status"] == "diverged" and r["steps"] <= 10 and "2/lambda_max" in r["message"]
    assert r["path"][-1]["update"] is None


def test_json_hyperparameters_schedule_and_params(capsys):
    data = as_json(capsys, "k x^2 + y^2", "--from", "x=1", "y=1", "--param", "k=2", "--optimizer", "adam,momentum",
                   "--beta1", "0.8", "--beta2", "0.99", "--momentum", "0.5", "--schedule", "cosine", "--steps", "10",
                   "--lr", "0.1")
    adam, momentum = data["runs"]
    assert adam["hyperparameters"] == {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-7}
    assert momentum["hyperparameters"] == {"momentum": 0.5}
    assert adam["schedule"] == {"name": "cosine", "decay_steps": 10.0, "alpha": 0.0}
    assert adam["path"][0]["gradient"] == {"x": 4.0, "y": 2.0} and data["params"] == {"k": 2.0}
    assert adam["path"][5]["learning_rate"] == pytest.approx(0.05)


def test_one_start_per_optimizer(capsys):
    data = as_json(capsys, SPHERE.formula, "--optimizer", "gd,adam", "--from", "x=1", "y=1", "--from", "x=-2", "y=0",
                   "--steps", "3")
    assert [r["start"] for r in data["runs"]] == [{"x": 1.0, "y": 1.0}, {"x": -2.0, "y": 0.0}]


def test_csv_one_row_per_step_and_run(capsys, tmp_path):
    path = tmp_path / "descent.csv"
    code, out, err = run(capsys, "descend", HIMMELBLAU.formula, "--from", "x=0", "y=0", "--optimizer", "gd,adam",
                         "--lr", "0.01", "--steps", "5", "--tol", "0", "--csv", str(path), "--device", "cpu")
    assert code == 0 and out == "" and err == ""
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == ["run", "optimizer", "step", "x", "y", "value", "grad_norm"]
    assert len(rows) == 2 * 6
    assert [(r["run"], r["optimizer"], r["step"]) for r in rows[:2]] == [("0", "gd", "0"), ("0", "gd", "1")]
    assert rows[6]["optimizer"] == "adam" and float(rows[6]["value"]) == 170.0
    assert float(rows[1]["x"]) == pytest.approx(0.14) and float(rows[1]["y"]) == pytest.approx(0.22)
    data = as_json(capsys, HIMMELBLAU.formula, "--from", "x=0", "y=0", "--optimizer", "gd,adam",
                   "--lr", "0.01", "--steps", "5", "--tol", "0")
    flat = [p for r in data["runs"] for p in r["path"]]
    assert [float(r["x"]) for r in rows] == [p["point"]["x"] for p in flat]


def test_one_variable_summary(capsys):
    code, out, err = run(capsys, "descend", ONE_VARIABLE["formula"], "--from", "x=3", "--device", "cpu")
    assert code == 0 and err == ""
    assert "f(x) = " in out and "converged" in out and "run 0 (gd): converged at step" in out
    line = [ln for ln in out.splitlines() if ln.startswith("0 ")][0]
    assert "(3)" in line and "(2)" in line and "-32" in line


@pytest.mark.parametrize("argv, phrase", [
    (["x^2 + y^2", "--from", "x=1", "y=1", "--optimizer", "sgd"], "unknown optimizer 'sgd'"),
    (["x^2 + y^2", "--from", "x=1", "y=oops"], "is not a number"),
    (["x^2 + y^2", "--from", "x=1"], "give a value for y"),
    (["x^2 + y^2", "--from", "x=1", "y=1", "--lr", "-1"], "learning rate must be positive"),
    (["x^2 + y^2", "--from", "x=1", "y=1", "--momentum", "2"], "momentum must be in"),
    (["x^2 + y^2", "--from", "x=1", "y=1", "--optimizer", "gd,adam,newton", "--from", "x=0", "y=0"],
     "one per optimizer"),
    (["x^2 +", "--from", "x=1"], ""),
])
def test_user_errors_exit_2_with_a_message(capsys, argv, phrase):
    code, out, err = run(capsys, "descend", *argv, "--device", "cpu")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and phrase in err and "Traceback" not in err


@pytest.mark.parametrize("argv", [
    ["x^2", "--from"],                                   # --from without a value
    ["x^2"],                                             # no --from at all
    ["x^2", "--from", "x=1", "--schedule", "linear"],
    ["x^2", "--from", "x=1", "--json", "--csv", "f.csv"],
])
def test_argument_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.main(["descend", *argv])
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


def test_the_table_says_what_a_run_reached(capsys):
    code, out, _ = run(capsys, "descend", "x^2 - y^2", "--from", "x=1", "y=0", "--lr", "0.1", "--device", "cpu")
    assert code == 0
    (row,) = [line for line in out.splitlines() if line.startswith("0 ")]
    assert row.split()[2:4] == ["converged", "(saddle)"]
    assert "run 0 (gd): converged at step 86" in out and "a nudge would leave it" in out
    data = as_json(capsys, "x^2 - y^2", "--from", "x=1", "y=0", "--lr", "0.1")
    (r,) = data["runs"]
    assert r["reached"] == "saddle" and r["status"] == "converged" and r["reached_eigenvalues"] == [-2.0, 2.0]


def test_help_names_each_optimizers_published_form(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["descend", "--help"])
    assert info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name in ("gd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "newton"):
        assert f" {name} " in text
    assert "a starting at 0.1 (keras' initial_accumulator_value, not 0)" in text
    assert "Nesterov's accelerated gradient in keras' form" in text


# ----------------------------------------------------------------------------- long runs, files, faults
def test_paths_are_asked_for_only_when_printed(capsys, tmp_path, monkeypatch):
    """The table prints no path, so none is made; CSV and JSON take the path as numpy columns (one
    dict per step of a million-step run took gigabytes)."""
    from calcviz.models.engine import Engine
    asked = []
    real = Engine.descend

    def spy(self, *args, **kwargs):
        asked.append(kwargs.get("path", True))
        return real(self, *args, **kwargs)
    monkeypatch.setattr(Engine, "descend", spy)
    argv = ["descend", SPHERE.formula, "--from", "x=1", "y=1", "--steps", "5", "--device", "cpu"]
    for extra in ([], ["--json"], ["--csv", "-"], ["--csv", str(tmp_path / "d.csv")]):
        assert run(capsys, *argv, *extra)[0] == 0
    assert asked == [False, "columns", "columns", "columns"]


def test_long_paths_stream_the_same_records_as_the_engine_gives(capsys):
    """10,000 steps: the JSON and CSV writers go through the path in chunks; records across a chunk's
    end are the engine's own."""
    from calcviz.models.engine import Engine
    argv = [HIMMELBLAU.formula, "--from", "x=0", "y=0", "--optimizer", "adam,newton", "--lr", "1e-4",
            "--steps", "10000", "--tol", "0"]
    data = as_json(capsys, *argv)
    reference = Engine("cpu").descend(HIMMELBLAU.formula, {"x": 0.0, "y": 0.0}, optimizers=["adam", "newton"],
                                      lr=1e-4, steps=10000, tol=0.0)
    adam, newton = data["runs"]
    assert len(adam["path"]) == 10001 and adam["status"] == "max_steps"
    for k in (0, 4095, 4096, 8191, 8192, 10000):
        assert adam["path"][k] == reference["runs"][0]["path"][k]
    assert newton["path"] == reference["runs"][1]["path"]  # converged early: a short path
    code, out, err = run(capsys, "descend", *argv, "--device", "cpu", "--csv", "-")
    rows = list(csv.reader(out.splitlines()))
    assert code == 0 and len(rows) == 1 + 10001 + len(newton["path"])
    assert rows[4097] == ["0", "adam", "4096", *(repr(adam["path"][4096]["point"][n]) for n in "xy"),
                          repr(adam["path"][4096]["value"]), repr(adam["path"][4096]["grad_norm"])]


CSV_ARGS = [SPHERE.formula, "--from", "x=1", "y=1", "--lr", "0.001", "--steps", "3000", "--tol", "0",
            "--device", "cpu", "--csv"]


def test_csv_on_a_full_disk_keeps_the_old_file(capsys, tmp_path, small_disk):
    disk = small_disk(tmp_path / "disk", 64, {"d.csv": "old,content\n"})
    code, out, err = run(capsys, "descend", *CSV_ARGS, str(disk / "d.csv"))  # ~200 KB of rows
    assert (code, out) == (2, "")
    assert err == "error: cannot save d.csv: the disk is full\n"
    assert (disk / "d.csv").read_text() == "old,content\n" and os.listdir(disk) == ["d.csv"]


def test_csv_failing_at_the_end_keeps_the_old_file(capsys, tmp_path, monkeypatch):
    """The same without mount rights: the disk fills as the data is flushed to it (fsync)."""
    from calcviz.models import storage
    target = tmp_path / "d.csv"
    target.write_text("old,content\n")

    def fsync(fd):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(storage.os, "fsync", fsync)
    code, out, err = run(capsys, "descend", *CSV_ARGS, str(target))
    assert (code, out, err) == (2, "", "error: cannot save d.csv: the disk is full\n")
    assert target.read_text() == "old,content\n" and os.listdir(tmp_path) == ["d.csv"]


def test_csv_after_a_refused_request_keeps_the_old_file(capsys, tmp_path):
    target = tmp_path / "d.csv"
    target.write_text("old,content\n")
    code, out, err = run(capsys, "descend", SPHERE.formula, "--from", "x=1", "--device", "cpu", "--csv", str(target))
    assert (code, out) == (2, "") and "give a value for y" in err
    assert target.read_text() == "old,content\n" and os.listdir(tmp_path) == ["d.csv"]


@pytest.mark.parametrize("where, message", [
    ("nope/d.csv", "error: cannot save d.csv: the folder {tmp}/nope does not exist"),
    ("file/d.csv", "error: cannot save d.csv: {tmp}/file is not a folder"),
    ("folder", "error: cannot save {tmp}/folder: it is a folder"),
    ("/proc/d.csv", "error: cannot save d.csv: the folder /proc does not take new files (it belongs to the "
                    "system, not to storage)"),
])
def test_csv_to_a_place_that_cannot_take_it(capsys, tmp_path, where, message):
    (tmp_path / "file").write_text("a file")
    (tmp_path / "folder").mkdir()
    code, out, err = run(capsys, "descend", *CSV_ARGS, str(tmp_path / where))
    assert (code, out) == (2, "")
    assert err == message.format(tmp=tmp_path) + "\n"
    assert sorted(os.listdir(tmp_path)) == ["file", "folder"] and os.listdir(tmp_path / "folder") == []


def test_csv_on_a_read_only_disk(capsys, tmp_path, small_disk):
    disk = small_disk(tmp_path / "ro", 64, {"old.csv": "old\n"}, read_only=True)
    for name in ("new.csv", "old.csv"):
        code, out, err = run(capsys, "descend", *CSV_ARGS, str(disk / name))
        assert (code, out) == (2, "")
        assert err == f"error: cannot save {name}: the folder {disk} is on a read-only disk\n"
    assert os.listdir(disk) == ["old.csv"]
