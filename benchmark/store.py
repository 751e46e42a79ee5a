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

Opening a store checks what the file is before anything is written to it: a missing path or an empty file becomes
a new store (when the caller creates stores); a catebench store of this layout opens; anything else (a directory,
a file that is not SQLite, an SQLite database of another application, a store of an older or newer layout)
raises :class:`StoreError` with one line naming the path and the problem, and the file is left byte for byte as
it was. ``Store(path, readonly=True)`` (what ``catebench report`` uses) never writes: no journal-mode switch, no
schema transaction, and it works on read-only media. Every SQLite error met later (a full disk, a damaged file)
is raised as :class:`StoreError` naming the file and the cause. The run lock is taken on the store's resolved
path, so a symbolic link to a store in use is refused like the store itself.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import json
import os
import sqlite3
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import pandas as pd

__all__ = ["Store", "StoreError", "StoreLocked", "TaskResult", "label_conflicts", "split_conflicting_labels",
           "store_layout", "check_result_names", "describe_configuration", "SCHEMA_VERSION", "unpack_predictions",
           "task_seconds"]

#: The layout this catebench reads and writes (the ``schema`` row of the ``meta`` table).
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

#: Columns of the ``results`` table in this layout (an older layout lacks some of them).
RESULT_COLUMNS = tuple(
    line.split()[0] for line in _SCHEMA.split("CREATE TABLE IF NOT EXISTS results (")[1].split(");")[0].splitlines()
    if line.strip()
)
_MIGRATE = ("this catebench reads and writes layout " + SCHEMA_VERSION + " only and never converts a store: run the "
            "config again into a new store (--store NEW.sqlite), or report this one with the catebench version that "
            "wrote it")  # fmt: skip


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


def _uri(path: Path, immutable: bool) -> str:
    return f"file:{urllib.parse.quote(str(path))}?mode=ro" + ("&immutable=1" if immutable else "")


def _read_only_connection(path: Path) -> sqlite3.Connection:
    """A connection that cannot write to ``path``.

    A WAL database needs its ``-shm`` file to be read: where the directory is not writable (read-only media) and no
    writer has the store open (no ``-wal`` file), the file is opened as immutable, the only way SQLite reads it there.
    """
    wal = path.with_name(path.name + "-wal")
    immutable = not wal.exists() and not os.access(path.parent, os.W_OK)
    return sqlite3.connect(_uri(path, immutable), uri=True, timeout=30, isolation_level=None)


def _probe_connection(path: Path) -> sqlite3.Connection:
    """A read-only connection for identifying ``path``, which leaves no ``-wal`` / ``-shm`` file behind it."""
    with open(path, "rb") as fh:
        header = fh.read(20)
    wal_mode = len(header) == 20 and header[18] == 2
    if wal_mode and not path.with_name(path.name + "-wal").exists():
        return sqlite3.connect(_uri(path, True), uri=True, isolation_level=None)  # nobody has it open
    return _read_only_connection(path)


