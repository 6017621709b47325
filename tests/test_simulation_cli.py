"""``carbonmap simulate`` on small files: the same result as the Python function, bad files named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner
from rasterio.transform import from_origin

from carbonmap.cli import main


def _write(path, data, nodata=None):
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1,
                       dtype=data.dtype, crs="EPSG:32650", transform=from_origin(500000, 3000000, 30, 30),
                       nodata=nodata) as dst:
        dst.write(data, 1)
    return path


@pytest.fixture()
def files(tmp_path):
    rng = np.random.default_rng(0)
    before = np.ones((24, 24), np.uint8)
    before[:, :3] = 2
    after = before.copy()
    after[:, 3:5][rng.random((24, 2)) < 0.5] = 2  # built grows east of the built strip
    column = np.tile(np.arange(24, dtype=np.float32), (24, 1))
    return {"before": _write(tmp_path / "lc_2010.tif", before, 0), "after": _write(tmp_path / "lc_2015.tif", after, 0),
            "x": _write(tmp_path / "x.tif", column), "small": _write(tmp_path / "small.tif", column[:10]),
            "out": tmp_path / "out"}


def test_simulate_writes_the_map_probabilities_and_tables(files):
    parameters = files["out"].parent / "parameters.csv"
    parameters.write_text("parameter,value,unit,source\nplus_trees,10,trees,test: fewer trees for speed\n",
                          encoding="utf-8")
    args = ["simulate", str(files["before"]), str(files["after"]), "--year-before", "2010", "--year-after", "2015",
            "--target-year", "2020", "--driver", f"x={files['x']}", "--reference", str(files["after"]),
            "--parameters", str(parameters), "-o", str(files["out"])]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    out = files["out"]
    with rasterio.open(out / "simulated_2020.tif") as src:
        simulated = src.read(1)
    demand = pd.read_csv(out / "plus_demand.csv").set_index("code")["cells_demand"]
    assert (simulated == 2).sum() == demand[2] > (rasterio.open(files["after"]).read(1) == 2).sum()
    assert (out / "development_probability_2.tif").exists()
    assert set(pd.read_csv(out / "plus_validation.csv", keep_default_na=False)["model"]) == {"null", "markov_allocation", "plus"}
    used = pd.read_csv(out / "coefficients_scenario_parameters.csv").set_index("parameter")["value"]
    assert used["plus_window_cells"] == 5 and used["plus_trees"] == 10  # the table as read, override applied
    assert "Figure of Merit" in result.output


def test_simulate_names_a_driver_on_another_grid_and_a_bad_conversion_matrix(files, tmp_path):
    base = ["simulate", str(files["before"]), str(files["after"]), "--year-before", "2010", "--year-after", "2015",
            "--target-year", "2020", "-o", str(files["out"])]
    result = CliRunner().invoke(main, [*base, "--driver", f"x={files['small']}"])
    assert result.exit_code == 1 and "small.tif" in result.output and "another grid" in result.output
    matrix = tmp_path / "conversion.csv"
    matrix.write_text("from_code,to_1,to_2,to_9\n1,1,1,0\n2,0,1,0\n", encoding="utf-8")
    result = CliRunner().invoke(main, [*base, "--driver", f"x={files['x']}", "--conversion", str(matrix)])
    assert result.exit_code == 1 and "conversion.csv" in result.output and "to_9" in result.output


def test_simulate_refuses_a_driver_elsewhere_or_in_another_crs_and_what_cannot_be_meant(files, tmp_path):
    """Same cells are not enough: a raster moved or in another CRS is refused; so are swapped dates, a
    table with another demand, and a Markov demand less than half a period ahead (it changes nothing)."""
    column = np.tile(np.arange(24, dtype=np.float32), (24, 1))
    moved = tmp_path / "moved.tif"
    with rasterio.open(moved, "w", driver="GTiff", height=24, width=24, count=1, dtype="float32", crs="EPSG:32650",
                       transform=from_origin(500000 + 3000, 3000000, 30, 30)) as dst:
        dst.write(column, 1)
    other = tmp_path / "other_crs.tif"
    with rasterio.open(other, "w", driver="GTiff", height=24, width=24, count=1, dtype="float32", crs="EPSG:32651",
                       transform=from_origin(500000, 3000000, 30, 30)) as dst:
        dst.write(column, 1)
    base = ["simulate", str(files["before"]), str(files["after"]), "--year-before", "2010", "--year-after", "2015",
            "-o", str(files["out"])]
    cases = [
        (["--target-year", "2020", "--driver", f"x={moved}"], "moved.tif: driver 'x' is not on the land cover's cells"),
        (["--target-year", "2020", "--driver", f"x={other}"], "other_crs.tif: driver 'x' is in another CRS"),
        (["--target-year", "2017"], "--target-year 2017 is less than half a calibration period (5 years) after "
                                    "2015: the Markov demand (whole periods) changes nothing"),
        (["--target-year", "2020", "--demand", "trend", "--demand-table", str(files["x"])],
         "--demand-table is the table demand"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(main, [*base, *args])
        assert result.exit_code in (1, 2) and message in result.output, result.output
    swapped = ["simulate", str(files["after"]), str(files["before"]), "--year-before", "2015", "--year-after",
               "2010", "--target-year", "2020", "-o", str(files["out"])]
    result = CliRunner().invoke(main, swapped)
    assert result.exit_code == 2 and "--year-after (2010) must be after --year-before (2015)" in result.output
    assert not files["out"].exists()
