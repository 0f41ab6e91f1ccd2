"""The run layer: one run loop and its self-describing outputs, shared by the CLI, the experiments,
sweeps, calibration and the app.

Modules: :mod:`~pricewar.runs.runner` (run a model, write its Parquet files),
:mod:`~pricewar.runs.outputs` (Parquet metadata and the data dictionary),
:mod:`~pricewar.runs.harness` (points x seeds, aggregation, output files),
:mod:`~pricewar.runs.comparison` (two setups side by side) and its command
:mod:`~pricewar.runs.compare_cli` (``pricewar compare``), and :mod:`~pricewar.runs.ema` (the EMA
Workbench adapter).
"""
