"""Neural baselines: conformance, the IPMs against independent computations, early stopping, devices."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from catebench.benchmark.registry import ESTIMATORS
from catebench.estimators.checks import iter_checks, tiny_data
from catebench.estimators.neural import DragonNet, TARNet
from catebench.estimators.neural.ipm import mmd_linear, mmd_rbf, pairwise_distance, sinkhorn_plan, wasserstein_sinkhorn

@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One torch thread, as the runner uses (the test machine is shared); restored afterwards."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


NAMES = ["tarnet", "cfr-mmd", "cfr-wass", "dragonnet", "dragonnet-treg"]


def _instance(name):
    entry = ESTIMATORS.get(name) if hasattr(ESTIMATORS, "get") else None
    entry = entry or next(e for e in ESTIMATORS.entries() if e.name == name)
    cls = entry.load()
    return entry.create(**{**entry.params, **cls.test_params()})


def _cases():
    for name in NAMES:
        for check in iter_checks(_instance(name)):
            yield pytest.param(check, id=f"{name}-{check.__name__}")


@pytest.mark.parametrize("check", list(_cases()))
def test_conformance(check):
    check()


def test_registered_params():
    names = NAMES + ["cfr-mmd-lin"]
    params = {e.name: e.params for e in ESTIMATORS.entries() if e.name in names}
    assert set(params) == set(names)
    assert params["cfr-wass"] == {"ipm": "wass"} and params["cfr-mmd"] == {"ipm": "mmd-rbf"}
    assert params["cfr-mmd-lin"] == {"ipm": "mmd-lin"}  # the MMD of the authors' IHDP config
    assert params["dragonnet-treg"] == {"targeted_reg": True}


# ---- IPMs -----------------------------------------------------------------------------------------------------
def _samples(n_t=5, n_c=7, d=3, seed=0, shift=0.7):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n_t, d)) + shift
    b = rng.normal(size=(n_c, d))
    return torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)


def test_pairwise_distance_naive():
    a, b = _samples()
    naive = np.array([[np.linalg.norm(x - y) for y in b.numpy()] for x in a.numpy()])
    np.testing.assert_allclose(pairwise_distance(a, b).numpy(), naive, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mmd_linear_naive(seed):
    a, b = _samples(seed=seed)
    A, B = a.numpy(), b.numpy()
    naive = 0.0
    for x in A:
        for y in A:
            naive += x @ y / len(A) ** 2
    for x in B:
        for y in B:
            naive += x @ y / len(B) ** 2
    for x in A:
        for y in B:
            naive -= 2 * (x @ y) / (len(A) * len(B))
    assert float(mmd_linear(a, b)) == pytest.approx(naive, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed,sigma", [(0, 1.0), (1, 0.5), (2, 3.0)])
def test_mmd_rbf_naive(seed, sigma):
    a, b = _samples(seed=seed)
    A, B = a.numpy(), b.numpy()

    def k(x, y):
        return np.exp(-np.sum((x - y) ** 2) / (2 * sigma**2))

    m, n = len(A), len(B)
    saa = sum(k(A[i], A[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    sbb = sum(k(B[i], B[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    sab = sum(k(x, y) for x in A for y in B) / (m * n)
    assert float(mmd_rbf(a, b, sigma=sigma)) == pytest.approx(saa + sbb - 2 * sab, rel=1e-9, abs=1e-12)


def test_mmd_zero_for_identical_samples_and_positive_for_shift():
    a, _ = _samples()
    assert float(mmd_linear(a, a.clone())) == pytest.approx(0.0, abs=1e-12)
    a, b = _samples(n_t=40, n_c=40, shift=2.0)
    assert float(mmd_rbf(a, b)) > 0.1 and float(mmd_linear(a, b)) > 1.0


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_wasserstein_against_exact_ot(seed):
    """Converged Sinkhorn's plan is feasible, so its cost is >= exact OT and <= OT + eps * log(n m)."""
    ot = pytest.importorskip("ot")
    a, b = _samples(seed=seed)
    M = pairwise_distance(a, b).numpy()
    exact = ot.emd2(np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b)), M)
    for lam in (10.0, 50.0, 200.0):
        value = float(wasserstein_sinkhorn(a, b, lam=lam, iterations=5000))
        eps = M.mean() / lam
        assert exact - 1e-6 <= value <= exact + eps * np.log(len(a) * len(b)) + 1e-6, (lam, value, exact)
    assert float(wasserstein_sinkhorn(a, b, lam=200.0, iterations=5000)) == pytest.approx(exact, rel=0.02)


def test_wasserstein_equal_sizes_assignment():
    """Equal-size uniform samples: exact W1 is the optimal assignment's mean cost."""
    from scipy.optimize import linear_sum_assignment

    a, b = _samples(n_t=6, n_c=6, seed=5)
    M = pairwise_distance(a, b).numpy()
    r, c = linear_sum_assignment(M)
    exact = M[r, c].mean()
    value = float(wasserstein_sinkhorn(a, b, lam=500.0, iterations=20000))
    eps = M.mean() / 500.0
    assert exact - 1e-6 <= value <= exact + eps * np.log(36) + 1e-6


