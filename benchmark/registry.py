"""Registries of estimators and datasets, by name.

Three sources, in order of precedence:

1. built-ins, listed in ``catebench.estimators.BUILTIN`` and ``catebench.datasets.BUILTIN`` as ``name -> (target, params, summary)``;
2. plugins: installed packages that declare entry points in the groups ``catebench.estimators`` and
   ``catebench.datasets``; the entry-point name is the registered name and its value a class
   (``mypkg.module:MyEstimator``);
3. any class named as ``module:Class`` in a config or on the command line.

Built-in targets are imported lazily, so listing does not import torch. Plugins are imported when they are checked
(:meth:`Registry.check_plugins`: by ``catebench list`` and by every ``name = "*"`` expansion) or used. A plugin that
fails to load gives a :class:`PluginWarning` naming it and why, and is left out of ``name = "*"``; the rest of the
registry still works, and a run that names it explicitly is refused with the same reason.
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
        if not self.source.startswith("plugin"):
            return import_object(self.target)
        try:  # plugins are imported on first use, not when listed
            obj = import_object(self.target)
        except Exception as exc:
            raise ValueError(f"plugin {self.name!r} ({self.target}, {self.source}) failed to load: {exc}") from exc
        if not isinstance(obj, type):
            raise ValueError(f"plugin {self.name!r} ({self.source}): {self.target!r} is a {type(obj).__name__}, "
                             "not a class.")
        return obj

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


def _same_params(a: dict, b: dict) -> bool:
    from catebench.datasets.base import canonical_json

    try:
        return canonical_json(a) == canonical_json(b)
    except (TypeError, ValueError):
        return False


def _find_source(module_name: str) -> str | None:
    """The source file of ``module_name``, found without executing any of its packages' code.

    Returns None when the module exists but has no Python source (an extension module, a namespace package);
    raises ``ModuleNotFoundError`` when it does not exist.
    """
    import importlib.machinery
    import sys

    if module_name in sys.modules:  # already imported: nothing to save
        return getattr(sys.modules[module_name], "__file__", None)
    path = None
    spec = None
    parts = module_name.split(".")
    for i in range(len(parts)):
        spec = importlib.machinery.PathFinder.find_spec(".".join(parts[: i + 1]), path)
        if spec is None:
            raise ModuleNotFoundError(f"no module named {'.'.join(parts[: i + 1])!r}")
        path = spec.submodule_search_locations
        if i < len(parts) - 1 and path is None:
            raise ModuleNotFoundError(f"{'.'.join(parts[: i + 1])!r} is not a package")
    origin = spec.origin if spec is not None else None
    return origin if origin and origin.endswith(".py") else None


def _static_summary(module_name: str, attr: str) -> str:
    """First docstring line of class ``attr`` in ``module_name``, read from its source without importing it.

    Raises when the module does not exist, does not parse, or surely lacks ``attr`` (so that ``catebench list``
    still names a broken plugin); returns "" when the answer needs an import (a re-export, a module
    ``__getattr__``, no source file).
    """
    import ast

    path = _find_source(module_name)
    if path is None:
        return ""
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), filename=path)
    head = attr.split(".")[0]
    bound = False
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == head:
            return (ast.get_docstring(node) or "").strip().split("\n")[0] if head == attr else ""
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in (head, "__getattr__"):
            bound = True
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.asname or a.name.split(".")[0] for a in node.names]
            bound = bound or head in names or "*" in names
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.If, ast.Try, ast.With, ast.For)):
            bound = bound or any(isinstance(n, ast.Name) and n.id == head for n in ast.walk(node))
    if not bound:
        raise AttributeError(f"module {module_name!r} has no attribute {head!r}")
    return ""


class Registry:
    """Names -> :class:`Entry` for one kind of thing (``"estimator"`` or ``"dataset"``)."""

    def __init__(self, kind: str, group: str, builtin_module: str):
        self.kind = kind
        self.group = group
        self.builtin_module = builtin_module
        self._entries: dict[str, Entry] | None = None
        self.problems: list[str] = []
        self.failed: dict[str, str] = {}  # plugin name -> why it failed to load (named by get())
        self._checked: set[str] = set()  # plugin names imported successfully

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
            # Plugin code is not imported here (listing stays fast and free of torch): the summary is read from
            # the class docstring in the module's source, and the class is imported on first use (Entry.load).
            try:
                summary = _static_summary(ep.module, ep.attr)
            except Exception as exc:  # a broken plugin must not break the listing
                self._problem(f"{self.kind} plugin {ep.name!r} ({ep.value}, {source}) failed to load: {exc}")
                self.failed[ep.name] = f"{ep.value}, {source}: {type(exc).__name__}: {exc}"
                continue
            if not summary and dist is not None:
                summary = (dist.metadata.get("Summary") or "").strip()
            if not self._valid_name(ep.name, source):
                continue
            entries[ep.name] = Entry(ep.name, f"{ep.module}:{ep.attr}", {}, summary, source)
        self._entries = entries
        return entries

    def _valid_name(self, name: str, source: str) -> bool:
        """A plugin's name becomes a label or a dataset name in reports: one :mod:`~catebench.benchmark.names`
        refuses is left out with a warning."""
        from .names import check_dataset_name, check_label

        try:
            (check_label if self.kind == "estimator" else check_dataset_name)(name)
        except ValueError as exc:
            self._problem(f"{self.kind} plugin ({source}) ignored: {exc}")
            self.failed[name] = f"{source}: {exc}"
            return False
        return True

    def check_plugins(self) -> list[str]:
        """Import every plugin not imported yet; one that fails is removed with a :class:`PluginWarning` naming it.

        Returns
        -------
        list of str
            Names of the plugins that failed now (each also in :attr:`failed`, so ``get`` names the reason).
        """
        entries = self._load()
        failed = []
        for name, e in list(entries.items()):
            if not e.source.startswith("plugin") or name in self._checked:
                continue
            try:
                e.load()
            except Exception as exc:  # noqa: BLE001 - any import-time fault of a plugin
                del entries[name]
                self.failed[name] = f"{e.target}, {e.source}: {exc.__cause__ or exc}"
                self._problem(f"{self.kind} plugin {name!r} ({e.target}, {e.source}) failed to load: "
                              f"{exc.__cause__ or exc}")  # fmt: skip
                failed.append(name)
            else:
                self._checked.add(name)
        return failed

    def board_names(self) -> list[str]:
        """What ``name = "*"`` expands to: every registered name whose class loads (see :meth:`check_plugins`)."""
        self.check_plugins()
        return self.names()

    def plugin_entries(self) -> list[Entry]:
        """Registered entries that come from installed plugins (not built-in, not registered at run time)."""
        return [e for e in self.entries() if e.source.startswith("plugin")]

    def registered_entry(self, cls: type, params: dict) -> Entry | None:
        """The registered entry whose class is ``cls`` and whose full parameters equal ``params``, if any.

        ``params`` are an instance's ``get_params(deep=False)`` without ``random_state``. A ``module:Class`` spec
        that names a registered configuration is that configuration (one label, one set of task keys).
        """
        for e in self.entries():
            attr = (e.target.partition(":")[2] if isinstance(e.target, str) else e.target.__qualname__).split(".")[-1]
            if attr != cls.__name__:
                continue
            try:
                if e.load() is not cls:
                    continue
                theirs = e.create().get_params(deep=False)
            except Exception:  # noqa: BLE001 - an entry that cannot be built is not this configuration
                continue
            theirs.pop("random_state", None)
            if _same_params(theirs, params):
                return e
        return None

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
        if name in self.failed:
            raise ValueError(f"{self.kind} {name!r} is an installed plugin that failed to load ({self.failed[name]}).")
        raise ValueError(
            f"unknown {self.kind} {name!r}. Registered: {', '.join(sorted(entries))}; "
            f"or name a class as 'module:Class'."
        )

    def create(self, name: str, **params) -> Any:
        return self.get(name).create(**params)


ESTIMATORS = Registry("estimator", "catebench.estimators", "catebench.estimators")
DATASETS = Registry("dataset", "catebench.datasets", "catebench.datasets")
