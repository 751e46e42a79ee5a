"""Tests of the IWDD estimators: conformance, the public release's mistakes, and accuracy on a simple design."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from catebench.estimators.checks import iter_checks, tiny_data
from catebench.estimators.iwdd import IWDD, DiffusionTeacher
from catebench.estimators.iwdd.distill import distill, draw_conditions, generate, ode_pairs, warm_start
from catebench.estimators.iwdd.edm import (
    EDMPrecond, NoiseEmbedding, ResidualMLPDenoiser, heun_sample, karras_sigmas, make_condition, train_teacher,
)

@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Small networks: one intra-op thread is fastest and does not oversubscribe a shared machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


_CONFORMANCE = [
    IWDD(**IWDD.test_params()),
    DiffusionTeacher(**DiffusionTeacher.test_params()),
]


@pytest.mark.parametrize(
    "check",
    [c for est in _CONFORMANCE for c in iter_checks(est)],
    ids=lambda c: f"{c.func.__name__}" if hasattr(c, "func") else c.__name__,
)
def test_conformance(check):
    check()


def _fitted(**kw):
    X, t, y, *_ = tiny_data(n=200)
    return IWDD(**{**IWDD.test_params(), **kw}).fit(X, t, y), X


def _small_teacher(d=3, seed=0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return EDMPrecond(ResidualMLPDenoiser(d + 1, width=16, n_blocks=1))


# ---- the release's mistakes -------------------------------------------------------------------------------------
def test_generator_output_depends_on_x_and_t():
    est, X = _fitted()
    G = est.generator_
    x = torch.as_tensor((X[:50] - est.x_mean_) / est.x_scale_, dtype=torch.float32)
    z = torch.zeros(50)

    def draw(xx, zz):
        g = torch.Generator().manual_seed(7)
        return generate(G, make_condition(xx, zz), g, est.sigma_init)

    base = draw(x, z)
    assert not torch.allclose(base, draw(x, 1 - z), atol=1e-4), "generator ignores the treatment"
    assert not torch.allclose(base, draw(x.flip(0), z), atol=1e-4), "generator ignores the covariates"
    torch.testing.assert_close(base, draw(x, z))  # same inputs, same seed: same draws
    # and through the public API: the two arms differ
    y0, y1 = est.sample(X[:20], 5)
    assert np.abs(y0 - y1).max() > 1e-4


def test_teacher_output_depends_on_x_and_t():
    est, X = _fitted()
    x = torch.as_tensor((X[:30] - est.x_mean_) / est.x_scale_, dtype=torch.float32)
    z = torch.ones(30)

    def draw(xx, zz):
        return heun_sample(est.teacher_, make_condition(xx, zz), torch.Generator().manual_seed(3), n_steps=6)

    base = draw(x, z)
    assert not torch.allclose(base, draw(x, 1 - z), atol=1e-4), "teacher sampler ignores the treatment"
    assert not torch.allclose(base, draw(x.flip(0), z), atol=1e-4), "teacher sampler ignores the covariates"
    # the denoiser itself at a fixed noisy input
    y = torch.zeros(30)
    d1 = est.teacher_(y, 0.5, make_condition(x, z))
    assert not torch.allclose(d1, est.teacher_(y, 0.5, make_condition(x, 1 - z)), atol=1e-5)


def test_heun_sampler_runs_in_row_chunks_on_cpu_with_the_draws_of_one_call(monkeypatch):
    """Cache-sized chunks (sampler_chunks): the network never sees more rows than a chunk, and the draws equal those
    of one call over all rows."""
    import catebench.estimators._torch as tt

    est, X = _fitted()
    x = torch.as_tensor((X[:50] - est.x_mean_) / est.x_scale_, dtype=torch.float32)
    cond = make_condition(x, (torch.arange(50) % 2).float())
    eps = torch.randn(50, generator=torch.Generator().manual_seed(0))
    whole = heun_sample(est.teacher_, cond, None, n_steps=5, eps=eps)
    rows = []
    hook = est.teacher_.register_forward_hook(lambda m, args, out: rows.append(len(out)))
    monkeypatch.setattr(tt, "CPU_SAMPLER_ROWS", 16)
    chunked = heun_sample(est.teacher_, cond, None, n_steps=5, eps=eps)
    hook.remove()
    assert max(rows) == 16 and len(rows) == 4 * (2 * 5 - 1)
    torch.testing.assert_close(chunked, whole, rtol=1e-6, atol=1e-6)
    assert [len(heun_sample(est.teacher_, cond[:k], None, n_steps=3, eps=eps[:k])) for k in (0, 1)] == [0, 1]
    assert [(s.start, s.stop) for s in tt.sampler_chunks(40, torch.device("cpu"))] == [(0, 16), (16, 32), (32, 48)]
    assert len(tt.sampler_chunks(40, torch.device("cuda"))) == 1  # a GPU takes the whole batch


def test_distinct_noise_levels_give_distinct_embeddings():
    emb = NoiseEmbedding(32)
    sigmas = torch.cat([karras_sigmas(torch.linspace(0, 1, 50)), torch.tensor([0.50, 0.51, 0.5001])])
    e = emb(torch.log(sigmas) / 4)
    dist = torch.cdist(e, e) + torch.eye(len(e)) * 1e9
    assert float(dist.min()) > 1e-5, "two distinct noise levels share an embedding"
    # the embedding is continuous in the noise level, not rounded: a tiny change moves it a little
    a, b = emb(torch.tensor([0.1])), emb(torch.tensor([0.1 + 1e-3]))
    assert 0 < float((a - b).norm()) < 0.5
    with pytest.raises(ValueError, match="even"):
        NoiseEmbedding(7)


def test_denoiser_output_varies_with_sigma():
    model = _small_teacher()
    cond = make_condition(torch.randn(4, 3), torch.tensor([0.0, 1.0, 0.0, 1.0]))
    y = torch.full((4,), 0.3)
    outs = torch.stack([model(y, s, cond) for s in (0.01, 0.1, 0.5, 2.0, 10.0)])
    assert torch.unique(outs.round(decimals=6), dim=0).shape[0] == 5


class _Spy:
    """Records (module id, condition) of every denoiser call, copies of the teacher included."""

    def __init__(self, monkeypatch):
        self.calls = []
        original = ResidualMLPDenoiser.forward

        def forward(module, y_in, c_noise, cond):
            self.calls.append((id(module), cond.detach().clone()))
            return original(module, y_in, c_noise, cond)

        monkeypatch.setattr(ResidualMLPDenoiser, "forward", forward)


def test_condition_layout_is_the_same_in_every_stage(monkeypatch):
    rng = np.random.default_rng(0)
    n, d = 64, 3
    x = torch.as_tensor(rng.normal(size=(n, d)), dtype=torch.float32)
    x[:, 0] += 10.0  # a column that cannot be mistaken for a treatment
    z = torch.as_tensor(rng.uniform(size=n) < 0.3, dtype=torch.float32)
    y = x[:, 1] + z
    model = _small_teacher(d)
    spy = _Spy(monkeypatch)
    g = torch.Generator().manual_seed(0)
    train_teacher(model, x, z, y, g, n_steps=3, batch_size=16, lr=1e-3)
    G, _ = distill(model, x, z, g, adjustment="plain", n_steps=2, batch_size=16)
    heun_sample(model, make_condition(x[:5], torch.ones(5)), g, n_steps=3)
    generate(G, make_condition(x[:5], torch.zeros(5)), g, 2.5)
    rows = {tuple(np.round(r, 5)) for r in torch.cat([x, z[:, None]], 1).numpy()}
    assert len(spy.calls) == 3 + 2 * 5 + 5 + 1
    for i, (_, cond) in enumerate(spy.calls):
        assert cond.shape[1] == d + 1
        assert set(cond[:, -1].unique().tolist()) <= {0.0, 1.0}, f"call {i}: last column is not the treatment"
        assert float(cond[:, 0].min()) > 5.0, f"call {i}: first column is not x[:, 0]"
    # teacher training and plain distillation see observed (x, z) pairs in the [x, z] layout
    for _, cond in spy.calls[:-(5 + 1)]:
        assert {tuple(np.round(r, 5)) for r in cond.numpy()} <= rows


@pytest.mark.parametrize("adjustment", ["rand", "ipw", "plain"])
def test_fake_net_and_generator_share_conditions(adjustment, monkeypatch):
    rng = np.random.default_rng(1)
    n, d = 40, 2
    x = torch.as_tensor(rng.normal(size=(n, d)), dtype=torch.float32)
    z = torch.as_tensor(rng.uniform(size=n) < 0.5, dtype=torch.float32)
    model = _small_teacher(d)
    spy = _Spy(monkeypatch)
    w = torch.ones(n) if adjustment == "ipw" else None
    distill(model, x, z, torch.Generator().manual_seed(0), adjustment=adjustment, weights=w, n_steps=1,
            batch_size=16)
    # one step: G draws for the fake step, fake EDM loss, G for the generator step, teacher, fake
    assert len(spy.calls) == 5
    assert len({m for m, _ in spy.calls}) == 3  # generator, fake net and teacher all called
    for _, cond in spy.calls[1:]:
        torch.testing.assert_close(cond, spy.calls[0][1])


def test_randomized_conditions_decouple_x_and_z():
    n = 4000
    x = torch.arange(n, dtype=torch.float32).reshape(-1, 1)
    z = (x[:, 0] < 1000).float()  # perfectly confounded
    cond, w = draw_conditions("rand", x, z, None, 0.25, 2000, torch.Generator().manual_seed(0))
    zz, xx = cond[:, -1], cond[:, 0]
    assert abs(float(zz.mean()) - 0.25) < 0.04
    assert float(xx[zz == 1].mean()) > 1000  # treated draws are not confined to the x < 1000 units
    assert torch.equal(w, torch.ones(2000))
    cond, w = draw_conditions("ipw", x, z, torch.linspace(1, 2, n), 0.5, 100, torch.Generator().manual_seed(0))
    assert abs(float(w.mean()) - 1.0) < 1e-5


def test_treat_prob_default_and_errors():
    est, _ = _fitted()
    X, t, y, *_ = tiny_data(n=200)
    assert est.treat_prob_ == pytest.approx(t[est.train_idx_].mean())  # the treated share of the training rows
    for bad, match in [({"adjustment": "x"}, "adjustment"), ({"treat_prob": 1.5}, "treat_prob"),
                       ({"divergence": "w"}, "divergence"), ({"point": "mode"}, "point"),
                       ({"width": 0}, "width"), ({"teacher_weighting": "aipw"}, "teacher_weighting"),
                       ({"validation_fraction": 1.0}, "validation_fraction"), ({"distill_ema": 1.0}, "distill_ema"),
                       ({"warm_start_steps": -1}, "warm_start_steps"), ({"warm_start_lr": 0.0}, "warm_start_lr")]:
        with pytest.raises(ValueError, match=match):
            IWDD(**{**IWDD.test_params(), **bad}).fit(X, t, y)


def test_median_point_and_kl_variant_run():
    est, X = _fitted(divergence="kl", point="median")
    mu0, mu1 = est.predict(X[:10])
    assert mu0.shape == (10,) and np.all(np.isfinite(mu1))
    assert est.catebench_tags().uses_propensity is False
    assert IWDD(adjustment="ipw").catebench_tags().uses_propensity is True


# ---- accuracy ---------------------------------------------------------------------------------------------------
def _simple_design(n, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    e = 1 / (1 + np.exp(-X[:, 0]))
    t = (rng.uniform(size=n) < e).astype(float)
    mu0 = X[:, 0] + 0.5 * X[:, 1]
    mu1 = mu0 + 1.0 + 1.5 * X[:, 1]
    y = np.where(t == 1, mu1, mu0) + 0.2 * rng.normal(size=n)
    return X, t, y, mu1 - mu0


def _r2(tau_hat, tau):
    return 1 - np.mean((tau_hat - tau) ** 2) / np.var(tau)


@pytest.mark.slow
def test_teacher_and_generator_track_the_truth():
    X, t, y, _ = _simple_design(800, 0)
    Xte, _, _, tau = _simple_design(300, 1)
    est = IWDD(width=64, n_blocks=2, teacher_steps=800, distill_steps=150, distill_min_steps=100, batch_size=256,
               n_predict_samples=100, device="cpu", random_state=0).fit(X, t, y)
    r2_gen = _r2(est.effect(Xte), tau)
    y0, y1 = est.sample_teacher(Xte, n_samples=40, heun_steps=20)
    r2_teacher = _r2(y1.mean(1) - y0.mean(1), tau)
    assert r2_gen > 0.8, f"generator CATE R^2 {r2_gen:.3f}"
    assert r2_teacher > 0.8, f"teacher CATE R^2 {r2_teacher:.3f}"


# ---- honest teacher, budgeted generator, low-variance points ------------------------------------------------------
def _noisy_design(n, seed, noise_sd=0.5):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, size=(n, 2))
    t = (rng.uniform(size=n) < 1 / (1 + np.exp(-X[:, 0]))).astype(float)
    mu0 = X[:, 0] + 0.5 * X[:, 1]
    mu1 = mu0 + 1.0 + X[:, 1]
    y = np.where(t == 1, mu1, mu0) + noise_sd * rng.normal(size=n)
    return X, t, y


def test_early_stopped_teacher_keeps_the_noise_level():
    """A design with known noise sd 0.5: the early-stopped teacher neither memorises the training outcomes nor
    collapses its law; its per-unit predictive sd is within 20 % of 0.5."""
    X, t, y = _noisy_design(1000, 0)
    est = DiffusionTeacher(width=64, n_blocks=2, heun_steps=20, device="cpu", random_state=0).fit(X, t, y)
    h = est.teacher_history_
    assert h["best_step"] < h["steps"] <= 2000 and len(h["val_loss"]) >= 2
    y0, y1 = est.sample(X[:150], 64)
    sd = np.concatenate([y0.std(axis=1, ddof=1), y1.std(axis=1, ddof=1)]).mean()
    assert 0.4 <= sd <= 0.6, f"per-unit predictive sd {sd:.3f}, truth 0.5"
    tr = est.train_idx_
    mu0, mu1 = est.predict(X[tr])
    fact_rmse = np.sqrt(np.mean((np.where(t[tr] == 1, mu1, mu0) - y[tr]) ** 2))
    assert fact_rmse > 0.4, f"teacher reproduces its training outcomes (RMSE {fact_rmse:.3f}, noise sd 0.5)"
    assert est.diagnostics_["teacher_best_step"] == h["best_step"]


def test_point_predictions_are_deterministic_and_share_latents_across_arms():
    est, X = _fitted()
    a, b = est.predict(X[:20]), est.predict(X[:20])
    np.testing.assert_array_equal(a[0], b[0])
    # the mean rule: Gauss-Hermite nodes shared by both arms, so no Monte-Carlo noise enters tau_hat
    from catebench.estimators.iwdd.estimator import latent_nodes

    nodes, w = latent_nodes("mean", 8)
    assert abs(w.sum() - 1) < 1e-12 and abs(nodes @ w) < 1e-12 and abs((nodes**2) @ w - 1) < 1e-9
    est.set_params(point="denoiser")
    d0, d1 = est.predict(X[:20])
    assert d0.shape == (20,) and not np.allclose(d0, a[0])


def test_distillation_budget_is_measured_against_the_teacher():
    est, X = _fitted(distill_steps=20, distill_check_every=5, distill_patience=100, warm_start_steps=0)
    h = est.distill_history_
    assert h["monitor_steps"][0] == 0 and len(h["monitor"]) == len(h["monitor_steps"]) >= 2
    assert est.w1_to_teacher_ == min(h["monitor"]) and est.diagnostics_["w1_to_teacher"] == est.w1_to_teacher_
    # a tolerance the initial generator already meets: without a minimum, no distillation step is taken ...
    est2, _ = _fitted(distill_steps=20, distill_check_every=5, distill_tol=10.0, distill_min_steps=0)
    assert est2.distill_history_["steps"] == 0 and est2.diagnostics_["distill_best_step"] == 0
    # ... with one, SiD takes the minimum and the returned state is a checked state after SiD steps
    est3, _ = _fitted(distill_steps=20, distill_check_every=5, distill_tol=10.0, distill_min_steps=10)
    h = est3.distill_history_
    assert h["steps"] == 10 and h["best_step"] in (5, 10) and h["monitor_steps"] == [0, 5, 10]
    assert est3.w1_to_teacher_ == h["monitor"][h["monitor_steps"].index(h["best_step"])]
    with pytest.raises(ValueError, match="distill_min_steps"):
        _fitted(distill_steps=5, distill_min_steps=10)


def test_warm_start_regresses_the_generator_onto_the_teachers_draws():
    """Regression on the teacher's own (latent, Heun draw) pairs brings the one-step generator far closer to the
    teacher's law than the copied-teacher initialisation, on held-out rows, and leaves the teacher untouched."""
    X, t, y = _noisy_design(400, 0)
    kw = dict(width=32, n_blocks=1, teacher_steps=300, teacher_patience=100, distill_steps=0, distill_min_steps=0,
              batch_size=128, n_predict_samples=8, device="cpu", random_state=0)
    cold = IWDD(**kw, warm_start_steps=0).fit(X, t, y)
    warm = IWDD(**kw, warm_start_steps=200).fit(X, t, y)
    for a, b in zip(cold.teacher_.parameters(), warm.teacher_.parameters()):
        torch.testing.assert_close(a, b)
    assert len(warm.distill_history_["warm_loss"]) == 200 and not cold.distill_history_["warm_loss"]
    assert warm.w1_to_teacher_ < 0.5 * cold.w1_to_teacher_, (warm.w1_to_teacher_, cold.w1_to_teacher_)
    # the spread of the draws follows the teacher's
    y0, y1 = warm.sample(X[:100], 64)
    t0, t1 = warm.sample_teacher(X[:100], 64, heun_steps=20)
    ratio = np.r_[y0.std(1), y1.std(1)].mean() / np.r_[t0.std(1), t1.std(1)].mean()
    assert 0.85 < ratio < 1.15, ratio


