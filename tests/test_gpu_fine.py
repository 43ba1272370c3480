"""On a real GPU only (skipped with the reason when there is none): fine-grained chase and L2 near/far map."""

import pytest

from probes.cli import main
from probes.results import io

pytestmark = pytest.mark.gpu

POW2_32_TO_128 = (32, 64, 128)
# Parts whose L2 NVIDIA describes as two partitions joined by a crossbar (A100 and H100 whitepapers).
SPLIT_L2 = ("A100", "A800", "A30", "H100", "H800", "H200", "H20", "GH200")


def _run(tmp_path, name, *params):
    out = tmp_path / name
    args = sum((["--param", p] for p in params), [])
    assert main(["run", name, "--backend", "gpu", "--out", str(out), "--quiet", *args]) == 0
    doc = io.load(next(out.glob("*.json")))
    assert doc["outcome"] == "ok" and doc["backend"] == "gpu"
    assert doc["kernels"] and all(k.get("sass_problems", []) == [] for k in doc["kernels"])  # or provenance_error
    return doc


def test_l1_fetch_granularity_and_line_size_are_powers_of_two_in_32_to_128_bytes(tmp_path):
    from probes.analysis import finegrained as fg

    sweep = _run(tmp_path, "latency.fine.stride", "footprint_bytes=1048576", "stride_bytes=4,8,16,32,64,128,256")
    # stride 64 B keeps a whole steady walk inside the 4096-access trace up to 256 KiB (the L1 upper bound)
    chase = _run(
        tmp_path,
        "latency.fine.chase",
        "stride_bytes=64",
        "passes=3",
        "footprint_bytes=131072,196608,212992,221184,229376,233472,237568,245760,253952,262144",
    )
    result = fg.infer_all(fg.traces_from_doc(chase), fg.traces_from_doc(sweep))
    got = {i.quantity: i for i in result["inferences"]}
    assert result["threshold"] is not None, result["threshold_evidence"]
    assert got["sector size"].value in POW2_32_TO_128, got["sector size"].evidence
    if got["line size"].known:  # needs a footprint that misses partly: reported either way
        assert got["line size"].value in POW2_32_TO_128, got["line size"].evidence


def test_l2_near_far_split_is_significant_on_split_l2_parts(tmp_path):
    from probes.analysis import nearfar as nf

    doc = _run(tmp_path, "latency.l2.nearfar")
    env = doc["environment"]
    claimed = doc["points"][0]["samples"][0]["sms_claimed"]
    assert claimed >= 0.9 * env["sm_count"]  # nearly every SM got a block
    res = nf.from_doc(doc)
    assert all(c["latency"] > 0 for c in res.cells.values())
    if tuple(env["compute_capability"]) < (8, 0) or not any(p in env["gpu_name"] for p in SPLIT_L2):
        pytest.skip(f"{env['gpu_name']}: no documented split L2; measured {res.reason}")
    assert res.split, res.reason
    assert res.dip_p < 0.01 and res.difference_ci[0] > 0
