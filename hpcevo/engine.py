"""The island-model loop: evolve each hosted island for an epoch, migrate through rank 0, repeat.

Runs unchanged on the serial backend and on MPI group leaders; only the backend differs.
"""

import math
import pickle
import sys
import time
from dataclasses import dataclass, field

from .island import Island
from .problem import import_object
from .rng import epoch_rng, island_streams
from .stopping import StopFlag
from .topology import TOPOLOGIES, check_routes

__all__ = ["run_islands", "resolve_topology", "route_migrants", "Control"]


def resolve_topology(spec):
    """A topology callable from a built-in name or a 'package.module:function'."""
    return TOPOLOGIES[spec] if spec in TOPOLOGIES else import_object(spec, "topology")


def route_migrants(outgoing, routes, epoch):
    """Deliver emigrants along `routes`; returns (incoming per island, migration records)."""
    incoming, records = {}, []
    for src, dst in routes:
        migrants = outgoing[src]
        if not migrants:
            continue
        incoming.setdefault(dst, []).extend(migrants)
        best = max(migrants, key=lambda ind: ind.fitness.wvalues)
        records.append({"epoch": epoch, "src": src, "dst": dst, "count": len(migrants),
                        "best_fitness": ";".join(repr(float(v)) for v in best.fitness.values)})
    return incoming, records


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
    """How a run starts and stops: resume state, checkpoint writer, stop flag and wall-time budget.

    `resume` is the checkpoint state on rank 0 (None elsewhere); `resuming` is known on every rank.
    `checkpoint(state)`, `progress(results)` (outputs so far, after a periodic checkpoint) and
    `record(epoch, logbook_rows, migration_records, seconds)` (once per epoch) run on rank 0 only.
    `started` is when the process began (perf_counter).
    """

    stop: StopFlag = field(default_factory=StopFlag)
    resuming: bool = False
    resume: dict = None
    checkpoint: object = None
    progress: object = None
    record: object = None
    started: float = field(default_factory=time.perf_counter)


class MemoryRecord:
    """Keeps the logbook rows, migration records and epoch times in memory (library use and tests); a run
    streams them to its folder instead (`output.RunFiles`), so nothing grows with the run's length."""

    def __init__(self):
        self.rows, self.migrations, self.epoch_seconds = [], [], []

    def __call__(self, epoch, rows, migrations, seconds):
        self.rows.extend(rows)
        self.migrations.extend(migrations)
        self.epoch_seconds.append(seconds)

    def attach(self, results):
        """Add the kept records to `results`, and each island's own rows to its entry."""
        for entry in results["islands"]:
            entry["rows"] = [row for row in self.rows if row["island"] == entry["index"]]
        results.update(rows=self.rows, migrations=self.migrations, epoch_seconds=self.epoch_seconds)
        return results


def run_islands(config, problem, backend, evaluator, out=sys.stdout, control=None):
    """Evolve all islands; on rank 0 return the merged results (None on other leaders).

    The results say `stopped` (the reason) when a signal, the wall-time budget or `stop_after` ended the
    run early; the state was checkpointed first, so `--resume` continues it exactly.
    """
    control = control or Control()
    clock = _Clock()
    n = config.islands
    streams = island_streams(config.seed, n)
    topology = resolve_topology(config.topology)
    reported = set()  # each kind of evaluation failure is printed once per process, not once per island
    islands = [Island(i, config, problem, streams[i], reported) for i in backend.island_ids(n)]
    record = control.record or MemoryRecord()
    if control.resuming:
        items = None
        if backend.is_root:
            by_index = {st["index"]: st for st in control.resume["islands"]}
            items = [(control.resume["epoch"], [by_index[i] for i in ids]) for ids in backend.leader_islands(n)]
            clock.base_evals = sum(st["evaluations"] for st in control.resume["islands"])
        epoch, states = backend.scatter(items)
        for island, island_state in zip(islands, states):
            island.restore(island_state)
        done = control.resume["generation"] if backend.is_root else islands[0].gen
    else:
        for island in islands:
            island.start(evaluator)
        epoch = done = 0
    session_epochs = []
    stopped = None
    while done < config.generations:
        t_epoch = time.perf_counter()
        gens = min(config.migration_interval, config.generations - done)
        for island in islands:
            island.evolve(gens, evaluator)
        done += gens
        t0 = time.perf_counter()
        compute = t0 - t_epoch
        last = done >= config.generations
        migrate = not last and config.migrants > 0
        outgoing = {island.index: island.emigrants(config.migrants) if migrate else [] for island in islands}
        status = {island.index: (island.best(), island.evaluations) for island in islands}
        asked = control.stop.reason and f"{control.stop.reason} on {backend.world.where}"
        rows = {island.index: island.take_rows() for island in islands}
        gathered = backend.gather((outgoing, status, compute, asked, rows))
        per_leader = None
        if backend.is_root:
            routes = topology(n, epoch, epoch_rng(config.seed, epoch)) if migrate else []
            per_leader, records = _route_on_root(gathered, check_routes(routes, n, config.topology), epoch)
            decision = (None, False) if last else _decide(config, backend, gathered, control, clock, epoch, done,
                                                         session_epochs)
            per_leader = [(incoming, decision) for incoming in per_leader]
            if backend.n_groups == 1:  # no message was sent: copy as a message would, so every launch mode is alike
                per_leader = pickle.loads(pickle.dumps(per_leader, pickle.HIGHEST_PROTOCOL))
        mine, (stop_reason, checkpoint_now) = backend.scatter(per_leader)
        for island in islands:
            island.receive(mine.get(island.index, []))
        spent = time.perf_counter() - t0
        if backend.is_root:
            # Rank 0's gather also waits for the slowest leader's epoch: count that as load imbalance.
            wait = max(0.0, min(spent, max(g[2] for g in gathered) - compute))
            clock.waiting += wait
            clock.migration += spent - wait
        session_epochs.append(time.perf_counter() - t_epoch)
        if backend.is_root:  # logbook rows in island order within the epoch, the same in every launch mode
            by_island = {k: v for g in gathered for k, v in g[4].items()}
            record(epoch, [row for i in sorted(by_island) for row in by_island[i]], records, session_epochs[-1])
        epoch += 1
        clock.epochs_run += 1
        if backend.is_root:
            statuses = {k: v for g in gathered for k, v in g[1].items()}
            _progress(config, problem.weights, epoch, done, statuses, clock, out)
        if stop_reason:
            stopped = stop_reason
            break
        if checkpoint_now:
            _checkpoint(backend, islands, control, clock, done, epoch, final=False)
    state = _checkpoint(backend, islands, control, clock, done, epoch, final=True)
    if not backend.is_root:
        return None
    results = _results(state, clock, stopped)
    return record.attach(results) if isinstance(record, MemoryRecord) else results


