"""The expression language: text -> checked expression tree.

Users type what they would write on paper or in Python (``2x^2 + sin(x y)``, ``3(x+1)``,
``a = (w+x)^2; f = a^2``). The text is scanned and parsed by hand into a small tree of
whitelisted nodes. Nothing here ever evaluates the text: anything outside the grammar is a
:class:`ParseError` with a message a student understands and the character it points at.

A formula that declares vectors or matrices (``x: 3; A: 3x3; x^T A x``) is read in the book's notation and
matrixcalculus.org's, every node given its :class:`Shape` as it is built: shapes that do not fit are refused
where they meet, and the tree says what each product is (``@`` the matrix product, ``*`` a product with a
number). :func:`parse_derivatives` reads the derivatives a user writes to check (``d/dx = (A + A^T) x``).

This module is pure Python (no TensorFlow, no Qt) so the window can check text as it is typed.
"""
from __future__ import annotations

import difflib
import itertools
import keyword
import math
import re
from dataclasses import dataclass, field, replace
from typing import Mapping

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
# The functions of vectors and matrices (name -> fewest, most arguments). They exist in a formula that
# declares a vector or a matrix; elsewhere name(...) says how to declare one (a parameter named sum stays
# a parameter). The elementwise functions above apply to every entry.
MATRIX_FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "sum": (1, 1), "tr": (1, 1), "det": (1, 1), "logdet": (1, 1), "inv": (1, 1), "transpose": (1, 1),
    "norm": (1, 1), "norm1": (1, 1), "dot": (2, 2)}
MATRIX_ALIASES = {"trace": "tr", "norm2": "norm"}  # norm2 is matrixcalculus.org's name for ||.||
# matrixcalculus.org's constant vector and matrix, whose sizes it guesses: refused with what to write instead
GUESSED_SIZES = ("vector", "matrix")
ARITY = {**FUNCTIONS, **MATRIX_FUNCTIONS}
ARITY_NAMES = {*ARITY, *MATRIX_ALIASES, *GUESSED_SIZES}  # every function's name, where arrays are declared
# Declarations (`name: kind`) say what an input is: `scalar`, a vector's size (`x: 3`, `x: n`) or a matrix's
# rows x columns (`A: 3x3`, `A: n x n`, `X: m x n`); see declared_shape. Sizes that are letters are symbolic:
# checks draw them.
MAX_SIZE = 100_000           # rows or columns of one input
MAX_ENTRIES = 10_000_000     # entries of one input (80 MB in float64)
DEFAULT_SIZE = 3             # a symbolic size where one number is needed (the window, eval without --size)
# matrixcalculus.org's convention for names nobody declared: a-g numbers, h-z vectors, A-Z matrices.
# calcviz never applies it silently (x and y are the plot axes of scalar formulas): it offers it in messages.
CONVENTION = "matrixcalculus.org's convention: a–g are numbers, h–z vectors, A–Z matrices"

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


# ----------------------------------------------------------------------------- shapes
Dim = int | str  # a size: a whole number, or a name (symbolic: the same name is the same size)


@dataclass(frozen=True)
class Shape:
    """What a value is: a number, a vector (a column of ``rows`` entries), a row (a transposed vector of
    ``cols`` entries) or a ``rows`` x ``cols`` matrix."""

    kind: str = "scalar"  # "scalar", "vector", "row" or "matrix"
    rows: Dim = 1
    cols: Dim = 1

    @property
    def scalar(self) -> bool:
        return self.kind == "scalar"

    @property
    def dims(self) -> tuple[Dim, Dim]:
        return self.rows, self.cols

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(d for d in self.dims if isinstance(d, str))

    @property
    def size(self) -> str:
        """As a declaration writes it: 3 (a vector), 3x3, m x n, 1x3 (a row); "scalar" for a number."""
        if self.kind == "scalar":
            return "scalar"
        if self.kind == "vector":
            return str(self.rows)
        sep = "x" if isinstance(self.rows, int) and isinstance(self.cols, int) else " x "
        return f"{self.rows}{sep}{self.cols}"

    def describe(self, text: str) -> str:
        """``text`` and what it is, for a message: "A is 3x3", "x has 4 entries"."""
        if self.kind == "scalar":
            return f"{text} is a number"
        if self.kind == "vector":
            return f"{text} has {self.rows} entr{'y' if self.rows == 1 else 'ies'}"
        if self.kind == "row":
            return f"{text} is a row of {self.cols} entr{'y' if self.cols == 1 else 'ies'}"
        return f"{text} is {self.size}"

    @property
    def noun(self) -> str:
        """"a number", "3 entries (a column)", "1x3 (a row)", "3x3": what a derivative's shape must be."""
        return {"scalar": "a number", "vector": f"{self.rows} entries (a column)",
                "row": f"1x{self.cols} (a row)"}.get(self.kind, self.size)

    def concrete(self, sizes: Mapping[str, int]) -> "Shape":
        """The shape with its symbolic sizes replaced (those missing from ``sizes`` are DEFAULT_SIZE)."""
        rows, cols = (sizes.get(d, DEFAULT_SIZE) if isinstance(d, str) else d for d in self.dims)
        return Shape(self.kind, rows, cols)

    @property
    def array_shape(self) -> tuple[int, ...]:
        """numpy's shape of a value (a concrete shape): (), (n,) for a vector or a row, (rows, cols)."""
        if self.kind == "scalar":
            return ()
        if self.kind == "vector":
            return (self.rows,)
        if self.kind == "row":
            return (self.cols,)
        return (self.rows, self.cols)


SCALAR = Shape()
_SIZE = r"[0-9]+|[^\W\d_][0-9]*"  # 3, or a symbolic size: one letter, perhaps numbered (n, m, k, n1)
_MATRIX_SIZE = re.compile(rf"\s*({_SIZE})\s*[x×]\s*({_SIZE})\s*")
_VECTOR_SIZE = re.compile(rf"\s*({_SIZE})\s*")
_NOT_SIZES = ("scalar", "vector", "matrix", "number", "real", "x")


