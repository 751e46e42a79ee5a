"""Figures for the report (matplotlib, Agg backend; every figure saved as PNG and SVG).

* :func:`winrate_heatmap`: pairwise win-rate matrix, annotated in percent.
* :func:`metric_distributions`: per-dataset box plots of a metric per estimator (log scale when heavy-tailed).
* :func:`cd_diagram`: critical-difference diagram (average ranks, Nemenyi CD, cliques of non-different estimators).
* :func:`error_vs_time`: median error vs median fit time, one point per estimator, with IQR whiskers; each point
  is drawn as its board place number, named in the legend.
* :func:`replication_strip`: every replication's value per estimator on a log axis, replications coloured and
  linked, medians marked: the spread that a mean hides.

Files are deterministic: the same figure gives the same PNG and SVG bytes on every run (the SVG's date is left
out and its element ids are hashed with a fixed salt), so a regenerated report differs only where numbers do.
Estimators are told apart by a colour x marker pair that is unique for up to :data:`N_STYLES` of them.

Every function draws (and :func:`save` writes) under matplotlib's default style, whatever the process set before:
some estimator libraries change the global style when imported (causalml applies "fivethirtyeight"), and a report
written at the end of ``catebench run`` must look the same as one written by ``catebench report``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = ["save", "winrate_heatmap", "metric_distributions", "cd_diagram", "error_vs_time", "replication_strip",
           "HEAVY_TAIL_RATIO", "estimator_style", "N_STYLES"]

#: Use a log axis when max / min of the positive values exceeds this ratio.
HEAVY_TAIL_RATIO = 20.0
#: Error vs time uses a log axis only when the values span more than this ratio (not over 0.0009-0.0015 s).
LOG_AXIS_RATIO = 10.0

#: 20 distinguishable colours (tab20's dark shades, then its light ones) and 7 markers; 7 is prime to 20, so
#: estimator i gets colour i mod 20 and marker i mod 7, unique for N_STYLES = 140 estimators, and neighbours differ
#: in both.
_COLORS = [plt.cm.tab20(i) for i in [*range(0, 20, 2), *range(1, 20, 2)]]
_MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
N_STYLES = len(_COLORS) * len(_MARKERS)

#: Fixed salt for the ids matplotlib writes into SVG files (random per process otherwise).
SVG_HASHSALT = "catebench"


def _default_style(func):
    """Run ``func`` under matplotlib's default style (see the module docstring)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with plt.style.context("default"):
            return func(*args, **kwargs)

    return wrapper


def _plain_log(axis) -> None:
    """Label a log axis with plain numbers (0.5, 1, 2, 5, ...) instead of powers of ten."""
    from matplotlib import ticker

    fmt = ticker.FuncFormatter(lambda v, _: f"{v:g}")
    axis.set_major_formatter(fmt)
    axis.set_minor_locator(ticker.LogLocator(subs=(2.0, 5.0)))
    axis.set_minor_formatter(fmt)


def _safe(label: object) -> str:
    """A label as literal text for matplotlib (a ``$`` would start mathtext)."""
    return str(label).replace("$", r"\$")


def estimator_style(i: int) -> tuple[tuple, str]:
    """(colour, marker) of the ``i``-th estimator; distinct pairs for i < :data:`N_STYLES`."""
    return _COLORS[i % len(_COLORS)], _MARKERS[i % len(_MARKERS)]


@_default_style
def save(fig, out_dir: str | Path, stem: str) -> list[Path]:
    """Save ``fig`` as ``stem.png`` (150 dpi) and ``stem.svg`` in ``out_dir``; close it; return both paths.

    Both files are byte-identical across runs: no date in the metadata, SVG ids hashed with :data:`SVG_HASHSALT`.
    """
    return write_png_svg(fig, out_dir, stem)


