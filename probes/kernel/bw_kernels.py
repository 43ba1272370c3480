"""Kernels of the bandwidth family: 16-byte global loads/stores/copies over a region or a stream, shared-memory
loads of 4/8/16 B and `ldmatrix`, and the per-SM L2 near/far bandwidth map; plus their SASS checks.

Imported lazily by probes/catalogue/bandwidth.py (it imports numba.cuda, which the catalogue listing must not pay
for). Every memory operation is one volatile inline-PTX statement (`ir.InlineAsm(side_effect=True)`), so LLVM can
neither merge, hoist nor drop it; the 16-byte load sums its four lanes inside the same asm, so each load feeds the
checksum the host verifies. Under the simulator (NUMBA_ENABLE_CUDASIM=1, fixed at import) every operation is a
plain Python function with the same arguments (shared-memory and `ldmatrix` loads sum the 16-byte row of the
calling lane: a warp's total equals what the collective `ldmatrix` returns to the warp).

Timing: thread 0 of every block stamps `%globaltimer` and `%clock64` after a `__syncthreads()` at the start, and
again after the block's checksum is atomically added (which waits for every load) and, for stores, a
`__threadfence()` (which waits for them to be performed) followed by a `__syncthreads()`.
"""

from __future__ import annotations

import functools
import re

from numba import config, cuda, uint32, uint64

from probes.kernel import intrinsics as X

SIMULATOR = bool(config.ENABLE_CUDASIM)
# 48 KiB of static shared memory per block; consecutive iterations alternate between two halves 16 KiB apart
# (the simulator, which interprets every word of the fill loop, gets 8 KiB and 4 KiB: only small strides fit)
SMEM_WORDS, TOGGLE_WORDS = (2048, 1024) if SIMULATOR else (12288, 4096)
SLOT_WORDS = 32  # unrolled shared loads sit 128 B apart: same banks, different addresses
SHARED_KINDS = {"b32": 1, "v2": 2, "v4": 4, "ldmatrix": 4}  # words loaded per lane per instruction


# ---- operations --------------------------------------------------------------------------------------------------

if SIMULATOR:

    def _sum_of(n: int):
        def load(arr, i):
            s = 0
            for j in range(n):
                s += int(arr[i + j])
            return s & 0xFFFFFFFF

        return load

    _v4_sum = _sum_of(4)

    def ld_v4_sum(qualifier: str = ""):
        return _v4_sum

    def st_v4():
        def store(arr, i, value):
            for j in range(4):
                arr[i + j] = value

        return store

    def copy_v4():
        def copy(src, dst, i):
            for j in range(4):
                dst[i + j] = src[i + j]

        return copy

    def ld_shared_sum(kind: str):
        return _sum_of(SHARED_KINDS[kind])