def test_observed_arm_pairs_equal_the_full_pairs_and_give_the_same_warm_start():
    """ipw and plain draw the warm start's teacher pairs for the observed arm only (half the Heun calls):
    the latents and the drawn entries equal those of the full call exactly, the other arm is NaN, and the warm
    start that reads them trains the same generator."""
    torch.manual_seed(0)
    teacher = EDMPrecond(ResidualMLPDenoiser(4, width=16, n_blocks=1))
    x, z = torch.randn(30, 3), (torch.rand(30) < 0.4).float()
    eps_f, y_f = ode_pairs(teacher, x, 4, 5, torch.Generator().manual_seed(1))
    eps_o, y_o = ode_pairs(teacher, x, 4, 5, torch.Generator().manual_seed(1), only_arm=z)
    assert torch.equal(eps_f, eps_o)
    obs = z.long()[:, None].expand(30, 4)
    rows = torch.arange(30)[:, None].expand(30, 4)
    assert torch.equal(y_o[rows, obs], y_f[rows, obs])
    assert torch.isnan(y_o[rows, 1 - obs]).all() and not torch.isnan(y_f).any()
    with pytest.raises(ValueError, match="only_arm"):
        ode_pairs(teacher, x, 4, 5, torch.Generator(), only_arm=z[:3])
    # warm_start under "plain" uses the observed-arm pairs; its generator equals one trained on the full pairs
    import catebench.estimators.iwdd.distill as distill_mod

    def run(full: bool):
        G = EDMPrecond(ResidualMLPDenoiser(4, width=16, n_blocks=1))
        G.load_state_dict(teacher.state_dict())
        orig = distill_mod.ode_pairs
        if full:
            distill_mod.ode_pairs = lambda *a, only_arm=None, **k: orig(*a, **k)
        try:
            warm_start(G, teacher, x, z, torch.Generator().manual_seed(2), adjustment="plain", weights=None,
                       treat_prob=0.5, n_steps=20, batch_size=8, lr=1e-3, sigma_init=2.5, n_draws=4, heun_steps=5)
        finally:
            distill_mod.ode_pairs = orig
        return G

    for a, b in zip(run(False).parameters(), run(True).parameters()):
        assert torch.equal(a, b)


