"""``pricewar viz`` in a real browser: headless Chromium driven by Playwright.

One server (the real ``pricewar viz`` command on a free loopback port) serves the module's tests
(session-scoped, and ``make test``'s ``--dist loadfile`` keeps the module on one worker, so one
server starts); every test opens its own pages. The tests check what the page does, not
how fast: timings (server start to interactive page, one Step to rendered figures) are measured
by experiments/bench_viz.py; the README's screenshots are made by experiments/app_screenshots.py
(``make screenshots``), never by the tests.
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
    pytest.mark.integration,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (make chromium)"),
]

SLIDER = "Electricity cn_west (USD/kWh)"
#: the control's value at the baseline (the data's cn_west power price)
BASELINE_CN_WEST = load_scenario("baseline").regions["cn_west"].electricity_usd_per_kwh
#: and at parity (the data's US power price)
PARITY_CN_WEST = load_scenario("parity").regions["cn_west"].electricity_usd_per_kwh


def expect(locator):
    """Playwright's retrying assertions: the page updates asynchronously after each action."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=probe.CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def server_log(tmp_path_factory):
    """Where the server of :func:`server` writes its output."""
    return tmp_path_factory.mktemp("viz") / "server.log"


@pytest.fixture(scope="session")
def server(browser, server_log):
    """The URL of the real ``pricewar viz`` on a free loopback port (stopped even when a test
    fails)."""
    log = server_log
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
    expect(slider).to_have_attribute("aria-valuenow", "0.3")
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
    assert f"cn_west {PARITY_CN_WEST:.3f}" in text and "export-control penalty 0.00" in text
    slider = page.get_by_role("slider", name=SLIDER)
    expect(slider).to_have_attribute("aria-valuenow", str(PARITY_CN_WEST))


def test_each_page_has_its_own_model(browser, server, page):
    for n in range(1, 6):
        probe.click_step(page, n)
    other = probe.open_page(browser, server)
    try:
        expect(other.get_by_text("Step: 0", exact=True)).to_be_visible()
        assert f"electricity cn_west {BASELINE_CN_WEST:.3f}" in _parameters(other)
        probe.click_step(other, 1)
        assert page.get_by_text("Step: 5", exact=True).is_visible()
        assert other.get_by_text("Step: 1", exact=True).is_visible()
    finally:
        other.close()


# ------------------------------------------------------------------------------------------------
# Reset state, downloads, time slider, comparison
# ------------------------------------------------------------------------------------------------
def _choose(page, label: str, option: str, scope: str = ".v-navigation-drawer") -> None:
    """Pick ``option`` in the select labelled ``label`` inside ``scope``."""
    field = page.locator(f"{scope} .v-select",
                         has=page.locator("label").get_by_text(label, exact=True))
    field.click()
    page.locator(".menuable__content__active").get_by_role(
        "option", name=option, exact=True).click()


def _selected(page, label: str, scope: str = ".v-navigation-drawer") -> str:
    field = page.locator(f"{scope} .v-select",
                         has=page.locator("label").get_by_text(label, exact=True))
    return field.locator(".v-select__selection").inner_text().strip()


def _expected_frame(steps: int, scenario: str = "baseline", **overrides):
    """The app's default model (with ``overrides``) stepped ``steps`` times here, outside the
    browser."""
    from pricewar.model import PriceWarModel
    from pricewar.runs.runner import model_frame
    from pricewar.viz.session import VIZ_CONSUMERS, VIZ_SEED

    model = PriceWarModel(scenario, seed=VIZ_SEED, n_consumers=VIZ_CONSUMERS, **overrides)
    for _ in range(steps):
        model.step()
    return model_frame(model)


def test_reset_runs_scenario_strategy_and_sliders_as_the_controls_show(page):
    _choose(page, "Scenario", "parity")
    _choose(page, "Producer strategy", "cost_plus")
    slider = page.get_by_role("slider", name=SLIDER)
    expect(slider).to_have_attribute("aria-valuenow", str(PARITY_CN_WEST))  # before Reset
    slider.focus()
    slider.press("End")
    expect(page.locator(".pricewar-pending")).to_be_visible()  # the controls differ from the run
    for _ in range(3):  # a second and third Reset must not drift back to the old scenario
        _reset(page)
        probe.wait_for_text(page, ".pricewar-parameters", "strategy cost_plus")
        text = _parameters(page)
        assert text.startswith("parity") and "cn_west 0.300" in text
        assert _selected(page, "Scenario") == "parity"
        assert _selected(page, "Producer strategy") == "cost_plus"
        expect(slider).to_have_attribute("aria-valuenow", "0.3")
        # the sidebar may update after the main area: wait for the notice to go
        page.locator(".pricewar-pending").wait_for(state="detached")
        probe.click_step(page, 1)


