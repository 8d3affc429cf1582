"""The chain-rule view wired to the document: its inputs are the selected point and the parameters.

A function of several inputs is drawn over two of them (the axes) with the others fixed at their
parameter values; the graph is evaluated at the selected point (the box's centre until one is
picked) with those same values. So moving an input's slider in the chain-rule view moves the
selected point (axis inputs) or the parameter (the others), and every view follows.
"""
from __future__ import annotations

from PyQt6 import QtCore

from .models.compute import Reply


class ChainController(QtCore.QObject):
    def __init__(self, controller):
        super().__init__(controller)
        self.controller = controller
        self.window = controller.window
        self.view = self.window.chain
        self.result: dict | None = None
        self.view.inputsChanged.connect(self.inputs_changed)
        self.view.expandToggled.connect(lambda _on: self.request())
        self.window.docks["chain"].visibilityChanged.connect(lambda visible: visible and self.request())

    def at(self) -> dict[str, float]:
        """Every input's value: the selected point (or the box's centre) and the parameters."""
        doc, c = self.controller.document, self.controller
        point = c.selected if c.selected is not None else tuple((lo + hi) / 2 for lo, hi in doc.ranges)
        return {**dict(zip(doc.axes, map(float, point))), **doc.param_values}

    def request(self) -> None:
        doc = self.controller.document
        if doc is None or not doc.axes or not self.window.docks["chain"].isVisible():
            return  # computed when the view is shown
        self.controller.client.submit("backprop", text=doc.text, at=self.at(),
                                      expand=self.view.expand_box.isChecked())

    def handle(self, reply: Reply) -> None:
        if reply.error is not None:
            self.result = None
            self.view.clear(f"No graph: {reply.error}")
            return
        self.result = reply.payload
        self.view.update_values(reply.payload)  # a new structure is laid out anew; else only numbers change

    def inputs_changed(self, values: dict) -> None:
        c, doc = self.controller, self.controller.document
        before = self.at()
        for name, value in values.items():
            if name in doc.params and value != doc.params[name]["value"]:
                c.set_param(name, value)
        point = [values.get(a, before[a]) for a in doc.axes]
        if point != [before[a] for a in doc.axes]:
            c.select(*point)
