"""The demo's onemap.html in a real browser (Debian's headless Chromium) with the network
unreachable, in Chinese and in English, on a desktop screen (1366 x 768) and a phone (412 x 915):
no request leaves the file, the console stays clean, the header, panel, legends, unit card and
find box work and read as a planner expects (the run's language, no raw column name, no
scientific notation), the panel folds away and leaves zoom and find usable, large layers are
drawn in full at close zoom, and a basemap offline says so once."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENS = {"desktop": (1366, 768), "phone": (412, 915)}
#: A number in scientific notation, and a snake_case name (a raw column, class or unit key).
SCIENTIFIC = re.compile(r"\d(?:\.\d+)?[eE][+-]?\d")
RAW = re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")


@pytest.fixture(scope="module")
def browser():
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("CARBONMAP_REQUIRE_BROWSER"):  # CI installs them: missing there is a failure
            pytest.fail(f"Chromium or ChromeDriver missing ({CHROMIUM}, {CHROMEDRIVER})")
        pytest.skip("Chromium and ChromeDriver not installed (Debian packages chromium and chromium-driver; "
                    ".ci/run installs them)")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", "--window-size=1400,900", "--hide-scrollbars",
                 # the network is unreachable: every request goes to a proxy on a closed port
                 "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def demo_en(demo_run, tmp_path_factory) -> Path:
    """The demo's map in English (`demo_run` is the demo in Chinese): a copy of that run, its stages from
    the monitoring on run again with ``--lang en``, as `carbonmap run --only` does (the language is the
    map's, not the analysis'; the monitoring stage reads the 2015 run at the copy's own path)."""
    import shutil
    from importlib.resources import files

    from carbonmap.cli.demo import earlier_output
    from carbonmap.config import load_project
    from carbonmap.pipeline import run

    out = tmp_path_factory.mktemp("demo_en") / "demo"
    shutil.copytree(demo_run, out)
    shutil.copytree(earlier_output(demo_run), earlier_output(out))
    project = load_project(str(files("carbonmap.sample_data") / "demo_city" / "project.toml"))
    project = project.with_output_dir(out).with_language("en").with_monitoring([earlier_output(out)])
    run(project, quiet=True, only="monitoring")
    return out


def test_rewriting_a_chinese_run_in_english_names_its_units_and_notes_in_english(demo_run, demo_en):
    """The districts are named per language (name_field = { zh, en }) and the notes are kept in both: the
    English outputs written from the Chinese run's state (`demo_en`, ``--only``) read in English, though
    the units stage read the names in Chinese and the earlier stages wrote their notes in a Chinese run."""
    import html
    from importlib.resources import files

    import pyogrio

    districts = pyogrio.read_dataframe(str(files("carbonmap.sample_data") / "demo_city" / "demo_city.gpkg"),
                                       layer="districts", read_geometry=False).set_index("district_id")
    chinese = pd.read_csv(demo_run / "unit_summary.csv", index_col="unit_id")["unit_name"]
    english = pd.read_csv(demo_en / "unit_summary.csv", index_col="unit_id")["unit_name"]
    assert chinese.to_dict() == districts["name_zh"].to_dict()
    assert english.to_dict() == districts["name_en"].to_dict()
    for layer in ("unit_summary", "monitoring_units"):
        frame = pyogrio.read_dataframe(demo_en / "onemap.gpkg", layer=layer, read_geometry=False)
        assert dict(zip(frame["unit_id"], frame["unit_name"])) == english.to_dict(), layer
    report = (demo_en / "report.html").read_text(encoding="utf-8")
    section = re.search(r"<section id='notes'>.*?</section>", report, re.DOTALL).group(0)
    notes = [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", section, re.DOTALL)]
    assert len(notes) >= 20 and any(note.startswith("ecological network: ") for note in notes)
    assert not any(re.search(r"[\u4e00-\u9fff]", note) for note in notes)  # every note in English
    assert "Yunling" in report


@pytest.fixture
def demo_pages(demo_run, demo_en) -> dict[str, Path]:
    return {"zh": demo_run, "en": demo_en}


def _requests(driver) -> list[dict]:
    """Network events since the last call: every request and every failure."""
    events = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] in ("Network.requestWillBeSent", "Network.loadingFailed"):
            events.append(message)
    return events


def _picture(driver) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB"), dtype=np.int16)


def _wait_for(driver, script: str, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {script}")


def _open(driver, page: Path, screen: str = "desktop") -> None:
    """The page in a window whose inside is the screen's size, drawn, with the logs of the pages before
    it (a tile that failed after an earlier test looked) left behind."""
    driver.get("about:blank")
    for log in ("browser", "performance"):
        driver.get_log(log)
    width, height = SCREENS[screen]
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(2 * width - inner[0], 2 * height - inner[1])
    driver.get(page.resolve().as_uri())
    _wait_for(driver, "return document.readyState === 'complete' && document.querySelector('.carbonmap-panel')")
    assert driver.execute_script("return [window.innerWidth, window.innerHeight]") == [width, height]
    time.sleep(0.6)  # the canvas draws after load


def _severe(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _visible_text(driver, selector: str) -> list[str]:
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent)", selector)


def _words(key: str, language: str, **fields) -> str:
    from carbonmap.words import words

    return words(key, **fields).in_(language)


def _reads_well(texts: list[str], columns: set[str]) -> None:
    """No scientific notation and no raw column name (nor any snake_case name) in `texts`."""
    for text in texts:
        assert not SCIENTIFIC.search(text), text
        assert not RAW.search(text), text
        assert text.strip() not in columns, text


def _real_click(driver, lat: float, lng: float) -> None:
    """A mouse click (through the browser's own event routing) at a place on the map."""
    from selenium.webdriver.common.action_chains import ActionChains

    x, y = driver.execute_script("""
        const p = onemap.latLngToContainerPoint([arguments[0], arguments[1]]), box = onemap.getContainer()
          .getBoundingClientRect();
        return [p.x - box.width / 2, p.y - box.height / 2];""", lat, lng)
    container = driver.find_element("css selector", ".leaflet-container")
    ActionChains(driver).move_to_element_with_offset(container, round(x), round(y)).click().perform()


def _click_unit(driver, index: int = 9) -> None:
    """A click on the map at the label point of unit `index` (outside any other layer)."""
    driver.execute_script("""
        const p = carbonmap.data().units.labels[arguments[0]];
        onemap.setView([p[0], p[1]], onemap.getZoom(), {animate: false});
        onemap.fire('click', {latlng: L.latLng(p[0], p[1])});""", index)
    _wait_for(driver, "return document.querySelector('.leaflet-popup-content .carbonmap-card')")


@pytest.mark.slow
def test_onemap_works_offline_in_chromium(browser, demo_run):
    _open(browser, demo_run / "onemap.html")
    requests = _requests(browser)
    urls = {e["params"]["request"]["url"] for e in requests if e["method"] == "Network.requestWillBeSent"}
    outside = sorted(u for u in urls if not (u.startswith("file://") or u.startswith("data:")))
    assert outside == [], f"requests to the network: {outside[:5]}"
    failed = [e["params"] for e in requests if e["method"] == "Network.loadingFailed"]
    assert failed == [], failed[:3]
    assert _severe(browser) == []

    from carbonmap.stage import GROUPS
    from carbonmap.words import group_label

    groups = [t.strip() for t in _visible_text(browser, ".leaflet-control-layers-group-name")]
    assert [group_label(g, "zh") for g in GROUPS] == groups  # every theme, in the demo's language
    before = _picture(browser)
    assert len(np.unique(before.reshape(-1, 3), axis=0)) > 50  # a drawn map, not a blank page
    assert before.std() > 10

    # switch net emissions off and the afforestation sites on: the picture must change
    sites = _words("layer.afforestation_sites", "zh")
    toggled = browser.execute_script("""
        const labels = Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'));
        const pick = (text) => labels.find(l => l.textContent.trim() === text).querySelector('input');
        const units = pick(arguments[0]), sites = pick(arguments[1]);
        const was = [units.checked, sites.checked];
        units.click(); sites.click();
        return was.concat([units.checked, sites.checked]);""", "净碳排放", sites)
    assert toggled == [True, False, False, True]
    time.sleep(1.0)
    after = _picture(browser)
    changed = np.abs(after - before).sum(axis=2) > 30
    assert changed.mean() > 0.05, f"only {changed.mean():.1%} of the pixels changed"
    legends = _visible_text(browser, ".carbonmap-legend")
    assert any(sites in text for text in legends)
    assert not any("净碳排放" in text for text in legends)

    # the search box zooms to a unit
    zoom = "return onemap.getZoom()"
    before_zoom = browser.execute_script(zoom)
    finder = browser.find_element("css selector", ".carbonmap-finder input")
    finder.send_keys("云岭区")  # the Chinese map names the districts in Chinese
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", finder)
    time.sleep(0.8)
    assert browser.execute_script(zoom) > before_zoom
    assert _severe(browser) == []

    # a basemap offline: its tiles fail, the map says so once and keeps working
    browser.execute_script("""
        Array.from(document.querySelectorAll('.leaflet-control-layers-base label'))
          .find(l => l.textContent.trim() === arguments[0]).querySelector('input').click();""",
                           _words("map.basemap_name_OpenStreetMap", "zh"))
    notice = _wait_for(browser, "return Array.from(document.querySelectorAll('.carbonmap-legend'))"
                                ".map(e => e.textContent).find(t => t.includes('OpenStreetMap'))")
    assert notice == _words("map.basemap_offline", "zh", name=_words("map.basemap_name_OpenStreetMap", "zh"))
    errors = _severe(browser)
    assert all("tile.openstreetmap.org" in e["message"] for e in errors)  # only the tiles failed


@pytest.mark.slow
@pytest.mark.parametrize("screen", list(SCREENS))
@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_map_reads_as_a_planner_expects(browser, demo_pages, language, screen):
    """Header, legend, panel, unit card and find box, in the run's language, on a desktop and a phone."""
    folder = demo_pages[language]
    columns = set(pd.read_csv(folder / "unit_summary.csv", nrows=0).columns)
    _open(browser, folder / "onemap.html", screen)
    assert browser.execute_script("return document.documentElement.lang") == ("zh-CN" if language == "zh" else "en")

    header = browser.find_element("css selector", ".cm-header").text
    assert ("示范城市" if language == "zh" else "Demo city") in header and _words("map.sources", language) in header
    baseline = "基准情景" if language == "zh" else "baseline"
    assert _words("map.peak_year", language, year=2030, scenario=baseline) in header
    legend = _visible_text(browser, ".carbonmap-legend")
    assert len(legend) == 1 and legend[0].startswith("净碳排放" if language == "zh" else "Net emissions")
    assert "吨CO₂/年" in legend[0] if language == "zh" else "t CO2/yr" in legend[0]
    assert legend[0].count("吨CO₂/年" if language == "zh" else "t CO2/yr") == 1  # the unit once
    _reads_well(legend, columns)

    # the panel folds away (a phone starts with it folded) and leaves zoom and find usable
    panel = "return document.querySelector('.carbonmap-panel').getBoundingClientRect().toJSON()"
    toggle = browser.find_element("css selector", ".cm-panel-toggle")
    if screen == "phone":
        assert browser.execute_script(panel)["width"] < 150
        toggle.click()
        opened = browser.execute_script(panel)
        assert opened["width"] >= 400 and opened["top"] > 400  # a drawer at the bottom
        assert _covered(browser, ".leaflet-control-zoom-in") is False
        toggle.click()
    else:
        assert browser.execute_script(panel)["width"] == pytest.approx(300, abs=20)
        unfolded = ("return Array.from(document.querySelectorAll('.cm-group-list'))"
                    ".filter(e => e.getClientRects().length)")
        assert len(browser.execute_script(unfolded)) == 1  # only the first group is unfolded
        toggle.click()
    assert browser.execute_script(panel)["width"] < 150
    for selector in (".leaflet-control-zoom-in", ".carbonmap-finder input"):
        assert _covered(browser, selector) is False, selector
    zoom = browser.execute_script("return onemap.getZoom()")
    browser.find_element("css selector", ".leaflet-control-zoom-in").click()
    _wait_for(browser, f"return onemap.getZoom() > {zoom}")

    # a click on a unit opens its card: key figures labelled from the column dictionary, all figures folded
    _click_unit(browser)
    card = _visible_text(browser, ".carbonmap-card")[0]
    labels = _visible_text(browser, ".carbonmap-card .cm-figure-label")
    assert _words("map.theme_balance", language) in card and len(labels) >= 10
    assert ("净碳排放" if language == "zh" else "Net emissions") in labels
    assert browser.execute_script("return document.querySelectorAll('.carbonmap-card .cm-bar-mean').length") >= 8
    details = _visible_text(browser, ".carbonmap-card details th")
    assert len(details) == len(columns) - 2  # every column but the unit's id and name, labelled
    _reads_well(labels + details + _visible_text(browser, ".carbonmap-card .cm-figure-value"), columns)
    browser.execute_script("onemap.closePopup()")

    # the find box highlights the unit found and says when nothing matches
    finder = browser.find_element("css selector", ".carbonmap-finder input")
    finder.clear()
    district = "滨海区" if language == "zh" else "Binhai"  # the districts named in the map's language
    finder.send_keys(district + "\n")
    status = _wait_for(browser, "return document.querySelector('.cm-find-status').textContent")
    assert status == _words("map.found", language, name=district)
    highlighted = "let n = 0; onemap.eachLayer(l => { if (l.options.pane === 'cm-highlight') n++; }); return n"
    assert browser.execute_script(highlighted) >= 1
    finder.clear()
    finder.send_keys("no such unit\n")
    _wait_for(browser, "return document.querySelector('.cm-find-status').textContent.length > 0 && "
                       f"!document.querySelector('.cm-find-status').textContent.includes({json.dumps(district)})")
    assert browser.find_element("css selector", ".cm-find-status").text == \
        _words("map.no_match", language, text="no such unit")
    assert _severe(browser) == []


def _covered(driver, selector: str) -> bool:
    """Whether something else is on top of the centre of the element `selector`."""
    return driver.execute_script("""
        const e = document.querySelector(arguments[0]), r = e.getBoundingClientRect();
        const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return !(top === e || e.contains(top));""", selector)


@pytest.mark.slow
def test_large_layers_are_drawn_in_full_at_close_zoom(browser, demo_run):
    """Every building (16,827) on canvas tiles from a close zoom, cells when zoomed out, and a click on
    a building shows its attributes."""
    _open(browser, demo_run / "onemap.html")
    found = browser.execute_script("""
        const entry = Object.values(carbonmap.entries).find(e => e.spec.tiles && e.spec.kind === 'polygon');
        carbonmap.show(entry.spec.id, true);
        const G = carbonmap.geometry(entry.spec.geometry);
        let best = 0, size = 0;
        for (let i = 0; i < 500; i++) {  // a large roof, to click inside it
          let x0 = Infinity, x1 = -Infinity;
          for (let v = G.ringVertex[G.featureRing[i]]; v < G.ringVertex[G.featureRing[i + 1]]; v++) {
            x0 = Math.min(x0, G.xy[2 * v]); x1 = Math.max(x1, G.xy[2 * v]);
          }
          if (x1 - x0 > size) { size = x1 - x0; best = i; }
        }
        let sx = 0, sy = 0, n = 0;
        for (let v = G.ringVertex[G.featureRing[best]]; v < G.ringVertex[G.featureRing[best + 1]]; v++) {
          sx += G.xy[2 * v]; sy += G.xy[2 * v + 1]; n++;
        }
        const at = L.Projection.SphericalMercator.unproject(L.point(sx / n, sy / n));
        return {n: G.n, minZoom: entry.spec.tiles.minZoom, lat: at.lat, lng: at.lng,
                note: document.querySelector('.carbonmap-legend').textContent};""")
    assert found["n"] == 16_827 and 13 <= found["minZoom"] <= 18
    assert _words("map.how_mean", "zh") in found["note"]  # zoomed out: cells, and the legend says so
    browser.execute_script("onemap.setView([arguments[0], arguments[1]], arguments[2] + 1, {animate: false})",
                           found["lat"], found["lng"], found["minZoom"])
    time.sleep(1.2)
    drawn = browser.execute_script("""
        return Array.from(onemap.getPane('cm-tiles').querySelectorAll('canvas')).map(c => {
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } return n; });""")
    assert len(drawn) >= 4 and sum(drawn) > 10_000  # the tiles have buildings on them
    _real_click(browser, found["lat"], found["lng"])  # the net emissions of the units are drawn under the roofs
    _wait_for(browser, "return document.querySelector('.leaflet-popup-content .carbonmap-feature')")
    rows = _visible_text(browser, ".carbonmap-feature th")
    assert _words("layer.rooftop_pv", "zh") in _visible_text(browser, ".carbonmap-feature .cm-popup-title")
    assert "光伏年发电量" in rows
    browser.execute_script("onemap.closePopup(); onemap.setZoom(arguments[0] - 2, {animate: false})",
                           found["minZoom"])  # the canvas tiles' own zoom limits are not the map's
    assert browser.execute_script("return onemap.getZoom()") == found["minZoom"] - 2
    time.sleep(0.8)
    _real_click(browser, found["lat"], found["lng"])  # zoomed out, on the cells: the unit's card
    _wait_for(browser, "return document.querySelector('.leaflet-popup-content .carbonmap-card')")
    assert _severe(browser) == []


@pytest.mark.slow
def test_the_finder_tells_units_of_the_same_name_apart(browser, tmp_path):
    import geopandas as gpd
    import shapely

    from carbonmap.webmap import write_map

    x0, y0 = 500_000, 3_000_000
    units = gpd.GeoDataFrame({"unit_id": ["A1", "B7", "C3"], "unit_name": ["Xinzhuang", "Xinzhuang", "Dongcun"],
                              "net_co2_t_yr": [10.0, -5.0, 20.0]},
                             geometry=[shapely.box(x0 + 1000 * i, y0, x0 + 1000 * i + 1000, y0 + 1000)
                                       for i in range(3)],
                             crs="EPSG:32650")
    path, _, _ = write_map(units, [], tmp_path / "onemap.html", language="en", basemaps=())
    _open(browser, path)
    options = browser.execute_script("return Array.from(document.querySelectorAll('#carbonmap-units option'))"
                                     ".map(o => o.value)")
    assert options == ["Xinzhuang (A1)", "Xinzhuang (B7)", "Dongcun"]
    finder = browser.find_element("css selector", ".carbonmap-finder input")
    finder.send_keys("xinzhuang\n")
    assert browser.find_element("css selector", ".cm-find-status").text == "2 units match:"
    choices = browser.find_elements("css selector", ".cm-find-choice")
    assert [c.text for c in choices] == ["Xinzhuang (A1)", "Xinzhuang (B7)"]
    choices[1].click()
    assert browser.find_element("css selector", ".cm-find-status").text == "Showing Xinzhuang (B7)"
    finder.clear()
    finder.send_keys("B7\n")  # an id finds its unit too
    assert browser.find_element("css selector", ".cm-find-status").text == "Showing Xinzhuang (B7)"
    assert _severe(browser) == []
