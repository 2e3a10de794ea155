"""The report's PNG figures (the only module that imports matplotlib; `Figure` objects, no pyplot state).

Each function takes plain data from rundata / equity and writes one file, through a temporary file and a
rename so a figure being viewed is never half-written.
"""

import itertools
import os
import textwrap

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from .rundata import migration_matrix

__all__ = ["fitness_figure", "migrations_figure", "pareto_figure", "equity_figure", "strategy_figure",
           "ISLAND_LINES"]

ISLAND_LINES = 8  # up to this many islands, fitness.png also draws each island's best as a thin line
_DPI = 100


def _save(fig, path):
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, format="png", dpi=_DPI)
    os.replace(tmp, path)
    return path


def _direction(run, j):
    return "minimised" if run.weights[j] < 0 else "maximised"


def _by_generation(run, values):
    """A (island, generation) matrix of one logbook column (NaN where an island has no row or a non-finite
    value), and the generations of its columns."""
    island_col, gen_col = run.logbook["island"], run.logbook["gen"]
    islands, gens = np.unique(island_col), np.unique(gen_col)
    matrix = np.full((islands.size, gens.size), np.nan)
    matrix[np.searchsorted(islands, island_col), np.searchsorted(gens, gen_col)] = np.where(
        np.isfinite(values), values, np.nan)
    return matrix, gens


def _median_columns(matrix):
    """Median of each column over its finite values (NaN for a column without any), without NaN warnings."""
    out = np.full(matrix.shape[1], np.nan)
    for g in range(matrix.shape[1]):
        column = matrix[:, g][np.isfinite(matrix[:, g])]
        if column.size:
            out[g] = np.median(column)
    return out


def fitness_figure(run, migration_gens, path):
    """Per objective, over generations: the best across islands, the median of the islands' best with a band
    from the worst to the best island, the median of the islands' averages (dashed), and, for up to
    ISLAND_LINES islands, each island's best as a thin line; a vertical line at each generation after which
    migrants moved. The legend sits below the panels."""
    k = run.n_objectives
    fig = Figure(figsize=(9, 3.2 * k + 0.8), layout="constrained")
    axes = fig.subplots(k, 1, sharex=True, squeeze=False)[:, 0]
    n = len(run.islands)
    for j, ax in enumerate(axes):
        stat = run.best_stat(j)
        best, gens = _by_generation(run, run.stat(stat, j))
        avg, _ = _by_generation(run, run.stat("avg", j))
        top = np.fmax if stat == "max" else np.fmin
        ax.fill_between(gens, np.fmin.reduce(best, axis=0), np.fmax.reduce(best, axis=0), color="C0", alpha=0.18,
                        linewidth=0, label="islands' best: worst to best island")
        if n <= ISLAND_LINES and n > 1:
            for i in range(best.shape[0]):
                ax.plot(gens, best[i], color="C0", linewidth=0.6, alpha=0.45,
                        label="each island's best" if i == 0 else None)
        ax.plot(gens, _median_columns(best), color="C0", linewidth=1.6, label="median of the islands' best")
        ax.plot(gens, top.reduce(best, axis=0), color="C3", linewidth=1.6, label="best across islands")
        ax.plot(gens, _median_columns(avg), color="0.35", linewidth=1.1, linestyle="--",
                label="median of the islands' averages")
        for g, gen in enumerate(migration_gens):
            ax.axvline(gen, color="0.55", linewidth=0.8, linestyle=":", label="migration" if g == 0 else None)
        ax.set_ylabel(f"{run.objective_name(j)} ({_direction(run, j)})")
        ax.set_title(f"{run.objective_name(j)}: best per island ({stat}) over {n} island(s)", fontsize=10)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("generation")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    fig.suptitle(f"{run.problem}: {n} islands, generations 0-{run.generation}")
    return _save(fig, path)


