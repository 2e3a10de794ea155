"""The island-model loop: evolve each hosted island for an epoch, exchange migrants, repeat.

Runs unchanged on the serial backend and on MPI group leaders; only the backend differs.  How migrants
and rank 0's decisions travel is the migration scheme's business (`hpcevo.migration`); where records and
checkpoints go is the run sink's (`hpcevo.rundir`).
"""

from __future__ import annotations

import math
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from .checkpointing import restore_islands, results_of, take_checkpoint
from .island import Island
from .messages import EpochReport
from .migration import MigrationScheme, check_resumable, make_scheme, route_migrants, rows_in_order
from .output import LogShard
from .rng import epoch_rng, island_streams
from .stopping import StopFlag
from .topology import check_routes

__all__ = ["run_islands", "resolve_topology", "route_migrants", "Control", "RunSink", "MemorySink",
           "epoch_length"]


def resolve_topology(spec):
    """A topology callable from a built-in name or a 'package.module:function'."""
    from .registry import TOPOLOGY

    return TOPOLOGY.resolve(spec)


def epoch_length(config, done):
    """Generations of the epoch that starts after `done`: epochs end at multiples of migration_interval (and
    at the last generation), so extending a finished run continues the same epochs an uninterrupted run has."""
    return min(config.migration_interval - done % config.migration_interval, config.generations - done)


class RunSink(Protocol):
    """Where rank 0 puts what a run produces while it runs (a run folder, or memory)."""

    def record(self, epoch: int, rows: list[dict], migrations: list[dict], seconds: float) -> None:
        """One epoch's logbook rows (island order within each generation) and migration records."""

    def checkpoint(self, state: dict) -> None:
        """A consistent state of every island (periodic, on a stop, and at the end)."""

    def merge_logs(self, part: int) -> None:
        """Take the leaders' log shards of `part` into the logs (a scheme that leaves the rows on the leaders)."""

    def progress(self, results: dict) -> None:
        """The results so far, after a periodic checkpoint."""


class MemorySink:
    """Keeps the logbook rows, migration records and epoch times in memory (library use and tests); a run
    folder streams them to its files instead, so nothing grows with the run's length."""

    def __init__(self):
        self.rows, self.migrations, self.epoch_seconds = [], [], []

    def record(self, epoch, rows, migrations, seconds):
        self.rows.extend(rows)
        self.migrations.extend(migrations)
        if seconds is not None:  # None: records that close no epoch (as timings.csv skips them)
            self.epoch_seconds.append(seconds)

    def checkpoint(self, state):
        pass

    def merge_logs(self, part):
        raise RuntimeError("a run kept in memory gathers its logbook rows to rank 0: it has no log shards")

    def progress(self, results):
        pass

    def attach(self, results):
        """Add the kept records to `results`, and each island's own rows to its entry."""
        for entry in results["islands"]:
            entry["rows"] = [row for row in self.rows if row["island"] == entry["index"]]
        results.update(rows=self.rows, migrations=self.migrations, epoch_seconds=self.epoch_seconds)
        return results


class _Clock:
    """Wall-clock split of the run (kept out of the files that must be byte-identical)."""

    def __init__(self):
        self.start = time.perf_counter()
        self.migration = 0.0
        self.waiting = 0.0
        self.checkpoint = 0.0
        self.last_checkpoint = 0.0
        self.epochs_run = 0  # in this process (a resumed run counts from its restart)
        self.base_evals = 0  # evaluations done before this process started (resumed runs)


@dataclass
class Control:
    """How a run starts and stops: resume state, where its records go, stop flag and wall-time budget.

    `resume` is the checkpoint state on rank 0 (None elsewhere); `resuming` is known on every rank.
    `sink` receives records and checkpoints on rank 0 (a MemorySink when None); `scheme` exchanges
    migrants (config.migration's when None); `started` is when the process began (perf_counter).
    """

    stop: StopFlag = field(default_factory=StopFlag)
    resuming: bool = False
    resume: dict | None = None
    sink: RunSink | None = None
    scheme: MigrationScheme | None = None
    started: float = field(default_factory=time.perf_counter)


