"""The kernel's market written the way a Mesa modeller would write it without a kernel.

Consumer objects loop over their offers in plain Python (``math``, no numpy in the loops), producer
objects sum the orders they receive. Semantics are exactly those of :mod:`pricewar.kernel` (logit
shares with an outside option, capacity clearing with spill-over to the consumer's other routes, the
first-order-condition best response). It is the oracle of the property tests and the peer of
``experiments/bench_kernel.py``; it is deliberately slow and simple.
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
    share: float = 0.0
    demand: float = 0.0
    served: float = 0.0
    offered: float = 0.0


@dataclass(eq=False)
class ReferenceProducer:
    """A token producer: price, marginal cost and capacity; sums the orders it receives."""

    index: int
    capacity: float
    price: float = 1.0
    cost: float = 0.0
    load: float = 0.0
    is_open: bool = True
    orders: list[Offer] = field(default_factory=list, repr=False)

    def demand(self) -> float:
        return sum(offer.demand for offer in self.orders)


@dataclass(eq=False)
class ReferenceConsumer:
    """A demand segment choosing among its offers by logit with an outside option."""

    alpha: float
    demand: float
    outside_utility: float
    offers: list[Offer] = field(default_factory=list, repr=False)
    outside_share: float = 0.0
    logsum: float = 0.0
    unserved: float = 0.0

    def phi(self, price: float, log_form: bool) -> float:
        return math.log(price) if log_form else price

    def choose(self, log_form: bool) -> None:
        values = [o.utility - self.alpha * self.phi(o.producer.price + o.price_extra, log_form)
                  for o in self.offers]
        top = max([self.outside_utility, *values])
        weights = [math.exp(v - top) for v in values]
        outside_weight = math.exp(self.outside_utility - top)
        total = outside_weight + sum(weights)
        for offer, weight in zip(self.offers, weights, strict=True):
            offer.share = weight / total
            offer.demand = self.demand * offer.share
        self.outside_share = outside_weight / total
        self.logsum = top + math.log(total)


class ReferenceMarket:
    """Plain-Python market with the kernel's semantics, built from the kernel's route arrays."""

    def __init__(self, consumer_ptr, route_producer, route_utility, route_price_extra,
                 consumer_alpha, consumer_demand, consumer_outside_utility, producer_capacity,
                 price_form: str = "log"):
        self.log_form = price_form == "log"
        self.producers = [ReferenceProducer(i, float(k)) for i, k in enumerate(producer_capacity)]
        self.consumers = []
        self.routes: list[Offer] = []
        for j in range(len(consumer_ptr) - 1):
            consumer = ReferenceConsumer(float(consumer_alpha[j]), float(consumer_demand[j]),
                                         float(consumer_outside_utility[j]))
            for r in range(int(consumer_ptr[j]), int(consumer_ptr[j + 1])):
                offer = Offer(self.producers[int(route_producer[r])], consumer, float(route_utility[r]),
                              float(route_price_extra[r]))
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
        """Capacity clearing with spill-over; returns served per route and unserved per consumer."""
        self.demand(prices)
        for producer in self.producers:
            producer.load = 0.0
            producer.is_open = producer.capacity > 0
        for consumer in self.consumers:
            consumer.unserved = 0.0
            for offer in consumer.offers:
                offer.served = 0.0
                offer.offered = offer.demand
        stop_below = rel_tol * max(sum(c.demand for c in self.consumers), 1e-300)
        rounds = 0
        for rounds in range(1, max_rounds + 1):  # noqa: B007
            accept = {}
            for producer in self.producers:
                offered = sum(o.offered for o in producer.orders)
                spare = producer.capacity - producer.load
                if offered > spare:
                    accept[producer.index] = spare / offered
                    producer.load = producer.capacity
                    producer.is_open = False
                else:
                    accept[producer.index] = 1.0
                    producer.load += offered
            if all(a == 1.0 for a in accept.values()):
                for offer in self.routes:
                    offer.served += offer.offered
                break
            pending_total = 0.0
            pending = []
            for consumer in self.consumers:
                rejected = 0.0
                for offer in consumer.offers:
                    accepted = offer.offered * accept[offer.producer.index]
                    offer.served += accepted
                    rejected += offer.offered - accepted
                pending.append(rejected)
                pending_total += rejected
            if pending_total <= stop_below or rounds == max_rounds:
                for consumer, rejected in zip(self.consumers, pending, strict=True):
                    consumer.unserved += rejected
                break
            for consumer, rejected in zip(self.consumers, pending, strict=True):
                open_weight = sum(o.share for o in consumer.offers if o.producer.is_open)
                for offer in consumer.offers:
                    offer.offered = 0.0
                if open_weight <= 0:
                    consumer.unserved += rejected
                    continue
                for offer in consumer.offers:
                    if offer.producer.is_open:
                        offer.offered = rejected * offer.share / open_weight
        return {
            "route_served": [o.served for o in self.routes],
            "producer_served": [p.load for p in self.producers],
            "consumer_served": [sum(o.served for o in c.offers) for c in self.consumers],
            "consumer_unserved": [c.unserved for c in self.consumers],
            "consumer_outside": [c.demand * c.outside_share for c in self.consumers],
            "rounds": rounds,
        }

    def best_response(self, prices, costs) -> list[float]:
        """``p_i = c_i + Q_i / |dQ_i/dp_i|`` at the current prices, producer by producer."""
        self.demand(prices)
        self.set_prices(prices, costs)
        result = []
        for producer in self.producers:
            quantity = 0.0
            slope = 0.0
            inverse_slopes = []
            by_consumer: dict[int, list[Offer]] = {}
            for offer in producer.orders:
                by_consumer.setdefault(id(offer.consumer), []).append(offer)
            for offers in by_consumer.values():
                consumer = offers[0].consumer
                pair_share = sum(o.share for o in offers)
                weighted = 0.0
                for offer in offers:
                    route_price = producer.price + offer.price_extra
                    phi_prime = 1.0 / route_price if self.log_form else 1.0
                    weighted += offer.share * phi_prime
                    inverse_slopes.append(1.0 / (consumer.alpha * phi_prime))
                    quantity += offer.demand
                slope += consumer.alpha * consumer.demand * weighted * (1.0 - pair_share)
            if slope > 0:
                result.append(producer.cost + quantity / slope)
            elif inverse_slopes:
                result.append(producer.cost + sum(inverse_slopes) / len(inverse_slopes))
            else:
                result.append(producer.price)
        return result
