"""Asynchronous migration against the synchronous default under load imbalance: wall time and evaluations/s.

Runs the real CLI under mpiexec, one island per rank, with `tests.support.imbalance:imbalanced` (Rastrigin whose
evaluations sleep: sleeping takes time but no CPU, so the imbalance survives an oversubscribed machine), once
with `migration = "neighbour"` (an epoch barrier: every epoch waits for its slowest island) and once with
`migration = "async"` (no barrier), alternating the two run by run so that drift in the machine's load hits
both.  Two imbalances: "moving" (each block of evaluations one rank at a time is slow, a different one each
block: the barrier pays the slow island every epoch, async pays each island's own share) and "fixed" (rank r
is always slower by r: both wait for the slowest island's total, async can only save the per-epoch waits).

    python benchmarks/bench_async.py [--quick] [--repeats R]
"""

import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from harness import PYTHON, ROOT, bench_args, log, run_process, table, utc_now, write_benchmarks
from harness import mpiexec as harness_mpiexec

SIZES = {"quick": {"ranks": [2, 4], "generations": 8, "repeats": 1},
         "full": {"ranks": [2, 4, 8], "generations": 20, "repeats": 3}}
SCHEMES = ("neighbour", "async")
POPULATION, INTERVAL, DELAY, SKEW = 16, 2, 0.002, 3.0
IMBALANCES = {"moving": POPULATION * INTERVAL, "fixed": 0}  # the problem's `block` option


BEGIN = "<!-- bench_async:begin (written by benchmarks/bench_async.py --write; edits here are replaced) -->"
END = "<!-- bench_async:end -->"


def mpiexec():
    return harness_mpiexec("bench_async")


def one_run(folder, scheme, ranks, generations, block):
    out = folder / f"{scheme}-{ranks}-{block}-{len(list(folder.iterdir()))}"
    run_process([mpiexec(), "-n", str(ranks), PYTHON, "-m", "hpcevo", "run", "--problem",
                 "tests.support.imbalance:imbalanced", "-O", f"delay={DELAY}", "-O", f"skew={SKEW}", "-O",
                 f"block={block}", "--islands", str(ranks), "--population", str(POPULATION), "--generations",
                 str(generations), "--migration-interval", str(INTERVAL), "--migration", scheme, "--quiet",
                 "--out", str(out)], timeout=600)
    summary = json.loads((out / "summary.json").read_text())
    shutil.rmtree(out)
    return summary["wall_seconds"], summary["evaluations_per_second"]


def measure(size, folder):
    seen = {}
    for imbalance, block in IMBALANCES.items():
        for ranks in size["ranks"]:
            for _ in range(size["repeats"]):
                for scheme in SCHEMES:  # alternate: sync, async, sync, async...
                    wall, rate = one_run(folder, scheme, ranks, size["generations"], block)
                    seen.setdefault((imbalance, ranks, scheme), []).append((wall, rate))
                    log(f"{imbalance} {ranks} ranks {scheme}: {wall:.2f}s, {rate:,.0f} evals/s")
    return seen


def report(size, seen, args, started):
    rows = []
    for imbalance in IMBALANCES:
        for ranks in size["ranks"]:
            sync = seen[imbalance, ranks, "neighbour"]
            asyn = seen[imbalance, ranks, "async"]
            ws, wa = (statistics.median(w for w, _ in runs) for runs in (sync, asyn))
            rs, ra = (statistics.median(r for _, r in runs) for runs in (sync, asyn))
            rows.append([imbalance, ranks, f"{ws:.2f}", f"{wa:.2f}", f"{ws / wa:.2f}x", f"{rs:,.0f}", f"{ra:,.0f}"])
    command = "python benchmarks/bench_async.py" + (" --quick" if args.quick else "")
    return (f"## Asynchronous migration under load imbalance (`benchmarks/bench_async.py`)\n\n"
            f"- Command: `{command}` (ring, one Rastrigin-10 island of {POPULATION} per rank, "
            f"{size['generations']} generations, migration every {INTERVAL}, evaluations sleeping {DELAY * 1e3:g} ms, "
            f"the slow ones {1 + SKEW:g}x; median of {size['repeats']} alternating run(s) per cell)\n"
            f"- Date: {started}\n- Machine: 2-core shared VM (oversubscribed beyond 2 ranks)\n\n"
            + table(["imbalance", "ranks", "sync s", "async s", "sync/async", "sync evals/s", "async evals/s"], rows)
            + "\n\nWall seconds are summary.json's (the evolution loop and the final checkpoint, not start-up).\n")


def main():
    args, size = bench_args(__doc__, "2 and 4 ranks, 8 generations, one repeat",
                            "alternating runs per cell (default 3; quick 1)", SIZES)
    started = utc_now()
    with tempfile.TemporaryDirectory(prefix="bench-async-") as tmp:
        seen = measure(size, Path(tmp))
    text = report(size, seen, args, started)
    print(text)
    if args.write:
        write_benchmarks(args.benchmarks_file, text if text.endswith("\n") else text + "\n", BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
