"""The chain-rule view: its graph is the Session's "chain" result, computed while the view is on
screen, at the selected point (the box's centre until one is picked) with the parameters' values.

Moving an input's slider in the view moves the selected point (axis inputs) or the parameter (the
others), and every view follows.
"""
from __future__ import annotations

from PyQt6 import QtCore

from ..models.session import Session


class ChainController(QtCore.QObject):
    def __init__(self, session: Session, window, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.session, self.window = session, window
        self.view = window.chain
        self.view.inputsChanged.connect(self.inputs_changed)
        self.view.expandToggled.connect(session.set_expand)
        window.docks["chain"].visibilityChanged.connect(session.set_chain_visible)
        session.result_changed.connect(self.show_result)
        session.settings_changed.connect(self.show_settings)

    def show_settings(self, before, after) -> None:
        if after.chain != before.chain or before is after:
            self.view.set_expand(after.chain.expand)
        if after.document.text != before.document.text and self.session.expression.intermediates:
            self.window.show_dock("chain")  # a chain of definitions: its graph is what the user came for

    def show_result(self, kind: str) -> None:
        if kind != "chain":
            return
        s = self.session
        if s.chain is not None:
            self.view.update_values(s.chain)  # a new structure is laid out anew; else only numbers change
        elif s.error("chain") is not None:
            self.view.clear(f"No graph: {s.error('chain')}")

    def inputs_changed(self, values: dict) -> None:
        s = self.session
        doc = s.document
        for name, value in values.items():
            if name in doc.params and value != doc.params[name].value:
                s.set_param(name, value)
        before = s.at
        point = [values.get(a, before[a]) for a in doc.axes]
        if point != [before[a] for a in doc.axes]:
            s.select(*point)
