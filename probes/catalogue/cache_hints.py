"""Cache-hint matrix, dynamic half: what each PTX cache qualifier does to residency, pollution, bandwidth, prefetch,
visibility and stores. The static half (what ptxas lowers each qualifier to) is reports/static/cache-hints-sass.csv.

Every latency here is a pointer chase (memory holds absolute addresses; each step is one load addressed by the
previous one's result) timed over two sections of k and 2k loads: per-load cycles = (t(2k) - t(k)) / k cancels the
clock and loop overhead. Each launch first streams a buffer of twice the L2 size (the *flush* kernel) so every region
starts cold, and measures its own latency bands in the same launch: a plain re-walk of plain-touched lines (L1
band), a `.cg` walk of L2-resident lines (L2 band: strong GPU-scope loads never hit the non-coherent L1) and a
`.cg` walk of never-touched lines (HBM band). The analysis classifies each hinted measurement against those bands.

This module holds the host side (buffers, launches, checks of what each kernel computed) and the declarations; the
kernels and their SASS checks are probes/catalogue/_hint_kernels.py, the hinted operations _hint_ops.py.
"""
from __future__ import annotations

import numpy as np
from numba import cuda

from probes.catalogue import _hint_ops as H
from probes.catalogue._hint_kernels import (LINE, _hints_for, _kernels_for, bandwidth_kernel, check_sass,
                                            helper_kernels, marker, pollution_l1_kernel, prefetch_kernel,
                                            residency_kernel, staleness_kernel, store_kernel, stream_kernel)
from probes.engine import intrinsics as X  # noqa: F401  the kernels' intrinsics: Probe.version() hashes this module
from probes.engine.context import stream_handle
from probes.spec import KernelCheckError, KiB, MiB, Param, Probe, ProbeSpecError, min_cc, positive
from probes.static.kernel_checks import Expect


# ---------------------------------------------------------------------------------------------------- params/axes

def _hints_param(kind: str, default: str = "all") -> Param:
    known = _hints_for(kind)

    def check(value: str) -> str | None:
        names = [v.strip() for v in value.split(",") if v.strip()]
        if not names:
            return "give 'all' or a comma-separated list of hints"
        if names == ["all"]:
            return None
        bad = [n for n in names if n not in known]
        return f"unknown hint {bad[0]!r} (hints: {', '.join(known)})" if bad else None
    return Param("hints", str, default, "comma-separated subset of the hint axis, or 'all'", check)


def selected_hints(kind: str, params: dict, env: dict) -> tuple[str, ...]:
    """The `hint` axis: the requested hints, minus those ptxas rejects on this arch (per the static atlas)."""
    text = params.get("hints", "all")
    names = _hints_for(kind) if text.strip() == "all" else tuple(v.strip() for v in text.split(",") if v.strip())
    cc = env.get("compute_capability") or (9, 0)
    arch = f"sm_{cc[0]}{cc[1]}"
    op, width = ("st", "b64") if kind == "store" else ("ld", "b64")
    return tuple(h for h in names if H.supported(op, h, arch, width))


def _l2(env: dict) -> int:
    if not env.get("l2_cache_bytes"):
        raise ProbeSpecError("cache-hints probes need the device's l2_cache_bytes (environment) to size buffers")
    return int(env["l2_cache_bytes"])


def _l1_guess(env: dict) -> int:
    """Upper bound of the unified L1/shared capacity: the shared-memory size when known, else 256 KiB (>= every
    sm_70..sm_90 part)."""
    return int(env.get("shared_memory_per_sm_bytes") or 256 * KiB)


def flush_bytes(env: dict) -> int:
    return 2 * _l2(env)


# ---------------------------------------------------------------------------------------------------- host side

def _addr(base: int, word: np.ndarray | int):
    """Chains hold absolute addresses on a GPU and element indices in the simulator (base 0)."""
    return base + 8 * word if base else word


def _chains(ctx, words: int, cycles: list[np.ndarray]):
    """Device memory of `words` u64 where each array of word offsets in `cycles` is one closed pointer chain.
    Returns (device array, host copy, start address of each chain)."""
    host = np.zeros(words, dtype=np.uint64)
    d_mem = ctx.device_array(words, np.uint64)
    base = ctx.address_of(d_mem)
    starts = []
    for order in cycles:
        order = np.asarray(order, dtype=np.int64)
        host[order] = np.asarray(_addr(base, np.roll(order, -1)), dtype=np.uint64)
        starts.append(int(_addr(base, int(order[0]))))
    d_mem.copy_to_device(host)
    return d_mem, host, np.array(starts, dtype=np.uint64)


