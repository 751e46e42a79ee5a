"""`catebench paper`: planning, the paper-layout tables, the claim verdicts, and a smoke run end to end."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catebench.benchmark import paper
from catebench.benchmark.cli import main as cli_main
from catebench.benchmark.paper import FAILS, HOLDS, MAIN, TEACHER, UNTESTABLE
from catebench.benchmark.paper import WS_MAIN as WS
from catebench.benchmark.paper import measurements, options

ROOT = Path(__file__).resolve().parents[1]


# ---- planning --------------------------------------------------------------------------------------------------


def test_parse_ranges():
    assert paper.parse_ranges("1-3,35, 2", 1, 77, "--settings") == (1, 2, 3, 35)
    for bad, word in (("0-3", "outside"), ("5-2", "backwards"), ("x", "'x'"), ("78", "outside"), (",", "nothing")):
        with pytest.raises(ValueError, match=word):
            paper.parse_ranges(bad, 1, 77, "--settings")


def test_select_estimators_patterns_and_errors():
    names = paper.select_estimators("iwdd-*,t-learner-linear", exclude="iwdd-kl")
    assert "iwdd-rand" in names and "iwdd-kl" not in names and names[-1] == "t-learner-linear"
    assert paper.select_estimators("mypkg.mod:Cls") == ["mypkg.mod:Cls"]
    with pytest.raises(ValueError, match="'nope-\\*'"):
        paper.select_estimators("nope-*")
    with pytest.raises(ValueError, match="no estimator left"):
        paper.select_estimators("t-learner", exclude="t-learner")


def test_plan_offline_acic2016_is_settings_1_to_10(tmp_path, monkeypatch):
    monkeypatch.setenv("CATEBENCH_DATA", str(tmp_path))  # no data_cf_all there
    plan = paper.build_plan(families="acic2016,ihdp", estimators="t-learner-linear", replications=3)
    spec = {d.name: d for d in plan.config.datasets}
    assert spec["acic2016"].replications == tuple(range(1, 11))
    assert spec["acic2016"].params == {"source": "causallib", "simulation": "bundled"}
    assert spec["ihdp"].replications == (1, 2, 3)
    assert all(d.split == "80/20-row-order" for d in plan.config.datasets)
    with pytest.raises(ValueError, match="settings 11-12 need the data_cf_all"):
        paper.build_plan(families="acic2016", settings="9-12", estimators="t-learner-linear")
    with pytest.raises(ValueError, match="--acic2016-dir"):
        paper.build_plan(families="acic2016", acic2016_dir=str(tmp_path), estimators="t-learner-linear")
    with pytest.raises(ValueError, match="--families 'acic2017'"):
        paper.build_plan(families="acic2017")


def test_plan_skips_acic2018_with_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("CATEBENCH_DATA", str(tmp_path))
    plan = paper.build_plan(families="acic2018,ihdp", estimators="t-learner-linear")
    assert [d.name for d in plan.config.datasets] == ["ihdp"]
    assert any(n.startswith("ACIC 2018 skipped") for n in plan.notes)
    # the note is written into the outputs: it names $CATEBENCH_DATA, not this machine's folder
    assert not any(str(tmp_path) in n for n in plan.notes)
    assert any("$CATEBENCH_DATA/acic2018" in n for n in plan.notes)
    with pytest.raises(ValueError, match="--acic2018-dir"):
        paper.build_plan(families="acic2018", acic2018_dir=str(tmp_path), estimators="t-learner-linear")


# ---- statistics and verdicts on constructed results ------------------------------------------------------------


def test_best_share_ci_splits_ties_and_sums_to_100():
    tab = pd.DataFrame({"a": [1.0, 1.0, 3.0, 2.0], "b": [2.0, 1.0, 1.0, 2.0], "c": [3.0, 5.0, 4.0, 2.0]})
    bs = paper.best_share_ci(tab, n_boot=500, seed=0)
    assert bs["best_pct"].sum() == pytest.approx(100.0)
    assert bs.loc["a", "best_pct"] == pytest.approx(100 * (1 + 0.5 + 0 + 1 / 3) / 4)
    assert (bs["ci_low"] <= bs["best_pct"] + 1e-9).all() and (bs["best_pct"] <= bs["ci_high"] + 1e-9).all()
    assert bs.attrs["boots"].shape == (500, 3)


def _results(errors: dict[str, np.ndarray], family: str = "acic2016", predict: dict | None = None) -> pd.DataFrame:
    rows = []
    for est, v in errors.items():
        target = "catebench.estimators.iwdd:IWDD" if est.startswith("iwdd") or est == TEACHER else "catebench.estimators.meta:MetaLearner"
        for rep, x in enumerate(v, start=1):
            rows.append({"dataset": family, "replication": rep, "seed": 0, "split": paper.SPLIT, "estimator": est,
                         "estimator_target": target, "status": "ok", "pehe_out": x, "pehe_in": x * 0.9,
                         "fit_seconds": 1.0, "predict_seconds": (predict or {}).get(est, 0.1)})
    return pd.DataFrame(rows)


def _gradvar(above=(0, 9, 9), below=(0, 0, 0), cells=9):
    """A gradient-variance measurement (``studies.paper.gradient_variance``'s shape): per design (good overlap as
    the control, then moderate and weak), ``above`` / ``below`` cells with the CI above 1 / at or below 1."""
    designs = []
    for (name, imb), a, b in zip((("good", 0.5), ("moderate", 1.5), ("weak", 3.0)), above, below):
        n = cells - a - b
        ratio = [2.0] * a + [0.5] * b + [1.0] * n
        designs.append({"design": name, "imbalance": imb, "cells": cells, "above": a, "below": b,
                        "gm_ratio": float(np.exp(np.mean(np.log(ratio)))), "ratio": ratio,
                        "ci_low": [1.5] * a + [0.3] * b + [0.8] * n, "ci_high": [2.5] * a + [0.9] * b + [1.2] * n,
                        "state": ["start", "middle", "end"] * (cells // 3)})
    return {"designs": designs, "replications": cells // 3, "n_batches": 32, "states": ["end", "middle", "start"]}


def _claims(results, studies=None):
    return {c.key: c for c in paper.evaluate_claims(results, studies or {}, n_boot=500, seed=0)}


def test_claims_hold_when_iwdd_wins_everywhere():
    rng = np.random.default_rng(0)
    base = 1.0 + rng.uniform(0, 0.1, 20)
    res = _results({MAIN: base, "t-learner": base + 0.5, "s-learner": base + 0.8, TEACHER: base + 0.01},
                   predict={MAIN: 0.1, TEACHER: 5.0})
    studies = {"speed": {"one_step": [0.1, 0.11, 0.1], "heun": [5.0, 5.2, 4.9], "heun_steps": 50},
               "gradvar": _gradvar(above=(1, 8, 9))}
    c = _claims(res, studies)
    assert c["sota"].verdict == HOLDS
    assert c["winrate"].verdict == HOLDS
    assert c["gradvar"].verdict == HOLDS
    assert c["one_step"].verdict == HOLDS


def test_claims_fail_when_a_baseline_wins_everywhere():
    rng = np.random.default_rng(1)
    base = 1.0 + rng.uniform(0, 0.1, 20)
    res = _results({MAIN: base + 0.6, "t-learner": base, "s-learner": base + 0.8, TEACHER: base + 0.1})
    studies = {"speed": {"one_step": [1.0, 1.1], "heun": [0.5, 0.6]},
               "gradvar": _gradvar(above=(0, 9, 0), below=(0, 0, 5))}
    c = _claims(res, studies)
    assert c["sota"].verdict == FAILS
    assert c["winrate"].verdict == FAILS
    assert c["gradvar"].verdict == FAILS
    assert c["one_step"].verdict == FAILS  # 0.5 worse than the teacher: beyond the 10 % margin, and slower


def test_claims_untestable_without_measurements_or_with_few_datasets():
    res = _results({MAIN: np.array([1.0, 2.0, 1.5]), "t-learner": np.array([1.2, 1.1, 1.6])})
    c = _claims(res)
    assert c["sota"].verdict == UNTESTABLE  # not first, not significantly beaten with 3 datasets
    assert c["gradvar"].verdict == UNTESTABLE and c["gradvar"].evidence == []  # nothing measured, no evidence
    assert c["one_step"].verdict == UNTESTABLE
    c = _claims(_results({"t-learner": np.ones(5), "s-learner": np.ones(5) * 2}))
    assert all(v.verdict == UNTESTABLE for v in c.values())


def test_claims_decide_on_the_papers_ihdp_replications_and_report_the_rest():
    """IHDP 1-40: the IWDD wins on the paper's 1-10 and loses on 11-40; the verdict uses 1-10, the evidence says
    that all 40 give another verdict."""
    rng = np.random.default_rng(3)
    base = 1.0 + rng.uniform(0, 0.1, 40)
    mine = np.where(np.arange(40) < 10, base, base + 2.0)
    res = _results({MAIN: mine, "t-learner": base + 0.3, "s-learner": base + 0.5}, family="ihdp")
    c = _claims(res)
    assert c["sota"].verdict == HOLDS
    note = [e for e in c["sota"].evidence if e.startswith("IHDP: the rule decides")]
    assert len(note) == 1 and "differ" in note[0] and FAILS in note[0]
    robust = [e for e in c["sota"].evidence if e.startswith("IHDP, all replications")]
    assert len(robust) == 1 and "(40 datasets" in robust[0]


def test_claims_are_judged_for_the_paper_method_and_the_warm_started_variant():
    rng = np.random.default_rng(4)
    base = 1.0 + rng.uniform(0, 0.1, 12)
    res = _results({MAIN: base + 0.6, WS: base, "t-learner": base + 0.3, "s-learner": base + 0.5})
    studies = {"gradvar": _gradvar()}
    both = paper.evaluate_subjects(res, studies, n_boot=500, seed=0)
    by = {(c.subject, c.key): c for c in both}
    assert len(both) == 8
    assert by[MAIN, "sota"].verdict == FAILS and by[WS, "sota"].verdict == HOLDS  # the baselines exclude both
    assert by[MAIN, "gradvar"].verdict == HOLDS
    assert by[WS, "gradvar"].verdict == UNTESTABLE and by[WS, "gradvar"].evidence == []  # SiD's gradient: paper only


def test_gradvar_is_judged_on_the_confounded_designs_with_good_overlap_as_control():
    def verdict(**kw):
        return _claims(_results({"t-learner": np.ones(3)}), {"gradvar": _gradvar(**kw)})["gradvar"]

    assert verdict(above=(0, 5, 9)).verdict == HOLDS  # a majority in each confounded design
    assert verdict(above=(0, 4, 9)).verdict == UNTESTABLE  # moderate: 4 of 9 above, 5 include 1
    assert verdict(above=(0, 9, 9), below=(9, 0, 0)).verdict == HOLDS  # the control is shown, not judged
    c = verdict(above=(0, 9, 4), below=(0, 0, 5))
    assert c.verdict == FAILS and "weak" in c.why
    assert len(c.evidence) == 5 and c.evidence[0].startswith("good (control)")
    one = _gradvar()
    one["designs"] = one["designs"][:1]
    assert _claims(_results({"t-learner": np.ones(3)}), {"gradvar": one})["gradvar"].verdict == UNTESTABLE


def test_write_paper_draws_the_study_figures(tmp_path):
    rng = np.random.default_rng(2)
    base = 1.0 + rng.uniform(0, 0.3, 6)
    res = pd.concat([_results({MAIN: base, TEACHER: base + 0.05, "t-learner": base + 0.1}),
                     _results({MAIN: base[:4], TEACHER: base[:4], "t-learner": base[:4] - 0.1}, family="ihdp")])
    toy = tmp_path / "toy_src"
    toy.mkdir()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure()
    fig.savefig(toy / "figure.png")
    fig.savefig(toy / "figure.svg")
    plt.close(fig)
    studies = {"speed": {"one_step": [0.1, 0.12], "heun": [4.0, 4.1], "heun_steps": 50, "what": "x"},
               "gradvar": _gradvar(above=(0, 5, 9), below=(2, 0, 0)),
               "toy": {"figure": str(toy / "figure.png")}}
    out = tmp_path / "paper"
    paper.write_paper(res, out, command="test", studies=studies, n_boot=200)
    for stem in ("winrates_best", "winrate_matrix_acic2016_pehe_out", "winrate_matrix_ihdp_pehe_out", "toy",
                 "sampling_time", "gradient_variance", "pehe_out_box_acic2016", "pehe_out_box_ihdp"):
        for ext in ("png", "svg"):
            assert (out / "figures" / f"{stem}.{ext}").is_file(), f"{stem}.{ext}"
    page = (out / "index.html").read_text()
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert sorted(srcs) == sorted(f"figures/{stem}.png" for stem in (
        "winrates_best", "winrate_matrix_acic2016_pehe_out", "winrate_matrix_ihdp_pehe_out", "toy", "sampling_time",
        "gradient_variance", "pehe_out_box_acic2016", "pehe_out_box_ihdp"))  # relative links to the PNGs beside the page, nothing embedded
    assert all((out / src).is_file() for src in srcs) and "base64" not in page
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    paper.write_paper(res, out, command="test", studies=studies, n_boot=200)  # the same numbers again
    assert {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # not a byte changes


# ---- the smoke run ---------------------------------------------------------------------------------------------


def test_smoke_run_writes_every_output_and_resumes(shared, tmp_path, capsys):
    acic = shared / "data" / "acic2016"
    if not (acic / "data_cf_all").is_dir():
        pytest.skip(f"{acic}/data_cf_all (ACIC 2016 replication 1 of the 77 settings) is not present")
    out, store = tmp_path / "paper", tmp_path / "store.sqlite"
    argv = ["paper", "--settings", "1-2", "--acic2016-dir", str(acic), "--replications", "2", "--estimators",
            "t-learner-linear,s-learner-linear", "--executor", "inline", "--store", str(store), "--out", str(out),
            "--studies", "skip", "--n-boot", "200", "--no-progress"]
    assert cli_main(argv) == 0
    for name in ("README.md", "claims.md", "claims.json", "tables.md", "index.html", "table_pehe.csv",
                 "winrates_pairwise.csv", "distributional.csv", "coverage.csv", "leaderboard_all.csv", "tasks.csv",
                 "budget.csv", "runs.jsonl"):
        assert (out / name).is_file(), name
    for stem in ("winrates_best", "winrate_matrix_acic2016_pehe_out", "winrate_matrix_ihdp_pehe_out"):
        assert (out / "figures" / f"{stem}.png").is_file() and (out / "figures" / f"{stem}.svg").is_file()
    table = pd.read_csv(out / "table_pehe.csv")
    assert set(table["family"]) == {"acic2016", "ihdp"}
    assert set(table["estimator"]) == {"t-learner-linear", "s-learner-linear"}
    assert (table["n_units"] == 2).all()
    for fam in ("acic2016", "ihdp"):  # % best shares of one family's table sum to 100 (ties split)
        assert table.loc[table["family"] == fam, "best_pehe_out_pct"].sum() == pytest.approx(100.0)
    tasks = pd.read_csv(out / "tasks.csv")
    assert len(tasks) == 8 and (tasks["status"] == "ok").all()
    assert set(tasks.loc[tasks["dataset"] == "acic2016", "n_test"]) == {960}  # 20 % of 4802 rows, row order
    claims = json.loads((out / "claims.json").read_text())
    assert [(c["subject"], c["key"]) for c in claims] == [(m, k) for m in ("iwdd-rand", "iwdd-rand-ws")
                                                          for k in ("sota", "winrate", "gradvar", "one_step")]
    assert all(c["verdict"] in (HOLDS, FAILS, UNTESTABLE) and c["rule"] for c in claims)
    by_key = {c["key"]: c for c in claims if c["subject"] == MAIN}
    assert by_key["gradvar"]["verdict"] == UNTESTABLE and by_key["gradvar"]["evidence"] == []  # --studies skip
    # a second run resumes: every task is already in the store
    assert cli_main(argv) == 0
    runs = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert [r["event"] for r in runs] == ["started", "finished", "started", "finished"]
    assert (runs[-1]["planned"], runs[-1]["skipped"], runs[-1]["ok"]) == (8, 8, 0)
    # without the store, --report-only writes the tables from the tasks.csv beside them (6 significant digits)
    table_before, tasks_before = pd.read_csv(out / "table_pehe.csv"), (out / "tasks.csv").read_bytes()
    verdicts_before = [(c["subject"], c["key"], c["verdict"]) for c in claims]
    store.unlink()
    assert cli_main([*argv, "--report-only"]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "table_pehe.csv"), table_before, rtol=1e-4)
    assert (out / "tasks.csv").read_bytes() == tasks_before
    again = json.loads((out / "claims.json").read_text())  # the claims recomputed from the committed per-task file
    assert [(c["subject"], c["key"], c["verdict"]) for c in again] == verdicts_before


@pytest.mark.slow
def test_the_committed_claims_and_tables_are_recomputed_from_the_committed_per_task_file(tmp_path, capsys):
    """Every verdict and number of the committed `results/paper/claims.json` and `table_pehe.csv` comes back when
    the outputs are written again from the committed `tasks.csv` and study measurements alone (no store)."""
    import shutil

    committed = ROOT / "results" / "paper"
    out = tmp_path / "paper"
    out.mkdir()
    shutil.copy(committed / "tasks.csv", out / "tasks.csv")
    shutil.copytree(committed / "studies", out / "studies")
    assert cli_main(["paper", "--report-only", "--out", str(out), "--store", str(tmp_path / "absent.sqlite"),
                     "--no-progress"]) == 0
    capsys.readouterr()
    assert json.loads((out / "claims.json").read_text()) == json.loads((committed / "claims.json").read_text())
    pd.testing.assert_frame_equal(pd.read_csv(out / "table_pehe.csv"), pd.read_csv(committed / "table_pehe.csv"))


def test_cli_rejects_bad_values(capsys):
    assert cli_main(["paper", "--settings", "3-1", "--report-only"]) == 2
    err = capsys.readouterr().err
    assert "--settings" in err and "'3-1'" in err  # names the option and the bad value
    assert cli_main(["paper", "--estimators", "nope", "--report-only", "--families", "ihdp"]) == 2
    assert "'nope'" in capsys.readouterr().err


# ---- a subset run never writes over the full run's results --------------------------------------------------


def _paper_args(*argv: str):
    import argparse

    p = argparse.ArgumentParser()
    options.add_arguments(p)
    return p.parse_args(list(argv))


def test_subset_reasons_name_every_shortfall_and_none_for_the_full_protocol(tmp_path, monkeypatch):
    monkeypatch.setenv("CATEBENCH_DATA", str(tmp_path))  # no ACIC 2016 files: offline settings 1-10
    full = _paper_args("--families", "ihdp,acic2018,acic2016")
    plan = paper.build_plan(families="ihdp", estimators="t-learner-linear")  # a plan without ACIC 2016
    assert paper.subset_reasons(full, plan) == []
    small = _paper_args("--settings", "1-2", "--replications", "2", "--estimators", "t-learner-linear",
                        "--quick-studies", "--families", "acic2016,ihdp")
    reasons = paper.subset_reasons(small, plan)
    assert len(reasons) == 5 and [r.split()[0] for r in reasons] == [
        "--families", "--settings", "--replications", "--estimators", "--quick-studies"]
    offline = paper.build_plan(families="acic2016", estimators="t-learner-linear")
    assert len(paper.subset_reasons(_paper_args(), offline)) == 1  # settings 1-10 only, without the files


def test_a_subset_run_refuses_the_full_runs_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # results/paper of this folder plays the committed one
    monkeypatch.setenv("CATEBENCH_DATA", str(tmp_path))
    committed = tmp_path / "results" / "paper"
    committed.mkdir(parents=True)
    record = json.dumps({"event": "started", "started": "then", "n_jobs": 2, "load_before": [0.0], "command": "x"})
    (committed / "runs.jsonl").write_text(record + "\n")
    small = ["paper", "--families", "ihdp", "--replications", "1", "--estimators", "t-learner-linear", "--executor",
             "inline", "--studies", "skip", "--n-boot", "200", "--no-progress"]
    assert cli_main(small) == 2
    err = capsys.readouterr().err
    assert "--overwrite" in err and "--out" in err  # the refusal names the ways out
    assert [p.name for p in committed.iterdir()] == ["runs.jsonl"]
    assert (committed / "runs.jsonl").read_text() == record + "\n"  # nothing written, nothing run
    assert not (tmp_path / "results" / "paper" / "store.sqlite").exists()
    assert cli_main([*small, "--out", "elsewhere", "--store", "elsewhere/store.sqlite"]) == 0  # another folder
    assert (tmp_path / "elsewhere" / "table_pehe.csv").is_file()
    assert cli_main([*small, "--overwrite"]) == 0  # asked for explicitly
    assert (committed / "table_pehe.csv").is_file()


def test_help_gives_the_committed_budgets_projection_and_an_example(capsys):
    with pytest.raises(SystemExit):
        cli_main(["paper", "--help"])
    text = capsys.readouterr().out
    budget = pd.read_csv(ROOT / "results" / "paper" / "budget.csv")
    s = int(round(budget["full_cpu_s"].sum(skipna=True) / 2))  # the default 2 workers
    assert f"{s // 3600} h {s % 3600 // 60:02d} min" in text
    assert options.EXAMPLE in text
    assert options.projected_full_run_seconds(ROOT / "results" / "paper" / "budget.csv", 4) == pytest.approx(s / 2,
                                                                                                              abs=1)


def test_the_core_imports_no_study():
    """``studies/`` is not installed: nothing under benchmark/ (nor estimators/, datasets/) may import it."""
    for folder in ("benchmark", "estimators", "datasets"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                         [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
                assert not any(n == "studies" or n.startswith("studies.") for n in names), path


def test_family_tables_with_staged_coverage():
    """Fast estimators on 10 datasets, iwdd-rand on 6: one table on iwdd-rand's 6, one on all 10 for the fast."""
    rng = np.random.default_rng(3)
    res = pd.concat([_results({"t-learner": rng.uniform(1, 2, 10), "s-learner": rng.uniform(1, 2, 10)}),
                     _results({MAIN: rng.uniform(1, 2, 6), "x-learner": rng.uniform(1, 2, 2)})])
    tabs = paper.family_tables(res, n_boot=200)["acic2016"]
    assert [t["scope"] for t in tabs] == ["iwdd", "widest"]
    assert tabs[0]["units"] == [1, 2, 3, 4, 5, 6] and set(tabs[0]["estimators"]) == {MAIN, "t-learner", "s-learner"}
    assert tabs[0]["left_out"] == {"x-learner": 2}
    assert tabs[1]["n_units"] == 10 and set(tabs[1]["estimators"]) == {"t-learner", "s-learner"}
    for t in tabs:
        assert t["frame"]["best_pehe_out_pct"].sum() == pytest.approx(100.0)
    md = paper.format_family_table("acic2016", tabs[0], [MAIN])
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + 3 and sum(r.startswith(f"| **{MAIN}** |") for r in rows) == 1  # header, 3 estimators


