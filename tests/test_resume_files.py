"""A long run continued from committed per-task files: ``report --tasks-only`` writes a store's tasks, ``run
--resume-from`` takes the finished ones of the plan into another (empty) store instead of rerunning them."""

from __future__ import annotations

import pandas as pd

from catebench.benchmark.cli import main
from catebench.benchmark.store import Store


def _toml(tmp_path, reps: int, name: str = "c.toml"):
    body = (f'name = "t"\nexecutor = "inline"\nseed = 3\n[[datasets]]\nname = "synthetic"\nreplications = {reps}\n'
            '[datasets.params]\nn = 200\n'
            '[[estimators]]\nname = "t-learner-linear"\n[[estimators]]\nname = "s-learner-linear"\n')
    p = tmp_path / name
    p.write_text(body)
    return p


def _summary(capsys) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


def test_run_resumes_from_a_tasks_csv_without_rerunning_and_reports_the_same(tmp_path, capsys):
    first, second = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    # part one on "machine A": replications 1-2, its progress exported as a tasks.csv
    assert main(["run", str(_toml(tmp_path, 2)), "--store", str(first), "--no-progress"]) == 0
    assert main(["report", "--store", str(first), "--tasks-only", "--out", str(tmp_path / "progress")]) == 0
    progress = tmp_path / "progress" / "tasks.csv"
    assert sorted(p.name for p in progress.parent.iterdir()) == ["tasks.csv", "tasks_params.json"]
    capsys.readouterr()
    # part two on "machine B" (a fresh store): the whole plan is replications 1-3
    assert main(["run", str(_toml(tmp_path, 3)), "--store", str(second), "--no-progress",
                 "--resume-from", str(progress)]) == 0
    line = _summary(capsys)
    assert line.startswith("6 tasks planned, 4 already in the store (4 imported from per-task files), 2 ran ok"), line
    # again: nothing imported twice, nothing rerun
    assert main(["run", str(_toml(tmp_path, 3)), "--store", str(second), "--no-progress",
                 "--resume-from", str(progress)]) == 0
    assert _summary(capsys).startswith("6 tasks planned, 6 already in the store, 0 ran ok")
    # the imported rows equal the originals, the prediction digests included
    assert main(["run", str(_toml(tmp_path, 3)), "--store", str(first), "--no-progress"]) == 0
    for store, where in ((first, "ra"), (second, "rb")):
        assert main(["report", "--store", str(store), "--tasks-only", "--out", str(tmp_path / where)]) == 0
    a, b = (pd.read_csv(tmp_path / w / "tasks.csv") for w in ("ra", "rb"))
    assert len(a) == 6 and a["predictions_sha"].str.len().eq(16).all()
    timing = ["fit_seconds", "predict_seconds"]  # replication 3 ran in each store: its timings differ
    pd.testing.assert_frame_equal(a.drop(columns=timing), b.drop(columns=timing))
    pd.testing.assert_frame_equal(a.loc[a["replication"] < 3, timing], b.loc[b["replication"] < 3, timing])
    assert (tmp_path / "ra" / "tasks_params.json").read_bytes() == (tmp_path / "rb" / "tasks_params.json").read_bytes()
    # an imported row has no predictions; a run row has
    s = Store(second, readonly=True)
    try:
        imported = a.loc[a["replication"] == 1, "key"].iloc[0]
        assert set(s.statuses().values()) == {"ok"}
        try:
            s.predictions(imported)
            raise AssertionError("an imported row has no stored predictions")
        except KeyError:
            pass
    finally:
        s.close()


def test_rows_of_other_plans_and_failed_rows_are_not_imported(tmp_path, capsys):
    source = tmp_path / "a.sqlite"
    assert main(["run", str(_toml(tmp_path, 2)), "--store", str(source), "--no-progress"]) == 0
    assert main(["report", "--store", str(source), "--tasks-only", "--out", str(tmp_path / "p")]) == 0
    csv = tmp_path / "p" / "tasks.csv"
    frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
    frame.loc[frame.index[0], "status"] = "failed"  # a failed row is rerun, not imported
    frame.to_csv(csv, index=False)
    other = _toml(tmp_path, 2, name="other.toml")
    other.write_text(other.read_text().replace("n = 200", "n = 300"))  # other dataset parameters: other keys
    capsys.readouterr()
    assert main(["run", str(other), "--store", str(tmp_path / "o.sqlite"), "--no-progress",
                 "--resume-from", str(csv)]) == 0
    assert _summary(capsys).startswith("4 tasks planned, 0 already in the store, 4 ran ok")
    assert main(["run", str(_toml(tmp_path, 2)), "--store", str(tmp_path / "b.sqlite"), "--no-progress",
                 "--resume-from", str(csv)]) == 0
    assert _summary(capsys).startswith("4 tasks planned, 3 already in the store (3 imported from per-task files), "
                                       "1 ran ok")


def test_a_missing_resume_file_is_a_one_line_error(tmp_path, capsys):
    assert main(["run", str(_toml(tmp_path, 1)), "--store", str(tmp_path / "s.sqlite"), "--no-progress",
                 "--resume-from", str(tmp_path / "nowhere" / "tasks.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "nowhere" in err and "Traceback" not in err, err
