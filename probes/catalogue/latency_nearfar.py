"""L2 near/far map: the L2-resident chase from one block on every SM, over address windows in different L2 slices.

Method: the grid has `blocks_per_sm` x sm_count one-thread blocks; each reads `%smid`, and the first block to land
on an SM claims it with an atomic compare-and-swap on a per-SM flag (later blocks there exit at once), so every
SM that got a block measures exactly once. The claiming block chases each of `windows` small L2-only (`ld.global.cg`,
L1 bypassed) 64-bit pointer chains in turn; window w is `lines_per_window` 128-B lines at offset w x window stride
inside an L2-resident region (half the L2 size), so the windows fall in different L2 slices and partitions. SM s
visits the windows starting at window s (mod windows), so the SMs do not chase the same lines at the same time. Per
window: a warm pass, then timed passes of n and 2n loads (16 chained loads per trip of a uint32 loop); latency =
(t(2n) - t(n)) / n. Every (SM, window)
chase's final pointer is checked against the host walk. The headline value of a point is the launch's median over
cells. Under the simulator %smid is `blockIdx.x % sm_count`.
"""

from __future__ import annotations

import numpy as np

from probes.spec import Axis, KernelCheckError, Param, Probe, ProbeSpecError, min_cc, multiple_of, positive
from probes.static.kernel_checks import Expect

LINE_BYTES = 128


def _stride_ok(value) -> str | None:
    return (
        None
        if value == 0 or (value > 0 and value % LINE_BYTES == 0)
        else (f"must be 0 (derived) or a positive multiple of {LINE_BYTES} bytes")
    )


