"""Asynchronous migration (`migration = "async"`): every group leader runs its islands on its own clock.

Why: the synchronous schemes end every epoch with a collective exchange, so every leader waits for the slowest
island of each epoch.  Here a leader never waits for another while the run lasts: at each of its epoch
boundaries it computes that epoch's routes itself (the same pure topology call as the synchronous loop), sends
each route's emigrants to the leader hosting the destination without waiting (the sends are completed at the
end), and gives its islands whatever immigrants have already arrived, in arrival order.  Migrants between two
islands of one leader are delivered directly, copied as a message would copy them, in route order; so a
serial run (one leader) is deterministic, and equals the synchronous result.

What it gives up: results depend on timing (not reproducible across runs or rank counts); the only checkpoint
is the final one (at the end, or when stopped); migrants still in flight when their destination has finished
(or its leader has stopped) are dropped, and counted.  A stop (signal, stop_after, max_walltime on the leader's
own clock) is local: the leader that knows it stops at its next epoch boundary; the others run on.

The end, without a hang or a message left unreceived: a leader that is done sends nothing more; the leaders
exchange how many messages each sent to each other (a blocking alltoall of counts), each receives what it has
not yet received, completes its own sends, and the final checkpoint is written as in the synchronous loop.
"""

from __future__ import annotations

import pickle
import time

from .checkpointing import restore_islands, results_of, take_checkpoint
from .engine import MemorySink, _Clock, _progress, _Traffic, epoch_length, resolve_topology
from .island import Island
from .messages import EpochTotals
from .migration import route_migrants
from .output import LogShard
from .rng import epoch_rng, island_streams
from .topology import check_routes

__all__ = ["run_async"]

_ROUTE_EPOCHS_KEPT = 8  # a dropped epoch's routes are computed again if asked for: the same pure call
_COUNTERS = ("messages_sent", "messages_received", "migrants_delivered", "migrants_dropped")


def run_async(config, problem, backend, evaluator, out, control):
    """Evolve all islands asynchronously (`run_islands` with migration = "async"); on rank 0 return the merged
    results (None on other leaders), with `stopped` set when any leader stopped early."""
    return _Leader(config, problem, backend, evaluator, out, control).run()


