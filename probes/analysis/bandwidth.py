"""Bandwidth levels from a bandwidth-vs-working-set ladder, Little's law on the occupancy sweep, the documented
peak HBM bandwidth, and the shared-memory and L2 near/far summaries. No CUDA.

Plateau detection is the latency-ladder method (probes/analysis/levels.py) for a quantity that *falls* as the
working set leaves a level; cleaning, segmentation and the plateau test are levels.py's own functions (with this
module's parameters), grouping, naming and the end threshold are this module's:
1. Sort by working set, median bandwidth per working set, drop non-positive or non-finite values.
2. A 3-point running median (scipy.ndimage, mirrored edges) removes isolated outliers (an edge point measured
   before the clocks settled); it leaves steps and monotone ramps unchanged.
3. PELT (l2 cost; levels.pelt_l2, ruptures' recursion) segments ln(bandwidth); penalty = max(a floor worth a 3 %
   step, 3 sigma^2 ln n) with sigma the robust noise of first differences.
4. A segment is a plateau candidate with >= `min_points` points, a 10th..90th percentile spread within
   `flat_tolerance` and a Theil-Sen slope below `max_slope_per_octave` (scipy.stats.theilslopes), both on the
   smoothed and on the raw values (smoothing alone would flatten pure noise); ramp points never define a level.
5. Neighbouring candidates closer than `min_level_ratio` are one level (L2 -> DRAM is >= 2.5x on the published
   ladders; slow declines inside DRAM are < 1.15x). A level's bandwidth is the median (bootstrap 95 % CI) of its
   *core*: the candidate spanning the most octaves of working set.
6. Level k ends in the working-set bracket where the smoothed bandwidth first falls below
   B_k * (B_{k+1} / B_k) ** `end_fraction`: `end_bytes_low` is the last point still (almost) fully served by level
   k, `end_bytes_high` the first one measurably served by the next. With 0.15 that is ~0.83x the L2 plateau for an
   L2 -> DRAM drop of ~3.5x.

What it does not prove: a plateau's CI covers the spread of the points on it (and, for our own results, each point
is the median of repeated launches), not the method's bias: timer placement, clock changes, the access pattern.
Level names (L1, L2, DRAM) are inferred from their order, not measured.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from probes import verdicts as V
from probes.analysis.levels import clean_pairs, is_plateau, segments
from probes.stats import median_ci

METHOD_NAME = "ruptures-pelt-l2 on ln(bandwidth), plateau cores, geometric end threshold"
LITTLE_FRACTION = 0.9
PEAK_MATCH = 0.90  # a DRAM plateau whose CI reaches 90 % of the documented peak "matches" it
PEAK_SOURCE = (
    "documented peak = 2 x memory clock x bus width / 8 (double data rate), from the driver's "
    "CU_DEVICE_ATTRIBUTE_MEMORY_CLOCK_RATE and CU_DEVICE_ATTRIBUTE_GLOBAL_MEMORY_BUS_WIDTH"
)


@dataclass(frozen=True)
class BandwidthParams:
    min_points: int = 3
    flat_tolerance: float = 0.12  # p90/p10 - 1 of a plateau candidate
    max_slope_per_octave: float = 0.10  # |d ln(bandwidth) / d log2(working set)|
    min_level_ratio: float = 1.25
    end_fraction: float = 0.15
    min_step_penalty: float = 0.03
    noise_penalty_factor: float = 3.0
    confidence: float = 0.95

    def describe(self) -> dict:
        return {"name": METHOD_NAME, **asdict(self)}


@dataclass(frozen=True)
class BandwidthLevel:
    name: str
    bandwidth_GBps: float
    bandwidth_ci_low: float
    bandwidth_ci_high: float
    end_bytes_low: float | None  # last working set still served by this level (None for the last level)
    end_bytes_high: float | None  # first working set measurably served by the next
    n_points: int
    plateau_bytes_low: float
    plateau_bytes_high: float
    zone_bytes_low: float
    zone_bytes_high: float

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.end_bytes_low is None:
            del d["end_bytes_low"], d["end_bytes_high"]
        return d


def clean(working_set, bandwidth) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique working sets and the median bandwidth at each; invalid points dropped."""
    return clean_pairs(working_set, bandwidth, "working_set", "bandwidth")


def infer_names(bandwidths: list[float]) -> list[str]:
    """From the last level back: DRAM, L2, L1, then level-k (a guess from order, stated as such in reports)."""
    k = len(bandwidths)
    if k <= 1:
        return ["level-1"] * k
    names = ["DRAM", "L2", "L1"][:k][::-1]
    return [f"level-{i + 1}" for i in range(k - len(names))] + names


