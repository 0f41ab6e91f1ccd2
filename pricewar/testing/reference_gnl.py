"""The generalized nested logit written with plain Python loops: the oracle of its kernel.

Same inputs as :func:`pricewar.kernel.gnl.gnl_market` (caller's route order), same semantics:
latent classes (Train 2009, ch. 6), nests tier > family > product (McFadden 1978; Verboven
1996), an outside option and the isoelastic upper level per segment and class. Each segment and
class builds its nests as dictionaries and sums over them with ``math``; the derivatives loop over
every pair of routes of a segment. Deliberately slow and simple; no numpy in the loops.
"""

from __future__ import annotations

import math


class ReferenceGNL:
    """Plain-Python generalized nested logit market."""

    def __init__(self, segment_ptr, route_product, route_utility, *, product_tier,
                 product_family, tier_sigma, family_sigma, class_alpha, class_weight,
                 product_firm, segment_demand, segment_eta, segment_outside_utility,
                 class_logsum_ref, product_price_offset, price_form="log"):
        self.log_form = price_form == "log"
        self.segments = []
        for m in range(len(segment_ptr) - 1):
            routes = list(range(int(segment_ptr[m]), int(segment_ptr[m + 1])))
            self.segments.append(routes)
        self.route_product = [int(a) for a in route_product]
        self.route_utility = [float(u) for u in route_utility]
        self.tier = [int(t) for t in product_tier]
        self.family = [int(f) for f in product_family]
        self.firm = [int(f) for f in product_firm]
        self.tier_sigma = [float(s) for s in tier_sigma]
        self.family_sigma = [float(s) for s in family_sigma]
        self.alpha = [[float(a) for a in row] for row in class_alpha]
        self.weight = [[float(w) for w in row] for row in class_weight]
        self.demand = [float(d) for d in segment_demand]
        self.eta = [float(e) for e in segment_eta]
        self.outside = [float(v) for v in segment_outside_utility]
        self.logsum_ref = [[float(v) for v in row] for row in class_logsum_ref]
        self.offset = [float(o) for o in product_price_offset]

    def phi(self, price):
        return math.log(price) if self.log_form else price

    def phi_prime(self, price):
        return 1.0 / price if self.log_form else 1.0

    def class_shares(self, m, c, prices):
        """Route -> (s_r, s_{r|f}, s_{r|t}), and IV, for segment ``m`` and class ``c``."""
        alpha = self.alpha[m][c]
        value = {}
        tiers: dict[int, dict[int, list[int]]] = {}
        for r in self.segments[m]:
            a = self.route_product[r]
            value[r] = self.route_utility[r] - alpha * self.phi(prices[a] + self.offset[a])
            tiers.setdefault(self.tier[a], {}).setdefault(self.family[a], []).append(r)
        within_family, family_inclusive, tier_inclusive, family_in_tier = {}, {}, {}, {}
        for t, families in tiers.items():
            lam_t = 1.0 - self.tier_sigma[t]
            for f, routes in families.items():
                lam_f = 1.0 - self.family_sigma[f]
                top = max(value[r] / lam_f for r in routes)
                total = sum(math.exp(value[r] / lam_f - top) for r in routes)
                family_inclusive[f] = lam_f * (top + math.log(total))
                for r in routes:
                    within_family[r] = math.exp(value[r] / lam_f - top) / total
            top = max(family_inclusive[f] / lam_t for f in families)
            total = sum(math.exp(family_inclusive[f] / lam_t - top) for f in families)
            tier_inclusive[t] = lam_t * (top + math.log(total))
            for f in families:
                family_in_tier[f] = math.exp(family_inclusive[f] / lam_t - top) / total
        top = max([self.outside[m], *tier_inclusive.values()])
        total = math.exp(self.outside[m] - top) + sum(math.exp(v - top)
                                                      for v in tier_inclusive.values())
        logsum = top + math.log(total)
        shares = {}
        for r in self.segments[m]:
            a = self.route_product[r]
            in_tier = within_family[r] * family_in_tier[self.family[a]]
            tier_share = math.exp(tier_inclusive[self.tier[a]] - logsum)
            shares[r] = (in_tier * tier_share, within_family[r], in_tier)
        return shares, logsum

    def volume(self, m, c, logsum):
        change = self.eta[m] / self.alpha[m][c] * (logsum - self.logsum_ref[m][c])
        return self.demand[m] * self.weight[m][c] * math.exp(change)

    def product_demand(self, prices):
        """``Q_a`` per product (Mtok/step)."""
        quantity = [0.0] * len(self.tier)
        for m in range(len(self.segments)):
            for c in range(len(self.alpha[m])):
                shares, logsum = self.class_shares(m, c, prices)
                volume = self.volume(m, c, logsum)
                for r, (share, _, _) in shares.items():
                    quantity[self.route_product[r]] += volume * share
        return quantity

    def route_shares(self, prices):
        """``s_r`` per class and route: a list (K) of lists (n routes, caller's order)."""
        n_classes = len(self.alpha[0])
        result = [[0.0] * len(self.route_product) for _ in range(n_classes)]
        for m in range(len(self.segments)):
            for c in range(n_classes):
                shares, _ = self.class_shares(m, c, prices)
                for r, (share, _, _) in shares.items():
                    result[c][r] = share
        return result

    def jacobian(self, prices):
        """``J[a][b] = dQ_b/dp_a`` from the share derivatives, pair by pair."""
        n = len(self.tier)
        jac = [[0.0] * n for _ in range(n)]
        for m, routes in enumerate(self.segments):
            for c in range(len(self.alpha[m])):
                alpha = self.alpha[m][c]
                shares, logsum = self.class_shares(m, c, prices)
                volume = self.volume(m, c, logsum)
                for k in routes:
                    a = self.route_product[k]
                    lam_f = 1.0 - self.family_sigma[self.family[a]]
                    lam_t = 1.0 - self.tier_sigma[self.tier[a]]
                    s_k, s_kf, s_kt = shares[k]
                    dv = -alpha * self.phi_prime(prices[a] + self.offset[a])  # dv_k/dp_a
                    for r in routes:
                        b = self.route_product[r]
                        d_log = -(1.0 - self.eta[m] / alpha) * s_k  # upper level and IV
                        if self.tier[b] == self.tier[a]:
                            d_log -= (1.0 / lam_t - 1.0) * s_kt
                            if self.family[b] == self.family[a]:
                                d_log -= (1.0 / lam_f - 1.0 / lam_t) * s_kf
                                if r == k:
                                    d_log += 1.0 / lam_f
                        jac[a][b] += volume * shares[r][0] * d_log * dv
        return jac

    def profit(self, prices, costs, firm):
        """Firm ``firm``'s profit ``sum_{a in F} (p_a - c_a) Q_a`` (USD/step)."""
        quantity = self.product_demand(prices)
        return sum((prices[a] - costs[a]) * quantity[a] for a in range(len(self.tier))
                   if self.firm[a] == firm)
