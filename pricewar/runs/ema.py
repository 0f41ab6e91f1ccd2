"""pricewar from the EMA Workbench (exploratory modelling and analysis; ``pip install
'pricewar[ema]'``).

:func:`run_outcomes` is the function the Workbench calls: flat overrides (the uncertainties and
levers, named as in :data:`pricewar.scenario.OVERRIDES`) in, the chosen model metrics at the last
step out. It needs nothing but pricewar, so it can be tested and used on its own.
:func:`ema_model` wraps it in an ``ema_workbench.Model`` with the parameters' ranges; the
Workbench's samplers, evaluators and analysis then apply as to any other model.

    from ema_workbench import perform_experiments
    model = ema_model({"electricity_cn_west": (0.02, 0.08)}, {"export_control_penalty": (0, 0.6)},
                      outcomes=("price_avg", "share_cn_west"), steps=52)
    experiments, outcomes = perform_experiments(model, scenarios=20, policies=4)

``run_outcomes`` is a module-level function, so the Workbench's multiprocessing evaluator can
send it to worker processes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pricewar.errors import ScenarioError
from pricewar.model.metrics import MODEL_METRICS
from pricewar.runs.runner import run_model
from pricewar.scenario import OVERRIDES

DEFAULT_OUTCOMES = ("price_avg", "share_cn_west", "consumer_surplus", "lerner")


def run_outcomes(base_scenario: str = "baseline", steps: int = 52, seed: int = 1,
                 outcomes: Sequence[str] = DEFAULT_OUTCOMES, **overrides) -> dict[str, float]:
    """Run ``base_scenario`` with flat ``overrides``; ``outcomes`` (model metrics) at the last
    step."""
    model = run_model(base_scenario, steps=steps, seed=seed, overrides=overrides, progress=False)
    return {name: float(model.metrics[name]) for name in outcomes}


def _parameter(name: str, spec, role: str):
    from ema_workbench import CategoricalParameter, IntegerParameter, RealParameter

    if name not in OVERRIDES:
        raise ScenarioError(role, name, spec, f"unknown override (known: {sorted(OVERRIDES)})")
    kind = OVERRIDES[name][2]
    if kind is str or (isinstance(spec, Sequence) and not isinstance(spec, tuple)):
        return CategoricalParameter(name, list(spec))
    if not (isinstance(spec, tuple) and len(spec) == 2 and spec[0] < spec[1]):
        raise ScenarioError(role, name, spec, "expected a (low, high) range with low < high")
    if kind is int:
        return IntegerParameter(name, int(spec[0]), int(spec[1]))
    return RealParameter(name, float(spec[0]), float(spec[1]))


def ema_model(uncertainties: Mapping[str, object], levers: Mapping[str, object] | None = None,
              *, outcomes: Sequence[str] = DEFAULT_OUTCOMES, scenario: str = "baseline",
              steps: int = 52, seed: int = 1, n_consumers: int = 500, name: str = "pricewar"):
    """An ``ema_workbench.Model`` running pricewar.

    Parameters
    ----------
    uncertainties, levers : override name -> ``(low, high)`` (a real or integer range) or a
        list of values (categories, e.g. strategies); names from
        :data:`pricewar.scenario.OVERRIDES`
    outcomes : model metrics reported at the last step (:data:`MODEL_METRICS`)
    scenario, steps, seed, n_consumers : fixed for every experiment (Workbench constants)

    Raises ScenarioError for an unknown override or a bad range, ValueError for an unknown
    outcome, before anything runs.
    """
    from ema_workbench import Constant, Model, ScalarOutcome

    unknown = [o for o in outcomes if o not in MODEL_METRICS]
    if unknown:
        raise ValueError(f"unknown outcomes {unknown} (known: pricewar.model.metrics."
                         f"MODEL_METRICS)")
    model = Model(name, function=run_outcomes)
    model.uncertainties = [_parameter(k, v, "uncertainties") for k, v in uncertainties.items()]
    model.levers = [_parameter(k, v, "levers") for k, v in (levers or {}).items()]
    model.outcomes = [ScalarOutcome(o) for o in outcomes]
    # "base_scenario", not "scenario": the Workbench numbers its own scenarios in that column
    model.constants = [Constant("base_scenario", scenario), Constant("steps", steps),
                       Constant("seed", seed), Constant("n_consumers", n_consumers),
                       Constant("outcomes", tuple(outcomes))]
    return model
