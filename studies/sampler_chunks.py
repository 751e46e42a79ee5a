"""How many rows the iterative samplers should take at a time on a CPU (``CPU_SAMPLER_ROWS``).

The teacher's Heun sampler (99 network calls per draw) and DiffPO's ancestral chain call their network many times on
the same rows, so they run in row chunks (:func:`catebench.estimators._torch.sampler_chunks`): a chunk small enough
keeps its activations in cache from one call to the next, one too small pays Python's per-call overhead. A row's
draw does not depend on its chunk; the study checks that every chunk size gives the same draws, bit for bit.

Per chunk size (and the whole batch, no chunking): seconds of ``est.sample(X, 32)`` on the first ``--units`` test
rows of ACIC 2016 setting 1 (82 covariates; 32 draws per unit and arm, as the runner's distributional metrics take),
for ``diffusion-teacher`` and ``diffpo`` at their registered network and sampler (fitted briefly: the sampler's cost
does not depend on the weights), one thread; in one process alone and in two processes at once (the paper run's 2
workers on 2 cores). Each process measures every size ``--repeats`` times in rotated order; reported are medians.

    python -m studies.sampler_chunks --out results/perf/sampler_chunks/sweep
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SIZES = (256, 512, 1024, 2048, 4096)
WHOLE = 0  # the size recorded for "no chunking" (one slice of all rows)
#: The brief fits: the sampler's cost depends on the network's shape and the sampler's steps, not on the weights.
QUICK_FIT = {"diffusion-teacher": {"teacher_steps": 50, "teacher_patience": 25},
             "diffpo": {"max_epochs": 1, "patience": 1}}


def worker(labels, sizes, repeats: int, units: int, draws: int) -> None:
    """Print one JSON line per measurement: label, chunk (0 = whole batch), repeat, seconds, sha256 of the draws."""
    import numpy as np

    import catebench.estimators._torch as tt
    from catebench.benchmark.registry import ESTIMATORS
    from catebench.benchmark.runner import limit_threads, load_task_data

    limit_threads()
    td = load_task_data("acic2016", 1, split="80/20-row-order")
    X = td.data.X[td.test_idx[:units]]
    for label in labels:
        est = ESTIMATORS.create(label, random_state=td.random_state, device="cpu",
                                validation_fraction=td.split.validation_fraction, **QUICK_FIT[label]).fit(*td.fit)
        order = list(sizes)
        for rep in range(repeats):
            for chunk in order[rep % len(order):] + order[:rep % len(order)]:
                tt.CPU_SAMPLER_ROWS = chunk or 1 << 40
                t0 = time.perf_counter()
                d0, d1 = est.sample(X, draws)
                sec = time.perf_counter() - t0
                digest = hashlib.sha256(np.ascontiguousarray(d0).tobytes() + np.ascontiguousarray(d1).tobytes())
                print(json.dumps({"label": label, "chunk": chunk, "repeat": rep, "seconds": round(sec, 4),
                                  "draws_sha256": digest.hexdigest()[:16]}), flush=True)


def _load() -> float:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def measure(labels, sizes, repeats: int, units: int, draws: int, processes: int) -> list[dict]:
    """Run ``processes`` workers at once; their measurements, each tagged with the process count and index."""
    cmd = [sys.executable, "-m", "studies.sampler_chunks", "--worker", "--labels", ",".join(labels),
           "--sizes", ",".join(str(s) for s in sizes), "--repeats", str(repeats), "--units", str(units),
           "--draws", str(draws)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    load = _load()
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) for _ in range(processes)]
    rows = []
    for i, proc in enumerate(procs):
        out, _ = proc.communicate()
        if proc.returncode:
            raise RuntimeError(f"worker {i} of {processes} failed with exit status {proc.returncode}")
        rows += [{**json.loads(line), "processes": processes, "process": i, "load_before": load}
                 for line in out.splitlines() if line.startswith("{")]
    return rows


def summarize(df: pd.DataFrame, command: str, units: int, draws: int, current: int) -> str:
    same = df.groupby("label")["draws_sha256"].nunique()
    med = df.groupby(["label", "processes", "chunk"])["seconds"].median().unstack("chunk")
    whole = med[WHOLE]
    sizes = [c for c in med.columns if c != WHOLE] + [WHOLE]
    name = {c: "whole batch" if c == WHOLE else f"{c:,} rows" for c in sizes}
    lines = ["# Row chunks of the iterative samplers on a CPU", "",
             f"Command: `{command}`. `est.sample(X, {draws})` on {units} test units of ACIC 2016 setting 1 (82 "
             f"covariates): {units * draws * 2:,} sampler rows per call (units x draws x 2 arms), at the registered "
             "network and sampler of each label, one thread; one process alone, then two at once (the paper run's 2 "
             f"workers on 2 cores). Seconds are medians over repeats and processes; `x` = ratio to the whole batch "
             f"in the same setting. `CPU_SAMPLER_ROWS` is {current:,} in the code that wrote this file. Machine: "
             f"{platform.machine()}, {os.cpu_count()} logical CPUs; 1-minute load before each setting: "
             + ", ".join(f"{p} process(es) {g['load_before'].iloc[0]:.1f}" for p, g in df.groupby("processes"))
             + ".", "",
             "| label | processes | " + " | ".join(name[c] for c in sizes) + " | fastest |",
             "|---|---|" + "---|" * len(sizes) + "---|"]
    for (label, procs), row in med.iterrows():
        best = min((c for c in sizes), key=lambda c: row[c])
        cells = [f"{row[c]:.2f} s ({row[c] / whole[(label, procs)]:.2f}x)" for c in sizes]
        lines.append(f"| {label} | {procs} | " + " | ".join(cells) + f" | {name[best]} |")
    lines += ["", "Draws: " + "; ".join(
        f"{label}: {'the same bytes at every chunk size' if n == 1 else f'{n} different results (a defect)'}"
        for label, n in same.items()) + f" ({len(df)} measurements; every one is in `sweep.csv`)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m studies.sampler_chunks", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "results" / "perf" / "sampler_chunks" / "sweep")
    p.add_argument("--labels", default="diffusion-teacher,diffpo")
    p.add_argument("--sizes", default=",".join(str(s) for s in SIZES + (WHOLE,)),
                   help="chunk sizes in rows; 0 = the whole batch")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--units", type=int, default=256)
    p.add_argument("--draws", type=int, default=32)
    p.add_argument("--processes", default="1,2", help="process counts to measure, one setting after the other")
    p.add_argument("--summary-only", action="store_true")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    labels = [s.strip() for s in a.labels.split(",") if s.strip()]
    unknown = sorted(set(labels) - set(QUICK_FIT))
    if unknown:
        p.error(f"--labels: {unknown} not measured by this study; choose from {sorted(QUICK_FIT)}")
    sizes = [int(s) for s in a.sizes.split(",")]
    if any(s < 0 for s in sizes) or WHOLE not in sizes:
        p.error(f"--sizes must be non-negative and include {WHOLE} (the whole batch); got {a.sizes!r}")
    if a.worker:
        worker(labels, sizes, a.repeats, a.units, a.draws)
        return 0
    from catebench.estimators._torch import CPU_SAMPLER_ROWS

    csv_path = a.out / "sweep.csv"
    if not a.summary_only:
        rows = []
        for n in [int(s) for s in a.processes.split(",")]:
            rows += measure(labels, sizes, a.repeats, a.units, a.draws, n)
        a.out.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(csv_path, index=False)
    command = "python -m studies.sampler_chunks" + ("" if a.out == p.get_default("out") else f" --out {a.out}")
    text = summarize(pd.read_csv(csv_path), command, a.units, a.draws, CPU_SAMPLER_ROWS)
    (a.out / "summary.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
