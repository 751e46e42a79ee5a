"""Uncertainty for the leaderboard: confidence intervals, baseline comparisons, Friedman + Nemenyi, average ranks.

Within a dataset the unit of resampling and the block of the rank tests is the **replication** (the metric is first
averaged over its seeds and splits); pooled statements over several datasets use **datasets as blocks**
(``unit="dataset"``, Demšar 2006), and pooled win rates weight datasets equally.

The mean's 95 % interval is the t-interval (a percentile bootstrap under-covers at ten replications); the BCa
bootstrap interval (``scipy.stats.bootstrap``) is given beside it. Win-rate intervals are percentile bootstraps.

The ranking is the average rank over blocks. The Friedman test asks whether any average rank differs, the Nemenyi
post-hoc (the critical-difference diagram) which pairs do. Paired tests run only against one pre-declared baseline
(Holm over k - 1 comparisons), as signed-rank tests on the log ratio of the two errors. A test that cannot reject at
α with the design's number of blocks is not run. :func:`detectable_effect` gives the smallest standardized paired
effect the baseline comparisons find with 80 % power.

The reasoning, with the numbers behind each choice: ``docs/statistics.md``. All random draws come from
``numpy.random.default_rng(seed)``; no global state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from .winrates import paired_table, unit_means

__all__ = [
    "unit_table",
    "t_mean_ci",
    "bootstrap_mean_ci",
    "bootstrap_winrate_ci",
    "winrate_ci_from_table",
    "holm",
    "wilcoxon_holm",
    "average_ranks",
    "wilcoxon_min_p",
    "friedman_test",
    "friedman_exact_p",
    "friedman_permutation_p",
    "friedman_min_p",
    "friedman_nemenyi",
    "nemenyi_cd",
    "FEW_BLOCKS",
    "wilcoxon_max_losses",
    "detectable_effect",
    "vs_baseline",
]


def unit_table(
    results: pd.DataFrame,
    metric: str = "pehe_out",
    unit: str = "replication",
    dataset: str | None = None,
    estimators: list[str] | None = None,
    complete: bool = True,
) -> pd.DataFrame:
    """Metric averaged per unit: rows = units, columns = estimators.

    Parameters
    ----------
    results : DataFrame
        One row per task (``Store.results()``).
    metric : str, default "pehe_out"
    unit : {"replication", "dataset"}, default "replication"
        See the module docstring.
    dataset : str, optional
        Restrict to one dataset first.
    estimators : list of str, optional
        Columns (default: every estimator, sorted).
    complete : bool, default True
        Use only complete replications (every estimator ``ok`` on every task; see
        :func:`catebench.benchmark.winrates.unit_means`), as the paired tests need.  False (replication units only): every
        replication, NaN where an estimator has no ok task; a partly failed replication averages its ok tasks.

    Returns
    -------
    DataFrame, shape (n_units, n_estimators)
    """
    if dataset is not None:
        results = results[results["dataset"] == dataset]
        if results.empty:
            raise ValueError(f"dataset {dataset!r} has no rows in the results")
    if complete:
        return unit_means(results, metric, unit, estimators)[0]
    if unit != "replication":
        raise ValueError("complete=False is only defined for unit='replication'")
    return paired_table(results, metric, estimators).groupby(level=["dataset", "replication"]).mean()


def t_mean_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Student-t confidence interval of the mean: ``mean ± t_{n-1, (1+level)/2} · sd / sqrt(n)``.

    Parameters
    ----------
    values : (n,) float array
        One value per unit (e.g. per replication, seeds already averaged); NaNs are an error.
    level : float, default 0.95

    Returns
    -------
    (mean, low, high) : floats; the bounds are NaN when n < 2.
    """
    v = _check_values(values, level)
    m = float(v.mean())
    if len(v) < 2:
        return m, np.nan, np.nan
    half = sps.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    return m, float(m - half), float(m + half)


