"""The paper's figures, each written as PNG and SVG into a figures folder (byte-identical across runs, see
:func:`catebench.benchmark.plots.save`). Each function returns ``[(png path, caption)]`` (empty when its numbers are
missing); a caption starting with "wide:" asks the page for a full-width figure."""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .. import plots  # noqa: E402
from .protocol import REPORT_FAMILIES  # noqa: E402

__all__ = ["fig_best", "fig_distributions", "fig_matrices", "fig_speed", "fig_gradvar", "fig_toy"]


def fig_best(tabs: dict, fig_dir: Path) -> list[tuple[Path, str]]:
    """Horizontal bars of "% best" (in and out of sample) with CIs, one panel per family."""
    out = []
    with plt.style.context("default"):
        fams = [f for f in REPORT_FAMILIES if f in tabs]
        if not fams:
            return out
        h = max(3.0, 0.28 * max(len(tabs[f][0]["estimators"]) for f in fams) + 1.5)
        fig, axes = plt.subplots(1, len(fams), figsize=(5.2 * len(fams), h), squeeze=False)
        for ax, fam in zip(axes[0], fams):
            f = tabs[fam][0]["frame"].sort_values("best_pehe_out_pct")
            y = np.arange(len(f))
            for off, metric, color, lab in ((-0.2, "pehe_in", "C0", "in-sample"), (0.2, "pehe_out", "C3", "out-of-sample")):
                p = f[f"best_{metric}_pct"].to_numpy()
                err = np.vstack([p - f[f"best_{metric}_low"].to_numpy(), f[f"best_{metric}_high"].to_numpy() - p])
                ax.barh(y + off, p, height=0.38, color=color, alpha=0.8, label=lab, xerr=err,
                        error_kw={"lw": 0.8, "capsize": 2})
            ax.set_yticks(y, f["estimator"], fontsize=8)
            ax.set_xlabel("% best (lowest sqrt-PEHE), 95 % bootstrap CI")
            ax.set_title(f"{REPORT_FAMILIES[fam]} ({tabs[fam][0]['n_units']} datasets)")
            ax.set_xlim(0, 100)
            ax.legend(fontsize=8, loc="lower right")
        fig.tight_layout()
        p = plots.save(fig, fig_dir, "winrates_best")
    out.append((p[0], "wide: \"% best\" per family: share of datasets on which each estimator has the lowest "
                      "sqrt-PEHE (ties split), in and out of sample, with 95 % bootstrap CIs."))
    return out


def fig_distributions(results: pd.DataFrame, fig_dir: Path) -> list[tuple[Path, str]]:
    """Per family, box plots of out-of-sample sqrt-PEHE per estimator over its datasets, on a log axis."""
    out = []
    for fam in REPORT_FAMILIES:
        sub = results[results["dataset"] == fam]
        if sub.empty:
            continue
        name = REPORT_FAMILIES[fam]
        p = plots.save(plots.metric_distributions(sub.assign(dataset=name), "pehe_out", log=True), fig_dir,
                       f"pehe_out_box_{fam}")
        n = sub["replication"].nunique()
        out.append((p[0], f"wide: {name}: out-of-sample sqrt-PEHE per estimator over {n} datasets (box: "
                          "quartiles, whiskers 1.5 IQR, points beyond; log axis; ordered by median)."))
    return out


def fig_matrices(mats: dict, fig_dir: Path) -> list[tuple[Path, str]]:
    out = []
    for (fam, metric), wr in mats.items():
        if metric != "pehe_out":
            continue
        p = plots.save(plots.winrate_heatmap(wr["winrate"], f"{REPORT_FAMILIES[fam]}: pairwise win rate on {metric}",
                                             wr["n_pairs"]), fig_dir, f"winrate_matrix_{fam}_{metric}")
        out.append((p[0], f"wide: {REPORT_FAMILIES[fam]}: pairwise win rates on out-of-sample sqrt-PEHE (row beats "
                          "column, % of paired datasets, ties half)."))
    return out


