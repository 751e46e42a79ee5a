"""ACIC 2018 / IBM causal inference benchmark (LBIDD; Shimoni et al. 2018), from a user directory.

The data may not be redistributed, so catebench ships none of it. To obtain it: register and download the
"ACIC 2018 data challenge" / "IBM Causal Inference Benchmarking Framework" data from Synapse (project
syn11294478, https://www.synapse.org/#!Synapse:syn11294478), accepting its terms of use; the framework's code is at
github.com/IBM-HRL-MLHLS/IBM-Causal-Inference-Benchmarking-Framework. Put the files in ``$CATEBENCH_DATA/acic2018/``
(or pass ``data_dir``), keeping the framework's format:

* ``x.csv``: covariates, with a ``sample_id`` column;
* per dataset ``<ufid>.csv`` (columns sample_id, z, y) and ``<ufid>_cf.csv`` (columns sample_id, y0, y1), at any
  depth below that directory (e.g. ``scaling/factuals/<ufid>.csv`` and ``scaling/counterfactuals/<ufid>_cf.csv``).

Each dataset uses the subset of ``x.csv`` rows its factual file names (joined on ``sample_id``, in the factual
file's row order). Replication r is the r-th dataset in sorted ufid order, or the r-th of the ``ufids`` parameter.
The counterfactual files give both potential outcomes as the framework generated them (scored as ``y`` truth).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pandas as pd

from ._files import data_dir as _data_dir
from .base import CausalData, Dataset, DatasetCard, DatasetUnavailable

__all__ = ["ACIC2018", "HOW_TO_OBTAIN"]

HOW_TO_OBTAIN = (
    "ACIC 2018 data may not be redistributed: download it yourself from Synapse (syn11294478, "
    "https://www.synapse.org/#!Synapse:syn11294478) after accepting its terms, and keep the IBM framework's format "
    "(x.csv with sample_id; <ufid>.csv with sample_id,z,y; <ufid>_cf.csv with sample_id,y0,y1)."
)


@functools.lru_cache(maxsize=2)
def _index(root: str) -> tuple[dict[str, Path], dict[str, Path]]:
    fact, cf = {}, {}
    for p in sorted(Path(root).rglob("*.csv*")):
        stem = p.name.split(".csv")[0]
        if stem == "x" or p.name.startswith("params"):
            continue
        if stem.endswith("_cf"):
            cf[stem[:-3]] = p
        else:
            fact[stem] = p
    return fact, cf


@functools.lru_cache(maxsize=2)
def _covariates(path: str) -> pd.DataFrame:
    x = pd.read_csv(path)
    if "sample_id" not in x.columns:
        raise ValueError(f"acic2018: {path} has no sample_id column; columns {list(x.columns)[:5]}...")
    return x.set_index("sample_id")


class ACIC2018(Dataset):
    """ACIC 2018 (IBM causal inference benchmark, LBIDD) from the framework's files in a user directory.

    Parameters
    ----------
    ufids : list of str or None, default None
        Which datasets, in replication order; ``None`` means every dataset found, sorted by ufid.
    data_dir : str or None, default None
        Directory holding ``acic2018/x.csv`` (or ``x.csv`` directly); ``None`` means ``$CATEBENCH_DATA`` or
        ``~/.cache/catebench``.
    """

    name = "acic2018"
    version = "1"
    location_params = ("data_dir",)

    def __init__(self, ufids=None, data_dir=None):
        self.ufids = ufids
        self.data_dir = data_dir

    def root(self) -> Path:
        base = _data_dir(self.data_dir)
        for cand in (base / "acic2018", base):
            if (cand / "x.csv").is_file():
                return cand
        raise DatasetUnavailable(f"acic2018: covariate file x.csv (no pinned sha256) not found; put it in {base / 'acic2018'}. {HOW_TO_OBTAIN}")

    def datasets(self) -> list[str]:
        fact, cf = _index(str(self.root()))
        found = sorted(set(fact) & set(cf))
        if self.ufids is None:
            if not found:
                raise DatasetUnavailable(f"acic2018: no <ufid>.csv / <ufid>_cf.csv pairs under {self.root()}. {HOW_TO_OBTAIN}")
            return found
        missing = [u for u in self.ufids if u not in found]
        if missing:
            raise DatasetUnavailable(f"acic2018: files {missing[0]}.csv and {missing[0]}_cf.csv not found under {self.root()}. {HOW_TO_OBTAIN}")
        return list(self.ufids)

    @property
    def n_replications(self) -> int | None:
        if self.ufids is not None:
            return len(self.ufids)
        try:
            return len(self.datasets())
        except DatasetUnavailable:
            return None

    def load(self, replication: int) -> CausalData:
        self.check_replication(replication)
        ids = self.datasets()
        if replication > len(ids):
            raise ValueError(f"acic2018 has {len(ids)} datasets under {self.root()}; replication {replication} does not exist.")
        ufid = ids[replication - 1]
        fact, cf = _index(str(self.root()))
        f = pd.read_csv(fact[ufid])
        c = pd.read_csv(cf[ufid]).set_index("sample_id")
        for path, frame, cols in ((fact[ufid], f, {"sample_id", "z", "y"}), (cf[ufid], c.reset_index(), {"sample_id", "y0", "y1"})):
            if not cols <= set(frame.columns):
                raise ValueError(f"acic2018: {path} needs columns {sorted(cols)}; has {list(frame.columns)}.")
        x = _covariates(str(self.root() / "x.csv"))
        ids_ = f["sample_id"]
        unknown = ~ids_.isin(x.index) | ~ids_.isin(c.index)
        if unknown.any():
            raise ValueError(f"acic2018: {int(unknown.sum())} sample_ids of {fact[ufid]} are missing from x.csv or the _cf file, e.g. {ids_[unknown].iloc[0]!r}.")
        X = x.loc[ids_].to_numpy(float)
        t = f["z"].to_numpy(float)
        y0, y1 = c.loc[ids_, "y0"].to_numpy(float), c.loc[ids_, "y1"].to_numpy(float)
        return CausalData(X=X, t=t, y=f["y"].to_numpy(float), y0=y0, y1=y1, feature_names=[str(k) for k in x.columns])

    def card(self) -> DatasetCard:
        return DatasetCard(
            name=self.name,
            rows="1000 to 50000 per dataset (subsets of the 100000 LBIDD units)",
            covariates="177 (Linked Birth and Infant Death Data)",
            replications="one per dataset (ufid) found, sorted",
            truth="noisy potential outcomes (the framework's _cf files)",
            source="ACIC 2018 data challenge / IBM Causal Inference Benchmarking Framework (Shimoni et al. 2018)",
            licence="not redistributable: Synapse terms of use (syn11294478)",
            offline="no: download from Synapse yourself into $CATEBENCH_DATA/acic2018",
        )
