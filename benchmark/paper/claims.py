"""The claims of the paper's abstract, each decided by a fixed rule from the measured numbers.

:func:`evaluate_claims` gives one :class:`Claim` per claim: its verdict (:data:`HOLDS`, :data:`FAILS` or
:data:`UNTESTABLE`), the evidence with its uncertainty, and the decision rule in words. The rules and their
thresholds (:data:`ALPHA`, :data:`NONINFERIORITY`, :data:`MIN_UNITS`) are fixed before looking at results.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..stats import bootstrap_mean_ci, holm, winrate_ci_from_table
from ..winrates import paired_table
from .protocol import FAMILIES, MAIN, REPORT_FAMILIES, ROBUST, SUBJECTS, TEACHER
from .tables import best_share_ci, coverage_sets, iwdd_family, pct_ci, unit_table, with_robustness_family

__all__ = ["Claim", "evaluate_claims", "evaluate_subjects", "HOLDS", "FAILS", "UNTESTABLE", "ALPHA", "NONINFERIORITY", "MIN_UNITS"]

#: Significance level of the paired tests.
ALPHA = 0.05
#: Non-inferiority margin of the "as accurate as the teacher" claim: 10 % of the teacher's mean error.
NONINFERIORITY = 0.10
#: A family enters a claim's verdict only with at least this many paired datasets (fewer: "not tested").
MIN_UNITS = 5
#: The three verdicts.
HOLDS, FAILS, UNTESTABLE = "holds here", "does not hold here", "not testable here"


@dataclasses.dataclass
class Claim:
    """One claim of the abstract, its verdict and the evidence it was decided on."""

    key: str
    text: str
    verdict: str
    why: str
    evidence: list[str]
    rule: str
    subject: str = MAIN  # the estimator judged

    def markdown(self) -> str:
        ev = "\n".join(f"- {e}" for e in self.evidence) or "- (no measurement)"
        return (f"### {self.text}: `{self.subject}`\n\n**Verdict: {self.verdict}.** {self.why}\n\nEvidence:\n\n"
                f"{ev}\n\nDecision rule: {self.rule}\n")


def _baselines(results: pd.DataFrame, family: str, main: str) -> list[str]:
    """Estimators outside the IWDD family that finished every unit `iwdd-rand` finished in ``family``."""
    cover, _ = coverage_sets(results, family)
    fam = set(iwdd_family(results))
    mine = cover.get(main, frozenset())
    return sorted(e for e, c in cover.items() if e not in fam and mine <= c)


def _short_baselines(results: pd.DataFrame, family: str, main: str) -> str:
    """Baselines left out of a claim because they did not finish every unit `iwdd-rand` finished."""
    cover, _ = coverage_sets(results, family)
    fam = set(iwdd_family(results))
    mine = cover.get(main, frozenset())
    short = [f"{e} ({len(c & mine)} of {len(mine)})" for e, c in sorted(cover.items()) if e not in fam and not mine <= c]
    return f" Baselines left out (did not finish every one of these datasets): {', '.join(short)}." if short else ""


def _paired(results, family, metric, a, others) -> pd.DataFrame:
    return unit_table(results, family, metric, [a, *others])


def _combine(verdicts: list[str]) -> str:
    """A family-level list -> one verdict: fails if any fails; holds if all tested hold; else not testable."""
    if not verdicts:
        return UNTESTABLE
    if FAILS in verdicts:
        return FAILS
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    return UNTESTABLE


def _robustness_note(fam_v: dict[str, str]) -> list[str]:
    """One evidence line comparing the verdict on the paper's IHDP replications with that on all of them."""
    if ROBUST not in fam_v or "ihdp" not in fam_v:
        return []
    same = fam_v[ROBUST] == fam_v["ihdp"]
    return [f"IHDP: the rule decides on the paper's replications 1-10 ({fam_v['ihdp']}); on all replications (the "
            f"robustness family, not part of the verdict) it gives \"{fam_v[ROBUST]}\""
            + (", the same." if same else ": **the two differ**.")]


