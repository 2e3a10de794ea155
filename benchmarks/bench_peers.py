#!/usr/bin/env python
"""hpcevo against the tools a user would pick instead, side by side in one run, on three workloads.

For each workload (Rastrigin-30, a 1 ms fitness, the trading problem) the same total population,
generations and operators (cxpb 0.7, mutpb 0.2, the toolbox hpcevo's factory builds) run as:

- DEAP `eaSimple` with the builtin `map`, with `multiprocessing.Pool(2).map`, and with SCOOP
  (`python -m scoop -n 2`, `futures.map`; if installed);
- hpcevo, `python -m hpcevo run --islands 2 --algorithm simple`, in one process and on `mpiexec -n 2`;
- pygmo's archipelago (if installed: `pip install pygmo`; never a dependency of hpcevo): 2 islands in a ring,
  its own algorithm (`pg.sga`), the same fitness code wrapped as a pygmo problem, `mp_island` processes;
  for Rastrigin also pygmo's C++ `pg.rastrigin` on thread islands, as context. The algorithm differs, so
  only evaluations per second and time-to-target compare.

Reported: evaluations, loop and whole-process wall time, evaluations per second, their ratio to eaSimple with
the builtin map (median of per-repeat ratios, runs measured in a rotating order), and for the single-objective
workloads the time until the best fitness so far drops below the best value every method reaches.

    .venv/bin/python benchmarks/bench_peers.py            # full run, about 4 minutes on 2 cores
    .venv/bin/python benchmarks/bench_peers.py --quick    # smoke run with small sizes, under a minute
    .venv/bin/python benchmarks/bench_peers.py --write    # and record the figures in BENCHMARKS.md
"""

import argparse
import csv
import functools
import gc
import json
import math
import os
import random
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import bench_engine as engine
from harness import (
    PYTHON,
    ROOT,
    OtherLoad,
    log,
    median,
    pick_size,
    publish,
    run_process,
    table,
    utc_now,
)

BEGIN = "<!-- bench_peers:begin (written by benchmarks/bench_peers.py --write; edits here are replaced) -->"
END = "<!-- bench_peers:end -->"
CXPB, MUTPB, SEED = engine.CXPB, engine.MUTPB, engine.SEED
ISLANDS = 2  # hpcevo and pygmo: islands of pop each; eaSimple: one population of ISLANDS * pop

# name, problem, options, per-island population key, generations key, single objective (time-to-target)?
WORKLOADS = [
    ("Rastrigin-30", "rastrigin", {"dimension": 30}, "pop", "gens", True),
    ("1 ms fitness", engine.SLOW, {"delay": 0.001, "dimension": 10}, "slow_pop", "slow_gens", True),
    ("trading", "trading", {}, "trading_pop", "trading_gens", False),
]
# scoop_gens: SCOOP costs about 1 ms per future, so on the cheap and trading workloads it runs a few
# generations only (builtin map timed on the same size in the same process); on trading also a smaller
# population (scoop_trading_pop per island: there each future carries the whole trading context).
SIZES = {
    "full": {"pop": 1000, "gens": 50, "interval": 10, "slow_pop": 100, "slow_gens": 20, "trading_pop": 200,
             "trading_gens": 20, "scoop_gens": 2, "scoop_trading_pop": 20, "repeats": 3},
    "quick": {"pop": 40, "gens": 4, "interval": 2, "slow_pop": 10, "slow_gens": 2, "trading_pop": 16,
              "trading_gens": 2, "scoop_gens": 1, "scoop_trading_pop": 4, "repeats": 1},
}


# -- pieces that cross processes (module level, so workers import them by name) ---------------------

def penalized(individual, evaluate, penalty):
    """What an eaSimple user must wrap around the trading evaluate: hpcevo gives rejected or failing
    strategies the penalty fitness (on_error = penalize); eaSimple would stop at the first exception."""
    try:
        return evaluate(individual)
    except Exception:  # noqa: BLE001 - Rejected and evaluation errors alike, as hpcevo does
        return penalty


