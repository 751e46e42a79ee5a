"""Faults (issue 7): every injected fault is a recorded row and the run goes on; a SIGKILLed driver resumes to the
same store as an uninterrupted run; a second run on a busy store is refused and the store stays consistent."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from benchmark.config import config_from_dict
from benchmark.runner import run
from benchmark.store import Store, StoreLocked

TESTS = str(Path(__file__).resolve().parent)
ROOT = Path(__file__).resolve().parents[1]

FAULTS = {
    "fault_estimators:Raise": ("failed", "fault injection: Raise._fit"),
    "fault_estimators:Hang": ("timeout", "task_timeout=10"),
    "fault_estimators:NaNOutput": ("failed", "non-finite value(s) in mu0_hat"),
    "fault_estimators:WrongShape": ("failed", "expected (747,)"),
    "fault_estimators:ExitWorker": ("crashed", "exit code 3"),
    "fault_estimators:KillWorker": ("crashed", "exit code -9"),
}


@pytest.fixture
def fault_path():
    sys.path.insert(0, TESTS)
    yield
    sys.path.remove(TESTS)


def _config(tmp_path, executor, estimators, reps=1, **kw):
    raw = {
        "name": "faults", "store": str(tmp_path / f"{executor}.sqlite"), "executor": executor, "n_jobs": 2,
        "datasets": [{"name": "ihdp", "replications": reps}], "estimators": [{"name": e} for e in estimators], **kw,
    }  # fmt: skip
    return config_from_dict(raw)


def _check_fault_rows(store: Store, crash_attempts: int | None, crash_text: str | None = None):
    df = store.results().set_index("estimator")
    assert df.loc["t-learner-linear", "status"] == "ok"
    assert np.isfinite(df.loc["t-learner-linear", "pehe_out"])
    for est, (status, text) in FAULTS.items():
        assert df.loc[est, "status"] == status, (est, df.loc[est, "error"])
        if status == "crashed" and crash_text is not None:
            text = crash_text  # dask reports the death of the worker, not its exit code
        assert text in df.loc[est, "error"], (est, df.loc[est, "error"])
        if status == "crashed" and crash_attempts is not None:
            assert df.loc[est, "attempts"] == crash_attempts
    assert store.statuses().keys() == set(df["key"])


@pytest.mark.slow
def test_fault_injection_local(tmp_path, fault_path):
    cfg = _config(tmp_path, "local", ["t-learner-linear", *FAULTS], task_timeout=10)
    s = run(cfg, progress=False)
    assert (s.planned, s.ok, s.failed, s.timeout, s.crashed) == (7, 1, 6, 1, 2)
    _check_fault_rows(Store(cfg.store), crash_attempts=2)


@pytest.mark.slow
def test_fault_injection_dask(tmp_path, fault_path):
    cfg = _config(tmp_path, "dask", ["t-learner-linear", *FAULTS], task_timeout=10)
    s = run(cfg, progress=False)
    assert (s.planned, s.ok, s.failed, s.timeout, s.crashed) == (7, 1, 6, 1, 2)
    _check_fault_rows(Store(cfg.store), crash_attempts=2, crash_text="KilledWorker: Attempted to run task")


def test_in_task_faults_inline(tmp_path, fault_path):
    """The faults a task catches itself (raise, NaN, wrong shape) need no worker process."""
    ests = ["t-learner-linear", "fault_estimators:Raise", "fault_estimators:NaNOutput", "fault_estimators:WrongShape"]
    cfg = _config(tmp_path, "inline", ests)
    s = run(cfg, progress=False)
    assert (s.ok, s.failed) == (1, 3)
    df = Store(cfg.store).results().set_index("estimator")
    for e in ests[1:]:
        assert df.loc[e, "status"] == "failed" and FAULTS[e][1] in df.loc[e, "error"]


@pytest.mark.slow
def test_sigkill_driver_and_resume_equals_uninterrupted_run(tmp_path):
    from benchmark.studies.kill_resume import CONFIG, N_TASKS, compare_stores, draw_kill_point, run_cli, trial

    config = tmp_path / "kr.toml"
    config.write_text(CONFIG)
    ref = tmp_path / "ref.sqlite"
    full = run_cli(config, ref)
    assert len(Store(ref)) == N_TASKS
    work = tmp_path / "work"
    work.mkdir()
    rng = np.random.default_rng(7)
    points = [(N_TASKS // 2, 0.0)] + [draw_kill_point(rng, N_TASKS, full) for _ in range(2)]
    for rows, delay in points:
        r = trial(config, ref, work, rows, delay)
        assert r["passed"], r
    # the check can fail: a store missing a row or with a changed metric is caught
    con = sqlite3.connect(work / "store.sqlite")
    with con:
        con.execute("DELETE FROM results WHERE key = (SELECT MIN(key) FROM results)")
    con.close()
    assert any("missing 1 task" in p for p in compare_stores(work / "store.sqlite", ref))


def test_second_concurrent_run_is_refused_and_store_stays_consistent(tmp_path, fault_path):
    """Run A (a subprocess) holds the store; run B on the same store is refused; A's rows are intact."""
    store = tmp_path / "busy.sqlite"
    config = tmp_path / "busy.toml"
    config.write_text(
        'name = "busy"\nexecutor = "inline"\n[[datasets]]\nname = "ihdp"\nreplications = 3\n'
        '[[estimators]]\nname = "fault_estimators:Slow"\nparams = {seconds = 1.0}\n'
        '[[estimators]]\nname = "t-learner-linear"\n'
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": os.pathsep.join([TESTS, str(ROOT)])}
    proc = subprocess.Popen([sys.executable, "-m", "benchmark", "run", str(config), "--store", str(store),
                             "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        lock = store.with_name(store.name + ".lock")
        t0 = time.monotonic()
        while not (lock.exists() and lock.read_text().startswith("pid")) and time.monotonic() - t0 < 60:
            time.sleep(0.05)
        cfg = _config(tmp_path, "inline", ["t-learner-linear"], reps=3, store=str(store))
        with pytest.raises(StoreLocked, match="in use by another run"):
            run(cfg, progress=False)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    s = Store(store)
    df = s.results()
    assert len(df) == 6 and df["key"].is_unique and (df["status"] == "ok").all()
    assert s._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    # now that A is done, B runs: its 3 t-learner tasks are already stored
    assert run(cfg, progress=False).skipped == 3
