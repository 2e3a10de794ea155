"""Built-in problems: factories that take keyword options and return a DEAP toolbox.

Importing this package is cheap: deap.tools and deap.creator are loaded only when a factory runs.
"""

from .functions import ackley, rastrigin, rosenbrock, schwefel, sphere
from .onemax import onemax
from .zdt import zdt1

__all__ = ["BUILTIN", "ackley", "onemax", "rastrigin", "rosenbrock", "schwefel", "sphere", "trading", "zdt1"]


def trading(**options):
    """The trading workload (hpcevo.trading.problem.trading), imported only when used."""
    from ..trading.problem import trading as factory

    return factory(**options)


trading.options_of = "hpcevo.trading.problem:trading"


# name -> (factory, one-line description); `python -m hpcevo problems` adds each factory's options from its signature.
BUILTIN = {
    "trading": (trading, "trading strategies (typed GP) on daily OHLCV (sp500, nasdaq, sp500+nasdaq or a CSV or "
                         "Parquet file), NSGA-II on objectives (default Sharpe, information ratio vs buy-and-hold) "
                         "over calendar folds, a selection period, an out-of-sample holdout and a skill-or-luck "
                         "verdict"),
    "onemax": (onemax, "OneMax bit string, maximise the ones"),
    "sphere": (sphere, "Sphere function on [-5.12, 5.12]^d, minimise"),
    "rastrigin": (rastrigin, "Rastrigin function on [-5.12, 5.12]^d, minimise"),
    "ackley": (ackley, "Ackley function on [-32.768, 32.768]^d, minimise"),
    "schwefel": (schwefel, "Schwefel function on [-500, 500]^d, minimise"),
    "rosenbrock": (rosenbrock, "Rosenbrock function on [-2.048, 2.048]^d (d >= 2), minimise"),
    "zdt1": (zdt1, "ZDT1 two-objective problem on [0, 1]^d (d >= 2), minimise both (NSGA-II)"),
}
