"""The paper protocol's cost per ACIC 2016 setting: today's code against an older commit, side by side.

For each setting r = 1..R (causallib's bundled files, so offline; 4,802 rows x 82 covariates, split
``80/20-row-order`` as in ``catebench paper``), the old commit and the current tree each run every estimator they
register on that setting, ``catebench run CONFIG --replications r --executor inline`` into their own store (which
already holds the settings before r, so only setting r runs), *at the same time*, one process and one thread each,
so both see the same machine load. A code that has ``--teacher-cache`` shares one diffusion teacher per setting
among the IWDD family (its own cache), as ``catebench paper`` does.

Recorded: each process's wall and CPU time per setting (``runs.csv``) and every task's seconds from both stores
(``tasks.csv``: fit + predict + the draws for the distributional metrics, which both codes take, with each task's
out-of-sample sqrt-PEHE, CRPS and prediction hash). ``summary.md`` compares, per setting, (1) the whole protocol of
each code (every label it registers), (2) the labels both register, by name, and (3) by method: an old commit
without ``iwdd-*-ws`` labels ran the warm-started variant under the names ``iwdd-*``, so those are paired with
``iwdd-*-ws`` (``iwdd-kl`` has no warm-started counterpart and is paired by name). It also says whether the
labels both register gave the same numbers (prediction hashes, largest differences of sqrt-PEHE and CRPS).

    python -m studies.protocol_cost --old-commit COMMIT --settings 3 --out results/perf/protocol

The stores resume: a rerun finishes what is missing; ``--summary-only`` rewrites ``summary.md`` from the CSVs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from studies.perf import ROOT, _code_entry, _load, _machine, _old_tree, _reap_each

CONFIG = """name = "protocol_cost"
seed = 0
n_jobs = 1

[[datasets]]
name = "acic2016"
replications = {replications}
split = "80/20-row-order"
params = {{ source = "causallib", simulation = "bundled" }}