def fig_speed(studies: dict, fig_dir: Path) -> list[tuple[Path, str]]:
    sp = studies.get("speed", {})
    if "one_step" not in sp:
        return []
    with plt.style.context("default"):
        fig, ax = plt.subplots(figsize=(5.5, 3.4))
        vals = [np.asarray(sp["one_step"], float), np.asarray(sp["heun"], float)]
        labels = ["one-step generator\n(1 network call)", f"Heun teacher\n({sp.get('heun_steps', 50)} steps, "
                                                           f"{2 * sp.get('heun_steps', 50) - 1} calls)"]
        ax.bar([0, 1], [np.median(v) for v in vals], color=["C3", "C0"], alpha=0.8)
        for i, v in enumerate(vals):
            ax.plot(np.full(len(v), i), v, "k.", ms=5)
        ax.set_xticks([0, 1], labels)
        ax.set_yscale("log")
        ax.set_ylabel("seconds (log; bar = median, dots = repeats)")
        ax.set_title(f"Sampling {sp.get('what', '')}: {np.median(vals[1]) / np.median(vals[0]):.0f}x faster")
        fig.tight_layout()
        p = plots.save(fig, fig_dir, "sampling_time")
    return [(p[0], "One-step generator vs multi-step Heun sampling of the teacher: wall time for the same draws, "
                   "side by side in one process, one thread.")]


def fig_gradvar(studies: dict, fig_dir: Path) -> list[tuple[Path, str]]:
    """Each cell's ratio IPW / randomized of the gradient variance with its CI, grouped by design, on a log axis."""
    designs = studies.get("gradvar", {}).get("designs") or []
    if not designs:
        return []
    markers = {"start": "o", "middle": "s", "end": "^"}
    with plt.style.context("default"):
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        for i, d in enumerate(designs):
            n = len(d["ratio"])
            xs = i + np.linspace(-0.3, 0.3, n) if n > 1 else np.array([float(i)])
            for x, r, lo, hi, st in zip(xs, d["ratio"], d["ci_low"], d["ci_high"], d["state"]):
                color = "C3" if lo > 1 else ("C0" if hi <= 1 else "0.5")
                ax.errorbar([x], [r], yerr=[[r - lo], [hi - r]], fmt=markers.get(st, "o"), color=color, ms=4,
                            capsize=2, lw=0.8)
            ax.hlines(d["gm_ratio"], i - 0.35, i + 0.35, color="k", lw=1.5)
        ax.axhline(1.0, color="k", ls=":", lw=0.8)
        ax.set_yscale("log")
        ax.set_xticks(range(len(designs)), [d["design"].replace(" (", "\n(") for d in designs], fontsize=8)
        ax.set_ylabel("gradient variance, IPW / randomized")
        ax.set_title("Per seed and state (o start, s middle, ^ end); bar: geometric mean", fontsize=9)
        fig.tight_layout()
        p = plots.save(fig, fig_dir, "gradient_variance")
    return [(p[0], "Variance of the SiD generator gradient, explicit IPW weights over randomized conditions, per "
                   "overlap design, seed and model state of a paper-method distillation, with 95 % BCa CIs "
                   "(red: above 1, blue: at or below 1, grey: includes 1).")]


def fig_toy(studies: dict, fig_dir: Path) -> list[tuple[Path, str]]:
    t = studies.get("toy", {})
    src = t.get("figure")
    if not src or not Path(src).exists():
        return []
    paths = []
    for ext in ("png", "svg"):
        s = Path(src).with_suffix(f".{ext}")
        if s.exists():
            shutil.copyfile(s, fig_dir / f"toy.{ext}")
            paths.append(fig_dir / f"toy.{ext}")
    if not paths:
        return []
    return [(fig_dir / "toy.png", "wide: The paper's 1-D toy: true vs predicted densities of Y(0), Y(1), in and out "
                                  "of sample (teacher, KL and SiD distillation); made by "
                                  "`python -m studies.iwdd_toy`.")]
