"""Who follows a 97% price cut by the largest eastern Chinese producer (May 2024), when, and
who exits?

An event study: at step 20 (2024-05-20) the largest CN-East producer cuts its list price by 97%
and holds it. For each pricing strategy (undercut, best_response, cost_plus, nash) the run is
compared with the no-cut counterfactual of the same seed: rivals' posted prices relative to the
counterfactual over event time, the share following within four weeks, and extra exits.

Thin wrapper around :func:`pricewar.experiments.price_cut_cascade`: writes
figures/price_cut_cascade.png, .svg and .csv (``--out DIR`` elsewhere) and prints the headline
numbers as JSON on the last line.

    python experiments/price_cut_cascade.py --quick   # seconds (tests)
    python experiments/price_cut_cascade.py           # full mode (the committed figure)
"""

from __future__ import annotations

import sys

from pricewar.studies.regenerate import script_main

NAME = "price_cut_cascade"


def main(argv: list[str] | None = None) -> int:
    return script_main(NAME, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
