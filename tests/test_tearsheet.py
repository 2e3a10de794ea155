"""report.html and the strategy tearsheets of `hpcevo report`, on a trading run folder built here by hand in the
layout the trading problem writes (strategies.csv with ids, returns.csv, trades.csv, summary.json's trading and
overfitting objects), and in a real headless browser."""

import base64
import contextlib
import csv
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from hpcevo.cli import main
from hpcevo.report import figures
from hpcevo.report.rundata import load_run, reported_strategies, top_strategies
from hpcevo.report.tearsheet import drawdown, equity, trade_statistics, yearly_returns

pytestmark = pytest.mark.slow  # real runs, their reports and a headless browser

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHROMIUM = Path("/usr/bin/chromium")
METRICS = ("total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown", "win_rate", "trades", "exposure",
           "turnover", "excess_return", "information_ratio", "beta", "bars")
VERDICT = "Likely overfit: PBO 0.41 & SPA p = 0.32 > 0.05; no strategy beats buy & hold <reliably>."
EXPRESSIONS = {"S1": "gt(sma(close,5),sma(close,50))", "S2": "lt(rsi(close,14),30)",
               "S3": "lt(sma(close,50),sma(close,5))",  # S1 written the other way round: identical metrics
               "S4": "and(gt(close,ema(close,200)),gt(roc(close,20),0))"}
PERIODS = {"train": ("2014-01-02", "2017-06-30"), "selection": ("2017-07-03", "2018-06-29"),
           "holdout": ("2018-07-02", "2019-12-31")}
SHORT = {"train": "is", "selection": "sel", "holdout": "oos"}


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows([[repr(v) if isinstance(v, float) else v for v in row] for row in rows])


def _metrics(r, bh, positions):
    e = np.cumprod(1 + r)
    dd = float(-(e / np.maximum.accumulate(e) - 1).min())
    sd, excess = r.std(), r - bh
    years = r.size / 252
    total = float(e[-1] - 1)
    return {"total_return": total, "cagr": float((1 + total) ** (1 / years) - 1),
            "sharpe": float(r.mean() / sd * np.sqrt(252)) if sd > 0 else float("nan"),
            "sortino": float(r.mean() / r[r < 0].std() * np.sqrt(252)) if (r < 0).sum() > 1 else float("inf"),
            "calmar": float((1 + total) ** (1 / years) - 1) / dd if dd > 0 else float("inf"), "max_drawdown": dd,
            "win_rate": float((r[positions > 0] > 0).mean()) if positions.any() else float("nan"),
            "trades": float(np.count_nonzero(np.diff(positions) > 0)), "exposure": float(positions.mean()),
            "turnover": float(np.abs(np.diff(positions)).sum() / years),
            "excess_return": float(np.prod(1 + r) - np.prod(1 + bh)),
            "information_ratio": float(excess.mean() / excess.std() * np.sqrt(252)) if excess.std() > 0
            else float("nan"),
            "beta": float(np.cov(r, bh)[0, 1] / bh.var()), "bars": float(r.size)}


def _trades(sid, market, dates, periods, prices, positions, r):
    """One trade per run of held bars (long only), as the trading problem lists them."""
    rows, t, n = [], 0, positions.size
    while t < n:
        if positions[t] == 0:
            t += 1
            continue
        end = t
        while end + 1 < n and positions[end + 1]:
            end += 1
        rows.append([sid, EXPRESSIONS[sid], market, "long", str(dates[t]), str(dates[end]), float(prices[t - 1]),
                     float(prices[end]), end - t + 1, float(np.prod(1 + r[t:end + 1]) - 1),
                     "True" if end == n - 1 else "False", periods[t]])
        t = end + 1
    return rows


