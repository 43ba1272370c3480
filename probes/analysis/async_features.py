"""Analysis of the PTX-probe family (async copy, clusters, mbarrier, wgmma/tcgen05): stored results in, tidy tables
out. No CUDA.

- `point_table(docs, name)`: one row per point of the latest run of a probe: its axes, the stored median and CI of
  the headline value, and the median of selected per-sample columns (SM ids, FLOP/clk/SM, ns).
- `path_levels(docs)`: latency plateaus (probes.analysis.levels.detect_levels) of the global-load, cp.async and
  TMA ladders side by side, so LDG vs cp.async vs TMA compare per level.
- `dsmem_summary`: local (peer 0) vs remote latency per cluster size (median over remote peers, their spread).
- `dsmem_distance_table`: the same chase grouped by peer-SM distance (%smid of rank 0 and of the peer, per sample).
- `dsmem_bandwidth_table`: DSMEM read bandwidth per cluster size and peer, against the local read.
- `wgmma_table`: latency and throughput per (type, N, operands), with FLOP/clk/SM against the documented peak.
Published values (other projects' numbers) are constants here with their source, and are only ever shown as
*published by* beside ours, never merged.
"""

from __future__ import annotations

import math
from statistics import median

from probes.analysis.levels import detect_levels

# Values read from data other projects published (the sources state no summary numbers of their own for the
# ladders: these are plateau medians of their committed data, re-tabulated in ../shared/peer-data/).
KIMBOCHEN = (
    "kimbochen/gpu-microbench@bd87adcb442b2fba3aab90c2c8f8e1a3e965cc3c:NewFeatures/TMA/Latency/mem_lat_random/data/"
)
KIMBOCHEN_METHOD = (
    "one thread, random single cycle, 128 B stride, host wall clock x the clock read before the sweep "
    "(H200 1980 MHz), minimum of 8 runs; plateau medians read from the data by gpu-probes"
)
HPMLL_DSM = (
    "HPMLL/NVIDIA-Hopper-Benchmark@c6dc1516fea664f3078615f79dbfea2a7cd1e642:NewFeatures/DSM/Latency/OneToAll/log"
)
HPMLL_METHOD = "one SM to every SM of its cluster, 4096 B chase, printed per (rank, SM) pair"
# (gpu, path, level) -> (cycles, source file)
PUBLISHED_LADDER = {
    ("H200", "tma", "L2"): (385.5, KIMBOCHEN + "h200_tma.txt"),
    ("H200", "tma", "L2-far"): (614.2, KIMBOCHEN + "h200_tma.txt"),
    ("H200", "tma", "DRAM"): (761.4, KIMBOCHEN + "h200_tma.txt"),
    ("H200", "cp-async.ca", "L1"): (75.3, KIMBOCHEN + "h200_cpa.txt"),
    ("H200", "cp-async.ca", "L2"): (315.2, KIMBOCHEN + "h200_cpa.txt"),
    ("H200", "cp-async.ca", "DRAM"): (690.8, KIMBOCHEN + "h200_cpa.txt"),
}
# cluster size -> (local, remote low, remote high) cycles as printed in HPMLL's log (H800, Luo et al. 2025)
PUBLISHED_DSMEM = {2: (33, 181, 181), 3: (33, 203, 207), 4: (33, 201, 207)}
# Documented dense tensor-core peak per SM per clock (FLOP, or OP for s8). H100 whitepaper: Hopper's SM does 2x the
# A100 SM's dense MMA rate clock for clock; A100: 312 TFLOPS FP16 on 108 SMs at 1410 MHz = 2048 FLOP/clk/SM.
PEAK_SOURCE = (
    "NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022): 2x A100's per-SM dense rate, A100 = "
    "312 TFLOPS FP16 / (108 SMs x 1410 MHz) = 2048 FLOP/clk/SM; TF32 half, FP8/INT8 twice the FP16 rate"
)
PEAK_FLOP_PER_CLK_SM = {"f16": 4096, "bf16": 4096, "tf32": 2048, "e4m3": 8192, "e5m2": 8192, "s8": 8192}
LADDER_PATHS = {
    "latency.ladder.global": "LDG (default)",
    "latency.ladder.cp-async.ca": "cp.async.ca",
    "latency.ladder.cp-async.cg": "cp.async.cg",
    "latency.ladder.tma": "TMA 1D (cp.async.bulk)",
}


