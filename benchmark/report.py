"""Leaderboard tables and the full report from the store (or from the committed ``tasks.csv``).

The leaderboard gives, per metric, estimator and dataset, the mean ± standard error and the median over
replications; several seeds (and splits) of one replication are averaged first, so they never count as extra
replications. Rows are ordered by the **average rank over replications** of out-of-sample sqrt-PEHE (Friedman's
statistic): each replication ranks the estimators, so a replication whose effect is hard for everyone moves no
estimator more than any other, and no single replication decides the order (multiplying one replication's errors
by any factor leaves it unchanged). The mean stays in the table, labelled.

:func:`write_report` builds every artefact of the full report, one function each (:data:`ARTEFACTS`), all
sharing one :class:`ReportContext`; a new artefact is one more such function.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import metric_columns
from .stats import average_ranks
from .winrates import unit_means

__all__ = [
    "leaderboard",
    "rank_table",
    "identical_groups",
    "merge_identical",
    "choose_baseline",
    "headline",
    "md_cell",
    "write_leaderboard",
    "format_markdown",
    "format_distributional",
    "write_report",
    "published_rows",
    "coverage",
    "plus_minus",
    "ReportContext",
    "DIST_METRICS",
]

#: Metrics of the Markdown / HTML leaderboard (the CSV has every metric: rmse_mu0/1, in and out, too).
HEADLINE = ["pehe_out", "pehe_in", "ate_out", "ate_in"]
#: Metrics whose median is shown beside the mean in the Markdown leaderboard (all medians are in the CSV).
MEDIAN_SHOWN = ["pehe_out", "pehe_in", "ate_out", "ate_in"]
#: The metric that orders the leaderboard (by its average rank over replications; its place by mean and by median
#: is shown beside).
ORDER_METRIC = "pehe_out"
#: The declared ranking criterion, in words.
ORDER_CRITERION = "average rank over replications of out-of-sample sqrt-PEHE"
#: The pre-declared baseline every estimator is tested against: the first of these on the board (TARNet is the
#: neural reference of Shalit et al. 2017 that later methods report against; OLS-2 where no network runs), else
#: the first estimator by name. Fixed before any result is seen, so the k - 1 tests need no selection correction.
BASELINE_PREFERENCE = ("tarnet", "t-learner-linear")
#: Power at which the detectable effect is stated.
POWER = 0.8

#: Distributional metrics of generative estimators, stored with suffix _in / _out. Other estimators
#: lack them (NaN after expansion). ``covdist50`` / ``covdist90`` are derived here: |cov - nominal| per task.
DIST_BASE = ["crps", "cov50", "cov90", "width50", "width90", "w1"]
DIST_METRICS = [f"{m}_{s}" for s in ("out", "in") for m in DIST_BASE]
NOMINAL = {"cov50": 0.5, "cov90": 0.9}


def _with_derived(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` plus ``covdist50_*`` / ``covdist90_*`` = |cov - nominal| per task, where coverage is stored."""
    extra = {}
    for cov, nominal in NOMINAL.items():
        for side in ("in", "out"):
            col = f"{cov}_{side}"
            if col in results.columns:
                extra[f"covdist{cov[3:]}_{side}"] = (pd.to_numeric(results[col], errors="coerce") - nominal).abs()
    return results.assign(**extra) if extra else results


def _board_metrics(results: pd.DataFrame) -> list[str]:
    point = [m for m in metric_columns() if m in results.columns]
    dist = [m for m in DIST_METRICS if m in results.columns and m not in point]
    derived = [f"covdist{c[3:]}_{s}" for s in ("out", "in") for c in NOMINAL if f"{c}_{s}" in results.columns]
    return point + dist + derived


def md_cell(text: object) -> str:
    """``text`` made safe for one Markdown table cell: ``|`` escaped, line breaks folded to spaces."""
    return " ".join(str(text).split()).replace("|", "\\|")


def rank_table(results: pd.DataFrame, metric: str = ORDER_METRIC) -> pd.DataFrame:
    """Per-replication values (seeds averaged) of ``metric`` on the complete replications of one dataset.

    Estimators with no ``ok`` task at all are left out (they would leave no replication complete); a
    replication where any other estimator lacks an ``ok`` result is left out.

    Returns
    -------
    DataFrame, shape (n_replications, n_estimators)
    """
    ok = results[results["status"] == "ok"]
    present = sorted(ok.loc[pd.to_numeric(ok[metric], errors="coerce").notna(), "estimator"].unique()) \
        if metric in ok else []
    if not present:
        return pd.DataFrame()
    tab, _, _ = unit_means(results[results["estimator"].isin(present)], metric, "replication", present)
    return tab


def _add_ranks(board: pd.DataFrame, results: pd.DataFrame) -> pd.DataFrame:
    m = ORDER_METRIC
    board[f"{m}_avg_rank"], board[f"{m}_rank_n"] = np.nan, 0
    for ds, g in results.groupby("dataset", sort=True):
        tab = rank_table(g, m)
        if tab.empty:
            continue
        ranks = average_ranks(tab)
        sel = board["dataset"] == ds
        board.loc[sel, f"{m}_avg_rank"] = board.loc[sel, "estimator"].map(ranks).to_numpy(dtype=float)
        board.loc[sel, f"{m}_rank_n"] = len(tab)
    board[f"{m}_place"] = board.groupby("dataset")[f"{m}_avg_rank"].rank(method="min")
    for stat in ("mean", "median"):
        board[f"{m}_rank_{stat}"] = board.groupby("dataset")[f"{m}_{stat}"].rank(method="min")
    return board.sort_values(["dataset", f"{m}_avg_rank", f"{m}_median", "estimator"],
                             na_position="last").reset_index(drop=True)


def leaderboard(results: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """One row per (dataset, estimator): counts of tasks, mean, SE and median of each metric, and the ranking.

    Each metric is first averaged over the ``ok`` tasks of a replication (its seeds and splits), so ``seeds > 1``
    adds precision to a replication's value, not replications. Then ``{m}_mean``, ``{m}_se`` (std with ddof 1 /
    sqrt(n)) and ``{m}_median`` are taken over the replications with a finite value. Failed tasks are counted,
    never silently dropped. Distributional metrics (:data:`DIST_METRICS`) and the derived coverage distances
    ``covdist50_*`` / ``covdist90_*`` are included when the results have them (NaN for estimators without).

    Returns
    -------
    DataFrame
        ``dataset``, ``estimator``, ``n_ok``, ``n_failed`` (tasks), ``n_replications`` (replications with an ok
        task), per metric ``_mean``, ``_se``, ``_median``, ``_n`` (replications used), ``fit_seconds_median``
        (over ok tasks); for :data:`ORDER_METRIC` ``_avg_rank`` (average rank over the complete replications,
        1 = best), ``_rank_n`` (those replications), ``_place`` (1 = best average rank) and ``_rank_mean`` /
        ``_rank_median`` (the place by mean and by median). Sorted by dataset, then average rank, then median.
    """
    results = _with_derived(results)
    metrics = metrics or _board_metrics(results)
    rows = []
    for (dataset, estimator), g in results.groupby(["dataset", "estimator"], sort=True):
        ok = g[g["status"] == "ok"]
        row = {"dataset": dataset, "estimator": estimator, "n_ok": len(ok),
               "n_failed": int((g["status"] != "ok").sum()), "n_replications": int(ok["replication"].nunique())}
        for m in metrics:
            if m in ok:
                per_rep = pd.to_numeric(ok[m], errors="coerce").groupby(ok["replication"]).mean()
                v = per_rep.to_numpy(dtype=float)
                v = v[np.isfinite(v)]
            else:
                v = np.array([])
            row[f"{m}_mean"] = v.mean() if len(v) else np.nan
            row[f"{m}_se"] = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
            row[f"{m}_median"] = np.median(v) if len(v) else np.nan
            row[f"{m}_n"] = len(v)
        row["fit_seconds_median"] = ok["fit_seconds"].median() if len(ok) else np.nan
        if "diag_teacher_from_cache" in ok:  # tasks whose fit time leaves out a teacher they shared
            row["fit_shared_teacher_n"] = int((pd.to_numeric(ok["diag_teacher_from_cache"], errors="coerce") == 1).sum())
        rows.append(row)
    board = pd.DataFrame(rows)
    if len(board) and f"{ORDER_METRIC}_mean" in board:
        board = _add_ranks(board, results)
    return board


def identical_groups(results: pd.DataFrame) -> list[tuple[str, ...]]:
    """Estimators whose predictions are identical on every task, as sorted name tuples (groups of two or more).

    Two estimators are identical when they have the same task set and, on every task, the same prediction
    digest (``predictions_sha``, see :func:`catebench.benchmark.taskfile.prediction_digests`) and status; where
    digests are missing, the same value of every metric column instead.
    """
    if results.empty:
        return []
    keys = ["dataset", "replication", "seed", "split"]
    if "predictions_sha" in results and (results["predictions_sha"].fillna("") != "").all():
        cols = ["status", "predictions_sha"]
    else:
        cols = ["status", *[c for c in _board_metrics(results) if c in results]]
    sig = {}
    for est, g in results.groupby("estimator", sort=True):
        g = g.sort_values(keys)
        sig[est] = tuple(map(tuple, g[keys + cols].astype(str).to_numpy()))
    groups: dict[tuple, list[str]] = {}
    for est, s in sig.items():
        groups.setdefault(s, []).append(est)
    return sorted(tuple(sorted(v)) for v in groups.values() if len(v) > 1)


def merge_identical(results: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[str, ...]]]:
    """``results`` with each group of :func:`identical_groups` shown once, labelled ``"a = b"`` (the rows of the
    first name kept, the others dropped), and the groups."""
    groups = identical_groups(results)
    if not groups:
        return results, []
    results = results.copy()
    for group in groups:
        results = results[~results["estimator"].isin(group[1:])]
        results.loc[results["estimator"] == group[0], "estimator"] = " = ".join(group)
    return results.reset_index(drop=True), groups


