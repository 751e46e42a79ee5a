"""The standard IHDP files ``ihdp_npci_1-100`` and ``ihdp_npci_1-1000`` (Johansson, Shalit & Sontag 2016).

Each file pair (``.train.npz``: 672 units, ``.test.npz``: 75 units) holds NPCI setting "A" draws (Hill 2011
response surface B) on the 747 IHDP units: keys ``x`` (n, 25, R), ``t``, ``yf``, ``ycf``, ``mu0``, ``mu1`` (n, R).
Rows are permuted per replication. Replication r of this dataset is column r - 1.

The files are looked up in ``data_dir`` (default ``$CATEBENCH_DATA`` or ``~/.cache/catebench``), in its ``ihdp/``
subdirectory or at its top, and verified against a pinned sha256. The 1-100 digests are the ones causalml 0.18 pins;
no digest of the 1-1000 pair was available offline, so those files are used with a warning that names their digest.
The 1-1000 files are distributed zipped (``.npz.zip``); both the zip and the extracted ``.npz`` are accepted.
Download happens only when allowed (``allow_download=True`` or ``CATEBENCH_ALLOW_DOWNLOAD=1``).
"""

from __future__ import annotations

import functools
import io
import zipfile
from pathlib import Path

import numpy as np

from ._files import data_dir, fetch_file, find_file, verify
from .base import CausalData, Dataset, DatasetCard
from .ihdp import COVARIATES

__all__ = ["IHDPNpz", "IHDP_SHA256", "load_npz"]

URL = "https://www.fredjo.com/files/"
# Pinned by causalml 0.18 (causalml/dataset/_benchmarks.py, IHDP_SHA256).
IHDP_SHA256: dict[tuple[int, str], str | None] = {
    (100, "train"): "750697c71b4f8d7a3aafff771b56a4ac4cd83ec649bf69afb04f8a5aee41a240",
    (100, "test"): "a70a8acbcc4e8deb677cc9bf9e9dabeb17caaa37cdbb1d7ba06be7ffb929c41c",
    (1000, "train"): None,  # no pinned digest available offline
    (1000, "test"): None,
}
N_ROWS = {"train": 672, "test": 75}
KEYS = ("x", "t", "yf", "ycf", "mu0", "mu1")


def file_name(size: int, part: str) -> str:
    return f"ihdp_npci_1-{size}.{part}.npz"


@functools.lru_cache(maxsize=4)
def load_npz(path: str) -> dict[str, np.ndarray]:
    """The arrays of one standard IHDP file (``.npz``, or a ``.zip`` holding one)."""
    p = Path(path)
    if p.suffix == ".zip":
        with zipfile.ZipFile(p) as z:
            members = [m for m in z.namelist() if m.endswith(".npz")]
            if len(members) != 1:
                raise ValueError(f"{p} should hold exactly one .npz file; it holds {z.namelist()}.")
            raw = io.BytesIO(z.read(members[0]))
        with np.load(raw) as f:
            return {k: f[k] for k in f.files}
    with np.load(p) as f:
        return {k: f[k] for k in f.files}


@functools.lru_cache(maxsize=16)
def _verified(path: str, size: int, mtime_ns: int, sha256: str | None, dataset: str) -> Path:
    """:func:`~catebench.datasets._files.verify`, once per file version (path, size, modification time)."""
    return verify(Path(path), sha256, dataset)


