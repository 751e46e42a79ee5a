"""IWDD on IHDP: the paper's method and our warm-started variant against their teacher and the neural baselines,
accuracy, predictive distributions, the generator's distance to its teacher, and one-step vs Heun sampling speed.

Run (every number in ``results/iwdd_ihdp/summary.md`` comes from this one command)::

    python -m studies.iwdd_ihdp [--replications N] [--resume-from TASKS_CSV ...]

Steps:

1. the config ``benchmark/configs/iwdd_ihdp.toml`` through the runner (store ``results/iwdd_ihdp/store.sqlite``;
   tasks already in the store are not rerun; ``--replications N`` runs only replications 1..N). Its tasks are the
   paper run's IHDP tasks (same keys) plus the IPW-pretrained teacher, so the ``ok`` rows of the paper run's
   committed per-task file (``--resume-from``, default ``results/progress/paper/tasks.csv``) are taken in first
   and only the rest runs. Written: ``tasks.csv`` and ``tasks_params.json`` (every task behind the summary) and
   ``summary.md``: sqrt-PEHE (mean, SE, median) in and out of sample, ATE error, paired Wilcoxon signed-rank tests
   with Holm's correction and win rates on the replications every estimator completed, the distributional metrics,
   and the generator-to-teacher Wasserstein-1 distance, warm-start and SiD steps each IWDD fit recorded;
2. sampling speed: ``iwdd-rand`` fitted on IHDP development replication 101 (no reported table uses it; the
   63/27/10 split); 20 draws of 1000 units with the one-step generator and with the 50-step Heun teacher, side by
   side, one thread, median of ``--speed-repeats`` (:func:`studies.sampling_speed.time_samplers`).

The gradient variance of the IPW and randomized updates is :mod:`studies.iwdd_gradvar`'s (designs, seeds, model
states).
Options: ``--skip-run`` (summarise the store only), ``--reuse-measurements`` (take step 2 from ``speed.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "benchmark" / "configs" / "iwdd_ihdp.toml"
OUT = ROOT / "results" / "iwdd_ihdp"
PAPER_TASKS = Path("results/progress/paper/tasks.csv")
#: (paper method, warm-started variant) pairs, by design
FAMILIES = (("iwdd-rand", "iwdd-rand-ws"), ("iwdd-ipw", "iwdd-ipw-ws"), ("iwdd-plain", "iwdd-plain-ws"))
TEACHER = "diffusion-teacher"
SPEED_REP = 101  # a development replication: no reported table uses it


def run_benchmark(skip_run: bool, replications: int | None, resume_from: list[str] = (),
                  store_path: Path | None = None) -> pd.DataFrame:
    """Run the config (unless ``skip_run``) into ``store_path`` (default: the config's store), after taking in the
    ``ok`` rows of ``resume_from`` whose task keys belong to its plan (the identical tasks: same dataset,
    replication, split, label, parameters and seed), and return its rows."""
    import dataclasses

    from catebench.benchmark.config import load_config
    from catebench.benchmark.runner import import_finished, run
    from catebench.benchmark.store import Store
    from catebench.benchmark.tasks import plan_tasks

    config = load_config(CONFIG)
    if replications is not None:
        config = dataclasses.replace(config, datasets=[dataclasses.replace(d, replications=list(range(1, replications + 1)))
                                                       for d in config.datasets])
    tasks = plan_tasks(config)
    keys = {t.key for t in tasks}
    store = Store(store_path or ROOT / config.store)
    if skip_run:
        for path in resume_from:
            print(f"{import_finished(store, tasks, ROOT / path)} finished tasks taken from {path}")
    else:
        print(run(config, store, resume_from=[ROOT / p for p in resume_from]))
    results = store.results()
    store.close()
    return results[results.key.isin(keys)].sort_values(["replication", "estimator"]).reset_index(drop=True)


def _complete(results: pd.DataFrame) -> tuple[pd.DataFrame, list[int]]:
    """The ok rows of the replications on which every estimator has an ok row."""
    ok = results[results.status == "ok"]
    names = sorted(results.estimator.unique())
    per = ok.groupby("replication").estimator.nunique()
    reps = sorted(per[per == len(names)].index)
    return ok[ok.replication.isin(reps)], reps


def accuracy_table(ok: pd.DataFrame) -> str:
    from catebench.benchmark.report import leaderboard, plus_minus

    board = leaderboard(ok).sort_values("pehe_out_median")
    lines = ["| estimator | sqrt-PEHE out, mean ± SE | median | sqrt-PEHE in, mean ± SE | median | ATE error out | "
             "median fit s | median predict s |", "|---|---|---|---|---|---|---|---|"]
    pred = ok.groupby("estimator")["predict_seconds"].median()
    for r in board.itertuples():
        lines.append(f"| {r.estimator} | {plus_minus(r.pehe_out_mean, r.pehe_out_se)} | {r.pehe_out_median:.3f} | "
                     f"{plus_minus(r.pehe_in_mean, r.pehe_in_se)} | {r.pehe_in_median:.3f} | "
                     f"{plus_minus(r.ate_out_mean, r.ate_out_se)} | {r.fit_seconds_median:.1f} | "
                     f"{pred.get(r.estimator, float('nan')):.2f} |")
    return "\n".join(lines)


def paired_tests(ok: pd.DataFrame, metric: str, focus: set[str], partner: str | None = None) -> str:
    """Wilcoxon-Holm rows (Holm over all pairs of the table) that involve an estimator of ``focus`` (with
    ``partner``: only its pairs with ``partner``), with the win rate of A."""
    from catebench.benchmark.stats import unit_table, wilcoxon_holm
    from catebench.benchmark.winrates import pairwise_winrates

    table = unit_table(ok, metric)
    wh = wilcoxon_holm(table)
    wr = pairwise_winrates(ok, metric)["winrate"]
    lines = [f"| A | B | n | median(A - B) | p (Holm over all {len(wh)} pairs) | significant | better | win rate of A |",
             "|---|---|---|---|---|---|---|---|"]
    for r in wh.itertuples():
        if not ({r.a, r.b} & focus) or (partner is not None and partner not in {r.a, r.b}):
            continue
        lines.append(f"| {r.a} | {r.b} | {r.n} | {r.median_diff:+.3f} | {r.p_holm:.3g} | "
                     f"{'yes' if r.significant else 'no'} | {r.better or '-'} | {wr.loc[r.a, r.b]:.2f} |")
    return "\n".join(lines)


def family_table(ok: pd.DataFrame) -> str:
    """Per design: the paper's method, our warm-started variant and their teacher side by side (medians over
    replications of sqrt-PEHE and W1 to the teacher, means of interval width and coverage, paired comparison
    with the teacher)."""
    pe = ok.pivot_table(index="replication", columns="estimator", values="pehe_out")
    lines = ["| design | estimator | sqrt-PEHE out, median | paired median(est - teacher) | beats the teacher on | "
             "W1 to the teacher, median | width90 out, mean | cov90 out, mean |", "|---|---|---|---|---|---|---|---|"]
    for paper, ws in FAMILIES:
        design = paper.removeprefix("iwdd-")
        for name in (paper, ws, TEACHER):
            if name not in pe:
                continue
            g = ok[ok.estimator == name]
            d = (pe[name] - pe[TEACHER]).dropna()
            cmp = ("-", "-") if name == TEACHER else (f"{d.median():+.3f}", f"{int((d < 0).sum())} of {len(d)}")
            w1 = g["diag_w1_to_teacher"].dropna() if "diag_w1_to_teacher" in g else pd.Series(dtype=float)
            lines.append(f"| {design if name == paper else ''} | {name} | {g.pehe_out.median():.3f} | {cmp[0]} | "
                         f"{cmp[1]} | {f'{w1.median():.3f}' if len(w1) else '-'} | {g.width90_out.mean():.2f} | "
                         f"{g.cov90_out.mean():.3f} |")
    return "\n".join(lines)


def distribution_table(ok: pd.DataFrame) -> str:
    gen = ok[ok["crps_out"].notna()] if "crps_out" in ok else ok.iloc[:0]
    lines = ["| estimator | cov90 out (nominal 0.90) | cov50 out (0.50) | cov90 in | width90 out | CRPS out | W1 to the true law, out |",
             "|---|---|---|---|---|---|---|"]
    for name, g in gen.groupby("estimator"):
        def ms(col):
            v = pd.to_numeric(g[col], errors="coerce").dropna()
            return f"{v.mean():.3f} ± {v.std(ddof=1) / np.sqrt(len(v)):.3f}" if len(v) > 1 else "-"
        lines.append(f"| {name} | {ms('cov90_out')} | {ms('cov50_out')} | {ms('cov90_in')} | {ms('width90_out')} | "
                     f"{ms('crps_out')} | {ms('w1_out')} |")
    return "\n".join(lines)


def generator_table(ok: pd.DataFrame) -> str:
    """What each IWDD fit recorded: W1 to the teacher where SiD started (the teacher's copy, or after the warm
    start) and of the returned generator, warm-start and SiD steps, and the teacher's early-stopping step."""
    lines = ["| estimator | W1 where SiD starts (median) | W1 returned: median | 90th pct | share <= 0.1 | "
             "warm-start steps | SiD steps taken: median (min-max) | SiD step returned (median) | "
             "teacher's best Adam step: median (IQR) |", "|---|---|---|---|---|---|---|---|---|"]
    for name, g in ok.groupby("estimator"):
        if "diag_teacher_best_step" not in g or g["diag_teacher_best_step"].isna().all():
            continue
        bs = g["diag_teacher_best_step"].dropna()
        iqr = f"{bs.median():.0f} ({bs.quantile(0.25):.0f}-{bs.quantile(0.75):.0f})"
        if "diag_w1_to_teacher" in g and g["diag_w1_to_teacher"].notna().any():
            w = g["diag_w1_to_teacher"].dropna()
            steps = g["diag_distill_steps"]
            lines.append(f"| {name} | {g['diag_w1_to_teacher_initial'].median():.3f} | {w.median():.3f} | "
                         f"{w.quantile(0.9):.3f} | {(w <= 0.1).mean():.2f} | {g['diag_warm_start_steps'].median():.0f} | "
                         f"{steps.median():.0f} ({steps.min():.0f}-{steps.max():.0f}) | "
                         f"{g['diag_distill_best_step'].median():.0f} | {iqr} |")
        else:
            lines.append(f"| {name} | - | - | - | - | - | - | - | {iqr} |")
    return "\n".join(lines)


