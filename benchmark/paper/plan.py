"""The plan of a ``catebench paper`` invocation: which datasets and estimators, as a run config; running it with a
record of each run; and which stored rows the tables use.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from catebench.datasets.acic2016 import CAUSALLIB_BUNDLED, find_data_cf_all, verify_manifest
from catebench.datasets.acic2018 import ACIC2018
from catebench.datasets.base import DatasetUnavailable

from ..config import DatasetSpec, EstimatorSpec, RunConfig
from ..registry import ESTIMATORS
from ..runner import run
from ..taskfile import export_store
from ..tasks import plan_tasks
from .protocol import DEFAULT_OUT, DEFAULT_STORE, FAMILIES, IHDP_FULL_REPLICATIONS, N_ACIC2016, SPLIT, compact, parse_ranges

__all__ = ["PaperPlan", "select_estimators", "build_plan", "run_plan", "code_version", "drop_stale", "utc_now",
           "load_average"]


def select_estimators(include: str = "*", exclude: str = "") -> list[str]:
    """Registered estimator names matching ``include`` and not ``exclude`` (comma-separated shell patterns).

    ``module:Class`` entries in ``include`` pass through unchanged. A pattern that matches no registered name is an
    error naming it.
    """
    names = ESTIMATORS.names()

    def expand(spec: str, allow_targets: bool) -> list[str]:
        out = []
        for pat in (p.strip() for p in spec.split(",")):
            if not pat:
                continue
            if allow_targets and ":" in pat:
                out.append(pat)
                continue
            hit = [n for n in names if fnmatch.fnmatchcase(n, pat)]
            if not hit:
                raise ValueError(f"estimator pattern {pat!r} matches no registered estimator (have: {', '.join(names)}).")
            out += hit
        return out

    chosen = list(dict.fromkeys(expand(include, True)))
    dropped = set(expand(exclude, False)) if exclude else set()
    chosen = [n for n in chosen if n not in dropped]
    if not chosen:
        raise ValueError(f"no estimator left after --estimators {include!r} and --exclude {exclude!r}.")
    return chosen


@dataclasses.dataclass
class PaperPlan:
    """A resolved ``catebench paper`` invocation: the run config plus what was skipped and why."""

    config: RunConfig
    notes: list[str]
    families: list[str]
    acic2016: dict | None = None  # {"settings": [...], "source": ..., "data_dir": ...}
    acic2018_n: int | None = None


def _acic2016_spec(acic2016_dir: str | None, settings: str | None, simulation: int, notes: list[str]):
    root = find_data_cf_all(acic2016_dir) if acic2016_dir else find_data_cf_all(None)
    if acic2016_dir and root is None:
        raise ValueError(f"--acic2016-dir {acic2016_dir!r}: no data_cf_all/ (or acic2016/data_cf_all/) directory there.")
    if root is not None:
        chosen = parse_ranges(settings, 1, N_ACIC2016, "--settings") if settings else tuple(range(1, N_ACIC2016 + 1))
        n = verify_manifest(root, chosen, simulation)
        notes.append(f"ACIC 2016: settings {compact(chosen)} (simulation replication {simulation}) from the "
                     "data_cf_all/ directory given"
                     + (f"; {n} files checked against MANIFEST.sha256." if n else "; no MANIFEST.sha256 to check."))
        params = {"source": "dir", "simulation": simulation, "data_dir": str(root.parent.resolve())}
        return DatasetSpec("acic2016", chosen, SPLIT, params), {"settings": list(chosen), "source": str(root)}
    offline = tuple(sorted(CAUSALLIB_BUNDLED))
    if settings:
        chosen = parse_ranges(settings, 1, N_ACIC2016, "--settings")
        beyond = [s for s in chosen if s not in CAUSALLIB_BUNDLED]
        if beyond:
            raise ValueError(f"--settings {settings}: settings {compact(beyond)} need the data_cf_all/ files; pass "
                             "--acic2016-dir (or set $CATEBENCH_DATA). Offline, only settings 1-10 are available.")
    else:
        chosen = offline
    notes.append(f"ACIC 2016: no data_cf_all/ directory given (--acic2016-dir) or found in $CATEBENCH_DATA; settings "
                 f"{compact(chosen)} run offline from causallib's bundled files (for settings 3 and 4 those are "
                 "simulation replication 100, not 1). Settings 11-77 need the files.")
    params = {"source": "causallib", "simulation": "bundled"}
    return DatasetSpec("acic2016", chosen, SPLIT, params), {"settings": list(chosen), "source": "causallib"}


def _acic2018_spec(acic2018_dir: str | None, which: str | None, notes: list[str]):
    ds = ACIC2018(data_dir=str(Path(acic2018_dir).resolve()) if acic2018_dir else None)
    try:
        ufids = ds.datasets()
    except DatasetUnavailable as exc:
        if acic2018_dir:
            raise ValueError(f"--acic2018-dir {acic2018_dir!r}: {exc}") from None
        notes.append(f"ACIC 2018 skipped: its files are not on this machine ({portable_paths(str(exc))}). Pass "
                     "--acic2018-dir DIR once you have them.")
        return None, None
    chosen = parse_ranges(which, 1, len(ufids), "--acic2018-datasets") if which else tuple(range(1, len(ufids) + 1))
    notes.append(f"ACIC 2018: {len(chosen)} of the {len(ufids)} datasets found under {portable_paths(str(ds.root()))}.")
    params = {"data_dir": ds.data_dir} if ds.data_dir else {}
    return DatasetSpec("acic2018", chosen, SPLIT, params), len(ufids)


def portable_paths(text: str) -> str:
    """``text`` (a message the outputs repeat) with this machine's data folder written ``$CATEBENCH_DATA`` and its
    home folder ``~``, so that written results name no path of the machine that made them."""
    data = os.environ.get("CATEBENCH_DATA")
    if data:
        text = text.replace(str(Path(data).expanduser().resolve()), "$CATEBENCH_DATA").replace(data, "$CATEBENCH_DATA")
    return text.replace(str(Path.home()), "~")


def build_plan(
    *,
    families: str = "acic2016,acic2018,ihdp",
    settings: str | None = None,
    acic2016_dir: str | None = None,
    acic2016_simulation: int = 1,
    acic2018_dir: str | None = None,
    acic2018_datasets: str | None = None,
    replications: int = IHDP_FULL_REPLICATIONS,
    estimators: str = "*",
    exclude: str = "",
    seed: int = 0,
    n_jobs: int = 2,
    executor: str = "local",
    scheduler: str | None = None,
    task_timeout: float | None = None,
    store: str = DEFAULT_STORE,
) -> PaperPlan:
    """Resolve the paper protocol into a :class:`~catebench.benchmark.config.RunConfig` (nothing runs yet).

    Every dataset uses the ``80/20-row-order`` split. ACIC 2016: replication r of the dataset is setting r.
    IHDP: replications ``1..replications``. Unavailable families are skipped with a note (ACIC 2018 without its
    files); an explicitly given directory that does not hold the files is an error.
    """
    fams = [f.strip() for f in families.split(",") if f.strip()]
    bad = [f for f in fams if f not in FAMILIES]
    if bad or not fams:
        raise ValueError(f"--families {families!r}: unknown {bad or 'empty'}; choose from {', '.join(FAMILIES)}.")
    if not isinstance(replications, int) or replications < 1:
        raise ValueError(f"--replications must be a positive integer (IHDP replications); got {replications!r}.")
    notes: list[str] = []
    datasets, info16, n18 = [], None, None
    for fam in FAMILIES:
        if fam not in fams:
            continue
        if fam == "acic2016":
            spec, info16 = _acic2016_spec(acic2016_dir, settings, acic2016_simulation, notes)
        elif fam == "acic2018":
            spec, n18 = _acic2018_spec(acic2018_dir, acic2018_datasets, notes)
        else:
            spec = DatasetSpec("ihdp", tuple(range(1, replications + 1)), SPLIT, {})
            notes.append(f"IHDP: replications 1-{replications} (offline NPCI setting A draws, rows in the standard "
                         "file order; the test rows are the last 149 of 747).")
        if spec is not None:
            datasets.append(spec)
    if not datasets:
        raise ValueError("no dataset family is available to run; see the notes above.")
    if settings and "acic2016" not in fams:
        raise ValueError("--settings selects ACIC 2016 settings, but --families leaves acic2016 out.")
    names = select_estimators(estimators, exclude)
    config = RunConfig(
        name="paper", seed=seed, seeds=1, n_jobs=n_jobs, store=store, executor=executor, scheduler=scheduler,
        task_timeout=task_timeout, datasets=datasets, estimators=[EstimatorSpec(n) for n in names],
    ).validate()  # fmt: skip
    return PaperPlan(config, notes, [d.name for d in datasets], info16, n18)


def load_average() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:  # pragma: no cover - platforms without it
        return (float("nan"),) * 3


def run_plan(plan: PaperPlan, out: str | Path = DEFAULT_OUT, *, command: str = "", retry_failed: bool = False,
             progress: bool = True, resume_from=(), teacher_cache=None, export_every: float | None = None):
    """Run the plan's config (finished tasks are skipped) and append the run's record to ``out/runs.jsonl``.

    The record (command, UTC start and end, wall seconds, tasks planned / skipped / ok / failed, load average
    before and after, workers) is what the README's budget section reads; a run killed before its end leaves its
    ``started`` record and the tasks it finished in the store.

    ``export_every`` (seconds): keep ``out/tasks.csv`` and ``tasks_params.json`` (every stored task, as
    ``catebench report --tasks-only`` writes them) current while the run goes on: after the first task that ends
    that long after the last export, and once more when the run finishes or is interrupted. A part of a long run
    then leaves its tasks in files that the next part resumes from (``resume_from``), even when its store is lost
    with the machine; a driver killed with SIGKILL loses at most the tasks of the last ``export_every`` seconds.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.jsonl"
    cfg = plan.config
    rec = {"command": command, "started": utc_now(), "code": code_version(), "load_before": load_average(), "n_jobs": cfg.n_jobs,
           "executor": cfg.executor, "teacher_cache": teacher_cache is not None,
           "estimators": [e.name for e in cfg.estimators],
           "datasets": {d.name: list(d.replications) for d in cfg.datasets}}
    _adopt_part_records(log, resume_from)
    with open(log, "a") as fh:
        fh.write(json.dumps({**rec, "event": "started"}) + "\n")
    t0 = time.perf_counter()
    export = _TaskExport(cfg.store, out, export_every) if export_every is not None else None
    # the paper's store keeps the rows of earlier default parameters under the same labels on purpose: the tables
    # show one parameter set per estimator (drop_stale) and say when it is not today's, so runs that add the
    # current defaults beside old rows are expected here, not refused
    try:
        summary = run(cfg, retry_failed=retry_failed, progress=progress, label_conflict="warn",
                      resume_from=resume_from, teacher_cache=teacher_cache, on_result=export)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the part's wall time is recorded all the same
        rec.update(event="interrupted", finished=utc_now(), wall_s=time.perf_counter() - t0,
                   load_after=load_average())
        with open(log, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
        if export is not None:
            export.write()
        raise
    if export is not None:
        export.write()
    rec.update(event="finished", finished=utc_now(), wall_s=time.perf_counter() - t0, load_after=load_average(),
               planned=summary.planned, skipped=summary.skipped, imported=summary.imported, ok=summary.ok,
               failed=summary.failed)
    with open(log, "a") as fh:
        fh.write(json.dumps(rec) + "\n")
    return summary


class _TaskExport:
    """``on_result`` hook of :func:`run_plan`: rewrites ``out``'s per-task files from the store (read-only, beside
    the running writer) at most every ``every`` seconds. A failed export is reported and the run goes on."""

    def __init__(self, store: str | Path, out: Path, every: float):
        if every <= 0:
            raise ValueError(f"export_every must be positive seconds; got {every}.")
        self.store, self.out, self.every = Path(store), out, every
        self.last = time.monotonic()

    def __call__(self, task, result) -> None:
        if time.monotonic() - self.last >= self.every:
            self.write()

    def write(self) -> None:
        self.last = time.monotonic()
        if not self.store.exists():
            return
        try:
            export_store(self.store, self.out)
        except Exception as exc:  # noqa: BLE001 - the run's own results are safe in the store; say so and go on
            print(f"warning: could not write the per-task files to {self.out} ({type(exc).__name__}: {exc}); "
                  f"the tasks are in the store {self.store}", file=sys.stderr)


def _adopt_part_records(log: Path, resume_from) -> None:
    """Append to ``log`` the records of the runs that made the ``resume_from`` files (the ``runs.jsonl`` beside
    each, when there is one) that ``log`` lacks, so that the outputs list every part of a run made in parts."""
    have = set(log.read_text().splitlines()) if log.exists() else set()
    new = []
    for path in resume_from:
        parts = Path(path).with_name("runs.jsonl")
        if parts.resolve() == log.resolve() or not parts.is_file():
            continue
        new += [line for line in parts.read_text().splitlines() if line.strip() and line not in have]
        have.update(new)
    if new:
        with open(log, "a") as fh:
            fh.write("".join(line + "\n" for line in new))


def code_version() -> str:
    """Which code ran: ``$CATEBENCH_CODE_REV`` when set (e.g. a snapshot made with ``git archive``), else the git
    commit of the source tree, with ``+dirty`` when its estimators/benchmark/datasets differ from that commit."""
    rev = os.environ.get("CATEBENCH_CODE_REV")
    if rev:
        return rev
    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "estimators", "benchmark",
                                "datasets"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head + ("+dirty" if dirty else "")) if head else "unknown"


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def drop_stale(results: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, int, list[str]]:
    """One parameter set per estimator: the current registered one, else the newest one stored.

    A store can hold rows written while an estimator had other default parameters (their task keys differ), and two
    rows of one (dataset, replication, estimator) cannot be paired. Per registered estimator: when the store has
    rows at its *current* parameters, only those are kept; when it has none (its defaults changed after the run),
    the rows of its newest stored parameter set are kept and a note names the parameters that differ from today's
    defaults, so that the tables never mix two versions and never silently present old defaults as current. Rows
    of estimators not registered by name (``module:Class`` targets) are kept as they are.

    Returns
    -------
    (rows kept, number of rows left out, notes)
    """
    if results.empty:
        return results, 0, []
    registered = set(ESTIMATORS.names())
    names = sorted(e for e in results["estimator"].unique() if e in registered)
    if not names:
        return results, 0, []
    specs = []
    for (ds, params, split), g in results.groupby(["dataset", "dataset_params", "split"]):
        specs.append(DatasetSpec(ds, tuple(sorted(int(r) for r in g["replication"].unique())), split,
                                 json.loads(params)))
    cfg = RunConfig(name="paper", seed=seed, datasets=specs, estimators=[EstimatorSpec(n) for n in names])
    keys = {t.key for t in plan_tasks(cfg)}
    current = results["key"].isin(keys)
    keep = current | ~results["estimator"].isin(names)
    notes = []
    for e in names:
        mine = results["estimator"] == e
        if (mine & current).any() or "estimator_params" not in results:
            continue
        rows = results[mine]
        newest = rows.sort_values("finished_at")["estimator_params"].iloc[-1]
        keep |= mine & (results["estimator_params"] == newest)
        used = json.loads(newest)
        now = ESTIMATORS.create(e).get_params(deep=False)
        diff = [f"{k} {used.get(k)!r} (default now {now.get(k)!r})" for k in sorted(set(used) | set(now))
                if k not in ("random_state", "validation_fraction") and used.get(k) != now.get(k)]
        notes.append(f"`{e}`: no results at its current default parameters; its newest stored parameter set is "
                     f"shown, which differs in {', '.join(diff) or 'no listed parameter'}.")
    return results[keep].reset_index(drop=True), int((~keep).sum()), notes
