"""jobs/slurm/run.sh outside SLURM: the same script runs the job with mpiexec on local ranks."""

import json
import os
import subprocess
import sys

from conftest import ROOT


def _run_script(tmp_path, **env):
    full = {**os.environ, "PYTHONPATH": str(ROOT), "VENV": sys.prefix, "MPIEXEC_TIMEOUT": "120", **env}
    full.pop("SLURM_NTASKS", None)
    full.pop("SLURM_JOB_ID", None)
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
