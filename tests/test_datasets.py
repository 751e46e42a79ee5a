"""Dataset loaders: real shared files (skipped when absent), checksums, offline behaviour, synthetic designs."""

from __future__ import annotations

import gzip
import os
import socket
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from catebench.datasets import BUILTIN, DatasetUnavailable, get_split, split_indices
from catebench.datasets._files import sha256_of
from catebench.datasets.acic2016 import CAUSALLIB_BUNDLED, ACIC2016, list_replications
from catebench.datasets.acic2018 import ACIC2018
from catebench.datasets.ihdp import COVARIATES, ihdp_covariates
from catebench.datasets.ihdp_npz import IHDP_SHA256, IHDPNpz
from catebench.datasets.synthetic import NieWager, Synthetic, Toy1D
from catebench.datasets.twins import Twins

SHARED = Path(os.environ.get("CATEBENCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
IHDP_TEST = SHARED / "data" / "ihdp" / "ihdp_npci_1-100.test.npz"
ACIC_DIR = SHARED / "data" / "acic2016" / "data_cf_all"
need_ihdp = pytest.mark.skipif(not IHDP_TEST.is_file(), reason=f"shared IHDP test file absent ({IHDP_TEST})")
need_acic = pytest.mark.skipif(not ACIC_DIR.is_dir(), reason=f"shared ACIC 2016 files absent ({ACIC_DIR})")


@pytest.fixture
def no_network(monkeypatch):
    """Any socket creation fails, as on a machine with no network."""

    def refuse(*a, **k):
        raise OSError("network disabled in this test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.delenv("CATEBENCH_ALLOW_DOWNLOAD", raising=False)


# ---------------------------------------------------------------- IHDP standard files


@need_ihdp
def test_ihdp_test_file_checksum_is_the_pinned_one(tmp_path):
    assert sha256_of(IHDP_TEST) == IHDP_SHA256[(100, "test")]
    data = IHDPNpz(part="test", data_dir=str(SHARED / "data")).load(1)  # verifies the digest on the way
    assert data.X.shape == (75, 25) and data.truth[0] == "mu"
    # a corrupted copy is refused, naming both digests
    bad = tmp_path / "ihdp" / IHDP_TEST.name
    bad.parent.mkdir()
    raw = bytearray(IHDP_TEST.read_bytes())
    raw[-1] ^= 1
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=IHDP_SHA256[(100, "test")]):
        IHDPNpz(part="test", data_dir=str(tmp_path)).load(1)


@need_ihdp
def test_ihdp_npz_x_equals_offline_covariates_per_replication():
    X, t = ihdp_covariates()
    raw = np.load(IHDP_TEST)
    used = set()
    for r in range(1, 101):
        d = IHDPNpz(part="test", data_dir=str(SHARED / "data")).load(r)
        dist = np.abs(d.X[:, None, :] - X[None]).max(-1)  # rows are permuted per replication: match each
        j = dist.argmin(1)
        assert dist.min(1).max() < 1e-8, f"replication {r}: a row of x matches no offline IHDP unit"
        assert len(set(j)) == 75 and np.array_equal(t[j], d.t), f"replication {r}: treatment differs"
        assert np.array_equal(d.y, raw["yf"][:, r - 1])
        used |= set(j)
    assert len(used) > 75  # different units are test units in different replications


@need_ihdp
def test_ihdp_npz_follows_npci_setting_a_design():
    """Standard files: log mu0 affine in x with slopes beta on {0,.1,.2,.3,.4}; mu1 - x beta constant (same beta).

    The intercept of log mu0 is 0.5 * sum(beta) (Hill's W = 0.5 offset) plus a shift on the grid {-1, -.75, .., 1},
    not always 0 (it is 0 in 14 of the 87 replications where the 75 test rows identify it); our offline generator
    has no such shift.
    """
    raw = np.load(IHDP_TEST)
    zero_shift = identified = 0
    for r in range(100):
        x, mu0, mu1 = raw["x"][:, :, r], raw["mu0"][:, r], raw["mu1"][:, r]
        A = np.c_[np.ones(len(x)), x]
        coef = np.linalg.lstsq(A, np.log(mu0), rcond=None)[0]
        assert np.abs(A @ coef - np.log(mu0)).max() < 1e-8
        beta = coef[1:]
        assert np.std(mu1 - x @ beta) < 1e-8  # holds for any solution when the rows leave beta unidentified
        if np.linalg.matrix_rank(A) == A.shape[1]:
            identified += 1
            assert np.abs(beta * 10 - np.round(beta * 10)).max() < 1e-8 and beta.min() > -1e-8 and beta.max() < 0.4 + 1e-8
            shift = coef[0] - 0.5 * beta.sum()
            assert abs(shift * 4 - round(shift * 4)) < 1e-8 and abs(shift) <= 1 + 1e-8
            zero_shift += abs(shift) < 1e-8
    assert identified > 50 and zero_shift >= 1


def test_ihdp_npz_both_parts_give_predefined_split(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    for part, n in (("train", 6), ("test", 3)):
        arrs = {"x": rng.normal(size=(n, 25, 2)), **{k: rng.normal(size=(n, 2)) for k in ("yf", "ycf", "mu0", "mu1")}}
        arrs["t"] = (rng.random((n, 2)) < 0.5).astype(float)
        path = tmp_path / f"ihdp_npci_1-100.{part}.npz"
        np.savez(path, **arrs)
        monkeypatch.setitem(IHDP_SHA256, (100, part), sha256_of(path))
    d = IHDPNpz(data_dir=str(tmp_path)).load(2)
    assert d.X.shape == (9, 25) and d.test_mask.sum() == 3 and d.test_mask[-3:].all()
    fit, test = split_indices(d.n, get_split("predefined"), seed=0, test_mask=d.test_mask)
    assert list(test) == [6, 7, 8] and list(fit) == list(range(6))
    assert np.array_equal(np.where(d.t == 1, d.y1, d.y0), d.y)


# ---------------------------------------------------------------- ACIC 2016


@need_acic
def test_acic2016_shared_settings_equal_causallib_bundled():
    for k in (1, 2, 5, 6, 7, 8, 9, 10):
        a = ACIC2016(setting=None, simulation="bundled", source="causallib").load(k)
        b = ACIC2016(setting=None, simulation=1, source="dir", data_dir=str(SHARED / "data")).load(k)
        assert np.array_equal(a.X, b.X) and a.feature_names == b.feature_names
        assert np.array_equal(a.t, b.t)
        for f in ("mu0", "mu1", "y0", "y1", "y"):
            np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=0, atol=1e-8, err_msg=f"setting {k} {f}")


@need_acic
def test_acic2016_all_77_shared_settings_load():
    ds = ACIC2016(source="dir", data_dir=str(SHARED / "data"))
    assert ds.n_replications == 77
    for k in (11, 40, 77):
        d = ds.load(k)
        assert d.X.shape == (4802, 82) and set(np.unique(d.t)) == {0.0, 1.0}
    with pytest.raises(DatasetUnavailable, match="zymu_2.csv"):
        ACIC2016(setting=5, source="dir", data_dir=str(SHARED / "data")).load(2)


def test_acic2016_directory_layout_numeric_order_and_gzip(tmp_path):
    src = ACIC2016(source="causallib", simulation="bundled")
    x, zymu = (src._files(1, "bundled")[i] for i in (0, 1))
    root = tmp_path / "data_cf_all"
    (root / "7").mkdir(parents=True)
    (root / "x.csv").write_bytes(x.read_bytes())
    frame = pd.read_csv(zymu)
    for rep, shift in ((2, 0.0), (10, 1.0)):
        with gzip.open(root / "7" / f"zymu_{rep}.csv.gz", "wt") as f:
            (frame.assign(mu0=frame.mu0 + shift)).to_csv(f, index=False)
    assert list_replications(str(tmp_path), 7) == [2, 10]
    d2, d10 = (ACIC2016(setting=7, source="dir", data_dir=str(tmp_path)).load(r) for r in (2, 10))
    np.testing.assert_allclose(d10.mu0 - d2.mu0, 1.0)
    assert d2.X.shape == (4802, 82)


def test_acic2016_causallib_offline_and_one_hot_consistent():
    a, b = (ACIC2016(simulation="bundled").load(k) for k in (3, 4))
    assert a.X.shape == b.X.shape == (4802, 82) and a.feature_names == b.feature_names
    cat = [c for c in a.feature_names if c.startswith("x_2=")]
    assert len(cat) > 1 and np.all(a.X[:, [a.feature_names.index(c) for c in cat]].sum(1) == 1)
    assert set(CAUSALLIB_BUNDLED) == set(range(1, 11))
    with pytest.raises(DatasetUnavailable, match="causallib bundles no file for setting 3, simulation 1"):
        ACIC2016(source="causallib").load(3)
    with pytest.raises(ValueError, match="setting must be 1..77"):
        ACIC2016(setting=78).load(1)


# ---------------------------------------------------------------- ACIC 2018 (IBM format fixture)


def _ibm_fixture(root: Path, rng) -> dict:
    root.mkdir(parents=True)
    ids = [f"s{i:03d}" for i in range(40)]
    x = pd.DataFrame(rng.normal(size=(40, 4)), columns=[f"c{j}" for j in range(4)])
    x.insert(0, "sample_id", ids)
    x.to_csv(root / "x.csv", index=False)
    truth = {}
    for ufid, n in (("b2c", 25), ("a1f", 30)):
        (root / "factuals").mkdir(exist_ok=True)
        (root / "counterfactuals").mkdir(exist_ok=True)
        pick = list(rng.choice(ids, size=n, replace=False))
        z = (rng.random(n) < 0.4).astype(int)
        y0, y1 = rng.normal(size=n), rng.normal(size=n) + 1
        pd.DataFrame({"sample_id": pick, "z": z, "y": np.where(z == 1, y1, y0)}).to_csv(root / "factuals" / f"{ufid}.csv", index=False)
        pd.DataFrame({"sample_id": pick[::-1], "y0": y0[::-1], "y1": y1[::-1]}).to_csv(root / "counterfactuals" / f"{ufid}_cf.csv", index=False)
        truth[ufid] = (pick, z, y0, y1)
    return truth


def test_acic2018_loads_ibm_format_fixture(tmp_path):
    truth = _ibm_fixture(tmp_path / "acic2018", np.random.default_rng(1))
    ds = ACIC2018(data_dir=str(tmp_path))
    assert ds.n_replications == 2 and ds.datasets() == ["a1f", "b2c"]
    x = pd.read_csv(tmp_path / "acic2018" / "x.csv").set_index("sample_id")
    for r, ufid in ((1, "a1f"), (2, "b2c")):
        d = ds.load(r)
        pick, z, y0, y1 = truth[ufid]
        assert np.array_equal(d.X, x.loc[pick].to_numpy()) and np.array_equal(d.t, z)
        np.testing.assert_allclose(d.y0, y0)
        np.testing.assert_allclose(d.y1, y1)
        assert d.truth[0] == "y" and d.mu0 is None
    assert ACIC2018(ufids=["b2c"], data_dir=str(tmp_path)).load(1).n == 25
    with pytest.raises(DatasetUnavailable, match="zzz.csv"):
        ACIC2018(ufids=["zzz"], data_dir=str(tmp_path)).load(1)


# ---------------------------------------------------------------- Twins (fixture in the GANITE format)


def test_twins_ganite_assignment_seeded(tmp_path, monkeypatch):
    rng = np.random.default_rng(2)
    n = 400
    df = pd.DataFrame(rng.integers(0, 5, size=(n, 30)), columns=[f"f{j}" for j in range(30)])
    df["outcome(t=0)"] = np.where(rng.random(n) < 0.2, rng.integers(0, 365, n), 9999)
    df["outcome(t=1)"] = np.where(rng.random(n) < 0.15, rng.integers(0, 365, n), 9999)
    path = tmp_path / "Twin_Data.csv.gz"
    df.to_csv(path, index=False)
    with pytest.raises(ValueError, match="0128e5df"):  # not the real file: the pinned digest refuses it
        Twins(data_dir=str(tmp_path)).load(1)
    monkeypatch.setattr("catebench.datasets.twins.TWINS_SHA256", sha256_of(path))
    a, b, c = Twins(data_dir=str(tmp_path)).load(1), Twins(data_dir=str(tmp_path)).load(1), Twins(data_dir=str(tmp_path)).load(2)
    assert np.array_equal(a.t, b.t) and not np.array_equal(a.t, c.t)
    assert a.X.shape == (n, 30) and set(np.unique(a.y0)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a.y0, (df["outcome(t=0)"] < 9999).astype(float))
    assert 0.3 < a.t.mean() < 0.7
    r = Twins(assignment="random", data_dir=str(tmp_path)).load(1)
    assert 0.4 < r.t.mean() < 0.6


# ---------------------------------------------------------------- offline behaviour of every loader


def test_every_loader_offline_works_or_says_what_to_do(tmp_path, no_network):
    with pytest.raises(OSError):
        socket.socket()
    for name, (target, params, _) in sorted(BUILTIN.items()):
        from catebench.benchmark.registry import import_object

        cls = import_object(target)
        kwargs = dict(params)
        if "data_dir" in cls().get_params():
            kwargs["data_dir"] = str(tmp_path / "empty")
        ds = cls(**kwargs)
        try:
            data = ds.load(1)
        except DatasetUnavailable as exc:
            msg = str(exc)
            assert str(tmp_path / "empty") in msg, f"{name}: message names no directory: {msg}"
            assert "sha256" in msg, f"{name}: message says nothing of the digest: {msg}"
            assert any(s in msg for s in (".csv", ".npz")), f"{name}: message names no file: {msg}"
        else:
            assert data.n > 0 and data.truth[0] in ("mu", "y"), name
        card = ds.card()
        assert card.licence and card.source and card.offline, name


def test_offline_loaders_that_must_work(no_network):
    assert ACIC2016(simulation="bundled").load(8).n == 4802
    for cls in (Toy1D, Synthetic, NieWager):
        assert cls().load(1).n == 1000


# ---------------------------------------------------------------- synthetic designs and splits


def test_synthetic_knobs_and_reproducibility():
    a, b = Synthetic().load(3), Synthetic().load(3)
    assert np.array_equal(a.X, b.X) and np.array_equal(a.y, b.y)
    assert not np.array_equal(a.y, Synthetic().load(4).y)
    X = np.random.default_rng(0).standard_normal((20000, 10))
    _, _, e_rct = Synthetic(imbalance=0.0).surfaces(X)
    assert np.all(e_rct == 0.5)
    _, _, e_weak = Synthetic(imbalance=4.0).surfaces(X)
    _, _, e_mid = Synthetic(imbalance=1.0).surfaces(X)
    assert np.mean((e_weak < 0.05) | (e_weak > 0.95)) > np.mean((e_mid < 0.05) | (e_mid > 0.95))
    mu0, mu1, e_conf = Synthetic(confounding=1.0).surfaces(X)
    _, _, e_none = Synthetic(confounding=0.0).surfaces(X)
    assert np.corrcoef(e_conf, mu0)[0, 1] > 0.5 > abs(np.corrcoef(e_none, mu0)[0, 1])
    m0, m1, _ = Synthetic(heterogeneity=0.0, ate=2.0).surfaces(X)
    np.testing.assert_allclose(m1 - m0, 2.0)
    l0, _, _ = Synthetic(nonlinearity=0.0).surfaces(X)
    k = 5
    np.testing.assert_allclose(l0, X[:, :k].sum(1) / np.sqrt(k))
    with pytest.raises(ValueError, match="confounding"):
        Synthetic(confounding=1.5).load(1)


def test_nie_wager_setups():
    b = NieWager("B").load(1)
    assert 0.45 < b.t.mean() < 0.55
    c = NieWager("C", n=500).load(1)
    np.testing.assert_allclose(c.mu1 - c.mu0, 1.0)
    a = NieWager("A").load(1)
    assert a.X.min() >= 0 and a.X.max() <= 1
    np.testing.assert_allclose(a.mu1 - a.mu0, (a.X[:, 0] + a.X[:, 1]) / 2)
    d = NieWager("D").load(1)
    x = d.X
    np.testing.assert_allclose(d.mu1 - d.mu0, np.maximum(0, x[:, :3].sum(1)) - np.maximum(0, x[:, 3] + x[:, 4]))
    assert NieWager("D").name == "nie-wager-d"
    with pytest.raises(ValueError, match="setup"):
        NieWager("E").load(1)


def test_toy_1d_design_and_iwdd_split():
    d = Toy1D().load(1)
    x = d.X[:, 0]
    train = ~d.test_mask
    assert d.test_mask.sum() == 200 and d.test_mask[800:].all()
    assert np.array_equal(d.t[train], (x[train] < -1).astype(float))
    assert 0.35 < d.t[d.test_mask].mean() < 0.65
    np.testing.assert_allclose(d.mu1 - d.mu0, np.exp(x))
    assert np.std(d.y - np.where(d.t == 1, d.mu1, d.mu0)) < 0.15
    # the IWDD paper's split: one 80/20 split by row order, the same as the toy's predefined test rows
    fit, test = split_indices(d.n, get_split("80/20-row-order"), seed=123)
    assert list(fit) == list(range(800)) and list(test) == list(range(800, 1000))
    assert np.array_equal(test, np.flatnonzero(d.test_mask))
    fit2, test2 = split_indices(d.n, get_split("63/27/10"), seed=1)
    assert len(test2) == 100 and get_split("63/27/10").validation_fraction == pytest.approx(0.3)
    assert len(split_indices(d.n, get_split("90/10"), seed=1)[1]) == 100


def test_cli_datasets_prints_every_card(capsys):
    from catebench.benchmark.cli import main

    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    for name in BUILTIN:
        assert f"\n{name}\n" in "\n" + out
    assert out.count("licence") >= len(BUILTIN) and "not redistributable" in out


def test_ihdp_1000_zip_is_read_and_unpinned_digest_is_named(tmp_path):
    import zipfile

    rng = np.random.default_rng(3)
    for part, n in (("train", 4), ("test", 2)):
        arrs = {"x": rng.normal(size=(n, 25, 3)), **{k: rng.normal(size=(n, 3)) for k in ("t", "yf", "ycf", "mu0", "mu1")}}
        arrs["t"] = (arrs["t"] > 0).astype(float)
        npz = tmp_path / f"ihdp_npci_1-1000.{part}.npz"
        np.savez(npz, **arrs)
        with zipfile.ZipFile(str(npz) + ".zip", "w") as z:
            z.write(npz, npz.name)
        npz.unlink()
    zipped = tmp_path / "ihdp_npci_1-1000.train.npz.zip"
    with pytest.warns(UserWarning) as caught:
        d = IHDPNpz(size=1000, data_dir=str(tmp_path)).load(3)
    assert any(sha256_of(zipped) in str(w.message) for w in caught)
    assert d.X.shape == (6, 25) and d.test_mask.sum() == 2
    assert IHDPNpz(size=1000).n_replications == 1000
