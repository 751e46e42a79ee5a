"""Leaderboard tables and the full report from the store.

The leaderboard gives, per metric, estimator and dataset, the mean ± standard error and the median over
replications; several seeds (and splits) of one replication are averaged first, so they never count as extra
replications. :func:`write_report` builds every artefact of the full report, one function each
(:func:`report_leaderboard`, :func:`report_distributional`, :func:`report_coverage`, :func:`report_winrates`,
:func:`report_statistics`, :func:`report_figures`, :func:`report_page`), all sharing one :class:`ReportContext`;
a new artefact is one more such function.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import metric_columns

__all__ = [
    "leaderboard",
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
#: The metric that orders the leaderboard (and whose rank by mean and by median is shown).
ORDER_METRIC = "pehe_out"

#: Distributional metrics of generative estimators (issue 10), stored with suffix _in / _out. Other estimators
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


def leaderboard(results: pd.DataFrame, metrics: list[str] | None = None) -> pd.DataFrame:
    """One row per (dataset, estimator): counts of tasks and mean, SE and median of each metric over replications.

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
        (over ok tasks), and ``{ORDER_METRIC}_rank_mean`` / ``_rank_median`` (1 = best within the dataset).
        Sorted by dataset, then by the mean of :data:`ORDER_METRIC`.
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
        rows.append(row)
    board = pd.DataFrame(rows)
    key = f"{ORDER_METRIC}_mean"
    if len(board) and key in board:
        for stat in ("mean", "median"):
            board[f"{ORDER_METRIC}_rank_{stat}"] = board.groupby("dataset")[f"{ORDER_METRIC}_{stat}"].rank(method="min")
        board = board.sort_values(["dataset", key], na_position="last").reset_index(drop=True)
    return board


def plus_minus(mean: float, se: float) -> str:
    """``mean ± se`` with 3 decimals; ``-`` for a missing mean; the mean alone for a missing SE."""
    if not np.isfinite(mean):
        return "-"
    return f"{mean:.3f} ± {se:.3f}" if np.isfinite(se) else f"{mean:.3f}"


def _num(x: float, fmt: str = ".3f") -> str:
    return format(x, fmt) if np.isfinite(x) else "-"