def _claim_sota(results, n_boot, seed, main) -> Claim:
    rule = (f"per family, on the datasets where `{main}` and every baseline (all estimators outside the IWDD family) "
            f"finished: paired Wilcoxon signed-rank test of `{main}` against each baseline on out-of-sample sqrt-PEHE, "
            f"Holm-corrected over the baselines, and a bootstrap 95 % CI of the mean paired difference. A baseline is "
            f"*significantly better* when p(Holm) < {ALPHA} and the CI lies above 0. The claim holds in a family when "
            f"`{main}` has the lowest mean error and no baseline is significantly better; it does not hold when some "
            "baseline is significantly better; otherwise (not first, but not significantly beaten) the data cannot "
            "decide. Over families: does not hold if it fails in any family, holds if it holds in every family tested.")
    ev, verdicts, fam_v = [], [], {}
    for fam in REPORT_FAMILIES:
        base = _baselines(results, fam, main)
        tab = _paired(results, fam, "pehe_out", main, base)
        if main not in set(results.loc[(results["dataset"] == fam) & (results["status"] == "ok"), "estimator"]):
            if fam in set(results["dataset"]):
                ev.append(f"{REPORT_FAMILIES[fam]}: `{main}` has no finished result; not tested.")
            continue
        if not base or len(tab) < MIN_UNITS:
            ev.append(f"{REPORT_FAMILIES[fam]}: {len(tab)} complete dataset(s) with {len(base)} baseline(s); fewer than "
                      f"{MIN_UNITS}, not tested.")
            continue
        means = tab.mean().sort_values()
        rank = list(means.index).index(main) + 1
        ps, cis = [], {}
        for b in base:
            d = (tab[main] - tab[b]).to_numpy()
            ps.append(1.0 if np.all(d == 0) else float(sps.wilcoxon(tab[main], tab[b]).pvalue))
            cis[b] = bootstrap_mean_ci(d, n_boot=n_boot, seed=seed)
        padj = dict(zip(base, holm(np.array(ps))))
        better = [b for b in base if padj[b] < ALPHA and cis[b][1] > 0]
        best_b = means.drop(main).index[0]
        m, lo, hi = cis[best_b]
        if rank == 1 and not better:
            v = HOLDS
        elif better:
            v = FAILS
        else:
            v = UNTESTABLE
        fam_v[fam] = v
        if fam in FAMILIES:
            verdicts.append(v)
        txt = (f"{REPORT_FAMILIES[fam]} ({len(tab)} datasets, {len(base)} baselines): `{main}` mean out-of-sample sqrt-PEHE "
               f"{means[main]:.3f}, rank {rank} of {len(means)}; best baseline `{best_b}` {means[best_b]:.3f} "
               f"(paired difference {main} − {best_b} = {m:+.3f}, 95 % CI [{lo:+.3f}, {hi:+.3f}], Holm p = "
               f"{padj[best_b]:.3g}). Significantly better baselines: "
               f"{', '.join(f'`{b}`' for b in better) if better else 'none'}. → {v}."
               + _short_baselines(results, fam, main))
        ev.append(txt)
    ev += _robustness_note(fam_v)
    verdict = _combine(verdicts)
    why = {HOLDS: f"`{main}` has the lowest mean out-of-sample error in every family tested and no baseline beats it "
                  "significantly.",
           FAILS: "At least one baseline has a significantly lower out-of-sample sqrt-PEHE than IWDD in at least one "
                  "family.",
           UNTESTABLE: ("IWDD or the baselines lack results on enough datasets to test." if not verdicts else
                        "IWDD is not first, but with these few datasets no baseline beats it significantly.")}[verdict]
    return Claim("sota", "State-of-the-art out-of-sample prediction", verdict, why, ev, rule, main)


