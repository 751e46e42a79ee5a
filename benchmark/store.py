"""The result store: one SQLite file, written only by the driver, in transactions.

Tables
------
``results``: one row per task key, with its identity columns, status (``ok`` / ``failed`` / ``timeout`` /
``crashed``), error text, timings, the metrics as JSON, and the software versions.
``predictions``: per task, the per-unit predictions (mu0_hat, mu1_hat for every row of the replication, and the
fit/test row indices) as a compressed ``.npz`` blob, so metrics can be recomputed without refitting.

A row and its predictions are written in one transaction, so a driver killed at any point leaves either both or
neither. A run holds an exclusive lock file beside the database (``<store>.lock``); a second run on the same
store is refused with a clear message instead of interleaving writes.
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

__all__ = ["Store", "StoreLocked", "TaskResult"]

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


def _unpack(blob: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(blob)) as z:
        return {k: z[k] for k in z.files}


class Store:
    """A result store at ``path`` (created when missing)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
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
                raise RuntimeError(f"{self.path} has store schema {row[0]}; this catebench writes {SCHEMA_VERSION}.")
        self._lock_fh = None

    # ---- locking ----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def exclusive(self) -> Iterator["Store"]:
        """Hold the run lock for the duration of the block; raise :class:`StoreLocked` if another run has it."""
        import fcntl

        lock_path = self.path.with_name(self.path.name + ".lock")
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
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}")
        fh.flush()
        try:
            yield self
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

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
        return _unpack(row[0])

    def __len__(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
