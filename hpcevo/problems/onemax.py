"""OneMax: maximise the number of ones in a bit list; the classic GA smoke test."""

from deap import base

from .common import check_int, check_probability, creator_class, random_bit

__all__ = ["eval_onemax", "onemax"]


def eval_onemax(individual):
    """Count of ones, as a 1-tuple of float; the optimum equals the length."""
    return (float(sum(individual)),)


def onemax(length=100, indpb=0.05):
    """Toolbox for OneMax: random bits, cxTwoPoint, mutFlipBit(indpb), tournament of 3."""
    from deap import tools

    length = check_int("length", length, 1)
    indpb = check_probability("indpb", indpb)
    fitness = creator_class("HpcevoFitnessMax", base.Fitness, weights=(1.0,))
    individual = creator_class("HpcevoBitIndividual", list, fitness=fitness)
    toolbox = base.Toolbox()
    toolbox.register("individual", tools.initRepeat, individual, random_bit, length)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("evaluate", eval_onemax)
    toolbox.register("mate", tools.cxTwoPoint)
    toolbox.register("mutate", tools.mutFlipBit, indpb=indpb)
    toolbox.register("select", tools.selTournament, tournsize=3)
    return toolbox
