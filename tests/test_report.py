"""Win rates, statistics, plots and the report, each checked against an independent naive implementation."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from catebench.benchmark import plots
from catebench.benchmark.report import format_distributional, format_markdown, has_distributional, leaderboard, published_rows
from catebench.benchmark.stats import (
    FEW_BLOCKS,
    average_ranks,
    bootstrap_mean_ci,
    bootstrap_winrate_ci,
    friedman_exact_p,
    friedman_nemenyi,
    friedman_permutation_p,
    friedman_test,
    holm,
    nemenyi_cd,
    t_mean_ci,
    unit_table,
    wilcoxon_holm,
    wilcoxon_min_p,
)
from catebench.benchmark.winrates import best_shares, pairwise_winrates

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
def naive_winrate_datasets(df: pd.DataFrame, a: str, b: str, metric: str):
    """Datasets weighted equally: the plain mean of the per-dataset naive win rates (datasets with a pair)."""
    rates = [naive_winrate(df, a, b, metric, ds)[0] for ds in sorted(df["dataset"].unique())]
    rates = [r for r in rates if np.isfinite(r)]
    return float(np.mean(rates)) if rates else np.nan


@pytest.mark.parametrize("weighting", ["datasets", "tasks"])
@pytest.mark.parametrize("metric", ["pehe_out", "pehe_in"])
@pytest.mark.parametrize("dataset", [None, "ihdp", "acic-2"])
def test_pairwise_winrates_match_naive_loop(metric, dataset, weighting):
    df = synthetic()
    wr = pairwise_winrates(df, metric, dataset=dataset, weighting=weighting)
    assert (wr["ties"].to_numpy().sum()) > 0, "the synthetic frame should contain ties"
    for a, b in itertools.permutations(EST, 2):
        w, n, missing = naive_winrate(df, a, b, metric, dataset)
        if dataset is None and weighting == "datasets":
            w = naive_winrate_datasets(df, a, b, metric)
        assert wr["winrate"].loc[a, b] == pytest.approx(w, abs=1e-12)
        assert wr["n_pairs"].loc[a, b] == n
        assert wr["n_missing"].loc[a, b] == missing


def test_pooled_winrate_weights_datasets_equally_not_tasks():
    """80 % on a dataset with many replications, 0 % on one with few; pooled by task 53 %,
    datasets weighted equally 40 %: the task-pooled figure points the wrong way."""
    rows = []
    for ds, reps, a_wins in (("ihdp", 20, 16), ("synthetic", 10, 0)):
        for r in range(1, reps + 1):
            va, vb = (1.0, 2.0) if r <= a_wins else (2.0, 1.0)
            for e, v in (("a", va), ("b", vb)):
                rows.append({"dataset": ds, "replication": r, "seed": 0, "split": "s", "estimator": e,
                             "status": "ok", "pehe_out": v})
    df = pd.DataFrame(rows)
    by_ds = pairwise_winrates(df, "pehe_out")  # the default
    by_task = pairwise_winrates(df, "pehe_out", weighting="tasks")
    assert by_ds["winrate"].loc["a", "b"] == pytest.approx(0.5 * (16 / 20 + 0 / 10))
    assert by_task["winrate"].loc["a", "b"] == pytest.approx(16 / 30)
    assert by_ds["n_pairs"].loc["a", "b"] == by_task["n_pairs"].loc["a", "b"] == 30
    assert by_ds["n_datasets"].loc["a", "b"] == 2
    w, lo, hi, n = bootstrap_winrate_ci(df, "a", "b", "pehe_out", n_boot=400, seed=1)
    assert w == pytest.approx(0.4) and n == 30 and lo <= 0.4 <= hi < 16 / 30 + 0.2
    # stratified cluster bootstrap, naive: per dataset resample its replications, average the two rates
    rng = np.random.default_rng(1)
    score = {ds: [1.0 if r <= k else 0.0 for r in range(1, n_r + 1)] for ds, n_r, k in
             (("ihdp", 20, 16), ("synthetic", 10, 0))}
    per_ds = []
    for ds in ("ihdp", "synthetic"):
        draws = rng.integers(0, len(score[ds]), size=(400, len(score[ds])))
        per_ds.append([np.mean([score[ds][i] for i in d]) for d in draws])
    boots = np.mean(per_ds, axis=0)
    assert lo == pytest.approx(np.quantile(boots, 0.025)) and hi == pytest.approx(np.quantile(boots, 0.975))
    with pytest.raises(ValueError, match="'replications'"):
        pairwise_winrates(df, "pehe_out", weighting="replications")


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
    from catebench.benchmark.report import coverage

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


def test_t_interval_and_bca_against_scipy():
    v = np.random.default_rng(3).lognormal(size=10)
    m, lo, hi = t_mean_ci(v)
    ref = sps.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=sps.sem(v))
    assert (m, lo, hi) == pytest.approx((v.mean(), *ref))
    # at n = 10 the percentile bootstrap is visibly narrower than the t-interval (it under-covers)
    _, plo, phi = bootstrap_mean_ci(v, n_boot=20000, seed=0)
    assert (phi - plo) / (hi - lo) < 0.9
    _, blo, bhi = bootstrap_mean_ci(v, n_boot=20000, seed=0, method="bca")
    ref = sps.bootstrap((v,), np.mean, n_resamples=20000, method="BCa", rng=np.random.default_rng(5))
    assert blo == pytest.approx(ref.confidence_interval.low, rel=0.05)
    assert bhi == pytest.approx(ref.confidence_interval.high, rel=0.05)
    assert bootstrap_mean_ci(np.ones(5), method="bca") == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="'basic'"):
        bootstrap_mean_ci(v, method="basic")


def naive_exact_friedman(table: np.ndarray) -> float:
    """Brute force: every within-block permutation of every block's ranks, P(sum R_j^2 >= observed)."""
    ranks = sps.rankdata(table, axis=1)
    obs = (ranks.sum(axis=0) ** 2).sum()
    hits = total = 0
    for combo in itertools.product(*[list(itertools.permutations(r)) for r in ranks]):
        total += 1
        hits += (np.sum(combo, axis=0) ** 2).sum() >= obs - 1e-9
    return hits / total


