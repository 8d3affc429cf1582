"""DescentPanel: what the user's edits and clicks emit, what setup() reports, and what set_* shows."""
import math
import re

import pytest
from PyQt6.QtCore import QPoint, Qt
from PyQt6.QtGui import QColor
from PyQt6.QtWidgets import QAbstractSlider, QCheckBox

from calcviz.models import descent
from calcviz.models.race import WINDOW_MAX_STEPS
from calcviz.views.descent_panel import (
    CONVERGED_TINT, DIVERGED_COLOR, OPTIMIZER_COLORS, OPTIMIZER_LABELS, DescentPanel, lr_at,
)
from ui import show, type_into  # noqa: E402

DEFAULT_SETUP = {"optimizers": ["gd"], "lr": 0.01, "hyperparameters": {"gd": {}}, "schedule": {"name": "constant"},
                 "steps_per_click": 1, "max_steps": 1000, "tol": 1e-6, "speed": 20.0, "start_mode": "shared"}


@pytest.fixture
def panel(qtbot):
    widget = show(qtbot, DescentPanel(), 420, 1000)
    widget.set_variables(["x", "y"])
    return widget


def click(qtbot, widget):
    """A left click; on a check box, on its indicator (its centre may lie past the text)."""
    pos = QPoint(8, widget.height() // 2) if isinstance(widget, QCheckBox) else widget.rect().center()
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=pos)


def visible_hyperparameter_boxes(panel):
    return [name for name, box in panel.hyper_boxes.items() if box.isVisible()]


# --- constants -------------------------------------------------------------------------------------
def test_every_optimizer_has_a_label_and_a_distinct_colour():
    assert list(OPTIMIZER_COLORS) == list(descent.OPTIMIZERS) == list(OPTIMIZER_LABELS)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in OPTIMIZER_COLORS.values())
    assert len(set(OPTIMIZER_COLORS.values())) == len(OPTIMIZER_COLORS)
    for color in OPTIMIZER_COLORS.values():  # none too pale to see on white
        assert QColor(color).lightnessF() < 0.75


# --- defaults and optimizers -------------------------------------------------------------------------
def test_defaults(panel):
    assert panel.setup() == DEFAULT_SETUP
    assert [n for n, c in panel.optimizer_checks.items() if c.isChecked()] == ["gd"]
    assert [c.text() for c in panel.optimizer_checks.values()] == [
        "GD (plain)", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam", "Newton"]
    for name, check in panel.optimizer_checks.items():  # the name, and the published form it follows
        assert OPTIMIZER_LABELS[name] in check.toolTip() and descent.OPTIMIZER_FORMS[name] in check.toolTip()
    assert "0.1" in panel.optimizer_checks["adagrad"].toolTip()  # AdaGrad's accumulator starts at 0.1
    for name, check in panel.optimizer_checks.items():  # each name written in its run's colour
        assert check.palette().color(check.foregroundRole()) == QColor(OPTIMIZER_COLORS[name])
    assert visible_hyperparameter_boxes(panel) == []
    assert panel.lr_box.text() == "0.01" and panel.lr_slider.value() == -20
    assert panel.tol_box.text() == "1e-06"
    assert (panel.speed_slider.minimum(), panel.speed_slider.maximum(), panel.speed_slider.value()) == (1, 200, 20)
    assert panel.max_steps_spin.maximum() == WINDOW_MAX_STEPS == 20_000 < descent.MAX_STEPS
    assert panel.run_button.text() == "Run" and panel.run_button.isCheckable() and not panel.run_button.isChecked()
    assert "Space" in panel.step_button.toolTip() and "Ctrl+R" in panel.run_button.toolTip()
    assert panel.message_text() == ""


def test_checking_optimizers_changes_setup_and_shows_their_hyperparameters(panel, qtbot):
    with qtbot.waitSignal(panel.setupChanged, timeout=1000) as blocker:
        click(qtbot, panel.optimizer_checks["adam"])
    setup = blocker.args[0]
    assert setup["optimizers"] == ["gd", "adam"]
    assert setup["hyperparameters"] == {"gd": {}, "adam": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}}
    assert visible_hyperparameter_boxes(panel) == ["adam"]
    assert panel.hyper_fields["adam"]["epsilon"].text() == "1e-07"

    click(qtbot, panel.optimizer_checks["momentum"])
    click(qtbot, panel.optimizer_checks["gd"])
    assert panel.setup()["optimizers"] == ["momentum", "adam"]  # OPTIMIZERS order, not click order
    assert panel.setup()["hyperparameters"] == {"momentum": {"momentum": 0.9},
                                                "adam": {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}}
    assert visible_hyperparameter_boxes(panel) == ["momentum", "adam"]
    with qtbot.waitSignal(panel.setupChanged, timeout=1000) as blocker:
        type_into(qtbot, panel.hyper_fields["momentum"]["momentum"], "0.5")
    assert blocker.args[0]["hyperparameters"]["momentum"] == {"momentum": 0.5}

    click(qtbot, panel.optimizer_checks["adam"])
    assert visible_hyperparameter_boxes(panel) == ["momentum"]
    assert "adam" not in panel.setup()["hyperparameters"]