def test_seed_and_consumer_controls(page):
    seed = page.get_by_label("Seed", exact=True)
    seed.fill("7")
    seed.press("Enter")
    consumers = page.get_by_role("slider", name="Consumers")
    consumers.focus()
    consumers.press("Home")
    _reset(page)
    probe.wait_for_text(page, ".pricewar-parameters", "seed 7")
    assert "100 consumers · seed 7" in _parameters(page)
    assert "100" in page.locator(".pricewar-slider-row", has=consumers).inner_text()


def test_download_gives_the_run_so_far_as_csv_and_parquet(page, tmp_path):
    import pandas as pd

    from pricewar.runs.outputs import read_metadata, read_units

    for n in (1, 2):
        probe.click_step(page, n)
    files = {}
    for name in ("model.csv", "model.parquet", "agents.parquet"):
        with page.expect_download() as download:
            page.get_by_role("button", name=name).click()
        files[name] = tmp_path / download.value.suggested_filename
        download.value.save_as(files[name])
    assert files["model.csv"].name == "baseline-seed1-step2-model.csv"
    expected = _expected_frame(2)
    model = pd.read_parquet(files["model.parquet"])
    pd.testing.assert_frame_equal(model, expected)
    csv = pd.read_csv(files["model.csv"])
    assert list(csv["step"]) == [0, 1, 2]
    assert csv["price_avg [USD/Mtok]"].to_numpy() == pytest.approx(
        expected["price_avg"].to_numpy(), rel=1e-12)
    # a CSV has no metadata: every column but step and date names its unit, as the Parquet's
    units = read_units(files["model.parquet"])
    assert list(csv.columns) == [c if c in ("step", "date") else f"{c} [{units[c]}]"
                                 for c in expected.columns]
    meta = read_metadata(files["model.parquet"])
    assert meta["scenario"] == "baseline" and meta["seed"] == "1" and meta["steps"] == "2"
    assert read_units(files["model.parquet"])["price_avg"] == "USD/Mtok"
    agents = pd.read_parquet(files["agents.parquet"])
    assert set(agents["step"]) == {0, 1, 2} and set(agents["agent_type"]) == {"producer",
                                                                           "platform"}


def test_time_slider_shows_any_recorded_step(page):
    for n in range(1, 5):
        probe.click_step(page, n)
    network = page.locator(".pricewar-network img")
    latest_picture = network.get_attribute("src")
    probe.look_back(page, 2)
    assert "Step 2 (2024-01-15)" in page.locator(".pricewar-snapshot").inner_text()
    recorded = _expected_frame(2).iloc[2]
    assert f"average price ${recorded['price_avg']:.3g} per M tokens" in \
        page.locator(".pricewar-snapshot").inner_text()
    assert f"Lerner {recorded['lerner']:.3f}" in page.locator(".pricewar-snapshot").inner_text()
    page.wait_for_function("(old) => document.querySelector('.pricewar-network img').src != old",
                           arg=latest_picture)
    assert "step 2 of 4" in page.locator(".pricewar-time").inner_text()
    # stepping on keeps the view where it was; Latest follows the run again
    page.get_by_role("button", name="Step", exact=True).click()
    page.get_by_text("Step: 5", exact=True).wait_for()
    probe.wait_for_text(page, ".pricewar-time", "step 2 of 5")
    assert "Step 2 (2024-01-15)" in page.locator(".pricewar-snapshot").inner_text()
    page.get_by_role("button", name="Latest").click()
    probe.wait_for_text(page, ".pricewar-snapshot", "Step 5 (2024-02-05)")


def test_comparison_runs_b_alongside_with_the_same_seed(page):
    for n in (1, 2):
        probe.click_step(page, n)
    page.get_by_role("tab", name="Compare").click()
    assert _selected(page, "Scenario", ".pricewar-compare-controls") == "parity"
    page.get_by_role("button", name="Compare", exact=True).click()
    probe.wait_for_text(page, ".pricewar-compare-b", "B: parity")
    assert "500 consumers · seed 1" in page.locator(".pricewar-compare-b").inner_text()
    assert page.locator(".pricewar-compare img").count() == 1
    table = page.locator(".pricewar-compare table")
    assert "At step 2" in page.locator(".pricewar-compare").inner_text()
    a, b = _expected_frame(2).iloc[2], _expected_frame(2, "parity").iloc[2]
    row = table.locator("tr", has=page.get_by_text("price_avg", exact=True)).inner_text()
    assert f"{a['price_avg']:.4g}" in row and f"{b['price_avg']:.4g}" in row
    # B steps with A, and Reset rebuilds both
    page.get_by_role("button", name="Step", exact=True).click()
    probe.wait_for_text(page, ".pricewar-compare", "At step 3")
    _reset(page)
    probe.wait_for_text(page, ".pricewar-compare", "At step 0")
    assert "B: parity" in page.locator(".pricewar-compare-b").inner_text()


