"""Point-estimate metrics: pure functions of arrays.

Every metric compares an estimator's predicted potential outcomes (mu0_hat, mu1_hat) with the truth the dataset
carries: the noiseless surfaces mu0, mu1 when known (IHDP, ACIC, synthetic designs), otherwise noisy potential
outcomes y0, y1 (e.g. Twins). They are computed by the runner from returned predictions, never inside an
estimator.

* ``pehe``: sqrt-PEHE, sqrt(mean((tau_hat - tau)^2)) with tau = mu1 - mu0 (Hill 2011; Shalit et al. 2017);
* ``ate``: absolute ATE error, |mean(tau_hat) - mean(tau)|;
* ``rmse_mu0`` / ``rmse_mu1``: root mean squared error of each predicted surface.

Each is reported on the fit rows (suffix ``_in``, "in-sample") and on the test rows (``_out``).

Distributional metrics (:data:`DIST_METRICS`), for estimators tagged ``generative``, from ``sample(X, n)`` draws of
Y(0) and Y(1) per unit. They need the dataset's noisy potential outcomes y0, y1 (IHDP, ACIC 2016, the synthetic
designs and Twins carry them; a dataset without them gets none); both arms of every scored unit are pooled:

* ``crps``: the continuous ranked probability score of the draws against y0 and y1 (lower is better; for a
  point forecast it is the absolute error), by the "fair" ensemble estimator
  mean_i |X_i - y| - sum_{i,j} |X_i - X_j| / (2 S (S - 1)), unbiased for the CRPS of the law the draws come
  from (Ferro 2014). It is the estimator ``scoringrules.crps_ensemble(..., estimator="fair")`` computes; that
  library is not used because it compiles numba kernels at import (5-10 s of CPU in every worker process);
  the tests check this code against the Gaussian closed form and a plain double loop;
* ``cov50`` / ``cov90``: share of y0, y1 inside the central 50 % / 90 % predictive interval, whose ends are the
  draws' quantiles by the Weibull rule (order statistic p (S + 1)), under which a fresh draw of the same law is
  inside with probability exactly 0.5 / 0.9 whatever the number of draws S. Read them as the distance to nominal,
  |cov90 - 0.9|: a too narrow (collapsed) law under-covers, a too wide one over-covers;
* ``width50`` / ``width90``: mean width of those intervals;
* ``w1``: mean per-unit Wasserstein-1 distance between the draws and the true conditional law
  N(mu_z(x), noise_sd^2), only where the dataset knows its noise law (``CausalData.noise_sd``: IHDP, synthetic
  designs). Computed exactly against the Gaussian; the empirical law of S draws is itself at a distance of about
  0.22 noise_sd from its own law at S = 32 (a floor no estimator goes below; it shrinks like 1 / sqrt(S)).

The runner draws :data:`N_DIST_SAMPLES` per unit and arm, on every test row and on at most
:data:`MAX_DIST_FIT_ROWS` fit rows (a seeded subsample: the multi-step diffusion teacher costs 99 network calls per
draw).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "sqrt_pehe", "ate_error", "rmse", "point_metrics", "METRICS", "metric_columns", "DIST_METRICS",
    "crps_draws", "interval", "w1_gaussian", "distribution_metrics", "score_distribution", "N_DIST_SAMPLES",
    "MAX_DIST_FIT_ROWS",
]

METRICS = ("pehe", "ate", "rmse_mu0", "rmse_mu1")
DIST_METRICS = ("crps", "cov50", "cov90", "width50", "width90", "w1")
#: Draws per unit and arm behind the distributional metrics.
N_DIST_SAMPLES = 32
#: The distributional metrics' in-sample rows: at most this many fit rows (seeded subsample).
MAX_DIST_FIT_ROWS = 128


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


# ---- distributional metrics ----------------------------------------------------------------------------------
def crps_draws(obs: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """CRPS of each row's draws against its observation, by the fair (unbiased) ensemble estimator.

    Uses sum_{i,j} |x_(i) - x_(j)| = 2 sum_k (2k - S - 1) x_(k) over the sorted draws (k = 1..S), so the cost is
    one sort per row.

    Parameters
    ----------
    obs : (n,) float array; draws : (n, S) float array, S >= 2

    Returns
    -------
    (n,) float array
    """
    x = np.sort(np.asarray(draws, dtype=float), axis=1)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"draws must have shape (n, S) with S >= 2; got {x.shape}.")
    s = x.shape[1]
    obs = np.asarray(obs, dtype=float).reshape(-1, 1)
    spread = 2.0 * (x * (2.0 * np.arange(1, s + 1) - s - 1)).sum(axis=1)
    return np.abs(x - obs).mean(axis=1) - spread / (2.0 * s * (s - 1))


def interval(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` predictive interval of each row's draws, ends by the Weibull quantile rule.

    Returns ``(lo, hi)``, each (n,). Needs S >= (1 + level) / (1 - level) - 1 draws so that both ends are
    inside the sample (19 for 90 %)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1); got {level!r}.")
    a = (1.0 - level) / 2.0
    s = draws.shape[1]
    if a * (s + 1) < 1.0:
        raise ValueError(f"a {level:.0%} interval by the Weibull rule needs at least {int(np.ceil(1 / a - 1e-9)) - 1} draws; "
                         f"got {s}.")
    lo, hi = np.quantile(draws, [a, 1.0 - a], axis=1, method="weibull")
    return lo, hi


def w1_gaussian(draws: np.ndarray, mu: np.ndarray, sd: float | np.ndarray) -> np.ndarray:
    """Exact Wasserstein-1 distance between each row's empirical law and N(mu, sd^2).

    W1 = int_0^1 |Q_n(u) - Q(u)| du with Q_n the empirical quantile function (the k-th order statistic on
    ((k-1)/S, k/S]) and Q(u) = mu + sd Phi^{-1}(u), whose antiderivative is H(u) = mu u - sd phi(Phi^{-1}(u)).

    Parameters
    ----------
    draws : (n, S) float array; mu : (n,) float array; sd : float or (n,) float array, > 0

    Returns
    -------
    (n,) float array
    """
    from scipy.stats import norm

    x = np.sort(np.asarray(draws, dtype=float), axis=1)
    n, s = x.shape
    mu = np.asarray(mu, dtype=float).reshape(n, 1)
    sd = np.broadcast_to(np.asarray(sd, dtype=float), (n,)).reshape(n, 1)
    if np.any(sd <= 0):
        raise ValueError("w1_gaussian needs a positive noise sd.")
    a = np.arange(s) / s
    b = (np.arange(s) + 1) / s

    def H(u):
        return mu * u - sd * norm.pdf(norm.ppf(u))

    u_star = np.clip(norm.cdf((x - mu) / sd), a, b)
    below = x * (u_star - a) - (H(u_star) - H(a))  # Q(u) <= x on (a, u*)
    above = (H(b) - H(u_star)) - x * (b - u_star)  # Q(u) >= x on (u*, b)
    return (below + above).sum(axis=1)


def distribution_metrics(obs0: np.ndarray, obs1: np.ndarray, draws0: np.ndarray, draws1: np.ndarray,
                         mu0: np.ndarray | None = None, mu1: np.ndarray | None = None,
                         noise_sd: float | np.ndarray | None = None) -> dict[str, float]:
    """:data:`DIST_METRICS` for one set of rows, both arms pooled (``w1`` only when ``noise_sd`` and mu given).

    Parameters
    ----------
    obs0, obs1 : (n,) noisy potential outcomes; draws0, draws1 : (n, S) draws of Y(0), Y(1)
    mu0, mu1 : (n,) noiseless surfaces or None; noise_sd : float, (n,) array or None
    """
    obs = np.concatenate([obs0, obs1])
    draws = np.concatenate([draws0, draws1])
    out = {"crps": float(np.mean(crps_draws(obs, draws)))}
    for level, tag in ((0.5, "50"), (0.9, "90")):
        lo, hi = interval(draws, level)
        out[f"cov{tag}"] = float(np.mean((lo <= obs) & (obs <= hi)))
        out[f"width{tag}"] = float(np.mean(hi - lo))
    if noise_sd is not None and mu0 is not None:
        sd = np.broadcast_to(np.asarray(noise_sd, dtype=float), np.shape(obs0))
        out["w1"] = float(np.mean(w1_gaussian(draws, np.concatenate([mu0, mu1]), np.concatenate([sd, sd]))))
    return out


def score_distribution(data, draws0: np.ndarray, draws1: np.ndarray, fit_rows: np.ndarray,
                       test_rows: np.ndarray) -> dict[str, float]:
    """In-sample (``_in``, on ``fit_rows``) and out-of-sample (``_out``) distributional metrics of one task.

    ``data`` is the replication's :class:`~catebench.datasets.base.CausalData` (needs y0, y1); the draws are
    (n_rows, S) arrays whose rows are ``fit_rows`` followed by ``test_rows``.
    """
    out: dict[str, float] = {}
    k = len(fit_rows)
    noise = getattr(data, "noise_sd", None)
    for suffix, idx, sl in (("in", fit_rows, slice(0, k)), ("out", test_rows, slice(k, None))):
        mu0 = None if data.mu0 is None else data.mu0[idx]
        mu1 = None if data.mu1 is None else data.mu1[idx]
        sd = None if noise is None else (noise if np.ndim(noise) == 0 else np.asarray(noise)[idx])
        m = distribution_metrics(data.y0[idx], data.y1[idx], draws0[sl], draws1[sl], mu0, mu1, sd)
        out.update({f"{name}_{suffix}": v for name, v in m.items()})
    return out
