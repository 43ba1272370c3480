"""Latency of the other memory paths: shared memory, the constant caches, and local memory (the read-only path is
`latency.ladder.global.nc`). One thread chases a random single cycle (Sattolo) of 32-bit pointers.

Method: as for the global ladder, the chain holds *addresses* (window addresses for shared and local memory, byte
offsets into the constant bank), so each step is one load feeding the next with no arithmetic in the chain:
`LDS R, [R]`, `LDL R, [R]`, `LDC R, c[0x3][R]` (the constant table is baked with offsets from the start of its
bank; the kernel reports the table's window address and the host refuses a run where it is not 0). The loads are
volatile inline PTX (`ld.shared/.local/.const.u32`) so NVVM can neither fold nor hoist them: with plain indexing
it constant-folds a chase through a `__constant__` table it can see. Warm pass, timed passes of n and 2n loads,
(t(2n) - t(n)) / n, stop reads after a branch on the last value. Shared: the chain is copied from global memory
into dynamic shared memory by the same thread (up to 48 KiB, the limit without an opt-in attribute). Constant:
the chain is baked into a `cuda.const.array_like` table (one kernel per footprint, up to the 64 KiB bank), which
spans the constant cache levels. Local: a per-thread `cuda.local.array` filled at run time; its size is per
thread, and since local memory interleaves 4-byte words across a warp's lanes, F bytes of one thread's array touch
F x 32 bytes of cache lines.
"""

from __future__ import annotations

import numpy as np
from numba import cuda, types

from probes.kernel import intrinsics as X
from probes.kernel import timed_pass as T
from probes.kernel.chase import (
    chase_plan,
    chase_step,
    make_timed_passes,
    pass_steps,
    per_load_sample,
    sattolo_cycle,
    walk,
)
from probes.spec import (
    Axis,
    KernelCheckError,
    KiB,
    Param,
    Probe,
    ProbeSpecError,
    geometric,
    min_cc,
    multiple_of,
    positive,
)
from probes.static.kernel_checks import Expect

SCALE = 1 if X.SIMULATOR else 4  # chain entries are element indices in the simulator, byte addresses on a GPU

if X.SIMULATOR:

    def window_address(space: str):
        def address(arr):
            return 0

        return address

    def ld_window_u32(space: str):
        return chase_step("")  # an indexed load charged on the test clock, as every simulated chase step

else:
    from llvmlite import ir
    from numba.cuda.extending import intrinsic

    def window_address(space: str):
        """`address(arr)`: the 32-bit `space` window address of an array (cvta.to.<space>)."""

        @intrinsic
        def address(typingctx, arr):
            def codegen(context, builder, sig, args):
                ptr = context.make_array(sig.args[0])(context, builder, value=args[0]).data
                asm = ir.InlineAsm(
                    ir.FunctionType(ir.IntType(32), [ir.IntType(64)]),
                    f"{{ .reg .u64 t; cvta.to.{space}.u64 t, $1; cvt.u32.u64 $0, t; }}",
                    "=r,l",
                    side_effect=True,
                )
                return builder.call(asm, [builder.ptrtoint(ptr, ir.IntType(64))])

            return types.uint32(arr), codegen

        return address

    def ld_window_u32(space: str):
        """`step(arr, p)`: `ld.<space>.u32` at window address p (arr only keeps the source simulator-compatible)."""

        @intrinsic
        def step(typingctx, arr, p):
            def codegen(context, builder, sig, args):
                asm = ir.InlineAsm(
                    ir.FunctionType(ir.IntType(32), [ir.IntType(32)]),
                    f"ld.{space}.u32 $0, [$1];",
                    "=r,r",
                    side_effect=True,
                )
                return builder.call(asm, [args[1]])

            return types.uint32(arr, types.uint32), codegen

        return step


shared_address, ld_shared = window_address("shared"), ld_window_u32("shared")
local_address, ld_local = window_address("local"), ld_window_u32("local")
# `ld.const.u32` at constant-window address p: `LDC R, c[0x3][R]`, no add in the chain
window_address_const, ld_const_u32 = window_address("const"), ld_window_u32("const")


_timed_shared, _timed_local, _timed_const = (
    make_timed_passes(ld_shared),
    make_timed_passes(ld_local),
    make_timed_passes(ld_const_u32),
)


