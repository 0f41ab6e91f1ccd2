"""The ``q_learning`` producer strategy: tabular Q-learning over a grid of markups.

Brings the learning rule of Calvano, Calzolari, Denicolò and Pastorello (2020, AER; see
:mod:`pricewar.learning` for the stand-alone reproduction) into the agent-based token market. Each
producer using the strategy keeps its own Q-table and learns, from the profit it realises each
step, which price to charge.

Design for a market whose costs fall over time
----------------------------------------------
- **Actions are markups, not prices**: action ``a`` is the price ``grid[a] x marginal cost``.
  Marginal costs fall by half in about half a year, so a fixed price grid would be outgrown within
  months; a markup grid stays meaningful. The grid is geometric (uniform in ``log(p / c)``, the
  variable of the log-price logit demand) with ``n_prices`` points from ``markup_min`` (just above
  marginal cost) to ``markup_max_over_reference`` times the *reference markup*: the median
  best-response markup of the learners the first time the strategy is called (the model starts at
  a calibrated Bertrand-Nash equilibrium, so this is the static Nash markup, ~5 in the baseline).
  One grid is shared by all learners, so their actions are comparable.
- **State** (one-period memory, as in the paper, compressed so tables stay small with 50
  producers): ``(own last action, rivals' average last markup)`` with the rivals' average
  (geometric mean of ``p / c`` over every other producer, learners or not) rounded to the nearest
  grid point: ``n_prices**2`` states, a Q-table of ``n_prices**3`` values per producer.
- **Reward** is the producer's realised profit of the step (revenue minus energy and fixed costs,
  after capacity clearing), read from ``view.state["q_learning"]["realised_profit"]``, which the
  strategy's ``observe`` hook (:func:`observe_profit`) fills after the model's settlement. It is
  *deflated* by ``marginal cost x potential demand per producer`` of that step
  (``c_i x sum_j D_j / n``): both are exogenous to prices, so the deflator changes nothing within
  a step, but it removes the trends of falling costs and of demand growing ~5% a week, which
  would otherwise make old and new Q-values incomparable. In these units a
  producer selling ``q`` at markup ``k`` earns about ``(k - 1) q / (D / n)``.
- **Learning** (paper, eq. 4): ``Q(s, a) <- (1 - alpha) Q(s, a) + alpha [r + delta max_a' Q(s',
  a')]``, applied at pricing time to the *previous* step's state and action, since the profit of
  an action is only known after the market has cleared.
- **Exploration** is epsilon-greedy with ``epsilon_t = exp(-beta t)``, ``t`` the number of steps
  the producer has priced (entrants start exploring afresh). One uniform per producer decides
  both whether and where to explore (as in :mod:`pricewar.learning`); all draws come from the
  model's generator, so runs are reproducible by seed.
- **Initial Q-values** follow the paper: the discounted profit against uniformly randomising
  rivals, ``Q_0(s, a) = E[pi(a, a_-i)] / (1 - delta)`` for every state. With 50 producers the
  expectation is a stratified Monte Carlo with the pricing kernel: ``init_rounds`` rounds of
  ``n_prices`` random profiles in which every learner plays each grid markup once (a random
  permutation per learner) while non-learners keep their prices.

The paper's learners need ~10^5-10^6 periods to converge (``beta = 4e-6``); a weekly model of
three years has 156. The default ``beta = 0.03`` lets exploration fall from 1 to ~1% by the last
half-year (``epsilon_130 = 0.02``), so what the model shows is early, mostly greedy play of
barely trained tables, not the converged strategies of the paper.

Parameters are :class:`QLearningParams` (defaults :data:`DEFAULT_PARAMS`). A run takes them from
its scenario, so it replays from its ``scenario.toml``::

    [strategy_params.q_learning]
    exploration_decay = 0.05

The first call stores them in the memory as ``params``; parameters put there before the first step
(``model.strategy_state["q_learning"] = {"params": QLearningParams(...)}``) take precedence.

In the token market a learner is a product (one host's offer of one family; its host prices it),
keyed by the product's stable id (``view.producer_ids``), so exit, entry and family releases
(array compaction and growth) never mix up tables. Memory (``view.state["q_learning"]``), rows
indexed by learner: ``ids`` (L,), ``q`` (L, m**2, m),
``age`` (L,), ``last_state`` (L,), ``last_action`` (L,); the market snapshot of the last call
``market_ids``, ``market_marginal_cost`` (USD/Mtok) and ``market_demand_per_producer``
(Mtok/step) to compute last step's markups and deflate its profit; and ``grid`` (m,).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from pricewar.errors import KernelInputError
from pricewar.kernel import market_demand
from pricewar.strategies.base import PricingView, best_response_target
from pricewar.strategies.registry import register

__all__ = ["QLearningParams", "DEFAULT_PARAMS", "STATE_KEY", "markup_grid", "observe_profit",
           "q_learning"]

log = logging.getLogger(__name__)

#: key of the strategy's memory in ``PricingView.state`` (``model.strategy_state``)
STATE_KEY = "q_learning"


@dataclass(frozen=True)
class QLearningParams:
    """Parameters of the ``q_learning`` strategy.

    Parameters
    ----------
    n_prices : int
        Grid points ``m`` (>= 2; paper: 15). States ``m**2``, Q-values ``m**3`` per producer.
    markup_min : float
        Lowest grid markup ``p / c`` (> 1: never at or below marginal cost).
    markup_max_over_reference : float
        Highest grid markup as a multiple of the reference (first-call best-response) markup
        (> 1, and the top must exceed ``markup_min``). The default 3 puts the static Nash markup
        near the middle of the grid and leaves room for collusive prices well above it.
    learning_rate : float
        ``alpha`` in (0, 1] (paper: 0.15).
    discount : float
        ``delta`` per step in [0, 1) (paper: 0.95).
    exploration_decay : float
        ``beta`` in ``epsilon_t = exp(-beta t)``, per step, > 0 (paper: 4e-6 per period over
        ~10^6 periods; here 0.03 so exploration fades within a 156-week run).
    init_rounds : int
        Monte Carlo rounds of the initial Q-values (>= 1); each round costs ``n_prices`` kernel
        evaluations, paid once per set of new learners.
    """

    n_prices: int = 15
    markup_min: float = 1.1
    markup_max_over_reference: float = 3.0
    learning_rate: float = 0.15
    discount: float = 0.95
    exploration_decay: float = 0.03
    init_rounds: int = 4

    def __post_init__(self):
        for name in ("n_prices", "init_rounds"):
            value = getattr(self, name)
            low = 2 if name == "n_prices" else 1
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
                raise KernelInputError(f"{name} must be an int >= {low}, got {value!r}")
        checks = {
            "markup_min": (lambda v: v > 1, "> 1"),
            "markup_max_over_reference": (lambda v: v > 1, "> 1"),
            "learning_rate": (lambda v: 0 < v <= 1, "in (0, 1]"),
            "discount": (lambda v: 0 <= v < 1, "in [0, 1)"),
            "exploration_decay": (lambda v: v > 0, "> 0"),
        }
        for name, (ok, what) in checks.items():
            value = getattr(self, name)
            if not (isinstance(value, int | float | np.integer | np.floating)
                    and not isinstance(value, bool) and math.isfinite(value) and ok(value)):
                raise KernelInputError(f"{name} must be finite and {what}, got {value!r}")


DEFAULT_PARAMS = QLearningParams()


def markup_grid(params: QLearningParams, reference_markup: float) -> np.ndarray:
    """The geometric markup grid ``p / c``, shape (n_prices,), dimensionless.

    From ``params.markup_min`` to ``params.markup_max_over_reference x reference_markup``.
    """
    top = params.markup_max_over_reference * reference_markup
    if not (math.isfinite(top) and top > params.markup_min):
        raise KernelInputError(
            f"reference_markup={reference_markup!r} gives a grid top {top!r} not above "
            f"markup_min={params.markup_min!r}")
    return np.geomspace(params.markup_min, top, params.n_prices)


# --------------------------------------------------------------------------------------------
# the strategy
# --------------------------------------------------------------------------------------------
def observe_profit(state: dict, producer_ids: np.ndarray, profit: np.ndarray) -> None:
    """Settlement hook: keep this step's realised profit (USD) by producer id for the next
    Q-update (nothing to do before the strategy's first call)."""
    memory = state.get(STATE_KEY)
    if memory is not None:
        memory["realised_profit"] = (np.asarray(producer_ids), profit.copy())


@register(STATE_KEY, params=QLearningParams, observe=observe_profit)
def q_learning(view: PricingView, members: np.ndarray) -> np.ndarray:
    """Epsilon-greedy markup from each member's Q-table, after learning from last step's profit.

    Parameters
    ----------
    view : PricingView
        Needs ``producer_ids``, ``state`` and ``rng`` (the model provides them).
    members : int array, shape (k,)
        Indices of the producers using the strategy.

    Returns
    -------
    price : shape (k,), USD/Mtok
        ``grid[action] x marginal_cost`` of each member.
    """
    if view.producer_ids is None or view.rng is None:
        raise KernelInputError("q_learning needs a PricingView with producer_ids and rng")
    memory = view.state.setdefault(STATE_KEY, {})
    params: QLearningParams = memory.setdefault(
        "params", view.strategy_params.get(STATE_KEY, DEFAULT_PARAMS))
    if not isinstance(params, QLearningParams):
        raise KernelInputError(
            f"state['{STATE_KEY}']['params'] must be a QLearningParams, got {params!r}")
    cost = view.marginal_cost
    if "grid" not in memory:
        reference = float(np.median(best_response_target(view)[members] / cost[members]))
        memory["grid"] = markup_grid(params, reference)
    grid = memory["grid"]
    m = grid.size
    ids = np.asarray(view.producer_ids, dtype=np.int64)
    member_ids = ids[members]

    _forget_exited(memory, ids)
    known = memory.get("ids", np.empty(0, dtype=np.int64))
    new = ~np.isin(member_ids, known)
    if new.any():
        _add_learners(memory, view, members, new, params)
    row = _rows(memory["ids"], member_ids)

    # state: own last action, and the rivals' average last markup on the grid
    log_markup = np.log(view.price / _last_marginal_cost(memory, ids, cost))
    n = ids.size
    rivals = (log_markup.sum() - log_markup) / (n - 1) if n > 1 else log_markup
    state = (np.where(memory["last_action"][row] >= 0, memory["last_action"][row],
                      _nearest(grid, log_markup[members]))
             * m + _nearest(grid, rivals[members]))

    _learn(memory, row, state, params)

    # epsilon-greedy: one uniform decides whether and where to explore
    q_rows = memory["q"][row, state]  # (k, m)
    epsilon = np.exp(-params.exploration_decay * memory["age"][row])
    uniform = view.rng.random(members.size)
    explore = uniform < epsilon
    drawn = np.minimum((uniform / epsilon * m).astype(np.int64), m - 1)
    action = np.where(explore, drawn, q_rows.argmax(axis=1))

    memory["last_state"][row] = state
    memory["last_action"][row] = action
    memory["age"][row] += 1
    memory["market_ids"] = ids.copy()
    memory["market_marginal_cost"] = cost.copy()
    memory["market_demand_per_producer"] = float(view.market.consumer_demand.sum()) / n
    return grid[action] * cost[members]


def _learn(memory: dict, row: np.ndarray, new_state: np.ndarray,
           params: QLearningParams) -> None:
    """Q-update of last step's (state, action) of the learners ``row`` with its realised profit.

    Learners without a previous action (first call, entrants) or without a realised profit
    (the strategy used outside :class:`~pricewar.model.PriceWarModel`) are skipped.
    """
    realised = memory.pop("realised_profit", None)
    if realised is None:
        return
    profit_ids, profit = (np.asarray(a) for a in realised)
    acted = memory["last_action"][row] >= 0
    has_profit = np.isin(memory["ids"][row], profit_ids)
    learn = acted & has_profit
    if not learn.any():
        return
    row, new_state = row[learn], new_state[learn]
    learner_ids = memory["ids"][row]
    reward = profit[_rows(profit_ids, learner_ids)] / (
        _rows_value(memory["market_ids"], memory["market_marginal_cost"], learner_ids)
        * memory["market_demand_per_producer"])
    q = memory["q"]
    state, action = memory["last_state"][row], memory["last_action"][row]
    target = reward + params.discount * q[row, new_state].max(axis=1)
    q[row, state, action] += params.learning_rate * (target - q[row, state, action])


# --------------------------------------------------------------------------------------------
# memory keyed by producer id
# --------------------------------------------------------------------------------------------
def _rows(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Positions of ``wanted`` in ``keys`` (every wanted key present; keys unique)."""
    order = np.argsort(keys, kind="stable")
    return order[np.searchsorted(keys, wanted, sorter=order)]


def _rows_value(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    return values[_rows(keys, wanted)]


def _last_marginal_cost(memory: dict, ids: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Last call's marginal cost by producer (this step's for producers new since then)."""
    if "market_ids" not in memory:
        return cost
    seen = np.isin(ids, memory["market_ids"])
    last = cost.copy()
    last[seen] = _rows_value(memory["market_ids"], memory["market_marginal_cost"], ids[seen])
    return last


def _nearest(grid: np.ndarray, log_markup: np.ndarray) -> np.ndarray:
    """Index of the grid point nearest in ``log(p / c)`` (the grid is uniform in logs)."""
    log_grid = np.log(grid)
    step = log_grid[1] - log_grid[0]
    index = np.rint((log_markup - log_grid[0]) / step)
    return np.clip(np.nan_to_num(index, nan=0.0), 0, grid.size - 1).astype(np.int64)


def _forget_exited(memory: dict, ids: np.ndarray) -> None:
    """Drop the tables of learners no longer in the market."""
    if "ids" not in memory:
        return
    keep = np.isin(memory["ids"], ids)
    if keep.all():
        return
    for name in ("ids", "q", "age", "last_state", "last_action"):
        memory[name] = memory[name][keep]


def _add_learners(memory: dict, view: PricingView, members: np.ndarray, new: np.ndarray,
                  params: QLearningParams) -> None:
    """Append rows for new learners with the paper's initial Q-values (see module docstring)."""
    q0 = _initial_q_values(view, members, new, memory["grid"], params)  # (k_new, m)
    m = memory["grid"].size
    k_new = int(new.sum())
    fresh = {
        "ids": np.asarray(view.producer_ids, dtype=np.int64)[members[new]],
        "q": np.broadcast_to(q0[:, None, :], (k_new, m * m, m)).copy(),
        "age": np.zeros(k_new, dtype=np.int64),
        "last_state": np.full(k_new, -1, dtype=np.int64),
        "last_action": np.full(k_new, -1, dtype=np.int64),
    }
    for name, values in fresh.items():
        memory[name] = (np.concatenate([memory[name], values]) if name in memory else values)
    log.debug("q_learning: %d new learners (%d in total)", k_new, memory["ids"].size)


def _initial_q_values(view: PricingView, members: np.ndarray, new: np.ndarray,
                      grid: np.ndarray, params: QLearningParams) -> np.ndarray:
    """Discounted deflated profit against uniformly randomising rival learners, shape
    (new.sum(), m).

    ``init_rounds`` rounds; in each, every member plays a random permutation of the grid over
    ``m`` kernel evaluations, so each member meets each of its own actions once per round
    against random rival learners (non-learners at their current prices).
    """
    m = grid.size
    cost = view.marginal_cost
    deflator = cost[members[new]] * float(view.market.consumer_demand.sum()) / view.price.size
    price = view.price.copy()
    total = np.zeros((int(new.sum()), m))
    own = np.arange(int(new.sum()))
    for _ in range(params.init_rounds):
        plan = view.rng.permuted(np.tile(np.arange(m), (members.size, 1)), axis=1)  # (k, m)
        for column in plan.T:
            price[members] = grid[column] * cost[members]
            demand = market_demand(view.market, price).producer_demand
            profit = (price[members] - cost[members]) * demand[members]
            total[own, column[new]] += profit[new] / deflator
    return total / (params.init_rounds * (1.0 - params.discount))