def migrations_figure(run, path):
    """Heat map of the migrants each island sent to each other island, summed over all epochs."""
    n = run.n_islands
    matrix = migration_matrix(run.migrations, n)
    epochs = len({row["epoch"] for row in run.migrations})
    side = min(10.0, 3.5 + 0.35 * n)
    fig = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="viridis", vmin=0, vmax=max(1, int(matrix.max())), origin="upper")
    fig.colorbar(image, ax=ax, label="migrants (total)")
    ticks = range(n) if n <= 32 else range(0, n, max(1, n // 16))
    ax.set_xticks(list(ticks))
    ax.set_yticks(list(ticks))
    ax.set_xlabel("destination island")
    ax.set_ylabel("source island")
    if n <= 12:
        top = matrix.max()
        for (src, dst), count in np.ndenumerate(matrix):
            if count:
                ax.text(dst, src, str(count), ha="center", va="center", fontsize=8,
                        color="black" if count > 0.6 * top else "white")
    what = f"over {epochs} epoch(s)" if epochs else "none yet"
    ax.set_title(f"migrants sent, source -> destination ({what})", fontsize=10)
    return _save(fig, path)


def pareto_figure(run, path):
    """The merged Pareto front of hall_of_fame.json: every pair of objectives (with three, each pair is
    coloured by the third objective, its colour bar below the panel so that no label meets the next panel)."""
    k = run.n_objectives
    points = np.array([entry["fitness"] for entry in run.hall_of_fame], dtype=np.float64).reshape(-1, k)
    points = points[np.isfinite(points).all(axis=1)]
    pairs = list(itertools.combinations(range(k), 2))
    cols = min(3, len(pairs))
    rows = -(-len(pairs) // cols)
    coloured = k == 3
    width = 4.6 if cols == 1 else 5.2
    fig = Figure(figsize=(width * cols + 0.6, (4.0 + 0.9 * coloured) * rows + 0.6), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.12, h_pad=0.12, wspace=0.06, hspace=0.06)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (a, b) in zip(axes, pairs):
        if coloured:
            c = 3 - a - b
            dots = ax.scatter(points[:, a], points[:, b], c=points[:, c], cmap="viridis", s=28, edgecolors="0.2",
                              linewidths=0.4)
            bar = fig.colorbar(dots, ax=ax, location="bottom", shrink=0.9, aspect=30, pad=0.02)
            bar.set_label(f"colour: {run.objective_name(c)} ({_direction(run, c)})", fontsize=9)
            bar.ax.tick_params(labelsize=8)
        else:
            ax.scatter(points[:, a], points[:, b], s=28, color="C0", edgecolors="0.2", linewidths=0.4)
        ax.set_xlabel(f"{run.objective_name(a)} ({_direction(run, a)})")
        ax.set_ylabel(f"{run.objective_name(b)} ({_direction(run, b)})")
        ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
        ax.tick_params(labelsize=8)
        ax.grid(True, alpha=0.3)
    for ax in axes[len(pairs):]:
        ax.set_visible(False)
    fig.suptitle(f"{run.problem}: merged Pareto front, {len(points)} individual(s) (hall_of_fame.json)")
    return _save(fig, path)


_PERIOD_STYLE = {"train": ("training", "tab:blue", 0.07), "in-sample": ("in-sample", "tab:blue", 0.07),
                 "selection": ("selection", "tab:green", 0.12), "holdout": ("holdout", "tab:orange", 0.14)}
_KEY_WIDTH = 150  # characters per line of an expression in equity.png's key


def _colour(k):
    return f"C{k % 10}"


def _shade_periods(ax, spans, label=True):
    """Shade each period [(name, first date, last date)] and write its name at the top of the axes."""
    for name, start, end in spans:
        text, colour, alpha = _PERIOD_STYLE.get(name, (name, "0.5", 0.08))
        ax.axvspan(start, end, color=colour, alpha=alpha, linewidth=0)
        if label:
            ax.text(start, 0.985, f" {text}", transform=ax.get_xaxis_transform(), ha="left", va="top", fontsize=8,
                    color="0.25")


def _plain(value, _position=None):
    return f"{value:g}"


def _log_if_positive(ax, arrays):
    values = np.concatenate([a[np.isfinite(a)] for a in arrays]) if arrays else np.array([])
    if values.size and values.min() > 0:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(_plain))
        ax.yaxis.set_minor_formatter(FuncFormatter(_plain) if values.max() / values.min() < 20 else NullFormatter())
        return True
    return False


def equity_figure(panels, path, title, key):
    """Equity of buy-and-hold and of each strategy, one panel per market (tearsheet.EquityPanel: curves labelled
    by id, periods shaded and named), log scale; below the panels a key that maps each id to its whole
    expression (`key`: [(id, expression)])."""
    lines = sum(len(textwrap.wrap(expression, _KEY_WIDTH)) or 1 for _, expression in key)
    fig = Figure(figsize=(11, 4.2 * len(panels) + 0.8 + 0.2 * lines), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels):
        _shade_periods(ax, panel.spans)
        for k, (sid, equity) in enumerate(panel.curves):
            bh = sid == "BH"
            ax.plot(panel.dates, equity, color="black" if bh else _colour(k - 1), linewidth=1.6 if bh else 1.1,
                    label=sid, zorder=3 if bh else 2)
        log = _log_if_positive(ax, [e for _, e in panel.curves])
        ax.set_ylabel(f"equity (start = 1{', log scale' if log else ''})")
        ax.set_title(panel.market, fontsize=10)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("date")
    handles, ids = axes[0].get_legend_handles_labels()
    expressions = dict(key)
    labels = [f"{sid}  " + "\n       ".join(textwrap.wrap(expressions.get(sid, ""), _KEY_WIDTH) or [""])
              for sid in ids]
    fig.legend(handles, labels, loc="outside lower left", ncol=1, fontsize=8, frameon=False)
    fig.suptitle(title)
    return _save(fig, path)


def strategy_figure(view, path, title):
    """One strategy's tearsheet (tearsheet.StrategyView): equity against buy-and-hold with the periods shaded
    and named (log scale), the drawdown of both, and the return of each calendar year (years shaded by the
    period most of their days belong to)."""
    fig = Figure(figsize=(11, 9.0), layout="constrained")
    ax_eq, ax_dd, ax_year = fig.subplots(3, 1, gridspec_kw={"height_ratios": [3.0, 1.4, 1.8]})
    colour = _colour(view.index)
    for ax in (ax_eq, ax_dd):
        _shade_periods(ax, view.spans, label=ax is ax_eq)
    ax_eq.plot(view.dates, view.bh_equity, color="black", linewidth=1.4, label="BH (buy and hold)", zorder=3)
    ax_eq.plot(view.dates, view.equity, color=colour, linewidth=1.3, label=view.sid, zorder=4)
    log = _log_if_positive(ax_eq, [view.equity, view.bh_equity])
    ax_eq.set_ylabel(f"equity (start = 1{', log' if log else ''})")
    ax_eq.set_title(f"equity on {view.market}", fontsize=10)
    ax_eq.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    ax_dd.fill_between(view.dates, view.drawdown * 100, 0, color=colour, alpha=0.35, linewidth=0, label=view.sid)
    ax_dd.plot(view.dates, view.bh_drawdown * 100, color="black", linewidth=0.9, label="BH")
    ax_dd.set_ylabel("drawdown (%)")
    ax_dd.set_title("drawdown from the running peak", fontsize=10)
    ax_dd.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    ax_dd.sharex(ax_eq)
    x = np.arange(len(view.years))
    for i, period in enumerate(view.year_periods):
        _, shade, alpha = _PERIOD_STYLE.get(period, (period, "0.5", 0.08))
        ax_year.axvspan(i - 0.5, i + 0.5, color=shade, alpha=alpha, linewidth=0)
    ax_year.bar(x - 0.2, view.yearly * 100, width=0.4, color=colour, label=view.sid)
    ax_year.bar(x + 0.2, view.bh_yearly * 100, width=0.4, color="0.45", label="BH")
    ax_year.axhline(0, color="0.2", linewidth=0.7)
    step = max(1, -(-len(view.years) // 25))
    ax_year.set_xticks(x[::step], [str(y) for y in view.years[::step]], fontsize=8,
                       rotation=45 if len(view.years) > 12 else 0)
    ax_year.set_xlim(-0.6, len(view.years) - 0.4)
    ax_year.set_ylabel("return (%)")
    ax_year.set_title("calendar-year returns (background: the period most of the year's days are in)", fontsize=10)
    ax_year.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)
    for ax in (ax_eq, ax_dd, ax_year):
        ax.grid(True, alpha=0.3)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)
