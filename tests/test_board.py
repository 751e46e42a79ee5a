"""The board a reader sees: robust ranking, tests with power, identical estimators, per-task CSV, the page."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from catebench.benchmark import report as rp
from catebench.benchmark import stats as st


def board_frame(reps: int = 10, names=("a", "b", "c", "d", "e", "f"), seed: int = 0) -> pd.DataFrame:
    """Task rows like Store.results(): one seed, errors scaled per replication, estimator i about (1 + 0.15 i)x."""
    rng = np.random.default_rng(seed)
    scale = np.exp(rng.normal(0, 0.4, reps))
    rows = []
    for (j, e), r in itertools.product(enumerate(names), range(reps)):
        v = (1 + 0.15 * j) * scale[r] * np.exp(rng.normal(0, 0.3))
        rows.append({"key": f"{e}-{r}", "dataset": "ihdp", "dataset_version": "1", "dataset_params": "{}",
                     "replication": r + 1, "split": "63/27/10", "estimator": e, "estimator_target": f"m:{e}",
                     "estimator_params": '{"p": 1}', "seed": 0, "random_state": 0, "status": "ok", "error": None,
                     "truth": "mu", "n_fit": 90, "n_test": 10, "fit_seconds": 0.1 * (j + 1), "predict_seconds": 0.01,
                     "versions": '{"numpy": "2"}', "attempts": 1, "finished_at": "2026-11-30T03:40:12+00:00",
                     "pehe_out": v, "pehe_in": 0.8 * v, "ate_out": 0.1 * v, "ate_in": 0.05 * v})
    return pd.DataFrame(rows)


# ---- the ranking ---------------------------------------------------------------------------------------------
def test_one_replication_times_100_changes_no_place_but_the_mean_order():
    df = board_frame()
    before = rp.leaderboard(df)
    hard = df.copy()
    rep = 5
    worst_there = hard[hard["replication"] == rep].sort_values("pehe_out")["estimator"].iloc[0]
    # make the replication hard for everyone, and its best estimator's value there the largest of all
    hard.loc[hard["replication"] == rep, "pehe_out"] *= 100
    after = rp.leaderboard(hard)
    assert list(after["estimator"]) == list(before["estimator"])
    np.testing.assert_array_equal(after["pehe_out_avg_rank"], before["pehe_out_avg_rank"])
    # the test can fail: the mean order does move with that one replication
    mean_before = list(before.sort_values("pehe_out_mean")["estimator"])
    mean_after = list(after.sort_values("pehe_out_mean")["estimator"])
    assert mean_before != mean_after and worst_there in mean_after


def test_average_rank_matches_a_naive_loop_and_skips_incomplete_replications():
    df = board_frame(reps=7, seed=3)
    df.loc[(df["estimator"] == "c") & (df["replication"] == 2), ["status", "pehe_out"]] = ["failed", np.nan]
    board = rp.leaderboard(df).set_index("estimator")
    wide = df[df["replication"] != 2].pivot(index="replication", columns="estimator", values="pehe_out")
    naive = {e: np.mean([sorted(row).index(row[e]) + 1 for _, row in wide.iterrows()]) for e in wide.columns}
    for e, r in naive.items():
        assert board.loc[e, "pehe_out_avg_rank"] == pytest.approx(r)
    assert (board["pehe_out_rank_n"] == 6).all()


# ---- tests with power ----------------------------------------------------------------------------------------
def test_vs_baseline_against_scipy_and_a_plain_holm():
    tab = board_frame(reps=12, seed=1).pivot(index="replication", columns="estimator", values="pehe_out")
    out = st.vs_baseline(tab, "c", alpha=0.05).set_index("estimator")
    assert list(out.index) == ["a", "b", "d", "e", "f"]
    ps = []
    for e in out.index:
        d = np.log(tab[e]) - np.log(tab["c"])
        assert out.loc[e, "p"] == pytest.approx(sps.wilcoxon(d).pvalue)
        assert out.loc[e, "ratio"] == pytest.approx(np.exp(d.mean()))
        lo, hi = sps.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=sps.sem(d))
        assert (out.loc[e, "ratio_low"], out.loc[e, "ratio_high"]) == pytest.approx((np.exp(lo), np.exp(hi)))
        assert out.loc[e, "wins"] == int((d < 0).sum())
        ps.append(sps.wilcoxon(d).pvalue)
    order = np.argsort(ps)
    m = len(ps)
    naive = np.empty(m)
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * ps[j]))
        naive[j] = running
    np.testing.assert_allclose(out["p_holm"], naive)
    with pytest.raises(ValueError, match="'zz'"):
        st.vs_baseline(tab, "zz")


@pytest.mark.parametrize("n", [3, 5, 6, 8, 10])
def test_wilcoxon_max_losses_against_brute_force(n):
    level = 0.05
    law = np.array([sum(s) for k in range(n + 1) for s in itertools.combinations(range(1, n + 1), k)])
    best = None
    for losses in range(n + 1):
        w = losses * (losses + 1) // 2
        if min(1.0, 2 * np.mean(law <= w)) <= level:
            best = losses
        else:
            break
    assert st.wilcoxon_max_losses(n, level) == best


def test_detectable_effect_has_the_stated_power_and_is_inf_where_no_test_can_reject():
    for n, m in [(10, 21), (100, 21), (30, 5)]:
        d = st.detectable_effect(n, m)
        n_eff = 3 * n / np.pi
        crit = sps.t.ppf(1 - 0.05 / m / 2, n_eff - 1)
        assert sps.nct.sf(crit, n_eff - 1, d * np.sqrt(n_eff)) == pytest.approx(0.8, abs=1e-3)
    assert st.detectable_effect(100, 21) < st.detectable_effect(10, 21) < st.detectable_effect(10, 100) == np.inf
    # with 10 replications and 21 comparisons an estimator must win all 10; 0.00195 passes 0.05/21, not 0.05/231
    assert st.wilcoxon_max_losses(10, 0.05 / 21) == 0 and st.wilcoxon_max_losses(10, 0.05 / 231) is None


def test_no_family_runs_a_test_that_cannot_reject():
    tab = board_frame(reps=5).pivot(index="replication", columns="estimator", values="pehe_out")
    text, rows = rp._baseline_section(tab, "a", 0.05, "replications")
    assert rows is None and "not run" in text and "0.05 / 5" not in text and "8 replications are needed" in text
    tab10 = board_frame(reps=10).pivot(index="replication", columns="estimator", values="pehe_out")
    text, rows = rp._baseline_section(tab10, "a", 0.05, "replications")
    assert rows is not None and len(rows) == 5 and "Holm over 5 comparisons" in text


def test_headline_is_generated_from_the_numbers():
    tab = board_frame(reps=10, seed=2).pivot(index="replication", columns="estimator", values="pehe_out")
    h = rp.headline(tab, "c", dataset="ihdp")
    ranks = st.average_ranks(tab)
    first, second = ranks.index[:2]
    d = np.log(tab[first]) - np.log(tab[second])
    assert (h["first"], h["second"]) == (first, second)
    assert h["ratio"] == pytest.approx(np.exp(d.mean())) and h["p"] == pytest.approx(sps.wilcoxon(d).pvalue)
    assert f"**{first}** ranks first on ihdp" in h["text"] and f"{np.exp(d.mean()):.2f}×" in h["text"]
    assert ("cannot tell them apart" in h["text"]) == (h["p"] >= 0.05)
    assert h["min_wins"] == 10 - st.wilcoxon_max_losses(10, 0.05 / 5)
    few = rp.headline(tab.iloc[:4], "c")
    assert "cannot tell them apart" in few["text"] and "not run" in few["text"] and few["n_needed"] == 8


def test_baseline_is_pre_declared_not_picked_from_results():
    assert rp.choose_baseline(["a", "tarnet", "t-learner-linear"]) == "tarnet"
    assert rp.choose_baseline(["b", "t-learner-linear = t-lin-copy"]) == "t-learner-linear = t-lin-copy"
    assert rp.choose_baseline(["zeta", "alpha"]) == "alpha"
    assert rp.choose_baseline(["a", "b"], "b") == "b"
    with pytest.raises(ValueError, match="'c'"):
        rp.choose_baseline(["a", "b"], "c")


# ---- identical estimators, labels ----------------------------------------------------------------------------
def test_identical_estimators_are_shown_once_with_both_names():
    df = board_frame(names=("a", "b", "c"))
    twin = df[df["estimator"] == "b"].assign(estimator="b2", key=lambda x: x["key"] + "-2", fit_seconds=9.0)
    near = df[df["estimator"] == "c"].assign(estimator="c2", key=lambda x: x["key"] + "-2")
    near.loc[near.index[0], "pehe_in"] += 1e-12  # one value of one task differs: not identical
    df = pd.concat([df, twin, near], ignore_index=True)
    assert rp.identical_groups(df) == [("b", "b2")]
    merged, groups = rp.merge_identical(df)
    assert groups == [("b", "b2")] and sorted(merged["estimator"].unique()) == ["a", "b = b2", "c", "c2"]
    assert (merged.loc[merged["estimator"] == "b = b2", "fit_seconds"] != 9.0).all()
    # with prediction digests, the digests decide (metrics equal but predictions not: not identical)
    df["predictions_sha"] = df["key"]
    assert rp.identical_groups(df) == []


def test_labels_are_escaped_in_markdown_and_html():
    from catebench.benchmark.html import markdown_to_html

    df = board_frame(names=("a|b", "<i>x</i>", "c"))
    md = rp.format_markdown(rp.leaderboard(df))
    table = [line for line in md.splitlines() if line.startswith("|")]
    n_cols = {len(re.split(r"(?<!\\)\|", line)) for line in table}
    assert len(n_cols) == 1, "a | in a label must not shift the columns"
    page = markdown_to_html(md)
    assert "<td class=\"t\">a|b</td>" in page and "&lt;i&gt;x&lt;/i&gt;" in page and "<i>x</i>" not in page


# ---- shipped reference table ---------------------------------------------------------------------------------
def test_published_table_ships_with_the_package(monkeypatch, tmp_path):
    monkeypatch.setenv("CATEBENCH_SHARED", str(tmp_path / "nowhere"))
    path = rp.default_reference_path()
    assert path.is_file() and path.parent.parent.name == "benchmark" and "shared" not in path.parts
    rows, note = rp.published_rows(path)
    assert any("TARNet [Shalit2017_Table1]" in r["estimator"] for r in rows)
    assert "Shalit, Johansson, Sontag" in note and str(path.parent) not in note
    _, missing = rp.published_rows(tmp_path / "absent.csv")
    assert str(tmp_path) not in missing and "absent.csv" in missing


# ---- figures -------------------------------------------------------------------------------------------------
def test_strip_plot_log_axis_one_colour_per_replication(tmp_path):
    from catebench.benchmark import plots

    tab = board_frame(reps=6).pivot(index="replication", columns="estimator", values="pehe_out")
    tab.loc[3] *= 50
    fig = plots.replication_strip(tab, "pehe_out", "t", order=["f", "e", "d", "c", "b", "a"])
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["f", "e", "d", "c", "b", "a"]
    colours = {tuple(np.round(c.get_facecolor()[0], 4)) for c in ax.collections[:6]}
    assert len(colours) == 6
    plots.save(fig, tmp_path, "strip")
    assert (tmp_path / "strip.png").stat().st_size > 0


# ---- per-task CSV: the board without the store -------------------------------------------------------------
def _store_with_predictions(path, df):
    from catebench.benchmark.store import Store, TaskResult
    from catebench.benchmark.tasks import Task

    store = Store(path)
    for i, r in enumerate(df.itertuples()):
        task = Task(key=r.key, dataset=r.dataset, dataset_target="x:y", dataset_params_json=r.dataset_params,
                    dataset_version="1", replication=int(r.replication), split=r.split, estimator=r.estimator,
                    estimator_target=r.estimator_target, estimator_params_json=r.estimator_params, seed=0,
                    random_state=i)
        name = "t" if r.estimator == "twin" else r.estimator
        rng = np.random.default_rng(int(r.replication) * 1000 + sum(map(ord, name)))
        pred = {"mu0_hat": rng.normal(size=5), "mu1_hat": rng.normal(size=5), "fit_idx": np.arange(3),
                "test_idx": np.arange(3, 5)}
        store.write(task, TaskResult(key=r.key, status="ok", metrics={m: float(getattr(r, m)) for m in
                                                                      ("pehe_out", "pehe_in", "ate_out", "ate_in")},
                                     fit_seconds=r.fit_seconds, predict_seconds=r.predict_seconds,
                                     versions={"numpy": "2"}, predictions=pred))
    store.close()


@pytest.mark.slow  # three whole reports with figures (~30 s on a quiet core)
def test_board_rebuilds_from_tasks_csv_without_the_store_and_rewrites_no_byte(tmp_path, monkeypatch):
    from catebench.benchmark.cli import main

    monkeypatch.setenv("CATEBENCH_SHARED", str(tmp_path / "no-shared"))  # a clone without ../shared

    df = board_frame(reps=10, names=("a", "b", "t", "d", "e", "f"))
    twin = df[df["estimator"] == "t"].assign(estimator="twin", key=lambda x: x["key"] + "-twin")
    df = pd.concat([df, twin], ignore_index=True)  # "twin" predicts what "t" does (same seed in the helper)
    _store_with_predictions(tmp_path / "s.sqlite", df)
    out, again, rebuilt = tmp_path / "out", tmp_path / "again", tmp_path / "rebuilt"
    for where in (out, again):
        assert main(["report", "--store", str(tmp_path / "s.sqlite"), "--out", str(where), "--n-boot", "200"]) == 0
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert {"tasks.csv", "tasks_params.json", "report.html"} <= {str(p) for p in files}
    for f in files:  # regenerating without a change of numbers changes no byte (the command line included)
        assert (out / f).read_bytes() == (again / f).read_bytes().replace(str(again).encode(), str(out).encode()), f
    meta = json.loads((out / "report_meta.json").read_text())
    from catebench.benchmark.store import Store

    last = pd.Timestamp(Store(tmp_path / "s.sqlite").results()["finished_at"].max())
    assert meta["identical"] == [["t", "twin"]] and meta["generated"] == last.strftime("%Y-%m-%d %H:%M UTC")
    tasks = pd.read_csv(out / "tasks.csv")
    assert len(tasks) == len(df) and tasks["predictions_sha"].str.len().eq(16).all()
    (tmp_path / "s.sqlite").unlink()  # a clone has no store
    assert main(["report", "--tasks-csv", str(out / "tasks.csv"), "--out", str(rebuilt), "--n-boot", "200"]) == 0
    for f in files:
        if f.suffix in (".csv", ".json") and f.name != "report_meta.json" or f.parent.name == "figures":
            assert (out / f).read_bytes() == (rebuilt / f).read_bytes(), f
    strip = lambda p: [x for x in p.read_text().splitlines() if "catebench report" not in x]  # noqa: E731
    assert strip(out / "leaderboard.md") == strip(rebuilt / "leaderboard.md")
    # the published rows come from the table inside the package: no ../shared needed
    assert "TARNet [Shalit2017_Table1] (published, orientation only)" in (rebuilt / "leaderboard.md").read_text()
    lb = pd.read_csv(out / "leaderboard.csv")
    assert "t = twin" in set(lb["estimator"]) and "twin" not in set(lb["estimator"])
    page = (out / "report.html").read_text()
    assert page.index("ranks first") < page.index("strip_ihdp_pehe_out.png") < page.index("<h2>Ranking</h2>")
    assert "data:" not in page and len(page) < 300_000
    wil = pd.read_csv(out / "wilcoxon.csv")
    per_family = wil.groupby(["scope", "metric"]).size()
    assert (per_family == 5).all(), "one family of k - 1 = 5 comparisons with the baseline per scope and metric"


def test_fit_times_of_tasks_that_loaded_a_shared_teacher_are_marked():
    from catebench.benchmark.report import format_compact, format_markdown, leaderboard

    df = board_frame(reps=4, names=("a", "b"))
    df["diag_teacher_from_cache"] = np.where((df["estimator"] == "b") & (df["replication"] > 1), 1.0, np.nan)
    board = leaderboard(df)
    assert dict(zip(board["estimator"], board["fit_shared_teacher_n"])) == {"a": 0, "b": 3}
    for text in (format_compact(board), format_markdown(board)):
        rows = {line.split("|")[2].strip(): line for line in text.splitlines() if line.startswith("| ")}
        assert rows["b"].rstrip(" |").endswith("†") and not rows["a"].rstrip(" |").endswith("†")
        assert "tasks per row: b 3." in text
    assert "fit_shared_teacher_n" not in leaderboard(df.drop(columns="diag_teacher_from_cache"))
