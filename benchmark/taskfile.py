"""The per-task results of a board as plain files: ``tasks.csv`` and ``tasks_params.json``.

``tasks.csv`` has one row per task: its key, dataset, replication, seed, split, estimator label and target, the
hashes of its estimator parameters, dataset parameters and software versions, its status, fit / predict seconds,
a digest of its predictions (when written from a store) and every metric. ``tasks_params.json`` maps each hash to
the JSON text it stands for (verbatim, as the store holds it) and records when the last task finished. Together
they hold everything the report reads from the store, so :func:`read_tasks` rebuilds the same results frame and
``catebench report --tasks-csv`` every table without the SQLite file. Both files are deterministic: rows sorted by dataset, replication, estimator, seed,
split and key, keys sorted, metrics at 10 significant digits and seconds at 4 (:func:`canonical`; the report
rounds the store's values the same way, so the tables built from the store and from ``tasks.csv`` are identical),
so rewriting them from the same results changes no byte.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_tasks", "export_store", "read_tasks", "canonical", "prediction_digests", "with_digests", "short_hash", "ID_COLUMNS",
           "METRIC_DIGITS", "SECONDS_DIGITS"]

#: Significant digits kept of every metric (far below any difference a table shows).
METRIC_DIGITS = 10
#: Significant digits kept of fit / predict seconds (timings on a shared machine are noisy in the 2nd digit).
SECONDS_DIGITS = 4

#: Identity and bookkeeping columns of ``tasks.csv``, in order; the metric columns follow, sorted.
ID_COLUMNS = ["key", "dataset", "dataset_version", "replication", "seed", "split", "estimator", "estimator_target",
              "params_hash", "dataset_params_hash", "versions_hash", "status", "n_fit", "n_test", "fit_seconds",
              "predict_seconds", "predictions_sha"]
#: Store columns that tasks.csv does not carry (free text and times that do not enter any table).
_DROPPED = {"error", "truth", "attempts", "finished_at", "random_state", "metrics"}
_SORT = ["dataset", "replication", "estimator", "seed", "split", "key"]
#: The hashed columns: tasks.csv column -> store column.
_HASHED = {"params_hash": "estimator_params", "dataset_params_hash": "dataset_params", "versions_hash": "versions"}


def short_hash(text: str) -> str:
    """First 12 hex digits of the SHA-256 of ``text`` (UTF-8)."""
    return hashlib.sha256(str(text).encode()).hexdigest()[:12]


def prediction_digests(store, keys) -> dict[str, str]:
    """``{key: digest}`` of the stored predictions (``mu0_hat`` then ``mu1_hat`` as float64 bytes), for keys with
    predictions; two tasks with the same digest predicted the same numbers."""
    out = {}
    for key in keys:
        try:
            pred = store.predictions(key)
        except KeyError:
            continue
        h = hashlib.sha256()
        for name in ("mu0_hat", "mu1_hat"):
            h.update(np.ascontiguousarray(pred[name], dtype=np.float64).tobytes())
        out[key] = h.hexdigest()[:16]
    return out


def with_digests(results: pd.DataFrame, store_path) -> pd.DataFrame:
    """``results`` with a ``predictions_sha`` column: the digest each row carries (rows imported from a tasks.csv,
    or read from one), else that of its predictions in the store at ``store_path`` (when it is a store file), else
    empty."""
    known = results["predictions_sha"].fillna("") if "predictions_sha" in results else pd.Series("", results.index)
    path = Path(store_path) if store_path else None
    if (known == "").any() and path is not None and path.suffix != ".csv" and path.is_file():
        from .store import Store

        store = Store(path, readonly=True)
        try:
            digests = prediction_digests(store, results.loc[known == "", "key"])
        finally:
            store.close()
        known = known.where(known != "", results["key"].map(digests).fillna(""))
    return results.assign(predictions_sha=known)


def _metric_columns(results: pd.DataFrame) -> list[str]:
    skip = set(ID_COLUMNS) | set(_HASHED.values()) | _DROPPED | {"dataset_target", "n_fit", "n_test"}
    return sorted(c for c in results.columns if c not in skip and pd.api.types.is_numeric_dtype(results[c]))


def _round(series: pd.Series, digits: int) -> pd.Series:
    v = pd.to_numeric(series, errors="coerce")
    return v.map(lambda x: float(f"{x:.{digits}g}") if np.isfinite(x) else x)


def canonical(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` with every metric rounded to :data:`METRIC_DIGITS` and the seconds to :data:`SECONDS_DIGITS`
    significant digits: the values ``tasks.csv`` holds, so a report from the store and one from the CSV agree to
    the byte. Rounding twice changes nothing."""
    out = results.copy()
    for m in _metric_columns(results):
        out[m] = _round(results[m], METRIC_DIGITS)
    for col in ("fit_seconds", "predict_seconds"):
        if col in out:
            out[col] = _round(results[col], SECONDS_DIGITS)
    return out