class PygmoProblem:
    """A pygmo user-defined problem around hpcevo's own Rastrigin code (optionally sleeping per call)."""

    def __init__(self, dimension, delay=0.0):
        self.dimension, self.delay = dimension, delay

    def fitness(self, x):
        from hpcevo.problems.functions import eval_rastrigin

        if self.delay:
            time.sleep(self.delay)
        return list(eval_rastrigin(x))

    def get_bounds(self):
        return [-5.12] * self.dimension, [5.12] * self.dimension

    def get_name(self):
        return f"hpcevo Rastrigin-{self.dimension}" + (f", sleeping {self.delay}s" if self.delay else "")


# -- children: eaSimple and pygmo in fresh processes -------------------------------------------------

def _first(ind):
    return ind.fitness.values[0]


def _now(_values):
    return time.perf_counter()


def child_easimple(spec):
    """Body of `--child-easimple SPEC`: eaSimple (population creation included) under one map; prints JSON.

    Single-objective runs also log, per generation, the best fitness and when it was known."""
    from bench_peers import penalized as wrap  # by module name, so SCOOP workers can unpickle it
    from deap import algorithms, tools

    toolbox = engine.factory(spec["problem"])(**spec["options"])
    penalty = getattr(toolbox, "penalty", None)
    if penalty is not None:
        toolbox.register("evaluate", wrap, evaluate=toolbox.evaluate, penalty=penalty)

    def timed():
        random.seed(SEED)
        gc.collect()
        stats = None
        if spec["track"]:
            stats = tools.Statistics(_first)
            stats.register("min", min)
            stats.register("t", _now)
        t0 = time.perf_counter()
        population = toolbox.population(spec["pop"])
        _, logbook = algorithms.eaSimple(population, toolbox, CXPB, MUTPB, spec["gens"], stats=stats, verbose=False)
        loop = time.perf_counter() - t0
        curve = [(row["t"] - t0, row["min"]) for row in logbook] if spec["track"] else []
        return {"loop": loop, "evaluations": sum(logbook.select("nevals")), "curve": curve}

    result = {}
    if spec["map"] == "pool":
        import multiprocessing

        with multiprocessing.Pool(spec["workers"]) as pool:  # started before the clock, as a user would
            toolbox.register("map", pool.map)
            result = timed()
    elif spec["map"] == "scoop":
        from scoop import futures

        if spec["paired_builtin"]:
            builtin = timed()
            result["builtin"], result["builtin_evaluations"] = builtin["loop"], builtin["evaluations"]
        toolbox.register("map", futures.map)
        result.update(timed())
    else:
        result = timed()
    print(json.dumps(result), flush=True)


def child_pygmo(spec):
    """Body of `--child-pygmo SPEC`: a pygmo archipelago (ring, sga) evolving epoch by epoch; prints JSON."""
    import pygmo as pg
    from bench_peers import PygmoProblem as Udp  # by module name, so mp_island workers can unpickle it

    cpp = spec["kind"] == "cpp"
    prob = pg.problem(pg.rastrigin(spec["dimension"]) if cpp else Udp(spec["dimension"], spec["delay"]))
    interval, gens = spec["interval"], spec["gens"]
    policies = {"s_pol": pg.s_policy(pg.select_best(rate=spec["migrants"])),
                "r_pol": pg.r_policy(pg.fair_replace(rate=spec["migrants"]))}

    def make(pop, seed):
        udi = pg.thread_island() if cpp else pg.mp_island()
        return pg.archipelago(n=spec["islands"], t=pg.topology(pg.ring()), algo=pg.algorithm(pg.sga(gen=interval)),
                              prob=prob, pop_size=pop, udi=udi, seed=seed, **policies)

    if not cpp:  # start the worker processes and let them import pygmo before the clock, like Pool(2)
        pg.mp_island.init_pool(spec["workers"])
        warm = make(2 * spec["migrants"], SEED + 1)
        warm.evolve(1)
        warm.wait_check()
    gc.collect()
    t0 = time.perf_counter()
    archi = make(spec["pop"], SEED)
    curve = [(time.perf_counter() - t0, min(f[0] for f in archi.get_champions_f()))]
    for _ in range(math.ceil(gens / interval)):
        archi.evolve(1)
        archi.wait_check()
        curve.append((time.perf_counter() - t0, min(f[0] for f in archi.get_champions_f())))
    loop = time.perf_counter() - t0
    evaluations = sum(island.get_population().problem.get_fevals() for island in archi)
    if not cpp:
        pg.mp_island.shutdown_pool()
    print(json.dumps({"loop": loop, "evaluations": evaluations, "curve": curve,
                      "migrations": len(archi.get_migration_log())}), flush=True)


