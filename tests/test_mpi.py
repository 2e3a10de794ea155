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
    """The same search through the serial backend in this process (no MPI involved)."""
    from hpcevo.comm import SerialBackend, World
    from hpcevo.config import load_config
    from hpcevo.engine import Control
    from hpcevo.output import RunFiles, write_results
    from hpcevo.problem import load_problem

    config = load_config(None, overrides)
    config = config.resolve(1)
    problem = load_problem(config.problem, config.problem_options, config.algorithm)
    import dataclasses

    from hpcevo.engine import run_islands

    config = dataclasses.replace(config, algorithm="nsga2" if problem.n_objectives > 1 else "simple")
    backend = SerialBackend(World())
    out.mkdir()
    files = RunFiles(out, problem.n_objectives)
    with backend.serving(problem, config.chunksize) as evaluator:
        results = run_islands(config, problem, backend, evaluator, out=io.StringIO(), control=Control(record=files))
    files.close()
    write_results(out, config, problem, results)


@pytest.mark.parametrize("ranks_per_island", [1, 2])
@pytest.mark.parametrize("problem", ["onemax", "zdt1"])
def test_world_matches_serial_backend(mpi_tmp_path, problem, ranks_per_island):
    from hpcevo.runner import run

    comm = _comm()
    overrides = {"problem": problem, "islands": 5, "population": 16, "generations": 6, "migration_interval": 2,
                 "migrants": 2, "progress": False, "ranks_per_island": ranks_per_island,
                 "problem_options": {"length": 12} if problem == "onemax" else {"dimension": 4}}
    status = run(None, {**overrides, "out": str(mpi_tmp_path / "mpi")})
    assert status == 0
    comm.Barrier()
    if comm.rank == 0:
        _serial_reference(overrides, mpi_tmp_path / "serial")
        for name in RESULT_FILES:
            assert (mpi_tmp_path / "mpi" / name).read_bytes() == (mpi_tmp_path / "serial" / name).read_bytes(), name


def test_bad_config_every_rank_returns_2(mpi_tmp_path, capsys):
    from hpcevo.runner import run

    status = run(None, {"islands": 2, "out": str(mpi_tmp_path / "r")})  # 2 islands < 4 groups
    assert status == 2
    err = capsys.readouterr().err
    if _comm().rank == 0:
        assert "islands = 2 is fewer than the 4 rank groups" in err
    else:
        assert err == ""
    assert not (mpi_tmp_path / "r").exists()


def test_problem_error_on_one_rank_only(mpi_tmp_path, capsys, monkeypatch):
    """A factory that fails on rank 3 alone: all ranks return 2; rank 0 reports rank 3's message."""
    from hpcevo.runner import run

    comm = _comm()
    if comm.rank == 3:
        monkeypatch.setattr("tests.support.factories.plain_toolbox", _broken)
    status = run(None, {"problem": "tests.support.factories:plain_toolbox", "out": str(mpi_tmp_path / "r")})
    assert status == 2
    err = capsys.readouterr().err
    if comm.rank == 0:
        assert "error (on rank 3): problem factory 'tests.support.factories:plain_toolbox' raised OSError" in err


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
