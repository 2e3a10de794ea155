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


def _run_with_args(tmp_path, *args, **env):
    full = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
    full.update({"PYTHONPATH": str(ROOT), "VENV": sys.prefix, "MPIEXEC_TIMEOUT": "120", **env})
    return subprocess.run(["bash", str(ROOT / "jobs" / "slurm" / "run.sh"), *args], capture_output=True, text=True,
                          env=full, cwd=tmp_path, timeout=150)


def test_arguments_and_paths_with_spaces_survive(tmp_path):
    """Flags given to the script are passed on word for word ("90 m" stays one argument), and a run folder and
    config file whose paths hold spaces work; one thread per rank by default."""
    (tmp_path / "my conf").mkdir()
    (tmp_path / "my conf" / "job 1.toml").write_text('problem = "onemax"\npopulation = 10\n')
    run = _run_with_args(tmp_path, "--generations", "3", "--max-walltime", "90 m", "--quiet", NTASKS="2",
                         RUN_DIR=str(tmp_path / "my runs" / "r 1"), CONFIG=str(tmp_path / "my conf" / "job 1.toml"))
    assert run.returncode == 0, run.stderr
    assert "threads=1 " in run.stdout
    folder = tmp_path / "my runs" / "r 1"
    summary = json.loads((folder / "summary.json").read_text())
    assert (summary["problem"], summary["generations"], summary["ranks"]) == ("onemax", 3, 2)
    assert 'max_walltime = "90 m"' in (folder / "config.toml").read_text()


def test_site_setup_and_mpirun(tmp_path):
    """SITE_SETUP is sourced first (here it puts the environment on PATH, as `module load` or `conda activate`
    would), VENV= means the python it provides, and LAUNCHER=mpirun launches the ranks."""
    setup = tmp_path / "site env.sh"
    setup.write_text(f'export PATH="{sys.prefix}/bin:$PATH"\n')
    bare = {"PATH": "/usr/bin:/bin", "VENV": ""}
    missing = _run_with_args(tmp_path, **bare)
    assert missing.returncode == 2
    assert "cannot import hpcevo: set VENV to the environment where it is installed, or SITE_SETUP" in missing.stderr
    run = _run_with_args(tmp_path, "--problem", "onemax", "--generations", "2", "--population", "8", "--quiet",
                         SITE_SETUP=str(setup), LAUNCHER="mpirun", NTASKS="2", RUN_DIR=str(tmp_path / "r"), **bare)
    assert run.returncode == 0, run.stderr
    assert "launcher=mpirun ranks=2" in run.stdout
    assert json.loads((tmp_path / "r" / "summary.json").read_text())["ranks"] == 2
    nowhere = _run_with_args(tmp_path, SITE_SETUP=str(tmp_path / "nowhere.sh"))
    assert nowhere.returncode == 2 and f"SITE_SETUP={tmp_path / 'nowhere.sh'}: no such file" in nowhere.stderr
    bogus = _run_with_args(tmp_path, LAUNCHER="aprun")
    assert bogus.returncode == 2 and "LAUNCHER=aprun: use srun, mpiexec or mpirun" in bogus.stderr
