"""``pricewar viz`` in a real browser: headless Chromium driven by Playwright.

One server (the real ``pricewar viz`` command on a free loopback port) serves the module's tests;
every test opens its own pages. The tests check what the page does, not how fast: timings (server
start to interactive page, one Step to rendered figures) are measured by experiments/bench_viz.py,
which also makes the README's screenshot (``make screenshots``).
"""

from __future__ import annotations

import shutil
import time

import pytest

from pricewar.scenario import load_scenario
from pricewar.viz import probe

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.xdist_group("viz-browser"),  # one server per worker, not one per test
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make chromium)"),
]

SLIDER = "Electricity cn_west (USD/kWh)"
#: the control's value at the baseline (the data's cn_west power price)
BASELINE_CN_WEST = load_scenario("baseline").regions["cn_west"].electricity_usd_per_kwh


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=probe.CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def server(browser, tmp_path_factory):
    """The URL of the real ``pricewar viz`` on a free loopback port (stopped even when a test
    fails)."""
    log = tmp_path_factory.mktemp("viz") / "server.log"
    port = probe.free_port()
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    process = probe.start_viz(port, log)
    try:
        probe.time_startup(process, url, browser, started)  # waits for an interactive page
        yield url
    except Exception:
        print(log.read_text()[-3000:])
        raise
    finally:
        probe.stop_viz(process)


@pytest.fixture
def page(browser, server):
    page = probe.open_page(browser, server)
    yield page
    page.close()


def _parameters(page) -> str:
    return page.locator(".pricewar-parameters").inner_text()


def _reset(page) -> None:
    page.get_by_role("button", name="Reset", exact=True).click()
    page.get_by_text("Step: 0", exact=True).wait_for()


def test_step_updates_counter_and_figures(page, tmp_path):
    price_plot = page.locator(".pricewar-price img")
    before = price_plot.screenshot()
    for n in range(1, 6):
        probe.click_step(page, n)  # raises unless the counter and all figures show step n
    assert page.get_by_text("Step: 5", exact=True).is_visible()
    assert price_plot.screenshot() != before
    screenshot = tmp_path / "viz.png"
    page.screenshot(path=screenshot)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_reset_rebuilds_the_model_with_a_moved_slider(page):
    assert f"electricity cn_west {BASELINE_CN_WEST:.3f}" in _parameters(page)
    probe.click_step(page, 1)
    slider = page.get_by_role("slider", name=SLIDER)
    slider.focus()
    slider.press("End")
    assert slider.get_attribute("aria-valuenow") == "0.3"
    _reset(page)
    page.wait_for_function(
        "() => document.querySelector('.pricewar-parameters')?.textContent"
        ".includes('cn_west 0.300')")
    assert "Step: 0" in page.locator(".v-navigation-drawer").inner_text()


def test_switching_scenario_moves_the_sliders_to_its_values(page):
    label = page.locator("label").get_by_text("Scenario", exact=True)
    page.locator(".v-select", has=label).click()
    page.get_by_role("option", name="parity", exact=True).click()
    _reset(page)
    page.wait_for_function(
        "() => document.querySelector('.pricewar-parameters')?.textContent"
        ".startsWith('parity')")
    text = _parameters(page)
    assert "cn_west 0.081" in text and "export-control penalty 0.00" in text
    slider = page.get_by_role("slider", name=SLIDER)
    assert slider.get_attribute("aria-valuenow") == "0.081"


def test_each_page_has_its_own_model(browser, server, page):
    for n in range(1, 6):
        probe.click_step(page, n)
    other = probe.open_page(browser, server)
    try:
        assert other.get_by_text("Step: 0", exact=True).is_visible()
        assert f"electricity cn_west {BASELINE_CN_WEST:.3f}" in _parameters(other)
        probe.click_step(other, 1)
        assert page.get_by_text("Step: 5", exact=True).is_visible()
        assert other.get_by_text("Step: 1", exact=True).is_visible()
    finally:
        other.close()
