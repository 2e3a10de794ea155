"""The trading kernels: indicators and the vectorised backtest, against plain per-bar references.

The references below are written straight from the conventions (docs/trading.md, "Backtest conventions") with explicit
Python loops over bars, and share no helper with hpcevo.trading.
"""

import math

import numpy as np
import pandas as pd
import pytest

from hpcevo.trading import backtest as bt
from hpcevo.trading import indicators as ind

# ----------------------------------------------------------------------------------------------------------
# Per-bar reference backtest
# ----------------------------------------------------------------------------------------------------------


def ref_returns(open_, close, fill):
    n = len(close)
    out = [math.nan] * n
    for t in range(n):
        if fill == "close" and t >= 1:
            out[t] = close[t] / close[t - 1] - 1.0
        if fill == "next_open" and t + 1 < n:
            out[t] = open_[t + 1] / open_[t] - 1.0
    return out


def ref_metrics(signal, returns, start, stop, cost_bps, periods_per_year=252, hold=False):
    """Every metric of bars start..stop-1, one bar at a time. hold=True: p = 1 on every bar (buy and hold)."""
    c = cost_bps / 10_000.0
    bars = list(range(start, stop))
    pos = []
    for t in bars:
        if hold:
            pos.append(1.0)
        elif t == 0:
            pos.append(0.0)
        else:
            pos.append(float(signal[t - 1]))
    net = []
    prev = 0.0  # p before the period
    for i, t in enumerate(bars):
        net.append(pos[i] * returns[t] - c * abs(pos[i] - prev))
        prev = pos[i]

    equity, peak, max_dd = 1.0, 1.0, 0.0
    for r in net:
        equity *= 1.0 + r
        peak = max(peak, equity)
        max_dd = max(max_dd, 1.0 - equity / peak)

    n = len(net)
    if n < 2 or all(r == net[0] for r in net):
        sharpe = 0.0
    else:
        mean = sum(net) / n
        std = math.sqrt(sum((r - mean) ** 2 for r in net) / (n - 1))
        sharpe = mean / std * math.sqrt(periods_per_year)

    trade_returns = []
    i = 0
    while i < n:
        if pos[i] == 0.0:
            i += 1
            continue
        held = pos[i]
        entered_from = pos[i - 1] if i > 0 else 0.0
        growth = 1.0
        j = i
        while j < n and pos[j] == held:
            if j == i and entered_from != 0.0:  # reversal: the new trade's first bar pays its own entry only
                growth *= 1.0 + held * returns[bars[j]] - c * abs(held)
            else:
                growth *= 1.0 + net[j]
            j += 1
        if j < n:  # the closing bar
            if pos[j] == 0.0:
                growth *= 1.0 + net[j]
            else:  # reversal: the closed trade takes its exit cost only
                growth *= 1.0 - c * abs(held)
        trade_returns.append(growth - 1.0)
        i = j
    wins = sum(1 for r in trade_returns if r > 1e-9)  # > 0 beyond float noise: 0-return round trips are no wins

    if equity <= 0.0:
        cagr = -1.0
    else:
        try:
            cagr = equity ** (periods_per_year / n) - 1.0
        except OverflowError:
            cagr = math.inf
    return {
        "total_return": equity - 1.0,
        "cagr": cagr,
        "sharpe": sharpe,
        "max_drawdown": max_dd,
        "win_rate": wins / len(trade_returns) if trade_returns else 0.0,
        "trades": len(trade_returns),
        "exposure": sum(1 for p in pos if p != 0.0) / n,
        "bars": n,
    }


def assert_same_metrics(got, want, context=""):
    assert set(got) == set(want), context
    for key in ("trades", "bars", "exposure", "win_rate"):
        assert got[key] == want[key], f"{key}: {got[key]} != {want[key]} {context}"
    for key in ("total_return", "cagr", "sharpe", "max_drawdown"):
        assert math.isclose(got[key], want[key], rel_tol=1e-9, abs_tol=1e-12), (
            f"{key}: {got[key]!r} != {want[key]!r} {context}"
        )
    assert all(type(v) in (int, float) for v in got.values()), got
    assert isinstance(got["trades"], int) and isinstance(got["bars"], int)


# ----------------------------------------------------------------------------------------------------------
# Random data
# ----------------------------------------------------------------------------------------------------------


