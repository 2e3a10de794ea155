#!/usr/bin/env python
"""Speed benchmarks of the hpcevo engine against DEAP, serially and over MPI ranks.

Sections (each printed as a Markdown table, every figure the median of --repeats runs):

1. One island, serial: hpcevo's loop against `deap.algorithms.eaSimple` with the same toolbox
   (OneMax-100, Rastrigin-30; population 1000, 50 generations, cxpb 0.7, mutpb 0.2), both in this
   process; plus both as whole processes (`python -m hpcevo run` against a script running eaSimple).
2. Two islands on `mpiexec -n 2` against the same two islands in one process, for cheap fitness and a
   1 ms fitness; context: eaSimple over the same total work with `multiprocessing.Pool(2).map` (and SCOOP
   with 2 workers when it is installed) against the builtin map.
3. Migration + gathering share of the evolution loop (summary.json `migration_share`), serially, on
   `-n 2` and on `-n 4` with 4 islands.

Runs that are compared are measured side by side in one invocation, in a rotating order, and ratios are
the median of the per-repeat ratios.  `--write` replaces the marked section of BENCHMARKS.md.

    .venv/bin/python benchmarks/bench_engine.py            # full run, about 6 minutes on 2 cores
    .venv/bin/python benchmarks/bench_engine.py --quick    # smoke run with small sizes, under a minute
    .venv/bin/python benchmarks/bench_engine.py --write    # and record the figures in BENCHMARKS.md
"""

import argparse
import gc
import io
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from harness import (
    PYTHON,
    ROOT,
    OtherLoad,
    cpu_model,
    git_commit,
    log,
    median,
    package_version,
    pick_size,
    publish,
    run_process,
    table,
    utc_now,
)

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # hpcevo and tests.support from this checkout, installed or not
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(PYTHON)) or shutil.which("mpiexec")
BEGIN = "<!-- bench_engine:begin (written by benchmarks/bench_engine.py --write; edits here are replaced) -->"
END = "<!-- bench_engine:end -->"

CXPB, MUTPB, SEED = 0.7, 0.2, 1
SLOW = "tests.support.factories:slow"
CHEAP = [("onemax", {"length": 100}, "OneMax-100"), ("rastrigin", {"dimension": 30}, "Rastrigin-30")]
EXPENSIVE = (SLOW, {"delay": 0.001, "dimension": 10}, "1 ms fitness")

# pop/gens: cheap problems (per island); slow_*: the 1 ms problem; scoop_gens: SCOOP on cheap fitness
# costs about 1 ms per individual, so it runs a few generations (paired with builtin map on the same size).
SIZES = {
    "full": {"pop": 1000, "gens": 50, "interval": 10, "slow_pop": 100, "slow_gens": 20, "scoop_gens": 2,
             "repeats": 3},
    "quick": {"pop": 100, "gens": 10, "interval": 5, "slow_pop": 20, "slow_gens": 4, "scoop_gens": 1,
              "repeats": 1},
}

TARGET_SERIAL = (1.0, 2.0)  # hpcevo / eaSimple speed: must be no slower, goal 2x
TARGET_MPI = 1.8  # -n 2 over serial, two islands
TARGET_MIGRATION = 0.02  # migration + gathering share of the loop


# -- small helpers ----------------------------------------------------------------------------------

def paired(a_runs, b_runs, key_a, key_b=None):
    """Median and range of the per-repeat ratios a/b (runs measured side by side)."""
    key_b = key_b or key_a
    ratios = [a[key_a] / b[key_b] for a, b in zip(a_runs, b_runs)]
    return median(ratios), min(ratios), max(ratios)


def fmt_s(runs, key):
    return f"{median(r[key] for r in runs):.2f}s"


def fmt_ratio(stat):
    mid, lo, hi = stat
    return f"**{mid:.2f}x**" if lo == hi else f"**{mid:.2f}x** ({lo:.2f}-{hi:.2f})"


def options_text(options):
    return ", ".join(f"{k}={v}" for k, v in options.items())


def last_json(stdout):
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON result in output:\n{stdout[-2000:]}")


