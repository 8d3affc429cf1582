"""The expression language: text -> checked expression tree.

Users type what they would write on paper or in Python (``2x^2 + sin(x y)``, ``3(x+1)``,
``a = (w+x)^2; f = a^2``). The text is scanned and parsed by hand into a small tree of
whitelisted nodes. Nothing here ever evaluates the text: anything outside the grammar is a
:class:`ParseError` with a message a student understands and the character it points at.

This module is pure Python (no TensorFlow, no Qt) so the window can check text as it is typed.
"""
from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass, field

# name -> (fewest, most) arguments; None = any number. TensorFlow lowering lives in tf_lowering.py.
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    **{name: (1, 1) for name in (
        "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "exp",
        "log", "ln", "log2", "log10", "sqrt", "abs", "sigmoid", "softplus", "relu")},
    "atan2": (2, 2),
    "min": (2, None),
    "max": (2, None),
    "logsumexp": (1, None),
}
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}
AXES = ("x", "y")  # the plot axes, when an expression uses them

# Deeper nesting (and taller trees) are refused: recursion safety, and nobody types that. One level
# of nesting costs the parser up to 7 Python frames (a call), so 100 levels stay well inside
# Python's default limit of 1000 frames; 200 did not ("sin(" * 150 raised RecursionError).
MAX_DEPTH = 100
MAX_LENGTH = 20_000      # characters

_PYTHON_WORDS = set(keyword.kwlist) | set(keyword.softkwlist)


class ParseError(ValueError):
    """What is wrong with the text, and where (0-based character offset into the text)."""

    def __init__(self, message: str, position: int, text: str = ""):
        super().__init__(message)
        self.message = message
        self.position = max(0, min(position, len(text))) if text else max(0, position)
        self.text = text

    def __str__(self) -> str:
        line, column = self.line_column()
        where = f"line {line}, column {column}" if "\n" in self.text else f"column {column}"
        return f"{self.message} ({where})"

    def line_column(self) -> tuple[int, int]:
        before = self.text[: self.position]
        return before.count("\n") + 1, self.position - (before.rfind("\n") + 1) + 1

    def caret(self) -> str:
        """The offending line with a caret under the position, for terminals."""
        line_no, column = self.line_column()
        line = self.text.split("\n")[line_no - 1] if self.text else ""
        return f"{line}\n{' ' * (column - 1)}^"


# ----------------------------------------------------------------------------- the tree
@dataclass(frozen=True)
class Num:
    value: float
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Name:
    id: str
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Unary:
    op: str  # only "-"
    operand: "Node"
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Binary:
    op: str  # one of + - * / ^
    left: "Node"
    right: "Node"
    pos: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple["Node", ...]
    pos: int = field(default=0, compare=False)


Node = Num | Name | Unary | Binary | Call


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    return ()


def names_in(node: Node) -> list[Name]:
    """Every Name node, in reading order."""
    found: list[Name] = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Name):
            found.append(n)
        stack.extend(reversed(children(n)))
    return found


@dataclass(frozen=True)
class Expression:
    """A checked program: definitions in order; the last one is the function."""

    text: str
    definitions: tuple[tuple[str, Node], ...]
    inputs: tuple[str, ...]  # free names: x, y first (when used), then by first appearance

    @property
    def output(self) -> str:
        return self.definitions[-1][0]

    @property
    def body(self) -> Node:
        return self.definitions[-1][1]

    @property
    def intermediates(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.definitions[:-1])

    @property
    def axes(self) -> tuple[str, ...]:
        """Default plot axes: x and y when used, else the first one or two inputs."""
        named = tuple(a for a in AXES if a in self.inputs)
        return named if named else self.inputs[:2]

    def to_text(self) -> str:
        """A canonical one-line form (also what the preview renders from)."""
        parts = [f"{name} = {format_node(node)}" for name, node in self.definitions[:-1]]
        last = format_node(self.body)
        parts.append(last if self.output == "f" and not parts else f"{self.output} = {last}")
        return "; ".join(parts)


# ----------------------------------------------------------------------------- scanning
@dataclass(frozen=True)
class Token:
    kind: str  # "num", "name", "op", "sep", "end"
    text: str
    pos: int


