"""A constrained two-objective design on hpcevo with NSGA-II: a light and stiff cantilever beam.

    python -m hpcevo run --problem examples.multi_objective:make_toolbox --islands 4   # from the repo root
    python examples/multi_objective.py [--quick] [--ranks N] [--out DIR]              # from anywhere

A round steel beam of diameter d and length l (mm) is fixed at one end and carries a load P at the other.
Minimise its mass and the deflection of its free end, keeping the bending stress and the deflection within
limits. Each objective's direction is its weight's sign; two weights make `--algorithm auto` pick NSGA-II, and
hall_of_fame.json is then the Pareto front merged from all islands.
"""

import csv
import json
import math
import random
import sys
from pathlib import Path

from deap import base, creator, tools

from hpcevo.errors import Rejected

LOW, UP = (10.0, 200.0), (50.0, 1000.0)  # bounds of (d, l) in mm
DENSITY, YOUNG = 7.8e-6, 207e3  # steel: kg/mm^3, N/mm^2


def make_toolbox(load=1000.0, max_stress=300.0, max_deflection=5.0):
    """Beams (d, l) under `load` N, feasible when stress <= max_stress N/mm^2 and deflection <= max_deflection."""
    if not hasattr(creator, "BeamFitness"):
        # (-1, -1): minimise both mass and deflection.
        creator.create("BeamFitness", base.Fitness, weights=(-1.0, -1.0))
        creator.create("Beam", list, fitness=creator.BeamFitness)
    toolbox = base.Toolbox()
    toolbox.register("individual", tools.initIterate, creator.Beam, random_beam)
    toolbox.register("population", tools.initRepeat, list, toolbox.individual)
    toolbox.register("evaluate", evaluate_beam, load=load, max_stress=max_stress, max_deflection=max_deflection)
    toolbox.register("mate", tools.cxSimulatedBinaryBounded, eta=15.0, low=LOW, up=UP)
    toolbox.register("mutate", tools.mutPolynomialBounded, eta=20.0, low=LOW, up=UP, indpb=0.5)
    # hpcevo's nsga2 selects with tools.selNSGA2 itself; `select` serves --algorithm mu_plus_lambda.
    toolbox.register("select", tools.selNSGA2)
    # hpcevo hooks. `penalty` is the fitness of infeasible (Rejected) and failed beams: worse than any feasible
    # one, and finite, because NSGA-II's crowding distance subtracts objective values (inf - inf is NaN).
    toolbox.penalty = (100.0, 1e4)
    toolbox.register("describe", describe_beam)
    toolbox.register("report", write_front)
    return toolbox


def random_beam():
    """Genes (d, l) drawn uniformly within the bounds from the global `random`, which hpcevo seeds per island."""
    return [random.uniform(low, up) for low, up in zip(LOW, UP)]


def evaluate_beam(beam, load, max_stress, max_deflection):
    """(mass kg, deflection mm); raises Rejected for a beam that breaks the stress or deflection limit."""
    d, length = beam
    mass = DENSITY * math.pi * d**2 / 4 * length
    deflection = 64 * load * length**3 / (3 * YOUNG * math.pi * d**4)
    stress = 32 * load * length / (math.pi * d**3)
    # Rejected is not an error: the beam gets toolbox.penalty, is counted in logbook.csv's `rejected` column and
    # left out of its statistics, and is never reported in errors.txt, whatever on_error says.
    if stress > max_stress:
        raise Rejected(f"stress {stress:.0f} N/mm^2 > {max_stress:g}")
    if deflection > max_deflection:
        raise Rejected(f"deflection {deflection:.2f} mm > {max_deflection:g}")
    return mass, deflection


def describe_beam(beam):
    """hpcevo hook: the text of a beam in hall_of_fame.json."""
    return f"d={beam[0]:.2f} mm, l={beam[1]:.1f} mm"


def write_front(run_dir, hall_of_fame):
    """hpcevo hook, called on rank 0 after the results are written: the front as a table to plot, lightest first."""
    with open(Path(run_dir) / "front.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["d_mm", "l_mm", "mass_kg", "deflection_mm"])
        for beam in sorted(hall_of_fame, key=lambda b: b.fitness.values):
            writer.writerow([*beam, *beam.fitness.values])


def print_front(out):
    """Script mode: the Pareto front, lightest first, and how many beams were rejected."""
    front = json.loads((out / "hall_of_fame.json").read_text())["individuals"]
    for entry in sorted(front, key=lambda e: e["fitness"])[:6]:
        print(f"mass {entry['fitness'][0]:.3f} kg, deflection {entry['fitness'][1]:.3f} mm: {entry['individual']}")
    with open(out / "logbook.csv", newline="") as fh:
        rejected = sum(int(row["rejected"]) for row in csv.DictReader(fh))
    print(f"{len(front)} beams on the front (all in {out / 'front.csv'}); {rejected} infeasible beams rejected "
          f"during the search")


if __name__ == "__main__":
    from _run import run_example  # examples/_run.py: prints and runs `python -m hpcevo run ...`

    sys.exit(run_example("multi_objective", ["--problem", "examples.multi_objective:make_toolbox",
                                             "--islands", "4", "--algorithm", "nsga2"],
                         quick=["--population", "24", "--generations", "6", "--migration-interval", "3"],
                         full=["--population", "100", "--generations", "100", "--migration-interval", "10"],
                         report=print_front))
