"""Checkpoint files: a verified manifest on rank 0 and the islands' states in one part file per group leader.

`checkpoint.pkl` (the manifest) is a magic line, one line of JSON (format, versions, config as TOML, progress,
payload length, the part files' sizes, and a SHA-256 over those fields and the payload), then the pickled
payload: the logs' lengths, the merged hall of fame and, for every island, where its state lies (part file,
offset, length, SHA-256).  Each leader writes its own islands' states to `checkpoint.parts/<sequence>.<leader>.pkl`,
so no state travels to rank 0; on resume each leader reads (and verifies) only the islands it hosts.

Crash safety: parts carry the checkpoint's sequence number in their names, so a new checkpoint never
overwrites the parts the current manifest names; the manifest is replaced by an atomic rename once every part
is on disk, and the previous checkpoint's parts are deleted only after that.  Killed at any moment, a run
folder holds a whole previous checkpoint.  The header is read and hashes checked before anything is unpickled,
so a truncated, altered or foreign file is refused whole.  Format 1 (everything in checkpoint.pkl, hpcevo 0.2)
is still read.  Checkpoints are pickles: load only files you trust (unpickling can run code).
"""

import hashlib
import json
import os
import pickle
import sys
from pathlib import Path

from . import __version__
from .errors import UserError

__all__ = ["CheckpointError", "CHECKPOINT_NAME", "PARTS_DIR", "FORMAT", "write_checkpoint", "write_part",
           "read_header", "read_state", "read_islands", "load_state", "check_parts", "prune_parts",
           "checkpoint_path"]

CHECKPOINT_NAME = "checkpoint.pkl"
PARTS_DIR = "checkpoint.parts"
FORMAT = 2
READS = (1, 2)  # format 1: every island's state inside checkpoint.pkl (hpcevo 0.2)
_MAGIC = b"HPCEVO-CHECKPOINT\n"
_MAX_HEADER = 1 << 20


class CheckpointError(UserError):
    """A checkpoint that cannot be used: missing, truncated, altered, foreign or incompatible."""


def checkpoint_path(run_dir):
    return Path(run_dir) / CHECKPOINT_NAME


def part_name(sequence, leader):
    return f"{sequence}.{leader}.pkl"


def write_part(run_dir, sequence, leader, states):
    """A group leader's islands' states into its part file of checkpoint `sequence` (temp file, fsync, rename);
    returns where each island's state lies: {index, part, offset, bytes, sha256, evaluations}."""
    folder = Path(run_dir) / PARTS_DIR
    folder.mkdir(exist_ok=True)
    name = part_name(sequence, leader)
    blobs, locations, offset = [], [], 0
    for state in states:
        blob = pickle.dumps(state, pickle.HIGHEST_PROTOCOL)
        locations.append({"index": state["index"], "part": name, "offset": offset, "bytes": len(blob),
                          "sha256": hashlib.sha256(blob).hexdigest(), "evaluations": state["evaluations"]})
        blobs.append(blob)
        offset += len(blob)
    whole = hashlib.sha256()
    tmp = folder / f".{name}.tmp"
    with open(tmp, "wb") as fh:
        for blob in blobs:
            fh.write(blob)
            whole.update(blob)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / name)
    for where in locations:
        where["part_sha256"] = whole.hexdigest()
    return locations


def write_checkpoint(run_dir, config_toml, problem, state):
    """Write the manifest `state` atomically: temp file, fsync, rename over the previous one, fsync the folder.

    `state["locations"]` names the part files (already on disk) that hold the islands; a format-1 state holds
    the islands themselves in `state["islands"]`.  The previous checkpoint stays whole until the rename, so a
    crash mid-write leaves the last good one.  Returns the bytes of the checkpoint (manifest and parts).
    """
    locations = state.get("locations")
    parts = {}
    for where in locations or ():
        entry = parts.setdefault(where["part"], {"bytes": 0, "sha256": where["part_sha256"]})
        entry["bytes"] = max(entry["bytes"], where["offset"] + where["bytes"])
    payload = pickle.dumps(state, pickle.HIGHEST_PROTOCOL)
    header = {
        "format": FORMAT, "hpcevo": __version__, "python": sys.version.split()[0],
        "problem": problem, "generation": state["generation"], "epoch": state["epoch"],
        "islands": len(locations if locations is not None else state["islands"]), "config": config_toml,
        "payload_bytes": len(payload), "parts": parts,
    }
    header["sha256"] = _digest(header, payload)
    path = checkpoint_path(run_dir)
    tmp = path.with_name(f".{path.name}.tmp")
    if parts:
        _fsync_dir(Path(run_dir) / PARTS_DIR)  # the parts' renames are durable before the manifest names them
    with open(tmp, "wb") as fh:
        fh.write(_MAGIC)
        fh.write(json.dumps(header, sort_keys=True).encode() + b"\n")
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    return path.stat().st_size + sum(entry["bytes"] for entry in parts.values())


