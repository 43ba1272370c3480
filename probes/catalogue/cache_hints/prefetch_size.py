"""cache-hints.prefetch-size: latency of a .cg load offset_bytes past one L2::64B/128B/256B-hinted access (an L2 hit
means the hinted access brought that sector into L2)."""

from __future__ import annotations

import numpy as np

from probes.catalogue.cache_hints.host import REQ, cached, chains, check, flush, hint_axes, hints_param, method_text
from probes.catalogue.cache_hints.kernels import check_sass, kernels_for, marker, prefetch_kernel
from probes.kernel import timed_pass as T
from probes.spec import KiB, Param, Probe, ProbeSpecError, positive

GROUP = 4 * KiB  # one prefetch group per 4 KiB: no L2 prefetch (<= 256 B) reaches a neighbour group


def _prefetch_chain(ctx, triples: int, offset: int):
    """Chain per triple (a, b, c): base_a -> base_b -> base_c -> a+off -> b+off -> c+off -> next base_a."""
    per_group = GROUP // 8
    groups = ctx.rng("prefetch", triples).permutation(3 * triples) * per_group
    off = offset // 8
    order = []
    for r in range(triples):
        a, b, c = groups[3 * r : 3 * r + 3]
        order += [a, b, c, a + off, b + off, c + off]
    return chains(ctx, 3 * triples * per_group, [np.array(order)])


def measure_prefetch(ctx, point: dict, params: dict) -> dict:
    """One row per triple: t(1) = `cycles_n` (one .cg load), t(2) = `cycles_2n` (two), per load t(2) - t(1)."""
    hint, offset, triples = point["hint"], point["offset_bytes"], params["triples"]
    d_mem, _, starts = cached(("prefetch", triples, offset), lambda: _prefetch_chain(ctx, triples, offset))
    flush(ctx)
    out = ctx.to_device(np.zeros(2 + 2 * triples, dtype=np.uint64))
    ctx.kernel(("prefetch", hint), prefetch_kernel(hint))[1, 1](d_mem, starts[0], triples, out)
    ctx.synchronize()
    o = out.copy_to_host()
    check("prefetch chain end", o[1], starts[0])
    check("prefetch hint marker", o[0], marker("prefetch", hint))
    t = o[2:].astype(np.int64).reshape(-1, 2)
    sample = T.per_op({"cycles_n": t[:, 0], "cycles_2n": t[:, 1], "steps": 1})
    return {
        "cycles_per_op": sample["cycles_per_op"],
        "cycles_n": t[:, 0],
        "cycles_2n": t[:, 1],
        "steps": 1,
        "offset_bytes": offset,
    }


def _offsets(env: dict, params: dict) -> tuple:
    offs = params["offsets_bytes"]
    bad = [o for o in offs if o % 8 or not 8 <= o < GROUP]
    if bad:
        raise ProbeSpecError(f"parameter offsets_bytes: {bad[0]} must be a multiple of 8 in [8, {GROUP})")
    return tuple(offs)


PROBE = Probe(
    name="cache-hints.prefetch-size",
    summary="latency of a .cg load offset_bytes past one L2::64B/128B/256B-hinted access",
    measure=measure_prefetch,
    axes=hint_axes("prefetch", offset_bytes=_offsets),
    unit="cycles/load",
    method=method_text("""Cold 4 KiB groups in random order, taken in triples: the three group bases are loaded
        with the hint (a dependent chain), then one .cg load at base+offset of the first group is timed (t1) and
        two at the others (t2); t2 - t1 is one load without clock overhead. An L2 hit means the hinted access
        brought that sector into L2."""),
    params=(
        hints_param("prefetch"),
        Param(
            "offsets_bytes",
            tuple,
            (32, 64, 96, 128, 192, 256, 384, 512),
            "offsets past the hinted access, bytes (multiples of 8)",
        ),
        Param("triples", int, 32, "group triples per launch (samples per launch)", positive),
    ),
    requires=REQ,
    kernels=kernels_for("prefetch"),
    check_sass=check_sass,
    smoke=("hints=none,L2::256B", "offsets_bytes=64,256", "triples=2"),
)
