"""An island: a population with its own random streams, algorithm, hall of fame and logbook rows.

Islands are plain data driven by the engine; any rank (or the serial backend) can host any island,
and the results do not depend on which one does.  The algorithm step and the migration policies come from
`hpcevo.registry` (built-in names, 'package.module:function' strings or functions), resolved once per island;
a stateful algorithm keeps its state in `params["memory"]`, which checkpoints save with the island.
"""

import functools
import operator
import sys
import time
from copy import deepcopy

import numpy as np
from deap import tools

from .errors import EvaluationError
from .evaluation import REJECTED
from .registry import ALGORITHM, EMIGRATION, REPLACEMENT

__all__ = ["Island", "stat_columns", "new_hall_of_fame"]


def new_hall_of_fame(problem, size):
    """A Pareto front for several objectives, else a hall of fame of `size`; duplicates by problem.similar.

    With a toolbox `complexity(individual)`, an individual that duplicates a member (same fitness, similar)
    but is less complex takes its place, so each entry is shown by its simplest form."""
    complexity = getattr(problem.toolbox, "complexity", None)
    if problem.n_objectives > 1:
        hof = tools.ParetoFront(similar=problem.similar)
        update = functools.partial(_update_front, hof, type(hof).update.__get__(hof))
    else:
        hof = tools.HallOfFame(size, similar=problem.similar)
        update = functools.partial(_update_better, hof, type(hof).update.__get__(hof))
    hof.update = functools.partial(_update_simplest, hof, update, complexity) if callable(complexity) else update
    return hof


def _update_front(front, update, population):
    """DEAP's ParetoFront.update given only the individuals no member dominates (one NumPy comparison): such an
    individual is never inserted and removes nothing (whatever replaces its dominator during the update
    dominates it too, and it can neither dominate nor twin a member, the members being mutually
    non-dominated), so skipping it leaves the same front in the same order. Late in a run that is nearly the
    whole population, each of which DEAP compared with every member in Python."""
    if not len(front) or not population:
        return update(population)
    members = [m.fitness.wvalues for m in front.items]
    values = [ind.fitness.wvalues for ind in population]
    width = len(members[0])
    if any(len(w) != width for w in members) or any(len(w) != width for w in values):
        return update(population)  # not evaluated, or of another shape: DEAP's own rules
    members, values = np.array(members, dtype=np.float64), np.array(values, dtype=np.float64)
    if np.isnan(members).any() or np.isnan(values).any():
        return update(population)  # DEAP's comparisons with NaN differ from NumPy's: leave those to DEAP
    m, v = members[:, None, :], values[None, :, :]
    dominated = ((m >= v).all(axis=2) & (m > v).any(axis=2)).any(axis=0)
    return update([ind for ind, out in zip(population, dominated.tolist()) if not out])


def _update_better(hof, update, population):
    """DEAP's HallOfFame.update given only the individuals it could insert: once the hall is full it takes an
    individual only if its fitness beats the worst member's (`ind.fitness > hof[-1].fitness`), and the worst
    only gets better as it goes, so the others are skipped here with the same comparison (about 1,000 fewer
    comparisons through Python per generation of a population of 1,000; the same members in the same order)."""
    if len(hof) < hof.maxsize or not len(hof):
        return update(population)
    worst = hof[-1].fitness.wvalues
    return update([ind for ind in population if not ind.fitness.wvalues <= worst])


def _update_simplest(hof, update, complexity, population):
    """Swap in the simpler twin of each member first, then DEAP's update (which ignores twins)."""
    where = {}
    for i, member in enumerate(hof.items):
        where.setdefault(member.fitness.wvalues, []).append(i)
    for ind in population:
        for i in where.get(ind.fitness.wvalues, ()):
            member = hof.items[i]
            if hof.similar(ind, member):
                if complexity(ind) < complexity(member):
                    hof.items[i] = deepcopy(ind)
                break
    update(population)


def stat_columns(n_objectives):
    """Logbook column names: min/max/avg/std per objective (suffixed _0, _1... when several)."""
    suffixes = [""] if n_objectives == 1 else [f"_{j}" for j in range(n_objectives)]
    return [f"{stat}{s}" for s in suffixes for stat in ("min", "max", "avg", "std")]


