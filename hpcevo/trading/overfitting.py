"""Statistics that say whether a backtested strategy's performance is skill or luck (pure NumPy/SciPy/arch).

Conventions:

- Sharpe ratios passed to or returned by the PSR/DSR/MinTRL family are per bar (NOT annualised): mean / std(ddof=1)
  of per-bar returns; `trials_variance` of the DSR is likewise the variance of the trials' per-bar Sharpe ratios.
  Only `sharpe_confidence_interval` annualises (by sqrt(periods_per_year)).
- Skewness g3 and kurtosis g4 are the biased (population, moments divided by T) estimators, g4 NOT excess
  (normal = 3): scipy.stats.skew(x, bias=True) and scipy.stats.kurtosis(x, fisher=False, bias=True).
- No module-level mutable state; every random draw comes from numpy.random.default_rng(seed) of an int `seed`.

References: Bailey & Lopez de Prado, "The Sharpe Ratio Efficient Frontier" (J. of Risk, 2012) for PSR and MinTRL;
"The Deflated Sharpe Ratio" (J. of Portfolio Management, 2014) for SR0 and DSR; Bailey, Borwein, Lopez de Prado &
Zhu, "The Probability of Backtest Overfitting" (J. of Computational Finance, 2017) for CSCV/PBO; Politis & Romano
(1994) for the stationary bootstrap; Hansen (2005), "A Test for Superior Predictive Ability", for SPA.
"""

import itertools
import math

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from scipy.stats import norm

from .arch_bootstrap import SPA, StationaryBootstrap, optimal_block_length

__all__ = [
    "sharpe_stats",
    "sharpe_ratios",
    "probabilistic_sharpe_ratio",
    "expected_max_sharpe",
    "deflated_sharpe_ratio",
    "min_track_record_length",
    "pbo_cscv",
    "effective_trials",
    "sharpe_confidence_interval",
    "stationary_block_length",
    "spa_pvalue",
]


EULER_GAMMA = 0.5772156649015329  # Euler-Mascheroni constant (an immutable float)
_TINY_DENOMINATOR = 1e-12  # floor of the PSR/MinTRL variance factor when it is not positive
_MIN_ROWS_PER_BLOCK = 4  # pbo_cscv: fewest rows a CSCV block may have


def _as_1d(returns, name="returns"):
    x = np.asarray(returns, dtype=float).ravel()
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite")
    return x


def _sr_variance_factor(sr, skew, kurt):
    """1 - g3 SR + (g4 - 1)/4 SR^2 (T times the asymptotic variance of SR-hat), floored at a tiny positive number."""
    d = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    return d if d > 0.0 else _TINY_DENOMINATOR


def sharpe_stats(returns) -> tuple[float, int, float, float]:
    """(SR, T, skew g3, kurtosis g4 (NOT excess; normal = 3)) of per-bar returns; SR = mean/std(ddof=1), per bar.

    g3, g4 are the biased (population) estimators, as scipy.stats.skew/kurtosis(fisher=False) with bias=True.
    With T < 2 or a constant series SR is 0 and (g3, g4) are reported as the normal (0, 3).
    """
    x = _as_1d(returns)
    t = int(x.size)
    if t < 2 or np.all(x == x[0]):
        return 0.0, t, 0.0, 3.0
    mean = float(x.mean())
    dev = x - mean
    m2 = float(np.mean(dev**2))
    if m2 <= 0.0:
        return 0.0, t, 0.0, 3.0
    sr = mean / math.sqrt(m2 * t / (t - 1))
    g3 = float(np.mean(dev**3)) / m2**1.5
    g4 = float(np.mean(dev**4)) / m2**2
    return float(sr), t, float(g3), float(g4)


