"""IWDD on IHDP: accuracy, fit time, one-step vs Heun sampling speed, and IPW vs randomized gradient variance.

Run (every number in ``results/iwdd_ihdp/summary.md`` comes from this one command)::

    nice -n 10 python -m benchmark.studies.iwdd_ihdp

Steps:

1. the config ``benchmark/configs/iwdd_ihdp.toml`` through the runner (store ``results/iwdd_ihdp/store.sqlite``;
   tasks already in the store are not rerun): out-of-sample sqrt-PEHE and ATE error, mean +- SE over the
   replications, and median fit seconds;
2. sampling speed: ``iwdd-rand`` with defaults is fitted on IHDP replication 1 (fit rows of a 63/27/10 split), then 100 draws
   x 1000 units are timed for the one-step generator and for the 50-step Heun teacher (99 network calls), on CPU
   with one thread, median of ``--speed-repeats`` repeats;
3. gradient variance: on a confounded synthetic design, a teacher is fitted and distilled briefly (plain SiD, so
   that the fake score net differs from the teacher); at that fixed state the generator's gradient is computed on
   ``--grad-batches`` minibatches with IPW weights and with randomized conditions; reported is the total variance
   (trace of the covariance across minibatches) of each, and their ratio.

Options: ``--skip-run`` (summarise the store only), ``--speed-repeats N`` (default 3), ``--grad-batches N``
(default 200), ``--reuse-measurements`` (take steps 2 and 3 from the ``speed.json`` / ``gradvar.json`` an
earlier run wrote).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "benchmark" / "configs" / "iwdd_ihdp.toml"
OUT = ROOT / "results" / "iwdd_ihdp"


def run_benchmark(skip_run: bool) -> pd.DataFrame:
    from benchmark.config import load_config
    from benchmark.runner import run
    from benchmark.store import Store

    config = load_config(CONFIG)
    store = Store(ROOT / config.store)
    if not skip_run:
        print(run(config, store))
    return store.results()


def accuracy_table(results: pd.DataFrame) -> str:
    """Out-of-sample accuracy per estimator from :func:`benchmark.report.leaderboard`, best first."""
    from benchmark.report import leaderboard, plus_minus

    lines = ["| estimator | n ok | sqrt-PEHE out (mean ± SE) | ATE error out (mean ± SE) | "
             "sqrt-PEHE in | median fit s | median predict s |", "|---|---|---|---|---|---|---|"]
    predict_s = results[results.status == "ok"].groupby("estimator")["predict_seconds"].median()
    for r in leaderboard(results).itertuples():
        lines.append(f"| {r.estimator} | {r.n_ok} (of {r.n_ok + r.n_failed}) | {plus_minus(r.pehe_out_mean, r.pehe_out_se)} | "
                     f"{plus_minus(r.ate_out_mean, r.ate_out_se)} | {plus_minus(r.pehe_in_mean, r.pehe_in_se)} | "
                     f"{r.fit_seconds_median:.1f} | {predict_s.get(r.estimator, float('nan')):.2f} |")
    return "\n".join(lines)


def _timeit(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def sampling_speed(repeats: int) -> dict:
    from datasets.ihdp import IHDP
    from datasets.splits import get_split, split_indices
    from estimators.iwdd import IWDD
    from estimators.iwdd.distill import generate
    from estimators.iwdd.edm import heun_sample, make_condition

    data = IHDP().load(1)
    fit_idx, _ = split_indices(data.n, get_split("63/27/10"), seed=0)
    est = IWDD(device="cpu", random_state=0)
    t0 = time.perf_counter()
    est.fit(data.X[fit_idx], data.t[fit_idx], data.y[fit_idx])
    fit_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    X = data.X[rng.integers(0, data.n, 1000)]
    x = torch.as_tensor((X - est.x_mean_) / est.x_scale_, dtype=torch.float32).repeat_interleave(100, 0)
    cond = make_condition(x, torch.as_tensor(rng.uniform(size=len(x)) < 0.5, dtype=torch.float32))
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        one = _timeit(lambda: generate(est.generator_, cond, gen, est.sigma_init), repeats)
        heun = _timeit(lambda: heun_sample(est.teacher_, cond, gen, n_steps=50), repeats)
    return {"fit_s": fit_s, "one_step": one, "heun": heun,
            "ratio": statistics.median(heun) / statistics.median(one)}


def _confounded(n: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    e = 1 / (1 + np.exp(-2.5 * X[:, 0]))
    t = (rng.uniform(size=n) < e).astype(float)
    mu0 = X[:, 0] + 0.5 * X[:, 1] ** 2
    mu1 = mu0 + 1.0 + np.sin(2 * X[:, 1])
    y = np.where(t == 1, mu1, mu0) + 0.3 * rng.normal(size=n)
    return X, t, y


def gradient_variance(n_batches: int) -> dict:
    import copy

    from estimators.iwdd import IWDD
    from estimators.iwdd.distill import draw_conditions, generate, generator_loss
    from estimators.iwdd.edm import edm_loss

    X, t, y = _confounded(2000, 5, 0)
    est = IWDD(adjustment="plain", width=64, n_blocks=2, teacher_steps=1000, distill_steps=100, device="cpu",
               random_state=0).fit(X, t, y)
    Xs = (X - est.x_mean_) / est.x_scale_
    x = torch.as_tensor(Xs, dtype=torch.float32)
    z = torch.as_tensor(t, dtype=torch.float32)
    p1 = float(t.mean())
    weights = torch.as_tensor(est._ipw_weights(Xs, t), dtype=torch.float32)
    # A fake score net for the (frozen) distilled generator, fitted on its draws at observed and at random
    # conditions, so that both variants' gradients are taken at the same, sensible state.
    G = copy.deepcopy(est.generator_)
    fake = copy.deepcopy(est.teacher_)
    for p in fake.parameters():
        p.requires_grad_(True)
    gen = torch.Generator().manual_seed(1)
    opt = torch.optim.Adam(fake.parameters(), lr=1e-3, betas=(0.0, 0.999))
    for i in range(300):
        cond, _ = draw_conditions("rand" if i % 2 else "plain", x, z, None, p1, 256, gen)
        with torch.no_grad():
            yg = generate(G, cond, gen, est.sigma_init)
        loss = edm_loss(fake, yg, cond, gen).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p in fake.parameters():
        p.requires_grad_(False)
    for p in G.parameters():
        p.requires_grad_(True)
    out = {}
    for adj in ("ipw", "rand"):
        g_gen = torch.Generator().manual_seed(2)
        grads = []
        for _ in range(n_batches):
            cond, w = draw_conditions(adj, x, z, weights, p1, 256, g_gen)
            G.zero_grad(set_to_none=True)
            generator_loss(G, est.teacher_, fake, cond, w, g_gen, est.alpha, est.sigma_init).backward()
            grads.append(torch.cat([p.grad.reshape(-1) for p in G.parameters()]).clone())
        g = torch.stack(grads).double()
        out[adj] = {"total_var": float(g.var(dim=0, unbiased=True).sum()), "mean_norm": float(g.mean(0).norm())}
    out["ratio_ipw_over_rand"] = out["ipw"]["total_var"] / out["rand"]["total_var"]
    out["max_weight"] = float(weights.max())
    out["n_batches"] = n_batches
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-run", action="store_true")
    ap.add_argument("--speed-repeats", type=int, default=3)
    ap.add_argument("--grad-batches", type=int, default=200)
    ap.add_argument("--reuse-measurements", action="store_true",
                    help="read speed.json / gradvar.json written by an earlier run instead of measuring again")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    results = run_benchmark(args.skip_run)
    table = accuracy_table(results)
    print(table)
    import json

    if args.reuse_measurements:
        speed = json.loads((OUT / "speed.json").read_text())
        gv = json.loads((OUT / "gradvar.json").read_text())
        args.speed_repeats = len(speed["one_step"])
    else:
        speed = sampling_speed(args.speed_repeats)
        (OUT / "speed.json").write_text(json.dumps(speed, indent=1))
        gv = gradient_variance(args.grad_batches)
        (OUT / "gradvar.json").write_text(json.dumps(gv, indent=1))
    print(speed)
    print(gv)
    md = f"""# IWDD on IHDP

