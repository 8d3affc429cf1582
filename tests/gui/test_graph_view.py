"""ChainRuleView: the seed network's graph, its step-through, the paths of an input, inputs, layout at 200 nodes.

The graph dicts are built by hand here (the producer lives in the compute process): the seed network of
the chain-rule section, a = (w+x+y+z)^2, b = (w+x-y-z)^2, u = (a+b)^2, v = (a-b)^2, f = (u+v)^2, with its
local partials and adjoints written out from the derivative of each square.
"""
import pytest
from PyQt6.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt6.QtGui import QMouseEvent, QWheelEvent
from PyQt6.QtWidgets import QApplication

from calcviz.bench.graph import layered_graph
from calcviz.views.graph_view import ChainRuleView, layer_order
from ui import show, type_into  # noqa: E402

INPUTS = ["w", "x", "y", "z"]
MESSAGE = "type definitions like a = ...; f = ..."


def seed_graph(w=-1.0, x=0.0, y=-2.0, z=1.0, truncate_paths_to=None) -> dict:
    """The seed network at (w, x, y, z), every number from the hand derivatives of the squares."""
    at = {"w": w, "x": x, "y": y, "z": z}
    s, d = w + x + y + z, w + x - y - z
    a, b = s ** 2, d ** 2
    u, v = (a + b) ** 2, (a - b) ** 2
    f = (u + v) ** 2
    value = {**at, "a": a, "b": b, "u": u, "v": v, "f": f}
    local = {  # child -> {parent: d child / d parent}
        "a": {n: 2 * s for n in INPUTS},
        "b": {"w": 2 * d, "x": 2 * d, "y": -2 * d, "z": -2 * d},
        "u": {"a": 2 * (a + b), "b": 2 * (a + b)},
        "v": {"a": 2 * (a - b), "b": -2 * (a - b)},
        "f": {"u": 2 * (u + v), "v": 2 * (u + v)},
    }
    children = {"w": ["a", "b"], "x": ["a", "b"], "y": ["a", "b"], "z": ["a", "b"],
                "a": ["u", "v"], "b": ["u", "v"], "u": ["f"], "v": ["f"], "f": []}
    adjoint = {"f": 1.0}
    for name in ["u", "v", "a", "b", *INPUTS]:  # backward: sum over children of adjoint * local partial
        adjoint[name] = sum(adjoint[c] * local[c][name] for c in children[name])
    formula = {"a": "(w + x + y + z)^2", "b": "(w + x - y - z)^2", "u": "(a + b)^2", "v": "(a - b)^2",
               "f": "(u + v)^2"}
    kind = {**{n: "input" for n in INPUTS}, "a": "definition", "b": "definition", "u": "definition",
            "v": "definition", "f": "output"}
    order = [*INPUTS, "a", "b", "u", "v", "f"]
    nodes = [{"name": n, "label": n, "kind": kind[n], "formula": formula.get(n), "value": value[n],
              "adjoint": adjoint[n], "parents": list(local.get(n, {})), "children": children[n],
              "local_partials": local.get(n, {})} for n in order]
    edges = [{"parent": p, "child": c, "local_partial": local[c][p]} for c in order for p in local.get(c, {})]
    paths = {}
    for n in INPUTS:
        paths[n] = [{"nodes": [n, m, k, "f"], "factors": [local[m][n], local[k][m], local["f"][k]],
                     "product": local[m][n] * local[k][m] * local["f"][k]}
                    for m in ("a", "b") for k in ("u", "v")]
    counts = {n: len(paths[n]) for n in INPUTS}
    if truncate_paths_to is not None:
        paths = {n: p[:truncate_paths_to] for n, p in paths.items()}
    return {"output": "f", "value": f, "inputs": INPUTS, "at": at,
            "gradient": {n: adjoint[n] for n in INPUTS},
            "nodes": nodes, "edges": edges,
            "backward_order": ["f", "u", "v", "a", "b", *INPUTS],
            "paths": paths, "path_counts": counts,
            "path_sums": {n: sum(p["product"] for p in paths[n]) if truncate_paths_to is None else adjoint[n]
                          for n in INPUTS},
            "paths_truncated": truncate_paths_to is not None,
            "operations": {"edges": len(edges), "inputs": 4, "forward_mode": 4 * len(edges),
                           "reverse_mode": len(edges), "explanation": "one multiplication per edge and pass"}}


