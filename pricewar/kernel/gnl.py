"""Generalized nested logit (v3 kernel): latent price classes, nests tier > family > product.

Not yet wired into the model (docs/ODD.md §6.2c): an entry point beside the demand-v2 kernel.

A *segment* ``m`` (a consumer: region x sector) buys from *products* ``a`` (a host's offer of
a family) on *routes* ``r = (m, a)``, at most one per pair. Its buyers fall in latent classes
``c`` with weights ``w_mc`` (summing to 1) that differ only in price sensitivity ``alpha_mc``
(latent-class logit: Train 2009, ch. 6). For class ``c``, with ``P_r = p_a + pbar_a`` (log
form) and ``phi(P) = log P`` or ``phi(p) = p`` (linear form)::

    v_r = u_r - alpha_mc phi(P_r)                                         route utility

Products are nested tier > family > product (McFadden 1978's generalized extreme value model;
the two-level nested logit of Cardell 1997 and Verboven 1996), with ``lambda_F = 1 -
sigma_family[f]``, ``lambda_T = 1 - sigma_tier[t]`` and ``0 <= sigma_tier <= sigma_family < 1``
for every family of a tier (McFadden's consistency with random utility)::

    I_mf = lambda_F log sum_{r in f} exp(v_r / lambda_F)                  family inclusive value
    J_mt = lambda_T log sum_{f in t} exp(I_mf / lambda_T)                 tier inclusive value
    IV_mc = log(exp(v0_m) + sum_t exp(J_mt))                              class inclusive value
    s_{r|f} = exp((v_r - I_mf) / lambda_F),  s_{f|t} = exp((I_mf - J_mt) / lambda_T),
    s_t = exp(J_mt - IV_mc),                 s_r = s_{r|f} s_{f|t} s_t

(Berry 1994, eq. 26-27, for one level; Verboven 1996 for two; Train 2009, ch. 4.) Each class's volume
follows an isoelastic upper level in its CES price index ``P_mc = exp(-IV_mc / alpha_mc)``
(log form; the existing kernel's ``X_j`` of docs/ODD.md §6.2 for each segment-class)::

    X_mc = D_m w_mc (P_mc / P_ref,mc)^(-eta_m) = D_m w_mc exp((eta_m/alpha_mc)(IV_mc - IV_ref,mc))
    x_r  = sum_c X_mc s_r,c,     Q_a = sum_{r of a} x_r

(the linear form keeps the same exponential, ``eta`` then a semi-elasticity). Well-posedness,
checked on construction: ``alpha_mc >= eta_m > 1`` for every class, or ``eta_m = 0`` (a fixed
volume, the textbook market) with a finite outside option. Then every route's own-price
elasticity in ``P`` is at least ``eta_m`` and rivals are gross substitutes
(:mod:`~pricewar.kernel.gnl_pricing`). :func:`class_alpha_from_theta` gives the
parametrisation ``alpha_c = eta + exp(theta_c)`` that keeps it in estimation.

Routes are stored sorted by (segment, tier, family), so every nest is one run and the log-sum-exp
levels are ``reduceat`` over runs, shifted by the run's maximum; ``route_order`` maps stored
routes to the caller's. Prices in USD/Mtok, volumes in Mtok/step, utilities in utils.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pricewar.errors import KernelInputError
from pricewar.kernel.arrays import first_bad, float_array, index32, int_array
from pricewar.kernel.groups import label_array

PRICE_FORMS = ("log", "linear")


def class_alpha_from_theta(eta, theta) -> np.ndarray:
    """``alpha_c = eta + exp(theta_c)``: every class at least as price-sensitive as the volume.

    ``eta`` (per segment, shape (M,), or a number) and ``theta`` (per class, shape (K,) or
    (M, K)) broadcast to the (M, K) class sensitivities of :func:`gnl_market`.
    """
    eta = np.atleast_1d(np.asarray(eta, dtype=np.float64))
    theta = np.asarray(theta, dtype=np.float64)
    return eta[:, None] + np.exp(np.atleast_2d(theta))


def _per_label(name: str, values, n_labels: int) -> np.ndarray:
    """A number or one value per label, as an array of ``n_labels`` values."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n_labels, float(arr))
    arr = float_array(name, arr)
    if arr.size < n_labels:
        raise KernelInputError(f"{name} has {arr.size} values, expected one per label "
                               f"(>= {n_labels})")
    if ((arr < 0) | (arr >= 1)).any():
        raise KernelInputError(f"{name} must lie in [0, 1), got "
                               f"{first_bad(arr, (arr < 0) | (arr >= 1))}")
    return arr