def window_stride(env: dict, params: dict) -> int:
    """Distance between windows: given, or the L2-resident region (half of L2) divided evenly among the windows."""
    if params["window_stride_bytes"]:
        stride = params["window_stride_bytes"]
    else:
        l2 = env.get("l2_cache_bytes")
        if not l2:
            raise ProbeSpecError("environment has no l2_cache_bytes: set window_stride_bytes explicitly")
        stride = (l2 // 2 // params["windows"]) // LINE_BYTES * LINE_BYTES
    if stride < params["lines_per_window"] * LINE_BYTES:
        raise ProbeSpecError(
            f"window stride {stride} B is smaller than a window ({params['lines_per_window']} lines "
            f"of {LINE_BYTES} B): use fewer windows or lines_per_window"
        )
    return stride


def build_windows(n_windows: int, stride: int, lines: int, base: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """(memory, start of each window): window w is a random cycle over its `lines` lines at w * stride.

    Memory holds absolute addresses (base + byte offset); with base 0 (simulator) it holds word indices."""
    words_per_line = LINE_BYTES // 8
    memory = np.zeros(n_windows * stride // 8, dtype=np.uint64)
    starts = np.empty(n_windows, dtype=np.uint64)
    for w in range(n_windows):
        order = rng.permutation(lines)
        slots = (w * stride // 8) + order * words_per_line  # word index of each line in visiting order
        targets = np.roll(slots, -1)
        memory[slots] = (base + targets * 8) if base else targets
        starts[w] = (base + slots[0] * 8) if base else slots[0]
    return memory, starts


def walk(memory: np.ndarray, start: int, hops: int, base: int) -> int:
    p = int(start)
    for _ in range(hops):
        p = int(memory[(p - base) // 8]) if base else int(memory[p])
    return p


_STATE: dict = {}


def measure(ctx, point: dict, params: dict) -> dict:
    from probes.kernel import fine_ops as F

    stride, windows, steps = point["window_stride_bytes"], params["windows"], params["steps"]
    n_sm = int(ctx.env.get("sm_count") or 0)
    if n_sm <= 0:
        raise ProbeSpecError("environment has no sm_count: cannot place one block per SM")
    key = (stride, windows, params["lines_per_window"])
    if key not in _STATE:
        _STATE.clear()
        d_mem = ctx.device_array(windows * stride // 8, np.uint64)
        base = ctx.address_of(d_mem)
        host, starts = build_windows(windows, stride, params["lines_per_window"], base, ctx.rng(*key))
        d_mem.copy_to_device(host)
        ends = [walk(host, s, 4 * steps, base) for s in starts]  # warm n + timed n + timed 2n
        _STATE[key] = (d_mem, ctx.to_device(starts), np.array(ends, dtype=np.uint64))
    d_mem, d_starts, expected = _STATE[key]
    slots = params["sm_slots_factor"] * n_sm  # %smid may exceed sm_count-1 (virtual ids)
    claimed = ctx.to_device(np.zeros(slots, dtype=np.int32))
    t_n = ctx.to_device(np.zeros(slots * windows, dtype=np.uint64))
    t_2n = ctx.to_device(np.zeros(slots * windows, dtype=np.uint64))
    ends = ctx.to_device(np.zeros(slots * windows, dtype=np.uint64))
    block_of = ctx.to_device(np.full(slots, -1, dtype=np.int64))
    kernel = ctx.kernel("nearfar", F.nearfar)
    kernel[params["blocks_per_sm"] * n_sm, 1](d_mem, d_starts, windows, steps, n_sm, claimed, t_n, t_2n, ends, block_of)
    ctx.synchronize()
    sms = np.flatnonzero(claimed.copy_to_host())
    if sms.size == 0:
        raise KernelCheckError("near/far: no block claimed any SM")
    got = ends.copy_to_host().reshape(slots, windows)[sms]
    if not (got == expected[None, :]).all():
        s, w = np.argwhere(got != expected[None, :])[0]
        raise KernelCheckError(
            f"near/far: SM {sms[s]} window {w} chase ended at {int(got[s, w]):#x}, expected "
            f"{int(expected[w]):#x}: chain corrupted"
        )
    tn = t_n.copy_to_host().reshape(slots, windows)[sms].astype(np.int64)
    t2n = t_2n.copy_to_host().reshape(slots, windows)[sms].astype(np.int64)
    sm_col = np.repeat(sms, windows)
    return {
        "sm": sm_col,
        "window": np.tile(np.arange(windows), sms.size),
        "block": np.repeat(block_of.copy_to_host()[sms], windows),
        "window_offset_bytes": np.tile(np.arange(windows) * stride, sms.size),
        "cycles_n": tn.ravel(),
        "cycles_2n": t2n.ravel(),
        "cycles_per_op": (t2n - tn).ravel() / steps,
        "steps": steps,
        "sms_claimed": sms.size,
        # one value per launch on every row: the stopping rule treats a whole map as one sample (a
        # bimodal map would never give its median a 1 % CI)
        "map_median_cycles": float(np.median((t2n - tn) / steps)),
    }


def kernels(cc):
    from numba import types

    from probes.kernel import fine_ops as F
    from probes.kernel.compile import kernel_ptx

    sig = (
        types.uint64[::1],
        types.uint64[::1],
        types.int64,
        types.int64,
        types.int64,
        types.int32[::1],
        types.uint64[::1],
        types.uint64[::1],
        types.uint64[::1],
        types.int64[::1],
    )
    return [("nearfar", kernel_ptx(F.nearfar, sig, cc))]


def check_sass(name: str, insts) -> list[str]:
    """%smid read, an atomic CAS claim, a chained L2-only LDG.E.64 chase, and stop clocks that wait on it."""
    problems = []
    if not any("SR_VIRTUALSMID" in i.text or "SR_SMID" in i.text for i in insts):
        problems.append("no %smid read (S2R/S2UR SR_VIRTUALSMID)")
    if not any(i.base in ("ATOMG", "ATOM") and "CAS" in i.opcode for i in insts):
        problems.append("no atomic CAS: blocks could not claim SMs")
    loads = [n for n, i in enumerate(insts) if i.base == "LDG" and ".64" in i.opcode]
    chained = [
        n
        for n in loads
        if insts[n].dest_registers and any(insts[n].dest_registers[0] in op for op in insts[n].operands[1:])
    ]
    l2_only = [n for n in chained if "STRONG.GPU" in insts[n].opcode]  # ld.global.cg on sm_80/sm_90
    if len(l2_only) < 3:
        problems.append(f"expected a dependent L2-only LDG.E.64.STRONG.GPU chain, found {len(l2_only)} such loads")
    clocks = [n for n, i in enumerate(insts) if "SR_CLOCKLO" in i.text]
    for n in clocks:
        before = [k for k in l2_only if k < n]
        if not before:
            continue
        last = max(before)
        sb = insts[last].control.write_barrier
        if sb is not None and not any(i.control.waits_on(sb) for i in insts[last + 1 : n + 1]):
            problems.append(
                f"clock read at {insts[n].address:#x} does not wait for the load at {insts[last].address:#x}"
            )
    if len(clocks) < 3:
        problems.append(f"expected 3 %clock64 reads per window, found {len(clocks)}")
    return problems


PROBES = (
    Probe(
        name="latency.l2.nearfar",
        summary="L2-hit latency from every SM to address windows in different L2 slices (near/far partitions)",
        measure=measure,
        axes=(Axis("window_stride_bytes", lambda env, params: (window_stride(env, params),)),),
        unit="cycles/load",
        method=__doc__.split("\n\n")[1].replace("\n", " "),
        params=(
            Param("windows", int, 32, "address windows (small chases at different offsets)", positive),
            Param("lines_per_window", int, 1, "128-B lines chased in each window", positive),
            Param("window_stride_bytes", int, 0, "distance between windows (0: half of L2 / windows)", _stride_ok),
            Param(
                "steps", int, 256, "loads per timed pass (n; the second pass is 2n), whole trips of 16", multiple_of(16)
            ),
            Param("blocks_per_sm", int, 4, "blocks launched per SM, so that every SM gets at least one", positive),
            Param("sm_slots_factor", int, 2, "flag slots per SM count (virtual %smid may exceed sm_count)", positive),
        ),
        requires=(min_cc(7, 0),),
        kernels=kernels,
        check_sass=check_sass,
        value_key="map_median_cycles",
        expect=Expect(chain="LDG", unroll=16, step_budget=20),  # dry-run schedule checks: 16 chained loads a trip
        smoke=("windows=4", "steps=16", "blocks_per_sm=2"),
    ),
)
