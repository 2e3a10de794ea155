"""Walk-forward analysis: the windows' dates, the settings, the layout of windows over ranks, and the real CLI end
to end on synthetic markets (identical files whatever the layout, stopped and resumed, no look-ahead)."""

import csv
import json

import numpy as np
import pytest
from conftest import hpcevo
from support.markets import planted_closes, random_walk_closes, write_ohlcv

from hpcevo.errors import ConfigError
from hpcevo.trading.data import DataError
from hpcevo.walkforward.driver import layout
from hpcevo.walkforward.settings import walkforward_settings
from hpcevo.walkforward.windows import plan_windows, window_seed

D = np.datetime64


def spans(windows):
    return [(w.index, str(w.train_start), str(w.test_start), str(w.test_end)) for w in windows]


def test_windows_step_by_the_test_period_back_from_the_end():
    """8 + 2 years over 2000-10-20 .. 2018-12-31: test periods start on Jan 1 of odd years, back from the end,
    while 8 years of training still start on or after the first usable date."""
    windows = plan_windows(D("2000-10-20"), D("2018-12-31"), 8, 2)
    assert spans(windows) == [
        (1, "2001-01-01", "2009-01-01", "2010-12-31"),
        (2, "2003-01-01", "2011-01-01", "2012-12-31"),
        (3, "2005-01-01", "2013-01-01", "2014-12-31"),
        (4, "2007-01-01", "2015-01-01", "2016-12-31"),
        (5, "2009-01-01", "2017-01-01", "2018-12-31"),
    ]
    assert [w.name for w in windows] == [f"window-0{i}" for i in range(1, 6)]
    assert windows[0].problem_options() == {"train_start": "2001-01-01", "holdout_start": "2009-01-01",
                                            "end": "2010-12-31"}


def test_a_fixed_number_of_windows_keeps_the_latest():
    assert spans(plan_windows(D("2000-10-20"), D("2018-12-31"), 8, 2, windows=2)) == [
        (1, "2007-01-01", "2015-01-01", "2016-12-31"), (2, "2009-01-01", "2017-01-01", "2018-12-31")]


def test_fractional_years_count_whole_months_and_clamp_the_day():
    """1.5 test years = 18 months; from a month's 31st back into a shorter month the day is clamped."""
    assert spans(plan_windows(D("2010-01-01"), D("2018-08-31"), 3, 1.5, windows=2)) == [
        (1, "2012-09-01", "2015-09-01", "2017-02-28"), (2, "2014-03-01", "2017-03-01", "2018-08-31")]


def test_too_many_windows_say_how_many_fit():
    with pytest.raises(DataError, match=r"data.csv: from 2000-10-20 .* room for 5 walk-forward window\(s\) of 8 "
                                        r"training and 2 test years, not 6\. Use more data"):
        plan_windows(D("2000-10-20"), D("2018-12-31"), 8, 2, windows=6, source="data.csv")
    with pytest.raises(DataError, match=r"room for 0 walk-forward window"):
        plan_windows(D("2015-01-01"), D("2018-12-31"), 8, 2)


def test_window_seeds_are_fixed_and_distinct():
    seeds = [window_seed(1, i) for i in range(1, 9)]
    assert len(set(seeds)) == 8 and all(0 <= s < 2**31 for s in seeds)
    assert seeds == [window_seed(1, i) for i in range(1, 9)]
    assert window_seed(2, 1) not in seeds


@pytest.mark.parametrize("table,message", [
    ({"train_yeras": 3}, r'walkforward.train_yeras is not a walk-forward setting. Did you mean "train_years"\?'),
    ({"windows": 2.5}, r"walkforward.windows must be an integer, got 2.5"),
    ({"test_years": True}, r"walkforward.test_years must be a number, got True"),
    ({"test_years": 0.01}, r"walkforward.test_years must be at least one month \(1/12\), got 0.01"),
    ({"top": 0}, r"walkforward.top must be 1 or more, got 0"),
])
def test_bad_settings_name_the_key(table, message):
    with pytest.raises(ConfigError, match=message):
        walkforward_settings(table, "config file wf.toml")


def test_settings_defaults_and_types():
    s = walkforward_settings({"train_years": 5, "windows": 3})
    assert (s.train_years, s.test_years, s.windows, s.top, s.parallel) == (5.0, 2.0, 3, 1, 0)
    assert isinstance(s.train_years, float)


