"""One generation of each per-island algorithm, as DEAP's loops do it but with a cheaper clone.

`simple` draws random numbers in exactly the order of `deap.algorithms.eaSimple`, so one island with
no migration reproduces eaSimple's run for the same random state (a test checks this). `toolbox.select` runs
through `selection.equivalent`: DEAP's tournament is replaced by one that picks the same individuals faster;
varAnd runs through `variation.equivalent`: cxBlend and mutGaussian are replaced by array code that makes the same
children from the same draws.
Each step is `step(population, toolbox, params, clone, evaluate) -> (new_population, n_evaluations)`;
`hpcevo.registry.ALGORITHM` names the built-in ones, and a custom algorithm is any function of that shape.
"""

import random

from .nondominated import sel_nsga2
from .policies import ranked_indices
from .selection import equivalent
from .variation import equivalent as equivalent_variation

__all__ = ["step_simple", "step_mu_plus_lambda", "step_nsga2", "var_and", "var_or"]


def var_and(population, toolbox, cxpb, mutpb, clone):
    """DEAP's varAnd: clone all, cross consecutive pairs with cxpb, then mutate each with mutpb."""
    offspring = [clone(ind) for ind in population]
    for i in range(1, len(offspring), 2):
        if random.random() < cxpb:
            offspring[i - 1], offspring[i] = toolbox.mate(offspring[i - 1], offspring[i])
            del offspring[i - 1].fitness.values, offspring[i].fitness.values
    for i in range(len(offspring)):
        if random.random() < mutpb:
            offspring[i], = toolbox.mutate(offspring[i])
            del offspring[i].fitness.values
    return offspring


def _vary(population, toolbox, cxpb, mutpb, clone):
    """var_and, through `variation.equivalent`'s array stand-in when the toolbox's operators have one."""
    stand_in = equivalent_variation(toolbox)
    if stand_in is None:
        return var_and(population, toolbox, cxpb, mutpb, clone)
    return stand_in(population, toolbox, cxpb, mutpb, clone)


def var_or(population, toolbox, lambda_, cxpb, mutpb, clone):
    """DEAP's varOr: lambda_ children, each from crossover, mutation or reproduction."""
    offspring = []
    for _ in range(lambda_):
        choice = random.random()
        if choice < cxpb:
            ind1, ind2 = [clone(ind) for ind in random.sample(population, 2)]
            ind1, ind2 = toolbox.mate(ind1, ind2)
            del ind1.fitness.values
            offspring.append(ind1)
        elif choice < cxpb + mutpb:
            ind, = toolbox.mutate(clone(random.choice(population)))
            del ind.fitness.values
            offspring.append(ind)
        else:
            offspring.append(clone(random.choice(population)))
    return offspring


def _evaluate_invalid(individuals, evaluate):
    invalid = [ind for ind in individuals if not ind.fitness.valid]
    if invalid:
        evaluate(invalid)
    return len(invalid)


def _distinct(population, clone):
    """Clone repeated references so every slot of a population is its own object."""
    seen = set()
    for i, ind in enumerate(population):
        if id(ind) in seen:
            population[i] = clone(ind)
        seen.add(id(population[i]))
    return population


def step_simple(population, toolbox, params, clone, evaluate):
    """eaSimple's generation: select len(pop), varAnd, evaluate; offspring replace the population."""
    offspring = _vary(equivalent(toolbox.select)(population, len(population)), toolbox,
                      params["cxpb"], params["mutpb"], clone)
    return offspring, _evaluate_invalid(offspring, evaluate)


def step_mu_plus_lambda(population, toolbox, params, clone, evaluate):
    """eaMuPlusLambda's generation: varOr makes `offspring` children, select mu from parents + children."""
    offspring = var_or(population, toolbox, params["offspring"], params["cxpb"], params["mutpb"], clone)
    nevals = _evaluate_invalid(offspring, evaluate)
    return _distinct(list(equivalent(toolbox.select)(population + offspring, len(population))), clone), nevals


def step_nsga2(population, toolbox, params, clone, evaluate):
    """NSGA-II: binary tournaments on (Pareto rank, crowding), varAnd, then selNSGA2 on parents + children."""
    n = len(population)
    rank = {i: r for r, i in enumerate(ranked_indices(population))}
    parents = []
    for _ in range(params["offspring"]):
        a, b = random.randrange(n), random.randrange(n)
        parents.append(population[min(a, b, key=rank.__getitem__)])
    offspring = _vary(parents, toolbox, params["cxpb"], params["mutpb"], clone)
    nevals = _evaluate_invalid(offspring, evaluate)
    survivors = getattr(toolbox, "survivors", sel_nsga2)  # a toolbox may refine NSGA-II's choice
    return _distinct(survivors(population + offspring, n), clone), nevals
