"""Fine-grained pointer chase (Mei & Chu, "Dissecting GPU Memory Hierarchy through Microbenchmarking", TPDS 2017).

Method: one thread walks a fixed-stride chain of 32-bit element indices (`j = chain[j]`, so strides from 4 B are
possible; the index-to-address IMAD adds the same few cycles to every access, hit or miss). Every access is timed
on its own: `%clock64`, the dependent load, a shared-memory store of the loaded index (it waits for the load),
`%clock64` again; latencies and indices stay in shared memory (TRACE_LEN = 4096 accesses, 32 KiB, which the
L1/shared carve-out takes from L1) and are copied out after the walk. `latency.fine.chase` walks footprints just
below and above the L1 and L2 sizes `passes` times and records the last 4096 accesses: the later passes show which
lines were evicted, hence line size, associativity and replacement. `latency.fine.stride` records 4096
first-touch accesses per launch at strides 4 B .. 4 KiB over a footprint larger than the cache (each launch starts
where the last stopped, so a window is only revisited after the whole footprint): which accesses miss gives the
fetch (sector) granularity. Each launch checks every recorded index against the host's expectation. The
headline value of a point is the launch's mean latency over its recorded accesses.
"""

from __future__ import annotations

import numpy as np

from probes.spec import Axis, KernelCheckError, KiB, Param, Probe, ProbeSpecError, Requirement, Sweep, min_cc

TRACE_LEN = 4096  # must equal fine_ops.TRACE_LEN (kept here so listing needs no numba)
ASSUMED_L1_BYTES = 256 * KiB  # largest L1/shared array per SM on Volta..Hopper, when env lacks it
NEAR_SIZE = (0.5, 0.75, 1.0, 1 + 1 / 32, 1 + 1 / 16, 1.25)  # footprints around a cache size, x its size
STRIDES_4B_TO_4KIB = tuple(4 << i for i in range(11))


def _values(value) -> tuple:
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)  # the worker passes JSON lists


def _strides_ok(value) -> str | None:
    vals = _values(value)
    if not vals or any(not isinstance(v, int) or v <= 0 or v % 4 for v in vals):
        return "needs positive multiples of 4 bytes"
    return "must be at most 1 MiB" if max(vals) > 1 << 20 else None


def _sizes_ok(value) -> str | None:
    return (
        None
        if all(isinstance(v, int) and 64 <= v < 16 * 2**30 for v in _values(value))
        else ("footprints must be 64 bytes to 16 GiB, 32-bit element indices (empty: derived)")
    )


def _passes_ok(value) -> str | None:
    return None if 2 <= value <= 64 else "must be between 2 and 64 (the second pass is what exposes evictions)"


def cache_sizes(env: dict) -> tuple[int, int]:
    """(L1 size guess, L2 size): L1 from shared_memory_per_sm_bytes when known, else the 256 KiB upper bound."""
    l2 = env.get("l2_cache_bytes")
    if not l2:
        raise ProbeSpecError("environment has no l2_cache_bytes: cannot place footprints around the L2 size")
    return int(env.get("shared_memory_per_sm_bytes") or ASSUMED_L1_BYTES), int(l2)


def _round(x: float, unit: int = 256) -> int:
    return max(unit, int(round(x / unit)) * unit)


def chase_footprints(env: dict, params: dict) -> tuple:
    """The `footprint_bytes` parameter, or (empty) footprints around the L1 and L2 sizes."""
    sizes = params["footprint_bytes"]
    if not sizes:
        l1, l2 = cache_sizes(env)
        sizes = sorted({_round(c * f) for c in (l1, l2) for f in NEAR_SIZE})
    return tuple(sizes)


