"""Bandwidth family: what each level of the memory hierarchy delivers vs working set, occupancy, access width and
L2 partition, from 16-byte vector accesses on every SM.

Method: a persistent grid (`blocks_per_sm` blocks of `threads` threads on every SM) reads, writes or copies 16-byte
vectors (`ld.global.v4.u32` / `st.global.v4.u32`, SASS `LDG.E.128` / `STG.E.128`) with `unroll` independent
accesses per thread per loop trip. Thread 0 of every block stamps `%globaltimer` and `%clock64` after a barrier at
its start and after the block's checksum is added (loads) or a `__threadfence()` (stores) at its end; bandwidth =
bytes moved / (last end - first start) in ns, a copy counting its bytes read plus written. CUDA events around the
launch give a second, host-side time (`event_ns`, it includes the launch). The SM clock is each block's clock
ticks over its ns (median over blocks); bytes/clk/SM = bytes / (span in SM cycles) / SMs. Every launch is checked
against the host: the read checksum, and the written or copied data. One launch is one sample; the engine repeats
launches until the median's bootstrap CI is tight, so each point has a CI from repeated launches. The driver's
memory clock and bus width are stored with every sample, so the analysis can set the documented peak HBM
bandwidth (2 x memory clock x bus width / 8) beside each value.

`bandwidth.ladder` follows gpu-benches' gpu-l2-cache: the working set is `working_set_bytes / chunk` chunks of
(at most) `chunk_bytes`; block b reads chunk b mod chunks (fewer chunks than blocks: chunks are shared by several
SMs, so they are duplicated in both L2 partitions; more: each block walks several). `bandwidth.ladder.own` follows
gpu-cache: every block re-reads its own region of `working_set_bytes` (per block: L1, then L2, then DRAM).
`bandwidth.occupancy` streams once over a buffer of >= 8x L2 (HBM) with `warps_per_sm` warps per SM and
`unroll` x 16 B in flight per thread. `bandwidth.shared` loads shared memory with `ld.volatile.shared` of 4, 8 or
16 B, or `ldmatrix.sync.aligned.m8n8.x4` (16 B per lane), at lane address lane x stride (in units of the access).
`bandwidth.l2.nearfar` claims one block per SM (`%smid` + atomic flag); each SM, in a rotated order, chases every
L2-resident window (latency: near or far) and then reads it with `ld.global.cg.v4` (L1 bypassed), so each (SM,
window) cell has a latency and a bandwidth; the analysis splits cells near/far by latency (dip test).
"""

from __future__ import annotations

import numpy as np

from probes.spec import (
    GiB,
    KernelCheckError,
    KiB,
    MiB,
    Param,
    Probe,
    ProbeSpecError,
    fits_in_free_memory,
    geometric,
    min_cc,
    multiple_of,
    positive,
)

VEC = 16  # bytes per vector access
LADDER_OPS = ("read", "write", "copy")
STREAM_OPS = ("read", "copy")
SHARED_ACCESS = {"b32": 4, "v2": 8, "v4": 16, "ldmatrix": 16}  # bytes per lane per instruction
UNROLLS = (1, 2, 4, 8)  # bytes in flight per thread: 16, 32, 64, 128


def _ops_check(allowed):
    def check(value: str) -> str | None:
        bad = [v for v in str(value).split(",") if v not in allowed]
        return f"unknown {', '.join(bad)}; choose from {', '.join(allowed)}" if bad or not value else None

    return check


def _choices(value: str) -> tuple[str, ...]:
    return tuple(v for v in str(value).split(",") if v)


def _sm_count(env: dict) -> int:
    n = int(env.get("sm_count") or 0)
    if n <= 0:
        raise ProbeSpecError("environment has no sm_count: cannot size a grid over every SM")
    return n


def _threads(ctx, params: dict, default: int = 1024) -> int:
    return params.get("threads") or (32 if ctx.simulator else default)


