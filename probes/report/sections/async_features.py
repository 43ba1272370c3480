"""Report section: the hand-written PTX probes of Hopper and Blackwell features (async-copy ladders vs LDG, DSMEM,
cluster barrier, mbarrier, wgmma, tcgen05). Stored results only; analysis in probes.analysis.async_features.

Every number here is ours, except in columns and tables headed *published by*, which carry their source.
"""

from __future__ import annotations

import math

from probes.analysis import async_features as A
from probes.report.sections import Figure, Finding, Paragraph, Section, Table

FAMILY = "async-features"
TITLE = "Hopper/Blackwell async features (PTX probes)"
PREFIXES = (
    "latency.ladder.cp-async",
    "latency.ladder.tma",
    "latency.dsmem",
    "latency.cluster-barrier",
    "latency.mbarrier",
    "tensor.wgmma.",
    "tensor.tcgen05.",
    "bandwidth.bulk",
    "bandwidth.dsmem",
    "latency.ladder.global",
)
OWN = PREFIXES[:-1]  # the global ladder is read only as the LDG baseline of the async ladders
ORDER = 60


def _files(docs: list[dict], prefix: str) -> tuple[str, ...]:
    return tuple(d["_file"] for d in docs if d["probe"]["name"].startswith(prefix) and d.get("_file"))


def _ci(row) -> tuple[float, float] | None:
    lo, hi = row.get("ci_low"), row.get("ci_high")
    return (float(lo), float(hi)) if lo is not None and hi is not None else None


def _round(frame, cols=("median", "ci_low", "ci_high")):
    out = frame.copy()
    for c in cols:
        if c in out:
            out[c] = out[c].astype(float).round(1)
    return out


def ladder_blocks(docs: list[dict]) -> list:
    frame = A.path_levels(docs)
    own = frame[frame["probe"] != "latency.ladder.global"] if not frame.empty else frame
    if own.empty:
        return []
    blocks: list = [
        Table(
            frame.drop(columns=["probe"]),
            caption=(
                "Latency plateaus per load path, same chain and footprints as the LDG ladder (level names inferred from "
                "latency ratios); 'minus LDG' = what the async copy and its completion add at that level"
            ),
        )
    ]
    gpu = next(((d.get("environment") or {}).get("gpu_name") for d in docs), None)
    rows = A.published_ladder_rows(gpu, frame)
    if rows:
        import pandas as pd

        blocks.append(
            Table(
                pd.DataFrame(rows),
                caption="Our async-copy plateaus beside values read from the data "
                "published by kimbochen/gpu-microbench for this GPU (theirs, "
                "not our measurements)",
            )
        )
    return blocks


def dsmem_blocks(docs: list[dict]) -> tuple[list, list]:
    frame = A.point_table(docs, "latency.dsmem", medians=("ns_per_op",), modes=("sm_self", "sm_peer"))
    if frame.empty:
        return [], []
    summary = A.dsmem_summary(frame)
    data = _files(docs, "latency.dsmem")
    findings = []
    for row in summary.to_dict("records"):
        cs = row["cluster size"]
        if row["remote median [cycles]"] is not None and not math.isnan(row["remote median [cycles]"]):
            findings.append(
                Finding(
                    FAMILY,
                    f"DSMEM remote load latency, cluster of {cs}",
                    row["remote median [cycles]"],
                    "cycles",
                    "undocumented",
                    f"Median over {row['remote peers']} peer CTAs of a single-thread "
                    f"ld.shared::cluster chase (range {row['remote min [cycles]']:.1f} – {row['remote max [cycles]']:.1f}).",
                    ci=(row["remote min [cycles]"], row["remote max [cycles]"]),
                    figure="async-dsmem",
                    data=data,
                    documented=(
                        f"published by {A.HPMLL_DSM} (H800): {row['published remote [cycles]']} cycles"
                        if row["published by"]
                        else None
                    ),
                )
            )
        if row["local [cycles]"] is not None and not math.isnan(row["local [cycles]"]):
            findings.append(
                Finding(
                    FAMILY,
                    f"DSMEM local load latency through the cluster window, cluster of {cs}",
                    row["local [cycles]"],
                    "cycles",
                    "undocumented",
                    "Peer 0: the chasing CTA's own shared memory addressed as shared::cluster.",
                    figure="async-dsmem",
                    data=data,
                )
            )
    blocks = [
        Table(
            summary,
            caption="Distributed shared memory: local vs remote chase latency per cluster size "
            "(the 'published' columns are HPMLL/NVIDIA-Hopper-Benchmark's, not ours)",
        ),
        Table(
            _round(frame),
            caption="Every (cluster size, peer) point: median cycles per load [95 % CI], "
            "ns per load, SM of the chasing CTA and of the peer (%smid)",
        ),
        Figure(
            "async-dsmem",
            dsmem_figure(frame),
            "DSMEM chase latency per peer rank, one line per cluster size (peer 0 = own shared memory)",
        ),
    ]
    return blocks + distance_blocks(docs, findings), findings