def test_manifest_check_names_a_damaged_file(shared, tmp_path):
    import shutil

    from catebench.datasets.acic2016 import verify_manifest

    src = shared / "data" / "acic2016"
    if not (src / "MANIFEST.sha256").is_file():
        pytest.skip(f"{src}/MANIFEST.sha256 is not present")
    dst = tmp_path / "acic2016"
    (dst / "data_cf_all" / "1").mkdir(parents=True)
    shutil.copy(src / "MANIFEST.sha256", dst)
    shutil.copy(src / "data_cf_all" / "x.csv.gz", dst / "data_cf_all")
    shutil.copy(src / "data_cf_all" / "1" / "zymu_1.csv.gz", dst / "data_cf_all" / "1")
    assert verify_manifest(dst / "data_cf_all", [1]) == 2
    (dst / "data_cf_all" / "1" / "zymu_1.csv.gz").write_bytes(b"damaged")
    with pytest.raises(ValueError, match="zymu_1.csv.gz has sha256"):
        verify_manifest(dst / "data_cf_all", [1])
    with pytest.raises(ValueError, match="missing"):
        verify_manifest(dst / "data_cf_all", [2])


def test_drop_stale_keeps_only_current_parameter_keys():
    from catebench.benchmark.config import DatasetSpec, EstimatorSpec, RunConfig
    from catebench.benchmark.tasks import plan_tasks

    cfg = RunConfig(name="paper", seed=0, datasets=[DatasetSpec("ihdp", (1, 2), paper.SPLIT, {})],
                    estimators=[EstimatorSpec("t-learner-linear")])
    tasks = plan_tasks(cfg)
    rows = [{"key": t.key, "dataset": "ihdp", "dataset_params": t.dataset_params_json, "split": t.split,
             "replication": t.replication, "estimator": t.estimator, "estimator_params": t.estimator_params_json,
             "finished_at": "2026-01-01T00:00:00"} for t in tasks]
    rows.append({**rows[0], "key": "from-an-older-version", "estimator_params": '{"kind": "s"}'})
    rows.append({**rows[0], "key": "other", "estimator": "mypkg.mod:Cls"})  # not registered by name: kept
    kept, n, notes = paper.drop_stale(pd.DataFrame(rows), seed=0)
    assert n == 1 and "from-an-older-version" not in set(kept["key"]) and len(kept) == 3 and notes == []
    # only an older parameter set stored: its newest one is kept, and a note names what differs
    old = pd.DataFrame([{**r, "key": f"old{i}", "estimator_params": json.dumps({"kind": "s"}),
                         "finished_at": f"2026-01-0{i + 1}"} for i, r in enumerate(rows[:2])]
                       + [{**rows[0], "key": "older", "estimator_params": json.dumps({"kind": "x"}),
                           "finished_at": "2025-01-01"}])
    kept, n, notes = paper.drop_stale(old, seed=0)
    assert set(kept["key"]) == {"old0", "old1"} and n == 1
    assert len(notes) == 1 and "'s'" in notes[0] and "'t'" in notes[0]  # the stored value and today's default


