"""Shared pieces of the neural CATE estimators: layers, the validation split and the training loop.

:class:`NeuralCATE` is the common base: subclasses build a torch module (``_build``), compute a training loss
for a minibatch (``_loss``) and the factual predictions used for early stopping and prediction (``_outcomes``).
The loop (Adam, minibatches, early stopping on the validation rows' factual loss, best weights restored) is the
same for all.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from ..base import CATEEstimator, seed_from
from .._torch import local_torch_seed, resolve_device, to_tensor

__all__ = ["NeuralCATE", "mlp", "ACTIVATIONS", "validation_split"]

ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU, "tanh": nn.Tanh}


def mlp(d_in: int, units: int, n_layers: int, activation: str) -> tuple[nn.Sequential, int]:
    """``n_layers`` fully connected layers of ``units`` with ``activation`` after each; returns (module, d_out).

    ``n_layers = 0`` gives the identity."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}.")
    layers: list[nn.Module] = []
    d = d_in
    for _ in range(n_layers):
        layers += [nn.Linear(d, units), ACTIVATIONS[activation]()]
        d = units
    return nn.Sequential(*layers), d


def validation_split(t: np.ndarray, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Stratified (by arm) random split of the fit rows into (train_idx, val_idx), sorted index arrays.

    Each arm puts ``round(fraction * n_arm)`` rows in validation, at least one when ``fraction > 0`` and at
    least one row of the arm stays in training. ``fraction = 0`` gives an empty validation set."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation_fraction must be in [0, 1); got {fraction!r}.")
    train, val = [], []
    for arm in (0.0, 1.0):
        idx = np.flatnonzero(t == arm)
        idx = idx[rng.permutation(len(idx))]
        n_val = 0 if fraction == 0 else min(max(int(round(fraction * len(idx))), 1), len(idx) - 1)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _check_params(est: "NeuralCATE") -> None:
    def pos_int(name, allow_zero=False):
        v = getattr(est, name)
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < (0 if allow_zero else 1):
            raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} integer; got {v!r}.")

    for name in ("rep_units", "head_units", "batch_size", "max_epochs"):
        pos_int(name)
    for name in ("n_rep_layers", "n_head_layers", "patience"):
        pos_int(name, allow_zero=True)
    for name in ("learning_rate",):
        if not getattr(est, name) > 0:
            raise ValueError(f"{name} must be positive; got {getattr(est, name)!r}.")
    if not est.weight_decay >= 0:
        raise ValueError(f"weight_decay must be non-negative; got {est.weight_decay!r}.")