@pytest.fixture
def view(qtbot):
    view = show(qtbot, ChainRuleView(), 900, 700)
    view.set_graph(seed_graph())
    return view


def click_node(qtbot, view, name):
    """A real click on the node's box, through the graph view's viewport."""
    canvas = view.canvas
    pos = canvas.mapFromScene(view.node_item(name).sceneBoundingRect().center())
    assert canvas.viewport().rect().contains(pos), f"{name} is not on screen"
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=pos)


def click_background(qtbot, view):
    canvas = view.canvas
    corner = QPoint(5, 5)
    assert not [i for i in canvas.items(corner) if i.data(0) is not None]
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=corner)


def opacity(view, name):
    return view.node_item(name).opacity()


# --- layout -------------------------------------------------------------------------------------------
def test_seed_layers_go_from_the_inputs_to_the_output():
    layers = layer_order(seed_graph()["nodes"])
    assert [sorted(layer) for layer in layers] == [INPUTS, ["a", "b"], ["u", "v"], ["f"]]
    assert layers[0] == INPUTS  # the inputs keep their order


def test_barycentre_sweeps_undo_a_crossing():
    # p, q on the left; m hangs from q and n from p: in the given order (m, n) the two edges cross.
    nodes = [{"name": "p", "parents": []}, {"name": "q", "parents": []},
             {"name": "m", "parents": ["q"]}, {"name": "n", "parents": ["p"]},
             {"name": "o", "parents": ["m", "n"]}]
    assert layer_order(nodes, sweeps=0)[1] == ["n", "m"]
    assert layer_order(nodes) == [["p", "q"], ["n", "m"], ["o"]]


def test_seed_boxes_sit_in_their_layers_left_to_right(view):
    x = {name: view.node_item(name).scene_rect() for name in [*INPUTS, "a", "b", "u", "v", "f"]}
    for left, right in (("w", "a"), ("a", "u"), ("u", "f")):
        assert x[left].right() < x[right].left()
    assert len({round(x[n].left()) for n in INPUTS}) == 1
    assert x["a"].left() == x["b"].left() and x["u"].left() == x["v"].left()


def test_200_nodes_lay_out_without_overlap_and_every_edge_goes_right(qtbot):
    view = show(qtbot, ChainRuleView(), 900, 700)
    data = layered_graph(nodes=200, seed=3)
    view.set_graph(data)
    names = [n["name"] for n in data["nodes"]]
    assert len(names) == 200
    rects = {name: view.node_item(name).scene_rect() for name in names}
    by_column = {}
    for name, rect in rects.items():
        by_column.setdefault(round(rect.left()), []).append(rect)
    for column in by_column.values():  # boxes of one column stack without touching
        column.sort(key=lambda r: r.top())
        for upper, lower in zip(column, column[1:]):
            assert upper.bottom() < lower.top()
    assert len(by_column) == 12  # the generator's 12 layers
    for column_a in by_column:  # and columns do not overlap each other
        for column_b in by_column:
            if column_a < column_b:
                assert by_column[column_a][0].right() < by_column[column_b][0].left()
    for edge in data["edges"]:
        assert rects[edge["parent"]].right() < rects[edge["child"]].left(), edge
    # Fitted: the whole graph is in the viewport.
    canvas = view.canvas
    shown = canvas.mapFromScene(canvas.scene().itemsBoundingRect()).boundingRect()
    assert canvas.viewport().rect().adjusted(-2, -2, 2, 2).contains(shown)


# --- what is drawn --------------------------------------------------------------------------------------
def test_show_all_writes_the_seed_numbers_in_the_boxes(view, qtbot):
    view.reset_steps()
    qtbot.mouseClick(view.all_button, Qt.MouseButton.LeftButton)
    assert view.stage == view.max_stage == 9 + 9 + 1
    assert view.node_text("w") == "w\n= -1\n∂f/∂w = -4096"
    assert view.node_text("y") == "y\n= -2\n∂f/∂y = -4096"
    assert view.node_text("a") == "a\n= 4\n∂f/∂a = 1024"
    assert view.node_text("b") == "b\n= 0\n∂f/∂b = 0"
    assert view.node_text("u") == "u\n= 16\n∂f/∂u = 64"
    assert view.node_text("v") == "v\n= 16\n∂f/∂v = 64"
    assert view.node_text("f") == "f\n= 1024\n∂f/∂f = 1"
    assert view.edge_text("w", "a") == "-4" and view.edge_text("y", "b") == "0"
    assert view.edge_text("a", "u") == "8" and view.edge_text("b", "v") == "-8"
    assert view.edge_text("u", "f") == "64"
    assert view.highlighted_node() is None
    assert view.formula_text() == "∇f(w, x, y, z) = (-4096, -4096, -4096, -4096)"
    assert view.operations_text() == ("Reverse mode (backprop): 14 multiplications in one pass; "
                                      "forward mode: 56 (one pass per input)")
    assert not view.step_button.isEnabled() and not view.all_button.isEnabled()


