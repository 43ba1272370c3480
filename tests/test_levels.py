"""Level detection on synthetic ladders with known plateaus, capacities, ramps, noise and outliers."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probes.analysis.levels import DetectionParams, detect_levels, infer_names

KiB, MiB = 1024, 1024**2


def ladder(levels, capacities, per_octave=8, lo=1 * KiB, hi=2**31, ramp_octaves=0.0, noise=0.0, seed=0):
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
    lat[[5, 40, 90]] *= [3.0, 0.5, 2.0]  # isolated spikes and dips
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
    lat[wobble] *= 0.93  # TLB-like dip inside DRAM, < min_level_ratio
    lv = detect_levels(fp, lat)
    assert [v.name for v in lv] == ["L1", "L2", "L2-far", "DRAM"]
    assert lv[-1].latency_cycles == pytest.approx(566, rel=0.02)


def test_empty_and_tiny_inputs():
    assert detect_levels([], []) == []
    assert detect_levels([1024], [30.0]) == []  # one point is not a plateau
    assert detect_levels([1, 2, 3], [np.nan, -1, np.inf]) == []
    with pytest.raises(ValueError):
        detect_levels([1, 2], [1.0])


def test_names_by_relative_latency():
    assert infer_names([265, 650]) == ["L2", "DRAM"]  # a .cg ladder starts at L2
    assert infer_names([34, 265]) == ["L1", "L2"]
    assert infer_names([34, 265, 475, 650]) == ["L1", "L2", "L2-far", "DRAM"]
    assert infer_names([300, 100]) == ["level-1", "level-2"]  # not a hierarchy: no names guessed


def test_duplicate_footprints_are_pooled():
    fp, lat = ladder([30, 200], [64 * KiB], hi=16 * MiB)
    lv = detect_levels(np.r_[fp, fp], np.r_[lat, lat * 1.001])
    assert [v.name for v in lv] == ["L1", "L2"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.floats(1, 2**40, allow_nan=False), st.one_of(st.floats(-10, 1e5), st.just(float("nan")))),
        min_size=0,
        max_size=80,
    )
)
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
@given(
    st.lists(st.floats(10, 1000), min_size=2, max_size=4, unique=True).map(sorted),
    st.floats(0, 0.01),
    st.integers(0, 10**6),
)
def test_monotone_steps_found_when_well_separated(lats, noise, seed):
    ratios = [b / a for a, b in zip(lats, lats[1:])]
    if min(ratios) < 1.4:
        return  # below the documented separation detection is allowed to merge
    caps = [64 * KiB * 16**i for i in range(len(lats) - 1)]
    fp, lat = ladder(lats, caps, noise=noise, seed=seed)
    lv = detect_levels(fp, lat)
    assert len(lv) == len(lats)
    for v, want in zip(lv, lats):
        assert v.latency_cycles == pytest.approx(want, rel=0.03)


# --- issue 27: honest capacities, ramps, merged plateaus, scale ------------------------------------------------------
# Each ladder below is built so that the old rule (first point past 15 % of the log step) gives a narrow interval that
# excludes the true size, or invents a capacity, or hides a plateau.

from probes.analysis.levels import LadderTooLarge, decimation, describe_sublevels, describe_transition, pelt_l2  # noqa: E402


def gradual_ladder(flat_until, full_at, lat=(32.0, 300.0, 650.0), l1=192 * KiB, per_octave=16, noise=0.0, seed=0):
    """L1 step at `l1`, flat L2 to `flat_until`, then a log-linear ramp reaching DRAM at `full_at`, flat after it."""
    fp = np.unique(np.round(np.geomspace(2 * KiB, 2**32, int(21 * per_octave) + 1)))
    x = np.log2(fp)
    frac = np.clip((x - np.log2(flat_until)) / (np.log2(full_at) - np.log2(flat_until)), 0, 1)
    y = np.where(fp <= l1, lat[0], lat[1] * (lat[2] / lat[1]) ** frac)
    rng = np.random.default_rng(seed)
    return fp, y * (1 + noise * rng.standard_normal(fp.size))


def test_gradual_transition_interval_starts_at_the_first_rise_and_span_reaches_the_next_level():
    size = 25 * MiB  # the nominal size: the L2 begins to miss right there and degrades over an octave
    fp, lat = gradual_ladder(size, 55 * MiB)
    lv = detect_levels(fp, lat)
    assert [v.name for v in lv] == ["L1", "L2", "DRAM"]
    l2 = lv[1]
    # old rule: 15 % of the log step lands ~3 sweep points past the first rise and excludes 25 MiB
    assert l2.capacity_bytes_low <= size <= l2.capacity_bytes_high
    assert l2.transition == "gradual"
    assert l2.span_bytes_low <= size and l2.span_bytes_high >= 55 * MiB * 0.99
    d = l2.to_dict()
    assert d["transition"] == "gradual" and d["span_bytes_high"] == l2.span_bytes_high
    words = describe_transition(l2, "DRAM")
    assert words.startswith("gradual: L2 begins to miss at") and "fully missing (DRAM reached) by" in words


def test_sharp_step_has_no_span():
    fp, lat = ladder([30, 200, 500], [128 * KiB, 6 * MiB])
    lv = detect_levels(fp, lat)
    for v, cap in zip(lv, [128 * KiB, 6 * MiB]):
        assert v.transition == "sharp" and v.span_bytes_low is None
        assert "span_bytes_low" not in v.to_dict() and v.to_dict()["transition"] == "sharp"
        assert v.capacity_bytes_low <= cap < v.capacity_bytes_high
        assert v.capacity_bytes_high / v.capacity_bytes_low <= 2 ** (1 / 8) + 1e-9  # one sweep step
        assert describe_transition(v).startswith("sharp:")


def test_evict_first_ramp_is_not_a_capacity():
    # a flat L2 that starts missing at 12 MiB and reaches DRAM at 50 MiB (H200 ld.global.cs-like): the old rule
    # called ~14 MiB "the L2 capacity"; the new one says gradual with a span that holds the 50 MiB
    fp, lat = gradual_ladder(12 * MiB, 50 * MiB, noise=0.002, seed=4)
    l2 = detect_levels(fp, lat)[1]
    assert l2.transition == "gradual"
    assert l2.capacity_bytes_low <= 12 * MiB * 1.05 and l2.capacity_bytes_high < 14 * MiB
    assert l2.span_bytes_low <= 50 * MiB <= l2.span_bytes_high


def test_ramp_with_no_level_after_it_claims_no_capacity():
    # a ramp steeper than any plateau (0.3 / octave) that runs past the end of the sweep: no DRAM plateau after it
    fp, lat = gradual_ladder(16 * MiB, 2**33, lat=(32.0, 300.0, 3000.0))
    lv = detect_levels(fp, lat)
    last = lv[-1]
    assert [v.name for v in lv] == ["L1", "L2"]
    assert last.capacity_bytes_low is None and "capacity_bytes_low" not in last.to_dict()
    assert last.transition == "ramp" and last.span_bytes_low <= 16 * MiB * 1.05
    assert describe_transition(last).startswith("ramp, no level")


def test_sweep_ending_on_the_plateau_is_no_ramp():
    fp, lat = ladder([30, 200, 500], [128 * KiB, 6 * MiB], noise=0.002)
    assert detect_levels(fp, lat)[-1].transition is None


def test_two_flat_plateaus_inside_one_level_are_flagged():
    # 280 then 299 cycles (7 % apart, < min_level_ratio): the old rule reported one level whose CI excluded 280
    fp = np.unique(np.round(np.geomspace(2 * KiB, 2**32, 21 * 12 + 1)))
    lat = np.select([fp <= 192 * KiB, fp <= 6 * MiB, fp <= 12 * MiB], [32.0, 280.0, 299.0], 650.0)
    lat = lat * (1 + 0.001 * np.random.default_rng(1).standard_normal(fp.size))
    lv = detect_levels(fp, lat)
    assert [v.name for v in lv] == ["L1", "L2", "DRAM"]
    l2 = lv[1]
    assert l2.merged and len(l2.sublevels) == 2
    a, b = l2.sublevels
    assert a.latency_cycles == pytest.approx(280, rel=0.005) and b.latency_cycles == pytest.approx(299, rel=0.005)
    assert a.latency_ci_high < b.latency_ci_low and a.bytes_high < b.bytes_low
    text = describe_sublevels(l2)
    assert text.startswith("two plateaus, merged into L2:") and "280" in text and "299" in text
    assert len(l2.to_dict()["sublevels"]) == 2
    # the L2 exit is judged from the last flat region (299), so its capacity is the 12 MiB edge, not the 6 MiB one
    assert l2.capacity_bytes_low <= 12 * MiB < l2.capacity_bytes_high


def test_one_flat_level_has_no_sublevels():
    fp, lat = ladder([30, 200, 500], [128 * KiB, 6 * MiB], noise=0.003)
    assert not any(v.sublevels for v in detect_levels(fp, lat))


def test_falling_ladder_is_mirrored():
    fp, lat = ladder([500, 200], [1 * MiB])
    lv = detect_levels(fp, lat)
    assert len(lv) == 2 and lv[0].capacity_bytes_low <= 1 * MiB < lv[0].capacity_bytes_high


@pytest.mark.parametrize("seed", range(4))
def test_pelt_matches_ruptures(seed):
    ruptures = pytest.importorskip("ruptures")
    rng = np.random.default_rng(seed)
    y = np.repeat(rng.normal(0, 1, 6), rng.integers(5, 40, 6)) + 0.05 * rng.standard_normal(1)
    y = y + 0.1 * rng.standard_normal(y.size)
    for pen in (0.05, 0.5, 5.0):
        want = ruptures.Pelt(model="l2", min_size=1, jump=1).fit(y.reshape(-1, 1)).predict(pen=pen)
        assert pelt_l2(y, pen) == want


def test_many_points_are_binned_with_the_same_levels():
    fp, lat = gradual_ladder(25 * MiB, 55 * MiB, per_octave=16)
    dense = np.geomspace(fp[0], fp[-1], 20000)
    lat_dense = np.interp(np.log2(dense), np.log2(fp), lat)
    p = DetectionParams(bin_above=512)
    lv = detect_levels(dense, lat_dense, p)
    assert [v.name for v in lv] == ["L1", "L2", "DRAM"]
    assert lv[1].capacity_bytes_low <= 25 * MiB <= lv[1].capacity_bytes_high
    assert decimation(20000, p).startswith("20000 distinct footprints binned into 512")
    assert decimation(100, p) is None


def test_too_many_points_refused_before_any_work():
    with pytest.raises(LadderTooLarge, match="more than the 10 this analysis accepts"):
        detect_levels(np.arange(1, 12), np.ones(11), DetectionParams(max_points=10))


def quantised_onset_ladder(size=25 * MiB, q=0.1, seed=5):
    """An H200-TMA-like ladder, kimbochen's 4 % footprint steps, readings rounded to `q` cycles: an L2 plateau whose
    start creeps and wobbles (+-1.5 cycles below 2 MiB) and whose end is flat within one step of q, then a gradual
    miss that starts +2q above it at the first point past `size`, a far-L2 plateau and DRAM."""
    fp = 2 * KiB * 1.04 ** np.arange(260)
    rng = np.random.default_rng(seed)
    lat = 385.5 + np.where(rng.random(fp.size) < 0.4, q, 0.0)  # the flat end: 385.5 / 385.6
    start = fp < 2 * MiB
    lat[start] += 1.5 * np.sin(np.arange(start.sum()) * 0.9) * np.linspace(1, 0.3, start.sum())
    past = np.flatnonzero(fp > size)
    ramp = [385.5 + 2 * q, 392.3, 398.2, 404.8, 465.1, 536.1, 590.6, 608.1]  # the TMA ladder's own onset
    lat[past[: len(ramp)]] = ramp
    lat[past[len(ramp) :]] = 614.6 + np.where(rng.random(past.size - len(ramp)) < 0.5, q, 0.0)
    lat[fp > 60 * MiB] = 760.0
    return fp, np.round(lat / q) * q


def test_a_quantised_onset_is_not_taken_for_the_noise_of_a_creeping_start():
    # the rule before: median + 2 sigma, sigma from the whole plateau's first differences (its wobbling start), so
    # the first point of the rise, 2 steps of q above a plateau end that never varies by more than one, passed as
    # noise and the interval began past the size (H200 TMA: 25.7 MiB for a 25 MiB partition)
    size = 25 * MiB
    fp, lat = quantised_onset_ladder(size)
    l2 = detect_levels(fp, lat)[0]
    assert l2.name == "L2" and l2.latency_cycles == pytest.approx(385.5, abs=0.2)
    assert l2.capacity_bytes_low <= size < l2.capacity_bytes_high
    assert l2.capacity_bytes_low >= size / 1.04 - 1  # the last point before the size: no wider than the data say
