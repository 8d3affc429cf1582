"""The chain rule as a network: forward values, local partials, adjoints and paths (issue 7).

A program of definitions (``a = (w+x+y+z)^2; ...; f = (u+v)^2``) is a graph: one node per input
and per definition, an edge from every name a definition uses to the definition. With
``expand=True`` each definition is also broken into its primitive operations (+, -, *, /, ^, neg,
each function call) as unnamed nodes "#1", "#2", ...; constants stay inside their operation.

Every node carries its own operation as a small expression tree over its parents' names, so the
one lowering in tf_lowering.lower computes every number here, and format_node prints its formula:

* forward values and adjoints df/d(node): one forward pass under one tf.GradientTape, the gradient
  taken with respect to every node's tensor (an intermediate tensor's gradient is its adjoint);
* local partials d(child)/d(parent): a tape on each node's operation alone, parents held as values;
* a check: tf.autodiff.ForwardAccumulator, one tangent pass per input, must give the same gradient,
  and so must the sum over paths (every path's product of local partials), found by dynamic
  programming because paths can be too many to list.
"""
from __future__ import annotations

import dataclasses
import math
import time
from typing import Mapping

from .tf_lowering import EngineError, lower, tf
from .expression import CONSTANTS, Binary, Call, Expression, Name, Node, Unary, children, format_node, names_in, parse

MAX_PATHS = 200  # paths listed per input; their count and their sum are always exact

_F64 = tf.float64


@dataclasses.dataclass(frozen=True)
class GraphNode:
    name: str
    label: str
    kind: str                  # "input", "definition", "operation" or "output"
    tree: Node | None          # the node's own operation over its parents' names; None for an input
    parents: tuple[str, ...]   # by first appearance in the tree


def _is_constant(node: Node) -> bool:
    return all(n.id in CONSTANTS for n in names_in(node))


def _is_leaf(node: Node) -> bool:
    """A name or a constant (2, pi, 2*pi): folded into the operation that uses it, never a node."""
    return isinstance(node, Name) or _is_constant(node)


def _parents(tree: Node) -> tuple[str, ...]:
    # A name used twice (a*a) is one parent: its local partial is the total (2a).
    return tuple(dict.fromkeys(n.id for n in names_in(tree) if n.id not in CONSTANTS))


def _with_children(node: Node, new: list[Node]) -> Node:
    if isinstance(node, Unary):
        return dataclasses.replace(node, operand=new[0])
    if isinstance(node, Binary):
        return dataclasses.replace(node, left=new[0], right=new[1])
    assert isinstance(node, Call)
    return dataclasses.replace(node, args=tuple(new))


def _label(tree: Node) -> str:
    if isinstance(tree, Unary):
        return "neg"
    if isinstance(tree, Call):
        return tree.func
    if tree.op == "^" and _is_constant(tree.right):
        # x^2 -> "^2", x^(1/2) -> "^(1 / 2)": the exponent is folded into the operation (5: above any operator)
        return "^" + format_node(tree.right, 5)
    return tree.op


def graph(expression: Expression, expand: bool = False) -> list[GraphNode]:
    """The nodes in forward (topological) order: inputs by first appearance, the output last."""
    inputs = dict.fromkeys(n.id for _, body in expression.definitions for n in names_in(body)
                           if n.id in expression.inputs)
    nodes = [GraphNode(name, name, "input", None, ()) for name in inputs]
    count = 0

    def split(node: Node) -> Node:
        """The node's own operation: each operand that is itself an operation becomes a new node's name."""
        return node if _is_leaf(node) else _with_children(node, [operation(c) for c in children(node)])

    def operation(node: Node) -> Node:
        nonlocal count
        if _is_leaf(node):
            return node
        tree = split(node)
        count += 1
        nodes.append(GraphNode(f"#{count}", _label(tree), "operation", tree, _parents(tree)))
        return Name(f"#{count}")

    last = len(expression.definitions) - 1
    for k, (name, body) in enumerate(expression.definitions):
        tree = split(body) if expand else body  # the body's outermost operation is the named node itself
        nodes.append(GraphNode(name, name, "output" if k == last else "definition", tree, _parents(tree)))
    return nodes


