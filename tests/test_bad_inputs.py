"""The bad-input corpus (tests/bad_inputs/ plus factories in tests/support/): every malformed config, flag, data
file, problem factory and checkpoint gets exit status 2, one paragraph naming what and where, no traceback, and
leaves no run folder that could be mistaken for a result (resumed folders are left as they were)."""

import shutil
from pathlib import Path

import pytest
from conftest import hpcevo

from hpcevo.checkpoint import CHECKPOINT_NAME

INPUTS = Path(__file__).parent / "bad_inputs"
CONFIGS, DATA = INPUTS / "configs", INPUTS / "data"
SMALL = ["--generations", 2, "--population", 10]

# (name, arguments, text the message must contain); {configs}/{data} are the corpus folders
CASES = [
    # config files
    ("unknown key", ["--config", "{configs}/unknown_key.toml"], 'unknown key "populaton". Did you mean "population"?'),
    ("wrong type", ["--config", "{configs}/wrong_type.toml"], "population must be an integer, got 'fifty'"),
    ("negative size", ["--config", "{configs}/negative_population.toml"], "population must be at least 1, got -5"),
    ("zero generations", ["--config", "{configs}/zero_generations.toml"], "generations must be at least 1, got 0"),
    ("migrants >= population", ["--config", "{configs}/too_many_migrants.toml"],
     "migrants (10) must be smaller than population (10)"),
    ("TOML syntax", ["--config", "{configs}/bad_syntax.toml"], "is not valid TOML: Invalid value"),
    ("unknown algorithm", ["--config", "{configs}/unknown_algorithm.toml"], 'Did you mean "nsga2"?'),
    ("unknown topology", ["--config", "{configs}/unknown_topology.toml"], 'Did you mean "ring"?'),
    ("rate out of range", ["--config", "{configs}/rate_out_of_range.toml"], "cxpb must be between 0 and 1, got 1.5"),
    ("per_island key", ["--config", "{configs}/per_island_unknown_key.toml"],
     "per_island.mutation is not a per-island setting"),
    ("per_island empty", ["--config", "{configs}/per_island_empty.toml"], "per_island.mutpb must be a non-empty list"),
    ("mu_plus_lambda rates", ["--config", "{configs}/mu_plus_lambda_rates.toml"],
     "cxpb + mutpb must be at most 1 (got 0.7 + 0.5)"),
    ("walltime", ["--config", "{configs}/bad_walltime.toml"], "max_walltime = 'two hours' is not a duration"),
    ("eval_timeout", ["--config", "{configs}/negative_eval_timeout.toml"], "eval_timeout must be a number of seconds"),
    ("nested option", ["--config", "{configs}/nested_problem_options.toml"],
     "problem_options.extra must be a number, string or boolean"),
    ("zero hall of fame", ["--config", "{configs}/zero_hall_of_fame.toml"], "hall_of_fame must be at least 1, got 0"),
    ("zero chunksize", ["--config", "{configs}/zero_chunksize.toml"], "chunksize must be at least 1, got 0"),
    ("negative seed", ["--config", "{configs}/negative_seed.toml"], "seed must be 0 or more, got -1"),
    ("boolean for integer", ["--config", "{configs}/bool_as_int.toml"], "islands must be an integer, got True"),
    ("unknown problem", ["--config", "{configs}/unknown_problem.toml"], 'Did you mean "onemax"?'),
    ("option refused", ["--config", "{configs}/problem_option_refused.toml"],
     "dimension must be an integer >= 1, got 0"),
    ("option misspelt", ["--config", "{configs}/problem_option_unknown.toml"],
     'Did you mean "dimension" for "dimensions"? It takes: dimension.'),
    ("on_error value", ["--config", "{configs}/bad_on_error.toml"],
     "on_error = 'ignore' is not one of raise, penalize"),
    ("config not UTF-8", ["--config", "{configs}/not_utf8.toml"], "is not valid UTF-8: line 2 holds the byte b'\\xe9'"),
    ("config missing", ["--config", "{configs}/nowhere.toml"], "nowhere.toml does not exist"),
    ("config is a folder", ["--config", "{configs}"], "cannot be read: Is a directory"),
    # flags
    ("unknown flag", ["--populaton", 5],
     "unrecognized arguments: --populaton 5. Did you mean --population? See `python -m hpcevo run --help`."),
    ("flag type", ["--population", "ten"], "argument --population: invalid int value: 'ten'"),
    ("option without =", ["-O", "length"], "expected KEY=VALUE, got 'length'"),
    ("resume missing folder", ["--resume", "{tmp}/nowhere", "--out", "{tmp}/nowhere"], "there is no run folder"),
    ("resume auto without out", ["--resume", "auto", "--out", ""], "--resume auto needs the run folder"),
    # market data (the trading problem)
    ("data empty", ["--data", "{data}/empty.csv"], "empty.csv is empty: it needs a header line"),
    ("data header only", ["--data", "{data}/header_only.csv"], "has a header but no data rows"),
    ("data unsorted", ["--data", "{data}/unsorted_dates.csv"], "data row 502 (date 2001-12-03): dates are not in "
                                                               "increasing order"),
    ("data duplicate date", ["--data", "{data}/duplicate_date.csv"], "duplicate date 2002-04-19, also in data row 600"),
    ("data NaN", ["--data", "{data}/nan_close.csv"], 'column "close", data row 701 (date 2002-09-09): the value is '
                                                     'missing ("NaN")'),
    ("data text", ["--data", "{data}/text_in_number.csv"], 'column "open", data row 301'),
    ("data zero price", ["--data", "{data}/zero_price.csv"], "prices must be positive, got 0"),
    ("data negative price", ["--data", "{data}/negative_price.csv"], "prices must be positive, got -3.5"),
    ("data negative volume", ["--data", "{data}/negative_volume.csv"], "volume must not be negative, got -10"),
    ("data one row", ["--data", "{data}/one_row.csv"], "needs at least 3 bars"),
    ("data too short", ["--data", "{data}/too_few_bars.csv"], "the longest history has 150 bars"),
    ("data missing column", ["--data", "{data}/missing_close.csv"], 'has no "close" column'),
    ("data high < low", ["--data", "{data}/high_below_low.csv"], "data row 401 (date 2001-07-16): high is below low"),
    ("data date format", ["--data", "{data}/bad_date.csv"], '"03/15/2001" is not a date. Write dates as YYYY-MM-DD'),
    ("data separator", ["--data", "{data}/semicolon.csv"], "it seems to use ';' as separator"),
    ("data encoding", ["--data", "{data}/utf16.csv"], "is not valid UTF-8: line 1 holds the byte b'\\xff'"),
    ("data file missing", ["--data", "{data}/nowhere.csv"], "nowhere.csv does not exist"),
    ("data rf in percent", ["--data", "{data}/rf_percent.csv"], 'column "rf", data row 4 (date 2000-01-06): the '
                                                                 "risk-free rate 5.24 is outside [-0.05, 1]. It "
                                                                 "looks like a percentage"),
    # problem factories
    ("factory entries", ["--problem", "tests.support.factories:missing_entries"], "lacks mate, select"),
    ("factory objectives", ["--problem", "tests.support.factories:wrong_length"], "evaluate returned 2 value(s)"),
    ("factory raises", ["--problem", "tests.support.factories:raising_factory"],
     "raised RuntimeError: cannot reach the licence server"),
    ("individual unpicklable", ["--problem", "tests.support.factories:unpicklable_individual"],
     "an individual does not pickle"),
    ("module missing", ["--problem", "tests.support.no_such_module:make"], "No module named 'tests.support.no_such_"),
    ("module import error", ["--problem", "tests.support.broken_module:make"],
     "failed with ImportError: cannot import name 'Toolbox'"),
    ("factory misspelt", ["--problem", "tests.support.bad_factories:no_evluate"],
     'Did you mean "tests.support.bad_factories:no_evaluate"?'),
    ("factory not callable", ["--problem", "tests.support.bad_factories:NOT_CALLABLE"], "is not callable"),
    ("factory returns dict", ["--problem", "tests.support.bad_factories:returns_dict"],
     "the factory returned a dict, not a deap.base.Toolbox"),
    ("factory without evaluate", ["--problem", "tests.support.bad_factories:no_evaluate"], "lacks evaluate"),
    ("factory argument", ["--problem", "tests.support.bad_factories:needs_argument"],
     "missing 1 required positional argument: 'path'"),
]
UNDER_MPIEXEC = {"unknown key", "data NaN", "factory raises", "module import error", "config not UTF-8"}