def test_importance_weighted_pretraining_changes_the_teacher():
    X, t, y, *_ = tiny_data(n=200)
    a = DiffusionTeacher(**DiffusionTeacher.test_params()).fit(X, t, y)
    b = DiffusionTeacher(**{**DiffusionTeacher.test_params(), "teacher_weighting": "ipw"}).fit(X, t, y)
    assert b.catebench_tags().uses_propensity and not a.catebench_tags().uses_propensity
    assert b.weights_ is not None and abs(np.mean(b.weights_[b.train_idx_]) - 1) < 0.5
    assert not np.allclose(a.predict(X)[0], b.predict(X)[0])


def test_teacher_refit_trains_every_fit_row_for_the_chosen_epochs(monkeypatch):
    """teacher_refit: early stopping chooses the step count on the training rows; a fresh teacher then trains on
    all fit rows, without validation, for as many epochs; off, the early-stopped teacher is kept."""
    import catebench.estimators.iwdd.estimator as est_mod

    X, t, y = _noisy_design(400, 1)
    calls = []

    def spy(model, x, z, y_, gen, n_steps, *args, **kw):
        calls.append((x.shape[0], n_steps, kw.get("val") is None))
        return train_teacher(model, x, z, y_, gen, n_steps, *args, **kw)

    monkeypatch.setattr(est_mod, "train_teacher", spy)
    params = {**DiffusionTeacher.test_params(), "teacher_steps": 100, "teacher_patience": 50}
    on = DiffusionTeacher(**params).fit(X, t, y)
    n_tr, best = len(on.train_idx_), on.teacher_history_["best_step"]
    assert [c[0] for c in calls] == [n_tr, len(X)] and [c[2] for c in calls] == [False, True]
    assert calls[1][1] == max(1, round(best * len(X) / n_tr)) == on.diagnostics_["teacher_refit_steps"]
    calls.clear()
    off = DiffusionTeacher(**params, teacher_refit=False).fit(X, t, y)
    assert [c[0] for c in calls] == [n_tr] and off.diagnostics_["teacher_refit_steps"] == 0
    assert off.teacher_history_["best_step"] == best  # the same selection; only the refit differs
    assert not np.allclose(on.predict(X)[0], off.predict(X)[0])
    with pytest.raises(ValueError, match="teacher_refit"):
        DiffusionTeacher(**params, teacher_refit="yes").fit(X, t, y)