class _Leader:
    """One group leader's islands, its sends in flight and its counts."""

    def __init__(self, config, problem, backend, evaluator, out, control):
        self.config, self.problem, self.backend, self.evaluator, self.out = config, problem, backend, evaluator, out
        self.control = control
        self.clock = _Clock()
        n = config.islands
        streams = island_streams(config.seed, n)
        reported = set()  # each kind of evaluation failure is printed once per process
        self.islands = {i: Island(i, config, problem, streams[i], reported) for i in backend.island_ids(n)}
        self.owner = {i: g for g, ids in enumerate(backend.leader_islands(n)) for i in ids}
        self.me = backend.leader_ranks().index(backend.world.rank)
        self.topology = resolve_topology(config.topology)
        self.routes = {}  # epoch -> checked routes
        self.traffic = _Traffic(backend)
        self.sink = control.sink if control.sink is not None else MemorySink()
        # rows and records stay on this leader: a log shard in the run folder, else kept to gather at the end
        self.shard = LogShard(config.out, self.me, problem.n_objectives) if config.out else None
        self.kept_rows, self.kept_records = [], []
        self.requests, self.sent, self.got = [], [0] * backend.n_groups, [0] * backend.n_groups
        self.counts = dict.fromkeys(_COUNTERS, 0)
        self.closing = False
        self.epoch_seconds = []
        self.own_base = 0

    # -- start -----------------------------------------------------------------------------------
    def _start(self):
        """Start or restore the islands; returns (pending migration, checkpoint sequence)."""
        backend, islands = self.backend, list(self.islands.values())
        if not self.control.resuming:
            for island in islands:
                island.start(self.evaluator)
            return False, 1
        _, pending, sequence, self.clock.base_evals = restore_islands(backend, self.config, self.control.resume,
                                                                      islands)
        self.own_base = sum(island.evaluations for island in islands)
        return pending, sequence

    # -- the loop --------------------------------------------------------------------------------
    def run(self):
        config, backend = self.config, self.backend
        total, interval = config.generations, config.migration_interval
        pending, sequence = self._start()
        if pending:  # a completed run extended: the migration its last boundary skipped
            self._boundary([isl for isl in self.islands.values() if 0 < isl.gen < total and isl.gen % interval == 0])
        stopped = None
        while stopped is None:
            active = [island for island in self.islands.values() if island.gen < total]
            if not active:
                break
            t0 = time.perf_counter()
            for island in active:
                island.evolve(epoch_length(config, island.gen), self.evaluator)
            self._log([row for island in active for row in island.take_rows()], [])
            t1 = time.perf_counter()
            self._boundary([island for island in active if island.gen < total and island.gen % interval == 0])
            self.clock.migration += time.perf_counter() - t1
            self.epoch_seconds.append(time.perf_counter() - t0)
            self.clock.epochs_run += 1
            epoch = -(-max(island.gen for island in active) // interval)  # epochs this leader has completed
            if backend.is_root:
                self.sink.record(epoch - 1, [], [], self.epoch_seconds[-1])
                _progress(config, self.problem.weights, epoch, self._done(), self._totals(), self.clock, self.out)
            stopped = self._stop_reason()
        return self._end(stopped, sequence)

    def _done(self):
        return min(island.gen for island in self.islands.values())

    def _totals(self):
        """This leader's own islands as epoch totals (the progress line of rank 0's islands)."""
        bests = [b for b in (island.best() for island in self.islands.values()) if b is not None]
        evaluations = sum(island.evaluations for island in self.islands.values()) - self.own_base
        return EpochTotals(max(bests) if bests else None, evaluations + self.clock.base_evals)

    def _routes(self, epoch):
        """The epoch's checked routes, kept for the few epochs this leader's islands can still be at (islands
        of one leader differ by at most an epoch or two, more after a resume), so memory stays bounded."""
        if epoch not in self.routes:
            n = self.config.islands
            self.routes[epoch] = check_routes(self.topology(n, epoch, epoch_rng(self.config.seed, epoch)), n,
                                              self.config.topology)
            while len(self.routes) > _ROUTE_EPOCHS_KEPT:
                del self.routes[min(self.routes)]
        return self.routes[epoch]

    def _boundary(self, movers):
        """The islands in `movers` are at an epoch boundary: send their emigrants along the epoch's routes (local
        ones directly, in route order), then take the immigrants that have arrived."""
        if self.config.migrants > 0:
            by_epoch = {}
            for island in movers:
                by_epoch.setdefault(island.gen // self.config.migration_interval - 1, {})[island.index] = \
                    island.emigrants(self.config.migrants)
            for epoch, outgoing in sorted(by_epoch.items()):
                self._send(epoch, outgoing)
        with self.traffic.epoch():
            for leader, message in self.backend.arrived():
                self._deliver(leader, message)

    def _send(self, epoch, outgoing):
        local, remote = [], {}
        for src, dst in self._routes(epoch):
            if src not in outgoing:
                continue
            leader = self.owner[dst]
            if leader == self.me:
                local.append((src, dst))
            else:
                message = remote.setdefault(leader, {"epoch": epoch, "migrants": {}, "routes": []})
                message["migrants"][src] = outgoing[src]
                message["routes"].append((src, dst))
        for leader, message in sorted(remote.items()):
            self.requests.append(self.backend.post(leader, message))
            self.sent[leader] += 1
            self.counts["messages_sent"] += 1
        if local:  # copied as a message would copy them
            pool = pickle.loads(pickle.dumps({src: outgoing[src] for src, _ in local}, pickle.HIGHEST_PROTOCOL))
            self._give(epoch, pool, local)

    def _deliver(self, leader, message):
        self.got[leader] += 1
        self.counts["messages_received"] += 1
        self._give(message["epoch"], message["migrants"], message["routes"])

    def _give(self, epoch, pool, routes):
        """Give migrants to their destination islands (dropped, counted, when it has finished or this leader is
        done) and record the routes that delivered, as the receiving leader sees them."""
        incoming, records = route_migrants(pool, routes, epoch)
        delivered = set()
        for dst, migrants in incoming.items():
            island = self.islands[dst]
            if self.closing or island.gen >= self.config.generations:
                self.counts["migrants_dropped"] += len(migrants)
                continue
            island.receive(migrants)
            delivered.add(dst)
            self.counts["migrants_delivered"] += len(migrants)
        self._log([], [record for record in records if record["dst"] in delivered])

    def _log(self, rows, records):
        if self.shard is not None:
            self.shard.add(rows, records)
        else:
            self.kept_rows.extend(rows)
            self.kept_records.extend(records)

    def _stop_reason(self):
        """A stop this leader knows of: a signal, another rank's (rank 0's stop channel), stop_after, or the
        wall-time budget on this leader's clock; None to go on."""
        config, control = self.config, self.control
        done = self._done()
        if done >= config.generations:  # nothing left to stop
            return None
        if control.stop.reason:
            return f"{control.stop.reason} on {self.backend.world.where}"
        requests = self.backend.poll_stops()
        if requests:
            return requests[0] + (f" (and {len(requests) - 1} more rank(s))" if len(requests) > 1 else "")
        if config.stop_after and done >= config.stop_after:
            return f"stop_after = {config.stop_after} reached"
        budget = config.max_walltime_seconds
        if budget:
            needed = 1.25 * max(self.epoch_seconds, default=0.0) + 2 * self.clock.last_checkpoint
            if time.perf_counter() - self.control.started + needed > budget:
                return f"max_walltime = {config.max_walltime} would be exceeded by another epoch"
        return None

    # -- the end ---------------------------------------------------------------------------------
    def _end(self, stopped, sequence):
        backend, config = self.backend, self.config
        t0 = time.perf_counter()
        self.closing = True  # what arrives from now on is dropped
        with self.traffic.epoch():
            expected = backend.alltoall(self.sent)
            for leader, message in backend.collect([e - g for e, g in zip(expected, self.got)]):
                self._deliver(leader, message)
            backend.complete(self.requests)
        self.requests = []
        self.clock.waiting += time.perf_counter() - t0  # the wait for the slowest leader to finish
        mine = [(backend.world.rank, stopped)] if stopped else []
        stops, stopped_leaders, counts, done = backend.allreduce(
            (mine, len(mine), [self.counts[k] for k in _COUNTERS], self._done()), _merge_end)
        if self.shard is None:
            gathered = backend.gather((self.kept_rows, self.kept_records))
            if backend.is_root:
                rows = sorted((r for part, _ in gathered for r in part), key=lambda r: (r["gen"], r["island"]))
                records = sorted((r for _, part in gathered for r in part),
                                 key=lambda r: (r["epoch"], r["src"], r["dst"]))
                self.sink.record(None, rows, records, None)
        pending = done >= config.generations and done % config.migration_interval == 0 and config.migrants > 0
        state = take_checkpoint(backend, list(self.islands.values()), config, self.sink, self.clock, done, final=True,
                            pending=pending, shard=self.shard, sequence=sequence)
        coordination = {**self.traffic.summary("async"), **dict(zip(_COUNTERS, counts))}
        if not backend.is_root:
            return None
        reason = None
        if stops:
            more = stopped_leaders - 1
            reason = stops[0][1] + (f" (and {more} more leader(s))" if more else "")
        results = {**results_of(state, self.clock, reason), "coordination": coordination}
        return self.sink.attach(results) if isinstance(self.sink, MemorySink) else results


def _merge_end(a, b):
    """Two leaders' ends merged: the first stops (by rank), how many stopped, summed counts, the lowest generation."""
    return (sorted(a[0] + b[0])[:4], a[1] + b[1], [x + y for x, y in zip(a[2], b[2])], min(a[3], b[3]))
