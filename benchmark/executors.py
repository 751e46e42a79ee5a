"""Where tasks run: in the driver process, in local worker processes, or on a dask cluster.

Every executor has one method, ``run(fn, tasks)``, yielding ``(task, TaskResult)`` pairs as tasks finish (in any
order), and ``close()``. An executor turns faults it can see from outside a task into result rows itself:

``timeout``
    the task ran longer than ``task_timeout`` seconds; its worker process was killed (local) or retired and
    restarted by its nanny (dask).
``crashed``
    the worker process running the task died (``os._exit``, SIGKILL, segfault, out of memory) on every one of
    ``max_attempts`` tries. A worker death is first taken as transient and the task is retried.

Faults inside a task (an exception, NaN output, a wrong shape) are already turned into ``failed`` rows by the task
function (:func:`catebench.benchmark.runner.execute_task`). Executors never touch the store: the driver alone writes it.

How the local time limit works
------------------------------
:class:`LocalExecutor` does not use a pool that hides its processes (loky, ``concurrent.futures``): it starts
``n_jobs`` worker processes itself (``multiprocessing`` "spawn" context, one duplex pipe each) and sends each
worker one task at a time. The driver therefore always knows which task each process is running. It waits on the
pipes and the process sentinels together; when a task passes its deadline, the driver SIGKILLs that one process,
records ``timeout`` and starts a fresh worker; when a process dies, exactly the task it was running is blamed
(never a bystander) and is retried up to ``max_attempts`` times in total. If the driver itself dies, the workers
see their pipe close and exit.

GPU placement
-------------
When torch sees CUDA devices and some task's estimator is tagged ``torch``, the first ``min(n_jobs, n_gpus)``
local workers are pinned to one GPU each (``CUDA_VISIBLE_DEVICES``) and torch tasks go only to those workers, so
a device runs one GPU task at a time; the other workers see no GPU and take the CPU tasks. On dask, torch tasks
ask for the worker resource ``GPU=1`` when any worker advertises it (``dask worker --resources GPU=1``).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
import threading
import time
from multiprocessing.connection import wait as mp_wait
from typing import Callable, Iterator, Sequence

from .store import TaskResult

__all__ = ["make_executor", "InlineExecutor", "LocalExecutor", "DaskExecutor", "WORKER_ENV", "DEFAULT_MAX_ATTEMPTS"]

# Environment for worker processes: one thread per BLAS / OpenMP pool. (torch is limited inside each task.)
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

#: Tries of a task whose worker process dies (the first try included) before it is recorded as ``crashed``.
DEFAULT_MAX_ATTEMPTS = 2


def make_executor(config, quiet: Sequence[str] = ()):
    """The executor named by ``config.executor`` ("local", "inline" or "dask"), with its ``task_timeout``.

    ``quiet``: warning messages the driver has already given (local workers do not repeat them).
    """
    timeout = config.task_timeout
    if config.executor == "inline":
        return InlineExecutor(timeout)
    if config.executor == "dask":
        return DaskExecutor(config.n_jobs, config.scheduler, task_timeout=timeout)
    return LocalExecutor(config.n_jobs, task_timeout=timeout, quiet=quiet)


def _crashed(task, attempts: int, why: str) -> TaskResult:
    return TaskResult(key=task.key, status="crashed", attempts=attempts, error=why)


def _timed_out(task, attempts: int, limit: float) -> TaskResult:
    return TaskResult(
        key=task.key, status="timeout", attempts=attempts,
        error=f"timeout: the task ran longer than task_timeout={limit:g} s and its worker was stopped",
    )  # fmt: skip


def _is_torch_task(task) -> bool:
    try:
        from .registry import import_object

        cls = import_object(task.estimator_target)
        if task.estimator_params.get("device") == "cpu":
            return False  # a torch estimator pinned to the CPU needs no GPU slot
        return bool(cls(**task.estimator_params).catebench_tags().torch)
    except Exception:  # noqa: BLE001 - an unimportable estimator fails inside its task, not here
        return False


def _cuda_device_count(tasks) -> int:
    """CUDA devices torch sees, checked only when some task is a torch task (torch is not imported otherwise)."""
    if not any(_is_torch_task(t) for t in tasks):
        return 0
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001
        return 0


# ---- inline -------------------------------------------------------------------------------------------------
class InlineExecutor:
    """Run tasks one after another in this process (for debugging and tiny runs).

    Parameters
    ----------
    task_timeout : float or None, default None
        Cannot stop a running task in the driver's own process: a task that took longer is still recorded,
        but as ``timeout`` (its result is dropped). Use the local executor to bound hanging tasks.
    """

    def __init__(self, task_timeout: float | None = None):
        self.task_timeout = task_timeout

    def run(self, fn: Callable, tasks: Sequence) -> Iterator[tuple[object, TaskResult]]:
        for task in tasks:
            t0 = time.monotonic()
            result = fn(task)
            if self.task_timeout is not None and time.monotonic() - t0 > self.task_timeout:
                result = _timed_out(task, 1, self.task_timeout)
            yield task, result

    def close(self) -> None:
        pass


# ---- local processes ----------------------------------------------------------------------------------------
def _worker_main(conn, env: dict, parent: int | None = None, death_signal: bool = False,
                 quiet: Sequence[str] = ()) -> None:  # fmt: skip
    """Loop of a local worker process: receive ``(fn, task)``, send back ``fn(task)``; exit when the pipe closes.

    ``parent`` is the driver's process id; with ``death_signal`` the kernel kills this process the moment the
    driver's thread that started it ends (Linux), else a watcher thread polls for the driver's death. Warnings
    whose message is in ``quiet`` were already given by the driver and are not repeated.
    """
    import re
    import warnings

    for message in quiet:
        warnings.filterwarnings("ignore", message=re.escape(message) + r"\Z")
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    if death_signal:
        _kill_with_parent()
    _exit_with_parent(parent=parent)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return  # the driver closed the pipe or died
        if msg is None:
            return
        fn, task = msg
        _preimport(task)
        try:
            conn.send(("started", task.key))
        except (BrokenPipeError, OSError):
            return
        try:
            result = fn(task)
        except Exception as exc:  # noqa: BLE001 - fn should not raise; if it does, the task failed, not the worker
            result = TaskResult(key=task.key, status="failed", error=f"{type(exc).__name__}: {exc}")
        try:
            conn.send(("done", result))
        except (BrokenPipeError, OSError):
            return


#: Linux ``prctl`` options: the signal a process gets when its parent ends, and reading it back.
PR_SET_PDEATHSIG, PR_GET_PDEATHSIG = 1, 2


def _kill_with_parent() -> bool:
    """Ask the kernel to SIGKILL this process when the thread that started it ends (Linux ``PR_SET_PDEATHSIG``):
    a killed driver takes its busy workers with it at once, however loaded the machine. False where unsupported."""
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _exit_with_parent(poll: float = 0.1, parent: int | None = None) -> None:
    """End this worker process when its driver dies, even mid-task (a SIGKILLed or SIGTERMed driver runs no clean-up):
    a daemon thread notices the change of parent process and exits at once, so no orphan keeps computing. Where the
    kernel's death signal is set (:func:`_kill_with_parent`) this thread is only the fallback."""
    parent = os.getppid() if parent is None else parent
    if os.getppid() != parent:  # the driver died before this worker got here
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(poll)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="catebench-parent-watch", daemon=True).start()