def choose_baseline(estimators: list[str], requested: str | None = None) -> str:
    """The pre-declared baseline among ``estimators``: ``requested`` when given, else the first of
    :data:`BASELINE_PREFERENCE` present (also as part of a merged ``"a = b"`` label), else the first by name."""
    if not estimators:
        raise ValueError("no estimators to choose a baseline from")
    if requested is not None:
        hit = [e for e in estimators if requested == e or requested in e.split(" = ")]
        if not hit:
            raise ValueError(f"baseline {requested!r} is not among the estimators {sorted(estimators)}")
        return hit[0]
    for want in BASELINE_PREFERENCE:
        for e in sorted(estimators):
            if want in e.split(" = "):
                return e
    return sorted(estimators)[0]


def headline(tab: pd.DataFrame, baseline: str | None, alpha: float = 0.05, dataset: str = "",
             metric_words: str = "out-of-sample sqrt-PEHE") -> dict:
    """The board's headline for one dataset, generated from the per-replication table.

    Parameters
    ----------
    tab : DataFrame, shape (n_replications, k)
        :func:`rank_table` of the ordering metric.
    baseline : str or None
        The pre-declared baseline (see :func:`choose_baseline`); None skips the family sentence.
    alpha : float, default 0.05

    Returns
    -------
    dict
        ``text`` (Markdown: who ranks first, the lead over the second with its interval, whether the design
        tells them apart, what the comparisons with the baseline can detect), ``first``, ``second``, ``ratio``,
        ``ratio_low``, ``ratio_high``, ``p``, ``n``, ``k``, ``detectable_d``, ``detectable_ratio``, ``min_wins``
        (the fewest of n replications an estimator must win to be declared different from the baseline; None
        when no test can reject), ``n_needed`` (replications at which one could), ``n_significant``.
    """
    from . import stats as st

    n, k = tab.shape
    where = f" on {dataset}" if dataset else ""
    out = {"text": "", "first": None, "second": None, "ratio": np.nan, "ratio_low": np.nan, "ratio_high": np.nan,
           "p": np.nan, "n": n, "k": k, "detectable_d": np.nan, "detectable_ratio": np.nan, "min_wins": None,
           "n_needed": None, "n_significant": 0}
    if n == 0 or k == 0:
        out["text"] = f"No replication{where} has a result for every estimator: no ranking."
        return out
    ranks = average_ranks(tab)
    first = ranks.index[0]
    out["first"] = first
    if k == 1:
        out["text"] = f"**{first}** is the only estimator{where}."
        return out
    second = ranks.index[1]
    out["second"] = second
    pair = st.vs_baseline(tab[[first, second]], second, alpha)
    r = pair.iloc[0]
    out.update(ratio=r.ratio, ratio_low=r.ratio_low, ratio_high=r.ratio_high, p=r.p)
    floor = st.wilcoxon_min_p(n)
    text = (f"**{first}** ranks first{where} by {ORDER_CRITERION} (average rank {ranks[first]:.2f} among {k} "
            f"estimators over {n} replications; **{second}**, second, {ranks[second]:.2f}). ")
    if r.scale == "log":
        text += (f"Its {metric_words} is {r.ratio:.2f}× {second}'s (ratio of geometric means over replications, "
                 f"95 % CI {r.ratio_low:.2f}–{r.ratio_high:.2f}), lower on {r.wins} of {n} replications; ")
    else:
        text += f"Its {metric_words} is lower on {r.wins} of {n} replications (mean difference {r.mean_diff:.3g}); "
    if floor > alpha:
        text += (f"with {n} replications the design cannot tell them apart (no signed-rank test on {n} pairs can "
                 f"reach p ≤ {alpha}). ")
    elif r.p < alpha:
        text += (f"with {n} replications the design tells them apart (signed-rank p = {r.p:.2g}; the pair was "
                 "picked as the top two by the same data, so read p as optimistic). ")
    else:
        text += f"with {n} replications the design cannot tell them apart (signed-rank p = {r.p:.2g}). "
    text = text.strip() + "\n\n"
    if baseline is not None and baseline in tab.columns:
        m = k - 1
        fam = st.vs_baseline(tab, baseline, alpha)
        losses = st.wilcoxon_max_losses(n, alpha / m)
        n_needed = next(i for i in range(1, 10_000) if st.wilcoxon_max_losses(i, alpha / m) is not None)
        out["n_needed"] = n_needed
        if losses is None:
            text += (f"Tests against the pre-declared baseline **{baseline}** are not run: with {n} replications "
                     f"none of the {m} comparisons could pass Holm at α = {alpha}; {n_needed} replications are "
                     "needed.")
        else:
            d = st.detectable_effect(n, m, alpha, POWER)
            v = tab.to_numpy(float)
            sd = np.nan
            if (v > 0).all():
                lr = np.log(v) - np.log(tab[[baseline]].to_numpy(float))
                sds = lr.std(axis=0, ddof=1)[[c != baseline for c in tab.columns]] if n > 1 else np.array([])
                sd = float(np.median(sds)) if len(sds) else np.nan
            ratio_d = float(np.exp(d * sd)) if np.isfinite(sd) else np.nan
            n_sig = int(fam["significant"].sum())
            out.update(detectable_d=d, detectable_ratio=ratio_d, min_wins=n - losses, n_significant=n_sig)
            text += (f"Against the pre-declared baseline **{baseline}** ({m} comparisons, Holm at α = {alpha}) "
                     f"{n_sig} estimator(s) differ; at {n} replications a difference is found with "
                     f"{POWER * 100:.0f} % power from {d:.2f} SD of the paired log ratio")
            text += (f" (at the spread seen here, about ×{1 / ratio_d:.2f} or ×{ratio_d:.2f})" if np.isfinite(ratio_d)
                     else "")
            text += f", and only an estimator better on at least {n - losses} of {n} replications can pass."
    out["text"] = text.strip()
    return out


def plus_minus(mean: float, se: float) -> str:
    """``mean ± se`` with 3 decimals; ``-`` for a missing mean; the mean alone for a missing SE."""
    if not np.isfinite(mean):
        return "-"
    return f"{mean:.3f} ± {se:.3f}" if np.isfinite(se) else f"{mean:.3f}"


def _num(x: float, fmt: str = ".3f") -> str:
    return format(x, fmt) if np.isfinite(x) else "-"


LEGEND = (
    "Rows are ordered by the **average rank over replications** of out-of-sample sqrt-PEHE (`avg rank`: each "
    "replication ranks the estimators 1 = best, seeds averaged first; `place` = position by it). The average rank "
    "is the ranking criterion, declared before any result: sqrt-PEHE is heavy-tailed across replications (one "
    "replication with a large effect spread can hold half of every estimator's summed error), so the mean lets one "
    "replication decide the order, while a rank counts each replication once. `place by mean / median` shows where "
    "each row would stand by the mean and by the median. Cells: mean ± standard error over replications, with the "
    "median beside it; lower is better. `pehe` = sqrt-PEHE, `ate` = absolute ATE error; `_in` = fit rows (train + "
    "validation), `_out` = held-out test rows. `leaderboard.csv` also has the RMSE of each potential-outcome "
    "surface (`rmse_mu0`, `rmse_mu1`); `tasks.csv` every task's metrics."
)

#: How each ``verified`` value of ihdp_published.csv reads for the in-sample / out-of-sample cell.
_STATUS = {
    "verified": ("verified", "verified"),
    "means_verified": ("mean verified", "mean verified"),
    "out_verified": ("recalled", "verified"),
    "recalled": ("recalled", "recalled"),
}
STATUS_LEGEND = (
    "Published cells carry their status from the reference file: *verified* = quoted identically by several "
    "independent sources; *mean verified* = the mean is, its SE is not; *recalled* = consistent "
    "with those sources but not seen verbatim (check against the paper before quoting it as a like-for-like "
    "comparison)."
)


def published_status(verified: str, side: str) -> str:
    """Status of one published cell: ``verified`` column value and ``side`` ("in" or "out") -> readable words."""
    if side not in ("in", "out"):
        raise ValueError(f"side must be 'in' or 'out', got {side!r}")
    pair = _STATUS.get(str(verified).strip())
    return (pair[0] if side == "in" else pair[1]) if pair else str(verified)