def _run(node: GraphNode, env: dict):
    """The node's operation on its parents' tensors, as a new tensor (so ``a = x`` has its own adjoint)."""
    single = Expression("", ((node.name, node.tree),), ())
    return tf.identity(lower(single, {p: env[p] for p in node.parents}, _F64))


def _forward(nodes: list[GraphNode], inputs: dict, watch=None) -> dict:
    tensors = {}
    for node in nodes:
        tensors[node.name] = inputs[node.name] if node.kind == "input" else _run(node, tensors)
        if watch is not None:
            watch(tensors[node.name])
    return tensors


def _values_at(names: list[str], at: Mapping[str, float]) -> dict[str, float]:
    unknown = [n for n in at if n not in names]
    if unknown:
        raise EngineError(f"'{unknown[0]}' is not an input of the formula (its inputs are "
                          f"{', '.join(names) or 'none'})")
    missing = [n for n in names if n not in at]
    if missing:
        raise EngineError("give a value for " + ", ".join(missing))
    values = {}
    for name in names:
        try:
            values[name] = float(at[name])
        except (TypeError, ValueError):
            raise EngineError(f"the value of {name} must be a number (got {at[name]!r})") from None
        if not math.isfinite(values[name]):
            raise EngineError(f"the value of {name} must be a finite number")
    return values


def _plain(v) -> float:
    return float(v) + 0.0  # a plain float, and -0.0 becomes 0.0


def _check_finite(what: str, value: float) -> None:
    if not math.isfinite(value):
        raise EngineError(f"{what} is {value} at this point: the formula is undefined or not "
                          "differentiable there; try another point")


def backprop(text: str, at: Mapping[str, float], expand: bool = False, device: str = "/CPU:0") -> dict:
    """Forward and backward pass through the network of ``text`` at the point ``at`` (float64).

    Raises ParseError for bad text and EngineError (a ValueError) for a missing or bad input value,
    or a value, local partial or adjoint that is not finite there.
    """
    expression = parse(text)
    if expression.matrix:
        raise EngineError("the chain-rule view draws formulas of numbers; this one has vectors or matrices "
                          "(see the matrix calculus panel)")
    nodes = graph(expression, expand)
    names = [n.name for n in nodes]
    inputs = [n.name for n in nodes if n.kind == "input"]
    out = expression.output
    point = _values_at(inputs, at)
    zero = tf.UnconnectedGradients.ZERO

    t0 = time.perf_counter()
    with tf.device(device):
        sources = {name: tf.constant(point[name], _F64) for name in inputs}
        with tf.GradientTape() as tape:
            tensors = _forward(nodes, sources, watch=tape.watch)
        adjoint_tensors = tape.gradient(tensors[out], [tensors[n] for n in names], unconnected_gradients=zero)
        values = {n: _plain(tensors[n]) for n in names}
        for node in nodes:
            _check_finite(f"the value of {node.name}", values[node.name])
        adjoints = {n: _plain(a) for n, a in zip(names, adjoint_tensors)}

        local: dict[str, dict[str, float]] = {}  # child -> parent -> d(child)/d(parent)
        for node in nodes[len(inputs):]:
            held = {p: tf.constant(values[p], _F64) for p in node.parents}
            with tf.GradientTape() as local_tape:
                for t in held.values():
                    local_tape.watch(t)
                y = _run(node, held)
            partials = local_tape.gradient(y, list(held.values()), unconnected_gradients=zero)
            local[node.name] = {p: _plain(g) for p, g in zip(node.parents, partials)}
            for p, g in local[node.name].items():
                _check_finite(f"the local partial d{node.name}/d{p}", g)
        for n in names:
            _check_finite(f"the adjoint d{out}/d{n}", adjoints[n])

        forward_gradient = {}
        for name in inputs:  # one tangent pass per input
            tangents = [tf.constant(1.0 if n == name else 0.0, _F64) for n in inputs]
            with tf.autodiff.ForwardAccumulator(list(sources.values()), tangents) as acc:
                result = _forward(nodes, sources)[out]
            forward_gradient[name] = _plain(acc.jvp(result, unconnected_gradients=zero))
    seconds = time.perf_counter() - t0

    child_lists = {n: [] for n in names}
    for node in nodes:
        for p in node.parents:
            child_lists[p].append(node.name)
    edges = [{"parent": p, "child": node.name, "local_partial": local[node.name][p]}
             for node in nodes for p in node.parents]
    count = {out: 1}    # paths from a node to the output (0: the output does not depend on it)
    total = {out: 1.0}  # the sum over those paths of the product of local partials
    for n in reversed(names[:-1]):
        count[n] = sum(count[c] for c in child_lists[n])
        total[n] = sum(local[c][n] * total[c] for c in child_lists[n])
    gradient = {n: adjoints[n] for n in inputs}
    path_sums = {n: _plain(total[n]) for n in inputs}

    # Disagreement of the checks with the adjoints, relative to the gradient's largest component.
    scale = max((abs(g) for g in gradient.values()), default=0.0) or 1.0
    check = max((abs(other[n] - gradient[n]) / scale for other in (forward_gradient, path_sums)
                 for n in inputs), default=0.0)

    return {
        "output": out,
        "value": values[out],
        "inputs": inputs,
        "at": point,
        "gradient": gradient,
        "nodes": [{
            "name": node.name, "label": node.label, "kind": node.kind,
            "formula": "" if node.tree is None else format_node(node.tree),
            "value": values[node.name], "adjoint": adjoints[node.name],
            "parents": list(node.parents), "children": child_lists[node.name],
            "local_partials": local.get(node.name, {}),
        } for node in nodes],
        "edges": edges,
        "backward_order": names[::-1],
        "paths": {n: _paths(n, out, child_lists, local, count) for n in inputs},
        "path_counts": {n: count[n] for n in inputs},
        "path_sums": path_sums,
        "paths_truncated": any(count[n] > MAX_PATHS for n in inputs),
        "operations": _operations(nodes, inputs, out, child_lists, count),
        "forward_mode_gradient": forward_gradient,
        "max_check_error": check,
        "device": device,
        "seconds": seconds,
    }