# ---- the paper's method and our variant under their own labels ---------------------------------------------------
_PAPER = ("iwdd-rand", "iwdd-ipw", "iwdd-plain", "iwdd-kl")
_OURS = ("iwdd-rand-ws", "iwdd-ipw-ws", "iwdd-plain-ws")


def test_registry_names_the_paper_method_and_our_variant():
    from catebench.benchmark.registry import ESTIMATORS

    for name in _PAPER + _OURS:
        entry = ESTIMATORS.get(name)
        est = entry.create()
        paper = name in _PAPER
        assert entry.summary.startswith("IWDD (paper method)" if paper else "IWDD + warm start (ours)"), name
        assert (est.warm_start_steps == 0) == paper and (est.distill_min_steps > 0) == paper, name
    # the warm-started variants are today's defaults of the first release of the warm start, nothing else
    rand_ws, rand = ESTIMATORS.create("iwdd-rand-ws").get_params(), ESTIMATORS.create("iwdd-rand").get_params()
    assert {k for k in rand if rand[k] != rand_ws[k]} == {"warm_start_steps", "distill_min_steps"}


@pytest.mark.parametrize("name", _PAPER)
def test_paper_method_takes_sid_steps(name):
    """A paper-method fit takes SiD steps from the teacher's copy and returns a state after at least one of them,
    and stores how many (a fit with no SiD step would be the warm start or the teacher, not the method)."""
    from catebench.benchmark.registry import ESTIMATORS

    X, t, y, *_ = tiny_data(n=200)
    est = ESTIMATORS.create(name, **IWDD.test_params()).fit(X, t, y)
    dg = est.diagnostics_
    assert dg["warm_start_steps"] == 0 and dg["distill_steps"] >= est.distill_min_steps > 0
    assert dg["distill_best_step"] >= 1 and not est.distill_history_["warm_loss"]