def distance_blocks(docs: list[dict], findings: list) -> list:
    """latency.dsmem by peer-SM distance: a table, a figure and (with two or more remote distances) the spread."""
    table = A.dsmem_distance_table(docs)
    if table.empty:
        return []
    remote = table[table["peer"] == "remote"]
    if len(remote) >= 2:
        lo, hi = remote.loc[remote["median [cycles]"].idxmin()], remote.loc[remote["median [cycles]"].idxmax()]
        findings.append(
            Finding(
                FAMILY,
                "DSMEM remote load latency across peer-SM distances",
                float(hi["median [cycles]"] - lo["median [cycles]"]),
                "cycles",
                "undocumented",
                f"Spread of the per-distance medians over {len(remote)} distances |Δ %smid|: "
                f"{lo['median [cycles]']:.1f} cycles at distance {int(lo['|Δ smid|'])}, {hi['median [cycles]']:.1f} at "
                f"{int(hi['|Δ smid|'])}. %smid is a virtual SM id: the distance labels an SM pair, it is not a "
                "position on the die.",
                figure="async-dsmem-distance",
                data=_files(docs, "latency.dsmem"),
            )
        )
    return [
        Table(
            table,
            caption="DSMEM chase latency per sample, grouped by peer-SM distance |%smid(peer) - "
            "%smid(rank 0)| (a cluster may land on other SMs at every launch; %smid is a "
            "virtual id, %nsmid its range)",
        ),
        Figure(
            "async-dsmem-distance",
            distance_figure(table),
            "DSMEM chase latency vs peer-SM distance (median per distance, bars: min to max)",
        ),
    ]


def distance_figure(table):
    from probes.report.figures import subplots

    fig, ax = subplots(figsize=(7, 3.5), dpi=110)
    for kind, sub in table.groupby("peer"):
        med = sub["median [cycles]"]
        ax.errorbar(
            sub["|Δ smid|"],
            med,
            yerr=[med - sub["min [cycles]"], sub["max [cycles]"] - med],
            fmt="o",
            ms=3,
            lw=0.8,
            capsize=2,
            label=kind,
        )
    ax.set_xlabel("|Δ %smid| between the chasing CTA's SM and the peer's")
    ax.set_ylabel("cycles per load")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def dsmem_figure(frame):
    from probes.report.figures import subplots

    fig, ax = subplots(figsize=(7, 4), dpi=110)
    for cs, sub in frame.groupby("cluster_size"):
        sub = sub.sort_values("peer")
        ax.plot(sub["peer"], sub["median"], "o-", ms=3, lw=0.9, label=f"cluster {int(cs)}")
    ax.set_xlabel("peer CTA rank")
    ax.set_ylabel("cycles per load")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def simple_blocks(docs, name, keys, title, unit_label, caption) -> tuple[list, list]:
    frame = A.point_table(docs, name, medians=("ns_per_op",))
    if frame.empty:
        return [], []
    data = _files(docs, name)
    findings = [
        Finding(
            FAMILY,
            f"{title} ({', '.join(f'{k} {r[k]}' for k in keys)})",
            float(r["median"]),
            unit_label,
            "undocumented",
            caption,
            ci=_ci(r),
            data=data,
        )
        for r in frame.to_dict("records")
    ]
    return [Table(_round(frame), caption=caption)], findings


