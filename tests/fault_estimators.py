"""Fault-injection estimators for the executor and runner tests.

Each misbehaves in one way a real estimator can: raise, hang past the time limit, return NaN, return the wrong
shape, or kill the worker process it runs in (``os._exit`` or SIGKILL of its own process). The ``Flaky*`` variant
kills its worker only on the first attempt (a marker file records the attempt), to show that transient worker
loss is retried. Use them in a config as ``tests.fault_estimators:Raise`` and so on.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np

from catebench.estimators.base import CATEEstimator

__all__ = ["Raise", "Hang", "NaNOutput", "WrongShape", "ExitWorker", "KillWorker", "FlakyKill", "Slow", "WaitFor"]


class _Base(CATEEstimator):
    """An OLS-free stand-in: mean outcome of each arm (cheap)."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def _fit(self, X, t, y):
        self.m_ = (float(np.mean(y[t == 0])), float(np.mean(y[t == 1])))

    def _predict(self, X):
        n = len(X)
        return np.full(n, self.m_[0]), np.full(n, self.m_[1])


class Raise(_Base):
    """Raises in ``fit``."""

    def _fit(self, X, t, y):
        raise RuntimeError("fault injection: Raise._fit")


class Hang(_Base):
    """Sleeps ``seconds`` (default 600 s) in ``fit``: far past any test time limit."""

    def __init__(self, seconds=600.0, random_state=None):
        self.seconds = seconds
        self.random_state = random_state

    def _fit(self, X, t, y):
        time.sleep(self.seconds)
        super()._fit(X, t, y)


class Slow(Hang):
    """Sleeps ``seconds`` (default 0.5 s) then fits: a well-behaved task that takes a while."""

    def __init__(self, seconds=0.5, random_state=None):
        super().__init__(seconds=seconds, random_state=random_state)


class NaNOutput(_Base):
    """Predicts NaN for every unit."""

    def _predict(self, X):
        n = len(X)
        return np.full(n, np.nan), np.zeros(n)


class WrongShape(_Base):
    """Predicts one value too few."""

    def _predict(self, X):
        n = len(X) - 1
        return np.zeros(n), np.zeros(n)


class ExitWorker(_Base):
    """Ends its process with ``os._exit(3)`` in ``fit`` (no exception, no cleanup)."""

    def _fit(self, X, t, y):
        os._exit(3)


class KillWorker(_Base):
    """SIGKILLs its own process in ``fit`` (what the out-of-memory killer does)."""

    def _fit(self, X, t, y):
        os.kill(os.getpid(), signal.SIGKILL)


class FlakyKill(_Base):
    """SIGKILLs its own process the first time it runs for a given ``marker_dir``; succeeds afterwards."""

    def __init__(self, marker_dir="", random_state=None):
        self.marker_dir = marker_dir
        self.random_state = random_state

    def _fit(self, X, t, y):
        marker = Path(self.marker_dir) / f"flaky-{self.random_state}"
        if not marker.exists():
            marker.write_text("first attempt")
            os.kill(os.getpid(), signal.SIGKILL)
        super()._fit(X, t, y)


class WaitFor(_Base):
    """Waits in ``fit`` until the file ``path`` exists (at most ``seconds``), then fits: lets a test hold a run open."""

    def __init__(self, path="", seconds=600.0, random_state=None):
        self.path = path
        self.seconds = seconds
        self.random_state = random_state

    def _fit(self, X, t, y):
        t0 = time.monotonic()
        while not Path(self.path).exists() and time.monotonic() - t0 < self.seconds:
            time.sleep(0.05)
        super()._fit(X, t, y)