def _paths(start: str, out: str, child_lists, local, count) -> list[dict]:
    """The first MAX_PATHS paths from ``start`` to the output, each with its local partials."""
    found, stack = [], [([start], [])]
    while stack and len(found) < MAX_PATHS:
        path, factors = stack.pop()
        if path[-1] == out:
            found.append({"nodes": path, "factors": factors, "product": _plain(math.prod(factors))})
            continue
        for c in reversed(child_lists[path[-1]]):  # reversed: the first child's paths come first
            if count[c]:  # skip what never reaches the output
                stack.append((path + [c], factors + [local[c][path[-1]]]))
    return found


def _operations(nodes, inputs, out, child_lists, count) -> dict:
    """Multiplications of local partials each mode needs: one per edge it carries a value along."""
    forward = 0
    for start in inputs:  # a tangent pass carries d(node)/d(start) along every edge out of what start reaches
        reached, stack = {start}, [start]
        while stack:
            for c in child_lists[stack.pop()]:
                if c not in reached:
                    reached.add(c)
                    stack.append(c)
        forward += sum(len(child_lists[n]) for n in reached)
    # The one adjoint pass carries d(out)/d(child) along every edge into a node that reaches the output.
    reverse = sum(len(node.parents) for node in nodes if count[node.name])
    n = len(inputs)
    explanation = (f"Forward mode pushes one tangent through the graph per input: {n} pass{'es' if n != 1 else ''}, "
                   f"{forward} multiplications. Reverse mode pulls d{out}/d(node) back from {out} once for all "
                   f"inputs: {reverse} multiplications, one per edge. With many inputs and one output, "
                   f"reverse mode wins.")
    return {"edges": sum(len(node.parents) for node in nodes), "inputs": n, "forward_mode": forward,
            "reverse_mode": reverse, "explanation": explanation}
