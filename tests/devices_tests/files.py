"""Writing device spec files in tests."""

from __future__ import annotations

import textwrap
from pathlib import Path


def write(path: Path, text: str) -> Path:
    """``text``, dedented, as the file ``path``."""
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path
