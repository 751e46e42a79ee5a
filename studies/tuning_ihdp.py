"""Fair tuning on offline IHDP: neural baselines and IWDD at their defaults vs tuned on validation rows.

    python -m studies.tuning_ihdp [--replications N] [--estimators a,b] [--summary-only]
    python -m studies.tuning_ihdp --oracle tarnet,cfr-mmd [--replications N] [--n-jobs J]

CFR-MMD appears with both kernels: ``cfr-mmd`` (RBF, as registered) and ``cfr-mmd-lin`` (the squared linear MMD of
the authors' public IHDP config); both are compared with the published CFR-MMD.

Runs ``benchmark/configs/tuning_ihdp.toml`` through the runner (store ``results/tuning_ihdp/store.sqlite``;
resumable, so the run can be done in pieces and killed at any point) and writes ``results/tuning_ihdp/summary.md``
and ``summary.csv``. Every estimator appears twice: at its defaults (``tarnet``) and tuned (``tarnet@tuned-nn-pehe-8``:
8 candidates, the defaults included, selected on 30 % of the fit rows by the nearest-neighbour PEHE proxy of
Shalit et al. 2017, then refit on all fit rows; see :mod:`catebench.benchmark.tuning`).

The summary reports, per label, out-of-sample and within-sample sqrt-PEHE (mean +- SE and median) beside the
published figures (``ihdp_published.csv``, read at run time; skipped when absent), whether each tuned CFR/TARNet
is within 20 % of its published mean, whether the tuned order matches the published one, paired tuned-vs-default
differences on the same replications, how often tuning kept the defaults, the cost per replication and what the
full 100 replications would take, and a measurement of the data draws: the per-replication standard deviation
of the true effect in our ``ihdp`` draws against the standard IHDP-100 test file
(``ihdp_npci_1-100.test.npz`` under ``$CATEBENCH_SHARED/data/ihdp`` or ``../shared/data/ihdp``; skipped when
absent).

``--oracle`` adds a diagnostic (``oracle.csv``, a section of the summary): every candidate a tuned task drew, refit
on all fit rows with the task's seed and scored on the test rows, so that the best candidate (what the search
space and budget could give) is told apart from the chosen one (what the criterion picked). It reads test rows, so
it never selects anything; the chosen candidate's refit is checked against the stored row. It also scores the same
candidates by all three criteria of :mod:`catebench.benchmark.tuning` (``criteria.csv``: each candidate fit once on the training
part, as the tuning did), so the summary shows which candidate each criterion would have picked and how that one
scores on the test rows.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from catebench.benchmark.config import load_config
from catebench.benchmark.report import STATUS_LEGEND, default_reference_path, plus_minus, published_status
from catebench.benchmark.runner import limit_threads, load_task_data, run
from catebench.benchmark.store import Store
from catebench.benchmark.tuning import tuned_label

OUT = Path("results/tuning_ihdp")
PUBLISHED_NAMES = {"tarnet": "TARNet", "cfr-mmd": "CFR-MMD", "cfr-mmd-lin": "CFR-MMD", "cfr-wass": "CFR-WASS"}
#: The published order is checked once per MMD variant: the RBF one and the linear one of the authors' config.
ORDER_SETS = (("tarnet", "cfr-mmd", "cfr-wass"), ("tarnet", "cfr-mmd-lin", "cfr-wass"))
WITHIN = 0.20  # tolerance: a tuned estimator is within 20 % of the published out-of-sample mean


def shared_path(*parts: str) -> Path:
    root = os.environ.get("CATEBENCH_SHARED")
    base = Path(root) if root else Path(__file__).resolve().parents[2] / "shared"
    return base.joinpath(*parts)


def published() -> dict[str, tuple[float, float, str]]:
    """{estimator: (out-of-sample sqrt-PEHE, SE, status)} from Shalit et al. (2017) Table 1, the status as
    :func:`catebench.benchmark.report.published_status` reads the file's ``verified`` column; empty when the file is absent."""
    path = default_reference_path()
    if not path.exists():
        return {}
    ref = pd.read_csv(path)
    out = {}
    for est, method in PUBLISHED_NAMES.items():
        r = ref[(ref.method == method) & (ref.source == "Shalit2017_Table1") & (ref.metric == "sqrt_pehe")]
        if len(r):
            out[est] = (float(r.out_of_sample.iloc[0]), float(r.out_se.iloc[0]),
                        published_status(r.verified.iloc[0], "out"))
    return out


