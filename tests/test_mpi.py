"""In-process MPI tests: run with `mpiexec -n 4 python -m pytest --with-mpi -m mpi tests/test_mpi.py`.

Every rank runs the same test; collective calls must not hang (pytest-timeout and MPIEXEC_TIMEOUT bound them).
"""

import io
import socket

import pytest
from conftest import RESULT_FILES

pytestmark = [pytest.mark.mpi(min_size=4), pytest.mark.timeout(120)]


def _comm():
    from mpi4py import MPI

    return MPI.COMM_WORLD


def _serial_reference(overrides, out):
    """The same search on this rank alone (MPI.COMM_SELF: the serial backend, in this process)."""
    from mpi4py import MPI

    from hpcevo.runner import run

    assert run(None, {**overrides, "out": str(out)}, out=io.StringIO(), comm=MPI.COMM_SELF) == 0


@pytest.mark.parametrize("migration", ["neighbour", "via_root"])
@pytest.mark.parametrize("ranks_per_island", [1, 2])
@pytest.mark.parametrize("problem", ["onemax", "zdt1"])
def test_world_matches_serial_backend(mpi_tmp_path, problem, ranks_per_island, migration):
    from hpcevo.runner import run

    comm = _comm()
    overrides = {"problem": problem, "islands": 5, "population": 16, "generations": 6, "migration_interval": 2,
                 "migrants": 2, "progress": False, "ranks_per_island": ranks_per_island, "migration": migration,
                 "topology": "complete" if problem == "zdt1" else "ring", "checkpoint_every": 1,
                 "problem_options": {"length": 12} if problem == "onemax" else {"dimension": 4}}
    status = run(None, {**overrides, "out": str(mpi_tmp_path / "mpi")})
    assert status == 0
    comm.Barrier()
    if comm.rank == 0:
        _serial_reference(overrides, mpi_tmp_path / "serial")
        for name in RESULT_FILES:
            assert (mpi_tmp_path / "mpi" / name).read_bytes() == (mpi_tmp_path / "serial" / name).read_bytes(), name


def test_bad_config_every_rank_raises_the_same_error(mpi_tmp_path):
    from hpcevo.errors import WorldError
    from hpcevo.runner import run

    with pytest.raises(WorldError, match="islands = 2 is fewer than the 4 rank groups"):
        run(None, {"islands": 2, "out": str(mpi_tmp_path / "r")})  # 2 islands < 4 groups
    assert not (mpi_tmp_path / "r").exists()


def test_problem_error_on_one_rank_only(mpi_tmp_path, monkeypatch):
    """A factory that fails on rank 3 alone: every rank raises rank 3's error, which names rank 3."""
    from hpcevo.errors import ProblemError
    from hpcevo.runner import run

    comm = _comm()
    if comm.rank == 3:
        monkeypatch.setattr("tests.support.factories.plain_toolbox", _broken)
    with pytest.raises(ProblemError, match="problem factory 'tests.support.factories:plain_toolbox' raised "
                                           "OSError") as caught:
        run(None, {"problem": "tests.support.factories:plain_toolbox", "out": str(mpi_tmp_path / "r")})
    assert caught.value.rank == 3


def test_evolve_on_every_rank_matches_the_serial_call(mpi_tmp_path):
    """hpcevo.evolve called by every rank (as a script under mpiexec does): rank 0 gets the Result, the others
    None, and it equals the same call on one rank; evolve(out=DIR) writes the files a serial run writes."""
    from mpi4py import MPI

    import hpcevo
    from tests.support.factories import plain_toolbox

    comm = _comm()
    settings = {"islands": 6, "population": 12, "generations": 6, "migration_interval": 2, "migrants": 2,
                "seed": 11, "progress": False}
    toolbox = plain_toolbox()
    result = hpcevo.evolve(toolbox, out=mpi_tmp_path / "mpi", **settings)
    assert (result is None) == (comm.rank != 0)
    in_memory = hpcevo.evolve(toolbox, **settings)
    comm.Barrier()
    if comm.rank == 0:
        alone = hpcevo.evolve(toolbox, comm=MPI.COMM_SELF, out=mpi_tmp_path / "serial", **settings)
        for name in RESULT_FILES:
            assert (mpi_tmp_path / "mpi" / name).read_bytes() == (mpi_tmp_path / "serial" / name).read_bytes(), name
        assert result.summary["ranks"] == 4 and alone.summary["ranks"] == 1
        for other in (alone, in_memory):
            assert [list(ind) for ind in result.hall_of_fame] == [list(ind) for ind in other.hall_of_fame]
            assert [[list(ind) for ind in pop] for pop in result.populations] == \
                   [[list(ind) for ind in pop] for pop in other.populations]
            assert result.logbook.equals(other.logbook) and result.migrations.equals(other.migrations)
    comm.Barrier()


