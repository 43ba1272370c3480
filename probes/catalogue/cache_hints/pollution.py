"""cache-hints.pollution: a victim set resident in L1 (or L2), a buffer streamed with the hinted load, the victim
re-timed: how much of it the hinted stream evicted."""

from __future__ import annotations

import numpy as np

from probes.catalogue.cache_hints.host import (
    BLOCKS,
    CHASE_METHOD,
    REQ,
    THREADS,
    K,
    cached,
    chains,
    check,
    flush,
    grid,
    hint_axes,
    hints_param,
    l1_guess,
    l2_victim,
    method_text,
    region_cycles,
    steps_of,
    stream_buffer,
    timed,
)
from probes.catalogue.cache_hints.kernels import LINE, check_sass, kernels_for, marker, pollution_l1_kernel
from probes.spec import Param, Probe, ProbeSpecError


def measure_pollution(ctx, point: dict, params: dict) -> dict:
    hint, level, k = point["hint"], point["level"], steps_of(params)
    if level != "l1":
        return l2_victim(ctx, hint, params)
    d_mem, _, starts = cached(
        ("pollution-l1", k), lambda: chains(ctx, 3 * k * LINE // 8, region_cycles(ctx, ("pollution-l1", k), 1, 3 * k))
    )
    lines, d_stream = stream_buffer(ctx, params["stream_bytes"] or 4 * l1_guess(ctx.env))
    flush(ctx)
    out = ctx.to_device(np.zeros(8, dtype=np.uint64))
    acc = ctx.to_device(np.zeros(1, dtype=np.uint64))
    _, threads = grid(ctx, params)
    ctx.kernel(("pollution-l1", hint), pollution_l1_kernel(hint))[1, threads](
        d_mem, starts[0], k, d_stream, lines, out, acc
    )
    ctx.synchronize()
    o = out.copy_to_host()
    check("victim chain end", o[6], starts[0])
    check("hinted stream sum", acc.copy_to_host()[0], lines)
    check("pollution hint marker", o[7], marker("pollution-l1", hint))
    return {
        **timed(o, 4, k),
        **timed(o, 0, k, "band_l1_cycles"),
        **timed(o, 2, k, "band_l2_cycles"),
        "stream_bytes": lines * LINE,
        "k": params["k"],
        "steps": k,
    }


def _levels(env: dict, params: dict) -> tuple:
    levels = tuple(v.strip() for v in params["levels"].split(",") if v.strip())
    bad = [v for v in levels if v not in ("l1", "l2")]
    if bad or not levels:
        raise ProbeSpecError(f"parameter levels={params['levels']!r}: use l1, l2 or l1,l2")
    return levels


PROBE = Probe(
    name="cache-hints.pollution",
    summary="victim set resident in L1 (or L2), stream a buffer with the hinted load, re-time the victim",
    measure=measure_pollution,
    axes=hint_axes("pollution-l1", level=_levels),
    unit="cycles/load",
    method=method_text("""Level l1: one block; thread 0 makes a 3n-line victim chain L1-resident and times it
        (L1 band) and with .cg (L2 band); the block streams `stream_bytes` (default 4x the L1/shared capacity)
        with the hinted 4-byte load, one per line; thread 0 re-times the victim plain. Level l2: a victim of L2/4
        is touched by all blocks, its .cg latency is the L2 band; all blocks stream `stream_bytes` (default the
        L2 size) with the hint; the victim's .cg latency is re-timed; a never-touched chain gives the HBM band.
        Survival = how far the re-timed latency stayed from the evicted band.""")
    + CHASE_METHOD,
    params=(
        hints_param("pollution-l1"),
        K,
        THREADS,
        BLOCKS,
        Param("levels", str, "l1,l2", "victim levels: l1, l2 or l1,l2"),
        Param("stream_bytes", int, 0, "streamed buffer (0: 4x L1/shared capacity for l1, L2 size for l2)"),
    ),
    requires=REQ,
    kernels=kernels_for("pollution-l1", "pollution-l2"),
    check_sass=check_sass,
    smoke=("hints=none,cs", "k=2", "stream_bytes=2048", "threads=8", "blocks=2"),
)
