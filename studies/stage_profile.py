"""Where the expensive estimators spend their time, by stage, measured through the runner.

Each task (estimator x dataset) runs once through :func:`catebench.benchmark.runner.execute_task`, in this process,
with one thread, under :mod:`cProfile`; the stages are the cumulative seconds of the functions that implement them:

* ``teacher_fit`` / ``teacher_refit``: the diffusion teacher's training (``train_teacher``), split between the
  early-stopped fit and the refit on every fit row in proportion to their optimizer steps (same batch size, so the
  same cost per step), both without ``teacher_es_checks``: the early-stopping validation losses (``fixed_edm_loss``);
* ``warm_start``: the generator's regression on the teacher's Heun draws (``warm_start``, its draws included);
* ``sid_steps``: SiD / KL distillation (``distill``) without the warm start it begins with and without
  ``w1_checks`` (its W1-to-teacher checks, ``check``);
* ``point_prediction``: the runner's ``predict`` (``_predict`` for IWDD); ``dist_sampling``: the runner's draws for
  the distributional metrics (``_sample``); ``prediction_of_which_heun``: the teacher's Heun sampler inside both;
* for other estimators ``fit`` / ``predict`` / ``sample`` as a whole; ``other``: the rest of the task (data,
  metrics, propensity model, pre-processing).

    python -m studies.stage_profile --out results/perf/stages

Writes ``stages.csv`` (one row per task and stage: seconds and share of the task) and ``summary.md``. The
machine's load average is recorded; shares within one task do not depend on it much, absolute seconds do.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import time
from pathlib import Path

import pandas as pd

from catebench.benchmark.config import DatasetSpec, EstimatorSpec, RunConfig
from catebench.benchmark.runner import execute_task, limit_threads
from catebench.benchmark.tasks import plan_tasks

ESTIMATORS = ("diffusion-teacher", "iwdd-rand", "iwdd-ipw", "iwdd-plain", "iwdd-kl", "iwdd-rand-ws", "iwdd-ipw-ws",
              "iwdd-plain-ws", "diffpo", "cfr-wass")
DATASETS = {
    "ihdp": DatasetSpec("ihdp", (1,), "80/20-row-order", {}),
    "acic2016": DatasetSpec("acic2016", (1,), "80/20-row-order", {"source": "causallib", "simulation": "bundled"}),
}
#: stage -> (file suffix, function name) whose cumulative time it is.
FUNCS = {
    "train_teacher": ("iwdd/edm.py", "train_teacher"),
    "teacher_es_checks": ("iwdd/edm.py", "fixed_edm_loss"),
    "warm_start": ("iwdd/distill.py", "warm_start"),
    "distill": ("iwdd/distill.py", "distill"),
    "w1_checks": ("iwdd/distill.py", "check"),
    "iwdd_predict": ("iwdd/estimator.py", "_predict"),
    "iwdd_sample": ("iwdd/estimator.py", "_sample"),
    "teacher_map": ("iwdd/estimator.py", "_teacher_map"),
    "fit": ("estimators/base.py", "fit"),
    "predict": ("estimators/base.py", "predict"),
    "sample": ("estimators/base.py", "sample"),
}


def _cumulative(stats: pstats.Stats) -> dict[str, float]:
    out = dict.fromkeys(FUNCS, 0.0)
    for (filename, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():
        for stage, (suffix, fn) in FUNCS.items():
            if name == fn and filename.replace(os.sep, "/").endswith(suffix):
                out[stage] = max(out[stage], ct)  # recursion is counted once by cProfile's cumulative time
    return out


def profile_task(task) -> tuple[list[dict], dict]:
    """Run ``task`` under cProfile; return its stage rows and its result's diagnostics."""
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    result = execute_task(task)
    prof.disable()
    wall = time.perf_counter() - t0
    if result.status != "ok":
        raise RuntimeError(f"{task.estimator} on {task.dataset} failed: {result.error}")
    c = _cumulative(pstats.Stats(prof))
    m = result.metrics
    stages: dict[str, float] = {}
    if c["train_teacher"] > 0:
        teach = c["train_teacher"] - c["teacher_es_checks"]
        steps, refit = m.get("diag_teacher_steps", 0.0), m.get("diag_teacher_refit_steps", 0.0)
        share = refit / (steps + refit) if steps + refit > 0 else 0.0
        stages.update(teacher_fit=teach * (1 - share), teacher_refit=teach * share,
                      teacher_es_checks=c["teacher_es_checks"])
        stages.update(warm_start=c["warm_start"], sid_steps=max(0.0, c["distill"] - c["w1_checks"] - c["warm_start"]),
                      w1_checks=c["w1_checks"])
        stages.update(point_prediction=c["iwdd_predict"], dist_sampling=c["iwdd_sample"])
        fit_rest = c["fit"] - sum(stages[k] for k in ("teacher_fit", "teacher_refit", "teacher_es_checks",
                                                      "warm_start", "sid_steps", "w1_checks"))
        stages["fit_other"] = max(0.0, fit_rest)
    else:
        stages.update(fit=c["fit"], point_prediction=c["predict"], dist_sampling=c["sample"])
    stages["other"] = max(0.0, wall - sum(stages.values()))
    rows = [{"dataset": task.dataset, "estimator": task.estimator, "stage": k, "seconds": round(v, 3),
             "share": round(v / wall, 4)} for k, v in stages.items()]
    rows.append({"dataset": task.dataset, "estimator": task.estimator, "stage": "task_total", "seconds": round(wall, 3),
                 "share": 1.0})
    if c["train_teacher"] > 0:  # the teacher's Heun sampler inside the runner's predict and sample
        rows.append({"dataset": task.dataset, "estimator": task.estimator, "stage": "prediction_of_which_heun",
                     "seconds": round(c["teacher_map"], 3), "share": round(c["teacher_map"] / wall, 4)})
    diag = {k: m[f"diag_{k}"] for k in ("teacher_steps", "teacher_refit_steps", "distill_steps", "warm_start_steps")
            if f"diag_{k}" in m}
    return rows, diag


