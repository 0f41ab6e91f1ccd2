"""Stage 1 of the v3 estimation: substitution parameters from a product-level panel (issue #26).

Estimates the v3 demand's substitution parameters (docs/ODD.md §6.2d; docs/calibration.md C17,
"Stage 1: substitution") — the price sensitivity of each latent class, the bulk class's share,
the nests ``sigma_tier <= sigma_family`` and the family effects — from prices and token volumes,
by quasi-maximum likelihood on each market-period's token shares.

**Input** (:func:`estimate_substitution`): a pandas DataFrame in long format, one row per
(period, market, product):

================================  ==============================================================
``period``                        an orderable label (a week)
``market``                        a label: buyers who choose among the same products (a
                                  segment: region, sector, or the whole panel)
``product_id``                    a label, stable over periods: one host's offer of one family
``family``                        the model (weights) sold: the family nest, constant per product
``tier``                          the capability tier of the family (tier nest), one per family
``host``                          the firm serving the product
``price_usd_per_mtok``            the product's price, USD/Mtok (blended), >= 0
``tokens``                        tokens bought in the period, Mtok (any unit: only shares count;
                                  per product, or per family with ``tokens_by="family"``)
``cost_shifter*`` (optional)      columns whose name starts with ``cost_shifter``: what moves a
                                  product's cost without moving its quality (the log GPU-hour
                                  rent of its host's region and chip, chip availability), the
                                  instruments for its own price
================================  ==============================================================

**Model** (the kernel's generalized nested logit, :mod:`~pricewar.kernel.gnl`; each
market-period is one segment, each row one product with one route). Class ``c`` of market ``m``
values product ``j`` in period ``t`` at::

    v_jtc = xi_f(j) + rho vhat_jt - alpha_c log(p_jt + pbar),   alpha_c = eta + e_c

with ``e_bulk = bulk_alpha_excess >= e_quality = quality_alpha_excess > 0`` (the bulk class is
the price-sensitive one: this labels the classes), nests tier > family > product with
``0 <= tier_sigma <= nest_sigma < 1``, ``xi_f`` the family effects (utils; the first family 0:
only differences matter without an outside option) and ``rho vhat`` the control function for
price endogeneity (below). Each class's volume is chained as in the model (docs/ODD.md §6.2d):
``log V_mct = log V_mc,t-1 + (eta/alpha_c) (IV_mct(p_t) - IV_mct(p_t-1))`` on period t's
products (a new product at its own price: variety moves no volume), ``V_mc,first = w_c``, so
``bulk_class_share`` is the bulk class's share of volume in each market's first period. The
predicted token share of row ``j`` in its market-period ``g`` is ``s_j = sum_c V_gc s_jc /
sum_c V_gc``.

**Likelihood.** The multinomial quasi-log-likelihood of the observed shares ``y_j`` (tokens over
the market-period's tokens), each market-period weighted equally::

    l(theta) = sum_g sum_{j in g} y_j log s_j(theta)

(Papke & Wooldridge 1996's fractional quasi-likelihood, multinomial form): consistent when the
expected shares are the model's, whatever the sampling noise of the tokens. BFGS (scipy) from
``starts`` points, then Newton steps on the numerical Hessian. Standard errors are the sandwich
``D^-1 B D^-T`` clustered by market-period over the stacked estimating equations (the
likelihood's scores and, with cost shifters, the first stage's normal equations, so the first
stage's error is included; Newey & McFadden 1994, §6), mapped to the parameters by the delta
method. A parameter estimated at a bound of its range (``tier_sigma`` 0, two classes that
coincide) has no normal law there: it is held at its estimate for the others' standard errors
and its own is NaN.

**Identification** (docs/calibration.md, "Stage 1: substitution": price effects from what
moves prices without moving quality).
Within a market-period the family effects absorb each model's quality; the price sensitivity
over the family nest, ``alpha_c / (1 - nest_sigma)``, comes from the same weights sold by
several hosts at different prices; ``alpha_c / (1 - tier_sigma)`` from families of one tier and
``alpha_c`` from tiers whose relative prices move. :func:`estimate_substitution` raises
:class:`SubstitutionIdentificationError` when the panel has none of a kind of variation a free
parameter needs. With ``cost_shifter`` columns, the price is instrumented by a control function
(Petrin & Train 2010): the first stage regresses ``log(p + pbar)`` on the cost shifters with
family and market-period effects, and its residual ``vhat`` enters utility with coefficient
``control_utils`` (``rho``), which absorbs the product-period quality that also moves the price.
Without them prices are taken as exogenous given the family effects.

**Shoppers, not stocks.** The model's committed customers buy from their host whatever its
price and review it with hazard ``h`` (docs/ODD.md §6.2d); their stock of tokens follows prices
with a lag, so a static fit to stock shares under a low hazard biases ``alpha`` down (measured
in ``tests/test_substitution.py``). Fit the panel's shoppers: a platform whose buyers re-route
every request (OpenRouter's, ``h`` near 1), or the flow of new choices (``tokens_column``).

:func:`synthetic_panel` draws panels from known parameters through the same share function, with
committed customers and a review hazard (:func:`~pricewar.kernel.customer_states.move_states`),
for the recovery tests.

Sources: Berry (1994) and Verboven (1996) for the nested logit on market shares; Train (2009),
ch. 6 (latent classes); Papke, L. E. & Wooldridge, J. M. (1996), "Econometric methods for
fractional response variables", J. Applied Econometrics 11(6); Newey, W. K. & McFadden, D.
(1994), "Large sample estimation and hypothesis testing", Handbook of Econometrics 4, ch. 36;
Petrin, A. & Train, K. (2010), "A
control function approach to endogeneity in consumer choice models", J. Marketing Research
47(1).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

from pricewar.errors import PricewarError
from pricewar.kernel.customer_states import move_states
from pricewar.kernel.gnl import gnl_demand, gnl_market

PANEL_COLUMNS = ("period", "market", "product_id", "family", "tier", "host",
                 "price_usd_per_mtok", "tokens")
#: the level at which tokens are observed: per product, or per family (summed over its hosts)
TOKENS_BY = ("product", "family")
#: optional instrument columns start with this
COST_SHIFTER_PREFIX = "cost_shifter"
#: the class parameters, in market.toml's names ([market]; demand.nest_sigma)
CLASS_PARAMETERS = ("bulk_alpha_excess", "quality_alpha_excess", "bulk_class_share")
NEST_PARAMETERS = ("nest_sigma", "tier_sigma")
#: the numerical floor of a predicted share in the log-likelihood
_SHARE_FLOOR = 1e-300
#: the relative step of the numerical derivatives (free coordinates are of order 1)
_STEP = 1e-4
#: a bounded parameter's free coordinate beyond this is at its bound (exp(-8) = 3e-4 of its
#: scale: sigma_tier / sigma_family, e_bulk - e_quality, w or 1 - w)
BOUND_COORDINATE = 8.0
#: alternating-projection sweeps of the first stage's two sets of fixed effects
_DEMEAN_SWEEPS = 200


class PanelFormatError(PricewarError, ValueError):
    """A panel that does not have the documented format (names the column and the value)."""


class SubstitutionIdentificationError(PricewarError, ValueError):
    """The panel has no variation that identifies a free parameter (says which and why)."""


@dataclass(frozen=True)
class SubstitutionParameters:
    """The substitution parameters (market.toml's names and units; docs/calibration.md C17).

    ``bulk_alpha_excess`` and ``quality_alpha_excess``: ``alpha_c - eta`` (1);
    ``bulk_class_share`` (share); ``nest_sigma`` (``sigma_family``) and ``tier_sigma`` (1);
    ``family_utils``: ``xi_f`` per family label (utils, the first family 0);
    ``control_utils``: ``rho`` (utils per unit of the first stage's log-price residual).
    """

    bulk_alpha_excess: float
    quality_alpha_excess: float
    bulk_class_share: float
    nest_sigma: float
    tier_sigma: float
    family_utils: dict = field(default_factory=dict)
    control_utils: float = 0.0

    def as_dict(self) -> dict[str, float]:
        """Every parameter by name, family effects as ``family_utils[<family>]``."""
        named = {name: float(getattr(self, name))
                 for name in (*CLASS_PARAMETERS, *NEST_PARAMETERS, "control_utils")}
        named.update({f"family_utils[{f}]": float(v) for f, v in self.family_utils.items()})
        return named


@dataclass(frozen=True)
class SubstitutionEstimate:
    """What :func:`estimate_substitution` found.

    ``parameters`` the estimate; ``standard_error`` and ``covariance`` over the free parameters
    (names as :meth:`SubstitutionParameters.as_dict`, fixed ones absent);
    ``log_likelihood`` ``l`` at the estimate; ``n_market_periods``, ``n_rows``;
    ``first_stage_f`` the F statistic of the cost shifters in the first stage (None without);
    ``converged`` whether the optimiser met its tolerance.
    """

    parameters: SubstitutionParameters
    standard_error: dict[str, float]
    covariance: pd.DataFrame
    log_likelihood: float
    n_market_periods: int
    n_rows: int
    first_stage_f: float | None
    converged: bool

    @property
    def alpha_excess(self) -> dict[str, float]:
        """``alpha_c - eta`` per class (bulk, quality)."""
        p = self.parameters
        return {"bulk": p.bulk_alpha_excess, "quality": p.quality_alpha_excess}


# --- the panel ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Panel:
    """A validated panel as arrays, rows sorted by (market, period)."""

    frame: pd.DataFrame  # sorted rows, for labels
    families: list
    segment_ptr: np.ndarray  # (G+1,) rows of each market-period
    segment_market: np.ndarray  # (G,) market code
    segment_first: np.ndarray  # (G,) True where the period is its market's first
    price: np.ndarray  # (n,) USD/Mtok
    lagged_price: np.ndarray  # (n,) last period's price of the product in the market, or price
    family: np.ndarray  # (n,) family code
    tier: np.ndarray  # (n,) tier code
    share: np.ndarray  # (n,) observed share of the market-period's tokens
    first_stage: _FirstStage | None  # the control function (None without cost shifters)
    cell_start: np.ndarray  # first row of each observed cell (a product, or a family's hosts)
    cell_segment: np.ndarray  # market-period of each cell

    @property
    def control(self) -> np.ndarray:
        """``vhat`` per row (0 without cost shifters)."""
        return (np.zeros(self.price.size) if self.first_stage is None
                else self.first_stage.residual())


def _check_columns(panel: pd.DataFrame, tokens_column: str) -> None:
    if not isinstance(panel, pd.DataFrame):
        raise PanelFormatError(f"panel must be a pandas DataFrame, got {type(panel).__name__}")
    needed = [c for c in PANEL_COLUMNS if c != "tokens"] + [tokens_column]
    missing = [c for c in needed if c not in panel.columns]
    if missing:
        raise PanelFormatError(f"panel lacks the columns {missing} (needs {needed}; "
                               "pricewar.calibrate.substitution docstring)")
    if len(panel) == 0:
        raise PanelFormatError("panel has no rows")
    for column in ("price_usd_per_mtok", tokens_column):
        values = pd.to_numeric(panel[column], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise PanelFormatError(f"panel column {column!r} must be finite and >= 0, got "
                                   f"{panel[column].iloc[row]!r} (row {row})")
    duplicated = panel.duplicated(["period", "market", "product_id"])
    if duplicated.any():
        row = panel[duplicated].iloc[0]
        raise PanelFormatError(f"product {row['product_id']!r} appears twice in market "
                               f"{row['market']!r}, period {row['period']!r}")
    for label, by in (("family", "product_id"), ("tier", "family")):
        spread = panel.groupby(by)[label].nunique()
        if (spread > 1).any():
            raise PanelFormatError(f"{by} {spread[spread > 1].index[0]!r} has several "
                                   f"{label} labels: one {label} per {by}")


def _demean(values: np.ndarray, codes: list[np.ndarray]) -> np.ndarray:
    """``values`` (n, k) less their projection on the dummies of every code (alternating
    projections: the Frisch-Waugh-Lovell residual of two sets of fixed effects)."""
    out = values.copy()
    for _ in range(_DEMEAN_SWEEPS):
        before = out.copy()
        for code in codes:
            count = np.bincount(code)
            for k in range(out.shape[1]):
                out[:, k] -= (np.bincount(code, out[:, k]) / count)[code]
        if np.abs(out - before).max() <= 1e-12 * max(1.0, np.abs(values).max()):
            break
    return out


@dataclass(frozen=True, eq=False)
class _FirstStage:
    """The control function's first stage on demeaned data: ``log_price`` (n,), ``shifters``
    (n, q), the coefficients ``coef`` (q,) and the shifters' F statistic; the residual
    ``log_price - shifters @ coef`` is ``vhat``."""

    log_price: np.ndarray
    shifters: np.ndarray
    coef: np.ndarray
    f_stat: float

    def residual(self, coef=None) -> np.ndarray:
        return self.log_price - self.shifters @ (self.coef if coef is None else coef)


def _first_stage(log_price: np.ndarray, shifters: np.ndarray, family: np.ndarray,
                 segment: np.ndarray, names: list[str]) -> _FirstStage:
    """``log(p + pbar)`` on the cost shifters with family and market-period effects (module
    docstring). The effects' estimation error in ``vhat`` is constant within a family (the
    family effects absorb it) or within a market-period (it cancels in shares)."""
    both = _demean(np.column_stack([log_price, shifters]), [family, segment])
    y, x = both[:, 0], both[:, 1:]
    scale = np.abs(shifters - shifters.mean(axis=0)).mean(axis=0)
    flat = np.sqrt((x ** 2).mean(axis=0)) <= 1e-9 * np.maximum(scale, 1e-300)
    if flat.any():
        raise SubstitutionIdentificationError(
            f"cost shifter {names[int(np.argmax(flat))]!r} has no variation beyond the family "
            "and market-period effects: it cannot instrument the price")
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = y - x @ coef
    n, k = x.shape
    dof = n - k - (np.unique(family).size + np.unique(segment).size - 1)
    rss_u, rss_r = float(residual @ residual), float(y @ y)
    f_stat = ((rss_r - rss_u) / k) / (rss_u / dof) if dof > 0 and rss_u > 0 else np.inf
    return _FirstStage(y, x, coef, float(f_stat))


def _prepare(panel: pd.DataFrame, tokens_column: str, price_offset: float,
             tokens_by: str = "product") -> _Panel:
    if tokens_by not in TOKENS_BY:
        raise ValueError(f"tokens_by must be one of {TOKENS_BY}, got {tokens_by!r}")
    _check_columns(panel, tokens_column)
    frame = panel.sort_values(["market", "period", "tier", "family", "host"],
                              kind="stable").reset_index(drop=True)
    tokens = frame[tokens_column].to_numpy(float)
    group = frame.groupby(["market", "period"], sort=False).ngroup().to_numpy()
    total = np.bincount(group, tokens)
    if (total <= 0).any():
        g = int(np.argmax(total <= 0))
        row = frame[group == g].iloc[0]
        raise PanelFormatError(f"market {row['market']!r}, period {row['period']!r} has no "
                               f"tokens: shares are undefined")
    n_groups = total.size
    counts = np.bincount(group, minlength=n_groups)
    ptr = np.r_[0, np.cumsum(counts)]
    market = frame["market"].to_numpy()[ptr[:-1]]
    market_code = pd.factorize(market)[0]
    first = np.r_[True, market_code[1:] != market_code[:-1]]
    families = list(pd.unique(frame["family"]))
    family = pd.Categorical(frame["family"], categories=families).codes.astype(np.int64)
    tier = pd.factorize(frame["tier"])[0].astype(np.int64)
    price = frame["price_usd_per_mtok"].to_numpy(float)
    if price_offset <= 0 and (price <= 0).any():
        raise PanelFormatError("a price of 0 needs price_offset_usd_per_mtok > 0 (log form)")
    # last period's price of the same product in the same market (the chained volume)
    order = frame.groupby(["market", "product_id"], sort=False).cumcount().to_numpy()
    previous = frame.groupby(["market", "product_id"], sort=False)[
        "price_usd_per_mtok"].shift(1).to_numpy(float)
    lagged = np.where(order > 0, previous, price)
    lagged = np.where(first[group], price, lagged)  # a market's first period: no change
    lagged = np.where(np.isfinite(lagged), lagged, price)
    _check_within_model(frame)
    # rows are sorted by (market, period, tier, family): a family's hosts are one run
    cell_start = (np.arange(len(frame)) if tokens_by == "product" else np.flatnonzero(
        np.r_[True, (group[1:] != group[:-1]) | (family[1:] != family[:-1])]))
    shifter_names = [c for c in frame.columns if str(c).startswith(COST_SHIFTER_PREFIX)]
    if shifter_names:
        shifters = frame[shifter_names].to_numpy(float)
        if not np.isfinite(shifters).all():
            raise PanelFormatError(f"cost shifter columns {shifter_names} must be finite")
        first_stage = _first_stage(np.log(price + price_offset), shifters, family, group,
                                   shifter_names)
    else:
        first_stage = None
    return _Panel(frame=frame, families=families, segment_ptr=ptr, segment_market=market_code,
                  segment_first=first, price=price, lagged_price=lagged, family=family,
                  tier=tier, share=tokens / total[group], first_stage=first_stage,
                  cell_start=cell_start, cell_segment=group[cell_start])


def _check_within_model(frame: pd.DataFrame) -> None:
    """Raise when no model is sold by two hosts at different prices in one market-period."""
    key = ["market", "period", "family"]
    hosts = frame.groupby(key)["host"].nunique()
    log_price = np.log(frame["price_usd_per_mtok"].clip(lower=1e-300))
    by_model = log_price.groupby([frame[k] for k in key])
    spread = by_model.max() - by_model.min()
    if not ((hosts >= 2) & (spread.reindex(hosts.index) > 0)).any():
        raise SubstitutionIdentificationError(
            "alpha is not identified separately from the family effect: no model (family) is "
            "sold by two hosts at different prices in one market-period (the within-model, "
            "across-host price variation that does not move quality)")


def _check_identified(panel: _Panel, free: set[str]) -> None:
    """Raise when a free nest parameter has no variation in the panel that identifies it."""
    frame = panel.frame
    if "tier_sigma" not in free:
        return
    tiers = frame.groupby(["market", "period"])["tier"].nunique()
    if not (tiers >= 2).any():
        raise SubstitutionIdentificationError(
            "tier_sigma is not identified separately from alpha: no market-period has two "
            "tiers (without an outside option, one tier scales every utility by 1/(1 - "
            "tier_sigma)); fix tier_sigma or add tiers")
    families = frame.groupby(["market", "period", "tier"])["family"].nunique()
    if not (families >= 2).any():
        raise SubstitutionIdentificationError(
            "tier_sigma is not identified: no tier has two families in one market-period "
            "(substitution within a tier needs rival families); fix tier_sigma")


# --- parameters and shares ------------------------------------------------------------------


@dataclass(frozen=True)
class _Layout:
    """Free coordinates ``z`` <-> parameters (see :func:`_unpack`)."""

    free: tuple[str, ...]  # free parameter names in z's order (families as family_utils[f])
    fixed: dict
    classes: int
    families: list

    def unpack(self, z: np.ndarray) -> dict[str, float]:
        """Parameter values from free coordinates: exp/expit maps keep ``e_bulk >= e_quality >
        0``, ``w`` in (0, 1) and ``0 <= tier_sigma <= nest_sigma < 1``."""
        raw = dict(zip(self.free, z, strict=True))
        value = dict(self.fixed)
        if "quality_alpha_excess" in raw:
            value["quality_alpha_excess"] = (
                float(np.exp(raw["quality_alpha_excess"])) if "bulk_alpha_excess" in raw
                else value["bulk_alpha_excess"] * float(expit(raw["quality_alpha_excess"])))
        if "bulk_alpha_excess" in raw:
            floor = value["quality_alpha_excess"] if self.classes == 2 else 0.0
            value["bulk_alpha_excess"] = floor + float(np.exp(raw["bulk_alpha_excess"]))
        if "bulk_class_share" in raw:
            value["bulk_class_share"] = float(expit(raw["bulk_class_share"]))
        if "nest_sigma" in raw:
            floor = value.get("tier_sigma", 0.0) if "tier_sigma" not in raw else 0.0
            value["nest_sigma"] = floor + (1.0 - floor) * float(expit(raw["nest_sigma"]))
        if "tier_sigma" in raw:
            value["tier_sigma"] = value["nest_sigma"] * float(expit(raw["tier_sigma"]))
        for name in self.free:
            if name.startswith("family_utils[") or name == "control_utils":
                value[name] = float(raw[name])
        return value

    def parameters(self, value: dict[str, float]) -> SubstitutionParameters:
        return SubstitutionParameters(
            bulk_alpha_excess=value["bulk_alpha_excess"],
            quality_alpha_excess=value["quality_alpha_excess"],
            bulk_class_share=value["bulk_class_share"], nest_sigma=value["nest_sigma"],
            tier_sigma=value["tier_sigma"],
            family_utils={f: value.get(f"family_utils[{f}]", 0.0) for f in self.families},
            control_utils=value.get("control_utils", 0.0))


def _class_demand(panel: _Panel, value: dict[str, float], eta: float, price_offset: float,
                  control: np.ndarray):
    """Each market-period's log class volume ``log V_gc`` (G, K; ``-inf`` for a class without
    buyers) and each row's within-class share ``s_jc`` (K, n), from the kernel's GNL (module
    docstring)."""
    n = panel.price.size
    xi = np.array([value.get(f"family_utils[{f}]", 0.0) for f in panel.families])
    utility = xi[panel.family] + value.get("control_utils", 0.0) * control
    excess = [value["bulk_alpha_excess"], value["quality_alpha_excess"]]
    share = value["bulk_class_share"]
    weights = np.array([share, 1.0 - share])
    n_segments = panel.segment_ptr.size - 1
    market = gnl_market(panel.segment_ptr, np.arange(n), utility, product_tier=panel.tier,
                        product_family=panel.family, tier_sigma=value["tier_sigma"],
                        family_sigma=value["nest_sigma"], class_alpha=eta + np.array(excess),
                        class_weight=weights, segment_eta=np.full(n_segments, eta),
                        product_price_offset=price_offset)
    now = gnl_demand(market, panel.price)
    before = gnl_demand(market, panel.lagged_price)
    # chained class volumes: log V_t = log V_t-1 + (eta/alpha_c)(IV_t(p_t) - IV_t(p_t-1))
    step = (eta / market.class_alpha) * (now.logsum - before.logsum)  # (G, K)
    step[panel.segment_first] = 0.0
    cumulative = np.cumsum(step, axis=0)
    start = np.maximum.accumulate(np.where(panel.segment_first, np.arange(n_segments), 0))
    cumulative -= cumulative[start] - step[start]
    with np.errstate(divide="ignore"):
        log_volume = np.log(weights) + cumulative
    row_share = np.empty_like(now.route_share)
    row_share[:, market.route_product] = now.route_share
    return log_volume, row_share


def _row_shares(panel: _Panel, value: dict[str, float], eta: float, price_offset: float,
                control: np.ndarray) -> np.ndarray:
    """Predicted share of each row in its market-period's tokens: ``sum_c V_gc s_jc / sum_c
    V_gc``."""
    log_volume, row_share = _class_demand(panel, value, eta, price_offset, control)
    segment = np.repeat(np.arange(log_volume.shape[0]), np.diff(panel.segment_ptr))
    volume = np.exp(log_volume - log_volume.max(axis=1, keepdims=True))
    weight = volume / volume.sum(axis=1, keepdims=True)
    return (weight.T[:, segment] * row_share).sum(axis=0)


def _segment_loglik(panel: _Panel, layout: _Layout, z: np.ndarray, eta: float,
                    price_offset: float, first_stage_coef=None) -> np.ndarray:
    """``l_g`` per market-period at free coordinates ``z`` (and the first stage's coefficients,
    default its estimate)."""
    control = (panel.control if panel.first_stage is None
               else panel.first_stage.residual(first_stage_coef))
    shares = _row_shares(panel, layout.unpack(z), eta, price_offset, control)
    observed = np.add.reduceat(panel.share, panel.cell_start)
    predicted = np.add.reduceat(shares, panel.cell_start)
    terms = observed * np.log(np.maximum(predicted, _SHARE_FLOOR))
    return np.bincount(panel.cell_segment, terms, panel.segment_ptr.size - 1)


def _layout(panel: _Panel, classes: int, fixed: dict | None) -> _Layout:
    fixed = dict(fixed or {})
    known = {*CLASS_PARAMETERS, *NEST_PARAMETERS}
    unknown = set(fixed) - known
    if unknown:
        raise ValueError(f"fixed names unknown parameters {sorted(unknown)}; fixable: "
                         f"{sorted(known)}")
    if classes not in (1, 2):
        raise ValueError(f"classes must be 1 or 2 (bulk, quality), got {classes!r}")
    if classes == 1:  # one class: the bulk class holds every buyer
        fixed.setdefault("bulk_class_share", 1.0)
        fixed.setdefault("quality_alpha_excess", 1.0)  # no buyer: any value > 0
        if fixed["bulk_class_share"] != 1.0:
            raise ValueError("with classes=1 the bulk class holds every buyer "
                             "(bulk_class_share 1)")
    for name, v in fixed.items():
        if name in ("bulk_alpha_excess", "quality_alpha_excess") and not v > 0:
            raise ValueError(f"fixed {name} must be > 0 (alpha_c > eta), got {v!r}")
        if name in NEST_PARAMETERS and not 0 <= v < 1:
            raise ValueError(f"fixed {name} must lie in [0, 1), got {v!r}")
        if name == "bulk_class_share" and not 0 <= v <= 1:
            raise ValueError(f"fixed bulk_class_share must lie in [0, 1], got {v!r}")
    if fixed.get("tier_sigma", 0.0) > fixed.get("nest_sigma", 1.0):
        raise ValueError("fixed tier_sigma must not exceed nest_sigma (sigma_tier <= "
                         "sigma_family)")
    if (classes == 2 and {"bulk_alpha_excess", "quality_alpha_excess"} <= set(fixed)
            and fixed["bulk_alpha_excess"] < fixed["quality_alpha_excess"]):
        raise ValueError("fixed bulk_alpha_excess must be >= quality_alpha_excess (the bulk "
                         "class is the price-sensitive one)")
    order = ("quality_alpha_excess", "bulk_alpha_excess", "bulk_class_share", "tier_sigma",
             "nest_sigma")
    free = [name for name in order if name not in fixed]
    free += [f"family_utils[{f}]" for f in panel.families[1:]]
    if panel.first_stage is not None:
        free.append("control_utils")
    return _Layout(tuple(free), fixed, classes, panel.families)


def _start(layout: _Layout) -> np.ndarray:
    """Starting coordinates: ``z = 0`` (``e_q = 1``, ``e_b = 2``, ``w = 0.5``, ``sigma_tier =
    sigma_family / 2``, ``sigma_family = 0.5``; no family effect): a point, not a value."""
    return np.zeros(len(layout.free))


# --- estimation -----------------------------------------------------------------------------


def _hessian(function, z: np.ndarray) -> np.ndarray:
    """Central-difference Hessian of a scalar function."""
    k = z.size
    h = _STEP * np.maximum(1.0, np.abs(z))
    out = np.empty((k, k))
    f0 = function(z)
    for i in range(k):
        for j in range(i, k):
            if i == j:
                e = np.zeros(k)
                e[i] = h[i]
                out[i, i] = (function(z + e) - 2.0 * f0 + function(z - e)) / h[i] ** 2
            else:
                ei, ej = np.zeros(k), np.zeros(k)
                ei[i], ej[j] = h[i], h[j]
                out[i, j] = out[j, i] = (function(z + ei + ej) - function(z + ei - ej)
                                         - function(z - ei + ej)
                                         + function(z - ei - ej)) / (4.0 * h[i] * h[j])
    return out


def _jacobian(function, z: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian of a vector function, shape (len(f), len(z))."""
    h = _STEP * np.maximum(1.0, np.abs(z))
    columns = []
    for i in range(z.size):
        e = np.zeros(z.size)
        e[i] = h[i]
        columns.append((function(z + e) - function(z - e)) / (2.0 * h[i]))
    return np.column_stack(columns)