def _check_values(values, level) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or len(v) == 0:
        raise ValueError(f"values must be a non-empty 1-d array, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError("values contain NaN/inf; drop or count missing units before computing an interval")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return v


def bootstrap_mean_ci(
    values: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0, method: str = "percentile"
) -> tuple[float, float, float]:
    """Bootstrap CI of the mean (percentile or BCa).

    Parameters
    ----------
    values : (n,) float array
        One value per unit (e.g. per replication); NaNs are an error.
    n_boot : int, default 2000
    level : float, default 0.95
    seed : int, default 0
    method : {"percentile", "bca"}, default "percentile"
        ``"bca"``: bias-corrected and accelerated (Efron 1987), by ``scipy.stats.bootstrap``, which corrects the
        percentile interval's skew and part of its small-sample narrowness. Use :func:`t_mean_ci` where a plain
        interval of the mean is wanted: at n = 10 the percentile interval under-covers.

    Returns
    -------
    (mean, low, high) : floats
    """
    v = _check_values(values, level)
    if method not in ("percentile", "bca"):
        raise ValueError(f"method must be 'percentile' or 'bca', got {method!r}")
    m = float(v.mean())
    if len(v) < 2 or np.ptp(v) == 0:
        return m, m, m
    res = sps.bootstrap((v,), np.mean, n_resamples=n_boot, confidence_level=level, vectorized=True,
                        method="BCa" if method == "bca" else "percentile", rng=np.random.default_rng(seed))
    return m, float(res.confidence_interval.low), float(res.confidence_interval.high)


def bootstrap_winrate_ci(
    results: pd.DataFrame,
    a: str,
    b: str,
    metric: str = "pehe_out",
    dataset: str | None = None,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    higher_is_better: bool = False,
    weighting: str = "datasets",
) -> tuple[float, float, float, int]:
    """Pairwise win rate w(a, b) with a percentile bootstrap CI that resamples replications (clusters of tasks).

    Tasks are paired as in :func:`catebench.benchmark.winrates.pairwise_winrates` (same ``weighting``); all seeds/splits of
    a (dataset, replication) are resampled together.

    Returns
    -------
    (w, low, high, n_pairs) : the point estimate, CI bounds and the number of paired tasks used.
    """
    if dataset is not None:
        results = results[results["dataset"] == dataset]
    return winrate_ci_from_table(paired_table(results, metric, [a, b]), a, b, n_boot, level, seed, higher_is_better,
                                 weighting)


def winrate_ci_from_table(
    wide: pd.DataFrame, a: str, b: str, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
    higher_is_better: bool = False, weighting: str = "datasets",
) -> tuple[float, float, float, int]:
    """:func:`bootstrap_winrate_ci` on a precomputed :func:`catebench.benchmark.winrates.paired_table` (any columns).

    ``weighting="datasets"`` resamples replications within each dataset (stratified) and averages the
    per-dataset win rates; ``"tasks"`` resamples all replications together and pools their tasks.
    """
    if weighting not in ("datasets", "tasks"):
        raise ValueError(f"weighting must be 'datasets' or 'tasks', got {weighting!r}")
    wide = wide[[a, b]].dropna()
    if wide.empty:
        raise ValueError(f"no paired ok tasks for {a!r} vs {b!r}")
    x, y = wide[a].to_numpy(), wide[b].to_numpy()
    if higher_is_better:
        x, y = -x, -y
    score = (x < y) + 0.5 * (x == y)  # (n_tasks,)
    ds = wide.index.get_level_values("dataset")
    strata = [np.ones(len(score), bool)] if weighting == "tasks" else [np.asarray(ds == d) for d in pd.unique(ds)]
    rng = np.random.default_rng(seed)
    point, boots = [], []
    for mask in strata:
        sub = wide[mask]
        clusters = pd.factorize(pd.MultiIndex.from_arrays(
            [sub.index.get_level_values("dataset"), sub.index.get_level_values("replication")]))[0]
        n_c = clusters.max() + 1
        s_sum = np.bincount(clusters, weights=score[mask], minlength=n_c)
        s_cnt = np.bincount(clusters, minlength=n_c).astype(float)
        draws = rng.integers(0, n_c, size=(n_boot, n_c))
        boots.append(s_sum[draws].sum(axis=1) / s_cnt[draws].sum(axis=1))
        point.append(score[mask].mean())
    boots_m = np.mean(boots, axis=0)
    al = (1 - level) / 2
    return float(np.mean(point)), float(np.quantile(boots_m, al)), float(np.quantile(boots_m, 1 - al)), len(score)


def holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error control).

    Parameters
    ----------
    pvalues : (m,) float array

    Returns
    -------
    (m,) float array
        ``p_adj[(i)] = max_{j <= i} min(1, (m - j + 1) p_(j))`` in the sorted order, mapped back.
    """
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj_sorted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj_sorted
    return out


def wilcoxon_min_p(n: int) -> float:
    """Smallest attainable two-sided p-value of the exact Wilcoxon signed-rank test with ``n`` non-zero pairs."""
    return min(1.0, 2.0 / 2**n) if n > 0 else 1.0


def wilcoxon_holm(table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Paired two-sided Wilcoxon signed-rank test for every pair of columns, Holm-corrected over all pairs.

    Parameters
    ----------
    table : DataFrame, shape (n_units, n_estimators)
        From :func:`unit_table` (complete units).
    alpha : float, default 0.05
        Family-wise level for the ``significant`` column.

    Returns
    -------
    DataFrame, one row per unordered pair (a, b)
        ``n`` units, ``median_diff`` (median of a - b), ``r_plus`` / ``r_minus`` (signed-rank sums of the
        non-zero differences a - b: ``r_minus`` large = a lower), ``statistic`` (scipy's, min(r_plus, r_minus)),
        ``p``, ``p_holm``, ``significant``, ``better``: when significant, the estimator the signed ranks favour
        (``a`` if ``r_minus > r_plus``, i.e. a's metric is lower on the larger ranked differences; lower is
        better), else "". This is the direction the test itself measures; ``median_diff`` can point the other way
        or be 0 when a few large differences outweigh many small ones.
    """
    names = list(table.columns)
    rows = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            a, b = names[i], names[j]
            d = (table[a] - table[b]).to_numpy(dtype=float)
            nz = d[d != 0]
            ranks = sps.rankdata(np.abs(nz))
            r_plus, r_minus = float(ranks[nz > 0].sum()), float(ranks[nz < 0].sum())
            if len(nz) == 0:
                stat, p = np.nan, 1.0
            else:
                res = sps.wilcoxon(table[a].to_numpy(float), table[b].to_numpy(float))
                stat, p = float(res.statistic), float(res.pvalue)
            rows.append({"a": a, "b": b, "n": len(d), "median_diff": float(np.median(d)) if len(d) else np.nan,
                         "r_plus": r_plus, "r_minus": r_minus, "statistic": stat, "p": p})
    out = pd.DataFrame(rows, columns=["a", "b", "n", "median_diff", "r_plus", "r_minus", "statistic", "p"])
    out["p_holm"] = holm(out["p"].to_numpy()) if len(out) else []
    out["significant"] = out["p_holm"] < alpha
    out["better"] = [
        (r.a if r.r_minus > r.r_plus else r.b) if r.significant else "" for r in out.itertuples()
    ]
    return out


