"""The trading workload end to end: the problem factory, strategies.csv, the holdout, the backtest command."""

import csv
import gzip
import json
import random

import numpy as np
import pytest
from conftest import ROOT, hpcevo, same_results

from hpcevo.errors import Rejected
from hpcevo.trading.backtest_cli import backtest_markets
from hpcevo.trading.language import parse, to_expression
from hpcevo.trading.problem import penalty, trading

TINY = ["--problem", "trading", "-O", "folds=2", "--islands", 2, "--population", 12, "--generations", 3,
        "--migration-interval", 2, "--migrants", 2, "--quiet"]


@pytest.fixture(scope="module")
def toolbox():
    return trading(folds=3)


def test_one_calendar_for_the_embedded_data(toolbox):
    ctx = toolbox.context
    (folds,), (holdout,) = ctx.folds, ctx.holdout
    market, periods = ctx.markets[0], ctx.calendar.markets[0]
    assert folds[0][0] == 1 + 200  # bar 0 has no return, then the longest window fills
    assert all(a[1] == b[0] for a, b in zip(folds, folds[1:]))
    assert folds[-1][1] == periods.selection[0] and periods.selection[1] == holdout[0]
    assert holdout[1] == market.n_bars
    # the holdout is the last four years of dates, the selection period the two before it
    assert str(market.dates[holdout[0] - 1]) <= "2014-12-31" < str(market.dates[holdout[0]])
    assert str(market.dates[periods.selection[0] - 1]) <= "2012-12-31" < str(market.dates[periods.selection[0]])
    assert ctx.calendar.dates(ctx.markets) == {
        "train_start": "1999-10-20", "train_end": "2012-12-31", "selection_start": "2013-01-02",
        "selection_end": "2014-12-31", "oos_start": "2015-01-02", "oos_end": "2018-12-31"}


def _market(name, dates, seed):
    from hpcevo.trading.data import Market

    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, len(dates))))
    return Market(name, dates, close * 1.001, close * 1.01, close * 0.99, close, np.full(len(dates), 1e6), "t.csv")


def test_instruments_share_one_cut_off_and_short_histories_join_late():
    from hpcevo.trading.backtest import bar_returns
    from hpcevo.trading.calendar import make_calendar

    days = np.arange(np.datetime64("2000-01-03"), np.datetime64("2012-12-31"))
    days = days[np.is_busday(days)]
    long_ = _market("long", days, 1)
    early = _market("ends_early", days[days < np.datetime64("2011-06-30")], 2)  # delisted before the others
    late = _market("starts_late", days[days >= np.datetime64("2006-01-02")], 3)  # listed later
    markets = [long_, early, late]
    returns = [bar_returns(m.open, m.close) for m in markets]
    cal = make_calendar(markets, returns, folds=4, holdout_years=2, selection_years=1)
    assert cal.end == np.datetime64("2012-12-28")  # the last business day: the holdout is the two years after
    assert cal.holdout_start == np.datetime64("2010-12-29") and cal.selection_start == np.datetime64("2009-12-29")
    for market, periods in zip(markets, cal.markets):
        for fold in periods.training:  # no training bar reaches the selection period or the holdout
            assert market.dates[fold[1] - 1] < cal.selection_start
        if periods.holdout:
            assert market.dates[periods.holdout[0]] >= cal.holdout_start
            assert market.dates[periods.holdout[0] - 1] < cal.holdout_start
    # fold k covers the same calendar period on every instrument that takes part in it
    for k, (lo, hi) in enumerate(zip(cal.fold_edges[:-1], cal.fold_edges[1:])):
        for market, periods in zip(markets, cal.markets):
            if periods.folds[k] is not None:
                a, b = periods.folds[k]
                assert lo <= market.dates[a] and market.dates[b - 1] < hi
    assert cal.markets[1].holdout is not None  # ends early: still half a year of holdout
    assert [f is None for f in cal.markets[2].folds] == [True, True, False, False]  # joins in the third fold