# ------------------------------------------------------------------------------------------------
# v2 policy levers and panels
# ------------------------------------------------------------------------------------------------
CARBON = "Carbon price (USD/t CO2)"


def test_policy_lever_and_chip_regime_reach_the_model_on_reset(page, tmp_path):
    import tomllib

    import pandas as pd

    from pricewar.runs.outputs import read_metadata
    from pricewar.scenario.overrides import plain

    assert "carbon price 0 USD/t" in _parameters(page)
    assert "chip regime historical" in _parameters(page)
    assert _selected(page, "Chip regime") == "historical"
    slider = page.get_by_role("slider", name=CARBON)
    slider.focus()
    slider.press("End")
    expect(slider).to_have_attribute("aria-valuenow", "500")
    expect(page.locator(".pricewar-slider-row", has=slider)).to_contain_text("500")
    _choose(page, "Chip regime", "full_ban")
    expect(page.locator(".pricewar-pending")).to_contain_text("carbon_price_usd_per_t")
    _reset(page)
    probe.wait_for_text(page, ".pricewar-parameters", "carbon price 500 USD/t")
    assert "chip regime full_ban" in _parameters(page)
    assert _selected(page, "Chip regime") == "full_ban"
    expect(slider).to_have_attribute("aria-valuenow", "500")
    page.locator(".pricewar-pending").wait_for(state="detached")
    probe.click_step(page, 1)
    # the model that ran: its resolved scenario and its reporters
    with page.expect_download() as download:
        page.get_by_role("button", name="model.parquet").click()
    path = tmp_path / "model.parquet"
    download.value.save_as(path)
    policy = tomllib.loads(read_metadata(path)["scenario_toml"])["policy"]
    assert policy["carbon_price_usd_per_t"]["source"] == "override carbon_price_usd_per_t=500.0"
    assert plain(policy["carbon_price_usd_per_t"]) == 500.0
    assert plain(policy["chip_regime"]) == "full_ban"
    expected = _expected_frame(1, carbon_price_usd_per_t=500.0, chip_regime="full_ban")
    pd.testing.assert_frame_equal(pd.read_parquet(path), expected)
    assert not expected.equals(_expected_frame(1))  # the levers change the run


def test_open_closed_and_tier_panels_render_and_follow_step(page):
    open_closed = page.locator(".pricewar-open-closed img")
    tier = page.locator(".pricewar-tier img")
    expect(open_closed).to_be_visible()
    expect(tier).to_be_visible()
    before = (open_closed.get_attribute("src"), tier.get_attribute("src"))
    probe.click_step(page, 1)  # raises unless every figure, these two included, is redrawn
    assert open_closed.get_attribute("src") != before[0]
    assert tier.get_attribute("src") != before[1]
    shown = _selected(page, "Capability tier", ".pricewar-tier")
    other = "gpt4_mmlu" if shown != "gpt4_mmlu" else "gpt35_mmlu"
    picture = tier.get_attribute("src")
    _choose(page, "Capability tier", other, ".pricewar-tier")
    page.wait_for_function("(old) => document.querySelector('.pricewar-tier img').src != old",
                           arg=picture)
    assert _selected(page, "Capability tier", ".pricewar-tier") == other
    probe.click_step(page, 2)  # the chosen tier stays through a Step
    assert _selected(page, "Capability tier", ".pricewar-tier") == other


# ------------------------------------------------------------------------------------------------
# issue 27: what a user reads and how the page behaves
# ------------------------------------------------------------------------------------------------
#: for every slider: the bottom of its label's text (all lines) and the top of its thumb (px)
SLIDER_GEOMETRY_JS = """() => [...document.querySelectorAll('.pricewar-slider')].map(s => {
  const label = s.querySelector('.v-label');
  const range = document.createRange();
  range.selectNodeContents(label);
  const lines = [...range.getClientRects()];
  return {label: label.textContent, lines: lines.length,
          text_bottom: Math.max(...lines.map(r => r.bottom)),
          thumb_top: s.querySelector('.v-slider__thumb').getBoundingClientRect().top};
})"""


def test_slider_labels_stay_clear_of_their_track(page):
    sliders = page.evaluate(SLIDER_GEOMETRY_JS)
    assert any(s["lines"] > 1 for s in sliders)  # the sidebar wraps the long policy labels
    struck = [s["label"] for s in sliders if s["text_bottom"] > s["thumb_top"]]
    assert not struck, f"labels overlapping their slider: {struck}"