def average_ranks(table: pd.DataFrame, higher_is_better: bool = False) -> pd.Series:
    """Average rank of each column over the rows (rank 1 = best; ties get the mean rank).

    Parameters
    ----------
    table : DataFrame, shape (n_units, n_estimators)

    Returns
    -------
    Series indexed by estimator, sorted ascending.
    """
    v = table.to_numpy(dtype=float)
    ranks = sps.rankdata(-v if higher_is_better else v, axis=1)
    return pd.Series(ranks.mean(axis=0), index=table.columns, name="avg_rank").sort_values()


def nemenyi_cd(k: int, n: int, alpha: float = 0.05) -> float:
    """Nemenyi critical difference of average ranks: ``q_alpha sqrt(k (k + 1) / (6 n))``.

    ``q_alpha`` is the studentized-range quantile with infinite degrees of freedom divided by sqrt(2) (Demšar 2006).
    """
    if k < 2 or n < 1:
        raise ValueError(f"need k >= 2 estimators and n >= 1 units, got k={k}, n={n}")
    q = sps.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(k * (k + 1) / (6.0 * n)))


#: Below this many blocks the Friedman p-value is exact or by permutation, not chi-square.
FEW_BLOCKS = 10
#: Enumerate exactly while (distribution states x block permutations) stays below this; else permute at random.
EXACT_LIMIT = 4_000_000
#: Random permutations for the Monte Carlo Friedman p-value.
N_PERM = 10_000


