"""ACIC 2016 (Dorie et al. 2019): 77 simulation settings x 100 replications on 4802 x 58 real covariates.

Two sources:

* ``"causallib"`` (offline): the 10 outcome files bundled with causallib 0.10. Its ``zymu_k.csv`` is
  (setting k, simulation replication 1) for k = 1, 2, 5, ..., 10 and (setting k, replication 100) for k = 3, 4.
* ``"dir"``: a user directory in the layout the field uses, ``data_cf_all/x.csv`` and
  ``data_cf_all/<setting>/zymu_<replication>.csv`` (plain or ``.gz``; columns z, y0, y1, mu0, mu1), found in
  ``data_dir/acic2016/`` or ``data_dir/``. Replications are ordered by their number, not as text.
* ``"auto"`` (default): causallib when it bundles the requested file, else the directory.

Two ways to iterate (the ``setting`` parameter):

* ``setting=k`` (1..77): replication r is simulation replication r of setting k (1..100).
* ``setting=None`` (the paper protocol: one dataset per setting): replication r is **setting r** (1..77), each at
  simulation replication ``simulation`` (default 1; ``"bundled"`` takes whichever replication causallib bundles,
  so settings 1-10 run offline). Leaderboards then pool over settings and win rates count settings.

Categorical covariates (``x_2``, ``x_21``, ``x_24``) are one-hot encoded with every level kept, in sorted level
order, from the full covariate table, so the columns are the same for every setting and replication (d = 82).
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ._files import data_dir as _data_dir
from .base import CausalData, Dataset, DatasetCard, DatasetUnavailable

__all__ = ["ACIC2016", "CAUSALLIB_BUNDLED", "acic2016_covariates", "list_replications", "find_data_cf_all",
           "verify_manifest"]

N_SETTINGS = 77
N_SIMULATIONS = 100
CATEGORICAL = ("x_2", "x_21", "x_24")
# causallib's zymu_k.csv -> (setting k, simulation replication)
CAUSALLIB_BUNDLED = {k: (100 if k in (3, 4) else 1) for k in range(1, 11)}


def _causallib_dir() -> Path:
    import causallib.datasets

    return Path(causallib.datasets.__file__).parent / "data" / "acic_challenge_2016"


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path)  # pandas reads .gz transparently; handles CRLF


def _encode(x: pd.DataFrame) -> pd.DataFrame:
    x = x.copy()
    if "Unnamed: 0" in x.columns:
        x = x.drop(columns="Unnamed: 0")
    cats = [c for c in x.columns if c in CATEGORICAL or x[c].dtype == object]
    for c in cats:
        x[c] = pd.Categorical(x[c], categories=sorted(x[c].dropna().unique()))
    return pd.get_dummies(x, columns=cats, prefix_sep="=", dtype=float).astype(float)


@functools.lru_cache(maxsize=4)
def acic2016_covariates(path: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """One-hot encoded covariates (4802, 82) and their names, from an ``x.csv`` (or ``x.csv.gz``)."""
    x = _encode(_read(Path(path)))
    return x.to_numpy(), tuple(x.columns)


def _dir_root(data_dir) -> Path:
    base = _data_dir(data_dir)
    for cand in (base / "acic2016" / "data_cf_all", base / "data_cf_all"):
        if cand.is_dir():
            return cand
    return base / "acic2016" / "data_cf_all"


def _first(paths):
    for p in paths:
        if p.is_file():
            return p
    return None


def list_replications(data_dir, setting: int) -> list[int]:
    """The simulation replications present for ``setting`` in a ``data_cf_all`` directory, in numeric order."""
    d = _dir_root(data_dir) / str(setting)
    if not d.is_dir():
        return []
    nums = {int(m.group(1)) for p in d.iterdir() if (m := re.fullmatch(r"zymu_(\d+)\.csv(\.gz)?", p.name))}
    return sorted(nums)


def find_data_cf_all(path=None) -> Path | None:
    """The ``data_cf_all`` directory under ``path`` (or ``path`` itself), else ``None``.

    Parameters
    ----------
    path : str or path-like or None
        A directory holding ``data_cf_all/`` or ``acic2016/data_cf_all/``, or the ``data_cf_all`` directory itself;
        ``None`` means ``$CATEBENCH_DATA`` or ``~/.cache/catebench``.
    """
    base = _data_dir(path)
    if base.name == "data_cf_all" and base.is_dir():
        return base
    root = _dir_root(path)
    return root if root.is_dir() else None


def verify_manifest(data_cf_all: str | os.PathLike, settings=None, simulation: int = 1) -> int:
    """Check the files of ``settings`` against a ``MANIFEST.sha256`` beside ``data_cf_all`` (``sha256sum`` format).

    Parameters
    ----------
    data_cf_all : path of the ``data_cf_all`` directory.
    settings : iterable of int or None
        Settings whose ``zymu_<simulation>`` file to check (with the covariates); ``None``: every listed file.
    simulation : int, default 1

    Returns
    -------
    int
        Number of files checked; 0 when there is no manifest (nothing to check).

    Raises
    ------
    ValueError
        A file's digest differs from the manifest, naming the file and both digests.
    """
    from ._files import sha256_of

    root = Path(data_cf_all)
    manifest = root.parent / "MANIFEST.sha256"
    if not manifest.is_file():
        return 0
    want = {}
    for line in manifest.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            want[name.strip().lstrip("*")] = digest
    prefix = root.name + "/"
    names = [n for n in want if n.startswith(prefix)]
    if settings is not None:
        keep = {f"{prefix}x.csv", f"{prefix}x.csv.gz"}
        keep |= {f"{prefix}{k}/zymu_{simulation}.csv{gz}" for k in settings for gz in ("", ".gz")}
        names = [n for n in names if n in keep]
    for name in names:
        path = root.parent / name
        if not path.is_file():
            raise ValueError(f"acic2016: {path} is listed in {manifest} but missing.")
        got = sha256_of(path)
        if got != want[name]:
            raise ValueError(f"acic2016: {path} has sha256 {got}, but {manifest} says {want[name]}; the file is "
                             "damaged or from another generator run.")
    return len(names)


class ACIC2016(Dataset):
    """ACIC 2016 data challenge, offline for causallib's 10 bundled files, all 77 x 100 from a directory.

    Parameters
    ----------
    setting : int in 1..77 or None, default None
        ``None``: replication r is setting r (the paper protocol); an int: replication r is simulation r of it.
    simulation : int in 1..100 or "bundled", default 1
        With ``setting=None``: the simulation replication used for every setting. ``"bundled"`` means causallib's
        file (replication 100 for settings 3 and 4, 1 otherwise) and needs ``source`` "causallib" or "auto".
    source : {"auto", "causallib", "dir"}, default "auto"
        Where outcome files come from (see the module docstring).
    data_dir : str or None, default None
        Directory with ``data_cf_all/`` (or ``acic2016/data_cf_all/``); ``None`` means ``$CATEBENCH_DATA`` or
        ``~/.cache/catebench``.
    """

    name = "acic2016"
    version = "1"
    location_params = ("data_dir",)

    def __init__(self, setting=None, simulation=1, source="auto", data_dir=None):
        self.setting = setting
        self.simulation = simulation
        self.source = source
        self.data_dir = data_dir

    def _check(self):
        if self.setting is not None and not (isinstance(self.setting, (int, np.integer)) and 1 <= self.setting <= N_SETTINGS):
            raise ValueError(f"acic2016 setting must be 1..{N_SETTINGS} or None; got {self.setting!r}.")
        if self.source not in ("auto", "causallib", "dir"):
            raise ValueError(f"acic2016 source must be 'auto', 'causallib' or 'dir'; got {self.source!r}.")
        sim = self.simulation
        if sim == "bundled":
            if self.source == "dir":
                raise ValueError("acic2016 simulation='bundled' means causallib's files; it needs source 'causallib' or 'auto'.")
        elif not (isinstance(sim, (int, np.integer)) and 1 <= sim <= N_SIMULATIONS):
            raise ValueError(f"acic2016 simulation must be 1..{N_SIMULATIONS} or 'bundled'; got {sim!r}.")

    @property
    def n_replications(self) -> int:
        self._check()
        return N_SETTINGS if self.setting is None else N_SIMULATIONS

    def coordinates(self, replication: int) -> tuple[int, int | str]:
        """``(setting, simulation)`` of a replication number."""
        self.check_replication(replication)
        if self.setting is None:
            return int(replication), self.simulation
        return int(self.setting), int(replication)

    def _files(self, setting: int, sim) -> tuple[Path, Path, str]:
        bundled = CAUSALLIB_BUNDLED.get(setting)
        use_causallib = self.source == "causallib" or (
            self.source == "auto" and bundled is not None and sim in ("bundled", bundled)
        )
        if use_causallib:
            if bundled is None or sim not in ("bundled", bundled):
                have = ", ".join(f"setting {k} rep {r}" for k, r in CAUSALLIB_BUNDLED.items())
                raise DatasetUnavailable(
                    f"acic2016: causallib bundles no file for setting {setting}, simulation {sim} (it has {have}); "
                    f"use source='dir' with the full data in {_dir_root(self.data_dir)}."
                )
            d = _causallib_dir()
            return d / "x.csv", d / f"zymu_{setting}.csv", f"causallib zymu_{setting}.csv"
        if sim == "bundled":
            raise DatasetUnavailable(f"acic2016: causallib bundles no file for setting {setting}; choose a simulation number.")
        root = _dir_root(self.data_dir)
        x = _first([root / "x.csv", root / "x.csv.gz"])
        z = _first([root / str(setting) / f"zymu_{sim}.csv", root / str(setting) / f"zymu_{sim}.csv.gz"])
        for label, p, want in (("covariates", x, root / "x.csv"), ("outcomes", z, root / str(setting) / f"zymu_{sim}.csv")):
            if p is None:
                raise DatasetUnavailable(
                    f"acic2016: {label} file {want.name} (or {want.name}.gz) not found in {want.parent}; no sha256 is "
                    f"pinned for it. Generate the files with the R package aciccomp2016 (github.com/vdorie/aciccomp, "
                    f"dgp_2016(input_2016, parameters={setting}, random.seed={sim})) in the data_cf_all layout, or "
                    f"point data_dir / CATEBENCH_DATA at a copy."
                )
        return x, z, f"{z}"

    def load(self, replication: int) -> CausalData:
        self._check()
        setting, sim = self.coordinates(replication)
        xp, zp, _ = self._files(setting, sim)
        X, names = acic2016_covariates(str(xp))
        zymu = _read(zp)
        missing = {"z", "y0", "y1", "mu0", "mu1"} - set(zymu.columns)
        if missing or len(zymu) != len(X):
            raise ValueError(f"acic2016: {zp} needs columns z, y0, y1, mu0, mu1 and {len(X)} rows; has {list(zymu.columns)}, {len(zymu)} rows.")
        t = zymu["z"].to_numpy(float)
        y0, y1 = zymu["y0"].to_numpy(float), zymu["y1"].to_numpy(float)
        return CausalData(X=X.copy(), t=t, y=np.where(t == 1, y1, y0), mu0=zymu["mu0"].to_numpy(float),
                          mu1=zymu["mu1"].to_numpy(float), y0=y0, y1=y1, feature_names=list(names))  # fmt: skip

    def card(self) -> DatasetCard:
        reps = "77 (replication r = setting r)" if self.setting is None else f"100 simulations of setting {self.setting}"
        return DatasetCard(
            name=self.name,
            rows="4802",
            covariates="58 raw (3 categorical) -> 82 after one-hot encoding (all levels kept)",
            replications=reps,
            truth="noiseless mu (and noisy potential outcomes)",
            source="ACIC 2016 challenge (Dorie et al. 2019), R package aciccomp2016; 10 files bundled with causallib 0.10",
            licence="covariates CDLA-Sharing-1.0 (causallib); simulated outcomes from aciccomp2016 (GPL >= 2)",
            offline="yes for settings 1-10 (causallib, simulation='bundled'); others: data_cf_all/ in $CATEBENCH_DATA",
        )
