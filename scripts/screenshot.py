"""Regenerate docs/screenshot.png: Himmelblau's function, four optimizers racing from one start, a point
selected, the critical points marked, the loss curves below.

Run it under a (virtual) display: ./dev.sh screenshot
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from PyQt6 import QtWidgets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from calcviz.gui import build, create_app, dispose  # noqa: E402


def wait_for(app: QtWidgets.QApplication, condition, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the window did not finish computing in time")
        app.processEvents()
        time.sleep(0.01)


def main(out: str = str(ROOT / "docs" / "screenshot.png")) -> None:
    app = create_app()
    built = build(persist=False)
    window = built.window
    window.resize(1700, 1000)
    built.start("(x^2+y-11)^2 + (x+y^2-7)^2", x_range=(-5, 5), y_range=(-5, 5))
    window.show()
    wait_for(app, lambda: built.session.grid is not None and built.session.critical is not None)
    built.session.set_descent_setup({"optimizers": ["gd", "momentum", "adam", "newton"], "lr": 0.01, "max_steps": 500})
    built.session.set_starts([{"x": -0.5, "y": 0.3}])
    wait_for(app, lambda: built.session.race is not None)
    built.session.race.advance(30)
    built.descent.redraw()
    built.session.select(3.2, -0.6)
    wait_for(app, lambda: built.session.point is not None)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    window.snapshot().save(out)
    print(out)
    dispose(built)


if __name__ == "__main__":
    main(*sys.argv[1:])
