"""Rejection ABC with local-linear regression adjustment (Beaumont, Zhang & Balding 2002).

Pure numpy: arrays in, arrays out. Given ``n`` simulations with parameters ``theta`` (n, d) in
free coordinates (:mod:`pricewar.calibrate.priors`) and summaries ``stats`` (n, k), and the
observed summaries ``observed`` (k,):

1. Standardise each summary by its median absolute deviation over the simulations (scaled to an
   s.d.: 1.4826 MAD), so no summary dominates by its units; multiply by the target weights.
2. Distance ``rho_i = || w * (s_i - s_obs) / MAD ||``; accept the ``quantile`` nearest runs.
3. Epanechnikov kernel weights ``K_i = 1 - (rho_i / h)^2`` with ``h`` just above the largest
   accepted distance (every accepted run keeps a positive weight).
4. Weighted least squares ``theta_i = a + (s_i - s_obs) B + e_i`` on the accepted runs; the
   adjusted draws ``theta_i - (s_i - s_obs) B`` are the posterior sample, with weights ``K_i``.

Beaumont, M. A., Zhang, W. & Balding, D. J. (2002). Approximate Bayesian computation in
population genetics. Genetics 162(4), 2025-2035.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pricewar.errors import PricewarError

MAD_TO_SD = 1.4826  # MAD of a normal sample x 1.4826 = its s.d.

#: h = BANDWIDTH_MARGIN x the largest accepted distance
BANDWIDTH_MARGIN = 1.0 + 1e-9


class AbcInputError(PricewarError, ValueError):
    """Arrays that the ABC cannot use (names the problem and, if any, the summary column)."""


@dataclass(frozen=True)
class AbcResult:
    """Accepted runs and the (adjusted) posterior sample.

    Attributes
    ----------
    accepted : (m,) int indices of the accepted simulations
    distance : (m,) their distances
    weights : (m,) Epanechnikov weights, summing to 1
    theta : (m, d) posterior draws in free coordinates (adjusted if ``adjusted``)
    theta_unadjusted : (m, d) the accepted simulations' own parameters
    scale : (k,) the summaries' standardising scales (1.4826 MAD)
    coefficients : (k, d) regression slopes ``B`` per standardised summary (zeros if not adjusted)
    bandwidth : the kernel's ``h``
    adjusted : whether the regression adjustment was applied
    """

    accepted: np.ndarray
    distance: np.ndarray
    weights: np.ndarray
    theta: np.ndarray
    theta_unadjusted: np.ndarray
    scale: np.ndarray
    coefficients: np.ndarray
    bandwidth: float
    adjusted: bool


def robust_scale(stats: np.ndarray) -> np.ndarray:
    """Per column 1.4826 x MAD, or the s.d. where the MAD is zero (a mostly constant summary).

    Raises AbcInputError naming the column if a summary does not vary at all.
    """
    stats = np.asarray(stats, float)
    mad = MAD_TO_SD * np.median(np.abs(stats - np.median(stats, axis=0)), axis=0)
    scale = np.where(mad > 0, mad, np.std(stats, axis=0))
    constant = np.flatnonzero(~(scale > 0))
    if constant.size:
        raise AbcInputError(f"summary column {int(constant[0])} does not vary over the "
                            "simulations: it cannot inform the fit")
    return scale


def distances(stats: np.ndarray, observed: np.ndarray, scale: np.ndarray,
              weights: np.ndarray | None = None) -> np.ndarray:
    """Weighted Euclidean distance of standardised summaries to the observed ones, shape (n,)."""
    z = (np.asarray(stats, float) - observed) / scale
    if weights is not None:
        z = z * weights
    return np.sqrt(np.einsum("ij,ij->i", z, z))


def epanechnikov(distance: np.ndarray, bandwidth: float) -> np.ndarray:
    """Kernel weights ``1 - (d / h)^2`` (zero beyond ``h``), normalised to sum to 1."""
    kernel = np.clip(1.0 - (np.asarray(distance, float) / bandwidth) ** 2, 0.0, None)
    return kernel / kernel.sum()


def rejection_abc(theta: np.ndarray, stats: np.ndarray, observed: np.ndarray,
                  quantile: float, target_weights: np.ndarray | None = None,
                  adjust: bool = True) -> AbcResult:
    """Rejection ABC with local-linear regression adjustment.

    Parameters
    ----------
    theta : (n, d) parameters of the simulations, in free (unbounded) coordinates
    stats : (n, k) their summaries, on the targets' comparison scales
    observed : (k,) the observed summaries on the same scales
    quantile : share of the simulations accepted (the nearest ``ceil(quantile n)``)
    target_weights : (k,) optional weights of the summaries in the distance
    adjust : apply the regression adjustment (needs more accepted runs than ``k + 1``)

    Returns
    -------
    AbcResult
    """
    theta = np.asarray(theta, float)
    stats = np.asarray(stats, float)
    observed = np.asarray(observed, float).ravel()
    if theta.ndim != 2 or stats.ndim != 2 or len(theta) != len(stats):
        raise AbcInputError(f"theta {theta.shape} and stats {stats.shape} must be 2-D with "
                            "one row per simulation")
    if stats.shape[1] != observed.size:
        raise AbcInputError(f"stats have {stats.shape[1]} summaries, observed has "
                            f"{observed.size}")
    if not (np.isfinite(theta).all() and np.isfinite(stats).all()
            and np.isfinite(observed).all()):
        raise AbcInputError("theta, stats and observed must be finite (drop failed runs)")
    if not 0 < quantile <= 1:
        raise AbcInputError(f"quantile = {quantile!r}: expected a share in (0, 1]")
    n, k = stats.shape
    m = min(n, max(1, math.ceil(quantile * n)))
    scale = robust_scale(stats)
    weights = None if target_weights is None else np.asarray(target_weights, float)
    rho = distances(stats, observed, scale, weights)
    accepted = np.sort(np.argpartition(rho, m - 1)[:m]) if m < n else np.arange(n)
    bandwidth = float(rho[accepted].max()) * BANDWIDTH_MARGIN or 1.0
    kernel = epanechnikov(rho[accepted], bandwidth)
    drawn = theta[accepted]
    coefficients = np.zeros((k, theta.shape[1]))
    adjusted = adjust and m > k + 1
    result = drawn
    if adjusted:
        # regress on standardised summaries: B is then per s.d. of each summary
        x = (stats[accepted] - observed) / scale
        design = np.column_stack([np.ones(m), x])
        root = np.sqrt(kernel)[:, None]
        beta, *_ = np.linalg.lstsq(design * root, drawn * root, rcond=None)
        coefficients = beta[1:]
        result = drawn - x @ coefficients
    return AbcResult(accepted=accepted, distance=rho[accepted], weights=kernel, theta=result,
                     theta_unadjusted=drawn, scale=scale, coefficients=coefficients,
                     bandwidth=bandwidth, adjusted=adjusted)


def weighted_quantile(values: np.ndarray, weights: np.ndarray, q) -> np.ndarray:
    """Quantiles ``q`` of a weighted sample (linear interpolation of the weighted CDF at the
    midpoints of each sample's weight)."""
    values = np.asarray(values, float)
    weights = np.asarray(weights, float)
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return np.interp(q, cdf, v)


def weighted_mean_sd(values: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Weighted mean and s.d. of a sample."""
    w = np.asarray(weights, float) / np.sum(weights)
    mean = float(np.sum(w * values))
    return mean, float(np.sqrt(np.sum(w * (np.asarray(values, float) - mean) ** 2)))
