"""The report's text summary: a few lines about a run, computed from a `Run` (rundata) alone."""

__all__ = ["summary_lines", "fitness_text", "short", "TIME_KEYS"]

TIME_KEYS = ("evaluation", "variation", "migration", "waiting", "checkpoint", "output")
WIDTH = 100  # individuals longer than this are cut, with "..."


def fitness_text(values):
    """Objective values as the progress lines print them: 6 significant digits joined by '/'."""
    return "/".join(f"{v:.6g}" for v in values)


def short(text, width=WIDTH):
    return text if len(text) <= width else text[: width - 3] + "..."


def summary_lines(run, top, strategies=(), figures=(), figure_dir=None, page=None):
    """The summary as a list of lines: run, status, evaluations, time split, best individuals, top trading
    `strategies` (dicts from rundata.top_strategies), the report `page` and the `figures` written to
    `figure_dir`."""
    config, summary = run.config, run.summary
    stats = (summary or {}).get("overfitting") if run.trading else None
    verdict = stats.get("verdict") if isinstance(stats, dict) else None
    lines = [f"verdict: {verdict}"] if isinstance(verdict, str) and verdict else []  # what a quant reads first
    lines += [f"run: {run.path}",
             f"problem: {run.problem}, seed {config.get('seed', '?')}, {run.n_islands} islands x "
             f"{config.get('population', '?')}, algorithm {config.get('algorithm', '?')}",
             _status(run)]
    if summary is not None:
        lines.append(f"ranks: {summary.get('ranks')} in {summary.get('groups')} group(s), "
                     f"{summary.get('ranks_per_island')} rank(s) per island")
    lines.append(_evaluations(run))
    failures, rejected = int(run.logbook["failures"].sum()), int(run.logbook["rejected"].sum())
    if failures or rejected:
        more = " (see errors.txt)" if failures and (run.path / "errors.txt").is_file() else ""
        lines.append(f"penalised evaluations: {failures:,} failed{more}, {rejected:,} rejected")
    lines += _time_split(summary)
    if run.timings:
        lines.append(f"epochs: {len(run.timings)} (mean {sum(run.timings) / len(run.timings):.2f} s, longest "
                     f"{max(run.timings):.2f} s)")
    lines += _best(run, top)
    if strategies and "sel_sharpe" in strategies[0]:
        where = strategies[0]["row"]["market"]
        where = "the portfolio" if where == "portfolio" else f"market {where}"
        lines.append(f"top distinct strategies in selection order (S1 best on the selection period; the holdout "
                     f"never chose; {where}):")
        for s in strategies:
            lines.append(f"  {s['id']}. in-sample Sharpe {s['is_sharpe']:.3f}  selection Sharpe "
                         f"{s['sel_sharpe']:.3f}  holdout Sharpe {s['oos_sharpe']:.3f}  {short(s['expression'])}")
    elif strategies:
        lines.append("top strategies by in-sample Sharpe (means over the instruments; the holdout never chose):")
        for k, s in enumerate(strategies, 1):
            oos = "n/a" if s["oos_sharpe"] is None else f"{s['oos_sharpe']:.3f}"
            lines.append(f"  {k}. in-sample Sharpe {s['is_sharpe']:.3f}  holdout Sharpe {oos}  "
                         f"{short(s['expression'])}")
    if page is not None:
        lines.append(f"page: {page}")
    if figure_dir is not None:
        lines.append(f"figures in {figure_dir}: {', '.join(p.name for p in figures) or 'none'}")
    return lines


def _status(run):
    summary, total = run.summary, run.config["generations"]
    if summary is None:
        return f"status: unknown (no summary.json); the logbook reaches generation {run.generation} of {total}"
    gen, total = summary.get("generation", run.generation), summary.get("generations", total)
    status = summary["status"]
    if status == "complete":
        return f"status: complete, generation {gen} of {total}"
    if status == "stopped":
        return (f"status: stopped at generation {gen} of {total} ({summary.get('stopped_by')}); continue with "
                f"python -m hpcevo run --resume {run.path}")
    return f"status: running, generation {gen} of {total} so far (results as of its last checkpoint)"


def _evaluations(run):
    line = f"evaluations: {run.evaluations:,}"
    summary = run.summary
    if summary is None or not summary.get("evaluations_per_second"):
        return line
    since = summary.get("resumed_from_generation")
    session = f"since resuming at generation {since}" if since else "wall"
    return (f"{line} ({summary['evaluations_per_second']:,.0f}/s over {summary.get('wall_seconds', 0):.2f} s "
            f"{session})")


def _time_split(summary):
    if summary is None or not summary.get("wall_seconds"):
        return []
    wall, seconds = summary["wall_seconds"], summary.get("seconds") or {}
    lines = [f"time split (seconds, share of {wall:.2f} s wall; evaluation and variation are summed over "
             f"islands):"]
    for key in TIME_KEYS:
        value = seconds.get(key)
        if isinstance(value, (int, float)):
            lines.append(f"  {key:<11} {value:10.3f} {100 * value / wall:6.1f}%")
    return lines


def _best(run, top):
    if not run.hall_of_fame:
        return []
    names = " / ".join(f"{run.objective_name(j)} ({run.best_stat(j)})" for j in range(run.n_objectives))
    entries = run.hall_of_fame[:top]
    lines = [f"best individuals (hall_of_fame.json, {len(entries)} of {len(run.hall_of_fame)}; {names}):"]
    for k, entry in enumerate(entries, 1):
        island = entry.get("island")
        where = f"  island {island}" if island is not None else ""
        lines.append(f"  {k}. {fitness_text(entry['fitness'])}{where}  {short(entry['individual'])}")
    return lines
