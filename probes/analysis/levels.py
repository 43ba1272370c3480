"""Cache levels from a latency ladder: plateaus with bootstrap CIs, capacities as intervals, names by relative latency.

Method (each step is a library call or a one-line rule, so the result can be explained point by point):
1. Sort by footprint, take the median latency per footprint, drop non-positive or non-finite values. More than
   `max_points` raw points is refused (`LadderTooLarge`, one line); more than `bin_above` distinct footprints are
   binned into `bin_above` equal-width bins of log2(footprint) (median latency per bin; each bin keeps its lowest and
   highest footprint, and every footprint interval below is widened to those edges), so the cost is bounded.
2. A 3-point running median (scipy.ndimage, mirrored edges) removes isolated outliers; it leaves steps and monotone
   ramps unchanged, so it cannot move a transition.
3. PELT (l2 cost; ruptures' recursion, vectorised here as `pelt_l2`) segments ln(latency) in sweep order. The
   penalty is the larger of a floor (a 3 % step is not worth a segment on its own) and a BIC-like term from the
   robust noise of first differences.
4. A segment is a *plateau candidate* when it has >= `min_points` points, its 10th..90th percentile spread is within
   `flat_tolerance` and its Theil-Sen slope (scipy.stats.theilslopes) is below `max_slope_per_octave`; the other
   points are ramp (transition) points. Real ladders have ramps, not steps: ramp points never define a level.
5. Neighbouring candidates whose latencies differ by less than `min_level_ratio` are one level (TLB and page-mapping
   wobble inside DRAM is < 1.12x on the published ladders; distinct levels differ by >= 1.3x: far L2 / near L2
   ~1.8, DRAM / far L2 ~1.35, L2 / L1 >= 5). The level's latency comes from its *core*: the candidate spanning the
   most octaves of footprint (sampling density is a choice of the sweep, the footprint axis is the hardware's).
   A level's *flat regions* are its candidates with |slope| <= `sublevel_slope` per octave (slow-ramp pieces that
   passed as candidates are not); two neighbouring flat regions whose median CIs are disjoint and whose medians
   differ by >= `sublevel_ratio` are reported as *sub-levels* ("two plateaus, merged"), each with value and CI.
6. Capacity of level k is what the data can support: from the *last point still inside the CI* of the flat region
   that ends level k to the *first point measurably above it* (the start of the run of points above both that
   region's median CI and its highest point, which leads to level k+1). "Inside" is judged where the plateau ends:
   walking back, a point is inside when it is at most the top of the median CI of the `local_points` points before
   it (so a creeping plateau is judged by its own end), or at most the highest of the region's last
   2 / (1 - confidence) - 1 points before it (39 at 95 %: a distribution-free one-sided prediction bound for one
   more point, so one noisy point does not push the interval back, yet the noise is that of the plateau's end, not
   of a creeping start, and quantised readings need no noise model). Separately, the transition *reaches* level
   k+1 at the first point inside the CI of level k+1's first flat region. It is `sharp` when that footprint is
   within `sharp_ratio` of the first measurably-higher point, else `gradual`, with span = [capacity low, next level
   reached]. When the sweep ends in a rise (or fall) whose last two points lie beyond the last level's flat region,
   that level's exit is a `ramp` (no level after it) and no capacity is claimed.

What it does not prove: a plateau's CI covers the spread of the points on it, not bias from the method (timer
placement, clock conversion, footprint rounding). Names are inferred from order and latency ratios, not measured.
A gradual transition's span is where the level *degrades*; the nominal size can sit anywhere in it.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import ndimage, stats

from probes.optional import lazy
from probes.stats import median_ci

ruptures = lazy("ruptures")  # the [report] extra: needed when a ladder is analysed, not to import this module

METHOD_NAME = (
    "pelt-l2 (ruptures' recursion, vectorised) on ln(latency), plateau cores, capacity from the last "
    "point in the plateau CI to the first point measurably above it"
)
PROGRESS_ABOVE = 100_000  # raw points from which detect_levels shows a progress bar (stderr, terminals only)


class LadderTooLarge(ValueError):
    """More raw points than `DetectionParams.max_points`: refused before any work (one line to show the user)."""


@dataclass(frozen=True)
class DetectionParams:
    min_points: int = 3  # fewer points than this on a flat stretch is a ramp, not a level
    flat_tolerance: float = 0.10  # p90/p10 - 1 of a plateau candidate
    max_slope_per_octave: float = 0.15  # |d ln(latency) / d log2(footprint)| of a plateau candidate
    min_level_ratio: float = 1.2  # candidates closer than this in latency are the same level
    min_step_penalty: float = 0.03  # a step smaller than this (relative) is never a segment by itself
    noise_penalty_factor: float = 3.0  # multiplies sigma^2 * ln(n) in the PELT penalty
    confidence: float = 0.95
    sharp_ratio: float = 1.10  # next level reached within this factor of the first rise: a sharp transition
    sublevel_ratio: float = 1.03  # flat regions of one level this far apart (and CIs disjoint): sub-levels
    sublevel_slope: float = 0.03  # |Theil-Sen slope of ln latency| per octave of a flat region (sub-levels)
    local_points: int = 5  # points before a candidate edge whose median CI is "the plateau where it ends"
    bin_above: int = 2048  # more distinct footprints than this are binned into this many log2 bins
    max_points: int = 5_000_000  # more raw points than this are refused

    def describe(self) -> dict:
        return {"name": METHOD_NAME, **asdict(self)}


@dataclass(frozen=True)
class SubLevel:
    """One flat region inside a level whose value differs from another one's beyond both CIs."""

    latency_cycles: float
    latency_ci_low: float
    latency_ci_high: float
    bytes_low: float
    bytes_high: float
    n_points: int