def declared_shape(kind: str) -> Shape:
    """The Shape a declaration's kind says (``scalar``, ``3``, ``n``, ``3x3``, ``m x n``); ValueError with
    a message for anything else."""
    kind = kind.strip()
    if kind == "scalar":
        return SCALAR
    matrix = _MATRIX_SIZE.fullmatch(kind)
    vector = None if matrix else _VECTOR_SIZE.fullmatch(kind)
    found = matrix.groups() if matrix else vector.groups() if vector else None
    if found is None or any(d in _NOT_SIZES for d in found):
        raise ValueError(f"'{shorten(kind)}' is not a kind calcviz knows: write scalar, a vector's size "
                         f"(3, or a letter such as n for any size) or a matrix's rows x columns (3x3, m x n)")
    dims = tuple(int(d) if d.isdigit() else d for d in found)
    for d in dims:
        if isinstance(d, int) and not 1 <= d <= MAX_SIZE:
            raise ValueError(f"a size must be from 1 to {MAX_SIZE:,} (got {d})")
    if math.prod(d for d in dims if isinstance(d, int)) > MAX_ENTRIES:
        raise ValueError(f"{shorten(kind)} has more than {MAX_ENTRIES:,} entries")
    return Shape("matrix", *dims) if matrix else Shape("vector", dims[0])


def convention(name: str) -> str:
    """matrixcalculus.org's reading of an undeclared single letter: "scalar", "vector" or "matrix"
    (any other name: "scalar")."""
    if len(name) != 1 or not name.isascii() or not name.isalpha():
        return "scalar"
    return "matrix" if name.isupper() else "vector" if name >= "h" else "scalar"


def entry_name(name: str, shape: Shape, k: int) -> str:
    """The k-th entry (0-based, row by row) of an input as a name: x[1], A[1,2] (1-based, as in maths)."""
    if shape.kind == "matrix":
        return f"{name}[{k // shape.cols + 1},{k % shape.cols + 1}]"
    return f"{name}[{k + 1}]"


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
    # (name, kind) of each declaration line (`xy: scalar`, `x: 3`, `A: n x n`), in order
    declarations: tuple[tuple[str, str], ...] = ()
    # how ambiguous pieces of the text were read, by position: for the preview, not part of the meaning
    notes: tuple[Note, ...] = field(default=(), compare=False)
    # the shape of every declared name and definition that is not a number (the others are numbers)
    shapes: tuple[tuple[str, Shape], ...] = ()

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
    def matrix(self) -> bool:
        """Whether the formula declares a vector or a matrix (then its notation is read: A x, x^T, ||x||)."""
        return any(shape.kind != "scalar" for name, shape in self.shapes if name in dict(self.declarations))

    def shape(self, name: str) -> Shape:
        """The shape of an input or a definition."""
        return dict(self.shapes).get(name, SCALAR)

    @property
    def output_shape(self) -> Shape:
        return self.shape(self.output)

    @property
    def arrays(self) -> dict[str, Shape]:
        """The inputs that are vectors or matrices, with their shapes."""
        shapes = dict(self.shapes)
        return {name: shapes[name] for name in self.inputs if name in shapes}

    @property
    def symbols(self) -> tuple[str, ...]:
        """The symbolic sizes (n in x: n), in order of appearance."""
        return tuple(dict.fromkeys(d for shape in self.arrays.values() for d in shape.symbols))

    @property
    def entries(self) -> tuple[str, ...]:
        """The inputs as numbers: a number is itself, a vector x of 3 is x[1], x[2], x[3], a matrix A is
        A[1,1], A[1,2], ... (symbolic sizes at DEFAULT_SIZE). A formula of numbers: its inputs."""
        return tuple(self._entries()) if self.arrays else self.inputs

    def _entries(self):
        arrays = self.arrays
        for name in self.inputs:
            if name not in arrays:
                yield name
                continue
            shape = arrays[name].concrete({})
            for k in range(math.prod(shape.array_shape)):
                yield entry_name(name, shape, k)

    @property
    def axes(self) -> tuple[str, ...]:
        """Default plot axes: x and y when used (as numbers), else the first two entries of the first vector
        of two or more, else the first one or two inputs (or entries)."""
        arrays = self.arrays
        named = tuple(a for a in AXES if a in self.inputs and a not in arrays)
        if named:
            return named
        for name, shape in arrays.items():
            if shape.kind == "vector" and shape.concrete({}).rows >= 2:
                return entry_name(name, shape, 0), entry_name(name, shape, 1)
        return tuple(itertools.islice(self._entries(), 2))

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
TRANSPOSE = "ᵀ"  # the token of a postfix transpose: xᵀ, x^⊤, x^\top (also ' and .' as matrixcalculus.org writes)
_NOT_IN_NAMES = "".join(_SUPERSCRIPTS) + TRANSPOSE  # x² is x^2, not a name "x²"; xᵀ is x transposed
# Elementwise operators (matrixcalculus.org's, MATLAB's): .* ./ .^ ; ' and .' transpose; || a norm's bars.
_DOT_OPS = ".*", "./", ".^", ".'"
_TOKEN = re.compile(
    r"(?P<space>[ \t\r]+)"
    r"|(?P<num>(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?)"
    rf"|(?P<name>[^\W\d_][^\W{_NOT_IN_NAMES}]*)"
    r"|(?P<op>\*\*|\|\||\.[*/^']|[-+*/^(),={}:@'])"
    r"|(?P<sep>[;\n])"
)
# Typographic characters students paste from notes, read as what they mean.
_ALIASES = {"\u2212": "-", "\u2013": "-", "\u00d7": "*", "\u00b7": "*", "\u22c5": "*", "\u2217": "*",
            "\u00f7": "/", "\u03c0": "pi", "\u221a": "sqrt", "\u2016": "||", "\u2299": ".*", "\u2298": "./",
            "\u1d40": TRANSPOSE, "\u22a4": TRANSPOSE}