def _se(x: pd.Series) -> float:
    return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")


def board(ok: pd.DataFrame, labels: list[str]) -> pd.DataFrame:
    rows = []
    for lab in labels:
        g = ok[ok.estimator == lab]
        if not len(g):
            continue
        rows.append({
            "estimator": lab, "n": len(g),
            "pehe_out_mean": g.pehe_out.mean(), "pehe_out_se": _se(g.pehe_out), "pehe_out_median": g.pehe_out.median(),
            "pehe_in_mean": g.pehe_in.mean(), "pehe_in_se": _se(g.pehe_in), "pehe_in_median": g.pehe_in.median(),
            "ate_out_mean": g.ate_out.mean(), "ate_out_se": _se(g.ate_out),
            "fit_seconds_median": g.fit_seconds.median(), "fit_seconds_total": g.fit_seconds.sum(),
            "kept_defaults": (g.tune_chosen == 0).mean() if "tune_chosen" in g and g.tune_chosen.notna().all() else np.nan,
        })  # fmt: skip
    return pd.DataFrame(rows)


def effect_sd_table(reps: list[int]) -> tuple[list[str], dict]:
    """sd of the true effect per replication: our ``ihdp`` draws vs the IHDP-100 test file (test rows)."""
    ours_all, ours_test = [], []
    for r in reps:
        td = load_task_data("ihdp", r)  # the runner's data and 63/27/10 split of replication r
        d, test_idx = td.data, td.test_idx
        tau = d.mu1 - d.mu0
        ours_all.append(tau.std())
        ours_test.append(tau[test_idx].std())
    stats = {"ours_all": np.array(ours_all), "ours_test": np.array(ours_test)}
    path = shared_path("data", "ihdp", "ihdp_npci_1-100.test.npz")
    if path.exists():
        with np.load(path) as z:
            stats["file_test"] = (z["mu1"] - z["mu0"]).std(axis=0)
    names = {"ours_all": f"our `ihdp` draws, all 747 rows (replications {reps[0]}..{reps[-1]})",
             "ours_test": "our `ihdp` draws, the 75 test rows of the 63/27/10 split",
             "file_test": "IHDP-100 file `ihdp_npci_1-100.test.npz`, its 75 test rows (replications 1..100)"}
    lines = ["| draws | replications | mean | median | 90th pct | max | share > 10 |", "|---|---|---|---|---|---|---|"]
    for k, v in stats.items():
        lines.append(f"| {names[k]} | {len(v)} | {v.mean():.2f} | {np.median(v):.2f} | {np.quantile(v, 0.9):.2f} | "
                     f"{v.max():.2f} | {(v > 10).mean():.2f} |")
    if "file_test" not in stats:
        lines.append(f"\n(IHDP-100 file rows skipped: no file at `{path}`.)")
    return lines, stats