def _polish(negative, gradient, z: np.ndarray, steps: int = 8, tol: float = 1e-6):
    """Newton steps on the optimiser's point (halving a step that does not improve), until
    the gradient's largest entry is below ``tol``: the numerical BFGS stops short of it. Returns
    the point, the Hessian there and whether the gradient met ``tol``."""
    hessian = _hessian(negative, z)
    for _ in range(steps):
        grad = gradient(z)
        if np.abs(grad).max() <= tol:
            return z, hessian, True
        try:
            step = np.linalg.solve(hessian, grad)
        except np.linalg.LinAlgError:
            break
        f0, size = negative(z), 1.0
        while size > 1e-4 and negative(z - size * step) > f0:
            size /= 2.0
        if size <= 1e-4:
            break
        z = z - size * step
        hessian = _hessian(negative, z)
    return z, hessian, bool(np.abs(gradient(z)).max() <= tol)


def _sandwich(data: _Panel, loglik, z: np.ndarray, hessian: np.ndarray) -> np.ndarray:
    """Covariance of ``z``: ``D^-1 B D^-T`` over the stacked estimating equations of the
    market-periods (the likelihood's scores and, with a control function, the first stage's
    normal equations; Newey & McFadden 1994, §6), ``hessian`` that of ``-l``."""
    scores = _jacobian(loglik, z)  # (G, k): each market-period's score
    k = z.size
    if data.first_stage is None:
        psi, jac = scores, -hessian
    else:
        stage = data.first_stage
        segment = np.repeat(np.arange(data.segment_ptr.size - 1), np.diff(data.segment_ptr))
        moments = np.column_stack([np.bincount(segment, col * stage.residual(),
                                               segment.max() + 1) for col in stage.shifters.T])
        cross = _jacobian(lambda coef: _jacobian(lambda x: np.array([loglik(x, coef).sum()]),
                                                 z)[0], stage.coef)  # (k, q)
        q = stage.coef.size
        psi = np.column_stack([scores, moments])
        jac = np.block([[-hessian, cross],
                        [np.zeros((q, k)), -(stage.shifters.T @ stage.shifters)]])
    try:
        inverse = np.linalg.inv(jac)
    except np.linalg.LinAlgError:
        return np.full((k, k), np.nan)
    return (inverse @ (psi.T @ psi) @ inverse.T)[:k, :k]


