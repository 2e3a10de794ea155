"""The shortcuts the end-of-run report takes give the very floats of the plain computations they replace."""

import itertools

import numpy as np
import pytest

from hpcevo.trading import overfitting as of
from hpcevo.trading.reporting import strategy_series


@pytest.mark.parametrize("t", [0, 1, 2, 3, 37, 1006, 3300, 20000])
def test_sharpe_ratios_are_sharpe_stats_of_each_row(t):
    rng = np.random.default_rng(t)
    rows = rng.normal(0.0003, 0.01, (12, t))
    if t:
        rows[3] = 0.5  # constant
        rows[4, t // 2:] = 0.0
    got = of.sharpe_ratios(rows)
    assert got.tobytes() == np.array([of.sharpe_stats(r)[0] for r in rows]).tobytes()
    with pytest.raises(ValueError):
        of.sharpe_ratios(np.array([[0.0, np.nan, 1.0]]))


@pytest.mark.parametrize("n_blocks", [2, 4, 6, 10, 16])
def test_subset_sums_equal_the_block_by_block_loop(n_blocks):
    rng = np.random.default_rng(n_blocks)
    blocks = rng.normal(size=(n_blocks, 9))
    subsets = np.array(list(itertools.combinations(range(n_blocks), n_blocks // 2)), dtype=np.intp)
    expected = blocks[subsets[:, 0]].copy()
    for j in range(1, subsets.shape[1]):
        expected += blocks[subsets[:, j]]
    assert of._subset_sums(blocks, subsets).tobytes() == expected.tobytes()


def test_pbo_test_sharpes_equal_a_separate_test_pass():
    """The test half of a split is another split's training half: the same sums, in the same (ascending) order."""
    rng = np.random.default_rng(1)
    m = rng.normal(0.0003, 0.01, (640, 30))
    m[:, 1] = m[:, 0]
    pbo, lambdas = of.pbo_cscv(m, n_blocks=8)
    # the plain computation: per split, sums of the test blocks added in ascending order, then ranks
    t, n = m.shape
    rows = t // 8
    x = m[t - rows * 8:]
    center = x.mean(axis=0)
    x = (x - center).reshape(8, rows, n)
    b1, b2 = x.sum(axis=1), (x * x).sum(axis=1)
    expected = []
    for train in itertools.combinations(range(8), 4):
        test = [b for b in range(8) if b not in train]
        sr = []
        for blocks in (train, test):
            s1, s2 = b1[blocks[0]].copy(), b2[blocks[0]].copy()
            for b in blocks[1:]:
                s1 += b1[b]
                s2 += b2[b]
            mean, var = s1 / (rows * 4.0) + center, (s2 - s1 * s1 / (rows * 4.0)) / (rows * 4.0 - 1)
            sr.append(np.where(var > 0, mean / np.sqrt(np.where(var > 0, var, 1.0)), 0.0))
        best = int(np.argmax(sr[0]))
        rank = 1 + int((sr[1] < sr[1][best]).sum()) + int(((sr[1] == sr[1][best]) & (np.arange(n) < best)).sum())
        omega = rank / (n + 1.0)
        expected.append(np.log(omega / (1.0 - omega)))
    assert lambdas.tobytes() == np.array(expected).tobytes()
    assert pbo == float(np.mean(np.array(expected) <= 0.0))


def test_block_length_of_two_series_is_the_larger_of_each():
    rng = np.random.default_rng(2)
    x, b = rng.normal(0.0, 0.01, 1006), rng.normal(0.0, 0.01, 1006)
    x[rng.random(1006) < 0.5] = 0.0
    for a, c in ((x, b), (b, x), (x, x), (np.zeros(1006), b)):
        joint = of._stationary_block(np.column_stack([a, c]))
        assert joint == max(of.stationary_block_length(a), of.stationary_block_length(c))
        assert of._stationary_block(a[:, None]) == of.stationary_block_length(a)
        ci = of.sharpe_confidence_interval(a, 252, benchmark=c, reps=200, seed=3)
        assert ci == of.sharpe_confidence_interval(a, 252, benchmark=c, reps=200, seed=3, block_size=joint)


def _one_candidate_at_a_time(ctx, cands, m, only):
    """(bh, positions, nets) of market m as the report computed them before it took all candidates as one
    matrix: positions(signal)[lo:hi] and net_returns of each period, a candidate and a period at a time."""
    from hpcevo.trading.backtest import positions
    from hpcevo.trading.metrics import net_returns

    series = strategy_series(ctx, [], only)[m]  # dates, periods and cuts (no candidate involved)
    _, lo, hi = series.data
    r = ctx.returns[m][lo:hi]
    rf = ctx.rf[m][lo:hi] if ctx.rf[m] is not None else None

    def net(p, kept):
        return np.concatenate([net_returns(p[a:b], r[a:b], ctx.cost_bps, borrow_bps=ctx.borrow_bps,
                                           rf=None if rf is None else rf[a:b], periods_per_year=ctx.periods_per_year)
                               if kept is None or series.period[a] in kept else np.zeros(b - a)
                               for a, b in zip(series.cuts[:-1], series.cuts[1:])])

    ps = [positions(c.signals[m])[lo:hi] for c in cands]
    return net(np.ones(hi - lo), None), ps, [net(p, only) for p in ps], series.dates


@pytest.mark.parametrize("only", [None, ("train",)])
def test_all_candidates_at_once_give_each_candidates_own_floats(tmp_path, only):
    """strategy_series takes the candidates as one matrix per market (and the portfolio as one): each row holds
    the floats of that candidate alone, over two instruments of unequal histories, shorts, borrow and rf."""
    import pandas as pd

    from hpcevo.trading.language import parse
    from hpcevo.trading.problem import trading
    from hpcevo.trading.reporting import Candidate

    days = pd.bdate_range("2006-01-02", "2014-12-31")
    rng = np.random.default_rng(4)
    frames = []
    for symbol, lo in (("AAA", "2006-01-01"), ("BBB", "2009-03-02")):
        d = days[days >= lo]
        close = 40 * np.exp(np.cumsum(rng.normal(0.0002, 0.012, len(d))))
        frames.append(pd.DataFrame({"date": d.strftime("%Y-%m-%d"), "symbol": symbol, "open": close,
                                    "high": close * 1.01, "low": close * 0.99, "close": close, "volume": 1e6}))
    path = tmp_path / "two.csv"
    pd.concat(frames).to_csv(path, index=False)
    ctx = trading(data=str(path), folds=2, long_short=True, borrow_bps=50.0, risk_free=0.02, cost_bps=7.0).context
    expressions = ["gt(close, sma(close, 50))", "cross_above(ema(close, 10), sma(close, 100))",
                   "lt(rsi(close, 14), 30)", "and(gt(close, rmax(close, 20)), gt(roc(close, 5), 0.01))",
                   "not(gt(close, sma(close, 200)))"]
    cands = [Candidate(e, parse(e), ctx.signals(parse(e)), ()) for e in expressions]
    series = strategy_series(ctx, cands, only)
    assert [s.name for s in series] == ["AAA", "BBB", "portfolio"]
    references = [_one_candidate_at_a_time(ctx, cands, m, only) for m in range(2)]
    for s, (bh, ps, nets, _) in zip(series, references):
        assert s.bh.tobytes() == bh.tobytes()
        assert [row.tobytes() for row in s.p] == [p.tobytes() for p in ps]
        assert [row.tobytes() for row in s.nets] == [n.tobytes() for n in nets]
    # the portfolio: each day, the mean over the instruments that have a bar that day, a candidate at a time
    dates = np.unique(np.concatenate([ref[3] for ref in references]))
    at = [np.searchsorted(dates, ref[3]) for ref in references]
    for i in range(len(cands)):
        for got, k in ((series[-1].p[i], 1), (series[-1].nets[i], 2)):
            total, count = np.zeros(dates.shape[0]), np.zeros(dates.shape[0])
            for ref, where in zip(references, at):
                total[where] += ref[k][i]
                count[where] += 1
            assert got.tobytes() == (total / count).tobytes()
