"""The prepared CUDA check (studies.gpu_check): its verdict logic, and a CPU-only smoke run of the script."""

from __future__ import annotations

import pandas as pd
import pytest

from studies import gpu_check


def test_compare_flags_a_device_that_trains_worse():
    rows = pd.DataFrame([
        {"estimator": "a", "dataset": "ihdp", "device": "cpu", "pehe_out": 1.0, "fit_s": 10.0},
        {"estimator": "a", "dataset": "ihdp", "device": "cuda", "pehe_out": 1.2, "fit_s": 2.0},
        {"estimator": "b", "dataset": "ihdp", "device": "cpu", "pehe_out": 1.0, "fit_s": 10.0},
        {"estimator": "b", "dataset": "ihdp", "device": "cuda:0", "pehe_out": 3.0, "fit_s": 5.0},
    ])  # fmt: skip
    table = gpu_check.compare(rows, rel_tol=0.5).set_index("estimator")
    assert table.loc["a", "ok"] and not table.loc["b", "ok"]
    assert table.loc["a", "speedup"] == pytest.approx(5.0) and table.loc["b", "ratio"] == pytest.approx(3.0)


def test_torch_estimators_are_found_by_their_device_parameter():
    names = gpu_check.torch_estimators()
    assert {"tarnet", "dragonnet", "diffusion-teacher", "iwdd-rand"} <= set(names)
    assert "t-learner-linear" not in names and "causal-forest" not in names


@pytest.mark.slow
def test_cpu_only_run_writes_its_table(tmp_path):
    rc = gpu_check.main(["--devices", "cpu", "--quick", "--estimators", "tarnet", "--out", str(tmp_path)])
    assert rc == 0
    df = pd.read_csv(tmp_path / "gpu_check.csv")
    assert sorted(df["dataset"]) == ["acic2016", "ihdp"] and (df["pehe_out"] > 0).all()


@pytest.mark.slow
def test_parallel_jobs_give_the_same_scores_as_one_at_a_time(tmp_path):
    args = ["--devices", "cpu", "--quick", "--estimators", "tarnet,dragonnet"]
    assert gpu_check.main(args + ["--out", str(tmp_path / "one")]) == 0
    assert gpu_check.main(args + ["--jobs", "2", "--out", str(tmp_path / "two")]) == 0
    one, two = (pd.read_csv(tmp_path / d / "gpu_check.csv") for d in ("one", "two"))
    cols = ["estimator", "dataset", "device", "pehe_in", "pehe_out"]
    pd.testing.assert_frame_equal(one[cols], two[cols])  # same rows, same order, same numbers
