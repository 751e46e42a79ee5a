"""catebench estimators: one contract (:class:`~catebench.estimators.base.CATEEstimator`), many families.

``BUILTIN`` maps each registered name to ``(target "module:Class", parameters, one-line summary)``; the
registry in :mod:`catebench.benchmark.registry` reads it lazily, so importing this package does not import torch.
"""

_LAZY = {"CATEEstimator", "NotFittedError", "Tags", "validate_fit_inputs", "validate_X"}


def __getattr__(name: str):
    # The contract's names load on first use, so that reading BUILTIN (``catebench list``) imports neither numpy
    # nor scikit-learn; ``from catebench.estimators import CATEEstimator`` works as before.
    if name in _LAZY:
        from . import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CATEEstimator", "Tags", "NotFittedError", "validate_fit_inputs", "validate_X", "BUILTIN"]

_META = "catebench.estimators.meta:MetaLearner"
#: Our IWDD variant: the generator regressed on the teacher's draws, then SiD while W1 to the teacher > 0.03.
_IWDD_WS = {"warm_start_steps": 600, "distill_tol": 0.03, "distill_min_steps": 0}

BUILTIN: dict[str, tuple[str, dict, str]] = {
    "s-learner": (_META, {"kind": "s"}, "S-learner (causalml), gradient-boosting base learner"),
    "t-learner": (_META, {"kind": "t"}, "T-learner (causalml), gradient-boosting base learners"),
    "x-learner": (_META, {"kind": "x"}, "X-learner (causalml), gradient boosting + logistic propensity"),
    "r-learner": (_META, {"kind": "r"}, "R-learner (causalml), gradient boosting + logistic propensity"),
    "dr-learner": (_META, {"kind": "dr"}, "DR-learner (causalml), gradient boosting + logistic propensity"),
    "s-learner-linear": (_META, {"kind": "s", "base_learner": "linear"}, "S-learner with OLS (OLS-1)"),
    "t-learner-linear": (_META, {"kind": "t", "base_learner": "linear"}, "T-learner with OLS (OLS-2)"),
    "causal-forest": ("catebench.estimators.forest:CausalForest", {}, "Causal forest (econml CausalForestDML)"),
    "tarnet": ("catebench.estimators.neural:TARNet", {}, "TARNet (Shalit et al. 2017), torch"),
    "cfr-mmd": ("catebench.estimators.neural:TARNet", {"ipm": "mmd-rbf"}, "CFR with RBF-kernel MMD penalty (Shalit et al. 2017)"),
    "cfr-mmd-lin": ("catebench.estimators.neural:TARNet", {"ipm": "mmd-lin"}, "CFR with squared linear MMD (the authors' IHDP config)"),
    "cfr-wass": ("catebench.estimators.neural:TARNet", {"ipm": "wass"}, "CFR with Sinkhorn Wasserstein penalty (Shalit et al. 2017)"),
    "dragonnet": ("catebench.estimators.neural:DragonNet", {}, "DragonNet (Shi et al. 2019), torch"),
    "dragonnet-treg": ("catebench.estimators.neural:DragonNet", {"targeted_reg": True}, "DragonNet + targeted regularization"),
    "diffusion-teacher": ("catebench.estimators.iwdd:DiffusionTeacher", {}, "Conditional EDM diffusion teacher, 50-step Heun sampler"),
    "diffusion-teacher-release": ("catebench.estimators.iwdd:DiffusionTeacherRelease", {}, "Diffusion teacher on the IWDD authors' release schedule (2000 epochs, no early stopping): sensitivity row"),
    "iwdd-rand": ("catebench.estimators.iwdd:IWDD", {"adjustment": "rand"}, "IWDD (paper method): SiD from the teacher, randomized conditions"),
    "iwdd-ipw": ("catebench.estimators.iwdd:IWDD", {"adjustment": "ipw"}, "IWDD (paper method): SiD from the teacher, stabilised IPW"),
    "iwdd-plain": ("catebench.estimators.iwdd:IWDD", {"adjustment": "plain"}, "IWDD (paper method) ablation: SiD from the teacher, no adjustment"),
    "iwdd-kl": ("catebench.estimators.iwdd:IWDD", {"adjustment": "rand", "divergence": "kl"}, "IWDD (paper method) ablation: KL (DMD) distillation, randomized"),
    "iwdd-rand-ws": ("catebench.estimators.iwdd:IWDD", {"adjustment": "rand", **_IWDD_WS}, "IWDD + warm start (ours): regression on the teacher's draws, then SiD, randomized"),
    "iwdd-ipw-ws": ("catebench.estimators.iwdd:IWDD", {"adjustment": "ipw", **_IWDD_WS}, "IWDD + warm start (ours): regression on the teacher's draws, then SiD, stabilised IPW"),
    "iwdd-plain-ws": ("catebench.estimators.iwdd:IWDD", {"adjustment": "plain", **_IWDD_WS}, "IWDD + warm start (ours) ablation: no adjustment"),
    "diffpo": ("catebench.estimators.diffpo:DiffPO", {}, "DiffPO (Ma et al. 2024): conditional DDPM, orthogonal (IPW) diffusion loss"),
    "cevae": ("catebench.estimators.cevae:CEVAE", {}, "CEVAE (Louizos et al. 2017): VAE with a latent confounder, torch"),
    "ganite": ("catebench.estimators.ganite:GANITE", {}, "GANITE (Yoon et al. 2018): counterfactual GAN + ITE generator, torch"),
}
