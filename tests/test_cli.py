"""The real CLI, launched as users launch it: serially and under `mpiexec -n 2/4`, failures included."""

import json
import socket
import subprocess
import sys
import time

import pytest
from conftest import ROOT, hpcevo, same_results

SMALL = ["--population", 24, "--generations", 12, "--migration-interval", 4, "--migrants", 3, "--quiet"]

CASES = {
    "onemax-ring": ["--problem", "onemax", "-O", "length=30", "--islands", 4],
    "rastrigin-random-spread": ["--problem", "rastrigin", "-O", "dimension=6", "--islands", 6, "--topology", "random",
                                "--emigration", "tournament", "--replacement", "random"],
    "zdt1-nsga2-complete": ["--problem", "zdt1", "-O", "dimension=5", "--islands", 4, "--topology", "complete"],
    "mu-plus-lambda-custom-topology": ["--problem", "sphere", "-O", "dimension=4", "--islands", 4,
                                       "--algorithm", "mu_plus_lambda", "--cxpb", 0.5, "--mutpb", 0.3,
                                       "--topology", "tests.support.factories:star"],
    "user-toolbox-flaky": ["--problem", "tests.support.factories:flaky", "--islands", 4],
    "gp-ephemerals": ["--problem", "tests.support.factories:symbolic_regression", "--islands", 4,
                      "--topology", "complete"],
    "numpy-individuals": ["--problem", "tests.support.factories:numpy_individuals", "--islands", 5],
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_results_identical_across_launch_modes(tmp_path, case):
    """Same config + seed: byte-identical results serially, on 2 ranks, on 4 ranks and in groups of 2."""
    args = CASES[case] + SMALL
    serial = hpcevo(args + ["--out", tmp_path / "serial"])
    assert serial.returncode == 0, serial.stderr
    for name, ranks, extra in (("n1", 1, []), ("n2", 2, []), ("n4", 4, []), ("n4g2", 4, ["--ranks-per-island", 2])):
        run = hpcevo(args + extra + ["--out", tmp_path / name], ranks=ranks)
        assert run.returncode == 0, run.stderr
        same_results(tmp_path / "serial", tmp_path / name)
    summary = json.loads((tmp_path / "n4g2" / "summary.json").read_text())
    assert (summary["ranks"], summary["groups"], summary["ranks_per_island"]) == (4, 2, 2)
    # migrants and gathered halls of fame went through pickle: duplicates must still be recognised
    shown = [entry["individual"] for entry in json.loads((tmp_path / "n4" / "hall_of_fame.json").read_text())
             ["individuals"]]
    assert len(shown) == len(set(shown)) > 0


@pytest.mark.slow
def test_seed_changes_results(tmp_path):
    a = hpcevo(CASES["onemax-ring"] + SMALL + ["--out", tmp_path / "a"])
    b = hpcevo(CASES["onemax-ring"] + SMALL + ["--seed", 2, "--out", tmp_path / "b"])
    assert a.returncode == b.returncode == 0
    assert (tmp_path / "a" / "logbook.csv").read_bytes() != (tmp_path / "b" / "logbook.csv").read_bytes()


@pytest.mark.slow
def test_outputs_are_complete(tmp_path):
    run = hpcevo(CASES["rastrigin-random-spread"] + ["--population", 20, "--generations", 9,
                                                     "--migration-interval", 3, "--migrants", 2,
                                                     "--out", tmp_path / "r"], ranks=2)
    assert run.returncode == 0, run.stderr
    out = tmp_path / "r"
    lines = (out / "logbook.csv").read_text().splitlines()
    assert lines[0] == "island,gen,nevals,min,max,avg,std,failures,rejected"
    assert len(lines) == 1 + 6 * 10  # 6 islands x generations 0..9
    assert [line.split(",")[:2] for line in lines[1:3]] == [["0", "0"], ["1", "0"]]  # by generation, then island
    keys = [(int(line.split(",")[1]), int(line.split(",")[0])) for line in lines[1:]]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    migrations = (out / "migrations.csv").read_text().splitlines()
    assert migrations[0] == "epoch,src,dst,count,best_fitness"
    assert len(migrations) == 1 + 2 * 6  # migration after epochs 0 and 1, one route per island
    hof = json.loads((out / "hall_of_fame.json").read_text())
    fits = [entry["fitness"][0] for entry in hof["individuals"]]
    assert hof["weights"] == [-1.0] and len(fits) == 10 and fits == sorted(fits)
    assert all(0 <= entry["island"] < 6 for entry in hof["individuals"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["evaluations"] == sum(int(line.split(",")[2]) for line in lines[1:])
    assert set(summary["seconds"]) == {"evaluation", "variation", "migration", "waiting", "checkpoint", "output"}
    assert (summary["status"], summary["generation"], summary["stopped_by"]) == ("complete", 9, None)
    parts = list((out / "checkpoint.parts").iterdir())
    assert summary["checkpoint"]["parts"] == len(parts) == summary["groups"]  # one part per leader
    assert summary["checkpoint"]["bytes"] == (out / "checkpoint.pkl").stat().st_size + sum(p.stat().st_size
                                                                                          for p in parts)
    assert summary["versions"]["mpi"].startswith("MPICH")
    config = (out / "config.toml").read_text()
    assert 'algorithm = "simple"' in config and "islands = 6" in config


@pytest.mark.slow
def test_default_run_with_no_arguments(tmp_path):
    """`python -m hpcevo` alone runs the main job (trading) and writes a new run folder under runs/."""
    run = hpcevo(["--generations", 3, "--population", 24], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    folders = list((tmp_path / "runs").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("trading-")
    assert "epoch 1/1" in run.stdout and "done:" in run.stdout
    assert (folders[0] / "strategies.csv").read_text().startswith("id,expression,market,size,selection_rank,")
    assert "verdict: no evidence of skill beyond chance" in run.stdout
    assert 'algorithm = "nsga2"' in (folders[0] / "config.toml").read_text()


@pytest.mark.slow
def test_problems_lists_builtins():
    """Each problem starts a line; its description and options follow, indented."""
    run = hpcevo(["problems"])
    assert run.returncode == 0, run.stderr
    names = [line.split()[0] for line in run.stdout.splitlines() if not line.startswith(" ")]
    assert names == ["trading", "onemax", "sphere", "rastrigin", "ackley", "schwefel", "rosenbrock", "zdt1"]
    assert ("onemax      OneMax bit string, maximise the ones\n"
            "            options: length=100, indpb=0.05\n") in run.stdout
    assert 'options: data="sp500", objectives="default", folds=4,' in run.stdout
    assert all(len(line) <= 100 for line in run.stdout.splitlines())


def test_problems_to_a_reader_that_leaves_at_once():
    """`python -m hpcevo problems | head -0`: the pipe is closed before anything is written; exit 0, no traceback."""
    cmd = [sys.executable, "-m", "hpcevo", "problems"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT) as proc:
        proc.stdout.close()  # before the process has even imported hpcevo
        assert proc.wait(timeout=60) == 0
        assert proc.stderr.read() == b""


@pytest.mark.slow
def test_config_file_and_flags(tmp_path):
    cfg = tmp_path / "job.toml"
    cfg.write_text('problem = "onemax"\npopulation = 16\ngenerations = 4\nislands = 2\nmigrants = 2\n'
                   '[problem_options]\nlength = 10\n[per_island]\nmutpb = [0.1, 0.4]\n')
    run = hpcevo(["--config", cfg, "--generations", 6, "--quiet", "--out", tmp_path / "r"])
    assert run.returncode == 0, run.stderr
    resolved = (tmp_path / "r" / "config.toml").read_text()
    assert "generations = 6" in resolved and "population = 16" in resolved and "length = 10" in resolved
    assert "mutpb = [\n    0.1,\n    0.4,\n]" in resolved or "mutpb = [0.1, 0.4]" in resolved


# -- failures: reported once, exit status 2 for user mistakes, never a hang --------------------------------

def _once(stderr, text):
    assert stderr.count(text) == 1, stderr
    assert "Traceback" not in stderr, stderr


@pytest.mark.slow
@pytest.mark.parametrize("ranks", [None, 4])
def test_bad_config_key(tmp_path, ranks):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("popluation = 10\n")
    run = hpcevo(["--config", cfg, "--out", tmp_path / "r"], ranks=ranks, timeout=60)
    assert run.returncode == 2
    _once(run.stderr, f'config file {cfg}: unknown key "popluation". Did you mean "population"?')
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--popluation", 3], "unrecognized arguments: --popluation 3"),
    (["--islands", 2], "islands = 2 is fewer than the 4 rank groups"),
    (["--problem", "rastrgin"], 'Did you mean "rastrigin"?'),
    (["--problem", "tests.support.factories:missing_entries"], "lacks mate, select"),
    (["--problem", "tests.support.factories:raising_factory"], "cannot reach the licence server"),
    (["--problem", "tests.support.factories:unpicklable_individual"], "an individual does not pickle"),
    (["--problem", "nosuch.module:f"], "importing module 'nosuch.module' failed"),
    (["--migrants", 200], "migrants (200) must be smaller than population (100)"),
    (["--topology", "ringg"], 'Did you mean "ring"?'),
])
def test_user_errors_under_mpiexec(tmp_path, args, message):
    start = time.monotonic()
    run = hpcevo(args + ["--out", tmp_path / "r"], ranks=4, timeout=60)
    assert run.returncode == 2, run.stderr
    _once(run.stderr, message)
    assert time.monotonic() - start < 60
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_ranks_not_divisible_by_group_size(tmp_path):
    run = hpcevo(["--ranks-per-island", 2, "--out", tmp_path / "r"], ranks=3, timeout=60)
    assert run.returncode == 2
    _once(run.stderr, "3 ranks cannot be split into groups of ranks_per_island = 2")


@pytest.mark.slow
def test_refuses_existing_output_folder(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "logbook.csv").write_text("precious\n")
    run = hpcevo(["--out", tmp_path / "r"], ranks=2, timeout=60)
    assert run.returncode == 2
    _once(run.stderr, "already exists and is not empty")
    assert (tmp_path / "r" / "logbook.csv").read_text() == "precious\n"


@pytest.mark.slow
def test_several_tasks_but_world_of_one():
    """`srun --mpi=none` starts N singletons; each must refuse instead of running the search N times."""
    run = hpcevo(["--generations", 1], env={"SLURM_NTASKS": "4", "SLURM_PROCID": "0"}, timeout=60)
    assert run.returncode == 2
    _once(run.stderr, "SLURM_NTASKS=4 says 4 tasks were launched, but MPI sees a world of 1")


@pytest.mark.slow
@pytest.mark.parametrize("ranks_per_island, rank", [(1, 2), (2, 3)])
def test_rank_raising_ends_whole_job(tmp_path, ranks_per_island, rank):
    """An evaluation raising on one rank with on_error = raise ends every rank, naming rank and host."""
    start = time.monotonic()
    run = hpcevo(["--problem", "tests.support.factories:fail_on_rank", "-O", f"rank={rank}", "--on-error", "raise",
                  "--ranks-per-island", ranks_per_island, "--quiet", "--out", tmp_path / "r"], ranks=4, timeout=60)
    assert run.returncode != 0
    assert time.monotonic() - start < 40
    assert f"injected failure on rank {rank}" in run.stderr
    assert f"evaluated on rank {rank} on {socket.gethostname()}" in run.stderr
    assert "ending the whole job" in run.stderr


@pytest.mark.slow
def test_worker_death_ends_whole_job(tmp_path):
    start = time.monotonic()
    run = hpcevo(["--problem", "tests.support.factories:fail_on_rank", "-O", "rank=3", "-O", 'mode="exit"',
                  "--ranks-per-island", 2, "--quiet", "--out", tmp_path / "r"], ranks=4, timeout=60)
    assert run.returncode != 0
    assert time.monotonic() - start < 40


@pytest.mark.slow
def test_rank0_raising_mid_run(tmp_path):
    run = hpcevo(["--topology", "tests.support.factories:crash_topology", "--quiet", "--out", tmp_path / "r"],
                 ranks=4, timeout=60)
    assert run.returncode == 1
    assert f"rank 0 on {socket.gethostname()} failed; ending the whole job" in run.stderr
    assert "ValueError: topology bug" in run.stderr


@pytest.mark.slow
def test_penalize_counts_failures(tmp_path):
    run = hpcevo(["--problem", "tests.support.factories:flaky", "--islands", 2] + SMALL + ["--out", tmp_path / "r"],
                 ranks=2)
    assert run.returncode == 0, run.stderr
    rows = (tmp_path / "r" / "logbook.csv").read_text().splitlines()[1:]
    assert sum(int(row.split(",")[-2]) for row in rows) > 0
    # the first failure of each kind is shown once per process (here one island each), with its traceback
    assert run.stderr.count("ZeroDivisionError: strategy divided by zero") == 2
    errors = (tmp_path / "r" / "errors.txt").read_text()
    assert errors.startswith("ZeroDivisionError (islands 0, 1); first seen on island 0, generation ")
    assert errors.count("Traceback") == 1


@pytest.mark.slow
def test_penalize_reports_each_kind_once_per_process(tmp_path):
    run = hpcevo(["--problem", "tests.support.factories:flaky", "--islands", 4] + SMALL + ["--out", tmp_path / "r"])
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("ZeroDivisionError: strategy divided by zero") == 1


@pytest.mark.slow
def test_thread_level_too_low_for_groups(tmp_path):
    """ranks_per_island > 1 without MPI_THREAD_MULTIPLE is refused with advice, not left to deadlock."""
    run = hpcevo(["--ranks-per-island", 2, "--out", tmp_path / "r"], ranks=4, timeout=60,
                 env={"MPI4PY_RC_THREAD_LEVEL": "single"})
    assert run.returncode == 2
    _once(run.stderr, "ranks_per_island > 1 needs an MPI initialised with MPI_THREAD_MULTIPLE")


@pytest.mark.slow
def test_rejected_individuals_are_counted_not_reported(tmp_path):
    """evaluate raising hpcevo.errors.Rejected: penalty fitness, `rejected` column, no error, even with raise."""
    run = hpcevo(["--problem", "tests.support.factories:picky", "--islands", 2, "--on-error", "raise"] + SMALL
                 + ["--out", tmp_path / "r"], ranks=2)
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    rows = [row.split(",") for row in (tmp_path / "r" / "logbook.csv").read_text().splitlines()[1:]]
    assert sum(int(row[-1]) for row in rows) > 0 and sum(int(row[-2]) for row in rows) == 0
    assert not (tmp_path / "r" / "errors.txt").exists()
    hof = json.loads((tmp_path / "r" / "hall_of_fame.json").read_text())
    assert all(sum(map(int, entry["individual"][1:-1].split(","))) >= 15 for entry in hof["individuals"])


@pytest.mark.slow
def test_report_hook_runs_on_rank_0(tmp_path):
    run = hpcevo(["--problem", "tests.support.factories:reporting", "--islands", 2] + SMALL
                 + ["--out", tmp_path / "r"], ranks=2)
    assert run.returncode == 0, run.stderr
    best = json.loads((tmp_path / "r" / "hall_of_fame.json").read_text())["individuals"][0]
    assert (tmp_path / "r" / "best.txt").read_text() == f"{best['individual']} {best['fitness'][0]}\n"


@pytest.mark.slow
def test_neighbour_migration_on_eight_ranks_stops_and_resumes_on_three(tmp_path):
    """The default scheme (leader to leader) on 8 ranks writes what a serial run and a via-rank-0 run write;
    stopped on 8 ranks and resumed on 3 it still does; rank 0's bytes per epoch stay within 1.5x of 2 ranks'."""
    args = ["--problem", "rastrigin", "-O", "dimension=8", "--islands", 8, "--population", 16, "--generations", 12,
            "--migration-interval", 2, "--migrants", 3, "--checkpoint-every", 2, "--quiet"]
    serial = hpcevo(args + ["--out", tmp_path / "serial"])
    assert serial.returncode == 0, serial.stderr
    for name, ranks, extra in (("n8", 8, []), ("via8", 8, ["--migration", "via_root"]), ("n3", 3, [])):
        run = hpcevo(args + extra + ["--out", tmp_path / name], ranks=ranks)
        assert run.returncode == 0, run.stderr
        same_results(tmp_path / "serial", tmp_path / name)
    stopped = hpcevo(args + ["--stop-after", 6, "--out", tmp_path / "split"], ranks=8)
    assert stopped.returncode == 75, stopped.stderr
    resumed = hpcevo(["run", "--resume", tmp_path / "split"], ranks=3)
    assert resumed.returncode == 0, resumed.stderr
    same_results(tmp_path / "serial", tmp_path / "split")
    one_per_rank = ["--problem", "rastrigin", "--population", 16, "--generations", 8, "--migration-interval", 2,
                    "--quiet"]
    coordination = {}
    for ranks in (2, 8):
        run = hpcevo(one_per_rank + ["--islands", ranks, "--out", tmp_path / f"ring{ranks}"], ranks=ranks)
        assert run.returncode == 0, run.stderr
        coordination[ranks] = json.loads((tmp_path / f"ring{ranks}" / "summary.json").read_text())["coordination"]
    assert coordination[8]["rank0_received_bytes_per_epoch"] <= 1.5 * coordination[2]["rank0_received_bytes_per_epoch"]
    assert coordination[8]["max_leader_messages_per_epoch"] <= 1 + 2 * 3 + 3  # degree 1, log2(8) = 3


@pytest.mark.slow
def test_leaders_that_disagree_on_the_routes_end_the_job(tmp_path):
    """A topology whose routes depend on the rank: with leader-to-leader migration every leader would wait for
    migrants that never come; instead the job ends, status 2, with one paragraph that says what to fix."""
    run = hpcevo(["--problem", "onemax", "--islands", 4, "--population", 10, "--generations", 6,
                  "--migration-interval", 2, "--topology", "tests.support.factories:rank_dependent",
                  "--out", tmp_path / "r"], ranks=4, timeout=60)
    assert run.returncode == 2, run.stderr
    assert ("the group leaders computed different routes for epoch 0 from topology tests.support.factories:"
            "rank_dependent: it must be a pure function of (n_islands, epoch, rng)") in run.stderr
    assert "Traceback" not in run.stderr
