"""The shortcuts the end-of-run report takes give the very floats of the plain computations they replace."""

import itertools

import numpy as np
import pytest

from hpcevo.trading import overfitting as of


@pytest.mark.parametrize("t", [0, 1, 2, 3, 37, 1006, 3300, 20000])
def test_sharpe_ratios_are_sharpe_stats_of_each_row(t):
    rng = np.random.default_rng(t)
    rows = rng.normal(0.0003, 0.01, (12, t))
    if t:
        rows[3] = 0.5  # constant
        rows[4, t // 2:] = 0.0
    got = of.sharpe_ratios(rows)
    assert got.tobytes() == np.array([of.sharpe_stats(r)[0] for r in rows]).tobytes()
    with pytest.raises(ValueError):
        of.sharpe_ratios(np.array([[0.0, np.nan, 1.0]]))


@pytest.mark.parametrize("n_blocks", [2, 4, 6, 10, 16])
def test_subset_sums_equal_the_block_by_block_loop(n_blocks):
    rng = np.random.default_rng(n_blocks)
    blocks = rng.normal(size=(n_blocks, 9))
    subsets = np.array(list(itertools.combinations(range(n_blocks), n_blocks // 2)), dtype=np.intp)
    expected = blocks[subsets[:, 0]].copy()
    for j in range(1, subsets.shape[1]):
        expected += blocks[subsets[:, j]]
    assert of._subset_sums(blocks, subsets).tobytes() == expected.tobytes()


def test_pbo_test_sharpes_equal_a_separate_test_pass():
    """The test half of a split is another split's training half: the same sums, in the same (ascending) order."""
    rng = np.random.default_rng(1)
    m = rng.normal(0.0003, 0.01, (640, 30))
    m[:, 1] = m[:, 0]
    pbo, lambdas = of.pbo_cscv(m, n_blocks=8)
    # the plain computation: per split, sums of the test blocks added in ascending order, then ranks
    t, n = m.shape
    rows = t // 8
    x = m[t - rows * 8:]
    center = x.mean(axis=0)
    x = (x - center).reshape(8, rows, n)
    b1, b2 = x.sum(axis=1), (x * x).sum(axis=1)
    expected = []
    for train in itertools.combinations(range(8), 4):
        test = [b for b in range(8) if b not in train]
        sr = []
        for blocks in (train, test):
            s1, s2 = b1[blocks[0]].copy(), b2[blocks[0]].copy()
            for b in blocks[1:]:
                s1 += b1[b]
                s2 += b2[b]
            mean, var = s1 / (rows * 4.0) + center, (s2 - s1 * s1 / (rows * 4.0)) / (rows * 4.0 - 1)
            sr.append(np.where(var > 0, mean / np.sqrt(np.where(var > 0, var, 1.0)), 0.0))
        best = int(np.argmax(sr[0]))
        rank = 1 + int((sr[1] < sr[1][best]).sum()) + int(((sr[1] == sr[1][best]) & (np.arange(n) < best)).sum())
        omega = rank / (n + 1.0)
        expected.append(np.log(omega / (1.0 - omega)))
    assert lambdas.tobytes() == np.array(expected).tobytes()
    assert pbo == float(np.mean(np.array(expected) <= 0.0))


def test_block_length_of_two_series_is_the_larger_of_each():
    rng = np.random.default_rng(2)
    x, b = rng.normal(0.0, 0.01, 1006), rng.normal(0.0, 0.01, 1006)
    x[rng.random(1006) < 0.5] = 0.0
    for a, c in ((x, b), (b, x), (x, x), (np.zeros(1006), b)):
        joint = of._stationary_block(np.column_stack([a, c]))
        assert joint == max(of.stationary_block_length(a), of.stationary_block_length(c))
        assert of._stationary_block(a[:, None]) == of.stationary_block_length(a)
        ci = of.sharpe_confidence_interval(a, 252, benchmark=c, reps=200, seed=3)
        assert ci == of.sharpe_confidence_interval(a, 252, benchmark=c, reps=200, seed=3, block_size=joint)
