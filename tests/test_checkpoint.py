"""Checkpoint files and resume planning, in-process: format, integrity checks, refusals, config rules."""

import json
import pickle
import tomllib

import pytest
from conftest import hpcevo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hpcevo.checkpoint import CHECKPOINT_NAME, CheckpointError, _digest, read_header, read_state, write_checkpoint
from hpcevo.config import load_config
from hpcevo.errors import ConfigError
from hpcevo.resume import plan_run
from hpcevo.stopping import parse_duration

SMALL = ["--problem", "onemax", "--population", 12, "--generations", 12, "--migration-interval", 3, "--quiet"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A real run folder with a checkpoint (serial, onemax, 12 generations)."""
    run_dir = tmp_path_factory.mktemp("ckpt") / "run"
    result = hpcevo(SMALL + ["--out", run_dir])
    assert result.returncode == 0, result.stderr
    return run_dir


def _state(generation=3):
    return {"generation": generation, "epoch": 1, "islands": [{"index": 0, "rows": [1.5, "x"] * 500}], "migrations": [],
            "epoch_seconds": [0.1]}


def test_round_trip_and_header(tmp_path):
    config = load_config(None, {"problem": "onemax", "islands": 1})
    size = write_checkpoint(tmp_path, config.to_toml(), "onemax", _state())
    path = tmp_path / CHECKPOINT_NAME
    assert size == path.stat().st_size
    header = read_header(path)
    assert (header["format"], header["generation"], header["problem"], header["islands"]) == (2, 3, "onemax", 1)
    assert tomllib.loads(header["config"])["problem"] == "onemax"
    assert read_state(path) == _state()
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_NAME]  # no temporary file left behind


def test_previous_checkpoint_survives_a_failed_write(tmp_path, monkeypatch):
    write_checkpoint(tmp_path, "", "onemax", _state(3))
    before = (tmp_path / CHECKPOINT_NAME).read_bytes()

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("hpcevo.checkpoint.os.fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        write_checkpoint(tmp_path, "", "onemax", _state(6))
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == before
    assert read_state(tmp_path / CHECKPOINT_NAME)["generation"] == 3


def _damage(path, how):
    data = bytearray(path.read_bytes())
    if how == "truncated":
        del data[len(data) // 2:]
    elif how == "extra":
        data += b"\0"
    elif how == "flipped":
        data[-10] ^= 0x01
    elif how == "header":
        start = data.index(b"\n") + 1
        data[start:start + 1] = b"["
    elif how == "empty":
        data = bytearray()
    elif how == "foreign":
        data = bytearray(b"date,close\n2020-01-01,1.0\n")
    elif how == "plain pickle":
        data = bytearray(pickle.dumps({"islands": []}))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how, message", [
    ("truncated", "is truncated or has extra bytes"),
    ("extra", "is truncated or has extra bytes"),
    ("flipped", "fails its integrity check (the SHA-256"),
    ("header", "has a damaged header"),
    ("empty", "is not an hpcevo checkpoint"),
    ("foreign", "is not an hpcevo checkpoint"),
    ("plain pickle", "is not an hpcevo checkpoint"),
])
def test_damaged_checkpoints_are_refused_whole(tmp_path, how, message):
    write_checkpoint(tmp_path, "", "onemax", _state())
    path = tmp_path / CHECKPOINT_NAME
    _damage(path, how)
    with pytest.raises(CheckpointError) as info:
        read_state(path)
    assert str(info.value).startswith(f"checkpoint {path} {message}")
    assert "nothing was loaded from it" in str(info.value)


def _rewrite_header(path, **changes):
    data = path.read_bytes()
    first = data.index(b"\n") + 1
    second = data.index(b"\n", first) + 1
    header = {**json.loads(data[first:second]), **changes}
    path.write_bytes(data[:first] + json.dumps(header).encode() + b"\n" + data[second:])


def test_other_format_version_is_refused_with_the_writer_named(tmp_path):
    write_checkpoint(tmp_path, "", "onemax", _state())
    path = tmp_path / CHECKPOINT_NAME
    _rewrite_header(path, format=99, hpcevo="9.9.9")
    with pytest.raises(CheckpointError, match=r"has checkpoint format 99 \(written by hpcevo 9.9.9\); this hpcevo"):
        read_header(path)


def test_a_payload_that_does_not_unpickle_is_refused(tmp_path):
    write_checkpoint(tmp_path, "", "onemax", _state())
    path = tmp_path / CHECKPOINT_NAME
    data = path.read_bytes()
    second = data.index(b"\n", data.index(b"\n") + 1) + 1
    payload = b"\x80\x05cno_such_module\nThing\n."  # a global that cannot be imported
    first = data.index(b"\n") + 1
    header = {**json.loads(data[first:second]), "payload_bytes": len(payload)}
    header["sha256"] = _digest(header, payload)  # a well-formed checkpoint whose payload will not unpickle
    path.write_bytes(data[:first] + json.dumps(header).encode() + b"\n" + payload)
    with pytest.raises(CheckpointError, match="cannot be unpickled .*ModuleNotFoundError.*resume with the code"):
        read_state(path)


@pytest.mark.slow
def test_plan_takes_the_checkpoint_settings_and_allows_extension(finished):
    config, start = plan_run(None, {"generations": 30, "ranks_per_island": 2}, resume=str(finished))
    assert (config.problem, config.population, config.islands, config.generations) == ("onemax", 12, 4, 30)
    assert (config.algorithm, config.out, config.ranks_per_island) == ("simple", str(finished), 2)
    assert (start.resume_from, start.generation) == (str(finished / CHECKPOINT_NAME), 12)


def test_plan_refuses_settings_that_change_results(finished):
    with pytest.raises(ConfigError) as info:
        plan_run(None, {"population": 20, "seed": 5, "islands": 8}, resume=str(finished))
    text = str(info.value)
    assert text.startswith(f"cannot resume from {finished / CHECKPOINT_NAME}: ")
    for part in ("islands = 8 (checkpoint: 4)", "population = 20 (checkpoint: 12)", "seed = 5 (checkpoint: 1)"):
        assert part in text
    with pytest.raises(ConfigError, match="other problem|problem = 'sphere' \\(checkpoint: 'onemax'\\)"):
        plan_run(None, {"problem": "sphere"}, resume=str(finished))


def test_plan_refuses_fewer_generations_than_done(finished):
    with pytest.raises(ConfigError, match="already run 12 generations, more than generations = 6. Give "
                                          "--generations 12 or more"):
        plan_run(None, {"generations": 6}, resume=str(finished))


def test_plan_config_file_layers_on_the_checkpoint(finished, tmp_path):
    job = tmp_path / "job.toml"
    job.write_text('generations = 24\nchunksize = 3\n')
    config, _ = plan_run(job, {}, resume=str(finished))
    assert (config.generations, config.chunksize, config.population) == (24, 3, 12)
    job.write_text('mutpb = 0.5\n')
    with pytest.raises(ConfigError, match=r"mutpb = 0.5 \(checkpoint: 0.2\)"):
        plan_run(job, {}, resume=str(finished))


@pytest.mark.slow
def test_session_settings_are_not_inherited(tmp_path):
    run_dir = tmp_path / "r"
    assert hpcevo(SMALL + ["--out", run_dir, "--stop-after", 3, "--max-walltime", "1h"]).returncode == 75
    config, _ = plan_run(None, {}, resume=str(run_dir))
    assert (config.stop_after, config.max_walltime) == (0, "")


def test_plan_resume_folder_errors(tmp_path, finished):
    with pytest.raises(CheckpointError, match=f"--resume {tmp_path / 'none'}: there is no run folder"):
        plan_run(None, {}, resume=str(tmp_path / "none"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match=f"no checkpoint at {tmp_path / 'empty' / CHECKPOINT_NAME}"):
        plan_run(None, {}, resume=str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="--out .* names another one"):
        plan_run(None, {"out": str(tmp_path / "x")}, resume=str(finished))
    with pytest.raises(ConfigError, match="--resume auto needs the run folder: give --out RUN_DIR"):
        plan_run(None, {}, resume="auto")
    config, start = plan_run(None, {"out": str(tmp_path / "new")}, resume="auto")
    assert start.resume_from is None and start.run_dir == str(tmp_path / "new")
    _, start = plan_run(None, {"out": str(finished)}, resume="auto")
    assert start.resume_from == str(finished / CHECKPOINT_NAME)


@pytest.mark.parametrize("text, seconds", [
    ("3600", 3600), ("90s", 90), ("45m", 2700), ("2h", 7200), ("1d", 86400), ("1:30:00", 5400),
    ("10:00", 600), ("1-02:00:00", 93600), ("2-12", 216000), ("0.5m", 30),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "1:2:3:4", "-5", "m", "1x"])
def test_bad_durations_are_refused(text):
    assert parse_duration(text) is None
    with pytest.raises(ConfigError, match=f"max_walltime = {text!r} is not a duration"):
        load_config(None, {"max_walltime": text})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_damage_is_refused_or_harmless(tmp_path, data):
    """Flip, insert or delete bytes anywhere (header included) or truncate: the checkpoint is refused whole, or
    (a change JSON ignores, such as whitespace) it loads exactly what was written."""
    config = load_config(None, {"problem": "onemax", "islands": 1})
    write_checkpoint(tmp_path, config.to_toml(), "onemax", _state())
    path = tmp_path / CHECKPOINT_NAME
    original = path.read_bytes()
    damaged = bytearray(original)
    for _ in range(data.draw(st.integers(1, 3), label="changes")):
        at = data.draw(st.integers(0, len(damaged) - 1), label="at")
        how = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]), label="how")
        if how == "flip":
            damaged[at] ^= data.draw(st.integers(1, 255), label="mask")
        elif how == "insert":
            damaged.insert(at, data.draw(st.integers(0, 255), label="byte"))
        elif how == "delete":
            del damaged[at]
        else:
            del damaged[at:]
            break
    path.write_bytes(bytes(damaged))
    try:
        state = read_state(path)
    except CheckpointError as exc:
        assert "nothing was loaded from it" in str(exc) or "no checkpoint" in str(exc)
        return
    assert state == _state() and read_header(path)["config"] == config.to_toml()
