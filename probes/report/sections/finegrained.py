"""Report section: fine-grained chase traces and stride sweep, and the cache geometry inferred from them.

Inference is probes.analysis.finegrained (hit/miss threshold, sector and line size, associativity, capacity,
replacement), done per cache level: traces whose footprint is near the L1 size go with the L1, the rest with the
L2. NVIDIA documents none of these per-level geometry facts for its recent GPUs, so every value is "undocumented".
"""

from __future__ import annotations

import math

import numpy as np

from probes.analysis import finegrained as fg
from probes.report.sections import Figure, Finding, Paragraph, Section, Table, latest_run
from probes.report.sections.ladder import fmt_bytes

FAMILY = "fine"
TITLE = "Fine-grained chase: line, sector, associativity, replacement"
PREFIXES = ("latency.fine.",)
ORDER = 15
ASSUMED_L1_BYTES = 256 * 1024


def _level_of(footprint: int, env: dict, sweep: bool) -> str:
    """'L1' or 'L2': a sweep beyond L2 probes the L2 (and DRAM); a chase near the L1 size probes the L1."""
    l1 = env.get("shared_memory_per_sm_bytes") or ASSUMED_L1_BYTES
    l2 = env.get("l2_cache_bytes") or 0
    if sweep:
        return "L2" if l2 and footprint >= 2 * l2 else "L1"
    return "L1" if not l2 or footprint <= math.sqrt(l1 * l2) else "L2"


def trace_figure(traces: list[fg.Trace], threshold: float | None) -> Figure:
    from probes.report.figures import TAB10, subplots

    shown = sorted(traces, key=lambda t: (t.footprint_bytes, t.stride_bytes))
    if len(shown) > 4:  # the footprints nearest each side of capacity tell the most
        shown = [shown[i] for i in np.linspace(0, len(shown) - 1, 4).round().astype(int)]
    fig, axes = subplots(
        len(shown) or 1, 1, figsize=(9, 1.8 * max(len(shown), 1) + 0.6), dpi=110, sharex=False, squeeze=False
    )
    for ax, t in zip(axes[:, 0], shown):
        for p in np.unique(t.pass_index):
            sel = t.pass_index == p
            ax.plot(np.flatnonzero(sel), t.latency[sel], ".", ms=2, color=TAB10[int(p) % len(TAB10)], label=f"pass {p}")
        if threshold is not None:
            ax.axhline(threshold, color="0.4", lw=0.8, ls="--", label="hit/miss threshold")
        ax.set_title(f"footprint {fmt_bytes(t.footprint_bytes)}, stride {t.stride_bytes} B", fontsize=8)
        ax.set_ylabel("cycles", fontsize=7)
        ax.legend(fontsize=6, loc="upper right", markerscale=3)
    axes[-1, 0].set_xlabel("recorded access (order of the walk)")
    fig.tight_layout()
    return Figure(
        "fine-trace",
        fig,
        "Latency of every recorded access of the fine-grained chase, coloured by walk "
        "over the footprint; later walks show which lines were evicted.",
    )


def stride_figure(curves: dict[int, list[tuple[int, float]]]) -> Figure:
    from probes.report.figures import subplots

    fig, ax = subplots(figsize=(9, 4.5), dpi=110)
    for footprint, pts in sorted(curves.items()):
        ax.plot([s for s, _ in pts], [m for _, m in pts], "o-", ms=3.5, label=f"footprint {fmt_bytes(footprint)}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("stride (bytes, log scale)")
    ax.set_ylabel("mean latency (cycles per access)")
    ax.set_title("first-touch latency vs stride")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return Figure(
        "fine-stride",
        fig,
        "Mean first-touch latency vs stride: it rises until every access misses; "
        "the stride where it levels off is the fetch (sector) granularity.",
    )


def section(docs: list[dict]) -> Section:
    import pandas as pd

    chase_doc, sweep_doc = latest_run(docs, "latency.fine.chase"), latest_run(docs, "latency.fine.stride")
    env = (chase_doc or sweep_doc or {}).get("environment", {})
    chase = fg.traces_from_doc(chase_doc) if chase_doc else []
    sweep = fg.traces_from_doc(sweep_doc) if sweep_doc else []
    files = tuple(d["_file"] for d in (chase_doc, sweep_doc) if d and d.get("_file"))
    blocks: list = [
        Paragraph(
            "One thread walks a fixed-stride chain and times every access on its own (Mei & Chu); accesses are split "
            "into hits and misses by one latency threshold per cache level, and the geometry follows from which "
            "accesses miss (method and limits: probes/analysis/finegrained.py). Unknown means the data do not decide."
        )
    ]
    rows, findings, threshold_any = [], [], None
    for level in ("L1", "L2"):
        c = [t for t in chase if _level_of(t.footprint_bytes, env, sweep=False) == level]
        s = [t for t in sweep if _level_of(t.footprint_bytes, env, sweep=True) == level]
        if not c and not s:
            continue
        result = fg.infer_all(c, s)
        threshold_any = threshold_any if threshold_any is not None else result["threshold"]
        rows.append(
            {
                "level": level,
                "quantity": "hit/miss threshold",
                "value": "unknown" if result["threshold"] is None else f"{result['threshold']:.1f}",
                "unit": "cycles",
                "evidence": result["threshold_evidence"],
            }
        )
        for inf in result["inferences"]:
            rows.append(
                {
                    "level": level,
                    "quantity": inf.quantity,
                    "value": "unknown" if not inf.known else str(inf.value),
                    "unit": inf.unit,
                    "evidence": inf.evidence,
                }
            )
            if inf.known and isinstance(inf.value, (int, float)):
                findings.append(
                    Finding(
                        FAMILY,
                        f"{level} {inf.quantity} (inferred)",
                        float(inf.value),
                        inf.unit,
                        "undocumented",
                        inf.evidence,
                        figure="fine-stride"
                        if inf.quantity == "sector size" and sweep
                        else "fine-trace"
                        if chase
                        else None,
                        data=files,
                    )
                )
    if chase:
        blocks.append(trace_figure(chase, threshold_any))
    if sweep:
        blocks.append(stride_figure(fg.mean_latency_by_stride(sweep)))
    blocks.append(
        Table(
            pd.DataFrame(rows, columns=["level", "quantity", "value", "unit", "evidence"]),
            caption="Inferred cache geometry, each value with the evidence it rests on",
        )
    )
    return Section(FAMILY, TITLE, blocks, findings)
