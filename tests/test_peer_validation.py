"""Detection on real published ladders (../shared/peer-data) against the issue's tolerances; skips where absent."""
from pathlib import Path

import pytest

PEER = Path(__file__).resolve().parents[1].parent / "shared" / "peer-data"
pytestmark = [pytest.mark.peer,
              pytest.mark.skipif(not (PEER / "ladder_gpubenches_2023.csv").exists(),
                                 reason=f"peer data not found at {PEER} (CI has ../shared/peer-data beside the repo)")]

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
    assert len(list(tmp_path.glob("*.png"))) == len(validation.READINGS)
    assert not list(tmp_path.glob(".*"))      # no temporary files left behind
    assert "published by" in text and "Stopping rules" in text
