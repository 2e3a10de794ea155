"""`hpcevo walkforward`: every window's search, side by side on slices of the ranks or one after another.

Each window is an ordinary trading run (hpcevo.runner.execute) in its own folder, window-NN/, on the ranks of
its slot: the world is split into `parallel` slots of equal size and slot s runs windows s, s + parallel, ...
A window's results depend on the config, its seed and its dates only (islands are data, not ranks), so the
walk-forward's files are the same whatever the layout. When every window is complete, rank 0 stitches their test
periods (record.py). A stopped walk-forward (signal, --max-walltime, --stop-after) keeps its finished windows and
the running ones' checkpoints; `--resume DIR` continues it on any number of ranks.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
import tomllib
from pathlib import Path

from ..comm import detect_world
from ..config import load_config
from ..errors import ConfigError, UserError
from ..output import atomic_write, make_run_dir
from ..resume import plan_run, setting_differences
from ..runner import _rank0, execute
from ..stopping import EXIT_STOPPED
from .settings import walkforward_settings
from .windows import plan_windows, window_seed

__all__ = ["walkforward", "layout", "CONFIG_NAME", "WINDOW_OPTIONS"]

CONFIG_NAME = "config.toml"
WINDOW_OPTIONS = ("train_start", "holdout_start", "end")  # the trading options each window sets itself
DEFAULT_ISLANDS = 4  # fixed, not one per rank group: a window's results must not depend on its slot's size
# settings a resumed walk-forward may change: they do not change any window's results
RESUME_MAY_CHANGE = ("ranks_per_island", "chunksize", "out", "progress", "checkpoint_every", "max_walltime",
                     "stop_after", "eval_timeout")


def walkforward(config_path, overrides, resume=None, comm=None, out=sys.stdout):
    """Run (or continue) a walk-forward on every rank; returns the exit status (0 done, EXIT_STOPPED stopped
    with checkpoints). A user mistake raises the same UserError on every rank."""
    started = time.time()
    world = detect_world(comm)
    plan = _rank0(world, lambda: _prepare(config_path, overrides, resume))
    config, settings, windows, wf_dir = plan
    slots, size = layout(world.size, config.ranks_per_island, config.islands, len(windows), settings.parallel)
    slot = world.rank // size if world.rank < slots * size else None
    if world.rank == 0 and config.progress:
        idle = world.size - slots * size
        print(f"hpcevo walkforward: {len(windows)} windows of {settings.train_years:g} + {settings.test_years:g} "
              f"years, {slots} at a time on {size} rank(s) each{f' ({idle} idle)' if idle else ''} -> {wf_dir}",
              file=out, flush=True)
    mine = world.split(slot)
    status, error, done = 0, None, []
    if mine is not None:
        for window in windows[slot::slots]:
            folder = Path(wf_dir) / window.name
            if _complete(folder):
                done.append(window.index)
                continue
            left = config.max_walltime_seconds - (time.time() - started) if config.max_walltime else None
            if left is not None and left < 1:
                status = EXIT_STOPPED
                break
            try:
                outcome = execute(lambda w=window, f=folder, t=left: _window_plan(config, settings, w, f, t),
                                  world=mine, out=out, cli=f"python -m hpcevo walkforward --resume {wf_dir}")
            except UserError as exc:
                error = (str(exc), type(exc))
                break
            if outcome.status:
                status = outcome.status
                break
            done.append(window.index)
        if mine is not world:
            mine.free()
    reports = world.allgather((status, error, done))
    for _, found, _ in reports:
        if found is not None:
            raise found[1](found[0])
    status = max(s for s, _, _ in reports)
    finished = sorted(i for _, _, d in reports for i in d)
    if status:
        if world.rank == 0:
            print(f"hpcevo: walk-forward stopped with {len(finished)} of {len(windows)} windows complete; continue "
                  f"with `python -m hpcevo walkforward --resume {wf_dir}` (on any number of ranks).",
                  file=sys.stderr, flush=True)
        return status
    if world.rank == 0:
        from .record import write_walkforward

        lines = write_walkforward(wf_dir, config, settings, windows,
                                  {"ranks": world.size, "parallel": slots, "ranks_per_window": size,
                                   "wall_seconds": time.time() - started})
        for line in lines:
            print(line, file=out, flush=True)
    world.barrier()
    return 0


def layout(n_ranks, ranks_per_island, islands, n_windows, parallel=0):
    """(slots, ranks per slot): `parallel` windows at once (0: as many as fill the ranks, each window using at
    most islands x ranks_per_island of them); ranks past slots x size stay idle."""
    if n_ranks == 1:
        return 1, 1
    most = islands * ranks_per_island
    slots = min(n_windows, parallel or max(1, n_ranks // most))
    size = min(most, n_ranks // slots // ranks_per_island * ranks_per_island)
    if size < 1:
        raise ConfigError(f"walkforward.parallel = {parallel} windows at once need at least "
                          f"{parallel * ranks_per_island} ranks ({ranks_per_island} per island group); {n_ranks} were "
                          f"launched. Lower --parallel or launch more ranks.")
    return slots, size


def _complete(folder):
    try:
        return json.loads((folder / "summary.json").read_text())["status"] == "complete"
    except (OSError, ValueError, KeyError):
        return False


def _prepare(config_path, overrides, resume):
    """Rank 0: (Config, WalkForward, windows, folder); the folder is created (new) or checked (resumed)."""
    overrides = dict(overrides or {})
    if resume == "auto":  # the SLURM script's way: resume --out's walk-forward if it has begun, else start it
        out = overrides.get("out") or load_config(config_path, overrides).out
        if not out:
            raise ConfigError("--resume auto needs the walk-forward folder: give --out WF_DIR too.")
        resume = out if (Path(out) / CONFIG_NAME).exists() else None
    if resume:
        wf_dir = Path(resume)
        saved_path = wf_dir / CONFIG_NAME
        if not saved_path.exists():
            raise ConfigError(f"--resume {resume}: there is no walk-forward folder {wf_dir} (it holds {CONFIG_NAME} "
                              f"and window-NN/ folders). Give the folder a walk-forward wrote.")
        try:
            saved = tomllib.loads(saved_path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{saved_path} cannot be read ({exc}); the walk-forward cannot be resumed.") from None
        if overrides.get("out") and Path(overrides["out"]).resolve() != wf_dir.resolve():
            raise ConfigError(f"--resume {resume} continues the walk-forward in that folder, but --out "
                              f"{overrides['out']} names another one. Drop --out.")
        overrides["out"] = str(wf_dir)
        config = load_config(config_path, overrides, base=saved, base_origin=f"walk-forward {saved_path}")
        _check_resume(config, saved, saved_path)
    else:
        config = load_config(config_path, overrides)
    if config.problem != "trading":
        raise ConfigError(f"walkforward runs the trading problem (its windows are periods of market data); "
                          f"problem = {config.problem!r}. Drop --problem, or use `hpcevo run` for other problems.")
    if config.migration == "async":
        raise ConfigError("walkforward needs reproducible windows: migration = \"async\" depends on timing. Use "
                          "neighbour (the default) or via_root.")
    for key in WINDOW_OPTIONS:
        if key in config.problem_options:
            raise ConfigError(f"problem option {key} is set by each walk-forward window; remove it (cut the data "
                              f"with --train-years, --test-years and --windows instead).")
    settings = walkforward_settings(config.walkforward)
    config = dataclasses.replace(config, islands=config.islands or DEFAULT_ISLANDS)
    windows = _plan(config, settings)
    if not resume:
        try:
            wf_dir = make_run_dir(config.out, "walkforward")
            config = dataclasses.replace(config, out=str(wf_dir))
            atomic_write(wf_dir / CONFIG_NAME, config.to_toml())
        except OSError as exc:
            raise ConfigError(f"cannot create or write the walk-forward folder {config.out}: "
                              f"{exc.strerror or exc}. Choose another --out.") from None
    else:
        atomic_write(wf_dir / CONFIG_NAME, config.to_toml())
    return config, settings, windows, str(wf_dir)


def _same(key, now, was):
    if key == "walkforward":  # how many windows run at once does not change their results
        now, was = ({k: v for k, v in d.items() if k != "parallel"} for d in (now, was))
    return now == was


def _check_resume(config, saved, path):
    differences = setting_differences(config, saved, RESUME_MAY_CHANGE, "walk-forward", _same)
    if differences:
        raise ConfigError(f"cannot resume the walk-forward of {path}: {'; '.join(differences)}. These settings "
                          f"change the windows' results; remove them from the flags or config file, or start a new "
                          f"walk-forward with another --out.")


def _plan(config, settings):
    """The windows over the data of config.problem_options (their first and last usable dates)."""
    import numpy as np

    from ..trading.backtest import bar_returns, valid_span
    from ..trading.calendar import WARMUP_BARS, usable_dates
    from ..trading.data import load_markets
    from ..trading.language import WINDOWS

    options = config.problem_options
    markets = load_markets(options.get("data", "sp500"), min_bars=3, longest_window=max(WINDOWS))
    fill = options.get("fill", "close")
    spans = [valid_span(bar_returns(m.open, m.close, fill if fill in ("close", "next_open") else "close"))
             for m in markets]
    first, end = usable_dates(markets, spans)
    if first is None:
        raise ConfigError(f"{markets[0].source}: no instrument has more than the {WARMUP_BARS} bars of indicator "
                          f"warm-up; walk-forward windows need years of data.")
    return plan_windows(first, np.datetime64(end, "D"), settings.train_years, settings.test_years,
                        settings.windows, markets[0].source)


def window_config(config, settings, window):
    """The settings of one window's search: the walk-forward's, with the window's dates and seed."""
    options = {**config.problem_options, **window.problem_options()}
    options["report_top"] = max(int(options.get("report_top", 10)), settings.top)
    values = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
              if f.name not in ("walkforward", "out", "max_walltime")}
    values.update(problem_options=options, seed=window_seed(config.seed, window.index))
    return values


def _window_plan(config, settings, window, folder, seconds_left):
    values = window_config(config, settings, window)
    values["out"] = str(folder)
    if seconds_left is not None:
        values["max_walltime"] = str(max(1, int(seconds_left)))
    return plan_run(None, values, resume="auto", override_kind="keyword")
