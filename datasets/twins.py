"""Twins (Louizos et al. 2017, as prepared for GANITE, Yoon et al. 2018): both potential outcomes observed.

The file is ``Twin_Data.csv.gz`` from the mlforhealthlabpub repository (the digest causalml 0.18 pins), 11400
same-sex twin pairs, 30 covariates and the two outcome columns ``outcome(t=0)``, ``outcome(t=1)`` holding days
survived, 9999 meaning "survived the first year". Outcome here: 1-year mortality, ``1{days < 9999}``; treatment
= being the heavier twin. Both potential outcomes are real (noisy), no noiseless surface exists.

Treatment assignment is simulated, seeded per replication (replication r draws from ``seed_for(r)``):

* ``"ganite"`` (default): GANITE's simulation, made explicit: coefficients ``w ~ U(-0.01, 0.01)^30``,
  ``p = sigmoid(x w + N(0, 0.01^2))``, ``p <- min(p / (2 mean p), 1)``, ``t ~ Bernoulli(p)``, on the raw
  covariates (before any scaling);
* ``"random"``: a fair coin per pair (an RCT, as causalml's ``fetch_twins``).

Covariates are returned raw (the GANITE code min-max scales them afterwards; estimators scale for themselves).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ._files import fetch_file
from .base import CausalData, Dataset, DatasetCard

__all__ = ["Twins", "TWINS_SHA256"]

TWINS_SHA256 = "0128e5dfdeb468e85fd2818330beff49d4d433b7f7d56d3eb678f87ab15b00a9"  # pinned by causalml 0.18
TWINS_URL = ("https://bitbucket.org/mvdschaar/mlforhealthlabpub/raw/0b0190bcd38a76c405c805f1ca774971fcd85233/"
             "data/twins/Twin_Data.csv.gz")  # fmt: skip
SURVIVED = 9999


class Twins(Dataset):
    """Twins mortality benchmark with a seeded, explicit treatment-assignment simulation.

    Parameters
    ----------
    assignment : {"ganite", "random"}, default "ganite"
        How the revealed twin is chosen (see the module docstring).
    data_dir : str or None, default None
        Directory with ``Twin_Data.csv.gz`` (or a ``twins/`` subdirectory); ``None`` means ``$CATEBENCH_DATA`` or
        ``~/.cache/catebench``.
    allow_download : bool or None, default None
        ``None`` defers to ``CATEBENCH_ALLOW_DOWNLOAD``.
    """

    name = "twins"
    version = "1"

    def __init__(self, assignment="ganite", data_dir=None, allow_download=None):
        self.assignment = assignment
        self.data_dir = data_dir
        self.allow_download = allow_download

    def path(self):
        return fetch_file("Twin_Data.csv.gz", dataset="twins", sha256=TWINS_SHA256, root=self.data_dir, subdir="twins",
                          url=TWINS_URL, allow_download=self.allow_download, alt_names=("Twin_data.csv.gz", "twins.csv.gz"),
                          how_to_obtain="Source: GANITE's data (github.com/jsyoon0823/GANITE, mlforhealthlabpub).")  # fmt: skip

    def load(self, replication: int) -> CausalData:
        if self.assignment not in ("ganite", "random"):
            raise ValueError(f"twins assignment must be 'ganite' or 'random'; got {self.assignment!r}.")
        self.check_replication(replication)
        df = pd.read_csv(self.path())
        df.columns = [c.strip().strip("'\u2019\"") for c in df.columns]
        outs = [c for c in df.columns if c.startswith("outcome(")]
        if sorted(outs) != ["outcome(t=0)", "outcome(t=1)"]:
            raise ValueError(f"twins: expected columns outcome(t=0), outcome(t=1); got {outs}.")
        feats = [c for c in df.columns if c not in outs]
        X = df[feats].to_numpy(float)
        y0 = (df["outcome(t=0)"].to_numpy() < SURVIVED).astype(float)
        y1 = (df["outcome(t=1)"].to_numpy() < SURVIVED).astype(float)
        rng = np.random.default_rng(self.seed_for(replication))
        n, d = X.shape
        if self.assignment == "random":
            p = np.full(n, 0.5)
        else:
            w = rng.uniform(-0.01, 0.01, size=d)
            p = 1 / (1 + np.exp(-(X @ w + rng.normal(0, 0.01, size=n))))
            p = np.minimum(p / (2 * p.mean()), 1.0)
        t = (rng.random(n) < p).astype(float)
        return CausalData(X=X, t=t, y=np.where(t == 1, y1, y0), y0=y0, y1=y1, feature_names=feats)

    def card(self) -> DatasetCard:
        return DatasetCard(
            name=self.name,
            rows="11400 twin pairs",
            covariates="30",
            replications="unbounded (treatment assignment redrawn per replication, seeded)",
            truth="noisy potential outcomes (both twins' 1-year mortality observed)",
            source="NBER linked birth/infant death 1989-1991 via Louizos et al. 2017 / GANITE's Twin_Data.csv.gz; sha256 pinned (causalml 0.18)",
            licence="public-use NBER/NCHS data as redistributed by the GANITE authors (mlforhealthlabpub); no explicit licence",
            offline="no: put Twin_Data.csv.gz in $CATEBENCH_DATA/twins (or allow_download=True)",
        )
