"""Load a problem (a built-in name or a `package.module:factory`), check its toolbox once, wrap it.

A factory returns a plain `deap.base.Toolbox` with `individual` or `population`, `evaluate`, `mate`,
`mutate` and (except for nsga2) `select`; weights come from the individual's fitness class.
"""

import copy
import difflib
import importlib
import importlib.util
import inspect
import math
import operator
import os
import pickle
import random
import sys
import traceback
from dataclasses import dataclass

import numpy as np
from deap import base, gp

from . import pickling  # noqa: F401  (installs the by-name class reducers before anything is pickled)
from .errors import ProblemError, Rejected, UserError

__all__ = ["Problem", "load_problem", "import_object", "make_clone", "clone_list"]

_IMMUTABLE_GENES = (int, float, bool, str, bytes, gp.Primitive, gp.Terminal)


@dataclass
class Problem:
    """A checked toolbox and what the engine needs to know about it."""

    name: str
    toolbox: object
    weights: tuple
    clone: object
    similar: object = operator.eq

    @property
    def n_objectives(self):
        return len(self.weights)

    @property
    def penalty(self):
        """The worst fitness values: +inf for minimised objectives, -inf for maximised ones."""
        custom = getattr(self.toolbox, "penalty", None)
        if custom is not None:
            return tuple(float(v) for v in custom)
        return tuple(-math.inf if w > 0 else math.inf for w in self.weights)

    def population(self, n):
        """n new individuals, through `toolbox.population` or repeated `toolbox.individual`."""
        if hasattr(self.toolbox, "population"):
            return list(self.toolbox.population(n))
        return [self.toolbox.individual() for _ in range(n)]


def import_object(spec, what, toolbox_ok=False):
    """Import `package.module:attribute`, or raise ProblemError naming what failed and how to fix it.

    `toolbox_ok`: the attribute may be a deap.base.Toolbox object rather than a callable."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ProblemError(f"{what} {spec!r} must have the form 'package.module:function'.")
    try:
        module = _main_if_same(module_name) or importlib.import_module(module_name)
    except Exception as exc:  # the user's module may raise anything at import time
        raise ProblemError(f"{what} {spec!r}: importing module {module_name!r} failed with "
                           f"{type(exc).__name__}: {exc}. Check that it is on PYTHONPATH on every node "
                           f"(`python -m hpcevo` adds the current directory, the `hpcevo` command does not) and "
                           f"imports cleanly.") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            names = [n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n, None))]
            close = difflib.get_close_matches(part, names, n=1)
            hint = f' Did you mean "{module_name}:{close[0]}"?' if close else ""
            raise ProblemError(f"{what} {spec!r}: module {module_name!r} has no attribute {attr!r}.{hint}")
        obj = getattr(obj, part)
    if not callable(obj) and not (toolbox_ok and isinstance(obj, base.Toolbox)):
        also = " or a deap.base.Toolbox" if toolbox_ok else ""
        raise ProblemError(f"{what} {spec!r} is not callable (its value has type {type(obj).__name__}): name a "
                           f"function{also}.")
    return obj


def _main_if_same(module_name):
    """The running script's module when `module_name` is that script: a script that names its own toolbox
    (`hpcevo.cli.main(["--problem", "myscript:toolbox"])` in myscript.py) is not imported a second time,
    which would run its creator.create calls again."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if not path or module_name in sys.modules:
        return None
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not os.path.exists(spec.origin):
        return None
    if os.path.realpath(spec.origin) != os.path.realpath(path):
        return None
    sys.modules[module_name] = main
    return main


