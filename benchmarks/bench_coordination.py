"""What coordinating the islands costs rank 0 and the busiest leader, counted rather than timed.

Runs the real CLI under mpiexec with a ring of one island per rank, once per migration scheme (`neighbour`,
leader to leader, the default; `via_root`, every leader's report through rank 0), and reads the counts the
engine writes to summary.json's "coordination": objects and pickled bytes each process unpickled from MPI
messages during the epochs' exchanges, averaged over the epochs.  Counts do not depend on the machine's
speed, so 8 ranks on 2 cores measure the design, not the scheduler.  It also checks that both schemes wrote
byte-identical logbook.csv, migrations.csv and hall_of_fame.json.

    python benchmarks/bench_coordination.py [--quick] [--write]
"""

import argparse
import json
import sys
import tempfile
from pathlib import Path

from harness import PYTHON, ROOT, cpu_model, log, publish, run_process, table, utc_now
from harness import mpiexec as harness_mpiexec

sys.path.insert(0, str(ROOT))  # the child mode imports hpcevo from this checkout
SIZES = {"quick": {"ranks": [2, 4], "generations": 6}, "full": {"ranks": [2, 4, 8], "generations": 20}}
SCHEMES = ("neighbour", "via_root")
RESULTS = ("logbook.csv", "migrations.csv", "hall_of_fame.json")
BEGIN = ("<!-- bench_coordination:begin (written by benchmarks/bench_coordination.py --write; edits here are "
         "replaced) -->")
END = "<!-- bench_coordination:end -->"


def mpiexec():
    return harness_mpiexec("bench_coordination")


def child_costs(repeats):
    """Under mpiexec: time the scheme's operations with the engine's own backend and payloads; rank 0 prints
    JSON {operation: median ms} and the CPU of one merge of the totals (µs)."""
    import statistics
    import time

    from mpi4py import MPI

    from hpcevo.comm import MPIBackend, World
    from hpcevo.messages import EpochTotals
    from hpcevo.migration import _merge_checked

    world = World(MPI.COMM_WORLD)
    backend = MPIBackend(world, 1)
    rank, size = world.rank, world.size
    migrants = _migrants()
    totals = EpochTotals((-12.5,), 5000, 0.4, [])
    item = (totals, "0123456789abcdef", "0123456789abcdef")
    times = {"allreduce": [], "p2p": [], "bcast": []}
    for _ in range(repeats):
        backend.leader_comm.Barrier()
        t0 = time.perf_counter()
        backend.allreduce(item, _merge_checked)
        t1 = time.perf_counter()
        backend.exchange_with({(rank + 1) % size: {rank: migrants}}, [(rank - 1) % size])
        t2 = time.perf_counter()
        backend.bcast((None, False) if rank == 0 else None)
        t3 = time.perf_counter()
        for name, seconds in zip(times, (t1 - t0, t2 - t1, t3 - t2)):
            times[name].append(seconds)
    t0 = time.perf_counter()
    for _ in range(10000):
        _merge_checked(item, item)
    merge_us = (time.perf_counter() - t0) / 10000 * 1e6
    if rank == 0:
        print(json.dumps({**{k: statistics.median(v) * 1e3 for k, v in times.items()}, "merge_us": merge_us,
                          "migrant_bytes": len(__import__("pickle").dumps({0: migrants}, 5))}))
    backend.close()


def _migrants():
    """Five emigrants of an evolved Rastrigin-30 island (the benchmark's payload)."""
    import random

    from hpcevo.problem import load_problem

    problem = load_problem("rastrigin", {"dimension": 30}, "simple", "penalize")
    random.seed(1)
    individuals = problem.toolbox.population(5)
    for ind in individuals:
        ind.fitness.values = problem.toolbox.evaluate(ind)
    return individuals