def random_prices(rng, n, vol=0.02, rounded=False):
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, vol, n)))
    open_ = close * np.exp(rng.normal(0.0, vol / 3, n))
    if rounded:  # like real quotes: some bars do not move at all
        close, open_ = np.round(close, 1), np.round(open_, 1)
    return open_, close


def random_signal(rng, n, long_short):
    values = np.array([-1, 0, 1]) if long_short else np.array([0, 1])
    if rng.random() < 0.3:  # independent draws: many short runs and reversals
        return rng.choice(values, n)
    runs = rng.geometric(rng.uniform(0.02, 0.3), n)  # persistent runs, like indicator signals
    return np.repeat(rng.choice(values, len(runs)), runs)[:n]


def valid_range(n, fill):
    return (1, n) if fill == "close" else (0, n - 1)


def random_period(rng, lo, hi):
    start = int(rng.integers(lo, hi))
    stop = int(rng.integers(start + 1, hi + 1))
    return start, stop


def random_folds(rng, lo, hi):
    k = int(rng.integers(1, 6))
    kind = rng.integers(3)
    if kind == 0 and hi - lo >= k:  # adjacent walk-forward folds
        cuts = np.sort(rng.choice(np.arange(lo + 1, hi), k - 1, replace=False)) if k > 1 else np.array([], int)
        edges = [lo, *cuts.tolist(), hi]
        return [(edges[i], edges[i + 1]) for i in range(k)]
    return [random_period(rng, lo, hi) for _ in range(k)]  # gaps, overlaps, any order


CASES = 500


def random_case(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 601))
    wild = seed % 11 == 0  # huge moves: a short's equity can cross zero
    open_, close = random_prices(rng, n, vol=0.35 if wild else 0.02, rounded=seed % 5 == 0 and not wild)
    fill = "close" if seed % 2 else "next_open"
    signal = random_signal(rng, n, long_short=seed % 3 != 0)
    cost = float(rng.choice([0.0, 10.0, 25.0]))
    return rng, open_, close, fill, signal, cost


@pytest.mark.parametrize("fill", bt.FILLS)
def test_bar_returns_match_reference(fill):
    rng = np.random.default_rng(1)
    open_, close = random_prices(rng, 300)
    got = bt.bar_returns(open_, close, fill)
    want = np.array(ref_returns(open_, close, fill))
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)
    assert np.isnan(got[0 if fill == "close" else -1]) and np.isnan(got).sum() == 1


def test_bar_returns_rejects_unknown_fill_and_missing_open():
    with pytest.raises(ValueError, match="unknown fill"):
        bt.bar_returns(None, np.ones(5), "open")
    with pytest.raises(ValueError, match="open prices"):
        bt.bar_returns(None, np.ones(5), "next_open")


def test_positions_shift_the_signal_by_one_bar():
    p = bt.positions(np.array([1, -1, 0, 1], dtype=np.int8))
    assert p.dtype == np.float64
    np.testing.assert_array_equal(p, [0.0, 1.0, -1.0, 0.0])
    assert bt.positions(np.array([], dtype=bool)).shape == (0,)


def test_period_metrics_match_reference_on_random_cases():
    for seed in range(CASES):
        rng, open_, close, fill, signal, cost = random_case(seed)
        returns = bt.bar_returns(open_, close, fill)
        ref_r = ref_returns(open_, close, fill)
        lo, hi = valid_range(len(close), fill)
        for start, stop in [random_period(rng, lo, hi) for _ in range(3)] + [(lo, hi)]:
            got = bt.period_metrics(signal, returns, start, stop, cost_bps=cost)
            want = ref_metrics(signal, ref_r, start, stop, cost)
            assert_same_metrics(got, want, f"seed {seed} fill {fill} period ({start}, {stop}) cost {cost}")


def test_fold_objectives_match_reference_on_random_cases():
    for seed in range(CASES):
        rng, open_, close, fill, signal, cost = random_case(seed)
        returns = bt.bar_returns(open_, close, fill)
        ref_r = ref_returns(open_, close, fill)
        lo, hi = valid_range(len(close), fill)
        for folds in (random_folds(rng, lo, hi), random_folds(rng, lo, hi)):
            dtype = [np.int8, np.float64, np.int64][seed % 3]
            got = bt.fold_objectives(signal.astype(dtype), returns, folds, cost)
            assert got.shape == (len(folds), 4) and got.dtype == np.float64
            for row, (start, stop) in zip(got, folds):
                want = ref_metrics(signal, ref_r, start, stop, cost)
                context = f"seed {seed} fill {fill} folds {folds} cost {cost}"
                assert math.isclose(row[0], want["sharpe"], rel_tol=1e-9, abs_tol=1e-12), context
                assert math.isclose(row[1], want["max_drawdown"], rel_tol=1e-9, abs_tol=1e-12), context
                assert row[2] == want["win_rate"], context
                assert row[3] == want["trades"], context


