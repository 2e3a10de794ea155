"""report.html: one self-contained page per run folder (figures inline as base64 PNG data URIs, no external
file, script or font), so it opens from a laptop after the run folder is copied back.

A trading run: the run facts, the overfitting verdict and statistics, the strategies table and one section per
top strategy (tearsheet figure and trade statistics). Any run: its fitness, migration and Pareto figures. All
text from the run folder is escaped.
"""

import base64
import math
import os
import textwrap
from html import escape

from .summary_text import TIME_KEYS
from .tearsheet import PERIOD_NAMES, trade_statistics

__all__ = ["write_page", "LOAD_SCRIPT"]

# Counts the figures that loaded (complete and decoded) once the page has: body data-figures="loaded/total".
LOAD_SCRIPT = """window.addEventListener("load", function () {
  var images = document.images, loaded = 0;
  for (var i = 0; i < images.length; i++) {
    if (images[i].complete && images[i].naturalWidth > 0) { loaded++; }
  }
  document.body.dataset.figures = loaded + "/" + images.length;
});"""

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1240px;
       padding: 0 24px 48px; color: #1d1d1f; line-height: 1.4; }
h1 { font-size: 1.6em; margin: 24px 0 4px; } h2 { font-size: 1.25em; margin-top: 36px; border-bottom: 1px solid #ddd; }
h3 { font-size: 1.05em; margin-top: 20px; }
table { border-collapse: collapse; font-size: 0.82em; margin: 8px 0 12px; }
th, td { border: 1px solid #ddd; padding: 3px 5px; text-align: right; vertical-align: top; }
th { background: #f3f3f5; } td.text, th.text { text-align: left; }
td.expr { text-align: left; font-family: ui-monospace, Menlo, Consolas, monospace; word-break: break-all;
          min-width: 200px; max-width: 420px; } td { white-space: nowrap; } td.expr, td.text { white-space: normal; }
tr.bh td { background: #f7f7f7; } tr.dup td { color: #888; }
.facts td { text-align: left; white-space: normal; }
.facts td:first-child { font-weight: 600; background: #f8f8fa; white-space: nowrap; }
.verdict { font-size: 1.15em; font-weight: 600; padding: 12px 16px; border-left: 6px solid #c77700;
           background: #fff6e5; margin: 12px 0; }
.note { color: #7a4d00; background: #fffaf0; border: 1px solid #f0dcb0; padding: 6px 10px; margin: 6px 0;
        font-size: 0.9em; }
figure { margin: 12px 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.85em; color: #555; } code { font-size: 0.95em; word-break: break-all; }
.muted { color: #666; font-size: 0.88em; } .wide { overflow-x: auto; max-width: 100%; }
"""


def _e(value):
    return escape(str(value), quote=True)


def _finite(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _num(value, digits=2):
    if value is None or isinstance(value, bool):
        return "n/a" if value is None else str(value)
    if not isinstance(value, (int, float)):
        return str(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "\u221e" if value > 0 else "-\u221e"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:.{digits}f}"


def _pct(value, digits=1):
    return f"{100 * value:.{digits}f}%" if _finite(value) else _num(value)


def _count(value):
    return f"{int(value):,}" if _finite(value) and float(value).is_integer() else _num(value, 1)


def _table(header, rows, css=None, row_classes=None):
    """An HTML table; header cells and row cells are (text, class) pairs or plain text (escaped here)."""
    def cell(tag, item):
        text, klass = item if isinstance(item, tuple) else (item, None)
        return f"<{tag}{f' class={chr(34)}{klass}{chr(34)}' if klass else ''}>{_e(text)}</{tag}>"

    out = [f"<table{f' class={chr(34)}{css}{chr(34)}' if css else ''}>"]
    if header:
        out.append("<tr>" + "".join(cell("th", h) for h in header) + "</tr>")
    for k, row in enumerate(rows):
        klass = row_classes[k] if row_classes else None
        out.append(f"<tr{f' class={chr(34)}{klass}{chr(34)}' if klass else ''}>"
                   + "".join(cell("td", c) for c in row) + "</tr>")
    out.append("</table>")
    return '<div class="wide">' + "\n".join(out) + "</div>"


def _figure(path, caption):
    """An <img> with the PNG at `path` inline as a data: URI (None when there is no such file)."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (f'<figure><img src="{uri}" alt="{_e(caption)}"><figcaption>{_e(caption)}</figcaption></figure>')


def _note(text):
    return f'<p class="note">{_e(text)}</p>'


def _facts(run):
    config, summary, info = run.config, run.summary or {}, run.trading_info
    generation = summary.get("generation", run.generation)
    rows = [("problem", run.problem), ("status", summary.get("status", "unknown (no summary.json)")),
            ("seed", config.get("seed", "?")),
            ("islands", f"{run.n_islands} x {config.get('population', '?')} individuals, algorithm "
                        f"{config.get('algorithm', '?')}, topology {config.get('topology', '?')}"),
            ("generations", f"{generation} of {summary.get('generations', config['generations'])} (migration every "
                            f"{config['migration_interval']})"),
            ("evaluations", f"{run.evaluations:,}")]
    wall = summary.get("wall_seconds")
    if _finite(wall):
        rows.append(("wall time", f"{wall:,.1f} s on {summary.get('ranks', '?')} rank(s)"))
        seconds = summary.get("seconds") or {}
        split = ", ".join(f"{key} {seconds[key]:,.2f} s ({100 * seconds[key] / wall:.0f}%)" for key in TIME_KEYS
                          if _finite(seconds.get(key)) and wall > 0)
        if split:
            rows.append(("time split", f"{split}; shares of the wall time, evaluation and variation summed over "
                                       f"islands"))
    objectives = " / ".join(f"{run.objective_name(j)} ({'min' if run.weights[j] < 0 else 'max'})"
                            for j in range(run.n_objectives))
    rows.append(("objectives", objectives))
    if run.trading:
        rows.append(("data", str(config.get("problem_options", {}).get("data", "sp500"))))
        markets = info.get("markets")
        if isinstance(markets, list) and markets:
            rows.append(("markets", ", ".join(map(str, markets))))
        periods = info.get("periods") if isinstance(info.get("periods"), dict) else {}
        for key, name in (("train", "training"), ("selection", "selection"), ("oos", "holdout")):
            start, end = periods.get(f"{key}_start"), periods.get(f"{key}_end")
            if start or end:
                rows.append((f"{name} period", f"{start} to {end}"))
        folds = info.get("folds")
        if isinstance(folds, list) and folds:
            rows.append(("training folds", f"{len(folds)}: " + ", ".join(
                f"{f[0]} to {f[1]}" if isinstance(f, list) and len(f) == 2 else str(f) for f in folds)))
        options = config.get("problem_options", {})
        shown = ", ".join(f"{k} = {v}" for k, v in options.items() if k != "data")
        if shown:
            rows.append(("problem options", shown))
    return _table(None, rows, css="facts")


def _overfitting(run):
    stats = (run.summary or {}).get("overfitting")
    if not isinstance(stats, dict):
        return [_note("summary.json has no overfitting statistics (a run still in progress, or one written by an "
                      "older hpcevo): no verdict.")]
    out = []
    if stats.get("verdict"):
        out.append(f'<p class="verdict" id="verdict">{_e(stats["verdict"])}</p>')
    threshold = stats.get("dsr_threshold", 0.95)
    rows = [("trials (strategies evaluated)", _count(stats.get("trials"))),
            ("effective trials (independent)", _count(stats.get("effective_trials"))),
            ("candidates tested", _count(stats.get("candidates"))),
            ("PBO (probability of backtest overfitting)", _num(stats.get("pbo"), 3)),
            ("SPA p-value (best vs buy and hold)", _num(stats.get("spa_pvalue"), 3)),
            ("best deflated Sharpe ratio (DSR)", _num(stats.get("best_dsr"), 3)),
            (f"significant (DSR >= {_num(threshold, 2)})", _count(stats.get("significant")))]
    out.append(_table(["statistic", "value"], [((a, "text"), b) for a, b in rows]))
    return out


_STRATEGY_COLUMNS = ["id", "expression", "size", "signif. (DSR)", "PSR", "DSR", "Sharpe in-sample",
                     "Sharpe selection", "Sharpe holdout", "holdout Sharpe 95% CI", "holdout CAGR",
                     "holdout excess return", "holdout max drawdown", "holdout exposure", "holdout trades"]


def _ci(row, low, high):
    a, b = row.get(low), row.get(high)
    return "n/a" if a is None and b is None else f"[{_num(a)}, {_num(b)}]"


def _strategy_cells(s, row):
    significant = s.get("significant")
    return [(s["id"], "text"), (s["expression"], "expr"), _count(s.get("size", "")),
            ("yes" if significant else "no") if isinstance(significant, bool) else "n/a",
            _num(row.get("psr"), 3), _num(row.get("dsr"), 3), _num(row.get("is_sharpe")), _num(row.get("sel_sharpe")),
            _num(row.get("oos_sharpe")), _ci(row, "oos_sharpe_ci_low", "oos_sharpe_ci_high"),
            _pct(row.get("oos_cagr")), _pct(row.get("oos_excess_return")), _pct(row.get("oos_max_drawdown")),
            _pct(row.get("oos_exposure"), 0), _count(row.get("oos_trades"))]


def _strategies_table(run, reported):
    from .tearsheet import headline_market

    market = headline_market(run) or (reported[0]["row"]["market"] if reported else "")
    out = [f'<p class="muted">BH is buy and hold. S1, S2, ... are the reported strategies in selection order (S1 '
           f'best on the selection period; the holdout never chose). Metrics of the '
           f'{_e(market if market == "portfolio" else "market " + str(market))} rows of strategies.csv; Sharpe '
           f'ratios annualised. Grey rows repeat an earlier strategy (same expression, or identical metrics).</p>']
    rows, classes = [], []
    for s in reported:
        cells = _strategy_cells(s, s["row"])
        if s["duplicate_of"]:
            cells[1] = (f"{s['expression']}  (same as {s['duplicate_of']})", "expr")
        rows.append(cells)
        classes.append("bh" if s["id"] == "BH" else ("dup" if s["duplicate_of"] else None))
    out.append(_table([(c, "text") if c in ("id", "expression") else c for c in _STRATEGY_COLUMNS], rows,
                      row_classes=classes))
    return out


def _legacy_strategies_table(strategies):
    rows = [[(s["id"], "text"), (s["expression"], "expr"), _num(s["is_sharpe"]), _num(s["oos_sharpe"])]
            for s in strategies]
    return [_note("strategies.csv is in the older layout (no ids, selection period or overfitting statistics), or "
                  "missing: the top strategies by in-sample Sharpe."),
            _table([("id", "text"), ("expression", "text"), "Sharpe in-sample", "Sharpe holdout"], rows)]


def _market_table(s):
    header = ["market", "Sharpe in-sample", "Sharpe selection", "Sharpe holdout", "holdout CAGR",
              "holdout excess return", "holdout max drawdown", "holdout win rate", "holdout trades", "PSR", "DSR"]
    rows = [[(r["market"], "text"), _num(r.get("is_sharpe")), _num(r.get("sel_sharpe")), _num(r.get("oos_sharpe")),
             _pct(r.get("oos_cagr")), _pct(r.get("oos_excess_return")), _pct(r.get("oos_max_drawdown")),
             _pct(r.get("oos_win_rate"), 0), _count(r.get("oos_trades")), _num(r.get("psr"), 3),
             _num(r.get("dsr"), 3)] for r in s["rows"]]
    return _table([("market", "text"), *header[1:]], rows)


def _trades_table(trades, sid):
    stats = trade_statistics(trades, sid)
    if not stats[-1]["trades"]:
        return _note(f"trades.csv lists no trade of {sid}.")
    header = [("period of entry", "text"), "trades", "still open", "win rate", "mean return", "median return",
              "mean bars held", "longest (bars)"]
    rows = [[(PERIOD_NAMES[r["period"]], "text"), _count(r["trades"]), _count(r["open"]),
             _pct(r["win_rate"], 0) if r["win_rate"] is not None else "n/a",
             _pct(r["mean"], 2) if r["mean"] is not None else "n/a",
             _pct(r["median"], 2) if r["median"] is not None else "n/a",
             _num(r["mean_bars"], 1), _count(r["longest"]) if r["longest"] is not None else "n/a"] for r in stats]
    markets = sorted({t["market"] for t in trades if t["id"] == sid})
    caption = (f'<p class="muted">Trades of {_e(sid)} from trades.csv, on {_e(", ".join(markets))}; a trade wins '
               f'when its return is positive; open trades are still held at the end of the data.</p>')
    return caption + _table(header, rows)


def _strategy_section(run, s, figure_path):
    out = [f'<h2 id="{_e(s["id"])}">{_e(s["id"])}</h2>', f'<p><code>{_e(s["expression"])}</code></p>']
    row = s.get("row") or {}
    if row:
        out.append(f'<p class="muted">tree size {_e(s.get("size"))}; Sharpe in-sample {_num(row.get("is_sharpe"))}, '
                   f'selection {_num(row.get("sel_sharpe"))}, holdout {_num(row.get("oos_sharpe"))} (95% CI '
                   f'{_ci(row, "oos_sharpe_ci_low", "oos_sharpe_ci_high")}); holdout excess Sharpe 95% CI '
                   f'{_ci(row, "oos_excess_sharpe_ci_low", "oos_excess_sharpe_ci_high")}; DSR '
                   f'{_num(row.get("dsr"), 3)}.</p>')
    if len(s.get("rows", ())) > 1:
        out.append(_market_table(s))
    figure = _figure(figure_path, f"{s['id']}: equity against buy and hold (training, selection and holdout "
                                  f"shaded), drawdown and calendar-year returns") if figure_path else None
    out.append(figure or _note(f"no tearsheet figure for {s['id']}: returns.csv is missing or lacks its column."))
    out.append("<h3>trades</h3>")
    if run.trades is None:
        out.append(_note("trades.csv is missing: no trade statistics."))
    else:
        out.append(_trades_table(run.trades, s["id"]))
    return out


def _page(title, body):
    return "\n".join(['<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
                      '<meta name="viewport" content="width=device-width, initial-scale=1">',
                      f'<title>{_e(title)}</title>', f'<style>{_STYLE}</style>', '</head>', '<body>', *body,
                      f'<script>\n{LOAD_SCRIPT}\n</script>', '</body>', '</html>', ''])


def write_page(run, path, figures, strategies=(), tearsheets=None, notes=(), reported=None, top=3):
    """Write report.html at `path`: `figures` {name: PNG path} of the run figures (fitness, migrations, pareto,
    equity), `strategies` (rundata.top_strategies) with `tearsheets` {id: PNG path}, `reported`
    (rundata.reported_strategies, the strategies table), the report's `notes` and `top` (best individuals of a
    run that is not a trading one)."""
    tearsheets = tearsheets or {}
    title = f"hpcevo report: {run.problem} run {run.path.resolve().name}"
    body = [f"<h1>{_e(title)}</h1>", f'<p class="muted">{_e(run.path)}</p>', _facts(run)]
    for note in notes:
        body.append(_note(note))
    captions = {"fitness.png": "fitness over generations: best across islands, median and range of the islands' "
                               "best, median of the islands' averages",
                "migrations.png": "migrants sent between islands, summed over the epochs",
                "pareto.png": "the merged Pareto front (hall_of_fame.json)",
                "equity.png": "equity of the top strategies and of buy and hold, per market"}
    run_figures = [_figure(p, captions.get(p.name, p.name)) for p in figures]
    if run.trading:
        body.append("<h2>overfitting</h2>")
        body += _overfitting(run)
        body.append("<h2>strategies</h2>")
        body += _strategies_table(run, reported) if reported else _legacy_strategies_table(strategies)
        if run.returns is None:
            body.append(_note("returns.csv is missing: no equity curves, drawdowns or yearly returns per strategy."))
        for s in strategies:
            body += _strategy_section(run, s, tearsheets.get(s["id"]))
        body.append("<h2>the search</h2>")
    else:
        body += _best(run, top)
        body.append("<h2>figures</h2>")
    body += [f for f in run_figures if f]
    text = _page(title, body)
    tmp = path.with_name(f".{path.stem}.tmp.html")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _best(run, top):
    if not run.hall_of_fame:
        return []
    header = ["#", *(f"{run.objective_name(j)} ({'min' if run.weights[j] < 0 else 'max'})"
                     for j in range(run.n_objectives)), ("individual", "text")]
    rows = [[str(k), *(_num(v, 4) for v in entry["fitness"]),
             ("\n".join(textwrap.wrap(entry["individual"], 160)) or entry["individual"], "expr")]
            for k, entry in enumerate(run.hall_of_fame[:top], 1)]
    return [f"<h2>best individuals (hall_of_fame.json, {min(top, len(run.hall_of_fame))} of "
            f"{len(run.hall_of_fame)})</h2>", _table(header, rows)]
