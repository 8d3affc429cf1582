"""Controller tests: the real Session and controllers, fake views and a fake engine.

No display, no TensorFlow, no OpenGL. Views are ``MagicMock(spec=View)``: a test plays a user's
intent by calling what the controller connected to a view's signal (:func:`emit`), and checks what
the controller asked the views to show. The engine is numpy (the same formula lowering the app
uses, with derivatives by central differences): good enough to feed the window, not to check maths.
"""
from __future__ import annotations

import os
import sys
from collections import defaultdict
from unittest.mock import MagicMock

import numpy as np
import pytest

import tempfile  # noqa: E402

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # QObjects and timers only: nothing is drawn
# Settings, recent files and the last session go to a throw-away home, never the user's.
_HOME = tempfile.mkdtemp(prefix="calcviz-test-home-")
os.environ["XDG_CONFIG_HOME"] = os.path.join(_HOME, "config")
os.environ["XDG_DATA_HOME"] = os.path.join(_HOME, "data")

from calcviz.models import matrix  # noqa: E402
from calcviz.models.compute import Reply  # noqa: E402
from calcviz.models.expression import parse, parse_derivatives  # noqa: E402
from calcviz.models.lowering import NUMPY, derivative_value, evaluate, lower  # noqa: E402

H = 1e-5  # central-difference step of the fake engine


def emit(signal, *args):
    """Play a view's signal: call every slot a controller connected to it."""
    slots = [c.args[0] for c in signal.connect.call_args_list]
    assert slots, f"nothing is connected to {signal}"
    for slot in slots:
        slot(*args)