def test_the_last_optimizer_cannot_be_unchecked(panel, qtbot):
    with qtbot.assertNotEmitted(panel.setupChanged, wait=50):
        click(qtbot, panel.optimizer_checks["gd"])
    assert panel.optimizer_checks["gd"].isChecked()
    assert panel.setup()["optimizers"] == ["gd"]
    assert panel.message_text() == "Keep at least one optimizer checked"


# --- learning rate -------------------------------------------------------------------------------------
def test_typed_learning_rate_moves_the_slider(panel, qtbot):
    with qtbot.waitSignal(panel.setupChanged, timeout=1000) as blocker:
        type_into(qtbot, panel.lr_box, "0.003")
    assert blocker.args[0]["lr"] == 0.003
    assert panel.setup()["lr"] == 0.003
    assert panel.lr_slider.value() == -25  # log10(0.003) = -2.52 -> the nearest tenth of a decade
    type_into(qtbot, panel.lr_box, "2e-4")
    assert panel.setup()["lr"] == 2e-4 and panel.lr_slider.value() == -37
    assert panel.lr_box.text() == "0.0002"


def test_slider_gives_log_spaced_rates(panel, qtbot):
    with qtbot.waitSignal(panel.setupChanged, timeout=1000) as blocker:
        panel.lr_slider.setValue(-10)
    assert blocker.args[0]["lr"] == 0.1 and panel.lr_box.text() == "0.1"
    panel.lr_slider.setFocus()
    rates = []
    for _ in range(5):
        qtbot.keyClick(panel.lr_slider, Qt.Key.Key_Right)
        rates.append(panel.setup()["lr"])
    assert rates == [0.13, 0.16, 0.2, 0.25, 0.32]
    qtbot.keyClick(panel.lr_slider, Qt.Key.Key_PageUp)  # one decade
    assert panel.setup()["lr"] == 3.2
    panel.lr_slider.triggerAction(QAbstractSlider.SliderAction.SliderToMinimum)
    assert panel.setup()["lr"] == 1e-5
    panel.lr_slider.triggerAction(QAbstractSlider.SliderAction.SliderToMaximum)
    assert panel.setup()["lr"] == 10.0
    # Every slider step multiplies the rate by 10^0.1 (to the two digits shown).
    for k in range(panel.lr_slider.minimum(), panel.lr_slider.maximum()):
        assert lr_at(k + 1) / lr_at(k) == pytest.approx(10 ** 0.1, rel=0.05)


def test_slider_drag_shows_the_rate_and_commits_on_release(panel, qtbot):
    with qtbot.assertNotEmitted(panel.setupChanged, wait=50):
        panel.lr_slider.setSliderDown(True)
        panel.lr_slider.setSliderPosition(-30)  # dragging: the box follows, nothing is committed yet
    assert panel.lr_box.text() == "0.001" and panel.setup()["lr"] == 0.01
    with qtbot.waitSignal(panel.setupChanged, timeout=1000) as blocker:
        panel.lr_slider.setSliderDown(False)
    assert blocker.args[0]["lr"] == 0.001


