"""The Python API: hpcevo.evolve and hpcevo.load_run, from this process, a script, under mpiexec."""

import io
import os
import subprocess
import sys

import pandas as pd
import pytest
from conftest import MPIEXEC, ROOT, hpcevo, same_results

import hpcevo as api
from hpcevo.errors import ConfigError, ProblemError, UserError
from hpcevo.runner import run
from tests.support.factories import plain_toolbox

SMALL = {"islands": 3, "population": 12, "generations": 6, "migration_interval": 2, "migrants": 2, "seed": 5,
         "progress": False}
F = "tests.support.factories"


def _genes(individuals):
    return [list(ind) for ind in individuals]


def _same(a, b):
    assert _genes(a.hall_of_fame) == _genes(b.hall_of_fame)
    assert [ind.fitness.values for ind in a.hall_of_fame] == [ind.fitness.values for ind in b.hall_of_fame]
    assert [_genes(pop) for pop in a.populations] == [_genes(pop) for pop in b.populations]
    pd.testing.assert_frame_equal(a.logbook, b.logbook)
    pd.testing.assert_frame_equal(a.migrations, b.migrations)


def test_memory_folder_and_load_run_give_one_result(tmp_path):
    in_memory = api.evolve(plain_toolbox(), **SMALL)
    written = api.evolve(plain_toolbox(), out=tmp_path / "r", **SMALL)
    loaded = api.load_run(tmp_path / "r")
    assert in_memory.run_dir is None and written.run_dir == str(tmp_path / "r")
    for other in (written, loaded):
        _same(in_memory, other)
    assert len(in_memory.logbook) == 3 * 7 and list(in_memory.logbook.columns[:3]) == ["island", "gen", "nevals"]
    assert len(in_memory.populations) == 3 and all(len(pop) == 12 for pop in in_memory.populations)
    assert in_memory.summary["evaluations"] == written.summary["evaluations"] == in_memory.logbook.nevals.sum()
    assert in_memory.summary["status"] == "complete" and in_memory.summary["checkpoint"]["file"] is None
    assert in_memory.best is in_memory.hall_of_fame[0]
    assert not any(tmp_path.glob("runs")) and not (ROOT / "runs" / "toolbox").exists()


@pytest.mark.slow
def test_evolve_writes_what_the_cli_writes(tmp_path):
    """The same search from Python and from the command line: byte-identical result files."""
    api.evolve(f"{F}:plain_toolbox", out=tmp_path / "api", **SMALL)
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in SMALL.items() if k != "progress"]
    cli = hpcevo(["--problem", f"{F}:plain_toolbox", *flags, "--quiet", "--out", tmp_path / "cli"])
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout == f"hpcevo: results in {tmp_path / 'cli'}\n"  # --quiet still says where the results are
    same_results(tmp_path / "api", tmp_path / "cli")


def test_every_way_of_naming_a_problem(tmp_path):
    """A toolbox object, a factory, a factory's import string and a toolbox's import string: one search."""
    reference = api.evolve(plain_toolbox(), **SMALL)
    for problem in (plain_toolbox, f"{F}:plain_toolbox", f"{F}:MODULE_TOOLBOX"):
        _same(reference, api.evolve(problem, **SMALL))
    builtin = api.evolve("rastrigin", problem_options={"dimension": 4}, **SMALL)
    assert builtin.summary["problem"] == "rastrigin" and len(builtin.hall_of_fame) == 10
    assert builtin.config["problem_options"] == {"dimension": 4}


@pytest.mark.slow
def test_the_cli_takes_a_module_level_toolbox(tmp_path):
    run_ = hpcevo(["--problem", f"{F}:MODULE_TOOLBOX", "--generations", 3, "--population", 10, "--quiet", "--out",
                   tmp_path / "r"])
    assert run_.returncode == 0, run_.stderr
    assert '"individual"' in (tmp_path / "r" / "hall_of_fame.json").read_text()


