"""`hpcevo report WF_DIR` on a folder `hpcevo walkforward` wrote: the stitched out-of-sample record against
buy-and-hold (one figure), the per-window table, the headline statistics and verdict of summary.json's
"walkforward" entry, and links to the window folders (ordinary run folders, each with its own report).

Only the walk-forward's text files are read (summary.json, walkforward.csv, walkforward_returns.csv), validated
once, with errors that name the file; the page reuses page.py's helpers and figures.py's plotting helpers.
"""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ..console import say
from ..walkforward.files import COLUMNS, RETURN_COLUMNS
from .readers import ReportError, _fix, read_csv, read_json, to_int, to_text

__all__ = ["WalkForward", "is_walkforward", "load_walkforward", "walkforward_report", "FIGURE", "COLUMNS",
           "RETURN_COLUMNS"]

FIGURE = "walkforward_equity.png"
_DATES = ("train_start", "train_end", "selection_start", "selection_end", "test_start", "test_end")
_WINDOW = re.compile(r"window-\d+")


@dataclass
class WalkForward:
    """A walk-forward folder as plain data: summary.json, its "walkforward" entry (`stats`), the rows of
    walkforward.csv and the stitched daily returns (None when walkforward_returns.csv is missing)."""

    path: Path
    summary: dict
    stats: dict
    rows: list
    dates: np.ndarray = None  # datetime64[D] of walkforward_returns.csv
    wf: np.ndarray = None  # daily net returns of the stitched record
    bh: np.ndarray = None  # and of buy-and-hold
    notes: list = field(default_factory=list)


