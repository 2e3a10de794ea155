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


# name -> (factory, one-line description for `python -m hpcevo problems`).
BUILTIN = {
    "trading": (trading, "trading strategies (typed GP) on daily OHLCV, NSGA-II on objectives (default Sharpe, "
                         "information ratio vs buy-and-hold) over calendar folds, a selection period, an "
                         "out-of-sample holdout and a skill-or-luck verdict; options: data (sp500 | nasdaq | "
                         "sp500+nasdaq | file), objectives (default | classic | list), folds (4), holdout_years (4), "
                         "selection_years (2), cost_bps (10), borrow_bps (0), risk_free (0 | rate | column), fill "
                         "(close | next_open), long_short (false), min_exposure (0.1), min_trades (1), max_height "
                         "(8), report_top (10)"),
    "onemax": (onemax, "OneMax bit string, maximise the ones; options: length (100), indpb (0.05)"),
    "sphere": (sphere, "Sphere function on [-5.12, 5.12]^d, minimise; options: dimension (30)"),
    "rastrigin": (rastrigin, "Rastrigin function on [-5.12, 5.12]^d, minimise; options: dimension (30)"),
    "ackley": (ackley, "Ackley function on [-32.768, 32.768]^d, minimise; options: dimension (30)"),
    "schwefel": (schwefel, "Schwefel function on [-500, 500]^d, minimise; options: dimension (30)"),
    "rosenbrock": (rosenbrock, "Rosenbrock function on [-2.048, 2.048]^d, minimise; options: dimension (30, >= 2)"),
    "zdt1": (zdt1, "ZDT1 two-objective problem on [0, 1]^d, minimise both (NSGA-II); options: dimension (30, >= 2)"),
}
