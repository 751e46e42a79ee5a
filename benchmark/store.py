"""The result store: one SQLite file, written only by the driver, in transactions.

Tables
------
``results``: one row per task key, with its identity columns, status (``ok`` / ``failed`` / ``timeout`` /
``crashed``), error text, timings, the metrics as JSON, and the software versions.
``predictions``: per task, the per-unit predictions (mu0_hat, mu1_hat for every row of the replication, and the
fit/test row indices) as a compressed ``.npz`` blob, so metrics can be recomputed without refitting.

A row and its predictions are written in one transaction, so a driver killed at any point leaves either both or
neither. A run holds an exclusive lock file beside the database (``<store>.lock``, removed when the run ends); a
second run on the same store is refused with a clear message instead of interleaving writes. When a run ends (or
is interrupted cleanly) the write-ahead log is checkpointed into the database file, so ``store.sqlite`` alone
holds every result and can be copied or archived without its ``-wal`` file.

A store path that cannot be a store (a directory, a file that is not SQLite, a parent that is a regular file)
raises :class:`StoreError` with one line naming the path and the problem; nothing is created or changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd

__all__ = ["Store", "StoreError", "StoreLocked", "TaskResult", "label_conflicts", "split_conflicting_labels",
           "unpack_predictions"]

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    dataset TEXT NOT NULL,
    dataset_version TEXT NOT NULL,
    dataset_params TEXT NOT NULL,
    replication INTEGER NOT NULL,
    split TEXT NOT NULL,
    estimator TEXT NOT NULL,
    estimator_target TEXT NOT NULL,
    estimator_params TEXT NOT NULL,
    seed INTEGER NOT NULL,
    random_state INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    truth TEXT,
    n_fit INTEGER,
    n_test INTEGER,
    fit_seconds REAL,
    predict_seconds REAL,
    metrics TEXT NOT NULL,
    versions TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 1,
    finished_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS predictions (
    key TEXT PRIMARY KEY REFERENCES results(key) ON DELETE CASCADE,
    data BLOB NOT NULL
);
"""


class StoreLocked(RuntimeError):
    """Another run holds this store."""


class StoreError(RuntimeError):
    """The path cannot be used as a result store (the message names the path and the problem)."""


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_store_path(path: Path) -> None:
    """Raise :class:`StoreError` when ``path`` cannot hold a store; touch nothing."""
    if path.is_dir():
        raise StoreError(f"the store path {path} is a directory; give a file path such as {path / 'store.sqlite'}.")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise StoreError(f"cannot create the store {path}: {parent} is a file, not a directory.")
            break
    if path.exists():
        try:
            with open(path, "rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        except OSError as exc:
            raise StoreError(f"cannot read the store {path}: {exc.strerror or exc}.") from None
        if head and head != _SQLITE_MAGIC:
            raise StoreError(f"{path} is not a catebench store (not an SQLite database); left untouched.")


@dataclasses.dataclass
class TaskResult:
    """What a worker sends back to the driver for one task."""

    key: str
    status: str  # ok, failed, timeout, crashed
    error: str | None = None
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)
    truth: str | None = None
    n_fit: int | None = None
    n_test: int | None = None
    fit_seconds: float | None = None
    predict_seconds: float | None = None
    versions: dict[str, str] = dataclasses.field(default_factory=dict)
    predictions: dict[str, np.ndarray] | None = None
    attempts: int = 1


