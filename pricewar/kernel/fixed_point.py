"""Anderson-accelerated fixed-point iteration for the kernel's equilibrium maps (pure numpy)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: past iterates kept by the acceleration
ANDERSON_DEPTH = 5
#: iterations without a new best residual before the acceleration is switched off
ANDERSON_PATIENCE = 30


def _nonnegative(candidate: np.ndarray) -> bool:
    return bool((candidate >= 0).all())


def anderson_fixed_point(step: Callable, start: np.ndarray, tol: float, max_iter: int,
                         admissible: Callable[[np.ndarray], bool] = _nonnegative,
                         stall: int | None = None):
    """Iterate ``x <- G(x)`` with Anderson acceleration (Walker & Ni 2011, type II, depth
    :data:`ANDERSON_DEPTH`, least squares weighted by ``1/max(|x|, 1e-12)``).

    ``step(x)`` returns ``(G(x), residual, outcome)``: the map's image, the caller's residual at
    ``x`` (the iteration stops at ``x`` once it is ``<= tol``) and what the caller wants back
    from that evaluation. An extrapolated point that is not ``admissible`` (default: every
    entry ``>= 0``) or not finite falls back on the plain image. A non-finite residual, or with
    the acceleration on one 10 times the best seen, restarts from the best point's image; after
    :data:`ANDERSON_PATIENCE` iterations without a new best the acceleration is switched off
    and the plain map restarts from the best point. Returns ``(x, residual, iterations,
    converged, outcome)``: the converged point, else the best point seen with its residual and
    outcome (or the last one evaluated when none was finite). Only the last evaluation's outcome
    is held (outcomes are the callers' largest arrays): where the best point is an earlier one,
    ``step`` evaluates it once more for its outcome (``step`` must be a function of ``x``).
    With ``stall``, the iteration also stops (unconverged, at the best point) after ``stall``
    iterations without a new best residual; ``iterations`` counts the evaluations made.
    """
    x = np.asarray(start, dtype=np.float64).copy()
    best = (np.inf, x, None)
    points, images = [], []
    accelerate, since_best = True, 0
    residual, outcome, iteration = np.inf, None, 0
    for iteration in range(1, max_iter + 1):
        outcome, evaluated = None, x  # the last evaluation's outcome freed before this one's
        image, residual, outcome = step(x)
        if residual <= tol:
            return x, residual, iteration, True, outcome
        since_best += 1
        stagnating = accelerate and since_best > ANDERSON_PATIENCE
        if stagnating:
            accelerate = False
        if stagnating or not np.isfinite(residual) or (accelerate and residual > 10 * best[0]):
            if best[2] is None:  # nothing finite seen yet: nowhere to restart from
                return x, residual, iteration, False, outcome
            points, images = [], []
            x = best[2]
            continue
        if residual < best[0]:
            best, since_best = (residual, x, image), 0
        elif stall is not None and since_best >= stall:
            break
        points.append(x)
        images.append(image)
        del points[:-ANDERSON_DEPTH - 1], images[:-ANDERSON_DEPTH - 1]
        nxt = image
        if accelerate and len(points) > 1:
            d_image = np.diff(np.array(images), axis=0).T
            d_change = d_image - np.diff(np.array(points), axis=0).T
            weight = 1.0 / np.maximum(np.abs(x), 1e-12)
            gamma = np.linalg.lstsq(d_change * weight[:, None], (image - x) * weight,
                                    rcond=None)[0]
            candidate = image - d_image @ gamma
            if np.isfinite(candidate).all() and admissible(candidate):
                nxt = candidate
        x = nxt
    if best[2] is None:
        return x, residual, iteration, False, outcome
    if best[1] is not evaluated:
        outcome = None
        outcome = step(best[1])[2]
    return best[1], best[0], iteration, False, outcome