def write_png_svg(fig, out_dir: str | Path, stem: str, dpi: int = 150, bbox_inches: str | None = "tight") -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.svg`` in ``out_dir``, byte-identical across runs (no date or software
    in the metadata, SVG ids hashed with :data:`SVG_HASHSALT`); close it; return both paths. Every figure in
    ``results/`` goes through here."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{stem}.png", out / f"{stem}.svg"]
    with plt.rc_context({"svg.hashsalt": SVG_HASHSALT}):
        fig.savefig(paths[0], dpi=dpi, bbox_inches=bbox_inches, metadata={"Software": None})
        fig.savefig(paths[1], bbox_inches=bbox_inches, metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return paths


@_default_style
def winrate_heatmap(winrate: pd.DataFrame, title: str = "", n_pairs: pd.DataFrame | None = None,
                    order: list[str] | None = None):
    """Heatmap of w(A, B) (rows A, columns B) in percent, diverging around 50 %.

    Parameters
    ----------
    winrate : DataFrame (k, k)
        From :func:`catebench.benchmark.winrates.pairwise_winrates` (``["winrate"]``).
    title : str, default ""
    n_pairs : DataFrame (k, k), optional
        Paired-task counts, shown in the subtitle (range).
    order : list of str, optional
        Row and column order (e.g. the board's); default: by mean win rate, best first.

    Returns
    -------
    matplotlib Figure
    """
    order = list(order) if order is not None else list(winrate.mean(axis=1).sort_values(ascending=False).index)
    w = winrate.loc[order, order].to_numpy(dtype=float) * 100
    k = len(order)
    size = max(4.5, 0.4 * k + 2.5)
    font = 10 if k <= 10 else 7
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    im = ax.imshow(np.ma.masked_invalid(w), cmap="RdBu", vmin=0, vmax=100)
    names = [_safe(n) for n in order]
    ax.set_xticks(range(k), names, rotation=40, ha="right", fontsize=font + 1)
    ax.set_yticks(range(k), names, fontsize=font + 1)
    for i in range(k):
        for j in range(k):
            if np.isfinite(w[i, j]):
                ax.text(j, i, f"{w[i, j]:.0f}", ha="center", va="center", fontsize=font,
                        color="white" if abs(w[i, j] - 50) > 30 else "black")
            else:
                ax.text(j, i, "–", ha="center", va="center", color="grey", fontsize=font)
    ax.set_xlabel("B (opponent)")
    ax.set_ylabel("A (row beats column in % of paired tasks)")
    sub = ""
    if n_pairs is not None and k > 1:
        off = n_pairs.loc[order, order].to_numpy()[~np.eye(k, dtype=bool)]
        sub = f"\npaired tasks per cell: {off.min()}" + (f"–{off.max()}" if off.max() != off.min() else "")
    ax.set_title(_safe(title) + sub)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="win rate of A over B (%)")
    return fig


