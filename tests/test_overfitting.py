"""hpcevo.trading.overfitting against worked examples, plain brute-force references and planted-signal data.

Worked-example figures are computed here by hand (plain `math`, the normal CDF written with math.erf), never by
calling the code under test.
"""

import itertools
import math
import time
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats

from hpcevo.trading import overfitting as of

EULER_GAMMA = 0.5772156649015329


def phi(z):
    """Standard normal CDF from math.erf (independent of scipy.stats.norm used by the module)."""
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


# ----------------------------------------------------------------------------------------------------------
# Sharpe moments
# ----------------------------------------------------------------------------------------------------------


def test_sharpe_stats_matches_scipy_biased_moments():
    # Convention: biased (population) skewness and NON-excess kurtosis, i.e. scipy bias=True, fisher=False.
    x = np.random.default_rng(3).lognormal(0.0, 0.5, 400) - 1.05
    sr, t, g3, g4 = of.sharpe_stats(x)
    assert t == 400
    assert sr == pytest.approx(np.mean(x) / np.std(x, ddof=1), rel=1e-12)
    assert g3 == pytest.approx(stats.skew(x, bias=True), rel=1e-10)
    assert g4 == pytest.approx(stats.kurtosis(x, fisher=False, bias=True), rel=1e-10)
    assert g3 > 0.5 and g4 > 3.5  # a right-skewed, fat-tailed sample: the moments are not trivially normal


def test_sharpe_stats_degenerate_inputs():
    assert of.sharpe_stats([0.01] * 10) == (0.0, 10, 0.0, 3.0)
    assert of.sharpe_stats([0.02]) == (0.0, 1, 0.0, 3.0)
    assert of.sharpe_stats([]) == (0.0, 0, 0.0, 3.0)
    sr, t, _, _ = of.sharpe_stats([1.0, -1.0, 1.0, -1.0])
    assert (sr, t) == (0.0, 4)


# ----------------------------------------------------------------------------------------------------------
# PSR / SR0 / DSR / MinTRL
# ----------------------------------------------------------------------------------------------------------


def test_dsr_worked_example_bailey_lopez_de_prado_2014():
    # Numerical example of Bailey & Lopez de Prado (2014), "The Deflated Sharpe Ratio", JPM 40(5), the
    # section applying the DSR to a strategy selected out of N trials: annualised SR 2.5 on T = 1250 daily
    # observations (5 years x 250 days), skewness -3, kurtosis 10, N = 100 independent trials whose annualised
    # SRs have variance 1/2; the paper reports SR0 ~ 0.1132 (per day) and DSR ~ 0.9004.
    # The search tool only returned the paper's front matter, not the example's page, so these inputs and the
    # two reported figures are as recalled in the brief; the arithmetic below, written out by hand, reproduces
    # both figures to the 4 digits quoted, which cross-checks the recollection.
    sr = 2.5 / math.sqrt(250)  # 0.158114 per day
    var = 0.5 / 250  # variance of per-day SRs = annual variance / 250
    inv = NormalDist().inv_cdf  # stdlib quantile, independent of the module's scipy.stats.norm
    q = (1 - EULER_GAMMA) * inv(1 - 1 / 100) + EULER_GAMMA * inv(1 - 1 / (100 * math.e))
    # Phi^-1(0.99) = 2.326348, Phi^-1(1 - 1/(100 e)) = Phi^-1(0.996321) = 2.680210:
    # q = 0.422784 * 2.326348 + 0.577216 * 2.680210 = 0.983543 + 1.547059 = 2.530603
    assert q == pytest.approx(2.530603, abs=1e-6)
    sr0_hand = math.sqrt(var) * q  # 0.0447214 * 2.530603 = 0.113172
    assert sr0_hand == pytest.approx(0.1132, abs=5e-5)
    denom = 1 - (-3) * sr + (10 - 1) / 4 * sr**2  # 1 + 0.474342 + 0.05625 = 1.530592
    z = (sr - sr0_hand) * math.sqrt(1250 - 1) / math.sqrt(denom)  # 0.044942 * 35.341194 / 1.237171 = 1.283816
    assert z == pytest.approx(1.283816, abs=1e-6)
    dsr_hand = phi(z)
    assert dsr_hand == pytest.approx(0.9004, abs=5e-5)

    assert of.expected_max_sharpe(100, var) == pytest.approx(sr0_hand, rel=1e-12)
    assert of.deflated_sharpe_ratio(sr, 1250, -3.0, 10.0, 100, var) == pytest.approx(dsr_hand, rel=1e-9)
    # The same track record, undeflated (SR* = 0), looks near-certain: selection among 100 trials is what hurts.
    assert of.probabilistic_sharpe_ratio(sr, 1250, -3.0, 10.0) > 0.9999