def sharpe_ratios(rows) -> np.ndarray:
    """The SR of sharpe_stats for each row of an N x T array of per-bar returns, without the higher moments.

    The same floats as [sharpe_stats(row)[0] for row in rows]: each row is reduced on its own, contiguous, by the
    reductions sharpe_stats makes (np.mean, pairwise), then the same element-wise operations.
    """
    x = np.ascontiguousarray(rows, dtype=float)
    if x.ndim != 2:
        raise ValueError("rows must be an N x T array")
    if not np.all(np.isfinite(x)):
        raise ValueError("returns must be finite")
    n, t = x.shape
    out = np.zeros(n)
    if t < 2 or n == 0:
        return out
    mean = x.mean(axis=1)
    dev = x - mean[:, None]
    np.square(dev, out=dev)
    m2 = dev.mean(axis=1)
    ok = ~np.all(x == x[:, :1], axis=1) & (m2 > 0.0)
    out[ok] = mean[ok] / np.sqrt(m2[ok] * t / (t - 1))
    return out


def probabilistic_sharpe_ratio(sr, t, skew, kurt, sr_benchmark=0.0) -> float:
    """P(true SR > SR*) = Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1)/4 SR^2)), Bailey & Lopez de Prado 2012.

    Per-bar SRs. T < 2 gives nan; a non-positive variance factor is clipped to a tiny positive number.
    """
    if t < 2:
        return math.nan
    z = (sr - sr_benchmark) * math.sqrt(t - 1.0) / math.sqrt(_sr_variance_factor(sr, skew, kurt))
    return float(norm.cdf(z))


def expected_max_sharpe(n_trials, variance) -> float:
    """Expected maximum of N iid N(0, V) Sharpe estimates (false-strategy theorem, Bailey & Lopez de Prado 2014).

    SR0 = sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e))); 0 for N <= 1. N may be fractional.
    """
    if variance < 0:
        raise ValueError("variance must be >= 0")
    if n_trials <= 1:
        return 0.0
    q = (1.0 - EULER_GAMMA) * norm.ppf(1.0 - 1.0 / n_trials) + EULER_GAMMA * norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(variance) * q)


def deflated_sharpe_ratio(sr, t, skew, kurt, n_trials, trials_variance) -> float:
    """PSR against SR* = expected_max_sharpe(n_trials, trials_variance): P(skill) after selecting the best of N trials.

    Bailey & Lopez de Prado 2014; sr and trials_variance are per bar (variance of the trials' per-bar SRs).
    """
    return probabilistic_sharpe_ratio(sr, t, skew, kurt, expected_max_sharpe(n_trials, trials_variance))


def min_track_record_length(sr, skew, kurt, sr_benchmark=0.0, alpha=0.05) -> float:
    """Bars needed for PSR(SR*) >= 1 - alpha: 1 + (1 - g3 SR + (g4 - 1)/4 SR^2) (z_{1-alpha} / (SR - SR*))^2.

    Bailey & Lopez de Prado 2012; per-bar SRs; inf when SR <= SR*.
    """
    if sr <= sr_benchmark:
        return math.inf
    z = norm.ppf(1.0 - alpha)
    return float(1.0 + _sr_variance_factor(sr, skew, kurt) * (z / (sr - sr_benchmark)) ** 2)


def _split_sharpes(s1, s2, n, center):
    """Sharpe (mean/std(ddof=1)) of each split x candidate from sums of centred returns; 0 where the std is 0.

    In place where it can be: mean = s1 / n + center, var = (s2 - s1 * s1 / n) / (n - 1), element by element.
    """
    mean = np.divide(s1, n)
    mean += center
    var = np.multiply(s1, s1)
    var /= n
    np.subtract(s2, var, out=var)
    var /= n - 1
    ok = var > 0.0
    np.sqrt(var, out=var, where=ok)
    return np.divide(mean, var, out=np.zeros_like(mean), where=ok)


