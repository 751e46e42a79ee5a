"""Public seeding helpers for estimator authors: reproducible fits that neither read nor change global random state.

The catebench contract (``docs/plugins.md``) asks that all randomness of an estimator comes from its
``random_state`` and that fitting and predicting leave numpy's, Python's and torch's global generators as they were
(the conformance check ``check_no_global_random_state`` tests both). Wrapped libraries often draw from a global
generator anyway; these helpers make them conform:

* :func:`seed_from` derives independent 32-bit seeds for sub-models from one ``random_state``;
* :func:`numpy_global_seed` seeds numpy's (and Python's) global generator for the duration of a block and restores
  the previous state afterwards, for libraries that call ``np.random.*`` / ``random.*`` directly;
* :func:`torch_seed` does the same for torch's global generators (CPU and the CUDA device in use) and yields a
  seeded :class:`torch.Generator` for explicit draws (minibatch order, noise).

Example::

    from catebench.estimators.seeding import numpy_global_seed, seed_from, torch_seed

    def _fit(self, X, t, y):
        with numpy_global_seed(seed_from(self.random_state)):
            self.model_ = some_library.Model().fit(X, t, y)     # draws from np.random internally

    def _fit(self, X, t, y):                                    # a torch estimator
        with torch_seed(seed_from(self.random_state), device) as gen:
            net = Net()                                         # initialised from the seeded global generator
            perm = torch.randperm(len(X), generator=gen)

The global generators are process-wide: do not fit two estimators in threads of one process at the same time
inside these blocks (catebench's executors run one task per process or per single-threaded dask worker).
"""

from __future__ import annotations

import contextlib
import random
from typing import Any, Iterator

import numpy as np

from .base import seed_from

__all__ = ["seed_from", "numpy_global_seed", "torch_seed"]


@contextlib.contextmanager
def numpy_global_seed(seed: int, python_random: bool = True) -> Iterator[None]:
    """Seed numpy's global generator (and Python's ``random``) inside the block; restore both afterwards.

    Parameters
    ----------
    seed : int
        A 32-bit seed, e.g. ``seed_from(self.random_state)``.
    python_random : bool, default True
        Also seed and restore the generator of Python's :mod:`random` module.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise ValueError(f"seed must be an integer; got {seed!r}.")
    np_state = np.random.get_state()
    py_state = random.getstate() if python_random else None
    try:
        np.random.seed(int(seed) % 2**32)
        if python_random:
            random.seed(int(seed))
        yield
    finally:
        np.random.set_state(np_state)
        if py_state is not None:
            random.setstate(py_state)


@contextlib.contextmanager
def torch_seed(seed: int, device: Any = None) -> Iterator[Any]:
    """Seed torch's global generators inside the block and restore them afterwards; yield a seeded generator.

    Parameter initialisation in ``torch.nn`` draws from the global generator; forking it keeps an estimator
    reproducible without leaking state to (or reading state from) the caller.

    Parameters
    ----------
    seed : int
        A 32-bit seed, e.g. ``seed_from(self.random_state)``.
    device : str or torch.device or None, default None
        The device the estimator computes on; for a CUDA device its generator is forked and seeded too, and the
        yielded generator lives there. None means the CPU.

    Yields
    ------
    torch.Generator
        Seeded with ``seed``, on ``device``, for explicit draws.
    """
    import torch

    dev = torch.device("cpu" if device is None else device)
    # torch.manual_seed seeds every CUDA device as well: fork (and so restore) all of them
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        gen = torch.Generator(device=dev)
        gen.manual_seed(int(seed))
        yield gen
