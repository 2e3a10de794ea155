"""`python -m hpcevo report RUN_DIR`: figures, text summary, equity curves, runs in progress, copied folders, errors."""

import csv
import gzip
import json
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import tomli_w
from conftest import ROOT, hpcevo

from hpcevo.cli import main
from hpcevo.report.equity import equity_curves
from hpcevo.report.rundata import epoch_ends, load_run, migration_generations, migration_matrix, top_strategies

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIME_KEYS = ("evaluation", "variation", "migration", "waiting", "checkpoint", "output")


def _run(tmp, name, args, status=0):
    out = tmp / name
    result = hpcevo(["run", *args, "--population", 24, "--quiet", "--out", out])
    assert result.returncode == status, result.stderr
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Small finished runs shared by the tests (they copy a run before changing it)."""
    tmp = tmp_path_factory.mktemp("runs")
    return {
        "onemax": _run(tmp, "onemax", ["--problem", "onemax", "--islands", 3, "--generations", 25]),
        "zdt1": _run(tmp, "zdt1", ["--problem", "zdt1", "-O", "dimension=5", "--islands", 2, "--generations", 6,
                                   "--migration-interval", 2]),
        # a trading run stopped early (exit 75): strategies.csv is written on a stop too
        "trading": _run(tmp, "trading", ["--problem", "trading", "--islands", 2, "--generations", 4,
                                         "--migration-interval", 1, "--stop-after", 2, "--checkpoint-every", 1],
                        status=75),
    }


def report(args, capsys):
    """`hpcevo report` in this process: (exit status, stdout lines, stderr)."""
    status = main(["report", *map(str, args)])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def copy_run(src, dst):
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("report", "checkpoint.pkl"))
    return dst


def assert_png(path, shape):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.shape == shape
    assert len(np.unique(image.reshape(-1, 4), axis=0)) > 20  # something was drawn


def pngs(folder):
    return sorted(p.name for p in Path(folder).glob("*.png"))


def rows_of(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def expected_lines(run_dir, figure_dir, figures, top=3):
    """The summary lines every report prints, computed here from the run's files."""
    config = tomllib.loads((run_dir / "config.toml").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    hof = json.loads((run_dir / "hall_of_fame.json").read_text())
    logbook = rows_of(run_dir / "logbook.csv")
    evaluations = sum(int(row["nevals"]) for row in logbook)
    assert evaluations == summary["evaluations"]
    wall = summary["wall_seconds"]
    lines = [f"run: {run_dir}",
             f"problem: {config['problem']}, seed 1, {config['islands']} islands x 24, algorithm "
             f"{config['algorithm']}",
             "ranks: 1 in 1 group(s), 1 rank(s) per island",
             f"evaluations: {evaluations:,} ({summary['evaluations_per_second']:,.0f}/s over {wall:.2f} s wall)",
             f"time split (seconds, share of {wall:.2f} s wall; evaluation and variation are summed over islands):"]
    lines += [f"  {key:<11} {summary['seconds'][key]:10.3f} {100 * summary['seconds'][key] / wall:6.1f}%"
              for key in TIME_KEYS]
    seconds = [float(row["seconds"]) for row in rows_of(run_dir / "timings.csv")]
    lines.append(f"epochs: {len(seconds)} (mean {sum(seconds) / len(seconds):.2f} s, longest {max(seconds):.2f} s)")
    for k, entry in enumerate(hof["individuals"][:top], 1):
        text = entry["individual"] if len(entry["individual"]) <= 100 else entry["individual"][:97] + "..."
        lines.append(f"  {k}. {'/'.join(f'{v:.6g}' for v in entry['fitness'])}  island {entry['island']}  {text}")
    lines.append(f"figures in {figure_dir}: {', '.join(figures)}")
    return lines


@pytest.mark.slow
def test_onemax_report_from_the_command_line(runs):
    """The real CLI on a finished single-objective run: two figures, exact summary lines, no notes."""
    run_dir = runs["onemax"]
    result = hpcevo(["report", run_dir])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert pngs(run_dir / "report") == ["fitness.png", "migrations.png"]
    assert_png(run_dir / "report" / "fitness.png", (400, 900, 4))
    assert_png(run_dir / "report" / "migrations.png", (455, 575, 4))
    lines = result.stdout.splitlines()
    expected = expected_lines(run_dir, run_dir / "report", ["fitness.png", "migrations.png"])
    assert [line for line in lines if line in expected] == expected
    assert "status: complete, generation 25 of 25" in lines
    assert "best individuals (hall_of_fame.json, 3 of 10; fitness (max)):" in lines
    assert "penalised evaluations" not in result.stdout  # onemax never fails nor rejects


@pytest.mark.slow
def test_multi_objective_report_has_pareto_front(runs, capsys, tmp_path):
    run_dir = runs["zdt1"]
    status, lines, err = report([run_dir, "--out", tmp_path / "figs", "--top", 2], capsys)
    assert (status, err) == (0, "")
    assert pngs(tmp_path / "figs") == ["fitness.png", "migrations.png", "pareto.png"]
    assert not (run_dir / "report").exists()  # --out was used instead
    assert_png(tmp_path / "figs" / "fitness.png", (720, 900, 4))  # one panel per objective
    assert_png(tmp_path / "figs" / "pareto.png", (460, 520, 4))
    n_hof = len(json.loads((run_dir / "hall_of_fame.json").read_text())["individuals"])
    assert f"best individuals (hall_of_fame.json, 2 of {n_hof}; f1 (min) / f2 (min)):" in lines
    expected = expected_lines(run_dir, tmp_path / "figs", ["fitness.png", "migrations.png", "pareto.png"], top=2)
    assert [line for line in lines if line in expected] == expected


def _distinct_in_selection_order(path, n):
    """(id, in-sample, selection and holdout Sharpe, expression) of the first `n` distinct strategies of
    strategies.csv in selection order; a strategy whose metrics all equal an earlier one's is left out."""
    rows = [row for row in rows_of(path) if row["id"] != "BH"]
    rows.sort(key=lambda row: float(row["selection_rank"]))
    found, seen = [], set()
    for row in rows:
        metrics = tuple(v for k, v in row.items() if k not in ("id", "expression", "size", "selection_rank",
                                                                "significant"))
        if metrics not in seen and row["expression"] not in {f[4] for f in found}:
            seen.add(metrics)
            found.append((row["id"], float(row["is_sharpe"]), float(row["sel_sharpe"]), float(row["oos_sharpe"]),
                          row["expression"]))
    return found[:n]


@pytest.mark.slow
def test_trading_report_of_a_stopped_run(runs, capsys):
    """Stopped with --stop-after: status, top distinct strategies in selection order from strategies.csv,
    equity.png and a tearsheet figure per strategy, report.html."""
    run_dir = runs["trading"]
    status, lines, err = report([run_dir], capsys)
    assert (status, err) == (0, "")
    best = _distinct_in_selection_order(run_dir / "strategies.csv", 3)
    tearsheets = [f"strategy_{sid}.png" for sid, *_ in best]
    assert pngs(run_dir / "report") == sorted(["equity.png", "fitness.png", "migrations.png", "pareto.png",
                                               *tearsheets])
    assert (run_dir / "report" / "report.html").is_file()
    assert_png(run_dir / "report" / "fitness.png", (720, 900, 4))  # two objectives: Sharpe, information ratio
    equity_png = matplotlib.image.imread(run_dir / "report" / "equity.png")
    assert equity_png.shape[1:] == (1100, 4) and equity_png.shape[0] >= 500 + 20 * 4  # and the key of ids
    assert (f"status: stopped at generation 2 of 4 (stop_after = 2 reached); continue with python -m hpcevo run "
            f"--resume {run_dir}") in lines
    start = lines.index("top distinct strategies in selection order (S1 best on the selection period; the holdout "
                        "never chose; market sp500):")
    assert lines[start + 1:start + 4] == [f"  {sid}. in-sample Sharpe {i:.3f}  selection Sharpe {s:.3f}  holdout "
                                          f"Sharpe {o:.3f}  {e}" for sid, i, s, o, e in best]
    rejected = sum(int(row["rejected"]) for row in rows_of(run_dir / "logbook.csv"))
    assert f"penalised evaluations: 0 failed, {rejected:,} rejected" in lines
    assert lines[-1] == (f"figures in {run_dir / 'report'}: fitness.png, migrations.png, pareto.png, equity.png, "
                         f"{', '.join(tearsheets)}")


@pytest.mark.slow
def test_equity_curves_match_strategies_csv_and_backtest(runs):
    """The holdout curve ends at strategies.csv's oos_total_return and at what `hpcevo backtest` reports for the
    holdout period; buy-and-hold too."""
    run = load_run(runs["trading"])
    top = top_strategies(run, 3)
    (panel,) = equity_curves(run.config, [s["expression"] for s in top])
    assert panel.market == "sp500"
    assert panel.in_sample_dates[-1] < panel.holdout_dates[0]
    csv_rows = {row["expression"]: row for row in rows_of(runs["trading"] / "strategies.csv")}
    for curve in [panel.buy_and_hold] + panel.strategies:
        row = csv_rows["buy_and_hold" if curve is panel.buy_and_hold else curve.label]
        assert curve.holdout[-1] - 1 == pytest.approx(float(row["oos_total_return"]), rel=1e-12, abs=1e-15)
        assert curve.holdout.shape == (int(row["oos_bars"]),) == panel.holdout_dates.shape
    for curve, s in zip(panel.strategies, top):
        assert curve.holdout_metrics["sharpe"] == pytest.approx(s["oos_sharpe"], rel=1e-12)
    first = panel.strategies[0]
    backtest = hpcevo(["backtest", first.label, "--start", panel.holdout_dates[0]])
    assert backtest.returncode == 0, backtest.stderr
    printed = json.loads(backtest.stdout)
    assert printed["start"] == str(panel.holdout_dates[0]) and printed["end"] == str(panel.holdout_dates[-1])
    assert first.holdout[-1] - 1 == pytest.approx(printed["total_return"], rel=1e-12, abs=1e-15)
    assert panel.buy_and_hold.holdout[-1] - 1 == pytest.approx(printed["buy_and_hold"]["total_return"], rel=1e-12)


def test_trading_run_in_progress_copied_elsewhere(runs, capsys, tmp_path):
    """What a running trading run holds (status running, no strategies.csv yet), copied without its checkpoint:
    top strategies come from hall_of_fame.json, holdout Sharpe from the recomputed backtest."""
    run_dir = copy_run(runs["trading"], tmp_path / "laptop" / "copy")
    summary = json.loads((run_dir / "summary.json").read_text())
    summary["status"] = "running"
    (run_dir / "summary.json").write_text(json.dumps(summary))
    for name in ("strategies.csv", "returns.csv", "trades.csv"):  # written when a run ends or is stopped
        (run_dir / name).unlink()
    status, lines, err = report([run_dir, "--top", 2], capsys)
    assert status == 0
    assert err == ("hpcevo: note: strategies.csv is missing: the trading problem writes it when a run ends or is "
                   "stopped; the top strategies come from hall_of_fame.json.\n")
    assert "status: running, generation 2 of 4 so far (results as of its last checkpoint)" in lines
    assert pngs(run_dir / "report") == ["equity.png", "fitness.png", "migrations.png", "pareto.png"]
    hof = json.loads((run_dir / "hall_of_fame.json").read_text())["individuals"]
    distinct = {}  # one per expression, and per fitness (expressions that trade alike)
    for e in sorted(hof, key=lambda e: (-e["fitness"][0], e["individual"])):
        distinct.setdefault(tuple(e["fitness"]), e["individual"])
    best = sorted({(f[0], i) for f, i in distinct.items()}, key=lambda t: (-t[0], t[1]))[:2]
    config = tomllib.loads((run_dir / "config.toml").read_text())
    (panel,) = equity_curves(config, [e for _, e in best])  # the holdout Sharpe of the problem's own backtest
    oos = {curve.label: curve.holdout_metrics["sharpe"] for curve in panel.strategies}
    start = lines.index("top strategies by in-sample Sharpe (means over the instruments; the holdout never chose):")
    assert lines[start + 1:start + 3] == [f"  {k}. in-sample Sharpe {i:.3f}  holdout Sharpe {oos[e]:.3f}  {e}"
                                          for k, (i, e) in enumerate(best, 1)]


@pytest.mark.slow
def test_custom_data_missing_then_given_with_data_flag(runs, capsys, tmp_path):
    run_dir = copy_run(runs["trading"], tmp_path / "custom")
    config = tomllib.loads((run_dir / "config.toml").read_text())
    config["problem_options"]["data"] = "/cluster/scratch/prices.csv"
    (run_dir / "config.toml").write_text(tomli_w.dumps(config))
    status, lines, err = report([run_dir], capsys)  # a finished run: its curves come from returns.csv
    assert (status, err) == (0, "")
    assert "equity.png" in pngs(run_dir / "report")
    shutil.rmtree(run_dir / "report")
    for name in ("strategies.csv", "returns.csv", "trades.csv"):  # a run in progress: curves recomputed
        (run_dir / name).unlink()
    missing = ("hpcevo: note: strategies.csv is missing: the trading problem writes it when a run ends or is "
               "stopped; the top strategies come from hall_of_fame.json.\n")
    status, lines, err = report([run_dir], capsys)
    assert status == 0
    assert err == missing + ("hpcevo: note: equity.png skipped: the market data /cluster/scratch/prices.csv is not "
                             "on this machine; point at a copy with --data FILE.\n")
    assert pngs(run_dir / "report") == ["fitness.png", "migrations.png", "pareto.png"]
    prices = tmp_path / "prices.csv"
    prices.write_bytes(gzip.decompress((ROOT / "hpcevo" / "data" / "sp500.csv.gz").read_bytes()))
    status, lines, err = report([run_dir, "--data", prices], capsys)
    assert (status, err) == (0, missing)
    assert pngs(run_dir / "report") == ["equity.png", "fitness.png", "migrations.png", "pareto.png"]
    status, lines, err = report([run_dir, "--data", tmp_path / "nope.csv"], capsys)
    assert (status, lines) == (2, [])
    assert err == (f"hpcevo: error: --data {tmp_path / 'nope.csv'}: no such file. Give a copy of the market data the "
                   f"run used (a CSV or Parquet file), or sp500 | nasdaq | sp500+nasdaq.\n")


@pytest.mark.slow
def test_report_on_a_live_run_then_stopped(tmp_path, capsys):
    """A run still going (results rewritten after every checkpoint): the report reads it as it is."""
    run_dir = tmp_path / "live"
    cmd = [sys.executable, "-m", "hpcevo", "run", "--problem", "onemax", "--islands", 2, "--population", 16,
           "--generations", 100000, "--migration-interval", 2, "--checkpoint-every", 1, "--quiet", "--out", run_dir]
    proc = subprocess.Popen(list(map(str, cmd)), cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (run_dir / "summary.json").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "no results written by the live run"
            time.sleep(0.1)
        code, lines, err = report([run_dir], capsys)
        assert code == 0, err
        status = next(line for line in lines if line.startswith("status: "))
        generation = int(status.split()[3])
        assert status == f"status: running, generation {generation} of 100000 so far (results as of its last " \
                         f"checkpoint)"
        assert pngs(run_dir / "report") == ["fitness.png", "migrations.png"]
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 75, stderr
    code, lines, err = report([run_dir], capsys)
    assert (code, err) == (0, "")
    assert any(line.startswith("status: stopped at generation ") for line in lines)


def test_copied_folder_and_relative_paths(runs, capsys, tmp_path, monkeypatch):
    """Only the folder's text files are needed: a copy without checkpoint.pkl, reported from another directory
    with relative paths."""
    copy_run(runs["onemax"], tmp_path / "elsewhere" / "run")
    monkeypatch.chdir(tmp_path / "elsewhere")
    status, lines, err = report(["run", "--out", "figs"], capsys)
    assert (status, err) == (0, "")
    assert pngs(tmp_path / "elsewhere" / "figs") == ["fitness.png", "migrations.png"]
    assert lines[0] == "run: run"
    assert lines[-1] == "figures in figs: fitness.png, migrations.png"


@pytest.mark.parametrize("missing, figures", [
    (("summary.json", "timings.csv"), ["fitness.png", "migrations.png", "pareto.png"]),
    (("migrations.csv",), ["fitness.png", "pareto.png"]),
    (("hall_of_fame.json",), ["fitness.png", "migrations.png"]),
])
def test_missing_optional_files_are_named(runs, capsys, tmp_path, missing, figures):
    run_dir = copy_run(runs["zdt1"], tmp_path / "r")
    for name in missing:
        (run_dir / name).unlink()
    status, lines, err = report([run_dir], capsys)
    assert status == 0
    assert [line.split(": ")[:3] for line in err.splitlines()] == [["hpcevo", "note", f"{name} is missing"]
                                                                   for name in missing]
    assert pngs(run_dir / "report") == figures
    if "summary.json" in missing:
        assert "status: unknown (no summary.json); the logbook reaches generation 6 of 6" in lines
        assert not any(line.startswith(("time split", "ranks:", "epochs:")) for line in lines)


def test_epoch_ends_and_migration_generations():
    """Epochs are chunks of migration_interval generations; the last may be shorter; a run extended after it
    completed off a chunk boundary starts its chunks again there."""
    assert epoch_ends(10, 25) == [10, 20, 25]
    assert epoch_ends(10, 30) == [10, 20, 30]
    assert epoch_ends(1, 3) == [1, 2, 3]
    assert epoch_ends(5, 10) == [5, 10]  # a run in progress (or stopped) at generation 10 of more
    assert epoch_ends(10, 45) == [10, 20, 30, 40, 45]
    assert epoch_ends(10, 9) == [9]
    assert migration_generations([0, 0, 1, 1], [10, 20, 25]) == [10, 20]
    assert migration_generations([0, 1, 2], [10, 20, 30, 40]) == [10, 20, 30]
    assert migration_generations([5], [10, 20]) == []  # files of a later checkpoint than the logbook
    with pytest.raises(ValueError):
        epoch_ends(0, 10)


@pytest.mark.slow
def test_extended_run_marks_its_real_migrations(runs, tmp_path):
    """A real run of 25 generations (interval 10) extended to 40 finishes the epoch it ended in: migrations
    after epochs 0, 1 and 2, at generations 10, 20 and 30, as in an uninterrupted 40-generation run; the two
    parts of epoch 2 count as one epoch's time."""
    run_dir = tmp_path / "extended"
    shutil.copytree(runs["onemax"], run_dir, ignore=shutil.ignore_patterns("report"))
    extended = hpcevo(["run", "--resume", run_dir, "--generations", 40, "--quiet"])
    assert extended.returncode == 0, extended.stderr
    run = load_run(run_dir)
    assert sorted({row["epoch"] for row in run.migrations}) == [0, 1, 2]
    ends = epoch_ends(10, run.generation)
    assert len(ends) == len(run.timings) == 4
    assert migration_generations([row["epoch"] for row in run.migrations], ends) == [10, 20, 30]
    assert (run_dir / "timings.csv").read_text().count("\n2,") == 2


def test_migration_matrix(runs):
    rows = [{"src": 0, "dst": 1, "count": 5}, {"src": 2, "dst": 0, "count": 3}, {"src": 0, "dst": 1, "count": 2}]
    assert migration_matrix(rows, 3).tolist() == [[0, 7, 0], [0, 0, 0], [3, 0, 0]]
    run = load_run(runs["onemax"])
    matrix = migration_matrix(run.migrations, 3)
    assert matrix.sum() == sum(int(row["count"]) for row in rows_of(runs["onemax"] / "migrations.csv"))
    assert matrix.tolist() == [[0, 10, 0], [0, 0, 10], [10, 0, 0]]  # a ring, 2 migrations of 5


def _truncate_logbook(run_dir):
    lines = (run_dir / "logbook.csv").read_text().splitlines()
    lines[4] = lines[4].rsplit(",", 5)[0]
    (run_dir / "logbook.csv").write_text("\n".join(lines) + "\n")


def _letters_in_logbook(run_dir):
    text = (run_dir / "logbook.csv").read_text().splitlines()
    text[2] = "0,2,x" + text[2][text[2].index(",", 4):]
    (run_dir / "logbook.csv").write_text("\n".join(text) + "\n")


def _broken_json(run_dir):
    (run_dir / "hall_of_fame.json").write_text('{\n "weights": [1.0],\n "individuals": [\n')


def _config_only(run_dir):
    (run_dir / "logbook.csv").unlink()


@pytest.mark.parametrize("damage, message", [
    (_truncate_logbook, "logbook.csv line 5: 4 field(s) where the header has 9. Copy it again from the cluster"),
    (_letters_in_logbook, "logbook.csv line 3: column nevals holds 'x', not an integer."),
    (_broken_json, "hall_of_fame.json line 4: not valid JSON (Expecting value, column 1)."),
    (_config_only, "has a config.toml but no logbook.csv yet: a run writes its results after its first checkpoint"),
])
def test_malformed_run_folder(runs, capsys, tmp_path, damage, message):
    run_dir = copy_run(runs["onemax"], tmp_path / "r")
    damage(run_dir)
    status, lines, err = report([run_dir], capsys)
    assert (status, lines) == (2, [])
    assert err.startswith(f"hpcevo: error: {run_dir}") and message in err and err.count("\n") == 1
    assert not (run_dir / "report").exists()


@pytest.mark.slow
def test_hall_of_fame_positions_old_key_rank_still_read(tmp_path, capsys):
    """hall_of_fame.json numbers its entries by "position" (0 = best); a folder written before the rename says
    "rank" there, and reads the same."""
    run_dir = _run(tmp_path, "new", ["--problem", "onemax", "-O", "length=12", "--islands", 2, "--generations", 4])
    hof = json.loads((run_dir / "hall_of_fame.json").read_text())
    entries = hof["individuals"]
    assert entries and [e["position"] for e in entries] == list(range(len(entries)))
    assert all("rank" not in e for e in entries)
    _, new_lines, _ = report([run_dir, "--out", tmp_path / "figs"], capsys)
    old_dir = copy_run(run_dir, tmp_path / "old")
    old = {**hof, "individuals": [{"rank": e["position"], **{k: v for k, v in e.items() if k != "position"}}
                                  for e in entries]}
    (old_dir / "hall_of_fame.json").write_text(json.dumps(old, indent=1) + "\n")
    assert load_run(old_dir).hall_of_fame == load_run(run_dir).hall_of_fame
    status, old_lines, err = report([old_dir, "--out", tmp_path / "figs"], capsys)
    assert (status, err) == (0, "")
    assert old_lines == [line.replace(str(run_dir), str(old_dir)) for line in new_lines]


def test_partly_written_last_line_is_left_out(runs, capsys, tmp_path):
    """A run in progress may be appending to its CSV logs: a last line without its newline is skipped."""
    run_dir = copy_run(runs["onemax"], tmp_path / "r")
    evaluations = sum(int(row["nevals"]) for row in rows_of(run_dir / "logbook.csv"))
    with open(run_dir / "logbook.csv", "a") as fh:
        fh.write("0,26,24,80.0,9")
    status, lines, err = report([run_dir], capsys)
    assert status == 0
    assert err == ("hpcevo: note: logbook.csv ends in a partly written line (a run in progress appends to it); that "
                   "line was left out.\n")
    assert any(line.startswith(f"evaluations: {evaluations:,} (") for line in lines)


@pytest.mark.slow
def test_errors_from_the_command_line(tmp_path):
    """Exit 2, one paragraph on stderr, no traceback: a missing folder, a folder that is not a run, no
    matplotlib, a bad --top."""
    missing = hpcevo(["report", tmp_path / "nope"])
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr == (f"hpcevo: error: run folder {tmp_path / 'nope'} does not exist. Give the folder a run "
                              f"wrote (--out of `hpcevo run`, e.g. runs/trading-20250101-120000), copied from the "
                              f"cluster as a whole.\n")
    (tmp_path / "notes.txt").write_text("not a run")
    other = hpcevo(["report", tmp_path])
    assert other.returncode == 2
    assert other.stderr.startswith(f"hpcevo: error: {tmp_path} is not an hpcevo run folder: it lacks config.toml "
                                   f"and logbook.csv. A run folder holds config.toml, logbook.csv, migrations.csv")
    bad_top = hpcevo(["report", tmp_path, "--top", 0])
    assert bad_top.returncode == 2
    assert bad_top.stderr.startswith("hpcevo: error: argument --top: expected an integer >= 1, got '0'")
    for result in (missing, other, bad_top):
        assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


@pytest.mark.slow
def test_without_matplotlib(runs, tmp_path):
    """A matplotlib that cannot be imported (shadowed here) is a user error naming the extra."""
    shadow = tmp_path / "shadow" / "matplotlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named matplotlib')\n")
    result = hpcevo(["report", runs["onemax"], "--out", tmp_path / "figs"],
                    env={"PYTHONPATH": f"{shadow.parent}:{ROOT}"})
    assert result.returncode == 2
    assert result.stderr == "hpcevo: error: hpcevo report needs matplotlib: pip install 'hpcevo[plot]'\n"
    assert not (tmp_path / "figs").exists()
