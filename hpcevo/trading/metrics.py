"""The metrics a quant reads for one period of a strategy, and its trade list (pure NumPy, vectorised).

The conventions are those of `hpcevo.trading.backtest` (positions p_t = s_{t-1} in {-1, 0, 1}, p = 0 before the
period, so its first bar pays the entry cost), extended with a borrow fee on shorts and a risk-free return:

- Net return R_t = p_t r_t - c |p_t - p_{t-1}| - b max(-p_t, 0) + rf_t (1 - |p_t|), c = cost_bps / 1e4,
  b = borrow_bps / 1e4 / periods_per_year (an annual fee, charged per bar held short), rf_t the per-bar risk-free
  return (None = 0), earned only while flat. The benchmark B is buy and hold over the same bars with the same
  conventions (p = 1 throughout, the entry cost on the first bar): net_returns(np.ones(bars), r, cost_bps).
- total_return = prod(1 + R) - 1; cagr = (1 + total_return)^(periods_per_year / bars) - 1 (-1 when
  1 + total_return <= 0; inf on overflow).
- Excess return X_t = R_t - rf_t. sharpe = mean(X) / std(X, ddof=1) * sqrt(periods_per_year), 0 when bars < 2 or
  all X are equal (std is computed in two passes, about the mean).
- sortino = mean(X) / sqrt(mean(min(X, 0)^2)) * sqrt(periods_per_year), 0 when no X is negative or bars < 2.
- max_drawdown: E_t = prod_{u<=t} (1 + R_u); max_t (1 - E_t / max(1, max_{u<=t} E_u)) (as in backtest).
- calmar = cagr / max_drawdown, 0 when max_drawdown == 0.
- trades, win_rate: a trade is a maximal run of bars with the same non-zero p; its return compounds (1 + R) over
  the run and its closing bar (the first bar after the run inside the period; none when the run reaches the
  period's end: the trade is open). On a reversal bar (p_t = -p_{t-1} != 0) the closed trade gets the factor
  1 - c and the new trade 1 + R_t + c (the rest of that bar: its return, entry cost, borrow), c from the
  `cost_bps` given to period_stats / trade_list (as backtest splits the cost 2c). A trade wins when its return is
  above backtest.WIN_MIN; win_rate = wins / trades (0 without trades).
- exposure = share of bars with p != 0; turnover = sum |p_t - p_{t-1}| (p = 0 before the period)
  * periods_per_year / bars (annualised: 2.0 = one round trip a year).
- excess_return = cagr - cagr(B); information_ratio = mean(R - B) / std(R - B, ddof=1) * sqrt(periods_per_year)
  (0 when bars < 2 or all R - B are equal); beta = cov(R, B) / var(B) (ddof=1 both; 0 when bars < 2 or all B
  are equal).

With rf=None and borrow_bps=0, net_returns equals backtest.net_returns and period_stats(..., cost_bps=c) agrees
with backtest.period_metrics on every metric they share.
"""

import math

import numpy as np

from .backtest import WIN_MIN

__all__ = ["METRICS", "TRADE_FILLS", "net_returns", "period_stats", "trade_list"]

METRICS = (
    "total_return",
    "cagr",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "win_rate",
    "trades",
    "exposure",
    "turnover",
    "excess_return",
    "information_ratio",
    "beta",
    "bars",
)
TRADE_FILLS = ("close", "next_open")


