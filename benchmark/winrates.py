"""Pairwise win rates and "% best" shares from the result store's task rows.

Two notions of "win rate" are computed, because the literature uses both:

* **Pairwise win rate** ``w(A, B)``: over *paired tasks* (same dataset, replication, seed and split) on which both
  A and B finished with status ``ok``, the share on which A's metric is better than B's; ties count one half.
  Hence ``w(A, B) + w(B, A) = 1`` for every pair with at least one paired task.  Tasks where only one of the two
  (or neither) finished ``ok`` are *not* silently dropped: they are returned as counts (``n_missing``).
  Pooled over several datasets, the win rate is by default the unweighted mean of the per-dataset win rates
  (``weighting="datasets"``: each dataset counts once, however many replications it has, as the pooled "% best"
  and rank tests do); ``weighting="tasks"`` pools the paired tasks, so the dataset with most tasks dominates.
* **"% best"** (the IWDD / DiffPO usage): over *units* (each dataset, or each (dataset, replication)), the share of
  units on which an estimator has the best metric of all compared estimators (ties split equally between the tied
  estimators), so the shares sum to 100 %.  Units on which some compared estimator has no ``ok`` result are
  counted as ``incomplete`` and left out of the shares (never silently).

All functions are pure: pandas in, pandas out.  Lower metric values are better unless ``higher_is_better``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["PAIR_KEYS", "paired_table", "unit_means", "pairwise_winrates", "best_shares", "format_winrate_markdown"]

#: Columns that identify a paired task: two estimators are compared only on rows that agree on all of these.
PAIR_KEYS = ["dataset", "replication", "seed", "split"]


def _check_metric(results: pd.DataFrame, metric: str) -> None:
    if metric not in results.columns:
        metrics = sorted(c for c in results.columns if c.endswith(("_in", "_out")))
        raise KeyError(f"metric {metric!r} is not a column of the results; available metrics: {metrics}")
    missing = [c for c in [*PAIR_KEYS, "estimator", "status"] if c not in results.columns]
    if missing:
        raise KeyError(f"results lack the columns {missing} needed to pair tasks")


def paired_table(results: pd.DataFrame, metric: str, estimators: list[str] | None = None) -> pd.DataFrame:
    """Wide table of one metric: one row per paired task, one column per estimator.

    Parameters
    ----------
    results : DataFrame
        One row per task (``Store.results()``), with ``status``, ``estimator``, the :data:`PAIR_KEYS` and ``metric``.
    metric : str
        Metric column, e.g. ``"pehe_out"``.
    estimators : list of str, optional
        Column order (default: all estimators in the frame, sorted).

    Returns
    -------
    DataFrame, shape (n_tasks, n_estimators)
        Indexed by the :data:`PAIR_KEYS`; NaN where the estimator has no ``ok`` row (failed, timed out, absent) or
        a non-finite metric.
    """
    _check_metric(results, metric)
    estimators = estimators if estimators is not None else sorted(results["estimator"].unique())
    ok = results[(results["status"] == "ok") & results["estimator"].isin(estimators)]
    dup = ok.duplicated([*PAIR_KEYS, "estimator"])
    if dup.any():
        raise ValueError(f"{int(dup.sum())} duplicate ok rows for the same (task, estimator); cannot pair them")
    all_keys = results[PAIR_KEYS].drop_duplicates()
    index = pd.MultiIndex.from_frame(all_keys.sort_values(PAIR_KEYS))
    wide = ok.pivot_table(index=PAIR_KEYS, columns="estimator", values=metric, aggfunc="first", dropna=False)
    wide = wide.reindex(index=index, columns=estimators)
    return wide.astype(float).where(np.isfinite(wide.astype(float)))


def pairwise_winrates(
    results: pd.DataFrame,
    metric: str = "pehe_out",
    dataset: str | None = None,
    estimators: list[str] | None = None,
    higher_is_better: bool = False,
    weighting: str = "datasets",
) -> dict[str, pd.DataFrame]:
    """Pairwise win-rate matrix over paired tasks (ties count half).

    Parameters
    ----------
    results : DataFrame
        One row per task (``Store.results()``).
    metric : str, default "pehe_out"
        Metric column to compare.
    dataset : str, optional
        Restrict to one dataset; default None pools every dataset (see ``weighting``).
    estimators : list of str, optional
        Estimators to compare (default: all in ``results``, sorted).
    higher_is_better : bool, default False
        Direction of the metric.
    weighting : {"datasets", "tasks"}, default "datasets"
        How several datasets are pooled. ``"datasets"``: w(A, B) is the unweighted mean of the per-dataset win
        rates over the datasets on which A and B share at least one paired task (each dataset weighs the same);
        ``"tasks"``: every paired task counts once, so a dataset with more replications or seeds weighs more.
        Identical when the results hold one dataset.

    Returns
    -------
    dict of DataFrame, each (n_estimators, n_estimators), rows = A, columns = B
        ``winrate``: w(A, B) in [0, 1] (NaN on the diagonal and where no paired task exists);
        ``n_pairs``: paired tasks with both ``ok``; ``n_missing``: tasks present in the results for this
        comparison on which A or B lacks an ``ok`` result; ``wins``, ``ties``: raw counts (summed over datasets);
        ``n_datasets``: datasets contributing to the cell.
    """
    if weighting not in ("datasets", "tasks"):
        raise ValueError(f"weighting must be 'datasets' or 'tasks', got {weighting!r}")
    if dataset is not None:
        if dataset not in set(results["dataset"]):
            raise ValueError(f"dataset {dataset!r} is not in the results (have {sorted(results['dataset'].unique())})")
        results = results[results["dataset"] == dataset]
    wide = paired_table(results, metric, estimators)
    names = list(wide.columns)
    groups = [wide] if weighting == "tasks" else [g for _, g in wide.groupby(level="dataset", sort=True)]
    k = len(names)
    wins, ties, n_pairs, n_missing = (np.zeros((k, k), dtype=int) for _ in range(4))
    rate_sum, n_ds = np.zeros((k, k)), np.zeros((k, k), dtype=int)
    for g in groups:
        v = g.to_numpy(dtype=float)  # (n_tasks, k)
        if higher_is_better:
            v = -v
        have = ~np.isnan(v)
        a, b = v[:, :, None], v[:, None, :]
        both = have[:, :, None] & have[:, None, :]
        w_g, t_g, n_g = ((a < b) & both).sum(axis=0), ((a == b) & both).sum(axis=0), both.sum(axis=0)
        wins, ties, n_pairs, n_missing = wins + w_g, ties + t_g, n_pairs + n_g, n_missing + (len(v) - n_g)
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = (w_g + 0.5 * t_g) / n_g
        rate_sum += np.where(n_g > 0, rate, 0.0)
        n_ds += (n_g > 0).astype(int)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = rate_sum / n_ds
    w = np.where(n_ds > 0, w, np.nan)
    np.fill_diagonal(w, np.nan)
    if weighting == "tasks":  # a task-pooled cell "contributes" every dataset it has pairs in
        n_ds = np.zeros((k, k), dtype=int)
        for _, g in wide.groupby(level="dataset", sort=True):
            have = g.notna().to_numpy()
            n_ds += ((have[:, :, None] & have[:, None, :]).sum(axis=0) > 0).astype(int)
    mk = lambda x: pd.DataFrame(x, index=pd.Index(names, name="A"), columns=pd.Index(names, name="B"))  # noqa: E731
    return {"winrate": mk(w), "n_pairs": mk(n_pairs), "n_missing": mk(n_missing), "wins": mk(wins), "ties": mk(ties),
            "n_datasets": mk(n_ds)}


def best_shares(
    results: pd.DataFrame,
    metric: str = "pehe_out",
    unit: str = "replication",
    estimators: list[str] | None = None,
    higher_is_better: bool = False,
) -> pd.DataFrame:
    """Share of units on which each estimator is the best of all compared ("win rate" as in IWDD / DiffPO).

    Parameters
    ----------
    results : DataFrame
        One row per task (``Store.results()``).
    metric : str, default "pehe_out"
        Metric column.
    unit : {"replication", "dataset"}, default "replication"
        ``"replication"``: each (dataset, replication) is a unit, its metric averaged over seeds and splits;
        ``"dataset"``: each dataset is a unit, its metric averaged over replications, seeds and splits (use this for
        suites of separate datasets such as ACIC settings).
    estimators : list of str, optional
        Estimators compared (default: all in ``results``).
    higher_is_better : bool, default False
        Direction of the metric.

    Returns
    -------
    DataFrame, one row per estimator
        ``best_pct`` (percent of complete units won; ties split; sums to 100 when any unit is complete),
        ``n_best`` (fractional count of won units), ``avg_rank`` (average rank over the same units, 1 = best, ties
        averaged), ``mean`` (average metric over the complete units; with ``unit="dataset"`` this averages
        across datasets whose metric scales differ, so read ``avg_rank`` there instead), ``n_units`` (units used),
        ``n_incomplete`` (units left out), ``n_incomplete_replications`` (replications left out because some
        estimator had no ok result on one of their tasks); see :func:`unit_means`.
    """
    complete, n_incomplete, n_incomplete_reps = unit_means(results, metric, unit, estimators)
    wide_cols = list(complete.columns)
    v = complete.to_numpy(dtype=float)
    if higher_is_better:
        v = -v
    n_best = np.zeros(v.shape[1])
    for row in v:
        winners = row == row.min()
        n_best[winners] += 1.0 / winners.sum()
    n_units = len(v)
    from scipy.stats import rankdata

    out = pd.DataFrame(
        {
            "estimator": wide_cols,
            "best_pct": 100.0 * n_best / n_units if n_units else np.nan,
            "n_best": n_best,
            "avg_rank": rankdata(v, axis=1).mean(axis=0) if n_units else np.nan,
            "mean": complete.mean(axis=0).to_numpy() if n_units else np.nan,
            "n_units": n_units,
            "n_incomplete": n_incomplete,
            "n_incomplete_replications": n_incomplete_reps,
        }
    )
    return out.sort_values(["best_pct", "avg_rank"], ascending=[False, True]).reset_index(drop=True)


def unit_means(
    results: pd.DataFrame, metric: str = "pehe_out", unit: str = "replication", estimators: list[str] | None = None
) -> tuple[pd.DataFrame, int, int]:
    """Metric per unit and estimator, on complete replications only.

    A replication (dataset, replication) is *complete* when every estimator has an ``ok`` result on every one of its
    tasks (seeds x splits); its value is the mean over those tasks.  ``unit="replication"``: one row per complete
    replication.  ``unit="dataset"``: one row per dataset with at least one complete replication, the mean of its
    complete replications (so one failed task costs its replication, not the whole dataset).

    Returns
    -------
    (table, n_incomplete_units, n_incomplete_replications)
        ``table``: DataFrame (n_units, n_estimators); the two counts say what was left out.
    """
    if unit not in ("replication", "dataset"):
        raise ValueError(f"unit must be 'replication' or 'dataset', got {unit!r}")
    wide = paired_table(results, metric, estimators)
    rep_keys = ["dataset", "replication"]
    per_rep = wide.groupby(level=rep_keys).mean()
    full = wide.notna().groupby(level=rep_keys).all().all(axis=1)
    n_bad_reps = int((~full).sum())
    per_rep = per_rep[full]
    if unit == "replication":
        return per_rep, n_bad_reps, n_bad_reps
    table = per_rep.groupby(level="dataset").mean()
    all_ds = wide.index.get_level_values("dataset").unique()
    return table, int(len(all_ds) - len(table)), n_bad_reps


def format_winrate_markdown(wr: dict[str, pd.DataFrame], title: str, note: str = "") -> str:
    """Markdown table of a :func:`pairwise_winrates` result: cells ``w(A,B)`` in percent, plus missing counts.

    The last column, ``avg vs others``, is the unweighted mean of the row's win rates over its opponents (each
    opponent counts once, whatever its number of paired tasks): the share of head-to-head comparisons the row
    estimator wins on average. ``note`` (optional) is printed under the title, e.g. how datasets were pooled.
    """
    w, n, miss = wr["winrate"], wr["n_pairs"], wr["n_missing"]
    names = list(w.index)
    k = len(names)
    off = ~np.eye(k, dtype=bool)
    n_off, m_off = n.to_numpy()[off], miss.to_numpy()[off]
    n_txt = "-" if k < 2 else (f"{n_off.min()}" if n_off.min() == n_off.max() else f"{n_off.min()}–{n_off.max()}")
    lines = [f"#### {title}", "", (note + " " if note else "")
             + f"Row A vs column B: % of paired tasks on which A is better (ties half). "
             f"Paired tasks per cell: {n_txt}; tasks with A or B missing/failed: at most "
             f"{m_off.max() if k > 1 else 0} per cell. `avg vs others`: mean of the row over its opponents.", ""]
    lines.append("| A \\ B | " + " | ".join(names) + " | avg vs others |")
    lines.append("|---|" + "---|" * (len(names) + 1))
    for a in names:
        cells = ["—" if a == b or not np.isfinite(w.loc[a, b]) else f"{100 * w.loc[a, b]:.0f}" for b in names]
        row = w.loc[a].to_numpy(dtype=float)
        row_mean = f"{100 * np.mean(row[np.isfinite(row)]):.0f}" if np.isfinite(row).any() else "—"
        lines.append(f"| **{a}** | " + " | ".join(cells) + f" | {row_mean} |")
    return "\n".join(lines) + "\n"
