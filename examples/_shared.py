"""Locate ../shared/data for the examples (or $CARBONMAP_SHARED/data)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_data(folder: str) -> Path:
    """The shared data folder `folder`, or exit with a clear message when it is absent."""
    root = Path(os.environ.get("CARBONMAP_SHARED", REPO.parent / "shared")).resolve()
    path = root / "data" / folder
    if not path.is_dir():
        sys.exit(f"{path} not found: these examples read the shared data folder "
                 "(set CARBONMAP_SHARED to where it is)")
    return path
