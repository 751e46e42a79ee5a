"""IWDD on IHDP: accuracy against its teacher and the neural baselines, distributional metrics, the generator's
distance to its teacher, one-step vs Heun sampling speed, fit time against an earlier commit, and the gradient
variance of the IPW and randomized distillation updates.

Run (every number in ``results/iwdd_ihdp/summary.md`` comes from this one command)::

    python -m studies.iwdd_ihdp [--replications N]

Steps:

1. the config ``benchmark/configs/iwdd_ihdp.toml`` through the runner (store ``results/iwdd_ihdp/store.sqlite``;
   tasks already in the store are not rerun; ``--replications N`` runs only replications 1..N): sqrt-PEHE (mean,
   SE, median) in and out of sample, ATE error, paired Wilcoxon signed-rank tests with Holm's correction and
   pairwise win rates on the replications every estimator completed, the distributional metrics, and the
   generator-to-teacher Wasserstein-1 distance and early-stopping steps each IWDD fit recorded (``diag_*``);
2. sampling speed: ``iwdd-rand`` fitted on IHDP development replication 101 (63/27/10 split); 20 draws of 1000
   units with the one-step generator and with the 50-step Heun teacher, side by side, one thread, median of
   ``--speed-repeats`` (:func:`studies.sampling_speed.time_samplers`);
3. fit + predict time of ``iwdd-rand`` against the commit ``--baseline-commit`` (default: the commit the committed
   ``fittime.json`` records), both in fresh processes on the same replication, one thread, alternately, median of
   ``--speed-repeats`` (wall and CPU seconds);
4. gradient variance: on a confounded synthetic design, a teacher is fitted and distilled briefly (plain SiD);
   at that fixed state the generator's gradient is computed on ``--grad-batches`` minibatches with IPW weights
   and with randomized conditions; reported is the total variance (trace of the covariance) of each, and their
   ratio.

Options: ``--skip-run`` (summarise the store only), ``--reuse-measurements`` (take steps 2-4 from the JSON files
an earlier run wrote), ``--measure-only`` (steps 2-4 only). The committed summary was made in two commands,
``--measure-only`` while the runner's tasks ran elsewhere, then ``--reuse-measurements`` (see its header).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "benchmark" / "configs" / "iwdd_ihdp.toml"
OUT = ROOT / "results" / "iwdd_ihdp"
IWDD_VARIANTS = ("iwdd-rand", "iwdd-ipw", "iwdd-plain")
SPEED_REP = 101  # a development replication: no reported table uses it


def run_benchmark(skip_run: bool, replications: int | None, extra_stores: list[str] = ()) -> pd.DataFrame:
    """Run the config (unless ``skip_run``) and return its rows; rows of ``extra_stores`` whose task keys belong to
    the config's plan (same dataset, replication, label, parameters and seed: the identical task) are merged in, so
    that a store made by another config with the same tasks (e.g. the default board) need not be recomputed."""
    import dataclasses

    from catebench.benchmark.config import load_config
    from catebench.benchmark.runner import run
    from catebench.benchmark.store import Store
    from catebench.benchmark.tasks import plan_tasks

    config = load_config(CONFIG)
    if replications is not None:
        config = dataclasses.replace(config, datasets=[dataclasses.replace(d, replications=list(range(1, replications + 1)))
                                                       for d in config.datasets])
    keys = sorted(t.key for t in plan_tasks(config))
    store_path = ROOT / config.store
    Store(store_path).close()  # create it with the schema
    for extra in extra_stores:
        print(f"{_import_identical(store_path, Path(extra), keys)} identical ok tasks taken from {extra}")
    store = Store(store_path)
    if not skip_run:
        print(run(config, store))
    results = store.results()
    return results[results.key.isin(set(keys))].sort_values(["replication", "estimator"]).reset_index(drop=True)


def _import_identical(store_path: Path, extra: Path, keys: list[str]) -> int:
    """Copy the ok rows (and predictions) of ``extra`` whose task keys are in ``keys`` into the store at
    ``store_path``, unless already there. A key hashes everything that determines a task's result (dataset,
    replication, split, label, estimator parameters, seed, catebench version), so these are the same tasks."""
    import sqlite3

    if not extra.exists():
        raise FileNotFoundError(f"--extra-store {extra} does not exist.")
    con = sqlite3.connect(store_path, isolation_level=None, uri=True)
    try:
        con.execute("ATTACH DATABASE ? AS x", (f"file:{extra}?mode=ro",))
        con.execute("CREATE TEMP TABLE want (key TEXT PRIMARY KEY)")
        con.executemany("INSERT INTO want VALUES (?)", [(k,) for k in keys])
        con.execute("BEGIN IMMEDIATE")
        n = con.execute("INSERT OR IGNORE INTO main.results SELECT r.* FROM x.results r JOIN want w ON r.key = w.key "
                        "WHERE r.status = 'ok'").rowcount
        con.execute("INSERT OR IGNORE INTO main.predictions SELECT p.* FROM x.predictions p "
                    "JOIN main.results r ON p.key = r.key JOIN want w ON p.key = w.key")
        con.execute("COMMIT")
    finally:
        con.close()
    return n


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


def paired_tests(ok: pd.DataFrame, metric: str) -> str:
    """Wilcoxon-Holm rows that involve iwdd-rand or compare the IWDD variants and teachers, and win rates."""
    from catebench.benchmark.stats import unit_table, wilcoxon_holm
    from catebench.benchmark.winrates import pairwise_winrates

    table = unit_table(ok, metric)
    wh = wilcoxon_holm(table)
    wr = pairwise_winrates(ok, metric)["winrate"]
    focus = {"iwdd-rand", "diffusion-teacher"}
    lines = [f"| A | B | n | median(A - B) | p (Holm over all {len(wh)} pairs) | significant | better | win rate of A |",
             "|---|---|---|---|---|---|---|---|"]
    for r in wh.itertuples():
        if not ({r.a, r.b} & focus):
            continue
        lines.append(f"| {r.a} | {r.b} | {r.n} | {r.median_diff:+.3f} | {r.p_holm:.3g} | "
                     f"{'yes' if r.significant else 'no'} | {r.better or '-'} | {wr.loc[r.a, r.b]:.2f} |")
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
    lines = ["| estimator | W1 generator-teacher: median | 90th pct | max | share <= 0.1 | W1 before SiD, after the warm start (median) "
             "| SiD steps taken (median) | teacher's best step (median, IQR) |", "|---|---|---|---|---|---|---|---|"]
    for name, g in ok.groupby("estimator"):
        if "diag_teacher_best_step" not in g or g["diag_teacher_best_step"].isna().all():
            continue
        bs = g["diag_teacher_best_step"].dropna()
        iqr = f"{bs.median():.0f} ({bs.quantile(0.25):.0f}-{bs.quantile(0.75):.0f})"
        if "diag_w1_to_teacher" in g and g["diag_w1_to_teacher"].notna().any():
            w = g["diag_w1_to_teacher"].dropna()
            lines.append(f"| {name} | {w.median():.3f} | {w.quantile(0.9):.3f} | {w.max():.3f} | {(w <= 0.1).mean():.2f} | "
                         f"{g['diag_w1_to_teacher_initial'].median():.3f} | {g['diag_distill_steps'].median():.0f} | {iqr} |")
        else:
            lines.append(f"| {name} | - | - | - | - | - | - | {iqr} |")
    return "\n".join(lines)


# ---- speed ---------------------------------------------------------------------------------------------------------
# The catebench imports of this module stay inside its functions: the fit-time child process (below) must import the
# IWDD of another source tree, which an already imported catebench would shadow.
def sampling_speed(repeats: int) -> dict:
    """One-step vs Heun sampling (:func:`studies.sampling_speed.time_samplers`) of ``iwdd-rand`` fitted on development
    replication ``SPEED_REP`` (the runner's 63/27/10 split): 20 draws of 1000 units drawn with replacement."""
    from catebench.benchmark.runner import limit_threads, load_task_data
    from catebench.estimators.iwdd import IWDD

    from .sampling_speed import time_samplers

    limit_threads()
    td = load_task_data("ihdp", SPEED_REP)
    est = IWDD(device="cpu", random_state=0).fit(*td.fit)
    X = td.data.X[np.random.default_rng(0).integers(0, td.data.n, 1000)]
    return {**time_samplers(est, X, n_draws=20, heun_steps=50, repeats=repeats), "load": os.getloadavg()[0]}


def _tree_imports(tree: Path, tmp: Path) -> tuple[str, str]:
    """How a child process imports the code of source tree ``tree``: (a folder to put first on its path, the module
    prefix). A tree with the catebench namespace (``package-dir`` in its pyproject) gets a folder of links
    ``catebench/{benchmark,estimators,datasets}``; an older tree imports its top-level packages."""
    if '"catebench.benchmark"' in (tree / "pyproject.toml").read_text():
        ns = tmp / f"ns-{tree.name}" / "catebench"
        ns.mkdir(parents=True, exist_ok=True)
        for name in ("benchmark", "estimators", "datasets"):
            if not (ns / name).exists():
                (ns / name).symlink_to(tree / name, target_is_directory=True)
        return str(ns.parent), "catebench."
    return str(tree), ""


def fit_time_child(import_root: str, prefix: str, rep: int) -> dict:
    """Wall and CPU seconds of ``iwdd-rand`` (registered defaults) fit on IHDP replication ``rep`` (63/27/10 fit rows)
    and predict on all rows, one thread, with the code found under ``import_root`` (modules ``prefix + "estimators"``
    etc.). Runs in a fresh process (``--fit-time-child``) that imported no catebench module before."""
    import importlib

    from threadpoolctl import threadpool_limits

    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in str(getattr(f, "__module__", ""))
                        and "__editable__" not in getattr(type(f), "__module__", "")]
    sys.path.insert(0, import_root)
    torch.set_num_threads(1)
    threadpool_limits(1)
    iw = importlib.import_module(prefix + "estimators.iwdd")
    if not iw.__file__.startswith(import_root):
        raise RuntimeError(f"imported {iw.__file__}, not the tree under {import_root}")
    base = importlib.import_module(prefix + "datasets.base")
    splits = importlib.import_module(prefix + "datasets.splits")
    IHDP = importlib.import_module(prefix + "datasets.ihdp").IHDP
    data = IHDP().load(rep)
    seed = base.derive_seed("split", "ihdp", IHDP.version, base.canonical_json(IHDP().get_params(deep=False)), rep)
    fit, _ = splits.split_indices(data.n, splits.get_split("63/27/10"), seed)
    est = iw.IWDD(adjustment="rand", device="cpu", random_state=0)
    w0, c0 = time.perf_counter(), time.process_time()
    est.fit(data.X[fit], data.t[fit], data.y[fit])
    est.predict(data.X)
    return {"wall": time.perf_counter() - w0, "cpu": time.process_time() - c0}