def _preimport(task) -> None:
    """Import the task's estimator module before its clock starts: a cold worker's imports are not the task's time."""
    target = getattr(task, "estimator_target", None)
    if target:
        try:
            from .registry import import_object

            import_object(target)
        except Exception:  # noqa: BLE001 - the task itself reports an unimportable estimator
            pass


class _Slot:
    """One worker process and the task it is running."""

    def __init__(self, ctx, env: dict, gpu: int | None, quiet: Sequence[str] = ()):
        self.gpu = gpu
        self.quiet = tuple(quiet)
        self.env = dict(env)
        self.env["CUDA_VISIBLE_DEVICES"] = "" if gpu is None else str(gpu)
        parent, child = ctx.Pipe(duplex=True)
        # A spawned child copies os.environ at start: set the worker's variables for the moment of the start.
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            # the kernel's death signal follows the starting thread: only the main thread's workers use it
            death_signal = threading.current_thread() is threading.main_thread()
            self.proc = ctx.Process(target=_worker_main, args=(child, self.env, os.getpid(), death_signal, self.quiet),
                                    daemon=True,
                                    name="catebench-worker")  # fmt: skip
            self.proc.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        child.close()
        self.conn = parent
        self.task = None
        self.deadline: float | None = None

    def submit(self, fn, task, timeout: float | None) -> None:
        self.task = task
        self.deadline = None  # the clock starts when the worker reports "started" (not while it boots)
        self.conn.send((fn, task))

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.proc.kill()
        self.proc.join(5)
        with contextlib.suppress(Exception):
            self.conn.close()

    def stop(self) -> None:
        """Ask an idle worker to exit; kill it if it does not."""
        with contextlib.suppress(Exception):
            self.conn.send(None)
        self.proc.join(2)
        if self.proc.is_alive():
            self.kill()
        with contextlib.suppress(Exception):
            self.conn.close()


