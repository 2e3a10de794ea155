"""Checkpoint files: every island's state, the resolved config and the logs' lengths, in one verified file.

Layout: a magic line, one line of JSON (format, versions, config as TOML, progress, payload length, and a
SHA-256 over those fields and the payload), then the pickled payload.  The header is read and the hash
checked before anything is unpickled, so a truncated, altered or foreign file is refused whole.
Checkpoints are pickles: load only files you trust (unpickling can run code).
"""

import hashlib
import json
import os
import pickle
import sys
from pathlib import Path

from . import __version__
from .errors import UserError

__all__ = ["CheckpointError", "CHECKPOINT_NAME", "FORMAT", "write_checkpoint", "read_header", "read_state",
           "checkpoint_path"]

CHECKPOINT_NAME = "checkpoint.pkl"
FORMAT = 1
_MAGIC = b"HPCEVO-CHECKPOINT\n"
_MAX_HEADER = 1 << 20


class CheckpointError(UserError):
    """A checkpoint that cannot be used: missing, truncated, altered, foreign or incompatible."""


def checkpoint_path(run_dir):
    return Path(run_dir) / CHECKPOINT_NAME


def write_checkpoint(run_dir, config_toml, problem, state):
    """Write `state` atomically: temp file, fsync, rename over the previous checkpoint, fsync the folder.

    The previous checkpoint stays whole until the rename, so a crash mid-write leaves the last good one.
    Returns the number of bytes written.
    """
    payload = pickle.dumps(state, pickle.HIGHEST_PROTOCOL)
    header = {
        "format": FORMAT, "hpcevo": __version__, "python": sys.version.split()[0],
        "problem": problem, "generation": state["generation"], "epoch": state["epoch"],
        "islands": len(state["islands"]), "config": config_toml,
        "payload_bytes": len(payload),
    }
    header["sha256"] = _digest(header, payload)
    path = checkpoint_path(run_dir)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(_MAGIC)
        fh.write(json.dumps(header, sort_keys=True).encode() + b"\n")
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path.stat().st_size


def _digest(header, payload):
    """SHA-256 over the header's fields (all but the digest itself, in canonical form) and the payload."""
    fields = {k: v for k, v in header.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode() + b"\n" + payload).hexdigest()


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _refuse(path, what, fix):
    raise CheckpointError(f"checkpoint {path} {what}; nothing was loaded from it. {fix}")


_FIX_DAMAGED = ("Resume from an intact copy, or start a new run (the run folder's other files are untouched; "
                "a checkpoint is replaced only once its successor is complete, so this file was damaged after "
                "it was written).")


def read_header(path):
    """The verified header of the checkpoint at `path` (payload length and SHA-256 checked, nothing unpickled)."""
    return _read(Path(path))[0]


def _read(path):
    """(header, payload bytes) of a checkpoint whose length and hash check out; else CheckpointError."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(len(_MAGIC))
            line = fh.readline(_MAX_HEADER)
            payload = fh.read()
    except FileNotFoundError:
        raise CheckpointError(f"no checkpoint at {path}: a run writes {CHECKPOINT_NAME} into its run folder "
                              f"every --checkpoint-every epochs, at the end and when stopped by a signal. "
                              f"Check the folder given to --resume, or use --resume auto to start afresh "
                              f"when there is none.") from None
    except OSError as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read: {exc}.") from None
    if magic != _MAGIC:
        _refuse(path, "is not an hpcevo checkpoint (it does not start with the checkpoint marker)",
                f"Point --resume at a run folder written by hpcevo; it holds {CHECKPOINT_NAME}.")
    try:
        header = json.loads(line)
        if not isinstance(header, dict):
            raise ValueError("not an object")
    except ValueError:
        _refuse(path, "has a damaged header (truncated or altered)", _FIX_DAMAGED)
    if header.get("format") != FORMAT:
        _refuse(path, f"has checkpoint format {header.get('format')!r} (written by hpcevo "
                      f"{header.get('hpcevo', 'unknown')}); this hpcevo {__version__} reads format {FORMAT}",
                f"Resume it with hpcevo {header.get('hpcevo', 'of that version')}, or start a new run.")
    try:
        size, digest = int(header["payload_bytes"]), str(header["sha256"])
        header["generation"], header["config"] = int(header["generation"]), str(header["config"])
    except (KeyError, TypeError, ValueError):
        _refuse(path, "has a damaged header (fields missing)", _FIX_DAMAGED)
    if len(payload) != size:
        _refuse(path, f"is truncated or has extra bytes ({len(payload):,} payload bytes, the header says "
                      f"{size:,})", _FIX_DAMAGED)
    if _digest(header, payload) != digest:
        _refuse(path, "fails its integrity check (the SHA-256 of its header and contents differs from the one "
                      "recorded)", _FIX_DAMAGED)
    return header, payload


def read_state(path):
    """Unpickle the verified payload (the problem must be loaded first: individuals' classes are looked up)."""
    path = Path(path)
    _, payload = _read(path)
    try:
        state = pickle.loads(payload)
    except Exception as exc:  # noqa: BLE001  (any unpickling failure means the same thing to the user)
        _refuse(path, f"cannot be unpickled ({type(exc).__name__}: {exc})",
                "It was probably written with different problem code (a module or class that no longer exists "
                "or changed); resume with the code that wrote it.")
    if not isinstance(state, dict) or "islands" not in state:
        _refuse(path, "does not hold an hpcevo run state", "Start a new run.")
    return state