# ----------------------------------------------------------------------------- a numpy engine
class FakeEngine:
    """The Engine's request methods, in numpy."""

    device_name = "fake CPU"

    @staticmethod
    def _f(text, names, params):
        expression = parse(text)

        def f(*columns):
            return evaluate(expression, {**params, **dict(zip(names, columns))})
        return f

    def evaluate_grid(self, text, axes, ranges, n, params=None):
        f = self._f(text, axes, params or {})
        coords = [np.linspace(lo, hi, n) for lo, hi in ranges]
        mesh = np.meshgrid(*coords, indexing="ij")
        value = np.broadcast_to(f(*mesh), mesh[0].shape).astype(np.float32)
        d = [(f(*[m + H * (k == i) for k, m in enumerate(mesh)]) - f(*[m - H * (k == i) for k, m in enumerate(mesh)]))
             / (2 * H) for i in range(len(axes))]
        d1, d2 = (d + [np.zeros_like(value)])[:2]
        return {"axes": list(axes), "coords": coords, "value": value, "d1": d1, "d2": d2,
                "undefined_fraction": float(1 - np.isfinite(value).mean()), "device": self.device_name,
                "seconds": 0.0}

    def evaluate_point(self, text, at, params=None):
        names = list(at)
        f = self._f(text, names, params or {})
        p = np.array([at[n] for n in names], float)
        e = np.eye(len(names)) * H
        grad = np.array([(f(*(p + e[i])) - f(*(p - e[i]))) / (2 * H) for i in range(len(names))])
        hess = np.array([[(f(*(p + e[i] + e[j])) - f(*(p + e[i] - e[j])) - f(*(p - e[i] + e[j]))
                           + f(*(p - e[i] - e[j]))) / (4 * H * H) for j in range(len(names))] for i in range(len(names))])
        return {"variables": names, "point": dict(at), "params": dict(params or {}), "value": float(f(*p)),
                "gradient": dict(zip(names, grad.tolist())), "hessian": hess.tolist(),
                "eigenvalues": np.linalg.eigvalsh(hess).tolist(), "device": self.device_name, "seconds": 0.0}

    def find_critical_points(self, text, axes, ranges, params=None):
        return {"axes": list(axes), "critical_points": [], "complete": True, "note": "", "seeds": 0,
                "device": self.device_name, "seconds": 0.0}

    def approximate(self, text, at, params=None, eps=None):
        return {"variables": list(at), "point": dict(at), "value": 0.0, "device": self.device_name}

    def descend(self, text, start, params=None, optimizers=("gd",), lr=0.01, steps=1000, tol=1e-8,
                hyperparameters=None, schedule=None, box=None):
        """Plain gradient descent for every optimizer (labels only): enough to race, converge and diverge."""
        starts = start if isinstance(start, list) else [start]
        names = list(starts[0])
        runs = []
        for k, optimizer in enumerate(optimizers):
            s = starts[k if len(starts) > 1 else 0]
            x = np.array([s[n] for n in names], float)
            path, status, message = [], "max_steps", f"stopped after {steps} steps"
            for step in range(steps + 1):
                info = self.evaluate_point(text, dict(zip(names, x)), params)
                g = np.array([info["gradient"][n] for n in names])
                norm = float(np.linalg.norm(g))
                entry = {"step": step, "point": dict(zip(names, x.tolist())), "value": info["value"],
                         "gradient": dict(zip(names, g.tolist())), "grad_norm": norm, "learning_rate": lr,
                         "update": None}
                path.append(entry)
                if not np.isfinite(info["value"]) or np.abs(x).max() > 1e6:
                    status, message = "diverged", f"diverged at step {step}: lower the learning rate"
                    break
                if norm < tol:
                    status, message = "converged", f"converged in {step} steps"
                    break
                if step == steps:
                    break
                entry["update"] = dict(zip(names, (-lr * g).tolist()))
                x = x - lr * g
            last = path[-1]
            reached = None
            if status == "converged":  # what it reached, by the Hessian's signs there (the engine's rule, simply)
                lam = self.evaluate_point(text, last["point"], params)["eigenvalues"]
                reached = ("minimum" if min(lam) > 0 else "maximum" if max(lam) < 0
                           else "saddle" if min(lam) < 0 < max(lam) else "degenerate")
            runs.append({"optimizer": optimizer, "start": dict(s), "status": status, "steps": last["step"],
                         "reached": reached,
                         "message": message, "point": last["point"], "value": last["value"],
                         "grad_norm": last["grad_norm"], "path": path})
        return {"variables": names, "box": [list(b) for b in (box or [(-5, 5)] * len(names))], "runs": runs,
                "params": dict(params or {}), "device": self.device_name, "seconds": 0.0}


    # vectors and matrices: gradients by central differences, entry by entry
    @staticmethod
    def _gradient(expression, inputs, name):
        base = np.array(inputs[name], float)
        out = np.zeros_like(base)
        for k in np.ndindex(base.shape):
            step = np.zeros_like(base)
            step[k] = H
            plus = evaluate(expression, {**inputs, name: base + step})
            minus = evaluate(expression, {**inputs, name: base - step})
            out[k] = (plus - minus) / (2 * H)
        return out

    def evaluate_matrix(self, text, values=None, seed=0, sizes=None):
        e = parse(text)
        inputs, used = matrix.inputs_for(e, seed, sizes, values)
        value = evaluate(e, inputs)
        grads = {n: self._gradient(e, inputs, n).tolist() for n in inputs} if e.output_shape.scalar else None
        return {"function": e.output, "value": value.tolist(), "shape": e.output_shape.concrete(used).size,
                "inputs": {n: {"shape": e.shape(n).concrete(used).size, "value": np.asarray(v).tolist()}
                           for n, v in inputs.items()},
                "gradients": grads, "seed": seed, "sizes": used, "device": self.device_name, "seconds": 0.0}

    def check_derivatives(self, text, derivatives, seed=0, draws=20, sizes=None, axes=None, ranges=None, n=101,
                          params=None):
        e = parse(text)
        written = parse_derivatives(e, derivatives)

        def yours(d, inputs):
            kept = {}
            lower(e, inputs, NUMPY, kept)
            return derivative_value(e, d.node, d.shape, kept, NUMPY)

        if e.matrix:
            points = [{k: v[j] for k, v in inputs.items()} for _, numbers, inputs in matrix.check_draws(e, seed, draws, sizes)
                      for j in range(len(numbers))]
            where, extra = "draws", {"mode": "draws", "seed": seed, "draws": draws}
        else:
            axes = list(axes or e.axes)
            coords = [np.linspace(lo, hi, n) for lo, hi in ranges or [(-2.0, 2.0)] * len(axes)]
            mesh = [m.reshape(-1) for m in np.meshgrid(*coords, indexing="ij")]
            points = [{**(params or {}), **{a: m[j] for a, m in zip(axes, mesh)}} for j in range(len(mesh[0]))]
            where, extra = "points of the box", {"mode": "grid", "axes": axes, "coords": coords, "ranges": ranges,
                                                 "params": dict(params or {})}
        results, worst = [], np.full(len(points), np.nan)
        for d in written:
            value = np.array([float(evaluate(e, p)) for p in points])
            tf_grad = np.array([self._gradient(e, p, d.wrt) for p in points])
            errors, _ = matrix.relative_errors(value, tf_grad, np.array([yours(d, p) for p in points]))
            errors = np.where(errors < 1e-6, 0.0, errors)  # central differences are good to ~1e-9 only
            worst = np.fmax(worst, errors)
            results.append(matrix.verdict(d, errors, where))
        if extra["mode"] == "grid":
            extra["map"] = worst.reshape(tuple(len(c) for c in extra["coords"]))
        agrees = None if any(r["agrees"] is None for r in results) else all(r["agrees"] for r in results)
        return {**extra, "results": results, "agrees": agrees, "device": self.device_name, "seconds": 0.0}