def _segment_class(name: str, values, n_segments: int, n_classes: int | None) -> np.ndarray:
    """A (K,) or (M, K) array as (M, K)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 1:
        arr = np.broadcast_to(arr, (n_segments, arr.size))
    if arr.ndim != 2 or arr.shape[0] != n_segments or (
            n_classes is not None and arr.shape[1] != n_classes):
        raise KernelInputError(f"{name} must have shape (K,) or ({n_segments}, K), got "
                               f"{np.shape(values)}")
    if not np.isfinite(arr).all():
        raise KernelInputError(f"{name} contains non-finite values: "
                               f"{first_bad(arr, ~np.isfinite(arr))}")
    return np.ascontiguousarray(arr)


def _run_starts(*keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Starts of the runs of equal ``keys`` (sorted arrays) and each element's run."""
    n = keys[0].size
    new = np.zeros(n, dtype=bool)
    new[:1] = True
    for key in keys:
        new[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(new), np.cumsum(new) - 1


def _class_pair_index(group: np.ndarray, label: np.ndarray, n_labels: int,
                      n_classes: int) -> tuple[np.ndarray, int]:
    """Dense index of the (class, group, label) triples, (K, n): ``c P + pair`` with ``pair``
    the index of the element's (group, label) pair among the P pairs present; and P."""
    pair = np.unique(group * np.int64(n_labels) + label, return_inverse=True)[1].ravel()
    n_pairs = int(pair.max(initial=-1)) + 1
    return np.ascontiguousarray(pair + n_pairs * np.arange(n_classes)[:, None]), n_pairs


#: the longest run reduced by gathers instead of ``reduceat`` (:class:`ShortRuns`)
SHORT_RUN = 8


@dataclass(frozen=True, eq=False)
class ShortRuns:
    """Runs of at most :data:`SHORT_RUN` elements of the last axis of a (K, n) array, reduced by
    gathers: ``reduceat`` costs about as much per run as per element, and most runs of the
    committed customers' markets hold one or two elements. ``members`` (L, R): each run's
    elements, its last one repeated up to the longest run's length L (for the maximum);
    ``rest``: the positions after each run's first; ``rest_run`` (K, n_rest): their (class, run)
    index ``c R + run``. The sum is the run's first element plus a ``bincount`` of the rest:
    numpy's ``add.reduceat`` adds the others in sequence to the first where they are fewer than
    8 (its pairwise sum splits longer runs), so the results are the same bit for bit.
    """

    members: np.ndarray
    rest: np.ndarray
    rest_run: np.ndarray

    def max(self, value: np.ndarray) -> np.ndarray:
        """Each run's maximum, (K, R)."""
        return np.take(value, self.members, axis=-1).max(axis=-2)

    def sum(self, value: np.ndarray) -> np.ndarray:
        """Each run's sum, (K, R), as ``np.add.reduceat`` adds it."""
        total = np.take(value, self.members[0], axis=-1)
        total += np.bincount(self.rest_run.ravel(), np.take(value, self.rest, axis=-1).ravel(),
                             total.size).reshape(total.shape)
        return total


def _short_runs(start: np.ndarray, n: int, n_classes: int) -> ShortRuns | None:
    """:class:`ShortRuns` of the runs starting at ``start`` over ``n`` elements, or None where a
    run is longer than :data:`SHORT_RUN`."""
    length = np.diff(np.r_[start, n])
    if length.max() > SHORT_RUN:
        return None
    members = np.minimum(start + np.arange(length.max())[:, None], start + length - 1)
    first = np.zeros(n, dtype=bool)
    first[start] = True
    rest = np.flatnonzero(~first)
    run = np.repeat(np.arange(start.size), length)[rest]
    return ShortRuns(members=members, rest=rest, rest_run=np.ascontiguousarray(
        run + start.size * np.arange(n_classes)[:, None]))


def _run_max(value: np.ndarray, start: np.ndarray, short: ShortRuns | None) -> np.ndarray:
    """The maximum of each run of the last axis (the runs start at ``start``)."""
    return np.maximum.reduceat(value, start, axis=-1) if short is None else short.max(value)


def _run_sum(value: np.ndarray, start: np.ndarray, short: ShortRuns | None) -> np.ndarray:
    """The sum of each run of the last axis, in ``add.reduceat``'s order."""
    return np.add.reduceat(value, start, axis=-1) if short is None else short.sum(value)


@dataclass(frozen=True, eq=False)
class GNLMarket:
    """A generalized-nested-logit market, routes in stored order (see the module docstring).

    Attributes (stored order; M segments, K classes, n routes, N products)
    ----------
    segment_ptr : (M+1,), CSR pointer of each segment's routes
    route_order : (n,), the caller's index of each stored route
    route_product, route_utility : (n,), product and non-price utility ``u_r`` (utils)
    route_segment, route_family_run, route_tier_run : (n,), segment, (segment, family) run and
        (segment, tier) run of each route
    family_start, family_tier_run : start route and tier run of each family run
    tier_start, tier_segment : start family run and segment of each tier run
    tier_route_start : start route of each tier run; segment_tier_start : (M,), start tier run
        of each segment
    family_short, tier_short, segment_short : :class:`ShortRuns` of the routes' family runs, the
        family runs' tier runs and the tier runs' segments (None where a run is longer)
    route_lambda_family, route_lambda_tier : (n,), ``1 - sigma`` of the route's family and tier
    product_firm, product_tier, product_family, product_price_offset : (N,); ``pbar`` USD/Mtok
    class_alpha, class_weight, class_logsum_ref : (M, K)
    segment_demand (Mtok/step), segment_eta, segment_outside_utility (utils, -inf none) : (M,)
    route_kappa_family, route_kappa_tier : (n,), ``kappa_F = 1/lambda_F - 1/lambda_T`` and
        ``kappa_T = 1/lambda_T - 1`` (:mod:`~pricewar.kernel.gnl_pricing`)
    route_product_class : (K, n), index of the (class, product) pair of each route, ``c N + a``
    route_firm_family, route_firm_tier, route_firm_segment : (K, n), index of the (class, run,
        firm) triple of each route (``c P + pair``, P pairs of a run and a firm), for the firms'
        margin-weighted volumes of every class in one ``bincount``; firm_pair_count : (3,), P at
        each level (family, tier, segment): ``n`` where every route is its own pair
    route_alpha, route_inelastic : (K, n), ``alpha_mc`` and ``mu_mc = 1 - eta_m/alpha_mc`` of
        each route's segment, per class
    (the index arrays and per-route constants are cached: read at every evaluation; the
    per-route indices are int32 where they fit)
    """

    segment_ptr: np.ndarray
    route_order: np.ndarray
    route_product: np.ndarray
    route_utility: np.ndarray
    route_segment: np.ndarray
    route_family_run: np.ndarray
    route_tier_run: np.ndarray
    family_start: np.ndarray
    family_tier_run: np.ndarray
    tier_start: np.ndarray
    tier_segment: np.ndarray
    tier_route_start: np.ndarray
    segment_tier_start: np.ndarray
    family_short: ShortRuns | None
    tier_short: ShortRuns | None
    segment_short: ShortRuns | None
    route_lambda_family: np.ndarray
    route_lambda_tier: np.ndarray
    product_firm: np.ndarray
    product_tier: np.ndarray
    product_family: np.ndarray
    product_price_offset: np.ndarray
    class_alpha: np.ndarray
    class_weight: np.ndarray
    class_logsum_ref: np.ndarray
    segment_demand: np.ndarray
    segment_eta: np.ndarray
    segment_outside_utility: np.ndarray
    route_kappa_family: np.ndarray
    route_kappa_tier: np.ndarray
    route_product_class: np.ndarray
    route_firm_family: np.ndarray
    route_firm_tier: np.ndarray
    route_firm_segment: np.ndarray
    firm_pair_count: np.ndarray
    route_alpha: np.ndarray
    route_inelastic: np.ndarray
    price_form: str

    @property
    def n_products(self) -> int:
        return self.product_firm.size

    @property
    def n_classes(self) -> int:
        return self.class_alpha.shape[1]

    @property
    def n_segments(self) -> int:
        return self.segment_demand.size

    def product_sum(self, route_values: np.ndarray) -> np.ndarray:
        """Sum over classes and routes of a (K, n) array, per product (N,)."""
        per_class = np.bincount(self.route_product_class.ravel(), route_values.ravel(),
                                self.n_classes * self.n_products)
        return per_class.reshape(self.n_classes, self.n_products).sum(axis=0)

    def with_reference(self, price) -> GNLMarket:
        """This market with ``P_ref`` the price index at ``price`` (so ``X_mc = D_m w_mc``)."""
        return replace(self, class_logsum_ref=gnl_demand(self, price).logsum)


def gnl_market(segment_ptr, route_product, route_utility, *, product_tier, product_family,
               tier_sigma, family_sigma, class_alpha, class_weight=None, product_firm=None,
               segment_demand=None, segment_eta=None, segment_outside_utility=None,
               class_logsum_ref=None, product_price_offset=None,
               price_form: str = "log") -> GNLMarket:
    """Validate and store a generalized-nested-logit market (see the module docstring).

    Parameters
    ----------
    segment_ptr : int (M+1,), CSR pointer: segment ``m`` has routes ``ptr[m]:ptr[m+1]`` (>= 1)
    route_product : int (n,), the product of each route (at most one route per segment-product)
    route_utility : (n,), non-price utility ``u_r``, utils
    product_tier, product_family : int (N,), labels; a family lies in one tier
    tier_sigma, family_sigma : a number or one value per label, in [0, 1), with
        ``tier_sigma[tier of f] <= family_sigma[f]``
    class_alpha : (K,) or (M, K), price sensitivity of each class (> 0)
    class_weight : (K,) or (M, K), >= 0, rows summing to 1 (default: one class)
    product_firm : int (N,), the firm setting each product's price (default: one firm each)
    segment_demand : (M,), ``D_m`` Mtok/step (default 1)
    segment_eta : (M,), ``eta_m``: 0 (fixed volume) or > 1 with ``alpha_mc >= eta_m``
    segment_outside_utility : (M,), ``v0_m`` utils, ``-inf`` for none (default)
    class_logsum_ref : (M, K), ``IV_ref`` (default 0; see :meth:`GNLMarket.with_reference`)
    product_price_offset : (N,) or a number, ``pbar >= 0`` USD/Mtok (log form only)
    price_form : "log" or "linear"
    """
    if price_form not in PRICE_FORMS:
        raise KernelInputError(f"price_form must be one of {PRICE_FORMS}, got {price_form!r}")
    ptr = int_array("segment_ptr", segment_ptr)
    if ptr.size < 2 or ptr[0] != 0 or (np.diff(ptr) < 1).any():
        raise KernelInputError("segment_ptr must start at 0 and give every segment >= 1 route, "
                               f"got {ptr.tolist()[:10]}")
    n_routes, n_segments = int(ptr[-1]), ptr.size - 1
    tier = int_array("product_tier", product_tier)
    n_products = tier.size
    tier = label_array("product_tier", tier, n_products)
    family = label_array("product_family", product_family, n_products)
    firm = (np.arange(n_products) if product_firm is None
            else label_array("product_firm", product_firm, n_products))
    product = label_array("route_product", route_product, n_routes)
    if product.size and product.max() >= n_products:
        raise KernelInputError(f"route_product must be < {n_products} (the number of products), "
                               f"got {product.max()}")
    if np.bincount(product, minlength=n_products).min() == 0:
        raise KernelInputError("every product needs a route, got product "
                               f"{int(np.argmin(np.bincount(product, minlength=n_products)))}")
    utility = float_array("route_utility", route_utility, n_routes)
    family_tier = np.full(family.max() + 1, -1)
    family_tier[family] = tier
    if (family_tier[family] != tier).any():
        bad = int(np.flatnonzero(family_tier[family] != tier)[0])
        raise KernelInputError(f"product_family {family[bad]} spans several tiers (product {bad})")
    sig_t = _per_label("tier_sigma", tier_sigma, tier.max() + 1)
    sig_f = _per_label("family_sigma", family_sigma, family.max() + 1)
    if (sig_t[tier] > sig_f[family]).any():
        bad = int(np.flatnonzero(sig_t[tier] > sig_f[family])[0])
        raise KernelInputError(f"tier_sigma {sig_t[tier[bad]]} exceeds family_sigma "
                               f"{sig_f[family[bad]]} (product {bad}); need 0 <= sigma_tier "
                               "<= sigma_family < 1")
    alpha = _segment_class("class_alpha", class_alpha, n_segments, None)
    n_classes = alpha.shape[1]
    weight = _segment_class("class_weight", np.ones(1) if class_weight is None else class_weight,
                            n_segments, n_classes)
    if (weight < 0).any() or (np.abs(weight.sum(axis=1) - 1.0) > 1e-12).any():
        raise KernelInputError("class_weight must be >= 0 with each segment's weights summing "
                               f"to 1, got {weight[:3].tolist()}")
    if (alpha <= 0).any():
        raise KernelInputError(f"class_alpha must be > 0, got {first_bad(alpha, alpha <= 0)}")
    demand = float_array("segment_demand", np.ones(n_segments) if segment_demand is None
                         else segment_demand, n_segments, nonneg=True)
    eta = float_array("segment_eta", np.zeros(n_segments) if segment_eta is None else segment_eta,
                      n_segments, nonneg=True)
    outside = float_array("segment_outside_utility", np.full(n_segments, -np.inf)
                          if segment_outside_utility is None else segment_outside_utility,
                          n_segments, allow_inf=True)
    if (outside == np.inf).any():
        raise KernelInputError("segment_outside_utility must be finite or -inf, got "
                               f"{first_bad(outside, outside == np.inf)}")
    _check_well_posed(alpha, eta, outside)
    ref = _segment_class("class_logsum_ref", np.zeros(n_classes) if class_logsum_ref is None
                         else class_logsum_ref, n_segments, n_classes)
    offset = np.asarray(0.0 if product_price_offset is None else product_price_offset, float)
    offset = float_array("product_price_offset", np.broadcast_to(offset, (n_products,)),
                         n_products, nonneg=True)
    if price_form == "linear" and offset.any():
        raise KernelInputError("product_price_offset must be 0 with price_form='linear', got "
                               f"{first_bad(offset, offset != 0)}")
    if price_form == "log" and (alpha[eta == 0] <= 1).any():
        raise KernelInputError("class_alpha must be > 1 in the log form with a fixed volume "
                               "(segment_eta 0)")

    segment = np.repeat(np.arange(n_segments), np.diff(ptr))
    order = np.lexsort((family[product], tier[product], segment))
    product = product[order]
    if (np.unique(segment * np.int64(n_products) + product).size != n_routes):
        raise KernelInputError("route_product names a product twice in one segment: one route "
                               "per segment and product")
    family_start, route_family = _run_starts(segment, family[product])
    tier_start_route, route_tier = _run_starts(segment, tier[product])
    tier_start, family_tier_run = _run_starts(segment[family_start], tier[product[family_start]])
    route_firm = firm[product]
    inv_lambda_family, inv_lambda_tier = 1.0 / (1.0 - sig_f[family[product]]), 1.0 / (
        1.0 - sig_t[tier[product]])
    tier_segment = segment[tier_start_route]
    segment_tier_start = _run_starts(tier_segment)[0]
    firm_pairs = [_class_pair_index(run, route_firm, n_products, n_classes)
                  for run in (route_family, route_tier, segment)]
    # the per-route indices, gathered by np.take at every evaluation, stored as int32 where
    # they fit: half the memory of the largest index arrays, the same gathers
    return GNLMarket(
        segment_ptr=ptr, route_order=index32(order, n_routes),
        route_product=index32(product, n_products), route_utility=utility[order],
        route_segment=index32(segment, n_segments),
        route_family_run=index32(route_family, n_routes),
        route_tier_run=index32(route_tier, n_routes), family_start=family_start,
        family_tier_run=index32(family_tier_run, n_routes), tier_start=tier_start,
        tier_segment=tier_segment, tier_route_start=tier_start_route,
        segment_tier_start=segment_tier_start,
        family_short=_short_runs(family_start, n_routes, n_classes),
        tier_short=_short_runs(tier_start, family_start.size, n_classes),
        segment_short=_short_runs(segment_tier_start, tier_start.size, n_classes),
        route_lambda_family=1.0 - sig_f[family[product]],
        route_lambda_tier=1.0 - sig_t[tier[product]],
        product_firm=firm, product_tier=tier, product_family=family,
        product_price_offset=offset, class_alpha=alpha, class_weight=weight,
        class_logsum_ref=ref, segment_demand=demand, segment_eta=eta,
        segment_outside_utility=outside,
        route_kappa_family=inv_lambda_family - inv_lambda_tier,
        route_kappa_tier=inv_lambda_tier - 1.0,
        route_product_class=np.ascontiguousarray(
            product + n_products * np.arange(n_classes)[:, None]),
        route_firm_family=firm_pairs[0][0], route_firm_tier=firm_pairs[1][0],
        route_firm_segment=firm_pairs[2][0],
        firm_pair_count=np.array([count for _, count in firm_pairs]),
        route_alpha=np.ascontiguousarray(alpha[segment].T),
        route_inelastic=np.ascontiguousarray((1.0 - eta[:, None] / alpha)[segment].T),
        price_form=price_form)


def _check_well_posed(alpha: np.ndarray, eta: np.ndarray, outside: np.ndarray) -> None:
    """``alpha_mc >= eta_m > 1``, or ``eta_m = 0`` with a finite outside option."""
    elastic = eta > 0
    if (elastic & (eta <= 1)).any():
        raise KernelInputError("segment_eta must be 0 or > 1 (well-posedness: alpha_c >= eta > "
                               f"1), got {first_bad(eta, elastic & (eta <= 1))}")
    below = elastic[:, None] & (alpha < eta[:, None])
    if below.any():
        m, c = np.argwhere(below)[0]
        raise KernelInputError(f"class_alpha[{m}, {c}] = {alpha[m, c]!r} is below segment_eta "
                               f"{eta[m]!r}: need alpha_c >= eta > 1 (alpha_c = eta + "
                               "exp(theta_c), class_alpha_from_theta)")
    fixed = ~elastic & ~np.isfinite(outside)
    if fixed.any():
        raise KernelInputError("a segment with segment_eta 0 (fixed volume) needs a finite "
                               f"segment_outside_utility, segment {int(np.argmax(fixed))}")


@dataclass(frozen=True, eq=False)
class GNLDemand:
    """Shares and demand at one price vector; (K, n) arrays per class and stored route.

    ``route_share`` ``s_r``, ``route_family_share`` ``s_{r|f}``, ``route_tier_share``
    ``s_{r|t} = s_{r|f} s_{f|t}``; ``route_demand`` ``X_mc s_r`` (Mtok/step, per class);
    ``route_slope`` ``alpha_mc phi'(P_r)`` (per USD/Mtok); ``logsum`` ``IV_mc``,
    ``outside_share`` and ``volume`` ``X_mc`` (M, K); ``product_demand`` ``Q_a`` (N,).
    """

    price: np.ndarray
    route_share: np.ndarray
    route_family_share: np.ndarray
    route_tier_share: np.ndarray
    route_demand: np.ndarray
    route_slope: np.ndarray
    logsum: np.ndarray
    outside_share: np.ndarray
    volume: np.ndarray
    product_demand: np.ndarray


def _logsumexp_runs(value: np.ndarray, start: np.ndarray, run: np.ndarray,
                    short: ShortRuns | None):
    """Per run of the last axis: ``log sum exp(value)`` and ``exp(value - logsum[run])``, the
    latter computed in ``value``'s memory (the caller's temporary, overwritten).

    Where every run has one element these are ``value`` and 1 exactly (no evaluation; the ones
    a read-only broadcast, no memory).
    """
    if start.size == value.shape[-1]:
        return value, np.broadcast_to(1.0, value.shape)
    top = _run_max(value, start, short)
    weight = value
    weight -= np.take(top, run, axis=-1)  # np.take: a gather along the last axis
    np.exp(weight, out=weight)
    total = _run_sum(weight, start, short)
    logsum = np.log(total)
    logsum += top
    weight /= np.take(total, run, axis=-1)
    return logsum, weight


def gnl_demand(market: GNLMarket, price) -> GNLDemand:
    """Shares and demand at product prices ``price`` (USD/Mtok, shape (N,)).

    Vectorised over classes and routes: three ``reduceat`` log-sum-exp levels (family, tier,
    segment), each shifted by its run's maximum.
    """
    price = float_array("price", price, market.n_products)
    route_price = np.take(price + market.product_price_offset, market.route_product)
    if market.price_form == "log":
        if (route_price <= 0).any():
            raise KernelInputError("price + product_price_offset must be > 0 in the log form, "
                                   f"got {first_bad(route_price, route_price <= 0)}")
        phi, phi_prime = np.log(route_price), 1.0 / route_price
    else:
        phi, phi_prime = route_price, np.ones_like(route_price)
    route_alpha = market.route_alpha  # (K, n)
    value = route_alpha * phi
    np.subtract(market.route_utility, value, out=value)
    lam_f, lam_t = market.route_lambda_family, market.route_lambda_tier
    fam_start = market.family_start
    value /= lam_f
    log_f, within_family = _logsumexp_runs(value, fam_start, market.route_family_run,
                                           market.family_short)
    family_lam_f, family_lam_t = lam_f[fam_start], lam_t[fam_start]
    inclusive_family = log_f  # I_mf, (K, n_family_runs), in log_f's memory (a temporary)
    inclusive_family *= family_lam_f
    inclusive_family /= family_lam_t
    log_t, family_in_tier = _logsumexp_runs(inclusive_family, market.tier_start,
                                            market.family_tier_run, market.tier_short)
    inclusive_tier = family_lam_t[market.tier_start] * log_t  # J_mt
    tier_segment, seg_start = market.tier_segment, market.segment_tier_start
    outside = market.segment_outside_utility
    short = market.segment_short
    top = np.maximum(_run_max(inclusive_tier, seg_start, short), outside)  # (K, M)
    tier_weight = inclusive_tier - np.take(top, tier_segment, axis=-1)
    np.exp(tier_weight, out=tier_weight)
    outside_weight = np.exp(outside - top)
    total = _run_sum(tier_weight, seg_start, short) + outside_weight
    logsum = top + np.log(total)
    tier_weight /= np.take(total, tier_segment, axis=-1)  # s_t
    if fam_start.size == market.route_product.size:  # a route per family run: s_{r|f} = 1
        route_tier_share = family_in_tier
    else:
        route_tier_share = np.take(family_in_tier, market.route_family_run, axis=-1)
        route_tier_share *= within_family
    route_share = np.take(tier_weight, market.route_tier_run, axis=-1)
    route_share *= route_tier_share
    outside_share = outside_weight / total  # (K, M)
    exponent = market.segment_eta / market.class_alpha.T
    volume = (market.segment_demand * market.class_weight.T
              * np.exp(exponent * (logsum - market.class_logsum_ref.T)))  # X_mc, (K, M)
    route_demand = np.take(volume, market.route_segment, axis=-1)
    route_demand *= route_share
    phi_prime = route_alpha * phi_prime
    return GNLDemand(price=price, route_share=route_share, route_family_share=within_family,
                     route_tier_share=route_tier_share, route_demand=route_demand,
                     route_slope=phi_prime, logsum=logsum.T, outside_share=outside_share.T,
                     volume=volume.T, product_demand=market.product_sum(route_demand))
