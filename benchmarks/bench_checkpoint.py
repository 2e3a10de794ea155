"""What a checkpoint costs rank 0 and a leader, with the islands' states in per-leader part files, against the
funnel it replaced (every island's state gathered to rank 0 and written by it into one file).

Takes real island states (Rastrigin-30, population 100, hall of fame 10, after 10 generations, from a run of
this checkout), then measures in one process, per island: the pickled bytes each leader sends to rank 0 at a
periodic checkpoint (the island's location in its part and its summary: hall of fame and counts) against its
whole state; rank 0's CPU for them (unpickling what arrives, merging the halls of fame, pickling and hashing
the manifest) against unpickling the whole states and pickling and hashing them into one file; and a
leader's own work (pickling, hashing and writing its part with fsync).  From those, a model of one
checkpoint at 1,024 and 16,384 islands (one island per leader).

    python benchmarks/bench_checkpoint.py [--quick] [--repeats N] [--write]
"""

import hashlib
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, bench_args, cpu_model, log, publish, table, utc_now

sys.path.insert(0, str(ROOT))
BEGIN = ("<!-- bench_checkpoint:begin (written by benchmarks/bench_checkpoint.py --write; edits here are "
         "replaced) -->")
END = "<!-- bench_checkpoint:end -->"
SUMMARY_KEYS = ("index", "hof", "evaluations", "failures", "eval_seconds", "step_seconds")


def states(folder, islands):
    import hpcevo
    from hpcevo.checkpoint import CHECKPOINT_NAME, load_state

    hpcevo.evolve("rastrigin", islands=islands, population=100, generations=10, migration_interval=5, seed=1,
                  progress=False, out=folder / "run")
    whole = load_state(folder / "run" / CHECKPOINT_NAME)
    return whole["islands"], whole["locations"]


def timed(step, repeats):
    """Median seconds of `step()` over `repeats`."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(folder, islands, repeats):
    from hpcevo.checkpoint import write_part
    from hpcevo.output import merged_hall_of_fame
    from hpcevo.problem import load_problem

    problem = load_problem("rastrigin", {}, "simple")
    full, locations = states(folder, islands)
    summaries = [{k: v for k, v in st.items() if k in SUMMARY_KEYS} for st in full]
    sent_new = [pickle.dumps(([where], [summary]), pickle.HIGHEST_PROTOCOL) for where, summary in
                zip(locations, summaries)]
    sent_old = [pickle.dumps([st], pickle.HIGHEST_PROTOCOL) for st in full]

    def rank0_new():
        got = [pickle.loads(blob) for blob in sent_new]
        merged = [s for _, part in got for s in part]
        hof = merged_hall_of_fame(merged, problem, 10)
        manifest = {"locations": [w for where, _ in got for w in where], "hall_of_fame": hof}
        hashlib.sha256(pickle.dumps(manifest, pickle.HIGHEST_PROTOCOL)).hexdigest()

    def rank0_old():
        got = [pickle.loads(blob) for blob in sent_old]
        merged = [s for part in got for s in part]
        hof = merged_hall_of_fame(merged, problem, 10)
        hashlib.sha256(pickle.dumps({"islands": merged, "hall_of_fame": hof}, pickle.HIGHEST_PROTOCOL)).hexdigest()

    counter = iter(range(10 ** 6))
    return {
        "islands": islands,
        "state_bytes": statistics.median(len(b) for b in sent_old),
        "summary_bytes": statistics.median(len(b) for b in sent_new),
        "rank0_new_ms": timed(rank0_new, repeats) * 1e3 / islands,
        "rank0_old_ms": timed(rank0_old, repeats) * 1e3 / islands,
        "leader_part_ms": timed(lambda: write_part(folder, next(counter), 0, full[:1]), repeats) * 1e3,
    }


def report(seen, args, started):
    per = seen
    rows = [["bytes sent to rank 0 per island", f"{per['state_bytes']:,.0f}", f"{per['summary_bytes']:,.0f}",
             f"{per['state_bytes'] / per['summary_bytes']:.1f}x"],
            ["rank 0's CPU per island (ms)", f"{per['rank0_old_ms']:.3f}", f"{per['rank0_new_ms']:.3f}",
             f"{per['rank0_old_ms'] / per['rank0_new_ms']:.1f}x"]]
    model = []
    for n in (1024, 16384):
        old_mb, new_mb = n * per["state_bytes"] / 1e6, n * per["summary_bytes"] / 1e6
        model.append([f"{n:,}", f"{old_mb:,.1f} MB", f"{n * per['rank0_old_ms'] / 1e3:.2f} s",
                      f"{new_mb:,.1f} MB", f"{n * per['rank0_new_ms'] / 1e3:.2f} s",
                      f"{per['leader_part_ms']:.2f} ms"])
    return "\n".join([
        "## Checkpoints without a rank-0 funnel", "",
        f"Measured {started} on {cpu_model()} with `python benchmarks/bench_checkpoint.py"
        f"{' --quick' if args.quick else ''}` (one process; real island states of Rastrigin-30, population 100, "
        f"hall of fame 10, from a {per['islands']}-island run of this checkout).", "",
        "Per island at a periodic checkpoint: what its leader sends to rank 0 (pickled, as MPI carries it) and "
        "rank 0's own CPU for it, through rank 0 (whole states gathered, unpickled, merged, pickled and hashed "
        "into one file: hpcevo 0.2) and with part files (the island's location and summary: hall of fame and "
        "counts; the manifest pickled and hashed). A leader's own work is its part: pickle, SHA-256, write, "
        "fsync.", "",
        table(["per island", "through rank 0", "part files", "ratio"], rows), "",
        f"A leader writes a one-island part in {per['leader_part_ms']:.2f} ms (fsync included, local disk); "
        f"leaders write in parallel, so on a shared filesystem the checkpoint's data term is the filesystem's "
        f"aggregate bandwidth, not one rank's.", "",
        "Model of one checkpoint, one island per leader (rank 0's received bytes and its CPU; the gather's "
        "transport and the filesystem's metadata cost of N part files are not included):", "",
        table(["islands", "through rank 0: bytes", "rank 0 CPU", "part files: bytes", "rank 0 CPU",
               "each leader's part"], model), "",
        "Rank 0 still receives one small entry per island (the hall of fame the outputs need is k individuals per "
        "island), so its work stays linear in N, with the smaller constants above; a tree reduction "
        "of the halls of fame would make it logarithmic but could keep a different one of two equal-fitness "
        "individuals than today's island-order merge, which would change hall_of_fame.json.",
    ]) + "\n"


def main():
    args = bench_args(__doc__, "8 islands, 5 repeats: a smoke run",
                      "timing repeats (default 30; 5 with --quick)")
    started = utc_now()
    with tempfile.TemporaryDirectory(prefix="hpcevo-checkpoint-") as folder:
        seen = measure(Path(folder), 8 if args.quick else 64, args.repeats or (5 if args.quick else 30))
    log(f"per island: {seen}")
    publish(report(seen, args, started), args, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
