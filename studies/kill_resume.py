"""SIGKILL the driver at a random point of a run, resume, and check the store equals an uninterrupted run.

One trial: start ``catebench run`` (local executor, 2 workers) in a fresh store as a subprocess and SIGKILL it at
a random point: in one trial of five at a time uniform over the uninterrupted run's wall time (mostly start-up,
planning and worker start), otherwise once the store holds a uniform random number k of rows (1 <= k < 24),
plus a uniform 0-0.15 s jitter (so kills land between, and during, row writes). Then rerun the same command to
completion in the study's own process with the inline executor (``run()``; this saves starting an interpreter and
workers again on a busy machine; the executors give identical results, see ``tests/test_executors.py``). The trial passes when the resumed store equals the reference store (one uninterrupted run of the same
config): the same set of task keys (no gaps), each exactly once (no duplicates), the same status, metrics and
predictions for every task, no prediction blob without its row, and SQLite's ``integrity_check`` says ``ok``.
The kill points come from ``numpy.random.default_rng(seed)``: rerunning with the same ``--seed`` replays the same
draws (the exact instant reached still depends on the machine's speed).

Run (about 10 s a trial on a shared 2-core machine)::

    python -m studies.kill_resume --trials 50

writes ``results/kill_resume/summary.md`` (and ``trials.csv``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["CONFIG", "compare_stores", "run_cli", "trial", "main"]

N_TASKS = 24
#: 24 cheap tasks: two OLS meta-learners on 12 IHDP replications.
CONFIG = """\
name = "kill-resume"
seed = 0
n_jobs = 2
executor = "local"

[[datasets]]
name = "ihdp"
replications = 12

[[estimators]]
name = "t-learner-linear"