def test_typed_rate_beyond_the_slider_widens_it(panel, qtbot):
    type_into(qtbot, panel.lr_box, "50")
    assert panel.setup()["lr"] == 50.0
    assert panel.lr_slider.maximum() == panel.lr_slider.value() == 17
    type_into(qtbot, panel.lr_box, "1e-7")
    assert panel.setup()["lr"] == 1e-7
    assert panel.lr_slider.minimum() == panel.lr_slider.value() == -70
    assert panel.message_text() == ""


# --- refused input -------------------------------------------------------------------------------------
@pytest.mark.parametrize("box, typed, message, kept", [
    ("lr_box", "abc", "The learning rate must be a number (got 'abc'); kept 0.01", 0.01),
    ("lr_box", "0", "The learning rate must be positive (got 0); kept 0.01", 0.01),
    ("lr_box", "-1", "The learning rate must be positive (got -1); kept 0.01", 0.01),
    ("tol_box", "-1e-3", "The tolerance must not be negative (got -0.001); kept 1e-06", 1e-6),
    ("tol_box", "nan", "The tolerance must be a number (got 'nan'); kept 1e-06", 1e-6),
])
def test_bad_input_is_refused_and_the_old_value_kept(panel, qtbot, box, typed, message, kept):
    field = getattr(panel, box)
    with qtbot.assertNotEmitted(panel.setupChanged, wait=50):
        type_into(qtbot, field, typed)
    assert panel.message_text() == message
    assert panel.message.styleSheet().startswith("color: #c62828")
    assert field.value() == kept and field.text() == {0.01: "0.01", 1e-6: "1e-06"}[kept]
    assert panel.setup()["lr" if box == "lr_box" else "tol"] == kept


def test_a_good_entry_clears_the_refusal(panel, qtbot):
    type_into(qtbot, panel.lr_box, "x")
    assert panel.message_text() != ""
    type_into(qtbot, panel.tol_box, "0")  # zero tolerance is allowed: run to max_steps
    assert panel.setup()["tol"] == 0.0
    assert panel.message_text() == ""


def test_hyperparameters_are_checked_like_the_engine_does(panel, qtbot):
    click(qtbot, panel.optimizer_checks["adam"])
    beta_1 = panel.hyper_fields["adam"]["beta_1"]
    with qtbot.assertNotEmitted(panel.setupChanged, wait=50):
        type_into(qtbot, beta_1, "1")
    assert panel.message_text() == "Adam: beta_1 must be in [0, 1) (got 1); kept 0.9"
    assert beta_1.text() == "0.9" and panel.setup()["hyperparameters"]["adam"]["beta_1"] == 0.9
    with qtbot.waitSignal(panel.setupChanged, timeout=1000):
        type_into(qtbot, beta_1, "0.8")
    assert panel.setup()["hyperparameters"]["adam"]["beta_1"] == 0.8
    assert panel.message_text() == ""


# --- schedule, steps, speed ------------------------------------------------------------------------------
def test_schedule_parameters_show_when_relevant(panel, qtbot):
    form = panel.settings_form
    rows = (panel.decay_steps_spin, panel.decay_rate_box, panel.alpha_box)
    assert [w.isVisible() for w in rows] == [False, False, False]
    panel.schedule_combo.setFocus()
    with qtbot.waitSignal(panel.setupChanged, timeout=1000) as blocker:
        qtbot.keyClick(panel.schedule_combo, Qt.Key.Key_Down)
    assert blocker.args[0]["schedule"] == {"name": "exponential", "decay_steps": 1000, "decay_rate": 0.1}
    assert [w.isVisible() for w in rows] == [True, True, False]
    with qtbot.waitSignal(panel.setupChanged, timeout=1000) as blocker:
        type_into(qtbot, panel.decay_rate_box, "0.5")
    assert blocker.args[0]["schedule"]["decay_rate"] == 0.5
    type_into(qtbot, panel.decay_rate_box, "-2")
    assert panel.message_text() == "The schedule's decay_rate must be positive; kept 0.5"
    qtbot.keyClick(panel.schedule_combo, Qt.Key.Key_Down)
    assert [w.isVisible() for w in rows] == [True, False, True]
    type_into(qtbot, panel.decay_steps_spin, "200")
    type_into(qtbot, panel.alpha_box, "0.25")
    assert panel.setup()["schedule"] == {"name": "cosine", "decay_steps": 200, "alpha": 0.25}
    type_into(qtbot, panel.alpha_box, "2")
    assert panel.message_text() == "The schedule's alpha must be in [0, 1]; kept 0.25"
    assert descent.check_schedule(panel.setup()["schedule"], 1000) == panel.setup()["schedule"]
    assert form.isRowVisible(panel.alpha_box)


