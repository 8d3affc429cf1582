"""The chain-rule network (models/backprop.py): the seed's numbers, hand-derived graphs, and random
networks checked against an independent pure-Python forward-mode (dual number) evaluation and
central finite differences."""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from calcviz.models.backprop import MAX_PATHS, backprop
from calcviz.models.expression import ParseError
from reference import CHAIN, CHAIN_NETWORK, QUADRATIC_APPROX

E = math.e


def by_name(result) -> dict:
    return {node["name"]: node for node in result["nodes"]}


# ----------------------------------------------------------------------------- the seed's network
@pytest.fixture(scope="module")
def seed():
    return backprop(CHAIN["formula"], CHAIN["point"])


def test_seed_forward_and_backward_values(seed):
    nodes = by_name(seed)
    assert seed["output"] == "f" and seed["value"] == CHAIN["value"] == 1024.0
    assert seed["inputs"] == ["w", "x", "y", "z"]  # by first appearance in the text
    assert seed["at"] == CHAIN["point"]
    for name, value in CHAIN["intermediates"].items():  # a = 4, b = 0, u = v = 16
        assert nodes[name]["value"] == value
    for name, partial in CHAIN["partials"].items():  # df/du = df/dv = 64, df/da = 1024, df/db = 0
        assert nodes[name]["adjoint"] == partial
    assert nodes["f"]["adjoint"] == 1.0
    assert seed["gradient"] == CHAIN["gradient"] == {n: -4096.0 for n in "wxyz"}
    assert seed["forward_mode_gradient"] == CHAIN["gradient"]
    assert seed["max_check_error"] == 0.0
    for name in "wxyz":
        assert nodes[name]["adjoint"] == -4096.0 and nodes[name]["value"] == CHAIN["point"][name]


def test_seed_graph_structure(seed):
    assert [n["name"] for n in seed["nodes"]] == ["w", "x", "y", "z", "a", "b", "u", "v", "f"]
    assert [n["kind"] for n in seed["nodes"]] == ["input"] * 4 + ["definition"] * 4 + ["output"]
    assert seed["backward_order"] == ["f", "v", "u", "b", "a", "z", "y", "x", "w"]
    nodes = by_name(seed)
    assert nodes["a"]["formula"] == "(w + x + y + z)^2" and nodes["f"]["formula"] == "(u + v)^2"
    assert nodes["w"]["formula"] == "" and nodes["w"]["parents"] == [] and nodes["w"]["children"] == ["a", "b"]
    assert nodes["u"]["parents"] == ["a", "b"] and nodes["a"]["children"] == ["u", "v"]
    assert nodes["f"]["children"] == []
    for child, partials in CHAIN_NETWORK["local_partials"].items():
        assert nodes[child]["local_partials"] == partials
        assert list(partials) == nodes[child]["parents"]
    expected_edges = [{"parent": p, "child": c, "local_partial": v}
                      for c, partials in CHAIN_NETWORK["local_partials"].items() for p, v in partials.items()]
    assert seed["edges"] == expected_edges
    json.dumps(seed, allow_nan=False)  # plain JSON, as the window and the CLI need


def test_seed_paths(seed):
    assert seed["paths_truncated"] is False
    for name in "wxyz":
        paths = seed["paths"][name]
        assert [p["nodes"] for p in paths] == [[name, *middle, "f"] for middle in CHAIN_NETWORK["paths_per_input"]]
        assert [p["product"] for p in paths] == list(CHAIN_NETWORK["path_products"])
        local = CHAIN_NETWORK["local_partials"]
        for p in paths:
            assert p["factors"] == [local[c][pa] for pa, c in zip(p["nodes"], p["nodes"][1:])]
        assert paths[0]["factors"] == [-4.0, 8.0, 64.0]
        assert seed["path_counts"][name] == 4
        assert seed["path_sums"][name] == sum(p["product"] for p in paths) == -4096.0


def test_seed_operation_counts(seed):
    # By hand (see reference.CHAIN_NETWORK): 14 edges; forward mode 4 passes x 8 edges = 32; reverse 14.
    ops = seed["operations"]
    assert {k: ops[k] for k in ("edges", "inputs", "forward_mode", "reverse_mode")} == CHAIN_NETWORK["operations"]
    assert "32" in ops["explanation"] and "14" in ops["explanation"]


