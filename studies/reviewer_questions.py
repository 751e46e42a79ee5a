"""The reviewers' open questions about IWDD, measured: what happens as overlap weakens and as covariates grow,
and what the randomized design's queries far from the data do.

A synthetic design (:class:`catebench.datasets.synthetic.Synthetic`, n = 1000) whose propensity sharpens step by
step (``imbalance`` 0.5, 1.5, 3, 5 at d = 10) and whose dimension grows (d = 5, 10, 40 at imbalance 1.5). On each
cell and replication: the paper's method (``iwdd-rand``), its IPW design (``iwdd-ipw``: observed (x, z) pairs
only), our warm-started variant (``iwdd-rand-ws``), their teacher (``diffusion-teacher``), CFR-WASS and the
X-learner, through the runner (split ``80/20-row-order``, the IWDD family sharing its teacher).

Reported per cell and estimator (medians over replications): out-of-sample sqrt-PEHE, 90 % interval coverage of
the noisy potential outcomes (generative estimators), fit / predict / sampling seconds and SiD steps; and, for the
randomized design's question, sqrt-PEHE on the test units where one arm is rare (true propensity outside
[0.1, 0.9]: the randomized design pairs such x with the rare z, where the teacher saw no data) against the units
with overlap.

    python -m studies.reviewer_questions --out results/reviewer_questions
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from catebench.benchmark.config import DatasetSpec, EstimatorSpec, RunConfig  # noqa: E402
from catebench.benchmark.runner import run, task_data  # noqa: E402
from catebench.benchmark.store import Store  # noqa: E402
from catebench.benchmark.tasks import plan_tasks  # noqa: E402
from catebench.datasets.synthetic import Synthetic  # noqa: E402

ESTIMATORS = ("iwdd-rand", "iwdd-ipw", "iwdd-rand-ws", "diffusion-teacher", "cfr-wass", "x-learner")
BASE = {"n": 1000, "confounding": 0.7, "heterogeneity": 1.0, "nonlinearity": 0.5, "noise_sd": 0.5}
OVERLAP = (0.5, 1.5, 3.0, 5.0)
DIMENSIONS = (5, 10, 40)
#: Test units whose true propensity lies outside [RARE, 1 - RARE] have one rare arm.
RARE = 0.1


def cells() -> list[dict]:
    """Every (imbalance, d) of the two sweeps, once."""
    out = [{"sweep": "overlap", "imbalance": a, "d": 10} for a in OVERLAP]
    out += [{"sweep": "dimension", "imbalance": 1.5, "d": d} for d in DIMENSIONS if d != 10]
    return out


def _config(cell: dict, reps: int, store: Path, n_jobs: int) -> RunConfig:
    params = {**BASE, "d": cell["d"], "imbalance": cell["imbalance"]}
    return RunConfig(name="reviewer", seed=0, n_jobs=n_jobs, executor="local" if n_jobs > 1 else "inline",
                     store=str(store), datasets=[DatasetSpec("synthetic", tuple(range(1, reps + 1)),
                                                             "80/20-row-order", params)],
                     estimators=[EstimatorSpec(e) for e in ESTIMATORS]).validate()  # fmt: skip


def _region_errors(store: Store, cfg: RunConfig) -> list[dict]:
    """sqrt-PEHE of every task on its test units with and without a rare arm."""
    rows = []
    done = store.statuses()
    for task in plan_tasks(cfg):
        if done.get(task.key) != "ok":
            continue
        td = task_data(task)
        pred = store.predictions(task.key)
        tau = td.data.mu1 - td.data.mu0
        tau_hat = pred["mu1_hat"] - pred["mu0_hat"]
        e = Synthetic(**task.dataset_params).surfaces(td.data.X)[2]
        test = td.test_idx
        rare = (e[test] < RARE) | (e[test] > 1 - RARE)
        err = (tau_hat[test] - tau[test]) ** 2
        rows.append({"replication": task.replication, "estimator": task.estimator, "n_rare": int(rare.sum()),
                     "pehe_rare": float(np.sqrt(err[rare].mean())) if rare.any() else np.nan,
                     "pehe_overlap": float(np.sqrt(err[~rare].mean())) if (~rare).any() else np.nan})
    return rows


def measure(reps: int, cache: Path, n_jobs: int) -> pd.DataFrame:
    frames = []
    for cell in cells():
        store_path = cache / f"reviewer-a{cell['imbalance']}-d{cell['d']}.sqlite"
        cfg = _config(cell, reps, store_path, n_jobs)
        print(f"{cell}: {run(cfg, progress=False, teacher_cache=cache / 'teachers')}", flush=True)
        store = Store(store_path, readonly=True)
        try:
            res = store.results()
            regions = pd.DataFrame(_region_errors(store, cfg))
        finally:
            store.close()
        keep = ["replication", "estimator", "status", "pehe_out", "cov90_out", "fit_seconds", "predict_seconds",
                "sample_seconds", "diag_distill_steps", "diag_teacher_from_cache"]
        res = res.reindex(columns=keep).merge(regions, on=["replication", "estimator"], how="left")
        frames.append(res.assign(**cell))
    return pd.concat(frames, ignore_index=True)


def _median_table(df: pd.DataFrame, sweep: str, col: str, fmt: str) -> list[str]:
    sub = df[df["sweep"] == sweep] if sweep == "overlap" else df[df["imbalance"] == 1.5]
    key = "imbalance" if sweep == "overlap" else "d"
    wide = sub.pivot_table(index="estimator", columns=key, values=col, aggfunc="median",
                           dropna=False).reindex(list(ESTIMATORS))
    head = f"| estimator | " + " | ".join(f"{key} = {c:g}" for c in wide.columns) + " |"
    lines = [head, "|---|" + "---|" * len(wide.columns)]
    for e, r in wide.iterrows():
        lines.append(f"| {e} | " + " | ".join("-" if pd.isna(v) else fmt.format(v) for v in r) + " |")
    return lines


def _figures(df: pd.DataFrame, out: Path) -> list[str]:
    names = []
    for sweep, key, col, what in (("overlap", "imbalance", "pehe_out", "out-of-sample sqrt-PEHE"),
                                  ("dimension", "d", "pehe_out", "out-of-sample sqrt-PEHE"),
                                  ("overlap", "imbalance", "pehe_rare", "sqrt-PEHE on test units with a rare arm")):
        sub = df[df["sweep"] == sweep] if sweep == "overlap" else df[df["imbalance"] == 1.5]
        with plt.style.context("default"):
            names.append(_figure(sub, key, col, what, out))
    return names


def _figure(sub: pd.DataFrame, key: str, col: str, what: str, out: Path) -> str:
    """One line per estimator of the median of ``col`` against ``key``, log axis; returns the file name."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, e in enumerate(ESTIMATORS):
        g = sub[sub["estimator"] == e].groupby(key)[col].median()
        if g.notna().any():
            ax.plot(g.index, g.to_numpy(), marker="os^vDx"[i], label=e, color=f"C{i}")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.set_xlabel("imbalance (propensity's logit slope; overlap weakens to the right)" if key == "imbalance"
                  else "d (covariates)")
    ax.set_ylabel(f"{what}\n(median over replications)", fontsize=9)
    ax.grid(alpha=0.3, which="both")
    if ax.get_lines():
        ax.legend(fontsize=8)
    fig.tight_layout()
    name = f"{col}_by_{key}.png"
    fig.savefig(out / name, dpi=120, metadata={"Software": None})
    plt.close(fig)
    return name


