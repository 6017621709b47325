"""The demo's onemap.html in a real browser (Debian's headless Chromium) with the network
unreachable: every request other than the file itself must not happen, the console stays
clean, the layer control lists the theme groups, toggling a layer changes the picture, and
the picture is not blank."""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


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
                 "--disable-quic", "--window-size=1400,900",
                 # the network is unreachable: every request goes to a proxy on a closed port
                 "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


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


@pytest.mark.slow
def test_onemap_works_offline_in_chromium(browser, demo_run):
    page = (demo_run / "onemap.html").resolve()
    browser.get(page.as_uri())
    _wait_for(browser, "return document.readyState === 'complete' && document.querySelector('.leaflet-control-layers')")
    time.sleep(1.0)  # the canvas draws after load
    requests = _requests(browser)
    urls = {e["params"]["request"]["url"] for e in requests if e["method"] == "Network.requestWillBeSent"}
    outside = sorted(u for u in urls if not (u.startswith("file://") or u.startswith("data:")))
    assert outside == [], f"requests to the network: {outside[:5]}"
    failed = [e["params"] for e in requests if e["method"] == "Network.loadingFailed"]
    assert failed == [], failed[:3]
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == [], errors[:3]

    groups = browser.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-control-layers-group-name'))"
        ".map(e => e.textContent.trim())")
    assert {"units", "sources", "sinks", "ecology", "renewables", "screening", "scenarios", "zones",
            "inputs"} <= set(groups)
    before = _picture(browser)
    assert len(np.unique(before.reshape(-1, 3), axis=0)) > 50  # a drawn map, not a blank page
    assert before.std() > 10

    # switch the first choropleth off and the afforestation sites on: the picture must change
    toggled = browser.execute_script("""
        const labels = Array.from(document.querySelectorAll('.leaflet-control-layers-overlays label'));
        const pick = (text) => labels.find(l => l.textContent.trim().startsWith(text)).querySelector('input');
        const units = pick('units: net_co2_t_yr'), sites = pick('Afforestation sites');
        const was = [units.checked, sites.checked];
        units.click(); sites.click();
        return was.concat([units.checked, sites.checked]);""")
    assert toggled == [True, False, False, True]
    time.sleep(1.0)
    after = _picture(browser)
    changed = np.abs(after - before).sum(axis=2) > 30
    assert changed.mean() > 0.05, f"only {changed.mean():.1%} of the pixels changed"
    legends = browser.execute_script(
        "return Array.from(document.querySelectorAll('.carbonmap-legend')).map(e => e.textContent)")
    assert any("Afforestation sites" in text for text in legends)
    assert not any(text.startswith("units: net_co2_t_yr") for text in legends)

    # the search box zooms to a unit
    zoom = "return Object.values(window).find(v => v instanceof L.Map).getZoom()"
    before_zoom = browser.execute_script(zoom)
    finder = browser.find_element("css selector", ".carbonmap-finder input")
    finder.send_keys("Yunling")
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", finder)
    time.sleep(0.8)
    assert browser.execute_script(zoom) > before_zoom
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []

    # a basemap offline: its tiles fail, the map says so once and keeps working
    browser.execute_script("""
        Array.from(document.querySelectorAll('.leaflet-control-layers-base label'))
          .find(l => l.textContent.trim() === 'OpenStreetMap').querySelector('input').click();""")
    notice = _wait_for(browser, "return Array.from(document.querySelectorAll('.carbonmap-legend'))"
                                ".map(e => e.textContent).find(t => t.includes('unavailable'))")
    assert "OpenStreetMap is unavailable (offline?)" in notice
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert all("tile.openstreetmap.org" in e["message"] for e in errors)  # only the tiles failed
