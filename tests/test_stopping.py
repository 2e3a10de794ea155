"""Stopping and resuming the real CLI: signals on any rank, kill -9, resume on other rank counts, refusals.

A resumed run must give logbook.csv, migrations.csv and hall_of_fame.json byte-identical to an
uninterrupted run with the same config and seed.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import MPIEXEC, ROOT, finish, hpcevo, launch, no_rank_left, rank_pids, same_results, wait_for_epoch

from hpcevo.checkpoint import CHECKPOINT_NAME, PARTS_DIR, check_parts, read_header

pytestmark = pytest.mark.slow  # end-to-end: subprocess runs of the real CLI

STOPPED = 75
# GP with ephemerals (pickling), NSGA-II (crowding distances), numpy individuals with mu_plus_lambda
PROBLEMS = {
    "onemax": ["--problem", "onemax", "--population", 16],
    "symreg": ["--problem", "tests.support.factories:symbolic_regression", "--population", 16],
    "zdt1": ["--problem", "zdt1", "--population", 16, "--algorithm", "nsga2"],
    "numpy": ["--problem", "tests.support.factories:numpy_individuals", "--population", 16,
              "--algorithm", "mu_plus_lambda", "--offspring", 24, "--topology", "random"],
}
COMMON = ["--generations", 24, "--migration-interval", 3, "--quiet", "--islands", 4, "--seed", 7]
SLOW = ["--problem", "tests.support.factories:slow", "-O", "delay=0.004", "--population", 16, "--islands", 4,
        "--generations", 40, "--migration-interval", 2, "--seed", 3]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Uninterrupted serial runs, one per problem (and one of the slow problem)."""
    base = tmp_path_factory.mktemp("reference")
    runs = {}
    for name, args in {**PROBLEMS, "slow": SLOW}.items():
        extra = ["--quiet"] if name == "slow" else COMMON
        result = hpcevo(args + extra + ["--out", base / name])
        assert result.returncode == 0, result.stderr
        runs[name] = base / name
    return runs


def _generation(run_dir):
    return read_header(Path(run_dir) / CHECKPOINT_NAME)["generation"]


@pytest.mark.parametrize("name", PROBLEMS)
def test_stop_and_resume_serially_is_identical(tmp_path, reference, name):
    run_dir = tmp_path / "r"
    first = hpcevo(PROBLEMS[name] + COMMON + ["--out", run_dir, "--stop-after", 8])
    assert first.returncode == STOPPED, first.stderr
    assert _generation(run_dir) == 9  # the first epoch end at or after generation 8
    assert f"Continue with:\n  python -m hpcevo run --resume {run_dir}\n" in first.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["generation"], summary["stopped_by"]) == ("stopped", 9, "stop_after = 8 "
                                                                                                "reached")
    second = hpcevo(["run", "--resume", run_dir])
    assert second.returncode == 0, second.stderr
    same_results(reference[name], run_dir)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["resumed_from_generation"], summary["generation"]) == ("complete", 9, 24)


@pytest.mark.parametrize("name", ["symreg", "numpy"])
def test_resume_on_1_2_4_ranks_from_a_checkpoint_written_on_4(tmp_path, reference, name):
    """Islands are not ranks: a checkpoint written on 4 ranks continues on 1, 2 or 4 (with groups of 2)."""
    source = tmp_path / "src"
    first = hpcevo(PROBLEMS[name] + COMMON + ["--out", source, "--stop-after", 6], ranks=4)
    assert first.returncode == STOPPED, first.stderr
    for ranks, extra in ((None, []), (2, []), (4, ["--ranks-per-island", 2])):
        run_dir = tmp_path / f"resumed-{ranks}"
        shutil.copytree(source, run_dir)  # as a user copies a run folder to continue it elsewhere
        second = hpcevo(["run", "--resume", run_dir] + extra, ranks=ranks)
        assert second.returncode == 0, second.stderr
        same_results(reference[name], run_dir)


def test_extending_generations_continues_the_run(tmp_path, reference):
    """Stop, resume to a middle point, stop again, then finish: still the uninterrupted result."""
    run_dir = tmp_path / "r"
    args = PROBLEMS["onemax"] + COMMON + ["--out", run_dir]
    assert hpcevo(args + ["--stop-after", 3], ranks=2).returncode == STOPPED
    assert hpcevo(["run", "--resume", run_dir, "--stop-after", 15]).returncode == STOPPED
    assert _generation(run_dir) == 15
    assert hpcevo(["run", "--resume", run_dir], ranks=4).returncode == 0
    same_results(reference["onemax"], run_dir)
    # a finished run extended: more generations from where it ended; fewer is refused
    more = hpcevo(["run", "--resume", run_dir, "--generations", 30])
    assert more.returncode == 0, more.stderr
    rows = (run_dir / "logbook.csv").read_text().splitlines()
    assert rows[-1].startswith("3,30,")
    fewer = hpcevo(["run", "--resume", run_dir, "--generations", 20])
    assert fewer.returncode == 2
    assert fewer.stderr.startswith(f"hpcevo: error: cannot resume from {run_dir / CHECKPOINT_NAME}: it has "
                                   f"already run 30 generations")


