"""Tests for the run configuration: defaults, TOML file, flags, validation messages, spreads, round trip."""

import dataclasses
import tomllib

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcevo.config import ALGORITHMS, PER_ISLAND_KEYS, Config, load_config
from hpcevo.errors import ConfigError, UserError

DEFAULTS = {
    "problem": "trading",
    "problem_options": {},
    "walkforward": {},
    "islands": 0,
    "population": 100,
    "generations": 100,
    "migration_interval": 10,
    "migrants": 5,
    "topology": "ring",
    "emigration": "best",
    "replacement": "worst",
    "algorithm": "auto",
    "migration": "neighbour",
    "cxpb": 0.7,
    "mutpb": 0.2,
    "offspring": 0,
    "per_island": {},
    "ranks_per_island": 1,
    "chunksize": 8,
    "seed": 1,
    "hall_of_fame": 10,
    "on_error": "penalize",
    "out": "",
    "progress": True,
    "checkpoint_every": 10,
    "eval_timeout": 0.0,
    "max_walltime": "",
    "stop_after": 0,
}


def write(tmp_path, text, name="run.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error(path=None, overrides=None):
    """The ConfigError message load_config raises (fails the test if it does not raise)."""
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    return str(info.value)


# --- defaults, file, flags ---------------------------------------------------------------------------


def test_defaults():
    config = load_config()
    assert dataclasses.asdict(config) == DEFAULTS
    assert load_config(None, {}) == config
    assert load_config(None, {"population": None, "seed": None}) == config  # unset flags are None


def test_config_error_is_user_error():
    assert issubclass(ConfigError, UserError)
    assert ConfigError.exit_status == 2


def test_file_values(tmp_path):
    path = write(tmp_path, """
problem = "onemax"
islands = 6
population = 50
generations = 40
migration_interval = 4
migrants = 3
topology = "random"
emigration = "tournament"
replacement = "random"
algorithm = "mu_plus_lambda"
cxpb = 0.5
mutpb = 0
offspring = 80
ranks_per_island = 2
chunksize = 16
seed = 99
hall_of_fame = 3
on_error = "raise"
out = "runs/x"
progress = false

[problem_options]
length = 64
indpb = 0.01

[per_island]
cxpb = [0.1, 0.3]
""")
    config = load_config(path)
    assert config == Config(problem="onemax", islands=6, population=50, generations=40, migration_interval=4,
                            migrants=3, topology="random", emigration="tournament", replacement="random",
                            algorithm="mu_plus_lambda", cxpb=0.5, mutpb=0.0, offspring=80, ranks_per_island=2,
                            chunksize=16, seed=99, hall_of_fame=3, on_error="raise", out="runs/x", progress=False,
                            problem_options={"length": 64, "indpb": 0.01}, per_island={"cxpb": [0.1, 0.3]})
    # An integer written for a rate becomes a float.
    assert type(config.mutpb) is float


def test_flags_override_file(tmp_path):
    path = write(tmp_path, 'population = 50\nseed = 3\ntopology = "complete"\nprogress = true\n')
    config = load_config(path, {"seed": 8, "progress": False, "generations": 7, "population": None})
    assert config.population == 50      # None flag: file value kept
    assert config.seed == 8             # flag wins
    assert config.progress is False
    assert config.generations == 7
    assert config.topology == "complete"


def test_problem_options_flags_merge_into_file_table(tmp_path):
    path = write(tmp_path, '[problem_options]\ndimension = 10\nname = "a"\n')
    config = load_config(path, {"problem_options": {"dimension": 3, "extra": True}})
    assert config.problem_options == {"dimension": 3, "name": "a", "extra": True}
    assert load_config(None, {"problem_options": {"x": 1}}).problem_options == {"x": 1}
    assert load_config(path).problem_options == {"dimension": 10, "name": "a"}


def test_per_island_flag_replaces_file_table(tmp_path):
    path = write(tmp_path, '[per_island]\ncxpb = [0.1]\nmutpb = [0.3]\n')
    assert load_config(path, {"per_island": {"mutpb": [0.5, 0.6]}}).per_island == {"mutpb": [0.5, 0.6]}


def test_resolve():
    assert load_config().resolve(1).islands == 4
    assert load_config().resolve(3).islands == 4
    assert load_config().resolve(9).islands == 9
    fixed = load_config(None, {"islands": 2})
    assert fixed.resolve(16) is fixed
    resolved = load_config().resolve(6)
    assert dataclasses.replace(resolved, islands=0) == load_config()


def test_island_params_spread():
    config = load_config(None, {"population": 40, "per_island": {"cxpb": [0.1, 0.2, 0.3], "offspring": [0, 50]}})
    assert [config.island_params(i) for i in range(6)] == [
        {"cxpb": 0.1, "mutpb": 0.2, "offspring": 40},
        {"cxpb": 0.2, "mutpb": 0.2, "offspring": 50},
        {"cxpb": 0.3, "mutpb": 0.2, "offspring": 40},
        {"cxpb": 0.1, "mutpb": 0.2, "offspring": 50},
        {"cxpb": 0.2, "mutpb": 0.2, "offspring": 40},
        {"cxpb": 0.3, "mutpb": 0.2, "offspring": 50},
    ]


def test_island_params_without_spread():
    config = load_config(None, {"population": 30, "cxpb": 0.4, "mutpb": 0.5})
    assert config.island_params(0) == config.island_params(7) == {"cxpb": 0.4, "mutpb": 0.5, "offspring": 30}
    assert load_config(None, {"offspring": 12}).island_params(3)["offspring"] == 12


def test_to_toml_round_trip(tmp_path):
    config = load_config(None, {"problem": "zdt1", "islands": 5, "seed": 12345, "cxpb": 0.25, "progress": False,
                                "problem_options": {"dimension": 12, "label": "x y", "flag": True, "scale": 0.5},
                                "per_island": {"mutpb": [0.1, 0.2], "offspring": [10, 0, 30]},
                                "topology": "tests.support.factories:star", "out": "runs/a b",
                                "walkforward": {"train_years": 5, "windows": 3}})
    text = config.to_toml()
    assert tomllib.loads(text) == dataclasses.asdict(config)
    assert "walkforward" not in tomllib.loads(load_config().to_toml())  # an empty table is left out
    assert load_config(write(tmp_path, text)) == config
    assert load_config(write(tmp_path, load_config().to_toml(), "defaults.toml")) == load_config()


# --- validation messages: file -------------------------------------------------------------------------


def test_unknown_key_suggests(tmp_path):
    path = write(tmp_path, "popuation = 10\n")
    message = error(path)
    assert str(path) in message
    assert 'unknown key "popuation"' in message
    assert 'Did you mean "population"?' in message
    assert "Known keys: problem, problem_options, islands" in message


def test_unknown_key_without_suggestion(tmp_path):
    path = write(tmp_path, "zzzzqqq = 1\n")
    message = error(path)
    assert 'unknown key "zzzzqqq"' in message and str(path) in message
    assert "Did you mean" not in message


@pytest.mark.parametrize("line, fragment", [
    ('population = "many"', "population must be an integer, got 'many'"),
    ("population = 10.5", "population must be an integer, got 10.5"),
    ("population = true", "population must be an integer, got True"),
    ("seed = false", "seed must be an integer, got False"),
    ('cxpb = "0.5"', "cxpb must be a number, got '0.5'"),
    ("cxpb = true", "cxpb must be a number, got True"),
    ("topology = 3", "topology must be a string, got 3"),
    ("progress = 1", "progress must be true or false, got 1"),
    ("problem_options = 3", "problem_options must be a table, got 3"),
    ("per_island = [1]", "per_island must be a table, got [1]"),
    ("islands = [2]", "islands must be an integer, got [2]"),
])
def test_wrong_types_in_file(tmp_path, line, fragment):
    path = write(tmp_path, line + "\n")
    message = error(path)
    assert f"config file {path}: {fragment}." in message


@pytest.mark.parametrize("key", ["population", "generations", "migration_interval", "ranks_per_island", "chunksize",
                                 "hall_of_fame"])
@pytest.mark.parametrize("value", [0, -3])
def test_sizes_must_be_positive(tmp_path, key, value):
    path = write(tmp_path, f"{key} = {value}\n")
    assert error(path) == f"config file {path}: {key} must be at least 1, got {value}."


@pytest.mark.parametrize("key", ["islands", "migrants", "offspring", "seed"])
def test_counts_must_not_be_negative(tmp_path, key):
    path = write(tmp_path, f"{key} = -1\n")
    assert error(path) == f"config file {path}: {key} must be 0 or more, got -1."
    load_config(write(tmp_path, f"{key} = 0\n", "zero.toml"))  # zero is fine


def test_migrants_smaller_than_population(tmp_path):
    path = write(tmp_path, "population = 10\nmigrants = 10\n")
    assert error(path) == f"config file {path}: migrants (10) must be smaller than population (10)."
    assert "migrants (30) must be smaller than population (20)" in error(None, {"population": 20, "migrants": 30})
    assert load_config(None, {"population": 10, "migrants": 9}).migrants == 9


@pytest.mark.parametrize("key", ["cxpb", "mutpb"])
@pytest.mark.parametrize("value", [-0.1, 1.5, "nan", "inf"])
def test_rates_in_unit_interval(tmp_path, key, value):
    path = write(tmp_path, f"{key} = {value}\n")
    message = error(path)
    assert message.startswith(f"config file {path}: {key} must be between 0 and 1, got ")


def test_rates_at_the_bounds_are_fine():
    load_config(None, {"cxpb": 0.0, "mutpb": 1.0})
    load_config(None, {"cxpb": 1, "mutpb": 0})


def test_mu_plus_lambda_rate_sum(tmp_path):
    path = write(tmp_path, 'algorithm = "mu_plus_lambda"\ncxpb = 0.7\nmutpb = 0.4\n')
    message = error(path)
    assert str(path) in message
    assert "with algorithm mu_plus_lambda, cxpb + mutpb must be at most 1 (got 0.7 + 0.4)" in message
    # The same rates are fine for the other algorithms, and 0.7 + 0.3 is fine for mu_plus_lambda.
    for algorithm in ("auto", "simple", "nsga2"):
        load_config(None, {"algorithm": algorithm, "cxpb": 0.7, "mutpb": 0.4})
    load_config(None, {"algorithm": "mu_plus_lambda", "cxpb": 0.5, "mutpb": 0.5})


@pytest.mark.parametrize("key, bad, suggestion", [
    ("emigration", "bset", "best"),
    ("replacement", "worse", "worst"),
    ("algorithm", "nsga", "nsga2"),
    ("algorithm", "mu_lambda", "mu_plus_lambda"),
    ("on_error", "penalise", "penalize"),
    ("migration", "neighbor", "neighbour"),
    ("topology", "rign", "ring"),
    ("topology", "compete", "complete"),
])
def test_bad_choices_suggest(tmp_path, key, bad, suggestion):
    path = write(tmp_path, f'{key} = "{bad}"\n')
    message = error(path)
    assert message.startswith(f"config file {path}: {key} = '{bad}' is not one of ")
    assert f'Did you mean "{suggestion}"?' in message


def test_bad_choice_without_suggestion(tmp_path):
    path = write(tmp_path, 'emigration = "qqqqqq"\n')
    message = error(path)
    assert message == (f"config file {path}: emigration = 'qqqqqq' is not one of best, random, tournament, nor a "
                       f"custom 'package.module:function'.")
    assert "Did you mean" not in message


def test_custom_topology_and_problem_accepted():
    config = load_config(None, {"topology": "pkg.mod:func", "problem": "pkg.mod:factory"})
    assert config.topology == "pkg.mod:func"


def test_plugins_as_import_strings_and_functions():
    """Each plugin setting takes 'package.module:function' (checked for form, imported when the run starts) or,
    from Python, the function itself, which config.toml records as 'module:qualname'."""
    from examples.custom_step import cma_es
    from examples.custom_topology import hypercube

    strings = {"emigration": "pkg.mod:pick", "replacement": "pkg.mod:slots", "algorithm": "pkg.mod:step"}
    assert {k: getattr(load_config(None, strings), k) for k in strings} == strings
    config = load_config(None, {"topology": hypercube, "algorithm": cma_es}, override_kind="keyword")
    assert config.topology is hypercube and config.algorithm is cma_es
    recorded = tomllib.loads(config.to_toml())
    assert (recorded["topology"], recorded["algorithm"]) == ("examples.custom_topology:hypercube",
                                                             "examples.custom_step:cma_es")
    # the same text as the import string gives
    by_string = load_config(None, {"topology": "examples.custom_topology:hypercube"})
    assert by_string.to_toml() == dataclasses.replace(config, algorithm="auto").to_toml()


def test_keyword_overrides_are_named_as_keywords():
    with pytest.raises(ConfigError) as info:
        load_config(None, {"emigration": "bset"}, override_kind="keyword")
    assert str(info.value) == ("keyword emigration: emigration = 'bset' is not one of best, random, tournament, nor a "
                               "custom 'package.module:function'. Did you mean \"best\"?")
    with pytest.raises(ConfigError) as info:
        load_config(None, {"population": 20, "migrants": 30}, override_kind="keyword")
    assert str(info.value) == ("keyword migrants and keyword population: migrants (30) must be smaller than "
                               "population (20).")


def test_empty_problem(tmp_path):
    path = write(tmp_path, 'problem = ""\n')
    assert "problem must name a built-in problem" in error(path)


def test_problem_option_values_must_be_scalars(tmp_path):
    path = write(tmp_path, "[problem_options]\nsizes = [1, 2]\n")
    message = error(path)
    assert str(path) in message
    assert "problem_options.sizes must be a number, string or boolean, got [1, 2]" in message
    path = write(tmp_path, "[problem_options.nested]\na = 1\n", "nested.toml")
    assert "problem_options.nested must be a number, string or boolean" in error(path)


def test_per_island_unknown_key(tmp_path):
    path = write(tmp_path, "[per_island]\ncxbp = [0.1]\n")
    message = error(path)
    assert str(path) in message
    assert "per_island.cxbp is not a per-island setting." in message
    assert 'Did you mean "cxpb"?' in message
    assert "Allowed: cxpb, mutpb, offspring." in message
    path = write(tmp_path, "[per_island]\npopulation = [10]\n", "pop.toml")
    assert "per_island.population is not a per-island setting." in error(path)


@pytest.mark.parametrize("table, fragment", [
    ("cxpb = []", "per_island.cxpb must be a non-empty list"),
    ("mutpb = 0.5", "per_island.mutpb must be a non-empty list"),
    ('cxpb = [0.1, "x"]', "per_island.cxpb: cxpb must be a number, got 'x'"),
    ("offspring = [10, 2.5]", "per_island.offspring: offspring must be an integer, got 2.5"),
    ("offspring = [true]", "per_island.offspring: offspring must be an integer, got True"),
    ("offspring = [5, -1]", "per_island.offspring values must be 0 or more"),
    ("cxpb = [0.5, 1.5]", "per_island, island 1: cxpb must be between 0 and 1, got 1.5"),
    ("mutpb = [-0.5]", "per_island, island 0: mutpb must be between 0 and 1, got -0.5"),
])
def test_per_island_bad_values(tmp_path, table, fragment):
    path = write(tmp_path, f"[per_island]\n{table}\n")
    message = error(path)
    assert message.startswith(f"config file {path}: ")
    assert fragment in message


def test_per_island_rate_sum_for_mu_plus_lambda(tmp_path):
    path = write(tmp_path, 'algorithm = "mu_plus_lambda"\ncxpb = 0.5\nmutpb = 0.3\n[per_island]\nmutpb = [0.1, 0.6]\n')
    message = error(path)
    assert "per_island, island 1" in message
    assert "cxpb + mutpb must be at most 1 (got 0.5 + 0.6)" in message


def test_per_island_rate_sum_checks_every_combination():
    """Islands combine items i mod len of each list: with lists of lengths 2 and 3, island 3 takes
    cxpb[1] = 0.9 and mutpb[0] = 0.5 (sum 1.4), a pair that islands 0..2 never use."""
    overrides = {"algorithm": "mu_plus_lambda",
                 "per_island": {"cxpb": [0.1, 0.9], "mutpb": [0.5, 0.1, 0.1]}}
    # Show the combination really occurs at island 3 ...
    config = Config(algorithm="mu_plus_lambda", per_island=overrides["per_island"])
    assert config.island_params(3)["cxpb"] + config.island_params(3)["mutpb"] == pytest.approx(1.4)
    # ... so validation must refuse it.
    message = error(None, overrides)
    assert "cxpb + mutpb must be at most 1" in message


# --- validation messages: flags ------------------------------------------------------------------------


@pytest.mark.parametrize("key, value, fragment", [
    ("migration_interval", "5", "flag --migration-interval: migration_interval must be an integer, got '5'."),
    ("population", True, "flag --population: population must be an integer, got True."),
    ("cxpb", "high", "flag --cxpb: cxpb must be a number, got 'high'."),
    ("progress", "no", "flag --progress: progress must be true or false, got 'no'."),
    ("hall_of_fame", 2.0, "flag --hall-of-fame: hall_of_fame must be an integer, got 2.0."),
])
def test_wrong_types_from_flags(key, value, fragment):
    assert error(None, {key: value}) == fragment


def test_flag_values_are_validated(tmp_path):
    assert error(None, {"generations": 0}) == "flag --generations: generations must be at least 1, got 0."
    path = write(tmp_path, "population = 30\n")
    message = error(path, {"migrants": 30})
    assert "migrants (30) must be smaller than population (30)" in message


def test_flag_problem_options_must_be_a_table():
    """A non-table problem_options given as an override is a ConfigError like any other wrong type
    (it is merged into the file's table before its type is checked)."""
    for value in ("dimension=3", [("dimension", 3)], 5):
        message = error(None, {"problem_options": value})
        assert "problem_options must be a table" in message


# --- unreadable, missing, invalid files ----------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    message = error(path)
    assert message == f"config file {path} does not exist: check the path given to --config."


def test_unreadable_file(tmp_path):
    message = error(tmp_path)  # a directory cannot be read as a file
    assert message.startswith(f"config file {tmp_path} cannot be read: ")
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'problem = "caf\xe9"\n')
    message = error(path)
    assert message == (f"config file {path} is not valid UTF-8: line 1 holds the byte b'\\xe9'. Save the file "
                       f"with UTF-8 encoding.")