def test_seed_expanded_keeps_the_named_nodes():
    # a = (w+x+y+z)^2 is #1 = w + x, #2 = #1 + y, #3 = #2 + z, a = #3^2; b likewise (#4..#6); u = #7^2
    # with #7 = a + b; v = #8^2; f = #9^2 with #9 = u + v: 4 inputs + 9 operations + 5 definitions, and
    # 3*2+1 + 3*2+1 + 3*(2+1) = 23 edges. Forward tangent passes carry: from w (and x) the edges out of
    # w, #1..#9, a, b, u, v = 2+1+1+1+2+1+1+1+2+5 = 17; from y: 2+ (#2,#3,a) 1+1+2 + (#5,#6,b) 1+1+2 + 5 = 15;
    # from z: 2 + (#3, a) 1+2 + (#6, b) 1+2 + 5 = 13. Total 17+17+15+13 = 62; reverse mode 23.
    r = backprop(CHAIN["formula"], CHAIN["point"], expand=True)
    nodes = by_name(r)
    assert len(r["nodes"]) == 18 and len(r["edges"]) == 23
    assert [n["name"] for n in r["nodes"] if n["kind"] == "operation"] == [f"#{k}" for k in range(1, 10)]
    assert nodes["#1"]["formula"] == "w + x" and nodes["#3"]["label"] == "+" and nodes["#6"]["label"] == "-"
    assert nodes["a"]["formula"] == "#3^2" and nodes["a"]["parents"] == ["#3"] and nodes["a"]["kind"] == "definition"
    for name, value in CHAIN["intermediates"].items():
        assert nodes[name]["value"] == value and nodes[name]["adjoint"] == CHAIN["partials"][name]
    assert r["gradient"] == CHAIN["gradient"] and r["path_counts"] == {n: 4 for n in "wxyz"}
    ops = r["operations"]
    assert (ops["edges"], ops["forward_mode"], ops["reverse_mode"]) == (23, 62, 23)


# ----------------------------------------------------------------------------- one line, expanded
def test_one_line_without_expand_is_inputs_to_f():
    q = QUADRATIC_APPROX
    r = backprop(q["formula"], q["point"])
    assert [n["name"] for n in r["nodes"]] == ["x", "y", "f"]
    assert r["edges"] == [{"parent": "x", "child": "f", "local_partial": pytest.approx(-1 / E, abs=1e-15)},
                          {"parent": "y", "child": "f", "local_partial": 0.0}]
    assert r["gradient"] == pytest.approx(q["gradient"], abs=1e-15)
    # The seed's spelling e^(...) expands the same way, with e folded into a power node.
    r = backprop(q["formula"], q["point"], expand=True)
    assert [(n["label"], n["formula"]) for n in r["nodes"][-2:]] == [("^", "e^#4"), ("f", "x * #5")]
    assert by_name(r)["#5"]["local_partials"] == {"#4": pytest.approx(1 / E, rel=1e-15)}
    assert r["gradient"] == pytest.approx(q["gradient"], abs=1e-15)


def test_one_line_expanded_by_hand():
    # x*exp(-x^2-y^2) at (-1, 0): #1 = x^2 = 1, #2 = -#1 = -1, #3 = y^2 = 0, #4 = #2 - #3 = -1,
    # #5 = exp(#4) = 1/e, f = x * #5 = -1/e. Local partials: d#1/dx = 2x = -2, d#2/d#1 = -1, d#3/dy = 2y = 0,
    # d#4/d#2 = 1, d#4/d#3 = -1, d#5/d#4 = 1/e, df/dx = #5 = 1/e, df/d#5 = x = -1.
    # Adjoints: #5: -1, #4: -1/e, #2: -1/e, #3: 1/e, #1: 1/e, y: 0, x: 1/e*(-2) + 1*(1/e) = -1/e.
    # Paths from x: x-#1-#2-#4-#5-f (product -2/e) and x-f (1/e); from y: one (product 0).
    # Operation counts: 8 edges; from x the tangent crosses x's 2 edges and those out of #1, #2, #4, #5 (6),
    # from y those out of y, #3, #4, #5 (4): forward 10; reverse 8.
    q = QUADRATIC_APPROX
    r = backprop("x*exp(-x^2-y^2)", q["point"], expand=True)
    nodes = by_name(r)
    assert [n["name"] for n in r["nodes"]] == ["x", "y", "#1", "#2", "#3", "#4", "#5", "f"]
    assert [n["label"] for n in r["nodes"]] == ["x", "y", "^2", "neg", "^2", "-", "exp", "f"]
    assert [n["formula"] for n in r["nodes"]] == ["", "", "x^2", "-#1", "y^2", "#2 - #3", "exp(#4)", "x * #5"]
    assert [n["kind"] for n in r["nodes"]] == ["input", "input"] + ["operation"] * 5 + ["output"]
    values = {"x": -1, "y": 0, "#1": 1, "#2": -1, "#3": 0, "#4": -1, "#5": 1 / E, "f": -1 / E}
    adjoints = {"x": -1 / E, "y": 0, "#1": 1 / E, "#2": -1 / E, "#3": 1 / E, "#4": -1 / E, "#5": -1, "f": 1}
    local = {"#1": {"x": -2}, "#2": {"#1": -1}, "#3": {"y": 0}, "#4": {"#2": 1, "#3": -1}, "#5": {"#4": 1 / E},
             "f": {"x": 1 / E, "#5": -1}}
    for name, node in nodes.items():
        assert node["value"] == pytest.approx(values[name], abs=1e-15)
        assert node["adjoint"] == pytest.approx(adjoints[name], abs=1e-15)
        assert node["local_partials"] == pytest.approx(local.get(name, {}), abs=1e-15)
    assert r["gradient"] == pytest.approx(q["gradient"], abs=1e-15)
    assert r["forward_mode_gradient"] == pytest.approx(q["gradient"], abs=1e-15)
    assert [p["nodes"] for p in r["paths"]["x"]] == [["x", "#1", "#2", "#4", "#5", "f"], ["x", "f"]]
    assert [p["product"] for p in r["paths"]["x"]] == pytest.approx([-2 / E, 1 / E], abs=1e-15)
    assert r["path_counts"] == {"x": 2, "y": 1}
    ops = r["operations"]
    assert (ops["edges"], ops["inputs"], ops["forward_mode"], ops["reverse_mode"]) == (8, 2, 10, 8)