_TOKEN = re.compile(
    r"(?P<space>[ \t\r]+)"
    r"|(?P<num>(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    r"|(?P<name>[^\W\d_][^\W\u00b2\u00b3]*)"  # x² is x^2, not a name "x²"
    r"|(?P<op>\*\*|[-+*/^(),=])"
    r"|(?P<sep>[;\n])"
)
# Typographic characters students paste from notes, read as what they mean.
_ALIASES = {"\u2212": "-", "\u00d7": "*", "\u00b7": "*", "\u22c5": "*", "\u00f7": "/", "\u03c0": "pi"}
_SUPERSCRIPTS = {"\u00b2": "2", "\u00b3": "3"}
_WHY_NOT = {
    "'": "strings are not part of a formula", '"': "strings are not part of a formula",
    "[": "subscripts and lists are not supported", "]": "subscripts and lists are not supported",
    "{": "braces are not supported; use ( )", "}": "braces are not supported; use ( )",
    ".": "attribute access (a.b) is not supported", ":": "':' has no meaning here",
    "<": "comparisons are not supported", ">": "comparisons are not supported",
    "!": "'!' is not supported (no factorials)", "%": "'%' is not supported",
    "@": "'@' is not supported", "|": "use abs(...) for an absolute value",
    "&": "'&' is not supported", "#": "comments are not supported", "\\": "'\\' is not supported",
}


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in _ALIASES:
            alias = _ALIASES[ch]
            tokens.append(Token("name" if alias.isalpha() else "op", alias, i))
            i += 1
            continue
        if ch in _SUPERSCRIPTS:
            tokens += [Token("op", "^", i), Token("num", _SUPERSCRIPTS[ch], i)]
            i += 1
            continue
        m = _TOKEN.match(text, i)
        if m is None:
            why = _WHY_NOT.get(ch, "it is not part of a formula")
            raise ParseError(f"unexpected character {ch!r}: {why}", i, text)
        kind = m.lastgroup
        if kind == "num" and m.end() < len(text) and text[m.end()] == ".":
            raise ParseError("a number has two decimal points", m.end(), text)
        if kind != "space":
            tokens.append(Token(kind, m.group(), i))
        i = m.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# ----------------------------------------------------------------------------- parsing
_ATOM_START = ("num", "name")


