"""jobs/slurm/run.sh and sweep.sh submitted with sbatch to a real SLURM cluster.

These tests run only when a cluster answers (`bash scripts/slurm-cluster.sh up` brings up one on this machine;
.ci/run does): each submits a job with `sbatch --wait` and compares its results with a serial run.
"""

import functools
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import ROOT, hpcevo, same_results

pytestmark = pytest.mark.slow  # real SLURM jobs

RUN_SH = ROOT / "jobs" / "slurm" / "run.sh"
SWEEP_SH = ROOT / "jobs" / "slurm" / "sweep.sh"
SMALL = ["--problem", "onemax", "--generations", "6", "--population", "20", "--quiet"]
# slow (a sleep per evaluation) in the job's first run only, fast once requeued: see tests/support/factories.py
SLOW_FIRST_RUN = ["--problem", "tests.support.factories:slow_until_requeued", "--generations", "100",
                  "--migration-interval", "2", "--population", "20", "--quiet"]
UP = "bash scripts/slurm-cluster.sh up"


def _environment():
    """This environment for sbatch/sinfo: SLURM_CONF defaults to the test cluster's, and variables of a SLURM job
    this test session may itself run in are not passed on to the jobs it submits."""
    env = {key: value for key, value in os.environ.items()
           if key == "SLURM_CONF" or not key.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_"))}
    if "SLURM_CONF" not in env:
        conf = Path(os.environ.get("HPCEVO_SLURM_DIR", "/tmp/hpcevo-slurm")) / "slurm.conf"
        if conf.exists():
            env["SLURM_CONF"] = str(conf)
    return env


ENV = _environment()


@functools.cache
def _no_cluster():
    """Why no job can run here (a one-line skip reason), or None when a node is idle or mixed."""
    if not (shutil.which("sbatch") and shutil.which("sinfo")):
        return f"no SLURM cluster up (sbatch/sinfo not installed; {UP})"
    conf = Path(ENV.get("SLURM_CONF", "/etc/slurm/slurm.conf"))
    if not conf.is_file():
        return f"no SLURM cluster up (no {conf}; {UP})"
    pidfile = conf.parent / "run" / "slurmctld.pid"  # the test cluster's: answer at once when it is down
    if "scripts/slurm-cluster.sh" in conf.read_text() and not _running(pidfile, "slurmctld"):
        return f"no SLURM cluster up (the test cluster in {conf.parent} is down; {UP})"
    try:
        info = subprocess.run(["sinfo", "-h", "-o", "%t"], env=ENV, capture_output=True, text=True, timeout=20)
    except subprocess.TimeoutExpired:
        return f"no SLURM cluster up (sinfo did not answer in 20 s; {UP})"
    if info.returncode != 0:
        return f"no SLURM cluster up ({UP})"
    if not {"idle", "mix"} & set(info.stdout.split()):
        return f"no idle SLURM node (sinfo: {' '.join(info.stdout.split()) or 'no nodes'}; {UP})"
    return None


def _running(pidfile, name):
    try:
        return Path(f"/proc/{int(pidfile.read_text())}/comm").read_text().strip() == name
    except (OSError, ValueError):
        return False


@pytest.fixture(scope="module", autouse=True)
def cluster():
    reason = _no_cluster()
    if reason and os.environ.get("HPCEVO_SLURM_REQUIRED"):  # CI brings the cluster up: never skip there
        pytest.fail(f"HPCEVO_SLURM_REQUIRED is set but {reason}")
    if reason:
        pytest.skip(reason)


def sbatch(tmp_path, script, *options, timeout=150, cwd=None, **knobs):
    """`sbatch --wait SCRIPT` with the knobs in its environment, run in tmp_path; (job id, exit status, output).

    A job still running after `timeout` seconds is cancelled and the test fails with its output.
    """
    name = f"hpcevo-test-{uuid.uuid4().hex[:10]}"
    out = tmp_path / "job-%a.out" if any(o.startswith("--array") for o in options) else tmp_path / "job.out"
    env = {**ENV, "PYTHONPATH": str(ROOT), "VENV": sys.prefix, "MPIEXEC_TIMEOUT": "120", **knobs}
    cmd = ["sbatch", "--wait", "--parsable", f"--job-name={name}", "--export=ALL", f"--chdir={tmp_path}",
           f"--output={out}", *options, str(script)]

    def output():
        return "\n".join(path.read_text() for path in sorted(tmp_path.glob("job*.out")))

    try:
        run = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd or tmp_path)
    except subprocess.TimeoutExpired:
        subprocess.run(["scancel", f"--name={name}"], env=ENV, timeout=30)
        pytest.fail(f"job {name} did not finish within {timeout}s; cancelled. Its output:\n{output()}")
    job_id = run.stdout.split(";")[0].strip()
    assert job_id.isdigit(), f"sbatch failed ({run.returncode}): {run.stderr}"
    return int(job_id), run.returncode, output() + run.stderr