def easimple(problem, options, pop, gens, mapper, track, paired_builtin=False):
    spec = json.dumps({"problem": problem, "options": options, "pop": pop, "gens": gens, "map": mapper,
                       "workers": 2, "track": track, "paired_builtin": paired_builtin})
    cmd = [PYTHON, str(Path(__file__).resolve()), "--child-easimple", spec]
    if mapper == "scoop":
        cmd = [PYTHON, "-m", "scoop", "-n", "2", *cmd[1:]]
    wall, cpu, stdout = run_process(cmd)
    result = engine.last_json(stdout)
    result.update(process=wall, process_cpu=cpu, kind="generation")
    return result


def guarded(run, *args, **kwargs):
    """run(...), or {"failed": the reason} when the peer's process fails: one peer's crash (SCOOP has ended with
    "Unexpected shutdown received" under memory pressure) must not lose the other measurements."""
    try:
        return run(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - recorded in the table
        lines = [line for line in str(exc).splitlines() if line.strip()]
        log(f"  failed: {lines[-1] if lines else exc}")
        return {"failed": (lines[-1] if lines else type(exc).__name__)[:160].replace("|", "/")}


def pygmo(kind, options, pop, gens, interval):
    spec = json.dumps({"kind": kind, "dimension": options["dimension"], "delay": options.get("delay", 0.0),
                       "pop": pop, "gens": gens, "interval": interval, "islands": ISLANDS, "workers": 2,
                       "migrants": 5})
    wall, cpu, stdout = run_process([PYTHON, str(Path(__file__).resolve()), "--child-pygmo", spec])
    result = engine.last_json(stdout)
    result.update(process=wall, process_cpu=cpu, kind="epoch")
    return result


def pygmo_status():
    """(usable, note): pygmo importable in a child process of this Python, or why not."""
    try:
        version = metadata.version("pygmo")
    except metadata.PackageNotFoundError:
        return False, (f"pygmo is not installed in this Python ({sys.version.split()[0]}); `pip install pygmo` "
                       f"(a wheel for this Python and platform is needed) to include it")
    try:
        run_process([PYTHON, "-c", "import pygmo"], timeout=120)
    except Exception as exc:  # noqa: BLE001 - any import failure only removes the pygmo rows
        return False, f"pygmo {version} is installed but does not import: {str(exc).splitlines()[-1][:200]}"
    return True, f"pygmo {version}"


# -- hpcevo's runs: best-so-far curve from logbook.csv and timings.csv ----------------------------------

def hpcevo_curve(out, summary, interval):
    """(seconds, best so far) per generation: gen 0 when the start phase ends, later generations spread
    evenly over their epoch's time (timings.csv); the start phase = wall - epochs - checkpoints."""
    with open(out / "logbook.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if "min" not in rows[0]:
        return {}
    best = {}
    for row in rows:
        gen = int(row["gen"])
        best[gen] = min(best.get(gen, math.inf), float(row["min"]))
    with open(out / "timings.csv", newline="") as fh:
        epochs = [float(row["seconds"]) for row in csv.DictReader(fh)]
    start = max(0.0, summary["wall_seconds"] - sum(epochs) - (summary["seconds"]["checkpoint"] or 0.0))
    times, at = {0: start}, start
    for e, seconds in enumerate(epochs):
        first, last = e * interval + 1, min((e + 1) * interval, max(best))
        for gen in range(first, last + 1):
            times[gen] = at + (gen - first + 1) / (last - first + 1) * seconds
        at += seconds
    return {"curve": [(times[g], best[g]) for g in sorted(best)], "kind": "generation (interpolated)"}


def running_min(curve):
    out, low = [], math.inf
    for t, value in curve:
        low = min(low, value)
        out.append((t, low))
    return out


def time_to(curve, target):
    """(seconds, index of the first point) at which the best so far is <= target, or (None, None)."""
    for i, (t, value) in enumerate(running_min(curve)):
        if value <= target:
            return t, i
    return None, None


# -- one workload -------------------------------------------------------------------------------------

def fmt_rate(values):
    mid = median(values)
    return f"{mid:,.0f}/s" if len(values) == 1 else f"{mid:,.0f}/s ({min(values):,.0f}-{max(values):,.0f})"


def rates(runs, loop="loop", evaluations="evaluations"):
    return [r[evaluations] / r[loop] for r in runs]


def ratio_text(values):
    mid = median(values)
    return f"**{mid:.2f}x**" if min(values) == max(values) else f"**{mid:.2f}x** ({min(values):.2f}-{max(values):.2f})"


def section(size, cli, name, problem, options, pop_key, gens_key, track, use_scoop, use_pygmo):
    pop, gens, interval, reps = size[pop_key], size[gens_key], size["interval"], size["repeats"]
    interval = min(interval, gens)
    total = ISLANDS * pop
    variants = {
        "eaSimple, builtin map": lambda: easimple(problem, options, total, gens, "builtin", track),
        "eaSimple, Pool(2).map": lambda: easimple(problem, options, total, gens, "pool", track),
        "hpcevo, 1 process": lambda: cli(problem, options, ISLANDS, pop, gens, interval),
        "hpcevo, mpiexec -n 2": lambda: cli(problem, options, ISLANDS, pop, gens, interval, ranks=2),
    }
    scoop_full = problem == engine.SLOW
    if use_scoop:
        sgens = gens if scoop_full else min(gens, size["scoop_gens"])
        stotal = ISLANDS * size["scoop_trading_pop"] if problem == "trading" else total
        variants["eaSimple, SCOOP -n 2"] = lambda: guarded(easimple, problem, options, stotal, sgens, "scoop", track,
                                                           paired_builtin=not scoop_full)
    if use_pygmo and problem != "trading":
        variants["pygmo archipelago (sga), mp_island"] = lambda: pygmo("python", options, pop, gens, interval)
        if problem == "rastrigin":
            variants["pygmo, C++ pg.rastrigin, thread_island"] = lambda: pygmo("cpp", options, pop, gens, interval)
    cli.collect = functools.partial(_collect, interval=interval) if track else None
    res = engine.measure(name, variants, reps)
    failed = {label: runs[0]["failed"] for label, runs in res.items() if any("failed" in r for r in runs)}
    res = {label: runs for label, runs in res.items() if label not in failed}
    base = res["eaSimple, builtin map"]
    base_rates = rates(base)

    target = None
    if track:  # the best value every method with a full run reaches (rounded up to 3 significant digits)
        finals = [median(running_min(r["curve"])[-1][1] for r in runs) for label, runs in res.items()
                  if "SCOOP" not in label or scoop_full]
        worst = max(finals)
        target = float(f"{worst:.3g}") if float(f"{worst:.3g}") >= worst else float(f"{worst * 1.001:.3g}")

    rows = []
    for label, runs in res.items():
        if "SCOOP" in label and not scoop_full:  # paired with builtin map in its own process, on fewer generations
            ev_ratio = [(r["evaluations"] / r["loop"]) / (r["builtin_evaluations"] / r["builtin"]) for r in runs]
            what = f"{stotal}, {sgens} gen(s)"
            process = "n/a"
            wall_ratio = "n/a"
        else:
            ev_ratio = [a / b for a, b in zip(rates(runs), base_rates)]
            what = f"{total} ({ISLANDS} x {pop})" if "hpcevo" in label or "pygmo" in label else str(total)
            what += f", {gens} gens"
            process = engine.fmt_s(runs, "process")
            wall_ratio = ratio_text([b["process"] / r["process"] for b, r in zip(base, runs)])
        row = [label, what, f"{median(r['evaluations'] for r in runs):,.0f}", engine.fmt_s(runs, "loop"),
               fmt_rate(rates(runs)), ratio_text(ev_ratio), process, wall_ratio]
        if track:
            row += list(_target_cells(runs, base, target, label, scoop_full))
        rows.append(row)
    for label, reason in failed.items():
        rows.append([label, "failed", reason] + ["n/a"] * (7 if track else 5))
    header = ["Method", "population, generations", "evaluations", "loop", "evaluations/s", "evals/s vs eaSimple map",
              "process", "process speedup vs eaSimple map"]
    if track:
        header += [f"time to best <= {target:g}", "speedup vs eaSimple map"]
    text = f"### {name}\n\n" + _intro(name, problem, options, size, pop, gens, interval, target, use_scoop,
                                       scoop_full) + "\n\n" + table(header, rows)
    return text, res


def _collect(out, summary, interval):
    return hpcevo_curve(out, summary, interval)


def _target_cells(runs, base, target, label, scoop_full):
    if "SCOOP" in label and not scoop_full:
        # same seed and deterministic evaluation: SCOOP follows eaSimple's trajectory generation for generation
        _, gen = time_to(base[0]["curve"], target)
        per_gen = median(r["loop"] / (len(r["curve"]) or 1) for r in runs)
        if gen is None:
            return "not reached", "n/a"
        est = per_gen * (gen + 1)
        base_t = median(time_to(b["curve"], target)[0] for b in base)
        return f"~{est:.2f}s (est.)", f"~{base_t / est:.2f}x (est.)"
    times = [time_to(r["curve"], target)[0] for r in runs]
    if any(t is None for t in times):
        return f"not reached (best {median(running_min(r['curve'])[-1][1] for r in runs):.4g})", "n/a"
    note = " (epoch end)" if runs[0].get("kind") == "epoch" else ""
    base_times = [time_to(b["curve"], target)[0] for b in base]
    return (f"{median(times):.2f}s{note}", ratio_text([b / t for b, t in zip(base_times, times)]))


def _evaluate_bytes():
    """The pickled size of the trading toolbox's `evaluate`, as a map sends it with each task."""
    import pickle

    from hpcevo.problems import trading

    return f"{len(pickle.dumps(trading().evaluate, pickle.HIGHEST_PROTOCOL)) / 1e3:,.0f} KB pickled, empty cache"


def _intro(name, problem, options, size, pop, gens, interval, target, use_scoop, scoop_full):
    opts = engine.options_text(options)
    what = {
        "rastrigin": f"hpcevo's `rastrigin` toolbox ({opts}): cxBlend and Gaussian mutation clipped to the bounds, "
                     f"tournament of 3",
        engine.SLOW: f"`{engine.SLOW}` ({opts}): that Rastrigin sleeping 1 ms per evaluation",
        "trading": "hpcevo's `trading` toolbox (typed GP strategies on the embedded S&P 500, 3 objectives, "
                   "`select` = selNSGA2; hpcevo's default algorithm for it is NSGA-II, here `--algorithm simple` "
                   "so both run eaSimple's generation). eaSimple's `evaluate` is wrapped to give rejected and "
                   "failing strategies the penalty fitness, as hpcevo does. With `select` = selNSGA2, eaSimple's "
                   "selection of n out of n keeps the whole population: this compares throughput of the same "
                   "operators, not search quality. `Pool(2).map` and SCOOP pickle the mapped function with "
                   f"every task: `toolbox.evaluate` is a partial holding the trading context ({_evaluate_bytes()}), "
                   "and each worker's unpickled copy starts with an empty indicator cache, so the workers "
                   "recompute indicators for every chunk; hpcevo's ranks build the problem once and keep their "
                   "caches",
    }[problem]
    text = (f"{what}. eaSimple runs one population of {ISLANDS * pop}; hpcevo and pygmo run {ISLANDS} islands of "
            f"{pop} in a ring (hpcevo: 5 best emigrants replace the 5 worst every {interval} generations; pygmo: "
            f"`select_best(5)` / `fair_replace(5)` every {interval} generations). Loop = from population creation to "
            f"the end (hpcevo: summary.json `wall_seconds`); process = the whole command. evaluations/s = "
            f"evaluations / loop; ratios are per repeat, against eaSimple with the builtin map.")
    if use_scoop and not scoop_full:
        text += (f" SCOOP costs about 1 ms per future, so it runs {size['scoop_gens']} generation(s) here"
                 + (f" of a population of {ISLANDS * size['scoop_trading_pop']}" if problem == "trading" else "")
                 + " and its ratio is against builtin map timed on the same size in the same process.")
    if target is not None:
        text += (f" Time to target: the first moment the best fitness so far is <= {target:g}, the best value every "
                 f"method with a full run reaches (minimisation): eaSimple per generation (a Statistics "
                 f"timestamp), hpcevo per generation with times spread evenly over each epoch (timings.csv), pygmo "
                 f"at the end of each epoch (its archipelago reports between `evolve` calls), so pygmo's is an "
                 f"upper bound within {interval} generations.")
    if problem != "trading":
        text += (" pygmo runs its own genetic algorithm (`pg.sga`: exponential crossover, polynomial mutation, "
                 "tournament of 2, whole population evaluated each generation), not eaSimple's, so only its "
                 "evaluations/s and time to target compare; the C++ `pg.rastrigin` row shows what compiled "
                 "fitness and thread islands give, not a like-for-like figure.")
    return text


# -- the report -----------------------------------------------------------------------------------------

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat: a smoke run under a minute")
    parser.add_argument("--repeats", type=int, help="repeats per measurement (default 3, --quick 1)")
    parser.add_argument("--workloads", default="1,2,3", help="comma-separated workloads: 1 Rastrigin-30, "
                                                             "2 1 ms fitness, 3 trading")
    parser.add_argument("--write", action="store_true", help="replace the marked section of BENCHMARKS.md")
    parser.add_argument("--benchmarks-file", default=str(ROOT / "BENCHMARKS.md"), help="file --write updates")
    parser.add_argument("--child-easimple", metavar="SPEC", help=argparse.SUPPRESS)
    parser.add_argument("--child-pygmo", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_easimple:
        child_easimple(json.loads(args.child_easimple))
        return 0
    if args.child_pygmo:
        child_pygmo(json.loads(args.child_pygmo))
        return 0
    size = pick_size(SIZES, args)
    wanted = {int(w) for w in args.workloads.split(",")}
    started, load_start, t0 = utc_now(), os.getloadavg()[0], time.perf_counter()
    use_scoop = engine.scoop_available()
    use_pygmo, pygmo_note = pygmo_status()
    log(f"pygmo: {pygmo_note}")
    sections, other = [], OtherLoad()
    with tempfile.TemporaryDirectory(prefix="hpcevo-bench-peers-") as tmp:
        cli = engine.Cli(tmp)
        for number, (name, problem, options, pop_key, gens_key, track) in enumerate(WORKLOADS, 1):
            if number not in wanted:
                continue
            log(f"workload {number}: {name}")
            other.start(str(number))
            text, _ = section(size, cli, f"{number}. {name}", problem, options, pop_key, gens_key, track, use_scoop,
                              use_pygmo)
            other.stop()
            sections.append(text)
            print(text + "\n", flush=True)
        info = engine.machine(cli)
    seconds = time.perf_counter() - t0
    mode = "quick (smoke sizes, not comparable with the full figures)" if args.quick else "full"
    command = "python benchmarks/bench_peers.py" + (" --quick" if args.quick else "") + (
        f" --repeats {args.repeats}" if args.repeats else "") + (
        f" --workloads {args.workloads}" if args.workloads != "1,2,3" else "") + (" --write" if args.write else "")
    head = (f"## hpcevo against its peers (`benchmarks/bench_peers.py`)\n\n"
            f"- Command: `{command}` ({mode}; {size['repeats']} repeat(s), median shown, per-repeat range in "
            f"brackets; took {seconds / 60:.1f} min)\n"
            f"- Date: {started}\n"
            f"- Machine: {info['nproc']} cores (`nproc`), {info['cpu']}, {info['os']}; load average "
            f"{load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end\n"
            f"- CPU taken by others while measuring (cores, on average; steal = hypervisor time given to other "
            f"virtual machines): {other.text()}\n"
            f"- Software: Python {info['python']}, numpy {info['numpy']}, deap {info['deap']}, mpi4py "
            f"{info['mpi4py']}, {info['mpi']}, scoop {info['scoop']}, {pygmo_note}; hpcevo {info['hpcevo']}\n"
            f"- Every method is a fresh process per run (the pools and pygmo's worker processes are started before "
            f"the clock); runs are measured in a rotating order, and ratios are medians of per-repeat ratios. "
            f"Absolute times follow the machine's load of the moment; compare the ratios.\n")
    if not use_pygmo:
        head += f"- pygmo: skipped: {pygmo_note}.\n"
    publish(head + "\n" + "\n\n".join(sections) + "\n", args, BEGIN, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
