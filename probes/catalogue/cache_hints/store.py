"""cache-hints.store: write a pointer chain into cold lines with the hinted st.global, then re-time a plain re-read
(an L1 hit means the store allocated in L1, an L2 hit that it stopped in L2)."""

from __future__ import annotations

import numpy as np

from probes.catalogue.cache_hints.host import (
    CHASE_METHOD,
    REQ,
    K,
    addr,
    cached,
    chains,
    check,
    flush,
    hint_axes,
    hints_param,
    method_text,
    region_cycles,
    steps_of,
    timed,
)
from probes.catalogue.cache_hints.kernels import LINE, check_sass, kernels_for, marker, store_kernel
from probes.spec import KernelCheckError, Probe


def measure_store(ctx, point: dict, params: dict) -> dict:
    hint, k = point["hint"], steps_of(params)
    n = 3 * k
    per_line = LINE // 8

    def build():
        d_mem, _, starts = chains(ctx, 3 * n * per_line, region_cycles(ctx, ("store-bands", k), 3, n))
        d_t = ctx.device_array(n * per_line, np.uint64)
        base = ctx.address_of(d_t)
        order = ctx.rng("store", k).permutation(n) * per_line
        slots = np.asarray(addr(base, order), dtype=np.uint64)
        nexts = np.roll(slots, -1)
        expected = np.zeros(n * per_line, dtype=np.uint64)
        expected[order] = nexts
        return d_mem, ctx.to_device(starts), starts, d_t, ctx.to_device(slots), ctx.to_device(nexts), slots, expected

    d_mem, d_starts, starts, d_t, d_slots, d_nexts, slots, expected = cached(("store", k), build)
    d_t.copy_to_device(np.zeros(n * per_line, dtype=np.uint64))  # the stores alone must rebuild the chain
    flush(ctx)
    out = ctx.to_device(np.zeros(13, dtype=np.uint64))
    ctx.kernel(("store", hint), store_kernel(hint))[1, 1](d_t, d_slots, d_nexts, d_mem, d_starts, k, out)
    ctx.synchronize()
    o = out.copy_to_host()
    if not np.array_equal(d_t.copy_to_host(), expected):
        raise KernelCheckError("hinted stores did not write the chain the host expects")
    check("stored chain end", o[8], slots[0])
    for i, region in enumerate(("H", "M", "C")):
        check(f"store band chain {region} end", o[9 + i], starts[i])
    check("store hint marker", o[12], marker("store", hint))
    return {
        **timed(o, 0, k),
        **timed(o, 2, k, "band_l1_cycles"),
        **timed(o, 4, k, "band_l2_cycles"),
        **timed(o, 6, k, "band_hbm_cycles"),
        "k": params["k"],
        "steps": k,
    }


PROBE = Probe(
    name="cache-hints.store",
    summary="write a chain with the hinted st.global into cold lines, re-time a plain re-read",
    measure=measure_store,
    axes=hint_axes("store"),
    unit="cycles/load",
    method=method_text("""Cold lines receive a pointer chain through the hinted 8-byte store (.wb/.cg/.cs/.wt/
        L1::no_allocate/...); the chain is then re-walked with plain loads: an L1 hit means the store allocated
        in L1, an L2 hit that it stopped in L2.""")
    + CHASE_METHOD,
    params=(hints_param("store"), K),
    requires=REQ,
    kernels=kernels_for("store"),
    check_sass=check_sass,
    smoke=("hints=none,cs", "k=2"),
)