def measure(label, variants, repeats):
    """Run each variant `repeats` times, rotating the order each repeat; returns name -> list of results."""
    names = list(variants)
    results = {name: [] for name in names}
    for rep in range(repeats):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            result = variants[name]()
            results[name].append(result)
            shown = ", ".join(f"{k} {v:.3f}" for k, v in result.items() if isinstance(v, float))
            log(f"  [{rep + 1}/{repeats}] {label} / {name}: {shown}")
    return results


# -- what gets timed ---------------------------------------------------------------------------------

def factory(name):
    from hpcevo.problems import BUILTIN

    if name in BUILTIN:
        return BUILTIN[name][0]
    module, _, attr = name.partition(":")
    import importlib

    return getattr(importlib.import_module(module), attr)


def easimple_inprocess(problem, options, pop, gens):
    """eaSimple from population creation to the end (hpcevo's loop also creates its population)."""
    from deap import algorithms

    toolbox = factory(problem)(**options)
    random.seed(SEED)
    gc.collect()
    c0, t0 = time.process_time(), time.perf_counter()
    population = toolbox.population(pop)
    _, logbook = algorithms.eaSimple(population, toolbox, CXPB, MUTPB, gens, verbose=False)
    return {"loop": time.perf_counter() - t0, "cpu": time.process_time() - c0,
            "evaluations": sum(logbook.select("nevals"))}


def hpcevo_inprocess(problem, options, pop, gens):
    """hpcevo's serial loop (run_islands on the serial backend), one island, no migration."""
    from hpcevo.comm import SerialBackend, World
    from hpcevo.config import load_config
    from hpcevo.engine import run_islands
    from hpcevo.problem import load_problem

    config = load_config(None, {"problem": problem, "problem_options": options, "islands": 1, "population": pop,
                                "generations": gens, "migration_interval": gens, "algorithm": "simple",
                                "cxpb": CXPB, "mutpb": MUTPB, "seed": SEED, "progress": False})
    prob = load_problem(config.problem, config.problem_options, config.algorithm)
    backend = SerialBackend(World())
    gc.collect()
    with backend.serving(prob, config.chunksize) as evaluator:
        c0, t0 = time.process_time(), time.perf_counter()
        results = run_islands(config, prob, backend, evaluator, out=io.StringIO())
        loop, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"loop": loop, "cpu": cpu, "evaluations": sum(r["evaluations"] for r in results["islands"])}


class Cli:
    """`python -m hpcevo run ...` as a whole process, serially or under mpiexec; reads summary.json."""

    def __init__(self, workdir):
        self.workdir = Path(workdir)
        self.count = 0
        self.versions = None
        self.collect = None  # optional (run folder, summary) -> dict added to each result, before the folder goes

    def __call__(self, problem, options, islands, pop, gens, interval, ranks=None, extra=()):
        self.count += 1
        out = self.workdir / f"run{self.count}"
        cmd = [PYTHON, "-m", "hpcevo", "run", "--problem", problem]
        for key, value in options.items():
            cmd += ["-O", f"{key}={value}"]
        cmd += ["--islands", str(islands), "--population", str(pop), "--generations", str(gens),
                "--migration-interval", str(interval), "--algorithm", "simple", "--cxpb", str(CXPB),
                "--mutpb", str(MUTPB), "--seed", str(SEED), "--out", str(out), "--quiet", *extra]
        if ranks:
            if MPIEXEC is None:
                raise RuntimeError("mpiexec not found next to this Python nor on PATH (pip install mpich)")
            cmd = [MPIEXEC, "-n", str(ranks), *cmd]
        wall, cpu, _ = run_process(cmd)
        summary = json.loads((out / "summary.json").read_text())
        collected = self.collect(out, summary) if self.collect else {}
        shutil.rmtree(out)
        if ranks:
            self.versions = summary.get("versions")
        return {"loop": summary["wall_seconds"], "process": wall, "process_cpu": cpu,
                "migration": summary["seconds"]["migration"], "migration_share": summary["migration_share"],
                "waiting_share": summary["waiting_share"], "evaluations": summary["evaluations"], **collected}


