"""Report section: memory latency ladders (global loads and their .ca/.cg/.nc variants, shared, constant, local).

Reads stored results only: per point the stored median and CI of cycles per load, and the median of the samples'
ns per load. Levels come from probes.analysis.levels.detect_levels; their names (L1, L2, L2-far, DRAM) are inferred
from latency ratios, not measured, and the section says so. The L2 capacity found on the default global ladder is
compared with the driver's L2 size (documented & matches when the driver value lies within the capacity interval
widened by 25 % either side, or within a gradual transition's span). Gradual transitions, ramps with no level after
them and merged plateaus are said in words (probes.analysis.levels.describe_transition / describe_sublevels).
Values published by other projects are shown in their own table, labelled with their source, never merged with ours.
"""

from __future__ import annotations

import math
from datetime import datetime
from statistics import median

from probes import verdicts as V
from probes.analysis.levels import Level, describe_sublevels, describe_transition, detect_levels
from probes.analysis.published import for_gpu
from probes.report.sections import Figure, Finding, Paragraph, Section, Table

FAMILY = "ladder"
TITLE = "Memory latency ladders"
PREFIXES = ("latency.ladder.", "latency.shared", "latency.constant", "latency.local")
ORDER = 10

# Issue targets, reported beside every run (never asserted in unit tests): the full default ladder within a minute on
# one H100, and headline plateau latencies pinned to 1 % of the median by the bootstrap CI.
TARGET_WALL_S = {"latency.ladder.global": 60.0}
TARGET_CI_HALF_WIDTH_PCT = 1.0
PUBLISHED_LEVELS = {"latency.ladder.global": ("L1", "L2", "DRAM"), "latency.shared": ("shared",)}
PUBLISHED_TOLERANCE = 0.10  # our latency CI within 10 % of a published value or range -> matches
L2_TOLERANCE = 1.25  # driver L2 size within [capacity_low / 1.25, capacity_high * 1.25] -> matches
DRIVER_L2 = "driver-reported L2 size (CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, stored as environment.l2_cache_bytes)"
PATH_NAMES = {"latency.shared": "shared memory", "latency.constant": "constant cache", "latency.local": "local memory"}


def fmt_bytes(x: float | None) -> str:
    if x is None:
        return "–"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if x >= size:
            return f"{x / size:.4g} {unit}"
    return f"{x:.4g} B"


def footprint_axis(ax, label: str = "footprint (bytes, log scale)") -> None:
    """Footprints on a log2 x axis with byte-size ticks (KiB, MiB, GiB)."""
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt_bytes(v)))
    ax.set_xlabel(label)


def ladder_points(doc: dict) -> list[dict]:
    """Footprint, median/CI of cycles per load and median ns per load of each point with a summary, by footprint."""
    rows = []
    for p in doc.get("points", []):
        s, fp = p.get("summary") or {}, p.get("axes", {}).get("footprint_bytes")
        if fp is None or s.get("median") is None:
            continue
        ns = [
            r["ns_per_op"]
            for r in p.get("samples", [])
            if isinstance(r.get("ns_per_op"), (int, float)) and math.isfinite(r["ns_per_op"]) and not r.get("throttled")
        ]
        rows.append(
            {
                "footprint": float(fp),
                "cycles": float(s["median"]),
                "ci_low": s.get("ci_low"),
                "ci_high": s.get("ci_high"),
                "ns": median(ns) if ns else None,
            }
        )
    return sorted(rows, key=lambda r: r["footprint"])


def level_ns(points: list[dict], lv: Level) -> float | None:
    ns = [
        p["ns"]
        for p in points
        if p["ns"] is not None and lv.plateau_bytes_low <= p["footprint"] <= lv.plateau_bytes_high
    ]
    return median(ns) if ns else None


def latest_by_name(docs: list[dict]) -> dict[str, dict]:
    """One document per probe name: the last one finished."""
    out: dict[str, dict] = {}
    for d in sorted(docs, key=lambda d: d.get("finished_at") or ""):
        out[d["probe"]["name"]] = d
    return dict(sorted(out.items()))