class IHDPNpz(Dataset):
    """IHDP-100 / IHDP-1000 from the standard ``ihdp_npci`` files, with their predefined 672/75 split.

    Parameters
    ----------
    size : {100, 1000}, default 100
        Which file pair (number of replications).
    part : {"both", "train", "test"}, default "both"
        ``"both"`` stacks train then test rows and sets ``CausalData.test_mask`` (use the ``"predefined"`` split);
        ``"train"`` / ``"test"`` load one file only.
    data_dir : str or None, default None
        Directory holding the files (or an ``ihdp/`` subdirectory holding them); ``None`` means
        ``$CATEBENCH_DATA`` or ``~/.cache/catebench``.
    allow_download : bool or None, default None
        Download a missing file from fredjo.com; ``None`` defers to ``CATEBENCH_ALLOW_DOWNLOAD``.

    Notes
    -----
    ``X`` is (n, 25) with n = 747 / 672 / 75; ``y0``, ``y1`` are the noisy potential outcomes rebuilt from
    ``yf`` / ``ycf``; ``mu0``, ``mu1`` are the noiseless surfaces.
    """

    version = "1"
    location_params = ("data_dir", "allow_download")

    def __init__(self, size=100, part="both", data_dir=None, allow_download=None):
        self.size = size
        self.part = part
        self.data_dir = data_dir
        self.allow_download = allow_download

    @property
    def name(self) -> str:  # type: ignore[override]
        return f"ihdp-{self.size}"

    @property
    def n_replications(self) -> int:
        self._check()
        return int(self.size)

    def _check(self):
        if self.size not in (100, 1000):
            raise ValueError(f"IHDPNpz size must be 100 or 1000; got {self.size!r}.")
        if self.part not in ("both", "train", "test"):
            raise ValueError(f"IHDPNpz part must be 'both', 'train' or 'test'; got {self.part!r}.")

    def path(self, part: str) -> Path:
        """Locate and verify the file of ``part`` ("train" or "test").

        A found file is verified once per process while its size and modification time stay the same, so a file
        without a pinned digest is warned about once, not once per replication (and is hashed once).
        """
        self._check()
        name = file_name(self.size, part)
        sha256 = IHDP_SHA256[(self.size, part)]
        found = find_file(data_dir(self.data_dir), "ihdp", [name, name + ".zip"])
        if found is not None:
            st = found.stat()
            return _verified(str(found), st.st_size, st.st_mtime_ns, sha256, self.name)
        return fetch_file(
            name,
            dataset=self.name,
            sha256=sha256,
            root=self.data_dir,
            subdir="ihdp",
            url=URL + name + (".zip" if self.size == 1000 else ""),
            allow_download=self.allow_download,
            alt_names=(name + ".zip",),
            how_to_obtain="The files are published at https://www.fredjo.com/ (Johansson et al. 2016).",
        )

    def _part(self, part: str, r: int) -> dict[str, np.ndarray]:
        arrs = load_npz(str(self.path(part)))
        missing = [k for k in KEYS if k not in arrs]
        if missing:
            raise ValueError(f"{self.name}: {self.path(part)} lacks keys {missing}.")
        if arrs["t"].shape[1] < r:
            raise ValueError(f"{self.name}: the {part} file holds {arrs['t'].shape[1]} replications, not {r}.")
        return {"x": arrs["x"][:, :, r - 1], **{k: arrs[k][:, r - 1] for k in KEYS[1:]}}

    def load(self, replication: int) -> CausalData:
        self.check_replication(replication)
        parts = ["train", "test"] if self.part == "both" else [self.part]
        blocks = [self._part(p, int(replication)) for p in parts]
        cat = {k: np.concatenate([b[k] for b in blocks]).astype(float) for k in KEYS}
        t = cat["t"]
        y0 = np.where(t == 1, cat["ycf"], cat["yf"])
        y1 = np.where(t == 1, cat["yf"], cat["ycf"])
        mask = None
        if self.part == "both":
            mask = np.zeros(len(t), bool)
            mask[len(blocks[0]["t"]) :] = True
        return CausalData(X=cat["x"], t=t, y=cat["yf"], mu0=cat["mu0"], mu1=cat["mu1"], y0=y0, y1=y1,
                          test_mask=mask, feature_names=list(COVARIATES))  # fmt: skip

    def card(self) -> DatasetCard:
        pinned = "sha256 pinned (causalml 0.18)" if self.size == 100 else "no pinned sha256 (used with a warning)"
        return DatasetCard(
            name=self.name,
            rows="747 = 672 train + 75 test (predefined split)",
            covariates="25 (6 continuous standardised, 19 binary)",
            replications=str(self.size),
            truth="noiseless mu (and noisy potential outcomes)",
            source=f"ihdp_npci_1-{self.size}.train/.test.npz, Johansson, Shalit & Sontag (2016), fredjo.com; {pinned}",
            licence="published with the cfrnet code (MIT); covariates from IHDP (Hill 2011)",
            offline=f"no: put the files in $CATEBENCH_DATA/ihdp (or allow_download=True)",
        )