def test_buy_and_hold_matches_reference_and_a_signal_of_ones():
    for seed in range(40):
        rng, open_, close, fill, _, cost = random_case(seed)
        returns = bt.bar_returns(open_, close, fill)
        lo, hi = valid_range(len(close), fill)
        start, stop = random_period(rng, lo, hi)
        got = bt.buy_and_hold(returns, start, stop, cost, 252)
        assert_same_metrics(got, ref_metrics(None, ref_returns(open_, close, fill), start, stop, cost, hold=True))
        assert got["trades"] == 1 and got["exposure"] == 1.0
        if start >= 1:
            ones = np.zeros(len(close))
            ones[start - 1 :] = 1.0
            assert bt.period_metrics(ones, returns, start, stop, cost) == got


def test_signal_dtypes_give_identical_objectives():
    rng = np.random.default_rng(7)
    open_, close = random_prices(rng, 500)
    returns = bt.bar_returns(open_, close, "close")
    signal = random_signal(rng, 500, long_short=False)
    folds = [(1, 120), (120, 260), (260, 380), (380, 500)]
    results = [bt.fold_objectives(signal.astype(t), returns, folds, 10.0) for t in (bool, np.int8, np.int64, float)]
    as_float, returns_before = signal.astype(float), returns.copy()
    bt.fold_objectives(as_float, returns, [(1, 60), (200, 260)], 25.0)  # folds with a gap: gathered, not sliced
    bt.period_metrics(as_float, returns, 1, 500)
    np.testing.assert_array_equal(as_float, signal)  # the inputs are never written to
    np.testing.assert_array_equal(returns, returns_before)
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)
    assert bt.fold_objectives(signal.tolist(), returns.tolist(), folds, 10.0).tolist() == results[0].tolist()


# ----------------------------------------------------------------------------------------------------------
# Hand-computed cases
# ----------------------------------------------------------------------------------------------------------


