"""On a real GPU only (skipped with the reason when there is none): FFMA latency and FP32 throughput.

The issue asks for FP32 throughput >= 90 % of 128 FMA/clk/SM on sm_80+; the Programming Guide documents 64 for
cc 8.0 (A100) and 128 for 8.6/8.9/9.0, so the bound is 90 % of the documented value for the device's cc.
"""

import pytest

from probes.analysis import claims
from probes.analysis import instructions as A
from probes.cli import main
from probes.results import io

pytestmark = pytest.mark.gpu


def _run(tmp_path, probe, *params):
    out = tmp_path / probe
    args = sum((["--param", p] for p in params), [])
    assert main(["run", probe, "--backend", "gpu", "--out", str(out), "--quiet", *args]) == 0
    doc = io.load(next(out.glob("*.json")))
    assert doc["outcome"] == "ok" and doc["backend"] == "gpu"
    assert doc["kernels"] and all(k.get("sass_problems", []) == [] for k in doc["kernels"])  # or provenance_error
    return doc


def test_ffma_latency_is_3_to_6_cycles_and_the_self_test_ops_run(tmp_path):
    doc = _run(tmp_path, "instructions.latency", "ops=ffma,imad,dfma", "iterations=64")
    rows = A.latency_rows(doc)
    assert set(rows) == {"ffma", "imad", "dfma"}
    est, sample = rows["ffma"]
    assert sample["sass_opcode"] == "FFMA"
    assert 3.0 <= est.value <= 6.0, f"FFMA latency {est.value:.2f} cycles"
    assert all(r[0].value > 0 for r in rows.values())


def test_fp32_throughput_reaches_90_percent_of_the_documented_rate(tmp_path):
    doc = _run(tmp_path, "instructions.throughput", "ops=ffma", "iterations=64", "ilp=1,4", "warps_per_sm=8,16,32")
    cc = doc["environment"]["compute_capability"]
    documented = claims.documented("fp32", cc)
    assert documented is not None, f"no documented FP32 rate for cc {cc}"
    sat, _ = A.throughput_rows(doc)["ffma"]
    assert sat.value >= 0.9 * documented.value, f"FFMA {sat.value:.1f} results/clk/SM vs {documented.value:g}"
    assert sat.value <= 1.05 * documented.value, "more than the SM can issue: the timing or op count is wrong"


NEW_CHAIN_OPS = (
    "atom_shared_add",
    "atom_shared_add_contended",
    "atom_global_add",
    "atom_global_cas_contended",
    "bar_sync",
    "fdiv_rn",
    "fsqrt_rn",
    "mma_f16",
    "mma_bf16",
    "mma_tf32",
    "imul",
    "isetp_sel",
    "bfe",
    "bfi",
)


def test_memory_barrier_sequence_and_mma_ops_pass_their_kernel_checks_on_silicon(tmp_path):
    """Every launch verifies its chains (and memory words) against the host: an `ok` run is that check passing."""
    doc = _run(tmp_path, "instructions.latency", f"ops={','.join(NEW_CHAIN_OPS)}", "iterations=16")
    rows = A.latency_rows(doc)
    assert set(rows) == set(NEW_CHAIN_OPS)
    assert all(r[0].value > 0 for r in rows.values())
    # 32 lanes on one shared word are serialized by the hardware: never faster than each lane on its own word
    assert rows["atom_shared_add_contended"][0].value >= rows["atom_shared_add"][0].value


def test_reductions_and_contended_atomics_run_in_the_throughput_sweep(tmp_path):
    doc = _run(
        tmp_path,
        "instructions.throughput",
        "ops=red_shared_add,red_global_add_contended,atom_global_min_contended",
        "iterations=8",
        "ilp=1,4",
        "warps_per_sm=1,8",
    )
    rows = A.throughput_rows(doc)
    assert set(rows) == {"red_shared_add", "red_global_add_contended", "atom_global_min_contended"}
    assert all(r[0].value > 0 for r in rows.values())


def test_throughput_points_that_cannot_be_resident_are_skipped_with_the_reason(tmp_path):
    """Issue 20 defect 4: mma_f16 at ilp 4 (40 registers) x 64 warps/SM needs more registers than an SM has; its
    second wave doubled the per-SM rate into a false plateau. Such points are recorded as skipped."""
    doc = _run(tmp_path, "instructions.throughput", "ops=mma_f16", "iterations=4", "ilp=4", "warps_per_sm=8,64")
    by_warps = {p["axes"]["warps_per_sm"]: p for p in doc["points"]}
    if tuple(doc["environment"]["compute_capability"]) in ((8, 0), (9, 0)):
        assert "do not fit" in by_warps[64].get("skipped", ""), by_warps[64].get("skipped")
    assert by_warps[8]["samples"] and not by_warps[8].get("skipped")


def test_ffma_and_dfma_read_their_dependent_latency_with_the_start_clock_after_the_loads(tmp_path):
    """Issue 20 defect 2: the start clock raced the cold load of the chains' initial values: FFMA read 3.3-3.7
    cycles instead of 4 and DFMA 7.3-7.7 instead of 8. With the clock after the load, both are whole numbers."""
    doc = _run(tmp_path, "instructions.latency", "ops=ffma,dfma", "iterations=256")
    rows = A.latency_rows(doc)
    full_fp64 = tuple(doc["environment"]["compute_capability"]) in ((8, 0), (9, 0))  # DFMA pipe on A100/H100
    for op in ("ffma", "dfma") if full_fp64 else ("ffma",):
        value = rows[op][0].value
        assert abs(value - round(value)) < 0.1, f"{op} {value:.2f} cycles: not a whole number of cycles"
