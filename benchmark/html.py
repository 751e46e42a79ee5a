"""A single HTML page for a report: tables inline, figures embedded as base64 data URIs or linked beside it.

The page loads nothing from the network (no scripts, fonts or external images), so it can be opened offline or
rendered by a headless browser; with embedded figures it is one self-contained file (e.g. to attach to an e-mail).
"""

from __future__ import annotations

import base64
import html as _html
import os
import re
from pathlib import Path

__all__ = ["img_data_uri", "markdown_table_to_html", "markdown_to_html", "render_page"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'DejaVu Sans',sans-serif;max-width:1360px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{border-bottom:2px solid #444}h2{border-bottom:1px solid #bbb;margin-top:2em}
table{border-collapse:collapse;margin:0.8em 0;font-size:0.85em}
th,td{border:1px solid #ccc;padding:3px 5px;text-align:right;white-space:nowrap}
th{background:#f0f0f0;white-space:normal}
td:first-child,th:first-child{text-align:left;white-space:normal;min-width:12em;max-width:22em}
.tw{overflow-x:auto;max-width:100%}
td.long{white-space:normal;overflow-wrap:anywhere;text-align:left;min-width:16em;max-width:40em}
tr.published td{color:#777;font-style:italic;background:#fafafa;white-space:normal}
.figs{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}
figure{margin:0.5em 0;flex:0 1 calc(50% - 0.5em);min-width:min(520px,100%);max-width:100%}figure img{width:100%;border:1px solid #ddd}
figure.wide{flex-basis:100%}figure.wide img{width:auto;max-width:100%}
figcaption{font-size:0.9em;color:#555}
code,pre{background:#f5f5f5;padding:1px 4px}pre{padding:8px;overflow-x:auto;font-size:0.85em}
.note{color:#555;font-size:0.9em}summary{cursor:pointer;color:#245;margin:0.5em 0}
"""


def img_data_uri(path: str | Path) -> str:
    """``data:image/png;base64,...`` (or svg+xml) URI of an image file."""
    p = Path(path)
    mime = {".png": "image/png", ".svg": "image/svg+xml"}.get(p.suffix.lower())
    if mime is None:
        raise ValueError(f"cannot embed {p}: only .png and .svg are supported")
    return f"data:{mime};base64," + base64.b64encode(p.read_bytes()).decode("ascii")


def _img_src(path: str | Path, link_from: str | Path | None) -> str:
    if link_from is None:
        return img_data_uri(path)
    return _html.escape(Path(os.path.relpath(Path(path).resolve(), Path(link_from).resolve())).as_posix())


def _inline(text: str) -> str:
    t = _html.escape(text)
    t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
    t = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)
    t = re.sub(r"(?<![\w*])\*([^*]+)\*(?![\w*])", r"<i>\1</i>", t)
    return t


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
    def cells(line: str) -> list[str]:
        return [c.strip() for c in line.strip().strip("|").split("|")]

    head, body = cells(lines[0]), [cells(x) for x in lines[2:]]
    out = ['<div class="tw"><table>', "<tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>"]
    for row, raw in zip(body, lines[2:]):
        cls = ' class="published"' if "published, orientation only" in raw else ""
        tds = ("<td class=\"long\">" if len(c) > LONG_CELL else "<td>" for c in row)
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


def render_page(title: str, sections: list[tuple[str, str, list[tuple[Path, str]]]],
                link_from: str | Path | None = None) -> str:
    """The whole page.

    Parameters
    ----------
    title : str
    sections : list of (heading, markdown_body, figures) or (heading, markdown_body, figures, fold)
        ``figures`` is a list of (PNG path, caption); each is embedded as a data URI (or linked, see
        ``link_from``), two per row on wide screens (a caption starting with "wide:" takes the full row, e.g. diagrams with text that must stay
        legible).  Headings in the body are demoted one
        level below the section heading.
    link_from : path or None, default None
        The folder the page is written to: figures are then referenced by their path relative to it (the page is
        small, and needs its figure files beside it) instead of embedded.

    Returns
    -------
    str
        A complete HTML document; without ``link_from`` it has no external references.
    """
    body = [f"<h1>{_html.escape(title)}</h1>"]
    for section in sections:
        heading, md, figs = section[:3]
        fold = section[3] if len(section) > 3 else True
        body.append(f"<h2>{_html.escape(heading)}</h2>")
        if md:
            body.append(markdown_to_html(md, shift=1, fold=fold))
        if figs:
            body.append('<div class="figs">')
            for path, caption in figs:
                wide = caption.startswith("wide:")
                caption = caption.removeprefix("wide:").strip()
                cls = ' class="wide"' if wide else ""
                body.append(f'<figure{cls}><img alt="{_html.escape(caption)}" '
                            f'src="{_img_src(path, link_from)}"><figcaption>{_inline(caption)}</figcaption></figure>')
            body.append("</div>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