def test_an_instrument_that_ended_before_the_holdout_has_none():
    from hpcevo.trading.backtest import bar_returns
    from hpcevo.trading.calendar import make_calendar

    days = np.arange(np.datetime64("2000-01-03"), np.datetime64("2012-12-31"))
    days = days[np.is_busday(days)]
    markets = [_market("a", days, 1), _market("gone", days[days < np.datetime64("2010-06-30")], 2)]
    cal = make_calendar(markets, [bar_returns(m.open, m.close) for m in markets], 4, 2, 1)
    assert cal.markets[1].holdout is None and cal.markets[1].selection is not None
    assert len(cal.markets[1].training) == 4


def _reference_fitness(toolbox, tree, names):
    from hpcevo.trading.metrics import net_returns, period_stats

    ctx = toolbox.context
    (signal,) = ctx.signals(tree)
    p_full = np.concatenate(([0.0], signal[:-1]))
    rows = []
    for a, b in ctx.folds[0]:
        r = ctx.returns[0][a:b]
        net = net_returns(p_full[a:b], r, ctx.cost_bps)
        bh = net_returns(np.ones(b - a), r, ctx.cost_bps)
        rows.append(period_stats(p_full[a:b], net, bh, 252, None, cost_bps=ctx.cost_bps))
    return [np.mean([row[k] for row in rows]) for k in names]


@pytest.mark.parametrize("objectives", ["default", "classic", "sortino,calmar,cagr,excess_return,turnover,exposure"])
def test_fitness_is_the_mean_of_the_fold_metrics(objectives):
    tb = trading(folds=3, objectives=objectives)
    tree = parse("and(gt(sma(close,20),sma(close,100)),lt(rsi(close,14),70))")
    names = tb.objective_names
    assert tb.evaluate(tree) == pytest.approx(_reference_fitness(tb, tree, names), rel=1e-9, abs=1e-12)


def test_size_objective_and_repeats_are_not_backtested_again():
    tb = trading(folds=3, objectives="sharpe,size")
    small = parse("gt(sma(close,20),sma(close,100))")
    same = parse("and(gt(sma(close,20),sma(close,100)),gt(sma(close,20),sma(close,100)))")  # the same signal
    a, b = tb.evaluate(small), tb.evaluate(same)
    assert a[0] == b[0] and (a[1], b[1]) == (len(small), len(same))
    assert len(tb.context.memo) == 1  # one backtest for two trees


def test_rarely_in_the_market_is_rejected(toolbox):
    with pytest.raises(Rejected, match=r"in the market on 0\.0% of the training bars \(min_exposure 0\.1\)"):
        toolbox.evaluate(parse("cross_above(sma(close,200),rmax(close,200))"))  # never true
    # 28 bars in the market out of thousands: the kind of rule the old fitness favoured
    with pytest.raises(Rejected, match="min_exposure"):
        toolbox.evaluate(parse("and(lt(rsi(close,5),20),lt(volume,vsma(volume,50)))"))
    assert toolbox.penalty == penalty(("sharpe", "information_ratio")) == (-10.0, -10.0)


def test_a_slow_trend_rule_is_not_excluded(toolbox):
    values = toolbox.evaluate(parse("gt(sma(close,20),sma(close,100))"))  # trades about once a year
    assert len(values) == 2


def test_trading_less_does_not_raise_the_default_objectives(toolbox):
    """Staying flat more of the time lowers both default objectives (Sharpe towards 0, IR towards -Sharpe(BH))."""
    always = toolbox.evaluate(parse("gt(close,rmin(close,5))"))  # long most of the time
    bh = trading(folds=3, min_exposure=0.0).evaluate(parse("gt(high,low)"))  # long every bar: buy and hold
    assert bh[1] == pytest.approx(0.0, abs=1e-12)
    assert always[0] < bh[0] + 1.0