else:
    from llvmlite import ir
    from numba import types
    from numba.cuda.extending import intrinsic

    def _asm(text: str, ret_bits, arg_bits, constraints: str):
        return ir.InlineAsm(
            ir.FunctionType(ir.IntType(ret_bits) if ret_bits else ir.VoidType(), [ir.IntType(b) for b in arg_bits]),
            text,
            constraints,
            side_effect=True,
        )

    def _address(context, builder, arr_type, arr, index_type, index):
        from probes.kernel.intrinsics import element_address

        return element_address(context, builder, arr_type, arr, index_type, index)

    _SUM4 = "add.u32 %bq0, %bq0, %bq1; add.u32 %bq2, %bq2, %bq3; add.u32 $0, %bq0, %bq2;"

    def _load_u32(text: str):
        """load(arr, i) -> uint32: the asm `text` with the element address of arr[i] as $1 and its result in $0."""

        @intrinsic
        def load(typingctx, arr, index):
            def codegen(context, builder, sig, args):
                addr = _address(context, builder, sig.args[0], args[0], sig.args[1], args[1])
                return builder.call(_asm(text, 32, (64,), "=r,l"), [addr])

            return types.uint32(arr, index), codegen

        return load

    @functools.cache
    def ld_v4_sum(qualifier: str = ""):
        """load(arr_u32, i) -> arr[i] + ... + arr[i+3] (mod 2**32) from one `ld.global<q>.v4.u32` (i % 4 == 0)."""
        return _load_u32(
            "{ .reg .b32 %bq<4>; ld.global" + qualifier + ".v4.u32 {%bq0, %bq1, %bq2, %bq3}, [$1]; " + _SUM4 + " }"
        )

    @functools.cache
    def st_v4():
        """store(arr_u32, i, value): arr[i:i+4] = value, one `st.global.v4.u32`."""
        text = "st.global.v4.u32 [$0], {$1, $1, $1, $1};"

        @intrinsic
        def store(typingctx, arr, index, value):
            def codegen(context, builder, sig, args):
                addr = _address(context, builder, sig.args[0], args[0], sig.args[1], args[1])
                v = context.cast(builder, args[2], sig.args[2], types.uint32)
                builder.call(_asm(text, None, (64, 32), "l,r"), [addr, v])
                return context.get_dummy_value()

            return types.void(arr, index, value), codegen

        return store

    @functools.cache
    def copy_v4():
        """copy(src, dst, i): dst[i:i+4] = src[i:i+4], one 16-byte load and one 16-byte store."""
        text = (
            "{ .reg .b32 %bq<4>; ld.global.v4.u32 {%bq0, %bq1, %bq2, %bq3}, [$0]; "
            "st.global.v4.u32 [$1], {%bq0, %bq1, %bq2, %bq3}; }"
        )

        @intrinsic
        def copy(typingctx, src, dst, index):
            def codegen(context, builder, sig, args):
                s = _address(context, builder, sig.args[0], args[0], sig.args[2], args[2])
                d = _address(context, builder, sig.args[1], args[1], sig.args[2], args[2])
                builder.call(_asm(text, None, (64, 64), "l,l"), [s, d])
                return context.get_dummy_value()

            return types.void(src, dst, index), codegen

        return copy

    _SHARED_TEXT = {
        "b32": "{ .reg .u64 %bsa; cvta.to.shared.u64 %bsa, $1; ld.volatile.shared.u32 $0, [%bsa]; }",
        "v2": (
            "{ .reg .u64 %bsa; .reg .b32 %bq<2>; cvta.to.shared.u64 %bsa, $1; "
            "ld.volatile.shared.v2.u32 {%bq0, %bq1}, [%bsa]; add.u32 $0, %bq0, %bq1; }"
        ),
        "v4": (
            "{ .reg .u64 %bsa; .reg .b32 %bq<4>; cvta.to.shared.u64 %bsa, $1; "
            "ld.volatile.shared.v4.u32 {%bq0, %bq1, %bq2, %bq3}, [%bsa]; " + _SUM4 + " }"
        ),
        "ldmatrix": (
            "{ .reg .u64 %bsa; .reg .b32 %bq<4>; cvta.to.shared.u64 %bsa, $1; "
            "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%bq0, %bq1, %bq2, %bq3}, [%bsa]; " + _SUM4 + " }"
        ),
    }

    @functools.cache
    def ld_shared_sum(kind: str):
        """load(shared_u32, i) -> sum of the 32-bit words one lane receives from `ld.volatile.shared` of width
        4/8/16 B, or from `ldmatrix.sync.aligned.m8n8.x4.shared.b16` (i: this lane's 16-byte row)."""
        return _load_u32(_SHARED_TEXT[kind])


# ---- generated kernel text ---------------------------------------------------------------------------------------
# Every kernel below is Python source text with its `unroll` accesses written out, one statement each, instead of a
# `for u in range(unroll)` loop: NVVM unrolls such a loop for cc 8.x and 9.x but not for cc 10.0, where each loop
# trip issued one access and the SASS check (>= unroll accesses in one loop body) failed. Each access is a volatile
# inline-asm statement, so no compiler merges or re-rolls them. Numba compiles the text; the simulator interprets it.

# thread 0's stamps: after a barrier at the start, and after the checksum (loads) or a fence (stores) at the end
_STAMP_START = """\
    cuda.syncthreads()
    if t == 0:
        times[4 * b + 0] = X.globaltimer()
        times[4 * b + 1] = X.clock64()"""
_STAMP_END = """\
    cuda.syncthreads()
    if t == 0:
        times[4 * b + 2] = X.globaltimer()
        times[4 * b + 3] = X.clock64()"""


def _access(op: str, v: str) -> str:
    """One 16-byte access at vector index `v`: read adds the vector to s, write stores v & 255, copy copies it."""
    return {
        "read": f"s += uint64(load(src, 4 * {v}))",
        "write": f"store(dst, 4 * {v}, uint32({v} & 255))",
        "copy": f"copy(src, dst, 4 * {v})",
    }[op]


