"""A trained diffusion teacher shared by the estimators that would train exactly the same one.

Every IWDD label and ``diffusion-teacher`` train the same teacher on a task when its inputs agree: the same fit
rows and split, the same scaled data and weights, the same training settings and the same random state on entry.
When the directory named by ``$CATEBENCH_TEACHER_CACHE`` is set, the first of them saves the trained teacher
there (its weights, its training history, and the random states it left behind), and the others load it instead
of training it again. The result is bit-identical to training it (``tests/test_iwdd.py`` checks predictions for
equality), because the key is a digest of every input of the training, the code of the training included, and
the random states are restored to where the training would have left them. A loaded teacher is reported in the
estimator's diagnostics (``teacher_from_cache``), since its fit time then excludes the teacher's training.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["ENV", "cache_dir", "cached_training"]

#: The environment variable naming the cache directory (unset or empty: no sharing).
ENV = "CATEBENCH_TEACHER_CACHE"
_CODE: str | None = None


def cache_dir() -> Path | None:
    """The cache directory of this process, or None when sharing is off."""
    value = os.environ.get(ENV, "").strip()
    return Path(value) if value else None


def _code_digest() -> str:
    """Digest of the source of the teacher's training (this package's modules), computed once per process."""
    global _CODE
    if _CODE is None:
        h = hashlib.sha256(torch.__version__.encode())
        for name in ("edm.py", "estimator.py", "teacher_cache.py"):
            h.update((Path(__file__).with_name(name)).read_bytes())
        _CODE = h.hexdigest()
    return _CODE


def _digest(settings: dict[str, Any], tensors: list[Any], gen: torch.Generator, device: torch.device) -> str:
    h = hashlib.sha256(_code_digest().encode())
    h.update(repr(sorted(settings.items())).encode())
    h.update(str(device.type).encode())
    for a in tensors:
        if a is None:
            h.update(b"none")
            continue
        arr = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        h.update(str((arr.dtype, arr.shape)).encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    h.update(gen.get_state().numpy().tobytes())
    h.update(torch.get_rng_state().numpy().tobytes())
    return h.hexdigest()[:32]


def _rng_states(gen: torch.Generator, device: torch.device) -> dict[str, Any]:
    states = {"gen": gen.get_state(), "cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def _restore(states: dict[str, Any], gen: torch.Generator, device: torch.device) -> None:
    gen.set_state(states["gen"])
    torch.set_rng_state(states["cpu"])
    if device.type == "cuda" and "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"], device)


def cached_training(train: Callable[[], tuple[torch.nn.Module, dict]], new_model: Callable[[], torch.nn.Module],
                    settings: dict[str, Any], tensors: list[Any], gen: torch.Generator,
                    device: torch.device) -> tuple[torch.nn.Module, dict, bool]:
    """``train()`` -> (model, history), or the same loaded from the cache; returns (model, history, loaded).

    ``settings`` and ``tensors`` must be every input of ``train`` besides the random states (``gen`` and torch's
    global generator, which enter the key and are left as ``train`` would leave them). A cache entry that cannot
    be read is ignored and trained again.
    """
    root = cache_dir()
    if root is None:
        model, history = train()
        return model, history, False
    key = _digest(settings, tensors, gen, device)
    path = root / f"{key}.pt"
    if path.is_file():
        try:
            blob = torch.load(path, map_location=device, weights_only=False)
            model = new_model()
            model.load_state_dict(blob["state"])
            _restore(blob["rng"], gen, device)
            return model, blob["history"], True
        except Exception:  # noqa: BLE001 - a damaged or foreign file: train instead
            pass
    model, history = train()
    root.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save({"state": model.state_dict(), "history": history, "rng": _rng_states(gen, device)}, buf)
    tmp = path.with_name(f".{key}.{os.getpid()}.tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)  # atomic: a concurrent reader sees the whole file or none
    return model, history, False