@pytest.mark.parametrize("ranks,rpi,islands,windows,parallel,expected", [
    (1, 1, 4, 5, 0, (1, 1)),  # one process runs every window in turn
    (4, 1, 4, 5, 0, (1, 4)),  # one window fills the ranks: one after another
    (4, 1, 2, 5, 0, (2, 2)),  # two windows of two islands side by side
    (5, 1, 2, 5, 0, (2, 2)),  # the fifth rank idles
    (8, 2, 2, 5, 0, (2, 4)),  # groups of 2 ranks: 4 ranks a window
    (16, 1, 2, 3, 0, (3, 2)),  # never more slots than windows
    (4, 1, 2, 5, 4, (4, 1)),  # asked for: four at a time, one rank each
    (4, 1, 4, 5, 1, (1, 4)),
])
def test_layout_divides_ranks_among_windows(ranks, rpi, islands, windows, parallel, expected):
    assert layout(ranks, rpi, islands, windows, parallel) == expected


def test_layout_refuses_more_slots_than_ranks():
    with pytest.raises(ConfigError, match=r"walkforward.parallel = 5 windows at once need at least 5 ranks"):
        layout(4, 1, 2, 5, 5)


# -- the trading options a window sets -------------------------------------------------------------------

def test_window_options_cut_the_data_and_the_calendar(tmp_path):
    from hpcevo.trading.problem import trading

    data = write_ohlcv(tmp_path / "m.csv", random_walk_closes(2000, 1), 1)  # 2000-01-03 .. 2007-08-31
    ctx = trading(data=str(data), folds=2, selection_years=1, train_start="2003-01-01",
                  holdout_start="2005-06-01", end="2006-05-31").context
    (market,) = ctx.markets
    assert str(market.dates[-1]) == "2006-05-31" and str(market.dates[0]) == "2000-01-03"
    assert ctx.calendar.dates(ctx.markets) == {
        "train_start": "2003-01-01", "train_end": "2004-05-31", "selection_start": "2004-06-01",
        "selection_end": "2005-05-31", "oos_start": "2005-06-01", "oos_end": "2006-05-31"}


@pytest.mark.parametrize("options,message", [
    ({"end": "2006-13-01"}, r"end must be a date like 2015-01-02"),
    ({"holdout_start": "2009-01-01"}, r"holdout_start = 2009-01-01 is after the data's last date with a return, "
                                      r"2007-08-31"),
    ({"end": "2000-01-04"}, r"end = 2000-01-04 leaves instrument 'm' 2 bar\(s\)"),
])
def test_bad_window_options(tmp_path, options, message):
    from hpcevo.trading.problem import trading

    data = write_ohlcv(tmp_path / "m.csv", random_walk_closes(2000, 1), 1)
    with pytest.raises((ValueError, DataError), match=message):
        trading(data=str(data), folds=2, selection_years=1, **options)


# -- end to end -------------------------------------------------------------------------------------------

TINY = ["--islands", 2, "--population", 16, "--generations", 4, "--migration-interval", 2, "--migrants", 2,
        "-O", "folds=2", "-O", "selection_years=1", "-O", "report_top=3", "--train-years", 3, "--test-years", 1,
        "--quiet"]
OUTPUTS = ("walkforward.csv", "walkforward_returns.csv")


def walk(tmp_path, data, out, *extra, ranks=None, timeout=180):
    run = hpcevo(["walkforward", *TINY, "--data", data, "--out", out, *extra], ranks=ranks, timeout=timeout)
    return run


def rows(folder):
    return list(csv.DictReader((folder / "walkforward.csv").read_text().splitlines()))


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wfdata")
    return write_ohlcv(folder / "market.csv", planted_closes(2000, 7, edge=0.003), 7)


@pytest.fixture(scope="module")
def serial(tmp_path_factory, market):
    out = tmp_path_factory.mktemp("wfserial") / "wf"
    run = walk(out.parent, market, out)
    assert run.returncode == 0, run.stderr
    return out, run