def store_layout(path: str | os.PathLike) -> tuple[str, str]:
    """What the file at ``path`` is, read without writing to it.

    Returns
    -------
    kind : {"missing", "empty", "current", "older", "newer", "foreign"}
        ``current``: a catebench store of this layout (:data:`SCHEMA_VERSION`); ``older`` / ``newer``: a catebench
        store of another layout; ``foreign``: an SQLite database that is not a catebench store (no ``meta`` table
        with a ``schema`` row, no catebench ``results`` table); ``empty``: a 0-byte file.
    detail : str
        For ``older``, ``newer`` and ``foreign``: what was found, for messages.

    Raises
    ------
    StoreError
        The path is a directory, not SQLite, unreadable, or SQLite cannot read it (the message names the path).
    """
    path = Path(path)
    _check_store_path(path)
    if not path.exists():
        return "missing", ""
    if path.stat().st_size == 0:
        return "empty", ""
    try:
        con = _probe_connection(path)
        try:
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            schema = None
            if "meta" in tables:
                with contextlib.suppress(sqlite3.Error):
                    row = con.execute("SELECT v FROM meta WHERE k = 'schema'").fetchone()
                    schema = None if row is None else str(row[0])
            columns = [r[1] for r in con.execute("PRAGMA table_info(results)")] if "results" in tables else []
        finally:
            con.close()
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot read {path} as an SQLite database: {exc}.") from None
    looks_like_results = {"key", "dataset", "estimator", "status", "metrics"} <= set(columns)
    if schema is None:
        if looks_like_results:
            missing = [c for c in RESULT_COLUMNS if c not in columns]
            return "older", ("an older catebench layout (no schema row" +
                             (f"; results lacks {', '.join(missing)})" if missing else ")"))  # fmt: skip
        found = ", ".join(sorted(tables)) or "no tables"
        return "foreign", f"an SQLite database without a catebench meta row (tables: {found})"
    try:
        version = int(schema)
    except ValueError:
        return "foreign", f"an SQLite database whose meta schema row is {schema!r}, not a catebench layout"
    if version > int(SCHEMA_VERSION):
        return "newer", f"catebench store layout {schema}, newer than this catebench's {SCHEMA_VERSION}"
    missing = [c for c in RESULT_COLUMNS if c not in columns]
    if version < int(SCHEMA_VERSION) or missing or "predictions" not in tables:
        lacks = f"; results lacks {', '.join(missing)}" if missing else ""
        lacks += "; no predictions table" if "predictions" not in tables else ""
        return "older", f"an older catebench layout (schema {schema}{lacks})"
    return "current", ""


