"""Run configurations (TOML) and their expansion into tasks.

A run is datasets x replications x estimators x seeds. Example (``benchmark/configs/default.toml``)::

    name = "default"
    seed = 0                # drives every estimator's random_state
    seeds = 1               # repetitions with different estimator seeds
    n_jobs = 2
    store = "results/store.sqlite"

    [[datasets]]
    name = "ihdp"
    replications = 10       # 1..10; or a list such as [1, 5, 7]
    split = "63/27/10"
    params = {}

    [[estimators]]
    name = "*"              # every registered estimator; or a name, or "module:Class"
    params = {}             # overrides of the estimator's defaults
    label = "..."           # optional display name (defaults to the name); one label is one configuration

Optional top-level keys ``tune = 8`` and ``tune_criterion = "nn-pehe"`` (or ``"factual"``, ``"rloss"``, or a
list) add, beside every estimator's default tasks, a tuned twin labelled ``{label}@tuned-{criterion}-{budget}``
(see :mod:`catebench.benchmark.tuning`).

Labels and dataset names are checked here (:mod:`catebench.benchmark.names`): they become Markdown, HTML and
file names in reports. Relative paths are resolved against the current directory.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from catebench.datasets.splits import get_split

__all__ = ["RunConfig", "DatasetSpec", "EstimatorSpec", "load_config", "CONFIG_DIR"]

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    name: str
    replications: tuple[int, ...]
    split: str = "63/27/10"
    params: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class EstimatorSpec:
    name: str
    params: dict = dataclasses.field(default_factory=dict)
    label: str | None = None


@dataclasses.dataclass
class RunConfig:
    name: str = "run"
    seed: int = 0
    seeds: int = 1
    n_jobs: int = 1
    store: str = "results/store.sqlite"
    executor: str = "local"
    scheduler: str | None = None
    task_timeout: float | None = None
    tune: int = 0  # > 0: also run every estimator tuned with this budget (catebench.benchmark.tuning)
    tune_criterion: str | list[str] = "factual"  # "factual", "nn-pehe", "rloss", or a list of them
    datasets: list[DatasetSpec] = dataclasses.field(default_factory=list)
    estimators: list[EstimatorSpec] = dataclasses.field(default_factory=list)
    source: str | None = None  # the file it came from

    def validate(self) -> "RunConfig":
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer; got {self.seed!r}.")
        if not isinstance(self.seeds, int) or self.seeds < 1:
            raise ValueError(f"seeds must be a positive integer; got {self.seeds!r}.")
        if not isinstance(self.n_jobs, int) or self.n_jobs < 1:
            raise ValueError(f"n_jobs must be a positive integer; got {self.n_jobs!r}.")
        if self.executor not in ("local", "inline", "dask"):
            raise ValueError(f"executor must be 'local', 'inline' or 'dask'; got {self.executor!r}.")
        if self.task_timeout is not None and not self.task_timeout > 0:
            raise ValueError(f"task_timeout must be positive seconds or absent; got {self.task_timeout!r}.")
        if isinstance(self.tune, bool) or not isinstance(self.tune, int) or self.tune < 0:
            raise ValueError(f"tune must be a non-negative integer (candidates per tuned task); got {self.tune!r}.")
        from catebench.benchmark.tuning import CRITERIA

        crits = [self.tune_criterion] if isinstance(self.tune_criterion, str) else self.tune_criterion
        if not isinstance(crits, (list, tuple)) or not crits or any(c not in CRITERIA for c in crits):
            raise ValueError(f"tune_criterion must be one of {CRITERIA} or a list of them; got {self.tune_criterion!r}.")
        if not self.datasets:
            raise ValueError("the config names no datasets ([[datasets]] tables).")
        if not self.estimators:
            raise ValueError("the config names no estimators ([[estimators]] tables).")
        from .names import check_dataset_name, check_label

        for i, d in enumerate(self.datasets):
            check_dataset_name(d.name, f"datasets[{i}].name")
            get_split(d.split)
        for i, e in enumerate(self.estimators):
            if e.label is not None:
                check_label(e.label, f"estimators[{i}].label")
            elif e.name != "*":
                check_label(e.name, f"estimators[{i}].name (the label when none is given)")
        return self


def _replications(value: Any, where: str) -> tuple[int, ...]:
    if isinstance(value, bool):
        raise ValueError(f"{where}: replications must be a count or a list of numbers; got {value!r}.")
    if isinstance(value, int):
        if value < 1:
            raise ValueError(f"{where}: replications must be at least 1; got {value}.")
        return tuple(range(1, value + 1))
    if isinstance(value, list) and value and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value):
        return tuple(sorted(set(value)))
    raise ValueError(f"{where}: replications must be a positive count or a list of numbers >= 1; got {value!r}.")


def config_from_dict(raw: dict, source: str | None = None) -> RunConfig:
    raw = dict(raw)
    known = {f.name for f in dataclasses.fields(RunConfig)} - {"source"}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"unknown key(s) in config{f' {source}' if source else ''}: {sorted(unknown)}; known: {sorted(known)}.")
    datasets = []
    for i, d in enumerate(raw.pop("datasets", [])):
        where = f"datasets[{i}]"
        extra = set(d) - {"name", "replications", "split", "params"}
        if extra or "name" not in d:
            raise ValueError(f"{where}: needs 'name' and allows replications, split, params; got keys {sorted(d)}.")
        datasets.append(
            DatasetSpec(d["name"], _replications(d.get("replications", 1), where), d.get("split", "63/27/10"), dict(d.get("params", {})))
        )
    estimators = []
    for i, e in enumerate(raw.pop("estimators", [])):
        extra = set(e) - {"name", "params", "label"}
        if extra or "name" not in e:
            raise ValueError(f"estimators[{i}]: needs 'name' and allows params, label; got keys {sorted(e)}.")
        estimators.append(EstimatorSpec(e["name"], dict(e.get("params", {})), e.get("label")))
    return RunConfig(datasets=datasets, estimators=estimators, source=source, **raw).validate()


def load_config(path: str | Path) -> RunConfig:
    """Read a TOML run config. A bare name such as ``default`` refers to ``benchmark/configs/default.toml``."""
    p = Path(path)
    if not p.exists() and not p.suffix and (CONFIG_DIR / f"{p.name}.toml").exists():
        p = CONFIG_DIR / f"{p.name}.toml"
    if not p.exists():
        available = ", ".join(sorted(q.stem for q in CONFIG_DIR.glob("*.toml")))
        raise FileNotFoundError(f"config file {str(path)!r} not found (built-in configs: {available}).")
    if p.is_dir():
        raise ValueError(f"the config path {str(path)!r} is a directory; give a TOML file such as {str(p / 'run.toml')!r}.")
    try:
        with open(p, "rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{p}: invalid TOML: {exc}") from None
    except OSError as exc:
        raise ValueError(f"cannot read the config file {str(path)!r}: {exc.strerror or exc}.") from None
    return config_from_dict(raw, source=str(p))
