"""The three agent types (docs/ODD.md §2).

Numeric state lives in the model's producer, platform and consumer arrays
(:mod:`pricewar.model.population`); an agent's attributes are views into them (``agent.price``
reads ``model.producer_price[agent.index]``), so the model steps all agents of a type at once and
an agent object never goes stale."""

from __future__ import annotations

import itertools
import weakref

import mesa


class ArrayField:
    """Descriptor exposing element ``agent.index`` of the model array ``model.<array>``."""

    def __init__(self, array: str, doc: str = ""):
        self.array = array
        self.__doc__ = doc

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, agent, owner=None):
        if agent is None:
            return self
        return getattr(agent.model, self.array)[agent.index].item()

    def __set__(self, agent, value):
        getattr(agent.model, self.array)[agent.index] = value


class _IdsPerModel(weakref.WeakKeyDictionary):
    """Each model's ``unique_id`` counter, held without keeping the model alive.

    Mesa 3.3's ``Agent._ids`` is a class-level ``defaultdict`` keyed by the model: every model
    that ever created an agent stays in memory for the life of the process (mesa/mesa#3179,
    fixed upstream by #3180 after 3.3.1). A sweep worker running a thousand models grew by
    ~7 MB a run at 300 consumers. Same numbering as Mesa's: one counter per model from 1.
    """

    def __getitem__(self, model):
        try:
            return super().__getitem__(model)
        except KeyError:
            counter = itertools.count(1)
            self[model] = counter
            return counter


class PriceWarAgent(mesa.Agent):
    """Base of the model's agent types: Mesa's agent with per-model ids that let a finished
    model be garbage-collected (:class:`_IdsPerModel`). Agent types added to the model should
    derive from it, so that ids stay unique within a model."""

    _ids = _IdsPerModel()


class TokenProducer(PriceWarAgent):
    """A host: a firm in one region with a GPU fleet serving model families, one product each
    (prices in USD/Mtok, volumes Mtok/step; prices and costs are served-weighted over its
    products, see ``model.product_arrays``)."""

    price = ArrayField("producer_price", "posted price, served-weighted over products (USD/Mtok)")
    marginal_cost = ArrayField("producer_marginal_cost",
                               "energy + GPU-time opportunity cost of one more Mtok (USD/Mtok)")
    full_unit_cost = ArrayField("producer_full_cost",
                                "full cost of new capacity at planned utilisation (USD/Mtok)")
    quantity = ArrayField("producer_served", "tokens served this step (Mtok)")
    capacity = ArrayField("producer_capacity", "serving capacity at its product mix (Mtok/step)")
    utilisation = ArrayField("producer_utilisation", "load / capacity (0-1)")
    profit = ArrayField("producer_profit", "profit this step (USD)")
    cash = ArrayField("producer_cash", "cash (USD)")
    gpus = ArrayField("producer_gpus", "fleet size (GPUs)")
    quality = ArrayField("producer_quality", "host quality: speed, reliability (utils)")

    def __init__(self, model, index: int, region: str, group: str, chip: str, strategy: str):
        super().__init__(model)
        self.index = index
        self.region = region
        self.group = group
        self.chip = chip
        self.strategy = strategy

    def __repr__(self) -> str:
        return f"TokenProducer({self.unique_id}, {self.region}, price={self.price:.4g})"


class PlatformOperator(PriceWarAgent):
    """A cloud platform or router listing producers and adding a markup."""

    markup = ArrayField("platform_markup", "markup added to listed prices (USD/Mtok)")
    markup_rate = ArrayField("platform_markup_rate", "markup as a share of mean listed price")
    quantity = ArrayField("platform_served", "tokens routed this step (Mtok)")
    revenue = ArrayField("platform_revenue", "markup revenue this step (USD)")

    def __init__(self, model, index: int, region: str, group: str):
        super().__init__(model)
        self.index = index
        self.region = region
        self.group = group


class IndustrialConsumer(PriceWarAgent):
    """A demand segment (region x sector): volume isoelastic in its price index, choosing
    families and hosts by nested logit."""

    demand = ArrayField("consumer_demand", "task volume D_j(t) (Mtok/step)")
    volume = ArrayField("consumer_volume", "volume at posted prices X_j (Mtok/step)")
    served = ArrayField("consumer_served", "tokens served (Mtok/step)")
    unserved = ArrayField("consumer_unserved", "rationed demand (Mtok/step)")
    not_bought = ArrayField("consumer_not_bought", "refused and not bought again (Mtok/step)")
    surplus = ArrayField("consumer_surplus", "surplus gained since the initial prices (USD/step)")

    def __init__(self, model, index: int, region: str, sector: str):
        super().__init__(model)
        self.index = index
        self.region = region
        self.sector = sector
