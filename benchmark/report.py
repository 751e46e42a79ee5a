"""Leaderboard tables from the store: mean +- standard error (and median) per metric, estimator and dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import metric_columns

__all__ = ["leaderboard", "write_leaderboard", "format_markdown", "write_report", "published_rows", "coverage"]

HEADLINE = ["pehe_out", "pehe_in", "ate_out", "ate_in", "rmse_mu0_out", "rmse_mu1_out"]


def leaderboard(results: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """One row per (dataset, estimator): counts of ok / failed tasks and mean, SE, median of each metric.

    SE is the standard error of the mean over tasks (replications x seeds): std (ddof = 1) / sqrt(n).
    Failed tasks are counted, never silently dropped.
    """
    metrics = metrics or [m for m in metric_columns() if m in results.columns]
    rows = []
    for (dataset, estimator), g in results.groupby(["dataset", "estimator"], sort=True):
        ok = g[g["status"] == "ok"]
        row = {"dataset": dataset, "estimator": estimator, "n_ok": len(ok), "n_failed": int((g["status"] != "ok").sum())}
        for m in metrics:
            v = ok[m].to_numpy(dtype=float) if m in ok else np.array([])
            row[f"{m}_mean"] = v.mean() if len(v) else np.nan
            row[f"{m}_se"] = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
            row[f"{m}_median"] = np.median(v) if len(v) else np.nan
        row["fit_seconds_median"] = ok["fit_seconds"].median() if len(ok) else np.nan
        rows.append(row)
    board = pd.DataFrame(rows)
    if len(board) and "pehe_out_mean" in board:
        board = board.sort_values(["dataset", "pehe_out_mean"], na_position="last").reset_index(drop=True)
    return board


def plus_minus(mean: float, se: float) -> str:
    """``mean ± se`` with 3 decimals; ``-`` for a missing mean; the mean alone for a missing SE."""
    if not np.isfinite(mean):
        return "-"
    return f"{mean:.3f} ± {se:.3f}" if np.isfinite(se) else f"{mean:.3f}"


LEGEND = (
    "Cells: mean ± standard error over replications (x seeds); lower is better. "
    "`pehe` = sqrt-PEHE, `ate` = absolute ATE error, `rmse_mu0/1` = RMSE of each potential-outcome surface; "
    "`_in` = fit rows (train + validation), `_out` = held-out test rows."
)


def format_markdown(board: pd.DataFrame, metrics: list[str] | None = None, ref_rows: list[dict] = ()) -> str:
    """Markdown tables, one per dataset, in the board's order (by out-of-sample sqrt-PEHE).

    ``ref_rows`` (from :func:`published_rows`) are appended in italics under every dataset named ``ihdp*``.
    """
    metrics = [m for m in (metrics or HEADLINE) if f"{m}_mean" in board]
    parts = []
    for dataset, g in board.groupby("dataset", sort=True):
        header = ["estimator", "ok", "failed", *metrics, "fit s (median)"]
        lines = [f"### {dataset}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        extra = pd.DataFrame(list(ref_rows)) if (str(dataset).startswith("ihdp") and ref_rows) else pd.DataFrame()
        for _, r in pd.concat([g, extra], ignore_index=True).iterrows():
            pub = PUBLISHED_TAG in str(r["estimator"])
            cells = [f"*{r['estimator']}*" if pub else str(r["estimator"])]
            cells += ["-", "-"] if pub else [str(int(r["n_ok"])), str(int(r["n_failed"]))]
            cells += [plus_minus(r.get(f"{m}_mean", np.nan), r.get(f"{m}_se", np.nan)) for m in metrics]
            fs = r.get("fit_seconds_median", np.nan)
            cells.append(f"{fs:.3g}" if np.isfinite(fs) else "-")
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def leaderboard_intro(preamble: str = "", notes: str = "") -> str:
    """The text above the leaderboard tables: ``preamble``, the legend, then ``notes``."""
    return (preamble + "\n\n" if preamble else "") + LEGEND + "\n\n" + notes


def write_leaderboard(results: pd.DataFrame, out_dir: str | Path, preamble: str = "") -> tuple[Path, Path]:
    """Write ``leaderboard.csv`` and ``leaderboard.md`` into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    board = leaderboard(results)
    csv_path, md_path = out / "leaderboard.csv", out / "leaderboard.md"
    board.to_csv(csv_path, index=False, float_format="%.6g")
    md_path.write_text("# catebench leaderboard\n\n" + leaderboard_intro(preamble) + format_markdown(board))
    return csv_path, md_path


