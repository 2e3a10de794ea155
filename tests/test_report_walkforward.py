"""`python -m hpcevo report WF_DIR` on a walk-forward folder: the stitched equity figure, the per-window table,
the verdict and statistics of summary.json, links to the window folders, errors; the report of an ordinary run
folder keeps no walk-forward section."""

import base64
import csv
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from html import escape
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import pytest
from conftest import hpcevo

from hpcevo.cli import main
from hpcevo.report import walkforward_page

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHROMIUM = Path("/usr/bin/chromium")
TINY = ["--population", 20, "--generations", 4, "--islands", 2, "--migration-interval", 2, "--migrants", 2, "--quiet"]
NASTY = 'gt(close,1) ; lt(rsi(close,14),"<script>alert(1)</script> & co")'


@pytest.fixture(scope="module")
def wf_dir(tmp_path_factory):
    """One small finished walk-forward, shared (tests copy it before changing it)."""
    out = tmp_path_factory.mktemp("wf") / "wf"
    result = hpcevo(["walkforward", *TINY, "--out", out], timeout=300)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def page(wf_dir):
    """The real CLI's report of the shared walk-forward: (html, stdout lines, stderr)."""
    result = hpcevo(["report", wf_dir])
    assert result.returncode == 0, result.stderr
    return (wf_dir / "report" / "report.html").read_text(encoding="utf-8"), result.stdout.splitlines(), result.stderr


