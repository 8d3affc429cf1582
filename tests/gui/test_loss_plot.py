"""LossPlot: the data in its curves for f and |∇f| per run, log axes, dropped non-finite points, legend."""
import numpy as np
import pytest

from calcviz.views.loss_plot import LOG_FLOOR, SHIFTED_LABEL, LossPlot
from ui import show  # noqa: E402

STEPS = np.arange(6.0)
GD = {"label": "Gradient descent", "color": "#d55e00", "steps": STEPS,
      "values": np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.125]), "grad_norms": np.array([8.0, 4.0, 2.0, 1.0, 0.5, 0.25])}
ADAM = {"label": "Adam", "color": "#e69f00", "steps": STEPS[:4],
        "values": np.array([4.0, 3.0, 2.5, 2.25]), "grad_norms": np.array([8.0, 6.0, 5.0, 4.5])}


@pytest.fixture
def plot(qtbot):
    return show(qtbot, LossPlot(), 500, 500)


def data(item):
    x, y = item.getOriginalDataset()
    return np.asarray(x), np.asarray(y)


def legend_labels(plot):
    return [label.text for _, label in plot.legend.items]


def test_draws_each_run_in_its_colour(plot):
    plot.set_runs([GD, ADAM])
    assert list(plot.curves()) == ["Gradient descent", "Adam"]
    for run in (GD, ADAM):
        value_item, grad_item = plot.curves()[run["label"]]
        np.testing.assert_array_equal(data(value_item)[0], run["steps"])
        np.testing.assert_array_equal(data(value_item)[1], run["values"])
        np.testing.assert_array_equal(data(grad_item)[1], run["grad_norms"])
        assert value_item.opts["pen"].color().name() == grad_item.opts["pen"].color().name() == run["color"]
        assert value_item in plot.value_plot.items and grad_item in plot.grad_plot.items
    assert legend_labels(plot) == ["Gradient descent", "Adam"]


def test_plots_share_the_step_axis_and_grad_is_log_by_default(plot, qtbot):
    plot.set_runs([GD])
    assert plot.grad_plot.getViewBox().linkedView(0) is plot.value_plot.getViewBox()
    assert plot.grad_plot.ctrl.logYCheck.isChecked() and not plot.value_log()
    _, grad_item = plot.curves()["Gradient descent"]
    # Drawn on the log axis (once the view has auto-ranged: the curves are clipped to the view).
    qtbot.waitUntil(lambda: len(grad_item.getData()[1]) == len(STEPS), timeout=2000)
    np.testing.assert_allclose(grad_item.getData()[1], np.log10(GD["grad_norms"]))
    assert plot.value_plot.getAxis("left").labelText == "f"
    assert plot.grad_plot.getAxis("left").labelText == "|∇f|"
    assert plot.grad_plot.getAxis("bottom").labelText == "step"


def test_curves_are_created_once_and_updated(plot):
    plot.set_runs([{**GD, "steps": STEPS[:2], "values": GD["values"][:2], "grad_norms": GD["grad_norms"][:2]}])
    value_item, grad_item = plot.curves()["Gradient descent"]
    plot.set_runs([GD, ADAM])
    assert plot.curves()["Gradient descent"] == (value_item, grad_item)
    np.testing.assert_array_equal(data(value_item)[1], GD["values"])
    assert len(plot.value_plot.listDataItems()) == 2 and len(plot.legend.items) == 2
    plot.set_runs([{**ADAM, "color": "#000000"}])  # gd's run is gone; adam's colour changed
    assert list(plot.curves()) == ["Adam"] and legend_labels(plot) == ["Adam"]
    assert value_item not in plot.value_plot.items
    assert plot.curves()["Adam"][0].opts["pen"].color().name() == "#000000"


def test_log_values_positive_are_drawn_as_they_are(plot, qtbot):
    plot.set_runs([GD, ADAM])
    plot.set_value_log(True)
    assert plot.value_log() and plot.value_log_action.isChecked()
    value_item, _ = plot.curves()["Gradient descent"]
    np.testing.assert_array_equal(data(value_item)[1], GD["values"])
    qtbot.waitUntil(lambda: len(value_item.getData()[1]) == len(STEPS), timeout=2000)
    np.testing.assert_allclose(value_item.getData()[1], np.log10(GD["values"]))
    assert plot.value_axis_label() == "f"


