"""One locator for resources/: the source checkout's folder, or the copy shipped in the wheel."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

_CANDIDATES = (
    Path(__file__).resolve().parent.parent / "resources",  # source checkout / editable install
    Path(__file__).resolve().parent / "_resources",         # wheel (force-included)
)


def resource_path(name: str) -> Path:
    for folder in _CANDIDATES:
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"calcviz resource not found: {name}")


@cache
def presets() -> list[dict]:
    """The editor's presets: [{"name", "group", "text", "x": [lo, hi], "y": [lo, hi], "params": {..}}]."""
    return json.loads(resource_path("presets.json").read_text(encoding="utf-8"))