# ---- the IWDD measurements (python -m studies.paper) -------------------------------------------------------


def _write_measurements(out, quick=False):
    sdir = out / "studies"
    sdir.mkdir(parents=True)
    for name in measurements.MEASUREMENTS:
        (sdir / f"{name}.json").write_text(json.dumps({"summary": name, "quick": quick, "measured": "then"}))


def test_measurements_are_read_from_the_study_files(tmp_path, monkeypatch):
    _write_measurements(tmp_path)
    got = measurements.read_measurements(tmp_path, "auto")
    assert {k: v["summary"] for k, v in got.items()} == {"speed": "speed", "gradvar": "gradvar", "toy": "toy"}
    assert all("error" in v for v in measurements.read_measurements(tmp_path, "skip").values())
    # without a clone's studies/ folder: auto says how to measure, run refuses with that command
    monkeypatch.setattr(measurements, "source_root", lambda: None)
    got = measurements.read_measurements(tmp_path, "auto", quick=True)  # the files are not quick ones
    assert all("python -m studies.paper" in v["error"] for v in got.values())
    with pytest.raises(RuntimeError, match="python -m studies.paper"):
        measurements.read_measurements(tmp_path, "run")
    with pytest.raises(ValueError, match="'sometimes'"):
        measurements.read_measurements(tmp_path, "sometimes")