_ALIAS_OPS = {"||", ".*", "./", TRANSPOSE}
# ||X - UV||_F, ||x||_2, ||x||_{2}: a norm's subscript (a token only right after the closing bars)
_SUBSCRIPT = re.compile(r"_(?:\{\s*([A-Za-z0-9]+)\s*\}|([A-Za-z0-9]))")
# Names for functions that readers know under another name.
_FUNCTION_ALIASES = {"arcsin": "asin", "arccos": "acos", "arctan": "atan"}
# LaTeX: \sin, \log, \sqrt{x}, \frac{a}{b}, \cdot, \left( \right), \pi, \alpha ...
_LATEX_COMMAND = re.compile(r"\\([A-Za-z]+|[,;:! |])")
_LATEX_IGNORED = {"left", "right", ",", ";", ":", "!", " ", "quad", "qquad", "displaystyle", "mathrm", "mathbf",
                  "boldsymbol", "bm"}
_LATEX_OPS = {"cdot": "*", "times": "*", "div": "/", "|": "||", "Vert": "||", "lVert": "||", "rVert": "||",
              "top": TRANSPOSE, "intercal": TRANSPOSE, "odot": ".*", "oslash": "./"}
_GREEK = dict(zip(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi rho sigma tau upsilon phi "
    "chi psi omega".split(), "αβγδεζηθικλμνξρστυφχψω"))
