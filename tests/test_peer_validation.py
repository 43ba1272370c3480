"""Detection on real published ladders (../shared/peer-data) against the issue's tolerances; skips where absent."""

from pathlib import Path

import pytest

PEER = Path(__file__).resolve().parents[1].parent / "shared" / "peer-data"
pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(
        not (PEER / "ladder_gpubenches_2023.csv").exists(),
        reason=f"peer data not found at {PEER} (CI has ../shared/peer-data beside the repo)",
    ),
]

from probes.analysis import validation  # noqa: E402


@pytest.fixture(scope="module")
def detected():
    return {r.gpu: (r, levels) for r, _, levels in validation.detect_all(PEER)}


@pytest.mark.parametrize("gpu", [r.gpu for r in validation.READINGS])
def test_tolerances_per_ladder(detected, gpu):
    reading, levels = detected[gpu]
    failed = [c for c in validation.score_ladder(reading, levels) if not c["ok"]]
    assert not failed, failed


def test_report_written_atomically(tmp_path):
    result = validation.build_validation(PEER, tmp_path, reps=1)
    text = (tmp_path / "README.md").read_text()
    assert result["all_ok"] and "All tolerances met: **yes**" in text
    assert len(list(tmp_path.glob("*.png"))) == len(validation.READINGS) + len(validation.detect_async(PEER))
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    assert "published by" in text and "Stopping rules" in text


# issue 27: the H200 / B200 async-path ladders against the README's known sizes. Known misses would be written down
# here so that a fix or a regression both show. There is none since the plateau's end is judged by a local bound:
# on the TMA ladder the 25.7 MiB reading (385.8 cycles after 60 readings of 385.5/385.6) had passed as noise under a
# noise estimate taken over the whole plateau, its wobbling start included, and the interval began past 25 MiB.
KNOWN_MISSES: set = set()


@pytest.fixture(scope="module")
def async_ladders():
    got = validation.detect_async(PEER)
    if not got:
        pytest.skip(f"{validation.ASYNC_FILE} not in {PEER}")
    return {gpu: levels for gpu, _, levels in got}


def test_known_sizes_inside_interval_or_gradual_span(async_ladders):
    fails = set()
    for gpu, levels in async_ladders.items():
        for row in validation.score_known(gpu, levels):
            assert row["ok"] in ("pass", "FAIL", "n/a")
            if row["ok"] == "FAIL":
                fails.add((gpu, row["level"]))
            if row["ok"] == "n/a":  # only a path without that level may skip it
                assert row["level"] not in [lv.name for lv in levels]
    assert fails == KNOWN_MISSES


def test_evict_first_ramp_is_gradual_not_the_l2_size(async_ladders):
    levels = async_ladders["H200 (ld.global.cs)"]
    l2 = next(lv for lv in levels if lv.name == "L2")
    assert l2.transition == "gradual"
    assert l2.span_bytes_low <= 50 * 2**20 <= l2.span_bytes_high
    # the old rule said 13.7-14.2 MiB for a 50 MiB L2: the interval now marks where the plateau ends, not a size
    assert l2.capacity_bytes_high < 13.7 * 2**20


def test_merged_l2_plateaus_flagged(async_ladders):
    l2 = next(lv for lv in async_ladders["H200 (ld.global.cs)"] if lv.name == "L2")
    assert l2.merged
    values = sorted(s.latency_cycles for s in l2.sublevels)
    assert values[0] == pytest.approx(280.2, abs=1.0) and values[-1] == pytest.approx(298.9, abs=1.0)
    lo, hi = sorted(l2.sublevels, key=lambda s: s.latency_cycles)[:: len(l2.sublevels) - 1]
    assert lo.latency_ci_high < hi.latency_ci_low
