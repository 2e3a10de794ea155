"""The flagship problem: evolve trading strategies (typed GP) scored by vectorised backtests.

Fitness is (Sharpe up, max drawdown down, win rate up), each averaged over walk-forward validation folds
of the in-sample data and over the instruments; the last `holdout_years` of every instrument are never
seen during evolution and are only used by `report`, which writes `strategies.csv` at the end.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from deap import base, gp, tools

from ..errors import Rejected
from ..output import atomic_write, csv_text
from ..problems.common import creator_class
from .backtest import FILLS, bar_returns, buy_and_hold, fold_objectives, period_metrics, valid_span
from .data import DataError, load_markets
from .language import WINDOWS, get_pset, to_expression
from .strategy import HEIGHT_LIMIT, compile_signal, register_strategy_operators

__all__ = ["trading", "TradingContext", "signal_values", "PENALTY", "MIN_FOLD_BARS"]

PENALTY = (-10.0, 1.0, 0.0)  # Sharpe, max drawdown, win rate of failed or rejected strategies (finite: NSGA-II)
MIN_FOLD_BARS = 63  # a validation fold holds at least a quarter of daily bars


@dataclass
class TradingContext:
    """Everything a strategy evaluation needs, built once per process."""

    markets: list
    returns: list
    folds: list  # per market: [(start, stop), ...] in-sample validation folds
    holdout: list  # per market: (start, stop) out-of-sample bars
    cost_bps: float
    periods_per_year: int
    long_short: bool
    min_trades: float
    caches: list = field(default_factory=list)

    def signals(self, tree):
        """The strategy's signal s_t on every market (1/0, or 1/-1 with long_short; 0 during warm-up)."""
        return [signal_values(*compile_signal(tree, m, c), self.long_short) for m, c in zip(self.markets, self.caches)]


def signal_values(signal, defined, long_short):
    """s_t as floats: long/flat from the boolean signal, or long/short where every indicator is defined."""
    if long_short:
        return np.where(defined, np.where(signal, 1.0, -1.0), 0.0)
    return signal.astype(np.float64)


def _splits(market, returns, folds, holdout_years):
    """(folds, holdout) bar ranges of one market: the holdout is the last `holdout_years` of dates."""
    first, last = valid_span(returns)
    cutoff = market.dates[-1] - np.timedelta64(int(round(holdout_years * 365.25)), "D")
    holdout_start = max(first, int(np.searchsorted(market.dates, cutoff, side="right")))
    in_sample = holdout_start - first
    needed = max(WINDOWS) + folds * MIN_FOLD_BARS
    if in_sample < needed or last - holdout_start < MIN_FOLD_BARS:
        raise DataError(f"{market.source}: instrument {market.name!r} has {in_sample} bars before its holdout "
                        f"(the last {holdout_years:g} years, {last - holdout_start} bars) and needs at least "
                        f"{needed} there (longest indicator window {max(WINDOWS)} + {folds} validation folds of "
                        f"{MIN_FOLD_BARS} bars) and {MIN_FOLD_BARS} in the holdout. Use more data, fewer folds "
                        f"(problem option folds) or a shorter holdout (holdout_years).")
    edges = np.linspace(first, holdout_start, folds + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])], (holdout_start, last)