def format_markdown(board: pd.DataFrame, metrics: list[str] | None = None, ref_rows: list[dict] = ()) -> str:
    """Markdown tables, one per dataset, in the board's order (average rank of :data:`ORDER_METRIC`).

    Each metric shows mean ± SE; those in :data:`MEDIAN_SHOWN` also their median; ``place`` and ``avg rank``
    give the ranking, ``place by mean / median`` where each row would stand by those. ``ref_rows`` (from
    :func:`published_rows`) are appended in italics under every dataset named ``ihdp*``, each cell with its
    status (verified / recalled). Labels are escaped (:func:`md_cell`).
    """
    metrics = [m for m in (metrics or HEADLINE) if f"{m}_mean" in board]
    with_rank = f"{ORDER_METRIC}_avg_rank" in board
    parts = []
    for dataset, g in board.groupby("dataset", sort=True):
        header = (["place"] if with_rank else []) + ["estimator", "ok", "failed"]
        header += ["avg rank", "place by mean / median"] if with_rank else []
        for m in metrics:
            header += [m, f"{m} median"] if m in MEDIAN_SHOWN else [m]
        header.append("fit s (median)")
        lines = [f"### {md_cell(dataset)}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        extra = pd.DataFrame(list(ref_rows)) if (str(dataset).startswith("ihdp") and ref_rows) else pd.DataFrame()
        for _, r in pd.concat([g, extra], ignore_index=True).iterrows():
            pub = PUBLISHED_TAG in str(r["estimator"])
            cells = (["-" if pub else _num(r[f"{ORDER_METRIC}_place"], ".0f")] if with_rank else [])
            cells.append(f"*{md_cell(r['estimator'])}*" if pub else md_cell(r["estimator"]))
            cells += ["-", "-"] if pub else [str(int(r["n_ok"])), str(int(r["n_failed"]))]
            if with_rank:
                cells += ["-", "-"] if pub else [_num(r[f"{ORDER_METRIC}_avg_rank"], ".2f"),
                                                 f"{_num(r[f'{ORDER_METRIC}_rank_mean'], '.0f')} / "
                                                 f"{_num(r[f'{ORDER_METRIC}_rank_median'], '.0f')}"]
            for m in metrics:
                cell = plus_minus(r.get(f"{m}_mean", np.nan), r.get(f"{m}_se", np.nan))
                status = r.get(f"{m}_status")
                if pub and isinstance(status, str) and cell != "-":
                    cell += f" ({status})"
                cells.append(cell)
                if m in MEDIAN_SHOWN:
                    cells.append(_num(r.get(f"{m}_median", np.nan)))
            cells.append(_fit_cell(r))
            lines.append("| " + " | ".join(cells) + " |")
        lines += _shared_teacher_note(g)
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _fit_cell(r) -> str:
    """Median fit seconds, marked † when some of the row's tasks loaded a shared teacher."""
    fs = r.get("fit_seconds_median", np.nan)
    shared = r.get("fit_shared_teacher_n", 0)
    mark = " †" if pd.notna(shared) and shared > 0 else ""
    return (f"{fs:.3g}" if np.isfinite(fs) else "-") + mark


def _shared_teacher_note(g: pd.DataFrame) -> list[str]:
    """The footnote of :func:`_fit_cell`'s mark: which rows, on how many tasks."""
    if "fit_shared_teacher_n" not in g:
        return []
    marked = g[g["fit_shared_teacher_n"].fillna(0) > 0]
    if not len(marked):
        return []
    n = ", ".join(f"{md_cell(e)} {int(k)}" for e, k in zip(marked["estimator"], marked["fit_shared_teacher_n"]))
    return ["", "† fit s leaves out the training of the diffusion teacher, which these tasks loaded from the teacher "
                f"shared by the IWDD family of their replication (`--teacher-cache`); tasks per row: {n}."]


def format_compact(board: pd.DataFrame, baseline_rows: pd.DataFrame | None = None) -> str:
    """The compact ranking table per dataset: place, estimator, average rank, median and mean ± SE of
    :data:`ORDER_METRIC`, the ratio to the baseline with its interval, replications won, Holm p, fit seconds.

    ``baseline_rows``: :func:`catebench.benchmark.stats.vs_baseline` rows with a ``dataset`` column (optional).
    """
    m = ORDER_METRIC
    parts = []
    for dataset, g in board.groupby("dataset", sort=True):
        vs = (baseline_rows[baseline_rows["dataset"] == dataset].set_index("estimator")
              if baseline_rows is not None and len(baseline_rows) else pd.DataFrame())
        base = str(vs["baseline"].iloc[0]) if len(vs) else ""
        header = ["place", "estimator", "avg rank", f"{m} median", f"{m} mean ± SE"]
        if base:
            header += [f"ratio to {md_cell(base)} [95 % CI]", "won", "Holm p"]
        header.append("fit s")
        lines = [f"#### {md_cell(dataset)}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for _, r in g.iterrows():
            cells = [_num(r.get(f"{m}_place", np.nan), ".0f"), md_cell(r["estimator"]),
                     _num(r.get(f"{m}_avg_rank", np.nan), ".2f"), _num(r[f"{m}_median"]),
                     plus_minus(r[f"{m}_mean"], r[f"{m}_se"])]
            if base:
                if r["estimator"] in vs.index:
                    v = vs.loc[r["estimator"]]
                    sig = "**" if v["significant"] else ""
                    cells += [f"{sig}{_num(v['ratio'], '.2f')} [{_num(v['ratio_low'], '.2f')}, "
                              f"{_num(v['ratio_high'], '.2f')}]{sig}", f"{int(v['wins'])}/{int(v['n'])}",
                              f"{v['p_holm']:.2g}"]
                else:
                    cells += ["baseline" if r["estimator"] == base else "-", "-", "-"]
            cells.append(_fit_cell(r))
            lines.append("| " + " | ".join(cells) + " |")
        lines += _shared_teacher_note(g)
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def has_distributional(board: pd.DataFrame) -> bool:
    """Whether any estimator in the board has a finite distributional metric."""
    cols = [f"{m}_mean" for m in DIST_METRICS if f"{m}_mean" in board]
    return bool(cols) and bool(np.isfinite(board[cols].to_numpy(dtype=float)).any())


DIST_LEGEND = (
    "Generative estimators only (the others draw no samples). Per task, from the predictive draws of Y(0) and "
    "Y(1) against the noisy potential outcomes y0, y1: `crps` = mean CRPS; `cov50` / `cov90` = share of y0, y1 "
    "inside the central 50 % / 90 % predictive interval, read as the distance to nominal, `abs(cov − nominal)` "
    "(per task, then averaged like every metric; 0 is calibrated); `width50` / `width90` = mean interval width; "
    "`w1` = mean per-unit Wasserstein-1 distance to the true conditional law (only where the dataset knows its "
    "noise law). Mean ± SE over replications (seeds averaged first); lower is better, for coverage its distance."
)


def format_distributional(board: pd.DataFrame) -> str:
    """Markdown tables of the distributional metrics: per dataset, test rows then fit rows, generative rows only.

    An estimator appears when it has a finite value of any of the side's metrics; columns appear when some
    estimator has them (``w1`` needs a dataset that knows its noise law). Ordered by mean ``crps`` of the side.
    Returns "" when no estimator has any distributional metric.
    """
    if not has_distributional(board):
        return ""
    parts = []
    for dataset, g in board.groupby("dataset", sort=True):
        for side, words in (("out", "test rows"), ("in", "fit rows")):
            cols = [f"{m}_{side}" for m in DIST_BASE if f"{m}_{side}_mean" in g]
            if not cols:
                continue
            have = g[np.isfinite(g[[f"{c}_mean" for c in cols]].to_numpy(dtype=float)).any(axis=1)]
            if have.empty:
                continue
            present = [c for c in cols if np.isfinite(have[f"{c}_mean"].to_numpy(dtype=float)).any()]
            header = ["estimator", "replications"]
            for c in present:
                base = c.rsplit("_", 1)[0]
                if base == "crps":
                    header += [c, f"{c} median"]
                elif base in NOMINAL:
                    header += [c, f"abs({base} − {NOMINAL[base]})"]
                else:
                    header.append(c)
            lines = [f"### {dataset}: {words} (`_{side}`)", "", "| " + " | ".join(header) + " |",
                     "|" + "---|" * len(header)]
            order = f"crps_{side}_mean" if f"crps_{side}_mean" in have else f"{present[0]}_mean"
            for _, r in have.sort_values(order, na_position="last").iterrows():
                cells = [md_cell(r["estimator"]), str(int(r.get(f"{present[0]}_n", r["n_replications"])))]
                for c in present:
                    base = c.rsplit("_", 1)[0]
                    cells.append(plus_minus(r[f"{c}_mean"], r[f"{c}_se"]))
                    if base == "crps":
                        cells.append(_num(r[f"{c}_median"]))
                    elif base in NOMINAL:
                        d = f"covdist{base[3:]}_{side}"
                        cells.append(plus_minus(r.get(f"{d}_mean", np.nan), r.get(f"{d}_se", np.nan)))
                lines.append("| " + " | ".join(cells) + " |")
            parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n" if parts else ""


COMPACT_LEGEND = (
    "`place` and `avg rank`: the ranking (average rank over replications of out-of-sample sqrt-PEHE, 1 = best). "
    "`ratio to B`: the estimator's sqrt-PEHE over the pre-declared baseline B's, as the ratio of geometric means "
    "over replications with its 95 % t-interval (below 1 = better); `won`: replications on which it is lower; "
    "`Holm p`: its paired signed-rank test against B on the log ratios, Holm-corrected over the k − 1 comparisons "
    "with B (bold ratio = significant at α). Mean ± SE is shown for reference; it is not the ranking."
)


def leaderboard_intro(preamble: str = "", notes: str = "") -> str:
    """The text above the leaderboard tables: ``preamble``, the legend, then ``notes``."""
    return (preamble + "\n\n" if preamble else "") + LEGEND + "\n\n" + notes


def _leaderboard_text(board: pd.DataFrame, intro: str, ref_rows: list[dict] = ()) -> str:
    text = "# catebench leaderboard\n\n" + intro + format_markdown(board, ref_rows=ref_rows)
    dist = format_distributional(board)
    if dist:
        text += "\n## Distributional metrics (generative estimators)\n\n" + DIST_LEGEND + "\n\n" + dist
    return text


def write_leaderboard(results: pd.DataFrame, out_dir: str | Path, preamble: str = "") -> tuple[Path, Path]:
    """Write ``leaderboard.csv`` and ``leaderboard.md`` into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    board = leaderboard(results)
    csv_path, md_path = out / "leaderboard.csv", out / "leaderboard.md"
    board.to_csv(csv_path, index=False, float_format="%.6g")
    md_path.write_text(_leaderboard_text(board, leaderboard_intro(preamble)))
    return csv_path, md_path


# ---------------------------------------------------------------------------------------------------------------
# Published reference rows, provenance helpers, coverage.
# ---------------------------------------------------------------------------------------------------------------

#: Metrics for which win-rate tables and statistics are written (in- and out-of-sample).
REPORT_METRICS = ["pehe_out", "pehe_in", "ate_out", "ate_in"]

#: Reference metric name in ihdp_published.csv -> (our in-sample column, our out-of-sample column).
_REFERENCE_METRICS = {"sqrt_pehe": ("pehe_in", "pehe_out"), "ate_error": ("ate_in", "ate_out")}

PUBLISHED_TAG = "published, orientation only"


def default_reference_path() -> Path:
    """The published IHDP table shipped with the package: ``catebench/benchmark/reference/ihdp_published.csv``
    (citations in ``reference/README.md`` and ``citations.csv`` beside it)."""
    return Path(__file__).resolve().parent / "reference" / "ihdp_published.csv"


def citations(path: str | Path | None = None) -> dict[str, str]:
    """``{source key: citation}`` from the ``citations.csv`` beside the reference table (empty when absent)."""
    p = Path(path) if path is not None else default_reference_path().with_name("citations.csv")
    if not p.exists():
        return {}
    return dict(pd.read_csv(p)[["source", "citation"]].itertuples(index=False, name=None))


def published_rows(path: str | Path | None) -> tuple[list[dict], str]:
    """Published IHDP rows as leaderboard-shaped dicts (shown under every dataset named ihdp*), plus a note.

    Parameters
    ----------
    path : path to ``ihdp_published.csv`` (columns source, method, protocol, metric, within_sample, within_se,
        out_of_sample, out_se, verified), or None.

    Returns
    -------
    (rows, note)
        ``rows``: one dict per (source, method) with ``estimator`` = "method [source] (published, orientation
        only)", ``{metric}_mean`` / ``{metric}_se`` for pehe/ate in/out and ``{metric}_status`` (see
        :func:`published_status`; from the ``verified`` column, "unknown" when the file lacks it). Only
        ``sqrt_pehe`` and ``ate_error`` rows are used; other metrics, e.g. trimmed ATE error, are not comparable
        and are skipped. ``note``: why rows are absent, or their provenance and what the statuses mean.
    """
    if path is None:
        return [], "Published reference rows omitted (no reference table given)."
    if not Path(path).exists():
        return [], f"Published reference rows omitted: no file `{Path(path).name}` where it was looked for."
    ref = pd.read_csv(path)
    need = {"source", "method", "metric", "within_sample", "within_se", "out_of_sample", "out_se"}
    if not need <= set(ref.columns):
        raise ValueError(f"{path} lacks the columns {sorted(need - set(ref.columns))}")
    rows: dict[tuple[str, str], dict] = {}
    protocols = set()
    for r in ref.itertuples():
        if r.metric not in _REFERENCE_METRICS:
            continue
        col_in, col_out = _REFERENCE_METRICS[r.metric]
        row = rows.setdefault((r.source, r.method), {"estimator": f"{r.method} [{r.source}] ({PUBLISHED_TAG})",
                                                       "dataset": "ihdp", "n_ok": np.nan, "n_failed": np.nan,
                                                       "fit_seconds_median": np.nan})
        verified = str(getattr(r, "verified", "unknown"))
        row[f"{col_in}_mean"], row[f"{col_in}_se"] = float(r.within_sample), float(r.within_se)
        row[f"{col_out}_mean"], row[f"{col_out}_se"] = float(r.out_of_sample), float(r.out_se)
        row[f"{col_in}_status"] = published_status(verified, "in")
        row[f"{col_out}_status"] = published_status(verified, "out")
        protocols.add(str(getattr(r, "protocol", "")))
    cites = citations(Path(path).with_name("citations.csv"))
    used = sorted({src for src, _ in rows})
    sources = "; ".join(f"`{k}`: {cites[k].rstrip('.')}" if k in cites else f"`{k}`" for k in used)
    note = (f"Rows marked *{PUBLISHED_TAG}* are copied from `{Path(path).name}` (protocols: "
            f"{'; '.join(sorted(protocols))}); they use other replications, splits and often 1000 draws, "
            "so they orient, they do not rank. Only sqrt-PEHE and absolute ATE error rows are shown. "
            + STATUS_LEGEND + (f" Sources: {sources}." if sources else ""))
    return list(rows.values()), note


def hardware() -> dict:
    """Cores and CPU model of this machine (from ``/proc/cpuinfo`` where available) and the platform."""
    import os
    import platform

    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        avail = len(os.sched_getaffinity(0))
    except AttributeError:
        avail = os.cpu_count()
    gpu = ""
    # Importing torch costs seconds (most of a small report's time): ask it only when it is already loaded or the
    # machine shows an NVIDIA device.
    import sys

    if "torch" in sys.modules or Path("/proc/driver/nvidia").exists() or Path("/dev/nvidia0").exists():
        try:
            import torch

            if torch.cuda.is_available():
                gpu = torch.cuda.get_device_name(0)
        except Exception:  # torch missing or broken: no GPU info
            pass
    return {"cpu_model": model, "cpu_count": os.cpu_count(), "cpus_available": avail,
            "platform": platform.platform(), "python": platform.python_version(), "gpu": gpu or "none"}


def effective_config(results: pd.DataFrame) -> dict:
    """The configuration as recorded in the store rows: datasets (params, split, replications), estimators
    (target, params), seeds."""
    ds = {}
    for name, g in results.groupby("dataset"):
        reps = sorted(int(x) for x in g["replication"].unique())
        ds[name] = {"params": sorted(set(g["dataset_params"])), "split": sorted(set(g["split"])),
                    "replications": f"{reps[0]}..{reps[-1]} ({len(reps)})" if reps else ""}
    est = {}
    for name, g in results.groupby("estimator"):
        est[name] = {"target": sorted(set(g["estimator_target"]))[0],
                     "params": [json.loads(p) for p in sorted(set(g["estimator_params"]))]}
    return {"datasets": ds, "estimators": est, "seeds": sorted(int(s) for s in results["seed"].unique())}


def versions_summary(results: pd.DataFrame) -> dict[str, list[str]]:
    """Package -> distinct versions seen in the store's ``versions`` column (more than one = mixed runs)."""
    seen: dict[str, set] = {}
    for v in results["versions"].dropna().unique():
        for k, x in json.loads(v).items():
            seen.setdefault(k, set()).add(str(x))
    return {k: sorted(v) for k, v in sorted(seen.items())}