@dataclass(frozen=True)
class Level:
    name: str
    latency_cycles: float
    latency_ci_low: float
    latency_ci_high: float
    capacity_bytes_low: float | None  # last footprint still inside the plateau's CI (None: no next level)
    capacity_bytes_high: float | None  # first footprint measurably above the plateau
    n_points: int  # points the latency and its CI come from (the plateau core)
    plateau_bytes_low: float  # footprint extent of the core
    plateau_bytes_high: float
    zone_bytes_low: float  # extent of all plateau points assigned to this level
    zone_bytes_high: float
    n_zone_points: int
    transition: str | None = None  # "sharp" | "gradual" to the next level; "ramp": a rise with no level after
    span_bytes_low: float | None = None  # gradual / ramp: where the latency starts to leave this level ...
    span_bytes_high: float | None = None  # ... and where the next level is reached (ramp: the last footprint)
    sublevels: tuple[SubLevel, ...] = ()  # >= 2 when two flat regions of this level differ beyond their CIs

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.capacity_bytes_low is None:
            del d["capacity_bytes_low"], d["capacity_bytes_high"]
        for k in ("transition", "span_bytes_low", "span_bytes_high"):
            if d[k] is None:
                del d[k]
        if not self.sublevels:
            del d["sublevels"]
        else:
            d["sublevels"] = [asdict(s) for s in self.sublevels]
        return d

    @property
    def merged(self) -> bool:
        return len(self.sublevels) >= 2


@dataclass
class _Candidate:
    start: int  # index range [start, stop) into the cleaned ladder
    stop: int
    median: float

    def span_octaves(self, log2_fp: np.ndarray) -> float:
        return float(log2_fp[self.stop - 1] - log2_fp[self.start])


@dataclass
class _Group:
    members: list = field(default_factory=list)

    def core(self, log2_fp: np.ndarray) -> _Candidate:
        return max(self.members, key=lambda c: (c.span_octaves(log2_fp), c.stop - c.start))


