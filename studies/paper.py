"""The three IWDD measurements ``catebench paper`` reports, written into ``OUT/studies/`` for it to read.

``python -m studies.paper [--out results/paper] [--only speed,gradvar,toy] [--quick]``

Each measurement is a function of an output folder that returns a JSON-able dict (with a one-line ``summary``);
:func:`main` writes it as ``OUT/studies/<name>.json`` with when, how long, at what load and with which code it was
measured, or ``{"error": ...}`` when it failed (the paper then reports the claim that needs it as not testable):

* :func:`toy_figure`: the paper's 1-D toy figure, made by :mod:`studies.iwdd_toy` into ``OUT/studies/toy``;
* :func:`sampling_speed`: one-step generator vs multi-step Heun sampling of the teacher
  (:func:`studies.sampling_speed.time_samplers`);
* :func:`gradient_variance`: variance of the SiD generator gradient with explicit IPW weights vs randomized
  conditions, per overlap design, seed and model state (:mod:`studies.iwdd_gradvar`, into ``OUT/studies/gradvar``).

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

from catebench.benchmark.paper.plan import code_version, load_average, utc_now
from catebench.benchmark.paper.protocol import DEFAULT_OUT, SPLIT
from catebench.benchmark.runner import limit_threads
from catebench.datasets.ihdp import IHDP
from catebench.datasets.splits import get_split, split_indices
from catebench.estimators.iwdd import IWDD

from . import iwdd_toy
from .sampling_speed import time_samplers

__all__ = ["toy_figure", "sampling_speed", "gradient_variance", "MEASUREMENTS", "measure", "main"]


def toy_figure(out_dir: Path, quick: bool = False) -> dict:
    """Run :mod:`studies.iwdd_toy` into ``out_dir/toy``; return the figure's path and its W1 table rows."""
    toy_dir = Path(out_dir) / "toy"
    args = ["--out", str(toy_dir), "--draws", "5" if quick else "50", "--seed", "0"] + (["--quick"] if quick else [])
    iwdd_toy.main(args)
    summary = (toy_dir / "summary.md").read_text()
    w1 = [line for line in summary.splitlines() if line.startswith("| ") and "method" not in line]
    return {"figure": "toy/figure.png", "w1_rows": w1,  # relative to out_dir, where the measurement file is
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


def gradient_variance(out_dir: Path, quick: bool = False, replications: int = 5) -> dict:
    """IPW vs randomized variance of the SiD generator gradient, per design, seed and model state.

    Runs :mod:`studies.iwdd_gradvar` afresh into ``out_dir/gradvar`` (its ``variance.csv``, ``runs.csv`` and
    ``summary.md``: the ``synthetic`` design at good, moderate and weak overlap, ``replications`` seeds, the start,
    middle and end of a 400-step paper-method distillation, a BCa 95 % CI of the ratio IPW / randomized per cell)
    and returns, per design, how many cells have the CI above 1, at or below 1, and the geometric-mean ratio.
    Quick: test-sized networks, n = 200, one seed, 20 SiD steps, 8 minibatches.
    """
    import shutil

    import pandas as pd

    from . import iwdd_gradvar

    gdir = Path(out_dir) / "gradvar"
    shutil.rmtree(gdir, ignore_errors=True)  # a fresh measurement: the study would resume from its own files
    n_batches = 8 if quick else 32  # passed to the study, so the count written below is the one it used
    args = ["--out", str(gdir), "--replications", "1" if quick else str(replications), "--batches", str(n_batches)]
    if quick:
        args += ["--quick", "--n", "200", "--steps", "20", "--start", "2", "--check-every", "5"]
    iwdd_gradvar.main(args)
    var = pd.read_csv(gdir / "variance.csv")
    designs = []
    for design, imbalance in iwdd_gradvar.DESIGNS.items():
        v = var[var.design == design]
        designs.append({"design": design, "imbalance": imbalance, "cells": len(v),
                        "above": int((v.ci_low > 1).sum()), "below": int((v.ci_high <= 1).sum()),
                        "gm_ratio": float(np.exp(np.log(v.ratio_ipw_rand).mean())),
                        "ratio": [float(x) for x in v.ratio_ipw_rand], "ci_low": [float(x) for x in v.ci_low],
                        "ci_high": [float(x) for x in v.ci_high], "state": list(v.state)})
    summary = "; ".join(f"{d['design']}: ratio IPW / randomized {d['gm_ratio']:.2f} (geometric mean), CI above 1 "
                        f"in {d['above']} and at or below 1 in {d['below']} of {d['cells']} cells" for d in designs)
    return {"designs": designs, "replications": int(var.replication.nunique()), "n_batches": n_batches,
            "states": sorted(set(var.state)), "summary": summary + " (`studies/gradvar/summary.md`)."}


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