def test_hall_of_fame_keeps_the_simplest_tree_of_a_signal():
    from hpcevo.island import new_hall_of_fame
    from hpcevo.problem import Problem

    tb = trading(folds=3)
    cls = type(tb.population(1)[0])
    big = cls(parse("and(gt(sma(close,20),sma(close,100)),gt(sma(close,20),sma(close,100)))"))
    small = cls(parse("gt(sma(close,20),sma(close,100))"))
    for ind in (big, small):
        ind.fitness.values = tb.evaluate(ind)
    prob = Problem("trading", tb, (1.0, 1.0), None, tb.similar)
    hof = new_hall_of_fame(prob, 10)
    hof.update([big])
    hof.update([small, big])
    assert [str(ind) for ind in hof] == [str(small)]


def test_options_are_checked():
    for options, text in (({"folds": 0}, "folds must be an integer >= 1"),
                          ({"fill": "open"}, "fill must be one of close, next_open"),
                          ({"holdout_years": -1}, "holdout_years must be a number > 0"),
                          ({"min_exposure": 2}, "min_exposure must be a number >= 0 and <= 1"),
                          ({"objectives": "sharp"}, "unknown objective 'sharp'; choose from sharpe, sortino"),
                          ({"risk_free": 5.0}, "risk_free must be a number >= -0.05 and <= 1")):
        with pytest.raises(ValueError, match=text):
            trading(**options)


def test_stale_opens_leave_the_language():
    from hpcevo.trading.data import DataError

    tb = trading(folds=3)
    assert "open" not in tb.context.notes[0] or "`open` is left out" in tb.context.notes[0]
    assert all(t.name != "open" for terms in tb.expr.keywords["pset"].terminals.values() for t in terms)
    with pytest.raises(DataError, match=r"open equals the previous close on 96% .* fill = \"next_open\" would"):
        trading(fill="next_open")
    assert not trading(data="nasdaq", folds=3).context.notes  # real opens


@pytest.mark.parametrize("objectives", ["default", "classic", "calmar,cagr"])
def test_risk_free_is_earned_while_flat_and_subtracted_in_sharpe(objectives):
    tree = parse("gt(sma(close,20),sma(close,100))")
    plain, with_rf = trading(folds=3, objectives=objectives), trading(folds=3, risk_free=0.03, objectives=objectives)
    names = with_rf.objective_names
    assert plain.evaluate(tree) != with_rf.evaluate(tree)
    from hpcevo.trading.metrics import net_returns, period_stats

    ctx = with_rf.context
    (signal,) = ctx.signals(tree)
    p_full = np.concatenate(([0.0], signal[:-1]))
    rows = []
    for a, b in ctx.folds[0]:
        r, rf = ctx.returns[0][a:b], np.full(b - a, 0.03 / 252)
        net = net_returns(p_full[a:b], r, ctx.cost_bps, rf=rf)
        bh = net_returns(np.ones(b - a), r, ctx.cost_bps, rf=rf)
        rows.append(period_stats(p_full[a:b], net, bh, 252, rf, cost_bps=ctx.cost_bps))
    want = [np.mean([row[k] for row in rows]) for k in names]
    assert with_rf.evaluate(tree) == pytest.approx(want, rel=1e-9, abs=1e-12)


def test_too_little_data_for_the_folds(tmp_path):
    from hpcevo.trading.data import DataError

    path = tmp_path / "short.csv"
    _write_csv(path, _embedded_rows()[-1500:])
    with pytest.raises(DataError, match=r"too short for 8 validation folds of at least 63 bars"):
        trading(data=str(path), folds=8)


def _embedded_rows():
    text = gzip.decompress((ROOT / "hpcevo" / "data" / "sp500.csv.gz").read_bytes()).decode()
    return list(csv.reader(text.splitlines()))[1:]


def _write_csv(path, rows):
    path.write_text("date,open,high,low,close,volume\n" + "".join(",".join(r) + "\n" for r in rows))