@pytest.mark.parametrize("shape,seed", [((3, 3), 0), ((3, 4), 1), ((2, 5), 2), ((4, 3), 3)])
def test_exact_friedman_matches_brute_force(shape, seed):
    rng = np.random.default_rng(seed)
    v = np.round(rng.normal(size=shape), 0 if seed == 1 else 3)  # seed 1: rounded to integers, so ties occur
    tab = pd.DataFrame(v, columns=[f"e{j}" for j in range(shape[1])])
    p = friedman_exact_p(tab)
    assert p == pytest.approx(naive_exact_friedman(v), abs=1e-12)
    fr = friedman_test(tab)
    assert fr["method"] == "exact" and fr["p"] == pytest.approx(p)
    assert friedman_permutation_p(tab, n_perm=20000, seed=0) == pytest.approx(p, abs=0.015)


def test_exact_friedman_textbook_value_and_auto_switch():
    # k = 3, n = 3, every block ranks alike: chi2_r = 6.0, exact p = 1/36 = 0.028 (Friedman's table),
    # while the chi-square approximation gives 0.050
    tab = pd.DataFrame([[1.0, 2.0, 3.0]] * 3, columns=list("abc"))
    fr = friedman_test(tab)
    assert fr["statistic"] == pytest.approx(6.0) and fr["p"] == pytest.approx(1 / 36)
    assert fr["p_chi2"] == pytest.approx(sps.chi2.sf(6.0, 2)) and fr["p_min"] == pytest.approx(1 / 36)
    big = pd.DataFrame(np.random.default_rng(0).normal(size=(FEW_BLOCKS, 4)), columns=list("abcd"))
    assert friedman_test(big)["method"] == "chi2"
    wide = pd.DataFrame(np.random.default_rng(0).normal(size=(3, 18)), columns=[f"e{j}" for j in range(18)])
    assert friedman_test(wide)["method"] == "permutation"  # 18! arrangements: enumeration is out of reach


