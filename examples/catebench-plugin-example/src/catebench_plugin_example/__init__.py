"""An example catebench plugin: a T-learner with k-nearest-neighbour outcome models.

It follows the plugin contract (``docs/plugins.md`` in catebench) and imports only catebench's public modules
(``catebench.estimators.base``; ``catebench.estimators.seeding`` would give the seeding helpers if the model were random).
"""

from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from catebench.estimators.base import CATEEstimator, Tags

__all__ = ["KNNTLearner"]


class KNNTLearner(CATEEstimator):
    """T-learner with k-NN regressors on standardised covariates (one per arm).

    Parameters
    ----------
    n_neighbors : int, default 10
    random_state : int or None
        Unused (k-NN is deterministic) but part of the contract.
    """

    _tags = Tags()  # not generative, no propensity model, no torch, no validation split

    def __init__(self, n_neighbors=10, random_state=None):
        self.n_neighbors = n_neighbors
        self.random_state = random_state

    @classmethod
    def test_params(cls):
        """Settings for ``catebench check`` and conformance tests (k-NN is cheap: the defaults)."""
        return {}

    def _fit(self, X, t, y):
        self.models_ = []
        for arm in (0, 1):
            rows = t == arm
            k = min(self.n_neighbors, int(rows.sum()))
            model = make_pipeline(StandardScaler(), KNeighborsRegressor(n_neighbors=k))
            self.models_.append(model.fit(X[rows], y[rows]))

    def _predict(self, X):
        return self.models_[0].predict(X), self.models_[1].predict(X)