def test_step_through_forward_then_backward(view, qtbot):
    def step():
        qtbot.mouseClick(view.step_button, Qt.MouseButton.LeftButton)

    qtbot.mouseClick(view.reset_button, Qt.MouseButton.LeftButton)
    assert view.stage == 0 and view.highlighted_node() is None
    assert not view.back_button.isEnabled() and view.step_button.isEnabled()
    assert all(view.node_text(n) == f"{n}\n= ?\n∂f/∂{n} = ?" for n in [*INPUTS, "a", "b", "u", "v", "f"])
    assert view.edge_text("a", "u") == "?"

    # Forward: one node a step, in the nodes' order, its value appearing.
    expected_forward = [
        ("w", "-1", "w = -1 (input)"), ("x", "0", "x = 0 (input)"), ("y", "-2", "y = -2 (input)"),
        ("z", "1", "z = 1 (input)"),
        ("a", "4", "a = (w + x + y + z)^2 = ((-1) + 0 + (-2) + 1)^2 = 4"),
        ("b", "0", "b = (w + x - y - z)^2 = ((-1) + 0 - (-2) - 1)^2 = 0"),
        ("u", "16", "u = (a + b)^2 = (4 + 0)^2 = 16"),
        ("v", "16", "v = (a - b)^2 = (4 - 0)^2 = 16"),
        ("f", "1024", "f = (u + v)^2 = (16 + 16)^2 = 1024"),
    ]
    for k, (name, value, formula) in enumerate(expected_forward, start=1):
        step()
        assert view.stage == k
        assert view.highlighted_node() == name
        assert view.node_text(name) == f"{name}\n= {value}\n∂f/∂{name} = ?"
        assert view.formula_text() == formula
        later = [n for n, _, _ in expected_forward[k:]]
        assert all("= ?\n" in view.node_text(n) for n in later)
    assert view.edge_text("a", "u") == "8"  # local partials known once the forward pass is through

    # Backward: adjoints in backward_order, each the sum over the node's children.
    expected_backward = [
        ("f", "1", "∂f/∂f = 1"),
        ("u", "64", "∂f/∂u = ∂f/∂f·∂f/∂u = 1·64 = 64"),
        ("v", "64", "∂f/∂v = ∂f/∂f·∂f/∂v = 1·64 = 64"),
        ("a", "1024", "∂f/∂a = ∂f/∂u·∂u/∂a + ∂f/∂v·∂v/∂a = 64·8 + 64·8 = 1024"),
        ("b", "0", "∂f/∂b = ∂f/∂u·∂u/∂b + ∂f/∂v·∂v/∂b = 64·8 + 64·(-8) = 0"),
        ("w", "-4096", "∂f/∂w = ∂f/∂a·∂a/∂w + ∂f/∂b·∂b/∂w = 1024·(-4) + 0·0 = -4096"),
    ]
    for k, (name, adjoint, formula) in enumerate(expected_backward, start=10):
        step()
        assert view.stage == k
        assert view.highlighted_node() == name
        assert view.node_text(name).endswith(f"∂f/∂{name} = {adjoint}")
        assert view.formula_text() == formula
    assert view.node_text("x").endswith("∂f/∂x = ?")
    # "Highlighted": the step's box is drawn in the step colour, the others are not.
    assert view.node_item("w").pen.color().name() == "#e6a700"
    assert view.node_item("a").pen.color().name() != "#e6a700"

    qtbot.mouseClick(view.back_button, Qt.MouseButton.LeftButton)
    assert view.stage == 14 and view.highlighted_node() == "b"
    assert view.node_text("w").endswith("∂f/∂w = ?")
    for _ in range(5):
        step()
    assert view.stage == view.max_stage and view.highlighted_node() is None
    assert not view.step_button.isEnabled()
    assert view.node_text("z") == "z\n= 1\n∂f/∂z = -4096"


