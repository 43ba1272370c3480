"""Report section: TLB ladder (page-stride chase), its TLB levels' reach and miss cost. Stored results only.

Levels come from probes.analysis.tlb.analyse_tlb (change-point plateaus with bootstrap CIs); reach is a footprint
interval, also given in pages of the chase stride; miss cost is the latency step to the next plateau. NVIDIA does
not document TLB sizes or miss costs, so every value here is labelled "undocumented".
"""

from __future__ import annotations

import math

from probes.analysis.tlb import NO_TRANSITION, TlbAnalysis, analyse_tlb
from probes.report.sections import Figure, Finding, Paragraph, Section, Table
from probes.report.sections.ladder import fmt_bytes, footprint_axis, ladder_points, latest_by_name

FAMILY = "tlb"
TITLE = "TLB reach and miss cost"
PREFIXES = ("latency.tlb",)
ORDER = 20
DEFAULT_STRIDE = 2 * 2**20


def _stride(doc: dict) -> int:
    return int((doc["probe"].get("params") or {}).get("stride_bytes") or DEFAULT_STRIDE)


def tlb_figure(runs) -> Figure:
    from probes.report.figures import TAB10, subplots

    fig, ax = subplots(figsize=(9, 5), dpi=110)
    for k, (name, _doc, pts, res) in enumerate(runs):
        c = TAB10[k % len(TAB10)]
        ax.plot(
            [p["footprint"] for p in pts],
            [p["cycles"] for p in pts],
            "o-",
            ms=3,
            lw=0.8,
            color=c,
            label=f"{name}, stride {fmt_bytes(res.stride_bytes)}",
        )
        for lv in res.levels:
            if lv.reach_bytes_low is not None:
                ax.axvspan(lv.reach_bytes_low, lv.reach_bytes_high, color=c, alpha=0.15, lw=0)
                ax.annotate(
                    f"{lv.name} reach {fmt_bytes(lv.reach_bytes_low)} – {fmt_bytes(lv.reach_bytes_high)}"
                    f"\nmiss +{lv.miss_cost_cycles:.0f} cycles",
                    (math.sqrt(lv.reach_bytes_low * lv.reach_bytes_high), lv.latency_cycles),
                    xytext=(3, 6),
                    textcoords="offset points",
                    fontsize=6,
                    color=c,
                )
            ax.axhline(lv.latency_cycles, color=c, lw=0.6, ls=":")
    footprint_axis(ax, "footprint (bytes, log scale; one load per page)")
    ax.set_ylabel("latency (cycles per load)")
    ax.set_title("TLB ladder")
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return Figure(
        "tlb-ladder",
        fig,
        "Page-stride chase: median cycles per load vs footprint; shaded: each TLB level's reach interval.",
    )


def tlb_table(runs) -> Table:
    import pandas as pd

    rows = []
    for name, _doc, _pts, res in runs:
        for lv in res.levels:
            reach = (
                "–"
                if lv.reach_bytes_low is None
                else f"{fmt_bytes(lv.reach_bytes_low)} – {fmt_bytes(lv.reach_bytes_high)}"
            )
            if lv.transition == "gradual":
                reach += f" (gradual: next plateau reached by {fmt_bytes(lv.next_reached_bytes)})"
            elif lv.transition == "ramp":
                reach = "ramp, no level"
            pages = "–" if lv.reach_pages_low is None else f"{lv.reach_pages_low:.0f} – {lv.reach_pages_high:.0f}"
            cost = (
                "–"
                if lv.miss_cost_cycles is None
                else f"{lv.miss_cost_cycles:.1f} [{lv.miss_cost_low:.1f}, {lv.miss_cost_high:.1f}]"
            )
            rows.append(
                {
                    "probe": name,
                    "level (inferred)": lv.name,
                    "latency [cycles]": round(lv.latency_cycles, 1),
                    "95 % CI [cycles]": f"{lv.latency_ci_low:.1f} – {lv.latency_ci_high:.1f}",
                    "reach [bytes]": reach,
                    "reach [pages]": pages,
                    "miss cost [cycles]": cost,
                }
            )
    return Table(
        pd.DataFrame(rows),
        caption="Plateaus of the page-stride ladder: reach = footprint interval where "
        "latency leaves the plateau; miss cost = step to the next plateau",
    )


def findings_of(runs) -> list[Finding]:
    out = []
    for _name, doc, _pts, res in runs:
        for lv in res.levels:
            if lv.reach_bytes_low is None:
                continue
            out.append(
                Finding(
                    FAMILY,
                    f"{lv.name} reach ({fmt_bytes(res.stride_bytes)} stride)",
                    math.sqrt(lv.reach_bytes_low * lv.reach_bytes_high),
                    "bytes",
                    "undocumented",
                    f"Latency leaves the {lv.latency_cycles:.0f}-cycle plateau between {fmt_bytes(lv.reach_bytes_low)} "
                    f"({lv.reach_pages_low:.0f} pages) and {fmt_bytes(lv.reach_bytes_high)} "
                    f"({lv.reach_pages_high:.0f} pages) of footprint, one load per page.",
                    ci=(lv.reach_bytes_low, lv.reach_bytes_high),
                    figure="tlb-ladder",
                    data=(doc["_file"],),
                )
            )
            out.append(
                Finding(
                    FAMILY,
                    f"{lv.name} miss cost ({fmt_bytes(res.stride_bytes)} stride)",
                    lv.miss_cost_cycles,
                    "cycles",
                    "undocumented",
                    "Latency step from this plateau to the next one; interval from both plateaus' CIs.",
                    ci=(lv.miss_cost_low, lv.miss_cost_high),
                    figure="tlb-ladder",
                    data=(doc["_file"],),
                )
            )
    return out


def section(docs: list[dict]) -> Section:
    runs = []
    for name, doc in latest_by_name(docs).items():
        pts = ladder_points(doc)
        res: TlbAnalysis = analyse_tlb([p["footprint"] for p in pts], [p["cycles"] for p in pts], _stride(doc))
        runs.append((name, doc, pts, res))
    blocks: list = [
        Paragraph(
            "One thread chases one 8-byte slot per page (stride = the probe's `stride_bytes`) in random order, so the "
            "data stays cached while every load needs a translation; latency steps are TLB misses. Reach and miss cost "
            "come from change-point plateaus (probes/analysis/tlb.py); level names are an order, not an identification."
        )
    ]
    blocks.append(tlb_figure(runs))
    blocks.append(tlb_table(runs))
    for name, _doc, pts, res in runs:
        if res.verdict == NO_TRANSITION:
            blocks.append(
                Paragraph(
                    f"{name}: {NO_TRANSITION} between {fmt_bytes(pts[0]['footprint'])} and "
                    f"{fmt_bytes(pts[-1]['footprint'])}: every footprint swept is served at one "
                    "latency, so no TLB reach is measured here."
                )
            )
        elif not res.levels:
            blocks.append(Paragraph(f"{name}: no plateau detected (too few points or too noisy); no TLB value."))
    return Section(FAMILY, TITLE, blocks, findings_of(runs))