LEGEND = (
    "Cells: mean ± standard error over replications (the seeds of a replication averaged first), with the median "
    "over replications beside it; lower is better. Rows are ordered by the mean of out-of-sample sqrt-PEHE; "
    "`rank mean / median` gives each row's place by the mean and by the median of it, since sqrt-PEHE is "
    "heavy-tailed across replications and the two orders can differ. "
    "`pehe` = sqrt-PEHE, `ate` = absolute ATE error; `_in` = fit rows (train + validation), `_out` = held-out "
    "test rows. `leaderboard.csv` also has the RMSE of each potential-outcome surface (`rmse_mu0`, `rmse_mu1`)."
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
    """Markdown tables, one per dataset, in the board's order (by the mean of out-of-sample sqrt-PEHE).

    Each metric shows mean ± SE; those in :data:`MEDIAN_SHOWN` also their median; ``rank mean / median`` places
    each estimator by the mean and by the median of :data:`ORDER_METRIC`. ``ref_rows`` (from
    :func:`published_rows`) are appended in italics under every dataset named ``ihdp*``, each cell with its
    status (verified / recalled).
    """
    metrics = [m for m in (metrics or HEADLINE) if f"{m}_mean" in board]
    with_rank = f"{ORDER_METRIC}_rank_mean" in board
    parts = []
    for dataset, g in board.groupby("dataset", sort=True):
        header = ["estimator", "ok", "failed"] + (["rank mean / median"] if with_rank else [])
        for m in metrics:
            header += [m, f"{m} median"] if m in MEDIAN_SHOWN else [m]
        header.append("fit s (median)")
        lines = [f"### {dataset}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        extra = pd.DataFrame(list(ref_rows)) if (str(dataset).startswith("ihdp") and ref_rows) else pd.DataFrame()
        for _, r in pd.concat([g, extra], ignore_index=True).iterrows():
            pub = PUBLISHED_TAG in str(r["estimator"])
            cells = [f"*{r['estimator']}*" if pub else str(r["estimator"])]
            cells += ["-", "-"] if pub else [str(int(r["n_ok"])), str(int(r["n_failed"]))]
            if with_rank:
                cells.append("-" if pub else f"{_num(r[f'{ORDER_METRIC}_rank_mean'], '.0f')} / "
                                             f"{_num(r[f'{ORDER_METRIC}_rank_median'], '.0f')}")
            for m in metrics:
                cell = plus_minus(r.get(f"{m}_mean", np.nan), r.get(f"{m}_se", np.nan))
                status = r.get(f"{m}_status")
                if pub and isinstance(status, str) and cell != "-":
                    cell += f" ({status})"
                cells.append(cell)
                if m in MEDIAN_SHOWN:
                    cells.append(_num(r.get(f"{m}_median", np.nan)))
            fs = r.get("fit_seconds_median", np.nan)
            cells.append(f"{fs:.3g}" if np.isfinite(fs) else "-")
            lines.append("| " + " | ".join(cells) + " |")
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
                cells = [str(r["estimator"]), str(int(r.get(f"{present[0]}_n", r["n_replications"])))]
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
        only)", ``{metric}_mean`` / ``{metric}_se`` for pehe/ate in/out and ``{metric}_status`` (see
        :func:`published_status`; from the ``verified`` column, "unknown" when the file lacks it). Only
        ``sqrt_pehe`` and ``ate_error`` rows are used; other metrics, e.g. trimmed ATE error, are not comparable
        and are skipped. ``note``: why rows are absent, or their provenance and what the statuses mean.
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
        verified = str(getattr(r, "verified", "unknown"))
        row[f"{col_in}_mean"], row[f"{col_in}_se"] = float(r.within_sample), float(r.within_se)
        row[f"{col_out}_mean"], row[f"{col_out}_se"] = float(r.out_of_sample), float(r.out_se)
        row[f"{col_in}_status"] = published_status(verified, "in")
        row[f"{col_out}_status"] = published_status(verified, "out")
        protocols.add(str(getattr(r, "protocol", "")))
    note = (f"Rows marked *{PUBLISHED_TAG}* are copied from `{Path(path).name}` (protocols: "
            f"{'; '.join(sorted(protocols))}); they use other replications, splits and often 1000 draws, "
            "so they orient, they do not rank. Only sqrt-PEHE and absolute ATE error rows are shown. "
            + STATUS_LEGEND)
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
    # Importing torch costs seconds (most of a small report's time, issue 14): ask it only when it is already loaded
    # or the machine shows an NVIDIA device.
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
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
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


def report_leaderboard(ctx: ReportContext) -> None:
    """``leaderboard.csv`` (every metric, mean / SE / median) and ``leaderboard.md`` (with published rows)."""
    board = leaderboard(ctx.results)
    ctx.write_csv("leaderboard.csv", board)
    cov = coverage(ctx.results)
    n_absent, n_not_ok = int(cov["absent"].sum()), int((ctx.results["status"] != "ok").sum())
    warn = ""
    if n_absent or n_not_ok:
        warn = (f"**Incomplete store:** {n_not_ok} task(s) stored as failed/timeout/crashed and {n_absent} task(s) "
                "absent (not run) out of the dataset x replication x seed x estimator grid seen in the store; "
                "see the Coverage table in `winrates.md`. Means below use each estimator's `ok` tasks only, so "
                "rows with fewer tasks are not directly comparable.\n\n")
    seeds = ctx.results["seed"].nunique() if "seed" in ctx.results else 1
    seed_note = (f"The store holds {seeds} seeds per replication: each replication's value is the mean over its "
                 "seeds, and SEs, medians and intervals are over replications.\n\n" if seeds > 1 else "")
    intro = leaderboard_intro(f"Generated by `{ctx.command}` from the store `{ctx.store_path}` on {ctx.stamp}.",
                              warn + seed_note + ctx.ref_note + "\n\n")
    ctx.md["leaderboard"] = intro + format_markdown(board, ref_rows=ctx.ref_rows)
    ctx.board = board
    ctx.write_text("leaderboard.md", _leaderboard_text(board, intro, ctx.ref_rows))


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
    text += ". Average ranks: " + ", ".join(f"{e} {r:.2f}" for e, r in fr["avg_ranks"].items()) + ". "
    if fr["nemenyi_run"]:
        names = list(fr["avg_ranks"].index)
        gap = [f"{a} < {b}" for i, a in enumerate(names) for b in names[i + 1:]
               if fr["avg_ranks"][b] - fr["avg_ranks"][a] > fr["cd"]]
        text += (f"Nemenyi critical difference (α = {alpha}) = {fr['cd']:.2f}; pairs whose average ranks differ by "
                 f"more: {', '.join(gap) if gap else 'none'}.")
    elif not fr["rejects"]:
        text += f"The Friedman test does not reject at α = {alpha}, so no Nemenyi post-hoc is run."
    else:
        text += (f"Nemenyi post-hoc not run: its critical difference {fr['cd']:.2f} is at least k − 1 = {k - 1}, the "
                 f"widest possible gap of average ranks, so no pair could differ with {n} {unit_word}.")
    return text


