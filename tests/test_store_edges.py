"""The store's edges: what a file given as ``--store`` is, read-only reports, the lock of a linked store, database
errors as one line, labels that include the dataset setting, and names that become text and paths."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from catebench.benchmark.cli import main
from catebench.benchmark.config import config_from_dict
from catebench.benchmark.runner import run
from catebench.benchmark.store import SCHEMA_VERSION, Store, StoreError, StoreLocked, store_layout


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _toml(tmp_path: Path, name: str = "c.toml", dataset: str = 'name = "ihdp"', extra: str = "",
          estimator: str = 'name = "t-learner-linear"', reps: int = 1) -> Path:  # fmt: skip
    p = tmp_path / name
    p.write_text(f'name = "t"\nexecutor = "inline"\n[[datasets]]\n{dataset}\nreplications = {reps}\n{extra}\n'
                 f"[[estimators]]\n{estimator}\n")  # fmt: skip
    return p


def _one_line(capsys, *words) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err, err
    for w in words:
        assert w in err, (w, err)
    return err


def _app_database(path: Path, wal: bool = False) -> Path:
    """An application's own SQLite database (rollback journal unless ``wal``)."""
    con = sqlite3.connect(path, isolation_level=None)
    if wal:
        con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    con.execute("INSERT INTO customers (name) VALUES ('Ada'), ('Grace')")
    con.close()
    return path


def _made_store(tmp_path: Path, name: str = "s.sqlite") -> Path:
    path = tmp_path / name
    assert main(["run", str(_toml(tmp_path)), "--store", str(path), "--no-progress"]) == 0
    return path


# ---- what a file is -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("wal", [False, True])
def test_application_database_is_refused_by_run_and_report_byte_for_byte(tmp_path, capsys, wal):
    app = _app_database(tmp_path / "app.db", wal=wal)
    before, listing = _sha(app), sorted(os.listdir(tmp_path))
    config = _toml(tmp_path)
    listing = sorted(os.listdir(tmp_path))
    assert main(["run", str(config), "--store", str(app), "--no-progress"]) == 2
    _one_line(capsys, str(app), "not a catebench store", "customers")
    assert main(["report", "--store", str(app), "--out", str(tmp_path / "rep"), "--leaderboard-only"]) == 2
    _one_line(capsys, str(app), "not a catebench store")
    assert _sha(app) == before
    assert sorted(os.listdir(tmp_path)) == listing  # no -wal, -shm, .lock or report directory
    con = sqlite3.connect(app)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == ("wal" if wal else "delete")
    con.close()


def test_empty_file_becomes_a_store_for_run_but_not_for_report(tmp_path, capsys):
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    assert main(["report", "--store", str(empty), "--out", str(tmp_path / "rep"), "--leaderboard-only"]) == 2
    _one_line(capsys, str(empty), "empty file")
    assert empty.stat().st_size == 0 and not (tmp_path / "rep").exists()
    assert store_layout(empty) == ("empty", "")
    assert main(["run", str(_toml(tmp_path)), "--store", str(empty), "--no-progress"]) == 0
    assert store_layout(empty)[0] == "current" and len(Store(empty, readonly=True)) == 1


def _older_store(path: Path, with_meta: bool) -> Path:
    """A store of an older layout: its results table lacks ``estimator_target``."""
    con = sqlite3.connect(path, isolation_level=None)
    if with_meta:
        con.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
        con.execute("INSERT INTO meta VALUES ('schema', '1')")
    con.execute("CREATE TABLE results (key TEXT PRIMARY KEY, dataset TEXT, estimator TEXT, status TEXT, "
                "metrics TEXT)")  # fmt: skip
    con.execute("INSERT INTO results VALUES ('k1', 'ihdp', 't-learner', 'ok', '{\"pehe_out\": 1.0}')")
    con.close()
    return path


@pytest.mark.parametrize("with_meta", [False, True])
@pytest.mark.parametrize("command", ["run", "report"])
def test_older_layout_is_refused_naming_the_layout_and_how_to_migrate(tmp_path, capsys, with_meta, command):
    old = _older_store(tmp_path / "old.sqlite", with_meta)
    before = _sha(old)
    argv = (["run", str(_toml(tmp_path)), "--no-progress"] if command == "run"
            else ["report", "--out", str(tmp_path / "rep")])  # fmt: skip
    assert main([*argv, "--store", str(old)]) == 2
    _one_line(capsys, str(old), "older catebench layout", "estimator_target", "new store (--store NEW.sqlite)")
    assert _sha(old) == before
    con = sqlite3.connect(old)
    meta = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    con.close()
    assert ("meta" in meta) == with_meta  # not stamped as current


