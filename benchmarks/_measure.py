"""Run one measurement in a child process: its peak memory (ru_maxrss) is then its own."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path


def run_child(command: list[str], result: Path, what: str) -> dict:
    """Run `command`, which writes a JSON dict to `result`; return it with ``peak_mb`` added."""
    proc = subprocess.Popen(command)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"{what} failed (status {status})")
    data = json.loads(Path(result).read_text())
    data["peak_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return data