def _command(path):
    try:
        summary = json.loads((path / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary.get("command") if isinstance(summary, dict) else None


def is_walkforward(path):
    """Whether `path` is a walk-forward folder (finished: walkforward.csv or summary.json's "command"; or one
    stopped or still running: window-NN/ folders beside config.toml and no logbook.csv)."""
    path = Path(path)
    if not path.is_dir():
        return False
    if (path / "walkforward.csv").is_file() or _command(path) == "walkforward":
        return True
    return ((path / "config.toml").is_file() and not (path / "logbook.csv").exists()
            and any(p.is_dir() and _WINDOW.fullmatch(p.name) for p in path.iterdir()))


def _summary(path):
    file = path / "summary.json"
    if not file.is_file():
        raise ReportError(f"{path} is a walk-forward folder without summary.json: `hpcevo walkforward` writes it, "
                          f"with walkforward.csv, once every window is complete. Continue a stopped walk-forward "
                          f"with `python -m hpcevo walkforward --resume {path}`, or report one finished window "
                          f"(`python -m hpcevo report {path / 'window-01'}`).")
    summary = read_json(file)
    ok = (isinstance(summary, dict) and summary.get("command") == "walkforward"
          and isinstance(summary.get("walkforward"), dict) and isinstance(summary.get("windows"), list)
          and all(isinstance(w, dict) for w in summary["windows"]))
    if not ok:
        raise ReportError(f"{file}: expected the object `hpcevo walkforward` writes (\"command\": \"walkforward\", "
                          f"a \"walkforward\" object and a \"windows\" list). {_fix(file)}")
    return summary


def _dates(file, values, what):
    try:
        return np.array(values, dtype="datetime64[D]")
    except ValueError:
        raise ReportError(f"{file}: {what} holds a date that is not YYYY-MM-DD. {_fix(file)}") from None


def _windows(path, summary):
    file = path / "walkforward.csv"
    if not file.is_file():
        raise ReportError(f"{file} is missing: `hpcevo walkforward` writes it with summary.json when the last "
                          f"window is complete. Copy the walk-forward folder again as a whole.")
    types = {"window": to_int, "expressions": to_text, **dict.fromkeys(_DATES, to_text)}
    _, rows = read_csv(file, COLUMNS, types)  # a partly written last line is left out, and counted below
    expected = [w.get("window") for w in summary["windows"]]
    if [row["window"] for row in rows] != expected:
        raise ReportError(f"{file} lists windows {[row['window'] for row in rows]} where summary.json lists "
                          f"{expected}: the file is truncated or from another walk-forward. {_fix(file)}")
    for column in _DATES:
        _dates(file, [row[column] for row in rows], f"column {column}")
    return rows


def _returns(wf):
    file = wf.path / "walkforward_returns.csv"
    if not file.is_file():
        wf.notes.append("walkforward_returns.csv is missing: no equity figure of the stitched record.")
        return
    _, rows = read_csv(file, RETURN_COLUMNS, {"date": to_text, "window": to_int})
    bars = wf.stats.get("bars")
    if isinstance(bars, int) and len(rows) != bars:
        raise ReportError(f"{file} holds {len(rows):,} day(s) where summary.json counts {bars:,}: the file is "
                          f"truncated. {_fix(file)}")
    wf.dates = _dates(file, [row["date"] for row in rows], "column date")
    wf.wf = np.array([row["WF"] for row in rows], dtype=np.float64)
    wf.bh = np.array([row["BH"] for row in rows], dtype=np.float64)


def load_walkforward(path):
    """Read and validate the walk-forward folder at `path`; raises ReportError with what to fix."""
    path = Path(path)
    summary = _summary(path)
    wf = WalkForward(path, summary, summary["walkforward"], _windows(path, summary))
    _returns(wf)
    absent = [str(w.get("folder")) for w in summary["windows"] if not _here(path, w)]
    if absent:
        wf.notes.append(f"window folder(s) {', '.join(absent)} not in {path}: copy the walk-forward folder as a "
                        f"whole to keep the windows' own results.")
    return wf


def _here(path, window):
    name = str(window.get("folder", ""))
    return bool(_WINDOW.fullmatch(name)) and (path / name).is_dir()


def walkforward_figure(wf, path):
    """The stitched record's equity against buy-and-hold's (log scale when positive), each window's test period
    shaded in turn, a dotted line at its first day and its number at the top."""
    from matplotlib.figure import Figure

    from .figures import _colour, _log_if_positive, _save
    from .tearsheet import equity

    fig = Figure(figsize=(11, 4.8), layout="constrained")
    ax = fig.subplots()
    starts = [np.datetime64(row["test_start"], "D") for row in wf.rows]
    ends = [np.datetime64(row["test_end"], "D") for row in wf.rows]
    for k, (row, start, end) in enumerate(zip(wf.rows, starts, ends)):
        if k % 2:
            ax.axvspan(start, end, color="0.5", alpha=0.08, linewidth=0)
        ax.axvline(start, color="0.45", linewidth=0.8, linestyle=":", label="window boundary" if k == 0 else None)
        ax.text(start, 0.985, f" W{row['window']}", transform=ax.get_xaxis_transform(), ha="left", va="top",
                fontsize=8, color="0.25")
    curves = [equity(wf.bh), equity(wf.wf)]
    ax.plot(wf.dates, curves[0], color="black", linewidth=1.6, label="BH (buy and hold)", zorder=3)
    ax.plot(wf.dates, curves[1], color=_colour(0), linewidth=1.3, zorder=4,
            label="WF (each window's picks traded on its test period)")
    log = _log_if_positive(ax, curves)
    ax.set_ylabel(f"equity (start = 1{', log scale' if log else ''})")
    ax.set_xlabel("date")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.1), ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"walk-forward: the stitched test periods of {len(wf.rows)} window(s) vs buy and hold (net daily "
                 f"returns)", fontsize=11)
    return _save(fig, path)