[[estimators]]
name = "*"
"""


def _store(cache: Path, code: str) -> Path:
    return cache / f"{code}.sqlite"


def run(commit: str, settings: int, cache: Path, out: Path) -> pd.DataFrame:
    """Run settings 1..``settings`` side by side (see the module docstring); returns the rows of ``runs.csv``."""
    cache.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    old_tree = _old_tree(commit, cache)
    config = cache / "protocol_cost.toml"
    config.write_text(CONFIG.format(replications=settings))
    csv_path = out / "runs.csv"
    rows = pd.read_csv(csv_path).to_dict("records") if csv_path.exists() else []
    done = {(int(r["setting"]), str(r["code"])) for r in rows}
    for rep in range(1, settings + 1):
        procs = {}
        for code, tree in ((commit, old_tree), ("current", ROOT)):
            if (rep, code) in done:
                continue
            env, module = _code_entry(tree)
            cmd = [sys.executable, "-m", module, "run", str(config.resolve()), "--replications", str(rep),
                   "--n-jobs", "1", "--executor", "inline", "--store", str(_store(cache, code).resolve()),
                   "--no-progress"]  # fmt: skip
            if "--teacher-cache" in (tree / "benchmark" / "cli.py").read_text():  # as `catebench paper` does
                cmd += ["--teacher-cache", str((cache / f"teachers-{code}").resolve())]
            log = open(cache / f"{code}-s{rep}.log", "w")
            procs[code] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tree),
                           time.perf_counter(), _load(), log)  # fmt: skip
        ended = _reap_each(procs)
        for code, (proc, _t0, load, log) in procs.items():
            status, ru, wall = ended[code]
            log.close()
            if os.waitstatus_to_exitcode(status) != 0:
                raise RuntimeError(f"{code} setting {rep}: {(cache / f'{code}-s{rep}.log').read_text()[-800:]}")
            rows.append({"setting": rep, "code": code, "wall_s": round(wall, 2),
                         "cpu_s": round(ru.ru_utime + ru.ru_stime, 2), "load_avg_1min": load,
                         "load_avg_1min_after": _load(), "measured_utc": _machine()["date_utc"]})  # fmt: skip
            print(rows[-1], flush=True)
            pd.DataFrame(rows).to_csv(csv_path, index=False)
    from catebench.benchmark.store import Store, task_seconds
    from catebench.benchmark.taskfile import with_digests

    tasks = []
    for code in (commit, "current"):
        df = with_digests(Store(_store(cache, code), readonly=True).results(), _store(cache, code))
        tasks.append(df.assign(code=code, task_s=task_seconds(df).round(3)))
    t = pd.concat(tasks).rename(columns={"replication": "setting"})
    t = t[["code", "setting", "estimator", "status", "task_s", "pehe_out", "crps_out", "predictions_sha"]]
    t = t.sort_values(["code", "setting", "estimator"])
    t.to_csv(out / "tasks.csv", index=False)
    return pd.DataFrame(rows)


def method_pairs(old_labels, new_labels) -> dict[str, str]:
    """Old label -> the current label that runs the same method: ``iwdd-X`` -> ``iwdd-X-ws`` where the current
    code has that label and the old one has not (the old ``iwdd-*`` labels were then warm-started), every other
    label to itself."""
    pairs = {}
    for o in old_labels:
        ws = f"{o}-ws"
        m = ws if o.startswith("iwdd-") and ws in new_labels and ws not in old_labels else o
        if m in new_labels:
            pairs[o] = m
    return pairs


def same_numbers(old: pd.DataFrame, new: pd.DataFrame) -> str:
    """One sentence: of the (setting, label) tasks both codes ran under the same label, how many have the same
    prediction hash, and the largest absolute differences of out-of-sample sqrt-PEHE and CRPS."""
    keys = ["setting", "estimator"]
    m = old.merge(new, on=keys, suffixes=("_old", "_new"))
    same = m["predictions_sha_old"] == m["predictions_sha_new"]
    dp = (m["pehe_out_old"] - m["pehe_out_new"]).abs().max()
    dc = (m["crps_out_old"] - m["crps_out_new"]).abs().max()
    differ = sorted(m.loc[~same, "estimator"].unique())
    return (f"Numbers: of the {len(m)} tasks both codes ran under the same label, {int(same.sum())} have the same "
            f"prediction hash{' (different: ' + ', '.join(differ) + ')' if differ else ''}; the largest absolute "
            f"difference of out-of-sample sqrt-PEHE is {dp:.3g} and of CRPS {dc:.3g}.")


def summary(commit: str, out: Path) -> str:
    runs = pd.read_csv(out / "runs.csv")
    t = pd.read_csv(out / "tasks.csv", dtype={"code": str})
    t = t[t["status"] == "ok"]
    old, new = t[t["code"] == commit], t[t["code"] == "current"]
    settings = sorted(set(old["setting"]) & set(new["setting"]))
    old, new = old[old["setting"].isin(settings)], new[new["setting"].isin(settings)]
    o = old.pivot_table(index="setting", columns="estimator", values="task_s", aggfunc="sum")
    n = new.pivot_table(index="setting", columns="estimator", values="task_s", aggfunc="sum")
    by_name = sorted(set(o.columns) & set(n.columns))
    pairs = method_pairs(o.columns, n.columns)

    def ratio_rows(old_cols, new_cols):
        a, b = o[old_cols].sum(axis=1), n[new_cols].sum(axis=1)
        return a, b, b / a

    lines = ["# The paper protocol's cost per ACIC 2016 setting: today's code vs an older commit, side by side", "",
             f"Command: `python -m studies.protocol_cost --old-commit {commit} --settings {len(settings)} --out "
             f"{out.relative_to(ROOT) if out.is_absolute() and out.is_relative_to(ROOT) else out}`. Settings "
             f"{', '.join(map(str, settings))} (causallib's bundled files, 4,802 rows x 82 covariates, split "
             "`80/20-row-order`); per setting the old commit and the current tree ran at the same time, one process "
             "and one thread each, every label each registers; a code with `--teacher-cache` shares one teacher per "
             "setting within the IWDD family, as `catebench paper` does. Task seconds = fit + predict "
             "+ the draws for the distributional metrics, as the runner records them; a shared teacher's training "
             "counts in the task that trained it.", ""]
    lines += ["| measured (UTC) | setting | code | wall s | CPU s | load before / after |", "|---|---|---|---|---|---|"]
    for r in runs.itertuples():
        lines.append(f"| {r.measured_utc} | {r.setting} | {r.code} | {r.wall_s:.0f} | {r.cpu_s:.0f} | "
                     f"{r.load_avg_1min:.1f} / {r.load_avg_1min_after:.1f} |")
    w = runs.pivot_table(index="setting", columns="code", values=["wall_s", "cpu_s"])
    lines += ["", "Sums of task seconds per setting, current / old (median over settings of the per-setting ratio, "
              "with its range):", "", "| comparison | labels (old -> current) | old s per setting (median) | current s "
              "per setting (median) | ratio current / old |", "|---|---|---|---|---|"]
    comps = [("the whole protocol of each code", list(o.columns), list(n.columns),
              f"{o.shape[1]} -> {n.shape[1]}"),
             ("the labels both register, by name", by_name, by_name, f"{len(by_name)}"),
             ("the same methods (old `iwdd-X` = current `iwdd-X-ws`)", list(pairs), list(pairs.values()),
              f"{len(pairs)}")]
    for name, oc, nc, k in comps:
        a, b, r = ratio_rows(oc, nc)
        lines.append(f"| {name} | {k} | {a.median():.0f} | {b.median():.0f} | **{r.median():.2f}x** "
                     f"({r.min():.2f}-{r.max():.2f}) |")
    for what in ("wall_s", "cpu_s"):
        r = (w[what]["current"] / w[what][commit]).dropna()
        lines.append(f"| process {what.split('_')[0]} time (interpreter, imports, store and metrics included) | "
                     f"{o.shape[1]} -> {n.shape[1]} | {w[what][commit].median():.0f} | {w[what]['current'].median():.0f}"
                     f" | {r.median():.2f}x ({r.min():.2f}-{r.max():.2f}) |")
    only_new = sorted(set(n.columns) - set(o.columns))
    only_old = sorted(set(o.columns) - set(n.columns))
    lines += ["", f"Labels only the current tree registers: {', '.join(only_new) or 'none'}; only the old commit: "
              f"{', '.join(only_old) or 'none'}."]
    if "predictions_sha" in t.columns:
        lines += ["", same_numbers(old, new)]
    lines += ["", "Per label, median task seconds over the settings (old label "
              "paired with the current one that runs its method; `-` = not registered):", "",
              "| old label | old s | current label | current s | ratio |", "|---|---|---|---|---|"]
    om, nm = o.median(), n.median()
    for lab in sorted(o.columns):
        cur = pairs.get(lab)
        lines.append(f"| {lab} | {om[lab]:.1f} | {cur or '-'} | {nm[cur]:.1f} | {nm[cur] / om[lab]:.2f} |" if cur
                     else f"| {lab} | {om[lab]:.1f} | - | - | - |")
    for lab in sorted(set(n.columns) - set(pairs.values())):
        lines.append(f"| - | - | {lab} | {nm[lab]:.1f} | - |")
    text = "\n".join(lines) + "\n"
    (out / "summary.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--old-commit", required=True, help="the commit to compare with (the committed run: "
                                                        "see the command in summary.md)")
    p.add_argument("--settings", type=int, default=3, help="ACIC 2016 settings 1..N (1-10, offline)")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "perf" / "protocol")
    p.add_argument("--cache", type=Path, default=ROOT / ".catebench" / "protocol_cost")
    p.add_argument("--summary-only", action="store_true")
    a = p.parse_args(argv)
    if not 1 <= a.settings <= 10:
        p.error(f"--settings must be 1..10 (causallib's bundled settings); got {a.settings}")
    out = a.out.resolve()
    if not a.summary_only:
        run(a.old_commit, a.settings, a.cache.resolve(), out)
    print(summary(a.old_commit, out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
