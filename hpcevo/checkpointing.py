"""Checkpoints across the group leaders: each leader writes its islands' states to its own part file and rank 0
the manifest (hpcevo.checkpoint holds the file formats); on resume each leader reads its own islands.

Shared by the synchronous loop (hpcevo.engine) and the asynchronous one (hpcevo.asynchronous).
"""

from __future__ import annotations

import time

from .checkpoint import CheckpointError, read_islands, write_part
from .errors import OutputError

__all__ = ["take_checkpoint", "restore_islands", "read_own_islands", "results_of", "SUMMARY_KEYS"]


def restore_islands(backend, config, saved, islands):
    """Continue this leader's `islands` from the checkpoint state `saved` (rank 0's; None elsewhere): rank 0
    sends each leader where its islands' states lie (or, from a format-1 checkpoint, the states), each leader
    reads and restores its own.  Returns, on every leader, (generation, pending_migration, the next checkpoint's
    sequence, evaluations before the resume) as the checkpoint records them."""
    items = None
    if backend.is_root:
        by_index = {st["index"]: st for st in saved.get("locations") or saved["islands"]}
        head = (saved["generation"], saved.get("pending_migration", False), saved.get("sequence", 0) + 1,
                sum(st["evaluations"] for st in by_index.values()))
        items = [(head, [by_index[i] for i in ids]) for ids in backend.leader_islands(config.islands)]
    head, states = backend.scatter(items)
    for island, state in zip(islands, read_own_islands(backend, config, states)):
        island.restore(state)
    return head


def read_own_islands(backend, config, items):
    """This leader's island states: given (a format-1 checkpoint, scattered by rank 0), or read from the part
    files at the given locations.  A part that fails its check on any leader is refused on every leader."""
    if not items or "sha256" not in items[0]:
        return items
    states, error = [], None
    try:
        states = read_islands(config.out, items)
    except CheckpointError as exc:
        error = (backend.world.rank, str(exc))
    first = backend.allreduce(error, _first_error)
    if first is not None:
        raise CheckpointError(first[1])
    return states


def _first_error(a, b):
    return b if a is None or (b is not None and b < a) else a


def take_checkpoint(backend, islands, config, sink, clock, done, final, pending=False, shard=None, sequence=1):
    """A consistent state of every island; returns it on rank 0 (islands in index order).

    With a run folder each leader writes its islands' states to its own part file of checkpoint `sequence`
    and rank 0 receives only where they lie and each island's summary (hall of fame, counts: what the
    progress outputs need); the manifest rank 0 then writes makes the checkpoint.  The final checkpoint also
    gathers the whole states, which the results are made from (populations, trials).  A run kept in memory
    gathers the states and writes nothing.
    `pending`: the run ended at an epoch boundary without that epoch's migration (an extension makes it).
    `shard`: this leader's log shard, sealed before the gather so that rank 0 merges it whole first."""
    t0 = time.perf_counter()
    sealed = shard.seal(final=final) if shard is not None else None
    states = [island.state() for island in islands]
    locations = None
    if config.out:
        leader = backend.leader_ranks().index(backend.world.rank)
        try:
            locations = write_part(config.out, sequence, leader, states)
        except OSError as exc:
            raise OutputError(f"cannot write the checkpoint part {exc.filename or config.out}: "
                              f"{exc.strerror or exc}. The last good checkpoint and the files written before are "
                              f"intact. Free space or fix the run folder {config.out} (it must be on a filesystem "
                              f"every rank can write), then continue with: python -m hpcevo run --resume "
                              f"{config.out}") from None
        if not final:
            states = [{k: v for k, v in st.items() if k in SUMMARY_KEYS} for st in states]
    parts = backend.gather((locations, states))
    if not backend.is_root:
        return None
    if sealed is not None:
        sink.merge_logs(sealed)
    merged = sorted((st for _, part in parts for st in part), key=lambda st: st["index"])
    state = {"generation": done, "epoch": -(-done // config.migration_interval), "islands": merged,
             "pending_migration": pending}
    if config.out:
        state["locations"] = sorted((w for where, _ in parts for w in where), key=lambda w: w["index"])
        state["sequence"] = sequence
    sink.checkpoint(state)
    clock.last_checkpoint = time.perf_counter() - t0
    clock.checkpoint += clock.last_checkpoint
    if not final:
        sink.progress(results_of(state, clock, None))
    return state


# what rank 0 needs of each island at a periodic checkpoint (the hall of fame and counts for the outputs)
SUMMARY_KEYS = ("index", "hof", "evaluations", "failures", "eval_seconds", "step_seconds")


def results_of(state, clock, stopped):
    """Rank 0: the checkpoint state plus this session's time split (what the outputs are written from)."""
    return {**state, "migration_seconds": clock.migration, "waiting_seconds": clock.waiting,
            "checkpoint_seconds": clock.checkpoint, "wall_seconds": time.perf_counter() - clock.start,
            "stopped": stopped,
            "session_evaluations": sum(st["evaluations"] for st in state["islands"]) - clock.base_evals}