@pytest.mark.parametrize("text", ["population = \n", "[problem_options\n", "a = 1\na = 2\n", "seed = 0x\n"])
def test_invalid_toml(tmp_path, text):
    path = write(tmp_path, text)
    message = error(path)
    assert message.startswith(f"config file {path} is not valid TOML: ")
    assert "(at line" in message
    assert message.endswith("Fix the syntax at that line.")


# --- property tests ------------------------------------------------------------------------------------

# Derandomized (same examples every run, no example database) and without deadlines: files are written.
PROPERTY = {"deadline": None, "derandomize": True, "database": None, "suppress_health_check": [HealthCheck.too_slow]}
SCALARS = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=8), st.booleans())
RATE = st.floats(0.0, 0.5)  # any two of these sum to at most 1, so every algorithm accepts them
NAMES = st.text("abcdefghij_", min_size=1, max_size=8)


@st.composite
def valid_settings(draw):
    population = draw(st.integers(2, 500))
    values = {
        "problem": draw(st.sampled_from(["rastrigin", "onemax", "zdt1", "pkg.mod:factory"])),
        "problem_options": draw(st.dictionaries(NAMES, SCALARS, max_size=3)),
        "islands": draw(st.integers(0, 64)),
        "population": population,
        "generations": draw(st.integers(1, 10**4)),
        "migration_interval": draw(st.integers(1, 100)),
        "migrants": draw(st.integers(0, population - 1)),
        "topology": draw(st.sampled_from(["ring", "random", "complete", "none", "my.mod:topo"])),
        "emigration": draw(st.sampled_from(["best", "random", "tournament", "my.mod:select"])),
        "replacement": draw(st.sampled_from(["worst", "random", "my.mod:replace"])),
        "algorithm": draw(st.sampled_from(ALGORITHMS + ("my.mod:step",))),
        "cxpb": draw(RATE),
        "mutpb": draw(RATE),
        "offspring": draw(st.integers(0, 1000)),
        "per_island": draw(st.dictionaries(st.sampled_from(PER_ISLAND_KEYS), st.just(None), max_size=3)),
        "ranks_per_island": draw(st.integers(1, 64)),
        "chunksize": draw(st.integers(1, 64)),
        "seed": draw(st.integers(0, 2**63 - 1)),
        "hall_of_fame": draw(st.integers(1, 100)),
        "on_error": draw(st.sampled_from(["raise", "penalize"])),
        "out": draw(st.text(max_size=10)),
        "progress": draw(st.booleans()),
    }
    for key in values["per_island"]:
        item = st.integers(0, 100) if key == "offspring" else RATE
        values["per_island"][key] = draw(st.lists(item, min_size=1, max_size=5))
    keys = draw(st.lists(st.sampled_from(sorted(values)), unique=True))
    if "migrants" in keys and "population" not in keys:
        keys.append("population")  # migrants must stay below the population actually used
    in_file = draw(st.lists(st.sampled_from(keys), unique=True)) if keys else []
    return {k: values[k] for k in keys}, in_file


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("config_props")


