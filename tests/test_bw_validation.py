"""Bandwidth-level detection on gpu-benches' published gpu-l2-cache ladders (../shared/peer-data) against the issue's
tolerances, and the committed validation outputs rebuilt byte for byte; skips where the peer data is absent."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT.parent / "shared" / "peer-data"
pytestmark = [
    pytest.mark.peer,
    pytest.mark.skipif(
        not (PEER / "bw_ladder_gpubenches_l2cache.csv").exists(),
        reason=f"peer data not found at {PEER} (CI has ../shared/peer-data beside the repo)",
    ),
]

from probes.analysis import bw_validation  # noqa: E402


@pytest.fixture(scope="module")
def detected():
    return {r.gpu: (r, levels) for r, _, levels in bw_validation.detect_all(PEER)}


@pytest.mark.parametrize("gpu", [r.gpu for r in bw_validation.READINGS])
def test_tolerances_per_ladder(detected, gpu):
    reading, levels = detected[gpu]
    rows = bw_validation.score(reading, levels)
    assert [r["check"] for r in rows][0] == "levels" and len(rows) == 4
    failed = [c for c in rows if not c["ok"]]
    assert not failed, failed


def test_a_wrong_reading_fails():
    import dataclasses

    reading, levels = next(iter(bw_validation.detect_all(PEER)))[::2]
    off = dataclasses.replace(
        reading,
        levels=((reading.levels[0][0], reading.levels[0][1] * 1.05, *reading.levels[0][2:]), reading.levels[1]),
        l2_end=(reading.l2_end[0] * 2, reading.l2_end[1] * 2),
    )
    failed = {c["check"] for c in bw_validation.score(off, levels) if not c["ok"]}
    assert failed == {"L2 plateau (±3 %)", "L2 end inside the bracket"}


def test_outputs_are_the_committed_ones(tmp_path):
    md = bw_validation.build_validation(PEER, tmp_path)
    text = md.read_text()
    assert "All tolerances met: **yes**" in text and "published by" in text
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    committed = ROOT / "reports" / "validation"
    for f in sorted(tmp_path.iterdir()):
        assert f.read_bytes() == (committed / f.name).read_bytes(), f"{f.name} differs from reports/validation/"
