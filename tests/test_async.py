"""Asynchronous migration (`migration = "async"`): no epoch barrier, completes without a hang or a lost row,
stops and resumes, and refuses a synchronous resume of islands left at different generations."""

import collections
import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, finish, hpcevo, launch, no_rank_left, rank_pids, wait_for_epoch

import hpcevo as api
from hpcevo.config import load_config
from hpcevo.errors import ConfigError

STOPPED = 75
ONEMAX = ["--problem", "onemax", "--population", 16, "--islands", 4, "--generations", 24,
          "--migration-interval", 3, "--seed", 7, "--migration", "async"]
IMBALANCED = ["--problem", "tests.support.imbalance:imbalanced", "-O", "delay=0.002", "--population", 16,
              "--islands", 4, "--generations", 40, "--migration-interval", 2, "--seed", 3, "--migration", "async"]


def _evolve(**settings):
    return api.evolve("onemax", out=None, islands=4, population=16, generations=12, migration_interval=3,
                      seed=3, progress=False, **settings)


def _complete_logbook(run_dir, islands, generations):
    """Assert logbook.csv has every island's every generation exactly once."""
    with open(Path(run_dir) / "logbook.csv") as fh:
        seen = collections.Counter((int(r["island"]), int(r["gen"])) for r in csv.DictReader(fh))
    expected = {(i, g) for i in range(islands) for g in range(generations + 1)}
    assert set(seen) == expected and max(seen.values()) == 1


def _summary(run_dir):
    return json.loads((Path(run_dir) / "summary.json").read_text())


def _island_generations(run_dir):
    with open(Path(run_dir) / "logbook.csv") as fh:
        last = {}
        for row in csv.DictReader(fh):
            last[int(row["island"])] = max(last.get(int(row["island"]), 0), int(row["gen"]))
    return last


# -- serial, in process ----------------------------------------------------------------------------------

def test_async_is_a_migration_choice():
    assert load_config(None, {"migration": "async"}).migration == "async"
    with pytest.raises(ConfigError):
        load_config(None, {"migration": "asynchronous"})


def test_serial_async_completes_and_is_deterministic():
    first, second = _evolve(migration="async"), _evolve(migration="async")
    rows = collections.Counter(zip(first.logbook["island"], first.logbook["gen"]))
    assert set(rows) == {(i, g) for i in range(4) for g in range(13)} and max(rows.values()) == 1
    assert first.summary["reproducible"] is False
    assert first.summary["coordination"]["scheme"] == "async"
    assert len(first.migrations) > 0
    assert first.logbook.equals(second.logbook) and first.migrations.equals(second.migrations)
    # one leader delivers every migrant in process, in route order: the synchronous result
    sync = _evolve()
    assert sync.summary["reproducible"] is True
    assert first.logbook.equals(sync.logbook) and first.migrations.equals(sync.migrations)


def test_serial_async_run_folder(tmp_path):
    result = api.evolve("onemax", out=tmp_path / "r", islands=3, population=12, generations=7,
                        migration_interval=2, seed=5, progress=False, migration="async")
    assert result.summary["status"] == "complete"
    _complete_logbook(tmp_path / "r", 3, 7)
    assert _summary(tmp_path / "r")["reproducible"] is False


# -- under mpiexec ------------------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("args", [ONEMAX, IMBALANCED, ONEMAX + ["--ranks-per-island", 2]],
                         ids=["onemax", "imbalanced", "groups-of-2"])
def test_async_under_mpiexec_completes(tmp_path, args):
    run_dir = tmp_path / "r"
    run = hpcevo(["run", *args, "--quiet", "--out", run_dir], ranks=4, timeout=90)
    assert run.returncode == 0, run.stderr
    generations = args[args.index("--generations") + 1]
    _complete_logbook(run_dir, 4, generations)
    assert len((run_dir / "migrations.csv").read_text().splitlines()) > 1
    summary = _summary(run_dir)
    assert summary["reproducible"] is False and summary["status"] == "complete"
    coordination = summary["coordination"]
    assert coordination["scheme"] == "async" and coordination["messages_sent"] == coordination["messages_received"]
    assert coordination["migrants_delivered"] > 0


@pytest.mark.slow
def test_async_stop_after_then_resume(tmp_path):
    run_dir = tmp_path / "r"
    first = hpcevo(["run", *IMBALANCED, "--quiet", "--out", run_dir, "--stop-after", 10], ranks=4, timeout=90)
    assert first.returncode == STOPPED, first.stderr
    assert "stop_after = 10 reached" in first.stderr and "Traceback" not in first.stderr
    assert first.stderr.count('hpcevo: note: migration = "async" writes its checkpoint only when the run ends') == 1
    assert set(_island_generations(run_dir).values()) == {10}
    resumed = hpcevo(["run", "--resume", run_dir, "--quiet"], ranks=2, timeout=90)
    assert resumed.returncode == 0, resumed.stderr
    _complete_logbook(run_dir, 4, 40)
    assert _summary(run_dir)["status"] == "complete"


@pytest.mark.slow
def test_async_stop_on_one_leader_then_resume(tmp_path):
    """A signal on rank 0 only stops rank 0's island; the others finish: their generations differ. A synchronous
    resume is refused (exit 2, no traceback, the setting named); an asynchronous one finishes every island."""
    run_dir = tmp_path / "r"
    proc = launch(["run", *IMBALANCED], 4, run_dir)
    wait_for_epoch(proc, 2)
    os.kill(rank_pids(run_dir)[0], signal.SIGUSR1)
    _, err = finish(proc, timeout=90)
    assert proc.returncode == STOPPED, err
    assert "(SIGUSR1 on rank 0 on " in err and "Traceback" not in err
    no_rank_left(run_dir)
    reached = _island_generations(run_dir)
    assert reached[0] < 40 and reached[3] == 40
    before = (run_dir / "checkpoint.pkl").read_bytes()
    refused = hpcevo(["run", "--resume", run_dir, "--migration", "neighbour", "--quiet"], ranks=2, timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert 'migration = "async"' in refused.stderr and "different generations" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert (run_dir / "checkpoint.pkl").read_bytes() == before
    resumed = hpcevo(["run", "--resume", run_dir, "--quiet"], ranks=2, timeout=90)
    assert resumed.returncode == 0, resumed.stderr
    _complete_logbook(run_dir, 4, 40)
    assert set(_island_generations(run_dir).values()) == {40}


@pytest.mark.slow
def test_async_ctrl_c_then_resume(tmp_path):
    run_dir = tmp_path / "r"
    proc = launch(["run", *IMBALANCED], 2, run_dir)
    wait_for_epoch(proc, 1)
    proc.send_signal(signal.SIGINT)
    _, err = finish(proc, timeout=90)
    assert proc.returncode == STOPPED, err
    no_rank_left(run_dir)
    resumed = hpcevo(["run", "--resume", run_dir, "--quiet"], ranks=4, timeout=90)
    assert resumed.returncode == 0, resumed.stderr
    _complete_logbook(run_dir, 4, 40)


@pytest.mark.slow
def test_async_benchmark_quick_run(tmp_path):
    target = tmp_path / "BENCHMARKS.md"
    target.write_text((ROOT / "BENCHMARKS.md").read_text())
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_async.py"), "--quick", "--write",
                          "--benchmarks-file", str(target)], capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| moving | 4 |" in run.stdout and "sync/async" in run.stdout
    section = target.read_text().split("<!-- bench_async:begin", 1)[1].split("<!-- bench_async:end -->")[0]
    assert "--quick" in section and "| moving | 4 |" in section
