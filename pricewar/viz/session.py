"""One browser session's market: the model built from the control panel, or why it could not be.

Reset (:class:`~pricewar.viz.run_controls.ModelController`, as Mesa's) rebuilds the model as
``type(model)(**model_parameters)``. A bad
combination of controls must then show a message, not a traceback, so the class Reset rebuilds is
:class:`MarketSession`: it wraps :class:`~pricewar.model.PriceWarModel` and keeps the
:class:`~pricewar.errors.ScenarioError` text when the scenario rejects the controls.

The control panel edits one dict of :class:`MarketSession` keywords (:func:`session_settings`), and
Reset builds exactly that dict, so the controls show what runs. Choosing another scenario moves the
sliders to that scenario's own values (:func:`switch_scenario`); strategy, seed and consumers stay.

A session records what its pictures need at every step (:class:`StepRecord`: network flows, cost
breakdown), so the page can show any earlier step from recorded data instead of copies of the
model. It can also run a second model, B, with the same seed and consumers in lock step
(:meth:`MarketSession.compare_with`).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import mesa

from pricewar.errors import PricewarError, ScenarioError
from pricewar.model import PriceWarModel
from pricewar.scenario import Scenario, load_scenario, scenario_names
from pricewar.scenario.catalogue import CHIP_REGIMES
from pricewar.scenario.parameters import sliders
from pricewar.strategies import STRATEGY_REGISTRY
from pricewar.viz import drawing

log = logging.getLogger(__name__)

#: consumers in a browser session: enough for every region x sector segment, light enough that a
#: step (model + six figures) renders well under a second
VIZ_CONSUMERS = 500
VIZ_SEED = 1

#: value of the strategy selector that keeps each producer group's strategy from the scenario
SCENARIO_STRATEGY = "as in scenario"

#: market controls: override key -> (label, slider min, max, step); the slider starts at the
#: scenario's value (and its range widens to include it). Every shipped scenario's value must
#: lie on the step grid: the browser's slider rounds to its step when the page redraws it, and
#: Reset would then run the rounded value (0.013 for a demand growth of 0.0134 at step 0.001).
#: Demand growth steps by 1e-4: the coarsest power of ten with every shipped value on its grid
#: (0.0134, calibrated 0.0106) and the precision the parameters line prints (1e-5 gave dragged
#: values like 0.05942, shown as 0.0594). Declared in pricewar.scenario.parameters.
SLIDERS: dict[str, tuple[str, float, float, float]] = sliders("market")

#: the "Policy levers" group: flat overrides of the scenario's ``policy`` section and the
#: customer-base bonus, as :data:`SLIDERS`. Ranges may be narrower than the declared bounds: a
#: slider step must stay usable; a scenario value outside them widens the slider.
POLICY_SLIDERS: dict[str, tuple[str, float, float, float]] = sliders("policy")

#: select controls: override key -> (label, values)
SELECTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "chip_regime": ("Chip regime", CHIP_REGIMES),
}

#: every control that is a scenario override (not scenario, strategy, consumers, seed)
LEVERS = (*SLIDERS, *POLICY_SLIDERS, *SELECTS)
#: sliders of both groups
ALL_SLIDERS = {**SLIDERS, **POLICY_SLIDERS}


def control_values(scenario: Scenario) -> dict[str, float | str]:
    """The scenario's own values of the controls of :data:`LEVERS` (units as in
    :data:`SLIDERS` and :data:`POLICY_SLIDERS`)."""
    policy = scenario.policy
    return {
        "electricity_cn_west": scenario.regions["cn_west"].electricity_usd_per_kwh,
        "electricity_us": scenario.regions["us"].electricity_usd_per_kwh,
        "hub_latency_ms": scenario.latency_ms["cn_west"]["cn_east"],
        "demand_growth": scenario.demand.growth_per_step,
        **{key: getattr(policy, key) for key in POLICY_SLIDERS if key != "customer_base_kappa"},
        "customer_base_kappa": scenario.demand.customer_base_kappa_utils,
        "chip_regime": policy.chip_regime,
    }


def _typed(key: str, value):
    return str(value) if key in SELECTS else float(value)


def policy_text(values: dict) -> str:
    """The policy levers of :func:`control_values` in words and units."""
    return (f"carbon price {values['carbon_price_usd_per_t']:g} USD/t · power subsidy on "
            f"domestic chips {values['power_subsidy_domestic_chips']:.2f} · capex subsidy "
            f"{values['capex_subsidy']:.2f} · WACC {values['wacc']:.3f}/year · export-control "
            f"penalty {values['export_control_penalty']:.2f}, lag "
            f"{values['export_control_lag_years']:g} years · chip regime "
            f"{values['chip_regime']} · customer-base kappa "
            f"{values['customer_base_kappa']:.2f} utils")


def session_settings(scenario: str = "baseline", *, n_consumers: int = VIZ_CONSUMERS,
                     seed: int = VIZ_SEED, producer_strategy: str = SCENARIO_STRATEGY) -> dict:
    """The :class:`MarketSession` keywords with the controls at ``scenario``'s own values."""
    values = control_values(load_scenario(scenario))
    return {"scenario": scenario, "controls_scenario": scenario,
            **{key: _typed(key, values[key]) for key in LEVERS},
            "producer_strategy": producer_strategy, "n_consumers": n_consumers, "seed": seed}


