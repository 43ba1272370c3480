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

Beyond single instructions: shared/global atomics and reductions (a step reads the u64 address of its chain's
memory word as $4; `memop` is then the host semantics, see `_memory_op`), bar.sync, the IEEE div/sqrt sequences
and emulated bfe/bfi (SASS key = the sequence's opcodes), and warp-wide mma.sync (latency through the accumulator).
`MISSING` lists what is not covered yet.
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
    results: int = 1                # results per lane per step as the Programming Guide counts them (f16x2: 2);
    #                                 mma: FLOP per lane (the throughput table is then FLOP/clk/SM)
    memory: str = ""                # "shared" / "global": the step reads $4, the u64 address of its chain's word
    contended: bool = False         # memory ops: all lanes of a warp on one word (else each lane its own word)
    memop: Callable | None = None   # memory ops: (old word, x, b, c) -> (new word, next x); replaces `host`
    mem_init: int = 0               # memory ops: the word's value before the launch
    chain: bool = True              # False: the op returns nothing (red): throughput only, no latency
    block_warps: int = 1            # warps in the latency launch (bar.sync needs several)

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


ATOM_WORD = 0x5EED5EED   # a memory word's value that the min / CAS chains keep (they never change it)


def _memory_op(space: str, fn: str, contended: bool) -> Op:
    """A shared/global atomic or reduction on the chain's word (each lane its own, or one per warp if contended).

    Contended lanes race, so every op is built so that lane order cannot change any returned value or the final
    word: atom.add adds the chain value 0 to a word holding 0; atom.min offers a value above the word; atom.cas
    swaps x for x (a no-op on success); red.add returns nothing, and its sum does not depend on order. The
    dependency still runs through the register the atom returns, so latency is atom -> atom."""
    opcode = "ATOMS" if space == "shared" else "ATOMG"
    if fn == "add":
        ptx, memop, x0, init = f"atom.{space}.add.u32 $0, [$4], $1;", lambda w, x, b, c: (w + x, w), 0, 0
    elif fn == "min":
        ptx, memop, x0, init = (f"atom.{space}.min.u32 $0, [$4], $1;", lambda w, x, b, c: (min(w, x), w),
                                0xFFFFFFF0, ATOM_WORD)
    elif fn == "cas":
        ptx, memop, x0, init = (f"atom.{space}.cas.b32 $0, [$4], $1, $1;",
                                lambda w, x, b, c: (x if w == x else w, w), 1, ATOM_WORD)
    else:   # red.add: no result; x passes through unchanged, the word collects b (c, d) per step
        ptx, memop, x0, init = (f"{{ red.{space}.add.u32 [$4], $2; mov.b32 $0, $1; }}",
                                lambda w, x, b, c: (w + b, x), 1, 0)
        opcode = "ATOMS" if space == "shared" else "RED"
    kind, what = ("red", "add") if fn == "red" else ("atom", fn)
    name = f"{kind}_{space}_{what}" + ("_contended" if contended else "")
    sass = f"{opcode}{'.E' if space == 'global' else ''}.{what.upper()}"
    bases = ("RED", "REDG") if opcode == "RED" else (opcode,)     # sm_90 spells the global reduction REDG
    # CAS takes compare and swap in a register pair: ptxas copies x into the pair (an IMAD.MOV in the chain)
    return Op(name, "atomic", "u32", ptx, sass, lambda x, b, c: x, (x0, 3, 5, 7), {"*": (bases, 1.0)},
              mix="IMAD.MOV" if fn == "cas" else "", static=f"{kind}.{space}.{what}", memory=space,
              contended=contended, memop=memop, mem_init=init, chain=fn != "red")


MEMORY_OPS = tuple(_memory_op(space, fn, contended) for space in ("shared", "global")
                   for fn in ("add", "min", "cas", "red") for contended in (False, True))



def _f32_bits(bits: int) -> float:
    """The float32 whose bit pattern is `bits` (mma operands travel as packed f16x2/bf16x2 in f32 registers)."""
    return float(np.array([bits], dtype=np.uint32).view(np.float32)[0])


def _mma(name: str, types_: str, shape: str, k: int, halves, a_bits: int, b_bits: int):
    """mma.sync through the accumulator: every lane holds the same A and B registers (constants, so ptxas builds
    the register quads once, outside the loop), so every element of A (and of B) is one of two values alternating
    along k; D[0] = x + (k/2) * (a_lo*b_lo + a_hi*b_hi) for packed 16-bit types, x + k * a * b for tf32 (one
    element per register). C's other three elements are zeros. Operands are small powers of two: every
    accumulation is exact, so the chain is checked bit for bit."""
    (alo, ahi), (blo, bhi) = halves(_f32_bits(a_bits)), halves(_f32_bits(b_bits))
    per_step = Fraction(k, 2) * (Fraction(alo) * Fraction(blo) + Fraction(ahi) * Fraction(bhi))

    def host(x, b, c):
        return np.float32(Fraction(float(x)) + per_step)
    ptx = (f"{{ .reg .b32 a, q; .reg .f32 z, d1, d2, d3; mov.b32 a, {a_bits:#x}; mov.b32 q, {b_bits:#x}; "
           "mov.f32 z, 0f00000000; "
           f"mma.sync.aligned.{shape}.row.col.f32.{types_}.{types_}.f32 {{$0, d1, d2, d3}}, {{a, a, a, a}}, "
           "{q, q}, {$1, z, z, z}; }")
    flop_per_lane = 16 * 8 * k * 2 // 32
    return Op(name, "mma", "f32", ptx, "HMMA." + shape[1:].replace("n", "").replace("k", "") + ".F32"
              + (".BF16" if types_ == "bf16" else ".TF32" if types_ == "tf32" else ""), host,
              (1.0, 3.0, 5.0, 7.0), {"*": (("HMMA",), 1.0)}, mix="CS2R + IMAD.MOV (C[1..3] = 0)",
              static=f"mma.sync.{shape}.f32.{types_}", warp_uniform=True, results=flop_per_lane)


def _halves_f16(v) -> tuple:
    return tuple(float(h) for h in _halves(np.array([v], dtype=np.float32).view(np.uint32)[0]))


def _halves_bf16(v) -> tuple:
    return tuple(float(h) for h in _bf16_halves(np.array([v], dtype=np.float32).view(np.uint32)[0]))


def _tf32_pair(v) -> tuple:
    return float(v), float(v)   # one tf32 element per register: all k elements equal, i.e. two equal "halves"


def _sqrt_rn(x, b, c):
    return np.float32(np.sqrt(np.float32(x))) + np.float32(b)     # numpy's sqrt is IEEE (correctly rounded)



def _bfe_u32(x: int, pos: int, length: int) -> int:
    """bfe.u32: `length` bits of x from `pos` (both taken mod 256), zero-extended; bits past 31 read as 0."""
    pos, length = pos & 0xFF, length & 0xFF
    return (x >> pos) & ((1 << length) - 1) if pos < 32 else 0


def _bfi_b32(insert: int, base: int, pos: int, length: int) -> int:
    """bfi.b32: the low `length` bits of `insert` replace bits pos.. of `base` (bits past 31 are dropped)."""
    pos, length = pos & 0xFF, length & 0xFF
    mask = (((1 << length) - 1) << pos) & M32 if pos < 32 else 0
    return (base & ~mask | (insert << pos) & mask) & M32


def _bf16x2_add(x, b, c):
    hx, hb = _bf16_halves(x), _bf16_halves(b)
    out = [round_bf16(Fraction(float(hx[i])) + Fraction(float(hb[i]))) for i in range(2)]
    bits = [int(np.array([h], dtype=np.float32).view(np.uint32)[0]) >> 16 for h in out]
    return np.uint32(bits[1] << 16 | bits[0])


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
       {"*": (("IMNMX",), 1.0), "sm_90": (("VIMNMX3", "IMNMX", "VIMNMX"), 0.5),
        "sm_100": (("VIMNMX3", "IMNMX", "VIMNMX"), 0.5)}, claim="int_compare",
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
       (1, 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB), {"*": (("IMAD", "IADD3"), 4.0)},
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
    # integer ops whose PTX has no single SASS instruction (or shares one with another op). bfe/bfi with register
    # position/length are emulated since Volta: 2 PRMT unpack position and length (operand-only: ptxas shares them
    # between chains with the same operands, so they are not counted), then SHF+SGXT (bfe) or BMSK+SHF+LOP3 (bfi)
    # imul squares x: a chain x*b*c is reassociated by ptxas (b*c hoisted, half the IMADs); since Volta mul.lo is IMAD
    Op("imul", "int32", "u32", "mul.lo.u32 $0, $1, $1;", "IMAD", _u32(lambda x, b, c: x * x),
       (0x9E3779B9, 3, 5, 7), {"*": (("IMAD",), 1.0)}, claim="int_mad", static="mul.lo.s32"),
    Op("isetp_sel", "int32", "u32", "{ .reg .pred p; setp.lt.u32 p, $1, $2; selp.b32 $0, $2, $3, p; }",
       "ISETP+SEL", _u32(lambda x, b, c: b if x < b else c), (4, 5, 9, 2),
       {"*": (("ISETP",), 1.0)}, mix="SEL", claim="int_compare", static="setp.lt.u32"),
    Op("bfe", "bits", "u32", "{ .reg .b32 t; bfe.u32 t, $1, $2, $3; add.u32 $0, t, $1; }",
       "PRMT+SHF+SGXT", _u32(lambda x, b, c: _bfe_u32(x, b, c) + x), (0x12345678, 4, 12, 8),
       {"*": (("SHF", "SGXT"), 2.0)}, mix="IMAD.IADD", claim="bfe_bfi", static="bfe.u32"),
    Op("bfi", "bits", "u32", "bfi.b32 $0, $2, $1, $3, 5;", "PRMT+BMSK+SHF+LOP3",
       _u32(lambda x, b, c: _bfi_b32(b, x, c, 5)), (0x12345678, 3, 21, 9),
       {"*": (("BMSK", "SHF", "LOP3"), 3.0)}, claim="bfe_bfi", static="bfi.b32"),
    Op("hadd2_bf16", "fp16", "u32", "add.rn.bf16x2 $0, $1, $2;", "HADD2.BF16_V2", _bf16x2_add,
       (_bf2(1.0, 2.0), _bf2(0.125, -0.25), _bf2(-0.0625, 0.5), _bf2(0.25, 0.125)),
       {"*": (("HADD2", "HFMA2"), 1.0)}, claim="fp16", static="add.rn.bf16x2", results=2, min_cc=(9, 0)),
    *MEMORY_OPS,
    # barrier (+ an add, so the stop clock has a chain value to wait for): cycles per bar.sync of a block of
    # `block_warps` warps in the latency probe; in the throughput probe the block is the warps_per_sm sweep's block
    Op("bar_sync", "sync", "u32", "{ bar.sync 0; add.u32 $0, $1, $2; }", "BAR.SYNC",
       _u32(lambda x, b, c: x + b), (1, 3, 5, 7), {"*": (("BAR",), 1.0)}, mix="IADD3", static="bar.sync",
       warp_uniform=True, block_warps=4),
    # IEEE sequences as ptxas emits them (fast path + FCHK/range test and a call to the slow path, never taken here)
    # (SASS key = the sequence's opcodes; the count per step is of the listed ones: FCHK + MUFU.RCP + 5 FFMA;
    # MUFU.RSQ + 2 FMUL + 2 FFMA. The BSSY/BRA/BSYNC around the slow-path CALL are in each step too.)
    Op("fdiv_rn", "fp32-seq", "f32", "div.rn.f32 $0, $1, $2;", "FCHK+MUFU.RCP+FFMA",
       lambda x, b, c: np.float32(x) / np.float32(b), (1.0, 1.0009765625, 0.9990234375, 1.000244140625),
       {"*": (("FCHK", "MUFU", "FFMA"), 7.0)}, static="div.rn.f32"),
    Op("fsqrt_rn", "fp32-seq", "f32", "{ .reg .f32 t; sqrt.rn.f32 t, $1; add.f32 $0, t, $2; }",
       "MUFU.RSQ+FMUL+FFMA", _sqrt_rn, (1.0, 1.0, 1.0, 1.0), {"*": (("MUFU", "FMUL", "FFMA"), 5.0)},
       mix="FADD", static="sqrt.rn.f32"),
    # tensor cores: warp-wide mma.sync, latency through the accumulator, throughput in FLOP/clk/SM (`results`)
    _mma("mma_f16", "f16", "m16n8k16", 16, _halves_f16, _h2(0.5, 0.25), _h2(0.125, 1.0)),
    _mma("mma_bf16", "bf16", "m16n8k16", 16, _halves_bf16, _bf2(0.5, 0.25), _bf2(0.125, 1.0)),
    _mma("mma_tf32", "tf32", "m16n8k8", 8, _tf32_pair, 0x3F000000, 0x3E000000),   # tf32 0.5, 0.125
)

