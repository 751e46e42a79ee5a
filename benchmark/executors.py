"""Where tasks run: in the driver process, in local worker processes (loky), or on a dask cluster.

Every executor has one method, ``run(fn, tasks)``, yielding ``(task, TaskResult)`` pairs as tasks finish (in any
order). An executor turns faults it can see (a worker process that died) into result rows itself; faults inside
a task are already turned into ``failed`` rows by the task function.
"""

from __future__ import annotations

import os
from typing import Callable, Iterator, Sequence

from .store import TaskResult

__all__ = ["make_executor", "InlineExecutor", "LocalExecutor", "DaskExecutor"]

# Environment for worker processes: one thread per BLAS / OpenMP pool. (torch is limited inside each task.)
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def make_executor(config):
    if config.executor == "inline":
        return InlineExecutor()
    if config.executor == "dask":
        return DaskExecutor(config.n_jobs, config.scheduler)
    return LocalExecutor(config.n_jobs)


class InlineExecutor:
    """Run tasks one after another in this process (for debugging and tiny runs)."""

    def run(self, fn: Callable, tasks: Sequence) -> Iterator[tuple[object, TaskResult]]:
        for task in tasks:
            yield task, fn(task)

    def close(self) -> None:
        pass


class LocalExecutor:
    """``n_jobs`` local worker processes (loky, as used by joblib), one thread each."""

    def __init__(self, n_jobs: int, max_attempts: int = 2):
        self.n_jobs = n_jobs
        self.max_attempts = max_attempts
        self._executor = None

    def _get(self):
        from joblib.externals.loky import get_reusable_executor

        for k, v in WORKER_ENV.items():
            os.environ.setdefault(k, v)
        self._executor = get_reusable_executor(max_workers=self.n_jobs, timeout=60, env=WORKER_ENV)
        return self._executor

    def run(self, fn, tasks):
        from concurrent.futures import FIRST_COMPLETED, wait

        queue = list(tasks)[::-1]
        attempts: dict[str, int] = {}
        pending: dict = {}
        window = 2 * self.n_jobs
        while queue or pending:
            ex = self._get()
            while queue and len(pending) < window:
                task = queue.pop()
                attempts[task.key] = attempts.get(task.key, 0) + 1
                pending[ex.submit(fn, task)] = task
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in finished:
                task = pending.pop(fut)
                try:
                    result = fut.result()
                except Exception as exc:  # the worker process died (e.g. killed, segfault, out of memory)
                    if attempts[task.key] < self.max_attempts:
                        queue.append(task)
                        continue
                    result = TaskResult(
                        key=task.key, status="crashed", attempts=attempts[task.key],
                        error=f"worker process died: {type(exc).__name__}: {exc}",
                    )  # fmt: skip
                result.attempts = attempts[task.key]
                yield task, result

    def close(self) -> None:
        pass  # the reusable executor shuts itself down after its idle timeout


class DaskExecutor:
    """Tasks on a dask cluster: an existing scheduler (``address``) or a ``LocalCluster`` on 127.0.0.1."""

    def __init__(self, n_workers: int, address: str | None = None):
        from distributed import Client, LocalCluster

        self._cluster = None
        if address:
            self.client = Client(address)
        else:
            self._cluster = LocalCluster(
                n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, env=WORKER_ENV,
            )  # fmt: skip
            self.client = Client(self._cluster)

    def run(self, fn, tasks):
        from distributed import as_completed

        futures = {self.client.submit(fn, t, key=f"catebench-{t.key}", pure=False): t for t in tasks}
        for fut in as_completed(futures):
            task = futures[fut]
            try:
                result = fut.result()
            except Exception as exc:  # the task's worker died more times than dask allows
                result = TaskResult(key=task.key, status="crashed", error=f"{type(exc).__name__}: {exc}")
            yield task, result

    def close(self) -> None:
        self.client.close()
        if self._cluster is not None:
            self._cluster.close()
