"""The typed messages of one epoch: a report from each group leader, a decision from rank 0.

They replace positional tuples read back by index, so a new migration scheme can add or route fields
without every reader counting positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["EpochReport", "EpochTotals", "Decision"]


@dataclass
class EpochReport:
    """What one leader says at the end of an epoch, for the islands it hosts.

    `outgoing`: island -> emigrants (empty lists when the epoch does not migrate); `status`: island ->
    (weighted best fitness or None, evaluations so far); `compute_seconds`: the leader's evolution time this
    epoch (rank 0 splits waiting from migration with it); `stop_request`: 'SIGTERM on rank R on HOST' when
    this leader was asked to stop; `rows`: island -> the logbook rows recorded this epoch; `migrating`:
    whether this epoch migrates (the same on every leader).
    """

    outgoing: dict = field(default_factory=dict)
    status: dict = field(default_factory=dict)
    compute_seconds: float = 0.0
    stop_request: str | None = None
    rows: dict = field(default_factory=dict)
    migrating: bool = False


@dataclass
class EpochTotals:
    """What rank 0 needs of all leaders' reports to decide and to print progress: bounded in size whatever the
    number of leaders, so a scheme may reduce it along a tree instead of gathering the reports.

    `best`: the best weighted fitness of any island (None before any is scored); `evaluations`: their sum;
    `compute_seconds`: the slowest leader's evolution time this epoch; `stop_requests`: (rank, text) of the
    first few leaders asked to stop, by rank, and `more_stops` how many others were.
    """

    best: tuple | None = None
    evaluations: int = 0
    compute_seconds: float = 0.0
    stop_requests: list = field(default_factory=list)
    more_stops: int = 0

    KEPT_STOPS = 4

    @classmethod
    def of(cls, report: EpochReport, rank: int) -> EpochTotals:
        bests = [best for best, _ in report.status.values() if best is not None]
        return cls(max(bests) if bests else None, sum(ev for _, ev in report.status.values()),
                   report.compute_seconds, [(rank, report.stop_request)] if report.stop_request else [], 0)

    def merge(self, other: EpochTotals) -> EpochTotals:
        """The totals of both (associative and commutative, so any reduction tree gives the same result)."""
        bests = [b for b in (self.best, other.best) if b is not None]
        stops = sorted(self.stop_requests + other.stop_requests)
        return EpochTotals(max(bests) if bests else None, self.evaluations + other.evaluations,
                           max(self.compute_seconds, other.compute_seconds), stops[:self.KEPT_STOPS],
                           self.more_stops + other.more_stops + max(0, len(stops) - self.KEPT_STOPS))


@dataclass
class Decision:
    """What rank 0 sends each leader back: its islands' immigrants, and whether to stop or checkpoint now."""

    incoming: dict = field(default_factory=dict)
    stop_reason: str | None = None
    checkpoint_now: bool = False