def deap_process(problem, options, pop, gens, mapper, workers=2, paired_builtin=False):
    """eaSimple in a fresh process (`--child-deap`), with builtin map, Pool(workers).map or SCOOP.

    With `paired_builtin` (SCOOP only) the child first times builtin map on the same size ("builtin").
    """
    spec = json.dumps({"problem": problem, "options": options, "pop": pop, "gens": gens, "map": mapper,
                       "workers": workers, "paired_builtin": paired_builtin})
    cmd = [PYTHON, str(Path(__file__).resolve()), "--child-deap", spec]
    if mapper == "scoop":
        cmd = [PYTHON, "-m", "scoop", "-n", str(workers), *cmd[1:]]
    wall, cpu, stdout = run_process(cmd)
    result = last_json(stdout)
    result["process"], result["process_cpu"] = wall, cpu
    return result


def child_deap(spec):
    """Body of `--child-deap SPEC`: time eaSimple (population creation included) and print JSON."""
    spec = json.loads(spec)
    toolbox = factory(spec["problem"])(**spec["options"])
    from deap import algorithms

    def timed():
        random.seed(SEED)
        gc.collect()
        t0 = time.perf_counter()
        population = toolbox.population(spec["pop"])
        _, logbook = algorithms.eaSimple(population, toolbox, CXPB, MUTPB, spec["gens"], verbose=False)
        return time.perf_counter() - t0, sum(logbook.select("nevals"))

    result = {}
    if spec["map"] == "pool":
        import multiprocessing

        with multiprocessing.Pool(spec["workers"]) as pool:  # started before the clock, as a user would
            toolbox.register("map", pool.map)
            result["loop"], result["evaluations"] = timed()
    elif spec["map"] == "scoop":
        from scoop import futures

        if spec["paired_builtin"]:  # builtin map and futures.map side by side in this process
            result["builtin"], result["evaluations"] = timed()
        toolbox.register("map", futures.map)
        result["loop"], _ = timed()
    else:
        result["loop"], result["evaluations"] = timed()
    print(json.dumps(result), flush=True)


def scoop_available():
    try:
        metadata.version("scoop")
        return True
    except metadata.PackageNotFoundError:
        return False


# -- the three sections ------------------------------------------------------------------------------

def _noise(lo, hi, thresholds, unit="x", scale=1.0):
    """A note when the per-repeat range straddles a threshold: the verdict could flip on a rerun."""
    crossed = [t for t in thresholds if lo < t <= hi]
    if not crossed:
        return ""
    return (f"; borderline: the repeats range {lo * scale:.2f}-{hi * scale:.2f}{unit}, across "
            f"{crossed[0] * scale:g}{unit}")


def verdict_serial(name, stat):
    ratio, lo, hi = stat
    low, goal = TARGET_SERIAL
    note = _noise(lo, hi, (low, goal))
    if ratio >= goal:
        return f"{name}: **met**, {ratio:.2f}x >= {goal:g}x goal (so no slower too){note}"
    if ratio >= low:
        return (f"{name}: no-slower target **met** ({ratio:.2f}x); {goal:g}x goal **not met** "
                f"({(1 - ratio / goal) * 100:.0f}% short){note}")
    return f"{name}: **not met**, hpcevo is {1 / ratio:.2f}x slower than eaSimple ({ratio:.2f}x){note}"


def verdict_speedup(name, stat, target):
    ratio, lo, hi = stat
    note = _noise(lo, hi, (target,))
    if ratio >= target:
        return f"{name}: **met**, {ratio:.2f}x >= {target:g}x ({(ratio / target - 1) * 100:.0f}% margin){note}"
    return f"{name}: **not met**, {ratio:.2f}x < {target:g}x ({(1 - ratio / target) * 100:.0f}% short){note}"


def verdict_share(name, values):
    share = median(values)
    note = _noise(min(values), max(values), (TARGET_MIGRATION,), "%", 100)
    if share < TARGET_MIGRATION:
        return f"{name}: **met**, {share * 100:.2f}% < {TARGET_MIGRATION * 100:g}%{note}"
    return (f"{name}: **not met**, {share * 100:.2f}% >= {TARGET_MIGRATION * 100:g}% "
            f"({share / TARGET_MIGRATION:.1f}x the target){note}")


