"""The estimator contract every catebench estimator follows.

An estimator learns the two potential-outcome surfaces mu_0(x) = E[Y(0) | x] and mu_1(x) = E[Y(1) | x] from
observational data (X, t, y). The individual effect (CATE) and the average effect (ATE) are derived from them.

Conventions (those of scikit-learn):

* ``__init__`` stores its keyword arguments verbatim and does nothing else, so ``get_params`` / ``set_params`` /
  :func:`sklearn.base.clone` work;
* :meth:`CATEEstimator.fit` returns ``self``; learned state ends in ``_``;
* a ``random_state`` parameter (int or None) drives all randomness; no global random state is read or changed;
* capabilities are declared as tags (:class:`Tags`), not by subclass checks.

Subclasses implement ``_fit`` and ``_predict`` (and ``_sample`` when generative); the public methods validate
inputs and outputs around them, in the style of EconML's template ``fit``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

__all__ = [
    "CATEEstimator",
    "Tags",
    "NotFittedError",
    "validate_X",
    "validate_fit_inputs",
    "check_predictions",
    "seed_from",
]


class NotFittedError(RuntimeError):
    """Raised when ``predict`` or ``sample`` is called before ``fit``."""


@dataclasses.dataclass(frozen=True)
class Tags:
    """Capabilities of an estimator.

    Attributes
    ----------
    generative : bool
        Offers ``sample(X, n_samples)`` returning draws of Y(0), Y(1).
    uses_propensity : bool
        Fits or uses a propensity model.
    torch : bool
        Built on torch; accepts a ``device`` parameter.
    uses_validation : bool
        Holds out part of its training rows (``validation_fraction``) for early stopping or selection.
    """

    generative: bool = False
    uses_propensity: bool = False
    torch: bool = False
    uses_validation: bool = False


def _as_float_matrix(X: Any, name: str = "X") -> np.ndarray:
    try:
        arr = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric; could not convert to a float array: {exc}") from None
    return arr


def validate_X(X: Any, n_features: int | None = None) -> np.ndarray:
    """Return X as a finite (n, d) float array or raise a ``ValueError`` that names the problem.

    Parameters
    ----------
    X : array-like of shape (n, d)
    n_features : int, optional
        The number of columns seen in ``fit``; checked when given.
    """
    arr = _as_float_matrix(X)
    if arr.ndim != 2:
        raise ValueError(
            f"X must be a 2-D array of shape (n_samples, n_features); got {arr.ndim}-D shape {arr.shape}. "
            "Reshape a single feature with X.reshape(-1, 1)."
        )
    if arr.shape[0] == 0:
        raise ValueError("X has no rows (shape %s)." % (arr.shape,))
    if arr.shape[1] == 0:
        raise ValueError("X has no columns (shape %s)." % (arr.shape,))
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise ValueError(
            f"X contains {int(bad.sum())} non-finite value(s) (NaN or inf); first at row {r}, column {c}: "
            f"{arr[r, c]!r}. Impute or drop them before fitting."
        )
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"X has {arr.shape[1]} features, but the estimator was fitted with {n_features}.")
    return arr


def validate_fit_inputs(X: Any, t: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the training data and return ``(X, t, y)`` as float arrays; t holds 0.0 / 1.0.

    Raises ``ValueError`` naming the bad value for: NaN/inf in X or y, treatment not in {0, 1}, a missing arm,
    mismatched lengths, X not 2-D, t or y not 1-D.
    """
    X = validate_X(X)
    t_arr = np.asarray(t)
    y_arr = _as_float_matrix(y, "y")
    for name, arr in (("t", t_arr), ("y", y_arr)):
        if arr.ndim == 2 and arr.shape[1] == 1:
            raise ValueError(f"{name} must be 1-D of shape (n_samples,); got shape {arr.shape}. Use .ravel().")
        if arr.ndim != 1:
            raise ValueError(f"{name} must be 1-D of shape (n_samples,); got shape {arr.shape}.")
    if not (len(X) == len(t_arr) == len(y_arr)):
        raise ValueError(
            f"X, t and y must have the same number of rows; got X: {len(X)}, t: {len(t_arr)}, y: {len(y_arr)}."
        )
    try:
        t_float = t_arr.astype(float)
    except (TypeError, ValueError):
        raise ValueError(f"t must be binary (0/1); got values such as {t_arr[:3].tolist()!r}.") from None
    bad_t = ~np.isin(t_float, (0.0, 1.0))
    if bad_t.any():
        i = int(np.flatnonzero(bad_t)[0])
        raise ValueError(
            f"t must be binary with values in {{0, 1}}; found {t_arr[i]!r} at row {i} "
            f"({int(bad_t.sum())} non-binary value(s) in all)."
        )
    n1 = int(t_float.sum())
    if n1 == 0 or n1 == len(t_float):
        arm = "treated (t=1)" if n1 == 0 else "control (t=0)"
        raise ValueError(f"t has no {arm} units; both arms are needed to estimate treatment effects.")
    bad_y = ~np.isfinite(y_arr)
    if bad_y.any():
        i = int(np.flatnonzero(bad_y)[0])
        raise ValueError(f"y contains {int(bad_y.sum())} non-finite value(s); first at row {i}: {y_arr[i]!r}.")
    return X, t_float, y_arr