def _broken(*args, **kwargs):
    raise OSError("data file missing on this node")


def test_island_blocks_cover_all_islands():
    from hpcevo.comm import MPIBackend, World

    comm = _comm()
    backend = MPIBackend(World(comm), 2)
    ids = backend.island_ids(7) if backend.is_leader else []
    gathered = comm.allgather(ids)
    assert sorted(i for part in gathered for i in part) == list(range(7))
    assert gathered[0] == [0, 1, 2] and gathered[1] == [] and gathered[2] == [3, 4, 5, 6] and gathered[3] == []


def test_world_names_rank_and_host():
    from hpcevo.comm import World

    comm = _comm()
    assert World(comm).where == f"rank {comm.rank} on {socket.gethostname()}"


def test_stop_and_resume_on_another_layout_matches_serial(mpi_tmp_path):
    """Stopped on 4 ranks in groups of 2 (every rank returns 75), resumed on 4 single-rank groups: serial results."""
    from hpcevo.runner import run
    from hpcevo.stopping import EXIT_STOPPED

    comm = _comm()
    overrides = {"problem": "onemax", "islands": 4, "population": 16, "generations": 8, "migration_interval": 2,
                 "migrants": 2, "progress": False, "problem_options": {"length": 12}}
    run_dir = str(mpi_tmp_path / "mpi")
    assert run(None, {**overrides, "out": run_dir, "ranks_per_island": 2, "stop_after": 3}) == EXIT_STOPPED
    assert run(None, {"ranks_per_island": 1}, resume=run_dir) == 0
    comm.Barrier()
    if comm.rank == 0:
        _serial_reference(overrides, mpi_tmp_path / "serial")
        for name in RESULT_FILES:
            assert (mpi_tmp_path / "mpi" / name).read_bytes() == (mpi_tmp_path / "serial" / name).read_bytes(), name


def test_stop_channel_reaches_rank_0():
    """Any rank's stop request (sent from a signal handler without blocking) arrives at rank 0, named."""
    import time

    from hpcevo.comm import MPIBackend, World

    comm = _comm()
    backend = MPIBackend(World(comm), 2)
    backend.notify_stop("SIGUSR1")
    comm.Barrier()
    if comm.rank == 0:
        received, deadline = [], time.monotonic() + 10
        while len(received) < comm.size - 1 and time.monotonic() < deadline:
            received += backend.poll_stops()
        host = socket.gethostname()
        assert sorted(received) == [f"SIGUSR1 on rank {r} on {host}" for r in range(1, comm.size)]
    comm.Barrier()


