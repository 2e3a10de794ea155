"""Checkpoints without a rank-0 funnel: each leader's part file, the manifest, crash safety and integrity.

A checkpoint is checkpoint.pkl (a verified manifest) plus checkpoint.parts/<sequence>.<leader>.pkl; these tests
check what the manifest holds, that a crash between parts and manifest leaves the previous checkpoint whole,
that damaged or missing parts are refused with the file named, on one rank and under mpiexec.
"""

import hashlib
import json
import pickle
import shutil

import pytest
from conftest import hpcevo, same_results

import hpcevo as api
from hpcevo.checkpoint import (
    CHECKPOINT_NAME,
    PARTS_DIR,
    CheckpointError,
    check_parts,
    load_state,
    read_header,
    read_islands,
    read_state,
    write_part,
)

SMALL = {"problem": "onemax", "islands": 4, "population": 12, "generations": 8, "migration_interval": 2,
         "migrants": 2, "seed": 11, "progress": False, "checkpoint_every": 1}
CLI = ["--problem", "onemax", "--islands", 4, "--population", 12, "--generations", 8, "--migration-interval", 2,
       "--seed", 11, "--quiet", "--checkpoint-every", 1]


def _parts(run_dir):
    return sorted(p.name for p in (run_dir / PARTS_DIR).iterdir())


def test_the_manifest_names_the_parts_and_holds_no_island_state(tmp_path):
    run_dir = tmp_path / "r"
    result = api.evolve(**{**SMALL, "problem": "onemax"}, out=run_dir)
    header = read_header(run_dir / CHECKPOINT_NAME)
    manifest = read_state(run_dir / CHECKPOINT_NAME)
    # four epochs: checkpoints after the first three and one at the end, from one leader (one process)
    part = run_dir / PARTS_DIR / "4.0.pkl"
    assert manifest["sequence"] == 4 and list(header["parts"]) == ["4.0.pkl"]
    assert header["parts"]["4.0.pkl"] == {"bytes": part.stat().st_size,
                                          "sha256": hashlib.sha256(part.read_bytes()).hexdigest()}
    assert _parts(run_dir) == ["4.0.pkl"]  # the previous checkpoints' parts are gone
    assert "islands" not in manifest and [w["index"] for w in manifest["locations"]] == [0, 1, 2, 3]
    offsets = [w["offset"] for w in manifest["locations"]]
    assert offsets[0] == 0 and offsets == sorted(offsets)
    # the states read back are the final populations
    whole = load_state(run_dir / CHECKPOINT_NAME)
    assert [[list(ind) for ind in st["population"]] for st in whole["islands"]] == \
           [[list(ind) for ind in pop] for pop in result.populations]
    summary = json.loads((run_dir / "summary.json").read_text())
    total = (run_dir / CHECKPOINT_NAME).stat().st_size + (run_dir / PARTS_DIR / "4.0.pkl").stat().st_size
    assert summary["checkpoint"] == {"file": CHECKPOINT_NAME, "bytes": total, "parts": 1, "parts_dir": PARTS_DIR}


def test_a_leader_reads_only_the_islands_it_is_given(tmp_path):
    states = [{"index": i, "evaluations": 10 * i, "payload": list(range(i * 100))} for i in range(3)]
    where = write_part(tmp_path, 7, 2, states)
    assert [w["part"] for w in where] == ["7.2.pkl"] * 3
    assert read_islands(tmp_path, [where[2], where[0]]) == [states[2], states[0]]
    # damage island 1's bytes only: islands 0 and 2 still read, island 1 is refused by name
    path = tmp_path / PARTS_DIR / "7.2.pkl"
    data = bytearray(path.read_bytes())
    data[where[1]["offset"] + 5] ^= 0xFF
    path.write_bytes(bytes(data))
    assert read_islands(tmp_path, [where[0], where[2]]) == [states[0], states[2]]
    assert len({w["part_sha256"] for w in where}) == 1
    with pytest.raises(CheckpointError, match=r"checkpoint part .*7\.2\.pkl fails its integrity check for island 1"):
        read_islands(tmp_path, where)


def test_a_crash_between_parts_and_manifest_leaves_the_previous_checkpoint(tmp_path):
    """Killed after the leaders wrote the next checkpoint's parts (or mid-way through one) but before the
    manifest was replaced: the old manifest and its parts are whole; the resume removes the leftovers and its
    results equal an uninterrupted run's."""
    full = tmp_path / "full"
    api.evolve(**SMALL, out=full)
    run_dir = tmp_path / "r"
    stopped = api.evolve(**SMALL, out=run_dir, stop_after=4)
    assert stopped.summary["status"] == "stopped"
    before = (run_dir / CHECKPOINT_NAME).read_bytes()
    kept = _parts(run_dir)
    parts = run_dir / PARTS_DIR
    (parts / "9.0.pkl").write_bytes(b"a part of a checkpoint that never got its manifest")
    (parts / ".9.1.pkl.tmp").write_bytes(b"half-written")
    assert (run_dir / CHECKPOINT_NAME).read_bytes() == before
    check_parts(run_dir, whole=True)  # the manifest's own parts are intact
    resumed = api.evolve("onemax", resume=run_dir, progress=False)
    assert resumed.summary["status"] == "complete"
    same_results(full, run_dir)
    assert not (parts / "9.0.pkl").exists() and not (parts / ".9.1.pkl.tmp").exists()
    assert _parts(run_dir) != kept and len(_parts(run_dir)) == 1