@pytest.mark.slow
def test_the_record_stitches_every_test_period(serial):
    out, run = serial
    summary = json.loads((out / "summary.json").read_text())
    wf = summary["walkforward"]
    assert set(wf) >= {"windows", "oos_sharpe", "buy_and_hold_sharpe", "sharpe_diff_ci_low", "sharpe_diff_ci_high",
                       "spa_pvalue", "verdict"}
    assert f"walk-forward verdict: {wf['verdict']}\n" in run.stdout
    table = rows(out)
    assert [int(r["window"]) for r in table] == list(range(1, wf["windows"] + 1)) and wf["windows"] == 3
    returns = list(csv.DictReader((out / "walkforward_returns.csv").read_text().splitlines()))
    dates = [r["date"] for r in returns]
    assert dates == sorted(set(dates))  # strictly increasing: the test periods do not overlap
    for r in table:  # each window's test rows are its test period, and its picks are its own S1
        mine = [x for x in returns if x["window"] == r["window"]]
        assert (mine[0]["date"], mine[-1]["date"], len(mine)) == (r["test_start"], r["test_end"],
                                                                 int(r["test_bars"]))
        assert r["selection_end"] < r["test_start"] and r["train_end"] < r["selection_start"]
        report = {s["id"]: s for s in csv.DictReader(
            (out / f"window-0{r['window']}" / "strategies.csv").read_text().splitlines())}
        assert r["expressions"] == report["S1"]["expression"]
        assert float(r["test_sharpe"]) == float(report["S1"]["oos_sharpe"])  # one period, the same conventions
        assert float(r["bh_sharpe"]) == float(report["BH"]["oos_sharpe"])
    for a, b in zip(table, table[1:]):
        assert a["test_end"] < b["test_start"]
    assert (wf["oos_start"], wf["oos_end"], wf["bars"]) == (table[0]["test_start"], table[-1]["test_end"],
                                                          len(returns))
    assert wf["windows"] == 3 and summary["status"] == "complete"


@pytest.mark.slow
def test_two_and_four_ranks_and_windows_side_by_side_write_the_same_files(tmp_path, market, serial):
    """mpiexec -n 2 (one window at a time on both ranks: two islands), -n 2 --parallel 2 (side by side, one rank
    each), -n 4 (two side by side, two ranks each) and -n 4 --parallel 1 (one at a time, two ranks idle) write
    the serial run's files."""
    out, _ = serial
    for ranks, extra, slots in ((2, [], 1), (2, ["--parallel", 2], 2), (4, [], 2), (4, ["--parallel", 1], 1)):
        other = tmp_path / f"n{ranks}-{slots}"
        run = walk(tmp_path, market, other, *extra, ranks=ranks)
        assert run.returncode == 0, run.stderr
        for name in OUTPUTS:
            assert (other / name).read_bytes() == (out / name).read_bytes(), (ranks, extra, name)
        summary = json.loads((other / "summary.json").read_text())
        assert (summary["ranks"], summary["parallel"]) == (ranks, slots)


@pytest.mark.slow
def test_stopped_and_resumed_on_other_ranks_matches(tmp_path, market, serial):
    out, _ = serial
    wf = tmp_path / "wf"
    run = walk(tmp_path, market, wf, "--stop-after", 2, ranks=2)
    assert run.returncode == 75, run.stderr
    assert "walk-forward stopped with 0 of 3 windows complete" in run.stderr
    assert f"python -m hpcevo walkforward --resume {wf}" in run.stderr
    assert not (wf / "walkforward.csv").exists()
    resumed = hpcevo(["walkforward", "--resume", "auto", "--out", wf, "--quiet"], timeout=180)  # as run.sh does
    assert resumed.returncode == 0, resumed.stderr
    for name in OUTPUTS:
        assert (wf / name).read_bytes() == (out / name).read_bytes(), name


@pytest.mark.slow
def test_resume_refuses_a_changed_setting(tmp_path, serial):
    out, _ = serial
    run = hpcevo(["walkforward", "--resume", out, "--train-years", 4])
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "cannot resume the walk-forward of" in run.stderr and "walkforward = {'train_years': 4.0" in run.stderr


@pytest.mark.slow
def test_prices_after_a_test_start_change_nothing_chosen_for_it(tmp_path, market, serial):
    """Rewrite every price from window 2's test start on: window 1 (tested before it) and window 2 (tested from
    it) choose the same strategies, with the same logbooks; only their test-period figures change."""
    out, _ = serial
    table = rows(out)
    cut = np.datetime64(table[1]["test_start"])
    lines = market.read_text().splitlines()
    rng = np.random.default_rng(3)
    changed = [lines[0]]
    for line in lines[1:]:
        date, *values = line.split(",")
        if np.datetime64(date) >= cut:
            f = float(rng.uniform(0.8, 1.2))
            values = [f"{float(v) * f:.6f}" for v in values[:4]] + values[4:]
        changed.append(",".join([date, *values]))
    moved = tmp_path / "moved.csv"
    moved.write_text("\n".join(changed) + "\n")
    other = tmp_path / "wf"
    run = walk(tmp_path, moved, other)
    assert run.returncode == 0, run.stderr
    mine = rows(other)
    assert [r["test_start"] for r in mine] == [r["test_start"] for r in table]
    for k in (0, 1):
        assert mine[k]["expressions"] == table[k]["expressions"]
        for name in ("logbook.csv", "hall_of_fame.json", "migrations.csv"):
            assert (other / f"window-0{k + 1}" / name).read_bytes() == (out / f"window-0{k + 1}" / name).read_bytes()
    assert mine[0] == table[0]  # tested before the change: every figure the same
    assert mine[1]["bh_sharpe"] != table[1]["bh_sharpe"]  # tested on the changed prices