def switch_scenario(settings: dict, scenario: str) -> dict:
    """``settings`` for another scenario: its own slider values; strategy, consumers, seed and
    comparison kept."""
    kept = {k: settings[k] for k in ("producer_strategy", "n_consumers", "seed", "comparison")
            if k in settings}
    return {**session_settings(scenario), **kept}


#: the settings that describe run B of a comparison (seed and consumers are A's)
COMPARISON_KEYS = ("scenario", "controls_scenario", *LEVERS, "producer_strategy")


def model_params(scenario: str = "baseline", *, n_consumers: int = VIZ_CONSUMERS,
                 seed: int = VIZ_SEED) -> dict:
    """SolaraViz ``model_params`` for :class:`MarketSession`, controls at ``scenario``'s values.

    ``scenario`` is a shipped name or a TOML path (it is validated here: ScenarioError).
    """
    values = control_values(load_scenario(scenario))
    names = scenario_names()
    if scenario not in names:
        names.append(scenario)
    params: dict = {
        "scenario": {"type": "Select", "label": "Scenario",
                     "value": scenario, "values": names},
    }
    for key, (label, low, high, step) in ALL_SLIDERS.items():
        value = float(values[key])
        params[key] = {"type": "SliderFloat", "label": label, "value": value,
                       "min": min(low, value), "max": max(high, value), "step": step}
    for key, (label, options) in SELECTS.items():
        params[key] = {"type": "Select", "label": label, "value": values[key],
                       "values": list(options)}
    params["producer_strategy"] = {"type": "Select", "label": "Producer strategy",
                                   "value": SCENARIO_STRATEGY,
                                   "values": [SCENARIO_STRATEGY, *sorted(STRATEGY_REGISTRY)]}
    # fixed parameters: passed on every Reset, not shown
    params.update(controls_scenario=scenario, n_consumers=n_consumers, seed=seed)
    return params


@dataclass(frozen=True)
class StepRecord:
    """What the pictures show of one step, kept after the model moves on.

    Attributes
    ----------
    step, date : the step and its calendar date
    network : ``(graph, positions)`` of the segment graph in effect (shared between steps until
        exit or entry changes the market)
    flows : the step's served volume on that graph (Mtok/step)
    costs : unit cost by producer region split into energy, hardware and opex (USD/Mtok)
    """

    step: int
    date: dt.date
    network: tuple
    flows: drawing.NetworkFlows
    costs: dict[str, dict[str, float]]


