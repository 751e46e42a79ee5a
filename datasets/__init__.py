"""catebench datasets: replications of (X, t, y) with known potential outcomes.

``BUILTIN`` maps each registered name to ``(target "module:Class", parameters, one-line summary)``.
"""

_LAZY = {
    "base": ("CausalData", "Dataset", "DatasetCard", "DatasetUnavailable", "derive_seed"),
    "splits": ("SPLITS", "Split", "get_split", "split_indices"),
}


def __getattr__(name: str):
    # Loaded on first use, so that reading BUILTIN (``catebench list``) imports neither numpy nor scikit-learn;
    # ``from catebench.datasets import Dataset`` works as before.
    for module, names in _LAZY.items():
        if name in names:
            import importlib

            return getattr(importlib.import_module(f".{module}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CausalData", "Dataset", "DatasetCard", "DatasetUnavailable", "derive_seed",
    "SPLITS", "Split", "get_split", "split_indices", "BUILTIN",
]  # fmt: skip

BUILTIN: dict[str, tuple[str, dict, str]] = {
    "ihdp": ("catebench.datasets.ihdp:IHDP", {}, "IHDP, offline: econml's covariates, NPCI setting A outcomes"),
    "ihdp-100": ("catebench.datasets.ihdp_npz:IHDPNpz", {"size": 100}, "IHDP-100 standard npz files (672/75 predefined split), sha256-pinned"),
    "ihdp-1000": ("catebench.datasets.ihdp_npz:IHDPNpz", {"size": 1000}, "IHDP-1000 standard npz files (672/75 predefined split)"),
    "acic2016": ("catebench.datasets.acic2016:ACIC2016", {}, "ACIC 2016: replication r = setting r (1-77); settings 1-10 offline via causallib"),
    "acic2018": ("catebench.datasets.acic2018:ACIC2018", {}, "ACIC 2018 / IBM LBIDD from a user directory (not redistributable)"),
    "twins": ("catebench.datasets.twins:Twins", {}, "Twins mortality, both potential outcomes observed, seeded GANITE assignment"),
    "toy-1d": ("catebench.datasets.synthetic:Toy1D", {}, "IWDD paper's 1-D toy: z = 1{x < -1} in training, randomized test rows"),
    "synthetic": ("catebench.datasets.synthetic:Synthetic", {}, "controllable design: n, d, overlap, confounding, heterogeneity, non-linearity, noise"),
    "nie-wager-a": ("catebench.datasets.synthetic:NieWager", {"setup": "A"}, "Nie & Wager setup A: hard nuisance, easy effect"),
    "nie-wager-b": ("catebench.datasets.synthetic:NieWager", {"setup": "B"}, "Nie & Wager setup B: randomized trial"),
    "nie-wager-c": ("catebench.datasets.synthetic:NieWager", {"setup": "C"}, "Nie & Wager setup C: strong confounding, constant effect"),
    "nie-wager-d": ("catebench.datasets.synthetic:NieWager", {"setup": "D"}, "Nie & Wager setup D: unrelated treatment and control arms"),
}
