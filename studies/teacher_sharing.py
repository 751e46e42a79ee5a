"""What sharing the diffusion teacher saves: the IWDD family on one task, with and without ``--teacher-cache``.

Both runs use the inline executor (one process, one thread) and fresh stores, one after the other, repeated with
the order alternating so that both see the same machine load; reported are the wall seconds of each run, their
ratio, and whether every stored metric is equal (it must be: the shared teacher is bit-identical).

    python -m studies.teacher_sharing --out results/perf/teacher_sharing
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from catebench.benchmark.config import EstimatorSpec, RunConfig
from catebench.benchmark.runner import run
from catebench.benchmark.store import Store
from studies.stage_profile import DATASETS  # the same two tasks as the stage profile

FAMILY = ("diffusion-teacher", "iwdd-rand", "iwdd-ipw", "iwdd-plain", "iwdd-kl", "iwdd-rand-ws", "iwdd-ipw-ws",
          "iwdd-plain-ws")


def one_run(dataset: str, shared: bool, work: Path) -> tuple[float, pd.DataFrame]:
    store = work / f"{dataset}-{'shared' if shared else 'plain'}-{time.monotonic_ns()}.sqlite"
    cfg = RunConfig(name="sharing", seed=0, executor="inline", store=str(store), datasets=[DATASETS[dataset]],
                    estimators=[EstimatorSpec(e) for e in FAMILY]).validate()  # fmt: skip
    cache = work / f"teachers-{time.monotonic_ns()}" if shared else None
    t0 = time.perf_counter()
    summary = run(cfg, progress=False, teacher_cache=cache)
    wall = time.perf_counter() - t0
    if summary.ok != len(FAMILY):
        raise RuntimeError(f"{dataset}: {summary}")
    s = Store(store, readonly=True)
    try:
        res = s.results().set_index("estimator").sort_index()
    finally:
        s.close()
    if cache is not None:
        shutil.rmtree(cache, ignore_errors=True)
    return wall, res


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m studies.teacher_sharing", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="results/perf/teacher_sharing")
    p.add_argument("--datasets", default="ihdp,acic2016")
    p.add_argument("--repeats", type=int, default=1)
    args = p.parse_args(argv)
    rows, equal = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for ds in [d.strip() for d in args.datasets.split(",") if d.strip()]:
            for rep in range(args.repeats):
                got = {}
                for shared in ((False, True) if rep % 2 == 0 else (True, False)):
                    load = os.getloadavg()[0]
                    wall, res = one_run(ds, shared, Path(tmp))
                    got[shared] = res
                    rows.append({"dataset": ds, "repeat": rep, "shared": shared, "wall_s": round(wall, 2),
                                 "load_avg_1min": round(load, 2),
                                 "loaded_teachers": int(res.get("diag_teacher_from_cache", pd.Series()).fillna(0).sum())})
                    print(rows[-1], flush=True)
                metrics = [c for c in got[False].columns if c.startswith(("pehe", "ate", "rmse", "crps", "w1",
                                                                         "coverage"))]
                equal[ds, rep] = bool(got[False][metrics].equals(got[True][metrics]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    df.to_csv(out / "timings.csv", index=False)
    lines = ["# Sharing the diffusion teacher across the IWDD family", "",
             f"Command: `python -m studies.teacher_sharing{'' if argv is None else ' ' + ' '.join(argv)}`. The "
             f"{len(FAMILY)} IWDD-family labels ({', '.join(FAMILY)}) on one task, inline executor, one thread, "
             "fresh stores; without and with the shared teacher, one after the other (order alternating over "
             "repeats).", "",
             "| dataset | wall without (s) | wall with (s) | ratio with / without | teachers loaded | metrics equal |",
             "|---|---|---|---|---|---|"]
    for ds, g in df.groupby("dataset", sort=False):
        a = statistics.median(g.loc[~g["shared"], "wall_s"])
        b = statistics.median(g.loc[g["shared"], "wall_s"])
        loaded = int(g.loc[g["shared"], "loaded_teachers"].max())
        same = all(v for (d, _r), v in equal.items() if d == ds)
        lines.append(f"| {ds} | {a:.1f} | {b:.1f} | {b / a:.2f} | {loaded} of {len(FAMILY)} | {same} |")
    lines += ["", "Load average (1 min) before each run: " + ", ".join(f"{x:.1f}" for x in df["load_avg_1min"]) + "."]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print((out / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
