"""Command line: `python -m hpcevo [run] [flags]`, `walkforward`, `problems`, `backtest EXPR` and
`report RUN_DIR`."""

import argparse
import difflib
import os
import sys
import tomllib

from . import __version__
from .console import say
from .errors import ConfigError, UserError

__all__ = ["main", "build_parser"]

# flag -> (config key, type, help); every one is also a key of the TOML config file.
_RUN_FLAGS = [
    ("--problem", "problem", str, "built-in problem name or package.module:factory (default trading)"),
    ("--islands", "islands", int, "number of islands (default: 4, or one per rank group if more)"),
    ("--population", "population", int, "individuals per island (default 100)"),
    ("--generations", "generations", int, "generations per island (default 100)"),
    ("--migration-interval", "migration_interval", int, "generations between migrations, an epoch (default 10)"),
    ("--migrants", "migrants", int, "emigrants each island sends per epoch (default 5)"),
    ("--topology", "topology", str, "ring | random | complete | none | package.module:function (default ring)"),
    ("--migration", "migration", str, "how migrants travel: neighbour (leader to leader, the default) | via_root "
                                      "(all through rank 0), the same results | async (no epoch barrier, not "
                                      "reproducible)"),
    ("--emigration", "emigration", str, "emigrant selection: best | random | tournament (default best)"),
    ("--replacement", "replacement", str, "who immigrants replace: worst | random (default worst)"),
    ("--algorithm", "algorithm", str, "auto | simple | mu_plus_lambda | nsga2 (auto: nsga2 if several objectives)"),
    ("--cxpb", "cxpb", float, "crossover probability (default 0.7)"),
    ("--mutpb", "mutpb", float, "mutation probability (default 0.2)"),
    ("--offspring", "offspring", int, "children per generation for mu_plus_lambda / nsga2 (default: population)"),
    ("--ranks-per-island", "ranks_per_island", int, "ranks per group: 1 leader + evaluators (default 1)"),
    ("--chunksize", "chunksize", int, "individuals per task sent to an evaluator rank (default 8)"),
    ("--seed", "seed", int, "run seed; same config + seed = same results (default 1)"),
    ("--hall-of-fame", "hall_of_fame", int, "size of the merged hall of fame (default 10; with several objectives "
                                            "the whole merged Pareto front is kept)"),
    ("--eval-timeout", "eval_timeout", float, "seconds one evaluation may take; past it, it fails like an exception "
                                              "(see --on-error); 0 = no limit (default)"),
    ("--on-error", "on_error", str, "a failed evaluation: penalize (worst fitness, counted) | raise (end the job)"),
    ("--out", "out", str, "run folder to create (default runs/<problem>-<date>-<time>)"),
    ("--checkpoint-every", "checkpoint_every", int, "write checkpoint.pkl every E epochs (default 10; 0 = only at "
                                                    "the end and when stopped)"),
    ("--max-walltime", "max_walltime", str, "stop with a checkpoint before this much time has passed: seconds, "
                                            "90m, 2h, HH:MM:SS or D-HH:MM:SS (default: no limit)"),
    ("--stop-after", "stop_after", int, "stop with a checkpoint at the first epoch end at or after this generation"),
]


# `walkforward` flag -> ([walkforward] key, type, help)
_WALK_FLAGS = [
    ("--train-years", "train_years", float, "years of training in each window, its selection period included "
                                             "(default 8)"),
    ("--test-years", "test_years", float, "years of test after each window's training; windows step by it "
                                           "(default 2)"),
    ("--windows", "windows", int, "number of windows, the last test period ending at the data's end (default 0: "
                                   "as many as the data hold)"),
    ("--top", "top", int, "strategies traded in each test period: the top N of the selection ranking, equal "
                           "weight (default 1)"),
    ("--parallel", "parallel", int, "windows run side by side under mpiexec (default 0: as many as the ranks "
                                     "allow, each with islands x ranks-per-island ranks)"),
]


class _Parser(argparse.ArgumentParser):
    """Raises ConfigError instead of exiting, so every MPI rank leaves together; only rank 0 prints."""

    def error(self, message):
        hint = _flag_hint(message)
        command = "run" if self.prog.split()[-1] == "run" or hint else None
        raise ConfigError(f"{message}.{hint} See `python -m hpcevo {command + ' ' if command else ''}--help`.")

    def _print_message(self, message, file=None):
        if _rank_hint() == 0:
            super()._print_message(message, file)


def _flag_hint(message):
    """' Did you mean --x?' for an unrecognised flag close to a `run` flag (argparse reports those at the top)."""
    if not message.startswith("unrecognized arguments:"):
        return ""
    known = [flag for flag, *_ in _RUN_FLAGS + _WALK_FLAGS] + ["--config", "--option", "--data", "--resume",
                                                                "--quiet"]
    for word in message.split(":", 1)[1].split():
        close = difflib.get_close_matches(word.split("=")[0], known, n=1) if word.startswith("--") else []
        if close:
            return f" Did you mean {close[0]}?"
    return ""


def _rank_hint():
    """This process's rank as the launcher tells it, without initialising MPI (for --help, usage errors)."""
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return 0


def _option(text):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value
    return key.strip(), parsed