def test_sinkhorn_plan_marginals():
    a, b = _samples()
    M = pairwise_distance(a, b)
    T = sinkhorn_plan(M, float(M.mean()) / 10, 2000)
    np.testing.assert_allclose(T.sum(0).numpy(), 1 / len(b), atol=1e-10)
    np.testing.assert_allclose(T.sum(1).numpy(), 1 / len(a), atol=1e-8)


def test_wasserstein_gradient_matches_exact_plan():
    """With the plan held fixed (Shalit et al., Alg. 2) the gradient approaches that of exact OT (envelope)."""
    ot = pytest.importorskip("ot")
    a, b = _samples(n_t=4, n_c=6, seed=7)
    a.requires_grad_(True)
    wasserstein_sinkhorn(a, b, lam=500.0, iterations=20000).backward()
    M = pairwise_distance(a.detach(), b).numpy()
    plan = torch.tensor(ot.emd(np.full(4, 0.25), np.full(6, 1 / 6), M))
    a2 = a.detach().clone().requires_grad_(True)
    (plan * pairwise_distance(a2, b)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), a2.grad.numpy(), atol=2e-3)


def test_ipm_rejects_bad_input():
    a, b = _samples()
    with pytest.raises(ValueError, match="same number of columns"):
        mmd_linear(a, b[:, :2])
    with pytest.raises(ValueError, match="lam"):
        wasserstein_sinkhorn(a, b, lam=0.0)
    with pytest.raises(ValueError, match="at least one row"):
        wasserstein_sinkhorn(a[:0], b)


# ---- training ------------------------------------------------------------------------------------------------
SMALL = dict(rep_units=16, head_units=8, n_rep_layers=2, n_head_layers=1, device="cpu", random_state=0)


@pytest.mark.parametrize("cls", [TARNet, DragonNet])
def test_early_stopping_uses_only_fit_rows(cls):
    """Validation rows are a stratified share of the rows given to fit; the restored weights are the best ones."""
    X, t, y, *_ = tiny_data(n=200)
    est = cls(max_epochs=25, patience=3, validation_fraction=0.3, **SMALL).fit(X, t, y)
    tr, va = est.train_idx_, est.val_idx_
    assert len(np.intersect1d(tr, va)) == 0 and np.array_equal(np.union1d(tr, va), np.arange(len(X)))
    for arm in (0, 1):
        n_arm = int((t == arm).sum())
        assert int((t[va] == arm).sum()) == round(0.3 * n_arm)
    assert len(est.val_history_) == est.n_epochs_
    assert est.best_epoch_ == int(np.argmin(est.val_history_)) + 1
    # recompute the validation factual loss from the restored network on the held-out fit rows
    Xs = torch.tensor((X[va] - est.x_mean_) / est.x_scale_, dtype=torch.float32)
    ys = (y[va] - est.y_mean_) / est.y_scale_
    with torch.no_grad():
        mu0, mu1 = est._outcomes(est.net_, Xs)
    pred = np.where(t[va] == 1, mu1.numpy(), mu0.numpy())
    w = np.ones(len(va))
    if est.reweight:
        u = t[tr].mean()
        w = t[va] / (2 * u) + (1 - t[va]) / (2 * (1 - u))
    assert np.mean(w * (ys - pred) ** 2) == pytest.approx(est.best_val_loss_, rel=1e-4)
    # scaling statistics come from the training rows only
    np.testing.assert_allclose(est.x_mean_, X[tr].mean(0))
    assert est.y_mean_ == pytest.approx(y[tr].mean())


def test_validation_rows_outcomes_do_not_enter_training():
    """Changing y on the validation rows changes the validation loss, never the gradient steps taken."""
    X, t, y, *_ = tiny_data(n=200)
    for cls in (TARNet, DragonNet):
        # one epoch: the restored weights are those after the epoch, so they depend on the training rows only
        a = cls(max_epochs=1, validation_fraction=0.3, **SMALL).fit(X, t, y)
        y2 = y.copy()
        y2[a.val_idx_] += 100.0
        b = cls(max_epochs=1, validation_fraction=0.3, **SMALL).fit(X, t, y2)
        np.testing.assert_array_equal(a.val_idx_, b.val_idx_)
        assert b.val_history_[0] > 10 * a.val_history_[0]
        # outcome scaling also comes from the training rows only, so the networks and predictions agree
        np.testing.assert_array_equal(a.predict(X)[0], b.predict(X)[0])
        np.testing.assert_array_equal(a.predict(X)[1], b.predict(X)[1])


def test_validation_fraction_zero_runs_all_epochs():
    X, t, y, *_ = tiny_data()
    est = TARNet(max_epochs=7, validation_fraction=0.0, **SMALL).fit(X, t, y)
    assert est.n_epochs_ == 7 and len(est.val_idx_) == 0 and len(est.train_idx_) == len(X)