class FakeClient:
    """ComputeClient's interface; requests wait until :meth:`compute` answers them."""

    def __init__(self):
        self.engine = FakeEngine()
        self._read, self._write = os.pipe()  # a pipe that never has data: the bridge's notifier stays quiet
        self.latest: dict[str, int] = {}
        self.pending: dict[str, tuple[int, dict]] = {}
        self.replies: list[Reply] = [Reply("ready", 0, FakeEngine.device_name)]
        self.submitted: list[tuple[str, dict]] = []
        self.failed = None
        self.starts = 1
        self._ids = 0

    def fileno(self) -> int:
        return self._read

    @property
    def busy(self) -> bool:
        return bool(self.pending)

    def submit(self, kind: str, **kwargs) -> int:
        self._ids += 1
        self.latest[kind] = self._ids
        self.pending[kind] = (self._ids, kwargs)
        self.submitted.append((kind, kwargs))
        return self._ids

    def compute(self) -> None:
        """Answer every pending request (the newest of each kind), as the compute process would."""
        pending, self.pending = self.pending, {}
        for kind, (request_id, kwargs) in pending.items():
            try:
                self.replies.append(Reply(kind, request_id, getattr(self.engine, kind)(**kwargs)))
            except (ValueError, ArithmeticError, NotImplementedError) as exc:
                self.replies.append(Reply(kind, request_id, error=str(exc)))

    def receive(self) -> list[Reply]:
        replies, self.replies = self.replies, []
        return [r for r in replies if r.kind == "ready" or r.id == self.latest.get(r.kind)]

    def cancel(self) -> None:
        self.pending.clear()

    def close(self) -> None:
        os.close(self._read)
        os.close(self._write)


# ----------------------------------------------------------------------------- a window of mocks
ACTIONS = ("undo", "redo", "quit", "open", "save", "save_as", "export", "cancel", "field", "surface_isolines",
           "second_derivative", "critical_markers", "tangent_plane", "quadratic_model", "log_scale", "reset_view",
           "descent_step", "descent_run", "descent_reset", "explain_step", "basins", "equal_aspect")


def fake_window() -> MagicMock:
    """The MainWindow's parts the controllers use, each a MagicMock with its view's spec."""
    from calcviz.main_window import MainWindow
    from calcviz.views.approximation_panel import ApproximationPanel
    from calcviz.views.contour import ContourView
    from calcviz.views.critical_panel import CriticalPointsPanel
    from calcviz.views.curve import CurveView
    from calcviz.views.descent_panel import DescentPanel
    from calcviz.views.editor import EquationEditor
    from calcviz.views.graph_view import ChainRuleView
    from calcviz.views.inspector import PointInspector
    from calcviz.views.loss_plot import LossPlot
    from calcviz.views.matrix_panel import MatrixPanel
    from calcviz.views.panels import DomainPanel, ParametersPanel
    from calcviz.views.surface import SurfaceView

    w = MagicMock(spec=MainWindow)
    for name, cls in (("editor", EquationEditor), ("surface", SurfaceView), ("contour", ContourView),
                      ("curve", CurveView), ("domain", DomainPanel), ("parameters", ParametersPanel),
                      ("inspector", PointInspector), ("critical", CriticalPointsPanel),
                      ("approximation", ApproximationPanel), ("descent", DescentPanel), ("loss", LossPlot),
                      ("chain", ChainRuleView), ("matrix", MatrixPanel)):
        setattr(w, name, MagicMock(spec=cls))
    w.editor.text.return_value = ""
    w.actions = {name: MagicMock() for name in ACTIONS}
    w.recent_menu = MagicMock()
    w.saveGeometry.return_value = w.saveState.return_value = b""
    w.docks = defaultdict(MagicMock)
    return w


class Rig:
    """The real Session and controllers on a fake window and a fake engine."""

    def __init__(self, text: str, ready: bool = True, **box):
        from calcviz.controllers.chain import ChainController
        from calcviz.controllers.compute_bridge import ComputeBridge
        from calcviz.controllers.critical import CriticalController
        from calcviz.controllers.descent import DescentController
        from calcviz.controllers.document import DocumentController
        from calcviz.controllers.files import FilesController
        from calcviz.controllers.matrix import MatrixController
        from calcviz.models.session import Session
        from calcviz.models.settings import Settings

        self.window = w = fake_window()
        self.client = FakeClient()
        if not ready:  # the compute process is still importing TensorFlow: nothing is answered yet
            self.client.replies = []
        self.session = s = Session()
        self.bridge = ComputeBridge(s, self.client)
        self.document = DocumentController(s, w)
        self.critical = CriticalController(s, w)
        self.descent = DescentController(s, w)
        self.chain = ChainController(s, w)
        self.files = FilesController(s, w, self.descent)
        self.matrix = MatrixController(s, w)
        s.open(Settings.for_text(text, **box))
        if ready:
            self.settle()

    def settle(self) -> None:
        """Let the engine answer everything asked so far (and what that leads to)."""
        for _ in range(10):
            self.bridge.receive()
            if not self.client.pending:
                return
            self.client.compute()
        raise AssertionError("the requests never settle")

    def shown_status(self) -> str:
        """The status bar's text now (its last show_status call)."""
        return self.window.show_status.call_args.args[0]

    def close(self) -> None:
        self.descent.shutdown()
        self.bridge.shutdown()


@pytest.fixture
def rig(qapp):
    made = []

    def make(text: str = "x*exp(-x^2 - y^2)", ready: bool = True, **box) -> Rig:
        made.append(Rig(text, ready, **box))
        return made[-1]
    yield make
    for r in made:
        r.close()


@pytest.fixture(autouse=True)
def _no_tensorflow_or_opengl():
    yield
    assert "tensorflow" not in sys.modules, "a controller test imported TensorFlow"