def test_constants_are_folded_not_nodes():
    r = backprop("2*pi*x + e^y", {"x": 0.0, "y": 1.0}, expand=True)
    nodes = by_name(r)
    assert [n["name"] for n in r["nodes"]] == ["x", "y", "#1", "#2", "f"]
    assert nodes["#1"]["formula"] == "2 * pi * x" and nodes["#1"]["local_partials"] == {"x": pytest.approx(2 * math.pi)}
    assert nodes["#2"]["formula"] == "e^y" and nodes["#2"]["label"] == "^"
    assert r["gradient"] == pytest.approx({"x": 2 * math.pi, "y": E}, rel=1e-15)
    r = backprop("x^(1/2) + x^-1", {"x": 4.0}, expand=True)  # d/dx = 1/(2 sqrt x) - 1/x^2 = 1/4 - 1/16
    assert [n["label"] for n in r["nodes"]] == ["x", "^(1 / 2)", "^(-1)", "f"]
    assert r["gradient"] == {"x": pytest.approx(0.1875, rel=1e-15)}


def test_a_repeated_parent_is_one_edge_with_the_total_partial():
    r = backprop("a = x + y; f = a*a", {"x": 1.0, "y": 2.0})
    assert by_name(r)["f"]["parents"] == ["a"]
    assert [e for e in r["edges"] if e["child"] == "f"] == [{"parent": "a", "child": "f", "local_partial": 6.0}]
    r = backprop("x*x*y", {"x": 3.0, "y": 2.0}, expand=True)
    assert by_name(r)["#1"]["formula"] == "x * x" and by_name(r)["#1"]["local_partials"] == {"x": 6.0}
    assert r["gradient"] == {"x": 12.0, "y": 9.0}


def test_identity_and_unused_definitions():
    r = backprop("a = x; b = y^2; f = 3a + 1", {"x": 2.0, "y": 3.0})
    nodes = by_name(r)
    assert nodes["a"]["value"] == 2.0 and nodes["a"]["adjoint"] == 3.0 and nodes["x"]["adjoint"] == 3.0
    assert nodes["b"]["value"] == 9.0 and nodes["b"]["adjoint"] == 0.0 and nodes["b"]["children"] == []
    assert r["gradient"] == {"x": 3.0, "y": 0.0}
    assert r["path_counts"] == {"x": 1, "y": 0} and r["paths"]["y"] == [] and r["path_sums"]["y"] == 0.0
    # Forward mode carries x -> a, a -> f from x and y -> b from y (3); the reverse pass never needs y -> b (2).
    assert (r["operations"]["forward_mode"], r["operations"]["reverse_mode"]) == (3, 2)


def test_a_formula_without_inputs():
    r = backprop("c = 2; f = c^3", {})
    assert r["value"] == 8.0 and r["inputs"] == [] and r["gradient"] == {} and by_name(r)["c"]["adjoint"] == 12.0


