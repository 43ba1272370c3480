"""Report section: the bandwidth family (ladders vs working set, occupancy and Little's law, shared memory, L2
near/far bandwidth), with the documented peak HBM bandwidth beside the DRAM plateau. Reads stored results only.

Levels come from probes.analysis.bandwidth (names inferred from their order, not measured). The default global
latency ladder, when stored, is overlaid on the bandwidth ladder figure on the same footprint axis (right axis).
The DRAM plateau is compared with 2 x memory clock x bus width / 8 from the driver: *documented & matches* when its
CI reaches 90 % of it. Every other value is *undocumented* (NVIDIA documents peaks only).
"""

from __future__ import annotations

import math

from probes import verdicts as V
from probes.analysis import bandwidth as bw
from probes.report.sections import Figure, Finding, Paragraph, Section, Table, latest_run
from probes.report.sections.ladder import fmt_bytes, footprint_axis

FAMILY = "bandwidth"
TITLE = "Memory bandwidth"
PREFIXES = ("bandwidth.", "latency.ladder.global")
ORDER = 15
LADDERS = ("bandwidth.ladder", "bandwidth.ladder.own")
LABEL = {"bandwidth.ladder": "shared chunks", "bandwidth.ladder.own": "own region per block"}


def analyse_ladders(docs) -> list[tuple[str, str, dict, list[dict], list]]:
    """(probe, op, doc, points, levels) per stored ladder and op."""
    out = []
    for name in LADDERS:
        doc = latest_run(docs, name)
        if doc is None:
            continue
        rows = bw.point_rows(doc, "working_set_bytes")
        for op in sorted({r.get("op", "read") for r in rows}):
            pts = [r for r in rows if r.get("op", "read") == op]
            levels = bw.detect_levels([p["working_set_bytes"] for p in pts], [p["median"] for p in pts])
            out.append((name, op, doc, pts, levels))
    return out


def _latency_overlay(ax, docs) -> bool:
    doc = latest_run(docs, "latency.ladder.global")
    pts = sorted(
        (p["axes"]["footprint_bytes"], p["summary"]["median"])
        for p in (doc or {}).get("points", [])
        if "footprint_bytes" in p.get("axes", {}) and (p.get("summary") or {}).get("median")
    )
    if not pts:
        return False
    twin = ax.twinx()
    twin.plot([p[0] for p in pts], [p[1] for p in pts], "--", color="0.4", lw=1, label="latency ladder (right)")
    twin.set_yscale("log")
    twin.set_ylabel("latency (cycles per load, log scale)")
    twin.legend(loc="lower left", fontsize=7)
    twin.grid(False)
    return True


def ladder_figure(analysed, docs) -> Figure:
    from probes.report.figures import TAB10, subplots

    fig, ax = subplots(figsize=(9, 5), dpi=110)
    for k, (name, op, _doc, pts, levels) in enumerate(analysed):
        c = TAB10[k % len(TAB10)]
        x = [p["working_set_bytes"] for p in pts]
        y = [p["median"] for p in pts]
        lo = [p["median"] - (p["ci_low"] if p["ci_low"] is not None else p["median"]) for p in pts]
        hi = [(p["ci_high"] if p["ci_high"] is not None else p["median"]) - p["median"] for p in pts]
        ax.errorbar(x, y, yerr=[lo, hi], fmt="o-", ms=3, lw=0.8, color=c, label=f"{LABEL[name]}, {op}")
        for lv in levels:
            ax.hlines(lv.bandwidth_GBps, lv.plateau_bytes_low, lv.plateau_bytes_high, colors=[c], lw=2.5)
            if lv.end_bytes_low is not None:
                ax.axvspan(lv.end_bytes_low, lv.end_bytes_high, color=c, alpha=0.10, lw=0)
    footprint_axis(ax, "working set / footprint (bytes, log scale)")
    ax.set_ylabel("bandwidth (GB/s)")
    ax.set_ylim(bottom=0)
    ax.set_title("Bandwidth vs working set (16-byte accesses, all SMs)")
    ax.legend(loc="upper right", fontsize=7)
    overlay = _latency_overlay(ax, docs)
    fig.tight_layout()
    return Figure(
        "bandwidth-ladder",
        fig,
        "Medians with 95 % CIs from repeated launches, plateaus (thick), where "
        "each level ends (shaded)"
        + ("; dashed: the global latency ladder on the same footprint axis" if overlay else ""),
    )


