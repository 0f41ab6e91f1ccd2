"""Q-learning sessions of Calvano et al. (2020) and the impulse response of their learned strategies."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from pricewar.errors import KernelInputError
from pricewar.studies.calvano.game import (
    CalvanoConfig,
    LogitPricingGame,
    _is_int,
    _profile_actions,
    initial_q_values,
)

logger = logging.getLogger(__name__)


#: Periods whose exploration draws are made in one call per session (results do not depend on it).
DEFAULT_CHUNK_PERIODS = 2_000


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class SessionResult:
    """Outcome of ``S`` independent learning sessions.

    Attributes
    ----------
    config : CalvanoConfig
    converged : bool, shape (S,)
        Greedy strategies unchanged for ``config.stable_periods`` periods before the cap.
    periods : int, shape (S,)
        Periods played (to convergence, or ``config.max_periods``).
    strategy : int, shape (S, n, m**n)
        Limit greedy strategies: grid index each firm plays in each state (last price profile).
    q_values : float, shape (S, n, m**n, m), money units
    final_state : int, shape (S,)
        Profile played in the last learning period.
    cycle_state : int, shape (S,)
        A profile on the cycle reached by playing the greedy strategies from ``final_state``.
    cycle_length : int, shape (S,)
        Length of that cycle in periods (1 = a fixed point).
    price : float, shape (S, n), money units per unit of demand
        Mean price of each firm over the cycle.
    profit : float, shape (S, n), money units per period
        Mean profit of each firm over the cycle.
    profit_gain : float, shape (S,)
        ``Delta`` of the mean per-firm profit: ``(mean_i pi_i - pi^N) / (pi^M - pi^N)`` with the
        firms' means of ``pi^N`` and ``pi^M``.
    """

    config: CalvanoConfig
    converged: np.ndarray
    periods: np.ndarray
    strategy: np.ndarray
    q_values: np.ndarray
    final_state: np.ndarray
    cycle_state: np.ndarray
    cycle_length: np.ndarray
    price: np.ndarray
    profit: np.ndarray
    profit_gain: np.ndarray = field(init=False)

    def __post_init__(self):
        game = self.game
        gain = ((self.profit.mean(axis=1) - game.nash_profit.mean())
                / (game.monopoly_profit.mean() - game.nash_profit.mean()))
        object.__setattr__(self, "profit_gain", gain)

    @property
    def game(self) -> LogitPricingGame:
        return self.config.game

    @property
    def n_sessions(self) -> int:
        return self.converged.size


# --------------------------------------------------------------------------------------------
# learning
# --------------------------------------------------------------------------------------------
def _exploration_actions(uniform: np.ndarray, epsilon: np.ndarray, n_prices: int) -> np.ndarray:
    """Exploration draws -> random grid index where ``u < epsilon_t``, else -1 (play greedy).

    ``uniform`` has shape (K, S, n) and ``epsilon`` shape (K,). Conditional on ``u < epsilon``,
    ``u / epsilon`` is uniform on [0, 1), so one uniform decides both whether and where to explore.
    """
    eps = np.broadcast_to(epsilon[:, None, None], uniform.shape)
    explore = uniform < eps
    action = np.full(uniform.shape, -1, dtype=np.int64)
    drawn = (uniform[explore] / eps[explore] * n_prices).astype(np.int64)
    action[explore] = np.minimum(drawn, n_prices - 1)
    return action


def run_sessions(config: CalvanoConfig, n_sessions: int, seed: int | None = None,
                 progress: bool = True, *,
                 chunk_periods: int = DEFAULT_CHUNK_PERIODS) -> SessionResult:
    """Run ``n_sessions`` independent Q-learning sessions of the repeated pricing game.

    Parameters
    ----------
    config : CalvanoConfig
    n_sessions : int
        Number of independent sessions ``S`` (>= 1).
    seed : int or None
        Seed of the sessions' random streams (same seed, same results); None draws fresh entropy.
    progress : bool
        Show a tqdm bar of periods played and sessions converged.
    chunk_periods : int
        Periods whose exploration draws are made in one batch (memory vs call overhead only; the
        results do not depend on it).

    Returns
    -------
    SessionResult
    """
    if not isinstance(config, CalvanoConfig):
        raise KernelInputError(f"config must be a CalvanoConfig, got {type(config).__name__}")
    if not _is_int(n_sessions) or n_sessions < 1:
        raise KernelInputError(f"n_sessions must be an int >= 1, got {n_sessions!r}")
    if not _is_int(chunk_periods) or chunk_periods < 1:
        raise KernelInputError(f"chunk_periods must be an int >= 1, got {chunk_periods!r}")
    if seed is not None and (not _is_int(seed) or seed < 0):
        raise KernelInputError(f"seed must be a non-negative int or None, got {seed!r}")

    game = config.game
    n, m, n_states = game.n_firms, game.n_prices, game.n_states
    generators = [np.random.default_rng(s)
                  for s in np.random.SeedSequence(seed).spawn(n_sessions)]

    q0 = initial_q_values(game, config.discount)
    q = np.broadcast_to(q0[None, :, None, :], (n_sessions, n, n_states, m)).copy()
    strategy = np.broadcast_to(q0.argmax(axis=1)[None, :, None],
                               (n_sessions, n, n_states)).copy()
    state = np.array([g.integers(n_states) for g in generators], dtype=np.int64)

    converged = np.zeros(n_sessions, dtype=bool)
    periods = np.full(n_sessions, config.max_periods, dtype=np.int64)
    final_state = state.copy()

    _learn(game, config, q, strategy, state, generators, converged, periods, final_state,
           chunk_periods, progress)
    cycle_state, cycle_length, price, profit = _greedy_cycle(game, strategy, final_state)
    result = SessionResult(config, converged, periods, strategy, q, final_state, cycle_state,
                           cycle_length, price, profit)
    logger.info("%d sessions: %.0f%% converged, mean Delta %.3f, mean periods %.0f",
                n_sessions, 100 * converged.mean(), result.profit_gain.mean(), periods.mean())
    return result


def _learn(game: LogitPricingGame, config: CalvanoConfig, q: np.ndarray, strategy: np.ndarray,
           state: np.ndarray, generators: list[np.random.Generator], converged: np.ndarray,
           periods: np.ndarray, final_state: np.ndarray, chunk_periods: int,
           progress: bool) -> None:
    """The period loop; updates ``q``, ``strategy``, ``converged``, ``periods``, ``final_state``.

    Arrays of the active sessions are indexed through flat views: ``row = (session * n + firm)
    * n_states + state`` addresses one firm's Q-row (m values) in one state.
    """
    n, m, n_states = game.n_firms, game.n_prices, game.n_states
    alpha, delta, beta = config.learning_rate, config.discount, config.exploration_decay
    stable, max_periods = config.stable_periods, config.max_periods
    q_rows = q.reshape(-1, m)
    q_flat = q.reshape(-1)
    strategy_flat = strategy.reshape(-1)
    place_value = game.place_value
    profit_flat = game.profile_profit.reshape(-1)
    firm_offset = (np.arange(n) * n_states)[None, :]

    active = np.arange(len(generators))
    row_base = (active[:, None] * n + np.arange(n)) * n_states  # (A, n)
    # last period each firm's greedy action changed (per firm: saves a reduction every period)
    last_change = np.full((active.size, n), -1, dtype=np.int64)
    next_check = stable - 1  # earliest period any session can meet the criterion

    n_sessions = active.size
    # the number of periods is unknown in advance: count periods, show converged sessions
    bar = tqdm(disable=not progress, unit="period", unit_scale=True, desc="Q-learning",
               leave=False)
    t0 = 0
    while active.size and t0 < max_periods:
        n_chunk = min(chunk_periods, max_periods - t0)
        uniform = np.stack([generators[k].random((n_chunk, n)) for k in active], axis=1)
        epsilon = np.exp(-beta * np.arange(t0, t0 + n_chunk, dtype=np.float64))
        explore_action = _exploration_actions(uniform, epsilon, m)  # (K, A, n)
        del uniform
        for k in range(n_chunk):
            t = t0 + k
            row = row_base + state[:, None]
            greedy = strategy_flat[row]
            drawn = explore_action[k]
            action = np.where(drawn >= 0, drawn, greedy)
            new_state = action @ place_value
            new_row = row_base + new_state[:, None]
            # max_a' Q(s', a') is the Q-value at the greedy action (kept up to date)
            continuation = q_flat[new_row * m + strategy_flat[new_row]]
            target = profit_flat[firm_offset + new_state[:, None]]
            target += delta * continuation
            cell = row * m + action
            q_flat[cell] += alpha * (target - q_flat[cell])
            new_greedy = np.take(q_rows, row, axis=0).argmax(axis=2)
            strategy_flat[row] = new_greedy
            last_change[new_greedy != greedy] = t
            state = new_state
            if t >= next_check:
                session_change = last_change.max(axis=1)
                done = session_change <= t - stable
                if done.any():
                    finished = active[done]
                    converged[finished] = True
                    periods[finished] = t + 1
                    final_state[finished] = state[done]
                    keep = ~done
                    active, row_base, state = active[keep], row_base[keep], state[keep]
                    last_change, explore_action = last_change[keep], explore_action[:, keep]
                    session_change = session_change[keep]
                    if not active.size:
                        break
                next_check = int(session_change.min()) + stable
        t0 += n_chunk
        bar.set_postfix_str(f"converged {n_sessions - active.size}/{n_sessions}", refresh=False)
        bar.update(n_chunk)
    final_state[active] = state  # sessions stopped by the period cap
    bar.close()


def _greedy_cycle(game: LogitPricingGame, strategy: np.ndarray, start_state: np.ndarray):
    """Play the greedy strategies from ``start_state`` until the path cycles; average over it.

    Deterministic play is a map on ``m**n`` states, so after ``m**n`` steps the path is on its
    cycle; walking on until it returns gives the cycle and its length.

    Returns
    -------
    cycle_state : int (S,), cycle_length : int (S,), price : (S, n), profit : (S, n)
    """
    n_sessions = strategy.shape[0]
    n_states = game.n_states
    sessions = np.arange(n_sessions)
    next_state = np.einsum("kis,i->ks", strategy, game.place_value)  # (S, n_states)
    state = start_state.copy()
    for _ in range(n_states):
        state = next_state[sessions, state]
    cycle_state = state
    length = np.zeros(n_sessions, dtype=np.int64)
    open_cycle = np.ones(n_sessions, dtype=bool)
    profit_sum = np.zeros((n_sessions, game.n_firms))
    price_sum = np.zeros((n_sessions, game.n_firms))
    actions = _profile_actions(game.n_firms, game.n_prices)
    firm = np.arange(game.n_firms)
    while open_cycle.any():
        profit_sum[open_cycle] += game.profile_profit[:, state[open_cycle]].T
        price_sum[open_cycle] += game.price_grid[firm, actions[state[open_cycle]]]
        length += open_cycle
        state = next_state[sessions, state]
        open_cycle &= state != cycle_state
    return cycle_state, length, price_sum / length[:, None], profit_sum / length[:, None]


# --------------------------------------------------------------------------------------------
# deviations
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ImpulseResponse:
    """Prices after a one-period deviation, per session.

    Attributes
    ----------
    price : float, shape (S, periods + 2, n), money units
        ``price[:, 0]`` is the pre-shock profile (on the converged cycle), ``price[:, 1]`` the
        deviation period, ``price[:, 2:]`` play of the learned strategies afterwards.
    action : int, shape (S, periods + 2, n)
        The same as grid indices.
    deviator : int
    sessions : int, shape (S,)
        Indices of the sessions in the :class:`SessionResult`.
    """

    price: np.ndarray
    action: np.ndarray
    deviator: int
    sessions: np.ndarray

    @property
    def tau(self) -> np.ndarray:
        """Period relative to the shock, ``0 .. periods + 1``; the deviation is at ``tau = 1``."""
        return np.arange(self.price.shape[1])


def impulse_response(result: SessionResult, periods: int = 15, deviator: int = 0,
                     sessions=None) -> ImpulseResponse:
    """Force one firm to deviate once from the limit strategies and trace prices afterwards.

    From the converged cycle (``result.cycle_state``, the pre-shock period ``tau = 0``), at
    ``tau = 1`` the rivals play their learned strategies while ``deviator`` plays the grid price
    that is the static best response to the rivals' prices of that period (paper, Section IV.B);
    from ``tau = 2`` on every firm follows its learned strategy again, so the path shows the
    punishment and the return to the pre-shock prices.

    Parameters
    ----------
    result : SessionResult
    periods : int
        Periods traced after the deviation (>= 1).
    deviator : int
        Index of the deviating firm, in ``[0, n)``.
    sessions : int array, optional
        Which sessions (default: all).

    Returns
    -------
    ImpulseResponse
    """
    game = result.game
    n, m = game.n_firms, game.n_prices
    if not _is_int(periods) or periods < 1:
        raise KernelInputError(f"periods must be an int >= 1, got {periods!r}")
    if not _is_int(deviator) or not 0 <= deviator < n:
        raise KernelInputError(f"deviator must be an int in [0, {n}), got {deviator!r}")
    sessions = np.arange(result.n_sessions) if sessions is None else np.asarray(sessions)
    if sessions.ndim != 1 or not np.issubdtype(sessions.dtype, np.integer) or (
            sessions.size and (sessions.min() < 0 or sessions.max() >= result.n_sessions)):
        raise KernelInputError(
            f"sessions must be 1-D integer indices in [0, {result.n_sessions}), got {sessions!r}")

    strategy = result.strategy[sessions]  # (S, n, n_states)
    n_sel = sessions.size
    rows = np.arange(n_sel)
    place_value = game.place_value
    actions = _profile_actions(n, m)
    path = np.empty((n_sel, periods + 2, n), dtype=np.int64)
    state = result.cycle_state[sessions]
    path[:, 0] = actions[state]
    # deviation period: rivals follow their strategies, the deviator best-responds on the grid
    play = strategy[rows, :, state]  # (S, n)
    rival_part = play @ place_value - play[:, deviator] * place_value[deviator]
    candidates = rival_part[:, None] + np.arange(m)[None, :] * place_value[deviator]
    play[:, deviator] = game.profile_profit[deviator, candidates].argmax(axis=1)
    path[:, 1] = play
    state = play @ place_value
    for tau in range(2, periods + 2):
        play = strategy[rows, :, state]
        path[:, tau] = play
        state = play @ place_value
    price = game.price_grid[np.arange(n), path]
    return ImpulseResponse(price=price, action=path, deviator=deviator, sessions=sessions)
