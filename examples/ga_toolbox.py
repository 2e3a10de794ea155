"""Bring an existing DEAP GA to hpcevo: a 0/1 knapsack written the way DEAP's tutorials write it.

    python -m hpcevo run --problem examples.ga_toolbox:make_toolbox -O items=60 --islands 4   # from the repo root
    python examples/ga_toolbox.py [--quick] [--ranks N] [--out DIR]                           # from anywhere

What changed compared with the plain DEAP script this started from:

    creator.create("FitnessMax", ...)                       # at import time
    toolbox = base.Toolbox(); toolbox.register(...)          # at import time
    pop = toolbox.population(n=100)
    algorithms.eaSimple(pop, toolbox, cxpb=0.7, mutpb=0.2, ngen=50, halloffame=hof)

1. The registrations moved into `make_toolbox(...)`. hpcevo imports it by name on every rank and calls it
   with the `-O key=value` options as keyword arguments, so each process builds its own toolbox and only
   individuals travel between ranks.
2. `creator.create` is guarded: the factory may run more than once in one process (tests, notebooks), and
   re-creating a creator class replaces it (with a RuntimeWarning), so individuals made before no longer match
   it. hpcevo pickles creator classes by name, so the receiving rank finds its own class of that name.
3. No `eaSimple` call, no `random.seed`: population size, cxpb, mutpb, generations and the seed are hpcevo
   flags, and hpcevo runs eaSimple's generation (select, varAnd, evaluate) on every island.
"""

import json
import random
import sys

from deap import base, creator, tools


def make_toolbox(items=40, capacity_share=0.4, instance_seed=7, indpb=0.05):
    """A knapsack of `items` random items (the same on every rank); bits say which items are packed."""
    # The instance comes from its own Random(instance_seed), never the global `random`: hpcevo seeds the
    # global generators per island, but every rank must build exactly the same items.
    rng = random.Random(instance_seed)
    weights = [rng.randint(1, 30) for _ in range(items)]
    values = [rng.randint(1, 50) for _ in range(items)]
    capacity = capacity_share * sum(weights)

    if not hasattr(creator, "KnapsackFitness"):
        creator.create("KnapsackFitness", base.Fitness, weights=(1.0,))
        creator.create("KnapsackIndividual", list, fitness=creator.KnapsackFitness)

    toolbox = base.Toolbox()
    toolbox.register("attr_bool", random.randint, 0, 1)
    toolbox.register("individual", tools.initRepeat, creator.KnapsackIndividual, toolbox.attr_bool, items)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    # register binds the instance to evaluate. The toolbox never leaves its process (every rank builds its own);
    # only individuals are pickled between ranks and into checkpoints, so they hold plain data.
    toolbox.register("evaluate", evaluate_knapsack, weights=weights, values=values, capacity=capacity)
    toolbox.register("mate", tools.cxTwoPoint)
    toolbox.register("mutate", tools.mutFlipBit, indpb=indpb)
    toolbox.register("select", tools.selTournament, tournsize=3)
    return toolbox


def evaluate_knapsack(individual, weights, values, capacity):
    """Packed value; an overweight knapsack scores minus its excess weight, below every feasible one."""
    weight = sum(w for w, bit in zip(weights, individual) if bit)
    if weight > capacity:
        return (float(capacity - weight),)
    return (float(sum(v for v, bit in zip(values, individual) if bit)),)


def print_best(out):
    """Script mode: show the best packing found (hall_of_fame.json lists the best individuals first)."""
    best = json.loads((out / "hall_of_fame.json").read_text())["individuals"][0]
    print(f"best packing: value {best['fitness'][0]:g}, bits {best['individual']}")


if __name__ == "__main__":
    from _run import run_example  # examples/_run.py: prints and runs `python -m hpcevo run ...`

    sys.exit(run_example("ga_toolbox", ["--problem", "examples.ga_toolbox:make_toolbox", "-O", "items=40",
                                        "--islands", "4", "--migration-interval", "3"],
                         quick=["--population", "16", "--generations", "6"],
                         full=["--population", "100", "--generations", "60"], report=print_best))
