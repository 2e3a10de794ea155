"""A custom migration topology: a hypercube whose links change with the epoch.

    python -m hpcevo run --problem onemax --islands 8 --topology examples.custom_topology:hypercube  # repo root
    python examples/custom_topology.py [--quick] [--ranks N] [--out DIR]                             # anywhere

A topology is any function `(n_islands, epoch, rng) -> [(src, dst), ...]`: after every epoch but the last, rank 0
calls it and island `src` sends its emigrants to island `dst`. hpcevo checks what it returns (islands in range,
no island sending to itself, duplicates dropped) and logs every route taken in migrations.csv. It runs on rank 0
only. Keep it a pure function of its arguments, drawing any randomness from `rng` (a `random.Random` seeded
from the run seed and the epoch), never from `random`: then the same seed gives the same routes on any number
of ranks and after a resume.
"""

import sys


def hypercube(n_islands, epoch, rng):
    """Islands are the corners of a hypercube; at epoch e they swap migrants along dimension e mod d.

    Every island talks to one neighbour per epoch. With 2**d islands, a good individual can have reached every
    island after d epochs. With another count, d is rounded up, an island whose partner corner is empty sits
    that epoch out, and spreading everywhere takes up to 2 d epochs.
    """
    dimensions = max(1, (n_islands - 1).bit_length())
    bit = 1 << (epoch % dimensions)
    return [(i, i ^ bit) for i in range(n_islands) if (i ^ bit) < n_islands]


def print_routes(out):
    """Script mode: the routes each epoch took, from migrations.csv (epoch, src, dst, count, best_fitness)."""
    by_epoch = {}
    for line in (out / "migrations.csv").read_text().splitlines()[1:]:
        epoch, src, dst = line.split(",")[:3]
        by_epoch.setdefault(int(epoch), []).append(f"{src}->{dst}")
    for epoch, routes in sorted(by_epoch.items()):
        print(f"epoch {epoch}: {' '.join(routes)}")


if __name__ == "__main__":
    from _run import run_example  # examples/_run.py: prints and runs `python -m hpcevo run ...`

    sys.exit(run_example("custom_topology", ["--problem", "onemax", "-O", "length=60", "--islands", "8",
                                             "--topology", "examples.custom_topology:hypercube"],
                         quick=["--population", "12", "--generations", "8", "--migration-interval", "2"],
                         full=["--population", "100", "--generations", "100", "--migration-interval", "10"],
                         report=print_routes))