def report_statistics(ctx: ReportContext) -> None:
    """``ci.csv`` (t-interval and BCa bootstrap of each mean), ``wilcoxon.csv``, ``ranks.csv``, ``nemenyi.csv``
    and ``stats.md``; Friedman results kept in ``ctx.friedman`` for the figures."""
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
            parts = [f"### {label}: {metric} ({n} complete {unit_word} as blocks)"]
            cov_s = coverage(res if ds is None else res[res["dataset"] == ds])
            short = cov_s.loc[cov_s["ok"] < cov_s["tasks"], "estimator"].unique()
            if len(short):
                parts.append(f"Replications where any estimator lacks an `ok` result are left out of the rank tests; "
                             f"estimators short of results here: {', '.join(sorted(short))} (see Coverage).")
            fr = None
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
            w = None
            if n >= 1 and k >= 2:
                floor = st.wilcoxon_min_p(n)
                if floor > alpha:
                    parts.append(f"Wilcoxon signed-rank tests not run: with {n} paired {unit_word} the smallest "
                                 f"attainable two-sided p-value is {floor:.2g} > α = {alpha}.")
                else:
                    w = st.wilcoxon_holm(tab, alpha)
                    w.insert(0, "metric", metric)
                    w.insert(0, "scope", label)
                    wil_rows.append(w)
                    m_pairs = len(w)
                    power = (f" With {n} paired {unit_word} the smallest attainable p-value is {floor:.2g}, so no "
                             f"pair can pass Holm over {m_pairs} pairs at α = {alpha}; the raw p-values are "
                             "descriptive only and more replications are needed."
                             if floor * m_pairs > alpha and not w["significant"].any() else "")
                    parts.append(
                        f"Paired Wilcoxon signed-rank tests over {unit_word}, Holm-corrected over {m_pairs} "
                        f"pair(s) ({int(w['significant'].sum())} significant).{power}\n\n"
                        + _md_table(["a", "b", "n", "median diff (a − b)", "R+ / R−", "p", "p (Holm)", "better"],
                                    [[r.a, r.b, r.n, f"{r.median_diff:.3f}", f"{r.r_plus:g} / {r.r_minus:g}",
                                      f"{r.p:.3g}", f"{r.p_holm:.3g}", r.better or "n.s."] for r in w.itertuples()]))
            if fr is not None and fr["nemenyi_run"] and w is not None:
                pairp = fr["pairwise"]
                odd = []
                for r in w.itertuples():
                    nem = bool(pairp.loc[r.a, r.b] < alpha)
                    if nem != bool(r.significant):
                        odd.append(f"{r.a} vs {r.b} ({'Wilcoxon-Holm' if r.significant else 'Nemenyi'} only)")
                if odd:
                    parts.append("Wilcoxon-Holm and Nemenyi disagree on " + ", ".join(odd) + ": Wilcoxon weighs the "
                                 "two estimators' paired differences, sizes included, while Nemenyi compares average "
                                 "ranks among all estimators with a critical difference that grows with their "
                                 "number (see \"Wilcoxon-Holm and Nemenyi can disagree\" above).")
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
    doc = doc.replace("``", "`").split("All random")[0]
    wil_note = ("Wilcoxon tables: `R+` / `R−` are the signed-rank sums of the differences a − b; `better` (when "
                "Holm-significant) is the estimator the signed ranks favour (a when R− > R+, lower being better), "
                "which the median difference need not show.\n\n")
    body = (doc + f"\n## 95 % intervals of the mean (replications as the sample; BCa with {ctx.n_boot} bootstrap "
            f"draws, seed {ctx.seed})\n\nThe t-interval is the one to quote; the BCa interval is shown beside it "
            "because sqrt-PEHE is skewed across replications.\n\n" + ci_md + "\n\n## Rank tests\n\n" + wil_note
            + "\n".join(sections))
    ctx.md["statistics"] = "## How replications and datasets are treated\n" + body
    ctx.write_text("stats.md", "# Statistics\n\n" + ctx.md["statistics"])


