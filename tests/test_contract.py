"""The estimator contract, input validation and the conformance suite itself."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.registry import ESTIMATORS
from estimators.base import CATEEstimator, NotFittedError, validate_fit_inputs
from estimators.checks import CHECKS, check_estimator, iter_checks, tiny_data


def _builtin_instances():
    for entry in ESTIMATORS.entries():
        if entry.source != "built-in":
            continue
        cls = entry.load()
        params = {**entry.params, **cls.test_params()}
        yield pytest.param(entry.create(**params), id=entry.name)


def _cases():
    for p in _builtin_instances():
        est = p.values[0]
        for check in iter_checks(est):
            yield pytest.param(check, id=f"{p.id}-{check.__name__}")


@pytest.mark.parametrize("check", list(_cases()))
def test_builtin_estimators_conform(check):
    check()


def test_every_builtin_is_checked():
    names = [p.id for p in _builtin_instances()]
    assert {"t-learner-linear", "causal-forest", "x-learner", "r-learner", "dr-learner", "s-learner"} <= set(names)


X, T, Y, MU0, MU1 = tiny_data()


@pytest.mark.parametrize(
    "args, words",
    [
        ((X[:, 0], T, Y), "2-D"),
        ((np.where(X > 2, np.nan, X), T, Y), "non-finite"),
        ((np.where(X > 2, np.inf, X), T, Y), "non-finite"),
        ((X, np.where(T == 1, 2, T), Y), "binary"),
        ((X, np.full_like(T, 0.5), Y), "binary"),
        ((X, np.zeros_like(T), Y), "treated"),
        ((X, np.ones_like(T), Y), "control"),
        ((X, T[:-3], Y), "same number of rows"),
        ((X, T, Y.reshape(-1, 1)), "1-D"),
        ((X, T, np.where(np.arange(len(Y)) == 7, np.inf, Y)), "row 7"),
        ((X, np.array(["a"] * len(T)), Y), "binary"),
    ],
)
def test_validation_messages(args, words):
    with pytest.raises(ValueError, match=words):
        validate_fit_inputs(*args)


def test_validation_accepts_bool_and_int_treatment():
    _, t, _ = validate_fit_inputs(X, T.astype(bool), Y)
    assert t.dtype == float and set(np.unique(t)) == {0.0, 1.0}


class _Broken(CATEEstimator):
    """Ignores its seed (draws from numpy's global generator) and returns the wrong shape."""

    def __init__(self, random_state=None):
        self.random_state = random_state

    def _fit(self, X, t, y):
        self.m_ = float(np.mean(y)) + np.random.normal()

    def _predict(self, X):
        return np.full(len(X), self.m_), np.full(len(X), self.m_)


def test_check_estimator_catches_global_random_state():
    with pytest.raises(AssertionError, match="check_same_seed_same_predictions|check_no_global_random_state"):
        check_estimator(_Broken())


class _WrongShape(_Broken):
    def _fit(self, X, t, y):
        self.m_ = 0.0

    def _predict(self, X):
        return np.zeros(len(X) + 1), np.zeros(len(X))


def test_predict_output_is_checked():
    est = _WrongShape().fit(X, T, Y)
    with pytest.raises(ValueError, match="shape"):
        est.predict(X)


def test_predict_before_fit():
    with pytest.raises(NotFittedError, match="not fitted"):
        _WrongShape().predict(X)


def test_not_generative_sample_raises():
    est = _WrongShape().fit(X, T, Y)
    with pytest.raises(NotImplementedError, match="not generative"):
        est.sample(X)


def test_checks_are_named_and_documented():
    for c in CHECKS:
        assert c.__name__.startswith("check_") and c.__doc__