def run_islands(config, problem, backend, evaluator, out=sys.stdout, control=None):
    """Evolve all islands; on rank 0 return the merged results (None on other leaders).

    The results say `stopped` (the reason) when a signal, the wall-time budget or `stop_after` ended the
    run early; the state was checkpointed first, so `--resume` continues it exactly.
    """
    control = control or Control()
    if config.migration == "async":  # no epoch barrier: its own loop (hpcevo.asynchronous)
        from .asynchronous import run_async

        return run_async(config, problem, backend, evaluator, out, control)
    clock = _Clock()
    n = config.islands
    streams = island_streams(config.seed, n)
    topology = resolve_topology(config.topology)
    scheme = control.scheme or make_scheme(config, logs_on_root=not config.out)
    traffic = _Traffic(backend)
    reported = set()  # each kind of evaluation failure is printed once per process, not once per island
    islands = [Island(i, config, problem, streams[i], reported) for i in backend.island_ids(n)]
    sink = control.sink if control.sink is not None else MemorySink()
    # rows and records stay where they arise when the scheme leaves them there (a run folder, Neighbour)
    shard = None if scheme.gathers_logs else LogShard(config.out, backend.leader_ranks().index(backend.world.rank),
                                                      problem.n_objectives)
    try:
        session_epochs = []
        pending = False
        sequence = 1  # of the next checkpoint; its part files carry it in their names
        if control.resuming:
            done, pending, sequence, clock.base_evals = restore_islands(backend, config, control.resume, islands)
            # a run that ended at an epoch boundary skipped that epoch's migration: an extension does it first
            pending = pending and done < config.generations
            check_resumable(backend, islands, config)  # an async checkpoint's unequal generations need async
        else:
            for island in islands:
                island.start(evaluator)
            done = 0
        stopped = None

        def exchange(epoch, migrate, last, compute, rows):
            outgoing = {island.index: island.emigrants(config.migrants) if migrate else [] for island in islands}
            report = EpochReport(outgoing, {island.index: (island.best(), island.evaluations) for island in islands},
                                 compute, control.stop.reason and f"{control.stop.reason} on {backend.world.where}",
                                 rows, migrate)

            def routes():
                return check_routes(topology(n, epoch, epoch_rng(config.seed, epoch)), n, config.topology)

            def decide(totals):
                if last:
                    return None, False
                return _decide(config, backend, totals, control, clock, epoch, done, session_epochs)

            with traffic.epoch():
                result = scheme.exchange(backend, epoch, report, routes, decide)
            for island in islands:
                island.receive(result.decision.incoming.get(island.index, []))
            if shard is not None:
                shard.add(rows_in_order([rows]), result.own_records)
            return result

        if pending:  # the migration an uninterrupted run made at this generation
            epoch = done // config.migration_interval - 1
            result = exchange(epoch, True, True, 0.0, {})
            if backend.is_root:
                sink.record(epoch, [], result.records, None)
        while done < config.generations:
            t_epoch = time.perf_counter()
            epoch = done // config.migration_interval
            gens = epoch_length(config, done)
            for island in islands:
                island.evolve(gens, evaluator)
            done += gens
            t0 = time.perf_counter()
            last = done >= config.generations
            boundary = done % config.migration_interval == 0
            migrate = not last and boundary and config.migrants > 0
            result = exchange(epoch, migrate, last, t0 - t_epoch,
                              {island.index: island.take_rows() for island in islands})
            spent = time.perf_counter() - t0
            if backend.is_root:
                # Rank 0's gather also waits for the slowest leader's epoch: count that as load imbalance.
                wait = max(0.0, min(spent, result.totals.compute_seconds - (t0 - t_epoch)))
                clock.waiting += wait
                clock.migration += spent - wait
            session_epochs.append(time.perf_counter() - t_epoch)
            clock.epochs_run += 1
            if backend.is_root:
                sink.record(epoch, result.rows, result.records, session_epochs[-1])
                _progress(config, problem.weights, epoch + 1, done, result.totals, clock, out)
            if result.decision.stop_reason:
                stopped = result.decision.stop_reason
                break
            if result.decision.checkpoint_now:
                take_checkpoint(backend, islands, config, sink, clock, done, final=False, shard=shard,
                                sequence=sequence)
                sequence += 1
        pending = done >= config.generations and done % config.migration_interval == 0 and config.migrants > 0
        state = take_checkpoint(backend, islands, config, sink, clock, done, final=True, pending=pending, shard=shard,
                            sequence=sequence)
        coordination = traffic.summary(scheme.name)
        if not backend.is_root:
            return None
        results = {**results_of(state, clock, stopped), "coordination": coordination}
        return sink.attach(results) if isinstance(sink, MemorySink) else results
    except BaseException:
        if shard is not None:  # a run that fails in this process leaves no open files behind
            shard.abandon()
        raise