def _region_cycles(ctx, key, regions: int, lines: int) -> list[np.ndarray]:
    """`regions` chains, each a random order of `lines` consecutive LINE-sized slots of its own region."""
    rng = ctx.rng(*key)
    per_line = LINE // 8
    return [(r * lines + rng.permutation(lines)) * per_line for r in range(regions)]


_CACHE: dict = {}


def _cached(key, build):
    """One buffer set per probe point at a time (device memory is reused across the engine's repetitions)."""
    if key not in _CACHE:
        for old in [k for k in _CACHE if k[0] == key[0]]:
            del _CACHE[old]
        _CACHE[key] = build()
    return _CACHE[key]


def _grid(ctx, params: dict) -> tuple[int, int]:
    # The simulator runs one Python thread per CUDA thread: its default grid is tiny (sizes still come from env).
    blocks = params.get("blocks") or (2 if ctx.simulator else 4 * int(ctx.env.get("sm_count") or 1))
    threads = params.get("threads") or (16 if ctx.simulator else 256)
    return blocks, threads


def _flush(ctx) -> None:
    """Stream a buffer of 2x L2 through L2 (every region of the launch that follows starts cold)."""
    lines = flush_bytes(ctx.env) // LINE
    d_buf = _cached(("flush", lines), lambda: ctx.to_device(np.ones(lines * 32, dtype=np.uint32)))
    acc = ctx.to_device(np.zeros(1, dtype=np.uint64))
    blocks, threads = _grid(ctx, {})
    ctx.kernel("helper-flush", helper_kernels()["flush"])[blocks, threads](d_buf, lines, acc)
    ctx.synchronize()
    got = int(acc.copy_to_host()[0])
    if got != lines:
        raise KernelCheckError(f"flush kernel summed {got}, expected {lines}: not every line was read")


def _per_load(out: np.ndarray, idx: int, k: int) -> float:
    """(t(2k) - t(k)) / k from a timed walk's two section times."""
    return (int(out[idx + 1]) - int(out[idx])) / k


def _check(what: str, got, expected) -> None:
    if int(got) != int(expected):
        raise KernelCheckError(f"{what}: kernel returned {int(got):#x}, expected {int(expected):#x}")


def _check_k(k: int, lines_available: int | None = None) -> None:
    if lines_available is not None and 3 * k > lines_available:
        raise ProbeSpecError(f"parameter k={k}: needs {3 * k} lines but the region holds {lines_available}; lower k")


