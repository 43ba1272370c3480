"""Global-memory latency ladder: one thread walks a random single-cycle pointer chain; cycles per load vs footprint.

Method: memory holds absolute addresses, so each step is one `LDG.E.64` whose result is the next address (no
address arithmetic in the chain). The chain is a random cyclic permutation of the footprint's slots (Sattolo's
algorithm, built on the host, one slot per `stride_bytes`). A first pass warms caches/TLBs, then two timed passes of
`steps` and `2*steps` loads; per-load latency = (t(2n) - t(n)) / n cancels loop and timer overhead (nanoBench).
`%clock64` gives cycles, `%globaltimer` ns; the stop reads come after a branch on the last loaded value, so they
wait for that load to land (a bare stop-clock read races the final load).
"""
from __future__ import annotations

import numpy as np

from probes.engine import intrinsics as X
from probes.spec import GiB, KernelCheckError, KiB, Param, Probe, fits_in_free_memory, geometric, min_cc, multiple_of, positive

QUALIFIERS = {"default": "", "ca": ".ca", "cg": ".cg"}


def sattolo_cycle(n: int, rng: np.random.Generator) -> np.ndarray:
    """next[i] for a single random cycle through all n slots (Sattolo: every slot is visited once per lap)."""
    order = rng.permutation(n)
    nxt = np.empty(n, dtype=np.int64)
    nxt[order] = np.roll(order, -1)
    return nxt


def chase(memory, start, steps, out):
    p = start
    for _ in range(steps):              # warm pass
        p = X.ld_u64_addr(memory, p)
    t0 = X.clock64()
    g0 = X.globaltimer()
    for _ in range(steps):
        p = X.ld_u64_addr(memory, p)
    if p == 1:                          # consume the last load before the stop reads
        out[4] = 7
    t1 = X.clock64()
    g1 = X.globaltimer()
    for _ in range(steps):
        p = X.ld_u64_addr(memory, p)
    if p == 1:
        out[4] = 7
    t2 = X.clock64()
    g2 = X.globaltimer()
    out[0] = t1 - t0
    out[1] = g1 - g0
    out[2] = t2 - t1
    out[3] = g2 - g1
    out[5] = p


def _build_chain(ctx, footprint: int, stride: int):
    slots = footprint // stride
    nxt = sattolo_cycle(slots, ctx.rng(footprint, stride))
    words = footprint // 8
    per_slot = stride // 8
    host = np.zeros(words, dtype=np.uint64)
    d_mem = ctx.device_array(words, np.uint64)
    base = ctx.address_of(d_mem)
    host[np.arange(slots) * per_slot] = (base + nxt * stride if base else nxt * per_slot).astype(np.uint64)
    d_mem.copy_to_device(host)
    return d_mem, np.uint64(base)


_CHAINS: dict = {}


def measure(ctx, point: dict, params: dict) -> dict:
    footprint, stride = point["footprint_bytes"], params["stride_bytes"]
    key = (footprint, stride)
    if key not in _CHAINS:
        _CHAINS.clear()  # one chain resident at a time: footprints reach GiBs
        _CHAINS[key] = _build_chain(ctx, footprint, stride)
    d_mem, start = _CHAINS[key]
    steps = int(min(max(footprint // stride, 256), params["max_steps"]))
    out = ctx.device_array(6, np.uint64)
    ctx.kernel("chase", chase)[1, 1](d_mem, start, steps, out)
    ctx.synchronize()
    c1, n1, c2, n2, _, final = (int(v) for v in out.copy_to_host())
    if final != _expected_end(d_mem, start, steps, key, ctx):
        raise KernelCheckError(f"pointer chase ended at {final:#x}, expected {_expected_end.cache[key]:#x}: chain corrupted")
    # Two timed passes of `steps` loads each: their difference cancels the fixed overhead of one pass.
    cycles = (c1 + c2) / (2 * steps)
    return {"cycles_per_op": cycles, "ns_per_op": (n1 + n2) / (2 * steps), "cycles": c1 + c2, "ns": n1 + n2,
            "steps": steps}


def _expected_end(d_mem, start, steps: int, key, ctx) -> int:
    """Where 3 passes of `steps` hops must end (host walk, once per chain): proves the kernel chased the chain."""
    if key not in _expected_end.cache:
        host = d_mem.copy_to_host()
        base = ctx.address_of(d_mem)
        p = int(start)
        for _ in range(3 * steps):
            p = int(host[(p - base) // 8]) if base else int(host[p])
        _expected_end.cache = {key: p}
    return _expected_end.cache[key]


_expected_end.cache = {}


def footprints(env: dict, params: dict) -> dict:
    lo = params["min_footprint_bytes"]
    hi = params["max_footprint_bytes"] or int(min(4 * GiB, 0.25 * env["memory_total_bytes"],
                                                  max(64 * env["l2_cache_bytes"], 256 * 1024 * KiB // 1024)))
    return {"footprint_bytes": geometric(lo, hi, per_octave=params["points_per_octave"],
                                         multiple_of=params["stride_bytes"])}


def kernels(cc):
    from numba import types

    from probes.engine.compile import kernel_ptx
    sig = (types.uint64[::1], types.uint64, types.int64, types.uint64[::1])
    return [("chase", kernel_ptx(chase, sig, cc))]


def check_sass(name: str, insts) -> list[str]:
    """The chase must be LDG.E.64 loads each addressed by the previous one's result, bracketed by clock reads."""
    problems = []
    loads = [i for i in insts if i.base == "LDG" and ".64" in i.opcode]
    clocks = [i for i in insts if i.base == "CS2R" and "SR_CLOCKLO" in i.text]
    if len(clocks) < 3:
        problems.append(f"expected 3 %clock64 reads, found {len(clocks)}")
    chained = sum(1 for i in loads if i.dest_registers and any(
        i.dest_registers[0] in op for op in i.operands[1:]))
    if chained < 3:
        problems.append(f"expected a dependent LDG.E.64 chain, found {chained} self-addressed loads")
    return problems


PROBES = (
    Probe(
        name="latency.ladder.global",
        summary="pointer-chase latency vs footprint, one thread, random single cycle",
        measure=measure, axes=footprints, unit="cycles/load", method=__doc__.split("\n\n")[1].replace("\n", " "),
        params=(
            Param("stride_bytes", int, 64, "distance between chained slots", multiple_of(8)),
            Param("min_footprint_bytes", int, 1 * KiB, "smallest working set", positive),
            Param("max_footprint_bytes", int, 0, "largest working set (0: derived from L2 and memory size)"),
            Param("points_per_octave", int, 6, "sweep density", positive),
            Param("max_steps", int, 1 << 16, "loads per timed pass at most", positive),
        ),
        requires=(min_cc(7, 0), fits_in_free_memory(0.8, lambda p: p["max_footprint_bytes"])),
        kernels=kernels, check_sass=check_sass,
        smoke=("max_footprint_bytes=4096", "points_per_octave=1", "max_steps=32"),
    ),
)
