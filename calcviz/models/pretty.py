"""Checked expression tree -> readable rich text (the editor's preview line).

The output is the small HTML subset a Qt label understands: ``<i>`` for variables, ``<sup>`` for
powers, ``<br>`` between definitions. Every piece of user-derived text goes through
:func:`html.escape`. Parentheses follow the precedence rules of
:func:`calcviz.models.expression.format_node`, so the preview never adds or drops meaning.

Two Qt facts shape the output:
  * rich-text whitespace is normalised, so a thin space shows as an ordinary space: products use
    juxtaposition (``2x``), a space (``x y``) or a middle dot (``x·2``), never a thin space;
  * nested ``<sup>`` does not stack (``x<sup>y<sup>z</sup></sup>`` looks like x^(yz)), so a
    superscript never contains another one: such an exponent is written ``^(...)`` instead,
    and ``exp(u)`` stays ``exp(u)`` unless ``u`` is short and has no power in it.

Pure Python: no Qt here.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass

from .expression import CONSTANTS, Binary, Call, Expression, Name, Node, Num, Unary

__all__ = ["to_html", "node_to_html", "notes_html"]

MINUS = "\u2212"       # typographic minus sign
DOT = "\u00b7"         # middle dot, for products that would read wrongly when juxtaposed
ROOT = "\u221a"
TIMES = "\u00d7"
SHORT_EXPONENT = 12    # exp(u) is shown as e^u when u has at most this many visible characters

_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, ".*": 2, "./": 2, "neg": 3, "^": 4, ".^": 4}
_ELEMENTWISE = {".*": " \u2299 ", "./": " \u2298 "}  # ⊙ ⊘, as matrixcalculus.org prints them
_ATOM = 5
_CONSTANT_TEXT = {"pi": "\u03c0", "e": "e"}  # constants are upright, variables italic


@dataclass(frozen=True)
class _Piece:
    """Rendered HTML plus what it starts and ends with (to choose how a product is written).

    Kinds: "num", "minus", "name", "func" (a function name), "root" (the root sign), "(" / ")" (grouping
    parentheses), "call" (a call's closing parenthesis), "|" (absolute value bars), "sup".
    """

    html: str
    first: str
    last: str


def to_html(expression: Expression) -> str:
    """One line per declaration and definition; the last one reads ``f(x, y) = ...`` (or ``name = ...``
    with no inputs)."""
    lines = [f"{_variable(name)}: {html.escape(kind)}" for name, kind in expression.declarations]
    lines += [f"{_variable(name)} = {node_to_html(node)}" for name, node in expression.definitions[:-1]]
    head = _variable(expression.output)
    if expression.inputs:
        head += "(" + ", ".join(_variable(name) for name in expression.inputs) + ")"
    lines.append(f"{head} = {node_to_html(expression.body)}")
    return "<br>".join(lines)


def notes_html(expression: Expression) -> str:
    """How ambiguous pieces of the text were read ("xy read as x·y"), one per line, for under the preview;
    empty when nothing needed reading."""
    return "<br>".join(html.escape(note.text) for note in expression.notes)


def node_to_html(node: Node) -> str:
    """One expression (no ``name =``), as rich text."""
    return _render(node, 0).html


# ----------------------------------------------------------------------------- pieces
def _variable(name: str) -> str:
    return f"<i>{html.escape(name)}</i>"


def _number(value: float) -> _Piece:
    # Same digits as format_node; scientific notation becomes mantissa x 10^k.
    magnitude = abs(value)
    text = repr(magnitude) if magnitude != int(magnitude) or magnitude >= 1e16 else str(int(magnitude))
    sign = MINUS if value < 0 else ""
    if "e" in text:
        mantissa, exponent = text.split("e")
        k = int(exponent)
        power = f"10<sup>{MINUS if k < 0 else ''}{abs(k)}</sup>"
        body = power if mantissa in ("1", "1.0") else f"{html.escape(mantissa)}{TIMES}{power}"
        return _Piece(sign + body, "minus" if sign else "num", "sup")
    return _Piece(sign + html.escape(text), "minus" if sign else "num", "num")


def _parenthesize(piece: _Piece) -> _Piece:
    return _Piece(f"({piece.html})", "(", ")")


def _visible(markup: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", markup))


def _render(node: Node, parent: int) -> _Piece:
    """Like format_node: ``parent`` is the precedence the context needs; lower binds looser."""
    if isinstance(node, Num):
        piece = _number(node.value)
        return _parenthesize(piece) if node.value < 0 and parent else piece
    if isinstance(node, Name):
        if node.id in CONSTANTS:
            return _Piece(html.escape(_CONSTANT_TEXT.get(node.id, node.id)), "name", "name")
        return _Piece(_variable(node.id), "name", "name")
    if isinstance(node, Call):
        return _call(node, parent)
    if isinstance(node, Unary):
        operand = _render(node.operand, _PRECEDENCE["neg"])
        piece = _Piece(MINUS + operand.html, "minus", operand.last)
        return _parenthesize(piece) if parent >= _PRECEDENCE["neg"] else piece
    if node.op == "^":
        return _power(_render(node.left, _PRECEDENCE["^"] + 1), node.right, parent)
    if node.op == ".^":  # entry by entry: the exponent written after a small circle, x^∘2
        return _power(_render(node.left, _PRECEDENCE["^"] + 1), node.right, parent, prefix="\u2218")
    p = _PRECEDENCE[node.op]
    # -3x parses as (-3)*x; it reads the same written -3x, so a leading negative number is left bare.
    bare = node.op in "*/" and isinstance(node.left, Num) and node.left.value < 0
    left = _render(node.left, 0 if bare else p)
    right = _render(node.right, p + 1)
    if node.op == "*":
        joiner = _product_joiner(node, left, right)
    elif node.op == "@":  # the matrix product, by juxtaposition as the book writes it
        joiner = "" if right.first == "(" and left.last in (")", "sup") else " "
    elif node.op in _ELEMENTWISE:
        joiner = _ELEMENTWISE[node.op]
    elif node.op == "/":
        joiner = "/"
    else:
        joiner = f" {MINUS if node.op == '-' else '+'} "
        if right.first == "minus":  # x + (-y), x - (-3y): never two signs in a row
            right = _parenthesize(right)
    piece = _Piece(left.html + joiner + right.html, left.first, right.last)
    return _parenthesize(piece) if parent > p else piece


def _power(base: _Piece, exponent_node: Node, parent: int, prefix: str = "") -> _Piece:
    exponent = _render(exponent_node, 0)
    if "<sup>" in exponent.html:  # Qt cannot raise twice: keep the inner power, write this one ^(...)
        piece = _Piece(f"{base.html}^{prefix}({exponent.html})", base.first, ")")
    else:
        piece = _Piece(f"{base.html}<sup>{prefix}{exponent.html}</sup>", base.first, "sup")
    return _parenthesize(piece) if parent > _PRECEDENCE["^"] else piece


def _call(node: Call, parent: int) -> _Piece:
    if node.func == "transpose":  # x<sup>T</sup>, (A + B)<sup>T</sup>
        base = _render(node.args[0], _ATOM)
        if base.last == "sup":  # (x²)ᵀ: Qt cannot raise twice
            base = _parenthesize(base)
        piece = _Piece(f"{base.html}<sup>T</sup>", base.first, "sup")
        return _parenthesize(piece) if parent > _PRECEDENCE["^"] else piece
    args = [_render(a, 0) for a in node.args]
    if node.func == "norm":
        return _Piece(f"\u2016{args[0].html}\u2016", "|", "|")
    if node.func == "abs":
        return _Piece(f"|{args[0].html}|", "|", "|")
    if node.func == "sqrt":
        # Written like a prefix operator: as the base of a power it gets its own parentheses.
        piece = _Piece(f"{ROOT}({args[0].html})", "root", "call")
        return _parenthesize(piece) if parent > _PRECEDENCE["^"] else piece
    if node.func == "exp" and "<sup>" not in args[0].html and len(_visible(args[0].html)) <= SHORT_EXPONENT:
        return _power(_Piece("e", "name", "name"), node.args[0], parent)
    inner = ", ".join(a.html for a in args)
    return _Piece(f"{html.escape(node.func)}({inner})", "func", "call")


def _product_joiner(node: Binary, left: _Piece, right: _Piece) -> str:
    """Juxtapose when it reads unambiguously (2x, 3(x + 1), (x + 1)(x - 1), x²(y + 1)),
    a space between letters and functions (x y, x sin(y)), otherwise a middle dot (x·2, sin(x)·(y))."""
    if isinstance(node.left, Binary) and node.left.op == "/":
        return DOT  # a/b·c, not a/b c (which reads as a/(b c))
    if right.first in ("num", "minus"):
        return DOT
    if left.last == "num" and right.first in ("name", "(", "|", "root"):
        # 2 e1 (a variable named e1) must not read as the number 2e1
        return " " if re.match(r"[eE]\d", _visible(right.html)) else ""
    if right.first == "(" and left.last in (")", "sup"):
        return ""
    if right.first in ("name", "func", "root") and left.last in ("num", "name", "sup", ")", "call", "|"):
        return " "
    return DOT
