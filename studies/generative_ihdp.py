"""Generative baselines (DiffPO, CEVAE, GANITE) on offline IHDP: run ``benchmark/configs/generative_ihdp.toml``, summarise.

    python -m studies.generative_ihdp [--replications N] [--n-jobs J] [--summary-only]
    python -m studies.generative_ihdp --timing ROUNDS     (fit+predict seconds beside diffusion-teacher)

Runs the config through the runner (store ``results/generative_ihdp/store.sqlite``; it resumes, so the run can be
done in pieces) and writes ``results/generative_ihdp/summary.md`` (and ``summary.csv``):

* per estimator, mean +- SE and median over replications of the out-of-sample (and within-sample) sqrt-PEHE and
  absolute ATE error, and the median fit seconds (the neural study's protocol: 63/27/10, the estimators hold out
  30 % of the fit rows);
* the published IHDP rows of CEVAE and GANITE from ``ihdp_published.csv`` (read at run time from
  ``$CATEBENCH_SHARED/reference`` or ``../shared/reference``; skipped when absent), with their ``verified`` status,
  and the ratio of our mean to the published one (within 30 % is the agreement criterion);
* for calibration, TARNet from the neural study (its store, same replications; else its ``summary.csv``) beside its
  own published figure: how far a well-understood baseline lands from its published number on these draws;
* the distributional metrics the runner stores for generative estimators (CRPS, 50/90 % interval coverage and
  width, W1 to the known noise law), beside IWDD's and the diffusion teacher's on the same replications when the
  IWDD study's store (``results/iwdd_ihdp/store.sqlite``) is present.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from catebench.benchmark.config import load_config
from catebench.benchmark.report import PUBLISHED_TAG, default_reference_path, leaderboard, plus_minus
from catebench.benchmark.runner import run
from catebench.benchmark.store import Store

OUT = Path("results/generative_ihdp")
#: estimator name here -> method name in ihdp_published.csv
PUBLISHED_NAMES = {"cevae": "CEVAE", "ganite": "GANITE"}
#: other studies' stores read (never written) for comparison rows: (path, estimators)
NEURAL_STORE = (Path("results/neural_ihdp/store.sqlite"), ["tarnet"])
NEURAL_SUMMARY = Path("results/neural_ihdp/summary.csv")
IWDD_STORE = (Path("results/iwdd_ihdp/store.sqlite"), ["iwdd-rand", "diffusion-teacher"])
DIST_COLUMNS = [("crps_out", "CRPS out"), ("cov50_out", "cov50 out"), ("cov90_out", "cov90 out"),
                ("width90_out", "width90 out"), ("w1_out", "W1 out"), ("crps_in", "CRPS in"), ("cov90_in", "cov90 in")]


def summarise(results: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """The leaderboard rows of ``order`` (see :func:`catebench.benchmark.report.leaderboard`) plus the slowest fit."""
    board = leaderboard(results).set_index("estimator").reindex(order).reset_index()
    ok = results[results.status == "ok"]
    board["fit_seconds_max"] = board["estimator"].map(ok.groupby("estimator")["fit_seconds"].max())
    return board


def _mean_se_median(board_row, m: str) -> tuple[str, str]:
    mean, se, med = (getattr(board_row, f"{m}_{s}", np.nan) for s in ("mean", "se", "median"))
    return plus_minus(mean, se), ("-" if not np.isfinite(med) else f"{med:.3f}")


def other_store_rows(path: Path, names: list[str], replications: list[int], split: str = "63/27/10") -> pd.DataFrame | None:
    """Leaderboard rows of ``names`` from another study's store, restricted to ``replications`` of IHDP on this
    study's ``split`` (the same tasks but for the estimator); None if absent."""
    if not path.exists():
        return None
    res = Store(str(path)).results()
    res = res[res.estimator.isin(names) & res.replication.isin(replications) & (res.dataset == "ihdp")
              & (res.split == split)]
    if not len(res):
        return None
    return leaderboard(res).set_index("estimator").reindex([n for n in names if n in set(res.estimator)]).reset_index()


