"""GUI tests: real widgets under Xvfb (./dev.sh test runs this folder under xvfb-run).

TensorFlow must never be imported here: it crashes Mesa's OpenGL in the same process. The
window computes in its spawned compute process, like the app does.
"""
import os
import sys
import tempfile

import pytest
from PyQt6.QtCore import QCoreApplication, Qt

# Settings, recent files and the last session go to a throw-away home, never the user's.
_HOME = tempfile.mkdtemp(prefix="calcviz-test-home-")
os.environ["XDG_CONFIG_HOME"] = os.path.join(_HOME, "config")
os.environ["XDG_DATA_HOME"] = os.path.join(_HOME, "data")

# pyqtgraph caches GL shader programs per class: without shared contexts a second GL view draws black.
QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts)


def pytest_configure(config):
    if os.environ.get("QT_QPA_PLATFORM", "") == "offscreen":
        raise pytest.UsageError("GUI tests need a real X server (offscreen does not render OpenGL): ./dev.sh test")


@pytest.fixture(autouse=True)
def _no_tensorflow_in_gui_process():
    yield
    assert "tensorflow" not in sys.modules, "TensorFlow was imported in the GUI process"
