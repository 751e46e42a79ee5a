"""Conditional EDM diffusion model of a scalar outcome p(y | x, z) (Karras et al. 2022).

The outcome is standardised by the caller so that its scale matches ``SIGMA_DATA``. The condition
``c = [x, z]`` is an explicit argument of every call (training, sampling and distillation use the same
:meth:`EDMPrecond.forward`), and the noise level enters through a continuous sinusoidal embedding of
``c_noise = log(sigma) / 4`` (never rounded).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from .._torch import adam, sampler_chunks

__all__ = [
    "SIGMA_DATA", "P_MEAN", "P_STD", "SIGMA_MIN", "SIGMA_MAX", "RHO",
    "make_condition", "NoiseEmbedding", "ResidualMLPDenoiser", "EDMPrecond", "edm_loss", "karras_sigmas",
    "heun_sample", "train_teacher", "EMA", "validation_draws", "fixed_edm_loss",
]

#: Standard deviation of the data, EDM's sigma_data: callers scale the outcome to this standard deviation.
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
def heun_sample(model: EDMPrecond, cond: torch.Tensor, gen: torch.Generator | None, n_steps: int = 50,
                sigma_min: float = SIGMA_MIN, sigma_max: float = SIGMA_MAX, rho: float = RHO,
                eps: torch.Tensor | None = None) -> torch.Tensor:
    """Deterministic 2nd-order Heun sampler (EDM Algorithm 1 without churn), 2 n_steps - 1 network calls.

    Parameters
    ----------
    model : EDMPrecond
    cond : (n, d + 1) float tensor
        One condition per draw.
    gen : torch.Generator or None
        Draws the initial latents (unused when ``eps`` is given).
    n_steps : int
        Number of noise levels (50 by default: 99 network evaluations).
    eps : (n,) float tensor or None
        Standard-normal latents to start from (the initial state is ``sigma_max * eps``); the sampler is a
        deterministic, order-preserving map of them (a 1-D probability-flow ODE).

    Returns
    -------
    (n,) float tensor of draws in the standardised outcome scale. The rows are sampled in chunks
    (:func:`catebench.estimators._torch.sampler_chunks`); a row's draw does not depend on the others.
    """
    if n_steps < 2:
        raise ValueError(f"n_steps must be >= 2; got {n_steps!r}.")
    n = cond.shape[0]
    u = torch.arange(n_steps, dtype=torch.float64, device=cond.device) / (n_steps - 1)
    t_steps = torch.cat([karras_sigmas(u, sigma_min, sigma_max, rho), torch.zeros(1, dtype=torch.float64,
                                                                                  device=cond.device)])
    if eps is None:
        eps = torch.randn(n, generator=gen, device=cond.device, dtype=torch.float64)
    out = [_heun(model, cond[rows], eps[rows].to(torch.float64) * t_steps[0], t_steps)
           for rows in sampler_chunks(n, cond.device)]
    return torch.cat(out) if out else eps.new_empty(0, dtype=torch.float32)


def _heun(model: EDMPrecond, cond: torch.Tensor, x: torch.Tensor, t_steps: torch.Tensor) -> torch.Tensor:
    """Heun's steps from x (float64, at sigma t_steps[0]) through the levels t_steps (last one 0)."""
    n_steps = len(t_steps) - 1
    for i in range(n_steps):
        t_cur, t_next = t_steps[i], t_steps[i + 1]
        d_cur = (x - model(x.float(), t_cur.float(), cond).double()) / t_cur
        x_next = x + (t_next - t_cur) * d_cur
        if i < n_steps - 1:
            d_prime = (x_next - model(x_next.float(), t_next.float(), cond).double()) / t_next
            x_next = x + (t_next - t_cur) * (0.5 * d_cur + 0.5 * d_prime)
        x = x_next
    return x.float()


def validation_draws(n: int, n_draws: int, gen: torch.Generator, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed (sigma, unit noise) pairs for a validation EDM loss: each (n, n_draws), sigma ~ LogNormal."""
    sigma = torch.exp(torch.randn(n, n_draws, generator=gen, device=device) * P_STD + P_MEAN)
    return sigma, torch.randn(n, n_draws, generator=gen, device=device)


@torch.no_grad()
def fixed_edm_loss(model: EDMPrecond, y: torch.Tensor, cond: torch.Tensor, sigma: torch.Tensor,
                   noise: torch.Tensor, weights: torch.Tensor | None = None) -> float:
    """The EDM loss at fixed draws: mean over rows (weighted) and draws of lambda(sigma) (D(y + sigma n) - y)^2.

    Parameters
    ----------
    y : (n,) tensor; cond : (n, d + 1) tensor; sigma, noise : (n, k) tensors from :func:`validation_draws`
    weights : (n,) tensor or None
    """
    n, k = sigma.shape
    s = sigma.reshape(-1)
    yy = y.repeat_interleave(k)
    lam = (s**2 + model.sigma_data**2) / (s * model.sigma_data) ** 2
    per = (lam * (model(yy + s * noise.reshape(-1), s, cond.repeat_interleave(k, dim=0)) - yy) ** 2).reshape(n, k)
    per = per.mean(dim=1)
    if weights is None:
        return float(per.mean())
    return float((weights * per).sum() / weights.sum())


class EMA:
    """Exponential moving average of a module's parameters and buffers (``decay`` per update)."""

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1); got {decay!r}.")
        self.decay = float(decay)
        self.updates = 0
        self.shadow = copy.deepcopy(model).eval()
        for p in self.shadow.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """One update; the decay warms up as min(decay, (1 + k) / (10 + k)) after k updates, so that an early
        stopping point is not dominated by the initial weights."""
        self.updates += 1
        k = self.updates
        decay = min(self.decay, (1.0 + k) / (10.0 + k))
        for e, p in zip(self.shadow.parameters(), model.parameters()):
            e.lerp_(p.detach(), 1.0 - decay)
        for e, b in zip(self.shadow.buffers(), model.buffers()):
            e.copy_(b)


