"""Point-estimate metrics: pure functions of arrays.

Every metric compares an estimator's predicted potential outcomes (mu0_hat, mu1_hat) with the truth the dataset
carries: the noiseless surfaces mu0, mu1 when known (IHDP, ACIC, synthetic designs), otherwise noisy potential
outcomes y0, y1 (e.g. Twins). They are computed by the runner from returned predictions, never inside an
estimator.

* ``pehe``: sqrt-PEHE, sqrt(mean((tau_hat - tau)^2)) with tau = mu1 - mu0 (Hill 2011; Shalit et al. 2017);
* ``ate``: absolute ATE error, |mean(tau_hat) - mean(tau)|;
* ``rmse_mu0`` / ``rmse_mu1``: root mean squared error of each predicted surface.

Each is reported on the fit rows (suffix ``_in``, "in-sample") and on the test rows (``_out``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["sqrt_pehe", "ate_error", "rmse", "point_metrics", "METRICS", "metric_columns"]

METRICS = ("pehe", "ate", "rmse_mu0", "rmse_mu1")


def sqrt_pehe(tau_true: np.ndarray, tau_hat: np.ndarray) -> float:
    """sqrt(mean((tau_hat - tau_true)^2))."""
    return float(np.sqrt(np.mean((np.asarray(tau_hat) - np.asarray(tau_true)) ** 2)))


def ate_error(tau_true: np.ndarray, tau_hat: np.ndarray) -> float:
    """|mean(tau_hat) - mean(tau_true)|."""
    return float(abs(np.mean(tau_hat) - np.mean(tau_true)))


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def point_metrics(mu0: np.ndarray, mu1: np.ndarray, mu0_hat: np.ndarray, mu1_hat: np.ndarray) -> dict[str, float]:
    """All of :data:`METRICS` for one set of rows."""
    tau, tau_hat = mu1 - mu0, mu1_hat - mu0_hat
    return {
        "pehe": sqrt_pehe(tau, tau_hat),
        "ate": ate_error(tau, tau_hat),
        "rmse_mu0": rmse(mu0, mu0_hat),
        "rmse_mu1": rmse(mu1, mu1_hat),
    }


def metric_columns() -> list[str]:
    """Names of the stored metric columns, e.g. ``pehe_in``, ``pehe_out``."""
    return [f"{m}_{s}" for m in METRICS for s in ("in", "out")]


def score(
    truth0: np.ndarray,
    truth1: np.ndarray,
    mu0_hat: np.ndarray,
    mu1_hat: np.ndarray,
    fit_idx: np.ndarray,
    test_idx: np.ndarray,
) -> dict[str, float]:
    """In-sample (fit rows) and out-of-sample (test rows) metrics, keyed like :func:`metric_columns`."""
    out: dict[str, float] = {}
    for suffix, idx in (("in", fit_idx), ("out", test_idx)):
        for name, value in point_metrics(truth0[idx], truth1[idx], mu0_hat[idx], mu1_hat[idx]).items():
            out[f"{name}_{suffix}"] = value
    return out
