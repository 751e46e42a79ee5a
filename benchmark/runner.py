"""The runner: plan tasks, skip finished ones, execute the rest, write each result as it arrives.

The driver process alone writes the store, one transaction per task, so a run killed at any point resumes
without duplicates or lost rows: rerunning the same config skips every task whose key is already stored with
status ``ok`` (and failed ones too, unless ``retry_failed``).

Workers run :func:`execute_task`: load the replication, split it, fit the estimator on the fit rows, predict
potential outcomes for every row, check them, and score them against the truth; for an estimator tagged
``generative``, also draw from ``sample`` and score the draws (distributional metrics, :mod:`catebench.benchmark.metrics`;
the sampling time is stored as ``sample_seconds``), and keep the estimator's numeric ``diagnostics_`` (if any) as
``diag_<name>`` entries beside the metrics. An exception anywhere in a task
becomes a ``failed`` row with its error text; the run goes on. Each task runs with one BLAS thread and one torch
thread, whatever the executor, so results do not depend on where a task ran.

Executors (``config.executor``, see :mod:`catebench.benchmark.executors`): ``local`` (default; ``n_jobs`` worker processes
the driver starts and controls), ``inline`` (in the driver's process) or ``dask`` (a ``LocalCluster`` on
127.0.0.1, or the scheduler at ``config.scheduler``). Faults seen from outside a task become rows too:
``timeout`` (longer than ``config.task_timeout`` seconds; the worker is stopped) and ``crashed`` (the worker
process died on every try; worker deaths are retried a bounded number of times). Whatever the executor, the
driver alone writes the store, and it holds the store's lock for the whole run, so a second run on the same store
is refused (:class:`~catebench.benchmark.store.StoreLocked`) instead of interleaving writes.

The local executor starts its workers with the "spawn" method, which imports the driver's ``__main__`` module in
each worker: a script that calls :func:`run` must do so under ``if __name__ == "__main__":``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import json
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from catebench.datasets.splits import get_split, split_indices

from .config import RunConfig
from .executors import make_executor
from .metrics import MAX_DIST_FIT_ROWS, N_DIST_SAMPLES, score, score_distribution
from .registry import import_object
from .store import Store, TaskResult
from .tasks import Task, catebench_version, plan_tasks

__all__ = ["execute_task", "run", "RunSummary", "Terminated", "TaskData", "task_data", "load_task_data",
           "check_datasets", "RemainingTime", "task_cost", "limit_threads"]


@functools.lru_cache(maxsize=1)
def software_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "catebench": catebench_version(), "platform": platform.platform()}
    for pkg in ("numpy", "scikit-learn", "torch", "econml", "causalml"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


@functools.lru_cache(maxsize=4)
def _load_replication(target: str, params_json: str, replication: int):
    import json

    dataset = import_object(target)(**json.loads(params_json))
    return dataset.load(replication)


_LIMITED_AT: int | None = None  # len(sys.modules) when the thread limits were last applied


def limit_threads() -> None:
    """One BLAS/OpenMP thread and one torch thread in this process.

    The runner calls it in every task (workers and inline runs); a study that times or runs estimators in its own
    process calls it too, so that its numbers are comparable with the runner's. ``threadpoolctl`` scans every
    loaded shared library (about 25 ms with torch loaded), so the limits are applied again only when a module was
    imported since the last call: a BLAS or OpenMP runtime is loaded by the import of an extension module, and a
    limit once set stays set.
    """
    global _LIMITED_AT
    if len(sys.modules) != _LIMITED_AT:
        threadpool_limits(1)
        _LIMITED_AT = len(sys.modules)
    if "torch" in sys.modules:
        import torch

        if torch.get_num_threads() != 1:
            torch.set_num_threads(1)


def _error_text(exc: BaseException) -> str:
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    text = "".join(tb[-4:])
    return f"{type(exc).__name__}: {exc}\n{text}"[-4000:]


def execute_task(task: Task) -> TaskResult:
    """Run one task; never raises for a fault of the estimator or dataset (it becomes a ``failed`` result)."""
    versions = software_versions()
    try:
        limit_threads()
        td = task_data(task)  # the public way to get exactly this data and split
        data, split, fit_idx, test_idx = td.data, td.split, td.fit_idx, td.test_idx
        truth, a0, a1 = data.truth
        cls = import_object(task.estimator_target)
        est = cls(**task.estimator_params, random_state=task.random_state)
        limit_threads()  # an estimator module may have imported torch just now
        t0 = time.perf_counter()
        tuning = None
        if task.tuning_json:  # tuned task: select on validation rows of the fit rows only, then refit
            from .tuning import tune_task

            tuning = tune_task(task, cls, *td.fit, split.validation_fraction, td.split_seed)
            est = cls(**{**task.estimator_params, **tuning.chosen_params}, random_state=task.random_state)
        est.fit(*td.fit)
        t1 = time.perf_counter()
        mu0_hat, mu1_hat = est.predict(data.X)
        t2 = time.perf_counter()
        metrics = score(a0, a1, mu0_hat, mu1_hat, fit_idx, test_idx)
        if est.catebench_tags().generative and data.y0 is not None:
            t3 = time.perf_counter()
            metrics.update(_distribution_scores(est, data, fit_idx, test_idx, td.split_seed))
            metrics["sample_seconds"] = time.perf_counter() - t3
        bad = [k for k, v in metrics.items() if not np.isfinite(v)]
        if bad:
            raise ValueError(f"non-finite metric(s) {bad}")
        metrics.update(_diagnostics(est))
        extra = {} if tuning is None else tuning.blob()
        if tuning is not None:
            metrics.update(tuning.metrics())
        return TaskResult(
            key=task.key, status="ok", metrics=metrics, truth=truth, n_fit=len(fit_idx), n_test=len(test_idx),
            fit_seconds=t1 - t0, predict_seconds=t2 - t1, versions=versions,
            predictions={"mu0_hat": mu0_hat, "mu1_hat": mu1_hat, "fit_idx": fit_idx, "test_idx": test_idx, **extra},
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - any estimator fault is recorded, not raised
        return TaskResult(key=task.key, status="failed", error=_error_text(exc), versions=versions)


def _distribution_scores(est, data, fit_idx: np.ndarray, test_idx: np.ndarray, split_seed: int) -> dict[str, float]:
    """Distributional metrics of a generative estimator (:func:`catebench.benchmark.metrics.score_distribution`): draws on
    every test row and on a seeded subsample of at most ``MAX_DIST_FIT_ROWS`` fit rows."""
    from catebench.datasets.base import derive_seed

    fit_rows = fit_idx
    if len(fit_idx) > MAX_DIST_FIT_ROWS:
        rng = np.random.default_rng(derive_seed("distribution-rows", split_seed))
        fit_rows = np.sort(rng.choice(fit_idx, size=MAX_DIST_FIT_ROWS, replace=False))
    rows = np.concatenate([fit_rows, test_idx])
    d0, d1 = est.sample(data.X[rows], N_DIST_SAMPLES)
    return score_distribution(data, d0, d1, fit_rows, test_idx)


def _diagnostics(est) -> dict[str, float]:
    """An estimator's finite numeric ``diagnostics_`` (e.g. early-stopping steps), stored as ``diag_<name>``."""
    diag = getattr(est, "diagnostics_", None) or {}
    out = {}
    for k, v in diag.items():
        if isinstance(v, (int, float, np.integer, np.floating)) and np.isfinite(v):
            out[f"diag_{k}"] = float(v)
    return out


