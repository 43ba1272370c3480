"""Instruction latency and throughput: dependent chains of one op per thread, timed with %clock64.

Method: each op's chain step is volatile inline PTX (an `Op` of probes/static/instruction_table.py, the one table the
static atlases read too; its kernel-callable form is probes/kernel/chain_step.py); a generated Numba kernel
runs `ilp` independent chains per thread, unrolled `unroll` steps per loop trip, in two timed passes of n and 2n
trips; per-op cycles = (t(2n) - t(n)) / (n * unroll), which cancels loop-entry and timer overhead (nanoBench). The
stop clock is read after a branch on every chain's value, so it waits for the last result. Latency: one warp, one
chain (cycles per dependent step; where the step holds a helper op, e.g. MUFU + FADD, it is included and named in
`mix`). Throughput: `ilp` chains per thread x `warps_per_sm` warps on every SM; each warp's rate is lanes x steps /
cycles of its extra pass, the rates of the warps on one SM (by %smid) add up, and the median over SMs is the sample;
the sweep over ilp x warps finds the plateau (probes.analysis.instructions).
Every launch checks each chain's final value against the host's exact (or, for MUFU, tolerance) computation, and for
atomics and reductions each memory word's final value too. Atomics chain through the value they return (each lane
its own word, or all 32 lanes of a warp on one word when contended); reductions return nothing, so they have a
throughput and no latency. bar.sync's latency is cycles per barrier of a block of several warps; mma.sync's
throughput is in FLOP/clk/SM.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

import numpy as np

from probes.kernel import chain_step, timed_pass
from probes.spec import Axis, KernelCheckError, Param, Probe, ProbeSpecError, Sweep, min_cc, positive
from probes.static import instruction_table as T
from probes.static.kernel_checks import Expect

TAG_BASE = 0x5EED0000  # kernels store TAG_BASE + op index: names a compiled function in a multi-kernel module
UNROLL = {1: 16, 4: 8}  # steps per loop trip per chain, by ilp (compile time grows with the body)
ILPS = tuple(UNROLL)


def _op_names(text: str) -> str | None:
    unknown = [n for n in (s.strip() for s in text.split(",")) if n and n not in T.BY_NAME]
    return f"unknown op {unknown[0]!r}; ops are {', '.join(T.BY_NAME)}" if unknown else None


def _ilps(value: tuple) -> str | None:
    bad = [v for v in value if v not in UNROLL]
    return f"ilp {bad[0]} has no kernel; choose from {ILPS}" if bad else None


def selected_ops(params: dict, cc) -> list:
    names = [s.strip() for s in params["ops"].split(",") if s.strip()] or list(T.BY_NAME)
    return [T.BY_NAME[n] for n in names if tuple(cc) >= T.BY_NAME[n].min_cc]


def tag_of(op) -> int:
    return TAG_BASE + T.OPS.index(op)


def op_of_tag(tag: int):
    i = tag - TAG_BASE
    return T.OPS[i] if 0 <= i < len(T.OPS) else None


# --- kernel generation --------------------------------------------------------------------------------------------


def kernel_source(op, ilp: int) -> str:
    """Python source of the kernel for (op, ilp): chains x0.., operands rotating (b,c),(c,d),(d,b).

    The timed section is the engine's timed-pass primitive (probes/kernel/timed_pass.py): the start clock waits on
    every chain's loaded initial value, passes of n and 2n trips of a uint32 counter, the stop clocks wait on every
    chain. The loop steps by `one`, a kernel argument (= 1): neither NVVM nor ptxas knows the trip count, so neither
    unrolls the loop, and the op count in the SASS is exactly 2 x ilp x unroll x (SASS per step).
    Memory ops get a `mem` argument and one word per chain (see `_memory_prologue`)."""
    unroll = UNROLL[ilp]
    names = ["x", "y", "b", "c", "d"]
    body = []
    for k in range(unroll):
        i, j = T.ROTATION[k % 3]
        word = lambda m: f", a{m}" if op.memory else ""  # noqa: E731
        body += [f"x{m} = STEP(x{m}, {names[i]}, {names[j]}{word(m)})" for m in range(ilp)]
    body = "\n".join(body)
    consume = " | ".join(f"(x{m} == b)" for m in range(ilp))
    load = "\n".join(f"    x{m} = xs[base + {m}]" for m in range(ilp))
    store = "\n".join(f"    xs[base + {m}] = x{m}" for m in range(ilp))
    prologue, epilogue = _memory_prologue(op, ilp) if op.memory else ("", "")
    fn = f"k_{op.name}_ilp{ilp}"
    timed = "\n".join(
        timed_pass.section(
            body.split("\n"), consume, "tags[tid] = 1", trips="n", step="one", clocks=(("t", "clock64()"),)
        )
    )
    return f"""