@pytest.mark.slow
def test_trading_results_identical_across_launch_modes(tmp_path):
    serial = hpcevo(TINY + ["--out", tmp_path / "serial"])
    assert serial.returncode == 0, serial.stderr
    for name, ranks, extra in (("n2", 2, []), ("n4g2", 4, ["--ranks-per-island", 2])):
        run = hpcevo(TINY + extra + ["--out", tmp_path / name], ranks=ranks)
        assert run.returncode == 0, run.stderr
        same_results(tmp_path / "serial", tmp_path / name)
        for file in ("strategies.csv", "returns.csv", "trades.csv"):
            assert (tmp_path / "serial" / file).read_bytes() == (tmp_path / name / file).read_bytes(), file
        summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("serial", name)]
        assert summaries[0]["overfitting"] == summaries[1]["overfitting"]
        assert summaries[0]["trading"] == summaries[1]["trading"]


@pytest.mark.slow
def test_holdout_is_never_seen_during_evolution(tmp_path):
    """Scrambling the holdout's prices changes strategies.csv's out-of-sample columns and nothing else."""
    rows = _embedded_rows()
    cut = next(i for i, r in enumerate(rows) if r[0] > "2014-12-31")  # the holdout's first bar
    rng = np.random.default_rng(0)
    scrambled = [r[:1] + [f"{float(v) * f:.4f}" for v in r[1:5]] + r[5:]
                 for r, f in zip(rows[cut:], rng.uniform(0.8, 1.2, len(rows) - cut))]
    for row in scrambled:  # keep high/low consistent with the scaled open/close
        o, h, low, c = map(float, row[1:5])
        row[2], row[3] = f"{max(o, h, low, c):.4f}", f"{min(o, h, low, c):.4f}"
    for name, data in (("a", rows), ("b", rows[:cut] + scrambled)):
        (tmp_path / name).mkdir()
        _write_csv(tmp_path / name / "spx.csv", data)
        run = hpcevo(TINY + ["--data", tmp_path / name / "spx.csv", "--out", tmp_path / f"run_{name}"])
        assert run.returncode == 0, run.stderr
    same_results(tmp_path / "run_a", tmp_path / "run_b")
    a, b = (list(csv.DictReader((tmp_path / f"run_{n}" / "strategies.csv").read_text().splitlines())) for n in "ab")
    assert [r["expression"] for r in a] == [r["expression"] for r in b]
    assert [{k: v for k, v in r.items() if not k.startswith("oos_")} for r in a] == \
           [{k: v for k, v in r.items() if not k.startswith("oos_")} for r in b]
    summaries = [json.loads((tmp_path / f"run_{n}" / "summary.json").read_text())["overfitting"] for n in "ab"]
    assert [s[k] for s in summaries for k in ("trials", "effective_trials", "pbo")] == \
           [summaries[0][k] for k in ("trials", "effective_trials", "pbo")] * 2
    assert [r["oos_total_return"] for r in a] != [r["oos_total_return"] for r in b]


