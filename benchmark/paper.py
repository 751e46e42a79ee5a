"""The IWDD paper's experiments in one command: ``catebench paper``.

Song, Chen & Zhou (2025), "A Generative Framework for Causal Estimation via Importance-Weighted Diffusion
Distillation", evaluate on three dataset families with DiffPO's protocol. This module runs that protocol with
catebench's runner (resumable, one SQLite store) and writes ``results/paper/``:

* **Datasets.** ACIC 2016: the 77 simulation settings, one dataset each (simulation replication 1), from a
  ``data_cf_all/`` directory (``--acic2016-dir``, else ``$CATEBENCH_DATA``); without one, settings 1-10 run offline
  from causallib's bundled files (for settings 3 and 4 those are simulation replication 100). ACIC 2018: the IBM
  framework's files (``--acic2018-dir``, else ``$CATEBENCH_DATA/acic2018``), skipped with a message when absent.
  IHDP: 10 offline replications. Split ``80/20-row-order`` for every dataset: the first 80 % of rows are the fit
  rows ("in-sample"), the last 20 % the test rows ("out-of-sample").
* **Estimators.** Every registered one (``*``), or a selection (names and shell-style patterns, ``--exclude``).
* **Tables** (``tables.md`` and CSVs): per family, in- and out-of-sample sqrt-PEHE (mean ± SE, median) and the
  "% best" win rate (share of datasets on which an estimator has the lowest error, ties split) with bootstrap CIs,
  computed on the datasets every listed estimator finished; the pairwise win-rate matrices; distributional
  metrics (CRPS, 90 % coverage) for the generative estimators.
* **Figures** (PNG and SVG in ``figures/``): "% best" per family, pairwise win-rate heatmaps, the IWDD 1-D toy
  figure, one-step vs Heun sampling time, generator-gradient variance IPW vs randomized.
* **claims.md**: each claim of the paper's abstract, the measured evidence with its uncertainty, and a verdict
  (holds here / does not hold here / not testable here) computed by :func:`evaluate_claims` from the numbers.
* **README.md** and **index.html**: everything above on one page, with the commands that made it, the measured
  run times and the projected time of the full run.

How "in-sample" and "% best" are counted, why datasets are the units, and how each verdict is decided are
documented in the functions below and repeated in the generated files.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import json
import os
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "FAMILIES", "MAIN", "TEACHER", "PaperPlan", "parse_ranges", "select_estimators", "build_plan", "run_plan",
    "best_share_ci", "family_tables", "evaluate_claims", "write_paper", "Claim", "main",
]  # fmt: skip

#: Dataset families in the paper's order, with display names.
FAMILIES = {"acic2016": "ACIC 2016", "acic2018": "ACIC 2018", "ihdp": "IHDP"}
#: The paper's proposal (randomized conditions, SiD distillation): the estimator the claims are about.
MAIN = "iwdd-rand"
#: IWDD's multi-step diffusion teacher (stage 1), the reference of the one-step claim.
TEACHER = "diffusion-teacher"
SPLIT = "80/20-row-order"
N_ACIC2016 = 77
#: IHDP replications in the paper.
IHDP_REPLICATIONS = 10
#: The paper used at most this many ACIC 2018 datasets (the projection uses it when the files are absent).
ACIC2018_PAPER_MAX = 24
from .paper_cli import DEFAULT_OUT, DEFAULT_STORE, add_arguments  # noqa: E402  (argparse part, no heavy imports)
ALPHA = 0.05
#: Non-inferiority margin of the "as accurate as the teacher" claim: 10 % of the teacher's mean error.
NONINFERIORITY = 0.10
#: A family enters a claim's verdict only with at least this many paired datasets (fewer: "not tested").
MIN_UNITS = 5

HOLDS, FAILS, UNTESTABLE = "holds here", "does not hold here", "not testable here"


# ---------------------------------------------------------------------------------------------------------------
# Planning: datasets, estimators, the run config
# ---------------------------------------------------------------------------------------------------------------


def parse_ranges(text: str, lo: int, hi: int, what: str) -> tuple[int, ...]:
    """``"1-20,35"`` -> ``(1, ..., 20, 35)``: sorted, unique, each in ``lo..hi``.

    Raises
    ------
    ValueError
        Naming the bad piece (not a number, a reversed range, or a value outside ``lo..hi``).
    """
    out: set[int] = set()
    for piece in str(text).split(","):
        piece = piece.strip()
        if not piece:
            continue
        a, sep, b = piece.partition("-")
        try:
            start, stop = int(a), int(b) if sep else int(a)
        except ValueError:
            raise ValueError(f"{what}: {piece!r} is not a number or a range like 1-20 (in {text!r}).") from None
        if start > stop:
            raise ValueError(f"{what}: range {piece!r} runs backwards.")
        if start < lo or stop > hi:
            raise ValueError(f"{what}: {piece!r} is outside {lo}..{hi}.")
        out.update(range(start, stop + 1))
    if not out:
        raise ValueError(f"{what}: {text!r} names nothing; use e.g. 1-20,35.")
    return tuple(sorted(out))


def select_estimators(include: str = "*", exclude: str = "") -> list[str]:
    """Registered estimator names matching ``include`` and not ``exclude`` (comma-separated shell patterns).

    ``module:Class`` entries in ``include`` pass through unchanged. A pattern that matches no registered name is an
    error naming it.
    """
    from .registry import ESTIMATORS

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

    config: "object"  # catebench.benchmark.config.RunConfig
    notes: list[str]
    families: list[str]
    acic2016: dict | None = None  # {"settings": [...], "source": ..., "data_dir": ...}
    acic2018_n: int | None = None


def _acic2016_spec(acic2016_dir: str | None, settings: str | None, simulation: int, notes: list[str]):
    from catebench.datasets.acic2016 import CAUSALLIB_BUNDLED, find_data_cf_all, verify_manifest

    from .config import DatasetSpec

    root = find_data_cf_all(acic2016_dir) if acic2016_dir else find_data_cf_all(None)
    if acic2016_dir and root is None:
        raise ValueError(f"--acic2016-dir {acic2016_dir!r}: no data_cf_all/ (or acic2016/data_cf_all/) directory there.")
    if root is not None:
        chosen = parse_ranges(settings, 1, N_ACIC2016, "--settings") if settings else tuple(range(1, N_ACIC2016 + 1))
        n = verify_manifest(root, chosen, simulation)
        notes.append(f"ACIC 2016: settings {_compact(chosen)} (simulation replication {simulation}) from {root}"
                     + (f"; {n} files checked against MANIFEST.sha256." if n else "; no MANIFEST.sha256 to check."))
        params = {"source": "dir", "simulation": simulation, "data_dir": str(root.parent.resolve())}
        return DatasetSpec("acic2016", chosen, SPLIT, params), {"settings": list(chosen), "source": str(root)}
    offline = tuple(sorted(CAUSALLIB_BUNDLED))
    if settings:
        chosen = parse_ranges(settings, 1, N_ACIC2016, "--settings")
        beyond = [s for s in chosen if s not in CAUSALLIB_BUNDLED]
        if beyond:
            raise ValueError(f"--settings {settings}: settings {_compact(beyond)} need the data_cf_all/ files; pass "
                             "--acic2016-dir (or set $CATEBENCH_DATA). Offline, only settings 1-10 are available.")
    else:
        chosen = offline
    notes.append(f"ACIC 2016: no data_cf_all/ directory given (--acic2016-dir) or found in $CATEBENCH_DATA; settings "
                 f"{_compact(chosen)} run offline from causallib's bundled files (for settings 3 and 4 those are "
                 "simulation replication 100, not 1). Settings 11-77 need the files.")
    params = {"source": "causallib", "simulation": "bundled"}
    return DatasetSpec("acic2016", chosen, SPLIT, params), {"settings": list(chosen), "source": "causallib"}


def _acic2018_spec(acic2018_dir: str | None, which: str | None, notes: list[str]):
    from catebench.datasets.acic2018 import ACIC2018
    from catebench.datasets.base import DatasetUnavailable

    from .config import DatasetSpec

    ds = ACIC2018(data_dir=str(Path(acic2018_dir).resolve()) if acic2018_dir else None)
    try:
        ufids = ds.datasets()
    except DatasetUnavailable as exc:
        if acic2018_dir:
            raise ValueError(f"--acic2018-dir {acic2018_dir!r}: {exc}") from None
        notes.append(f"ACIC 2018 skipped: its files are not on this machine ({exc}). Pass --acic2018-dir DIR once "
                     "you have them.")
        return None, None
    chosen = parse_ranges(which, 1, len(ufids), "--acic2018-datasets") if which else tuple(range(1, len(ufids) + 1))
    notes.append(f"ACIC 2018: {len(chosen)} of the {len(ufids)} datasets found under {ds.root()}.")
    params = {"data_dir": ds.data_dir} if ds.data_dir else {}
    return DatasetSpec("acic2018", chosen, SPLIT, params), len(ufids)


def _compact(nums) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3, 5"``."""
    nums = sorted(int(n) for n in nums)
    parts, i = [], 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(f"{nums[i]}-{nums[j]}" if j > i else f"{nums[i]}")
        i = j + 1
    return ", ".join(parts)