def test_settings_are_validated_as_the_cli_validates_flags():
    with pytest.raises(ConfigError) as caught:
        api.evolve(plain_toolbox(), population=0)
    assert str(caught.value) == "keyword population: population must be at least 1, got 0."
    with pytest.raises(ConfigError, match='unknown setting \'populaton\'. Did you mean "population"\\?'):
        api.evolve(plain_toolbox(), populaton=40)
    with pytest.raises(ConfigError, match="keyword emigration: emigration = 'bset' is not one of best, random, "
                                          "tournament"):
        api.evolve(plain_toolbox(), emigration="bset")
    with pytest.raises(ProblemError, match="is a toolbox object, which takes no options"):
        api.evolve(plain_toolbox(), problem_options={"length": 4})
    with pytest.raises(UserError, match="not a built-in problem"):
        api.evolve("rastrign")
    with pytest.raises(ConfigError, match="give a deap.base.Toolbox, a factory function"):
        api.evolve(42)
    assert issubclass(ConfigError, api.UserError) and api.UserError is UserError


def test_load_run_explains_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(ConfigError, match=f"{tmp_path} is not a finished hpcevo run folder: it has no summary.json"):
        api.load_run(tmp_path)


def test_a_failure_in_this_process_raises_here(tmp_path):
    """In one process driven from Python an unexpected error propagates (it does not end the interpreter)."""
    from hpcevo.errors import EvaluationError

    penalized = api.evolve(f"{F}:flaky", problem_options={"rate": 0.3}, on_error="penalize", **SMALL)
    assert penalized.logbook.failures.sum() > 0
    with pytest.raises(EvaluationError, match="on_error = \"raise\""):
        api.evolve(f"{F}:flaky", problem_options={"rate": 0.3}, on_error="raise", **SMALL)


def _interrupting(times):
    """A plain toolbox whose evaluate sends this process SIGINT `times` times, from its 30th call on."""
    import signal

    toolbox, calls = plain_toolbox(), []
    evaluate = toolbox.evaluate

    def interrupting(ind):
        calls.append(1)
        if 30 <= len(calls) < 30 + times:
            os.kill(os.getpid(), signal.SIGINT)
        return evaluate(ind)

    toolbox.register("evaluate", interrupting)
    return toolbox


def test_ctrl_c_in_this_process_stops_with_results_then_twice_raises(tmp_path, capfd):
    """Ctrl-C once: the epoch ends, a checkpoint is written and evolve returns the results so far; the run
    folder resumes to the uninterrupted results. Twice: KeyboardInterrupt, and the interpreter lives on."""
    settings = {**SMALL, "generations": 12}
    stopped = api.evolve(_interrupting(1), out=tmp_path / "r", **settings)
    assert stopped.summary["status"] == "stopped" and stopped.summary["generation"] < 12
    err = capfd.readouterr().err
    assert "SIGINT received" in err
    assert f"continue with hpcevo.evolve(<the same problem>, resume={str(tmp_path / 'r')!r})" in err
    with pytest.raises(KeyboardInterrupt):
        api.evolve(_interrupting(2), **settings)
    whole = api.evolve(plain_toolbox(), **settings)
    resumed = api.evolve(plain_toolbox(), resume=tmp_path / "r", **settings)
    assert resumed.summary["status"] == "complete" and resumed.run_dir == str(tmp_path / "r")
    _same(resumed, whole)
    with pytest.raises(ConfigError, match="resume=\"auto\"\\) needs the run folder"):
        api.evolve(plain_toolbox(), resume="auto", **settings)


@pytest.mark.parametrize("first", [40, 45])
def test_extending_a_finished_run_equals_an_uninterrupted_one(tmp_path, first):
    """--resume DIR --generations 60 after a run of 40 (an epoch boundary: the migration the short run skipped is
    made first) or of 45 (mid-epoch: the epoch is completed) gives the files of one 60-generation run."""
    settings = {"problem": "rastrigin", "problem_options": {"dimension": 4}, "islands": 3, "population": 10,
                "migration_interval": 10, "migrants": 2, "progress": False}
    out = io.StringIO()
    assert run(None, {**settings, "generations": 60, "out": str(tmp_path / "whole")}, out=out) == 0
    assert run(None, {**settings, "generations": first, "out": str(tmp_path / "split")}, out=out) == 0
    assert run(None, {"generations": 60}, out=out, resume=str(tmp_path / "split")) == 0
    same_results(tmp_path / "whole", tmp_path / "split")
    migrated = pd.read_csv(tmp_path / "split" / "migrations.csv")
    assert sorted(set(migrated.epoch)) == [0, 1, 2, 3, 4]


