"""Shared torch plumbing: device choice and seeding without touching global random state."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch

__all__ = ["resolve_device", "local_torch_seed", "to_tensor", "adam", "CPU_SAMPLER_ROWS", "sampler_chunks"]

#: Rows per chunk of an iterative sampler (many network calls on the same rows) on a CPU: a chunk's activations
#: then stay in cache from one call to the next. Same draws at every chunk size. Chosen by the sweep in
#: results/perf/sampler_chunks/sweep (``python -m studies.sampler_chunks``): 2,048 rows was fastest for the diffusion
#: teacher's Heun sampler (0.67-0.76x the whole batch) and 1.05x DiffPO's fastest (4,096 rows). Whole tasks barely
#: notice the change from 4,096, side by side: 0.99x per ACIC 2016 setting (results/perf/sampler_chunks/protocol_2048),
#: 0.96x for IHDP's diffusion labels (results/perf/sampler_chunks/ihdp_2048).
CPU_SAMPLER_ROWS = 2048


def resolve_device(device: str | None) -> torch.device:
    """``"auto"``/``None`` gives CUDA when available, else CPU; any other value is passed to ``torch.device``."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r} ({exc}).") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was requested but CUDA is not available on this machine.")
    return dev


@contextlib.contextmanager
def local_torch_seed(seed: int, device: torch.device) -> Iterator[torch.Generator]:
    """Seed torch for the duration of the block and restore the global RNG state afterwards.

    Parameter initialisation in ``torch.nn`` draws from the global generator; forking it keeps estimators
    reproducible without leaking state to (or reading state from) the caller. The yielded generator is for
    explicit draws (minibatch order, noise).
    """
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        gen = torch.Generator(device=device)
        gen.manual_seed(seed)
        yield gen


def to_tensor(a, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(a, dtype=torch.float32, device=device)


def sampler_chunks(n: int, device: torch.device) -> list[slice]:
    """Row slices for an iterative sampler on ``device``: chunks of :data:`CPU_SAMPLER_ROWS` on a CPU, one slice
    elsewhere (a GPU wants the largest batch). Each row's draw does not depend on the rows that share its chunk."""
    step = CPU_SAMPLER_ROWS if torch.device(device).type == "cpu" else max(n, 1)
    return [slice(i, i + step) for i in range(0, n, step)]


def adam(params, **kwargs) -> torch.optim.Optimizer:
    """``torch.optim.Adam`` with the fused kernel where torch has one for the parameters' device (CPU and CUDA):
    one kernel for all parameter tensors instead of a Python loop over them. On the IWDD denoiser (131k
    parameters in 40 tensors, one thread) a step takes 0.32 ms instead of 1.48 ms; the arithmetic is Adam's, the
    rounding order differs in the last bits."""
    params = list(params)
    dev = params[0].device.type if params and isinstance(params[0], torch.Tensor) else "cpu"
    return torch.optim.Adam(params, fused=dev in ("cpu", "cuda"), **kwargs)
