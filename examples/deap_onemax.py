"""DEAP's OneMax tutorial turned into an island run by changing one line.

    python examples/deap_onemax.py [--quick]                  # every island in this process
    mpiexec -n 4 python examples/deap_onemax.py [--quick]     # the islands spread over 4 ranks, same results

This is DEAP's tutorial script as written: creator classes and the toolbox at module level, then `main()`.
The one change is the `algorithms.eaSimple(...)` line, now `hpcevo.evolve(...)` (the old lines are kept as
comments).  What hpcevo does instead of the tutorial's lines:

- `eaSimple`: every island runs eaSimple's generation (select, varAnd, evaluate), drawing random numbers in
  eaSimple's order; islands exchange their best every `migration_interval` generations.
- `random.seed(64)`: not used. Each island has its own random stream derived from `seed=`, which is how
  the results are the same on any number of ranks.
- `toolbox.map`: not used (this script registers none). hpcevo evaluates through its own evaluator, in this
  process or on MPI ranks; a `map` registered for SCOOP or multiprocessing is ignored.
- `stats`, `hof`: hpcevo keeps its own: `result.logbook` (a DataFrame) and `result.hall_of_fame`.

Under mpiexec every rank runs this script and calls `evolve`; rank 0 gets the result, the others None.
"""

import random
import sys

from deap import base, creator, tools

import hpcevo

creator.create("FitnessMax", base.Fitness, weights=(1.0,))
creator.create("Individual", list, fitness=creator.FitnessMax)

toolbox = base.Toolbox()
toolbox.register("attr_bool", random.randint, 0, 1)
toolbox.register("individual", tools.initRepeat, creator.Individual, toolbox.attr_bool, 100)
toolbox.register("population", tools.initRepeat, list, toolbox.individual)


def evalOneMax(individual):  # noqa: N802  (the tutorial's name)
    return (sum(individual),)


toolbox.register("evaluate", evalOneMax)
toolbox.register("mate", tools.cxTwoPoint)
toolbox.register("mutate", tools.mutFlipBit, indpb=0.05)
toolbox.register("select", tools.selTournament, tournsize=3)


def main(ngen=40, population=300):
    random.seed(64)  # kept from the tutorial; hpcevo does not use it (see above)
    # pop = toolbox.population(n=300)
    # hof = tools.HallOfFame(1)
    # algorithms.eaSimple(pop, toolbox, cxpb=0.5, mutpb=0.2, ngen=40, stats=stats, halloffame=hof, verbose=True)
    result = hpcevo.evolve(toolbox, population=population, cxpb=0.5, mutpb=0.2, generations=ngen, seed=64)
    if result is not None:  # rank 0
        best = result.hall_of_fame[0]
        print(f"best individual has {best.fitness.values[0]:.0f} ones of {len(best)}; "
              f"{result.summary['evaluations']:,} evaluations on {result.summary['ranks']} rank(s)")
    return result


if __name__ == "__main__":
    main(*((8, 40) if "--quick" in sys.argv[1:] else ()))
