"""The expression language: text -> checked expression tree.

Users type what they would write on paper or in Python (``2x^2 + sin(x y)``, ``3(x+1)``,
``a = (w+x)^2; f = a^2``). The text is scanned and parsed by hand into a small tree of
whitelisted nodes. Nothing here ever evaluates the text: anything outside the grammar is a
:class:`ParseError` with a message a student understands and the character it points at.

This module is pure Python (no TensorFlow, no Qt) so the window can check text as it is typed.
"""
from __future__ import annotations

import difflib
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
# A name made only of these letters (xy, xe, yx, xyz) is read as their product, as the book writes
# x^2y + xy^2 and xe^(-x^2-y^2). A declaration line (xy: scalar) or a definition (xy = ...) keeps it one name.
PRODUCT_LETTERS = frozenset("xyze")
# The functions of vectors and matrices a reader may try (issue 16 brings them); until then their
# names get "not supported yet" rather than a guess.
MATRIX_FUNCTIONS = ("norm", "dot", "sum", "transpose", "tr", "trace", "det", "inv", "logdet")
# Declarations (`name: scalar`) say what kind of input a name is. Only scalars exist for now; issue 16
# adds shapes (`x: 3`, `A: 3x3`) here.
DECLARATION_KINDS = ("scalar",)