def test_device_cpu_and_pickle_without_device():
    X, t, y, *_ = tiny_data()
    est = TARNet(ipm="wass", max_epochs=3, **SMALL).fit(X, t, y)
    assert all(p.device.type == "cpu" for p in est.net_.parameters())
    est2 = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(est2.effect(X), est.effect(X), rtol=1e-6)
    with pytest.raises(ValueError, match="device"):
        TARNet(device="tpu-please", max_epochs=1).fit(X, t, y)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available on this machine")
def test_cuda_matches_cpu_roughly():
    X, t, y, *_ = tiny_data()
    params = {**SMALL, "device": "cuda", "max_epochs": 20}
    est = DragonNet(targeted_reg=True, **params).fit(X, t, y)
    assert all(p.device.type == "cuda" for p in est.net_.parameters())
    cpu = DragonNet(targeted_reg=True, **{**params, "device": "cpu"}).fit(X, t, y)
    assert np.corrcoef(est.effect(X), cpu.effect(X))[0, 1] > 0.9
    est_cfr = TARNet(ipm="wass", **params).fit(X, t, y)
    assert np.all(np.isfinite(est_cfr.effect(X)))


@pytest.mark.parametrize("bad,match", [({"ipm": "kl"}, "ipm"), ({"alpha": -1.0}, "alpha"),
                                       ({"batch_size": 0}, "batch_size"), ({"validation_fraction": 1.0}, "validation_fraction"),
                                       ({"activation": "gelu"}, "activation")])  # fmt: skip
def test_bad_params_raise(bad, match):
    X, t, y, *_ = tiny_data()
    with pytest.raises(ValueError, match=match):
        TARNet(**{**SMALL, "max_epochs": 1, **bad}).fit(X, t, y)


def test_dragonnet_propensity_and_targeted_predictions():
    X, t, y, *_ = tiny_data(n=200)
    est = DragonNet(targeted_reg=True, max_epochs=30, patience=30, **SMALL).fit(X, t, y)
    g = est.propensity(X)
    assert g.shape == (len(X),) and np.all((g > 0) & (g < 1))
    # propensity head learns the confounding through X[:, 0]
    assert np.corrcoef(g, X[:, 0])[0, 1] > 0.3
    assert est.epsilon_ != 0.0
    mu0, mu1 = est.predict(X)
    Xs = torch.tensor((X - est.x_mean_) / est.x_scale_, dtype=torch.float32)
    with torch.no_grad():
        q0, q1, _ = est.net_(Xs)
    gc = np.clip(g, 0.01, 0.99)
    np.testing.assert_allclose(mu1, (q1.numpy() + est.epsilon_ / gc) * est.y_scale_ + est.y_mean_, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(mu0, (q0.numpy() - est.epsilon_ / (1 - gc)) * est.y_scale_ + est.y_mean_, rtol=1e-4, atol=1e-4)


def test_cfr_wass_penalty_reduces_imbalance():
    """A large alpha shrinks the Wasserstein distance between the arms' representations."""
    X, t, y, *_ = tiny_data(n=200)
    X = X + 1.5 * t[:, None]  # strong covariate imbalance
    common = {**SMALL, "max_epochs": 40, "validation_fraction": 0.0, "ipm": "wass"}
    dists = []
    for alpha in (0.0, 10.0):
        est = TARNet(alpha=alpha, **common).fit(X, t, y)
        with torch.no_grad():
            h = est.net_.representation(torch.tensor((X - est.x_mean_) / est.x_scale_, dtype=torch.float32))
        tt = torch.tensor(t > 0.5)
        dists.append(float(wasserstein_sinkhorn(h[tt], h[~tt], lam=50, iterations=500)))
    assert dists[1] < 0.5 * dists[0], dists


@pytest.mark.slow
def test_ihdp_fit_sanity():
    """One IHDP replication (672 fit rows), defaults, one thread: far better than a constant. (Fit time is a
    benchmark, not a test: ``python -m studies.perf``.)"""
    from catebench.datasets.ihdp import IHDP
    from catebench.datasets.splits import get_split, split_indices

    d = IHDP().load(1)
    fit, test = split_indices(d.n, get_split("63/27/10"), 1)
    _, mu0, mu1 = d.truth
    for est in (TARNet(ipm="wass", device="cpu", random_state=0), DragonNet(targeted_reg=True, device="cpu", random_state=0)):  # noqa: E501
        est.fit(d.X[fit], d.t[fit], d.y[fit])
        tau = mu1 - mu0
        pehe = np.sqrt(np.mean((est.effect(d.X[test]) - tau[test]) ** 2))
        const = np.sqrt(np.mean((tau[test] - tau[fit].mean()) ** 2))
        assert pehe < 0.8 * const, (type(est).__name__, pehe, const)
