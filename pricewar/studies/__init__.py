"""Studies built on the model: the experiments library, the runner, plot style, Calvano et al.

Modules: :mod:`~pricewar.studies.runner` (one run loop shared by the CLI, experiments and sweeps),
:mod:`~pricewar.studies.harness` (points x seeds, aggregation, output files),
:mod:`~pricewar.studies.costs`, :mod:`~pricewar.studies.price_war` and
:mod:`~pricewar.studies.geography` (the experiments), :mod:`~pricewar.studies.catalogue` (their
registry), :mod:`~pricewar.studies.plots` (figure style), :mod:`~pricewar.studies.regenerate`
(``pricewar figures``) and :mod:`~pricewar.studies.calvano` (the Calvano et al. 2020 reproduction).
"""
