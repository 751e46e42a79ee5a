"""Which estimator labels and dataset names catebench accepts.

A label becomes a Markdown table cell, HTML text and part of figure captions; a dataset name becomes a section
heading and part of file names in the report. Both are checked where they enter (config files, the command line,
plugin entry points, rows read from a store), so no report writer has to escape them.

Labels: letters, digits, spaces and ``_ - . : @ # + = , ( )``, starting with a letter, digit or ``_``, at most
:data:`MAX_LENGTH` characters, no trailing space. Dataset names: the same without spaces, ``#``, ``,``, ``(`` and
``)``. Module paths (``mypkg.module:Class``) and tuned labels (``name@tuned-factual-8``) are valid labels.
"""

from __future__ import annotations

import re

__all__ = ["check_label", "check_dataset_name", "MAX_LENGTH"]

#: Longest accepted label or dataset name.
MAX_LENGTH = 120

_LABEL = re.compile(r"[^\W][\w .:@#+=,()\-]*")
_DATASET = re.compile(r"[^\W][\w.:@+=\-]*")
_LABEL_CHARS = "letters, digits, spaces and _ - . : @ # + = , ( )"
_DATASET_CHARS = "letters, digits and _ - . : @ + ="


def _check(value, pattern: re.Pattern, kind: str, chars: str, where: str) -> str:
    prefix = f"{where}: " if where else ""
    if not isinstance(value, str):
        raise ValueError(f"{prefix}{kind} must be a string; got {value!r}.")
    ok = (pattern.fullmatch(value) is not None and len(value) <= MAX_LENGTH and value == value.rstrip()
          and value.isprintable())  # fmt: skip
    if not ok:
        raise ValueError(
            f"{prefix}{kind} {value!r} is not accepted: use {chars}, starting with a letter, digit or _, at most "
            f"{MAX_LENGTH} characters (it becomes Markdown, HTML and file names in reports)."
        )
    return value


def check_label(label: str, where: str = "") -> str:
    """Return ``label`` if it is a valid estimator label, else raise ``ValueError`` naming it and ``where``."""
    return _check(label, _LABEL, "estimator label", _LABEL_CHARS, where)


def check_dataset_name(name: str, where: str = "") -> str:
    """Return ``name`` if it is a valid dataset name, else raise ``ValueError`` naming it and ``where``."""
    return _check(name, _DATASET, "dataset name", _DATASET_CHARS, where)