@dataclasses.dataclass(frozen=True)
class TaskData:
    """One replication and its split, exactly as the runner hands them to an estimator.

    Attributes
    ----------
    data : catebench.datasets.base.CausalData
        The whole replication: ``X`` (n, d), ``t`` (n,), ``y`` (n,) and the truth.
    split : catebench.datasets.splits.Split
        The split protocol; ``split.validation_fraction`` is what the runner passes to an estimator tagged
        ``uses_validation`` (as ``validation_fraction``).
    fit_idx, test_idx : (n_fit,), (n_test,) int arrays
        Rows the estimator is fit on (train + validation) and the held-out test rows.
    random_state : int
        The ``random_state`` the runner gives the estimator for this replication and seed.
    split_seed : int
        The replication's split seed: it draws the split and, for a tuned task, the validation rows of the fit rows.
    """

    data: Any
    split: Any
    fit_idx: np.ndarray
    test_idx: np.ndarray
    random_state: int
    split_seed: int

    @property
    def fit(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, t, y)`` of the fit rows: what ``estimator.fit`` receives."""
        d = self.data
        return d.X[self.fit_idx], d.t[self.fit_idx], d.y[self.fit_idx]


def task_data(task: Task) -> TaskData:
    """The data and split of a planned task (:func:`catebench.benchmark.tasks.plan_tasks`), as :func:`execute_task` uses them."""
    data = _load_replication(task.dataset_target, task.dataset_load_json, task.replication)
    split = get_split(task.split)
    split_seed = _split_seed(task)
    fit_idx, test_idx = split_indices(data.n, split, split_seed, data.test_mask)
    return TaskData(data, split, fit_idx, test_idx, task.random_state, split_seed)


def load_task_data(dataset: str, replication: int, split: str = "63/27/10", params: dict | None = None,
                   seed: int = 0, seed_index: int = 0) -> TaskData:  # fmt: skip
    """A replication's data and split exactly as a run would use them, without running anything.

    Parameters
    ----------
    dataset : str
        A registered dataset name (``catebench list``) or ``"module:Class"``.
    replication : int
        Replication number (1-based, as in configs).
    split : str, default "63/27/10"
        Split protocol, as in a config.
    params : dict or None, default None
        Dataset parameters, as a config's ``params``.
    seed, seed_index : int, default 0
        The config's ``seed`` and the repetition (0 .. ``seeds`` - 1); they set ``random_state`` only.

    Returns
    -------
    TaskData
        ``fit`` gives ``(X, t, y)`` of the fit rows; ``data.X[test_idx]`` are the rows scored out of sample.

    Examples
    --------
    >>> td = load_task_data("ihdp", 1)                               # doctest: +SKIP
    >>> est = MyEstimator(random_state=td.random_state).fit(*td.fit)  # doctest: +SKIP
    """
    from .config import DatasetSpec, EstimatorSpec

    config = RunConfig(name="load_task_data", seed=seed, seeds=seed_index + 1,
                       datasets=[DatasetSpec(dataset, (int(replication),), split, dict(params or {}))],
                       estimators=[EstimatorSpec(f"{__name__}:_Placeholder")]).validate()  # fmt: skip
    (task,) = [t for t in plan_tasks(config) if t.seed == seed_index]
    return task_data(task)


def check_datasets(tasks: list[Task]) -> list[str]:
    """Load the first planned replication of every dataset of the plan, before any task runs.

    A missing or corrupt data file then stops the run at once with the dataset's own message (file, expected
    sha256 and directory, in full) instead of becoming one failed task per replication. Raises
    :class:`~catebench.datasets.base.DatasetUnavailable` (a ``FileNotFoundError``) or ``ValueError``.

    Returns
    -------
    list of str
        The warnings the loaders gave (e.g. a data file without a pinned digest), each issued here once; local
        workers do not repeat them.
    """
    import warnings

    from catebench.datasets.base import DatasetUnavailable

    first: dict[tuple[str, str, str], int] = {}
    for t in tasks:
        ident = (t.dataset, t.dataset_target, t.dataset_load_json)
        first[ident] = min(first.get(ident, t.replication), t.replication)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for (name, target, params_json), rep in first.items():
            try:
                _load_replication(target, params_json, rep)
            except DatasetUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - any loader fault stops the run before it starts
                raise ValueError(f"dataset {name!r} (replication {rep}) cannot be loaded: {type(exc).__name__}: "
                                 f"{exc}") from None  # fmt: skip
    messages = []
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        messages.append(str(w.message))
    return messages


def _split_seed(task: Task) -> int:
    from catebench.datasets.base import derive_seed

    return derive_seed("split", task.dataset, task.dataset_version, task.dataset_params_json, task.replication)


@dataclasses.dataclass
class RunSummary:
    planned: int = 0
    skipped: int = 0
    ok: int = 0
    failed: int = 0  # every row that is not ok: failed, timeout and crashed
    timeout: int = 0
    crashed: int = 0
    seconds: float = 0.0
    store: str = ""
    imported: int = 0  # rows taken from resume_from files

    def _detail(self) -> str:
        parts = [f"{n} {what}" for what, n in (("timed out", self.timeout), ("crashed", self.crashed)) if n]
        return f" ({', '.join(parts)})" if parts else ""

    def __str__(self) -> str:
        return (
            f"{self.planned} tasks planned, {self.skipped} already in the store"
            + (f" ({self.imported} imported from per-task files)" if self.imported else "") + f", {self.ok} ran ok, "
            f"{self.failed} failed{self._detail()}; {self.seconds:.1f} s; store: {self.store}"
        )


def run(
    config: RunConfig,
    store: Store | str | None = None,
    *,
    retry_failed: bool = False,
    progress: bool = True,
    on_result: Callable[[Task, TaskResult], None] | None = None,
    label_conflict: str = "refuse",
    resume_from: Sequence[str | os.PathLike] = (),
    teacher_cache: str | os.PathLike | None = None,
) -> RunSummary:
    """Run every task of ``config`` that the store does not already hold; return a :class:`RunSummary`.

    ``teacher_cache``: a directory where the diffusion teacher trained by one IWDD-family task is kept for the
    others of the same task that would train exactly the same one (:mod:`catebench.estimators.iwdd.teacher_cache`):
    results are bit-identical, such tasks store ``diag_teacher_from_cache`` = 1 and a fit time without the
    teacher's training. Workers of the local and inline executors use it; dask workers use it where
    ``$CATEBENCH_TEACHER_CACHE`` is set on them.

    ``resume_from``: per-task files (``tasks.csv``, with the ``tasks_params.json`` beside it) of an earlier run of
    the same tasks, for example a long run's committed progress made on another machine: their ``ok`` rows whose
    key belongs to this plan are written into the store first (:func:`import_finished`), so only the rest runs.

    ``label_conflict``: what to do when a label of the plan already names another estimator configuration (other
    parameters) on the same dataset in the store: ``"refuse"`` (the default, as in the CLI: ``ValueError`` naming
    both, before anything runs) or ``"warn"`` (the CLI's ``--allow-label-conflict``: a warning naming both; reports
    then show the configurations apart, :mod:`catebench.benchmark.store`).

    SIGTERM during the run unwinds as Ctrl-C does (:class:`Terminated`, a ``KeyboardInterrupt``): the workers are
    stopped, the store is checkpointed and its lock released. Local workers also exit by themselves when the driver
    dies without clean-up (SIGKILL).
    """
    if label_conflict not in ("warn", "refuse"):
        raise ValueError(f"label_conflict must be 'warn' or 'refuse'; got {label_conflict!r}.")
    start = time.perf_counter()
    # everything is validated before the store is created or touched: estimator names and parameters,
    # datasets and their files, then the store path and its labels
    tasks = plan_tasks(config)
    said = check_datasets(tasks)
    own = not isinstance(store, Store)
    store = Store(store or config.store) if own else store
    try:
        if label_conflict == "refuse":
            store.check_labels(tasks)
        else:
            import warnings

            for message in store.label_conflicts_with(tasks):
                warnings.warn(f"{message}; reports show the two apart.", UserWarning, stacklevel=2)
        summary = RunSummary(planned=len(tasks), store=str(store.path))
        with _sigterm_as_interrupt(), store.exclusive():
            for path in resume_from:
                summary.imported += import_finished(store, tasks, path)
            done = store.statuses()
            todo = [t for t in tasks if not (t.key in done and (done[t.key] == "ok" or not retry_failed))]
            summary.skipped = len(tasks) - len(todo)
            if todo:
                with _teacher_cache_env(teacher_cache):
                    _drive(config, store, todo, summary, progress, on_result, said)
    finally:
        if own:
            store.close()
    summary.seconds = time.perf_counter() - start
    return summary


@contextlib.contextmanager
def _teacher_cache_env(path):
    """``$CATEBENCH_TEACHER_CACHE`` set to ``path`` (absolute) for the block, so that the workers started in it see
    it; unchanged when ``path`` is None."""
    if path is None:
        yield
        return
    from catebench.estimators.iwdd.teacher_cache import ENV

    before = os.environ.get(ENV)
    os.environ[ENV] = str(Path(path).resolve())
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before


def import_finished(store: Store, tasks: list[Task], tasks_csv: str | os.PathLike) -> int:
    """Write the ``ok`` rows of ``tasks_csv`` (:mod:`catebench.benchmark.taskfile`) whose key is one of ``tasks``
    and not yet in ``store`` into it; return how many.

    A row's identity (dataset, parameters, estimator, seed) is the planned task's, its results (status, metrics,
    seconds, versions, prediction digest) the file's; the predictions themselves are not in the file, so an
    imported row has none (``Store.predictions`` raises ``KeyError`` for it). Rows of other tasks are ignored:
    a key names everything that determines a result, so a matching key is the same task.
    """
    import pandas as pd

    from .taskfile import read_tasks

    frame = read_tasks(tasks_csv)
    planned = {t.key: t for t in tasks}
    have = store.statuses()
    frame = frame[(frame["status"] == "ok") & frame["key"].isin(planned) & ~frame["key"].isin(have)]
    metrics = [c for c in json.loads(Path(tasks_csv).with_name("tasks_params.json").read_text()).get("metrics", [])
               if c in frame]
    for row in frame.to_dict("records"):
        values = {m: float(row[m]) for m in metrics if pd.notna(row[m])}
        sha = row.get("predictions_sha")
        if isinstance(sha, str) and sha:  # an empty cell reads as NaN
            values["predictions_sha"] = sha
        result = TaskResult(key=row["key"], status="ok", metrics=values,
                            n_fit=None if pd.isna(row["n_fit"]) else int(row["n_fit"]),
                            n_test=None if pd.isna(row["n_test"]) else int(row["n_test"]),
                            fit_seconds=None if pd.isna(row["fit_seconds"]) else float(row["fit_seconds"]),
                            predict_seconds=None if pd.isna(row["predict_seconds"]) else float(row["predict_seconds"]),
                            versions=json.loads(row["versions"]))  # fmt: skip
        store.write(planned[row["key"]], result)
    return len(frame)


class Terminated(KeyboardInterrupt):
    """Raised in the driver by SIGTERM during :func:`run`: it unwinds as Ctrl-C does (workers stopped, store
    checkpointed, lock released), so a ``kill`` leaves no orphan worker and loses no finished row."""


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """While the block runs in the main thread, SIGTERM raises :class:`Terminated` instead of ending the process at
    once (Python's default skips every ``finally``, leaving the workers running as orphans)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(f"terminated by signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def task_cost(result: TaskResult) -> float:
    """Seconds a finished task spent in the estimator: fit (tuning included), predict and sampling."""
    return float((result.fit_seconds or 0.0) + (result.predict_seconds or 0.0)
                 + (result.metrics or {}).get("sample_seconds", 0.0))  # fmt: skip


class RemainingTime:
    """Remaining wall seconds of a run, from each task's expected cost rather than from the rate so far.

    Tasks of one estimator cost about the same; tasks of different estimators differ by orders of magnitude
    (IWDD against OLS), and plan order bunches them, so a rate-based estimate swings far both ways. Each task's
    cost is the mean of its (label, dataset) in the store and in this run, else its label's mean on other
    datasets, else the mean of every known cost. The time a task spends outside the estimator (loading, scoring,
    sending) is learnt as one overhead per task: the workers' wall time not explained by finished tasks' costs.

    Parameters
    ----------
    tasks : list of Task
        The tasks still to run.
    known : dict
        ``{(label, dataset): seconds}`` from the store (:meth:`Store.task_seconds`).
    n_workers : int
        Tasks that run at once.
    """

    def __init__(self, tasks: list[Task], known: dict[tuple[str, str], float], n_workers: int = 1):
        self._sums = {k: [v, 1] for k, v in known.items()}
        self._pending: dict[str, tuple[str, str]] = {t.key: (t.estimator, t.dataset) for t in tasks}
        self.n_workers = max(1, int(n_workers))
        self._n_done = 0
        self._done_cost = 0.0

    def _mean(self, key) -> float:
        total, n = self._sums[key]
        return total / n

    def expected(self, task: Task) -> float | None:
        """Expected estimator seconds of ``task`` (None when nothing at all is known yet)."""
        return self._expected((task.estimator, task.dataset))

    def _expected(self, key: tuple[str, str]) -> float | None:
        if key in self._sums:
            return self._mean(key)
        same_label = [self._mean(k) for k in self._sums if k[0] == key[0]]
        if same_label:
            return float(np.mean(same_label))
        if self._sums:
            return float(np.mean([self._mean(k) for k in self._sums]))
        return None

    def done(self, task: Task, result: TaskResult) -> None:
        """Record a finished task (its cost counts only when it ran ``ok``)."""
        self._pending.pop(task.key, None)
        self._n_done += 1
        if result.status == "ok":
            cost = task_cost(result)
            self._done_cost += cost
            entry = self._sums.setdefault((task.estimator, task.dataset), [0.0, 0])
            entry[0] += cost
            entry[1] += 1

    def remaining(self, elapsed: float) -> float | None:
        """Expected wall seconds until the last task finishes, ``elapsed`` seconds into the run; None if unknown."""
        if not self._pending:
            return 0.0
        if not self._n_done:
            return None
        overhead = max(0.0, (elapsed * self.n_workers - self._done_cost) / self._n_done)
        total = 0.0
        for key, n in collections.Counter(self._pending.values()).items():
            cost = self._expected(key)
            if cost is None:
                return None
            total += n * (cost + overhead)
        return total / min(self.n_workers, len(self._pending))


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60:02d}:{s % 60:02d}"