def label_of(name: str) -> str:
    if name.startswith("latency.ladder.global"):
        rest = name[len("latency.ladder.global") :].lstrip(".")
        return f"global ld.{rest}" if rest else "global (default)"
    return PATH_NAMES.get(name, name)


def analyse(docs: list[dict]) -> list[tuple[str, dict, list[dict], list[Level]]]:
    """(probe name, doc, points, levels) per probe, in name order."""
    out = []
    for name, doc in latest_by_name(docs).items():
        pts = ladder_points(doc)
        levels = detect_levels([p["footprint"] for p in pts], [p["cycles"] for p in pts]) if pts else []
        out.append((name, doc, pts, levels))
    return out


def level_table(analysed) -> Table:
    import pandas as pd

    rows = []
    for name, _doc, pts, levels in analysed:
        for lv in levels:
            ns = level_ns(pts, lv)
            cap = (
                "–"
                if lv.capacity_bytes_low is None
                else f"{fmt_bytes(lv.capacity_bytes_low)} – {fmt_bytes(lv.capacity_bytes_high)}"
            )
            nxt = levels[levels.index(lv) + 1].name if lv is not levels[-1] else None
            words = (
                "; ".join(w for w in (describe_transition(lv, nxt, fmt_bytes), describe_sublevels(lv, fmt_bytes)) if w)
                or "–"
            )
            rows.append(
                {
                    "path": label_of(name),
                    "level (inferred)": lv.name,
                    "latency [cycles]": round(lv.latency_cycles, 1),
                    "95 % CI [cycles]": f"{lv.latency_ci_low:.1f} – {lv.latency_ci_high:.1f}",
                    "latency [ns]": None if ns is None else round(ns, 1),
                    "capacity interval": cap,
                    "transition": words,
                    "points": lv.n_points,
                }
            )
        if not levels:
            rows.append(
                {
                    "path": label_of(name),
                    "level (inferred)": "no plateau detected",
                    "latency [cycles]": None,
                    "95 % CI [cycles]": "–",
                    "latency [ns]": None,
                    "capacity interval": "–",
                    "transition": "–",
                    "points": len(pts),
                }
            )
    return Table(
        pd.DataFrame(rows),
        caption="Plateaus found by change-point detection; capacity = from the last "
        "point inside the plateau's CI to the first point measurably above it; "
        "a gradual transition's span runs on to where the next level is reached",
    )


def ladder_figure(analysed, name: str, title: str) -> Figure:
    from probes.report.figures import TAB10, subplots

    fig, ax = subplots(figsize=(9, 5), dpi=110)
    for k, (probe, _doc, pts, levels) in enumerate(analysed):
        c = TAB10[k % len(TAB10)]
        x = [p["footprint"] for p in pts]
        y = [p["cycles"] for p in pts]
        lo = [p["cycles"] - (p["ci_low"] if p["ci_low"] is not None else p["cycles"]) for p in pts]
        hi = [(p["ci_high"] if p["ci_high"] is not None else p["cycles"]) - p["cycles"] for p in pts]
        ax.errorbar(x, y, yerr=[lo, hi], fmt="o-", ms=3, lw=0.8, color=c, label=label_of(probe))
        for lv in levels:
            ax.hlines(lv.latency_cycles, lv.plateau_bytes_low, lv.plateau_bytes_high, colors=[c], lw=2.5)
            ax.annotate(
                f"{lv.name} {lv.latency_cycles:.1f} [{lv.latency_ci_low:.1f}, {lv.latency_ci_high:.1f}]",
                (lv.plateau_bytes_low, lv.latency_cycles),
                xytext=(2, 4),
                textcoords="offset points",
                fontsize=6,
                color=c,
            )
            if lv.capacity_bytes_low is not None:
                ax.axvspan(lv.capacity_bytes_low, lv.capacity_bytes_high, color=c, alpha=0.12, lw=0)
                if lv.transition == "gradual":
                    ax.axvspan(lv.capacity_bytes_high, lv.span_bytes_high, color=c, alpha=0.05, lw=0)
                ax.annotate(
                    f"{lv.name} capacity {fmt_bytes(lv.capacity_bytes_low)} – {fmt_bytes(lv.capacity_bytes_high)}",
                    (math.sqrt(lv.capacity_bytes_low * lv.capacity_bytes_high), lv.latency_cycles),
                    xytext=(3, -10),
                    textcoords="offset points",
                    fontsize=6,
                    color=c,
                )
    footprint_axis(ax)
    ax.set_yscale("log")
    ax.set_ylabel("latency (cycles per load, log scale)")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return Figure(
        name,
        fig,
        f"{title}: measured medians with 95 % CIs, plateaus (thick), capacity intervals "
        "(shaded). Level names are inferred from latency ratios.",
    )


