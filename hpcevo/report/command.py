"""`python -m hpcevo report RUN_DIR`: figures and a text summary of a run folder, from its text files only."""

import argparse
import sys
from pathlib import Path

from ..console import say
from .rundata import ReportError, epoch_ends, load_run, migration_generations, reported_strategies, top_strategies
from .summary_text import summary_lines

__all__ = ["add_arguments", "report_command"]


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def add_arguments(parser):
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run folder (--out of `hpcevo run`), finished, stopped "
                                                           "or still running; only its text files are read")
    parser.add_argument("--out", metavar="FIGDIR", help="folder for the PNG figures (default RUN_DIR/report)")
    parser.add_argument("--top", type=_positive, default=3,
                        help="how many best individuals, and distinct trading strategies (equity.png and a "
                             "section each in report.html), to show (default 3)")
    parser.add_argument("--data", metavar="FILE",
                        help="market data for equity.png when the run's data file is not on this machine "
                             "(sp500 | nasdaq | sp500+nasdaq | a CSV or Parquet file)")


def _require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ReportError("hpcevo report needs matplotlib: pip install 'hpcevo[plot]'") from None


def figure_folder(args, folder):
    """The folder the figures and report.html go to (--out, else FOLDER/report), created; ReportError if not."""
    figure_dir = Path(args.out) if args.out else Path(folder) / "report"
    try:
        figure_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create the figure folder {figure_dir} ({exc.strerror}); choose another with "
                          f"--out FIGDIR.") from None
    return figure_dir


def _migration_marks(run, notes):
    """Generations after which migrations happened (for fitness.png); a note when the epochs do not add up."""
    summary = run.summary or {}
    generation = max(run.generation, summary.get("generation") or 0)
    ends = epoch_ends(run.config["migration_interval"], generation)
    final = summary.get("status") in ("complete", "stopped")  # a run in progress may be a few rows further on
    if final and run.timings is not None and len(run.timings) != len(ends):
        notes.append(f"timings.csv lists {len(run.timings)} epochs where migration_interval = "
                     f"{run.config['migration_interval']} gives {len(ends)} up to generation {generation} (files "
                     f"of two checkpoints, or a run extended by an hpcevo before 0.2); migration marks may be "
                     f"misplaced.")
    return migration_generations([row["epoch"] for row in run.migrations or []], ends)


def _equity(run, args, strategies, figure_dir, notes):
    """equity.png for a trading run of the older layout (no returns.csv): curves recomputed with the trading
    problem's code, and the holdout Sharpe of strategies read from hall_of_fame.json."""
    from . import figures
    from .equity import data_available, data_spec, equity_curves, settings_text
    from .tearsheet import legacy_panels

    spec = data_spec(run.config, args.data)
    if not strategies:
        notes.append("no strategies in strategies.csv or hall_of_fame.json: equity.png not drawn.")
        return None
    if not data_available(spec):
        notes.append(f"equity.png skipped: the market data {spec} is not on this machine; point at a copy with "
                     f"--data FILE.")
        return None
    panels = equity_curves(run.config, [s["expression"] for s in strategies], args.data)
    for k, s in enumerate(strategies):
        if s["oos_sharpe"] is None:
            s["oos_sharpe"] = sum(p.strategies[k].holdout_metrics["sharpe"] for p in panels) / len(panels)
    title = (f"top {len(strategies)} strategies by in-sample Sharpe vs buy and hold "
             f"({settings_text(run.config, args.data)})")
    ids = [s["id"] for s in strategies]
    key = [("BH", "buy and hold")] + [(s["id"], s["expression"]) for s in strategies]
    return figures.equity_figure(legacy_panels(panels, ids), figure_dir / "equity.png", title, key)


def _tearsheets(run, strategies, figure_dir, notes):
    """equity.png and strategy_<id>.png from returns.csv (the current run-folder layout): ({id: path}, paths)."""
    from . import figures
    from .tearsheet import returns_panels, strategy_view

    if run.returns is None or not strategies:
        if run.returns is not None:
            notes.append("no strategies in strategies.csv: equity.png not drawn.")
        return {}, []
    missing = [s["id"] for s in strategies if not any(s["id"] in r.series for r in run.returns.values())]
    if missing:
        notes.append(f"returns.csv has no column for {', '.join(missing)}: no equity curves of them.")
    if not any("BH" in r.series for r in run.returns.values()):
        notes.append("returns.csv has no BH column: no buy-and-hold curves.")
    key = [("BH", "buy and hold")] + [(s["id"], s["expression"]) for s in strategies]
    title = f"top {len(strategies)} distinct strategies in selection order vs buy and hold (net daily returns)"
    written = [figures.equity_figure(returns_panels(run, [s["id"] for s in strategies]), figure_dir / "equity.png",
                                     title, key)]
    pages = {}
    for k, s in enumerate(strategies):
        view = strategy_view(run, s["id"], k)
        if view is None:
            continue
        title = f"{s['id']} on {view.market}: {s['expression']}"
        if len(title) > 150:
            title = title[:147] + "..."  # the whole expression is in report.html and equity.png's key
        pages[s["id"]] = figures.strategy_figure(view, figure_dir / f"strategy_{s['id']}.png", title)
        written.append(pages[s["id"]])
    return pages, written


def report_command(args, out=None, err=None):
    """Write the figures and print the summary; returns 0 (ReportError for a folder that cannot be read)."""
    out, err = out or sys.stdout, err or sys.stderr
    from .walkforward_page import is_walkforward, walkforward_report

    if is_walkforward(args.run_dir):  # a folder `hpcevo walkforward` wrote: its own page
        return walkforward_report(args, out, err)
    run = load_run(args.run_dir)
    notes = list(run.notes)
    if args.data is not None:
        from .equity import data_available

        if not run.trading:
            notes.append(f"--data is used only for the equity curves of trading runs; this run's problem is "
                         f"{run.problem}.")
        elif not data_available(args.data):
            raise ReportError(f"--data {args.data}: no such file. Give a copy of the market data the run used (a "
                              f"CSV or Parquet file), or sp500 | nasdaq | sp500+nasdaq.")
    _require_matplotlib()
    from . import figures

    figure_dir = figure_folder(args, run.path)
    written = [figures.fitness_figure(run, _migration_marks(run, notes), figure_dir / "fitness.png")]
    if run.migrations is not None:
        written.append(figures.migrations_figure(run, figure_dir / "migrations.png"))
    if run.n_objectives > 1 and run.hall_of_fame:
        written.append(figures.pareto_figure(run, figure_dir / "pareto.png"))
    strategies, reported, pages = [], None, {}
    if run.trading:
        strategies = top_strategies(run, args.top)
        if run.strategies_have_ids:
            reported = reported_strategies(run)
            pages, drawn = _tearsheets(run, strategies, figure_dir, notes)
            written += drawn
        else:
            written.append(_equity(run, args, strategies, figure_dir, notes))
    written = [p for p in written if p is not None]
    from .page import write_page

    page = write_page(run, figure_dir / "report.html", [p for p in written if p not in pages.values()], strategies,
                      pages, [*notes, *run.page_notes], reported, args.top)
    lines = summary_lines(run, args.top, strategies, written, figure_dir, page)
    say("\n".join(lines), out)  # `hpcevo report RUN | head`: the reader may leave; the figures are written
    for note in notes:
        print(f"hpcevo: note: {note}", file=err)
    return 0
