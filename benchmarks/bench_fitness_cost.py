"""What the credible trading fitness costs: the default job's evolution loop side by side with a baseline commit.

Runs `python -m hpcevo run` (the built-in trading job, one rank) alternately from this checkout and from a
`git worktree` of the baseline commit (default: the last commit before the trading pipeline was rebuilt), with
the same population, generations and seeds, and compares the seconds per generation of the evolution loop
(summary.json's wall_seconds: start-up and the end-of-run report excluded) and the seconds the end-of-run
report took (the statistics on the final candidates). This checkout runs both its default objectives and the
baseline's (Sharpe, max drawdown, win rate: `-O objectives=classic`).

    python benchmarks/bench_fitness_cost.py --write            # full: 3 repeats x 60 generations
    python benchmarks/bench_fitness_cost.py --quick --baseline HEAD   # smoke
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, cpu_model, git_commit, log, median, package_version, publish, table, utc_now

BEGIN = ("<!-- bench_fitness_cost:begin (written by benchmarks/bench_fitness_cost.py --write; edits here are "
         "replaced) -->")
END = "<!-- bench_fitness_cost:end -->"
BASELINE = "dce7abf"  # main before the trading objectives, calendar and statistics of issue 10
SIZES = {"full": {"generations": 60, "population": 100, "islands": 4, "repeats": 3},
         "quick": {"generations": 4, "population": 16, "islands": 2, "repeats": 1}}


def _run(tree, out, size, seed, extra=()):
    cmd = [sys.executable, "-m", "hpcevo", "run", "--quiet", "--out", str(out), "--seed", str(seed),
           "--islands", str(size["islands"]), "--population", str(size["population"]),
           "--generations", str(size["generations"]), *extra]
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} in {tree} exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    shutil.rmtree(out)
    return {"loop": summary["wall_seconds"] / size["generations"], "evals": summary["evaluations"],
            "report": summary["seconds"]["output"], "wall": wall}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one repeat: a smoke run")
    parser.add_argument("--repeats", type=int, help="repeats (seeds 1..N) per variant")
    parser.add_argument("--baseline", default=BASELINE, help=f"commit to compare with (default {BASELINE})")
    parser.add_argument("--write", action="store_true", help="replace the marked section of BENCHMARKS.md")
    parser.add_argument("--benchmarks-file", default=str(ROOT / "BENCHMARKS.md"), help="file --write updates")
    args = parser.parse_args(argv)
    size = dict(SIZES["quick" if args.quick else "full"])
    if args.repeats:
        size["repeats"] = args.repeats
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="hpcevo-bench-"))
    base = tmp / "baseline"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline], check=True,
                   capture_output=True)
    variants = [("baseline (Sharpe, drawdown, win rate)", base, ()), ("this checkout, default objectives", ROOT, ()),
                ("this checkout, objectives = classic", ROOT, ("-O", "objectives=classic"))]
    results = {name: [] for name, _, _ in variants}
    try:
        for seed in range(1, size["repeats"] + 1):  # alternate, so a slow moment of the machine hits all alike
            for name, tree, extra in variants:
                results[name].append(_run(tree, tmp / "run", size, seed, extra))
                log(f"{name}, seed {seed}: {results[name][-1]}")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    ref = median([r["loop"] for r in results[variants[0][0]]])
    rows = []
    for name, _, _ in variants:
        loop = median([r["loop"] for r in results[name]])
        rows.append([name, f"{loop * 1000:.1f} ms", f"**{loop / ref:.2f}x**",
                     f"{median([r['evals'] for r in results[name]]):,.0f}",
                     f"{median([r['report'] for r in results[name]]):.2f} s"])
    worst = max(median([r["loop"] for r in results[n]]) for n, _, _ in variants[1:]) / ref
    verdict = "**met**" if worst <= 1.10 else "**not met**"
    command = "python benchmarks/bench_fitness_cost.py" + (" --quick" if args.quick else "") + \
        (f" --baseline {args.baseline}" if args.baseline != BASELINE else "") + " --write"
    text = (f"## Cost of the credible trading fitness (`benchmarks/bench_fitness_cost.py`)\n\n"
            f"- Command: `{command}` ({size['repeats']} repeat(s), seeds 1..{size['repeats']}, medians; took "
            f"{(time.perf_counter() - started) / 60:.1f} min)\n"
            f"- Date: {utc_now()}\n"
            f"- Machine: {os.cpu_count()} cores, {cpu_model()}; one rank per run, runs one after another\n"
            f"- Software: Python {sys.version.split()[0]}, numpy {package_version('numpy')}, deap "
            f"{package_version('deap')}, arch {package_version('arch')}; this checkout {git_commit()}, baseline "
            f"{args.baseline}\n"
            f"- Job: the built-in trading job (embedded S&P 500), {size['islands']} islands x {size['population']}, "
            f"{size['generations']} generations, NSGA-II\n\n"
            f"### Evolution loop per generation, side by side\n\n"
            + table(["variant", "loop / generation", "vs baseline", "evaluations", "end-of-run report"], rows)
            + f"\n\nRequirement: the loop slows by no more than 10% against the baseline: {verdict} (worst "
              f"{worst:.2f}x). The end-of-run report (candidates' backtests, PSR/DSR, bootstrap intervals, PBO, SPA) "
              f"runs once, after the loop; the baseline's wrote strategies.csv only.\n")
    publish(text, args, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
