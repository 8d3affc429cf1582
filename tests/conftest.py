"""Shared by tests/models and tests/gui (no TensorFlow, no Qt here)."""
from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def small_disk():
    """small_disk(folder, size_kb, files, read_only): a real tmpfs of ``size_kb`` mounted on ``folder``
    holding ``files`` (name -> text), remounted read-only if asked; unmounted after the test. Skips
    where mounting is not allowed (the tests with an injected ENOSPC cover the same code there)."""
    mounted: list[Path] = []

    def mount(folder: Path, size_kb: int = 64, files: dict[str, str] | None = None, read_only: bool = False) -> Path:
        folder.mkdir(exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(folder)
        for name, text in (files or {}).items():
            (folder / name).write_text(text)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        return folder

    yield mount
    for folder in reversed(mounted):
        with contextlib.suppress(subprocess.CalledProcessError):
            subprocess.run(["umount", "-l", str(folder)], check=True)