def shared_chase(chain, steps, out):
    sh = cuda.shared.array(0, dtype=types.uint32)
    base = shared_address(sh)
    for i in range(chain.size):
        sh[i] = base + chain[i] * SCALE
    out[5] = _timed_shared(sh, base, steps, out) - base
    out[6] = base


def make_local_chase(words: int):
    def local_chase(chain, steps, out):
        loc = cuda.local.array(words, dtype=types.uint32)
        base = local_address(loc)
        for i in range(chain.size):
            loc[i] = base + chain[i] * SCALE
        out[5] = _timed_local(loc, base, steps, out) - base
        out[6] = base

    return local_chase


def make_const_chase(table: np.ndarray):
    """Kernel with `table` (next offsets, scaled) baked into the constant bank."""

    def const_chase(chain, steps, out):  # `chain` unused: same signature as the other paths
        c = cuda.const.array_like(table)
        base = window_address_const(c)  # the table's constant-window address: 0 when it is the only table
        out[5] = _timed_const(c, base, steps, out)
        out[6] = base

    return const_chase


def chain_words(footprint: int, stride: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """uint32 words of a footprint with one slot per stride holding the *element index* of the next slot,
    and the slot-level `next` for the host walk."""
    if footprint % 4 or stride % 4:
        raise ProbeSpecError(f"footprint {footprint} B and stride {stride} B must be multiples of 4")
    slots, per_slot = footprint // stride, stride // 4
    if slots < 2:
        raise ProbeSpecError(f"footprint {footprint} B holds fewer than 2 slots of stride {stride} B")
    nxt = sattolo_cycle(slots, rng)
    words = np.zeros(footprint // 4, dtype=np.uint32)
    words[np.arange(slots) * per_slot] = (nxt * per_slot).astype(np.uint32)
    return words, nxt


_ENDS: dict = {}


def _run(ctx, path: str, kernel, launch, chain: np.ndarray, nxt: np.ndarray, per_slot: int, steps: int, key) -> dict:
    out = ctx.device_array(7, np.uint64)
    kernel[launch](ctx.to_device(chain), steps, out)
    ctx.synchronize()
    c1, n1, c2, n2, _, final, base = (int(v) for v in out.copy_to_host())
    if path == "constant" and base:
        raise KernelCheckError(f"constant table at window address {base:#x}, not 0: its baked offsets are wrong")
    if key not in _ENDS:
        _ENDS.clear()
        _ENDS[key] = walk(nxt, 0, 4 * steps) * per_slot * SCALE
    if final != _ENDS[key]:
        raise KernelCheckError(f"{path} chase ended at offset {final:#x}, expected {_ENDS[key]:#x}: chain corrupted")
    return per_load_sample(c1, n1, c2, n2, steps)


def plan(env: dict, point: dict, params: dict, launches: int = 1) -> dict:
    """What a launch visits of its chain: each launch starts at slot 0 and walks 4n >= slots (one lap at least)."""
    slots = point["footprint_bytes"] // params["stride_bytes"]
    return chase_plan(slots, pass_steps(slots, params["max_steps"]), point["footprint_bytes"], None, 1)


def _setup(ctx, path: str, point: dict, params: dict):
    footprint, stride = point["footprint_bytes"], params["stride_bytes"]
    chain, nxt = chain_words(footprint, stride, ctx.rng(path, footprint, stride))
    steps = pass_steps(len(nxt), params["max_steps"])
    return footprint, stride, chain, nxt, steps


def measure_shared(ctx, point: dict, params: dict) -> dict:
    footprint, stride, chain, nxt, steps = _setup(ctx, "shared", point, params)
    kernel = ctx.kernel("paths.shared", shared_chase)
    return _run(
        ctx,
        "shared",
        kernel,
        (1, 1, 0, footprint),
        chain,
        nxt,
        stride // 4,
        steps,
        ("shared", id(ctx), footprint, stride, steps),
    )


def measure_local(ctx, point: dict, params: dict) -> dict:
    footprint, stride, chain, nxt, steps = _setup(ctx, "local", point, params)
    kernel = ctx.kernel(("paths.local", footprint), make_local_chase(footprint // 4))
    return _run(
        ctx, "local", kernel, (1, 1), chain, nxt, stride // 4, steps, ("local", id(ctx), footprint, stride, steps)
    )


def measure_constant(ctx, point: dict, params: dict) -> dict:
    footprint, stride, chain, nxt, steps = _setup(ctx, "constant", point, params)
    key = ("paths.constant", footprint, stride, ctx.seed)
    kernel = ctx.kernel(key, make_const_chase((chain * SCALE).astype(np.uint32)))
    return _run(
        ctx,
        "constant",
        kernel,
        (1, 1),
        np.zeros(1, np.uint32),
        nxt,
        stride // 4,
        steps,
        ("constant", id(ctx), footprint, stride, steps),
    )


_SIG = (types.uint32[::1], types.int64, types.uint64[::1])
_SAMPLE_WORDS = 256  # kernels compiled for the SASS check use a 1 KiB array/table


def _kernels(name: str, func_of):
    def kernels(cc):
        from probes.kernel.compile import kernel_ptx

        return [(name, kernel_ptx(func_of(), _SIG, cc))]

    return kernels


def _limit(most: int):
    def check(v) -> str | None:
        return None if 0 < v <= most and v % 4 == 0 else f"must be a multiple of 4 in (0, {most}]"

    return check


def _axes(default_hi: int) -> tuple[Axis, ...]:
    def footprints(env: dict, params: dict) -> tuple:
        lo, stride = params["min_footprint_bytes"], params["stride_bytes"]
        hi = params["max_footprint_bytes"] or default_hi
        if hi < max(lo, 2 * stride):
            raise ProbeSpecError(f"max_footprint_bytes={hi} is below min_footprint_bytes={lo} or 2 strides")
        return geometric(max(lo, 2 * stride), hi, per_octave=params["points_per_octave"], multiple_of=stride)

    return (Axis("footprint_bytes", footprints),)


def _params(stride: int, lo: int, hi: int, most: int) -> tuple[Param, ...]:
    return (
        Param("stride_bytes", int, stride, "distance between chained slots", multiple_of(4)),
        Param("min_footprint_bytes", int, lo, "smallest working set", positive),
        Param("max_footprint_bytes", int, hi, f"largest working set (at most {most} B)", _limit(most)),
        Param("points_per_octave", int, 4, "sweep density", positive),
        Param("max_steps", int, 1 << 14, "loads per timed pass at most", positive),
    )


_METHOD = " ".join(p.replace("\n", " ") for p in __doc__.split("\n\n")[1:])
_SMOKE = ("min_footprint_bytes=256", "max_footprint_bytes=1024", "points_per_octave=1", "max_steps=16")


def _path(
    name: str, summary: str, measure, default_hi: int, params: tuple, kernel: str, func_of, expect: Expect
) -> Probe:
    return Probe(
        name=name,
        summary=summary,
        measure=measure,
        axes=_axes(default_hi),
        unit="cycles/load",
        method=_METHOD,
        params=params,
        requires=(min_cc(7, 0),),
        kernels=_kernels(kernel, func_of),
        plan=plan,
        expect=expect,
        smoke=_SMOKE,
    )


# SASS and dry-run schedule checks: each path's chained load exactly (LDS, LDC, LDL: `ld.<space>.u32`, no modifier),
# 16 per loop trip; issue cycles between chained loads stay below each path's fastest hit (shared ~29, constant ~24
# on sm_90); local memory's back edge costs 17, under an L1 hit.
PROBES = (
    _path(
        "latency.shared",
        "shared-memory pointer-chase latency (LDS chain), one thread",
        measure_shared,
        48 * KiB,
        _params(4, 1 * KiB, 48 * KiB, 48 * KiB),
        "shared_chase",
        lambda: shared_chase,
        Expect(chain="LDS", opcode="LDS", unroll=T.UNROLL, step_budget=12),
    ),
    _path(
        "latency.constant",
        "constant-cache pointer-chase latency vs table size (LDC chain)",
        measure_constant,
        64 * KiB,
        _params(64, 256, 64 * KiB, 64 * KiB),
        "const_chase",
        lambda: make_const_chase(chain_words(4 * _SAMPLE_WORDS, 64, np.random.default_rng(0))[0] * SCALE),
        Expect(chain="LDC", opcode="LDC", unroll=T.UNROLL, step_budget=12),
    ),
    _path(
        "latency.local",
        "local-memory pointer-chase latency vs per-thread array size (LDL chain)",
        measure_local,
        16 * KiB,
        _params(4, 256, 16 * KiB, 256 * KiB),
        "local_chase",
        lambda: make_local_chase(_SAMPLE_WORDS),
        Expect(chain="LDL", opcode="LDL", unroll=T.UNROLL, step_budget=20),
    ),
)
