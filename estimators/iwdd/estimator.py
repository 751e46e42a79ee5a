"""The IWDD estimators under the catebench contract.

``DiffusionTeacher`` (registered as ``diffusion-teacher``) is the conditional EDM model of p(y | x, z) sampled
with the 50-step deterministic Heun sampler: the multi-step reference. ``IWDD`` (``iwdd-rand``, ``iwdd-ipw``,
``iwdd-plain``, ``iwdd-kl``) fits the same teacher and distils it into a one-step generator.

Both standardise the covariates (per column, on the fit rows) and the outcome (mean 0, sd 1) internally, and
return draws and means in the original outcome scale. Point predictions are the mean (or median, ``point``) of
``n_predict_samples`` draws per unit and arm, drawn with a seed derived from ``random_state`` so that
``predict`` is deterministic.

CPU-sized defaults, aimed at about 20 s per IHDP fit (672 rows x 25 covariates) on one CPU thread. Measured on
a shared, overloaded 2-core machine (load average 7-10), so upper bounds: teacher alone 7.9 s, a whole ``IWDD``
fit 31-37 s at load ~7 and 120-160 s at load ~10 (``results/iwdd_ihdp/summary.md``). Defaults: width 128, 3 residual blocks, 32-d noise embedding,
teacher 2000 Adam steps at batch 256 (lr 2e-3, x0.3 drops at 50/75/90 %), distillation 400 steps at batch 256
(lr 1e-4, alpha 1.0, sigma_init 2.5), 100 draws per unit and arm for the one-step generator, 30 draws for the
50-step Heun teacher (whose sampling costs 99 network calls per draw).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from .._torch import local_torch_seed, resolve_device, to_tensor
from ..base import CATEEstimator, Tags, seed_from
from .distill import ADJUSTMENTS, DIVERGENCES, distill, generate
from .edm import EDMPrecond, ResidualMLPDenoiser, heun_sample, make_condition, train_teacher

__all__ = ["DiffusionTeacher", "IWDD"]

_CHUNK = 65536  # rows per network call when sampling


class _DiffusionBase(CATEEstimator):
    """Shared plumbing: scaling, teacher fitting, sampling and point predictions."""

    def _check_common(self) -> None:
        for name in ("width", "n_blocks", "teacher_steps", "batch_size", "n_predict_samples"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer; got {v!r}.")
        if not (isinstance(self.teacher_lr, (int, float)) and self.teacher_lr > 0):
            raise ValueError(f"teacher_lr must be a positive number; got {self.teacher_lr!r}.")
        if self.point not in ("mean", "median"):
            raise ValueError(f"point must be 'mean' or 'median'; got {self.point!r}.")

    def _prepare(self, X: np.ndarray, t: np.ndarray, y: np.ndarray):
        self.device_ = resolve_device(self.device)
        self.x_mean_ = X.mean(axis=0)
        sd = X.std(axis=0)
        self.x_scale_ = np.where(sd > 1e-12, sd, 1.0)
        self.y_mean_ = float(y.mean())
        self.y_scale_ = float(y.std()) if y.std() > 1e-12 else 1.0
        x = to_tensor((X - self.x_mean_) / self.x_scale_, self.device_)
        z = to_tensor(t, self.device_)
        ys = to_tensor((y - self.y_mean_) / self.y_scale_, self.device_)
        return x, z, ys

    def _fit_teacher(self, x, z, ys, gen) -> EDMPrecond:
        net = ResidualMLPDenoiser(x.shape[1] + 1, width=int(self.width), n_blocks=int(self.n_blocks))
        teacher = EDMPrecond(net).to(self.device_)
        self.teacher_loss_ = train_teacher(teacher, x, z, ys, gen, int(self.teacher_steps), int(self.batch_size),
                                           float(self.teacher_lr), verbose=bool(self.verbose))
        return teacher

    def _draw(self, cond: torch.Tensor, gen: torch.Generator) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _sample(self, X: np.ndarray, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        return self._sample_seeded(X, n_samples, seed_from(self.random_state, 2))

    def _sample_seeded(self, X: np.ndarray, n_samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        n = X.shape[0]
        x = to_tensor((X - self.x_mean_) / self.x_scale_, self.device_)
        x_rep = x.repeat_interleave(n_samples, dim=0)  # unit-major: row i * S + s
        out = []
        with local_torch_seed(seed, self.device_) as gen, torch.no_grad():
            for arm in (0.0, 1.0):
                cond = make_condition(x_rep, torch.full((n * n_samples,), arm, device=self.device_))
                draws = torch.cat([self._draw(cond[i:i + _CHUNK], gen) for i in range(0, len(cond), _CHUNK)])
                out.append(draws.reshape(n, n_samples).double().cpu().numpy() * self.y_scale_ + self.y_mean_)
        return out[0], out[1]

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y0, y1 = self._sample_seeded(X, int(self.n_predict_samples), seed_from(self.random_state, 1))
        agg = np.mean if self.point == "mean" else np.median
        return agg(y0, axis=1), agg(y1, axis=1)


class DiffusionTeacher(_DiffusionBase):
    """Conditional EDM diffusion model of p(y | x, z), sampled with the deterministic Heun sampler.

    Parameters
    ----------
    width : int, default 128
        Hidden width of the residual-MLP denoiser.
    n_blocks : int, default 3
        Residual blocks.
    teacher_steps : int, default 2000
        Adam steps of the denoising fit.
    batch_size : int, default 256
    teacher_lr : float, default 2e-3
        Initial learning rate (x0.3 at 50, 75 and 90 % of the steps; weight decay 1e-6).
    heun_steps : int, default 50
        Noise levels of the Heun sampler (2 * heun_steps - 1 network calls per draw).
    n_predict_samples : int, default 30
        Draws per unit and arm behind ``predict`` (Heun sampling is 99x the cost of one network call, so fewer
        than the generator's 100).
    point : {"mean", "median"}, default "mean"
        How ``predict`` summarises the draws.
    device : str, default "auto"
        "auto" (CUDA when available), "cpu" or "cuda".
    verbose : bool, default False
        Progress bars during training.
    random_state : int or None, default 0
    """

    _tags: ClassVar[Tags] = Tags(generative=True, torch=True)

    def __init__(self, width: int = 128, n_blocks: int = 3, teacher_steps: int = 2000, batch_size: int = 256,
                 teacher_lr: float = 2e-3, heun_steps: int = 50, n_predict_samples: int = 30,
                 point: str = "mean", device: str = "auto", verbose: bool = False, random_state: int | None = 0):
        self.width = width
        self.n_blocks = n_blocks
        self.teacher_steps = teacher_steps
        self.batch_size = batch_size
        self.teacher_lr = teacher_lr
        self.heun_steps = heun_steps
        self.n_predict_samples = n_predict_samples
        self.point = point
        self.device = device
        self.verbose = verbose
        self.random_state = random_state

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        self._check_common()
        if not isinstance(self.heun_steps, (int, np.integer)) or self.heun_steps < 2:
            raise ValueError(f"heun_steps must be an integer >= 2; got {self.heun_steps!r}.")
        x, z, ys = self._prepare(X, t, y)
        with local_torch_seed(seed_from(self.random_state, 0), self.device_) as gen:
            self.teacher_ = self._fit_teacher(x, z, ys, gen)

    def _draw(self, cond, gen):
        return heun_sample(self.teacher_, cond, gen, n_steps=int(self.heun_steps))

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        return {"width": 16, "n_blocks": 1, "teacher_steps": 30, "heun_steps": 4, "n_predict_samples": 4,
                "device": "cpu"}


class IWDD(_DiffusionBase):
    """Importance-weighted diffusion distillation: the EDM teacher distilled into a one-step generator.

    Parameters
    ----------
    adjustment : {"rand", "ipw", "plain"}, default "rand"
        How distillation handles confounding: randomized conditions (shuffled covariates, treatments drawn as
        Bernoulli(``treat_prob``)), stabilised inverse-propensity weights on the observed pairs, or nothing.
    divergence : {"sid", "kl"}, default "sid"
        Score-identity distillation, or the KL (DMD-style) ablation.
    width, n_blocks, teacher_steps, batch_size, teacher_lr :
        The teacher, as in :class:`DiffusionTeacher` (defaults 128, 3, 2000, 256, 2e-3); ``batch_size`` is also
        the distillation batch.
    distill_steps : int, default 400
        Alternating (fake score, generator) updates.
    distill_lr : float, default 1e-4
        Adam learning rate of the generator and the fake score net (betas (0, 0.999)).
    alpha : float, default 1.0
        SiD's alpha.
    sigma_init : float, default 2.5
        The generator is G(eps; c) = D(sigma_init * eps; sigma_init, c).
    treat_prob : float or None, default None
        P(z~ = 1) of the randomized conditions; None uses the treated share of the fit rows.
    propensity_clip : float, default 0.02
        ``"ipw"``: the logistic-regression propensity is clipped to [clip, 1 - clip] before the weights
        p(z) / e(z | x) are formed (then normalised to mean 1 in each minibatch).
    n_predict_samples : int, default 100
        One-step draws per unit and arm behind ``predict``.
    point : {"mean", "median"}, default "mean"
    device : str, default "auto"
    verbose : bool, default False
    random_state : int or None, default 0
    """

    _tags: ClassVar[Tags] = Tags(generative=True, torch=True)

    def __init__(self, adjustment: str = "rand", divergence: str = "sid", width: int = 128, n_blocks: int = 3,
                 teacher_steps: int = 2000, batch_size: int = 256, teacher_lr: float = 2e-3,
                 distill_steps: int = 400, distill_lr: float = 1e-4, alpha: float = 1.0, sigma_init: float = 2.5,
                 treat_prob: float | None = None, propensity_clip: float = 0.02, n_predict_samples: int = 100,
                 point: str = "mean", device: str = "auto", verbose: bool = False,
                 random_state: int | None = 0):
        self.adjustment = adjustment
        self.divergence = divergence
        self.width = width
        self.n_blocks = n_blocks
        self.teacher_steps = teacher_steps
        self.batch_size = batch_size
        self.teacher_lr = teacher_lr
        self.distill_steps = distill_steps
        self.distill_lr = distill_lr
        self.alpha = alpha
        self.sigma_init = sigma_init
        self.treat_prob = treat_prob
        self.propensity_clip = propensity_clip
        self.n_predict_samples = n_predict_samples
        self.point = point
        self.device = device
        self.verbose = verbose
        self.random_state = random_state

    def catebench_tags(self) -> Tags:
        return Tags(generative=True, torch=True, uses_propensity=self.adjustment == "ipw")

    def _check(self) -> None:
        self._check_common()
        if self.adjustment not in ADJUSTMENTS:
            raise ValueError(f"adjustment must be one of {ADJUSTMENTS}; got {self.adjustment!r}.")
        if self.divergence not in DIVERGENCES:
            raise ValueError(f"divergence must be one of {DIVERGENCES}; got {self.divergence!r}.")
        if not isinstance(self.distill_steps, (int, np.integer)) or self.distill_steps < 0:
            raise ValueError(f"distill_steps must be a non-negative integer; got {self.distill_steps!r}.")
        if self.treat_prob is not None and not 0.0 < float(self.treat_prob) < 1.0:
            raise ValueError(f"treat_prob must be None or in (0, 1); got {self.treat_prob!r}.")
        if not 0.0 <= float(self.propensity_clip) < 0.5:
            raise ValueError(f"propensity_clip must be in [0, 0.5); got {self.propensity_clip!r}.")
        if not float(self.sigma_init) > 0:
            raise ValueError(f"sigma_init must be positive; got {self.sigma_init!r}.")

    def _ipw_weights(self, Xs: np.ndarray, t: np.ndarray) -> np.ndarray:
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1.0, max_iter=2000).fit(Xs, t)
        e = np.clip(lr.predict_proba(Xs)[:, 1], self.propensity_clip, 1.0 - self.propensity_clip)
        p1 = t.mean()
        w = np.where(t == 1, p1 / e, (1.0 - p1) / (1.0 - e))
        self.propensity_ = lr
        return w

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        self._check()
        x, z, ys = self._prepare(X, t, y)
        weights = None
        if self.adjustment == "ipw":
            weights = to_tensor(self._ipw_weights((X - self.x_mean_) / self.x_scale_, t), self.device_)
        p = float(t.mean()) if self.treat_prob is None else float(self.treat_prob)
        self.treat_prob_ = p
        with local_torch_seed(seed_from(self.random_state, 0), self.device_) as gen:
            self.teacher_ = self._fit_teacher(x, z, ys, gen)
            self.generator_ = distill(
                self.teacher_, x, z, gen, adjustment=self.adjustment, divergence=self.divergence, weights=weights,
                treat_prob=p, n_steps=int(self.distill_steps), batch_size=int(self.batch_size),
                lr=float(self.distill_lr), alpha=float(self.alpha), sigma_init=float(self.sigma_init),
                verbose=bool(self.verbose),
            )

    def _draw(self, cond, gen):
        return generate(self.generator_, cond, gen, float(self.sigma_init))

    def sample_teacher(self, X: Any, n_samples: int = 100, heun_steps: int = 50) -> tuple[np.ndarray, np.ndarray]:
        """Draws from the fitted teacher with the Heun sampler (the multi-step reference), each (n, n_samples)."""
        from ..base import validate_X

        X = validate_X(X, self._fitted_features())
        t = DiffusionTeacher(heun_steps=heun_steps, random_state=self.random_state)
        t.__dict__.update({k: v for k, v in self.__dict__.items() if k.endswith("_")})
        return t._sample(X, int(n_samples))

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        return {"width": 16, "n_blocks": 1, "teacher_steps": 30, "distill_steps": 10, "batch_size": 64,
                "n_predict_samples": 8, "device": "cpu"}
