"""On a real GPU only (skipped with the reason when there is none): the ladder family measures sane hierarchies.

Assertions are orderings and the driver's own L2 size, never a hard-coded measurement.
"""

import pytest

from probes.analysis.levels import detect_levels
from probes.cli import main
from probes.results import io

pytestmark = pytest.mark.gpu


def _run(tmp_path, name: str, *params: str) -> dict:
    out = tmp_path / name
    args = sum((["--param", p] for p in params), [])
    assert main(["run", name, "--backend", "gpu", "--out", str(out), "--quiet", *args]) == 0
    doc = io.load(next(out.glob("*.json")))
    assert doc["outcome"] == "ok", doc.get("error")
    assert doc["kernels"] and all(k.get("sass_problems", []) == [] for k in doc["kernels"])  # or provenance_error
    return doc


def _ladder(doc):
    pts = sorted(doc["points"], key=lambda p: p["axes"]["footprint_bytes"])
    return [p["axes"]["footprint_bytes"] for p in pts], [p["summary"]["median"] for p in pts]


def test_global_ladder_is_monotone_l1_l2_dram_and_l2_matches_the_driver(tmp_path):
    doc = _run(tmp_path, "latency.ladder.global", "points_per_octave=4", "dense_points=8")
    fps, lat = _ladder(doc)
    for i in range(1, len(lat)):  # monotone within noise: no point 10 % below an earlier one
        assert lat[i] >= 0.9 * max(lat[:i]), f"latency drops at {fps[i]} B"
    levels = detect_levels(fps, lat)
    names = [lv.name for lv in levels]
    assert names[0] == "L1" and names[-1] == "DRAM" and "L2" in names, names
    lat_by = {lv.name: lv.latency_cycles for lv in levels}
    assert lat_by["L1"] < lat_by["L2"] < lat_by["DRAM"]
    last_cache = levels[names.index("DRAM") - 1]
    l2 = doc["environment"]["l2_cache_bytes"]
    mid = (last_cache.capacity_bytes_low * last_cache.capacity_bytes_high) ** 0.5
    assert abs(mid / l2 - 1) <= 0.25, f"L2 capacity {mid:.0f} B vs driver {l2} B"
    assert all(s["ns_per_op"] > 0 for p in doc["points"] for s in p["samples"])


def test_cg_ladder_has_no_l1_plateau(tmp_path):
    params = ("max_footprint_bytes=4194304", "points_per_octave=2", "dense_points=0")
    fps, default = _ladder(_run(tmp_path, "latency.ladder.global", *params))
    _, cg = _ladder(_run(tmp_path, "latency.ladder.global.cg", *params))
    assert cg[0] > 2 * default[0]  # at 1 KiB, .cg misses L1 and pays the L2 latency
    assert "L1" not in [lv.name for lv in detect_levels(fps, cg)]


def test_other_paths_measure_and_order(tmp_path):
    small = ("points_per_octave=1",)
    shared = _run(tmp_path, "latency.shared", *small)
    _run(tmp_path, "latency.constant", *small)
    _run(tmp_path, "latency.local", *small)
    _run(tmp_path, "latency.ladder.global.nc", "max_footprint_bytes=65536", "points_per_octave=1", "dense_points=0")
    _run(tmp_path, "latency.ladder.global.ca", "max_footprint_bytes=65536", "points_per_octave=1", "dense_points=0")
    _, l2ish = _ladder(
        _run(tmp_path, "latency.ladder.global.cg", "max_footprint_bytes=65536", "points_per_octave=1", "dense_points=0")
    )
    _, sh = _ladder(shared)
    assert max(sh) < min(l2ish)  # shared memory is faster than an L2 hit


def test_tlb_ladder_runs_to_gibibytes(tmp_path):
    doc = _run(tmp_path, "latency.tlb", "max_footprint_bytes=8589934592", "points_per_octave=2")
    fps, lat = _ladder(doc)
    assert fps[-1] == 8 << 30 and all(v > 0 for v in lat)
    assert lat[-1] >= 0.9 * lat[0]  # more pages never make a load faster


def test_ladder_reaches_memory_far_past_l2_and_samples_walk_fresh_stretches(tmp_path):
    """Issue 20 defect 1: a chase restarted at slot 0 re-walked 4n slots, so past ~16 MiB every point was an L2 hit.
    Launches now continue from the previous final slot; far past L2 the latency must be well above an L2 hit."""
    doc = _run(
        tmp_path, "latency.ladder.global", "min_footprint_bytes=4194304", "points_per_octave=1", "dense_points=0"
    )
    env_l2 = doc["environment"]["l2_cache_bytes"]
    fps, lat = _ladder(doc)
    near = [v for f, v in zip(fps, lat) if f <= env_l2 // 4]
    far = [v for f, v in zip(fps, lat) if f >= 16 * env_l2]
    assert near and far and min(far) > 1.3 * max(near), (fps, lat)
    big = max(doc["points"], key=lambda p: p["axes"]["footprint_bytes"])
    ranks = [s["start_rank"] for s in big["samples"]]
    assert len(set(ranks)) == len(ranks) and all(s["chain_fraction"] < 1 for s in big["samples"])
    # the L1 carve-out request applies from the second launch of a point (the warm-up launch is the first)
    assert all(s["l1_carveout"].startswith("preferred carve-out") for s in big["samples"])
