"""The paper run's budget: measured seconds per task by family and estimator, the projected time of the full run
and of what remains, and the record of the runs that filled the store (``runs.jsonl``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..registry import ESTIMATORS
from ..store import task_seconds
from .protocol import ACIC2018_PAPER_MAX, FAMILIES, IHDP_FULL_REPLICATIONS, N_ACIC2016

__all__ = ["budget", "hms"]


def budget(results: pd.DataFrame, out: Path, n_jobs: int, n18: int | None) -> tuple[pd.DataFrame, str]:
    """Measured per-task times and the projected time of the full run (77 settings, every estimator, IHDP 1-100,
    ACIC 2018 as found, else the paper's 24) and of what remains.

    Projection: per family and estimator, the median task seconds (fit + predict + the draws for the
    distributional metrics, ``sample_seconds``, where the estimator samples) of its finished tasks times the
    number of datasets of the full run, summed, divided by the workers (assumes perfect parallel efficiency on
    an otherwise idle machine; the measured times come from a shared machine, see the load in ``runs.jsonl``).
    """
    units = {"acic2016": N_ACIC2016, "acic2018": n18 or ACIC2018_PAPER_MAX, "ihdp": IHDP_FULL_REPLICATIONS}
    ok = results[results["status"] == "ok"]
    ok = ok.assign(task_s=task_seconds(ok))
    rows = []
    ests = sorted(set(results["estimator"].unique()) | set(ESTIMATORS.names()))  # never-run ones: "no timing"
    for fam, n_full in units.items():
        for e in ests:
            g = ok[(ok["dataset"] == fam) & (ok["estimator"] == e)]
            done = results[(results["dataset"] == fam) & (results["estimator"] == e)]["replication"].nunique()
            med = float(g["task_s"].median()) if len(g) else np.nan
            rows.append({"family": fam, "estimator": e, "tasks_done": int(done), "tasks_full": n_full,
                         "median_task_s": med, "full_cpu_s": med * n_full,
                         "remaining_cpu_s": med * max(n_full - done, 0)})
    df = pd.DataFrame(rows)
    runs = read_runs(out)
    fin = [r for r in runs if r.get("event") in ENDED]
    lines = ["Median seconds per task (fit + predict + distributional draws on one dataset) as measured in this "
             "store, by family; `-` = not measured yet (no finished task). Projection = median x datasets of the "
             f"full run, summed over estimators, divided by {n_jobs} workers, assuming perfect parallel efficiency.",
             "",
             "| estimator | " + " | ".join(f"{FAMILIES[f]} s/task" for f in units) + " |",
             "|---|" + "---|" * len(units)]
    for e in ests:
        cells = []
        for f in units:
            v = df[(df["family"] == f) & (df["estimator"] == e)]["median_task_s"].iloc[0]
            cells.append("-" if not np.isfinite(v) else f"{v:.1f}")
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    lines.append("")
    # Estimators not timed on a family: their IHDP median x the ratio (sum over estimators timed on both) of that
    # family's medians to their IHDP medians; flagged as extrapolated.
    ihdp = df[df["family"] == "ihdp"].set_index("estimator")["median_task_s"]
    df["extrapolated"] = False
    for f, n_full in units.items():
        if f == "ihdp":
            continue
        fam = df["family"] == f
        own = df[fam].set_index("estimator")["median_task_s"]
        both = own.notna() & ihdp.reindex(own.index).notna()
        if both.sum() >= 2 and ihdp.reindex(own.index)[both].sum() > 0:
            scale = own[both].sum() / ihdp.reindex(own.index)[both].sum()
            fill = fam & df["median_task_s"].isna() & df["estimator"].map(ihdp).notna()
            est_s = df.loc[fill, "estimator"].map(ihdp) * scale
            df.loc[fill, "full_cpu_s"] = est_s * n_full
            df.loc[fill, "remaining_cpu_s"] = est_s * (n_full - df.loc[fill, "tasks_done"]).clip(lower=0)
            df.loc[fill, "extrapolated"] = True
            df.loc[fam, "scale_from_ihdp"] = scale
    for f, n_full in units.items():
        sub = df[df["family"] == f]
        known = sub["full_cpu_s"].notna()
        if not known.any():
            lines.append(f"- {FAMILIES[f]}: no timing measured yet ({n_full} datasets in the full run).")
            continue
        full = sub.loc[known, "full_cpu_s"].sum() / n_jobs
        rem = sub.loc[known, "remaining_cpu_s"].sum() / n_jobs
        miss = ", ".join(sub.loc[~known, "estimator"]) or "none"
        ext = sub.loc[sub["extrapolated"], "estimator"].tolist()
        ext_txt = (f" Extrapolated (not timed on {FAMILIES[f]}: IHDP median x {sub['scale_from_ihdp'].iloc[0]:.1f}, the "
                   f"{FAMILIES[f]}/IHDP ratio of the estimators timed on both): {', '.join(ext)}." if ext else "")
        lines.append(f"- {FAMILIES[f]} ({n_full} datasets): full run ≈ {hms(full)} with {n_jobs} workers; still to "
                     f"run ≈ {hms(rem)}.{ext_txt} Without any timing (not included): {miss}.")
    tot_full = df["full_cpu_s"].sum(skipna=True) / n_jobs
    tot_rem = df["remaining_cpu_s"].sum(skipna=True) / n_jobs
    lines.append(f"- All families: full run ≈ **{hms(tot_full)}**, still to run ≈ **{hms(tot_rem)}** with {n_jobs} "
                 "workers, assuming the load these times were measured under: the run's own workers on the machine's "
                 "cores (see the load in the runs below).")
    if fin:
        lines += ["", "Runs recorded in `runs.jsonl` (wall time as measured; load = 1-minute load average of the 2-core "
                      "machine before / after; code = the commit whose code ran):", "", "| finished | wall | tasks ok / "
                      "failed / skipped | workers | load | code | command |", "|---|---|---|---|---|---|---|"]
        for r in fin:
            done_txt = (f"{r['ok']} / {r['failed']} / {r['skipped']}" if r["event"] == "finished"
                        else "interrupted (its tasks are in the store)")
            lines.append(f"| {r['finished']} | {hms(r['wall_s'])} | {done_txt} | "
                         f"{r['n_jobs']} | {r['load_before'][0]:.1f} / {r['load_after'][0]:.1f} | "
                         f"{r.get('code', '?')} | `{r['command']}` |")
    unended = open_runs(runs)
    if unended:
        lines += ["", f"{len(unended)} recorded run(s) started without a finished record (stopped, killed or still "
                      "running); the tasks they finished are in the store and the same command resumes:", "",
                  "| started | workers | load | code | command |", "|---|---|---|---|---|"]
        for r in unended:
            lines.append(f"| {r['started']} | {r['n_jobs']} | {r['load_before'][0]:.1f} | {r.get('code', '?')} | "
                         f"`{r['command']}` |")
    return df, "\n".join(lines) + "\n"


#: The events of ``runs.jsonl`` that close a part (its wall time is recorded).
ENDED = ("finished", "interrupted")


def open_runs(runs: list[dict]) -> list[dict]:
    """The ``started`` records of ``runs`` (:func:`read_runs`) without a closing record (stopped, killed or still
    running), oldest first."""
    ended = {r["started"] for r in runs if r.get("event") in ENDED}
    return [r for r in runs if r.get("event") == "started" and r["started"] not in ended]


def read_runs(out: Path) -> list[dict]:
    """The records of ``out/runs.jsonl`` (:func:`catebench.benchmark.paper.plan.run_plan`), oldest first; [] without
    the file."""
    log = Path(out) / "runs.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def hms(s: float) -> str:
    if not np.isfinite(s):
        return "-"
    s = int(round(s))
    return f"{s // 3600} h {s % 3600 // 60:02d} min" if s >= 3600 else f"{s // 60} min {s % 60:02d} s"
