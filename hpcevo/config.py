"""The run configuration: a frozen dataclass built once from defaults, a TOML file and flags, then validated.

Every setting can come from the TOML file or from a flag (flags win).  Problem parameters live in the
`[problem_options]` table; per-island spreads (e.g. of mutation rates) in `[per_island]`; the walk-forward's
windows (`hpcevo walkforward`) in `[walkforward]`.  The plugin settings
(emigration, replacement, topology, algorithm) take a name from `hpcevo.registry`, a 'package.module:function'
or, from Python, the function itself.
"""

import dataclasses
import datetime
import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from .errors import ConfigError
from .registry import ALGORITHM, PLUGINS, suggestion
from .stopping import parse_duration

__all__ = ["Config", "load_config", "PER_ISLAND_KEYS", "ALGORITHMS", "RESUME_MAY_CHANGE", "SESSION_KEYS"]

ALGORITHMS = ALGORITHM.names
PER_ISLAND_KEYS = ("cxpb", "mutpb", "offspring")


@dataclass(frozen=True)
class Config:
    """Every setting of a run; `islands = 0` means "choose" until `resolve` fills it in."""

    problem: str = "trading"
    problem_options: dict = field(default_factory=dict)
    islands: int = 0
    population: int = 100
    generations: int = 100
    migration_interval: int = 10
    migrants: int = 5
    topology: str | Callable = "ring"
    emigration: str | Callable = "best"
    replacement: str | Callable = "worst"
    algorithm: str | Callable = "auto"
    migration: str = "neighbour"
    cxpb: float = 0.7
    mutpb: float = 0.2
    offspring: int = 0
    per_island: dict = field(default_factory=dict)
    walkforward: dict = field(default_factory=dict)  # read by `hpcevo walkforward` only (hpcevo.walkforward)
    ranks_per_island: int = 1
    chunksize: int = 8
    seed: int = 1
    hall_of_fame: int = 10
    on_error: str = "penalize"
    out: str = ""
    progress: bool = True
    checkpoint_every: int = 10
    eval_timeout: float = 0.0
    max_walltime: str = ""
    stop_after: int = 0

    @property
    def max_walltime_seconds(self):
        """The wall-time budget in seconds (0 = none)."""
        return parse_duration(self.max_walltime) if self.max_walltime else 0

    def resolve(self, n_groups):
        """A copy with `islands` chosen: 4, or one per rank group when there are more groups."""
        if self.islands:
            return self
        return dataclasses.replace(self, islands=max(4, n_groups))

    def island_params(self, island):
        """cxpb, mutpb and offspring for one island, after the `[per_island]` spread."""
        params = {key: getattr(self, key) for key in PER_ISLAND_KEYS}
        for key, values in self.per_island.items():
            params[key] = values[island % len(values)]
        if not params["offspring"]:
            params["offspring"] = self.population
        return params

    def to_toml(self):
        """The resolved configuration as TOML text (what `config.toml` in a run folder holds); a plugin given as
        a function is written 'module:qualname'."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("problem_options", "per_island", "walkforward")}
        data.update((key, registry.spec_of(data[key])) for key, registry in PLUGINS.items())
        data["problem_options"] = dict(self.problem_options)
        data["per_island"] = dict(self.per_island)
        if self.walkforward:
            data["walkforward"] = dict(self.walkforward)
        return tomli_w.dumps(data)


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}
# Settings a resumed run may change without changing its results; the rest must match the checkpoint.
RESUME_MAY_CHANGE = ("generations", "ranks_per_island", "chunksize", "out", "progress", "checkpoint_every",
                     "max_walltime", "stop_after", "eval_timeout", "migration")
# Settings about one session of a run, not inherited from the checkpoint when resuming.
SESSION_KEYS = ("max_walltime", "stop_after")
# the plugin settings' names are in hpcevo.registry, the migration schemes' in hpcevo.migration.SCHEMES
_CHOICES = {"on_error": ("raise", "penalize"), "migration": ("neighbour", "via_root", "async")}
_POSITIVE = ("population", "generations", "migration_interval", "ranks_per_island", "chunksize", "hall_of_fame")


def _type_of(name):
    default = _FIELDS[name].default
    return dict if default is dataclasses.MISSING else type(default)


_suggest = suggestion


def _check_type(name, value, where, callable_ok=False):
    """`value` converted to the key's type, else ConfigError; `callable_ok`: a plugin key may hold a function."""
    expected = _type_of(name)
    if name in PLUGINS and callable(value) and not isinstance(value, str):
        if callable_ok:
            return value
        raise ConfigError(f"{where}: {name} must be a string, got {value!r}.")
    if name == "max_walltime" and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # a number of seconds
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        ok = True
    if not ok:
        words = "a string or a function" if name in PLUGINS and callable_ok else _TYPE_WORDS[expected]
        raise ConfigError(f"{where}: {name} must be {words}, got {value!r}.")
    return float(value) if expected is float else value


_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false", dict: "a table"}


def _read_toml(path):
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist: check the path given to --config.") from None
    except UnicodeDecodeError as exc:
        line = exc.object[:exc.start].count(b"\n") + 1
        raise ConfigError(f"config file {path} is not valid UTF-8: line {line} holds the byte "
                          f"{exc.object[exc.start:exc.start + 1]!r}. Save the file with UTF-8 encoding.") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror or exc}. Check the path and the "
                          f"file's permissions.") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}. Fix the syntax at that line.") from None


