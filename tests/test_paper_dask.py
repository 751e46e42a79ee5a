"""``catebench paper`` on a dask cluster computes what the local executor computes, task by task."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from catebench.benchmark.cli import main as cli_main
from catebench.benchmark.store import Store

pytest.importorskip("distributed")


@pytest.mark.slow  # a LocalCluster and two small paper runs (~30 s)
def test_paper_on_a_dask_scheduler_equals_the_local_run(tmp_path):
    from distributed import LocalCluster

    common = ["paper", "--families", "ihdp", "--replications", "2", "--estimators", "t-learner-linear,s-learner",
              "--studies", "skip", "--n-boot", "200", "--no-progress"]
    local, remote = tmp_path / "local", tmp_path / "dask"
    assert cli_main([*common, "--out", str(local), "--store", str(local / "s.sqlite"), "--executor", "local"]) == 0
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        assert cli_main([*common, "--out", str(remote), "--store", str(remote / "s.sqlite"),
                         "--scheduler", cluster.scheduler_address]) == 0
    a = Store(local / "s.sqlite", readonly=True).results().set_index("key").sort_index()
    b = Store(remote / "s.sqlite", readonly=True).results().set_index("key").sort_index()
    assert len(a) == 4 and list(a.index) == list(b.index)
    metrics = [c for c in a.columns if c.startswith(("pehe", "ate"))]
    pd.testing.assert_frame_equal(a[metrics], b[metrics])  # bit-identical metrics, task by task
    runs = [json.loads(x) for x in (remote / "runs.jsonl").read_text().splitlines()]
    assert runs[0]["executor"] == "dask" and runs[-1]["ok"] == 4
    assert json.loads((remote / "claims.json").read_text()) == json.loads((local / "claims.json").read_text())