@pytest.mark.parametrize("command", ["run", "report"])
def test_newer_layout_is_refused_before_any_write(tmp_path, capsys, command):
    path = _made_store(tmp_path)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("UPDATE meta SET v = ? WHERE k = 'schema'", (str(int(SCHEMA_VERSION) + 1),))
    con.execute("PRAGMA journal_mode=DELETE")  # as a newer catebench might leave it
    con.close()
    before = _sha(path)
    capsys.readouterr()
    argv = (["run", str(_toml(tmp_path)), "--no-progress"] if command == "run"
            else ["report", "--out", str(tmp_path / "rep")])  # fmt: skip
    assert main([*argv, "--store", str(path)]) == 2
    _one_line(capsys, str(path), f"layout {int(SCHEMA_VERSION) + 1}", "newer")
    assert _sha(path) == before  # its journal mode too


# ---- read-only reports --------------------------------------------------------------------------------------
@contextlib.contextmanager
def _read_only_copy(store: Path, tmp_path: Path):
    """The store in a directory that cannot be written: file permissions for a normal user, a read-only tmpfs
    for root (permissions do not stop root); skipped where neither is available."""
    if os.geteuid() != 0:
        ro = tmp_path / "ro"
        ro.mkdir()
        shutil.copy(store, ro / store.name)
        (ro / store.name).chmod(0o444)
        ro.chmod(0o555)
        try:
            yield ro / store.name
        finally:
            ro.chmod(0o755)
        return
    ro = tmp_path / "ro"
    ro.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(ro)], capture_output=True).returncode:
        pytest.skip("running as root without permission to mount a read-only file system")
    try:
        shutil.copy(store, ro / store.name)
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True, capture_output=True)
        yield ro / store.name
    finally:
        subprocess.run(["umount", str(ro)], capture_output=True)


def test_report_reads_a_store_on_read_only_media(tmp_path, capsys):
    store = _made_store(tmp_path)
    with _read_only_copy(store, tmp_path) as ro:
        with pytest.raises(sqlite3.OperationalError):  # what SQLite itself does there without immutable opening
            sqlite3.connect(f"file:{ro}?mode=ro", uri=True).execute("SELECT COUNT(*) FROM results").fetchone()
        before = _sha(ro)
        capsys.readouterr()
        assert main(["report", "--store", str(ro), "--out", str(tmp_path / "rep"), "--leaderboard-only"]) == 0, (
            capsys.readouterr().err)
        assert "t-learner-linear" in (tmp_path / "rep" / "leaderboard.md").read_text()
        assert _sha(ro) == before and sorted(os.listdir(ro.parent)) == [ro.name]


def test_report_changes_nothing_in_a_writable_store(tmp_path):
    store = _made_store(tmp_path)
    con = sqlite3.connect(store, isolation_level=None)
    con.execute("PRAGMA journal_mode=DELETE")  # a report must not switch it back to WAL
    con.close()
    before = _sha(store)
    assert main(["report", "--store", str(store), "--out", str(tmp_path / "rep"), "--leaderboard-only"]) == 0
    assert _sha(store) == before
    ro = Store(store, readonly=True)
    with pytest.raises(StoreError, match="read-only"):
        with ro.exclusive():
            pass
    ro.close()


# ---- lock -----------------------------------------------------------------------------------------------------
def test_symlink_to_a_store_in_use_is_refused(tmp_path):
    real = tmp_path / "real" / "s.sqlite"
    Store(real).close()
    link = tmp_path / "link.sqlite"
    link.symlink_to(real)
    (tmp_path / "linkdir").symlink_to(tmp_path / "real", target_is_directory=True)
    with Store(real).exclusive():
        for other in (link, tmp_path / "linkdir" / "s.sqlite"):
            with pytest.raises(StoreLocked, match="in use by another run"):
                with Store(other).exclusive():
                    pass
    with Store(link).exclusive():  # free again: the link opens the same store
        with pytest.raises(StoreLocked):
            with Store(real).exclusive():
                pass
    assert not (tmp_path / "real" / "s.sqlite.lock").exists() and not (tmp_path / "link.sqlite.lock").exists()


# ---- database errors ------------------------------------------------------------------------------------------
def test_disk_full_during_a_run_is_one_line_and_keeps_finished_rows(tmp_path, capsys, monkeypatch):
    """The store's file cannot grow after its first task (SQLite's ``max_page_count``: the same SQLITE_FULL error
    as a full disk, raised in the store's write path)."""
    store = tmp_path / "s.sqlite"
    writes = {"n": 0}
    original = Store.write

    def write(self, task, result):
        writes["n"] += 1
        if writes["n"] == 2:
            pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
            self._conn.execute(f"PRAGMA max_page_count = {pages}")
            self.checkpoint()
        return original(self, task, result)

    monkeypatch.setattr(Store, "write", write)
    config = _toml(tmp_path, reps=3)
    assert main(["run", str(config), "--store", str(store), "--no-progress"]) == 2
    err = _one_line(capsys, str(store), "database or disk is full", "rerun to resume")
    assert err.startswith("catebench run: error: cannot write to the store")
    assert not store.with_name(store.name + ".lock").exists()
    monkeypatch.setattr(Store, "write", original)
    assert len(Store(store, readonly=True)) == 1
    assert main(["run", str(config), "--store", str(store), "--no-progress"]) == 0  # resumes
    assert len(Store(store, readonly=True)) == 3