def write_tasks(results: pd.DataFrame, out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``tasks.csv`` and ``tasks_params.json`` for ``results`` (``Store.results()`` rows) into ``out_dir``.

    Returns
    -------
    (csv path, json path)
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = canonical(results)
    frame = pd.DataFrame(index=results.index)
    params: dict[str, dict[str, object]] = {col: {} for col in _HASHED.values()}
    for col in ID_COLUMNS:
        if col in _HASHED:
            src = results[_HASHED[col]].astype(str) if _HASHED[col] in results else pd.Series("", index=results.index)
            frame[col] = src.map(short_hash)
            for text, h in zip(src, frame[col]):
                params[_HASHED[col]][h] = text
        elif col in results:
            frame[col] = results[col]
        else:
            frame[col] = np.nan if col != "predictions_sha" else ""
    metrics = _metric_columns(results)
    for m in metrics:
        frame[m] = pd.to_numeric(results[m], errors="coerce")
    for col in ("replication", "seed"):
        frame[col] = frame[col].astype(int)
    for col in ("n_fit", "n_test"):
        frame[col] = pd.to_numeric(frame[col], errors="coerce").astype("Int64")
    frame = frame.sort_values(_SORT, kind="stable").reset_index(drop=True)
    csv_path, json_path = out / "tasks.csv", out / "tasks_params.json"
    last = str(results["finished_at"].max()) if "finished_at" in results and len(results) else ""
    doc = {"last_finished": last, "metrics": metrics,
           **{k: dict(sorted(v.items())) for k, v in params.items()}}
    # each file is written beside its place and then renamed over it: a process killed while writing leaves the
    # previous complete file, never half of one
    _replace(json_path, json.dumps(doc, indent=1, sort_keys=True) + "\n")
    _replace(csv_path, frame.to_csv(index=False, lineterminator="\n"))
    return csv_path, json_path


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(text)
    os.replace(tmp, path)


def export_store(store_path: str | Path, out_dir: str | Path) -> tuple[Path, Path, int]:
    """Write every row of the store at ``store_path`` (opened read-only, so a run may be writing to it) to
    ``out_dir/tasks.csv`` and ``tasks_params.json``, with the digests of their predictions: what
    ``catebench report --tasks-only`` writes. Returns (csv path, json path, number of rows)."""
    from .store import Store

    store = Store(store_path, readonly=True)
    try:
        results = store.results()
    finally:
        store.close()
    csv_path, json_path = write_tasks(with_digests(results, store_path), out_dir)
    return csv_path, json_path, len(results)


def read_tasks(csv_path: str | Path) -> pd.DataFrame:
    """The results frame of a ``tasks.csv`` (and the ``tasks_params.json`` beside it), shaped like
    ``Store.results()``: parameter and version JSON restored from their hashes, ``finished_at`` set to the last
    finish time for every row.

    Raises
    ------
    FileNotFoundError
        When either file is missing (the message names it).
    ValueError
        When the CSV lacks an identity column or names a hash the JSON does not hold.
    """
    csv_path = Path(csv_path)
    json_path = csv_path.with_name("tasks_params.json")
    for p in (csv_path, json_path):
        if not p.exists():
            raise FileNotFoundError(f"no per-task file at {p}; `catebench report` writes tasks.csv and "
                                    "tasks_params.json beside the leaderboard.")
    frame = pd.read_csv(csv_path, dtype={"key": str, "predictions_sha": str, "split": str, "dataset_version": str,
                                         **{h: str for h in _HASHED}}, float_precision="round_trip")
    missing = [c for c in ID_COLUMNS if c not in frame]
    if missing:
        raise ValueError(f"{csv_path} lacks the columns {missing}; expected {ID_COLUMNS} then the metrics")
    doc = json.loads(json_path.read_text())
    for col, src in _HASHED.items():
        table = doc.get(src, {})
        unknown = sorted(set(frame[col]) - set(table))
        if unknown:
            raise ValueError(f"{csv_path}: {col} {unknown[:3]} not in {json_path.name}")
        frame[src] = frame[col].map(table)
    frame["predictions_sha"] = frame["predictions_sha"].fillna("")
    frame["finished_at"] = doc.get("last_finished", "")
    return frame.drop(columns=list(_HASHED))
