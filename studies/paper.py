"""The three IWDD measurements ``catebench paper`` reports, as functions of an output directory.

Each returns a JSON-able dict (with a one-line ``summary``) and writes its files into ``out_dir``:

* :func:`toy_figure`: the paper's 1-D toy figure, made by :mod:`studies.iwdd_toy`;
* :func:`sampling_speed`: one-step generator vs multi-step Heun sampling of the teacher, timed side by side through
  the estimator's public sampling methods;
* :func:`gradient_variance`: variance of the SiD generator gradient with explicit IPW weights vs randomized
  conditions, the protocol of :mod:`studies.iwdd_ihdp` keeping the per-minibatch gradients, with a
  bootstrap CI.

``quick=True`` shrinks every size to a smoke test (seconds; not a measurement to report).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

__all__ = ["toy_figure", "sampling_speed", "gradient_variance"]


def toy_figure(out_dir: Path, quick: bool = False) -> dict:
    """Run :mod:`studies.iwdd_toy` into ``out_dir/toy``; return the figure's path and its W1 table."""
    from . import iwdd_toy

    toy_dir = Path(out_dir) / "toy"
    args = ["--out", str(toy_dir), "--draws", "5" if quick else "50", "--seed", "0"]
    if quick:
        args.append("--quick")
    try:
        iwdd_toy.main(args)
    except SystemExit as exc:  # argparse rejected the arguments (e.g. a study without --quick)
        raise RuntimeError(f"studies.iwdd_toy rejected {' '.join(args)} (exit {exc.code})") from None
    summary = (toy_dir / "summary.md").read_text() if (toy_dir / "summary.md").exists() else ""
    w1 = [line for line in summary.splitlines() if line.startswith("| ") and "method" not in line]
    return {"figure": str(toy_dir / "figure.png"), "w1_rows": w1,
            "summary": "toy-1d replication 1, teacher / KL / SiD distillation at registered defaults; W1 per panel in "
                       "`studies/toy/summary.md`."}


def sampling_speed(out_dir: Path, quick: bool = False, repeats: int = 3) -> dict:
    """Time ``IWDD.sample`` (one-step generator) against ``IWDD.sample_teacher`` (Heun, 50 steps) side by side.

    An ``iwdd-rand`` with registered defaults is fitted on IHDP replication 1's fit rows (80/20 row order); then
    50 draws of Y(0) and Y(1) for each of 200 units (drawn with replacement from all rows) are timed ``repeats``
    times, the two samplers alternating, one CPU thread. Both costs are linear in draws x units, so the ratio does
    not depend on these sizes (chosen to keep the Heun side at minutes on a loaded 2-core machine). Quick: test
    parameters, 10 draws x 50 units.
    """
    import torch

    from catebench.benchmark.paper import SPLIT
    from catebench.datasets.ihdp import IHDP
    from catebench.datasets.splits import get_split, split_indices
    from catebench.estimators.iwdd import IWDD

    torch.set_num_threads(1)
    data = IHDP().load(1)
    fit_idx, _ = split_indices(data.n, get_split(SPLIT), seed=0)
    params = IWDD.test_params() if quick else {}
    est = IWDD(**{**params, "device": "cpu", "random_state": 0})
    t0 = time.perf_counter()
    est.fit(data.X[fit_idx], data.t[fit_idx], data.y[fit_idx])
    fit_s = time.perf_counter() - t0
    n_units, n_draws, heun_steps = (50, 10, 50) if quick else (200, 50, 50)
    X = data.X[np.random.default_rng(0).integers(0, data.n, n_units)]
    one, heun = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        est.sample(X, n_samples=n_draws)
        one.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        est.sample_teacher(X, n_samples=n_draws, heun_steps=heun_steps)
        heun.append(time.perf_counter() - t0)
    ratio = statistics.median(heun) / statistics.median(one)
    return {"fit_s": fit_s, "one_step": one, "heun": heun, "ratio": ratio, "heun_steps": heun_steps,
            "what": f"{n_draws} draws x {n_units} IHDP units, both arms",
            "summary": f"`iwdd-rand` ({'test' if quick else 'registered default'} parameters) fitted on IHDP "
                       f"replication 1 in {fit_s:.0f} s; {n_draws} draws x {n_units} units: one-step "
                       f"{statistics.median(one):.3g} s vs Heun ({heun_steps} steps) {statistics.median(heun):.3g} s, "
                       f"median of {repeats} alternating repeats: {ratio:.1f}x."}


def gradient_variance(out_dir: Path, quick: bool = False, n_batches: int = 200, n_boot: int = 2000) -> dict:
    """IPW vs randomized variance of the SiD generator gradient, with a bootstrap CI of their ratio.

    The gradients come from :func:`studies.iwdd_ihdp.generator_gradients` (the protocol of that study's
    gradient-variance measurement: same design, model and seeds); here the per-minibatch gradients give the total
    variances and their ratio percentile bootstrap CIs (minibatches resampled, ``n_boot`` draws, seed 0). Quick:
    test-sized model, 20 minibatches.
    """
    import torch

    from .iwdd_ihdp import generator_gradients

    torch.set_num_threads(1)
    n_batches = 20 if quick else n_batches
    grads, meta = generator_gradients(n_batches, quick=quick)
    n, d = meta["n"], meta["d"]
    weights_max = meta["max_weight"]
    tv = {k: float(g.var(axis=0, ddof=1).sum()) for k, g in grads.items()}
    out = {"ipw_total_var": tv["ipw"], "rand_total_var": tv["rand"], "ratio": tv["ipw"] / tv["rand"],
           "n_batches": n_batches, "n_params": int(grads["ipw"].shape[1]), "max_weight": weights_max,
           "design": f"confounded synthetic design of iwdd_ihdp (n = {n}, d = {d}, e(x) = sigmoid(2.5 x_0))"}
    out.update(_ratio_ci(grads["ipw"], grads["rand"], n_boot))
    out["summary"] = (f"total variance of the SiD generator gradient over {n_batches} minibatches of 256: IPW "
                      f"{tv['ipw']:.4g}, randomized {tv['rand']:.4g}, ratio {out['ratio']:.2f} (95 % CI "
                      f"[{out['ci_low']:.2f}, {out['ci_high']:.2f}], minibatches resampled).")
    return out


def _ratio_ci(g_ipw: np.ndarray, g_rand: np.ndarray, n_boot: int, seed: int = 0) -> dict:
    """Percentile bootstrap CIs (minibatches resampled) of both total variances and of their ratio.

    ``g_*``: (n_batches, n_params) gradients. A resample with counts c (sum n) has total variance
    n/(n-1) * (c.s / n - c'Kc / n^2), s = row sums of squares, K = g g' (Gram matrix), so no resample is formed.
    """
    rng = np.random.default_rng(seed)

    def boot(g):
        n = len(g)
        s, K = (g**2).sum(axis=1), g @ g.T
        idx = rng.integers(0, n, size=(n_boot, n))
        C = np.stack([np.bincount(r, minlength=n) for r in idx]).astype(float)
        return n / (n - 1) * (C @ s / n - np.einsum("bi,ij,bj->b", C, K, C) / n**2)

    b1, b2 = boot(g_ipw), boot(g_rand)
    r = b1 / b2
    return {"ci_low": float(np.quantile(r, 0.025)), "ci_high": float(np.quantile(r, 0.975)),
            "ipw_ci": [float(v) for v in np.quantile(b1, [0.025, 0.975])],
            "rand_ci": [float(v) for v in np.quantile(b2, [0.025, 0.975])]}
