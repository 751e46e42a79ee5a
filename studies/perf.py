"""Performance study: CLI latency, runner overhead per task, cost curves of every estimator, sampling speed, and
the default board's time split by estimator.

Parts (``--parts``, default all; each writes its CSV/JSON into ``--out``, and ``summary.md`` is rebuilt from
whatever is there, so parts can be run, rerun and resumed separately):

``cli``
    Wall time of ``catebench --help``, ``catebench list`` and ``catebench datasets`` against ``python -c pass``.
``overhead``
    The runner's own cost per task: a no-op estimator (:class:`NoOp`) on the inline, local and dask executors.
``cost``
    Fit + predict CPU seconds and peak memory of every built-in estimator over sweeps of n and d, each estimator
    in its own process, bounded by ``--cap`` / ``--wall-cap``, cached by a fingerprint of its source files.
``sampling``
    One-step generator vs the teacher's 50-step Heun sampler of one fitted ``IWDD``.
``board``
    The default board's time split by estimator, from a store (``--board-store``).
``compare``
    Today's code vs commit ``--old-commit`` (default: the one ``runs.json`` in ``--out`` records), side by side
    on IHDP replications, both at the same time so both see the same machine load.
``wall``
    The default board plus ``catebench report`` as a user runs it, old commit and current tree at the same time.

How each part measures (timers, sweeps, bounds, what is compared) is in ``docs/studies.md``.

Run (what made the committed ``results/perf/``: see ``summary.md`` for the exact commands and machine load)::

    python -m studies.perf                      # everything, default sizes
    python -m studies.perf --parts cost --n-sizes 1000,4000,16000 --cap 60
    python -m studies.perf --parts summary      # rebuild summary.md and the figure from the CSVs
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from catebench.estimators.base import CATEEstimator

__all__ = ["NoOp", "cli_latency", "runner_overhead", "cost_curves", "fit_exponent", "sampling_ratio", "board_split",
           "main"]  # fmt: skip

ROOT = Path(__file__).resolve().parents[1]
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1"}  # fmt: skip
PARTS = ("cli", "overhead", "cost", "sampling", "compare", "board", "wall")


class NoOp(CATEEstimator):
    """Predicts zero for both potential outcomes: measures the runner's own cost per task."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def _fit(self, X, t, y):
        self.fitted_ = True

    def _predict(self, X):
        z = np.zeros(len(X))
        return z, z


def _load() -> float:
    return os.getloadavg()[0]


def _machine() -> dict:
    up = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return {"date_utc": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "nproc": os.cpu_count(),
            "uptime": up, "python": platform.python_version(), "platform": platform.platform()}  # fmt: skip


def _catebench_cmd() -> list[str]:
    script = Path(sys.executable).with_name("catebench")
    return [str(script)] if script.exists() else [sys.executable, "-m", "catebench.benchmark"]


# ---- cli ----------------------------------------------------------------------------------------------------
def cli_latency(repeats: int = 5) -> list[dict]:
    """Seconds of each quick command and of a bare interpreter start, interleaved, ``repeats`` times each."""
    cmds = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "catebench --help": [*_catebench_cmd(), "--help"],
        "catebench list": [*_catebench_cmd(), "list"],
        "catebench datasets": [*_catebench_cmd(), "datasets"],
    }
    rows = []
    for rep in range(repeats):
        for name, cmd in cmds.items():
            load = _load()
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
            _, status, ru = os.wait4(proc.pid, 0)
            dt = time.perf_counter() - t0
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError(f"{name} failed with exit status {os.waitstatus_to_exitcode(status)}")
            rows.append({"command": name, "repeat": rep + 1, "seconds": round(dt, 4),
                         "cpu_s": round(ru.ru_utime + ru.ru_stime, 4), "load_avg_1min": load})
    return rows


# ---- runner overhead ----------------------------------------------------------------------------------------
def _overhead_config(n_tasks: int, executor: str, store: str):
    from catebench.benchmark.config import config_from_dict

    seeds = max(1, -(-n_tasks // 10))
    return config_from_dict({
        "name": f"perf-overhead-{executor}", "seed": 0, "seeds": seeds, "n_jobs": 1, "executor": executor,
        "store": store, "datasets": [{"name": "ihdp", "replications": 10}],
        "estimators": [{"name": "studies.perf:NoOp"}],
    })  # fmt: skip


def runner_overhead(n_tasks: int = 300, executors=("inline", "local", "dask")) -> list[dict]:
    """Per-task cost of the runner with a no-op estimator on each executor (one worker), fresh store each."""
    from catebench.benchmark.runner import run
    from catebench.benchmark.store import Store

    rows = []
    with tempfile.TemporaryDirectory(prefix="catebench-perf-") as tmp:
        for ex in executors:
            cfg = _overhead_config(n_tasks, ex, str(Path(tmp) / f"{ex}.sqlite"))
            stamps: list[float] = []
            cpu_stamps: list[float] = []

            def on_result(task, result):
                stamps.append(time.perf_counter())
                cpu_stamps.append(time.process_time())

            load = _load()
            t0 = time.perf_counter()
            summary = run(cfg, progress=False, on_result=on_result)
            wall = time.perf_counter() - t0
            if summary.failed:
                raise RuntimeError(f"overhead run on {ex} was not clean: {summary}")
            df = Store(cfg.store).results()
            own = float((df["fit_seconds"] + df["predict_seconds"]).median())
            steady = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
            rows.append({"executor": ex, "workers": 1, "tasks": len(stamps), "wall_s": round(wall, 3),
                         "first_result_s": round(stamps[0] - t0, 3), "steady_s_per_task": round(steady, 5),
                         "noop_fit_predict_s": round(own, 6), "overhead_s_per_task": round(steady - own, 5),
                         "driver_cpu_s_per_task": round((cpu_stamps[-1] - cpu_stamps[0]) / (len(stamps) - 1), 5),
                         "load_avg_1min": load})  # fmt: skip
            print(rows[-1], flush=True)
    rows.append(reference_fit())
    print(rows[-1], flush=True)
    return rows


def reference_fit(name: str = "tarnet", repeats: int = 3) -> dict:
    """Median wall and CPU seconds of one built-in estimator's fit + predict on IHDP replication 1 (its default
    63/27/10 fit rows; predictions on every row), in this process with one thread: the yardstick the runner's
    overhead is compared with, measured right after it. TARNet is the median built-in on the default board."""
    from catebench.benchmark.registry import ESTIMATORS
    from catebench.benchmark.runner import limit_threads
    from catebench.datasets.ihdp import IHDP
    from catebench.datasets.splits import get_split, split_indices

    data = IHDP().load(1)
    fit_idx, _ = split_indices(data.n, get_split("63/27/10"), 0, data.test_mask)
    wall, cpu = [], []
    for r in range(repeats):
        est = ESTIMATORS.create(name, random_state=r)
        limit_threads()
        t0, c0 = time.perf_counter(), time.process_time()
        est.fit(data.X[fit_idx], data.t[fit_idx], data.y[fit_idx])
        est.predict(data.X)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"executor": f"reference: {name} fit + predict on IHDP rep 1", "workers": 1, "tasks": repeats,
            "wall_s": round(sum(wall), 3), "steady_s_per_task": round(statistics.median(wall), 5),
            "driver_cpu_s_per_task": round(statistics.median(cpu), 5), "load_avg_1min": _load()}  # fmt: skip


# ---- cost curves --------------------------------------------------------------------------------------------
def _fingerprint(target: str) -> str:
    """Hash of the estimator's own source (module or package) and the shared estimator helpers."""
    module = target.partition(":")[0]
    parts = module.split(".")
    if parts[0] == "catebench":  # catebench.estimators.x lives in the folder estimators/x
        parts = parts[1:]
    base = ROOT.joinpath(*parts)
    files = sorted(base.rglob("*.py")) if base.is_dir() else [base.with_suffix(".py")]
    if len(parts) > 2:  # catebench.estimators.neural.tarnet: the whole sub-package
        files = sorted(ROOT.joinpath(*parts[:2]).rglob("*.py"))
    files += sorted((ROOT / "estimators").glob("_*.py")) + [ROOT / "estimators" / "base.py"]
    h = hashlib.sha256()
    for f in files:
        if f.exists():
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1])
    return -1


