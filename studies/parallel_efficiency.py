"""Parallel efficiency of the local executor: 2 worker processes vs 1 on a CPU-bound leaderboard.

The leaderboard: gradient-boosting T- and S-learners (causalml, scikit-learn ``HistGradientBoostingRegressor``,
one thread per task) on IHDP replications 1..R. Each repeat runs the whole leaderboard into a fresh store with
``n_jobs=1`` and then with ``n_jobs=2`` (alternating, so slow drifts in machine load hit both alike); the wall
time of :func:`catebench.benchmark.runner.run` includes starting the workers. Reported: the median wall time of each, the
speed-up ``T1 / T2`` and the parallel efficiency ``T1 / (2 T2)``, the same for the steady-state throughput
(first to last result, leaving out start-up), and the 1-minute load average seen before each
repeat. The two runs must give bit-identical metrics (checked).

Run::

    python -m studies.parallel_efficiency --replications 8 --repeats 3

writes ``results/parallel_efficiency/summary.md`` and ``timings.csv``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["leaderboard_config", "time_run", "main"]


DEFAULT_ESTIMATORS = ("t-learner", "s-learner")


def leaderboard_config(replications: int, store: str, n_jobs: int, estimators=DEFAULT_ESTIMATORS):
    from catebench.benchmark.config import config_from_dict

    return config_from_dict({
        "name": f"parallel-efficiency-{n_jobs}", "seed": 0, "n_jobs": n_jobs, "executor": "local", "store": store,
        "datasets": [{"name": "ihdp", "replications": replications}],
        "estimators": [{"name": e} for e in estimators],
    })  # fmt: skip


def time_run(config) -> tuple[float, float, "object"]:
    """Wall seconds of one run into the config's (fresh) store, its steady-state throughput, and the results.

    The throughput is ``(n - 1) / (time of the last result - time of the first result)`` tasks per second: it leaves
    out the start-up (interpreter and worker imports), which dominates short runs on a loaded machine.
    """
    from catebench.benchmark.runner import run
    from catebench.benchmark.store import Store

    stamps: list[float] = []
    t0 = time.perf_counter()
    summary = run(config, progress=False, on_result=lambda task, result: stamps.append(time.perf_counter()))
    wall = time.perf_counter() - t0
    if summary.failed or summary.skipped:
        raise RuntimeError(f"the timing run was not clean: {summary}")
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else float("nan")
    return wall, rate, Store(config.store).results()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replications", type=int, default=8, help="IHDP replications (default 8; 2 tasks each)")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats of each setting (default 3)")
    ap.add_argument("--out", default="results/parallel_efficiency", help="output folder")
    ap.add_argument("--estimators", default=",".join(DEFAULT_ESTIMATORS), help="comma-separated estimator names")
    args = ap.parse_args(argv)
    estimators = tuple(e.strip() for e in args.estimators.split(",") if e.strip())
    import pandas as pd

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, frames = [], {}
    with tempfile.TemporaryDirectory(prefix="catebench-pe-") as tmp:
        for rep in range(args.repeats):
            for n_jobs in (1, 2):
                cfg = leaderboard_config(args.replications, str(Path(tmp) / f"r{rep}-j{n_jobs}.sqlite"), n_jobs,
                                         estimators)
                load = os.getloadavg()[0]
                wall, rate, df = time_run(cfg)
                frames[(rep, n_jobs)] = df
                rows.append({"repeat": rep + 1, "n_jobs": n_jobs, "wall_s": round(wall, 3), "tasks": len(df),
                             "steady_tasks_per_s": round(rate, 4),
                             "sum_fit_s": round(float(df["fit_seconds"].sum()), 3), "load_avg_1min": load})  # fmt: skip
                print(rows[-1], flush=True)
    t = pd.DataFrame(rows)
    t.to_csv(out / "timings.csv", index=False)
    metric_cols = ["key", "pehe_out", "pehe_in", "ate_out"]
    ref = frames[(0, 1)][metric_cols].sort_values("key").reset_index(drop=True)
    identical = all(f[metric_cols].sort_values("key").reset_index(drop=True).equals(ref) for f in frames.values())
    t1 = float(t.loc[t.n_jobs == 1, "wall_s"].median())
    t2 = float(t.loc[t.n_jobs == 2, "wall_s"].median())
    speedup = t1 / t2
    r1 = float(t.loc[t.n_jobs == 1, "steady_tasks_per_s"].median())
    r2 = float(t.loc[t.n_jobs == 2, "steady_tasks_per_s"].median())
    lines = [
        "# Parallel efficiency: 2 local workers vs 1",
        "",
        f"Command: `python -m studies.parallel_efficiency --replications {args.replications} "
        f"--repeats {args.repeats} --estimators {','.join(estimators)}`",
        "",
        f"Leaderboard: {', '.join(estimators)} (one thread per task) on IHDP replications "
        f"1-{args.replications} ({len(ref)} tasks), local executor, fresh store each run; wall time of `run()` "
        "including worker start-up; n_jobs=1 and n_jobs=2 alternate within each repeat.",
        "",
        "| workers | median wall (s) | runs (s) |",
        "|---|---|---|",
        f"| 1 | {t1:.1f} | {', '.join(f'{v:.1f}' for v in t.loc[t.n_jobs == 1, 'wall_s'])} |",
        f"| 2 | {t2:.1f} | {', '.join(f'{v:.1f}' for v in t.loc[t.n_jobs == 2, 'wall_s'])} |",
        "",
        f"**Speed-up T1/T2 = {speedup:.2f}; parallel efficiency T1/(2 T2) = {speedup / 2:.2f}** (whole run).",
        "",
        f"Steady state (first to last result, start-up left out): median {r1:.3f} tasks/s with 1 worker, {r2:.3f} "
        f"with 2; speed-up {r2 / r1:.2f}, efficiency {r2 / (2 * r1):.2f}.",
        "",
        f"Metrics identical across all runs (task by task): {identical}.",
        f"1-minute load average before the runs: {', '.join(f'{v:.1f}' for v in t['load_avg_1min'])} "
        + (f"(the machine has {os.cpu_count()} cores and other jobs were running, so these timings are noisy; "
           "rerun the command on a quiet machine to re-measure)."
           if t["load_avg_1min"].max() > 1.5 else f"(the machine has {os.cpu_count()} cores and was otherwise idle).")
    ]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