def test_few_blocks_guard_friedman_and_nemenyi():
    rng = np.random.default_rng(0)
    # 2 blocks, 3 estimators: the smallest attainable p is 1/6 > 0.05 -> the test cannot reject
    fr = friedman_nemenyi(pd.DataFrame(rng.normal(size=(2, 3)), columns=list("abc")))
    assert not fr["can_reject"] and fr["p_min"] == pytest.approx(1 / 6) and not fr["nemenyi_run"]
    # 2 blocks, 18 estimators: the Nemenyi CD exceeds k - 1, the widest possible rank gap
    fr = friedman_nemenyi(pd.DataFrame(rng.normal(size=(2, 18)), columns=[f"e{j}" for j in range(18)]))
    assert fr["cd"] > 17 and not fr["nemenyi_possible"] and not fr["nemenyi_run"]
    # a clear ordering over 12 blocks: Friedman rejects, Nemenyi runs
    tab = pd.DataFrame(rng.normal(size=(12, 4)) * 0.1 + np.arange(4), columns=list("abcd"))
    fr = friedman_nemenyi(tab)
    assert fr["can_reject"] and fr["rejects"] and fr["nemenyi_possible"] and fr["nemenyi_run"]
    assert wilcoxon_min_p(2) == 0.5 and wilcoxon_min_p(6) == pytest.approx(1 / 32)


def test_wilcoxon_better_follows_the_signed_ranks_not_the_median():
    # 21 tiny positive differences (a worse by the median) and 19 large negative ones (a better on the big ranks)
    d = np.r_[np.linspace(0.01, 0.02, 21), -np.linspace(1.0, 2.0, 19)]
    tab = pd.DataFrame({"a": 5.0 + d, "b": np.full(40, 5.0)})
    w = wilcoxon_holm(tab).iloc[0]
    assert w["median_diff"] > 0 and w["r_minus"] > w["r_plus"]
    assert w["significant"] and w["better"] == "a"
    assert w["r_plus"] + w["r_minus"] == 40 * 41 / 2
    assert w["statistic"] == pytest.approx(min(w["r_plus"], w["r_minus"]))


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