class _Traffic:
    """What this process receives during the epochs' exchanges (objects unpickled from MPI messages, and
    their bytes): the run's coordination cost, measured rather than modelled."""

    def __init__(self, backend):
        self.backend = backend
        self.epochs = 0
        self.objects = 0
        self.bytes = 0
        self.counted = True  # False when mpi4py's pickle is the program's own (not counted)

    @contextmanager
    def epoch(self):
        before = self.backend.received()
        yield
        after = self.backend.received()
        self.epochs += 1
        if before is None or after is None:
            self.counted = False
            return
        self.objects += after[0] - before[0]
        self.bytes += after[1] - before[1]

    def summary(self, scheme):
        """On rank 0: the averages per epoch, with the busiest leader's messages (a bounded reduction); None
        for the counts when mpi4py's pickle is the program's own, so nothing was counted."""
        per_epoch = self.objects / self.epochs if self.epochs else 0.0
        busiest = self.backend.allreduce(per_epoch if self.counted else None, _max_counted)
        if not self.counted or busiest is None:
            return {"scheme": scheme, "rank0_received_bytes_per_epoch": None, "rank0_received_messages_per_epoch": None,
                    "max_leader_messages_per_epoch": None}
        return {"scheme": scheme, "rank0_received_bytes_per_epoch": round(self.bytes / max(1, self.epochs), 1),
                "rank0_received_messages_per_epoch": round(per_epoch, 2),
                "max_leader_messages_per_epoch": round(busiest, 2)}


def _max_counted(a, b):
    """The larger count, or None when any leader did not count."""
    return None if a is None or b is None else max(a, b)


def _decide(config, backend, totals, control, clock, epoch, done, session_epochs):
    """Rank 0, after an epoch that is not the last: (stop reason or None, write a checkpoint now?).

    `epoch` is the index of the epoch just run (0-based)."""
    mine = [f"{control.stop.reason} on {backend.world.where}"] if control.stop.reason else []
    # leaders report in the epoch's totals, every rank also through the stop channel: name each rank once
    requests = list(dict.fromkeys(mine + [text for _, text in totals.stop_requests] + backend.poll_stops()))
    more = len(requests) - 1 + totals.more_stops
    if requests:
        return requests[0] + (f" (and {more} more rank(s))" if more else ""), True
    if config.stop_after and done >= config.stop_after:
        return f"stop_after = {config.stop_after} reached", True
    budget = config.max_walltime_seconds
    if budget:
        elapsed = time.perf_counter() - control.started
        # the next epoch may take as long as the longest so far (plus a margin), then a checkpoint is written
        needed = 1.25 * max(session_epochs, default=0.0) + 2 * clock.last_checkpoint
        if elapsed + needed > budget:
            return f"max_walltime = {config.max_walltime} would be exceeded by another epoch", True
    every = config.checkpoint_every
    return None, bool(every) and (epoch + 1) % every == 0


def _progress(config, weights, epoch, done, totals, clock, out):
    """One line per epoch on rank 0: epoch, generation/total, best (objective values), evals/s, elapsed, ETA."""
    if not config.progress:
        return
    elapsed = time.perf_counter() - clock.start
    evals = totals.evaluations - clock.base_evals
    best = totals.best
    shown = "n/a" if best is None else "/".join(f"{w / wt:.6g}" for w, wt in zip(best, weights))
    epochs = math.ceil(config.generations / config.migration_interval)
    per_epoch = elapsed / max(1, clock.epochs_run)
    eta = per_epoch * (epochs - epoch)
    print(f"epoch {epoch}/{epochs}  gen {done}/{config.generations}  best {shown}  evals/s {evals / elapsed:,.0f}  "
          f"elapsed {elapsed:.1f}s  ETA {eta:.1f}s", file=out, flush=True)