def _pack(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def unpack_predictions(blob: bytes) -> dict[str, np.ndarray]:
    """The arrays of one ``predictions`` blob as stored (``mu0_hat``, ``mu1_hat``, ``fit_idx``, ``test_idx``)."""
    with np.load(io.BytesIO(blob)) as z:
        return {k: z[k] for k in z.files}


class Store:
    """A result store at ``path`` (created when missing)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        _check_store_path(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}.") from None
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            with self.transaction() as c:
                for stmt in filter(str.strip, _SCHEMA.split(";")):
                    c.execute(stmt)
                row = c.execute("SELECT v FROM meta WHERE k='schema'").fetchone()
                if row is None:
                    c.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
                elif row[0] != SCHEMA_VERSION:
                    raise StoreError(f"{self.path} has store schema {row[0]}; this catebench writes {SCHEMA_VERSION}.")
        except sqlite3.Error as exc:
            self._conn.close()
            raise StoreError(f"{self.path} cannot be used as a catebench store: {exc}.") from None
        self._lock_fh = None

    # ---- locking ----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def exclusive(self) -> Iterator["Store"]:
        """Hold the run lock for the duration of the block; raise :class:`StoreLocked` if another run has it."""
        import fcntl

        lock_path = self.path.with_name(self.path.name + ".lock")
        while True:
            fh = open(lock_path, "a+")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().strip() or "another process"
                fh.close()
                raise StoreLocked(
                    f"the store {self.path} is in use by another run ({holder}); wait for it to finish or use "
                    f"another --store."
                ) from None
            # the holder before us removes the file when it releases it: lock the file that is at the path now
            try:
                same = os.stat(lock_path).st_ino == os.fstat(fh.fileno()).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            fh.close()
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        try:
            yield self
        finally:
            with contextlib.suppress(sqlite3.Error):
                self.checkpoint()
            with contextlib.suppress(OSError):
                os.unlink(lock_path)  # while still locked: a waiting opener sees a new inode and retries
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    def checkpoint(self) -> None:
        """Move every committed row from the write-ahead log into the database file and empty the log."""
        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            c.execute("ROLLBACK")
            raise
        else:
            c.execute("COMMIT")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.checkpoint()
        self._conn.close()

    # ---- writing ----------------------------------------------------------------------------------------
    def write(self, task: Any, result: TaskResult) -> None:
        """Insert or replace the row of ``task`` and its predictions, atomically."""
        row = (
            task.key, task.dataset, task.dataset_version, task.dataset_params_json, task.replication, task.split,
            task.estimator, task.estimator_target, task.estimator_params_json, task.seed, task.random_state,
            result.status, result.error, result.truth, result.n_fit, result.n_test, result.fit_seconds,
            result.predict_seconds, json.dumps(result.metrics, sort_keys=True), json.dumps(result.versions, sort_keys=True),
            result.attempts, pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
        )  # fmt: skip
        with self.transaction() as c:
            c.execute("DELETE FROM predictions WHERE key = ?", (task.key,))
            c.execute(f"INSERT OR REPLACE INTO results VALUES ({','.join('?' * len(row))})", row)
            if result.predictions is not None:
                c.execute("INSERT INTO predictions VALUES (?, ?)", (task.key, _pack(result.predictions)))

    # ---- reading ----------------------------------------------------------------------------------------
    def statuses(self) -> dict[str, str]:
        """``{key: status}`` of every stored task."""
        return dict(self._conn.execute("SELECT key, status FROM results").fetchall())

    def configurations(self) -> dict[tuple[str, str], set[tuple[str, str]]]:
        """``{(dataset, label): {(estimator_target, estimator_params_json), ...}}`` over every stored row."""
        out: dict[tuple[str, str], set[tuple[str, str]]] = {}
        q = "SELECT DISTINCT dataset, estimator, estimator_target, estimator_params FROM results"
        for dataset, label, target, params in self._conn.execute(q):
            out.setdefault((dataset, label), set()).add((target, params))
        return out

    def label_conflicts_with(self, tasks: list) -> list[str]:
        """Messages for planned tasks whose label already names another configuration on the same dataset.

        A label must identify one estimator configuration in a report (issue 13): running ``t-learner-linear`` with
        other parameters into a store that holds it would otherwise pool both under one leaderboard row. Each
        message names the label, the dataset, the store and both configurations.
        """
        stored = self.configurations()
        seen, out = set(), []
        for t in tasks:
            ident = (t.dataset, t.estimator)
            if ident in seen:
                continue
            seen.add(ident)
            mine = (t.estimator_target, t.estimator_params_json)
            other = sorted(stored.get(ident, set()) - {mine})
            if other:
                out.append(
                    f"estimator label {t.estimator!r} on dataset {t.dataset!r} already names another configuration "
                    f"in the store {self.path}: {other[0][0]} {other[0][1]}; this run has {mine[0]} {mine[1]}"
                )
        return out

    def check_labels(self, tasks: list) -> None:
        """Raise ``ValueError`` (see :meth:`label_conflicts_with`) when a planned label names another configuration."""
        conflicts = self.label_conflicts_with(tasks)
        if conflicts:
            raise ValueError(
                f"{conflicts[0]}. Give this one its own label (label = \"...\" in the config), use another --store, "
                f"or pass --allow-label-conflict (reports then show the configurations apart)."
            )

    def results(self, expand_metrics: bool = True) -> pd.DataFrame:
        """All rows as a DataFrame; metrics expanded into columns (``pehe_out`` etc.)."""
        df = pd.read_sql_query("SELECT * FROM results ORDER BY dataset, replication, estimator, seed", self._conn)
        if expand_metrics and len(df):
            m = pd.DataFrame([json.loads(s) for s in df["metrics"]], index=df.index)
            df = pd.concat([df.drop(columns=["metrics"]), m], axis=1)
        return df

    def predictions(self, key: str) -> dict[str, np.ndarray]:
        row = self._conn.execute("SELECT data FROM predictions WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(f"no stored predictions for task {key!r}.")
        return unpack_predictions(row[0])

    def __len__(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]


def label_conflicts(df: pd.DataFrame) -> list[tuple[str, str, list[str]]]:
    """Estimator labels that carry more than one configuration on one dataset.

    Parameters
    ----------
    df : DataFrame
        Rows of :meth:`Store.results` (columns ``dataset``, ``estimator``, ``estimator_target``,
        ``estimator_params``).

    Returns
    -------
    list of (dataset, label, configurations)
        Each configuration as ``"module:Class {params}"``; empty when every label is one configuration.
    """
    if df.empty:
        return []
    conf = df["estimator_target"] + " " + df["estimator_params"]
    out = []
    for (dataset, label), c in conf.groupby([df["dataset"], df["estimator"]]):
        configs = sorted(set(c))
        if len(configs) > 1:
            out.append((dataset, label, configs))
    return out


def split_conflicting_labels(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Give each configuration of a label that carries several (see :func:`label_conflicts`) its own label.

    Stores written before runs refused such labels can hold them; a report must not pool them. The first
    configuration (in sorted order) keeps the label, the others become ``"<label> #2"``, ``"<label> #3"``.

    Returns
    -------
    df : DataFrame
        A copy with the ``estimator`` column relabelled where needed (unchanged when there is no conflict).
    messages : list of str
        One line per relabelled configuration, naming the label, dataset and parameters.
    """
    conflicts = label_conflicts(df)
    if not conflicts:
        return df, []
    df = df.copy()
    conf = df["estimator_target"] + " " + df["estimator_params"]
    last = df.groupby([df["dataset"], df["estimator"], conf])["finished_at"].max() if "finished_at" in df else None
    messages = []
    for dataset, label, configs in conflicts:
        if last is not None:
            configs = sorted(configs, key=lambda c: (last.get((dataset, label, c), ""), c), reverse=True)
        for i, c in enumerate(configs):
            new = label if i == 0 else f"{label} #{i + 1}"
            rows = (df["dataset"] == dataset) & (df["estimator"] == label) & (conf == c)
            df.loc[rows, "estimator"] = new
            messages.append(f"label {label!r} on {dataset!r} has {len(configs)} configurations; reported apart as "
                            f"{new!r}: {c}")  # fmt: skip
    return df, messages