@pytest.mark.slow
def test_quick_measurements_measure_and_are_reused(tmp_path):
    """The three IWDD measurements at smoke-test sizes: each must measure (an error fails the test)."""
    from studies.paper import measure

    res = measure(tmp_path, ["speed", "gradvar", "toy"], quick=True)
    assert {k: v.get("error") for k, v in res.items()} == {"speed": None, "gradvar": None, "toy": None}
    sp = res["speed"]
    assert len(sp["one_step"]) == len(sp["heun"]) == 3 and (sp["units"], sp["draws"]) == (50, 10)
    assert sp["ratio"] == pytest.approx(np.median(sp["heun"]) / np.median(sp["one_step"]))
    assert sp["ratio"] > 1  # 99 network calls per draw against 1
    g = res["gradvar"]
    assert [d["cells"] for d in g["designs"]] == [3, 3, 3] and g["replications"] == 1  # one seed x 3 states
    for d in g["designs"]:
        assert d["gm_ratio"] == pytest.approx(np.exp(np.mean(np.log(d["ratio"]))))
        assert d["above"] == sum(lo > 1 for lo in d["ci_low"]) and d["below"] == sum(hi <= 1 for hi in d["ci_high"])
    assert (tmp_path / "studies" / "gradvar" / "summary.md").is_file()
    t = res["toy"]
    assert t["figure"] == "toy/figure.png" and len(t["w1_rows"]) == 16  # 4 methods x 4 panels; no machine path
    assert (tmp_path / "studies" / t["figure"]).is_file()
    again = measurements.read_measurements(tmp_path, "auto", quick=True)  # auto: reuses what was measured
    assert {k: v["measured"] for k, v in again.items()} == {k: v["measured"] for k, v in res.items()}
    assert Path(again["toy"]["figure"]).is_file()  # read back as a path to the file, from any working directory