#: Figures of the report are deterministic: same store, same bytes (see catebench.benchmark.plots.save).
def report_figures(ctx: ReportContext) -> None:
    """Figures in ``figures/`` (PNG + SVG): win-rate heatmaps, metric distributions, rank (CD) diagrams, error vs
    fit time; listed in ``ctx.figs`` for the page."""
    from . import plots
    from .winrates import pairwise_winrates

    ctx.fig_dir.mkdir(parents=True, exist_ok=True)
    res, est, alpha = ctx.results, ctx.estimators, ctx.alpha
    figs: dict[str, list[tuple[Path, str]]] = {"winrates": [], "distributions": [], "cd": [], "time": []}
    for ds, label, weighting in ctx.scopes():
        if label == POOLED_TASKS:
            continue
        stem = ds or "pooled"
        for metric in ("pehe_out", "pehe_in"):
            if metric not in ctx.metrics:
                continue
            wr = pairwise_winrates(res, metric, dataset=ds, estimators=est, weighting=weighting)
            if not (wr["n_pairs"].to_numpy() > 0).any():  # nothing finished here: no empty figure
                continue
            p = plots.save(plots.winrate_heatmap(wr["winrate"], f"{label}: win rate on {metric}", wr["n_pairs"]),
                           ctx.fig_dir, f"winrate_{stem}_{metric}")
            wide = "wide: " if len(est) > 8 else ""
            figs["winrates"].append((p[0], f"{wide}Pairwise win rates on `{metric}` ({label}); row beats column."))
    for ds, label, unit in ctx.rank_scopes():
        fr = ctx.friedman.get((label, "pehe_out"))
        if fr is None or not fr["can_reject"]:
            continue
        unit_word = "datasets" if unit == "dataset" else "replications"
        how = {"exact": "exact", "permutation": "permutation", "chi2": "chi-square"}[fr["method"]]
        if fr["nemenyi_run"]:
            sub, cd = f"thick bars join estimators with no Nemenyi difference at α = {alpha}", fr["cd"]
        elif not fr["rejects"]:
            sub, cd = "Friedman test does not reject: no post-hoc, ranks shown only", None
        else:
            sub, cd = f"Nemenyi CD {fr['cd']:.2f} ≥ k − 1: no pair can differ, not drawn", None
        title = (f"{label}: average rank on pehe_out (1 = best) over {fr['n']} {unit_word}, Friedman p = "
                 f"{fr['p']:.2g} ({how})\n{sub}")
        p = plots.save(plots.cd_diagram(fr["avg_ranks"], cd, title), ctx.fig_dir, f"cd_{ds or 'pooled'}_pehe_out")
        kind = "Critical-difference diagram" if cd is not None else "Average ranks"
        figs["cd"].append((p[0], f"wide: {kind} ({label}, `pehe_out`, {unit_word} as blocks)."))
    for metric in ("pehe_out", "ate_out"):
        if metric in ctx.metrics:
            p = plots.save(plots.metric_distributions(res, metric), ctx.fig_dir, f"dist_{metric}")
            wide = "wide: " if len(ctx.datasets) > 1 or len(est) > 8 else ""
            figs["distributions"].append((p[0], f"{wide}Per-task `{metric}` per estimator and dataset (boxes: "
                                                "quartiles; whiskers 1.5 IQR)."))
    for ds in ctx.datasets:
        ok = res[(res["dataset"] == ds) & (res["status"] == "ok")]
        if "pehe_out" in ctx.metrics and ok["pehe_out"].notna().any():
            p = plots.save(plots.error_vs_time(res, "pehe_out", ds), ctx.fig_dir, f"time_{ds}_pehe_out")
            figs["time"].append((p[0], f"Error vs fit time on {ds} (machine shared; timings are noisy)."))
    ctx.figs = figs