def _facts(wf):
    from .page import _finite, _table

    s, stats = wf.summary, wf.stats
    rows = [("problem", s.get("problem", "trading")), ("seed", s.get("seed", "?")),
            ("windows", f"{len(wf.rows)} of {_years(stats.get('train_years'))} training + "
                        f"{_years(stats.get('test_years'))} test, stepped by the test period; the top "
                        f"{stats.get('top', '?')} pick(s) of each window's selection period traded on its test "
                        f"period"),
            ("test periods", f"{stats.get('oos_start')} to {stats.get('oos_end')} ({stats.get('bars', '?')} bars)")]
    if isinstance(stats.get("markets"), list):
        rows.append(("markets", ", ".join(map(str, stats["markets"]))))
    if _finite(s.get("wall_seconds")):
        rows.append(("wall time", f"{s['wall_seconds']:,.1f} s on {s.get('ranks', '?')} rank(s), "
                                  f"{s.get('parallel', '?')} window(s) at a time on {s.get('ranks_per_window', '?')} "
                                  f"rank(s) each"))
    return _table(None, rows, css="facts")


def _years(value):
    return f"{value:g} years" if isinstance(value, (int, float)) else "? years"


def _statistics(stats):
    from .page import _num, _pct, _table

    def ci(low, high):
        return f"[{_num(stats.get(low))}, {_num(stats.get(high))}]"

    rows = [("Sharpe of the stitched test periods", _num(stats.get("oos_sharpe"))),
            ("its 95% CI (bootstrap)", ci("oos_sharpe_ci_low", "oos_sharpe_ci_high")),
            ("buy-and-hold Sharpe", _num(stats.get("buy_and_hold_sharpe"))),
            ("Sharpe difference (walk-forward - buy and hold), 95% CI",
             ci("sharpe_diff_ci_low", "sharpe_diff_ci_high")),
            ("SPA p-value (walk-forward vs buy and hold)", _num(stats.get("spa_pvalue"), 3)),
            ("total return: walk-forward / buy and hold",
             f"{_pct(stats.get('oos_total_return'))} / {_pct(stats.get('buy_and_hold_total_return'))}"),
            ("max drawdown: walk-forward / buy and hold",
             f"{_pct(stats.get('oos_max_drawdown'))} / {_pct(stats.get('buy_and_hold_max_drawdown'))}")]
    return _table(["statistic", "value"], [((a, "text"), b) for a, b in rows])


WINDOW_HEADER = [("window", "text"), ("training", "text"), ("selection", "text"), ("test", "text"),
                 ("expressions", "text"), "test Sharpe", "BH Sharpe", "test total return", "BH total return",
                 "test max drawdown", "BH max drawdown", "test exposure", "test trades"]


def _window_table(rows):
    from .page import _count, _num, _pct, _table

    cells = [[(str(r["window"]), "text"), (f"{r['train_start']} to {r['train_end']}", "text"),
              (f"{r['selection_start']} to {r['selection_end']}", "text"),
              (f"{r['test_start']} to {r['test_end']}", "text"), (r["expressions"] or "(none: flat)", "expr"),
              _num(r["test_sharpe"]), _num(r["bh_sharpe"]), _pct(r["test_total_return"]), _pct(r["bh_total_return"]),
              _pct(r["test_max_drawdown"]), _pct(r["bh_max_drawdown"]), _pct(r["test_exposure"], 0),
              _count(r["test_trades"])] for r in rows]
    return _table(WINDOW_HEADER, cells)


def _links(wf, page_dir):
    from .page import _e

    items = []
    for w in wf.summary["windows"]:
        name = str(w.get("folder", ""))
        folder = wf.path / name
        if not _here(wf.path, w):
            items.append(f"<li>window {_e(w.get('window'))}: {_e(name)} (not here)</li>")
            continue
        href = quote(Path(os.path.relpath(folder, page_dir)).as_posix()) + "/"
        status = _window_status(folder)
        text = f'<li><a href="{_e(href)}">{_e(name)}/</a> ({_e(status)})'
        own = folder / "report" / "report.html"
        if own.is_file():
            text += f'; <a href="{_e(quote(Path(os.path.relpath(own, page_dir)).as_posix()))}">its report</a>'
        items.append(text + "</li>")
    return ('<p class="muted">Each window is an ordinary run folder: <code>python -m hpcevo report '
            'WF_DIR/window-NN</code> draws its own report (search, strategies, overfitting statistics).</p><ul>'
            + "".join(items) + "</ul>")