def section_serial(size, cli):
    pop, gens, reps = size["pop"], size["gens"], size["repeats"]
    rows, proc_rows, verdicts = [], [], []
    for problem, options, label in CHEAP:
        res = measure(f"serial {label}", {
            "eaSimple": lambda: easimple_inprocess(problem, options, pop, gens),
            "hpcevo": lambda: hpcevo_inprocess(problem, options, pop, gens),
            "eaSimple process": lambda: deap_process(problem, options, pop, gens, "builtin"),
            "hpcevo CLI": lambda: cli(problem, options, 1, pop, gens, gens),
        }, reps)
        ratio = paired(res["eaSimple"], res["hpcevo"], "loop")
        cpu = paired(res["eaSimple"], res["hpcevo"], "cpu")
        rows.append([label, fmt_s(res["eaSimple"], "loop"), fmt_s(res["hpcevo"], "loop"), fmt_ratio(ratio),
                     fmt_ratio(cpu)])
        proc = paired(res["eaSimple process"], res["hpcevo CLI"], "process")
        proc_cpu = paired(res["eaSimple process"], res["hpcevo CLI"], "process_cpu")
        strict = paired(res["eaSimple"], res["hpcevo CLI"], "loop", "process")
        proc_rows.append([label, fmt_s(res["eaSimple process"], "process"), fmt_s(res["hpcevo CLI"], "process"),
                          fmt_ratio(proc), fmt_ratio(proc_cpu), fmt_ratio(strict)])
        verdicts.append(verdict_serial(f"{label}, in-process", ratio) + f" (CPU-time ratio {cpu[0]:.2f}x)")
        verdicts.append(verdict_serial(f"{label}, whole processes", proc) + f" (CPU-time ratio {proc_cpu[0]:.2f}x;"
                        f" eaSimple in-process against the whole hpcevo CLI process: {strict[0]:.2f}x)")
    text = (f"### 1. One island, serial: hpcevo vs `deap.algorithms.eaSimple`\n\n"
            f"Population {pop}, {gens} generations, cxpb {CXPB}, mutpb {MUTPB}, seed {SEED}; the same toolbox "
            f"(`hpcevo.problems`): eaSimple maps its `evaluate` over the individuals, as DEAP does, and hpcevo hands "
            f"each generation to its `evaluate_batch` where it has one (Rastrigin's: the floats of `evaluate`, a "
            f"generation per NumPy call; `benchmarks/bench_batch.py` measures what that alone gives). "
            f"Ratio = eaSimple time / hpcevo time (> 1: hpcevo faster); the CPU-time ratio "
            f"uses the processor time of the same runs, which other processes on a shared machine barely move."
            f"\n\nIn one process: eaSimple timed from `toolbox.population()` to its end (without stats or hall of "
            f"fame), against hpcevo's `run_islands` on the serial backend (1 island, no migration; it also keeps a "
            f"logbook with min/max/avg/std and a hall of fame).\n\n")
    text += table(["Problem", "eaSimple", "hpcevo", "ratio", "CPU-time ratio"], rows)
    text += ("\n\nWhole processes: a script running the same eaSimple against `python -m hpcevo run ... "
             "--islands 1` (start-up, problem checks and output files included). The last column is the "
             "strictest: eaSimple's in-process time against the whole hpcevo process.\n\n")
    text += table(["Problem", "eaSimple script", "hpcevo CLI", "ratio", "CPU-time ratio",
                   "eaSimple in-process / hpcevo CLI"], proc_rows)
    text += "\n\nTarget: no slower (ratio >= 1), goal 2x.\n\n" + "\n".join(f"- {v}" for v in verdicts)
    return text