def test_svg_and_png_bytes_identical_across_runs(tmp_path):
    """Two draws of the same figures give byte-identical files (no date, no random SVG ids)."""
    df = synthetic()
    fr = friedman_nemenyi(unit_table(df, "pehe_out", "replication", dataset="ihdp"))
    for run in ("one", "two"):
        plots.save(plots.cd_diagram(fr["avg_ranks"], fr["cd"], "t"), tmp_path / run, "cd")
        plots.save(plots.error_vs_time(df, "pehe_out", "ihdp"), tmp_path / run, "time")  # clip paths -> ids
    for name in ("cd.svg", "cd.png", "time.svg", "time.png"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    svg = (tmp_path / "one" / "time.svg").read_text()
    assert "<dc:date>" not in svg and 'id="' in svg


def test_error_vs_time_log_axis_only_over_a_wide_range_and_distinct_styles():
    import matplotlib.pyplot as plt

    rows = []
    rng = np.random.default_rng(0)
    for i in range(25):  # 25 estimators, OLS-like fit times 0.0009-0.0015 s, errors 1-3
        for r in range(5):
            rows.append({"dataset": "ihdp", "replication": r, "estimator": f"est{i:02d}", "status": "ok",
                         "pehe_out": 1 + 2 * rng.uniform(), "fit_seconds": rng.uniform(0.0009, 0.0015)})
    df = pd.DataFrame(rows)
    fig = plots.error_vs_time(df, "pehe_out", "ihdp")
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and ax.get_yscale() == "linear"
    handles, labels = ax.get_legend_handles_labels()
    markers = [h.get_marker() for h in handles]
    assert len(labels) == 25 and len(set(markers)) == 25, "every estimator is drawn as its own number"
    assert markers[:3] == ["$1$", "$2$", "$3$"] and labels[0].startswith("1 ")
    colours = [tuple(np.round(h.get_color(), 4)) for h in handles[:20]]
    assert len(set(colours)) == 20, "the colour cycle must not repeat within 20 estimators"
    plt.close(fig)
    df.loc[df["estimator"] == "est00", "fit_seconds"] = 5.0  # now fit times span > 3 decades
    fig = plots.error_vs_time(df, "pehe_out", "ihdp")
    assert fig.axes[0].get_xscale() == "log" and fig.axes[0].get_yscale() == "linear"
    plt.close(fig)
    assert len({plots.estimator_style(i) for i in range(plots.N_STYLES)}) == plots.N_STYLES


def test_page_wraps_long_cells_and_gives_diagrams_a_full_row(tmp_path):
    from catebench.benchmark.html import LONG_CELL, markdown_table_to_html, render_page

    params = '{"base_learner": "hgb", "kind": "x", "n_fold": 5, "propensity_clip": 0.01, "max_iter": 200}'
    table = markdown_table_to_html(["| estimator | params |", "|---|---|", f"| x | {params} |"])
    assert len(params) > LONG_CELL and '<td class="long">' in table and '<td class="t">x</td>' in table
    png = plots.save(plots.cd_diagram(pd.Series({"a": 1.2, "b": 1.8}), None, "t"), tmp_path, "cd")[0]
    page = render_page("t", [("S", "", [(png, "wide: one per row"), (png, "two per row")])])
    assert page.count('<figure class="wide">') == 1 and page.count("<figure>") == 1
    assert "td.long{white-space:normal" in page


# ---- leaderboard -------------------------------------------------------------------------------------------------
def test_leaderboard_averages_seeds_within_a_replication_first():
    df = synthetic(seed=4, datasets=("ihdp",), reps=6, seeds=3, n_failed=0, n_absent=0)
    board = leaderboard(df).set_index("estimator")
    for e in EST:
        per_rep = df[df["estimator"] == e].groupby("replication")["pehe_out"].mean().to_numpy()
        assert board.loc[e, "pehe_out_mean"] == pytest.approx(per_rep.mean())
        assert board.loc[e, "pehe_out_se"] == pytest.approx(per_rep.std(ddof=1) / np.sqrt(6))  # n = 6, not 18
        assert board.loc[e, "pehe_out_median"] == pytest.approx(np.median(per_rep))
        assert board.loc[e, "n_ok"] == 18 and board.loc[e, "n_replications"] == 6 and board.loc[e, "pehe_out_n"] == 6


def test_ordered_by_average_rank_with_places_by_mean_and_median_shown():
    # 'a' has the lower mean (no outlier), 'b' the lower median and the better average rank (one huge replication)
    vals = {"a": [2.0, 2.0, 2.0, 2.0, 2.0], "b": [1.0, 1.0, 1.0, 1.0, 9.0], "c": [3.0] * 5}
    rows = [{"dataset": "ihdp", "replication": r, "seed": 0, "split": "s", "estimator": e, "status": "ok",
             "pehe_out": v, "fit_seconds": 0.1} for e, vs in vals.items() for r, v in enumerate(vs)]
    board = leaderboard(pd.DataFrame(rows))
    assert list(board["estimator"]) == ["b", "a", "c"]  # average ranks 1.4, 1.8, 2.8 (means 2.6, 2.0, 3.0)
    b = board.set_index("estimator")
    assert b.loc["b", "pehe_out_avg_rank"] == pytest.approx(1.4)
    assert b.loc["a", "pehe_out_avg_rank"] == pytest.approx(1.8)
    assert list(board["pehe_out_place"]) == [1, 2, 3] and (board["pehe_out_rank_n"] == 5).all()
    assert b.loc["a", "pehe_out_rank_mean"] == 1 and b.loc["a", "pehe_out_rank_median"] == 2
    assert b.loc["b", "pehe_out_rank_mean"] == 2 and b.loc["b", "pehe_out_rank_median"] == 1
    md = format_markdown(board)
    header = md.splitlines()[2]
    assert "| pehe_out | pehe_out median |" in header and "place by mean / median" in header
    row_b = next(line for line in md.splitlines() if line.startswith("| 1 | b | 5 | 0 |"))
    assert "| 1.40 | 2 / 1 |" in row_b and "| 2.600 ± 1.600 | 1.000 |" in row_b


def test_published_cells_carry_their_status(tmp_path):
    ref = tmp_path / "ref.csv"
    ref.write_text("source,method,protocol,metric,within_sample,within_se,out_of_sample,out_se,verified\n"
                   "P,OLS,IHDP-1000,sqrt_pehe,5.8,0.3,5.9,0.3,recalled\n"
                   "P,OLS,IHDP-1000,ate_error,0.7,0.04,0.9,0.06,verified\n"
                   "Q,CEVAE,IHDP-1000,sqrt_pehe,2.7,0.1,2.6,0.1,out_verified\n"
                   "Q,BART,IHDP-1000,sqrt_pehe,2.1,0.1,2.3,0.1,means_verified\n")
    rows, note = published_rows(ref)
    assert "recalled" in note and "verified" in note
    md = format_markdown(leaderboard(synthetic(datasets=("ihdp",))), ref_rows=rows)
    ols = next(line for line in md.splitlines() if line.startswith("| - | *OLS"))
    assert ols.count("|") == md.splitlines()[2].count("|")
    assert "5.900 ± 0.300 (recalled)" in ols and "0.900 ± 0.060 (verified)" in ols
    cevae = next(line for line in md.splitlines() if line.startswith("| - | *CEVAE"))
    assert "2.600 ± 0.100 (verified)" in cevae and "2.700 ± 0.100 (recalled)" in cevae
    bart = next(line for line in md.splitlines() if line.startswith("| - | *BART"))
    assert "2.300 ± 0.100 (mean verified)" in bart


DIST = {"crps": 0.4, "cov50": 0.45, "cov90": 0.86, "width50": 1.1, "width90": 2.9}


def with_distributional(df: pd.DataFrame, estimator: str = "c", w1: bool = False) -> pd.DataFrame:
    """Add the distributional metrics to one estimator's ok tasks (others lack them: NaN)."""
    df = df.copy()
    rng = np.random.default_rng(0)
    mask = (df["estimator"] == estimator) & (df["status"] == "ok")
    names = list(DIST) + (["w1"] if w1 else [])
    for base in names:
        for side in ("in", "out"):
            centre = DIST.get(base, 0.3)
            df[f"{base}_{side}"] = np.nan
            df.loc[mask, f"{base}_{side}"] = centre + 0.02 * rng.normal(size=int(mask.sum()))
    return df


def test_distributional_table_only_for_estimators_that_have_the_metrics():
    df = with_distributional(synthetic(seed=2, datasets=("ihdp",), n_failed=0, n_absent=0), "c")
    board = leaderboard(df)
    assert has_distributional(board) and not has_distributional(leaderboard(synthetic()))
    ok_c = df[(df["estimator"] == "c")]
    per_rep = (ok_c["cov90_out"] - 0.9).abs().groupby(ok_c["replication"]).mean()
    b = board.set_index("estimator")
    assert b.loc["c", "covdist90_out_mean"] == pytest.approx(per_rep.mean())
    assert np.isnan(b.loc["a", "crps_out_mean"]) and np.isnan(b.loc["a", "covdist90_out_mean"])
    text = format_distributional(board)
    lines = text.splitlines()
    assert sum(line.startswith("| c |") for line in lines) == 2  # test rows and fit rows
    assert not any(line.startswith(("| a |", "| b |", "| d |")) for line in lines)
    assert "abs(cov90 − 0.9)" in text and "crps_out median" in text and "w1_out" not in text
    assert "w1_out" in format_distributional(leaderboard(with_distributional(df, "c", w1=True)))
    # the point-metric leaderboard keeps every estimator and its numbers
    plain = leaderboard(synthetic(seed=2, datasets=("ihdp",), n_failed=0, n_absent=0))
    pd.testing.assert_frame_equal(board[plain.columns], plain)
    assert format_markdown(board) == format_markdown(plain)


def test_readme_table_ranks_by_average_rank_with_coverage_for_generative_only():
    from catebench.benchmark.readme import table

    df = with_distributional(synthetic(seed=2, datasets=("ihdp",), n_failed=0, n_absent=0), "c")
    board = leaderboard(df)
    text = table(board, {"command": "catebench run x", "generated": "now", "headline": {"ihdp": "**a** leads."}})
    head = next(line for line in text.splitlines() if line.startswith("| place"))
    assert "| avg rank | sqrt-PEHE out median | mean ± SE |" in head and "cov90 out" in head
    rows = [line.split(" | ")[1] for line in text.splitlines() if line.startswith("| ") and line != head
            and not line.startswith("|---")]
    assert rows == list(board["estimator"]) and "**a** leads." in text
    assert "| - |" in next(line for line in text.splitlines() if "| a |" in line)
    assert "cov90 out" not in table(leaderboard(synthetic(seed=2, datasets=("ihdp",))), {})


# ---- report end to end ---------------------------------------------------------------------------------------
def _write_store(path, df):
    from catebench.benchmark.store import Store, TaskResult
    from catebench.benchmark.tasks import Task

    store = Store(path)
    for i, r in enumerate(df.itertuples()):
        task = Task(key=f"k{i}", dataset=r.dataset, dataset_target="x:y", dataset_params_json="{}",
                    dataset_version="1", replication=int(r.replication), split=r.split, estimator=r.estimator,
                    estimator_target=f"est:{r.estimator}", estimator_params_json='{"p": 1}', seed=int(r.seed),
                    random_state=i)
        metrics = {} if r.status != "ok" else {"pehe_out": r.pehe_out, "pehe_in": r.pehe_in, "ate_out": r.ate_out,
                                                 "ate_in": r.ate_out}
        if r.status == "ok":  # distributional metrics only where the frame has them (one estimator's tasks)
            metrics.update({k: float(getattr(r, k)) for k in df.columns
                            if k.split("_")[0] in DIST and np.isfinite(getattr(r, k))})
        store.write(task, TaskResult(key=task.key, status=r.status, error=None if r.status == "ok" else "boom",
                                     metrics=metrics, fit_seconds=r.fit_seconds, versions={"numpy": np.__version__}))
    store.close()


@pytest.mark.slow  # ~5 s on a quiet core; writes ~14 figures as PNG + SVG
def test_report_end_to_end(tmp_path):
    from catebench.benchmark.cli import main

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
    full = md.split("## All metrics")[1]
    ihdp_table = full.split("### ihdp")[1]
    assert "OLS [Paper2017] (published, orientation only)" in ihdp_table and "5.900 ± 0.300" in ihdp_table
    assert "**Incomplete store:** 2 task(s) stored as failed/timeout/crashed and 1 task(s) absent" in md
    assert "published" not in full.split("### acic-1")[1].split("### ihdp")[0]  # only in the IHDP table
    wr = pd.read_csv(out / "winrates.csv")
    pehe = wr[wr["metric"] == "pehe_out"]
    by_task = pehe[pehe["scope"] == "pooled, tasks weighted equally"].set_index(["a", "b"])
    by_ds = pehe[pehe["scope"] == "pooled, datasets weighted equally"].set_index(["a", "b"])
    for a, b in itertools.permutations(EST, 2):
        w, n, missing = naive_winrate(df, a, b, "pehe_out")
        assert by_task.loc[(a, b), "winrate"] == pytest.approx(w, abs=1e-6)
        assert by_task.loc[(a, b), "n_missing"] == missing
        assert by_ds.loc[(a, b), "winrate"] == pytest.approx(naive_winrate_datasets(df, a, b, "pehe_out"), abs=1e-6)
    wmd = (out / "winrates.md").read_text()
    assert "avg vs others" in wmd and "this is the pooled figure to read" in wmd
    best = pd.read_csv(out / "best.csv")
    for _, g in best.groupby(["scope", "metric"]):
        assert g["best_pct"].sum() == pytest.approx(100.0, abs=1e-3)
    assert best.loc[best["unit"] == "dataset", "mean"].isna().all()  # no mean across dataset scales
    assert best["avg_rank"].notna().all()
    # statistics: two datasets as blocks -> the wording says datasets; Nemenyi cannot separate any pair with
    # k = 4 and n = 2 (CD 3.3 > k - 1), so it is neither run nor drawn; Wilcoxon over 2 datasets cannot reject
    stats_md = (out / "stats.md").read_text()
    pooled_txt = stats_md.split("### pooled over datasets: pehe_out")[1].split("###")[0]
    assert "(2 complete datasets as blocks)" in pooled_txt and "with 2 datasets" in pooled_txt
    assert "Nemenyi post-hoc not run" in pooled_txt or "no Nemenyi post-hoc is run" in pooled_txt
    assert "Tests against the baseline `a` not run" in pooled_txt  # 2 datasets: p >= 0.5 > 0.05 / 3
    assert "exact: all within-block" in stats_md.split("### ihdp: pehe_out")[1].split("###")[0]  # 7-8 replications: few
    nem = pd.read_csv(out / "nemenyi.csv") if (out / "nemenyi.csv").stat().st_size > 1 else pd.DataFrame()
    assert "pooled over datasets" not in set(nem.get("scope", []))
    ranks = pd.read_csv(out / "ranks.csv")
    assert not ranks.loc[ranks["scope"] == "pooled over datasets", "nemenyi_run"].any()
    ci = pd.read_csv(out / "ci.csv")
    assert (ci["ci_method"] == "t").all() and {"bca_low", "bca_high", "se"} <= set(ci.columns)
    lb = (out / "leaderboard.md").read_text()
    assert "pehe_out median" in lb and "place by mean / median" in lb and "(recalled)" in lb
    assert "Distributional" not in lb and not (out / "distributional.csv").exists()
    meta = json.loads((out / "report_meta.json").read_text())
    assert meta["command"].startswith("catebench report") and meta["hardware"]["cpu_count"] >= 1
    assert meta["versions"]["numpy"] == [np.__version__] and meta["status_counts"]["failed"] == 2
    page = (out / "report.html").read_text()
    srcs = re.findall(r'<img[^>]* src="([^"]+)"', page)
    assert len(srcs) >= 5 and "data:" not in page and len(page) < 300_000
    assert all(not src.startswith("/") and (out / src).is_file() for src in srcs), srcs
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "the page must not load anything from the network"
    assert 'class="published"' in page
    figs = sorted(p.name for p in (out / "figures").iterdir())
    assert "cd_pooled_pehe_out.svg" in figs and "winrate_ihdp_pehe_out.png" in figs
    # without the reference file the rows are omitted and the omission is noted
    assert main(["report", "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "r2"), "--reference",
                 str(tmp_path / "absent.csv"), "--n-boot", "300"]) == 0
    assert "omitted" in (tmp_path / "r2" / "leaderboard.md").read_text()
    # one seed drives the bootstrap: a rerun gives byte-identical numbers, and byte-identical figures
    for name in ["winrates.csv", "ci.csv", "best.csv", "wilcoxon.csv", "ranks.csv", "nemenyi.csv", "coverage.csv"]:
        assert (out / name).read_bytes() == (tmp_path / "r2" / name).read_bytes(), name
    for fig in sorted((out / "figures").iterdir()):
        assert fig.read_bytes() == (tmp_path / "r2" / "figures" / fig.name).read_bytes(), fig.name


@pytest.mark.slow  # a whole report with figures (~10 s on a quiet core)
def test_report_with_distributional_metrics_for_one_estimator(tmp_path):
    from catebench.benchmark.report import write_report
    from catebench.benchmark.store import Store

    df = with_distributional(synthetic(seed=11, datasets=("ihdp",), reps=4, seeds=1, n_failed=1, n_absent=0), "b")
    _write_store(tmp_path / "s.sqlite", df)
    results = Store(tmp_path / "s.sqlite").results()
    assert results.loc[results["estimator"] != "b", "crps_out"].isna().all()
    paths = write_report(results, tmp_path / "out", reference=None, n_boot=100)
    dist = pd.read_csv(paths["distributional_csv"])
    assert list(dist["estimator"]) == ["b"] and "covdist90_out_mean" in dist and "cov50_in_mean" in dist
    lb = paths["leaderboard_md"].read_text()
    section = lb.split("## Distributional metrics (generative estimators)")[1]
    assert "| b |" in section and "| a |" not in section and "abs(cov90 − 0.9)" in section
    board = pd.read_csv(paths["leaderboard_csv"])
    assert set(board["estimator"]) == set(EST) and board["crps_out_mean"].notna().sum() == 1
    page = paths["html"].read_text()
    assert "<summary>Distributional metrics (generative estimators)</summary>" in page
    assert len(pd.read_csv(paths["winrates_csv"])) > 0
