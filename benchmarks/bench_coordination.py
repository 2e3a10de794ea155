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
import shutil
import sys
import tempfile
from pathlib import Path

from harness import PYTHON, ROOT, cpu_model, log, publish, run_process, table, utc_now

SIZES = {"quick": {"ranks": [2, 4], "generations": 6}, "full": {"ranks": [2, 4, 8], "generations": 20}}
SCHEMES = ("neighbour", "via_root")
RESULTS = ("logbook.csv", "migrations.csv", "hall_of_fame.json")
BEGIN = ("<!-- bench_coordination:begin (written by benchmarks/bench_coordination.py --write; edits here are "
         "replaced) -->")
END = "<!-- bench_coordination:end -->"


def mpiexec():
    found = shutil.which("mpiexec", path=str(Path(PYTHON).parent)) or shutil.which("mpiexec")
    if not found:
        sys.exit("bench_coordination: mpiexec not found (pip install -e '.[mpich]')")
    return found


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


def report(size, seen, args, started):
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
              f"merged at checkpoints. Checkpoints themselves still gather every island's state to rank 0 (not "
              f"counted here).\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 and 4 ranks, 6 generations: a smoke run")
    parser.add_argument("--repeats", type=int, help="ignored: counts do not vary between repeats")
    parser.add_argument("--write", action="store_true", help="replace the marked section of BENCHMARKS.md")
    parser.add_argument("--benchmarks-file", default=str(ROOT / "BENCHMARKS.md"), help="file --write updates")
    args = parser.parse_args()
    size = SIZES["quick" if args.quick else "full"]
    started = utc_now()
    with tempfile.TemporaryDirectory(prefix="hpcevo-coordination-") as folder:
        seen = measure(size, Path(folder))
    publish(report(size, seen, args, started), args, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