def test_two_searches_side_by_side_on_sub_communicators(mpi_tmp_path):
    """comm= runs hpcevo on part of the job: two halves of the world run one search each, at the same time;
    each half's rank 0 gets the Result, and equal settings give equal results."""
    import hpcevo
    from tests.support.factories import plain_toolbox

    comm = _comm()
    half = comm.Split(comm.rank // 2, comm.rank)
    try:
        result = hpcevo.evolve(plain_toolbox(), comm=half, islands=4, population=10, generations=4,
                               migration_interval=2, seed=2, progress=False,
                               out=mpi_tmp_path / f"half{comm.rank // 2}")
        assert (result is None) == (half.rank != 0)
        assert result is None or result.summary["ranks"] == 2
    finally:
        half.Free()
    comm.Barrier()
    if comm.rank == 0:
        for name in RESULT_FILES:
            assert (mpi_tmp_path / "half0" / name).read_bytes() == (mpi_tmp_path / "half1" / name).read_bytes()


def test_neighbour_keeps_rank_0_traffic_flat(mpi_tmp_path):
    """Ring, one island per rank, on 2 and then 4 ranks (sub-communicators): rank 0 receives about as many
    bytes per epoch on 4 as on 2 (no migrants but its neighbour's, no logbook rows), and each leader's messages
    grow by the reduction tree's depth; via rank 0 they grow with the number of leaders."""
    import json
    import math

    import hpcevo

    comm = _comm()
    seen = {}
    for size in (2, 4):
        for scheme in ("neighbour", "via_root"):
            sub = comm.Split(0 if comm.rank < size else 1, comm.rank)
            try:
                if comm.rank < size:
                    hpcevo.evolve("rastrigin", comm=sub, problem_options={"dimension": 10}, islands=size,
                                  population=12, generations=12, migration_interval=2, migrants=3, seed=1,
                                  migration=scheme, progress=False, out=mpi_tmp_path / f"{scheme}{size}")
            finally:
                sub.Free()
            comm.Barrier()
            seen[scheme, size] = json.loads((mpi_tmp_path / f"{scheme}{size}" / "summary.json").read_text())[
                "coordination"]
    small, large = seen["neighbour", 2], seen["neighbour", 4]
    assert large["scheme"] == "neighbour"
    assert 0 < large["rank0_received_bytes_per_epoch"] <= 1.5 * small["rank0_received_bytes_per_epoch"]
    for size in (2, 4):
        assert seen["neighbour", size]["max_leader_messages_per_epoch"] <= 1 + 2 * math.log2(size) + 3
    assert seen["via_root", 4]["rank0_received_bytes_per_epoch"] > 1.5 * seen["via_root", 2][
        "rank0_received_bytes_per_epoch"]
    assert seen["via_root", 4]["rank0_received_bytes_per_epoch"] > 2 * large["rank0_received_bytes_per_epoch"]


@pytest.mark.parametrize("ranks_per_island", [1, 2])
def test_async_ends_with_every_message_received(mpi_tmp_path, ranks_per_island):
    """migration = "async" on this MPI (the mpich wheel, and Open MPI in CI): no epoch barrier, every island's
    every generation logged once, every message sent received, the final checkpoint in one part per leader."""
    import csv
    import json

    from hpcevo.runner import run

    out = mpi_tmp_path / "async"
    overrides = {"problem": "onemax", "islands": 6, "population": 12, "generations": 9, "migration_interval": 2,
                 "migrants": 2, "progress": False, "ranks_per_island": ranks_per_island, "migration": "async",
                 "problem_options": {"length": 12}, "out": str(out)}
    assert run(None, overrides, out=io.StringIO()) == 0
    _comm().Barrier()
    if _comm().rank == 0:
        with open(out / "logbook.csv") as fh:
            seen = sorted((int(r["island"]), int(r["gen"])) for r in csv.DictReader(fh))
        assert seen == sorted((i, g) for i in range(6) for g in range(10))
        summary = json.loads((out / "summary.json").read_text())
        coordination = summary["coordination"]
        assert summary["reproducible"] is False and coordination["scheme"] == "async"
        assert coordination["messages_sent"] == coordination["messages_received"] > 0
        assert summary["checkpoint"]["parts"] == 4 // ranks_per_island


def test_many_runs_in_one_process_free_what_they_make(mpi_tmp_path):
    """A sweep from Python: 40 searches in one process on 4 ranks. Each run frees its reduction operations and
    communicators (MPI allows few user-defined operations: before, the 20th or so run failed creating one)."""
    from hpcevo.runner import run

    for i in range(40):
        overrides = {"problem": "onemax", "islands": 4, "population": 6, "generations": 2, "migration_interval": 1,
                     "migrants": 1,
                     "progress": False, "seed": i, "migration": ("neighbour", "async")[i % 2],
                     "problem_options": {"length": 8}}
        assert run(None, overrides, out=io.StringIO()) == 0


def test_walkforward_windows_side_by_side_match_the_serial_walkforward(mpi_tmp_path):
    """hpcevo walkforward in this job: 4 ranks as 2 slots of 2 (2 islands a window), then the same walk-forward on
    rank 0 alone (MPI.COMM_SELF): byte-identical walkforward.csv and stitched returns."""
    from mpi4py import MPI

    from hpcevo.walkforward.driver import walkforward
    from tests.support.markets import random_walk_closes, write_ohlcv

    comm = _comm()
    data = mpi_tmp_path / "market.csv"
    if comm.rank == 0:
        write_ohlcv(data, random_walk_closes(1700, 4), 4)
    comm.Barrier()
    overrides = {"islands": 2, "population": 12, "generations": 2, "migration_interval": 1, "migrants": 2,
                 "progress": False, "problem_options": {"data": str(data), "folds": 2, "selection_years": 1},
                 "walkforward": {"train_years": 3, "test_years": 1}}
    quiet = io.StringIO()
    assert walkforward(None, {**overrides, "out": str(mpi_tmp_path / "mpi")}, out=quiet) == 0
    comm.Barrier()
    if comm.rank == 0:
        assert walkforward(None, {**overrides, "out": str(mpi_tmp_path / "serial")}, comm=MPI.COMM_SELF,
                           out=quiet) == 0
        for name in ("walkforward.csv", "walkforward_returns.csv"):
            assert (mpi_tmp_path / "mpi" / name).read_bytes() == (mpi_tmp_path / "serial" / name).read_bytes()
        import json

        summary = json.loads((mpi_tmp_path / "mpi" / "summary.json").read_text())
        assert (summary["ranks"], summary["parallel"], summary["ranks_per_window"]) == (4, 2, 2)
    comm.Barrier()