def {fn}(xs, b, c, d, n, one, out, tags{", mem" if op.memory else ""}):
    tid = cuda.threadIdx.x + cuda.blockIdx.x * cuda.blockDim.x
    base = tid * {ilp}
{load}
{prologue}
{timed}
{store}
{epilogue}
    out[3 * tid] = t1 - t0
    out[3 * tid + 1] = t2 - t1
    out[3 * tid + 2] = smid()
    tags[tid] = {tag_of(op)}
"""


SHARED_WORDS_PER_CHAIN = 1024  # one word per thread of the largest block, per chain


def _memory_prologue(op, ilp: int) -> tuple[str, str]:
    """Chain m of a lane works on word m * lanes + lane, where a 'lane' is a thread (each its own word) or, when
    contended, a warp (all 32 lanes on one word). Chain-major order keeps a warp's words in distinct banks.
    Shared words start at the op's initial value and are copied out to `mem` after the timed loops (same index
    layout as global words, so the host checks both the same way)."""
    group = " // 32" if op.contended else ""
    up = " + 31) // 32" if op.contended else ")"
    lines = []
    if op.memory == "shared":
        lines += [
            f"    words = cuda.shared.array({SHARED_WORDS_PER_CHAIN * ilp}, uint32)",
            f"    lane = cuda.threadIdx.x{group}",
            f"    lanes = (cuda.blockDim.x{up}",
            *(f"    w{m} = {m} * lanes + lane\n    words[w{m}] = {op.mem_init}" for m in range(ilp)),
            "    cuda.syncthreads()",
            *(f"    a{m} = ADDRESS(words, w{m})" for m in range(ilp)),
        ]
        first = f"cuda.blockIdx.x * lanes * {ilp}"
        epilogue = ["    cuda.syncthreads()", *(f"    mem[{first} + w{m}] = words[w{m}]" for m in range(ilp))]
    else:
        lines += [
            f"    lane = tid{group}",
            f"    lanes = (cuda.gridDim.x * cuda.blockDim.x{up}",
            *(f"    w{m} = {m} * lanes + lane\n    a{m} = ADDRESS(mem, w{m})" for m in range(ilp)),
        ]
        epilogue = []
    return "\n".join(lines), "\n".join(epilogue)


@functools.cache
def kernel_function(op_name: str, ilp: int):
    """The plain Python function of the (op, ilp) kernel (Numba compiles it; the simulator interprets it)."""
    from numba import cuda

    op = T.BY_NAME[op_name]
    scope = {
        "cuda": cuda,
        "STEP": chain_step.step_function(op),
        "clock64": chain_step.clock64,
        "smid": chain_step.smid,
        "uint32": np.uint32,
    }
    if op.memory:
        scope["ADDRESS"] = chain_step.word_address(op.memory)
    exec(compile(kernel_source(op, ilp), f"<instructions:{op.name}:ilp{ilp}>", "exec"), scope)
    return scope[f"k_{op.name}_ilp{ilp}"]


def signature(op):
    from numba import types

    t = {"f32": types.float32, "f64": types.float64, "u32": types.uint32, "u64": types.uint64}[op.kind]
    memory = (types.uint32[::1],) if op.memory else ()
    return (t[::1], t, t, t, types.uint32, types.uint32, types.int64[::1], types.uint32[::1], *memory)


@functools.cache
def _ptx(op_name: str, ilp: int, cc: tuple) -> str:
    """PTX of one (op, ilp) kernel, cached on disk: Numba's front end takes ~0.2 s a kernel and has no cache."""
    from importlib import metadata

    from probes.kernel.compile import kernel_ptx
    from probes.static import toolchain

    op = T.BY_NAME[op_name]
    key = (
        "instructions",
        metadata.version("numba-cuda"),
        f"{cc}",
        kernel_source(op, ilp),
        op.ptx,
        op.kind,
        _ops_source_hash(),
    )
    produce = lambda: kernel_ptx(kernel_function(op_name, ilp), signature(op), cc).encode()  # noqa: E731
    return toolchain.cached("ptx", key, produce, ".ptx").decode()


