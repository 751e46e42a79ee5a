"""Leaderboard tables from the store: mean +- standard error (and median) per metric, estimator and dataset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import metric_columns

__all__ = ["leaderboard", "write_leaderboard", "format_markdown"]

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


def _pm(mean: float, se: float) -> str:
    if not np.isfinite(mean):
        return "-"
    return f"{mean:.3f} ± {se:.3f}" if np.isfinite(se) else f"{mean:.3f}"


def format_markdown(board: pd.DataFrame, metrics: list[str] | None = None) -> str:
    """Markdown tables, one per dataset, sorted by out-of-sample sqrt-PEHE."""
    metrics = [m for m in (metrics or HEADLINE) if f"{m}_mean" in board]
    parts = []
    for dataset, g in board.groupby("dataset", sort=True):
        header = ["estimator", "ok", "failed", *metrics, "fit s (median)"]
        lines = [f"### {dataset}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for _, r in g.iterrows():
            cells = [str(r["estimator"]), str(int(r["n_ok"])), str(int(r["n_failed"]))]
            cells += [_pm(r[f"{m}_mean"], r[f"{m}_se"]) for m in metrics]
            cells.append(f"{r['fit_seconds_median']:.2f}" if np.isfinite(r["fit_seconds_median"]) else "-")
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def write_leaderboard(results: pd.DataFrame, out_dir: str | Path, preamble: str = "") -> tuple[Path, Path]:
    """Write ``leaderboard.csv`` and ``leaderboard.md`` into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    board = leaderboard(results)
    csv_path, md_path = out / "leaderboard.csv", out / "leaderboard.md"
    board.to_csv(csv_path, index=False, float_format="%.6g")
    md = "# catebench leaderboard\n\n" + (preamble + "\n\n" if preamble else "")
    md += "Cells: mean ± standard error over replications (x seeds); lower is better. "
    md += "`pehe` = sqrt-PEHE, `ate` = absolute ATE error, `rmse_mu0/1` = RMSE of each potential-outcome surface; "
    md += "`_in` = fit rows (train + validation), `_out` = held-out test rows.\n\n"
    md += format_markdown(board)
    md_path.write_text(md)
    return csv_path, md_path