def make_trading_run(folder, islands=4, generations=6, seed=3, backtest=True):
    """A finished trading run folder (two instruments and their portfolio) with every file the report reads
    (without `backtest`: the search's files only)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    config = {"problem": "trading", "islands": islands, "population": 16, "generations": generations,
              "migration_interval": 2, "migrants": 2, "topology": "ring", "algorithm": "nsga2", "seed": seed,
              "problem_options": {"data": "sp500+nasdaq", "cost_bps": 5.0}}
    (folder / "config.toml").write_text(tomli_w.dumps(config))
    log = []
    for island in range(islands):
        for gen in range(generations + 1):
            best = 0.3 + 0.05 * gen + 0.02 * island
            log.append([island, gen, 16, best - 1.0, best, best - 0.4, 0.2, best - 1.2, best - 0.1, best - 0.6, 0.25,
                        0, int(rng.integers(0, 3))])
    _write_csv(folder / "logbook.csv", ["island", "gen", "nevals", "min_0", "max_0", "avg_0", "std_0", "min_1",
                                        "max_1", "avg_1", "std_1", "failures", "rejected"], log)
    _write_csv(folder / "migrations.csv", ["epoch", "src", "dst", "count", "best_fitness"],
               [[e, i, (i + 1) % islands, 2, "0.5;0.2"] for e in range(generations // 2) for i in range(islands)])
    _write_csv(folder / "timings.csv", ["epoch", "seconds"], [[e, 0.5 + 0.1 * e] for e in range(generations // 2)])
    hof = [{"rank": k, "island": k % islands, "fitness": [0.9 - 0.1 * k, 0.1 + 0.05 * k],
            "individual": EXPRESSIONS[f"S{k % 4 + 1}"] + ("" if k < 4 else f" #{k}")} for k in range(6)]
    (folder / "hall_of_fame.json").write_text(json.dumps({"weights": [1.0, 1.0], "individuals": hof}))
    if not backtest:
        return folder

    dates = np.arange(np.datetime64(PERIODS["train"][0]), np.datetime64("2020-01-01"))
    dates = dates[np.is_busday(dates)]
    periods = np.where(dates <= np.datetime64(PERIODS["train"][1]), "train",
                       np.where(dates <= np.datetime64(PERIODS["selection"][1]), "selection", "holdout"))
    markets = {"sp500": (0.0004, 0.010), "nasdaq": (0.0005, 0.014)}
    series, stats, trade_rows = {}, {}, []
    for market, (mu, sigma) in markets.items():
        bh = rng.normal(mu, sigma, dates.size)
        prices = 100 * np.cumprod(1 + bh)
        fast = np.convolve(prices, np.ones(5) / 5)[:dates.size]
        slow = np.convolve(prices, np.ones(50) / 50)[:dates.size]
        held = {"S1": (fast > slow).astype(float), "S2": (rng.random(dates.size) < 0.35).astype(float),
                "S4": (np.roll(bh, 1) > 0).astype(float)}
        held["S3"] = held["S1"]
        held = {sid: np.concatenate([[0.0], p[:-1]]) for sid, p in held.items()}  # decided on the day before
        out = {"BH": bh}
        for sid in EXPRESSIONS:
            cost = 0.0005 * np.abs(np.diff(held[sid], prepend=0.0))
            out[sid] = held[sid] * bh - cost
            trade_rows += _trades(sid, market, dates, periods, prices, held[sid], out[sid])
        series[market] = out
        stats[market] = {sid: {**held, "BH": np.ones(dates.size)}[sid] for sid in out}
    series["portfolio"] = {sid: np.mean([series[m][sid] for m in markets], axis=0) for sid in series["sp500"]}
    stats["portfolio"] = {sid: np.mean([stats[m][sid] for m in markets], axis=0) for sid in series["sp500"]}

    ids = ["BH", *EXPRESSIONS]
    rows = []
    for market in [*markets, "portfolio"]:
        for k, sid in enumerate(ids):
            r = series[market][sid]
            row = [sid, EXPRESSIONS.get(sid, "buy_and_hold"), market, 0 if sid == "BH" else 5 + 2 * k,
                   float(k), "True" if sid == "S1" else "False"]
            for period in ("train", "selection", "holdout"):
                row += list(PERIODS[period])
            for period in SHORT:
                mask = periods == period
                values = _metrics(r[mask], series[market]["BH"][mask], stats[market][sid][mask])
                if sid == "S2" and period == "train":
                    values["sharpe"] = 9.0  # the best in-sample: top_strategies must not re-rank by it
                row += [values[m] for m in METRICS]
            sharpe = row[6 + 6 + 2 * len(METRICS) + 2]
            row += [0.93 - 0.1 * k, 0.96 if sid == "S1" else 0.5 - 0.05 * k, float(200 + 10 * k),
                    sharpe - 1.1, sharpe + 1.1, -0.9 - 0.1 * k, 0.7]
            if sid == "S3":  # identical metrics to S1 (gt(a,b) and lt(b,a) trade alike)
                row[6:] = next(r for r in rows if r[0] == "S1" and r[2] == market)[6:]
            rows.append(row)
    header = ["id", "expression", "market", "size", "selection_rank", "significant", "is_start", "is_end",
              "sel_start", "sel_end", "oos_start", "oos_end"]
    header += [f"{short}_{m}" for short in SHORT.values() for m in METRICS]
    header += ["psr", "dsr", "min_trl", "oos_sharpe_ci_low", "oos_sharpe_ci_high", "oos_excess_sharpe_ci_low",
               "oos_excess_sharpe_ci_high"]
    for row in rows:
        if row[0] == "BH":  # against itself; not one of the trials
            row[header.index("oos_information_ratio")] = row[header.index("dsr")] = float("nan")
    _write_csv(folder / "strategies.csv", header, rows)
    _write_csv(folder / "returns.csv", ["date", "market", "period", *ids],
               [[str(d), market, p, *(float(series[market][sid][t]) for sid in ids)]
                for market in [*markets, "portfolio"] for t, (d, p) in enumerate(zip(dates, periods))])
    _write_csv(folder / "trades.csv", ["id", "expression", "market", "direction", "entry_date", "exit_date",
                                       "entry_price", "exit_price", "bars", "return", "open", "period"], trade_rows)
    summary = {"problem": "trading", "seed": seed, "status": "complete", "generation": generations,
               "generations": generations, "islands": islands, "ranks": islands, "groups": 1, "ranks_per_island": 1,
               "evaluations": sum(row[2] for row in log), "wall_seconds": 12.5, "evaluations_per_second": 40.0,
               "seconds": {"evaluation": 30.0, "variation": 4.0, "migration": 1.0, "waiting": 0.5,
                           "checkpoint": 0.3, "output": 0.2},
               "trading": {"objectives": ["sharpe", "information_ratio"], "markets": list(markets),
                           "periods": {"train_start": PERIODS["train"][0], "train_end": PERIODS["train"][1],
                                       "selection_start": PERIODS["selection"][0],
                                       "selection_end": PERIODS["selection"][1],
                                       "oos_start": PERIODS["holdout"][0], "oos_end": PERIODS["holdout"][1]},
                           "folds": [["2014-01-02", "2015-03-31"], ["2015-04-01", "2016-06-30"],
                                     ["2016-07-01", "2017-06-30"]]},
               "overfitting": {"trials": 96, "effective_trials": 31, "pbo": 0.41, "spa_pvalue": 0.32,
                               "verdict": VERDICT, "best_dsr": 0.96, "significant": 1, "dsr_threshold": 0.95,
                               "candidates": 4}}
    (folder / "summary.json").write_text(json.dumps(summary, indent=1))
    return folder


@pytest.fixture(scope="module")
def trading_run(tmp_path_factory):
    return make_trading_run(tmp_path_factory.mktemp("tearsheet") / "run")


def report(args, capsys):
    status = main(["report", *map(str, args)])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


@pytest.fixture(scope="module")
def page(trading_run, tmp_path_factory):
    """The report of the hand-built run: (figure folder, report.html text, stdout lines, stderr)."""
    out = tmp_path_factory.mktemp("figs")
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        status = main(["report", str(trading_run), "--out", str(out), "--top", "3"])
    assert status == 0
    return out, (out / "report.html").read_text(encoding="utf-8"), stdout.getvalue().splitlines(), stderr.getvalue()


def _images(html):
    return re.findall(r"<img\b[^>]*>", html)


def test_top_strategies_in_selection_order_and_distinct(trading_run):
    """S1, S2, S4: selection order (S2's in-sample Sharpe is the highest, it stays second), S3 (identical
    metrics to S1) left out."""
    run = load_run(trading_run)
    assert run.objective_name(0) == "Sharpe" and run.objective_name(1) == "information ratio"
    top = top_strategies(run, 3)
    assert [s["id"] for s in top] == ["S1", "S2", "S4"]
    assert [s["expression"] for s in top] == [EXPRESSIONS[i] for i in ("S1", "S2", "S4")]
    assert all(s["row"]["market"] == "portfolio" for s in top)
    assert top[1]["is_sharpe"] == 9.0
    assert [s["id"] for s in top_strategies(run, 10)] == ["S1", "S2", "S4"]
    reported = reported_strategies(run)
    assert [(s["id"], s["duplicate_of"]) for s in reported] == [("BH", None), ("S1", None), ("S2", None),
                                                               ("S3", "S1"), ("S4", None)]


def test_page_is_self_contained(page):
    out, html, lines, err = page
    assert err == ""
    assert sorted(p.name for p in out.glob("*.png")) == ["equity.png", "fitness.png", "migrations.png", "pareto.png",
                                                         "strategy_S1.png", "strategy_S2.png", "strategy_S4.png"]
    assert "<script src" not in html and "<link" not in html and "url(" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|file:|//|[\w./-]+\.png)""", html)
    images = _images(html)
    assert len(images) == 7  # 3 tearsheets, then equity, fitness, migrations, pareto
    for tag in images:
        (uri,) = re.findall(r'src="([^"]*)"', tag)
        assert uri.startswith("data:image/png;base64,")
        data = base64.b64decode(uri.split(",", 1)[1], validate=True)
        assert data[:8] == PNG_SIGNATURE and len(data) > 10_000


