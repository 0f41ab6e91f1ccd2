"""The pictures of the browser app in figures/ (``make screenshots``; tests never write them).

Starts the real ``pricewar viz`` on a free loopback port, drives headless Chromium (Debian's,
through Playwright) and saves, after ``--steps`` steps of the baseline:

- ``viz.png``: the Market tab (controls, network, unit costs, time series);
- ``viz_lookback.png``: the same page with the time slider moved back to step ``--look-back``;
- ``viz_compare.png``: the Compare tab, baseline (A) against parity (B) with the same seed.

The server is stopped on exit, also on errors.

    python experiments/app_screenshots.py [--steps 12] [--look-back 4] [--out figures]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from pricewar.viz import probe

#: pixels the page needs to show every element without scrolling
FULL_HEIGHT_JS = """() => Math.ceil(Math.max(...[...document.querySelectorAll('*')]
  .map(e => e.getBoundingClientRect().top + window.scrollY + e.scrollHeight)))"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="steps before the pictures")
    parser.add_argument("--look-back", type=int, default=4, help="step shown by viz_lookback")
    parser.add_argument("--out", type=Path, default=Path("figures"), help="output folder")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        parser.error("chromium is not installed (make chromium)")
    args.out.mkdir(parents=True, exist_ok=True)
    log = Path(tempfile.mkdtemp(prefix="app_screenshots_")) / "server.log"
    port = probe.free_port()
    url = f"http://127.0.0.1:{port}/"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=probe.CHROMIUM_ARGS)
        process = probe.start_viz(port, log)
        try:
            probe.time_startup(process, url, browser, time.perf_counter())
            page = probe.open_page(browser, url)
            for n in range(1, args.steps + 1):
                probe.click_step(page, n)
            shots = {"viz.png": None, "viz_lookback.png": lambda: probe.look_back(
                page, args.look_back), "viz_compare.png": lambda: probe.open_comparison(page)}
            for name, prepare in shots.items():
                if prepare is not None:
                    prepare()
                page.wait_for_timeout(500)  # let the last images paint
                # the whole page (its content scrolls inside solara's layout, so full_page does
                # not reach it): a viewport-high picture cut the lower panels mid-label
                height_px = page.evaluate(FULL_HEIGHT_JS)
                page.set_viewport_size({**probe.VIEWPORT, "height": height_px})
                page.wait_for_timeout(500)
                page.screenshot(path=args.out / name)
                page.set_viewport_size(probe.VIEWPORT)
                print(f"wrote {args.out / name}")
        except Exception:
            print(log.read_text()[-3000:])
            raise
        finally:
            probe.stop_viz(process)
            browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
