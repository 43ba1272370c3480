"""The instruction ops of `instructions.*`: one chain step per op as volatile inline PTX, with its host semantics.

A step maps the chain value x and two operands (b, c) to the next x. On a GPU the step is an `@intrinsic` whose
body is the op's PTX (volatile `ir.InlineAsm`, as in probes/engine/intrinsics.py); under the simulator
(NUMBA_ENABLE_CUDASIM=1, fixed at import) it is the op's host function, so a simulated chain computes exactly what
the host expects. The host functions use IEEE float32/float64/float16 and uint32/uint64 semantics with correct
rounding (fused ops are rounded once, from the exact rational value), so exact ops are checked bit for bit; the
MUFU approximations are checked within a tolerance (their chains contract to a fixed point, see `Op.exact`).

`expect[arch]` is the SASS a step must lower to: (base opcodes of the op, instances per step). Consecutive steps
use rotating operands (b, c), (c, d), (d, b) so ptxas cannot merge two steps into one LOP3/IADD3; where it merges
anyway (two 32-bit adds into one IADD3; two mins into one VIMNMX3 on sm_90) the count per step says so.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np
from numba import config

SIMULATOR = bool(config.ENABLE_CUDASIM)
M32, M64 = (1 << 32) - 1, (1 << 64) - 1
TAG_BASE = 0x5EED0000   # kernels store TAG_BASE + op index: names a compiled function in a multi-kernel module


# --- exact host arithmetic --------------------------------------------------------------------------------------

def round_exact(value: Fraction, dtype) -> np.generic:
    """The IEEE round-to-nearest-even `dtype` value of an exact rational (one rounding, as a fused op does)."""
    first = dtype(float(value))      # float(Fraction) is correctly rounded to float64; to dtype may round twice
    if not np.isfinite(first):
        return first
    best = None
    for cand in (first, np.nextafter(first, dtype(np.inf)), np.nextafter(first, dtype(-np.inf))):
        if not np.isfinite(cand):
            continue
        err = abs(Fraction(float(cand)) - value)
        bits = int(np.array([cand]).view({2: np.uint16, 4: np.uint32, 8: np.uint64}[np.dtype(dtype).itemsize])[0])
        key = (err, bits & 1)          # nearest, ties to even
        if best is None or key < best[0]:
            best = (key, cand)
    return dtype(best[1])


def _fma(dtype):
    def fma(x, b, c):
        return round_exact(Fraction(float(x)) * Fraction(float(b)) + Fraction(float(c)), dtype)
    return fma


def _halves(v) -> np.ndarray:
    return np.array([int(v) & M32], dtype=np.uint32).view(np.float16)


def _pack(h) -> np.uint32:
    return np.array(h, dtype=np.float16).view(np.uint32)[0]


def _f16x2(fn):
    def step(x, b, c):
        hx, hb, hc = _halves(x), _halves(b), _halves(c)
        return _pack([fn(hx[i], hb[i], hc[i]) for i in range(2)])
    return step


def round_bf16(value: Fraction) -> np.float32:
    """Round an exact rational to bfloat16 (8 significant bits, ties to even; normal range only), as float32."""
    if value == 0:
        return np.float32(0.0)
    sign, mag = (-1 if value < 0 else 1), abs(value)
    e = mag.numerator.bit_length() - mag.denominator.bit_length()
    if Fraction(2) ** e > mag:
        e -= 1
    scale = Fraction(2) ** (e - 7)
    return np.float32(float(sign * round(mag / scale) * scale))   # round(Fraction): ties to even


def _bf16_halves(v) -> list:
    v = int(v) & M32
    return [np.array([(v >> s & 0xFFFF) << 16], dtype=np.uint32).view(np.float32)[0] for s in (0, 16)]


def _bf16x2_fma(x, b, c):
    hx, hb, hc = _bf16_halves(x), _bf16_halves(b), _bf16_halves(c)
    out = [round_bf16(Fraction(float(hx[i])) * Fraction(float(hb[i])) + Fraction(float(hc[i]))) for i in range(2)]
    bits = [int(np.array([h], dtype=np.float32).view(np.uint32)[0]) >> 16 for h in out]
    return np.uint32(bits[1] << 16 | bits[0])


def _bf2(a: float, b: float) -> int:
    bits = [int(np.array([round_bf16(Fraction(v))], dtype=np.float32).view(np.uint32)[0]) >> 16 for v in (a, b)]
    return bits[1] << 16 | bits[0]


def _u32(fn):
    return lambda x, b, c: np.uint32(fn(int(x), int(b), int(c)) & M32)


def _u64(fn):
    return lambda x, b, c: np.uint64(fn(int(x), int(b), int(c)) & M64)


def _f32(fn):
    """A MUFU op followed by `add.f32` (the mix that keeps rcp(rcp x) and friends from folding)."""
    return lambda x, b, c: np.float32(np.float32(fn(float(x))) + np.float32(b))


def _clz(v: int) -> int:
    return 32 - v.bit_length()


def _brev(v: int) -> int:
    return int(f"{v:032b}"[::-1], 2)


def _prmt(a: int, b: int, sel: int) -> int:
    src = (b << 32) | a
    return sum(((src >> (8 * ((sel >> (4 * i)) & 7))) & 0xFF) << (8 * i) for i in range(4))


def _f2i_rz(v: np.float32) -> int:
    """cvt.rzi.s32.f32: truncate, saturating (NaN -> 0)."""
    f = float(v)
    if f != f:
        return 0
    return int(max(-2 ** 31, min(2 ** 31 - 1, int(f))))


# --- the catalogue ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Op:
    name: str                       # stable lower-case id: the probes' `op` axis value
    group: str                      # fp32, fp64, fp16, int32, int64, bits, mufu, cvt, warp
    kind: str                       # register type of x, b, c: f32 f64 u32 u64 (f16x2 is packed in u32)
    ptx: str                        # one step: $0 = next x, $1 = x, $2 = b, $3 = c
    sass: str                       # headline SASS opcode measured (the table's key)
    host: Callable                  # (x, b, c) -> next x, numpy scalar of the chain's type
    operands: tuple                 # (x0, b, c, d) as Python numbers (bit patterns for f16x2)
    expect: dict = field(default_factory=dict)   # arch -> ((base opcodes...), SASS per step [or a tuple of
    #                                              accepted values]); "*" is the default
    exact: bool = True              # False: approximate hardware op, checked within `rtol`
    rtol: float = 0.0
    mix: str = ""                   # SASS of a helper op inside the step (cycles per step include it)
    claim: str = ""                 # row key in probes/data/programming_guide_throughput.csv
    static: str = ""                # instruction name in probes/static/instructions.py (ptxas's scheduled latency)
    min_cc: tuple = (8, 0)
    warp_uniform: bool = False      # the step reads other lanes: needs a full warp with equal values
    results: int = 1                # results per lane per step, as the Programming Guide counts them (f16x2: 2)

    def expected(self, arch: str) -> tuple[tuple[str, ...], float]:
        return self.expect.get(arch) or self.expect["*"]


def _mufu(name: str, fn, x0: float, b: float, extra: tuple[str, ...] = ()) -> Op:
    return Op(name, "mufu", "f32",
              f"{{ .reg .f32 t; {name}.approx.ftz.f32 t, $1; add.f32 $0, t, $2; }}", f"MUFU.{name.upper()[:3]}"
              if name != "rsqrt" else "MUFU.RSQ", _f32(fn), (x0, b, b, b),
              {"*": (("MUFU",), 1.0)}, exact=False, rtol=1e-4, mix=" + ".join(("FADD",) + extra),
              claim="mufu", static=f"{name}.approx.ftz.f32")




def _h2(a: float, b: float) -> int:
    return int(_pack([a, b]))


OPS: tuple[Op, ...] = (
    # FP32
    Op("fadd", "fp32", "f32", "add.rn.f32 $0, $1, $2;", "FADD", lambda x, b, c: np.float32(x) + np.float32(b),
       (1.0, 0.375, -0.25, 0.125), {"*": (("FADD",), 1.0)}, claim="fp32", static="add.rn.f32"),
    Op("fmul", "fp32", "f32", "mul.rn.f32 $0, $1, $2;", "FMUL", lambda x, b, c: np.float32(x) * np.float32(b),
       (1.0, 1.0009765625, 0.9990234375, 1.000244140625), {"*": (("FMUL",), 1.0)}, claim="fp32",
       static="mul.rn.f32"),
    Op("ffma", "fp32", "f32", "fma.rn.f32 $0, $1, $2, $3;", "FFMA", _fma(np.float32),
       (1.0, 0.999, 0.001, 0.5), {"*": (("FFMA",), 1.0)}, claim="fp32", static="fma.rn.f32"),
    # FP64
    Op("dadd", "fp64", "f64", "add.rn.f64 $0, $1, $2;", "DADD", lambda x, b, c: np.float64(x) + np.float64(b),
       (1.0, 0.375, -0.25, 0.125), {"*": (("DADD",), 1.0)}, claim="fp64", static="add.rn.f64"),
    Op("dfma", "fp64", "f64", "fma.rn.f64 $0, $1, $2, $3;", "DFMA", _fma(np.float64),
       (1.0, 0.999, 0.001, 0.5), {"*": (("DFMA",), 1.0)}, claim="fp64", static="fma.rn.f64"),
    # FP16x2 (packed): ptxas alternates HFMA2 and HFMA2.MMA (two pipes), both count
    Op("hadd2", "fp16", "u32", "add.rn.f16x2 $0, $1, $2;", "HADD2",
       _f16x2(lambda x, b, c: round_exact(Fraction(float(x)) + Fraction(float(b)), np.float16)),
       (_h2(1.0, 2.0), _h2(0.125, -0.25), _h2(-0.0625, 0.5), _h2(0.25, 0.125)),
       {"*": (("HADD2", "HFMA2"), 1.0)}, claim="fp16", static="add.rn.f16x2", results=2),
    Op("hfma2", "fp16", "u32", "fma.rn.f16x2 $0, $1, $2, $3;", "HFMA2", _f16x2(_fma(np.float16)),
       (_h2(1.0, 2.0), _h2(0.99, 0.5), _h2(0.01, 0.75), _h2(0.5, 0.25)),
       {"*": (("HFMA2",), 1.0)}, claim="fp16", static="fma.rn.f16x2", results=2),
    Op("hfma2_bf16", "fp16", "u32", "fma.rn.bf16x2 $0, $1, $2, $3;", "HFMA2.BF16_V2", _bf16x2_fma,
       (_bf2(1.0, 2.0), _bf2(0.99, 0.5), _bf2(0.01, 0.75), _bf2(0.5, 0.25)),
       {"*": (("HFMA2",), 1.0)}, claim="fp16", static="fma.rn.bf16x2", results=2),
    # INT32
    Op("iadd3", "int32", "u32", "add.u32 $0, $1, $2;", "IADD3", _u32(lambda x, b, c: x + b),
       (1, 0x9E3779B9, 0x7F4A7C15, 0x85EBCA6B), {"*": (("IADD3",), 0.5), "sm_80": (("IADD3",), 1.0)},
       claim="int_add", static="add.s32"),
    Op("imad", "int32", "u32", "mad.lo.u32 $0, $1, $2, $3;", "IMAD", _u32(lambda x, b, c: x * b + c),
       (1, 0x9E3779B9, 0x7F4A7C15, 0x85EBCA6B), {"*": (("IMAD",), 1.0)}, claim="int_mad", static="mad.lo.s32"),
    Op("imul_hi", "int32", "u32", "mul.hi.u32 $0, $1, $2;", "IMAD.HI", _u32(lambda x, b, c: (x * b) >> 32),
       (0xDEADBEEF, 0xFFFFFFF1, 0xFFFFFFF3, 0xFFFFFFF5), {"*": (("IMAD",), 1.0)}, claim="int_mad",
       static="mul.hi.s32"),
    Op("lop3", "int32", "u32", "lop3.b32 $0, $1, $2, $3, 0x6a;", "LOP3.LUT",
       _u32(lambda x, b, c: (x & b) ^ c), (0x12345678, 0x9E3779B9, 0x7F4A7C15, 0x85EBCA6B),
       {"*": (("LOP3",), 1.0)}, claim="int_logic", static="lop3.b32"),
    Op("shf", "int32", "u32", "shf.l.wrap.b32 $0, $1, $2, $3;", "SHF.L.W",
       _u32(lambda x, b, c: ((((b << 32) | x) << (c & 31)) >> 32)), (0x12345678, 0x9E3779B9, 7, 0x85EBCA6B),
       {"*": (("SHF",), 1.0)}, claim="int_shift", static="shf.l.wrap.b32"),
    Op("imnmx", "int32", "u32", "min.u32 $0, $1, $2;", "IMNMX", _u32(lambda x, b, c: min(x, b)),
       (0xFFFFFFFF, 0xF0000000, 0xE0000000, 0xD0000000),
       {"*": (("IMNMX",), 1.0), "sm_90": (("VIMNMX3", "IMNMX", "VIMNMX"), 0.5)}, claim="int_compare",
       static="min.s32"),
    Op("prmt", "int32", "u32", "prmt.b32 $0, $1, $2, $3;", "PRMT", _u32(lambda x, b, c: _prmt(x, b, c)),
       (0x12345678, 0x5140, 0x2736, 0x0615),
       {"*": (("PRMT",), 1.0)}, claim="", static="prmt.b32"),
    Op("popc", "bits", "u32", "{ .reg .b32 t; popc.b32 t, $1; add.u32 $0, t, $2; }", "POPC",
       _u32(lambda x, b, c: bin(x).count("1") + b), (0x12345678, 0x9E3779B9, 0x7F4A7C15, 0x85EBCA6B),
       {"*": (("POPC",), 1.0)}, mix="IADD3", claim="popc", static="popc.b32"),
    Op("flo", "bits", "u32", "{ .reg .b32 t; clz.b32 t, $1; add.u32 $0, t, $2; }", "FLO.U32",
       _u32(lambda x, b, c: _clz(x) + b), (0x12345678, 0x9E3779B9, 0x7F4A7C15, 0x85EBCA6B),
       {"*": (("FLO",), 1.0)}, mix="IADD3 + LOP3", claim="clz", static="clz.b32"),
    Op("brev", "bits", "u32", "{ .reg .b32 t; brev.b32 t, $1; add.u32 $0, t, $2; }", "BREV",
       _u32(lambda x, b, c: _brev(x) + b), (0x12345678, 0x9E3779B9, 0x7F4A7C15, 0x85EBCA6B),
       {"*": (("BREV",), 1.0)}, mix="IADD3", claim="brev", static="brev.b32"),
    # INT64
    Op("iadd64", "int64", "u64", "add.u64 $0, $1, $2;", "IADD3.X", _u64(lambda x, b, c: x + b),
       (1, 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB),
       {"*": (("IADD3",), 1.5), "sm_80": (("IADD3",), 2.0)},
       static="add.s64"),
    Op("imul64", "int64", "u64", "mul.lo.u64 $0, $1, $2;", "IMAD.WIDE.U32", _u64(lambda x, b, c: x * b),
       (1, 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB), {"*": (("IMAD",), 3.0)},
       static="mad.lo.s64"),
    # MUFU (each step is MUFU + FADD: the add keeps the chain from folding and contracts it to a fixed point)
    _mufu("rcp", lambda v: 1.0 / v, 1.0, 1.0),          # x = 1/x + 1 -> golden ratio
    _mufu("rsqrt", lambda v: v ** -0.5, 2.0, 0.5),       # x = x^-1/2 + 0.5 -> ~1.4
    _mufu("sqrt", lambda v: v ** 0.5, 1.0, 1.0),         # x = sqrt(x) + 1 -> ~2.618
    _mufu("ex2", lambda v: 2.0 ** v, 0.0, -2.0),         # x = 2^x - 2 -> ~-1.69
    _mufu("lg2", lambda v: np.log2(v), 3.0, 2.0),        # x = log2(x) + 2 -> 4
    _mufu("sin", lambda v: np.sin(v), 1.0, 1.0, ("FMUL.RZ",)),   # x = sin(x) + 1 -> ~1.93
    _mufu("cos", lambda v: np.cos(v), 1.0, 0.0, ("FMUL.RZ",)),   # x = cos(x) -> 0.739
    # conversions: round trips, so the chain comes back to its own type (both directions in one step)
    Op("cvt_f32_s32", "cvt", "u32",
       "{ .reg .f32 t; cvt.rn.f32.s32 t, $1; cvt.rzi.s32.f32 $0, t; add.u32 $0, $0, $2; }", "I2F+F2I",
       _u32(lambda x, b, c: (_f2i_rz(np.float32(x - (1 << 32) if x >> 31 else x)) & M32) + b),
       (1000, 3, 5, 7), {"*": (("F2I",), 1.0)}, mix="I2F + IADD3", claim="cvt_other", static="cvt s32<->f32"),
    Op("cvt_f32_f16", "cvt", "f32", "{ .reg .b16 h; cvt.rn.f16.f32 h, $1; cvt.f32.f16 $0, h; add.f32 $0, $0, $2; }",
       "F2FP+HADD2.F32", lambda x, b, c: np.float32(np.float32(np.float16(np.float32(x)))) + np.float32(b),
       (1.0, 0.375, -0.25, 0.125), {"*": (("F2FP", "F2F", "HADD2"), (2.0, 1.5))}, mix="FADD", claim="cvt_other",
       static="cvt f32<->f16"),
    Op("cvt_f64_f32", "cvt", "f64",
       "{ .reg .f32 t; cvt.rn.f32.f64 t, $1; cvt.f64.f32 $0, t; add.f64 $0, $0, $2; }", "F2F.F32.F64+F2F.F64.F32",
       lambda x, b, c: np.float64(np.float32(np.float64(x))) + np.float64(b), (1.0, 0.1, -0.3, 0.7),
       {"*": (("F2F",), 2.0)}, mix="DADD", static="cvt f64<->f32"),
    # warp-level: every lane holds the same value, so the host step is the lane-local arithmetic
    # shfl.idx from a uniform lane commutes with uniform adds (ptxas hoists them): add x itself as well
    Op("shfl_idx", "warp", "u32",
       "{ .reg .b32 t; shfl.sync.idx.b32 t, $1, $3, 31, -1; add.u32 t, t, $1; add.u32 $0, t, $2; }",
       "SHFL.IDX", _u32(lambda x, b, c: 2 * x + b), (1, 3, 5, 7), {"*": (("SHFL",), 1.0)}, mix="IADD3",
       claim="shfl", static="shfl.sync.idx.b32", warp_uniform=True),
    Op("shfl_bfly", "warp", "u32", "{ .reg .b32 t; shfl.sync.bfly.b32 t, $1, 1, 31, -1; add.u32 $0, t, $2; }",
       "SHFL.BFLY", _u32(lambda x, b, c: x + b), (1, 3, 5, 7), {"*": (("SHFL",), 1.0)}, mix="IADD3",
       claim="shfl", static="shfl.sync.bfly.b32", warp_uniform=True),
    Op("shfl_up", "warp", "u32", "{ .reg .b32 t; shfl.sync.up.b32 t, $1, 1, 0, -1; add.u32 $0, t, $2; }",
       "SHFL.UP", _u32(lambda x, b, c: x + b), (1, 3, 5, 7), {"*": (("SHFL",), 1.0)}, mix="IADD3",
       claim="shfl", static="shfl.sync.up.b32", warp_uniform=True),
    Op("shfl_down", "warp", "u32", "{ .reg .b32 t; shfl.sync.down.b32 t, $1, 1, 31, -1; add.u32 $0, t, $2; }",
       "SHFL.DOWN", _u32(lambda x, b, c: x + b), (1, 3, 5, 7), {"*": (("SHFL",), 1.0)}, mix="IADD3",
       claim="shfl", static="shfl.sync.down.b32", warp_uniform=True),
    Op("vote_ballot", "warp", "u32", "{ .reg .pred p; .reg .b32 t; setp.ne.u32 p, $1, 0; "
       "vote.sync.ballot.b32 t, p, -1; add.u32 t, t, $1; add.u32 $0, t, $2; }", "VOTE.ANY",
       _u32(lambda x, b, c: (M32 if x else 0) + x + b), (1, 3, 5, 7), {"*": (("VOTE",), 1.0)}, mix="ISETP + IADD3",
       static="vote.sync.ballot.b32", warp_uniform=True),
    Op("match_any", "warp", "u32",
       "{ .reg .b32 t; match.any.sync.b32 t, $1, -1; add.u32 t, t, $1; add.u32 $0, t, $2; }",
       "MATCH.ANY", _u32(lambda x, b, c: M32 + x + b), (1, 3, 5, 7), {"*": (("MATCH",), 1.0)}, mix="IADD3",
       static="match.any.sync.b32", warp_uniform=True),
    Op("redux_add", "warp", "u32", "{ .reg .b32 t; redux.sync.add.u32 t, $1, -1; add.u32 $0, t, $2; }",
       "REDUX.SUM", _u32(lambda x, b, c: 32 * x + b), (1, 3, 5, 7), {"*": (("REDUX",), 1.0)}, mix="IADD3",
       static="redux.sync.add.u32", warp_uniform=True),
)

BY_NAME = {op.name: op for op in OPS}
assert len(BY_NAME) == len(OPS), "duplicate op names"
MISSING = ("HADD2 bf16x2", "IMUL (mul.lo.u32: ptxas reassociates a chain of products)", "ISETP+SEL",
           "BFE/BFI (emulated since Volta)", "shared/global atomics", "BAR.SYNC", "IEEE div/sqrt sequences",
           "mma.sync / wgmma", "cvt to/from 8/16-bit integers")


def tag_of(op: Op) -> int:
    return TAG_BASE + OPS.index(op)


def op_of_tag(tag: int) -> Op | None:
    i = tag - TAG_BASE
    return OPS[i] if 0 <= i < len(OPS) else None


def numpy_type(op: Op):
    return {"f32": np.float32, "f64": np.float64, "u32": np.uint32, "u64": np.uint64}[op.kind]


def operand_values(op: Op) -> tuple:
    """(x0, b, c, d) as numpy scalars of the chain's type."""
    t = numpy_type(op)
    return tuple(t(v) for v in op.operands)