def detect_levels(working_set, bandwidth, params: BandwidthParams | None = None) -> list[BandwidthLevel]:
    """Bandwidth levels, smallest working set first; empty when no plateau qualifies."""
    p = params or BandwidthParams()
    ws, bw = clean(working_set, bandwidth)
    if ws.size == 0:
        return []
    x = np.log2(ws)
    smooth = ndimage.median_filter(bw, size=3, mode="mirror") if bw.size >= 3 else bw
    y = np.log(smooth)
    raw = np.log(bw)
    cands = [(a, b) for a, b in segments(y, p) if is_plateau(x[a:b], y[a:b], p) and is_plateau(x[a:b], raw[a:b], p)]
    groups: list[list[tuple[int, int]]] = []
    for c in cands:
        if groups:
            ref = float(np.median(bw[slice(*_core(groups[-1], x))]))
            here = float(np.median(bw[c[0] : c[1]]))
            if max(ref, here) / min(ref, here) < p.min_level_ratio:
                groups[-1].append(c)
                continue
        groups.append([c])
    cores = [_core(g, x) for g in groups]
    est = [median_ci(bw[a:b], confidence=p.confidence) for a, b in cores]
    names = infer_names([e[0] for e in est])
    levels = []
    for i, (g, (a, b), (med, lo, hi)) in enumerate(zip(groups, cores, est)):
        end_lo = end_hi = None
        if i + 1 < len(groups):
            end_lo, end_hi = _end(ws, smooth, a, cores[i + 1][0], med, est[i + 1][0], p)
        levels.append(
            BandwidthLevel(
                names[i],
                med,
                lo,
                hi,
                end_lo,
                end_hi,
                b - a,
                float(ws[a]),
                float(ws[b - 1]),
                float(ws[g[0][0]]),
                float(ws[g[-1][1] - 1]),
            )
        )
    return levels


def _core(group, x) -> tuple[int, int]:
    return max(group, key=lambda c: (x[c[1] - 1] - x[c[0]], c[1] - c[0]))


def _end(ws, smooth, start, next_start, here, nxt, p: BandwidthParams) -> tuple[float, float]:
    threshold = here * (nxt / here) ** p.end_fraction
    seg = smooth[start : next_start + 1]
    past = seg < threshold if nxt < here else seg > threshold
    hits = np.flatnonzero(past)
    first = start + (int(hits[0]) if hits.size else next_start - start)
    first = max(first, start + 1)
    return float(ws[first - 1]), float(ws[first])


# ---- documented peak and verdict ---------------------------------------------------------------------------------


def documented_peak_gbps(memory_clock_khz, bus_width_bits) -> float | None:
    """2 x memory clock x bus width / 8 in GB/s (10^9 B/s), or None when either is unknown."""
    try:
        clock, bus = float(memory_clock_khz), float(bus_width_bits)
    except (TypeError, ValueError):
        return None
    if not (clock > 0 and bus > 0):
        return None
    return 2 * clock * 1e3 * bus / 8 / 1e9


def peak_verdict(level: BandwidthLevel | None, peak: float | None) -> tuple[str, str]:
    """(label, why) for a DRAM plateau against the documented peak, from the closed vocabulary."""
    if level is None or peak is None:
        return V.INCONCLUSIVE, "no DRAM plateau or no documented peak (memory clock and bus width)"
    pct = 100 * level.bandwidth_GBps / peak
    if level.bandwidth_ci_low > 1.02 * peak:
        return V.DOCUMENTED_DIFFERS, f"{pct:.1f} % of the documented peak: above it (clock or width misread?)"
    if level.bandwidth_ci_high >= PEAK_MATCH * peak:
        return V.DOCUMENTED_MATCHES, f"{pct:.1f} % of the documented peak (>= {PEAK_MATCH:.0%} counts as reached)"
    return V.DOCUMENTED_DIFFERS, f"{pct:.1f} % of the documented peak (< {PEAK_MATCH:.0%})"


# ---- Little's law ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LittleResult:
    plateau_GBps: float
    target_GBps: float
    bytes_in_flight_per_sm: float | None  # interpolated (log-log) bytes in flight per SM reaching the target
    bracket: tuple[float, float] | None  # the measured points either side
    implied_latency_ns: float | None  # Little: in flight (whole GPU) / bandwidth at the plateau's onset
    reached: bool