@pytest.fixture(scope="module")
def serial_small(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial") / "run"
    run = hpcevo(SMALL + ["--out", out])
    assert run.returncode == 0, run.stderr
    return out


@pytest.mark.parametrize("launcher", ["default", "mpiexec"])
def test_job_runs_to_completion_with_the_serial_results(tmp_path, serial_small, launcher):
    """A 4-task job (srun by default, or MPICH's mpiexec inside the allocation) gives the serial run's results,
    in the default run folder runs/job-<job id> under the job's working directory."""
    knobs = {} if launcher == "default" else {"LAUNCHER": launcher}
    job_id, status, output = sbatch(tmp_path, RUN_SH, "--ntasks=4", HPCEVO_ARGS=" ".join(SMALL), **knobs)
    assert status == 0, output
    expected = "srun" if launcher == "default" else launcher
    assert f"run.sh: job {job_id} restart=0/10 run_dir=runs/job-{job_id} launcher={expected} ranks=4" in output
    run_dir = tmp_path / "runs" / f"job-{job_id}"
    assert f"run.sh: run complete: {run_dir}" in output
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["ranks"], summary["generations"]) == (4, 6)
    same_results(serial_small, run_dir)


def test_time_limit_stops_checkpoints_requeues_and_resumes(tmp_path):
    """A job with a 1-minute limit gets USR1 before it (@20: the earliest SLURM sends it is ~10 s into the job,
    after the ranks are up), checkpoints, exits 75, requeues itself and the restarted job (SLURM_RESTART_COUNT=1)
    resumes and finishes: the results are those of an uninterrupted serial run."""
    serial = hpcevo(SLOW_FIRST_RUN + ["--out", tmp_path / "serial"], env={"SLURM_RESTART_COUNT": "1"})  # fast
    assert serial.returncode == 0, serial.stderr
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    job_id, status, output = sbatch(job_dir, RUN_SH, "--ntasks=4", "--time=1", "--signal=USR1@20", timeout=200,
                                    HPCEVO_ARGS=" ".join(SLOW_FIRST_RUN))
    assert status == 0, output
    run_dir = job_dir / "runs" / f"job-{job_id}"
    for line in (f"run.sh: job {job_id} restart=0/10 ",
                 f"run.sh: the run stopped early with a checkpoint in {run_dir} (status 75)",
                 f"run.sh: requeued job {job_id} (restart 1 of at most 10)",
                 f"run.sh: job {job_id} restart=1/10 ",
                 f"run.sh: run complete: {run_dir}"):
        assert line in output, f"missing {line!r} in the job output:\n{output}"
    assert output.index("restart=0/10") < output.index("requeued job") < output.index("restart=1/10")
    assert (run_dir / "checkpoint.pkl").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert 0 < summary["resumed_from_generation"] < 100, summary
    same_results(tmp_path / "serial", run_dir)


def test_a_rank_lost_mid_run_requeues_and_resumes(tmp_path):
    """kill -9 of one rank inside a job (as the OOM killer or a node failure would): the step ends, run.sh
    requeues the job, and the restarted job resumes from the last checkpoint and finishes with the results of
    an uninterrupted serial run."""
    import signal
    import threading
    import time

    from conftest import rank_pids

    serial = hpcevo(SLOW_FIRST_RUN + ["--out", tmp_path / "serial"], env={"SLURM_RESTART_COUNT": "1"})  # fast
    assert serial.returncode == 0, serial.stderr
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    run_dir = job_dir / "r"
    done = []
    submit = threading.Thread(target=lambda: done.append(sbatch(
        job_dir, RUN_SH, "--ntasks=4", timeout=200, RUN_DIR=str(run_dir),
        HPCEVO_ARGS=" ".join(SLOW_FIRST_RUN + ["--checkpoint-every", "1"]))))
    submit.start()
    deadline = time.monotonic() + 120
    while not ((run_dir / "checkpoint.pkl").exists() and len(rank_pids(run_dir)) == 4):
        assert time.monotonic() < deadline and submit.is_alive(), "the job wrote no checkpoint"
        time.sleep(0.2)
    os.kill(rank_pids(run_dir)[2], signal.SIGKILL)
    submit.join(timeout=230)
    assert done, "sbatch did not return"
    job_id, status, output = done[0]
    assert status == 0, output
    for line in ("run.sh: the job lost a rank (launcher status ",
                 "run.sh: resuming from the last checkpoint",
                 f"run.sh: requeued job {job_id} (restart 1 of at most 10)",
                 f"run.sh: job {job_id} restart=1/10 ",
                 f"run.sh: run complete: {run_dir}"):
        assert line in output, f"missing {line!r} in the job output:\n{output}"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert 0 < summary["resumed_from_generation"] < 100, summary
    same_results(tmp_path / "serial", run_dir)


def test_seed_sweep_array(tmp_path):
    """sweep.sh as a 2-task array, submitted from the repository root: task i runs seed i in runs/job-<array>-<i>,
    with the results of the serial run of that seed."""
    for seed in (1, 2):
        run = hpcevo(SMALL + ["--seed", seed, "--out", tmp_path / f"serial-{seed}"])
        assert run.returncode == 0, run.stderr
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    array_id, status, output = sbatch(job_dir, SWEEP_SH, "--array=1-2", "--ntasks=2", cwd=ROOT,
                                      HPCEVO_ARGS=" ".join(SMALL))
    assert status == 0, output
    for seed in (1, 2):
        run_dir = job_dir / "runs" / f"job-{array_id}-{seed}"
        assert f"(array {array_id}_{seed}) restart=0/10 run_dir=runs/job-{array_id}-{seed}" in output, output
        assert json.loads((run_dir / "summary.json").read_text())["seed"] == seed
        same_results(tmp_path / f"serial-{seed}", run_dir)