def l2_finding(analysed) -> tuple[Finding | None, str]:
    """Compare the last cache level's capacity before DRAM, on the default global ladder, with the driver's L2."""
    hits = [a for a in analysed if a[0] == "latency.ladder.global"]
    if not hits:
        return None, "No default global ladder: the L2 capacity is not compared with the driver's L2 size."
    name, doc, _pts, levels = hits[0]
    l2 = (doc.get("environment") or {}).get("l2_cache_bytes")
    names = [lv.name for lv in levels]
    if not l2 or "DRAM" not in names or names.index("DRAM") == 0:
        return None, (
            "L2 capacity vs the driver's L2 size: inconclusive (no DRAM plateau after a cache level, "
            "or no driver L2 size stored)."
        )
    lv = levels[names.index("DRAM") - 1]
    lo, hi = lv.capacity_bytes_low, lv.capacity_bytes_high
    gradual = lv.transition == "gradual"
    matches = lo / L2_TOLERANCE <= l2 <= hi * L2_TOLERANCE or (
        gradual and lv.span_bytes_low <= l2 <= lv.span_bytes_high
    )
    mid = math.sqrt(lo * hi)
    where = (
        f"{lv.name} begins to miss between {fmt_bytes(lo)} and {fmt_bytes(hi)} and is fully missing (DRAM "
        f"reached) by {fmt_bytes(lv.span_bytes_high)} of footprint (a gradual transition, not one size)"
        if gradual
        else f"Latency leaves the {lv.name} plateau between {fmt_bytes(lo)} and {fmt_bytes(hi)} of footprint"
    )
    finding = Finding(
        FAMILY,
        "L2 capacity (last cache level before DRAM)",
        mid,
        "bytes",
        V.DOCUMENTED_MATCHES if matches else V.DOCUMENTED_DIFFERS,
        f"{where} on the default global ladder; the driver reports {fmt_bytes(l2)}.",
        ci=(lo, hi),
        surprise=abs(mid / l2 - 1),
        figure="ladder-global",
        data=(doc["_file"],),
        documented=f"{l2} B: {DRIVER_L2}",
    )
    return finding, ""


def level_findings(analysed) -> list[Finding]:
    out = []
    for name, doc, pts, levels in analysed:
        fig = "ladder-global" if name.startswith("latency.ladder.") else "ladder-paths"
        for lv in levels:
            ns = level_ns(pts, lv)
            ns_txt = f", {ns:.1f} ns" if ns is not None else ""
            out.append(
                Finding(
                    FAMILY,
                    f"{lv.name} latency, {label_of(name)}",
                    lv.latency_cycles,
                    "cycles",
                    V.UNDOCUMENTED,
                    f"Median of {lv.n_points} plateau points from {fmt_bytes(lv.plateau_bytes_low)} to "
                    f"{fmt_bytes(lv.plateau_bytes_high)}{ns_txt}; single-thread dependent pointer chase.",
                    ci=(lv.latency_ci_low, lv.latency_ci_high),
                    figure=fig,
                    data=(doc["_file"],),
                )
            )
            if lv.capacity_bytes_low is not None:
                extra = (
                    f" The transition is gradual: the next level is reached only by {fmt_bytes(lv.span_bytes_high)}."
                    if lv.transition == "gradual"
                    else ""
                )
                merged = describe_sublevels(lv, fmt_bytes)
                out.append(
                    Finding(
                        FAMILY,
                        f"{lv.name} capacity, {label_of(name)}",
                        math.sqrt(lv.capacity_bytes_low * lv.capacity_bytes_high),
                        "bytes",
                        V.UNDOCUMENTED,
                        f"Latency leaves the {lv.name} plateau between {fmt_bytes(lv.capacity_bytes_low)} and "
                        f"{fmt_bytes(lv.capacity_bytes_high)} of footprint.{extra}"
                        + (f" ({merged}.)" if merged else ""),
                        ci=(lv.capacity_bytes_low, lv.capacity_bytes_high),
                        figure=fig,
                        data=(doc["_file"],),
                    )
                )
    return out