def latest(docs: list[dict], name: str) -> dict | None:
    runs = [d for d in docs if d["probe"]["name"] == name and d.get("points")]
    return max(runs, key=lambda d: d.get("started_at") or "") if runs else None


def _sample_median(point: dict, key: str):
    vals = [
        r[key]
        for r in point.get("samples", [])
        if not r.get("throttled") and isinstance(r.get(key), (int, float)) and math.isfinite(r[key])
    ]
    return median(vals) if vals else None


def _sample_mode(point: dict, key: str):
    vals = [r[key] for r in point.get("samples", []) if r.get(key) is not None]
    return max(set(vals), key=vals.count) if vals else None


AXES = {
    "latency.dsmem": ("cluster_size", "peer"),
    "latency.cluster-barrier": ("cluster_size", "relaxed"),
    "latency.mbarrier": ("op",),
    "tensor.wgmma.latency": ("dtype", "n", "operands"),
    "tensor.wgmma.throughput": ("dtype", "n", "operands"),
    "tensor.tcgen05.latency": ("n",),
    "bandwidth.bulk": ("mode", "bytes", "depth"),
    "bandwidth.dsmem": ("cluster_size", "peer_shift"),
}


def point_table(docs: list[dict], name: str, medians: tuple[str, ...] = (), modes: tuple[str, ...] = ()):
    """One row per point of the latest run of `name`, in sweep order; empty frame when there is none. Points
    without the probe's axes (a result of another version) are left out."""
    import pandas as pd

    doc = latest(docs, name)
    rows = []
    for p in (doc or {}).get("points", []):
        s = p.get("summary") or {}
        if s.get("median") is None or not all(a in p.get("axes", {}) for a in AXES.get(name, ())):
            continue
        row = dict(p.get("axes", {}))
        row.update(median=float(s["median"]), ci_low=s.get("ci_low"), ci_high=s.get("ci_high"), samples=s.get("n"))
        row.update({k: _sample_median(p, k) for k in medians})
        row.update({k: _sample_mode(p, k) for k in modes})
        rows.append(row)
    return pd.DataFrame(rows)


def ladder_levels(doc: dict) -> list:
    pts = sorted(
        (float(p["axes"]["footprint_bytes"]), float(p["summary"]["median"]))
        for p in doc["points"]
        if p.get("summary", {}).get("median") is not None and "footprint_bytes" in p.get("axes", {})
    )
    return detect_levels([f for f, _ in pts], [c for _, c in pts]) if pts else []


def path_levels(docs: list[dict]):
    """Rows (path, level, latency, CI, LDG latency at that level, difference to LDG) for every ladder present."""
    import pandas as pd

    levels = {name: ladder_levels(doc) for name in LADDER_PATHS if (doc := latest(docs, name))}
    ldg = {lv.name: lv for lv in levels.get("latency.ladder.global", [])}
    rows = []
    for name, lvs in levels.items():
        for lv in lvs:
            base = ldg.get(lv.name)
            rows.append(
                {
                    "path": LADDER_PATHS[name],
                    "probe": name,
                    "level (inferred)": lv.name,
                    "latency [cycles]": round(lv.latency_cycles, 1),
                    "95 % CI [cycles]": f"{lv.latency_ci_low:.1f} – {lv.latency_ci_high:.1f}",
                    "LDG at this level [cycles]": None if base is None else round(base.latency_cycles, 1),
                    "minus LDG [cycles]": None
                    if base is None or name == "latency.ladder.global"
                    else round(lv.latency_cycles - base.latency_cycles, 1),
                }
            )
    return pd.DataFrame(rows)