@pytest.mark.slow
@settings(max_examples=150, **PROPERTY)
@given(valid_settings())
def test_valid_settings_always_load(scratch, drawn):
    values, in_file = drawn
    file_part = {k: values[k] for k in in_file}
    flags = {k: v for k, v in values.items() if k not in in_file}
    path = None
    if file_part:
        path = scratch / "valid.toml"
        path.write_text(tomli_w.dumps(file_part), encoding="utf-8")
    config = load_config(path, flags)
    expected = {**DEFAULTS, **values}
    for key, value in expected.items():
        got = getattr(config, key)
        assert got == value, key
        if isinstance(DEFAULTS[key], float):
            assert type(got) is float
    # The resolved configuration survives its own TOML text (an empty [walkforward] table is left out).
    written = dataclasses.asdict(config)
    if not written["walkforward"]:
        del written["walkforward"]
    assert tomllib.loads(config.to_toml()) == written


JUNK_TOML = st.recursive(
    st.one_of(st.integers(-10**18, 10**18), st.floats(), st.text(max_size=12), st.booleans()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NAMES, inner, max_size=3)),
    max_leaves=6,
)
JUNK_PY = st.one_of(JUNK_TOML, st.none(), st.tuples(st.integers()), st.complex_numbers(), st.binary(max_size=4),
                    st.sets(st.integers(), max_size=2))
