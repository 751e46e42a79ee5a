"""Meta-learners (S, T, X, R, DR) from causalml, and linear T/S-learners.

All learners return potential outcomes. The S- and T-learners model mu_0 and mu_1 directly. The X-, R- and
DR-learners model the effect tau(x) only; for them catebench also fits an outcome regression m(x) = E[Y | x] and
a propensity model e(x) = P(T = 1 | x) on the same training rows, and returns the unique pair consistent with
both, since m(x) = mu_0(x) + e(x) tau(x):

    mu_0(x) = m(x) - e(x) tau(x),    mu_1(x) = m(x) + (1 - e(x)) tau(x).

The CATE is therefore exactly the learner's own tau(x).

Base learners (``base_learner``):

* ``"hgb"`` (default): :class:`sklearn.ensemble.HistGradientBoostingRegressor` with scikit-learn's defaults
  (100 iterations, learning rate 0.1, 31 leaves, min 20 samples per leaf) and early stopping off;
* ``"rf"``: :class:`sklearn.ensemble.RandomForestRegressor`, 200 trees, min 5 samples per leaf;
* ``"linear"``: ordinary least squares (:class:`sklearn.linear_model.LinearRegression`).

``base_params`` (default ``None``) overrides settings of the hgb or rf base learner, e.g.
``{"learning_rate": 0.05, "max_leaf_nodes": 15}``; tuned runs choose them from :meth:`MetaLearner.search_space`.

The propensity model is an L2-regularised logistic regression (C = 1) on standardised covariates, with
predictions clipped to [``propensity_clip``, 1 - ``propensity_clip``]. Every nuisance model is seeded from
``random_state``. Defaults, how they were chosen and the evidence: ``docs/methods/meta-learners.md``.
"""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from causalml.inference.meta import BaseDRRegressor, BaseRRegressor, BaseSRegressor, BaseTRegressor, BaseXRegressor
from sklearn.linear_model import LinearRegression

from ._nuisance import clipped_propensity, make_propensity_model, outcomes_from_effect
from .base import CATEEstimator, Tags, seed_from

__all__ = ["MetaLearner", "make_base_learner"]

BASE_LEARNERS = ("hgb", "rf", "linear")
KINDS = ("s", "t", "x", "r", "dr")


def make_base_learner(name: str, seed: int, params: dict | None = None):
    """A fresh, seeded scikit-learn regressor named by ``name`` (one of ``"hgb"``, ``"rf"``, ``"linear"``).

    ``params`` overrides the hgb / rf settings (keyword arguments of the scikit-learn class); ignored for
    ``"linear"``."""
    params = dict(params or {})
    if name == "hgb":
        return HistGradientBoostingRegressor(**{"early_stopping": False, **params, "random_state": seed})
    if name == "rf":
        return RandomForestRegressor(**{"n_estimators": 200, "min_samples_leaf": 5, **params, "n_jobs": 1,
                                        "random_state": seed})  # fmt: skip
    if name == "linear":
        return LinearRegression()
    raise ValueError(f"base_learner must be one of {BASE_LEARNERS}; got {name!r}.")


