"""cache-hints.residency: touch cold lines with the hinted load, then re-time a plain (L1?) and a .cg (L2?) re-walk."""

from __future__ import annotations

import numpy as np

from probes.catalogue.cache_hints.host import (
    CHASE_METHOD,
    REQ,
    K,
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
from probes.catalogue.cache_hints.kernels import LINE, check_sass, kernels_for, marker, residency_kernel
from probes.spec import Probe


def measure_residency(ctx, point: dict, params: dict) -> dict:
    hint, k = point["hint"], steps_of(params)
    d_mem, _, starts = cached(
        ("residency", k), lambda: chains(ctx, 5 * 3 * k * LINE // 8, region_cycles(ctx, ("residency", k), 5, 3 * k))
    )
    d_starts = cached(("residency-starts", k), lambda: ctx.to_device(starts))
    flush(ctx)
    out = ctx.to_device(np.zeros(16, dtype=np.uint64))
    ctx.kernel(("residency", hint), residency_kernel(hint))[1, 1](d_mem, d_starts, k, out)
    ctx.synchronize()
    o = out.copy_to_host()
    for i, region in enumerate(("T1", "T2", "H", "M", "C")):
        check(f"residency chain {region} end", o[10 + i], starts[i])
    check("residency hint marker", o[15], marker("residency", hint))
    return {
        **timed(o, 0, k),
        **timed(o, 2, k, "l2_reaccess_cycles"),
        **timed(o, 4, k, "band_l1_cycles"),
        **timed(o, 6, k, "band_l2_cycles"),
        **timed(o, 8, k, "band_hbm_cycles"),
        "k": params["k"],
        "steps": k,
    }


PROBE = Probe(
    name="cache-hints.residency",
    summary="touch lines with the hinted load, re-time a plain (L1?) and a .cg (L2?) re-access",
    measure=measure_residency,
    axes=hint_axes("residency"),
    unit="cycles/load",
    method=method_text("""Cold lines are touched once with the hinted load; the headline is the per-load latency
        of a plain re-walk (an L1 hit if the hint allocated in L1), `l2_reaccess_cycles` that of a .cg re-walk of
        other hinted lines (L2 hit or HBM).""")
    + CHASE_METHOD,
    params=(hints_param("residency"), K),
    requires=REQ,
    kernels=kernels_for("residency"),
    check_sass=check_sass,
    smoke=("hints=none,cg", "k=2"),
)
