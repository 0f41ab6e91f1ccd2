"""Studies built on the model: the experiments behind ``experiments/*.py`` and Calvano et al.

Modules: :mod:`~pricewar.studies.costs`, :mod:`~pricewar.studies.price_war` and
:mod:`~pricewar.studies.geography` (the experiments), :mod:`~pricewar.studies.experiments` (their
registry), :mod:`~pricewar.studies.regenerate`
(``pricewar figures``) and :mod:`~pricewar.studies.calvano` (the Calvano et al. 2020 reproduction).
"""
