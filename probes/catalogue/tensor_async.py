"""Asynchronous tensor-core MMA (hand-written PTX): wgmma on sm_90a, tcgen05 on sm_100a.

Method, `tensor.wgmma.latency`: one warpgroup (128 threads) issues wgmma.mma_async m64nNk{K} into one accumulator,
each followed by wgmma.commit_group + wgmma.wait_group 0: per step the full issue-to-result latency, (t(2n) - t(n))
/ n from thread 0's `%clock64`, whose stop read follows a branch on the accumulator. `tensor.wgmma.throughput`:
`warpgroups` warpgroups of one CTA each issue the chain with one commit + wait per pass, so the tensor core
pipelines it as a GEMM main loop does; FLOP/clk/SM = warpgroups x 2 x 64 x N x K / cycles per step. A and B
come from shared memory through no-swizzle matrix descriptors (SS) or A from registers (RS); every input element
is the type's 1.0, so every accumulator element must end at 4n x K (exact in f32 and s32): the host checks the
first and last accumulator register of every thread after every launch. K is 16 for f16/bf16, 8 for tf32, 32 for
e4m3/e5m2/s8 (wgmma's only K per type).
`tensor.tcgen05.latency` (cc 10.x): one thread issues tcgen05.mma.cta_group::1.kind::f16 (M=128, K=16, f32
accumulator in tensor memory), each committed to an mbarrier (tcgen05.commit) and waited for; warp 0 reads the
accumulator back (tcgen05.ld) for the same all-ones check. Compiled and SASS-checked on every dry run; it runs
only on a Blackwell card and skips elsewhere with the reason.
Kernels: ptx/wgmma.ptx, ptx/tcgen05.ptx (their headers name the SASS each must produce).
"""

from __future__ import annotations

import struct

import numpy as np

from probes.kernel import ptx
from probes.kernel.chase import per_load_sample
from probes.spec import KernelCheckError, Param, Probe, Requirement, positive

WGMMA, TCGEN05 = "ptx/wgmma.ptx", "ptx/tcgen05.ptx"
SIM_CYCLES_PER_STEP, SIM_NS_PER_STEP, SIM_OVERHEAD = 4, 2, 10  # the emulators' made-up clock (simulator only)

# input type -> (K, PTX type triple, 32-bit word of 1.0 elements, has transpose immediates, SASS family)
TYPES = {
    "f16": (16, "f32.f16.f16", 0x3C003C00, True, "HGMMA"),
    "bf16": (16, "f32.bf16.bf16", 0x3F803F80, True, "HGMMA"),
    "tf32": (8, "f32.tf32.tf32", 0x3F800000, False, "HGMMA"),
    "e4m3": (32, "f32.e4m3.e4m3", 0x38383838, False, "QGMMA"),
    "e5m2": (32, "f32.e5m2.e5m2", 0x3C3C3C3C, False, "QGMMA"),
    "s8": (32, "s32.s8.s8", 0x01010101, False, "IGMMA"),
}
WGMMA_N = (8, 16, 32, 64, 128, 256)
SMEM_BYTES = 16384  # A tile 2 KiB (64 x 32 B) + B tile up to 8 KiB (256 x 32 B), rounded up
WARPGROUP = 128


def exactly_cc(major: int, minor: int | None, why: str) -> Requirement:
    def unmet(env: dict, params: dict) -> str | None:
        cc = tuple(env.get("compute_capability") or (0, 0))
        ok = cc[0] == major and (minor is None or cc[1] == minor)
        return None if ok else f"{why}; device has {cc[0]}.{cc[1]}"

    return Requirement(f"cc {major}.{'x' if minor is None else minor}", unmet)


SM90A = exactly_cc(9, 0, "wgmma exists only on sm_90a (cc 9.0); Blackwell replaced it with tcgen05")
SM100 = exactly_cc(10, None, "tcgen05 needs an sm_100a-family device (cc 10.x)")


def accumulator_word(dtype: str, total_mmas: int) -> int:
    """Host reference model: the 32-bit pattern every accumulator element must hold after `total_mmas` MMAs of
    all-ones inputs (K products of 1 x 1 per MMA)."""
    k = TYPES[dtype][0]
    value = total_mmas * k
    return value if dtype == "s8" else struct.unpack("<I", struct.pack("<f", float(value)))[0]


