"""Level detection on synthetic ladders with known plateaus, capacities, ramps, noise and outliers."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probes.analysis.levels import DetectionParams, detect_levels, infer_names

KiB, MiB = 1024, 1024 ** 2


def ladder(levels, capacities, per_octave=8, lo=1 * KiB, hi=2 ** 31, ramp_octaves=0.0, noise=0.0, seed=0):
    """Log-spaced footprints; latency steps (or ramps over `ramp_octaves`) at each capacity; relative noise."""
    fp = np.unique(np.round(np.geomspace(lo, hi, int(np.log2(hi / lo) * per_octave) + 1)))
    lat = np.full(fp.size, float(levels[0]))
    x = np.log2(fp)
    for (a, b), cap in zip(zip(levels, levels[1:]), capacities):
        c = np.log2(cap)
        # a ramp starts right after the capacity (partial hits), reaching the next level ramp_octaves later
        frac = np.clip((x - c) / ramp_octaves, 0, 1) if ramp_octaves else (x > c).astype(float)
        frac = np.where(x > c, np.maximum(frac, 0.1), 0.0)
        lat = lat + (b - a) * frac
    rng = np.random.default_rng(seed)
    return fp, lat * (1 + noise * rng.standard_normal(fp.size))


def test_steps_recovered_exactly():
    fp, lat = ladder([30, 200, 500], [128 * KiB, 6 * MiB])
    lv = detect_levels(fp, lat)
    assert [v.name for v in lv] == ["L1", "L2", "DRAM"]
    assert [round(v.latency_cycles) for v in lv] == [30, 200, 500]
    assert lv[0].capacity_bytes_low <= 128 * KiB < lv[0].capacity_bytes_high
    assert lv[1].capacity_bytes_low <= 6 * MiB < lv[1].capacity_bytes_high
    assert lv[-1].capacity_bytes_low is None and "capacity_bytes_low" not in lv[-1].to_dict()


def test_far_l2_plateau_and_ramps():
    fp, lat = ladder([34, 265, 475, 650], [224 * KiB, 24 * MiB, 48 * MiB], ramp_octaves=0.4, noise=0.003)
    lv = detect_levels(fp, lat)
    assert [v.name for v in lv] == ["L1", "L2", "L2-far", "DRAM"]
    for v, want in zip(lv, [34, 265, 475, 650]):
        assert v.latency_cycles == pytest.approx(want, rel=0.02)
        assert v.latency_ci_low <= v.latency_cycles <= v.latency_ci_high
    # capacity = where the ramp starts: the interval brackets the true size within one sweep step
    for v, cap in zip(lv, [224 * KiB, 24 * MiB, 48 * MiB]):
        assert v.capacity_bytes_low <= cap * 1.1 and v.capacity_bytes_high >= cap
        assert v.capacity_bytes_high / v.capacity_bytes_low < 2 ** (2 / 8) + 1e-9


def test_noise_and_outliers():
    fp, lat = ladder([32, 210, 570], [160 * KiB, 20 * MiB], noise=0.01, seed=3)
    lat[[5, 40, 90]] *= [3.0, 0.5, 2.0]   # isolated spikes and dips
    lv = detect_levels(fp, lat)
    assert [v.name for v in lv] == ["L1", "L2", "DRAM"]
    for v, want in zip(lv, [32, 210, 570]):
        assert v.latency_cycles == pytest.approx(want, rel=0.02)


def test_flat_ladder_reports_no_transition():
    fp, lat = ladder([100], [], noise=0.002)
    lv = detect_levels(fp, lat)
    assert len(lv) == 1 and lv[0].capacity_bytes_low is None
    assert lv[0].latency_cycles == pytest.approx(100, rel=0.01)


def test_dram_wobble_is_not_a_level():
    fp, lat = ladder([33, 203, 405, 566], [150 * KiB, 19.5 * MiB, 40 * MiB], ramp_octaves=0.3)
    wobble = (fp > 48 * MiB) & (fp < 128 * MiB)
    lat[wobble] *= 0.93                    # TLB-like dip inside DRAM, < min_level_ratio
    lv = detect_levels(fp, lat)
    assert [v.name for v in lv] == ["L1", "L2", "L2-far", "DRAM"]
    assert lv[-1].latency_cycles == pytest.approx(566, rel=0.02)


def test_empty_and_tiny_inputs():
    assert detect_levels([], []) == []
    assert detect_levels([1024], [30.0]) == []          # one point is not a plateau
    assert detect_levels([1, 2, 3], [np.nan, -1, np.inf]) == []
    with pytest.raises(ValueError):
        detect_levels([1, 2], [1.0])


def test_names_by_relative_latency():
    assert infer_names([265, 650]) == ["L2", "DRAM"]          # a .cg ladder starts at L2
    assert infer_names([34, 265]) == ["L1", "L2"]
    assert infer_names([34, 265, 475, 650]) == ["L1", "L2", "L2-far", "DRAM"]
    assert infer_names([300, 100]) == ["level-1", "level-2"]   # not a hierarchy: no names guessed


def test_duplicate_footprints_are_pooled():
    fp, lat = ladder([30, 200], [64 * KiB], hi=16 * MiB)
    lv = detect_levels(np.r_[fp, fp], np.r_[lat, lat * 1.001])
    assert [v.name for v in lv] == ["L1", "L2"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.floats(1, 2 ** 40, allow_nan=False), st.one_of(st.floats(-10, 1e5), st.just(float("nan")))),
                min_size=0, max_size=80))
def test_never_crashes_and_levels_are_ordered(points):
    fp = [p[0] for p in points]
    lat = [p[1] for p in points]
    levels = detect_levels(fp, lat)
    for a, b in zip(levels, levels[1:]):
        assert a.zone_bytes_high < b.zone_bytes_low
        assert a.capacity_bytes_low is not None and a.capacity_bytes_low < a.capacity_bytes_high
    for v in levels:
        assert v.latency_ci_low <= v.latency_cycles <= v.latency_ci_high
        assert v.n_points >= DetectionParams().min_points


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(10, 1000), min_size=2, max_size=4, unique=True).map(sorted),
       st.floats(0, 0.01), st.integers(0, 10 ** 6))
def test_monotone_steps_found_when_well_separated(lats, noise, seed):
    ratios = [b / a for a, b in zip(lats, lats[1:])]
    if min(ratios) < 1.4:
        return  # below the documented separation detection is allowed to merge
    caps = [64 * KiB * 16 ** i for i in range(len(lats) - 1)]
    fp, lat = ladder(lats, caps, noise=noise, seed=seed)
    lv = detect_levels(fp, lat)
    assert len(lv) == len(lats)
    for v, want in zip(lv, lats):
        assert v.latency_cycles == pytest.approx(want, rel=0.03)
