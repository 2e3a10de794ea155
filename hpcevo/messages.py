"""The typed messages of one epoch: a report from each group leader, a decision from rank 0.

They replace positional tuples read back by index, so a new migration scheme can add or route fields
without every reader counting positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["EpochReport", "Decision"]


@dataclass
class EpochReport:
    """What one leader says at the end of an epoch, for the islands it hosts.

    `outgoing`: island -> emigrants (empty lists when the epoch does not migrate); `status`: island ->
    (weighted best fitness or None, evaluations so far); `compute_seconds`: the leader's evolution time this
    epoch (rank 0 splits waiting from migration with it); `stop_request`: 'SIGTERM on rank R on HOST' when
    this leader was asked to stop; `rows`: island -> the logbook rows recorded this epoch.
    """

    outgoing: dict = field(default_factory=dict)
    status: dict = field(default_factory=dict)
    compute_seconds: float = 0.0
    stop_request: str | None = None
    rows: dict = field(default_factory=dict)


@dataclass
class Decision:
    """What rank 0 sends each leader back: its islands' immigrants, and whether to stop or checkpoint now."""

    incoming: dict = field(default_factory=dict)
    stop_reason: str | None = None
    checkpoint_now: bool = False
