"""Every torch estimator fitted and scored on CUDA beside CPU, on one IHDP replication and one ACIC 2016 setting.

    python -m studies.gpu_check                 # real defaults; needs a CUDA device
    python -m studies.gpu_check --quick         # each estimator's small test parameters (a smoke run)
    python -m studies.gpu_check --devices cpu   # CPU only (checks the script itself on a machine without a GPU)
    python -m studies.gpu_check --jobs 14       # 14 fits at a time, each in its own process (the committed run)

Writes ``results/gpu_check/gpu_check.csv`` and ``summary.md`` (``--out`` elsewhere).

Torch draws different random numbers on CUDA than on CPU from the same seed (initial weights, minibatches, noise),
so the two runs are two seeds of the same estimator, not the same computation: predictions are not compared
element-wise. What must hold is that the CUDA run trains as well as the CPU run: per estimator and dataset, the
out-of-sample sqrt-PEHE on CUDA is within ``--rel-tol`` (default 0.5: a factor 1.5 either way, about the spread
between two seeds of the neural estimators on IHDP) of the CPU figure, both finite. The table gives fit and predict
seconds on each device.

The committed ``results/gpu_check`` ran from a clone on a GPU machine whose Python had torch but neither econml nor
causallib: the data files the check reads from them (econml's IHDP ``sim.csv``, causallib's ACIC 2016 ``x.csv``
and ``zymu_1.csv``) were put on ``PYTHONPATH`` in folders of those names, and pandas 2.3.3 beside it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from catebench.benchmark.metrics import score
from catebench.benchmark.registry import ESTIMATORS
from catebench.benchmark.runner import load_task_data

DATASETS = (("ihdp", 1), ("acic2016", 1))  # ACIC 2016 setting 1 ships with causallib: offline
SPLIT = "80/20-row-order"  # the IWDD paper's split


def torch_estimators() -> list[str]:
    """Registered estimators that take a ``device`` parameter (every torch estimator in catebench)."""
    names = []
    for entry in ESTIMATORS.entries():
        try:
            params = entry.create().get_params(deep=False)
        except Exception:  # noqa: BLE001 - a plugin that cannot be built is not ours to check
            continue
        if "device" in params:
            names.append(entry.name)
    return names


def fit_once(name: str, dataset: str, replication: int, device: str, quick: bool, seed: int) -> dict:
    """Fit ``name`` on the replication's fit rows on ``device``; out- and in-sample sqrt-PEHE and the seconds."""
    import torch

    torch.set_num_threads(1)
    td = load_task_data(dataset, replication, SPLIT, seed=seed)
    entry = ESTIMATORS.get(name)
    params = dict(entry.load().test_params()) if quick else {}
    params.update(device=device, random_state=td.random_state)
    est = entry.create(**params)
    t0 = time.perf_counter()
    est.fit(*td.fit)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t1 = time.perf_counter()
    mu0, mu1 = est.predict(td.data.X)
    t2 = time.perf_counter()
    _, a0, a1 = td.data.truth
    m = score(a0, a1, mu0, mu1, td.fit_idx, td.test_idx)
    return {"estimator": name, "dataset": dataset, "replication": replication, "device": device,
            "pehe_in": m["pehe_in"], "pehe_out": m["pehe_out"], "fit_s": t1 - t0, "predict_s": t2 - t1}


def _job(name: str, dataset: str, rep: int, device: str, quick: bool, seed: int) -> dict:
    """:func:`fit_once`, a failure recorded as a row with its error; with the job's wall seconds."""
    t0 = time.perf_counter()
    try:
        row = fit_once(name, dataset, rep, device, quick, seed)
    except Exception as exc:  # noqa: BLE001 - recorded, the check goes on
        row = {"estimator": name, "dataset": dataset, "replication": rep, "device": device,
               "error": f"{type(exc).__name__}: {exc}"}
    return {**row, "job_s": time.perf_counter() - t0}


def run_jobs(jobs: list[tuple], n_jobs: int) -> list[dict]:
    """Every job through :func:`_job`, ``n_jobs`` at a time in spawned processes (1: in this process), longest
    expected first (ACIC before IHDP, diffusion models first)."""
    slow = ("diffusion", "iwdd", "diffpo")
    jobs = sorted(jobs, key=lambda j: (j[1] != "acic2016", not j[0].startswith(slow), j[0], j[3]))
    rows = []

    def done(row: dict) -> None:
        rows.append(row)
        print(f"{row['estimator']:26s} {row['dataset']:9s} {row['device']:6s} {row['job_s']:7.1f} s"
              f"{'  ' + row['error'] if 'error' in row else ''}", flush=True)

    if n_jobs <= 1:
        for j in jobs:
            done(_job(*j))
        return rows
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(n_jobs, mp_context=mp.get_context("spawn")) as ex:
        for fut in as_completed([ex.submit(_job, *j) for j in jobs]):
            done(fut.result())
    return rows