def _option_hint(factory, options):
    """' Did you mean ...?' for option names the factory does not take, from its signature."""
    target = getattr(factory, "options_of", None)  # a lazy wrapper names the factory whose options it passes on
    if target:
        factory = import_object(target, "problem")
    try:
        params = inspect.signature(factory).parameters.values()
        accepted = [p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    except (TypeError, ValueError):
        return ""
    hints = []
    for key in options:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            if close:
                hints.append(f'"{close[0]}" for "{key}"')
    listed = f" It takes: {', '.join(accepted)}." if accepted else " It takes no options."
    return (f" Did you mean {', '.join(hints)}?" if hints else "") + listed


def _factory(name):
    from .problems import BUILTIN

    if name in BUILTIN:
        return BUILTIN[name][0]
    if ":" not in name:
        close = difflib.get_close_matches(name, list(BUILTIN), n=1)
        hint = f' Did you mean "{close[0]}"?' if close else ""
        raise ProblemError(f"problem {name!r} is not a built-in problem ({', '.join(BUILTIN)}) nor a "
                           f"'package.module:factory'.{hint} `python -m hpcevo problems` lists them.")
    return import_object(name, "problem factory", toolbox_ok=True)


def load_problem(name, options, algorithm, on_error="raise", source=None):
    """Build the problem, check it (entries, one individual, one evaluation, pickling) and wrap it.

    `source`: the problem as an object (a deap.base.Toolbox, or a factory returning one) instead of by
    `name` (a built-in name or 'package.module:name', which may also be a factory or a toolbox).
    The sample individual is drawn from a fixed seed, so every rank checks the same one.  An evaluation
    that raises on it is a problem error only with on_error = "raise" (penalize expects some to fail).
    """
    factory = _factory(name) if source is None else source
    if isinstance(factory, base.Toolbox):
        if options:
            raise ProblemError(f"problem {name!r} is a toolbox object, which takes no options, but "
                               f"problem_options = {options} were given. Remove them, or name a factory function "
                               f"that accepts them.")
        toolbox, factory = factory, None
    if factory is None:
        pass
    elif not callable(factory):
        raise ProblemError(f"problem {name!r}: a {type(factory).__name__} is neither a deap.base.Toolbox nor a "
                           f"factory function returning one.")
    else:
        toolbox = _call_factory(factory, name, options)
    return _wrap(name, toolbox, algorithm, on_error)


def _call_factory(factory, name, options):
    try:
        toolbox = factory(**options)
    except UserError:  # the factory already explains (e.g. a data file to fix)
        raise
    except (TypeError, ValueError) as exc:
        raise ProblemError(f"problem {name!r} refused its options {options}: {exc}.{_option_hint(factory, options)} "
                           f"Set [problem_options] in the config to what the factory accepts.") from None
    except Exception as exc:
        raise ProblemError(f"problem factory {name!r} raised {type(exc).__name__}: {exc} ({_origin(exc)}). "
                           f"Fix the factory; it runs on every rank before the search starts.") from None
    return toolbox


def _wrap(name, toolbox, algorithm, on_error):
    if not isinstance(toolbox, base.Toolbox):
        raise ProblemError(f"problem {name!r}: the factory returned a {type(toolbox).__name__}, not a "
                           f"deap.base.Toolbox. Build a toolbox with toolbox.register(...) and return it.")
    required = ["evaluate", "mate", "mutate"] + ([] if algorithm == "nsga2" else ["select"])
    missing = [entry for entry in required if not callable(getattr(toolbox, entry, None))]
    if not (callable(getattr(toolbox, "individual", None)) or callable(getattr(toolbox, "population", None))):
        missing.insert(0, "individual (or population)")
    if missing:
        raise ProblemError(f"problem {name!r}: the toolbox returned by the factory lacks {', '.join(missing)}. "
                           f"Register them with toolbox.register(...) before returning it.")
    problem = Problem(name, toolbox, (), None)
    saved = random.getstate()
    try:
        random.seed(0)
        sample = problem.population(2)[0]
    except Exception as exc:
        raise ProblemError(f"problem {name!r}: making an individual failed with {type(exc).__name__}: {exc}.") from None
    finally:
        random.setstate(saved)
    weights = getattr(getattr(sample, "fitness", None), "weights", None)
    if not weights:
        raise ProblemError(f"problem {name!r}: individuals need a `fitness` attribute whose class has `weights` "
                           f"(creator.create('FitnessMax', base.Fitness, weights=(1.0,))).")
    problem.weights = tuple(weights)
    _check_evaluate(problem, sample, on_error)
    _check_pickle(problem, sample)
    problem.clone = make_clone(toolbox, sample)
    if isinstance(sample, np.ndarray):  # `==` is elementwise for arrays; halls of fame need one bool
        problem.similar = np.array_equal
    if callable(getattr(toolbox, "similar", None)):  # e.g. "the same behaviour" rather than the same genes
        problem.similar = toolbox.similar
    return problem


def _origin(exc):
    """Where an exception was raised, as 'file.py line N, in function'."""
    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return f"{frame.filename} line {frame.lineno}, in {frame.name}"


def _check_evaluate(problem, sample, on_error):
    try:
        values = tuple(problem.toolbox.evaluate(sample))
    except Rejected:  # a valid answer: this individual gets the penalty fitness
        return
    except Exception as exc:
        if on_error == "penalize":
            return
        raise ProblemError(f"problem {problem.name!r}: evaluate raised {type(exc).__name__}: {exc} on a fresh "
                           f"individual ({_origin(exc)}). Fix evaluate, or set on_error = \"penalize\" if some "
                           f"individuals are expected to fail.") from None
    if len(values) != len(problem.weights):
        raise ProblemError(f"problem {problem.name!r}: evaluate returned {len(values)} value(s) {values!r} but the "
                           f"fitness has {len(problem.weights)} weight(s); return a tuple, e.g. `return (value,)`.")
    _check_batch(problem, sample, values)


def _check_batch(problem, sample, values):
    """A toolbox's evaluate_batch must agree with its evaluate (the engine uses the batch for whole generations
    and evaluate for one individual at a time, e.g. after a failed batch): checked on the sample individual."""
    batch = getattr(problem.toolbox, "evaluate_batch", None)
    if batch is None:
        return
    if not callable(batch):
        raise ProblemError(f"problem {problem.name!r}: toolbox.evaluate_batch is a {type(batch).__name__}, not a "
                           f"function of a list of individuals returning one fitness tuple per individual.")
    try:
        got = batch([sample])
        if got is NotImplemented:  # this batch declines (e.g. a built-in's, its evaluate replaced): not used
            return
        got = list(got)
    except Exception as exc:
        raise ProblemError(f"problem {problem.name!r}: evaluate_batch raised {type(exc).__name__}: {exc} on a list "
                           f"of one fresh individual ({_origin(exc)}). It takes a list of individuals and returns "
                           f"a list with one fitness tuple per individual.") from None
    same = len(got) == 1 and not isinstance(got[0], BaseException) and _same_values(got[0], values)
    if not same:
        raise ProblemError(f"problem {problem.name!r}: evaluate_batch([ind]) returned {got!r} but evaluate(ind) "
                           f"returned {values!r} for the same fresh individual; they must agree exactly (the "
                           f"engine evaluates whole generations with evaluate_batch and falls back to evaluate).")


def _same_values(a, b):
    """Equal as floats, NaN equal to NaN (evaluate_one turns a NaN into a failure either way)."""
    try:
        a, b = [float(v) for v in a], [float(v) for v in b]
    except (TypeError, ValueError):
        return False
    return len(a) == len(b) and all(x == y or (x != x and y != y) for x, y in zip(a, b))


def _check_pickle(problem, sample):
    try:
        copy_ = pickle.loads(pickle.dumps(sample, protocol=pickle.HIGHEST_PROTOCOL))
    except Exception as exc:
        raise ProblemError(f"problem {problem.name!r}: an individual does not pickle ({type(exc).__name__}: {exc}); "
                           f"migrants and checkpoints are pickled. Avoid lambdas and local classes in it.") from None
    if type(copy_) is not type(sample) or list(copy_) != list(sample):
        raise ProblemError(f"problem {problem.name!r}: an individual is not equal to itself after pickling; "
                           f"give its class a proper __eq__ or __reduce__.")


def make_clone(toolbox, sample):
    """A clone function: a shallow copy for list individuals of immutable genes, else the toolbox's."""
    clone = getattr(toolbox, "clone", copy.deepcopy)
    if getattr(clone, "func", clone) is not copy.deepcopy:
        return clone
    immutable = all(isinstance(gene, _IMMUTABLE_GENES) for gene in sample) if isinstance(sample, list) else False
    if immutable and hasattr(sample, "__dict__"):
        return clone_list
    return copy.deepcopy


def clone_list(ind):
    """Copy a list individual whose genes are immutable: new list, shallow attributes, fresh fitness."""
    cls = ind.__class__
    new = cls.__new__(cls)
    list.extend(new, ind)
    new.__dict__.update(ind.__dict__)
    fitness = ind.fitness
    new.fitness = fit = fitness.__class__.__new__(fitness.__class__)
    fit.wvalues = fitness.wvalues
    return new


def factory_options(factory):
    """[(name, default)] of the keyword options `factory` takes (inspect.Parameter.empty where none is given),
    read from the factory that a lazy wrapper's `options_of` names; None when the signature is not inspectable."""
    target = getattr(factory, "options_of", None)
    if target:
        factory = import_object(target, "problem")
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return None
    return [(p.name, p.default) for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


_TOML_DEFAULTS = (int, float, str, bool)


def resolved_options(name, options):
    """The problem's options as the run uses them: each factory default that TOML can write, then `options`.

    `name` is a built-in name, a 'package.module:factory', or the factory itself; when no factory with an
    inspectable signature is found (e.g. a toolbox object), just `dict(options)`.
    """
    try:
        factory = _factory(name) if isinstance(name, str) else name
        params = factory_options(factory)
    except ProblemError:
        params = None
    if params is None:
        return dict(options)
    resolved = {key: default for key, default in params if isinstance(default, _TOML_DEFAULTS)}
    resolved.update(options)
    return resolved


# DEAP selections that compare fitnesses lexicographically (single-objective): wrong for several objectives.
_SINGLE_OBJECTIVE_SELECTIONS = ("selTournament", "selBest", "selWorst", "selRoulette",
                                "selStochasticUniversalSampling", "selDoubleTournament")


def check_algorithm(problem, algorithm):
    """Refuse a multi-objective problem with "simple" or "mu_plus_lambda" and a single-objective toolbox.select,
    which would silently optimise the first objective only; ProblemError says how to fix it."""
    if problem.n_objectives <= 1 or algorithm not in ("simple", "mu_plus_lambda"):
        return
    from deap import tools

    select = getattr(problem.toolbox, "select", None)
    func = select
    while hasattr(func, "func"):  # toolbox.register wraps it in functools.partial (maybe more than once)
        func = func.func
    single = [getattr(tools, n) for n in _SINGLE_OBJECTIVE_SELECTIONS if hasattr(tools, n)]
    if not any(func is s for s in single):
        return
    raise ProblemError(f"problem {problem.name!r} has {problem.n_objectives} objectives, but algorithm "
                       f"{algorithm!r} selects with toolbox.select = tools.{func.__name__}, a single-objective "
                       f"selection: it compares fitnesses lexicographically, so the first objective decides and the "
                       f"others are ignored. Use `--algorithm nsga2` (or "
                       f"algorithm = \"auto\", which picks nsga2 for several objectives), or register a "
                       f"multi-objective select such as toolbox.register(\"select\", tools.selNSGA2) and use "
                       f"`--algorithm mu_plus_lambda`.")