def test_six_bar_example_by_hand():
    # fill close, cost 10 bps (c = 0.001), period = bars 1..5 (bar 0 has no close-to-close return).
    # close  = 100, 110, 121, 108.9, 98.01, 107.811  ->  r_1..r_5 = +10%, +10%, -10%, -10%, +10%
    # signal = 1, 1, 0, 1, 0, 0                      ->  p_1..p_5 = s_0..s_4 = 1, 1, 0, 1, 0
    # R_1 =  0.1 - 0.001 * |1 - 0| =  0.099   (entry cost: p before the period is 0)
    # R_2 =  0.1                   =  0.1
    # R_3 =  0 * -0.1 - 0.001      = -0.001   (exit cost: closes trade 1)
    # R_4 = -0.1 - 0.001           = -0.101   (entry of trade 2)
    # R_5 =  0 * 0.1 - 0.001       = -0.001   (exit cost: closes trade 2)
    # Trade 1 = 1.099 * 1.1 * 0.999 - 1 = 0.2076911 (win); trade 2 = 0.899 * 0.999 - 1 = -0.101899 (loss)
    #   -> trades 2, win rate 1/2.
    # Equity: 1.099, 1.2089, 1.2076911, 1.0857142989, 1.0846285846011; peak 1.2089 at bar 2, the low at bar 5:
    #   max drawdown = 1 - 0.999 * 0.899 * 0.999 = 0.102797101; total return = 0.0846285846011.
    # Sharpe: mean = 0.096 / 5 = 0.0192; squared deviations 0.0798^2 + 0.0808^2 + 0.0202^2 + 0.1202^2 + 0.0202^2
    #   = 0.0281608, var = 0.0281608 / 4 = 0.0070402 -> Sharpe = 0.0192 / sqrt(0.0070402) * sqrt(252) = 3.632528...
    # Exposure 3/5; CAGR = 1.0846285846011 ** (252 / 5) - 1.
    close = np.array([100.0, 110.0, 121.0, 108.9, 98.01, 107.811])
    signal = np.array([1, 1, 0, 1, 0, 0])
    returns = bt.bar_returns(None, close, "close")
    got = bt.period_metrics(signal, returns, 1, 6, cost_bps=10.0)
    exact = {
        "total_return": 0.0846285846011,
        "cagr": 1.0846285846011 ** (252 / 5) - 1.0,
        "sharpe": 0.0192 / math.sqrt(0.0070402) * math.sqrt(252),
        "max_drawdown": 0.102797101,
        "win_rate": 0.5,
        "trades": 2,
        "exposure": 0.6,
        "bars": 5,
    }
    assert got == pytest.approx(exact, rel=1e-12, abs=1e-15)
    assert got["trades"] == 2 and got["bars"] == 5
    assert got["sharpe"] == pytest.approx(3.632528, abs=1e-6)
    row = bt.fold_objectives(signal, returns, [(1, 6)], 10.0)[0]
    assert row.tolist() == pytest.approx([exact["sharpe"], exact["max_drawdown"], 0.5, 2.0], rel=1e-12)
    # The same bars as two folds, each starting flat (p before a fold is 0):
    # fold (1, 3): R = 0.099, 0.1, one trade running to the fold end (no closing bar): 1.2089 - 1 > 0,
    #   no drawdown (equity only rises);
    # fold (3, 6): p_3 = 0 = p before the fold, so R_3 = 0 (no exit cost: trade 1 is not in this fold);
    #   R_4 = -0.101, R_5 = -0.001: one losing trade, max drawdown 1 - 0.899 * 0.999 = 0.101899.
    folds = bt.fold_objectives(signal, returns, [(1, 3), (3, 6)], 10.0)
    assert folds[0, 1:].tolist() == [0.0, 1.0, 1.0]
    assert folds[1, 1] == pytest.approx(1 - 0.899 * 0.999, rel=1e-12)
    assert folds[1, 2:].tolist() == [0.0, 1.0]


def test_reversal_by_hand():
    # fill close, c = 0.001, period = bars 1..3; r_1..r_3 = +10%, +20%, -10%; signal 1, -1, -1 -> p = 1, -1, -1.
    # R_1 = 0.1 - 0.001 = 0.099; R_2 = -0.2 - 0.001 * |-1 - 1| = -0.202; R_3 = +0.1.
    # The reversal bar 2 is shared out: the long trade gets only its exit cost, 1.099 * 0.999 - 1 = 0.097901
    # (win); the short trade starts with 1 - 0.2 - 0.001 = 0.799, then 1.1: 0.8789 - 1 = -0.1211 (loss).
    # Equity 1.099, 0.877002, 0.9647022: max drawdown 1 - 0.798 = 0.202, total return -0.0352978.
    close = np.array([100.0, 110.0, 132.0, 118.8])
    signal = np.array([1, -1, -1, 0])
    returns = bt.bar_returns(None, close, "close")
    got = bt.period_metrics(signal, returns, 1, 4, cost_bps=10.0)
    assert got["trades"] == 2 and got["win_rate"] == 0.5 and got["exposure"] == 1.0
    assert got["max_drawdown"] == pytest.approx(0.202, rel=1e-12)
    assert got["total_return"] == pytest.approx(-0.0352978, rel=1e-12)
    # At 2000 bps (c = 0.2) the long trade is (1 + 0.1 - 0.2) * (1 - 0.2) - 1 = -0.28 and the short one
    # (1 - 0.2 - 0.2) * 1.1 - 1 = -0.34: no wins.
    assert bt.period_metrics(signal, returns, 1, 4, cost_bps=2000.0)["win_rate"] == 0.0
    # Without costs the long trade keeps its +10% and the short one loses 1 - 0.8 * 1.1 = 12%.
    assert bt.period_metrics(signal, returns, 1, 4, cost_bps=0.0)["win_rate"] == 0.5


