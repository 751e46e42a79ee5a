"""Config parsing, task keys, the store and the runner's resume / failure behaviour."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from catebench.benchmark.config import EstimatorSpec, config_from_dict, load_config
from catebench.benchmark.runner import run
from catebench.benchmark.store import Store, StoreLocked
from catebench.benchmark.tasks import plan_tasks

ROOT = Path(__file__).resolve().parents[1]


def _config(tmp_path, estimators=("t-learner-linear", "s-learner-linear"), reps=2, **kw):
    raw = {
        "name": "t",
        "store": str(tmp_path / "store.sqlite"),
        "executor": "inline",
        "datasets": [{"name": "ihdp", "replications": reps}],
        "estimators": [{"name": e} for e in estimators],
        **kw,
    }
    return config_from_dict(raw)




def test_config_errors_name_the_bad_value(tmp_path):
    with pytest.raises(ValueError, match="unknown key"):
        config_from_dict({"datasets": [], "estimators": [], "sed": 1})
    with pytest.raises(ValueError, match="replications"):
        config_from_dict({"datasets": [{"name": "ihdp", "replications": 0}], "estimators": [{"name": "x"}]})
    with pytest.raises(ValueError, match="split protocol"):
        config_from_dict({"datasets": [{"name": "ihdp", "split": "50/50"}], "estimators": [{"name": "x"}]})
    with pytest.raises(ValueError, match="unknown estimator 'nope'"):
        plan_tasks(_config(tmp_path, estimators=("nope",)))
    with pytest.raises(ValueError, match="bad parameters"):
        plan_tasks(dataclasses.replace(_config(tmp_path), estimators=[EstimatorSpec("t-learner", {"kindd": 1})]))
    with pytest.raises(FileNotFoundError, match="built-in configs"):
        load_config("no-such-config")


def test_builtin_configs_parse():
    for p in (ROOT / "benchmark" / "configs").glob("*.toml"):
        load_config(p)


def test_task_keys_do_not_depend_on_config_order(tmp_path):
    a = _config(tmp_path, estimators=("t-learner-linear", "s-learner-linear"))
    b = _config(tmp_path, estimators=("s-learner-linear", "t-learner-linear"))
    b = dataclasses.replace(b, datasets=[dataclasses.replace(b.datasets[0], replications=(2, 1))])
    assert sorted(t.key for t in plan_tasks(a)) == sorted(t.key for t in plan_tasks(b))
    c = _config(tmp_path, seed=1)
    assert not {t.key for t in plan_tasks(a)} & {t.key for t in plan_tasks(c)}


def test_validation_fraction_follows_split(tmp_path):
    """The ``uses_validation`` tag is the contract: a tagged estimator gets the split's validation share
    through ``validation_fraction``; an untagged one is never given it; a tagged one without it is refused."""
    from catebench.estimators.base import CATEEstimator, Tags

    class WithVal(CATEEstimator):
        _tags = Tags(uses_validation=True)

        def __init__(self, validation_fraction=0.5, random_state=None):
            self.validation_fraction = validation_fraction
            self.random_state = random_state

    class Untagged(WithVal):
        _tags = Tags()

    class TaggedWithoutParam(CATEEstimator):
        _tags = Tags(uses_validation=True)

        def __init__(self, random_state=None):
            self.random_state = random_state

    from catebench.benchmark.registry import ESTIMATORS

    for name, cls in (("_with_val", WithVal), ("_untagged", Untagged), ("_no_param", TaggedWithoutParam)):
        ESTIMATORS.register(name, cls)
    try:
        (task,) = plan_tasks(_config(tmp_path, estimators=("_with_val",), reps=1))
        assert task.estimator_params["validation_fraction"] == 0.30  # 27/90 of the 63/27/10 protocol
        (task,) = plan_tasks(_config(tmp_path, estimators=("_untagged",), reps=1))
        assert task.estimator_params["validation_fraction"] == 0.5
        with pytest.raises(ValueError, match="tagged uses_validation but has no validation_fraction parameter"):
            plan_tasks(_config(tmp_path, estimators=("_no_param",), reps=1))
    finally:
        for name in ("_with_val", "_untagged", "_no_param"):
            ESTIMATORS.unregister(name)


def test_run_resume_and_identical_results(tmp_path):
    cfg = _config(tmp_path)
    s1 = run(cfg, progress=False)
    assert (s1.ok, s1.failed, s1.skipped) == (4, 0, 0)
    s2 = run(cfg, progress=False)
    assert (s2.ok, s2.skipped) == (0, 4)
    store = Store(cfg.store)
    df = store.results()
    assert len(df) == 4 and df["key"].is_unique and (df["status"] == "ok").all()
    # a fresh run in another store gives identical numbers and predictions
    cfg2 = dataclasses.replace(cfg, store=str(tmp_path / "other.sqlite"))
    run(cfg2, progress=False)
    df2 = Store(cfg2.store).results()
    cols = ["key", "pehe_out", "pehe_in", "ate_out", "rmse_mu0_out"]
    assert df[cols].equals(df2[cols])
    k = df["key"].iloc[0]
    p1, p2 = store.predictions(k), Store(cfg2.store).predictions(k)
    np.testing.assert_array_equal(p1["mu1_hat"], p2["mu1_hat"])


def test_metrics_can_be_recomputed_from_stored_predictions(tmp_path):
    from catebench.benchmark.metrics import score
    from catebench.datasets.ihdp import IHDP

    cfg = _config(tmp_path, estimators=("t-learner-linear",), reps=1)
    run(cfg, progress=False)
    store = Store(cfg.store)
    row = store.results().iloc[0]
    p = store.predictions(row["key"])
    data = IHDP().load(1)
    again = score(data.mu0, data.mu1, p["mu0_hat"], p["mu1_hat"], p["fit_idx"], p["test_idx"])
    assert again["pehe_out"] == pytest.approx(row["pehe_out"], rel=1e-12)
    assert len(p["test_idx"]) == round(0.1 * 747) and not set(p["fit_idx"]) & set(p["test_idx"])


def _failing_module(tmp_path) -> str:
    mod = tmp_path / "failing_est.py"
    mod.write_text(textwrap.dedent('''
        import numpy as np
        from catebench.estimators.base import CATEEstimator

        class Boom(CATEEstimator):
            def __init__(self, random_state=None):
                self.random_state = random_state
            def _fit(self, X, t, y):
                raise RuntimeError("boom: deliberate failure")
    '''))
    sys.path.insert(0, str(tmp_path))
    return "failing_est:Boom"


def test_crashing_estimator_is_a_failure_row_and_run_goes_on(tmp_path):
    target = _failing_module(tmp_path)
    try:
        cfg = _config(tmp_path, estimators=("t-learner-linear", target))
        s = run(cfg, progress=False)
        assert (s.ok, s.failed) == (2, 2)
        df = Store(cfg.store).results()
        failed = df[df["status"] == "failed"]
        assert len(failed) == 2 and failed["error"].str.contains("boom: deliberate failure").all()
        # failed tasks are not rerun unless asked
        assert run(cfg, progress=False).skipped == 4
        s3 = run(cfg, progress=False, retry_failed=True)
        assert s3.failed == 2 and len(Store(cfg.store)) == 4  # replaced, not duplicated
    finally:
        sys.path.remove(str(tmp_path))


def test_second_run_on_same_store_is_refused(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    with store.exclusive():
        with pytest.raises(StoreLocked, match="in use by another run"):
            with Store(tmp_path / "s.sqlite").exclusive():
                pass


def test_cli_smoke_and_report(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [sys.executable, "-m", "catebench.benchmark", "run", "smoke", "--store", str(tmp_path / "s.sqlite"), "--executor",
         "inline", "--no-progress", "--report", "--out", str(tmp_path / "res")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    md = (tmp_path / "res" / "leaderboard.md").read_text()
    assert "t-learner-linear" in md and "s-learner-linear" in md
    bad = subprocess.run([sys.executable, "-m", "catebench.benchmark", "run", "nope.toml"], capture_output=True, text=True)
    assert bad.returncode == 2 and "not found" in bad.stderr


def _fake_plugin(tmp_path: Path, broken: bool = False) -> Path:
    """A distribution on sys.path that declares a catebench.estimators entry point (what pip install makes)."""
    site = tmp_path / "site"
    pkg = site / "toy_plugin"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent('''
        from sklearn.linear_model import Ridge
        from catebench.estimators.base import CATEEstimator

        class RidgeT(CATEEstimator):
            """Ridge T-learner from a third-party package."""
            def __init__(self, alpha=1.0, random_state=None):
                self.alpha = alpha
                self.random_state = random_state
            def _fit(self, X, t, y):
                self.m_ = [Ridge(alpha=self.alpha).fit(X[t == a], y[t == a]) for a in (0, 1)]
            def _predict(self, X):
                return self.m_[0].predict(X), self.m_[1].predict(X)
    '''))
    dist = site / "toy_plugin-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-plugin\nVersion: 1.2.3\n")
    eps = "[catebench.estimators]\nridge-t = toy_plugin:RidgeT\n"
    if broken:
        eps += "broken-one = toy_plugin:DoesNotExist\n"
    (dist / "entry_points.txt").write_text(eps)
    return site


def test_entry_point_plugin_is_listed_and_runs(tmp_path):
    site = _fake_plugin(tmp_path, broken=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "PYTHONWARNINGS": "ignore"}
    listing = subprocess.run([sys.executable, "-m", "catebench.benchmark", "list"], capture_output=True, text=True, env=env)
    assert listing.returncode == 0, listing.stderr
    assert "ridge-t" in listing.stdout and "plugin toy-plugin 1.2.3" in listing.stdout
    assert "broken-one" in listing.stderr and "failed to load" in listing.stderr  # a warning, not a crash
    out = subprocess.run(
        [sys.executable, "-m", "catebench.benchmark", "run", "smoke", "--estimators", "ridge-t,t-learner-linear", "--store",
         str(tmp_path / "p.sqlite"), "--no-progress"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    # the leaderboard alone: the full report (figures, statistics) is test_cli_smoke_and_report's (kept apart for speed)
    rep = subprocess.run(
        [sys.executable, "-m", "catebench.benchmark", "report", "--store", str(tmp_path / "p.sqlite"), "--leaderboard-only",
         "--out", str(tmp_path / "r")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert rep.returncode == 0, rep.stderr
    assert "| ridge-t | 2 | 0 |" in (tmp_path / "r" / "leaderboard.md").read_text()


def test_ihdp_parameters_and_replications_are_checked():
    from catebench.datasets.ihdp import IHDP

    with pytest.raises(ValueError, match="noise_sd"):
        IHDP(noise_sd=-1.0).load(1)
    with pytest.raises(ValueError, match="numbered from 1"):
        IHDP().load(0)
    a, b = IHDP().load(7), IHDP().load(7)
    np.testing.assert_array_equal(a.y, b.y)  # replication r is the same draw every time
    assert not np.array_equal(a.mu0, IHDP().load(8).mu0)
    assert a.X.shape == (747, 25) and int(a.t.sum()) == 139
    att = np.mean((a.mu1 - a.mu0)[a.t == 1])
    assert att == pytest.approx(4.0)  # NPCI setting A: effect on the treated averages 4


@pytest.mark.parametrize(
    "flag, words", [("--replications=0", "at least 1"), ("--n-jobs=0", "n_jobs"), ("--task-timeout=0", "task_timeout")]
)
def test_cli_rejects_zero_counts_instead_of_ignoring_them(flag, words, capsys):
    from catebench.benchmark.cli import main

    assert main(["run", "smoke", flag, "--store", "/nonexistent/never-written.sqlite"]) == 2
    assert words in capsys.readouterr().err


# ---- plugins and the commands that meet them -------------------------------------------------------------------
_TOY = '''
from sklearn.linear_model import Ridge
from catebench.estimators.base import CATEEstimator

class RidgeT(CATEEstimator):
    """Ridge T-learner from a third-party package."""
    def __init__(self, alpha=1.0, random_state=None):
        self.alpha = alpha
        self.random_state = random_state
    def _fit(self, X, t, y):
        self.m_ = [Ridge(alpha=self.alpha).fit(X[t == a], y[t == a]) for a in (0, 1)]
    def _predict(self, X):
        return self.m_[0].predict(X), self.m_[1].predict(X)
'''


@pytest.fixture
def small_registry(tmp_path, monkeypatch):
    """A registry of two built-ins, one working plugin (``ridge-t``, class ``edges_toy:RidgeT``) and one plugin
    whose module fails on import (``broken-import``), installed as the registry catebench uses."""
    from importlib.metadata import EntryPoint

    from catebench.benchmark import registry, tasks

    (tmp_path / "edges_toy.py").write_text(_TOY)
    (tmp_path / "edges_broken.py").write_text('import nosuch_dependency_of_a_plugin\n\nclass Est:\n    """Broken."""\n')
    (tmp_path / "edges_builtins.py").write_text(
        "from catebench.estimators import BUILTIN as _ALL\n"
        "BUILTIN = {k: _ALL[k] for k in ('t-learner-linear', 's-learner-linear')}\n")  # fmt: skip
    monkeypatch.syspath_prepend(str(tmp_path))
    eps = [EntryPoint(name="ridge-t", value="edges_toy:RidgeT", group="catebench.estimators"),
           EntryPoint(name="broken-import", value="edges_broken:Est", group="catebench.estimators")]  # fmt: skip
    monkeypatch.setattr(registry, "entry_points", lambda group: eps if group == "catebench.estimators" else [])
    reg = registry.Registry("estimator", "catebench.estimators", "edges_builtins")
    monkeypatch.setattr(registry, "ESTIMATORS", reg)
    monkeypatch.setattr(tasks, "ESTIMATORS", reg)
    return reg


def _star_config(tmp_path) -> Path:
    p = tmp_path / "star.toml"
    p.write_text('name = "star"\nexecutor = "inline"\n[[datasets]]\nname = "ihdp"\nreplications = 1\n'
                 '[[estimators]]\nname = "*"\n')  # fmt: skip
    return p


def test_plugin_broken_at_import_is_warned_by_list_and_left_out_of_the_board(tmp_path, capsys, small_registry):
    from catebench.benchmark.cli import main

    assert main(["list"]) == 0
    out, err = capsys.readouterr()
    assert "broken-import" in out and "FAILED TO LOAD" in out and "ridge-t" in out
    assert "plugin 'broken-import'" in err and "No module named 'nosuch_dependency_of_a_plugin'" in err
    store = tmp_path / "s.sqlite"
    assert main(["run", str(_star_config(tmp_path)), "--store", str(store), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert 'name = "*" includes 1 installed plugin estimator(s): ridge-t' in err
    df = Store(store, readonly=True).results()
    assert sorted(df["estimator"]) == ["ridge-t", "s-learner-linear", "t-learner-linear"]
    assert main(["run", str(_star_config(tmp_path)), "--store", str(store), "--no-progress", "--estimators",
                 "broken-import"]) == 2  # fmt: skip
    assert "'broken-import' is an installed plugin that failed to load" in capsys.readouterr().err


def test_a_registered_class_named_as_module_class_is_the_same_configuration(tmp_path, capsys, small_registry):
    from catebench.benchmark.cli import main

    store = tmp_path / "s.sqlite"
    base = ["run", str(_star_config(tmp_path)), "--store", str(store), "--no-progress"]
    assert main([*base, "--estimators", "ridge-t,edges_toy:RidgeT"]) == 0
    assert "1 tasks planned" in capsys.readouterr().out
    assert main([*base, "--estimators", "edges_toy:RidgeT"]) == 0
    assert "1 tasks planned, 1 already in the store" in capsys.readouterr().out
    df = Store(store, readonly=True).results()
    assert list(df["estimator"]) == ["ridge-t"]
    # with other parameters it is another configuration, under its own label
    cfg = config_from_dict({"name": "x", "executor": "inline", "store": str(store),
                            "datasets": [{"name": "ihdp", "replications": 1}],
                            "estimators": [{"name": "edges_toy:RidgeT", "params": {"alpha": 5.0}}]})  # fmt: skip
    assert [t.estimator for t in plan_tasks(cfg)] == ["edges_toy:RidgeT"]


# ---- remaining time ------------------------------------------------------------------------------------------
def _board_schedule(reps=10, slow=("iwdd-a", "iwdd-b")):
    """The default board's shape: 20 fast estimators (1 s) and 2 slow ones (60 s) adjacent in plan order, every
    task 0.5 s of overhead outside the estimator; (task, cost) in plan order."""
    from types import SimpleNamespace

    labels = sorted([f"fast-{i:02d}" for i in range(20)] + list(slow))
    return [(SimpleNamespace(key=f"{r}-{lab}", estimator=lab, dataset="ihdp"), 60.0 if lab in slow else 1.0)
            for r in range(reps) for lab in labels]  # fmt: skip


def _simulate(known):
    """Run the schedule on one worker; returns (true remaining, estimated, rate-based) after each task."""
    from catebench.benchmark.runner import RemainingTime
    from catebench.benchmark.store import TaskResult

    schedule = _board_schedule()
    eta = RemainingTime([t for t, _ in schedule], known, n_workers=1)
    walls = [c + 0.5 for _, c in schedule]
    out, elapsed = [], 0.0
    for i, (task, cost) in enumerate(schedule):
        elapsed += walls[i]
        eta.done(task, TaskResult(key=task.key, status="ok", fit_seconds=cost * 0.9, predict_seconds=cost * 0.1))
        out.append((sum(walls[i + 1 :]), eta.remaining(elapsed), elapsed / (i + 1) * (len(schedule) - i - 1)))
    return out


def test_remaining_time_is_right_once_each_estimator_was_seen_where_the_rate_swings():
    points = _simulate(known={})
    n_labels = 22
    for true, est, _ in points[n_labels:]:
        assert est == pytest.approx(true, rel=1e-9, abs=1e-6)
    worst_rate = max(abs(rate - true) / true for true, _, rate in points[n_labels:-1])
    assert worst_rate > 0.3  # what the rate so far said at some point of the same run
    # within the first replication an unseen estimator costs the mean of those seen: finite, never "2 h" at 1 %
    assert all(est is not None and est > 0 for _, est, _ in points[:n_labels])


def test_remaining_time_uses_the_costs_the_store_holds_from_the_first_task():
    known = {(lab, "ihdp"): cost for (t, cost) in _board_schedule(reps=1) for lab in [t.estimator]}
    for true, est, _ in _simulate(known):
        assert est == pytest.approx(true, rel=1e-9, abs=1e-6)


def test_progress_bar_shows_the_remaining_time(tmp_path, capsys):
    cfg = _config(tmp_path, estimators=("t-learner-linear",), reps=2)
    run(cfg, progress=True)
    err = capsys.readouterr().err
    assert "2/2" in err and "eta 00:00" in err


def test_teacher_cache_shares_the_teacher_across_labels_with_identical_results(tmp_path):
    """``run(..., teacher_cache=DIR)``: the IWDD-family tasks of one replication train one teacher; every metric
    equals that of a run without sharing, and the tasks that loaded it say so."""
    import pandas as pd

    from catebench.benchmark.config import DatasetSpec, RunConfig
    from catebench.estimators.iwdd import IWDD
    from catebench.estimators.iwdd.teacher_cache import ENV

    small = IWDD.test_params()
    specs = [EstimatorSpec("iwdd-rand", small, label="rand"), EstimatorSpec("iwdd-kl", small, label="kl")]
    stores = {}
    for name, cache in (("plain", None), ("shared", tmp_path / "teachers")):
        cfg = RunConfig(name="t", seed=0, executor="inline", store=str(tmp_path / f"{name}.sqlite"),
                        datasets=[DatasetSpec("synthetic", (1,), "63/27/10", {"n": 200})],
                        estimators=specs).validate()  # fmt: skip
        s = run(cfg, progress=False, teacher_cache=cache)
        assert (s.ok, s.failed) == (2, 0)
        stores[name] = Store(cfg.store).results().set_index("estimator").sort_index()
    assert ENV not in os.environ  # restored after the run
    plain, shared = stores["plain"], stores["shared"]
    metrics = [c for c in plain.columns if c.startswith(("pehe", "ate", "crps", "w1"))]
    assert len(metrics) >= 4
    pd.testing.assert_frame_equal(plain[metrics], shared[metrics])
    assert sorted(shared["diag_teacher_from_cache"].fillna(0)) == [0.0, 1.0]  # one trained it, the other loaded it
    assert "diag_teacher_from_cache" not in plain or plain["diag_teacher_from_cache"].isna().all()
    assert len(list((tmp_path / "teachers").glob("*.pt"))) == 1
