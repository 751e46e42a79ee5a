"""The three IWDD measurements ``catebench paper`` reports, written into ``OUT/studies/`` for it to read.

``python -m studies.paper [--out results/paper] [--only speed,gradvar,toy] [--quick]``

Each measurement is a function of an output folder that returns a JSON-able dict (with a one-line ``summary``);
:func:`main` writes it as ``OUT/studies/<name>.json`` with when, how long, at what load and with which code it was
measured, or ``{"error": ...}`` when it failed (the paper then reports the claim that needs it as not testable):

* :func:`toy_figure`: the paper's 1-D toy figure, made by :mod:`studies.iwdd_toy` into ``OUT/studies/toy``;
* :func:`sampling_speed`: one-step generator vs multi-step Heun sampling of the teacher
  (:func:`studies.sampling_speed.time_samplers`);
* :func:`gradient_variance`: variance of the SiD generator gradient with explicit IPW weights vs randomized
  conditions (:func:`studies.iwdd_ihdp.generator_gradients`), with a bootstrap CI of their ratio.

``--quick`` shrinks every size to a smoke test (seconds to a minute; not a measurement to report).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from catebench.benchmark.paper.plan import code_version, load_average, utc_now
from catebench.benchmark.paper.protocol import DEFAULT_OUT, SPLIT
from catebench.benchmark.runner import limit_threads
from catebench.datasets.ihdp import IHDP
from catebench.datasets.splits import get_split, split_indices
from catebench.estimators.iwdd import IWDD

from . import iwdd_toy
from .iwdd_ihdp import generator_gradients
from .sampling_speed import time_samplers

__all__ = ["toy_figure", "sampling_speed", "gradient_variance", "MEASUREMENTS", "measure", "main"]


def toy_figure(out_dir: Path, quick: bool = False) -> dict:
    """Run :mod:`studies.iwdd_toy` into ``out_dir/toy``; return the figure's path and its W1 table rows."""
    toy_dir = Path(out_dir) / "toy"
    args = ["--out", str(toy_dir), "--draws", "5" if quick else "50", "--seed", "0"] + (["--quick"] if quick else [])
    iwdd_toy.main(args)
    summary = (toy_dir / "summary.md").read_text()
    w1 = [line for line in summary.splitlines() if line.startswith("| ") and "method" not in line]
    return {"figure": str(toy_dir / "figure.png"), "w1_rows": w1,
            "summary": "toy-1d replication 1, teacher / KL / SiD distillation at registered defaults; W1 per panel in "
                       "`studies/toy/summary.md`."}


def sampling_speed(out_dir: Path, quick: bool = False, repeats: int = 3) -> dict:
    """One-step vs Heun (50 steps) sampling of an ``iwdd-rand`` (registered defaults) fitted on IHDP replication 1's
    fit rows (80/20 row order): 50 draws of Y(0) and Y(1) for each of 200 units (drawn with replacement from all
    rows), ``repeats`` times side by side, one thread. Both costs are linear in draws x units, so the ratio does
    not depend on these sizes (chosen to keep the Heun side at minutes on a loaded 2-core machine). Quick: test
    parameters, 10 draws x 50 units."""
    limit_threads()
    data = IHDP().load(1)
    fit_idx, _ = split_indices(data.n, get_split(SPLIT), seed=0)
    params = IWDD.test_params() if quick else {}
    est = IWDD(**{**params, "device": "cpu", "random_state": 0})
    t0 = time.perf_counter()
    est.fit(data.X[fit_idx], data.t[fit_idx], data.y[fit_idx])
    fit_s = time.perf_counter() - t0
    n_units, n_draws = (50, 10) if quick else (200, 50)
    X = data.X[np.random.default_rng(0).integers(0, data.n, n_units)]
    r = time_samplers(est, X, n_draws=n_draws, heun_steps=50, repeats=repeats)
    one, heun = statistics.median(r["one_step"]), statistics.median(r["heun"])
    return {**r, "fit_s": fit_s, "what": f"{n_draws} draws x {n_units} IHDP units, both arms",
            "summary": f"`iwdd-rand` ({'test' if quick else 'registered default'} parameters) fitted on IHDP "
                       f"replication 1 in {fit_s:.0f} s; {n_draws} draws x {n_units} units: one-step {one:.3g} s vs "
                       f"Heun ({r['heun_steps']} steps) {heun:.3g} s, median of {repeats} repeats side by side: "
                       f"{r['ratio']:.1f}x."}


