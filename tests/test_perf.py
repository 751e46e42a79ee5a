"""The quick commands stay quick (no heavy imports), and the perf study's pieces work on tiny inputs.

No timing assertions here (machines vary up to 3x day to day): what is checked is *what gets imported*, which is
what makes ``catebench --help`` and ``catebench list`` slow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "econml", "causalml", "causallib", "xgboost", "lightgbm", "dask", "distributed")


def _imported_after(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; return which of HEAVY (and a few others) it imported."""
    probe = textwrap.dedent(f"""
        import contextlib, io, json, sys
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            try:
                {code}
            except SystemExit:
                pass
        mods = {list(HEAVY) + ["numpy", "sklearn", "toy_lazy_plugin"]!r}
        print(json.dumps({{"imported": sorted(m for m in mods if m in sys.modules), "stdout": out.getvalue()}}))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("argv", [["--help"], ["list"], ["datasets"]], ids=lambda a: a[0])
def test_quick_commands_import_no_torch_econml_or_causalml(argv):
    got = _imported_after(f"from catebench.benchmark.cli import main; main({argv!r})")
    heavy = [m for m in got["imported"] if m in HEAVY]
    assert heavy == [], f"catebench {' '.join(argv)} imported {heavy}"
    if argv == ["list"]:
        assert "tarnet" in got["stdout"] and "ihdp" in got["stdout"]
        # listing reads the BUILTIN tables only: not even numpy / scikit-learn
        assert "numpy" not in got["imported"] and "sklearn" not in got["imported"], got["imported"]


def test_package_names_still_resolve_lazily():
    import catebench.datasets
    import catebench.estimators

    from catebench.estimators.base import CATEEstimator

    assert catebench.estimators.CATEEstimator is CATEEstimator
    assert catebench.datasets.get_split("90/10").name == "90/10"
    with pytest.raises(AttributeError, match="no_such_name"):
        catebench.estimators.no_such_name  # noqa: B018


def _lazy_plugin(tmp_path: Path) -> Path:
    """An installed-looking distribution whose module records being imported (a file) when it is."""
    site = tmp_path / "site"
    pkg = site / "toy_lazy_plugin"
    pkg.mkdir(parents=True)
    marker = tmp_path / "imported.txt"
    (pkg / "__init__.py").write_text("")
    (pkg / "impl.py").write_text(textwrap.dedent(f'''
        from pathlib import Path
        Path({str(marker)!r}).write_text("imported")
        from sklearn.linear_model import Ridge
        from catebench.estimators.base import CATEEstimator

        class LazyRidgeT(CATEEstimator):
            """Ridge T-learner whose module is imported only on use."""
            def __init__(self, alpha=1.0, random_state=None):
                self.alpha = alpha
                self.random_state = random_state
            def _fit(self, X, t, y):
                self.m_ = [Ridge(alpha=self.alpha).fit(X[t == a], y[t == a]) for a in (0, 1)]
            def _predict(self, X):
                return self.m_[0].predict(X), self.m_[1].predict(X)

        def not_a_class():
            return None
    '''))
    dist = site / "toy_lazy_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-lazy-plugin\nVersion: 0.1\nSummary: meta\n")
    (dist / "entry_points.txt").write_text(
        "[catebench.estimators]\nlazy-ridge = toy_lazy_plugin.impl:LazyRidgeT\n"
        "lazy-missing = toy_lazy_plugin.impl:Nope\nlazy-nomodule = toy_lazy_plugin.absent:X\n"
        "lazy-function = toy_lazy_plugin.impl:not_a_class\n"
    )
    return site


def test_list_checks_that_plugins_load_and_registry_imports_on_use(tmp_path):
    """``catebench list`` imports installed plugins to check that they load (a plugin whose import fails is named);
    the registry itself imports a plugin only on use."""
    site = _lazy_plugin(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "PYTHONWARNINGS": "ignore"}
    listing = subprocess.run([sys.executable, "-m", "catebench.benchmark", "list"], capture_output=True, text=True, env=env,
                             cwd=tmp_path, timeout=120)
    assert listing.returncode == 0, listing.stderr
    line = next(ln for ln in listing.stdout.splitlines() if "lazy-ridge" in ln)
    assert "Ridge T-learner whose module is imported only on use." in line and "plugin toy-lazy-plugin 0.1" in line
    # broken entries are still named, with why, though nothing was imported
    assert "lazy-missing" in listing.stderr and "has no attribute 'Nope'" in listing.stderr
    assert "lazy-nomodule" in listing.stderr and "toy_lazy_plugin.absent" in listing.stderr
    (tmp_path / "imported.txt").unlink(missing_ok=True)
    # a function is not caught statically; it is refused on use, with a message naming it
    code = textwrap.dedent("""
        from catebench.benchmark.registry import ESTIMATORS
        import numpy as np
        try:
            ESTIMATORS.create("lazy-function")
        except ValueError as exc:
            print("REFUSED", exc)
        rng = np.random.default_rng(0)
        X = rng.normal(size=(40, 3)); t = (np.arange(40) % 2).astype(float); y = X[:, 0] + t
        est = ESTIMATORS.create("lazy-ridge").fit(X, t, y)
        print("FITTED", est.effect(X).shape)
    """)
    used = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)
    assert used.returncode == 0, used.stderr
    assert "REFUSED" in used.stdout and "not a class" in used.stdout and "lazy-function" in used.stdout
    assert "FITTED (40,)" in used.stdout
    assert (tmp_path / "imported.txt").exists()


# ---- the perf study's pieces (studies/perf.py) ------------------------------------------------------
def test_fit_exponent_recovers_a_power_law():
    from studies.perf import fit_exponent

    n = np.array([1000, 4000, 16000])
    assert fit_exponent(n, 3e-4 * n**1.5) == pytest.approx(1.5)
    assert np.isnan(fit_exponent([1000], [1.0]))


def test_noop_estimator_conforms():
    from studies.perf import NoOp
    from catebench.estimators.checks import iter_checks

    for check in iter_checks(NoOp()):
        check()


@pytest.mark.slow  # starts three interpreters
def test_cost_curves_measure_cache_and_stop_at_the_cap(tmp_path):
    import pandas as pd

    from studies.perf import cost_curves, exponents

    csv = tmp_path / "cost.csv"
    kw = dict(n_sizes=[200, 400], d_sizes=[3], n_for_d=200, d_for_n=4, cap=60.0, wall_cap=3.0, csv_path=csv)
    df = cost_curves(["t-learner-linear", "tests.fault_estimators:Hang"], **kw)
    lin = df[df.estimator == "t-learner-linear"]
    assert set(zip(lin.sweep, lin.n, lin.d)) == {("n", 200, 4), ("n", 400, 4), ("d", 200, 3)}
    assert (lin.status == "ok").all() and (lin.cpu_s > 0).all() and (lin.peak_rss_mb > 0).all()
    hang = df[df.estimator == "tests.fault_estimators:Hang"]
    # the first point of each sweep runs past the 3 s cap: recorded, and the rest of that sweep is not run
    assert sorted(hang.status) == ["over cap", "over cap"] and set(hang.n) == {200}
    again = cost_curves(["t-learner-linear", "tests.fault_estimators:Hang"], **kw)  # all cached: nothing reruns
    pd.testing.assert_frame_equal(again.reset_index(drop=True), pd.read_csv(csv).reset_index(drop=True),
                                  check_dtype=False)
    assert list(again.measured_utc) == list(df.measured_utc)
    ex = exponents(again).set_index("estimator")
    assert ex.loc["t-learner-linear", "points_n"] == 2 and "over cap" in ex.loc["tests.fault_estimators:Hang", "stopped_n"]


def test_board_split_sums_task_seconds_per_estimator(tmp_path):
    from catebench.benchmark.config import config_from_dict
    from catebench.benchmark.runner import run
    from studies.perf import board_split

    store = str(tmp_path / "b.sqlite")
    cfg = config_from_dict({"name": "b", "seed": 0, "n_jobs": 1, "executor": "inline", "store": store,
                            "datasets": [{"name": "ihdp", "replications": 2}],
                            "estimators": [{"name": "t-learner-linear"}, {"name": "studies.perf:NoOp"}]})
    run(cfg, progress=False)
    b = board_split(store).set_index("estimator")
    assert list(b["tasks"]) == [2, 2] and b["share"].sum() == pytest.approx(1.0)
    assert (b["total_s_sum"] >= b["fit_s_sum"] + b["predict_s_sum"] - 1e-9).all()
    assert b.loc["t-learner-linear", "total_s_sum"] > b.loc["studies.perf:NoOp", "total_s_sum"]


def test_wall_part_ratios_and_summary(tmp_path):
    """The `wall` part's rows give current / old ratios of wall and CPU time, and the wall ratio without the
    distributional-metric sampling the old commit did not do; the summary shows those numbers."""
    import pandas as pd

    from studies.perf import wall_ratios, write_summary

    w = pd.DataFrame([
        {"code": "commit-a", "replications": 10, "estimators": 18, "wall_s": 2000.0, "cpu_s": 1900.0, "sample_s": 0.0,
         "load_avg_1min": 1.0, "load_avg_1min_after": 1.1, "measured_utc": "x", "summary": "old"},
        {"code": "current", "replications": 10, "estimators": 18, "wall_s": 1100.0, "cpu_s": 1140.0, "sample_s": 100.0,
         "load_avg_1min": 1.0, "load_avg_1min_after": 1.1, "measured_utc": "x", "summary": "new"},
    ])  # fmt: skip
    r = wall_ratios(w)
    assert r["wall"] == pytest.approx(0.55) and r["cpu"] == pytest.approx(0.6)
    assert r["sample_s"] == 100.0 and r["wall_without_sampling"] == pytest.approx(0.5)
    assert (r["old_code"], r["estimators"], r["replications"]) == ("commit-a", 18, 10)
    assert wall_ratios(w[w.code == "current"]) is None  # nothing to compare with
    w.to_csv(tmp_path / "board_wall.csv", index=False)
    text = write_summary(tmp_path)
    for number in ("0.550", "0.600", "100.0", "0.500"):
        assert number in text


def test_old_commit_comes_from_the_committed_runs_or_must_be_given():
    from studies.perf import recorded_old_commit

    meta = {"compare": [{"command": "a", "old_commit": "commit-a"}], "wall": [{"command": "b", "old_commit": "commit-b"}]}
    assert recorded_old_commit(meta, ["wall"]) == "commit-b"
    assert recorded_old_commit(meta, ["compare", "wall"]) == "commit-a"
    with pytest.raises(SystemExit, match="--old-commit"):
        recorded_old_commit({"cli": [{"command": "c"}]}, ["wall"])
    committed = json.loads((Path(__file__).resolve().parents[1] / "results" / "perf" / "runs.json").read_text())
    assert recorded_old_commit(committed, ["wall"])  # the committed results record theirs


# ---- the stage profile (studies/stage_profile.py) ---------------------------------------------------------------
def test_stage_profile_splits_an_iwdd_task_into_stages_that_add_up():
    from catebench.benchmark.config import DatasetSpec, EstimatorSpec, RunConfig
    from catebench.benchmark.tasks import plan_tasks
    from catebench.estimators.iwdd import IWDD
    from studies.stage_profile import profile_task

    params = {**IWDD.test_params(), "warm_start_steps": 20}
    cfg = RunConfig(name="s", datasets=[DatasetSpec("ihdp", (1,), "80/20-row-order", {})],
                    estimators=[EstimatorSpec("iwdd-rand", params, label="iwdd-small"),
                                EstimatorSpec("t-learner-linear")]).validate()  # fmt: skip
    by = {}
    for task in plan_tasks(cfg):
        rows, diag = profile_task(task)
        by[task.estimator] = ({r["stage"]: r["seconds"] for r in rows}, diag)
    stages, diag = by["iwdd-small"]
    parts = [k for k in stages if k not in ("task_total", "prediction_of_which_heun")]
    assert {"teacher_fit", "teacher_refit", "teacher_es_checks", "warm_start", "sid_steps", "w1_checks",
            "point_prediction", "dist_sampling", "other"} <= set(parts)
    assert all(stages[k] >= 0 for k in parts)
    assert sum(stages[k] for k in parts) == pytest.approx(stages["task_total"], abs=0.01)
    assert stages["teacher_fit"] > 0 and stages["warm_start"] > 0 and stages["sid_steps"] > 0
    assert diag["warm_start_steps"] == 20 and diag["distill_steps"] > 0
    plain, _ = by["t-learner-linear"]
    assert {"fit", "point_prediction", "other"} <= set(plain) and "teacher_fit" not in plain


# ---- the reviewers' questions (studies/reviewer_questions.py), with cheap estimators ----------------------------
def test_reviewer_questions_study_measures_both_sweeps_and_the_rare_arm_units(tmp_path, monkeypatch):
    import pandas as pd

    import studies.reviewer_questions as rq

    monkeypatch.setattr(rq, "ESTIMATORS", ("x-learner", "t-learner-linear"))
    monkeypatch.setattr(rq, "OVERLAP", (0.5, 1.5, 4.0))
    monkeypatch.setattr(rq, "DIMENSIONS", (5, 10))
    monkeypatch.setattr(rq, "BASE", {**rq.BASE, "n": 300})
    out = tmp_path / "out"
    assert rq.main(["--out", str(out), "--replications", "2", "--cache", str(tmp_path / "cache")]) == 0
    df = pd.read_csv(out / "tasks.csv")
    assert len(df) == 4 * 2 * 2 and (df["status"] == "ok").all()  # 4 cells (d = 10 shared) x 2 reps x 2
    assert set(df["imbalance"]) == {0.5, 1.5, 4.0} and set(df["d"]) == {5, 10}
    weak, strong = (df[df["imbalance"] == a] for a in (4.0, 0.5))
    assert weak["n_rare"].min() > 0 and (strong["n_rare"] == 0).all()  # sharper propensity: more rare-arm units
    assert weak["pehe_rare"].notna().all() and strong["pehe_rare"].isna().all()
    assert sorted(p.name for p in out.glob("*.png")) == ["pehe_out_by_d.png", "pehe_out_by_imbalance.png",
                                                          "pehe_rare_by_imbalance.png"]


def test_relative_summaries_drop_machine_paths_and_keep_every_number(tmp_path):
    """Rows written before the cache's paths were made relative named the machine's absolute paths in their
    ``summary`` text; the rewrite makes them relative to the clone and leaves every other cell byte for byte."""
    from studies.perf import relative_summaries

    (tmp_path / "compare_runs.csv").write_text(
        "replication,code,wall_s,cpu_s,summary\n"
        '1,oldcommit,252.93,248.75,"18 ran ok; store: /srv/x/main/.catebench/perf/compare-old-r10.sqlite"\n'
        "2,current,139.060,135.12,18 ran ok; store: .catebench/perf/compare-current-r10.sqlite\n")
    (tmp_path / "board_wall.csv").write_text(
        "code,wall_s,summary\n"
        'current,1203.65,"store: /a/b/.catebench/perf/w.sqlite / wrote 14 report files to /a/b/.catebench/perf/r '
        '(open /a/b/.catebench/perf/r/report.html)"\n')
    assert relative_summaries(tmp_path) == ["compare_runs.csv", "board_wall.csv"]
    runs = (tmp_path / "compare_runs.csv").read_text()
    assert "/srv/" not in runs and "store: .catebench/perf/compare-old-r10.sqlite" in runs
    assert "139.060" in runs and "252.93,248.75" in runs  # numbers as written
    wall = (tmp_path / "board_wall.csv").read_text()
    assert "/a/b" not in wall and "(open .catebench/perf/r/report.html)" in wall
    assert relative_summaries(tmp_path) == []  # nothing left to rewrite


def test_protocol_cost_pairs_methods_and_sums_each_comparison(tmp_path):
    import pandas as pd

    from studies import protocol_cost as pc

    pairs = pc.method_pairs(["iwdd-rand", "iwdd-kl", "tarnet", "gone"], ["iwdd-rand", "iwdd-rand-ws", "iwdd-kl",
                                                                        "tarnet", "new"])
    assert pairs == {"iwdd-rand": "iwdd-rand-ws", "iwdd-kl": "iwdd-kl", "tarnet": "tarnet"}
    out = tmp_path / "protocol"
    out.mkdir()
    rows = []
    for s in (1, 2):
        rows += [("old1", s, "iwdd-rand", "ok", 20.0), ("old1", s, "tarnet", "ok", 5.0),
                 ("current", s, "iwdd-rand", "ok", 4.0), ("current", s, "iwdd-rand-ws", "ok", 10.0),
                 ("current", s, "tarnet", "ok", 5.0), ("current", s, "release", "ok", 35.0)]
    pd.DataFrame(rows, columns=["code", "setting", "estimator", "status", "task_s"]).to_csv(out / "tasks.csv",
                                                                                            index=False)
    pd.DataFrame([{"setting": s, "code": c, "wall_s": w, "cpu_s": w, "load_avg_1min": 1.0,
                   "load_avg_1min_after": 1.0, "measured_utc": "x"} for s in (1, 2)
                  for c, w in (("old1", 30.0), ("current", 60.0))]).to_csv(out / "runs.csv", index=False)
    text = pc.summary("old1", out)
    assert "| the whole protocol of each code | 2 -> 4 | 25 | 54 | **2.16x** (2.16-2.16) |" in text
    assert "| the labels both register, by name | 2 | 25 | 9 | **0.36x**" in text
    assert "| the same methods (old `iwdd-X` = current `iwdd-X-ws`) | 2 | 25 | 15 | **0.60x**" in text
    assert "| process wall time" in text and "| 2.00x (2.00-2.00) |" in text


def test_teacher_sampler_samples_one_fitted_teacher_at_each_step_count_and_judges_the_tolerance():
    import pandas as pd

    from studies import teacher_sampler as ts

    small = {"width": 16, "n_blocks": 1, "teacher_steps": 30, "teacher_patience": 25, "n_predict_samples": 4,
             "device": "cpu"}
    df = ts.measure([101], steps=(6, 3), params=small)
    assert list(df["heun_steps"]) == [6, 3] and df["fit_s"].nunique() == 1  # one fit, two samplings
    assert df["max_change_vs_first"].iloc[0] == 0 and df["max_change_vs_first"].iloc[1] > 0
    assert (df[["predict_cpu_s", "sample_cpu_s"]] > 0).all().all()
    rows = pd.DataFrame({"replication": [101, 101, 102, 102], "heun_steps": [50, 25, 50, 25], "fit_s": 1.0,
                         "pehe_out": [1.0, 1.005, 2.0, 2.03], "pehe_in": 1.0, "crps_out": 1.0, "cov90_out": 0.9,
                         "max_change_vs_first": [0.0, 0.1, 0.0, 0.1], "predict_cpu_s": [2.0, 1.0, 2.0, 1.0],
                         "sample_cpu_s": [2.0, 1.0, 2.0, 1.0]})
    table = [line for line in ts.summarize(rows, "cmd").splitlines() if line.startswith("| 25 |")]
    assert table == ["| 25 | 49 | 1.5175 | 1.50% | 0.00% | 0.900 | 0.100 | 2.00 | 0.50 | no |"]


def test_sampler_chunk_sweep_reports_medians_against_the_whole_batch_and_flags_differing_draws():
    import pandas as pd

    from studies import sampler_chunks as sc

    def rows(label, procs, chunk, seconds, sha="a"):
        return [{"label": label, "processes": procs, "process": 0, "chunk": chunk, "repeat": r, "seconds": s,
                 "draws_sha256": sha, "load_before": 0.5} for r, s in enumerate(seconds)]

    df = pd.DataFrame(rows("teacher", 1, 512, [3.0, 1.0, 2.0]) + rows("teacher", 1, 0, [4.0, 4.0, 5.0])
                      + rows("diffpo", 1, 512, [2.0]) + rows("diffpo", 1, 0, [1.0], sha="b"))
    text = sc.summarize(df, "cmd", units=4, draws=2, current=512)
    assert "| teacher | 1 | 2.00 s (0.50x) | 4.00 s (1.00x) | 512 rows |" in text
    assert "| diffpo | 1 | 2.00 s (2.00x) | 1.00 s (1.00x) | whole batch |" in text
    assert "diffpo: 2 different results (a defect)" in text and "teacher: the same bytes" in text
    with pytest.raises(SystemExit):
        sc.main(["--sizes", "256,512"])  # no whole batch to compare with
