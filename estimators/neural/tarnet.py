"""TARNet and CFR (counterfactual regression) of Shalit, Johansson & Sontag (ICML 2017).

Defaults, how they were chosen, the evidence and the deviations from the authors' cfrnet code:
``docs/methods/tarnet-cfr.md``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..base import Tags
from ._nets import NeuralCATE, mlp
from .ipm import IPMS, ipm as ipm_penalty

__all__ = ["TARNet"]


class _TwoHeadNet(nn.Module):
    def __init__(self, d_in, rep_units, n_rep, head_units, n_head, activation, normalize_rep):
        super().__init__()
        self.rep, d = mlp(d_in, rep_units, n_rep, activation)
        self.normalize_rep = normalize_rep
        heads = []
        for _ in range(2):
            body, dh = mlp(d, head_units, n_head, activation)
            heads.append(nn.Sequential(body, nn.Linear(dh, 1)))
        self.head0, self.head1 = heads

    def representation(self, x):
        h = self.rep(x)
        if self.normalize_rep:
            h = h / torch.sqrt((h * h).sum(1, keepdim=True) + 1e-10)
        return h

    def outcomes(self, h):
        return self.head0(h).squeeze(1), self.head1(h).squeeze(1)


class TARNet(NeuralCATE):
    """TARNet / CFR: a shared representation Phi(x) with one outcome head per arm; CFR adds an IPM penalty.

    Loss on a minibatch: ``mean_i w_i (y_i - h_{t_i}(Phi(x_i)))^2 + alpha * IPM(Phi(x)|t=1, Phi(x)|t=0)`` with
    L2 weight decay on the heads' weight matrices. ``ipm="none"`` is TARNet; ``"wass"`` is CFR-WASS, ``"mmd-rbf"``
    / ``"mmd-lin"`` are CFR-MMD. Defaults follow Shalit et al. and their cfrnet IHDP setting where that fits a
    CPU budget.

    Parameters
    ----------
    ipm : {"none", "mmd-lin", "mmd-rbf", "wass"}, default "none"
        Imbalance penalty between treated and control representations (see :mod:`catebench.estimators.neural.ipm`).
    alpha : float, default 1.0
        Weight of the IPM penalty (cfrnet ``p_alpha``). Ignored when ``ipm="none"``.
    rbf_sigma : float, default 1.0
        Kernel bandwidth of the RBF MMD (on unit-norm representations, distances lie in [0, 2]).
    wass_lam : float, default 10.0
        Sinkhorn inverse regularisation relative to the mean transport cost (cfrnet ``wass_lambda``).
    wass_iterations : int, default 10
        Sinkhorn iterations (cfrnet ``wass_iterations``).
    n_rep_layers : int, default 3
        Representation layers (cfrnet ``n_in``).
    rep_units : int, default 200
        Units per representation layer (cfrnet ``dim_in``).
    n_head_layers : int, default 3
        Hidden layers per outcome head, before the linear output (cfrnet ``n_out``).
    head_units : int, default 100
        Units per head layer (cfrnet ``dim_out``).
    activation : {"elu", "relu", "tanh"}, default "elu"
    normalize_rep : bool, default True
        Divide each representation by its Euclidean norm (cfrnet ``normalization="divide"``), which fixes the
        scale the IPM sees.
    reweight : bool, default True
        Weight the factual loss by ``t / (2u) + (1 - t) / (2 (1 - u))``, u the treated share of the training rows
        (cfrnet ``reweight_sample=1``); the validation loss is weighted the same way.
    learning_rate : float, default 1e-3
        Adam step size (cfrnet ``lrate``).
    weight_decay : float, default 1e-4
        L2 penalty on the outcome heads' weight matrices (cfrnet ``p_lambda``).
    batch_size : int, default 100
        Minibatch size, as in the paper (cfrnet ``batch_size``); with IHDP's ~470 training rows, ~5 steps an epoch.
    max_epochs : int, default 300
        Upper bound on passes over the training rows (~1,400 Adam steps on IHDP; cfrnet runs 3,000 steps
        without early stopping). Kept for the CPU budget: a fit on IHDP takes seconds.
    patience : int, default 30
        Stop after this many epochs without an improvement of the validation factual loss; the best epoch's
        weights are restored.
    validation_fraction : float, default 0.3
        Share of the fit rows (stratified by arm) held out for early stopping; never test rows (the runner sets
        it from the split protocol: 63/27/10 gives 0.3). 0 disables early stopping (``max_epochs`` are run).
    standardize : bool, default True
        Centre and scale X columns and y with the training rows' mean and standard deviation (predictions are
        returned on the original scale).
    device : str, default "auto"
        ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:N"``.
    random_state : int or None, default None
        Seeds the initial weights, validation split and minibatch order.

    Attributes
    ----------
    net_ : torch.nn.Module
    train_idx_, val_idx_ : (n_train,), (n_val,) int arrays
        Positions, within the fit rows, of the training and validation rows.
    n_epochs_, best_epoch_ : int
    val_history_ : (n_epochs_,) float array
        Validation factual loss (standardised scale) after each epoch.
    """

    _tags = Tags(torch=True, uses_validation=True)

    def __init__(
        self,
        ipm: str = "none",
        alpha: float = 1.0,
        rbf_sigma: float = 1.0,
        wass_lam: float = 10.0,
        wass_iterations: int = 10,
        n_rep_layers: int = 3,
        rep_units: int = 200,
        n_head_layers: int = 3,
        head_units: int = 100,
        activation: str = "elu",
        normalize_rep: bool = True,
        reweight: bool = True,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        batch_size: int = 100,
        max_epochs: int = 300,
        patience: int = 30,
        validation_fraction: float = 0.3,
        standardize: bool = True,
        device: str = "auto",
        random_state: int | None = None,
    ):
        self.ipm = ipm
        self.alpha = alpha
        self.rbf_sigma = rbf_sigma
        self.wass_lam = wass_lam
        self.wass_iterations = wass_iterations
        self.n_rep_layers = n_rep_layers
        self.rep_units = rep_units
        self.n_head_layers = n_head_layers
        self.head_units = head_units
        self.activation = activation
        self.normalize_rep = normalize_rep
        self.reweight = reweight
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.standardize = standardize
        self.device = device
        self.random_state = random_state

    def _build(self, d_in: int) -> nn.Module:
        if self.ipm not in IPMS:
            raise ValueError(f"ipm must be one of {IPMS}; got {self.ipm!r}.")
        if not self.alpha >= 0:
            raise ValueError(f"alpha must be non-negative; got {self.alpha!r}.")
        return _TwoHeadNet(
            d_in, self.rep_units, self.n_rep_layers, self.head_units, self.n_head_layers, self.activation,
            self.normalize_rep,
        )  # fmt: skip

    def _outcomes(self, net, X):
        return net.outcomes(net.representation(X))

    def _loss(self, net, X, t, y, w):
        h = net.representation(X)
        mu0, mu1 = net.outcomes(h)
        loss = (w * (y - torch.where(t > 0.5, mu1, mu0)) ** 2).mean()
        if self.ipm != "none" and self.alpha > 0:
            treated = t > 0.5
            if treated.any() and (~treated).any():
                loss = loss + self.alpha * ipm_penalty(
                    self.ipm, h[treated], h[~treated], sigma=self.rbf_sigma, lam=self.wass_lam,
                    iterations=self.wass_iterations,
                )  # fmt: skip
        return loss

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        return {"rep_units": 16, "head_units": 8, "n_rep_layers": 2, "n_head_layers": 1, "max_epochs": 5,
                "patience": 2, "device": "cpu"}  # fmt: skip

    @classmethod
    def search_space(cls, params: dict[str, Any] | None = None) -> dict[str, list[Any]]:
        """Grid for tuned runs (:mod:`catebench.benchmark.tuning`), a CPU-sized version of Shalit et al.'s (2017) search:

        representation width ``rep_units`` in {50, 100, 200} and depth ``n_rep_layers`` in {1, 2, 3}, head width
        ``head_units`` in {50, 100} and depth ``n_head_layers`` in {1, 2, 3}, ``learning_rate`` in {3e-4, 1e-3,
        3e-3}, ``weight_decay`` in {1e-4, 1e-3}; for CFR (``ipm`` not ``"none"``) also the IPM weight ``alpha``
        in {0.01, 0.1, 0.3, 1, 3} (cfrnet's ``p_alpha``, searched on a log grid in the paper) and, for
        ``"mmd-rbf"``, the kernel bandwidth ``rbf_sigma`` in {0.1, 0.3, 1, 3} (representations have unit norm,
        so distances lie in [0, 2]). The grid was fixed a priori, not on any test rows.
        """
        ipm = (params or {}).get("ipm", "none")
        space: dict[str, list[Any]] = {
            "rep_units": [50, 100, 200], "n_rep_layers": [1, 2, 3], "head_units": [50, 100],
            "n_head_layers": [1, 2, 3], "learning_rate": [3e-4, 1e-3, 3e-3], "weight_decay": [1e-4, 1e-3],
        }  # fmt: skip
        if ipm != "none":
            space["alpha"] = [0.01, 0.1, 0.3, 1.0, 3.0]
        if ipm == "mmd-rbf":
            space["rbf_sigma"] = [0.1, 0.3, 1.0, 3.0]
        return space
