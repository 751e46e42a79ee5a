"""Fair tuning: selection on validation rows only, equal budgets, seeded, separate labels."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from catebench.benchmark import runner
from catebench.benchmark.config import config_from_dict
from catebench.benchmark.registry import ESTIMATORS, import_object
from catebench.benchmark.store import Store
from catebench.benchmark.tasks import plan_tasks
from catebench.benchmark.tuning import (
    CRITERIA,
    criterion_score,
    draw_candidates,
    estimator_space,
    nn_effect_proxy,
    tune,
    tuning_record,
    validation_rows,
    validation_scores,
)
from catebench.datasets.splits import get_split, split_indices
from catebench.estimators import BUILTIN

SYN = {"name": "synthetic", "replications": 1, "split": "63/27/10", "params": {"n": 160, "d": 4}}


def _config(estimators, tune=3, criterion="factual", **extra):
    raw = {"name": "t", "executor": "inline", "datasets": [SYN], "estimators": estimators, "tune": tune,
           "tune_criterion": criterion, **extra}  # fmt: skip
    return config_from_dict(raw)


def _tuned(tasks):
    return [t for t in tasks if t.tuning_json]


def _small_data(n=120, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    t = (rng.uniform(size=n) < 1 / (1 + np.exp(-X[:, 0]))).astype(float)
    t[:4], t[4:8] = 0.0, 1.0
    mu0 = X[:, 0] + np.sin(X[:, 1])
    y = mu0 + t * (1 + X[:, 2]) + 0.3 * rng.normal(size=n)
    return X, t, y


# ---- the protocol never sees test rows ------------------------------------------------------------------------
@pytest.mark.parametrize("estimator,params", [("t-learner", {}), ("tarnet", {"max_epochs": 4, "patience": 1,
                                                                            "device": "cpu"})])
@pytest.mark.parametrize("criterion", CRITERIA)
def test_poisoned_test_outcomes_do_not_change_selection(monkeypatch, estimator, params, criterion):
    config = _config([{"name": estimator, "params": params}], tune=3, criterion=criterion)
    task = _tuned(plan_tasks(config))[0]
    clean = runner.execute_task(task)
    assert clean.status == "ok", clean.error

    data = runner._load_replication(task.dataset_target, task.dataset_params_json, task.replication)
    fit_idx, test_idx = split_indices(data.n, get_split(task.split), runner._split_seed(task), data.test_mask)
    rng = np.random.default_rng(1)
    garbage = rng.uniform(-1e6, 1e6, size=len(test_idx))
    y = data.y.copy()
    y[test_idx] = garbage  # huge, finite: a leak would change every score
    changes = {"y": y}
    for name in ("y0", "y1"):
        if getattr(data, name) is not None:
            a = getattr(data, name).copy()
            a[test_idx] = garbage
            changes[name] = a
    poisoned = dataclasses.replace(data, **changes)
    monkeypatch.setattr(runner, "_load_replication", lambda *a, **k: poisoned)
    dirty = runner.execute_task(task)
    assert dirty.status == "ok", dirty.error

    rec_clean = json.loads(str(clean.predictions["tuning"]))
    rec_dirty = json.loads(str(dirty.predictions["tuning"]))
    assert rec_dirty["chosen"] == rec_clean["chosen"]
    assert rec_dirty["candidates"] == rec_clean["candidates"]
    assert rec_dirty["scores"] == rec_clean["scores"]  # bit-identical validation scores
    assert rec_clean["n_train"] + rec_clean["n_val"] == len(fit_idx)
    # the refit uses fit rows only, so predictions (and the metrics against the noiseless truth) are unchanged
    np.testing.assert_array_equal(dirty.predictions["mu0_hat"], clean.predictions["mu0_hat"])
    assert dirty.metrics["pehe_out"] == clean.metrics["pehe_out"]


def test_validation_rows_are_a_stratified_partition():
    t = np.array([0.0] * 30 + [1.0] * 10)
    tr, va = validation_rows(t, 0.3, seed=3)
    assert sorted(np.concatenate([tr, va]).tolist()) == list(range(40))
    assert (t[va] == 1).sum() == 3 and (t[va] == 0).sum() == 9
    with pytest.raises(ValueError, match="validation_fraction"):
        validation_rows(t, 0.0, seed=3)


# ---- equal budgets, seeded candidates ------------------------------------------------------------------------
def test_budget_equal_across_estimators():
    budget = 5
    config = _config([{"name": "*"}], tune=budget)
    tasks = _tuned(plan_tasks(config))
    assert {t.estimator.split("@")[0] for t in tasks} == set(ESTIMATORS.names())
    for task in tasks:
        spec = json.loads(task.tuning_json)
        assert spec["budget"] == budget
        cands = draw_candidates(spec["space"], budget, seed=1, defaults=task.estimator_params)
        n_points = int(np.prod([len(v) for v in spec["space"].values()])) if spec["space"] else 0
        if n_points >= budget:  # every estimator with a large enough grid gets exactly the budget
            assert len(cands) == budget, task.estimator
        else:  # no or a tiny grid: the defaults (+ every grid point), documented
            assert len(cands) <= max(n_points + 1, 1), task.estimator
        assert cands[0] == {}  # candidate 0 = the defaults
        assert len({json.dumps(c, sort_keys=True) for c in cands}) == len(cands)  # distinct


def test_candidates_are_seeded_and_distinct_from_defaults():
    space = {"a": [1, 2, 3], "b": ["x", "y"], "c": [0.1, 0.2]}
    one = draw_candidates(space, 6, seed=7, defaults={"a": 2, "b": "x", "c": 0.1})
    assert one == draw_candidates(space, 6, seed=7, defaults={"a": 2, "b": "x", "c": 0.1})
    assert one != draw_candidates(space, 6, seed=8, defaults={"a": 2, "b": "x", "c": 0.1})
    assert {"a": 2, "b": "x", "c": 0.1} not in one
    assert len(draw_candidates(space, 100, seed=7, defaults={"a": 2, "b": "x", "c": 0.1})) == 12  # 1 + 11 points
    assert draw_candidates({}, 8, seed=0) == [{}]


def test_tune_is_deterministic():
    X, t, y = _small_data()
    cls = import_object("catebench.estimators.meta:MetaLearner")
    kw = dict(budget=3, criterion="nn-pehe", validation_fraction=0.3, split_seed=11)
    a = tune(cls, {"kind": "t"}, 5, X, t, y, **kw)
    b = tune(cls, {"kind": "t"}, 5, X, t, y, **kw)
    assert a.record() | {"seconds": 0} == b.record() | {"seconds": 0}
    c = tune(cls, {"kind": "t"}, 6, X, t, y, **kw)
    assert c.candidates != a.candidates


def test_one_fit_scores_every_criterion_as_tuning_by_it_alone():
    X, t, y = _small_data()
    cls = import_object("catebench.estimators.meta:MetaLearner")
    kw = dict(validation_fraction=0.3, split_seed=11)
    one = tune(cls, {"kind": "t"}, 5, X, t, y, budget=4, criterion="factual", **kw)
    scores, errors, n_train, n_val = validation_scores(cls, {"kind": "t"}, 5, X, t, y, one.candidates, CRITERIA, **kw)
    assert errors == [None] * 4 and (n_train, n_val) == (one.n_train, one.n_val)
    for c in CRITERIA:
        alone = tune(cls, {"kind": "t"}, 5, X, t, y, budget=4, criterion=c, **kw)
        assert alone.candidates == one.candidates and scores[c] == alone.scores  # bit for bit
    assert len({tuple(v) for v in scores.values()}) == 3  # three different criteria, not one copied


# ---- labels and keys -----------------------------------------------------------------------------------------
def test_tuned_labels_and_keys_are_separate():
    est = [{"name": "t-learner"}]
    plain = plan_tasks(_config(est, tune=0))
    both = plan_tasks(_config(est, tune=4))
    assert [t.estimator for t in both] == ["t-learner", "t-learner@tuned-factual-4"]
    assert both[0].key == plain[0].key  # default tasks keep their keys
    other_budget = plan_tasks(_config(est, tune=5))
    other_crit = plan_tasks(_config(est, tune=4, criterion="rloss"))
    keys = {both[1].key, other_budget[1].key, other_crit[1].key, both[0].key}
    assert len(keys) == 4
    assert other_crit[1].estimator == "t-learner@tuned-rloss-4"
    multi = plan_tasks(_config(est, tune=2, criterion=["factual", "nn-pehe"]))
    assert [t.estimator for t in multi] == ["t-learner", "t-learner@tuned-factual-2", "t-learner@tuned-nn-pehe-2"]


@pytest.mark.parametrize("bad,match", [({"tune": -1}, "tune must be"), ({"tune": "8"}, "tune must be"),
                                       ({"tune_criterion": "pehe"}, "tune_criterion")])
def test_bad_tuning_config_is_named(bad, match):
    raw = {"name": "t", "datasets": [SYN], "estimators": [{"name": "t-learner"}], **bad}
    with pytest.raises(ValueError, match=match):
        config_from_dict(raw)


# ---- criteria ------------------------------------------------------------------------------------------------
def test_nn_proxy_matches_the_other_arm():
    X = np.array([[0.0], [0.1], [5.0], [5.2]])
    t = np.array([0.0, 1.0, 0.0, 1.0])
    y = np.array([1.0, 3.0, 10.0, 11.0])
    tau = nn_effect_proxy(X, t, y, scale=np.ones(1))
    np.testing.assert_allclose(tau, [2.0, 2.0, 1.0, 1.0])
    mu0, mu1 = np.zeros(4), np.array([2.0, 2.0, 1.0, 1.0])
    assert criterion_score("nn-pehe", mu0, mu1, t, y, tau_nn=tau) == 0.0
    assert criterion_score("factual", mu0, mu1, t, y) == pytest.approx(np.mean([1, 1, 100, 100]))


def test_a_space_naming_an_unknown_parameter_is_an_error():
    class Bad(import_object("catebench.estimators.meta:MetaLearner")):
        @classmethod
        def search_space(cls, params=None):
            return {"no_such_param": [1, 2]}

    with pytest.raises(ValueError, match="no_such_param"):
        estimator_space(Bad, {})


# ---- every built-in estimator can be tuned ---------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_estimator_tunes(name):
    target, params, _ = BUILTIN[name]
    cls = import_object(target)
    fixed = {**params, **cls.test_params()}
    space = estimator_space(cls, fixed)
    X, t, y = _small_data()
    res = tune(cls, fixed, 0, X, t, y, budget=2, criterion="factual", validation_fraction=0.3, split_seed=0,
               space=space)  # fmt: skip
    assert len(res.candidates) == (2 if space else 1)
    assert all(e is None for e in res.errors), res.errors
    assert np.isfinite(res.scores).all()


# ---- CLI end to end, resumable -------------------------------------------------------------------------------
def test_cli_tune_runs_and_resumes(tmp_path, capsys):
    from catebench.benchmark.cli import main

    cfg = tmp_path / "c.toml"
    store = tmp_path / "s.sqlite"
    cfg.write_text(f'name = "c"\nexecutor = "inline"\nstore = "{store}"\n[[datasets]]\nname = "synthetic"\n'
                   'replications = 1\nparams = {n = 160, d = 4}\n[[estimators]]\nname = "t-learner-linear"\n'
                   '[[estimators]]\nname = "s-learner"\n')  # fmt: skip
    assert main(["run", str(cfg), "--tune", "2", "--tune-criterion", "nn-pehe", "--no-progress"]) == 0
    s = Store(store)
    df = s.results()
    assert sorted(df.estimator) == ["s-learner", "s-learner@tuned-nn-pehe-2", "t-learner-linear",
                                    "t-learner-linear@tuned-nn-pehe-2"]  # fmt: skip
    assert (df.status == "ok").all()
    row = df[df.estimator == "s-learner@tuned-nn-pehe-2"].iloc[0]
    rec = tuning_record(s, row.key)
    assert rec["criterion"] == "nn-pehe" and len(rec["candidates"]) == 2 and row.tune_candidates == 2
    assert tuning_record(s, df[df.estimator == "t-learner-linear@tuned-nn-pehe-2"].key.iloc[0])["candidates"] == [{}]
    capsys.readouterr()
    assert main(["run", str(cfg), "--tune", "2", "--tune-criterion", "nn-pehe", "--no-progress"]) == 0
    assert "4 already in the store, 0 ran ok" in capsys.readouterr().out


def test_oracle_refits_every_candidate_and_reproduces_the_stored_rows(tmp_path):
    from studies.tuning_ihdp import CRITERIA_CSV, criteria_section, oracle_section, run_oracle

    store = Store(tmp_path / "s.sqlite")
    runner.run(_config([{"name": "s-learner"}], tune=3, criterion="nn-pehe"), store, progress=False)
    results = store.results()
    label = "s-learner@tuned-nn-pehe-3"
    oracle = run_oracle(results, store.path, tmp_path, [label], n_jobs=1)
    assert sorted(oracle.candidate) == [0, 1, 2] and oracle.chosen.sum() == 1
    stored = results.set_index("estimator").pehe_out
    # the chosen candidate's refit is the stored tuned row, and candidate 0 the defaults' row (same seed, same rows)
    assert oracle[oracle.chosen == 1].pehe_out.iloc[0] == pytest.approx(stored[label], rel=0, abs=1e-12)
    assert oracle[oracle.candidate == 0].pehe_out.iloc[0] == pytest.approx(stored["s-learner"], rel=0, abs=1e-12)
    assert len(run_oracle(results, store.path, tmp_path, [label], n_jobs=1)) == 3  # resumes: nothing refit twice
    with pytest.raises(ValueError, match=r"no finished tuned tasks of \['tarnet@tuned-nn-pehe-3'\]"):
        run_oracle(results, store.path, tmp_path, ["tarnet@tuned-nn-pehe-3"], n_jobs=1)
    md = "\n".join(oracle_section(oracle, results[results.status == "ok"], {}))
    best = oracle.pehe_out.min()
    assert f"| {label} | 1 |" in md and f"{best:.3f} ({best:.3f})" in md and "| 1 of 1 |" in md
    # the same candidates scored by every criterion: the tuning criterion's recomputed scores are the stored ones
    crit = pd.read_csv(tmp_path / CRITERIA_CSV)
    assert sorted(crit.candidate) == [0, 1, 2] and set(CRITERIA) <= set(crit.columns)
    assert np.array_equal(crit.sort_values("candidate")["nn-pehe"], oracle.sort_values("candidate").val_score)
    md = "\n".join(criteria_section(oracle, crit, {}))
    picked = oracle.set_index("candidate").pehe_out[int(np.argmin(crit.sort_values("candidate")["factual"]))]
    assert f"| {label} | factual | 1 | {picked:.3f} ({picked:.3f}) |" in md
    assert f"| {label} | nn-pehe | 1 |" in md and md.count("| 1 of 1 |") == 1
