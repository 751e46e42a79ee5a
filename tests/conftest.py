"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# One BLAS / OpenMP / torch thread in the test process and the processes it starts: the project's
# machines have 2 cores, so more threads per process only contend (and results are then the same however many
# cores a machine has). Set before any test module imports numpy or torch; an explicit setting wins.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


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
