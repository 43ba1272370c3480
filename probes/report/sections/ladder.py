"""Report section: memory latency ladders (global loads and their .ca/.cg/.nc variants, shared, constant, local).

Reads stored results only: per point the stored median and CI of cycles per load, and the median of the samples'
ns per load. Levels come from probes.analysis.levels.detect_levels; their names (L1, L2, L2-far, DRAM) are inferred
from latency ratios, not measured, and the section says so. The L2 capacity found on the default global ladder is
compared with the driver's L2 size (documented & matches when the driver value lies within the capacity interval
widened by 25 % either side). Values published by other projects are shown in their own table, labelled with their
source, never merged with ours.
"""
from __future__ import annotations

import math
from statistics import median

from probes.analysis.levels import Level, detect_levels
from probes.report.sections import Figure, Finding, Paragraph, Section, Table

FAMILY = "ladder"
TITLE = "Memory latency ladders"
PREFIXES = ("latency.ladder.", "latency.shared", "latency.constant", "latency.local")
ORDER = 10

L2_TOLERANCE = 1.25        # driver L2 size within [capacity_low / 1.25, capacity_high * 1.25] -> matches
DRIVER_L2 = "driver-reported L2 size (CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE, stored as environment.l2_cache_bytes)"
PATH_NAMES = {"latency.shared": "shared memory", "latency.constant": "constant cache", "latency.local": "local memory"}


def fmt_bytes(x: float | None) -> str:
    if x is None:
        return "–"
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if x >= size:
            return f"{x / size:.4g} {unit}"
    return f"{x:.4g} B"


def ladder_points(doc: dict) -> list[dict]:
    """Footprint, median/CI of cycles per load and median ns per load of each point with a summary, by footprint."""
    rows = []
    for p in doc.get("points", []):
        s, fp = p.get("summary") or {}, p.get("axes", {}).get("footprint_bytes")
        if fp is None or s.get("median") is None:
            continue
        ns = [r["ns_per_op"] for r in p.get("samples", []) if isinstance(r.get("ns_per_op"), (int, float))
              and math.isfinite(r["ns_per_op"]) and not r.get("throttled")]
        rows.append({"footprint": float(fp), "cycles": float(s["median"]), "ci_low": s.get("ci_low"),
                     "ci_high": s.get("ci_high"), "ns": median(ns) if ns else None})
    return sorted(rows, key=lambda r: r["footprint"])


def level_ns(points: list[dict], lv: Level) -> float | None:
    ns = [p["ns"] for p in points
          if p["ns"] is not None and lv.plateau_bytes_low <= p["footprint"] <= lv.plateau_bytes_high]
    return median(ns) if ns else None


def latest_by_name(docs: list[dict]) -> dict[str, dict]:
    """One document per probe name: the last one finished."""
    out: dict[str, dict] = {}
    for d in sorted(docs, key=lambda d: d.get("finished_at") or ""):
        out[d["probe"]["name"]] = d
    return dict(sorted(out.items()))


def label_of(name: str) -> str:
    if name.startswith("latency.ladder.global"):
        rest = name[len("latency.ladder.global"):].lstrip(".")
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
            cap = "–" if lv.capacity_bytes_low is None else \
                f"{fmt_bytes(lv.capacity_bytes_low)} – {fmt_bytes(lv.capacity_bytes_high)}"
            rows.append({"path": label_of(name), "level (inferred)": lv.name,
                         "latency [cycles]": round(lv.latency_cycles, 1),
                         "95 % CI [cycles]": f"{lv.latency_ci_low:.1f} – {lv.latency_ci_high:.1f}",
                         "latency [ns]": None if ns is None else round(ns, 1),
                         "capacity interval": cap, "points": lv.n_points})
        if not levels:
            rows.append({"path": label_of(name), "level (inferred)": "no plateau detected",
                         "latency [cycles]": None, "95 % CI [cycles]": "–", "latency [ns]": None,
                         "capacity interval": "–", "points": len(pts)})
    return Table(pd.DataFrame(rows), caption="Plateaus found by change-point detection; capacity = footprint "
                                            "bracket where latency leaves the plateau")


def ladder_figure(analysed, name: str, title: str) -> Figure:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(9, 5), dpi=110)
    colours = plt.get_cmap("tab10").colors
    for k, (probe, _doc, pts, levels) in enumerate(analysed):
        c = colours[k % len(colours)]
        x = [p["footprint"] for p in pts]
        y = [p["cycles"] for p in pts]
        lo = [p["cycles"] - (p["ci_low"] if p["ci_low"] is not None else p["cycles"]) for p in pts]
        hi = [(p["ci_high"] if p["ci_high"] is not None else p["cycles"]) - p["cycles"] for p in pts]
        ax.errorbar(x, y, yerr=[lo, hi], fmt="o-", ms=3, lw=0.8, color=c, label=label_of(probe))
        for lv in levels:
            ax.hlines(lv.latency_cycles, lv.plateau_bytes_low, lv.plateau_bytes_high, colors=[c], lw=2.5)
            ax.annotate(f"{lv.name} {lv.latency_cycles:.1f} [{lv.latency_ci_low:.1f}, {lv.latency_ci_high:.1f}]",
                        (lv.plateau_bytes_low, lv.latency_cycles), xytext=(2, 4), textcoords="offset points",
                        fontsize=6, color=c)
            if lv.capacity_bytes_low is not None:
                ax.axvspan(lv.capacity_bytes_low, lv.capacity_bytes_high, color=c, alpha=0.12, lw=0)
                ax.annotate(f"{lv.name} capacity {fmt_bytes(lv.capacity_bytes_low)} – "
                            f"{fmt_bytes(lv.capacity_bytes_high)}",
                            (math.sqrt(lv.capacity_bytes_low * lv.capacity_bytes_high), lv.latency_cycles),
                            xytext=(3, -10), textcoords="offset points", fontsize=6, color=c)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: fmt_bytes(v)))
    ax.set_xlabel("footprint (bytes, log scale)")
    ax.set_ylabel("latency (cycles per load, log scale)")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=7)
    fig.tight_layout()
    return Figure(name, fig, f"{title}: measured medians with 95 % CIs, plateaus (thick), capacity intervals "
                             "(shaded). Level names are inferred from latency ratios.")


