"""DomainPanel and ParametersPanel: what the user's edits emit, and what set_* shows (silently)."""
import pytest
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QAbstractSlider

from calcviz.views.panels import NO_PARAMETERS, DomainPanel, NumberBox, ParametersPanel
from ui import show, type_into  # noqa: E402

PARAMS = {"a": {"value": 1.0, "min": -5.0, "max": 5.0},
          "sigma": {"value": 0.25, "min": 0.01, "max": 2.0}}






@pytest.fixture
def domain(qtbot):
    panel = show(qtbot, DomainPanel())
    panel.set_domain((-2, 2), (-1, 3), 200)
    return panel


@pytest.fixture
def params(qtbot):
    return show(qtbot, ParametersPanel())


# --- NumberBox --------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, text", [(-2.0, "-2"), (0.25, "0.25"), (1e-5, "1e-05"), (3.14159265, "3.14159")])
def test_number_box_shows_compact_numbers(qtbot, value, text):
    box = NumberBox(None)
    qtbot.addWidget(box)
    box.setValue(value)
    assert box.text() == text


def test_number_box_takes_typed_numbers(qtbot):
    box = show(qtbot, NumberBox(None))
    for typed, value in (("-2.5", -2.5), ("1e-3", 0.001), ("abc7", 7.0)):  # letters are refused as typed
        type_into(qtbot, box, typed)
        assert box.value() == value


# --- DomainPanel ------------------------------------------------------------------------------------
def test_domain_defaults(qtbot):
    panel = show(qtbot, DomainPanel())
    assert panel.grid_spin.value() == 200
    assert (panel.grid_spin.minimum(), panel.grid_spin.maximum()) == (2, 2000)
    assert panel.x_min.minimum() <= -1e6 and panel.x_max.maximum() >= 1e6
    assert not panel.horizontal_combo.isVisible() and not panel.vertical_combo.isVisible()
    assert panel.error() is None


def test_editing_a_range_emits_the_domain(domain, qtbot):
    with qtbot.waitSignal(domain.domainChanged, timeout=1000) as blocker:
        type_into(qtbot, domain.x_max, "5")
    assert blocker.args == [{"x": (-2.0, 5.0), "y": (-1.0, 3.0), "n": 200}]
    with qtbot.waitSignal(domain.domainChanged, timeout=1000) as blocker:
        type_into(qtbot, domain.y_min, "-0.5")
    assert blocker.args == [{"x": (-2.0, 5.0), "y": (-0.5, 3.0), "n": 200}]


def test_typing_emits_once_on_enter_not_per_key(domain, qtbot):
    emitted = []
    domain.domainChanged.connect(emitted.append)
    type_into(qtbot, domain.x_min, "-12.75")
    assert emitted == [{"x": (-12.75, 2.0), "y": (-1.0, 3.0), "n": 200}]


def test_grid_resolution(domain, qtbot):
    with qtbot.waitSignal(domain.domainChanged, timeout=1000) as blocker:
        type_into(qtbot, domain.grid_spin, "350")
    assert blocker.args[0]["n"] == 350
    with qtbot.waitSignal(domain.domainChanged, timeout=1000) as blocker:
        qtbot.keyClick(domain.grid_spin, Qt.Key.Key_Up)  # one step of 50
    assert blocker.args[0]["n"] == 400


def test_lower_end_at_or_above_upper_end_is_refused(domain, qtbot):
    with qtbot.assertNotEmitted(domain.domainChanged, wait=50):
        type_into(qtbot, domain.x_min, "3")
    assert domain.error_label.isVisible()
    assert domain.error() == "x: the range must go from a smaller to a larger number (now 3 to 2)"
    assert domain.error_label.styleSheet().startswith("color: #c62828")
    with qtbot.assertNotEmitted(domain.domainChanged, wait=50):
        type_into(qtbot, domain.y_max, "-1")  # equal ends are refused too (x is still wrong anyway)
    # Fixing x leaves y wrong: still nothing, and the message now names y.
    with qtbot.assertNotEmitted(domain.domainChanged, wait=50):
        type_into(qtbot, domain.x_max, "4")
    assert domain.error().startswith("y:")
    with qtbot.waitSignal(domain.domainChanged, timeout=1000) as blocker:
        type_into(qtbot, domain.y_max, "1")
    assert blocker.args == [{"x": (3.0, 4.0), "y": (-1.0, 1.0), "n": 200}]
    assert not domain.error_label.isVisible() and domain.error() is None


