"""Regenerate docs/screenshot.png: the default example, a point selected, the gradient field on.

Run it under a (virtual) display: ./dev.sh screenshot
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

from PyQt6 import QtWidgets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from calcviz.app import DEFAULT_EXPRESSION  # noqa: E402
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
    window, controller = build()
    window.resize(1500, 900)
    controller.start(DEFAULT_EXPRESSION)
    window.show()
    wait_for(app, lambda: controller.grid is not None)
    window.actions["field"].setChecked(True)
    controller.set_angle(200.0)
    window.inspector.set_angle(200.0)
    controller.select(-0.6, 0.35)
    wait_for(app, lambda: controller.point_info is not None)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    window.snapshot().save(out)
    print(out)
    dispose(window, controller)


if __name__ == "__main__":
    main(*sys.argv[1:])