def test_iwdd_family_in_stores_written_before_the_namespace():
    res = pd.DataFrame({"estimator": ["iwdd-rand", "diffusion-teacher", "t-learner", "iwdd-ipw"],
                        "estimator_target": ["estimators.iwdd:IWDD", "catebench.estimators.iwdd:DiffusionTeacher",
                                             "estimators.meta:MetaLearner", "catebench.estimators.iwdd.estimator:IWDD"]})
    assert paper.iwdd_family(res) == ["diffusion-teacher", "iwdd-ipw", "iwdd-rand"]


def test_the_source_tree_is_found_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert measurements.source_root() == ROOT
    assert options.committed_budget() == ROOT / "results" / "paper" / "budget.csv"


def test_the_reference_board_is_the_papers_ihdp_family():
    """One run serves both: the reference board plans exactly the tasks (keys) of the paper's IHDP family."""
    from catebench.benchmark.config import load_config
    from catebench.benchmark.tasks import plan_tasks

    ref = {t.key for t in plan_tasks(load_config("reference"))}
    fam = {t.key for t in plan_tasks(paper.build_plan(families="ihdp", replications=100).config)}
    assert len(ref) == len(fam) > 0 and ref == fam


def test_a_run_in_parts_is_written_from_its_progress_with_every_part_recorded(tmp_path, capsys):
    """Part one runs into a progress folder, which it leaves with its tasks (--no-report writes the per-task files,
    the same as `report --tasks-only`); the outputs are then written elsewhere from a fresh store that takes those
    tasks (--resume-from) instead of running them, and list part one's run."""
    small = ["paper", "--families", "ihdp", "--replications", "2", "--estimators", "t-learner-linear,s-learner-linear",
             "--studies", "skip", "--n-boot", "200", "--no-progress"]
    part, final = tmp_path / "progress", tmp_path / "final"
    assert cli_main([*small, "--no-report", "--out", str(part), "--store", str(tmp_path / "a.sqlite")]) == 0
    assert sorted(p.name for p in part.iterdir()) == ["runs.jsonl", "tasks.csv", "tasks_params.json"]
    own = (part / "tasks.csv").read_bytes(), (part / "tasks_params.json").read_bytes()
    assert cli_main(["report", "--store", str(tmp_path / "a.sqlite"), "--tasks-only", "--out", str(part)]) == 0
    assert ((part / "tasks.csv").read_bytes(), (part / "tasks_params.json").read_bytes()) == own
    capsys.readouterr()
    assert cli_main([*small, "--out", str(final), "--store", str(tmp_path / "b.sqlite"),
                     "--resume-from", str(part / "tasks.csv")]) == 0
    assert "4 already in the store (4 imported from per-task files), 0 ran ok" in capsys.readouterr().out
    runs = [json.loads(x) for x in (final / "runs.jsonl").read_text().splitlines()]
    assert [r["event"] for r in runs] == ["started", "finished", "started", "finished"]
    assert runs[1]["ok"] == 4 and runs[3]["imported"] == 4 and runs[3]["ok"] == 0
    a = pd.read_csv(part / "tasks.csv").sort_values("key")
    b = pd.read_csv(final / "tasks.csv")
    assert len(b) == 4 and sorted(b["pehe_out"].round(4)) == sorted(a["pehe_out"].round(4))
    assert "Scope" in (final / "claims.md").read_text()