def test_equity_wiped_out_by_a_short():
    # A short while the price doubles: R_1 = -1 - c. Without costs the equity is exactly 0 from then on (so
    # no ratio of equities can give a trade's return); with costs it turns negative (drawdown above 100%).
    close = np.array([100.0, 200.0, 220.0, 200.0])
    signal = np.array([-1, -1, 1, 0])
    returns = bt.bar_returns(None, close, "close")
    for cost in (0.0, 10.0):
        got = bt.period_metrics(signal, returns, 1, 4, cost_bps=cost)
        assert_same_metrics(got, ref_metrics(signal, returns.tolist(), 1, 4, cost))
        assert got["max_drawdown"] == pytest.approx(1.0 + cost / 10_000, rel=1e-12)
        assert got["cagr"] == -1.0 and got["trades"] == 2
        row = bt.fold_objectives(signal, returns, [(1, 4)], cost)[0]
        assert row.tolist() == pytest.approx([got["sharpe"], got["max_drawdown"], got["win_rate"], 2.0])


def test_flat_and_tiny_periods():
    returns = bt.bar_returns(None, np.array([10.0, 11.0, 12.0, 11.0, 12.0]), "close")
    flat = bt.period_metrics(np.zeros(5), returns, 1, 5)
    assert flat == {
        "total_return": 0.0,
        "cagr": 0.0,
        "sharpe": 0.0,
        "max_drawdown": 0.0,
        "win_rate": 0.0,
        "trades": 0,
        "exposure": 0.0,
        "bars": 4,
    }
    one = bt.period_metrics(np.ones(5), returns, 2, 3, cost_bps=0.0)
    assert one["sharpe"] == 0.0 and one["bars"] == 1 and one["trades"] == 1 and one["win_rate"] == 1.0
    # Identical net returns on every bar: std is 0, so Sharpe is 0 (not float noise over float noise).
    steady = np.full(40, 0.01)
    assert bt.period_metrics(np.ones(40), steady, 2, 40, cost_bps=0.0)["sharpe"] == 0.0
    assert bt.fold_objectives(np.ones(40), steady, [(2, 20), (20, 40)], 0.0)[:, 0].tolist() == [0.0, 0.0]


def test_invalid_periods_and_values_raise():
    returns = bt.bar_returns(None, np.array([10.0, 11.0, 12.0, 11.0]), "close")
    signal = np.ones(4)
    with pytest.raises(ValueError, match="NaN"):
        bt.period_metrics(signal, returns, 0, 4)  # bar 0 has no close-to-close return
    with pytest.raises(ValueError, match="NaN"):
        bt.fold_objectives(signal, returns, [(1, 3), (0, 2)], 10.0)
    with pytest.raises(ValueError, match="NaN"):
        bt.buy_and_hold(returns, 0, 3)
    for start, stop in [(2, 2), (3, 1), (1, 5), (-1, 2)]:
        with pytest.raises(ValueError, match="empty or outside"):
            bt.period_metrics(signal, returns, start, stop)
        with pytest.raises(ValueError, match="empty or outside"):
            bt.fold_objectives(signal, returns, [(start, stop)], 10.0)
    with pytest.raises(ValueError, match="-1, 0 or 1"):
        bt.period_metrics(np.full(4, 0.5), returns, 1, 4)
    with pytest.raises(ValueError, match="same length"):
        bt.fold_objectives(np.ones(3), returns, [(1, 3)], 10.0)
    with pytest.raises(ValueError, match="no folds"):
        bt.fold_objectives(signal, returns, [], 10.0)


# ----------------------------------------------------------------------------------------------------------
# Indicators
# ----------------------------------------------------------------------------------------------------------


def ref_ema(x, n):
    out = [math.nan] * len(x)
    if n > len(x):
        return out
    y = sum(x[:n]) / n
    out[n - 1] = y
    alpha = 2.0 / (n + 1)
    for t in range(n, len(x)):
        y = y + alpha * (x[t] - y)
        out[t] = y
    return out


def ref_rsi(x, n):
    out = [math.nan] * len(x)
    if n >= len(x):
        return out
    gains = [max(x[t] - x[t - 1], 0.0) for t in range(1, len(x))]
    losses = [max(x[t - 1] - x[t], 0.0) for t in range(1, len(x))]
    avg_gain, avg_loss = sum(gains[:n]) / n, sum(losses[:n]) / n
    for t in range(n, len(x)):
        if t > n:
            avg_gain += (gains[t - 1] - avg_gain) / n
            avg_loss += (losses[t - 1] - avg_loss) / n
        out[t] = 100.0 if avg_loss == 0.0 else 100.0 * avg_gain / (avg_gain + avg_loss)
    return out


