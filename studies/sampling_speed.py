"""One-step generator vs multi-step Heun sampling of a fitted ``IWDD``: the one timing protocol of every study.

:func:`time_samplers` draws the same units, the same number of draws and the same latents with
``IWDD.sample`` (one network call per draw) and ``IWDD.sample_teacher`` (the teacher's Heun sampler), the two
alternating within each repeat so that both see the same machine load, in the calling process (call
:func:`catebench.benchmark.runner.limit_threads` first for one thread). Reported: every repeat's wall and CPU
seconds and the ratios of the medians. Used by :mod:`studies.iwdd_ihdp`, :mod:`studies.perf` and
:mod:`studies.paper`.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

__all__ = ["time_samplers"]


def _timed(fn) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


def time_samplers(est: Any, X: np.ndarray, n_draws: int, heun_steps: int = 50, repeats: int = 3) -> dict:
    """Seconds of ``est.sample(X, n_draws)`` and ``est.sample_teacher(X, n_draws, heun_steps)``, side by side.

    Parameters
    ----------
    est : a fitted :class:`catebench.estimators.iwdd.IWDD`
    X : (n, d) float array
        The units drawn for (both arms of each).
    n_draws : int
        Draws per unit and arm.
    heun_steps : int, default 50
        Steps of the teacher's Heun sampler (2 * steps - 1 network calls per draw).
    repeats : int, default 3
        Each repeat times the one-step sampler, then the Heun sampler.

    Returns
    -------
    dict
        ``one_step``, ``heun`` (wall seconds per repeat), ``one_step_cpu``, ``heun_cpu`` (CPU seconds per repeat),
        ``ratio`` and ``cpu_ratio`` (median Heun / median one-step), ``units``, ``draws``, ``heun_steps``,
        ``repeats``.
    """
    if repeats < 1 or n_draws < 1 or heun_steps < 1:
        raise ValueError(f"repeats, n_draws and heun_steps must be positive; got {repeats}, {n_draws}, {heun_steps}.")
    one, heun, one_cpu, heun_cpu = [], [], [], []
    for _ in range(repeats):
        w, c = _timed(lambda: est.sample(X, n_samples=n_draws))
        one.append(w)
        one_cpu.append(c)
        w, c = _timed(lambda: est.sample_teacher(X, n_samples=n_draws, heun_steps=heun_steps))
        heun.append(w)
        heun_cpu.append(c)
    return {"one_step": one, "heun": heun, "one_step_cpu": one_cpu, "heun_cpu": heun_cpu,
            "ratio": statistics.median(heun) / statistics.median(one),
            "cpu_ratio": statistics.median(heun_cpu) / max(statistics.median(one_cpu), 1e-9),
            "units": int(len(X)), "draws": int(n_draws), "heun_steps": int(heun_steps), "repeats": int(repeats)}