def test_page_contents_in_order(page, trading_run):
    out, html, lines, err = page
    assert VERDICT not in html  # escaped
    escaped = ("Likely overfit: PBO 0.41 &amp; SPA p = 0.32 &gt; 0.05; no strategy beats buy &amp; hold "
               "&lt;reliably&gt;.")
    assert escaped in html
    for sid in ("BH", "S1", "S2", "S3", "S4"):
        assert f">{sid}<" in html
    for expression in EXPRESSIONS.values():
        assert expression in html
    positions = [html.index(text) for text in ("<h1>", "seed", "sp500+nasdaq", escaped, "effective trials",
                                               "PBO (probability", "SPA p-value", "<h2>strategies</h2>", 'id="S1"',
                                               'id="S2"', 'id="S4"', "<h2>the search</h2>")]
    assert positions == sorted(positions)
    assert 'id="S3"' not in html  # the duplicate gets no section of its own
    assert "(same as S1)" in html
    table = html[html.index("<h2>strategies</h2>"):html.index('id="S1"')]
    assert table.index(">BH<") < table.index(">S1<") < table.index(">S2<") < table.index(">S3<")
    assert "holdout Sharpe 95% CI" in table and "DSR" in table and "n/a" in table  # BH's nan
    assert html.count("period of entry") == 3  # a trade statistics table per strategy section
    assert "training" in html and "selection" in html and "holdout" in html
    assert "top distinct strategies in selection order (S1 best on the selection period; the holdout never chose; " \
           "the portfolio):" in lines
    assert any(line.startswith("  S2. in-sample Sharpe 9.000  selection Sharpe ") for line in lines)
    assert lines[0] == f"verdict: {VERDICT}"  # the first line: what a quant reads first
    assert f"page: {out / 'report.html'}" in lines