def _feature_names(X: Any) -> np.ndarray | None:
    """Column names of a DataFrame-like X when they are all strings (as scikit-learn's ``feature_names_in_``)."""
    columns = getattr(X, "columns", None)
    if columns is None or not hasattr(X, "iloc"):
        return None
    names = np.asarray(list(columns), dtype=object)
    if len(names) == 0 or not all(isinstance(c, str) for c in names):
        return None
    return names


def check_predictions(mu0: Any, mu1: Any, n: int, who: str = "estimator") -> tuple[np.ndarray, np.ndarray]:
    """Check that predictions are two finite (n,) arrays; raise ``ValueError`` naming the problem."""
    out = []
    for name, arr in (("mu0_hat", mu0), ("mu1_hat", mu1)):
        a = np.asarray(arr, dtype=float)
        if a.shape != (n,):
            raise ValueError(f"{who} returned {name} of shape {a.shape}; expected ({n},).")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{who} returned {int((~np.isfinite(a)).sum())} non-finite value(s) in {name}.")
        out.append(a)
    return out[0], out[1]


def seed_from(random_state: int | None, *salt: int) -> int:
    """A 32-bit seed derived from ``random_state`` and optional integer salt, for seeding sub-models.

    ``None`` draws fresh OS entropy (non-reproducible, as in scikit-learn)."""
    if random_state is None:
        return int(np.random.SeedSequence().generate_state(1)[0])
    if isinstance(random_state, (np.integer, int)) and not isinstance(random_state, bool):
        return int(np.random.SeedSequence([int(random_state), *salt]).generate_state(1)[0])
    raise ValueError(f"random_state must be an int or None; got {random_state!r}.")