@pytest.mark.slow
def test_strategies_csv_agrees_with_the_backtest_command(tmp_path):
    run = hpcevo(TINY + ["--out", tmp_path / "r"])
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader((tmp_path / "r" / "strategies.csv").read_text().splitlines()))
    assert rows[0]["id"] == "BH" and rows[0]["expression"] == "buy_and_hold" and len(rows) >= 2
    note = [line for line in run.stdout.splitlines() if line.startswith("note: ")]
    assert note == ["note: sp500: open equals the previous close on 96% of bars from 1999-01-04 to 2005-12-30 "
                    "(years 1999-2005), so opens are stale there: `open` is left out of the strategy language, so no "
                    "rule can fit that artefact."]
    assert [r["id"] for r in rows[1:]] == [f"S{i}" for i in range(1, len(rows))]
    # distinct signals: no two reported strategies have the same in-sample returns
    assert len({(r["is_total_return"], r["is_sharpe"], r["is_trades"]) for r in rows[1:]}) == len(rows) - 1
    assert [float(r["sel_sharpe"]) for r in rows[1:]] == sorted((float(r["sel_sharpe"]) for r in rows[1:]),
                                                                 reverse=True)
    for row in rows[1:]:
        (result,) = backtest_markets(row["expression"], start="2015-01-01")
        for key in ("total_return", "sharpe", "max_drawdown", "win_rate", "trades", "exposure", "bars"):
            assert float(row[f"oos_{key}"]) == pytest.approx(result[key], rel=1e-12, abs=1e-12), key
        assert float(rows[0]["oos_total_return"]) == pytest.approx(result["buy_and_hold"]["total_return"])
        assert 0.0 <= float(row["psr"]) <= 1.0 and 0.0 <= float(row["dsr"]) <= float(row["psr"])
        assert float(row["oos_sharpe_ci_low"]) <= float(row["oos_sharpe"]) <= float(row["oos_sharpe_ci_high"])
        assert (row["oos_start"], row["oos_end"]) == ("2015-01-02", "2018-12-31")
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    over = summary["overfitting"]
    assert set(over) >= {"trials", "effective_trials", "pbo", "spa_pvalue", "verdict"}
    assert 1 <= over["effective_trials"] <= over["trials"] and 0.0 <= over["pbo"] <= 1.0
    assert summary["trading"]["periods"]["oos_start"] == "2015-01-02"
    trades = list(csv.DictReader((tmp_path / "r" / "trades.csv").read_text().splitlines()))
    s1 = rows[1]
    for period, prefix in (("train", "is"), ("selection", "sel"), ("holdout", "oos")):
        mine = [t for t in trades if t["id"] == "S1" and t["period"] == period]
        assert len(mine) == int(s1[f"{prefix}_trades"])
        won = sum(float(t["return"]) > 1e-9 for t in mine)
        assert won / max(1, len(mine)) == pytest.approx(float(s1[f"{prefix}_win_rate"]))


@pytest.mark.slow
def test_daily_returns_are_one_call_away(tmp_path):
    from hpcevo.trading import read_returns, strategy_returns

    run = hpcevo(TINY + ["--out", tmp_path / "r"])
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader((tmp_path / "r" / "strategies.csv").read_text().splitlines()))
    frame = read_returns(tmp_path / "r")
    series = strategy_returns(rows[1]["expression"], folds=2)
    assert list(frame.index) == list(series.index) and series.index[0].strftime("%Y-%m-%d") == "1999-10-20"
    assert np.array_equal(frame["S1"].to_numpy(), series.to_numpy())
    hold = frame[frame["period"] == "holdout"]
    assert float(np.prod(1 + hold["S1"]) - 1) == pytest.approx(float(rows[1]["oos_total_return"]), rel=1e-12)


@pytest.mark.slow
def test_backtest_command_prints_one_json_object():
    run = hpcevo(["backtest", "and(gt(sma(close,20),sma(close,100)), lt(rsi(close,14),70))", "--cost-bps", 5,
                  "--fill", "next_open", "--start", "2010-01-01", "--end", "2012-12-31"])
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert {"total_return", "cagr", "sharpe", "max_drawdown", "win_rate", "trades", "exposure"} <= set(result)
    assert result["expression"] == "and(gt(sma(close,20),sma(close,100)),lt(rsi(close,14),70))"
    assert (result["start"], result["end"], result["fill"], result["cost_bps"]) == \
           ("2010-01-04", "2012-12-31", "next_open", 5.0)
    assert result["bars"] == 754 and 0 < result["exposure"] < 1
    assert {"sortino", "calmar", "turnover", "excess_return", "information_ratio", "beta"} <= set(result)
    assert result["excess_return"] == pytest.approx(result["cagr"] - result["buy_and_hold"]["cagr"], rel=1e-12)


def test_backtest_command_risk_free_and_borrow():
    base = backtest_markets("gt(sma(close,20),sma(close,100))", long_short=True, start="2015-01-01")[0]
    rf = backtest_markets("gt(sma(close,20),sma(close,100))", long_short=True, start="2015-01-01",
                          risk_free=0.02, borrow_bps=50)[0]
    assert rf["sharpe"] < base["sharpe"] and rf["total_return"] < base["total_return"]  # shorts pay, flat never
    assert rf["buy_and_hold"]["total_return"] == base["buy_and_hold"]["total_return"]  # always long: no rf, no fee