# True nesting (brackets, calls, signs, powers) is refused beyond MAX_DEPTH: recursion safety, and
# nobody types that. One level costs the parser up to 7 Python frames, so 100 levels stay well
# inside Python's default limit of 1000 frames; 200 did not ("sin(" * 150 raised RecursionError).
MAX_DEPTH = 100
# A flat chain (x + x + ... + x) is parsed in a loop but is a tree of that height, and printing,
# comparing and lowering recurse once per level (comparing uses ~2 frames a level): so the tree's
# height is bounded too, with room for a caller already 200 frames deep.
MAX_HEIGHT = 250
MAX_LENGTH = 20_000      # characters
CARET_WINDOW = 72        # characters of a long line shown around an error

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
        """The offending line with a caret under the position, for terminals. A long line is cut to
        CARET_WINDOW characters around the position, with "…" where it was cut."""
        line_no, column = self.line_column()
        line = self.text.split("\n")[line_no - 1] if self.text else ""
        start = max(0, min(column - 1 - CARET_WINDOW // 2, len(line) - CARET_WINDOW))
        end = min(len(line), start + CARET_WINDOW)
        shown = ("…" if start else "") + line[start:end] + ("…" if end < len(line) else "")
        return f"{shown}\n{' ' * (column - 1 - start + (1 if start else 0))}^"


def shorten(text: str, limit: int = 40) -> str:
    """User text quoted in a message or a note, cut to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Note:
    """How a piece of ambiguous text was read, for the editor's preview ("xy read as x·y").

    ``pos``/``end`` delimit the piece in the text (end excluded)."""

    text: str
    pos: int
    end: int

    def __str__(self) -> str:
        return self.text


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
    # (name, kind) of each declaration line (`xy: scalar`), in order
    declarations: tuple[tuple[str, str], ...] = ()
    # how ambiguous pieces of the text were read, by position: for the preview, not part of the meaning
    notes: tuple[Note, ...] = field(default=(), compare=False)

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
        """A canonical one-line form (also what the preview renders from); parsing it gives the same
        definitions and inputs (declarations included, so a declared xy stays one name)."""
        parts = [f"{name}: {kind}" for name, kind in self.declarations]
        parts += [f"{name} = {format_node(node)}" for name, node in self.definitions[:-1]]
        last = format_node(self.body)
        parts.append(last if self.output == "f" and not parts else f"{self.output} = {last}")
        return "; ".join(parts)


# ----------------------------------------------------------------------------- scanning
@dataclass(frozen=True)
class Token:
    kind: str  # "num", "name", "op", "frac" (LaTeX's \frac), "sep", "end"
    text: str
    pos: int
    end: int = -1  # one past its last character; tokens the scanner adds are empty (end == pos)

    @property
    def stop(self) -> int:
        return self.end if self.end >= 0 else self.pos + len(self.text)


_SUPERSCRIPTS = dict(zip("⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁽⁾ˣʸᶻ", "0123456789+-()xyz"))
_NOT_IN_NAMES = "".join(_SUPERSCRIPTS)  # x² is x^2, not a name "x²"
_TOKEN = re.compile(
    r"(?P<space>[ \t\r]+)"
    r"|(?P<num>(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    rf"|(?P<name>[^\W\d_][^\W{_NOT_IN_NAMES}]*)"
    r"|(?P<op>\*\*|[-+*/^(),={}:])"
    r"|(?P<sep>[;\n])"
)
# Typographic characters students paste from notes, read as what they mean.
_ALIASES = {"\u2212": "-", "\u2013": "-", "\u00d7": "*", "\u00b7": "*", "\u22c5": "*", "\u2217": "*",
            "\u00f7": "/", "\u03c0": "pi", "\u221a": "sqrt"}
# Names for functions that readers know under another name.
_FUNCTION_ALIASES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan"}
# LaTeX: \sin, \log, \sqrt{x}, \frac{a}{b}, \cdot, \left( \right), \pi, \alpha ...
_LATEX_COMMAND = re.compile(r"\\([A-Za-z]+|[,;:! ])")
_LATEX_IGNORED = {"left", "right", ",", ";", ":", "!", " ", "quad", "qquad", "displaystyle", "mathrm"}
_LATEX_OPS = {"cdot": "*", "times": "*", "div": "/"}
_GREEK = dict(zip(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi rho sigma tau upsilon phi "
    "chi psi omega".split(), "αβγδεζηθικλμνξρστυφχψω"))
_WHY_NOT = {
    "'": "strings are not part of a formula", '"': "strings are not part of a formula",
    "[": "subscripts and lists are not supported", "]": "subscripts and lists are not supported",
    ".": "attribute access (a.b) is not supported",
    "<": "comparisons are not supported", ">": "comparisons are not supported",
    "!": "'!' is not supported (no factorials)", "%": "'%' is not supported",
    "@": "'@' is not supported", "|": "use abs(...) for an absolute value",
    "&": "'&' is not supported", "#": "comments are not supported",
    "\\": "'\\' starts a LaTeX command such as \\frac{1}{2} or \\sin",
}


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in _ALIASES:
            alias = _ALIASES[ch]
            tokens.append(Token("name" if alias.isalpha() else "op", alias, i, i + 1))
            i += 1
            continue
        if ch in _SUPERSCRIPTS:
            i = _superscript(text, i, tokens)
            continue
        if ch == "\\" and (m := _LATEX_COMMAND.match(text, i)):
            _latex(m, text, tokens)
            i = m.end()
            continue
        m = _TOKEN.match(text, i)
        if m is None:
            why = _WHY_NOT.get(ch, "it is not part of a formula")
            raise ParseError(f"unexpected character {ch!r}: {why}", i, text)
        kind = m.lastgroup
        if kind == "num" and m.end() < len(text) and text[m.end()] == ".":
            raise ParseError("a number has two decimal points", m.end(), text)
        if kind == "name":
            tokens.append(Token(kind, _FUNCTION_ALIASES.get(m.group(), m.group()), i, m.end()))
        elif kind != "space":
            tokens.append(Token(kind, m.group(), i, m.end()))
        i = m.end()
    tokens.append(Token("end", "", len(text), len(text)))
    return tokens


def _superscript(text: str, i: int, tokens: list[Token]) -> int:
    """A run of superscript characters is one bracketed exponent: x⁻¹ is x^(-1), e⁻ˣ is e^(-x)."""
    j = i
    while j < len(text) and text[j] in _SUPERSCRIPTS:
        j += 1
    plain = "".join(_SUPERSCRIPTS[c] for c in text[i:j])
    if m := re.search(r"[xyz][0-9]", plain):
        raise ParseError("a power inside a superscript is ambiguous: write it with ^, as in e^(-x^2)",
                         i + m.start() + 1, text)
    opened: list[int] = []  # the exponent is bracketed as a whole: its own brackets must match inside it
    for k, c in enumerate(plain):
        if c == "(":
            opened.append(k)
        elif c == ")" and opened:
            opened.pop()
        elif c == ")":
            opened.append(k)
            break
    if opened:
        raise ParseError("this superscript bracket is not matched within the superscript", i + opened[0], text)
    tokens += [Token("op", "^", i, i), Token("op", "(", i, i)]
    for m in re.finditer(r"[0-9]+|[xyz]|[-+()]", plain):  # one character of text per character of plain
        kind = "num" if m.group().isdigit() else "name" if m.group().isalpha() else "op"
        tokens.append(Token(kind, m.group(), i + m.start(), i + m.end()))
    tokens.append(Token("op", ")", j, j))
    return j


def _latex(m: re.Match, text: str, tokens: list[Token]) -> None:
    command, pos, end = m.group(1), m.start(), m.end()
    if command in _LATEX_IGNORED:
        return
    if command in _LATEX_OPS:
        tokens.append(Token("op", _LATEX_OPS[command], pos, end))
    elif command == "frac":
        tokens.append(Token("frac", "\\frac", pos, end))
    elif command in FUNCTIONS or command in _FUNCTION_ALIASES or command == "pi":
        tokens.append(Token("name", _FUNCTION_ALIASES.get(command, command), pos, end))
    elif command in _GREEK:
        tokens.append(Token("name", _GREEK[command], pos, end))
    else:
        raise ParseError(f"unknown LaTeX command \\{shorten(command)}", pos, text)


# ----------------------------------------------------------------------------- parsing
_OPENERS = {"(": ")", "{": "}"}
_INVERSES = {"sin": "asin", "cos": "acos", "tan": "atan"}


def is_product_name(name: str) -> bool:
    """xy, xe, yxz: read as a product of the letters unless declared or defined."""
    return len(name) > 1 and all(c in PRODUCT_LETTERS for c in name)


def compact(node: Node) -> str:
    """A node as a note shows it: the canonical text with products as · and tight divisions."""
    return shorten(format_node(node).replace(" * ", "·").replace(" / ", "/"), 60)


class _Parser:
    """Recursive descent over one statement's tokens.

    expr   := term (('+'|'-') term)*
    term   := unary (('*'|'/') unary | <implicit> power)*       implicit: 2x, x y, 3(x+1), x sin(y)
    unary  := ('-'|'+') unary | power
    power  := atom (('^'|'**') unary)?          right-associative; 2^-x is allowed
    atom   := number | name | '(' expr ')' | '{' expr '}' | \\frac group group
            | function ['^' exponent] ( '(' args ')' | product )     sin(x), sin^2(x), ln x, sin 2x
    product:= power (power)*  stopping at an operator, a bracket's end or a function's name
    """

    def __init__(self, tokens: list[Token], text: str, notes: list[Note]):
        self.tokens, self.text, self.notes, self.i, self.depth = tokens, text, notes, 0, 0
        self.heights: dict[int, tuple[Node, int]] = {}  # id(node) -> (node, height of its tree)
        self.bare_power: tuple[int, Binary] | None = None  # (index after it, node) of x^1 without brackets

    def error(self, message: str, pos: int) -> ParseError:
        return ParseError(message, pos, self.text)

    def note(self, reading: str, first: Token) -> None:
        """Record how the text from ``first`` to the last token taken was read."""
        end = self.tokens[self.i - 1].stop
        source = shorten(" ".join(self.text[first.pos:end].split()), 60)
        self.notes.append(Note(f"{source} read as {reading}", first.pos, end))

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
        if t.kind == "op" and t.text in (")", "}"):
            return self.error(f"unmatched '{t.text}'", t.pos)
        if t.kind == "op" and t.text == "=":
            return self.error("'=' can only follow a name at the start of a line, as in a = x + 1", t.pos)
        if t.kind == "op" and t.text == ":":
            return self.error("':' has no meaning here; a declaration is a line like xy: scalar", t.pos)
        if t.kind == "num":
            return self.error(f"missing operator before the number {shorten(t.text)}", t.pos)
        if t.kind == "op" and t.text == ",":
            return self.error("',' is only used between a function's arguments", t.pos)
        return self.error(f"unexpected {shorten(t.text)!r}", t.pos)

    def expr(self) -> Node:
        node = self.term()
        while self.at("+", "-"):
            op = self.take()
            node = self.binary(op.text, node, self.term(), op.pos)
        return node

    def starts_factor(self) -> bool:
        """Whether the next token starts a factor of an implicit product (2x, x y, 3(x+1))."""
        return self.tok.kind in ("name", "frac") or self.at("(", "{")

    def term(self) -> Node:
        first = self.tok
        node = self.unary()
        divided = False  # the last operator was '/': a factor written next would be ambiguous
        while True:
            if self.at("*", "/"):
                op = self.take()
                after_power = self.bare_power is not None and self.bare_power[0] == self.i - 1
                right = self.unary()
                if op.text == "/" and after_power:  # x^1/2
                    p = self.bare_power[1]
                    self.note(f"({compact(p)})/{compact(right)}, "
                              f"not {compact(p.left)}^({compact(p.right)}/{compact(right)})", first)
                node = self.binary(op.text, node, right, op.pos)
                divided = op.text == "/"
            elif self.starts_factor():
                pos = self.tok.pos
                factor = self.power()
                if divided and isinstance(node, Binary):  # x/2y
                    self.note(f"({compact(node)})·{compact(factor)}, not "
                              f"{compact(node.left)}/({compact(node.right)}·{compact(factor)})", first)
                node = self.binary("*", node, factor, pos)
                divided = False
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
            bracketed = self.at(*_OPENERS)
            exponent = self.unary()
            self.depth -= 1
            node = self.binary("^", base, exponent, op.pos)
            if not bracketed:
                self.bare_power = (self.i, node)
            return node
        return base

    def binary(self, op: str, left: Node, right: Node, pos: int) -> Binary:
        return self.tall(Binary(op, left, right, pos))

    def tall(self, node: Node) -> Node:
        """Refuse trees taller than MAX_HEIGHT: x+x+...+x is parsed in a loop, but printing,
        comparing and lowering the tree recurse once per level."""
        height = 1 + max((self.heights.get(id(c), (c, 1))[1] for c in children(node)), default=0)
        if height > MAX_HEIGHT:
            raise self.error(
                f"the formula is too long to compute in one piece (over {MAX_HEIGHT} operations in a row); "
                f"split it into definitions, as in a = ...; f = a + ...", node.pos)
        self.heights[id(node)] = (node, height)
        return node

    def atom(self) -> Node:
        t = self.tok
        if t.kind == "num":
            self.take()
            value = float(t.text)
            if not math.isfinite(value):
                raise self.error(f"the number {shorten(t.text)} is too large", t.pos)
            return Num(value, t.pos)
        if t.kind == "name":
            self.take()
            check_name(t.text, t.pos, self.text)
            if t.text in FUNCTIONS:
                return self.function(t)
            if self.at(*_OPENERS) and t.text not in PRODUCT_LETTERS:
                raise self.error(unknown_function(t.text), t.pos)
            return Name(t.text, t.pos)  # x(x+1), like 12x(x-2)(x+1), is a product: x is never a function
        if self.at(*_OPENERS):
            return self.group()
        if t.kind == "frac":
            self.take()
            self.nest(t.pos)
            if not self.at(*_OPENERS):
                raise self.error("\\frac needs two groups, as in \\frac{1}{2}", t.pos)
            numerator = self.group()
            if not self.at(*_OPENERS):
                raise self.error("\\frac needs two groups, as in \\frac{1}{2}", self.tok.pos)
            denominator = self.group()
            self.depth -= 1
            return self.binary("/", numerator, denominator, t.pos)
        if t.kind == "end" or self.at(")", "}", ","):
            # "(x *)" and "max(x, )" lack an operand; the ')' itself is matched.
            prev = self.tokens[self.i - 1] if self.i else None
            if prev is not None and prev.kind == "op":
                raise self.error(f"expected a number, a name or '(' after {prev.text!r}", t.pos)
            if t.kind == "end":
                raise self.error("expected a formula here", t.pos)
        if t.kind == "op" and t.text in ("*", "/", "^", "**"):
            raise self.error(f"{t.text!r} needs something on its left", t.pos)
        raise self.unexpected(t)

    def close(self, opener: Token) -> None:
        """Take the bracket closing ``opener``, or say what is wrong."""
        closer = _OPENERS[opener.text]
        if self.at(closer):
            self.take()
            return
        if self.tok.kind == "end":
            raise self.error(f"this '{opener.text}' is never closed", opener.pos)
        if self.at(")", "}"):
            raise self.error(f"this '{self.tok.text}' closes the '{opener.text}' at column {opener.pos + 1}; "
                             f"close it with '{closer}'", self.tok.pos)
        raise self.unexpected(self.tok)

    def group(self) -> Node:
        opener = self.take()
        self.nest(opener.pos)
        inner = self.expr()
        self.close(opener)
        self.depth -= 1
        return inner

    def function(self, t: Token) -> Node:
        """sin(x); sin^2(x) = sin(x)^2; ln x, sin 2x: without brackets a function of one argument takes
        the product written next to it (ln x = ln(x), sin 2x y = sin(2x y), sin x + 1 = sin(x) + 1)."""
        name = t.text
        exponent = self.function_power(name) if self.at("^", "**") else None
        if self.at(*_OPENERS):
            node = self.call(name, t.pos)
        elif FUNCTIONS[name] == (1, 1) and (self.starts_factor() or self.tok.kind == "num"):
            self.nest(t.pos)
            argument = self.power()
            while self.starts_factor() and not (self.tok.kind == "name" and self.tok.text in FUNCTIONS):
                pos = self.tok.pos
                argument = self.binary("*", argument, self.power(), pos)
            self.depth -= 1
            node = self.tall(Call(name, (argument,), t.pos))
            if exponent is not None:
                node = self.binary("^", node, exponent, t.pos)
            self.note(compact(node), t)
            return node
        else:
            raise self.error(f"{name} needs parentheses, as in {name}(x)", t.pos)
        return node if exponent is None else self.binary("^", node, exponent, t.pos)

    def function_power(self, name: str) -> Node:
        """The 2 of sin^2(x) (or sin²x): a number, a signed number or a bracketed group."""
        op = self.take()
        if self.at("-") or self.tok.kind == "num" or self.at(*_OPENERS):
            self.nest(op.pos)
            exponent = self.unary() if self.at("-") else self.atom()
            self.depth -= 1
        else:
            raise self.error(f"write the power of {name} as a number, as in {name}^2(x)", self.tok.pos)
        if exponent == Num(-1.0):
            inverse = f"{_INVERSES[name]}(x) for the inverse function, or " if name in _INVERSES else ""
            raise self.error(f"{name}^-1 is ambiguous: write {inverse}1/{name}(x)", op.pos)
        return exponent

    def call(self, name: str, pos: int) -> Call:
        opener = self.take()
        self.nest(opener.pos)
        args: list[Node] = []
        if not self.at(_OPENERS[opener.text]):
            while True:
                args.append(self.expr())
                if self.at(","):
                    self.take()
                    continue
                break
        self.close(opener)
        self.depth -= 1
        low, high = FUNCTIONS[name]
        if len(args) < low or (high is not None and len(args) > high):
            want = (f"{low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}")
            plural = "" if want == "1" else "s"
            raise self.error(f"{name} takes {want} argument{plural}, got {len(args)}", pos)
        return self.tall(Call(name, tuple(args), pos))


def unknown_function(name: str) -> str:
    """The message for name(...) when name is not a function: what the reader may have meant."""
    known = ", ".join(FUNCTIONS)
    quoted = shorten(name)
    if name in MATRIX_FUNCTIONS:
        # issue 16: once vectors and matrices exist, point at their notation here
        return f"unknown function '{quoted}': vectors and matrices are not supported yet; the functions are {known}"
    if len(name) == 1 or name in CONSTANTS:
        return f"unknown function '{quoted}'; for {quoted} times (...) write {quoted}*(...)"
    for function in FUNCTIONS:
        prefix = name[: -len(function)]
        if name.endswith(function) and prefix and all(c in PRODUCT_LETTERS for c in prefix):
            return f"unknown function '{quoted}'; for {' '.join(prefix)} times {function}(...) write " \
                   f"{' '.join(prefix)} {function}(...)"
    close = difflib.get_close_matches(name, FUNCTIONS, n=1)
    guess = f"; did you mean {close[0]}?" if close else "."
    return f"unknown function '{quoted}'{guess} The functions are {known}"


def check_name(name: str, pos: int, text: str) -> None:
    if name in _PYTHON_WORDS:
        raise ParseError(f"'{shorten(name)}' is a reserved word, not part of a formula", pos, text)


def _split_statements(tokens: list[Token]) -> list[list[Token]]:
    statements, current = [], []
    for t in tokens:
        if t.kind in ("sep", "end"):
            if current:
                statements.append(current + [Token("end", "", t.pos, t.pos)])
            current = []
        else:
            current.append(t)
    return statements


def _declaration(stmt: list[Token], text: str) -> tuple[Token, str] | None:
    """``name: kind`` (a declaration line), or None for any other line. A ':' anywhere else is an error."""
    colons = [k for k, t in enumerate(stmt) if t.kind == "op" and t.text == ":"]
    if not colons:
        return None
    if colons[0] != 1 or stmt[0].kind != "name":
        raise ParseError("':' has no meaning here; a declaration is a line like xy: scalar", stmt[colons[0]].pos, text)
    head = stmt[0]
    check_name(head.text, head.pos, text)
    if head.text in FUNCTIONS or head.text in CONSTANTS:
        raise ParseError(f"'{head.text}' is a built-in name; choose another name", head.pos, text)
    kind_start = stmt[2].pos
    kind = text[kind_start:stmt[-1].pos].strip()
    if not kind:
        raise ParseError(f"'{shorten(head.text)}:' needs a kind after the colon, as in {shorten(head.text)}: scalar",
                         stmt[1].pos, text)
    if kind not in DECLARATION_KINDS:
        # issue 16: sizes (x: 3, A: 3x3) declare vectors and matrices
        raise ParseError(f"'{shorten(kind)}' is not a kind calcviz knows: only numbers exist so far, declared as "
                         f"{shorten(head.text)}: scalar (vectors and matrices are not supported yet)", kind_start, text)
    return head, kind


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
        raise ParseError(f"'{shorten(head.text)} =' needs a formula after the '='", stmt[k].pos, text)
    return head, body


def parse(text: str) -> Expression:
    """Parse one formula or several definitions (separated by newlines or ';'), with declaration
    lines (``xy: scalar``) anywhere among them."""
    if not isinstance(text, str):
        raise ParseError("a formula must be text", 0, "")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the text is too long (over {MAX_LENGTH} characters)", MAX_LENGTH, text)
    statements = _split_statements(tokenize(text))
    if not statements:
        raise ParseError("type a function, for example x^2 + y^2", 0, text)

    declarations: dict[str, tuple[str, int]] = {}
    lines: list[tuple[Token | None, list[Token], list[Token]]] = []  # (target, body, whole statement)
    for stmt in statements:
        declared = _declaration(stmt, text)
        if declared is None:
            lines.append((*_definition_target(stmt, text), stmt))
            continue
        head, kind = declared
        if head.text in declarations:
            raise ParseError(f"'{shorten(head.text)}' is declared twice", head.pos, text)
        declarations[head.text] = (kind, head.pos)
    if not lines:
        raise ParseError("after the declarations, type the function, for example x^2 + y^2", len(text), text)
    if statements[-1] is not lines[-1][2]:
        raise ParseError("the last line must be the function; put declarations before it", statements[-1][0].pos, text)
    # Declared and defined names are read whole; any other name made of x, y, z and e is a product.
    whole = set(declarations) | {target.text for target, _, _ in lines if target is not None}
    notes: list[Note] = []
    definitions: list[tuple[str, Node, int]] = []
    for index, (target, body_tokens, stmt) in enumerate(lines):
        if target is not None and target.text in declarations:
            raise ParseError(f"'{shorten(target.text)}' is both declared and defined: a declaration is for an "
                             f"input, so remove one of them", target.pos, text)
        body = _Parser(_split_products(body_tokens, whole, notes), text, notes).parse_statement_body()
        if target is None and index != len(lines) - 1:
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
    for name, (_, pos) in declarations.items():
        if name not in inputs:
            notes.append(Note(f"{shorten(name)} is declared but not used", pos, pos + len(name)))
    ordered = [a for a in AXES if a in inputs] + [n for n in inputs if n not in AXES]
    unique = {note.text: note for note in reversed(notes)}  # the first of equal notes
    return Expression(text, tuple((name, body) for name, body, _ in definitions), tuple(ordered),
                      tuple((name, kind) for name, (kind, _) in declarations.items()),
                      tuple(sorted(unique.values(), key=lambda n: n.pos)))


def _split_products(tokens: list[Token], whole: set[str], notes: list[Note]) -> list[Token]:
    """xy -> x y (one name token per letter), for every name made of x, y, z and e not in ``whole``."""
    out: list[Token] = []
    for t in tokens:
        if t.kind == "name" and is_product_name(t.text) and t.text not in whole:
            out += [Token("name", c, t.pos + k, t.pos + k + 1) for k, c in enumerate(t.text)]
            notes.append(Note(f"{t.text} read as {'·'.join(t.text)} (for one name, add a line {t.text}: scalar)",
                              t.pos, t.stop))
        else:
            out.append(t)
    return out


def _check_definitions(definitions: list[tuple[str, Node, int]], text: str) -> None:
    where = {}
    for index, (name, _, pos) in enumerate(definitions):
        if name in where:
            raise ParseError(f"'{shorten(name)}' is defined twice", pos, text)
        where[name] = index
    for index, (name, body, _) in enumerate(definitions):
        for n in names_in(body):
            later = where.get(n.id)
            if later is None or later < index:
                continue
            if later == index:
                raise ParseError(f"'{shorten(name)}' is defined in terms of itself", n.pos, text)
            cycle = _find_cycle(definitions, where, start=index)
            if cycle:
                raise ParseError("these definitions go round in a circle: " + shorten(" -> ".join(cycle), 120),
                                 n.pos, text)
            raise ParseError(f"'{shorten(n.id)}' is used before it is defined (define it on an earlier line)",
                             n.pos, text)


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
