"""jobs/slurm/run.sh outside SLURM: the same script runs the job with mpiexec on local ranks."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT, hpcevo, same_results

pytestmark = pytest.mark.slow  # end-to-end: subprocess runs of the real CLI


def _run_script(tmp_path, **env):
    full = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}  # not in a job
    full.update({"PYTHONPATH": str(ROOT), "VENV": sys.prefix, "MPIEXEC_TIMEOUT": "120", **env})
    return subprocess.run(["bash", str(ROOT / "jobs" / "slurm" / "run.sh")], capture_output=True, text=True,
                          env=full, cwd=tmp_path, timeout=150)


def test_script_runs_the_job_on_local_ranks(tmp_path):
    run = _run_script(tmp_path, NTASKS="2", RUN_DIR=str(tmp_path / "r"),
                      HPCEVO_ARGS="--problem onemax --generations 3 --population 10 --quiet")
    assert run.returncode == 0, run.stderr
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert (summary["ranks"], summary["problem"], summary["generations"]) == (2, "onemax", 3)


def test_script_explains_a_missing_environment(tmp_path):
    run = _run_script(tmp_path, VENV=str(tmp_path / "nowhere"))
    assert run.returncode == 2
    assert f"no python environment at VENV={tmp_path / 'nowhere'}" in run.stderr


def test_a_stopped_run_resumes_when_the_script_runs_again(tmp_path):
    """Exit 75 with a checkpoint and how to resume; the same command again resumes (--resume auto) and gives the
    uninterrupted run's results; once more, the complete run finishes at once and changes nothing."""
    args = "--problem onemax --generations 6 --population 20 --migration-interval 2 --quiet"
    run_dir = tmp_path / "r"
    stopped = _run_script(tmp_path, NTASKS="2", RUN_DIR="r", HPCEVO_ARGS=args + " --stop-after 2")
    assert stopped.returncode == 75, stopped.stderr
    assert (run_dir / "checkpoint.pkl").is_file()
    assert f"to resume: RUN_DIR={run_dir} bash " in stopped.stdout
    resumed = _run_script(tmp_path, NTASKS="2", RUN_DIR="r", HPCEVO_ARGS=args)
    assert resumed.returncode == 0, resumed.stderr
    assert f"run.sh: run complete: {run_dir}" in resumed.stdout
    serial = hpcevo(args.split() + ["--out", tmp_path / "serial"])
    assert serial.returncode == 0, serial.stderr
    same_results(tmp_path / "serial", run_dir)
    before = {name: (run_dir / name).read_bytes() for name in ("logbook.csv", "migrations.csv", "hall_of_fame.json")}
    again = _run_script(tmp_path, NTASKS="2", RUN_DIR="r", HPCEVO_ARGS=args)
    assert again.returncode == 0, again.stderr
    assert before == {name: (run_dir / name).read_bytes() for name in before}


def test_srun_needs_a_slurm_job(tmp_path):
    run = _run_script(tmp_path, LAUNCHER="srun")
    assert run.returncode == 2
    assert "LAUNCHER=srun needs a SLURM job" in run.stderr