KEYS = st.sampled_from(sorted(DEFAULTS))


def _loads_or_config_error(path, overrides):
    try:
        config = load_config(path, overrides)
    except ConfigError as exc:
        assert str(exc)
        return None
    assert isinstance(config, Config)
    return config


@settings(max_examples=200, **PROPERTY)
@given(st.dictionaries(st.one_of(KEYS, NAMES), JUNK_TOML, min_size=1, max_size=4))
def test_junk_in_file_raises_only_config_error(scratch, table):
    path = scratch / "junk.toml"
    path.write_text(tomli_w.dumps(table), encoding="utf-8")
    _loads_or_config_error(path, None)


@settings(max_examples=200, **PROPERTY)
@given(st.dictionaries(KEYS, JUNK_PY, min_size=1, max_size=4))
def test_junk_flags_raise_only_config_error(overrides):
    _loads_or_config_error(None, overrides)


@settings(max_examples=100, **PROPERTY)
@given(st.binary(max_size=60))
def test_junk_bytes_raise_only_config_error(scratch, data):
    path = scratch / "bytes.toml"
    path.write_bytes(data)
    _loads_or_config_error(path, None)


def test_message_names_the_sources_of_conflicting_keys(tmp_path):
    """A flag clashing with a file value names both the flag and the file."""
    path = tmp_path / "job.toml"
    path.write_text("population = 30\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, {"migrants": 30})
    assert str(info.value) == (f"config file {path} and flag --migrants: migrants (30) must be smaller than "
                               f"population (30).")