def measure_residency(ctx, point: dict, params: dict) -> dict:
    hint, k = point["hint"], params["k"]
    d_mem, _, starts = _cached(("residency", k), lambda: _chains(
        ctx, 5 * 3 * k * LINE // 8, _region_cycles(ctx, ("residency", k), 5, 3 * k)))
    d_starts = _cached(("residency-starts", k), lambda: ctx.to_device(starts))
    _flush(ctx)
    out = ctx.to_device(np.zeros(16, dtype=np.uint64))
    ctx.kernel(("residency", hint), residency_kernel(hint))[1, 1](d_mem, d_starts, k, out)
    ctx.synchronize()
    o = out.copy_to_host()
    for i, region in enumerate(("T1", "T2", "H", "M", "C")):
        _check(f"residency chain {region} end", o[10 + i], starts[i])
    _check("residency hint marker", o[15], marker("residency", hint))
    return {"cycles_per_op": _per_load(o, 0, k), "l2_reaccess_cycles": _per_load(o, 2, k),
            "band_l1_cycles": _per_load(o, 4, k), "band_l2_cycles": _per_load(o, 6, k),
            "band_hbm_cycles": _per_load(o, 8, k), "k": k}


def _stream_buffer(ctx, nbytes: int):
    lines = max(1, nbytes // LINE)
    return lines, _cached(("stream", lines), lambda: ctx.to_device(np.ones(lines * 32, dtype=np.uint32)))


def measure_pollution(ctx, point: dict, params: dict) -> dict:
    hint, level, k = point["hint"], point["level"], params["k"]
    if level == "l1":
        d_mem, _, starts = _cached(("pollution-l1", k), lambda: _chains(
            ctx, 3 * k * LINE // 8, _region_cycles(ctx, ("pollution-l1", k), 1, 3 * k)))
        lines, d_stream = _stream_buffer(ctx, params["stream_bytes"] or 4 * _l1_guess(ctx.env))
        _flush(ctx)
        out = ctx.to_device(np.zeros(8, dtype=np.uint64))
        acc = ctx.to_device(np.zeros(1, dtype=np.uint64))
        _, threads = _grid(ctx, params)
        ctx.kernel(("pollution-l1", hint), pollution_l1_kernel(hint))[1, threads](
            d_mem, starts[0], k, d_stream, lines, out, acc)
        ctx.synchronize()
        o = out.copy_to_host()
        _check("victim chain end", o[6], starts[0])
        _check("hinted stream sum", acc.copy_to_host()[0], lines)
        _check("pollution hint marker", o[7], marker("pollution-l1", hint))
        return {"cycles_per_op": _per_load(o, 4, k), "band_l1_cycles": _per_load(o, 0, k),
                "band_l2_cycles": _per_load(o, 2, k), "stream_bytes": lines * LINE, "k": k}
    return _l2_victim(ctx, hint, params)


def _l2_victim(ctx, hint: str, params: dict, window=None) -> dict:
    """Level l2: a victim of L2/4 made resident by a parallel touch; bands from .cg walks; many blocks stream
    `stream_bytes` with the hint. `window(d_mem, victim_bytes)` returns a stream carrying an access-policy
    window over the victim (or None to run on the default stream)."""
    k = params["k"]
    victim_lines = _l2(ctx.env) // 4 // LINE
    _check_k(k, victim_lines)

    def build():
        rng = ctx.rng("pollution-l2", k, victim_lines)
        per_line = LINE // 8
        victim = rng.choice(victim_lines, 3 * k, replace=False) * per_line
        cold = (victim_lines + rng.permutation(3 * k)) * per_line
        return _chains(ctx, (victim_lines + 3 * k) * per_line, [victim, cold])
    d_mem, host, starts = _cached(("pollution-l2", k, victim_lines), build)
    lines, d_stream = _stream_buffer(ctx, params["stream_bytes"] or _l2(ctx.env))
    blocks, threads = _grid(ctx, params)
    helpers = helper_kernels()
    timed = ctx.kernel("helper-timed-cg", helpers["timed_cg"])
    _flush(ctx)
    stream = window(d_mem, victim_lines * LINE) if window else None
    grid, one = ((blocks, threads), (1, 1)) if stream is None else ((blocks, threads, stream), (1, 1, stream))
    bands = {}
    for name, start in (("hbm", starts[1]), ("touch", None), ("before", starts[0]), ("stream", None),
                        ("after", starts[0])):
        if name == "touch":
            acc = ctx.to_device(np.zeros(1, dtype=np.uint64))
            ctx.kernel("helper-touch", helpers["touch"])[grid](d_mem, victim_lines, acc)
            ctx.synchronize()
            expected = int(np.sum(host[:victim_lines * (LINE // 8):LINE // 8], dtype=np.uint64))
            _check("victim touch sum", acc.copy_to_host()[0], expected)
            continue
        if name == "stream":
            acc = ctx.to_device(np.zeros(2, dtype=np.uint64))
            ctx.kernel(("stream", hint), stream_kernel(hint))[grid](d_stream, lines, acc)
            ctx.synchronize()
            a = acc.copy_to_host()
            _check("hinted stream sum", a[0], lines)
            _check("stream hint marker", a[1], marker("pollution-l2", hint))
            continue
        out = ctx.to_device(np.zeros(3, dtype=np.uint64))
        timed[one](d_mem, start, k, out)
        ctx.synchronize()
        o = out.copy_to_host()
        _check(f"{name} walk end", o[2], start)
        bands[name] = _per_load(o, 0, k)
    return {"cycles_per_op": bands["after"], "band_l2_cycles": bands["before"], "band_hbm_cycles": bands["hbm"],
            "stream_bytes": lines * LINE, "k": k}


def _driver_ok(result, what: str) -> None:
    err = result[0] if isinstance(result, tuple) else result
    if int(err) != 0:
        raise RuntimeError(f"{what} failed: CUresult {int(err)}")


class _PersistingWindow:
    """A stream whose kernels see an access-policy window marking [base, base+bytes) persisting in L2 (CUDA
    driver API: persisting-L2 limit + stream attribute). `reset()` removes it and demotes persisting lines, so
    the next point or probe starts from a normal L2."""

    def __init__(self):
        self.stream = None

    def __call__(self, d_mem, nbytes: int):
        from cuda.bindings import driver
        _driver_ok(driver.cuCtxSetLimit(driver.CUlimit.CU_LIMIT_PERSISTING_L2_CACHE_SIZE, nbytes), "cuCtxSetLimit")
        self.stream = cuda.stream()
        value = driver.CUstreamAttrValue()
        w = value.accessPolicyWindow
        w.base_ptr = int(d_mem.device_ctypes_pointer.value)
        w.num_bytes = nbytes
        w.hitRatio = 1.0
        w.hitProp = driver.CUaccessProperty.CU_ACCESS_PROPERTY_PERSISTING
        w.missProp = driver.CUaccessProperty.CU_ACCESS_PROPERTY_STREAMING
        _driver_ok(driver.cuStreamSetAttribute(stream_handle(self.stream),
                                               driver.CUstreamAttrID.CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW, value),
                   "cuStreamSetAttribute(access policy window)")
        return self.stream

    def reset(self) -> None:
        from cuda.bindings import driver
        if self.stream is not None:
            value = driver.CUstreamAttrValue()
            value.accessPolicyWindow.num_bytes = 0
            driver.cuStreamSetAttribute(stream_handle(self.stream),
                                        driver.CUstreamAttrID.CU_LAUNCH_ATTRIBUTE_ACCESS_POLICY_WINDOW, value)
        _driver_ok(driver.cuCtxResetPersistingL2Cache(), "cuCtxResetPersistingL2Cache")
        _driver_ok(driver.cuCtxSetLimit(driver.CUlimit.CU_LIMIT_PERSISTING_L2_CACHE_SIZE, 0), "cuCtxSetLimit")


def measure_persisting(ctx, point: dict, params: dict) -> dict:
    """The L2-victim experiment of cache-hints.pollution with a plain streaming neighbour, without and with an
    access-policy window marking the victim persisting. The simulator has no such window: there the `persisting`
    point runs without one and says so (policy_applied = False)."""
    if point["window"] == "off" or ctx.simulator:
        return {**_l2_victim(ctx, "none", params), "policy_applied": False}
    window = _PersistingWindow()
    try:
        return {**_l2_victim(ctx, "none", params, window), "policy_applied": True}
    finally:
        window.reset()


def bandwidth_bytes(env: dict, params: dict) -> int:
    nbytes = params["buffer_bytes"] or min(max(8 * _l2(env), 64 * MiB), (env.get("memory_free_bytes") or 1 << 62) // 8)
    return nbytes - nbytes % 16


def _span_ns(times: np.ndarray) -> int:
    t = times.astype(np.int64).reshape(-1, 2)
    return int(t[:, 1].max() - t[:, 0].min())


def measure_bandwidth(ctx, point: dict, params: dict) -> dict:
    hint = point["hint"]
    nbytes = bandwidth_bytes(ctx.env, params)
    n_vec = nbytes // 16

    def build():
        host = (np.arange(nbytes // 4, dtype=np.uint32) % 251).astype(np.uint32)
        return ctx.to_device(host), ctx.device_array(nbytes // 4, np.uint32), int(host.sum(dtype=np.uint64)), host
    d_src, d_dst, expected, host = _cached(("bandwidth", nbytes), build)
    blocks, threads = _grid(ctx, params)
    acc = ctx.to_device(np.zeros(2, dtype=np.uint64))
    times = ctx.to_device(np.zeros(2 * blocks, dtype=np.uint64))
    ctx.kernel(("bandwidth", hint), bandwidth_kernel(hint))[blocks, threads](d_src, n_vec, acc, times)
    ctx.synchronize()
    a = acc.copy_to_host()
    _check("16-byte hinted read sum", a[0], expected)
    _check("bandwidth hint marker", a[1], marker("bandwidth", hint))
    read_ns = _span_ns(times.copy_to_host())
    ctx.kernel("helper-copy", helper_kernels()["copy_v4"])[blocks, threads](d_src, d_dst, n_vec, times)
    ctx.synchronize()
    copy_ns = _span_ns(times.copy_to_host())
    if ("bandwidth-copied", nbytes) not in _CACHE:  # the copy's content, checked once per buffer
        if not np.array_equal(d_dst.copy_to_host(), host):
            raise KernelCheckError("device copy kernel: destination differs from source")
        _CACHE[("bandwidth-copied", nbytes)] = True
    if read_ns <= 0 or copy_ns <= 0:
        raise KernelCheckError(f"non-positive %globaltimer span (read {read_ns} ns, copy {copy_ns} ns)")
    read, copy = nbytes / read_ns, 2 * nbytes / copy_ns
    return {"read_gbps": read, "copy_gbps": copy, "fraction_of_copy": read / copy, "bytes": nbytes,
            "ns": read_ns, "blocks": blocks, "threads": threads}


GROUP = 4 * KiB   # one prefetch group per 4 KiB: no L2 prefetch (<= 256 B) reaches a neighbour group


def _prefetch_chain(ctx, triples: int, offset: int):
    """Chain per triple (a, b, c): base_a -> base_b -> base_c -> a+off -> b+off -> c+off -> next base_a."""
    per_group = GROUP // 8
    groups = ctx.rng("prefetch", triples).permutation(3 * triples) * per_group
    off = offset // 8
    order = []
    for r in range(triples):
        a, b, c = groups[3 * r: 3 * r + 3]
        order += [a, b, c, a + off, b + off, c + off]
    return _chains(ctx, 3 * triples * per_group, [np.array(order)])


def measure_prefetch(ctx, point: dict, params: dict) -> dict:
    hint, offset, triples = point["hint"], point["offset_bytes"], params["triples"]
    d_mem, _, starts = _cached(("prefetch", triples, offset), lambda: _prefetch_chain(ctx, triples, offset))
    _flush(ctx)
    out = ctx.to_device(np.zeros(2 + 2 * triples, dtype=np.uint64))
    ctx.kernel(("prefetch", hint), prefetch_kernel(hint))[1, 1](d_mem, starts[0], triples, out)
    ctx.synchronize()
    o = out.copy_to_host()
    _check("prefetch chain end", o[1], starts[0])
    _check("prefetch hint marker", o[0], marker("prefetch", hint))
    t = o[2:].astype(np.int64).reshape(-1, 2)
    return {"cycles_per_op": (t[:, 1] - t[:, 0]).astype(float), "offset_bytes": offset}


def litmus_counts(obs: np.ndarray, otime: np.ndarray, wtime: np.ndarray) -> dict:
    """Stale reads and time-to-visibility of one consumer's poll log.

    A poll is stale when it returns a value older than the newest write the producer had issued (its %globaltimer
    stamp after the store) before the consumer's previous poll returned; a regression is a poll returning less than
    the one before it. Visibility of value i: the first poll stamp that returned >= i, minus the write's stamp.
    """
    obs = np.asarray(obs, dtype=np.int64)
    otime = np.asarray(otime, dtype=np.int64)
    w = np.asarray(wtime, dtype=np.int64)[1:]            # w[i-1]: stamp of the write of value i
    issued = np.searchsorted(w, otime[:-1], side="left")  # writes stamped strictly before the previous poll returned
    stale = int(np.sum(obs[1:] < issued))
    regressions = int(np.sum(np.diff(obs) < 0))
    vis = []
    for i in range(1, len(w) + 1):
        seen = np.nonzero(obs >= i)[0]
        if len(seen):
            vis.append(int(otime[seen[0]] - w[i - 1]))
    fraction = stale / max(1, len(obs) - 1)
    return {"stale_reads": stale, "polls": len(obs), "stale_fraction": fraction, "fresh_fraction": 1 - fraction,
            "regressions": regressions, "visibility_ns": float(np.median(vis)) if vis else None,
            "last_seen": int(obs.max()) if len(obs) else 0}


def measure_staleness(ctx, point: dict, params: dict) -> dict:
    hint = point["hint"]
    writes, polls = params["writes"], params["polls"]
    consumers = params["consumers"] or max(1, min(4, int(ctx.env.get("sm_count") or 2) - 1))
    flag = ctx.to_device(np.zeros(1, dtype=np.uint32))
    wtime = ctx.to_device(np.zeros(writes + 1, dtype=np.uint64))
    obs = ctx.to_device(np.zeros(consumers * polls, dtype=np.uint32))
    otime = ctx.to_device(np.zeros(consumers * polls, dtype=np.uint64))
    sm = ctx.to_device(np.zeros(consumers + 1, dtype=np.uint32))
    ctx.kernel(("staleness", hint), staleness_kernel(hint))[consumers + 1, 1](
        flag, np.int64(writes), np.uint64(params["gap_cycles"]), np.int64(polls), wtime, obs, otime, sm, np.int64(0))
    ctx.synchronize()
    _check("producer's final flag", flag.copy_to_host()[0], writes)
    w = wtime.copy_to_host()
    _check("staleness hint marker", w[0], marker("staleness", hint))
    if np.any(np.diff(w[1:].astype(np.int64)) < 0):
        raise KernelCheckError("producer write stamps go backwards: %globaltimer misread")
    o, ot, s = obs.copy_to_host().reshape(consumers, polls), otime.copy_to_host().reshape(consumers, polls), \
        sm.copy_to_host()
    if o.max(initial=0) > writes:
        raise KernelCheckError(f"a consumer read {int(o.max())}, but the producer wrote only 1..{writes}")
    rows = {key: [] for key in ("stale_reads", "polls", "stale_fraction", "fresh_fraction", "regressions",
                                "visibility_ns", "last_seen", "same_sm_as_producer", "consumer")}
    for c in range(consumers):
        counts = litmus_counts(o[c], ot[c], w)
        for key, value in counts.items():
            rows[key].append(value)
        rows["same_sm_as_producer"].append(bool(s[c + 1] == s[0]))
        rows["consumer"].append(c)
    return rows


def measure_store(ctx, point: dict, params: dict) -> dict:
    hint, k = point["hint"], params["k"]
    n = 3 * k
    per_line = LINE // 8

    def build():
        d_mem, _, starts = _chains(ctx, 3 * n * per_line, _region_cycles(ctx, ("store-bands", k), 3, n))
        d_t = ctx.device_array(n * per_line, np.uint64)
        base = ctx.address_of(d_t)
        order = ctx.rng("store", k).permutation(n) * per_line
        slots = np.asarray(_addr(base, order), dtype=np.uint64)
        nexts = np.roll(slots, -1)
        expected = np.zeros(n * per_line, dtype=np.uint64)
        expected[order] = nexts
        return d_mem, ctx.to_device(starts), starts, d_t, ctx.to_device(slots), ctx.to_device(nexts), slots, expected
    d_mem, d_starts, starts, d_t, d_slots, d_nexts, slots, expected = _cached(("store", k), build)
    d_t.copy_to_device(np.zeros(n * per_line, dtype=np.uint64))   # the stores alone must rebuild the chain
    _flush(ctx)
    out = ctx.to_device(np.zeros(13, dtype=np.uint64))
    ctx.kernel(("store", hint), store_kernel(hint))[1, 1](d_t, d_slots, d_nexts, d_mem, d_starts, k, out)
    ctx.synchronize()
    o = out.copy_to_host()
    if not np.array_equal(d_t.copy_to_host(), expected):
        raise KernelCheckError("hinted stores did not write the chain the host expects")
    _check("stored chain end", o[8], slots[0])
    for i, region in enumerate(("H", "M", "C")):
        _check(f"store band chain {region} end", o[9 + i], starts[i])
    _check("store hint marker", o[12], marker("store", hint))
    return {"cycles_per_op": _per_load(o, 0, k), "band_l1_cycles": _per_load(o, 2, k),
            "band_l2_cycles": _per_load(o, 4, k), "band_hbm_cycles": _per_load(o, 6, k), "k": k}


# ---------------------------------------------------------------------------------------------------- probes

def _axes(kind: str, **extra):
    def axes(env: dict, params: dict) -> dict:
        out = {"hint": selected_hints(kind, params, env)}
        if not out["hint"]:
            raise ProbeSpecError(f"no hint of {params.get('hints')!r} is accepted by ptxas for this device")
        for name, fn in extra.items():
            out[name] = fn(env, params)
        return out
    return axes


def _levels(env: dict, params: dict) -> tuple:
    levels = tuple(v.strip() for v in params["levels"].split(",") if v.strip())
    bad = [v for v in levels if v not in ("l1", "l2")]
    if bad or not levels:
        raise ProbeSpecError(f"parameter levels={params['levels']!r}: use l1, l2 or l1,l2")
    return levels


def _offsets(env: dict, params: dict) -> tuple:
    offs = params["offsets_bytes"]
    bad = [o for o in offs if o % 8 or not 8 <= o < GROUP]
    if bad:
        raise ProbeSpecError(f"parameter offsets_bytes: {bad[0]} must be a multiple of 8 in [8, {GROUP})")
    return tuple(offs)


def _method(text: str) -> str:
    return " ".join(text.split())


K = Param("k", int, 32, "lines per timed section: each chain holds 3k lines", positive)
THREADS = Param("threads", int, 0, "threads per block (0: 256; 16 in the simulator)")
BLOCKS = Param("blocks", int, 0, "blocks (0: 4 per SM; 2 in the simulator)")
REQ = (min_cc(7, 0),)
COMMON = " " + _method(__doc__.split("\n\n")[1])

PROBES = (
    Probe(
        name="cache-hints.residency",
        summary="touch lines with the hinted load, re-time a plain (L1?) and a .cg (L2?) re-access",
        measure=measure_residency, axes=_axes("residency"), unit="cycles/load",
        method=_method("""Cold lines are touched once with the hinted load; the headline is the per-load latency
            of a plain re-walk (an L1 hit if the hint allocated in L1), `l2_reaccess_cycles` that of a .cg re-walk of
            other hinted lines (L2 hit or HBM).""") + COMMON,
        params=(_hints_param("residency"), K), requires=REQ,
        kernels=_kernels_for("residency"), check_sass=check_sass,
        smoke=("hints=none,cg", "k=2"),
    ),
    Probe(
        name="cache-hints.pollution",
        summary="victim set resident in L1 (or L2), stream a buffer with the hinted load, re-time the victim",
        measure=measure_pollution, axes=_axes("pollution-l1", level=_levels), unit="cycles/load",
        method=_method("""Level l1: one block; thread 0 makes a 3k-line victim chain L1-resident and times it
            (L1 band) and with .cg (L2 band); the block streams `stream_bytes` (default 4x the L1/shared capacity)
            with the hinted 4-byte load, one per line; thread 0 re-times the victim plain. Level l2: a victim of L2/4
            is touched by all blocks, its .cg latency is the L2 band; all blocks stream `stream_bytes` (default the
            L2 size) with the hint; the victim's .cg latency is re-timed; a never-touched chain gives the HBM band.
            Survival = how far the re-timed latency stayed from the evicted band.""") + COMMON,
        params=(_hints_param("pollution-l1"), K, THREADS, BLOCKS,
                Param("levels", str, "l1,l2", "victim levels: l1, l2 or l1,l2"),
                Param("stream_bytes", int, 0, "streamed buffer (0: 4x L1/shared capacity for l1, L2 size for l2)")),
        requires=REQ, kernels=_kernels_for("pollution-l1", "pollution-l2"), check_sass=check_sass,
        smoke=("hints=none,cs", "k=2", "stream_bytes=2048", "threads=8", "blocks=2"),
    ),
    Probe(
        name="cache-hints.bandwidth",
        summary="streaming read bandwidth per hint (16-byte loads, many blocks) vs a device-copy ceiling",
        measure=measure_bandwidth, axes=_axes("bandwidth"), unit="GB/s", value_key="read_gbps",
        method=_method("""Grid-stride 16-byte `.v4.u32` loads with the hint over a buffer of max(8x L2, 64 MiB);
            every block stamps %globaltimer at its start and end, bandwidth = bytes / (last end - first start).
            The ceiling is a plain 16-byte device copy timed the same way in the same measurement (read + written
            bytes). The loaded values' sum is checked against the host."""),
        params=(_hints_param("bandwidth"), BLOCKS, THREADS,
                Param("buffer_bytes", int, 0, "buffer size (0: max(8x L2, 64 MiB), at most 1/8 of free memory)")),
        requires=REQ, kernels=_kernels_for("bandwidth"), check_sass=check_sass,
        smoke=("hints=none,nc", "buffer_bytes=1024", "blocks=2", "threads=8"),
    ),
    Probe(
        name="cache-hints.prefetch-size",
        summary="latency of a .cg load offset_bytes past one L2::64B/128B/256B-hinted access",
        measure=measure_prefetch, axes=_axes("prefetch", offset_bytes=_offsets), unit="cycles/load",
        method=_method("""Cold 4 KiB groups in random order, taken in triples: the three group bases are loaded
            with the hint (a dependent chain), then one .cg load at base+offset of the first group is timed (t1) and
            two at the others (t2); t2 - t1 is one load without clock overhead. An L2 hit means the hinted access
            brought that sector into L2."""),
        params=(_hints_param("prefetch"), Param("offsets_bytes", tuple, (32, 64, 96, 128, 192, 256, 384, 512),
                                                "offsets past the hinted access, bytes (multiples of 8)"),
                Param("triples", int, 32, "group triples per launch (samples per launch)", positive)),
        requires=REQ, kernels=_kernels_for("prefetch"), check_sass=check_sass,
        smoke=("hints=none,L2::256B", "offsets_bytes=64,256", "triples=2"),
    ),
    Probe(
        name="cache-hints.staleness",
        summary="producer block writes a flag repeatedly; consumer blocks poll it with each hint: stale reads",
        measure=measure_staleness, axes=_axes("staleness"), unit="fraction of polls not stale",
        value_key="fresh_fraction",  # not stale_fraction: a median of 0 never satisfies a relative-CI stopping rule
        method=_method("""Block 0 writes 1..writes to a flag with st.relaxed.gpu, `gap_cycles` apart, stamping each
            write with %globaltimer; consumer blocks (other SMs when co-resident; `same_sm_as_producer` says) poll
            it `polls` times with the hinted load, stamping each poll. A poll is stale when it returns a value older
            than the newest write stamped before the previous poll returned; visibility = first poll seeing a value
            minus its write stamp. Counts only: nothing is claimed beyond what was observed."""),
        params=(_hints_param("staleness"), Param("consumers", int, 0, "consumer blocks (0: min(4, SMs - 1))"),
                Param("writes", int, 64, "values the producer writes", positive),
                Param("gap_cycles", int, 2000, "cycles between writes", positive),
                Param("polls", int, 16384, "polls per consumer", positive)),
        requires=REQ, kernels=_kernels_for("staleness"), check_sass=check_sass,
        smoke=("hints=none,volatile", "consumers=1", "writes=4", "gap_cycles=8", "polls=16"),
    ),
    Probe(
        name="cache-hints.persisting",
        summary="L2 victim vs a plain streaming neighbour, without / with a persisting access-policy window",
        measure=measure_persisting, axes=lambda env, params: {"window": ("off", "persisting")},
        unit="cycles/load",
        method=_method("""The level-l2 experiment of cache-hints.pollution (victim L2/4, .cg re-time, same-run L2
            and HBM bands) with a plain streaming neighbour of `stream_bytes` (default the L2 size), run on a stream
            whose access-policy window (CUDA driver: CU_LIMIT_PERSISTING_L2_CACHE_SIZE = victim size, hitRatio 1,
            hitProp persisting, missProp streaming) covers the victim, and without it. The window is removed and
            persisting lines reset after each measurement."""),
        params=(K, THREADS, BLOCKS,
                Param("stream_bytes", int, 0, "streamed neighbour buffer (0: the L2 size)")),
        requires=(min_cc(8, 0),), kernels=_kernels_for("pollution-l2"), check_sass=check_sass,
        smoke=("k=2", "stream_bytes=2048", "threads=8", "blocks=2"),
    ),
    Probe(
        name="cache-hints.store",
        summary="write a chain with the hinted st.global into cold lines, re-time a plain re-read",
        measure=measure_store, axes=_axes("store"), unit="cycles/load",
        method=_method("""Cold lines receive a pointer chain through the hinted 8-byte store (.wb/.cg/.cs/.wt/
            L1::no_allocate/...); the chain is then re-walked with plain loads: an L1 hit means the store allocated
            in L1, an L2 hit that it stopped in L2.""") + COMMON,
        params=(_hints_param("store"), K), requires=REQ,
        kernels=_kernels_for("store"), check_sass=check_sass,
        smoke=("hints=none,cs", "k=2"),
    ),
)



def _hint_expect(kernel_name: str) -> Expect:
    """Timed kinds: clock discipline; staleness (clock reads only space the producer's writes): its poll loads stay
    inside the poll loop."""
    kind = kernel_name.partition("@")[0]
    return Expect(clock=False, polled="LDG") if kind == "staleness" else Expect()


KERNEL_CHECKS = {p.name: _hint_expect for p in PROBES}   # dry-run schedule checks (probes/static/kernel_checks.py)
