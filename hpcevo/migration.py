"""Migration schemes: how an epoch's reports, migrants and rank 0's decision travel between group leaders.

A scheme is an object with one method, `exchange`, called on every leader at the end of every epoch.
`ViaRoot` is the first: every leader's report goes to rank 0, which routes the emigrants along the
topology's routes, decides (stop, checkpoint) and scatters one decision per leader.  A scheme that moves
migrants point to point is another class with the same method; the engine does not change.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from .messages import Decision, EpochReport

__all__ = ["MigrationScheme", "Exchange", "ViaRoot", "route_migrants"]


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
    """The outcome of one epoch's exchange on a leader: its decision; on rank 0 also every report (in
    leader order) and the migration records (in route order)."""

    decision: Decision
    reports: list[EpochReport] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)


class MigrationScheme(Protocol):
    def exchange(self, backend, epoch: int, report: EpochReport, routes: Callable[[], list],
                 decide: Callable[[list[EpochReport]], tuple]) -> Exchange:
        """Exchange this epoch's migrants and reach rank 0's decision.

        `routes()` returns the topology's checked routes for `epoch` (a pure function of the run seed and
        the epoch, so any leader may call it); `decide(reports)` runs on rank 0 only and returns
        (stop reason or None, checkpoint now?)."""
        ...


class ViaRoot:
    """Every leader's report to rank 0; rank 0 routes, decides and scatters: O(leaders) messages on rank 0."""

    def exchange(self, backend, epoch, report, routes, decide):
        reports = backend.gather(report)
        decisions = None
        records = []
        if backend.is_root:
            outgoing = {k: v for r in reports for k, v in r.outgoing.items()}
            incoming, records = route_migrants(outgoing, routes() if any(outgoing.values()) else [], epoch)
            stop_reason, checkpoint_now = decide(reports)
            decisions = [Decision({i: incoming.get(i, []) for i in r.outgoing}, stop_reason, checkpoint_now)
                         for r in reports]
            if backend.n_groups == 1:  # no message was sent: copy as a message would, so every launch mode is alike
                decisions = pickle.loads(pickle.dumps(decisions, pickle.HIGHEST_PROTOCOL))
        mine = backend.scatter(decisions)
        return Exchange(mine, reports if backend.is_root else [], records)