def _sqlite_errors(action: str) -> Callable:
    """Decorate a :class:`Store` method: an ``sqlite3.Error`` becomes a :class:`StoreError` naming the file."""

    def wrap(method):
        @functools.wraps(method)
        def inner(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                kept = " (the rows written before are kept: free the cause and rerun to resume)" if action == "write to" else ""
                raise StoreError(f"cannot {action} the store {self.path}: {exc}{kept}.") from None

        return inner

    return wrap


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
    """A result store at ``path``.

    Parameters
    ----------
    path : str or path-like
        The SQLite file. Missing or empty: a new store is created there, unless ``readonly``.
    readonly : bool, default False
        Open for reading only: nothing is written (no journal-mode switch, no schema transaction, no new file),
        and a store on read-only media can be read. Writing methods then raise :class:`StoreError`.

    Raises
    ------
    StoreError
        The path is not a catebench store of this layout (see :func:`store_layout`), or (``readonly``) holds no
        store; the file is left as it was.
    """

    def __init__(self, path: str | os.PathLike, *, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self._lock_fh = None
        kind, detail = store_layout(self.path)
        if kind == "foreign":
            raise StoreError(f"{self.path} is not a catebench store ({detail}); left untouched.")
        if kind in ("older", "newer"):
            how = _MIGRATE if kind == "older" else "use a newer catebench to read or extend it"
            raise StoreError(f"{self.path} is {detail}; {how}. The file was left untouched.")
        if readonly and kind in ("missing", "empty"):
            what = "no file" if kind == "missing" else "an empty file"
            raise StoreError(f"no store at {self.path} ({what}); run `catebench run CONFIG --store {self.path}` first.")
        real = Path(os.path.realpath(self.path))
        try:
            if readonly:
                self._conn = _read_only_connection(real)
                self._conn.execute("SELECT COUNT(*) FROM results").fetchone()
                return
            real.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(real, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}.") from None
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            if kind != "current":
                with self.transaction() as c:  # a new store; another run may have created it just now
                    if c.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
                        if store_layout(self.path)[0] != "current":
                            raise StoreError(f"{self.path} was written by another program while it was being "
                                             f"created; left as is.")  # fmt: skip
                    else:
                        for stmt in filter(str.strip, _SCHEMA.split(";")):
                            c.execute(stmt)
                        c.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        except (sqlite3.Error, StoreError) as exc:
            self._conn.close()
            if isinstance(exc, StoreError):
                raise
            raise StoreError(f"{self.path} cannot be used as a catebench store: {exc}.") from None

    # ---- locking ----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def exclusive(self) -> Iterator["Store"]:
        """Hold the run lock for the duration of the block; raise :class:`StoreLocked` if another run has it.

        The lock file lies beside the store's resolved path (``<store>.lock``), so every path to one store (a
        symbolic link, a path through a linked directory) takes the same lock.
        """
        import fcntl

        if self.readonly:
            raise StoreError(f"the store {self.path} was opened read-only; a run needs it writable.")
        real = Path(os.path.realpath(self.path))
        lock_path = real.with_name(real.name + ".lock")
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
            with contextlib.suppress(sqlite3.Error, StoreError):
                self.checkpoint()
            with contextlib.suppress(OSError):
                os.unlink(lock_path)  # while still locked: a waiting opener sees a new inode and retries
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()

    @_sqlite_errors("checkpoint")
    def checkpoint(self) -> None:
        """Move every committed row from the write-ahead log into the database file and empty the log."""
        if not self.readonly:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` when the block raises)."""
        if self.readonly:
            raise StoreError(f"the store {self.path} was opened read-only; it cannot be written.")
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            with contextlib.suppress(sqlite3.Error):  # a failed COMMIT or a full disk may have ended it already
                c.execute("ROLLBACK")
            raise
        else:
            c.execute("COMMIT")

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error, StoreError):
            self.checkpoint()
        self._conn.close()

    # ---- writing ----------------------------------------------------------------------------------------
    @_sqlite_errors("write to")
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
    @_sqlite_errors("read")
    def statuses(self) -> dict[str, str]:
        """``{key: status}`` of every stored task."""
        return dict(self._conn.execute("SELECT key, status FROM results").fetchall())

    @_sqlite_errors("read")
    def configurations(self) -> dict[tuple[str, str], set[tuple[str, str, str, str]]]:
        """``{(dataset, label): {(estimator_target, estimator_params, dataset_params, split), ...}}`` of every row."""
        out: dict[tuple[str, str], set[tuple[str, str, str, str]]] = {}
        q = "SELECT DISTINCT dataset, estimator, estimator_target, estimator_params, dataset_params, split FROM results"
        for dataset, label, target, params, dparams, split in self._conn.execute(q):
            out.setdefault((dataset, label), set()).add((target, params, dparams, split))
        return out

    @_sqlite_errors("read")
    def task_seconds(self) -> dict[tuple[str, str], float]:
        """``{(label, dataset): mean seconds}`` of the ``ok`` rows: fit (tuning included), predict and sampling."""
        q = ("SELECT estimator, dataset, AVG(COALESCE(fit_seconds, 0) + COALESCE(predict_seconds, 0) + "
             "COALESCE(json_extract(metrics, '$.sample_seconds'), 0)) FROM results WHERE status = 'ok' "
             "GROUP BY estimator, dataset")  # fmt: skip
        return {(label, dataset): float(sec) for label, dataset, sec in self._conn.execute(q) if sec is not None}

    def label_conflicts_with(self, tasks: list) -> list[str]:
        """Messages for planned tasks whose label already names another configuration on the same dataset.

        A label identifies one estimator configuration on one dataset setting in a report: its estimator class and
        parameters, the dataset's parameters and the split protocol. A run that would store another configuration
        under a label the store holds would otherwise be pooled with it under one leaderboard row. Each message
        names the label, the dataset, the store and both configurations.
        """
        stored = self.configurations()
        seen, out = set(), []
        for t in tasks:
            ident = (t.dataset, t.estimator)
            if ident in seen:
                continue
            seen.add(ident)
            mine = (t.estimator_target, t.estimator_params_json, t.dataset_params_json, t.split)
            other = sorted(stored.get(ident, set()) - {mine})
            if other:
                out.append(
                    f"estimator label {t.estimator!r} on dataset {t.dataset!r} already names another configuration "
                    f"in the store {self.path}: {describe_configuration(*other[0])}; this run has "
                    f"{describe_configuration(*mine)}"
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
        """All rows as a DataFrame; metrics expanded into columns (``pehe_out`` etc.).

        Raises :class:`StoreError` when a row's estimator label or dataset name is not one catebench accepts
        (:mod:`catebench.benchmark.names`): reports turn them into Markdown, HTML and file names.
        """
        try:
            df = pd.read_sql_query("SELECT * FROM results ORDER BY dataset, replication, estimator, seed", self._conn)
        except (sqlite3.Error, pd.errors.DatabaseError) as exc:
            cause = exc.__cause__ if isinstance(exc.__cause__, sqlite3.Error) else exc
            raise StoreError(f"cannot read the store {self.path}: {cause}.") from None
        check_result_names(df, self.path)
        if expand_metrics and len(df):
            m = pd.DataFrame([json.loads(s) for s in df["metrics"]], index=df.index)
            df = pd.concat([df.drop(columns=["metrics"]), m], axis=1)
        return df

    @_sqlite_errors("read")
    def predictions(self, key: str) -> dict[str, np.ndarray]:
        row = self._conn.execute("SELECT data FROM predictions WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(f"no stored predictions for task {key!r}.")
        return unpack_predictions(row[0])

    @_sqlite_errors("read")
    def __len__(self) -> int:
        return self._conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]


def task_seconds(results: pd.DataFrame) -> pd.Series:
    """Per row of :meth:`Store.results` (or a ``tasks.csv``): the seconds the task spent in the estimator, fit
    (tuning included) + predict + the draws for the distributional metrics (``sample_seconds``; 0 where the estimator
    does not sample), as :meth:`Store.task_seconds` averages them."""
    sample = results["sample_seconds"].fillna(0.0) if "sample_seconds" in results else 0.0
    return results["fit_seconds"] + results["predict_seconds"] + sample


def describe_configuration(target: str, params: str, dataset_params: str, split: str) -> str:
    """One configuration as text: ``module:Class {params} with dataset params {...}, split 63/27/10``."""
    return f"{target} {params} with dataset params {dataset_params}, split {split}"


def check_result_names(df: pd.DataFrame, path: str | os.PathLike = "the store") -> None:
    """Raise :class:`StoreError` when a row of ``df`` (``Store.results()``) has an estimator label or dataset name
    that :mod:`catebench.benchmark.names` refuses; the message names the value and the store."""
    from .names import check_dataset_name, check_label

    for column, check in (("estimator", check_label), ("dataset", check_dataset_name)):
        if column not in df:
            continue
        for value in pd.unique(df[column]):
            try:
                check(value)
            except ValueError as exc:
                raise StoreError(f"the store {path} holds a row that cannot be reported: {exc}") from None


def _configuration(df: pd.DataFrame) -> pd.Series:
    conf = df["estimator_target"] + " " + df["estimator_params"]
    if "dataset_params" in df and "split" in df:
        conf = conf + " with dataset params " + df["dataset_params"] + ", split " + df["split"]
    return conf


def label_conflicts(df: pd.DataFrame) -> list[tuple[str, str, list[str]]]:
    """Estimator labels that carry more than one configuration on one dataset.

    Parameters
    ----------
    df : DataFrame
        Rows of :meth:`Store.results` (columns ``dataset``, ``estimator``, ``estimator_target``,
        ``estimator_params``, and ``dataset_params`` and ``split`` when present).

    Returns
    -------
    list of (dataset, label, configurations)
        Each configuration as ``"module:Class {params} with dataset params {...}, split S"``; empty when every
        label is one configuration.
    """
    if df.empty:
        return []
    conf = _configuration(df)
    out = []
    for (dataset, label), c in conf.groupby([df["dataset"], df["estimator"]]):
        configs = sorted(set(c))
        if len(configs) > 1:
            out.append((dataset, label, configs))
    return out


def split_conflicting_labels(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Give each configuration of a label that carries several (see :func:`label_conflicts`) its own label.

    Stores written with ``--allow-label-conflict``, or before runs refused such labels, can hold them; a report must
    not pool them. The newest configuration keeps the label, the others become ``"<label> #2"``, ``"<label> #3"``.

    Returns
    -------
    df : DataFrame
        A copy with the ``estimator`` column relabelled where needed (unchanged when there is no conflict).
    messages : list of str
        One line per relabelled configuration, naming the label, dataset and configuration.
    """
    conflicts = label_conflicts(df)
    if not conflicts:
        return df, []
    df = df.copy()
    conf = _configuration(df)
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
