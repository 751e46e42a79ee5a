"""Distillation of the conditional EDM teacher into a one-step generator.

Score-identity distillation (SiD, Zhou et al. 2024) and, as an ablation, a KL-divergence (DMD-style)
distillation. Three networks start as copies of the teacher: the frozen teacher ``f_phi``, the fake score net
``f_psi`` and the generator ``G_theta(eps; c) = D_theta(sigma_init * eps; sigma_init, c)``.

How the conditions of each minibatch are drawn is the confounding adjustment (:func:`draw_conditions`):

``"rand"``
    randomized: covariates of a random permutation of the units, treatments drawn independently as
    Bernoulli(``treat_prob``); no propensity model. The SAME conditions drive the fake-score step and the
    generator step.
``"ipw"``
    observed pairs (x_i, z_i), each unit's generator loss weighted by its stabilised inverse-propensity weight
    p(z_i) / e(z_i | x_i), normalised to mean 1 within the minibatch.
``"plain"``
    observed pairs, no weights (ablation).
"""

from __future__ import annotations

import copy
from typing import Callable

import torch

from .edm import EMA, EDMPrecond, edm_loss, karras_sigmas, make_condition

__all__ = ["ADJUSTMENTS", "DIVERGENCES", "draw_conditions", "generate", "generator_loss", "distill"]

ADJUSTMENTS = ("rand", "ipw", "plain")
DIVERGENCES = ("sid", "kl")


def draw_conditions(adjustment: str, x: torch.Tensor, z: torch.Tensor, weights: torch.Tensor | None,
                    treat_prob: float, batch_size: int, gen: torch.Generator):
    """One minibatch of conditions and per-unit weights.

    Parameters
    ----------
    adjustment : {"rand", "ipw", "plain"}
    x : (n, d) float tensor; z : (n,) float tensor
    weights : (n,) float tensor or None
        Stabilised inverse-propensity weights (needed for ``"ipw"``).
    treat_prob : float
        P(z~ = 1) for ``"rand"``.
    batch_size : int
    gen : torch.Generator

    Returns
    -------
    cond : (b, d + 1) float tensor, w : (b,) float tensor with mean 1
    """
    n = x.shape[0]
    b = min(batch_size, n)
    if adjustment == "rand":
        perm = torch.randperm(n, generator=gen, device=x.device)[:b]
        z_b = (torch.rand(b, generator=gen, device=x.device) < treat_prob).to(x.dtype)
        return make_condition(x[perm], z_b), torch.ones(b, device=x.device)
    idx = torch.randperm(n, generator=gen, device=x.device)[:b]
    cond = make_condition(x[idx], z[idx])
    if adjustment == "ipw":
        if weights is None:
            raise ValueError("adjustment='ipw' needs inverse-propensity weights; got weights=None.")
        w = weights[idx]
        return cond, w / w.mean()
    if adjustment == "plain":
        return cond, torch.ones(b, device=x.device)
    raise ValueError(f"adjustment must be one of {ADJUSTMENTS}; got {adjustment!r}.")


def generate(G: EDMPrecond, cond: torch.Tensor, gen: torch.Generator | None, sigma_init: float,
             eps: torch.Tensor | None = None) -> torch.Tensor:
    """One-step draws y = G(eps; c) = D_theta(sigma_init eps; sigma_init, c), eps ~ N(0, 1); shape (n,).

    ``eps`` (n,) gives the latents explicitly (then ``gen`` is unused)."""
    if eps is None:
        eps = torch.randn(cond.shape[0], generator=gen, device=cond.device)
    return G(sigma_init * eps.to(cond.dtype), sigma_init, cond)


def generator_loss(G: EDMPrecond, teacher: EDMPrecond, fake: EDMPrecond, cond: torch.Tensor, w: torch.Tensor,
                   gen: torch.Generator, alpha: float, sigma_init: float, divergence: str = "sid",
                   t_max: float = 0.8) -> torch.Tensor:
    """The generator's weighted minibatch loss (a scalar whose gradient is the distillation update).

    ``"sid"``: mean_i w_i (d_real - d_fake)((d_real - y_g) - alpha (d_real - d_fake)) / mean|y_g - d_real|;
    ``"kl"``: DMD's surrogate 0.5 w_i (y_g - sg[y_g - (d_fake - d_real) / mean|y_g - d_real|])^2, whose gradient
    in y_g is the (normalised) score difference. sigma follows the Karras grid at u ~ U[0, t_max] (u = 0 is
    sigma_min), as in SiD.
    """
    y_g = generate(G, cond, gen, sigma_init)
    b = y_g.shape[0]
    u = torch.rand(b, generator=gen, device=cond.device) * t_max
    sigma = karras_sigmas(1.0 - u)
    y_t = y_g + sigma * torch.randn(b, generator=gen, device=cond.device)
    d_real = teacher(y_t, sigma, cond)
    if divergence == "sid":
        d_fake = fake(y_t, sigma, cond)
        norm = (y_g - d_real).abs().mean().detach().clamp_min(1e-5)
        per = (d_real - d_fake) * ((d_real - y_g) - alpha * (d_real - d_fake)) / norm
    elif divergence == "kl":
        with torch.no_grad():
            d_fake = fake(y_t, sigma, cond)
            norm = (y_g - d_real).abs().mean().clamp_min(1e-5)
            target = y_g - (d_fake - d_real) / norm
        per = 0.5 * (y_g - target) ** 2
    else:
        raise ValueError(f"divergence must be one of {DIVERGENCES}; got {divergence!r}.")
    return (w * per).mean()