@pytest.mark.parametrize("damage, fragment", [
    ("missing", "names the part file {part}, which is missing"),
    ("short", "names the part file {part} of {size:,} bytes, but it has {less:,}"),
    ("flipped", "checkpoint part {part} fails its integrity check for island 2"),
])
def test_damaged_parts_are_refused_naming_the_file(tmp_path, damage, fragment):
    run_dir = tmp_path / "r"
    api.evolve(**SMALL, out=run_dir, stop_after=4)
    manifest = read_state(run_dir / CHECKPOINT_NAME)
    where = manifest["locations"][2]
    part = run_dir / PARTS_DIR / where["part"]
    size = part.stat().st_size
    data = bytearray(part.read_bytes())
    if damage == "missing":
        part.unlink()
    elif damage == "short":
        part.write_bytes(bytes(data[:-3]))
    else:
        data[where["offset"] + where["bytes"] // 2] ^= 0x55
        part.write_bytes(bytes(data))
    before = (run_dir / CHECKPOINT_NAME).read_bytes()
    with pytest.raises(CheckpointError) as refused:
        api.evolve("onemax", resume=run_dir, progress=False)
    assert fragment.format(part=part, size=size, less=size - 3) in str(refused.value)
    assert "nothing was loaded" in str(refused.value)
    assert (run_dir / CHECKPOINT_NAME).read_bytes() == before  # nothing written over it


def test_a_format_1_checkpoint_still_resumes(tmp_path):
    """A run folder from hpcevo 0.2 (every island's state inside checkpoint.pkl) continues identically."""
    full = tmp_path / "full"
    api.evolve(**SMALL, out=full)
    run_dir = tmp_path / "r"
    api.evolve(**SMALL, out=run_dir, stop_after=4)
    path = run_dir / CHECKPOINT_NAME
    whole = load_state(path)
    old = {k: v for k, v in whole.items() if k not in ("locations", "sequence")}
    header = read_header(path)
    payload = pickle.dumps(old, pickle.HIGHEST_PROTOCOL)
    fields = {k: v for k, v in header.items() if k not in ("sha256", "parts")}
    fields.update(format=1, payload_bytes=len(payload))
    from hpcevo.checkpoint import _MAGIC, _digest

    fields["sha256"] = _digest(fields, payload)
    path.write_bytes(_MAGIC + json.dumps(fields, sort_keys=True).encode() + b"\n" + payload)
    shutil.rmtree(run_dir / PARTS_DIR)
    api.evolve("onemax", resume=run_dir, progress=False)
    same_results(full, run_dir)
    assert read_header(path)["format"] == 2 and _parts(run_dir)


@pytest.mark.slow
def test_checkpoint_parts_per_leader_and_resume_on_other_ranks(tmp_path):
    """Under mpiexec -n 4 each leader writes its own part; the run stopped there resumes on 3 ranks (each
    leader reading the islands it now hosts, from several parts) to the serial run's files."""
    serial = tmp_path / "serial"
    assert hpcevo(CLI + ["--out", serial]).returncode == 0
    run_dir = tmp_path / "r"
    first = hpcevo(CLI + ["--out", run_dir, "--stop-after", 4], ranks=4)
    assert first.returncode == 75, first.stderr
    assert _parts(run_dir) == ["2.0.pkl", "2.1.pkl", "2.2.pkl", "2.3.pkl"]
    assert sorted(read_header(run_dir / CHECKPOINT_NAME)["parts"]) == _parts(run_dir)
    resumed = hpcevo(["--resume", run_dir, "--quiet"], ranks=3)
    assert resumed.returncode == 0, resumed.stderr
    same_results(serial, run_dir)
    assert _parts(run_dir) == ["4.0.pkl", "4.1.pkl", "4.2.pkl"]  # a periodic checkpoint (3), the final (4)


@pytest.mark.slow
def test_a_damaged_part_is_refused_on_every_rank_without_a_hang(tmp_path):
    """The part of an island hosted by leader 1 on resume is damaged: every leader refuses together, rank 0
    says which file and island in one paragraph, exit 2, no traceback."""
    run_dir = tmp_path / "r"
    assert hpcevo(CLI + ["--out", run_dir, "--stop-after", 4], ranks=2).returncode == 75
    where = read_state_plain(run_dir)[3]
    part = run_dir / PARTS_DIR / where["part"]
    data = bytearray(part.read_bytes())
    data[where["offset"] + 10] ^= 0x01
    part.write_bytes(bytes(data))
    refused = hpcevo(["--resume", run_dir, "--quiet"], ranks=2, timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert f"checkpoint part {part} fails its integrity check for island 3" in refused.stderr
    assert "Traceback" not in refused.stderr


def read_state_plain(run_dir):
    """The manifest's island locations (onemax individuals need their DEAP classes to unpickle)."""
    from hpcevo.problem import load_problem

    load_problem("onemax", {}, "simple", "raise")
    return read_state(run_dir / CHECKPOINT_NAME)["locations"]