def coverage(results: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, estimator): task count and how many are ok / failed / timeout / crashed / absent.

    The task set of a dataset is every (replication, seed, split) that appears for any estimator, so tasks never
    written for an estimator (not run, or run aborted) show up as ``absent`` rather than vanishing.
    """
    rows = []
    for ds, g in results.groupby("dataset", sort=True):
        keys = g[["replication", "seed", "split"]].drop_duplicates()
        for est in sorted(results["estimator"].unique()):
            e = g[g["estimator"] == est]
            st = e["status"].value_counts()
            rows.append({"dataset": ds, "estimator": est, "tasks": len(keys), "ok": int(st.get("ok", 0)),
                         "failed": int(st.get("failed", 0)), "timeout": int(st.get("timeout", 0)),
                         "crashed": int(st.get("crashed", 0)), "absent": len(keys) - len(e)})
    return pd.DataFrame(rows)


def _md_table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(md_cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------------
# Full report: one function per artefact, sharing a ReportContext; write_report only calls them in order.
# ---------------------------------------------------------------------------------------------------------------

#: Pooled scopes: label -> how datasets are weighted (see catebench.benchmark.winrates.pairwise_winrates).
POOLED_DATASETS = "pooled, datasets weighted equally"
POOLED_TASKS = "pooled, tasks weighted equally"


@dataclasses.dataclass
class ReportContext:
    """What every artefact of one report shares: the inputs, settings, and what earlier artefacts produced.

    Attributes
    ----------
    results : DataFrame, ``Store.results()``
    out : output directory
    command, store_path, stamp : provenance strings
    n_boot, seed, alpha : bootstrap size and seed, test level
    ref_path, ref_rows, ref_note : published reference rows (see :func:`published_rows`)
    paths : name -> path of every file written so far
    md : artefact name -> its Markdown body (for the HTML page)
    figs : figure group -> list of (PNG path, caption)
    friedman : (scope label, metric) -> :func:`catebench.benchmark.stats.friedman_nemenyi` result
    board : the :func:`leaderboard` frame, once :func:`report_leaderboard` has run
    raw : the results before identical estimators were merged (what ``tasks.csv`` holds)
    identical : groups of estimators with identical predictions (see :func:`merge_identical`)
    baseline : the pre-declared baseline (see :func:`choose_baseline`)
    headlines : dataset -> :func:`headline` result
    vs : :func:`catebench.benchmark.stats.vs_baseline` rows of :data:`ORDER_METRIC` per dataset
    """

    results: pd.DataFrame
    out: Path
    command: str = ""
    store_path: str = ""
    stamp: str = ""
    n_boot: int = 2000
    seed: int = 0
    alpha: float = 0.05
    ref_path: Path | None = None
    ref_rows: list = dataclasses.field(default_factory=list)
    ref_note: str = ""
    paths: dict = dataclasses.field(default_factory=dict)
    md: dict = dataclasses.field(default_factory=dict)
    figs: dict = dataclasses.field(default_factory=dict)
    friedman: dict = dataclasses.field(default_factory=dict)
    board: pd.DataFrame | None = None
    raw: pd.DataFrame | None = None
    identical: list = dataclasses.field(default_factory=list)
    baseline: str | None = None
    headlines: dict = dataclasses.field(default_factory=dict)
    vs: pd.DataFrame | None = None

    @property
    def datasets(self) -> list[str]:
        return sorted(self.results["dataset"].unique())

    @property
    def estimators(self) -> list[str]:
        return sorted(self.results["estimator"].unique())

    @property
    def metrics(self) -> list[str]:
        return [m for m in REPORT_METRICS if m in self.results.columns]

    @property
    def fig_dir(self) -> Path:
        return self.out / "figures"

    def scopes(self) -> list[tuple[str | None, str, str]]:
        """(dataset or None, label, weighting) for every dataset and, with several, the two pooled scopes."""
        out = [(ds, ds, "datasets") for ds in self.datasets]
        if len(self.datasets) > 1:
            out += [(None, POOLED_DATASETS, "datasets"), (None, POOLED_TASKS, "tasks")]
        return out

    def rank_scopes(self) -> list[tuple[str | None, str, str]]:
        """(dataset or None, label, unit) for the rank tests: replications per dataset, datasets when pooled."""
        out = [(ds, ds, "replication") for ds in self.datasets]
        if len(self.datasets) > 1:
            out.append((None, "pooled over datasets", "dataset"))
        return out

    def write_csv(self, name: str, frame: pd.DataFrame, **kw) -> Path:
        path = self.out / name
        frame.to_csv(path, index=False, float_format="%.6g", **kw)
        self.paths[name.replace(".", "_")] = path
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.out / name
        path.write_text(text)
        self.paths[name.replace(".", "_")] = path
        return path

    def fig_link(self, stem: str) -> str:
        """Path of figure ``stem``'s PNG relative to the report directory."""
        return f"figures/{stem}.png"