@functools.cache
def _ops_source_hash() -> str:
    """Digest of the instruction table and the step toolkit, part of the PTX cache key; read on first compile, not
    at catalogue import."""
    return hashlib.sha256(Path(T.__file__).read_bytes() + Path(chain_step.__file__).read_bytes()).hexdigest()


def merge_ptx(modules: list[str]) -> str:
    """One PTX module from several Numba modules: one assembly and one disassembly for all of them.

    Numba names a kernel's shared arrays `_cudapy_smem_<n>` per module: each module's get a unique suffix, or two
    kernels with different shared sizes would redefine one variable."""
    head, *rest = (re.sub(r"\b(_cudapy_smem_\d+)\b", rf"\1_m{k}", text) for k, text in enumerate(modules))
    body = [head]
    for text in rest:
        body.append(
            "\n".join(
                line for line in text.splitlines() if not line.startswith((".version", ".target", ".address_size"))
            )
        )
    return "\n".join(body)


def _kernels(cc, ilps) -> list:
    ops = [op for op in T.OPS if tuple(cc) >= op.min_cc and (op.chain or ilps != (1,))]  # red: no latency
    arch = f"sm_{cc[0]}{cc[1]}"
    return [
        (
            f"instructions.{arch}.ilp{'-'.join(map(str, ilps))}",
            merge_ptx([_ptx(op.name, i, tuple(cc)) for op in ops for i in ilps]),
        )
    ]


def latency_kernels(cc):
    return _kernels(cc, (1,))


def throughput_kernels(cc):
    return _kernels(cc, ILPS)


# --- SASS check -----------------------------------------------------------------------------------------------------


def _immediate(inst) -> int | None:
    """A 32-bit constant an instruction materializes: `MOV R, 0x..` / `IMAD.MOV.U32 R, RZ, RZ, 0x..`, or ptxas's
    `HFMA2.MMA R, -RZ, RZ, h1, h0` trick (two f16 halves)."""
    ops = [o.strip() for o in inst.operands]
    if inst.base == "HFMA2" and len(ops) == 5 and ops[1:3] == ["-RZ", "RZ"]:
        try:
            hi, lo = (int(np.array([np.float16(float(v))]).view(np.uint16)[0]) for v in ops[3:5])
        except ValueError:
            return None
        return hi << 16 | lo
    if ops and ops[-1].startswith("0x"):
        try:
            return int(ops[-1], 16)
        except ValueError:
            return None
    return None


def _op_of(insts):
    """The op a compiled kernel measures, from the tag constant it stores."""
    for inst in insts:
        value = _immediate(inst)
        if value is not None and (op := op_of_tag(value)):
            return op
    return None


def _branch_target(inst) -> int | None:
    """Target address of a BRA: its last operand ('BRA 0x2a0', sm_100's 'BRA.U UP0, 0x870')."""
    try:
        return int(inst.operands[-1].strip(), 16) if inst.base == "BRA" and inst.operands else None
    except ValueError:
        return None


def timed_loops(insts) -> list[tuple[int, int]]:
    """(first, last) instruction index of each loop that closes before a stop-clock read (a backward BRA)."""
    by_address = {i.address: k for k, i in enumerate(insts)}
    clocks = [n for n, i in enumerate(insts) if i.base == "CS2R" and "SR_CLOCKLO" in i.text]
    loops = []
    for start, stop in zip(clocks, clocks[1:]):
        back = [
            k
            for k in range(start, stop)
            if (t := _branch_target(insts[k])) is not None and t < insts[k].address and t in by_address
        ]
        if back:
            loops.append((by_address[_branch_target(insts[back[-1]])], back[-1]))
    return loops


LOOP_SLACK = 2  # loop bookkeeping may share the op's base opcode (an IMAD.U32 copy, an IADD3 counter)