def _window_status(folder):
    try:
        status = json.loads((folder / "summary.json").read_text(encoding="utf-8")).get("status")
    except (OSError, ValueError, AttributeError):
        status = None
    return f"run {status}" if isinstance(status, str) else "no readable summary.json"


def write_walkforward_page(wf, path, figure, notes):
    """Write report.html at `path` for the walk-forward `wf`, with the figure at `figure` (None: not drawn)."""
    from .page import _e, _figure, _note, _page

    title = f"hpcevo report: walk-forward {wf.path.resolve().name}"
    body = [f"<h1>{_e(title)}</h1>", f'<p class="muted">{_e(wf.path)}</p>', _facts(wf), *map(_note, notes),
            '<h2 id="walkforward">walk-forward</h2>']
    if wf.stats.get("verdict"):
        body.append(f'<p class="verdict" id="verdict">{_e(wf.stats["verdict"])}</p>')
    body.append(_statistics(wf.stats))
    if figure is not None:
        body.append(_figure(figure, "equity of the stitched walk-forward record (WF) and of buy and hold (BH); "
                                    "dotted lines and shading mark each window's test period"))
    body += ['<h3 id="windows">windows</h3>',
             '<p class="muted">Each window trains on its training period, picks its strategies on its selection '
             'period and trades them (averaged) on its test period, which no choice saw. Expressions are the '
             'picks, best first, joined by " ; ".</p>', _window_table(wf.rows),
             '<h3 id="window-folders">window folders</h3>', _links(wf, path.parent)]
    tmp = path.with_name(f".{path.stem}.tmp.html")
    tmp.write_text(_page(title, body), encoding="utf-8")
    os.replace(tmp, path)
    return path


def walkforward_lines(wf, figures, figure_dir, page):
    """The text summary: verdict first, then the windows' test Sharpe beside buy-and-hold's."""
    from .page import _num
    from .summary_text import short

    lines = [f"verdict: {wf.stats['verdict']}"] if wf.stats.get("verdict") else []
    lines += [f"walk-forward: {wf.path}", f"windows: {len(wf.rows)}, test periods {wf.stats.get('oos_start')} to "
                                          f"{wf.stats.get('oos_end')}"]
    for r in wf.rows:
        lines.append(f"  window {r['window']}: test {r['test_start']} to {r['test_end']}  Sharpe "
                     f"{_num(r['test_sharpe'])} (buy and hold {_num(r['bh_sharpe'])})  {short(r['expressions'])}")
    lines += [f"page: {page}", f"figures in {figure_dir}: {', '.join(p.name for p in figures) or 'none'}"]
    return lines


def walkforward_report(args, out, err):
    """`hpcevo report WF_DIR`: the figure, report.html and the summary; returns 0 (ReportError when the folder
    cannot be read)."""
    from .command import _require_matplotlib, figure_folder

    wf = load_walkforward(args.run_dir)
    notes = list(wf.notes)
    if args.data is not None:
        notes.append("--data is not used for a walk-forward folder: its curves come from walkforward_returns.csv.")
    _require_matplotlib()
    figure_dir = figure_folder(args, wf.path)
    figures = [walkforward_figure(wf, figure_dir / FIGURE)] if wf.dates is not None else []
    page = write_walkforward_page(wf, figure_dir / "report.html", figures[0] if figures else None, notes)
    say("\n".join(walkforward_lines(wf, figures, figure_dir, page)), out)
    for note in notes:
        print(f"hpcevo: note: {note}", file=err)
    return 0