def report_tasks(ctx: ReportContext) -> None:
    """``tasks.csv`` and ``tasks_params.json``: every task of the store (before identical estimators are merged),
    from which ``catebench report --tasks-csv`` rebuilds every table."""
    from .taskfile import write_tasks

    csv_path, json_path = write_tasks(ctx.raw if ctx.raw is not None else ctx.results, ctx.out)
    ctx.paths["tasks_csv"], ctx.paths["tasks_params_json"] = csv_path, json_path


def _identical_note(groups: list[tuple[str, ...]]) -> str:
    if not groups:
        return ""
    names = "; ".join(" = ".join(f"`{md_cell(n)}`" for n in g) for g in groups)
    return (f"**Identical estimators, shown once:** {names} predicted the same numbers on every task (same "
            "prediction digest in `tasks.csv`); each group is one row and one competitor in every table, test and "
            "figure, with the first name's fit times.\n\n")


def report_ranking(ctx: ReportContext) -> None:
    """The headline per dataset (:func:`headline`) and every estimator against the baseline on
    :data:`ORDER_METRIC` (``ctx.vs``), for the leaderboard's top and the compact table."""
    from . import stats as st

    rows = []
    for ds in ctx.datasets:
        tab = rank_table(ctx.results[ctx.results["dataset"] == ds], ORDER_METRIC) \
            if ORDER_METRIC in ctx.results else pd.DataFrame()
        base = ctx.baseline if ctx.baseline in tab.columns else None
        ctx.headlines[ds] = headline(tab, base, ctx.alpha, dataset=ds)
        n, k = tab.shape
        if base is not None and k >= 2 and st.wilcoxon_min_p(n) <= ctx.alpha / (k - 1):
            rows.append(st.vs_baseline(tab, base, ctx.alpha).assign(dataset=ds))
    ctx.vs = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def _top_figures_md(ctx: ReportContext, ds: str) -> str:
    stem = ds
    return (f"![Per-replication {ORDER_METRIC} per estimator]({ctx.fig_link(f'strip_{stem}_{ORDER_METRIC}')}) "
            f"![Average ranks]({ctx.fig_link(f'cd_{stem}_{ORDER_METRIC}')}) "
            f"![Win rates]({ctx.fig_link(f'winrate_{stem}_{ORDER_METRIC}')})\n\n")


def report_leaderboard(ctx: ReportContext) -> None:
    """``leaderboard.csv`` (every metric, mean / SE / median, ranks) and ``leaderboard.md``: the headline, the
    figures, the compact ranking, then the full table with the published rows."""
    board = leaderboard(ctx.results)
    ctx.write_csv("leaderboard.csv", board)
    cov = coverage(ctx.results)
    n_absent, n_not_ok = int(cov["absent"].sum()), int((ctx.results["status"] != "ok").sum())
    warn = ""
    if n_absent or n_not_ok:
        warn = (f"**Incomplete store:** {n_not_ok} task(s) stored as failed/timeout/crashed and {n_absent} task(s) "
                "absent (not run) out of the dataset x replication x seed x estimator grid seen in the store; "
                "see the Coverage table in `winrates.md`. Means below use each estimator's `ok` tasks only, so "
                "rows with fewer tasks are not directly comparable; ranks use complete replications only.\n\n")
    seeds = ctx.results["seed"].nunique() if "seed" in ctx.results else 1
    seed_note = (f"The store holds {seeds} seeds per replication: each replication's value is the mean over its "
                 "seeds, and SEs, medians and intervals are over replications.\n\n" if seeds > 1 else "")
    ctx.board = board
    heads = "\n\n".join(ctx.headlines[ds]["text"] for ds in ctx.datasets if ds in ctx.headlines)
    ctx.md["headline"] = heads + "\n\n" + _identical_note(ctx.identical)
    ctx.md["compact"] = format_compact(board, ctx.vs)
    source = f"Generated by `{ctx.command}` from `{ctx.store_path}`; results as of {ctx.stamp}."
    intro = leaderboard_intro("", warn + seed_note + ctx.ref_note + "\n\n")
    ctx.md["leaderboard"] = intro + format_markdown(board, ref_rows=ctx.ref_rows)
    top = "".join(f"### {md_cell(ds)}\n\n" * (len(ctx.datasets) > 1) + _top_figures_md(ctx, ds)
                  for ds in ctx.datasets)
    text = ("# catebench leaderboard\n\n" + source + "\n\n" + ctx.md["headline"] + top
            + "## Ranking\n\n" + COMPACT_LEGEND + "\n\n" + ctx.md["compact"]
            + "\n## All metrics\n\n" + ctx.md["leaderboard"])
    dist = format_distributional(board)
    if dist:
        text += "\n## Distributional metrics (generative estimators)\n\n" + DIST_LEGEND + "\n\n" + dist
    ctx.write_text("leaderboard.md", text)


def report_distributional(ctx: ReportContext) -> None:
    """``distributional.csv`` and the distributional section (already in ``leaderboard.md``), when the store has
    distributional metrics; nothing otherwise."""
    board = ctx.board if ctx.board is not None else leaderboard(ctx.results)
    if not has_distributional(board):
        return
    cols = [c for c in board.columns if any(c.startswith(f"{m}_") for m in DIST_METRICS)
            or c.startswith("covdist")]
    have = board[np.isfinite(board[[c for c in cols if c.endswith("_mean")]].to_numpy(dtype=float)).any(axis=1)]
    ctx.write_csv("distributional.csv", have[["dataset", "estimator", "n_ok", "n_failed", "n_replications", *cols]])
    ctx.md["distributional"] = DIST_LEGEND + "\n\n" + format_distributional(board)