def costs(ranks, repeats):
    """Per-operation costs on `ranks` ranks (rank 0's view), from a child run under mpiexec."""
    _, _, out = run_process([mpiexec(), "-n", str(ranks), PYTHON, str(Path(__file__)), "--child-costs",
                             str(repeats)], timeout=600)
    return json.loads(out.strip().splitlines()[-1])


def measure(size, folder):
    """{(scheme, ranks): the coordination entry of summary.json}, after checking the schemes agree."""
    seen = {}
    for ranks in size["ranks"]:
        for scheme in SCHEMES:
            out = folder / f"{scheme}-{ranks}"
            run_process([mpiexec(), "-n", str(ranks), PYTHON, "-m", "hpcevo", "run", "--problem", "rastrigin",
                         "--islands", str(ranks), "--population", "50", "--generations", str(size["generations"]),
                         "--migration-interval", "2", "--migrants", "5", "--migration", scheme, "--quiet",
                         "--out", str(out)], timeout=600)
            seen[scheme, ranks] = json.loads((out / "summary.json").read_text())["coordination"]
            log(f"{scheme} on {ranks} ranks: {seen[scheme, ranks]}")
        for name in RESULTS:
            a, b = (folder / f"{s}-{ranks}" / name for s in SCHEMES)
            if a.read_bytes() != b.read_bytes():
                raise SystemExit(f"bench_coordination: {name} differs between the schemes on {ranks} ranks")
    return seen


LEADER = ("A leader's own coordination per epoch is bounded by the same figures: it takes part in the same "
          "allreduce and broadcast (at most the same tree depth) and sends and receives one message per route "
          "into or out of its islands (its topology degree), whatever N is. ")


def model_text(two):
    """Rank 0's coordination per epoch at 1,024 and 16,384 ranks, from the costs measured at 2 ranks."""
    import math

    step = (two["allreduce"] + two["bcast"]) / 2  # one tree step: at 2 ranks each collective is one
    rows = []
    for n in (1024, 16384):
        depth = math.ceil(math.log2(n))
        reduce_ms = 2 * depth * two["allreduce"] / 2  # reduce up the tree, result down: 2 x depth steps
        bcast_ms = depth * two["bcast"]
        p2p_ms = two["p2p"]  # a ring: one message in, one out, whatever N
        cpu_ms = depth * two["merge_us"] / 1e3
        rows.append([f"{n:,}", depth, f"{reduce_ms:.2f}", f"{bcast_ms:.2f}", f"{p2p_ms:.2f}",
                     f"{reduce_ms + bcast_ms + p2p_ms:.2f}", f"{cpu_ms:.3f}"])
    return ("### A model for 1,024 and 16,384 ranks\n\n"
            f"Measured at 2 ranks (one core each, not oversubscribed), rank 0's view, median of the repeats: the "
            f"allreduce of the epoch's totals and route digest {two['allreduce']:.3f} ms, the ring exchange of five "
            f"Rastrigin-30 migrants ({two['migrant_bytes']:,} pickled bytes, one message each way) "
            f"{two['p2p']:.3f} ms, the decision's broadcast {two['bcast']:.3f} ms; merging two totals costs "
            f"{two['merge_us']:.1f} µs of CPU. At N ranks the reduction and the broadcast take ceil(log2 N) tree "
            f"steps each way (the allreduce: up, then down), each step costing what one step costs at 2 ranks "
            f"({step:.3f} ms on average), and rank 0 merges one child's totals per step; the migrants are one "
            f"message per ring neighbour whatever N.\n\n"
            + table(["ranks", "tree depth", "allreduce ms", "bcast ms", "migrants ms", "rank 0 per epoch ms",
                     "rank 0 merge CPU ms"], rows)
            + "\n\n" + LEADER + "A model, not a measurement at that size: on a cluster a step between nodes costs the "
              "interconnect's latency (microseconds to tens of microseconds) instead of shared memory's, and the "
              "allreduce also waits for the slowest leader's epoch (load imbalance, which no scheme with a "
              "barrier removes); neither term grows faster than log2 N. "
              "Through rank 0 (`via_root`) the same epoch costs rank 0 79 ms of its own CPU at 1,024 islands "
              "and grows linearly (section 5 of the scaling benchmark); leader to leader it grows with log2 N. "
              "Checkpoints are measured and modelled separately (the next section): the leaders write the "
              "islands' states to their own part files; rank 0 receives a small entry per island.\n")


