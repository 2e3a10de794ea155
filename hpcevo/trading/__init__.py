"""Trading workload: typed-GP strategies evolved on market data and scored by vectorized backtests.

`strategy_returns(expression, **options)` gives a strategy's daily net returns as a pandas Series and
`read_returns(run_dir)` the reported strategies' returns of a finished run (imported on first use).
"""

__all__ = ["strategy_returns", "read_returns"]


def __getattr__(name):
    if name in __all__:
        from . import reporting

        return getattr(reporting, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
