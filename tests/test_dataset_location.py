"""Where a dataset's files lie is not part of what the data are: task keys, seeds and stored dataset parameters do
not depend on ``data_dir``, while the workers still load from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catebench.benchmark.config import DatasetSpec, EstimatorSpec, RunConfig
from catebench.benchmark.runner import task_data
from catebench.benchmark.tasks import plan_tasks

SHARED_ACIC = Path(__file__).resolve().parents[2] / "shared" / "data" / "acic2016"


def _task(name: str, params: dict):
    cfg = RunConfig(name="loc", seed=0, datasets=[DatasetSpec(name, (1,), "80/20-row-order", params)],
                    estimators=[EstimatorSpec("s-learner-linear")]).validate()  # fmt: skip
    (task,) = plan_tasks(cfg)
    return task


@pytest.mark.parametrize("name, params", [("acic2016", {"source": "dir", "simulation": 1}), ("ihdp-1000", {})])
def test_key_seed_and_stored_params_ignore_data_dir(name, params):
    a = _task(name, {**params, "data_dir": "/one/machine/data"})
    b = _task(name, {**params, "data_dir": "/another/machine"})
    c = _task(name, params)
    assert a.key == b.key == c.key
    assert a.random_state == b.random_state == c.random_state
    assert a.dataset_params_json == c.dataset_params_json
    assert "data_dir" not in json.loads(a.dataset_params_json)
    assert json.loads(a.dataset_load_json)["data_dir"] == "/one/machine/data"
    assert c.dataset_location_json is None and c.dataset_load_json == c.dataset_params_json


@pytest.mark.skipif(not (SHARED_ACIC / "data_cf_all").is_dir(), reason="needs ../shared/data/acic2016 (CI has it)")
def test_worker_loads_from_the_given_directory(tmp_path):
    task = _task("acic2016", {"source": "dir", "simulation": 1, "data_dir": str(SHARED_ACIC)})
    td = task_data(task)
    assert td.data.X.shape == (4802, 82)
    elsewhere = _task("acic2016", {"source": "dir", "simulation": 1, "data_dir": str(tmp_path)})
    assert elsewhere.key == task.key
    with pytest.raises(FileNotFoundError):
        task_data(elsewhere)