def test_refit_button(domain, qtbot):
    with qtbot.waitSignal(domain.refitRequested, timeout=1000):
        qtbot.mouseClick(domain.refit_button, Qt.MouseButton.LeftButton)


def test_set_domain_shows_values_without_emitting(domain, qtbot):
    with qtbot.assertNotEmitted(domain.domainChanged, wait=50):
        domain.set_domain((0.5, 1.5), (-10, 10), 64)
        domain.set_domain((-3, 3), None, 80)  # None leaves y as it is
    assert domain.domain() == {"x": (-3.0, 3.0), "y": (-10.0, 10.0), "n": 80}
    assert (domain.x_min.text(), domain.x_max.text(), domain.grid_spin.text()) == ("-3", "3", "80")


def test_set_domain_clears_a_shown_error(domain, qtbot):
    type_into(qtbot, domain.x_min, "3")
    assert domain.error() is not None
    domain.set_domain((-1, 1), (-1, 1), 100)
    assert domain.error() is None and not domain.error_label.isVisible()


def test_one_dimensional_hides_y_and_ignores_it(domain, qtbot):
    domain.set_domain((-2, 2), (5, 1), 200)  # y is wrong but irrelevant for one variable
    domain.set_one_dimensional(True)
    assert not domain.y_min.isVisible() and not domain.y_caption.isVisible()
    assert domain.error() is None
    with qtbot.waitSignal(domain.domainChanged, timeout=1000) as blocker:
        type_into(qtbot, domain.x_max, "3")
    assert blocker.args[0]["x"] == (-2.0, 3.0)
    domain.set_one_dimensional(False)
    assert domain.y_min.isVisible()
    assert domain.error().startswith("y:")


def test_axis_choice_only_for_three_or_more_inputs(domain, qtbot):
    domain.set_axis_choices(["x", "y"], ("x", "y"))
    assert not domain.horizontal_combo.isVisible()
    with qtbot.assertNotEmitted(domain.axesChanged, wait=50):
        domain.set_axis_choices(["w", "x", "y", "z"], ("x", "z"))
    assert domain.horizontal_combo.isVisible() and domain.vertical_combo.isVisible()
    assert domain.horizontal_combo.currentText() == "x" and domain.vertical_combo.currentText() == "z"
    assert (domain.x_caption.text(), domain.y_caption.text()) == ("x", "z")  # rows named after the axes


def test_picking_an_axis_emits_axes_changed(domain, qtbot):
    domain.set_axis_choices(["w", "x", "y", "z"], ("x", "z"))
    domain.horizontal_combo.setFocus()
    with qtbot.waitSignal(domain.axesChanged, timeout=1000) as blocker:
        qtbot.keyClick(domain.horizontal_combo, Qt.Key.Key_Down)  # x -> y
    assert blocker.args == [("y", "z")]
    assert domain.axes() == ("y", "z")
    assert domain.x_caption.text() == "y"


def test_picking_the_other_axis_swaps_them(domain, qtbot):
    domain.set_axis_choices(["w", "x", "y", "z"], ("y", "z"))
    domain.horizontal_combo.setFocus()
    with qtbot.waitSignal(domain.axesChanged, timeout=1000) as blocker:
        qtbot.keyClick(domain.horizontal_combo, Qt.Key.Key_Down)  # y -> z, which is the vertical axis
    assert blocker.args == [("z", "y")]
    assert domain.vertical_combo.currentText() == "y"
    a, b = domain.axes()
    assert a != b


# --- ParametersPanel --------------------------------------------------------------------------------
def test_no_parameters_message(params):
    params.set_parameters({})
    assert params.empty_label.isVisible()
    assert params.empty_label.text() == NO_PARAMETERS
    assert params.rows == {}


def test_set_parameters_builds_rows_without_emitting(params, qtbot):
    with qtbot.assertNotEmitted(params.parameterChanged, wait=50), \
            qtbot.assertNotEmitted(params.rangeChanged, wait=50):
        params.set_parameters(PARAMS)
    assert not params.empty_label.isVisible()
    assert list(params.rows) == ["a", "sigma"]
    a = params.rows["a"]
    assert a.name_label.isVisible() and "a" in a.name_label.text()
    assert a.value_box.text() == "1"
    assert (a.min_box.text(), a.max_box.text()) == ("-5", "5")
    assert a.slider.value() == 600                   # 1 is 60% of the way from -5 to 5
    assert params.values() == {"a": 1.0, "sigma": 0.25}
    assert params.ranges() == {"a": (-5.0, 5.0), "sigma": (0.01, 2.0)}


