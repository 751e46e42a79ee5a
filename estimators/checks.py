"""``check_estimator``: a conformance suite for catebench estimators (in the spirit of scikit-learn's).

Use it in a plugin's tests, one pytest case per check::

    import pytest
    from catebench.estimators.checks import check_estimator, iter_checks
    from mypkg import MyEstimator

    @pytest.mark.parametrize("check", iter_checks(MyEstimator()), ids=lambda c: c.__name__)
    def test_conformance(check):
        check()

or all at once: ``check_estimator(MyEstimator())`` raises ``AssertionError`` naming the first failing check.
From the command line: ``catebench check mypkg.module:MyEstimator``.

Each check clones the estimator (``sklearn.base.clone``) and fits it on a tiny synthetic dataset (n = 160,
d = 4), so estimators should accept small-budget parameters (see ``CATEEstimator.test_params``).
"""

from __future__ import annotations

import functools
import pickle
from typing import Callable, Iterator

import numpy as np
from sklearn.base import clone

from .base import CATEEstimator

__all__ = ["check_estimator", "iter_checks", "tiny_data"]


def tiny_data(n: int = 160, d: int = 4, seed: int = 0):
    """A small confounded design with known potential outcomes: returns X, t, y, mu0, mu1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    e = 1 / (1 + np.exp(-0.5 * X[:, 0]))
    t = (rng.uniform(size=n) < e).astype(float)
    mu0 = X[:, 0] + 0.5 * X[:, 1]
    mu1 = mu0 + 1.0 + X[:, 2]
    y = np.where(t == 1, mu1, mu0) + 0.1 * rng.normal(size=n)
    return X, t, y, mu0, mu1


def _with_seed(est: CATEEstimator, seed: int = 0) -> CATEEstimator:
    est = clone(est)
    if "random_state" in est.get_params():
        est.set_params(random_state=seed)
    return est


def check_has_random_state(est):
    """The estimator takes a ``random_state`` parameter."""
    assert "random_state" in est.get_params(), f"{type(est).__name__} has no random_state parameter"


def check_init_stores_params(est):
    """``__init__`` stores its arguments verbatim: get_params round-trips through the constructor."""
    params = est.get_params(deep=False)
    rebuilt = type(est)(**params).get_params(deep=False)
    assert set(rebuilt) == set(params), f"parameter names differ: {set(rebuilt) ^ set(params)}"
    for k, v in params.items():
        assert rebuilt[k] is v or rebuilt[k] == v, f"parameter {k!r}: {rebuilt[k]!r} != {v!r}"


def check_fit_returns_self(est):
    """``fit`` returns the estimator itself and sets ``n_features_in_``."""
    X, t, y, *_ = tiny_data()
    e = _with_seed(est)
    assert e.fit(X, t, y) is e, "fit must return self"
    assert e.n_features_in_ == X.shape[1]


def check_predict_shapes_finite(est):
    """``predict`` returns two finite (n,) arrays, also for new rows."""
    X, t, y, *_ = tiny_data()
    e = _with_seed(est).fit(X, t, y)
    X_new = tiny_data(n=37, seed=1)[0]
    mu0, mu1 = e.predict(X_new)
    assert mu0.shape == (37,) and mu1.shape == (37,), f"shapes {mu0.shape}, {mu1.shape}"
    assert np.all(np.isfinite(mu0)) and np.all(np.isfinite(mu1))
    np.testing.assert_allclose(e.effect(X_new), mu1 - mu0)


def check_same_seed_same_predictions(est):
    """Two fits with the same ``random_state`` give identical predictions."""
    X, t, y, *_ = tiny_data()
    a = _with_seed(est, 3).fit(X, t, y).predict(X)
    b = _with_seed(est, 3).fit(X, t, y).predict(X)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def check_clone_unfitted(est):
    """``clone`` of a fitted estimator gives an unfitted one with equal parameters."""
    X, t, y, *_ = tiny_data()
    e = _with_seed(est).fit(X, t, y)
    c = clone(e)
    assert c.get_params() == e.get_params() or repr(c.get_params()) == repr(e.get_params())
    assert not hasattr(c, "n_features_in_"), "clone kept fitted state"


def check_pickle_roundtrip(est):
    """A fitted estimator pickles and predicts the same after unpickling."""
    X, t, y, *_ = tiny_data()
    e = _with_seed(est).fit(X, t, y)
    e2 = pickle.loads(pickle.dumps(e))
    for a, b in zip(e.predict(X), e2.predict(X)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-8)


def _numpy_state_equal(a: tuple, b: tuple) -> bool:
    """Whether two ``np.random.get_state()`` tuples are the same state: key array, position and cached Gaussian."""
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and tuple(a[2:]) == tuple(b[2:])


def check_no_global_random_state(est):
    """Fitting and predicting neither reads nor changes numpy's, Python's or torch's global random state."""
    import random
    import sys

    X, t, y, *_ = tiny_data()
    if est.catebench_tags().torch:
        import torch  # noqa: F401 - so its global generator exists before the fit
    np_saved, py_saved = np.random.get_state(), random.getstate()
    torch_saved = sys.modules["torch"].get_rng_state().clone() if "torch" in sys.modules else None
    try:
        # the whole state, the position in the key array included: a draw that does not reach the end of the key
        # array leaves the array itself unchanged
        e = _with_seed(est)
        e.fit(X, t, y).predict(X)
        assert _numpy_state_equal(np.random.get_state(), np_saved), "numpy's global random state changed"
        assert random.getstate() == py_saved, "Python's global random state changed"
        if torch_saved is not None:
            torch = sys.modules["torch"]
            assert torch.equal(torch.get_rng_state(), torch_saved), "torch's global random state changed"
        # reading: a different global state must not change the results
        np.random.seed(12345)
        random.seed(12345)
        a = _with_seed(est).fit(X, t, y).predict(X)
        np.random.seed(54321)
        random.seed(54321)
        b = _with_seed(est).fit(X, t, y).predict(X)
        np.testing.assert_array_equal(a[0], b[0])
    finally:  # the check itself leaves the global generators as it found them
        np.random.set_state(np_saved)
        random.setstate(py_saved)
        if torch_saved is not None:
            sys.modules["torch"].set_rng_state(torch_saved)


