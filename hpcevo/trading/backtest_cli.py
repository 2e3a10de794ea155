"""`python -m hpcevo backtest "EXPR"`: re-run one strategy expression and print its metrics as JSON."""

import json
import os
import sys

import numpy as np

from ..errors import UserError

__all__ = ["add_arguments", "backtest_command", "backtest_markets"]


def add_arguments(parser):
    parser.add_argument("expression",
                        help='a strategy, e.g. "and(gt(sma(close,20),sma(close,100)),lt(rsi(close,14),70))"')
    parser.add_argument("--data", default="sp500", help="sp500 | nasdaq | sp500+nasdaq | a CSV or Parquet file")
    parser.add_argument("--cost-bps", type=float, default=10.0, help="cost per unit of position change (default 10)")
    parser.add_argument("--fill", choices=("close", "next_open"), default="close",
                        help="trade at the signal bar's close (default) or the next bar's open")
    parser.add_argument("--long-short", action="store_true", help="short when the signal is false (default: flat)")
    parser.add_argument("--start", help="first date of the period (YYYY-MM-DD; default: the first bar with a return)")
    parser.add_argument("--end", help="last date of the period, inclusive (default: the last bar with a return)")
    parser.add_argument("--periods-per-year", type=int, default=252, help="for Sharpe and CAGR (default 252)")
    parser.add_argument("--borrow-bps", type=float, default=0.0, help="annual fee on shorts, in bps (default 0)")
    parser.add_argument("--risk-free", type=float, default=0.0,
                        help="annual risk-free rate earned while flat and subtracted in Sharpe/Sortino (0.02 = 2%%)")


def _period(market, returns, start, end):
    from .backtest import valid_span

    lo, hi = valid_span(returns)
    try:
        if start:
            lo = max(lo, int(np.searchsorted(market.dates, np.datetime64(start, "D"), side="left")))
        if end:
            hi = min(hi, int(np.searchsorted(market.dates, np.datetime64(end, "D"), side="right")))
    except ValueError:
        raise UserError(f"--start/--end must be dates like 2015-01-02, got {start!r} / {end!r}.") from None
    if hi - lo < 2:
        raise UserError(f"the period {start or 'start'} .. {end or 'end'} holds {max(hi - lo, 0)} bars of "
                        f"{market.name} ({market.source}); choose dates inside its data, "
                        f"{market.dates[0]} .. {market.dates[-1]}.")
    return lo, hi


def backtest_markets(expression, data="sp500", cost_bps=10.0, fill="close", long_short=False, start=None, end=None,
                     periods_per_year=252, borrow_bps=0.0, risk_free=0.0):
    """Metrics of one strategy (metrics.METRICS, against buy-and-hold over the same bars) on every instrument of
    `data`: a list of dicts, one per market. The period starts flat, as each period of a run does."""
    # here, not at the top: `hpcevo run` builds this command's parser, and must not pay for pandas and scipy
    from .backtest import bar_returns, positions
    from .data import load_markets
    from .language import parse, to_expression
    from .metrics import net_returns, period_stats
    from .problem import signal_values
    from .strategy import compile_signal

    tree = parse(expression)
    results = []
    for market in load_markets(data):
        returns = bar_returns(market.open, market.close, fill)
        lo, hi = _period(market, returns, start, end)
        signal = signal_values(*compile_signal(tree, market, {}), long_short)
        p, r = positions(signal)[lo:hi], returns[lo:hi]
        rf = np.full(hi - lo, risk_free / periods_per_year) if risk_free else None
        kw = {"borrow_bps": borrow_bps, "rf": rf, "periods_per_year": periods_per_year}
        net, bh = net_returns(p, r, cost_bps, **kw), net_returns(np.ones(hi - lo), r, cost_bps, **kw)
        result = {"expression": to_expression(tree), "market": market.name, "start": str(market.dates[lo]),
                  "end": str(market.dates[hi - 1]), "fill": fill, "cost_bps": cost_bps, "long_short": long_short,
                  "borrow_bps": borrow_bps, "risk_free": risk_free}
        result.update(period_stats(p, net, bh, periods_per_year, rf, cost_bps=cost_bps))
        result["buy_and_hold"] = period_stats(np.ones(hi - lo), bh, bh, periods_per_year, rf, cost_bps=cost_bps)
        results.append(result)
    return results


def backtest_command(args):
    results = backtest_markets(args.expression, args.data, args.cost_bps, args.fill, args.long_short, args.start,
                               args.end, args.periods_per_year, args.borrow_bps, args.risk_free)
    try:
        print(json.dumps(results[0] if len(results) == 1 else {"markets": results}, indent=1), flush=True)
    except BrokenPipeError:  # `hpcevo backtest ... | head`: the reader left; not a failure
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