def test_log_values_not_all_positive_draw_f_minus_min_f(plot):
    low = {**GD, "values": GD["values"] - 3.0}  # 1 ... -2.875: min f over both runs is -2.875
    plot.set_runs([low, ADAM])
    plot.set_value_log(True)
    floor = LOG_FLOOR * (4.0 - -2.875)  # the floor scales with the spread of f
    expected = {"Gradient descent": low["values"] + 2.875 + floor, "Adam": ADAM["values"] + 2.875 + floor}
    for label, y in expected.items():
        got = data(plot.curves()[label][0])[1]
        np.testing.assert_allclose(got, y, rtol=1e-12, atol=1e-15)
        assert np.all(got > 0)
    assert data(plot.curves()["Gradient descent"][0])[1][-1] == pytest.approx(floor)  # the minimum itself
    assert plot.value_axis_label() == SHIFTED_LABEL
    assert plot.value_plot.getAxis("left").labelText == SHIFTED_LABEL
    plot.set_value_log(False)  # back to f itself
    np.testing.assert_array_equal(data(plot.curves()["Gradient descent"][0])[1], low["values"])
    assert plot.value_axis_label() == "f" and not plot.value_log_action.isChecked()


def test_the_context_menu_and_pyqtgraphs_log_check_agree(plot):
    plot.set_runs([{**GD, "values": GD["values"] - 1.0}])
    assert plot.value_log_action in plot.context_menu().actions()  # calcviz's own right-click menu
    plot.value_log_action.trigger()
    assert plot.value_log() and plot.value_axis_label() == SHIFTED_LABEL
    plot.value_plot.ctrl.logYCheck.setChecked(False)  # pyqtgraph's own Plot Options > Log Y
    assert not plot.value_log_action.isChecked() and plot.value_axis_label() == "f"


