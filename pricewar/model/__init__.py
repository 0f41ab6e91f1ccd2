"""The Mesa model of the token price war: agents, their state, the step phases and the reporters.

Modules, in the order a step uses them: :mod:`~pricewar.model.price_war_model`
(:class:`PriceWarModel`: construction and the story of a step), :mod:`~pricewar.model.agents`
(the three agent types, views into the arrays), :mod:`~pricewar.model.population` (the host,
product, platform and consumer arrays, one schema each), :mod:`~pricewar.model.regions` (region
attributes as arrays), :mod:`~pricewar.model.products` (model families as arrays and which host
offers which family), :mod:`~pricewar.model.initialise` (state from the scenario),
:mod:`~pricewar.model.network` (market graph -> route arrays over products),
:mod:`~pricewar.model.phases` (exogenous update, costs, prices, clearing),
:mod:`~pricewar.model.settlement`, :mod:`~pricewar.model.investment`,
:mod:`~pricewar.model.entry_exit`, and :mod:`~pricewar.model.metrics` with
:mod:`~pricewar.model.market_metrics` (model and agent reporters).
"""

from pricewar.model.price_war_model import PriceWarModel

__all__ = ["PriceWarModel"]