def published_ladder_rows(gpu_name: str | None, frame) -> list[dict]:
    """Our async-ladder plateaus beside the values read from kimbochen/gpu-microbench's data for the same GPU."""
    if not gpu_name or frame.empty:
        return []
    rows = []
    for (gpu, path, level), (value, source) in PUBLISHED_LADDER.items():
        if gpu.lower() not in gpu_name.lower():
            continue
        ours = frame[(frame["probe"] == f"latency.ladder.{path}") & (frame["level (inferred)"] == level)]
        rows.append(
            {
                "path": path,
                "level": level,
                "ours [cycles]": float(ours["latency [cycles]"].iloc[0]) if len(ours) else None,
                "published [cycles]": value,
                "published by": source,
                "their method": KIMBOCHEN_METHOD,
            }
        )
    return rows


def dsmem_summary(frame):
    """Per cluster size: local latency (peer 0), median/min/max over remote peers, and the published values."""
    import pandas as pd

    if frame.empty:
        return pd.DataFrame()
    rows = []
    for cs, sub in frame.groupby("cluster_size"):
        local = sub[sub["peer"] == 0]["median"]
        remote = sub[sub["peer"] != 0]["median"]
        pub = PUBLISHED_DSMEM.get(int(cs))
        rows.append(
            {
                "cluster size": int(cs),
                "local [cycles]": float(local.iloc[0]) if len(local) else None,
                "remote median [cycles]": float(remote.median()) if len(remote) else None,
                "remote min [cycles]": float(remote.min()) if len(remote) else None,
                "remote max [cycles]": float(remote.max()) if len(remote) else None,
                "remote peers": int(len(remote)),
                "published remote [cycles]": None
                if pub is None
                else (f"{pub[1]}" if pub[1] == pub[2] else f"{pub[1]} – {pub[2]}"),
                "published by": HPMLL_DSM if pub else "",
            }
        )
    return pd.DataFrame(rows)


def dsmem_distance_table(docs: list[dict]):
    """latency.dsmem samples grouped by peer-SM distance |%smid(peer) - %smid(rank 0)| (local = peer 0, the chasing
    CTA's own shared memory; remote = every other rank). Samples, not points: the scheduler may place a cluster on
    other SMs at every launch, so one point can hold several SM pairs. %smid is a virtual id: a distance between ids
    is a label for the pair, not a physical distance on the die (it shows whether latency follows the ids, nothing
    more). Rows: kind, distance, samples, SM pairs, cluster sizes, median/min/max cycles, %nsmid seen."""
    import pandas as pd

    doc = latest(docs, "latency.dsmem")
    key = ((doc or {}).get("probe") or {}).get("value_key") or "cycles_per_op"
    groups: dict = {}
    for p in (doc or {}).get("points", []):
        axes = p.get("axes", {})
        if not all(a in axes for a in AXES["latency.dsmem"]):
            continue
        for r in p.get("samples", []):
            v, a, b = r.get(key), r.get("sm_self"), r.get("sm_peer")
            if r.get("throttled") or not isinstance(v, (int, float)) or not math.isfinite(v) or a is None or b is None:
                continue
            g = groups.setdefault(
                ("local" if axes["peer"] == 0 else "remote", abs(int(b) - int(a))),
                {"v": [], "pairs": set(), "cs": set(), "nsmid": set()},
            )
            g["v"].append(float(v))
            g["pairs"].add((int(a), int(b)))
            g["cs"].add(int(axes["cluster_size"]))
            if r.get("nsmid") is not None:
                g["nsmid"].add(int(r["nsmid"]))
    rows = [
        {
            "peer": kind,
            "|Δ smid|": d,
            "samples": len(g["v"]),
            "SM pairs": len(g["pairs"]),
            "cluster sizes": ",".join(map(str, sorted(g["cs"]))),
            "median [cycles]": round(median(g["v"]), 1),
            "min [cycles]": round(min(g["v"]), 1),
            "max [cycles]": round(max(g["v"]), 1),
            "%nsmid": ",".join(map(str, sorted(g["nsmid"]))) or None,
        }
        for (kind, d), g in sorted(groups.items())
    ]
    return pd.DataFrame(rows)