def test_kl_and_sid_paper_labels_differ():
    from catebench.benchmark.registry import ESTIMATORS

    X, t, y, *_ = tiny_data(n=200)
    a = ESTIMATORS.create("iwdd-rand", **IWDD.test_params()).fit(X, t, y)
    b = ESTIMATORS.create("iwdd-kl", **IWDD.test_params()).fit(X, t, y)
    for p, q in zip(a.teacher_.parameters(), b.teacher_.parameters()):
        torch.testing.assert_close(p, q)  # same teacher ...
    assert not np.allclose(a.effect(X), b.effect(X))  # ... different distillation, different generator


def test_warm_started_variant_records_its_warm_start():
    from catebench.benchmark.registry import ESTIMATORS

    X, t, y, *_ = tiny_data(n=200)
    est = ESTIMATORS.create("iwdd-rand-ws", **{**IWDD.test_params(), "warm_start_steps": 20,
                                               "distill_min_steps": 0}).fit(X, t, y)
    assert est.diagnostics_["warm_start_steps"] == 20 == len(est.distill_history_["warm_loss"])


def test_generator_gradients_at_states_of_a_distillation_run():
    est, X = _fitted(adjustment="rand")
    X, t, y, *_ = tiny_data(n=200)
    g = est.generator_gradients(X, t, at_steps=(1, 4), n_batches=3, adjustments=("rand", "ipw"), seed=1)
    n_params = sum(p.numel() for p in est.teacher_.parameters())
    assert set(g) == {("rand", 1), ("rand", 4), ("ipw", 1), ("ipw", 4)}
    assert all(v.shape == (3, n_params) and np.isfinite(v).all() for v in g.values())
    assert np.abs(g[("rand", 4)]).max() > 0 and not np.allclose(g[("rand", 4)], g[("ipw", 4)])
    again = est.generator_gradients(X, t, at_steps=(4,), n_batches=3, adjustments=("rand", "ipw"), seed=1)
    np.testing.assert_array_equal(again[("rand", 4)], g[("rand", 4)])  # seeded: the same state and batches
    with pytest.raises(ValueError, match="fit rows"):
        est.generator_gradients(X[:50], t[:50], at_steps=(1,))
    with pytest.raises(ValueError, match="at_steps"):
        est.generator_gradients(X, t, at_steps=(0,))