def test_non_finite_points_are_dropped(plot):
    diverged = {"label": "Momentum", "color": "#0072b2", "steps": STEPS,
                "values": np.array([1.0, 10.0, 1e6, np.inf, np.nan, np.nan]),
                "grad_norms": np.array([2.0, 0.0, 1e7, np.nan, np.inf, np.nan])}
    plot.set_runs([diverged])
    value_item, grad_item = plot.curves()["Momentum"]
    x, y = data(value_item)
    np.testing.assert_array_equal(x, [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(y, [1.0, 10.0, 1e6])
    x, y = data(grad_item)  # log axis: the exact zero cannot be drawn either
    np.testing.assert_array_equal(x, [0.0, 2.0])
    np.testing.assert_array_equal(y, [2.0, 1e7])
    plot.grad_plot.setLogMode(y=False)  # on a linear axis the zero is back
    np.testing.assert_array_equal(data(grad_item)[1], [2.0, 0.0, 1e7])
    plot.set_value_log(True)
    assert np.all(np.isfinite(value_item.getData()[1]))


def test_clear(plot):
    plot.set_runs([GD, ADAM])
    plot.set_value_log(True)
    plot.clear()
    assert plot.curves() == {} and plot.legend.items == []
    assert plot.value_plot.listDataItems() == [] and plot.grad_plot.listDataItems() == []
    plot.set_runs([ADAM])  # usable again
    assert legend_labels(plot) == ["Adam"]


def test_the_step_axis_grows_in_doublings_up_to_the_race_length(qtbot):
    from calcviz.views.loss_plot import LossPlot

    plot = show(qtbot, LossPlot(), 500, 300)
    plot.set_steps(300)

    def shown(k):
        steps = np.arange(k + 1)
        plot.set_runs([{"label": "gd", "color": "#d55e00", "steps": steps, "values": 1.0 / (1 + steps),
                        "grad_norms": 1.0 / (1 + steps)}])
        return plot.value_plot.vb.viewRange()[0]

    assert shown(3)[1] == pytest.approx(16, rel=0.03)     # never narrower than 16 steps
    assert shown(20)[1] == pytest.approx(32, rel=0.03)    # the next power of two
    assert shown(31)[1] == pytest.approx(32, rel=0.03)    # unchanged within it: no re-layout per frame
    assert shown(290)[1] == pytest.approx(300, rel=0.03)  # capped at the race's length


def test_axes_show_plain_numbers_whole_steps_and_powers_of_ten(plot, qtbot):
    """Seen: "(x1e+21)" beside a log |grad f| axis, steps at 0.5 and 1.5, "step (x0.001)"."""
    steps = np.arange(3)
    plot.set_runs([{"label": "gd", "color": "#d55e00", "steps": steps, "values": np.array([3.0, 2.0, 1.0]),
                    "grad_norms": np.array([135.0, 120.0, 110.0])}])
    qtbot.wait(50)
    for item in (plot.value_plot, plot.grad_plot):
        axis = item.getAxis("bottom")
        (major, _), *_ = axis.tickSpacing(0, 2, 400)
        assert major >= 1 and float(major).is_integer()
        assert all(float(v).is_integer() for v in axis.tickValues(0, 2, 400)[0][1])
        assert not item.getAxis("left").autoSIPrefix and not axis.autoSIPrefix
    long = np.arange(20_001)
    plot.set_runs([{"label": "gd", "color": "#d55e00", "steps": long, "values": 1.0 / (1 + long),
                    "grad_norms": 1e21 / (1 + long)}])
    qtbot.wait(50)
    assert plot.grad_plot.getAxis("left").labelUnits == "" and "x1e" not in plot.grad_plot.getAxis("left").labelString()
    assert "(x" not in plot.value_plot.getAxis("bottom").labelString()


def test_while_a_race_animates_the_value_axes_hold_their_width_then_fit_again(plot, qtbot):
    """A tick label of a new width re-laid out both plots inside a paint (20-30 ms stalls): held, the
    axes keep one width with room for four more digits; released, they fit their labels again."""
    axis = plot.value_plot.getAxis("left")
    plot.set_runs([GD])
    qtbot.waitUntil(lambda: axis.textWidth > 0, timeout=2000)
    qtbot.wait(50)
    fitted = axis.width()
    plot.hold_axes(True)
    plot.hold_axes(True)  # (a second call does not widen it again)
    held = axis.fixedWidth
    qtbot.waitUntil(lambda: axis.width() == held, timeout=2000)  # (once the layout has run)
    assert held > fitted
    wide = {**GD, "values": GD["values"] * 1234.5678}  # labels several digits wider
    plot.set_runs([wide])
    qtbot.waitUntil(lambda: axis.textWidth > fitted - 15, timeout=2000)
    qtbot.wait(50)
    assert axis.width() == held
    plot.hold_axes(False)
    assert axis.fixedWidth is None
    qtbot.waitUntil(lambda: axis.width() != held, timeout=2000)


def drawn_labels(axis) -> list:
    """The axis's tick labels as it draws them: (rectangle, text)."""
    from PyQt6 import QtGui
    image = QtGui.QImage(10, 10, QtGui.QImage.Format.Format_ARGB32)
    painter = QtGui.QPainter(image)
    try:
        _, _, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [(rect, text) for rect, _, text in texts]


def test_log_axis_labels_never_overlap_and_the_round_ones_stay(qtbot):
    """Seen at 1366x768: |∇f| from 2 down to 0.72 on a short log axis had "1", "0.9" and "0.8" drawn over
    each other (pyqtgraph judges crowding as if the ticks were evenly spaced)."""
    plot = show(qtbot, LossPlot(), 700, 230)
    steps = np.arange(100)
    plot.set_runs([{"label": "gd", "color": "#d55e00", "steps": steps, "values": 2.0 - steps / 100,
                    "grad_norms": 2.0 * 0.99 ** steps}])
    qtbot.wait(100)
    axis = plot.grad_plot.getAxis("left")
    qtbot.waitUntil(lambda: axis.height() > 0, timeout=2000)
    assert axis.height() < 110  # (short, as on a laptop)
    labels = drawn_labels(axis)
    texts = [text for _, text in labels]
    assert {"1", "2"} <= set(texts), texts
    for k, (rect, text) in enumerate(labels):
        for other, other_text in labels[k + 1:]:
            assert not rect.intersects(other), f"{text!r} drawn over {other_text!r}"
