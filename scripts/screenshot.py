"""Regenerate the pictures in docs/: the window on Himmelblau's function with four optimizers racing from
one start, a point selected and the critical points marked, on a laptop screen (1366x768) and a large
one (1920x1080), and the figure File > Export writes of it.

Run it under a virtual display: ./dev.sh screenshot (each screen size gets its own Xvfb).
With one argument (a screen size such as 1366x768) it grabs only that screen, on the display it has.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DOCS = ROOT / "docs"
SCREENS = ("1366x768", "1920x1080")
HIMMELBLAU = "(x^2+y-11)^2 + (x+y^2-7)^2"


def wait_for(app, condition, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError("the window did not finish computing in time")
        app.processEvents()
        time.sleep(0.01)


def grab(screen: str) -> None:
    """The window as it first opens on this screen, set up as a teacher would for the chapter."""
    from calcviz import exporting
    from calcviz.gui import build, create_app, dispose

    qt = create_app()
    built = build(persist=False)
    window, session = built.window, built.session
    window.fit_to_screen()
    built.start(HIMMELBLAU, x_range=(-5, 5), y_range=(-5, 5))
    window.show()
    wait_for(qt, lambda: built.idle and session.grid is not None and session.critical is not None)
    session.set_descent_setup({"optimizers": ["gd", "momentum", "adam", "newton"], "lr": 0.01, "max_steps": 500})
    session.set_starts([{"x": -0.5, "y": 0.3}])
    wait_for(qt, lambda: built.idle and session.race is not None)
    session.race.advance(30)
    built.descent.redraw()
    session.select(3.2, -0.6)
    wait_for(qt, lambda: built.idle and session.point is not None)
    for _ in range(40):  # let every view settle and paint
        qt.processEvents()
        time.sleep(0.02)
    DOCS.mkdir(exist_ok=True)
    window.snapshot().save(str(DOCS / f"window-{screen}.png"))
    print(DOCS / f"window-{screen}.png")
    if screen == SCREENS[-1]:
        window.snapshot().save(str(DOCS / "screenshot.png"))
        exporting.export_view(window, "figure", DOCS / "figure.png", (1600, 1000))
        print(DOCS / "figure.png")
    dispose(built)


def main(argv: list[str]) -> None:
    if argv:
        grab(argv[0])
        return
    for screen in SCREENS:  # a virtual screen of each size, and a home that remembers no layout
        with tempfile.TemporaryDirectory() as home:
            env = {**os.environ, "XDG_CONFIG_HOME": f"{home}/config", "XDG_DATA_HOME": f"{home}/data"}
            subprocess.run(["xvfb-run", "-a", "-s", f"-screen 0 {screen}x24", sys.executable, __file__, screen],
                           env=env, check=True)


if __name__ == "__main__":
    main(sys.argv[1:])
