"""The repeated logit Bertrand game of Calvano et al. (2020): configuration, profits, initial Q-values."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from pricewar.errors import KernelInputError
from pricewar.kernel import (
    logit_bertrand_nash,
    logit_joint_monopoly,
    market_demand,
    single_market,
)

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------
def _per_firm(name: str, value, n_firms: int) -> tuple[float, ...]:
    arr = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if arr.ndim != 1 or arr.size not in (1, n_firms):
        raise KernelInputError(
            f"{name} must be a number or a sequence of n_firms={n_firms} numbers, got {value!r}")
    if not np.isfinite(arr).all():
        raise KernelInputError(f"{name} must be finite, got {value!r}")
    return tuple(float(v) for v in np.broadcast_to(arr, (n_firms,)))


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


@dataclass(frozen=True)
class CalvanoConfig:
    """Parameters of the Q-learning pricing experiment; defaults are the paper's baseline.

    Parameters
    ----------
    n_firms : int
        Number of firms ``n`` (>= 2).
    quality : float or sequence of n_firms floats
        Product qualities ``a_i`` (paper: 2).
    cost : float or sequence of n_firms floats
        Marginal costs ``c_i`` in money units per unit of demand (paper: 1), >= 0.
    outside_quality : float
        Outside-good quality ``a_0`` (paper: 0).
    mu : float
        Horizontal differentiation ``mu`` (> 0; paper: 0.25).
    discount : float
        Discount factor ``delta`` per period, in [0, 1) (paper: 0.95).
    learning_rate : float
        ``alpha``, in (0, 1] (paper: 0.15).
    exploration_decay : float
        ``beta`` in ``epsilon_t = exp(-beta t)``, per period, > 0 (paper: 4e-6).
    n_prices : int
        Grid size ``m`` (>= 2; paper: 15).
    grid_extension : float
        ``xi``: the grid spans ``[p^N - xi (p^M - p^N), p^M + xi (p^M - p^N)]`` (>= 0; paper 0.1).
    stable_periods : int
        Convergence: every greedy strategy unchanged for this many consecutive periods
        (>= 1; paper: 100,000).
    max_periods : int
        Period cap per session (>= 1; paper: 1e9). Sessions reaching it are not converged.

    Notes
    -----
    Memory per session is ``n * m**n * m`` Q-values (8 bytes each): 27 kB in the baseline,
    6 MB for ``n = 4``.
    """

    n_firms: int = 2
    quality: float | tuple[float, ...] = 2.0
    cost: float | tuple[float, ...] = 1.0
    outside_quality: float = 0.0
    mu: float = 0.25
    discount: float = 0.95
    learning_rate: float = 0.15
    exploration_decay: float = 4e-6
    n_prices: int = 15
    grid_extension: float = 0.1
    stable_periods: int = 100_000
    max_periods: int = 1_000_000_000

    def __post_init__(self):
        if not _is_int(self.n_firms) or self.n_firms < 2:
            raise KernelInputError(f"n_firms must be an int >= 2, got {self.n_firms!r}")
        if not _is_int(self.n_prices) or self.n_prices < 2:
            raise KernelInputError(f"n_prices must be an int >= 2, got {self.n_prices!r}")
        # scalars stay scalars (so dataclasses.replace(config, n_firms=3) works); sequences
        # become tuples (hashable)
        for name in ("quality", "cost"):
            value = getattr(self, name)
            per_firm = _per_firm(name, value, self.n_firms)
            if np.ndim(value) == 0:
                object.__setattr__(self, name, float(value))
            else:
                object.__setattr__(self, name, per_firm)
        if min(self.firm_cost) < 0:
            raise KernelInputError(f"cost must be >= 0, got {self.cost!r}")
        checks = {
            "outside_quality": (self.outside_quality, lambda v: True, "finite"),
            "mu": (self.mu, lambda v: v > 0, "finite and > 0"),
            "discount": (self.discount, lambda v: 0 <= v < 1, "in [0, 1)"),
            "learning_rate": (self.learning_rate, lambda v: 0 < v <= 1, "in (0, 1]"),
            "exploration_decay": (self.exploration_decay, lambda v: v > 0, "finite and > 0"),
            "grid_extension": (self.grid_extension, lambda v: v >= 0, "finite and >= 0"),
        }
        for name, (value, ok, what) in checks.items():
            if not (isinstance(value, int | float | np.integer | np.floating)
                    and not isinstance(value, bool) and math.isfinite(value) and ok(value)):
                raise KernelInputError(f"{name} must be {what}, got {value!r}")
        for name in ("stable_periods", "max_periods"):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise KernelInputError(f"{name} must be an int >= 1, got {value!r}")
        n_q = self.n_firms * self.n_prices ** (self.n_firms + 1)
        if n_q > 50_000_000:
            raise KernelInputError(
                f"n_firms={self.n_firms} with n_prices={self.n_prices} needs {n_q} Q-values per "
                "session; reduce n_prices or n_firms")

    @property
    def firm_quality(self) -> tuple[float, ...]:
        """``a_i`` per firm, shape (n,)."""
        return _per_firm("quality", self.quality, self.n_firms)

    @property
    def firm_cost(self) -> tuple[float, ...]:
        """``c_i`` per firm, shape (n,), money units per unit of demand."""
        return _per_firm("cost", self.cost, self.n_firms)

    @cached_property
    def game(self) -> LogitPricingGame:
        """The stage game on the price grid (kernel evaluated once, then cached)."""
        return LogitPricingGame.from_config(self)


# --------------------------------------------------------------------------------------------
# the stage game on the grid
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class LogitPricingGame:
    """The logit Bertrand stage game restricted to the price grid.

    A price *profile* (also the learning state: last period's profile) is indexed by
    ``sum_i a_i * m**(n-1-i)`` for grid indices ``a_i``; firm 0 is the most significant digit, so
    for ``n = 2`` the profile index is ``a_1 * m + a_2``.

    Attributes
    ----------
    price_grid : shape (n, m), money units per unit of demand
    profile_profit : shape (n, m**n), money units per period; ``profile_profit[i, s]`` is firm
        ``i``'s profit when the profile ``s`` is played
    nash_price, nash_profit, monopoly_price, monopoly_profit : shape (n,)
        Static Bertrand-Nash and joint-monopoly prices and per-firm profits (continuous, off grid)
    """

    n_firms: int
    n_prices: int
    price_grid: np.ndarray
    profile_profit: np.ndarray
    nash_price: np.ndarray
    nash_profit: np.ndarray
    monopoly_price: np.ndarray
    monopoly_profit: np.ndarray

    @classmethod
    def from_config(cls, config: CalvanoConfig) -> LogitPricingGame:
        quality, cost = np.array(config.firm_quality), np.array(config.firm_cost)
        n, m = config.n_firms, config.n_prices
        market = single_market(quality, config.mu, config.outside_quality)

        def profit(price: np.ndarray) -> np.ndarray:
            return (price - cost) * market_demand(market, price).producer_demand

        nash = logit_bertrand_nash(quality, cost, config.mu, config.outside_quality)
        monopoly = logit_joint_monopoly(quality, cost, config.mu, config.outside_quality)
        span = monopoly - nash
        grid = np.linspace(nash - config.grid_extension * span,
                           monopoly + config.grid_extension * span, m, axis=1)
        if (grid < 0).any():
            raise KernelInputError(
                f"grid_extension={config.grid_extension!r} puts the lowest grid price at "
                f"{grid.min():.4g} < 0; use a smaller grid_extension")
        profiles = _profile_actions(n, m)  # (m**n, n)
        firm = np.arange(n)
        # The kernel evaluates one market at a time; m**n calls, once per game.
        profile_profit = np.stack([profit(grid[firm, a]) for a in profiles], axis=1)
        return cls(n, m, grid, profile_profit, nash, profit(nash), monopoly, profit(monopoly))

    @property
    def n_states(self) -> int:
        """Number of price profiles ``m**n`` (= learning states with one-period memory)."""
        return self.n_prices ** self.n_firms

    @property
    def profit_matrix(self) -> np.ndarray:
        """Profits as shape (n, m, ..., m): ``profit_matrix[i, a_1, ..., a_n]``."""
        return self.profile_profit.reshape((self.n_firms,) + (self.n_prices,) * self.n_firms)

    @property
    def place_value(self) -> np.ndarray:
        """``m**(n-1-i)`` per firm: profile index = ``actions @ place_value``; shape (n,)."""
        return self.n_prices ** np.arange(self.n_firms - 1, -1, -1, dtype=np.int64)

    def profit_gain(self, profit) -> np.ndarray:
        """Calvano's ``Delta = (pi - pi^N) / (pi^M - pi^N)`` per firm; same shape as ``profit``."""
        return (np.asarray(profit) - self.nash_profit) / (self.monopoly_profit - self.nash_profit)


def _profile_actions(n_firms: int, n_prices: int) -> np.ndarray:
    """Grid indices of every profile, shape (m**n, n), in profile-index order."""
    return np.indices((n_prices,) * n_firms).reshape(n_firms, -1).T


def initial_q_values(game: LogitPricingGame, discount: float) -> np.ndarray:
    """The paper's Q initialisation: discounted payoff against uniformly randomising rivals.

    ``Q_i(s, a) = sum_{a_-i} pi_i(a, a_-i) / ((1 - delta) m**(n-1))`` for every state ``s``.

    Returns
    -------
    q0 : shape (n, m), money units (the same row for every state)
    """
    n, m = game.n_firms, game.n_prices
    matrix = game.profit_matrix
    q0 = np.empty((n, m))
    for i in range(n):
        rivals = tuple(ax for ax in range(n) if ax != i)
        q0[i] = matrix[i].sum(axis=rivals) / ((1.0 - discount) * m ** (n - 1))
    return q0