def _rank_blocks(v: np.ndarray) -> np.ndarray:
    return sps.rankdata(v, axis=1)


def friedman_exact_p(table: pd.DataFrame, higher_is_better: bool = False, limit: int = EXACT_LIMIT) -> float | None:
    """Exact permutation p-value of the Friedman test, or None when the enumeration would exceed ``limit``.

    Under the null every within-block arrangement of the block's (mid-)ranks is equally likely; the statistic
    sum_j R_j^2 (R_j = rank sum of column j) orders the outcomes exactly as Friedman's chi-square (also with ties).
    The distribution of the rank-sum vector is built block by block; block 1 is held fixed (the statistic is
    symmetric in the columns).

    Parameters
    ----------
    table : DataFrame, shape (n_blocks, k)

    Returns
    -------
    float p = P(S >= S_observed) or None.
    """
    import itertools
    from math import factorial

    v = table.to_numpy(dtype=float)
    if higher_is_better:
        v = -v
    r2 = np.rint(2 * _rank_blocks(v)).astype(np.int64)  # (n, k) doubled ranks: integers even with ties
    n, k = r2.shape
    s_obs = int((r2.sum(axis=0) ** 2).sum())
    base = int(r2.sum(axis=0).max() + 2 * n * k + 1)  # every rank-sum component stays below base: no carries
    if k * np.log(base) >= np.log(2.0**62):
        return None
    weights = base ** np.arange(k, dtype=np.int64)  # a rank-sum vector is one integer code
    codes, counts = np.array([int(r2[0] @ weights)], dtype=np.int64), np.array([1.0])
    for row in r2[1:]:
        n_distinct = factorial(k)
        for c in np.unique(row, return_counts=True)[1]:
            n_distinct //= factorial(int(c))
        if len(codes) * n_distinct > limit:
            return None
        perms = np.array(sorted(set(itertools.permutations(row.tolist()))), dtype=np.int64) @ weights
        new = (codes[:, None] + perms[None, :]).ravel()
        codes, inv = np.unique(new, return_inverse=True)
        counts = np.bincount(inv.ravel(), weights=np.repeat(counts, len(perms)))
    sums = (codes[:, None] // weights[None, :]) % base  # decode, (n_states, k)
    stat = (sums**2).sum(axis=1)
    return float(counts[stat >= s_obs].sum() / counts.sum())


def friedman_permutation_p(table: pd.DataFrame, n_perm: int = N_PERM, seed: int = 0,
                           higher_is_better: bool = False) -> float:
    """Permutation p-value of the Friedman test, ranks shuffled within each block (``scipy.stats.permutation_test``).

    Exact when all (k!)^n arrangements fit in ``n_perm``; otherwise ``n_perm`` random ones, p = ``(1 + #) / (1 + n)``.
    :func:`friedman_exact_p` stays hand-written: it enumerates rank-sum vectors block by block, which reaches
    far more blocks than enumerating arrangements.

    Parameters
    ----------
    table : DataFrame, shape (n_blocks, k)
    n_perm : int, default :data:`N_PERM`
    seed : int, default 0
        Seed of ``numpy.random.default_rng``.
    """
    v = table.to_numpy(dtype=float)
    if higher_is_better:
        v = -v
    r = _rank_blocks(v)  # (n, k)

    def stat(*columns, axis=-1):  # columns: k arrays (..., n); sum_j R_j^2
        return sum(c.sum(axis=axis) ** 2 for c in columns)

    res = sps.permutation_test(tuple(r[:, j] for j in range(r.shape[1])), stat, permutation_type="samples",
                               vectorized=True, n_resamples=n_perm, alternative="greater",
                               rng=np.random.default_rng(seed))
    return float(res.pvalue)


def friedman_min_p(n: int, k: int, method: str) -> float:
    """Smallest p-value the Friedman test can give with ``n`` blocks and ``k`` estimators (no ties).

    Exact / permutation: every block ranks the estimators alike, probability (1 / k!)^(n - 1) (the permutation
    estimate cannot go below 1 / (1 + :data:`N_PERM`)); chi-square: the statistic's maximum n (k - 1).
    """
    from math import factorial, log

    if n < 2:
        return 1.0
    if method == "chi2":
        return float(sps.chi2.sf(n * (k - 1), k - 1))
    exact = float(np.exp(-(n - 1) * log(factorial(k)))) if (n - 1) * log(factorial(k)) < 700 else 0.0
    return max(exact, 1.0 / (1 + N_PERM)) if method == "permutation" else exact


def friedman_test(table: pd.DataFrame, higher_is_better: bool = False, method: str = "auto", n_perm: int = N_PERM,
                  seed: int = 0) -> dict:
    """Friedman test over blocks (rows) with a p-value that is right for few blocks.

    Parameters
    ----------
    table : DataFrame, shape (n_blocks, k)
    method : {"auto", "chi2", "exact", "permutation"}, default "auto"
        ``"auto"``: chi-square from :data:`FEW_BLOCKS` blocks on; below, exact where the enumeration fits
        :data:`EXACT_LIMIT`, else permutation.
    n_perm, seed : the Monte Carlo permutation's size and seed.

    Returns
    -------
    dict
        ``statistic`` (Friedman chi-square, tie-corrected as scipy), ``p``, ``method`` (the one used), ``p_chi2``
        (the chi-square p-value, for comparison), ``p_min`` (smallest attainable p, see :func:`friedman_min_p`).
    """
    n, k = table.shape
    if k < 3:
        raise ValueError(f"the Friedman test needs at least 3 estimators, got {k}")
    if n < 2:
        raise ValueError(f"the Friedman test needs at least 2 complete units, got {n}")
    if method not in ("auto", "chi2", "exact", "permutation"):
        raise ValueError(f"method must be 'auto', 'chi2', 'exact' or 'permutation', got {method!r}")
    v = table.to_numpy(dtype=float)
    if higher_is_better:
        v = -v
    res = sps.friedmanchisquare(*[v[:, j] for j in range(k)])
    stat = float(res.statistic)
    p_chi2 = float(res.pvalue)
    used, p = method, None
    if method == "auto":
        used = "chi2" if n >= FEW_BLOCKS else "exact"
    if used == "exact":
        p = friedman_exact_p(table, higher_is_better)
        if p is None:
            if method == "exact":
                raise ValueError(f"exact Friedman enumeration for n={n}, k={k} exceeds {EXACT_LIMIT} states")
            used = "permutation"
    if used == "permutation":
        p = friedman_permutation_p(table, n_perm, seed, higher_is_better)
    if used == "chi2":
        p = p_chi2
    if not np.isfinite(stat):  # every block tied throughout: nothing to test
        stat, p, p_chi2 = 0.0, 1.0, 1.0
    return {"statistic": stat, "p": float(p), "method": used, "p_chi2": p_chi2, "p_min": friedman_min_p(n, k, used)}


def friedman_nemenyi(table: pd.DataFrame, alpha: float = 0.05, higher_is_better: bool = False,
                     method: str = "auto", seed: int = 0) -> dict:
    """Friedman test over blocks (rows) plus Nemenyi post-hoc pairwise p-values, and whether each can reject.

    Parameters
    ----------
    table : DataFrame, shape (n_units, n_estimators)
        Complete units (blocks) x estimators.
    alpha : float, default 0.05
    method, seed : passed to :func:`friedman_test`.

    Returns
    -------
    dict
        ``statistic``, ``p``, ``method``, ``p_chi2``, ``p_min`` (see :func:`friedman_test`); ``can_reject``
        (``p_min <= alpha``); ``rejects`` (``p < alpha``); ``avg_ranks`` (Series); ``cd`` (critical difference);
        ``nemenyi_possible`` (``cd < k - 1``: some rank gap could exceed it); ``nemenyi_run`` (``rejects`` and
        ``nemenyi_possible``: the post-hoc is meaningful); ``n`` blocks, ``k`` estimators, ``alpha``,
        ``pairwise`` (DataFrame k x k of Nemenyi p-values, computed in any case).
    """
    n, k = table.shape
    fr = friedman_test(table, higher_is_better, method=method, seed=seed)
    ranks = average_ranks(table, higher_is_better)
    r = ranks.reindex(table.columns).to_numpy()
    se = np.sqrt(k * (k + 1) / (6.0 * n))
    z = np.abs(r[:, None] - r[None, :]) / se
    p = sps.studentized_range.sf(z * np.sqrt(2), k, np.inf)
    np.fill_diagonal(p, 1.0)
    cd = nemenyi_cd(k, n, alpha)
    can_reject = fr["p_min"] <= alpha
    rejects = bool(fr["p"] < alpha)
    return {
        **fr,
        "can_reject": bool(can_reject),
        "rejects": rejects,
        "avg_ranks": ranks,
        "cd": cd,
        "nemenyi_possible": bool(cd < k - 1),
        "nemenyi_run": bool(rejects and cd < k - 1),
        "n": n,
        "k": k,
        "alpha": alpha,
        "pairwise": pd.DataFrame(p, index=table.columns, columns=table.columns),
    }


def _signed_rank_null_counts(n: int) -> np.ndarray:
    """Number of subsets of {1..n} with each rank sum t = 0 .. n (n + 1) / 2: the exact null law of R+ (no ties)."""
    top = n * (n + 1) // 2
    counts = np.zeros(top + 1)
    counts[0] = 1.0
    for r in range(1, n + 1):
        counts[r:] = counts[r:] + counts[:-r].copy()
    return counts


def wilcoxon_max_losses(n: int, level: float) -> int | None:
    """Most of ``n`` paired units the better estimator may lose and still reach a two-sided exact p <= ``level``.

    The losses are taken to be its smallest absolute differences (ranks 1..L), the most favourable case; None
    when even winning all ``n`` units gives a p above ``level`` (the test cannot reject).
    """
    if n < 1:
        return None
    counts = _signed_rank_null_counts(n)
    cdf = np.cumsum(counts) / counts.sum()
    best = None
    for losses in range(n + 1):
        w = losses * (losses + 1) // 2  # R- = 1 + ... + L
        if min(1.0, 2 * cdf[w]) <= level:
            best = losses
        else:
            break
    return best


#: Asymptotic relative efficiency of the signed-rank test to the t-test under normal differences.
WILCOXON_ARE = 3 / np.pi


def detectable_effect(n: int, m: int = 1, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest standardized paired effect (mean / SD of the paired differences) detected with ``power``.

    For a two-sided signed-rank test at level ``alpha / m`` (Holm's first step over ``m`` comparisons, the
    strictest) on ``n`` paired units: the paired t-test's effect from the noncentral t, at the signed-rank test's
    efficiency ``3 / pi`` (``n_eff = 3 n / pi``). ``inf`` when the exact test cannot reach ``alpha / m`` at all
    (see :func:`wilcoxon_max_losses`).
    """
    from scipy.optimize import brentq

    if n < 2 or m < 1:
        raise ValueError(f"need n >= 2 paired units and m >= 1 comparisons, got n={n}, m={m}")
    level = alpha / m
    if wilcoxon_max_losses(n, level) is None:
        return float("inf")
    n_eff = WILCOXON_ARE * n
    df = max(n_eff - 1, 1.0)
    crit = sps.t.ppf(1 - level / 2, df)

    def short(d):
        nc = d * np.sqrt(n_eff)
        return sps.nct.sf(crit, df, nc) + np.nan_to_num(sps.nct.cdf(-crit, df, nc)) - power

    return float(brentq(short, 1e-6, 8.0))


def vs_baseline(table: pd.DataFrame, baseline: str, alpha: float = 0.05, level: float = 0.95) -> pd.DataFrame:
    """Every other estimator against one pre-declared ``baseline``: paired signed-rank tests, Holm over k - 1.

    The paired differences are of the log metric (one unit's scale cancels, so no single replication dominates
    by size; differences of the raw metric when some value is not positive). The effect is the ratio of the
    geometric means, ``exp(mean(log a - log b))``, with a t-interval of the mean log difference.

    Parameters
    ----------
    table : DataFrame, shape (n_units, k)
        From :func:`unit_table` (complete units).
    baseline : str
        A column of ``table``.
    alpha : float, default 0.05
        Family-wise level of Holm's procedure over the k - 1 comparisons.
    level : float, default 0.95
        Level of the ratio's interval.

    Returns
    -------
    DataFrame, one row per other estimator
        ``estimator``, ``baseline``, ``n``, ``scale`` ("log" or "raw"), ``ratio``, ``ratio_low``, ``ratio_high``
        (NaN on the raw scale), ``mean_diff`` (mean difference on ``scale``), ``wins`` (units where the estimator is
        lower), ``r_plus`` / ``r_minus`` (signed-rank sums of estimator - baseline), ``p``, ``p_holm``,
        ``significant``, ``better`` (the estimator the signed ranks favour, when significant, else "").
    """
    if baseline not in table.columns:
        raise ValueError(f"baseline {baseline!r} is not among the estimators {list(table.columns)}")
    v = table.to_numpy(dtype=float)
    log = bool((v > 0).all())
    base = table[baseline].to_numpy(float)
    rows = []
    for e in table.columns:
        if e == baseline:
            continue
        x = table[e].to_numpy(float)
        d = np.log(x) - np.log(base) if log else x - base
        nz = d[d != 0]
        ranks = sps.rankdata(np.abs(nz))
        r_plus, r_minus = float(ranks[nz > 0].sum()), float(ranks[nz < 0].sum())
        p = float(sps.wilcoxon(d).pvalue) if len(nz) else 1.0
        mean = float(d.mean()) if len(d) else np.nan
        lo = hi = np.nan
        if log and len(d) > 1:
            sd = d.std(ddof=1)
            half = sps.t.ppf(0.5 + level / 2, len(d) - 1) * sd / np.sqrt(len(d)) if sd > 0 else 0.0
            lo, hi = np.exp(mean - half), np.exp(mean + half)
        rows.append({"estimator": e, "baseline": baseline, "n": len(d), "scale": "log" if log else "raw",
                     "ratio": float(np.exp(mean)) if log else np.nan, "ratio_low": lo, "ratio_high": hi,
                     "mean_diff": mean, "wins": int((d < 0).sum()), "r_plus": r_plus, "r_minus": r_minus, "p": p})
    cols = ["estimator", "baseline", "n", "scale", "ratio", "ratio_low", "ratio_high", "mean_diff", "wins",
            "r_plus", "r_minus", "p"]
    out = pd.DataFrame(rows, columns=cols)
    out["p_holm"] = holm(out["p"].to_numpy()) if len(out) else []
    out["significant"] = out["p_holm"] < alpha
    out["better"] = [(r.estimator if r.r_minus > r.r_plus else baseline) if r.significant else ""
                     for r in out.itertuples()]
    return out