# ---------------------------------------------------------------------------------------------------------------
# Full report: leaderboard + published reference rows + win rates + statistics + figures + one HTML page.
# ---------------------------------------------------------------------------------------------------------------

#: Metrics for which win-rate tables and statistics are written (in- and out-of-sample).
REPORT_METRICS = ["pehe_out", "pehe_in", "ate_out", "ate_in"]

#: Reference metric name in ihdp_published.csv -> (our in-sample column, our out-of-sample column).
_REFERENCE_METRICS = {"sqrt_pehe": ("pehe_in", "pehe_out"), "ate_error": ("ate_in", "ate_out")}

PUBLISHED_TAG = "published, orientation only"


def default_reference_path() -> Path:
    """``$CATEBENCH_SHARED/reference/ihdp_published.csv``, else ``<repo>/../shared/reference/ihdp_published.csv``."""
    import os

    root = os.environ.get("CATEBENCH_SHARED")
    base = Path(root) if root else Path(__file__).resolve().parents[2] / "shared"
    return base / "reference" / "ihdp_published.csv"


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
        only)" and ``{metric}_mean`` / ``{metric}_se`` for pehe/ate in/out (only ``sqrt_pehe`` and ``ate_error``
        rows are used; other metrics, e.g. trimmed ATE error, are not comparable and are skipped). ``note``: why
        rows are absent, or their provenance.
    """
    if path is None or not Path(path).exists():
        return [], f"Published reference rows omitted: no file at `{path}`."
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
        row[f"{col_in}_mean"], row[f"{col_in}_se"] = float(r.within_sample), float(r.within_se)
        row[f"{col_out}_mean"], row[f"{col_out}_se"] = float(r.out_of_sample), float(r.out_se)
        protocols.add(str(getattr(r, "protocol", "")))
    note = (f"Rows marked *{PUBLISHED_TAG}* are copied from `{Path(path).name}` (protocols: "
            f"{'; '.join(sorted(protocols))}); they use other replications, splits and often 1000 draws, "
            "so they orient, they do not rank. Only sqrt-PEHE and absolute ATE error rows are shown.")
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
    import json

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
    import json

    seen: dict[str, set] = {}
    for v in results["versions"].dropna().unique():
        for k, x in json.loads(v).items():
            seen.setdefault(k, set()).add(str(x))
    return {k: sorted(v) for k, v in sorted(seen.items())}


def _html_winrates(md: str) -> str:
    """The win-rate Markdown for the HTML page: matrices for sqrt-PEHE only (the rest stay in winrates.md)."""
    body = md.split("\n", 2)[2]
    pairwise, best = body.split("\n## % best", 1)
    blocks = pairwise.split("#### ")
    kept = [blocks[0]] + ["#### " + b for b in blocks[1:] if ": pehe_" in b.split("\n", 1)[0]]
    return ("".join(kept) + "\nMatrices for the ATE error are in `winrates.md` and `winrates.csv`.\n\n## % best"
            + best)


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


def write_report(
    results: pd.DataFrame,
    out_dir: str | Path,
    command: str = "",
    store_path: str = "",
    reference: str | Path | None = "default",
    n_boot: int = 2000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, Path]:
    """Write the whole report into ``out_dir``.

    Files: ``leaderboard.md/.csv`` (with published IHDP rows in the Markdown), ``coverage.csv`` (ok / failed /
    absent tasks), ``winrates.md``, ``winrates.csv`` (long: scope, metric, a, b, winrate, CI, counts),
    ``best.csv`` ("% best"), ``stats.md``, ``ci.csv``, ``wilcoxon.csv``, ``ranks.csv``, ``nemenyi.csv``,
    ``report_meta.json`` (command, config, versions, hardware), ``figures/*.png|svg``
    and ``report.html`` (self-contained).

    Parameters
    ----------
    results : DataFrame
        ``Store.results()``.
    out_dir : path
    command : str, default ""
        The command line that produced the report (recorded).
    store_path : str, default ""
    reference : path, "default" or None, default "default"
        Published IHDP rows; "default" = :func:`default_reference_path`; None or a missing file = omitted, noted.
    n_boot : int, default 2000
        Bootstrap resamples.
    seed : int, default 0
        Seed of the bootstrap generator.
    alpha : float, default 0.05
        Level of the tests and the CD diagram.

    Returns
    -------
    dict name -> path of the main outputs.
    """
    import json
    from datetime import datetime, timezone

    from . import html, plots
    from .stats import bootstrap_mean_ci, friedman_nemenyi, unit_table, wilcoxon_holm, winrate_ci_from_table
    from .winrates import best_shares, format_winrate_markdown, paired_table, pairwise_winrates

    out = Path(out_dir)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    datasets = sorted(results["dataset"].unique())
    estimators = sorted(results["estimator"].unique())
    metrics = [m for m in REPORT_METRICS if m in results.columns]
    ref_path = default_reference_path() if reference == "default" else reference
    ref_rows, ref_note = published_rows(ref_path)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    meta = {"command": command, "store": str(store_path), "generated": stamp, "hardware": hardware(),
            "versions": versions_summary(results), "config": effective_config(results),
            "n_tasks": int(len(results)), "status_counts": results["status"].value_counts().to_dict(),
            "reference": str(ref_path) if ref_rows else None, "bootstrap": {"n_boot": n_boot, "seed": seed},
            "alpha": alpha}
    paths: dict[str, Path] = {}

    # leaderboard ---------------------------------------------------------------------------------------------
    board = leaderboard(results)
    paths["leaderboard_csv"] = out / "leaderboard.csv"
    board.to_csv(paths["leaderboard_csv"], index=False, float_format="%.6g")
    board_md = format_markdown(board, ref_rows=ref_rows)
    cov = coverage(results)
    n_absent, n_not_ok = int(cov["absent"].sum()), int((results["status"] != "ok").sum())
    warn = ""
    if n_absent or n_not_ok:
        warn = (f"**Incomplete store:** {n_not_ok} task(s) stored as failed/timeout/crashed and {n_absent} task(s) "
                "absent (not run) out of the dataset x replication x seed x estimator grid seen in the store; "
                "see the Coverage table in `winrates.md`. Means below use each estimator's `ok` tasks only, so "
                "rows with fewer tasks are not directly comparable.\n\n")
    intro = leaderboard_intro(f"Generated by `{command}` from the store `{store_path}` on {stamp}.",
                              warn + ref_note + "\n\n")
    paths["leaderboard_md"] = out / "leaderboard.md"
    paths["leaderboard_md"].write_text("# catebench leaderboard\n\n" + intro + board_md)

    # win rates -----------------------------------------------------------------------------------------------
    scopes = [*datasets, None] if len(datasets) > 1 else datasets
    wr_rows, wr_md, best_rows = [], [], []
    for metric in metrics:
        for ds in scopes:
            label = ds or "pooled over datasets"
            wr = pairwise_winrates(results, metric, dataset=ds, estimators=estimators)
            wide = paired_table(results if ds is None else results[results["dataset"] == ds], metric, estimators)
            wr_md.append(format_winrate_markdown(wr, f"{label}: {metric}"))
            for a in estimators:
                for b in estimators:
                    if a == b:
                        continue
                    lo = hi = np.nan
                    if wr["n_pairs"].loc[a, b] > 0:
                        _, lo, hi, _ = winrate_ci_from_table(wide, a, b, n_boot=n_boot, seed=seed)
                    wr_rows.append({"scope": label, "metric": metric, "a": a, "b": b,
                                    "winrate": wr["winrate"].loc[a, b], "ci_low": lo, "ci_high": hi,
                                    "n_pairs": int(wr["n_pairs"].loc[a, b]), "wins": int(wr["wins"].loc[a, b]),
                                    "ties": int(wr["ties"].loc[a, b]), "n_missing": int(wr["n_missing"].loc[a, b])})
            sub = results if ds is None else results[results["dataset"] == ds]
            unit = "dataset" if ds is None else "replication"
            bs = best_shares(sub, metric, unit=unit, estimators=estimators)
            bs.insert(0, "unit", unit)
            bs.insert(0, "metric", metric)
            bs.insert(0, "scope", label)
            best_rows.append(bs)
    paths["winrates_csv"] = out / "winrates.csv"
    pd.DataFrame(wr_rows).to_csv(paths["winrates_csv"], index=False, float_format="%.6g")
    best = pd.concat(best_rows, ignore_index=True)
    paths["best_csv"] = out / "best.csv"
    best.to_csv(paths["best_csv"], index=False, float_format="%.6g")
    best_md = ["| scope | metric | unit | estimator | % best | mean | units | incomplete |", "|" + "---|" * 8]
    for r in best.itertuples():
        best_md.append(f"| {r.scope} | {r.metric} | {r.unit} | {r.estimator} | {r.best_pct:.1f} | {r.mean:.3f} | "
                       f"{r.n_units} | {r.n_incomplete} |")
    paths["coverage_csv"] = out / "coverage.csv"
    cov.to_csv(paths["coverage_csv"], index=False)
    cov_md = ["| dataset | estimator | tasks | ok | failed | timeout | crashed | absent |", "|" + "---|" * 8]
    for r in cov.itertuples():
        cov_md.append(f"| {r.dataset} | {r.estimator} | {r.tasks} | {r.ok} | {r.failed} | {r.timeout} | {r.crashed} "
                      f"| {r.absent} |")
    winrates_md = ("# Win rates\n\n## Coverage\n\nTasks per dataset = distinct (replication, seed, split) seen "
                   "for any estimator; `absent` = no row in the store (not run yet or not run at all). Win rates use "
                   "only tasks on which both estimators are `ok`; the others are counted per pair in "
                   "`winrates.csv` (`n_missing`).\n\n" + "\n".join(cov_md)
                   + "\n\n## Pairwise\n\nPaired tasks share dataset, replication, seed and split; both "
                   "estimators must have finished `ok`. 95 % bootstrap CIs (replications resampled) are in "
                   "`winrates.csv`.\n\n" + "\n".join(wr_md) + "\n## % best (IWDD / DiffPO sense)\n\nShare of units "
                   "(replications within a dataset; datasets when pooled) on which the estimator is best of all "
                   "compared, ties split; `mean` = average metric over the same units.\n\n" + "\n".join(best_md) + "\n")
    paths["winrates_md"] = out / "winrates.md"
    paths["winrates_md"].write_text(winrates_md)

    # statistics ----------------------------------------------------------------------------------------------
    ci_rows, wil_rows, rank_rows, nemenyi_rows, stats_md, friedman = [], [], [], [], [], {}
    for metric in metrics:
        for ds in datasets:
            tab = unit_table(results, metric, "replication", dataset=ds, estimators=estimators, complete=False)
            for e in estimators:
                v = tab[e].dropna().to_numpy()
                m, lo, hi = bootstrap_mean_ci(v, n_boot=n_boot, seed=seed) if len(v) else (np.nan,) * 3
                ci_rows.append({"dataset": ds, "metric": metric, "estimator": e, "mean": m, "ci_low": lo,
                                "ci_high": hi, "n_units": len(v)})
        for ds in scopes:
            label = ds or "pooled over datasets"
            unit = "dataset" if ds is None else "replication"
            tab = unit_table(results, metric, unit, dataset=ds, estimators=estimators, complete=True)
            head = f"### {label}: {metric} ({len(tab)} complete {unit}(s) as blocks)"
            sub_res = results if ds is None else results[results["dataset"] == ds]
            cov_s = coverage(sub_res)
            short = cov_s.loc[cov_s["ok"] < cov_s["tasks"], "estimator"].unique()
            if len(short):
                head += (f"\n\nReplications where any estimator lacks an `ok` result are left out of the rank tests; "
                         f"estimators short of results here: {', '.join(sorted(short))} (see Coverage).")
            if len(tab) >= 2 and len(estimators) >= 2:
                w = wilcoxon_holm(tab, alpha)
                w.insert(0, "metric", metric)
                w.insert(0, "scope", label)
                wil_rows.append(w)
            if len(tab) >= 2 and len(estimators) >= 3:
                fr = friedman_nemenyi(tab, alpha)
                friedman[(label, metric)] = fr
                pw = fr["pairwise"].rename_axis(index="a", columns="b").stack().rename("nemenyi_p").reset_index()
                nemenyi_rows.append(pw[pw["a"] < pw["b"]].assign(scope=label, metric=metric))
                for e, r in fr["avg_ranks"].items():
                    rank_rows.append({"scope": label, "metric": metric, "estimator": e, "avg_rank": r,
                                      "friedman_stat": fr["statistic"], "friedman_p": fr["p"], "cd": fr["cd"],
                                      "n_blocks": fr["n"]})
                ranks_txt = ", ".join(f"{e} {r:.2f}" for e, r in fr["avg_ranks"].items())
                stats_md.append(f"{head}\n\nFriedman χ² = {fr['statistic']:.2f}, p = {fr['p']:.3g}; Nemenyi CD "
                                f"(α = {alpha}) = {fr['cd']:.2f}. Average ranks: {ranks_txt}.\n")
            else:
                stats_md.append(f"{head}\n\nToo few complete blocks or estimators for the Friedman test.\n")
            if wil_rows and wil_rows[-1]["scope"].iloc[0] == label and wil_rows[-1]["metric"].iloc[0] == metric:
                w = wil_rows[-1]
                lines = ["| a | b | n | median diff (a − b) | p | p (Holm) | better |", "|" + "---|" * 7]
                for r in w.itertuples():
                    lines.append(f"| {r.a} | {r.b} | {r.n} | {r.median_diff:.3f} | {r.p:.3g} | {r.p_holm:.3g} | "
                                 f"{r.better or 'n.s.'} |")
                n_u, m_pairs = int(w["n"].max()), len(w)
                floor = 2.0 / 2**n_u  # smallest two-sided exact Wilcoxon p-value with n_u pairs
                power_note = (f" With {n_u} paired units the smallest attainable p-value is {floor:.2g}, so no pair "
                              f"can pass Holm over {m_pairs} pairs at α = {alpha}; more replications are needed."
                              if floor * m_pairs > alpha and not w["significant"].any() else "")
                stats_md.append(f"Paired Wilcoxon signed-rank tests, Holm-corrected over {m_pairs} pairs "
                                f"({int(w['significant'].sum())} significant).{power_note}\n\n"
                                + "\n".join(lines) + "\n")
    ci = pd.DataFrame(ci_rows)
    paths["ci_csv"] = out / "ci.csv"
    ci.to_csv(paths["ci_csv"], index=False, float_format="%.6g")
    paths["wilcoxon_csv"] = out / "wilcoxon.csv"
    (pd.concat(wil_rows, ignore_index=True) if wil_rows else pd.DataFrame()).to_csv(
        paths["wilcoxon_csv"], index=False, float_format="%.6g")
    paths["ranks_csv"] = out / "ranks.csv"
    pd.DataFrame(rank_rows).to_csv(paths["ranks_csv"], index=False, float_format="%.6g")
    paths["nemenyi_csv"] = out / "nemenyi.csv"
    (pd.concat(nemenyi_rows, ignore_index=True) if nemenyi_rows else pd.DataFrame()).to_csv(
        paths["nemenyi_csv"], index=False, float_format="%.6g")
    ci_md = ["| dataset | metric | estimator | mean | 95 % CI | units |", "|" + "---|" * 6]
    for r in ci.itertuples():
        ci_md.append(f"| {r.dataset} | {r.metric} | {r.estimator} | {r.mean:.3f} | [{r.ci_low:.3f}, {r.ci_high:.3f}] "
                     f"| {r.n_units} |")
    from . import stats as _stats_mod

    doc = (_stats_mod.__doc__ or "").split("How replications and datasets are treated", 1)[-1]
    doc = "\n".join(line for line in doc.splitlines() if not set(line.strip()) <= {"-"} or not line.strip())
    doc = doc.replace("``", "`")
    stats_text = ("# Statistics\n\n## How replications and datasets are treated\n" + doc.split("All random")[0]
                  + f"\n## Bootstrap 95 % CIs of the mean (replications resampled, {n_boot} draws, seed {seed})\n\n"
                  + "\n".join(ci_md) + "\n\n## Rank tests\n\n" + "\n".join(stats_md))
    paths["stats_md"] = out / "stats.md"
    paths["stats_md"].write_text(stats_text)

    # figures -------------------------------------------------------------------------------------------------
    figs: dict[str, list[tuple[Path, str]]] = {"winrates": [], "distributions": [], "cd": [], "time": []}
    for ds in scopes:
        label = ds or "pooled"
        for metric in ("pehe_out", "pehe_in"):
            if metric not in metrics:
                continue
            wr = pairwise_winrates(results, metric, dataset=ds, estimators=estimators)
            p = plots.save(plots.winrate_heatmap(wr["winrate"], f"{label}: win rate on {metric}", wr["n_pairs"]),
                           fig_dir, f"winrate_{label}_{metric}")
            wide_fig = "wide: " if len(estimators) > 8 else ""
            figs["winrates"].append((p[0], f"{wide_fig}Pairwise win rates on `{metric}` ({label}); row beats column."))
        fr = friedman.get((ds or "pooled over datasets", "pehe_out"))
        if fr is not None:
            p = plots.save(plots.cd_diagram(fr["avg_ranks"], fr["cd"],
                                            f"{label}: average rank on pehe_out (1 = best) over {fr['n']} blocks, "
                                            f"Friedman p = {fr['p']:.2g}\nthick bars join estimators with no "
                                            f"Nemenyi difference at α = {alpha}"), fig_dir, f"cd_{label}_pehe_out")
            figs["cd"].append((p[0], f"Critical-difference diagram ({label}, `pehe_out`)."))
    for metric in ("pehe_out", "ate_out"):
        if metric in metrics:
            p = plots.save(plots.metric_distributions(results, metric), fig_dir, f"dist_{metric}")
            figs["distributions"].append((p[0], f"{'wide: ' if len(datasets) > 1 or len(estimators) > 8 else ''}"
                                                f"Per-task `{metric}` per "
                                                f"estimator and dataset (boxes: quartiles; whiskers 1.5 IQR)."))
    for ds in datasets:
        if "pehe_out" in metrics:
            p = plots.save(plots.error_vs_time(results, "pehe_out", ds), fig_dir, f"time_{ds}_pehe_out")
            figs["time"].append((p[0], f"Error vs fit time on {ds} (machine shared; timings are noisy)."))

    # meta + html ---------------------------------------------------------------------------------------------
    paths["meta"] = out / "report_meta.json"
    paths["meta"].write_text(json.dumps(meta, indent=2, default=str) + "\n")
    hw = meta["hardware"]
    vers = ", ".join(f"{k} {'/'.join(v)}" for k, v in meta["versions"].items())
    repro = (f"- Command: `{command}`\n- Store: `{store_path}` ({len(results)} tasks; statuses "
             f"{meta['status_counts']})\n- Generated: {stamp}\n"
             "- Hardware of the machine that wrote this report (the run's platform is in the versions): "
             f"{hw['cpu_model']}, {hw['cpu_count']} "
             f"cores ({hw['cpus_available']} available), GPU: {hw['gpu']}, {hw['platform']}, Python {hw['python']}\n"
             f"- Versions (from the store): {vers}\n- Seeds: {meta['config']['seeds']}\n\n"
             "Effective configuration (from the store rows; full JSON in `report_meta.json`):\n\n"
             "| dataset | params | split | replications |\n|---|---|---|---|\n"
             + "".join(f"| {d} | {'; '.join(c['params'])} | {', '.join(c['split'])} | {c['replications']} |\n"
                       for d, c in meta["config"]["datasets"].items())
             + "\n| estimator | target | params |\n|---|---|---|\n"
             + "".join(f"| {e} | `{c['target']}` | {'; '.join(json.dumps(x, sort_keys=True) for x in c['params'])} |\n"
                       for e, c in meta["config"]["estimators"].items()))
    sections = [
        ("Leaderboard", intro + board_md, [], False),
        ("Win rates", _html_winrates(winrates_md), figs["winrates"]),
        ("Distributions", "", figs["distributions"]),
        ("Statistics", stats_text.split("\n", 2)[2], figs["cd"]),
        ("Error vs fit time", "", figs["time"]),
        ("Provenance", repro, []),
    ]
    paths["html"] = out / "report.html"
    paths["html"].write_text(html.render_page("catebench report", sections))
    return paths