[[estimators]]
name = "s-learner-linear"
"""


def _cmd(config: Path, store: Path) -> list[str]:
    return [sys.executable, "-m", "catebench.benchmark", "run", str(config), "--store", str(store), "--no-progress"]


def _env() -> dict:
    return {**os.environ, "PYTHONWARNINGS": "ignore"}


def run_cli(config: Path, store: Path, timeout: float = 600, executor: str | None = None) -> float:
    """Run the config to completion in a subprocess (``executor`` overrides the config's); return its wall time."""
    t0 = time.perf_counter()
    cmd = _cmd(config, store) + (["--executor", executor] if executor else [])
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"catebench run failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return time.perf_counter() - t0


def _rows(path: Path) -> tuple[list[tuple], dict[str, bytes], str]:
    con = sqlite3.connect(path)
    try:
        rows = con.execute(
            "SELECT key, status, error, metrics, n_fit, n_test, truth FROM results ORDER BY key"
        ).fetchall()
        preds = dict(con.execute("SELECT key, data FROM predictions").fetchall())
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()
    return rows, preds, integrity


def compare_stores(got: Path, ref: Path) -> list[str]:
    """Differences between a resumed store and the reference store; empty when they are equal."""
    from catebench.benchmark.store import unpack_predictions

    rows, preds, integrity = _rows(got)
    ref_rows, ref_preds, _ = _rows(ref)
    problems = []
    if integrity != "ok":
        problems.append(f"integrity_check: {integrity}")
    keys = [r[0] for r in rows]
    if len(keys) != len(set(keys)):
        problems.append(f"duplicate keys: {len(keys) - len(set(keys))}")
    ref_keys = {r[0] for r in ref_rows}
    if set(keys) != ref_keys:
        problems.append(f"missing {len(ref_keys - set(keys))} task(s), {len(set(keys) - ref_keys)} unexpected")
    got_by_key = {r[0]: r for r in rows}
    for r in ref_rows:
        g = got_by_key.get(r[0])
        if g is not None and (g[1:3] != r[1:3] or json.loads(g[3]) != json.loads(r[3]) or g[4:] != r[4:]):
            problems.append(f"task {r[0]}: row differs")
    if set(preds) - set(keys):
        problems.append(f"{len(set(preds) - set(keys))} prediction blob(s) without a row")
    for k, blob in ref_preds.items():
        if k not in preds:
            problems.append(f"task {k}: predictions missing")
            continue
        a, b = unpack_predictions(preds[k]), unpack_predictions(blob)
        if a.keys() != b.keys() or any(not np.array_equal(a[n], b[n]) for n in a):
            problems.append(f"task {k}: predictions differ")
    return problems


def run_here(config: Path, store: Path, executor: str = "inline") -> float:
    """Run the config to completion in this process (no new interpreter to start); return its wall time."""
    import dataclasses

    from catebench.benchmark.config import load_config
    from catebench.benchmark.runner import run

    t0 = time.perf_counter()
    cfg = dataclasses.replace(load_config(config), store=str(store), executor=executor)
    s = run(cfg, progress=False)
    if s.failed:
        raise RuntimeError(f"the run had failures: {s}")
    return time.perf_counter() - t0


def _count(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1)
        try:
            return con.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0  # not created yet, or the schema is being written


def trial(config: Path, ref_store: Path, workdir: Path, kill_after_rows: int, delay: float, limit: float = 120) -> dict:
    """Start a run; SIGKILL the driver ``delay`` s after ``kill_after_rows`` rows are stored; resume; compare.

    ``kill_after_rows=0`` kills ``delay`` seconds after the start (during start-up or planning).
    """
    store = workdir / "store.sqlite"
    for p in workdir.glob("store.sqlite*"):
        p.unlink()
    proc = subprocess.Popen(_cmd(config, store), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env())
    t0 = time.monotonic()
    finished_before_kill = False
    while kill_after_rows > 0 and _count(store) < kill_after_rows and proc.poll() is None:
        if time.monotonic() - t0 > limit:
            break
        time.sleep(0.02)
    try:
        proc.wait(timeout=delay)
        finished_before_kill = True
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    rows_at_kill = _count(store)
    run_here(config, store)  # the resume, in this process: same results whatever the executor (tested)
    problems = compare_stores(store, ref_store)
    return {"kill_after_rows": kill_after_rows, "delay_s": round(delay, 3), "finished_before_kill": finished_before_kill,
            "rows_at_kill": rows_at_kill, "passed": not problems, "problems": "; ".join(problems[:5])}  # fmt: skip


def draw_kill_point(rng: np.random.Generator, n_tasks: int, full_seconds: float) -> tuple[int, float]:
    """One in five kills at a uniform time in the whole run; the others at a uniform row count, then a jitter."""
    if rng.uniform() < 0.2:
        return 0, float(rng.uniform(0.0, full_seconds))
    return int(rng.integers(1, n_tasks)), float(rng.uniform(0.0, 0.15))


def _write_summary(out: Path, trials: list[dict], args, full: float):
    import pandas as pd

    df = pd.DataFrame(trials)
    df.to_csv(out / "trials.csv", index=False)
    passed = int(df["passed"].sum())
    killed = df[~df["finished_before_kill"]]
    lines = [
        "# Kill the driver at a random point, resume, compare",
        "",
        f"Command: `python -m studies.kill_resume --trials {args.trials} --seed {args.seed}`",
        "",
        "Config: t-learner-linear and s-learner-linear on IHDP replications 1-12 (24 tasks), local executor, 2 "
        "workers. Each trial SIGKILLs `catebench run` at a random point (1 in 5 at a uniform time over the "
        f"uninterrupted run's {full:.1f} s, the others 0-0.15 s after a uniform random number of rows is stored), reruns it to completion (inline executor) and compares the store with an "
        "uninterrupted run's: same task keys (no gaps), each once (no duplicates), same status, metrics and "
        "predictions, no orphan predictions, SQLite integrity_check ok.",
        "",
        f"**{passed} of {len(df)} trials passed**"
        + ("." if len(df) == args.trials else f" (run stopped after {len(df)} of the {args.trials} trials asked for)."),
        "",
        f"- trials where the driver was killed mid-run: {len(killed)} (the others had finished before the kill)",
        f"- rows already stored at the kill: min {killed['rows_at_kill'].min() if len(killed) else '-'}, "
        f"median {killed['rows_at_kill'].median() if len(killed) else '-'}, "
        f"max {killed['rows_at_kill'].max() if len(killed) else '-'} of 24; killed with 0 rows stored: "
        f"{int((killed['rows_at_kill'] == 0).sum())}, with 1-23 rows: "
        f"{int(((killed['rows_at_kill'] > 0) & (killed['rows_at_kill'] < N_TASKS)).sum())}, with all 24 rows "
        f"stored (before the driver exited): {int((killed['rows_at_kill'] == N_TASKS).sum())}",
        "",
        "Measured on a shared 2-core machine; per-trial rows in `trials.csv`.",
    ]
    if passed < len(df):
        lines += ["", "Failures:", ""] + [f"- trial {r.trial}: {r.problems}" for r in df[~df["passed"]].itertuples()]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return df


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=50, help="kill-and-resume trials (default 50)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the kill delays (default 0)")
    ap.add_argument("--out", default="results/kill_resume", help="output folder (default results/kill_resume)")
    args = ap.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    with tempfile.TemporaryDirectory(prefix="catebench-kill-") as tmp:
        tmp = Path(tmp)
        config = tmp / "kill_resume.toml"
        config.write_text(CONFIG)
        ref = tmp / "ref.sqlite"
        full = run_cli(config, ref)  # the reference: one uninterrupted `catebench run`, local executor
        print(f"reference run: {full:.1f} s", flush=True)
        work = tmp / "work"
        work.mkdir()
        trials = []
        for i in range(args.trials):
            rows, delay = draw_kill_point(rng, N_TASKS, full)
            r = trial(config, ref, work, rows, delay)
            trials.append({"trial": i + 1, **r})
            _write_summary(out, trials, args, full)
            print(f"trial {i + 1}/{args.trials}: kill {delay:.2f} s after {rows} rows, {r['rows_at_kill']} rows stored "
                  f"at the kill, "
                  f"{'PASS' if r['passed'] else 'FAIL ' + r['problems']}", flush=True)  # fmt: skip
    df = _write_summary(out, trials, args, full)
    print((out / "summary.md").read_text())
    passed = int(df["passed"].sum())
    return 0 if passed == len(df) else 1


if __name__ == "__main__":
    sys.exit(main())