def test_sqlite_errors_after_opening_name_the_file(tmp_path):
    store = _made_store(tmp_path)
    s = Store(store)
    s._conn.execute("DROP TABLE predictions")
    s._conn.execute("ALTER TABLE results RENAME TO r2")
    for call in (s.statuses, s.results, lambda: len(s), lambda: s.predictions("x")):
        with pytest.raises(StoreError, match=f"cannot read the store {store}: no such table"):
            call()
    s.close()


# ---- labels include the dataset setting ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "first, second, words",
    [
        ('name = "synthetic"\nparams = {n = 300}', 'name = "synthetic"\nparams = {n = 900}', ('"n":300', '"n":900')),
        ('name = "ihdp"', 'name = "ihdp"\nsplit = "90/10"', ("split 63/27/10", "split 90/10")),
    ],
)
def test_same_label_on_another_dataset_setting_is_refused_or_reported_apart(tmp_path, capsys, first, second, words):
    store = tmp_path / "s.sqlite"
    assert main(["run", str(_toml(tmp_path, "a.toml", dataset=first, reps=2)), "--store", str(store),
                 "--no-progress"]) == 0  # fmt: skip
    capsys.readouterr()
    other = _toml(tmp_path, "b.toml", dataset=second, reps=2)
    assert main(["run", str(other), "--store", str(store), "--no-progress"]) == 2
    _one_line(capsys, "estimator label 't-learner-linear'", "already names another configuration", *words)
    assert len(Store(store, readonly=True)) == 2
    with pytest.warns(UserWarning, match="already names another configuration"):
        assert main(["run", str(other), "--store", str(store), "--no-progress", "--allow-label-conflict"]) == 0
    capsys.readouterr()
    assert main(["report", "--store", str(store), "--out", str(tmp_path / "rep"), "--leaderboard-only"]) == 0
    assert "reported apart as 't-learner-linear #2'" in capsys.readouterr().err
    board = pd.read_csv(tmp_path / "rep" / "leaderboard.csv")
    rows = board[board["estimator"].str.startswith("t-learner-linear")]
    assert sorted(rows["estimator"]) == ["t-learner-linear", "t-learner-linear #2"]
    assert list(rows["n_ok"]) == [2, 2]  # two rows of two results, not one of four


# ---- names that become text and paths ---------------------------------------------------------------------------
@pytest.mark.parametrize("label", ["a|b", "<b>bold</b>", "x\ny", "", " lead", "trail ", "a/b", "[link](x)", "*em*"])
def test_bad_labels_are_refused_where_they_enter(tmp_path, capsys, label):
    est = f'name = "t-learner-linear"\nlabel = {json.dumps(label)}'
    store = tmp_path / "s.sqlite"
    assert main(["run", str(_toml(tmp_path, estimator=est)), "--store", str(store), "--no-progress"]) == 2
    _one_line(capsys, "estimator label", repr(label))
    assert not store.exists()


@pytest.mark.parametrize("column, value", [("estimator", "a|b"), ("estimator", "<script>x</script>"),
                                           ("dataset", "../../etc"), ("dataset", "ihdp/evil")])
def test_names_read_from_a_store_are_checked_before_a_report(tmp_path, capsys, column, value):
    store = _made_store(tmp_path)
    con = sqlite3.connect(store, isolation_level=None)
    con.execute(f"UPDATE results SET {column} = ?", (value,))
    con.close()
    capsys.readouterr()
    out = tmp_path / "rep"
    assert main(["report", "--store", str(store), "--out", str(out)]) == 2
    _one_line(capsys, str(store), repr(value), "cannot be reported")
    assert not out.exists()


def test_valid_labels_pass_and_reach_the_leaderboard_intact(tmp_path):
    from catebench.benchmark.names import check_dataset_name, check_label

    for ok in ("t-learner-linear", "iwdd-rand@tuned-nn-pehe-8", "mypkg.module:MyEst", "ridge (alpha=2, v1.0)", "_x"):
        assert check_label(ok) == ok
    for ok in ("ihdp-1000", "acic2016", "mypkg.data:Toy"):
        assert check_dataset_name(ok) == ok
    for bad in ("my data", "a#b", "a/b", ".hidden", "a\\b"):
        with pytest.raises(ValueError, match="dataset name"):
            check_dataset_name(bad)
    cfg = config_from_dict({"name": "l", "executor": "inline", "store": str(tmp_path / "s.sqlite"),
                            "datasets": [{"name": "ihdp", "replications": 1}],
                            "estimators": [{"name": "t-learner-linear", "label": "ridge (alpha=2, v1.0)"}]})  # fmt: skip
    run(cfg, progress=False)
    assert main(["report", "--store", cfg.store, "--out", str(tmp_path / "rep"), "--leaderboard-only"]) == 0
    md = (tmp_path / "rep" / "leaderboard.md").read_text()
    row = next(line for line in md.splitlines() if "ridge (alpha=2, v1.0)" in line)
    header = next(line for line in md.splitlines() if line.startswith("|") and "| estimator |" in line)
    assert row.count("|") == header.count("|")
