"""Metrics against plain-loop reference implementations."""

from __future__ import annotations

import math

import numpy as np

from benchmark.metrics import ate_error, metric_columns, point_metrics, score, sqrt_pehe


def _naive_pehe(tau, tau_hat):
    s = 0.0
    for a, b in zip(tau, tau_hat):
        s += (a - b) ** 2
    return math.sqrt(s / len(tau))


def test_pehe_and_ate_against_loops():
    rng = np.random.default_rng(0)
    mu0, mu1 = rng.normal(size=50), rng.normal(size=50) + 1
    h0, h1 = mu0 + rng.normal(size=50) * 0.3, mu1 + rng.normal(size=50) * 0.3
    m = point_metrics(mu0, mu1, h0, h1)
    assert math.isclose(m["pehe"], _naive_pehe(mu1 - mu0, h1 - h0), rel_tol=1e-12)
    assert math.isclose(m["ate"], abs(sum(h1 - h0) / 50 - sum(mu1 - mu0) / 50), rel_tol=1e-9)
    assert math.isclose(m["rmse_mu0"], math.sqrt(sum((mu0 - h0) ** 2) / 50), rel_tol=1e-12)
    assert sqrt_pehe(mu1 - mu0, mu1 - mu0) == 0.0 and ate_error([1, 2], [2, 1]) == 0.0


def test_score_splits_rows():
    mu0, mu1 = np.zeros(10), np.ones(10)
    h0, h1 = np.zeros(10), np.r_[np.ones(8), np.full(2, 3.0)]
    s = score(mu0, mu1, h0, h1, np.arange(8), np.arange(8, 10))
    assert s["pehe_in"] == 0.0 and math.isclose(s["pehe_out"], 2.0)
    assert sorted(s) == sorted(metric_columns())
