"""Deciding how a run starts (rank 0): a new run, or `--resume DIR|auto` from a verified checkpoint.

A resumed run takes the checkpoint's settings as its base; a config file and flags may change only what
cannot change the results (generations, to extend; ranks; checkpoint and stopping settings).  Anything
else is refused with the differences named.
"""

import tomllib
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import CheckpointError, checkpoint_path, read_header
from .config import RESUME_MAY_CHANGE, load_config
from .errors import ConfigError

__all__ = ["Start", "plan_run", "setting_differences"]

# a run that died before its first checkpoint leaves only these in its folder; --resume auto starts it afresh
STARTUP_FILES = ("config.toml",)


@dataclass(frozen=True)
class Start:
    """How this run starts: `resume_from` is the checkpoint path, or None for a new run in `run_dir`."""

    run_dir: str = ""
    resume_from: str = None
    generation: int = 0
    written_by: str = ""


def plan_run(config_path, overrides, resume=None, override_kind="flag"):
    """(Config, Start) for `hpcevo run` (and `evolve(..., resume=...)`, with override_kind="keyword");
    raises ConfigError/CheckpointError with what to fix."""
    overrides = dict(overrides or {})
    if resume is None:
        return load_config(config_path, overrides, override_kind=override_kind), Start()
    if resume == "auto":
        config = load_config(config_path, overrides, override_kind=override_kind)
        if not config.out:
            raise ConfigError("--resume auto needs the run folder: give --out RUN_DIR (or out = \"...\" in the "
                              "config file); the run resumes from RUN_DIR's checkpoint if it has one, else starts "
                              "there.")
        run_dir = Path(config.out)
        if not checkpoint_path(run_dir).exists():
            return config, Start(run_dir=str(run_dir))
    else:
        run_dir = Path(resume)
        out = overrides.get("out")
        if out and Path(out).resolve() != run_dir.resolve():
            raise ConfigError(f"--resume {resume} continues the run in that folder, but --out {out} names another "
                              f"one. Drop --out (or use --resume auto --out {out}).")
        if not run_dir.is_dir():
            raise CheckpointError(f"--resume {resume}: there is no run folder {run_dir}. Give the folder a run "
                                  f"wrote (it holds checkpoint.pkl), or use --resume auto --out DIR to start a "
                                  f"new run there when it has no checkpoint.")
    path = checkpoint_path(run_dir)
    header = read_header(path)
    try:
        saved = tomllib.loads(header["config"])
    except tomllib.TOMLDecodeError:
        raise CheckpointError(f"checkpoint {path} holds settings that cannot be read; nothing was loaded from "
                              f"it. Start a new run.") from None
    overrides["out"] = str(run_dir)
    config = load_config(config_path, overrides, base=saved, base_origin=f"checkpoint {path}",
                         override_kind=override_kind)
    _check_compatible(config, saved, path, header)
    return config, Start(run_dir=str(run_dir), resume_from=str(path), generation=header["generation"],
                         written_by=str(header.get("hpcevo", "")))


def setting_differences(config, saved, may_change, origin, same=lambda key, now, was: now == was):
    """'key = now (origin: was)' for each saved setting that `config` changes, but those in `may_change` and
    those `same(key, now, was)` accepts."""
    differences = []
    for key, was in saved.items():
        if key in may_change or not hasattr(config, key):
            continue
        now = getattr(config, key)
        if not same(key, now, was):
            differences.append(f"{key} = {now!r} ({origin}: {was!r})")
    return differences


def _check_compatible(config, saved, path, header):
    # "choose" (islands = 0, algorithm = "auto") accepts the checkpoint's choice
    differences = setting_differences(config, saved, RESUME_MAY_CHANGE, "checkpoint", lambda key, now, was: (
        (key, now) in (("islands", 0), ("algorithm", "auto")) or now == was))
    if differences:
        raise ConfigError(f"cannot resume from {path}: {'; '.join(differences)}. These settings change the "
                          f"results, so a resumed run must keep the checkpoint's values: remove them from the flags "
                          f"or config file, or start a new run with another --out.")
    if header.get("islands") != saved.get("islands"):
        raise CheckpointError(f"checkpoint {path} holds {header.get('islands')} islands but its settings say "
                              f"{saved.get('islands')}; nothing was loaded from it. Start a new run.")
    done = header["generation"]
    if config.generations < done:
        raise ConfigError(f"cannot resume from {path}: it has already run {done} generations, more than "
                          f"generations = {config.generations}. Give --generations {done} or more (more extends "
                          f"the run).")
