"""GANITE (Yoon, Jordon and van der Schaar, ICLR 2018): generative adversarial nets for individualized treatment effects.

Two blocks, trained one after the other. The counterfactual block: a generator G(x, t, y_f, z_G) outputs both
potential outcomes, the factual one is replaced by the observed y, and a discriminator tells which component is
factual; G also minimises ``alpha`` times its factual squared error. The ITE block: a generator I(x, z_I) learns,
by squared error, the completed outcome vectors drawn from the fitted counterfactual block. Noise is U(-1, 1)^k,
k = ``noise_dim``. ``predict`` is the mean of I(x, z_I) over ``n_predict_samples`` draws; ``sample`` returns
I(x, z_I) for independent z_I, the same for both arms. These draws are not calibrated outcome noise: they spread
only as far as I's output depends on its noise input. Each block keeps its best weights by the factual squared
error on the validation rows.

Departures from the paper and the authors' code: squared error for continuous outcomes, noise for the
counterfactual generator, no adversarial ITE loss. Defaults: the paper's alpha, batch and k; network size,
learning rate and iteration budget set for the CPU budget and checked on IHDP development replications 101-105.
The evidence for each: ``docs/methods/ganite.md``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ._generative import (EarlyStopping, GenerativeTorchBase, check_positive_float, check_positive_int, in_unit_chunks,
                          row_noise)
from ._torch import local_torch_seed, to_tensor
from .base import Tags, seed_from
from .neural._nets import mlp

__all__ = ["GANITE"]


def _net(d_in: int, units: int, n_layers: int, d_out: int) -> nn.Sequential:
    body, d = mlp(d_in, units, n_layers, "elu")
    return nn.Sequential(body, nn.Linear(d, d_out))


class GANITE(GenerativeTorchBase):
    """GANITE: counterfactual generator + discriminator, then an ITE generator trained on the completed outcomes.

    Parameters
    ----------
    units : int, default 64
        Hidden units per layer (G, D and I).
    n_layers : int, default 2
        Hidden layers per network.
    noise_dim : int, default 2
        Dimension k of the uniform noise of G and I.
    alpha : float, default 1.0
        Weight of G's factual squared error beside its adversarial loss.
    learning_rate : float, default 1e-3
    batch_size : int, default 128
    max_iterations : int, default 3000
        Upper bound on Adam iterations of each block (counterfactual, then ITE).
    eval_every : int, default 50
        Iterations between validation checks.
    patience : int, default 10
        Validation checks without improvement before a block stops.
    n_predict_samples : int, default 50
        Noise draws behind ``predict``.
    validation_fraction : float, default 0.3
        Share of the fit rows (stratified by arm) held out for model selection; the runner sets it from the split
        protocol. 0 disables it (``max_iterations`` are run).
    device : str, default "auto"
    random_state : int or None, default None

    Attributes
    ----------
    generator_, discriminator_, ite_ : torch.nn.Module
    n_iterations_ : (2,) int array
        Iterations run by the counterfactual and the ITE block.
    best_iteration_ : (2,) int array
    val_history_g_, val_history_i_ : float arrays
        Validation factual losses at each check.
    train_idx_, val_idx_ : int arrays
    """

    _tags: ClassVar[Tags] = Tags(generative=True, torch=True, uses_validation=True)

    def __init__(
        self,
        units: int = 64,
        n_layers: int = 2,
        noise_dim: int = 2,
        alpha: float = 1.0,
        learning_rate: float = 1e-3,
        batch_size: int = 128,
        max_iterations: int = 3000,
        eval_every: int = 50,
        patience: int = 10,
        n_predict_samples: int = 50,
        validation_fraction: float = 0.3,
        device: str = "auto",
        random_state: int | None = None,
    ):
        self.units = units
        self.n_layers = n_layers
        self.noise_dim = noise_dim
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_iterations = max_iterations
        self.eval_every = eval_every
        self.patience = patience
        self.n_predict_samples = n_predict_samples
        self.validation_fraction = validation_fraction
        self.device = device
        self.random_state = random_state

    # ---- pieces -----------------------------------------------------------------------------------------
    def _noise(self, n: int, gen: torch.Generator) -> torch.Tensor:
        return torch.rand(n, int(self.noise_dim), generator=gen, device=self.device_) * 2.0 - 1.0

    @staticmethod
    def _factual(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return out[:, 0] * (1 - t) + out[:, 1] * t

    @staticmethod
    def _complete(out: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """y_bar (n, 2): the observed y in the factual component, the generated one in the other."""
        y0 = torch.where(t > 0.5, out[:, 0], y)
        y1 = torch.where(t > 0.5, y, out[:, 1])
        return torch.stack([y0, y1], 1)

    def _g(self, G, x, t, y, z):
        return G(torch.cat([x, t.reshape(-1, 1), y.reshape(-1, 1), z], 1))

    # ---- fitting ----------------------------------------------------------------------------------------
    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        check_positive_int(self, "units", "noise_dim", "batch_size", "max_iterations", "eval_every",
                           "n_predict_samples")
        check_positive_int(self, "n_layers", "patience", allow_zero=True)
        check_positive_float(self, "learning_rate")
        check_positive_float(self, "alpha", allow_zero=True)
        d = self._prepare(X, t, y)
        x, tt, ys, tr, va, dev = d["x"], d["t"], d["y"], d["tr"], d["va"], self.device_
        p, k, u, L = X.shape[1], int(self.noise_dim), int(self.units), int(self.n_layers)
        n_tr, bs = len(tr), min(int(self.batch_size), len(tr))
        lr = float(self.learning_rate)
        n_iter = [0, 0]
        with local_torch_seed(d["seed"], dev) as gen:
            G = _net(p + 2 + k, u, L, 2).to(dev)
            D = _net(p + 2, u, L, 1).to(dev)
            I = _net(p + k, u, L, 2).to(dev)
            v_zg = self._noise(len(va), gen)
            v_zi = self._noise(len(va) * 8, gen)  # 8 fixed noise draws per validation row for I's check

            # 1. counterfactual block: G against D
            opt_g = torch.optim.Adam(G.parameters(), lr=lr)
            opt_d = torch.optim.Adam(D.parameters(), lr=lr)
            stop_g = EarlyStopping({"G": G}, int(self.patience))
            for it in range(1, int(self.max_iterations) + 1):
                b = tr[torch.randint(n_tr, (bs,), generator=gen, device=dev)]
                xb, tb, yb = x[b], tt[b], ys[b]
                # discriminator step
                with torch.no_grad():
                    ybar = self._complete(self._g(G, xb, tb, yb, self._noise(bs, gen)), tb, yb)
                d_loss = F.binary_cross_entropy_with_logits(D(torch.cat([xb, ybar], 1))[:, 0], tb)
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
                # generator step
                out = self._g(G, xb, tb, yb, self._noise(bs, gen))
                ybar = self._complete(out, tb, yb)
                g_adv = -F.binary_cross_entropy_with_logits(D(torch.cat([xb, ybar], 1))[:, 0], tb)
                g_loss = g_adv + float(self.alpha) * ((self._factual(out, tb) - yb) ** 2).mean()
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_g.step()
                n_iter[0] = it
                if len(va) and it % int(self.eval_every) == 0:
                    with torch.no_grad():
                        vo = self._g(G, x[va], tt[va], ys[va], v_zg)
                        vl = float(((self._factual(vo, tt[va]) - ys[va]) ** 2).mean())
                    if stop_g.update(vl, it):
                        break
            stop_g.restore()
            G.eval()

            # 2. ITE block: I learns the completed vectors from the fitted counterfactual block
            opt_i = torch.optim.Adam(I.parameters(), lr=lr)
            stop_i = EarlyStopping({"I": I}, int(self.patience))
            va8 = va.repeat(8)
            for it in range(1, int(self.max_iterations) + 1):
                b = tr[torch.randint(n_tr, (bs,), generator=gen, device=dev)]
                xb, tb, yb = x[b], tt[b], ys[b]
                with torch.no_grad():
                    ybar = self._complete(self._g(G, xb, tb, yb, self._noise(bs, gen)), tb, yb)
                out = I(torch.cat([xb, self._noise(bs, gen)], 1))
                i_loss = ((out - ybar) ** 2).mean()
                opt_i.zero_grad(set_to_none=True)
                i_loss.backward()
                opt_i.step()
                n_iter[1] = it
                if len(va) and it % int(self.eval_every) == 0:
                    with torch.no_grad():
                        vo = I(torch.cat([x[va8], v_zi], 1))
                        f = self._factual(vo, tt[va8]).reshape(8, -1).mean(0)
                        vl = float(((f - ys[va]) ** 2).mean())
                    if stop_i.update(vl, it):
                        break
            stop_i.restore()
            I.eval()
            D.eval()
        self.generator_, self.discriminator_, self.ite_ = G, D, I
        self.n_iterations_ = np.array(n_iter)
        self.best_iteration_ = np.array([stop_g.best_epoch, stop_i.best_epoch]) if len(va) else np.array(n_iter)
        self.val_history_g_ = np.asarray(stop_g.history)
        self.val_history_i_ = np.asarray(stop_i.history)

    # ---- prediction -------------------------------------------------------------------------------------
    @torch.no_grad()
    def _draws(self, X: np.ndarray, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        return in_unit_chunks(X, n_samples, lambda Xc: self._draws_chunk(Xc, n_samples, seed))

    def _draws_chunk(self, X: np.ndarray, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        n, S = X.shape[0], n_samples
        x = self._x_tensor(X).repeat_interleave(S, dim=0)  # unit-major: row i * S + s
        # each unit's noise comes from its own generator (batch-independent draws)
        z = to_tensor(row_noise(X, seed, (S, int(self.noise_dim)), kind="uniform").reshape(n * S, -1), self.device_)
        out = self.ite_(torch.cat([x, z], 1))
        return self._unscale(out[:, 0]).reshape(n, S), self._unscale(out[:, 1]).reshape(n, S)

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y0, y1 = self._draws(X, int(self.n_predict_samples), seed_from(self.random_state, 1))
        return y0.mean(1), y1.mean(1)

    def _sample(self, X: np.ndarray, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        return self._draws(X, n_samples, seed_from(self.random_state, 2))

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        return {"units": 16, "n_layers": 1, "max_iterations": 40, "eval_every": 10, "patience": 2,
                "n_predict_samples": 8, "device": "cpu"}
