"""At launch, while the compute process imports TensorFlow, the map and the surface show the
function's values from numpy (a preview); TensorFlow's grid replaces them, and nothing that needs
derivatives is ever read from the preview."""
from __future__ import annotations

import numpy as np
from PyQt6 import QtCore

from calcviz.models.compute import Reply
from conftest import emit


def events():
    QtCore.QCoreApplication.processEvents()


def test_the_preview_is_drawn_until_tensorflows_grid_replaces_it(rig):
    r = rig("x*exp(-x^2 - y^2)", ready=False)
    s, w = r.session, r.window
    events()  # the preview comes after the window's first events
    preview = s.preview("grid")
    assert preview is not None and preview["d1"] is None and s.grid is None
    xs, ys, value = w.surface.set_grid.call_args.args[:3]
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    np.testing.assert_allclose(value, X * np.exp(-X**2 - Y**2), rtol=1e-6, atol=1e-7)
    w.contour.set_grid.assert_called()
    # Derivatives wait for TensorFlow: no hover read-out, no gradient field, no critical points.
    emit(w.contour.hovered, 0.5, 0.5)
    assert s.hover is None and not w.contour.show_readout.called
    assert s.critical is None and "grid" in s.wanted()
    # TensorFlow is ready: its grid replaces the preview.
    r.client.replies.append(Reply("ready", 0, "fake CPU"))
    r.settle()
    assert s.grid is not None and s.preview("grid") is None and s.grid["d1"] is not None
    assert w.surface.set_grid.call_args.args[2] is s.grid["value"]
    emit(w.contour.hovered, 0.5, 0.5)
    assert s.hover is not None and "∇f" in w.contour.show_readout.call_args.args[2]


def test_a_formula_typed_while_tensorflow_loads_is_previewed_and_the_old_preview_goes(rig):
    r = rig("x*exp(-x^2 - y^2)", ready=False)
    s, w = r.session, r.window
    events()
    emit(w.editor.expressionEdited, "x^2 - y^2")
    assert s.preview("grid") is None  # the old function's values are stale at once
    events()
    xs, ys, value = w.surface.set_grid.call_args.args[:3]
    X, Y = np.meshgrid(xs, ys, indexing="ij")
    np.testing.assert_allclose(value, X**2 - Y**2, rtol=1e-6, atol=1e-6)
    r.client.replies.append(Reply("ready", 0, "fake CPU"))
    r.settle()
    assert s.preview("grid") is None and s.grid is not None


def test_no_preview_once_tensorflow_is_there(rig):
    r = rig("x*exp(-x^2 - y^2)")
    s, w = r.session, r.window
    emit(w.editor.expressionEdited, "x^2 + y^2")
    events()
    assert s.preview("grid") is None
