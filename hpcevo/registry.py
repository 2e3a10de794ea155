"""The one list of built-in plugin names, and how a setting becomes the function an island calls.

Each of `emigration`, `replacement`, `topology` and `algorithm` takes a built-in name, a custom
'package.module:function' (imported when the run starts, on every rank) or, from Python, the function itself.
The call signatures, with all randomness drawn from the global `random` / `numpy.random` (which the engine has
set to the island's own stream) except the topology's, which gets `rng`:

- emigration  `select(population, k) -> list of k individuals` to send (the engine clones them);
- replacement `replace(population, k) -> list of k resident indices` for the immigrants to overwrite;
- topology    `topology(n_islands, epoch, rng) -> [(src, dst), ...]`, run on every group leader with a seeded
  `random.Random` (a pure function: leaders that compute different routes end the run);
- algorithm   `step(population, toolbox, params, clone, evaluate) -> (new_population, n_evaluations)`, one
  generation: `params` holds cxpb, mutpb, offspring and `memory` (a dict private to the island, saved in its
  checkpoints, for stateful algorithms); `clone(ind)` copies an individual; `evaluate(individuals)` sets their
  fitness in place (a failed evaluation gets the penalty).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from .algorithms import step_mu_plus_lambda, step_nsga2, step_simple
from .errors import ConfigError
from .policies import replace_random, replace_worst, select_best, select_random, select_tournament
from .topology import complete, none, random_permutation, ring

__all__ = ["Registry", "EMIGRATION", "REPLACEMENT", "TOPOLOGY", "ALGORITHM", "PLUGINS", "suggestion"]


def suggestion(name: str, known: tuple[str, ...] | list[str]) -> str:
    """' Did you mean "x"?' for the closest of `known`, or '' when none is close."""
    close = difflib.get_close_matches(name, known, n=1)
    return f' Did you mean "{close[0]}"?' if close else ""


class Registry:
    """The built-in functions of one kind of plugin, by name, and how a setting of that kind resolves.

    `builtins` maps each name to its function; None marks a name the runner replaces before the islands start
    (algorithm "auto").  `signature` describes the call, for error messages; `arity` is how many positional
    arguments hpcevo passes, checked once when a custom function is resolved.
    """

    def __init__(self, kind: str, builtins: Mapping[str, Callable[..., Any] | None], signature: str, arity: int):
        self.kind = kind
        self._builtins = dict(builtins)
        self.signature = signature
        self.arity = arity

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self.names)})"

    @property
    def names(self) -> tuple[str, ...]:
        """The built-in names, in the order messages list them."""
        return tuple(self._builtins)

    def check(self, spec: object, where: str) -> None:
        """Raise ConfigError (prefixed by `where`, the file or flag that gave it) unless `spec` is a built-in
        name, a 'package.module:function' string or a callable; nothing is imported here."""
        if callable(spec) and not isinstance(spec, str):
            return
        if not isinstance(spec, str):
            raise ConfigError(f"{where}: {self.kind} must be a string or a function, got {spec!r}.")
        if spec in self._builtins:
            return
        if ":" in spec:
            module, _, attr = spec.partition(":")
            if not module or not attr:
                raise ConfigError(f"{where}: {self.kind} = {spec!r} must have the form 'package.module:function'.")
            return
        raise ConfigError(f"{where}: {self._unknown(spec)}")

    def resolve(self, spec: object) -> Callable[..., Any]:
        """The function `spec` names: a built-in, an imported 'package.module:function' (ProblemError when that
        fails) or `spec` itself when it is callable; a custom function must accept the call hpcevo makes."""
        if callable(spec) and not isinstance(spec, str):
            return self._accepts(spec, spec)
        if not isinstance(spec, str):
            raise ConfigError(f"{self.kind} must be a string or a function, got {spec!r}.")
        if spec in self._builtins:
            function = self._builtins[spec]
            if function is None:
                raise ConfigError(f"{self.kind} = {spec!r} is chosen when the run starts (from the problem); "
                                  f"resolve it to one of {', '.join(n for n, f in self._builtins.items() if f)} "
                                  f"first.")
            return function
        if ":" not in spec:
            raise ConfigError(self._unknown(spec))
        from .problem import import_object  # here, not at the top: problem may import this module

        return self._accepts(import_object(spec, self.kind), spec)

    def spec_of(self, value: object) -> str:
        """How config.toml records `value`: a string as it is, a built-in function by its name, any other
        callable as 'module:qualname' (what a resumed run imports)."""
        if isinstance(value, str):
            return value
        for name, function in self._builtins.items():
            if function is not None and function is value:
                return name
        module = getattr(value, "__module__", None) or type(value).__module__
        qualname = getattr(value, "__qualname__", None) or type(value).__qualname__
        return f"{module}:{qualname}"

    def _unknown(self, spec: str) -> str:
        return (f"{self.kind} = {spec!r} is not one of {', '.join(self.names)}, nor a custom "
                f"'package.module:function'.{suggestion(spec, self.names)}")

    def _accepts(self, function: Callable[..., Any], spec: object) -> Callable[..., Any]:
        """`function`, after checking it can be called with `arity` positional arguments (when Python can tell)."""
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):  # some builtins and C callables have no signature to read
            return function
        try:
            signature.bind(*range(self.arity))
        except TypeError as exc:
            shown = spec if isinstance(spec, str) else self.spec_of(spec)
            raise ConfigError(f"{self.kind} {shown!r} takes {signature} ({exc}), but hpcevo calls it as "
                              f"{self.signature}. Change its parameters to match.") from None
        return function


EMIGRATION = Registry("emigration", {"best": select_best, "random": select_random, "tournament": select_tournament},
                      "select(population, k) -> list of k individuals to send", 2)
REPLACEMENT = Registry("replacement", {"worst": replace_worst, "random": replace_random},
                       "replace(population, k) -> list of k resident indices to overwrite", 2)
TOPOLOGY = Registry("topology", {"ring": ring, "random": random_permutation, "complete": complete, "none": none},
                    "topology(n_islands, epoch, rng) -> [(src, dst), ...]", 3)
ALGORITHM = Registry("algorithm", {"auto": None, "simple": step_simple, "mu_plus_lambda": step_mu_plus_lambda,
                                   "nsga2": step_nsga2},
                     "step(population, toolbox, params, clone, evaluate) -> (new_population, n_evaluations)", 5)
# The config key of each registry.
PLUGINS = {registry.kind: registry for registry in (EMIGRATION, REPLACEMENT, TOPOLOGY, ALGORITHM)}