def wgmma_blocks(docs: list[dict]) -> tuple[list, list]:
    lat = A.point_table(docs, "tensor.wgmma.latency")
    tput = A.point_table(docs, "tensor.wgmma.throughput", medians=("flop_per_clk_sm",))
    frame = A.wgmma_table(lat, tput)
    if frame.empty:
        return [], []
    findings = []
    for r in frame.to_dict("records"):
        shape = f"m64n{r['n']} {r['dtype']} {r['operands'].upper()}"
        if r.get("latency [cycles]") is not None and math.isfinite(r["latency [cycles]"]):
            findings.append(
                Finding(
                    FAMILY,
                    f"wgmma latency, {shape}",
                    r["latency [cycles]"],
                    "cycles",
                    "undocumented",
                    "One warpgroup, commit + wait after every MMA.",
                    ci=(r["latency CI low"], r["latency CI high"]),
                    data=_files(docs, "tensor.wgmma.latency"),
                )
            )
        got, peak = r.get("FLOP/clk/SM"), r.get("documented peak [FLOP/clk/SM]")
        if got is not None and peak and math.isfinite(got):
            ratio = got / peak
            findings.append(
                Finding(
                    FAMILY,
                    f"wgmma throughput, {shape}",
                    got,
                    "FLOP/clk/SM",
                    "documented & matches" if abs(ratio - 1) <= 0.10 else "documented & differs",
                    f"{ratio:.0%} of the documented dense peak; warpgroups of one CTA issuing "
                    "pipelined MMAs into one accumulator each.",
                    surprise=abs(ratio - 1),
                    data=_files(docs, "tensor.wgmma.throughput"),
                    documented=f"{peak} FLOP/clk/SM: {A.PEAK_SOURCE}",
                )
            )
    return [
        Table(
            frame,
            caption="wgmma per shape, input type and operand source: latency [CI], pipelined cycles "
            "per MMA, FLOP/clk/SM and its share of the documented dense peak",
        )
    ], findings


def bulk_blocks(docs: list[dict]) -> tuple[list, list]:
    frame = A.bulk_table(A.point_table(docs, "bandwidth.bulk"))
    if frame.empty:
        return [], []
    findings, data = [], _files(docs, "bandwidth.bulk")
    for (mode, hint), sub in frame.groupby(["mode", "hint"], sort=False):
        best = sub.loc[sub["GB/s"].idxmax()]
        pct, ratio = best["% of copy ceiling"], best["vs no hint"]
        findings.append(
            Finding(
                FAMILY,
                f"bulk global->shared bandwidth, {mode}" + ("" if hint == "none" else f", L2 {hint}"),
                float(best["GB/s"]),
                "GB/s",
                "undocumented",
                f"{A.BULK_MODES.get(mode, mode)}; best point: {int(best['bytes'])} B per transfer, depth "
                f"{int(best['depth'])}"
                + (f", {pct:.0f} % of the synchronous-copy ceiling of the same run" if pct is not None else "")
                + (
                    ""
                    if ratio is None or (isinstance(ratio, float) and math.isnan(ratio))
                    else f", {ratio:.2f}x the same point without a cache hint"
                )
                + ".",
                ci=_ci({"ci_low": best["CI low"], "ci_high": best["CI high"]}),
                data=data,
            )
        )
    return [
        Table(
            frame,
            caption="Streaming global->shared bandwidth per copy mode (TMA 1D, TMA 2D through a tensor "
            "map, LDGSTS, synchronous copy), L2 cache policy (createpolicy + .L2::cache_hint, "
            "or none), transfer size and stages in flight; % of the best synchronous "
            "ld.global.v4 + st.shared.v4 point of the same run; 'vs no hint' = GB/s over the "
            "same point without a hint",
        )
    ], findings


