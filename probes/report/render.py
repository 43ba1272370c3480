"""The report's document model and its Markdown renderer. No CUDA, no markup from sections.

A page is a list of blocks (Heading, Text, Bullets, Grid, Image); inline content is a tuple of parts (plain str, Code,
Em, Strong, Link, FigureRef). Section blocks (Paragraph, Table, Figure from probes.report.sections) are converted to
these by `from_section_block`. Every plain string is escaped by the renderer that writes it: Markdown here,
HTML in probes/report/html.py.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import numpy as np


@dataclass(frozen=True)
class Code:
    text: str


@dataclass(frozen=True)
class Em:
    text: str


@dataclass(frozen=True)
class Strong:
    text: str


@dataclass(frozen=True)
class Link:
    """A link to a file of the report itself: relative paths only (the reports are read offline)."""

    text: str
    href: str

    def __post_init__(self):
        parts = urlsplit(self.href)
        if parts.scheme or parts.netloc or self.href.startswith(("/", "\\")) or ".." in self.href.split("/"):
            raise ValueError(f"link {self.href!r}: reports link only to their own files (relative path, no '..')")


@dataclass(frozen=True)
class FigureRef:
    """A link to a figure of the same page: the PNG file in Markdown, the inlined figure's anchor in HTML."""

    name: str
    text: str = "figure"


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str = ""


@dataclass(frozen=True)
class Text:
    parts: tuple


@dataclass(frozen=True)
class Bullets:
    items: tuple  # each an inline tuple of parts


@dataclass(frozen=True)
class Grid:
    header: tuple  # str per column
    rows: tuple  # tuple of cells; a cell is an inline tuple of parts
    caption: str = ""


@dataclass(frozen=True)
class Image:
    name: str  # file stem: <name>.png beside the Markdown
    svg: bytes
    caption: str = ""


def inline(x) -> tuple:
    """Normalise a str / part / tuple of parts to a tuple of parts."""
    if isinstance(x, tuple):
        return x
    return (x,)


def text_with_code(text: str) -> tuple:
    """A section Paragraph's text: `code` spans in backticks become Code parts, the rest stays plain."""
    pieces = str(text).split("`")
    if len(pieces) % 2 == 0:  # an unmatched backtick: keep everything plain
        return (str(text),)
    return tuple(Code(p) if i % 2 else p for i, p in enumerate(pieces) if p)


def fmt_number(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if x.is_integer() and abs(x) < 1e15:  # byte counts, clocks: every digit, no exponent
            return str(int(x))
        return f"{x:.0f}" if 1e4 <= abs(x) < 1e15 else f"{x:.4g}"
    return str(x)


def fmt_quantity(x, unit: str) -> str:
    """'value unit'; byte counts also in KiB/MiB/GiB (the exact count first, so a table still sorts by it)."""
    text = f"{fmt_number(x)} {unit}"
    if unit == "bytes" and isinstance(x, (int, float)) and abs(x) >= 1024:
        size, name = next((s, n) for s, n in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")) if abs(x) >= s)
        text += f" ({x / size:.4g} {name})"
    return text


def cell(x) -> tuple:
    """A table cell from a DataFrame value: numbers formatted, None/NaN as '–', parts kept."""
    if isinstance(x, (tuple, Code, Em, Strong, Link, FigureRef)):
        return inline(x)
    try:
        if x is not None and not isinstance(x, str) and np.ndim(x) == 0 and np.isnan(x):
            return ("–",)
    except TypeError:
        pass
    return (fmt_number(x),)


def grid_from_frame(frame, caption: str = "") -> Grid:
    """A pandas DataFrame (column names carry units) as a Grid; the index is dropped unless it is named."""
    if frame.index.name is not None or any(n is not None for n in getattr(frame.index, "names", ())):
        frame = frame.reset_index()
    header = tuple(str(c) for c in frame.columns)
    rows = tuple(tuple(cell(v) for v in row) for row in frame.itertuples(index=False, name=None))
    return Grid(header, rows, caption)


# ---- Markdown -------------------------------------------------------------------------------------------------

_ENTITY = re.compile(r"&(?=[#A-Za-z])")
_LINKISH = re.compile(r"\]([(\[:])")


def md_escape(text: str, table: bool = False) -> str:
    """Plain text for Markdown: no raw HTML, no link or code syntax; `|` too inside tables."""
    s = str(text).replace("\\", "\\\\")
    s = _ENTITY.sub("&amp;", s).replace("<", "&lt;")  # '<' opens raw HTML; a lone '>' is harmless mid-line
    s = re.sub(r"(^|\n)>", r"\1&gt;", s)
    s = _LINKISH.sub(r"]\\\1", s).replace("`", "\\`")  # '[a](b)', '[a][b]', '[a]: b' stay text; 'x [unit]' reads as is
    if table:
        s = s.replace("|", "\\|")
    return " ".join(s.splitlines()) if table else s


def md_href(href: str) -> str:
    return quote(href, safe="/#._-~")


def md_inline(parts, table: bool = False) -> str:
    out = []
    for p in inline(parts):
        if isinstance(p, Code):
            body = " ".join(str(p.text).splitlines()).replace("`", "'")
            out.append(f"`{body.replace('|', chr(92) + '|') if table else body}`")
        elif isinstance(p, Em):
            out.append(f"*{md_escape(p.text, table)}*")
        elif isinstance(p, Strong):
            out.append(f"**{md_escape(p.text, table)}**")
        elif isinstance(p, Link):
            out.append(f"[{md_escape(p.text, table)}]({md_href(p.href)})")
        elif isinstance(p, FigureRef):
            out.append(f"[{md_escape(p.text, table)}]({md_href(p.name + '.png')})")
        else:
            out.append(md_escape(p, table))
    return "".join(out)


def md_block(block) -> str:
    if isinstance(block, Heading):
        return "#" * block.level + " " + md_escape(block.text)
    if isinstance(block, Text):
        return md_inline(block.parts)
    if isinstance(block, Bullets):
        return "\n".join("- " + md_inline(item) for item in block.items)
    if isinstance(block, Grid):
        lines = [md_inline(Em(block.caption)), ""] if block.caption else []
        lines.append("| " + " | ".join(md_escape(h, table=True) for h in block.header) + " |")
        lines.append("|" + "---|" * len(block.header))
        lines += ["| " + " | ".join(md_inline(c, table=True) for c in row) + " |" for row in block.rows]
        return "\n".join(lines)
    if isinstance(block, Image):
        alt = md_escape(block.caption or block.name)
        img = f"![{alt}]({md_href(block.name + '.png')})"
        return img + ("\n\n" + md_inline(Em(block.caption)) if block.caption else "")
    raise TypeError(f"cannot render a {type(block).__name__} block")


def markdown(blocks) -> str:
    return "\n\n".join(md_block(b) for b in blocks) + "\n"