_WHY_NOT = {
    '"': "strings are not part of a formula",  # (a ' transposes: the parser says what one in front means)
    "[": "subscripts and lists are not supported", "]": "subscripts and lists are not supported",
    ".": "attribute access (a.b) is not supported",
    "<": "comparisons are not supported", ">": "comparisons are not supported",
    "!": "'!' is not supported (no factorials)", "%": "'%' is not supported",
    "|": "use abs(...) for an absolute value, ||...|| for a norm",
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
            tokens.append(Token("op" if alias in _ALIAS_OPS or not alias.isalpha() else "name", alias, i, i + 1))
            i += 1
            continue
        if ch == "_" and tokens and tokens[-1].text == "||" and (m := _SUBSCRIPT.match(text, i)):
            tokens.append(Token("sub", "_" + (m.group(1) or m.group(2)), i, m.end()))
            i = m.end()
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
        if kind == "num" and m.group().endswith(".") and text[m.end():m.end() + 1] in ("*", "/", "^", "'"):
            m = _TOKEN.match(text[:m.end() - 1], i)  # 2.*x is 2 .* x, as matrixcalculus.org reads it
        elif kind == "num" and m.end() < len(text) and text[m.end()] == "." and \
                text[m.end():m.end() + 2] not in _DOT_OPS:
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
    elif command in FUNCTIONS or command in _FUNCTION_ALIASES or command in MATRIX_FUNCTIONS or command == "pi":
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


@dataclass
class _Scope:
    """What the parser knows of the names of a text: the shapes declared, and those of the definitions parsed
    so far (in a formula that declares a vector or a matrix), every definition's name, the symbolic sizes."""

    shapes: dict[str, Shape] = field(default_factory=dict)
    matrix: bool = False              # a vector or a matrix is declared: the matrix notation is read
    defined: frozenset = frozenset()
    sizes: frozenset = frozenset()
    tokens: tuple = ()                # the whole text's tokens (for the declarations a message offers)
    known: str | None = None          # a derivative's text: the formula's inputs, said when another name is used

    def undeclared(self) -> list[str]:
        """The names of the text that are neither declared, defined, functions nor constants, in order."""
        names: dict[str, None] = {}
        for t in self.tokens:
            if t.kind == "name" and t.text not in ARITY_NAMES and t.text not in CONSTANTS and t.text not in self.defined \
                    and t.text not in self.shapes:
                if is_product_name(t.text) or (t.text.isascii() and t.text.isupper() and len(t.text) <= 4):
                    names.update(dict.fromkeys(t.text.replace("e", "")))  # xy, UV: their letters
                else:
                    names[t.text] = None
        return list(names)


def declarations_for(names: list[str]) -> str:
    """Declarations to offer for undeclared names, by the convention: "x: 3; A: 3x3"."""
    picks = [n for n in names if convention(n) != "scalar"][:3] or names[:1] or ["x"]
    return "; ".join(f"{shorten(n, 12)}: {'3x3' if convention(n) == 'matrix' else '3'}" for n in picks)


def offer_message(what: str, names: list[str]) -> str:
    """``what`` needs vectors or matrices and none is declared: which declarations to write (by the convention)."""
    return (f"{what} is for vectors and matrices, and none is declared: declare their shapes first, as in a "
            f"line {declarations_for(names)} ({CONVENTION})")


def _transposed(shape: Shape) -> Shape:
    if shape.kind == "vector":
        return Shape("row", 1, shape.rows)
    if shape.kind == "row":
        return Shape("vector", shape.cols)
    return Shape(shape.kind, shape.cols, shape.rows)


class _Parser:
    """Recursive descent over one statement's tokens.

    expr   := term (('+'|'-') term)*
    term   := unary (('*'|'/'|'@'|'.*'|'./') unary | <implicit> power)*   implicit: 2x, x y, 3(x+1), A x
    unary  := ('-'|'+') unary | power
    power  := postfix (('^'|'**'|'.^') unary | '^T')?      right-associative; 2^-x is allowed
    postfix:= atom ("'" | ".'" | 'ᵀ')*                     transposes
    atom   := number | name | '(' expr ')' | '{' expr '}' | \\frac group group | '||' expr '||' ['_F']
            | function ['^' exponent] ( '(' args ')' | product )     sin(x), sin^2(x), ln x, sin 2x
    product:= power (power)*  stopping at an operator, a bracket's end or a function's name

    In a formula that declares a vector or a matrix, every node is given its shape as it is built
    (:meth:`typed`): a product of two vectors or matrices becomes '@' (the matrix product), x^-1 inv(x),
    and shapes that do not fit are a ParseError that quotes the pieces and says what they are.
    """

    def __init__(self, tokens: list[Token], text: str, notes: list[Note], scope: _Scope | None = None):
        self.tokens, self.text, self.notes, self.i, self.depth = tokens, text, notes, 0, 0
        self.heights: dict[int, tuple[Node, int]] = {}  # id(node) -> (node, height of its tree)
        self.bare_power: tuple[int, Binary] | None = None  # (index after it, node) of x^1 without brackets
        self.scope = scope if scope is not None else _Scope()
        self.matrix = self.scope.matrix
        self.norms = 0  # ||...|| open around the current token (in the same bracket): || closes one
        self.typed: dict[int, tuple[Node, Shape, int, int]] = {}  # id(node) -> (node, shape, start, end)

    # ------------------------------------------------------------------ shapes (a formula with vectors or matrices)
    def shape_of(self, node: Node) -> Shape:
        info = self.typed.get(id(node))
        return SCALAR if info is None else info[1]

    def span(self, node: Node) -> tuple[int, int]:
        """Where a node's text is: recorded when it was built, or (one being built) up to the last token taken."""
        info = self.typed.get(id(node))
        if info is not None:
            return info[2], info[3]
        end = self.tokens[self.i - 1].stop if self.i else node.pos + 1
        return (self.span(node.left)[0] if isinstance(node, Binary) else node.pos), end

    def quote(self, node: Node, bracket: bool = False) -> str:
        """The text a node was read from (for a message); ``bracket``: in brackets unless it is one name."""
        start, end = self.span(node)
        text = shorten(" ".join(self.text[start:end].split()), 40)
        if bracket and not re.fullmatch(r"\w+|\(.*\)", text):
            return f"({text})"
        return text

    def mark(self, node: Node, shape: Shape, start: int) -> Node:
        """Record a node's shape and where its text starts (it ends at the last token taken)."""
        self.typed[id(node)] = (node, shape, start, self.tokens[self.i - 1].stop if self.i else start)
        return node

    def offer(self, what: str, pos: int) -> ParseError:
        return self.error(offer_message(what, self.scope.undeclared()), pos)

    def name_shape(self, t: Token) -> Shape:
        name, scope = t.text, self.scope
        if name in scope.shapes:
            return scope.shapes[name]
        if name in CONSTANTS or name in scope.defined:
            return SCALAR
        if scope.known is not None:
            raise self.error(f"'{shorten(name)}' is not in the formula (its inputs: {scope.known})", t.pos)
        if name in scope.sizes:
            raise self.error(f"'{shorten(name)}' is a size here, not a number; give the number another name", t.pos)
        kind = convention(name)
        if kind != "scalar":
            raise self.error(f"{name} has no declared shape: by {CONVENTION.split(':')[0]} it would be a {kind}; "
                             f"declare it on a line before, as in {name}: {'3x3' if kind == 'matrix' else '3'} "
                             f"(or {name}: scalar for a number)", t.pos)
        self.notes.append(Note(f"{shorten(name)} is a number here (it is not declared)", t.pos, t.stop))
        return SCALAR

    def typed_node(self, node: Node) -> Node:
        """The node with its shape (a product of two arrays becomes '@', x^-1 inv(x)); a ParseError when
        the shapes do not fit."""
        start = self.span(node.left)[0] if isinstance(node, Binary) else node.pos
        if isinstance(node, Unary):
            shape = self.shape_of(node.operand)
        elif isinstance(node, Binary):
            node, shape = self.binary_shape(node)
        else:
            node, shape = self.call_shape(node)
        return self.mark(node, shape, start)

    def binary_shape(self, node: Binary) -> tuple[Node, Shape]:
        op, a, b = node.op, node.left, node.right
        left, right = self.shape_of(a), self.shape_of(b)
        if op in ("*", "@"):
            if left.scalar or right.scalar:
                return (replace(node, op="*") if op == "@" else node), (right if left.scalar else left)
            return replace(node, op="@"), self.product_shape(node, left, right)
        if op == "/":
            if not right.scalar:
                raise self.error(f"{self.quote(node)}: {right.describe(self.quote(b))}; divide by a number, or write "
                                 f"./ to divide entry by entry", node.pos)
            return node, left
        if op == "^":
            if left.scalar and right.scalar:
                return node, SCALAR
            if not left.scalar and isinstance(b, Num) and b.value == -1:
                return self.call_shape(Call("inv", (a,), self.span(a)[0]))
            raise self.error(self.power_message(node, left, right), node.pos)
        return node, self.elementwise_shape(node, left, right)

    def power_message(self, node: Binary, left: Shape, right: Shape) -> str:
        a, b = self.quote(node.left, True), self.quote(node.right, True)
        if left.scalar:
            return f"{self.quote(node)}: {right.describe(self.quote(node.right))}; for each entry as the power, write {a} .^ {b}"
        ways = [f"for each entry to the power {b}, write {a}.^{b}"]
        if left.kind == "vector":
            ways.append(f"for the squared length ||{self.quote(node.left)}||^2")
        elif left.kind == "matrix" and left.rows == left.cols:
            ways.append(f"for the matrix product {a} {a}")
        return (f"{self.quote(node)}: {left.describe(self.quote(node.left))}; the power of a vector or matrix is only "
                f"^T (its transpose) or ^-1 (its inverse): {', '.join(ways)}")

    def product_shape(self, node: Binary, left: Shape, right: Shape) -> Shape:
        a, b = self.quote(node.left), self.quote(node.right)
        if left.kind == right.kind and left.kind in ("vector", "row"):
            n, m = (left.rows, right.rows) if left.kind == "vector" else (left.cols, right.cols)
            what = "columns" if left.kind == "vector" else "rows"
            ab, bb = self.quote(node.left, True), self.quote(node.right, True)
            dot = f"{ab}^T {bb}" if left.kind == "vector" else f"{ab} {bb}^T"
            raise self.error(f"{self.quote(node)}: {a} and {b} are both {what} ({n} and {m} entries); for their dot "
                             f"product write {dot}, for the product entry by entry {ab} .* {bb}", node.pos)
        if left.cols != right.rows:
            hint = " (is a transpose missing?)" if left.rows == right.rows or left.cols == right.cols else ""
            raise self.error(f"{self.quote(node)}: {left.describe(a)} and {right.describe(b)}{hint}", node.pos)
        if left.kind == "row" and right.kind == "vector":
            return SCALAR  # x^T y
        if right.kind == "vector":
            return Shape("vector", left.rows)
        if left.kind == "row":
            return Shape("row", 1, right.cols)
        return Shape("matrix", left.rows, right.cols)

    def elementwise_shape(self, node: Binary, left: Shape, right: Shape) -> Shape:
        if left.scalar:
            return right
        if right.scalar:
            return left
        if left.dims == right.dims:
            return left if left.kind == right.kind else Shape("matrix", *left.dims)
        what = "+ and - need" if node.op in "+-" else f"{node.op} needs"
        hint = " (is a transpose missing?)" if left.dims == right.dims[::-1] else ""
        raise self.error(f"{self.quote(node)}: {left.describe(self.quote(node.left))} and "
                         f"{right.describe(self.quote(node.right))}; {what} equal shapes{hint}", node.pos)

    def call_shape(self, node: Call) -> tuple[Node, Shape]:
        f, args = node.func, node.args
        shapes = [self.shape_of(a) for a in args]
        if f == "transpose":
            return node, _transposed(shapes[0])
        if f in ("sum", "norm", "norm1"):
            return node, SCALAR
        if f in ("tr", "det", "logdet", "inv"):
            shape = shapes[0]
            if shape.kind in ("vector", "row") or shape.rows != shape.cols:
                raise self.error(f"{self.quote(node)}: {shape.describe(self.quote(args[0]))}, and {f} needs a "
                                 f"square matrix", node.pos)
            return node, shape if f == "inv" else SCALAR
        if f == "dot":
            if shapes[0].dims != shapes[1].dims or shapes[0].scalar or shapes[1].scalar:
                raise self.error(f"dot({self.quote(args[0])}, {self.quote(args[1])}): "
                                 f"{shapes[0].describe(self.quote(args[0]))} and {shapes[1].describe(self.quote(args[1]))}; "
                                 f"dot needs two vectors (or matrices) of the same shape", node.pos)
            return node, SCALAR
        if f == "logsumexp" and len(args) == 1:
            return node, SCALAR  # log of the sum of exp over the entries
        arrays = [(a, shape) for a, shape in zip(args, shapes) if not shape.scalar]
        for a, shape in arrays[1:]:
            if shape.dims != arrays[0][1].dims:
                raise self.error(f"{f}(...): {arrays[0][1].describe(self.quote(arrays[0][0]))} and "
                                 f"{shape.describe(self.quote(a))}; {f} works entry by entry on equal shapes", node.pos)
        return node, arrays[0][1] if arrays else SCALAR

    def transpose(self, base: Node, pos: int) -> Node:
        if not self.matrix:
            raise self.offer("a transpose", pos)
        return self.tall(Call("transpose", (base,), self.span(base)[0]))

    def transpose_follows(self) -> bool:
        """After ^: T (unless T is a declared number or a definition), ᵀ, \\top, {T}."""
        def marker(t: Token) -> bool:
            if t.kind == "op" and t.text == TRANSPOSE:
                return True
            return t.kind == "name" and t.text == "T" and self.matrix and "T" not in self.scope.shapes \
                and "T" not in self.scope.defined
        if self.at("{"):
            return self.i + 2 < len(self.tokens) and marker(self.tokens[self.i + 1]) \
                and self.tokens[self.i + 2].text == "}"
        return marker(self.tok)

    def postfix(self, base: Node) -> Node:
        while self.at("'", TRANSPOSE, ".'"):
            t = self.take()
            base = self.transpose(base, t.pos)
        return base

    def norm(self) -> Node:
        opener = self.take()
        if not self.matrix:
            raise self.offer("||...|| (a norm)", opener.pos)
        self.nest(opener.pos)
        self.norms += 1
        inner = self.expr()
        self.norms -= 1
        if not self.at("||"):
            if self.tok.kind == "end":
                raise self.error("this '||' is never closed", opener.pos)
            raise self.unexpected(self.tok)
        self.take()
        func = "norm"
        if self.tok.kind == "sub":
            sub = self.take()
            which = sub.text[1:]
            if which == "1":
                func = "norm1"
            elif which == "2" and self.shape_of(inner).kind == "matrix":
                raise self.error("||A||_2 of a matrix is its largest singular value, which calcviz does not compute; "
                                 "||A|| and ||A||_F are its Frobenius norm", sub.pos)
            elif which not in ("2", "F", "fro"):
                raise self.error(f"unknown norm {shorten(sub.text)}: calcviz knows ||x|| (the length, = ||x||_2), "
                                 f"||X||_F (Frobenius) and ||x||_1 (the sum of |entries|)", sub.pos)
        self.depth -= 1
        return self.tall(Call(func, (inner,), opener.pos))

    def is_function(self, t: Token) -> bool:
        """Whether a name token is a function here (the matrix ones only where vectors or matrices are declared)."""
        return t.kind == "name" and (t.text in FUNCTIONS or (self.matrix and (
            t.text in MATRIX_FUNCTIONS or t.text in MATRIX_ALIASES or t.text in GUESSED_SIZES)))

    def matrix_function(self, t: Token) -> Node:
        if not self.matrix:
            raise self.offer(f"{shorten(t.text)}(...)", t.pos)
        if t.text in GUESSED_SIZES:
            raise self.error(f"{t.text}(...) is not supported (its size would be guessed): a number added to a vector "
                             f"or matrix is added to every entry, so write the number itself; for x^T vector(1) write "
                             f"sum(x)", t.pos)
        return self.function(replace(t, text=MATRIX_ALIASES.get(t.text, t.text)))

    def error(self, message: str, pos: int) -> ParseError:
        return ParseError(message, pos, self.text)

    def note(self, reading: str, first: Token) -> None:
        """Record how the text from ``first`` to the last token taken was read."""
        end = self.tokens[self.i - 1].stop
        source = shorten(" ".join(self.text[first.pos:end].split()), 60)
        self.notes.append(Note(shorten(f"{source} read as {reading}", 240), first.pos, end))

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
        if t.kind == "sub":
            return self.error("a subscript such as _F only follows a norm's closing bars, as in ||X||_F", t.pos)
        if t.kind == "op" and t.text == "||" and self.norms:
            return self.error("inside ||...||, a norm written next to something needs brackets or an operator: "
                              "||x (||y||)|| or ||x * ||y||||", t.pos)
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
        """Whether the next token starts a factor of an implicit product (2x, x y, 3(x+1), c ||x||)."""
        return self.tok.kind in ("name", "frac") or self.at("(", "{") or (self.at("||") and not self.norms)

    def term(self) -> Node:
        first = self.tok
        node = self.unary()
        divided = False  # the last operator was '/': a factor written next would be ambiguous
        starred = False  # a '*' was read as the matrix product (numpy's * is entry by entry): say so once
        while True:
            if self.at("*", "/", "@", ".*", "./"):
                op = self.take()
                if op.text in ("@", ".*", "./") and not self.matrix:
                    raise self.offer(f"'{op.text}'", op.pos)
                after_power = self.bare_power is not None and self.bare_power[0] == self.i - 1
                right = self.unary()
                if op.text == "/" and after_power:  # x^1/2
                    p = self.bare_power[1]
                    self.note(f"({compact(p)})/{compact(right)}, "
                              f"not {compact(p.left)}^({compact(p.right)}/{compact(right)})", first)
                node = self.binary(op.text, node, right, op.pos)
                starred = starred or (op.text == "*" and node.op == "@")
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
                if starred:
                    self.note(f"{compact(node)}, with * as the matrix product (for the product entry by entry, "
                              f"write .*)", first)
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
                number = Num(-operand.value, op.pos)
                return self.mark(number, SCALAR, op.pos) if self.matrix else number
            return self.tall(Unary("-", operand, op.pos))
        return self.power()

    def power(self) -> Node:
        first = self.tok
        base = self.postfix(self.atom())
        if self.at("^", "**", ".^"):
            op = self.take()
            if op.text == ".^" and not self.matrix:
                raise self.offer("'.^'", op.pos)
            if op.text != ".^" and self.transpose_follows():
                self.i += 3 if self.at("{") else 1
                return self.postfix(self.transpose(base, op.pos))
            self.nest(op.pos)
            opener = self.tok.text if self.at(*_OPENERS) else None
            exponent = self.unary()
            self.depth -= 1
            node = self.binary("^" if op.text == "**" else op.text, base, exponent, op.pos)
            if opener != "(" and exponent == Name("T"):  # the book's x^T, in a formula of numbers
                self.note(f"{compact(base)} to the power T (for {compact(base)} transposed, declare the shapes first: "
                          f"{declarations_for([n for n in self.scope.undeclared() if n != 'T'])})", first)
            if opener is None:
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
        if self.matrix:
            node = self.typed_node(node)
        self.heights[id(node)] = (node, height)
        return node

    def atom(self) -> Node:
        t = self.tok
        if t.kind == "num":
            self.take()
            value = float(t.text)
            if not math.isfinite(value):
                raise self.error(f"the number {shorten(t.text)} is too large", t.pos)
            return self.mark(Num(value, t.pos), SCALAR, t.pos) if self.matrix else Num(value, t.pos)
        if t.kind == "name":
            self.take()
            check_name(t.text, t.pos, self.text)
            if t.text in FUNCTIONS:
                return self.function(t)
            if (t.text in MATRIX_FUNCTIONS or t.text in MATRIX_ALIASES or t.text in GUESSED_SIZES) and (
                    self.matrix or self.at(*_OPENERS)):
                return self.matrix_function(t)
            if self.at(*_OPENERS) and t.text not in PRODUCT_LETTERS and not (
                    self.matrix and (t.text in self.scope.shapes or t.text in self.scope.defined)):
                raise self.error(unknown_function(t.text), t.pos)
            # x(x+1), like 12x(x-2)(x+1), is a product: x is never a function (nor is a declared A in A(x + y))
            name = Name(t.text, t.pos)
            return self.mark(name, self.name_shape(t), t.pos) if self.matrix else name
        if self.at("||"):
            return self.norm()
        if self.at("'"):
            raise self.error("unexpected character \"'\": strings are not part of a formula (a ' after something "
                             "transposes it)", t.pos)
        if self.at(TRANSPOSE, ".'"):
            raise self.error("a transpose needs something on its left, as in x^T", t.pos)
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
        if t.kind == "op" and t.text in ("*", "/", "^", "**", "@", ".*", "./", ".^"):
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
        norms, self.norms = self.norms, 0  # inside brackets, || opens a norm again
        inner = self.expr()
        self.close(opener)
        self.norms = norms
        self.depth -= 1
        return self.mark(inner, self.shape_of(inner), opener.pos) if self.matrix else inner

    def function(self, t: Token) -> Node:
        """sin(x); sin^2(x) = sin(x)^2; ln x, sin 2x: without brackets a function of one argument takes
        the product written next to it (ln x = ln(x), sin 2x y = sin(2x y), sin x + 1 = sin(x) + 1)."""
        name = t.text
        exponent = self.function_power(name) if self.at("^", "**") else None
        if self.at(*_OPENERS):
            node = self.call(name, t.pos)
        elif ARITY[name] == (1, 1) and (self.starts_factor() or self.tok.kind == "num"):
            self.nest(t.pos)
            argument = self.power()
            while self.starts_factor() and not self.is_function(self.tok):
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
        norms, self.norms = self.norms, 0
        args: list[Node] = []
        if not self.at(_OPENERS[opener.text]):
            while True:
                args.append(self.expr())
                if self.at(","):
                    self.take()
                    continue
                break
        self.close(opener)
        self.norms = norms
        self.depth -= 1
        low, high = ARITY[name]
        if len(args) < low or (high is not None and len(args) > high):
            want = (f"{low}" if low == high else f"at least {low}" if high is None else f"{low} to {high}")
            plural = "" if want == "1" else "s"
            raise self.error(f"{name} takes {want} argument{plural}, got {len(args)}", pos)
        return self.tall(Call(name, tuple(args), pos))


def unknown_function(name: str) -> str:
    """The message for name(...) when name is not a function: what the reader may have meant."""
    known = ", ".join(FUNCTIONS)
    quoted = shorten(name)
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
    kind_start = stmt[2].pos
    kind = text[kind_start:stmt[-1].pos].strip()
    if not kind:
        raise ParseError(f"'{shorten(head.text)}:' needs a kind after the colon, as in {shorten(head.text)}: scalar "
                         f"(or {shorten(head.text)}: 3 for a vector, {shorten(head.text)}: 3x3 for a matrix)",
                         stmt[1].pos, text)
    try:
        shape = declared_shape(kind)
    except ValueError as exc:
        raise ParseError(str(exc), kind_start, text) from None
    if head.text in FUNCTIONS or head.text in CONSTANTS or (not shape.scalar and head.text in ARITY_NAMES):
        raise ParseError(f"'{head.text}' is a built-in name; choose another name", head.pos, text)
    return head, shape.size


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


def parse(text: str, shapes: Mapping[str, str] | None = None) -> Expression:
    """Parse one formula or several definitions (separated by newlines or ';'), with declaration
    lines (``xy: scalar``, ``x: 3``, ``A: n x n``) anywhere among them. ``shapes`` (name -> kind, from the
    command line's --shape) are declarations made before the text."""
    if not isinstance(text, str):
        raise ParseError("a formula must be text", 0, "")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"the text is too long (over {MAX_LENGTH} characters)", MAX_LENGTH, text)
    tokens = tokenize(text)
    statements = _split_statements(tokens)
    if not statements:
        raise ParseError("type a function, for example x^2 + y^2", 0, text)

    declarations: dict[str, tuple[str, int]] = {}
    for name, kind in (shapes or {}).items():
        try:
            declarations[name] = (declared_shape(kind).size, 0)
        except ValueError as exc:
            raise ParseError(f"--shape {shorten(name)}={shorten(kind)}: {exc}", 0, text) from None
    lines: list[tuple[Token | None, list[Token], list[Token]]] = []  # (target, body, whole statement)
    for stmt in statements:
        declared = _declaration(stmt, text)
        if declared is None:
            lines.append((*_definition_target(stmt, text), stmt))
            continue
        head, kind = declared
        if head.text in declarations:
            also = " (here and by --shape)" if shapes and head.text in shapes else ""
            raise ParseError(f"'{shorten(head.text)}' is declared twice{also}", head.pos, text)
        declarations[head.text] = (kind, head.pos)
    if not lines:
        raise ParseError("after the declarations, type the function, for example x^2 + y^2", len(text), text)
    if statements[-1] is not lines[-1][2]:
        raise ParseError("the last line must be the function; put declarations before it", statements[-1][0].pos, text)
    # Declared and defined names are read whole; any other name made of x, y, z and e is a product.
    defined = {target.text for target, _, _ in lines if target is not None}
    whole = set(declarations) | defined
    declared_shapes = {name: declared_shape(kind) for name, (kind, _) in declarations.items()}
    scope = _Scope(dict(declared_shapes), any(not s.scalar for s in declared_shapes.values()), frozenset(defined),
                   frozenset(d for s in declared_shapes.values() for d in s.symbols), tokens)
    notes: list[Note] = []
    definitions: list[tuple[str, Node, int]] = []
    for index, (target, body_tokens, stmt) in enumerate(lines):
        if target is not None and target.text in declarations:
            raise ParseError(f"'{shorten(target.text)}' is both declared and defined: a declaration is for an "
                             f"input, so remove one of them", target.pos, text)
        if target is not None and scope.matrix and target.text in ARITY_NAMES:
            raise ParseError(f"'{target.text}' is a built-in name; choose another name", target.pos, text)
        letters = {n for n in whole if len(n) == 1} if scope.matrix else None
        parser = _Parser(_split_products(body_tokens, whole, notes, letters), text, notes, scope)
        body = parser.parse_statement_body()
        if target is None and index != len(lines) - 1:
            raise ParseError("only the last line may be a bare formula; name this one, as in a = ...",
                             stmt[0].pos, text)
        name = target.text if target else "f"
        definitions.append((name, body, target.pos if target else stmt[0].pos))
        if scope.matrix:
            scope.shapes[name] = parser.shape_of(body)

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
                      tuple(sorted(unique.values(), key=lambda n: n.pos)),
                      tuple((name, shape) for name, shape in scope.shapes.items() if not shape.scalar))


