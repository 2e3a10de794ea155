"""Vectorised backtest of a long/flat/short signal and its metrics over periods of bars (pure NumPy).

Conventions (docs/trading.md states them the same way):

- Bars t = 0..N-1. A signal s_t in {1 long, 0 flat, -1 short} uses data of bars <= t only; while any indicator
  of the strategy is undefined the signal is flat (the caller passes `signal` already flat there).
- fill "close" (default): the position held over bar t is p_t = s_{t-1} (p_0 = 0) and earns
  r_t = close_t / close_{t-1} - 1. fill "next_open": p_t = s_{t-1} earns o_t = open_{t+1} / open_t - 1; the
  last bar has none, so no period may contain it.
- Net bar return R_t = p_t * r_t - c * |p_t - p_{t-1}|, c = cost_bps / 10,000, with p = 0 before the period
  (the period's first bar pays the entry cost if p is non-zero there).
- Over a period's bars: Sharpe = mean(R) / std(R, ddof=1) * sqrt(periods_per_year), 0 with fewer than 2 bars
  or when std is 0 (all R of the period equal); equity E_t = prod_{u<=t} (1 + R_u); max drawdown =
  max_t (1 - E_t / max(1, max_{u<=t} E_u)); a trade is a maximal run of bars with the same non-zero position;
  its return compounds (1 + R) over those bars and the bar that closes it (the first bar after the run inside
  the period, carrying the exit cost; none if the run reaches the period end). On a reversal (p goes from 1
  to -1 or back in one bar) that bar's cost c * |p_t - p_{t-1}| = 2c is split: the closed trade gets the
  factor (1 - c), and the new trade's first bar the factor (1 + p_t * r_t - c). Win rate = share of trades
  with return > 0 (0 without trades), where "> 0" means above WIN_MIN = 1e-9, so that a round trip at an
  unchanged price (return 0 up to floating-point rounding) never counts as a win; total return = E_last - 1;
  CAGR = E_last^(periods_per_year / bars) - 1 (-1 when E_last <= 0); exposure = share of the period's bars
  with p_t != 0.

`fold_objectives` is the fitness hot path: positions and net returns are computed once over all folds laid
end to end; per-fold sums are segmented reductions over that one array, trades come from the change points of
the positions (np.nonzero), and only the equity's cumulative product and running maximum go fold by fold.
Signals must hold -1, 0 and 1 only (period_metrics checks it; fold_objectives, for speed, does not).
"""

import math
import numbers

import numpy as np

__all__ = [
    "valid_span",
    "FILLS",
    "METRIC_KEYS",
    "WIN_MIN",
    "bar_returns",
    "buy_and_hold",
    "fold_objectives",
    "period_metrics",
    "positions",
]

FILLS = ("close", "next_open")
WIN_MIN = 1e-9  # a trade wins when its return exceeds this (not float noise around 0)
METRIC_KEYS = ("total_return", "cagr", "sharpe", "max_drawdown", "win_rate", "trades", "exposure", "bars")


def _series(x, name):
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    return arr


def _growth(prices, name):
    """prices[1:] / prices[:-1] - 1 with NaN where the earlier price is 0."""
    prices = _series(prices, name)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = prices[1:] / prices[:-1] - 1.0
    g[prices[:-1] == 0.0] = np.nan
    return g


def bar_returns(open_, close, fill="close"):
    """The return each bar's position earns: r_t (fill "close", NaN at bar 0) or o_t ("next_open", NaN last).

    `open_` is not used (may be None) with fill "close".
    """
    if fill == "close":
        g = _growth(close, "close")
        return np.concatenate(([np.nan], g))
    if fill == "next_open":
        if open_ is None:
            raise ValueError('fill "next_open" needs open prices')
        g = _growth(open_, "open")
        return np.concatenate((g, [np.nan]))
    raise ValueError(f"unknown fill {fill!r}; expected one of {', '.join(FILLS)}")


def valid_span(returns):
    """(first, stop): the bars from the first to the last one with a defined return."""
    valid = np.flatnonzero(~np.isnan(returns))
    return int(valid[0]), int(valid[-1]) + 1


def positions(signal):
    """p_t = s_{t-1}, p_0 = 0, as float64."""
    s = _series(signal, "signal")
    p = np.empty_like(s)
    if s.shape[0]:
        p[0] = 0.0
        p[1:] = s[:-1]
    return p


