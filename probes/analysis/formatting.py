"""Small output helpers shared by the analyze commands and the validation reports: JSON-safe documents, byte sizes,
Markdown tables, file-name slugs. No CUDA, no pandas."""

from __future__ import annotations

import math

SIZES = (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def json_safe(obj):
    """A document for json.dumps: numpy scalars to Python, NaN and infinities to None, keys starting with "_"
    (frames and objects kept for plots) dropped, tuples to lists."""
    import numpy as np

    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items() if not k.startswith("_")}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if not np.isfinite(obj) else float(obj)
    return obj


def fmt_bytes(b, none: str = "-") -> str:
    """1.5 MiB, 216.6 KiB, 512 B (one decimal); `none` for None or NaN."""
    if b is None or (isinstance(b, float) and not math.isfinite(b)):
        return none
    for unit, size in SIZES:
        if b >= size:
            return f"{b / size:.1f} {unit}"
    return f"{b:.0f} B"


def md_table(rows: list[dict], cols: list[str]) -> str:
    """A Markdown table of `cols` (missing cells empty, "|" inside a cell written "/")."""
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(str(r.get(c, "")).replace("|", "/") for c in cols) + " |" for r in rows]
    return "\n".join(out)


def slug(gpu: str) -> str:
    """A file-name part from a GPU name: lower case, each other character a dash ("H200 (TMA 1D)": "h200--tma-1d")."""
    return "".join(ch if ch.isalnum() else "-" for ch in gpu.lower()).strip("-")


def analysis_document(provenance: dict, method: dict, ladders: list[dict], **fields) -> dict:
    """The document `analyze ladder|bandwidth --json` prints: tool, version, input, `fields` (unit or kind), method,
    one entry per ladder, and, for a single ladder, its gpu and levels at the top."""
    import probes

    doc = {
        "tool": "gpu-probes",
        "tool_version": probes.__version__,
        "input": provenance,
        **fields,
        "method": method,
        "ladders": ladders,
    }
    if len(ladders) == 1:
        doc["gpu"], doc["levels"] = ladders[0]["gpu"], ladders[0]["levels"]
    return doc
