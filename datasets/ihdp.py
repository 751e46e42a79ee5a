"""IHDP (Hill 2011), offline: the 747 x 25 covariates shipped with econml, NPCI setting "A" outcomes.

Covariates and treatment come from ``econml/data/ihdp/sim.csv`` (985 rows, inside econml's wheel): dropping the
treated children whose mother is not white leaves the standard 747 units in their usual order (139 treated);
the 25 covariates are the columns ``bw`` .. ``site7``; the 6 continuous ones are standardised (ddof = 1) and 1 is
added to ``first``. This reproduces the ``x`` matrix of the standard ``ihdp_npci`` files exactly.

Outcomes follow NPCI setting "A" = Hill's response surface B, drawn afresh per replication:

* beta in R^25 with entries from {0, .1, .2, .3, .4}, probabilities (.6, .1, .1, .1, .1);
* mu_0(x) = exp((x + 0.5) beta), mu_1(x) = x beta - omega, omega chosen so that the average effect on the
  treated, mean over t = 1 of mu_1 - mu_0, equals 4;
* y(z) = mu_z(x) + N(0, 1), y = y(t).

Replication r is drawn from a seed derived from ("ihdp", version, parameters, r), so any number of replications
is available and each is the same on every machine. These are not the draws of the published IHDP-100/1000
files (those need the files: see :mod:`catebench.datasets.ihdp_npz`), only draws from the same design.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from .base import CausalData, Dataset, DatasetCard

__all__ = ["IHDP", "ihdp_covariates", "CONTINUOUS", "COVARIATES"]

COVARIATES = [
    "bw", "b.head", "preterm", "birth.o", "nnhealth", "momage", "sex", "twin", "b.marr", "mom.lths", "mom.hs",
    "mom.scoll", "cig", "first", "booze", "drugs", "work.dur", "prenatal", "site1", "site2", "site3", "site4",
    "site5", "site6", "site7",
]  # fmt: skip
CONTINUOUS = ["bw", "b.head", "preterm", "birth.o", "nnhealth", "momage"]
BETA_VALUES = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
BETA_PROBS = np.array([0.6, 0.1, 0.1, 0.1, 0.1])


@functools.lru_cache(maxsize=1)
def ihdp_covariates() -> tuple[np.ndarray, np.ndarray]:
    """The standard IHDP covariates (747, 25) and treatment (747,), from econml's bundled ``sim.csv``."""
    import econml
    import pandas as pd

    path = os.path.join(os.path.dirname(econml.__file__), "data", "ihdp", "sim.csv")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"econml's bundled IHDP file is missing at {path}; reinstall econml (pip install --force-reinstall econml)."
        )
    df = pd.read_csv(path)
    keep = ~((df["treat"] == 1) & (df["momwhite"] == 0))
    df = df.loc[keep].reset_index(drop=True)
    if len(df) != 747 or int(df["treat"].sum()) != 139:
        raise RuntimeError(f"unexpected IHDP subset from {path}: {len(df)} rows, {int(df['treat'].sum())} treated.")
    X = df[COVARIATES].astype(float).copy()
    for c in CONTINUOUS:
        X[c] = (X[c] - X[c].mean()) / X[c].std(ddof=1)
    X["first"] = X["first"] + 1
    return X.to_numpy(), df["treat"].to_numpy(dtype=float)


def response_surface_b(X: np.ndarray, t: np.ndarray, rng: np.random.Generator):
    """Hill (2011) response surface B: returns mu0, mu1 (noiseless) for one draw of beta."""
    beta = rng.choice(BETA_VALUES, size=X.shape[1], p=BETA_PROBS)
    mu0 = np.exp((X + 0.5) @ beta)
    lin = X @ beta
    omega = np.mean(lin[t == 1] - mu0[t == 1]) - 4.0
    return mu0, lin - omega


class IHDP(Dataset):
    """IHDP semi-synthetic benchmark, offline (NPCI setting A draws on econml's covariates).

    Parameters
    ----------
    noise_sd : float, default 1.0
        Standard deviation of the outcome noise.
    """

    name = "ihdp"
    version = "1"

    def __init__(self, noise_sd=1.0):
        self.noise_sd = noise_sd

    def load(self, replication: int) -> CausalData:
        self.check_replication(replication)
        if not (isinstance(self.noise_sd, (int, float)) and self.noise_sd >= 0):
            raise ValueError(f"ihdp: noise_sd must be a non-negative number; got {self.noise_sd!r}.")
        X, t = ihdp_covariates()
        rng = np.random.default_rng(self.seed_for(replication))
        mu0, mu1 = response_surface_b(X, t, rng)
        y0 = mu0 + self.noise_sd * rng.standard_normal(len(X))
        y1 = mu1 + self.noise_sd * rng.standard_normal(len(X))
        y = np.where(t == 1, y1, y0)
        return CausalData(X=X.copy(), t=t.copy(), y=y, mu0=mu0, mu1=mu1, y0=y0, y1=y1, feature_names=list(COVARIATES),
                          noise_sd=float(self.noise_sd))

    def card(self) -> DatasetCard:
        return DatasetCard(
            name=self.name,
            rows="747 (139 treated)",
            covariates="25 (6 continuous standardised, 19 binary)",
            replications="unbounded (drawn per replication from NPCI setting A)",
            truth="noiseless mu",
            source="covariates: econml's bundled IHDP sim.csv (Hill 2011); outcomes: NPCI setting A design",
            licence="covariates as distributed with econml (MIT); outcomes generated here",
            offline="yes",
        )
