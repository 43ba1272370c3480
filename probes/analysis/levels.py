"""Cache levels from a latency ladder: plateaus with bootstrap CIs, capacities as intervals, names by relative latency.

Method (each step is a library call or a one-line rule, so the result can be explained point by point):
1. Sort by footprint, take the median latency per footprint, drop non-positive or non-finite values.
2. A 3-point running median (scipy.ndimage, mirrored edges) removes isolated outliers; it leaves steps and monotone
   ramps unchanged, so it cannot move a transition.
3. ruptures' PELT (l2 cost) segments ln(latency) in sweep order. The penalty is the larger of a floor (a 3 % step is
   not worth a segment on its own) and a BIC-like term from the robust noise of first differences.
4. A segment is a *plateau candidate* when it has >= `min_points` points, its 10th..90th percentile spread is within
   `flat_tolerance` and its Theil-Sen slope (scipy.stats.theilslopes) is below `max_slope_per_octave`; the other
   points are ramp (transition) points. Real ladders have ramps, not steps: ramp points never define a level.
5. Neighbouring candidates whose latencies differ by less than `min_level_ratio` are one level (TLB and page-mapping
   wobble inside DRAM is < 1.12x on the published ladders; distinct levels differ by >= 1.3x: far L2 / near L2
   ~1.8, DRAM / far L2 ~1.35, L2 / L1 >= 5). The level's latency comes from its *core*: the candidate spanning the
   most octaves of footprint (sampling density is a choice of the sweep, the footprint axis is the hardware's).
6. Capacity of level k is the footprint bracket where the latency first rises past
   L_k * (L_{k+1} / L_k) ** `capacity_fraction`: the last point still (almost) fully served by level k and the first
   one measurably served by the next. With 0.15 this is 1.3x L1 for an L1->L2 step of ~8x and 1.1x L2 for a near->far
   step of ~1.8x, the edge definitions used by the hand readings of the published ladders.

What it does not prove: a plateau's CI covers the spread of the points on it, not bias from the method (timer
placement, clock conversion, footprint rounding). Names are inferred from order and latency ratios, not measured.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage, stats

from probes.engine.stopping import median_ci
from probes.optional import lazy

ruptures = lazy("ruptures")  # the [report] extra: needed when a ladder is analysed, not to import this module

METHOD_NAME = "ruptures-pelt-l2 on ln(latency), plateau cores, geometric capacity threshold"


@dataclass(frozen=True)
class DetectionParams:
    min_points: int = 3                 # fewer points than this on a flat stretch is a ramp, not a level
    flat_tolerance: float = 0.10        # p90/p10 - 1 of a plateau candidate
    max_slope_per_octave: float = 0.15  # |d ln(latency) / d log2(footprint)| of a plateau candidate
    min_level_ratio: float = 1.2        # candidates closer than this in latency are the same level
    capacity_fraction: float = 0.15     # where on the log-latency step the next level "takes over"
    min_step_penalty: float = 0.03      # a step smaller than this (relative) is never a segment by itself
    noise_penalty_factor: float = 3.0   # multiplies sigma^2 * ln(n) in the PELT penalty
    confidence: float = 0.95

    def describe(self) -> dict:
        return {"name": METHOD_NAME, **asdict(self)}


@dataclass(frozen=True)
class Level:
    name: str
    latency_cycles: float
    latency_ci_low: float
    latency_ci_high: float
    capacity_bytes_low: float | None    # last footprint still served by this level (None for the last level)
    capacity_bytes_high: float | None   # first footprint where the next level measurably takes over
    n_points: int                       # points the latency and its CI come from (the plateau core)
    plateau_bytes_low: float            # footprint extent of the core
    plateau_bytes_high: float
    zone_bytes_low: float               # extent of all plateau points assigned to this level
    zone_bytes_high: float
    n_zone_points: int

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.capacity_bytes_low is None:
            del d["capacity_bytes_low"], d["capacity_bytes_high"]
        return d


@dataclass
class _Candidate:
    start: int          # index range [start, stop) into the cleaned ladder
    stop: int
    median: float

    def span_octaves(self, log2_fp: np.ndarray) -> float:
        return float(log2_fp[self.stop - 1] - log2_fp[self.start])


@dataclass
class _Group:
    members: list = field(default_factory=list)

    def core(self, log2_fp: np.ndarray) -> _Candidate:
        return max(self.members, key=lambda c: (c.span_octaves(log2_fp), c.stop - c.start))


def clean_ladder(footprint_bytes, latency) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique footprints and the median latency at each; invalid points dropped."""
    fp = np.asarray(footprint_bytes, dtype=float).ravel()
    lat = np.asarray(latency, dtype=float).ravel()
    if fp.shape != lat.shape:
        raise ValueError(f"footprint_bytes has {fp.size} values but latency has {lat.size}")
    ok = np.isfinite(fp) & np.isfinite(lat) & (fp > 0) & (lat > 0)
    fp, lat = fp[ok], lat[ok]
    if fp.size == 0:
        return fp, lat
    uniq, inverse = np.unique(fp, return_inverse=True)
    med = np.array([np.median(lat[inverse == i]) for i in range(uniq.size)])
    return uniq, med