def reference_indicator(name, x, n):
    s = pd.Series(x)
    if name == "sma":
        return s.rolling(n).mean().to_numpy()
    if name == "ema":
        return np.array(ref_ema(list(x), n))
    if name == "rsi":
        return np.array(ref_rsi(list(x), n))
    if name == "roc":
        return (s / s.shift(n) - 1.0).to_numpy()
    if name == "rolling_max":
        return s.rolling(n).max().to_numpy()
    if name == "rolling_min":
        return s.rolling(n).min().to_numpy()
    if name == "volatility":
        return (s / s.shift(1) - 1.0).rolling(n).std(ddof=1).to_numpy()
    raise AssertionError(name)


INDICATORS = sorted(ind.WARMUP)
WINDOWS = [1, 2, 3, 5, 14, 20, 50, 63, 64, 65, 200]


@pytest.mark.parametrize("name", INDICATORS)
def test_indicators_match_reference(name):
    rng = np.random.default_rng(11)
    minimum = 2 if name in ("ema", "rsi", "volatility") else 1
    for size in (1, 7, 64, 300, 1000):
        x = random_prices(rng, size, rounded=size == 300)[1]
        if size == 64:
            x[20:40] = x[20]  # a flat stretch: volatility 0 inside it
        for n in [w for w in WINDOWS if w >= minimum]:
            got = getattr(ind, name)(x, n)
            want = reference_indicator(name, x, n)
            assert got.dtype == np.float64 and got.shape == x.shape
            first = ind.WARMUP[name](n)
            np.testing.assert_array_equal(np.isnan(got), np.arange(size) < first, err_msg=f"{name}({n}) size {size}")
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12, err_msg=f"{name}({n}) size {size}")


@pytest.mark.parametrize("name", INDICATORS)
def test_indicators_never_look_ahead(name):
    rng = np.random.default_rng(12)
    x = random_prices(rng, 400)[1]
    for n in (2, 9, 30, 100):
        base = getattr(ind, name)(x, n)
        for t in rng.integers(0, 400, 12):
            changed = x.copy()
            changed[t + 1 :] = random_prices(rng, 400 - t - 1, vol=0.1)[1] * rng.uniform(0.1, 10)
            np.testing.assert_array_equal(getattr(ind, name)(changed, n)[: t + 1], base[: t + 1])


def test_indicators_reject_bad_windows():
    x = np.arange(1.0, 10.0)
    for name in INDICATORS:
        for n in (0, -3, 2.5, True):
            with pytest.raises(ValueError, match="window"):
                getattr(ind, name)(x, n)
    for name in ("ema", "rsi", "volatility"):
        with pytest.raises(ValueError, match=">= 2"):
            getattr(ind, name)(x, 1)
    with pytest.raises(ValueError, match="1-D"):
        ind.sma(np.ones((3, 3)), 2)


def loop_window(x, n, first, func):
    """Per-bar reference: func(window) over x[t-n+1..t] for t >= first, NaN where the window holds a NaN."""
    out = [math.nan] * len(x)
    for t in range(max(first, n - 1), len(x)):
        window = [float(v) for v in x[t - n + 1 : t + 1]]
        out[t] = math.nan if any(math.isnan(v) for v in window) else func(window)
    return np.array(out)


def loop_sma(x, n):
    return loop_window(x, n, n - 1, lambda w: math.fsum(w) / n)


def loop_volatility(x, n):
    returns = [math.nan] + [math.nan if x[t - 1] == 0.0 else x[t] / x[t - 1] - 1.0 for t in range(1, len(x))]

    def std(w):
        mean = math.fsum(w) / n
        return math.sqrt(math.fsum((v - mean) ** 2 for v in w) / (n - 1))

    return loop_window(returns, n, n, std)


def loop_extreme(op):
    return lambda x, n: loop_window(x, n, n - 1, op)


def check_close(got, want, what):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=what)
    ok = ~np.isnan(want)
    scale = np.maximum(np.abs(want[ok]), 1e-3)  # relative, absolute near 0
    error = np.max(np.abs(got[ok] - want[ok]) / scale, initial=0.0)
    assert error <= 1e-9, f"{what}: error {error:.2e}"
    return error


@pytest.mark.parametrize("name, loop", [("sma", loop_sma), ("volatility", loop_volatility),
                                        ("rolling_max", loop_extreme(max)), ("rolling_min", loop_extreme(min))])
