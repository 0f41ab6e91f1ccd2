"""The pre-registered split (pricewar.calibrate.preregistration): every observation has one
role, and a preregistered calibration spec cannot fit a held-out observation or an event check."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from pricewar.calibrate.panels import load_openrouter_weekly, load_provider_prices, observed_file
from pricewar.calibrate.preregistration import (
    ROLES,
    PreregistrationError,
    load_preregistration,
    shipped_preregistration_path,
)
from pricewar.calibrate.spec import CalibrationSpecError, load_calibration_spec
from pricewar.calibrate.targets import observed_targets

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def prereg():
    return load_preregistration()


def test_every_row_of_the_targets_file_has_exactly_one_role(prereg):
    raw = tomllib.loads(shipped_preregistration_path().read_text())["observations"]
    targets = set(observed_targets())
    registered = {name for name, entry in raw.items() if not entry.get("pending", False)}
    assert registered == targets
    for name in targets:
        assert isinstance(raw[name]["role"], str) and raw[name]["role"] in ROLES
        assert prereg.role(name) == raw[name]["role"]
    assert len(targets) == 24  # 23, and the entry-exit count since 8 Dec 2026


def test_the_issue_s_held_out_observations_and_event_checks_are_registered(prereg):
    for name in ("api_revenue_2025_06", "cheapest_gpt35_price_2024_10",
                 "inference_host_entry_exit_2024_2026", "cn_idle_new_compute_share_2025"):
        assert prereg.role(name) == "held_out", name
    for name in ("cascade_followers_share_may2024", "cascade_price_ratio_may2024",
                 "cascade_follow_lag_days_may2024", "share_paths_2024"):
        assert prereg.role(name) == "event_check", name
    assert prereg.ids("fit") and prereg.rule


def test_the_panel_is_fitted_before_its_split_date_and_held_out_after(prereg):
    weekly = load_openrouter_weekly()
    roles = prereg.panels["openrouter_weekly_tokens"].roles(weekly["week_start"])
    by_week = pd.Series(roles.to_numpy(), index=weekly["week_start"]).groupby(level=0).unique()
    assert by_week.map(list).to_dict() == {
        **{pd.Timestamp(week): ["fit"] for week in (
            "2025-01-06", "2025-01-13", "2025-02-17", "2025-02-24", "2025-03-03", "2025-06-30",
            "2025-09-22", "2025-09-29", "2025-10-06", "2026-03-23")},
        **{pd.Timestamp(week): ["held_out"] for week in ("2026-03-30", "2026-06-29", "2026-09-28")}}


def test_every_panel_is_a_shipped_file_split_into_fitted_and_held_out_rows(prereg):
    assert set(prereg.panels) == {"openrouter_weekly_tokens", "provider_prices"}
    for panel in prereg.panels.values():
        assert observed_file(panel.file).is_file()
    roles = prereg.panels["provider_prices"].roles(load_provider_prices()["snapshot_date"])
    assert roles.value_counts().to_dict() == {"fit": 1331, "held_out": 2110}


SPEC = {
    "name": "prereg", "scenario": "baseline", "preregistered": True,
    "parameters": {"demand_growth": {"low": 0.02, "high": 0.08}},
    "targets": {
        "tokens": {"observed": "china_daily_tokens_2025_12", "summary": "tokens_per_day",
                   "args": {"reporters": ["throughput_cn_west", "throughput_cn_east"],
                            "date": "2025-12-31"}},
        "later": {"observed": "china_daily_tokens_2026_03", "summary": "tokens_per_day",
                  "args": {"reporters": ["throughput_cn_east"], "date": "2026-03-31"},
                  "held_out": True},
        "cascade": {"observed": "cascade_price_ratio_may2024", "summary": "change",
                    "args": {"reporter": "price_cn_east", "before": "2024-05-06",
                             "after": "2024-05-27"},
                    "held_out": True},
        "cost": {"observed": "deepseek_serving_cost_2025_02", "summary": "value_at",
                 "args": {"reporter": "unit_cost_cn_east", "date": "2025-02-28"},
                 "held_out": True}},
    "budget": {"simulations": 100, "acceptance_quantile": 0.2},
}


def spec(**changes) -> dict:
    data = copy.deepcopy(SPEC)
    for key, value in changes.items():
        node = data
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return data


def test_a_spec_that_follows_the_split_loads():
    loaded = load_calibration_spec(spec(), check_reporters=False)
    assert [t.name for t in loaded.fit_targets] == ["tokens"]


@pytest.mark.parametrize("target, role", [("cascade", "event_check"), ("later", "held_out")])
def test_fitting_a_held_out_observation_or_an_event_check_is_refused(target, role):
    with pytest.raises(CalibrationSpecError) as error:
        load_calibration_spec(spec(**{f"targets.{target}.held_out": False}),
                              check_reporters=False)
    assert error.value.key_path == f"targets.{target}.held_out"
    assert f"registered as {role}" in error.value.problem


def test_holding_out_a_registered_fit_target_is_refused():
    with pytest.raises(CalibrationSpecError, match="registered as fit"):
        load_calibration_spec(spec(**{"targets.tokens.held_out": True,
                                      "targets.extra": {
                                          "observed": "china_daily_tokens_2025_06",
                                          "summary": "tokens_per_day",
                                          "args": {"reporters": ["throughput_cn_east"],
                                                   "date": "2025-06-30"}}}),
                              check_reporters=False)


def test_an_unregistered_observation_is_refused_in_a_preregistered_spec(tmp_path):
    inline = {"value": 0.5, "sd": 0.1, "summary": "value_at",
              "args": {"reporter": "share_us", "date": "2025-06-30"}}
    with pytest.raises(CalibrationSpecError, match="not a registered observation"):
        load_calibration_spec(spec(**{"targets.inline": inline}), check_reporters=False)
    copied = tmp_path / "targets.csv"
    copied.write_bytes((ROOT / "pricewar" / "data" / "observed" / "calibration_targets.csv")
                       .read_bytes())
    with pytest.raises(CalibrationSpecError, match="shipped targets file"):
        load_calibration_spec(spec(observed_file=str(copied)), check_reporters=False)


def test_the_same_spec_unregistered_is_not_checked():
    loaded = load_calibration_spec(spec(preregistered=False,
                                        **{"targets.cascade.held_out": False}),
                                   check_reporters=False)
    assert "cascade" in [t.name for t in loaded.fit_targets]


def test_v2_could_not_be_run_as_a_preregistered_spec():
    # v2 fits the May 2024 cascade, an event check of the v3 split
    data = tomllib.loads((ROOT / "experiments" / "calibration" / "v2.toml").read_text())
    with pytest.raises(CalibrationSpecError, match="cascade_price_ratio_may2024 is registered"):
        load_calibration_spec({**data, "preregistered": True}, check_reporters=False)


def test_every_shipped_preregistered_spec_follows_the_split():
    specs = [path for path in sorted((ROOT / "experiments" / "calibration").glob("*.toml"))
             if tomllib.loads(path.read_text()).get("preregistered") is True]
    if not specs:
        pytest.skip("no spec declares preregistered = true yet (the v3 spec will)")
    for path in specs:
        load_calibration_spec(path, check_reporters=False)


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "prereg.toml"
    path.write_text('registered = 2026-12-07\nrule = "r"\n' + text)
    return path


ONE = '[observations.a]\nrole = "fit"\nwhy = "w"\n'


def test_a_target_without_a_role_is_refused(tmp_path):
    with pytest.raises(PreregistrationError, match="needs a role"):
        load_preregistration(write(tmp_path, ONE), target_ids={"a", "b"})


@pytest.mark.parametrize("text, problem", [
    ('[observations.a]\nrole = "fitted"\nwhy = "w"\n', "exactly one role"),
    ('[observations.a]\nrole = ["fit", "held_out"]\nwhy = "w"\n', "exactly one role"),
    ('[observations.a]\nrole = "fit"\n', "non-empty string"),
    ('[observations.a]\nrole = "fit"\nwhy = "w"\nweight = 1\n', "unknown key"),
    (ONE + '[observations.b]\nrole = "fit"\nwhy = "w"\n', "not a row of"),
    ('[observations.a]\nrole = "fit"\nwhy = "w"\npending = true\nwhat = "x"\nsource = "s"\n',
     "drop pending"),
    ('[observations.a]\nrole = "fit"\nwhy = "w"\n[observations.a]\nrole = "held_out"\n',
     "invalid TOML"),
    (ONE + '[panels.p]\nfile = "f.csv"\nsplit_date = "2026-03-30"\nwhy = "w"\n', "TOML date"),
])
def test_an_invalid_preregistration_is_refused(tmp_path, text, problem):
    with pytest.raises(PreregistrationError) as error:
        load_preregistration(write(tmp_path, text), target_ids={"a"})
    assert problem in error.value.problem


def test_the_v3_spec_fits_exactly_the_registered_fit_observations(prereg):
    """experiments/calibration/v3.toml loads (its reporters checked on a built v3 model), is
    preregistered, fits every `fit` observation and nothing else, and reports every held-out
    observation it can map to a reporter; the two it leaves out are named here."""
    path = ROOT / "experiments" / "calibration" / "v3.toml"
    assert tomllib.loads(path.read_text())["preregistered"] is True  # checked on load
    spec = load_calibration_spec(path)
    fitted = {t.observed.id for t in spec.targets if not t.held_out}
    assert fitted == set(prereg.ids("fit"))
    reported = {t.observed.id for t in spec.targets if t.held_out}
    assert set(prereg.ids("held_out")) - reported == {"epoch_decline_pooled",
                                                      "epoch_decline_gpt4_gpqa"}
    assert reported <= set(prereg.ids("held_out")) | set(prereg.ids("event_check"))
