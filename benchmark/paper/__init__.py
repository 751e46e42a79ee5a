"""The IWDD paper's experiments in one command: ``catebench paper``.

Song, Chen & Zhou (2025), "A Generative Framework for Causal Estimation via Importance-Weighted Diffusion
Distillation", evaluate on three dataset families with DiffPO's protocol. This package runs that protocol with
catebench's runner (resumable, one SQLite store) and writes ``results/paper/``:

* **Datasets.** ACIC 2016: the 77 simulation settings, one dataset each (simulation replication 1), from a
  ``data_cf_all/`` directory (``--acic2016-dir``, else ``$CATEBENCH_DATA``); without one, settings 1-10 run offline
  from causallib's bundled files (for settings 3 and 4 those are simulation replication 100). ACIC 2018: the IBM
  framework's files (``--acic2018-dir``, else ``$CATEBENCH_DATA/acic2018``), skipped with a message when absent.
  IHDP: 10 offline replications. Split ``80/20-row-order`` for every dataset: the first 80 % of rows are the fit
  rows ("in-sample"), the last 20 % the test rows ("out-of-sample").
* **Estimators.** Every registered one (``*``), or a selection (names and shell-style patterns, ``--exclude``).
* **Tables** (``tables.md`` and CSVs): per family, in- and out-of-sample sqrt-PEHE (mean ± SE, median) and the
  "% best" win rate (share of datasets on which an estimator has the lowest error, ties split) with bootstrap CIs,
  computed on the datasets every listed estimator finished; the pairwise win-rate matrices; distributional
  metrics (CRPS, 90 % coverage) for the generative estimators.
* **Figures** (PNG and SVG in ``figures/``): "% best" per family, pairwise win-rate heatmaps, the IWDD 1-D toy
  figure, one-step vs Heun sampling time, generator-gradient variance IPW vs randomized.
* **claims.md**: each claim of the paper's abstract, the measured evidence with its uncertainty, and a verdict
  (holds here / does not hold here / not testable here) computed by :func:`evaluate_claims` from the numbers.
* **README.md** and **index.html**: everything above on one page, with the commands that made it, the measured
  run times and the projected time of the full run.

How "in-sample" and "% best" are counted, why datasets are the units, and how each verdict is decided are
documented in the functions of these modules and repeated in the generated files.

Modules, one job each: :mod:`.protocol` (the protocol's constants), :mod:`.plan` (datasets and estimators as a run
config; running it), :mod:`.tables`, :mod:`.claims` (the verdicts and their rules), :mod:`.figures`,
:mod:`.budget`, :mod:`.measurements` (the IWDD measurements of ``python -m studies.paper``), :mod:`.options` (the
command line) and :mod:`.write` (:func:`write_paper` and the command). The names below are importable from this
package; they load their module on first use, so that ``catebench --help`` stays free of numpy and pandas.
"""

from __future__ import annotations

import importlib

#: Public name -> the module of this package that defines it.
_WHERE = {
    **dict.fromkeys(["FAMILIES", "ROBUST", "REPORT_FAMILIES", "MAIN", "WS_MAIN", "SUBJECTS", "TEACHER", "SPLIT",
                     "N_ACIC2016", "IHDP_REPLICATIONS", "IHDP_FULL_REPLICATIONS", "ACIC2018_PAPER_MAX", "DEFAULT_OUT",
                     "DEFAULT_STORE", "parse_ranges"], "protocol"),
    **dict.fromkeys(["PaperPlan", "select_estimators", "build_plan", "run_plan", "code_version", "drop_stale"], "plan"),
    **dict.fromkeys(["best_share_ci", "coverage_sets", "family_tables", "format_family_table", "iwdd_family",
                     "distributional_table", "winrate_matrices", "with_robustness_family"], "tables"),
    **dict.fromkeys(["Claim", "evaluate_claims", "evaluate_subjects", "HOLDS", "FAILS", "UNTESTABLE", "ALPHA", "NONINFERIORITY",
                     "MIN_UNITS"], "claims"),
    "read_measurements": "measurements",
    "add_arguments": "options",
    **dict.fromkeys(["write_paper", "subset_reasons", "cmd_paper", "main"], "write"),
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
