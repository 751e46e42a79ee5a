"""Code says what is: no issue numbers or commit hashes, short module docstrings, a design note per estimator."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ISSUE = re.compile(r"\bissues?\s+#?\d+", re.IGNORECASE)
# a commit hash: 7-40 hex digits with at least one letter and one digit (so neither a word nor a plain number)
HASH = re.compile(r"\b(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{7,40}\b")
URL = re.compile(r"https?://\S+")
MAX_MODULE_DOC_LINES = 40
# Hex strings that are not commit references: digest prefixes a test expects in an error message.
NOT_COMMITS = {"tests/test_datasets.py": {"0128e5df"}}


def checked_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "pyproject.toml", ROOT / ".ci" / "run", *(ROOT / "docs").rglob("*.md")]
    for folder in ("benchmark", "estimators", "datasets", "studies", "examples", "tests"):
        if (ROOT / folder).is_dir():
            files += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".toml", ".md")
                      and not any(part.endswith(".egg-info") for part in p.parts)]
    return sorted(files)


def references(text: str, allowed: set[str] = frozenset()) -> list[str]:
    """Issue numbers and commit-hash-like tokens in ``text`` (web addresses left out)."""
    text = URL.sub("", text)
    found = [m.group(0) for m in ISSUE.finditer(text)]
    return found + [m.group(0) for m in HASH.finditer(text) if m.group(0) not in allowed]


def test_references_finds_issue_numbers_and_hashes_but_not_words_numbers_or_addresses():
    assert references("see issue 14 and Issues #3; made at ec1d233") == ["issue 14", "Issues #3", "ec1d233"]
    assert references("deadbeef 1234567 a fee of 1e-4 https://x.org/raw/0b0190bcd38a76c4/f.csv") == []


def test_no_issue_numbers_or_commit_hashes():
    bad = {}
    for path in checked_files():
        rel = path.relative_to(ROOT).as_posix()
        if path == Path(__file__).resolve():  # this file quotes examples
            continue
        found = references(path.read_text(), NOT_COMMITS.get(rel, set()))
        if found:
            bad[rel] = found
    assert not bad, f"issue numbers or commit hashes (history goes to CHANGELOG.md): {bad}"


def test_module_docstrings_are_short():
    long = {}
    for path in checked_files():
        rel = path.relative_to(ROOT).as_posix()
        if path.suffix != ".py":
            continue
        doc = ast.get_docstring(ast.parse(path.read_text()), clean=False)
        if doc and len(doc.splitlines()) > MAX_MODULE_DOC_LINES:
            long[rel] = len(doc.splitlines())
    assert not long, f"module docstrings over {MAX_MODULE_DOC_LINES} lines (evidence goes to docs/methods/): {long}"


def test_every_builtin_estimator_names_an_existing_design_note():
    from catebench.estimators import BUILTIN

    modules = set()
    for target, _, _ in BUILTIN.values():
        package, cls = target.split(":")
        modules.add(getattr(importlib.import_module(package), cls).__module__)
    missing = {}
    for name in sorted(modules):
        notes = re.findall(r"docs/methods/[a-z0-9-]+\.md", importlib.import_module(name).__doc__ or "")
        if not notes or not all((ROOT / n).is_file() for n in notes):
            missing[name] = notes
    assert not missing, f"modules whose docstring names no existing design note: {missing}"


#: An absolute path of the machine that wrote a file (web addresses are removed first).
MACHINE_PATH = re.compile(r"(?<![\w.~$/-])/(?:work|root|tmp|home|Users|mnt|srv|opt|var|data|scratch)/[\w.-]+")
TEXT_SUFFIXES = (".md", ".csv", ".json", ".jsonl", ".html", ".txt", ".toml", ".svg")


def machine_paths(text: str) -> list[str]:
    return [m.group(0) for m in MACHINE_PATH.finditer(URL.sub("", text))]


def test_machine_paths_finds_absolute_paths_but_not_relative_ones_or_addresses():
    assert machine_paths("store: /work/main/.catebench/x.sqlite, see (/tmp/out)") == ["/work/main", "/tmp/out"]
    assert machine_paths("results/paper/store.sqlite $CATEBENCH_DATA/acic2018 ~/data https://x.org/home/a "
                         "a/tmp/b 2/home") == []


def test_no_machine_paths_in_results_readme_or_docs():
    """A reader runs the commands from a clone: the results, the README and the docs name no path of the machine
    that made them."""
    files = [ROOT / "README.md", *(ROOT / "docs").rglob("*.md")]
    files += [p for p in (ROOT / "results").rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES
              and not any(part.endswith(".teachers") for part in p.parts)]
    found = {str(p.relative_to(ROOT)): sorted(set(machine_paths(p.read_text(errors="replace")))) for p in files}
    assert {f: paths for f, paths in found.items() if paths} == {}