def test_rolling_indicators_match_per_bar_loops(name, loop):
    """The O(size) / O(size log n) rolling kernels against a plain loop over every window (exactly rounded
    sums), on prices, on a mixed-sign series near 0 (a nested roc), with NaN holes, zeros and flat stretches."""
    rng = np.random.default_rng(21)
    func = getattr(ind, name)
    prices = random_prices(rng, 2520)[1]
    holes = prices.copy()
    holes[[300, 301, 1200, 2519]] = np.nan
    holes[700:760] = holes[700]  # flat: volatility exactly 0 inside
    holes[900] = 0.0  # a zero price: NaN returns around it
    series = {"prices": prices, "near zero": ind.roc(prices, 5)[5:], "holes": holes,
              "levels": np.concatenate((1e7 + rng.normal(0.0, 1.0, 1000), 1.0 + rng.normal(0.0, 0.01, 1000)))}
    for label, x in series.items():
        for n in (2, 3, 5, 20, 50, 63, 64, 65, 200):
            check_close(func(x, n), loop(x, n), f"{name}({label}, {n})")
    got = ind.volatility(holes, 20) if name == "volatility" else None
    if got is not None:
        assert (got[720:760] == 0.0).all()


def test_sma_of_a_constant_series_is_exactly_constant():
    for value in (0.1, 1.0 / 3.0, 103.37, -2.5e-7):
        x = np.full(3000, value)
        for n in (1, 3, 7, 20, 63, 200, 3000):
            got = ind.sma(x, n)[n - 1 :]
            assert np.unique(got).size == 1 and abs(got[0] - value) <= 1e-15 * abs(value)
        assert (ind.volatility(x, 20)[20:] == 0.0).all()


def test_indicators_of_zero_prices_are_nan_not_warnings():
    x = np.array([1.0, 0.0, 2.0, 3.0, 4.0, 0.0, 1.0])
    assert np.isnan(ind.roc(x, 1)[2]) and ind.roc(x, 1)[1] == -1.0
    vol = ind.volatility(x, 2)
    assert np.isnan(vol[2]) and np.isnan(vol[3]) and not np.isnan(vol[4])


# ----------------------------------------------------------------------------------------------------------
# No look-ahead of positions for signals built from indicators
# ----------------------------------------------------------------------------------------------------------


def indicator_signal(open_, close, long_short):
    fast, slow, strength = ind.sma(close, 5), ind.ema(close, 20), ind.rsi(close, 14)
    breakout = close >= ind.rolling_max(close, 30)
    calm = ind.volatility(close, 10) < 0.03
    momentum = ind.roc(open_, 3) > 0
    warm = max(
        ind.WARMUP["sma"](5),
        ind.WARMUP["ema"](20),
        ind.WARMUP["rsi"](14),
        ind.WARMUP["rolling_max"](30),
        ind.WARMUP["volatility"](10),
        ind.WARMUP["roc"](3),
    )
    long = ((fast > slow) & (strength < 70)) | (breakout & calm & momentum)
    signal = long.astype(np.int8)
    if long_short:
        signal[(fast < slow) & (strength > 30) & ~momentum] = -1
    signal[:warm] = 0  # flat while any indicator is undefined
    return signal


@pytest.mark.parametrize("fill", bt.FILLS)
def test_positions_never_look_ahead(fill):
    rng = np.random.default_rng(13)
    for case in range(20):
        n = 300
        open_, close = random_prices(rng, n)
        long_short = case % 2 == 1
        signal = indicator_signal(open_, close, long_short)
        p = bt.positions(signal)
        returns = bt.bar_returns(open_, close, fill)
        for t in rng.integers(40, n - 2, 5):
            o2, c2 = open_.copy(), close.copy()
            o2[t + 1 :], c2[t + 1 :] = random_prices(rng, n - t - 1, vol=0.2)
            signal2 = indicator_signal(o2, c2, long_short)
            # p_{t+1} = s_t is decided at bar t's close: nothing after bar t can change it.
            np.testing.assert_array_equal(bt.positions(signal2)[: t + 2], p[: t + 2])
            if fill == "close":  # nor anything the bars up to t earned
                r2 = bt.bar_returns(o2, c2, fill)
                assert bt.period_metrics(signal2, r2, 1, t + 1) == bt.period_metrics(signal, returns, 1, t + 1)
