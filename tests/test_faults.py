"""Faults: every injected fault is a recorded row and the run goes on; a SIGKILLed driver resumes to the
same store as an uninterrupted run; a second run on a busy store is refused and the store stays consistent."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catebench.benchmark.config import config_from_dict
from catebench.benchmark.runner import run
from catebench.benchmark.store import Store, StoreLocked

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
    from studies.kill_resume import CONFIG, N_TASKS, compare_stores, draw_kill_point, run_cli, trial

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
    release = tmp_path / "release"  # run A's first task waits for this file: A surely holds the store meanwhile
    config.write_text(
        'name = "busy"\nexecutor = "inline"\n[[datasets]]\nname = "ihdp"\nreplications = 3\n'
        f'[[estimators]]\nname = "fault_estimators:WaitFor"\nparams = {{path = "{release}"}}\n'
        '[[estimators]]\nname = "t-learner-linear"\n'
    )
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": os.pathsep.join([TESTS, str(ROOT)])}
    proc = subprocess.Popen([sys.executable, "-m", "catebench.benchmark", "run", str(config), "--store", str(store),
                             "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        lock = store.with_name(store.name + ".lock")
        t0 = time.monotonic()
        while not (lock.exists() and lock.read_text().startswith("pid")) and time.monotonic() - t0 < 600:
            time.sleep(0.05)  # a loaded machine can take minutes to start run A
        assert proc.poll() is None, "run A ended before run B could try the store"
        cfg = _config(tmp_path, "inline", ["t-learner-linear"], reps=3, store=str(store))
        with pytest.raises(StoreLocked, match="in use by another run"):
            run(cfg, progress=False)
        release.write_text("go")
        out, err = proc.communicate(timeout=600)
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


# ---- unusable stores, failed validation, missing files, label conflicts --------------------------------------
from catebench.benchmark.cli import main  # noqa: E402


def _toml(tmp_path, name="c.toml", estimators=("t-learner-linear",), reps=1, extra="", dataset='name = "ihdp"'):
    body = f'name = "t"\nexecutor = "inline"\n{extra}\n[[datasets]]\n{dataset}\nreplications = {reps}\n'
    for e in estimators:
        body += f"[[estimators]]\n{e if '=' in e else f'name = {e!r}'}\n"
    p = tmp_path / name
    p.write_text(body.replace("'", '"'))
    return p


def _one_line_error(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    assert err.startswith("catebench "), err
    for w in words:
        assert w in err, (w, err)
    return err


@pytest.mark.parametrize("case", ["not-sqlite", "directory", "parent-is-file"])
@pytest.mark.parametrize("command", ["run", "report"])
def test_unusable_store_is_a_one_line_error_and_is_left_untouched(tmp_path, capsys, case, command):
    """A store that is not SQLite, a directory, or under a regular file: one line, nothing changed."""
    if case == "not-sqlite":
        store = tmp_path / "notes.sqlite"
        store.write_text("these are my notes, not a database\n" * 20)
        words = ("not a catebench store",)
    elif case == "directory":
        store = tmp_path / "adir"
        store.mkdir()
        words = ("is a directory",)
    else:
        (tmp_path / "afile").write_text("x")
        store = tmp_path / "afile" / "store.sqlite"
        words = ("is a file, not a directory",)
    argv = ["run", str(_toml(tmp_path)), "--no-progress"] if command == "run" else ["report", "--leaderboard-only",
                                                                                    "--out", str(tmp_path / "o")]
    before = sorted(p.name for p in tmp_path.iterdir())
    content = store.read_bytes() if store.is_file() else None
    if command == "report" and case == "parent-is-file":
        words = ("no store at",)  # nothing can be there: report says so
    assert main([*argv, "--store", str(store)]) == 2
    _one_line_error(capsys, str(store), *words)
    if content is not None:
        assert store.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no -wal, -shm, .lock or report files


def test_run_end_leaves_a_complete_store_file_and_no_lock(tmp_path):
    """After a run the .sqlite file alone holds every row (WAL checkpointed); the .lock is removed."""
    import shutil

    cfg = config_from_dict({"name": "w", "executor": "inline", "store": str(tmp_path / "s.sqlite"),
                            "datasets": [{"name": "ihdp", "replications": 2}],
                            "estimators": [{"name": "t-learner-linear"}, {"name": "s-learner-linear"}]})  # fmt: skip
    s = run(cfg, progress=False)
    assert s.ok == 4
    assert not (tmp_path / "s.sqlite.lock").exists()
    copy = tmp_path / "copy" / "s.sqlite"
    copy.parent.mkdir()
    shutil.copy(tmp_path / "s.sqlite", copy)  # the file alone, as a user archiving it would
    con = sqlite3.connect(copy)
    assert con.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 4
    assert con.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 4
    con.close()


def test_interrupted_run_checkpoints_and_releases_the_lock(tmp_path):
    """Clean interrupt: Ctrl-C mid-run still leaves the finished rows in the .sqlite file itself."""
    import shutil

    cfg = config_from_dict({"name": "w", "executor": "inline", "store": str(tmp_path / "s.sqlite"),
                            "datasets": [{"name": "ihdp", "replications": 3}],
                            "estimators": [{"name": "t-learner-linear"}]})  # fmt: skip

    def interrupt(task, result):
        if result.status == "ok":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(cfg, progress=False, on_result=interrupt)
    assert not (tmp_path / "s.sqlite.lock").exists()
    shutil.copy(tmp_path / "s.sqlite", tmp_path / "copy.sqlite")
    con = sqlite3.connect(tmp_path / "copy.sqlite")
    assert con.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 1
    con.close()


@pytest.mark.parametrize(
    "estimators, words",
    [
        (("nosuch",), "unknown estimator 'nosuch'"),
        (('name = "t-learner-linear"\nparams = {alpha = 3}',), "bad parameters"),
        (("tests.nosuch_module:Est",), "cannot import module"),
    ],
)
def test_failed_commands_create_no_store(tmp_path, capsys, estimators, words):
    """A run that fails validation creates nothing (no store, no lock, no WAL)."""
    store = tmp_path / "out" / "s.sqlite"
    assert main(["run", str(_toml(tmp_path, estimators=estimators)), "--store", str(store), "--no-progress"]) == 2
    _one_line_error(capsys, words)
    assert not (tmp_path / "out").exists()


def test_estimators_flag_with_unknown_name_creates_no_store(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    assert main(["run", str(_toml(tmp_path)), "--estimators", "nosuch", "--store", str(store), "--no-progress"]) == 2
    _one_line_error(capsys, "unknown estimator 'nosuch'")
    assert not store.exists()


def test_missing_dataset_file_stops_the_run_before_any_task(tmp_path, capsys):
    """A missing data file is one error naming the file, its digest and the directory in full; exit
    code non-zero; no store and no failed tasks."""
    data = tmp_path / "some" / "deep" / "data directory that is long enough to be cut at two hundred characters"
    data.mkdir(parents=True)
    ds = f'name = "twins"\nparams = {{data_dir = "{data}"}}'
    store = tmp_path / "s.sqlite"
    assert main(["run", str(_toml(tmp_path, dataset=ds)), "--store", str(store), "--no-progress"]) == 2
    from catebench.datasets.twins import TWINS_SHA256

    _one_line_error(capsys, "Twin_Data.csv.gz", TWINS_SHA256, str(data / "twins"))
    assert not store.exists()


def test_run_with_a_directory_as_config_is_a_one_line_error(tmp_path, capsys):
    """``catebench run <a directory>`` is a one-line error."""
    assert main(["run", str(tmp_path)]) == 2
    _one_line_error(capsys, "is a directory", str(tmp_path))


def test_one_label_with_two_parameter_sets_is_refused_and_old_stores_are_reported_apart(tmp_path, capsys):
    """A label names one configuration. A run that would put other parameters under a stored label is
    refused naming both (unless --allow-label-conflict); a store that mixes them is reported with them apart."""
    store = tmp_path / "s.sqlite"
    first = _toml(tmp_path, "a.toml", estimators=("t-learner-linear",), reps=2)
    assert main(["run", str(first), "--store", str(store), "--no-progress"]) == 0
    capsys.readouterr()
    other = _toml(tmp_path, "b.toml", reps=2,
                  estimators=('name = "t-learner-linear"\nparams = {propensity_clip = 0.05}',))  # fmt: skip
    assert main(["run", str(other), "--store", str(store), "--no-progress"]) == 2
    err = _one_line_error(capsys, "estimator label 't-learner-linear' on dataset 'ihdp' already names another",
                          '"propensity_clip":0.01', '"propensity_clip":0.05')  # fmt: skip
    assert len(Store(store)) == 2, err
    # asked for explicitly, the run goes on with a warning, and the report shows the two configurations apart
    with pytest.warns(UserWarning, match="already names another configuration"):
        assert main(["run", str(other), "--store", str(store), "--no-progress", "--allow-label-conflict"]) == 0
    assert len(Store(store)) == 4
    capsys.readouterr()
    assert main(["report", "--store", str(store), "--out", str(tmp_path / "rep"), "--leaderboard-only"]) == 0
    err = capsys.readouterr().err
    assert "label 't-learner-linear' on 'ihdp' has 2 configurations; reported apart as 't-learner-linear #2'" in err
    board = pd.read_csv(tmp_path / "rep" / "leaderboard.csv")
    assert {"t-learner-linear", "t-learner-linear #2"} <= set(board["estimator"])


def test_readme_data_file_names_and_digest_claims_match_the_loaders():
    """The README and DATA.md name the Twins file as the loader does (``Twin_Data.csv.gz``), and the README calls an
    IHDP size "sha256-verified" only where a digest of its files is pinned."""
    import re

    from catebench.datasets.ihdp_npz import IHDP_SHA256

    readme = (ROOT / "README.md").read_text()
    data_md = (ROOT / "datasets" / "DATA.md").read_text()
    twins_src = (ROOT / "datasets" / "twins.py").read_text()
    primary = re.search(r'fetch_file\("([^"]+)"', twins_src).group(1)
    assert primary == "Twin_Data.csv.gz"
    for text in (readme, data_md):
        named = set(re.findall(r"`(Twin[^`]*\.csv\.gz)`", text))
        assert named == {primary}, named
    row = next(line for line in readme.splitlines() if line.startswith("| `ihdp-100`"))
    unpinned = sorted({size for (size, _), digest in IHDP_SHA256.items() if digest is None})
    for size in unpinned:
        assert f"1-{size}: no digest pinned" in row, row
    assert "sha256-verified" not in row.replace("1-100: sha256-verified", "")


def test_python_run_refuses_a_label_with_other_parameters_by_default(tmp_path):
    """Python API: ``run()`` refuses a label with other parameters as the CLI does; ``label_conflict="warn"`` is the
    explicit opt-in."""
    store = str(tmp_path / "s.sqlite")

    def cfg(params):
        return config_from_dict({"name": "l", "executor": "inline", "store": store,
                                 "datasets": [{"name": "ihdp", "replications": 1}],
                                 "estimators": [{"name": "t-learner-linear", "params": params}]})  # fmt: skip

    run(cfg({}), progress=False)
    with pytest.raises(ValueError, match="already names another configuration"):
        run(cfg({"propensity_clip": 0.05}), progress=False)
    assert len(Store(store)) == 1
    with pytest.warns(UserWarning, match="already names another configuration"):
        run(cfg({"propensity_clip": 0.05}), progress=False, label_conflict="warn")
    assert len(Store(store)) == 2


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGKILL"])
def test_killed_local_driver_leaves_no_orphan_workers(tmp_path, sig):
    """A local-executor driver stopped by SIGTERM unwinds like Ctrl-C (exit 143, lock released, finished rows in the
    .sqlite file); one stopped by SIGKILL runs no clean-up, and its workers notice and exit by themselves. Before
    the fix both left the busy worker (here: a 600 s sleep) and the resource tracker running as orphans."""
    import signal

    import psutil

    store = tmp_path / "s.sqlite"
    config = tmp_path / "k.toml"
    config.write_text('name = "k"\nexecutor = "local"\nn_jobs = 2\n[[datasets]]\nname = "ihdp"\nreplications = 1\n'
                      '[[estimators]]\nname = "fault_estimators:Hang"\n[[estimators]]\nname = "t-learner-linear"\n')  # fmt: skip
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": os.pathsep.join([TESTS, str(ROOT)])}
    proc = subprocess.Popen([sys.executable, "-m", "catebench.benchmark", "run", str(config), "--store", str(store),
                             "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        # once the t-learner row is stored, one worker sleeps in Hang and the other is idle
        t0, n_ok = time.monotonic(), 0
        while n_ok < 1 and time.monotonic() - t0 < 300 and proc.poll() is None:
            time.sleep(0.5)
            if store.exists():
                with contextlib.suppress(sqlite3.Error):
                    con = sqlite3.connect(store)
                    n_ok = con.execute("SELECT COUNT(*) FROM results WHERE status = 'ok'").fetchone()[0]
                    con.close()
        assert n_ok == 1, "the t-learner task was not stored within 300 s"
        children = psutil.Process(proc.pid).children(recursive=True)
        assert children, "the local executor should have worker processes"
        proc.send_signal(getattr(signal, sig))
        rc = proc.wait(timeout=60)
        t_dead = time.monotonic()

        def running() -> list:
            out = []
            for p in children:
                with contextlib.suppress(psutil.NoSuchProcess):
                    if p.status() != psutil.STATUS_ZOMBIE:  # a zombie computes nothing; reaping it is init's job
                        out.append(p)
            return out

        while running() and time.monotonic() - t_dead < 20:
            time.sleep(0.02)
        # the README's promise: the workers stop within a second of the driver (the kernel kills them)
        assert time.monotonic() - t_dead < 1.0, (time.monotonic() - t_dead, [(p.pid, p.name()) for p in running()])
        gone, alive = psutil.wait_procs(children, timeout=20)
        assert not alive, [(p.pid, p.name()) for p in alive]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == "SIGTERM":
        assert rc == 143, proc.stderr.read()
        assert not store.with_name(store.name + ".lock").exists()
    con = sqlite3.connect(store)
    assert con.execute("SELECT COUNT(*) FROM results WHERE status = 'ok'").fetchone()[0] == 1
    con.close()