def compare(rows: pd.DataFrame, rel_tol: float) -> pd.DataFrame:
    """One row per (estimator, dataset): CPU and CUDA sqrt-PEHE out of sample, their ratio and the verdict."""
    rows = rows.assign(device=rows["device"].str.split(":").str[0])  # cuda:0 -> cuda
    wide = rows.pivot_table(index=["estimator", "dataset"], columns="device",
                            values=["pehe_out", "fit_s"], aggfunc="first")
    wide.columns = [f"{a}_{b}" for a, b in wide.columns]
    wide = wide.reset_index()
    if "pehe_out_cuda" in wide:
        ratio = wide["pehe_out_cuda"] / wide["pehe_out_cpu"]
        wide["ratio"] = ratio
        wide["ok"] = np.isfinite(ratio) & (ratio <= 1 + rel_tol) & (ratio >= 1 / (1 + rel_tol))
        wide["speedup"] = wide["fit_s_cpu"] / wide["fit_s_cuda"]
    return wide


def markdown_table(df: pd.DataFrame) -> str:
    """A Markdown table of ``df`` (floats to 3 decimals)."""
    cells = [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in df.itertuples(index=False)]
    head = [str(c) for c in df.columns]
    return "\n".join("| " + " | ".join(r) + " |" for r in [head, ["---"] * len(head), *cells])


def _machine() -> str:
    import platform

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    return (f"{gpu}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, torch {torch.__version__}, "
            f"numpy {np.__version__}, pandas {pd.__version__}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m studies.gpu_check", description=__doc__.splitlines()[0])
    ap.add_argument("--devices", default="cpu,cuda", help="comma-separated devices (default cpu,cuda)")
    ap.add_argument("--estimators", help="comma-separated names (default: every torch estimator)")
    ap.add_argument("--quick", action="store_true", help="each estimator's test_params (small, fast)")
    ap.add_argument("--rel-tol", type=float, default=0.5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="results/gpu_check")
    ap.add_argument("--jobs", type=int, default=1, help="fits at a time, each in its own process (default 1)")
    args = ap.parse_args(argv)
    devices = [d.strip() for d in args.devices.split(",") if d.strip()]
    names = args.estimators.split(",") if args.estimators else torch_estimators()
    jobs = [(name, dataset, rep, device, args.quick, args.seed)
            for dataset, rep in DATASETS for name in names for device in devices]
    t0 = time.perf_counter()
    rows = run_jobs(jobs, args.jobs)
    wall = time.perf_counter() - t0
    df = pd.DataFrame(rows).sort_values(["dataset", "estimator", "device"]).reset_index(drop=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / "gpu_check.csv", index=False, float_format="%.6g")
    ok_rows = df[df.get("error").isna()] if "error" in df else df
    table = compare(ok_rows, args.rel_tol) if len(ok_rows) else pd.DataFrame()
    lines = ["# Torch estimators on CUDA beside CPU", "",
             "`python -m studies.gpu_check " + " ".join(argv if argv is not None else sys.argv[1:]) + "`",
             f"split {SPLIT}; datasets {', '.join(f'{d} {r}' for d, r in DATASETS)}; "
             f"{'test_params' if args.quick else 'default parameters'}; relative tolerance {args.rel_tol}.",
             f"{len(jobs)} fits, {args.jobs} at a time (one torch thread each; the CUDA fits shared one device), "
             f"{wall:.0f} s in all; {_machine()}. Seconds are under that load: compare them within a run.", "",
             markdown_table(table) if len(table) else "(no finished fit)", ""]
    if "error" in df and df["error"].notna().any():
        lines += ["Failures:", ""] + [f"- {r.estimator} / {r.dataset} / {r.device}: {r.error}"
                                      for r in df[df["error"].notna()].itertuples()]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    bad = int((~table["ok"]).sum()) if "ok" in table else 0
    failed = int(df["error"].notna().sum()) if "error" in df else 0
    return 1 if (bad or failed) else 0


if __name__ == "__main__":
    raise SystemExit(main())