def _subset_sums(blocks, subsets):
    """Row s: blocks[subsets[s, 0]] + blocks[subsets[s, 1]] + ... added left to right, for distinct subsets in
    lexicographic order (itertools.combinations order).

    The same floats as that loop over all rows: the sum of each distinct leading part is made once, as the sum of
    its one-shorter leading part plus the next block (rows that share a leading part are consecutive).
    """
    n_rows, width = subsets.shape
    starts = np.zeros(n_rows, dtype=bool)  # rows whose leading j + 1 blocks differ from the row before's
    starts[0] = True
    acc = part = None  # acc: the sums of the distinct leading parts; part: each row's leading part in acc
    for j in range(width):
        starts[1:] |= subsets[1:, j] != subsets[:-1, j]
        first = np.flatnonzero(starts)
        add = blocks[subsets[first, j]]
        if acc is None:
            acc = add
        else:
            acc = acc[part[first]]
            acc += add
        part = np.cumsum(starts) - 1
    return acc


def pbo_cscv(matrix, n_blocks=16) -> tuple[float, np.ndarray]:
    """Probability of Backtest Overfitting by combinatorially symmetric cross-validation (Bailey et al. 2017).

    matrix: T x N per-bar returns of N >= 2 candidates. Choices made here:

    - Blocks: the first T % n_blocks rows are dropped (the most recent data is kept) and the rest cut into
      n_blocks contiguous blocks of equal length. n_blocks must be even and >= 2; when T is too short for
      >= 4 rows per block it is reduced to the largest even number that gives 4 rows (at least 2 blocks;
      T < 8 raises ValueError).
    - Splits: every choice of n_blocks/2 blocks as the training set (itertools.combinations order), the rest test.
    - Selection: the candidate with the highest training Sharpe (mean/std(ddof=1), 0 for a zero std); ties go
      to the lowest column index.
    - Test rank: ordinal rank among the N test Sharpes, 1 = worst, ties ordered by column index (a tied candidate
      with a lower index ranks below); omega = rank/(N + 1), lambda = log(omega/(1 - omega)).
    - PBO = share of splits with lambda <= 0. Returns (pbo, lambdas) with lambdas in split order.

    Vectorised: per-block sums of (r - column mean) and its square (n_blocks x N), added up per split in a fixed
    order (bit-for-bit reproducible), so 12,870 splits of 200 candidates take well under a second.
    """
    r = np.asarray(matrix, dtype=float)
    if r.ndim != 2 or r.shape[1] < 2:
        raise ValueError("matrix must be T x N with N >= 2 candidates")
    if not np.all(np.isfinite(r)):
        raise ValueError("matrix must be finite")
    n_blocks = int(n_blocks)
    if n_blocks < 2 or n_blocks % 2:
        raise ValueError("n_blocks must be an even number >= 2")
    t, n_cand = r.shape
    if t < 2 * _MIN_ROWS_PER_BLOCK:
        raise ValueError(f"pbo_cscv needs at least {2 * _MIN_ROWS_PER_BLOCK} rows, got {t}")
    fit = (t // _MIN_ROWS_PER_BLOCK) // 2 * 2
    n_blocks = min(n_blocks, fit)
    rows = t // n_blocks
    r = r[t - rows * n_blocks :]
    center = r.mean(axis=0)
    x = (r - center).reshape(n_blocks, rows, n_cand)
    b1 = x.sum(axis=1)
    b2 = (x * x).sum(axis=1)

    half = n_blocks // 2
    train_idx = np.array(list(itertools.combinations(range(n_blocks), half)), dtype=np.intp)
    # a split's test blocks (ascending) are another split's training blocks: the complement's row
    code = (np.int64(1) << train_idx).sum(axis=1)
    by_code = np.argsort(code)
    test_row = by_code[np.searchsorted(code[by_code], ((1 << n_blocks) - 1) ^ code)]

    # the Sharpe of every half (added up block by block in ascending order), training and test sets alike
    n_half = float(rows * half)
    sr_train = _split_sharpes(_subset_sums(b1, train_idx), _subset_sums(b2, train_idx), n_half, center)
    sr_test = sr_train[test_row]

    splits = np.arange(len(train_idx))
    best = np.argmax(sr_train, axis=1)  # first maximum: lowest column index wins ties
    best_test = sr_test[splits, best][:, None]
    below = np.count_nonzero(sr_test < best_test, axis=1)
    tied_lower = np.count_nonzero((sr_test == best_test) & (np.arange(n_cand)[None, :] < best[:, None]), axis=1)
    rank = 1 + below + tied_lower
    omega = rank / (n_cand + 1.0)
    lambdas = np.log(omega / (1.0 - omega))
    return float(np.mean(lambdas <= 0.0)), lambdas


def effective_trials(returns_matrix, threshold=0.5) -> int:
    """Effective number of independent strategies among the N columns of a T x N return matrix.

    Clusters from average-linkage hierarchical clustering on d = sqrt((1 - rho)/2), cut at the distance of
    correlation `threshold` (columns correlated above it join one cluster). Constant columns (no defined
    correlation) count as one cluster each. Deterministic; returns >= 1.
    """
    r = np.asarray(returns_matrix, dtype=float)
    if r.ndim == 1:
        r = r[:, None]
    if r.ndim != 2 or r.shape[1] < 1:
        raise ValueError("returns_matrix must be T x N with N >= 1")
    if not np.all(np.isfinite(r)):
        raise ValueError("returns_matrix must be finite")
    if not -1.0 <= threshold <= 1.0:
        raise ValueError("threshold must lie in [-1, 1]")
    varying = ~np.all(r == r[:1], axis=0) if r.shape[0] else np.zeros(r.shape[1], dtype=bool)
    n_const = int(r.shape[1] - varying.sum())
    v = r if r.flags.c_contiguous and varying.all() else r[:, varying]  # the same array as the copy
    m = v.shape[1]
    if m <= 1:
        return max(1, n_const + m)
    z = v - v.mean(axis=0)
    z /= np.sqrt((z * z).sum(axis=0))
    rho = np.clip(z.T @ z, -1.0, 1.0)
    dist = np.sqrt((1.0 - rho) / 2.0)
    dist = (dist + dist.T) / 2.0
    np.fill_diagonal(dist, 0.0)
    tree = linkage(squareform(dist, checks=False), method="average")
    labels = fcluster(tree, t=math.sqrt((1.0 - threshold) / 2.0), criterion="distance")
    return int(np.unique(labels).size) + n_const


def _annual_sharpe(x, periods_per_year):
    """Annualised Sharpe mean/std(ddof=1)*sqrt(ppy) of each column of x (1-D or 2-D); 0 where the std is 0."""
    x = np.asarray(x, dtype=float)
    mean = x.mean(axis=0)
    var = ((x - mean) ** 2).sum(axis=0) / (x.shape[0] - 1)
    mean, var = np.atleast_1d(mean), np.atleast_1d(var)
    out = np.zeros_like(mean)
    ok = var > 0.0
    out[ok] = mean[ok] / np.sqrt(var[ok]) * math.sqrt(periods_per_year)
    return out


def _stationary_block(x):
    """Politis-White optimal mean block length ('stationary' column of arch's optimal_block_length), >= 1 (1 for
    a constant series, where arch divides 0 by 0: a rule never in the market over a period)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lengths = optimal_block_length(x)["stationary"].to_numpy()
    lengths = lengths[np.isfinite(lengths)]
    return max(1.0, float(np.max(lengths))) if lengths.size else 1.0


def stationary_block_length(returns) -> float:
    """The mean block length sharpe_confidence_interval uses for one series: arch's optimal_block_length
    ('stationary', floored at 1; 1 for a constant series). arch estimates each column of a T x K array on its own,
    so the block length of several series together is the largest of theirs: pass it as `block_size`."""
    x = _as_1d(returns)
    if x.size < 2:
        raise ValueError("returns needs at least 2 bars")
    return _stationary_block(x)


_DRAW_CELLS = 1_000_000  # resampled values held at once by _bootstrap_sharpes (8 MB per column)


def _bootstrap_sharpes(bs, data, reps, periods_per_year):
    """Sharpe of column 0 (minus column 1's, for two columns) of `reps` stationary-bootstrap resamples of `data`.

    The draws are bs.update_indices() in turn, the ones bs.apply would make. Many draws go through
    `_annual_sharpe` at once as the columns of an n x m array laid out so that each column is summed in the order
    of one draw's n x k array (one series: each column contiguous, summed pairwise; two series: row-major, summed
    down the rows), so the result is the same floats as bs.apply with a per-draw `_annual_sharpe`.
    """
    n, k = data.shape
    cols = [np.ascontiguousarray(data[:, c]) for c in range(k)]
    draws = np.empty(reps)
    chunk = max(1, _DRAW_CELLS // n)
    buffer = np.empty((min(chunk, reps), n), dtype=np.int64)
    for start in range(0, reps, chunk):
        m = min(chunk, reps - start)
        index = buffer[:m]  # row j: the j-th draw (C-contiguous, as np.stack of the draws would lay them out)
        for j in range(m):
            index[j] = bs.update_indices()
        layout = index.T if k == 1 else np.ascontiguousarray(index.T)
        sharpes = [_annual_sharpe(col[layout], periods_per_year) for col in cols]
        draws[start:start + m] = sharpes[0] - sharpes[1] if k == 2 else sharpes[0]
    return draws


def sharpe_confidence_interval(
    returns, periods_per_year, *, benchmark=None, reps=1000, alpha=0.05, seed=0, block_size=None
) -> tuple[float, float]:
    """Stationary-bootstrap percentile (1 - alpha) CI of the annualised Sharpe of `returns` (Politis & Romano 1994).

    With `benchmark`, the CI of Sharpe(returns) - Sharpe(benchmark), both resampled with the same indices. The
    mean block length `block_size` defaults to arch's optimal_block_length ('stationary', floored at 1; with a
    benchmark the larger of the two series': stationary_block_length of each, computed once by a caller that
    asks for several intervals of one series); draws come from numpy.random.default_rng(seed).
    """
    x = _as_1d(returns)
    if x.size < 2:
        raise ValueError("returns needs at least 2 bars")
    if benchmark is None:
        data = x[:, None]
    else:
        b = _as_1d(benchmark, "benchmark")
        if b.size != x.size:
            raise ValueError("benchmark must have the same length as returns")
        data = np.column_stack([x, b])

    if block_size is None:
        block_size = _stationary_block(data)
    bs = StationaryBootstrap(block_size, data, seed=np.random.default_rng(seed))
    draws = _bootstrap_sharpes(bs, data, reps, periods_per_year)
    low, high = np.quantile(draws, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(low), float(high)


def spa_pvalue(benchmark, models, *, reps=1000, seed=0, block_size=None) -> float:
    """Hansen's SPA 'consistent' p-value of H0: no model's mean return beats the benchmark's (arch.bootstrap.SPA).

    Losses passed to arch are -returns (benchmark: T vector, models: T x K); stationary bootstrap; block_size
    defaults to optimal_block_length of the benchmark ('stationary', rounded, floored at 1); draws come from
    numpy.random.default_rng(seed).
    """
    b = _as_1d(benchmark, "benchmark")
    m = np.asarray(models, dtype=float)
    if m.ndim == 1:
        m = m[:, None]
    if m.ndim != 2 or m.shape[0] != b.size:
        raise ValueError("models must be T x K with the benchmark's T")
    if not np.all(np.isfinite(m)):
        raise ValueError("models must be finite")
    if block_size is None:
        block_size = max(1, int(round(_stationary_block(b))))
    spa = SPA(-b, -m, block_size=int(block_size), reps=reps, bootstrap="stationary", seed=np.random.default_rng(seed))
    spa.compute()
    return float(spa.pvalues["consistent"])