def ladder_table_and_findings(analysed) -> tuple[Table, list[Finding]]:
    import pandas as pd

    rows, findings = [], []
    for name, op, doc, pts, levels in analysed:
        peak = bw.doc_peak(doc)
        files = (doc["_file"],) if doc.get("_file") else ()
        for lv in levels:
            per_clk = [
                p["bytes_per_clk_per_sm"]
                for p in pts
                if p["bytes_per_clk_per_sm"] is not None
                and lv.plateau_bytes_low <= p["working_set_bytes"] <= lv.plateau_bytes_high
            ]
            bpc = sorted(per_clk)[len(per_clk) // 2] if per_clk else None
            rows.append(
                {
                    "ladder": LABEL[name],
                    "op": op,
                    "level (inferred)": lv.name,
                    "bandwidth [GB/s]": round(lv.bandwidth_GBps, 1),
                    "95 % CI [GB/s]": f"{lv.bandwidth_ci_low:.1f} – {lv.bandwidth_ci_high:.1f}",
                    "bytes/clk/SM": None if bpc is None else round(bpc, 2),
                    "% of documented HBM peak": round(100 * lv.bandwidth_GBps / peak, 1)
                    if peak and lv.name == "DRAM"
                    else None,
                    "ends between": "–"
                    if lv.end_bytes_low is None
                    else f"{fmt_bytes(lv.end_bytes_low)} – {fmt_bytes(lv.end_bytes_high)}",
                    "points": lv.n_points,
                }
            )
            evidence = (
                f"Median of {lv.n_points} plateau points from {fmt_bytes(lv.plateau_bytes_low)} to "
                f"{fmt_bytes(lv.plateau_bytes_high)} of working set, {op}, {LABEL[name]}"
            )
            if lv.name == "DRAM" and name == "bandwidth.ladder":
                label, why = bw.peak_verdict(lv, peak)
                if label != V.INCONCLUSIVE:
                    findings.append(
                        Finding(
                            FAMILY,
                            f"HBM {op} bandwidth vs documented peak",
                            lv.bandwidth_GBps,
                            "GB/s",
                            label,
                            f"{evidence}; {why}.",
                            ci=(lv.bandwidth_ci_low, lv.bandwidth_ci_high),
                            surprise=abs(lv.bandwidth_GBps / peak - 1),
                            figure="bandwidth-ladder",
                            data=files,
                            documented=f"{peak:.1f} GB/s: {bw.PEAK_SOURCE}",
                        )
                    )
                    continue
            findings.append(
                Finding(
                    FAMILY,
                    f"{lv.name} {op} bandwidth, {LABEL[name]}",
                    lv.bandwidth_GBps,
                    "GB/s",
                    "undocumented",
                    evidence + ".",
                    ci=(lv.bandwidth_ci_low, lv.bandwidth_ci_high),
                    figure="bandwidth-ladder",
                    data=files,
                )
            )
        if not levels:
            rows.append(
                {"ladder": LABEL[name], "op": op, "level (inferred)": "no plateau detected", "points": len(pts)}
            )
    return Table(
        pd.DataFrame(rows),
        caption="Plateaus found by change-point detection on bandwidth vs working "
        "set; 'ends between' = the working-set bracket where it drops",
    ), findings


def occupancy_blocks(docs) -> tuple[list, list[Finding]]:
    import pandas as pd

    from probes.report.figures import TAB10, subplots

    doc = latest_run(docs, "bandwidth.occupancy")
    if doc is None:
        return [], []
    all_rows = [r for r in bw.point_rows(doc, "warps_per_sm") if r.get("bytes_in_flight_per_sm")]
    # a point whose blocks did not all run at once did not have the occupancy it claims: left out of Little's law
    rows = [r for r in all_rows if r.get("co_resident") is None or r["co_resident"] >= 0.5]
    if not rows:
        return [], []
    sms = int((doc.get("environment") or {}).get("sm_count") or 0)
    fig, ax = subplots(figsize=(9, 4.5), dpi=110)
    table, findings = [], []
    files = (doc["_file"],) if doc.get("_file") else ()
    for k, op in enumerate(sorted({r["op"] for r in rows})):
        pts = sorted((r for r in rows if r["op"] == op), key=lambda r: r["bytes_in_flight_per_sm"])
        ax.plot(
            [p["bytes_in_flight_per_sm"] for p in pts],
            [p["median"] for p in pts],
            "o",
            ms=3,
            color=TAB10[k % len(TAB10)],
            label=op,
        )
        res = bw.littles_law([p["bytes_in_flight_per_sm"] for p in pts], [p["median"] for p in pts], sms)
        table.append(
            {
                "op": op,
                "plateau [GB/s]": round(res.plateau_GBps, 1),
                "90 % of plateau [GB/s]": round(res.target_GBps, 1),
                "bytes in flight per SM for 90 %": round(res.bytes_in_flight_per_sm),
                "between measured": "–"
                if res.bracket is None
                else f"{fmt_bytes(res.bracket[0])} – {fmt_bytes(res.bracket[1])}",
                "implied latency [ns] (Little)": None
                if res.implied_latency_ns is None
                else round(res.implied_latency_ns, 1),
            }
        )
        findings.append(
            Finding(
                FAMILY,
                f"bytes in flight per SM for 90 % of HBM {op} bandwidth",
                res.bytes_in_flight_per_sm,
                "bytes",
                "undocumented",
                f"Smallest bytes in flight per SM (warps x 16 B x accesses in flight) whose median "
                f"bandwidth reaches 90 % of the sweep's best ({res.plateau_GBps:.0f} GB/s), "
                "log-log interpolated; Little's law gives the latency it hides.",
                figure="bandwidth-occupancy",
                data=files,
            )
        )
    ax.axhline(0, color="k", lw=0.5)
    footprint_axis(ax, "bytes in flight per SM (log scale)")
    ax.set_ylabel("HBM bandwidth (GB/s)")
    ax.set_title("Streaming bandwidth vs bytes in flight (warps/SM x accesses/thread)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return [
        Figure(
            "bandwidth-occupancy",
            fig,
            "Each point one (warps per SM, accesses in flight) pair; median of repeated launches",
        ),
        Table(
            pd.DataFrame(table),
            caption="Little's law: bytes in flight needed for 90 % of the plateau"
            + (
                f" ({len(all_rows) - len(rows)} point(s) whose blocks did not all run at once left out)"
                if len(rows) < len(all_rows)
                else ""
            ),
        ),
    ], findings


def shared_blocks(docs) -> tuple[list, list[Finding]]:
    import pandas as pd

    doc = latest_run(docs, "bandwidth.shared")
    if doc is None:
        return [], []
    rows = [
        {"access": r["access"], "stride": r["stride"], "bytes_per_clk": r["median"]}
        for r in bw.point_rows(doc, "stride")
        if "access" in r
    ]
    if not rows:
        return [], []
    table = bw.shared_table(rows)
    files = (doc["_file"],) if doc.get("_file") else ()
    frame = pd.DataFrame(
        [
            {
                "access": r["access"],
                "stride [accesses]": r["stride"],
                "bytes/clk/SM": round(r["bytes_per_clk"], 2),
                "slowdown vs stride 1": None
                if r["slowdown_vs_stride_1"] is None
                else round(r["slowdown_vs_stride_1"], 2),
            }
            for r in table
        ]
    )
    findings = [
        Finding(
            FAMILY,
            f"shared-memory {r['access']} bandwidth (stride 1)",
            r["bytes_per_clk"],
            "bytes/clk/SM",
            "undocumented",
            "Median over repeated launches of each block's bytes loaded / its %clock64 interval, one "
            "block of 32 warps per SM.",
            data=files,
        )
        for r in table
        if r["stride"] == 1
    ]
    return [
        Table(
            frame,
            caption="Shared-memory load bandwidth per SM vs access width and lane stride (bank "
            "conflicts show as the slowdown)",
        )
    ], findings


def nearfar_blocks(docs) -> tuple[list, list[Finding]]:
    doc = latest_run(docs, "bandwidth.l2.nearfar")
    if doc is None:
        return [], []
    rows = [
        r
        for p in doc["points"]
        for r in p["samples"]
        if not r.get("throttled") and all(k in r for k in ("sm", "window", "cycles_per_op", "bytes_per_clk"))
    ]
    if len({(r["sm"], r["window"]) for r in rows}) < 4:
        return [], []
    res = bw.nearfar_bandwidth(
        [r["sm"] for r in rows],
        [r["window"] for r in rows],
        [r["cycles_per_op"] for r in rows],
        [r["bytes_per_clk"] for r in rows],
    )
    files = (doc["_file"],) if doc.get("_file") else ()
    text = (
        f"L2 bandwidth per SM over {res.n_cells} (SM, window) cells: median {res.all_bytes_per_clk:.2f} "
        f"bytes/clk [{res.all_ci[0]:.2f}, {res.all_ci[1]:.2f}]. Near/far from each cell's latency: {res.reason}."
    )
    findings = []
    if res.split:
        text += (
            f" Near cells {res.near_bytes_per_clk:.2f} bytes/clk [{res.near_ci[0]:.2f}, {res.near_ci[1]:.2f}], "
            f"far cells {res.far_bytes_per_clk:.2f} [{res.far_ci[0]:.2f}, {res.far_ci[1]:.2f}]."
        )
        for cls in ("near", "far"):
            findings.append(
                Finding(
                    FAMILY,
                    f"L2 {cls} bandwidth per SM",
                    getattr(res, f"{cls}_bytes_per_clk"),
                    "bytes/clk/SM",
                    "undocumented",
                    f"Median over the {cls} cells (dip test split of their latencies) of 16-byte "
                    "ld.global.cg reads of a window by one block per SM.",
                    ci=getattr(res, f"{cls}_ci"),
                    data=files,
                )
            )
    return [Paragraph(text)], findings


def section(docs: list[dict]) -> Section:
    if not any(d["probe"]["name"].startswith("bandwidth.") for d in docs):
        return Section(FAMILY, TITLE, [Paragraph("Not measured on this GPU.")], [])
    blocks: list = [
        Paragraph(
            "A persistent grid on every SM moves 16-byte vectors (`LDG.E.128`/`STG.E.128`, `LDS.*`, `LDSM`); bandwidth "
            "= bytes / (last block end - first block start) from `%globaltimer`, one launch per sample, CIs from "
            "repeated launches. Level names are inferred from their order, not measured."
        )
    ]
    findings: list = []
    analysed = analyse_ladders(docs)
    plotted = [a for a in analysed if a[3]]
    if plotted:
        blocks.append(ladder_figure(plotted, docs))
        table, f = ladder_table_and_findings(analysed)
        blocks.append(table)
        findings += f
        peak = bw.doc_peak(plotted[0][2])
        blocks.append(
            Paragraph(
                f"Documented peak HBM bandwidth: {peak:.1f} GB/s ({bw.PEAK_SOURCE}); a copy counts "
                "the bytes it reads plus those it writes."
                if peak
                else "No memory clock or bus width stored: no documented peak to compare with."
            )
        )
    for part in (occupancy_blocks, shared_blocks, nearfar_blocks):
        b, f = part(docs)
        blocks += b
        findings += f
    if len(blocks) == 1:
        blocks.append(Paragraph("No bandwidth result with usable points."))
    return Section(FAMILY, TITLE, blocks, [f for f in findings if f.value is not None and math.isfinite(f.value)])