@pytest.mark.slow
@pytest.mark.parametrize("args,message", [
    (["--train-years", 30], r"room for 0 walk-forward window"),
    (["--problem", "onemax"], r"walkforward runs the trading problem"),
    (["-O", "end=2005-01-01"], r"problem option end is set by each walk-forward window"),
    (["-O", "holdout_start=\"2005-01-01\""], r"problem option holdout_start is set by each walk-forward window"),
    (["--windows", -1], r"walkforward.windows must be 0 or more"),
    (["--trian-years", 3], r"Did you mean --train-years\?"),
])
def test_user_errors(tmp_path, market, args, message):
    run = hpcevo(["walkforward", "--data", market, "--out", tmp_path / "wf", *args])
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    assert len([line for line in run.stderr.splitlines() if line.startswith("hpcevo: error")]) == 1
    import re

    assert re.search(message, run.stderr), run.stderr


# -- skill or luck: the procedure judged on markets whose answer is known -----------------------------------

SKILL = ["--islands", 2, "--population", 50, "--generations", 12, "--migration-interval", 4, "--migrants", 2,
         "-O", "selection_years=1", "-O", "report_top=3", "--train-years", 4, "--test-years", 1, "--quiet"]


def judged(tmp_path, close, seed):
    data = write_ohlcv(tmp_path / "market.csv", close, seed)
    run = hpcevo(["walkforward", *SKILL, "--data", data, "--seed", seed + 1, "--out", tmp_path / "wf"], timeout=240)
    assert run.returncode == 0, run.stderr
    wf = json.loads((tmp_path / "wf" / "summary.json").read_text())["walkforward"]
    assert wf["windows"] == 4, wf  # 4 years of test: the first usable date is 200 bars in
    return wf, json.dumps({k: v for k, v in wf.items() if k != "markets"}, indent=1)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_planted_edge_makes_a_procedure_with_skill(tmp_path, seed):
    wf, shown = judged(tmp_path, planted_closes(2500, seed, edge=0.003), seed)
    assert wf["oos_sharpe"] > wf["buy_and_hold_sharpe"] + 1.0, shown
    assert wf["sharpe_diff_ci_low"] > 0 and wf["spa_pvalue"] < 0.05 and wf["significant"], shown
    assert wf["verdict"].startswith("evidence that the procedure has skill"), shown


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_random_walk_gives_a_procedure_without_skill(tmp_path, seed):
    wf, shown = judged(tmp_path, random_walk_closes(2500, seed + 100), seed)
    assert not wf["significant"], shown  # significant: the difference's interval above 0 and SPA p < 0.05
    assert wf["verdict"].startswith("no evidence that the procedure beats buy-and-hold"), shown


@pytest.mark.slow
def test_killed_outright_and_resumed_on_two_ranks_matches(tmp_path, market, serial):
    """kill -9 of the whole walk-forward once window 2 has a checkpoint; resumed under mpiexec -n 2: the serial
    run's files (window 1 kept, window 2 from its checkpoint or restarted, window 3 new)."""
    import os
    import signal
    import time

    from conftest import launch

    out, _ = serial
    wf = tmp_path / "wf"
    args = ["walkforward", *TINY, "--data", market, "--checkpoint-every", 1]
    proc = launch(args, None, wf)
    deadline = time.monotonic() + 120
    while not (wf / "window-02" / "checkpoint.pkl").exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1] if proc.poll() else "timeout"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL and not (wf / "walkforward.csv").exists()
    resumed = hpcevo(["walkforward", "--resume", wf, "--quiet"], ranks=2, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    for name in OUTPUTS:
        assert (wf / name).read_bytes() == (out / name).read_bytes(), name