def test_paths_are_listed_up_to_the_limit_but_counted_and_summed_exactly():
    # u1 = x + y, v1 = x - y, then (u, v) -> (u + v, u - v) 19 times, f = u20 + v20 = u21. The map squared is
    # 2I, so f = 2^10 (x + y): df/dx = df/dy = 1024. Every level doubles the paths: 2^20 from each input to f,
    # each with product +1 or -1.
    lines = ["u1 = x + y", "v1 = x - y"]
    lines += [f"u{k} = u{k-1} + v{k-1}; v{k} = u{k-1} - v{k-1}" for k in range(2, 21)]
    r = backprop("; ".join(lines + ["f = u20 + v20"]), {"x": 0.5, "y": 0.25})
    assert r["value"] == 768.0 and r["gradient"] == {"x": 1024.0, "y": 1024.0}
    assert r["path_counts"] == {"x": 2 ** 20, "y": 2 ** 20}
    assert r["path_sums"] == {"x": 1024.0, "y": 1024.0} and r["paths_truncated"] is True
    for name in "xy":
        paths = r["paths"][name]
        assert len(paths) == MAX_PATHS
        assert len({tuple(p["nodes"]) for p in paths}) == MAX_PATHS
        assert all(p["nodes"][0] == name and p["nodes"][-1] == "f" and len(p["nodes"]) == 22 for p in paths)
        assert all(p["product"] in (1.0, -1.0) for p in paths)
    ops = r["operations"]  # 2 + 2 + 19*4 + 2 = 82 edges; each input reaches all but the other's 2
    assert (ops["edges"], ops["forward_mode"], ops["reverse_mode"]) == (82, 160, 82)


# ----------------------------------------------------------------------------- errors
def test_missing_input_value():
    with pytest.raises(ValueError, match="^give a value for z$"):
        backprop(CHAIN["formula"], {"w": -1, "x": 0, "y": -2})
    with pytest.raises(ValueError, match="^give a value for y, z$"):
        backprop(CHAIN["formula"], {"w": -1, "x": 0})


@pytest.mark.parametrize("at, message", [
    ({"x": 1, "y": 2, "q": 3}, "'q' is not an input of the formula (its inputs are x, y)"),
    ({"x": "one", "y": 2}, "the value of x must be a number"),
    ({"x": math.nan, "y": 2}, "the value of x must be a finite number"),
])
def test_bad_input_values(at, message):
    with pytest.raises(ValueError) as info:
        backprop("x y", at)
    assert message in str(info.value)


def test_parse_error():
    with pytest.raises(ParseError) as info:
        backprop("a = x^2; f = a +* 2", {"x": 1})
    assert info.value.message == "'*' needs something on its left" and info.value.position == 16


@pytest.mark.parametrize("text, at, message", [
    ("log(x)", {"x": -1.0}, "the value of f is nan"),
    ("a = sqrt(x); f = a + 1", {"x": 0.0}, "the local partial da/dx is inf"),
    ("exp(exp(x))", {"x": 10.0}, "the value of f is inf"),
])
def test_non_finite_values_are_errors(text, at, message):
    with pytest.raises(ValueError) as info:
        backprop(text, at, expand=False)
    assert str(info.value).startswith(message)


# ----------------------------------------------------------------------------- random networks
# A definition is an operation over terms; a term is a name, a constant or one more operation.
ARITY = {"+": 2, "-": 2, "*": 2, "sin": 1, "exp": 1, "tanh": 1, "sq": 1}


def text_of(tree) -> str:
    kind = tree[0]
    if kind == "name":
        return tree[1]
    if kind == "num":
        return f"({tree[1]!r})"
    args = [text_of(t) for t in tree[1:]]
    if kind in ("+", "-", "*"):
        return f"({args[0]} {kind} {args[1]})"
    return f"({args[0]})^2" if kind == "sq" else f"{kind}({args[0]})"


def dual(tree, env):
    """(value, tangent) of a tree over env: name -> (value, tangent); forward mode in plain Python."""
    kind = tree[0]
    if kind == "name":
        return env[tree[1]]
    if kind == "num":
        return tree[1], 0.0
    (a, da), *rest = [dual(t, env) for t in tree[1:]]
    b, db = rest[0] if rest else (0.0, 0.0)
    return {"+": lambda: (a + b, da + db), "-": lambda: (a - b, da - db), "*": lambda: (a * b, da * b + a * db),
            "sin": lambda: (math.sin(a), math.cos(a) * da), "exp": lambda: (math.exp(a), math.exp(a) * da),
            "tanh": lambda: (math.tanh(a), (1 - math.tanh(a) ** 2) * da), "sq": lambda: (a * a, 2 * a * da)}[kind]()