class _Layout:
    """Where the folds' bars lie once laid end to end (cached per series length and folds)."""

    __slots__ = (
        "bars",
        "contiguous",
        "firsts",
        "float_lengths",
        "float_list",
        "hi",
        "int_lengths",
        "k",
        "lasts",
        "lengths",
        "lo",
        "pidx",
        "ridx",
        "slices",
        "zpos",
    )

    def __init__(self, n, folds, what="fold"):
        pairs = []
        for fold in folds:
            try:
                start, stop = fold
            except (TypeError, ValueError):
                raise ValueError(f"a {what} must be a (start, stop) pair, got {fold!r}") from None
            for v in (start, stop):
                if isinstance(v, bool) or not isinstance(v, numbers.Integral):
                    raise ValueError(f"{what} bounds must be integers, got {fold!r}")
            start, stop = int(start), int(stop)
            if not 0 <= start < stop <= n:
                raise ValueError(f"{what} ({start}, {stop}) is empty or outside the {n} bars")
            pairs.append((start, stop))
        if not pairs:
            raise ValueError("no folds given")
        self.k = len(pairs)
        lengths = np.array([b - a for a, b in pairs], dtype=np.intp)
        ends = np.cumsum(lengths)
        firsts = ends - lengths
        self.firsts = firsts
        self.lasts = ends - 1
        self.lengths = lengths
        self.int_lengths = lengths.tolist()
        self.float_lengths = lengths.astype(np.float64)
        self.float_list = self.float_lengths.tolist()
        self.bars = float(self.float_lengths.sum())
        self.slices = [slice(int(a), int(b)) for a, b in zip(firsts, ends)]
        self.contiguous = all(pairs[i][1] == pairs[i + 1][0] for i in range(self.k - 1))
        self.lo, self.hi = pairs[0][0], pairs[-1][1]
        if self.contiguous:
            self.ridx = self.pidx = self.zpos = None
        else:
            self.ridx = np.concatenate([np.arange(a, b) for a, b in pairs])
            self.pidx = self.ridx - 1
            self.zpos = np.flatnonzero(self.ridx == 0)


_LAYOUTS = {}


def _layout(n, folds):
    try:
        key = (n, tuple(map(tuple, folds)))
        return _LAYOUTS[key]
    except KeyError:
        pass
    except TypeError:  # unhashable folds: no cache
        return _Layout(n, folds)
    lay = _Layout(n, folds)
    if len(_LAYOUTS) >= 256:
        _LAYOUTS.clear()
    _LAYOUTS[key] = lay
    return lay


def _take(signal, returns, lay):
    """Positions p and returns r of the folds' bars, laid end to end."""
    return _take_positions(signal, lay), _take_returns(returns, lay)


def _take_positions(signal, lay):
    """The positions p of the folds' bars laid end to end (p_t = s_(t-1); flat before the first bar)."""
    if lay.contiguous:
        lo, hi = lay.lo, lay.hi
        if lo:
            return np.asarray(signal[lo - 1 : hi - 1], dtype=np.float64)
        p = np.empty(hi)
        p[0] = 0.0
        p[1:] = signal[: hi - 1]
        return p
    p = np.asarray(signal[lay.pidx], dtype=np.float64)
    if lay.zpos.size:
        p[lay.zpos] = 0.0
    return p


def _take_returns(returns, lay):
    """The returns r of the folds' bars laid end to end."""
    return returns[lay.lo:lay.hi] if lay.contiguous else returns[lay.ridx]


_MULTIPLY_ACC = np.multiply.accumulate
_FMAX_ACC = np.fmax.accumulate  # no NaN can reach it (checked before), and faster than maximum.accumulate
_ADD_AT = np.add.reduceat