Generated by `nice -n 10 python -m benchmark.studies.iwdd_ihdp` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())};
{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 torch thread per process; the machine was
shared with other jobs, so every time below is noisy and an upper bound of a quiet machine's).

## Accuracy ({results.replication.nunique()} IHDP replications, split 63/27/10, out-of-sample = the 10 % test rows)

Config `benchmark/configs/iwdd_ihdp.toml`, store `results/iwdd_ihdp/store.sqlite`; all estimators at their
registered defaults. ATE error = |ATE_hat - ATE| on the test rows. Published TARNet (Shalit et al. 2017): 0.95
out-of-sample sqrt-PEHE.

{table}

## Sampling speed (100 draws x 1000 IHDP units, one CPU thread, median of {args.speed_repeats})

`iwdd-rand` fitted with defaults on replication 1's fit rows in {speed['fit_s']:.1f} s.

| sampler | network calls | seconds (median) | all repeats |
|---|---|---|---|
| one-step generator | 1 | {statistics.median(speed['one_step']):.3f} | {', '.join(f'{v:.3f}' for v in speed['one_step'])} |
| Heun teacher, 50 steps | 99 | {statistics.median(speed['heun']):.2f} | {', '.join(f'{v:.2f}' for v in speed['heun'])} |

Speed-up: **{speed['ratio']:.1f}x** (ceiling about 99x).

## Gradient variance of the generator update, IPW vs randomized

Confounded synthetic design (n = 2000, d = 5, e(x) = sigmoid(2.5 x_0), fitted logistic propensity clipped to
[0.02, 0.98]; largest stabilised weight {gv['max_weight']:.1f}). At one fixed (teacher, generator, fake net)
state, the SiD generator gradient was computed on {gv['n_batches']} minibatches of 256 for each variant.
Total variance = sum over parameters of the across-minibatch variance.

| variant | total variance | norm of the mean gradient |
|---|---|---|
| iwdd-ipw | {gv['ipw']['total_var']:.4g} | {gv['ipw']['mean_norm']:.4g} |
| iwdd-rand | {gv['rand']['total_var']:.4g} | {gv['rand']['mean_norm']:.4g} |

Ratio IPW / randomized: **{gv['ratio_ipw_over_rand']:.2f}**.
"""
    (OUT / "summary.md").write_text(md)
    print(f"wrote {OUT / 'summary.md'}")


if __name__ == "__main__":
    main()
