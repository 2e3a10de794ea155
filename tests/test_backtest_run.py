"""`python -m hpcevo backtest --run RUN_DIR [--data NEW.csv]`: re-scoring a finished trading run's reported
strategies with the run's own settings, flags overriding them, and its error messages."""

import csv
import json
import shutil
import subprocess
import sys

import pytest
import tomli_w
from conftest import ROOT, hpcevo
from support.markets import random_walk_closes, write_ohlcv

from hpcevo.trading.backtest_cli import DEFAULTS

# the run's settings: none of them the default, and risk_free from the data's rf column
RUN_OPTIONS = {"cost_bps": 5.0, "fill": "next_open", "long_short": True, "borrow_bps": 25.0, "risk_free": "column",
               "periods_per_year": 252, "report_top": 3, "folds": 2, "holdout_years": 2.0, "selection_years": 1.0}
# the same settings as flags of the single-expression command
RUN_FLAGS = ["--cost-bps", 5, "--fill", "next_open", "--long-short", "--borrow-bps", 25, "--risk-free", "column"]


def write_market(path, n_bars, seed, start="2000-01-03", rf=None, symbols=None):
    """write_ohlcv's CSV, with an rf column (a constant annual rate) and/or several symbols when asked."""
    frames = []
    for k, symbol in enumerate(symbols or [None]):
        part = path.with_name(f"{path.stem}-{k}.csv")
        write_ohlcv(part, random_walk_closes(n_bars, seed + k, drift=0.0002), seed + k, start=start)
        lines = part.read_text().splitlines()
        part.unlink()
        extra = [("symbol", symbol)] if symbol else []
        extra += [("rf", f"{rf:g}")] if rf is not None else []
        frames.append([",".join([line] + [name if i == 0 else value for name, value in extra])
                       for i, line in enumerate(lines)])
    header = frames[0][0]
    path.write_text("\n".join([header] + [line for frame in frames for line in frame[1:]]) + "\n")
    return path


