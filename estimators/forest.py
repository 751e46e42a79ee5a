"""Causal forest (Wager & Athey 2018; Athey, Tibshirani & Wager 2019) via econml's ``CausalForestDML``.

The forest estimates tau(x) after residualising Y and T on X with cross-fitted nuisance models. Potential
outcomes come from the same construction as the tau-only meta-learners (see :mod:`catebench.estimators.meta`):
mu_0 = m - e tau and mu_1 = m + (1 - e) tau, where m(x) and e(x) are separately fitted outcome and propensity
models (gradient boosting and logistic regression), all seeded from ``random_state``. Defaults, how they were
chosen and the evidence: ``docs/methods/causal-forest.md``.
"""

from __future__ import annotations

from econml.dml import CausalForestDML
from sklearn.ensemble import HistGradientBoostingRegressor

from ._nuisance import clipped_propensity, make_propensity_model, outcomes_from_effect
from .base import CATEEstimator, Tags, seed_from

__all__ = ["CausalForest"]


class CausalForest(CATEEstimator):
    """econml ``CausalForestDML`` returning potential outcomes.

    Parameters
    ----------
    n_estimators : int, default 200
        Trees in the causal forest (a multiple of 4, econml's subforest size).
    min_samples_leaf : int, default 5
    cv : int, default 3
        Cross-fitting folds for the nuisance models.
    propensity_clip : float, default 0.01
    random_state : int or None
    """

    _tags = Tags(uses_propensity=True)

    def __init__(self, n_estimators=200, min_samples_leaf=5, cv=3, propensity_clip=0.01, random_state=None):
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.cv = cv
        self.propensity_clip = propensity_clip
        self.random_state = random_state

    @classmethod
    def test_params(cls):
        return {"n_estimators": 40, "cv": 2}

    @classmethod
    def search_space(cls, params=None):
        """Grid for tuned runs: leaf size in {1, 3, 5, 10, 20} (econml's default 5 in the middle), trees in
        {100, 200, 400}, propensity clip in {0.01, 0.05, 0.1}. Chosen a priori around the defaults."""
        return {"min_samples_leaf": [1, 3, 5, 10, 20], "n_estimators": [100, 200, 400],
                "propensity_clip": [0.01, 0.05, 0.1]}  # fmt: skip

    def _fit(self, X, t, y):
        seed = seed_from(self.random_state)
        model = CausalForestDML(
            model_y=HistGradientBoostingRegressor(early_stopping=False, random_state=seed_from(seed, 1)),
            model_t=make_propensity_model(),
            discrete_treatment=True,
            n_estimators=self.n_estimators,
            min_samples_leaf=self.min_samples_leaf,
            cv=self.cv,
            n_jobs=1,
            random_state=seed_from(seed, 2),
        )
        model.fit(y, t.astype(int), X=X)
        self.model_ = model
        self.outcome_model_ = HistGradientBoostingRegressor(early_stopping=False, random_state=seed_from(seed, 3))
        self.outcome_model_.fit(X, y)
        self.propensity_model_ = make_propensity_model().fit(X, t.astype(int))

    def _predict(self, X):
        e = clipped_propensity(self.propensity_model_, X, self.propensity_clip)
        return outcomes_from_effect(self.outcome_model_.predict(X), e, self.model_.effect(X))
