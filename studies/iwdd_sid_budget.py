"""SiD's budget and stopping for the paper-method IWDD labels, chosen on IHDP development replications.

IWDD with no warm start (SiD from the teacher's copy), no tolerance stop and no patience: ``--steps`` SiD steps,
the generator-to-teacher W1 on held-out fit rows recorded every ``--check-every`` steps. Replications 101-110 are
development replications that no reported table uses. Writes one CSV row per (replication, variant, check).
``--registered LABELS`` instead fits registered labels as they are and writes their diagnostics (SiD steps taken,
best step, W1) and sqrt-PEHE to ``registered.csv``: the check of the chosen rule.

    python -m studies.iwdd_sid_budget --out results/iwdd_sid_budget
    python -m studies.iwdd_sid_budget --out results/iwdd_sid_budget --replications 101-103 \
        --registered iwdd-rand,iwdd-kl,iwdd-ipw,iwdd-plain
"""

from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import numpy as np

VARIANTS = {"rand": {"adjustment": "rand"}, "kl": {"adjustment": "rand", "divergence": "kl"},
            "ipw": {"adjustment": "ipw"}, "plain": {"adjustment": "plain"}}


def main(argv: list[str] | None = None) -> None:
    import torch

    from catebench.benchmark.runner import load_task_data
    from catebench.estimators.iwdd import IWDD

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--replications", default="101-110")
    p.add_argument("--variants", default="rand")
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--check-every", type=int, default=50)
    p.add_argument("--registered", default="")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    lo, _, hi = a.replications.partition("-")
    reps = range(int(lo), int(hi or lo) + 1)
    a.out.mkdir(parents=True, exist_ok=True)
    if a.registered:
        registered(a.out / "registered.csv", reps, a.registered.split(","))
        return
    path = a.out / "trajectories.csv"
    new = not path.exists()
    with path.open("a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(["replication", "variant", "step", "w1", "pehe_in", "pehe_out", "fit_s"])
        for rep in reps:
            td = load_task_data("ihdp", rep)
            X, t, y = td.fit
            for name in a.variants.split(","):
                t0 = time.perf_counter()
                est = IWDD(**VARIANTS[name], warm_start_steps=0, distill_steps=a.steps, distill_tol=0.0,
                           distill_patience=10**9, distill_check_every=a.check_every, validation_fraction=0.3,
                           random_state=td.random_state).fit(X, t, y)
                fit_s = time.perf_counter() - t0
                d = td.data
                tau = d.mu1 - d.mu0
                pe = []
                for idx in (td.fit_idx, td.test_idx):
                    pe.append(float(np.sqrt(np.mean((est.effect(d.X[idx]) - tau[idx]) ** 2))))
                h = est.distill_history_
                for s, v in zip(h["monitor_steps"], h["monitor"]):
                    w.writerow([rep, name, s, f"{v:.5f}", f"{pe[0]:.4f}", f"{pe[1]:.4f}", f"{fit_s:.1f}"])
                fh.flush()
                print(rep, name, "best", h["best_step"], "w1", min(h["monitor"]), "pehe", pe, f"{fit_s:.0f}s",
                      flush=True)


def registered(path: Path, reps, labels: list[str]) -> None:
    """Fit registered labels on the replications; one row of diagnostics and sqrt-PEHE per fit."""
    from catebench.benchmark.registry import ESTIMATORS
    from catebench.benchmark.runner import load_task_data

    new = not path.exists()
    with path.open("a", newline="") as fh:
        w = csv.writer(fh)
        if new:
            w.writerow(["replication", "estimator", "distill_steps", "distill_best_step", "warm_start_steps",
                        "w1_to_teacher", "w1_to_teacher_initial", "pehe_in", "pehe_out", "fit_s"])
        for rep in reps:
            td = load_task_data("ihdp", rep)
            d = td.data
            tau = d.mu1 - d.mu0
            for label in labels:
                t0 = time.process_time()
                est = ESTIMATORS.create(label, random_state=td.random_state,
                                        validation_fraction=td.split.validation_fraction).fit(*td.fit)
                fit_s = time.process_time() - t0
                pe = [float(np.sqrt(np.mean((est.effect(d.X[i]) - tau[i]) ** 2))) for i in (td.fit_idx, td.test_idx)]
                dg = est.diagnostics_
                w.writerow([rep, label, int(dg["distill_steps"]), int(dg["distill_best_step"]),
                            int(dg["warm_start_steps"]), f"{dg['w1_to_teacher']:.4f}",
                            f"{dg['w1_to_teacher_initial']:.4f}", f"{pe[0]:.4f}", f"{pe[1]:.4f}", f"{fit_s:.1f}"])
                fh.flush()
                print(rep, label, dict(dg), pe, flush=True)


if __name__ == "__main__":
    main()
