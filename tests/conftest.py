"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def shared_dir() -> Path | None:
    """The project's ../shared directory (CI has it; a user's clone usually does not)."""
    env = os.environ.get("CATEBENCH_SHARED")
    p = Path(env) if env else Path(__file__).resolve().parents[2] / "shared"
    return p if p.is_dir() else None


@pytest.fixture
def shared() -> Path:
    p = shared_dir()
    if p is None:
        pytest.skip("../shared (real data files for tests) is not present next to this clone; set CATEBENCH_SHARED")
    return p