def report_coverage(ctx: ReportContext) -> None:
    """``coverage.csv``: ok / failed / timeout / crashed / absent tasks per dataset and estimator."""
    cov = coverage(ctx.results)
    ctx.write_csv("coverage.csv", cov)
    ctx.md["coverage"] = (
        "Tasks per dataset = distinct (replication, seed, split) seen for any estimator; `absent` = no row in the "
        "store (not run yet or not run at all). Win rates use only tasks on which both estimators are `ok`; the "
        "others are counted per pair in `winrates.csv` (`n_missing`).\n\n"
        + _md_table(["dataset", "estimator", "tasks", "ok", "failed", "timeout", "crashed", "absent"],
                    [[r.dataset, r.estimator, r.tasks, r.ok, r.failed, r.timeout, r.crashed, r.absent]
                     for r in cov.itertuples()]))


def report_winrates(ctx: ReportContext) -> None:
    """``winrates.csv`` (long, with bootstrap CIs), ``best.csv`` ("% best") and ``winrates.md``."""
    from .stats import winrate_ci_from_table
    from .winrates import best_shares, format_winrate_markdown, paired_table, pairwise_winrates

    res, est = ctx.results, ctx.estimators
    wr_rows, wr_md, best_rows = [], [], []
    notes = {POOLED_DATASETS: "Pooled: the mean of the per-dataset win rates (each dataset counts once, as in "
                              "the pooled % best and rank tests); this is the pooled figure to read.",
             POOLED_TASKS: "Pooled: every paired task counts once, so the dataset with most replications "
                           "dominates; shown for comparison with the dataset-weighted figure above."}
    for metric in ctx.metrics:
        for ds, label, weighting in ctx.scopes():
            wr = pairwise_winrates(res, metric, dataset=ds, estimators=est, weighting=weighting)
            wide = paired_table(res if ds is None else res[res["dataset"] == ds], metric, est)
            wr_md.append(format_winrate_markdown(wr, f"{label}: {metric}", notes.get(label, "")))
            for a in est:
                for b in est:
                    if a == b:
                        continue
                    lo = hi = np.nan
                    if wr["n_pairs"].loc[a, b] > 0:
                        _, lo, hi, _ = winrate_ci_from_table(wide, a, b, n_boot=ctx.n_boot, seed=ctx.seed,
                                                             weighting=weighting)
                    wr_rows.append({"scope": label, "weighting": weighting, "metric": metric, "a": a, "b": b,
                                    "winrate": wr["winrate"].loc[a, b], "ci_low": lo, "ci_high": hi,
                                    "n_pairs": int(wr["n_pairs"].loc[a, b]), "wins": int(wr["wins"].loc[a, b]),
                                    "ties": int(wr["ties"].loc[a, b]), "n_missing": int(wr["n_missing"].loc[a, b]),
                                    "n_datasets": int(wr["n_datasets"].loc[a, b])})
        for ds, label, unit in ctx.rank_scopes():
            bs = best_shares(res if ds is None else res[res["dataset"] == ds], metric, unit=unit, estimators=est)
            if unit == "dataset":  # a mean across datasets mixes their scales: avg_rank is the comparable figure
                bs["mean"] = np.nan
            bs.insert(0, "unit", unit)
            bs.insert(0, "metric", metric)
            bs.insert(0, "scope", label)
            best_rows.append(bs)
    ctx.write_csv("winrates.csv", pd.DataFrame(wr_rows))
    best = pd.concat(best_rows, ignore_index=True)
    ctx.write_csv("best.csv", best)
    best_md = _md_table(
        ["scope", "metric", "unit", "estimator", "% best", "avg rank", "mean", "units", "incomplete"],
        [[r.scope, r.metric, r.unit, r.estimator, f"{r.best_pct:.1f}", _num(r.avg_rank, ".2f"), _num(r.mean),
          r.n_units, r.n_incomplete] for r in best.itertuples()])
    pooled_note = (" Two pooled matrices follow the per-dataset ones: datasets weighted equally (the one to read) "
                   "and tasks weighted equally (for comparison)." if len(ctx.datasets) > 1 else "")
    ctx.md["winrates_pairwise"] = wr_md
    ctx.md["winrates_best"] = (
        "Share of units (replications within a dataset; datasets when pooled) on which the estimator is best of "
        "all compared, ties split; `avg rank` = average rank over the same units (1 = best); `mean` = average "
        "metric over the same units, left blank when pooled because datasets have different scales.\n\n" + best_md)
    ctx.write_text("winrates.md", (
        "# Win rates\n\n## Coverage\n\n" + ctx.md["coverage"] + "\n\n## Pairwise\n\nPaired tasks share dataset, "
        "replication, seed and split; both estimators must have finished `ok`. 95 % bootstrap CIs (replications "
        "resampled, within each dataset when datasets are weighted equally) are in `winrates.csv`; with about 10 "
        "replications percentile bootstrap intervals may under-cover, so read them as rough." + pooled_note
        + "\n\n" + "\n".join(wr_md) + "\n## % best (IWDD / DiffPO sense)\n\n" + ctx.md["winrates_best"] + "\n"))


_FRIEDMAN_METHOD = {
    "exact": "exact: all within-block rank permutations enumerated",
    "permutation": "permutation p-value from {n_perm} random within-block permutations, seed {seed}",
    "chi2": "chi-square approximation",
}


def _friedman_text(fr: dict, n: int, k: int, unit_word: str, alpha: float, seed: int) -> str:
    from .stats import N_PERM

    if not fr["can_reject"]:
        return (f"Friedman test not run: with {n} {unit_word} and {k} estimators its smallest attainable p-value is "
                f"{fr['p_min']:.2g} > α = {alpha}, so it cannot reject. Average ranks (descriptive only): "
                + ", ".join(f"{e} {r:.2f}" for e, r in fr["avg_ranks"].items()) + ".")
    how = _FRIEDMAN_METHOD[fr["method"]].format(n_perm=N_PERM, seed=seed)
    text = f"Friedman χ² = {fr['statistic']:.2f}, p = {fr['p']:.3g} ({how}"
    text += f"; the chi-square approximation would give {fr['p_chi2']:.3g})" if fr["method"] != "chi2" else ")"
    ranks = fr["avg_ranks"]
    text += (". Average ranks: " + ", ".join(f"{e} {r:.2f}" for e, r in ranks.items()) + ". " if k <= 6 else
             f". Average ranks from {ranks.iloc[0]:.2f} ({ranks.index[0]}) to {ranks.iloc[-1]:.2f} "
             f"({ranks.index[-1]}); "
             "all in `ranks.csv` and the CD diagram. ")
    if fr["nemenyi_run"]:
        names = list(fr["avg_ranks"].index)
        gap = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]
               if fr["avg_ranks"][b] - fr["avg_ranks"][a] > fr["cd"]]
        n_pairs = k * (k - 1) // 2
        text += (f"Nemenyi critical difference (α = {alpha}) = {fr['cd']:.2f}: {len(gap)} of {n_pairs} pairs' "
                 "average ranks differ by more (the CD diagram joins the estimators it does not separate; every "
                 "pair's p-value is in `nemenyi.csv`).")
    elif not fr["rejects"]:
        text += f"The Friedman test does not reject at α = {alpha}, so no Nemenyi post-hoc is run."
    else:
        text += (f"Nemenyi post-hoc not run: its critical difference {fr['cd']:.2f} is at least k − 1 = {k - 1}, the "
                 f"widest possible gap of average ranks, so no pair could differ with {n} {unit_word}.")
    return text


def _baseline_section(tab: pd.DataFrame, baseline: str | None, alpha: float, unit_word: str
                      ) -> tuple[str, pd.DataFrame | None]:
    """Text (and rows, when run) of the family "every estimator against the baseline" on one scope."""
    from . import stats as st

    n, k = tab.shape
    if baseline is None or baseline not in tab.columns or k < 2 or n < 1:
        return "", None
    m = k - 1
    floor = st.wilcoxon_min_p(n)
    if floor > alpha / m:
        need = next(i for i in range(1, 10_000) if st.wilcoxon_min_p(i) <= alpha / m)
        return (f"Tests against the baseline `{md_cell(baseline)}` not run: with {n} paired {unit_word} the smallest "
                f"attainable signed-rank p-value is {floor:.2g} > α / {m} = {alpha / m:.2g}, Holm's first threshold, "
                f"so none of the {m} comparisons could reject; {need} {unit_word} are needed."), None
    w = st.vs_baseline(tab, baseline, alpha)
    d = st.detectable_effect(n, m, alpha, POWER)
    losses = st.wilcoxon_max_losses(n, alpha / m)
    text = (f"Every estimator against the pre-declared baseline `{md_cell(baseline)}`: paired signed-rank tests on "
            f"the log ratios over {unit_word}, Holm over {m} comparisons ({int(w['significant'].sum())} significant "
            f"at α = {alpha}). At {n} {unit_word} a difference of {d:.2f} SD of the paired log ratio is found with "
            f"{POWER * 100:.0f} % power, and only an estimator better (or worse) on at least {n - losses} of {n} can "
            "pass.\n\n"
            + _md_table(["estimator", "ratio [95 % CI]", "won", "R+ / R−", "p", "p (Holm)", "better"],
                        [[r.estimator, f"{_num(r.ratio, '.2f')} [{_num(r.ratio_low, '.2f')}, "
                          f"{_num(r.ratio_high, '.2f')}]", f"{r.wins}/{r.n}", f"{r.r_plus:g} / {r.r_minus:g}",
                          f"{r.p:.3g}", f"{r.p_holm:.3g}", r.better or "n.s."] for r in w.itertuples()]))
    return text, w


