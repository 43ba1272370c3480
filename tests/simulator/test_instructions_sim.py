"""instructions.* under Numba's simulator: chains compute what the host computes, and a wrong chain is caught.

Run in its own process with NUMBA_ENABLE_CUDASIM=1: the simulator is fixed at import.
"""
import os

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
                                reason="simulator tests run in their own process with NUMBA_ENABLE_CUDASIM=1")


@pytest.fixture
def ctx():
    from probes.engine import environment
    from probes.engine.context import Context
    return Context("simulator", environment.capture("simulator"))


@pytest.mark.parametrize("op", ["ffma", "dfma", "imad", "hfma2", "hfma2_bf16", "rsqrt", "shfl_bfly",
                                "vote_ballot", "prmt", "cvt_f32_f16", "cvt_f64_f32"])
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
    assert out["ilp"] == 4 and out["ops_per_clk_per_sm"] > 0 and out["results_per_clk_per_sm"] == out["ops_per_clk_per_sm"]


def test_a_wrong_host_expectation_is_caught(ctx, monkeypatch):
    from probes.catalogue import instructions as I
    from probes.spec import KernelCheckError
    I._expected.cache_clear()
    monkeypatch.setattr(I, "_expected", lambda name, trips, unroll: np.float32(-1.0))
    with pytest.raises(KernelCheckError, match="ffma: chain 0 ended at"):
        I.measure_latency(ctx, {"op": "ffma"}, {"iterations": 1})