def wgmma_kernel(dtype: str, n: int, operands: str, wait_each: bool) -> ptx.PtxKernel:
    if n not in WGMMA_N or operands not in ("ss", "rs") or dtype not in TYPES:
        raise ValueError(f"no wgmma kernel for {dtype} n={n} {operands}")
    k, types, one, transpose, _ = TYPES[dtype]
    nacc = n // 2
    if dtype == "s8":
        tail = ""
    elif transpose:
        tail = ", 1, 1, 0, 0" if operands == "ss" else ", 1, 1, 0"
    else:
        tail = ", 1, 1"
    acc = "s32" if dtype == "s8" else "f32"
    name = f"wgmma_{dtype}_n{n}_{operands}_{'lat' if wait_each else 'tput'}"
    return ptx.kernel(
        WGMMA,
        name,
        emulate=emulate_wgmma,
        N=n,
        K=k,
        DTYPES=types,
        ACC=acc,
        NACC=nacc,
        LAST=nacc - 1,
        DREGS="{" + ", ".join(f"%d{i}" for i in range(nacc)) + "}",
        ZERO_ACC="\n".join(f"  mov.b32 %d{i}, 0;" for i in range(nacc)),
        ONE=f"0x{one:08X}",
        AOPERAND="%rd20" if operands == "ss" else "{%a0, %a1, %a2, %a3}",
        TAIL=tail,
        WAIT_EACH=("  wgmma.commit_group.sync.aligned;\n  wgmma.wait_group.sync.aligned 0;" if wait_each else ""),
        SMEM_BYTES=SMEM_BYTES,
        ZERO_TEST="0" if acc == "s32" else "0f00000000",
    )


def tcgen05_kernel(n: int) -> ptx.PtxKernel:
    idesc = (1 << 4) | ((n >> 3) << 17) | ((128 >> 4) << 24)  # f32 accumulate, f16 A/B, K-major, N, M = 128
    return ptx.kernel(TCGEN05, f"tcgen05_f16_n{n}", emulate=emulate_tcgen05, TMEM_COLS=max(32, n), IDESC=idesc)


def _times(n: int) -> list[int]:
    return [
        SIM_OVERHEAD + SIM_CYCLES_PER_STEP * n,
        SIM_NS_PER_STEP * n,
        SIM_OVERHEAD + 2 * SIM_CYCLES_PER_STEP * n,
        2 * SIM_NS_PER_STEP * n,
    ]


def emulate_wgmma(k: ptx.PtxKernel, cfg: ptx.LaunchConfig, args: list) -> None:
    steps, out = args
    n, word = int(steps), accumulator_word(_dtype_of(k), 4 * int(steps))
    vals = _times(n) + [0, 0, 0, 0] + [word] * (2 * cfg.threads_per_block)
    out[: len(vals)] = np.asarray(vals, dtype=np.uint64)


def emulate_tcgen05(k: ptx.PtxKernel, cfg: ptx.LaunchConfig, args: list) -> None:
    steps, out = args
    n = int(steps)
    vals = _times(n) + [0, 4 * n, 0, 0] + [accumulator_word("f16", 4 * n)] * 32
    out[: len(vals)] = np.asarray(vals, dtype=np.uint64)


def _dtype_of(k: ptx.PtxKernel) -> str:
    return next(t for t, spec in TYPES.items() if spec[1] == k.params["DTYPES"])


def check_accumulators(words: np.ndarray, dtype: str, total_mmas: int, what: str) -> None:
    ptx.expect_equal(
        f"{what} accumulators after {total_mmas} MMAs of all-ones inputs",
        words.astype(np.uint64),
        np.full(len(words), accumulator_word(dtype, total_mmas), np.uint64),
    )


def measure_wgmma(wait_each: bool):
    def measure(ctx, point: dict, params: dict) -> dict:
        dtype, n, operands = point["dtype"], point["n"], point["operands"]
        steps, groups = int(params["steps"]), 1 if wait_each else int(params["warpgroups"])
        threads = WARPGROUP * groups
        out = ctx.device_array(8 + 2 * threads, np.uint64)
        host = {}

        def check():
            o = host["out"] = out.copy_to_host()
            check_accumulators(o[8 : 8 + 2 * threads], dtype, 4 * steps, "wgmma")

        ptx.launch(
            ctx, wgmma_kernel(dtype, n, operands, wait_each), ptx.config(block=threads), [np.uint64(steps), out], check
        )
        sample = per_load_sample(*(int(v) for v in host["out"][:4]), steps)
        k = TYPES[dtype][0]
        flops = groups * 2 * 64 * n * k
        sample.update(
            k=k,
            warpgroups=groups,
            flop_per_clk_sm=flops / sample["cycles_per_op"] if sample["cycles_per_op"] > 0 else None,
        )
        return sample

    return measure


def measure_tcgen05(ctx, point: dict, params: dict) -> dict:
    n, steps = point["n"], int(params["steps"])
    out = ctx.device_array(8 + 32, np.uint64)
    host = {}

    def check():
        o = host["out"] = out.copy_to_host()
        if int(o[5]) != 4 * steps:
            raise KernelCheckError(f"tcgen05 loop issued {int(o[5])} MMAs, expected {4 * steps}")
        check_accumulators(o[8:40], "f16", 4 * steps, "tcgen05")

    ptx.launch(ctx, tcgen05_kernel(n), ptx.config(block=128), [np.uint64(steps), out], check)
    return per_load_sample(*(int(v) for v in host["out"][:4]), steps)