def _evaluate(p, r, lay, c, periods_per_year, full):
    """Per-fold metrics from float64 positions p and returns r laid end to end (see the module docstring).

    Whole-array NumPy operations, on the bars or on the change points of p ("cuts": each fold's first bar and
    every bar where p differs from the bar before); only the cumulative product and the running maximum of
    the equity go fold by fold, since they restart at each fold. No per-bar Python loop.
    """
    firsts = lay.firsts
    size = p.shape[0]
    change = np.empty(size + 1, dtype=bool)
    change[0] = change[size] = True
    np.not_equal(p[1:], p[:-1], out=change[1:size])
    change[firsts] = True
    cuts_ext = change.nonzero()[0]
    cuts = cuts_ext[:-1]
    fold_cuts = cuts.searchsorted(firsts)  # where each fold's first bar is in cuts
    before_cut = cuts - 1
    held = p[cuts]  # the position of the run starting at each cut
    before = p[before_cut]  # ... and of the bar before it (p = 0 before a fold)
    before[fold_cuts] = 0.0

    # Net returns: a cost is paid only at cuts, where p steps from the bar before.
    net = p * r
    pr_cut = net[cuts]
    if c:
        step = held - before
        np.abs(step, out=step)
        step *= c
        net[cuts] = pr_cut - step

    s1 = _ADD_AT(net, firsts).tolist()
    if math.isnan(math.fsum(s1)):
        bad = next(i for i, v in enumerate(s1) if math.isnan(v))
        raise ValueError(f"NaN return or signal in period {bad} ({lay.int_lengths[bad]} bars)")
    s2 = _ADD_AT(net * net, firsts).tolist()

    # Equity E = cumulative product of (1 + R) and drawdown against max(1, running max of E), fold by fold.
    # The floor 1 enters as the running maximum's first element: max(1, E_first).
    growth = net + 1.0
    equity = np.empty(size)
    peak = np.empty(size)
    for sl in lay.slices:
        e = equity[sl]
        _MULTIPLY_ACC(growth[sl], out=e)
        e0 = e[0]
        if e0 < 1.0:
            e[0] = 1.0
            _FMAX_ACC(e, out=peak[sl])
            e[0] = e0
        else:
            _FMAX_ACC(e, out=peak[sl])
    np.divide(equity, peak, out=peak)
    lows = np.minimum.reduceat(peak, firsts).tolist()

    # Trades: runs starting at a cut with held != 0. Run i compounds growth from its first bar cuts[i] to its
    # closing bar cuts[i + 1] (whose growth is exactly the exit factor 1 - c|held| when it goes flat) or, when
    # the run reaches the fold's end, to that last bar: equity[end] / equity[cuts[i] - 1] (1 at a fold's start).
    ends = cuts_ext[1:].copy()
    ends[fold_cuts - 1] -= 1  # the last run of each fold ends on the fold's last bar (index -1: the last fold)
    start_equity = equity[before_cut]
    start_equity[fold_cuts] = 1.0
    in_trade = held != 0.0
    if start_equity.all():
        trade_growth = equity[ends]
        trade_growth /= start_equity
        flips = before * held
        if flips.min() < 0.0:
            # p flips sign at a cut: that bar's growth 1 + p r - c |p - p_prev| is shared out as the exit
            # factor 1 - c |p_prev| of the closed run and the first factor 1 + p r - c |p| of the new one.
            at = (flips < 0.0).nonzero()[0]
            shared = growth[cuts[at]]
            trade_growth[at] *= ((pr_cut[at] - c * np.abs(held[at])) + 1.0) / shared
            trade_growth[at - 1] *= (1.0 - c * np.abs(before[at])) / shared
    else:  # equity hit exactly 0 somewhere: no ratios, multiply each run out
        runs = growth.copy()
        runs[cuts] = (pr_cut - c * np.abs(held)) + 1.0
        trade_growth = np.multiply.reduceat(runs, cuts)
        closed = np.ones(cuts.shape[0], dtype=bool)
        closed[fold_cuts - 1] = False
        trade_growth[closed] *= 1.0 - c * np.abs(held[closed])
    won = trade_growth > 1.0 + WIN_MIN
    won &= in_trade
    trades = _ADD_AT(in_trade, fold_cuts, dtype=np.intp).tolist()
    wins = _ADD_AT(won, fold_cuts, dtype=np.intp).tolist()

    lengths = lay.int_lengths
    sharpe = fold_ratios(net, lay, s1, s2, math.sqrt(periods_per_year))
    win_rate = [w / t if t else 0.0 for w, t in zip(wins, trades)]
    drawdown = [1.0 - low for low in lows]
    if not full:
        values = []
        for row in zip(sharpe, drawdown, win_rate, trades):
            values.extend(row)
        return np.array(values, dtype=np.float64).reshape(lay.k, 4)
    final = equity[lay.lasts].tolist()
    exposure = _ADD_AT(p != 0.0, firsts, dtype=np.intp).tolist()
    rows = []
    for i, bars in enumerate(lengths):
        e = final[i]
        if e > 0.0:
            try:
                cagr = math.pow(e, periods_per_year / bars) - 1.0
            except OverflowError:
                cagr = math.inf
        else:
            cagr = -1.0
        rows.append(
            {
                "total_return": e - 1.0,
                "cagr": cagr,
                "sharpe": sharpe[i],
                "max_drawdown": drawdown[i],
                "win_rate": win_rate[i],
                "trades": trades[i],
                "exposure": exposure[i] / bars,
                "bars": bars,
            }
        )
    return rows