def cost_worker(estimator: str, points: list[tuple[int, int]]) -> None:
    """The child process of :func:`_run_points` (``python -m studies.perf --worker SPEC``): fit and predict
    ``estimator`` at each (n, d) point in turn, printing one JSON line when a point starts and one with its
    seconds and peak memory when it is done."""
    from catebench.benchmark.registry import ESTIMATORS
    from catebench.benchmark.runner import limit_threads
    from catebench.datasets.synthetic import Synthetic

    entry = ESTIMATORS.get(estimator)
    entry.load()
    limit_threads()
    for n, d in points:
        data = Synthetic(n=n, d=d).load(1)
        est = entry.create(random_state=0)
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # reset the peak RSS (Linux >= 4.0)
            reset = True
        except OSError:
            reset = False
        rss0 = _status_kb("VmRSS:")
        print(json.dumps({"n": n, "d": d, "event": "start"}), flush=True)
        t0, c0 = time.perf_counter(), time.process_time()
        est.fit(data.X, data.t, data.y)
        t1, c1 = time.perf_counter(), time.process_time()
        est.predict(data.X)
        t2, c2 = time.perf_counter(), time.process_time()
        hwm = _status_kb("VmHWM:")
        print(json.dumps({"n": n, "d": d, "event": "done", "fit_s": t1 - t0, "predict_s": t2 - t1,
                          "fit_cpu_s": c1 - c0, "predict_cpu_s": c2 - c1, "rss_before_mb": rss0 / 1024,
                          "peak_rss_mb": hwm / 1024, "peak_reset": reset}), flush=True)  # fmt: skip


