"""Nuisance models shared by the effect-only learners (X, R, DR, causal forest)."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

__all__ = ["make_propensity_model", "clipped_propensity", "outcomes_from_effect"]


def make_propensity_model():
    """L2-regularised logistic regression (C = 1) on standardised covariates."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))


def clipped_propensity(model, X: np.ndarray, clip: float) -> np.ndarray:
    """P(T = 1 | x) from a fitted classifier, clipped to [clip, 1 - clip]."""
    return np.clip(model.predict_proba(X)[:, 1], clip, 1 - clip)


def outcomes_from_effect(m: np.ndarray, e: np.ndarray, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The potential outcomes consistent with m(x) = E[Y | x], e(x) and tau(x):
    mu_0 = m - e tau, mu_1 = m + (1 - e) tau."""
    tau = np.ravel(tau)
    return m - e * tau, m + (1 - e) * tau
