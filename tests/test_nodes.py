"""Two nodes emulated on one machine: MPICH's clique settings, and a two-host `mpiexec -hosts` list.

MPI then treats the ranks as two shared-memory domains (messages between them leave shared memory), which is
what the node-aware paths see: ranks.csv's node column, summary.json's node count, the note about rank groups
that span nodes, and every message path of migration, checkpoints and resume between "nodes".
"""

import json
import os
import subprocess
import sys

import pytest
from conftest import MPIEXEC, ROOT, hpcevo, same_results

pytestmark = pytest.mark.slow

RUN = ["--problem", "rastrigin", "-O", "dimension=6", "--islands", 4, "--population", 12, "--generations", 12,
       "--migration-interval", 2, "--migrants", 2, "--seed", 21, "--quiet", "--checkpoint-every", 1]
# name: (extra mpiexec arguments, environment, the node of each of 4 ranks)
EMULATIONS = {
    "cliques": ([], {"MPIR_CVAR_NUM_CLIQUES": "2"}, [0, 1, 0, 1]),
    "odd-even": ([], {"MPIR_CVAR_ODD_EVEN_CLIQUES": "1"}, [0, 1, 0, 1]),
    "two-hosts": (["-launcher", "fork", "-hosts", "localhost:2,127.0.0.1:2"], {}, [0, 0, 1, 1]),
}


def _launch(args, emulation, timeout=120):
    extra, env, _ = EMULATIONS[emulation]
    cmd = [MPIEXEC, *extra, "-n", "4", sys.executable, "-m", "hpcevo", *map(str, args)]
    full = {**os.environ, "PYTHONPATH": str(ROOT), "MPIEXEC_TIMEOUT": str(timeout), **env}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 10, env=full)


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "r"
    assert hpcevo(RUN + ["--out", out]).returncode == 0
    return out


@pytest.mark.parametrize("emulation", EMULATIONS)
@pytest.mark.parametrize("rpi", [1, 2])
def test_two_nodes_give_the_serial_files(tmp_path, serial, emulation, rpi):
    out = tmp_path / "r"
    run = _launch(RUN + ["--ranks-per-island", rpi, "--out", out], emulation)
    assert run.returncode == 0, run.stderr
    same_results(serial, out)
    rows = [line.split(",") for line in (out / "ranks.csv").read_text().splitlines()]
    assert rows[0] == ["rank", "host", "pid", "node"]
    assert [int(row[3]) for row in rows[1:]] == EMULATIONS[emulation][2]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["nodes"] == 2 and summary["checkpoint"]["parts"] == 4 // rpi
    spans = rpi == 2 and emulation != "two-hosts"  # round-robin placement puts a group's two ranks apart
    note = ("hpcevo: note: 2 of 2 rank groups span two or more nodes (group(s) 0, 1): their evaluations cross the "
            "network. Place ranks in blocks (srun --distribution=block, mpiexec's default) and make the ranks per "
            "node a multiple of ranks_per_island = 2.")
    assert (note in run.stderr) == spans, run.stderr


def test_stopped_on_two_nodes_resumes_on_one(tmp_path, serial):
    """A checkpoint whose parts were written by leaders on two nodes continues in one process."""
    out = tmp_path / "r"
    first = _launch(RUN + ["--out", out, "--stop-after", 6], "two-hosts")
    assert first.returncode == 75, first.stderr
    assert sorted(os.listdir(out / "checkpoint.parts")) == [f"3.{leader}.pkl" for leader in range(4)]
    resumed = hpcevo(["--resume", out, "--quiet"])
    assert resumed.returncode == 0, resumed.stderr
    same_results(serial, out)