def train_teacher(model: EDMPrecond, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor, gen: torch.Generator,
                  n_steps: int, batch_size: int, lr: float, weight_decay: float = 1e-6, *,
                  weights: torch.Tensor | None = None, val: tuple | None = None, ema_decay: float = 0.0,
                  eval_every: int = 25, patience: int = 300, n_val_draws: int = 16, lr_drops: tuple = (),
                  verbose: bool = False) -> dict:
    """Fit the teacher by minibatch Adam on the EDM loss of the factual outcome, early-stopped on held-out rows.

    Parameters
    ----------
    model : EDMPrecond
        Trained in place; on return it holds the selected weights (the best EMA state when ``val`` is given,
        else the final EMA state).
    x : (n, d) float tensor; z : (n,) float tensor; y : (n,) outcome, standardised to sd ``model.sigma_data``
    gen : torch.Generator
        Minibatch indices, noise, and the fixed validation draws.
    n_steps : int
        The most Adam steps (the budget when ``val`` is None).
    batch_size, lr, weight_decay :
        Optimiser settings.
    lr_drops : tuple of float in (0, 1)
        Fractions of ``n_steps`` after which the learning rate is multiplied by 0.1 (empty: constant).
    weights : (n,) float tensor or None
        Per-row weights of the training loss (importance-weighted pretraining); minibatches are weighted by
        ``w / mean(w)``.
    val : (x_val, z_val, y_val[, w_val]) or None
        Held-out rows. Every ``eval_every`` steps the EDM loss of the EMA weights on them is computed at fixed
        (sigma, noise) draws (``n_val_draws`` per row, drawn once), the best state is kept, and training stops
        after ``patience`` steps without improvement.
    ema_decay : float
        Decay of the exponential moving average of the weights that is evaluated and returned (0 = no EMA).
    verbose : bool
        Show a tqdm progress bar.

    Returns
    -------
    dict with ``train_loss`` (every ``eval_every`` steps), ``val_loss`` (per evaluation), ``val_steps``,
    ``best_step`` and ``steps`` (steps actually taken).
    """
    from tqdm.auto import tqdm

    cond_all = make_condition(x, z)
    opt = adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    n = y.shape[0]
    bs = min(batch_size, n)
    ema = EMA(model, ema_decay)
    hist: dict = {"train_loss": [], "val_loss": [], "val_steps": [], "best_step": n_steps, "steps": n_steps}
    if val is not None:
        xv, zv, yv, *wv = val
        cond_v = make_condition(xv, zv)
        wv = wv[0] if wv else None
        v_sigma, v_noise = validation_draws(len(yv), n_val_draws, gen, y.device)
        best, best_state, since = float("inf"), None, 0
    drop_at = sorted(round(float(f) * n_steps) for f in lr_drops)
    model.train()
    step = 0
    for step in tqdm(range(1, n_steps + 1), desc="teacher", disable=not verbose, leave=False):
        if drop_at:
            factor = 0.1 ** sum(step > k for k in drop_at)
            for group in opt.param_groups:
                group["lr"] = lr * factor
        idx = torch.randint(n, (bs,), generator=gen, device=y.device)
        per = edm_loss(model, y[idx], cond_all[idx], gen)
        loss = per.mean() if weights is None else (weights[idx] * per).sum() / weights[idx].sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema.update(model)
        if step % eval_every == 0:
            hist["train_loss"].append(float(loss.detach()))
            if val is not None:
                vl = fixed_edm_loss(ema.shadow, yv, cond_v, v_sigma, v_noise, wv)
                if not math.isfinite(vl):
                    raise FloatingPointError(f"teacher validation loss became {vl} at step {step}; lower teacher_lr.")
                hist["val_loss"].append(vl)
                hist["val_steps"].append(step)
                if vl < best:
                    best, since, hist["best_step"] = vl, 0, step
                    best_state = copy.deepcopy(ema.shadow.state_dict())
                else:
                    since += eval_every
                    if since >= patience:
                        break
    hist["steps"] = step
    model.load_state_dict(best_state if val is not None and best_state is not None else ema.shadow.state_dict())
    model.eval()
    return hist
