"""Tearsheet numbers of trading strategies, from the run folder's returns.csv and trades.csv (no plotting here):
equity, drawdown, calendar-year returns and trade statistics per period.

Equity is the cumulative product of (1 + daily net return), from 1 before the first date of returns.csv, over
the training, selection and holdout periods in a row.
"""

from dataclasses import dataclass

import numpy as np

from .rundata import PERIODS

__all__ = ["EquityPanel", "StrategyView", "equity", "drawdown", "yearly_returns", "headline_market",
           "returns_panels", "legacy_panels", "strategy_view", "trade_statistics", "PERIOD_NAMES"]

PERIOD_NAMES = {"train": "training", "selection": "selection", "holdout": "holdout", "all": "all periods"}


@dataclass
class EquityPanel:
    """One market of equity.png: curves [(id, equity)] over `dates`, BH first, and the periods [(name, first,
    last date)]."""

    market: str
    dates: np.ndarray
    spans: list
    curves: list


@dataclass
class StrategyView:
    """Everything one strategy's tearsheet figure draws, on one market (the portfolio when there is one)."""

    sid: str
    index: int  # position among the reported strategies (its colour)
    market: str
    dates: np.ndarray
    spans: list
    equity: np.ndarray
    bh_equity: np.ndarray
    drawdown: np.ndarray
    bh_drawdown: np.ndarray
    years: np.ndarray
    yearly: np.ndarray
    bh_yearly: np.ndarray
    year_periods: list  # the period most of each year's dates are in


def _clean(r):
    return np.where(np.isfinite(r), r, 0.0)


def equity(r):
    """E_t = prod_{u <= t} (1 + R_u); a non-finite return counts as 0 (no position)."""
    return np.multiply.accumulate(_clean(np.asarray(r, dtype=np.float64)) + 1.0)


def drawdown(e):
    """E_t / max_{u <= t} E_u - 1 (0 at a new high, negative below it)."""
    if e.size == 0:
        return e.copy()
    peak = np.maximum.accumulate(np.maximum(e, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peak > 0, e / np.where(peak > 0, peak, 1.0) - 1.0, -1.0)


def _years(dates):
    return dates.astype("datetime64[Y]").astype(np.int64) + 1970


def yearly_returns(dates, r):
    """(years, compounded return of each calendar year) over the dates present."""
    years = _years(dates)
    found = np.unique(years)
    r = _clean(np.asarray(r, dtype=np.float64))
    return found, np.array([np.prod(1.0 + r[years == y]) - 1.0 for y in found])


def headline_market(run):
    """The market whose curves speak for a strategy: the portfolio when there is one, else the first market."""
    markets = list(run.returns or ())
    return "portfolio" if "portfolio" in markets else (markets[0] if markets else None)


def returns_panels(run, ids):
    """equity.png panels from returns.csv: each market (portfolio last), buy-and-hold and the strategies `ids`
    that returns.csv holds."""
    panels = []
    markets = sorted(run.returns, key=lambda m: m == "portfolio")
    for market in markets:
        data = run.returns[market]
        curves = [(sid, equity(data.series[sid])) for sid in ["BH", *ids] if sid in data.series]
        panels.append(EquityPanel(market, data.dates, data.spans(), curves))
    return panels


def legacy_panels(market_curves, ids):
    """equity.png panels from equity.equity_curves (an older run folder without returns.csv): the in-sample
    curve, then the holdout one continued from its end."""
    panels = []
    for panel in market_curves:
        dates = np.concatenate([panel.in_sample_dates, panel.holdout_dates])
        curves = []
        for sid, curve in zip(["BH", *ids], [panel.buy_and_hold, *panel.strategies]):
            joined = curve.in_sample[-1] if curve.in_sample.size else 1.0
            curves.append((sid, np.concatenate([curve.in_sample, joined * curve.holdout])))
        spans = [(name, d[0], d[-1]) for name, d in (("in-sample", panel.in_sample_dates),
                                                      ("holdout", panel.holdout_dates)) if d.size]
        panels.append(EquityPanel(panel.market, dates, spans, curves))
    return panels


def strategy_view(run, sid, index):
    """The tearsheet of strategy `sid` on the headline market; None when returns.csv lacks it."""
    market = headline_market(run)
    data = run.returns.get(market) if market is not None else None
    if data is None or sid not in data.series or "BH" not in data.series or data.dates.size == 0:
        return None
    r, bh = data.series[sid], data.series["BH"]
    e, bh_e = equity(r), equity(bh)
    years, yearly = yearly_returns(data.dates, r)
    _, bh_yearly = yearly_returns(data.dates, bh)
    all_years = _years(data.dates)
    year_periods = []
    for year in years:
        periods = data.periods[all_years == year]
        counts = [(int(np.count_nonzero(periods == p)), -k, p) for k, p in enumerate(PERIODS)]
        year_periods.append(max(counts)[2])
    return StrategyView(sid, index, market, data.dates, data.spans(), e, bh_e, drawdown(e), drawdown(bh_e), years,
                        yearly, bh_yearly, year_periods)


def trade_statistics(trades, sid):
    """Per period of entry (training, selection, holdout) and over all periods, for strategy `sid` (pooled over
    its markets): dicts with period, trades, open, win_rate, mean, median, mean_bars, longest (None where no
    trade). A trade wins when its return is > 0; open trades (still held at the end of the data) count."""
    mine = [t for t in trades if t["id"] == sid]
    rows = []
    for period in (*PERIODS, "all"):
        chosen = [t for t in mine if period == "all" or t["period"] == period]
        returns = np.array([t["return"] for t in chosen], dtype=np.float64)
        returns = returns[np.isfinite(returns)]
        bars = np.array([t["bars"] for t in chosen], dtype=np.int64)
        rows.append({"period": period, "trades": len(chosen), "open": sum(1 for t in chosen if t["open"]),
                     "win_rate": float(np.mean(returns > 0)) if returns.size else None,
                     "mean": float(np.mean(returns)) if returns.size else None,
                     "median": float(np.median(returns)) if returns.size else None,
                     "mean_bars": float(np.mean(bars)) if bars.size else None,
                     "longest": int(bars.max()) if bars.size else None})
    return rows