def report_statistics(ctx: ReportContext) -> None:
    """``ci.csv`` (t-interval and BCa bootstrap of each mean), ``wilcoxon.csv`` (every estimator against the
    baseline), ``ranks.csv``, ``nemenyi.csv`` and ``stats.md``; Friedman results kept in ``ctx.friedman``."""
    from . import stats as st

    res, est, alpha = ctx.results, ctx.estimators, ctx.alpha
    ci_rows, wil_rows, rank_rows, nemenyi_rows, sections = [], [], [], [], []
    for metric in ctx.metrics:
        for ds in ctx.datasets:
            tab = st.unit_table(res, metric, "replication", dataset=ds, estimators=est, complete=False)
            for e in est:
                v = tab[e].dropna().to_numpy()
                m, lo, hi = st.t_mean_ci(v) if len(v) else (np.nan,) * 3
                _, blo, bhi = (st.bootstrap_mean_ci(v, ctx.n_boot, seed=ctx.seed, method="bca") if len(v) > 1
                               else (np.nan,) * 3)
                ci_rows.append({"dataset": ds, "metric": metric, "estimator": e, "mean": m,
                                "se": v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan,
                                "ci_low": lo, "ci_high": hi, "ci_method": "t", "bca_low": blo, "bca_high": bhi,
                                "n_units": len(v)})
        for ds, label, unit in ctx.rank_scopes():
            tab = st.unit_table(res, metric, unit, dataset=ds, estimators=est, complete=True)
            n, k = tab.shape
            unit_word = "datasets" if unit == "dataset" else "replications"
            parts = [f"### {md_cell(label)}: {metric} ({n} complete {unit_word} as blocks)"]
            cov_s = coverage(res if ds is None else res[res["dataset"] == ds])
            short = cov_s.loc[cov_s["ok"] < cov_s["tasks"], "estimator"].unique()
            if len(short):
                parts.append(f"Replications where any estimator lacks an `ok` result are left out of the rank tests; "
                             f"estimators short of results here: {', '.join(sorted(short))} (see Coverage).")
            if n >= 2 and k >= 3:
                fr = st.friedman_nemenyi(tab, alpha, seed=ctx.seed)
                ctx.friedman[(label, metric)] = fr
                parts.append(_friedman_text(fr, n, k, unit_word, alpha, ctx.seed))
                for e, r in fr["avg_ranks"].items():
                    rank_rows.append({"scope": label, "metric": metric, "unit": unit, "estimator": e, "avg_rank": r,
                                      "friedman_run": fr["can_reject"],
                                      "friedman_stat": fr["statistic"] if fr["can_reject"] else np.nan,
                                      "friedman_p": fr["p"] if fr["can_reject"] else np.nan,
                                      "friedman_method": fr["method"] if fr["can_reject"] else "",
                                      "friedman_p_chi2": fr["p_chi2"] if fr["can_reject"] else np.nan,
                                      "friedman_p_min": fr["p_min"], "nemenyi_run": fr["nemenyi_run"],
                                      "cd": fr["cd"], "n_blocks": n})
                if fr["nemenyi_run"]:
                    pw = fr["pairwise"].rename_axis(index="a", columns="b").stack().rename("nemenyi_p").reset_index()
                    nemenyi_rows.append(pw[pw["a"] < pw["b"]].assign(scope=label, metric=metric))
            elif k < 3:
                parts.append(f"No Friedman test: it compares at least 3 estimators (here {k}).")
            else:
                parts.append(f"No Friedman test: it needs at least 2 complete {unit_word} (here {n}).")
            text, w = _baseline_section(tab, ctx.baseline, alpha, unit_word)
            if text:
                parts.append(text)
            if w is not None:
                w.insert(0, "metric", metric)
                w.insert(0, "scope", label)
                wil_rows.append(w)
            sections.append("\n\n".join(parts) + "\n")
    ci = pd.DataFrame(ci_rows)
    ctx.write_csv("ci.csv", ci)
    ctx.write_csv("wilcoxon.csv", pd.concat(wil_rows, ignore_index=True) if wil_rows else pd.DataFrame())
    ctx.write_csv("ranks.csv", pd.DataFrame(rank_rows))
    ctx.write_csv("nemenyi.csv", pd.concat(nemenyi_rows, ignore_index=True) if nemenyi_rows else pd.DataFrame())
    ci_md = _md_table(["dataset", "metric", "estimator", "mean", "SE", "95 % t-interval", "95 % BCa bootstrap",
                       "units"],
                      [[r.dataset, r.metric, r.estimator, _num(r.mean), _num(r.se),
                        f"[{_num(r.ci_low)}, {_num(r.ci_high)}]", f"[{_num(r.bca_low)}, {_num(r.bca_high)}]",
                        r.n_units] for r in ci.itertuples()])
    doc = (st.__doc__ or "").split("How replications and datasets are treated", 1)[-1]
    doc = "\n".join(line for line in doc.splitlines() if not set(line.strip()) <= {"-"} or not line.strip())
    doc = doc.replace("``", "`").replace(":func:", "").split("All random")[0]
    wil_note = ("Tables against the baseline: `ratio` = ratio of geometric means (estimator / baseline) with its 95 % "
                "t-interval; `R+` / `R−` are the signed-rank sums of the log differences estimator − baseline; "
                "`better` (when Holm-significant) is the one the signed ranks favour. These tests and the Friedman "
                "test run only where they can reject at α; pairwise Nemenyi p-values are in `nemenyi.csv`.\n\n")
    body = ("\n## Rank tests\n\n" + wil_note + "\n".join(sections)
            + f"\n## 95 % intervals of the mean (replications as the sample; BCa with {ctx.n_boot} bootstrap "
            f"draws, seed {ctx.seed})\n\nThe t-interval is the one to quote; the BCa interval is shown beside it "
            "because sqrt-PEHE is skewed across replications.\n\n" + ci_md + "\n")
    ctx.md["statistics"] = body
    ctx.write_text("stats.md", "# Statistics\n\n## How replications and datasets are treated\n" + doc + body)


#: Figures of the report are deterministic: same store, same bytes (see catebench.benchmark.plots.save).
def report_figures(ctx: ReportContext) -> None:
    """Figures in ``figures/`` (PNG + SVG): per dataset the per-replication strip plot and the average-rank (CD)
    diagram of :data:`ORDER_METRIC` (``top``), its win-rate heat map and error vs fit time; the pooled CD diagram
    and the ATE-error strip plot (``more``). Listed in ``ctx.figs`` as (path, caption) for the page."""
    from . import plots
    from . import stats as st
    from .winrates import pairwise_winrates

    ctx.fig_dir.mkdir(parents=True, exist_ok=True)
    res, est, alpha, m = ctx.results, ctx.estimators, ctx.alpha, ORDER_METRIC
    figs: dict[str, list[tuple[Path, str]]] = {"top": [], "winrates": [], "time": [], "more": []}
    board = ctx.board if ctx.board is not None else leaderboard(res)
    if m not in ctx.metrics:
        ctx.figs = figs
        return
    for ds, label, unit in ctx.rank_scopes():
        stem = ds or "pooled"
        order = list(board.loc[board["dataset"] == ds, "estimator"]) if ds is not None else None
        unit_word = "datasets" if unit == "dataset" else "replications"
        if ds is not None:
            tab = st.unit_table(res, m, "replication", dataset=ds, estimators=est, complete=False)
            p = plots.save(plots.replication_strip(tab, m, f"{ds}: {m} of every replication ({len(tab)}), rows by "
                                                   "average rank", order), ctx.fig_dir, f"strip_{stem}_{m}")
            figs["top"].append((p[0], f"Every replication's `{m}` per estimator ({label}; log axis; colours and "
                                      "thin lines = replications; bar = median, diamond = mean)."))
        tab = st.unit_table(res, m, unit, dataset=ds, estimators=est, complete=True)
        n, k = tab.shape
        if n >= 1 and k >= 2:
            fr = ctx.friedman.get((label, m))
            ranks = fr["avg_ranks"] if fr is not None else st.average_ranks(tab)
            cd = fr["cd"] if fr is not None and fr["nemenyi_run"] else None
            if fr is None or not fr["can_reject"]:
                sub = "no rank test can reject with this design: ranks shown only"
            elif not fr["rejects"]:
                sub = f"Friedman p = {fr['p']:.2g}: does not reject, no post-hoc; ranks shown only"
            elif cd is None:
                sub = f"Friedman p = {fr['p']:.2g}; Nemenyi cannot separate any pair here (CD ≥ k − 1)"
            else:
                sub = f"Friedman p = {fr['p']:.2g}; bars join estimators Nemenyi does not separate (α = {alpha})"
            title = f"{label}: average rank of {m} over {n} {unit_word} (1 = best)\n{sub}"
            p = plots.save(plots.cd_diagram(ranks, cd, title), ctx.fig_dir, f"cd_{stem}_{m}")
            figs["top" if ds is not None else "more"].append(
                (p[0], f"Average ranks ({label}, `{m}`, {unit_word} as blocks)" + (
                    f"; critical difference {cd:.2f}." if cd is not None else ".")))
        if ds is not None:
            wr = pairwise_winrates(res, m, dataset=ds, estimators=est, weighting="datasets")
            if (wr["n_pairs"].to_numpy() > 0).any():
                p = plots.save(plots.winrate_heatmap(wr["winrate"], f"{ds}: win rate on {m}", wr["n_pairs"],
                                                     order=order), ctx.fig_dir, f"winrate_{stem}_{m}")
                figs["winrates"].append((p[0], f"Pairwise win rates on `{m}` ({ds}): % of paired tasks on which the "
                                               "row beats the column; rows and columns in board order."))
            ok = res[(res["dataset"] == ds) & (res["status"] == "ok")]
            if ok[m].notna().any():
                p = plots.save(plots.error_vs_time(res, m, ds, order=order), ctx.fig_dir, f"time_{ds}_{m}")
                figs["time"].append((p[0], f"Error vs fit time on {ds}; each estimator drawn as its place "
                                           "(machine shared; timings are noisy)."))
            if "ate_out" in ctx.metrics:
                tab = st.unit_table(res, "ate_out", "replication", dataset=ds, estimators=est, complete=False)
                p = plots.save(plots.replication_strip(tab, "ate_out", f"{ds}: ate_out of every replication, rows "
                                                       f"by the board's order", order), ctx.fig_dir,
                               f"strip_{stem}_ate_out")
                figs["more"].append((p[0], f"Every replication's `ate_out` per estimator ({ds})."))
    ctx.figs = figs