def wgmma_table(lat, tput):
    """Join latency and throughput per (dtype, n, operands); throughput as FLOP/clk/SM and % of the documented peak."""
    import pandas as pd

    keys = ["dtype", "n", "operands"]
    if lat.empty and tput.empty:
        return pd.DataFrame()
    out = None
    if not lat.empty:
        out = lat[keys + ["median", "ci_low", "ci_high"]].rename(
            columns={"median": "latency [cycles]", "ci_low": "latency CI low", "ci_high": "latency CI high"}
        )
    if not tput.empty:
        t = tput[keys + ["median", "flop_per_clk_sm"]].rename(
            columns={"median": "cycles per MMA (pipelined)", "flop_per_clk_sm": "FLOP/clk/SM"}
        )
        out = t if out is None else out.merge(t, on=keys, how="outer")
    if "FLOP/clk/SM" in out:
        peak = out["dtype"].map(PEAK_FLOP_PER_CLK_SM)
        out["documented peak [FLOP/clk/SM]"] = peak
        out["% of peak"] = (100 * out["FLOP/clk/SM"] / peak).round(1)
    return out.sort_values(keys).reset_index(drop=True)


BULK_MODES = {
    "tma": "TMA 1D (cp.async.bulk)",
    "tma2d": "TMA 2D (cp.async.bulk.tensor.2d)",
    "ldgsts": "LDGSTS (cp.async.cg)",
    "copy": "ld.global.v4 + st.shared.v4",
}


def bulk_table(frame):
    """bandwidth.bulk per (mode, hint, bytes, depth): GB/s [CI], % of the same run's ceiling (the best point of the
    synchronous `copy` mode; None when the run has no copy point) and, for a cache-hinted point, its ratio to the
    same (mode, bytes, depth) without a hint. Results from before the hint axis count as hint `none`."""
    if frame.empty:
        return frame
    out = frame.rename(columns={"median": "GB/s", "ci_low": "CI low", "ci_high": "CI high"}).copy()
    out["hint"] = out["hint"].fillna("none") if "hint" in out else "none"
    copy = out[out["mode"] == "copy"]["GB/s"]
    ceiling = float(copy.max()) if len(copy) else None
    out["% of copy ceiling"] = None if ceiling is None else (100 * out["GB/s"] / ceiling).round(1)
    plain = {(r["mode"], r["bytes"], r["depth"]): r["GB/s"] for r in out.to_dict("records") if r["hint"] == "none"}
    out["vs no hint"] = [
        None
        if r["hint"] == "none" or (r["mode"], r["bytes"], r["depth"]) not in plain
        else round(r["GB/s"] / plain[(r["mode"], r["bytes"], r["depth"])], 3)
        for r in out.to_dict("records")
    ]
    cols = ["mode", "hint", "bytes", "depth"]
    return out[cols + [c for c in out.columns if c not in cols]].sort_values(cols).reset_index(drop=True)


def dsmem_bandwidth_table(frame):
    """bandwidth.dsmem per (cluster size, peer shift): GB/s [CI] over the grid, bytes/clk per CTA, and the share
    of the same cluster size's local read (shift 0: the CTA's own buffer through the cluster window)."""
    if frame.empty:
        return frame
    out = frame.rename(
        columns={"median": "GB/s", "ci_low": "CI low", "ci_high": "CI high", "bytes_per_clk_cta": "bytes/clk/CTA"}
    ).copy()
    local = {r["cluster_size"]: r["GB/s"] for r in out.to_dict("records") if r["peer_shift"] == 0}
    out["% of local"] = [
        None
        if r["cluster_size"] not in local or r["peer_shift"] == 0
        else round(100 * r["GB/s"] / local[r["cluster_size"]], 1)
        for r in out.to_dict("records")
    ]
    return out.sort_values(["cluster_size", "peer_shift"]).reset_index(drop=True)


def flop_per_clk(n: int, k: int, warpgroups: int, cycles_per_mma: float) -> float:
    """FLOP per clock per SM of `warpgroups` warpgroups each completing one m64nNkK MMA every `cycles_per_mma`."""
    if cycles_per_mma <= 0:
        raise ValueError("cycles per MMA must be > 0")
    return warpgroups * 2 * 64 * n * k / cycles_per_mma