def test_steps_tolerance_and_speed(panel, qtbot):
    with qtbot.waitSignal(panel.setupChanged, timeout=1000) as blocker:
        type_into(qtbot, panel.steps_per_click_spin, "5")
    assert blocker.args[0]["steps_per_click"] == 5
    type_into(qtbot, panel.max_steps_spin, "250")
    type_into(qtbot, panel.tol_box, "1e-9")
    assert panel.tol_box.text() == "1e-09"
    with qtbot.waitSignal(panel.setupChanged, timeout=1000) as blocker:
        panel.speed_slider.setValue(120)
    assert blocker.args[0]["speed"] == 120.0
    setup = panel.setup()
    assert (setup["steps_per_click"], setup["max_steps"], setup["tol"], setup["speed"]) == (5, 250, 1e-9, 120.0)


# --- set_setup ---------------------------------------------------------------------------------------
def test_set_setup_round_trips_without_emitting(panel, qtbot):
    setup = {"optimizers": ["nesterov", "rmsprop", "newton"], "lr": 0.0042,
             "hyperparameters": {"nesterov": {"momentum": 0.7}, "rmsprop": {"rho": 0.95, "epsilon": 1e-8},
                                 "newton": {"damping": 0.5}},
             "schedule": {"name": "cosine", "decay_steps": 300, "alpha": 0.1},
             "steps_per_click": 10, "max_steps": 5000, "tol": 1e-10, "speed": 75.0, "start_mode": "each"}
    with qtbot.assertNotEmitted(panel.setupChanged, wait=50), qtbot.assertNotEmitted(panel.startTyped, wait=50):
        panel.set_setup(setup)
    assert panel.setup() == setup
    assert visible_hyperparameter_boxes(panel) == ["nesterov", "rmsprop", "newton"]
    assert panel.alpha_box.isVisible() and not panel.decay_rate_box.isVisible()
    assert panel.lr_box.text() == "0.0042" and panel.lr_slider.value() == -24
    assert panel.start_optimizer_combo.isVisible()
    panel.set_setup(DEFAULT_SETUP)
    assert panel.setup() == DEFAULT_SETUP
    assert visible_hyperparameter_boxes(panel) == [] and not panel.start_optimizer_combo.isVisible()
    panel.set_setup({"lr": 0.5})  # the rest stays
    assert panel.setup() == {**DEFAULT_SETUP, "lr": 0.5}


# --- buttons ---------------------------------------------------------------------------------------------
def test_buttons_emit(panel, qtbot):
    with qtbot.waitSignal(panel.stepRequested, timeout=1000):
        click(qtbot, panel.step_button)
    with qtbot.waitSignal(panel.runToggled, timeout=1000) as blocker:
        click(qtbot, panel.run_button)
    assert blocker.args == [True] and panel.run_button.text() == "Pause"
    with qtbot.waitSignal(panel.runToggled, timeout=1000) as blocker:
        click(qtbot, panel.run_button)
    assert blocker.args == [False] and panel.run_button.text() == "Run"
    with qtbot.waitSignal(panel.resetRequested, timeout=1000):
        click(qtbot, panel.reset_button)
    with qtbot.waitSignal(panel.setStartToggled, timeout=1000) as blocker:
        click(qtbot, panel.set_start_button)
    assert blocker.args == [True] and panel.set_start_button.isChecked()