def _group_medians(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unique keys (sorted), the median of `values` per key and the count per key; O(n log n), no Python loop."""
    order = np.lexsort((values, keys))
    k, v = keys[order], values[order]
    uniq, first, counts = np.unique(k, return_index=True, return_counts=True)
    lo = first + (counts - 1) // 2
    hi = first + counts // 2
    return uniq, (v[lo] + v[hi]) / 2, counts


def clean_pairs(x, y, x_name: str, y_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique x and the median y at each; pairs with a non-finite or non-positive value dropped. Used for
    latency and bandwidth ladders alike (the names only word the error on a length mismatch)."""
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"{x_name} has {x.size} values but {y_name} has {y.size}")
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[ok], y[ok]
    if x.size == 0:
        return x, y
    uniq, med, _ = _group_medians(x, y)
    return uniq, med


def clean_ladder(footprint_bytes, latency) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique footprints and the median latency at each; invalid points dropped."""
    return clean_pairs(footprint_bytes, latency, "footprint_bytes", "latency")


def bin_ladder(fp: np.ndarray, lat: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(footprint, latency, lowest footprint, highest footprint) per bin: `n_bins` equal-width bins of log2(footprint),
    empty bins dropped, each bin's latency the median of its footprints' medians, its footprint the median one."""
    x = np.log2(fp)
    edges = np.linspace(x[0], x[-1], n_bins + 1)
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, n_bins - 1)
    keys, med, counts = _group_medians(idx.astype(float), lat)
    first = np.r_[0, np.cumsum(counts)[:-1]]  # fp is sorted, so each bin is a contiguous run
    last = first + counts - 1
    mid = first + (counts - 1) // 2
    return fp[mid], med, fp[first], fp[last]


def _penalty(y: np.ndarray, p) -> float:
    floor = 2 * np.log1p(p.min_step_penalty) ** 2
    if y.size < 3:
        return floor
    sigma = stats.median_abs_deviation(np.diff(y), scale="normal") / np.sqrt(2)
    return float(max(floor, p.noise_penalty_factor * sigma**2 * np.log(y.size)))


def pelt_l2(y: np.ndarray, pen: float) -> list[int]:
    """Segment ends of `y` by PELT with the l2 cost, min_size 1, jump 1: the same recursion, pruning and tie-break
    (first minimum) as ruptures.Pelt(model="l2", min_size=1, jump=1).predict(pen), with each step's candidate costs
    computed at once from cumulative sums instead of one numpy call per candidate (ruptures' cost is ~20 us a
    candidate, which made 4 000 points take half a minute). Cross-checked against ruptures in tests/test_levels.py."""
    n = y.size
    yc = y - y.mean()
    c1 = np.concatenate(([0.0], np.cumsum(yc)))
    c2 = np.concatenate(([0.0], np.cumsum(yc * yc)))
    best = np.zeros(n + 1)
    prev = np.zeros(n + 1, dtype=np.int64)
    adm = np.zeros(0, dtype=np.int64)
    for t in range(1, n + 1):
        adm = np.append(adm, t - 1)
        s1 = c1[t] - c1[adm]
        cost = np.maximum(c2[t] - c2[adm] - s1 * s1 / (t - adm), 0.0)
        total = best[adm] + cost + pen
        k = int(np.argmin(total))
        best[t], prev[t] = total[k], adm[k]
        adm = adm[total <= best[t] + pen]
    ends, t = [], n
    while t > 0:
        ends.append(t)
        t = int(prev[t])
    return ends[::-1]


def segments(y: np.ndarray, p) -> list[tuple[int, int]]:
    """[start, stop) of each PELT segment of `y`; `p` is any parameter set with min_step_penalty and
    noise_penalty_factor (DetectionParams, the bandwidth analysis' BandwidthParams)."""
    if y.size < 2:
        return [(0, y.size)]
    ends = pelt_l2(y, _penalty(y, p))
    starts = [0, *ends[:-1]]
    return list(zip(starts, ends))


