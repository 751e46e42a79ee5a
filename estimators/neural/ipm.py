"""Integral probability metrics between treated and control representations (Shalit, Johansson & Sontag 2017).

Each function takes the representations of the treated rows ``phi_t`` ((n_t, k) tensor) and of the control rows
``phi_c`` ((n_c, k) tensor) and returns a scalar tensor that can be back-propagated.

* :func:`mmd_linear`: squared distance of the means, ``||mean(phi_t) - mean(phi_c)||^2`` (the linear-kernel MMD^2).
* :func:`mmd_rbf`: unbiased MMD^2 with the Gaussian kernel ``k(a, b) = exp(-||a - b||^2 / (2 sigma^2))``.
* :func:`wasserstein_sinkhorn`: the 1-Wasserstein distance (Euclidean ground cost, uniform weights on each sample)
  approximated by entropy-regularised optimal transport solved with Sinkhorn iterations; as in Shalit et al.
  (Algorithm 2), the transport plan is held constant when differentiating, so the gradient is
  ``d/dphi sum_ij T_ij M_ij(phi)``. The regularisation ``eps = mean(M) / lam`` is relative to the mean cost
  (scale free); iterations run in the log domain so that large ``lam`` stays finite.
"""

from __future__ import annotations

import math

import torch

__all__ = ["mmd_linear", "mmd_rbf", "wasserstein_sinkhorn", "pairwise_distance", "IPMS", "ipm"]


def _check(phi_t: torch.Tensor, phi_c: torch.Tensor) -> None:
    if phi_t.ndim != 2 or phi_c.ndim != 2 or phi_t.shape[1] != phi_c.shape[1]:
        raise ValueError(
            f"phi_t and phi_c must be 2-D with the same number of columns; got {tuple(phi_t.shape)} and "
            f"{tuple(phi_c.shape)}."
        )
    if phi_t.shape[0] == 0 or phi_c.shape[0] == 0:
        raise ValueError(f"both samples need at least one row; got {phi_t.shape[0]} and {phi_c.shape[0]}.")


def pairwise_distance(a: torch.Tensor, b: torch.Tensor, squared: bool = False) -> torch.Tensor:
    """(n_a, n_b) matrix of Euclidean (or squared Euclidean) distances; the sqrt is kept finite at 0."""
    d2 = (a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1)[None, :] - 2.0 * a @ b.T).clamp_min(0.0)
    if squared:
        return d2
    return torch.sqrt(d2 + 1e-10)


def mmd_linear(phi_t: torch.Tensor, phi_c: torch.Tensor) -> torch.Tensor:
    """Linear-kernel MMD^2: ``||mean(phi_t) - mean(phi_c)||^2`` (scalar tensor)."""
    _check(phi_t, phi_c)
    return (phi_t.mean(0) - phi_c.mean(0)).pow(2).sum()


