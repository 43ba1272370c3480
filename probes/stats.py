"""Statistics on samples, on the ground floor: the bootstrap median CI and the stopping rules built on it.

The engine (probes.engine.measure) runs a stopping rule on every probe point; the analysis uses the same median CI
for its estimates and replays the same rules on peer data (probes.analysis.validation), so both live here, below
both of them, and import nothing from the package.

Stopping rules are small plug-ins that decide when a probe has enough samples (the engine owns repetition). Each has
`reset()`, `add(samples)`, `done() -> bool` and `reason` (why it stopped, stored with the result). Default: the
bootstrap 95 % CI half-width of the median <= 1 % of the median, with a floor on the sample count and a time budget
as the backstop (nvbench's `stdrel` stops on relative std-dev instead; `StdRel` is here for comparison).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np


def median_ci(samples, confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """(median, ci_low, ci_high) by percentile bootstrap; a fixed seed keeps reports stable.

    The same numbers as scipy.stats.bootstrap(method="percentile", vectorized=True) with this seed (the resamples are
    drawn in the same order, the interval is its default "linear" quantile; tests/test_stopping.py compares the
    two), in plain numpy: importing scipy.stats costs a worker about a second at every start.
    With identical samples the CI collapses to the median. It says nothing about bias in the samples (a throttled
    clock or a wrong method shifts the median without widening the CI).
    """
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        raise ValueError("median_ci needs at least one sample")
    med = float(np.median(x))
    if x.size < 3 or np.ptp(x) == 0:
        return med, med, med
    resamples = x[np.random.default_rng(seed).integers(0, x.size, (n_resamples, x.size))]
    theta = np.sort(np.median(resamples, axis=-1))
    alpha = (1 - confidence) / 2
    return med, _linear_quantile(theta, alpha), _linear_quantile(theta, 1 - alpha)


def _linear_quantile(ordered, p: float) -> float:
    """Quantile p of sorted values by Hyndman and Fan's method 7 (numpy's and scipy's "linear"), written as
    scipy.stats.quantile computes it, so the bootstrap interval matches scipy's to the last bit."""
    n = len(ordered)
    jg = p * n + (1 - p)
    lo, g = min(max(int(jg // 1) - 1, 0), n - 1), jg % 1
    hi = min(max(int(jg // 1), 0), n - 1)
    return float((1 - g) * ordered[lo] + g * ordered[hi])


@dataclass
class StoppingRule:
    min_samples: int = 10
    max_samples: int = 100_000
    max_seconds: float = 30.0
    max_flagged: int = 50  # flagged samples (throttle, clock change) that end a point early: see `flagged`
    reason: str = ""
    samples: list = field(default_factory=list)
    n_flagged: int = 0
    _t0: float = field(default_factory=time.monotonic)

    name = "base"

    def reset(self) -> None:
        self.samples, self.reason, self._t0, self.n_flagged = [], "", time.monotonic(), 0

    def add(self, samples) -> None:
        self.samples.extend(np.atleast_1d(np.asarray(samples, dtype=float)).tolist())

    def flagged(self, count: int) -> None:
        """Count samples left out as flagged. Flagged samples never count toward convergence, so a stuck throttle
        bit would make every point run its whole time budget (the default ladder: about an hour): after
        `max_flagged` of them with fewer than `min_samples` clean ones the point stops, and says so."""
        self.n_flagged += int(count)

    def _converged(self) -> str | None:
        raise NotImplementedError

    def done(self) -> bool:
        n = len(self.samples)
        if self.n_flagged >= self.max_flagged and n < self.min_samples:
            self.reason = (
                f"flagged-cap: {self.n_flagged} flagged samples (throttle or clock change) and only {n} "
                f"clean; stopped early, the summary says whether it had to use flagged samples"
            )
            return True
        if n >= self.max_samples:
            self.reason = f"sample-count: reached max_samples={self.max_samples}"
            return True
        if time.monotonic() - self._t0 >= self.max_seconds:
            self.reason = f"time-budget: {self.max_seconds:g} s spent with {n} samples"
            return True
        if n < self.min_samples:
            return False
        why = self._converged()
        if why:
            self.reason = why
            return True
        return False

    def describe(self) -> dict:
        return {
            "rule": self.name,
            "min_samples": self.min_samples,
            "max_samples": self.max_samples,
            "max_seconds": self.max_seconds,
            "max_flagged": self.max_flagged,
        }


@dataclass
class MedianCI(StoppingRule):
    """Stop when the bootstrap CI half-width of the median is <= `rel_halfwidth` of the median."""

    rel_halfwidth: float = 0.01
    confidence: float = 0.95
    n_resamples: int = 500
    check_every: int = 1

    name = "median-ci"

    def _converged(self) -> str | None:
        n = len(self.samples)
        if (n - self.min_samples) % self.check_every:
            return None
        med, lo, hi = median_ci(self.samples, self.confidence, self.n_resamples)
        half = (hi - lo) / 2
        if med != 0 and half <= self.rel_halfwidth * abs(med):
            return f"median-ci: CI half-width {half / abs(med):.3%} <= {self.rel_halfwidth:.2%} after {n} samples"
        return None

    def describe(self) -> dict:
        return {**super().describe(), "rel_halfwidth": self.rel_halfwidth, "confidence": self.confidence}


@dataclass
class StdRel(StoppingRule):
    """nvbench-style: stop when std/mean <= `max_noise` (a rule kept for comparison benchmarks)."""

    max_noise: float = 0.005

    name = "stdrel"

    def _converged(self) -> str | None:
        x = np.asarray(self.samples)
        mean = x.mean()
        rel = x.std(ddof=1) / abs(mean) if mean else np.inf
        if rel <= self.max_noise:
            return f"stdrel: relative std {rel:.3%} <= {self.max_noise:.2%} after {len(x)} samples"
        return None

    def describe(self) -> dict:
        return {**super().describe(), "max_noise": self.max_noise}


@dataclass
class FixedCount(StoppingRule):
    """Baseline: stop after exactly `count` samples."""

    count: int = 100

    name = "fixed-count"

    def _converged(self) -> str | None:
        if len(self.samples) >= self.count:
            return f"fixed-count: {self.count} samples"
        return None

    def describe(self) -> dict:
        return {**super().describe(), "count": self.count}


RULES = {cls.name: cls for cls in (MedianCI, StdRel, FixedCount)}


def make_rule(name: str = "median-ci", **params) -> StoppingRule:
    if name not in RULES:
        raise ValueError(f"unknown stopping rule {name!r}: choose from {', '.join(sorted(RULES))}")
    return RULES[name](**params)