def report_page(ctx: ReportContext) -> None:
    """``report_meta.json`` (command, configuration, versions, hardware, headline) and ``report.html``: the
    headline and figures first, then the compact ranking; the full tables and statistics collapsed below. The
    page references its figures by relative path."""
    from . import html

    res = ctx.results
    meta = {"command": ctx.command, "store": str(ctx.store_path), "generated": ctx.stamp, "hardware": hardware(),
            "versions": versions_summary(res), "config": effective_config(res), "n_tasks": int(len(ctx.raw)),
            "status_counts": res["status"].value_counts().sort_index().to_dict(),
            "reference": ctx.ref_path.name if ctx.ref_rows and ctx.ref_path else None,
            "bootstrap": {"n_boot": ctx.n_boot, "seed": ctx.seed}, "alpha": ctx.alpha,
            "ranking": ORDER_CRITERION, "baseline": ctx.baseline,
            "identical": [list(g) for g in ctx.identical],
            "headline": {ds: h["text"] for ds, h in ctx.headlines.items()},
            "design": {ds: {k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                            for k, v in h.items() if k not in ("text",)} for ds, h in ctx.headlines.items()}}
    ctx.write_text("report_meta.json", json.dumps(meta, indent=2, default=str, sort_keys=True) + "\n")
    ctx.paths["meta"] = ctx.paths.pop("report_meta_json")
    hw = meta["hardware"]
    vers = ", ".join(f"{k} {'/'.join(v)}" for k, v in meta["versions"].items())
    repro = (f"- Command: `{ctx.command}`\n- Source: `{ctx.store_path}` ({len(ctx.raw)} tasks; statuses "
             f"{meta['status_counts']}); every task is in `tasks.csv`\n- Results as of: {ctx.stamp}\n"
             "- Hardware of the machine that wrote this report (the run's platform is in the versions): "
             f"{hw['cpu_model']}, {hw['cpu_count']} "
             f"cores ({hw['cpus_available']} available), GPU: {hw['gpu']}, {hw['platform']}, Python {hw['python']}\n"
             f"- Versions (from the store): {vers}\n- Seeds: {meta['config']['seeds']}\n\n"
             "Effective configuration (from the store rows; full JSON in `report_meta.json`):\n\n"
             + _md_table(["dataset", "params", "split", "replications"],
                         [[d, "; ".join(c["params"]), ", ".join(c["split"]), c["replications"]]
                          for d, c in meta["config"]["datasets"].items()])
             + "\n\n"
             + _md_table(["estimator", "target", "params"],
                         [[e, f"`{c['target']}`", "; ".join(json.dumps(x, sort_keys=True) for x in c["params"])]
                          for e, c in meta["config"]["estimators"].items()]) + "\n")
    rel = lambda figs: [(Path(p).relative_to(ctx.out).as_posix(), c) for p, c in figs]  # noqa: E731
    sections = [
        html.Section("", ctx.md["headline"], rel(ctx.figs.get("top", [])), lead=True),
        html.Section("Ranking", COMPACT_LEGEND + "\n\n" + ctx.md["compact"],
                     rel(ctx.figs.get("winrates", []) + ctx.figs.get("time", []))),
        html.Section("All metrics, published rows", ctx.md["leaderboard"], [], collapsed=True, fold=False),
    ]
    if ctx.md.get("distributional"):
        sections.append(html.Section("Distributional metrics (generative estimators)", ctx.md["distributional"],
                                     [], collapsed=True))
    sections += [
        html.Section("Win rates (% best; pairwise matrices in winrates.md)", ctx.md["winrates_best"], [],
                     collapsed=True),
        html.Section("Statistics", ctx.md["statistics"], rel(ctx.figs.get("more", [])), collapsed=True),
        html.Section("Provenance", repro, [], collapsed=True),
    ]
    ctx.write_text("report.html", html.render_page("catebench report", sections))
    ctx.paths["html"] = ctx.paths.pop("report_html")


#: The artefacts of the full report, in the order they are built (later ones read what earlier ones left in ctx).
ARTEFACTS = [report_tasks, report_ranking, report_leaderboard, report_distributional, report_coverage,
             report_winrates, report_statistics, report_figures, report_page]


def _stamp(results: pd.DataFrame) -> str:
    """When the last task finished, as ``YYYY-MM-DD HH:MM UTC`` (not the time of writing: a rewrite from the same
    results changes no byte)."""
    if "finished_at" not in results or not results["finished_at"].astype(str).str.len().gt(0).any():
        return "unknown"
    t = pd.to_datetime(results["finished_at"], utc=True, errors="coerce").max()
    return t.strftime("%Y-%m-%d %H:%M UTC") if pd.notna(t) else "unknown"


def write_report(
    results: pd.DataFrame,
    out_dir: str | Path,
    command: str = "",
    store_path: str = "",
    reference: str | Path | None = "default",
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
    baseline: str | None = None,
) -> dict[str, Path]:
    """Write the whole report into ``out_dir``: every function of :data:`ARTEFACTS` in turn.

    Files: ``tasks.csv`` and ``tasks_params.json`` (every task; see :mod:`catebench.benchmark.taskfile`),
    ``leaderboard.md/.csv`` (headline, figures, compact ranking, then every metric with the published IHDP rows
    and, when present, distributional metrics), ``distributional.csv`` (generative estimators only, when present),
    ``coverage.csv`` (ok / failed / absent tasks), ``winrates.md``, ``winrates.csv`` (long: scope, weighting,
    metric, a, b, winrate, CI, counts), ``best.csv`` ("% best"), ``stats.md``, ``ci.csv``, ``wilcoxon.csv``
    (every estimator against the baseline), ``ranks.csv``, ``nemenyi.csv``, ``report_meta.json`` (command,
    config, versions, hardware, headline), ``figures/*.png|svg`` and ``report.html`` (figures by relative path).

    Parameters
    ----------
    results : DataFrame
        ``Store.results()`` or :func:`catebench.benchmark.taskfile.read_tasks`; a ``predictions_sha`` column is
        added from the store at ``store_path`` when it is missing and the store exists.
    out_dir : path
    command : str, default ""
        The command line that produced the report (recorded).
    store_path : str, default ""
        The store (or tasks.csv) the results came from (recorded).
    reference : path, "default" or None, default "default"
        Published IHDP rows; "default" = the table shipped with the package (:func:`default_reference_path`);
        None or a missing file = omitted, noted.
    n_boot : int, default 2000
        Bootstrap resamples.
    seed : int, default 0
        Seed of the bootstrap and permutation generators.
    alpha : float, default 0.05
        Level of the tests and the CD diagram.
    baseline : str, optional
        The estimator every other is tested against; default :func:`choose_baseline`.

    Returns
    -------
    dict name -> path of every file written (``leaderboard_md``, ``html``, ``meta``, ``tasks_csv``, ...).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    from .taskfile import canonical, with_digests

    results = with_digests(results, store_path)  # rows imported from a tasks.csv carry theirs
    results = canonical(results)
    merged, groups = merge_identical(results)
    ref_path = default_reference_path() if reference == "default" else reference
    ref_rows, ref_note = published_rows(ref_path)
    ctx = ReportContext(results=merged, out=out, command=command, store_path=store_path, stamp=_stamp(results),
                        n_boot=n_boot, seed=seed, alpha=alpha, ref_path=Path(ref_path) if ref_path else None,
                        ref_rows=ref_rows, ref_note=ref_note, raw=results, identical=groups)
    ctx.baseline = choose_baseline(ctx.estimators, baseline) if len(merged) else None
    for artefact in ARTEFACTS:
        artefact(ctx)
    return ctx.paths
