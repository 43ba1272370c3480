"""TLB levels from a page-stride latency ladder: each level's reach (a footprint interval) and miss cost. No CUDA.

Method: the ladder's plateaus come from `probes.analysis.levels.detect_levels` (PELT change points, plateau cores,
bootstrap CIs, capacity brackets), run with a smaller `min_level_ratio` because a TLB miss adds tens to hundreds of
cycles to an L2 hit rather than multiplying it. Plateau k is read as "served by TLB level k"; its capacity bracket
is that level's *reach* (in bytes, and in pages of `stride_bytes`); the latency step to plateau k+1 is its *miss
cost*, with a conservative interval from the two plateaus' CIs. One plateau means "no transition" within the swept
footprints: either every footprint fits the first TLB level or the sweep never left the last one.

What it does not prove: which hardware structure a plateau belongs to (names are an order, not an identification),
nor the page size the driver chose (the stride is only an upper bound on it if latency steps at a smaller reach).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from probes import verdicts as V
from probes.analysis.levels import DetectionParams, Level, detect_levels

TLB_DETECTION = replace(DetectionParams(), min_level_ratio=1.1)
NO_TRANSITION = V.NO_TRANSITION


@dataclass(frozen=True)
class TlbLevel:
    name: str  # "TLB-1" ...; the last plateau is "beyond TLB-k"
    latency_cycles: float
    latency_ci_low: float
    latency_ci_high: float
    reach_bytes_low: float | None  # last footprint still served at this level's latency (None: last level)
    reach_bytes_high: float | None  # first footprint measurably slower
    reach_pages_low: float | None
    reach_pages_high: float | None
    miss_cost_cycles: float | None  # next plateau's latency minus this one's
    miss_cost_low: float | None  # from the CIs: next low - this high .. next high - this low
    miss_cost_high: float | None
    n_points: int
    transition: str | None = None  # "sharp" | "gradual" | "ramp" (a rise with no plateau after it), as in levels
    next_reached_bytes: float | None = None  # gradual: where the next plateau is reached; ramp: the last footprint

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class TlbAnalysis:
    stride_bytes: int
    levels: tuple[TlbLevel, ...]
    verdict: str  # V.NO_TRANSITION, V.TRANSITIONS (how many: `transitions`) or V.INCONCLUSIVE
    detection: dict
    reason: str = ""  # why INCONCLUSIVE ("no plateau")

    @property
    def transitions(self) -> int:
        return max(len(self.levels) - 1, 0)

    def to_dict(self) -> dict:
        return {
            "stride_bytes": self.stride_bytes,
            "verdict": self.verdict,
            "transitions": self.transitions,
            "reason": self.reason,
            "detection": self.detection,
            "levels": [lv.to_dict() for lv in self.levels],
        }

    def describe(self) -> str:
        """The verdict in words: "no transition", "2 transitions", "inconclusive (no plateau)"."""
        if self.verdict == V.TRANSITIONS:
            return f"{self.transitions} transition" + ("s" if self.transitions > 1 else "")
        return f"{self.verdict} ({self.reason})" if self.reason else self.verdict


def analyse_tlb(footprint_bytes, latency, stride_bytes: int, params: DetectionParams | None = None) -> TlbAnalysis:
    """TLB levels of a page-stride ladder (footprints in bytes, latency in cycles per load)."""
    if stride_bytes <= 0:
        raise ValueError(f"stride_bytes must be > 0, got {stride_bytes}")
    p = params or TLB_DETECTION
    levels = detect_levels(footprint_bytes, latency, p)
    out = [_tlb_level(i, lv, levels, stride_bytes) for i, lv in enumerate(levels)]
    verdict = V.INCONCLUSIVE if not out else V.NO_TRANSITION if len(out) == 1 else V.TRANSITIONS
    return TlbAnalysis(stride_bytes, tuple(out), verdict, p.describe(), "" if out else "no plateau")


def _tlb_level(i: int, lv: Level, levels: list[Level], stride: int) -> TlbLevel:
    last = i + 1 == len(levels)
    name = f"beyond TLB-{i}" if last and i > 0 else f"TLB-{i + 1}"
    cost = lo = hi = None
    if not last:
        nxt = levels[i + 1]
        cost = nxt.latency_cycles - lv.latency_cycles
        lo, hi = nxt.latency_ci_low - lv.latency_ci_high, nxt.latency_ci_high - lv.latency_ci_low
    cap_lo, cap_hi = lv.capacity_bytes_low, lv.capacity_bytes_high
    return TlbLevel(
        name=name,
        latency_cycles=lv.latency_cycles,
        latency_ci_low=lv.latency_ci_low,
        latency_ci_high=lv.latency_ci_high,
        reach_bytes_low=cap_lo,
        reach_bytes_high=cap_hi,
        reach_pages_low=None if cap_lo is None else cap_lo / stride,
        reach_pages_high=None if cap_hi is None else cap_hi / stride,
        miss_cost_cycles=cost,
        miss_cost_low=lo,
        miss_cost_high=hi,
        n_points=lv.n_points,
        transition=lv.transition,
        next_reached_bytes=lv.span_bytes_high,
    )
