"""Gradient variance of the paper-method IWDD's distillation, randomized conditions against IPW, and its effect.

For each design of the ``synthetic`` dataset (overlap from good to weak through ``imbalance``) and each seed
(replications 1..``--replications``; runner's default split and seeds), on the paper-method code path
(``iwdd-rand`` / ``iwdd-ipw`` registered parameters, SiD from the teacher's copy, a fixed budget of
``--steps`` SiD steps, no early stop):

1. variance: ``IWDD.generator_gradients`` re-runs ``iwdd-rand``'s distillation and, at the start, middle and end
   of the run, evaluates ``--batches`` minibatch gradients of the generator loss under each design (randomized
   conditions; observed pairs with stabilised IPW weights) at the same generator and fake score net. Measure:
   total variance tr Cov of the gradient (the mean squared distance of a minibatch gradient to their mean), its
   ratio IPW / randomized, with a BCa bootstrap CI (scipy.stats.bootstrap, resampling batches of each design);
2. effect: ``iwdd-rand`` and ``iwdd-ipw`` fitted with the same budget; steps until the generator-to-teacher W1
   on held-out fit rows first falls to ``--w1-frac`` x its starting value (the same threshold for both: the
   start is the teacher's copy), the lowest W1, and sqrt-PEHE in / out of the returned generator.

Writes ``variance.csv``, ``runs.csv`` and ``summary.md`` under ``--out``.

    python -m studies.iwdd_gradvar --out results/iwdd_gradvar --replications 5
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

DESIGNS = {"good overlap (imbalance 0.5)": 0.5, "moderate overlap (imbalance 1.5)": 1.5,
           "weak overlap (imbalance 3)": 3.0}


def total_variance(K: np.ndarray, idx: np.ndarray) -> float:
    """tr Cov of the gradients idx from their Gram matrix K: sum_i |g_i - mean|^2 / (n - 1)."""
    k = K[np.ix_(idx, idx)]
    n = len(idx)
    return float((np.trace(k) - k.sum() / n) / (n - 1))


def ratio_ci(K_ipw: np.ndarray, K_rand: np.ndarray, seed: int, n_resamples: int = 2000):
    """IPW / randomized total variance and its 95 % BCa bootstrap CI (batches resampled within each design)."""
    from scipy.stats import bootstrap

    def stat(i, j):
        den = total_variance(K_rand, j.astype(int))
        return total_variance(K_ipw, i.astype(int)) / den if den > 0 else np.nan

    a, b = np.arange(len(K_ipw), dtype=float), np.arange(len(K_rand), dtype=float)
    res = bootstrap((a, b), stat, paired=False, vectorized=False, method="BCa", n_resamples=n_resamples,
                    random_state=np.random.default_rng(seed))
    return stat(a, b), float(res.confidence_interval.low), float(res.confidence_interval.high)


def run_cell(design: str, imbalance: float, rep: int, a) -> tuple[list[dict], list[dict]]:
    from catebench.benchmark.registry import ESTIMATORS
    from catebench.benchmark.runner import load_task_data

    td = load_task_data("synthetic", rep, params={"imbalance": imbalance, "n": a.n})
    X, t, y = td.fit
    d = td.data
    tau = d.mu1 - d.mu0
    budget = {"distill_steps": a.steps, "distill_min_steps": a.steps, "distill_check_every": a.check_every,
              "distill_tol": 0.0, "validation_fraction": td.split.validation_fraction}
    var_rows, run_rows = [], []
    fitted = {}
    for label in ("iwdd-rand", "iwdd-ipw"):
        t0 = time.process_time()
        sizes = {k: v for k, v in ESTIMATORS.get(label).load().test_params().items() if k not in budget} if a.quick else {}
        est = ESTIMATORS.create(label, random_state=td.random_state, **sizes, **budget).fit(X, t, y)
        fit_s = time.process_time() - t0
        fitted[label] = est
        h = est.distill_history_
        steps, w1 = np.array(h["monitor_steps"]), np.array(h["monitor"])
        thr = a.w1_frac * w1[0]
        hit = steps[(w1 <= thr) & (steps > 0)]
        row = {"design": design, "imbalance": imbalance, "replication": rep, "estimator": label,
               "w1_start": w1[0], "w1_threshold": thr, "steps_to_threshold": int(hit[0]) if len(hit) else np.nan,
               "w1_best": est.w1_to_teacher_, "best_step": h["best_step"], "sid_steps": h["steps"], "fit_s": fit_s}
        for name, idx in (("in", td.fit_idx), ("out", td.test_idx)):
            row[f"pehe_{name}"] = float(np.sqrt(np.mean((est.effect(d.X[idx]) - tau[idx]) ** 2)))
        run_rows.append(row)
    states = {"start": a.start, "middle": a.steps // 2, "end": a.steps}
    t0 = time.process_time()
    grads = fitted["iwdd-rand"].generator_gradients(X, t, at_steps=tuple(states.values()), n_batches=a.batches,
                                                     adjustments=("rand", "ipw"), seed=rep)
    grad_s = time.process_time() - t0
    for k, (state, step) in enumerate(states.items()):
        G = {adj: grads[(adj, step)].astype(np.float64) for adj in ("rand", "ipw")}
        K = {adj: g @ g.T for adj, g in G.items()}
        full = np.arange(a.batches)
        ratio, lo, hi = ratio_ci(K["ipw"], K["rand"], seed=1000 * rep + k)
        var_rows.append({"design": design, "imbalance": imbalance, "replication": rep, "state": state,
                         "step": step, "var_rand": total_variance(K["rand"], full),
                         "var_ipw": total_variance(K["ipw"], full),
                         "mean_norm_rand": float(np.linalg.norm(G["rand"].mean(0))),
                         "mean_norm_ipw": float(np.linalg.norm(G["ipw"].mean(0))),
                         "ratio_ipw_rand": ratio, "ci_low": lo, "ci_high": hi, "grad_s": grad_s})
    return var_rows, run_rows


def verdict(v: pd.DataFrame) -> str:
    above, below = int((v.ci_low > 1).sum()), int((v.ci_high < 1).sum())
    n = len(v)
    if above == n:
        return f"randomized lower (CI of IPW/rand above 1 in all {n} cells)"
    if below == n:
        return f"IPW lower (CI below 1 in all {n} cells)"
    return f"mixed: randomized lower in {above}, IPW lower in {below}, undecided in {n - above - below} of {n} cells"


def command(a) -> str:
    """The command line that makes this output (the output folder relative to the working directory when inside
    it; options at their defaults left out)."""
    out = a.out.resolve()
    try:
        out = out.relative_to(Path.cwd())
    except ValueError:
        pass
    parts = [f"python -m studies.iwdd_gradvar --out {out.as_posix()} --replications {a.replications}"]
    for name, default in (("n", 1000), ("steps", 400), ("start", 10), ("check_every", 25), ("batches", 32),
                          ("w1_frac", 0.6)):
        if getattr(a, name) != default:
            parts.append(f"--{name.replace('_', '-')} {getattr(a, name)}")
    return " ".join(parts + (["--quick"] if a.quick else []))


def summarize(var: pd.DataFrame, runs: pd.DataFrame, a) -> str:
    out = ["# Gradient variance of IWDD's distillation (paper method): randomized conditions against IPW", "",
           f"`synthetic` dataset (n = {a.n}, d = 10, confounding 1), three overlap levels, replications "
           f"1-{a.replications} (the runner's default split 63/27/10 and seeds).",
           "Paper-method code path: registered `iwdd-rand` / `iwdd-ipw` parameters (teacher as registered, SiD from",
           f"the teacher's copy), a fixed budget of {a.steps} SiD steps, W1 to the teacher checked every "
           f"{a.check_every} steps, no early stop.",
           f"Gradients: `IWDD.generator_gradients` on `iwdd-rand`'s run, {a.batches} minibatches (batch 256) per "
           f"design at steps {a.start} (start; at step 0 the SiD gradient is exactly zero), {a.steps // 2} (middle)",
           f"and {a.steps} (end), both designs at the same generator and fake net. Variance = tr Cov of the minibatch",
           "gradient. Ratio = IPW / randomized, 95 % BCa bootstrap CI over batches (2000 resamples).", "",
           "## Variance per cell", "",
           "| design | rep | state | var rand | var IPW | ratio IPW/rand [95 % CI] | |mean grad| rand / IPW |",
           "|---|---|---|---|---|---|---|"]
    for _, r in var.iterrows():
        out.append(f"| {r.design} | {r.replication} | {r.state} | {r.var_rand:.3g} | {r.var_ipw:.3g} | "
                   f"{r.ratio_ipw_rand:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}] | "
                   f"{r.mean_norm_rand:.3g} / {r.mean_norm_ipw:.3g} |")
    out += ["", "## Summary and verdict per design", "",
            "| design | geometric-mean ratio IPW/rand (range) | verdict |", "|---|---|---|"]
    for design in DESIGNS:
        v = var[var.design == design]
        if not len(v):
            continue
        gm = float(np.exp(np.log(v.ratio_ipw_rand).mean()))
        out.append(f"| {design} | {gm:.2f} ({v.ratio_ipw_rand.min():.2f}-{v.ratio_ipw_rand.max():.2f}) | "
                   f"{verdict(v)} |")
    out += ["", f"## What the variance does to the result (same budget, {a.steps} SiD steps)", "",
            f"Steps until W1 to the teacher first falls to {a.w1_frac} x its start (the teacher's copy; the same "
            "threshold for both designs; blank = not within the budget), the lowest W1 (outcome sds) and the",
            "sqrt-PEHE of the returned generator (the best-W1 state within the budget); steps per replication",
            "(- = not reached), the others as mean over replications (all values in runs.csv).", "",
            "| design | estimator | steps to threshold, per replication | W1 best | sqrt-PEHE in | sqrt-PEHE out |",
            "|---|---|---|---|---|---|"]
    for design in DESIGNS:
        for label in ("iwdd-rand", "iwdd-ipw"):
            r = runs[(runs.design == design) & (runs.estimator == label)].sort_values("replication")
            if not len(r):
                continue
            steps = " / ".join("-" if np.isnan(v) else f"{v:.0f}" for v in r.steps_to_threshold)
            out.append(f"| {design} | `{label}` | {steps} | {r.w1_best.mean():.3f} | "
                       f"{r.pehe_in.mean():.3f} | {r.pehe_out.mean():.3f} |")
    out += ["", "Paired by replication, IPW minus randomized (mean, and how many replications IPW is lower):", ""]
    for design in DESIGNS:
        r = runs[runs.design == design].pivot(index="replication", columns="estimator")
        if not len(r) or "iwdd-ipw" not in r["pehe_out"]:
            continue
        parts = []
        for col, name in (("steps_to_threshold", "steps to threshold"), ("w1_best", "W1 best"),
                          ("pehe_in", "sqrt-PEHE in"), ("pehe_out", "sqrt-PEHE out")):
            diff = (r[col]["iwdd-ipw"] - r[col]["iwdd-rand"]).dropna()
            parts.append(f"{name} {diff.mean():+.3g} (IPW lower in {int((diff < 0).sum())} of {len(diff)})")
        out.append(f"* {design}: " + "; ".join(parts))
    out += ["", f"Command: `{command(a)}` (one torch thread; "
            f"{(runs.fit_s.sum() + var.groupby(['design', 'replication']).grad_s.first().sum()) / 60:.0f} CPU "
            "minutes).", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--replications", type=int, default=3)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--start", type=int, default=10)
    p.add_argument("--check-every", type=int, default=25)
    p.add_argument("--batches", type=int, default=32)
    p.add_argument("--w1-frac", type=float, default=0.6)
    p.add_argument("--summary-only", action="store_true")
    p.add_argument("--quick", action="store_true", help="test-sized networks (a smoke test, not a measurement)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    a.out.mkdir(parents=True, exist_ok=True)
    vpath, rpath = a.out / "variance.csv", a.out / "runs.csv"
    var = pd.read_csv(vpath) if vpath.exists() else pd.DataFrame()
    runs = pd.read_csv(rpath) if rpath.exists() else pd.DataFrame()
    if not a.summary_only:
        for design, imb in DESIGNS.items():
            for rep in range(1, a.replications + 1):
                if len(var) and ((var.design == design) & (var.replication == rep)).any():
                    continue
                v, r = run_cell(design, imb, rep, a)
                var = pd.concat([var, pd.DataFrame(v)], ignore_index=True)
                runs = pd.concat([runs, pd.DataFrame(r)], ignore_index=True)
                var.to_csv(vpath, index=False)
                runs.to_csv(rpath, index=False)
                print(design, rep, [f"{x['state']} {x['ratio_ipw_rand']:.2f} [{x['ci_low']:.2f},{x['ci_high']:.2f}]"
                                    for x in v], flush=True)
    (a.out / "summary.md").write_text(summarize(var, runs, a))


if __name__ == "__main__":
    main()