def report(size, seen, two, args, started):
    first = size["ranks"][0]
    rows = []
    for scheme in SCHEMES:
        for ranks in size["ranks"]:
            c = seen[scheme, ranks]
            ratio = c["rank0_received_bytes_per_epoch"] / seen[scheme, first]["rank0_received_bytes_per_epoch"]
            rows.append([f"`{scheme}`", ranks, f"{c['rank0_received_bytes_per_epoch']:,.0f}", f"{ratio:.2f}x",
                         f"{c['rank0_received_messages_per_epoch']:.1f}", f"{c['max_leader_messages_per_epoch']:.1f}"])
    last = size["ranks"][-1]
    ours = seen["neighbour", last]["rank0_received_bytes_per_epoch"] / seen["neighbour", first][
        "rank0_received_bytes_per_epoch"]
    theirs = seen["via_root", last]["rank0_received_bytes_per_epoch"] / seen["via_root", first][
        "rank0_received_bytes_per_epoch"]
    command = "python benchmarks/bench_coordination.py" + (" --quick" if args.quick else "") + (
        " --write" if args.write else "")
    return (f"## Coordination counted: rank 0's share per epoch (`benchmarks/bench_coordination.py`)\n\n"
            f"- Command: `{command}` ({'quick' if args.quick else 'full'}: ring, one Rastrigin-30 island of 50 per "
            f"rank, {size['generations']} generations, migration every 2, 5 migrants)\n"
            f"- Date: {started}\n- Machine: {cpu_model()} (counts do not depend on it)\n\n"
            f"Objects and pickled bytes each process unpickled from MPI messages during the epochs' exchanges "
            f"(summary.json's `coordination`, averaged over the epochs; mpi4py's copy of a rank's own share of a "
            f"reduction counts as one). Both schemes wrote byte-identical logbook, migrations and hall of fame.\n\n"
            + table(["scheme", "ranks", "rank 0 bytes/epoch", f"vs {first} ranks", "rank 0 messages/epoch",
                     "busiest leader messages/epoch"], rows)
            + f"\n\nFrom {first} to {last} ranks rank 0's bytes per epoch grow {ours:.2f}x leader to leader and "
              f"{theirs:.2f}x through rank 0. Leader to leader, rank 0 receives its own neighbours' migrants, "
              f"the reduction of the epoch's totals (best, evaluations, stop requests, a digest of the routes) "
              f"from its children in MPI's tree and the decision's broadcast, so its messages grow by about one "
              f"per doubling of the ranks; the logbook rows and migration records stay in per-leader shards "
              f"merged at checkpoints. Checkpoints are not counted here (see the checkpoint section).\n\n"
              + model_text(two))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 and 4 ranks, 6 generations: a smoke run")
    parser.add_argument("--repeats", type=int, help="ignored: counts do not vary between repeats")
    parser.add_argument("--write", action="store_true", help="replace the marked section of BENCHMARKS.md")
    parser.add_argument("--benchmarks-file", default=str(ROOT / "BENCHMARKS.md"), help="file --write updates")
    parser.add_argument("--child-costs", type=int, metavar="REPEATS", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_costs:
        child_costs(args.child_costs)
        return 0
    size = SIZES["quick" if args.quick else "full"]
    started = utc_now()
    with tempfile.TemporaryDirectory(prefix="hpcevo-coordination-") as folder:
        seen = measure(size, Path(folder))
    two = costs(2, 30 if args.quick else 300)
    log(f"costs at 2 ranks: {two}")
    publish(report(size, seen, two, args, started), args, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