def test_generator_gradient_matches_the_distillation_step():
    """The public gradient is the one distillation applies: one plain-Adam-free SGD step on it equals the update."""
    from catebench.estimators.iwdd.distill import generator_gradient, generator_loss

    teacher = _small_teacher(2, seed=3)
    G, fake = _small_teacher(2, seed=4), _small_teacher(2, seed=5)
    cond = make_condition(torch.randn(16, 2), (torch.rand(16) < 0.5).float())
    w = torch.ones(16)
    grad = generator_gradient(G, teacher, fake, cond, w, torch.Generator().manual_seed(0), 1.0, 2.5)
    loss = generator_loss(G, teacher, fake, cond, w, torch.Generator().manual_seed(0), 1.0, 2.5)
    ref = torch.cat([p.reshape(-1) for p in torch.autograd.grad(loss, list(G.parameters()))])
    torch.testing.assert_close(grad, ref)


def test_release_teacher_schedule():
    """diffusion-teacher-release: epochs x ceil(n / batch) steps on every fit row, no held-out rows, learning rate
    x0.1 after each drop; the runner never gives it a validation share."""
    from catebench.benchmark.registry import ESTIMATORS
    from catebench.estimators.iwdd import DiffusionTeacherRelease

    X, t, y, *_ = tiny_data(n=200)
    lrs = []
    orig = torch.optim.Adam.step

    def step(self, *a, **k):
        lrs.append(self.param_groups[0]["lr"])
        return orig(self, *a, **k)

    est = ESTIMATORS.create("diffusion-teacher-release", **DiffusionTeacherRelease.test_params())
    assert not est.catebench_tags().uses_validation and est.validation_fraction == 0.0
    torch.optim.Adam.step = step
    try:
        est.fit(X, t, y)
    finally:
        torch.optim.Adam.step = orig
    n_steps = 20 * -(-200 // 64)
    assert len(est.val_idx_) == 0 and est.teacher_history_["steps"] == n_steps == len(lrs)
    expected = [1e-4 * 0.1 ** sum(s > round(f * n_steps) for f in (0.25, 0.5, 0.75, 0.9))
                for s in range(1, n_steps + 1)]
    np.testing.assert_allclose(lrs, expected, rtol=1e-12)
    with pytest.raises(ValueError, match="teacher_lr_drops"):
        DiffusionTeacherRelease(**{**DiffusionTeacherRelease.test_params(), "teacher_lr_drops": (1.5,)}).fit(X, t, y)


def test_gradvar_study_statistics_match_a_naive_reference(monkeypatch):
    """The study's total variance from a Gram matrix equals the naive sum of squared deviations, and its
    bootstrap CI of the variance ratio brackets the point estimate."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    from studies.iwdd_gradvar import ratio_ci, total_variance

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(20, 50)) * 2.0, rng.normal(size=(20, 50))
    idx = rng.integers(0, 20, size=20)
    naive = ((a[idx] - a[idx].mean(0)) ** 2).sum() / 19
    assert total_variance(a @ a.T, idx) == pytest.approx(naive, rel=1e-10)
    ratio, lo, hi = ratio_ci(a @ a.T, b @ b.T, seed=0, n_resamples=300)
    assert ratio == pytest.approx(total_variance(a @ a.T, np.arange(20)) / total_variance(b @ b.T, np.arange(20)))
    assert lo < ratio < hi and 2.0 < ratio < 8.0  # the true ratio is 4


# ---- one teacher shared by the estimators that train the same one -------------------------------------------------
def test_shared_teacher_gives_bit_identical_fits_and_says_so(tmp_path, monkeypatch):
    """With $CATEBENCH_TEACHER_CACHE set, the first estimator trains the teacher and saves it; the others (another
    IWDD design, the teacher alone) load it; every prediction equals that of a fit without the cache, bit for bit,
    and a loaded teacher is named in the diagnostics. Another random state trains its own."""
    from catebench.estimators.iwdd import teacher_cache

    X, t, y, *_ = tiny_data(n=200)
    fits = {
        "rand": lambda rs=0: IWDD(**IWDD.test_params(), random_state=rs),
        "ipw": lambda rs=0: IWDD(**{**IWDD.test_params(), "adjustment": "ipw"}, random_state=rs),
        "teacher": lambda rs=0: DiffusionTeacher(**{**DiffusionTeacher.test_params(), "teacher_steps": 30,
                                                    "batch_size": 64}, random_state=rs),
    }
    monkeypatch.delenv(teacher_cache.ENV, raising=False)
    plain = {k: f().fit(X, t, y) for k, f in fits.items()}
    monkeypatch.setenv(teacher_cache.ENV, str(tmp_path / "teachers"))
    shared = {k: f().fit(X, t, y) for k, f in fits.items()}
    assert [shared[k].diagnostics_.get("teacher_from_cache", 0.0) for k in fits] == [0.0, 1.0, 1.0]
    assert "teacher_from_cache" not in plain["rand"].diagnostics_
    assert len(list((tmp_path / "teachers").glob("*.pt"))) == 1
    for k in fits:
        a, b = plain[k].predict(X), shared[k].predict(X)
        np.testing.assert_array_equal(a[0], b[0]), np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(plain[k].sample(X[:20], 5)[1], shared[k].sample(X[:20], 5)[1])
        assert plain[k].teacher_history_["best_step"] == shared[k].teacher_history_["best_step"]
    other = fits["rand"](1).fit(X, t, y)
    assert "teacher_from_cache" not in other.diagnostics_ and len(list((tmp_path / "teachers").glob("*.pt"))) == 2
    (next((tmp_path / "teachers").glob("*.pt"))).write_bytes(b"damaged")  # a damaged entry is trained again
    again = [f().fit(X, t, y) for f in (fits["rand"], lambda: fits["rand"](1))]
    np.testing.assert_array_equal(again[0].predict(X)[0], plain["rand"].predict(X)[0])