def test_incompatible_resume_is_refused_on_every_rank(tmp_path):
    run_dir = tmp_path / "r"
    assert hpcevo(PROBLEMS["onemax"] + COMMON + ["--out", run_dir, "--stop-after", 3]).returncode == STOPPED
    before = (run_dir / CHECKPOINT_NAME).read_bytes()
    refused = hpcevo(["run", "--resume", run_dir, "--population", 32, "--seed", 8], ranks=4, timeout=60)
    assert refused.returncode == 2
    assert refused.stderr.count("hpcevo: error:") == 1
    assert "population = 32 (checkpoint: 16); seed = 8 (checkpoint: 7)" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert (run_dir / CHECKPOINT_NAME).read_bytes() == before


def test_corrupted_checkpoint_is_refused_by_the_cli(tmp_path):
    run_dir = tmp_path / "r"
    assert hpcevo(PROBLEMS["onemax"] + COMMON + ["--out", run_dir, "--stop-after", 3]).returncode == STOPPED
    path = run_dir / CHECKPOINT_NAME
    path.write_bytes(path.read_bytes()[:-100])
    files = sorted(p.name for p in run_dir.iterdir())
    refused = hpcevo(["run", "--resume", run_dir], ranks=2, timeout=60)
    assert refused.returncode == 2
    assert f"hpcevo: error: checkpoint {path} is truncated or has extra bytes" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert sorted(p.name for p in run_dir.iterdir()) == files


def test_resume_auto_starts_then_resumes(tmp_path, reference):
    run_dir = tmp_path / "r"
    args = PROBLEMS["onemax"] + COMMON + ["--out", run_dir, "--resume", "auto"]
    assert hpcevo(args + ["--stop-after", 12]).returncode == STOPPED
    assert hpcevo(args).returncode == 0
    same_results(reference["onemax"], run_dir)
    again = hpcevo(args)  # a finished run: nothing left to do, the outputs are written again, unchanged
    assert again.returncode == 0
    same_results(reference["onemax"], run_dir)
    # a folder with something other than a run in it is not taken over
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    taken = hpcevo(PROBLEMS["onemax"] + COMMON + ["--out", other, "--resume", "auto"])
    assert taken.returncode == 2 and "already exists and is not empty" in taken.stderr


# -- signals and kills under mpiexec -------------------------------------------------------------------

@pytest.mark.parametrize("sig, rank, groups", [
    (signal.SIGTERM, 3, ["--ranks-per-island", 2]),  # an evaluator (not a leader): through the stop channel
    (signal.SIGUSR1, 0, []),
    (signal.SIGTERM, 2, []),                          # a leader other than rank 0
])
def test_signal_on_one_rank_stops_all_with_a_checkpoint(tmp_path, reference, sig, rank, groups):
    run_dir = tmp_path / "r"
    proc = launch(SLOW + groups, 4, run_dir)
    wait_for_epoch(proc, 2)
    os.kill(rank_pids(run_dir)[rank], sig)
    _, err = finish(proc)
    assert proc.returncode == STOPPED, err
    name = signal.Signals(sig).name
    assert f"({name} on rank {rank} on " in err
    assert "Continue with:" in err and "Traceback" not in err
    no_rank_left(run_dir)
    done = _generation(run_dir)
    assert 4 <= done < 40
    resumed = hpcevo(["run", "--resume", run_dir, "--quiet"], ranks=2)
    assert resumed.returncode == 0, resumed.stderr
    same_results(reference["slow"], run_dir)