def section_mpi(size, cli):
    reps, interval = size["repeats"], size["interval"]
    cases = [(problem, options, label, size["pop"], size["gens"]) for problem, options, label in CHEAP]
    cases.append((*EXPENSIVE, size["slow_pop"], size["slow_gens"]))
    rows, ctx_rows, scoop_rows, verdicts, shares = [], [], [], [], {}
    use_scoop = scoop_available()
    for problem, options, label, pop, gens in cases:
        variants = {
            "serial": lambda: cli(problem, options, 2, pop, gens, interval),
            "mpiexec -n 2": lambda: cli(problem, options, 2, pop, gens, interval, ranks=2),
            "eaSimple map": lambda: deap_process(problem, options, 2 * pop, gens, "builtin"),
            "eaSimple Pool(2)": lambda: deap_process(problem, options, 2 * pop, gens, "pool"),
        }
        if use_scoop and problem == SLOW:  # full size, against the builtin-map run above
            variants["eaSimple SCOOP"] = lambda: deap_process(problem, options, 2 * pop, gens, "scoop")
        res = measure(f"2 islands {label}", variants, reps)
        loop = paired(res["serial"], res["mpiexec -n 2"], "loop")
        proc = paired(res["serial"], res["mpiexec -n 2"], "process")
        rows.append([label, f"2 x {pop}, {gens} gens", fmt_s(res["serial"], "loop"),
                     fmt_s(res["mpiexec -n 2"], "loop"), fmt_ratio(loop), fmt_s(res["serial"], "process"),
                     fmt_s(res["mpiexec -n 2"], "process"), fmt_ratio(proc)])
        verdicts.append(verdict_speedup(f"{label}, evolution loop", loop, TARGET_MPI))
        verdicts.append(verdict_speedup(f"{label}, whole process", proc, TARGET_MPI))
        pool_loop = paired(res["eaSimple map"], res["eaSimple Pool(2)"], "loop")
        pool_proc = paired(res["eaSimple map"], res["eaSimple Pool(2)"], "process")
        ctx_rows.append([label, f"{2 * pop}, {gens} gens", fmt_s(res["eaSimple map"], "loop"),
                         fmt_s(res["eaSimple Pool(2)"], "loop"), fmt_ratio(pool_loop), fmt_ratio(pool_proc),
                         fmt_ratio(paired(res["eaSimple map"], res["mpiexec -n 2"], "loop"))])
        shares[label] = {"serial": res["serial"], "mpiexec -n 2": res["mpiexec -n 2"]}
        if use_scoop and problem == SLOW:
            runs = res["eaSimple SCOOP"]
            scoop_rows.append([label, f"{2 * pop}, {gens} gens", fmt_s(res["eaSimple map"], "loop"),
                               fmt_s(runs, "loop"), fmt_ratio(paired(res["eaSimple map"], runs, "loop"))])
        elif use_scoop:  # ~1 ms per future: a few generations, builtin map timed in the same process
            sgens = size["scoop_gens"]
            runs = measure(f"SCOOP {label}", {"scoop": lambda: deap_process(problem, options, 2 * pop, sgens,
                                                                            "scoop", paired_builtin=True)},
                           reps)["scoop"]
            scoop_rows.append([label, f"{2 * pop}, {sgens} gens", fmt_s(runs, "builtin"), fmt_s(runs, "loop"),
                               fmt_ratio(paired(runs, runs, "builtin", "loop"))])
    text = (f"### 2. Two islands: `mpiexec -n 2` vs one process\n\n"
            f"`python -m hpcevo run --islands 2`, migration every {interval} generations, serially and under "
            f"`mpiexec -n 2` (one island per rank; identical results). Loop = summary.json `wall_seconds` "
            f"(the evolution loop); process = the whole command, start-up and `mpiexec` included. "
            f"Speedup = serial time / `-n 2` time. The 1 ms fitness is `{SLOW}` "
            f"({options_text(EXPENSIVE[1])}), which sleeps 1 ms per evaluation.\n\n")
    text += table(["Problem", "islands x pop", "serial loop", "-n 2 loop", "speedup (loop)", "serial process",
                   "-n 2 process", "speedup (process)"], rows)
    text += (f"\n\nTarget: at least {TARGET_MPI:g}x faster on `-n 2`.\n\n" + "\n".join(f"- {v}" for v in verdicts))
    text += ("\n\nContext, plain DEAP over the same total work: eaSimple with one population of 2 x pop, each in a "
             "fresh process, `toolbox.map` = builtin `map` vs `multiprocessing.Pool(2).map` (pool started "
             "before the clock). Speedup = builtin-map time / Pool(2) time; the last column is builtin-map "
             "eaSimple's loop over hpcevo's `-n 2` loop.\n\n")
    text += table(["Problem", "population", "eaSimple map", "eaSimple Pool(2)", "Pool(2) speedup (loop)",
                   "Pool(2) speedup (process)", "eaSimple map / hpcevo -n 2"], ctx_rows)
    if use_scoop:
        text += (f"\n\nSCOOP {metadata.version('scoop')} (`python -m scoop -n 2`, `toolbox.map = futures.map`, "
                 f"one future per individual), loop times. On cheap fitness SCOOP costs about a millisecond per "
                 f"individual, so there it runs only {size['scoop_gens']} generation(s), with builtin map timed "
                 f"on the same size in the same process; the 1 ms fitness runs the full size, against the "
                 f"builtin-map runs above. Speedup = builtin map / SCOOP.\n\n")
        text += table(["Problem", "population", "eaSimple map", "eaSimple SCOOP", "SCOOP speedup"], scoop_rows)
    else:
        text += "\n\nSCOOP: skipped (not installed; `pip install scoop` to include it)."
    return text, shares


