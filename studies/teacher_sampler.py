"""How many Heun steps the diffusion teacher's sampler needs: accuracy and time against the registered 50.

The teacher's 50-step Heun sampler (99 network evaluations per draw) is most of the cost of `diffusion-teacher` and
`diffusion-teacher-release` on ACIC 2016 (`results/perf/stages`). ``heun_steps`` acts at prediction only, so one
fitted teacher per replication is sampled at every step count, from the same latent draws (the quadrature nodes of
the point prediction, the seeded draws of the distributional metrics): the differences are the sampler's alone.

Data: IHDP development replications 101-110 (no reported table uses them), the paper's split ``80/20-row-order``,
`diffusion-teacher` at its registered defaults, one thread. Per replication and step count: out-of-sample and
in-sample sqrt-PEHE of the point prediction, the runner's distributional metrics (CRPS, 90 % coverage), the largest
change of the predicted effect against 50 steps (in units of the true effect's SD), and the CPU seconds of the
point prediction and of the distributional draws.

Tolerance, fixed before the first run: a step count keeps the teacher's results when, on every replication, its
out-of-sample sqrt-PEHE and CRPS are within 1 % of those at 50 steps. This study proposes; changing the default
moves stored numbers and means rerunning every teacher task.

    python -m studies.teacher_sampler --out results/teacher_sampler
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
STEPS = (50, 35, 25, 18, 12, 8)
TOLERANCE = 0.01


def measure(replications, steps=STEPS, label: str = "diffusion-teacher", params: dict | None = None) -> pd.DataFrame:
    from catebench.benchmark.metrics import sqrt_pehe
    from catebench.benchmark.registry import ESTIMATORS
    from catebench.benchmark.runner import _distribution_scores, limit_threads, load_task_data

    limit_threads()
    rows = []
    for rep in replications:
        td = load_task_data("ihdp", rep, split="80/20-row-order")
        d = td.data
        tau = d.mu1 - d.mu0
        t0 = time.process_time()
        est = ESTIMATORS.create(label, random_state=td.random_state,
                                validation_fraction=td.split.validation_fraction, **(params or {})).fit(*td.fit)
        fit_s = time.process_time() - t0
        ref = None
        for k in steps:
            est.heun_steps = int(k)
            t0 = time.process_time()
            mu0, mu1 = est.predict(d.X)
            t1 = time.process_time()
            dist = _distribution_scores(est, d, td.fit_idx, td.test_idx, td.split_seed)
            t2 = time.process_time()
            eff = mu1 - mu0
            ref = eff if ref is None else ref
            rows.append({"replication": rep, "heun_steps": k, "fit_s": round(fit_s, 2),
                         "pehe_in": sqrt_pehe(tau[td.fit_idx], eff[td.fit_idx]),
                         "pehe_out": sqrt_pehe(tau[td.test_idx], eff[td.test_idx]),
                         "crps_out": dist["crps_out"], "cov90_out": dist["cov90_out"],
                         "max_change_vs_first": float(np.max(np.abs(eff - ref)) / np.std(tau)),
                         "predict_cpu_s": round(t1 - t0, 3), "sample_cpu_s": round(t2 - t1, 3)})  # fmt: skip
            print(rows[-1], flush=True)
    return pd.DataFrame(rows)


def summarize(df: pd.DataFrame, command: str) -> str:
    base = df[df["heun_steps"] == df["heun_steps"].max()].set_index("replication")
    lines = ["# The teacher's Heun steps: accuracy and time against the registered 50", "",
             f"Command: `{command}`. IHDP development replications {df['replication'].min()}-"
             f"{df['replication'].max()}, split `80/20-row-order`, `diffusion-teacher` at its registered defaults "
             "fitted once per replication and sampled at each step count from the same latent draws; one thread. "
             f"Tolerance (fixed before the first run): out-of-sample sqrt-PEHE and CRPS within {TOLERANCE:.0%} of 50 "
             "steps on every replication.", "",
             "| Heun steps | network calls per draw | pehe_out median | largest relative change of pehe_out | "
             "largest relative change of crps_out | cov90_out median | largest effect change (SD of the true "
             "effect) | CPU s: predict + draws (median) | time vs 50 | within tolerance |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    t50 = (base["predict_cpu_s"] + base["sample_cpu_s"]).median()
    for k, g in df.groupby("heun_steps", sort=False):
        g = g.set_index("replication")
        dp = ((g["pehe_out"] - base["pehe_out"]) / base["pehe_out"]).abs().max()
        dc = ((g["crps_out"] - base["crps_out"]) / base["crps_out"]).abs().max()
        t = (g["predict_cpu_s"] + g["sample_cpu_s"]).median()
        ok = bool(dp <= TOLERANCE and dc <= TOLERANCE)
        lines.append(f"| {k} | {2 * k - 1} | {g['pehe_out'].median():.4f} | {dp:.2%} | {dc:.2%} | "
                     f"{g['cov90_out'].median():.3f} | {g['max_change_vs_first'].max():.3f} | {t:.2f} | "
                     f"{t / t50:.2f} | {'yes' if ok else 'no'} |")
    fit = df.drop_duplicates("replication")["fit_s"].median()
    lines += ["", f"The teacher's fit took {fit:.1f} CPU s (median); every row's per-replication values are in "
              "`sampler.csv`."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--replications", default="101-110", help="IHDP development replications, e.g. 101-110")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "teacher_sampler")
    p.add_argument("--summary-only", action="store_true")
    a = p.parse_args(argv)
    from catebench.benchmark.paper.protocol import parse_ranges

    try:  # replications 1-100 are reported by the paper run
        reps = parse_ranges(a.replications, 101, 10**6, "IHDP development replications")
    except ValueError as exc:
        p.error(str(exc))
    a.out.mkdir(parents=True, exist_ok=True)
    csv_path = a.out / "sampler.csv"
    if not a.summary_only:
        measure(reps).to_csv(csv_path, index=False)
    command = f"python -m studies.teacher_sampler --replications {a.replications}"
    text = summarize(pd.read_csv(csv_path), command)
    (a.out / "summary.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
