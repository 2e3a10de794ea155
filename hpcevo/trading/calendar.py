"""One calendar for every instrument: training folds, a selection period and a holdout cut at shared dates.

The dates come from the common calendar (the union of the instruments' dates): the holdout is the last
`holdout_years` of it (calendar years counted in whole months back from the last date), the selection period the
`selection_years` before the holdout, and the training period (from the first bar where the longest indicator
window is defined on some instrument, up to the selection period) is cut into `folds` calendar periods of equal
length. A walk-forward window gives the holdout's first date and the training's first date itself
(`holdout_start`, `train_start`); the bars before the training start are then indicator history only. Each
instrument takes part in the periods its history covers (at least `MIN_FOLD_BARS` bars of a fold, 2 bars of the
selection period or holdout), so a short history joins late instead of aborting the run, and no
instrument's training bars reach another's selection or holdout dates.
"""

from dataclasses import dataclass

import numpy as np

from .backtest import valid_span
from .data import DataError
from .language import WINDOWS

__all__ = ["Calendar", "MarketPeriods", "make_calendar", "usable_dates", "MIN_FOLD_BARS", "WARMUP_BARS"]

MIN_FOLD_BARS = 63  # an instrument joins a fold only with at least a quarter of daily bars in it
WARMUP_BARS = max(WINDOWS)  # bars before an instrument's training starts: its longest indicator window fills


@dataclass(frozen=True)
class MarketPeriods:
    """One instrument's bar ranges (start, stop) of each period; None where it has (too) few bars there."""

    folds: tuple  # one entry per calendar fold: (start, stop) or None
    selection: tuple
    holdout: tuple

    @property
    def training(self):
        """The folds this instrument takes part in."""
        return [f for f in self.folds if f is not None]


@dataclass(frozen=True)
class Calendar:
    """The shared cut-off dates (datetime64[D]) and each instrument's periods, in the order of the markets."""

    fold_edges: tuple  # folds + 1 dates: fold k is edge_k <= date < edge_k+1; the last edge is selection_start
    selection_start: np.datetime64
    holdout_start: np.datetime64  # the one out-of-sample cut-off date of every instrument
    end: np.datetime64  # the last date with a return
    markets: tuple  # MarketPeriods per market

    @property
    def train_start(self):
        return self.fold_edges[0]

    def dates(self, markets):
        """ISO first and last dates of the training, selection and holdout periods (what summary.json shows)."""
        def span(key):
            firsts, lasts = [], []
            for market, periods in zip(markets, self.markets):
                ranges = periods.training if key == "train" else [getattr(periods, key)]
                for r in ranges:
                    if r is not None:
                        firsts.append(market.dates[r[0]])
                        lasts.append(market.dates[r[1] - 1])
            return (str(min(firsts)), str(max(lasts))) if firsts else (None, None)

        (ts, te), (ss, se), (os_, oe) = span("train"), span("selection"), span("holdout")
        return {"train_start": ts, "train_end": te, "selection_start": ss, "selection_end": se,
                "oos_start": os_, "oos_end": oe}

    def fold_dates(self):
        """[first, last] calendar dates of each fold (ISO), the last day being the day before the next edge."""
        one = np.timedelta64(1, "D")
        return [[str(a), str(b - one)] for a, b in zip(self.fold_edges[:-1], self.fold_edges[1:])]


def _years_before(date, years):
    """`date` minus `years` calendar years (whole months: 1.5 is 18 months; the day clamped to the month's end)."""
    months = int(round(years * 12))
    day = date.astype(object)
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    last = (np.datetime64(f"{year:04d}-{month + 1:02d}", "M") + 1).astype("datetime64[D]") - np.timedelta64(1, "D")
    return min(np.datetime64(f"{year:04d}-{month + 1:02d}-01") + np.timedelta64(day.day - 1, "D"), last)


def _bars(dates, lo, hi, first, stop, minimum):
    """(start, stop) of the bars first..stop-1 whose dates lie in [lo, hi); None with fewer than `minimum`."""
    a = max(first, int(np.searchsorted(dates, lo, side="left")))
    b = min(stop, int(np.searchsorted(dates, hi, side="left")) if hi is not None else stop)
    return (a, b) if b - a >= minimum else None


def usable_dates(markets, spans):
    """(the first date any instrument can train on, its longest indicator window filled, or None; the last date
    with a return) of `markets` with their valid_span `spans`."""
    starts = [m.dates[first + WARMUP_BARS] for m, (first, stop) in zip(markets, spans) if stop - first > WARMUP_BARS]
    end = max(m.dates[stop - 1] for m, (_, stop) in zip(markets, spans))
    return (min(starts) if starts else None), end


def make_calendar(markets, returns, folds, holdout_years, selection_years, holdout_start=None, train_start=None):
    """The Calendar of `markets` (their per-bar `returns` say which bars have a return); DataError when the
    common history cannot hold the folds, the selection period and the holdout.

    `holdout_start` (datetime64[D]) replaces `holdout_years`; `train_start` moves the first training date later
    (never earlier than the indicator warm-up allows)."""
    spans = [valid_span(r) for r in returns]
    first, end = usable_dates(markets, spans)
    holdout_text = f"the holdout (from {holdout_start})"
    if holdout_start is None:
        holdout_start = _years_before(end, holdout_years) + np.timedelta64(1, "D")
        holdout_text = f"the holdout (the last {holdout_years:g} years, from {holdout_start})"
    selection_start = _years_before(holdout_start, selection_years)
    train_start = (max(first, train_start) if train_start is not None else first) if first is not None else None
    needed_days = folds * MIN_FOLD_BARS * 365.25 / 252
    if train_start is None or (selection_start - train_start) / np.timedelta64(1, "D") < needed_days:
        longest = max(m.n_bars for m in markets)
        have = (f"no training bars (the longest history has {longest} bars)" if train_start is None
                else f"training dates from {train_start} to {selection_start}")
        raise DataError(
            f"{markets[0].source}: the data end on {end}; after the {WARMUP_BARS}-bar indicator warm-up, "
            f"{holdout_text} and the selection period "
            f"({selection_years:g} years before it) leave {have}, too short for {folds} validation folds of at least "
            f"{MIN_FOLD_BARS} bars. Use more data, fewer folds (problem option folds) or shorter periods "
            f"(holdout_years, selection_years).")
    days = int((selection_start - train_start) / np.timedelta64(1, "D"))
    edges = tuple(train_start + np.timedelta64(int(round(days * k / folds)), "D") for k in range(folds + 1))
    periods = []
    for m, (first, stop) in zip(markets, spans):
        start = first + WARMUP_BARS
        fold_bars = tuple(_bars(m.dates, a, b, start, stop, MIN_FOLD_BARS) for a, b in zip(edges[:-1], edges[1:]))
        selection = _bars(m.dates, selection_start, holdout_start, start, stop, 2)
        holdout = _bars(m.dates, holdout_start, None, start, stop, 2)
        periods.append(MarketPeriods(fold_bars, selection, holdout))
    if not any(p.training for p in periods):
        raise DataError(f"{markets[0].source}: no instrument has {MIN_FOLD_BARS} bars with returns in any validation "
                        f"fold (from {edges[0]} to {selection_start}). Use more data or fewer folds (problem option "
                        f"folds).")
    return Calendar(edges, selection_start, holdout_start, end, tuple(periods))