def test_trade_statistics_match_trades_csv(trading_run):
    run = load_run(trading_run)
    with open(trading_run / "trades.csv", newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if row["id"] == "S1"]
    stats = {row["period"]: row for row in trade_statistics(run.trades, "S1")}
    assert stats["all"]["trades"] == len(rows) == sum(stats[p]["trades"] for p in ("train", "selection", "holdout"))
    holdout = [float(row["return"]) for row in rows if row["period"] == "holdout"]
    assert stats["holdout"]["mean"] == pytest.approx(np.mean(holdout))
    assert stats["holdout"]["win_rate"] == pytest.approx(np.mean(np.array(holdout) > 0))
    assert stats["all"]["longest"] == max(int(row["bars"]) for row in rows)
    assert stats["all"]["open"] == sum(row["open"] == "True" for row in rows)


def test_equity_drawdown_and_years():
    r = np.array([0.1, -0.5, 1.0, float("nan"), 0.0])
    assert equity(r).tolist() == pytest.approx([1.1, 0.55, 1.1, 1.1, 1.1])
    assert drawdown(equity(r)).tolist() == pytest.approx([0.0, -0.5, 0.0, 0.0, 0.0])
    dates = np.array(["2019-12-30", "2019-12-31", "2020-01-02", "2020-01-03", "2020-01-06"], dtype="datetime64[D]")
    years, yearly = yearly_returns(dates, r)
    assert years.tolist() == [2019, 2020] and yearly.tolist() == pytest.approx([0.1 * 1 - 0.5 * 1.1 + 0.0, 1.0])