def _finish(op: str) -> str:
    """What the end stamp waits for: the block's read checksum added, or its stores performed."""
    return "    cuda.atomic.add(acc, 0, s)" if op == "read" else "    cuda.threadfence()"


def _unrolled(unroll: int, index, statement, indent: str) -> str:
    """`unroll` statements written out: the u-th sets v<u> = index(u) and runs statement("v<u>")."""
    return "\n".join(f"{indent}v{u} = {index(u)}\n{indent}{statement(f'v{u}')}" for u in range(unroll))


def _plus(expr: str, u: int, step: str) -> str:
    return expr if u == 0 else f"{expr} + {u} * {step}" if u > 1 else f"{expr} + {step}"


def _build(source: str, name: str, doc: str, **names):
    """The function `name` that `source` defines, seeing `names` and what every kernel text uses; a distinct name
    per variant, so each (op, unroll) variant is its own kernel in PTX and caches."""
    scope = {
        "cuda": cuda,
        "X": X,
        "uint32": uint32,
        "uint64": uint64,
        "SMEM_WORDS": SMEM_WORDS,
        "TOGGLE_WORDS": TOGGLE_WORDS,
        "SLOT_WORDS": SLOT_WORDS,
        **names,
    }
    exec(compile(source, f"<{name}>", "exec"), scope)
    fn = scope[name]
    fn.__doc__ = doc
    return fn


# ---- global memory: region ladder and stream ---------------------------------------------------------------------

OPS = ("read", "write", "copy")

_REGION = """\
def {name}(src, dst, region_vec, n_regions, passes, acc, times):
    b, t, nt = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
    grid = cuda.gridDim.x
    slots = n_regions if n_regions > grid else grid
    chunk = nt * {unroll}
    full = region_vec - region_vec % chunk
{start}
    s = uint64(0)
    for _ in range(passes):
        for c in range(b, slots, grid):
            base = (c % n_regions) * region_vec
            for j in range(t, full, chunk):
{body}
            for j in range(full + t, region_vec, nt):
                v = base + j
                {tail}
{finish}
{end}
"""


@functools.cache
def region_kernel(op: str, unroll: int):
    """Kernel (not jitted) of the ladders: `n_regions` regions of `region_vec` 16-byte vectors; block b takes the
    slots c = b, b + grid, ... below max(grid, n_regions) and works on region c % n_regions of each, `passes` times
    (gpu-benches' layout: fewer regions than blocks -> blocks share regions; more -> each block walks several).
    Each loop trip issues `unroll` independent, unguarded 16-byte accesses per thread (the guards of a partial
    chunk would put every access in its own branch); the rest of a region that is not a whole number of chunks is
    a tail loop of single accesses. Write stores (vector index & 255) in every lane; copy copies src to dst."""
    name = f"bw_region_{op}_u{unroll}"
    step = functools.partial(_access, op)
    source = _REGION.format(
        name=name,
        unroll=unroll,
        start=_STAMP_START,
        end=_STAMP_END,
        finish=_finish(op),
        body=_unrolled(unroll, lambda u: _plus("base + j", u, "nt"), step, " " * 16),
        tail=step("v"),
    )
    return _build(source, name, region_kernel.__doc__, load=ld_v4_sum(""), store=st_v4(), copy=copy_v4())


_STREAM = """\
def {name}(src, dst, n_vec, acc, times):
    b, t = cuda.blockIdx.x, cuda.threadIdx.x
    g = cuda.gridsize(1)
{start}
    s = uint64(0)
    for i in range(cuda.grid(1), n_vec, g * {unroll}):
{body}
{finish}
{end}
"""


@functools.cache
def stream_kernel(op: str, unroll: int):
    """Kernel of bandwidth.occupancy: one grid-stride pass over `n_vec` vectors with `unroll` independent 16-byte
    accesses in flight per thread (bytes in flight per thread = 16 x unroll), read or copy, no reuse. `n_vec` is
    a multiple of grid size x unroll (the probe sizes the buffer so), so no access needs a guard."""
    name = f"bw_stream_{op}_u{unroll}"
    source = _STREAM.format(
        name=name,
        unroll=unroll,
        start=_STAMP_START,
        end=_STAMP_END,
        finish=_finish(op),
        body=_unrolled(unroll, lambda u: _plus("i", u, "g"), functools.partial(_access, op), " " * 8),
    )
    return _build(source, name, stream_kernel.__doc__, load=ld_v4_sum(""), copy=copy_v4())