@_default_style
def metric_distributions(results: pd.DataFrame, metric: str = "pehe_out", log: bool | None = None):
    """Box plots of ``metric`` per estimator, one panel per dataset, ``ok`` tasks only (failures in the labels).

    Parameters
    ----------
    results : DataFrame
        Task rows (``Store.results()``).
    metric : str, default "pehe_out"
    log : bool, optional
        Log y-axis; default None decides per panel (max/min of positive values > :data:`HEAVY_TAIL_RATIO`).

    Returns
    -------
    matplotlib Figure
    """
    datasets = sorted(results["dataset"].unique())
    n_est = results["estimator"].nunique()
    fig, axes = plt.subplots(1, len(datasets), figsize=(max(6, 0.7 * n_est + 2) * len(datasets), 4.8), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        g = results[results["dataset"] == ds]
        ok = g[g["status"] == "ok"]
        med = ok.groupby("estimator")[metric].median().sort_values()
        names = list(med.index) + sorted(set(g["estimator"]) - set(med.index))
        data = [ok.loc[ok["estimator"] == e, metric].dropna().to_numpy(float) for e in names]
        failed = [int((g.loc[g["estimator"] == e, "status"] != "ok").sum()) for e in names]
        labels = [f"{e}\n({f} not ok)" if f else e for e, f in zip(names, failed)]
        ax.boxplot([d if len(d) else [np.nan] for d in data], tick_labels=labels, showfliers=True,
                   medianprops={"color": "black"}, flierprops={"markersize": 3})
        allv = np.concatenate([d for d in data if len(d)]) if any(len(d) for d in data) else np.array([])
        pos = allv[allv > 0]
        use_log = log if log is not None else (len(pos) > 0 and pos.max() / pos.min() > HEAVY_TAIL_RATIO)
        if use_log:
            ax.set_yscale("log")
            _plain_log(ax.yaxis)
        ax.set_title(f"{ds}: {metric} per task ({'log' if use_log else 'linear'} scale)")
        ax.set_ylabel(f"{metric} (lower is better)")
        ax.tick_params(axis="x", rotation=40)
        for lab in ax.get_xticklabels():
            lab.set_ha("right")
        ax.grid(axis="y", alpha=0.3, which="both")
    fig.tight_layout()
    return fig


@_default_style
def cd_diagram(avg_ranks: pd.Series, cd: float | None, title: str = "", pairwise_p: pd.DataFrame | None = None,
               alpha: float = 0.05):
    """Critical-difference diagram (Demšar 2006).

    Parameters
    ----------
    avg_ranks : Series
        Average rank per estimator (1 = best).
    cd : float or None
        Nemenyi critical difference; None draws the average ranks alone (no CD bar, no cliques), for when the
        post-hoc test is not run.
    title : str, default ""
    pairwise_p : DataFrame, optional
        Unused for the bars (cliques use ``cd``); kept for API symmetry.
    alpha : float, default 0.05

    Returns
    -------
    matplotlib Figure
        Axis from 1 (left, best) to k; estimators joined by a thick bar do not differ at level ``alpha``.
    """
    r = avg_ranks.sort_values()
    names, vals = list(r.index), r.to_numpy(float)
    k = len(names)
    half = (k + 1) // 2
    # cliques: maximal runs of consecutive estimators whose rank span is below cd
    cliques: list[tuple[int, int]] = []
    for i in range(k if cd is not None else 0):
        j = i
        while j + 1 < k and vals[j + 1] - vals[i] < cd:
            j += 1
        if j > i and not any(a <= i and j <= b for a, b in cliques):
            cliques.append((i, j))
    clique_y = [-0.35 - 0.22 * c for c in range(len(cliques))]
    top_label = (min(clique_y) if clique_y else 0.0) - 0.45
    step = 0.5
    bottom = top_label - step * (max(half, k - half) - 1) - 0.4
    lo, hi = 1, max(k, 2)
    fig, ax = plt.subplots(figsize=(9, 1.0 + 0.55 * (1.8 - bottom)))
    ax.set_xlim(lo - 0.3, hi + 0.3)
    ax.set_ylim(bottom, 1.7)
    ax.axis("off")
    ax.hlines(0, lo, hi, color="black", lw=1)
    for t in range(lo, hi + 1):
        ax.vlines(t, 0, 0.15, color="black", lw=1)
        ax.text(t, 0.25, str(t), ha="center", va="bottom", fontsize=10)
    if cd is not None:
        ax.hlines(1.1, lo, lo + cd, color="black", lw=2)
        ax.vlines([lo, lo + cd], 1.0, 1.2, color="black")
        ax.text(lo + cd / 2, 1.25, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=10)
    # labels: best half on the left, worst half on the right; connectors drop below the clique bars
    for i, (n, v) in enumerate(zip(names, vals)):
        left = i < half
        y = top_label - step * (i if left else k - 1 - i)
        color = "tab:blue" if left else "tab:red"
        ax.vlines(v, y, 0, color=color, lw=0.9)
        if left:
            ax.hlines(y, lo - 0.3, v, color=color, lw=0.9)
            ax.text(lo - 0.33, y, f"{_safe(n)} ({v:.2f})", ha="right", va="center", fontsize=10)
        else:
            ax.hlines(y, v, hi + 0.3, color=color, lw=0.9)
            ax.text(hi + 0.33, y, f"({v:.2f}) {_safe(n)}", ha="left", va="center", fontsize=10)
    for (i, j), y in zip(cliques, clique_y):
        ax.hlines(y, vals[i] - 0.04, vals[j] + 0.04, color="black", lw=5, zorder=3)
    ax.set_title(_safe(title) or "Average ranks (1 = best); bars join estimators not significantly different",
                 fontsize=10)
    return fig


def _log_worthy(values: np.ndarray, ratio: float = LOG_AXIS_RATIO) -> bool:
    """A log axis helps only when the positive values span more than ``ratio`` (max / min)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    return len(v) > 1 and v.max() / v.min() > ratio


@_default_style
def error_vs_time(results: pd.DataFrame, metric: str = "pehe_out", dataset: str | None = None,
                  order: list[str] | None = None):
    """Median ``metric`` vs median fit time per estimator, IQR whiskers on both axes.

    Each axis is logarithmic only when its values (IQR ends included) span more than :data:`LOG_AXIS_RATIO`.
    Each estimator is drawn as its number in ``order`` (the board's places; default: by median error), named in
    the legend, so series stay apart whatever the number of colours.

    Returns
    -------
    matplotlib Figure
    """
    ok = results[results["status"] == "ok"]
    if dataset is not None:
        ok = ok[ok["dataset"] == dataset]
    g = ok.groupby("estimator")
    q = lambda s, p: s.quantile(p)  # noqa: E731
    e_med, e_lo, e_hi = g[metric].median(), g[metric].agg(q, 0.25), g[metric].agg(q, 0.75)
    t_med, t_lo, t_hi = g["fit_seconds"].median(), g["fit_seconds"].agg(q, 0.25), g["fit_seconds"].agg(q, 0.75)
    names = [e for e in (order if order is not None else e_med.sort_values().index) if e in e_med.index]
    fig, ax = plt.subplots(figsize=(9, 6))
    for i, est in enumerate(names):
        c, _ = estimator_style(i)
        num = str(i + 1)
        ax.errorbar(t_med[est], e_med[est],
                    xerr=[[t_med[est] - t_lo[est]], [t_hi[est] - t_med[est]]],
                    yerr=[[e_med[est] - e_lo[est]], [e_hi[est] - e_med[est]]],
                    fmt="none", ecolor=c, capsize=2, elinewidth=0.8, alpha=0.6)
        ax.plot(t_med[est], e_med[est], marker=f"${num}$", ms=7 + 4 * len(num), color=c, ls="none",
                label=f"{num}  {_safe(est)}", markeredgewidth=0.4, markeredgecolor="black")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False, markerscale=0.8,
              handletextpad=0.4)
    log_x = _log_worthy(np.concatenate([t_lo.to_numpy(), t_hi.to_numpy()]))
    log_y = _log_worthy(np.concatenate([e_lo.to_numpy(), e_hi.to_numpy()]))
    if log_x:
        ax.set_xscale("log")
        _plain_log(ax.xaxis)
    if log_y:
        ax.set_yscale("log")
        _plain_log(ax.yaxis)
    ax.set_xlabel(f"fit time per task, seconds (median, IQR{'; log scale' if log_x else ''})")
    ax.set_ylabel(f"{metric} (median, IQR{'; log scale' if log_y else ''})")
    ax.set_title(f"Error vs fit time{f' ({_safe(dataset)})' if dataset else ''}; lower-left is better; "
                 "numbers = board places")
    ax.grid(alpha=0.3, which="both")
    return fig


@_default_style
def replication_strip(table: pd.DataFrame, metric: str = "pehe_out", title: str = "",
                      order: list[str] | None = None):
    """Every replication's ``metric`` per estimator: one row per estimator (best first), log x-axis.

    Each replication has one colour and a thin line joining its points down the rows, so a replication that is
    hard for everyone shows as one line far to the right; the black bar is the estimator's median, the open
    diamond its mean.

    Parameters
    ----------
    table : DataFrame, shape (n_replications, k)
        Per-replication values (seeds averaged), e.g. :func:`catebench.benchmark.stats.unit_table`; NaN = no
        result.
    metric : str
    title : str
    order : list of str, optional
        Rows, top to bottom (default: by median).

    Returns
    -------
    matplotlib Figure
    """
    order = list(order) if order is not None else list(table.median().sort_values().index)
    order = [e for e in order if e in table.columns]
    v = table[order].to_numpy(dtype=float)  # (n, k)
    n, k = v.shape
    fig, ax = plt.subplots(figsize=(7.5, 0.24 * k + 1.6))
    if n <= 10:
        colors = [plt.cm.tab10(i) for i in range(n)]
    elif n <= 20:
        colors = [plt.cm.tab20(i) for i in range(n)]
    else:
        colors = [plt.cm.viridis(i / max(n - 1, 1)) for i in range(n)]
    y = np.arange(k)
    reps = [str(r[-1]) if isinstance(r, tuple) else str(r) for r in table.index]
    for i in range(n):
        ok = np.isfinite(v[i]) & (v[i] > 0)
        ax.plot(v[i][ok], y[ok], color=colors[i], lw=0.6, alpha=0.35 if n <= 20 else 0.15, zorder=1)
        ax.scatter(v[i][ok], y[ok], s=16 if n <= 20 else 8, color=colors[i], zorder=2, edgecolors="none",
                   label=f"rep {reps[i]}" if n <= 20 else None)
    with np.errstate(all="ignore"):
        med, mean = np.nanmedian(v, axis=0), np.nanmean(v, axis=0)
    ax.scatter(med, y, marker="|", s=260, color="black", linewidths=2, zorder=3, label="median")
    ax.scatter(mean, y, marker="D", s=28, facecolors="none", edgecolors="black", linewidths=1, zorder=3,
               label="mean")
    ax.set_yticks(y, [_safe(e) for e in order], fontsize=9)
    ax.set_ylim(k - 0.5, -0.5)
    pos = v[np.isfinite(v) & (v > 0)]
    if len(pos) and pos.max() / pos.min() > 1.5:
        ax.set_xscale("log")
        _plain_log(ax.xaxis)
    ax.set_xlabel(f"{metric} per replication (log scale; lower is better)")
    ax.grid(axis="x", alpha=0.3, which="both")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
              ncol=1, title="replication" if n <= 20 else None, title_fontsize=8)
    if n > 20:
        sm = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(1, n))
        fig.colorbar(sm, ax=ax, fraction=0.04, pad=0.25, label="replication (order in the table)")
    ax.set_title(_safe(title) or f"{metric}: every replication per estimator", fontsize=10)
    return fig