def estimate_substitution(panel: pd.DataFrame, *, eta: float, price_offset_usd_per_mtok: float,
                          classes: int = 2, fixed: dict[str, float] | None = None,
                          tokens_column: str = "tokens", tokens_by: str = "product",
                          starts: int = 3,
                          seed: int = 0) -> SubstitutionEstimate:
    """Estimate the substitution parameters from a panel (module docstring).

    Parameters
    ----------
    panel : DataFrame with :data:`PANEL_COLUMNS` (``tokens`` may be renamed by
        ``tokens_column``) and optional ``cost_shifter*`` columns
    eta : the volume elasticity ``eta > 1`` of the panel's buyers (sectors.toml ``eta``): the
        class sensitivities are ``alpha_c = eta + e_c``
    price_offset_usd_per_mtok : ``pbar`` in ``alpha log(p + pbar)`` (market.toml
        ``[market] price_offset_usd_per_mtok``), USD/Mtok
    classes : 2 (bulk and quality classes) or 1 (every buyer in the bulk class)
    fixed : parameters held at a value instead of estimated (names of
        :data:`CLASS_PARAMETERS` and :data:`NEST_PARAMETERS`)
    tokens_column : the column of token volumes to fit: the shoppers' (module docstring)
    tokens_by : "product", or "family" when tokens are known per model only (OpenRouter's
        rankings): each (market, period, family)'s tokens are summed over its hosts and fitted
        by the sum of its hosts' predicted shares; hosts' prices then act only through the
        family's inclusive value (a weaker identification of alpha and nest_sigma)
    starts : optimiser starts, the first at ``z = 0``, the others drawn (``seed``)
    """
    if not (np.isfinite(eta) and eta > 1):
        raise ValueError(f"eta must be > 1 (well-posedness: alpha_c >= eta > 1), got {eta!r}")
    if not (np.isfinite(price_offset_usd_per_mtok) and price_offset_usd_per_mtok >= 0):
        raise ValueError("price_offset_usd_per_mtok must be >= 0, got "
                         f"{price_offset_usd_per_mtok!r}")
    if starts < 1:
        raise ValueError(f"starts must be >= 1, got {starts!r}")
    data = _prepare(panel, tokens_column, price_offset_usd_per_mtok, tokens_by)
    layout = _layout(data, classes, fixed)
    _check_identified(data, set(layout.free))
    n_groups = data.segment_ptr.size - 1

    def loglik(z, coef=None) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return _segment_loglik(data, layout, z, eta, price_offset_usd_per_mtok, coef)

    def negative(z) -> float:  # -l per market-period: the optimiser's scale
        value = -float(loglik(z).sum()) / n_groups
        return value if np.isfinite(value) else 1e300

    def gradient(z) -> np.ndarray:
        return _jacobian(lambda x: np.array([negative(x)]), z)[0]

    rng = np.random.default_rng(seed)
    best = None
    for attempt in range(starts):
        z0 = _start(layout) if attempt == 0 else rng.normal(0.0, 1.0, len(layout.free))
        fit = minimize(negative, z0, jac=gradient, method="BFGS",
                       options={"gtol": 1e-8, "maxiter": 2000})
        if best is None or fit.fun < best.fun:
            best = fit
    z, hessian, converged = _polish(negative, gradient, best.x)
    names = list(layout.free)
    # a bounded parameter at its bound (sigma_tier 0, classes that coincide, ...) has no
    # asymptotic normal law: its free coordinate is held at the estimate, its standard error NaN
    bounded = np.array([name in (*CLASS_PARAMETERS, *NEST_PARAMETERS) for name in names])
    at_bound = bounded & (np.abs(z) > BOUND_COORDINATE)
    inner = np.flatnonzero(~at_bound)

    def loglik_inner(x, coef=None):
        full = z.copy()
        full[inner] = x
        return loglik(full, coef)

    cov_z = np.zeros((z.size, z.size))
    cov_z[np.ix_(inner, inner)] = _sandwich(data, loglik_inner, z[inner],
                                            hessian[np.ix_(inner, inner)] * n_groups)
    value_of = lambda x: np.array([layout.unpack(x)[name] for name in names])  # noqa: E731
    map_jac = _jacobian(value_of, z)
    cov = map_jac @ cov_z @ map_jac.T
    cov[at_bound, :] = cov[:, at_bound] = np.nan
    values = layout.unpack(z)
    return SubstitutionEstimate(
        parameters=layout.parameters(values),
        standard_error={name: float(np.sqrt(max(cov[i, i], 0.0))) if np.isfinite(cov[i, i])
                        else float("nan") for i, name in enumerate(names)},
        covariance=pd.DataFrame(cov, index=names, columns=names),
        log_likelihood=-negative(z) * n_groups, n_market_periods=n_groups,
        n_rows=int(data.price.size),
        first_stage_f=None if data.first_stage is None else data.first_stage.f_stat,
        converged=converged)