def _check_options(folds, holdout_years, cost_bps, fill, min_trades, max_height, periods_per_year):
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 1:
        raise ValueError(f"folds must be an integer >= 1, got {folds!r}")
    for name, value in (("holdout_years", holdout_years), ("cost_bps", cost_bps), ("min_trades", min_trades)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
    if holdout_years <= 0:
        raise ValueError(f"holdout_years must be > 0, got {holdout_years!r}")
    if fill not in FILLS:
        raise ValueError(f"fill must be one of {', '.join(FILLS)}, got {fill!r}")
    if not isinstance(max_height, int) or isinstance(max_height, bool) or max_height < 2:
        raise ValueError(f"max_height must be an integer >= 2, got {max_height!r}")
    if not isinstance(periods_per_year, int) or isinstance(periods_per_year, bool) or periods_per_year < 1:
        raise ValueError(f"periods_per_year must be an integer >= 1, got {periods_per_year!r}")


def trading(data="sp500", folds=4, holdout_years=4.0, cost_bps=10.0, fill="close", long_short=False,
            min_trades=2.0, max_height=HEIGHT_LIMIT, periods_per_year=252):
    """The trading toolbox: strategies for the instruments in `data` (embedded name or CSV/Parquet path)."""
    _check_options(folds, holdout_years, cost_bps, fill, min_trades, max_height, periods_per_year)
    markets = load_markets(data, min_bars=max(WINDOWS) + folds * MIN_FOLD_BARS, longest_window=max(WINDOWS))
    returns = [bar_returns(m.open, m.close, fill) for m in markets]
    splits = [_splits(m, r, folds, holdout_years) for m, r in zip(markets, returns)]
    ctx = TradingContext(markets, returns, [s[0] for s in splits], [s[1] for s in splits], float(cost_bps),
                         periods_per_year, bool(long_short), float(min_trades), [{} for _ in markets])
    fitness = creator_class("HpcevoFitnessTrading", base.Fitness, weights=(1.0, -1.0, 1.0))
    strategy = creator_class("HpcevoStrategy", gp.PrimitiveTree, fitness=fitness)
    tb = base.Toolbox()
    register_strategy_operators(tb, strategy, pset=get_pset(), height_limit=max_height)
    tb.register("evaluate", evaluate_strategy, ctx=ctx)
    tb.register("select", tools.selNSGA2)
    tb.register("report", write_strategies, ctx=ctx)
    tb.register("describe", to_expression)
    tb.penalty = PENALTY
    tb.context = ctx
    return tb


def evaluate_strategy(tree, ctx):
    """Mean (Sharpe, max drawdown, win rate) over every market's validation folds; Rejected if it trades rarely."""
    per_fold = np.concatenate([fold_objectives(s, r, f, ctx.cost_bps, ctx.periods_per_year)
                               for s, r, f in zip(ctx.signals(tree), ctx.returns, ctx.folds)])
    means = per_fold.mean(axis=0)
    if means[3] < ctx.min_trades:
        raise Rejected(f"{means[3]:g} trades per validation fold (min_trades {ctx.min_trades:g})")
    return float(means[0]), float(means[1]), float(means[2])


_IS = ("sharpe", "max_drawdown", "win_rate", "trades")
_OOS = ("total_return", "cagr", "sharpe", "max_drawdown", "win_rate", "trades", "exposure", "bars")
COLUMNS = (["expression", "market"] + [f"is_{k}" for k in _IS] + [f"oos_{k}" for k in _OOS])


def strategy_rows(ctx, expressions_and_signals):
    """Rows of strategies.csv: in-sample fold means and out-of-sample metrics per strategy and market."""
    rows = []
    for expression, signals in expressions_and_signals:
        for m, market in enumerate(ctx.markets):
            if signals is None:  # buy and hold
                folds = np.array([[buy_and_hold(ctx.returns[m], a, b, ctx.cost_bps, ctx.periods_per_year)[k]
                                   for k in _IS] for a, b in ctx.folds[m]])
                oos = buy_and_hold(ctx.returns[m], *ctx.holdout[m], ctx.cost_bps, ctx.periods_per_year)
            else:
                folds = fold_objectives(signals[m], ctx.returns[m], ctx.folds[m], ctx.cost_bps, ctx.periods_per_year)
                oos = period_metrics(signals[m], ctx.returns[m], *ctx.holdout[m], ctx.cost_bps,
                                     ctx.periods_per_year)
            row = {"expression": expression, "market": market.name}
            row.update({f"is_{k}": float(v) for k, v in zip(_IS, folds.mean(axis=0))})
            row.update({f"oos_{k}": oos[k] for k in _OOS})
            rows.append(row)
    return rows


def write_strategies(run_dir, hall_of_fame, ctx):
    """Rank 0, after the run: re-run the merged front on the holdout and write strategies.csv."""
    entries = [(to_expression(ind), ctx.signals(ind)) for ind in hall_of_fame]
    entries.sort(key=lambda e: e[0])
    rows = strategy_rows(ctx, [("buy_and_hold", None)] + entries)
    atomic_write(Path(run_dir) / "strategies.csv", csv_text(rows, COLUMNS))


