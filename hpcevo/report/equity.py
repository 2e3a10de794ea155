"""Equity curves of trading strategies, in-sample and on the holdout, as arrays (no plotting here).

The markets, holdout split, costs and signals come from the trading problem itself (`trading(**options)` with
the run's [problem_options]), so the curves follow exactly the conventions the run was scored with; the
holdout curve ends at the `oos_total_return` of strategies.csv.
"""

import inspect
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..trading.backtest import net_returns, period_metrics, positions
from ..trading.data import EMBEDDED_MARKETS
from ..trading.language import ExpressionError, parse
from .readers import ReportError

__all__ = ["Curve", "MarketCurves", "equity_curves", "data_spec", "data_available", "equity", "settings_text"]


@dataclass
class Curve:
    """One strategy (or buy-and-hold) on one market: equity E_t over the in-sample and the holdout bars, each
    starting flat with E = 1 before its first bar, and the holdout metrics (period_metrics)."""

    label: str
    in_sample: np.ndarray
    holdout: np.ndarray
    holdout_metrics: dict


@dataclass
class MarketCurves:
    market: str
    in_sample_dates: np.ndarray
    holdout_dates: np.ndarray
    buy_and_hold: Curve
    strategies: list


def data_spec(config, data=None):
    """The market data to use: `data` (the --data flag) or the run's problem_options.data (default sp500)."""
    return str(data if data is not None else config.get("problem_options", {}).get("data", "sp500"))


def _options(config, data=None):
    """The trading factory's keyword arguments: its defaults, then the run's [problem_options], then --data."""
    from ..trading.problem import trading

    options = {name: p.default for name, p in inspect.signature(trading).parameters.items()}
    options.update(config.get("problem_options", {}))
    options["data"] = data_spec(config, data)
    return options


def settings_text(config, data=None):
    """How the strategies were backtested, in words (for the figure title)."""
    o = _options(config, data)
    return (f"{o['data']}, cost {float(o['cost_bps']):g} bps, fill {o['fill']}, "
            f"{'long/short' if o['long_short'] else 'long/flat'}, holdout {float(o['holdout_years']):g} years")


def data_available(spec):
    """True for the built-in data sets and for files that exist on this machine."""
    names = [part.strip() for part in spec.split("+")]
    return all(name in EMBEDDED_MARKETS for name in names) or Path(spec.strip()).is_file()


def equity(p, r, cost_bps):
    """E_t = prod(1 + R_u) over a period, from the trading backtest's own per-bar net returns."""
    return np.multiply.accumulate(net_returns(p, r, cost_bps) + 1.0)


def equity_curves(config, expressions, data=None):
    """One MarketCurves per instrument for the strategy `expressions` (as printed in strategies.csv)."""
    from ..trading.problem import trading

    try:
        ctx = trading(**_options(config, data)).context
    except (TypeError, ValueError) as exc:
        raise ReportError(f"config.toml [problem_options]: {exc}; the trading problem cannot be rebuilt for the "
                          f"equity curves.") from None
    trees = []
    for expression in expressions:
        try:
            trees.append((expression, parse(expression)))
        except ExpressionError as exc:
            raise ReportError(f"strategy {expression!r} from the run folder does not parse: {exc}") from None
    signals = [(expression, ctx.signals(tree)) for expression, tree in trees]
    panels = []
    for m, market in enumerate(ctx.markets):
        start, hold, stop = ctx.folds[m][0][0], *ctx.holdout[m]
        r = ctx.returns[m]

        def curve(label, p_full, signal):
            p_is, p_oos = p_full[start:hold], p_full[hold:stop]
            metrics = period_metrics(signal, r, hold, stop, ctx.cost_bps, ctx.periods_per_year) \
                if signal is not None else None
            return Curve(label, equity(p_is, r[start:hold], ctx.cost_bps),
                         equity(p_oos, r[hold:stop], ctx.cost_bps), metrics)

        hold_all = curve("buy and hold", np.ones(r.shape[0]), None)
        strategies = [curve(expression, positions(s[m]), s[m]) for expression, s in signals]
        panels.append(MarketCurves(market.name, market.dates[start:hold], market.dates[hold:stop], hold_all,
                                   strategies))
    return panels