class MarketSession(mesa.Model):
    """A :class:`PriceWarModel` built from the control panel, or the reason it was rejected.

    Parameters
    ----------
    scenario : str
        Scenario name or TOML path.
    seed : int
        Seed of the wrapped model.
    n_consumers : int
        Consumers of the wrapped model.
    controls_scenario : str, optional
        The scenario the controls were initialised from. When it differs from ``scenario`` the
        controls are ignored and ``scenario`` is built as it is (see the module docstring).
    electricity_cn_west, electricity_us, hub_latency_ms, demand_growth : float, optional
    carbon_price_usd_per_t, power_subsidy_domestic_chips, capex_subsidy, wacc : float, optional
    export_control_penalty, export_control_lag_years, customer_base_kappa : float, optional
    chip_regime, producer_strategy : str, optional
        The controls: flat scenario overrides (units in :data:`SLIDERS` and
        :data:`POLICY_SLIDERS`; :data:`SELECTS`). None, or
        ``producer_strategy=SCENARIO_STRATEGY``, keeps the scenario's value.

    comparison : dict, optional
        Settings of run B (:meth:`compare_with`), rebuilt with this session on Reset.

    Attributes
    ----------
    market : PriceWarModel or None
        The model, None when the controls were rejected.
    error : str or None
        Why the model could not be built (or stepped), for display.
    parameters : dict
        The keywords this session was built with (what the controls showed at Reset).
    history : list of StepRecord
        One record per step so far (index = step).
    comparison : MarketSession or None
        Run B of a comparison.
    """

    def __init__(self, scenario: str = "baseline", seed: int = VIZ_SEED,
                 n_consumers: int = VIZ_CONSUMERS, controls_scenario: str | None = None, *,
                 electricity_cn_west: float | None = None, electricity_us: float | None = None,
                 hub_latency_ms: float | None = None, demand_growth: float | None = None,
                 carbon_price_usd_per_t: float | None = None,
                 power_subsidy_domestic_chips: float | None = None,
                 capex_subsidy: float | None = None, wacc: float | None = None,
                 export_control_penalty: float | None = None,
                 export_control_lag_years: float | None = None,
                 customer_base_kappa: float | None = None, chip_regime: str | None = None,
                 producer_strategy: str | None = None, comparison: dict | None = None):
        # explicit keywords, not **controls: Mesa's parameter check (_check_model_params) takes
        # a **name other than **kwargs for a required parameter
        valid_seed = isinstance(seed, int) and seed >= 0
        super().__init__(seed=seed if valid_seed else VIZ_SEED)
        controls = {
            "electricity_cn_west": electricity_cn_west, "electricity_us": electricity_us,
            "hub_latency_ms": hub_latency_ms, "demand_growth": demand_growth,
            "carbon_price_usd_per_t": carbon_price_usd_per_t,
            "power_subsidy_domestic_chips": power_subsidy_domestic_chips,
            "capex_subsidy": capex_subsidy, "wacc": wacc,
            "export_control_penalty": export_control_penalty,
            "export_control_lag_years": export_control_lag_years,
            "customer_base_kappa": customer_base_kappa, "chip_regime": chip_regime,
            "producer_strategy": producer_strategy}
        self.parameters = {"scenario": scenario, "controls_scenario": controls_scenario,
                           **controls, "n_consumers": n_consumers, "seed": seed,
                           "comparison": comparison}
        self.scenario_name = str(scenario)
        self.seed = seed
        self.n_consumers = n_consumers
        self.history: list[StepRecord] = []
        self.comparison: MarketSession | None = None
        if controls_scenario is not None and controls_scenario != self.scenario_name:
            controls = {}
        controls = {k: v for k, v in controls.items()
                    if v is not None and not (k == "producer_strategy"
                                              and v == SCENARIO_STRATEGY)}
        self.overrides = {**controls, "n_consumers": n_consumers}
        self.market: PriceWarModel | None = None
        self.error: str | None = None
        self._network: tuple | None = None
        try:
            if not valid_seed:
                raise ScenarioError("controls", "seed", seed, "must be an integer >= 0")
            self.market = PriceWarModel(scenario, seed=seed, **self.overrides)
        except ScenarioError as error:
            self._fail(f"Cannot build the model with these parameters: {error}. "
                       f"Change them and press Reset.")
        else:
            self._record()
        if comparison is not None:
            self.compare_with(comparison)

    def _fail(self, message: str) -> None:
        self.error = message
        self.running = False

    def step(self) -> None:
        """Step the wrapped model (and run B of a comparison); a model error stops the session
        with a message."""
        if self.market is None:
            return
        try:
            self.market.step()
        except PricewarError as error:
            log.exception("step %d failed", self.market.steps)
            self._fail(f"The model stopped at step {self.market.steps}: {error}")
            return
        self._record()
        self.running = self.market.running
        if self.comparison is not None and self.comparison.market is not None \
                and self.comparison.market.steps < self.market.steps:
            self.comparison.step()

    # ------------------------------------------------------------------------------------------
    # recorded steps
    # ------------------------------------------------------------------------------------------
    def _record(self) -> None:
        market = self.market
        self.history.append(StepRecord(market.steps, market.date, self.network(),
                                       drawing.network_flows(market),
                                       drawing.cost_breakdown(market)))

    def record(self, step: int | None = None) -> StepRecord:
        """What was recorded at ``step`` (default: the current step)."""
        return self.history[-1 if step is None else step]

    # ------------------------------------------------------------------------------------------
    # comparison
    # ------------------------------------------------------------------------------------------
    def compare_with(self, settings: dict | None) -> MarketSession | None:
        """Run B: a session of ``settings`` (keys :data:`COMPARISON_KEYS`; others ignored) with
        this session's seed and consumers, stepped to this session's step; None stops comparing.
        """
        if settings is None:
            self.comparison = None
        else:
            chosen = {k: settings[k] for k in COMPARISON_KEYS if k in settings}
            self.comparison = MarketSession(**chosen, seed=self.seed,
                                            n_consumers=self.n_consumers)
            while self.market is not None and self.comparison.market is not None \
                    and self.comparison.market.steps < self.market.steps \
                    and self.comparison.error is None:
                self.comparison.step()
        self.parameters["comparison"] = None if settings is None else dict(chosen)
        return self.comparison

    def describe(self) -> str:
        """One line with the parameters in effect, the policy levers last (read from the
        resolved scenario)."""
        if self.market is None:
            return f"{Path(self.scenario_name).stem}: no model"
        s = self.market.scenario
        values = control_values(s)
        strategies = ", ".join(sorted({g.strategy for g in s.producers.values()}))
        return (f"{s.name} · electricity cn_west {values['electricity_cn_west']:.3f}, "
                f"us {values['electricity_us']:.3f} USD/kWh · hub latency "
                f"{values['hub_latency_ms']:g} ms · demand growth "
                f"{values['demand_growth']:.4f}/step · strategy {strategies} · "
                f"{len(self.market.consumers)} consumers · seed {self.seed} · "
                f"{policy_text(values)}")

    def network(self) -> tuple:
        """``(graph, positions)`` of the market network, recomputed only when the model rebuilds
        its graph (the layout stays put while flows change)."""
        source = self.market.graph
        if self._network is None or self._network[0] is not source:
            graph = drawing.segment_graph(self.market)
            self._network = (source, graph, drawing.network_layout(graph))
        return self._network[1:]
