"""Issue 20's schedule checks on our own kernels (sm_90 SASS, no GPU): clock discipline, step overhead between
chained loads, loop-resident polls and the coverage plan of the ladders.

The chase and instruction kernels before issue 20 fail these: their start clock raced the last warm load (or the
chains' initial loads), and Numba's int64 range() put 20-41 issue cycles between chained loads. A hand-built kernel
of that old shape is kept here so the checks are seen to fail.
"""

from __future__ import annotations

import numpy as np
import pytest

from probes import catalogue
from probes.kernel import chase as chaselib
from probes.kernel.compile import kernel_ptx, ptx_to_sass
from probes.spec import GiB, KiB, MiB
from probes.static import kernel_checks as K

CHASES = [
    "latency.ladder.global",
    "latency.ladder.global.cg",
    "latency.tlb",
    "latency.shared",
    "latency.constant",
    "latency.local",
    "latency.l2.nearfar",
]


def _functions(name: str, cc=(9, 0)):
    from probes.kernel.compile import cached_kernels

    arch = f"sm_{cc[0]}{cc[1]}"
    return [
        (k, insts) for k, ptx in cached_kernels(catalogue.get(name), cc) for insts in ptx_to_sass(ptx, arch).values()
    ]


@pytest.mark.parametrize("name", CHASES)
def test_chase_clocks_wait_for_every_load_and_chained_loads_are_back_to_back(name):
    expect = catalogue.get(name).expect  # declared on the probe: what its compiled kernels must show
    assert expect.unroll == 16
    for kernel, insts in _functions(name):
        assert K.clock_problems(insts) == [], kernel
        over = K.step_overhead(insts, expect.chain)
        assert over and over["steps_per_trip"] >= 16, over  # 16 chained loads per trip of the loop
        assert over["max_cycles"] <= expect.step_budget, over
        assert K.step_problems(insts, expect.chain, expect.step_budget, expect.unroll) == []
        # the declared unroll is checked: a kernel rolled up to fewer steps per trip than declared fails
        assert any(
            "per loop trip, declared" in p
            for p in K.step_problems(insts, expect.chain, expect.step_budget, 2 * over["steps_per_trip"])
        )


def test_instruction_kernels_start_their_clock_after_the_chains_initial_loads():
    """k_ffma_ilp1 read the start clock while the LDG of xs was in flight: FFMA would read 3.3-3.7 cycles."""
    from probes.catalogue import instructions as I

    ((name, ptx),) = I.latency_kernels((9, 0))
    funcs = ptx_to_sass(ptx, "sm_90")
    ops = {}
    for insts in funcs.values():
        ops[I._op_of(insts).name] = K.clock_problems(insts)
    assert {"ffma", "dfma", "imad", "mufu_rcp" if "mufu_rcp" in ops else "ffma"} <= set(ops)
    assert {op: p for op, p in ops.items() if p} == {}


def _old_timed_passes(step):
    """The timed passes before issue 20: range() loops, start clock right after the warm pass."""
    from numba import cuda

    from probes.kernel import intrinsics as X

    @cuda.jit(device=True)
    def timed(memory, p, steps, out):
        for _ in range(steps):
            p = step(memory, p)
        t0 = X.clock64()
        for _ in range(steps):
            p = step(memory, p)
        if p == 1:
            out[4] = 7
        t1 = X.clock64()
        for _ in range(2 * steps):
            p = step(memory, p)
        if p == 1:
            out[4] = 7
        t2 = X.clock64()
        out[0] = t1 - t0
        out[2] = t2 - t1
        return p

    return timed


def test_the_checks_fail_on_the_old_chase_shape():
    from numba import types

    timed = _old_timed_passes(chaselib.chase_step(""))

    def chase(memory, start, steps, out):
        out[5] = timed(memory, start, steps, out)

    sig = (types.uint64[::1], types.uint64, types.int64, types.uint64[::1])
    (insts,) = ptx_to_sass(kernel_ptx(chase, sig, (9, 0)), "sm_90").values()
    assert any("does not wait for LDG" in p for p in K.clock_problems(insts))
    over = K.step_overhead(insts, "LDG")
    assert over["max_cycles"] > 16 and K.step_problems(insts, "LDG", 16)


# ---- the cache-hint chase kernels: the same checks, wired through the probes' KERNEL_CHECKS ----------------------

HINT_CHASES = [
    "cache-hints.residency",
    "cache-hints.store",
    "cache-hints.pollution",
    "cache-hints.prefetch-size",
    "cache-hints.persisting",
]


@pytest.mark.parametrize("name", HINT_CHASES)
def test_cache_hint_clocks_wait_for_every_load_and_chained_loads_are_back_to_back(name):
    from probes.catalogue import cache_hints
    from probes.catalogue.cache_hints import host

    expect_of = cache_hints.KERNEL_CHECKS[name]
    chased = 0
    for kernel, insts in _functions(name):
        expect = expect_of(kernel)
        if K.clock_reads(insts):
            assert K.clock_problems(insts) == [], kernel
        if expect.chain:
            chased += 1
            over = K.step_overhead(insts, expect.chain)
            assert over and over["steps_per_trip"] >= 16, (kernel, over)  # warm laps and timed passes alike
            assert over["max_cycles"] <= expect.step_budget == host.STEP_BUDGET, (kernel, over)
    assert chased or name == "cache-hints.prefetch-size"  # prefetch times one load past a setup: no chase loop


