"""What the credible trading fitness costs: the default job's evolution loop side by side with a baseline commit.

Runs the evolution loop of the built-in trading job (one process) alternately from this checkout and from a
`git worktree` of the baseline commit (default: the last commit before the trading pipeline was rebuilt), with
the same population, generations and seeds, and compares the CPU seconds per generation of the evolution
loop (`run_islands` in one process: start-up and outputs excluded), and reports the seconds the end-of-run report
takes (the statistics on the final candidates). This checkout runs both its default objectives and the
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


_DRIVER = """
import io, json, sys, time
from hpcevo.comm import SerialBackend, World
from hpcevo.config import load_config
from hpcevo.engine import run_islands
from hpcevo.problem import load_problem
settings = json.loads(sys.argv[1])
config = load_config(None, {"problem": "trading", "algorithm": "nsga2", "progress": False, **settings})
prob = load_problem(config.problem, config.problem_options, config.algorithm, config.on_error)
backend = SerialBackend(World())
with backend.serving(prob, config.chunksize) as evaluator:
    cpu, wall = time.process_time(), time.perf_counter()
    results = run_islands(config, prob, backend, evaluator, out=io.StringIO())
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
distinct = len({ind.fitness.values for i in results["islands"] for ind in i["population"]})
print(json.dumps({"cpu": cpu, "wall": wall, "evals": sum(i["evaluations"] for i in results["islands"]),
                  "distinct": distinct}))
"""


def _run(tree, size, seed, options):
    """The evolution loop (run_islands, in one process, no outputs) of one tree: CPU and wall seconds."""
    settings = {"seed": seed, "islands": size["islands"], "population": size["population"],
                "generations": size["generations"], "problem_options": options}
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _DRIVER, json.dumps(settings)], cwd=tree, env=env,
                          capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"the evolution loop in {tree} exited with {proc.returncode}:\n{proc.stderr[-3000:]}")
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"loop": got["cpu"] / size["generations"], "wall": got["wall"] / size["generations"],
            "evals": got["evals"], "distinct": got["distinct"]}


def _report_seconds(size):
    """summary.json's output seconds of one CLI run of this checkout (the end-of-run report included)."""
    out = Path(tempfile.mkdtemp(prefix="hpcevo-bench-report-")) / "run"
    cmd = [sys.executable, "-m", "hpcevo", "run", "--quiet", "--out", str(out), "--islands", str(size["islands"]),
           "--population", str(size["population"]), "--generations", str(size["generations"])]
    subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, capture_output=True,
                   timeout=1800)
    seconds = json.loads((out / "summary.json").read_text())["seconds"]["output"]
    shutil.rmtree(out.parent)
    return seconds


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
    variants = [("baseline (Sharpe, drawdown, win rate)", base, {}), ("this checkout, default objectives", ROOT, {}),
                ("this checkout, objectives = classic", ROOT, {"objectives": "classic"})]
    results = {name: [] for name, _, _ in variants}
    try:
        for seed in range(1, size["repeats"] + 1):  # alternate, so a slow moment of the machine hits all alike
            for name, tree, options in variants:
                results[name].append(_run(tree, size, seed, options))
                log(f"{name}, seed {seed}: {results[name][-1]}")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    report = _report_seconds(size)
    ref = median([r["loop"] for r in results[variants[0][0]]])
    rows = []
    for name, _, _ in variants:
        loop = median([r["loop"] for r in results[name]])
        ratios = [r["loop"] / b["loop"] for r, b in zip(results[name], results[variants[0][0]])]
        rows.append([name, f"{loop * 1000:.1f} ms", f"**{loop / ref:.2f}x**",
                     f"{min(ratios):.2f}-{max(ratios):.2f}x",
                     f"{median([r['wall'] for r in results[name]]) * 1000:.1f} ms",
                     f"{median([r['evals'] for r in results[name]]):,.0f}",
                     f"{median([r['distinct'] for r in results[name]]):,.0f} of "
                     f"{size['islands'] * size['population']}"])
    default = median([r["loop"] for r in results[variants[1][0]]]) / ref
    classic = median([r["loop"] for r in results[variants[2][0]]]) / ref
    verdict = "**met**" if default <= 1.10 else "**not met**"
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
            + table(["variant", "CPU / generation", "vs baseline", "per seed", "wall / generation", "evaluations",
                     "distinct fitnesses in the final populations"],
                    rows)
            + f"\n\nCPU = process time of `run_islands` in one process (no outputs), so another process on the "
              f"machine does not count; wall shown for reference. Requirement: the default job's loop slows by no "
              f"more than 10% against the baseline: {verdict} ({default:.2f}x). With the baseline's objectives "
              f"({classic:.2f}x) this checkout also keeps one tree per distinct signal before any duplicate, so its "
              f"populations hold more distinct strategies (last column) than the baseline's duplicate-filled ones, "
              f"and compute more indicators. The "
              f"end-of-run report of this checkout (candidates' backtests, effective trials, PSR/DSR, bootstrap "
              f"intervals, PBO, SPA) ran once after the loop, {report:.1f} s in a CLI run of the same size (the "
              f"baseline wrote strategies.csv only).\n")
    publish(text, args, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