def test_set_running_busy_and_start_picking_do_not_emit(panel, qtbot):
    with qtbot.assertNotEmitted(panel.runToggled, wait=50), qtbot.assertNotEmitted(panel.setStartToggled, wait=50):
        panel.set_running(True)
        panel.set_start_picking(True)
    assert panel.run_button.isChecked() and panel.run_button.text() == "Pause"
    assert panel.set_start_button.isChecked()
    panel.set_running(False)
    assert panel.run_button.text() == "Run"
    panel.set_busy(True)
    assert not panel.step_button.isEnabled() and panel.run_button.isEnabled() and panel.reset_button.isEnabled()
    panel.set_busy(False)
    assert panel.step_button.isEnabled()


def test_set_message(panel):
    panel.set_message("Adam diverged: the value became inf", error=True)
    assert panel.message_text() == "Adam diverged: the value became inf" and panel.message.isVisible()
    assert panel.message.styleSheet() == "color: #c62828;"
    panel.set_message("3 runs")
    assert panel.message_text() == "3 runs" and panel.message.styleSheet() == ""
    panel.set_message("")
    assert panel.message_text() == "" and not panel.message.isVisible()


# --- start point -------------------------------------------------------------------------------------
def test_typing_a_shared_start(panel, qtbot):
    assert list(panel.start_fields) == ["x", "y"]
    assert not panel.start_optimizer_combo.isVisible()
    with qtbot.assertNotEmitted(panel.startTyped, wait=50):
        type_into(qtbot, panel.start_fields["x"], "1")
    assert panel.message_text() == "Type the start's y too"
    with qtbot.waitSignal(panel.startTyped, timeout=1000) as blocker:
        type_into(qtbot, panel.start_fields["y"], "-2.5")
    assert blocker.args == [[{"x": 1.0, "y": -2.5}]]
    assert panel.message_text() == ""
    type_into(qtbot, panel.start_fields["y"], "q")
    assert panel.message_text() == "Y must be a number (got 'q'); kept -2.5"
    assert panel.start_fields["y"].text() == "-2.5"


def test_set_start_shows_points_without_emitting(panel, qtbot):
    with qtbot.assertNotEmitted(panel.startTyped, wait=50):
        panel.set_start([{"x": 0.5, "y": 0.123456789}])
    assert (panel.start_fields["x"].text(), panel.start_fields["y"].text()) == ("0.5", "0.123457")
    assert panel.starts() == [{"x": 0.5, "y": 0.123456789}]
    panel.set_variables(["x", "y", "z"])  # new variables: new fields, the common values kept
    assert list(panel.start_fields) == ["x", "y", "z"]
    assert [f.text() for f in panel.start_fields.values()] == ["0.5", "0.123457", ""]


def test_one_start_each(panel, qtbot):
    click(qtbot, panel.optimizer_checks["momentum"])
    panel.set_start([{"x": 0.5, "y": 0.25}])
    panel.start_mode_combo.setFocus()
    with qtbot.waitSignal(panel.setupChanged, timeout=1000) as blocker:
        qtbot.keyClick(panel.start_mode_combo, Qt.Key.Key_Down)
    assert blocker.args[0]["start_mode"] == "each"
    combo = panel.start_optimizer_combo
    assert combo.isVisible() and [combo.itemText(i) for i in range(combo.count())] == ["Gradient descent", "Momentum"]
    combo.setCurrentIndex(1)
    with qtbot.waitSignal(panel.startTyped, timeout=1000) as blocker:
        type_into(qtbot, panel.start_fields["x"], "3")
    assert blocker.args == [[{"x": 0.5, "y": 0.25}, {"x": 3.0, "y": 0.25}]]
    combo.setCurrentIndex(0)  # the fields show gd's start again
    assert panel.start_fields["x"].text() == "0.5"
    panel.set_start([{"x": -1, "y": -2}, {"x": 4, "y": 5}])  # one per checked optimizer, in order
    assert panel.start_fields["x"].text() == "-1"
    combo.setCurrentIndex(1)
    assert (panel.start_fields["x"].text(), panel.start_fields["y"].text()) == ("4", "5")
    assert panel.starts() == [{"x": -1, "y": -2}, {"x": 4, "y": 5}]