@pytest.mark.slow
def test_a_closed_stdout_does_not_end_the_run(tmp_path):
    """`python -m hpcevo run ... | head -2`: the reader goes away, the run finishes and writes everything."""
    cmd = [sys.executable, "-m", "hpcevo", "--problem", "rastrigin", "-O", "dimension=4", "--islands", "2",
           "--population", "10", "--generations", "40", "--migration-interval", "2", "--out", str(tmp_path / "r")]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}) as proc:
        first = [proc.stdout.readline(), proc.stdout.readline()]
        proc.stdout.close()  # what `head -2` does after two lines
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == 0, err
    assert first[0].startswith("hpcevo ") and first[1].startswith("epoch 1/20")
    assert "BrokenPipe" not in err and "Traceback" not in err
    assert '"status": "complete"' in (tmp_path / "r" / "summary.json").read_text()
    assert (tmp_path / "r" / "checkpoint.pkl").exists()


SCRIPT = '''
import sys
import warnings

warnings.simplefilter("error")  # DEAP warns when a creator class is created twice
from deap import base, creator, tools
import random
import hpcevo

creator.create("FitnessMax", base.Fitness, weights=(1.0,))
creator.create("Individual", list, fitness=creator.FitnessMax)
toolbox = base.Toolbox()
toolbox.register("bit", random.randint, 0, 1)
toolbox.register("individual", tools.initRepeat, creator.Individual, toolbox.bit, 24)
toolbox.register("evaluate", lambda ind: (sum(ind),))
toolbox.register("mate", tools.cxTwoPoint)
toolbox.register("mutate", tools.mutFlipBit, indpb=0.05)
toolbox.register("select", tools.selTournament, tournsize=3)

if __name__ == "__main__":
    if sys.argv[1] == "cli":  # the script hands its own toolbox to the command line
        sys.exit(hpcevo.cli.main(["--problem", "myscript:toolbox", "--islands", "4", "--generations", "4",
                                  "--quiet", "--out", sys.argv[2]]))
    if sys.argv[1] == "crash":
        from mpi4py import MPI
        calls = []

        def fails_later(ind):  # rank 2 divides by zero once the search is under way
            calls.append(1)
            return (sum(ind) / (0 if len(calls) > 20 else 1),)

        if MPI.COMM_WORLD.rank == 2:
            toolbox.register("evaluate", fails_later)
    result = hpcevo.evolve(toolbox, islands=4, population=16, generations=6, migration_interval=2, seed=3,
                           progress=False, out=sys.argv[2], on_error="raise")
    import os  # one file per rank: mpiexec may interleave the ranks' stdout mid-line
    with open(f"said.{sys.argv[2]}.{os.environ.get('PMI_RANK', '0')}", "w") as said:
        said.write("result" if result is not None else "None")
'''


def _script(tmp_path, *args, ranks=None):
    (tmp_path / "myscript.py").write_text(SCRIPT)
    cmd = [sys.executable, "myscript.py", *args]
    if ranks:
        cmd = [MPIEXEC, "-n", str(ranks), *cmd]
    return subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=150,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "MPIEXEC_TIMEOUT": "140"})


@pytest.mark.slow
def test_a_script_under_mpiexec_spreads_its_islands(tmp_path):
    """`mpiexec -n 4 python myscript.py`: every rank calls evolve; rank 0 gets the Result, three get None; the
    files equal those of `python myscript.py`."""
    serial = _script(tmp_path, "api", "serial")
    assert serial.returncode == 0, serial.stderr
    assert (tmp_path / "said.serial.0").read_text() == "result"
    mpi = _script(tmp_path, "api", "mpi", ranks=4)
    assert mpi.returncode == 0, mpi.stderr
    assert [(tmp_path / f"said.mpi.{r}").read_text() for r in range(4)] == ["result", "None", "None", "None"]
    same_results(tmp_path / "serial", tmp_path / "mpi")
    assert '"ranks": 4' in (tmp_path / "mpi" / "summary.json").read_text()


