"""IWDD: importance-weighted diffusion distillation for CATE estimation (Song, Chen & Zhou 2025).

* :mod:`.edm`: the conditional EDM teacher (preconditioning, continuous noise embedding, residual-MLP denoiser,
  denoising loss, deterministic Heun sampler);
* :mod:`.distill`: score-identity distillation (SiD) and a KL / DMD-style ablation into a one-step generator,
  with the confounding adjustments ``"rand"`` (randomized conditions), ``"ipw"`` and ``"plain"``;
* :mod:`.estimator`: the :class:`~catebench.estimators.base.CATEEstimator` classes ``DiffusionTeacher``,
  ``DiffusionTeacherRelease`` and ``IWDD``.

The condition layout is ``[x, z]`` (covariates first, treatment last) in every stage; it is built only by
:func:`.edm.make_condition`.
"""

from .estimator import IWDD, DiffusionTeacher, DiffusionTeacherRelease

__all__ = ["IWDD", "DiffusionTeacher", "DiffusionTeacherRelease"]
