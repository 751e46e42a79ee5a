"""Executors: dask and local runs agree task by task; time limits, crash attribution, retries, GPU placement."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from catebench.benchmark import executors
from catebench.benchmark.config import config_from_dict
from catebench.benchmark.executors import InlineExecutor, LocalExecutor, _pick, make_executor
from catebench.benchmark.runner import run
from catebench.benchmark.store import Store, TaskResult

ROOT = Path(__file__).resolve().parents[1]
TESTS = str(Path(__file__).resolve().parent)


def _config(tmp_path, estimators, reps=2, executor="local", **kw):
    raw = {
        "name": "t", "store": str(tmp_path / f"{executor}.sqlite"), "executor": executor, "n_jobs": 2,
        "datasets": [{"name": "ihdp", "replications": reps}],
        "estimators": [e if isinstance(e, dict) else {"name": e} for e in estimators], **kw,
    }  # fmt: skip
    return config_from_dict(raw)


@dataclasses.dataclass(frozen=True)
class FakeTask:
    key: str
    seconds: float = 0.0
    action: str = "ok"  # ok, exit


def fake_fn(task: FakeTask) -> TaskResult:
    """A picklable task function: sleeps, reports its process and GPU view, or kills its process."""
    t0 = time.time()
    if task.action == "exit":
        os._exit(7)
    time.sleep(task.seconds)
    info = {"pid": float(os.getpid()), "start": t0, "end": time.time()}
    return TaskResult(key=task.key, status="ok", metrics=info, error=os.environ.get("CUDA_VISIBLE_DEVICES"))


def death_signal_fn(task: FakeTask) -> TaskResult:
    """Reports the signal this process gets when its parent ends (Linux ``PR_GET_PDEATHSIG``) and its parent."""
    import ctypes

    sig = ctypes.c_int(-1)
    ctypes.CDLL(None).prctl(executors.PR_GET_PDEATHSIG, ctypes.byref(sig), 0, 0, 0)
    return TaskResult(key=task.key, status="ok", metrics={"signal": float(sig.value), "ppid": float(os.getppid())})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_local_workers_are_killed_by_the_kernel_when_the_driver_dies():
    """A worker does not have to notice its driver's death (a polling thread took 0.6-3.6 s on a loaded machine): the
    kernel sends it SIGKILL when the driver ends."""
    import signal

    out = [r for _, r in LocalExecutor(1).run(death_signal_fn, [FakeTask("a")])]
    assert out[0].metrics == {"signal": float(signal.SIGKILL), "ppid": float(os.getpid())}


@pytest.mark.slow
def test_dask_local_and_inline_runs_agree_task_by_task(tmp_path):
    ests = ["t-learner-linear", "s-learner-linear", "s-learner"]
    stores = {}
    for ex in ("inline", "local", "dask"):
        cfg = _config(tmp_path, ests, executor=ex)
        s = run(cfg, progress=False)
        assert (s.ok, s.failed) == (6, 0), ex
        stores[ex] = Store(cfg.store)
    ref = stores["inline"].results().set_index("key").sort_index()
    metrics = [c for c in ref.columns if c.startswith(("pehe", "ate", "rmse"))]
    assert len(metrics) >= 4
    for ex in ("local", "dask"):
        df = stores[ex].results().set_index("key").sort_index()
        assert list(df.index) == list(ref.index)
        assert df[metrics].equals(ref[metrics]), ex  # bit-identical, task by task
        for k in ref.index:
            a, b = stores[ex].predictions(k), stores["inline"].predictions(k)
            np.testing.assert_array_equal(a["mu1_hat"], b["mu1_hat"])
            np.testing.assert_array_equal(a["fit_idx"], b["fit_idx"])


def test_local_timeout_stops_only_the_slow_task():
    tasks = [FakeTask("slow", seconds=900), FakeTask("a", 0.2), FakeTask("b", 0.2), FakeTask("c", 0.2)]
    t0 = time.monotonic()
    out = dict((t.key, r) for t, r in LocalExecutor(2, task_timeout=2.0).run(fake_fn, tasks))
    assert time.monotonic() - t0 < 900  # stopped, not waited for (no speed claim: loaded machines took 120 s)
    assert out["slow"].status == "timeout" and "task_timeout=2" in out["slow"].error
    assert all(out[k].status == "ok" for k in "abc")


def test_local_crash_blames_only_the_crashing_task_and_is_retried_bounded():
    tasks = [FakeTask("a", 1.0), FakeTask("boom", action="exit"), FakeTask("b", 0.5), FakeTask("c", 0.1)]
    out = {t.key: r for t, r in LocalExecutor(2, max_attempts=3).run(fake_fn, tasks)}
    assert out["boom"].status == "crashed" and out["boom"].attempts == 3
    assert "exit code 7" in out["boom"].error and "3 attempt" in out["boom"].error
    assert all(out[k].status == "ok" and out[k].attempts == 1 for k in "abc")  # bystanders untouched


def test_transient_worker_loss_is_retried(tmp_path):
    sys.path.insert(0, TESTS)
    try:
        est = {"name": "fault_estimators:FlakyKill", "params": {"marker_dir": str(tmp_path)}}
        cfg = _config(tmp_path, [est, "t-learner-linear"], reps=1)
        s = run(cfg, progress=False)
        assert (s.ok, s.failed) == (2, 0)
        df = Store(cfg.store).results().set_index("estimator")
        assert df.loc["fault_estimators:FlakyKill", "attempts"] == 2
        assert df.loc["t-learner-linear", "attempts"] == 1
    finally:
        sys.path.remove(TESTS)


def test_gpu_tasks_one_per_device_at_a_time(monkeypatch):
    """With (pretend) 1 GPU and 3 workers, GPU tasks run only on the GPU worker, one at a time; CPU tasks elsewhere."""
    monkeypatch.setattr(executors, "_cuda_device_count", lambda tasks: 1)
    monkeypatch.setattr(executors, "_is_torch_task", lambda t: t.key.startswith("gpu"))
    tasks = [FakeTask(f"gpu{i}", 0.3) for i in range(3)] + [FakeTask(f"cpu{i}", 0.3) for i in range(4)]
    out = {t.key: r for t, r in LocalExecutor(3).run(fake_fn, tasks)}
    gpu = sorted((out[f"gpu{i}"].metrics["start"], out[f"gpu{i}"].metrics["end"]) for i in range(3))
    assert all(out[f"gpu{i}"].error == "0" for i in range(3))  # CUDA_VISIBLE_DEVICES of the GPU worker
    assert all(e0 <= s1 for (_, e0), (s1, _) in zip(gpu, gpu[1:]))  # never two at once
    assert {out[f"cpu{i}"].error for i in range(4)} <= {"", "0"}


def test_pick_routes_gpu_and_cpu_tasks():
    q = [FakeTask("cpu2"), FakeTask("gpu1"), FakeTask("cpu1")]  # next task last
    assert q[_pick(q, True, {"gpu1"})].key == "gpu1"
    assert q[_pick(q, False, {"gpu1"})].key == "cpu1"
    assert _pick([FakeTask("gpu1")], False, {"gpu1"}) is None
    assert q[_pick(q, True, set())].key == "cpu1"


def test_make_executor_and_bad_arguments(tmp_path):
    cfg = _config(tmp_path, ["t-learner-linear"], executor="inline", task_timeout=5)
    assert isinstance(make_executor(cfg), InlineExecutor) and make_executor(cfg).task_timeout == 5
    ex = make_executor(dataclasses.replace(cfg, executor="local"))
    assert isinstance(ex, LocalExecutor) and ex.task_timeout == 5 and ex.n_jobs == 2
    with pytest.raises(ValueError, match="n_jobs must be a positive integer; got 0"):
        LocalExecutor(0)
    with pytest.raises(ValueError, match="task_timeout must be positive seconds or None; got -1"):
        LocalExecutor(1, task_timeout=-1)
    with pytest.raises(ValueError, match="task_timeout must be positive"):
        _config(tmp_path, ["t-learner-linear"], task_timeout=0)
    with pytest.raises(ValueError, match="executor must be 'local', 'inline' or 'dask'; got 'ray'"):
        _config(tmp_path, ["t-learner-linear"], executor="ray")


@pytest.mark.slow
def test_cli_executor_and_timeout_flags(tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": os.pathsep.join([TESTS, str(ROOT)])}
    cmd = [sys.executable, "-m", "catebench.benchmark", "run", "smoke", "--store", str(tmp_path / "s.sqlite"), "--no-progress",
           "--executor", "local", "--task-timeout", "8", "--replications", "1", "--estimators", "t-learner-linear,fault_estimators:Hang"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "1 ran ok, 1 failed (1 timed out)" in out.stdout
    df = Store(tmp_path / "s.sqlite").results()
    assert sorted(df["status"]) == ["ok", "timeout"]


# ---- a dask run always ends ---------------------------------------------------------------------------------
COMBO = """name = "combo"
executor = "dask"
n_jobs = 2
task_timeout = 10
[[datasets]]
name = "ihdp"
replications = 2
[[estimators]]
name = "fault_estimators:Hang"
[[estimators]]
name = "fault_estimators:Raise"
[[estimators]]
name = "fault_estimators:KillWorker"
[[estimators]]
name = "t-learner-linear"
"""
COMBO_STATUS = {"fault_estimators:Hang": "timeout", "fault_estimators:Raise": "failed",
                "fault_estimators:KillWorker": "crashed", "t-learner-linear": "ok"}  # fmt: skip


def _run_combo(tmp_path, i: int, lost_worker_timeout: str | None = None) -> tuple[subprocess.CompletedProcess, Path]:
    """``catebench run`` of hang + raise + kill-worker + ok tasks on the LocalCluster, in a subprocess with a limit."""
    config = tmp_path / "combo.toml"
    config.write_text(COMBO)
    store = tmp_path / f"combo{i}.sqlite"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": os.pathsep.join([TESTS, str(ROOT)])}
    if lost_worker_timeout is not None:
        env["DASK_DISTRIBUTED__DEPLOY__LOST_WORKER_TIMEOUT"] = lost_worker_timeout
    cmd = [sys.executable, "-m", "catebench.benchmark", "run", str(config), "--store", str(store), "--no-progress"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    except subprocess.TimeoutExpired as exc:  # the child (and its cluster) is killed by subprocess.run
        rows = Store(store).results()[["estimator", "status"]].values.tolist() if store.exists() else []
        raise AssertionError(f"run {i}: the dask run did not end within 900 s (hang); stored: {rows}; "
                             f"load {os.getloadavg()}") from exc  # fmt: skip
    return out, store


def _check_combo_store(store: Path, i: int) -> None:
    df = Store(store).results()
    assert len(df) == 8, (i, len(df))
    for est, status in COMBO_STATUS.items():
        got = df.loc[df["estimator"] == est, "status"].tolist()
        assert got == [status, status], (i, est, got, df.loc[df["estimator"] == est, "error"].tolist())


@pytest.mark.slow
def test_dask_hang_raise_kill_combination_always_ends(tmp_path):
    """Hang (timeout), raise and worker-killing tasks together on the LocalCluster, repeatedly: every run ends with
    every task stored under its expected status."""
    for i in range(3):
        out, store = _run_combo(tmp_path, i)
        assert out.returncode == 0, (i, out.stderr[-2000:])
        assert "2 ran ok, 6 failed (2 timed out, 2 crashed)" in out.stdout, (i, out.stdout)
        _check_combo_store(store, i)


@pytest.mark.slow
def test_dask_run_survives_workers_slower_to_return_than_the_lost_worker_timeout(tmp_path):
    """The cause of the hang, made deterministic: SpecCluster closes the nanny of a worker that has not come back
    within ``distributed.deploy.lost-worker-timeout`` (15 s; slow restarts on a loaded machine exceed it). With
    that timeout at 0 s every killed worker's nanny used to be closed, leaving no worker and a run waiting forever."""
    out, store = _run_combo(tmp_path, 0, lost_worker_timeout="0s")
    assert out.returncode == 0, out.stderr[-2000:]
    _check_combo_store(store, 0)