def test_an_interrupted_part_leaves_the_tasks_it_finished_in_its_progress_files(tmp_path, monkeypatch):
    """A part keeps its per-task files current while it runs (every export_every seconds, and when it stops): when
    it is stopped after some tasks, the files hold exactly the tasks in its store, and the next part resumes from
    them and runs only the rest."""
    from catebench.benchmark.paper import plan as plan_mod
    from catebench.benchmark.store import Store

    seen = []
    call = plan_mod._TaskExport.__call__

    def stop_after_three(self, task, result):  # Ctrl-C after the third task, once it has been exported
        call(self, task, result)
        seen.append(task.key)
        if len(seen) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(plan_mod._TaskExport, "__call__", stop_after_three)
    small = dict(families="ihdp", replications=2, estimators="t-learner-linear,s-learner-linear", n_jobs=1,
                 executor="inline")
    part = tmp_path / "progress"
    plan = paper.build_plan(**small, store=str(tmp_path / "a.sqlite"))
    with pytest.raises(KeyboardInterrupt):
        plan_mod.run_plan(plan, part, progress=False, export_every=1e-9)
    done = set(pd.read_csv(part / "tasks.csv")["key"])
    assert done == set(seen) == set(Store(tmp_path / "a.sqlite", readonly=True).results()["key"])
    assert json.loads((part / "runs.jsonl").read_text().splitlines()[-1])["event"] == "interrupted"
    monkeypatch.setattr(plan_mod._TaskExport, "__call__", call)
    rest = plan_mod.run_plan(paper.build_plan(**small, store=str(tmp_path / "b.sqlite")), part, progress=False,
                             resume_from=[part / "tasks.csv"], export_every=1e9)
    assert (rest.imported, rest.ok, rest.planned) == (3, 1, 4)
    assert len(pd.read_csv(part / "tasks.csv")) == 4  # written at the end although export_every never passed
    assert not list(part.glob(".*.partial"))