def fit_time_vs_commit(commit: str, repeats: int, rep: int = 1) -> dict:
    """iwdd-rand fit + predict (all 747 rows) at ``commit`` and at the working tree, alternately, each in a fresh
    process (:func:`fit_time_child`)."""
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
        out: dict = {"commit": commit, "replication": rep, "old": [], "new": []}
        sides = (("old", _tree_imports(old, Path(tmp))), ("new", _tree_imports(ROOT, Path(tmp))))
        for _ in range(repeats):
            for side, (import_root, prefix) in sides:
                res = subprocess.run([sys.executable, "-m", "studies.iwdd_ihdp", "--fit-time-child", import_root,
                                      prefix, str(rep)], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
                out[side].append(json.loads(res.stdout.strip().splitlines()[-1]))
    for k in ("wall", "cpu"):
        out[f"ratio_{k}"] = (statistics.median(r[k] for r in out["new"]) / statistics.median(r[k] for r in out["old"]))
    return out


def _baseline_commit(given: str | None) -> str:
    """The commit the fit time is compared with: ``--baseline-commit``, else the one the committed ``fittime.json``
    records."""
    if given:
        return given
    path = OUT / "fittime.json"
    if path.exists():
        return json.loads(path.read_text())["commit"]
    raise SystemExit(f"--baseline-commit COMMIT is needed: {path} does not record a commit to compare with.")


# ---- gradient variance --------------------------------------------------------------------------------------------
def _confounded(n: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    e = 1 / (1 + np.exp(-2.5 * X[:, 0]))
    t = (rng.uniform(size=n) < e).astype(float)
    mu0 = X[:, 0] + 0.5 * X[:, 1] ** 2
    mu1 = mu0 + 1.0 + np.sin(2 * X[:, 1])
    y = np.where(t == 1, mu1, mu0) + 0.3 * rng.normal(size=n)
    return X, t, y


def generator_gradients(n_batches: int, quick: bool = False) -> tuple[dict[str, np.ndarray], dict]:
    """SiD generator gradients with explicit IPW weights and with randomized conditions, at the end of distillation.

    An ``iwdd-ipw`` fit (the paper's method: SiD from the teacher, no warm start) on the confounded synthetic design
    (n = 2000, d = 5; ``quick``: n = 400 and test-sized networks), then :meth:`IWDD.generator_gradients
    <catebench.estimators.iwdd.IWDD.generator_gradients>` at the step the fit ended on: ``n_batches`` minibatch
    gradients per design, on the code path the estimator trains with. ``studies.iwdd_gradvar`` measures the same
    over designs, seeds and model states.

    Returns
    -------
    grads : {"ipw", "rand"} -> (n_batches, n_params) float64 array
    meta : dict with ``step`` (the state's SiD step), ``n`` and ``d``
    """
    from catebench.estimators.iwdd import IWDD

    n, d = (400, 5) if quick else (2000, 5)
    X, t, y = _confounded(n, d, 0)
    params = ({**IWDD.test_params(), "adjustment": "ipw"} if quick else
              {"adjustment": "ipw", "width": 64, "n_blocks": 2})
    est = IWDD(**{**params, "device": "cpu", "random_state": 0}).fit(X, t, y)
    step = max(1, int(est.diagnostics_["distill_steps"]))
    grads = est.generator_gradients(X, t, at_steps=(step,), n_batches=n_batches, adjustments=("ipw", "rand"))
    return ({adj: grads[(adj, step)].astype(np.float64) for adj in ("ipw", "rand")},
            {"step": step, "n": n, "d": d})


def gradient_variance(n_batches: int) -> dict:
    """Total variance (trace of the covariance across minibatches) of each variant's gradient, and their ratio."""
    grads, meta = generator_gradients(n_batches)
    out = {adj: {"total_var": float(g.var(axis=0, ddof=1).sum()), "mean_norm": float(np.linalg.norm(g.mean(0)))}
           for adj, g in grads.items()}
    out["ratio_ipw_over_rand"] = out["ipw"]["total_var"] / out["rand"]["total_var"]
    out["step"] = meta["step"]
    out["n_batches"] = n_batches
    return out


def _load_or_measure(name: str, reuse: bool, fn):
    path = OUT / f"{name}.json"
    if reuse and path.exists():
        return json.loads(path.read_text())
    value = fn()
    path.write_text(json.dumps(value, indent=1))
    return value


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-run", action="store_true")
    ap.add_argument("--replications", type=int, default=None, help="run only replications 1..N of the config")
    ap.add_argument("--speed-repeats", type=int, default=3)
    ap.add_argument("--grad-batches", type=int, default=200)
    ap.add_argument("--baseline-commit", help="the commit whose fit time is compared (default: the one "
                                              "results/iwdd_ihdp/fittime.json records)")
    ap.add_argument("--fit-time-child", nargs=3, metavar=("IMPORT_ROOT", "PREFIX", "REP"), help=argparse.SUPPRESS)
    ap.add_argument("--reuse-measurements", action="store_true",
                    help="read speed.json / fittime.json / gradvar.json written by an earlier run instead of measuring")
    ap.add_argument("--extra-store", action="append", default=[],
                    help="also take the identical tasks (same keys) from this store, e.g. the default board's")
    ap.add_argument("--measure-only", action="store_true",
                    help="only take the measurements of steps 2-4 (write their JSON files); no run, no summary")
    args = ap.parse_args(argv)
    if args.fit_time_child:
        import_root, prefix, rep = args.fit_time_child
        print(json.dumps(fit_time_child(import_root, prefix, int(rep))))
        return
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    speed = _load_or_measure("speed", args.reuse_measurements, lambda: sampling_speed(args.speed_repeats))
    fit = _load_or_measure("fittime", args.reuse_measurements,
                           lambda: fit_time_vs_commit(_baseline_commit(args.baseline_commit), args.speed_repeats))
    gv = _load_or_measure("gradvar", args.reuse_measurements, lambda: gradient_variance(args.grad_batches))
    if args.measure_only:
        return
    results = run_benchmark(args.skip_run, args.replications, args.extra_store)
    ok, reps = _complete(results)
    n_est = results.estimator.nunique()
    by = ok.groupby("estimator")
    rand = ok[ok.estimator == "iwdd-rand"]
    md = f"""# IWDD on IHDP

Generated by `python -m studies.iwdd_ihdp{' --replications ' + str(args.replications) if args.replications else ''}{''.join(' --extra-store ' + p for p in args.extra_store)}{' --reuse-measurements' if args.reuse_measurements else ''}`
({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {platform.machine()}, {os.cpu_count()} cores, torch
{torch.__version__}, one torch thread per process; load average {speed.get('load', load_before[0]):.1f} when the speed measurements began: the
machine was shared with other jobs, so absolute times are upper bounds and only the ratios measured side by side
are comparable).

Config `benchmark/configs/iwdd_ihdp.toml` (store `results/iwdd_ihdp/store.sqlite`): every estimator at its
registered defaults; split 63/27/10 (out-of-sample = the 10 % test rows, 75 units). `diffusion-teacher-ipw` is the
teacher with importance-weighted pretraining (stabilised inverse-propensity weights on its denoising loss).
**{len(reps)} replications** on which all {n_est} estimators finished are summarised
({len(results)} tasks in the store, {int((results.status != 'ok').sum())} not ok).

## What the adjustments can and cannot change

SiD's objective is minimised, at every condition (x, z), by the teacher's law at that condition, whatever design
over conditions drives it: observed pairs (`iwdd-plain`), IPW-weighted pairs (`iwdd-ipw`) or shuffled x with
z ~ Bernoulli(p) (`iwdd-rand`). The adjustment decides where a finite student spends its error, not what it
converges to, and the outcomes reach the student only through the teacher. So the three variants are expected to
coincide with each other and with their teacher up to distillation error; weighting can move the fitted surfaces
only where it enters a loss fitted to data, the teacher's denoising loss (`diffusion-teacher-ipw`). The tables
measure this instead of assuming it.

## Accuracy (sqrt-PEHE against the noiseless surfaces; sorted by the out-of-sample median)

{accuracy_table(ok)}

Published orientation (IHDP-1000, other draws; Shalit et al. 2017, means verified): TARNet 0.95, CFR-WASS 0.76
out-of-sample.

## Paired tests, out-of-sample sqrt-PEHE ({len(reps)} replications)

Wilcoxon signed-rank tests, Holm-corrected over all pairs; win rate = share of replications on which A's error
is lower (ties half). Rows involving `iwdd-rand` or `diffusion-teacher`:

{paired_tests(ok, 'pehe_out')}

In-sample:

{paired_tests(ok, 'pehe_in')}

## Predictive distributions (generative estimators; mean ± SE over replications)

Coverage of the central 90 % / 50 % predictive intervals of Y(0) and Y(1) (both arms pooled) against the noisy
potential outcomes, from 32 draws per unit and arm (Weibull-rule interval ends); out-of-sample on the test rows,
in-sample on 128 fit rows per replication. W1 = mean per-unit Wasserstein-1 distance of the draws to the true
law N(mu_z(x), 1); 32 draws from the true law itself would score about 0.22.

{distribution_table(ok)}

## The generator against its teacher (held-out fit rows; outcome standard deviations)

Per-unit Wasserstein-1 distance between generator and teacher draws (50-step Heun) on up to 32 validation units,
both arms, 32 stratified latent quantiles each, as recorded by each fit (it also sizes the distillation budget).
The generator is first regressed on the teacher's own (latent, Heun draw) pairs (the warm start); SiD then runs
only while this distance exceeds `distill_tol` (0.03) and keeps its best state, so 0 SiD steps means the warm
start already met the tolerance and 200 means SiD ran its patience without improving on it:

{generator_table(ok)}

## Sampling speed (development replication {SPEED_REP}; {speed['units']} units x {speed['draws']} draws; one thread; alternately, median of {len(speed['one_step'])})

| sampler | network calls per draw | seconds (median) | all repeats |
|---|---|---|---|
| one-step generator | 1 | {statistics.median(speed['one_step']):.3f} | {', '.join(f'{v:.3f}' for v in speed['one_step'])} |
| Heun teacher, 50 steps | 99 | {statistics.median(speed['heun']):.2f} | {', '.join(f'{v:.2f}' for v in speed['heun'])} |

One-step speed-up: **{speed['ratio']:.1f}x** (ceiling about 99x).

## Fit + predict time of iwdd-rand against commit {fit['commit']} (IHDP replication {fit['replication']}, fresh subprocesses, one thread, alternately)

| code | wall s (each run) | CPU s (each run) |
|---|---|---|
| {fit['commit']} | {', '.join(f"{r['wall']:.1f}" for r in fit['old'])} | {', '.join(f"{r['cpu']:.1f}" for r in fit['old'])} |
| this tree | {', '.join(f"{r['wall']:.1f}" for r in fit['new'])} | {', '.join(f"{r['cpu']:.1f}" for r in fit['new'])} |

Ratio of medians, this tree / {fit['commit']}: **{fit['ratio_wall']:.2f}x** wall, **{fit['ratio_cpu']:.2f}x** CPU.

## Gradient variance of the generator update, IPW vs randomized

Confounded synthetic design (n = 2000, d = 5, e(x) = sigmoid(2.5 x_0), logistic propensity fitted on the
training rows and clipped to [0.02, 0.98]). At the state where `iwdd-ipw`'s distillation ended (SiD step
{gv['step']}), the SiD generator gradient was computed on {gv['n_batches']} minibatches of
256 for each variant. Total variance = sum over parameters of the across-minibatch variance.

| variant | total variance | norm of the mean gradient |
|---|---|---|
| iwdd-ipw | {gv['ipw']['total_var']:.4g} | {gv['ipw']['mean_norm']:.4g} |
| iwdd-rand | {gv['rand']['total_var']:.4g} | {gv['rand']['mean_norm']:.4g} |

Ratio IPW / randomized: **{gv['ratio_ipw_over_rand']:.2f}**. This is variance of the distillation gradient (an
optimisation property), not bias of the causal estimate.
"""
    (OUT / "summary.md").write_text(md)
    print(md)
    print(f"wrote {OUT / 'summary.md'}")


if __name__ == "__main__":
    main()