def fold_ratios(x, lay, s1, s2, root):
    """mean / std (ddof 1) * root of `x` on each fold of `lay`, from the per-fold sums s1 = sum(x), s2 = sum(x^2)
    (lists); 0 for folds of fewer than 2 bars or of constant x. Where the sums cancel (near-constant x) the fold
    is redone in two passes. Sharpe ratios here, information ratios in `objectives.py`."""
    out = []
    for i, n in enumerate(lay.int_lengths):
        if n < 2:
            out.append(0.0)
            continue
        mean = s1[i] / n
        var = (s2[i] - s1[i] * mean) / (n - 1)
        if var <= 1e-9 * s2[i] / (n - 1):
            fold = x[lay.slices[i]]
            mean = float(fold.mean())
            var = 0.0 if fold.min() == fold.max() else float(fold.var(ddof=1))
        out.append(mean / math.sqrt(var) * root if var > 0.0 else 0.0)
    return out


def _check_inputs(signal, returns, cost_bps, periods_per_year):
    s = _series(signal, "signal")
    r = _series(returns, "returns")
    if s.shape != r.shape:
        raise ValueError(f"signal has {s.shape[0]} bars but returns has {r.shape[0]}")
    if not (np.isfinite(cost_bps) and cost_bps >= 0):
        raise ValueError(f"cost_bps must be a finite number >= 0, got {cost_bps!r}")
    if not (np.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError(f"periods_per_year must be a positive number, got {periods_per_year!r}")
    return s, r


def _check_period(r, start, stop):
    lay = _Layout(r.shape[0], [(start, stop)], what="period")
    if np.isnan(r[start:stop]).any():
        bad = start + int(np.flatnonzero(np.isnan(r[start:stop]))[0])
        raise ValueError(f"the return of bar {bad} is NaN (bar 0 with fill close, the last with next_open)")
    return lay


def net_returns(p, r, cost_bps):
    """Per-bar net returns of positions `p` over returns `r` for one period: R_t = p_t r_t - c |p_t - p_{t-1}|,
    c = cost_bps / 10,000, p = 0 before the period (the conventions `period_metrics` aggregates; for plots)."""
    p, r = np.asarray(p, dtype=float), np.asarray(r, dtype=float)
    before = np.concatenate(([0.0], p[:-1]))
    return p * r - (cost_bps / 10_000.0) * np.abs(p - before)


def period_metrics(signal, returns, start, stop, cost_bps=10.0, periods_per_year=252):
    """Metrics of the bars start..stop-1 as a dict of plain Python numbers (keys: METRIC_KEYS).

    `returns` come from bar_returns with the chosen fill; a NaN return inside the period raises ValueError,
    so does a signal value outside {-1, 0, 1}.
    """
    s, r = _check_inputs(signal, returns, cost_bps, periods_per_year)
    lay = _check_period(r, start, stop)
    if not np.isin(s, (-1.0, 0.0, 1.0)).all():
        raise ValueError("signal values must be -1, 0 or 1")
    p, rr = _take(s, r, lay)
    return _evaluate(p, rr, lay, cost_bps / 10_000.0, periods_per_year, full=True)[0]


def fold_objectives(signal, returns, folds, cost_bps, periods_per_year=252):
    """Array of shape (len(folds), 4): Sharpe, max drawdown, win rate, trades of each (start, stop) fold.

    The hot path of the fitness: no per-bar Python loop, and the fold layout is cached. `signal` must hold
    values in {-1, 0, 1} (not checked here); a NaN return inside a fold raises ValueError.
    """
    s = signal if isinstance(signal, np.ndarray) else np.asarray(signal, dtype=np.float64)
    r = returns if isinstance(returns, np.ndarray) else np.asarray(returns, dtype=np.float64)
    if s.shape != r.shape or s.ndim != 1:
        raise ValueError(f"signal {s.shape} and returns {r.shape} must be 1-D arrays of the same length")
    lay = _layout(r.shape[0], folds)
    p, rr = _take(s, r, lay)
    return _evaluate(p, rr, lay, cost_bps / 10_000.0, periods_per_year, full=False)


def buy_and_hold(returns, start, stop, cost_bps=10.0, periods_per_year=252):
    """period_metrics of holding long on every bar start..stop-1 (p = 1 there, entry cost on the first bar).

    Equivalent to a signal that is 1 from bar start - 1 on; also defined for start = 0 (where no signal
    could make p_0 = 1).
    """
    r = _series(returns, "returns")
    _check_inputs(r, r, cost_bps, periods_per_year)
    lay = _check_period(r, start, stop)
    p = np.ones(stop - start)
    return _evaluate(p, r[start:stop], lay, cost_bps / 10_000.0, periods_per_year, full=True)[0]
