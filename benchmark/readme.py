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


def table(board: pd.DataFrame, meta: dict) -> str:
    """The README block: per dataset, sqrt-PEHE (mean ± SE, median, rank by median), ATE error, fit time, failures,
    and for generative estimators the out-of-sample 90 % coverage when the board has it."""
    dist = "cov90_out_mean" in board and np.isfinite(board["cov90_out_mean"].to_numpy(dtype=float)).any()
    lines = [
        f"Latest default leaderboard (`{meta.get('command', '?')}`, {meta.get('generated', '?')}, "
        f"{meta.get('hardware', {}).get('cpu_count', '?')} CPU cores). Lower is better; mean ± SE over "
        "replications (seeds averaged within a replication), median beside it and the rank by the median "
        "(sqrt-PEHE is heavy-tailed, so the two orders can differ)"
        + ("; `cov90 out`: share of test-row outcomes inside the 90 % predictive interval, generative estimators "
           "only (nominal 0.9)" if dist else "")
        + "; full tables, win rates, statistics and figures in "
        "[`results/leaderboard.md`](results/leaderboard.md) and `results/report.html`.",
        "",
    ]
    n_col = "n_replications" if "n_replications" in board else "n_ok"
    for dataset, g in board.groupby("dataset", sort=True):
        head = ["estimator", "sqrt-PEHE out", "median", "rank by median", "ATE error out"]
        head += ["cov90 out"] if dist else []
        head += ["fit s (median)", "failed"]
        lines += [f"**{dataset}** ({int(g[n_col].max())} replications)", "", "| " + " | ".join(head) + " |",
                  "|" + "---|" * len(head)]
        med_rank = g["pehe_out_median"].rank(method="min")
        for idx, r in g.sort_values("pehe_out_mean").iterrows():
            cells = [r["estimator"], _pm(r["pehe_out_mean"], r["pehe_out_se"]), f"{r['pehe_out_median']:.3f}",
                     f"{med_rank[idx]:.0f}", _pm(r["ate_out_mean"], r["ate_out_se"])]
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
    readme = Path(a.readme)
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme} has no {START} / {END} markers.")
    new = re.sub(f"{START}.*?{END}", lambda _: f"{START} -->\n{table(board, meta)}\n<!-- {END}", text, flags=re.S)
    readme.write_text(new)
    print(f"updated {readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