ROTATION = ((2, 3), (3, 4), (4, 2))   # which of (x, ., b, c, d)[k] a step reads: (b,c), (c,d), (d,b)


def host_chain(op: Op, trips: int, unroll: int) -> np.generic:
    """Final value of one chain after `trips` loop trips of `unroll` steps (the rotation restarts every trip)."""
    vals = operand_values(op)
    x = vals[0]
    ops = (None, None, *vals[1:])
    for _ in range(trips):
        for k in range(unroll):
            i, j = ROTATION[k % 3]
            x = op.host(x, ops[i], ops[j])
    return x


def matches(op: Op, got, want) -> bool:
    if op.exact:
        return bool(numpy_type(op)(got) == want) or (np.isnan(float(want)) if op.kind[0] == "f" else False)
    return bool(np.isclose(float(got), float(want), rtol=op.rtol, atol=op.rtol))


# --- the step as a kernel-callable --------------------------------------------------------------------------------

_STEPS: dict = {}

if SIMULATOR:
    _local = threading.local()

    def clock64():
        """Test clock: 4 per executed step of this (simulated) thread, +1 per read. Not a measurement."""
        _local.reads = getattr(_local, "reads", 0) + 1
        return 4 * getattr(_local, "steps", 0) + _local.reads

    def smid():
        return 0

    def step_function(op: Op):
        def step(x, b, c):
            _local.steps = getattr(_local, "steps", 0) + 1
            return op.host(x, b, c)
        return step

else:
    from probes.engine.intrinsics import clock64, smid  # noqa: F401  (re-exported for the generated kernels)

    def step_function(op: Op):
        """An intrinsic `step(x, b, c)` whose body is the op's PTX (volatile: never CSE'd, hoisted or removed)."""
        if op.name in _STEPS:
            return _STEPS[op.name]
        from llvmlite import ir
        from numba import types
        from numba.cuda.extending import intrinsic

        nb, llty, letter = {"f32": (types.float32, ir.FloatType(), "f"),
                            "f64": (types.float64, ir.DoubleType(), "d"),
                            "u32": (types.uint32, ir.IntType(32), "r"),
                            "u64": (types.uint64, ir.IntType(64), "l")}[op.kind]

        @intrinsic
        def step(typingctx, x, b, c):
            def codegen(context, builder, sig, args):
                asm = ir.InlineAsm(ir.FunctionType(llty, [llty] * 3), op.ptx,
                                   f"={letter},{letter},{letter},{letter}", side_effect=True)
                return builder.call(asm, list(args))
            return nb(nb, nb, nb), codegen

        _STEPS[op.name] = step
        return step
