"""Migration schemes: how an epoch's reports, migrants and rank 0's decision travel between group leaders.

A scheme is an object with one method, `exchange`, called on every leader at the end of every epoch.
`Neighbour` (the default) sends migrants point to point between the leaders that host a route's islands and
reduces a bounded summary to rank 0; `ViaRoot` sends every leader's report to rank 0, which routes the
emigrants, decides (stop, checkpoint) and scatters one decision per leader.  Both give the same results.
`Asynchronous` (migration = "async") only names the third mode: it has no epoch exchange, its own loop is
`hpcevo.asynchronous`.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .errors import ConfigError
from .messages import Decision, EpochReport, EpochTotals

__all__ = ["MigrationScheme", "Exchange", "ViaRoot", "Neighbour", "Asynchronous", "RouteMismatch", "SchemeMismatch",
           "SCHEMES", "make_scheme", "check_resumable", "route_migrants", "rows_in_order"]


def route_migrants(outgoing, routes, epoch):
    """Deliver emigrants along `routes` (sorted (src, dst) pairs); returns (incoming per island, records).

    Immigrants are assembled in route order, never in arrival order, so results do not depend on timing."""
    incoming, records = {}, []
    for src, dst in routes:
        migrants = outgoing.get(src)
        if not migrants:
            continue
        incoming.setdefault(dst, []).extend(migrants)
        best = max(migrants, key=lambda ind: ind.fitness.wvalues)
        records.append({"epoch": epoch, "src": src, "dst": dst, "count": len(migrants),
                        "best_fitness": ";".join(repr(float(v)) for v in best.fitness.values)})
    return incoming, records


@dataclass
class Exchange:
    """The outcome of one epoch's exchange on a leader: its decision; on rank 0 also the totals of every
    leader's report, the epoch's logbook rows (by generation, then island) and migration records (in route
    order), unless the scheme leaves them on the leaders (`gathers_logs` False): then every leader has the
    records of the routes into its own islands, `own_records`."""

    decision: Decision
    totals: EpochTotals | None = None
    rows: list[dict] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    own_records: list[dict] = field(default_factory=list)


class MigrationScheme(Protocol):
    name: str
    gathers_logs: bool  # False: the logbook rows and migration records stay on the leaders (log shards)

    def exchange(self, backend, epoch: int, report: EpochReport, routes: Callable[[], list],
                 decide: Callable[[EpochTotals], tuple]) -> Exchange:
        """Exchange this epoch's migrants and reach rank 0's decision.

        `routes()` returns the topology's checked routes for `epoch` (a pure function of the run seed and
        the epoch, so any leader may call it); `decide(totals)` runs on rank 0 only and returns
        (stop reason or None, checkpoint now?)."""
        ...


def rows_in_order(rows_by_leader):
    """An epoch's logbook rows by generation, then island: the order an uninterrupted run writes, whatever
    the hosts and however the run was split into sessions."""
    rows = [row for by_island in rows_by_leader for island_rows in by_island.values() for row in island_rows]
    return sorted(rows, key=lambda row: (row["gen"], row["island"]))


def _totals(reports, ranks):
    totals = EpochTotals()
    for report, rank in zip(reports, ranks):
        totals = totals.merge(EpochTotals.of(report, rank))
    return totals


class ViaRoot:
    """Every leader's report to rank 0; rank 0 routes, decides and scatters: O(leaders) messages and bytes of
    migrants on rank 0 every epoch."""

    name = "via_root"
    gathers_logs = True

    def exchange(self, backend, epoch, report, routes, decide):
        reports = backend.gather(report)
        if not backend.is_root:
            return Exchange(backend.scatter(None))
        outgoing = {k: v for r in reports for k, v in r.outgoing.items()}
        incoming, records = route_migrants(outgoing, routes() if any(outgoing.values()) else [], epoch)
        totals = _totals(reports, backend.leader_ranks())
        stop_reason, checkpoint_now = decide(totals)
        decisions = [Decision({i: incoming.get(i, []) for i in r.outgoing}, stop_reason, checkpoint_now)
                     for r in reports]
        if backend.n_groups == 1:  # no message was sent: copy as a message would, so every launch mode is alike
            decisions = pickle.loads(pickle.dumps(decisions, pickle.HIGHEST_PROTOCOL))
        return Exchange(backend.scatter(decisions), totals, rows_in_order(r.rows for r in reports), records)


class Neighbour:
    """Migrants travel point to point, from the leader hosting the source island to the one hosting the
    destination, in one message per pair of leaders; every leader computes the epoch's routes itself.

    Rank 0 takes part only in a reduction of bounded size (EpochTotals and a digest of each leader's routes,
    so leaders that disagree end the run instead of waiting for each other) and the broadcast of its decision.
    Immigrants are assembled in route order, never in arrival order: the results equal ViaRoot's.  The logbook
    rows and migration records stay on the leaders (log shards in the run folder, merged by rank 0 at each
    checkpoint), except with `gather_logs` (a run kept in memory), where they gather to rank 0 every epoch.
    """

    name = "neighbour"

    def __init__(self, n_islands: int, topology_name: str = "topology", gather_logs: bool = False):
        self.n_islands = n_islands
        self.topology_name = topology_name
        self.gathers_logs = gather_logs
        self._owner = None

    def exchange(self, backend, epoch, report, routes, decide):
        hosted = set(report.status)
        route_list = routes() if report.migrating else []
        digest = _digest(route_list)
        totals, low, high = backend.allreduce((EpochTotals.of(report, backend.world.rank), digest, digest),
                                              _merge_checked)
        if low != high:
            raise RouteMismatch(f"the group leaders computed different routes for epoch {epoch} from "
                                f"topology {self.topology_name}: it must be a pure function of (n_islands, "
                                f"epoch, rng), drawing any randomness from `rng` only (not from `random`, "
                                f"numpy's global generator, the time or the rank).")
        incoming, records = self._migrate(backend, epoch, report, route_list, hosted)
        gathered = backend.gather((report.rows, records)) if self.gathers_logs else None
        flags = None
        if backend.is_root:
            flags = decide(totals)
        stop_reason, checkpoint_now = backend.bcast(flags)
        decision = Decision({i: incoming.get(i, []) for i in report.outgoing}, stop_reason, checkpoint_now)
        if not backend.is_root:
            return Exchange(decision, own_records=records)
        if gathered is None:
            return Exchange(decision, totals, own_records=records)
        everyone = sorted((r for _, recs in gathered for r in recs), key=lambda r: (r["src"], r["dst"]))
        return Exchange(decision, totals, rows_in_order(rows for rows, _ in gathered), everyone, records)

    def _migrate(self, backend, epoch, report, route_list, hosted):
        """(immigrants per hosted island, migration records of the routes into them)."""
        if not route_list:
            return {}, []
        if self._owner is None:
            self._owner = {i: g for g, ids in enumerate(backend.leader_islands(self.n_islands)) for i in ids}
        sends, sources, needed = {}, set(), set()
        for src, dst in route_list:
            if src in hosted and dst not in hosted:
                sends.setdefault(self._owner[dst], {})[src] = report.outgoing.get(src, [])
            elif dst in hosted and src not in hosted:
                sources.add(self._owner[src])
            elif dst in hosted:
                needed.add(src)
        received = backend.exchange_with(sends, sorted(sources))
        # migrants between two islands of this leader are copied as a message would copy them
        pool = pickle.loads(pickle.dumps({src: report.outgoing.get(src, []) for src in sorted(needed)},
                                         pickle.HIGHEST_PROTOCOL))
        for bundle in received.values():
            pool.update(bundle)
        return route_migrants(pool, [(src, dst) for src, dst in route_list if dst in hosted], epoch)


class RouteMismatch(ConfigError):
    """Leaders computed different routes for one epoch (an impure custom topology); raised on every leader."""


def _digest(route_list):
    return hashlib.sha256(repr(route_list).encode()).hexdigest()[:16]


def _merge_checked(a, b):
    return a[0].merge(b[0]), min(a[1], b[1]), max(a[2], b[2])


class Asynchronous:
    """migration = "async": no epoch barrier and no epoch exchange.  `run_islands` hands such a run to its own
    loop, `hpcevo.asynchronous.run_async`, at entry; this class only names the scheme."""

    name = "async"
    gathers_logs = False

    def exchange(self, backend, epoch, report, routes, decide):
        raise RuntimeError('migration = "async" has no epoch exchange: hpcevo.asynchronous.run_async drives it')


class SchemeMismatch(RouteMismatch):
    """A resumed checkpoint the configured scheme cannot continue; like RouteMismatch, raised on every leader."""


def check_resumable(backend, islands, config):
    """On every leader, after a resume restored its islands: refuse (SchemeMismatch, on every leader together)
    a checkpoint whose islands are at different generations (an asynchronous run's) unless the run continues
    asynchronously: a synchronous scheme needs every island at the same epoch boundary."""
    gens = [island.gen for island in islands] or [0]
    low, high = backend.allreduce((min(gens), max(gens)), _span)
    if low != high and config.migration != "async":
        raise SchemeMismatch(
            f'cannot resume this checkpoint with migration = "{config.migration}": it was written by an '
            f'asynchronous run (migration = "async") whose islands stopped at different generations ({low} to '
            f'{high}), and a synchronous scheme needs every island at the same generation. Resume it with '
            f'migration = "async" (--migration async), or start a new run with another --out.')


def _span(a, b):
    return min(a[0], b[0]), max(a[1], b[1])


SCHEMES = {"neighbour": Neighbour, "via_root": ViaRoot, "async": Asynchronous}


def make_scheme(config, logs_on_root: bool = True) -> MigrationScheme:
    """The scheme config.migration names, for this run's islands and topology; `logs_on_root`: the logbook
    rows must reach rank 0 every epoch (a run kept in memory has no folder for log shards)."""
    if config.migration == "via_root":
        return ViaRoot()
    if config.migration == "async":
        return Asynchronous()
    from .registry import TOPOLOGY

    return Neighbour(config.islands, TOPOLOGY.spec_of(config.topology), gather_logs=logs_on_root)
