"""Write the latest leaderboard into README.md (between the LEADERBOARD-START / -END markers).

``python -m catebench.benchmark.readme [--leaderboard results/leaderboard.csv] [--readme README.md]``. The table is built
from the generated ``leaderboard.csv`` and ``report_meta.json`` (the command and time that produced them), so the
README never holds a number typed by hand.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

START, END = "LEADERBOARD-START", "LEADERBOARD-END"


def _pm(mean: float, se: float) -> str:
    return "-" if not np.isfinite(mean) else f"{mean:.3f} ± {se:.3f}" if np.isfinite(se) else f"{mean:.3f}"


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def table(board: pd.DataFrame, meta: dict, versus: pd.DataFrame | None = None) -> str:
    """The README block: the headline, then per dataset the ranking by average rank over replications of
    out-of-sample sqrt-PEHE, with the median, the mean ± SE (labelled, not the ranking), the ratio to the baseline
    with its interval (from ``wilcoxon.csv``), ATE error, fit time, failures and, for generative estimators, the
    out-of-sample 90 % coverage when the board has it."""
    dist = "cov90_out_mean" in board and np.isfinite(board["cov90_out_mean"].to_numpy(dtype=float)).any()
    ranked = "pehe_out_avg_rank" in board
    base = ""
    if versus is not None and len(versus) and "baseline" in versus:
        versus = versus[versus["metric"] == "pehe_out"] if "metric" in versus else versus
        base = str(versus["baseline"].iloc[0]) if len(versus) else ""
    lines = [
        f"Latest default leaderboard (`{meta.get('command', '?')}`, results as of {meta.get('generated', '?')}, "
        f"{meta.get('hardware', {}).get('cpu_count', '?')} CPU cores). Ranked by the average rank over replications "
        "of out-of-sample sqrt-PEHE (each replication ranks the estimators, so no single replication decides the "
        "order); lower is better; the mean ± SE over replications is shown beside it, labelled, and is not the "
        "ranking"
        + (f"; `ratio to {base}`: sqrt-PEHE over the pre-declared baseline's (ratio of geometric means, 95 % "
           "interval; bold = Holm-significant)" if base else "")
        + ("; `cov90 out`: share of test-row outcomes inside the 90 % predictive interval, generative estimators "
           "only (nominal 0.9)" if dist else "")
        + "; full tables, win rates, statistics and figures in [`results/leaderboard.md`](results/leaderboard.md) "
        "and `results/report.html`, every task in `results/tasks.csv`.",
        "",
    ]
    for ds, text in sorted(meta.get("headline", {}).items()):
        lines += [text, ""]
    n_col = "n_replications" if "n_replications" in board else "n_ok"
    for dataset, g in board.groupby("dataset", sort=True):
        vs = versus[versus["scope"] == dataset].set_index("estimator") if base else pd.DataFrame()
        head = ["place", "estimator", "avg rank", "sqrt-PEHE out median", "mean ± SE"]
        head += [f"ratio to {_cell(base)}"] if base else []
        head += ["ATE error out median"]
        head += ["cov90 out"] if dist else []
        head += ["fit s (median)", "failed"]
        lines += [f"**{dataset}** ({int(g[n_col].max())} replications)", "", "| " + " | ".join(head) + " |",
                  "|" + "---|" * len(head)]
        if not ranked:
            g = g.sort_values("pehe_out_median")
        for i, (_, r) in enumerate(g.iterrows()):
            place = f"{r['pehe_out_place']:.0f}" if ranked and np.isfinite(r["pehe_out_place"]) else str(i + 1)
            rank = f"{r['pehe_out_avg_rank']:.2f}" if ranked and np.isfinite(r["pehe_out_avg_rank"]) else "-"
            cells = [place, _cell(r["estimator"]), rank, f"{r['pehe_out_median']:.3f}",
                     _pm(r["pehe_out_mean"], r["pehe_out_se"])]
            if base:
                if r["estimator"] in vs.index:
                    v = vs.loc[r["estimator"]]
                    b = "**" if str(v["significant"]) == "True" else ""
                    cells.append(f"{b}{v['ratio']:.2f} [{v['ratio_low']:.2f}, {v['ratio_high']:.2f}]{b}")
                else:
                    cells.append("baseline" if r["estimator"] == base else "-")
            cells.append(f"{r['ate_out_median']:.3f}" if np.isfinite(r["ate_out_median"]) else "-")
            if dist:
                c = r["cov90_out_mean"]
                cells.append(f"{c:.2f}" if np.isfinite(c) else "-")
            cells += [f"{r['fit_seconds_median']:.2f}", str(int(r["n_failed"]))]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", default="results")
    p.add_argument("--readme", default="README.md")
    a = p.parse_args(argv)
    res = Path(a.results)
    board = pd.read_csv(res / "leaderboard.csv")
    meta_path = res / "report_meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    wil = res / "wilcoxon.csv"
    versus = pd.read_csv(wil) if wil.exists() and wil.stat().st_size > 1 else None
    readme = Path(a.readme)
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} / {END} markers.")
    block = table(board, meta, versus)
    new = re.sub(f"{START}.*?{END}", lambda _: f"{START} -->\n{block}\n<!-- {END}", text, flags=re.S)
    readme.write_text(new)
    print(f"updated {readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