def check_sass(name: str, insts) -> list[str]:
    """Each of the two timed loops holds ilp x unroll x (SASS per step) of the op's opcode (+ at most LOOP_SLACK
    bookkeeping instructions): fewer means ptxas folded, merged or hoisted steps. Each stop-clock read comes after
    the loop and after a *SETP testing the chains (the stop clock waits for the last result)."""
    op = _op_of(insts)
    if op is None:
        return [f"{name}: no op tag 0x{TAG_BASE:x}+i stored: not an instructions kernel"]
    arch = _arch_from(name)
    bases, per_step = op.expected(arch)
    clocks = [n for n, i in enumerate(insts) if i.base == "CS2R" and "SR_CLOCKLO" in i.text]
    if len(clocks) != 3:
        return [f"{op.name}: expected 3 %clock64 reads, found {len(clocks)}"]
    loops = timed_loops(insts)
    if len(loops) != 2:
        return [
            f"{op.name}: expected one loop in each timed pass, found {len(loops)}: the chain was folded away "
            "or the loop unrolled"
        ]
    problems = []
    counts = [sum(1 for i in insts[a : b + 1] if i.base in bases) for a, b in loops]
    ilps = [int(v) for v in name.split("ilp")[-1].split("-")] if "ilp" in name else list(ILPS)
    per_steps = per_step if isinstance(per_step, tuple) else (per_step,)
    units = [ilp * UNROLL[ilp] * p for ilp in ilps for p in per_steps]
    if not any(all(0 <= c - u <= LOOP_SLACK for c in counts) for u in units):
        want = " or ".join(f"{u:g}" for u in units)
        problems.append(
            f"{op.name}: {'/'.join(bases)} appears {counts} times in the timed loops; expected {want} "
            f"each (ilp x unroll x SASS per step): steps were folded, merged or hoisted"
        )
    for (_, end), clock in zip(loops, clocks[1:]):
        if not op.chain:
            break  # a reduction returns nothing to wait for: its rate is the issue rate the memory pipe allows
        if not any(i.base.endswith("SETP") for i in insts[end + 1 : clock]):
            problems.append(f"{op.name}: stop clock at {insts[clock].address:#x} does not wait for a test of the chain")
    return problems


def _arch_from(name: str) -> str:
    """Kernel names carry the arch they were built for ('instructions.sm_90.ilp1'): expectations differ per arch."""
    return next((part for part in name.split(".") if part.startswith("sm_")), "*")


# --- measurement ----------------------------------------------------------------------------------------------------


def _require_resident(ctx, op, ilp: int, threads: int, blocks_per_sm: int) -> None:
    """Skip (PointSkipped, recorded by the engine) a throughput point whose blocks cannot all be resident on one SM
    at once: a second wave would run and the per-SM sum of warp rates would double into a false plateau
    (issue 20 defect 4). Registers and shared memory from the driver for the compiled kernel."""
    from probes.kernel.context import PointSkipped
    from probes.static.kernel_checks import occupancy_problem

    usage = ctx.resources(("instructions", op.name, ilp), signature(op))
    if usage is None:
        return
    problem = occupancy_problem(usage, threads, blocks_per_sm, ctx.cc)
    if problem:
        raise PointSkipped(f"{op.name} ilp{ilp}: {problem}")


def _launch(ctx, op, ilp: int, blocks: int, threads: int, n: int, resident: int | None = None):
    x0, b, c, d = T.operand_values(op)
    t = T.numpy_type(op)
    lanes = blocks * threads
    xs = ctx.to_device(np.full(lanes * ilp, x0, dtype=t))
    out = ctx.device_array(3 * lanes, np.int64)
    tags = ctx.device_array(lanes, np.uint32)
    memory = (ctx.to_device(np.full(lanes * ilp, op.mem_init, dtype=np.uint32)),) if op.memory else ()
    kernel = ctx.compiled(("instructions", op.name, ilp), kernel_function(op.name, ilp), signature(op))
    if resident is not None:
        _require_resident(ctx, op, ilp, threads, resident)
    # the declared argument types (`signature`): Python ints and floats would make Numba compile and run an
    # int64/float64 variant that no SASS check has seen
    kernel[blocks, threads](xs, t(b), t(c), t(d), np.uint32(n), np.uint32(1), out, tags, *memory)
    ctx.synchronize()
    final = xs.copy_to_host()
    want = _expected(op.name, 3 * n, UNROLL[ilp])
    bad = [k for k, v in enumerate(final) if not T.matches(op, v, want)]
    if bad:
        raise KernelCheckError(
            f"{op.name}: chain {bad[0]} ended at {final[bad[0]]!r}, host expects {want!r} "
            f"({len(bad)} of {len(final)} chains wrong)"
        )
    if op.memory:
        _check_words(op, memory[0].copy_to_host(), blocks, threads, ilp, n)
    return out.copy_to_host().reshape(lanes, 3)  # per thread: t(n), t(2n), SM id


