"""Report section: L2 near/far map, per-SM x per-window L2 latency with its bimodality test and clusters.

Analysis is probes.analysis.nearfar (dip test, two-means split, Mann-Whitney, bootstrap CIs). NVIDIA describes
the L2 of A100/H100 as two partitions but documents no near/far latencies, so every value is "undocumented".
"""

from __future__ import annotations

import numpy as np

from probes.analysis import nearfar as nf
from probes.report.sections import Figure, Finding, Paragraph, Section, Table, latest_run

FAMILY = "l2-nearfar"
TITLE = "L2 near/far latency map"
PREFIXES = ("latency.l2.",)
ORDER = 25
PROBE = "latency.l2.nearfar"


def map_figure(res: nf.NearFar) -> Figure:
    from probes.report.figures import subplots

    sms = sorted({s for s, _ in res.cells})
    wins = sorted({w for _, w in res.cells})
    grid = np.full((len(sms), len(wins)), np.nan)
    for (s, w), c in res.cells.items():
        grid[sms.index(s), wins.index(w)] = c["latency"]
    fig, ax = subplots(figsize=(9, max(3.0, min(12.0, 0.06 * len(sms) + 2))), dpi=110)
    im = ax.imshow(grid, aspect="auto", interpolation="nearest", cmap="viridis")
    fig.colorbar(im, ax=ax, label="L2 hit latency (cycles per load)")
    ax.set_xlabel("address window")
    ax.set_ylabel("SM (%smid, in order)")
    step = max(1, len(sms) // 16)
    ax.set_yticks(range(0, len(sms), step), [str(sms[i]) for i in range(0, len(sms), step)], fontsize=6)
    ax.set_title("L2 latency per SM and address window")
    fig.tight_layout()
    return Figure(
        "l2-nearfar-map",
        fig,
        "Median L2-hit latency of each (SM, address window) cell; a near/far L2 "
        "shows as two colours, per SM differently for each window.",
    )


def histogram_figure(res: nf.NearFar) -> Figure:
    from probes.report.figures import subplots

    fig, ax = subplots(figsize=(9, 4), dpi=110)
    x = np.array([c["latency"] for c in res.cells.values()])
    bins = min(60, max(10, x.size // 4))
    if res.split:
        near = [c["latency"] for c in res.cells.values() if c["class"] == "near"]
        far = [c["latency"] for c in res.cells.values() if c["class"] == "far"]
        edges = np.histogram_bin_edges(x, bins=bins)
        ax.hist(near, bins=edges, color="tab:blue", alpha=0.8, label=f"near ({len(near)} cells)")
        ax.hist(far, bins=edges, color="tab:orange", alpha=0.8, label=f"far ({len(far)} cells)")
    else:
        ax.hist(x, bins=bins, color="0.5", label=f"all {x.size} cells (no split)")
    if res.threshold is not None:
        ax.axvline(res.threshold, color="k", ls="--", lw=0.8, label=f"two-means threshold {res.threshold:.1f}")
    ax.set_xlabel("L2 hit latency (cycles per load)")
    ax.set_ylabel("(SM, window) cells")
    ax.set_title(f"dip test p = {res.dip_p:.3g}")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return Figure(
        "l2-nearfar-histogram",
        fig,
        "Distribution of per-cell latencies with the two clusters (when the dip test finds two modes).",
    )


def per_sm_table(res: nf.NearFar):
    import pandas as pd

    rows = []
    for s, v in nf.per_sm({k: c["latency"] for k, c in res.cells.items()}).items():
        classes = [c["class"] for (sm, _), c in res.cells.items() if sm == s]
        rows.append(
            {
                "SM": s,
                "windows": v.size,
                "median [cycles]": round(float(np.median(v)), 1),
                "min [cycles]": round(float(v.min()), 1),
                "max [cycles]": round(float(v.max()), 1),
                "near windows": classes.count("near"),
                "far windows": classes.count("far"),
            }
        )
    return Table(pd.DataFrame(rows), caption="Per-SM distribution of L2 latency over the address windows")


def section(docs: list[dict]) -> Section:
    doc = latest_run(docs, PROBE)
    if doc is None:
        return Section(FAMILY, TITLE, [Paragraph("No near/far run with data.")], [])
    res = nf.from_doc(doc)
    files = (doc["_file"],) if doc.get("_file") else ()
    blocks: list = [
        Paragraph(
            "One block per SM (claimed through `%smid` and an atomic flag) chases small L2-only chains at different "
            f"address offsets; each (SM, window) cell is one latency. {res.reason}. The Mann-Whitney p is reported "
            "but is optimistic by construction (the groups come from the threshold); the dip test is the gate."
        ),
        map_figure(res),
        histogram_figure(res),
        per_sm_table(res),
    ]
    dip = f"Hartigan dip test over {res.n_cells} (SM, window) cells: dip {res.dip:.4f}, p = {res.dip_p:.3g}"
    if res.split:
        findings = [
            Finding(
                FAMILY,
                "L2 near latency",
                res.near_median,
                "cycles",
                "undocumented",
                f"{dip}; median of the lower cluster, bootstrap 95 % CI",
                ci=res.near_ci,
                figure="l2-nearfar-histogram",
                data=files,
            ),
            Finding(
                FAMILY,
                "L2 far latency",
                res.far_median,
                "cycles",
                "undocumented",
                f"{dip}; median of the upper cluster, bootstrap 95 % CI",
                ci=res.far_ci,
                figure="l2-nearfar-histogram",
                data=files,
            ),
            Finding(
                FAMILY,
                "L2 far - near latency",
                res.difference,
                "cycles",
                "undocumented",
                f"{dip}; difference of cluster medians, bootstrap 95 % CI; Mann-Whitney p = {res.mannwhitney_p:.3g}",
                ci=res.difference_ci,
                figure="l2-nearfar-map",
                data=files,
                surprise=res.difference / max(res.near_median, 1e-9),
            ),
        ]
    else:
        findings = [
            Finding(
                FAMILY,
                "L2 latency (no near/far split)",
                res.pooled_median,
                "cycles",
                "undocumented",
                f"{dip}: {res.reason}; median of all cells, bootstrap 95 % CI",
                ci=res.pooled_ci,
                figure="l2-nearfar-histogram",
                data=files,
            )
        ]
    return Section(FAMILY, TITLE, blocks, findings)