# --- paths of an input --------------------------------------------------------------------------------
def test_clicking_input_w_lights_up_its_four_paths(view, qtbot):
    click_node(qtbot, view, "w")
    paths = seed_graph()["paths"]["w"]
    expected = {(p, c) for path in paths for p, c in zip(path["nodes"], path["nodes"][1:])}
    assert expected == {("w", "a"), ("w", "b"), ("a", "u"), ("a", "v"), ("b", "u"), ("b", "v"), ("u", "f"),
                        ("v", "f")}
    assert view.selected_input() == "w"
    assert view.highlighted_edges() == expected
    assert view.highlighted_nodes() == {"w", "a", "b", "u", "v", "f"}
    assert view.formula_text() == "∂f/∂w = (-4)(8)(64) + (-4)(8)(64) + (0)(8)(64) + (0)(-8)(64) = -4096"
    # Drawn: the path in the path colour, the rest dimmed.
    assert view.edge_style("w", "a") == ("#d62728", 1.0)
    colour, dim = view.edge_style("x", "a")
    assert colour != "#d62728" and dim < 0.5
    assert opacity(view, "x") < 0.5 and opacity(view, "w") == opacity(view, "f") == 1.0

    click_node(qtbot, view, "w")  # the same input again: cleared
    assert view.selected_input() is None and view.highlighted_edges() == set()
    assert view.formula_text() == "∇f(w, x, y, z) = (-4096, -4096, -4096, -4096)"
    assert opacity(view, "x") == 1.0

    click_node(qtbot, view, "z")
    assert view.selected_input() == "z"
    assert ("z", "a") in view.highlighted_edges() and ("w", "a") not in view.highlighted_edges()
    click_node(qtbot, view, "a")  # not an input: nothing changes
    assert view.selected_input() == "z"
    click_background(qtbot, view)
    assert view.selected_input() is None and view.highlighted_nodes() == set()


def test_truncated_paths_say_how_many_more(qtbot):
    view = show(qtbot, ChainRuleView(), 900, 700)
    view.set_graph(seed_graph(truncate_paths_to=1))
    view.select_input("x")
    assert view.formula_text() == "∂f/∂x = (-4)(8)(64) … and 3 more paths = -4096"
    # Highlighting follows the graph, not the sample of paths: all four paths light up.
    assert len(view.highlighted_edges()) == 8


