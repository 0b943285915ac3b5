"""Stand-alone HTML pages of the workflow's Markdown and YAML outputs, for ``snakemake --report``.

Snakemake's report shows images, HTML and PDF results in the page and offers other files as
downloads only, so the score report (results/scores/scores.md, Table 1 first), the dataset
report and the run's configuration are also written as small HTML pages. The Markdown they hold
is the workflow's own (``#`` headings, paragraphs, pipe tables, ``code`` and ``**bold**``): this
module renders exactly that, escaping everything else, with no third-party Markdown package.
"""

from __future__ import annotations

import html
import re

STYLE = (
    "body{font-family:sans-serif;font-size:14px;margin:1em;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0 1.2em}"
    "th,td{border:1px solid #bbb;padding:2px 6px;text-align:left}"
    "th{background:#eee}td.num{text-align:right;font-variant-numeric:tabular-nums}"
    "code,pre{background:#f4f4f4}pre{padding:0.6em;overflow:auto}"
)
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _inline(text: str) -> str:
    """Escaped text with ``code`` and **bold** spans."""
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for part in parts:
        if len(part) >= 2 and part.startswith("`") and part.endswith("`"):
            out.append(f"<code>{html.escape(part[1:-1])}</code>")
        else:
            out.append(re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", html.escape(part)))
    return "".join(out)


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table(lines: list[str]) -> str:
    head, body = _cells(lines[0]), [_cells(l) for l in lines[2:]]
    rows = ["<tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr>"]
    for cells in body:
        rows.append("<tr>" + "".join(
            f'<td class="num">{_inline(c)}</td>' if _NUMBER.match(c) else f"<td>{_inline(c)}</td>"
            for c in cells) + "</tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def markdown_html(text: str) -> str:
    """The HTML body of the workflow's Markdown (headings, paragraphs, pipe tables)."""
    blocks, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
        elif line.lstrip().startswith("|"):
            j = i
            while j < len(lines) and lines[j].lstrip().startswith("|"):
                j += 1
            table = lines[i:j]
            if len(table) >= 2 and set(table[1].replace("|", "").strip()) <= set("-: "):
                blocks.append(_table(table))
            else:  # not a table after all: its lines as a paragraph
                blocks.append("<p>" + _inline(" ".join(table)) + "</p>")
            i = j
        elif m := re.match(r"^(#{1,6})\s+(.*)$", line):
            level = len(m.group(1))
            blocks.append(f"<h{level}>{_inline(m.group(2).strip())}</h{level}>")
            i += 1
        else:
            j = i
            while j < len(lines) and lines[j].strip() and not lines[j].lstrip().startswith(
                    ("|", "#")):
                j += 1
            blocks.append("<p>" + _inline(" ".join(l.strip() for l in lines[i:j])) + "</p>")
            i = j
    return "\n".join(blocks)


def page(title: str, body: str) -> str:
    """A complete HTML page around ``body``."""
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def markdown_page(title: str, text: str) -> str:
    return page(title, markdown_html(text))


def text_page(title: str, text: str) -> str:
    """A page showing ``text`` (e.g. YAML) as it is, under a heading."""
    return page(title, f"<h1>{html.escape(title)}</h1>\n<pre>{html.escape(text)}</pre>")
