"""The Python API: `evolve` runs an island-model search from a script, a notebook or under mpiexec;
`load_run` reads a finished (or running) run folder back as the same `Result`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from deap import base

from .checkpoint import CHECKPOINT_NAME, load_state
from .errors import ConfigError
from .output import MIGRATION_COLUMNS, logbook_columns, merged_hall_of_fame

__all__ = ["evolve", "load_run", "Result"]

TOOLBOX_LABEL = "toolbox"  # config.problem for a toolbox object handed to evolve (it has no importable name)


@dataclass
class Result:
    """A run's results: what `evolve` returns on rank 0 and `load_run` reads from a run folder.

    `hall_of_fame`: DEAP individuals, best first (the merged Pareto front when there are several objectives);
    `logbook`: one row per island and generation (columns `min`, `max`, `avg`, `std`, suffixed by objective
    name or index when there are several); `migrations`: one row per route that carried migrants;
    `populations`: the final population of each island, in island order; `summary`: summary.json's content;
    `run_dir`: the run folder, None for `out=None`.
    """

    hall_of_fame: list
    logbook: pd.DataFrame
    migrations: pd.DataFrame
    populations: list[list]
    summary: dict
    run_dir: str | None = None
    config: dict = field(default_factory=dict, repr=False)

    @property
    def best(self):
        """The first individual of the hall of fame (None when nothing was scored)."""
        return self.hall_of_fame[0] if self.hall_of_fame else None


def evolve(problem: base.Toolbox | Callable[..., base.Toolbox] | str, *, config: str | Path | None = None,
           comm: Any = None, out: str | Path | None = None, resume: str | Path | None = None,
           **settings: Any) -> Result | None:
    """Run an island-model search and return its Result (on rank 0; None on the other ranks under mpiexec).

    `problem`: a deap.base.Toolbox, a factory returning one, a built-in name ("rastrigin", "trading", ...) or a
    'package.module:name' string.  `config`: a TOML file of settings; `settings`: any config key as a keyword
    (islands=8, population=200, generations=300, topology="ring", emigration=my_function, ...; problem options
    as problem_options={...}), validated as the CLI validates flags: a mistake raises a UserError (on every
    rank) with the same message.  `out`: a run folder to write (the CLI's files), or None to keep everything
    in memory.  `resume`: a run folder to continue from its checkpoint (a stopped run, or a finished one given
    more generations=), or "auto" with out=DIR (resume there if it has a checkpoint, else start there); the
    problem must be the one that run used.  `comm`: the mpi4py communicator to run on (default
    MPI.COMM_WORLD; a single process runs every island itself).
    """
    from .resume import plan_run
    from .runner import execute

    settings = dict(settings)
    if "out" in settings:
        raise ConfigError("evolve() takes the run folder as out=..., a keyword of its own: it is already given.")
    source = None
    if isinstance(problem, base.Toolbox):
        source, settings["problem"] = problem, TOOLBOX_LABEL
    elif isinstance(problem, str):
        settings["problem"] = problem
    elif callable(problem):
        source, settings["problem"] = problem, _spec_of(problem)
    else:
        raise ConfigError(f"evolve(problem): got a {type(problem).__name__}; give a deap.base.Toolbox, a factory "
                          f"function returning one, a built-in problem name or a 'package.module:name' string.")
    if out is not None:
        settings["out"] = str(out)
    config_path = None if config is None else str(config)
    resume = None if resume is None else str(resume)
    if resume == "auto" and out is None:
        raise ConfigError("evolve(resume=\"auto\") needs the run folder: give out=RUN_DIR too (the run resumes "
                          "from its checkpoint if it has one, else starts there).")

    def prepare():
        return plan_run(config_path, settings, resume, override_kind="keyword")

    outcome = execute(prepare, source=source, comm=comm, out=sys.stdout, memory=out is None and resume is None,
                      crash="raise", cli=False)
    if outcome.results is None:  # not rank 0
        return None
    if outcome.run_dir:
        return load_run(outcome.run_dir)
    return _from_memory(outcome)


def _spec_of(obj):
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', type(obj).__name__)}"


def _from_memory(outcome):
    results, problem = outcome.results, outcome.problem
    columns = logbook_columns(problem.n_objectives)
    logbook = _rename(pd.DataFrame(results["rows"], columns=columns),
                      getattr(problem.toolbox, "objective_names", None))
    migrations = pd.DataFrame(results["migrations"], columns=MIGRATION_COLUMNS)
    return Result(list(results["hall_of_fame"]), logbook, _typed_migrations(migrations),
                  [list(st["population"]) for st in results["islands"]], outcome.summary, None,
                  _config_dict(outcome.config))


def load_run(run_dir: str | Path) -> Result:
    """The Result of the run in `run_dir`, from its files: summary.json, logbook.csv, migrations.csv and
    checkpoint.pkl with checkpoint.parts/ (the final populations and hall of fame).

    checkpoint.pkl is a pickle: unpickling can run code, so load only run folders from a source you trust.
    A run still in progress gives its last checkpoint's populations beside the logs written so far.
    """
    import tomllib

    folder = Path(run_dir)
    if not (folder / "summary.json").is_file():
        raise ConfigError(f"{folder} is not a finished hpcevo run folder: it has no summary.json. Give the folder "
                          f"a run wrote (hpcevo run --out DIR or evolve(..., out=DIR)).")
    try:
        summary = json.loads((folder / "summary.json").read_text())
        config = tomllib.loads((folder / "config.toml").read_text())
        logbook = pd.read_csv(folder / "logbook.csv")
        migrations = _typed_migrations(pd.read_csv(folder / "migrations.csv", dtype={"best_fitness": str}))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the run folder {folder}: {exc}. A run folder is read whole (summary.json, "
                          f"config.toml, logbook.csv, migrations.csv, {CHECKPOINT_NAME}).") from None
    state = load_state(folder / CHECKPOINT_NAME)
    hof = state.get("hall_of_fame")
    if hof is None:  # written by an hpcevo before 0.2: merge the islands' halls of fame without problem hooks
        hof = _merge_plain(state["islands"], config)
    return Result(list(hof), _rename(logbook, state.get("objective_names")), migrations,
                  [list(st["population"]) for st in state["islands"]], summary, str(folder), config)


def _merge_plain(islands, config):
    import operator

    from .problem import Problem

    sample = next((ind for st in islands for ind in st["hof"]), None)
    weights = tuple(sample.fitness.weights) if sample is not None else (1.0,)
    return merged_hall_of_fame(islands, Problem(config.get("problem", ""), base.Toolbox(), weights, None,
                                                operator.eq), config.get("hall_of_fame", 10))


def _rename(frame, names):
    """min_0/max_0/... -> min_<name>/... when the problem names its objectives (the trading problem does)."""
    if not names or len(names) < 2:
        return frame
    mapping = {f"{stat}_{j}": f"{stat}_{name}" for j, name in enumerate(names)
               for stat in ("min", "max", "avg", "std")}
    return frame.rename(columns=mapping)


def _typed_migrations(frame):
    return frame.astype({"epoch": "int64", "src": "int64", "dst": "int64", "count": "int64",
                         "best_fitness": "object"})


def _config_dict(config):
    import tomllib

    return tomllib.loads(config.to_toml())