def stride_footprints(env: dict, params: dict) -> tuple:
    """The `footprint_bytes` parameter, or (empty) one beyond L1 inside L2 (L1 line/sector) and twice L2 (L2
    line/sector from DRAM)."""
    sizes = params["footprint_bytes"]
    if not sizes:
        l1, l2 = cache_sizes(env)
        sizes = ([min(4 * l1, l2 // 2)] if 2 * l1 <= l2 // 2 else []) + [2 * l2]
    return tuple(sizes)


chase_axes = Sweep((Axis("footprint_bytes", chase_footprints), Axis("stride_bytes", param="stride_bytes")))
stride_axes = Sweep((Axis("footprint_bytes", stride_footprints), Axis("stride_bytes", param="stride_bytes")))


def build_chain(footprint: int, stride: int) -> tuple[np.ndarray, int]:
    """uint32 element indices: slot i (at byte i*stride) holds the index of slot i+1, the last slot wraps to 0."""
    if stride % 4 or stride <= 0:
        raise ProbeSpecError(f"stride_bytes={stride}: must be a positive multiple of 4")
    slots = footprint // stride
    if slots < 2:
        raise ProbeSpecError(f"footprint {footprint} B holds fewer than 2 slots at stride {stride} B")
    per = stride // 4
    chain = np.zeros(slots * per, dtype=np.uint32)
    chain[np.arange(slots) * per] = (np.arange(1, slots + 1) % slots) * per
    return chain, slots


_CHAINS: dict = {}
_CURSOR: dict = {}


def _device_chain(ctx, footprint: int, stride: int):
    key = (footprint, stride)
    if key not in _CHAINS:
        _CHAINS.clear()  # one chain resident at a time: footprints reach 2x L2
        chain, slots = build_chain(footprint, stride)
        _CHAINS[key] = (ctx.to_device(chain), slots)
    return _CHAINS[key]


def run_trace(ctx, footprint: int, stride: int, start_slot: int, skip: int, count: int) -> dict:
    """Launch the trace kernel at `start_slot`: `skip` hops untimed, then `count` timed; verify every index."""
    from probes.kernel import fine_ops as F

    d_chain, slots = _device_chain(ctx, footprint, stride)
    per = stride // 4
    lat = ctx.device_array(count, np.uint32)
    idx = ctx.device_array(count, np.uint32)
    ctx.kernel("fine_trace", F.fine_trace)[1, 1](d_chain, np.uint32(start_slot * per), skip, count, lat, idx)
    ctx.synchronize()
    first_hop = start_slot + skip
    hops = first_hop + np.arange(count, dtype=np.int64)  # hop number of each recorded access
    expected = ((hops + 1) % slots) * per
    got = idx.copy_to_host()
    bad = np.flatnonzero(got != expected)
    if bad.size:
        k = int(bad[0])
        raise KernelCheckError(
            f"fine chase footprint={footprint} stride={stride}: access {k} loaded index "
            f"{int(got[k])}, expected {int(expected[k])}: chain or trace corrupted"
        )
    latency = lat.copy_to_host().astype(np.int64)
    # mean_latency_cycles is one value per launch, repeated on every row: the engine's stopping rule then sees
    # a launch (a whole trace) as the sample, instead of asking a hit/miss mixture for a 1 % median CI.
    return {
        "latency_cycles": latency,
        "offset_bytes": (hops % slots) * stride,
        "pass_index": hops // slots,
        "hop": hops,
        "slots": slots,
        "mean_latency_cycles": float(latency.mean()),
    }


def measure_chase(ctx, point: dict, params: dict) -> dict:
    footprint, stride = point["footprint_bytes"], point["stride_bytes"]
    slots = footprint // stride
    total = params["passes"] * slots
    count = min(TRACE_LEN, total)
    return run_trace(ctx, footprint, stride, start_slot=0, skip=total - count, count=count)


def measure_stride(ctx, point: dict, params: dict) -> dict:
    footprint, stride = point["footprint_bytes"], point["stride_bytes"]
    slots = footprint // stride
    count = min(TRACE_LEN, slots)
    cursor = _CURSOR.get((footprint, stride), 0)
    _CURSOR[(footprint, stride)] = (cursor + count) % slots
    return run_trace(ctx, footprint, stride, start_slot=cursor, skip=0, count=count)


def kernels(cc):
    from numba import types

    from probes.kernel import fine_ops as F
    from probes.kernel.compile import kernel_ptx

    sig = (types.uint32[::1], types.uint32, types.int64, types.int64, types.uint32[::1], types.uint32[::1])
    return [("fine_trace", kernel_ptx(F.fine_trace, sig, cc))]


def _timed_loads(insts) -> list[tuple[int, int, int]]:
    """(clock before, load, clock after) index triples: each LDG with a %clock64 read just before and after it."""
    clocks = [n for n, i in enumerate(insts) if "SR_CLOCKLO" in i.text]  # CS2R, or S2UR when 32 bits suffice
    triples = []
    for a, b in zip(clocks, clocks[1:]):
        loads = [n for n in range(a + 1, b) if insts[n].base == "LDG"]
        if len(loads) == 1:
            triples.append((a, loads[0], b))
    return triples


def check_sass(name: str, insts) -> list[str]:
    """Timed steps: exactly one LDG between two clock reads, and the stop read waits on that load's scoreboard."""
    triples = _timed_loads(insts)
    if not triples:
        return ["no %clock64 read pair brackets exactly one LDG: the per-access timing is gone"]
    problems = []
    for _a, ld, b in triples:
        sb = insts[ld].control.write_barrier
        if sb is None or not any(i.control.waits_on(sb) for i in insts[ld + 1 : b + 1]):
            problems.append(
                f"stop clock at {insts[b].address:#x} does not wait for the load at "
                f"{insts[ld].address:#x}: it would time the issue, not the latency"
            )
    # the chain: each timed load's address comes from the previous timed load's result
    for (_, prev, _), (_, ld, _) in zip(triples, triples[1:]):
        dest = insts[prev].dest_registers[:1]
        between = insts[prev + 1 : ld + 1]
        fed = set(dest)
        for i in between:
            if fed & set(i.source_registers):
                fed |= set(i.dest_registers)
        if not (fed & set(insts[ld].source_registers)):
            problems.append(f"load at {insts[ld].address:#x} is not addressed from the previous load's result")
    return problems


def _fits(axes):
    def unmet(env: dict, params: dict) -> str | None:
        need, free = max(axes(env, params)["footprint_bytes"]), env.get("memory_free_bytes")
        return (
            None
            if free is None or need <= 0.8 * free
            else (f"largest footprint {need} B exceeds 80% of free device memory ({free} B)")
        )

    return Requirement("largest footprint <= 80% of free memory", unmet)


_COMMON = dict(unit="cycles/access", kernels=kernels, check_sass=check_sass, value_key="mean_latency_cycles")

PROBES = (
    Probe(
        name="latency.fine.chase",
        summary="per-access latency trace of a fixed-stride chase walked several times around the L1/L2 sizes",
        measure=measure_chase,
        axes=chase_axes,
        method=__doc__.split("\n\n")[1].replace("\n", " "),
        params=(
            Param("stride_bytes", tuple, (32, 128), "chain strides (bytes, multiples of 4)", _strides_ok),
            Param("footprint_bytes", tuple, (), "footprints (empty: around the L1 and L2 sizes)", _sizes_ok),
            Param("passes", int, 3, "walks over the footprint (>= 2)", _passes_ok),
        ),
        requires=(min_cc(7, 0), _fits(chase_axes)),
        smoke=("footprint_bytes=1024,2048", "stride_bytes=128", "passes=2"),
        **_COMMON,
    ),
    Probe(
        name="latency.fine.stride",
        summary="first-touch latency of every access vs stride (4 B .. 4 KiB) beyond a cache: fetch granularity",
        measure=measure_stride,
        axes=stride_axes,
        method=__doc__.split("\n\n")[1].replace("\n", " "),
        params=(
            Param("stride_bytes", tuple, STRIDES_4B_TO_4KIB, "strides (bytes, multiples of 4)", _strides_ok),
            Param("footprint_bytes", tuple, (), "footprints (empty: 4x L1 inside L2, and 2x L2)", _sizes_ok),
        ),
        requires=(min_cc(7, 0), _fits(stride_axes)),
        smoke=("footprint_bytes=4096", "stride_bytes=4,64"),
        **_COMMON,
    ),
)
