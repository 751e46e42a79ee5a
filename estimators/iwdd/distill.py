"""Distillation of the conditional EDM teacher into a one-step generator.

Score-identity distillation (SiD, Zhou et al. 2024) and, as an ablation, a KL-divergence (DMD-style)
distillation. Three networks start as copies of the teacher: the frozen teacher ``f_phi``, the fake score net
``f_psi`` and the generator ``G_theta(eps; c) = D_theta(sigma_init * eps; sigma_init, c)``.

Optionally (``warm_steps``), the generator is first regressed on the teacher's own deterministic draws
(:func:`warm_start`): for a scalar outcome the teacher's Heun sampler is an invertible map of the latent, so its
(latent, draw) pairs are a direct target for the one-step map.

How the conditions of each minibatch are drawn is the confounding adjustment (:func:`draw_conditions`, and
:func:`design_batch` in the warm start):

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

from .._generative import DRAW_CHUNK_ROWS
from .._torch import adam
from .edm import EMA, EDMPrecond, edm_loss, heun_sample, karras_sigmas, make_condition

__all__ = ["ADJUSTMENTS", "DIVERGENCES", "draw_conditions", "design_batch", "generate", "generator_loss",
           "generator_gradient", "ode_pairs", "warm_start", "distill"]

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
    idx, z_b, w = design_batch(adjustment, z, weights, treat_prob, batch_size, gen)
    return make_condition(x[idx], z_b), w


def design_batch(adjustment: str, z: torch.Tensor, weights: torch.Tensor | None, treat_prob: float,
                 batch_size: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The unit indices (b,), treatments (b,) and weights (b,, mean 1) of one minibatch of the design
    (:func:`draw_conditions` without building the conditions)."""
    n = z.shape[0]
    b = min(batch_size, n)
    idx = torch.randperm(n, generator=gen, device=z.device)[:b]
    if adjustment == "rand":
        z_b = (torch.rand(b, generator=gen, device=z.device) < treat_prob).to(z.dtype)
        return idx, z_b, torch.ones(b, device=z.device)
    if adjustment == "ipw":
        if weights is None:
            raise ValueError("adjustment='ipw' needs inverse-propensity weights; got weights=None.")
        w = weights[idx]
        return idx, z[idx], w / w.mean()
    if adjustment == "plain":
        return idx, z[idx], torch.ones(b, device=z.device)
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


def generator_gradient(G: EDMPrecond, teacher: EDMPrecond, fake: EDMPrecond, cond: torch.Tensor, w: torch.Tensor,
                       gen: torch.Generator, alpha: float, sigma_init: float, divergence: str = "sid") -> torch.Tensor:
    """The gradient of :func:`generator_loss` in the generator's parameters, flattened to shape (n_params,).

    One minibatch's distillation update direction, exactly as :func:`distill` computes it (same loss, same
    draws of latents, noise levels and noise from ``gen``); the networks are left unchanged.
    """
    params = [p for p in G.parameters() if p.requires_grad]
    loss = generator_loss(G, teacher, fake, cond, w, gen, alpha, sigma_init, divergence)
    grads = torch.autograd.grad(loss, params)
    return torch.cat([g.reshape(-1) for g in grads]).detach()


