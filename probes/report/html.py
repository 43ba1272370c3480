"""The HTML renderer: one self-contained file from the same blocks as the Markdown (probes/report/render.py).

jinja2 with autoescape on, and every string handed to the template as plain data: nothing a section, a results file
or a GPU name contains can become markup. Figures are inlined as SVG data URIs; tables sort on a header click.
"""

from __future__ import annotations

import functools
import re

import jinja2

from probes.report import figures
from probes.report.render import Bullets, Code, Em, FigureRef, Grid, Heading, Image, Link, Strong, Text, inline, md_href

_ANCHOR = re.compile(r"[^a-z0-9]+")


def anchor(text: str) -> str:
    return _ANCHOR.sub("-", str(text).lower()).strip("-")


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("probes.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    return env.get_template("page.html.j2")


def _parts(parts) -> list[dict]:
    out = []
    for p in inline(parts):
        if isinstance(p, Code):
            out.append({"kind": "code", "text": p.text})
        elif isinstance(p, Em):
            out.append({"kind": "em", "text": p.text})
        elif isinstance(p, Strong):
            out.append({"kind": "strong", "text": p.text})
        elif isinstance(p, Link):
            out.append({"kind": "link", "text": p.text, "href": md_href(p.href)})
        elif isinstance(p, FigureRef):
            out.append({"kind": "link", "text": p.text, "href": "#fig-" + p.name})
        else:
            out.append({"kind": "plain", "text": str(p)})
    return out


def _block(b) -> dict:
    if isinstance(b, Heading):
        return {"kind": "heading", "level": b.level, "text": b.text, "anchor": b.anchor or anchor(b.text)}
    if isinstance(b, Text):
        return {"kind": "text", "parts": _parts(b.parts)}
    if isinstance(b, Bullets):
        return {"kind": "bullets", "entries": [_parts(i) for i in b.items]}
    if isinstance(b, Grid):
        return {
            "kind": "grid",
            "header": list(b.header),
            "caption": b.caption,
            "rows": [[_parts(c) for c in row] for row in b.rows],
        }
    if isinstance(b, Image):
        return {"kind": "image", "name": b.name, "caption": b.caption, "src": figures.svg_data_uri(b.svg)}
    raise TypeError(f"cannot render a {type(b).__name__} block")


def html(title: str, blocks) -> str:
    return _template().render(title=title, blocks=[_block(b) for b in blocks])
