"""Win rates, statistics, plots and the report, each checked against an independent naive implementation."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from benchmark import plots
from benchmark.stats import (
    average_ranks,
    bootstrap_mean_ci,
    bootstrap_winrate_ci,
    friedman_nemenyi,
    holm,
    nemenyi_cd,
    unit_table,
    wilcoxon_holm,
)
from benchmark.winrates import best_shares, pairwise_winrates

EST = ["a", "b", "c", "d"]


def synthetic(seed: int = 0, datasets=("ihdp", "acic-1", "acic-2"), reps: int = 8, seeds: int = 2,
              n_failed: int = 3, n_absent: int = 2, rounding: int = 1) -> pd.DataFrame:
    """Task rows like Store.results(): estimator 'a' best on average, values rounded so that ties occur."""
    rng = np.random.default_rng(seed)
    rows = []
    for ds, r, s, e in itertools.product(datasets, range(1, reps + 1), range(seeds), EST):
        base = 1.0 + 0.3 * EST.index(e)
        v = np.round(np.exp(rng.normal(np.log(base), 0.5)), rounding)
        rows.append({"dataset": ds, "replication": r, "seed": s, "split": "63/27/10", "estimator": e, "status": "ok",
                     "pehe_out": v, "pehe_in": np.round(v * 0.9, rounding), "ate_out": abs(rng.normal(0, 0.3)),
                     "fit_seconds": float(rng.uniform(0.01, 1.0) * (1 + EST.index(e)))})
    df = pd.DataFrame(rows)
    idx = rng.choice(len(df), size=n_failed + n_absent, replace=False)
    df.loc[idx[:n_failed], "status"] = "failed"
    df.loc[idx[:n_failed], ["pehe_out", "pehe_in", "ate_out"]] = np.nan
    return df.drop(index=idx[n_failed:]).reset_index(drop=True)


def naive_winrate(df: pd.DataFrame, a: str, b: str, metric: str, dataset: str | None = None):
    """Plain loop: for each task key, compare a's and b's ok values; ties half."""
    if dataset is not None:
        df = df[df["dataset"] == dataset]
    keys = {(r.dataset, r.replication, r.seed, r.split) for r in df.itertuples()}
    val = {}
    for r in df.itertuples():
        if r.status == "ok" and np.isfinite(getattr(r, metric)):
            val[(r.dataset, r.replication, r.seed, r.split, r.estimator)] = getattr(r, metric)
    score = n = missing = 0
    for k in keys:
        va, vb = val.get((*k, a)), val.get((*k, b))
        if va is None or vb is None:
            missing += 1
            continue
        n += 1
        score += 1.0 if va < vb else 0.5 if va == vb else 0.0
    return (score / n if n else np.nan), n, missing


# ---- win rates -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("metric", ["pehe_out", "pehe_in"])
@pytest.mark.parametrize("dataset", [None, "ihdp", "acic-2"])
def test_pairwise_winrates_match_naive_loop(metric, dataset):
    df = synthetic()
    wr = pairwise_winrates(df, metric, dataset=dataset)
    assert (wr["ties"].to_numpy().sum()) > 0, "the synthetic frame should contain ties"
    for a, b in itertools.permutations(EST, 2):
        w, n, missing = naive_winrate(df, a, b, metric, dataset)
        assert wr["winrate"].loc[a, b] == pytest.approx(w, abs=1e-12)
        assert wr["n_pairs"].loc[a, b] == n
        assert wr["n_missing"].loc[a, b] == missing


def test_winrate_invariants_and_direction():
    df = synthetic(seed=3)
    w = pairwise_winrates(df, "pehe_out")["winrate"].to_numpy()
    off = ~np.eye(len(EST), dtype=bool)
    np.testing.assert_allclose((w + w.T)[off], 1.0)
    assert np.isnan(np.diag(w)).all()
    hi = pairwise_winrates(df, "pehe_out", higher_is_better=True)["winrate"].to_numpy()
    np.testing.assert_allclose(hi[off], w.T[off])


def test_failed_and_absent_tasks_are_counted_not_dropped():
    df = synthetic(n_failed=0, n_absent=0)
    fail = df.index[(df["estimator"] == "b")][:3]
    df.loc[fail, "status"] = "timeout"
    dropped = df.index[(df["estimator"] == "c")][-2:]
    touched = {(r.dataset, r.replication) for r in df.loc[fail.union(dropped)].itertuples()}
    df = df.drop(index=dropped)
    wr = pairwise_winrates(df, "pehe_out")
    n_keys = df[["dataset", "replication", "seed", "split"]].drop_duplicates().shape[0]
    assert wr["n_missing"].loc["a", "b"] == 3 and wr["n_missing"].loc["a", "c"] == 2
    assert wr["n_missing"].loc["b", "c"] == 5
    assert wr["n_pairs"].loc["a", "d"] == n_keys and wr["n_missing"].loc["a", "d"] == 0
    bs = best_shares(df, "pehe_out", unit="replication")
    assert (bs["n_incomplete"] == len(touched)).all() and len(touched) == 3
    assert (bs["n_units"] + bs["n_incomplete"] == df.groupby(["dataset", "replication"]).ngroups).all()


def naive_best(df, metric, unit):
    """Plain loops: per replication, complete if every estimator is ok on every task; dataset = mean of those."""
    rep_means = {}  # (dataset, replication) -> {estimator: mean}
    for (ds, rep), g in df.groupby(["dataset", "replication"]):
        tasks = g[["seed", "split"]].drop_duplicates()
        means = {}
        for e in EST:
            ok = g[(g["estimator"] == e) & (g["status"] == "ok")]
            if len(ok) != len(tasks):
                break
            means[e] = ok[metric].mean()
        else:
            rep_means[(ds, rep)] = means
    if unit == "replication":
        units = list(rep_means.values())
    else:
        units = []
        for ds in sorted({k[0] for k in rep_means}):
            reps = [m for k, m in rep_means.items() if k[0] == ds]
            units.append({e: np.mean([m[e] for m in reps]) for e in EST})
    counts = dict.fromkeys(EST, 0.0)
    for means in units:
        best = min(means.values())
        winners = [e for e in EST if means[e] == best]
        for e in winners:
            counts[e] += 1 / len(winners)
    return {e: 100 * c / len(units) for e, c in counts.items()}, len(units)


@pytest.mark.parametrize("unit", ["replication", "dataset"])
def test_best_shares_match_naive_and_sum_to_100(unit):
    # coarse rounding -> tied bests; one failure so that one unit is incomplete but others remain
    df = synthetic(seed=5, rounding=0, n_failed=1, n_absent=0)
    bs = best_shares(df, "pehe_out", unit=unit).set_index("estimator")
    expected, units = naive_best(df, "pehe_out", unit)
    assert bs["best_pct"].sum() == pytest.approx(100.0)
    assert (bs["n_units"] == units).all()
    for e in EST:
        assert bs.loc[e, "best_pct"] == pytest.approx(expected[e])


def test_bad_inputs_are_named():
    df = synthetic()
    with pytest.raises(KeyError, match="pehe_typo"):
        pairwise_winrates(df, "pehe_typo")
    with pytest.raises(ValueError, match="'nope'"):
        pairwise_winrates(df, "pehe_out", dataset="nope")
    with pytest.raises(ValueError, match="unit"):
        best_shares(df, unit="seed")


def test_coverage_counts_absent_and_failed():
    from benchmark.report import coverage

    df = synthetic(seed=1, datasets=("ihdp",), reps=3, seeds=1, n_failed=0, n_absent=0)
    df.loc[(df["estimator"] == "a") & (df["replication"] == 1), "status"] = "timeout"
    df = df[~((df["estimator"] == "b") & (df["replication"] == 2))]
    cov = coverage(df).set_index("estimator")
    assert cov.loc["a", ["tasks", "ok", "timeout", "absent"]].tolist() == [3, 2, 1, 0]
    assert cov.loc["b", ["ok", "absent"]].tolist() == [2, 1]
    assert (cov["ok"] + cov["failed"] + cov["timeout"] + cov["crashed"] + cov["absent"] == cov["tasks"]).all()


# ---- statistics ----------------------------------------------------------------------------------------------
def test_bootstrap_mean_ci_against_scipy():
    v = np.random.default_rng(1).lognormal(size=40)
    m, lo, hi = bootstrap_mean_ci(v, n_boot=20000, seed=2)
    ref = sps.bootstrap((v,), np.mean, n_resamples=20000, method="percentile", rng=np.random.default_rng(9))
    assert m == pytest.approx(v.mean())
    assert lo == pytest.approx(ref.confidence_interval.low, rel=0.03)
    assert hi == pytest.approx(ref.confidence_interval.high, rel=0.03)
    assert bootstrap_mean_ci(v, seed=4) == bootstrap_mean_ci(v, seed=4)
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_mean_ci(np.array([1.0, np.nan]))


def test_bootstrap_winrate_ci_point_and_naive_cluster_resampling():
    df = synthetic(seed=2)
    w, lo, hi, n = bootstrap_winrate_ci(df, "a", "c", "pehe_out", dataset="ihdp", n_boot=500, seed=0)
    w_naive, n_naive, _ = naive_winrate(df, "a", "c", "pehe_out", "ihdp")
    assert w == pytest.approx(w_naive) and n == n_naive
    assert lo <= w <= hi
    # naive: loop over draws, resample replications, recompute the pooled win rate of the chosen tasks
    sub = df[df["dataset"] == "ihdp"]
    per_rep = {}
    for r in sorted(sub["replication"].unique()):
        part = sub[sub["replication"] == r]
        ww, nn, _ = naive_winrate(part, "a", "c", "pehe_out")
        if nn:
            per_rep[r] = (ww * nn, nn)
    reps = list(per_rep)
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(reps), size=(500, len(reps)))
    boots = [sum(per_rep[reps[i]][0] for i in d) / sum(per_rep[reps[i]][1] for i in d) for d in draws]
    assert lo == pytest.approx(np.quantile(boots, 0.025)) and hi == pytest.approx(np.quantile(boots, 0.975))


def naive_holm(p):
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adj = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    return adj


def test_holm_against_loop():
    p = np.random.default_rng(0).uniform(0, 0.2, size=12)
    np.testing.assert_allclose(holm(p), naive_holm(list(p)))
    assert holm(np.array([0.01, 0.04, 0.03])).tolist() == pytest.approx([0.03, 0.06, 0.06])


def test_wilcoxon_holm_against_scipy():
    df = synthetic(seed=7, rounding=3)
    tab = unit_table(df, "pehe_out", "replication", dataset="ihdp")
    res = wilcoxon_holm(tab).set_index(["a", "b"])
    raw = []
    for a, b in itertools.combinations(EST, 2):
        r = sps.wilcoxon(tab[a], tab[b])
        raw.append(r.pvalue)
        assert res.loc[(a, b), "p"] == pytest.approx(r.pvalue)
        assert res.loc[(a, b), "statistic"] == pytest.approx(r.statistic)
    np.testing.assert_allclose(res["p_holm"].to_numpy(), naive_holm(raw))


def test_unit_table_averages_seeds_then_replications():
    df = synthetic(seed=4, n_failed=0, n_absent=0)
    tab = unit_table(df, "pehe_out", "dataset")
    for ds in df["dataset"].unique():
        for e in EST:
            g = df[(df["dataset"] == ds) & (df["estimator"] == e)]
            assert tab.loc[ds, e] == pytest.approx(g.groupby("replication")["pehe_out"].mean().mean())


def test_friedman_nemenyi_against_naive_formulas():
    rng = np.random.default_rng(0)
    tab = pd.DataFrame(rng.normal(size=(15, 5)) + np.arange(5) * 0.4, columns=list("pqrst"))
    fr = friedman_nemenyi(tab)
    # naive ranks and the textbook Friedman statistic (no ties in continuous data)
    ranks = np.zeros(5)
    for row in tab.to_numpy():
        for j, v in enumerate(row):
            ranks[j] += 1 + sum(1 for x in row if x < v)
    ranks /= len(tab)
    n, k = tab.shape
    chi2 = 12 * n / (k * (k + 1)) * (np.sum(ranks**2) - k * (k + 1) ** 2 / 4)
    assert fr["statistic"] == pytest.approx(chi2)
    assert fr["p"] == pytest.approx(sps.chi2.sf(chi2, k - 1))
    np.testing.assert_allclose(fr["avg_ranks"].reindex(tab.columns).to_numpy(), ranks)
    assert average_ranks(tab).is_monotonic_increasing
    # Nemenyi critical values q_0.05 from Demšar (2006), Table 5(a)
    for kk, q in {2: 1.960, 3: 2.343, 4: 2.569, 5: 2.728, 6: 2.850, 10: 3.164}.items():
        assert nemenyi_cd(kk, 1) == pytest.approx(q * np.sqrt(kk * (kk + 1) / 6), abs=2e-3)
    # pairwise Nemenyi p-values are symmetric and below alpha exactly where the rank gap exceeds CD
    p = fr["pairwise"].to_numpy()
    np.testing.assert_allclose(p, p.T)
    gap = np.abs(ranks[:, None] - ranks[None, :])
    assert ((p < 0.05) == (gap > fr["cd"])).all()


def test_friedman_refuses_too_few():
    with pytest.raises(ValueError, match="at least 3 estimators"):
        friedman_nemenyi(pd.DataFrame({"a": [1, 2], "b": [2, 1]}))


# ---- plots ---------------------------------------------------------------------------------------------------
def test_plots_written(tmp_path):
    df = synthetic()
    wr = pairwise_winrates(df, "pehe_out")
    fr = friedman_nemenyi(unit_table(df, "pehe_out", "replication", dataset="ihdp"))
    figs = {
        "heat": plots.winrate_heatmap(wr["winrate"], "t", wr["n_pairs"]),
        "dist": plots.metric_distributions(df, "pehe_out"),
        "cd": plots.cd_diagram(fr["avg_ranks"], fr["cd"]),
        "time": plots.error_vs_time(df, "pehe_out", "ihdp"),
    }
    for stem, fig in figs.items():
        for p in plots.save(fig, tmp_path, stem):
            assert p.exists() and p.stat().st_size > 1000, p
    assert (tmp_path / "cd.svg").read_text().lstrip().startswith("<?xml")


def test_plots_ignore_a_global_style_set_by_another_library(tmp_path):
    import matplotlib.pyplot as plt

    df = synthetic()
    wr = pairwise_winrates(df, "pehe_out")
    with plt.style.context("default"):
        plain = plots.save(plots.winrate_heatmap(wr["winrate"], "t", wr["n_pairs"]), tmp_path, "plain")[0]
    with plt.style.context("fivethirtyeight"):  # what importing causalml does to the global style
        fig = plots.winrate_heatmap(wr["winrate"], "t", wr["n_pairs"])
        assert fig.get_facecolor() == (1.0, 1.0, 1.0, 1.0)
        styled = plots.save(fig, tmp_path, "styled")[0]
    assert plain.read_bytes() == styled.read_bytes()


# ---- report end to end ---------------------------------------------------------------------------------------
def _write_store(path, df):
    from benchmark.store import Store, TaskResult
    from benchmark.tasks import Task

    store = Store(path)
    for i, r in enumerate(df.itertuples()):
        task = Task(key=f"k{i}", dataset=r.dataset, dataset_target="x:y", dataset_params_json="{}",
                    dataset_version="1", replication=int(r.replication), split=r.split, estimator=r.estimator,
                    estimator_target=f"est:{r.estimator}", estimator_params_json='{"p": 1}', seed=int(r.seed),
                    random_state=i)
        metrics = {} if r.status != "ok" else {"pehe_out": r.pehe_out, "pehe_in": r.pehe_in, "ate_out": r.ate_out,
                                                 "ate_in": r.ate_out}
        store.write(task, TaskResult(key=task.key, status=r.status, error=None if r.status == "ok" else "boom",
                                     metrics=metrics, fit_seconds=r.fit_seconds, versions={"numpy": np.__version__}))
    store.close()


@pytest.mark.slow  # ~5 s on a quiet core; writes ~14 figures as PNG + SVG
def test_report_end_to_end(tmp_path):
    from benchmark.cli import main

    df = synthetic(seed=11, datasets=("ihdp", "acic-1"), n_failed=2, n_absent=1)
    _write_store(tmp_path / "s.sqlite", df)
    ref = tmp_path / "ref.csv"
    ref.write_text("source,method,protocol,metric,within_sample,within_se,out_of_sample,out_se,verified\n"
                   "Paper2017,OLS,IHDP-1000,sqrt_pehe,5.8,0.3,5.9,0.3,recalled\n"
                   "Paper2017,OLS,IHDP-1000,ate_error,0.7,0.04,0.9,0.06,recalled\n")
    out = tmp_path / "res"
    assert main(["report", "--store", str(tmp_path / "s.sqlite"), "--out", str(out), "--reference", str(ref),
                 "--n-boot", "300"]) == 0
    for name in ["leaderboard.md", "leaderboard.csv", "coverage.csv", "nemenyi.csv", "winrates.md", "winrates.csv",
                 "best.csv", "stats.md",
                 "ci.csv", "wilcoxon.csv", "ranks.csv", "report_meta.json", "report.html"]:
        assert (out / name).stat().st_size > 0, name
    md = (out / "leaderboard.md").read_text()
    ihdp_table = md.split("### ihdp")[1]
    assert "OLS [Paper2017] (published, orientation only)" in ihdp_table and "5.900 ± 0.300" in ihdp_table
    assert "**Incomplete store:** 2 task(s) stored as failed/timeout/crashed and 1 task(s) absent" in md
    assert "published" not in md.split("### acic-1")[1].split("### ihdp")[0]  # only in the IHDP table
    wr = pd.read_csv(out / "winrates.csv")
    pooled = wr[(wr["scope"] == "pooled over datasets") & (wr["metric"] == "pehe_out")].set_index(["a", "b"])
    for a, b in itertools.permutations(EST, 2):
        w, n, missing = naive_winrate(df, a, b, "pehe_out")
        assert pooled.loc[(a, b), "winrate"] == pytest.approx(w, abs=1e-6)
        assert pooled.loc[(a, b), "n_missing"] == missing
    best = pd.read_csv(out / "best.csv")
    for _, g in best.groupby(["scope", "metric"]):
        assert g["best_pct"].sum() == pytest.approx(100.0, abs=1e-3)
    meta = json.loads((out / "report_meta.json").read_text())
    assert meta["command"].startswith("catebench report") and meta["hardware"]["cpu_count"] >= 1
    assert meta["versions"]["numpy"] == [np.__version__] and meta["status_counts"]["failed"] == 2
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 5
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "the page must not load anything from the network"
    assert 'class="published"' in page
    figs = sorted(p.name for p in (out / "figures").iterdir())
    assert "cd_pooled_pehe_out.svg" in figs and "winrate_ihdp_pehe_out.png" in figs
    # without the reference file the rows are omitted and the omission is noted
    assert main(["report", "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "r2"), "--reference",
                 str(tmp_path / "absent.csv"), "--n-boot", "300"]) == 0
    assert "omitted" in (tmp_path / "r2" / "leaderboard.md").read_text()
    # one seed drives the bootstrap: a rerun gives byte-identical numbers
    for name in ["winrates.csv", "ci.csv", "best.csv", "wilcoxon.csv", "ranks.csv", "nemenyi.csv", "coverage.csv"]:
        assert (out / name).read_bytes() == (tmp_path / "r2" / name).read_bytes(), name