# ----------------------------------------------------------------------------- a derivative to check
@dataclass(frozen=True)
class Derivative:
    """A derivative a user wrote, ``d/dx = (A + A^T) x``: with respect to which input, its tree (over the
    formula's inputs and definitions) and its shape (the input's)."""

    wrt: str
    node: Node
    shape: Shape
    text: str  # the line as typed, from d/dx on


_DERIVATIVE = re.compile(r"\s*(?:d|∂)\s*([^\W\d_]\w*)?\s*/\s*(?:d|∂)\s*([^\W\d_]\w*)\s*=")


def parse_derivatives(expression: Expression, text: str) -> tuple[Derivative, ...]:
    """The derivatives written in ``text``, one per line (or separated by ';'): ``d/dx = ...``, ``df/dx = ...``,
    ``∂f/∂x = ...``. Each is checked against the formula: it names one of its inputs, uses only its inputs,
    definitions and constants, and has that input's shape (when f is a number). ParseError points into ``text``."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        raise ParseError(f"the derivatives must be text of at most {MAX_LENGTH} characters", 0, "")
    statements = _split_statements(tokenize(text.replace("∂", "d")))  # ∂f/∂x = ... (one character for one)
    if not statements:
        raise ParseError("type a derivative, for example d/dx = 2x", 0, text)
    out: dict[str, Derivative] = {}
    for stmt in statements:
        derivative = _derivative(expression, text, stmt)
        if derivative.wrt in out:
            raise ParseError(f"d/d{shorten(derivative.wrt)} is given twice", stmt[0].pos, text)
        out[derivative.wrt] = derivative
    return tuple(out.values())


def _derivative(expression: Expression, text: str, stmt: list[Token]) -> Derivative:
    start = stmt[0].pos
    head = _DERIVATIVE.match(text, start)
    equals = next((k for k, t in enumerate(stmt) if t.kind == "op" and t.text == "="), None)
    if head is None or equals is None or stmt[equals].pos != head.end() - 1:
        raise ParseError("write a derivative as d/dx = ..., for example d/dx = 2x", start, text)
    out, wrt = expression.output, head.group(2)
    if head.group(1) is not None and head.group(1) != out:
        raise ParseError(f"the function is named {shorten(out)}: write d{shorten(out)}/d{shorten(wrt)} or "
                         f"d/d{shorten(wrt)}", head.start(1), text)
    defined = {name for name, _ in expression.definitions}
    if wrt not in expression.inputs:
        what = "is defined in the formula; derivatives are checked with respect to its inputs" if wrt in defined \
            else "is not in the formula"
        raise ParseError(f"'{shorten(wrt)}' {what} (its inputs: {', '.join(expression.inputs) or 'none'})",
                         head.start(2), text)
    if not expression.output_shape.scalar:
        raise ParseError(f"{expression.output_shape.describe(out)}: a derivative to check needs a number, such as "
                         f"||{out}||^2 or sum({out})", start, text)
    body = stmt[equals + 1:]
    if body[0].kind == "end":
        raise ParseError(f"d/d{shorten(wrt)} = needs a formula after the '='", stmt[equals].pos, text)
    shapes = {name: declared_shape(kind) for name, kind in expression.declarations}
    inputs = ", ".join(expression.inputs) or "none"
    scalars = {name: SCALAR for name in expression.inputs}  # undeclared inputs are numbers
    scope = _Scope({**scalars, **shapes, **{name: expression.shape(name) for name in defined}}, expression.matrix,
                   frozenset(defined), frozenset(d for s in shapes.values() for d in s.symbols), tuple(stmt), inputs)
    notes: list[Note] = []
    letters = {n for n in set(shapes) | defined if len(n) == 1} if expression.matrix else None
    parser = _Parser(_split_products(body, set(shapes) | defined, notes, letters), text, notes, scope)
    node = parser.parse_statement_body()
    known = set(expression.inputs) | defined | set(CONSTANTS)
    stranger = next((n for n in names_in(node) if n.id not in known), None)
    if stranger is not None:
        raise ParseError(f"'{shorten(stranger.id)}' is not in the formula (its inputs: {inputs})", stranger.pos, text)
    shape, need = parser.shape_of(node), expression.shape(wrt)
    if (shape.kind, shape.dims) != (need.kind, need.dims):
        raise ParseError(f"your derivative is {shape.noun}; d/d{shorten(wrt)} of a number must have "
                         f"{shorten(wrt)}'s shape: {need.noun}", body[0].pos, text)
    return Derivative(wrt, node, shape, " ".join(text[start:stmt[-1].pos].split()))


def with_declarations(text: str, shapes: Mapping[str, str] | None) -> str:
    """The text with ``shapes`` (--shape) as declaration lines before it: what parse(text, shapes) reads."""
    return "".join(f"{name}: {declared_shape(kind).size}\n" for name, kind in (shapes or {}).items()) + text


def _split_products(tokens: list[Token], whole: set[str], notes: list[Note],
                    letters: set[str] | None = None) -> list[Token]:
    """xy -> x y (one name token per letter), for every name made of x, y, z and e not in ``whole``.

    Where vectors or matrices are declared, ``letters`` are the one-letter names declared or defined: a name
    made of them is their product as the book writes it (UV is U V, Ax is A x), and after ^ a T followed by
    them is a transpose (x^TAx is x^T A x)."""
    out: list[Token] = []
    for t in tokens:
        text = t.text
        if t.kind != "name" or text in whole or text in ARITY_NAMES:
            out.append(t)
        elif is_product_name(text):
            out += [Token("name", c, t.pos + k, t.pos + k + 1) for k, c in enumerate(text)]
            notes.append(Note(f"{text} read as {'·'.join(text)} (for one name, add a line {text}: scalar)",
                              t.pos, t.stop))
        elif letters and len(text) > 1 and (all(c in letters for c in text) or (
                out and out[-1].text == "^" and text[0] == "T" and all(c in letters for c in text[1:]))):
            out += [Token("name", c, t.pos + k, t.pos + k + 1) for k, c in enumerate(text)]
            reading = " ".join(text) if text[0] != "T" or text[0] in letters else "T " + " ".join(text[1:])
            notes.append(Note(f"{text} read as {reading} (declared names written together are a product)",
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
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, ".*": 2, "./": 2, "neg": 3, "^": 4, ".^": 4}
_ATOMIC = 5


def format_node(node: Node, parent: int = 0) -> str:
    """Plain text with the fewest parentheses that keep the meaning (round-trips through parse). The matrix
    product is written by juxtaposition (A x), a transpose as ^T, the norm as ||x||."""
    if isinstance(node, Num):
        text = repr(node.value) if node.value != int(node.value) or abs(node.value) >= 1e16 else str(int(node.value))
        return f"({text})" if node.value < 0 and parent else text
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Call) and node.func == "transpose":
        base = node.args[0]
        bare = isinstance(base, Name) or (isinstance(base, Call) and base.func != "transpose") or \
            (isinstance(base, Num) and base.value >= 0)
        text = f"{format_node(base) if bare else '(' + format_node(base) + ')'}^T"
        return f"({text})" if parent > _PRECEDENCE["^"] else text  # (x^T)^2: ^T takes no power after it
    if isinstance(node, Call) and node.func == "norm":
        return f"||{format_node(node.args[0])}||"
    if isinstance(node, Call):
        return f"{node.func}({', '.join(format_node(a) for a in node.args)})"
    if isinstance(node, Unary):
        text = "-" + format_node(node.operand, _PRECEDENCE["neg"])
        return f"({text})" if parent >= _PRECEDENCE["neg"] else text
    p = _PRECEDENCE[node.op]
    power = node.op in ("^", ".^")
    # Left-associative ops need parentheses on an equal-precedence right side; ^ on the left.
    left = format_node(node.left, p + (1 if power else 0))
    right = format_node(node.right, p + (0 if power else 1))
    if node.op == "@":
        # A x, x^T (A + B); but c (A x) would read as a call of c: then A * c @ (A x)
        op = " @ " if right.startswith("(") and re.search(r"(?<![\^\w])[^\W\d]\w*$", left) else " "
        text = f"{left}{op}{right}"
    else:
        text = f"{left}{node.op}{right}" if power else f"{left} {node.op} {right}"
    return f"({text})" if parent > p else text
