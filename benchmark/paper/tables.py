"""The paper's tables: sqrt-PEHE and "% best" per family on a common set of datasets, the distributional metrics of
the generative estimators, and the pairwise win-rate matrices."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ..report import leaderboard, plus_minus
from ..stats import winrate_ci_from_table
from ..winrates import format_winrate_markdown, paired_table, pairwise_winrates, unit_means
from .protocol import IHDP_REPLICATIONS, MAIN, REPORT_FAMILIES, ROBUST, compact

__all__ = ["iwdd_family", "best_share_ci", "unit_table", "coverage_sets", "family_tables", "format_family_table",
           "DIST_METRICS", "distributional_table", "winrate_matrices", "pct_ci"]


def with_robustness_family(results: pd.DataFrame) -> pd.DataFrame:
    """``results`` with IHDP split into the paper's family and the robustness family.

    When the results hold IHDP replications beyond the paper's 1-10, dataset ``ihdp`` keeps replications 1-10 and
    every IHDP row appears once more under :data:`ROBUST` (all replications); otherwise ``results`` unchanged.
    """
    ihdp = results["dataset"] == "ihdp"
    if not ihdp.any() or results.loc[ihdp, "replication"].max() <= IHDP_REPLICATIONS:
        return results
    paper = results[~(ihdp & (results["replication"] > IHDP_REPLICATIONS))]
    return pd.concat([paper, results[ihdp].assign(dataset=ROBUST)], ignore_index=True)


def iwdd_family(results: pd.DataFrame) -> list[str]:
    """Estimators of the IWDD family in ``results``: every estimator whose class lives in ``catebench.estimators.iwdd``
    (the IWDD variants and their diffusion teacher), also where a store written before the ``catebench`` namespace
    names it ``estimators.iwdd``."""
    tgt = results.drop_duplicates("estimator").set_index("estimator")["estimator_target"]
    return sorted(e for e, t in tgt.items() if re.match(r"(catebench\.)?estimators\.iwdd[.:]", str(t)))


def best_share_ci(table: pd.DataFrame, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """"% best" per estimator with a percentile bootstrap CI that resamples units (datasets).

    Parameters
    ----------
    table : DataFrame, shape (n_units, n_estimators)
        Metric per complete unit (lower is better), e.g. from :func:`catebench.benchmark.winrates.unit_means`.
    n_boot, seed, level : bootstrap draws, seed of ``numpy.random.default_rng``, CI level.

    Returns
    -------
    DataFrame indexed by estimator: ``best_pct``, ``ci_low``, ``ci_high`` (percent), ``n_best`` (fractional count;
    a tie splits the unit equally), ``n_units``. Also ``.attrs["boots"]``: the (n_boot, n_estimators) bootstrap
    shares (same resampled units for every estimator, so differences can be bootstrapped too).
    """
    v = table.to_numpy(dtype=float)
    n, k = v.shape
    cols = list(table.columns)
    if n == 0:
        out = pd.DataFrame({"best_pct": np.nan, "ci_low": np.nan, "ci_high": np.nan, "n_best": 0.0, "n_units": 0},
                           index=pd.Index(cols, name="estimator"))
        out.attrs["boots"] = np.full((n_boot, k), np.nan)
        return out
    wins = (v == v.min(axis=1, keepdims=True)).astype(float)
    wins /= wins.sum(axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    boots = 100.0 * wins[idx].mean(axis=1)  # (n_boot, k)
    a = (1 - level) / 2
    out = pd.DataFrame({"best_pct": 100.0 * wins.mean(axis=0), "ci_low": np.quantile(boots, a, axis=0),
                        "ci_high": np.quantile(boots, 1 - a, axis=0), "n_best": wins.sum(axis=0), "n_units": n},
                       index=pd.Index(cols, name="estimator"))
    out.attrs["boots"] = boots
    return out


def unit_table(results: pd.DataFrame, family: str, metric: str, estimators: list[str]) -> pd.DataFrame:
    sub = results[results["dataset"] == family]
    if sub.empty or metric not in sub.columns:
        return pd.DataFrame(columns=estimators)
    return unit_means(sub, metric, "replication", estimators)[0]


def _summary_rows(results, family, estimators, n_boot, seed) -> tuple[pd.DataFrame, int]:
    """One row per estimator on the units every estimator of ``estimators`` finished (complete units)."""
    rows = {e: {"estimator": e} for e in estimators}
    n_units = 0
    for metric in ("pehe_in", "pehe_out"):
        tab = unit_table(results, family, metric, estimators)
        n_units = len(tab)
        bs = best_share_ci(tab, n_boot=n_boot, seed=seed)
        for e in estimators:
            v = tab[e].to_numpy(dtype=float) if e in tab else np.array([])
            rows[e].update({
                f"{metric}_mean": v.mean() if len(v) else np.nan,
                f"{metric}_se": v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan,
                f"{metric}_median": np.median(v) if len(v) else np.nan,
                f"best_{metric}_pct": bs.loc[e, "best_pct"], f"best_{metric}_low": bs.loc[e, "ci_low"],
                f"best_{metric}_high": bs.loc[e, "ci_high"],
            })  # fmt: skip
    df = pd.DataFrame(list(rows.values()))
    df.insert(1, "n_units", n_units)
    return df.sort_values(["pehe_out_mean", "estimator"], na_position="last").reset_index(drop=True), n_units


def coverage_sets(results: pd.DataFrame, family: str) -> tuple[dict[str, frozenset], frozenset]:
    """Per estimator, the units (replications) of ``family`` it finished ``ok`` on; and all units of the family."""
    sub = results[results["dataset"] == family]
    ok = sub[sub["status"] == "ok"]
    cover = {e: frozenset(int(r) for r in g["replication"]) for e, g in ok.groupby("estimator")}
    return cover, frozenset(int(r) for r in sub["replication"].unique())


def family_tables(results: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> dict[str, list[dict]]:
    """The paper-layout tables of every family present in ``results``.

    A staged run covers estimators unequally (fast estimators on all 77 ACIC settings, the IWDD family on a
    subset), and means or "% best" over different datasets are not comparable. So each table fixes a set of units
    and lists the estimators that finished *every* one of them (the others are named under the table with their
    coverage):

    * scope ``"iwdd"``: the units `iwdd-rand` finished (when it has results), i.e. the IWDD comparison;
    * scope ``"widest"``: every unit of the family, for the estimators that finished all of them (when that set
      of units or estimators differs from the first table); when no estimator finished all of them, the units all
      estimators share (``"common"``).

    Returns
    -------
    dict family -> list of {"scope", "estimators", "left_out" {name: units finished}, "n_units",
    "n_units_total", "units", "frame" (one row per estimator)}.
    """
    out: dict[str, list[dict]] = {}
    for fam in REPORT_FAMILIES:
        cover, all_units = coverage_sets(results, fam)
        if not cover:
            continue
        candidates = []
        if MAIN in cover:
            candidates.append(("iwdd", cover[MAIN]))
        candidates.append(("widest", all_units))
        tabs, seen = [], set()
        for scope, units in candidates:
            members = sorted(e for e, c in cover.items() if units <= c)
            if not members and scope == "widest":
                units = frozenset.intersection(*cover.values())
                members, scope = sorted(cover), "common"
            if not members or not units or (units, tuple(members)) in seen:
                continue
            seen.add((units, tuple(members)))
            sub = results[(results["dataset"] != fam) | results["replication"].isin(sorted(units))]
            frame, n = _summary_rows(sub, fam, members, n_boot, seed)
            tabs.append({"scope": scope, "estimators": members, "n_units": n, "n_units_total": len(all_units),
                         "units": sorted(units), "frame": frame,
                         "left_out": {e: len(c & units) for e, c in sorted(cover.items()) if e not in members}})
        out[fam] = tabs
    return out




def pct_ci(p, lo, hi) -> str:
    return "-" if not np.isfinite(p) else f"{p:.0f} [{lo:.0f}, {hi:.0f}]"


def format_family_table(fam: str, tab: dict, main_family: list[str]) -> str:
    """Markdown of one :func:`family_tables` entry, in the paper's layout (IWDD family in bold)."""
    f = tab["frame"]
    unit = "settings" if fam == "acic2016" else ("datasets" if fam == "acic2018" else "replications")
    what = {"iwdd": f"those `{MAIN}` finished", "widest": "all of them", "common": "those every estimator finished"}
    which = (f"{what[tab['scope']]}: {compact(tab['units'])}" if len(tab["units"]) < tab["n_units_total"]
             else "all of them")
    head = (f"### {REPORT_FAMILIES[fam]}: {tab['n_units']} of the {tab['n_units_total']} {unit} in the store ({which})"
            f"\n\nsqrt-PEHE, mean ± SE over these {unit}, median beside it; % best = share of these {unit} on which "
            f"the estimator has the lowest sqrt-PEHE among the {len(tab['estimators'])} listed (ties split), with its "
            f"95 % bootstrap CI ({unit} resampled). Every listed estimator finished every one of these {unit}. Bold: "
            "the IWDD family.\n")
    lines = [head, "| estimator | in-sample sqrt-PEHE | median | % best in [95 % CI] | out-of-sample sqrt-PEHE | "
                   "median | % best out [95 % CI] |", "|---|---|---|---|---|---|---|"]
    for r in f.itertuples():
        name = f"**{r.estimator}**" if r.estimator in main_family else r.estimator
        lines.append(f"| {name} | {plus_minus(r.pehe_in_mean, r.pehe_in_se)} | {r.pehe_in_median:.3f} | "
                     f"{pct_ci(r.best_pehe_in_pct, r.best_pehe_in_low, r.best_pehe_in_high)} | "
                     f"{plus_minus(r.pehe_out_mean, r.pehe_out_se)} | {r.pehe_out_median:.3f} | "
                     f"{pct_ci(r.best_pehe_out_pct, r.best_pehe_out_low, r.best_pehe_out_high)} |")
    if tab.get("left_out"):
        lines.append("\nNot in this table (finished only some of these " + unit + "): "
                     + ", ".join(f"{e} ({k} of {tab['n_units']})" for e, k in tab["left_out"].items()) + ".")
    return "\n".join(lines) + "\n"