def published_for(docs: list[dict]) -> list:
    """What other projects published for the GPU these results come from (probes.analysis.published)."""
    gpu = next(((d.get("environment") or {}).get("gpu_name") for d in docs), None)
    return for_gpu(gpu) if gpu else []


def published_table(docs: list[dict]) -> Table | None:
    import pandas as pd

    entries = published_for(docs)
    if not entries:
        return None
    rows = [
        {
            "published by": e.source,
            "GPU": e.gpu,
            "level": e.level,
            "quantity": e.quantity,
            "value": e.value if e.value_high is None else f"{e.value:g} – {e.value_high:g}",
            "unit": e.unit,
            "their method": e.method,
        }
        for e in entries
    ]
    return Table(
        pd.DataFrame(rows),
        caption="Published by other projects for this GPU: not measured by gpu-probes, "
        "shown for comparison with each source's method",
    )


def wall_seconds(doc: dict) -> float | None:
    try:
        return (datetime.fromisoformat(doc["finished_at"]) - datetime.fromisoformat(doc["started_at"])).total_seconds()
    except (KeyError, TypeError, ValueError):
        return None


def ci_half_width_pct(pts: list[dict], lv: Level) -> list[float]:
    return [
        100 * (p["ci_high"] - p["ci_low"]) / 2 / p["cycles"]
        for p in pts
        if lv.plateau_bytes_low <= p["footprint"] <= lv.plateau_bytes_high
        and p["ci_low"] is not None
        and p["ci_high"] is not None
        and p["cycles"] > 0
    ]


def targets_table(analysed) -> Table:
    """Wall time and plateau CI width of each run against the family's targets."""
    import pandas as pd

    rows = []
    for name, doc, pts, levels in analysed:
        widths = [w for lv in levels for w in ci_half_width_pct(pts, lv)]
        wall, target = wall_seconds(doc), TARGET_WALL_S.get(name)
        worst = max(widths) if widths else None
        rows.append(
            {
                "probe": name,
                "points": len(pts),
                "wall time [s]": None if wall is None else round(wall, 1),
                "wall-time target [s]": target if target else "–",
                "worst plateau CI half-width [% of median]": None if worst is None else round(worst, 2),
                "CI target met": "–" if worst is None else ("yes" if worst <= TARGET_CI_HALF_WIDTH_PCT else "no"),
                "wall-time target met": "–" if not target or wall is None else ("yes" if wall <= target else "no"),
            }
        )
    return Table(
        pd.DataFrame(rows),
        caption=f"Run against its targets: the full default ladder in <= 60 s on one "
        f"H100, plateau CI half-width <= {TARGET_CI_HALF_WIDTH_PCT:g} % of the "
        "median (from the stored results; recorded, not enforced)",
    )


