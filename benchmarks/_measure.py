"""Run one measurement in a child process: its peak memory (ru_maxrss) is then its own."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
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


def best_of(repeat: int, measure: Callable[[], dict | None],
            times: tuple[str, ...] = ("wall_s", "cpu_s")) -> dict | None:
    """`measure()` `repeat` times: the first result, with the shortest of each of its `times`
    and the largest ``peak_mb``; None as soon as a run gives None (timed out)."""
    best = measure()
    for _ in range(repeat - 1):
        if best is None:
            break
        again = measure()
        if again is None:
            return None
        best.update({key: min(best[key], again[key]) for key in times}, peak_mb=max(best["peak_mb"], again["peak_mb"]))
    return best
