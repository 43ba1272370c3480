"""Figures to bytes, reproducibly: PNG for the Markdown report, SVG for the HTML one. No CUDA.

Same figure in -> same bytes out (for a given matplotlib version): Agg backend, no date/software metadata, a fixed
SVG hash salt (clip-path ids), text as paths (no font lookup at view time). The figure is closed afterwards, so a
report over many GPUs does not accumulate open figures.
"""

from __future__ import annotations

import base64
import io
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure as MplFigure  # noqa: E402

_RC = {"svg.hashsalt": "gpu-probes", "svg.fonttype": "path", "savefig.dpi": 100}
_PNG_META = {"Software": None}
_SVG_META = {"Date": None, "Creator": None, "Format": None, "Type": None}
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,80}")
TAB10 = plt.get_cmap("tab10").colors  # one colour per overlaid run


def subplots(*args, **kwargs):
    """A new figure for a section to draw on (pyplot on the Agg backend, chosen here once for every section)."""
    return plt.subplots(*args, **kwargs)


def style():
    """One look for every report figure (seaborn's whitegrid at paper scale), applied while a section draws."""
    import seaborn as sns

    rc = {**sns.axes_style("whitegrid"), **sns.plotting_context("paper", font_scale=1.1)}
    return matplotlib.rc_context(rc)


def check_name(name: str) -> str:
    """Figure names become file names: lower-case letters, digits, '.', '_', '-' only."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"figure name {name!r} is not a safe file stem (use lower-case letters, digits, . _ -)")
    return name


def render(fig) -> tuple[bytes, bytes]:
    """(PNG bytes, SVG bytes) of a matplotlib figure, then close it."""
    if not isinstance(fig, MplFigure):
        raise ValueError(f"a Figure block must hold a matplotlib Figure, not {type(fig).__name__}")
    try:
        with matplotlib.rc_context(_RC):
            png, svg = io.BytesIO(), io.BytesIO()
            fig.savefig(png, format="png", metadata=_PNG_META)
            fig.savefig(svg, format="svg", metadata=_SVG_META)
    finally:
        plt.close(fig)
    return png.getvalue(), svg.getvalue()


def svg_data_uri(svg: bytes) -> str:
    """An <img> source that keeps the HTML one self-contained file; as an image, the SVG can run no script."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
