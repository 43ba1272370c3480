"""On a real GPU only (skipped with the reason when there is none): the bandwidth family measures a sane hierarchy.

Assertions are orderings, the driver's documented peak and the host checks each launch makes, never a hard-coded
measurement.
"""

import pytest

from probes.analysis import bandwidth as bw
from probes.cli import main
from probes.results import io

pytestmark = pytest.mark.gpu


def _run(tmp_path, name: str, *params: str) -> dict:
    out = tmp_path / name
    args = sum((["--param", p] for p in params), [])
    assert main(["run", name, "--backend", "gpu", "--out", str(out), "--quiet", *args]) == 0
    doc = io.load(next(out.glob("*.json")))
    assert doc["outcome"] == "ok", doc.get("error")
    assert doc["kernels"] and all(k["sass_problems"] == [] for k in doc["kernels"])
    return doc


def test_read_ladder_falls_from_cache_to_dram_and_stays_below_the_documented_peak(tmp_path):
    doc = _run(tmp_path, "bandwidth.ladder", "ops=read", "points_per_octave=2")
    rows = bw.point_rows(doc, "working_set_bytes")
    levels = bw.detect_levels([r["working_set_bytes"] for r in rows], [r["median"] for r in rows])
    assert len(levels) >= 2 and levels[-1].name == "DRAM", levels
    assert all(a.bandwidth_GBps > b.bandwidth_GBps for a, b in zip(levels, levels[1:]))
    peak = bw.doc_peak(doc)
    assert peak and levels[-1].bandwidth_GBps <= 1.02 * peak
    l2 = doc["environment"]["l2_cache_bytes"]
    assert levels[-2].end_bytes_high >= l2 / 4  # the last cache level ends near the L2, not in L1
    assert all(s["co_resident"] == 1 for p in doc["points"] for s in p["samples"])


def test_occupancy_rises_with_bytes_in_flight(tmp_path):
    doc = _run(tmp_path, "bandwidth.occupancy", "ops=read", "warps_per_sm=4,32", "unrolls=1,4")
    by = {(p["axes"]["warps_per_sm"], p["axes"]["unroll"]): p["summary"]["median"] for p in doc["points"]}
    assert by[(4, 1)] < by[(32, 4)]


def test_shared_bank_conflicts_slow_stride_32(tmp_path):
    doc = _run(tmp_path, "bandwidth.shared", "accesses=b32,ldmatrix", "strides=1,32")
    by = {(p["axes"]["access"], p["axes"]["stride"]): p["summary"]["median"] for p in doc["points"]}
    assert by[("b32", 32)] < 0.25 * by[("b32", 1)]  # 32-way conflict: far below conflict-free
