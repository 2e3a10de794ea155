"""A short soak under mpiexec -n 4 (benchmarks/soak.py at a small size): memory and checkpoint size stay flat
over hundreds of epochs with migration every generation and a checkpoint every 5 epochs."""

import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

import soak  # noqa: E402

pytestmark = pytest.mark.slow  # a soak of hundreds of epochs under mpiexec


def test_memory_and_checkpoints_stay_flat():
    fig = soak.soak(epochs=600, ranks=4, checkpoint_every=5, timeout=280)
    assert fig["status"] == "complete" and fig["evaluations"] > 600 * 4 * 2
    # no growth per epoch: a leak of even 10 KiB per epoch would add 4.4 MiB over the 450 epochs compared
    assert all(drift < 4.0 for drift in fig["rss_drift_mib"].values()), fig
    # the checkpoint holds populations, not history: its size does not grow with the epochs
    assert fig["checkpoint_bytes_max"] < 1.05 * fig["checkpoint_bytes_min"], fig