def _check_words(op, words, blocks: int, threads: int, ilp: int, n: int) -> None:
    """Each chain's memory word ends where the host's model of the same steps (by all its sharers) ends."""
    sharers = min(32, threads) if op.contended else 1
    used = blocks * (-(-threads // 32) if op.contended else threads) * ilp
    want = _expected_word(op.name, 3 * n, UNROLL[ilp], sharers)
    bad = [k for k in range(used) if int(words[k]) != want]
    if bad:
        raise KernelCheckError(
            f"{op.name}: memory word {bad[0]} ended at {int(words[bad[0]]):#x}, host expects "
            f"{want:#x} ({len(bad)} of {used} words wrong)"
        )


@functools.cache
def _expected(op_name: str, trips: int, unroll: int):
    return T.host_chain(T.BY_NAME[op_name], trips, unroll)


@functools.cache
def _expected_word(op_name: str, trips: int, unroll: int, sharers: int) -> int:
    return int(T.host_final(T.BY_NAME[op_name], trips, unroll, sharers)[1])


def _common(op, ilp: int) -> dict:
    return {
        "sass_opcode": op.sass,
        "mix": op.mix,
        "results_per_step": op.results,
        "group": op.group,
        "ilp": ilp,
        "memory": op.memory,
        "contended": op.contended,
        "result_unit": "FLOP" if op.group == "mma" else "results",
        "unroll": UNROLL[ilp],
        "claim": op.claim,
        "variant": op.variant,
    }


def measure_latency(ctx, point: dict, params: dict) -> dict:
    op = T.BY_NAME[point["op"]]
    n = params["iterations"]
    # the simulator has no warp (one thread per warp there); on a GPU shuffles need all 32 lanes
    threads = (1 if ctx.simulator else 32) * op.block_warps
    cycles = _launch(ctx, op, 1, 1, threads, n)
    c1, c2 = (int(v) for v in cycles[0][:2])
    steps = n * UNROLL[1]
    return {
        "cycles_per_op": (c2 - c1) / steps,
        "cycles_n": c1,
        "cycles_2n": c2,
        "steps": steps,
        "block_warps": op.block_warps,
        **_common(op, 1),
    }


def measure_throughput(ctx, point: dict, params: dict) -> dict:
    op, ilp, warps = T.BY_NAME[point["op"]], point["ilp"], point["warps_per_sm"]
    n = params["iterations"]
    sms = int(ctx.env.get("sm_count") or 1) if not ctx.simulator else 1
    per_sm_blocks = -(-warps // 32)  # blocks of <= 32 warps; the block scheduler spreads them
    per_block = -(-warps // per_sm_blocks)
    blocks = sms * per_sm_blocks
    timing = _launch(ctx, op, ilp, blocks, 32 * per_block, n, resident=per_sm_blocks)
    lane0 = timing[::32]  # one row per warp
    extra = np.maximum((lane0[:, 1] - lane0[:, 0]).astype(float), 1.0)  # cycles of n extra trips: overhead cancelled
    per_warp = 32 * ilp * UNROLL[ilp] * n  # steps (warp lanes x ops) in the extra trips
    # Rates of concurrent warps add up on their SM; the SM id shows where the block scheduler put each warp.
    by_sm: dict = {}
    for sm, cyc in zip(lane0[:, 2], extra):
        by_sm.setdefault(int(sm), []).append(per_warp / cyc)
    per_clk = float(np.median([sum(r) for r in by_sm.values()]))
    counts = [len(r) for r in by_sm.values()]
    return {
        "ops_per_clk_per_sm": per_clk,
        "results_per_clk_per_sm": per_clk * op.results,
        "cycles_per_op": 32 / per_clk,
        "warp_cycles": float(np.mean(extra)),
        "warps_per_sm": warps,
        "warps_launched_per_sm": per_sm_blocks * per_block,
        "warps_seen_min": min(counts),
        "warps_seen_max": max(counts),
        "sms_seen": len(by_sm),
        "steps": n * UNROLL[ilp],
        **_common(op, ilp),
    }


# --- axes -----------------------------------------------------------------------------------------------------------


def _ops_axis(env: dict, params: dict, latency: bool = False) -> tuple:
    cc = env.get("compute_capability") or (9, 0)
    ops = tuple(op.name for op in selected_ops(params, cc) if op.chain or not latency)
    if not ops:
        raise ProbeSpecError(
            f"no selected op runs on compute capability {cc[0]}.{cc[1]}"
            + (" (reductions return nothing: they have no latency)" if latency else "")
        )
    return ops


def _warps_axis(env: dict, params: dict) -> tuple:
    if params["warps_per_sm"]:
        return tuple(params["warps_per_sm"])
    # 1, 2, 4, ... up to the SM's resident-warp limit (64 on sm_80/sm_90/sm_100; 48 on 8.6/8.9)
    cc = tuple(env.get("compute_capability") or (9, 0))
    top = 64 if cc in ((8, 0), (9, 0), (10, 0)) else 48 if cc[0] == 8 else 32
    return tuple(w for w in (1, 2, 4, 8, 16, 32, 48, 64) if w <= top)


latency_axes = Sweep((Axis("op", lambda env, params: _ops_axis(env, params, latency=True), category=True),))
throughput_axes = Sweep(
    (
        Axis("op", _ops_axis, category=True),
        Axis("ilp", param="ilp", unit="independent chains per thread"),
        Axis("warps_per_sm", _warps_axis, unit="warps per SM"),
    )
)


def occupancy_points(env: dict, params: dict) -> list[tuple[str, int, int]]:
    """(mangled function name, threads per block, blocks per SM) of every throughput point, for the dry run's
    occupancy check: the same block shape measure_throughput launches."""
    out = []
    for op in throughput_axes(env, params)["op"]:
        for ilp in params["ilp"]:
            for warps in throughput_axes(env, params)["warps_per_sm"]:
                per_sm_blocks = -(-warps // 32)
                name = f"k_{op}_ilp{ilp}"
                out.append((f"{len(name)}{name}", 32 * -(-warps // per_sm_blocks), per_sm_blocks))
    return out


_OPS_PARAM = Param("ops", str, "", "comma-separated op names (empty: all)", _op_names)

PROBES = (
    Probe(
        name="instructions.latency",
        summary="dependent-chain latency of one instruction, one warp, cycles per op",
        measure=measure_latency,
        axes=latency_axes,
        unit="cycles/op",
        method=__doc__.split("\n\n")[1].replace("\n", " "),
        params=(
            _OPS_PARAM,
            Param("iterations", int, 64, "loop trips of the short pass (the long one runs 2x)", positive),
        ),
        requires=(min_cc(8, 0),),
        kernels=latency_kernels,
        check_sass=check_sass,
        expect=Expect(),
        smoke=("ops=ffma,imad,dfma", "iterations=1"),
    ),
    Probe(
        name="instructions.throughput",
        summary="results per clock per SM of one instruction vs independent chains x warps per SM",
        measure=measure_throughput,
        axes=throughput_axes,
        unit="cycles/op",
        method=__doc__.split("\n\n")[1].replace("\n", " "),
        params=(
            _OPS_PARAM,
            Param("iterations", int, 32, "loop trips of the short pass (the long one runs 2x)", positive),
            Param("ilp", tuple, ILPS, f"independent chains per thread, from {ILPS}", _ilps),
            Param(
                "warps_per_sm",
                tuple,
                (),
                "warps per SM to sweep (empty: 1, 2, 4, ... to the SM limit)",
                lambda v: None if not v else positive(tuple(v)),
            ),
        ),
        requires=(min_cc(8, 0),),
        kernels=throughput_kernels,
        check_sass=check_sass,
        expect=Expect(),
        occupancy=occupancy_points,  # dry run: the blocks of every throughput point co-reside on one SM
        smoke=("ops=ffma", "iterations=1", "ilp=1", "warps_per_sm=1"),
    ),
)
