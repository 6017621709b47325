"""The examples on real shared data run and give the published figures."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _needs_shared(shared):
    """Every example reads ../shared/data; skip with the reason when it is absent."""


@pytest.mark.slow
def test_beijing_districts_total_area_and_offset():
    from examples.beijing_gcj02_districts import main

    table = main()
    assert len(table) == 16
    assert table["area_km2"].sum() == pytest.approx(16_410, rel=0.002)  # official area of Beijing
    # the largest districts: Miyun (official 2,229 km2), then Huairou (2,123 km2)
    assert table["name_en"].iloc[:2].tolist() == ["Miyun", "Huairou"]
    assert table["area_km2"].iloc[0] == pytest.approx(2229, rel=0.005)
    assert (table["offset_removed_m"] > 300).all() and (table["error_vs_reference_m"] < 1).all()


def test_xinwu_areas_by_category_and_space():
    from examples.xinwu_euluc_parcels import main

    result = main()
    by_category = result["by_category"]["area_ha"]
    assert by_category["built_industrial"] == pytest.approx(7530, abs=5)  # 75.3 km2 (SOURCES.md)
    assert by_category.sum() == pytest.approx(14_340, abs=10)  # 143.4 km2
    by_space = result["by_space"]["area_ha"]
    # industry, transport (production) > housing, services (living) > parks (ecological)
    assert by_space["production"] > by_space["living"] > by_space["ecological"]
    assert result["water_ha"]["area_ha"].iloc[0] > 0


def test_suzhou_floor_area():
    from examples.suzhou_buildings import main

    result = main()
    assert result["buildings"] == 3076 and result["median_floors"] == 3  # SOURCES.md
    assert result["height_is_3m_per_floor"]
    # floor area = footprints x floors; the mean building is three to four storeys
    assert 3 < result["floor_area_km2"] / result["footprint_km2"] < 4
    assert 0.1 < result["building_coverage"] < 0.5
