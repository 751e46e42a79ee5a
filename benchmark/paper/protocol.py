"""The paper's protocol as constants: dataset families, the estimator the claims are about, the split, the sizes of
the full run, where its outputs go; and the small parsers of the command-line selections.

Imports nothing beyond the standard library, so that ``catebench --help`` can read it.
"""

from __future__ import annotations

__all__ = ["FAMILIES", "ROBUST", "REPORT_FAMILIES", "MAIN", "WS_MAIN", "SUBJECTS", "TEACHER", "SPLIT", "N_ACIC2016",
           "IHDP_REPLICATIONS", "IHDP_FULL_REPLICATIONS", "ACIC2018_PAPER_MAX", "DEFAULT_OUT", "DEFAULT_STORE",
           "FULL_N_JOBS", "parse_ranges", "compact"]

#: Dataset families in the paper's order, with display names.
FAMILIES = {"acic2016": "ACIC 2016", "acic2018": "ACIC 2018", "ihdp": "IHDP"}
#: The outputs' families: the paper's, and IHDP over every replication the run has (1-100 in the full run), a
#: robustness family that the claims report beside the paper's 10 replications but do not decide on.
ROBUST = "ihdp-all"
REPORT_FAMILIES = {**FAMILIES, ROBUST: "IHDP, all replications (robustness)"}
#: The paper's proposal as the paper describes it (randomized conditions, SiD distillation from the teacher's copy).
MAIN = "iwdd-rand"
#: Our variant of it (the generator warm-started on the teacher's draws before SiD), judged beside it.
WS_MAIN = "iwdd-rand-ws"
#: The estimators each claim is judged for, with the name of their verdict column.
SUBJECTS = {MAIN: "paper method", WS_MAIN: "warm-started variant (ours)"}
#: IWDD's multi-step diffusion teacher (stage 1), the reference of the one-step claim.
TEACHER = "diffusion-teacher"
#: Every dataset's split: the first 80 % of rows are the fit rows ("in-sample"), the last 20 % the test rows.
SPLIT = "80/20-row-order"
#: ACIC 2016 simulation settings (one dataset each in the full run).
N_ACIC2016 = 77
#: IHDP replications in the paper (1-10): the IHDP family of the tables and of the claims' verdicts.
IHDP_REPLICATIONS = 10
#: IHDP replications of the full run (1-100): the paper's 10 plus the robustness family.
IHDP_FULL_REPLICATIONS = 100
#: The paper used at most this many ACIC 2018 datasets (the projection uses it when the files are absent).
ACIC2018_PAPER_MAX = 24
#: Where the full run writes its outputs and keeps its store (relative to the working directory).
DEFAULT_OUT = "results/paper"
DEFAULT_STORE = "results/paper/store.sqlite"
#: Seconds between rewrites of a part's per-task files (``--no-report``): what a killed part can lose at most.
PART_EXPORT_SECONDS = 600
#: Worker processes of the full run (``--n-jobs`` default); the committed budget projects with it.
FULL_N_JOBS = 2


def parse_ranges(text: str, lo: int, hi: int, what: str) -> tuple[int, ...]:
    """``"1-20,35"`` -> ``(1, ..., 20, 35)``: sorted, unique, each in ``lo..hi``.

    Raises
    ------
    ValueError
        Naming the bad piece (not a number, a reversed range, or a value outside ``lo..hi``).
    """
    out: set[int] = set()
    for piece in str(text).split(","):
        piece = piece.strip()
        if not piece:
            continue
        a, sep, b = piece.partition("-")
        try:
            start, stop = int(a), int(b) if sep else int(a)
        except ValueError:
            raise ValueError(f"{what}: {piece!r} is not a number or a range like 1-20 (in {text!r}).") from None
        if start > stop:
            raise ValueError(f"{what}: range {piece!r} runs backwards.")
        if start < lo or stop > hi:
            raise ValueError(f"{what}: {piece!r} is outside {lo}..{hi}.")
        out.update(range(start, stop + 1))
    if not out:
        raise ValueError(f"{what}: {text!r} names nothing; use e.g. 1-20,35.")
    return tuple(sorted(out))


def compact(nums) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3, 5"``."""
    nums = sorted(int(n) for n in nums)
    parts, i = [], 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(f"{nums[i]}-{nums[j]}" if j > i else f"{nums[i]}")
        i = j + 1
    return ", ".join(parts)
