"""The IWDD estimators under the catebench contract.

``DiffusionTeacher`` (``diffusion-teacher``) is the conditional EDM model of p(y | x, z), sampled with the 50-step
deterministic Heun sampler. ``DiffusionTeacherRelease`` (``diffusion-teacher-release``) is the same model trained
on the authors' release schedule. ``IWDD`` fits the teacher and distils it into a one-step generator; its
defaults are the paper's method (SiD from the teacher's copy: ``iwdd-rand``, ``iwdd-ipw``, ``iwdd-plain``,
``iwdd-kl``); ``warm_start_steps`` > 0 gives our variant (``iwdd-rand-ws``, ``iwdd-ipw-ws``, ``iwdd-plain-ws``).

Teacher: ``validation_fraction`` of the fit rows (per arm) is held out; Adam fits the EDM denoising loss on the
rest, the EDM loss of an EMA of the weights on the held-out rows (fixed draws) picks the step count, and a fresh
teacher is refit on all fit rows for as many epochs (``teacher_refit``). ``teacher_weighting="ipw"`` weights the
denoising loss by stabilised inverse propensities. y is scaled to sd ``SIGMA_DATA``, x to mean 0 / sd 1.

Distillation: SiD (or the KL ablation) over a design of conditions: ``rand`` (shuffled x, z ~ Bernoulli(p)),
``ipw`` (observed pairs, inverse-propensity weights) or ``plain`` (observed pairs). SiD's minimiser at every
condition is the teacher's law, so the generator is a one-step sampler of the teacher whatever the design. The
budget is sized by the per-unit Wasserstein-1 distance between generator and teacher draws on held-out rows,
checked every ``distill_check_every`` steps; the best state is kept, after at least ``distill_min_steps`` SiD
steps. Our variant first regresses the generator on the teacher's own (latent, Heun draw) pairs (warm start).

Point predictions (``point``): ``"mean"``, the mean of the sampler's law by Gauss-Hermite quadrature over the
latent, nodes shared by the arms (no Monte-Carlo noise in tau_hat); ``"median"``, the median at stratified latent
quantiles; ``"denoiser"``, one teacher call D(0; sigma_init, c).

Defaults: architecture, batch and SiD's alpha, sigma_init, betas and learning rate follow the EDM and SiD papers;
the teacher's early stopping, learning rate and refit, SiD's budget and stopping, the warm start and the point
rule were chosen on IHDP development replications 101-110, which no reported table uses.
The evidence is in ``docs/methods/iwdd.md``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from .._generative import DRAW_CHUNK_ROWS
from .._torch import local_torch_seed, resolve_device, to_tensor
from ..base import CATEEstimator, Tags, seed_from
from .distill import ADJUSTMENTS, DIVERGENCES, distill, draw_conditions, generate, generator_gradient
from .edm import SIGMA_DATA, EDMPrecond, ResidualMLPDenoiser, heun_sample, make_condition, train_teacher
from .teacher_cache import cached_training

__all__ = ["DiffusionTeacher", "DiffusionTeacherRelease", "IWDD", "POINT_RULES", "TEACHER_WEIGHTINGS"]

POINT_RULES = ("mean", "median", "denoiser")
TEACHER_WEIGHTINGS = ("none", "ipw")
#: The teacher's validation check: every this many steps, with this many fixed draws per held-out row.
TEACHER_EVAL_EVERY, TEACHER_VAL_DRAWS = 25, 16
#: Generator-to-teacher W1: at most this many held-out units, this many stratified latent quantiles per unit
#: and arm, teacher drawn with this many Heun steps.
W1_UNITS, W1_QUANTILES, W1_HEUN_STEPS = 32, 32, 50


def _normal_ppf(u: np.ndarray) -> np.ndarray:
    from scipy.stats import norm

    return norm.ppf(u)


def latent_nodes(rule: str, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal latent values and weights for a deterministic summary of a sampler's law.

    ``"mean"``: Gauss-Hermite nodes and weights (probabilists'; weights sum to 1). Otherwise: the m stratified
    quantiles Phi^{-1}((k + 0.5) / m), equal weights. Returns ``(eps (m,), weights (m,))``.
    """
    if rule == "mean":
        nodes, w = np.polynomial.hermite_e.hermegauss(m)
        return nodes, w / w.sum()
    return _normal_ppf((np.arange(m) + 0.5) / m), np.full(m, 1.0 / m)


