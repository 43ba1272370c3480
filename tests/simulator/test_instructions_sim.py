"""instructions.* under Numba's simulator: chains compute what the host computes, and a wrong chain is caught.

Run in its own process with NUMBA_ENABLE_CUDASIM=1: the simulator is fixed at import.
"""

import os

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
    reason="simulator tests run in their own process with NUMBA_ENABLE_CUDASIM=1",
)


@pytest.fixture
def ctx():
    from probes.engine import environment
    from probes.kernel.context import Context

    return Context("simulator", environment.capture("simulator"))


@pytest.mark.parametrize(
    "op",
    [
        "ffma",
        "dfma",
        "imad",
        "hfma2",
        "hfma2_bf16",
        "rsqrt",
        "shfl_bfly",
        "vote_ballot",
        "prmt",
        "cvt_f32_f16",
        "cvt_f64_f32",
        "atom_shared_add",
        "atom_shared_min_contended",
        "atom_global_cas",
        "atom_global_add_contended",
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
        "hadd2_bf16",
    ],
)
def test_latency_chain_ends_at_the_host_value(ctx, op):
    """measure() raises KernelCheckError unless every chain's final value equals the host's: returning proves it."""
    from probes.catalogue import instructions as I

    out = I.measure_latency(ctx, {"op": op}, {"iterations": 2})
    assert out["steps"] == 2 * I.UNROLL[1] and out["sass_opcode"]
    # The simulator's test clock ticks 4 per executed step: the two-run-length difference recovers exactly that.
    assert out["cycles_per_op"] == 4.0 and out["cycles_2n"] > out["cycles_n"]


def test_throughput_runs_every_chain_of_every_warp(ctx):
    from probes.catalogue import instructions as I

    out = I.measure_throughput(ctx, {"op": "iadd3", "ilp": 4, "warps_per_sm": 1}, {"iterations": 1})
    assert (
        out["ilp"] == 4 and out["ops_per_clk_per_sm"] > 0 and out["results_per_clk_per_sm"] == out["ops_per_clk_per_sm"]
    )


def test_a_wrong_host_expectation_is_caught(ctx, monkeypatch):
    from probes.catalogue import instructions as I
    from probes.spec import KernelCheckError

    I._expected.cache_clear()
    monkeypatch.setattr(I, "_expected", lambda name, trips, unroll: np.float32(-1.0))
    with pytest.raises(KernelCheckError, match="ffma: chain 0 ended at"):
        I.measure_latency(ctx, {"op": "ffma"}, {"iterations": 1})


@pytest.mark.parametrize(
    "op", ["red_shared_add_contended", "red_global_add", "atom_shared_cas_contended", "atom_global_min_contended"]
)
def test_memory_ops_leave_every_word_where_the_host_says(ctx, op):
    """A full warp (ilp 4): contended words take 32 lanes' steps each; measure() checks chains and words."""
    from probes.catalogue import instructions as I

    out = I.measure_throughput(ctx, {"op": op, "ilp": 4, "warps_per_sm": 1}, {"iterations": 1})
    assert out["memory"] in ("shared", "global") and out["contended"] == op.endswith("contended")


def test_a_wrong_memory_word_is_caught(ctx, monkeypatch):
    """The word check is live: a host model that forgets the 32 sharers of a contended word is rejected."""
    from probes.catalogue import instructions as I
    from probes.spec import KernelCheckError
    from probes.static import instruction_table as O

    monkeypatch.setattr(
        I,
        "_expected_word",
        lambda name, trips, unroll, sharers: int(O.host_final(O.BY_NAME[name], trips, unroll, 1)[1]),
    )
    with pytest.raises(KernelCheckError, match="red_shared_add_contended: memory word 0 ended at"):
        I.measure_throughput(ctx, {"op": "red_shared_add_contended", "ilp": 1, "warps_per_sm": 1}, {"iterations": 1})


def test_bar_sync_latency_runs_a_block_of_several_warps(ctx):
    from probes.catalogue import instructions as I

    out = I.measure_latency(ctx, {"op": "bar_sync"}, {"iterations": 1})
    assert out["block_warps"] == 4 and out["cycles_per_op"] == 4.0