def _series(x, name, n=None):
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array, got shape {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise ValueError(f"{name} has {arr.shape[0]} bars, expected {n}")
    return arr


def _positions(p, name="p", rows=False):
    """p as float64, checked: 1-D, or 2-D (one strategy per row) with rows=True; values in {-1, 0, 1}."""
    if rows:
        p = np.asarray(p, dtype=np.float64)
        if p.ndim not in (1, 2):
            raise ValueError(f"{name} must be a 1-D array or a 2-D array (one strategy per row), got shape {p.shape}")
    else:
        p = _series(p, name)
    if not np.isin(p, (-1.0, 0.0, 1.0)).all():
        raise ValueError(f"{name} values must be -1, 0 or 1")
    return p


def _rate(x, name):
    if not (np.isfinite(x) and x >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {x!r}")
    return float(x)


def _check_ppy(periods_per_year):
    if not (np.isfinite(periods_per_year) and periods_per_year > 0):
        raise ValueError(f"periods_per_year must be a positive number, got {periods_per_year!r}")
    return float(periods_per_year)


def _steps(p):
    """|p_t - p_{t-1}| with p = 0 before the period (along the last axis)."""
    return np.abs(np.diff(p, prepend=0.0, axis=-1))


def net_returns(p, r, cost_bps, *, borrow_bps=0.0, rf=None, periods_per_year=252):
    """Per-bar net returns of positions p (in {-1,0,1}) over bar returns r for one period:
    R_t = p_t r_t - c |p_t - p_{t-1}| - b max(-p_t, 0) + rf_t (1 - |p_t|), c = cost_bps/1e4,
    b = borrow_bps/1e4/periods_per_year (annual borrow fee on shorts, charged per bar held short), p = 0 before the
    period (first bar pays entry cost), rf_t = per-bar risk-free return (an array of the period's length, or
    None = 0): earned while flat. p may also be 2-D, one strategy per row (the bars along its rows): each row's
    net returns, the floats the row alone gives."""
    p = _positions(p, rows=True)
    r = _series(r, "r", p.shape[-1])
    c = _rate(cost_bps, "cost_bps") / 10_000.0
    b = _rate(borrow_bps, "borrow_bps") / 10_000.0 / _check_ppy(periods_per_year)
    net = p * r - c * _steps(p)
    if b:
        net -= b * np.maximum(-p, 0.0)
    if rf is not None:
        net += _series(rf, "rf", p.shape[-1]) * (1.0 - np.abs(p))
    return net


def _cagr(growth, bars, periods_per_year):
    if growth <= 0.0:
        return -1.0
    try:
        return math.pow(growth, periods_per_year / bars) - 1.0
    except OverflowError:
        return math.inf


def _ratio(x, root):
    """mean(x) / std(x, ddof=1) * root in two passes; 0 with fewer than 2 values or all equal."""
    n = x.shape[0]
    if n < 2 or x.min() == x.max():
        return 0.0
    mean = x.mean()
    d = x - mean
    var = float(d @ d) / (n - 1)
    return float(mean / math.sqrt(var) * root) if var > 0.0 else 0.0


def _runs(p, net, c):
    """The trades of one period: (first bar, stop bar, position, compounded net return, open) arrays."""
    n = p.shape[0]
    cuts = np.flatnonzero(np.diff(p, prepend=np.nan))  # first bar of each run of equal p (bar 0 always)
    stops = np.append(cuts[1:], n)
    held = p[cuts]
    before = np.where(cuts > 0, p[cuts - 1], 0.0)
    growth = net + 1.0
    factor = growth.copy()
    reversal = before * held < 0.0
    rev_bars = cuts[reversal]
    factor[rev_bars] = (net[rev_bars] + c * np.abs(before[reversal])) + 1.0  # the new trade's share of the bar
    trade_growth = np.multiply.reduceat(factor, cuts)
    is_open = stops == n
    closing = np.minimum(stops, n - 1)
    exit_factor = np.where(p[closing] == 0.0, growth[closing], 1.0 - c * np.abs(held))
    exit_factor[is_open] = 1.0
    trade_growth *= exit_factor
    keep = held != 0.0
    return cuts[keep], stops[keep], held[keep], trade_growth[keep] - 1.0, is_open[keep]


def period_stats(p, net, benchmark, periods_per_year=252, rf=None, *, cost_bps=0.0) -> dict:
    """The METRICS of one period (plain Python floats; trades and bars ints) from positions p, the net returns from
    net_returns, the benchmark's net returns (buy and hold over the same bars, same conventions: p = 1 throughout with
    the entry cost on the first bar) and the per-bar risk-free rf (None = 0). cost_bps (keyword) is used only to
    split a reversal bar between the closed and the new trade (pass the cost given to net_returns)."""
    p = _positions(p)
    n = p.shape[0]
    if n == 0:
        raise ValueError("the period has no bars")
    net = _series(net, "net", n)
    bench = _series(benchmark, "benchmark", n)
    ppy = _check_ppy(periods_per_year)
    c = _rate(cost_bps, "cost_bps") / 10_000.0
    if np.isnan(net).any() or np.isnan(bench).any():
        raise ValueError("NaN in the net or benchmark returns")
    excess = net if rf is None else net - _series(rf, "rf", n)
    root = math.sqrt(ppy)

    equity = np.multiply.accumulate(net + 1.0)
    peak = np.maximum(np.maximum.accumulate(equity), 1.0)
    max_drawdown = float(1.0 - (equity / peak).min())
    final = float(equity[-1])
    cagr = _cagr(final, n, ppy)
    bench_cagr = _cagr(float(np.prod(bench + 1.0)), n, ppy)

    sortino = 0.0
    if n >= 2:
        downside = np.minimum(excess, 0.0)
        if downside.min() < 0.0:
            sortino = float(excess.mean() / math.sqrt(float(downside @ downside) / n) * root)

    beta = 0.0
    if n >= 2 and bench.min() != bench.max():
        db = bench - bench.mean()
        var = float(db @ db)
        if var > 0.0:
            beta = float((net - net.mean()) @ db) / var

    trade_returns = _runs(p, net, c)[3]
    trades = int(trade_returns.shape[0])
    wins = int(np.count_nonzero(trade_returns > WIN_MIN))
    return {
        "total_return": final - 1.0,
        "cagr": cagr,
        "sharpe": _ratio(excess, root),
        "sortino": sortino,
        "calmar": cagr / max_drawdown if max_drawdown != 0.0 else 0.0,
        "max_drawdown": max_drawdown,
        "win_rate": wins / trades if trades else 0.0,
        "trades": trades,
        "exposure": int(np.count_nonzero(p)) / n,
        "turnover": float(_steps(p).sum()) * ppy / n,
        "excess_return": cagr - bench_cagr,
        "information_ratio": _ratio(net - bench, root),
        "beta": beta,
        "bars": n,
    }


def trade_list(p_full, net_full, dates, open_, close, start, stop, fill="close", *, cost_bps=0.0) -> list[dict]:
    """Each trade of the period start..stop-1 of a series of N bars, in order, as a dict: "direction" ("long" or
    "short"), "entry_date", "exit_date" ('YYYY-MM-DD'), "entry_price", "exit_price", "bars", "return", "open".

    Arrays: p_full (positions p_t = s_{t-1}, as backtest.positions), dates (datetime64 or ISO text), open_ and close
    have the N bars of the whole series; only p_full[start:stop] is read (p = 0 before the period, as everywhere).
    net_full holds the period's net returns (net_returns of p_full[start:stop]) either alone (length stop - start)
    or at [start:stop] of a length-N array. A trade is a run of bars [i, j) with the same non-zero p ("bars" = j - i);
    fill "close" (needs start >= 1; open_ may be None): entry at close[i-1] on dates[i-1], exit at close[j-1] on
    dates[j-1]; fill "next_open" (needs stop <= N - 1; close may be None): entry at open_[i] on dates[i], exit at
    open_[j] on dates[j]. A run reaching the period's end (j = stop) is "open": True, its exit the mark to market
    of the period's last return (close[stop-1] or open_[stop]). "return" compounds the net returns as period_stats
    does for win_rate (its closing bar included; cost_bps only splits a reversal bar, as there).
    """
    p_full = _series(p_full, "p_full")
    size = p_full.shape[0]
    if isinstance(start, bool) or isinstance(stop, bool) or int(start) != start or int(stop) != stop:
        raise ValueError(f"start and stop must be integers, got {start!r}, {stop!r}")
    start, stop = int(start), int(stop)
    if not 0 <= start < stop <= size:
        raise ValueError(f"period ({start}, {stop}) is empty or outside the {size} bars")
    if fill not in TRADE_FILLS:
        raise ValueError(f"unknown fill {fill!r}; expected one of {', '.join(TRADE_FILLS)}")
    p = _positions(p_full[start:stop], "p_full")
    net = _series(net_full, "net_full")
    if net.shape[0] == size:
        net = net[start:stop]
    elif net.shape[0] != stop - start:
        raise ValueError(f"net_full has {net.shape[0]} bars, expected {size} or {stop - start}")
    if np.isnan(net).any():
        raise ValueError("NaN in the period's net returns")
    day = np.asarray(dates)
    if day.ndim != 1 or day.shape[0] != size:
        raise ValueError(f"dates must be a 1-D array of {size} bars")
    day = day.astype("datetime64[D]")
    if fill == "close":
        if start < 1:
            raise ValueError('fill "close" needs start >= 1 (the entry price is the close of the bar before)')
        price = _series(close, "close", size)
        entry_at, exit_at = -1, -1
    else:
        if stop > size - 1:
            raise ValueError('fill "next_open" needs stop <= N - 1 (the last bar has no next open)')
        price = _series(open_, "open_", size)
        entry_at, exit_at = 0, 0
    first, stops, held, returns, is_open = _runs(p, net, _rate(cost_bps, "cost_bps") / 10_000.0)
    entry = first + start + entry_at
    exit_ = stops + start + exit_at
    entry_days = np.datetime_as_string(day[entry], unit="D").tolist()
    exit_days = np.datetime_as_string(day[exit_], unit="D").tolist()
    rows = zip(
        held.tolist(),
        entry_days,
        exit_days,
        price[entry].tolist(),
        price[exit_].tolist(),
        (stops - first).tolist(),
        returns.tolist(),
        is_open.tolist(),
    )
    return [
        {
            "direction": "long" if h > 0 else "short",
            "entry_date": d0,
            "exit_date": d1,
            "entry_price": e0,
            "exit_price": e1,
            "bars": bars,
            "return": ret,
            "open": still_open,
        }
        for h, d0, d1, e0, e1, bars, ret, still_open in rows
    ]
