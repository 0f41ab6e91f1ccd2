"""Drive a served ``pricewar viz`` from outside: start/stop the command, time a page in a browser.

Shared by tests/test_viz_browser.py and experiments/bench_viz.py. Functions take Playwright
``Browser``/``Page`` objects; this module imports neither Playwright nor solara.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pricewar.units import MS_PER_S
from pricewar.viz.server import HOST, wait_until_serving

#: Debian's chromium under Playwright (``playwright install`` is not available offline)
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--no-first-run", "--disable-background-networking"]
VIEWPORT = {"width": 1600, "height": 1300}

#: click Step inside the page (no Playwright actionability waits) and resolve with the
#: milliseconds until the counter reads "Step: n" and every figure's image has been replaced.
#: The figures are the images of solara's main area (``.solara-content-main``; this Vuetify has
#: no ``.v-main``); a page without any is an error, not a vacuous pass.
STEP_JS = """async (n) => {
  const images = () => [...document.querySelectorAll('.solara-content-main img')];
  const before = images().map(img => img.src);
  if (before.length === 0) throw new Error('no figures on the page');
  const button = [...document.querySelectorAll('button')]
    .find(b => b.textContent.trim() === 'Step');
  const done = () => [...document.querySelectorAll('span')]
      .some(s => s.textContent === 'Step: ' + n)
    && images().length === before.length
    && images().every((img, i) => img.src !== before[i]);
  const start = performance.now();
  return await new Promise((resolve, reject) => {
    const observer = new MutationObserver(() => {
      if (done()) { observer.disconnect(); resolve(performance.now() - start); }
    });
    observer.observe(document.body, {subtree: true, childList: true, characterData: true,
                                     attributes: true, attributeFilter: ['src']});
    setTimeout(() => { observer.disconnect(); reject(new Error('no render of step ' + n)); },
               15000);
    button.click();
  });
}"""


def free_port() -> int:
    """A port on the loopback interface that is free now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def start_viz(port: int, log: Path, scenario: str = "baseline") -> subprocess.Popen:
    """Run ``pricewar viz`` in its own process group (so :func:`stop_viz` stops its solara
    child too), output to ``log``."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pricewar.cli", "viz", "--port", str(port),
             "--scenario", scenario],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop_viz(process: subprocess.Popen, timeout_s: float = 15.0) -> None:
    """Stop the process group of :func:`start_viz` (SIGTERM, then SIGKILL)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout_s)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def open_page(browser, url: str, timeout_s: float = 30.0):
    """A new page at ``url``, returned once the model is shown and Step can be clicked."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    page.get_by_text("Step: 0", exact=True).wait_for(timeout=timeout_s * MS_PER_S)
    page.get_by_role("button", name="Step", exact=True).wait_for()
    return page


def time_startup(process: subprocess.Popen, url: str, browser, started: float) -> float:
    """Seconds from ``started`` (perf_counter at launch) until a page at ``url`` is interactive."""
    wait_until_serving(url, timeout_s=60, process=process)
    open_page(browser, url).close()
    return time.perf_counter() - started


def click_step(page, n: int) -> float:
    """Click Step; seconds until the counter and every figure show step ``n``."""
    return page.evaluate(STEP_JS, n) / MS_PER_S


def wait_for_text(page, selector: str, text: str, timeout_s: float = 30.0) -> None:
    """Wait until the first element matching ``selector`` contains ``text``."""
    page.wait_for_function("([s, t]) => document.querySelector(s)?.textContent.includes(t)",
                           arg=[selector, text], timeout=timeout_s * MS_PER_S)


def look_back(page, step: int) -> None:
    """Move the time slider to ``step`` (from step 0, one arrow key per step), waiting for the
    page to show each step: the slider shows the server's value, so a key pressed before the
    server answered the previous one would be undone."""
    slider = page.get_by_role("slider", name="Look back: step")
    slider.focus()
    slider.press("Home")
    wait_for_text(page, ".pricewar-snapshot", "Step 0 (")
    for shown in range(1, step + 1):
        slider.press("ArrowRight")
        wait_for_text(page, ".pricewar-snapshot", f"Step {shown} (")


def open_comparison(page) -> None:
    """Open the Compare tab and run B as chosen there (by default: the other shipped scenario);
    returns once B's line and figure are shown."""
    page.get_by_role("tab", name="Compare").click()
    page.get_by_role("button", name="Compare", exact=True).click()
    wait_for_text(page, ".pricewar-compare-b", "B: ")
    page.locator(".pricewar-compare img").wait_for()