def _cap_bytes(env: dict, params: dict) -> int:
    """Largest working set of the shared-region ladder: 4x L2 and at least 1 GiB, at most 1/8 of memory."""
    if params.get("max_working_set_bytes"):
        return int(params["max_working_set_bytes"])
    l2, total = env.get("l2_cache_bytes"), env.get("memory_total_bytes")
    if not l2 or not total:
        raise ProbeSpecError("the environment has no l2_cache_bytes/memory_total_bytes: set max_working_set_bytes")
    return int(min(max(4 * l2, 1 * GiB), total // 8))


# ---- device helpers ----------------------------------------------------------------------------------------------

_STATE: dict = {}


def _cached(key, build):
    """One resident buffer set at a time per kind (the ladder's reach 1 GiB)."""
    kind = key[0]
    for k in [k for k in _STATE if k[0] == kind and k != key]:
        del _STATE[k]
    if key not in _STATE:
        _STATE[key] = build()
    return _STATE[key]


def _source(ctx, n_words: int):
    """Device buffer of n_words uint32 with word i = (i // 4) % 251, filled on the device."""
    from probes.kernel import bw_kernels as K

    d = ctx.device_array(n_words, np.uint32)
    blocks, threads = (2, 32) if ctx.simulator else (min(4096, max(1, n_words // 1024)), 256)
    ctx.kernel("bw-fill", K.fill)[blocks, threads](d, n_words)
    ctx.synchronize()
    return d


def vec_sum_prefix(n: int) -> int:
    """Sum over vectors v < n of (v % 251): the host expectation of the 16-byte read checksum (x4 lanes)."""
    full, rest = divmod(int(n), 251)
    return full * (250 * 251 // 2) + rest * (rest - 1) // 2


def region_sum(r: int, region_vec: int) -> int:
    """Read checksum of one region (4 lanes of v % 251 for each of its vectors)."""
    return 4 * (vec_sum_prefix((r + 1) * region_vec) - vec_sum_prefix(r * region_vec))


def expected_read_sum(region_vec: int, n_regions: int, blocks: int, passes: int) -> int:
    slots = max(blocks, n_regions)
    counts = np.bincount(np.arange(slots) % n_regions, minlength=n_regions)
    return passes * sum(int(c) * region_sum(r, region_vec) for r, c in enumerate(counts) if c)


def _timing(times: np.ndarray) -> tuple[int, float, int]:
    """(span ns from %globaltimer, median SM clock in MHz over blocks, span in SM cycles)."""
    t = times.astype(np.int64).reshape(-1, 4)
    span = int(t[:, 2].max() - t[:, 0].min())
    ns, cyc = t[:, 2] - t[:, 0], t[:, 3] - t[:, 1]
    ok = ns > 0
    mhz = float(np.median(cyc[ok] / ns[ok]) * 1e3) if ok.any() else float("nan")
    if span <= 0:
        raise KernelCheckError(f"non-positive %globaltimer span ({span} ns): the timestamps are wrong")
    return span, mhz, int(round(span * mhz / 1e3)) if np.isfinite(mhz) else 0


def _memory_props(ctx) -> dict:
    """The driver's memory clock and bus width (for the documented peak), stored with every sample."""
    env = ctx.env
    clock, bus = env.get("memory_clock_rate_khz"), env.get("memory_bus_width_bits")
    if not ctx.simulator and (clock is None or bus is None):
        from numba import cuda

        dev = cuda.get_current_device()
        clock = clock or getattr(dev, "MEMORY_CLOCK_RATE", None)
        bus = bus or getattr(dev, "GLOBAL_MEMORY_BUS_WIDTH", None)
    return {"memory_clock_khz": clock, "memory_bus_width_bits": bus}


class _Events:
    """CUDA events around a launch (GPU only): host-side kernel time in ns, or None in the simulator."""

    def __init__(self, ctx):
        self.on = not ctx.simulator
        if self.on:
            from numba import cuda

            self.cuda = cuda
            self.e0, self.e1 = cuda.event(timing=True), cuda.event(timing=True)

    def __enter__(self):
        if self.on:
            self.e0.record()
        return self

    def __exit__(self, *exc):
        if self.on:
            self.e1.record()
            self.e1.synchronize()
        return False

    def ns(self):
        return float(self.cuda.event_elapsed_time(self.e0, self.e1) * 1e6) if self.on else None


def co_resident(times: np.ndarray) -> int:
    """1 when every block started before any block ended (the grid ran as one wave: the occupancy it claims),
    else 0 (blocks waited for others: registers or shared memory did not let that many fit)."""
    t = times.astype(np.int64).reshape(-1, 4)
    return int(t[:, 0].max() < t[:, 2].min())


def _sample(ctx, nbytes: int, times, events, blocks: int, threads: int, n_sm: int, **extra) -> dict:
    host = times.copy_to_host()
    span, mhz, cycles = _timing(host)
    return {
        "bandwidth_gbps": nbytes / span,
        "bytes": int(nbytes),
        "ns": span,
        "cycles": cycles,
        "co_resident": co_resident(host),
        "sm_clock_mhz": mhz,
        "bytes_per_clk_per_sm": nbytes / cycles / n_sm if cycles else None,
        "event_ns": events.ns(),
        "blocks": blocks,
        "threads": threads,
        "sms": n_sm,
        **_memory_props(ctx),
        **extra,
    }


def _check_equal(what: str, got: int, want: int) -> None:
    if int(got) != int(want):
        raise KernelCheckError(f"{what}: kernel gave {int(got)}, host expects {int(want)}")


_VERIFIED: set = set()


def _check_written(key, op: str, d_dst, n_vec: int) -> None:
    """Written (vector index & 255 in each lane) or copied data, checked once per buffer layout: strided sample of
    every 997th vector plus the first and last ones (a full host copy of a GiB per launch would dominate)."""
    if key in _VERIFIED:
        return
    dst = d_dst.copy_to_host()[: 4 * n_vec].reshape(-1, 4)
    idx = np.unique(np.concatenate([np.arange(0, n_vec, 997), [0, n_vec - 1]]))
    got = dst[idx]
    want = (idx & 255) if op == "write" else (idx % 251)
    if not (got == want[:, None].astype(np.uint32)).all():
        bad = int(idx[np.flatnonzero(~(got == want[:, None]).all(axis=1))[0]])
        raise KernelCheckError(
            f"{op}: vector {bad} holds {got[list(idx).index(bad)].tolist()}, expected "
            f"{int(want[list(idx).index(bad)])} in every lane"
        )
    _VERIFIED.add(key)


# ---- bandwidth.ladder / bandwidth.ladder.own ----------------------------------------------------------------------


def ladder_layout(ws: int, shape: str, blocks: int, params: dict, cap: int) -> tuple[int, int]:
    """(region vectors, regions) for a working set: chunks shared by blocks (ladder) or one region per block (own)."""
    if shape == "own":
        return ws // VEC, max(1, min(blocks, cap // ws))
    chunk = min(ws, params["chunk_bytes"])
    return chunk // VEC, max(1, ws // chunk)


def measure_ladder_with(shape: str):
    def measure(ctx, point: dict, params: dict) -> dict:
        from probes.kernel import bw_kernels as K

        op, ws = point["op"], int(point["working_set_bytes"])
        n_sm, threads = _sm_count(ctx.env), _threads(ctx, params)
        blocks = n_sm * params["blocks_per_sm"]
        cap = _cap_bytes(ctx.env, params) if shape == "shared" else own_cap(ctx.env, params) * blocks
        region_vec, n_regions = ladder_layout(ws, shape, blocks, params, cap)
        distinct = region_vec * n_regions * VEC
        per_pass = max(blocks, n_regions) * region_vec * VEC
        passes = max(1, -(-params["min_bytes_per_launch"] // per_pass))
        n_words = 4 * region_vec * n_regions
        d_dst = _cached(("dst", n_words), lambda: ctx.device_array(n_words, np.uint32)) if op != "read" else None
        d_src = _cached(("src", n_words), lambda: _source(ctx, n_words)) if op != "write" else d_dst
        d_dst = d_src if d_dst is None else d_dst
        acc = ctx.to_device(np.zeros(1, dtype=np.uint64))
        times = ctx.to_device(np.zeros(4 * blocks, dtype=np.uint64))
        kernel = ctx.kernel(("bw-region", op, params["unroll"]), K.region_kernel(op, params["unroll"]))
        with _Events(ctx) as ev:
            kernel[blocks, threads](d_src, d_dst, region_vec, n_regions, passes, acc, times)
        ctx.synchronize()
        if op == "read":
            _check_equal(
                "16-byte read checksum", acc.copy_to_host()[0], expected_read_sum(region_vec, n_regions, blocks, passes)
            )
        else:
            _check_written((shape, op, n_words, id(d_dst)), op, d_dst, region_vec * n_regions)
        moved = per_pass * passes * (2 if op == "copy" else 1)
        return _sample(
            ctx,
            moved,
            times,
            ev,
            blocks,
            threads,
            n_sm,
            passes=passes,
            distinct_bytes=distinct,
            region_bytes=region_vec * VEC,
            regions=n_regions,
        )

    return measure


def own_cap(env: dict, params: dict) -> int:
    return int(params["max_working_set_bytes"] or 4 * MiB)


def ladder_axes_with(shape: str):
    def axes(env: dict, params: dict) -> dict:
        lo = params["min_working_set_bytes"]
        hi = _cap_bytes(env, params) if shape == "shared" else own_cap(env, params)
        if hi < lo:
            raise ProbeSpecError(f"max working set {hi} B is below min_working_set_bytes={lo}")
        sizes = geometric(lo, hi, per_octave=params["points_per_octave"], multiple_of=4 * KiB)
        return {"op": _choices(params["ops"]), "working_set_bytes": sizes}

    return axes


# ---- bandwidth.occupancy --------------------------------------------------------------------------------------------


def occupancy_axes(env: dict, params: dict) -> dict:
    return {
        "op": _choices(params["ops"]),
        "warps_per_sm": tuple(params["warps_per_sm"]),
        "unroll": tuple(params["unrolls"]),
    }


def _grid_for_warps(warps: int) -> tuple[int, int]:
    """(blocks per SM, threads per block) giving `warps` warps on each SM: blocks of at most 32 warps."""
    per_block = min(warps, 32)
    if warps % per_block:
        raise ProbeSpecError(f"warps_per_sm={warps}: use a power of two or a multiple of 32")
    return warps // per_block, 32 * per_block


def stream_bytes(env: dict, params: dict) -> int:
    if params["buffer_bytes"]:
        return int(params["buffer_bytes"])
    l2, total = env.get("l2_cache_bytes"), env.get("memory_total_bytes")
    if not l2 or not total:
        raise ProbeSpecError("the environment has no l2_cache_bytes/memory_total_bytes: set buffer_bytes")
    return int(min(max(8 * l2, 512 * MiB), total // 8))


def measure_occupancy(ctx, point: dict, params: dict) -> dict:
    from probes.kernel import bw_kernels as K

    op, warps, unroll = point["op"], int(point["warps_per_sm"]), int(point["unroll"])
    n_sm = _sm_count(ctx.env)
    per_sm, threads = (1, 32) if ctx.simulator else _grid_for_warps(warps)
    blocks = n_sm * per_sm
    step = blocks * threads * unroll  # vectors per grid-wide loop trip
    n_vec = max(step, stream_bytes(ctx.env, params) // VEC // step * step)
    d_src = _cached(("stream-src", n_vec), lambda: _source(ctx, 4 * n_vec))
    d_dst = _cached(("stream-dst", n_vec), lambda: ctx.device_array(4 * n_vec, np.uint32)) if op == "copy" else d_src
    acc = ctx.to_device(np.zeros(1, dtype=np.uint64))
    times = ctx.to_device(np.zeros(4 * blocks, dtype=np.uint64))
    kernel = ctx.kernel(("bw-stream", op, unroll), K.stream_kernel(op, unroll))
    with _Events(ctx) as ev:
        kernel[blocks, threads](d_src, d_dst, n_vec, acc, times)
    ctx.synchronize()
    if op == "read":
        _check_equal("stream read checksum", acc.copy_to_host()[0], 4 * vec_sum_prefix(n_vec))
    else:
        _check_written(("stream", n_vec, id(d_dst)), "copy", d_dst, n_vec)
    moved = n_vec * VEC * (2 if op == "copy" else 1)
    in_flight = (threads * per_sm) * unroll * VEC * (2 if op == "copy" else 1)
    return _sample(
        ctx,
        moved,
        times,
        ev,
        blocks,
        threads,
        n_sm,
        warps_per_sm_launched=per_sm * threads // 32,
        bytes_in_flight_per_thread=unroll * VEC,
        bytes_in_flight_per_sm=in_flight,
    )


# ---- bandwidth.shared -----------------------------------------------------------------------------------------------


def shared_axes(env: dict, params: dict) -> dict:
    return {"access": _choices(params["accesses"]), "stride": tuple(params["strides"])}


def measure_shared(ctx, point: dict, params: dict) -> dict:
    from probes.kernel import bw_kernels as K

    kind, stride = point["access"], int(point["stride"])
    unroll, iters = params["unroll"], params["iters"]
    if stride > K.max_shared_stride(kind, unroll):
        raise ProbeSpecError(
            f"stride {stride} does not fit the {K.SMEM_WORDS * 4} B shared array for {kind} "
            f"(at most {K.max_shared_stride(kind, unroll)})"
        )
    n_sm, threads = _sm_count(ctx.env), _threads(ctx, params)
    blocks = n_sm
    acc = ctx.to_device(np.zeros(1, dtype=np.uint64))
    times = ctx.to_device(np.zeros(4 * blocks, dtype=np.uint64))
    kernel = ctx.kernel(("bw-shared", kind, unroll), K.shared_kernel(kind, unroll))
    with _Events(ctx) as ev:
        kernel[blocks, threads](stride, iters, acc, times)
    ctx.synchronize()
    warps = threads // 32
    _check_equal(
        f"shared {kind} checksum", acc.copy_to_host()[0], K.shared_expected(kind, unroll, stride, iters, warps, blocks)
    )
    per_block = warps * 32 * SHARED_ACCESS[kind] * unroll * iters
    t = times.copy_to_host().astype(np.int64).reshape(-1, 4)
    cyc = t[:, 3] - t[:, 1]
    if (cyc <= 0).any():
        raise KernelCheckError("non-positive %clock64 interval in a shared-memory block")
    sample = _sample(
        ctx,
        per_block * blocks,
        times,
        ev,
        blocks,
        threads,
        n_sm,
        access_bytes=SHARED_ACCESS[kind],
        stride_bytes=stride * SHARED_ACCESS[kind] if kind != "ldmatrix" else stride * 16,
    )
    # the per-SM figure from each block's own clock interval (one block per SM), median over SMs
    sample["bytes_per_clk_per_sm"] = float(np.median(per_block / cyc))
    return sample


# ---- bandwidth.l2.nearfar -----------------------------------------------------------------------------------------

LINE = 128


def nearfar_axes(env: dict, params: dict) -> dict:
    l2 = env.get("l2_cache_bytes")
    if params["window_stride_bytes"]:
        stride = params["window_stride_bytes"]
    elif l2:
        stride = (l2 // 2 // params["windows"]) // LINE * LINE
    else:
        raise ProbeSpecError("environment has no l2_cache_bytes: set window_stride_bytes explicitly")
    if stride < params["window_bytes"]:
        raise ProbeSpecError(
            f"window stride {stride} B is smaller than a window ({params['window_bytes']} B): "
            "use fewer windows or a smaller window_bytes"
        )
    return {"window_stride_bytes": (int(stride),)}


def nearfar_memory(n_windows: int, stride: int, window: int, base: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """(memory as uint64 words, start of each window's chase): window w is a random cycle over its lines; the
    first 8 B of each line hold the next line's address (the word index with base 0), the rest is zero."""
    wpl, lines = LINE // 8, window // LINE
    memory = np.zeros(n_windows * stride // 8, dtype=np.uint64)
    starts = np.empty(n_windows, dtype=np.uint64)
    for w in range(n_windows):
        slots = (w * stride // 8) + rng.permutation(lines) * wpl
        targets = np.roll(slots, -1)
        memory[slots] = (base + targets * 8) if base else targets
        starts[w] = (base + slots[0] * 8) if base else slots[0]
    return memory, starts


def _window_sums(memory: np.ndarray, n_windows: int, stride: int, window: int) -> np.ndarray:
    """Read checksum of one pass over each window: per 16-byte vector the 4 uint32 lanes summed mod 2**32."""
    words = memory.view(np.uint32)
    out = np.empty(n_windows, dtype=object)
    for w in range(n_windows):
        v = words[w * stride // 4 : (w * stride + window) // 4].reshape(-1, 4).astype(np.uint64)
        out[w] = int((v.sum(axis=1) & 0xFFFFFFFF).sum())
    return out


def _walk(memory: np.ndarray, start: int, hops: int, base: int) -> int:
    p = int(start)
    for _ in range(hops):
        p = int(memory[(p - base) // 8]) if base else int(memory[p])
    return p


def measure_nearfar(ctx, point: dict, params: dict) -> dict:
    from probes.kernel import bw_kernels as K

    stride, windows, window = int(point["window_stride_bytes"]), params["windows"], params["window_bytes"]
    steps, passes, unroll = params["steps"], params["passes"], params["unroll"]
    n_sm, threads = _sm_count(ctx.env), _threads(ctx, params, 256)

    def build():
        d_mem = ctx.device_array(windows * stride // 8, np.uint64)
        base = ctx.address_of(d_mem)
        host, starts = nearfar_memory(windows, stride, window, base, ctx.rng(stride, windows, window))
        d_mem.copy_to_device(host)
        d_words = ctx.to_device(host.view(np.uint32)) if ctx.simulator else d_mem.view(np.uint32)
        ends = np.array([_walk(host, s, 2 * steps, base) for s in starts], dtype=np.uint64)
        return d_mem, d_words, ctx.to_device(starts), ends, _window_sums(host, windows, stride, window)

    d_mem, d_words, d_starts, want_end, want_sum = _cached(("nearfar", stride, windows, window, steps), build)
    slots = params["sm_slots_factor"] * n_sm
    claimed = ctx.to_device(np.zeros(slots, dtype=np.int32))
    cells = slots * windows
    lat, cyc, ends, acc = (ctx.to_device(np.zeros(cells, dtype=np.uint64)) for _ in range(4))
    kernel = ctx.kernel(("bw-nearfar", unroll), K.nearfar_kernel(unroll))
    kernel[params["blocks_per_sm"] * n_sm, threads](
        d_mem,
        d_words,
        d_starts,
        windows,
        window // VEC,
        stride // VEC,
        steps,
        passes,
        n_sm,
        claimed,
        lat,
        cyc,
        ends,
        acc,
    )
    ctx.synchronize()
    sms = np.flatnonzero(claimed.copy_to_host())
    if sms.size == 0:
        raise KernelCheckError("near/far bandwidth: no block claimed any SM")
    got_end = ends.copy_to_host().reshape(slots, windows)[sms]
    if not (got_end == want_end[None, :]).all():
        s, w = np.argwhere(got_end != want_end[None, :])[0]
        raise KernelCheckError(
            f"near/far bandwidth: SM {sms[s]} window {w} chase ended at {int(got_end[s, w]):#x}, "
            f"expected {int(want_end[w]):#x}: chain corrupted"
        )
    got_sum = acc.copy_to_host().reshape(slots, windows)[sms]
    for s_i, w in np.argwhere(got_sum != np.array([passes * x for x in want_sum], dtype=np.uint64)[None, :]):
        raise KernelCheckError(
            f"near/far bandwidth: SM {sms[s_i]} window {w} read checksum {int(got_sum[s_i, w])}, "
            f"expected {passes * want_sum[w]}"
        )
    c = cyc.copy_to_host().reshape(slots, windows)[sms].astype(np.float64)
    if (c <= 0).any():
        raise KernelCheckError("near/far bandwidth: non-positive %clock64 interval")
    lat_c = lat.copy_to_host().reshape(slots, windows)[sms].astype(np.float64) / steps
    bpc = window * passes / c
    return {
        "sm": np.repeat(sms, windows),
        "window": np.tile(np.arange(windows), sms.size),
        "window_offset_bytes": np.tile(np.arange(windows) * stride, sms.size),
        "cycles_per_op": lat_c.ravel(),
        "cycles": c.ravel(),
        "bytes_per_clk": bpc.ravel(),
        "bytes": window * passes,
        "steps": steps,
        "passes": passes,
        "sms_claimed": sms.size,
        # one value per launch on every row: the stopping rule treats a whole map as one sample
        "map_median_bytes_per_clk": float(np.median(bpc)),
    }


# ---- kernels for the dry run and the compile tests ----------------------------------------------------------------


def _sigs():
    from numba import types

    u32, u64, i64 = types.uint32[::1], types.uint64[::1], types.int64
    return {
        "region": (u32, u32, i64, i64, i64, u64, u64),
        "stream": (u32, u32, i64, u64, u64),
        "shared": (i64, i64, u64, u64),
        "nearfar": (u64, u32, u64, i64, i64, i64, i64, i64, i64, types.int32[::1], u64, u64, u64, u64),
    }


def _compile(pairs, cc):
    from probes.kernel.compile import kernel_ptx

    return [(name, kernel_ptx(func, sig, cc)) for name, func, sig in pairs]


def ladder_kernels(cc):
    from probes.kernel import bw_kernels as K

    sig = _sigs()["region"]
    return _compile([(f"region_{op}", K.region_kernel(op, 4), sig) for op in LADDER_OPS], cc)


def occupancy_kernels(cc):
    from probes.kernel import bw_kernels as K

    sig = _sigs()["stream"]
    return _compile([(f"stream_{op}_u{u}", K.stream_kernel(op, u), sig) for op in STREAM_OPS for u in (1, 4)], cc)


def shared_kernels(cc):
    from probes.kernel import bw_kernels as K

    sig = _sigs()["shared"]
    return _compile([(f"shared_{k}", K.shared_kernel(k, 4), sig) for k in SHARED_ACCESS], cc)


def nearfar_kernels(cc):
    from probes.kernel import bw_kernels as K

    return _compile([("nearfar", K.nearfar_kernel(4), _sigs()["nearfar"])], cc)


def _unroll_of(name: str, default: int = 4) -> int:
    return int(name.rsplit("_u", 1)[1]) if "_u" in name else default


def check_global(name: str, insts) -> list[str]:
    """Region/stream kernels: >= unroll LDG.E.128 (read), STG.E.128 (write) or both (copy) inside one loop body,
    nothing narrower there, and the %globaltimer/%clock64 stamps."""
    from probes.kernel import bw_kernels as K

    u = _unroll_of(name)
    op = name.split("_")[1]
    want = {"read": {"LDG.E.128": u}, "write": {"STG.E.128": u}, "copy": {"LDG.E.128": u, "STG.E.128": u}}[op]
    return K.memory_problems(insts, want, forbid_narrow=("LDG", "STG")) + K.timer_problems(insts)


SHARED_SASS = {"b32": "LDS", "v2": "LDS.64", "v4": "LDS.128", "ldmatrix": "LDSM.16.M88.4"}


def check_shared(name: str, insts) -> list[str]:
    from probes.kernel import bw_kernels as K

    kind = name.split("_", 1)[1]
    return K.memory_problems(insts, {SHARED_SASS[kind]: 4}, forbid_narrow=("LDS", "LDSM")) + K.timer_problems(
        insts, clocks=2, timers=2
    )


def check_nearfar(name: str, insts) -> list[str]:
    """%smid, an atomic CAS claim, the L2-only chase (LDG.E.64.STRONG.GPU, each addressed by the previous one),
    and >= 4 L2-only 16-byte loads (LDG.E.128.STRONG.GPU) inside the bandwidth loop."""
    from probes.kernel import bw_kernels as K
    from probes.kernel.chase import address_from_load

    problems = []
    if not any("SR_VIRTUALSMID" in i.text or "SR_SMID" in i.text for i in insts):
        problems.append("no %smid read (S2R/S2UR SR_VIRTUALSMID)")
    if not any(i.base in ("ATOMG", "ATOM") and "CAS" in i.opcode for i in insts):
        problems.append("no atomic CAS: blocks could not claim SMs")
    chase = [i for i in insts if i.opcode == "LDG.E.64.STRONG.GPU"]
    if sum(1 for i in chase if address_from_load(i, chase)) < 3:
        problems.append("expected a dependent L2-only LDG.E.64.STRONG.GPU chase")
    problems += K.memory_problems(insts, {"LDG.E.128.STRONG.GPU": 4})
    n_clock = sum(1 for i in insts if "SR_CLOCKLO" in i.text)
    if n_clock < 4:
        problems.append(f"expected 4 %clock64 reads (chase and bandwidth), found {n_clock}")
    return problems


# ---- declarations ---------------------------------------------------------------------------------------------------


def _int_tuple_check(value) -> str | None:
    return None if value and all(v > 0 for v in value) else "must be positive integers"


def _unrolls_check(value) -> str | None:
    return None if value and all(v in UNROLLS for v in value) else f"each must be one of {UNROLLS}"


def _method() -> str:
    return " ".join(p.replace("\n", " ") for p in __doc__.split("\n\n")[1:])


COMMON = (
    Param("threads", int, 0, "threads per block (0: 1024; 32 in the simulator)"),
    Param("min_bytes_per_launch", int, 1 * GiB, "passes are added until a launch moves at least this much", positive),
)
UNROLL = Param(
    "unroll",
    int,
    4,
    f"independent 16-byte accesses per thread per loop trip (one of {UNROLLS})",
    lambda v: None if v in UNROLLS else f"must be one of {UNROLLS}",
)
REQ = (min_cc(7, 5),)


def _ladder(shape: str) -> Probe:
    own = shape == "own"
    return Probe(
        name="bandwidth.ladder" + (".own" if own else ""),
        summary=(
            "16-byte read/write/copy bandwidth vs working set, all SMs, "
            + (
                "each block re-reading its own region (L1, L2, DRAM)"
                if own
                else "chunks shared by several SMs (L2 with data in both partitions, then DRAM)"
            )
        ),
        measure=measure_ladder_with(shape),
        axes=ladder_axes_with(shape),
        unit="GB/s",
        value_key="bandwidth_gbps",
        method=_method(),
        params=(
            Param("ops", str, ",".join(LADDER_OPS), "read, write and/or copy", _ops_check(LADDER_OPS)),
            Param("min_working_set_bytes", int, 16 * KiB, "smallest working set", multiple_of(4 * KiB)),
            Param(
                "max_working_set_bytes",
                int,
                0,
                "largest working set (0: "
                + ("4 MiB per block)" if own else "max(4x L2, 1 GiB), at most 1/8 of memory)"),
            ),
            Param("points_per_octave", int, 3, "sweep density", positive),
            Param(
                "chunk_bytes", int, 512 * KiB, "largest chunk one block reads (gpu-l2-cache: 512 KiB)", multiple_of(VEC)
            ),
            Param("blocks_per_sm", int, 1, "blocks on every SM (persistent grid)", positive),
            UNROLL,
            *COMMON,
        ),
        requires=REQ + (fits_in_free_memory(0.5, lambda p: 2 * (p["max_working_set_bytes"] or 0)),),
        kernels=ladder_kernels,
        check_sass=check_global,
        budget_seconds=10.0,
        smoke=(
            "ops=read,write,copy",
            "min_working_set_bytes=8192",
            "max_working_set_bytes=8192",
            "points_per_octave=1",
            "chunk_bytes=4096",
            "min_bytes_per_launch=8192",
        ),
    )


PROBES = (
    _ladder("shared"),
    _ladder("own"),
    Probe(
        name="bandwidth.occupancy",
        summary="HBM streaming read/copy bandwidth vs warps per SM and 16-byte accesses in flight per thread",
        measure=measure_occupancy,
        axes=occupancy_axes,
        unit="GB/s",
        value_key="bandwidth_gbps",
        method=_method(),
        params=(
            Param("ops", str, ",".join(STREAM_OPS), "read and/or copy", _ops_check(STREAM_OPS)),
            Param("warps_per_sm", tuple, (1, 2, 4, 8, 16, 32, 64), "warps on every SM", _int_tuple_check),
            Param("unrolls", tuple, UNROLLS, "16-byte accesses in flight per thread", _unrolls_check),
            Param(
                "buffer_bytes",
                int,
                0,
                "streamed buffer (0: max(8x L2, 512 MiB), at most 1/8 of memory)",
                lambda v: None if v >= 0 and v % VEC == 0 else "must be >= 0 and a multiple of 16",
            ),
        ),
        requires=REQ,
        kernels=occupancy_kernels,
        check_sass=check_global,
        budget_seconds=5.0,
        smoke=("ops=read,copy", "warps_per_sm=1", "unrolls=2", "buffer_bytes=8192"),
    ),
    Probe(
        name="bandwidth.shared",
        summary="shared-memory load bandwidth per SM vs access width (4/8/16 B, ldmatrix) and lane stride",
        measure=measure_shared,
        axes=shared_axes,
        unit="bytes/clk/SM",
        value_key="bytes_per_clk_per_sm",
        method=_method(),
        params=(
            Param(
                "accesses",
                str,
                ",".join(SHARED_ACCESS),
                "b32, v2, v4 (ld.shared) and/or ldmatrix",
                _ops_check(tuple(SHARED_ACCESS)),
            ),
            Param("strides", tuple, (1, 2, 4, 8, 16, 32), "lane stride in units of the access", _int_tuple_check),
            Param("iters", int, 4096, "loop trips per launch", positive),
            Param("threads", int, 0, "threads per block (0: 1024; 32 in the simulator)"),
            UNROLL,
        ),
        requires=REQ,
        kernels=shared_kernels,
        check_sass=check_shared,
        budget_seconds=5.0,
        smoke=("strides=2", "iters=2"),
    ),
    Probe(
        name="bandwidth.l2.nearfar",
        summary="L2 bandwidth per SM and address window, with each cell's latency telling near from far",
        measure=measure_nearfar,
        axes=nearfar_axes,
        unit="bytes/clk/SM",
        value_key="map_median_bytes_per_clk",
        method=_method(),
        params=(
            Param("windows", int, 32, "address windows (in different L2 slices)", positive),
            Param("window_bytes", int, 4 * KiB, "bytes of one window (128-B lines)", multiple_of(LINE)),
            Param(
                "window_stride_bytes",
                int,
                0,
                "distance between windows (0: half of L2 / windows)",
                lambda v: None if v == 0 or (v > 0 and v % LINE == 0) else "must be 0 or a multiple of 128",
            ),
            Param("steps", int, 64, "chase loads per timed latency pass", positive),
            Param("passes", int, 64, "reads of the window per bandwidth measurement", positive),
            Param("blocks_per_sm", int, 4, "blocks launched per SM, so every SM gets one", positive),
            Param("sm_slots_factor", int, 2, "flag slots per SM count (virtual %smid may exceed it)", positive),
            Param("threads", int, 0, "threads per block (0: 256; 32 in the simulator)"),
            UNROLL,
        ),
        requires=REQ,
        kernels=nearfar_kernels,
        check_sass=check_nearfar,
        smoke=("windows=4", "window_bytes=512", "steps=4", "passes=2", "blocks_per_sm=2"),
    ),
)