@pytest.mark.slow
def test_a_failing_rank_ends_a_script_under_mpiexec(tmp_path):
    crash = _script(tmp_path, "crash", "r", ranks=4)
    assert crash.returncode != 0
    assert "ZeroDivisionError" in crash.stderr and "rank 2 on" in crash.stderr


@pytest.mark.slow
def test_a_script_naming_its_own_toolbox_is_not_imported_twice(tmp_path):
    done = _script(tmp_path, "cli", "r")
    assert done.returncode == 0, done.stderr
    assert "RuntimeWarning" not in done.stderr and (tmp_path / "r" / "hall_of_fame.json").exists()


def test_the_one_line_deap_tutorial(tmp_path):
    """examples/deap_onemax.py: DEAP's OneMax tutorial with eaSimple replaced by hpcevo.evolve."""
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "deap_onemax.py"), "--quick"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("best individual has ") and last.endswith("evaluations on 1 rank(s)")
    assert int(last.split()[3]) > 60  # 100 bits: a random individual has about 50 ones
    text = (ROOT / "examples" / "deap_onemax.py").read_text()
    assert "# algorithms.eaSimple(pop, toolbox" in text and "result = hpcevo.evolve(toolbox" in text



def test_config_toml_records_the_resolved_problem_options(tmp_path):
    api.evolve("rastrigin", out=tmp_path / "r", **SMALL)
    text = (tmp_path / "r" / "config.toml").read_text()
    assert "[problem_options]\ndimension = 30\n" in text  # the factory's default, written although not given
    assert api.load_run(tmp_path / "r").config["problem_options"] == {"dimension": 30}


def test_a_multi_objective_problem_with_a_single_objective_select_is_refused(tmp_path):
    from hpcevo.problems import zdt1

    def zdt_with_tournament(dimension=4):
        toolbox = zdt1(dimension=dimension)
        toolbox.register("select", __import__("deap").tools.selTournament, tournsize=3)
        return toolbox

    with pytest.raises(ProblemError, match="has 2 objectives, but algorithm 'simple' selects with toolbox.select = "
                                           "tools.selTournament"):
        api.evolve(zdt_with_tournament, algorithm="simple", **SMALL)
    front = api.evolve(zdt_with_tournament, **SMALL)  # auto: nsga2
    assert front.summary["status"] == "complete" and len(front.hall_of_fame[0].fitness.values) == 2


CUSTOM_PICKLE = '''
import pickle, sys
from mpi4py import MPI

used = []


def dumps(obj, protocol=None):  # a program's own pickle: it takes lambdas (as dill or cloudpickle would)
    if getattr(obj, "__name__", "") == "<lambda>":
        obj = None
    return pickle.dumps(obj, protocol)


def loads(data, *args):
    used.append(1)
    return pickle.loads(data)


MPI.pickle.__init__(dumps, loads)
import hpcevo

result = hpcevo.evolve("onemax", islands=2, population=8, generations=4, migration_interval=2, progress=False,
                       out=sys.argv[1])
before = len(used)
MPI.COMM_WORLD.allgather(MPI.COMM_WORLD.rank)
assert len(used) > before, "the program's own pickle was replaced"
if result is not None:
    assert result.summary["coordination"] == {"scheme": "neighbour", "rank0_received_bytes_per_epoch": None,
                                              "rank0_received_messages_per_epoch": None,
                                              "max_leader_messages_per_epoch": None}, result.summary
'''


@pytest.mark.slow
def test_a_programs_own_mpi_pickle_is_kept(tmp_path):
    """hpcevo counts its coordination through mpi4py's pickle hook only over the default pickle: a program that
    configured its own (dill, cloudpickle) keeps it, and the counts say None instead of a wrong figure."""
    (tmp_path / "custom.py").write_text(CUSTOM_PICKLE)
    run = subprocess.run([MPIEXEC, "-n", "2", sys.executable, "custom.py", "r"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT), "MPIEXEC_TIMEOUT": "110"})
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "r" / "summary.json").is_file()
