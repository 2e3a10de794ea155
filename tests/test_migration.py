"""Migration schemes: Neighbour (leader to leader, the default) and ViaRoot give the same results; the epoch's
totals reduce in any order; leaders' log shards merge into the files' order."""

import io

import pandas as pd
import pytest
from conftest import RESULT_FILES

import hpcevo
from hpcevo.errors import ConfigError
from hpcevo.messages import EpochReport, EpochTotals
from hpcevo.migration import Neighbour, ViaRoot, make_scheme
from hpcevo.output import SHARD_DIR, LogShard, RunFiles
from hpcevo.runner import run

SMALL = {"islands": 5, "population": 12, "generations": 9, "migration_interval": 2, "migrants": 2, "seed": 4,
         "progress": False}


def test_totals_merge_in_any_order():
    a = EpochTotals((1.0, -2.0), 10, 0.5, [(3, "SIGTERM on rank 3 on n1")])
    b = EpochTotals((1.0, -1.0), 7, 1.5, [(1, "SIGUSR1 on rank 1 on n0")])
    c = EpochTotals(None, 5, 0.1, [])
    for merged in (a.merge(b).merge(c), c.merge(b).merge(a), b.merge(c.merge(a))):
        assert merged == EpochTotals((1.0, -1.0), 22, 1.5, [(1, "SIGUSR1 on rank 1 on n0"),
                                                             (3, "SIGTERM on rank 3 on n1")], 0)
    assert EpochTotals().merge(c).best is None


def test_totals_keep_a_bounded_number_of_stop_requests():
    many = EpochTotals()
    for rank in range(10, 0, -1):
        many = many.merge(EpochTotals(None, 1, 0.0, [(rank, f"SIGTERM on rank {rank}")]))
    assert [rank for rank, _ in many.stop_requests] == [1, 2, 3, 4]
    assert (many.more_stops, many.evaluations) == (6, 10)


def test_totals_of_a_report():
    report = EpochReport({}, {0: ((2.0,), 40), 1: (None, 12), 2: ((3.0,), 8)}, 0.25, "SIGINT on rank 2 on h")
    assert EpochTotals.of(report, 2) == EpochTotals((3.0,), 60, 0.25, [(2, "SIGINT on rank 2 on h")], 0)


@pytest.mark.parametrize("topology", ["ring", "random", "complete", "tests.support.factories:star"])
def test_the_two_schemes_write_the_same_files(tmp_path, topology):
    for scheme in ("neighbour", "via_root"):
        assert run(None, {**SMALL, "problem": "onemax", "problem_options": {"length": 16}, "topology": topology,
                          "migration": scheme, "checkpoint_every": 2, "out": str(tmp_path / scheme)},
                   out=io.StringIO()) == 0
    for name in RESULT_FILES:
        assert (tmp_path / "neighbour" / name).read_bytes() == (tmp_path / "via_root" / name).read_bytes(), name
    assert not (tmp_path / "neighbour" / SHARD_DIR).exists()  # merged at the checkpoints, then removed


def test_the_two_schemes_give_the_same_result_in_memory():
    results = [hpcevo.evolve("zdt1", problem_options={"dimension": 4}, migration=scheme, **SMALL)
               for scheme in ("neighbour", "via_root")]
    pd.testing.assert_frame_equal(results[0].logbook, results[1].logbook)
    pd.testing.assert_frame_equal(results[0].migrations, results[1].migrations)
    assert [ind.fitness.values for ind in results[0].hall_of_fame] == \
           [ind.fitness.values for ind in results[1].hall_of_fame]
    assert [c["scheme"] for c in (r.summary["coordination"] for r in results)] == ["neighbour", "via_root"]
    # one process receives no message: nothing to count
    assert results[0].summary["coordination"]["rank0_received_bytes_per_epoch"] == 0


def test_make_scheme_follows_the_setting():
    config = hpcevo.config.load_config(None, {"islands": 4, "topology": "random"})
    scheme = make_scheme(config, logs_on_root=False)
    assert isinstance(scheme, Neighbour) and not scheme.gathers_logs and scheme.topology_name == "random"
    assert make_scheme(config).gathers_logs  # a run kept in memory gathers its rows
    via = hpcevo.config.load_config(None, {"islands": 4, "migration": "via_root"})
    assert isinstance(make_scheme(via), ViaRoot)


def test_an_unknown_scheme_is_refused():
    with pytest.raises(ConfigError, match="migration"):
        hpcevo.evolve("onemax", migration="p2p", **SMALL)


def test_log_shards_merge_into_the_files_order(tmp_path):
    """Two leaders' rows (islands 0-1 and 2) and records land in logbook.csv by generation then island, and
    migrations.csv by epoch then route; the merged shards are deleted."""
    files = RunFiles(tmp_path, 1)
    left, right = LogShard(tmp_path, 0, 1), LogShard(tmp_path, 1, 1)

    def row(island, gen):
        return {"island": island, "gen": gen, "nevals": 4, "min": 0.0, "max": 1.0, "avg": 0.5, "std": 0.1,
                "failures": 0, "rejected": 0}

    def record(epoch, src, dst):
        return {"epoch": epoch, "src": src, "dst": dst, "count": 1, "best_fitness": "1.0"}

    right.add([row(2, 1), row(2, 2)], [record(0, 1, 2)])
    left.add([row(0, 1), row(1, 1), row(0, 2), row(1, 2)], [record(0, 2, 0), record(0, 0, 1)])
    assert left.seal() == right.seal() == 0
    assert files.merge(0) == 2
    files.close()
    logbook = (tmp_path / "logbook.csv").read_text().splitlines()[1:]
    assert [tuple(line.split(",")[:2]) for line in logbook] == [("0", "1"), ("1", "1"), ("2", "1"),
                                                                 ("0", "2"), ("1", "2"), ("2", "2")]
    migrations = (tmp_path / "migrations.csv").read_text().splitlines()[1:]
    assert [tuple(line.split(",")[:3]) for line in migrations] == [("0", "0", "1"), ("0", "1", "2"),
                                                                    ("0", "2", "0")]
    assert sorted(p.name for p in (tmp_path / SHARD_DIR).iterdir()) == [
        "logbook.0.1.csv", "logbook.1.1.csv", "migrations.0.1.csv", "migrations.1.1.csv"]  # the next parts
    left.seal(final=True), right.seal(final=True)