def section_migration(size, cli, shares):
    reps, interval = size["repeats"], size["interval"]
    cases = [(problem, options, label, size["pop"], size["gens"]) for problem, options, label in CHEAP]
    cases.append((*EXPENSIVE, size["slow_pop"], size["slow_gens"]))
    rows, verdicts = [], []
    for problem, options, label, pop, gens in cases:
        res = measure(f"4 islands {label}", {"mpiexec -n 4": lambda: cli(problem, options, 4, pop, gens, interval,
                                                                          ranks=4)}, reps)
        modes = [("serial", 2, 1, shares[label]["serial"]), ("mpiexec -n 2", 2, 2, shares[label]["mpiexec -n 2"]),
                 ("mpiexec -n 4", 4, 4, res["mpiexec -n 4"])]
        for mode, islands, _ranks, runs in modes:
            values = [r["migration_share"] for r in runs]
            share = median(values)
            spread = f"{min(values) * 100:.2f}-{max(values) * 100:.2f}%" if len(values) > 1 else ""
            waiting = median(r["waiting_share"] for r in runs)
            rows.append([label, mode, f"{islands} x {pop}", f"**{share * 100:.2f}%**", spread, f"{waiting * 100:.2f}%",
                         f"{median(r['migration'] for r in runs):.3f}s", fmt_s(runs, "loop"),
                         "met" if share < TARGET_MIGRATION else "not met"])
            verdicts.append(verdict_share(f"{label}, {mode}", values))
    text = (f"### 3. Migration and gathering share of the evolution loop\n\n"
            f"summary.json `migration_share` = rank 0's time from the end of an epoch's evolution to the islands "
            f"receiving immigrants (emigrant selection, gather of emigrants and status through rank 0, "
            f"routing, scatter, replacement), summed over epochs, over `wall_seconds`, less the time rank 0 "
            f"waits at the gather for a slower leader; that wait is `waiting_share` (load imbalance: islands "
            f"evaluate different numbers of offspring per epoch, and a rank of a busy machine can be "
            f"descheduled), estimated from each leader's own epoch time. Migration every {interval} "
            f"generations, {size['gens']} generations (1 ms fitness: {size['slow_gens']}). Serial and `-n 2` "
            f"rows are the runs of section 2; `-n 4` runs 4 islands on 4 ranks, which oversubscribes a "
            f"2-core machine.\n\n")
    text += table(["Problem", "mode", "islands x pop", "migration share", "range", "waiting share", "migration s",
                   "loop",
                   f"< {TARGET_MIGRATION * 100:g}%"], rows)
    text += f"\n\nTarget: below {TARGET_MIGRATION * 100:g}%.\n\n" + "\n".join(f"- {v}" for v in verdicts)
    return text


# -- the machine, and BENCHMARKS.md ------------------------------------------------------------------

