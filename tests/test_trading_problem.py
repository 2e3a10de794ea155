"""The trading workload end to end: the problem factory, strategies.csv, the holdout, the backtest command."""

import csv
import gzip
import json

import numpy as np
import pytest
from conftest import ROOT, hpcevo, same_results

from hpcevo.errors import Rejected
from hpcevo.trading.backtest_cli import backtest_markets
from hpcevo.trading.language import parse
from hpcevo.trading.problem import PENALTY, trading

TINY = ["--problem", "trading", "-O", "folds=2", "--islands", 2, "--population", 12, "--generations", 3,
        "--migration-interval", 2, "--migrants", 2, "--quiet"]


@pytest.fixture(scope="module")
def toolbox():
    return trading(folds=3)


def test_splits_keep_the_holdout_out(toolbox):
    ctx = toolbox.context
    (folds,), (holdout,) = ctx.folds, ctx.holdout
    market = ctx.markets[0]
    assert folds[0][0] == 1 and folds[-1][1] == holdout[0]  # bar 0 has no close-to-close return
    assert all(a[1] == b[0] for a, b in zip(folds, folds[1:]))
    assert holdout[1] == market.n_bars
    # the holdout is the last four years of dates: it starts after 2014-12-31 and holds about 4 x 252 bars
    assert str(market.dates[holdout[0] - 1]) <= "2014-12-31" < str(market.dates[holdout[0]])
    assert 990 <= holdout[1] - holdout[0] <= 1020


def test_fitness_is_the_mean_over_folds(toolbox):
    from hpcevo.trading.backtest import period_metrics

    ctx = toolbox.context
    tree = parse("and(gt(sma(close,20),sma(close,100)),lt(rsi(close,14),70))")
    (signal,) = ctx.signals(tree)
    per_fold = [period_metrics(signal, ctx.returns[0], a, b, ctx.cost_bps) for a, b in ctx.folds[0]]
    expected = [np.mean([m[k] for m in per_fold]) for k in ("sharpe", "max_drawdown", "win_rate")]
    assert toolbox.evaluate(tree) == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_rarely_trading_strategies_are_rejected(toolbox):
    with pytest.raises(Rejected, match="trades per validation fold"):
        toolbox.evaluate(parse("cross_above(sma(close,200),rmax(close,200))"))  # never true
    assert toolbox.penalty == PENALTY


def test_options_are_checked():
    for options, text in (({"folds": 0}, "folds must be an integer >= 1"),
                          ({"fill": "open"}, "fill must be one of close, next_open"),
                          ({"holdout_years": -1}, "holdout_years must be a number >= 0")):
        with pytest.raises(ValueError, match=text):
            trading(**options)


def test_too_little_data_for_the_folds(tmp_path):
    from hpcevo.trading.data import DataError

    path = tmp_path / "short.csv"
    _write_csv(path, _embedded_rows()[-1500:])
    with pytest.raises(DataError, match=r"bars before its holdout .* needs at least"):
        trading(data=str(path), folds=8)


def _embedded_rows():
    text = gzip.decompress((ROOT / "hpcevo" / "data" / "sp500.csv.gz").read_bytes()).decode()
    return list(csv.reader(text.splitlines()))[1:]


def _write_csv(path, rows):
    path.write_text("date,open,high,low,close,volume\n" + "".join(",".join(r) + "\n" for r in rows))


def test_trading_results_identical_across_launch_modes(tmp_path):
    serial = hpcevo(TINY + ["--out", tmp_path / "serial"])
    assert serial.returncode == 0, serial.stderr
    for name, ranks, extra in (("n2", 2, []), ("n4g2", 4, ["--ranks-per-island", 2])):
        run = hpcevo(TINY + extra + ["--out", tmp_path / name], ranks=ranks)
        assert run.returncode == 0, run.stderr
        same_results(tmp_path / "serial", tmp_path / name)
        strategies = [(tmp_path / d / "strategies.csv").read_bytes() for d in ("serial", name)]
        assert strategies[0] == strategies[1]


def test_holdout_is_never_seen_during_evolution(tmp_path):
    """Scrambling the holdout's prices changes strategies.csv's out-of-sample columns and nothing else."""
    rows = _embedded_rows()
    cut = next(i for i, r in enumerate(rows) if r[0] > "2014-12-31")
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
    assert [r["oos_total_return"] for r in a] != [r["oos_total_return"] for r in b]


def test_strategies_csv_agrees_with_the_backtest_command(tmp_path):
    run = hpcevo(TINY + ["--out", tmp_path / "r"])
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader((tmp_path / "r" / "strategies.csv").read_text().splitlines()))
    assert rows[0]["expression"] == "buy_and_hold" and len(rows) >= 2
    hof = json.loads((tmp_path / "r" / "hall_of_fame.json").read_text())["individuals"]
    assert sorted(r["expression"] for r in rows[1:]) == sorted(e["individual"] for e in hof)
    for row in rows[1:]:
        (result,) = backtest_markets(row["expression"], start="2015-01-01")
        for key in ("total_return", "sharpe", "max_drawdown", "win_rate", "trades", "exposure", "bars"):
            assert float(row[f"oos_{key}"]) == pytest.approx(result[key], rel=1e-12, abs=1e-12), key
        assert float(rows[0]["oos_total_return"]) == pytest.approx(result["buy_and_hold"]["total_return"])


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


def test_backtest_command_explains_a_bad_expression():
    run = hpcevo(["backtest", "and(gt(sma(close,15),sma(close,100)),lt(rsi(close,14),70))"])
    assert run.returncode == 2
    assert "window 15 is not in the menu 5, 10, 14, 20, 50, 100, 200" in run.stderr
    assert "\n                   ^" in run.stderr and "Traceback" not in run.stderr


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
