"""Per-island algorithms of your own: eaMuCommaLambda's generation, and CMA-ES keeping one strategy per island.

    python -m hpcevo run --problem sphere -O dimension=8 --algorithm examples.custom_step:cma_es          # repo root
    python -m hpcevo run --problem rastrigin --algorithm examples.custom_step:mu_comma_lambda --offspring 200
    python examples/custom_step.py [--quick] [--ranks N] [--out DIR]                                     # anywhere

An algorithm is a function hpcevo calls once per generation on each island,
`step(population, toolbox, params, clone, evaluate) -> (new_population, n_evaluations)`:

- `params` holds the island's `cxpb`, `mutpb` and `offspring` (after `[per_island]`) and `memory`, a dict private
  to the island that is saved with it in every checkpoint, so a stateful algorithm resumes exactly where it was
  (keep in it what pickles: numbers, arrays, DEAP objects; no lambdas);
- `clone(ind)` copies an individual (cheaper than deepcopy where it can be);
- `evaluate(individuals)` sets their fitness in place, through hpcevo's evaluators: a failed evaluation gets the
  penalty fitness and is counted in the logbook;
- randomness comes from `random` and `numpy.random`, into which hpcevo has swapped the island's own streams: the
  same seed gives the same run on any number of ranks and after a resume.

Migration happens between generations: the emigration policy picks from the population a step returned, and
immigrants replace residents before the next call. From Python, pass the function itself:
`hpcevo.evolve("sphere", algorithm=cma_es)`.
"""

import random
import sys

import numpy as np
from deap import cma

from hpcevo.algorithms import var_or


def mu_comma_lambda(population, toolbox, params, clone, evaluate):
    """eaMuCommaLambda's generation: varOr makes `offspring` (lambda) children, and the next mu come from the
    children only (parents never survive, which keeps the search moving on rugged landscapes)."""
    mu, lambda_, cxpb, mutpb = len(population), params["offspring"], params["cxpb"], params["mutpb"]
    if lambda_ < mu or cxpb + mutpb > 1.0:
        raise ValueError(f"mu_comma_lambda needs offspring >= population and cxpb + mutpb <= 1, got offspring "
                         f"{lambda_}, population {mu}, cxpb {cxpb}, mutpb {mutpb}: set --offspring, --cxpb, --mutpb.")
    children = var_or(population, toolbox, lambda_, cxpb, mutpb, clone)
    invalid = [ind for ind in children if not ind.fitness.valid]  # reproduced children keep their fitness
    evaluate(invalid)
    chosen, seen = [], set()
    for ind in toolbox.select(children, mu):  # selection with replacement may pick a child twice
        chosen.append(clone(ind) if id(ind) in seen else ind)
        seen.add(id(ind))
    return chosen, len(invalid)


def cma_es(population, toolbox, params, clone, evaluate):
    """One generation of CMA-ES (deap.cma.Strategy, lambda = the population size): sample, evaluate, update.

    For real-valued individuals and one objective. The strategy lives in `params["memory"]`, so it survives
    checkpoints; it starts at one of the island's own individuals, drawn from the island's stream, with a step
    size of the initial population's spread. An immigrant better than every child of the last generation moves
    the strategy's mean to it (covariance and step size kept), so migration steers the islands' searches.
    """
    memory = params["memory"]
    if "strategy" not in memory:  # the island's first generation
        spread = float(np.array([list(ind) for ind in population], dtype=float).std(axis=0).mean())
        memory["strategy"] = cma.Strategy(centroid=list(random.choice(population)), sigma=spread or 1.0,
                                          lambda_=len(population))
    strategy = memory["strategy"]
    best = max(population, key=lambda ind: ind.fitness.wvalues)
    if "best" in memory and best.fitness.wvalues > memory["best"]:
        strategy.centroid = np.array(best, dtype=float)
    individual = type(population[0])
    children = strategy.generate(lambda genes: individual(genes.tolist()))
    evaluate(children)
    strategy.update(children)  # also sorts the children, best first
    memory["best"] = children[0].fitness.wvalues
    return children, len(children)


def print_progress(out):
    """Script mode: the best value over all islands at the first and the last generation, from logbook.csv."""
    lines = (out / "logbook.csv").read_text().splitlines()
    header = lines[0].split(",")
    gen, low = header.index("gen"), header.index("min")
    best = {}
    for line in lines[1:]:
        row = line.split(",")
        best[int(row[gen])] = min(best.get(int(row[gen]), float("inf")), float(row[low]))
    last = max(best)
    print(f"CMA-ES on sphere: best {best[0]:.4g} at generation 0, {best[last]:.4g} at generation {last}")


if __name__ == "__main__":
    from _run import run_example  # examples/_run.py: prints and runs `python -m hpcevo run ...`

    sys.exit(run_example("custom_step", ["--problem", "sphere", "-O", "dimension=8", "--islands", "4",
                                         "--algorithm", "examples.custom_step:cma_es"],
                         quick=["--population", "12", "--generations", "12", "--migration-interval", "4"],
                         full=["--population", "20", "--generations", "150", "--migration-interval", "10"],
                         report=print_progress))