def _summary(df: pd.DataFrame, diags: dict, load: tuple, command: str) -> str:
    lines = ["# Stage profile of the expensive estimators", "",
             f"Command: `{command}`. One task per estimator and dataset through the runner's `execute_task`, one "
             f"thread, under cProfile (which adds some overhead to Python-level calls), on {platform.machine()} with "
             f"load average {load[0]:.1f} before the run (other jobs shared the 2 cores; absolute seconds are "
             "inflated by it, shares much less). Stages: see `studies/stage_profile.py`.", ""]
    for ds, g in df.groupby("dataset", sort=False):
        wide = g.pivot_table(index="estimator", columns="stage", values="seconds", aggfunc="first", sort=False)
        total = wide["task_total"]
        lines += [f"## {ds}", "", "Seconds per stage (share of the task in brackets):", ""]
        cols = [c for c in ("teacher_fit", "teacher_es_checks", "teacher_refit", "warm_start", "sid_steps",
                            "w1_checks", "fit_other", "fit", "point_prediction", "dist_sampling",
                            "prediction_of_which_heun", "other") if c in wide and wide[c].notna().any()]
        lines.append("| estimator | total s | " + " | ".join(cols) + " |")
        lines.append("|---|---|" + "---|" * len(cols))
        for e, r in wide.iterrows():
            cells = ["" if pd.isna(r[c]) else f"{r[c]:.1f} ({r[c] / total[e]:.0%})" for c in cols]
            lines.append(f"| {e} | {total[e]:.1f} | " + " | ".join(cells) + " |")
        fam = [e for e in wide.index if e.startswith("iwdd") or e == "diffusion-teacher"]
        if fam:
            teach = wide.loc[fam, [c for c in ("teacher_fit", "teacher_es_checks", "teacher_refit") if c in wide]]
            t = teach.sum(axis=1)
            lines += ["", f"The teacher's training (fit, early-stopping checks, refit) is {t.sum():.0f} of the "
                          f"{total[fam].sum():.0f} s of the {len(fam)} IWDD-family tasks ({t.sum() / total[fam].sum():.0%}); "
                          "every label trains the same teacher again on the same task.",
                      "Diagnostics (steps): " + "; ".join(f"{e}: " + ", ".join(f"{k} {int(v)}" for k, v in
                                                                               diags[ds, e].items())
                                                       for e in fam if (ds, e) in diags) + "."]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m studies.stage_profile", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="results/perf/stages")
    p.add_argument("--estimators", default=",".join(ESTIMATORS))
    p.add_argument("--datasets", default=",".join(DATASETS))
    args = p.parse_args(argv)
    names = [e.strip() for e in args.estimators.split(",") if e.strip()]
    specs = [DATASETS[d.strip()] for d in args.datasets.split(",") if d.strip()]
    cfg = RunConfig(name="stages", seed=0, datasets=specs, estimators=[EstimatorSpec(n) for n in names]).validate()
    limit_threads()
    load = os.getloadavg()
    rows, diags = [], {}
    for task in plan_tasks(cfg):
        r, d = profile_task(task)
        rows += r
        diags[task.dataset, task.estimator] = d
        total = next(x["seconds"] for x in r if x["stage"] == "task_total")
        print(f"{task.dataset} {task.estimator}: {total:.1f} s", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    df = pd.DataFrame(rows)
    df.to_csv(out / "stages.csv", index=False)
    command = "python -m studies.stage_profile" + ("" if argv is None else " " + " ".join(argv))
    (out / "summary.md").write_text(_summary(df, diags, load, command))
    print(f"wrote {out / 'stages.csv'} and {out / 'summary.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