def _results(state, clock, stopped):
    """Rank 0: the checkpoint state plus this session's time split (what the outputs are written from)."""
    return {**state, "migration_seconds": clock.migration, "waiting_seconds": clock.waiting,
            "checkpoint_seconds": clock.checkpoint, "wall_seconds": time.perf_counter() - clock.start,
            "stopped": stopped,
            "session_evaluations": sum(st["evaluations"] for st in state["islands"]) - clock.base_evals}


def _decide(config, backend, gathered, control, clock, epoch, done, session_epochs):
    """Rank 0, after an epoch that is not the last: (stop reason or None, write a checkpoint now?).

    `epoch` is the index of the epoch just run (0-based)."""
    mine = [f"{control.stop.reason} on {backend.world.where}"] if control.stop.reason else []
    # leaders report in the gather, every rank also through the stop channel: name each rank once
    requests = list(dict.fromkeys(mine + [g[3] for g in gathered if g[3]] + backend.poll_stops()))
    if requests:
        return requests[0] + (f" (and {len(requests) - 1} more rank(s))" if len(requests) > 1 else ""), True
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


def _checkpoint(backend, islands, control, clock, done, epoch, final):
    """Gather every island's state to rank 0 and (there) write the checkpoint; returns the state on rank 0.

    On a periodic checkpoint `control.progress(results)` also writes the results so far (a run in progress)."""
    t0 = time.perf_counter()
    parts = backend.gather([island.state() for island in islands])
    if not backend.is_root:
        return None
    merged = sorted((st for part in parts for st in part), key=lambda st: st["index"])
    state = {"generation": done, "epoch": epoch, "islands": merged}
    if control.checkpoint is not None:
        control.checkpoint(state)
    clock.last_checkpoint = time.perf_counter() - t0
    clock.checkpoint += clock.last_checkpoint
    if not final and control.progress is not None:
        control.progress(_results(state, clock, None))
    return state


def _route_on_root(gathered, routes, epoch):
    """Rank 0: route every leader's emigrants; returns (what each leader receives, migration records)."""
    all_out = {k: v for g in gathered for k, v in g[0].items()}
    incoming, records = route_migrants(all_out, routes, epoch)
    return [{i: incoming.get(i, []) for i in g[0]} for g in gathered], records


def _progress(config, weights, epoch, done, statuses, clock, out):
    """One line per epoch on rank 0: epoch, generation/total, best (objective values), evals/s, elapsed, ETA."""
    if not config.progress:
        return
    elapsed = time.perf_counter() - clock.start
    evals = sum(ev for _, ev in statuses.values()) - clock.base_evals
    bests = [b for b, _ in statuses.values() if b is not None]
    best = max(bests) if bests else None
    shown = "n/a" if best is None else "/".join(f"{w / wt:.6g}" for w, wt in zip(best, weights))
    epochs = epoch + math.ceil((config.generations - done) / config.migration_interval)
    per_epoch = elapsed / max(1, clock.epochs_run)
    eta = per_epoch * (epochs - epoch)
    print(f"epoch {epoch}/{epochs}  gen {done}/{config.generations}  best {shown}  evals/s {evals / elapsed:,.0f}  "
          f"elapsed {elapsed:.1f}s  ETA {eta:.1f}s", file=out, flush=True)
