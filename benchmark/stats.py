"""Uncertainty for the leaderboard: bootstrap CIs, paired Wilcoxon + Holm, Friedman + Nemenyi, average ranks.

How replications and datasets are treated
-----------------------------------------
Replications of one dataset (IHDP draws 1..R) are repeated draws from *one* data-generating process.  Within a
dataset, the unit of resampling and the block of the rank tests is the **replication** (metric averaged over seeds
and splits): the bootstrap resamples replications with replacement, the Wilcoxon test pairs replications, and the
Friedman test uses replications as blocks.  The conclusions then concern *that* data-generating process ("on IHDP
setting A, X beats Y"), not estimators in general.

Separate datasets (e.g. the 77 ACIC-2016 settings, or IHDP vs Twins) are different problems.  Pooling all their
replications as if they were exchangeable would let the dataset with most replications dominate and would treat
correlated draws as independent evidence.  For pooled statements we therefore first average each estimator's
metric over the replications *within* a dataset and use **datasets as blocks** (Demšar 2006, the setting the
Friedman/Nemenyi critical-difference procedure was designed for); ``unit="dataset"`` selects this.

All random draws come from ``numpy.random.default_rng(seed)``; no global state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from .winrates import paired_table, unit_means

__all__ = [
    "unit_table",
    "bootstrap_mean_ci",
    "bootstrap_winrate_ci",
    "winrate_ci_from_table",
    "holm",
    "wilcoxon_holm",
    "average_ranks",
    "friedman_nemenyi",
    "nemenyi_cd",
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
        :func:`benchmark.winrates.unit_means`), as the paired tests need.  False (replication units only): every
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


def bootstrap_mean_ci(
    values: np.ndarray, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """Percentile bootstrap CI of the mean.

    Parameters
    ----------
    values : (n,) float array
        One value per unit (e.g. per replication); NaNs are an error.
    n_boot : int, default 2000
    level : float, default 0.95
    seed : int, default 0

    Returns
    -------
    (mean, low, high) : floats
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or len(v) == 0:
        raise ValueError(f"values must be a non-empty 1-d array, got shape {v.shape}")
    if not np.isfinite(v).all():
        raise ValueError("values contain NaN/inf; drop or count missing units before bootstrapping")
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(v), size=(n_boot, len(v)))
    boots = v[idx].mean(axis=1)
    a = (1 - level) / 2
    return float(v.mean()), float(np.quantile(boots, a)), float(np.quantile(boots, 1 - a))


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
) -> tuple[float, float, float, int]:
    """Pairwise win rate w(a, b) with a percentile bootstrap CI that resamples replications (clusters of tasks).

    Tasks are paired as in :func:`benchmark.winrates.pairwise_winrates`; all seeds/splits of a (dataset,
    replication) are resampled together.

    Returns
    -------
    (w, low, high, n_pairs) : the point estimate, CI bounds and the number of paired tasks used.
    """
    if dataset is not None:
        results = results[results["dataset"] == dataset]
    return winrate_ci_from_table(paired_table(results, metric, [a, b]), a, b, n_boot, level, seed, higher_is_better)


def winrate_ci_from_table(
    wide: pd.DataFrame, a: str, b: str, n_boot: int = 2000, level: float = 0.95, seed: int = 0,
    higher_is_better: bool = False,
) -> tuple[float, float, float, int]:
    """:func:`bootstrap_winrate_ci` on a precomputed :func:`benchmark.winrates.paired_table` (any columns)."""
    wide = wide[[a, b]].dropna()
    if wide.empty:
        raise ValueError(f"no paired ok tasks for {a!r} vs {b!r}")
    x, y = wide[a].to_numpy(), wide[b].to_numpy()
    if higher_is_better:
        x, y = -x, -y
    score = (x < y) + 0.5 * (x == y)  # (n_tasks,)
    clusters = pd.factorize(pd.MultiIndex.from_arrays(
        [wide.index.get_level_values("dataset"), wide.index.get_level_values("replication")]))[0]
    n_c = clusters.max() + 1
    s_sum = np.bincount(clusters, weights=score, minlength=n_c)
    s_cnt = np.bincount(clusters, minlength=n_c).astype(float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n_c, size=(n_boot, n_c))
    boots = s_sum[draws].sum(axis=1) / s_cnt[draws].sum(axis=1)
    al = (1 - level) / 2
    return float(score.mean()), float(np.quantile(boots, al)), float(np.quantile(boots, 1 - al)), len(score)


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
        ``n`` units, ``median_diff`` (a - b), ``statistic``, ``p``, ``p_holm``, ``significant``, ``better``
        (the estimator with the lower median metric when significant, else "").
    """
    names = list(table.columns)
    rows = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            a, b = names[i], names[j]
            d = (table[a] - table[b]).to_numpy(dtype=float)
            if len(d) == 0 or np.all(d == 0):
                stat, p = np.nan, 1.0
            else:
                res = sps.wilcoxon(table[a].to_numpy(float), table[b].to_numpy(float))
                stat, p = float(res.statistic), float(res.pvalue)
            rows.append({"a": a, "b": b, "n": len(d), "median_diff": float(np.median(d)) if len(d) else np.nan,
                         "statistic": stat, "p": p})
    out = pd.DataFrame(rows, columns=["a", "b", "n", "median_diff", "statistic", "p"])
    out["p_holm"] = holm(out["p"].to_numpy()) if len(out) else []
    out["significant"] = out["p_holm"] < alpha
    out["better"] = [
        (r.a if r.median_diff < 0 else r.b) if r.significant else "" for r in out.itertuples()
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


def friedman_nemenyi(table: pd.DataFrame, alpha: float = 0.05, higher_is_better: bool = False) -> dict:
    """Friedman test over blocks (rows) plus Nemenyi post-hoc pairwise p-values.

    Parameters
    ----------
    table : DataFrame, shape (n_units, n_estimators)
        Complete units (blocks) x estimators.
    alpha : float, default 0.05

    Returns
    -------
    dict
        ``statistic``, ``p`` (Friedman chi-square, scipy), ``avg_ranks`` (Series), ``cd`` (critical difference),
        ``n`` blocks, ``k`` estimators, ``pairwise`` (DataFrame k x k of Nemenyi p-values).
    """
    n, k = table.shape
    if k < 3:
        raise ValueError(f"the Friedman test needs at least 3 estimators, got {k}")
    if n < 2:
        raise ValueError(f"the Friedman test needs at least 2 complete units, got {n}")
    v = table.to_numpy(dtype=float)
    if higher_is_better:
        v = -v
    res = sps.friedmanchisquare(*[v[:, j] for j in range(k)])
    ranks = average_ranks(table, higher_is_better)
    r = ranks.reindex(table.columns).to_numpy()
    se = np.sqrt(k * (k + 1) / (6.0 * n))
    z = np.abs(r[:, None] - r[None, :]) / se
    p = sps.studentized_range.sf(z * np.sqrt(2), k, np.inf)
    np.fill_diagonal(p, 1.0)
    return {
        "statistic": float(res.statistic),
        "p": float(res.pvalue),
        "avg_ranks": ranks,
        "cd": nemenyi_cd(k, n, alpha),
        "n": n,
        "k": k,
        "alpha": alpha,
        "pairwise": pd.DataFrame(p, index=table.columns, columns=table.columns),
    }