class _Parser:
    """Recursive descent over one statement's tokens.

    expr   := term (('+'|'-') term)*
    term   := unary (('*'|'/') unary | <implicit> power)*
    unary  := ('-'|'+') unary | power
    power  := atom (('^'|'**') unary)?          right-associative; 2^-x is allowed
    atom   := number | name | function '(' args ')' | '(' expr ')'
    """

    def __init__(self, tokens: list[Token], text: str):
        self.tokens, self.text, self.i, self.depth = tokens, text, 0, 0
        self.heights: dict[int, tuple[Node, int]] = {}  # id(node) -> (node, height of its tree)

    def error(self, message: str, pos: int) -> ParseError:
        return ParseError(message, pos, self.text)

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        t = self.tokens[self.i]
        self.i += 1
        return t

    def at(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def nest(self, pos: int) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"the formula is nested too deeply (over {MAX_DEPTH} levels); split it into definitions", pos)

    def parse_statement_body(self) -> Node:
        node = self.expr()
        if self.tok.kind != "end":
            raise self.unexpected(self.tok)
        return node

    def unexpected(self, t: Token) -> ParseError:
        if t.kind == "op" and t.text == ")":
            return self.error("unmatched ')'", t.pos)
        if t.kind == "op" and t.text == "=":
            return self.error("'=' can only follow a name at the start of a line, as in a = x + 1", t.pos)
        if t.kind == "num":
            return self.error(f"missing operator before the number {t.text}", t.pos)
        if t.kind == "op" and t.text == ",":
            return self.error("',' is only used between a function's arguments", t.pos)
        return self.error(f"unexpected {t.text!r}", t.pos)

    def expr(self) -> Node:
        node = self.term()
        while self.at("+", "-"):
            op = self.take()
            node = self.binary(op.text, node, self.term(), op.pos)
        return node

    def term(self) -> Node:
        node = self.unary()
        while True:
            if self.at("*", "/"):
                op = self.take()
                node = self.binary(op.text, node, self.unary(), op.pos)
            elif self.tok.kind == "name" or self.at("("):
                # Implicit multiplication: 2x, 3(x+1), (x+1)(x-1), 2pi, x y.
                pos = self.tok.pos
                node = self.binary("*", node, self.power(), pos)
            else:
                return node

    def unary(self) -> Node:
        if self.at("-", "+"):
            op = self.take()
            self.nest(op.pos)
            operand = self.unary()
            self.depth -= 1
            if op.text == "+":
                return operand
            if isinstance(operand, Num):
                return Num(-operand.value, op.pos)
            return self.tall(Unary("-", operand, op.pos))
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.at("^", "**"):
            op = self.take()
            self.nest(op.pos)
            exponent = self.unary()
            self.depth -= 1
            return self.binary("^", base, exponent, op.pos)
        return base

    def binary(self, op: str, left: Node, right: Node, pos: int) -> Binary:
        return self.tall(Binary(op, left, right, pos))

    def tall(self, node: Node) -> Node:
        """Refuse trees taller than MAX_DEPTH: x+x+...+x is parsed in a loop, but printing,
        comparing and lowering the tree recurse once per level."""
        height = 1 + max((self.heights.get(id(c), (c, 1))[1] for c in children(node)), default=0)
        if height > MAX_DEPTH:
            raise self.error(
                f"the formula is nested too deeply (over {MAX_DEPTH} levels); split it into definitions", node.pos)
        self.heights[id(node)] = (node, height)
        return node

    def atom(self) -> Node:
        t = self.tok
        if t.kind == "num":
            self.take()
            value = float(t.text)
            if not math.isfinite(value):
                raise self.error(f"the number {t.text} is too large", t.pos)
            return Num(value, t.pos)
        if t.kind == "name":
            self.take()
            return self.name_or_call(t)
        if self.at("("):
            self.take()
            self.nest(t.pos)
            inner = self.expr()
            self.depth -= 1
            if not self.at(")"):
                if self.tok.kind == "end":
                    raise self.error("this '(' is never closed", t.pos)
                raise self.unexpected(self.tok)
            self.take()
            return inner
        if t.kind == "end" or self.at(")", ","):
            # "(x *)" and "max(x, )" lack an operand; the ')' itself is matched.
            prev = self.tokens[self.i - 1] if self.i else None
            if prev is not None and prev.kind == "op":
                raise self.error(f"expected a number, a name or '(' after {prev.text!r}", t.pos)
            if t.kind == "end":
                raise self.error("expected a formula here", t.pos)
        if t.kind == "op" and t.text in ("*", "/", "^", "**"):
            raise self.error(f"{t.text!r} needs something on its left", t.pos)
        raise self.unexpected(t)

    def name_or_call(self, t: Token) -> Node:
        name = t.text
        check_name(name, t.pos, self.text)
        if name in FUNCTIONS:
            if not self.at("("):
                raise self.error(f"{name} needs parentheses, as in {name}(x)", t.pos)
            return self.call(name, t.pos)
        if self.at("("):
            hint = f"; for a product write {name}*(...)" if name not in CONSTANTS else ""
            raise self.error(f"unknown function '{name}'{hint}", t.pos)
        return Name(name, t.pos)

    def call(self, name: str, pos: int) -> Call:
        open_tok = self.take()
        self.nest(open_tok.pos)
        args: list[Node] = []
        if not self.at(")"):
            while True:
                args.append(self.expr())
                if self.at(","):
                    self.take()
                    continue
                break
        if not self.at(")"):
            if self.tok.kind == "end":
                raise self.error("this '(' is never closed", open_tok.pos)
            raise self.unexpected(self.tok)
        self.take()
        self.depth -= 1
        low, high = FUNCTIONS[name]
        if len(args) < low or (high is not None and len(args) > high):
            want = (f"{low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}")
            plural = "" if want == "1" else "s"
            raise self.error(f"{name} takes {want} argument{plural}, got {len(args)}", pos)
        return self.tall(Call(name, tuple(args), pos))


def check_name(name: str, pos: int, text: str) -> None:
    if name in _PYTHON_WORDS:
        raise ParseError(f"'{name}' is a reserved word, not part of a formula", pos, text)


def _split_statements(tokens: list[Token]) -> list[list[Token]]:
    statements, current = [], []
    for t in tokens:
        if t.kind in ("sep", "end"):
            if current:
                statements.append(current + [Token("end", "", t.pos)])
            current = []
        else:
            current.append(t)
    return statements


