"""Soak: a long run at small size under `mpiexec -n 4` (an epoch every generation, frequent checkpoints),
sampling every rank's resident memory and the checkpoint's size, to show neither grows with the run's length.

    .venv/bin/python benchmarks/soak.py --epochs 5000            # prints a JSON summary
    .venv/bin/python benchmarks/soak.py --epochs 5000 --markdown # and a Markdown paragraph

tests/test_soak.py runs it at a smaller size and checks the limits.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _mpiexec():
    return shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")


def _ranks(run_dir):
    """{rank: pid} from the ranks.csv the run writes at its start."""
    path = Path(run_dir) / "ranks.csv"
    rows = path.read_text().splitlines()[1:] if path.exists() else []
    return {int(row.split(",")[0]): int(row.split(",")[2]) for row in rows}


def _rss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def soak(epochs, ranks=4, checkpoint_every=5, population=8, interval=0.2, timeout=1800):
    """Run the soak; returns a dict of samples and summary figures."""
    work = Path(tempfile.mkdtemp(prefix="hpcevo-soak-"))
    run_dir = work / "run"
    cmd = [_mpiexec(), "-n", str(ranks), sys.executable, "-m", "hpcevo", "run", "--problem", "onemax",
           "-O", "length=20", "--islands", str(ranks), "--population", str(population), "--migrants", "2",
           "--generations", str(epochs), "--migration-interval", "1", "--checkpoint-every", str(checkpoint_every),
           "--topology", "random", "--quiet", "--out", str(run_dir)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPIEXEC_TIMEOUT": str(timeout)}
    samples = []  # (seconds, generation in the checkpoint, {rank: rss KiB}, checkpoint bytes)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    done = threading.Event()

    def sample():
        pids = {}
        while not done.is_set():
            if len(pids) < ranks:
                pids = _ranks(run_dir)
            rss = {rank: _rss_kib(pid) for rank, pid in pids.items()}
            checkpoint = run_dir / "checkpoint.pkl"
            size = checkpoint.stat().st_size if checkpoint.exists() else None
            if pids and all(v is not None for v in rss.values()):
                samples.append((time.monotonic() - started, rss, size))
            done.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        done.set()
        sampler.join()
        if proc.poll() is None:
            proc.kill()
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(f"soak run failed with status {proc.returncode}:\n{err[-3000:]}")
    summary = json.loads((run_dir / "summary.json").read_text())
    shutil.rmtree(work, ignore_errors=True)
    return _figures(samples, epochs, ranks, checkpoint_every, wall, summary)


def _figures(samples, epochs, ranks, checkpoint_every, wall, summary):
    """Memory at a quarter of the run vs at its end, per rank; checkpoint sizes after the first quarter.

    The run counts from its first checkpoint: before it the ranks are still importing and building the problem."""
    peak_all = samples
    samples = [s for s in samples if s[2] is not None]
    if len(samples) < 8:
        raise RuntimeError(f"only {len(samples)} memory samples after the first checkpoint: run more epochs")
    quarter = samples[len(samples) // 4:]
    first, last = quarter[0][1], quarter[-1][1]
    drift = {rank: (last[rank] - first[rank]) / 1024 for rank in first if rank in last}
    peak = {rank: max(s[1][rank] for s in peak_all if rank in s[1]) / 1024 for rank in first}
    sizes = [s[2] for s in quarter if s[2] is not None]
    return {
        "epochs": epochs, "ranks": ranks, "checkpoint_every": checkpoint_every, "wall_seconds": round(wall, 1),
        "checkpoints": epochs // checkpoint_every, "samples": len(samples),
        "rss_mib_at_quarter": {r: round(v / 1024, 1) for r, v in first.items()},
        "rss_mib_at_end": {r: round(v / 1024, 1) for r, v in last.items()},
        "rss_drift_mib": {r: round(v, 2) for r, v in drift.items()},
        "rss_peak_mib": {r: round(v, 1) for r, v in peak.items()},
        "checkpoint_bytes_min": min(sizes) if sizes else None, "checkpoint_bytes_max": max(sizes) if sizes else None,
        "evaluations": summary["evaluations"], "status": summary["status"],
        "checkpoint_seconds": round(summary["seconds"]["checkpoint"], 2),
    }


def markdown(fig, command):
    drift = max(fig["rss_drift_mib"].values())
    end = fig["rss_mib_at_end"]
    per_rank = ", ".join(f"rank {r} {a} -> {end[r]} MiB" for r, a in fig["rss_mib_at_quarter"].items())
    return (f"Soak (`{command}`): {fig['epochs']:,} epochs of one generation each on {fig['ranks']} ranks, a "
            f"checkpoint every {fig['checkpoint_every']} epochs ({fig['checkpoints']:,} checkpoints), "
            f"{fig['evaluations']:,} evaluations in {fig['wall_seconds']} s. Resident memory per rank from a quarter "
            f"of the run (counted from its first checkpoint) to its end: {per_rank} (largest drift {drift:+.2f} "
            f"MiB); checkpoint size {fig['checkpoint_bytes_min']:,} to {fig['checkpoint_bytes_max']:,} bytes over "
            f"the same span.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5000)
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--checkpoint-every", type=int, default=5)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    fig = soak(args.epochs, args.ranks, args.checkpoint_every)
    print(json.dumps(fig, indent=1))
    if args.markdown:
        print(markdown(fig, "python benchmarks/soak.py " + " ".join(argv if argv is not None else sys.argv[1:])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