def predicted_shares(panel: pd.DataFrame, parameters: SubstitutionParameters, *, eta: float,
                     price_offset_usd_per_mtok: float, tokens_column: str = "tokens",
                     tokens_by: str = "product") -> pd.Series:
    """The model's share of each row (or, with ``tokens_by="family"``, of each row's family) in
    its market-period's tokens at ``parameters`` (module docstring), indexed as ``panel``: what
    an estimate predicts for a panel it was not fitted on. Every family of ``panel`` needs an
    effect in ``parameters.family_utils``; without cost shifters the control term is 0."""
    missing = sorted(set(panel["family"]) - set(parameters.family_utils))
    if missing:
        raise ValueError(f"families without an effect in parameters.family_utils: {missing}")
    rows = panel.assign(_row=np.arange(len(panel)))
    data = _prepare(rows, tokens_column, price_offset_usd_per_mtok, tokens_by)
    value = parameters.as_dict()
    shares = _row_shares(data, value, eta, price_offset_usd_per_mtok, data.control)
    if tokens_by == "family":
        cells = np.repeat(np.arange(data.cell_start.size),
                          np.diff(np.r_[data.cell_start, shares.size]))
        shares = np.add.reduceat(shares, data.cell_start)[cells]
    out = np.empty(len(panel))
    out[data.frame["_row"].to_numpy()] = shares
    return pd.Series(out, index=panel.index, name="predicted_share")