# ---- speed ---------------------------------------------------------------------------------------------------------
def sampling_speed(repeats: int) -> dict:
    """One-step vs Heun sampling (:func:`studies.sampling_speed.time_samplers`) of ``iwdd-rand`` fitted on development
    replication ``SPEED_REP`` (the runner's 63/27/10 split): 20 draws of 1000 units drawn with replacement."""
    from catebench.benchmark.runner import limit_threads, load_task_data
    from catebench.estimators.iwdd import IWDD

    from .sampling_speed import time_samplers

    limit_threads()
    td = load_task_data("ihdp", SPEED_REP)
    est = IWDD(adjustment="rand", device="cpu", random_state=0).fit(*td.fit)
    X = td.data.X[np.random.default_rng(0).integers(0, td.data.n, 1000)]
    return {**time_samplers(est, X, n_draws=20, heun_steps=50, repeats=repeats), "load": os.getloadavg()[0]}


def _load_or_measure(path: Path, reuse: bool, fn):
    if reuse and path.exists():
        return json.loads(path.read_text())
    value = fn()
    path.write_text(json.dumps(value, indent=1))
    return value


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-run", action="store_true")
    ap.add_argument("--replications", type=int, default=None, help="run only replications 1..N of the config")
    ap.add_argument("--resume-from", action="append", default=None, metavar="TASKS_CSV",
                    help=f"take the finished identical tasks of this per-task file first (default: {PAPER_TASKS})")
    ap.add_argument("--out", type=Path, default=OUT, help=f"output folder (default {OUT.relative_to(ROOT)}; a "
                    "--replications subset must write elsewhere); its store.sqlite is the run's store")
    ap.add_argument("--speed-repeats", type=int, default=3)
    ap.add_argument("--reuse-measurements", action="store_true",
                    help="read speed.json written by an earlier run instead of measuring")
    args = ap.parse_args(argv)
    resume = args.resume_from if args.resume_from is not None else [str(PAPER_TASKS)]
    out = args.out.resolve()
    if args.replications is not None and out == OUT:
        raise SystemExit(f"--replications {args.replications} is a subset: pass --out DIR, so that it does not write "
                         f"over the committed {OUT.relative_to(ROOT)}.")
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    speed = _load_or_measure(out / "speed.json", args.reuse_measurements, lambda: sampling_speed(args.speed_repeats))
    results = run_benchmark(args.skip_run, args.replications, resume, out / "store.sqlite")
    from catebench.benchmark.taskfile import with_digests, write_tasks

    write_tasks(with_digests(results, out / "store.sqlite"), out)
    ok, reps = _complete(results)
    n_est = results.estimator.nunique()
    command = ("python -m studies.iwdd_ihdp" + (f" --replications {args.replications}" if args.replications else "")
               + "".join(f" --resume-from {p}" for p in (args.resume_from or []))
               + (f" --out {args.out}" if out != OUT else "") + (" --reuse-measurements" if args.reuse_measurements else ""))
    ws = [w for _, w in FAMILIES]
    md = f"""# IWDD on IHDP: the paper's method, our warm-started variant and their teacher

Generated by `{command}`
({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.machine()}, {os.cpu_count()} cores, torch
{torch.__version__}, one torch thread per process). Every number below is recomputable from `tasks.csv` and
`tasks_params.json` beside this file (every task behind the tables) and `speed.json`.

Config `benchmark/configs/iwdd_ihdp.toml`: IHDP (offline NPCI setting A draws) replications
{reps[0] if reps else '-'}-{reps[-1] if reps else '-'}, split 80/20-row-order as the IWDD paper (the test rows are
the last 149 of 747), every estimator at its registered defaults. These are the tasks (same keys) of `catebench
paper`'s IHDP family, taken from its per-task file ({', '.join(f'`{p}`' for p in resume)}); only
`diffusion-teacher-ipw` (the teacher with stabilised inverse-propensity weights on its denoising loss) ran for
this study. **{len(reps)} replications** on which all {n_est} estimators finished are summarised ({len(results)}
tasks, {int((results.status != 'ok').sum())} not ok).

* **The paper's method** (`iwdd-rand`, `iwdd-ipw`, `iwdd-plain`, and the KL ablation `iwdd-kl`): the teacher,
  then SiD (or DMD's KL) from the teacher's copy, no warm start.
* **Our warm-started variant** (`{'`, `'.join(ws)}`): the same teacher; the generator is first regressed on the
  teacher's own (latent, Heun draw) pairs, then SiD runs while the W1 distance to the teacher exceeds the
  tolerance and keeps its best state.
* **The teachers**: `diffusion-teacher` as registered (the one every IWDD label distils; its 50-step Heun sampler
  predicts), `diffusion-teacher-ipw` and `diffusion-teacher-release` (the authors' release schedule, 2000 epochs).

SiD's objective is minimised, at every condition (x, z), by the teacher's law at that condition, whatever design
over conditions drives it: observed pairs (`plain`), IPW-weighted pairs (`ipw`) or shuffled x with z ~
Bernoulli(p) (`rand`). The design decides where a finite student spends its error, not what it converges to, and
the outcomes reach the student only through the teacher. The tables measure what that means in practice.

## The two families against their teacher (out of sample, {len(reps)} replications)

{family_table(ok)}

"Beats the teacher on" counts the replications where the estimator's sqrt-PEHE is below the teacher's. Width and
coverage are those of the central 90 % predictive interval (nominal 0.90), below.

## Accuracy (sqrt-PEHE against the noiseless surfaces; sorted by the out-of-sample median)

{accuracy_table(ok)}

Fit seconds of IWDD tasks that loaded the replication's shared teacher (the paper run's teacher cache) exclude the
teacher's training; the teacher's own row has it.

## Paired tests, out-of-sample sqrt-PEHE

Wilcoxon signed-rank tests, Holm-corrected over all pairs; win rate = share of replications on which A's error
is lower (ties half). Rows involving `iwdd-rand` or `iwdd-rand-ws`:

{paired_tests(ok, 'pehe_out', {'iwdd-rand', 'iwdd-rand-ws'})}

In-sample, each IWDD label against its teacher:

{paired_tests(ok, 'pehe_in', {p for p, _ in FAMILIES} | set(ws) | {'iwdd-kl'}, partner=TEACHER)}

## Predictive distributions (generative estimators; mean ± SE over replications)

Coverage of the central 90 % / 50 % predictive intervals of Y(0) and Y(1) (both arms pooled) against the noisy
potential outcomes, from 32 draws per unit and arm; out of sample on the test rows, in sample on 128 fit rows per
replication. W1 = mean per-unit Wasserstein-1 distance of the draws to the true law N(mu_z(x), 1); 32 draws from
the true law itself would score about 0.22.

{distribution_table(ok)}

## The generator against its teacher (held-out fit rows; outcome standard deviations)

Per-unit Wasserstein-1 distance between generator and teacher draws (50-step Heun) on up to 32 validation units,
both arms, 32 stratified latent quantiles each, as recorded by each fit. "Where SiD starts" is the teacher's copy
for the paper's method and the state after the warm start for ours; SiD runs while the distance exceeds
`distill_tol` and returns its best state, so a warm-started fit may take no SiD step, and a paper-method fit
that took none would be a defect of the set-up.

{generator_table(ok)}

## Sampling speed (development replication {SPEED_REP}; {speed['units']} units x {speed['draws']} draws; one thread; alternately, median of {len(speed['one_step'])}; load average {speed.get('load', load_before[0]):.1f})

| sampler | network calls per draw | seconds (median) | all repeats |
|---|---|---|---|
| one-step generator (`iwdd-rand`) | 1 | {statistics.median(speed['one_step']):.3f} | {', '.join(f'{v:.3f}' for v in speed['one_step'])} |
| Heun teacher, 50 steps | 99 | {statistics.median(speed['heun']):.2f} | {', '.join(f'{v:.2f}' for v in speed['heun'])} |

One-step speed-up: **{speed['ratio']:.1f}x** (ceiling about 99x). The machine was shared with other jobs: only the
ratio, measured side by side, is comparable.

## Elsewhere

* Gradient variance of the IPW and randomized updates over designs, seeds and model states, and what it does to
  the result: [`results/iwdd_gradvar/summary.md`](../iwdd_gradvar/summary.md).
* Where each IWDD fit spends its time, stage by stage: [`results/perf/stages/`](../perf/stages/).
* The release-schedule teacher on the runner's split, with factual RMSE and predictive sd:
  [`results/iwdd_teacher_recipe/summary.md`](../iwdd_teacher_recipe/summary.md).
"""
    (out / "summary.md").write_text(md)
    print(md)
    print(f"wrote {out / 'summary.md'}")


if __name__ == "__main__":
    main()
