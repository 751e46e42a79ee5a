"""Local data files: the user data directory, sha256 verification and an optional, opt-in download.

Nothing here touches the network unless the caller passes ``allow_download=True`` or the environment sets
``CATEBENCH_ALLOW_DOWNLOAD=1``. Every missing file raises :class:`~catebench.datasets.base.DatasetUnavailable` with a message
that names the file, its expected sha256 (when pinned) and the directory to put it in.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from pathlib import Path

from .base import DatasetUnavailable

__all__ = ["data_dir", "sha256_of", "find_file", "fetch_file", "download_allowed", "DatasetUnavailable"]

ENV_DATA = "CATEBENCH_DATA"
ENV_DOWNLOAD = "CATEBENCH_ALLOW_DOWNLOAD"


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The user data directory.

    Parameters
    ----------
    path : str or path-like or None, default None
        An explicit directory; ``None`` means ``$CATEBENCH_DATA`` when set, else ``~/.cache/catebench``.
    """
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(ENV_DATA)
    return Path(env).expanduser() if env else Path("~/.cache/catebench").expanduser()


def download_allowed(allow_download: bool | None = None) -> bool:
    """Whether a download may happen: the argument when given, else ``CATEBENCH_ALLOW_DOWNLOAD`` is ``1``/``true``."""
    if allow_download is not None:
        return bool(allow_download)
    return os.environ.get(ENV_DOWNLOAD, "").strip().lower() in {"1", "true", "yes"}


def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _candidates(root: Path, subdir: str | None, names: list[str]) -> list[Path]:
    dirs = [root / subdir, root] if subdir else [root]
    return [d / n for d in dirs for n in names]


def find_file(root: Path, subdir: str | None, names: list[str]) -> Path | None:
    """The first existing ``root/subdir/name`` or ``root/name`` over ``names`` (in order); ``None`` if none."""
    for p in _candidates(root, subdir, names):
        if p.is_file():
            return p
    return None


def verify(path: Path, sha256: str | None, dataset: str) -> Path:
    """Check ``path`` against ``sha256``; with no pinned digest, warn and name the file's digest instead."""
    digest = sha256_of(path)
    if sha256 is None:
        warnings.warn(
            f"{dataset}: no pinned sha256 for {path.name}; using {path} with sha256 {digest} unverified.",
            UserWarning,
            stacklevel=3,
        )
    elif digest != sha256:
        raise ValueError(
            f"{dataset}: {path} has sha256 {digest}, expected {sha256}. The file is not the standard one "
            f"(corrupt or another version); replace it."
        )
    return path


def fetch_file(
    name: str,
    *,
    dataset: str,
    sha256: str | None,
    root: str | os.PathLike | None = None,
    subdir: str | None = None,
    url: str | None = None,
    allow_download: bool | None = None,
    alt_names: tuple[str, ...] = (),
    how_to_obtain: str = "",
) -> Path:
    """Locate (and verify) a data file, downloading it only when allowed.

    Parameters
    ----------
    name : str
        The standard file name, e.g. ``"ihdp_npci_1-100.test.npz"``.
    dataset : str
        Dataset name, for messages.
    sha256 : str or None
        Pinned hex digest; ``None`` when no digest is pinned (the file is then used with a warning).
    root : path-like or None, default None
        The data directory (see :func:`data_dir`).
    subdir : str or None, default None
        Subdirectory of ``root`` searched first (``root`` itself is searched too).
    url : str or None, default None
        Where to download from when allowed.
    allow_download : bool or None, default None
        ``None`` defers to ``CATEBENCH_ALLOW_DOWNLOAD``.
    alt_names : tuple of str, default ()
        Other accepted file names (e.g. a differently capitalised copy); verified against the same digest.
    how_to_obtain : str, default ""
        Extra sentence for the error message.

    Returns
    -------
    Path of the verified file.
    """
    base = data_dir(root)
    found = find_file(base, subdir, [name, *alt_names])
    if found is not None:
        return verify(found, sha256, dataset)
    target_dir = base / subdir if subdir else base
    if url is not None and download_allowed(allow_download):
        return verify(_download(url, target_dir / name), sha256, dataset)
    digest = f"sha256 {sha256}" if sha256 else "no pinned sha256"
    hint = f" Download it from {url} yourself, or allow catebench to (allow_download=True or {ENV_DOWNLOAD}=1)." if url else ""
    raise DatasetUnavailable(
        f"{dataset}: file {name} ({digest}) not found; put it in {target_dir} "
        f"(or set {ENV_DATA} / data_dir to the directory that holds it).{hint} {how_to_obtain}".rstrip()
    )


def _download(url: str, dest: Path) -> Path:  # pragma: no cover - network, opt-in only
    import urllib.request

    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, delete=False) as tmp, urllib.request.urlopen(url, timeout=60) as r:
        shutil.copyfileobj(r, tmp)
    os.replace(tmp.name, dest)
    return dest
