"""QGIS opens every layer of the demo's onemap.gpkg with carbonmap's default style.

QGIS is too heavy for CI; the test runs where Debian's python3-qgis is installed (it lives in
the system Python, so it runs there in a subprocess) and skips with the reason elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

SYSTEM_PYTHON = Path("/usr/bin/python3")
SCRIPT = r"""
import json, os, sqlite3, sys
from qgis.core import QgsApplication, QgsVectorLayer
app = QgsApplication([], False)
app.initQgis()
gpkg = sys.argv[1]
rows = sqlite3.connect(gpkg).execute("SELECT f_table_name FROM layer_styles").fetchall()
out = {}
for (name,) in rows:
    layer = QgsVectorLayer(f"{gpkg}|layername={name}", name, "ogr")
    renderer = layer.renderer()
    out[name] = {"valid": layer.isValid(), "crs": layer.crs().isValid(), "renderer": renderer.type(),
                 "attribute": renderer.classAttribute() if hasattr(renderer, "classAttribute") else None}
print(json.dumps(out), flush=True)
os._exit(0)  # QGIS 3.22 standalone can crash while tearing down; the answer is out
"""


def _has_qgis() -> bool:
    if not SYSTEM_PYTHON.exists():
        return False
    return subprocess.run([str(SYSTEM_PYTHON), "-c", "import qgis.core"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _has_qgis(), reason="QGIS not installed (Debian package python3-qgis)")
def test_qgis_opens_every_layer_styled(demo_run):
    gpkg = demo_run / "onemap.gpkg"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([str(SYSTEM_PYTHON), "-c", SCRIPT, str(gpkg)], capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    layers = json.loads(result.stdout.strip().splitlines()[-1])
    import pyogrio

    spatial = {name for name, kind in pyogrio.list_layers(gpkg) if kind is not None}
    assert set(layers) == spatial
    for name, layer in layers.items():
        assert layer["valid"] and layer["crs"], name
        assert layer["renderer"] in ("graduatedSymbol", "categorizedSymbol"), (name, layer)  # our style, not QGIS's
    assert layers["parcels"] == {"valid": True, "crs": True, "renderer": "categorizedSymbol",
                                 "attribute": "carbon_category"}
    assert layers["unit_summary"]["attribute"] == "net_co2_t_yr"
