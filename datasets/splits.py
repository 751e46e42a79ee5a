"""Train/test split protocols.

The runner fits every estimator on the *fit rows* (train + validation) and scores it on those rows
("in-sample", as in Shalit et al. 2017's "within-sample") and on the *test rows* ("out-of-sample").
Estimators that early-stop or select models (tag ``uses_validation``) hold out ``validation_fraction`` of their
fit rows themselves; the runner sets that parameter from the protocol, so that e.g. 63/27/10 means: 10 % test,
and 27/90 = 30 % of the remaining rows for the estimator's validation.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Split", "SPLITS", "get_split", "split_indices"]


@dataclasses.dataclass(frozen=True)
class Split:
    """A split protocol.

    Attributes
    ----------
    name : str
    test_fraction : float
        Share of rows held out for out-of-sample scoring (ignored when ``predefined``).
    validation_fraction : float
        Share of the fit rows an estimator may hold out for early stopping.
    shuffle : bool
        Shuffle (seeded per replication) before cutting; ``False`` takes the last rows as the test set.
    predefined : bool
        Use the dataset's own test rows (``CausalData.test_mask``), e.g. the standard IHDP files' 672/75.
    """

    name: str
    test_fraction: float
    validation_fraction: float
    shuffle: bool = True
    predefined: bool = False


SPLITS: dict[str, Split] = {
    s.name: s
    for s in (
        Split("63/27/10", test_fraction=0.10, validation_fraction=0.30),
        Split("90/10", test_fraction=0.10, validation_fraction=0.10),
        Split("80/20-row-order", test_fraction=0.20, validation_fraction=0.20, shuffle=False),
        Split("predefined", test_fraction=0.0, validation_fraction=0.30, predefined=True),
    )
}


def get_split(name: str) -> Split:
    try:
        return SPLITS[name]
    except KeyError:
        raise ValueError(f"unknown split protocol {name!r}; choose one of {sorted(SPLITS)}.") from None


def split_indices(
    n: int, split: Split, seed: int, test_mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(fit_idx, test_idx)``, sorted integer index arrays partitioning ``range(n)``."""
    if split.predefined:
        if test_mask is None:
            raise ValueError(f"split {split.name!r} needs a dataset with predefined test rows; this one has none.")
        test = np.flatnonzero(test_mask)
        return np.flatnonzero(~np.asarray(test_mask, bool)), test
    n_test = int(round(split.test_fraction * n))
    if not 0 < n_test < n:
        raise ValueError(f"split {split.name!r} leaves {n_test} test rows out of {n}; need at least one of each.")
    if split.shuffle:
        order = np.random.default_rng(seed).permutation(n)
    else:
        order = np.arange(n)
    return np.sort(order[: n - n_test]), np.sort(order[n - n_test :])
