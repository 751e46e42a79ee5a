"""The three IWDD measurements the claims need (the 1-D toy figure, one-step vs Heun sampling speed, the variance of
the generator gradient), read from ``OUT/studies/{toy,speed,gradvar}.json``.

The study ``python -m studies.paper --out OUT`` takes them and writes those files; it lives in the top-level
``studies/`` folder of a clone, which is not part of the installed package. ``catebench paper`` reads the files,
and runs that study as a separate command first (``--studies run``, or ``auto`` for a missing file) when the
source tree it was installed from has the folder.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

__all__ = ["MEASUREMENTS", "read_measurements", "study_command", "source_root", "measurements_markdown"]

#: The measurements, in the order they are reported.
MEASUREMENTS = ("speed", "gradvar", "toy")


def source_root() -> Path | None:
    """The source tree this package was installed from, when it holds ``studies/paper.py`` (a clone); else None."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "studies" / "paper.py").is_file() else None


def study_command(out: str | Path, quick: bool, names: list[str] | tuple[str, ...] = MEASUREMENTS) -> list[str]:
    """The command that measures ``names`` into ``out/studies/`` (run from the root of a clone)."""
    return [sys.executable, "-m", "studies.paper", "--out", str(Path(out).resolve()), "--only", ",".join(names),
            *(["--quick"] if quick else [])]


def read_measurements(out: str | Path, mode: str = "auto", quick: bool = False) -> dict:
    """The measurements of ``out/studies/``, measuring first where ``mode`` asks for it.

    Parameters
    ----------
    out : path
        The paper's output folder.
    mode : {"auto", "run", "skip"}
        ``"auto"`` reads each file written with the same ``quick`` and without an error, and measures the others;
        ``"run"`` measures all three again; ``"skip"`` reads and measures nothing (the claims that need a
        measurement are then not testable).
    quick : bool
        Smoke-test sizes (not measurements to report).

    Returns
    -------
    dict name -> dict of measurements, or ``{"error": text}``.

    Raises
    ------
    RuntimeError
        ``mode="run"`` where no clone's ``studies/`` folder is found (the message names the command to run).
    """
    if mode not in ("auto", "run", "skip"):
        raise ValueError(f"mode must be 'auto', 'run' or 'skip'; got {mode!r}.")
    sdir = Path(out) / "studies"
    if mode == "skip":
        return {name: {"error": "skipped (--studies skip)"} for name in MEASUREMENTS}
    res, missing = {}, []
    for name in MEASUREMENTS:
        path = sdir / f"{name}.json"
        if mode == "auto" and path.is_file():
            prev = _read(path)
            if "error" not in prev and prev.get("quick", False) == quick:
                res[name] = prev
                continue
        missing.append(name)
    if not missing:
        return res
    root = source_root()
    cmd = study_command(out, quick, missing)
    if root is None:
        how = f"`python -m studies.paper --out {out}{' --quick' if quick else ''}` in a clone of catebench"
        if mode == "run":
            raise RuntimeError(f"--studies run needs the studies/ folder of a clone, which this installation lacks; "
                               f"run {how}, then `catebench paper --report-only`.")
        return {**res, **{name: {"error": f"not measured: run {how}"} for name in missing}}
    proc = subprocess.run(cmd, cwd=root)
    for name in missing:
        path = sdir / f"{name}.json"
        res[name] = (_read(path) if path.is_file() else
                     {"error": f"`{' '.join(cmd)}` wrote no {path.name} (exit status {proc.returncode})"})
    return {name: res[name] for name in MEASUREMENTS}


def _read(path: Path) -> dict:
    """A measurement file; the toy's ``figure``, stored relative to the file's folder, made a path from here."""
    m = json.loads(path.read_text())
    if isinstance(m.get("figure"), str) and not Path(m["figure"]).is_absolute():
        m["figure"] = str(path.parent / m["figure"])
    return m


def measurements_markdown(studies: dict) -> str:
    """One bullet per measurement: its summary line and when and how it was measured, or why it is missing."""
    lines = []
    for name, label in (("toy", "1-D toy figure"), ("speed", "One-step vs Heun sampling time"),
                        ("gradvar", "Gradient variance, IPW vs randomized")):
        s = studies.get(name, {})
        if not s or "error" in s:
            lines.append(f"- {label}: not measured ({s.get('error', 'not run') if s else 'not run'}).")
            continue
        q = " **Quick smoke-test sizes, not a real measurement.**" if s.get("quick") else ""
        lines.append(f"- {label}: {s.get('summary', '')} Measured {s.get('measured', '?')} in "
                     f"{s.get('study_seconds', float('nan')):.0f} s (load {s.get('load', [float('nan')])[0]:.1f}, code "
                     f"{s.get('code', '?')}).{q}")
    return "\n".join(lines) + "\n"
