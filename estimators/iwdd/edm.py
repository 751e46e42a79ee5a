"""Conditional EDM diffusion model of a scalar outcome p(y | x, z) (Karras et al. 2022).

The outcome is standardised by the caller so that its scale matches ``SIGMA_DATA``. The condition
``c = [x, z]`` is an explicit argument of every call (training, sampling and distillation use the same
:meth:`EDMPrecond.forward`), and the noise level enters through a continuous sinusoidal embedding of
``c_noise = log(sigma) / 4`` (never rounded).
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = [
    "SIGMA_DATA", "P_MEAN", "P_STD", "SIGMA_MIN", "SIGMA_MAX", "RHO",
    "make_condition", "NoiseEmbedding", "ResidualMLPDenoiser", "EDMPrecond", "edm_loss", "karras_sigmas",
    "heun_sample",
]

#: Standard deviation of the (standardised) data, EDM's sigma_data.
SIGMA_DATA = 0.5
#: Training noise levels: log(sigma) ~ N(P_MEAN, P_STD^2).
P_MEAN, P_STD = -1.2, 1.2
#: Sampling noise range and the Karras schedule's exponent.
SIGMA_MIN, SIGMA_MAX, RHO = 0.002, 80.0, 7.0


def make_condition(x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """The one condition layout used in every stage: ``[x, z]``, shape (n, d + 1); z is the last column.

    Parameters
    ----------
    x : (n, d) float tensor
    z : (n,) float tensor of 0 / 1
    """
    if x.ndim != 2 or z.shape != (x.shape[0],):
        raise ValueError(f"make_condition expects x (n, d) and z (n,); got {tuple(x.shape)} and {tuple(z.shape)}.")
    return torch.cat([x, z.reshape(-1, 1).to(x.dtype)], dim=1)


class NoiseEmbedding(nn.Module):
    """Sinusoidal embedding of the continuous noise input ``c_noise`` (n,) -> (n, dim).

    Frequencies are fixed and log-spaced between 1 and ``max_freq`` (radians per unit of c_noise), so that the
    range of c_noise used in practice (about -1.6 to 1.1) is resolved finely; no rounding anywhere.
    """

    def __init__(self, dim: int = 32, max_freq: float = 64.0):
        super().__init__()
        if dim < 2 or dim % 2:
            raise ValueError(f"NoiseEmbedding dim must be an even integer >= 2; got {dim!r}.")
        freqs = torch.exp(torch.linspace(0.0, math.log(max_freq), dim // 2))
        self.register_buffer("freqs", freqs)

    def forward(self, c_noise: torch.Tensor) -> torch.Tensor:
        arg = c_noise.reshape(-1, 1).to(self.freqs.dtype) * self.freqs
        return torch.cat([torch.cos(arg), torch.sin(arg)], dim=1)


class _ResBlock(nn.Module):
    def __init__(self, width: int, ctx_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.ctx = nn.Linear(ctx_dim, width)
        self.fc2 = nn.Linear(width, width)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, h: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
        a = torch.nn.functional.silu(self.fc1(self.norm(h)) + self.ctx(ctx))
        return h + self.fc2(a)


class ResidualMLPDenoiser(nn.Module):
    """The raw network F(c_in * y, c_noise, c) of EDM: a residual MLP with one output head per arm.

    The context ``[c, embedding(c_noise)]`` enters the input layer and every residual block. The last column of
    ``c`` (the treatment z) selects between two linear output heads (TARNet-style), so that the arms share a
    representation but do not have to share their last layer.

    Parameters
    ----------
    cond_dim : int
        Width of the condition c = [x, z] (d + 1).
    width : int
        Hidden width.
    n_blocks : int
        Number of residual blocks.
    emb_dim : int
        Width of the noise embedding.
    """

    def __init__(self, cond_dim: int, width: int = 128, n_blocks: int = 3, emb_dim: int = 32):
        super().__init__()
        self.cond_dim = cond_dim
        self.embed = NoiseEmbedding(emb_dim)
        ctx_dim = cond_dim + emb_dim
        self.inp = nn.Linear(1 + ctx_dim, width)
        self.blocks = nn.ModuleList(_ResBlock(width, ctx_dim) for _ in range(n_blocks))
        self.norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, 2)

    def forward(self, y_in: torch.Tensor, c_noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """y_in (n,), c_noise (n,), cond (n, cond_dim) -> F (n,)."""
        if cond.ndim != 2 or cond.shape[1] != self.cond_dim or cond.shape[0] != y_in.shape[0]:
            raise ValueError(
                f"denoiser expects a condition of shape ({y_in.shape[0]}, {self.cond_dim}); got {tuple(cond.shape)}."
            )
        ctx = torch.cat([cond, self.embed(c_noise)], dim=1)
        h = self.inp(torch.cat([y_in.reshape(-1, 1), ctx], dim=1))
        for block in self.blocks:
            h = block(h, ctx)
        heads = self.out(torch.nn.functional.silu(self.norm(h)))
        z = cond[:, -1]
        return heads[:, 0] * (1.0 - z) + heads[:, 1] * z


class EDMPrecond(nn.Module):
    """EDM preconditioning: D(y; sigma, c) = c_skip y + c_out F(c_in y, log(sigma)/4, c)."""

    def __init__(self, net: ResidualMLPDenoiser, sigma_data: float = SIGMA_DATA):
        super().__init__()
        self.net = net
        self.sigma_data = float(sigma_data)

    def forward(self, y: torch.Tensor, sigma: torch.Tensor | float, cond: torch.Tensor) -> torch.Tensor:
        """Denoise y (n,) at noise level sigma (scalar or (n,)) given the condition cond (n, d + 1) -> (n,)."""
        sigma = torch.as_tensor(sigma, dtype=y.dtype, device=y.device).reshape(-1).expand(y.shape[0])
        sd2 = self.sigma_data**2
        c_skip = sd2 / (sigma**2 + sd2)
        c_out = sigma * self.sigma_data / torch.sqrt(sigma**2 + sd2)
        c_in = 1.0 / torch.sqrt(sigma**2 + sd2)
        c_noise = torch.log(sigma) / 4.0
        return c_skip * y + c_out * self.net(c_in * y, c_noise, cond)


def edm_loss(model: EDMPrecond, y: torch.Tensor, cond: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Per-sample EDM loss lambda(sigma) (D(y + sigma n; sigma, c) - y)^2, shape (n,), sigma ~ LogNormal."""
    n = y.shape[0]
    sigma = torch.exp(torch.randn(n, generator=gen, device=y.device) * P_STD + P_MEAN)
    weight = (sigma**2 + model.sigma_data**2) / (sigma * model.sigma_data) ** 2
    noise = torch.randn(n, generator=gen, device=y.device) * sigma
    return weight * (model(y + noise, sigma, cond) - y) ** 2