def summary(df: pd.DataFrame, reps: int, command: str, figures: list[str]) -> str:
    lines = ["# The reviewers' questions, measured", "",
             f"Command: `{command}`. Synthetic design (n = {BASE['n']}, confounding {BASE['confounding']}, "
             f"heterogeneity {BASE['heterogeneity']}, nonlinearity {BASE['nonlinearity']}, noise sd "
             f"{BASE['noise_sd']}), replications 1-{reps}, split `80/20-row-order`; estimators at their registered "
             "defaults; medians over replications. Per-task rows: `tasks.csv`.", ""]
    for sweep in ("overlap", "dimension"):
        lines += [f"## As {'overlap weakens' if sweep == 'overlap' else 'the dimension grows'}", "",
                  "Out-of-sample sqrt-PEHE:", "", *_median_table(df, sweep, "pehe_out", "{:.3f}"), "",
                  "90 % interval coverage of the noisy potential outcomes (test rows; nominal 0.90):", "",
                  *_median_table(df, sweep, "cov90_out", "{:.2f}"), "",
                  "Fit seconds (IWDD labels after the first load the shared teacher; see `tasks.csv`):", "",
                  *_median_table(df, sweep, "fit_seconds", "{:.1f}"), "",
                  "Prediction + sampling seconds:", "",
                  *_median_table(df.assign(ps=df["predict_seconds"] + df["sample_seconds"].fillna(0)), sweep, "ps",
                                 "{:.1f}"), "",
                  "SiD steps taken:", "", *_median_table(df, sweep, "diag_distill_steps", "{:.0f}"), ""]
    lines += ["## Queries far from the data", "",
              f"sqrt-PEHE on test units with a rare arm (true propensity outside [{RARE}, {1 - RARE}]) and, in "
              "brackets, on the others; the median count of such test units per replication in the last row:", ""]
    sub = df[df["sweep"] == "overlap"]
    rare = sub.pivot_table(index="estimator", columns="imbalance", values="pehe_rare", aggfunc="median")
    over = sub.pivot_table(index="estimator", columns="imbalance", values="pehe_overlap", aggfunc="median")
    nr = sub.pivot_table(index="estimator", columns="imbalance", values="n_rare", aggfunc="median")
    rare, over = rare.reindex(columns=nr.columns), over.reindex(columns=nr.columns)
    lines += ["| estimator | " + " | ".join(f"imbalance = {c:g}" for c in rare.columns) + " |",
              "|---|" + "---|" * len(rare.columns)]
    for e in ESTIMATORS:
        if e in rare.index:
            lines.append(f"| {e} | " + " | ".join(
                "-" if pd.isna(rare.loc[e, c]) else f"{rare.loc[e, c]:.3f} ({over.loc[e, c]:.3f})"
                for c in rare.columns) + " |")
    lines.append("| test units with a rare arm | " + " | ".join(f"{nr[c].median():.0f}" for c in nr.columns) + " |")
    r = rare.reindex(["iwdd-rand", "iwdd-ipw", "diffusion-teacher"])

    def ratios(other: str) -> str:
        got = [f"imbalance {c:g}: {r.loc['iwdd-rand', c] / r.loc[other, c]:.2f}" for c in r.columns
               if np.isfinite(r.loc["iwdd-rand", c] / r.loc[other, c])]
        return ", ".join(got) or "not measured"

    lines += ["", "Ratio of the randomized design's error to the IPW design's on those units (below 1: the "
                  f"randomized queries help): {ratios('iwdd-ipw')}; to the teacher's: {ratios('diffusion-teacher')}.",
              "", "## Figures", ""]
    lines += [f"![{f}]({f})" for f in figures]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m studies.reviewer_questions", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="results/reviewer_questions")
    p.add_argument("--replications", type=int, default=3)
    p.add_argument("--n-jobs", type=int, default=1)
    p.add_argument("--cache", default=".catebench/reviewer", help="where the stores (and shared teachers) are kept")
    p.add_argument("--summary-only", action="store_true", help="rewrite summary and figures from OUT/tasks.csv")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.summary_only:
        df = pd.read_csv(out / "tasks.csv")
    else:
        cache = Path(args.cache)
        cache.mkdir(parents=True, exist_ok=True)
        df = measure(args.replications, cache, args.n_jobs)
        out.mkdir(parents=True, exist_ok=True)
        df.to_csv(out / "tasks.csv", index=False, float_format="%.6g")
    figures = _figures(df, out)
    command = "python -m studies.reviewer_questions" + ("" if argv is None else " " + " ".join(
        a for a in argv if a != "--summary-only"))
    (out / "summary.md").write_text(summary(df, args.replications, command, figures))
    (out / "cells.json").write_text(json.dumps(cells(), indent=1) + "\n")
    print(f"wrote {out}/summary.md, tasks.csv and {len(figures)} figures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
