"""The simulator on real land change: Plum Island (Massachusetts) 1985 / 1991 / 1999 (lulcc's `pie`
data, test-only: read from the shared data folder, never copied into the repository).

Calibrate 1985 -> 1991, simulate 1999, compare with the real 1999 map: the simulator's Figure
of Merit must beat the null model (no change) and today's Markov + simple allocation on the same
run and the same demand (issue 20).
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pie(shared):
    rasterio = pytest.importorskip("rasterio")
    folder = shared / "data" / "plum_island_lulcc"
    if not folder.is_dir():
        pytest.skip(f"Plum Island data not found at {folder}")

    def read(name, nodata_zero=False):
        with rasterio.open(folder / name) as src:
            band = src.read(1)
            return (np.ma.masked_equal(band, 0) if nodata_zero else band), src.res

    maps = {year: read(f"lu_{year}.tif", True)[0] for year in (1985, 1991, 1999)}
    (elevation, res), (slope, _) = read("ef_001_elevation.tif"), read("ef_002_slope.tif")
    return maps, {"elevation": elevation, "slope": slope}, (res[1], res[0])


def test_transition_matrix_of_the_real_maps_matches_the_published_counts(pie):
    from carbonmap.scenarios import transition_matrix

    maps, _, _ = pie
    matrix = transition_matrix(maps[1985], maps[1991])
    # SOURCES.md, transition matrix 1985 -> 1991: forest row 46,672 / 1,926 / 415 of 49,013 cells
    assert matrix.loc[1].tolist() == pytest.approx([46672 / 49013, 1926 / 49013, 415 / 49013])


def test_simulator_beats_the_null_model_and_todays_allocation_on_plum_island(pie):
    from carbonmap.scenarios.plus import simulate_land_use

    maps, drivers, spacing = pie
    run = simulate_land_use(maps[1985], maps[1991], year_before=1985, year_after=1991, target_year=1999,
                            spacing=spacing, drivers=drivers, reference=maps[1999], builtup_codes=[2],
                            slope_deg=drivers["slope"])
    table = run.validation.set_index("model")
    print("\n" + table.round(4).to_string())
    fom = table["figure_of_merit"]
    assert fom["null"] == 0.0
    assert fom["plus"] > fom["markov_allocation"] > 0
    # the same Markov demand for both: the quantity disagreement is the same to a few cells
    assert table.loc["plus", "quantity_disagreement"] == pytest.approx(
        table.loc["markov_allocation", "quantity_disagreement"], abs=1e-4)
    # the simulator's allocation disagrees less with the real 1999 map than the simple allocation's
    assert table.loc["plus", "allocation_disagreement"] < table.loc["markov_allocation", "allocation_disagreement"]
    # built-up expansion is explained first of all by the distance to built-up land
    built = run.suitability.importance.query("code == 2").set_index("driver")["importance"]
    assert built.idxmax() == "distance_to_2"
    # the demand is met exactly: the simulated 1999 has the Markov demand's cells
    counts = np.unique(run.simulation.landcover.compressed(), return_counts=True)[1]
    assert counts.tolist() == run.demand.tolist()


def test_the_command_line_gives_the_same_map_as_the_function(pie, shared, tmp_path):
    import rasterio
    from click.testing import CliRunner

    from carbonmap.cli import main
    from carbonmap.scenarios.plus import simulate_land_use

    maps, drivers, spacing = pie
    folder = shared / "data" / "plum_island_lulcc"
    result = CliRunner().invoke(main, [
        "simulate", str(folder / "lu_1985.tif"), str(folder / "lu_1991.tif"), "--year-before", "1985",
        "--year-after", "1991", "--target-year", "1999", "--driver", f"elevation={folder / 'ef_001_elevation.tif'}",
        "--driver", f"slope={folder / 'ef_002_slope.tif'}", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "simulated_1999.tif") as src:
        from_cli = src.read(1)
    run = simulate_land_use(maps[1985], maps[1991], year_before=1985, year_after=1991, target_year=1999,
                            spacing=spacing, drivers=drivers)
    assert np.array_equal(from_cli, np.ma.filled(run.simulation.landcover, 0))