@pytest.mark.slow
def test_backtest_command_explains_a_bad_expression():
    run = hpcevo(["backtest", "and(gt(sma(close,15),sma(close,100)),lt(rsi(close,14),70))"])
    assert run.returncode == 2
    assert "window 15 is not in the menu 5, 10, 14, 20, 50, 100, 200" in run.stderr
    assert "\n                   ^" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.slow
def test_bad_data_file_under_mpiexec(tmp_path):
    run = hpcevo(["--problem", "trading", "-O", f'data="{tmp_path / "nope.csv"}"', "--out", tmp_path / "r"],
                 ranks=4, timeout=60)
    assert run.returncode == 2
    assert run.stderr.count(str(tmp_path / "nope.csv")) == 1 and "Traceback" not in run.stderr


@pytest.mark.parametrize("long_short", [False, True])
def test_random_strategies_match_the_per_bar_reference(long_short):
    """Random GP strategies on random markets, end to end: vectorised compile + backtest against the tests'
    per-bar references (the strategy language's node-by-node evaluation and the bar-by-bar backtest)."""
    from test_trading_backtest import assert_same_metrics, ref_metrics, ref_returns
    from test_trading_strategy import random_market, random_trees, reference

    from hpcevo.trading.backtest import bar_returns, fold_objectives, period_metrics
    from hpcevo.trading.problem import signal_values
    from hpcevo.trading.strategy import compile_signal

    rng = np.random.default_rng(5)
    trading_cases = 0
    for k, tree in enumerate(random_trees(40, seed=11, max_=5)):
        market = random_market(int(rng.integers(300, 700)), seed=k)
        fill = ("close", "next_open")[k % 2]
        returns = bar_returns(market.open, market.close, fill)
        ref_sig, ref_def = reference(tree, market)
        ref_s = [(1.0 if s else (-1.0 if long_short else 0.0)) if d else 0.0 for s, d in zip(ref_sig, ref_def)]
        signal = signal_values(*compile_signal(tree, market, {}), long_short)
        assert signal.tolist() == ref_s
        n = len(market.close)
        lo, hi = (1, n) if fill == "close" else (0, n - 1)
        want = ref_metrics(ref_s, ref_returns(market.open, market.close, fill), lo, hi, 10.0)
        assert_same_metrics(period_metrics(signal, returns, lo, hi, 10.0), want, f"tree {k}")
        trading_cases += want["trades"] > 1
        folds = [(lo, lo + (hi - lo) // 2), (lo + (hi - lo) // 2, hi)]
        objectives = fold_objectives(signal, returns, folds, 10.0)
        for row, (a, b) in zip(objectives, folds):
            fold = ref_metrics(ref_s, ref_returns(market.open, market.close, fill), a, b, 10.0)
            assert row.tolist() == pytest.approx([fold["sharpe"], fold["max_drawdown"], fold["win_rate"],
                                                  fold["trades"]], rel=1e-9, abs=1e-12)
    assert trading_cases >= 12, trading_cases  # 15 of these 40 trade more than once: win rates are really compared


def test_a_misspelt_option_names_the_real_ones():
    from hpcevo.errors import ProblemError
    from hpcevo.problem import load_problem

    with pytest.raises(ProblemError) as err:
        load_problem("trading", {"min_exposur": 0.2}, "nsga2")
    assert 'Did you mean "min_exposure" for "min_exposur"? It takes: data, objectives, folds, holdout_years, ' \
           "selection_years, cost_bps, borrow_bps, risk_free, fill, long_short, min_exposure, min_trades, " \
           "max_height, periods_per_year, report_top, train_start, holdout_start, end." in str(err.value)


@pytest.mark.slow
def test_instruments_of_unequal_histories_share_one_calendar_end_to_end(tmp_path):
    """A later listing and an earlier delisting run (no abort): one holdout cut-off for all, training before it."""
    import pandas as pd

    days = pd.bdate_range("2004-01-02", "2016-12-30")
    rng = np.random.default_rng(3)
    frames = []
    for symbol, lo, hi in (("FULL", "2004-01-01", "2017-01-01"), ("LATE", "2008-01-01", "2017-01-01"),
                           ("GONE", "2004-01-01", "2014-06-30")):
        d = days[(days >= lo) & (days < hi)]
        close = 50 * np.exp(np.cumsum(rng.normal(0.0002, 0.01, len(d))))
        opening = close * np.exp(rng.normal(0, 0.002, len(d)))
        frames.append(pd.DataFrame({"date": d.strftime("%Y-%m-%d"), "symbol": symbol, "open": opening,
                                    "high": np.maximum(opening, close) * 1.002,
                                    "low": np.minimum(opening, close) * 0.998, "close": close, "volume": 1e6}))
    path = tmp_path / "universe.csv"
    pd.concat(frames).to_csv(path, index=False)
    run = hpcevo(TINY + ["--data", path, "-O", "holdout_years=2", "-O", "selection_years=1", "--out", tmp_path / "r"])
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader((tmp_path / "r" / "strategies.csv").read_text().splitlines()))
    periods = json.loads((tmp_path / "r" / "summary.json").read_text())["trading"]["periods"]
    assert (periods["selection_start"], periods["oos_start"]) == ("2013-12-31", "2014-12-31")  # 2 years before the end
    by_market = {m: [r for r in rows if r["market"] == m] for m in ("FULL", "LATE", "GONE", "portfolio")}
    for market in ("FULL", "LATE", "portfolio"):
        assert {(r["oos_start"], r["oos_end"]) for r in by_market[market]} == {("2014-12-31", "2016-12-30")}
    assert {r["oos_bars"] for r in by_market["GONE"]} == {"0"} and {r["oos_start"] for r in by_market["GONE"]} == {""}
    assert {r["sel_end"] for r in by_market["GONE"]} == {"2014-06-27"}  # it ends inside the selection period
    for r in rows:
        assert r["is_end"] < periods["selection_start"] <= (r["sel_start"] or periods["selection_start"])
    assert min(r["is_start"] for r in by_market["LATE"]) > "2008-10-01"  # joins after its own warm-up


def test_a_repeated_tree_is_not_compiled_again(monkeypatch):
    import hpcevo.trading.problem as module

    tb = trading(folds=3)
    compiled = []
    real = module.compile_signal
    monkeypatch.setattr(module, "compile_signal",
                        lambda tree, *a: compiled.append(to_expression(tree)) or real(tree, *a))
    tree = parse("and(gt(sma(close,20),sma(close,100)),lt(rsi(close,14),70))")
    first = tb.evaluate(tree)
    assert tb.evaluate(parse(to_expression(tree))) == first  # an equal tree (other node objects): stored result
    rejected = parse("cross_above(sma(close,200),rmax(close,200))")
    for _ in range(2):
        with pytest.raises(Rejected, match="min_exposure"):
            tb.evaluate(rejected)
    assert len(compiled) == 2 and len(tb.context.trees) == 2
    fresh = trading(folds=3)
    assert fresh.evaluate(tree) == first  # what the memo returns is what a new process computes


def test_tree_keys_are_equal_exactly_for_equal_trees():
    from hpcevo.trading.problem import tree_key

    tb = trading(folds=3)
    random.seed(4)
    trees = tb.population(3000)
    by_key = {}
    for t in trees:
        by_key.setdefault(tree_key(t), set()).add(to_expression(t))
    assert all(len(v) == 1 for v in by_key.values())
    assert len(by_key) == len({to_expression(t) for t in trees}) > 500
    # typed numbers share names ("20" is a window and a level) but never a position
    assert tree_key(parse("lt(rsi(close,20),20)")) == ("lt_osc", "rsi", "close", "20", "20")
