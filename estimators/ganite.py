"""GANITE (Yoon, Jordon and van der Schaar, ICLR 2018): generative adversarial nets for individualized treatment effects.

Two blocks, trained one after the other:

1. *Counterfactual block.* A generator G(x, t, y_f, z_G) outputs both potential outcomes (y~0, y~1); the factual
   one is replaced by the observed y to form the completed vector y_bar. A discriminator D(x, y_bar) tries to tell
   which component is the factual one (a logit for "arm 1 is factual", cross-entropy against t). G minimises the
   negative of D's loss plus ``alpha`` times the squared error of its factual component.
2. *ITE block.* A generator I(x, z_I) outputs (y^0, y^1) and learns, by squared error, the completed vectors y_bar
   drawn from the fitted counterfactual block (observed y for the factual arm, a fresh G draw for the other).

Noise: z_G, z_I ~ U(-1, 1)^k with k = ``noise_dim`` (the paper's k = 2 for two treatments). ``predict`` returns the
mean of I(x, z_I) over ``n_predict_samples`` noise draws; ``sample`` returns I(x, z_I) for independent z_I draws,
the same z_I for both arms. What the draws mean: I is trained by squared error towards G's completions, so its
draws spread only as far as I's output still depends on its noise input; they are *not* calibrated draws of the
outcome noise (on IHDP their spread is far below the noise sd 1: see ``results/generative_ihdp/summary.md``), and
they carry no outcome-noise term. The paper's optional adversarial loss for the ITE block (a second
discriminator on (x, y^0, y^1)) is not implemented, as in the authors' public code.

Model selection on validation rows only: after each evaluation interval of the counterfactual block, the squared
error of G's factual component on the validation rows; of the ITE block, the squared error of I's factual
component (mean over the noise) against the observed validation outcomes. The best weights of each block are
restored (patience in evaluations).

Departures from the paper / the authors' public code, and why: continuous outcomes use squared error (the public
code's cross-entropies are for binary outcomes), y is standardised; the counterfactual generator receives noise as
in the paper (the public code drops it); the supervised ITE loss weighs the factual and the counterfactual
component equally (the paper's ``beta`` is for the unimplemented adversarial term).

Defaults and how they were chosen: ``alpha`` = 1, batch size 128 and k = 2 follow the paper. Two hidden layers of
64 ELU units per network, Adam with learning rate 1e-3, at most 3000 iterations per block, a check every 50
iterations and patience 10 were set for the CPU budget (fit plus predict no slower than ``diffusion-teacher``) and
checked on IHDP development replications 101-102 (never 1-100, never test rows): sqrt-PEHE 1.2-2.4, both blocks
stopped early (best iterations 250-400, stopped after 800-950), so the budget does not bind. ``alpha`` was
checked afterwards on replications 101-105 (one fit each, default otherwise): mean out-of-sample sqrt-PEHE 1.92 /
2.57 / 3.93 and mean absolute test-row ATE error 0.83 / 1.26 / 1.40 for alpha 1 / 10 / 100, median sd(tau_hat) /
sd(tau) 0.79 / 0.47 / 0.17: a heavier factual loss shrinks the effect more, so the paper's alpha = 1 stays and the
gap to the published ATE error (``results/generative_ihdp/summary.md``) is not a matter of this weight.

Timing: fit + predict on IHDP replication 101 (split 63/27/10), side by side with ``diffusion-teacher`` in one
process on one torch thread, two interleaved rounds (2026-11-29, 13:37-13:56 UTC, load average 23-30 on the
shared 2 cores): GANITE 86 and 51 s, the teacher 521 and 109 s (ratios 0.17 and 0.47). Regenerate with
``python -m studies.generative_ihdp --timing 2``.
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