def _claim_winrate(results, n_boot, seed, main) -> Claim:
    rule = (f"per family, \"% best\" on out-of-sample sqrt-PEHE among `{main}` and the baselines (the other IWDD "
            "variants and the teacher are left out: they are ablations of the method and would split its wins), on "
            "the datasets all of them finished, with a bootstrap CI of the difference between the top baseline's "
            f"share and `{main}`'s (datasets resampled). Holds when `{main}` has the highest share (ties included); "
            "does not hold when the top baseline's share is higher and the CI of the difference excludes 0; "
            "otherwise the data cannot decide. Pairwise win rates against each baseline are listed as context.")
    ev, verdicts, fam_v = [], [], {}
    for fam in REPORT_FAMILIES:
        base = _baselines(results, fam, main)
        ok_here = set(results.loc[(results["dataset"] == fam) & (results["status"] == "ok"), "estimator"])
        if main not in ok_here:
            if fam in set(results["dataset"]):
                ev.append(f"{REPORT_FAMILIES[fam]}: `{main}` has no finished result; not tested.")
            continue
        tab = _paired(results, fam, "pehe_out", main, base)
        if not base or len(tab) < MIN_UNITS:
            ev.append(f"{REPORT_FAMILIES[fam]}: {len(tab)} complete dataset(s), {len(base)} baseline(s); fewer than "
                      f"{MIN_UNITS}, not tested.")
            continue
        bs = best_share_ci(tab, n_boot=n_boot, seed=seed)
        boots = bs.attrs["boots"]
        cols = list(tab.columns)
        top = bs.drop(index=main)["best_pct"].idxmax()
        diff = boots[:, cols.index(top)] - boots[:, cols.index(main)]
        dlo, dhi = np.quantile(diff, [0.025, 0.975])
        mine, theirs = bs.loc[main, "best_pct"], bs.loc[top, "best_pct"]
        if mine >= bs["best_pct"].max() - 1e-9:
            v = HOLDS
        elif dlo > 0:
            v = FAILS
        else:
            v = UNTESTABLE
        fam_v[fam] = v
        if fam in FAMILIES:
            verdicts.append(v)
        wide = paired_table(results[results["dataset"] == fam], "pehe_out", [main, *base])
        beat, lost = [], []
        for b in base:
            w, lo, hi, _ = winrate_ci_from_table(wide, main, b, n_boot=n_boot, seed=seed)
            if lo > 0.5:
                beat.append(b)
            elif hi < 0.5:
                lost.append(b)
        ev.append(f"{REPORT_FAMILIES[fam]} ({len(tab)} datasets, {len(base)} baselines): % best of `{main}` "
                  f"{pct_ci(mine, bs.loc[main, 'ci_low'], bs.loc[main, 'ci_high'])}; highest baseline `{top}` "
                  f"{pct_ci(theirs, bs.loc[top, 'ci_low'], bs.loc[top, 'ci_high'])} (difference {theirs - mine:+.0f} "
                  f"points, 95 % CI [{dlo:+.0f}, {dhi:+.0f}]). Pairwise (CI excludes 50 %): `{main}` beats "
                  f"{len(beat)} baseline(s){' (' + ', '.join(beat) + ')' if beat else ''} and loses to {len(lost)}"
                  f"{' (' + ', '.join(lost) + ')' if lost else ''}. → {v}." + _short_baselines(results, fam, main))
    ev += _robustness_note(fam_v)
    verdict = _combine(verdicts)
    why = {HOLDS: f"`{main}` has the highest \"% best\" against the baselines in every family tested.",
           FAILS: f"In at least one family a baseline is best on significantly more datasets than `{main}`.",
           UNTESTABLE: ("IWDD or the baselines lack results on enough datasets to test." if not verdicts else
                        f"`{main}` is not the most frequent winner, but the difference is within the bootstrap "
                        "uncertainty of so few datasets.")}[verdict]
    return Claim("winrate", "The highest win rates against the baselines", verdict, why, ev, rule, main)