def test_dask_liveness_gives_up_with_crashed_rows_when_no_worker_is_alive():
    """A scheduler without workers: the run does not wait forever; every task becomes a ``crashed`` row."""
    import dask
    from distributed import LocalCluster

    with dask.config.set({"distributed.logging.distributed": "error"}):
        cluster = LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None)
    try:
        ex = executors.DaskExecutor(1, address=cluster.scheduler_address, worker_wait=3)
        ex.check_every = 0.5
        t0 = time.monotonic()
        try:
            out = {t.key: r for t, r in ex.run(fake_fn, [FakeTask("a"), FakeTask("b")])}
        finally:
            ex.close()
        assert time.monotonic() - t0 < 120
    finally:
        cluster.close()
    assert {k: r.status for k, r in out.items()} == {"a": "crashed", "b": "crashed"}
    assert "no dask worker was alive for 3 s" in out["a"].error and "--retry-failed" in out["a"].error


@pytest.mark.slow
def test_dask_local_cluster_that_lost_all_workers_is_revived():
    """When every nanny of the LocalCluster is gone mid-run, the executor scales the cluster back and finishes."""
    ex = executors.DaskExecutor(2, worker_wait=300)
    ex.check_every = 0.5
    tasks = [FakeTask(f"t{i}", 1.0) for i in range(6)]
    out = {}
    try:
        for t, r in ex.run(fake_fn, tasks):
            out[t.key] = r
            if len(out) == 1:  # close every nanny, as SpecCluster does after lost-worker-timeout
                cluster = ex._cluster
                for name in list(cluster.workers):
                    cluster.sync(cluster.workers[name].close)
                    del cluster.workers[name]
    finally:
        ex.close()
    assert {k: r.status for k, r in out.items()} == {t.key: "ok" for t in tasks}