def build_plan(
    *,
    families: str = "acic2016,acic2018,ihdp",
    settings: str | None = None,
    acic2016_dir: str | None = None,
    acic2016_simulation: int = 1,
    acic2018_dir: str | None = None,
    acic2018_datasets: str | None = None,
    replications: int = IHDP_REPLICATIONS,
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
    from .config import EstimatorSpec, RunConfig

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
            from .config import DatasetSpec

            spec = DatasetSpec("ihdp", tuple(range(1, replications + 1)), SPLIT, {})
            notes.append(f"IHDP: replications 1-{replications} (offline NPCI setting A draws, rows in the standard "
                         "file order; the test rows are the last 150 of 747).")
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


def _load() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:  # pragma: no cover - platforms without it
        return (float("nan"),) * 3


def run_plan(plan: PaperPlan, out: str | Path = DEFAULT_OUT, *, command: str = "", retry_failed: bool = False,
             progress: bool = True):
    """Run the plan's config (finished tasks are skipped) and append the run's record to ``out/runs.jsonl``.

    The record (command, UTC start and end, wall seconds, tasks planned / skipped / ok / failed, load average
    before and after, workers) is what the README's budget section reads; a run killed before its end leaves its
    ``started`` record and the tasks it finished in the store.
    """
    from .runner import run

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "runs.jsonl"
    cfg = plan.config
    rec = {"command": command, "started": _now(), "code": code_version(), "load_before": _load(), "n_jobs": cfg.n_jobs,
           "executor": cfg.executor, "estimators": [e.name for e in cfg.estimators],
           "datasets": {d.name: list(d.replications) for d in cfg.datasets}}
    with open(log, "a") as fh:
        fh.write(json.dumps({**rec, "event": "started"}) + "\n")
    t0 = time.perf_counter()
    # the paper's store keeps the rows of earlier default parameters under the same labels on purpose: the tables
    # show one parameter set per estimator (drop_stale) and say when it is not today's, so runs that add the
    # current defaults beside old rows are expected here, not refused
    summary = run(cfg, retry_failed=retry_failed, progress=progress, label_conflict="warn")
    rec.update(event="finished", finished=_now(), wall_s=time.perf_counter() - t0, load_after=_load(),
               planned=summary.planned, skipped=summary.skipped, ok=summary.ok, failed=summary.failed)
    with open(log, "a") as fh:
        fh.write(json.dumps(rec) + "\n")
    return summary


def code_version() -> str:
    """Which code ran: ``$CATEBENCH_CODE_REV`` when set (e.g. a snapshot made with ``git archive``), else the git
    commit of the source tree, with ``+dirty`` when its estimators/benchmark/datasets differ from that commit."""
    import subprocess

    rev = os.environ.get("CATEBENCH_CODE_REV")
    if rev:
        return rev
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "estimators", "benchmark",
                                "datasets"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head + ("+dirty" if dirty else "")) if head else "unknown"


def _now() -> str:
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
    from .config import DatasetSpec, EstimatorSpec, RunConfig
    from .registry import ESTIMATORS
    from .tasks import plan_tasks

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


# ---------------------------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------------------------


def iwdd_family(results: pd.DataFrame) -> list[str]:
    """Estimators of the IWDD family in ``results``: every estimator whose class lives in ``catebench.estimators.iwdd``
    (the IWDD variants and their diffusion teacher)."""
    tgt = results.drop_duplicates("estimator").set_index("estimator")["estimator_target"]
    return sorted(e for e, t in tgt.items() if str(t).startswith("catebench.estimators.iwdd"))