def _child_env(tree: Path) -> dict:
    """The environment of a child process that runs the code of source tree ``tree``: one thread, ``tree`` first on
    the path (the rest of the path kept)."""
    path = os.pathsep.join(p for p in (str(tree), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, **ONE_THREAD, "PYTHONPATH": path, "PYTHONWARNINGS": "ignore"}


def _run_points(estimator: str, points: list[tuple[int, int]], cap: float, on_row, gate=None) -> None:
    """Run ``points`` in order in one child process; a point past ``cap`` kills it (reported ``over cap``), and so
    does a point for which ``gate(n, d)`` gives a reason to skip it (reported with that reason); either ends the
    sweep."""
    errf = tempfile.TemporaryFile(mode="w+")  # not a pipe: chatty libraries must not block the child
    spec = json.dumps({"estimator": estimator, "points": points})
    proc = subprocess.Popen([sys.executable, "-m", "studies.perf", "--worker", spec], stdout=subprocess.PIPE,
                            stderr=errf, text=True, env=_child_env(ROOT), cwd=ROOT)  # fmt: skip
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    started: tuple | None = None
    t_start = 0.0
    buf = ""
    try:
        while True:
            timeout = None if started is None else max(0.0, t_start + cap - time.monotonic())
            events = sel.select(timeout=timeout)
            if not events:  # over the cap
                proc.kill()
                proc.wait()
                on_row({"n": started[0], "d": started[1], "status": "over cap", "load_avg_1min": _load()})
                return
            line = proc.stdout.readline()
            if not line:
                break
            buf = line.strip()
            try:
                msg = json.loads(buf)
            except json.JSONDecodeError:
                continue
            if msg["event"] == "start":
                started, t_start = (msg["n"], msg["d"]), time.monotonic()
                why = gate(*started) if gate is not None else None
                if why:
                    proc.kill()
                    proc.wait()
                    on_row({"n": started[0], "d": started[1], "status": why, "load_avg_1min": _load()})
                    return
            else:
                started = None
                on_row({"n": msg["n"], "d": msg["d"], "status": "ok", "fit_s": msg["fit_s"],
                        "predict_s": msg["predict_s"], "fit_cpu_s": msg["fit_cpu_s"],
                        "predict_cpu_s": msg["predict_cpu_s"], "rss_before_mb": msg["rss_before_mb"],
                        "peak_rss_mb": msg["peak_rss_mb"],
                        "peak_increment_mb": msg["peak_rss_mb"] - msg["rss_before_mb"] if msg["peak_reset"] else None,
                        "load_avg_1min": _load()})  # fmt: skip
        proc.wait()
        if proc.returncode != 0:
            errf.seek(0)
            err = errf.read().strip().splitlines()
            why = err[-1][:300] if err else f"exit code {proc.returncode}"
            if started is not None:
                on_row({"n": started[0], "d": started[1], "status": f"failed: {why}", "load_avg_1min": _load()})
            else:
                raise RuntimeError(f"{estimator}: worker failed before any point: {why}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        errf.close()


def _merge_save(rows: list[dict], csv_path: Path, owned: set) -> None:
    """Write ``rows`` into the CSV, keeping rows other processes wrote meanwhile (several ``--parts cost`` runs with
    different ``--estimators`` may share one CSV; a point's key is estimator, sweep, n, d)."""
    import fcntl

    import pandas as pd

    key = ["estimator", "sweep", "n", "d"]
    with open(csv_path.with_name(csv_path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        mine = pd.DataFrame([r for r in rows if r["estimator"] in owned], columns=COST_COLUMNS)
        if csv_path.exists():
            theirs = pd.read_csv(csv_path)
            theirs = theirs[~theirs["estimator"].isin(owned)]  # an estimator belongs to one run at a time
            mine = pd.concat([theirs, mine], ignore_index=True) if len(theirs) else mine
        mine = mine.drop_duplicates(subset=key, keep="last")
        tmp = csv_path.with_name(csv_path.name + ".tmp")
        mine.to_csv(tmp, index=False)
        os.replace(tmp, csv_path)


def fit_exponent(sizes, seconds) -> float:
    """Least-squares slope of log(seconds) on log(size); NaN with fewer than two points."""
    x, y = np.log(np.asarray(sizes, float)), np.log(np.asarray(seconds, float))
    if len(x) < 2 or np.ptp(x) == 0:
        return float("nan")
    return float(np.polyfit(x, y, 1)[0])


COST_COLUMNS = ["estimator", "sweep", "n", "d", "status", "fit_s", "predict_s", "total_s", "fit_cpu_s",
                "predict_cpu_s", "cpu_s", "rss_before_mb",
                "peak_rss_mb", "peak_increment_mb", "load_avg_1min", "fingerprint", "measured_utc"]  # fmt: skip


def cost_curves(estimators: list[str], n_sizes, d_sizes, n_for_d: int, d_for_n: int, cap: float, csv_path: Path,
                fresh: bool = False, wall_cap: float | None = None) -> "Any":
    """Measure the missing points of every estimator's two sweeps; the CSV is the cache (see the module doc)."""
    import pandas as pd

    from catebench.benchmark.registry import ESTIMATORS

    wall_cap = cap if wall_cap is None else wall_cap
    old = pd.read_csv(csv_path) if csv_path.exists() and not fresh else pd.DataFrame(columns=COST_COLUMNS)
    rows = old.to_dict("records")

    def have(est, fp, sweep, n, d):
        return any(r["estimator"] == est and r["fingerprint"] == fp and r["sweep"] == sweep and int(r["n"]) == n
                   and int(r["d"]) == d for r in rows)  # fmt: skip

    def save():
        _merge_save(rows, csv_path, set(estimators))

    for est in estimators:
        entry = ESTIMATORS.get(est)
        fp = _fingerprint(entry.target if isinstance(entry.target, str) else f"{entry.target.__module__}:x")
        rows = [r for r in rows if not (r["estimator"] == est and r["fingerprint"] != fp)]  # code changed: remeasure
        # the d sweep first: its (n_for_d, d_for_n) point is then reused by the n sweep, whose gate needs two points
        # to extrapolate an exponent (with one it assumes linear growth and may skip a point that would fit)
        for sweep, points in (("d", [(n_for_d, d) for d in d_sizes]), ("n", [(n, d_for_n) for n in n_sizes])):
            done = [r for r in rows if r["estimator"] == est and r["sweep"] == sweep]
            todo = [p for p in points if not have(est, fp, sweep, *p)]
            # a finished sweep that stopped (over cap / skipped) stays stopped
            if not todo or any(str(r["status"]) != "ok" for r in done):
                continue
            # reuse a point measured in the other sweep (n_for_d, d_for_n is in both)
            other = "d" if sweep == "n" else "n"
            reuse = [r for r in rows if r["estimator"] == est and r["sweep"] == other and r["status"] == "ok"
                     and (int(r["n"]), int(r["d"])) in todo]  # fmt: skip
            for r in reuse:
                rows.append({**r, "sweep": sweep})
                todo.remove((int(r["n"]), int(r["d"])))
            key = (lambda p: p[0]) if sweep == "n" else (lambda p: p[1])
            ok = sorted([(int(r[sweep]), float(r["cpu_s"])) for r in rows
                         if r["estimator"] == est and r["sweep"] == sweep and r["status"] == "ok"])
            todo.sort(key=key)

            def gate(n, d, ok=ok, sweep=sweep):
                """A reason to skip the point (its time extrapolated past the cap), or None."""
                size = n if sweep == "n" else d
                prev = sorted(p for p in ok if p[0] < size)
                if len(prev) < 2:
                    return None  # the first two points of a sweep always run (bounded by the wall cap): one point
                    # gives no exponent, and assuming linear growth skipped points that fit (cost in d is flat)
                b = max(1.0, fit_exponent(*zip(*prev[-2:])))
                predicted = prev[-1][1] * (size / prev[-1][0]) ** b
                return f"skipped: predicted {predicted:.0f} CPU s > cap" if predicted > cap else None

            def on_row(g, ok=ok, sweep=sweep, est=est, fp=fp):
                g.update(estimator=est, sweep=sweep, fingerprint=fp, measured_utc=_machine()["date_utc"])
                if g["status"] == "ok":
                    g["total_s"] = g["fit_s"] + g["predict_s"]
                    g["cpu_s"] = g["fit_cpu_s"] + g["predict_cpu_s"]
                    ok.append((int(g[sweep]), g["cpu_s"]))
                rows.append(g)
                inc = g.get("peak_increment_mb")
                print(f"{est} {sweep} n={g['n']} d={g['d']}: {g['status']} {g.get('total_s', float('nan')):.2f} s "
                      f"(CPU {g.get('cpu_s', float('nan')):.2f} s), "
                      f"peak +{inc if inc is not None else float('nan'):.0f} MB (load {g['load_avg_1min']:.1f})",
                      flush=True)  # fmt: skip
                save()

            if todo:
                _run_points(est, todo, wall_cap, on_row, gate)
    save()
    return pd.read_csv(csv_path)


def exponents(df) -> "Any":
    """Per estimator: the fitted exponent in n (at the sweep's d) and in d (at the sweep's n), over ok points."""
    import pandas as pd

    out = []
    for est, g in df.groupby("estimator"):
        row = {"estimator": est}
        for sweep in ("n", "d"):
            ok = g[(g.sweep == sweep) & (g.status == "ok")].sort_values(sweep)
            row[f"exponent_{sweep}"] = round(fit_exponent(ok[sweep], ok["cpu_s"]), 2) if len(ok) >= 2 else None
            row[f"points_{sweep}"] = len(ok)
            row[f"max_{sweep}_ok"] = int(ok[sweep].max()) if len(ok) else None
            stopped = g[(g.sweep == sweep) & (g.status != "ok")]
            row[f"stopped_{sweep}"] = "; ".join(f"{sweep}={int(getattr(r, sweep))}: {r.status}" for r in stopped.itertuples())
        ok_all = g[g.status == "ok"]
        row["max_peak_increment_mb"] = round(float(ok_all["peak_increment_mb"].max()), 1) if len(ok_all) else None
        out.append(row)
    return pd.DataFrame(out)


def plot_cost(df, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    names = sorted(df.estimator.unique())
    cmap = plt.get_cmap("tab20")
    markers = "os^vD<>ph*"
    for i, est in enumerate(names):
        for ax, sweep in zip(axes, ("n", "d")):
            g = df[(df.estimator == est) & (df.sweep == sweep) & (df.status == "ok")].sort_values(sweep)
            if len(g):
                ax.plot(g[sweep], g["cpu_s"], marker=markers[i % len(markers)], color=cmap(i % 20), lw=1.2,
                        ms=4, label=est)  # fmt: skip
    d_n = df[df.sweep == "n"]["d"].iloc[0] if (df.sweep == "n").any() else "?"
    n_d = df[df.sweep == "d"]["n"].iloc[0] if (df.sweep == "d").any() else "?"
    for ax, sweep, title in ((axes[0], "n", f"rows n (d = {d_n})"), (axes[1], "d", f"covariates d (n = {n_d})")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(title)
        ax.set_ylabel("fit + predict CPU seconds (one thread)")
        ax.grid(True, which="both", alpha=0.3)
        sizes = sorted(df[df.sweep == sweep][sweep].unique())
        if len(sizes) >= 2:  # reference slopes 1 and 2 through the median of the first point
            first = df[(df.sweep == sweep) & (df[sweep] == sizes[0]) & (df.status == "ok")]["cpu_s"]
            if len(first):
                y0 = float(first.median())
                xs = np.array([sizes[0], sizes[-1]], float)
                for b, ls in ((1, ":"), (2, "--")):
                    ax.plot(xs, y0 * (xs / xs[0]) ** b, color="grey", ls=ls, lw=1, label=f"slope {b}" if sweep == "n" else None)
    axes[0].legend(fontsize=7, ncol=2, loc="upper left")
    fig.suptitle("catebench: CPU cost of fit + predict as the data grow (synthetic design, log-log)")
    fig.tight_layout()
    from catebench.benchmark.plots import write_png_svg

    write_png_svg(fig, out, "cost_curves", dpi=120, bbox_inches=None)


# ---- sampling -----------------------------------------------------------------------------------------------
def sampling_ratio(draws: int = 20, repeats: int = 3) -> dict:
    """Seconds for ``draws`` draws of every IHDP unit: the IWDD one-step generator vs the teacher's Heun sampler
    (:func:`studies.sampling_speed.time_samplers`), on an ``IWDD`` of the default architecture with short training
    (test parameters: sampling cost depends on the network, not on how long it trained), fitted on all of IHDP
    replication 1."""
    from catebench.benchmark.runner import limit_threads
    from catebench.datasets.ihdp import IHDP
    from catebench.estimators.iwdd import IWDD

    from .sampling_speed import time_samplers

    limit_threads()
    data = IHDP().load(1)
    params = {k: v for k, v in IWDD.test_params().items() if k not in ("device", "random_state")}
    arch = {k: v for k, v in IWDD().get_params().items() if k in ("width", "n_blocks")}
    est = IWDD(**{**params, **arch}, device="cpu", random_state=0)
    limit_threads()
    est.fit(data.X, data.t, data.y)
    r = time_samplers(est, data.X, n_draws=draws, heun_steps=50, repeats=repeats)
    return {"units": r["units"], "draws": draws, "repeats": repeats, "architecture": arch,
            "training_params": {k: v for k, v in params.items() if k not in arch},
            "one_step_s": r["one_step"], "heun50_s": r["heun"], "ratio_median": r["ratio"],
            "one_step_cpu_s": r["one_step_cpu"], "heun50_cpu_s": r["heun_cpu"], "cpu_ratio_median": r["cpu_ratio"],
            "load_avg_1min": _load(), "measured_utc": _machine()["date_utc"]}  # fmt: skip


# ---- board split and old-vs-new comparison ------------------------------------------------------------------
def board_split(store_path: str) -> "Any":
    """Per estimator: tasks, sums of fit, predict and (generative estimators) sampling seconds, their total and its
    share, and the median fit + predict seconds per task, from a store. Unrounded (rounding each column apart would
    break total = fit + predict + sample); round when writing."""
    from catebench.benchmark.store import Store, task_seconds

    df = Store(store_path).results()
    df = df[df.status == "ok"].copy()
    # generative estimators are also sampled for the distributional metrics (stored as sample_seconds)
    df["sample_seconds"] = df["sample_seconds"].fillna(0.0) if "sample_seconds" in df else 0.0
    df["fit_predict_s"] = df["fit_seconds"] + df["predict_seconds"]
    df["task_s"] = task_seconds(df)
    g = df.groupby("estimator").agg(tasks=("key", "size"), fit_s_sum=("fit_seconds", "sum"),
                                    predict_s_sum=("predict_seconds", "sum"), sample_s_sum=("sample_seconds", "sum"),
                                    total_s_sum=("task_s", "sum"), total_s_median=("fit_predict_s", "median"))  # fmt: skip
    g["share"] = g["total_s_sum"] / g["total_s_sum"].sum()
    return g.sort_values("total_s_sum", ascending=False).reset_index()


OLD_ESTIMATORS = ("causal-forest", "cfr-mmd", "cfr-wass", "diffusion-teacher", "dr-learner", "dragonnet",
                  "dragonnet-treg", "iwdd-ipw", "iwdd-kl", "iwdd-plain", "iwdd-rand", "r-learner", "s-learner",
                  "s-learner-linear", "t-learner", "t-learner-linear", "tarnet", "x-learner")  # fmt: skip


def _old_tree(commit: str, cache: Path) -> Path:
    tree = cache / f"tree-{commit}"
    if not (tree / "benchmark").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def _code_entry(tree: Path) -> tuple[dict, str]:
    """``(environment, module)`` that run the code of source tree ``tree`` with ``python -m module``. A tree from
    before the namespace move runs as ``benchmark``; a later one as ``catebench.benchmark`` through a folder of
    links (``<tree>-pkg/catebench/...``) placed before the installed package on the path."""
    if tree == ROOT or "catebench.benchmark" not in (tree / "pyproject.toml").read_text():
        return _child_env(tree), "catebench.benchmark" if tree == ROOT else "benchmark"
    pkg = tree.with_name(tree.name + "-pkg")
    for d in ("benchmark", "estimators", "datasets"):
        link = pkg / "catebench" / d
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to((tree / d).resolve(), target_is_directory=True)
    env = _child_env(tree)
    env["PYTHONPATH"] = os.pathsep.join([str(pkg.resolve()), env["PYTHONPATH"]])
    return env, "catebench.benchmark"


def _reap_each(procs: dict) -> dict:
    """Wait for side-by-side processes ``{code: (Popen, start perf_counter, load, log)}``, reaping each when *it*
    ends (waiting for them in turn would count the first one's time in the second one's wall time); returns
    ``{code: (wait status, rusage, wall seconds)}``."""
    ended: dict = {}
    while len(ended) < len(procs):
        for code, (proc, t0, _load, _log) in procs.items():
            if code not in ended:
                pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    ended[code] = (status, ru, time.perf_counter() - t0)
        time.sleep(0.1)
    return ended


def compare(commit: str, estimators, replications: int, cache: Path, csv_path: Path) -> "Any":
    """Old commit vs current tree on IHDP replications 1..R, side by side: for r = 1..R, the old and the current code
    each run ``catebench run default --estimators ALL --replications r --executor inline`` into their own store
    (which already holds replications < r, so only replication r runs), *at the same time*, one process each, so
    both see the same machine load. Each run's wall time and CPU time (user + system, from ``os.wait4``) are
    recorded. The stores resume, so a rerun finishes what is missing."""
    import pandas as pd

    old_tree = _old_tree(commit, cache)
    rows = pd.read_csv(csv_path).to_dict("records") if csv_path.exists() else []
    done = {(int(r["replication"]), r["code"]) for r in rows}
    for rep in range(1, replications + 1):
        procs = {}
        for code, tree in ((commit, old_tree), ("current", ROOT)):
            if (rep, code) in done:
                continue
            store = cache / f"compare-{code}-r{replications}.sqlite"
            env, module = _code_entry(tree)
            cmd = [sys.executable, "-m", module, "run", "default", "--estimators", ",".join(estimators),
                   "--replications", str(rep), "--n-jobs", "1", "--executor", "inline", "--store",
                   str(store.resolve()), "--no-progress"]  # fmt: skip
            log = open(cache / f"compare-{code}-r{rep}.log", "w")
            procs[code] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tree),
                           time.perf_counter(), _load(), log)  # fmt: skip
        ended = _reap_each(procs)
        for code, (proc, t0, load, log) in procs.items():
            status, ru, wall = ended[code]
            proc.returncode = os.waitstatus_to_exitcode(status)
            log.close()
            text = (cache / f"compare-{code}-r{rep}.log").read_text()
            if proc.returncode != 0:
                raise RuntimeError(f"{code} replication {rep}: {text[-800:]}")
            rows.append({"replication": rep, "code": code, "wall_s": round(wall, 2),
                         "cpu_s": round(ru.ru_utime + ru.ru_stime, 2), "load_avg_1min": load,
                         "load_avg_1min_after": _load(), "measured_utc": _machine()["date_utc"],
                         "summary": _relative(text.strip().splitlines()[-1], cache)[:200]})  # fmt: skip
            print(rows[-1], flush=True)
            pd.DataFrame(rows).to_csv(csv_path, index=False)
    return pd.DataFrame(rows)


def _relative(text: str, cache: Path) -> str:
    """``text`` with the cache folder's absolute path written relative to the clone (no machine paths in results)."""
    cache = Path(cache).resolve()
    try:
        rel = str(cache.relative_to(ROOT))
    except ValueError:
        rel = cache.name
    return text.replace(str(cache), rel)


#: An absolute path up to a folder of the study's cache (``.catebench/...``), as the CLI prints it in its summary.
_ABSOLUTE_CACHE_PREFIX = re.compile(r"(?<![\w.])/(?:[^\s/'\"()]+/)+?(?=\.catebench/)")


def relative_summaries(out: Path) -> list[str]:
    """Write the ``summary`` text column of ``compare_runs.csv`` and ``board_wall.csv`` in ``out`` with the cache's
    paths relative to the clone, as :func:`_relative` writes new rows; rows written before it named the machine's
    absolute paths. Only that text changes, no number. Returns the names of the files rewritten."""
    import pandas as pd

    changed = []
    for name in ("compare_runs.csv", "board_wall.csv"):
        path = Path(out) / name
        if not path.is_file():
            continue
        df = pd.read_csv(path, dtype=str, keep_default_na=False)  # as text: every other cell is kept byte for byte
        if "summary" not in df:
            continue
        fixed = df["summary"].map(lambda t: _ABSOLUTE_CACHE_PREFIX.sub("", t))
        if not fixed.equals(df["summary"]):
            df["summary"] = fixed
            df.to_csv(path, index=False)
            changed.append(name)
    return changed


def board_wall(commit: str, estimators, replications: int, cache: Path) -> list[dict]:
    """The default board (``estimators``, replications 1..R) plus its report, one process per code, old commit and
    current tree started together in fresh stores; the wall and CPU time of each run + report (``os.wait4`` of a
    shell that runs both, so the CPU time includes both). Measured again on every call (the stores are replaced)."""
    old_tree = _old_tree(commit, cache)
    procs, stores = {}, {}
    for code, tree in ((commit, old_tree), ("current", ROOT)):
        store = stores[code] = (cache / f"wall-{code}-r{replications}.sqlite").resolve()
        for p in (store, store.with_name(store.name + "-wal"), store.with_name(store.name + "-shm")):
            p.unlink(missing_ok=True)
        report = (cache / f"wall-{code}-r{replications}-report").resolve()
        shutil.rmtree(report, ignore_errors=True)
        py = shlex.quote(sys.executable)
        env, mod = _code_entry(tree)
        cmd = (f"{py} -m {mod} run default --estimators {shlex.quote(','.join(estimators))} --replications "
               f"{replications} --n-jobs 1 --executor inline --store {shlex.quote(str(store))} --no-progress && "
               f"{py} -m {mod} report --store {shlex.quote(str(store))} --out {shlex.quote(str(report))}")
        log = open(cache / f"wall-{code}-r{replications}.log", "w")
        procs[code] = (subprocess.Popen(["sh", "-c", cmd], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tree),
                       time.perf_counter(), _load(), log)  # fmt: skip
    ended = _reap_each(procs)
    rows = []
    for code, (proc, t0, load, log) in procs.items():
        status, ru, wall = ended[code]
        log.close()
        text = (cache / f"wall-{code}-r{replications}.log").read_text()
        if os.waitstatus_to_exitcode(status) != 0:
            raise RuntimeError(f"{code}: {text[-800:]}")
        rows.append({"code": code, "replications": replications, "estimators": len(estimators),
                     "wall_s": round(wall, 2), "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
                     "sample_s": round(float(board_split(str(stores[code]))["sample_s_sum"].sum()), 2),
                     "load_avg_1min": load,
                     "load_avg_1min_after": _load(), "measured_utc": _machine()["date_utc"],
                     "summary": _relative(" / ".join(text.strip().splitlines()[-2:]), cache)[:300]})  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def compare_table(commit: str, replications: int, cache: Path, runs) -> "Any":
    import pandas as pd

    frames = []
    for code in (commit, "current"):
        store = cache / f"compare-{code}-r{replications}.sqlite"
        if store.exists():
            s = board_split(str(store))[["estimator", "tasks", "total_s_sum"]]
            frames.append(s.rename(columns={"tasks": f"tasks_{code}", "total_s_sum": f"task_s_{code}"}))
    if len(frames) < 2:
        return None
    t = frames[0].merge(frames[1], on="estimator", how="outer")
    t["ratio_task_s"] = (t["task_s_current"] / t[f"task_s_{commit}"]).round(3)
    same = _same_predictions(*(cache / f"compare-{code}-r{replications}.sqlite" for code in (commit, "current")))
    t["same_predictions"] = t["estimator"].map(same).fillna(0).astype(int)
    return t


def _same_predictions(old_store: Path, new_store: Path) -> dict:
    """Per estimator: how many tasks (same dataset and replication) both stores hold with the same prediction
    hash."""
    from catebench.benchmark.store import Store
    from catebench.benchmark.taskfile import with_digests

    keys = ["dataset", "replication", "estimator"]
    a, b = (with_digests(Store(p, readonly=True).results(), p)[keys + ["predictions_sha"]] for p in (old_store, new_store))
    m = a.merge(b, on=keys)
    return m[m["predictions_sha_x"] == m["predictions_sha_y"]].groupby("estimator").size().to_dict()


# ---- summary ------------------------------------------------------------------------------------------------
def _as_list(v) -> list:
    return [] if v is None else (v if isinstance(v, list) else [v])


def _md_table(df, floatfmt: str = "{:.3g}") -> list[str]:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in df.itertuples(index=False):
        cells = []
        for v in r:
            if isinstance(v, float) and np.isfinite(v) and v == int(v) and abs(v) >= 1:
                cells.append(str(int(v)))
            elif isinstance(v, float):
                cells.append("" if np.isnan(v) else floatfmt.format(v))
            else:
                cells.append("" if v is None else str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def wall_ratios(w, cache: Path | None = None) -> dict | None:
    """The ``wall`` part's comparison from its rows (``board_wall.csv``): current / old ratios of wall and CPU time,
    the current run's sampling seconds for the distributional metrics (work the old commit did not do; recorded
    with the run as ``sample_s``, else read from the run's store in ``cache``), and the wall ratio without them.
    None without both codes' rows."""
    old_w, new_w = w[w.code != "current"], w[w.code == "current"]
    if not len(old_w) or not len(new_w):
        return None
    old_wall, new_wall = float(old_w.wall_s.iloc[0]), float(new_w.wall_s.iloc[0])
    sample, src = None, "`sample_s`"
    if "sample_s" in w and np.isfinite(new_w.sample_s.iloc[0]):
        sample = float(new_w.sample_s.iloc[0])
    elif cache is not None:
        store = cache / f"wall-current-r{int(new_w.replications.iloc[0])}.sqlite"
        if store.exists():
            sample, src = float(board_split(str(store))["sample_s_sum"].sum()), f"its store, `{store}`"
    return {"old_code": str(old_w.code.iloc[0]), "estimators": int(new_w.estimators.iloc[0]),
            "replications": int(new_w.replications.iloc[0]), "wall": new_wall / old_wall,
            "cpu": float(new_w.cpu_s.iloc[0] / old_w.cpu_s.iloc[0]), "sample_s": sample, "sample_source": src,
            "wall_without_sampling": None if sample is None else (new_wall - sample) / old_wall}


def write_summary(out: Path, cache: Path | None = None) -> str:
    import pandas as pd

    meta = json.loads((out / "runs.json").read_text()) if (out / "runs.json").exists() else {}
    lines = ["# Performance study", "",
             "Generated by `python -m studies.perf` (module docstring: what each part measures). Timings "
             "on a shared machine vary (up to 3x from day to day here); compare numbers only within one table, "
             "where they were measured side by side. Each part's command, date and machine load:", ""]  # fmt: skip
    for part, runs in meta.items():
        for m in _as_list(runs):
            lines.append(f"- `{part}`: `{m['command']}` — {m['date_utc']}, {m['nproc']} CPUs, `{m['uptime']}`")
    lines.append("")
    if (out / "cli_latency.csv").exists():
        c = pd.read_csv(out / "cli_latency.csv")
        med = c.groupby("command", sort=False)["seconds"].median()
        base = med.get("python -c pass", float("nan"))
        has_cpu = "cpu_s" in c
        cmed = c.groupby("command", sort=False)["cpu_s"].median() if has_cpu else None
        cbase = cmed.get("python -c pass", float("nan")) if has_cpu else float("nan")
        lines += ["## CLI latency (fresh process each, interleaved, median of "
                  f"{int(c['repeat'].max())})", "",
                  "| command | median wall s | minus `python -c pass` (s) | median CPU s | CPU minus `python -c pass` (s) "
                  "| wall runs (s) |", "|---|---|---|---|---|---|"]  # fmt: skip
        for cmd, v in med.items():
            runs = ", ".join(f"{x:.2f}" for x in c[c.command == cmd]["seconds"])
            cv = cmed[cmd] if has_cpu else float("nan")
            lines.append(f"| `{cmd}` | {v:.3f} | {v - base:+.3f} | {cv:.3f} | {cv - cbase:+.3f} | {runs} |")
        lines += ["", "CPU time (user + system of the process, from `os.wait4`) is what a quiet machine's wall time "
                  "would be; on this shared machine wall time is mostly waiting for a core."]
        lines += ["", f"Load average (1 min) during the runs: {c['load_avg_1min'].min():.1f}-"
                  f"{c['load_avg_1min'].max():.1f}.", ""]  # fmt: skip
    if (out / "overhead.csv").exists():
        o = pd.read_csv(out / "overhead.csv")
        lines += ["## Runner overhead per task (no-op estimator, one worker)", ""]
        lines += _md_table(o, "{:.4g}")
        ref_line = ""
        ref = o[o.executor.astype(str).str.startswith("reference")]
        if len(ref):
            r = ref.iloc[0]
            parts = []
            for ex in ("inline", "local", "dask"):
                row = o[o.executor == ex]
                if len(row):
                    parts.append(f"{ex} {float(row['overhead_s_per_task'].iloc[0]):.4f} s = "
                                 f"**{100 * float(row['overhead_s_per_task'].iloc[0]) / float(r.steady_s_per_task):.1f} %**")
            inl = o[o.executor == "inline"]
            cpu_share = (f"; in CPU time (inline: the whole task runs in the driver) "
                         f"{float(inl['driver_cpu_s_per_task'].iloc[0]):.4f} s vs {float(r.driver_cpu_s_per_task):.3f} s "
                         f"= {100 * float(inl['driver_cpu_s_per_task'].iloc[0]) / float(r.driver_cpu_s_per_task):.1f} %"
                         if len(inl) else "")
            ref_line = (f"Yardstick, measured right after in the same process: {r.executor}, median "
                        f"{float(r.steady_s_per_task):.3f} s wall, {float(r.driver_cpu_s_per_task):.3f} s CPU. Overhead "
                        f"per task as a share of it (wall): {'; '.join(parts)}{cpu_share}.")
        if (out / "board_split.csv").exists():
            b = pd.read_csv(out / "board_split.csv")
            ref_line += (f" The median built-in estimator's median fit + predict in the `board` store: "
                         f"{float(b['total_s_median'].median()):.3f} s (another time, another load).")
        lines += ["", "`steady_s_per_task`: (last result - first result) / (tasks - 1), so start-up (worker "
                  "processes, dask cluster, imports) is left out; `overhead_s_per_task` subtracts the no-op's own "
                  "fit + predict time. " + ref_line, ""]  # fmt: skip
    for name in relative_summaries(out):
        print(f"{out / name}: machine paths in the summary column written relative to the clone", flush=True)
    if (out / "cost_curves.csv").exists():
        df = pd.read_csv(out / "cost_curves.csv")
        ex = exponents(df)
        lines += ["## Cost curves (fit + predict, one thread, `catebench.datasets.synthetic.Synthetic` replication 1)", "",
                  "![cost curves](cost_curves.png)", "",
                  "Times are the process's CPU seconds (`time.process_time`, one thread), which a shared machine's "
                  "load inflates far less than wall time; the cap applies to wall time. "
                  "Fitted exponent = slope of log(CPU seconds) on log(size) over the points that ran. `stopped`: a point "
                  "killed at the cap or skipped because its extrapolated time exceeded the cap (larger sizes of "
                  "that sweep were not run). Peak memory: largest increase of the process's peak RSS over its RSS "
                  "before the fit, over all points. Raw points, with the load average at each: `cost_curves.csv`.",
                  ""]  # fmt: skip
        lines += _md_table(ex, "{:.3g}")
        piv = df[(df.status == "ok")].pivot_table(index="estimator", columns=["sweep", "n", "d"], values="cpu_s")
        piv.columns = [f"{s}: n={n}, d={d}" for s, n, d in piv.columns]
        lines += ["", "CPU seconds (fit + predict) per point (wall seconds, larger on the loaded machine, are in "
                  "`cost_curves.csv`):", ""] + _md_table(piv.reset_index(), "{:.3g}") + [""]
    if (out / "sampling.json").exists():
        s = json.loads((out / "sampling.json").read_text())
        lines += ["## One-step vs Heun sampling", "",
                  f"One fitted `IWDD` (architecture {s['architecture']}, short training {s['training_params']}), "
                  f"{s['draws']} draws of each of {s['units']} IHDP units, one thread, median of {s['repeats']}: "
                  f"one-step generator {statistics.median(s['one_step_s']):.3f} s "
                  f"({', '.join(f'{v:.3f}' for v in s['one_step_s'])}), teacher's 50-step Heun sampler "
                  f"{statistics.median(s['heun50_s']):.2f} s ({', '.join(f'{v:.2f}' for v in s['heun50_s'])}): "
                  f"**ratio {s['ratio_median']:.1f}x** in wall time, {s.get('cpu_ratio_median', float('nan')):.1f}x in "
                  f"CPU time (99 network calls vs 1; {s['measured_utc']}, load {s['load_avg_1min']:.1f}).", ""]  # fmt: skip
    if (out / "board_split.csv").exists():
        b = pd.read_csv(out / "board_split.csv")
        src = (_as_list(meta.get("board")) or [{}])[-1].get("store", "?")
        lines += ["## Board time split by estimator", "",
                  f"From the store `{src}` (fit + predict seconds as recorded per task; worker start-up and the "
                  f"report are not in these sums). Total {b['total_s_sum'].sum():.1f} s over {int(b['tasks'].sum())} "
                  "tasks.", ""]  # fmt: skip
        lines += _md_table(b, "{:.3g}") + [""]
    if (out / "compare.csv").exists():
        t = pd.read_csv(out / "compare.csv")
        lines += ["## Today's code vs the old commit, side by side", ""]
        lines += _md_table(t, "{:.3g}")
        cols = [c for c in t.columns if c.startswith("task_s_")]
        if len(cols) == 2:
            old_c = [c for c in cols if not c.endswith("current")][0]
            both = t.dropna(subset=cols)
            tot_old, tot_new = both[old_c].sum(), both["task_s_current"].sum()
            runs = pd.read_csv(out / "compare_runs.csv") if (out / "compare_runs.csv").exists() else None
            w_old = float(runs[runs.code != "current"]["wall_s"].sum()) if runs is not None else float("nan")
            w_new = float(runs[runs.code == "current"]["wall_s"].sum()) if runs is not None else float("nan")
            c_old = float(runs[runs.code != "current"]["cpu_s"].sum()) if runs is not None else float("nan")
            c_new = float(runs[runs.code == "current"]["cpu_s"].sum()) if runs is not None else float("nan")
            m = (_as_list(meta.get("compare")) or [{}])[-1]
            lines += ["", f"`task_s`: fit + predict (+ the draws for the distributional metrics, where a code records "
                      f"their seconds) seconds summed over the tasks of IHDP replications "
                      f"1-{m.get('replications', '?')}, `catebench run default --estimators ALL --executor inline` per "
                      f"replication and code, old and current at the same time (`compare_runs.csv`: wall time, CPU time "
                      f"and load of each run). Sum over the {len(both)} estimators: "
                      f"{tot_old:.1f} s (old) vs {tot_new:.1f} s (current) = **{tot_new / tot_old:.2f}x**; wall time "
                      f"of the runs (interpreter and imports included, no report) {w_old:.1f} s vs "
                      f"{w_new:.1f} s = **{w_new / w_old:.2f}x**; their CPU time (what a quiet machine's wall time "
                      f"would be, one thread) {c_old:.1f} s vs {c_new:.1f} s = **{c_new / c_old:.2f}x**. The date "
                      f"and load in the command line above are those of its last invocation; a resumed one runs only "
                      f"what is missing, and each run's own date and load are in `compare_runs.csv`."
                      + (" `same_predictions`: tasks of the estimator whose predictions have the same hash in both "
                         "codes." if "same_predictions" in t.columns else ""), ""]  # fmt: skip
    if (out / "board_wall.csv").exists():
        w = pd.read_csv(out / "board_wall.csv")
        m = (_as_list(meta.get("wall")) or [{}])[-1]
        lines += ["## The default board as a user runs it: one process, report included, side by side", ""]
        lines += _md_table(w.drop(columns=["summary"]), "{:.4g}")
        r = wall_ratios(w, cache)
        if r is not None:
            lines += ["", f"`{m.get('command', 'python -m studies.perf --parts wall')}`: the "
                      f"{r['estimators']} estimators of {r['old_code']} on IHDP replications 1-{r['replications']}, "
                      "`catebench run default --executor inline --n-jobs 1` then `catebench report`, one process per "
                      "code, both started together on the same machine (one torch/BLAS thread each). Wall time "
                      f"current / old = **{r['wall']:.3f}x**; CPU time **{r['cpu']:.3f}x**.", ""]  # fmt: skip
            if r["sample_s"] is not None:
                lines += [f"Of the current run, {r['sample_s']:.1f} s (from {r['sample_source']}) is the sampling of "
                          "the generative estimators for the distributional metrics, which the old commit did not "
                          f"do; without it, the same work as the old commit's took **{r['wall_without_sampling']:.3f}x** "
                          "its wall time.", ""]
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text


def recorded_old_commit(meta: dict, parts: list[str]) -> str:
    """The old commit that ``runs.json`` (``meta``) records for the latest run of one of ``parts``; an error naming
    ``--old-commit`` when none does."""
    for part in parts:
        for m in reversed(_as_list(meta.get(part))):
            if m.get("old_commit"):
                return m["old_commit"]
    raise SystemExit(f"--old-commit COMMIT is needed for {' and '.join(parts)}: runs.json records no earlier run of "
                     "them to take it from.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}, or summary")
    ap.add_argument("--out", default="results/perf")
    ap.add_argument("--cache", default=".catebench/perf", help="stores and the old tree (not committed)")
    ap.add_argument("--cli-repeats", type=int, default=5)
    ap.add_argument("--overhead-tasks", type=int, default=300)
    ap.add_argument("--executors", default="inline,local,dask")
    ap.add_argument("--estimators", default="*", help="comma-separated names for `cost` (default every built-in)")
    ap.add_argument("--n-sizes", default="1000,4000,16000,64000")
    ap.add_argument("--d-sizes", default="5,25,100")
    ap.add_argument("--n-for-d", type=int, default=4000)
    ap.add_argument("--d-for-n", type=int, default=25)
    ap.add_argument("--cap", type=float, default=60.0,
                    help="CPU seconds a cost point may be predicted to take before it is skipped (default 60)")
    ap.add_argument("--wall-cap", type=float, default=600.0,
                    help="wall seconds after which a running cost point is killed (default 600)")
    ap.add_argument("--fresh", action="store_true", help="ignore cost_curves.csv and measure every point again")
    ap.add_argument("--draws", type=int, default=20)
    ap.add_argument("--board-store", help="store for the `board` split (default: the compare part's current store)")
    ap.add_argument("--old-commit", help="the commit the compare and wall parts run beside today's code (default: "
                                         "the one OUT/runs.json records for that part)")
    ap.add_argument("--worker", metavar="SPEC", help=argparse.SUPPRESS)  # the cost part's child process
    ap.add_argument("--replications", type=int, default=2, help="IHDP replications for `compare` (default 2)")
    ap.add_argument("--compare-estimators", default=",".join(OLD_ESTIMATORS))
    args = ap.parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        cost_worker(spec["estimator"], [tuple(p) for p in spec["points"]])
        return 0
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS + ("summary",)]
    if bad:
        raise SystemExit(f"unknown part(s) {bad}; choose from {', '.join(PARTS)}, summary")
    out, cache = Path(args.out), Path(args.cache)
    out.mkdir(parents=True, exist_ok=True)
    cache.mkdir(parents=True, exist_ok=True)
    import pandas as pd

    meta_path = out / "runs.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    command = "python -m studies.perf " + " ".join(shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))

    def record(part, **extra):
        # cost runs add up (cached points are kept), so all their commands are kept; other parts replace theirs.
        # Several runs may share the folder: re-read under a lock.
        import fcntl

        entry = {"command": command, **_machine(), **extra}
        with open(out / "runs.json.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            meta.clear()
            meta.update(json.loads(meta_path.read_text()) if meta_path.exists() else {})
            meta[part] = (_as_list(meta.get(part)) if part == "cost" else []) + [entry]
            meta_path.write_text(json.dumps(meta, indent=1))

    if "cli" in parts:
        record("cli")
        pd.DataFrame(cli_latency(args.cli_repeats)).to_csv(out / "cli_latency.csv", index=False)
    if "overhead" in parts:
        record("overhead")
        rows = runner_overhead(args.overhead_tasks, [e.strip() for e in args.executors.split(",") if e.strip()])
        pd.DataFrame(rows).to_csv(out / "overhead.csv", index=False)
    if "cost" in parts:
        from catebench.benchmark.registry import ESTIMATORS

        names = ESTIMATORS.names() if args.estimators == "*" else [e.strip() for e in args.estimators.split(",")]
        record("cost", cap_cpu_s=args.cap, wall_cap_s=args.wall_cap)
        df = cost_curves(names, [int(v) for v in args.n_sizes.split(",")], [int(v) for v in args.d_sizes.split(",")],
                         args.n_for_d, args.d_for_n, args.cap, out / "cost_curves.csv", fresh=args.fresh,
                         wall_cap=args.wall_cap)  # fmt: skip
        exponents(df).to_csv(out / "exponents.csv", index=False)
    if "sampling" in parts:
        record("sampling")
        (out / "sampling.json").write_text(json.dumps(sampling_ratio(args.draws), indent=1))
    if args.old_commit is None and {"compare", "wall"} & set(parts):
        args.old_commit = recorded_old_commit(meta, [p for p in ("compare", "wall") if p in parts])
    if "compare" in parts:
        record("compare", old_commit=args.old_commit, replications=args.replications)
        runs = compare(args.old_commit, [e.strip() for e in args.compare_estimators.split(",") if e.strip()],
                       args.replications, cache, cache / f"compare-runs-r{args.replications}.csv")  # fmt: skip
        runs.to_csv(out / "compare_runs.csv", index=False)
        t = compare_table(args.old_commit, args.replications, cache, runs)
        if t is not None:
            t.to_csv(out / "compare.csv", index=False)
    if "wall" in parts:
        record("wall", old_commit=args.old_commit, replications=args.replications)
        rows = board_wall(args.old_commit, [e.strip() for e in args.compare_estimators.split(",") if e.strip()],
                          args.replications, cache)  # fmt: skip
        pd.DataFrame(rows).to_csv(out / "board_wall.csv", index=False)
    if "board" in parts:
        store = args.board_store or str(cache / f"compare-current-r{args.replications}.sqlite")
        if not Path(store).exists():
            raise SystemExit(f"no store at {store}: run the compare part first or pass --board-store.")
        record("board", store=store)
        board_split(store).round(4).to_csv(out / "board_split.csv", index=False)
    for name in relative_summaries(out):
        print(f"{out / name}: machine paths in the summary column written relative to the clone", flush=True)
    if (out / "cost_curves.csv").exists():
        df = pd.read_csv(out / "cost_curves.csv")
        exponents(df).to_csv(out / "exponents.csv", index=False)
        plot_cost(df, out)
    print(write_summary(out, cache))
    return 0


if __name__ == "__main__":
    sys.exit(main())
