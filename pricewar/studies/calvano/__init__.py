"""Tabular Q-learning in the repeated logit Bertrand game (Calvano et al. 2020, AER).

Reproduces the experiment of Calvano, Calzolari, Denicolò and Pastorello (2020), "Artificial
Intelligence, Algorithmic Pricing, and Collusion", *American Economic Review* 110(10): each of
``n`` firms runs an independent Q-learning algorithm that picks a price from a grid of ``m``
points; the state is last period's price profile (one-period memory, ``m**n`` states); the per-period
profits come from the pricing kernel's logit demand (:func:`pricewar.kernel.market_demand` on
:func:`pricewar.kernel.single_market`), evaluated once for every price profile on the grid.

Many independent *sessions* run at once: every array carries a leading session axis and one Python
loop steps through the periods, doing a handful of numpy operations per period for all sessions
and firms together. Sessions stop learning the period their greedy strategies have been unchanged
for ``stable_periods`` consecutive periods (the paper's convergence criterion) and drop out of the
active set.

Learning rule (paper, eq. 4), for firm ``i`` in state ``s`` choosing action ``a`` and moving to
``s'`` (the new price profile) with profit ``pi_i(s')``::

    Q_i(s, a) <- (1 - alpha) Q_i(s, a) + alpha [pi_i(s') + delta max_a' Q_i(s', a')]

Exploration is epsilon-greedy with ``epsilon_t = exp(-beta t)``, ``t = 0, 1, ...``.

Randomness: one :class:`numpy.random.Generator` per session, spawned from the seed's
:class:`numpy.random.SeedSequence`. A session draws its initial state, then one uniform per firm
and period; so session ``k`` of a given seed is the same whatever the number of sessions run
alongside it.

Modules: :mod:`~pricewar.studies.calvano.game` (the game and its profits) and
:mod:`~pricewar.studies.calvano.sessions` (learning sessions, impulse responses).
"""

from pricewar.studies.calvano.game import CalvanoConfig, LogitPricingGame, initial_q_values
from pricewar.studies.calvano.sessions import (
    DEFAULT_CHUNK_PERIODS,
    ImpulseResponse,
    SessionResult,
    impulse_response,
    run_sessions,
)

__all__ = [
    "CalvanoConfig",
    "LogitPricingGame",
    "SessionResult",
    "ImpulseResponse",
    "run_sessions",
    "impulse_response",
    "initial_q_values",
    "DEFAULT_CHUNK_PERIODS",
]
