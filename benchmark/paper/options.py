"""The ``catebench paper`` command-line options and help.

Building the parser imports neither numpy nor pandas (``catebench --help`` and ``list`` build it): the help's
projected duration of the full run is read from the committed ``results/paper/budget.csv`` with the standard
library.
"""

from __future__ import annotations

import argparse
import csv
import math
import textwrap
from pathlib import Path

from .protocol import (DEFAULT_OUT, DEFAULT_STORE, FULL_N_JOBS, IHDP_FULL_REPLICATIONS, IHDP_REPLICATIONS,
                       PART_EXPORT_SECONDS)

__all__ = ["add_arguments", "committed_budget", "projected_full_run_seconds", "EXAMPLE"]

#: A small run (two ACIC 2016 settings, two IHDP replications, two fast estimators; about a minute) that writes
#: beside the committed results, not over them.
EXAMPLE = ("catebench paper --settings 1-2 --replications 2 --estimators t-learner-linear,s-learner-linear "
           "--studies skip --out /tmp/paper-example --store /tmp/paper-example/store.sqlite")


def committed_budget() -> Path | None:
    """``results/paper/budget.csv`` of the source tree this package was installed from, else of the working
    directory; None where neither exists."""
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        path = root / DEFAULT_OUT / "budget.csv"
        if path.is_file():
            return path
    return None


def projected_full_run_seconds(path: str | Path, n_jobs: int = FULL_N_JOBS) -> float | None:
    """Projected wall seconds of the full run with ``n_jobs`` workers: the sum of ``full_cpu_s`` of a budget CSV
    (written by :func:`catebench.benchmark.paper.budget.budget`) divided by ``n_jobs``; None without any timing."""
    with open(path, newline="") as fh:
        cpu = [float(r["full_cpu_s"]) for r in csv.DictReader(fh) if r.get("full_cpu_s") not in (None, "", "nan")]
    cpu = [v for v in cpu if math.isfinite(v)]
    return sum(cpu) / n_jobs if cpu else None


def _duration_text() -> str:
    path = committed_budget()
    seconds = projected_full_run_seconds(path) if path is not None else None
    if seconds is None:
        return "The full run's projected time is written to OUT/README.md (Budget) by its first run."
    s = int(round(seconds))
    with open(path, newline="") as fh:  # the IHDP replications that projection counted
        reps = max((int(float(r["tasks_full"])) for r in csv.DictReader(fh) if r.get("family") == "ihdp"), default=0)
    return (f"The full run (77 ACIC 2016 settings with --acic2016-dir, ACIC 2018 when its files are given, IHDP "
            f"{reps} replications, every registered estimator) is projected at about {s // 3600} h "
            f"{s % 3600 // 60:02d} min with {FULL_N_JOBS} workers ({DEFAULT_OUT}/budget.csv: the median task times "
            "measured in its store); it resumes, so it can be run in parts.")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``catebench paper`` options (shared by ``python -m catebench.benchmark.paper``), and the help's epilog:
    the full run's projected duration and a small example."""
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    guard = (f"A run smaller than the full protocol (fewer settings, replications, estimators or families) refuses to "
             f"write into {DEFAULT_OUT}, which holds the full run's committed results, unless --out names another "
             "folder or --overwrite is given. A small example (about a minute):")
    p.epilog = "\n\n".join([textwrap.fill(_duration_text(), 100), textwrap.fill(guard, 100),
                             "  " + EXAMPLE])
    p.add_argument("--settings", help="ACIC 2016 settings, e.g. 1-20,35 (default: all 77 with --acic2016-dir, "
                                      "else the offline 1-10)")
    p.add_argument("--acic2016-dir", help="directory holding data_cf_all/ (or acic2016/data_cf_all/, or that "
                                          "directory itself); default $CATEBENCH_DATA; none: settings 1-10 offline")
    p.add_argument("--acic2016-simulation", type=int, default=1, help="simulation replication of every ACIC 2016 "
                                                                       "setting (default 1, the paper's)")
    p.add_argument("--acic2018-dir", help="directory with the ACIC 2018 (IBM framework) files; default "
                                          "$CATEBENCH_DATA/acic2018; skipped with a message when absent")
    p.add_argument("--acic2018-datasets", help="which ACIC 2018 datasets (sorted ufid order), e.g. 1-24")
    p.add_argument("--replications", type=int, default=IHDP_FULL_REPLICATIONS,
                   help=f"IHDP replications 1..N (default {IHDP_FULL_REPLICATIONS}: the paper's 1-{IHDP_REPLICATIONS}, "
                        "on which the claims are decided, and the rest as a robustness family)")
    p.add_argument("--families", default="acic2016,acic2018,ihdp", help="dataset families (default all three)")
    p.add_argument("--estimators", default="*", help="comma-separated names or shell patterns, e.g. 'iwdd-*,"
                                                     "diffusion-teacher' (default '*': every registered one)")
    p.add_argument("--exclude", default="", help="comma-separated names or patterns to leave out")
    p.add_argument("--n-jobs", type=int, default=FULL_N_JOBS, help=f"worker processes (default {FULL_N_JOBS})")
    p.add_argument("--executor", choices=["local", "inline", "dask"], default="local")
    p.add_argument("--scheduler", help="dask scheduler address, e.g. tcp://10.0.0.5:8786 (implies --executor dask)")
    p.add_argument("--task-timeout", type=float, help="seconds before a task is stopped and recorded as timeout")
    p.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    p.add_argument("--store", default=DEFAULT_STORE, help=f"result store (default {DEFAULT_STORE})")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    p.add_argument("--overwrite", action="store_true",
                   help=f"let a run smaller than the full protocol write into {DEFAULT_OUT}")
    p.add_argument("--retry-failed", action="store_true", help="rerun tasks stored as failed")
    p.add_argument("--resume-from", action="append", default=[], metavar="TASKS_CSV",
                   help="a tasks.csv of an earlier part of this run (`catebench report --store STORE --tasks-only "
                        "--out DIR`): its finished tasks are taken into the store instead of rerun; repeatable")
    p.add_argument("--teacher-cache", metavar="DIR",
                   help="where the IWDD-family tasks of one dataset share their diffusion teacher (results "
                        "bit-identical; default: STORE.teachers beside the store; delete it after the run)")
    p.add_argument("--no-teacher-cache", action="store_true",
                   help="train the teacher in every IWDD-family task (fit times then include it everywhere)")
    p.add_argument("--report-only", action="store_true", help="run nothing; write the outputs from the store")
    p.add_argument("--no-report", action="store_true",
                   help="run a part only: no outputs but the per-task files of every stored task (tasks.csv, "
                        f"tasks_params.json) in --out, rewritten every {PART_EXPORT_SECONDS // 60} min and at the "
                        "end, for the next part's --resume-from")
    p.add_argument("--studies", choices=["auto", "run", "skip"], default="auto",
                   help="toy / speed / gradient-variance measurements (the study `python -m studies.paper` of a "
                        "clone): auto = reuse out/studies/*.json when present, else measure (default); run = "
                        "measure again; skip")
    p.add_argument("--quick-studies", action="store_true", help="smallest study sizes (smoke tests only)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
