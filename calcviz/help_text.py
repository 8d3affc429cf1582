"""What Help shows: the formula language (resources/formula-language.md, the one copy, which the README
points to), the shortcuts (read off the window's own actions) and the versions."""
from __future__ import annotations

import html
import platform
from importlib import metadata

from .resources import resource_path

MOUSE = (
    ("Click the map or the curve", "select a point: its value, gradient, Hessian and local models"),
    ("Arrow keys (Shift: ×10)", "move the selected point by 1% of the box"),
    ("Shift+click", "put the start of gradient descent there (drag its square marker to move it)"),
    ("Wheel over the map", "zoom the box in or out around the mouse (the function is computed anew)"),
    ("Drag the orange handle", "turn the direction of the directional derivative"),
    ("Drag in the 3D view", "turn the camera; wheel: zoom"),
    ("Right-click a view", "what can be done there, and its export"),
)
PACKAGES = ("calcviz", "PyQt6", "pyqtgraph", "numpy", "tensorflow", "pydantic", "psygnal")


def formula_markdown() -> str:
    return resource_path("formula-language.md").read_text(encoding="utf-8")


def formula_html() -> str:
    from PyQt6.QtGui import QTextDocument  # the markdown reader

    document = QTextDocument()
    document.setMarkdown(formula_markdown())
    return document.toHtml()


def shortcuts_html(rows: list[tuple[str, str]]) -> str:
    def table(pairs):
        return "<table cellspacing='6'>" + "".join(
            f"<tr><td><b>{html.escape(a)}</b></td><td>{html.escape(b)}</td></tr>" for a, b in pairs) + "</table>"
    return f"<h3>Keys</h3>{table(rows)}<h3>Mouse</h3>{table(MOUSE)}"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def about_html(device: str | None) -> str:
    from PyQt6.QtCore import QT_VERSION_STR

    versions = [(name, _version(name)) for name in PACKAGES] + [("Qt", QT_VERSION_STR),
                                                                  ("Python", platform.python_version())]
    rows = "".join(f"<tr><td>{html.escape(n)}</td><td>{html.escape(v)}</td></tr>" for n, v in versions)
    where = html.escape(device) if device else "not known yet (TensorFlow is starting)"
    return ("<h3>calcviz</h3><p>See multivariable calculus: surfaces, gradients, critical points, descent and "
            "backpropagation, after the <i>Multivariable Calculus</i> chapter of <i>Dive into Deep Learning</i>.</p>"
            f"<p>Every derivative is computed by TensorFlow, here on: <b>{where}</b>.</p>"
            f"<table cellspacing='4'>{rows}</table>")