def load_config(path=None, overrides=None, base=None, base_origin="checkpoint", override_kind="flag"):
    """Build a validated Config from defaults, `base` (a resumed run's settings), the TOML file at `path`
    and `overrides` (flags win).

    `override_kind`: "flag" (the CLI: messages name `flag --population`) or "keyword" (the Python API:
    `keyword population`); overrides may give the plugin settings as functions."""
    if override_kind not in ("flag", "keyword"):
        raise ValueError(f"override_kind must be 'flag' or 'keyword', got {override_kind!r}")
    values, origins = {}, {}
    for key, value in (base or {}).items():
        if key in _FIELDS and key not in SESSION_KEYS:
            values[key] = _check_type(key, value, base_origin)
            origins[key] = base_origin
    if path is not None:
        for key, value in _read_toml(path).items():
            if key not in _FIELDS:
                raise ConfigError(f"config file {path}: unknown key \"{key}\".{_suggest(key, list(_FIELDS))} "
                                  f"Known keys: {', '.join(_FIELDS)}.")
            values[key] = _check_type(key, value, f"config file {path}")
            origins[key] = f"config file {path}"
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        flag = f"keyword {key}" if override_kind == "keyword" else f"flag --{key.replace('_', '-')}"
        if key not in _FIELDS:
            raise ConfigError(f"unknown setting {key!r}.{_suggest(key, list(_FIELDS))}")
        value = _check_type(key, value, flag, callable_ok=True)
        if key in ("problem_options", "walkforward"):  # flags add to the file's table instead of replacing it
            value = {**values.get(key, {}), **value}
        values[key] = value
        origins[key] = flag
    if "problem_options" in values:  # a TOML date (end = 2015-01-02, -O end=2015-01-02) is an ISO date option
        values["problem_options"] = {k: v.isoformat() if isinstance(v, (datetime.date, datetime.time)) else v
                                     for k, v in values["problem_options"].items()}
    config = Config(**values)
    _validate(config, lambda *keys: " and ".join(sorted({origins[k] for k in keys if k in origins})) or "defaults")
    return config


def _validate(c, where):
    """Check every setting; `where(*keys)` names the file and/or flags that gave those keys."""
    for name in _POSITIVE:
        if getattr(c, name) < 1:
            raise ConfigError(f"{where(name)}: {name} must be at least 1, got {getattr(c, name)}.")
    for name in ("islands", "migrants", "offspring", "seed", "checkpoint_every", "stop_after"):
        if getattr(c, name) < 0:
            raise ConfigError(f"{where(name)}: {name} must be 0 or more, got {getattr(c, name)}.")
    if c.migrants >= c.population:
        raise ConfigError(f"{where('migrants', 'population')}: migrants ({c.migrants}) must be smaller than "
                          f"population ({c.population}).")
    for name, choices in _CHOICES.items():
        if getattr(c, name) not in choices:
            raise ConfigError(f"{where(name)}: {name} = {getattr(c, name)!r} is not one of {', '.join(choices)}."
                              f"{_suggest(str(getattr(c, name)), choices)}")
    for name, registry in PLUGINS.items():  # import strings are imported when the run starts, not here
        registry.check(getattr(c, name), where(name))
    if c.eval_timeout < 0 or not math.isfinite(c.eval_timeout):
        raise ConfigError(f"{where('eval_timeout')}: eval_timeout must be a number of seconds, 0 for no limit, got "
                          f"{c.eval_timeout}.")
    if c.max_walltime and not parse_duration(c.max_walltime):
        raise ConfigError(f"{where('max_walltime')}: max_walltime = {c.max_walltime!r} is not a duration: give "
                          f"seconds (3600), a unit (90m, 2h, 1d), HH:MM:SS or D-HH:MM:SS, greater than 0.")
    if not c.problem:
        raise ConfigError(f"{where('problem')}: problem must name a built-in problem or 'package.module:factory'.")
    for key, value in c.problem_options.items():
        if not isinstance(value, (int, float, str, bool)):
            raise ConfigError(f"{where('problem_options')}: problem_options.{key} must be a number, string or "
                              f"boolean, got {value!r}.")
    from .walkforward.settings import walkforward_settings

    walkforward_settings(c.walkforward, where("walkforward"))
    for name in ("cxpb", "mutpb"):
        _validate_rates(getattr(c, name), name, where(name))
    if c.algorithm == "mu_plus_lambda":
        _validate_sum(c.cxpb, c.mutpb, where("cxpb", "mutpb", "algorithm"))
    for key, values in c.per_island.items():
        if key not in PER_ISLAND_KEYS:
            raise ConfigError(f"{where('per_island')}: per_island.{key} is not a per-island setting."
                              f"{_suggest(key, PER_ISLAND_KEYS)} Allowed: {', '.join(PER_ISLAND_KEYS)}.")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{where('per_island')}: per_island.{key} must be a non-empty list "
                              f"(island i takes item i mod length).")
        for value in values:
            _check_type(key, value, f"{where('per_island')}: per_island.{key}")
            if key == "offspring" and value < 0:
                raise ConfigError(f"{where('per_island')}: per_island.offspring values must be 0 or more.")
    # island i takes item i mod len of each list: combinations repeat every lcm of the lengths
    for i in range(math.lcm(*(len(v) for v in c.per_island.values())) if c.per_island else 0):
        p = c.island_params(i)
        for name in ("cxpb", "mutpb"):
            _validate_rates(p[name], name, f"{where('per_island')}: per_island, island {i}")
        if c.algorithm == "mu_plus_lambda":
            _validate_sum(p["cxpb"], p["mutpb"], f"{where('per_island', 'algorithm')}: per_island, island {i}")


def _validate_rates(value, name, where):
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"{where}: {name} must be between 0 and 1, got {value}.")


def _validate_sum(cxpb, mutpb, where):
    if cxpb + mutpb > 1.0:
        raise ConfigError(f"{where}: with algorithm mu_plus_lambda, cxpb + mutpb must be at most 1 "
                          f"(got {cxpb} + {mutpb}); each offspring comes from crossover, mutation or reproduction.")