def distill(teacher: EDMPrecond, x: torch.Tensor, z: torch.Tensor, gen: torch.Generator, *, adjustment: str,
            divergence: str = "sid", weights: torch.Tensor | None = None, treat_prob: float = 0.5,
            n_steps: int = 600, batch_size: int = 256, lr: float = 1e-4, alpha: float = 1.0,
            sigma_init: float = 2.5, ema_decay: float = 0.0, monitor: Callable[[EDMPrecond], float] | None = None,
            check_every: int = 50, patience: int | None = None, tol: float = 0.0,
            verbose: bool = False) -> tuple[EDMPrecond, dict]:
    """Distil ``teacher`` into a one-step generator; returns ``(generator, history)``.

    Each step: (1) fake-score step, EDM loss of ``fake`` on detached generator draws; (2) generator step on
    :func:`generator_loss`. Both steps use the same conditions (from :func:`draw_conditions`). Adam with
    betas (0, 0.999) for both networks, as in SiD. The returned generator is the exponential moving average of
    the generator's weights (``ema_decay``; 0 returns the raw iterate), as SiD evaluates ``G_ema``.

    Budget: with a ``monitor`` (a function of a generator returning a discrepancy to the teacher, lower is
    better; the estimator passes a per-unit Wasserstein-1 distance on held-out rows), it is evaluated on the EMA
    generator before the first step and every ``check_every`` steps; the best state is returned, and distillation
    stops early once the discrepancy is at most ``tol`` or has not improved for ``patience`` steps. Without a
    monitor all ``n_steps`` are taken.

    Returns
    -------
    generator : EDMPrecond
    history : dict with ``steps`` (taken), ``best_step``, ``monitor_steps`` and ``monitor`` (values)
    """
    from tqdm.auto import tqdm

    if adjustment not in ADJUSTMENTS:
        raise ValueError(f"adjustment must be one of {ADJUSTMENTS}; got {adjustment!r}.")
    if divergence not in DIVERGENCES:
        raise ValueError(f"divergence must be one of {DIVERGENCES}; got {divergence!r}.")
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    G = copy.deepcopy(teacher)
    fake = copy.deepcopy(teacher)
    for net in (G, fake):
        for p in net.parameters():
            p.requires_grad_(True)
    ema = EMA(G, ema_decay)
    opt_g = torch.optim.Adam(G.parameters(), lr=lr, betas=(0.0, 0.999))
    opt_f = torch.optim.Adam(fake.parameters(), lr=lr, betas=(0.0, 0.999))
    hist: dict = {"steps": n_steps, "best_step": n_steps, "monitor_steps": [], "monitor": []}
    best, best_state, since = float("inf"), None, 0

    def check(step: int) -> bool:
        """Evaluate the monitor; True when distillation should stop."""
        nonlocal best, best_state, since
        value = float(monitor(ema.shadow))
        hist["monitor_steps"].append(step)
        hist["monitor"].append(value)
        if value < best:
            best, best_state, since, hist["best_step"] = value, copy.deepcopy(ema.shadow.state_dict()), 0, step
        else:
            since += check_every
        return value <= tol or (patience is not None and since >= patience)

    step = 0
    if monitor is None or not check(0):
        for step in tqdm(range(1, n_steps + 1), desc=f"distill-{adjustment}-{divergence}", disable=not verbose,
                         leave=False):
            cond, w = draw_conditions(adjustment, x, z, weights, treat_prob, batch_size, gen)
            # (1) fake score net on the generator's current draws, at the same conditions
            with torch.no_grad():
                y_g = generate(G, cond, gen, sigma_init)
            loss_f = edm_loss(fake, y_g, cond, gen).mean()
            opt_f.zero_grad(set_to_none=True)
            loss_f.backward()
            opt_f.step()
            # (2) generator
            for p in fake.parameters():
                p.requires_grad_(False)
            loss_g = generator_loss(G, teacher, fake, cond, w, gen, alpha, sigma_init, divergence)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            for p in fake.parameters():
                p.requires_grad_(True)
            ema.update(G)
            if monitor is not None and step % check_every == 0 and check(step):
                break
    hist["steps"] = step
    out = ema.shadow
    if best_state is not None:
        out.load_state_dict(best_state)
    out.eval()
    for p in out.parameters():
        p.requires_grad_(False)
    return out, hist