def test_missing_returns_and_trades_give_notes(trading_run, tmp_path, capsys):
    run_dir = tmp_path / "run"
    shutil.copytree(trading_run, run_dir, ignore=shutil.ignore_patterns("report"))
    (run_dir / "returns.csv").unlink()
    (run_dir / "trades.csv").unlink()
    status, lines, err = report([run_dir], capsys)
    assert status == 0
    assert "hpcevo: note: returns.csv is missing" in err and "hpcevo: note: trades.csv is missing" in err
    html = (run_dir / "report" / "report.html").read_text()
    assert "returns.csv is missing" in html and "trades.csv is missing: no trade statistics." in html
    assert 'id="S1"' in html and 'id="S4"' in html
    assert sorted(p.name for p in (run_dir / "report").glob("*.png")) == ["fitness.png", "migrations.png",
                                                                        "pareto.png"]


def test_fitness_figure_with_many_islands(tmp_path):
    """64 islands (one of them missing its last generations): median, best and band, no per-island lines."""
    run_dir = make_trading_run(tmp_path / "run", islands=64, generations=4, backtest=False)
    lines = (run_dir / "logbook.csv").read_text().splitlines()
    (run_dir / "logbook.csv").write_text("\n".join(lines[:-2]) + "\n")  # island 63 stops at generation 2
    run = load_run(run_dir)
    path = figures.fitness_figure(run, [2, 4], tmp_path / "fitness.png")
    assert path.read_bytes()[:8] == PNG_SIGNATURE


def _browser(args, tmp_path):
    profile = tmp_path / "profile"
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60)


def test_page_in_a_headless_browser(page, tmp_path):
    """Chromium opens report.html from disk and every figure decodes (the page's script counts them)."""
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("HPCEVO_BROWSER_REQUIRED"):
            pytest.fail(f"HPCEVO_BROWSER_REQUIRED is set but {CHROMIUM} is not installed")
        pytest.skip(f"no headless browser: {CHROMIUM} is not installed (set HPCEVO_BROWSER_REQUIRED to make this "
                    f"a failure)")
    out, html, _, _ = page
    total = len(_images(html))
    url = (out / "report.html").resolve().as_uri()
    dumped = _browser(["--dump-dom", url], tmp_path)
    assert dumped.returncode == 0, dumped.stderr
    assert f'data-figures="{total}/{total}"' in dumped.stdout, dumped.stdout[-2000:]