def is_plateau(x: np.ndarray, y: np.ndarray, p) -> bool:
    """A plateau candidate: >= p.min_points points, 10th..90th percentile spread of `y` (log values) within
    p.flat_tolerance and |Theil-Sen slope| per unit of `x` (log2 size) at most p.max_slope_per_octave."""
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


class _Progress:
    """A few named stages on a tqdm bar (stderr; tqdm hides it when stderr is not a terminal)."""

    def __init__(self, n_raw: int):
        self.bar = None
        if n_raw >= PROGRESS_ABOVE:
            from tqdm import tqdm

            self.bar = tqdm(total=4, desc="ladder", unit="stage", file=sys.stderr, disable=None, leave=False)

    def step(self, what: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(what)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def detect_levels(footprint_bytes, latency, params: DetectionParams | None = None) -> list[Level]:
    """Levels of a latency ladder, smallest footprint first. Empty when no plateau qualifies (too few points, noise).

    Raises LadderTooLarge (a ValueError) beyond `params.max_points` raw points."""
    p = params or DetectionParams()
    n_raw = int(np.size(footprint_bytes))
    if n_raw > p.max_points:
        raise LadderTooLarge(
            f"{n_raw} points is more than the {p.max_points} this analysis accepts (bin or decimate the sweep first)"
        )
    prog = _Progress(n_raw)
    try:
        fp, lat = clean_ladder(footprint_bytes, latency)
        prog.step("pooled per footprint")
        if fp.size == 0:
            return []
        fp_lo = fp_hi = fp
        if fp.size > p.bin_above:
            fp, lat, fp_lo, fp_hi = bin_ladder(fp, lat, p.bin_above)
        prog.step("binned" if fp_lo is not fp else "no binning needed")
        return _detect(fp, lat, fp_lo, fp_hi, p, prog)
    finally:
        prog.close()


def decimation(n_footprints: int, params: DetectionParams | None = None) -> str | None:
    """The stated decimation for a ladder of `n_footprints` distinct footprints (None when none is applied)."""
    p = params or DetectionParams()
    if n_footprints <= p.bin_above:
        return None
    return (
        f"{n_footprints} distinct footprints binned into {p.bin_above} equal log2(footprint) bins "
        "(median per bin); intervals widened to the bins' edges"
    )


def _detect(fp, lat, fp_lo, fp_hi, p: DetectionParams, prog: _Progress) -> list[Level]:
    log2_fp = np.log2(fp)
    y_raw = np.log(lat)
    y_smooth = np.log(ndimage.median_filter(lat, size=3, mode="mirror")) if lat.size >= 3 else y_raw

    cands = []
    for a, b in segments(y_smooth, p):
        if is_plateau(log2_fp[a:b], y_smooth[a:b], p):
            cands.append(_Candidate(a, b, float(np.median(lat[a:b]))))
    prog.step("segmented")
    groups = _group(cands, log2_fp, p)

    cores = [g.core(log2_fp) for g in groups]
    estimates = [median_ci(lat[c.start : c.stop], confidence=p.confidence) for c in cores]
    names = infer_names([e[0] for e in estimates])

    levels = []
    flats = [_flat(g, log2_fp, y_smooth, p) for g in groups]
    for i, (g, core, (med, lo, hi)) in enumerate(zip(groups, cores, estimates)):
        cap_lo = cap_hi = kind = span_lo = span_hi = None
        if i + 1 < len(groups):
            cap_lo, cap_hi, kind, span_lo, span_hi = _transition(
                fp_lo, fp_hi, y_smooth, flats[i][-1], flats[i + 1][0], p
            )
        else:
            ramp = _ramp_after(fp_lo, fp_hi, y_smooth, flats[i][-1], p)
            if ramp is not None:
                kind, (span_lo, span_hi) = "ramp", ramp
        zone_lo, zone_hi = g.members[0].start, g.members[-1].stop - 1
        levels.append(
            Level(
                name=names[i],
                latency_cycles=med,
                latency_ci_low=lo,
                latency_ci_high=hi,
                capacity_bytes_low=cap_lo,
                capacity_bytes_high=cap_hi,
                n_points=core.stop - core.start,
                plateau_bytes_low=float(fp_lo[core.start]),
                plateau_bytes_high=float(fp_hi[core.stop - 1]),
                zone_bytes_low=float(fp_lo[zone_lo]),
                zone_bytes_high=float(fp_hi[zone_hi]),
                n_zone_points=int(sum(c.stop - c.start for c in g.members)),
                transition=kind,
                span_bytes_low=span_lo,
                span_bytes_high=span_hi,
                sublevels=_sublevels(flats[i], lat, fp_lo, fp_hi, p),
            )
        )
    prog.step("levels")
    return levels


def _flat_stats(s: np.ndarray, c: _Candidate, p: DetectionParams) -> tuple[float, float, float]:
    """(median CI low, CI high, bound) of a flat region of `s` (signed log latency); bound = the higher of the CI's
    top and the region's highest point: a point above it is *measurably above* the plateau."""
    vals = s[c.start : c.stop]
    _, lo, hi = median_ci(vals, confidence=p.confidence)
    return lo, hi, max(hi, float(vals.max()))


def _last_inside(s: np.ndarray, start: int, first: int, p: DetectionParams) -> int:
    """Walking back from the point before `first`: the last point inside the plateau's CI where it ends: at most the
    top of the median CI of the `local_points` points before it, or at most the highest of the (up to) 39 points
    before it (95 %: a new point exceeds the highest of n exchangeable ones with probability 1 / (n + 1)), so a
    plateau that creeps is judged by its own end, and one noisy point is not a rise. The bound is local and assumes
    no noise model. The global one it replaces (median + 2 sigma, sigma from the MAD of first differences over the
    whole region) took its width from a plateau's creeping start and let the first point of a sustained rise on a
    0.1-cycle-quantised plateau end pass as noise (H200 TMA ladder, 385.8 vs 385.5-385.6 at 25.7 MiB; issue 27)."""
    n_pred = int(np.ceil(2 / (1 - p.confidence))) - 1
    for i in range(first - 1, start, -1):
        _, _, hi = median_ci(s[max(start, i - p.local_points) : i], confidence=p.confidence)
        if s[i] <= max(hi, float(s[max(start, i - n_pred) : i].max())):
            return i
    return start


def _transition(fp_lo, fp_hi, y, last: _Candidate, nxt: _Candidate, p: DetectionParams):
    """(capacity low, capacity high, "sharp"|"gradual", span low, span high) between the flat region `last` that ends
    one level and the flat region `nxt` that starts the next one (y: smoothed ln latency). Span None when sharp."""
    s = y if nxt.median >= last.median else -y  # mirror an odd (falling) ladder onto the rising case
    _, _, bound = _flat_stats(s, last, p)
    reach, _, _ = _flat_stats(s, nxt, p)
    region = np.arange(last.start, nxt.start + 1)  # nxt.start >= last.stop: groups are in sweep order
    below = region[s[region] <= bound]
    first = int(below[-1]) + 1  # the run above the plateau that leads to the next level
    low = _last_inside(s, last.start, first, p)
    got = np.flatnonzero(s[first : nxt.stop] >= reach)  # first point inside (or past) the next plateau's CI
    reached = first + int(got[0]) if got.size else nxt.start
    cap_lo, cap_hi = float(fp_lo[low]), float(fp_hi[first])
    if reached <= first or fp_hi[reached] <= fp_lo[first] * p.sharp_ratio:
        return cap_lo, cap_hi, "sharp", None, None
    return cap_lo, cap_hi, "gradual", cap_lo, float(fp_hi[reached])


def _ramp_after(fp_lo, fp_hi, y, last: _Candidate, p: DetectionParams) -> tuple[float, float] | None:
    """(last footprint inside the CI, last footprint of the sweep) when the sweep ends in a rise (or fall) whose last
    two points are measurably off the level's last flat region: a ramp with no level after it. None when the sweep
    ends on the plateau."""
    n = y.size
    if n - last.stop < 2:
        return None
    for s in (y, -y):
        _, _, bound = _flat_stats(s, last, p)
        if s[-1] > bound and s[-2] > bound:
            above = np.flatnonzero(s[last.stop :] <= bound)
            first = last.stop + (int(above[-1]) + 1 if above.size else 0)
            low = _last_inside(s, last.start, first, p)
            return float(fp_lo[low]), float(fp_hi[n - 1])
    return None


def _flat(g: _Group, log2_fp: np.ndarray, y: np.ndarray, p: DetectionParams) -> list[_Candidate]:
    """The level's flat regions (|slope| <= sublevel_slope per octave); all its candidates when none is that flat
    (a level that is all gentle slope is still a level). Slow-ramp pieces that passed as candidates are left out."""
    flat = [
        c
        for c in g.members
        if np.ptp(log2_fp[c.start : c.stop]) == 0
        or abs(stats.theilslopes(y[c.start : c.stop], log2_fp[c.start : c.stop]).slope) <= p.sublevel_slope
    ]
    return flat or list(g.members)


def _sublevels(members: list[_Candidate], lat, fp_lo, fp_hi, p: DetectionParams) -> tuple[SubLevel, ...]:
    """Every flat region of the level, when two neighbouring ones differ by >= sublevel_ratio beyond their CIs."""
    if len(members) < 2:
        return ()
    subs = []
    for c in members:
        med, lo, hi = median_ci(lat[c.start : c.stop], confidence=p.confidence)
        subs.append(SubLevel(med, lo, hi, float(fp_lo[c.start]), float(fp_hi[c.stop - 1]), c.stop - c.start))
    split = any(
        (max(a.latency_cycles, b.latency_cycles) / min(a.latency_cycles, b.latency_cycles) >= p.sublevel_ratio)
        and (a.latency_ci_high < b.latency_ci_low or b.latency_ci_high < a.latency_ci_low)
        for a, b in zip(subs, subs[1:])
    )
    return tuple(subs) if split else ()


def _b(x: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if x >= size:
            return f"{x / size:.1f} {unit}"
    return f"{x:.0f} B"


def describe_transition(level: Level, next_name: str | None = None, fmt=_b) -> str:
    """The level's exit in words: a sharp capacity interval, a gradual span, or a ramp with no level after it."""
    if level.transition == "ramp":
        return (
            f"ramp, no level: latency leaves {level.name} after {fmt(level.span_bytes_low)} and keeps changing "
            f"to the end of the sweep ({fmt(level.span_bytes_high)}); no capacity is claimed"
        )
    if level.capacity_bytes_low is None:
        return ""
    interval = f"{fmt(level.capacity_bytes_low)} – {fmt(level.capacity_bytes_high)}"
    if level.transition == "gradual":
        return (
            f"gradual: {level.name} begins to miss at {interval} and is fully missing "
            f"({next_name or 'next level'} reached) by {fmt(level.span_bytes_high)}"
        )
    return f"sharp: {level.name} capacity {interval}"


def describe_sublevels(level: Level, fmt=_b) -> str:
    """ "two plateaus, merged: a [ci] at x–y and b [ci] at ..." when the level holds sub-levels, else ""."""
    if not level.merged:
        return ""
    n = len(level.sublevels)
    words = "two" if n == 2 else str(n)
    parts = [
        f"{s.latency_cycles:.1f} [{s.latency_ci_low:.1f}, {s.latency_ci_high:.1f}] at {fmt(s.bytes_low)} – "
        f"{fmt(s.bytes_high)}"
        for s in level.sublevels
    ]
    return f"{words} plateaus, merged into {level.name}: " + " and ".join(parts)
