"""On a real GPU only (skipped with the reason when there is none): the ladder measures and records its SASS."""

import pytest

from probes.cli import main
from probes.results import io

pytestmark = pytest.mark.gpu


def test_ladder_on_gpu_records_cycles_ns_clock_ratio_and_sass(tmp_path):
    assert (
        main(
            [
                "run",
                "latency.ladder.global",
                "--backend",
                "gpu",
                "--out",
                str(tmp_path),
                "--quiet",
                "--param",
                "max_footprint_bytes=65536",
                "--param",
                "points_per_octave=1",
            ]
        )
        == 0
    )
    doc = io.load(next(tmp_path.glob("*.json")))
    assert doc["outcome"] == "ok" and doc["backend"] == "gpu"
    assert doc["kernels"] and all(k.get("sass_problems", []) == [] for k in doc["kernels"])  # or provenance_error
    medians = [p["summary"]["median"] for p in doc["points"]]
    assert all(m > 0 for m in medians)
    # A 1 KiB chain lives in L1, 64 KiB too on every Volta+ part: latencies must agree within their CIs' scale.
    sample = doc["points"][0]["samples"][0]
    assert sample["sm_clock_mhz_derived"] > 100  # %clock64 / %globaltimer gives a plausible SM clock