def _old_hint_walk(step):
    """The cache-hint timed walk before issue 21 §1: int64 range() loops of k and 2k steps."""
    from numba import cuda

    from probes.kernel import intrinsics as X

    @cuda.jit(device=True)
    def walk(mem, p, k, out, idx):
        if p == 1:
            out[idx] = 7
        t0 = X.clock64()
        for _ in range(k):
            p = step(mem, p)
        if p == 1:
            out[idx] = 7
        t1 = X.clock64()
        for _ in range(2 * k):
            p = step(mem, p)
        if p == 1:
            out[idx] = 7
        t2 = X.clock64()
        out[idx] = t1 - t0
        out[idx + 1] = t2 - t1
        return p

    return walk


def test_the_dry_run_fails_the_old_cache_hint_walk_and_passes_the_new_one():
    """The dry run's checks (KERNEL_CHECKS of the cache-hint probes) on the timed .cg walk of cache-hints.pollution:
    the old range() walk put loop bookkeeping between chained loads (over the budget), the new one does not."""
    from numba import types

    from probes import dryrun
    from probes.catalogue.cache_hints import kernels as HK
    from probes.catalogue.cache_hints import ops

    walk = _old_hint_walk(ops.chase_step("cg"))

    def timed_cg(mem, start, k, out):
        p = walk(mem, start, k, out, 0)
        out[2] = p

    sig = (types.uint64[::1], types.uint64, types.int64, types.uint64[::1])
    old = ptx_to_sass(kernel_ptx(timed_cg, sig, (9, 0)), "sm_90")
    new = ptx_to_sass(HK.module_ptx("timed-cg", (9, 0)), "sm_90")
    probe = catalogue.get("cache-hints.pollution")
    env = dryrun.nominal_environment("sm_90")
    checks = dryrun.kernel_checks(probe, "sm_90", {"timed-cg@sm_90": (b"", "", old)}, env)
    n, failures, _ = checks["step overhead"]
    assert n == 1 and len(failures) == 1 and "loop overhead inside the chase" in failures[0]
    n, failures, notes = dryrun.kernel_checks(probe, "sm_90", {"timed-cg@sm_90": (b"", "", new)}, env)["step overhead"]
    assert n == 1 and failures == [] and notes and max(notes) <= 16
    assert dryrun.kernel_checks(probe, "sm_90", {"timed-cg@sm_90": (b"", "", new)}, env)["clock discipline"][:2] == (
        1,
        [],
    )


def test_a_missing_stop_wait_and_a_hoisted_poll_are_caught():
    from probes.static.sass import parse_cuobjdump

    hi = lambda stall, wbar=7, wait=0: (stall | (1 << 4) | (wbar << 5) | (7 << 8) | (wait << 11)) << 41  # noqa: E731
    rows = [
        (0x00, "CS2R R6, SR_CLOCKLO", hi(1)),
        (0x10, "LDG.E.64 R2, desc[UR4][R2.64]", hi(1, 0)),
        (0x20, "CS2R R8, SR_CLOCKLO", hi(1)),
        (0x30, "CS2R R10, SR_CLOCKLO", hi(1)),
        (0x40, "STG.E.64 desc[UR4][R4.64], R2", hi(1, wait=1)),
        (0x50, "EXIT", hi(1)),
    ]
    text = "code for sm_90\n  Function : k\n" + "".join(
        f"        /*{a:04x}*/ {t} ;  /* 0x{0:016x} */\n        /* 0x{h:016x} */\n" for a, t, h in rows
    )
    (insts,) = parse_cuobjdump(text).values()
    assert any("stop clock at 0x20 does not wait" in p for p in K.clock_problems(insts))
    assert K.loop_resident_problems(insts, "LDG") == ["LDG.E.64 at 0x10 is outside every loop: the poll was hoisted"]


def test_staleness_polls_stay_inside_their_loop_for_every_hint():
    """The three .nc variants had their LDG.E.CONSTANT hoisted before the poll loop ('100 % stale')."""
    seen = 0
    for kernel, insts in _functions("cache-hints.staleness"):
        if not kernel.startswith("staleness"):
            continue
        consumer_loads = [i for i in insts if i.base == "LDG"]
        if consumer_loads:
            seen += 1
            assert K.loop_resident_problems(insts, "LDG") == [], kernel
    assert seen >= 3


# ---- coverage of the ladder plans ----------------------------------------------------------------------------------

H100 = {
    "l2_cache_bytes": 50 * MiB,
    "memory_total_bytes": 80 * GiB,
    "shared_memory_per_sm_bytes": 228 * KiB,
    "compute_capability": [9, 0],
}


def test_ladder_plan_covers_small_footprints_and_says_why_not_for_large_ones():
    from probes.catalogue import latency_ladder as L

    params = catalogue.get("latency.ladder.global").parse_params([])
    small = L.plan(H100, {"footprint_bytes": 4 * MiB}, params)
    assert small["covers"] and small["launch_fraction"] == 1.0 and not small["warm_lap"]
    near = L.plan(H100, {"footprint_bytes": 100 * MiB}, params)  # within 4 x L2: one full warm lap first
    assert not near["covers"] and near["warm_lap"] and "warm lap" in near["reason"]
    far = L.plan(H100, {"footprint_bytes": 2 * GiB}, params, launches=11)
    assert not far["covers"] and not far["warm_lap"] and "continue from the previous final slot" in far["reason"]
    assert far["launch_fraction"] == pytest.approx(4 * params["max_steps"] / (2 * GiB // 64), rel=1e-4)


def test_chain_order_walk_matches_next():
    order = chaselib.sattolo_order(50, np.random.default_rng(3))
    nxt = chaselib.cycle_of(order)
    assert all(chaselib.walk(nxt, int(order[i]), 7) == int(order[(i + 7) % 50]) for i in range(50))
    assert np.array_equal(chaselib.sattolo_cycle(50, np.random.default_rng(3)), nxt)  # same chains as before