def _slots(returned, k, n, spec):
    """A replacement policy's answer as k distinct indices in 0..n-1, else ValueError saying what is wrong."""
    try:
        slots = [operator.index(slot) for slot in returned]
    except TypeError:
        slots = []
    if len(slots) != k or len(set(slots)) != k or not all(0 <= slot < n for slot in slots):
        raise ValueError(f"replacement {REPLACEMENT.spec_of(spec)} returned {returned!r:.200}; it must return {k} "
                         f"distinct resident indices in 0..{n - 1}: {REPLACEMENT.signature}.")
    return slots


class Island:
    """One island's state and the operations the engine applies to it."""

    def __init__(self, index, config, problem, rng, reported=None):
        self.index = index
        self.reported = set() if reported is None else reported  # failure kinds already printed by this process
        self.config = config
        self.problem = problem
        # params["memory"]: the algorithm's own state on this island (saved by state(), restored by restore())
        self.params = {**config.island_params(index), "memory": {}}
        self.step = ALGORITHM.resolve(config.algorithm)
        self.select_emigrants = EMIGRATION.resolve(config.emigration)
        self.choose_replaced = REPLACEMENT.resolve(config.replacement)
        self.rng = rng
        self.population = []
        self.hof = new_hall_of_fame(problem, config.hall_of_fame)
        self.rows = []
        self.gen = 0
        self.evaluations = 0
        self.first_failures = {}
        self.eval_seconds = 0.0
        self.step_seconds = 0.0
        self.trial = getattr(problem.toolbox, "trial", None)
        self.trials = {}  # toolbox.trial(ind) key -> value of every distinct scored individual (if it has one)

    # -- evolution -------------------------------------------------------------------------------
    def start(self, evaluator):
        """Create and evaluate the initial population (generation 0)."""
        t0 = time.perf_counter()
        with self.rng.active():
            self.population = self.problem.population(self.config.population)
            self._counts = {"failures": 0, "rejected": 0}
            self._evaluate(self.population, evaluator)
        self._record(len(self.population))
        self.step_seconds += time.perf_counter() - t0

    def evolve(self, generations, evaluator):
        """Run `generations` generations of this island's algorithm."""
        t0 = time.perf_counter()
        evaluate = functools.partial(self._evaluate, evaluator=evaluator)
        with self.rng.active():
            for _ in range(generations):
                self.gen += 1
                self._counts = {"failures": 0, "rejected": 0}
                self.population, nevals = self.step(self.population, self.problem.toolbox, self.params,
                                                    self.problem.clone, evaluate)
                self._record(nevals)
        self.step_seconds += time.perf_counter() - t0

    def _evaluate(self, individuals, evaluator):
        """Evaluate, then give failed and rejected individuals the penalty fitness and count them."""
        t0 = time.perf_counter()
        results = evaluator(individuals)
        self.eval_seconds += time.perf_counter() - t0
        penalty = self.problem.penalty
        for ind, (values, failure) in zip(individuals, results):
            failed = failure is not None
            if failed:
                if failure.kind == REJECTED:
                    self._counts["rejected"] += 1
                else:
                    self._counts["failures"] += 1
                    self._failed(failure)
                values = penalty
            ind.fitness.values = values
            try:
                ind._hpcevo_island = self.index
                ind._hpcevo_penalized = failed
            except AttributeError:
                pass
            if self.trial is not None and not failed:
                key, value = self.trial(ind)
                self.trials.setdefault(key, value)

    def _failed(self, failure):
        where = f"island {self.index}, generation {self.gen}, evaluated on {failure.where}"
        detail = failure.traceback.rstrip() or f"{failure.kind}: {failure.message}"
        if self.config.on_error == "raise":
            raise EvaluationError(f"evaluation failed ({where}) and on_error = \"raise\":\n{detail}")
        if failure.kind in self.first_failures:
            return
        self.first_failures[failure.kind] = f"{where}:\n{detail}"
        if failure.kind not in self.reported:
            self.reported.add(failure.kind)
            print(f"hpcevo: an evaluation failed ({where}); it gets the penalty fitness (on_error = \"penalize\"). "
                  f"Later {failure.kind} failures are only counted (logbook.csv, column failures; errors.txt)."
                  f"\n{detail}", file=sys.stderr, flush=True)

    def _record(self, nevals):
        self.evaluations += nevals
        self.hof.update(self.population)
        row = {"island": self.index, "gen": self.gen, "nevals": nevals}
        # penalised individuals are counted, not averaged
        scored = [ind.fitness.values for ind in self.population if not getattr(ind, "_hpcevo_penalized", False)]
        values = np.array(scored, dtype=float).reshape(len(scored), self.problem.n_objectives)
        values = values[np.isfinite(values).all(axis=1)]
        names = stat_columns(self.problem.n_objectives)
        for j in range(self.problem.n_objectives):
            column = values[:, j]
            stats = (column.min(), column.max(), column.mean(), column.std()) if len(column) else (np.nan,) * 4
            row.update(zip(names[4 * j:4 * j + 4], map(float, stats)))
        row.update(self._counts)
        self.rows.append(row)

    # -- migration -------------------------------------------------------------------------------
    def emigrants(self, k):
        """Clones of k individuals chosen by the emigration policy (with this island's stream)."""
        with self.rng.active():
            chosen = list(self.select_emigrants(self.population, k))
        if len(chosen) > k or not all(hasattr(ind, "fitness") for ind in chosen):
            raise ValueError(f"emigration {EMIGRATION.spec_of(self.config.emigration)} returned {chosen!r:.200}; "
                             f"it must return at most {k} individuals of the population: {EMIGRATION.signature}.")
        return [self.problem.clone(ind) for ind in chosen]

    def receive(self, immigrants):
        """Replace residents chosen by the replacement policy with `immigrants` (at most the population)."""
        immigrants = immigrants[:len(self.population)]
        if not immigrants:
            return
        with self.rng.active():
            slots = _slots(self.choose_replaced(self.population, len(immigrants)), len(immigrants),
                           len(self.population), self.config.replacement)
        for slot, ind in zip(slots, immigrants):
            self.population[slot] = ind

    def best(self):
        """The weighted fitness of this island's best individual so far (for progress lines)."""
        return max((ind.fitness.wvalues for ind in self.hof), default=None)

    def take_rows(self):
        """The logbook rows recorded since the last call (rank 0 streams them to logbook.csv)."""
        rows, self.rows = self.rows, []
        return rows

    def state(self):
        """Everything needed to continue this island exactly where it is (pickled into checkpoints); `memory`
        is a copy, so the state stays as it was while the island runs on."""
        return {**self.result(), "population": self.population, "gen": self.gen,
                "py_state": self.rng.py_state, "np_state": self.rng.np_state,
                "memory": deepcopy(self.params["memory"])}

    def restore(self, state):
        """Continue from `state` (as returned by `state()`) instead of starting a new population."""
        self.population = list(state["population"])
        self.gen = state["gen"]
        self.rng.py_state, self.rng.np_state = state["py_state"], state["np_state"]
        self.rows = []
        self.evaluations = state["evaluations"]
        self.first_failures = dict(state["failures"])
        self.eval_seconds, self.step_seconds = state["eval_seconds"], state["step_seconds"]
        self.trials = dict(state.get("trials", {}))
        self.params["memory"] = deepcopy(state.get("memory", {}))  # older checkpoints have none
        # DEAP keeps `items` best first and `keys` (their fitnesses) ascending; rebuild both as they were.
        self.hof.items = list(state["hof"])
        self.hof.keys = [ind.fitness for ind in reversed(self.hof.items)]

    def result(self):
        """What rank 0 needs for the outputs: plain data plus hall-of-fame individuals."""
        return {"index": self.index, "hof": list(self.hof), "evaluations": self.evaluations,
                "failures": dict(self.first_failures), "eval_seconds": self.eval_seconds,
                "step_seconds": self.step_seconds, "trials": self.trials}