def heterogeneity_table(store: Store, results: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Per estimator, over its ok tasks: median correlation of tau_hat with the true tau on the test rows, median
    ratio sd(tau_hat) / sd(tau) (below 1: the effect surface is shrunk), and the mean sqrt-PEHE of the constant
    predictor that knows the true test-row ATE (= sd of tau on the test rows: how heterogeneous the draws are)."""
    from catebench.benchmark.registry import DATASETS

    ok = results[(results.status == "ok") & results.estimator.isin(order)]
    truth: dict[int, np.ndarray] = {}
    rows = []
    for r in ok.itertuples():
        if r.replication not in truth:
            data = DATASETS.create(r.dataset).load(int(r.replication))
            truth[r.replication] = data.mu1 - data.mu0
        pred = store.predictions(r.key)
        test = pred["test_idx"]
        tau, tau_hat = truth[r.replication][test], (pred["mu1_hat"] - pred["mu0_hat"])[test]
        sd = tau.std()
        rows.append({"estimator": r.estimator, "corr": np.corrcoef(tau_hat, tau)[0, 1] if sd > 0 else np.nan,
                     "sd_ratio": tau_hat.std() / sd if sd > 0 else np.nan, "const_pehe": sd,
                     "ate_bias": tau_hat.mean() - tau.mean(), "ate": tau.mean(), "ate_hat": tau_hat.mean()})
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame(rows)
    out = df.groupby("estimator").agg(corr_median=("corr", "median"), sd_ratio_median=("sd_ratio", "median"),
                                      const_pehe_mean=("const_pehe", "mean"), ate_bias_mean=("ate_bias", "mean"),
                                      ate_bias_positive=("ate_bias", lambda v: float(np.mean(v > 0))),
                                      ate_mean=("ate", "mean"), n=("corr", "size"))  # fmt: skip
    # effect-level shrinkage: least-squares slope of the estimated test-row ATE on the true one across replications
    # (1: the level is followed; below 1: shrunk towards a constant, a bias that grows with the true ATE)
    out["ate_slope"] = pd.Series({e: (np.polyfit(g["ate"], g["ate_hat"], 1)[0] if len(g) >= 3 and g["ate"].std() > 0
                                      else np.nan) for e, g in df.groupby("estimator")})  # fmt: skip
    return out.reindex(order)


def explain_ratios(board: pd.DataFrame, ref: pd.DataFrame, calib: pd.DataFrame | None,
                   het: pd.DataFrame) -> list[str]:
    """Sentences, computed from the tables, on each published estimator's sqrt-PEHE ratio (the 30 % criterion);
    ``het`` is :func:`heterogeneity_table` (empty: no per-task measurements)."""
    out = ["", "Reading (computed from the tables above):", ""]
    b = board.set_index("estimator")
    tar = tar_ate = None  # TARNet on these draws / its published figure: how far the draws alone move a method
    if calib is not None and "tarnet" in set(calib.estimator):
        t = calib.set_index("estimator").loc["tarnet"]
        tr = ref[(ref.method == "TARNet") & (ref.metric == "sqrt_pehe") & (ref.source == "Shalit2017_Table1")]
        if len(tr):
            tar = t["pehe_out_mean"] / tr.out_of_sample.iloc[0]
        ta = ref[(ref.method == "TARNet") & (ref.metric == "ate_error") & (ref.source == "Shalit2017_Table1")]
        if len(ta) and "ate_out_mean" in t.index:
            tar_ate = t["ate_out_mean"] / ta.out_of_sample.iloc[0]

    def relative(ratio: float, tarnet_ratio: float | None, what: str) -> str:
        if tarnet_ratio is None or not np.isfinite(tarnet_ratio):
            return ""
        rel = ratio / tarnet_ratio
        return (f" Relative to TARNet on the same draws ({what} of TARNet here / published: {tarnet_ratio:.2f}), the "
                f"ratio is {rel:.2f} ({'within' if 0.7 <= rel <= 1.3 else 'outside'} 30 %).")
    for est, method in PUBLISHED_NAMES.items():
        r = ref[(ref.method == method) & (ref.metric == "sqrt_pehe")]
        if est not in b.index or not len(r) or not np.isfinite(b.loc[est, "pehe_out_mean"]):
            continue
        pub, mean, med = r.out_of_sample.iloc[0], b.loc[est, "pehe_out_mean"], b.loc[est, "pehe_out_median"]
        ratio = mean / pub
        verdict = "within" if 0.7 <= ratio <= 1.3 else "outside"
        text = (f"* {est}: mean out-of-sample sqrt-PEHE {mean:.2f} over {int(b.loc[est, 'n_ok'])} replications, "
                f"{ratio:.2f} x the published {pub:.1f} ({verdict} 30 %); median {med:.2f} ({med / pub:.2f} x).")
        if verdict == "outside":
            if med < mean * 0.8:
                text += (" The mean is pulled up by a few replications with a very heterogeneous effect (mean "
                         f"minus median {mean - med:.2f}).")
            if len(het) and est in het.index and np.isfinite(het.loc[est, "sd_ratio_median"]):
                h = het.loc[est]
                text += (f" Measured on its tasks: median sd(tau_hat)/sd(tau) {h.sd_ratio_median:.2f} (below 1: "
                         f"shrunk effect surface), median correlation with the true tau {h.corr_median:.2f}; the "
                         f"replications' own heterogeneity (constant-ATE sqrt-PEHE {h.const_pehe_mean:.2f}, what "
                         "an estimator finding no heterogeneity scores) sets the scale of the error.")
            if tar is not None:
                text += (f" On these draws TARNet lands at {tar:.2f} x its published figure, so the draws (not the "
                         "published IHDP-1000 files) and their number account for part of any gap.")
            text += relative(ratio, tar, "sqrt-PEHE")
        out.append(text)
        ra = ref[(ref.method == method) & (ref.metric == "ate_error")]
        if len(ra) and np.isfinite(b.loc[est, "ate_out_mean"]):
            pa, ma = ra.out_of_sample.iloc[0], b.loc[est, "ate_out_mean"]
            va = "within" if 0.7 <= ma / pa <= 1.3 else "outside"
            text = f"* {est}: mean out-of-sample ATE error {ma:.2f}, {ma / pa:.2f} x the published {pa:.2f} ({va} 30 %)."
            if va == "outside" and len(het) and est in het.index and np.isfinite(het.loc[est, "ate_bias_mean"]):
                h = het.loc[est]
                k, n = int(round(h.ate_bias_positive * h.n)), int(h.n)
                one_way = max(k, n - k)
                text += (f" Measured: the signed test-row ATE error (mean tau_hat - mean tau) averages "
                         f"{h.ate_bias_mean:+.2f} and has the same sign in {one_way} of {n} replications"
                         + (", a bias of the effect level rather than noise." if one_way >= 0.8 * n and n >= 5
                            else "."))
                if np.isfinite(h.ate_slope):
                    text += (f" Across replications the estimated test-row ATE follows the true one with slope "
                             f"{h.ate_slope:.2f} (1: level followed; below 1: the effect is shrunk, and at the mean "
                             f"true ATE {h.ate_mean:.2f} a shrinkage of {1 - h.ate_slope:.2f} alone would give "
                             f"{-(1 - h.ate_slope) * h.ate_mean:+.2f} before the intercept).")
                text += relative(ma / pa, tar_ate, "ATE error")
            out.append(text)
    return out


def published(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path) if path.exists() else None


def write_summary(results: pd.DataFrame, order: list[str], out: Path, command: str,
                  store: Store | None = None, planned: int | None = None) -> Path:
    board = summarise(results, order)
    # per-task measurements (every replication's truth and stored predictions): read once, used twice below
    het = heterogeneity_table(store, results, order) if store is not None else pd.DataFrame()
    out.mkdir(parents=True, exist_ok=True)
    board.to_csv(out / "summary.csv", index=False, float_format="%.6g")
    ok = results[results.status == "ok"]
    reps = sorted(ok.replication.unique().tolist())
    rep_text = f"{len(reps)} replications ({reps[0]}..{reps[-1]})" if reps else "no replications"
    lines = [
        "# Generative baselines on offline IHDP (NPCI setting A draws, split 63/27/10)",
        "",
        f"Generated by `{command}` from `{out / 'store.sqlite'}`; {rep_text} with at least one finished task "
        "(counts per estimator below; the run resumes, so a partial store is summarised as it stands). Mean ± "
        "standard error over replications, median beside it; out-of-sample = the 10 % test rows, within-sample = "
        "the 90 % fit rows (each estimator holds out 30 % of its fit rows for early stopping or model selection). "
        "Fit seconds: median / max over replications, one torch thread per task, on a shared 2-core machine "
        "(noisy; see the estimators' docstrings for the side-by-side timing against `diffusion-teacher`).",
        "",
    ]
    if planned and len(reps) < planned:
        lines += [f"**Incomplete: {len(reps)} of the config's {planned} replications are in the store.** Resume with "
                  "`python -m studies.generative_ihdp` (finished tasks are skipped) and regenerate.", ""]
    lines += [
        "| estimator | ok / failed | sqrt-PEHE out | median | ATE error out | median | sqrt-PEHE in | ATE error in | fit s (median / max) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in board.itertuples():
        p_out, p_med = _mean_se_median(r, "pehe_out")
        a_out, a_med = _mean_se_median(r, "ate_out")
        lines.append(
            f"| {r.estimator} | {int(r.n_ok) if np.isfinite(r.n_ok) else 0} / "
            f"{int(r.n_failed) if np.isfinite(r.n_failed) else 0} | {p_out} | {p_med} | {a_out} | {a_med} | "
            f"{plus_minus(r.pehe_in_mean, r.pehe_in_se)} | {plus_minus(r.ate_in_mean, r.ate_in_se)} | "
            f"{r.fit_seconds_median:.2f} / {r.fit_seconds_max:.2f} |"
        )
    calib, calib_label = other_store_rows(NEURAL_STORE[0], NEURAL_STORE[1], reps), "neural study, same replications"
    if calib is None and NEURAL_SUMMARY.exists():  # the neural study's generated summary (its 100 replications)
        calib = pd.read_csv(NEURAL_SUMMARY)
        calib = calib[calib.estimator.isin(NEURAL_STORE[1])].reset_index(drop=True)
        calib_label = "neural study summary, replications 1-100"
    if calib is not None:
        for r in calib.itertuples():
            p_out, p_med = _mean_se_median(r, "pehe_out")
            a_out, a_med = _mean_se_median(r, "ate_out")
            lines.append(
                f"| {r.estimator} ({calib_label}) | {r.n_ok} / {r.n_failed} | {p_out} | {p_med} | "
                f"{a_out} | {a_med} | {plus_minus(r.pehe_in_mean, r.pehe_in_se)} | "
                f"{plus_minus(r.ate_in_mean, r.ate_in_se)} | {r.fit_seconds_median:.2f} / - |"
            )
    ref = published(default_reference_path())
    if ref is None:
        lines += ["", f"Published rows skipped: no file at `{default_reference_path()}`."]
    else:
        lines += ["", f"## Published IHDP figures ({PUBLISHED_TAG})", "",
                  "The published rows come from other draws (the IHDP-1000 / NPCI files and the authors' own "
                  "protocols), so they orient, they do not rank. `verified` is the reference file's status of each "
                  "figure. Ratio = our mean / the published mean; agreement means each estimator within 30 % "
                  "(ratio 0.7-1.3) or a measured explanation.", "",
                  "| method | source | metric | within-sample | out-of-sample | verified | ours (out) | ratio |",
                  "|---|---|---|---|---|---|---|---|"]
        ours = board.set_index("estimator")
        names = dict(PUBLISHED_NAMES)
        if calib is not None:
            names["tarnet"] = "TARNet"
            ours = pd.concat([ours, calib.set_index("estimator")])
        for est, method in names.items():
            rows = ref[(ref.method == method) & ref.metric.isin(["sqrt_pehe", "ate_error"])]
            if method == "TARNet":
                rows = rows[rows.source == "Shalit2017_Table1"]
            for r in rows.itertuples():
                m = "pehe_out" if r.metric == "sqrt_pehe" else "ate_out"
                mine = ours.loc[est, f"{m}_mean"] if est in ours.index else np.nan
                ratio = mine / r.out_of_sample if np.isfinite(mine) else np.nan
                lines.append(
                    f"| *{r.method}* | {r.source} | {r.metric} | {plus_minus(r.within_sample, r.within_se)} | "
                    f"{plus_minus(r.out_of_sample, r.out_se)} | {r.verified} | "
                    f"{'-' if not np.isfinite(mine) else f'{mine:.3f}'} ({est}) | "
                    f"{'-' if not np.isfinite(ratio) else f'{ratio:.2f}'} |"
                )
        lines += ["", "DiffPO has no published IHDP figure in the reference file (its paper reports ACIC 2016/2018)."]
        lines += explain_ratios(board, ref, calib, het)
    if len(het):
        lines += ["", "## How the effect surface is recovered (test rows, per replication)", "",
                  "corr = correlation of tau_hat with the true tau; sd ratio = sd(tau_hat) / sd(tau) (below 1: "
                  "shrunk towards a constant effect); constant-ATE sqrt-PEHE = the error of predicting the true "
                  "test-row ATE for every unit (the sd of tau: what a method that finds no heterogeneity scores).",
                  "", "| estimator | tasks | corr (median) | sd ratio (median) | constant-ATE sqrt-PEHE (mean) |",
                  "|---|---|---|---|---|"]
        for est, r in het.iterrows():
            if np.isfinite(r.n):
                lines.append(f"| {est} | {int(r.n)} | {r.corr_median:.3f} | {r.sd_ratio_median:.3f} | "
                             f"{r.const_pehe_mean:.3f} |")
    # distributional metrics
    dist_cols = [(c, label) for c, label in DIST_COLUMNS if f"{c}_mean" in board]
    if dist_cols:
        lines += ["", "## Distributional metrics (draws of Y(0), Y(1) against the noisy potential outcomes)", "",
                  "32 draws per unit and arm on the test rows (out) and on up to 128 fit rows (in), scored by the "
                  "runner (`catebench.benchmark.metrics`): CRPS (lower is better), share of y0/y1 inside the central 50 % / "
                  "90 % intervals (read as distance to 0.5 / 0.9), mean 90 % interval width (IHDP's noise is "
                  "N(0, 1): an oracle's 90 % width is 3.29), W1 to the true conditional law (lower is better).", "",
                  "| estimator | " + " | ".join(label for _, label in dist_cols) + " |",
                  "|---|" + "---|" * len(dist_cols)]
        iwdd = other_store_rows(IWDD_STORE[0], IWDD_STORE[1], reps)
        if iwdd is not None:  # the IWDD study may hold fewer of these replications: say how many
            iwdd = iwdd.assign(estimator=[f"{r.estimator} (IWDD study, {int(r.n_ok)} of these replications)"
                                          for r in iwdd.itertuples()])
        frames = [board] + ([iwdd] if iwdd is not None else [])
        for fr in frames:
            for r in fr.itertuples():
                cells = [plus_minus(getattr(r, f"{c}_mean", np.nan), getattr(r, f"{c}_se", np.nan)) for c, _ in dist_cols]
                lines.append(f"| {r.estimator} | " + " | ".join(cells) + " |")
        if iwdd is None:
            lines += ["", f"IWDD rows skipped: no IWDD study store with these replications and split at `{IWDD_STORE[0]}`."]
    else:
        lines += ["", "No distributional metrics in the store (a runner before the lead's distributional metrics)."]
    timing = out / "timing.json"
    if timing.exists():
        import json

        tj = json.loads(timing.read_text())
        lines += ["", "## Fit + predict seconds beside `diffusion-teacher` (`--timing`, one process, one thread)", "",
                  f"IHDP replication {tj['replication']}, {tj['rounds']} round(s), median seconds; load average "
                  f"(1 min) during the measurement {min(tj['load_average_1min']):.0f}-"
                  f"{max(tj['load_average_1min']):.0f} on 2 cores, so only the ratios mean anything.", "",
                  "| estimator | fit + predict s | ratio to diffusion-teacher |", "|---|---|---|"]
        for n, v in tj["median_seconds"].items():
            lines.append(f"| {n} | {v:.1f} | {tj['ratio_to_teacher'][n]:.2f} |")
    lines += ["", f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
                  f"load average at writing {os.getloadavg()[0]:.1f}."]
    path = out / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


TIMING_ESTIMATORS = ["diffusion-teacher", "diffpo", "cevae", "ganite"]


def measure_timing(replication: int = 101, rounds: int = 1, out: Path = OUT) -> Path:
    """Fit + predict seconds of ``diffusion-teacher`` and the three baselines side by side in this process.

    One torch thread, the runner's data and 63/27/10 split of IHDP development replication ``replication`` (> 100:
    never a reported replication), validation fraction 0.3, the estimators interleaved in each round; writes
    ``timing.json`` (per-round seconds, medians, ratios to the teacher, load average) into ``out``."""
    import json
    import time

    import torch

    from catebench.benchmark.registry import ESTIMATORS
    from catebench.benchmark.runner import load_task_data

    torch.set_num_threads(1)
    td = load_task_data("ihdp", replication, "63/27/10")
    data, fit = td.data, td.fit_idx
    seconds: dict[str, list[float]] = {n: [] for n in TIMING_ESTIMATORS}
    load = [os.getloadavg()[0]]
    for _ in range(rounds):
        for name in TIMING_ESTIMATORS:
            est = ESTIMATORS.create(name, device="cpu", random_state=td.random_state)
            if "validation_fraction" in est.get_params():
                est.set_params(validation_fraction=td.split.validation_fraction)
            t0 = time.perf_counter()
            est.fit(data.X[fit], data.t[fit], data.y[fit])
            est.predict(data.X)
            seconds[name].append(time.perf_counter() - t0)
            print(f"{name}: {seconds[name][-1]:.1f} s", flush=True)
        load.append(os.getloadavg()[0])
    med = {n: float(np.median(v)) for n, v in seconds.items()}
    report = {"replication": replication, "rounds": rounds, "seconds": seconds, "median_seconds": med,
              "ratio_to_teacher": {n: med[n] / med["diffusion-teacher"] for n in med},
              "load_average_1min": load, "torch_threads": 1}
    out.mkdir(parents=True, exist_ok=True)
    path = out / "timing.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replications", type=int, default=None, help="run replications 1..N only (default: config)")
    ap.add_argument("--n-jobs", type=int, default=None)
    ap.add_argument("--estimators", default=None, help="comma-separated subset of the config's estimators")
    ap.add_argument("--summary-only", action="store_true", help="do not run; summarise the store")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--timing", type=int, default=0, metavar="ROUNDS",
                    help="only measure fit+predict seconds against diffusion-teacher (ROUNDS rounds on IHDP "
                         "replication 101, one thread) into timing.json; no run, no summary")
    args = ap.parse_args(argv)
    if args.timing:
        print(measure_timing(rounds=args.timing, out=Path(args.out)))
        return 0
    config = load_config("generative_ihdp")
    out = Path(args.out)
    changes: dict = {"store": str(out / "store.sqlite")}
    if args.replications:
        changes["datasets"] = [dataclasses.replace(d, replications=tuple(range(1, args.replications + 1)))
                               for d in config.datasets]
    if args.n_jobs:
        changes["n_jobs"] = args.n_jobs
    if args.estimators:
        wanted = [e.strip() for e in args.estimators.split(",") if e.strip()]
        changes["estimators"] = [e for e in config.estimators if e.name in wanted]
    config = dataclasses.replace(config, **changes).validate()
    order = [e.name for e in config.estimators]
    out.mkdir(parents=True, exist_ok=True)
    store = Store(config.store)
    if not args.summary_only:
        print(run(config, store))
    results = store.results()
    results = results[results.estimator.isin(order)]
    command = "python -m studies.generative_ihdp " + " ".join(sys.argv[1:] if argv is None else argv)
    planned = max(len(d.replications) for d in config.datasets)
    print(write_summary(results, order, out, command.strip(), store, planned))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