BY_NAME = {op.name: op for op in OPS}
assert len(BY_NAME) == len(OPS), "duplicate op names"
MISSING = ("wgmma (sm_90a) and mma.sync int8/fp8/f64 shapes", "cvt to/from 8/16-bit integers",
           "atomics other than 32-bit add/min/CAS/red.add (exch, and/or/xor, inc, 64-bit, float)",
           "add.rn.bf16x2 before sm_90 (no such PTX: bf16 add is fma.rn.bf16x2 there, op hfma2_bf16)")

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
    return host_final(op, trips, unroll)[0]


def host_final(op: Op, trips: int, unroll: int, sharers: int = 1) -> tuple:
    """(final chain value, final memory word) of one chain; the word is None for register ops.

    Memory ops: `sharers` lanes (32 when contended) apply each step to the same word with the same x. Lane order
    does not change the result because every memory op here is built so that it does not (see `_memory_op`)."""
    vals = operand_values(op)
    x = vals[0]
    ops = (None, None, *vals[1:])
    word = op.mem_init if op.memop else None
    for _ in range(trips):
        for k in range(unroll):
            i, j = ROTATION[k % 3]
            if op.memop is None:
                x = op.host(x, ops[i], ops[j])
                continue
            before = x
            word, x = op.memop(word, int(before), int(ops[i]), int(ops[j]))
            for _ in range(sharers - 1):
                word, _ = op.memop(word, int(before), int(ops[i]), int(ops[j]))
            word, x = word & M32, np.uint32(x & M32)
    return x, word


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

    _MEMORY_LOCK = threading.Lock()   # simulated threads are Python threads: make each memory op atomic

    def step_function(op: Op):
        if op.memop is not None:
            def memory_step(x, b, c, word):
                _local.steps = getattr(_local, "steps", 0) + 1
                arr, i = word
                with _MEMORY_LOCK:
                    new, nxt = op.memop(int(arr[i]), int(x), int(b), int(c))
                    arr[i] = new & M32
                return np.uint32(nxt & M32)
            return memory_step

        def step(x, b, c):
            _local.steps = getattr(_local, "steps", 0) + 1
            if op.group == "sync":
                threading.current_thread().syncthreads()   # the simulator's block barrier (BlockThread)
            return op.host(x, b, c)
        return step

    def word_address(space: str):
        def address(arr, i):
            return arr, i          # the simulated step operates on the array element itself
        return address

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

        if op.memory:
            @intrinsic
            def step(typingctx, x, b, c, address):
                def codegen(context, builder, sig, args):
                    asm = ir.InlineAsm(ir.FunctionType(llty, [llty] * 3 + [ir.IntType(64)]), op.ptx,
                                       f"={letter},{letter},{letter},{letter},l", side_effect=True)
                    return builder.call(asm, list(args))
                return nb(nb, nb, nb, types.uint64), codegen
        else:
            @intrinsic
            def step(typingctx, x, b, c):
                def codegen(context, builder, sig, args):
                    asm = ir.InlineAsm(ir.FunctionType(llty, [llty] * 3), op.ptx,
                                       f"={letter},{letter},{letter},{letter}", side_effect=True)
                    return builder.call(asm, list(args))
                return nb(nb, nb, nb), codegen

        _STEPS[op.name] = step
        return step

    _ADDRESSES: dict = {}

    def word_address(space: str):
        """An intrinsic `address(arr, i)`: the `space` ("shared"/"global") address of arr[i], as u64 for $4."""
        if space in _ADDRESSES:
            return _ADDRESSES[space]
        from llvmlite import ir
        from numba import types
        from numba.cuda.extending import intrinsic

        from probes.engine.intrinsics import element_address

        @intrinsic
        def address(typingctx, arr, index):
            def codegen(context, builder, sig, args):
                generic = element_address(context, builder, sig.args[0], args[0], sig.args[1], args[1])
                asm = ir.InlineAsm(ir.FunctionType(ir.IntType(64), [ir.IntType(64)]),
                                   f"cvta.to.{space}.u64 $0, $1;", "=l,l")
                return builder.call(asm, [generic])
            return types.uint64(arr, index), codegen

        _ADDRESSES[space] = address
        return address