def _claim_gradvar(studies: dict, main: str = MAIN) -> Claim:
    g = studies.get("gradvar", {})
    title = "The randomized adjustment lowers gradient variance compared with explicit IPW"
    rule = ("the gradient-variance study (`studies.iwdd_gradvar`, run into `studies/gradvar/`): on the `synthetic` "
            "design at three overlap levels, several seeds and three model states of a paper-method distillation "
            "(start, middle, end), the total variance (trace of the covariance across minibatches) of the SiD "
            "generator gradient with explicit IPW weights and with randomized conditions, and a BCa 95 % CI of "
            "their ratio IPW / randomized per cell. The design with the best overlap is a control (its stabilised "
            "weights are near 1, so the two designs nearly coincide) and is shown, not judged. Holds when, in every "
            "other design, the CI lies above 1 in a majority of cells; does not hold when, in any of them, it lies "
            "at or below 1 in a majority; otherwise the measurement cannot decide.")
    if main != MAIN:
        return Claim("gradvar", title, UNTESTABLE, f"The claim is about SiD's distillation gradient, which the "
                     f"paper's method (`{MAIN}`) follows from the teacher's copy; `{main}` replaces most of that path "
                     "by its warm start, so the study does not measure it.", [], rule, main)
    designs = g.get("designs") or []
    if "error" in g or len(designs) < 2:
        return Claim("gradvar", title, UNTESTABLE,
                     f"The measurement did not run: {g.get('error', 'no result with two designs or more')}.", [],
                     rule, main)
    control = min(designs, key=lambda d: d["imbalance"])
    judged = [d for d in designs if d is not control]
    lower = [d for d in judged if d["above"] * 2 > d["cells"]]
    not_lower = [d for d in judged if d["below"] * 2 > d["cells"]]
    if not_lower:
        v, why = FAILS, (f"In {', '.join(d['design'] for d in not_lower)} the randomized variant's gradient variance "
                         "is not lower than IPW's in most cells.")
    elif len(lower) == len(judged):
        v, why = HOLDS, ("With confounding (" + ", ".join(d["design"] for d in judged) + ") IPW's gradient variance "
                         "is above the randomized one's, with the CI above 1, in most cells; with good overlap "
                         f"the ratio is {control['gm_ratio']:.2f}.")
    else:
        v, why = UNTESTABLE, "In at least one confounded design most cells' CIs include 1."
    ev = [f"{d['design']}{' (control)' if d is control else ''}: ratio IPW / randomized {d['gm_ratio']:.2f} "
          f"(geometric mean over {d['cells']} cells, {min(d['ratio']):.2f}-{max(d['ratio']):.2f}); CI above 1 in "
          f"{d['above']}, at or below 1 in {d['below']}, including 1 in {d['cells'] - d['above'] - d['below']}."
          for d in designs]
    ev.append(f"{g.get('replications', '?')} seeds x states {', '.join(g.get('states', []))}, "
              f"{g.get('n_batches', '?')} minibatches of 256 per design and cell; what the variance does to W1 and "
              "sqrt-PEHE at the same budget: `studies/gradvar/summary.md`.")
    if g.get("quick"):
        ev.append("Quick (smoke-test) sizes: not a real measurement.")
    ev.append("This is variance of the distillation gradient, an optimisation property; by itself it says nothing "
              "about the accuracy of the causal estimate (see the one-step claim and the tables).")
    return Claim("gradvar", title, v, why, ev, rule, main)