#: Distributional metrics shown for the generative estimators (stored by the runner for estimators tagged
#: generative): CRPS of the predictive draws, coverage and width of the central 90 % interval, out-of-sample.
DIST_METRICS = ["crps_out", "cov90_out", "width90_out", "crps_in", "cov90_in"]


def distributional_table(results: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Per family and generative estimator: mean ± SE of CRPS, 90 % coverage (and |cov90 - 0.9|), 90 % width.

    Returns the frame and its Markdown; the Markdown says so when the store holds no distributional metrics.
    """
    have = [m for m in DIST_METRICS if m in results.columns]
    if "crps_out" not in have:
        return pd.DataFrame(), ("No distributional metrics in the store: the runner that wrote it did not compute "
                                "CRPS / coverage (they are stored only for estimators tagged generative).\n")
    ok = results[(results["status"] == "ok") & results["crps_out"].notna()]
    if ok.empty:
        return pd.DataFrame(), "No generative estimator finished, so there are no distributional metrics.\n"
    board = leaderboard(ok, metrics=have)
    if "cov90_out" in ok:
        gap = ok.assign(gap=(ok["cov90_out"] - 0.9).abs()).groupby(["dataset", "estimator"])["gap"].mean()
        board["cov90_gap_out_mean"] = [gap.get((r.dataset, r.estimator), np.nan) for r in board.itertuples()]
    board = board.sort_values(["dataset", "crps_out_mean"]).reset_index(drop=True)
    lines = ["CRPS of the predictive draws of Y(0), Y(1) against the noisy potential outcomes (lower is better), share "
             "of y0/y1 inside the central 90 % predictive interval (nominal 0.90; |cov90 − 0.9| beside it) and the "
             "interval's mean width; out-of-sample rows, mean ± SE over each estimator's finished datasets.", "",
             "| family | estimator | datasets | CRPS out | cov90 out | abs(cov90 − 0.9) | width90 out | CRPS in |",
             "|---|---|---|---|---|---|---|---|"]
    for r in board.itertuples():
        g = lambda m: plus_minus(getattr(r, f"{m}_mean", np.nan), getattr(r, f"{m}_se", np.nan))  # noqa: E731
        gap = getattr(r, "cov90_gap_out_mean", np.nan)
        lines.append(f"| {REPORT_FAMILIES.get(r.dataset, r.dataset)} | {r.estimator} | {r.n_ok} | {g('crps_out')} | "
                     f"{g('cov90_out')} | {gap:.3f} | {g('width90_out')} | {g('crps_in')} |")
    return board, "\n".join(lines) + "\n"


def winrate_matrices(results: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> tuple[pd.DataFrame, str, dict]:
    """Pairwise win rates (ties half) per family on sqrt-PEHE in and out of sample, with bootstrap CIs.

    Uses :func:`catebench.benchmark.winrates.pairwise_winrates` (paired tasks: both estimators ``ok``) and
    :func:`catebench.benchmark.stats.winrate_ci_from_table` (datasets resampled).

    Returns (long frame, Markdown, {(family, metric): pairwise_winrates dict}).
    """
    rows, md, mats = [], [], {}
    for fam in REPORT_FAMILIES:
        sub = results[results["dataset"] == fam]
        if sub.empty or not (sub["status"] == "ok").any():
            continue
        ests = sorted(sub.loc[sub["status"] == "ok", "estimator"].unique())
        for metric in ("pehe_out", "pehe_in"):
            wr = pairwise_winrates(sub, metric, estimators=ests)
            mats[(fam, metric)] = wr
            wide = paired_table(sub, metric, ests)
            md.append(format_winrate_markdown(wr, f"{REPORT_FAMILIES[fam]}: {metric}"))
            for a in ests:
                for b in ests:
                    if a == b or wr["n_pairs"].loc[a, b] == 0:
                        continue
                    w, lo, hi, n = winrate_ci_from_table(wide, a, b, n_boot=n_boot, seed=seed)
                    rows.append({"family": fam, "metric": metric, "a": a, "b": b, "winrate": w, "ci_low": lo,
                                 "ci_high": hi, "n_pairs": n})
    return pd.DataFrame(rows), "\n".join(md), mats
