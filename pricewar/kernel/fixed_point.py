"""Anderson-accelerated fixed-point iteration for the kernel's equilibrium maps (pure numpy)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: past iterates kept by the acceleration
ANDERSON_DEPTH = 5
#: iterations without a new best residual before the acceleration is switched off
ANDERSON_PATIENCE = 30


def anderson_fixed_point(step: Callable, start: np.ndarray, tol: float, max_iter: int):
    """Iterate ``x <- G(x)`` with Anderson acceleration (Walker & Ni 2011, type II, depth
    :data:`ANDERSON_DEPTH`, least squares weighted by ``1/(|x| + 1e-12)``).

    ``step(x)`` returns ``(G(x), residual, outcome)``: the map's image, the caller's residual at
    ``x`` (the iteration stops at ``x`` once it is ``<= tol``) and what the caller wants back
    from the last evaluation. Every ``x`` tried stays ``>= 0`` (an extrapolated point with a
    negative entry falls back on the plain image). A residual 10 times the best seen restarts
    from the best point's image; :data:`ANDERSON_PATIENCE` iterations without a new best switch
    to the plain map. Returns ``(x, residual, iterations, converged, outcome)`` at the last
    ``x`` evaluated (the best one when not converged).
    """
    x = np.asarray(start, dtype=np.float64).copy()
    best = (np.inf, x, None, None)
    points, images = [], []
    accelerate, since_best = True, 0
    residual, outcome = np.inf, None
    for iteration in range(1, max_iter + 1):
        image, residual, outcome = step(x)
        if residual <= tol:
            return x, residual, iteration, True, outcome
        since_best += 1
        if accelerate and since_best > ANDERSON_PATIENCE:
            accelerate, points, images = False, [], []
        if not np.isfinite(residual) or (accelerate and residual > 10 * best[0]):
            if best[2] is None:  # nothing finite seen yet: nowhere to restart from
                return x, residual, iteration, False, outcome
            points, images = [], []
            x = best[2]
            continue
        if residual < best[0]:
            best, since_best = (residual, x, image, outcome), 0
        points.append(x)
        images.append(image)
        del points[:-ANDERSON_DEPTH - 1], images[:-ANDERSON_DEPTH - 1]
        nxt = image
        if accelerate and len(points) > 1:
            d_image = np.diff(np.array(images), axis=0).T
            d_change = d_image - np.diff(np.array(points), axis=0).T
            weight = 1.0 / (np.abs(x) + 1e-12)
            gamma = np.linalg.lstsq(d_change * weight[:, None], (image - x) * weight,
                                    rcond=None)[0]
            candidate = image - d_image @ gamma
            if np.isfinite(candidate).all() and (candidate >= 0).all():
                nxt = candidate
        x = nxt
    return best[1], best[0], max_iter, False, best[3]