def _penalty(y: np.ndarray, p: DetectionParams) -> float:
    floor = 2 * np.log1p(p.min_step_penalty) ** 2
    if y.size < 3:
        return floor
    sigma = stats.median_abs_deviation(np.diff(y), scale="normal") / np.sqrt(2)
    return float(max(floor, p.noise_penalty_factor * sigma ** 2 * np.log(y.size)))


def _segments(y: np.ndarray, p: DetectionParams) -> list[tuple[int, int]]:
    if y.size < 2:
        return [(0, y.size)]
    ends = ruptures.Pelt(model="l2", min_size=1, jump=1).fit(y.reshape(-1, 1)).predict(pen=_penalty(y, p))
    starts = [0, *ends[:-1]]
    return list(zip(starts, ends))


def _is_plateau(x: np.ndarray, y: np.ndarray, p: DetectionParams) -> bool:
    if y.size < p.min_points:
        return False
    lo, hi = np.percentile(y, [10, 90])
    if np.expm1(hi - lo) > p.flat_tolerance:
        return False
    if np.ptp(x) == 0:
        return True
    slope = stats.theilslopes(y, x).slope
    return bool(abs(slope) <= p.max_slope_per_octave)


def _group(cands: list[_Candidate], log2_fp: np.ndarray, p: DetectionParams) -> list[_Group]:
    groups: list[_Group] = []
    for c in cands:
        if groups:
            ref = groups[-1].core(log2_fp).median
            if max(c.median, ref) / min(c.median, ref) < p.min_level_ratio:
                groups[-1].members.append(c)
                continue
        groups.append(_Group([c]))
    return groups


def infer_names(latencies: list[float]) -> list[str]:
    """L1, L2, L2-far, DRAM ... from order and latency ratios (a guess, stated as such in reports).

    The L1->L2 step is >= 3x on every published ladder, L2 near->far ~1.6-1.9x, far->DRAM ~1.35x.
    """
    k = len(latencies)
    if k == 0:
        return []
    if any(b <= a for a, b in zip(latencies, latencies[1:])):
        return [f"level-{i + 1}" for i in range(k)]
    if k == 1:
        return ["level-1"]
    first_is_l1 = latencies[1] / latencies[0] >= 3
    if k == 2:
        return ["L1", "L2"] if first_is_l1 else ["L2", "DRAM"]
    names = ["L1" if first_is_l1 else "L2"]
    for i in range(1, k - 1):
        prev = names[-1]
        if prev == "L1":
            names.append("L2")
        elif prev == "L2" and latencies[i] / latencies[i - 1] < 2.5:
            names.append("L2-far")
        else:
            names.append(f"level-{i + 1}")
    names.append("DRAM")
    return names


def detect_levels(footprint_bytes, latency, params: DetectionParams | None = None) -> list[Level]:
    """Levels of a latency ladder, smallest footprint first. Empty when no plateau qualifies (too few points, noise)."""
    p = params or DetectionParams()
    fp, lat = clean_ladder(footprint_bytes, latency)
    if fp.size == 0:
        return []
    log2_fp = np.log2(fp)
    y_smooth = np.log(ndimage.median_filter(lat, size=3, mode="mirror")) if lat.size >= 3 else np.log(lat)

    cands = []
    for a, b in _segments(y_smooth, p):
        if _is_plateau(log2_fp[a:b], y_smooth[a:b], p):
            cands.append(_Candidate(a, b, float(np.median(lat[a:b]))))
    groups = _group(cands, log2_fp, p)

    cores = [g.core(log2_fp) for g in groups]
    estimates = [median_ci(lat[c.start:c.stop], confidence=p.confidence) for c in cores]
    names = infer_names([e[0] for e in estimates])
    smooth = np.exp(y_smooth)

    levels = []
    for i, (g, core, (med, lo, hi)) in enumerate(zip(groups, cores, estimates)):
        cap_lo = cap_hi = None
        if i + 1 < len(groups):
            cap_lo, cap_hi = _capacity(fp, smooth, core, cores[i + 1], med, estimates[i + 1][0], p)
        zone_lo, zone_hi = g.members[0].start, g.members[-1].stop - 1
        levels.append(Level(
            name=names[i], latency_cycles=med, latency_ci_low=lo, latency_ci_high=hi,
            capacity_bytes_low=cap_lo, capacity_bytes_high=cap_hi, n_points=core.stop - core.start,
            plateau_bytes_low=float(fp[core.start]), plateau_bytes_high=float(fp[core.stop - 1]),
            zone_bytes_low=float(fp[zone_lo]), zone_bytes_high=float(fp[zone_hi]),
            n_zone_points=int(sum(c.stop - c.start for c in g.members))))
    return levels


def _capacity(fp, smooth, core, next_core, lat_here, lat_next, p: DetectionParams) -> tuple[float, float]:
    """Footprint bracket where the smoothed latency first exceeds the geometric threshold between two plateaus."""
    if lat_next > lat_here:
        threshold = lat_here * (lat_next / lat_here) ** p.capacity_fraction
        above = smooth[core.start:next_core.start + 1] > threshold
    else:  # a faster level after a slower one (odd ladder): mirror the rule
        threshold = lat_here * (lat_next / lat_here) ** p.capacity_fraction
        above = smooth[core.start:next_core.start + 1] < threshold
    hits = np.flatnonzero(above)
    first = core.start + (int(hits[0]) if hits.size else next_core.start - core.start)
    first = max(first, core.start + 1)
    return float(fp[first - 1]), float(fp[first])