def build_parser():
    parser = _Parser(prog="hpcevo", description="Island-model evolutionary search with DEAP over MPI ranks.")
    parser.add_argument("--version", action="version", version=f"hpcevo {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    run = sub.add_parser("run", help="run a search (the default command)",
                         description="Run an island-model search. Every flag is also a key of the TOML config; "
                                     "flags win.")
    _run_arguments(run)
    walk = sub.add_parser("walkforward", help="walk-forward analysis of the trading search: re-evolve on rolling "
                                              "windows, trade each pick on the period after it",
                          description="Roll a window through the data: search on T years (folds and selection "
                                      "period inside), trade the selected strategy on the S years that follow, "
                                      "step by S; the test periods stitched together are the walk-forward record. "
                                      "Takes every `run` flag; the windows' settings are also the [walkforward] "
                                      "table of the TOML config.")
    _run_arguments(walk, resume="continue the walk-forward in WF_DIR: finished windows are kept, stopped ones "
                                "resume from their checkpoints; auto: resume --out's walk-forward if it has begun, "
                                "else start it")
    for flag, key, kind, text in _WALK_FLAGS:
        walk.add_argument(flag, dest=f"walkforward.{key}", type=kind, metavar=key.split("_")[0].upper(), help=text)
    sub.add_parser("problems", help="list the built-in problems")
    backtest = sub.add_parser("backtest", help="backtest one strategy expression, or re-score a finished run's "
                                                "reported strategies (--run RUN_DIR), and print the metrics as JSON",
                              description="Re-run a strategy expression (as printed in strategies.csv) on market "
                                          "data and print its metrics as JSON, with buy-and-hold beside them; with "
                                          "--run RUN_DIR, re-score that run's reported strategies with its own "
                                          "settings, on its data or on --data.")
    from .trading.backtest_cli import add_arguments

    add_arguments(backtest)
    report = sub.add_parser("report", help="figures and a text summary of a run folder (needs the plot extra)",
                            description="Draw PNG figures (fitness, migrations, Pareto front, trading equity) into "
                                        "RUN_DIR/report and print a short summary of the run, from the folder's text "
                                        "files only: works on a copied folder, and on a run still in progress.")
    from .report.command import add_arguments as add_report_arguments

    add_report_arguments(report)
    return parser


def _run_arguments(parser, resume=None):
    parser.add_argument("--config", help="TOML config file")
    for flag, key, kind, text in _RUN_FLAGS:
        parser.add_argument(flag, dest=key, type=kind, help=text)
    parser.add_argument("--option", "-O", dest="problem_options", type=_option, action="append",
                        metavar="KEY=VALUE",
                        help="a problem option, e.g. -O dimension=10 (repeatable; adds to [problem_options])")
    parser.add_argument("--data", help="market data for the trading problem: sp500 | nasdaq | sp500+nasdaq | a CSV "
                                       "or Parquet file (same as -O data=...)")
    if resume:
        parser.add_argument("--resume", metavar="WF_DIR|auto", help=resume)
    else:
        parser.add_argument("--resume", metavar="RUN_DIR|auto",
                            help="continue the run in RUN_DIR from its checkpoint; auto: resume --out's run if it "
                                 "has a checkpoint, else start it")
    parser.add_argument("--quiet", dest="progress", action="store_false", default=None,
                        help="no progress lines (errors are still printed)")


def _problems():
    """Each built-in problem, its description, then its options with their defaults, read from the factory's
    signature (so the listing cannot drift from the code); defaults are written as in a TOML config."""
    import inspect
    import textwrap

    import tomli_w

    from .problem import factory_options
    from .problems import BUILTIN

    def option(key, default):
        if default is inspect.Parameter.empty:
            return f"{key} (required)"
        if isinstance(default, (int, float, str, bool)):
            return f"{key}={tomli_w.dumps({'v': default})[4:].strip()}"
        return f"{key}={default!r}"

    def fill(text, first, rest):
        return textwrap.fill(text, 100, initial_indent=first, subsequent_indent=rest, break_long_words=False,
                             break_on_hyphens=False)

    width = max(map(len, BUILTIN))
    indent = " " * (width + 2)
    lines = []
    for name, (factory, description) in BUILTIN.items():
        lines.append(fill(description, f"{name:<{width}}  ", indent))
        options = ", ".join(option(key, default) for key, default in factory_options(factory) or ())
        lines.append(fill(f"options: {options or 'none'}", indent, indent + "  "))
    say("\n".join(lines))  # `python -m hpcevo problems | head`: a reader that leaves is not a failure
    return 0


def main(argv=None):
    """Entry point; returns the exit status: 0 success, 1 failure, 2 user mistake, 75 stopped early with a
    checkpoint (signal or wall-time budget; resume to continue), 130 interrupted at once (Ctrl-C twice)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv.insert(0, "run")
    try:
        args = build_parser().parse_args(argv)
        if args.command == "problems":
            return _problems()
        if args.command == "backtest":
            from .trading.backtest_cli import backtest_command

            return backtest_command(args)
        if args.command == "report":
            from .report.command import report_command

            return report_command(args)
        skip = ("command", "config", "data", "resume")
        overrides = {key: value for key, value in vars(args).items() if key not in skip and "." not in key}
        walk = {key.split(".", 1)[1]: value for key, value in vars(args).items()
                if key.startswith("walkforward.") and value is not None}
        if walk:
            overrides["walkforward"] = walk
        if overrides.get("problem_options") is not None or args.data is not None:
            overrides["problem_options"] = dict(overrides.get("problem_options") or [])
            if args.data is not None:
                overrides["problem_options"]["data"] = args.data
        if args.command == "walkforward":
            from .walkforward.driver import walkforward

            return walkforward(args.config, overrides, resume=args.resume)
        from .runner import run

        return run(args.config, overrides, resume=args.resume)
    except UserError as exc:
        if _rank_hint() == 0:  # every rank raised the same error: one prints it
            rank = getattr(exc, "rank", 0)
            where = f" (on rank {rank})" if rank else ""
            print(f"hpcevo: error{where}: {exc}", file=sys.stderr, flush=True)
        return exc.exit_status
    except SystemExit:
        raise
    except BaseException as exc:
        from .runner import crash_text, report_crash

        report_crash(crash_text(), 130 if isinstance(exc, KeyboardInterrupt) else 1)