# --- the runs table ---------------------------------------------------------------------------------------
RUNS = [
    {"optimizer": "gd", "color": OPTIMIZER_COLORS["gd"], "steps": 37, "value": -0.999999123456, "grad_norm": 8.5e-7,
     "status": "converged", "message": "", "reached": "min (0, 0)"},
    {"optimizer": "adam", "label": "Adam (start 2)", "color": OPTIMIZER_COLORS["adam"], "steps": 12,
     "value": math.inf, "grad_norm": math.nan, "status": "diverged", "message": "the value became inf", "reached": ""},
    {"optimizer": "newton", "color": OPTIMIZER_COLORS["newton"], "steps": 1000, "value": 2.5, "grad_norm": 0.0123,
     "status": "max_steps", "message": "", "reached": ""},
]


def table_text(panel):
    return [[panel.table.item(r, c).text() for c in range(panel.table.columnCount())]
            for r in range(panel.table.rowCount())]


def test_set_runs_fills_the_table(panel):
    panel.set_runs(RUNS)
    assert [panel.table.horizontalHeaderItem(c).text() for c in range(6)] == ["run", "steps", "f", "|∇f|",
                                                                              "status", "reached"]
    assert table_text(panel) == [
        ["Gradient descent", "37", "-0.999999", "8.5e-07", "✓ converged", "min (0, 0)"],
        ["Adam (start 2)", "12", "∞", "undefined", "⚠ diverged", ""],
        ["Newton", "1000", "2.5", "0.0123", "max steps", ""],
    ]
    converged = panel.table.item(0, 4)
    assert converged.font().bold() and converged.background().color() == QColor(CONVERGED_TINT)
    diverged = [panel.table.item(1, c) for c in range(6)]
    assert all(item.foreground().color() == QColor(DIVERGED_COLOR) for item in diverged)
    assert all(item.toolTip() == "the value became inf" for item in diverged)
    assert not diverged[0].font().bold()
    plain = panel.table.item(2, 2)
    assert not plain.font().bold() and plain.toolTip() == "" and plain.foreground().style() == Qt.BrushStyle.NoBrush
    swatch = panel.table.item(1, 0).icon().pixmap(12, 12).toImage()
    assert swatch.pixelColor(6, 6) == QColor(OPTIMIZER_COLORS["adam"])


def test_set_runs_updates_in_place(panel):
    panel.set_runs([{**RUNS[0], "status": "running", "steps": 1, "value": 3.0, "grad_norm": 2.0, "reached": ""}])
    item = panel.table.item(0, 2)
    assert table_text(panel) == [["Gradient descent", "1", "3", "2", "running…", ""]]
    assert not item.font().bold()
    panel.set_runs([RUNS[0], RUNS[2]])
    assert panel.table.item(0, 2) is item  # the same item, new text
    assert item.text() == "-0.999999" and item.font().bold()
    width = panel.table.fontMetrics().horizontalAdvance("-0.999999")
    assert panel.table.columnWidth(2) > width  # the column grew with its longer text
    assert panel.run_count() == 2
    panel.set_runs([{**RUNS[0], "status": "running"}])  # restyled back, one row left
    assert panel.run_count() == 1 and not panel.table.item(0, 2).font().bold()
    assert panel.table.item(0, 2).background().style() == Qt.BrushStyle.NoBrush


def test_clicking_a_run_emits_its_row(panel, qtbot):
    panel.set_runs(RUNS)
    rect = panel.table.visualItemRect(panel.table.item(2, 1))
    with qtbot.waitSignal(panel.runChosen, timeout=1000) as blocker:
        qtbot.mouseClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert blocker.args == [2]