def published_comparison(analysed, docs: list[dict]) -> list:
    """Our plateaus beside the values other projects published for this GPU: agreement, or the differences in
    method that can explain a gap (clock, footprint and stride, timing). Never merged with ours."""
    import pandas as pd

    entries = [e for e in published_for(docs) if e.quantity == "latency" and e.unit == "cycles"]
    rows, gaps = [], []
    for name, doc, _pts, levels in analysed:
        for level in PUBLISHED_LEVELS.get(name, ()):
            ours = next((lv for lv in levels if lv.name == level), None)
            for e in (e for e in entries if e.level == level):
                lo, hi = e.value, e.value_high if e.value_high is not None else e.value
                why = ""
                if ours is None:
                    verdict, why = V.INCONCLUSIVE, "not detected in our ladder"
                elif ours.latency_ci_high < lo * (1 - PUBLISHED_TOLERANCE) or ours.latency_ci_low > hi * (
                    1 + PUBLISHED_TOLERANCE
                ):
                    verdict, why = V.DIFFERS, f"differs by more than {100 * PUBLISHED_TOLERANCE:g} %"
                    stride = (doc.get("params") or {}).get("stride_bytes")
                    gaps.append(
                        f"{label_of(name)} {level}: ours {ours.latency_cycles:.1f} cycles "
                        f"[{ours.latency_ci_low:.1f}, {ours.latency_ci_high:.1f}] vs {lo:g}"
                        f"{'' if hi == lo else f'–{hi:g}'} published by {e.source} ({e.method}). Ours: "
                        f"random single-cycle chase, stride {stride} B, (t(2n) - t(n)) / n at the clocks in "
                        "the provenance block; a different stride, footprint, page size, clock or timer "
                        "placement moves such plateaus."
                    )
                else:
                    verdict = V.MATCHES
                rows.append(
                    {
                        "path": label_of(name),
                        "level": level,
                        "ours [cycles]": None if ours is None else round(ours.latency_cycles, 1),
                        "published [cycles]": f"{lo:g}" if hi == lo else f"{lo:g} – {hi:g}",
                        "published by": e.source,
                        "their method": e.method,
                        "comparison": verdict,
                        "why": why,
                    }
                )
    if not rows:
        return []
    caption = (
        "Our plateaus beside values published by other projects for this GPU (theirs are not our "
        f"measurements); comparison: {V.MATCHES} when our CI reaches within {100 * PUBLISHED_TOLERANCE:g} % "
        "of the published value or range"
    )
    blocks: list = [Table(pd.DataFrame(rows), caption=caption)]
    blocks += [Paragraph(g) for g in gaps]
    return blocks


def compare(docs_by_gpu: dict[str, list[dict]]) -> list:
    """Cross-GPU: the default global ladders of every GPU overlaid on one plot."""
    from probes.report.figures import subplots

    curves = []
    for gpu, docs in docs_by_gpu.items():
        doc = latest_by_name(docs).get("latency.ladder.global")
        pts = ladder_points(doc) if doc else []
        if pts:
            curves.append((gpu, pts))
    if not curves:
        return []
    fig, ax = subplots(figsize=(9, 5), dpi=110)
    for gpu, pts in curves:
        ax.plot([p["footprint"] for p in pts], [p["cycles"] for p in pts], "o-", ms=2.5, lw=0.9, label=gpu)
    footprint_axis(ax)
    ax.set_yscale("log")
    ax.set_ylabel("latency (cycles per load, log scale)")
    ax.set_title("Global-memory latency ladders, every GPU")
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return [
        Figure(
            "ladder-all-gpus",
            fig,
            "Default global-memory ladders of every measured GPU, medians per "
            "footprint (cycles at each GPU's own SM clock)",
        )
    ]


def section(docs: list[dict]) -> Section:
    analysed = analyse(docs)
    plotted = [a for a in analysed if a[2]]  # a run with no footprint points has nothing to plot
    glob = [a for a in plotted if a[0].startswith("latency.ladder.")]
    paths = [a for a in plotted if not a[0].startswith("latency.ladder.")]
    blocks: list = [
        Paragraph(
            "One thread chases a random single cycle of pointers (each `LDG`/`LDS`/`LDC`/`LDL` feeds the next); "
            "latency per load is (t(2n) - t(n)) / n from `%clock64`. Plateaus and capacities come from change-point "
            "detection with bootstrap CIs; level names are inferred from latency ratios, not measured."
        )
    ]
    if glob:
        blocks.append(ladder_figure(glob, "ladder-global", "Global-memory latency ladder (load variants overlaid)"))
    if paths:
        blocks.append(ladder_figure(paths, "ladder-paths", "Shared, constant and local memory"))
    blocks.append(level_table(analysed))
    l2, why = l2_finding(analysed)
    if why:
        blocks.append(Paragraph(why))
    blocks.append(targets_table(analysed))
    blocks += published_comparison(analysed, docs)
    pub = published_table(docs)
    if pub is not None:
        blocks.append(pub)
    findings = ([l2] if l2 else []) + level_findings(analysed)
    return Section(FAMILY, TITLE, blocks, findings)