def wgmma_required(name: str) -> dict[str, int]:
    dtype, n = name.split("_")[1], int(name.split("_")[2][1:])
    k, family = TYPES[dtype][0], TYPES[dtype][4]
    return {rf"^{family}\.64x{n}x{k}\.": 3, r"^WARPGROUP\.ARRIVE$": 1, r"^WARPGROUP\.DEPBAR\.LE$": 3}


def wgmma_check_sass(name: str, insts) -> list[str]:
    problems = ptx.sass_check(wgmma_required)(name, insts)
    rs = name.split("_")[3] == "rs"
    dtype, n = name.split("_")[1], int(name.split("_")[2][1:])
    mma = [i for i in insts if i.opcode.startswith(f"{TYPES[dtype][4]}.64x{n}x")]
    from_regs = [i for i in mma if len(i.operands) > 1 and i.operands[1].startswith("R")]
    if rs and len(from_regs) != len(mma):
        problems.append(f"RS kernel: {len(mma) - len(from_regs)} of {len(mma)} MMAs do not take A from registers")
    if not rs and from_regs:
        problems.append(f"SS kernel: {len(from_regs)} MMAs take A from registers")
    return problems


def tcgen05_check_sass(name: str, insts) -> list[str]:
    return ptx.sass_check(lambda _n: {r"^UTCHMMA": 3, r"^UTCBAR": 3, r"^SYNCS\.PHASECHK\.TRANS64": 3, r"^LDTM": 1})(
        name, insts
    )


def _wgmma_axes(env: dict, params: dict) -> dict:
    return {"dtype": tuple(params["dtypes"]), "n": tuple(params["n_values"]), "operands": ("ss", "rs")}


def _dtypes_check(value) -> str | None:
    bad = [v for v in value if v not in TYPES]
    return f"unknown input type {bad[0]!r} (known: {', '.join(TYPES)})" if bad else None


def _n_check(value) -> str | None:
    bad = [v for v in value if v not in WGMMA_N]
    return f"N must be one of {WGMMA_N} (got {bad[0]})" if bad else None


class DtypesParam(Param):
    """A tuple of names (`--param dtypes=f16,bf16`)."""

    def parse(self, text: str):
        return self.validate(tuple(v.strip() for v in text.split(",") if v.strip()))


# The dry run compiles every input type with both operand sources at one shape each (the template's other
# shapes differ only in N and the register list): all of them would be 144 kernels.
DRY_RUN_SHAPES = {True: (64,), False: (256,)}


def _wgmma_probe(wait_each: bool) -> Probe:
    name = "tensor.wgmma.latency" if wait_each else "tensor.wgmma.throughput"
    params = (
        Param("steps", int, 256, "MMAs per timed pass", positive),
        Param("n_values", tuple, WGMMA_N, "N of m64nNk* shapes", _n_check),
        DtypesParam("dtypes", tuple, tuple(TYPES), f"input types ({', '.join(TYPES)})", _dtypes_check),
    )
    if not wait_each:
        params += (
            Param(
                "warpgroups",
                int,
                2,
                "warpgroups per CTA issuing concurrently",
                lambda v: None if 1 <= v <= 8 else "must be 1..8",
            ),
        )
    return Probe(
        name=name,
        summary=(
            "wgmma.mma_async issue-to-result latency per shape, input type and operand source"
            if wait_each
            else "wgmma.mma_async pipelined throughput (FLOP/clk/SM) per shape, input type and operand source"
        ),
        measure=measure_wgmma(wait_each),
        axes=_wgmma_axes,
        unit="cycles/mma",
        method=" ".join(p.replace("\n", " ") for p in __doc__.split("\n\n")[1:]),
        params=params,
        requires=(SM90A,),
        kernels=ptx.probe_kernels(
            lambda cc, w=wait_each: [
                wgmma_kernel(t, n, o, w) for t in TYPES for n in DRY_RUN_SHAPES[w] for o in ("ss", "rs")
            ]
        ),
        check_sass=wgmma_check_sass,
        smoke=("steps=8", "n_values=8", "dtypes=f16"),
        ptx=WGMMA,
    )


PROBES = (
    _wgmma_probe(True),
    _wgmma_probe(False),
    Probe(
        name="tensor.tcgen05.latency",
        summary="tcgen05.mma (kind::f16, M=128, K=16, TMEM accumulator) issue-to-completion latency per N",
        measure=measure_tcgen05,
        axes=lambda env, params: {"n": (64, 128, 256)},
        unit="cycles/mma",
        method=" ".join(p.replace("\n", " ") for p in __doc__.split("\n\n")[1:]),
        params=(Param("steps", int, 256, "MMAs per timed pass", positive),),
        requires=(SM100,),
        kernels=ptx.probe_kernels(lambda cc: [tcgen05_kernel(n) for n in (64, 128, 256)]),
        check_sass=tcgen05_check_sass,
        smoke=("steps=8",),
        ptx=TCGEN05,
    ),
)
