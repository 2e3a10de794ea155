"""ZDT1: the standard two-objective test with a convex Pareto front f2 = 1 - sqrt(f1), genes in [0, 1]."""

import math
from functools import partial

from deap import base

from .common import check_int, creator_class, uniform_gene

__all__ = ["eval_zdt1", "zdt1"]


def eval_zdt1(x):
    """ZDT1 objectives (f1, f2), both minimised; needs len(x) >= 2 and genes in [0, 1]."""
    f1 = x[0]
    rest = 0.0
    for i in range(1, len(x)):
        rest += x[i]
    g = 1.0 + 9.0 * rest / (len(x) - 1)
    return (float(f1), g * (1.0 - math.sqrt(f1 / g)))


def zdt1(dimension=30):
    """Toolbox for ZDT1: bounded SBX and polynomial mutation (eta 20), NSGA-II selection."""
    from deap import tools

    dimension = check_int("dimension", dimension, 2)
    fitness = creator_class("HpcevoFitnessMin2", base.Fitness, weights=(-1.0, -1.0))
    individual = creator_class("HpcevoRealIndividualMin2", list, fitness=fitness)
    toolbox = base.Toolbox()
    toolbox.register("individual", tools.initRepeat, individual, partial(uniform_gene, 0.0, 1.0), dimension)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("evaluate", eval_zdt1)
    toolbox.register("mate", tools.cxSimulatedBinaryBounded, eta=20.0, low=0.0, up=1.0)
    toolbox.register("mutate", tools.mutPolynomialBounded, eta=20.0, low=0.0, up=1.0, indpb=1.0 / dimension)
    toolbox.register("select", tools.selNSGA2)
    return toolbox