def littles_law(in_flight_per_sm, bandwidth, sms: int, fraction: float = LITTLE_FRACTION) -> LittleResult:
    """Bytes in flight per SM needed for `fraction` of the plateau (the best median bandwidth of the sweep):
    the smallest in-flight amount whose bandwidth reaches it, interpolated in log-log space from the point below."""
    f, b = clean(in_flight_per_sm, bandwidth)
    if f.size == 0:
        raise ValueError("Little's law needs at least one point with bytes in flight and bandwidth")
    plateau = float(np.max(b))
    target = fraction * plateau
    above = np.flatnonzero(b >= target)
    i = int(above[0])
    if i == 0:
        need, bracket = float(f[0]), None
    else:
        x0, x1, y0, y1 = np.log(f[i - 1]), np.log(f[i]), np.log(b[i - 1]), np.log(b[i])
        need = float(np.exp(x0 + (np.log(target) - y0) * (x1 - x0) / (y1 - y0))) if y1 != y0 else float(f[i])
        bracket = (float(f[i - 1]), float(f[i]))
    latency = need * sms / target if sms else None  # bytes / (GB/s) = ns
    return LittleResult(plateau, target, need, bracket, latency, True)


# ---- shared memory and L2 near/far ---------------------------------------------------------------------------------


def shared_table(rows: list[dict]) -> list[dict]:
    """Per (access, stride): bytes/clk/SM and the slowdown against stride 1 of the same access (bank conflicts)."""
    base = {r["access"]: r["bytes_per_clk"] for r in rows if r["stride"] == 1}
    out = []
    for r in sorted(rows, key=lambda r: (r["access"], r["stride"])):
        ref = base.get(r["access"])
        out.append({**r, "slowdown_vs_stride_1": (ref / r["bytes_per_clk"]) if ref and r["bytes_per_clk"] else None})
    return out


@dataclass
class NearFarBandwidth:
    split: bool
    reason: str
    near_bytes_per_clk: float | None = None
    near_ci: tuple[float, float] | None = None
    far_bytes_per_clk: float | None = None
    far_ci: tuple[float, float] | None = None
    all_bytes_per_clk: float | None = None
    all_ci: tuple[float, float] | None = None
    n_cells: int = 0


def nearfar_bandwidth(sm, window, latency, bytes_per_clk) -> NearFarBandwidth:
    """Near/far cells from their latencies (probes.analysis.nearfar: dip test gate, two-means split), then the
    median bandwidth per SM of near and of far cells with bootstrap CIs."""
    from probes.analysis import nearfar as nf

    res = nf.analyse(sm, window, latency)
    bw = nf.cell_medians(sm, window, bytes_per_clk)
    allv = np.array(list(bw.values()), dtype=float)
    med, lo, hi = median_ci(allv)
    out = NearFarBandwidth(res.split, res.reason, all_bytes_per_clk=med, all_ci=(lo, hi), n_cells=len(bw))
    if res.split:
        for cls in ("near", "far"):
            vals = np.array([bw[k] for k, c in res.cells.items() if c["class"] == cls and k in bw], dtype=float)
            m, a, b = median_ci(vals)
            setattr(out, f"{cls}_bytes_per_clk", m)
            setattr(out, f"{cls}_ci", (a, b))
    return out


# ---- our results documents -------------------------------------------------------------------------------------------


def point_rows(doc: dict, x_key: str) -> list[dict]:
    """Per point: its axes, the stored median/CI of the headline value, and medians of useful sample fields."""
    rows = []
    for pt in doc.get("points", []):
        s = pt.get("summary") or {}
        axes = pt.get("axes") or {}
        if x_key not in axes or not isinstance(s.get("median"), (int, float)):
            continue
        clean_rows = [r for r in pt.get("samples", []) if not r.get("throttled")] or pt.get("samples", [])

        def med(field):
            v = [r[field] for r in clean_rows if isinstance(r.get(field), (int, float)) and math.isfinite(r[field])]  # noqa: B023  (called at once, in this iteration)
            return float(np.median(v)) if v else None

        rows.append(
            {
                **axes,
                "median": float(s["median"]),
                "ci_low": s.get("ci_low"),
                "ci_high": s.get("ci_high"),
                "bandwidth_gbps": med("bandwidth_gbps"),
                "bytes_per_clk_per_sm": med("bytes_per_clk_per_sm"),
                "sm_clock_mhz": med("sm_clock_mhz"),
                "memory_clock_khz": med("memory_clock_khz"),
                "memory_bus_width_bits": med("memory_bus_width_bits"),
                "bytes_in_flight_per_sm": med("bytes_in_flight_per_sm"),
                "co_resident": med("co_resident"),
            }
        )
    return sorted(rows, key=lambda r: (str(r.get("op", "")), r[x_key]))


def doc_peak(doc: dict) -> float | None:
    """The documented peak from a document's samples (memory clock and bus width stored by every launch)."""
    env = doc.get("environment") or {}
    for pt in doc.get("points", []):
        for r in pt.get("samples", []):
            peak = documented_peak_gbps(
                r.get("memory_clock_khz") or env.get("memory_clock_rate_khz"),
                r.get("memory_bus_width_bits") or env.get("memory_bus_width_bits"),
            )
            if peak:
                return peak
    return None
