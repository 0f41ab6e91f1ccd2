"""Test support shipped with the package: a plain-Python reference market and random markets.

:mod:`~pricewar.testing.reference` re-implements the kernel's market with one object per consumer
and producer (for property tests: kernel == reference); :mod:`~pricewar.testing.random_markets`
draws reproducible random route markets for tests and benchmarks.
"""
