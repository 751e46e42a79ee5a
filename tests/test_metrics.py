"""Metrics against plain-loop reference implementations."""

from __future__ import annotations

import math

import numpy as np

from catebench.benchmark.metrics import ate_error, metric_columns, point_metrics, score, sqrt_pehe


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


# ---- distributional metrics against closed forms ---------------------------------------------------------------
def _gauss_crps(y, mu, sd):
    """Closed-form CRPS of N(mu, sd^2) at y (Gneiting & Raftery 2007)."""
    from scipy.stats import norm

    z = (y - mu) / sd
    return sd * (z * (2 * norm.cdf(z) - 1) + 2 * norm.pdf(z) - 1 / np.sqrt(np.pi))


def _quantile_draws(mu, sd, s):
    """s draws per row at the stratified quantiles of N(mu, sd^2): an almost exact ensemble of the law."""
    from scipy.stats import norm

    return mu[:, None] + sd * norm.ppf((np.arange(s) + 0.5) / s)[None, :]


def test_crps_matches_the_gaussian_closed_form():
    from catebench.benchmark.metrics import crps_draws

    rng = np.random.default_rng(1)
    y, mu = rng.normal(size=40) * 2, rng.normal(size=40)
    got = crps_draws(y, _quantile_draws(mu, 0.7, 4000))
    np.testing.assert_allclose(got, _gauss_crps(y, mu, 0.7), atol=2e-3)
    # random draws: the fair estimator is unbiased, so the mean over many rows matches too
    big = np.repeat(np.arange(40), 200)
    draws = mu[big, None] + 0.7 * rng.normal(size=(8000, 20))
    assert abs(crps_draws(y[big], draws).mean() - _gauss_crps(y, mu, 0.7).mean()) < 0.01


def test_crps_matches_a_double_loop():
    from catebench.benchmark.metrics import crps_draws

    rng = np.random.default_rng(5)
    y, d = rng.normal(size=4), rng.normal(size=(4, 7))
    for i in range(4):
        s = len(d[i])
        naive = sum(abs(a - y[i]) for a in d[i]) / s - sum(abs(a - b) for a in d[i] for b in d[i]) / (2 * s * (s - 1))
        assert math.isclose(crps_draws(y[i:i + 1], d[i:i + 1])[0], naive, rel_tol=1e-12)
    # a point forecast (all draws equal) scores its absolute error
    assert math.isclose(crps_draws(np.array([1.0]), np.full((1, 5), 3.0))[0], 2.0)


def test_interval_coverage_matches_nominal_for_a_calibrated_sampler():
    from catebench.benchmark.metrics import distribution_metrics

    rng = np.random.default_rng(2)
    n, s = 10000, 32
    mu0, mu1 = rng.normal(size=n), rng.normal(size=n) + 1
    y0, y1 = mu0 + rng.normal(size=n), mu1 + rng.normal(size=n)
    d0, d1 = mu0[:, None] + rng.normal(size=(n, s)), mu1[:, None] + rng.normal(size=(n, s))
    m = distribution_metrics(y0, y1, d0, d1, mu0, mu1, 1.0)
    # Weibull-rule ends: a fresh draw is inside with probability 0.5 / 0.9 (exactly at integer positions;
    # within about 0.01 with interpolation), whatever s; the plain "linear" rule gives 0.85 at s = 32
    assert abs(m["cov50"] - 0.5) < 0.015 and abs(m["cov90"] - 0.9) < 0.015
    # widths near the Gaussian's 2 * 0.674 and 2 * 1.645 (slightly wider from the finite sample)
    assert 1.30 < m["width50"] < 1.45 and 3.2 < m["width90"] < 3.7
    # W1 of 32 draws to their own law: the finite-sample floor, about 0.22
    assert 0.18 < m["w1"] < 0.26


def test_collapsed_sampler_scores_worse_than_a_calibrated_one():
    from catebench.benchmark.metrics import distribution_metrics

    rng = np.random.default_rng(3)
    n, s = 2000, 32
    mu0, mu1 = rng.normal(size=n), rng.normal(size=n) + 1
    y0, y1 = mu0 + rng.normal(size=n), mu1 + rng.normal(size=n)
    good = distribution_metrics(y0, y1, mu0[:, None] + rng.normal(size=(n, s)),
                                mu1[:, None] + rng.normal(size=(n, s)), mu0, mu1, 1.0)
    narrow = distribution_metrics(y0, y1, mu0[:, None] + 0.15 * rng.normal(size=(n, s)),
                                  mu1[:, None] + 0.15 * rng.normal(size=(n, s)), mu0, mu1, 1.0)
    assert abs(narrow["cov90"] - 0.9) > 0.5 > abs(good["cov90"] - 0.9)
    assert narrow["crps"] > good["crps"] + 0.1
    assert narrow["w1"] > good["w1"] + 0.3
    assert narrow["width90"] < good["width90"] / 4


def test_w1_gaussian_is_exact():
    from scipy.stats import norm, wasserstein_distance

    from catebench.benchmark.metrics import w1_gaussian

    rng = np.random.default_rng(4)
    d, mu = rng.normal(size=(3, 15)) * 2, np.array([0.0, 1.0, -3.0])
    grid = norm.ppf((np.arange(400000) + 0.5) / 400000)
    ref = [wasserstein_distance(d[i], mu[i] + 0.5 * grid) for i in range(3)]
    np.testing.assert_allclose(w1_gaussian(d, mu, 0.5), ref, rtol=1e-4)
    # a point mass at the mean: W1 = sd * E|Z| = sd * sqrt(2 / pi)
    np.testing.assert_allclose(w1_gaussian(np.zeros((1, 1)), np.zeros(1), 2.0), 2 * np.sqrt(2 / np.pi))


def test_interval_needs_enough_draws():
    import pytest

    from catebench.benchmark.metrics import interval

    with pytest.raises(ValueError, match="at least 19 draws"):
        interval(np.zeros((2, 10)), 0.9)


def test_runner_scores_predictive_distributions_of_generative_estimators(tmp_path):
    """The runner stores the distributional metrics (and diagnostics) for a generative estimator only."""
    from catebench.benchmark.config import config_from_dict
    from catebench.benchmark.runner import run
    from catebench.benchmark.store import Store
    from catebench.estimators.iwdd import DiffusionTeacher

    raw = {
        "name": "dist", "store": str(tmp_path / "s.sqlite"), "executor": "inline",
        "datasets": [{"name": "synthetic", "replications": 1, "params": {"n": 300, "d": 3}}],
        "estimators": [{"name": "diffusion-teacher", "params": DiffusionTeacher.test_params()},
                       {"name": "t-learner-linear"}],
    }  # fmt: skip
    run(config_from_dict(raw), progress=False)
    df = Store(tmp_path / "s.sqlite").results().set_index("estimator")
    assert (df.status == "ok").all()
    gen, lin = df.loc["diffusion-teacher"], df.loc["t-learner-linear"]
    for side in ("in", "out"):
        for m in ("crps", "cov50", "cov90", "width50", "width90", "w1"):
            assert np.isfinite(gen[f"{m}_{side}"]), f"{m}_{side}"
            assert np.isnan(lin[f"{m}_{side}"])
        assert 0 <= gen[f"cov50_{side}"] <= gen[f"cov90_{side}"] <= 1
    assert gen["sample_seconds"] > 0 and gen["diag_teacher_best_step"] >= 25
