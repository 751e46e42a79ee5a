"""Write the latest leaderboard into README.md (between the LEADERBOARD-START / -END markers).

``python -m benchmark.readme [--leaderboard results/leaderboard.csv] [--readme README.md]``. The table is built
from the generated ``leaderboard.csv`` and ``report_meta.json`` (the command and time that produced them), so the
README never holds a number typed by hand.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pandas as pd

START, END = "LEADERBOARD-START", "LEADERBOARD-END"


def table(board: pd.DataFrame, meta: dict) -> str:
    lines = [
        f"Latest default leaderboard (`{meta.get('command', '?')}`, {meta.get('generated', '?')}, "
        f"{meta.get('hardware', {}).get('cpu_count', '?')} CPU cores). Lower is better; mean ± SE over "
        "replications, median beside it; full tables, win rates, statistics and figures in "
        "[`results/leaderboard.md`](results/leaderboard.md) and `results/report.html`.",
        "",
    ]
    for dataset, g in board.groupby("dataset", sort=True):
        lines += [
            f"**{dataset}** ({int(g['n_ok'].max())} replications)",
            "",
            "| estimator | sqrt-PEHE out | median | ATE error out | fit s (median) | failed |",
            "|---|---|---|---|---|---|",
        ]
        for _, r in g.sort_values("pehe_out_mean").iterrows():
            lines.append(
                f"| {r['estimator']} | {r['pehe_out_mean']:.3f} ± {r['pehe_out_se']:.3f} | {r['pehe_out_median']:.3f} "
                f"| {r['ate_out_mean']:.3f} ± {r['ate_out_se']:.3f} | {r['fit_seconds_median']:.2f} | {int(r['n_failed'])} |"
            )
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