class CATEEstimator(BaseEstimator):
    """Abstract base of every catebench estimator.

    Subclasses define ``__init__`` (keyword arguments stored verbatim, including ``random_state``), ``_fit`` and
    ``_predict``, and set ``_tags`` (or override ``catebench_tags``). Generative estimators also define ``_sample``.
    """

    _tags: ClassVar[Tags] = Tags()

    def catebench_tags(self) -> Tags:
        """This estimator's capabilities; override when they depend on parameters."""
        return self._tags

    # ---- public API -------------------------------------------------------------------------------------
    def fit(self, X: Any, t: Any, y: Any) -> "CATEEstimator":
        """Fit on covariates X (n, d), binary treatment t (n,) and factual outcome y (n,). Returns self.

        When X is a pandas DataFrame whose column names are all strings, they are kept as ``feature_names_in_``
        (as in scikit-learn) and ``predict`` / ``sample`` check the columns of a DataFrame they get against them.
        """
        names = _feature_names(X)
        X, t, y = validate_fit_inputs(X, t, y)
        self._fit(X, t, y)
        self.n_features_in_ = X.shape[1]
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_  # refitted on an array: the old names no longer apply
        return self

    def predict(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Estimated potential outcomes.

        Returns
        -------
        mu0_hat, mu1_hat : (n,) float arrays
        """
        X = validate_X(self._check_feature_names(X), self._fitted_features())
        mu0, mu1 = self._predict(X)
        return check_predictions(mu0, mu1, len(X), type(self).__name__)

    def effect(self, X: Any) -> np.ndarray:
        """Estimated CATE tau_hat(x) = mu1_hat(x) - mu0_hat(x), a (n,) float array."""
        mu0, mu1 = self.predict(X)
        return mu1 - mu0

    def ate(self, X: Any) -> float:
        """Estimated average treatment effect over the rows of X."""
        return float(np.mean(self.effect(X)))

    def sample(self, X: Any, n_samples: int = 100) -> tuple[np.ndarray, np.ndarray]:
        """Draws of Y(0), Y(1) given x, each of shape (n, n_samples). Generative estimators only."""
        if not self.catebench_tags().generative:
            raise NotImplementedError(f"{type(self).__name__} is not generative (its tags say generative=False).")
        if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive integer; got {n_samples!r}.")
        X = validate_X(self._check_feature_names(X), self._fitted_features())
        y0, y1 = self._sample(X, int(n_samples))
        y0, y1 = np.asarray(y0, dtype=float), np.asarray(y1, dtype=float)
        for name, a in (("Y(0)", y0), ("Y(1)", y1)):
            if a.shape != (len(X), n_samples):
                raise ValueError(f"{type(self).__name__}.sample returned {name} of shape {a.shape}.")
        return y0, y1

    # ---- to implement -----------------------------------------------------------------------------------
    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _sample(self, X: np.ndarray, n_samples: int) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    # ---- helpers ----------------------------------------------------------------------------------------
    def _check_feature_names(self, X: Any) -> Any:
        """Refuse a DataFrame whose columns differ from (or are reordered against) those seen in ``fit``.

        A DataFrame with the same columns in another order would otherwise be read by position and give other
        predictions silently. Arrays and frames without string column names are read by position.
        """
        fitted = getattr(self, "feature_names_in_", None)
        names = _feature_names(X)
        if fitted is None or names is None or np.array_equal(names, fitted):
            return X
        missing = [c for c in fitted if c not in set(names)]
        unexpected = [c for c in names if c not in set(fitted)]
        if missing or unexpected:
            raise ValueError(
                f"X has other columns than in fit: missing {missing}, unexpected {unexpected}. Pass the columns "
                f"{list(fitted)}."
            )
        raise ValueError(
            f"X has the columns of fit in another order ({list(names)}; fit saw {list(fitted)}). Reorder them, "
            f"e.g. X[est.feature_names_in_], or pass an array."
        )

    def _fitted_features(self) -> int:
        n = getattr(self, "n_features_in_", None)
        if n is None:
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(X, t, y) first.")
        return n

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        """Small parameter values for fast conformance tests (few epochs, few trees). Override as needed."""
        return {}

    @classmethod
    def search_space(cls, params: dict[str, Any] | None = None) -> dict[str, list[Any]] | None:
        """The hyperparameters a tuned run (``catebench run CONFIG --tune BUDGET``) may choose from.

        Parameters
        ----------
        params : dict, optional
            The estimator's fixed parameters (its registered defaults plus config overrides), so that a space can
            depend on them (e.g. CFR's IPM weight only when an IPM is used).

        Returns
        -------
        dict or None
            ``{parameter name: list of candidate values}``: a small discrete grid, JSON-encodable values (it is
            part of the tuned task's key). :mod:`catebench.benchmark.tuning` draws ``budget - 1`` distinct grid points at
            random (seeded), beside candidate 0 = the defaults. ``None`` (this default) or ``{}``: nothing to
            tune; a tuned run then fits the defaults only. Document in the override how the grid was chosen.
        """
        return None
