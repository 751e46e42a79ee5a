"""catebench datasets: replications of (X, t, y) with known potential outcomes.

``BUILTIN`` maps each registered name to ``(target "module:Class", parameters, one-line summary)``.
"""

from .base import CausalData, Dataset, DatasetCard, DatasetUnavailable, derive_seed
from .splits import SPLITS, Split, get_split, split_indices

__all__ = [
    "CausalData", "Dataset", "DatasetCard", "DatasetUnavailable", "derive_seed",
    "SPLITS", "Split", "get_split", "split_indices", "BUILTIN",
]  # fmt: skip

BUILTIN: dict[str, tuple[str, dict, str]] = {
    "ihdp": ("datasets.ihdp:IHDP", {}, "IHDP, offline: econml's covariates, NPCI setting A outcomes"),
}