class MetaLearner(CATEEstimator):
    """A causalml meta-learner returning potential outcomes.

    Parameters
    ----------
    kind : {"s", "t", "x", "r", "dr"}, default "t"
        Which meta-learner (Kuenzel et al. 2019 for S/T/X; Nie & Wager 2021 for R; Kennedy 2023 for DR).
    base_learner : {"hgb", "rf", "linear"}, default "hgb"
        Regressor used for every outcome and effect model (see the module docstring).
    propensity_clip : float, default 0.01
        Propensity predictions are clipped to [clip, 1 - clip].
    n_fold : int, default 5
        Cross-fitting folds of the R-learner's outcome model.
    base_params : dict or None, default None
        Settings of the hgb / rf base learner overriding the defaults above (ignored for ``"linear"``).
    random_state : int or None, default None
        Seeds every nuisance model.
    """

    def __init__(self, kind="t", base_learner="hgb", propensity_clip=0.01, n_fold=5, base_params=None,
                 random_state=None):
        self.kind = kind
        self.base_learner = base_learner
        self.propensity_clip = propensity_clip
        self.n_fold = n_fold
        self.base_params = base_params
        self.random_state = random_state

    def catebench_tags(self) -> Tags:
        return Tags(uses_propensity=self.kind in ("x", "r", "dr"))

    @classmethod
    def test_params(cls):
        return {"base_learner": "linear"}

    @classmethod
    def search_space(cls, params=None):
        """Base-learner settings (and the propensity clip for the X-, R- and DR-learners) for tuned runs.

        hgb: ``learning_rate`` in {0.03, 0.1, 0.3} x ``max_leaf_nodes`` in {7, 15, 31} x ``min_samples_leaf`` in
        {5, 20, 50} x ``l2_regularization`` in {0, 1}; rf: ``min_samples_leaf`` in {1, 5, 10, 20} x
        ``max_features`` in {1.0, 0.5, 0.33}. Grids span scikit-learn's defaults by about a factor 3 each way
        (chosen a priori, not on any test rows). Propensity clip in {0.01, 0.05, 0.1}: the R-learner's instability
        on IHDP comes from propensities near the clip. The linear base learner has nothing to tune: the linear S-
        and T-learners get ``None`` (a tuned run fits the defaults only)."""
        import itertools

        p = {**{"kind": "t", "base_learner": "hgb"}, **(params or {})}
        space: dict = {}
        if p["base_learner"] == "hgb":
            grid = itertools.product((0.03, 0.1, 0.3), (7, 15, 31), (5, 20, 50), (0.0, 1.0))
            space["base_params"] = [{"learning_rate": a, "max_leaf_nodes": b, "min_samples_leaf": c,
                                     "l2_regularization": d} for a, b, c, d in grid]  # fmt: skip
        elif p["base_learner"] == "rf":
            grid = itertools.product((1, 5, 10, 20), (1.0, 0.5, 0.33))
            space["base_params"] = [{"min_samples_leaf": a, "max_features": b} for a, b in grid]
        if p["kind"] in ("x", "r", "dr"):
            space["propensity_clip"] = [0.01, 0.05, 0.1]
        return space or None

    # ------------------------------------------------------------------------------------------------------
    def _learner(self, salt: int):
        return make_base_learner(self.base_learner, seed_from(self.random_state, salt), self.base_params)

    def _propensity(self, X: np.ndarray) -> np.ndarray:
        return clipped_propensity(self.propensity_model_, X, self.propensity_clip)

    def _fit(self, X, t, y):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {self.kind!r}.")
        if self.base_learner not in BASE_LEARNERS:
            raise ValueError(f"base_learner must be one of {BASE_LEARNERS}; got {self.base_learner!r}.")
        if not 0 <= self.propensity_clip < 0.5:
            raise ValueError(f"propensity_clip must be in [0, 0.5); got {self.propensity_clip!r}.")
        treatment = t.astype(int)
        if self.kind == "s":
            model = BaseSRegressor(learner=self._learner(1))
            model.fit(X, treatment=treatment, y=y)
        elif self.kind == "t":
            model = BaseTRegressor(learner=self._learner(1))
            model.fit(X, treatment=treatment, y=y)
        else:
            self.propensity_model_ = make_propensity_model().fit(X, treatment)
            p = self._propensity(X)
            self.outcome_model_ = self._learner(2).fit(X, y)
            if self.kind == "x":
                model = BaseXRegressor(learner=self._learner(3))
                model.fit(X, treatment=treatment, y=y, p=p)
            elif self.kind == "r":
                model = BaseRRegressor(
                    learner=self._learner(4),
                    n_fold=self.n_fold,
                    random_state=seed_from(self.random_state, 5),
                )
                model.cv_n_jobs = 1  # causalml's default (-1) would start processes inside a worker
                model.fit(X, treatment=treatment, y=y, p=p, verbose=False)
            else:
                model = BaseDRRegressor(learner=self._learner(6))
                model.fit(X, treatment=treatment, y=y, p=p, seed=seed_from(self.random_state, 7))
        self.model_ = model

    def _predict(self, X):
        if self.kind in ("s", "t"):
            _, yhat_c, yhat_t = self.model_.predict(X, return_components=True, verbose=False)
            return np.ravel(yhat_c[1]), np.ravel(yhat_t[1])
        p = self._propensity(X)
        if self.kind == "x":
            tau = self.model_.predict(X, p=p)
        else:
            tau = self.model_.predict(X)
        return outcomes_from_effect(self.outcome_model_.predict(X), p, tau)
