"""The one module that talks MPI: the world, rank groups, the evaluation executor, gather/scatter, abort.

Everything else is plain Python driven through a backend: `SerialBackend` runs every island in one
process, `MPIBackend` gives each group leader its block of islands and its group's ranks as evaluators.
Both expose the same methods, which is how results are proven identical across launch modes.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Protocol

from .errors import WorldError
from .evaluation import evaluate_many, evaluate_remote, evaluate_remote_batch, install_local

__all__ = ["World", "detect_world", "Backend", "SerialBackend", "MPIBackend", "island_block"]

_ABORT_GRACE_SECONDS = 0.5
_STOP_TAG = 75
_MIGRANT_TAG = 76
_ASYNC_TAG = 77  # asynchronous migration's messages (hpcevo.asynchronous), apart from the epoch exchanges
_LAUNCHER_SIZE_VARS = ("SLURM_NTASKS", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE")


def island_block(n_islands, n_groups, group):
    """The islands group `group` hosts: contiguous, balanced blocks in island order."""
    return list(range(group * n_islands // n_groups, (group + 1) * n_islands // n_groups))


class World:
    """The launched processes: rank, size, host, and collective helpers that work at size 1 too."""

    def __init__(self, comm=None):
        self.comm = comm
        self.rank = comm.Get_rank() if comm is not None else 0
        self.size = comm.Get_size() if comm is not None else 1
        self.host = socket.gethostname()
        self.where = f"rank {self.rank} on {self.host}"

    def bcast(self, obj):
        return obj if self.comm is None else self.comm.bcast(obj, root=0)

    def allgather(self, obj):
        return [obj] if self.comm is None else self.comm.allgather(obj)

    def abort(self, status):
        """End every rank of the job now (a plain exit when there is only this process)."""
        sys.stdout.flush()
        sys.stderr.flush()
        if self.comm is not None and self.size > 1:
            # Give the launcher a moment to forward what this rank printed: MPI_Abort tears down the
            # processes that relay output, and under load the message naming rank and host was lost.
            time.sleep(_ABORT_GRACE_SECONDS)
            self.comm.Abort(status)
        os._exit(status)

    def split(self, color):
        """The World of the ranks that give the same `color` (an int >= 0), in rank order; collective. A rank
        giving None takes part in no new world and gets None."""
        if self.comm is None:
            return self if color is not None else None
        from mpi4py import MPI

        comm = self.comm.Split(MPI.UNDEFINED if color is None else color, self.rank)
        return None if comm == MPI.COMM_NULL else World(comm)

    def free(self):
        """Free a World made by `split` (collective over its ranks)."""
        if self.comm is not None:
            self.comm.Free()
            self.comm = None

    def barrier(self):
        if self.comm is not None:
            self.comm.Barrier()

    def node_key(self):
        """The lowest world rank on this process's node (its shared-memory domain, as MPI sees it): equal for
        the ranks of one node.  Collective: every rank calls it together."""
        if self.comm is None or self.size == 1:
            return 0
        from mpi4py import MPI

        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED)
        try:
            return node.allreduce(self.rank, op=MPI.MIN)
        finally:
            node.Free()

    def thread_multiple(self):
        from mpi4py import MPI

        return MPI.Query_thread() >= MPI.THREAD_MULTIPLE

    def backend(self, ranks_per_island):
        """The backend for this world: serial for one process, MPI groups otherwise."""
        if self.size == 1:
            return SerialBackend(self)
        return MPIBackend(self, ranks_per_island)


def detect_world(comm=None):
    """The processes of this run: `comm` (an mpi4py communicator; default MPI.COMM_WORLD).

    Refuses a single-process world when a launcher started several tasks."""
    from mpi4py import MPI

    world = World(MPI.COMM_WORLD if comm is None else comm)
    if comm is not None:
        return world
    if world.size == 1:
        for var in _LAUNCHER_SIZE_VARS:
            value = os.environ.get(var, "1")
            if value.isdigit() and int(value) > 1:
                raise WorldError(
                    f"{var}={value} says {value} tasks were launched, but MPI sees a world of 1: each task would "
                    f"run the whole search alone. Launch with an MPI that matches mpi4py's (e.g. `srun --mpi=pmi2` "
                    f"or that MPI's own mpiexec, not `srun --mpi=none`), or start a single task.")
    return world


class Backend(Protocol):
    """What the engine needs of a launch mode: which islands this process hosts, the leaders' collectives,
    the stop channel and an evaluator.  `SerialBackend` and `MPIBackend` are the two implementations."""

    world: World
    n_groups: int
    is_root: bool

    def island_ids(self, n_islands: int) -> list[int]: ...

    def leader_islands(self, n_islands: int) -> list[list[int]]: ...

    def leader_ranks(self) -> list[int]: ...

    def gather(self, obj: Any) -> list | None: ...

    def scatter(self, items: list | None) -> Any: ...

    def allreduce(self, obj: Any, merge: Callable[[Any, Any], Any]) -> Any: ...

    def bcast(self, obj: Any) -> Any: ...

    def exchange_with(self, sends: dict[int, Any], sources: list[int]) -> dict[int, Any]: ...

    def received(self) -> tuple[int, int] | None: ...

    # asynchronous migration: point to point between leaders (by gather index), never waiting on a peer
    def post(self, leader: int, obj: Any) -> Any: ...

    def arrived(self) -> list[tuple[int, Any]]: ...

    def collect(self, expected: list[int]) -> list[tuple[int, Any]]: ...

    def alltoall(self, counts: list[int]) -> list[int]: ...

    def complete(self, requests: list) -> None: ...

    def notify_stop(self, reason: str) -> None: ...

    def poll_stops(self) -> list[str]: ...

    def close(self) -> None: ...

    def serving(self, problem, chunksize: int, timeout: float = 0.0) -> AbstractContextManager[
            Callable[[list], list] | None]: ...


def _in_process(problem, where):
    """An evaluator that evaluates in this process (no pickling): one call of the toolbox's evaluate_batch per
    generation when it has one, else evaluate per individual."""
    return lambda individuals: evaluate_many(problem, individuals, where)


def _remote(executor, problem, chunksize, workers):
    """An evaluator that maps over the group's worker ranks: per individual (`chunksize` to a message), or with
    evaluate_batch in contiguous chunks, one or more per worker, results in the individuals' order."""
    if getattr(problem.toolbox, "evaluate_batch", None) is None:
        return lambda individuals: list(executor.map(evaluate_remote, individuals, chunksize=chunksize))

    def evaluate(individuals):
        size = max(chunksize, -(-len(individuals) // workers))
        chunks = [individuals[i:i + size] for i in range(0, len(individuals), size)]
        return [entry for part in executor.map(evaluate_remote_batch, chunks) for entry in part]

    return evaluate


class SerialBackend:
    """All islands in this one process; evaluation in-process; gather/scatter are identities."""

    n_groups = 1

    def __init__(self, world):
        self.world = world
        self.is_root = True

    def island_ids(self, n_islands):
        return list(range(n_islands))

    def leader_islands(self, n_islands):
        """The islands of each group leader, in gather order."""
        return [list(range(n_islands))]

    def leader_ranks(self):
        """The world rank of each group leader, in gather order."""
        return [0]

    def gather(self, obj):
        return [obj]

    def scatter(self, items):
        return items[0]

    def allreduce(self, obj, merge):
        """`obj` merged with every other leader's by `merge` (associative, commutative); here only one."""
        return obj

    def bcast(self, obj):
        return obj

    def exchange_with(self, sends, sources):
        """Send sends[g] to leader g and receive one object from each leader in `sources` (none here)."""
        if sends or sources:
            raise ValueError(f"one process hosts every island: nothing to send to leaders {sorted(sends)} or "
                             f"receive from {sources}")
        return {}

    def received(self):
        """(objects, bytes) this process has unpickled from MPI messages so far: none here."""
        return 0, 0

    def post(self, leader, obj):
        """Asynchronous migration: send `obj` to leader `leader` without waiting (none here: one leader)."""
        raise ValueError(f"one process hosts every island: there is no leader {leader} to send to")

    def arrived(self):
        """The asynchronous messages that have arrived, as (leader, object), in arrival order: none here."""
        return []

    def collect(self, expected):
        """Block until expected[g] more asynchronous messages have come from each leader g: none here."""
        if any(expected):
            raise ValueError(f"one process hosts every island: no messages can be expected ({expected})")
        return []

    def alltoall(self, counts):
        """counts[g] goes to leader g; returns what each leader sent this one (here: this one's own)."""
        return list(counts)

    def complete(self, requests):
        """Wait for the sends `post` started (none here)."""

    def notify_stop(self, reason):
        """Tell rank 0 this process was asked to stop (`reason`: the signal name); here this is rank 0."""

    def poll_stops(self):
        """Rank 0: stop requests other ranks sent since the last poll, as 'SIGNAL on rank R on HOST' texts."""
        return []

    def close(self):
        """Nothing to free in one process."""

    @contextmanager
    def serving(self, problem, chunksize, timeout=0.0):
        """Yield an evaluator; every process of the group is a leader here."""
        install_local(problem, self.world.where, timeout, self.world.abort)
        yield _in_process(problem, self.world.where)


class MPIBackend:
    """Groups of `ranks_per_island` ranks; group leaders host islands, the other ranks evaluate for them."""

    def __init__(self, world, ranks_per_island):
        from mpi4py import MPI

        self.world = world
        comm = world.comm
        self.ranks_per_island = ranks_per_island
        self.n_groups = world.size // ranks_per_island
        self.group = world.rank // ranks_per_island
        # Every communicator is made before any rank enters the executor, whose workers block in __enter__.
        self.group_comm = comm.Split(self.group, world.rank)
        self.is_leader = self.group_comm.Get_rank() == 0
        self.leader_comm = comm.Split(0 if self.is_leader else MPI.UNDEFINED, world.rank)
        self.stop_comm = comm.Dup()  # side channel: any rank tells rank 0 it got a stop signal
        self._stop_requests = []
        self.is_root = world.rank == 0
        self._ops = {}
        self._traffic = _Traffic.install()

    def island_ids(self, n_islands):
        return island_block(n_islands, self.n_groups, self.group)

    def leader_islands(self, n_islands):
        return [island_block(n_islands, self.n_groups, g) for g in range(self.n_groups)]

    def leader_ranks(self):
        return [g * self.ranks_per_island for g in range(self.n_groups)]

    def gather(self, obj):
        return self.leader_comm.gather(obj, root=0)

    def scatter(self, items):
        return self.leader_comm.scatter(items, root=0)

    def allreduce(self, obj, merge):
        """`obj` merged with every leader's by `merge` along MPI's reduction tree (O(log leaders) steps)."""
        from mpi4py import MPI

        op = self._ops.get(merge)
        if op is None:
            op = self._ops[merge] = MPI.Op.Create(lambda a, b, datatype=None: merge(a, b), commute=True)
        return self.leader_comm.allreduce(obj, op=op)

    def bcast(self, obj):
        return self.leader_comm.bcast(obj, root=0)

    def exchange_with(self, sends, sources):
        """Send sends[g] to leader g (without waiting) and receive one object from each leader in `sources`,
        in that order; returns {g: object}."""
        from mpi4py import MPI

        requests = [self.leader_comm.isend(obj, dest=g, tag=_MIGRANT_TAG) for g, obj in sorted(sends.items())]
        got = {g: self.leader_comm.recv(source=g, tag=_MIGRANT_TAG) for g in sources}
        MPI.Request.waitall(requests)
        return got

    def received(self):
        """(objects, bytes) unpickled from MPI messages so far, or None when they are not counted."""
        return None if self._traffic is None else (self._traffic.objects, self._traffic.bytes)

    def post(self, leader, obj):
        """Send `obj` to leader `leader` (its gather index) without waiting; returns the request to complete."""
        return self.leader_comm.isend(obj, dest=leader, tag=_ASYNC_TAG)

    def arrived(self):
        """The asynchronous messages that have arrived, as (leader, object), in arrival order; never blocks.

        A matched probe, then a receive of exactly that message: any size (a pre-posted lowercase irecv would
        truncate pickles over mpi4py's 32 KiB buffer), and safe while an executor thread also uses MPI."""
        from mpi4py import MPI

        got, status = [], MPI.Status()
        while (message := self.leader_comm.improbe(source=MPI.ANY_SOURCE, tag=_ASYNC_TAG, status=status)) is not None:
            got.append((status.Get_source(), message.recv()))
        return got

    def collect(self, expected):
        """Block until expected[g] more asynchronous messages have come from each leader g; in arrival order."""
        from mpi4py import MPI

        got, status = [], MPI.Status()
        for _ in range(sum(expected)):
            obj = self.leader_comm.recv(source=MPI.ANY_SOURCE, tag=_ASYNC_TAG, status=status)
            got.append((status.Get_source(), obj))
        return got

    def alltoall(self, counts):
        """counts[g] goes to leader g (blocking, every leader); returns what each leader sent this one."""
        return self.leader_comm.alltoall(list(counts))

    def complete(self, requests):
        """Wait for the sends `post` started (their receivers have taken them, or will)."""
        from mpi4py import MPI

        MPI.Request.waitall(requests)

    def close(self):
        """Free this run's reduction operations and communicators (collective: every rank, at the run's end).
        MPI allows only a few user-defined operations and a bounded number of communicators per process, so a
        program that runs many searches in one process (a sweep from Python, the test suite) must not leak them."""
        from mpi4py import MPI

        if self._ops is None:
            return
        for op in self._ops.values():
            op.Free()
        self._ops.clear()
        for comm in (self.group_comm, self.leader_comm, self.stop_comm):
            if comm != MPI.COMM_NULL:
                comm.Free()
        self.group_comm = self.leader_comm = self.stop_comm = MPI.COMM_NULL
        self._ops = None  # closed: a late stop signal has nowhere to go (the run is over)

    def notify_stop(self, reason):
        """Tell rank 0 (without blocking: this runs in a signal handler) that this rank was asked to stop."""
        if not self.is_root and self._ops is not None:
            self._stop_requests.append(self.stop_comm.isend(f"{reason} on {self.world.where}", dest=0, tag=_STOP_TAG))

    def poll_stops(self):
        from mpi4py import MPI

        received = []
        while self.stop_comm.iprobe(source=MPI.ANY_SOURCE, tag=_STOP_TAG):
            received.append(self.stop_comm.recv(source=MPI.ANY_SOURCE, tag=_STOP_TAG))
        return received

    @contextmanager
    def serving(self, problem, chunksize, timeout=0.0):
        """Leaders get an evaluator (yielded); workers serve evaluations and get None once released.

        `timeout`: the per-evaluation time limit, enforced on whichever rank evaluates."""
        install_local(problem, self.world.where, timeout, self.world.abort)
        if self.group_comm.Get_size() == 1:
            yield _in_process(problem, self.world.where)
            return
        from mpi4py.futures import MPICommExecutor

        with MPICommExecutor(self.group_comm, root=0) as executor:
            if executor is None:
                yield None
                return
            yield _remote(executor, problem, chunksize, self.group_comm.Get_size() - 1)


class _Traffic:
    """Counts the objects and bytes this process unpickles from MPI messages (mpi4py's pickle hook): how the
    engine measures its own coordination.  One per process, installed once, and only over mpi4py's default
    (the standard library's pickle): a program that configured its own (dill, cloudpickle) keeps it, uncounted."""

    _installed = None
    _refused = False

    def __init__(self):
        self.objects = 0
        self.bytes = 0

    @classmethod
    def install(cls):
        if cls._installed is None and not cls._refused:
            import pickle

            from mpi4py import MPI

            try:
                MPI.pickle.dumps(lambda: None)  # the standard library refuses a lambda; dill and cloudpickle don't
            except Exception:  # noqa: BLE001 - any refusal means the default pickle
                pass
            else:
                cls._refused = True
                return None
            traffic = cls()

            def loads(data, *args):
                traffic.objects += 1
                traffic.bytes += memoryview(data).nbytes
                return pickle.loads(data, *args)

            MPI.pickle.__init__(pickle.dumps, loads, MPI.pickle.PROTOCOL, MPI.pickle.THRESHOLD)
            cls._installed = traffic
        return cls._installed