def karras_sigmas(u: torch.Tensor, sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX,
                  rho: float = RHO) -> torch.Tensor:
    """The Karras noise level at position u in [0, 1]: u = 0 gives sigma_max, u = 1 gives sigma_min."""
    a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
    return (a + u * (b - a)) ** rho


@torch.no_grad()
def heun_sample(model: EDMPrecond, cond: torch.Tensor, gen: torch.Generator, n_steps: int = 50,
                sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX, rho: float = RHO) -> torch.Tensor:
    """Deterministic 2nd-order Heun sampler (EDM Algorithm 1 without churn), 2 n_steps - 1 network calls.

    Parameters
    ----------
    model : EDMPrecond
    cond : (n, d + 1) float tensor
        One condition per draw.
    gen : torch.Generator
        Draws the initial latents.
    n_steps : int
        Number of noise levels (50 by default: 99 network evaluations).

    Returns
    -------
    (n,) float tensor of draws in the standardised outcome scale.
    """
    if n_steps < 2:
        raise ValueError(f"n_steps must be >= 2; got {n_steps!r}.")
    n = cond.shape[0]
    u = torch.arange(n_steps, dtype=torch.float64, device=cond.device) / (n_steps - 1)
    t_steps = torch.cat([karras_sigmas(u, sigma_min, sigma_max, rho), torch.zeros(1, dtype=torch.float64,
                                                                                  device=cond.device)])
    x = torch.randn(n, generator=gen, device=cond.device, dtype=torch.float64) * t_steps[0]
    for i in range(n_steps):
        t_cur, t_next = t_steps[i], t_steps[i + 1]
        d_cur = (x - model(x.float(), t_cur.float(), cond).double()) / t_cur
        x_next = x + (t_next - t_cur) * d_cur
        if i < n_steps - 1:
            d_prime = (x_next - model(x_next.float(), t_next.float(), cond).double()) / t_next
            x_next = x + (t_next - t_cur) * (0.5 * d_cur + 0.5 * d_prime)
        x = x_next
    return x.float()


def _lr_factor(step: int, n_steps: int, milestones=(0.5, 0.75, 0.9), gamma: float = 0.3) -> float:
    frac = step / max(n_steps, 1)
    return gamma ** sum(frac >= m for m in milestones)


def train_teacher(model: EDMPrecond, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor, gen: torch.Generator,
                  n_steps: int, batch_size: int, lr: float, weight_decay: float = 1e-6,
                  verbose: bool = False) -> list[float]:
    """Fit the teacher by minibatch Adam on the EDM loss of the factual outcome.

    Parameters
    ----------
    model : EDMPrecond
    x : (n, d) float tensor; z : (n,) float tensor; y : (n,) standardised factual outcome
    gen : torch.Generator
        Minibatch indices and noise.
    n_steps, batch_size, lr, weight_decay :
        Optimiser budget; the learning rate drops x0.3 at 50 %, 75 % and 90 % of the steps.
    verbose : bool
        Show a tqdm progress bar.

    Returns
    -------
    list of float: the training loss every 50 steps.
    """
    from tqdm.auto import tqdm

    cond_all = make_condition(x, z)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    n = y.shape[0]
    bs = min(batch_size, n)
    history = []
    model.train()
    for step in tqdm(range(n_steps), desc="teacher", disable=not verbose, leave=False):
        for g in opt.param_groups:
            g["lr"] = lr * _lr_factor(step, n_steps)
        idx = torch.randint(n, (bs,), generator=gen, device=y.device)
        loss = edm_loss(model, y[idx], cond_all[idx], gen).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 50 == 0:
            history.append(float(loss.detach()))
    model.eval()
    return history