def _pick(queue: list, gpu_worker: bool, gpu_keys: set) -> int | None:
    """Index in ``queue`` (next task last) of the task an idle worker takes, or None.

    A GPU worker takes the next GPU task, else the next CPU task; a CPU worker takes only CPU tasks.
    """
    cpu = None
    for i in range(len(queue) - 1, -1, -1):
        is_gpu = queue[i].key in gpu_keys
        if is_gpu and gpu_worker:
            return i
        if not is_gpu and cpu is None:
            cpu = i
            if not gpu_worker:
                return i
    return cpu


class LocalExecutor:
    """``n_jobs`` local worker processes, one task each at a time, with a per-task time limit.

    Parameters
    ----------
    n_jobs : int
        Worker processes (each with one BLAS / OpenMP / torch thread).
    task_timeout : float or None, default None
        Seconds a task may run (from the moment its worker starts it, after importing its estimator's module) before the worker is killed and the task
        recorded as ``timeout``. None: no limit.
    max_attempts : int, default 2
        Tries of a task whose worker process dies, the first included; after the last it is ``crashed``.
    start_method : str, default "spawn"
        ``multiprocessing`` start method of the workers ("spawn" or "forkserver"; "fork" is unsafe with threads).
    quiet : sequence of str, default ()
        Warning messages the driver has already given; the workers do not repeat them.
    """

    def __init__(self, n_jobs: int, task_timeout: float | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 start_method: str = "spawn", quiet: Sequence[str] = ()):  # fmt: skip
        if not isinstance(n_jobs, int) or n_jobs < 1:
            raise ValueError(f"n_jobs must be a positive integer; got {n_jobs!r}.")
        if task_timeout is not None and not task_timeout > 0:
            raise ValueError(f"task_timeout must be positive seconds or None; got {task_timeout!r}.")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be a positive integer; got {max_attempts!r}.")
        self.n_jobs = n_jobs
        self.task_timeout = task_timeout
        self.max_attempts = max_attempts
        self._ctx = mp.get_context(start_method)
        self.quiet = tuple(quiet)
        self._slots: list[_Slot] = []

    def run(self, fn, tasks):
        tasks = list(tasks)
        n_gpus = min(self.n_jobs, _cuda_device_count(tasks))
        gpu_keys = {t.key for t in tasks if _is_torch_task(t)} if n_gpus else set()
        n_workers = min(self.n_jobs, max(len(tasks), 1))
        gpus = list(range(n_gpus)) + [None] * (n_workers - min(n_gpus, n_workers))
        self._slots = slots = [_Slot(self._ctx, WORKER_ENV, g, self.quiet) for g in gpus[:n_workers]]
        queue = list(reversed(tasks))  # pop() from the end: tasks start in plan order
        attempts: dict[str, int] = {}
        try:
            while queue or any(s.task is not None for s in slots):
                # hand out work: GPU tasks only to GPU workers, CPU tasks to any idle worker
                for s in slots:
                    if s.task is not None or not queue:
                        continue
                    pick = _pick(queue, s.gpu is not None, gpu_keys)
                    if pick is None:
                        continue
                    task = queue.pop(pick)
                    attempts[task.key] = attempts.get(task.key, 0) + 1
                    try:
                        s.submit(fn, task, self.task_timeout)
                    except (BrokenPipeError, OSError):
                        pass  # the worker is already dead: found below through its sentinel
                busy = [s for s in slots if s.task is not None]
                if not busy:
                    continue
                deadlines = [s.deadline for s in busy if s.deadline is not None]
                wait_for = None if not deadlines else max(0.0, min(deadlines) - time.monotonic())
                ready = set(mp_wait([s.conn for s in busy] + [s.proc.sentinel for s in busy], timeout=wait_for))
                for i, s in enumerate(slots):
                    if s.task is None:
                        continue
                    task, n = s.task, attempts[s.task.key]
                    result, eof = None, False
                    try:
                        while result is None and s.conn.poll():
                            kind, payload = s.conn.recv()
                            if kind == "started" and self.task_timeout is not None:
                                s.deadline = time.monotonic() + self.task_timeout
                            elif kind == "done":
                                result = payload
                    except (EOFError, OSError):
                        eof = True  # the pipe closed: the worker died
                    if result is not None:
                        result.attempts = n
                        s.task = s.deadline = None
                        yield task, result
                        continue
                    if eof or s.proc.sentinel in ready or not s.proc.is_alive():
                        s.proc.join(1)
                        code = s.proc.exitcode
                        s.kill()
                        slots[i] = _Slot(self._ctx, WORKER_ENV, s.gpu, self.quiet)
                        if n < self.max_attempts:
                            queue.append(task)  # transient worker loss: try again (next to start)
                            continue
                        why = f"worker process died (exit code {code}) on each of {n} attempt(s)"
                        yield task, _crashed(task, n, why)
                        continue
                    if s.deadline is not None and time.monotonic() >= s.deadline:
                        s.kill()
                        slots[i] = _Slot(self._ctx, WORKER_ENV, s.gpu, self.quiet)
                        yield task, _timed_out(task, n, self.task_timeout)
        finally:
            self.close()

    def close(self) -> None:
        for s in self._slots:
            if s.task is None:
                s.stop()
            else:
                s.kill()
        self._slots = []