@torch.no_grad()
def ode_pairs(teacher: EDMPrecond, x: torch.Tensor, n_draws: int, heun_steps: int, gen: torch.Generator,
              chunk: int = DRAW_CHUNK_ROWS, only_arm: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents and the teacher's deterministic (probability-flow, Heun) draws from them, for both arms of every
    row of ``x``: ``eps, y`` each of shape (n, 2, n_draws), arm 0 then arm 1, latents shared by the arms.

    ``only_arm`` (n,) of 0 / 1: draw only that arm of each row (the other arm's entries of ``y`` are NaN, so that
    a read of them cannot pass unnoticed). The latents are the same either way, and each row's draw does not
    depend on which other rows share its network calls, so the drawn entries equal those of the full call.
    """
    n = x.shape[0]
    eps = torch.randn(n, 1, n_draws, generator=gen, device=x.device).expand(n, 2, n_draws).contiguous()
    arms = torch.tensor([0.0, 1.0], device=x.device).reshape(1, 2, 1).expand(n, 2, n_draws).reshape(-1)
    x_rep = x.repeat_interleave(2 * n_draws, dim=0)
    e = eps.reshape(-1)
    rows = None
    if only_arm is not None:
        if only_arm.shape != (n,):
            raise ValueError(f"only_arm must have shape ({n},); got {tuple(only_arm.shape)}.")
        rows = (arms == only_arm.to(arms.dtype).repeat_interleave(2 * n_draws)).nonzero().squeeze(1)
        x_rep, arms, e = x_rep[rows], arms[rows], e[rows]
    cond = make_condition(x_rep, arms)
    y = torch.cat([heun_sample(teacher, cond[i:i + chunk], None, n_steps=heun_steps, eps=e[i:i + chunk])
                   for i in range(0, len(e), chunk)])
    if rows is not None:
        y = torch.full((n * 2 * n_draws,), float("nan"), dtype=y.dtype, device=y.device).index_copy_(0, rows, y)
    return eps, y.reshape(n, 2, n_draws)


def warm_start(G: EDMPrecond, teacher: EDMPrecond, x: torch.Tensor, z: torch.Tensor, gen: torch.Generator, *,
               adjustment: str, weights: torch.Tensor | None, treat_prob: float, n_steps: int, batch_size: int,
               lr: float, sigma_init: float, n_units: int = 1024, n_draws: int = 8, heun_steps: int = 50) -> list:
    """Regress the one-step generator on the teacher's own deterministic draws (in place); returns the losses.

    The teacher's Heun sampler is a deterministic, order-preserving map of a standard-normal latent (a 1-D
    probability-flow ODE), so a generator with G(eps; c) = Heun(eps; c) has exactly the teacher's law at c. Pairs
    are computed once for at most ``n_units`` training rows (a seeded subset), ``n_draws`` latents each, for both
    arms under ``"rand"`` and for the observed arm only under ``"ipw"`` and ``"plain"`` (their design never reads
    the other arm; the pairs it reads are the same either way); minibatches are drawn by the same design as
    distillation (:func:`design_batch`: randomized treatments, IPW weights or observed pairs), with one random
    latent of the row's arm per row. Adam, ``lr``.
    """
    n = x.shape[0]
    units = torch.randperm(n, generator=gen, device=x.device)[: min(n, n_units)].sort()[0]
    x_u = x[units]
    z_u = z[units]
    eps, target = ode_pairs(teacher, x_u, n_draws, heun_steps, gen, only_arm=None if adjustment == "rand" else z_u)
    w_u = None if weights is None else weights[units]
    opt = adam(G.parameters(), lr=lr)
    losses = []
    G.train()
    for _ in range(n_steps):
        idx, z_b, w = design_batch(adjustment, z_u, w_u, treat_prob, batch_size, gen)
        k = torch.randint(n_draws, (idx.shape[0],), generator=gen, device=x.device)
        arm = z_b.long()
        e, y = eps[idx, arm, k], target[idx, arm, k]
        y_g = generate(G, make_condition(x_u[idx], z_b), None, sigma_init, eps=e)
        loss = (w * (y_g - y) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def distill(teacher: EDMPrecond, x: torch.Tensor, z: torch.Tensor, gen: torch.Generator, *, adjustment: str,
            divergence: str = "sid", weights: torch.Tensor | None = None, treat_prob: float = 0.5,
            n_steps: int = 600, batch_size: int = 256, lr: float = 1e-4, alpha: float = 1.0,
            sigma_init: float = 2.5, ema_decay: float = 0.0, monitor: Callable[[EDMPrecond], float] | None = None,
            check_every: int = 50, patience: int | None = None, tol: float = 0.0, min_steps: int = 0,
            warm_steps: int = 0, warm_lr: float = 1e-3,
            callback: Callable[[int, EDMPrecond, EDMPrecond], None] | None = None,
            verbose: bool = False) -> tuple[EDMPrecond, dict]:
    """Distil ``teacher`` into a one-step generator; returns ``(generator, history)``.

    Each step: (1) fake-score step, EDM loss of ``fake`` on detached generator draws; (2) generator step on
    :func:`generator_loss`. Both steps use the same conditions (from :func:`draw_conditions`). Adam with
    betas (0, 0.999) for both networks, as in SiD. The returned generator is the exponential moving average of
    the generator's weights (``ema_decay``; 0 returns the raw iterate), as SiD evaluates ``G_ema``.

    ``warm_steps`` > 0 first runs :func:`warm_start` (``warm_lr``) on the generator; the EMA starts from its
    result.

    Budget: with a ``monitor`` (a function of a generator returning a discrepancy to the teacher, lower is
    better; the estimator passes a per-unit Wasserstein-1 distance on held-out rows), it is evaluated on the EMA
    generator before the first step and every ``check_every`` steps; the best state is returned, and distillation
    stops early once the discrepancy is at most ``tol`` or has not improved for ``patience`` steps. Without a
    monitor all ``n_steps`` are taken. ``min_steps`` > 0: neither rule stops distillation before ``min_steps``
    SiD steps, and the best state is chosen among the checks after at least one SiD step (the step-0 value is
    recorded, never returned), so the returned generator has been through SiD.

    ``callback(step, G, fake)`` is called after every SiD step with the raw generator and the fake score net (to
    inspect them, not to change them).

    Returns
    -------
    generator : EDMPrecond
    history : dict with ``steps`` (SiD steps taken), ``best_step``, ``monitor_steps``, ``monitor`` (values),
    ``warm_loss`` (one value per warm-start step)
    """
    from tqdm.auto import tqdm

    if min_steps < 0:
        raise ValueError(f"min_steps must be a non-negative integer; got {min_steps!r}.")
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
    hist: dict = {"steps": n_steps, "best_step": n_steps, "monitor_steps": [], "monitor": [], "warm_loss": []}
    if warm_steps:
        hist["warm_loss"] = warm_start(G, teacher, x, z, gen, adjustment=adjustment, weights=weights,
                                       treat_prob=treat_prob, n_steps=warm_steps, batch_size=batch_size, lr=warm_lr,
                                       sigma_init=sigma_init)
    ema = EMA(G, ema_decay)
    opt_g = adam(G.parameters(), lr=lr, betas=(0.0, 0.999))
    opt_f = adam(fake.parameters(), lr=lr, betas=(0.0, 0.999))
    best, best_state, since = float("inf"), None, 0

    def check(step: int) -> bool:
        """Evaluate the monitor; True when distillation should stop."""
        nonlocal best, best_state, since
        value = float(monitor(ema.shadow))
        hist["monitor_steps"].append(step)
        hist["monitor"].append(value)
        if min_steps and step == 0:
            return False
        if value < best:
            best, best_state, since, hist["best_step"] = value, copy.deepcopy(ema.shadow.state_dict()), 0, step
        else:
            since += check_every
        if step < min_steps:
            return False
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
            if callback is not None:
                callback(step, G, fake)
            if monitor is not None and step % check_every == 0 and check(step):
                break
    if monitor is not None and best_state is None and step > 0:
        check(step)  # no eligible check yet (fewer than check_every steps): the last state is the one returned
    hist["steps"] = step
    out = ema.shadow
    if best_state is not None:
        out.load_state_dict(best_state)
    out.eval()
    for p in out.parameters():
        p.requires_grad_(False)
    return out, hist
