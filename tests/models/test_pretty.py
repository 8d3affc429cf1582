"""The preview's rich text: exact strings for typical formulas, and meaning kept (round trip)."""
import html
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calcviz.models.expression import Binary, Call, Name, Num, Unary, parse
from calcviz.models.pretty import node_to_html, to_html

X, Y, Z, W = "<i>x</i>", "<i>y</i>", "<i>z</i>", "<i>w</i>"
A, B, U, V, F = "<i>a</i>", "<i>b</i>", "<i>u</i>", "<i>v</i>", "<i>f</i>"


def sup(s: str) -> str:
    return f"<sup>{s}</sup>"


@pytest.mark.parametrize("text, expected", [
    # the seed examples
    ("x*exp(-x^2 - y^2)", f"{F}({X}, {Y}) = {X} exp(−{X}{sup('2')} − {Y}{sup('2')})"),
    ("log(exp(x) + exp(y))", f"{F}({X}, {Y}) = log(e{sup(X)} + e{sup(Y)})"),
    ("3x^4 - 4x^3 - 12x^2", f"{F}({X}) = 3{X}{sup('4')} − 4{X}{sup('3')} − 12{X}{sup('2')}"),
    # test functions
    ("x^2 + y^2", f"{F}({X}, {Y}) = {X}{sup('2')} + {Y}{sup('2')}"),
    ("(1 - x)^2 + 100(y - x^2)^2",
     f"{F}({X}, {Y}) = (1 − {X}){sup('2')} + 100({Y} − {X}{sup('2')}){sup('2')}"),
    ("20 + x^2 + y^2 - 10cos(2pi x) - 10cos(2pi y)",
     f"{F}({X}, {Y}) = 20 + {X}{sup('2')} + {Y}{sup('2')} − 10 cos(2π {X}) − 10 cos(2π {Y})"),
    ("x^3 - 3x y^2", f"{F}({X}, {Y}) = {X}{sup('3')} − 3{X} {Y}{sup('2')}"),
    # functions written the way they are on paper
    ("sqrt(x^2 + y^2)", f"{F}({X}, {Y}) = √({X}{sup('2')} + {Y}{sup('2')})"),
    ("abs(x) + 2abs(y)", f"{F}({X}, {Y}) = |{X}| + 2|{Y}|"),
    ("exp(x+y+z+w+x*y)", f"{F}({X}, {Y}, {Z}, {W}) = exp({X} + {Y} + {Z} + {W} + {X} {Y})"),  # too long for e^
    ("atan2(y, x) + max(x, y, 0)", f"{F}({X}, {Y}) = atan2({Y}, {X}) + max({X}, {Y}, 0)"),
    ("e^x + pi", f"{F}({X}) = e{sup(X)} + π"),
    # fractions inline, minimal parentheses
    ("(x + 1)/(x - 1)", f"{F}({X}) = ({X} + 1)/({X} − 1)"),
    ("x/y*z", f"{F}({X}, {Y}, {Z}) = {X}/{Y}·{Z}"),
    ("x/(y*z)", f"{F}({X}, {Y}, {Z}) = {X}/({Y} {Z})"),
    ("a - (b - c)", f"{F}({A}, {B}, <i>c</i>) = {A} − ({B} − <i>c</i>)"),
    ("(x + 1)(x - 1) * 2", f"{F}({X}) = ({X} + 1)({X} − 1)·2"),
    ("-3x + (-y)", f"{F}({X}, {Y}) = −3{X} + (−{Y})"),
    ("(-x)^2 - x^-2", f"{F}({X}) = (−{X}){sup('2')} − {X}{sup('−2')}"),
    ("(x^y)^z", f"{F}({X}, {Y}, {Z}) = ({X}{sup(Y)}){sup(Z)}"),
    # Qt cannot stack superscripts: the outer power is written ^(...)
    ("x^y^z", f"{F}({X}, {Y}, {Z}) = {X}^({Y}{sup(Z)})"),
    ("2.5e20 + 1e-5", f"{F} = 2.5×10{sup('20')} + 10{sup('−5')}"),
    # a named output and a bare constant
    ("g = x + 1", f"<i>g</i>({X}) = {X} + 1"),
    ("h = 2*3", "<i>h</i> = 2·3"),
])
def test_formulas(text, expected):
    assert to_html(parse(text)) == expected


