"""Registries of estimators and datasets, by name.

Three sources, in order of precedence:

1. built-ins, listed in ``estimators.BUILTIN`` and ``datasets.BUILTIN`` as ``name -> (target, params, summary)``;
2. plugins: installed packages that declare entry points in the groups ``catebench.estimators`` and
   ``catebench.datasets``; the entry-point name is the registered name and its value a class
   (``mypkg.module:MyEstimator``);
3. any class named as ``module:Class`` in a config or on the command line.

Targets are imported lazily, so listing does not import torch. A plugin that fails to load gives a warning that
names it; the rest of the registry still works.
"""

from __future__ import annotations

import dataclasses
import importlib
import warnings
from importlib.metadata import entry_points
from typing import Any

__all__ = ["Entry", "Registry", "ESTIMATORS", "DATASETS", "PluginWarning"]


class PluginWarning(UserWarning):
    """A plugin could not be loaded."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """A registered name.

    Attributes
    ----------
    name : str
    target : str or type
        ``"module:Class"`` or the class itself.
    params : dict
        Parameters applied over the class's defaults (e.g. ``kind="t"`` for the T-learner).
    summary : str
    source : str
        ``"built-in"``, ``"plugin <distribution> <version>"`` or ``"module:Class"``.
    """

    name: str
    target: Any
    params: dict = dataclasses.field(default_factory=dict)
    summary: str = ""
    source: str = "built-in"

    def load(self) -> type:
        """Import and return the class."""
        if not isinstance(self.target, str):
            return self.target
        return import_object(self.target)

    def create(self, **overrides) -> Any:
        """An instance with the entry's params, then ``overrides``, applied."""
        cls = self.load()
        params = {**self.params, **overrides}
        try:
            return cls(**params)
        except TypeError as exc:
            raise ValueError(f"{self.name}: bad parameters {params}: {exc}") from None


def import_object(spec: str) -> Any:
    """Import ``"package.module:Attr"``; errors name the spec."""
    if ":" not in spec:
        raise ValueError(f"expected 'module:Class', got {spec!r}.")
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r} (from {spec!r}): {exc}") from exc
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise ValueError(f"module {module_name!r} has no attribute {attr!r} (from {spec!r}).") from None
    return obj


class Registry:
    """Names -> :class:`Entry` for one kind of thing (``"estimator"`` or ``"dataset"``)."""

    def __init__(self, kind: str, group: str, builtin_module: str):
        self.kind = kind
        self.group = group
        self.builtin_module = builtin_module
        self._entries: dict[str, Entry] | None = None
        self.problems: list[str] = []

    # ---- loading ----------------------------------------------------------------------------------------
    def _load(self) -> dict[str, Entry]:
        if self._entries is not None:
            return self._entries
        entries: dict[str, Entry] = {}
        builtin = importlib.import_module(self.builtin_module).BUILTIN
        for name, (target, params, summary) in builtin.items():
            entries[name] = Entry(name, target, dict(params), summary, "built-in")
        for ep in entry_points(group=self.group):
            dist = getattr(ep, "dist", None)
            source = f"plugin {dist.name} {dist.version}" if dist is not None else f"plugin {ep.value}"
            if ep.name in entries:
                self._problem(f"{self.kind} plugin {ep.name!r} ({source}) clashes with an existing name; ignored.")
                continue
            try:
                target = ep.load()
                if not isinstance(target, type):
                    raise TypeError(f"entry point value {ep.value!r} is a {type(target).__name__}, not a class")
            except Exception as exc:  # a broken plugin must not break the listing
                self._problem(f"{self.kind} plugin {ep.name!r} ({ep.value}, {source}) failed to load: {exc!r}")
                continue
            summary = (target.__doc__ or "").strip().split("\n")[0]
            entries[ep.name] = Entry(ep.name, target, {}, summary, source)
        self._entries = entries
        return entries

    def _problem(self, message: str) -> None:
        self.problems.append(message)
        warnings.warn(message, PluginWarning, stacklevel=3)

    def register(self, name: str, target: Any, params: dict | None = None, summary: str = "") -> None:
        """Register ``name`` at run time (for tests and notebooks)."""
        entries = self._load()
        if name in entries:
            raise ValueError(f"{self.kind} {name!r} is already registered ({entries[name].source}).")
        entries[name] = Entry(name, target, dict(params or {}), summary, "registered at run time")

    def unregister(self, name: str) -> None:
        self._load().pop(name, None)

    # ---- queries ----------------------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self._load())

    def entries(self) -> list[Entry]:
        return [self._load()[n] for n in self.names()]

    def get(self, name: str) -> Entry:
        """The entry for a registered name or a ``module:Class`` spec."""
        entries = self._load()
        if name in entries:
            return entries[name]
        if ":" in name:
            return Entry(name, name, {}, "", name)
        raise ValueError(
            f"unknown {self.kind} {name!r}. Registered: {', '.join(sorted(entries))}; "
            f"or name a class as 'module:Class'."
        )

    def create(self, name: str, **params) -> Any:
        return self.get(name).create(**params)


ESTIMATORS = Registry("estimator", "catebench.estimators", "estimators")
DATASETS = Registry("dataset", "catebench.datasets", "datasets")
