"""The kernel's market written the way a Mesa modeller would write it without a kernel.

Consumer objects loop over their offers in plain Python (``math``, no numpy in the loops), producer
and host objects sum the orders they receive. Semantics are exactly those of
:mod:`pricewar.kernel`: nested-logit shares with an optional outside option (plain logit without
nests), an isoelastic upper level for the consumer's volume, capacity clearing by host with
spill-over or re-choice, and the first-order-condition best response of single- and multi-product
firms. It is the oracle of the property tests and the peer of ``experiments/bench_kernel.py``; it
is deliberately slow and simple: the re-choice among a restricted set is recomputed from the
utilities, not from the posted-price shares as the kernel does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(eq=False)
class Offer:
    """One route as the consumer sees it: a producer reached through some platform."""

    producer: ReferenceProducer = field(repr=False)
    consumer: ReferenceConsumer = field(repr=False)
    utility: float  # non-price utility, utils
    price_extra: float  # USD/Mtok added along the route
    nest: int = 0
    sigma: float = 0.0
    value: float = 0.0  # v_r at the current prices
    share: float = 0.0
    nest_share: float = 0.0  # within-nest share s_{r|g}
    demand: float = 0.0
    served: float = 0.0
    offered: float = 0.0


@dataclass(eq=False)
class ReferenceHost:
    """Capacity shared by the producers it hosts (load units per step)."""

    capacity: float
    load: float = 0.0
    is_open: bool = True
    producers: list[ReferenceProducer] = field(default_factory=list, repr=False)


@dataclass(eq=False)
class ReferenceProducer:
    """A token producer (a product): price, cost, its host and firm; sums its orders."""

    index: int
    capacity: float
    price: float = 1.0
    cost: float = 0.0
    load_per_mtok: float = 1.0
    firm: int = 0
    host: ReferenceHost | None = field(default=None, repr=False)
    orders: list[Offer] = field(default_factory=list, repr=False)

    def demand(self) -> float:
        return sum(offer.demand for offer in self.orders)


def _nested_logit(offers: list[Offer], outside_utility: float):
    """Nested-logit probabilities of ``offers`` and the outside option, and the inclusive value.

    Returns ``(route probabilities, within-nest probabilities, outside probability, IV)``.
    """
    nests: dict[int, list[int]] = {}
    for k, offer in enumerate(offers):
        nests.setdefault(offer.nest, []).append(k)
    inclusive = {}
    within = [0.0] * len(offers)
    for label, members in nests.items():
        lam = 1.0 - offers[members[0]].sigma
        scaled = [offers[k].value / lam for k in members]
        top = max(scaled)
        weights = [math.exp(v - top) for v in scaled]
        total = sum(weights)
        for k, weight in zip(members, weights, strict=True):
            within[k] = weight / total
        inclusive[label] = lam * (top + math.log(total))
    top = max([outside_utility, *inclusive.values()])
    if top == -math.inf:  # nothing to choose from
        return [0.0] * len(offers), within, 1.0, -math.inf
    nest_weight = {label: math.exp(v - top) for label, v in inclusive.items()}
    outside_weight = math.exp(outside_utility - top)
    total = outside_weight + sum(nest_weight.values())
    shares = [within[k] * (nest_weight[offer.nest] / total) for k, offer in enumerate(offers)]
    return shares, within, outside_weight / total, top + math.log(total)


@dataclass(eq=False)
class ReferenceConsumer:
    """A demand segment choosing among its offers by nested logit with an outside option."""

    alpha: float
    demand: float
    outside_utility: float
    eta: float = 0.0
    logsum_ref: float = 0.0
    offers: list[Offer] = field(default_factory=list, repr=False)
    volume: float = 0.0
    outside_share: float = 0.0
    logsum: float = 0.0
    unserved: float = 0.0
    not_bought: float = 0.0

    def phi(self, price: float, log_form: bool) -> float:
        return math.log(price) if log_form else price

    def choose(self, log_form: bool) -> None:
        for o in self.offers:
            o.value = o.utility - self.alpha * self.phi(o.producer.price + o.price_extra, log_form)
        shares, within, self.outside_share, self.logsum = _nested_logit(self.offers,
                                                                       self.outside_utility)
        self.volume = self.demand
        exponent = self.eta / self.alpha
        if exponent > 0:  # (-inf: nothing to buy, no volume)
            self.volume = self.demand * math.exp(exponent * (self.logsum - self.logsum_ref))
        for offer, share, nest_share in zip(self.offers, shares, within, strict=True):
            offer.share = share
            offer.nest_share = nest_share
            offer.demand = self.volume * share


class ReferenceMarket:
    """Plain-Python market with the kernel's semantics, built from the kernel's route arrays."""

    def __init__(self, consumer_ptr, route_producer, route_utility, route_price_extra,
                 consumer_alpha, consumer_demand, consumer_outside_utility, producer_capacity,
                 price_form: str = "log", *, route_nest=None, nest_sigma=None, consumer_eta=None,
                 consumer_logsum_ref=None, producer_host=None, host_capacity=None,
                 producer_load=None, producer_firm=None, rationing: str = "spill"):
        self.log_form = price_form == "log"
        self.rationing = rationing
        n_producers = len(producer_capacity)
        self.producers = [ReferenceProducer(i, float(k)) for i, k in enumerate(producer_capacity)]
        if producer_host is None:
            self.hosts = [ReferenceHost(p.capacity) for p in self.producers]
            producer_host = range(n_producers)
        else:
            self.hosts = [ReferenceHost(float(k)) for k in host_capacity]
        for producer, h in zip(self.producers, producer_host, strict=True):
            producer.host = self.hosts[int(h)]
            producer.host.producers.append(producer)
            producer.firm = int(producer_firm[producer.index]) if producer_firm is not None else (
                -1 - producer.index)
            if producer_load is not None:
                producer.load_per_mtok = float(producer_load[producer.index])
        self.consumers = []
        self.routes: list[Offer] = []
        for j in range(len(consumer_ptr) - 1):
            consumer = ReferenceConsumer(
                float(consumer_alpha[j]), float(consumer_demand[j]),
                float(consumer_outside_utility[j]),
                eta=0.0 if consumer_eta is None else float(consumer_eta[j]),
                logsum_ref=0.0 if consumer_logsum_ref is None else float(consumer_logsum_ref[j]))
            for r in range(int(consumer_ptr[j]), int(consumer_ptr[j + 1])):
                nest = -1 - r if route_nest is None else int(route_nest[r])  # no nests: own nest
                sigma = 0.0 if route_nest is None or nest_sigma is None else float(
                    nest_sigma[nest])
                offer = Offer(self.producers[int(route_producer[r])], consumer,
                              float(route_utility[r]), float(route_price_extra[r]), nest, sigma)
                consumer.offers.append(offer)
                offer.producer.orders.append(offer)
                self.routes.append(offer)
            self.consumers.append(consumer)

    def set_prices(self, prices, costs=None) -> None:
        for i, producer in enumerate(self.producers):
            producer.price = float(prices[i])
            if costs is not None:
                producer.cost = float(costs[i])

    def demand(self, prices) -> list[float]:
        """Unconstrained demand per producer (Mtok/step) at these prices."""
        self.set_prices(prices)
        for consumer in self.consumers:
            consumer.choose(self.log_form)
        return [producer.demand() for producer in self.producers]

    def clear(self, prices, max_rounds: int = 100, rel_tol: float = 1e-12) -> dict:
        """Capacity clearing by host; served per route, unserved and not bought per consumer."""
        self.demand(prices)
        for host in self.hosts:
            host.load = 0.0
            host.is_open = host.capacity > 0
        for consumer in self.consumers:
            consumer.unserved = 0.0
            consumer.not_bought = 0.0
            consumer.previous_logsum = consumer.logsum
            for offer in consumer.offers:
                offer.served = 0.0
                offer.offered = offer.demand
        stop_below = rel_tol * max(sum(c.volume for c in self.consumers), 1e-300)
        rounds = 0
        for rounds in range(1, max_rounds + 1):  # noqa: B007
            accept = {}
            for host in self.hosts:
                offered = sum(o.offered * p.load_per_mtok for p in host.producers
                              for o in p.orders)
                spare = host.capacity - host.load
                if offered > spare:
                    accept[id(host)] = spare / offered
                    host.load = host.capacity
                    host.is_open = False
                else:
                    accept[id(host)] = 1.0
                    host.load += offered
            if all(a == 1.0 for a in accept.values()):
                for offer in self.routes:
                    offer.served += offer.offered
                break
            pending_total = 0.0
            pending = []
            for consumer in self.consumers:
                rejected = 0.0
                for offer in consumer.offers:
                    accepted = offer.offered * accept[id(offer.producer.host)]
                    offer.served += accepted
                    rejected += offer.offered - accepted
                pending.append(rejected)
                pending_total += rejected
            if pending_total <= stop_below or rounds == max_rounds:
                for consumer, rejected in zip(self.consumers, pending, strict=True):
                    consumer.unserved += rejected
                break
            for consumer, rejected in zip(self.consumers, pending, strict=True):
                self._reoffer(consumer, rejected)
        return {
            "route_served": [o.served for o in self.routes],
            "producer_served": [sum(o.served for o in p.orders) for p in self.producers],
            "consumer_served": [sum(o.served for o in c.offers) for c in self.consumers],
            "consumer_unserved": [c.unserved for c in self.consumers],
            "consumer_not_bought": [c.not_bought for c in self.consumers],
            "consumer_outside": [c.volume * c.outside_share for c in self.consumers],
            "host_load": [h.load for h in self.hosts],
            "rounds": rounds,
        }

    def _reoffer(self, consumer: ReferenceConsumer, rejected: float) -> None:
        """Demand refused by full hosts chooses again among the consumer's open offers."""
        open_offers = [o for o in consumer.offers if o.producer.host.is_open]
        for offer in consumer.offers:
            offer.offered = 0.0
        if self.rationing == "spill":
            open_weight = sum(o.share for o in open_offers)
            if open_weight <= 0:  # no open offer with a positive share: unserved
                consumer.unserved += rejected
                return
            for offer in open_offers:
                offer.offered = rejected * offer.share / open_weight
            return
        if not open_offers:  # nothing left to choose from but not buying: unserved
            consumer.unserved += rejected
            return
        # re-choice: the nested logit of the restricted set (open offers and the outside option)
        shares, _, outside_share, logsum = _nested_logit(open_offers, consumer.outside_utility)
        rechosen = rejected
        if consumer.eta > 0:
            rechosen = rejected * math.exp(consumer.eta / consumer.alpha
                                           * (logsum - consumer.previous_logsum))
        consumer.previous_logsum = logsum
        consumer.not_bought += rejected - rechosen + rechosen * outside_share
        for offer, share in zip(open_offers, shares, strict=True):
            offer.offered = rechosen * share

    def best_response(self, prices, costs) -> list[float]:
        """``p_a = c_a + (Q_a + sum_{b != a in firm} m_b dQ_b/dp_a) / |dQ_a/dp_a|``, per product."""
        self.demand(prices)
        self.set_prices(prices, costs)
        # A_aj, S_aj, S_{a|g,j} and Q_aj per (producer, consumer) pair
        pairs: dict[tuple[int, int], dict] = {}
        for producer in self.producers:
            for offer in producer.orders:
                consumer = offer.consumer
                pair = pairs.setdefault((producer.index, id(consumer)), dict(
                    consumer=consumer, offers=[], slope_weight=0.0, share=0.0, nest_share=0.0,
                    quantity=0.0, nest=offer.nest, sigma=offer.sigma))
                route_price = producer.price + offer.price_extra
                phi_prime = 1.0 / route_price if self.log_form else 1.0
                pair["offers"].append((offer, phi_prime))
                pair["slope_weight"] += offer.share * phi_prime
                pair["share"] += offer.share
                pair["nest_share"] += offer.nest_share
                pair["quantity"] += offer.demand
        producer_pairs: dict[int, list] = {}
        for (index, key), pair in pairs.items():
            producer_pairs.setdefault(index, []).append((key, pair))
        by_firm: dict[int, list[ReferenceProducer]] = {}
        for producer in self.producers:
            by_firm.setdefault(producer.firm, []).append(producer)
        result = []
        for producer in self.producers:
            quantity = 0.0
            slope = 0.0
            others = 0.0
            inverse_slopes = []
            for key, pair in producer_pairs.get(producer.index, []):
                consumer, sigma = pair["consumer"], pair["sigma"]
                lam = 1.0 - sigma
                for offer, phi_prime in pair["offers"]:
                    inverse_slopes.append(lam / (consumer.alpha * phi_prime
                                                 * (1.0 - sigma * offer.nest_share)))
                quantity += pair["quantity"]
                factor = ((1.0 - sigma * pair["nest_share"]) / lam
                          - (1.0 - consumer.eta / consumer.alpha) * pair["share"])
                slope += consumer.alpha * consumer.volume * pair["slope_weight"] * factor
                for sibling in by_firm[producer.firm]:  # dQ_bj/dp_a = Q_bj A_aj (alpha - eta)
                    other = pairs.get((sibling.index, key))
                    if sibling is producer or other is None:
                        continue
                    others += (sibling.price - sibling.cost) * other["quantity"] * pair[
                        "slope_weight"] * (consumer.alpha - consumer.eta)
            if slope > 0:
                result.append(producer.cost + (quantity + others) / slope)
            elif inverse_slopes:
                result.append(producer.cost + sum(inverse_slopes) / len(inverse_slopes))
            else:
                result.append(producer.price)
        return result


def reference_market(market) -> ReferenceMarket:
    """The :class:`ReferenceMarket` of a kernel ``RouteMarket`` (reads its arrays only)."""
    t = market.topology
    return ReferenceMarket(
        t.consumer_ptr, t.route_producer, market.route_utility, market.route_price_extra,
        market.consumer_alpha, market.consumer_demand, market.consumer_outside_utility,
        market.producer_capacity, market.price_form,
        route_nest=None if t.nests is None else t.nests.route_nest,
        nest_sigma=market.nest_sigma, consumer_eta=market.consumer_eta,
        consumer_logsum_ref=market.consumer_logsum_ref,
        producer_host=None if t.hosts is None else t.hosts.producer_host,
        host_capacity=market.capacity_of_host if t.hosts is not None else None,
        producer_load=market.producer_load,
        producer_firm=None if t.firms is None else t.firms.producer_firm,
        rationing=market.rationing)
