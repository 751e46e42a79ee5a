"""The ``catebench paper`` command-line options, kept apart from :mod:`catebench.benchmark.paper` so that building the
parser imports neither numpy nor pandas."""

from __future__ import annotations

__all__ = ["add_arguments", "DEFAULT_OUT", "DEFAULT_STORE"]

DEFAULT_OUT = "results/paper"
DEFAULT_STORE = "results/paper/store.sqlite"
IHDP_REPLICATIONS = 10


def add_arguments(p) -> None:
    """The ``catebench paper`` options (shared by ``python -m catebench.benchmark.paper``)."""
    p.add_argument("--settings", help="ACIC 2016 settings, e.g. 1-20,35 (default: all 77 with --acic2016-dir, "
                                      "else the offline 1-10)")
    p.add_argument("--acic2016-dir", help="directory holding data_cf_all/ (or acic2016/data_cf_all/, or that "
                                          "directory itself); default $CATEBENCH_DATA; none: settings 1-10 offline")
    p.add_argument("--acic2016-simulation", type=int, default=1, help="simulation replication of every ACIC 2016 "
                                                                       "setting (default 1, the paper's)")
    p.add_argument("--acic2018-dir", help="directory with the ACIC 2018 (IBM framework) files; default "
                                          "$CATEBENCH_DATA/acic2018; skipped with a message when absent")
    p.add_argument("--acic2018-datasets", help="which ACIC 2018 datasets (sorted ufid order), e.g. 1-24")
    p.add_argument("--replications", type=int, default=IHDP_REPLICATIONS, help="IHDP replications 1..N (default 10)")
    p.add_argument("--families", default="acic2016,acic2018,ihdp", help="dataset families (default all three)")
    p.add_argument("--estimators", default="*", help="comma-separated names or shell patterns, e.g. 'iwdd-*,"
                                                     "diffusion-teacher' (default '*': every registered one)")
    p.add_argument("--exclude", default="", help="comma-separated names or patterns to leave out")
    p.add_argument("--n-jobs", type=int, default=2, help="worker processes (default 2)")
    p.add_argument("--executor", choices=["local", "inline", "dask"], default="local")
    p.add_argument("--scheduler", help="dask scheduler address, e.g. tcp://10.0.0.5:8786 (implies --executor dask)")
    p.add_argument("--task-timeout", type=float, help="seconds before a task is stopped and recorded as timeout")
    p.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    p.add_argument("--store", default=DEFAULT_STORE, help=f"result store (default {DEFAULT_STORE})")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    p.add_argument("--retry-failed", action="store_true", help="rerun tasks stored as failed")
    p.add_argument("--report-only", action="store_true", help="run nothing; write the outputs from the store")
    p.add_argument("--no-report", action="store_true", help="run the tasks only; write no outputs")
    p.add_argument("--studies", choices=["auto", "run", "skip"], default="auto",
                   help="toy / speed / gradient-variance measurements: auto = reuse out/studies/*.json when "
                        "present, else measure (default); run = measure again; skip")
    p.add_argument("--quick-studies", action="store_true", help="smallest study sizes (smoke tests only)")
    p.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