def gradient_variance(out_dir: Path, quick: bool = False, n_batches: int = 200, n_boot: int = 2000) -> dict:
    """IPW vs randomized variance of the SiD generator gradient, with a bootstrap CI of their ratio.

    The gradients come from :func:`studies.iwdd_ihdp.generator_gradients` (that study's protocol: same design, model
    and seeds); here the per-minibatch gradients give the total variances and percentile bootstrap CIs of them and
    of their ratio (minibatches resampled, ``n_boot`` draws, seed 0). Quick: test-sized model, 20 minibatches.
    """
    torch.set_num_threads(1)
    n_batches = 20 if quick else n_batches
    grads, meta = generator_gradients(n_batches, quick=quick)
    tv = {k: float(g.var(axis=0, ddof=1).sum()) for k, g in grads.items()}
    out = {"ipw_total_var": tv["ipw"], "rand_total_var": tv["rand"], "ratio": tv["ipw"] / tv["rand"],
           "n_batches": n_batches, "n_params": int(grads["ipw"].shape[1]), "step": meta["step"],
           "design": f"confounded synthetic design of iwdd_ihdp (n = {meta['n']}, d = {meta['d']}, "
                     "e(x) = sigmoid(2.5 x_0))"}
    out.update(ratio_ci(grads["ipw"], grads["rand"], n_boot))
    out["summary"] = (f"total variance of the SiD generator gradient over {n_batches} minibatches of 256: IPW "
                      f"{tv['ipw']:.4g}, randomized {tv['rand']:.4g}, ratio {out['ratio']:.2f} (95 % CI "
                      f"[{out['ci_low']:.2f}, {out['ci_high']:.2f}], minibatches resampled).")
    return out


def ratio_ci(g_ipw: np.ndarray, g_rand: np.ndarray, n_boot: int, seed: int = 0) -> dict:
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


#: Name (the file ``OUT/studies/<name>.json``) -> measurement.
MEASUREMENTS = {"speed": sampling_speed, "gradvar": gradient_variance, "toy": toy_figure}


def measure(out: str | Path, names: list[str], quick: bool = False) -> dict:
    """Take the measurements ``names`` and write each to ``out/studies/<name>.json`` (a failed one as
    ``{"error": ...}``); returns them by name."""
    sdir = Path(out) / "studies"
    sdir.mkdir(parents=True, exist_ok=True)
    res = {}
    for name in names:
        t0 = time.perf_counter()
        try:
            r = MEASUREMENTS[name](sdir, quick=quick)
        except Exception as exc:  # noqa: BLE001 - a failed measurement is recorded, and the others still run
            r = {"error": f"{type(exc).__name__}: {exc}"}
        r.update(quick=quick, measured=utc_now(), study_seconds=time.perf_counter() - t0, load=load_average(),
                 code=code_version())
        (sdir / f"{name}.json").write_text(json.dumps(r, indent=1, default=float) + "\n")
        res[name] = r
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m studies.paper", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help=f"the paper's output folder (default {DEFAULT_OUT})")
    ap.add_argument("--only", default=",".join(MEASUREMENTS), help="comma-separated subset of "
                                                                   f"{','.join(MEASUREMENTS)} (default all)")
    ap.add_argument("--quick", action="store_true", help="smoke-test sizes (not measurements to report)")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    bad = [n for n in names if n not in MEASUREMENTS]
    if bad or not names:
        ap.error(f"--only {args.only!r}: unknown {bad or 'empty'}; choose from {', '.join(MEASUREMENTS)}")
    res = measure(args.out, names, quick=args.quick)
    for name, r in res.items():
        print(f"{name}: {r.get('error') or r.get('summary', '')}")
    return 1 if any("error" in r for r in res.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
