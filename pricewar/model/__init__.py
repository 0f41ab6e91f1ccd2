"""The Mesa model of the token price war: agents, the model class and its reporters.

Modules: :mod:`~pricewar.model.agents` (the three agent types, views into the model's arrays),
:mod:`~pricewar.model.price_war_model` (:class:`PriceWarModel`) and :mod:`~pricewar.model.metrics`
(model and agent reporters).
"""

from pricewar.model.price_war_model import PriceWarModel

__all__ = ["PriceWarModel"]