# --- synthetic panels -----------------------------------------------------------------------


def synthetic_panel(truth: SubstitutionParameters, *, eta: float,
                    price_offset_usd_per_mtok: float, families_per_tier: tuple[int, ...] = (2, 2),
                    hosts_per_family: int = 3, n_markets: int = 2, n_periods: int = 20,
                    buyers_per_market_period: int = 20_000, review_hazard: float = 1.0,
                    price_sd: float = 0.2, shifter_sd: float = 0.3,
                    seed: int = 0) -> pd.DataFrame:
    """A panel in :func:`estimate_substitution`'s format drawn from known parameters.

    Family ``f`` (labels ``f0, f1, ...``, tiers ``t0, t1, ...``) is sold by every host ``h0,
    h1, ...`` in every market and period at ``log p = a_f + z_ht + v_jt``: ``a_f`` a drawn
    family price level (N(0, 0.5)), ``z_ht`` the host's cost shifter (a host level N(0, 0.3)
    plus N(0, ``shifter_sd``) per period; the ``cost_shifter_rent`` column) and ``v_jt`` a price
    shock N(0, ``price_sd``) that also moves quality: ``xi_jt = control_utils v_jt`` (the
    endogeneity the control function removes). The class volumes and shares are the estimator's
    (the kernel's GNL). Buyers commit to the product they chose and review it with hazard
    ``review_hazard`` per period (:func:`~pricewar.kernel.customer_states.move_states`; every
    buyer shops in the first period; when a class's volume falls, its committed volume falls in
    proportion, so stock + flow = the class's volume): ``tokens`` is every
    buyer's purchases (the stock), ``shopper_tokens`` the shoppers' (the flow), each a
    multinomial draw of ``buyers_per_market_period`` buyers (Mtok, one per buyer).
    """
    if not 0 < review_hazard <= 1:
        raise ValueError(f"review_hazard must lie in (0, 1], got {review_hazard!r}")
    rng = np.random.default_rng(seed)
    families = [(f"f{i}", f"t{t}") for i, (t, n) in enumerate(
        (t, n) for t, count in enumerate(families_per_tier) for n in range(count))]
    hosts = [f"h{i}" for i in range(hosts_per_family)]
    family_level = rng.normal(0.0, 0.5, len(families))
    host_level = rng.normal(0.0, 0.3, len(hosts))
    rows = []
    for period in range(n_periods):
        rent = host_level + rng.normal(0.0, shifter_sd, len(hosts))
        for market in range(n_markets):
            shock = rng.normal(0.0, price_sd, (len(families), len(hosts)))
            for i, (family, tier) in enumerate(families):
                for h, host in enumerate(hosts):
                    rows.append((period, f"m{market}", f"{family}@{host}", family, tier, host,
                                 float(np.exp(family_level[i] + rent[h] + shock[i, h])), 1.0,
                                 rent[h], shock[i, h]))
    frame = pd.DataFrame(rows, columns=[*PANEL_COLUMNS, "cost_shifter_rent", "price_shock"])
    frame = frame.sort_values(["market", "period", "tier", "family", "host"],
                              kind="stable").reset_index(drop=True)
    data = _prepare(frame[list(PANEL_COLUMNS)], "tokens", price_offset_usd_per_mtok)
    value = {**truth.as_dict()}
    log_volume, row_share = _class_demand(data, value, eta, price_offset_usd_per_mtok,
                                          frame["price_shock"].to_numpy())
    volume = buyers_per_market_period * np.exp(log_volume)  # (G, K)
    product = pd.factorize(frame["product_id"])[0]
    committed = np.zeros((int(product.max()) + 1, volume.shape[1]))
    stock, flow = np.empty(len(frame)), np.empty(len(frame))
    ptr = data.segment_ptr
    for g in range(volume.shape[0]):
        rows_g = slice(ptr[g], ptr[g + 1])
        products = product[rows_g]
        if data.segment_first[g]:
            committed[:] = 0.0
        hazard = 1.0 if data.segment_first[g] else review_hazard
        # a class whose volume fell buys less from every host it is committed to
        held = committed[products].sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(held > volume[g], volume[g] / held, 1.0)
        kept = committed[products] * scale
        shoppers = volume[g] - (kept * (1.0 - hazard)).sum(axis=0)  # (K,), >= h V
        won = row_share[:, rows_g].T  # (rows, K)
        committed[products] = move_states(kept, hazard, shoppers, won)
        stock[rows_g] = committed[products].sum(axis=1)
        flow[rows_g] = (shoppers * won).sum(axis=1)
    for column, volumes in (("tokens", stock), ("shopper_tokens", flow)):
        drawn = np.empty(len(frame))
        for g in range(ptr.size - 1):
            part = volumes[ptr[g]:ptr[g + 1]]
            drawn[ptr[g]:ptr[g + 1]] = rng.multinomial(buyers_per_market_period,
                                                       part / part.sum())
        frame[column] = drawn
    return frame.drop(columns="price_shock")
