"""The lock pins every package of the locked install, consistently with pyproject.toml and with itself."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"


def read_lock(text: str) -> dict[str, Version]:
    """``{canonical name: version}`` of a lock's ``name==version`` lines; any other non-comment line is an error."""
    pins: dict[str, Version] = {}
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", line)
        if m is None:
            raise ValueError(f"line {n} of the lock is not 'name==version': {line!r}")
        name = canonicalize_name(m.group(1))
        if name in pins:
            raise ValueError(f"line {n}: {name!r} is pinned twice")
        pins[name] = Version(m.group(2))
    return pins


def project_requirements() -> list[Requirement]:
    """catebench's own requirements with the ``test`` extra, those whose markers hold on this interpreter."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["test"]]
    env = default_environment()
    return [r for r in reqs if r.marker is None or r.marker.evaluate(env)]


def applies(req: Requirement, extras: set[str]) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({**default_environment(), "extra": e}) for e in (extras or {""}))


def test_read_lock_rejects_what_is_not_a_pin():
    assert read_lock("# c\nNumPy==2.4.6  # note\n\ntorch==2.13.0+cpu\n") == {
        "numpy": Version("2.4.6"), "torch": Version("2.13.0+cpu")}
    for bad in ("numpy>=2\n", "numpy==1\nnumpy==2\n", "-e .\n"):
        try:
            read_lock(bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad!r}")


def test_every_direct_requirement_is_pinned_within_its_range():
    pins = read_lock(LOCK.read_text())
    for req in project_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} (pyproject.toml) is not pinned in requirements.lock"
        assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} violates {req}"


def test_torch_is_pinned_to_a_cpu_build():
    assert read_lock(LOCK.read_text())["torch"].local == "cpu"


def test_every_installed_dependency_is_pinned_and_the_pins_agree_with_each_other():
    """Walk the installed dependency tree from catebench's requirements: each package reached is pinned, and where
    the installed release is the pinned one, its own requirements accept the pinned releases of their targets."""
    pins = read_lock(LOCK.read_text())
    todo = [(r, set(r.extras)) for r in project_requirements()]
    seen: set[str] = set()
    reached = 0
    while todo:
        req, extras = todo.pop()
        name = canonicalize_name(req.name)
        key = name + "[" + ",".join(sorted(extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        assert name in pins, f"{name} (required by the locked install) is not pinned in requirements.lock"
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        reached += 1
        if Version(dist.version) != pins[name]:
            continue  # not the locked release: its metadata says nothing about the lock
        for text in dist.requires or []:
            sub = Requirement(text)
            if not applies(sub, extras):
                continue
            sub_name = canonicalize_name(sub.name)
            assert sub_name in pins, f"{sub_name} (required by {name}) is not pinned in requirements.lock"
            assert sub.specifier.contains(pins[sub_name], prereleases=True), (
                f"{name}=={pins[name]} requires {sub}, the lock pins {sub_name}=={pins[sub_name]}")
            todo.append((sub, set(sub.extras)))
    assert reached >= len(project_requirements())


def test_ci_installs_with_the_lock_as_the_readme_says():
    ci = (ROOT / ".ci" / "run").read_text()
    install = re.search(r"pip install (?:-q )?(-c requirements\.lock -e \"\.\[test\]\")", ci)
    assert install is not None, "CI must install with the lock"
    readme = (ROOT / "README.md").read_text()
    assert install.group(1) in readme, "the README's test command must be CI's install"