def _drive(config, store, todo: list[Task], summary: RunSummary, progress: bool, on_result,
           said: list[str] = ()) -> None:  # fmt: skip
    from tqdm.auto import tqdm

    fmt = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]"
    bar = tqdm(total=len(todo), desc=config.name, unit="task", disable=not progress, dynamic_ncols=True,
               bar_format=fmt)  # fmt: skip
    n_workers = 1 if config.executor == "inline" else config.n_jobs
    eta = RemainingTime(todo, store.task_seconds() if progress else {}, n_workers)
    t0 = time.perf_counter()
    executor = make_executor(config, quiet=said)
    try:
        for task, result in executor.run(execute_task, todo):
            store.write(task, result)
            eta.done(task, result)
            if result.status == "ok":
                summary.ok += 1
            else:
                summary.failed += 1
                if result.status in ("timeout", "crashed"):
                    setattr(summary, result.status, getattr(summary, result.status) + 1)
                bar.write(f"[{result.status}] {task.estimator} on {task.dataset} rep {task.replication}: "
                          f"{((result.error or '').splitlines() or [''])[0]}")  # fmt: skip
            if on_result is not None:
                on_result(task, result)
            bar.set_postfix_str(f"eta {_fmt_seconds(eta.remaining(time.perf_counter() - t0))}, failed={summary.failed}",
                                refresh=False)  # fmt: skip
            bar.update(1)
    finally:
        executor.close()
        bar.close()



from catebench.estimators.base import CATEEstimator as _CATEEstimator  # noqa: E402 - only for the placeholder below


class _Placeholder(_CATEEstimator):
    """Stands in for an estimator when :func:`load_task_data` plans a task (never fitted)."""

    def __init__(self, random_state=None):
        self.random_state = random_state
