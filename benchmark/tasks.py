"""Tasks (one estimator fit on one replication with one seed) and their stable keys.

A task key is the SHA-256 of the canonical JSON of everything that determines its result: dataset name, version
and parameters, replication, split protocol, estimator target and its full parameter set (class defaults
included), the seed, and the catebench version. Keys do not depend on the order of anything in a config.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from importlib.metadata import PackageNotFoundError, version

from catebench.datasets.base import canonical_json, derive_seed
from catebench.datasets.splits import get_split

from .config import RunConfig
from .registry import DATASETS, ESTIMATORS

__all__ = ["Task", "plan_tasks", "catebench_version"]


def catebench_version() -> str:
    try:
        return version("catebench")
    except PackageNotFoundError:  # running from a source tree without installing
        return "0+unknown"


@dataclasses.dataclass(frozen=True)
class Task:
    """Everything a worker needs to run one fit; picklable and self-contained."""

    key: str
    dataset: str
    dataset_target: str
    dataset_params_json: str
    dataset_version: str
    replication: int
    split: str
    estimator: str  # display label
    estimator_target: str
    estimator_params_json: str
    seed: int  # seed index, 0 .. seeds-1
    random_state: int
    tuning_json: str | None = None  # tuned tasks: {"budget", "criterion", "space"} (see catebench.benchmark.tuning)
    #: where the dataset's files are (its ``location_params``, e.g. ``data_dir``), when given: used to load the
    #: data, never part of the key, the seeds or the stored dataset parameters
    dataset_location_json: str | None = None

    @property
    def dataset_load_json(self) -> str:
        """The parameters the dataset is constructed with in a worker: its identity plus its location."""
        if not self.dataset_location_json:
            return self.dataset_params_json
        return canonical_json({**json.loads(self.dataset_params_json), **json.loads(self.dataset_location_json)})

    @property
    def dataset_params(self) -> dict:
        return json.loads(self.dataset_params_json)

    @property
    def estimator_params(self) -> dict:
        return json.loads(self.estimator_params_json)


def _target_name(entry) -> str:
    t = entry.target
    if isinstance(t, str) and entry.source.startswith("plugin"):
        t = entry.load()  # plugins are listed without importing; keys name the class where it is defined, as before
    return t if isinstance(t, str) else f"{t.__module__}:{t.__qualname__}"


def _estimator_specs(config: RunConfig):
    """Expand ``name = "*"`` into every registered estimator that loads; returns (label, (entry, overrides)) pairs
    sorted by label.

    A ``module:Class`` spec without a label that is a registered configuration (same class, same full parameters)
    takes the registered name, so one configuration is one label and one set of tasks however it is named; the
    same configuration listed twice is planned once.
    """
    out = {}
    for spec in config.estimators:
        names = ESTIMATORS.board_names() if spec.name == "*" else [spec.name]
        for name in names:
            entry, overrides = ESTIMATORS.get(name), dict(spec.params)
            label = spec.label if (spec.label and spec.name != "*") else name
            if ":" in name and not spec.label:
                est = entry.create(**overrides)
                params = est.get_params(deep=False)
                params.pop("random_state", None)
                registered = ESTIMATORS.registered_entry(type(est), params)
                if registered is not None:
                    entry, overrides, label = registered, {}, registered.name
            if label in out:
                if _same_configuration(out[label], (entry, overrides)):
                    continue
                raise ValueError(f"estimator label {label!r} appears twice in the config; give one a distinct label.")
            out[label] = (entry, overrides)
    return sorted(out.items())


def _same_configuration(a: tuple, b: tuple) -> bool:
    """Whether two (entry, overrides) pairs build the same estimator (class and full parameters)."""
    (ea, oa), (eb, ob) = a, b
    try:
        x, y = ea.create(**oa), eb.create(**ob)
    except ValueError:
        return False
    return type(x) is type(y) and canonical_json(x.get_params(deep=False)) == canonical_json(y.get_params(deep=False))


def _tuned_specs(config: RunConfig, estimators: list) -> list:
    """Tuned twins of every estimator when ``config.tune`` > 0: label ``{label}@tuned-{criterion}-{budget}``, the
    same fixed parameters, and the tuning settings (budget, criterion, the estimator's search space), which are part
    of the task key (see :mod:`catebench.benchmark.tuning`)."""
    budget = getattr(config, "tune", 0) or 0
    if not budget:
        return []
    from .registry import import_object
    from .tuning import check_tuning, estimator_space, tuned_label

    criteria = config.tune_criterion
    criteria = [criteria] if isinstance(criteria, str) else list(criteria)
    out = []
    for label, target, params, overrides, _ in estimators:
        cls = import_object(target)
        space = estimator_space(cls, params)
        for criterion in criteria:
            check_tuning(budget, criterion)
            tuning = {"budget": int(budget), "criterion": criterion, "space": space}
            out.append((tuned_label(label, criterion, budget), target, params, overrides, tuning))
    return out


@functools.lru_cache(maxsize=256)
def _uses_validation(target, params_json: str) -> bool:
    """Whether the estimator's tags say ``uses_validation``: then the runner sets its ``validation_fraction``.

    The tag is the contract: an estimator tagged ``uses_validation`` must take a ``validation_fraction``
    parameter, and the runner passes the split protocol's share (63/27/10: 0.3 of the fit rows) unless the config
    sets it. An estimator without the tag is never given one.
    """
    from .registry import import_object

    cls = target if isinstance(target, type) else import_object(target)
    est = cls(**json.loads(params_json))
    tags = est.catebench_tags() if hasattr(est, "catebench_tags") else None
    if not getattr(tags, "uses_validation", False):
        return False
    if "validation_fraction" not in est.get_params(deep=False):
        raise ValueError(
            f"estimator {target} is tagged uses_validation but has no validation_fraction parameter; the runner "
            f"passes the validation share of the split through that parameter (see docs/plugins.md)."
        )
    return True


def plan_tasks(config: RunConfig) -> list[Task]:
    """All tasks of a run, in a deterministic order (dataset, replication, estimator, seed)."""
    pkg = catebench_version()
    estimators = []
    classes: dict[str, type] = {}
    for label, (entry, overrides) in _estimator_specs(config):
        est = entry.create(**overrides)  # validates parameter names now, not in a worker
        params = est.get_params(deep=False)
        params.pop("random_state", None)
        estimators.append((label, _target_name(entry), params, overrides, None))
        classes[_target_name(entry)] = type(est)
    estimators += _tuned_specs(config, estimators)
    tasks = []
    for dspec in config.datasets:
        split = get_split(dspec.split)
        dentry = DATASETS.get(dspec.name)
        dataset = dentry.create(**dspec.params)
        dparams = canonical_json(dataset.identity_params())
        location = {k: v for k, v in dataset.get_params(deep=False).items()
                    if k in dataset.location_params and v is not None}
        location_json = canonical_json(location) if location else None
        n = dataset.n_replications
        if n is not None and max(dspec.replications) > n:
            raise ValueError(f"dataset {dspec.name!r} has {n} replications; the config asks for up to {max(dspec.replications)}.")
        for rep in dspec.replications:
            for label, target, params, overrides, tuning in estimators:
                if "validation_fraction" not in overrides and _uses_validation(classes.get(target, target), canonical_json(params)):
                    params = {**params, "validation_fraction": split.validation_fraction}
                eparams = canonical_json(params)
                for s in range(config.seeds):
                    random_state = derive_seed("estimator-seed", config.seed, s, dspec.name, dparams, rep)
                    ident = {
                        "dataset": dspec.name, "dataset_version": dataset.version, "dataset_params": dparams,
                        "replication": rep, "split": dspec.split, "estimator": label, "estimator_target": target,
                        "estimator_params": eparams, "random_state": random_state, "catebench": pkg,
                    }  # fmt: skip
                    if tuning is not None:  # untuned keys stay as they were
                        ident["tuning"] = tuning
                    key = hashlib.sha256(canonical_json(ident).encode()).hexdigest()[:24]
                    tasks.append(
                        Task(key, dspec.name, _target_name(dentry), dparams, dataset.version, rep, dspec.split,
                             label, target, eparams, s, random_state,
                             None if tuning is None else canonical_json(tuning), location_json)
                    )  # fmt: skip
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):
        raise ValueError("the config lists the same task twice (same dataset, replication, estimator and seed).")
    return tasks