def best_share_ci(table: pd.DataFrame, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """"% best" per estimator with a percentile bootstrap CI that resamples units (datasets).

    Parameters
    ----------
    table : DataFrame, shape (n_units, n_estimators)
        Metric per complete unit (lower is better), e.g. from :func:`catebench.benchmark.winrates.unit_means`.
    n_boot, seed, level : bootstrap draws, seed of ``numpy.random.default_rng``, CI level.

    Returns
    -------
    DataFrame indexed by estimator: ``best_pct``, ``ci_low``, ``ci_high`` (percent), ``n_best`` (fractional count;
    a tie splits the unit equally), ``n_units``. Also ``.attrs["boots"]``: the (n_boot, n_estimators) bootstrap
    shares (same resampled units for every estimator, so differences can be bootstrapped too).
    """
    v = table.to_numpy(dtype=float)
    n, k = v.shape
    cols = list(table.columns)
    if n == 0:
        out = pd.DataFrame({"best_pct": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n_best": 0.0, "n_units": 0},
                           index=pd.Index(cols, name="estimator"))
        out.attrs["boots"] = np.full((n_boot, k), np.nan)
        return out
    wins = (v == v.min(axis=1, keepdims=True)).astype(float)
    wins /= wins.sum(axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    boots = 100.0 * wins[idx].mean(axis=1)  # (n_boot, k)
    a = (1 - level) / 2
    out = pd.DataFrame({"best_pct": 100.0 * wins.mean(axis=0), "ci_low": np.quantile(boots, a, axis=0),
                        "ci_high": np.quantile(boots, 1 - a, axis=0), "n_best": wins.sum(axis=0), "n_units": n},
                       index=pd.Index(cols, name="estimator"))
    out.attrs["boots"] = boots
    return out


def _unit_table(results: pd.DataFrame, family: str, metric: str, estimators: list[str]) -> pd.DataFrame:
    from .winrates import unit_means

    sub = results[results["dataset"] == family]
    if sub.empty or metric not in sub.columns:
        return pd.DataFrame(columns=estimators)
    return unit_means(sub, metric, "replication", estimators)[0]


def _summary_rows(results, family, estimators, n_boot, seed) -> tuple[pd.DataFrame, int]:
    """One row per estimator on the units every estimator of ``estimators`` finished (complete units)."""
    rows = {e: {"estimator": e} for e in estimators}
    n_units = 0
    for metric in ("pehe_in", "pehe_out"):
        tab = _unit_table(results, family, metric, estimators)
        n_units = len(tab)
        bs = best_share_ci(tab, n_boot=n_boot, seed=seed)
        for e in estimators:
            v = tab[e].to_numpy(dtype=float) if e in tab else np.array([])
            rows[e].update({
                f"{metric}_mean": v.mean() if len(v) else np.nan,
                f"{metric}_se": v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan,
                f"{metric}_median": np.median(v) if len(v) else np.nan,
                f"best_{metric}_pct": bs.loc[e, "best_pct"], f"best_{metric}_low": bs.loc[e, "ci_low"],
                f"best_{metric}_high": bs.loc[e, "ci_high"],
            })  # fmt: skip
    df = pd.DataFrame(list(rows.values()))
    df.insert(1, "n_units", n_units)
    return df.sort_values(["pehe_out_mean", "estimator"], na_position="last").reset_index(drop=True), n_units


def coverage_sets(results: pd.DataFrame, family: str) -> tuple[dict[str, frozenset], frozenset]:
    """Per estimator, the units (replications) of ``family`` it finished ``ok`` on; and all units of the family."""
    sub = results[results["dataset"] == family]
    ok = sub[sub["status"] == "ok"]
    cover = {e: frozenset(int(r) for r in g["replication"]) for e, g in ok.groupby("estimator")}
    return cover, frozenset(int(r) for r in sub["replication"].unique())


def family_tables(results: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> dict[str, list[dict]]:
    """The paper-layout tables of every family present in ``results``.

    A staged run covers estimators unequally (fast estimators on all 77 ACIC settings, the IWDD family on a
    subset), and means or "% best" over different datasets are not comparable. So each table fixes a set of units
    and lists the estimators that finished *every* one of them (the others are named under the table with their
    coverage):

    * scope ``"iwdd"``: the units `iwdd-rand` finished (when it has results), i.e. the IWDD comparison;
    * scope ``"widest"``: every unit of the family, for the estimators that finished all of them (when that set
      of units or estimators differs from the first table); when no estimator finished all of them, the units all
      estimators share (``"common"``).

    Returns
    -------
    dict family -> list of {"scope", "estimators", "left_out" {name: units finished}, "n_units",
    "n_units_total", "units", "frame" (one row per estimator)}.
    """
    out: dict[str, list[dict]] = {}
    for fam in FAMILIES:
        cover, all_units = coverage_sets(results, fam)
        if not cover:
            continue
        candidates = []
        if MAIN in cover:
            candidates.append(("iwdd", cover[MAIN]))
        candidates.append(("widest", all_units))
        tabs, seen = [], set()
        for scope, units in candidates:
            members = sorted(e for e, c in cover.items() if units <= c)
            if not members and scope == "widest":
                units = frozenset.intersection(*cover.values())
                members, scope = sorted(cover), "common"
            if not members or not units or (units, tuple(members)) in seen:
                continue
            seen.add((units, tuple(members)))
            sub = results[(results["dataset"] != fam) | results["replication"].isin(sorted(units))]
            frame, n = _summary_rows(sub, fam, members, n_boot, seed)
            tabs.append({"scope": scope, "estimators": members, "n_units": n, "n_units_total": len(all_units),
                         "units": sorted(units), "frame": frame,
                         "left_out": {e: len(c & units) for e, c in sorted(cover.items()) if e not in members}})
        out[fam] = tabs
    return out


def _pm(mean, se) -> str:
    from .report import plus_minus

    return plus_minus(mean, se)


def _pct(p, lo, hi) -> str:
    return "-" if not np.isfinite(p) else f"{p:.0f} [{lo:.0f}, {hi:.0f}]"


def format_family_table(fam: str, tab: dict, main_family: list[str]) -> str:
    """Markdown of one :func:`family_tables` entry, in the paper's layout (IWDD family in bold)."""
    f = tab["frame"]
    unit = "settings" if fam == "acic2016" else ("datasets" if fam == "acic2018" else "replications")
    what = {"iwdd": f"those `{MAIN}` finished", "widest": "all of them", "common": "those every estimator finished"}
    which = (f"{what[tab['scope']]}: {_compact(tab['units'])}" if len(tab["units"]) < tab["n_units_total"]
             else "all of them")
    head = (f"### {FAMILIES[fam]}: {tab['n_units']} of the {tab['n_units_total']} {unit} in the store ({which})"
            f"\n\nsqrt-PEHE, mean ± SE over these {unit}, median beside it; % best = share of these {unit} on which "
            f"the estimator has the lowest sqrt-PEHE among the {len(tab['estimators'])} listed (ties split), with its "
            f"95 % bootstrap CI ({unit} resampled). Every listed estimator finished every one of these {unit}. Bold: "
            "the IWDD family.\n")
    lines = [head, "| estimator | in-sample sqrt-PEHE | median | % best in [95 % CI] | out-of-sample sqrt-PEHE | "
                   "median | % best out [95 % CI] |", "|---|---|---|---|---|---|---|"]
    for r in f.itertuples():
        name = f"**{r.estimator}**" if r.estimator in main_family else r.estimator
        lines.append(f"| {name} | {_pm(r.pehe_in_mean, r.pehe_in_se)} | {r.pehe_in_median:.3f} | "
                     f"{_pct(r.best_pehe_in_pct, r.best_pehe_in_low, r.best_pehe_in_high)} | "
                     f"{_pm(r.pehe_out_mean, r.pehe_out_se)} | {r.pehe_out_median:.3f} | "
                     f"{_pct(r.best_pehe_out_pct, r.best_pehe_out_low, r.best_pehe_out_high)} |")
    if tab.get("left_out"):
        lines.append("\nNot in this table (finished only some of these " + unit + "): "
                     + ", ".join(f"{e} ({k} of {tab['n_units']})" for e, k in tab["left_out"].items()) + ".")
    return "\n".join(lines) + "\n"


#: Distributional metrics shown for the generative estimators (stored by the runner for estimators tagged
#: generative): CRPS of the predictive draws, coverage and width of the central 90 % interval, out-of-sample.
DIST_METRICS = ["crps_out", "cov90_out", "width90_out", "crps_in", "cov90_in"]


def distributional_table(results: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Per family and generative estimator: mean ± SE of CRPS, 90 % coverage (and |cov90 - 0.9|), 90 % width.

    Returns the frame and its Markdown; the Markdown says so when the store holds no distributional metrics.
    """
    from .report import leaderboard

    have = [m for m in DIST_METRICS if m in results.columns]
    if "crps_out" not in have:
        return pd.DataFrame(), ("No distributional metrics in the store: the runner that wrote it did not compute "
                                "CRPS / coverage (they are stored only for estimators tagged generative).\n")
    ok = results[(results["status"] == "ok") & results["crps_out"].notna()]
    if ok.empty:
        return pd.DataFrame(), "No generative estimator finished, so there are no distributional metrics.\n"
    board = leaderboard(ok, metrics=have)
    if "cov90_out" in ok:
        gap = ok.assign(gap=(ok["cov90_out"] - 0.9).abs()).groupby(["dataset", "estimator"])["gap"].mean()
        board["cov90_gap_out_mean"] = [gap.get((r.dataset, r.estimator), np.nan) for r in board.itertuples()]
    board = board.sort_values(["dataset", "crps_out_mean"]).reset_index(drop=True)
    lines = ["CRPS of the predictive draws of Y(0), Y(1) against the noisy potential outcomes (lower is better), share "
             "of y0/y1 inside the central 90 % predictive interval (nominal 0.90; |cov90 − 0.9| beside it) and the "
             "interval's mean width; out-of-sample rows, mean ± SE over each estimator's finished datasets.", "",
             "| family | estimator | datasets | CRPS out | cov90 out | abs(cov90 − 0.9) | width90 out | CRPS in |",
             "|---|---|---|---|---|---|---|---|"]
    for r in board.itertuples():
        g = lambda m: _pm(getattr(r, f"{m}_mean", np.nan), getattr(r, f"{m}_se", np.nan))  # noqa: E731
        gap = getattr(r, "cov90_gap_out_mean", np.nan)
        lines.append(f"| {FAMILIES.get(r.dataset, r.dataset)} | {r.estimator} | {r.n_ok} | {g('crps_out')} | "
                     f"{g('cov90_out')} | {gap:.3f} | {g('width90_out')} | {g('crps_in')} |")
    return board, "\n".join(lines) + "\n"


def winrate_matrices(results: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, str, dict]:
    """Pairwise win rates (ties half) per family on sqrt-PEHE in and out of sample, with bootstrap CIs.

    Uses :func:`catebench.benchmark.winrates.pairwise_winrates` (paired tasks: both estimators ``ok``) and
    :func:`catebench.benchmark.stats.winrate_ci_from_table` (datasets resampled).

    Returns (long frame, Markdown, {(family, metric): pairwise_winrates dict}).
    """
    from .stats import winrate_ci_from_table
    from .winrates import format_winrate_markdown, paired_table, pairwise_winrates

    rows, md, mats = [], [], {}
    for fam in FAMILIES:
        sub = results[results["dataset"] == fam]
        if sub.empty or not (sub["status"] == "ok").any():
            continue
        ests = sorted(sub.loc[sub["status"] == "ok", "estimator"].unique())
        for metric in ("pehe_out", "pehe_in"):
            wr = pairwise_winrates(sub, metric, estimators=ests)
            mats[(fam, metric)] = wr
            wide = paired_table(sub, metric, ests)
            md.append(format_winrate_markdown(wr, f"{FAMILIES[fam]}: {metric}"))
            for a in ests:
                for b in ests:
                    if a == b or wr["n_pairs"].loc[a, b] == 0:
                        continue
                    w, lo, hi, n = winrate_ci_from_table(wide, a, b, n_boot=n_boot, seed=seed)
                    rows.append({"family": fam, "metric": metric, "a": a, "b": b, "winrate": w, "ci_low": lo,
                                 "ci_high": hi, "n_pairs": n})
    return pd.DataFrame(rows), "\n".join(md), mats


# ---------------------------------------------------------------------------------------------------------------
# Studies: the toy figure, sampling speed, gradient variance (measured by studies.iwdd_*)
# ---------------------------------------------------------------------------------------------------------------


def run_studies(out: Path, mode: str = "auto", quick: bool = False) -> dict:
    """The three IWDD measurements the claims need, saved under ``out/studies/``.

    ``mode``: ``"run"`` measures now; ``"auto"`` reuses ``out/studies/*.json`` (and the toy figure) from an earlier
    ``catebench paper`` run when present and measures what is missing; ``"skip"`` measures nothing (the claims that
    need a measurement are then "not testable here"). ``quick``: the smallest sizes, for the smoke test only.

    Returns
    -------
    dict with keys ``speed``, ``gradvar``, ``toy`` (each a dict of measurements, or ``{"error": text}``).
    """
    from .studies import paper as paper_studies

    sdir = out / "studies"
    sdir.mkdir(parents=True, exist_ok=True)
    res = {}
    for name, fn in (("speed", paper_studies.sampling_speed), ("gradvar", paper_studies.gradient_variance),
                     ("toy", paper_studies.toy_figure)):
        path = sdir / f"{name}.json"
        if mode == "auto" and path.exists():
            prev = json.loads(path.read_text())
            if "error" not in prev and prev.get("quick", False) == quick:
                res[name] = prev
                continue
        if mode == "skip":
            res[name] = {"error": "skipped (--studies skip)"}
            continue
        t0 = time.perf_counter()
        try:
            r = fn(sdir, quick=quick)
        except Exception as exc:  # noqa: BLE001 - a failed measurement is reported, not fatal
            r = {"error": f"{type(exc).__name__}: {exc}"}
        r.update(quick=quick, measured=_now(), study_seconds=time.perf_counter() - t0, load=_load(), code=code_version())
        path.write_text(json.dumps(r, indent=1, default=float) + "\n")
        res[name] = r
    return res


# ---------------------------------------------------------------------------------------------------------------
# Claims
# ---------------------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Claim:
    """One claim of the abstract, its verdict and the evidence it was decided on."""

    key: str
    text: str
    verdict: str
    why: str
    evidence: list[str]
    rule: str

    def markdown(self) -> str:
        ev = "\n".join(f"- {e}" for e in self.evidence) or "- (no measurement)"
        return (f"## {self.text}\n\n**Verdict: {self.verdict}.** {self.why}\n\nEvidence:\n\n{ev}\n\n"
                f"Decision rule: {self.rule}\n")


def _baselines(results: pd.DataFrame, family: str) -> list[str]:
    """Estimators outside the IWDD family that finished every unit `iwdd-rand` finished in ``family``."""
    cover, _ = coverage_sets(results, family)
    fam = set(iwdd_family(results))
    mine = cover.get(MAIN, frozenset())
    return sorted(e for e, c in cover.items() if e not in fam and mine <= c)


def _short_baselines(results: pd.DataFrame, family: str) -> str:
    """Baselines left out of a claim because they did not finish every unit `iwdd-rand` finished."""
    cover, _ = coverage_sets(results, family)
    fam = set(iwdd_family(results))
    mine = cover.get(MAIN, frozenset())
    short = [f"{e} ({len(c & mine)} of {len(mine)})" for e, c in sorted(cover.items()) if e not in fam and not mine <= c]
    return f" Baselines left out (did not finish every one of these datasets): {', '.join(short)}." if short else ""


def _paired(results, family, metric, a, others) -> pd.DataFrame:
    return _unit_table(results, family, metric, [a, *others])


def _combine(verdicts: list[str]) -> str:
    """A family-level list -> one verdict: fails if any fails; holds if all tested hold; else not testable."""
    if not verdicts:
        return UNTESTABLE
    if FAILS in verdicts:
        return FAILS
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    return UNTESTABLE


def _claim_sota(results, n_boot, seed) -> Claim:
    from scipy import stats as sps

    from .stats import bootstrap_mean_ci, holm

    rule = (f"per family, on the datasets where `{MAIN}` and every baseline (all estimators outside the IWDD family) "
            f"finished: paired Wilcoxon signed-rank test of `{MAIN}` against each baseline on out-of-sample sqrt-PEHE, "
            f"Holm-corrected over the baselines, and a bootstrap 95 % CI of the mean paired difference. A baseline is "
            f"*significantly better* when p(Holm) < {ALPHA} and the CI lies above 0. The claim holds in a family when "
            f"`{MAIN}` has the lowest mean error and no baseline is significantly better; it does not hold when some "
            "baseline is significantly better; otherwise (not first, but not significantly beaten) the data cannot "
            "decide. Over families: does not hold if it fails in any family, holds if it holds in every family tested.")
    ev, verdicts = [], []
    for fam in FAMILIES:
        base = _baselines(results, fam)
        tab = _paired(results, fam, "pehe_out", MAIN, base)
        if MAIN not in set(results.loc[(results["dataset"] == fam) & (results["status"] == "ok"), "estimator"]):
            if fam in set(results["dataset"]):
                ev.append(f"{FAMILIES[fam]}: `{MAIN}` has no finished result; not tested.")
            continue
        if not base or len(tab) < MIN_UNITS:
            ev.append(f"{FAMILIES[fam]}: {len(tab)} complete dataset(s) with {len(base)} baseline(s); fewer than "
                      f"{MIN_UNITS}, not tested.")
            continue
        means = tab.mean().sort_values()
        rank = list(means.index).index(MAIN) + 1
        ps, cis = [], {}
        for b in base:
            d = (tab[MAIN] - tab[b]).to_numpy()
            ps.append(1.0 if np.all(d == 0) else float(sps.wilcoxon(tab[MAIN], tab[b]).pvalue))
            cis[b] = bootstrap_mean_ci(d, n_boot=n_boot, seed=seed)
        padj = dict(zip(base, holm(np.array(ps))))
        better = [b for b in base if padj[b] < ALPHA and cis[b][1] > 0]
        best_b = means.drop(MAIN).index[0]
        m, lo, hi = cis[best_b]
        if rank == 1 and not better:
            v = HOLDS
        elif better:
            v = FAILS
        else:
            v = UNTESTABLE
        verdicts.append(v)
        txt = (f"{FAMILIES[fam]} ({len(tab)} datasets, {len(base)} baselines): `{MAIN}` mean out-of-sample sqrt-PEHE "
               f"{means[MAIN]:.3f}, rank {rank} of {len(means)}; best baseline `{best_b}` {means[best_b]:.3f} "
               f"(paired difference {MAIN} − {best_b} = {m:+.3f}, 95 % CI [{lo:+.3f}, {hi:+.3f}], Holm p = "
               f"{padj[best_b]:.3g}). Significantly better baselines: "
               f"{', '.join(f'`{b}`' for b in better) if better else 'none'}. → {v}."
               + _short_baselines(results, fam))
        ev.append(txt)
    verdict = _combine(verdicts)
    why = {HOLDS: f"`{MAIN}` has the lowest mean out-of-sample error in every family tested and no baseline beats it "
                  "significantly.",
           FAILS: "At least one baseline has a significantly lower out-of-sample sqrt-PEHE than IWDD in at least one "
                  "family.",
           UNTESTABLE: ("IWDD or the baselines lack results on enough datasets to test." if not verdicts else
                        "IWDD is not first, but with these few datasets no baseline beats it significantly.")}[verdict]
    return Claim("sota", "State-of-the-art out-of-sample prediction", verdict, why, ev, rule)


def _claim_winrate(results, n_boot, seed) -> Claim:
    from .stats import winrate_ci_from_table
    from .winrates import paired_table

    rule = (f"per family, \"% best\" on out-of-sample sqrt-PEHE among `{MAIN}` and the baselines (the other IWDD "
            "variants and the teacher are left out: they are ablations of the method and would split its wins), on "
            "the datasets all of them finished, with a bootstrap CI of the difference between the top baseline's "
            f"share and `{MAIN}`'s (datasets resampled). Holds when `{MAIN}` has the highest share (ties included); "
            "does not hold when the top baseline's share is higher and the CI of the difference excludes 0; "
            "otherwise the data cannot decide. Pairwise win rates against each baseline are listed as context.")
    ev, verdicts = [], []
    for fam in FAMILIES:
        base = _baselines(results, fam)
        ok_here = set(results.loc[(results["dataset"] == fam) & (results["status"] == "ok"), "estimator"])
        if MAIN not in ok_here:
            if fam in set(results["dataset"]):
                ev.append(f"{FAMILIES[fam]}: `{MAIN}` has no finished result; not tested.")
            continue
        tab = _paired(results, fam, "pehe_out", MAIN, base)
        if not base or len(tab) < MIN_UNITS:
            ev.append(f"{FAMILIES[fam]}: {len(tab)} complete dataset(s), {len(base)} baseline(s); fewer than "
                      f"{MIN_UNITS}, not tested.")
            continue
        bs = best_share_ci(tab, n_boot=n_boot, seed=seed)
        boots = bs.attrs["boots"]
        cols = list(tab.columns)
        top = bs.drop(index=MAIN)["best_pct"].idxmax()
        diff = boots[:, cols.index(top)] - boots[:, cols.index(MAIN)]
        dlo, dhi = np.quantile(diff, [0.025, 0.975])
        mine, theirs = bs.loc[MAIN, "best_pct"], bs.loc[top, "best_pct"]
        if mine >= bs["best_pct"].max() - 1e-9:
            v = HOLDS
        elif dlo > 0:
            v = FAILS
        else:
            v = UNTESTABLE
        verdicts.append(v)
        wide = paired_table(results[results["dataset"] == fam], "pehe_out", [MAIN, *base])
        beat, lost = [], []
        for b in base:
            w, lo, hi, _ = winrate_ci_from_table(wide, MAIN, b, n_boot=n_boot, seed=seed)
            if lo > 0.5:
                beat.append(b)
            elif hi < 0.5:
                lost.append(b)
        ev.append(f"{FAMILIES[fam]} ({len(tab)} datasets, {len(base)} baselines): % best of `{MAIN}` "
                  f"{_pct(mine, bs.loc[MAIN, 'ci_low'], bs.loc[MAIN, 'ci_high'])}; highest baseline `{top}` "
                  f"{_pct(theirs, bs.loc[top, 'ci_low'], bs.loc[top, 'ci_high'])} (difference {theirs - mine:+.0f} "
                  f"points, 95 % CI [{dlo:+.0f}, {dhi:+.0f}]). Pairwise (CI excludes 50 %): `{MAIN}` beats "
                  f"{len(beat)} baseline(s){' (' + ', '.join(beat) + ')' if beat else ''} and loses to {len(lost)}"
                  f"{' (' + ', '.join(lost) + ')' if lost else ''}. → {v}." + _short_baselines(results, fam))
    verdict = _combine(verdicts)
    why = {HOLDS: f"`{MAIN}` has the highest \"% best\" against the baselines in every family tested.",
           FAILS: f"In at least one family a baseline is best on significantly more datasets than `{MAIN}`.",
           UNTESTABLE: ("IWDD or the baselines lack results on enough datasets to test." if not verdicts else
                        f"`{MAIN}` is not the most frequent winner, but the difference is within the bootstrap "
                        "uncertainty of so few datasets.")}[verdict]
    return Claim("winrate", "The highest win rates against the baselines", verdict, why, ev, rule)


def _claim_gradvar(studies: dict) -> Claim:
    g = studies.get("gradvar", {})
    rule = ("the generator-gradient variance study (`studies.iwdd_ihdp`): total variance (trace of the "
            "covariance across minibatches) of the SiD generator gradient with explicit IPW weights and with "
            "randomized conditions, at one fixed model state; ratio IPW / randomized with a bootstrap 95 % CI "
            "(minibatches resampled). Holds when the CI lies above 1, does not hold when it lies at or below 1, "
            "otherwise the measurement cannot decide.")
    if "error" in g or "ratio" not in g:
        return Claim("gradvar", "The randomized adjustment lowers gradient variance compared with explicit IPW",
                     UNTESTABLE, f"The measurement did not run: {g.get('error', 'no result')}.", [], rule)
    r, lo, hi = g["ratio"], g.get("ci_low", np.nan), g.get("ci_high", np.nan)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        v, why = UNTESTABLE, "The study gave a ratio without an uncertainty, so it cannot decide."
    elif lo > 1:
        v, why = HOLDS, f"IPW's gradient variance is {r:.2f}x the randomized one's, and the CI excludes 1."
    elif hi <= 1:
        v, why = FAILS, f"The randomized variant's gradient variance is not lower (ratio {r:.2f}, CI at or below 1)."
    else:
        v, why = UNTESTABLE, f"Ratio {r:.2f}, but the CI [{lo:.2f}, {hi:.2f}] includes 1."
    ev = [f"Total gradient variance: IPW {g['ipw_total_var']:.4g}, randomized {g['rand_total_var']:.4g}; ratio "
          f"{r:.2f}, 95 % CI [{lo:.2f}, {hi:.2f}] over {g.get('n_batches', '?')} minibatches per variant "
          f"({g.get('design', 'see the study')}; largest stabilised IPW weight {g.get('max_weight', float('nan')):.1f})."]
    if g.get("quick"):
        ev.append("Quick (smoke-test) sizes: not a real measurement.")
    ev.append("This is variance of the distillation gradient, an optimisation property; by itself it says nothing "
              "about the accuracy of the causal estimate (see the one-step claim and the tables).")
    return Claim("gradvar", "The randomized adjustment lowers gradient variance compared with explicit IPW", v, why,
                 ev, rule)


def _claim_one_step(results, studies, n_boot, seed) -> Claim:
    from scipy import stats as sps

    from .stats import bootstrap_mean_ci

    rule = (f"accuracy: per family, the paired difference of out-of-sample sqrt-PEHE `{MAIN}` − `{TEACHER}` on the "
            f"datasets both finished, bootstrap 95 % CI of its mean, against a non-inferiority margin of "
            f"{NONINFERIORITY:.0%} of the teacher's mean error (fixed before looking at results). Accurate enough "
            "when the CI's upper end is below the margin; not when its lower end is above the margin. Speed: the "
            "sampling-speed study (same draws, same units, one thread, timed side by side), one-step faster in every "
            "repeat; and the per-task ratio of prediction times in the benchmark (median, bootstrap CI). The claim "
            "holds when both parts hold, does not hold when either fails, otherwise the data cannot decide.")
    ev, acc = [], []
    for fam in FAMILIES:
        tab = _paired(results, fam, "pehe_out", MAIN, [TEACHER])
        if fam not in set(results["dataset"]):
            continue
        if len(tab) < MIN_UNITS or MAIN not in tab or TEACHER not in tab:
            ev.append(f"{FAMILIES[fam]}: {len(tab)} dataset(s) with both `{MAIN}` and `{TEACHER}`; fewer than "
                      f"{MIN_UNITS}, not tested.")
            continue
        d = (tab[MAIN] - tab[TEACHER]).to_numpy()
        m, lo, hi = bootstrap_mean_ci(d, n_boot=n_boot, seed=seed)
        margin = NONINFERIORITY * float(tab[TEACHER].mean())
        p = 1.0 if np.all(d == 0) else float(sps.wilcoxon(tab[MAIN], tab[TEACHER]).pvalue)
        v = HOLDS if hi < margin else (FAILS if lo > margin else UNTESTABLE)
        acc.append(v)
        ev.append(f"{FAMILIES[fam]} ({len(tab)} datasets): mean out-of-sample sqrt-PEHE `{MAIN}` "
                  f"{tab[MAIN].mean():.3f} vs `{TEACHER}` {tab[TEACHER].mean():.3f}; difference {m:+.3f}, 95 % CI "
                  f"[{lo:+.3f}, {hi:+.3f}], margin {margin:.3f}; Wilcoxon p = {p:.3g}. → accuracy {v}.")
    acc_v = _combine(acc)
    sp = studies.get("speed", {})
    speed = []
    if "error" in sp or "one_step" not in sp:
        ev.append(f"Sampling-speed study: not measured ({sp.get('error', 'no result')}).")
    else:
        one, heun = np.asarray(sp["one_step"], float), np.asarray(sp["heun"], float)
        ratio = float(np.median(heun) / np.median(one))
        sv = HOLDS if heun.min() > one.max() else (FAILS if np.median(heun) <= np.median(one) else UNTESTABLE)
        speed.append(sv)
        ev.append(f"Sampling-speed study ({sp.get('what', 'draws x units')}): one-step {np.median(one):.3g} s, Heun "
                  f"{sp.get('heun_steps', 50)} steps {np.median(heun):.3g} s (medians of {len(one)} repeats, side by "
                  f"side); speed-up {ratio:.1f}x, every repeat {'faster' if heun.min() > one.max() else 'not faster'}"
                  f"{' (quick smoke-test sizes)' if sp.get('quick') else ''}. → speed {sv}.")
    ok = results[results["status"] == "ok"]
    pt = ok[ok["estimator"].isin([MAIN, TEACHER])].pivot_table(index=["dataset", "replication"], columns="estimator",
                                                                 values="predict_seconds", aggfunc="first")
    if {MAIN, TEACHER} <= set(pt.columns):
        pt = pt.dropna()
        if len(pt) >= 2:
            lr = np.log(pt[TEACHER].to_numpy() / np.maximum(pt[MAIN].to_numpy(), 1e-9))
            rng = np.random.default_rng(seed)
            boots = np.median(lr[rng.integers(0, len(lr), (n_boot, len(lr)))], axis=1)
            lo, hi = np.exp(np.quantile(boots, [0.025, 0.975]))
            ev.append(f"Benchmark prediction time (each estimator's `predict` as configured, which for the teacher "
                      f"need not run its sampler; {len(lr)} paired tasks, not side by side; context only): teacher / "
                      f"`{MAIN}` median ratio {np.exp(np.median(lr)):.2g}x, 95 % CI [{lo:.2g}, {hi:.2g}].")
    speed_v = _combine(speed)
    verdict = FAILS if FAILS in (acc_v, speed_v) else (HOLDS if acc_v == speed_v == HOLDS else UNTESTABLE)
    why = {HOLDS: "The one-step generator is within the margin of its teacher's accuracy in every family tested and "
                  "samples faster.",
           FAILS: ("The one-step generator is less accurate than its teacher by more than the margin."
                   if acc_v == FAILS else "The one-step generator does not sample faster than the teacher."),
           UNTESTABLE: f"Accuracy: {acc_v}; speed: {speed_v} (see the evidence)."}[verdict]
    return Claim("one_step", "A one-step generator as accurate as its multi-step teacher, and faster", verdict, why,
                 ev, rule)


def evaluate_claims(results: pd.DataFrame, studies: dict, n_boot: int = 2000, seed: int = 0) -> list[Claim]:
    """Decide each claim of the abstract from the store's results and the studies' measurements.

    Every verdict is computed here from the numbers (see each claim's ``rule``); none is written by hand.
    """
    return [_claim_sota(results, n_boot, seed), _claim_winrate(results, n_boot, seed), _claim_gradvar(studies),
            _claim_one_step(results, studies, n_boot, seed)]


# ---------------------------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------------------------


def _fig_best(tabs: dict, fig_dir: Path) -> list[tuple[Path, str]]:
    """Horizontal bars of "% best" (in and out of sample) with CIs, one panel per family."""
    from . import plots

    out = []
    import matplotlib.pyplot as plt

    with plt.style.context("default"):
        fams = [f for f in FAMILIES if f in tabs]
        if not fams:
            return out
        h = max(3.0, 0.28 * max(len(tabs[f][0]["estimators"]) for f in fams) + 1.5)
        fig, axes = plt.subplots(1, len(fams), figsize=(5.2 * len(fams), h), squeeze=False)
        for ax, fam in zip(axes[0], fams):
            f = tabs[fam][0]["frame"].sort_values("best_pehe_out_pct")
            y = np.arange(len(f))
            for off, metric, color, lab in ((-0.2, "pehe_in", "C0", "in-sample"), (0.2, "pehe_out", "C3", "out-of-sample")):
                p = f[f"best_{metric}_pct"].to_numpy()
                err = np.vstack([p - f[f"best_{metric}_low"].to_numpy(), f[f"best_{metric}_high"].to_numpy() - p])
                ax.barh(y + off, p, height=0.38, color=color, alpha=0.8, label=lab, xerr=err,
                        error_kw={"lw": 0.8, "capsize": 2})
            ax.set_yticks(y, f["estimator"], fontsize=8)
            ax.set_xlabel("% best (lowest sqrt-PEHE), 95 % bootstrap CI")
            ax.set_title(f"{FAMILIES[fam]} ({tabs[fam][0]['n_units']} datasets)")
            ax.set_xlim(0, 100)
            ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        p = plots.save(fig, fig_dir, "winrates_best")
    out.append((p[0], "wide: \"% best\" per family: share of datasets on which each estimator has the lowest "
                      "sqrt-PEHE (ties split), in and out of sample, with 95 % bootstrap CIs."))
    return out


def _fig_matrices(mats: dict, fig_dir: Path) -> list[tuple[Path, str]]:
    from . import plots

    out = []
    for (fam, metric), wr in mats.items():
        if metric != "pehe_out":
            continue
        p = plots.save(plots.winrate_heatmap(wr["winrate"], f"{FAMILIES[fam]}: pairwise win rate on {metric}",
                                             wr["n_pairs"]), fig_dir, f"winrate_matrix_{fam}_{metric}")
        out.append((p[0], f"wide: {FAMILIES[fam]}: pairwise win rates on out-of-sample sqrt-PEHE (row beats "
                          "column, % of paired datasets, ties half)."))
    return out


def _fig_speed(studies: dict, results: pd.DataFrame, fig_dir: Path) -> list[tuple[Path, str]]:
    from . import plots

    sp = studies.get("speed", {})
    if "one_step" not in sp:
        return []
    import matplotlib.pyplot as plt

    with plt.style.context("default"):
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        vals = [np.asarray(sp["one_step"], float), np.asarray(sp["heun"], float)]
        labels = ["one-step generator\n(1 network call)", f"Heun teacher\n({sp.get('heun_steps', 50)} steps, "
                                                           f"{2 * sp.get('heun_steps', 50) - 1} calls)"]
        ax.bar([0, 1], [np.median(v) for v in vals], color=["C3", "C0"], alpha=0.8)
        for i, v in enumerate(vals):
            ax.plot(np.full(len(v), i), v, "k.", ms=5)
        ax.set_xticks([0, 1], labels)
        ax.set_yscale("log")
        ax.set_ylabel("seconds (log; bar = median, dots = repeats)")
        ax.set_title(f"Sampling {sp.get('what', '')}: {np.median(vals[1]) / np.median(vals[0]):.0f}x faster")
        fig.tight_layout()
        p = plots.save(fig, fig_dir, "sampling_time")
    return [(p[0], "One-step generator vs multi-step Heun sampling of the teacher: wall time for the same draws, "
                   "side by side in one process, one thread.")]


def _fig_gradvar(studies: dict, fig_dir: Path) -> list[tuple[Path, str]]:
    from . import plots

    g = studies.get("gradvar", {})
    if "ratio" not in g:
        return []
    import matplotlib.pyplot as plt

    with plt.style.context("default"):
        fig, ax = plt.subplots(figsize=(5.0, 3.4))
        v = [g["ipw_total_var"], g["rand_total_var"]]
        err = None
        if "ipw_ci" in g and "rand_ci" in g:
            err = np.array([[v[0] - g["ipw_ci"][0], v[1] - g["rand_ci"][0]],
                            [g["ipw_ci"][1] - v[0], g["rand_ci"][1] - v[1]]])
        ax.bar([0, 1], v, yerr=err, color=["C0", "C3"], alpha=0.8, capsize=4)
        ax.set_xticks([0, 1], ["explicit IPW", "randomized"])
        ax.set_ylabel("total variance of the generator gradient")
        ax.set_title(f"IPW / randomized = {g['ratio']:.2f} [{g.get('ci_low', np.nan):.2f}, "
                     f"{g.get('ci_high', np.nan):.2f}]")
        fig.tight_layout()
        p = plots.save(fig, fig_dir, "gradient_variance")
    return [(p[0], "Variance of the SiD generator gradient across minibatches at one model state: explicit IPW "
                   "weights vs randomized conditions (95 % bootstrap CIs, minibatches resampled).")]


def _fig_toy(studies: dict, fig_dir: Path) -> list[tuple[Path, str]]:
    import shutil

    t = studies.get("toy", {})
    src = t.get("figure")
    if not src or not Path(src).exists():
        return []
    paths = []
    for ext in ("png", "svg"):
        s = Path(src).with_suffix(f".{ext}")
        if s.exists():
            shutil.copyfile(s, fig_dir / f"toy.{ext}")
            paths.append(fig_dir / f"toy.{ext}")
    if not paths:
        return []
    return [(fig_dir / "toy.png", "wide: The paper's 1-D toy: true vs predicted densities of Y(0), Y(1), in and out "
                                  "of sample (teacher, KL and SiD distillation); made by "
                                  "`studies.iwdd_toy`.")]


# ---------------------------------------------------------------------------------------------------------------
# Budget
# ---------------------------------------------------------------------------------------------------------------


def budget(results: pd.DataFrame, out: Path, n_jobs: int, n18: int | None) -> tuple[pd.DataFrame, str]:
    """Measured per-fit times and the projected time of the full run (77 settings, every estimator, IHDP 10,
    ACIC 2018 as found, else the paper's 24) and of what remains.

    Projection: per family and estimator, the median (fit + predict) seconds of its finished tasks times the
    number of datasets of the full run, summed, divided by the workers (assumes perfect parallel efficiency on
    an otherwise idle machine; the measured times come from a shared machine, see the load in ``runs.jsonl``).
    """
    units = {"acic2016": N_ACIC2016, "acic2018": n18 or ACIC2018_PAPER_MAX, "ihdp": IHDP_REPLICATIONS}
    ok = results[results["status"] == "ok"].assign(task_s=lambda d: d["fit_seconds"] + d["predict_seconds"])
    from .registry import ESTIMATORS

    rows = []
    ests = sorted(set(results["estimator"].unique()) | set(ESTIMATORS.names()))  # never-run ones: "no timing"
    for fam, n_full in units.items():
        for e in ests:
            g = ok[(ok["dataset"] == fam) & (ok["estimator"] == e)]
            done = results[(results["dataset"] == fam) & (results["estimator"] == e)]["replication"].nunique()
            med = float(g["task_s"].median()) if len(g) else np.nan
            rows.append({"family": fam, "estimator": e, "tasks_done": int(done), "tasks_full": n_full,
                         "median_task_s": med, "full_cpu_s": med * n_full,
                         "remaining_cpu_s": med * max(n_full - done, 0)})
    df = pd.DataFrame(rows)
    runs = []
    log = out / "runs.jsonl"
    if log.exists():
        runs = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    fin = [r for r in runs if r.get("event") == "finished"]
    lines = ["Median seconds per task (fit + predict on one dataset) as measured in this store, by family; `-` = not "
             "measured yet (no finished task). Projection = median x datasets of the full run, summed over "
             f"estimators, divided by {n_jobs} workers, assuming perfect parallel efficiency.", "",
             "| estimator | " + " | ".join(f"{FAMILIES[f]} s/task" for f in units) + " |",
             "|---|" + "---|" * len(units)]
    for e in ests:
        cells = []
        for f in units:
            v = df[(df["family"] == f) & (df["estimator"] == e)]["median_task_s"].iloc[0]
            cells.append("-" if not np.isfinite(v) else f"{v:.1f}")
        lines.append(f"| {e} | " + " | ".join(cells) + " |")
    lines.append("")
    # Estimators not timed on a family: their IHDP median x the ratio (sum over estimators timed on both) of that
    # family's medians to their IHDP medians; flagged as extrapolated.
    ihdp = df[df["family"] == "ihdp"].set_index("estimator")["median_task_s"]
    df["extrapolated"] = False
    for f, n_full in units.items():
        if f == "ihdp":
            continue
        fam = df["family"] == f
        own = df[fam].set_index("estimator")["median_task_s"]
        both = own.notna() & ihdp.reindex(own.index).notna()
        if both.sum() >= 2 and ihdp.reindex(own.index)[both].sum() > 0:
            scale = own[both].sum() / ihdp.reindex(own.index)[both].sum()
            fill = fam & df["median_task_s"].isna() & df["estimator"].map(ihdp).notna()
            est_s = df.loc[fill, "estimator"].map(ihdp) * scale
            df.loc[fill, "full_cpu_s"] = est_s * n_full
            df.loc[fill, "remaining_cpu_s"] = est_s * (n_full - df.loc[fill, "tasks_done"]).clip(lower=0)
            df.loc[fill, "extrapolated"] = True
            df.loc[fam, "scale_from_ihdp"] = scale
    for f, n_full in units.items():
        sub = df[df["family"] == f]
        known = sub["full_cpu_s"].notna()
        if not known.any():
            lines.append(f"- {FAMILIES[f]}: no timing measured yet ({n_full} datasets in the full run).")
            continue
        full = sub.loc[known, "full_cpu_s"].sum() / n_jobs
        rem = sub.loc[known, "remaining_cpu_s"].sum() / n_jobs
        miss = ", ".join(sub.loc[~known, "estimator"]) or "none"
        ext = sub.loc[sub["extrapolated"], "estimator"].tolist()
        ext_txt = (f" Extrapolated (not timed on {FAMILIES[f]}: IHDP median x {sub['scale_from_ihdp'].iloc[0]:.1f}, the "
                   f"{FAMILIES[f]}/IHDP ratio of the estimators timed on both): {', '.join(ext)}." if ext else "")
        lines.append(f"- {FAMILIES[f]} ({n_full} datasets): full run ≈ {_hms(full)} with {n_jobs} workers; still to "
                     f"run ≈ {_hms(rem)}.{ext_txt} Without any timing (not included): {miss}.")
    tot_full = df["full_cpu_s"].sum(skipna=True) / n_jobs
    tot_rem = df["remaining_cpu_s"].sum(skipna=True) / n_jobs
    lines.append(f"- All families: full run ≈ **{_hms(tot_full)}**, still to run ≈ **{_hms(tot_rem)}** with {n_jobs} "
                 "workers, at the load these times were measured under (see the runs below; an idle machine is "
                 "several times faster).")
    if fin:
        lines += ["", "Runs recorded in `runs.jsonl` (wall time as measured; load = 1-minute load average of the 2-core "
                      "machine before / after; code = the commit whose code ran):", "", "| finished | wall | tasks ok / "
                      "failed / skipped | workers | load | code | command |", "|---|---|---|---|---|---|---|"]
        for r in fin:
            lines.append(f"| {r['finished']} | {_hms(r['wall_s'])} | {r['ok']} / {r['failed']} / {r['skipped']} | "
                         f"{r['n_jobs']} | {r['load_before'][0]:.1f} / {r['load_after'][0]:.1f} | "
                         f"{r.get('code', '?')} | `{r['command']}` |")
    done = {r["started"] for r in fin}
    open_runs = [r for r in runs if r.get("event") == "started" and r["started"] not in done]
    if open_runs:
        lines += ["", f"{len(open_runs)} recorded run(s) started without a finished record (stopped, killed or still "
                      "running); the tasks they finished are in the store and the same command resumes:", "",
                  "| started | workers | load | code | command |", "|---|---|---|---|---|"]
        for r in open_runs:
            lines.append(f"| {r['started']} | {r['n_jobs']} | {r['load_before'][0]:.1f} | {r.get('code', '?')} | "
                         f"`{r['command']}` |")
    return df, "\n".join(lines) + "\n"


def _hms(s: float) -> str:
    if not np.isfinite(s):
        return "-"
    s = int(round(s))
    return f"{s // 3600} h {s % 3600 // 60:02d} min" if s >= 3600 else f"{s // 60} min {s % 60:02d} s"


# ---------------------------------------------------------------------------------------------------------------
# Writing everything
# ---------------------------------------------------------------------------------------------------------------


def write_paper(
    results: pd.DataFrame,
    out: str | Path = DEFAULT_OUT,
    *,
    command: str = "",
    store_path: str = "",
    studies: dict | None = None,
    notes: list[str] = (),
    n_jobs: int = 2,
    acic2018_n: int | None = None,
    n_boot: int = 2000,
    seed: int = 0,
) -> dict[str, Path]:
    """Write tables, figures, ``claims.md``, ``README.md`` and ``index.html`` into ``out`` from a store's results.

    Parameters
    ----------
    results : DataFrame
        ``Store.results()`` of a paper run (rows of other runs' datasets are ignored).
    out : path
    command, store_path : str
        Recorded in the README.
    studies : dict or None
        From :func:`run_studies`; None = none measured.
    notes : list of str
        What the plan skipped or assumed (from :class:`PaperPlan`).
    n_jobs : int
        Workers assumed by the projection.
    acic2018_n : int or None
        ACIC 2018 datasets available (for the projection).
    n_boot, seed : bootstrap draws and seed.

    Returns
    -------
    dict name -> path.
    """
    from . import html
    from .report import coverage, leaderboard

    out = Path(out)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    studies = studies or {}
    results = results[results["dataset"].isin(list(FAMILIES)) & (results["split"] == SPLIT)].copy()
    if results.empty:
        raise ValueError(f"the store {store_path} holds no results of the paper's datasets with split {SPLIT}.")
    paths: dict[str, Path] = {}
    fam_iwdd = iwdd_family(results)

    # tables ------------------------------------------------------------------------------------------------------
    tabs = family_tables(results, n_boot=n_boot, seed=seed)
    long = []
    for fam, ts in tabs.items():
        for t in ts:
            long.append(t["frame"].assign(family=fam, scope=t["scope"]))
    paths["table_csv"] = out / "table_pehe.csv"
    pd.concat(long, ignore_index=True).to_csv(paths["table_csv"], index=False, float_format="%.6g")
    wr_long, wr_md, mats = winrate_matrices(results, n_boot=n_boot, seed=seed)
    paths["winrates_csv"] = out / "winrates_pairwise.csv"
    wr_long.to_csv(paths["winrates_csv"], index=False, float_format="%.6g")
    dist, dist_md = distributional_table(results)
    paths["dist_csv"] = out / "distributional.csv"
    dist.to_csv(paths["dist_csv"], index=False, float_format="%.6g")
    cov = coverage(results)
    paths["coverage_csv"] = out / "coverage.csv"
    cov.to_csv(paths["coverage_csv"], index=False)
    board = leaderboard(results)
    paths["leaderboard_csv"] = out / "leaderboard_all.csv"
    board.to_csv(paths["leaderboard_csv"], index=False, float_format="%.6g")
    keep = [c for c in results.columns if c not in ("versions", "error", "truth", "estimator_params",
                                                      "dataset_params", "key")]
    paths["tasks_csv"] = out / "tasks.csv"
    results[keep].to_csv(paths["tasks_csv"], index=False, float_format="%.6g")

    fam_md = []
    for fam, ts in tabs.items():
        for t in ts:
            fam_md.append(format_family_table(fam, t, fam_iwdd))
    cov_md = ["| family | estimator | datasets | ok | failed | timeout | crashed | absent |", "|" + "---|" * 8]
    for r in cov.itertuples():
        cov_md.append(f"| {FAMILIES.get(r.dataset, r.dataset)} | {r.estimator} | {r.tasks} | {r.ok} | {r.failed} | "
                      f"{r.timeout} | {r.crashed} | {r.absent} |")
    tables_md = ("# IWDD paper protocol: tables\n\n" + _provenance(command, store_path) + "\n\n## sqrt-PEHE and "
                 "% best per family\n\n" + "\n".join(fam_md) + "\n## Distributional metrics (generative estimators)"
                 "\n\n" + dist_md + "\n## Pairwise win rates\n\nRow A vs column B: % of datasets (paired: both "
                 "finished) on which A has the lower sqrt-PEHE, ties half; 95 % bootstrap CIs in "
                 "`winrates_pairwise.csv`.\n\n" + wr_md + "\n## Coverage (tasks per family and estimator)\n\n"
                 + "\n".join(cov_md) + "\n")
    paths["tables_md"] = out / "tables.md"
    paths["tables_md"].write_text(tables_md)

    # claims ------------------------------------------------------------------------------------------------------
    claims = evaluate_claims(results, studies, n_boot=n_boot, seed=seed)
    claims_md = ("# The IWDD paper's claims, tested\n\n" + _provenance(command, store_path) + "\n\nEach claim of the "
                 "abstract of Song, Chen & Zhou (2025), with the evidence measured here, its uncertainty and a "
                 "verdict computed by `catebench.benchmark.paper.evaluate_claims` from those numbers (the rule is printed "
                 f"under each claim). \"IWDD\" means `{MAIN}`, the paper's proposal (randomized conditions, SiD "
                 "distillation); the baselines are every estimator outside the IWDD family.\n\n| claim | verdict |\n"
                 "|---|---|\n" + "".join(f"| {c.text} | **{c.verdict}** |\n" for c in claims) + "\n"
                 + "\n".join(c.markdown() for c in claims))
    paths["claims_md"] = out / "claims.md"
    paths["claims_md"].write_text(claims_md)
    paths["claims_json"] = out / "claims.json"
    paths["claims_json"].write_text(json.dumps([dataclasses.asdict(c) for c in claims], indent=1) + "\n")

    # figures -----------------------------------------------------------------------------------------------------
    figs_best = _fig_best(tabs, fig_dir)
    figs_mat = _fig_matrices(mats, fig_dir)
    figs_toy = _fig_toy(studies, fig_dir)
    figs_speed = _fig_speed(studies, results, fig_dir)
    figs_grad = _fig_gradvar(studies, fig_dir)

    # budget + README + page ---------------------------------------------------------------------------------------
    bdf, budget_md = budget(results, out, n_jobs, acic2018_n)
    paths["budget_csv"] = out / "budget.csv"
    bdf.to_csv(paths["budget_csv"], index=False, float_format="%.6g")
    study_md = _studies_md(studies)
    all_figs = figs_best + figs_mat + figs_toy + figs_speed + figs_grad
    fig_md = "\n".join(f"![{cap.removeprefix('wide:').strip()}](figures/{p.name})\n" for p, cap in all_figs)
    readme = ("# The IWDD paper's experiments\n\n" + _provenance(command, store_path) + "\n\n"
              + "".join(f"- {n}\n" for n in notes) + "\n## Claims\n\n| claim | verdict |\n|---|---|\n"
              + "".join(f"| {c.text} | **{c.verdict}** |\n" for c in claims)
              + "\nDetails, evidence and decision rules: [`claims.md`](claims.md). Tables: [`tables.md`](tables.md) "
              "(CSV: `table_pehe.csv`, `winrates_pairwise.csv`, `distributional.csv`, `coverage.csv`, "
              "`leaderboard_all.csv`, every task's metrics in `tasks.csv`). One page: `index.html`.\n\n"
              "## Reproduce\n\n" + _reproduce_md(results, out, store_path) + "\n## Budget\n\n" + budget_md
              + "\n## Studies\n\n" + study_md + "\n## Figures\n\n" + fig_md)
    paths["readme"] = out / "README.md"
    paths["readme"].write_text(readme)
    sections = [
        ("Claims", claims_md.split("\n", 2)[2], []),
        ("Tables", "\n".join(fam_md), figs_best),
        ("Distributional metrics", dist_md, []),
        ("Pairwise win rates", wr_md, figs_mat),
        ("Toy, sampling time, gradient variance", study_md, figs_toy + figs_speed + figs_grad),
        ("Budget", budget_md, []),
        ("Coverage", "\n".join(cov_md), []),
    ]
    paths["html"] = out / "index.html"
    paths["html"].write_text(html.render_page("IWDD paper protocol (catebench)", sections))
    paths["figures"] = fig_dir
    return paths


def _reproduce_md(results: pd.DataFrame, out: Path, store_path: str) -> str:
    """The full run's command, how to resume it, and how to rewrite these files."""
    acic = (results.loc[results["dataset"] == "acic2016", "dataset_params"].dropna().unique()
            if "dataset_params" in results else [])
    dirs = sorted({json.loads(p).get("data_dir") for p in acic} - {None})
    flag = f" --acic2016-dir {dirs[0]}" if dirs else ""
    store = f" --store {store_path}" if store_path and store_path != DEFAULT_STORE else ""
    outf = f" --out {out}" if str(out) != DEFAULT_OUT else ""
    return (f"- The full run (all 77 ACIC 2016 settings x every registered estimator, IHDP 10 replications, ACIC 2018 "
            f"when its files are given with `--acic2018-dir`): `nice -n 5 catebench paper{flag}{store}{outf}`. It "
            "skips every task already in the store, so the same command completes a partial run; its projected time "
            "is under Budget.\n"
            f"- The runs that made this store are listed under Budget with their exact commands.\n"
            f"- These files, from the store alone: `catebench paper{flag}{store}{outf} --report-only` (the toy, speed "
            "and gradient-variance measurements in `studies/` are reused; `--studies run` measures them again).\n")


def _provenance(command: str, store_path: str) -> str:
    return (f"Generated by `{command or 'catebench.benchmark.paper.write_paper'}` on {_now()} from the store `{store_path}`. "
            f"Protocol: split `{SPLIT}` on every dataset (fit rows = first 80 % = \"in-sample\", test rows = last "
            "20 % = \"out-of-sample\"); one estimator seed per task; sqrt-PEHE against the noiseless surfaces "
            "(ACIC 2016, IHDP) or the noisy potential outcomes (ACIC 2018).")


def _studies_md(studies: dict) -> str:
    lines = []
    for name, label in (("toy", "1-D toy figure"), ("speed", "One-step vs Heun sampling time"),
                        ("gradvar", "Gradient variance, IPW vs randomized")):
        s = studies.get(name, {})
        if not s or "error" in s:
            lines.append(f"- {label}: not measured ({s.get('error', 'not run') if s else 'not run'}).")
            continue
        q = " **Quick smoke-test sizes, not a real measurement.**" if s.get("quick") else ""
        lines.append(f"- {label}: {s.get('summary', '')} Measured {s.get('measured', '?')} in "
                     f"{s.get('study_seconds', float('nan')):.0f} s (load {s.get('load', [float('nan')])[0]:.1f}, code "
                     f"{s.get('code', '?')}).{q}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------------------


def cmd_paper(args, command: str) -> int:
    """Entry point of ``catebench paper`` (see :func:`add_arguments`)."""
    from .store import Store

    if args.n_jobs is not None and args.n_jobs < 1:
        raise ValueError(f"--n-jobs must be at least 1; got {args.n_jobs}.")
    if args.n_boot < 100:
        raise ValueError(f"--n-boot must be at least 100; got {args.n_boot}.")
    if args.report_only and args.no_report:
        raise ValueError("--report-only and --no-report together do nothing.")
    executor = "dask" if args.scheduler else args.executor
    plan = build_plan(families=args.families, settings=args.settings, acic2016_dir=args.acic2016_dir,
                      acic2016_simulation=args.acic2016_simulation, acic2018_dir=args.acic2018_dir,
                      acic2018_datasets=args.acic2018_datasets, replications=args.replications,
                      estimators=args.estimators, exclude=args.exclude, seed=args.seed, n_jobs=args.n_jobs,
                      executor=executor, scheduler=args.scheduler, task_timeout=args.task_timeout, store=args.store)
    for n in plan.notes:
        print(n, file=sys.stderr)
    if not args.report_only:
        summary = run_plan(plan, args.out, command=command, retry_failed=args.retry_failed,
                           progress=not args.no_progress)
        print(summary)
    if args.no_report:
        return 0
    if not Path(args.store).exists():
        raise FileNotFoundError(f"no store at {args.store}; run `catebench paper` without --report-only first.")
    results = Store(args.store).results()
    if results.empty:
        raise ValueError(f"the store {args.store} holds no results yet.")
    results, n_stale, stale_notes = drop_stale(results, args.seed)
    if n_stale:
        plan.notes.append(f"{n_stale} stored task(s) of an estimator at another parameter set than the one shown are "
                          "left out (see `drop_stale`); the full command reruns what the current defaults need.")
    plan.notes.extend(stale_notes)
    studies = run_studies(Path(args.out), args.studies, quick=args.quick_studies)
    paths = write_paper(results, args.out, command=command, store_path=args.store, studies=studies, notes=plan.notes,
                        n_jobs=plan.config.n_jobs, acic2018_n=plan.acic2018_n, n_boot=args.n_boot, seed=args.seed)
    print(f"wrote {args.out}: README.md, claims.md, tables.md, index.html and {len(list(paths['figures'].glob('*.png')))}"
          " figures")
    return 0


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m catebench.benchmark.paper", description=__doc__.splitlines()[0])
    add_arguments(p)
    args = p.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    return cmd_paper(args, "catebench paper " + " ".join(shlex.quote(a) for a in argv))


if __name__ == "__main__":
    raise SystemExit(main())