def fill(buf, n):
    """buf[i] = (i // 4) % 251 (every lane of vector v holds v % 251), grid-stride: the source data."""
    for i in range(cuda.grid(1), n, cuda.gridsize(1)):
        buf[i] = uint32((i // 4) % 251)


# ---- shared memory -----------------------------------------------------------------------------------------------

_SHARED = """\
def {name}(stride, iters, acc, times):
    sm = cuda.shared.array(SMEM_WORDS, uint32)
    b, t = cuda.blockIdx.x, cuda.threadIdx.x
    for i in range(t, SMEM_WORDS, cuda.blockDim.x):
        sm[i] = uint32(i & 0xFFFF)
    lane = t & 31
    a = lane * stride * {words}
{start}
    s = uint64(0)
    off = 0
    for _ in range(iters):
{body}
        off ^= TOGGLE_WORDS
    cuda.atomic.add(acc, 0, s)
{end}
"""


@functools.cache
def shared_kernel(kind: str, unroll: int):
    """Kernel of bandwidth.shared: every warp loads, `iters` times, `unroll` instructions of kind `kind` at lane
    address lane x stride (in units of the access: 4/8/16 B, or a 16-byte ldmatrix row); slot u sits u x 128 B
    further (same banks), iterations alternate halves 16 KiB apart, so no two consecutive loads share an address."""
    name = f"bw_shared_{kind}_u{unroll}"
    body = _unrolled(
        unroll, lambda u: _plus("a + off", u, "SLOT_WORDS"), lambda v: f"s += uint64(load(sm, {v}))", " " * 8
    )
    source = _SHARED.format(name=name, words=SHARED_KINDS[kind], start=_STAMP_START, end=_STAMP_END, body=body)
    return _build(source, name, shared_kernel.__doc__, load=ld_shared_sum(kind))


def shared_expected(kind: str, unroll: int, stride: int, iters: int, warps: int, blocks: int) -> int:
    """Host checksum of shared_kernel: every lane sums the words of its row(s); a warp's total is the same for
    `ldmatrix` (its lanes together receive every row once)."""
    words = SHARED_KINDS[kind]
    total = 0
    for half, count in ((0, (iters + 1) // 2), (TOGGLE_WORDS, iters // 2)):
        per_iter = 0
        for lane in range(32):
            for u in range(unroll):
                a = lane * stride * words + u * SLOT_WORDS + half
                per_iter += sum((a + j) & 0xFFFF for j in range(words))
        total += per_iter * count
    return total * warps * blocks


def max_shared_stride(kind: str, unroll: int) -> int:
    """Largest stride whose addresses stay inside the kernel's shared array."""
    words = SHARED_KINDS[kind]
    room = SMEM_WORDS - TOGGLE_WORDS - (unroll - 1) * SLOT_WORDS - words
    return room // (31 * words)


# ---- L2 near/far bandwidth -----------------------------------------------------------------------------------------

if SIMULATOR:

    def sm_id(block, n_sm):
        return block % n_sm

    def CG(memory, p):
        return memory[p]
else:
    CG = X.ld_u64_addr_hinted(".cg")

    @cuda.jit(device=True)
    def sm_id(block, n_sm):
        """%smid (virtual SM id); the arguments only serve the simulator."""
        return X.smid()


_NEARFAR = """\
def {name}(memory, words, starts, n_windows, win_vec, stride_vec, steps, passes, n_sm, claimed, lat, cyc, ends, acc):
    flag = cuda.shared.array(1, uint32)
    b, t, nt = cuda.blockIdx.x, cuda.threadIdx.x, cuda.blockDim.x
    s = sm_id(b, n_sm)
    if t == 0:
        flag[0] = 0
        if s < claimed.shape[0]:
            if cuda.atomic.cas(claimed, s, 0, 1) == 0:
                flag[0] = 1
    cuda.syncthreads()
    if flag[0] == 0:
        return
    for k in range(n_windows):
        w = (k + s) % n_windows
        cell = s * n_windows + w
        if t == 0:
            p = starts[w]
            for _ in range(steps):
                p = CG(memory, p)
            if p == 1:
                ends[cell] = 7
            t0 = X.clock64()
            for _ in range(steps):
                p = CG(memory, p)
            if p == 1:
                ends[cell] = 7
            t1 = X.clock64()
            lat[cell] = t1 - t0
            ends[cell] = p
        cuda.syncthreads()
        c0 = X.clock64()
        acc_local = uint64(0)
        base = w * stride_vec
        full = win_vec - win_vec % (nt * {unroll})
        for _ in range(passes):
            for j in range(t, full, nt * {unroll}):
{body}
            for j in range(full + t, win_vec, nt):
                acc_local += uint64(load(words, 4 * (base + j)))
        cuda.atomic.add(acc, cell, acc_local)
        cuda.syncthreads()
        c1 = X.clock64()
        if t == 0:
            cyc[cell] = c1 - c0
"""


@functools.cache
def nearfar_kernel(unroll: int):
    """The first block on each SM claims it (atomic CAS on a per-SM flag, broadcast through shared memory). For
    every window, in an order rotated by the SM id (so SMs read different windows at a time): thread 0 chases the
    window's L2-only pointer cycle (warm pass, then a timed pass of `steps` loads: the latency that says near or
    far), then all threads read the window `passes` times with 16-byte `ld.global.cg` loads (L1 bypassed), timed
    by thread 0's `%clock64` between two barriers."""
    name = f"bw_nearfar_u{unroll}"
    body = _unrolled(
        unroll, lambda u: _plus("base + j", u, "nt"), lambda v: f"acc_local += uint64(load(words, 4 * {v}))", " " * 16
    )
    return _build(
        _NEARFAR.format(name=name, unroll=unroll, body=body),
        name,
        nearfar_kernel.__doc__,
        load=ld_v4_sum(".cg"),
        CG=CG,
        sm_id=sm_id,
    )


# ---- SASS checks ---------------------------------------------------------------------------------------------------


def loop_bodies(insts) -> list[tuple[int, int]]:
    """(first, last) instruction index of each loop: a backward branch and its target."""
    index = {i.address: n for n, i in enumerate(insts)}
    out = []
    for n, i in enumerate(insts):
        if i.base == "BRA":
            m = re.search(r"0x([0-9a-f]+)", i.text)
            if m and int(m.group(1), 16) <= i.address and int(m.group(1), 16) in index:
                out.append((index[int(m.group(1), 16)], n))
    return out


def memory_problems(insts, want: dict[str, int], forbid_narrow: tuple[str, ...] = ()) -> list[str]:
    """`want`: opcode -> minimum count inside one loop body (the loads/stores are not hoisted out of it and not
    folded away; the vector width is what the opcode says). `forbid_narrow`: base opcodes that must not appear in
    any loop without the wanted width (a 16-byte access split into narrower ones)."""
    problems = []
    loops = loop_bodies(insts)
    if not loops:
        return ["no loop in the kernel: the accesses were unrolled away or folded"]
    for opcode, count in want.items():
        best = max(sum(1 for i in insts[a : b + 1] if i.opcode == opcode) for a, b in loops)
        if best < count:
            total = sum(1 for i in insts if i.opcode == opcode)
            problems.append(
                f"expected >= {count} {opcode} inside a loop, found {best} ({total} in the kernel): "
                "hoisted, folded or of another width"
            )
    wanted = set(want)
    for a, b in loops:
        narrow = sorted({i.opcode for i in insts[a : b + 1] if i.base in forbid_narrow and i.opcode not in wanted})
        if narrow:
            problems.append(
                f"narrower accesses inside a loop: {', '.join(narrow)} (expected only {', '.join(sorted(wanted))})"
            )
            break
    return problems


def timer_problems(insts, clocks: int = 2, timers: int = 2) -> list[str]:
    problems = []
    n_clock = sum(1 for i in insts if "SR_CLOCKLO" in i.text)
    n_timer = sum(1 for i in insts if "SR_GLOBALTIMER" in i.text)
    if n_clock < clocks:
        problems.append(f"expected {clocks} %clock64 reads, found {n_clock}")
    if n_timer < timers:
        problems.append(f"expected {timers} %globaltimer reads, found {n_timer}")
    return problems
