"""The report's PNG figures (the only module that imports matplotlib; `Figure` objects, no pyplot state).

Each function takes plain data from rundata / equity and writes one file, through a temporary file and a
rename so a figure being viewed is never half-written.
"""

import itertools
import os

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .rundata import migration_matrix

__all__ = ["fitness_figure", "migrations_figure", "pareto_figure", "equity_figure"]

_LEGEND_MAX = 12  # more islands than this: no per-island legend entries
_DPI = 100


def _save(fig, path):
    tmp = path.with_name(f".{path.stem}.tmp.png")
    fig.savefig(tmp, format="png", dpi=_DPI)
    os.replace(tmp, path)
    return path


def _direction(run, j):
    return "minimised" if run.weights[j] < 0 else "maximised"


def fitness_figure(run, migration_gens, path):
    """Best (solid) and average (dashed) fitness per island over generations, one panel per objective, with a
    vertical line at each generation after which migrants moved."""
    k = run.n_objectives
    fig = Figure(figsize=(9, 3.2 * k + 0.8), layout="constrained")
    axes = fig.subplots(k, 1, sharex=True, squeeze=False)[:, 0]
    islands = run.islands
    colours = [f"C{i % 10}" for i in range(len(islands))]
    island_col, gen_col = run.logbook["island"], run.logbook["gen"]
    for j, ax in enumerate(axes):
        best, avg = run.stat(run.best_stat(j), j), run.stat("avg", j)
        for island, colour in zip(islands, colours):
            rows = island_col == island
            order = np.argsort(gen_col[rows], kind="stable")
            gens = gen_col[rows][order]
            label = f"island {island}" if len(islands) <= _LEGEND_MAX else None
            ax.plot(gens, np.where(np.isfinite(best[rows][order]), best[rows][order], np.nan), color=colour,
                    linewidth=1.4, label=label)
            ax.plot(gens, np.where(np.isfinite(avg[rows][order]), avg[rows][order], np.nan), color=colour,
                    linewidth=0.9, linestyle="--")
        for g, gen in enumerate(migration_gens):
            ax.axvline(gen, color="0.55", linewidth=0.8, linestyle=":", label="migration" if g == 0 else None)
        ax.set_ylabel(f"{run.objective_name(j)} ({_direction(run, j)})")
        ax.set_title(f"{run.objective_name(j)}: best ({run.best_stat(j)}, solid) and average (dashed) per island",
                     fontsize=10)
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("generation")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(islands) <= _LEGEND_MAX or migration_gens:
        axes[0].legend(fontsize=8, ncol=min(4, len(islands) + 1), loc="best")
    fig.suptitle(f"{run.problem}: {len(islands)} islands, generations 0-{run.generation}")
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
    coloured by the third objective)."""
    k = run.n_objectives
    points = np.array([entry["fitness"] for entry in run.hall_of_fame], dtype=np.float64).reshape(-1, k)
    points = points[np.isfinite(points).all(axis=1)]
    pairs = list(itertools.combinations(range(k), 2))
    cols = min(3, len(pairs))
    rows = -(-len(pairs) // cols)
    fig = Figure(figsize=(4.6 * cols + 0.6, 4.0 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (a, b) in zip(axes, pairs):
        if k == 3:
            c = 3 - a - b
            dots = ax.scatter(points[:, a], points[:, b], c=points[:, c], cmap="viridis", s=28, edgecolors="0.2",
                              linewidths=0.4)
            fig.colorbar(dots, ax=ax, label=f"{run.objective_name(c)} ({_direction(run, c)})")
        else:
            ax.scatter(points[:, a], points[:, b], s=28, color="C0", edgecolors="0.2", linewidths=0.4)
        ax.set_xlabel(f"{run.objective_name(a)} ({_direction(run, a)})")
        ax.set_ylabel(f"{run.objective_name(b)} ({_direction(run, b)})")
        ax.grid(True, alpha=0.3)
    for ax in axes[len(pairs):]:
        ax.set_visible(False)
    fig.suptitle(f"{run.problem}: merged Pareto front, {len(points)} individual(s) (hall_of_fame.json)")
    return _save(fig, path)


def _short(text, width=70):
    return text if len(text) <= width else text[: width - 3] + "..."


def equity_figure(panels, path, title):
    """Equity of each strategy and of buy-and-hold per market: in-sample, then the holdout (out-of-sample,
    continued from the in-sample end so the lines join), on shaded backgrounds."""
    fig = Figure(figsize=(11, 4.2 * len(panels) + 0.8), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, panel in zip(axes, panels):
        ax.axvspan(panel.in_sample_dates[0], panel.in_sample_dates[-1], color="tab:blue", alpha=0.06,
                   label="in-sample (evolution)")
        ax.axvspan(panel.holdout_dates[0], panel.holdout_dates[-1], color="tab:orange", alpha=0.12,
                   label="holdout (out-of-sample)")
        curves = [(panel.buy_and_hold, "black", 1.6)] + [(c, f"C{i % 10}", 1.1)
                                                          for i, c in enumerate(panel.strategies)]
        for curve, colour, width in curves:
            joined = curve.in_sample[-1] if curve.in_sample.size else 1.0
            ax.plot(panel.in_sample_dates, curve.in_sample, color=colour, linewidth=width, label=_short(curve.label))
            ax.plot(panel.holdout_dates, joined * curve.holdout, color=colour, linewidth=width)
        ax.set_ylabel("equity (start = 1)")
        ax.set_title(f"{panel.market}", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    axes[-1].set_xlabel("date")
    fig.suptitle(title)
    return _save(fig, path)
