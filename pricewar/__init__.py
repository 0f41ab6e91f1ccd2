"""pricewar: an agent-based model of the AI token price war.

Token producers (western-China green-energy "token factories", eastern-China compute centres, US and
EU providers), platform operators and industrial consumers trade tokens over a market graph; a
numpy-vectorized logit pricing kernel (:mod:`pricewar.kernel`) drives price competition from energy,
chip, cooling and latency costs.
"""

from pricewar.errors import ConvergenceError, KernelInputError, PricewarError, ScenarioError

__version__ = "0.1.0"

__all__ = ["ConvergenceError", "KernelInputError", "PricewarError", "ScenarioError", "__version__"]
