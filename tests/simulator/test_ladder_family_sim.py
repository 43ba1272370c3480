"""Every chase of the ladder family under Numba's simulator: the kernel ends where the host walk ends, and the
two-length timing arithmetic gives exactly what the test clock charges per load.

Run in its own process with NUMBA_ENABLE_CUDASIM=1: the simulator is fixed at import. The simulator's clock is a
test clock (+4 per read, and the family's simulated loads read it once), so these numbers check code, not hardware.
"""

import os

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
    reason="simulator tests run in their own process with NUMBA_ENABLE_CUDASIM=1",
)

# probe -> (point, params): tiny arrays, a few hundred loads at most
CASES = {
    "latency.ladder.global": ({"footprint_bytes": 2048}, {"stride_bytes": 64, "max_steps": 16}),
    "latency.ladder.global.ca": ({"footprint_bytes": 1024}, {"stride_bytes": 64, "max_steps": 8}),
    "latency.ladder.global.cg": ({"footprint_bytes": 1024}, {"stride_bytes": 128, "max_steps": 8}),
    "latency.ladder.global.nc": ({"footprint_bytes": 4096}, {"stride_bytes": 256, "max_steps": 8}),
    "latency.tlb": ({"footprint_bytes": 6 * 65536}, {"stride_bytes": 65536, "spread_bytes": 128, "max_steps": 8}),
    "latency.shared": ({"footprint_bytes": 512}, {"stride_bytes": 4, "max_steps": 16}),
    "latency.constant": ({"footprint_bytes": 1024}, {"stride_bytes": 64, "max_steps": 16}),
    "latency.local": ({"footprint_bytes": 256}, {"stride_bytes": 8, "max_steps": 16}),
}


@pytest.fixture
def ctx():
    from probes.engine import environment
    from probes.kernel.context import Context

    return Context("simulator", environment.capture("simulator"))


@pytest.mark.parametrize("name", list(CASES))
def test_chase_ends_at_the_host_walk_and_times_each_load(name, ctx):
    """measure() raises KernelCheckError unless the kernel's final pointer is where 4n host hops end."""
    from probes import catalogue
    from probes.kernel.chase import SIM_CYCLES_PER_STEP, SIM_NS_PER_STEP

    point, params = CASES[name]
    out = catalogue.get(name).measure(ctx, point, params)
    from probes.kernel.timed_pass import round_steps

    assert out["steps"] == round_steps(params["max_steps"])
    # (t(2n) - t(n)) / n: the fixed cost of the clock reads cancels, leaving the per-load charge exactly
    assert out["cycles_per_op"] == SIM_CYCLES_PER_STEP and out["ns_per_op"] == SIM_NS_PER_STEP
    assert out["cycles_2n"] > out["cycles_n"] > 0


def test_a_corrupted_global_chain_is_caught(ctx):
    from probes.kernel import chase as chaselib
    from probes.spec import KernelCheckError

    pos = chaselib.page_positions(8, 64)
    nxt = chaselib.sattolo_cycle(8, np.random.default_rng(0))
    chain = chaselib.Chain(ctx, 512, pos, nxt)
    host = chain.memory.copy_to_host()
    stuck = int(pos[int(nxt[0])] // 8)
    host[stuck] = stuck  # the slot after 0 now points to itself
    chain.memory.copy_to_device(host)
    with pytest.raises(KernelCheckError, match="chain corrupted"):
        chaselib.run_chase(ctx, "chase", chaselib.chase_step(""), chain, 16)


def test_each_launch_continues_from_the_previous_final_slot(ctx):
    """Issue 20 defect 1: a launch restarted at slot 0 re-walked the same 4n slots; now launch k starts at rank
    4 n k (mod slots), the kernel's end is checked against the host walk from there, and each sample says which
    fraction of the chain it visited."""
    from probes import catalogue

    probe = catalogue.get("latency.ladder.global")
    params = {**probe.parse_params([]), "stride_bytes": 64, "max_steps": 16}
    point = {"footprint_bytes": 64 * 160}  # 160 slots, 64 loads per launch
    outs = [probe.measure(ctx, point, params) for _ in range(4)]
    steps = outs[0]["steps"]
    first = outs[0]["start_rank"]  # 0, or where the untimed warm lap (footprint within 4 x L2) ended
    assert [o["start_rank"] for o in outs] == [(first + 4 * steps * k) % 160 for k in range(4)]
    assert len({o["start_rank"] for o in outs}) == 4  # four different stretches of the cycle
    assert all(o["chain_fraction"] == 4 * steps / 160 for o in outs)


def test_a_pass_must_be_whole_unrolled_trips(ctx):
    from probes.kernel import chase as chaselib

    chain = chaselib.Chain(
        ctx, 512, chaselib.page_positions(8, 64), chaselib.sattolo_cycle(8, np.random.default_rng(0))
    )
    with pytest.raises(ValueError, match="whole trips"):
        chaselib.run_chase(ctx, "chase", chaselib.chase_step(""), chain, 8)


def test_a_wrong_host_expectation_is_caught_for_the_other_paths(ctx, monkeypatch):
    from probes import catalogue
    from probes.catalogue import latency_paths
    from probes.spec import KernelCheckError

    real = latency_paths.walk
    monkeypatch.setattr(latency_paths, "walk", lambda nxt, start, hops: (real(nxt, start, hops) + 1) % len(nxt))
    latency_paths._ENDS.clear()
    point, params = CASES["latency.shared"]
    with pytest.raises(KernelCheckError, match="shared chase ended"):
        catalogue.get("latency.shared").measure(ctx, point, params)
    latency_paths._ENDS.clear()
