"""The dataset contract: a family of replications of (X, t, y) with known potential outcomes.

A :class:`Dataset` is configured by keyword arguments stored verbatim (scikit-learn style, so its parameters
can be hashed into task keys) and yields one :class:`CausalData` per replication number. Randomness inside a
dataset (simulated outcomes) comes only from :func:`derive_seed` of the dataset's name, version, parameters and
the replication number, so replication r is the same draw on every machine and in every run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, ClassVar

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["CausalData", "Dataset", "DatasetCard", "derive_seed", "canonical_json", "DatasetUnavailable"]


class DatasetUnavailable(FileNotFoundError):
    """A dataset's files are not on this machine; the message says which file to put where."""


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace; numpy scalars become Python numbers."""

    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(f"cannot encode {type(o).__name__} {o!r} in a task key")

    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=default)


def derive_seed(*parts: Any) -> int:
    """A 32-bit seed that depends only on ``parts`` (any JSON-encodable values), stable across machines."""
    digest = hashlib.sha256(canonical_json(list(parts)).encode()).digest()
    return int.from_bytes(digest[:4], "little")


@dataclasses.dataclass
class CausalData:
    """One replication.

    Attributes
    ----------
    X : (n, d) float array
    t : (n,) float array of 0.0 / 1.0
    y : (n,) float array, the factual outcome
    mu0, mu1 : (n,) float arrays or None
        Noiseless potential-outcome surfaces E[Y(z) | x], when the design knows them.
    y0, y1 : (n,) float arrays or None
        Noisy potential outcomes, when known (e.g. Twins has these but no mu).
    test_mask : (n,) bool array or None
        A predefined test set (the ``"predefined"`` split protocol uses it).
    feature_names : list of str or None
    noise_sd : float, (n,) float array or None
        When the design knows its noise law: y(z) = mu_z(x) + noise_sd * N(0, 1). Enables the Wasserstein-1
        distance of a generative estimator's draws to the true conditional law.
    """

    X: np.ndarray
    t: np.ndarray
    y: np.ndarray
    mu0: np.ndarray | None = None
    mu1: np.ndarray | None = None
    y0: np.ndarray | None = None
    y1: np.ndarray | None = None
    test_mask: np.ndarray | None = None
    feature_names: list[str] | None = None
    noise_sd: float | np.ndarray | None = None

    def __post_init__(self):
        n = len(self.X)
        if self.X.ndim != 2:
            raise ValueError(f"CausalData.X must be 2-D; got shape {self.X.shape}.")
        for name in ("t", "y", "mu0", "mu1", "y0", "y1", "test_mask"):
            a = getattr(self, name)
            if a is not None and np.shape(a) != (n,):
                raise ValueError(f"CausalData.{name} has shape {np.shape(a)}; expected ({n},).")
        if (self.mu0 is None) != (self.mu1 is None) or (self.y0 is None) != (self.y1 is None):
            raise ValueError("CausalData needs both mu0 and mu1 (or both y0 and y1), not one of them.")
        if self.noise_sd is not None:
            sd = np.asarray(self.noise_sd, dtype=float)
            if sd.ndim not in (0, 1) or (sd.ndim == 1 and sd.shape != (n,)) or not np.all(sd >= 0):
                raise ValueError(f"CausalData.noise_sd must be a non-negative number or ({n},) array; got {self.noise_sd!r}.")
            if self.mu0 is None:
                raise ValueError("CausalData.noise_sd describes noise around mu0/mu1; give mu0 and mu1 too.")

    @property
    def n(self) -> int:
        return len(self.X)

    @property
    def truth(self) -> tuple[str, np.ndarray, np.ndarray]:
        """``(kind, a0, a1)``: the noiseless surfaces (``"mu"``) when known, else noisy outcomes (``"y"``)."""
        if self.mu0 is not None:
            return "mu", self.mu0, self.mu1
        if self.y0 is not None:
            return "y", self.y0, self.y1
        raise ValueError("this dataset carries no potential-outcome truth; it cannot be scored.")


@dataclasses.dataclass(frozen=True)
class DatasetCard:
    """What a user should know about a dataset before trusting numbers on it."""

    name: str
    rows: str
    covariates: str
    replications: str
    truth: str  # "noiseless mu", "noisy potential outcomes", "none"
    source: str
    licence: str
    offline: str  # "yes" or how to obtain it


class Dataset(BaseEstimator):
    """A family of replications. Subclasses set ``name``, ``version`` and implement ``load`` and ``card``.

    ``version`` changes whenever the data a replication yields changes; it is part of every task key.
    """

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    #: Parameters that say where the files are or how to get them, not what the data are (a sha256 pins those):
    #: they are left out of the dataset's identity (:meth:`identity_params`), so task keys and seeds do not
    #: depend on the machine's paths.
    location_params: ClassVar[tuple[str, ...]] = ()

    def identity_params(self) -> dict[str, Any]:
        """``get_params()`` without :attr:`location_params`: what task keys, seeds and reports identify it by."""
        return {k: v for k, v in self.get_params(deep=False).items() if k not in self.location_params}

    @property
    def n_replications(self) -> int | None:
        """How many replications exist; ``None`` when any number can be generated."""
        return None

    def load(self, replication: int) -> CausalData:  # pragma: no cover - abstract
        raise NotImplementedError

    def card(self) -> DatasetCard:  # pragma: no cover - abstract
        raise NotImplementedError

    def check_replication(self, replication: int) -> None:
        if not isinstance(replication, (int, np.integer)) or replication < 1:
            raise ValueError(f"{self.name}: replications are numbered from 1; got {replication!r}.")
        n = self.n_replications
        if n is not None and replication > n:
            raise ValueError(f"{self.name} has {n} replications; replication {replication} does not exist.")

    def seed_for(self, replication: int, *salt: Any) -> int:
        """The seed of everything random in ``replication`` (and ``salt``): depends on name, version, params."""
        return derive_seed(self.name, self.version, self.identity_params(), int(replication), *salt)