class _DiffusionBase(CATEEstimator):
    """Shared plumbing: scaling, the validation split, teacher fitting, sampling and point predictions."""

    _POINTS: ClassVar[tuple[str, ...]] = POINT_RULES

    # ---- checks and preparation -------------------------------------------------------------------------
    def _check_common(self) -> None:
        for name in ("width", "n_blocks", "teacher_steps", "batch_size", "n_predict_samples", "teacher_patience"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer; got {v!r}.")
        if not (isinstance(self.teacher_lr, (int, float)) and self.teacher_lr > 0):
            raise ValueError(f"teacher_lr must be a positive number; got {self.teacher_lr!r}.")
        if not 0.0 <= float(self.teacher_ema) < 1.0:
            raise ValueError(f"teacher_ema must be in [0, 1); got {self.teacher_ema!r}.")
        if self.point not in self._POINTS:
            raise ValueError(f"point must be one of {self._POINTS}; got {self.point!r}.")
        if self.teacher_weighting not in TEACHER_WEIGHTINGS:
            raise ValueError(f"teacher_weighting must be one of {TEACHER_WEIGHTINGS}; got {self.teacher_weighting!r}.")
        if not 0.0 <= float(self.validation_fraction) < 1.0:
            raise ValueError(f"validation_fraction must be in [0, 1); got {self.validation_fraction!r}.")
        if not 0.0 <= float(self.propensity_clip) < 0.5:
            raise ValueError(f"propensity_clip must be in [0, 0.5); got {self.propensity_clip!r}.")
        if not isinstance(self.teacher_refit, (bool, np.bool_)):
            raise ValueError(f"teacher_refit must be True or False; got {self.teacher_refit!r}.")

    def _needs_propensity(self) -> bool:
        return self.teacher_weighting == "ipw"

    def _prepare(self, X: np.ndarray, t: np.ndarray, y: np.ndarray):
        """Split the fit rows, scale on the training rows; returns tensors (x, z, ys) of all fit rows."""
        from ..neural._nets import validation_split

        self.device_ = resolve_device(self.device)
        rng = np.random.default_rng(seed_from(self.random_state, 3))
        self.train_idx_, self.val_idx_ = validation_split(t, float(self.validation_fraction), rng)
        if len(np.unique(t[self.train_idx_])) < 2:
            raise ValueError("the training rows (after holding out validation rows) lack one treatment arm.")
        tr = self.train_idx_
        self.x_mean_ = X[tr].mean(axis=0)
        sd = X[tr].std(axis=0)
        self.x_scale_ = np.where(sd > 1e-12, sd, 1.0)
        self.y_mean_ = float(y[tr].mean())
        y_sd = float(y[tr].std())
        self.y_scale_ = (y_sd if y_sd > 1e-12 else 1.0) / SIGMA_DATA  # ys = (y - mean) / y_scale_ has sd 0.5
        Xs = (X - self.x_mean_) / self.x_scale_
        self.weights_ = self._ipw_weights(Xs, t) if self._needs_propensity() else None
        x = to_tensor(Xs, self.device_)
        z = to_tensor(t, self.device_)
        ys = to_tensor((y - self.y_mean_) / self.y_scale_, self.device_)
        return x, z, ys

    def _ipw_weights(self, Xs: np.ndarray, t: np.ndarray) -> np.ndarray:
        """Stabilised inverse-propensity weights p(z) / e(z | x) of every fit row (propensity fitted on the
        training rows; clipped); keeps the propensity model as ``propensity_``."""
        self.propensity_, w = self._propensity_weights(Xs, t)
        return w

    def _propensity_weights(self, Xs: np.ndarray, t: np.ndarray):
        """``(logistic model, weights)``: the model fitted on the training rows, the weights of every fit row."""
        from sklearn.linear_model import LogisticRegression

        tr = self.train_idx_
        lr = LogisticRegression(C=1.0, max_iter=2000).fit(Xs[tr], t[tr])
        e = np.clip(lr.predict_proba(Xs)[:, 1], self.propensity_clip, 1.0 - self.propensity_clip)
        p1 = t[tr].mean()
        return lr, np.where(t == 1, p1 / e, (1.0 - p1) / (1.0 - e))

    def _new_teacher(self, d: int) -> EDMPrecond:
        """A freshly initialised denoiser for d covariates (initialised from torch's seeded global generator)."""
        net = ResidualMLPDenoiser(d + 1, width=int(self.width), n_blocks=int(self.n_blocks))
        return EDMPrecond(net, sigma_data=SIGMA_DATA).to(self.device_)

    def _teacher_schedule(self, n_train: int) -> tuple[int, float, tuple]:
        """The teacher's Adam steps, weight decay and learning-rate drops (fractions of the steps) on n_train rows."""
        return int(self.teacher_steps), 1e-6, ()

    def _fit_teacher(self, x, z, ys, gen) -> EDMPrecond:
        """The trained teacher, or the same teacher from the shared cache (:mod:`.teacher_cache`) when another
        estimator trained it on these inputs before."""
        n_steps, weight_decay, lr_drops = self._teacher_schedule(len(self.train_idx_))
        w = to_tensor(self.weights_, self.device_) if self.teacher_weighting == "ipw" else None
        settings = dict(width=int(self.width), n_blocks=int(self.n_blocks), n_steps=n_steps, weight_decay=weight_decay,
                        lr_drops=tuple(lr_drops), batch_size=int(self.batch_size), lr=float(self.teacher_lr),
                        ema=float(self.teacher_ema), patience=int(self.teacher_patience),
                        refit=bool(self.teacher_refit), eval_every=TEACHER_EVAL_EVERY, val_draws=TEACHER_VAL_DRAWS)
        teacher, self.teacher_history_, self.teacher_from_cache_ = cached_training(
            lambda: self._train_teacher(x, z, ys, gen, w, n_steps, weight_decay, lr_drops),
            lambda: self._new_teacher(x.shape[1]), settings,
            [x, z, ys, w, self.train_idx_, self.val_idx_], gen, self.device_)
        return teacher

    def _train_teacher(self, x, z, ys, gen, w, n_steps, weight_decay, lr_drops) -> tuple[EDMPrecond, dict]:
        teacher = self._new_teacher(x.shape[1])
        tr, va = (torch.as_tensor(i, device=self.device_) for i in (self.train_idx_, self.val_idx_))
        val = None
        if len(self.val_idx_):
            val = (x[va], z[va], ys[va]) + ((w[va],) if w is not None else ())
        history = train_teacher(
            teacher, x[tr], z[tr], ys[tr], gen, n_steps, int(self.batch_size), float(self.teacher_lr),
            weight_decay, weights=None if w is None else w[tr], val=val, ema_decay=float(self.teacher_ema),
            eval_every=TEACHER_EVAL_EVERY, patience=int(self.teacher_patience), n_val_draws=TEACHER_VAL_DRAWS,
            lr_drops=lr_drops, verbose=bool(self.verbose),
        )  # fmt: skip
        history["refit_steps"] = 0
        if self.teacher_refit and val is not None:
            # the step count is chosen; now every fit row trains a fresh teacher for as many epochs
            n_fit, n_tr = x.shape[0], len(self.train_idx_)
            steps = max(1, round(int(history["best_step"]) * n_fit / n_tr))
            teacher = self._new_teacher(x.shape[1])
            train_teacher(teacher, x, z, ys, gen, steps, int(self.batch_size), float(self.teacher_lr), weight_decay,
                          weights=w, val=None, ema_decay=float(self.teacher_ema), lr_drops=lr_drops,
                          verbose=bool(self.verbose))
            history["refit_steps"] = steps
        return teacher, history

    def _teacher_diagnostics(self) -> dict[str, float]:
        """The teacher's entries of ``diagnostics_``: early-stopping best step, steps taken, refit steps (0: none)."""
        h = self.teacher_history_
        out = {"teacher_best_step": float(h["best_step"]), "teacher_steps": float(h["steps"]),
               "teacher_refit_steps": float(h["refit_steps"])}
        if getattr(self, "teacher_from_cache_", False):  # this fit's time excludes the teacher's training
            out["teacher_from_cache"] = 1.0
        return out

    # ---- sampling -----------------------------------------------------------------------------------------
    def _map(self, cond: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """The sampler as a deterministic map of standard-normal latents eps (n,) at conditions cond."""
        raise NotImplementedError

    def _scaled(self, X: np.ndarray) -> torch.Tensor:
        return to_tensor((X - self.x_mean_) / self.x_scale_, self.device_)

    def _arms(self, X: np.ndarray, eps: torch.Tensor, fn) -> list[np.ndarray]:
        """Apply ``fn(cond, eps)`` for both arms; eps is (n, m) (shared by the arms); returns two (n, m) arrays
        in the outcome scale."""
        n, m = eps.shape
        x_rep = self._scaled(X).repeat_interleave(m, dim=0)  # unit-major: row i * m + k
        e = eps.reshape(-1)
        out = []
        with torch.no_grad():
            for arm in (0.0, 1.0):
                cond = make_condition(x_rep, torch.full((n * m,), arm, device=self.device_))
                draws = torch.cat([fn(cond[i:i + DRAW_CHUNK_ROWS], e[i:i + DRAW_CHUNK_ROWS])
                                   for i in range(0, len(cond), DRAW_CHUNK_ROWS)])
                out.append(draws.reshape(n, m).double().cpu().numpy() * self.y_scale_ + self.y_mean_)
        return out

    def _sample(self, X: np.ndarray, n_samples: int) -> tuple[np.ndarray, np.ndarray]:
        with local_torch_seed(seed_from(self.random_state, 2), self.device_) as gen:
            eps = torch.randn(X.shape[0], n_samples, generator=gen, device=self.device_)
        y0, y1 = self._arms(X, eps, self._map)
        return y0, y1

    def _predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.point == "denoiser":
            sigma = float(getattr(self, "sigma_init", 2.5))
            zero = torch.zeros(X.shape[0], 1, device=self.device_)
            y0, y1 = self._arms(X, zero, lambda c, e: self.teacher_(torch.zeros_like(e), sigma, c))
            return y0[:, 0], y1[:, 0]
        m = int(self.n_predict_samples)
        nodes, w = latent_nodes(self.point, m)
        eps = to_tensor(np.tile(nodes, (X.shape[0], 1)), self.device_)
        y0, y1 = self._arms(X, eps, self._map)
        if self.point == "mean":
            return y0 @ w, y1 @ w
        return np.median(y0, axis=1), np.median(y1, axis=1)

    def _teacher_map(self, cond: torch.Tensor, eps: torch.Tensor, heun_steps: int) -> torch.Tensor:
        return heun_sample(self.teacher_, cond, None, n_steps=int(heun_steps), eps=eps)

    @classmethod
    def search_space(cls, params: dict[str, Any] | None = None) -> dict[str, list[Any]]:
        """Grid for tuned runs of the teacher and IWDD (:mod:`catebench.benchmark.tuning`): the teacher's ``width`` in {64, 128, 256}, residual
        blocks ``n_blocks`` in {2, 3, 4} and learning rate ``teacher_lr`` in {3e-4, 1e-3, 3e-3}: a factor 2-3
        around the defaults, fixed a priori, not on any test rows."""
        return {"width": [64, 128, 256], "n_blocks": [2, 3, 4], "teacher_lr": [3e-4, 1e-3, 3e-3]}

    # ---- shared parameters -------------------------------------------------------------------------------
    def _set_common(self, width, n_blocks, teacher_steps, batch_size, teacher_lr, teacher_ema, teacher_patience,
                    teacher_weighting, propensity_clip, validation_fraction, teacher_refit, n_predict_samples, point,
                    device, verbose, random_state) -> None:
        self.width = width
        self.n_blocks = n_blocks
        self.teacher_steps = teacher_steps
        self.batch_size = batch_size
        self.teacher_lr = teacher_lr
        self.teacher_ema = teacher_ema
        self.teacher_patience = teacher_patience
        self.teacher_weighting = teacher_weighting
        self.propensity_clip = propensity_clip
        self.validation_fraction = validation_fraction
        self.teacher_refit = teacher_refit
        self.n_predict_samples = n_predict_samples
        self.point = point
        self.device = device
        self.verbose = verbose
        self.random_state = random_state


_TEACHER_PARAMS_DOC = """
    width : int, default 128
        Hidden width of the residual-MLP denoiser.
    n_blocks : int, default 3
        Residual blocks.
    teacher_steps : int, default 2000
        The most Adam steps of the denoising fit (early stopping usually ends it far sooner).
    batch_size : int, default 256
    teacher_lr : float, default 1e-3
        Adam learning rate (constant; weight decay 1e-6).
    teacher_ema : float, default 0.95
        Decay of the EMA of the teacher's weights that is validated and kept.
    teacher_patience : int, default 300
        Stop after this many steps without a better validation EDM loss.
    teacher_weighting : {"none", "ipw"}, default "none"
        Importance-weighted pretraining: weight the denoising loss by stabilised inverse propensity weights.
    propensity_clip : float, default 0.02
        Propensities are clipped to [clip, 1 - clip] before weights are formed.
    validation_fraction : float, default 0.3
        Share of the fit rows held out (per arm) for early stopping and the distillation budget; the runner sets
        it from the split protocol. 0 disables early stopping (then ``teacher_steps`` steps are taken).
    teacher_refit : bool, default True
        Once early stopping has chosen the number of steps on the validation rows, train a fresh teacher on all
        fit rows (training and validation) for the same number of epochs (best step x n_fit / n_train, same
        optimiser and EMA, no validation) and use it. The held-out rows still size the distillation budget (the
        generator never trains on them).
"""


class DiffusionTeacher(_DiffusionBase):
    __doc__ = """Conditional EDM diffusion model of p(y | x, z), sampled with the deterministic Heun sampler.

    Parameters
    ----------""" + _TEACHER_PARAMS_DOC + """    heun_steps : int, default 50
        Noise levels of the Heun sampler (2 * heun_steps - 1 network calls per draw).
    n_predict_samples : int, default 8
        Quadrature nodes (``point="mean"``) or stratified draws (``"median"``) per unit and arm.
    point : {"mean", "median", "denoiser"}, default "mean"
        How ``predict`` summarises the law at (x, z) (module docstring): by default the mean of the Heun
        sampler's law, so that the teacher is compared with its generator like for like.
    device : str, default "auto"
        "auto" (CUDA when available), "cpu" or "cuda".
    verbose : bool, default False
        Progress bars during training.
    random_state : int or None, default 0
    """

    def __init__(self, width: int = 128, n_blocks: int = 3, teacher_steps: int = 2000, batch_size: int = 256,
                 teacher_lr: float = 1e-3, teacher_ema: float = 0.95, teacher_patience: int = 300,
                 teacher_weighting: str = "none", propensity_clip: float = 0.02, validation_fraction: float = 0.3,
                 teacher_refit: bool = True, heun_steps: int = 50, n_predict_samples: int = 8, point: str = "mean",
                 device: str = "auto", verbose: bool = False, random_state: int | None = 0):
        self._set_common(width, n_blocks, teacher_steps, batch_size, teacher_lr, teacher_ema, teacher_patience,
                         teacher_weighting, propensity_clip, validation_fraction, teacher_refit, n_predict_samples,
                         point, device, verbose, random_state)
        self.heun_steps = heun_steps

    def catebench_tags(self) -> Tags:
        return Tags(generative=True, torch=True, uses_validation=True,
                    uses_propensity=self.teacher_weighting == "ipw")

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        self._check_common()
        if not isinstance(self.heun_steps, (int, np.integer)) or self.heun_steps < 2:
            raise ValueError(f"heun_steps must be an integer >= 2; got {self.heun_steps!r}.")
        x, z, ys = self._prepare(X, t, y)
        with local_torch_seed(seed_from(self.random_state, 0), self.device_) as gen:
            self.teacher_ = self._fit_teacher(x, z, ys, gen)
        self.diagnostics_ = self._teacher_diagnostics()

    def _map(self, cond, eps):
        return self._teacher_map(cond, eps, int(self.heun_steps))

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        return {"width": 16, "n_blocks": 1, "teacher_steps": 30, "teacher_patience": 25, "heun_steps": 4,
                "n_predict_samples": 4, "device": "cpu"}


class DiffusionTeacherRelease(DiffusionTeacher):
    __doc__ = """The :class:`DiffusionTeacher` trained on the authors' release schedule, for a sensitivity comparison.

    Adam with learning rate 1e-4 and weight decay 1e-6, batch 512, ``teacher_epochs`` epochs (an epoch is
    ceil(n / batch_size) minibatch steps), the learning rate multiplied by 0.1 after 25, 50, 75 and 90 % of the
    steps, no EMA, no held-out rows and no early stopping (the release has none), the condition routed to the
    network in every call (the release's known bugs fixed, as in every estimator of this module). Same network,
    sampler and point rules as :class:`DiffusionTeacher`.

    Parameters
    ----------
    teacher_epochs : int or None, default 2000
        Epochs over the training rows (the release uses 2000-3000); None takes ``teacher_steps`` steps instead.
    teacher_weight_decay : float, default 1e-6
    teacher_lr_drops : tuple of float, default (0.25, 0.5, 0.75, 0.9)
        Fractions of the steps after which the learning rate is multiplied by 0.1.
    batch_size : int, default 512
    teacher_lr : float, default 1e-4
    teacher_ema : float, default 0.0
        No EMA of the weights.
    validation_fraction : float, default 0.0
        No held-out rows (> 0: early stopping as in :class:`DiffusionTeacher`).
    teacher_refit : bool, default False
    Other parameters : as :class:`DiffusionTeacher`.
    """

    def __init__(self, teacher_epochs: int | None = 2000, teacher_weight_decay: float = 1e-6,
                 teacher_lr_drops: tuple = (0.25, 0.5, 0.75, 0.9), width: int = 128, n_blocks: int = 3,
                 teacher_steps: int = 2000, batch_size: int = 512, teacher_lr: float = 1e-4, teacher_ema: float = 0.0,
                 teacher_patience: int = 300, teacher_weighting: str = "none", propensity_clip: float = 0.02,
                 validation_fraction: float = 0.0, teacher_refit: bool = False, heun_steps: int = 50,
                 n_predict_samples: int = 8, point: str = "mean", device: str = "auto", verbose: bool = False,
                 random_state: int | None = 0):
        super().__init__(width, n_blocks, teacher_steps, batch_size, teacher_lr, teacher_ema, teacher_patience,
                         teacher_weighting, propensity_clip, validation_fraction, teacher_refit, heun_steps,
                         n_predict_samples, point, device, verbose, random_state)
        self.teacher_epochs = teacher_epochs
        self.teacher_weight_decay = teacher_weight_decay
        self.teacher_lr_drops = teacher_lr_drops

    def catebench_tags(self) -> Tags:
        return Tags(generative=True, torch=True, uses_validation=float(self.validation_fraction) > 0,
                    uses_propensity=self.teacher_weighting == "ipw")

    def _teacher_schedule(self, n_train: int) -> tuple[int, float, tuple]:
        e = self.teacher_epochs
        if e is not None and (not isinstance(e, (int, np.integer)) or isinstance(e, bool) or e < 1):
            raise ValueError(f"teacher_epochs must be None or a positive integer; got {e!r}.")
        drops = tuple(float(f) for f in self.teacher_lr_drops)
        if not all(0.0 < f < 1.0 for f in drops):
            raise ValueError(f"teacher_lr_drops must be fractions in (0, 1); got {self.teacher_lr_drops!r}.")
        if not float(self.teacher_weight_decay) >= 0.0:
            raise ValueError(f"teacher_weight_decay must be non-negative; got {self.teacher_weight_decay!r}.")
        bs = min(int(self.batch_size), n_train)
        steps = int(self.teacher_steps) if e is None else int(e) * -(-n_train // bs)
        return steps, float(self.teacher_weight_decay), drops

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        return {"width": 16, "n_blocks": 1, "teacher_epochs": 20, "batch_size": 64, "heun_steps": 4,
                "n_predict_samples": 4, "device": "cpu"}


class IWDD(_DiffusionBase):
    __doc__ = """Importance-weighted diffusion distillation: the EDM teacher distilled into a one-step generator.

    The defaults are the paper's method: SiD starts from the teacher's copy and takes at least
    ``distill_min_steps`` steps. ``warm_start_steps`` > 0 (with ``distill_min_steps=0``, ``distill_tol=0.03``)
    gives our variant, registered as ``iwdd-*-ws``.

    Parameters
    ----------
    adjustment : {"rand", "ipw", "plain"}, default "rand"
        The design over conditions during distillation: randomized conditions (shuffled covariates, treatments
        drawn as Bernoulli(``treat_prob``)), stabilised inverse-propensity weights on the observed pairs, or
        observed pairs unweighted. (Where it can matter: module docstring.)
    divergence : {"sid", "kl"}, default "sid"
        Score-identity distillation, or the KL (DMD-style) ablation.""" + _TEACHER_PARAMS_DOC + """    distill_steps : int, default 1000
        The most alternating (fake score, generator) updates.
    distill_lr : float, default 1e-4
        Adam learning rate of the generator and the fake score net (betas (0, 0.999)).
    distill_ema : float, default 0.99
        Decay of the EMA of the generator's weights (the returned generator).
    distill_check_every : int, default 50
        Steps between generator-to-teacher W1 checks on held-out fit rows.
    distill_patience : int, default 200
        Stop after this many steps without a lower W1.
    distill_tol : float, default 0.03
        Stop once W1 is at most this many outcome standard deviations.
    distill_min_steps : int, default 200
        SiD steps taken before the tolerance or the patience can stop distillation; when > 0 the returned
        generator is the best checked state after at least one SiD step.
    alpha : float, default 1.0
        SiD's alpha.
    sigma_init : float, default 2.5
        The generator is G(eps; c) = D(sigma_init * eps; sigma_init, c).
    treat_prob : float or None, default None
        P(z~ = 1) of the randomized conditions; None uses the treated share of the training rows.
    warm_start_steps : int, default 0
        Adam steps of the regression of the generator on the teacher's (latent, Heun draw) pairs before SiD
        (our variant); 0 starts SiD from the copied teacher, as in the paper.
    warm_start_lr : float, default 1e-3
        Learning rate of the warm start.
    n_predict_samples : int, default 16
        Quadrature nodes (``point="mean"``) or stratified draws (``"median"``) per unit and arm.
    point : {"mean", "median", "denoiser"}, default "mean"
        ``"mean"`` and ``"median"`` summarise the one-step generator's law; ``"denoiser"`` uses the teacher.
    device : str, default "auto"
    verbose : bool, default False
    random_state : int or None, default 0
    """

    def __init__(self, adjustment: str = "rand", divergence: str = "sid", width: int = 128, n_blocks: int = 3,
                 teacher_steps: int = 2000, batch_size: int = 256, teacher_lr: float = 1e-3,
                 teacher_ema: float = 0.95, teacher_patience: int = 300, teacher_weighting: str = "none",
                 propensity_clip: float = 0.02, validation_fraction: float = 0.3, teacher_refit: bool = True,
                 distill_steps: int = 1000, distill_lr: float = 1e-4, distill_ema: float = 0.99,
                 distill_check_every: int = 50, distill_patience: int = 200, distill_tol: float = 0.03,
                 distill_min_steps: int = 200, alpha: float = 1.0, sigma_init: float = 2.5,
                 treat_prob: float | None = None, warm_start_steps: int = 0, warm_start_lr: float = 1e-3,
                 n_predict_samples: int = 16,
                 point: str = "mean", device: str = "auto", verbose: bool = False, random_state: int | None = 0):
        self._set_common(width, n_blocks, teacher_steps, batch_size, teacher_lr, teacher_ema, teacher_patience,
                         teacher_weighting, propensity_clip, validation_fraction, teacher_refit, n_predict_samples,
                         point, device, verbose, random_state)
        self.adjustment = adjustment
        self.divergence = divergence
        self.distill_steps = distill_steps
        self.distill_lr = distill_lr
        self.distill_ema = distill_ema
        self.distill_check_every = distill_check_every
        self.distill_patience = distill_patience
        self.distill_tol = distill_tol
        self.distill_min_steps = distill_min_steps
        self.alpha = alpha
        self.sigma_init = sigma_init
        self.treat_prob = treat_prob
        self.warm_start_steps = warm_start_steps
        self.warm_start_lr = warm_start_lr

    def catebench_tags(self) -> Tags:
        return Tags(generative=True, torch=True, uses_validation=True,
                    uses_propensity=self.adjustment == "ipw" or self.teacher_weighting == "ipw")

    def _needs_propensity(self) -> bool:
        return self.adjustment == "ipw" or self.teacher_weighting == "ipw"

    def _check(self) -> None:
        self._check_common()
        if self.adjustment not in ADJUSTMENTS:
            raise ValueError(f"adjustment must be one of {ADJUSTMENTS}; got {self.adjustment!r}.")
        if self.divergence not in DIVERGENCES:
            raise ValueError(f"divergence must be one of {DIVERGENCES}; got {self.divergence!r}.")
        for name in ("distill_steps", "distill_patience", "distill_min_steps", "warm_start_steps"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 0:
                raise ValueError(f"{name} must be a non-negative integer; got {v!r}.")
        if not isinstance(self.distill_check_every, (int, np.integer)) or self.distill_check_every < 1:
            raise ValueError(f"distill_check_every must be a positive integer; got {self.distill_check_every!r}.")
        if self.distill_min_steps > self.distill_steps:
            raise ValueError(f"distill_min_steps ({self.distill_min_steps!r}) must be at most distill_steps "
                             f"({self.distill_steps!r}).")
        if not 0.0 <= float(self.distill_ema) < 1.0:
            raise ValueError(f"distill_ema must be in [0, 1); got {self.distill_ema!r}.")
        if not float(self.distill_tol) >= 0.0:
            raise ValueError(f"distill_tol must be non-negative; got {self.distill_tol!r}.")
        if self.treat_prob is not None and not 0.0 < float(self.treat_prob) < 1.0:
            raise ValueError(f"treat_prob must be None or in (0, 1); got {self.treat_prob!r}.")
        if not float(self.sigma_init) > 0:
            raise ValueError(f"sigma_init must be positive; got {self.sigma_init!r}.")
        if not (isinstance(self.warm_start_lr, (int, float)) and self.warm_start_lr > 0):
            raise ValueError(f"warm_start_lr must be a positive number; got {self.warm_start_lr!r}.")

    def _w1_monitor(self, x: torch.Tensor, rng: np.random.Generator):
        """A function G -> mean per-unit W1 (outcome sds) between generator and teacher draws on held-out rows,
        both arms, at stratified latent quantiles shared by generator and teacher (None without held-out rows)."""
        va = self.val_idx_
        if len(va) == 0:
            return None
        units = np.sort(rng.choice(va, size=min(W1_UNITS, len(va)), replace=False))
        eps_np, _ = latent_nodes("median", W1_QUANTILES)
        n, m = len(units), W1_QUANTILES
        x_rep = x[torch.as_tensor(units, device=self.device_)].repeat_interleave(m, dim=0)
        eps = to_tensor(np.tile(eps_np, n), self.device_)
        conds = [make_condition(x_rep, torch.full((n * m,), a, device=self.device_)) for a in (0.0, 1.0)]
        with torch.no_grad():
            ref = [heun_sample(self.teacher_, c, None, n_steps=W1_HEUN_STEPS, eps=eps).reshape(n, m).sort(1)[0]
                   for c in conds]
        sigma_init = float(self.sigma_init)

        def w1(G: EDMPrecond) -> float:
            with torch.no_grad():
                total = sum(float((generate(G, c, None, sigma_init, eps=eps).reshape(n, m).sort(1)[0] - r)
                                  .abs().mean()) for c, r in zip(conds, ref))
            return total / 2 / SIGMA_DATA  # standardised y has sd SIGMA_DATA: W1 in outcome sds

        return w1

    def _fit(self, X: np.ndarray, t: np.ndarray, y: np.ndarray) -> None:
        self._check()
        x, z, ys = self._prepare(X, t, y)
        tr = torch.as_tensor(self.train_idx_, device=self.device_)
        weights = None
        if self.adjustment == "ipw":
            weights = to_tensor(self.weights_[self.train_idx_], self.device_)
        p = float(t[self.train_idx_].mean()) if self.treat_prob is None else float(self.treat_prob)
        self.treat_prob_ = p
        with local_torch_seed(seed_from(self.random_state, 0), self.device_) as gen:
            self.teacher_ = self._fit_teacher(x, z, ys, gen)
            monitor = self._w1_monitor(x, np.random.default_rng(seed_from(self.random_state, 4)))
            self.generator_, self.distill_history_ = distill(
                self.teacher_, x[tr], z[tr], gen, weights=weights, monitor=monitor, **self._distill_settings(),
            )  # fmt: skip
        h = self.distill_history_
        best = [v for s, v in zip(h["monitor_steps"], h["monitor"]) if s == h["best_step"]]
        self.w1_to_teacher_ = best[0] if best else float("nan")
        self.diagnostics_ = {
            **self._teacher_diagnostics(),
            "distill_best_step": float(h["best_step"]), "distill_steps": float(h["steps"]),
            "warm_start_steps": float(len(h["warm_loss"])), "w1_to_teacher": float(self.w1_to_teacher_),
            "w1_to_teacher_initial": float(h["monitor"][0]) if h["monitor"] else float("nan"),
        }  # fmt: skip

    def _distill_settings(self) -> dict[str, Any]:
        """The keyword arguments of :func:`.distill.distill` that come from the parameters."""
        return dict(adjustment=self.adjustment, divergence=self.divergence, treat_prob=self.treat_prob_,
                    n_steps=int(self.distill_steps), batch_size=int(self.batch_size), lr=float(self.distill_lr),
                    alpha=float(self.alpha), sigma_init=float(self.sigma_init), ema_decay=float(self.distill_ema),
                    check_every=int(self.distill_check_every), patience=int(self.distill_patience),
                    tol=float(self.distill_tol), min_steps=int(self.distill_min_steps),
                    warm_steps=int(self.warm_start_steps), warm_lr=float(self.warm_start_lr),
                    verbose=bool(self.verbose))

    def _map(self, cond, eps):
        return generate(self.generator_, cond, None, float(self.sigma_init), eps=eps)

    def generator_gradients(self, X: Any, t: Any, at_steps: tuple[int, ...], n_batches: int = 64,
                            adjustments: tuple[str, ...] = ("rand", "ipw"),
                            seed: int = 0) -> dict[tuple[str, int], np.ndarray]:
        """Minibatch gradients of the generator's distillation loss at states of a distillation run.

        Distillation is run again from the fitted teacher, with this estimator's settings and design (no
        monitor, ``max(at_steps)`` steps, seeded by ``random_state``). After each step in ``at_steps``, for each
        design in ``adjustments``, ``n_batches`` minibatches of that design are drawn (seeded by ``seed``) and
        the gradient of :func:`.distill.generator_loss` in the generator's parameters is evaluated at the current
        generator and fake score net, as :func:`.distill.distill` computes it.

        Parameters
        ----------
        X : (n, d) array; t : (n,) array
            The fit rows given to :meth:`fit` (needed for the propensity model of ``"ipw"``).
        at_steps : tuple of int >= 1
        n_batches : int
        adjustments : tuple of {"rand", "ipw", "plain"}
        seed : int

        Returns
        -------
        dict mapping (adjustment, step) to a (n_batches, n_params) float32 array.
        """
        from ..base import validate_fit_inputs

        X, t, _ = validate_fit_inputs(X, t, np.zeros(len(t)))
        if X.shape[0] != len(self.train_idx_) + len(self.val_idx_):
            raise ValueError(f"X must be the {len(self.train_idx_) + len(self.val_idx_)} fit rows; got "
                             f"{X.shape[0]} rows.")
        steps = sorted({int(k) for k in at_steps})
        if not steps or steps[0] < 1:
            raise ValueError(f"at_steps must be integers >= 1; got {at_steps!r}.")
        bad = [a for a in adjustments if a not in ADJUSTMENTS]
        if bad:
            raise ValueError(f"adjustments must be among {ADJUSTMENTS}; got {bad!r}.")
        tr = torch.as_tensor(self.train_idx_, device=self.device_)
        x, z = self._scaled(X)[tr], to_tensor(t, self.device_)[tr]
        ipw = to_tensor(self._propensity_weights((X - self.x_mean_) / self.x_scale_, t)[1], self.device_)[tr]
        design_w = {a: ipw if a == "ipw" else None for a in ADJUSTMENTS}
        settings = {**self._distill_settings(), "n_steps": steps[-1], "min_steps": 0, "verbose": False}
        out: dict[tuple[str, int], np.ndarray] = {}

        def at_step(step: int, G: EDMPrecond, fake: EDMPrecond) -> None:
            if step not in steps:
                return
            for k, adj in enumerate(adjustments):
                g = torch.Generator(device=self.device_).manual_seed(seed_from(seed, 6, step, k))
                rows = []
                for _ in range(int(n_batches)):
                    cond, w = draw_conditions(adj, x, z, design_w[adj], self.treat_prob_, int(self.batch_size), g)
                    rows.append(generator_gradient(G, self.teacher_, fake, cond, w, g, float(self.alpha),
                                                   float(self.sigma_init), self.divergence).float().cpu().numpy())
                out[(adj, step)] = np.stack(rows)

        with local_torch_seed(seed_from(self.random_state, 5), self.device_) as gen:
            distill(self.teacher_, x, z, gen, weights=design_w[self.adjustment], monitor=None, callback=at_step,
                    **settings)
        return out

    def sample_teacher(self, X: Any, n_samples: int = 100, heun_steps: int = 50) -> tuple[np.ndarray, np.ndarray]:
        """Draws from the fitted teacher with the Heun sampler (the multi-step reference), each (n, n_samples),
        from the same seeded latents as :meth:`sample`."""
        from ..base import validate_X

        X = validate_X(X, self._fitted_features())
        with local_torch_seed(seed_from(self.random_state, 2), self.device_) as gen:
            eps = torch.randn(X.shape[0], int(n_samples), generator=gen, device=self.device_)
        y0, y1 = self._arms(X, eps, lambda c, e: self._teacher_map(c, e, heun_steps))
        return y0, y1

    @classmethod
    def test_params(cls) -> dict[str, Any]:
        return {"width": 16, "n_blocks": 1, "teacher_steps": 30, "teacher_patience": 25, "distill_steps": 10,
                "distill_check_every": 5, "distill_min_steps": 5, "batch_size": 64, "n_predict_samples": 8,
                "device": "cpu"}
