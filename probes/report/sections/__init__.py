"""Report sections, one module per probe family: stored results in, findings and renderable blocks out. No CUDA.

A family module here defines
    FAMILY = "instructions"                 # short stable id, used for anchors and file names
    TITLE = "Instruction latency and throughput"
    PREFIXES = ("instructions.",)           # probe names whose stored results the section reads
    ORDER = 30                              # position in the per-GPU report (ladder 10, tlb 20, ...)
    def section(docs: list[dict]) -> Section
and is discovered automatically. `docs` are validated result documents (probes/results/schema.py) of one GPU whose
probe name starts with one of PREFIXES; each carries `_file`, its path relative to the report folder (for
evidence links). The report builder renders the blocks to Markdown (figures as PNG beside it) and to one
self-contained HTML file (figures as inline SVG), escaping every string itself: a section never writes markup.
A family with no stored results gets a "not measured on this GPU" section from the builder, without being called.
Only documents with at least one point are passed (a skipped or crashed run is listed under "not measured", with
its reason). Optionally, for the cross-GPU comparison (reports/README.md):
    def compare(docs_by_gpu: dict[str, list[dict]]) -> list      # Paragraph | Table | Figure blocks
keyed by GPU folder name (reports/<gpu>/), in folder order, only GPUs with points for the family; called only when
at least one GPU has them. Findings of every GPU are tabulated side by side by (family, title) without this hook.
The builder checks what a section returns and refuses, in one line naming the section: a finding whose `data` is
not a file under the report folder, or whose `figure` names no Figure block of the section; a Figure name that is
not a safe file stem ([a-z0-9][a-z0-9._-]*) or is used twice in one report. A finding with empty `data` links to
every results file its section was given.

Data flows one way: results -> probes.analysis.* -> Section (findings + blocks) -> probes.report.build.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any

from probes import verdicts as V

LABELS = (V.UNDOCUMENTED, V.DOCUMENTED_DIFFERS, V.DOCUMENTED_MATCHES)  # a finding's label: from the vocabulary


@dataclass(frozen=True)
class Finding:
    """One number the documentation does not give us (or gives differently), with its evidence."""

    family: str
    title: str  # one line, e.g. "MUFU.RSQ latency"
    value: float
    unit: str
    label: str  # one of LABELS
    evidence: str  # one sentence: how we know
    ci: tuple[float, float] | None = None
    surprise: float = 0.0  # ordering key, larger first: e.g. |measured/documented - 1|, or effect size
    figure: str | None = None  # a Figure block's name in the same section
    data: tuple[str, ...] = ()  # raw data files, relative to the report folder (the docs' `_file`)
    documented: str | None = None  # the documented value and its source, when there is one

    def __post_init__(self):
        if self.label not in LABELS:
            raise ValueError(f"finding {self.title!r}: label {self.label!r} not in {LABELS}")


@dataclass(frozen=True)
class Paragraph:
    text: str  # plain text; `code` spans in backticks are kept as code


@dataclass(frozen=True)
class Table:
    frame: Any  # pandas.DataFrame; column names carry units, e.g. "latency [cycles]"
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    name: str  # file stem, unique within the report: "<family>-<what>"
    figure: Any  # matplotlib Figure; the builder saves PNG/SVG with fixed metadata, then closes it
    caption: str = ""


@dataclass
class Section:
    family: str
    title: str
    blocks: list = field(default_factory=list)  # Paragraph | Table | Figure, in order
    findings: list[Finding] = field(default_factory=list)


@functools.cache
def families() -> tuple:
    """Every section module, in report order."""
    mods = [
        importlib.import_module(f"{__name__}.{m.name}")
        for m in pkgutil.iter_modules(__path__)
        if not m.name.startswith("_")
    ]
    mods = [m for m in mods if hasattr(m, "section") and hasattr(m, "PREFIXES")]
    return tuple(sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.FAMILY)))


def docs_for(module, docs: list[dict]) -> list[dict]:
    return [d for d in docs if d["probe"]["name"].startswith(tuple(module.PREFIXES))]


def latest_run(docs: list[dict], name: str) -> dict | None:
    """The last-started run of probe `name` that has points, or None."""
    runs = [d for d in docs if d["probe"]["name"] == name and d.get("points")]
    return max(runs, key=lambda d: d.get("started_at") or "") if runs else None