# ---- dask ---------------------------------------------------------------------------------------------------
#: In a dask worker process: threads of tasks that passed their time limit and were abandoned, with the moment.
_ABANDONED: list[tuple[threading.Thread, float]] = []
#: Seconds a worker with an abandoned task thread sends new tasks elsewhere while it waits for its restart.
_POISON_SECONDS = 60.0


def _dask_call(fn, task, timeout):
    """Runs on a dask worker: ``fn(task)`` in a thread, abandoned after ``timeout`` seconds.

    Returns ``(result, worker_address)``; on timeout, result is a ``timeout`` row and the driver restarts that
    worker (a Python thread cannot be stopped from outside). Until then (at most ``_POISON_SECONDS``) the worker
    hands any new task back to the scheduler (:class:`distributed.Reschedule`, which counts as no failure).
    """
    from distributed import Reschedule, get_worker

    now = time.monotonic()
    _ABANDONED[:] = [(th, t) for th, t in _ABANDONED if th.is_alive()]
    if any(now - t < _POISON_SECONDS for _, t in _ABANDONED):
        raise Reschedule()  # this worker is about to restart: run the task elsewhere
    try:
        address = get_worker().address
    except ValueError:
        address = None
    if timeout is None:
        return fn(task), address
    _preimport(task)  # the clock starts after the estimator's module is imported
    box: list = []
    th = threading.Thread(target=lambda: box.append(fn(task)), daemon=True, name=f"catebench-{task.key}")
    th.start()
    th.join(timeout)
    if th.is_alive() or not box:
        if th.is_alive():
            _ABANDONED.append((th, time.monotonic()))
        return _timed_out(task, 1, timeout), address
    return box[0], address