def bars_of(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def run_json(args):
    """`python -m hpcevo backtest ARGS` in a subprocess: its JSON output."""
    done = hpcevo(["backtest", *args])
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return json.loads(done.stdout)


def cli_json(args, capsys):
    """The same command in this process (hpcevo.cli.main, which `python -m hpcevo` exits with): no interpreter
    start nor imports to pay for each call."""
    from hpcevo.cli import main

    status = main(["backtest", *map(str, args)])
    out, err = capsys.readouterr()
    assert status == 0, err
    return json.loads(out)


def same(a, b):
    """Exactly equal results, nan included (as JSON text: floats round-trip exactly)."""
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def without_id(result):
    return {k: v for k, v in result.items() if k != "id"}


def fails(args, *expected):
    """`hpcevo backtest ARGS` is a user error (exit 2, no traceback) whose one-paragraph message holds every
    `expected` text."""
    done = hpcevo(["backtest", *args])
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert done.stderr.startswith("hpcevo: error: ") and "\n\n" not in done.stderr.strip(), done.stderr
    for text in expected:
        assert text in done.stderr, done.stderr
    return done.stderr


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished trading run on a synthetic CSV (with an rf column), its settings all different from the
    defaults: (run folder, its data file, the reported [(id, expression)])."""
    folder = tmp_path_factory.mktemp("backtest_run")
    data = write_market(folder / "own.csv", 252 * 9, seed=11, rf=0.03)
    options = [x for key, value in RUN_OPTIONS.items()
               for x in ("-O", f"{key}={json.dumps(value) if isinstance(value, str) else str(value).lower()}")]
    done = hpcevo(["--problem", "trading", "--data", data, *options, "--islands", 2, "--population", 12,
                   "--generations", 3, "--migration-interval", 2, "--migrants", 2, "--quiet", "--out",
                   folder / "run"])
    assert done.returncode == 0, done.stderr
    rows = bars_of(folder / "run" / "strategies.csv")
    reported = list(dict.fromkeys((r["id"], r["expression"]) for r in rows if r["id"] != "BH"))
    assert [sid for sid, _ in reported] == [f"S{k}" for k in range(1, len(reported) + 1)] and len(reported) >= 2
    return folder / "run", data, reported


@pytest.fixture(scope="module")
def rescored(run):
    """`backtest --run RUN_DIR`'s output: the run's strategies re-scored on the run's own data and settings."""
    return run_json(["--run", run[0]])


def copy_run(run, tmp_path, *drop):
    folder = shutil.copytree(run[0], tmp_path / "copy")
    for name in drop:
        (folder / name).unlink()
    return folder


def write_config(folder, **options):
    (folder / "config.toml").write_text(tomli_w.dumps({"problem": "trading", "problem_options": options}))


def test_defaults_are_the_trading_problems():
    """Settings a run's config.toml lacks fall back to the trading problem's own defaults."""
    import inspect

    from hpcevo.trading.problem import trading

    defaults = {name: p.default for name, p in inspect.signature(trading).parameters.items()}
    assert {name: default for name, (_, default) in DEFAULTS.items()} == {name: defaults[name] for name in DEFAULTS}


@pytest.mark.slow
def test_rescore_on_its_own_data_equals_the_single_expression_backtest(run, rescored, capsys):
    folder, data, reported = run
    assert isinstance(rescored, list)
    assert [(r["id"], r["expression"]) for r in rescored] == reported  # one market: one object per id, in id order
    for result, (_, expression) in zip(rescored, reported):
        assert list(result)[:3] == ["id", "expression", "market"] and result["market"] == "own"
        assert (result["cost_bps"], result["fill"], result["long_short"], result["borrow_bps"],
                result["risk_free"]) == (5.0, "next_open", True, 25.0, "column")
        assert set(result["buy_and_hold"]) < set(result) and result["buy_and_hold"]["exposure"] == 1.0
        same(without_id(result), cli_json([expression, "--data", data, *RUN_FLAGS], capsys))
    # the command line of the first one in its own process too
    same(without_id(rescored[0]), run_json([reported[0][1], "--data", data, *RUN_FLAGS]))


@pytest.mark.slow
def test_rescore_on_new_data_names_its_markets_and_dates(run, tmp_path, capsys):
    folder, _, reported = run
    new = write_market(tmp_path / "new.csv", 300, seed=5, start="2021-03-01", rf=0.01, symbols=["AAA", "BBB"])
    results = run_json(["--run", folder, "--data", new])
    assert [(r["id"], r["market"]) for r in results] == [(sid, m) for sid, _ in reported for m in ("AAA", "BBB")]
    dates = [row["date"] for row in bars_of(new) if row["symbol"] == "AAA"]
    for result in results:  # the whole file; fill next_open: the last bar has no next open, so no return
        assert (result["start"], result["end"], result["bars"]) == (dates[0], dates[-2], len(dates) - 1)
    for k, (_, expression) in enumerate(reported):
        single = cli_json([expression, "--data", new, *RUN_FLAGS], capsys)["markets"]
        same([without_id(r) for r in results[2 * k:2 * k + 2]], single)

    period = cli_json(["--run", folder, "--data", new, "--start", "2021-06-01", "--end", "2021-12-31"], capsys)
    assert {(r["start"], r["end"]) for r in period} == {("2021-06-01", "2021-12-31")}  # a Tuesday, a Friday
    single = cli_json([reported[0][1], "--data", new, *RUN_FLAGS, "--start", "2021-06-01", "--end", "2021-12-31"],
                      capsys)
    same([without_id(r) for r in period[:2]], single["markets"])


@pytest.mark.slow
def test_flags_override_the_runs_settings(run, rescored, capsys):
    folder, data, reported = run
    free = run_json(["--run", folder, "--cost-bps", 0])
    assert [r["id"] for r in free] == [r["id"] for r in rescored]
    for base, result in zip(rescored, free):
        assert result["cost_bps"] == 0.0
        assert (result["fill"], result["long_short"], result["borrow_bps"], result["risk_free"]) == \
            ("next_open", True, 25.0, "column")  # not given: still the run's
        assert result["buy_and_hold"]["total_return"] > base["buy_and_hold"]["total_return"]  # no entry cost now
        assert result["total_return"] != base["total_return"]
        flags = [x if x != 5 else 0 for x in RUN_FLAGS]  # the run's settings, --cost-bps 0
        same(without_id(result), cli_json([result["expression"], "--data", data, *flags], capsys))
    other = cli_json(["--run", folder, "--no-long-short", "--fill", "close", "--risk-free", 0.02, "--borrow-bps", 0,
                      "--periods-per-year", 250], capsys)
    for result in other:
        assert (result["cost_bps"], result["fill"], result["long_short"], result["borrow_bps"], result["risk_free"]) \
            == (5.0, "close", False, 0.0, 0.02)
        same(without_id(result), cli_json([result["expression"], "--data", data, "--cost-bps", 5, "--risk-free", 0.02,
                                           "--periods-per-year", 250], capsys))


@pytest.mark.slow
def test_output_to_a_reader_that_leaves_early(run, tmp_path):
    """`hpcevo backtest --run ... | head`: the closed pipe is not an error (exit 0, nothing on stderr)."""
    new = write_market(tmp_path / "many.csv", 120, seed=9, symbols=[f"M{k}" for k in range(40)])
    cmd = [sys.executable, "-m", "hpcevo", "backtest", "--run", str(run[0]), "--data", str(new), "--risk-free", "0"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT) as proc:
        assert proc.stdout.read(2) == b"[\n"
        proc.stdout.close()  # well before the ~100 kB of JSON are written
        assert proc.wait(timeout=60) == 0
        assert proc.stderr.read() == b""


@pytest.mark.slow
def test_errors_in_the_command_line(run):
    folder = run[0]
    fails(["gt(close,open)", "--run", folder], "give a strategy expression or --run RUN_DIR, not both")
    fails([], "give a strategy expression to backtest", "or --run RUN_DIR to re-score")
    fails(["--run", folder.parent / "nowhere"], f"run folder {folder.parent / 'nowhere'} does not exist")
    fails(["--run", folder / "config.toml"], f"{folder / 'config.toml'} is not a folder")
    fails(["--run", folder, "--risk-free", "some"], "argument --risk-free: expected an annual rate such as 0.02, or "
                                                    "column, got 'some'")


@pytest.mark.slow
def test_errors_in_the_run_folder(run, tmp_path):
    copy = copy_run(run, tmp_path, "strategies.csv")
    fails(["--run", copy], f"{copy / 'strategies.csv'} not found: the run may not have finished",
          "or it was not a trading run.")
    (copy / "config.toml").write_text(tomli_w.dumps({"problem": "sphere", "problem_options": {}}))
    fails(["--run", copy], 'or it was not a trading run (its config.toml says problem = "sphere")')

    shutil.copy(run[0] / "strategies.csv", copy)
    lines = (copy / "strategies.csv").read_text().splitlines()
    (copy / "strategies.csv").write_text(lines[0] + "\n")
    fails(["--run", copy], f"{copy / 'strategies.csv'} lists no reported strategies")
    (copy / "strategies.csv").write_text("\n".join([lines[0], *[x for x in lines if x.startswith("BH,")]]) + "\n")
    fails(["--run", copy], "strategies.csv lists no reported strategies (buy-and-hold only")
    (copy / "strategies.csv").write_text("expression,market,is_sharpe\ngt(close,open),own,0.1\n")
    fails(["--run", copy], "strategies.csv line 1: the header lacks the column(s) id (it has expression, market, "
                           "is_sharpe)")
    (copy / "strategies.csv").write_text("")
    fails(["--run", copy], "the header lacks the column(s) id, expression (the file is empty)")


@pytest.mark.slow
def test_errors_in_config_toml(run, tmp_path, capsys):
    copy = copy_run(run, tmp_path, "config.toml")
    fails(["--run", copy], f"{copy / 'config.toml'} not found: --run re-scores with the run's own settings")
    (copy / "config.toml").write_text('problem = "trading"\n[problem_options\n')
    fails(["--run", copy], f"{copy / 'config.toml'} cannot be read (", "Copy it again from the run folder.")
    (copy / "config.toml").write_text("problem_options = 3\n")
    fails(["--run", copy], "problem_options is int 3, not a table")
    write_config(copy, **dict(RUN_OPTIONS, data=str(run[1]), cost_bps="ten"))
    fails(["--run", copy], "config.toml [problem_options] cost_bps = 'ten': it must be a number. Fix it there, or "
                           "give --cost-bps to override it.")
    assert cli_json(["--run", copy, "--cost-bps", 1], capsys)[0]["cost_bps"] == 1.0  # the flag wins: bad value unused
    write_config(copy, data=str(run[1]))  # the settings missing: the defaults
    defaults = cli_json(["--run", copy], capsys)
    same(without_id(defaults[0]), cli_json([run[2][0][1], "--data", run[1]], capsys))


@pytest.mark.slow
def test_errors_in_the_data(run, tmp_path, capsys):
    folder, data, reported = run
    fails(["--run", folder, "--data", tmp_path / "missing.csv"], f"data file {tmp_path / 'missing.csv'} does not exist")
    no_rf = write_market(tmp_path / "no_rf.csv", 300, seed=3)
    fails(["--run", folder, "--data", no_rf], 'risk_free = "column" needs an `rf` column', "--risk-free RATE")
    assert cli_json(["--run", folder, "--data", no_rf, "--risk-free", 0], capsys)[0]["risk_free"] == 0.0

    copy = copy_run(run, tmp_path)
    write_config(copy, **dict(RUN_OPTIONS, data=str(tmp_path / "gone.csv")))  # the run's data moved away
    fails(["--run", copy], f"the run's data, '{tmp_path / 'gone.csv'}' ({copy / 'config.toml'} [problem_options] "
                           "data), cannot be used here: data file", "Give --data to re-score on other data.")
    same(cli_json(["--run", copy, "--data", data], capsys), cli_json(["--run", folder], capsys))
    from hpcevo.cli import main

    assert main(["backtest", "--run", str(folder), "--start", "2030-01-01"]) == 2  # in this process: no subprocess
    assert "holds 0 bars of own" in capsys.readouterr().err


def test_reported_strategies_are_read_once_each_in_id_order(tmp_path):
    """One row per id per market; buy-and-hold is no reported strategy; S10 comes after S9, not after S1."""
    from hpcevo.trading.backtest_cli import _read_strategies

    rows = ["id,expression,market"]
    for market in ("AAA", "BBB"):
        rows += [f"BH,buy_and_hold,{market}", f'S10,"gt(close,open)",{market}', f'S2,"lt(rsi(close,14),70)",{market}',
                 f'S1,"gt(sma(close,20),sma(close,100))",{market}']
    (tmp_path / "strategies.csv").write_text("\n".join(rows) + "\n")
    assert _read_strategies(tmp_path, "trading") == [("S1", "gt(sma(close,20),sma(close,100))"),
                                                     ("S2", "lt(rsi(close,14),70)"), ("S10", "gt(close,open)")]