def _html_winrates(ctx: ReportContext) -> str:
    """Win rates for the page: sqrt-PEHE matrices per dataset and dataset-weighted pooled; the rest in winrates.md."""
    kept = [b for b in ctx.md["winrates_pairwise"]
            if ": pehe_" in b.split("\n", 1)[0] and POOLED_TASKS not in b.split("\n", 1)[0]]
    rest = "the ATE error" + (" and the task-weighted pooled ones" if len(ctx.datasets) > 1 else "")
    return ("## Pairwise\n\nPaired tasks share dataset, replication, seed and split; both estimators must have "
            "finished `ok`.\n\n" + "\n".join(kept) + f"\nMatrices for {rest} are in `winrates.md` and "
            "`winrates.csv`.\n\n## % best\n\n" + ctx.md["winrates_best"] + "\n")


def report_page(ctx: ReportContext) -> None:
    """``report_meta.json`` (command, configuration, versions, hardware) and ``report.html`` (self-contained)."""
    from . import html

    res = ctx.results
    meta = {"command": ctx.command, "store": str(ctx.store_path), "generated": ctx.stamp, "hardware": hardware(),
            "versions": versions_summary(res), "config": effective_config(res), "n_tasks": int(len(res)),
            "status_counts": res["status"].value_counts().to_dict(),
            "reference": str(ctx.ref_path) if ctx.ref_rows else None,
            "bootstrap": {"n_boot": ctx.n_boot, "seed": ctx.seed}, "alpha": ctx.alpha}
    ctx.write_text("report_meta.json", json.dumps(meta, indent=2, default=str) + "\n")
    ctx.paths["meta"] = ctx.paths.pop("report_meta_json")
    hw = meta["hardware"]
    vers = ", ".join(f"{k} {'/'.join(v)}" for k, v in meta["versions"].items())
    repro = (f"- Command: `{ctx.command}`\n- Store: `{ctx.store_path}` ({len(res)} tasks; statuses "
             f"{meta['status_counts']})\n- Generated: {ctx.stamp}\n"
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
    sections = [("Leaderboard", ctx.md["leaderboard"], [], False)]
    if ctx.md.get("distributional"):
        sections.append(("Distributional metrics (generative estimators)", ctx.md["distributional"], [], False))
    sections += [
        ("Win rates", _html_winrates(ctx), ctx.figs.get("winrates", [])),
        ("Distributions", "", ctx.figs.get("distributions", [])),
        ("Statistics", ctx.md["statistics"], ctx.figs.get("cd", [])),
        ("Error vs fit time", "", ctx.figs.get("time", [])),
        ("Provenance", repro, []),
    ]
    ctx.write_text("report.html", html.render_page("catebench report", sections))
    ctx.paths["html"] = ctx.paths.pop("report_html")


#: The artefacts of the full report, in the order they are built (later ones read what earlier ones left in ctx).
ARTEFACTS = [report_leaderboard, report_distributional, report_coverage, report_winrates, report_statistics,
             report_figures, report_page]


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
    """Write the whole report into ``out_dir``: every function of :data:`ARTEFACTS` in turn.

    Files: ``leaderboard.md/.csv`` (with published IHDP rows and, when present, distributional metrics in the
    Markdown), ``distributional.csv`` (generative estimators only, when present), ``coverage.csv`` (ok / failed /
    absent tasks), ``winrates.md``, ``winrates.csv`` (long: scope, weighting, metric, a, b, winrate, CI, counts),
    ``best.csv`` ("% best"), ``stats.md``, ``ci.csv``, ``wilcoxon.csv``, ``ranks.csv``, ``nemenyi.csv``,
    ``report_meta.json`` (command, config, versions, hardware), ``figures/*.png|svg`` and ``report.html``
    (self-contained).

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
        Seed of the bootstrap and permutation generators.
    alpha : float, default 0.05
        Level of the tests and the CD diagram.

    Returns
    -------
    dict name -> path of every file written (``leaderboard_md``, ``html``, ``meta``, ...).
    """
    from datetime import datetime, timezone

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ref_path = default_reference_path() if reference == "default" else reference
    ref_rows, ref_note = published_rows(ref_path)
    ctx = ReportContext(results=results, out=out, command=command, store_path=store_path,
                        stamp=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), n_boot=n_boot, seed=seed,
                        alpha=alpha, ref_path=Path(ref_path) if ref_path else None, ref_rows=ref_rows,
                        ref_note=ref_note)
    for artefact in ARTEFACTS:
        artefact(ctx)
    return ctx.paths