def test_psr_hand_worked_example():
    # No figures of the PSR example of Bailey & Lopez de Prado (2012), "The Sharpe Ratio Efficient Frontier",
    # could be retrieved with the search tool (only its front matter), so this example is computed by hand:
    # SR = 0.1 per bar, T = 500, g3 = -1, g4 = 6, SR* = 0.02.
    # denominator factor 1 - (-1)(0.1) + (6 - 1)/4 (0.01) = 1 + 0.1 + 0.0125 = 1.1125
    # z = (0.1 - 0.02) sqrt(499) / sqrt(1.1125) = 0.08 * 22.338308 / 1.054751 = 1.694300
    z = (0.1 - 0.02) * math.sqrt(499) / math.sqrt(1.1125)
    assert z == pytest.approx(1.694300, abs=1e-6)
    assert of.probabilistic_sharpe_ratio(0.1, 500, -1.0, 6.0, 0.02) == pytest.approx(phi(z), rel=1e-12)
    assert phi(z) == pytest.approx(0.95490, abs=1e-5)
    # Normal returns (g3 = 0, g4 = 3) give the classical asymptotic variance (1 + SR^2 / 2) / (T - 1).
    z_normal = 0.1 * math.sqrt(499) / math.sqrt(1 + 0.5 * 0.01)
    assert of.probabilistic_sharpe_ratio(0.1, 500, 0.0, 3.0) == pytest.approx(phi(z_normal), rel=1e-12)
    # Negative skew and fat tails lower the PSR of the same SR.
    assert of.probabilistic_sharpe_ratio(0.1, 500, -1.0, 6.0) < of.probabilistic_sharpe_ratio(0.1, 500, 0.0, 3.0)


def test_psr_guards():
    assert math.isnan(of.probabilistic_sharpe_ratio(0.1, 1, 0.0, 3.0))
    # Denominator 1 - 10 * 0.5 + 0 < 0 is clipped to a tiny positive number: finite probability, no warning.
    p = of.probabilistic_sharpe_ratio(0.5, 100, 10.0, 1.0)
    assert p == 1.0
    assert of.probabilistic_sharpe_ratio(0.5, 100, 10.0, 1.0, sr_benchmark=0.5) == 0.5
    assert of.probabilistic_sharpe_ratio(-0.2, 100, 0.0, 3.0) < 0.05
    assert 0.0 <= of.probabilistic_sharpe_ratio(0.0, 2, 0.0, 3.0) <= 1.0


def test_min_track_record_length_hand_example_and_consistency_with_psr():
    # Hand example (no retrievable figures from the 2012 paper, as above): SR = 0.1, g3 = -1, g4 = 6, SR* = 0,
    # alpha = 0.05: MinTRL = 1 + 1.1125 (1.6448536 / 0.1)^2 = 1 + 1.1125 * 270.5543 = 301.9917 bars.
    z95 = 1.6448536269514722
    hand = 1 + 1.1125 * (z95 / 0.1) ** 2
    assert hand == pytest.approx(301.9917, abs=1e-4)
    mintrl = of.min_track_record_length(0.1, -1.0, 6.0)
    assert mintrl == pytest.approx(hand, rel=1e-12)
    # By construction the PSR of a track record exactly MinTRL long is 1 - alpha.
    assert of.probabilistic_sharpe_ratio(0.1, mintrl, -1.0, 6.0) == pytest.approx(0.95, abs=1e-12)
    assert of.min_track_record_length(0.1, -1.0, 6.0, alpha=0.01) > mintrl
    assert of.min_track_record_length(0.1, 0.0, 3.0, sr_benchmark=0.1) == math.inf
    assert of.min_track_record_length(0.05, 0.0, 3.0, sr_benchmark=0.1) == math.inf


