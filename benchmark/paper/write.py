"""Writing the paper's outputs (:func:`write_paper`) and the ``catebench paper`` command (:func:`cmd_paper`).

A run smaller than the full protocol (fewer ACIC 2016 settings, IHDP replications, estimators or families, other
seeds or smoke-test measurements) never writes into the full run's output folder unless asked to with
``--overwrite``: see :func:`subset_reasons`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
from pathlib import Path

import pandas as pd

from .. import html
from ..report import coverage, leaderboard
from ..store import Store
from .budget import budget, open_runs, read_runs
from .claims import evaluate_subjects
from .figures import fig_best, fig_distributions, fig_gradvar, fig_matrices, fig_speed, fig_toy
from .measurements import measurements_markdown, read_measurements
from .options import add_arguments
from .plan import PaperPlan, build_plan, drop_stale, portable_paths, run_plan
from .protocol import (DEFAULT_OUT, DEFAULT_STORE, FAMILIES, IHDP_FULL_REPLICATIONS, IHDP_REPLICATIONS, MAIN,
                       PART_EXPORT_SECONDS, REPORT_FAMILIES, SPLIT, SUBJECTS, WS_MAIN, compact)
from .tables import (distributional_table, family_tables, format_family_table, iwdd_family, winrate_matrices,
                     with_robustness_family)

__all__ = ["write_paper", "subset_reasons", "cmd_paper", "main", "TASKS_CSV"]

#: Every task's row as the outputs used it, written beside them; ``--report-only`` reads it when the store is absent.
TASKS_CSV = "tasks.csv"


def write_paper(
    results: pd.DataFrame,
    out: str | Path = DEFAULT_OUT,
    *,
    command: str = "",
    store_path: str = "",
    studies: dict | None = None,
    notes: list[str] = (),
    n_jobs: int = 2,
    acic2018_n: int | None = None,
    n_boot: int = 2000,
    seed: int = 0,
    acic2016_dir: str | None = None,
) -> dict[str, Path]:
    """Write tables, figures, ``claims.md``, ``README.md`` and ``index.html`` into ``out`` from a store's results.

    Parameters
    ----------
    results : DataFrame
        ``Store.results()`` of a paper run (rows of other runs' datasets are ignored).
    out : path
    command, store_path : str
        Recorded in the README.
    studies : dict or None
        From :func:`~catebench.benchmark.paper.measurements.read_measurements`; None = none measured.
    notes : list of str
        What the plan skipped or assumed (from :class:`PaperPlan`).
    n_jobs : int
        Workers assumed by the projection.
    acic2018_n : int or None
        ACIC 2018 datasets available (for the projection).
    n_boot, seed : bootstrap draws and seed.
    acic2016_dir : str or None
        The ACIC 2016 directory the README's commands name, where ``results`` lack the stored ``dataset_params``
        (None: taken from them).

    Returns
    -------
    dict name -> path.
    """
    out = Path(out)
    fig_dir = out / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    studies = studies or {}
    results = results[results["dataset"].isin(list(FAMILIES)) & (results["split"] == SPLIT)].copy()
    if results.empty:
        raise ValueError(f"the store {store_path} holds no results of the paper's datasets with split {SPLIT}.")
    paths: dict[str, Path] = {}
    fam_iwdd = iwdd_family(results)
    keep = [c for c in results.columns if c not in ("versions", "error", "truth", "estimator_params",
                                                      "dataset_params", "key")]
    paths["tasks_csv"] = out / "tasks.csv"
    results[keep].to_csv(paths["tasks_csv"], index=False, float_format="%.6g")
    stored = results  # as run; the tables split IHDP into the paper's 1-10 and the robustness family
    results = with_robustness_family(results)

    # tables ------------------------------------------------------------------------------------------------------
    tabs = family_tables(results, n_boot=n_boot, seed=seed)
    long = []
    for fam, ts in tabs.items():
        for t in ts:
            long.append(t["frame"].assign(family=fam, scope=t["scope"]))
    paths["table_csv"] = out / "table_pehe.csv"
    pd.concat(long, ignore_index=True).to_csv(paths["table_csv"], index=False, float_format="%.6g")
    wr_long, wr_md, mats = winrate_matrices(results, n_boot=n_boot, seed=seed)
    paths["winrates_csv"] = out / "winrates_pairwise.csv"
    wr_long.to_csv(paths["winrates_csv"], index=False, float_format="%.6g")
    dist, dist_md = distributional_table(results)
    paths["dist_csv"] = out / "distributional.csv"
    dist.to_csv(paths["dist_csv"], index=False, float_format="%.6g")
    cov = coverage(results)
    paths["coverage_csv"] = out / "coverage.csv"
    cov.to_csv(paths["coverage_csv"], index=False)
    board = leaderboard(results)
    paths["leaderboard_csv"] = out / "leaderboard_all.csv"
    board.to_csv(paths["leaderboard_csv"], index=False, float_format="%.6g")
    fam_md = []
    for fam, ts in tabs.items():
        for t in ts:
            fam_md.append(format_family_table(fam, t, fam_iwdd))
    cov_md = ["| family | estimator | datasets | ok | failed | timeout | crashed | absent |", "|" + "---|" * 8]
    for r in cov.itertuples():
        cov_md.append(f"| {REPORT_FAMILIES.get(r.dataset, r.dataset)} | {r.estimator} | {r.tasks} | {r.ok} | {r.failed} | "
                      f"{r.timeout} | {r.crashed} | {r.absent} |")
    tables_md = ("# IWDD paper protocol: tables\n\n" + _provenance(command, store_path, results) + "\n\n## sqrt-PEHE and "
                 "% best per family\n\n" + "\n".join(fam_md) + "\n## Distributional metrics (generative estimators)"
                 "\n\n" + dist_md + "\n## Pairwise win rates\n\nRow A vs column B: % of datasets (paired: both "
                 "finished) on which A has the lower sqrt-PEHE, ties half; 95 % bootstrap CIs in "
                 "`winrates_pairwise.csv`.\n\n" + wr_md + "\n## Coverage (tasks per family and estimator)\n\n"
                 + "\n".join(cov_md) + "\n")
    paths["tables_md"] = out / "tables.md"
    paths["tables_md"].write_text(tables_md)

    # claims ------------------------------------------------------------------------------------------------------
    claims = evaluate_subjects(results, studies, n_boot=n_boot, seed=seed)
    verdicts = _verdict_table(claims)
    claims_md = ("# The IWDD paper's claims, tested\n\n" + _scope(stored, notes, out) + "\n\n"
                 + _provenance(command, store_path, results) + "\n\nEach claim of the abstract of Song, Chen & Zhou "
                 "(2025), judged twice: for the paper's method as the paper describes it "
                 f"(`{MAIN}`: randomized conditions, SiD distillation from the teacher's copy) and for our "
                 f"warm-started variant (`{WS_MAIN}`: the generator first regressed on the teacher's draws). Each "
                 "verdict is computed by `catebench.benchmark.paper.evaluate_claims` from the evidence listed under "
                 "it, with the rule printed beside it; the baselines are every estimator outside the IWDD family.\n\n"
                 + verdicts + "\n" + "".join(f"## {SUBJECTS[m].capitalize()}: `{m}`\n\n"
                                             + "\n".join(c.markdown() for c in claims if c.subject == m) + "\n"
                                             for m in SUBJECTS))
    paths["claims_md"] = out / "claims.md"
    paths["claims_md"].write_text(claims_md)
    paths["claims_json"] = out / "claims.json"
    paths["claims_json"].write_text(json.dumps([dataclasses.asdict(c) for c in claims], indent=1) + "\n")

    # figures -----------------------------------------------------------------------------------------------------
    figs_best = fig_best(tabs, fig_dir)
    figs_dist = fig_distributions(results, fig_dir)
    figs_mat = fig_matrices(mats, fig_dir)
    figs_toy = fig_toy(studies, fig_dir)
    figs_speed = fig_speed(studies, fig_dir)
    figs_grad = fig_gradvar(studies, fig_dir)

    # budget + README + page ---------------------------------------------------------------------------------------
    bdf, budget_md = budget(stored, out, n_jobs, acic2018_n)
    paths["budget_csv"] = out / "budget.csv"
    bdf.to_csv(paths["budget_csv"], index=False, float_format="%.6g")
    study_md = measurements_markdown(studies)
    all_figs = figs_best + figs_dist + figs_mat + figs_toy + figs_speed + figs_grad
    fig_md = "\n".join(f"![{cap.removeprefix('wide:').strip()}](figures/{p.name})\n" for p, cap in all_figs)
    readme = ("# The IWDD paper's experiments\n\n" + _scope(stored, notes, out) + "\n\n"
              + _provenance(command, store_path, results) + "\n\n" + "".join(f"- {n}\n" for n in notes)
              + "\n## Claims\n\n" + verdicts
              + "\nDetails, evidence and decision rules: [`claims.md`](claims.md). Tables: [`tables.md`](tables.md) "
              "(CSV: `table_pehe.csv`, `winrates_pairwise.csv`, `distributional.csv`, `coverage.csv`, "
              "`leaderboard_all.csv`, every task's metrics in `tasks.csv`). One page: `index.html`.\n\n"
              "## Reproduce\n\n" + _reproduce_md(results, out, store_path, acic2016_dir) + "\n## Budget\n\n" + budget_md
              + "\n## Studies\n\n" + study_md + "\n## Figures\n\n" + fig_md)
    paths["readme"] = out / "README.md"
    paths["readme"].write_text(readme)
    sections = [
        ("Claims", claims_md.split("\n", 2)[2], []),
        ("Tables", "\n".join(fam_md), figs_best + figs_dist),
        ("Distributional metrics", dist_md, []),
        ("Pairwise win rates", wr_md, figs_mat),
        ("Toy, sampling time, gradient variance", study_md, figs_toy + figs_speed + figs_grad),
        ("Budget", budget_md, []),
        ("Coverage", "\n".join(cov_md), []),
    ]
    paths["html"] = out / "index.html"
    paths["html"].write_text(html.render_page("IWDD paper protocol (catebench)", sections, base=out))
    paths["figures"] = fig_dir
    return paths


def _reproduce_md(results: pd.DataFrame, out: Path, store_path: str, acic2016_dir: str | None = None) -> str:
    """The full run's command, how to resume it, and how to rewrite these files."""
    acic = (results.loc[results["dataset"] == "acic2016", "dataset_params"].dropna().unique()
            if "dataset_params" in results else [])
    from_dir = any(json.loads(p).get("source") == "dir" for p in acic) or bool(acic2016_dir)
    # the machine's own path is never written: DIR stands for wherever the reader keeps data_cf_all/
    flag = " --acic2016-dir DIR" if from_dir else ""
    store = f" --store {portable_paths(str(store_path))}" if store_path and store_path != DEFAULT_STORE else ""
    outf = f" --out {portable_paths(str(out))}" if str(out) != DEFAULT_OUT else ""
    return (f"- The full run (all 77 ACIC 2016 settings x every registered estimator, IHDP replications 1-"
            f"{IHDP_FULL_REPLICATIONS} (the paper's 1-{IHDP_REPLICATIONS} and the robustness family), ACIC 2018 "
            f"when its files are given with `--acic2018-dir`): `nice -n 5 catebench paper{flag}{store}{outf}`"
            + (" (DIR: the directory that holds `data_cf_all/`, see `datasets/DATA.md`)" if flag else "") + ". It "
            "skips every task already in the store, so the same command completes a partial run; its projected time "
            "is under Budget.\n"
            f"- The runs that made this store are listed under Budget with their exact commands.\n"
            f"- These files, from the store alone: `catebench paper{flag}{store}{outf} --report-only` (the toy, speed "
            "and gradient-variance measurements in `studies/` are reused; `--studies run` measures them again).\n")


def _verdict_table(claims) -> str:
    """Markdown: one row per claim, one verdict column per subject (:data:`SUBJECTS`)."""
    subjects = [m for m in SUBJECTS if any(c.subject == m for c in claims)]
    by = {(c.key, c.subject): c for c in claims}
    keys = list(dict.fromkeys(c.key for c in claims))
    text = {c.key: c.text for c in claims}
    head = "| claim | " + " | ".join(f"{SUBJECTS[m]}: `{m}`" for m in subjects) + " |\n"
    rule = "|---|" + "---|" * len(subjects) + "\n"
    return head + rule + "".join(f"| {text[k]} | " + " | ".join(f"**{by[k, m].verdict}**" for m in subjects) + " |\n"
                                 for k in keys)


def _scope(results: pd.DataFrame, notes, out: Path | None = None) -> str:
    """The opening lines of the outputs: what ran (datasets, settings or replications, split sizes, estimators,
    seeds, the code) and what did not."""
    lines = []
    for fam, name in FAMILIES.items():
        sub = results[results["dataset"] == fam]
        if sub.empty:
            why = next((n for n in notes if n.startswith(name) and "skipped" in n), "")
            lines.append(f"- {name}: **did not run here**" + (f" ({why.split(':', 1)[1].split('(')[0].strip()})"
                                                              if why else "") + ".")
            continue
        unit = "settings" if fam == "acic2016" else ("datasets" if fam == "acic2018" else "replications")
        reps = sorted(int(r) for r in sub["replication"].unique())
        fit, test = (sub[c].dropna().astype(int) if c in sub else pd.Series(dtype=int) for c in ("n_fit", "n_test"))
        size = (f"{fit.iloc[0]} fit / {test.iloc[0]} test rows each" if fit.nunique() == 1 and test.nunique() == 1
                else f"{fit.min()}-{fit.max()} fit / {test.min()}-{test.max()} test rows") if len(fit) else ""
        extra = (f"; the paper's replications are 1-{IHDP_REPLICATIONS}, all {len(reps)} form the robustness family"
                 if fam == "ihdp" and max(reps) > IHDP_REPLICATIONS else "")
        lines.append(f"- {name}: {unit} {compact(reps)} ({len(reps)}{extra}); {size + '; ' if size else ''}"
                     f"{sub['estimator'].nunique()} "
                     f"estimators, {len(sub)} tasks, {int((sub['status'] == 'ok').sum())} ok.")
    seeds = sorted(int(x) for x in results["seed"].unique())
    runs = read_runs(out) if out is not None else []
    # The code of every part that may have run tasks: parts that finished some, were interrupted, or have no end
    # record (killed); not a part that found every task already stored.
    unended = open_runs(runs)
    ran = [r for r in runs if r in unended or r.get("event") == "interrupted"
           or (r.get("event") == "finished" and r.get("ok", 0) + r.get("failed", 0) > 0)]
    codes = list(dict.fromkeys(r["code"] for r in ran if r.get("code")))
    lines.append(f"- One estimator seed per task (seed index {', '.join(map(str, seeds))}); split `{SPLIT}`; code: "
                 + (", ".join(f"`{c}`" for c in codes) + " (the commits recorded in `runs.jsonl`)" if codes
                    else "not recorded here (no `runs.jsonl` beside these files)") + ".")
    return "**Scope.**\n\n" + "\n".join(lines)


def _provenance(command: str, store_path: str, results: pd.DataFrame) -> str:
    """Where the files come from. Dated by the latest finished task, so rewriting them from the same results changes
    no byte."""
    latest = str(results["finished_at"].dropna().max()) if "finished_at" in results else "?"
    command = portable_paths(command or "catebench.benchmark.paper.write_paper")
    store_path = portable_paths(str(store_path))
    return (f"Generated by `{command}` from the store `{store_path}` (latest "
            f"task finished {latest}). Protocol: split `{SPLIT}` on every dataset (fit rows = first 80 % = "
            "\"in-sample\", test rows = last 20 % = \"out-of-sample\"); one estimator seed per task; sqrt-PEHE against "
            "the noiseless surfaces (ACIC 2016, IHDP) or the noisy potential outcomes (ACIC 2018).")


def subset_reasons(args: argparse.Namespace, plan: PaperPlan) -> list[str]:
    """How a ``catebench paper`` invocation falls short of (or differs from) the full protocol; empty for the full
    run. The full run: all three families, all 77 ACIC 2016 settings (simulation 1) from their files, every ACIC 2018
    dataset found, IHDP replications 1-100 (the paper's 1-10 and the robustness family), every registered estimator, seed 0, 2000 bootstrap draws, measured (not
    smoke-test) studies."""
    out = []
    if {f.strip() for f in args.families.split(",") if f.strip()} != set(FAMILIES):
        out.append(f"--families {args.families}")
    if args.settings:
        out.append(f"--settings {args.settings}")
    elif plan.acic2016 is not None and plan.acic2016.get("source") == "causallib":
        out.append("ACIC 2016 settings 1-10 only (no --acic2016-dir)")
    if args.acic2016_simulation != 1:
        out.append(f"--acic2016-simulation {args.acic2016_simulation}")
    if args.acic2018_datasets:
        out.append(f"--acic2018-datasets {args.acic2018_datasets}")
    if args.replications != IHDP_FULL_REPLICATIONS:
        out.append(f"--replications {args.replications}")
    if args.estimators.strip() != "*" or args.exclude.strip():
        out.append(f"--estimators {args.estimators}" + (f" --exclude {args.exclude}" if args.exclude.strip() else ""))
    if args.seed != 0:
        out.append(f"--seed {args.seed}")
    if args.n_boot != 2000:
        out.append(f"--n-boot {args.n_boot}")
    if args.quick_studies:
        out.append("--quick-studies")
    return out


def _writes_into_full_out(out: str) -> bool:
    return Path(out).resolve() == Path(DEFAULT_OUT).resolve()


def _results_for_report(store: str, out: str, report_only: bool) -> tuple[pd.DataFrame, str, bool]:
    """The results the outputs are written from: the store's; with ``report_only`` and no store, the
    ``tasks.csv`` an earlier run wrote into ``out`` (already one parameter set per estimator). Returns (results,
    where they come from, whether they come from the store)."""
    if Path(store).exists():
        results = Store(store).results()
        if results.empty:
            raise ValueError(f"the store {store} holds no results yet.")
        return results, store, True
    csv = Path(out) / TASKS_CSV
    if report_only and csv.is_file():
        return pd.read_csv(csv), str(csv), False
    raise FileNotFoundError(f"no store at {store}" + (f" and no {csv}" if report_only else "")
                            + "; run `catebench paper` without --report-only first.")


def _acic2016_data_dir(plan: PaperPlan) -> str | None:
    spec = next((d for d in plan.config.datasets if d.name == "acic2016"), None)
    return None if spec is None else spec.params.get("data_dir")


def cmd_paper(args: argparse.Namespace, command: str) -> int:
    """Entry point of ``catebench paper`` (options: :func:`~catebench.benchmark.paper.options.add_arguments`)."""
    if args.n_jobs is not None and args.n_jobs < 1:
        raise ValueError(f"--n-jobs must be at least 1; got {args.n_jobs}.")
    if args.n_boot < 100:
        raise ValueError(f"--n-boot must be at least 100; got {args.n_boot}.")
    if args.report_only and args.no_report:
        raise ValueError("--report-only and --no-report together do nothing.")
    executor = "dask" if args.scheduler else args.executor
    plan = build_plan(families=args.families, settings=args.settings, acic2016_dir=args.acic2016_dir,
                      acic2016_simulation=args.acic2016_simulation, acic2018_dir=args.acic2018_dir,
                      acic2018_datasets=args.acic2018_datasets, replications=args.replications,
                      estimators=args.estimators, exclude=args.exclude, seed=args.seed, n_jobs=args.n_jobs,
                      executor=executor, scheduler=args.scheduler, task_timeout=args.task_timeout, store=args.store)
    short = subset_reasons(args, plan)
    if short and _writes_into_full_out(args.out) and not args.overwrite:
        raise ValueError(f"this run is smaller than the full protocol ({'; '.join(short)}) and would write into "
                         f"{DEFAULT_OUT}, which holds the full run's results: pass --out DIR for another folder, or "
                         "--overwrite to write there anyway.")
    for n in plan.notes:
        print(n, file=sys.stderr)
    if not args.report_only:
        cache = None if args.no_teacher_cache else (args.teacher_cache or f"{args.store}.teachers")
        summary = run_plan(plan, args.out, command=command, retry_failed=args.retry_failed,
                           progress=not args.no_progress, resume_from=args.resume_from, teacher_cache=cache,
                           export_every=PART_EXPORT_SECONDS if args.no_report else None)
        print(summary)
    if args.no_report:
        return 0
    results, source, from_store = _results_for_report(args.store, args.out, args.report_only)
    if from_store:
        results, n_stale, stale_notes = drop_stale(results, args.seed)
        plan.notes.append(f"Stale rows: {n_stale} stored task(s) of an estimator at another parameter set than the one "
                          f"shown are left out (`drop_stale`); {len(stale_notes)} estimator(s) are shown at a parameter "
                          "set other than today's defaults" + (" (below)." if stale_notes else "."))
        plan.notes.extend(stale_notes)
    else:
        print(f"no store at {args.store}: writing the outputs from {source}", file=sys.stderr)
        plan.notes.append(f"Written from `{TASKS_CSV}` (no store here): the rows an earlier run's outputs used, one "
                          "parameter set per estimator.")
    studies = read_measurements(Path(args.out), args.studies, quick=args.quick_studies)
    paths = write_paper(results, args.out, command=command, store_path=args.store, studies=studies, notes=plan.notes,
                        n_jobs=plan.config.n_jobs, acic2018_n=plan.acic2018_n, n_boot=args.n_boot, seed=args.seed,
                        acic2016_dir=None if from_store else _acic2016_data_dir(plan))
    print(f"wrote {args.out}: README.md, claims.md, tables.md, index.html and {len(list(paths['figures'].glob('*.png')))}"
          " figures")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m catebench.benchmark.paper``: the same command as ``catebench paper``."""
    p = argparse.ArgumentParser(prog="python -m catebench.benchmark.paper",
                                description="Run the IWDD paper's protocol and write its outputs.")
    add_arguments(p)
    args = p.parse_args(argv)
    argv = sys.argv[1:] if argv is None else argv
    return cmd_paper(args, "catebench paper " + " ".join(shlex.quote(a) for a in argv))
