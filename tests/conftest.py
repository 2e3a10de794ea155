"""Shared helpers: launching the real CLI (serially or under mpiexec) with a time bound."""

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
RESULT_FILES = ("logbook.csv", "migrations.csv", "hall_of_fame.json")


def pytest_configure(config):
    """Under `mpiexec -n 4 pytest`, give each rank its own temporary root: four pytest processes pruning one
    shared /tmp/pytest-of-USER at once raced (a rank's directory scan saw another's deletions and failed)."""
    rank = os.environ.get("PMI_RANK") or os.environ.get("OMPI_COMM_WORLD_RANK")
    if rank is not None and config.option.basetemp is None:
        config.option.basetemp = str(Path(tempfile.gettempdir()) / f"hpcevo-pytest-{os.getuid()}-rank{rank}")


@pytest.fixture(autouse=True)
def keep_global_random():
    """Tests may seed the global generators; give the next test the state it would have had."""
    state, np_state = random.getstate(), np.random.get_state()
    yield
    random.setstate(state)
    np.random.set_state(np_state)


def hpcevo(args, ranks=None, timeout=120, env=None, cwd=None, launcher_flags=()):
    """Run `python -m hpcevo ARGS` (under `mpiexec [launcher_flags] -n ranks` when given); returns CompletedProcess.

    The time bound turns a deadlock into a test failure instead of a stuck CI job.
    """
    cmd = [sys.executable, "-m", "hpcevo", *map(str, args)]
    if ranks is not None:
        if MPIEXEC is None:
            pytest.fail("mpiexec not found: install the test extras (pip install -e '.[mpich,test]')")
        cmd = [MPIEXEC, *launcher_flags, "-n", str(ranks), *cmd]
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "MPIEXEC_TIMEOUT": str(timeout), **(env or {})}
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 10, env=full_env, cwd=cwd)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(cmd)} did not finish within {timeout + 10}s (hang?)\n{exc.stderr}")


def same_results(dir_a, dir_b):
    """Assert the result files of two runs are byte-identical."""
    for name in RESULT_FILES:
        a, b = (Path(dir_a) / name).read_bytes(), (Path(dir_b) / name).read_bytes()
        assert a == b, f"{name} differs between {dir_a} and {dir_b}"


def rank_pids(run_dir):
    """{rank: pid} of the run's live processes, from the ranks.csv it writes (a stale file's pids are gone)."""
    try:
        lines = (Path(run_dir) / "ranks.csv").read_text().splitlines()[1:]
    except OSError:
        return {}
    found = {}
    for line in lines:
        rank, _, pid = line.split(",")[:3]
        try:
            if str(run_dir).encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found[int(rank)] = int(pid)
        except OSError:
            continue
    return found


def no_rank_left(run_dir, seconds=15):
    """Assert every rank of the run is gone (allowing for processes still tearing down when the launcher returns)."""
    deadline = time.monotonic() + seconds
    while rank_pids(run_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rank_pids(run_dir) == {}, "ranks left running"


def launch(args, ranks, run_dir, env=None):
    """Start `python -m hpcevo ARGS --out RUN_DIR` (under `mpiexec -n ranks` when given) in its own session, so a
    test can signal it or kill the whole job; stdout and stderr are pipes."""
    cmd = [sys.executable, "-m", "hpcevo", *map(str, args), "--out", str(run_dir)]
    if ranks:
        cmd = [MPIEXEC, "-n", str(ranks), *cmd]
    full = {**os.environ, "PYTHONPATH": str(ROOT), "MPIEXEC_TIMEOUT": "120", **(env or {})}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=full,
                            start_new_session=True)


def wait_for_epoch(proc, epoch):
    """Read the job's progress lines until epoch `epoch` is reported."""
    for line in proc.stdout:
        if line.startswith(f"epoch {epoch}/"):
            return
    pytest.fail(f"the run ended before epoch {epoch}: {proc.stderr.read()}")


def finish(proc, timeout=60):
    """(stdout, stderr) once the job ends; a job still running after `timeout` is killed and the test fails."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail("the job did not end after the signal (hang)")
    return out, err
