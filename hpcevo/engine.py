"""The island-model loop: evolve each hosted island for an epoch, migrate through rank 0, repeat.

Runs unchanged on the serial backend and on MPI group leaders; only the backend differs.
"""

import math
import pickle
import sys
import time

from .island import Island
from .problem import import_object
from .rng import epoch_rng, island_streams
from .topology import TOPOLOGIES, check_routes

__all__ = ["run_islands", "resolve_topology", "route_migrants"]


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


def run_islands(config, problem, backend, evaluator, out=sys.stdout):
    """Evolve all islands; on rank 0 return the merged results (None on other leaders)."""
    clock = _Clock()
    n = config.islands
    streams = island_streams(config.seed, n)
    topology = resolve_topology(config.topology)
    reported = set()  # each kind of evaluation failure is printed once per process, not once per island
    islands = [Island(i, config, problem, streams[i], reported) for i in backend.island_ids(n)]
    for island in islands:
        island.start(evaluator)
    epochs = math.ceil(config.generations / config.migration_interval)
    migrations, epoch_times = [], []
    done = 0
    for epoch in range(epochs):
        t_epoch = time.perf_counter()
        gens = min(config.migration_interval, config.generations - done)
        for island in islands:
            island.evolve(gens, evaluator)
        done += gens
        t0 = time.perf_counter()
        compute = t0 - t_epoch
        migrate = epoch < epochs - 1 and config.migrants > 0
        outgoing = {island.index: island.emigrants(config.migrants) if migrate else [] for island in islands}
        status = {island.index: (island.best(), island.evaluations) for island in islands}
        gathered = backend.gather((outgoing, status, compute))
        per_leader = None
        if backend.is_root:
            routes = topology(n, epoch, epoch_rng(config.seed, epoch)) if migrate else []
            per_leader = _route_on_root(gathered, check_routes(routes, n, config.topology), epoch, migrations,
                                        copy=backend.n_groups == 1)
        mine = backend.scatter(per_leader)
        for island in islands:
            island.receive(mine.get(island.index, []))
        spent = time.perf_counter() - t0
        if backend.is_root:
            # Rank 0's gather also waits for the slowest leader's epoch: count that as load imbalance.
            wait = max(0.0, min(spent, max(c for _, _, c in gathered) - compute))
            clock.waiting += wait
            clock.migration += spent - wait
        epoch_times.append(time.perf_counter() - t_epoch)
        if backend.is_root:
            statuses = {k: v for _, part, _ in gathered for k, v in part.items()}
            _progress(config, problem.weights, epoch, epochs, statuses, clock, out)
    return _collect(backend, islands, migrations, epoch_times, clock)


def _route_on_root(gathered, routes, epoch, migrations, copy):
    """Rank 0: route every leader's emigrants, log the records, return what each leader receives."""
    all_out = {k: v for part, _, _ in gathered for k, v in part.items()}
    incoming, records = route_migrants(all_out, routes, epoch)
    migrations.extend(records)
    per_leader = [{i: incoming.get(i, []) for i in part} for part, _, _ in gathered]
    if copy:  # no message was sent: copy as a message would, so every launch mode is alike
        per_leader = pickle.loads(pickle.dumps(per_leader, pickle.HIGHEST_PROTOCOL))
    return per_leader


def _progress(config, weights, epoch, epochs, statuses, clock, out):
    """One line per epoch on rank 0: epoch/total, best (objective values), evals/s, elapsed, ETA."""
    if not config.progress:
        return
    elapsed = time.perf_counter() - clock.start
    evals = sum(ev for _, ev in statuses.values())
    bests = [b for b, _ in statuses.values() if b is not None]
    best = max(bests) if bests else None
    shown = "n/a" if best is None else "/".join(f"{w / wt:.6g}" for w, wt in zip(best, weights))
    eta = elapsed / (epoch + 1) * (epochs - epoch - 1)
    print(f"epoch {epoch + 1}/{epochs}  best {shown}  evals/s {evals / elapsed:,.0f}  "
          f"elapsed {elapsed:.1f}s  ETA {eta:.1f}s", file=out, flush=True)


def _collect(backend, islands, migrations, epoch_times, clock):
    results = backend.gather([island.result() for island in islands])
    if not backend.is_root:
        return None
    merged = sorted((r for part in results for r in part), key=lambda r: r["index"])
    return {"islands": merged, "migrations": migrations, "epoch_seconds": epoch_times,
            "migration_seconds": clock.migration, "waiting_seconds": clock.waiting,
            "wall_seconds": time.perf_counter() - clock.start}