# ---- a real scheduler and real workers, one killed mid-run --------------------------------------------------
def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(procs) -> None:
    """SIGTERM, then SIGKILL, every process group we started (scheduler, nannies, workers)."""
    import signal

    for p in procs:
        if p.poll() is None:
            with __import__("contextlib").suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        with __import__("contextlib").suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)  # the group: the nanny's worker process too
        p.wait(10)


@pytest.mark.slow
def test_real_dask_scheduler_and_workers_one_killed_mid_run_equals_local_run(tmp_path):
    """``dask scheduler`` + two ``dask worker`` processes on 127.0.0.1 (free ports), ``catebench run --scheduler``;
    one worker (nanny and process) is SIGKILLed mid-run; the store equals an inline run's, task by task."""
    import signal

    from distributed import Client

    dask_cli = str(Path(sys.executable).parent / "dask")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": os.pathsep.join([TESTS, str(ROOT)]),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
           "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}  # fmt: skip
    config = tmp_path / "dist.toml"
    config.write_text(
        'name = "dist"\n[[datasets]]\nname = "ihdp"\nreplications = 3\n'
        '[[estimators]]\nname = "t-learner-linear"\n[[estimators]]\nname = "s-learner-linear"\n'
        '[[estimators]]\nname = "fault_estimators:Slow"\nparams = {seconds = 2.0}\n'
    )
    procs = []
    log = open(tmp_path / "cluster.log", "w")
    try:
        procs.append(subprocess.Popen([dask_cli, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                       "--no-dashboard"], env=env, stdout=log, stderr=log, start_new_session=True))  # fmt: skip
        for i in range(2):
            procs.append(subprocess.Popen([dask_cli, "worker", address, "--nthreads", "1", "--host", "127.0.0.1",
                                           "--no-dashboard", "--name", f"w{i}"], env=env, stdout=log, stderr=log,
                                          cwd=tmp_path, start_new_session=True))  # fmt: skip
        with Client(address, timeout="120s") as client:
            client.wait_for_workers(2, timeout=300)
        store = tmp_path / "dist.sqlite"
        driver = subprocess.Popen([sys.executable, "-m", "catebench.benchmark", "run", str(config), "--scheduler", address,
                                   "--store", str(store), "--no-progress"], env=env, cwd=tmp_path,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        procs.append(driver)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 300 and driver.poll() is None:  # kill a worker once the first rows are in
            if store.exists() and len(Store(store)) >= 2:
                break
            time.sleep(0.2)
        assert driver.poll() is None, "the run ended before a worker could be killed"
        os.killpg(procs[1].pid, signal.SIGKILL)  # worker w0: nanny and worker process
        out, err = driver.communicate(timeout=600)
        assert driver.returncode == 0, err[-3000:]
        assert "9 ran ok, 0 failed" in out, out
    finally:
        _stop(procs)
        log.close()
    local = tmp_path / "local.sqlite"
    cfg = dataclasses.replace(__import__("catebench.benchmark.config", fromlist=["load_config"]).load_config(config),
                              executor="inline", store=str(local))  # fmt: skip
    assert run(cfg, progress=False).ok == 9
    a = Store(store).results().set_index("key").sort_index()
    b = Store(local).results().set_index("key").sort_index()
    assert list(a.index) == list(b.index) and (a["status"] == "ok").all()
    metrics = [c for c in b.columns if c.startswith(("pehe", "ate", "rmse"))]
    assert a[metrics].equals(b[metrics])
    for k in b.index:
        np.testing.assert_array_equal(Store(store).predictions(k)["mu1_hat"], Store(local).predictions(k)["mu1_hat"])


def test_unpinned_data_file_is_warned_about_once_per_file_not_per_process(tmp_path):
    """ihdp-1000 has no pinned digest: its two files are each named once in a run with two local workers (the
    driver and each worker, and each replication, used to repeat it)."""
    rng = np.random.default_rng(3)
    for part, n in (("train", 60), ("test", 20)):
        arrs = {"x": rng.normal(size=(n, 25, 3)), **{k: rng.normal(size=(n, 3)) for k in ("yf", "ycf", "mu0", "mu1")}}
        arrs["t"] = np.repeat((np.arange(n) % 2 == 0).astype(float)[:, None], 3, axis=1)
        np.savez(tmp_path / f"ihdp_npci_1-1000.{part}.npz", **arrs)
    config = tmp_path / "c.toml"
    config.write_text(f'name = "w"\nexecutor = "local"\nn_jobs = 2\n[[datasets]]\nname = "ihdp-1000"\n'
                      f'split = "predefined"\nreplications = 3\nparams = {{data_dir = "{tmp_path}"}}\n'
                      '[[estimators]]\nname = "t-learner-linear"\n[[estimators]]\nname = "s-learner-linear"\n')  # fmt: skip
    out = subprocess.run([sys.executable, "-m", "catebench.benchmark", "run", str(config), "--store",
                          str(tmp_path / "s.sqlite"), "--no-progress"], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stderr.splitlines() if "no pinned sha256" in line]
    assert len(lines) == 2 and {"train" in lines[0], "train" in lines[1]} == {True, False}, out.stderr