def machine(cli):
    cpu = cpu_model()
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count()
    mpi = (cli.versions or {}).get("mpi")
    if not mpi:
        try:
            mpi = run_process([PYTHON, "-c", "from mpi4py import MPI; print(MPI.Get_library_version().splitlines()[0])"]
                              )[2].strip()
        except Exception:  # noqa: BLE001 - only a label
            mpi = "unknown"
    commit = git_commit(tracked_only=True)
    return {"nproc": nproc, "cpu": cpu, "python": platform.python_version(), "numpy": package_version("numpy"),
            "deap": package_version("deap"), "mpi4py": package_version("mpi4py"), "mpi": " ".join(mpi.split()),
            "scoop": package_version("scoop"), "hpcevo": f"{package_version('hpcevo')}, commit {commit}",
            "os": f"{platform.system()} {platform.release()}"}


def report(args, size, info, started, load, other, seconds, sections):
    mode = "quick (smoke sizes, not comparable with the full figures)" if args.quick else "full"
    command = "python benchmarks/bench_engine.py" + (" --quick" if args.quick else "") + (
        f" --repeats {args.repeats}" if args.repeats else "") + (
        f" --sections {args.sections}" if args.sections != "1,2,3" else "") + (" --write" if args.write else "")
    head = (f"## Engine speed (`benchmarks/bench_engine.py`)\n\n"
            f"- Command: `{command}` ({mode}; {size['repeats']} repeat(s), median shown, per-repeat "
            f"ratio range in brackets; took {seconds / 60:.1f} min)\n"
            f"- Date: {started}\n"
            f"- Machine: {info['nproc']} cores (`nproc`), {info['cpu']}, {info['os']}; load average "
            f"{load[0]:.2f} at start, {load[1]:.2f} at end\n"
            f"- CPU taken by others while measuring (cores, on average; steal = hypervisor time given to other "
            f"virtual machines): {other.text()}\n"
            f"- Software: Python {info['python']}, numpy {info['numpy']}, deap {info['deap']}, mpi4py "
            f"{info['mpi4py']}, {info['mpi']}, scoop {info['scoop']}; hpcevo {info['hpcevo']}\n")
    return head + "\n" + "\n\n".join(sections) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat: a smoke run under a minute")
    parser.add_argument("--repeats", type=int, help="repeats per measurement (default 3, --quick 1)")
    parser.add_argument("--write", action="store_true", help="replace the marked section of BENCHMARKS.md")
    parser.add_argument("--benchmarks-file", default=str(ROOT / "BENCHMARKS.md"), help="file --write updates")
    parser.add_argument("--sections", default="1,2,3", help="comma-separated sections to run (3 needs 2)")
    parser.add_argument("--child-deap", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_deap:
        child_deap(args.child_deap)
        return 0
    size = pick_size(SIZES, args)
    wanted = {s.strip() for s in args.sections.split(",")}
    if "3" in wanted:
        wanted.add("2")
    started = utc_now()
    load_start = os.getloadavg()[0]
    t0 = time.perf_counter()
    sections, other = [], OtherLoad()
    with tempfile.TemporaryDirectory(prefix="hpcevo-bench-") as tmp:
        cli = Cli(tmp)
        if "1" in wanted:
            log("section 1: one island, serial, hpcevo vs eaSimple")
            other.start("1")
            sections.append(section_serial(size, cli))
            other.stop()
            print(sections[-1] + "\n", flush=True)
        if "2" in wanted:
            log("section 2: two islands, mpiexec -n 2 vs one process")
            other.start("2")
            text, shares = section_mpi(size, cli)
            other.stop()
            sections.append(text)
            print(sections[-1] + "\n", flush=True)
        if "3" in wanted:
            log("section 3: migration share")
            other.start("3")
            sections.append(section_migration(size, cli, shares))
            other.stop()
            print(sections[-1] + "\n", flush=True)
        info = machine(cli)
    seconds = time.perf_counter() - t0
    text = report(args, size, info, started, (load_start, os.getloadavg()[0]), other, seconds, sections)
    publish(text, args, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