def test_expected_max_sharpe_against_monte_carlo_and_edges():
    assert of.expected_max_sharpe(1, 0.5) == 0.0
    assert of.expected_max_sharpe(0, 0.5) == 0.0
    assert of.expected_max_sharpe(50, 0.0) == 0.0
    with pytest.raises(ValueError):
        of.expected_max_sharpe(10, -1.0)
    values = [of.expected_max_sharpe(n, 1.0) for n in (2, 10, 100, 1000)]
    assert values == sorted(values)
    # The approximation of E[max of N iid N(0, V)] against simulation: N = 100, V = 4 (sd 2).
    draws = np.random.default_rng(11).normal(0.0, 2.0, size=(20_000, 100)).max(axis=1).mean()
    assert of.expected_max_sharpe(100, 4.0) == pytest.approx(draws, rel=0.02)


# ----------------------------------------------------------------------------------------------------------
# PBO by CSCV
# ----------------------------------------------------------------------------------------------------------


def brute_force_pbo(matrix, n_blocks):
    """The CSCV procedure written plainly: one split at a time, Sharpe from np.mean/np.std, explicit rank loop."""
    t, n = matrix.shape
    rows = t // n_blocks
    r = matrix[t - rows * n_blocks :]  # the module drops the first T % n_blocks rows
    blocks = [r[i * rows : (i + 1) * rows] for i in range(n_blocks)]
    lambdas = []
    for train in itertools.combinations(range(n_blocks), n_blocks // 2):
        test = [b for b in range(n_blocks) if b not in train]
        tr = np.concatenate([blocks[b] for b in train])
        te = np.concatenate([blocks[b] for b in test])
        sr_tr = [np.mean(tr[:, j]) / np.std(tr[:, j], ddof=1) for j in range(n)]
        sr_te = [np.mean(te[:, j]) / np.std(te[:, j], ddof=1) for j in range(n)]
        best = 0
        for j in range(1, n):
            if sr_tr[j] > sr_tr[best]:  # strict: the lowest index wins a tie
                best = j
        # ordinal rank of best in test, 1 = worst, ties ordered by column index
        order = sorted(range(n), key=lambda j: (sr_te[j], j))
        rank = order.index(best) + 1
        omega = rank / (n + 1)
        lambdas.append(math.log(omega / (1 - omega)))
    lambdas = np.array(lambdas)
    return float(np.mean(lambdas <= 0)), lambdas


def test_pbo_tiny_case_against_brute_force():
    # T = 18 rows, n_blocks = 4 -> the first 2 rows dropped, 4 blocks of 4 rows, C(4, 2) = 6 splits, N = 3.
    m = np.random.default_rng(5).normal(size=(18, 3))
    pbo, lambdas = of.pbo_cscv(m, n_blocks=4)
    ref_pbo, ref_lambdas = brute_force_pbo(m, 4)
    assert lambdas.shape == (6,)
    np.testing.assert_allclose(lambdas, ref_lambdas, rtol=0, atol=1e-12)
    assert pbo == ref_pbo
    # lambda only takes the values log(k / (4 - k)) for ranks k = 1, 2, 3.
    assert set(np.round(lambdas, 12)) <= {round(math.log(k / (4 - k)), 12) for k in (1, 2, 3)}
    # Changing the dropped rows must not change anything (they are excluded).
    m2 = m.copy()
    m2[:2] = 99.0
    assert np.array_equal(of.pbo_cscv(m2, n_blocks=4)[1], lambdas)


def test_pbo_against_brute_force_larger_and_with_ties():
    m = np.random.default_rng(8).normal(size=(62, 5))
    m[:, 3] = m[:, 1]  # an exact duplicate: ties in training and test Sharpe, broken by column index
    pbo, lambdas = of.pbo_cscv(m, n_blocks=6)
    ref_pbo, ref_lambdas = brute_force_pbo(m, 6)
    assert lambdas.shape == (20,)
    np.testing.assert_allclose(lambdas, ref_lambdas, rtol=0, atol=1e-12)
    assert pbo == ref_pbo


def test_pbo_pure_noise_is_about_one_half():
    # For exchangeable noise candidates the selected one's test rank is uniform, so E[PBO] = 1/2 (N even).
    # One data set's PBO varies a lot (its splits share the data: 0.1..0.9 seen), so average over 40 seeds.
    pbos = [of.pbo_cscv(np.random.default_rng(1000 + s).normal(size=(400, 50)), n_blocks=8)[0] for s in range(40)]
    assert 0.35 < np.mean(pbos) < 0.65
    assert all(0.0 <= p <= 1.0 for p in pbos)


def test_pbo_planted_skill_is_low():
    for seed in range(3):
        m = np.random.default_rng(seed).normal(0.0, 0.01, size=(2000, 40))
        m[:, 17] += 0.004  # per-bar Sharpe 0.4 against 0 for the rest
        pbo, lambdas = of.pbo_cscv(m, n_blocks=10)
        assert pbo < 0.1
        assert np.median(lambdas) > 2.0


def test_pbo_block_reduction_and_validation():
    m = np.random.default_rng(1).normal(size=(20, 4))
    # 20 rows cannot hold 16 blocks of >= 4 rows: reduced to 4 blocks of 5 -> C(4, 2) = 6 splits.
    _, lambdas = of.pbo_cscv(m, n_blocks=16)
    assert lambdas.shape == (6,)
    np.testing.assert_allclose(lambdas, brute_force_pbo(m, 4)[1], atol=1e-12)
    with pytest.raises(ValueError):
        of.pbo_cscv(m, n_blocks=5)
    with pytest.raises(ValueError):
        of.pbo_cscv(m[:7], n_blocks=2)
    with pytest.raises(ValueError):
        of.pbo_cscv(m[:, :1], n_blocks=4)


def test_pbo_fast_at_full_size_and_reproducible():
    m = np.random.default_rng(2).normal(size=(5000, 200))
    start = time.perf_counter()
    pbo, lambdas = of.pbo_cscv(m, n_blocks=16)
    elapsed = time.perf_counter() - start
    assert lambdas.shape == (12_870,)
    assert elapsed < 5.0
    pbo2, lambdas2 = of.pbo_cscv(m, n_blocks=16)
    assert pbo == pbo2 and np.array_equal(lambdas, lambdas2)


# ----------------------------------------------------------------------------------------------------------
# Effective number of trials
# ----------------------------------------------------------------------------------------------------------


def test_effective_trials_recovers_planted_clusters():
    rng = np.random.default_rng(4)
    base = rng.normal(size=(1000, 3))
    copies = np.repeat(base, 10, axis=1) + 0.1 * rng.normal(size=(1000, 30))
    copies = copies[:, rng.permutation(30)]
    assert of.effective_trials(copies) == 3
    assert of.effective_trials(rng.normal(size=(1000, 25))) == 25


def test_effective_trials_threshold_constant_columns_and_edges():
    rng = np.random.default_rng(6)
    a, e = rng.normal(size=(2, 5000))
    b = 0.8 * a + 0.6 * e  # corr(a, b) ~ 0.8
    pair = np.column_stack([a, b])
    assert of.effective_trials(pair, threshold=0.5) == 1
    assert of.effective_trials(pair, threshold=0.9) == 2
    assert of.effective_trials(np.column_stack([a, -a])) == 2  # anti-correlated strategies are distinct
    with_const = np.column_stack([a, b, np.zeros(5000), np.full(5000, 0.3)])
    assert of.effective_trials(with_const) == 3  # 1 cluster + 2 constant columns
    assert of.effective_trials(np.zeros((10, 4))) == 4
    assert of.effective_trials(a) == 1


# ----------------------------------------------------------------------------------------------------------
# Bootstrap CI of the Sharpe ratio
# ----------------------------------------------------------------------------------------------------------


def test_sharpe_ci_reproducible_and_contains_sample_sharpe():
    x = np.random.default_rng(7).normal(0.0005, 0.01, 750)
    ci = of.sharpe_confidence_interval(x, 252, reps=400, seed=3)
    assert ci == of.sharpe_confidence_interval(x, 252, reps=400, seed=3)
    assert ci != of.sharpe_confidence_interval(x, 252, reps=400, seed=4)
    sample = np.mean(x) / np.std(x, ddof=1) * math.sqrt(252)
    low, high = ci
    assert low < sample < high
    # Width near the iid theory: 2 * 1.96 * sqrt(252 / 750) = 2.27 (annualised).
    assert 1.5 < high - low < 3.2
    assert of.sharpe_confidence_interval(x, 252, reps=400, seed=3, alpha=0.5)[0] > low


def test_sharpe_ci_detects_true_sharpe_three():
    daily_sr = 3.0 / math.sqrt(252)
    x = np.random.default_rng(9).normal(daily_sr * 0.01, 0.01, 2000)
    low, high = of.sharpe_confidence_interval(x, 252, reps=500, seed=0)
    assert low > 0.0
    assert low < 3.0 < high + 0.5


def test_sharpe_ci_of_difference_resamples_jointly():
    rng = np.random.default_rng(10)
    x = rng.normal(0.0005, 0.01, 1000)
    low, high = of.sharpe_confidence_interval(x, 252, benchmark=x, reps=300, seed=1)
    assert abs(low) < 1e-12 and abs(high) < 1e-12
    # A benchmark nearly equal to the strategy: with the same indices the difference CI is very narrow; with
    # independent resampling it would be about sqrt(2) times the single-series width.
    bench = x + rng.normal(0.0, 0.0005, 1000)
    d_low, d_high = of.sharpe_confidence_interval(x, 252, benchmark=bench, reps=300, seed=1)
    s_low, s_high = of.sharpe_confidence_interval(x, 252, reps=300, seed=1)
    assert d_high - d_low < 0.2 * (s_high - s_low)
    with pytest.raises(ValueError):
        of.sharpe_confidence_interval(x, 252, benchmark=x[:-1])


@pytest.mark.parametrize("with_benchmark", [False, True])
@pytest.mark.parametrize("n", [2, 37, 1013])
def test_sharpe_ci_draws_equal_arch_apply_per_draw(monkeypatch, n, with_benchmark):
    # The batched draws are the floats arch's bs.apply gives with the statistic computed one draw at a time,
    # across chunk boundaries (a small chunk size forces several) and with zero-variance draws (runs of zeros).
    from arch.bootstrap import StationaryBootstrap

    rng = np.random.default_rng(n)
    x = rng.normal(0.0005, 0.01, n)
    x[rng.random(n) < 0.4] = 0.0
    data = np.column_stack([x, rng.normal(0.0003, 0.01, n)]) if with_benchmark else x[:, None]

    def per_draw(d):
        s = of._annual_sharpe(d, 252)
        return np.array([s[0] - s[1] if s.size == 2 else s[0]])

    expected = StationaryBootstrap(3.0, data, seed=np.random.default_rng(5)).apply(per_draw, reps=250)[:, 0]
    monkeypatch.setattr(of, "_DRAW_CELLS", 7 * n)
    got = of._bootstrap_sharpes(StationaryBootstrap(3.0, data, seed=np.random.default_rng(5)), data, 250, 252)
    assert got.tobytes() == expected.tobytes()
    assert (got == 0.0).any() if n == 2 else np.isfinite(got).all()


# ----------------------------------------------------------------------------------------------------------
# Hansen's SPA
# ----------------------------------------------------------------------------------------------------------


def test_spa_detects_superior_models():
    rng = np.random.default_rng(12)
    bench = rng.normal(0.0, 0.01, 1000)
    models = bench[:, None] + 0.002 + rng.normal(0.0, 0.002, size=(1000, 5))
    p = of.spa_pvalue(bench, models, reps=300, seed=0)
    assert p < 0.05
    assert p == of.spa_pvalue(bench, models, reps=300, seed=0)


def test_spa_inferior_models_not_rejected():
    rng = np.random.default_rng(13)
    bench = rng.normal(0.0, 0.01, 1000)
    models = bench[:, None] - 0.001 + rng.normal(0.0, 0.002, size=(1000, 5))
    p = of.spa_pvalue(bench, models, reps=300, seed=0)
    assert p > 0.5
    assert p == of.spa_pvalue(bench, models, reps=300, seed=0)
    # A single model as a 1-D vector and an explicit block size are accepted.
    assert of.spa_pvalue(bench, models[:, 0], reps=200, seed=1, block_size=5) > 0.5