class NeuralCATE(CATEEstimator):
    """Base class of the torch estimators (not registered itself). See the subclasses for the parameters."""

    # set by subclasses
    def _build(self, d_in: int) -> nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def _loss(self, net, X, t, y, w) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _outcomes(self, net, X) -> tuple[torch.Tensor, torch.Tensor]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _head_parameters(self, net) -> list[nn.Parameter]:
        """Parameters that get ``weight_decay`` (the outcome heads' weight matrices, as in cfrnet)."""
        return [p for n, p in net.named_parameters() if n.startswith(("head0", "head1")) and p.ndim == 2]

    # ---- fitting ----------------------------------------------------------------------------------------
    def _sample_weights(self, t: np.ndarray) -> np.ndarray:
        if not self.reweight:
            return np.ones_like(t)
        u = t.mean()
        return t / (2 * u) + (1 - t) / (2 * (1 - u))

    def _factual_loss(self, net, X, t, y, w) -> torch.Tensor:
        mu0, mu1 = self._outcomes(net, X)
        pred = torch.where(t > 0.5, mu1, mu0)
        return (w * (y - pred) ** 2).mean()

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        _check_params(self)
        device = resolve_device(self.device)
        seed = seed_from(self.random_state)
        rng = np.random.default_rng(seed)
        train_idx, val_idx = validation_split(t, float(self.validation_fraction), rng)
        if len(np.unique(t[train_idx])) < 2:
            raise ValueError("the training rows (after holding out validation rows) lack one treatment arm.")
        # scaling from the training rows only
        if self.standardize:
            self.x_mean_ = X[train_idx].mean(0)
            self.x_scale_ = X[train_idx].std(0)
            self.x_scale_[self.x_scale_ == 0] = 1.0
            self.y_mean_ = float(y[train_idx].mean())
            self.y_scale_ = float(y[train_idx].std()) or 1.0
        else:
            self.x_mean_, self.x_scale_ = np.zeros(X.shape[1]), np.ones(X.shape[1])
            self.y_mean_, self.y_scale_ = 0.0, 1.0
        Xs = to_tensor((X - self.x_mean_) / self.x_scale_, device)
        ys = to_tensor((y - self.y_mean_) / self.y_scale_, device)
        tt = to_tensor(t, device)
        w = to_tensor(self._sample_weights(t[train_idx]), device)  # weights use the training arm shares
        w_all = torch.ones_like(tt)
        w_all[torch.as_tensor(train_idx, device=device)] = w
        if len(val_idx):
            u = t[train_idx].mean()
            if self.reweight:
                w_all[torch.as_tensor(val_idx, device=device)] = to_tensor(
                    t[val_idx] / (2 * u) + (1 - t[val_idx]) / (2 * (1 - u)), device
                )
        tr = torch.as_tensor(train_idx, device=device)
        va = torch.as_tensor(val_idx, device=device)

        with local_torch_seed(seed, device):
            net = self._build(X.shape[1]).to(device)
            decay = self._head_parameters(net)
            decay_ids = {id(p) for p in decay}
            rest = [p for p in net.parameters() if id(p) not in decay_ids]
            opt = torch.optim.Adam(
                [{"params": decay, "weight_decay": self.weight_decay}, {"params": rest, "weight_decay": 0.0}],
                lr=self.learning_rate,
            )
            best_loss, best_state, best_epoch, bad = np.inf, None, 0, 0
            history: list[float] = []
            n_tr, bs = len(train_idx), int(self.batch_size)
            epoch = 0
            for epoch in range(1, int(self.max_epochs) + 1):
                net.train()
                order = tr[torch.as_tensor(rng.permutation(n_tr), device=device)]
                for s in range(0, n_tr, bs):
                    b = order[s : s + bs]
                    if len(b) < 2:
                        continue
                    opt.zero_grad(set_to_none=True)
                    loss = self._loss(net, Xs[b], tt[b], ys[b], w_all[b])
                    loss.backward()
                    opt.step()
                if len(val_idx) == 0:
                    continue
                net.eval()
                with torch.no_grad():
                    vl = float(self._factual_loss(net, Xs[va], tt[va], ys[va], w_all[va]))
                history.append(vl)
                if not np.isfinite(vl):
                    raise FloatingPointError(f"validation loss became {vl} at epoch {epoch}; lower learning_rate.")
                if vl < best_loss - 1e-7:
                    best_loss, best_epoch, bad = vl, epoch, 0
                    best_state = copy.deepcopy(net.state_dict())
                else:
                    bad += 1
                    if bad > self.patience:
                        break
            if best_state is not None:
                net.load_state_dict(best_state)
        net.eval()
        self.net_ = net
        self.device_ = device
        self.train_idx_, self.val_idx_ = train_idx, val_idx
        self.n_epochs_ = epoch
        self.best_epoch_ = best_epoch if len(val_idx) else epoch
        self.val_history_ = np.asarray(history)
        self.best_val_loss_ = float(best_loss) if len(val_idx) else float("nan")

    # ---- prediction -------------------------------------------------------------------------------------
    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Xs = to_tensor((X - self.x_mean_) / self.x_scale_, self.device_)
        with torch.no_grad():
            mu0, mu1 = self._predict_outcomes(self.net_, Xs)
        mu0 = mu0.cpu().numpy().astype(float) * self.y_scale_ + self.y_mean_
        mu1 = mu1.cpu().numpy().astype(float) * self.y_scale_ + self.y_mean_
        return mu0, mu1

    def _predict_outcomes(self, net, X) -> tuple[torch.Tensor, torch.Tensor]:
        return self._outcomes(net, X)

    def __getstate__(self) -> dict[str, Any]:
        # pickle on CPU so that a fit on CUDA can be loaded on a machine without one
        state = super().__getstate__()
        state = dict(state) if isinstance(state, dict) else self.__dict__.copy()
        if "net_" in state:
            state["net_"] = copy.deepcopy(state["net_"]).to("cpu")
            state["device_"] = torch.device("cpu")
        return state