def mmd_rbf(phi_t: torch.Tensor, phi_c: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Unbiased Gaussian-kernel MMD^2 (scalar tensor).

    ``mean_{i != j} k(t_i, t_j) + mean_{i != j} k(c_i, c_j) - 2 mean_{i, j} k(t_i, c_j)`` with
    ``k(a, b) = exp(-||a - b||^2 / (2 sigma^2))``. A sample of one row contributes no within-sample term.
    """
    _check(phi_t, phi_c)
    if not sigma > 0:
        raise ValueError(f"sigma must be positive; got {sigma!r}.")
    g = 1.0 / (2.0 * sigma**2)
    n_t, n_c = phi_t.shape[0], phi_c.shape[0]

    def within(a: torch.Tensor, n: int) -> torch.Tensor:
        if n < 2:
            return a.new_zeros(())
        k = torch.exp(-g * pairwise_distance(a, a, squared=True))
        return (k.sum() - k.diagonal().sum()) / (n * (n - 1))

    cross = torch.exp(-g * pairwise_distance(phi_t, phi_c, squared=True)).mean()
    return within(phi_t, n_t) + within(phi_c, n_c) - 2.0 * cross


def sinkhorn_plan(cost: torch.Tensor, eps: float, iterations: int) -> torch.Tensor:
    """Entropic optimal-transport plan between uniform weights for an (n, m) cost matrix (no gradient).

    Log-domain Sinkhorn: alternately fit the row and column potentials ``f``, ``g`` so that
    ``T = exp((f_i + g_j - C_ij) / eps)`` has row sums ``1/n`` and column sums ``1/m``; after the last (column)
    update the column sums are exact. Stops early once the row sums are within ``1e-13`` (relative) of ``1/n``
    (checked every 50 iterations; a fixed point, so further iterations change nothing measurable).
    """
    n, m = cost.shape
    log_a = torch.full((n,), -math.log(n), dtype=cost.dtype, device=cost.device)
    log_b = torch.full((m,), -math.log(m), dtype=cost.dtype, device=cost.device)
    f = torch.zeros(n, dtype=cost.dtype, device=cost.device)
    g = torch.zeros(m, dtype=cost.dtype, device=cost.device)
    c = cost / eps
    tol = 1e-13 if cost.dtype == torch.float64 else 1e-6
    for i in range(iterations):
        f = log_a - torch.logsumexp(g[None, :] - c, dim=1)
        g = log_b - torch.logsumexp(f[:, None] - c, dim=0)
        if i % 50 == 49 and float((torch.logsumexp(f[:, None] + g[None, :] - c, dim=1) - log_a).abs().max()) < tol:
            break  # converged: stop early rather than run all `iterations`
    return torch.exp(f[:, None] + g[None, :] - c)


def wasserstein_sinkhorn(
    phi_t: torch.Tensor, phi_c: torch.Tensor, lam: float = 10.0, iterations: int = 10
) -> torch.Tensor:
    """Sinkhorn approximation of the 1-Wasserstein distance between two uniform samples (scalar tensor).

    Parameters
    ----------
    phi_t, phi_c : (n_t, k) and (n_c, k) tensors
    lam : float, default 10.0
        Inverse entropic regularisation relative to the mean cost: ``eps = mean(M) / lam`` (Shalit et al.'s
        ``wass_lambda``, default 10). Larger is closer to exact transport.
    iterations : int, default 10
        Sinkhorn iterations (Shalit et al.'s ``wass_iterations``, default 10).

    Returns
    -------
    Scalar tensor ``sum_ij T_ij M_ij`` with the plan ``T`` held constant (no gradient through it).
    """
    _check(phi_t, phi_c)
    if not lam > 0:
        raise ValueError(f"lam must be positive; got {lam!r}.")
    if int(iterations) < 1:
        raise ValueError(f"iterations must be a positive integer; got {iterations!r}.")
    cost = pairwise_distance(phi_t, phi_c)
    with torch.no_grad():
        mean_cost = float(cost.mean())
        if mean_cost <= 0:
            return (cost * 0.0).sum()
        plan = sinkhorn_plan(cost.detach(), mean_cost / lam, int(iterations))
    return (plan * cost).sum()


IPMS = ("none", "mmd-lin", "mmd-rbf", "wass")


def ipm(name: str, phi_t: torch.Tensor, phi_c: torch.Tensor, **kwargs) -> torch.Tensor:
    """Dispatch by name: ``"mmd-lin"``, ``"mmd-rbf"`` (kwarg ``sigma``), ``"wass"`` (kwargs ``lam``,
    ``iterations``) or ``"none"`` (zero)."""
    if name == "none":
        return phi_t.new_zeros(())
    if name == "mmd-lin":
        return mmd_linear(phi_t, phi_c)
    if name == "mmd-rbf":
        return mmd_rbf(phi_t, phi_c, sigma=kwargs.get("sigma", 1.0))
    if name == "wass":
        return wasserstein_sinkhorn(phi_t, phi_c, lam=kwargs.get("lam", 10.0), iterations=kwargs.get("iterations", 10))
    raise ValueError(f"unknown ipm {name!r}; choose one of {IPMS}.")