def check_rejects_bad_input(est):
    """NaN/inf in X, non-binary t, one arm only, mismatched lengths and 1-D X raise ValueError naming the issue."""
    X, t, y, *_ = tiny_data()
    cases = {
        "NaN in X": (np.where(np.arange(X.size).reshape(X.shape) == 5, np.nan, X), t, y, "non-finite"),
        "inf in X": (np.where(np.arange(X.size).reshape(X.shape) == 5, np.inf, X), t, y, "non-finite"),
        "NaN in y": (X, t, np.where(np.arange(len(y)) == 2, np.nan, y), "non-finite"),
        "t = 2": (X, np.where(np.arange(len(t)) == 0, 2.0, t), y, "binary"),
        "one arm": (X, np.ones_like(t), y, "control"),
        "lengths": (X[:-1], t, y, "same number of rows"),
        "1-D X": (X[:, 0], t, y, "2-D"),
    }
    for name, (Xb, tb, yb, words) in cases.items():
        e = _with_seed(est)
        try:
            e.fit(Xb, tb, yb)
        except ValueError as exc:
            assert words in str(exc), f"{name}: error message {str(exc)!r} does not mention {words!r}"
        else:
            raise AssertionError(f"{name}: fit accepted bad input")
    e = _with_seed(est).fit(X, t, y)
    for Xb, words in ((X[:, :2], "features"), (np.full_like(X, np.nan), "non-finite")):
        try:
            e.predict(Xb)
        except ValueError as exc:
            assert words in str(exc), f"predict: {str(exc)!r} does not mention {words!r}"
        else:
            raise AssertionError("predict accepted bad input")


def check_batch_independence(est):
    """The prediction for a row does not depend on which other rows are predicted with it (subset, order, one row).

    Catches, e.g., BatchNorm or dropout left in training mode, or a prediction normalised over the batch.
    """
    X, t, y, *_ = tiny_data()
    e = _with_seed(est).fit(X, t, y)
    X_new = tiny_data(n=40, seed=2)[0]
    full = e.predict(X_new)
    perm = np.random.default_rng(0).permutation(len(X_new))
    cases = {"the first 7 rows": (X_new[:7], slice(0, 7)), "the rows shuffled": (X_new[perm], perm),
             "row 3 alone": (X_new[3:4], slice(3, 4))}  # fmt: skip
    for what, (Xb, rows) in cases.items():
        part = e.predict(Xb)
        for name, a, b in (("mu0_hat", part[0], full[0][rows]), ("mu1_hat", part[1], full[1][rows])):
            scale = max(1.0, float(np.max(np.abs(full[0]))), float(np.max(np.abs(full[1]))))
            err = float(np.max(np.abs(a - b)))
            assert err <= 1e-5 * scale, (
                f"{name} for {what} differs from the same rows predicted in one batch of 40 (max abs difference "
                f"{err:.3g}): predictions must not depend on the other rows of the batch"
            )


def check_generative_sample(est):
    """Generative estimators: ``sample`` returns (n, n_samples) draws whose mean is near ``predict``'s."""
    if not est.catebench_tags().generative:
        return
    X, t, y, *_ = tiny_data()
    e = _with_seed(est).fit(X, t, y)
    y0, y1 = e.sample(X[:10], n_samples=50)
    assert y0.shape == (10, 50) and y1.shape == (10, 50)
    assert np.all(np.isfinite(y0)) and np.all(np.isfinite(y1))


CHECKS: tuple[Callable, ...] = (
    check_has_random_state,
    check_init_stores_params,
    check_fit_returns_self,
    check_predict_shapes_finite,
    check_same_seed_same_predictions,
    check_clone_unfitted,
    check_pickle_roundtrip,
    check_no_global_random_state,
    check_rejects_bad_input,
    check_batch_independence,
    check_generative_sample,
)


def iter_checks(est: CATEEstimator) -> Iterator[Callable[[], None]]:
    """Yield zero-argument callables, one per check, named after the check (for pytest parametrisation)."""
    if not isinstance(est, CATEEstimator):
        raise TypeError(f"{type(est).__name__} is not a CATEEstimator subclass instance.")
    for check in CHECKS:
        f = functools.partial(check, est)
        f.__name__ = check.__name__  # type: ignore[attr-defined]
        f.__doc__ = check.__doc__
        yield f


def check_estimator(est: CATEEstimator, verbose: bool = False) -> None:
    """Run every check; raise ``AssertionError`` naming the first failing one."""
    for check in iter_checks(est):
        try:
            check()
        except Exception as exc:
            raise AssertionError(f"{type(est).__name__} fails {check.__name__} ({check.__doc__}): {exc}") from exc
        if verbose:
            print(f"ok  {check.__name__}")
