"""Neural posterior estimation with ``sbi`` (optional: ``pip install 'pricewar[npe]'``).

Trains a masked autoregressive flow on the same stored prior runs as the ABC (no new runs), in
the priors' unit coordinates (the prior is then ``BoxUniform(0, 1)``, exactly the prior sweep's
design), and samples it at the observed summaries. Install a CPU build of torch first, or pip
resolves a CUDA build of several GB::

    pip install torch==2.13.0        # CPU wheel; elsewhere: --index-url https://download.pytorch.org/whl/cpu
    pip install -e ".[npe]"          # sbi >= 0.23 (Apache-2.0; sbi <= 0.22 was AGPL)

Training uses one torch thread: on a machine whose cores run sweep workers, more threads made
training many times slower in our measurements.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from pricewar.calibrate.abc import robust_scale
from pricewar.calibrate.posterior import CalibrationError

log = logging.getLogger(__name__)

INSTALL_HINT = ("--method npe needs sbi and torch: pip install torch==2.13.0 (a CPU build; "
                "without it pip fetches a CUDA torch of several GB), then pip install "
                "'pricewar[npe]'")


def check_available() -> None:
    """Raise :class:`CalibrationError` with the install commands unless sbi and torch import."""
    try:
        import sbi.inference  # noqa: F401
        import torch  # noqa: F401
    except ImportError as error:
        raise CalibrationError(f"{INSTALL_HINT} ({error})") from None


def npe_draws(unit_theta: np.ndarray, stats: np.ndarray, observed: np.ndarray, n_draws: int,
              seed: int, log_dir: Path, density_estimator: str = "maf") -> np.ndarray:
    """Posterior draws in unit coordinates, shape (n_draws, d).

    Parameters
    ----------
    unit_theta : (n, d) prior runs' parameters in the priors' unit coordinates
    stats : (n, k) their summaries on the targets' scales (with observation error)
    observed : (k,) observed summaries on the same scales
    log_dir : where sbi's TensorBoard writer puts its event files
    """
    check_available()
    import torch
    from sbi.inference import NPE
    from sbi.utils import BoxUniform
    from torch.utils.tensorboard import SummaryWriter

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    center = np.median(stats, axis=0)
    scale = robust_scale(stats)
    x = torch.tensor((stats - center) / scale, dtype=torch.float32)
    x_observed = torch.tensor((observed - center) / scale, dtype=torch.float32)
    d = unit_theta.shape[1]
    prior = BoxUniform(low=torch.zeros(d), high=torch.ones(d))
    writer = SummaryWriter(log_dir=str(log_dir))
    try:
        # sbi >= 0.26 takes a tracker (summary_writer is deprecated); 0.23-0.25 a summary_writer
        try:
            from sbi.utils.tracking import TensorBoardTracker

            logging_to = {"tracker": TensorBoardTracker(writer)}
        except ImportError:
            logging_to = {"summary_writer": writer}
        inference = NPE(prior=prior, density_estimator=density_estimator,
                        show_progress_bars=False, **logging_to)
        inference.append_simulations(torch.tensor(unit_theta, dtype=torch.float32), x)
        estimator = inference.train()
        posterior = inference.build_posterior(estimator)
        samples = posterior.sample((n_draws,), x=x_observed, show_progress_bars=False)
    finally:
        writer.close()
    log.info("NPE trained on %d runs (%s epochs)", len(unit_theta),
             getattr(inference, "_summary", {}).get("epochs_trained"))
    return np.clip(samples.numpy().astype(float), 0.0, 1.0)