#: click Play; ``delay`` ms after the page shows step n, click Pause and resolve with the counter
#: then. The server renders a step before the browser shows it, so a short delay falls into
#: the play loop's wait between steps (PLAY_INTERVAL_MS), where Mesa's loop stepped once more
PAUSE_AFTER_JS = """async ([n, delay]) => {
  // the Play/Pause button follows Reset (its label changes)
  const buttons = [...document.querySelectorAll('button')];
  const playPause = buttons[buttons.findIndex(b => b.textContent.trim() === 'Reset') + 1];
  const counter = () => [...document.querySelectorAll('span')].map(s => s.textContent)
    .find(t => /^Step: [0-9]+$/.test(t));
  return await new Promise((resolve, reject) => {
    const observer = new MutationObserver(() => {
      if (counter() !== 'Step: ' + n) return;
      observer.disconnect();
      setTimeout(() => { const shown = counter(); playPause.click(); resolve(shown); }, delay);
    });
    observer.observe(document.body, {subtree: true, childList: true, characterData: true});
    setTimeout(() => { observer.disconnect(); reject(new Error('never showed step ' + n)); },
               30000);
    playPause.click();
  });
}"""


def _steps_shown(page) -> int:
    text = page.locator(".v-navigation-drawer").get_by_text("Step: ", exact=False).inner_text()
    return int(text.removeprefix("Step: "))


def test_pause_stops_before_the_next_step(browser, server):
    """Mesa's ModelController stepped once more when Pause came during its wait between steps:
    once the button is back to Play (the server has handled Pause), the counter must not move.
    A step already running at the click may finish first, one at most."""
    from pricewar.viz.app import PLAY_INTERVAL_MS

    seen = {}  # Pause's delay after step 2 showed (ms) -> steps at the click, at Play, 2.5 s on
    for delay_ms in (0, 50, 100, 150, 200):
        assert delay_ms < PLAY_INTERVAL_MS
        page = probe.open_page(browser, server)
        try:
            shown = int(page.evaluate(PAUSE_AFTER_JS, [2, delay_ms]).removeprefix("Step: "))
            page.get_by_role("button", name="Play", exact=True).wait_for(timeout=10_000)
            acknowledged = _steps_shown(page)
            # several play intervals and steps: Mesa's extra step came one interval after Pause
            page.wait_for_timeout(2500)
            seen[delay_ms] = (shown, acknowledged, _steps_shown(page))
        finally:
            page.close()
    moved = {delay: steps for delay, steps in seen.items()
             if steps[2] != steps[1] or steps[1] - steps[0] > 1}
    assert not moved, f"steps after Pause (delay ms: at click, at Play, later): {moved}"


DEMAND = "Demand growth (per step)"


def test_demand_growth_slider_drags_to_values_the_run_shows(page):
    slider = page.get_by_role("slider", name=DEMAND)
    thumb = page.locator(".pricewar-slider-row", has=slider).locator(".v-slider__thumb")
    box = thumb.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    dragged = []
    for offset_px in range(7, 71, 7):
        page.mouse.move(x + offset_px, y)
        dragged.append(float(slider.get_attribute("aria-valuenow")))
    page.mouse.up()
    assert len(set(dragged)) > 5  # the slider follows the mouse
    # on the 1e-4 grid: what the value after the slider and the parameters line show
    assert all(value == round(value, 4) for value in dragged), dragged
    value = float(slider.get_attribute("aria-valuenow"))
    assert value > 0.0134
    expect(page.locator(".pricewar-slider-row", has=slider)).to_contain_text(f"{value:.4f}")
    _reset(page)
    probe.wait_for_text(page, ".pricewar-parameters", f"demand growth {value:.4f}/step")


def test_comparison_loads_nothing_from_a_cdn(browser, server, server_log):
    """solara's Markdown fetched KaTeX, Mermaid and RequireJS from a CDN: 404s from the offline
    server (logged as "Could not load URL") and an error in the page."""
    logged_before = server_log.read_text()
    page = browser.new_page(viewport=probe.VIEWPORT)
    problems = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda message: message.type == "error"
            and problems.append(f"console: {message.text}"))
    page.on("response", lambda response: response.status >= 400
            and problems.append(f"{response.status} {response.url}"))
    page.on("requestfailed", lambda request: problems.append(f"failed {request.url}"))
    try:
        page.goto(server)
        page.get_by_text("Step: 0", exact=True).wait_for()
        probe.click_step(page, 1)
        probe.open_comparison(page)
        page.locator(".pricewar-compare table").wait_for()
        page.wait_for_timeout(2000)  # time for any late asset request
    finally:
        page.close()
    logged = server_log.read_text()[len(logged_before):]
    assert not problems, problems
    assert "Could not load URL" not in logged and "127.0.0.1:9/" not in logged, logged[-2000:]
