"""Random generalized-nested-logit markets, for tests and ``experiments/bench_kernel_gnl.py``."""

from __future__ import annotations

import numpy as np

from pricewar.kernel.gnl import class_alpha_from_theta


def random_gnl_inputs(n_segments: int, n_products: int, routes_per_segment: int = 10,
                      n_classes: int = 2, seed: int = 0, price_form: str = "log",
                      n_tiers: int = 4, n_families: int | None = None) -> tuple[dict, np.ndarray,
                                                                                np.ndarray]:
    """Keyword arguments of :func:`~pricewar.kernel.gnl.gnl_market`, prices and costs.

    Every segment buys ``routes_per_segment`` (at most ``n_products``) distinct products, a run
    of consecutive product numbers from a random start (the first segments cover every product).
    Families (default ``n_products // 3``) lie in ``n_tiers`` tiers; ``sigma_tier ~ U(0, 0.5)``,
    ``sigma_family ~ U(sigma_tier, 0.95)``; ``eta ~ U(1.05, 2)``, ``alpha_c = eta + exp(theta_c)``
    with ``theta_c ~ N(0, 1)``; class weights Dirichlet(1); half the segments have an outside
    option; ``pbar ~ U(0, 0.5)`` (log form); a third of the products belong to firms of three
    products. Prices ``U(1, 3)`` USD/Mtok, costs ``U(0.2, 1)``.
    """
    rng = np.random.default_rng(seed)
    n_families = max(1, n_products // 3) if n_families is None else n_families
    family_tier = rng.integers(0, n_tiers, n_families)
    family = rng.integers(0, n_families, n_products)
    tier = family_tier[family]
    tier_sigma = rng.uniform(0.0, 0.5, n_tiers)
    family_sigma = tier_sigma[family_tier] + rng.uniform(0, 1, n_families) * (
        0.95 - tier_sigma[family_tier])
    per_segment = min(routes_per_segment, n_products)
    start = rng.integers(0, n_products, n_segments)
    cover = min(n_segments, -(-n_products // per_segment))
    start[:cover] = np.arange(cover) * per_segment
    product = ((start[:, None] + np.arange(per_segment)) % n_products).ravel()
    eta = rng.uniform(1.05, 2.0, n_segments)
    alpha = class_alpha_from_theta(eta, rng.normal(0.0, 1.0, (n_segments, n_classes)))
    firm = np.arange(n_products)
    multi = n_products // 3
    firm[:multi] = np.arange(multi) // 3
    firm = np.unique(firm, return_inverse=True)[1].ravel()
    outside = np.where(rng.random(n_segments) < 0.5, rng.normal(0.0, 1.0, n_segments), -np.inf)
    inputs = dict(
        segment_ptr=np.arange(n_segments + 1) * per_segment, route_product=product,
        route_utility=rng.normal(2.0, 1.0, product.size), product_tier=tier,
        product_family=family, tier_sigma=tier_sigma, family_sigma=family_sigma,
        class_alpha=alpha, class_weight=rng.dirichlet(np.ones(n_classes), n_segments),
        product_firm=firm, segment_demand=rng.uniform(0.5, 2.0, n_segments), segment_eta=eta,
        segment_outside_utility=outside,
        class_logsum_ref=rng.normal(0.0, 1.0, (n_segments, n_classes)),
        product_price_offset=(rng.uniform(0.0, 0.5, n_products) if price_form == "log"
                              else np.zeros(n_products)),
        price_form=price_form)
    return inputs, rng.uniform(1.0, 3.0, n_products), rng.uniform(0.2, 1.0, n_products)
