"""Neural posterior estimation (``pricewar[npe]``): skipped unless torch and sbi are installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("sbi.inference")

from pricewar.calibrate.npe import npe_draws  # noqa: E402
from pricewar.calibrate.priors import Prior  # noqa: E402


def test_npe_recovers_the_analytic_posterior_of_a_normal_mean(tmp_path):
    """As the ABC's toy: x_1..x_10 ~ N(mu, 1), prior mu ~ U(-5, 5), sample mean 1.0: the
    posterior is N(1.0, 1/10)."""
    rng = np.random.default_rng(1)
    prior = Prior("mu", -5.0, 5.0)
    unit = rng.random((2000, 1))
    xbar = prior.from_unit(unit[:, 0]) + rng.normal(0.0, 1 / math.sqrt(10), 2000)
    draws = prior.from_unit(npe_draws(unit, xbar[:, None], np.array([1.0]), 4000, seed=0,
                                      log_dir=tmp_path / "logs")[:, 0])
    assert draws.mean() == pytest.approx(1.0, abs=0.08)
    assert draws.std() == pytest.approx(1 / math.sqrt(10), rel=0.25)
    assert list((tmp_path / "logs").iterdir())  # TensorBoard events go to the given directory


def test_calibrate_with_npe_trains_on_the_prior_runs(tmp_path):
    from test_calibrate_runs import tiny_spec_file

    from pricewar.calibrate import calibrate

    result = calibrate(tiny_spec_file(tmp_path), tmp_path / "out", workers=1, method="npe",
                       progress=False)
    assert result.method == "npe" and result.identification is None
    assert len(result.draws) == 4000 and result.draws["weight"].sum() == pytest.approx(1.0)
    growth = result.draws["demand_growth"]
    assert growth.between(0.02, 0.08).all()
    assert (tmp_path / "out" / "calibrated.toml").exists()