def run(definitions, point, seed=None):
    """Values of every name, and d(output)/d(seed) with ``seed`` held as an independent variable."""
    env = {n: (v, 1.0 if n == seed else 0.0) for n, v in point.items()}
    for name, tree in definitions:
        value, tangent = dual(tree, env)
        env[name] = (value, 1.0 if name == seed else tangent)
    return env


def names_used(tree) -> list[str]:
    if tree[0] == "name":
        return [tree[1]]
    return [n for t in tree[1:] for n in names_used(t)] if tree[0] != "num" else []


@st.composite
def networks(draw):
    inputs = ["p", "q", "r", "s"][:draw(st.integers(2, 4))]
    known, definitions = list(inputs), []

    def term(depth):
        choice = draw(st.sampled_from(["name", "name", "num", "op"] if depth else ["name", "name", "num"]))
        if choice == "name":
            return ("name", draw(st.sampled_from(known)))
        if choice == "num":
            return ("num", draw(st.sampled_from([0.5, 2.0, -1.5])))
        return operation(depth - 1)

    def operation(depth):
        kind = draw(st.sampled_from(sorted(ARITY)))
        return (kind, *(term(depth) for _ in range(ARITY[kind])))

    for k in range(draw(st.integers(2, 6))):
        definitions.append((f"d{k + 1}", operation(1)))
        known.append(f"d{k + 1}")
    used = list(dict.fromkeys(n for _, tree in definitions for n in names_used(tree) if n in inputs))
    point = {n: draw(st.floats(-1.0, 1.0)) for n in used}
    return definitions, point


def paths_count(definitions, start, out):
    parents = {name: set(names_used(tree)) for name, tree in definitions}
    count = {start: 1}
    for name, _ in definitions:
        count[name] = sum(count.get(p, 0) for p in parents[name])
    return count[out]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(networks(), st.booleans())
def test_random_networks_against_forward_mode_paths_and_finite_differences(network, expand):
    definitions, point = network
    out = definitions[-1][0]
    env = run(definitions, point)
    assume(all(abs(v) <= 20.0 for v, _ in env.values()))
    text = "; ".join(f"{name} = {text_of(tree)}" for name, tree in definitions)
    r = backprop(text, point, expand=expand)
    nodes = by_name(r)
    assert r["inputs"] == list(point) and r["output"] == out and r["nodes"][-1]["name"] == out

    # Ground truth: d(out)/d(name) for every named node by independent dual-number forward passes.
    truth = {name: run(definitions, point, seed=name)[out][1] for name in env}
    scale = 1.0 + max(abs(t) for t in truth.values())
    close = dict(rel=1e-9, abs=1e-12 * scale)
    for name, (value, _) in env.items():
        assert nodes[name]["value"] == pytest.approx(value, rel=1e-12, abs=1e-14)
        assert nodes[name]["adjoint"] == pytest.approx(truth[name], **close)
    gradient = {n: truth[n] for n in point}
    assert r["gradient"] == pytest.approx(gradient, **close)
    assert r["forward_mode_gradient"] == pytest.approx(gradient, **close)
    assert r["path_sums"] == pytest.approx(gradient, **close)
    assert r["max_check_error"] <= 1e-12
    assert not r["paths_truncated"]  # at most 2^6 paths here
    for n in point:
        assert len(r["paths"][n]) == r["path_counts"][n]
        assert sum(p["product"] for p in r["paths"][n]) == pytest.approx(gradient[n], **close)
        if not expand:
            assert r["path_counts"][n] == paths_count(definitions, n, out)

    # The chain rule at every node: its adjoint is the sum over its children of adjoint * local partial.
    for node in r["nodes"][:-1]:
        total = sum(nodes[c]["adjoint"] * nodes[c]["local_partials"][node["name"]] for c in node["children"])
        assert node["adjoint"] == pytest.approx(total, rel=1e-9, abs=1e-12 * scale)

    # Local partials of each definition (other parents held fixed), by dual numbers over that body alone.
    if not expand:
        for name, tree in definitions:
            for parent, partial in nodes[name]["local_partials"].items():
                local_env = {p: (env[p][0], 1.0 if p == parent else 0.0) for p in names_used(tree)}
                assert partial == pytest.approx(dual(tree, local_env)[1], rel=1e-12, abs=1e-14)

    # Central finite differences of the plain-Python function (looser: truncation and round-off).
    h = 1e-6
    for n in point:
        up = run(definitions, {**point, n: point[n] + h})[out][0]
        down = run(definitions, {**point, n: point[n] - h})[out][0]
        assert r["gradient"][n] == pytest.approx((up - down) / (2 * h), rel=1e-5, abs=1e-6 * scale)