def _definition_target(stmt: list[Token], text: str) -> tuple[Token | None, list[Token]]:
    """Split ``name = body`` (also ``f(x, y) = body``); a bare formula has no target."""
    equals = [k for k, t in enumerate(stmt) if t.kind == "op" and t.text == "="]
    if not equals:
        return None, stmt
    if len(equals) > 1:
        raise ParseError("only one '=' per line", stmt[equals[1]].pos, text)
    k = equals[0]
    lhs = stmt[:k]
    if not lhs:
        raise ParseError("'=' needs a name on its left, as in a = x + 1", stmt[k].pos, text)
    head = lhs[0]
    # f(x, y) = ... : the argument list only documents the inputs.
    signature_ok = len(lhs) == 1 or (
        len(lhs) >= 3 and lhs[1].text == "(" and lhs[-1].text == ")"
        and all(t.kind == "name" if j % 2 == 0 else t.text == "," for j, t in enumerate(lhs[2:-1]))
    )
    if head.kind != "name" or not signature_ok:
        raise ParseError("the left of '=' must be a single name, as in a = x + 1", head.pos, text)
    check_name(head.text, head.pos, text)
    if head.text in FUNCTIONS or head.text in CONSTANTS:
        raise ParseError(f"'{head.text}' is a built-in name; choose another name", head.pos, text)
    body = stmt[k + 1:]
    if body[0].kind == "end":
        raise ParseError(f"'{head.text} =' needs a formula after the '='", stmt[k].pos, text)
    return head, body


def parse(text: str) -> Expression:
    """Parse one formula or several definitions (separated by newlines or ';')."""
    if not isinstance(text, str):
        raise ParseError("a formula must be text", 0, "")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the text is too long (over {MAX_LENGTH} characters)", MAX_LENGTH, text)
    statements = _split_statements(tokenize(text))
    if not statements:
        raise ParseError("type a function, for example x^2 + y^2", 0, text)

    definitions: list[tuple[str, Node, int]] = []
    for index, stmt in enumerate(statements):
        target, body_tokens = _definition_target(stmt, text)
        body = _Parser(body_tokens, text).parse_statement_body()
        last = index == len(statements) - 1
        if target is None and not last:
            raise ParseError("only the last line may be a bare formula; name this one, as in a = ...",
                             stmt[0].pos, text)
        definitions.append((target.text if target else "f", body, target.pos if target else stmt[0].pos))

    _check_definitions(definitions, text)
    defined = {name for name, _, _ in definitions}
    inputs: list[str] = []
    for _, body, _ in definitions:
        for n in names_in(body):
            if n.id not in defined and n.id not in CONSTANTS and n.id not in inputs:
                inputs.append(n.id)
    ordered = [a for a in AXES if a in inputs] + [n for n in inputs if n not in AXES]
    return Expression(text, tuple((name, body) for name, body, _ in definitions), tuple(ordered))


def _check_definitions(definitions: list[tuple[str, Node, int]], text: str) -> None:
    where = {}
    for index, (name, _, pos) in enumerate(definitions):
        if name in where:
            raise ParseError(f"'{name}' is defined twice", pos, text)
        where[name] = index
    for index, (name, body, _) in enumerate(definitions):
        for n in names_in(body):
            later = where.get(n.id)
            if later is None or later < index:
                continue
            if later == index:
                raise ParseError(f"'{name}' is defined in terms of itself", n.pos, text)
            cycle = _find_cycle(definitions, where, start=index)
            if cycle:
                raise ParseError("these definitions go round in a circle: " + " -> ".join(cycle), n.pos, text)
            raise ParseError(f"'{n.id}' is used before it is defined (define it on an earlier line)", n.pos, text)


def _find_cycle(definitions, where, start: int) -> list[str] | None:
    """A path start -> ... -> start through the definitions, if there is one."""
    start_name = definitions[start][0]
    stack = [(start_name, [start_name])]
    seen = set()
    while stack:
        name, path = stack.pop()
        for n in names_in(definitions[where[name]][1]):
            if n.id == start_name:
                return path + [start_name]
            if n.id in where and n.id not in seen:
                seen.add(n.id)
                stack.append((n.id, path + [n.id]))
    return None


# ----------------------------------------------------------------------------- printing
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "neg": 3, "^": 4}


def format_node(node: Node, parent: int = 0) -> str:
    """Plain text with the fewest parentheses that keep the meaning (round-trips through parse)."""
    if isinstance(node, Num):
        text = repr(node.value) if node.value != int(node.value) or abs(node.value) >= 1e16 else str(int(node.value))
        return f"({text})" if node.value < 0 and parent else text
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Call):
        return f"{node.func}({', '.join(format_node(a) for a in node.args)})"
    if isinstance(node, Unary):
        text = "-" + format_node(node.operand, _PRECEDENCE["neg"])
        return f"({text})" if parent >= _PRECEDENCE["neg"] else text
    p = _PRECEDENCE[node.op]
    # Left-associative ops need parentheses on an equal-precedence right side; ^ on the left.
    left = format_node(node.left, p + (1 if node.op == "^" else 0))
    right = format_node(node.right, p + (0 if node.op == "^" else 1))
    text = f"{left}^{right}" if node.op == "^" else f"{left} {node.op} {right}"
    return f"({text})" if parent > p else text