def _expand(args, tmp_path):
    return [str(a).format(configs=CONFIGS, data=DATA, tmp=tmp_path) for a in args]


def _one_paragraph(stderr, fragment):
    assert stderr.startswith("hpcevo: error"), stderr
    assert stderr.count("hpcevo: error") == 1, stderr
    assert "Traceback" not in stderr
    assert "\n" not in stderr.strip(), f"more than one paragraph: {stderr}"
    assert fragment in stderr, stderr


def test_the_corpus_has_at_least_40_inputs():
    files = list(CONFIGS.iterdir()) + list(DATA.iterdir())
    assert len(CASES) >= 40 and len(files) >= 35


@pytest.mark.slow
@pytest.mark.parametrize("name, args, fragment", CASES, ids=[c[0] for c in CASES])
def test_bad_input(tmp_path, name, args, fragment):
    out = tmp_path / "run"  # (resume cases name their own folder)
    full = _expand(args, tmp_path)  # no size flags: they would override the files under test
    if "--out" not in full:
        full += ["--out", out]
    ranks = 4 if name in UNDER_MPIEXEC else None
    run = hpcevo(full, ranks=ranks, timeout=60, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    _one_paragraph(run.stderr, fragment)
    assert not out.exists(), "a run folder was left behind"
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
@pytest.mark.parametrize("ranks, args, fragment", [
    (4, ["--config", CONFIGS / "islands_fewer_than_groups.toml"], "islands = 2 is fewer than the 4 rank groups"),
    (3, ["--ranks-per-island", 2], "3 ranks cannot be split into groups of ranks_per_island = 2"),
])
def test_bad_layout_under_mpiexec(tmp_path, ranks, args, fragment):
    run = hpcevo(["--problem", "onemax", *SMALL, *args, "--out", tmp_path / "run"], ranks=ranks, timeout=60)
    assert run.returncode == 2, run.stderr
    _one_paragraph(run.stderr, fragment)
    assert not (tmp_path / "run").exists()


# -- checkpoints: damaged copies of a real run folder -------------------------------------------------

@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("good") / "run"
    result = hpcevo(["--problem", "onemax", "--population", 12, "--generations", 12, "--migration-interval", 3,
                     "--stop-after", 6, "--quiet", "--out", run_dir])
    assert result.returncode == 75, result.stderr
    return run_dir


def _truncate(path):
    path.write_bytes(path.read_bytes()[:-200])


def _alter(path):
    data = bytearray(path.read_bytes())
    data[-300] ^= 0x20
    path.write_bytes(bytes(data))


def _foreign(path):
    shutil.copy(DATA / "one_row.csv", path)


def _other_version(path):
    data = path.read_bytes()
    path.write_bytes(data.replace(b'"format": 2', b'"format": 7', 1))


CHECKPOINT_CASES = [
    ("truncated", _truncate, [], "is truncated or has extra bytes"),
    ("altered", _alter, [], "fails its integrity check (the SHA-256"),
    ("foreign file", _foreign, [], "is not an hpcevo checkpoint"),
    ("other format version", _other_version, [], "has checkpoint format 7"),
    ("other problem", None, ["--problem", "sphere"], "problem = 'sphere' (checkpoint: 'onemax')"),
    ("other population", None, ["--population", 30], "population = 30 (checkpoint: 12)"),
    ("log missing", lambda p: (p.parent / "logbook.csv").unlink(), [], "logbook.csv is missing"),
]


@pytest.mark.slow
@pytest.mark.parametrize("name, damage, args, fragment", CHECKPOINT_CASES, ids=[c[0] for c in CHECKPOINT_CASES])
def test_bad_checkpoint(tmp_path, good_run, name, damage, args, fragment):
    run_dir = tmp_path / "run"
    shutil.copytree(good_run, run_dir)
    if damage is not None:
        damage(run_dir / CHECKPOINT_NAME)
    before = {str(p.relative_to(run_dir)): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    run = hpcevo(["run", "--resume", run_dir, *args], timeout=60)
    assert run.returncode == 2, run.stderr
    _one_paragraph(run.stderr, fragment)
    assert {str(p.relative_to(run_dir)): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before