def test_moving_a_slider_emits_the_value(params, qtbot):
    params.set_parameters(PARAMS)
    a = params.rows["a"]
    with qtbot.waitSignal(params.parameterChanged, timeout=1000) as blocker:
        a.slider.setValue(750)                       # what a drag to 75% does
    assert blocker.args == ["a", 2.5]
    assert a.value_box.value() == 2.5
    a.slider.setFocus()
    with qtbot.waitSignal(params.parameterChanged, timeout=1000) as blocker:
        qtbot.keyClick(a.slider, Qt.Key.Key_Right)   # one step = 1% of the range
    assert blocker.args == ["a", 2.6]
    with qtbot.waitSignal(params.parameterChanged, timeout=1000) as blocker:
        a.slider.triggerAction(QAbstractSlider.SliderAction.SliderToMinimum)
    assert blocker.args == ["a", -5.0]


def test_slider_values_are_rounded_to_the_range(params, qtbot):
    params.set_parameters(PARAMS)
    sigma = params.rows["sigma"]
    with qtbot.waitSignal(params.parameterChanged, timeout=1000) as blocker:
        sigma.slider.setValue(333)                   # 0.01 + 1.99 * 0.333 = 0.67267
    assert blocker.args == ["sigma", 0.673]


def test_typing_a_value_emits_and_moves_the_slider(params, qtbot):
    params.set_parameters(PARAMS)
    a = params.rows["a"]
    with qtbot.waitSignal(params.parameterChanged, timeout=1000) as blocker:
        type_into(qtbot, a.value_box, "-2.5")
    assert blocker.args == ["a", -2.5]
    assert a.slider.value() == 250


def test_set_parameters_with_the_same_names_updates_in_place(params, qtbot):
    params.set_parameters(PARAMS)
    slider = params.rows["a"].slider
    with qtbot.assertNotEmitted(params.parameterChanged, wait=50), \
            qtbot.assertNotEmitted(params.rangeChanged, wait=50):
        params.set_parameters({"sigma": {"value": 1.0, "min": 0.0, "max": 2.0},
                               "a": {"value": -4.0, "min": -8.0, "max": 0.0}})
    assert params.rows["a"].slider is slider        # same widgets: not rebuilt
    assert slider.value() == 500
    assert params.rows["a"].value_box.text() == "-4"
    assert params.rows["a"].min_box.text() == "-8"
    params.set_parameters({"b": {"value": 0.0, "min": -1.0, "max": 1.0}})
    assert list(params.rows) == ["b"]               # another set of names: rebuilt
    assert params.rows["b"].slider is not slider


def test_value_outside_its_range_widens_the_shown_range(params):
    params.set_parameters({"a": {"value": 12.0, "min": -5.0, "max": 5.0}})
    assert params.rows["a"].value_box.value() == 12.0
    assert params.ranges()["a"] == (-5.0, 12.0)
    assert params.rows["a"].slider.value() == 1000


def test_editing_a_range_emits_range_changed(params, qtbot):
    params.set_parameters(PARAMS)
    a = params.rows["a"]
    with qtbot.waitSignal(params.rangeChanged, timeout=1000) as blocker, \
            qtbot.assertNotEmitted(params.parameterChanged, wait=50):
        type_into(qtbot, a.max_box, "10")
    assert blocker.args == ["a", -5.0, 10.0]
    assert a.slider.value() == 400                   # 1 is 40% of the way from -5 to 10
    # A range that excludes the value moves the value in, and says so.
    with qtbot.waitSignals([params.rangeChanged, params.parameterChanged], timeout=1000) as blocker:
        type_into(qtbot, a.min_box, "2")
    assert list(blocker.all_signals_and_args[0].args) == ["a", 2.0, 10.0]
    assert list(blocker.all_signals_and_args[1].args) == ["a", 2.0]
    assert a.value_box.value() == 2.0 and a.slider.value() == 0


def test_an_empty_range_is_refused(params, qtbot):
    params.set_parameters(PARAMS)
    a = params.rows["a"]
    with qtbot.assertNotEmitted(params.rangeChanged, wait=50), \
            qtbot.assertNotEmitted(params.parameterChanged, wait=50):
        type_into(qtbot, a.min_box, "5")
    assert params.error_label.isVisible()
    assert params.error() == "a: the smallest value must be below the largest (now 5 to 5)"
    assert params.ranges()["a"] == (-5.0, 5.0)      # the slider keeps its old range
    with qtbot.waitSignal(params.rangeChanged, timeout=1000):
        type_into(qtbot, a.min_box, "0")
    assert params.error() is None