def test_ctrl_c_stops_cleanly_and_twice_ends_at_once(tmp_path):
    """SIGINT to mpiexec (Ctrl-C) reaches every rank: the job checkpoints and exits 75. Twice to the ranks
    themselves: they end at once with 130."""
    run_dir = tmp_path / "r"
    proc = launch(SLOW, 2, run_dir)
    wait_for_epoch(proc, 1)
    proc.send_signal(signal.SIGINT)
    _, err = finish(proc)
    assert proc.returncode == STOPPED, err
    assert "SIGINT received: finishing the current epoch, then writing a checkpoint (Ctrl-C again" in err
    no_rank_left(run_dir)
    stopped_at = _generation(run_dir)
    assert stopped_at >= 2

    proc = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, "-m", "hpcevo", "run", "--resume", str(run_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    deadline = time.monotonic() + 30
    while len(rank_pids(run_dir)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    for pid in rank_pids(run_dir).values():
        os.kill(pid, signal.SIGINT)
    # Python runs a handler once for signals that arrive before it gets to run, so the second Ctrl-C waits
    # until rank 0 has said it took the first.
    seen = proc.stderr.readline()
    for pid in rank_pids(run_dir).values():
        os.kill(pid, signal.SIGINT)
    _, err = finish(proc)
    err = seen + err
    assert "SIGINT received" in seen, err
    assert proc.returncode == 130, err
    assert "second SIGINT on rank" in err and "ending the whole job now, without a new checkpoint" in err
    no_rank_left(run_dir)
    assert _generation(run_dir) >= stopped_at  # the last good checkpoint is whole (verified by its hash)


def test_kill_9_of_the_whole_job_then_resume(tmp_path, reference):
    run_dir = tmp_path / "r"
    proc = launch(SLOW + ["--checkpoint-every", 1], 4, run_dir)
    wait_for_epoch(proc, 4)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    no_rank_left(run_dir)
    assert _generation(run_dir) >= 6  # epochs of 2 generations, checkpointed after each
    # the results so far are written after each periodic checkpoint, marked as a run in progress
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "running" and 2 <= summary["generation"] <= _generation(run_dir)
    last = (run_dir / "logbook.csv").read_text().splitlines()[-1]
    assert last.startswith(f"3,{summary['generation']},")
    resumed = hpcevo(["run", "--resume", run_dir, "--quiet"], ranks=4)
    assert resumed.returncode == 0, resumed.stderr
    same_results(reference["slow"], run_dir)


def test_kill_9_in_the_middle_of_a_checkpoint_keeps_the_previous_one(tmp_path, reference):
    """Leader 1 is held inside checkpoint 8 (its part's temporary file is a FIFO nobody reads, so opening it
    blocks) after the other leaders wrote their parts; the job is killed there.  The manifest still names
    checkpoint 7, whose parts are whole; the resume drops the unfinished checkpoint's files and ends with the
    uninterrupted run's results."""
    run_dir = tmp_path / "r"
    proc = launch(SLOW + ["--checkpoint-every", 1], 4, run_dir)
    parts = run_dir / PARTS_DIR
    deadline = time.monotonic() + 60
    while not parts.is_dir():
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() else "no parts"
        time.sleep(0.005)
    os.mkfifo(parts / ".8.1.pkl.tmp")
    while not all((parts / f"8.{leader}.pkl").exists() for leader in (0, 2, 3)):
        assert proc.poll() is None and time.monotonic() < deadline, "checkpoint 8 was not reached"
        time.sleep(0.01)
    time.sleep(0.2)
    assert proc.poll() is None  # held: rank 0 waits for leader 1's part
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    no_rank_left(run_dir)
    header = check_parts(run_dir, whole=True)
    assert sorted(header["parts"]) == [f"7.{leader}.pkl" for leader in range(4)] and header["generation"] == 14
    resumed = hpcevo(["run", "--resume", run_dir, "--quiet"], ranks=2)
    assert resumed.returncode == 0, resumed.stderr
    same_results(reference["slow"], run_dir)
    assert not any(name.startswith((".8.", "8.")) for name in os.listdir(parts))


def test_max_walltime_stops_before_the_budget(tmp_path, reference):
    run_dir = tmp_path / "r"
    started = time.monotonic()
    run = hpcevo(SLOW + ["--out", run_dir, "--max-walltime", "4s"], ranks=2)
    assert run.returncode == STOPPED, run.stderr
    assert "(max_walltime = 4s would be exceeded by another epoch)" in run.stderr
    assert time.monotonic() - started < 30
    assert hpcevo(["run", "--resume", run_dir, "--quiet"]).returncode == 0
    same_results(reference["slow"], run_dir)


def test_resume_cuts_the_logs_back_to_the_checkpoint(tmp_path, reference):
    """Rows a dying run appended after its last checkpoint are dropped and written again, identically; a log
    changed before that point, or missing, is refused (the run could not continue exactly)."""
    run_dir = tmp_path / "r"
    assert hpcevo(PROBLEMS["onemax"] + COMMON + ["--out", run_dir, "--stop-after", 8]).returncode == STOPPED
    for name in ("logbook.csv", "migrations.csv", "timings.csv"):
        with open(run_dir / name, "a") as fh:
            fh.write("9,99,half a row from a run killed mid-write")
    pristine = tmp_path / "pristine"
    shutil.copytree(run_dir, pristine)
    assert hpcevo(["run", "--resume", run_dir]).returncode == 0
    same_results(reference["onemax"], run_dir)

    logbook = pristine / "logbook.csv"
    text = logbook.read_text()
    cut = text.index("9,99,half")
    logbook.write_text(text[:cut - 5] + "X" + text[cut - 4:])
    changed = hpcevo(["run", "--resume", pristine])
    assert changed.returncode == 2
    assert f"hpcevo: error: {logbook} is shorter than, or differs from, what the checkpoint recorded" in changed.stderr
    (pristine / "migrations.csv").unlink()
    logbook.write_text(text)
    missing = hpcevo(["run", "--resume", pristine])
    assert missing.returncode == 2
    assert f"{pristine / 'migrations.csv'} is missing: a run folder is resumed whole" in missing.stderr
