"""The chain-rule view in the window: the seed's network computed by the engine, its inputs tied to the
selected point (axis inputs) and the parameters (the others)."""
from __future__ import annotations

import pytest

from ui import TIMEOUT, open_window, type_into

SEED = "a = (w+x+y+z)^2; b = (w+x-y-z)^2; u = (a+b)^2; v = (a-b)^2; f = (u+v)^2"
AT = {"w": -1.0, "x": 0.0, "y": -2.0, "z": 1.0}


@pytest.fixture(scope="module")
def app_window(qapp):
    yield from open_window(SEED, params={"w": AT["w"], "z": AT["z"]})


@pytest.fixture
def win(app_window, qtbot):
    window, app = app_window
    window.docks["chain"].raise_()
    qtbot.waitUntil(lambda: app.session.grid is not None and app.idle, timeout=TIMEOUT)
    app.session.select(AT["x"], AT["y"])
    qtbot.waitUntil(lambda: app.session.chain is not None and app.session.chain["at"] == AT
                    and app.idle, timeout=TIMEOUT)
    return window, app


def test_the_seed_network_shows_the_seed_numbers(win):
    window, app = win
    view = window.chain
    assert app.session.document.axes == ("x", "y") and app.session.document.param_values == {"w": -1.0, "z": 1.0}
    view.show_all()
    for name, value, adjoint in (("a", "4", "1024"), ("b", "0", "0"), ("u", "16", "64"), ("v", "16", "64"),
                                 ("f", "1024", "1")):
        text = view.node_text(name)
        assert f"= {value}" in text and f"∂f/∂{name} = {adjoint}" in text, text
    for name in AT:
        assert "-4096" in view.node_text(name)


def test_moving_an_input_moves_the_parameter_or_the_point(win, qtbot):
    window, app = win
    view = window.chain
    row = view.rows["w"]
    type_into(qtbot, row.value_box, "0.5")
    qtbot.waitUntil(lambda: app.session.document.params["w"].value == 0.5, timeout=5000)
    qtbot.waitUntil(lambda: app.idle and app.session.chain is not None and app.session.chain["at"]["w"] == 0.5, timeout=TIMEOUT)
    s = 0.5 + 0.0 - 2.0 + 1.0  # w + x + y + z
    view.show_all()
    assert f"= {s * s:g}" in view.node_text("a")
    # An axis input moves the selected point, so the inspector and both views follow.
    type_into(qtbot, view.rows["x"].value_box, "0.25")
    qtbot.waitUntil(lambda: app.session.selected == (0.25, -2.0), timeout=5000)
    app.session.undo()  # the parameter change is undoable like any other
    qtbot.waitUntil(lambda: app.session.document.params["w"].value == -1.0, timeout=5000)
