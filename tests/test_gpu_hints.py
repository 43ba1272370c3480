"""On a real GPU only (skipped here): the cache-hint probes measure what the hardware is known to do on sm_80+."""

import pytest

from probes.cli import main
from probes.results import io

pytestmark = pytest.mark.gpu


def _run(tmp_path, name, *params):
    args = sum((["--param", p] for p in params), [])
    assert main(["run", name, "--backend", "gpu", "--out", str(tmp_path), "--quiet", *args]) == 0
    doc = io.load(next(tmp_path.glob("*.json")))
    assert doc["outcome"] == "ok" and doc["backend"] == "gpu"
    assert doc["kernels"] and all(k.get("sass_problems", []) == [] for k in doc["kernels"])  # or provenance_error
    return doc


def _median(doc, hint, key=None):
    pt = next(p for p in doc["points"] if p["axes"]["hint"] == hint)
    if key is None:
        return pt["summary"]["median"]
    values = sorted(s[key] for s in pt["samples"])
    return values[len(values) // 2]


def test_plain_reaccess_hits_l1_faster_than_a_cg_touched_line(tmp_path):
    doc = _run(tmp_path, "cache-hints.residency", "hints=none,cg")
    cc = doc["environment"]["compute_capability"]
    if tuple(cc) < (8, 0):
        pytest.skip(f"the L1 behaviour asserted here is for sm_80+, device is sm_{cc[0]}{cc[1]}")
    plain, cg = _median(doc, "none"), _median(doc, "cg")
    assert 0 < plain < cg  # .cg does not allocate in L1
    assert plain < 0.5 * _median(doc, "none", "band_l2_cycles")  # the plain line was an L1 hit


def test_default_hint_bandwidth_reaches_80_percent_of_the_copy_ceiling(tmp_path):
    doc = _run(tmp_path, "cache-hints.bandwidth", "hints=none")
    assert _median(doc, "none", "fraction_of_copy") >= 0.8
