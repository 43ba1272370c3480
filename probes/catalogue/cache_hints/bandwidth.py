"""cache-hints.bandwidth: streaming read bandwidth per hint (16-byte loads, many blocks) against a device-copy
ceiling timed the same way in the same measurement."""

from __future__ import annotations

import numpy as np

from probes.catalogue.cache_hints.host import (
    BLOCKS,
    CACHE,
    REQ,
    THREADS,
    cached,
    check,
    grid,
    hint_axes,
    hints_param,
    l2_bytes,
    method_text,
)
from probes.catalogue.cache_hints.kernels import bandwidth_kernel, check_sass, helper_kernels, kernels_for, marker
from probes.spec import KernelCheckError, MiB, Param, Probe


def bandwidth_bytes(env: dict, params: dict) -> int:
    nbytes = params["buffer_bytes"] or min(
        max(8 * l2_bytes(env), 64 * MiB), (env.get("memory_free_bytes") or 1 << 62) // 8
    )
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

    d_src, d_dst, expected, host = cached(("bandwidth", nbytes), build)
    blocks, threads = grid(ctx, params)
    acc = ctx.to_device(np.zeros(2, dtype=np.uint64))
    times = ctx.to_device(np.zeros(2 * blocks, dtype=np.uint64))
    ctx.kernel(("bandwidth", hint), bandwidth_kernel(hint))[blocks, threads](d_src, n_vec, acc, times)
    ctx.synchronize()
    a = acc.copy_to_host()
    check("16-byte hinted read sum", a[0], expected)
    check("bandwidth hint marker", a[1], marker("bandwidth", hint))
    read_ns = _span_ns(times.copy_to_host())
    ctx.kernel("helper-copy", helper_kernels()["copy_v4"])[blocks, threads](d_src, d_dst, n_vec, times)
    ctx.synchronize()
    copy_ns = _span_ns(times.copy_to_host())
    if ("bandwidth-copied", nbytes) not in CACHE:  # the copy's content, checked once per buffer
        if not np.array_equal(d_dst.copy_to_host(), host):
            raise KernelCheckError("device copy kernel: destination differs from source")
        CACHE[("bandwidth-copied", nbytes)] = True
    if read_ns <= 0 or copy_ns <= 0:
        raise KernelCheckError(f"non-positive %globaltimer span (read {read_ns} ns, copy {copy_ns} ns)")
    read, copy = nbytes / read_ns, 2 * nbytes / copy_ns
    return {
        "read_gbps": read,
        "copy_gbps": copy,
        "fraction_of_copy": read / copy,
        "bytes": nbytes,
        "ns": read_ns,
        "blocks": blocks,
        "threads": threads,
    }


PROBE = Probe(
    name="cache-hints.bandwidth",
    summary="streaming read bandwidth per hint (16-byte loads, many blocks) vs a device-copy ceiling",
    measure=measure_bandwidth,
    axes=hint_axes("bandwidth"),
    unit="GB/s",
    value_key="read_gbps",
    method=method_text("""Grid-stride 16-byte `.v4.u32` loads with the hint over a buffer of max(8x L2, 64 MiB);
        every block stamps %globaltimer at its start and end, bandwidth = bytes / (last end - first start).
        The ceiling is a plain 16-byte device copy timed the same way in the same measurement (read + written
        bytes). The loaded values' sum is checked against the host."""),
    params=(
        hints_param("bandwidth"),
        BLOCKS,
        THREADS,
        Param("buffer_bytes", int, 0, "buffer size (0: max(8x L2, 64 MiB), at most 1/8 of free memory)"),
    ),
    requires=REQ,
    kernels=kernels_for("bandwidth"),
    check_sass=check_sass,
    smoke=("hints=none,nc", "buffer_bytes=1024", "blocks=2", "threads=8"),
)