def l2_finding(analysed) -> tuple[Finding | None, str]:
    """Compare the last cache level's capacity before DRAM, on the default global ladder, with the driver's L2."""
    hits = [a for a in analysed if a[0] == "latency.ladder.global"]
    if not hits:
        return None, "No default global ladder: the L2 capacity is not compared with the driver's L2 size."
    name, doc, _pts, levels = hits[0]
    l2 = (doc.get("environment") or {}).get("l2_cache_bytes")
    names = [lv.name for lv in levels]
    if not l2 or "DRAM" not in names or names.index("DRAM") == 0:
        return None, ("L2 capacity vs the driver's L2 size: inconclusive (no DRAM plateau after a cache level, "
                      "or no driver L2 size stored).")
    lv = levels[names.index("DRAM") - 1]
    lo, hi = lv.capacity_bytes_low, lv.capacity_bytes_high
    matches = lo / L2_TOLERANCE <= l2 <= hi * L2_TOLERANCE
    mid = math.sqrt(lo * hi)
    finding = Finding(
        FAMILY, "L2 capacity (last cache level before DRAM)", mid, "bytes",
        "documented & matches" if matches else "documented & differs",
        f"Latency leaves the {lv.name} plateau between {fmt_bytes(lo)} and {fmt_bytes(hi)} of footprint on the "
        f"default global ladder; the driver reports {fmt_bytes(l2)}.",
        ci=(lo, hi), surprise=abs(mid / l2 - 1), figure="ladder-global", data=(doc["_file"],),
        documented=f"{l2} B: {DRIVER_L2}")
    return finding, ""


def level_findings(analysed) -> list[Finding]:
    out = []
    for name, doc, pts, levels in analysed:
        fig = "ladder-global" if name.startswith("latency.ladder.") else "ladder-paths"
        for lv in levels:
            ns = level_ns(pts, lv)
            ns_txt = f", {ns:.1f} ns" if ns is not None else ""
            out.append(Finding(
                FAMILY, f"{lv.name} latency, {label_of(name)}", lv.latency_cycles, "cycles", "undocumented",
                f"Median of {lv.n_points} plateau points from {fmt_bytes(lv.plateau_bytes_low)} to "
                f"{fmt_bytes(lv.plateau_bytes_high)}{ns_txt}; single-thread dependent pointer chase.",
                ci=(lv.latency_ci_low, lv.latency_ci_high), figure=fig, data=(doc["_file"],)))
            if lv.capacity_bytes_low is not None:
                out.append(Finding(
                    FAMILY, f"{lv.name} capacity, {label_of(name)}",
                    math.sqrt(lv.capacity_bytes_low * lv.capacity_bytes_high), "bytes", "undocumented",
                    f"Latency leaves the {lv.name} plateau between {fmt_bytes(lv.capacity_bytes_low)} and "
                    f"{fmt_bytes(lv.capacity_bytes_high)} of footprint.",
                    ci=(lv.capacity_bytes_low, lv.capacity_bytes_high), figure=fig, data=(doc["_file"],)))
    return out


def published_table(docs: list[dict]) -> Table | None:
    import pandas as pd

    from probes.analysis.published import for_gpu
    gpu = next(((d.get("environment") or {}).get("gpu_name") for d in docs), None)
    entries = for_gpu(gpu) if gpu else []
    if not entries:
        return None
    rows = [{"published by": e.source, "GPU": e.gpu, "level": e.level, "quantity": e.quantity,
             "value": e.value if e.value_high is None else f"{e.value:g} – {e.value_high:g}", "unit": e.unit,
             "their method": e.method} for e in entries]
    return Table(pd.DataFrame(rows), caption="Published by other projects for this GPU: not measured by gpu-probes, "
                                             "shown for comparison with each source's method")


def section(docs: list[dict]) -> Section:
    analysed = analyse(docs)
    glob = [a for a in analysed if a[0].startswith("latency.ladder.")]
    paths = [a for a in analysed if not a[0].startswith("latency.ladder.")]
    blocks: list = [Paragraph(
        "One thread chases a random single cycle of pointers (each `LDG`/`LDS`/`LDC`/`LDL` feeds the next); "
        "latency per load is (t(2n) - t(n)) / n from `%clock64`. Plateaus and capacities come from change-point "
        "detection with bootstrap CIs; level names are inferred from latency ratios, not measured.")]
    if glob:
        blocks.append(ladder_figure(glob, "ladder-global", "Global-memory latency ladder (load variants overlaid)"))
    if paths:
        blocks.append(ladder_figure(paths, "ladder-paths", "Shared, constant and local memory"))
    blocks.append(level_table(analysed))
    l2, why = l2_finding(analysed)
    if why:
        blocks.append(Paragraph(why))
    pub = published_table(docs)
    if pub is not None:
        blocks.append(pub)
    findings = ([l2] if l2 else []) + level_findings(analysed)
    return Section(FAMILY, TITLE, blocks, findings)