async def _restart_worker(dask_worker) -> None:
    """Runs on a dask worker (``Client.run``): retire gracefully, then exit so that the nanny restarts it."""
    await dask_worker.close_gracefully(restart=True, reason="catebench: a task passed task_timeout")


class DaskExecutor:
    """Tasks on a dask cluster: an existing scheduler (``address``) or a ``LocalCluster`` on 127.0.0.1.

    Parameters
    ----------
    n_workers : int
        Worker processes of the ``LocalCluster`` (one thread each); ignored with ``address``.
    address : str or None, default None
        Scheduler address such as ``tcp://10.0.0.5:8786``. None: start a ``LocalCluster`` on 127.0.0.1 for the run.
    task_timeout : float or None, default None
        Seconds a task may run on its worker; then it is recorded as ``timeout`` and its worker is restarted.
    max_attempts : int, default 2
        For the ``LocalCluster``: tries of a task whose worker dies (dask's ``allowed-failures`` is set to
        ``max_attempts - 1``). With ``address`` the scheduler's own setting applies.
    worker_wait : float, default 300
        Liveness limit: when the cluster has had no worker at all for this many seconds, the run stops waiting
        and every task without a result is recorded as ``crashed`` (a rerun with ``--retry-failed`` runs them).
        Before that, a ``LocalCluster`` that lost worker processes is scaled back to ``n_workers``.

    Notes
    -----
    ``SpecCluster`` (the ``LocalCluster``'s base) closes a worker's nanny for good when that worker has not come
    back within ``distributed.deploy.lost-worker-timeout`` (15 s by default) of leaving the scheduler. On a loaded
    machine a nanny restarting a killed worker (killed by a task, or by the restart after a timeout) can take
    longer than that; with the default, nannies would close one by one until no worker is left and the remaining
    tasks wait forever. The executor therefore keeps that timeout effectively infinite for its own cluster (the
    nanny restarts its worker however long that takes), scales a cluster that lost workers back to
    ``n_workers``, and gives up with ``crashed`` rows after ``worker_wait`` seconds without any worker.
    """

    #: Seconds between liveness checks of the cluster.
    check_every = 2.0

    def __init__(self, n_workers: int, address: str | None = None, task_timeout: float | None = None,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, worker_wait: float = 300.0):  # fmt: skip
        import dask
        from distributed import Client, LocalCluster

        if not worker_wait > 0:
            raise ValueError(f"worker_wait must be positive seconds; got {worker_wait!r}.")
        self.n_workers = n_workers
        self.address = address
        self.task_timeout = task_timeout
        self.max_attempts = max_attempts
        self.worker_wait = worker_wait
        self._cluster = None
        self._config = contextlib.ExitStack()
        if address:
            self.client = Client(address, timeout="30s")
        else:
            cfg = {
                "distributed.scheduler.allowed-failures": max_attempts - 1,
                "distributed.scheduler.worker-saturation": 1.0,  # one task per worker thread: no bystanders
                "distributed.worker.daemon": False,
                "distributed.logging.distributed": "error",
                # read by the cluster whenever a worker leaves, so it stays set until close(): never give up on
                # a nanny that is restarting its worker (see Notes)
                "distributed.deploy.lost-worker-timeout": "100000 days",
            }
            self._config.enter_context(dask.config.set(cfg))
            try:
                self._cluster = LocalCluster(
                    n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, env=WORKER_ENV, silence_logs=50,
                )  # fmt: skip
                self.client = Client(self._cluster)
            except BaseException:
                self.close()
                raise

    def _gpu_resources(self) -> bool:
        info = self.client.scheduler_info().get("workers", {})
        return any("GPU" in (w.get("resources") or {}) for w in info.values())

    def _n_alive(self) -> int:
        """Workers the scheduler knows now (0 when it cannot be asked)."""
        try:
            return len(self.client.nthreads())
        except Exception:  # noqa: BLE001 - an unreachable scheduler counts as no worker
            return 0

    def _restart(self, address: str) -> None:
        """Restart one worker (to stop the thread of a timed-out task) without blaming any other task.

        The worker retires gracefully (the scheduler moves its tasks and results elsewhere, counting no failure)
        and closes; its nanny starts a fresh process. ``Client.restart_workers`` killed the worker instead, which
        charged a worker death to whatever task had just been given to it.
        """
        with contextlib.suppress(Exception):
            self.client.run(_restart_worker, workers=[address], wait=False)

    def run(self, fn, tasks):
        from distributed import as_completed

        tasks = list(tasks)
        gpu = self._gpu_resources()
        futures = {}
        for t in tasks:
            extra = {"resources": {"GPU": 1}} if gpu and _is_torch_task(t) else {}
            fut = self.client.submit(_dask_call, fn, t, self.task_timeout, key=f"catebench-{t.key}", pure=False, **extra)
            futures[fut] = t
        pending = as_completed(futures)
        last_check = time.monotonic()
        no_worker_since: float | None = None
        try:
            while futures:
                batch = pending.next_batch(block=False) if pending.has_ready() else []
                progressed = False
                for fut in batch:
                    try:
                        # never block here: a finished task whose result was lost with its worker is recomputed
                        # only once a worker is back, and the liveness check below is what brings workers back
                        result, address = fut.result(timeout=max(self.check_every, 1.0))
                    except TimeoutError:
                        pending.add(fut)
                        continue
                    except Exception as exc:  # noqa: BLE001 - the task's worker died more times than dask allows
                        why = f"worker process died: {type(exc).__name__}: {exc}"
                        result, address = _crashed(futures[fut], self.max_attempts, why), None
                    task = futures.pop(fut)
                    fut.release()  # before a restart: a result still held there would block the worker's retirement
                    if result.status == "timeout" and address:
                        self._restart(address)
                    progressed = True
                    yield task, result
                if progressed:
                    continue
                now = time.monotonic()
                if now - last_check < self.check_every:
                    time.sleep(0.05)
                    continue
                last_check = now
                # liveness: a cluster without workers makes no progress; revive it, and in the end give up
                if self._n_alive() > 0:
                    no_worker_since = None
                    continue
                if no_worker_since is None:
                    no_worker_since = now
                if self._cluster is not None:
                    with contextlib.suppress(Exception):
                        self._cluster.scale(self.n_workers)
                if now - no_worker_since >= self.worker_wait:
                    where = self.address or "the LocalCluster"
                    why = (f"no dask worker was alive for {self.worker_wait:g} s ({where}); the run stopped waiting. "
                           f"Rerun with --retry-failed once workers are available.")  # fmt: skip
                    for fut, task in list(futures.items()):
                        with contextlib.suppress(Exception):
                            fut.cancel()
                        del futures[fut]
                        yield task, _crashed(task, 0, why)
        finally:
            for fut in futures:
                with contextlib.suppress(Exception):
                    fut.release()

    def close(self) -> None:
        if getattr(self, "client", None) is not None:
            with contextlib.suppress(Exception):
                self.client.close()
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close()
        self._config.close()
