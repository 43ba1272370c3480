"""Stopping rules on synthetic samples with known spread."""

import numpy as np
import pytest

from probes.stats import FixedCount, MedianCI, StdRel, make_rule, median_ci


def feed(rule, rng, scale, batch=5, cap=20000):
    while not rule.done() and len(rule.samples) < cap:
        rule.add(rng.normal(100.0, scale, size=batch))
    return len(rule.samples)


def test_tighter_distribution_needs_fewer_samples():
    narrow = feed(MedianCI(max_seconds=60), np.random.default_rng(0), scale=2)
    wide = feed(MedianCI(max_seconds=60), np.random.default_rng(0), scale=20)
    assert narrow < wide


def test_median_ci_stops_with_the_promised_halfwidth():
    rule = MedianCI(max_seconds=60)
    feed(rule, np.random.default_rng(1), scale=10)
    med, lo, hi = median_ci(rule.samples)
    assert (hi - lo) / 2 <= 0.01 * med + 1e-9
    assert rule.reason.startswith("median-ci")


def test_time_budget_ends_a_run_that_never_converges():
    rule = MedianCI(max_seconds=0.0)
    rule.add([1.0, 1000.0] * 10)
    assert rule.done() and rule.reason.startswith("time-budget")


def test_ci_covers_the_true_median_most_of_the_time():
    rng = np.random.default_rng(2)
    hits = sum(lo <= 0 <= hi for _, lo, hi in (median_ci(rng.standard_normal(200), seed=i) for i in range(60)))
    assert hits >= 50  # nominal 95 %: 57 of 60; allow bootstrap's known undercoverage


def test_median_ci_is_scipy_bootstrap_percentile_interval():
    """median_ci draws scipy's resamples in scipy's order (numpy only, so a worker never imports scipy.stats): the
    same interval as scipy.stats.bootstrap, for ties, wide and narrow spreads, other confidences and resample counts."""
    from scipy import stats

    rng = np.random.default_rng(7)
    for trial in range(120):
        size = int(rng.integers(3, 300))
        x = [
            rng.normal(100, 5, size),
            rng.integers(0, 6, size).astype(float),
            np.round(rng.lognormal(3, 1, size), 2),
            rng.exponential(1e-3, size) + 1e6,
        ][trial % 4]
        confidence, n_resamples, seed = (0.95, 0.9, 0.99)[trial % 3], (1000, 500, 999, 7)[trial % 4], trial % 5
        med, lo, hi = median_ci(x, confidence, n_resamples, seed)
        if np.ptp(x) == 0:
            assert lo == hi == med
            continue
        want = stats.bootstrap(
            (x,),
            np.median,
            confidence_level=confidence,
            n_resamples=n_resamples,
            method="percentile",
            random_state=np.random.default_rng(seed),
            vectorized=True,
            axis=-1,
        )
        assert med == np.median(x)
        assert (lo, hi) == pytest.approx((want.confidence_interval.low, want.confidence_interval.high), rel=1e-12)


def test_other_rules_and_factory():
    assert feed(FixedCount(count=40, min_samples=1), np.random.default_rng(0), 1, batch=1) == 40
    assert feed(StdRel(max_noise=0.05, min_samples=5), np.random.default_rng(0), 1) >= 5
    with pytest.raises(ValueError, match="unknown stopping rule"):
        make_rule("magic")
