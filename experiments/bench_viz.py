"""Benchmark: ``pricewar viz`` from launch to an interactive page, and one Step to rendered figures.

Starts the real command on a free loopback port, opens headless Chromium (Debian's, through
Playwright) and prints one JSON object with keys ``startup_s`` (launch until the page shows
"Step: 0" and a clickable Step button; target <= 8 s on an idle 2-core machine), ``step_s``
(every Step click, until the counter and all eight figures show the new step; target <= 1 s),
``step_median_s``, ``step_max_s``,
``reset_s`` (Reset until "Step: 0"), and ``load_average_start`` and ``load_average`` (1, 5 and
15 minutes, before the launch and at the end: machines are noisy). The server is
stopped on exit, also on errors. ``--screenshot PATH`` also saves the whole page after the last
Step (the README's pictures are made by experiments/app_screenshots.py: ``make screenshots``).

    python experiments/bench_viz.py [--steps 10] [--scenario baseline] [--screenshot PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from pricewar.viz import probe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--scenario", default="baseline")
    parser.add_argument("--screenshot", type=Path, default=None, metavar="PATH",
                        help="save a PNG of the page after the last step")
    args = parser.parse_args()
    chromium = shutil.which("chromium")
    if chromium is None:
        parser.error("chromium is not installed (make chromium)")

    load_start = os.getloadavg()
    log = Path(tempfile.mkdtemp(prefix="bench_viz_")) / "server.log"
    port = probe.free_port()
    url = f"http://127.0.0.1:{port}/"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=probe.CHROMIUM_ARGS)
        started = time.perf_counter()
        process = probe.start_viz(port, log, args.scenario)
        try:
            startup_s = probe.time_startup(process, url, browser, started)
            page = probe.open_page(browser, url)
            steps = [probe.click_step(page, n) for n in range(1, args.steps + 1)]
            if args.screenshot is not None:
                page.wait_for_timeout(300)  # let the last images paint
                args.screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=args.screenshot)
            start = time.perf_counter()
            page.get_by_role("button", name="Reset", exact=True).click()
            page.get_by_text("Step: 0", exact=True).wait_for()
            reset_s = time.perf_counter() - start
        finally:
            probe.stop_viz(process)
            browser.close()
    print(json.dumps({
        "startup_s": round(startup_s, 2),
        "step_s": [round(s, 3) for s in steps],
        "step_median_s": round(statistics.median(steps), 3),
        "step_max_s": round(max(steps), 3),
        "reset_s": round(reset_s, 2),
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
