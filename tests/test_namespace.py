"""catebench installs one import namespace, ``catebench``, and coexists with packages that own generic names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_build_configuration_installs_only_the_catebench_namespace():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert conf["packages"], "packages are listed explicitly"
    assert all(p.startswith("catebench.") for p in conf["packages"]), conf["packages"]
    assert set(conf["package-dir"]) == {"catebench.benchmark", "catebench.estimators", "catebench.datasets"}
    # every Python package folder of the core is listed (a new sub-package cannot be left out of the wheel)
    found = set()
    for name, folder in conf["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((name, *rel)))
    assert found == set(conf["packages"])


def test_catebench_coexists_with_a_top_level_datasets_package(tmp_path):
    """A package owning the top-level name ``datasets`` (as Hugging Face's does) imports beside catebench."""
    other = tmp_path / "site" / "datasets"
    other.mkdir(parents=True)
    (other / "__init__.py").write_text("OWNER = 'someone else'\n")
    code = (
        "import datasets, catebench.datasets, catebench.estimators, catebench.benchmark.registry as r\n"
        "assert datasets.OWNER == 'someone else', datasets.__file__\n"
        "print(len(r.DATASETS.names()), len(r.ESTIMATORS.names()), catebench.datasets.__name__)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path / "site"),
                                                                    os.environ.get("PYTHONPATH", "")]))}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    n_datasets, n_estimators, name = out.stdout.split()
    assert int(n_datasets) > 5 and int(n_estimators) > 10 and name == "catebench.datasets"


def test_no_generic_top_level_names_outside_a_checkout(tmp_path):
    """Installed, catebench adds no ``benchmark``, ``estimators`` or ``datasets`` module to the import path."""
    code = "import importlib.util as u; print([n for n in ('benchmark', 'estimators', 'datasets') if u.find_spec(n)])"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")  # a worktree's namespace root, if any: no generic names
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
