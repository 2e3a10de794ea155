"""A run from start to finish on every rank: config, problem, world checks, evolution, outputs.

`run` is `hpcevo run` (the CLI); `execute` is what both the CLI and `hpcevo.evolve` drive.  User mistakes
are found once (config on rank 0, the problem on every rank) and raised as the same UserError on every
rank together.  Anything else that goes wrong on any rank ends the whole job at once through
`World.abort`, naming the rank and host (or, in a single process driven from Python, propagates).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import pickle
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import IMPORTED, __version__
from .checkpoint import CHECKPOINT_NAME, CheckpointError
from .comm import World, detect_world
from .engine import Control, resolve_topology, run_islands
from .errors import UserError, WorldError
from .migration import RouteMismatch
from .problem import Problem, check_algorithm, load_problem, resolved_options
from .resume import plan_run
from .rundir import MemoryRun, OutputError, RunFolder
from .stopping import EXIT_INTERRUPTED, EXIT_OUTPUT, EXIT_STOPPED, StopFlag

__all__ = ["run", "execute", "Outcome", "report_crash", "crash_text", "OutputError"]


@dataclass
class Outcome:
    """What `execute` returns on every rank: the exit status; on rank 0 also the results and summary."""

    status: int
    config: object = None
    problem: Problem | None = None
    results: dict | None = None
    summary: dict | None = None
    run_dir: str | None = None
    sink: object = None


def run(config_path, overrides, out=sys.stdout, resume=None, comm=None):
    """`hpcevo run`: run (or with `resume`, continue) the search described by the config file and flags on
    `comm` (default MPI.COMM_WORLD); returns the exit status (0 complete, EXIT_STOPPED stopped early with a
    checkpoint).  A user mistake raises UserError on every rank."""
    return execute(lambda: plan_run(config_path, overrides, resume), comm=comm, out=out).status


def _check_world(world, config):
    """Raise WorldError when the launched ranks do not fit the config; return the number of groups."""
    rpi = config.ranks_per_island
    if world.size == 1:
        return 1
    if world.size % rpi:
        raise WorldError(f"{world.size} ranks cannot be split into groups of ranks_per_island = {rpi}: launch a "
                         f"multiple of {rpi} ranks (e.g. mpiexec -n {rpi * max(1, world.size // rpi)}) or change "
                         f"--ranks-per-island.")
    groups = world.size // rpi
    if config.islands and config.islands < groups:
        raise WorldError(f"islands = {config.islands} is fewer than the {groups} rank groups ({world.size} ranks / "
                         f"ranks_per_island {rpi}): {groups - config.islands} group(s) would sit idle. Set islands to "
                         f"at least {groups}, raise --ranks-per-island, or launch fewer ranks.")
    if rpi > 1 and not world.thread_multiple():
        raise WorldError("ranks_per_island > 1 needs an MPI initialised with MPI_THREAD_MULTIPLE (group leaders "
                         "migrate while their executor serves workers), and this MPI did not grant it. Set "
                         "MPI4PY_RC_THREAD_LEVEL=multiple, use an MPI built with thread support (e.g. the mpich "
                         "extra: pip install 'hpcevo[mpich]'), or run with ranks_per_island = 1.")
    return groups


def _agree(world, error):
    """All ranks exchange their own user error (or None); every rank raises the first one found."""
    errors = world.allgather(None if error is None else (str(error), type(error)))
    for rank, found in enumerate(errors):
        if found is not None:
            message, kind = found
            raised = kind(message) if issubclass(kind, UserError) else UserError(message)
            raised.rank = rank
            raise raised


def _rank0(world, step):
    """Run `step` on rank 0 only and broadcast its value; a UserError there is raised on every rank."""
    payload = None
    if world.rank == 0:
        try:
            payload = (step(), None)
        except UserError as exc:
            payload = (None, (str(exc), type(exc)))
    value, error = world.bcast(payload)
    if error is not None:
        raise error[1](error[0])
    return value


def execute(prepare: Callable[[], tuple], *, source=None, comm=None, out=sys.stdout, memory=False,
            crash: str = "abort", world: World | None = None, cli: bool | str = True) -> Outcome:
    """Run the search `prepare()` describes (it returns (Config, Start); called on rank 0 only).

    `source`: the problem as an object (a toolbox or a factory) instead of config.problem's name; `memory`:
    keep the results in memory instead of a run folder; `crash`: "abort" ends the whole job on an unexpected
    error (the CLI, and any run over several ranks), "raise" lets it propagate (one process driven from Python);
    `cli`: messages for the command line (a quiet run still prints where its results are; a stopped run is
    continued with `--resume`), or the command line that continues it (a walk-forward's window); False for
    `evolve` (continued with `resume=`).
    """
    started = time.perf_counter()
    world = world or detect_world(comm)
    in_python = crash == "raise" and world.size == 1
    stop = StopFlag(announce=world.rank == 0,
                    interrupt_now=_raise_interrupt if in_python else lambda: _interrupt_now(world))
    installed = _install(stop)
    try:
        return _execute(world, stop, prepare, source, out, memory, in_python, started, cli)
    finally:
        if installed:
            stop.restore()


def _install(stop):
    """Route the stop signals to `stop`; not possible (and not needed) outside the main thread."""
    try:
        stop.install()
    except ValueError:
        return False
    return True


def _raise_interrupt():
    raise KeyboardInterrupt


def _execute(world, stop, prepare, source, out, memory, in_python, started, cli):
    out = _SafeOutput(out)

    def plan():
        config, start = prepare()
        config = config.resolve(_check_world(world, config))
        if world.size > 1:
            _check_sendable(config)
        return config, start

    config, start = _rank0(world, plan)
    error = None
    try:
        problem = load_problem(config.problem, config.problem_options, config.algorithm, config.on_error,
                               source=source)
        resolve_topology(config.topology)
        if config.algorithm == "auto":
            config = dataclasses.replace(config, algorithm="nsga2" if problem.n_objectives > 1 else "simple")
        check_algorithm(problem, config.algorithm)
        config = dataclasses.replace(config, problem_options=resolved_options(source or config.problem,
                                                                              config.problem_options))
    except UserError as exc:
        problem, error = None, exc
    _agree(world, error)
    if world.rank == 0 and world.size == 1 and config.ranks_per_island > 1:
        print("hpcevo: note: one process runs every island; ranks_per_island applies under mpiexec.",
              file=sys.stderr)
    if world.rank == 0 and config.migration == "async" and config.out and config.checkpoint_every:
        print("hpcevo: note: migration = \"async\" writes its checkpoint only when the run ends or is stopped "
              "(a signal, stop_after, max_walltime); checkpoint_every is not used.", file=sys.stderr)
    root = world.rank == 0
    sink = None
    if root:
        sink = (MemoryRun if memory else RunFolder)(config, problem, start, world, out)
    run_dir = _rank0(world, sink.open if root else None)
    config = dataclasses.replace(config, out=run_dir)
    # which process is which rank: a rank killed outright cannot say so itself, and the launcher names PIDs
    processes = number_nodes(world.allgather({"rank": world.rank, "host": world.host, "pid": os.getpid(),
                                              "node": world.node_key(), "startup": startup_seconds()}))
    backend = world.backend(config.ranks_per_island)
    if root:
        sink.config, sink.backend = config, backend
        sink.write_ranks(processes)
        for line in spanning_groups(processes, config.ranks_per_island):
            print(f"hpcevo: note: {line}", file=sys.stderr, flush=True)
    stop.attach(backend.notify_stop)
    if root and config.progress:
        verb = f"resuming at generation {start.generation}" if start.resume_from else "starting"
        where = f" -> {run_dir}" if run_dir else " (results in memory)"
        print(f"hpcevo {__version__}: {config.problem}, {config.islands} islands x {config.population} "
              f"({config.algorithm}), {config.generations} generations, {world.size} rank(s) in "
              f"{backend.n_groups} group(s), seed {config.seed}, {verb}{where}", file=out, flush=True)
    control = Control(stop=stop, resuming=bool(start.resume_from), resume=sink.resume_state if root else None,
                      sink=sink, started=started)
    results = None
    with backend.serving(problem, config.chunksize, config.eval_timeout) as evaluator:
        if evaluator is not None:
            try:
                results = run_islands(config, problem, backend, evaluator, out=out, control=control)
            except OutputError as exc:
                report_crash(str(exc), EXIT_OUTPUT, plain=True, world=world)
            except (RouteMismatch, CheckpointError) as exc:
                if in_python:
                    sink.abandon()
                    raise
                # every leader found it at once (routes, or a checkpoint part that fails its check on resume):
                # rank 0 says it, the others leave the saying to rank 0
                if world.rank != 0:
                    time.sleep(_QUIET_ABORT_SECONDS)
                    world.abort(2)
                report_crash(str(exc), 2, plain=True, world=world)
            except BaseException:
                if in_python:
                    sink.abandon()
                    raise
                # abort from here: leaving the executor would wait on its workers
                report_crash(crash_text(), 130 if isinstance(sys.exc_info()[1], KeyboardInterrupt) else 1, world=world)
    outcome = Outcome(0, config, problem, run_dir=run_dir or None)
    if root:
        try:
            outcome = _finish(config, problem, results, sink, run_dir, out, cli)
        except OutputError as exc:
            if in_python:
                raise
            report_crash(str(exc), EXIT_OUTPUT, plain=True, world=world)
    outcome.status = world.bcast(outcome.status)
    backend.close()
    return outcome


def number_nodes(processes):
    """Number the nodes 0, 1, ... in rank order (each process reported its node's lowest rank)."""
    order = {}
    for process in processes:
        process["node"] = order.setdefault(process["node"], len(order))
    return processes


def spanning_groups(processes, ranks_per_island):
    """What to tell the user when a rank group (a leader and its evaluators) spans nodes: its evaluations then
    cross the network every generation.  Groups are contiguous ranks, so the launcher's placement decides."""
    if ranks_per_island < 2:
        return []
    nodes = [p["node"] for p in processes]
    split = [g for g in range(len(nodes) // ranks_per_island)
             if len(set(nodes[g * ranks_per_island:(g + 1) * ranks_per_island])) > 1]
    if not split:
        return []
    shown = ", ".join(map(str, split[:8])) + (f" and {len(split) - 8} more" if len(split) > 8 else "")
    return [f"{len(split)} of {len(nodes) // ranks_per_island} rank groups span two or more nodes (group(s) "
            f"{shown}): their evaluations cross the network. Place ranks in blocks (srun --distribution=block, "
            f"mpiexec's default) and make the ranks per node a multiple of ranks_per_island = {ranks_per_island}."]


def startup_seconds():
    """Seconds since this process started (the interpreter, MPI's initialisation, the imports, the config and
    the problem): from Linux's /proc, else since hpcevo was imported."""
    try:
        with open("/proc/self/stat") as stat, open("/proc/uptime") as uptime:
            started = int(stat.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime in clock ticks
            return round(max(0.0, float(uptime.read().split()[0]) - started / os.sysconf("SC_CLK_TCK")), 3)
    except (OSError, ValueError, IndexError):
        return round(time.perf_counter() - IMPORTED, 3)


_QUIET_ABORT_SECONDS = 3.0  # a leader other than rank 0 waits this long for rank 0 to report and end the job


def _check_sendable(config):
    """Rank 0 sends the config to every rank: a plugin given as a lambda or a local function cannot travel."""
    try:
        pickle.dumps(config, pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        from .errors import ConfigError

        names = [f.name for f in dataclasses.fields(config) if callable(getattr(config, f.name))]
        raise ConfigError(f"the settings {', '.join(names) or ''} cannot be sent to the other ranks ({exc}): under "
                          f"mpiexec a plugin given as a callable must be a module-level function (every rank "
                          f"runs the same script), not a lambda or a local function.") from None


def _interrupt_now(world):
    """A second SIGINT: end every rank at once (the last checkpoint, if any, stays as it was)."""
    os.write(2, f"hpcevo: second SIGINT on {world.where}: ending the whole job now, without a new checkpoint.\n"
                .encode())
    world.abort(EXIT_INTERRUPTED)


def _finish(config, problem, results, sink, run_dir, out, cli):
    """Rank 0: write the outputs and summary; returns the Outcome (status 0, or EXIT_STOPPED when stopped)."""
    stopped = results["stopped"]
    summary = sink.finish(results, sink.backend)
    outcome = Outcome(EXIT_STOPPED if stopped else 0, config, problem, results, summary, run_dir or None, sink)
    for line in sink.printed:  # the problem's own closing lines (the trading verdict), --quiet or not
        print(line, file=out, flush=True)
    if stopped:
        if not run_dir:
            where = "the results so far are in memory (evolve with out=DIR keeps a checkpoint to continue from)."
        elif cli:
            command = cli if isinstance(cli, str) else f"python -m hpcevo run --resume {run_dir}"
            where = (f"checkpoint written to {Path(run_dir) / CHECKPOINT_NAME}. Continue with:\n"
                     f"  {command}\n(on any number of ranks, e.g. under mpiexec or srun). Exit status "
                     f"{EXIT_STOPPED}.")
        else:
            where = (f"checkpoint written to {Path(run_dir) / CHECKPOINT_NAME}; continue with "
                     f"hpcevo.evolve(<the same problem>, resume={str(run_dir)!r}).")
        print(f"hpcevo: stopped after generation {results['generation']} of {config.generations} ({stopped}); "
              f"{where}", file=sys.stderr, flush=True)
        return outcome
    if config.progress:
        best = summary["best"]
        shown = "/".join(f"{v:.6g}" for v in best["fitness"]) if best else "n/a"
        where = f"; results in {run_dir}" if run_dir else ""
        print(f"done: {summary['evaluations']:,} evaluations in {summary['wall_seconds']:.2f}s "
              f"({summary['evaluations_per_second'] or 0:,.0f}/s), best {shown}{where}", file=out, flush=True)
    elif run_dir and cli:  # --quiet still says where the results are
        print(f"hpcevo: results in {run_dir}", file=out, flush=True)
    return outcome


class _SafeOutput:
    """Rank 0's stdout for progress lines: once the reader has gone (`| head`), lines are dropped and the run
    goes on to its checkpoint and outputs instead of dying of a BrokenPipeError."""

    def __init__(self, stream):
        self.stream = stream
        self.closed_by_reader = False

    def write(self, text):
        if not self.closed_by_reader:
            self._guard(self.stream.write, text)
        return len(text)

    def flush(self):
        if not self.closed_by_reader:
            self._guard(self.stream.flush)

    def _guard(self, call, *args):
        try:
            call(*args)
        except BrokenPipeError:
            self._gone()
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            self._gone()

    def _gone(self):
        self.closed_by_reader = True
        try:  # nothing more reaches the pipe, not even the interpreter's flush at exit
            fd = self.stream.fileno()
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
        except (AttributeError, OSError, ValueError):
            pass


def report_crash(exc_text, status=1, plain=False, world=None):
    """Print what failed where (or that Ctrl-C arrived), then end every rank of the job (never returns).

    `plain`: `exc_text` is a one-paragraph message, not a traceback; `world`: the run's (default: the
    launched processes)."""
    if world is None:
        try:
            world = detect_world()
        except WorldError:
            world = None
    where = world.where if world is not None else "this process"
    if status == 130:
        print(f"hpcevo: interrupted (SIGINT) on {where}; ending the whole job.", file=sys.stderr, flush=True)
    elif plain:
        print(f"hpcevo: error on {where}, ending the whole job: {exc_text}", file=sys.stderr, flush=True)
    else:
        print(f"hpcevo: {where} failed; ending the whole job.\n{exc_text}", file=sys.stderr, flush=True)
    if world is None:
        sys.exit(status)
    world.abort(status)


def crash_text():
    return traceback.format_exc().rstrip()