def _claim_one_step(results, studies, n_boot, seed, main) -> Claim:
    rule = (f"accuracy: per family, the paired difference of out-of-sample sqrt-PEHE `{main}` − `{TEACHER}` on the "
            f"datasets both finished, bootstrap 95 % CI of its mean, against a non-inferiority margin of "
            f"{NONINFERIORITY:.0%} of the teacher's mean error (fixed before looking at results). Accurate enough "
            "when the CI's upper end is below the margin; not when its lower end is above the margin. Speed: the "
            "sampling-speed study (same draws, same units, one thread, timed side by side), one-step faster in every "
            "repeat; and the per-task ratio of prediction times in the benchmark (median, bootstrap CI). The claim "
            "holds when both parts hold, does not hold when either fails, otherwise the data cannot decide.")
    ev, acc, fam_v = [], [], {}
    for fam in REPORT_FAMILIES:
        tab = _paired(results, fam, "pehe_out", main, [TEACHER])
        if fam not in set(results["dataset"]):
            continue
        if len(tab) < MIN_UNITS or main not in tab or TEACHER not in tab:
            ev.append(f"{REPORT_FAMILIES[fam]}: {len(tab)} dataset(s) with both `{main}` and `{TEACHER}`; fewer than "
                      f"{MIN_UNITS}, not tested.")
            continue
        d = (tab[main] - tab[TEACHER]).to_numpy()
        m, lo, hi = bootstrap_mean_ci(d, n_boot=n_boot, seed=seed)
        margin = NONINFERIORITY * float(tab[TEACHER].mean())
        p = 1.0 if np.all(d == 0) else float(sps.wilcoxon(tab[main], tab[TEACHER]).pvalue)
        v = HOLDS if hi < margin else (FAILS if lo > margin else UNTESTABLE)
        fam_v[fam] = v
        if fam in FAMILIES:
            acc.append(v)
        ev.append(f"{REPORT_FAMILIES[fam]} ({len(tab)} datasets): mean out-of-sample sqrt-PEHE `{main}` "
                  f"{tab[main].mean():.3f} vs `{TEACHER}` {tab[TEACHER].mean():.3f}; difference {m:+.3f}, 95 % CI "
                  f"[{lo:+.3f}, {hi:+.3f}], margin {margin:.3f}; Wilcoxon p = {p:.3g}. → accuracy {v}.")
    ev += _robustness_note(fam_v)
    acc_v = _combine(acc)
    sp = studies.get("speed", {})
    speed = []
    if "error" in sp or "one_step" not in sp:
        ev.append(f"Sampling-speed study: not measured ({sp.get('error', 'no result')}).")
    else:
        one, heun = np.asarray(sp["one_step"], float), np.asarray(sp["heun"], float)
        ratio = float(np.median(heun) / np.median(one))
        sv = HOLDS if heun.min() > one.max() else (FAILS if np.median(heun) <= np.median(one) else UNTESTABLE)
        speed.append(sv)
        ev.append(f"Sampling-speed study ({sp.get('what', 'draws x units')}): one-step {np.median(one):.3g} s, Heun "
                  f"{sp.get('heun_steps', 50)} steps {np.median(heun):.3g} s (medians of {len(one)} repeats, side by "
                  f"side); speed-up {ratio:.1f}x, every repeat {'faster' if heun.min() > one.max() else 'not faster'}"
                  f"{' (quick smoke-test sizes)' if sp.get('quick') else ''}. → speed {sv}.")
    ok = results[results["status"] == "ok"]
    pt = ok[ok["estimator"].isin([main, TEACHER])].pivot_table(index=["dataset", "replication"], columns="estimator",
                                                                 values="predict_seconds", aggfunc="first")
    if {main, TEACHER} <= set(pt.columns):
        pt = pt.dropna()
        if len(pt) >= 2:
            lr = np.log(pt[TEACHER].to_numpy() / np.maximum(pt[main].to_numpy(), 1e-9))
            rng = np.random.default_rng(seed)
            boots = np.median(lr[rng.integers(0, len(lr), (n_boot, len(lr)))], axis=1)
            lo, hi = np.exp(np.quantile(boots, [0.025, 0.975]))
            ev.append(f"Benchmark prediction time (each estimator's `predict` as configured, which for the teacher "
                      f"need not run its sampler; {len(lr)} paired tasks, not side by side; context only): teacher / "
                      f"`{main}` median ratio {np.exp(np.median(lr)):.2g}x, 95 % CI [{lo:.2g}, {hi:.2g}].")
    speed_v = _combine(speed)
    verdict = FAILS if FAILS in (acc_v, speed_v) else (HOLDS if acc_v == speed_v == HOLDS else UNTESTABLE)
    why = {HOLDS: "The one-step generator is within the margin of its teacher's accuracy in every family tested and "
                  "samples faster.",
           FAILS: ("The one-step generator is less accurate than its teacher by more than the margin."
                   if acc_v == FAILS else "The one-step generator does not sample faster than the teacher."),
           UNTESTABLE: f"Accuracy: {acc_v}; speed: {speed_v} (see the evidence)."}[verdict]
    return Claim("one_step", "A one-step generator as accurate as its multi-step teacher, and faster", verdict, why,
                 ev, rule, main)


def evaluate_claims(results: pd.DataFrame, studies: dict, n_boot: int = 2000, seed: int = 0,
                    main: str = MAIN) -> list[Claim]:
    """Decide each claim of the abstract for ``main`` from the store's results and the studies' measurements.

    Every verdict is computed here from the numbers (see each claim's ``rule``); none is written by hand. IHDP
    replications beyond the paper's 1-10 form a robustness family (:func:`with_robustness_family`): reported in
    the evidence, beside the paper's 10, but not part of the verdict.
    """
    results = with_robustness_family(results)
    return [_claim_sota(results, n_boot, seed, main), _claim_winrate(results, n_boot, seed, main),
            _claim_gradvar(studies, main), _claim_one_step(results, studies, n_boot, seed, main)]


def evaluate_subjects(results: pd.DataFrame, studies: dict, n_boot: int = 2000, seed: int = 0) -> list[Claim]:
    """:func:`evaluate_claims` for each of :data:`SUBJECTS` (the paper's method, then our warm-started variant)."""
    return [c for main in SUBJECTS for c in evaluate_claims(results, studies, n_boot, seed, main)]