def report(args, capsys):
    status = main(["report", *map(str, args)])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def rows_of(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


class _Tables(HTMLParser):
    """The cell texts (unescaped) of every table of a page: [[[cell, ...], ...], ...]; header rows included."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.tables, self._cell = [], None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self.tables[-1][-1].append(self._cell)
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _between(html, start, end):
    return html[html.index(start):html.index(end)]


def _num(text, digits=2):
    value = float(text)
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _pct(text, digits=1):
    value = float(text)
    return "n/a" if math.isnan(value) else f"{100 * value:.{digits}f}%"


def expected_window_rows(path):
    """The per-window table as report.html should show it, computed from walkforward.csv."""
    return [[r["window"], f"{r['train_start']} to {r['train_end']}", f"{r['selection_start']} to {r['selection_end']}",
             f"{r['test_start']} to {r['test_end']}", r["expressions"], _num(r["test_sharpe"]), _num(r["bh_sharpe"]),
             _pct(r["test_total_return"]), _pct(r["bh_total_return"]), _pct(r["test_max_drawdown"]),
             _pct(r["bh_max_drawdown"]), _pct(r["test_exposure"], 0), f"{int(float(r['test_trades'])):,}"]
            for r in rows_of(path)]


def window_table(html):
    (table,) = _Tables(_between(html, 'id="windows"', 'id="window-folders"')).tables
    return table


def test_the_report_reads_the_walkforward_without_the_trading_problem():
    """The report reads walkforward.csv with the layout record.py writes, from hpcevo.walkforward.files, which
    imports nothing of the trading problem (a report reads a copied folder's text files only)."""
    import subprocess
    import sys

    from hpcevo.walkforward import files, record

    assert walkforward_page.COLUMNS is files.COLUMNS and record.COLUMNS is files.COLUMNS
    code = ("import sys, hpcevo.report.walkforward_page; "
            "print(sorted(m for m in sys.modules if m.startswith(('hpcevo.trading', 'hpcevo.runner'))))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


@pytest.mark.slow
def test_page_figure_and_summary(wf_dir, page):
    html, lines, err = page
    summary = json.loads((wf_dir / "summary.json").read_text())
    stats = summary["walkforward"]
    assert err == ""
    assert sorted(p.name for p in (wf_dir / "report").iterdir()) == ["report.html", "walkforward_equity.png"]
    figure = wf_dir / "report" / "walkforward_equity.png"
    data = figure.read_bytes()
    assert data[:8] == PNG_SIGNATURE and matplotlib.image.imread(figure).shape == (480, 1100, 4)
    (uri,) = re.findall(r'<img src="data:image/png;base64,([^"]*)"', html)
    assert base64.b64decode(uri, validate=True) == data  # inline: the page needs no other file
    assert f'<p class="verdict" id="verdict">{escape(stats["verdict"])}</p>' in html
    assert stats["verdict"].startswith(("no evidence that the procedure", "evidence that the procedure has skill"))
    (table,) = _Tables(_between(html, 'id="verdict"', "<figure>")).tables
    assert table == [["statistic", "value"],
                     ["Sharpe of the stitched test periods", f"{stats['oos_sharpe']:.2f}"],
                     ["its 95% CI (bootstrap)",
                      f"[{stats['oos_sharpe_ci_low']:.2f}, {stats['oos_sharpe_ci_high']:.2f}]"],
                     ["buy-and-hold Sharpe", f"{stats['buy_and_hold_sharpe']:.2f}"],
                     ["Sharpe difference (walk-forward - buy and hold), 95% CI",
                      f"[{stats['sharpe_diff_ci_low']:.2f}, {stats['sharpe_diff_ci_high']:.2f}]"],
                     ["SPA p-value (walk-forward vs buy and hold)", f"{stats['spa_pvalue']:.3f}"],
                     ["total return: walk-forward / buy and hold",
                      f"{100 * stats['oos_total_return']:.1f}% / {100 * stats['buy_and_hold_total_return']:.1f}%"],
                     ["max drawdown: walk-forward / buy and hold",
                      f"{100 * stats['oos_max_drawdown']:.1f}% / {100 * stats['buy_and_hold_max_drawdown']:.1f}%"]]
    csv_rows = rows_of(wf_dir / "walkforward.csv")
    assert len(csv_rows) == len(summary["windows"]) == stats["windows"] >= 2
    table = window_table(html)
    assert table[0] == ["window", "training", "selection", "test", "expressions", "test Sharpe", "BH Sharpe",
                        "test total return", "BH total return", "test max drawdown", "BH max drawdown", "test exposure",
                        "test trades"]
    assert table[1:] == expected_window_rows(wf_dir / "walkforward.csv")
    folders = _between(html, 'id="window-folders"', "</ul>")
    assert re.findall(r'<a href="([^"]*)">', folders) == [f"../{w['folder']}/" for w in summary["windows"]]
    assert folders.count("(run complete)") == len(summary["windows"])
    assert html.index('id="walkforward"') < html.index('id="verdict"') < html.index("<figure>") < \
        html.index('id="windows"') < html.index('id="window-folders"')
    assert lines[:3] == [f"verdict: {stats['verdict']}", f"walk-forward: {wf_dir}",
                         f"windows: {len(csv_rows)}, test periods {stats['oos_start']} to {stats['oos_end']}"]
    assert lines[3:3 + len(csv_rows)] == [
        f"  window {r['window']}: test {r['test_start']} to {r['test_end']}  Sharpe {_num(r['test_sharpe'])} (buy "
        f"and hold {_num(r['bh_sharpe'])})  {r['expressions']}" for r in csv_rows]
    assert lines[-2:] == [f"page: {wf_dir / 'report' / 'report.html'}",
                          f"figures in {wf_dir / 'report'}: walkforward_equity.png"]


def _copy(wf_dir, dst):
    shutil.copytree(wf_dir, dst, ignore=shutil.ignore_patterns("report"))
    return dst


@pytest.mark.slow
def test_expressions_are_escaped(wf_dir, tmp_path, capsys):
    """Text from the folder is escaped: an expression with markup in it shows as text, in its own row."""
    copy = _copy(wf_dir, tmp_path / "wf")
    rows = rows_of(copy / "walkforward.csv")
    rows[1]["expressions"] = NASTY
    with open(copy / "walkforward.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    status, lines, err = report([copy, "--out", tmp_path / "figs"], capsys)
    assert (status, err) == (0, "")
    html = (tmp_path / "figs" / "report.html").read_text()
    assert "<script>alert" not in html
    assert f'<td class="expr">{escape(NASTY)}</td>' in html
    assert window_table(html)[2][4] == NASTY
    assert window_table(html)[1:] == expected_window_rows(copy / "walkforward.csv")
    folders = _between(html, 'id="window-folders"', "</ul>")  # links from the --out folder to the windows
    assert re.findall(r'<a href="([^"]*)">', folders)[0] == "../wf/window-01/"
    assert not (copy / "report").exists()


@pytest.mark.slow
def test_ordinary_run_report_has_no_walkforward_section(wf_dir, tmp_path, capsys):
    """A window folder is an ordinary run: its report is the usual one; once it exists the walk-forward page
    links to it too."""
    copy = _copy(wf_dir, tmp_path / "wf")
    status, lines, err = report([copy / "window-01"], capsys)
    assert (status, err) == (0, "")
    html = (copy / "window-01" / "report" / "report.html").read_text()
    assert 'id="walkforward"' not in html and "walkforward_equity" not in html and "walk-forward" not in html
    assert "<h2>overfitting</h2>" in html and "<h2>strategies</h2>" in html
    assert lines[-1].startswith(f"figures in {copy / 'window-01' / 'report'}: fitness.png, migrations.png")
    assert not (copy / "window-01" / "report" / "walkforward_equity.png").exists()
    status, lines, err = report([copy], capsys)
    assert (status, err) == (0, "")
    html = (copy / "report" / "report.html").read_text()
    assert '<a href="../window-01/report/report.html">its report</a>' in html
    assert html.count(">its report</a>") == 1


def _synthetic(folder, windows=2, bars=6):
    """A walk-forward folder written here (summary.json, walkforward.csv, walkforward_returns.csv), for the
    errors, which never get as far as drawing."""
    folder.mkdir()
    (folder / "config.toml").write_text('problem = "trading"\n')
    rows, returns = [], []
    for k in range(1, windows + 1):
        year = 2010 + 2 * k
        rows.append([k, f"{year - 8}-01-04", f"{year - 3}-12-31", f"{year - 2}-01-04", f"{year - 1}-12-31",
                     f"{year}-01-04", f"{year + 1}-12-30", "gt(close,sma(close,50))", *[0.5] * 12])
        returns += [[f"{year}-01-{4 + d:02d}", k, 0.001, 0.002, 0.0] for d in range(bars // windows)]
    for name, header, body in (("walkforward.csv", walkforward_page.COLUMNS, rows),
                               ("walkforward_returns.csv", walkforward_page.RETURN_COLUMNS, returns)):
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([header, *body])
        (folder / name).write_text(text.getvalue())
    stats = {"windows": windows, "verdict": "no evidence", "bars": bars, "oos_start": "2012-01-04",
             "oos_end": f"{2011 + 2 * windows}-12-30"}
    summary = {"command": "walkforward", "walkforward": stats, "status": "complete",
               "windows": [{"window": k, "folder": f"window-{k:02d}"} for k in range(1, windows + 1)]}
    (folder / "summary.json").write_text(json.dumps(summary))
    return folder


def _missing(folder):
    (folder / "walkforward.csv").unlink()


def _cut_mid_line(folder):
    text = (folder / "walkforward.csv").read_text()
    (folder / "walkforward.csv").write_text(text[:text.rindex("\n", 0, -1) + 30])  # the last row half written


def _short_row(folder):
    lines = (folder / "walkforward.csv").read_text().splitlines()
    lines[1] = lines[1].rsplit(",", 4)[0]
    (folder / "walkforward.csv").write_text("\n".join(lines) + "\n")


def _bad_date(folder):
    text = (folder / "walkforward.csv").read_text()
    (folder / "walkforward.csv").write_text(text.replace("2014-01-04", "04/01/2014"))


def _short_returns(folder):
    lines = (folder / "walkforward_returns.csv").read_text().splitlines()
    (folder / "walkforward_returns.csv").write_text("\n".join(lines[:-2]) + "\n")


def _stopped(folder):
    for name in ("summary.json", "walkforward.csv", "walkforward_returns.csv"):
        (folder / name).unlink()
    (folder / "window-01").mkdir()


@pytest.mark.parametrize("damage, message", [
    (_missing, "{wf}/walkforward.csv is missing: `hpcevo walkforward` writes it with summary.json when the last "
               "window is complete. Copy the walk-forward folder again as a whole."),
    (_cut_mid_line, "{wf}/walkforward.csv lists windows [1] where summary.json lists [1, 2]: the file is truncated or "
                    "from another walk-forward. Copy it again from the cluster"),
    (_short_row, "{wf}/walkforward.csv line 2: 16 field(s) where the header has 20. Copy it again"),
    (_bad_date, "{wf}/walkforward.csv: column test_start holds a date that is not YYYY-MM-DD."),
    (_short_returns, "{wf}/walkforward_returns.csv holds 4 day(s) where summary.json counts 6: the file is truncated."),
    (_stopped, "{wf} is a walk-forward folder without summary.json: `hpcevo walkforward` writes it, with "
               "walkforward.csv, once every window is complete. Continue a stopped walk-forward with `python -m "
               "hpcevo walkforward --resume {wf}`"),
])
def test_malformed_walkforward_folder(tmp_path, capsys, damage, message):
    """Exit 2, one paragraph that names the file, nothing written."""
    folder = _synthetic(tmp_path / "wf")
    damage(folder)
    status, lines, err = report([folder], capsys)
    assert (status, lines) == (2, [])
    assert err.startswith("hpcevo: error: ") and message.format(wf=folder) in err and err.count("\n") == 1
    assert not (folder / "report").exists()


def test_without_matplotlib(tmp_path, capsys, monkeypatch):
    """The folder is read first (its errors come before this one), then matplotlib is required, as for a run."""
    folder = _synthetic(tmp_path / "wf")
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` raises ImportError
    status, lines, err = report([folder], capsys)
    assert (status, lines) == (2, [])
    assert err == "hpcevo: error: hpcevo report needs matplotlib: pip install 'hpcevo[plot]'\n"
    assert not (folder / "report").exists()


@pytest.mark.slow
def test_page_in_a_headless_browser(wf_dir, page, tmp_path):
    """Chromium opens the walk-forward's report.html from disk; its figure decodes and the verdict is there."""
    if not CHROMIUM.is_file() or not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("HPCEVO_BROWSER_REQUIRED"):
            pytest.fail(f"HPCEVO_BROWSER_REQUIRED is set but {CHROMIUM} is not installed")
        pytest.skip(f"no headless browser: {CHROMIUM} is not installed (set HPCEVO_BROWSER_REQUIRED to make this "
                    f"a failure)")
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom",
           (wf_dir / "report" / "report.html").resolve().as_uri()]
    dumped = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert dumped.returncode == 0, dumped.stderr
    assert 'data-figures="1/1"' in dumped.stdout, dumped.stdout[-2000:]
    verdict = json.loads((wf_dir / "summary.json").read_text())["walkforward"]["verdict"]
    assert escape(verdict, quote=False) in dumped.stdout
