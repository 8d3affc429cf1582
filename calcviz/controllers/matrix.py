"""The matrix-calculus panel: the inputs of a formula with vectors and matrices (their entries are the
document's parameters, and the selected point on the plot's axes), the seed they were drawn with, f's value
and every gradient (the Session's "matrix" result), and the check of the derivatives the user writes (the
"check" result: over random draws, or for a formula of numbers on the box, drawn as an error map on the
contour view).
"""
from __future__ import annotations

from PyQt6 import QtCore

from ..models import matrix
from ..models.expression import DEFAULT_SIZE, entry_name
from ..models.session import Session

NUMBERS_NOTE = ("{f} takes numbers. To check your derivatives, write them below (d/dx = ..., one per line): they "
                "are compared with TensorFlow's on the box, and the contour map shows in red where they differ. "
                "For vectors and matrices, declare them on lines before the formula (x: 3; A: 3x3).")
ARRAYS_NOTE = ("{f}: the entries on the plot's axes ({axes}) are the selected point; the other entries are drawn "
               "at random with the seed (or typed in the tables, or set with the sliders).")


class MatrixController(QtCore.QObject):
    def __init__(self, session: Session, window, parent: QtCore.QObject | None = None):
        super().__init__(parent)
        self.session, self.window = session, window
        self.view = view = window.matrix
        view.valueEdited.connect(session.set_value)
        view.drawRequested.connect(session.draw_values)
        view.derivativesSubmitted.connect(session.set_derivatives)
        # a preset of the chapter's identities brings the derivatives to check (after the document controller
        # has loaded its formula); any other preset clears them
        window.editor.presetChosen.connect(lambda preset: session.set_derivatives(preset.get("derivatives", "")))
        session.settings_changed.connect(self.show_settings)
        session.result_changed.connect(self.show_result)

    # ------------------------------------------------------------------ settings -> view
    def show_settings(self, before, after) -> None:
        s, view = self.session, self.view
        e, doc = s.expression, after.document
        signature = f"{e.output}({', '.join(e.inputs)})"
        if e.arrays:
            view.set_note(ARRAYS_NOTE.format(f=signature, axes=", ".join(doc.axes)))
            view.set_inputs(self.inputs())
        else:
            view.set_note(NUMBERS_NOTE.format(f=signature))
            view.set_inputs([])
        view.set_seed(doc.seed)
        view.set_derivatives(after.check.derivatives)
        self.show_result("check")
        if s.matrix is None:
            self.show_result("matrix")

    def inputs(self) -> list[dict]:
        """Each input's name, size, values and entry names (the view's tables)."""
        s = self.session
        e, values, axes = s.expression, s.values, s.axes
        out = []
        for name in e.inputs:
            shape = e.shape(name).concrete({})
            entries = [entry_name(name, shape, k) for k in range(shape.rows * shape.cols)] if not shape.scalar \
                else [name]
            if shape.kind == "matrix":
                entries = [entries[r * shape.cols:(r + 1) * shape.cols] for r in range(shape.rows)]
            elif shape.scalar:
                entries = entries[0]
            size = e.shape(name).size
            if e.shape(name).symbols:
                size += " (" + ", ".join(f"{d} = {DEFAULT_SIZE}" for d in dict.fromkeys(e.shape(name).symbols)) + " here)"
            out.append({"name": name, "size": size, "values": values[name], "entries": entries, "axes": axes})
        return out

    # ------------------------------------------------------------------ results -> view
    def show_result(self, kind: str) -> None:
        s, view = self.session, self.view
        if kind == "matrix":
            if s.matrix is not None:
                view.set_result(s.matrix)
            elif s.expression.arrays:
                error = s.error("matrix")
                view.set_result(None, f"No value: {error}" if error else "Computing…")
            else:
                view.set_result(None, "")
        elif kind == "check":
            problem = s.check_problem
            wanted = s.request("check") is not None
            result, error = s.check, s.error("check")
            text = problem.message + f" (line {problem.line_column()[0]}, column {problem.line_column()[1]})" \
                if problem is not None else error or ""
            view.set_check(result, text, waiting=wanted and result is None and error is None)
            grid = result is not None and result["mode"] == "grid" and len(result["axes"]) == 2
            self.window.contour.set_error_map(result["coords"], result["map"], matrix.TOLERANCE) if grid \
                else self.window.contour.set_error_map(None)