def test_dragging_pans_and_is_not_a_click(view, qtbot):
    canvas = view.canvas
    canvas.zoom_by(4.0)
    qtbot.wait(10)
    bar = canvas.horizontalScrollBar()
    before = bar.value()
    start = canvas.mapFromScene(view.node_item("a").sceneBoundingRect().center())
    left = Qt.MouseButton.LeftButton
    for kind, pos, button, buttons in ((QEvent.Type.MouseButtonPress, start, left, left),
                                       (QEvent.Type.MouseMove, start + QPoint(-40, 0), Qt.MouseButton.NoButton, left),
                                       (QEvent.Type.MouseMove, start + QPoint(-80, 0), Qt.MouseButton.NoButton, left),
                                       (QEvent.Type.MouseButtonRelease, start + QPoint(-80, 0), left,
                                        Qt.MouseButton.NoButton)):
        event = QMouseEvent(kind, QPointF(pos), canvas.viewport().mapToGlobal(QPointF(pos)), button, buttons,
                            Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(canvas.viewport(), event)
    assert bar.value() == before + 80
    assert view.selected_input() is None


def test_wheel_zooms_and_fit_restores(view, qtbot):
    canvas = view.canvas
    fitted = canvas.zoom()
    pos = QPointF(canvas.viewport().rect().center())
    wheel = QWheelEvent(pos, canvas.viewport().mapToGlobal(pos), QPoint(0, 0), QPoint(0, 240),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(canvas.viewport(), wheel)
    assert canvas.zoom() == pytest.approx(fitted * 1.0015 ** 240)
    qtbot.mouseClick(view.fit_button, Qt.MouseButton.LeftButton)
    assert canvas.zoom() == pytest.approx(fitted)


# --- inputs ----------------------------------------------------------------------------------------------
def test_inputs_show_the_point(view):
    assert list(view.rows) == INPUTS
    assert [view.rows[n].value_box.value() for n in INPUTS] == [-1.0, 0.0, -2.0, 1.0]
    assert view.rows["y"].slider.value() == -200  # -2 on [-10, 10] in 1000 steps each side
    assert view.input_values() == {"w": -1.0, "x": 0.0, "y": -2.0, "z": 1.0}


def test_moving_a_slider_emits_every_input_with_the_new_value(view, qtbot):
    slider = view.rows["w"].slider
    slider.setFocus()
    with qtbot.waitSignal(view.inputsChanged, timeout=1000) as blocker:
        qtbot.keyClick(slider, Qt.Key.Key_Right)  # one step: +0.1
    assert blocker.args[0] == pytest.approx({"w": -0.9, "x": 0.0, "y": -2.0, "z": 1.0})
    assert view.rows["w"].value_box.value() == pytest.approx(-0.9)


def test_typing_a_value_emits_it_and_widens_the_slider(view, qtbot):
    box = view.rows["x"].value_box
    with qtbot.waitSignal(view.inputsChanged, timeout=1000) as blocker:
        type_into(qtbot, box, "12.5")
    assert blocker.args[0] == {"w": -1.0, "x": 12.5, "y": -2.0, "z": 1.0}
    row = view.rows["x"]
    assert row.span == 100.0 and row.slider.value() == 125  # 12.5 on [-100, 100]


def test_programmatic_values_do_not_emit(view, qtbot):
    with qtbot.assertNotEmitted(view.inputsChanged):
        view.update_values(seed_graph(w=1.0, x=0.0, y=0.0, z=0.0))
        view.set_graph(seed_graph(w=0.5))
        qtbot.wait(20)
    assert view.rows["w"].value_box.value() == 0.5 and view.rows["w"].slider.value() == 50


# --- new numbers, same graph ------------------------------------------------------------------------------
def test_update_values_changes_texts_and_keeps_the_items(view):
    boxes = {n: view.node_item(n) for n in [*INPUTS, "a", "b", "u", "v", "f"]}
    items = view.scene.items()
    view.reset_steps()
    for _ in range(5):
        view.step()
    assert view.highlighted_node() == "a"
    # At (1, 0, 0, 0): a = b = 1, u = 4, v = 0, f = 16; ∂f/∂u = ∂f/∂v = 8, ∂u/∂a = 4, ∂v/∂a = 0,
    # ∂f/∂a = ∂f/∂b = 32, ∂a/∂w = ∂b/∂w = 2, ∂f/∂w = 128.
    view.update_values(seed_graph(w=1.0, x=0.0, y=0.0, z=0.0))
    assert all(view.node_item(n) is item for n, item in boxes.items())
    assert set(view.scene.items()) == set(items)  # no item added or removed
    assert view.stage == 5 and view.highlighted_node() == "a"  # the step-through stays where it was
    assert view.node_text("a") == "a\n= 1\n∂f/∂a = ?"
    assert view.formula_text() == "a = (w + x + y + z)^2 = (1 + 0 + 0 + 0)^2 = 1"
    view.show_all()
    assert view.node_text("a") == "a\n= 1\n∂f/∂a = 32"
    assert view.node_text("u") == "u\n= 4\n∂f/∂u = 8"
    assert view.node_text("w") == "w\n= 1\n∂f/∂w = 128"
    assert view.edge_text("a", "u") == "4" and view.edge_text("a", "v") == "0"
    assert view.rows["w"].value_box.value() == 1.0


def test_update_values_with_another_structure_rebuilds(view):
    old = view.node_item("a")
    data = seed_graph()
    data["nodes"] = [dict(n, label=n["name"].upper()) if n["name"] == "a" else n for n in data["nodes"]]
    view.update_values(data)
    assert view.node_item("a") is not old
    assert view.node_text("a") == "A\n= 4\n∂f/∂A = 1024"


def test_clear_shows_the_message(view):
    view.clear(MESSAGE)
    assert view.message_label.isVisible() and view.message_label.text() == MESSAGE
    assert not view.canvas.isVisible() and not view.inputs_area.isVisible()
    assert not view.step_button.isEnabled() and view.formula_text() == ""
    view.step()  # harmless without a graph
    assert view.stage == 0
    view.set_graph(seed_graph())
    assert view.canvas.isVisible() and not view.message_label.isVisible()
    assert view.node_text("f") == "f\n= 1024\n∂f/∂f = 1"
