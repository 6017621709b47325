"""Options shared by several commands.

- ``quiet_opt``: demo, run
- ``out_dir_opt``: demo, run
- ``assume_crs_opt``: zonal, emissions, stocks, landscape-metrics, ecological-network, rooftop-pv
- ``layer_opt``: zonal, emissions, rooftop-pv
"""

from __future__ import annotations

from pathlib import Path

import click

quiet_opt = click.option("--quiet", "-q", is_flag=True, help="Show no progress, only errors.")
out_dir_opt = click.option(
    "--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Output folder (overrides the project file's output_dir).",
)
assume_crs_opt = click.option(
    "--assume-crs", default=None, metavar="CRS",
    help="CRS of inputs that declare none, e.g. EPSG:4326 (a declared CRS always wins).",
)
layer_opt = click.option("--layer", default=None, help="Layer of a multi-layer vector file.")


def int_list(text: str, option: str, example: str) -> list[int]:
    """Integer codes from a comma-separated option value, or a clear error naming the option."""
    from carbonmap.errors import InputError

    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError as exc:
        raise InputError(f"{option} must be integer codes, got {text!r}.", fix=f"e.g. {option} {example}") from exc
