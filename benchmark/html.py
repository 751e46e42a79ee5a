"""One HTML page for a report: tables inline, figures referenced by relative path (``figures/x.png``).

The page loads nothing from the network (no scripts, fonts or external images): with its ``figures/`` folder it
opens offline or in a headless browser, and it stays small whatever the number of figures. The Markdown subset the
reports write (headings, paragraphs, tables, bullet lists, fenced code) is converted here, in about 100 lines: no
Markdown package is a dependency, and this one keeps the report's own needs (escaped ``|`` in cells, folded long
tables, wrapped long cells, published rows styled).
"""

from __future__ import annotations

import dataclasses
import html as _html
import os
import re
from pathlib import Path

__all__ = ["Section", "markdown_table_to_html", "markdown_to_html", "render_page"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;max-width:1360px;margin:0.6em auto;
padding:0 1em;color:#222;line-height:1.4}
h1{border-bottom:2px solid #444;margin:0.2em 0 0.3em;font-size:1.6em}h2{border-bottom:1px solid #bbb;margin-top:1.5em}
.lead p{margin:0.35em 0;font-size:0.95em}
details.sec{margin:0.6em 0;border-top:1px solid #bbb}details.sec>summary{font-size:1.25em;font-weight:bold;padding:0.3em 0}
table{border-collapse:collapse;margin:0.8em 0;font-size:0.85em}
th,td{border:1px solid #ccc;padding:3px 5px;text-align:right;white-space:nowrap}
th{background:#f0f0f0;white-space:normal}
td.t{text-align:left;white-space:normal;max-width:22em}
.tw{overflow-x:auto;max-width:100%}
td.long{white-space:normal;overflow-wrap:anywhere;text-align:left;min-width:16em;max-width:40em}
tr.published td{color:#777;font-style:italic;background:#fafafa;white-space:normal}
.figs{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
figure{margin:0.3em 0;flex:0 1 calc(50% - 0.5em);min-width:min(520px,100%);max-width:100%}
figure img{width:100%;height:auto;border:1px solid #ddd}
.lead figure img{max-height:74vh;object-fit:contain}
figure.wide{flex-basis:100%}figure.wide img{width:auto;max-width:100%}
figcaption{font-size:0.9em;color:#555}
code,pre{background:#f5f5f5;padding:1px 4px}pre{padding:8px;overflow-x:auto;font-size:0.85em}
.note{color:#555;font-size:0.9em}summary{cursor:pointer;color:#245;margin:0.5em 0}
"""


def _inline(text: str) -> str:
    t = _html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)
    t = re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"<i>\1</i>", t)
    return t


def _is_text(cell: str) -> bool:
    """A cell of words (a name, a label): left-aligned; numbers, intervals and dashes stay right-aligned."""
    return bool(re.match(r"^[*`_]*[A-Za-z]", cell)) and cell not in ("baseline",)


#: Tables with more body rows than this are folded into a ``<details>`` element (click to expand).
FOLD_ROWS = 25
#: Cells with more characters than this wrap (class ``long``) instead of widening the table off-screen.
LONG_CELL = 40


def markdown_table_to_html(lines: list[str], fold: bool = True) -> str:
    """Convert a GitHub-style Markdown table (list of ``| a | b |`` lines) to an HTML table.

    Rows whose text contains "published, orientation only" get the CSS class ``published``; cells longer than
    :data:`LONG_CELL` characters wrap (class ``long``); tables longer than :data:`FOLD_ROWS` rows are folded
    (``<details>``).
    """
    def cells(line: str) -> list[str]:  # split on unescaped pipes; "\\|" is a literal pipe inside a cell
        inner = line.strip()
        inner = inner[1:] if inner.startswith("|") else inner
        inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
        return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]

    head, body = cells(lines[0]), [cells(x) for x in lines[2:]]
    out = ['<div class="tw"><table>', "<tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>"]
    for row, raw in zip(body, lines[2:]):
        cls = ' class="published"' if "published, orientation only" in raw else ""
        tds = ('<td class="long">' if len(c) > LONG_CELL else '<td class="t">' if _is_text(c) else "<td>"
               for c in row)
        out.append(f"<tr{cls}>" + "".join(f"{td}{_inline(c)}</td>" for td, c in zip(tds, row)) + "</tr>")
    out.append("</table></div>")
    if fold and len(body) > FOLD_ROWS:
        out = [f"<details><summary>table with {len(body)} rows (click to expand)</summary>", *out, "</details>"]
    return "\n".join(out)


def markdown_to_html(md: str, shift: int = 0, fold: bool = True) -> str:
    """Small Markdown subset used by the report: headings, paragraphs, tables, bullet lists, fenced code.

    ``shift`` (default 0) demotes every heading by that many levels (``##`` becomes ``<h3>`` with shift 1);
    ``fold`` (default True) folds long tables (see :func:`markdown_table_to_html`).
    """
    out: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append("<pre>" + _html.escape("\n".join(lines[i + 1:j])) + "</pre>")
            i = j + 1
        elif line.startswith("|"):
            j = i
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            out.append(markdown_table_to_html(lines[i:j], fold=fold))
            i = j
        elif m := re.match(r"^(#{1,6})\s+(.*)", line):
            n = min(6, len(m.group(1)) + shift)
            out.append(f"<h{n}>{_inline(m.group(2))}</h{n}>")
            i += 1
        elif line.startswith("- "):
            j = i
            items = []
            while j < len(lines) and lines[j].startswith("- "):
                items.append(f"<li>{_inline(lines[j][2:])}</li>")
                j += 1
            out.append("<ul>" + "".join(items) + "</ul>")
            i = j
        elif line.strip():
            j = i
            para = []
            while j < len(lines) and lines[j].strip() and not lines[j].startswith(("|", "#", "- ", "```")):
                para.append(lines[j])
                j += 1
            out.append("<p>" + _inline(" ".join(para)) + "</p>")
            i = j
        else:
            i += 1
    return "\n".join(out)


@dataclasses.dataclass
class Section:
    """One part of the page.

    Attributes
    ----------
    heading : str
        ``<h2>`` text ("" for none).
    md : str
        Markdown body; its headings are demoted one level.
    figures : list of (path, caption)
        Relative paths are used as they are; an absolute path is made relative to ``base`` (see
        :func:`render_page`). A caption starting with "wide:" takes a full row; others sit two per row.
    collapsed : bool
        Folded into a ``<details>`` element (click to open).
    lead : bool
        The page's top: smaller paragraphs, figures capped to the window's height.
    fold : bool
        Fold tables longer than :data:`FOLD_ROWS` rows.
    """

    heading: str
    md: str = ""
    figures: list = dataclasses.field(default_factory=list)
    collapsed: bool = False
    lead: bool = False
    fold: bool = True


def _src(path, base: Path | None) -> str:
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    root = Path(base) if base is not None else p.parent.parent
    return Path(os.path.relpath(p, root)).as_posix()


def render_page(title: str, sections: list, base: str | Path | None = None) -> str:
    """The whole page.

    Parameters
    ----------
    title : str
    sections : list of :class:`Section` or of (heading, markdown_body, figures[, fold]) tuples
    base : path, optional
        Folder the page is written to; absolute figure paths are made relative to it. Default: the folder above
        each figure's own (the page beside its ``figures/`` folder).

    Returns
    -------
    str
        A complete HTML document with no network references; figures by relative ``src``.
    """
    body = [f"<h1>{_html.escape(title)}</h1>"]
    for section in sections:
        if not isinstance(section, Section):
            heading, md, figs = section[:3]
            section = Section(heading, md, list(figs), fold=section[3] if len(section) > 3 else True)
        inner = []
        if section.md:
            inner.append(markdown_to_html(section.md, shift=1, fold=section.fold))
        if section.figures:
            inner.append('<div class="figs">')
            for path, caption in section.figures:
                wide = caption.startswith("wide:")
                caption = caption.removeprefix("wide:").strip()
                cls = ' class="wide"' if wide else ""
                inner.append(f'<figure{cls}><img alt="{_html.escape(caption)}" loading="lazy" '
                             f'src="{_html.escape(_src(path, base))}"><figcaption>{_inline(caption)}</figcaption>'
                             "</figure>")
            inner.append("</div>")
        if section.collapsed:
            body.append(f'<details class="sec"><summary>{_html.escape(section.heading)}</summary>')
            body += inner
            body.append("</details>")
        else:
            if section.heading:
                body.append(f"<h2>{_html.escape(section.heading)}</h2>")
            body += ['<div class="lead">', *inner, "</div>"] if section.lead else inner
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