def test_the_iwdd_study_takes_the_papers_ihdp_tasks():
    """studies.iwdd_ihdp plans the paper's IHDP tasks of its labels (same keys), plus the IPW-pretrained teacher,
    which the paper does not run; its committed tasks.csv holds exactly that plan."""
    from catebench.benchmark.config import load_config
    from catebench.benchmark.tasks import plan_tasks

    study = {t.key: t.estimator for t in plan_tasks(load_config(ROOT / "benchmark" / "configs" / "iwdd_ihdp.toml"))}
    fam = {t.key for t in plan_tasks(paper.build_plan(families="ihdp", replications=100).config)}
    own = {k for k, label in study.items() if label == "diffusion-teacher-ipw"}
    assert len(own) == 100 and set(study) - own <= fam and len(study) == 1300
    committed = pd.read_csv(ROOT / "results" / "iwdd_ihdp" / "tasks.csv")
    assert set(committed["key"]) == set(study) and (committed["status"] == "ok").all()


def test_the_scope_names_the_code_of_every_part_that_ran_tasks_and_no_other(tmp_path):
    from catebench.benchmark.paper.write import _scope

    records = [
        {"event": "started", "started": "a", "code": "killed1"},  # killed: no end record
        {"event": "started", "started": "b", "code": "ran2"},
        {"event": "finished", "started": "b", "code": "ran2", "ok": 3, "failed": 0},
        {"event": "started", "started": "c", "code": "cut3"},
        {"event": "interrupted", "started": "c", "code": "cut3"},
        {"event": "started", "started": "d", "code": "report4"},
        {"event": "finished", "started": "d", "code": "report4", "ok": 0, "failed": 0},  # found everything stored
    ]
    (tmp_path / "runs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    results = pd.DataFrame({"dataset": ["ihdp"], "replication": [1], "estimator": ["t-learner"], "status": ["ok"],
                            "seed": [0], "n_fit": [598], "n_test": [149]})
    text = _scope(results, [], tmp_path)
    assert "code: `killed1`, `ran2`, `cut3` (" in text
    assert "report4" not in text


def test_the_budget_counts_the_distributional_draws_in_a_tasks_time(tmp_path):
    from catebench.benchmark.paper.budget import budget

    results = pd.DataFrame({"dataset": "ihdp", "replication": [1, 2, 3], "estimator": "diffusion-teacher",
                            "status": "ok", "fit_seconds": 2.0, "predict_seconds": 1.0,
                            "sample_seconds": [4.0, 4.0, np.nan]})
    df, _ = budget(results, tmp_path, n_jobs=2, n18=None)
    row = df[(df["family"] == "ihdp") & (df["estimator"] == "diffusion-teacher")].iloc[0]
    assert row["median_task_s"] == 7.0  # median of 7, 7 and 3 (a task without draws counts 0 for them)
    assert row["full_cpu_s"] == 7.0 * 100