def prune_parts(run_dir, keep, below=None):
    """Delete the part files (and temp files) that the manifest does not name: the previous checkpoint's, and
    those of a checkpoint a crash left unfinished.  Call only after the manifest naming `keep` is on disk.
    `below`: delete only those of an earlier sequence than this (a checkpoint just written); files that are not
    parts are left alone."""
    folder = Path(run_dir) / PARTS_DIR
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        sequence = _sequence_of(path.name)
        if path.name in keep or sequence is None or (below is not None and sequence >= below):
            continue
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _sequence_of(name):
    """The checkpoint sequence of a part file's name (`S.L.pkl`, or its temp file `.S.L.pkl.tmp`), else None."""
    fields = name.lstrip(".").split(".")
    if len(fields) in (3, 4) and fields[2] == "pkl" and fields[0].isdigit() and fields[1].isdigit():
        return int(fields[0])
    return None


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
    if header.get("format") not in READS:
        _refuse(path, f"has checkpoint format {header.get('format')!r} (written by hpcevo "
                      f"{header.get('hpcevo', 'unknown')}); this hpcevo {__version__} reads formats "
                      f"{' and '.join(map(str, READS))}",
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
    if not isinstance(state, dict) or ("islands" not in state and "locations" not in state):
        _refuse(path, "does not hold an hpcevo run state", "Start a new run.")
    return state


def check_parts(run_dir, path=None, whole=False):
    """Refuse a checkpoint whose part files are missing or of the wrong size (a stat each, nothing read):
    checked on rank 0 before any leader starts reading.  `whole`: also read each part and check its SHA-256
    (nothing unpickled: for tools and tests that verify a run folder without its problem's classes)."""
    path = Path(path or checkpoint_path(run_dir))
    header = read_header(path)
    try:
        parts = {str(name): (int(entry["bytes"]), str(entry["sha256"]))
                 for name, entry in header.get("parts", {}).items()}
    except (AttributeError, KeyError, TypeError, ValueError):
        _refuse(path, "has a damaged header (the part files' entries)", _FIX_DAMAGED)
    for name, (size, digest) in sorted(parts.items()):
        part = Path(run_dir) / PARTS_DIR / name
        try:
            found = part.stat().st_size
        except OSError:
            _refuse(path, f"names the part file {part}, which is missing", _FIX_PARTS)
        if found != size:
            _refuse(path, f"names the part file {part} of {size:,} bytes, but it has {found:,}", _FIX_PARTS)
        if whole and hashlib.sha256(part.read_bytes()).hexdigest() != digest:
            _refuse(path, f"names the part file {part}, which fails its integrity check", _FIX_DAMAGED)
    return header


_FIX_PARTS = ("The islands' states are in the run folder's checkpoint.parts/ beside checkpoint.pkl; copy or move "
              "a run folder whole (both), or resume from an intact copy.")


def read_islands(run_dir, locations):
    """The states of the islands at `locations` (from the manifest), each read by offset from its part file and
    checked against its SHA-256 before it is unpickled."""
    states, handles = [], {}
    try:
        for where in locations:
            part = Path(run_dir) / PARTS_DIR / where["part"]
            if part not in handles:
                try:
                    handles[part] = open(part, "rb")
                except OSError as exc:
                    raise CheckpointError(f"checkpoint part {part} cannot be read ({exc.strerror or exc}); nothing "
                                          f"was loaded from it. {_FIX_PARTS}") from None
            fh = handles[part]
            fh.seek(where["offset"])
            blob = fh.read(where["bytes"])
            if len(blob) != where["bytes"] or hashlib.sha256(blob).hexdigest() != where["sha256"]:
                raise CheckpointError(f"checkpoint part {part} fails its integrity check for island {where['index']} "
                                      f"(the SHA-256 of its bytes differs from the one checkpoint.pkl recorded); "
                                      f"nothing was loaded from it. {_FIX_DAMAGED}")
            try:
                states.append(pickle.loads(blob))
            except Exception as exc:  # noqa: BLE001
                raise CheckpointError(f"checkpoint part {part} cannot be unpickled for island {where['index']} "
                                      f"({type(exc).__name__}: {exc}); resume with the problem code that wrote "
                                      f"it.") from None
    finally:
        for fh in handles.values():
            fh.close()
    return states


def load_state(path):
    """The whole state of the checkpoint at `path`, every island included (one process reading everything:
    `hpcevo.load_run`, tools and tests; a resumed run reads per leader instead)."""
    path = Path(path)
    state = read_state(path)
    if "locations" in state:
        check_parts(path.parent, path)
        state = {**state, "islands": read_islands(path.parent, state["locations"])}
    return state