def write_summary(results: pd.DataFrame, bases: list[str], budget: int, criterion: str, out: Path,
                  command: str) -> Path:
    ok = results[results.status == "ok"].copy()
    tl = {b: tuned_label(b, criterion, budget) for b in bases}
    labels = [x for b in bases for x in (b, tl[b])]
    tab = board(ok, labels)
    pub = published()
    out.mkdir(parents=True, exist_ok=True)
    tab.to_csv(out / "summary.csv", index=False)
    n_fail = int((results.status != "ok").sum())
    reps_by = {lab: sorted(ok[ok.estimator == lab].replication.unique().tolist()) for lab in labels}
    lines = [
        "# Fair tuning on offline IHDP (NPCI setting A draws, split 63/27/10)",
        "",
        f"Generated by `{command}` from `{out / 'store.sqlite'}`. Each estimator at its defaults and tuned "
        f"(`NAME@tuned-{criterion}-{budget}`): {budget} candidates per task, candidate 0 = the defaults, the others "
        "drawn (seeded) from the estimator's `search_space()`; each candidate fit on 70 % of the fit rows and scored "
        "on the other 30 % (the same validation rows for every estimator of a replication; test rows never seen) "
        f"by `{criterion}` (nearest-neighbour PEHE proxy of Shalit et al. 2017); the winner refit on all fit rows "
        "and scored on the 10 % test rows (out) and the fit rows (in). Mean ± SE over replications, median beside. "
        f"Failed tasks in the store: {n_fail}.",
        "",
        "| estimator | replications | sqrt-PEHE out | median out | sqrt-PEHE in | median in | ATE error out | "
        "fit s (median; tuned = selection + refit) | kept defaults | published out | within 20 % of published |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    verdicts = {}
    for r in tab.itertuples():
        base = r.estimator.split("@")[0]
        p = pub.get(base)
        within = "-"
        if p is not None:
            ratio = r.pehe_out_mean / p[0]
            within = f"{'yes' if abs(ratio - 1) <= WITHIN else 'no'} ({ratio:.2f}x)"
            if "@" in r.estimator:
                verdicts[base] = (abs(ratio - 1) <= WITHIN, ratio, r.pehe_out_median / p[0],
                                  abs(r.pehe_out_mean - p[0]) <= 2 * r.pehe_out_se, r.n)
        kept = "-" if np.isnan(r.kept_defaults) else f"{100 * r.kept_defaults:.0f} %"
        lines.append(
            f"| {r.estimator} | {r.n} | {plus_minus(r.pehe_out_mean, r.pehe_out_se)} | {r.pehe_out_median:.3f} | "
            f"{plus_minus(r.pehe_in_mean, r.pehe_in_se)} | {r.pehe_in_median:.3f} | "
            f"{plus_minus(r.ate_out_mean, r.ate_out_se)} | {r.fit_seconds_median:.1f} | {kept} | "
            f"{'-' if p is None else f'{plus_minus(p[0], p[1])} ({p[2]})'} | {within} |"
        )
    lines += ["", "Published: Shalit et al. (2017) Table 1, out-of-sample sqrt-PEHE on IHDP-1000 (their own "
                  "hyperparameter search; orientation only, other draws of the same design), with its status in "
                  "brackets. " + STATUS_LEGEND + " Both `cfr-mmd` (RBF kernel) and `cfr-mmd-lin` (squared linear MMD, "
                  "the MMD that the authors' public IHDP search config, clinicalml/cfrnet `configs/example_ihdp.txt`, "
                  "searches beside the Wasserstein distance) are compared with the published CFR-MMD."]

    # ---- order -------------------------------------------------------------------------------------------------
    lines += ["", "## Order", ""]
    for order_set in ORDER_SETS:
        have = [b for b in order_set if b in pub and tl.get(b) in set(tab.estimator)]
        if len(have) < 2:
            continue
        common = sorted(set.intersection(*[set(reps_by[tl[b]]) for b in have]))
        sub = ok[ok.estimator.isin([tl[b] for b in have]) & ok.replication.isin(common)]
        means = sub.groupby("estimator").pehe_out.mean()
        medians = sub.groupby("estimator").pehe_out.median()
        pub_order = sorted(have, key=lambda b: pub[b][0])
        mean_order = sorted(have, key=lambda b: means[tl[b]])
        med_order = sorted(have, key=lambda b: medians[tl[b]])
        d_means = ok[ok.estimator.isin(have) & ok.replication.isin(common)].groupby("estimator").pehe_out.mean()
        def_order = sorted(have, key=lambda b: d_means[b])
        lines += [
            f"On the {len(common)} replications all tuned {', '.join(have)} share:",
            "",
            f"* published order (best first): {' < '.join(pub_order)}",
            f"* tuned, by mean sqrt-PEHE out: {' < '.join(f'{b} ({means[tl[b]]:.3f})' for b in mean_order)} -> "
            f"**{'matches' if mean_order == pub_order else 'does not match'}**",
            f"* tuned, by median: {' < '.join(f'{b} ({medians[tl[b]]:.3f})' for b in med_order)} -> "
            f"**{'matches' if med_order == pub_order else 'does not match'}**",
            f"* defaults, by mean: {' < '.join(f'{b} ({d_means[b]:.3f})' for b in def_order)} -> "
            f"{'matches' if def_order == pub_order else 'does not match'}",
            "",
        ]

    # ---- paired tuned vs default -------------------------------------------------------------------------------
    from scipy.stats import wilcoxon

    lines += ["", "## Tuned vs default, paired on the same replications", "",
              "| estimator | replications | mean default | mean tuned | mean difference (tuned - default) | "
              "tuned better | Wilcoxon p |", "|---|---|---|---|---|---|---|"]
    for b in bases:
        a = ok[ok.estimator == b].set_index("replication").pehe_out
        t = ok[ok.estimator == tl[b]].set_index("replication").pehe_out
        common = a.index.intersection(t.index)
        if not len(common):
            continue
        d = t[common] - a[common]
        try:
            p = wilcoxon(d).pvalue if (d != 0).sum() >= 1 else float("nan")
        except ValueError:
            p = float("nan")
        lines.append(f"| {b} | {len(common)} | {a[common].mean():.3f} | {t[common].mean():.3f} | "
                     f"{plus_minus(d.mean(), _se(d))} | {(d < 0).mean() * 100:.0f} % ({(d == 0).sum()} ties) | "
                     f"{p:.3g} |")

    # ---- what tuning chose -------------------------------------------------------------------------------------
    lines += ["", "## What tuning chose", "",
              "Per tuned estimator: the share of replications on which each value of each searched parameter won "
              "(the defaults' values included when candidate 0 won).", ""]
    store = Store(out / "store.sqlite")
    from catebench.benchmark.tuning import tuning_record

    for b in bases:
        g = ok[ok.estimator == tl[b]]
        if not len(g):
            continue
        recs = [tuning_record(store, k) for k in g.key]
        space = recs[0]["space"]
        if not space:
            lines.append(f"* `{tl[b]}`: no search space; every task fit the defaults only.")
            continue
        params = json.loads(g.estimator_params.iloc[0])
        parts = []
        for name in sorted(space):
            vals = [rec["chosen_params"].get(name, params.get(name)) for rec in recs]
            counts = pd.Series([json.dumps(v) for v in vals]).value_counts()
            parts.append(f"{name}: " + ", ".join(f"{v} {100 * c / len(vals):.0f} %" for v, c in counts.items()))
        failed = sum(e is not None for rec in recs for e in rec["errors"])
        lines.append(f"* `{tl[b]}` ({len(recs)} tasks, {failed} failed candidate fits): " + "; ".join(parts))

    # ---- cost ----------------------------------------------------------------------------------------------------
    lines += ["", "## Cost", ""]
    per_rep = ok.groupby("estimator").fit_seconds.median()
    present = [lab for lab in labels if lab in per_rep]
    total_rep = float(sum(per_rep[lab] for lab in present))
    done = {lab: len(reps_by[lab]) for lab in labels}
    remaining = sum(max(100 - done[lab], 0) * per_rep.get(lab, np.nan) for lab in labels if lab in per_rep)
    lines += [
        "Median fit seconds per task (tuned: selection over all candidates + refit), one torch/BLAS thread, on a "
        "shared 2-core machine under other engineers' load (`uptime` load average at summary time: "
        f"{os.getloadavg()[0]:.1f}); ratios within one run are more reliable than the absolute values.",
        "",
        "| estimator | tasks done | median s / task | sum s |", "|---|---|---|---|",
    ]
    for lab in labels:
        if lab in per_rep:
            g = ok[ok.estimator == lab]
            lines.append(f"| {lab} | {len(g)} | {per_rep[lab]:.1f} | {g.fit_seconds.sum():.0f} |")
    rest = (f"Their missing tasks of the full 100 replications would take about {remaining / 3600:.1f} h more on "
            "one such thread (n_jobs=1), about half that with both cores of a quiet machine." if remaining > 0 else
            f"All 100 replications of them are done: {ok.fit_seconds.sum() / 3600:.1f} h of task time in all.")
    lines += ["", f"One replication of the {len(present)} labels run so far: about {total_rep / 60:.1f} min (sum of "
                  f"medians). {rest}"]
    missing = [lab for lab in labels if lab not in per_rep]
    if missing:
        lines.append(f"Not run yet (no timing): {', '.join(missing)}.")

    # ---- the data draws ------------------------------------------------------------------------------------------
    reps = sorted(ok.replication.unique().tolist())
    sd_lines, sd = effect_sd_table(list(range(1, 101)))
    lines += ["", "## Why the published figures are (not) reached: the draws", "",
              "Standard deviation of the true effect tau = mu1 - mu0 within each replication (the scale sqrt-PEHE "
              "is measured on; a mean over replications is dominated by the replications with large sd):", ""]
    lines += sd_lines
    ours = pd.Series(sd["ours_all"], index=range(1, 101))
    for b in bases:
        g = ok[ok.estimator == tl[b]].set_index("replication").pehe_out
        if len(g) >= 3:
            rho = pd.Series(g).corr(ours[g.index], method="spearman")
            rel = (g / ours[g.index])
            proj = ""
            if "file_test" in sd:
                proj = (f"; rough projection onto the file's draws, assuming the error scales with sd(tau): mean "
                        f"sqrt-PEHE / sd(tau) x the file's mean sd(tau) = {rel.mean() * sd['file_test'].mean():.2f}")
            worst = g.idxmax()
            lines.append(f"\n`{tl[b]}`: Spearman correlation of sqrt-PEHE out with the replication's sd(tau): "
                         f"{rho:.2f}; sqrt-PEHE / sd(tau): mean {rel.mean():.3f}, median {rel.median():.3f}{proj}. "
                         f"Its worst replication ({worst}, sd(tau) {ours[worst]:.1f}, sqrt-PEHE {g[worst]:.2f}) "
                         f"holds {100 * g[worst] / g.sum():.0f} % of the sum; the mean without it is "
                         f"{g.drop(worst).mean():.3f}.")
    if "file_test" in sd:
        f, o = sd["file_test"], sd["ours_test"]
        lines.append(
            f"\nOur draws' sd(tau) has median {np.median(o):.2f} vs the file's {np.median(f):.2f} and maximum "
            f"{o.max():.2f} vs {f.max():.2f} (test rows). Note: the published figures are on IHDP-1000, whose first "
            "100 replications are not the IHDP-100 file's; the file is the closest standard draw available here."
        )
    hundred = Path("results/neural_ihdp/summary.csv")
    if hundred.exists():
        h = pd.read_csv(hundred).set_index("estimator")
        got = [f"{e} {h.loc[e, 'pehe_out_mean']:.3f} (median {h.loc[e, 'pehe_out_median']:.3f})"
               for e in PUBLISHED_NAMES if e in h.index]
        lines.append(f"\nFor scale, the defaults on 100 replications of the same draws (`{hundred}`, generated by "
                     f"`python -m studies.neural_ihdp`): " + ", ".join(got) + ".")
    if (out / ORACLE_CSV).exists():
        lines += oracle_section(pd.read_csv(out / ORACLE_CSV), ok, pub)
        if (out / CRITERIA_CSV).exists():
            lines += criteria_section(pd.read_csv(out / ORACLE_CSV), pd.read_csv(out / CRITERIA_CSV), pub)

    lines += ["", "## Verdict", ""]
    for b, (within, ratio, med_ratio, in_2se, n) in verdicts.items():
        how = "within" if within else ("not within (better)" if ratio < 1 else "not within (worse)")
        lines.append(f"* tuned {b}: mean {ratio:.2f}x the published figure -> {how} 20 %; its median is "
                     f"{med_ratio:.2f}x; the published mean is {'inside' if in_2se else 'outside'} our mean ± 2 SE "
                     f"({n} replications).")
    lines += ["", f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}."]
    path = out / "summary.md"
    path.write_text("\n".join(lines) + "\n")
    return path


# ---- oracle diagnostic (why the published figures are not reached) ----------------------------------------------
ORACLE_CSV = "oracle.csv"


def _oracle_task(row: dict) -> list[dict]:
    """Every stored candidate of one tuned task refit on all fit rows and scored on the test rows (a diagnostic)."""
    from catebench.benchmark.metrics import score
    from catebench.benchmark.registry import import_object
    from catebench.benchmark.tuning import tuning_record

    limit_threads()
    rec = tuning_record(Store(row["store"]), row["key"])
    td = load_task_data(row["dataset"], int(row["replication"]), row["split"], json.loads(row["dataset_params"]))
    _, a0, a1 = td.data.truth
    cls = import_object(row["estimator_target"])
    params = json.loads(row["estimator_params"])
    out = []
    for i, cand in enumerate(rec["candidates"]):
        est = cls(**{**params, **cand}, random_state=int(row["random_state"]))
        limit_threads()
        est.fit(*td.fit)
        mu0, mu1 = est.predict(td.data.X)
        m = score(a0, a1, mu0, mu1, td.fit_idx, td.test_idx)
        val = rec["scores"][i]
        out.append({"key": row["key"], "estimator": row["estimator"], "replication": int(row["replication"]),
                    "candidate": i, "chosen": int(i == rec["chosen"]),
                    "val_score": float("nan") if val is None else float(val),
                    "pehe_out": m["pehe_out"], "pehe_in": m["pehe_in"]})
    return out


CRITERIA_CSV = "criteria.csv"


def _criteria_task(row: dict) -> list[dict]:
    """Every stored candidate of one tuned task scored on its validation rows by every criterion (the same fits)."""
    from catebench.benchmark.registry import import_object
    from catebench.benchmark.tuning import CRITERIA, tuning_record, validation_scores

    limit_threads()
    rec = tuning_record(Store(row["store"]), row["key"])
    td = load_task_data(row["dataset"], int(row["replication"]), row["split"], json.loads(row["dataset_params"]))
    X, t, y = (np.asarray(a, float) for a in td.fit)
    scores, errors, _, _ = validation_scores(
        import_object(row["estimator_target"]), json.loads(row["estimator_params"]), int(row["random_state"]), X, t,
        y, rec["candidates"], CRITERIA, validation_fraction=td.split.validation_fraction, split_seed=td.split_seed)
    return [{"key": row["key"], "estimator": row["estimator"], "replication": int(row["replication"]),
             "candidate": i, **{c: scores[c][i] for c in CRITERIA}, "error": errors[i] or ""}
            for i in range(len(rec["candidates"]))]


def _resumable_csv(fn, rows: list[dict], path: Path, cols: list[str], n_jobs: int, desc: str) -> pd.DataFrame:
    """Map ``fn`` over the task ``rows`` not yet in ``path`` (by key) and append its rows; a kill loses one task."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm.auto import tqdm

    done = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=cols)
    finished = set(done.key)
    todo = [r for r in rows if r["key"] not in finished]
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(ProcessPoolExecutor(max_workers=n_jobs)) if n_jobs > 1 else None
        for new in tqdm((pool.map if pool else map)(fn, todo), total=len(todo), desc=desc, unit="task"):
            # the whole file rewritten and renamed per task: a kill leaves the previous complete file, never a torn row
            new = pd.DataFrame(new, columns=cols)
            done = pd.concat([done, new], ignore_index=True) if len(done) else new
            done.to_csv(path.with_suffix(".tmp"), index=False)
            os.replace(path.with_suffix(".tmp"), path)
    return done


def run_oracle(results: pd.DataFrame, store_path: Path, out: Path, labels: list[str], n_jobs: int) -> pd.DataFrame:
    """Refit every candidate of the tuned tasks of ``labels`` on all fit rows and score it on the test rows; score
    it by every criterion on the task's validation rows too.

    A diagnostic bound, never a selection: it says how good the best of the candidates the protocol drew would have
    been (the search space and budget), apart from how well the criterion picked among them, and which candidate
    each other criterion would have picked from the same fits. Appends to ``out/oracle.csv`` and
    ``out/criteria.csv`` task by task, so it resumes; the chosen candidate's refit must equal the stored row and the
    stored criterion's recomputed scores the stored ones.
    """
    from catebench.benchmark.tuning import CRITERIA

    ok = results[(results.status == "ok") & results.estimator.isin(labels)]
    missing = sorted(set(labels) - set(ok.estimator))
    if missing:
        have = sorted(e for e in results.estimator.unique() if "@" in e)
        raise ValueError(f"--oracle: no finished tuned tasks of {missing} in the store; tuned labels there: {have}.")
    rows = [dict(r, store=str(store_path)) for r in ok.to_dict("records")]
    cols = ["key", "estimator", "replication", "candidate", "chosen", "val_score", "pehe_out", "pehe_in"]
    done = _resumable_csv(_oracle_task, rows, out / ORACLE_CSV, cols, n_jobs, "oracle")
    _resumable_csv(_criteria_task, rows, out / CRITERIA_CSV,
                   ["key", "estimator", "replication", "candidate", *CRITERIA, "error"], n_jobs, "criteria")
    return done


def oracle_section(oracle: pd.DataFrame, ok: pd.DataFrame, pub: dict) -> list[str]:
    """Markdown: per tuned label, the candidate the criterion chose against the best candidate on the test rows."""
    from scipy.stats import spearmanr

    lines = ["", "## Oracle diagnostic: the candidates against the criterion (test rows; never used to select)", "",
             f"Every one of the candidates a tuned task drew was refit on all fit rows with the task's seed and scored "
             f"on its test rows (`python -m studies.tuning_ihdp --oracle LABELS`, `{ORACLE_CSV}`). "
             "*Oracle* = the candidate with the lowest out-of-sample sqrt-PEHE: the best the search space and budget "
             "could give with a perfect criterion (optimistic: the least of several noisy test scores). *Chosen* = "
             "the one the criterion picked (its refit equals the stored row: checked below). Candidate 0 = the "
             "defaults.", "",
             "| tuned estimator | replications | chosen: mean (median) | defaults: mean (median) | "
             "oracle: mean (median) | oracle / published mean | chosen = oracle | Spearman(validation score, "
             "test sqrt-PEHE), median over tasks | chosen refit = stored row |",
             "|---|---|---|---|---|---|---|---|---|"]
    for lab, g in oracle.groupby("estimator", sort=False):
        by = g.groupby("replication")
        chosen = g[g.chosen == 1].set_index("replication").pehe_out
        default = g[g.candidate == 0].set_index("replication").pehe_out
        best = by.pehe_out.min()
        cols = by[["candidate", "chosen", "val_score", "pehe_out"]]
        hit = cols.apply(lambda d: d.chosen[d.pehe_out.idxmin()] == 1).mean()
        rho = cols.apply(lambda d: spearmanr(d.val_score, d.pehe_out)[0] if len(d) > 2 else np.nan).median()
        stored = ok[ok.estimator == lab].set_index("replication").pehe_out
        common = chosen.index.intersection(stored.index)
        same = int(np.isclose(chosen[common], stored[common], rtol=0, atol=1e-9).sum())
        p = pub.get(lab.split("@")[0])
        lines.append(f"| {lab} | {len(best)} | {chosen.mean():.3f} ({chosen.median():.3f}) | "
                     f"{default.mean():.3f} ({default.median():.3f}) | {best.mean():.3f} ({best.median():.3f}) | "
                     f"{'-' if p is None else f'{best.mean() / p[0]:.2f}x'} | {100 * hit:.0f} % | {rho:.2f} | "
                     f"{same} of {len(common)} |")
    return lines


def criteria_section(oracle: pd.DataFrame, crit: pd.DataFrame, pub: dict) -> list[str]:
    """Markdown: per tuned label and criterion, which candidate that criterion would pick from the same fits, and
    that candidate's test sqrt-PEHE (from the oracle refits)."""
    from scipy.stats import spearmanr, wilcoxon

    from catebench.benchmark.tuning import CRITERIA

    lines = ["", "### The three criteria on the same candidates", "",
             f"Each candidate's fit on the training part of the fit rows scored on the validation part by every "
             f"criterion (`{CRITERIA_CSV}`, the same fits for all three); *picked* = what that criterion would have "
             "chosen (first minimum, as in the protocol), scored by its refit on the test rows (`oracle.csv`). "
             "*Recomputed = stored*: the tuning criterion's recomputed scores equal the stored ones.", "",
             "| tuned estimator | criterion | replications | picked: mean (median) | picked / published mean | "
             "picked - the tuning criterion's pick: mean ± SE (Wilcoxon p) | picked = oracle | kept defaults | "
             "Spearman(score, test sqrt-PEHE), median | recomputed = stored |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    both = crit.merge(oracle[["key", "candidate", "val_score", "pehe_out"]], on=["key", "candidate"], how="inner")
    for lab, g in both.groupby("estimator", sort=False):
        stored = lab.split("@tuned-")[1].rsplit("-", 1)[0] if "@tuned-" in lab else None
        p = pub.get(lab.split("@")[0])
        tasks = [d for _, d in g.groupby("key")]
        picks = {c: [int(np.argmin(d[c].to_numpy())) for d in tasks] for c in CRITERIA}  # first minimum, as tuned
        ref = np.array([d.pehe_out.iloc[i] for d, i in zip(tasks, picks.get(stored, picks[CRITERIA[0]]))])
        for c in CRITERIA:
            pick = picks[c]
            picked = pd.Series([d.pehe_out.iloc[i] for d, i in zip(tasks, pick)])
            diff = picked.to_numpy() - ref
            versus = "-"
            if c != stored and len(diff) > 1:
                p_w = wilcoxon(diff).pvalue if np.any(diff != 0) else 1.0
                versus = f"{diff.mean():+.3f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.3f} (p = {p_w:.2g})"
            hit = np.mean([i == int(d.pehe_out.to_numpy().argmin()) for d, i in zip(tasks, pick)])
            kept = np.mean([i == 0 for i in pick])
            rho = np.nanmedian([spearmanr(d[c], d.pehe_out)[0] if len(d) > 2 else np.nan for d in tasks])
            same = "-"
            if c == stored:
                eq = sum(bool(np.allclose(d[c], d.val_score, rtol=1e-12, atol=0)) for d in tasks)
                same = f"{eq} of {len(tasks)}"
            lines.append(f"| {lab} | {c} | {len(picked)} | {picked.mean():.3f} ({picked.median():.3f}) | "
                         f"{'-' if p is None else f'{picked.mean() / p[0]:.2f}x'} | {versus} | {100 * hit:.0f} % | "
                         f"{100 * kept:.0f} % | {rho:.2f} | {same} |")
    lines.append("\nThe p-values are per comparison, not adjusted for the several comparisons shown.")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replications", type=int, default=None, help="run replications 1..N only (default: config)")
    ap.add_argument("--first-replication", type=int, default=1, help="with --replications: start here")
    ap.add_argument("--n-jobs", type=int, default=None)
    ap.add_argument("--estimators", default=None, help="comma-separated subset of the config's estimators (labels)")
    ap.add_argument("--summary-only", action="store_true", help="do not run; summarise the store")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--oracle", default=None, metavar="LABELS",
                    help="comma-separated tuned estimators (e.g. tarnet,cfr-mmd): refit every stored candidate of "
                         "their tuned tasks on all fit rows and score it on the test rows, and score it by every "
                         "criterion on the validation rows (a diagnostic, resumable; no tuning run), then summarise")
    args = ap.parse_args(argv)
    config = load_config("tuning_ihdp")
    out = Path(args.out)
    changes: dict = {"store": str(out / "store.sqlite")}
    if args.replications:
        changes["datasets"] = [dataclasses.replace(d, replications=tuple(range(args.first_replication,
                                                                               args.replications + 1)))
                               for d in config.datasets]  # fmt: skip
    if args.n_jobs:
        changes["n_jobs"] = args.n_jobs
    bases = [e.label or e.name for e in config.estimators]
    if args.estimators:
        wanted = [e.strip() for e in args.estimators.split(",") if e.strip()]
        unknown = sorted(set(wanted) - set(bases))
        if unknown:
            raise SystemExit(f"--estimators: {unknown} not in the config; its labels: {bases}.")
        changes["estimators"] = [e for e in config.estimators if (e.label or e.name) in wanted]
    config = dataclasses.replace(config, **changes).validate()
    out.mkdir(parents=True, exist_ok=True)
    store = Store(config.store)
    if not (args.summary_only or args.oracle):
        print(run(config, store))
    results = store.results()
    if results.empty:
        raise SystemExit(f"the store {config.store} holds no results yet; run without --summary-only first.")
    if args.oracle:
        wanted = [b.strip() for b in args.oracle.split(",") if b.strip()]
        labels = [b if "@" in b else tuned_label(b, config.tune_criterion, config.tune) for b in wanted]
        reps = set(config.datasets[0].replications)
        run_oracle(results[results.replication.isin(reps)], Path(config.store), out, labels, config.n_jobs)
    command = "python -m studies.tuning_ihdp " + " ".join(sys.argv[1:] if argv is None else argv)
    print(write_summary(results, bases, config.tune, config.tune_criterion, out, command.strip()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
