"""The ``carbonmap`` command line.

One short module per command (``carbonmap/cli/<command>.py``); shared options in
:mod:`carbonmap.cli.options`. Commands import the library inside their body, so
``carbonmap --help`` stays fast. Errors from the library (:class:`CarbonmapError`) are
printed as one ``Error: ...`` line naming the file, field and fix, with exit status 1;
anything else is a bug and shows its traceback.

Other packages can add commands through the ``carbonmap.commands`` entry-point group.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import click

from carbonmap import __version__
from carbonmap.errors import CarbonmapError


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CarbonmapError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="carbonmap")
def main() -> None:
    """Map a city's carbon sources and sinks for spatial planning.

    Run `carbonmap demo` to build the one map from the bundled sample data, or
    `carbonmap run PROJECT.toml` for your own project.
    """


def _register() -> None:
    from carbonmap.cli.blue_carbon import blue_carbon
    from carbonmap.cli.compensation import compensation
    from carbonmap.cli.compare import compare
    from carbonmap.cli.demo import demo
    from carbonmap.cli.emissions import emissions
    from carbonmap.cli.init import init
    from carbonmap.cli.landscape import landscape_metrics
    from carbonmap.cli.network import ecological_network
    from carbonmap.cli.rooftop import rooftop_pv
    from carbonmap.cli.run import run
    from carbonmap.cli.screening import afforestation, rank_rooftops
    from carbonmap.cli.simulate import simulate
    from carbonmap.cli.stocks import stocks
    from carbonmap.cli.targets import targets
    from carbonmap.cli.uncertainty import uncertainty
    from carbonmap.cli.validate import validate
    from carbonmap.cli.zonal import zonal

    for command in (demo, init, validate, run, zonal, emissions, stocks, landscape_metrics, ecological_network,
                    rooftop_pv, rank_rooftops, afforestation, blue_carbon, compensation, targets, compare,
                    uncertainty, simulate):
        main.add_command(command)
    for entry in entry_points(group="carbonmap.commands"):
        if entry.name not in main.commands:
            main.add_command(entry.load(), entry.name)


_register()
