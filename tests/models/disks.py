"""A small real disk for fault tests: a tmpfs mounted where the test says (needs mount rights)."""
from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(folder: Path, size_kb: int = 64, files: dict[str, str] | None = None, read_only: bool = False):
    """A tmpfs of ``size_kb`` on ``folder`` holding ``files``, read-only if asked; skips the test where
    mounting is not allowed (the tests with an injected ENOSPC cover the same code there)."""
    folder.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        for name, text in (files or {}).items():
            (folder / name).write_text(text)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)