def test_chain_rule_definitions_one_per_line():
    text = "a = (w+x+y+z)^2\nb = (w+x-y-z)^2\nu = (a+b)^2\nv = (a-b)^2\nf = (u+v)^2"
    assert to_html(parse(text)).split("<br>") == [
        f"{A} = ({W} + {X} + {Y} + {Z}){sup('2')}",
        f"{B} = ({W} + {X} − {Y} − {Z}){sup('2')}",
        f"{U} = ({A} + {B}){sup('2')}",
        f"{V} = ({A} − {B}){sup('2')}",
        f"{F}({X}, {Y}, {W}, {Z}) = ({U} + {V}){sup('2')}",
    ]


def test_semicolon_definitions_and_signature():
    assert to_html(parse("a = x+y; f(x, y) = a^2")) == f"{A} = {X} + {Y}<br>{F}({X}, {Y}) = {A}{sup('2')}"


def test_names_are_escaped_and_unicode_kept():
    # Names are \w+ so no markup can get in; unicode letters pass through, escaped.
    assert to_html(parse("θ^2 + 2*e1")) == f"{F}(<i>θ</i>, <i>e1</i>) = <i>θ</i>{sup('2')} + 2 <i>e1</i>"
    # Trees built by hand (not from the parser) are escaped all the same.
    assert node_to_html(Binary("+", Name("a<b>&"), Num(1.0))) == "<i>a&lt;b&gt;&amp;</i> + 1"


# ----------------------------------------------------------------------------- meaning kept
def html_to_text(markup: str) -> str:
    """Back to text the parser reads (it accepts ·, −, π itself): superscripts become ^( )."""
    text = markup.replace("<sup>", "^(").replace("</sup>", ")").replace("√", "sqrt")
    return html.unescape(re.sub(r"</?i>", "", text))


def normal(node):
    """Fold what is the same formula: -(number) is a number; exp(u) is e^u."""
    if isinstance(node, Unary):
        operand = normal(node.operand)
        return Num(-operand.value) if isinstance(operand, Num) else Unary("-", operand)
    if isinstance(node, Binary):
        return Binary(node.op, normal(node.left), normal(node.right))
    if isinstance(node, Call):
        args = tuple(normal(a) for a in node.args)
        return Binary("^", Name("e"), args[0]) if node.func == "exp" else Call(node.func, args)
    return node


leaves = st.one_of(
    st.integers(0, 20).map(lambda v: Num(float(v))),
    st.sampled_from([0.5, 2.25]).map(Num),
    st.sampled_from(["x", "y", "w", "rate", "pi", "e", "e1"]).map(Name),
)
trees = st.recursive(leaves, lambda sub: st.one_of(
    st.builds(Binary, st.sampled_from("+-*/^"), sub, sub),
    st.builds(lambda n: Unary("-", n), sub),
    st.builds(lambda f, a: Call(f, (a,)), st.sampled_from(["sin", "exp", "sqrt", "log"]), sub),
    st.builds(lambda a, b: Call("atan2", (a, b)), sub, sub),
), max_leaves=12)


@settings(max_examples=400, deadline=None)
@given(trees)
def test_rendering_keeps_the_meaning(tree):
    text = html_to_text(node_to_html(tree))
    assert normal(parse(text).body) == normal(tree), text


# ----------------------------------------------------------------------------- readings and declarations
def test_readings_for_under_the_preview():
    from calcviz.models.pretty import notes_html
    e = parse("x^2y + xy^2 + ln x + x/2y")
    assert to_html(e) == (f"{F}({X}, {Y}) = {X}{sup('2')} {Y} + {X} {Y}{sup('2')} + ln({X}) + {X}/2·{Y}")
    assert notes_html(e).split("<br>") == [
        "xy read as x·y (for one name, add a line xy: scalar)",
        "ln x read as ln(x)",
        "x/2y read as (x/2)·y, not x/(2·y)",
    ]
    assert notes_html(parse("x^2 + y^2")) == ""
    assert notes_html(parse("k: scalar; x")) == "k is declared but not used"


def test_declarations_are_shown_first():
    e = parse("xy: scalar\nxy x + y")
    assert to_html(e) == f"<i>xy</i>: scalar<br>{F}({X}, {Y}, <i>xy</i>) = <i>xy</i> {X} + {Y}"