def dsmem_bandwidth_blocks(docs: list[dict]) -> tuple[list, list]:
    frame = A.dsmem_bandwidth_table(
        A.point_table(docs, "bandwidth.dsmem", medians=("bytes_per_clk_cta",), modes=("clusters",))
    )
    if frame.empty:
        return [], []
    data = _files(docs, "bandwidth.dsmem")
    findings = []
    for r in frame.to_dict("records"):
        where = (
            "own buffer through the cluster window"
            if r["peer_shift"] == 0
            else f"rank + {r['peer_shift']} of the cluster"
        )
        share = r.get("% of local")
        per_cta = r.get("bytes/clk/CTA")
        findings.append(
            Finding(
                FAMILY,
                f"DSMEM read bandwidth, cluster of {r['cluster_size']}, peer shift {r['peer_shift']}",
                float(r["GB/s"]),
                "GB/s",
                "undocumented",
                f"Every CTA of {r.get('clusters') or '?'} resident clusters streams the shared memory of its {where} "
                "with ld.shared::cluster.v4"
                + (
                    f"; {per_cta:.1f} bytes/clk per CTA"
                    if isinstance(per_cta, float) and math.isfinite(per_cta)
                    else ""
                )
                + (f"; {share:.0f} % of the local read" if isinstance(share, float) and math.isfinite(share) else "")
                + ".",
                ci=_ci({"ci_low": r["CI low"], "ci_high": r["CI high"]}),
                data=data,
            )
        )
    return [
        Table(
            _round(frame, ("GB/s", "CI low", "CI high", "bytes/clk/CTA")),
            caption=(
                "Distributed shared memory read bandwidth per cluster size and peer (shift 0 = the CTA's own buffer read "
                "through the cluster window): GB/s over the grid [95 % CI], bytes per clock of one CTA, share of the "
                "local read"
            ),
        )
    ], findings


def section(docs: list[dict]) -> Section:
    blocks: list = [
        Paragraph(
            "Hand-written PTX kernels (ptx/), assembled in process by cuda.core/nvJitLink and launched with clusters, "
            "dynamic shared memory and mbarriers; every launch is checked against a host reference model of what each "
            "output word must be. One thread (one warpgroup for wgmma) times (t(2n) - t(n)) / n with `%clock64`; the "
            "SASS of each kernel (UBLKCP, LDGSTS, SYNCS.*, HGMMA, ...) and its clock discipline were checked at build "
            "time."
        )
    ]
    if not any(d["probe"]["name"].startswith(OWN) for d in docs):
        blocks.append(Paragraph("None of the PTX probes has results for this GPU (only the LDG baseline)."))
        return Section(FAMILY, TITLE, blocks, [])
    findings: list = []
    blocks += ladder_blocks(docs)
    for part in (
        dsmem_blocks(docs),
        simple_blocks(
            docs,
            "latency.cluster-barrier",
            ("cluster_size", "relaxed"),
            "cluster barrier latency",
            "cycles",
            "barrier.cluster.arrive[.relaxed] + wait by every thread of one cluster, timed by "
            "thread 0 of rank 0: cycles per barrier [95 % CI]",
        ),
        simple_blocks(
            docs,
            "latency.mbarrier",
            ("op",),
            "mbarrier phase round trip",
            "cycles",
            "One thread: complete an mbarrier phase and wait for it (arrive + test_wait, arrive + "
            "try_wait, expect_tx + complete_tx + try_wait): cycles per phase [95 % CI]",
        ),
        wgmma_blocks(docs),
        bulk_blocks(docs),
        dsmem_bandwidth_blocks(docs),
        simple_blocks(
            docs,
            "tensor.tcgen05.latency",
            ("n",),
            "tcgen05.mma latency",
            "cycles",
            "tcgen05.mma kind::f16 M=128 K=16 committed to an mbarrier and waited for: cycles per MMA [95 % CI]",
        ),
    ):
        blocks += part[0]
        findings += part[1]
    return Section(FAMILY, TITLE, blocks, findings)
