"""The instruction table: one row per PTX instruction the project schedules or measures, keyed by its variant.

A row's `key` names a variant of probes/static/variants.py: the PTX template with its operand types, the base both
generators read. The row adds what each generator needs:

- `link` (an `InstructionSpec`): one link of a dependent chain for the static instruction atlas
  (probes/static/instructions.py builds its kernels; reports/static/instructions-sass.csv). The rows with a link,
  in table order, are that atlas.
- `ops` (`Op`s): chain steps for the dynamic probes `instructions.latency` / `instructions.throughput`
  (probes/catalogue/instructions.py generates their kernels): inline PTX, the host model the GPU's result is checked
  against, operands, the SASS the step must lower to per architecture, and the Programming Guide claim key
  (probes/data/programming_guide_throughput.csv). The rows with ops, in table order, are the probes' `op` axis.

Scheduled vs measured is joined by construction: an op's `variant` is its row's key, results store it, and the
analysis reads ptxas's schedule of exactly that variant (probes.static.variant_atlas.scheduled). A row whose PTX
has no variant in the grammar gives its own `template` (the grammar's notation) and joins the variant table, so a
new instruction is one row of this file. No CUDA here: the kernel-callable form of a step is
probes/kernel/chain_step.py.

Host models use IEEE float32/float64/float16 and uint32/uint64 semantics with correct rounding (fused ops are rounded
once, from the exact rational value), so exact ops are checked bit for bit; the MUFU approximations are checked within
a tolerance (their chains contract to a fixed point, see `Op.exact`). `Op.expect[arch]` is the SASS a step must lower
to: (base opcodes of the op, instances per step). Consecutive steps use rotating operands (b, c), (c, d), (d, b) so
ptxas cannot merge two steps into one LOP3/IADD3; where it merges anyway (two 32-bit adds into one IADD3; two mins into
one VIMNMX3 on sm_90) the count per step says so. Memory ops (shared/global atomics and reductions) read the u64
address of their chain's word as $4; `memop` is then the host semantics (see `_memory_op`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

M32, M64 = (1 << 32) - 1, (1 << 64) - 1

CHAIN_LINKS = 16
INDEPENDENT_CHAINS = 8
INDEPENDENT_LINKS = 4
# Emulated sequences (tens of SASS instructions per link) get half as many links: the schedule repeats itself
# after a few links, and they dominate the assembler's and disassembler's time.
SEQUENCE_CHAIN_LINKS = 8
SEQUENCE_INDEPENDENT_LINKS = 2


# --- exact host arithmetic --------------------------------------------------------------------------------------

# --- exact host arithmetic --------------------------------------------------------------------------------------


def round_exact(value: Fraction, dtype) -> np.generic:
    """The IEEE round-to-nearest-even `dtype` value of an exact rational (one rounding, as a fused op does)."""
    first = dtype(float(value))  # float(Fraction) is correctly rounded to float64; to dtype may round twice
    if not np.isfinite(first):
        return first
    best = None
    for cand in (first, np.nextafter(first, dtype(np.inf)), np.nextafter(first, dtype(-np.inf))):
        if not np.isfinite(cand):
            continue
        err = abs(Fraction(float(cand)) - value)
        bits = int(np.array([cand]).view({2: np.uint16, 4: np.uint32, 8: np.uint64}[np.dtype(dtype).itemsize])[0])
        key = (err, bits & 1)  # nearest, ties to even
        if best is None or key < best[0]:
            best = (key, cand)
    return dtype(best[1])


def _fma(dtype):
    def fma(x, b, c):
        return round_exact(Fraction(float(x)) * Fraction(float(b)) + Fraction(float(c)), dtype)

    return fma


def halves(v) -> np.ndarray:
    return np.array([int(v) & M32], dtype=np.uint32).view(np.float16)


def pack(h) -> np.uint32:
    return np.array(h, dtype=np.float16).view(np.uint32)[0]


def _f16x2(fn):
    def step(x, b, c):
        hx, hb, hc = halves(x), halves(b), halves(c)
        return pack([fn(hx[i], hb[i], hc[i]) for i in range(2)])

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
    return np.float32(float(sign * round(mag / scale) * scale))  # round(Fraction): ties to even


def bf16_halves(v) -> list:
    v = int(v) & M32
    return [np.array([(v >> s & 0xFFFF) << 16], dtype=np.uint32).view(np.float32)[0] for s in (0, 16)]


def _bf16x2_fma(x, b, c):
    hx, hb, hc = bf16_halves(x), bf16_halves(b), bf16_halves(c)
    out = [round_bf16(Fraction(float(hx[i])) * Fraction(float(hb[i])) + Fraction(float(hc[i]))) for i in range(2)]
    bits = [int(np.array([h], dtype=np.float32).view(np.uint32)[0]) >> 16 for h in out]
    return np.uint32(bits[1] << 16 | bits[0])


def bf2(a: float, b: float) -> int:
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
    if np.isnan(f):
        return 0
    return int(max(-(2**31), min(2**31 - 1, int(f))))


@dataclass(frozen=True)
class InstructionSpec:
    """A static atlas chain link (the `link` of a row; probes/static/instructions.py builds its kernels).

    name:   stable id, PTX-like ('fma.rn.f32', 'cvt f32<->f16').
    group:  family for the report ('fp32', 'mufu', 'mma', ...).
    link:   PTX lines of one link; placeholders below.
    reg:    width of the chain state and of the operand pool ('b32' or 'b64').
    state:  registers per chain state (an MMA accumulator has 2-8).
    focus:  SASS base opcodes whose links and issue interval are reported; () = every opcode of the lowering.
    setup:  PTX run once per chain after the loads (e.g. turn loaded data into a shared-memory address).
    shared: bytes of shared memory the kernel declares.
    sequence: a known long emulation; built with fewer links.

    Placeholders: {x} (= {x0}) ... {x7} chain state; {b} {c} {e} rotating operands; {o0}..{o7} fixed operands;
    {t} {t2} temporaries of `reg` width; {r} b32, {h} b16, {q} b64 temporaries; {p} predicate; {lane} 1/2/4/8/16;
    {imm} small odd constant; {lut} a LOP3 table; {gaddr} per-chain global address; {saddr} per-chain shared address.
    """

    name: str
    group: str
    link: str
    reg: str = "b32"
    state: int = 1
    focus: tuple[str, ...] = ()
    setup: str = ""
    shared: int = 0
    sequence: bool = False

    @property
    def chain_links(self) -> int:
        return SEQUENCE_CHAIN_LINKS if self.sequence else CHAIN_LINKS

    @property
    def independent_links(self) -> int:
        return SEQUENCE_INDEPENDENT_LINKS if self.sequence else INDEPENDENT_LINKS

    @property
    def ptx(self) -> str:
        """The PTX of one link with placeholders as written (what the CSV shows)."""
        return " ".join(line.strip() for line in self.link.strip().splitlines())


_MMA_OPCODES = ("HMMA", "IMMA", "QMMA", "DMMA", "BMMA", "OMMA")


def _mma_link(
    shape: str, types: str, a: int, b: int, cd: int, reg: str = "b32", extra: str = "", a_from_acc: bool = False
) -> Row:
    """mma.sync with the accumulator as the chain: D of one link is C of the next.

    a_from_acc: also feed the accumulator into A. Where the MMA is emulated (FP8 on sm_90), ptxas otherwise
    computes the loop-invariant A*B once and turns the chain into FADDs.
    """
    acc = "{{" + ",".join(f"{{x{i}}}" for i in range(cd)) + "}}"  # {{ }}: literal braces
    ra = "{{" + ",".join(f"{{{'x' if a_from_acc and i == 0 else 'o'}{i}}}" for i in range(a)) + "}}"
    rb = "{{" + ",".join(f"{{o{a + i}}}" for i in range(b)) + "}}"
    op = f"mma.sync.aligned.{shape}.row.col{extra}.{types}"
    name = f"mma.{shape}.{types.replace('.', '_')}{extra.replace('.', '_')}"
    return Row(
        op, InstructionSpec(name, "mma", f"{op} {acc}, {ra}, {rb}, {acc};", reg=reg, state=cd, focus=_MMA_OPCODES)
    )


@dataclass(frozen=True)
class Op:
    """A dynamic probe step (the `ops` of a row): inline PTX, host model, operands, expected SASS, claim key."""

    name: str  # stable lower-case id: the probes' `op` axis value
    group: str  # fp32, fp64, fp16, int32, int64, bits, mufu, cvt, warp
    kind: str  # register type of x, b, c: f32 f64 u32 u64 (f16x2 is packed in u32)
    ptx: str  # one step: $0 = next x, $1 = x, $2 = b, $3 = c ($4: memory word address)
    sass: str  # headline SASS opcode measured (a label; `expect` is what is checked)
    host: Callable  # (x, b, c) -> next x, numpy scalar of the chain's type
    operands: tuple  # (x0, b, c, d) as Python numbers (bit patterns for f16x2)
    expect: dict = field(default_factory=dict)  # arch -> ((base opcodes...), SASS per step [or a tuple of
    #                                              accepted values]); "*" is the default
    exact: bool = True  # False: approximate hardware op, checked within `rtol`
    rtol: float = 0.0
    mix: str = ""  # SASS of a helper op inside the step (cycles per step include it)
    claim: str = ""  # row key in probes/data/programming_guide_throughput.csv
    variant: str = ""  # the key of its row: a variant of probes/static/variants.py (set by the row)
    min_cc: tuple = (8, 0)
    warp_uniform: bool = False  # the step reads other lanes: needs a full warp with equal values
    results: int = 1  # results per lane per step as the Programming Guide counts them (f16x2: 2);
    #                                 mma: FLOP per lane (the throughput table is then FLOP/clk/SM)
    memory: str = ""  # "shared" / "global": the step reads $4, the u64 address of its chain's word
    contended: bool = False  # memory ops: all lanes of a warp on one word (else each lane its own word)
    memop: Callable | None = None  # memory ops: (old word, x, b, c) -> (new word, next x); replaces `host`
    mem_init: int = 0  # memory ops: the word's value before the launch
    chain: bool = True  # False: the op returns nothing (red): throughput only, no latency
    block_warps: int = 1  # warps in the latency launch (bar.sync needs several)

    def expected(self, arch: str) -> tuple[tuple[str, ...], float]:
        return self.expect.get(arch) or self.expect["*"]


def _mufu(name: str, fn, x0: float, b: float, extra: tuple[str, ...] = ()) -> Op:
    return Op(
        name,
        "mufu",
        "f32",
        f"{{ .reg .f32 t; {name}.approx.ftz.f32 t, $1; add.f32 $0, t, $2; }}",
        f"MUFU.{name.upper()[:3]}" if name != "rsqrt" else "MUFU.RSQ",
        _f32(fn),
        (x0, b, b, b),
        {"*": (("MUFU",), 1.0)},
        exact=False,
        rtol=1e-4,
        mix=" + ".join(("FADD",) + extra),
        claim="mufu",
    )


def h2(a: float, b: float) -> int:
    return int(pack([a, b]))


ATOM_WORD = 0x5EED5EED  # a memory word's value that the min / CAS chains keep (they never change it)


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
        ptx, memop, x0, init = (
            f"atom.{space}.min.u32 $0, [$4], $1;",
            lambda w, x, b, c: (min(w, x), w),
            0xFFFFFFF0,
            ATOM_WORD,
        )
    elif fn == "cas":
        ptx, memop, x0, init = (
            f"atom.{space}.cas.b32 $0, [$4], $1, $1;",
            lambda w, x, b, c: (x if w == x else w, w),
            1,
            ATOM_WORD,
        )
    else:  # red.add: no result; x passes through unchanged, the word collects b (c, d) per step
        ptx, memop, x0, init = (
            f"{{ red.{space}.add.u32 [$4], $2; mov.b32 $0, $1; }}",
            lambda w, x, b, c: (w + b, x),
            1,
            0,
        )
        opcode = "ATOMS" if space == "shared" else "RED"
    kind, what = ("red", "add") if fn == "red" else ("atom", fn)
    name = f"{kind}_{space}_{what}" + ("_contended" if contended else "")
    sass = f"{opcode}{'.E' if space == 'global' else ''}.{what.upper()}"
    bases = ("RED", "REDG") if opcode == "RED" else (opcode,)  # sm_90 spells the global reduction REDG
    # CAS takes compare and swap in a register pair: ptxas copies x into the pair (an IMAD.MOV in the chain)
    return Op(
        name,
        "atomic",
        "u32",
        ptx,
        sass,
        lambda x, b, c: x,
        (x0, 3, 5, 7),
        {"*": (bases, 1.0)},
        mix="IMAD.MOV" if fn == "cas" else "",
        memory=space,
        contended=contended,
        memop=memop,
        mem_init=init,
        chain=fn != "red",
    )


def _f32_bits(bits: int) -> float:
    """The float32 whose bit pattern is `bits` (mma operands travel as packed f16x2/bf16x2 in f32 registers)."""
    return float(np.array([bits], dtype=np.uint32).view(np.float32)[0])


def _mma_op(name: str, types_: str, shape: str, k: int, halves, a_bits: int, b_bits: int):
    """mma.sync through the accumulator: every lane holds the same A and B registers (constants, so ptxas builds
    the register quads once, outside the loop), so every element of A (and of B) is one of two values alternating
    along k; D[0] = x + (k/2) * (a_lo*b_lo + a_hi*b_hi) for packed 16-bit types, x + k * a * b for tf32 (one
    element per register). C's other three elements are zeros. Operands are small powers of two: every
    accumulation is exact, so the chain is checked bit for bit."""
    (alo, ahi), (blo, bhi) = halves(_f32_bits(a_bits)), halves(_f32_bits(b_bits))
    per_step = Fraction(k, 2) * (Fraction(alo) * Fraction(blo) + Fraction(ahi) * Fraction(bhi))

    def host(x, b, c):
        return np.float32(Fraction(float(x)) + per_step)

    ptx = (
        f"{{ .reg .b32 a, q; .reg .f32 z, d1, d2, d3; mov.b32 a, {a_bits:#x}; mov.b32 q, {b_bits:#x}; "
        "mov.f32 z, 0f00000000; "
        f"mma.sync.aligned.{shape}.row.col.f32.{types_}.{types_}.f32 {{$0, d1, d2, d3}}, {{a, a, a, a}}, "
        "{q, q}, {$1, z, z, z}; }"
    )
    flop_per_lane = 16 * 8 * k * 2 // 32
    return Op(
        name,
        "mma",
        "f32",
        ptx,
        "HMMA."
        + shape[1:].replace("n", "").replace("k", "")
        + ".F32"
        + (".BF16" if types_ == "bf16" else ".TF32" if types_ == "tf32" else ""),
        host,
        (1.0, 3.0, 5.0, 7.0),
        {"*": (("HMMA",), 1.0)},
        mix="CS2R + IMAD.MOV (C[1..3] = 0)",
        warp_uniform=True,
        results=flop_per_lane,
    )


def _halves_f16(v) -> tuple:
    return tuple(float(h) for h in halves(np.array([v], dtype=np.float32).view(np.uint32)[0]))


def _halves_bf16(v) -> tuple:
    return tuple(float(h) for h in bf16_halves(np.array([v], dtype=np.float32).view(np.uint32)[0]))


def _tf32_pair(v) -> tuple:
    return float(v), float(v)  # one tf32 element per register: all k elements equal, i.e. two equal "halves"


def _sqrt_rn(x, b, c):
    return np.float32(np.sqrt(np.float32(x))) + np.float32(b)  # numpy's sqrt is IEEE (correctly rounded)


def bfe_u32(x: int, pos: int, length: int) -> int:
    """bfe.u32: `length` bits of x from `pos` (both taken mod 256), zero-extended; bits past 31 read as 0."""
    pos, length = pos & 0xFF, length & 0xFF
    return (x >> pos) & ((1 << length) - 1) if pos < 32 else 0


def bfi_b32(insert: int, base: int, pos: int, length: int) -> int:
    """bfi.b32: the low `length` bits of `insert` replace bits pos.. of `base` (bits past 31 are dropped)."""
    pos, length = pos & 0xFF, length & 0xFF
    mask = (((1 << length) - 1) << pos) & M32 if pos < 32 else 0
    return (base & ~mask | (insert << pos) & mask) & M32


def _bf16x2_add(x, b, c):
    hx, hb = bf16_halves(x), bf16_halves(b)
    out = [round_bf16(Fraction(float(hx[i])) + Fraction(float(hb[i]))) for i in range(2)]
    bits = [int(np.array([h], dtype=np.float32).view(np.uint32)[0]) >> 16 for h in out]
    return np.uint32(bits[1] << 16 | bits[0])


# --- host model of a chain -----------------------------------------------------------------------------------


def numpy_type(op: Op):
    return {"f32": np.float32, "f64": np.float64, "u32": np.uint32, "u64": np.uint64}[op.kind]


def operand_values(op: Op) -> tuple:
    """(x0, b, c, d) as numpy scalars of the chain's type."""
    t = numpy_type(op)
    return tuple(t(v) for v in op.operands)


ROTATION = ((2, 3), (3, 4), (4, 2))  # which of (x, ., b, c, d)[k] a step reads: (b,c), (c,d), (d,b)


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


# --- the table ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One instruction: its variant key and what each generator reads (see the module docstring)."""

    key: str  # a variant name in probes/static/variants.py (the join key)
    link: InstructionSpec | None = None  # static instruction atlas entry (None: not in that atlas)
    ops: tuple[Op, ...] = ()  # dynamic probe steps; each op's `variant` is set to `key`
    template: str = ""  # the variant's PTX template where the grammar has none
    group: str = ""  # its group in the variant table (with `template`)

    def __post_init__(self):
        object.__setattr__(self, "ops", tuple(dataclasses.replace(op, variant=self.key) for op in self.ops))


def _a(key: str, group: str, link: str, name: str = "", ops=(), **kw) -> Row:
    """A row with a static atlas link (named `name` in the atlas where that is not the key) and optional ops."""
    return Row(key, InstructionSpec(name or key, group, link, **kw), tuple(ops))


def _d(key: str, *ops: Op) -> Row:
    """A row with dynamic ops only."""
    return Row(key, None, ops)


_MUFU_MIX = "add.f32 {x}, {t}, {b};"  # rcp(rcp x) and friends fold; a per-thread add keeps every link live
# the dynamic MUFU steps (MUFU + FADD: the add keeps the chain from folding and contracts it to a fixed point):
# host function, x0, b, extra SASS in the step
_MUFU_OPS = {
    "rcp": (lambda v: 1.0 / v, 1.0, 1.0),  # x = 1/x + 1 -> golden ratio
    "rsqrt": (lambda v: v**-0.5, 2.0, 0.5),  # x = x^-1/2 + 0.5 -> ~1.4
    "sqrt": (lambda v: v**0.5, 1.0, 1.0),  # x = sqrt(x) + 1 -> ~2.618
    "ex2": (lambda v: 2.0**v, 0.0, -2.0),  # x = 2^x - 2 -> ~-1.69
    "lg2": (lambda v: np.log2(v), 3.0, 2.0),  # x = log2(x) + 2 -> 4
    "sin": (lambda v: np.sin(v), 1.0, 1.0, ("FMUL.RZ",)),  # x = sin(x) + 1 -> ~1.93
    "cos": (lambda v: np.cos(v), 1.0, 0.0, ("FMUL.RZ",)),  # x = cos(x) -> 0.739
}

TABLE: tuple[Row, ...] = (
    # FP32
    _a(
        "add.rn.f32",
        "fp32",
        "add.rn.f32 {x}, {x}, {b};",
        ops=[
            Op(
                "fadd",
                "fp32",
                "f32",
                "add.rn.f32 $0, $1, $2;",
                "FADD",
                lambda x, b, c: np.float32(x) + np.float32(b),
                (1.0, 0.375, -0.25, 0.125),
                {"*": (("FADD",), 1.0)},
                claim="fp32",
            )
        ],
    ),
    _a(
        "mul.rn.f32",
        "fp32",
        "mul.rn.f32 {x}, {x}, {b};",
        ops=[
            Op(
                "fmul",
                "fp32",
                "f32",
                "mul.rn.f32 $0, $1, $2;",
                "FMUL",
                lambda x, b, c: np.float32(x) * np.float32(b),
                (1.0, 1.0009765625, 0.9990234375, 1.000244140625),
                {"*": (("FMUL",), 1.0)},
                claim="fp32",
            )
        ],
    ),
    _a(
        "fma.rn.f32",
        "fp32",
        "fma.rn.f32 {x}, {x}, {b}, {c};",
        ops=[
            Op(
                "ffma",
                "fp32",
                "f32",
                "fma.rn.f32 $0, $1, $2, $3;",
                "FFMA",
                _fma(np.float32),
                (1.0, 0.999, 0.001, 0.5),
                {"*": (("FFMA",), 1.0)},
                claim="fp32",
            )
        ],
    ),
    _a("min.f32", "fp32", "min.f32 {x}, {x}, {b};"),
    _a("max.f32", "fp32", "max.f32 {x}, {x}, {b};"),
    _a("fma.rn.ftz.sat.f32", "fp32", "fma.rn.ftz.sat.f32 {x}, {x}, {b}, {c};"),
    # FP16x2 / BF16x2 (packed in 32-bit registers); ptxas alternates HFMA2 and HFMA2.MMA (two pipes), both count
    _a(
        "add.rn.f16x2",
        "fp16",
        "add.rn.f16x2 {x}, {x}, {b};",
        ops=[
            Op(
                "hadd2",
                "fp16",
                "u32",
                "add.rn.f16x2 $0, $1, $2;",
                "HADD2",
                _f16x2(lambda x, b, c: round_exact(Fraction(float(x)) + Fraction(float(b)), np.float16)),
                (h2(1.0, 2.0), h2(0.125, -0.25), h2(-0.0625, 0.5), h2(0.25, 0.125)),
                {"*": (("HADD2", "HFMA2"), 1.0)},
                claim="fp16",
                results=2,
            )
        ],
    ),
    _a("mul.rn.f16x2", "fp16", "mul.rn.f16x2 {x}, {x}, {b};"),
    _a(
        "fma.rn.f16x2",
        "fp16",
        "fma.rn.f16x2 {x}, {x}, {b}, {c};",
        ops=[
            Op(
                "hfma2",
                "fp16",
                "u32",
                "fma.rn.f16x2 $0, $1, $2, $3;",
                "HFMA2",
                _f16x2(_fma(np.float16)),
                (h2(1.0, 2.0), h2(0.99, 0.5), h2(0.01, 0.75), h2(0.5, 0.25)),
                {"*": (("HFMA2",), 1.0)},
                claim="fp16",
                results=2,
            )
        ],
    ),
    _a(
        "add.rn.bf16x2",
        "bf16",
        "add.rn.bf16x2 {x}, {x}, {b};",
        ops=[
            Op(
                "hadd2_bf16",
                "fp16",
                "u32",
                "add.rn.bf16x2 $0, $1, $2;",
                "HADD2.BF16_V2",
                _bf16x2_add,
                (bf2(1.0, 2.0), bf2(0.125, -0.25), bf2(-0.0625, 0.5), bf2(0.25, 0.125)),
                {"*": (("HADD2", "HFMA2"), 1.0)},
                claim="fp16",
                results=2,
                min_cc=(9, 0),
            )
        ],
    ),
    _a("mul.rn.bf16x2", "bf16", "mul.rn.bf16x2 {x}, {x}, {b};"),
    _a(
        "fma.rn.bf16x2",
        "bf16",
        "fma.rn.bf16x2 {x}, {x}, {b}, {c};",
        ops=[
            Op(
                "hfma2_bf16",
                "fp16",
                "u32",
                "fma.rn.bf16x2 $0, $1, $2, $3;",
                "HFMA2.BF16_V2",
                _bf16x2_fma,
                (bf2(1.0, 2.0), bf2(0.99, 0.5), bf2(0.01, 0.75), bf2(0.5, 0.25)),
                {"*": (("HFMA2",), 1.0)},
                claim="fp16",
                results=2,
            )
        ],
    ),
    # FP64
    _a(
        "add.rn.f64",
        "fp64",
        "add.rn.f64 {x}, {x}, {b};",
        reg="b64",
        ops=[
            Op(
                "dadd",
                "fp64",
                "f64",
                "add.rn.f64 $0, $1, $2;",
                "DADD",
                lambda x, b, c: np.float64(x) + np.float64(b),
                (1.0, 0.375, -0.25, 0.125),
                {"*": (("DADD",), 1.0)},
                claim="fp64",
            )
        ],
    ),
    _a("mul.rn.f64", "fp64", "mul.rn.f64 {x}, {x}, {b};", reg="b64"),
    _a(
        "fma.rn.f64",
        "fp64",
        "fma.rn.f64 {x}, {x}, {b}, {c};",
        reg="b64",
        ops=[
            Op(
                "dfma",
                "fp64",
                "f64",
                "fma.rn.f64 $0, $1, $2, $3;",
                "DFMA",
                _fma(np.float64),
                (1.0, 0.999, 0.001, 0.5),
                {"*": (("DFMA",), 1.0)},
                claim="fp64",
            )
        ],
    ),
    # INT32 (the dynamic ops run the unsigned forms: their own variants, scheduled on their own)
    _a("add.s32", "int32", "add.s32 {x}, {x}, {b};"),
    _d(
        "add.u32",
        Op(
            "iadd3",
            "int32",
            "u32",
            "add.u32 $0, $1, $2;",
            "IADD3",
            _u32(lambda x, b, c: x + b),
            (1, 0x9E3779B9, 0x7F4A7C15, 0x85EBCA6B),
            {"*": (("IADD3",), 0.5), "sm_80": (("IADD3",), 1.0)},
            claim="int_add",
        ),
    ),
    _a("sub.s32", "int32", "sub.s32 {x}, {b}, {x};"),
    _a("mad.lo.s32", "int32", "mad.lo.s32 {x}, {x}, {b}, {c};"),
    _d(
        "mad.lo.u32",
        Op(
            "imad",
            "int32",
            "u32",
            "mad.lo.u32 $0, $1, $2, $3;",
            "IMAD",
            _u32(lambda x, b, c: x * b + c),
            (1, 0x9E3779B9, 0x7F4A7C15, 0x85EBCA6B),
            {"*": (("IMAD",), 1.0)},
            claim="int_mad",
        ),
    ),
    _a("mul.lo.s32", "int32", "mul.lo.s32 {x}, {x}, {x};"),  # x*b*c would be reassociated to x*(b*c)
    # imul squares x: a chain x*b*c is reassociated by ptxas (b*c hoisted, half the IMADs); since Volta mul.lo is IMAD
    _d(
        "mul.lo.u32",
        Op(
            "imul",
            "int32",
            "u32",
            "mul.lo.u32 $0, $1, $1;",
            "IMAD",
            _u32(lambda x, b, c: x * x),
            (0x9E3779B9, 3, 5, 7),
            {"*": (("IMAD",), 1.0)},
            claim="int_mad",
        ),
    ),
    _a("mul.hi.s32", "int32", "mul.hi.s32 {x}, {x}, {b};"),
    _d(
        "mul.hi.u32",
        Op(
            "imul_hi",
            "int32",
            "u32",
            "mul.hi.u32 $0, $1, $2;",
            "IMAD.HI",
            _u32(lambda x, b, c: (x * b) >> 32),
            (0xDEADBEEF, 0xFFFFFFF1, 0xFFFFFFF3, 0xFFFFFFF5),
            {"*": (("IMAD",), 1.0)},
            claim="int_mad",
        ),
    ),
    _a(
        "mul.wide.s32",
        "int32",
        "mul.wide.s32 {q}, {x}, {b}; cvt.u32.u64 {t}, {q}; xor.b32 {x}, {t}, {c};",
        focus=("IMAD",),
    ),
    _a("min.s32", "int32", "min.s32 {x}, {x}, {b};"),
    _d(
        "min.u32",
        Op(
            "imnmx",
            "int32",
            "u32",
            "min.u32 $0, $1, $2;",
            "IMNMX",
            _u32(lambda x, b, c: min(x, b)),
            (0xFFFFFFFF, 0xF0000000, 0xE0000000, 0xD0000000),
            {
                "*": (("IMNMX",), 1.0),
                "sm_90": (("VIMNMX3", "IMNMX", "VIMNMX"), 0.5),
                "sm_100": (("VIMNMX3", "IMNMX", "VIMNMX"), 0.5),
            },
            claim="int_compare",
        ),
    ),
    _a("max.u32", "int32", "max.u32 {x}, {x}, {b};"),
    _a("abs.s32", "int32", "abs.s32 {t}, {x}; xor.b32 {x}, {t}, {b};", focus=("IABS",)),
    _a("shl.b32", "int32", "shl.b32 {x}, {x}, {b};"),
    _a("shr.u32", "int32", "shr.u32 {x}, {x}, {b};"),
    _a("shr.s32", "int32", "shr.s32 {x}, {x}, {b};"),
    _a(
        "shf.l.wrap.b32",
        "int32",
        "shf.l.wrap.b32 {x}, {x}, {b}, {c};",
        ops=[
            Op(
                "shf",
                "int32",
                "u32",
                "shf.l.wrap.b32 $0, $1, $2, $3;",
                "SHF.L.W",
                _u32(lambda x, b, c: (((b << 32) | x) << (c & 31)) >> 32),
                (0x12345678, 0x9E3779B9, 7, 0x85EBCA6B),
                {"*": (("SHF",), 1.0)},
                claim="int_shift",
            )
        ],
    ),
    _a("shf.r.clamp.b32", "int32", "shf.r.clamp.b32 {x}, {b}, {x}, {c};"),
    _a("lop3.b32 (lut 0xe8)", "int32", "lop3.b32 {x}, {x}, {b}, {c}, {lut};", name="lop3.b32"),  # luts rotate
    _d(
        "lop3.b32 (lut 0x6a)",
        Op(
            "lop3",
            "int32",
            "u32",
            "lop3.b32 $0, $1, $2, $3, 0x6a;",
            "LOP3.LUT",
            _u32(lambda x, b, c: (x & b) ^ c),
            (0x12345678, 0x9E3779B9, 0x7F4A7C15, 0x85EBCA6B),
            {"*": (("LOP3",), 1.0)},
            claim="int_logic",
        ),
    ),
    _a("xor.b32", "int32", "xor.b32 {x}, {x}, {b};"),
    _a(
        "prmt.b32",
        "int32",
        "prmt.b32 {x}, {x}, {b}, {c};",
        ops=[
            Op(
                "prmt",
                "int32",
                "u32",
                "prmt.b32 $0, $1, $2, $3;",
                "PRMT",
                _u32(lambda x, b, c: _prmt(x, b, c)),
                (0x12345678, 0x5140, 0x2736, 0x0615),
                {"*": (("PRMT",), 1.0)},
                claim="",
            )
        ],
    ),
    _a("setp.lt.s32", "int32", "setp.lt.s32 {p}, {x}, {b}; selp.b32 {x}, {x}, {c}, {p};", name="setp+selp.s32"),
    _d(
        "setp.lt.u32",  # the variant is setp + selp, as the step
        Op(
            "isetp_sel",
            "int32",
            "u32",
            "{ .reg .pred p; setp.lt.u32 p, $1, $2; selp.b32 $0, $2, $3, p; }",
            "ISETP+SEL",
            _u32(lambda x, b, c: b if x < b else c),
            (4, 5, 9, 2),
            {"*": (("ISETP",), 1.0)},
            mix="SEL",
            claim="int_compare",
        ),
    ),
    _a("sad.u32", "int32", "sad.u32 {x}, {x}, {b}, {c};"),
    _a("dp4a.u32.u32", "int32", "dp4a.u32.u32 {x}, {x}, {b}, {c};"),
    _a("dp2a.lo.u32.u32", "int32", "dp2a.lo.u32.u32 {x}, {x}, {b}, {c};"),
    # INT64
    _a("add.s64", "int64", "add.s64 {x}, {x}, {b};", reg="b64"),
    _d(
        "add.u64",
        Op(
            "iadd64",
            "int64",
            "u64",
            "add.u64 $0, $1, $2;",
            "IADD3.X",
            _u64(lambda x, b, c: x + b),
            (1, 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB),
            {"*": (("IADD3",), 1.5), "sm_80": (("IADD3",), 2.0)},
        ),
    ),
    _a("mad.lo.s64", "int64", "mad.lo.s64 {x}, {x}, {b}, {c};", reg="b64"),
    _d(
        "mul.lo.u64",
        Op(
            "imul64",
            "int64",
            "u64",
            "mul.lo.u64 $0, $1, $2;",
            "IMAD.WIDE.U32",
            _u64(lambda x, b, c: x * b),
            (1, 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB),
            {"*": (("IMAD", "IADD3"), 4.0)},
        ),
    ),
    _a("mul.hi.u64", "int64", "mul.hi.u64 {x}, {x}, {b};", reg="b64"),
    _a("shl.b64", "int64", "cvt.u32.u64 {r}, {b}; shl.b64 {x}, {x}, {r};", reg="b64", focus=("SHF", "IMAD", "LEA")),
    # bit manipulation. bfe/bfi with register position/length are emulated since Volta: 2 PRMT unpack position and
    # length (operand-only: ptxas shares them between chains with the same operands, so the dynamic check does not
    # count them), then SHF+SGXT (bfe) or BMSK+SHF+LOP3 (bfi)
    _a(
        "popc.b32",
        "bits",
        "popc.b32 {t}, {x}; xor.b32 {x}, {t}, {b};",
        focus=("POPC",),
        ops=[
            Op(
                "popc",
                "bits",
                "u32",
                "{ .reg .b32 t; popc.b32 t, $1; add.u32 $0, t, $2; }",
                "POPC",
                _u32(lambda x, b, c: x.bit_count() + b),
                (0x12345678, 0x9E3779B9, 0x7F4A7C15, 0x85EBCA6B),
                {"*": (("POPC",), 1.0)},
                mix="IADD3",
                claim="popc",
            )
        ],
    ),
    _a(
        "clz.b32",
        "bits",
        "clz.b32 {t}, {x}; xor.b32 {x}, {t}, {b};",
        focus=("FLO",),
        ops=[
            Op(
                "flo",
                "bits",
                "u32",
                "{ .reg .b32 t; clz.b32 t, $1; add.u32 $0, t, $2; }",
                "FLO.U32",
                _u32(lambda x, b, c: _clz(x) + b),
                (0x12345678, 0x9E3779B9, 0x7F4A7C15, 0x85EBCA6B),
                {"*": (("FLO",), 1.0)},
                mix="IADD3 + LOP3",
                claim="clz",
            )
        ],
    ),
    _a(
        "brev.b32",
        "bits",
        "brev.b32 {t}, {x}; xor.b32 {x}, {t}, {b};",
        focus=("BREV",),
        ops=[
            Op(
                "brev",
                "bits",
                "u32",
                "{ .reg .b32 t; brev.b32 t, $1; add.u32 $0, t, $2; }",
                "BREV",
                _u32(lambda x, b, c: _brev(x) + b),
                (0x12345678, 0x9E3779B9, 0x7F4A7C15, 0x85EBCA6B),
                {"*": (("BREV",), 1.0)},
                mix="IADD3",
                claim="brev",
            )
        ],
    ),
    _a("bfind.u32", "bits", "bfind.u32 {t}, {x}; xor.b32 {x}, {t}, {b};", focus=("FLO",)),
    _a(
        "bfe.u32",
        "bits",
        "bfe.u32 {x}, {x}, {b}, {c};",
        ops=[
            Op(
                "bfe",
                "bits",
                "u32",
                "{ .reg .b32 t; bfe.u32 t, $1, $2, $3; add.u32 $0, t, $1; }",
                "PRMT+SHF+SGXT",
                _u32(lambda x, b, c: bfe_u32(x, b, c) + x),
                (0x12345678, 4, 12, 8),
                {"*": (("SHF", "SGXT"), 2.0)},
                mix="IMAD.IADD",
                claim="bfe_bfi",
            )
        ],
    ),
    _a(
        "bfi.b32",
        "bits",
        "bfi.b32 {x}, {b}, {x}, {c}, {e};",
        ops=[
            Op(
                "bfi",
                "bits",
                "u32",
                "bfi.b32 $0, $2, $1, $3, 5;",
                "PRMT+BMSK+SHF+LOP3",
                _u32(lambda x, b, c: bfi_b32(b, x, c, 5)),
                (0x12345678, 3, 21, 9),
                {"*": (("BMSK", "SHF", "LOP3"), 3.0)},
                claim="bfe_bfi",
            )
        ],
    ),
    _a("fns.b32", "bits", "fns.b32 {x}, {x}, {b}, {c};", sequence=True),
    # conversions: round trips, so the chain comes back to its own type (both directions in one link / step);
    # the key is the first direction's variant
    _a(
        "cvt.rn.f16.f32",
        "cvt",
        "cvt.rn.f16.f32 {h}, {x}; cvt.f32.f16 {x}, {h};",
        name="cvt f32<->f16",
        ops=[
            Op(
                "cvt_f32_f16",
                "cvt",
                "f32",
                "{ .reg .b16 h; cvt.rn.f16.f32 h, $1; cvt.f32.f16 $0, h; add.f32 $0, $0, $2; }",
                "F2FP+HADD2.F32",
                lambda x, b, c: np.float32(np.float32(np.float16(np.float32(x)))) + np.float32(b),
                (1.0, 0.375, -0.25, 0.125),
                {"*": (("F2FP", "F2F", "HADD2"), (2.0, 1.5))},
                mix="FADD",
                claim="cvt_other",
            )
        ],
    ),
    _a("cvt.rn.bf16.f32", "cvt", "cvt.rn.bf16.f32 {h}, {x}; cvt.f32.bf16 {x}, {h};", name="cvt f32<->bf16"),
    _a(
        "cvt.rn.f16x2.f32",
        "cvt",
        "cvt.rn.f16x2.f32 {t}, {x}, {b}; xor.b32 {x}, {t}, {c};",
        name="cvt f32x2->f16x2",
        focus=("F2FP",),
    ),
    _a(
        "cvt.rn.f32.f64",
        "cvt",
        "cvt.rn.f32.f64 {r}, {x}; cvt.f64.f32 {x}, {r};",
        name="cvt f64<->f32",
        reg="b64",
        ops=[
            Op(
                "cvt_f64_f32",
                "cvt",
                "f64",
                "{ .reg .f32 t; cvt.rn.f32.f64 t, $1; cvt.f64.f32 $0, t; add.f64 $0, $0, $2; }",
                "F2F.F32.F64+F2F.F64.F32",
                lambda x, b, c: np.float64(np.float32(np.float64(x))) + np.float64(b),
                (1.0, 0.1, -0.3, 0.7),
                {"*": (("F2F",), 2.0)},
                mix="DADD",
            )
        ],
    ),
    _a(
        "cvt.rn.f32.s32",
        "cvt",
        "cvt.rn.f32.s32 {t}, {x}; cvt.rzi.s32.f32 {x}, {t};",
        name="cvt s32<->f32",
        ops=[
            Op(
                "cvt_f32_s32",
                "cvt",
                "u32",
                "{ .reg .f32 t; cvt.rn.f32.s32 t, $1; cvt.rzi.s32.f32 $0, t; add.u32 $0, $0, $2; }",
                "I2F+F2I",
                _u32(lambda x, b, c: (_f2i_rz(np.float32(x - (1 << 32) if x >> 31 else x)) & M32) + b),
                (1000, 3, 5, 7),
                {"*": (("F2I",), 1.0)},
                mix="I2F + IADD3",
                claim="cvt_other",
            )
        ],
    ),
    _a("cvt.rn.f64.s32", "cvt", "cvt.rn.f64.s32 {q}, {x}; cvt.rzi.s32.f64 {x}, {q};", name="cvt s32<->f64"),
    _a("cvt.rni.f32.f32", "cvt", "cvt.rni.f32.f32 {t}, {x}; add.f32 {x}, {t}, {b};", focus=("FRND",)),
    # MUFU: the .approx forms with and without .ftz (the dynamic steps: the .ftz forms)
    *(
        _a(
            f"{op}.approx{ftz}.f32",
            "mufu",
            f"{op}.approx{ftz}.f32 {{t}}, {{x}}; " + _MUFU_MIX,
            focus=("MUFU",),
            ops=[_mufu(op, *_MUFU_OPS[op])] if ftz and op in _MUFU_OPS else (),
        )
        for op in ("ex2", "lg2", "rsqrt", "rcp", "sqrt", "sin", "cos")
        for ftz in (".ftz", "")
    ),
    _a("tanh.approx.f32", "mufu", "tanh.approx.f32 {t}, {x}; " + _MUFU_MIX, focus=("MUFU",)),
    _a("ex2.approx.f16x2", "mufu", "ex2.approx.f16x2 {t}, {x}; add.rn.f16x2 {x}, {t}, {b};", focus=("MUFU",)),
    _a("tanh.approx.f16x2", "mufu", "tanh.approx.f16x2 {t}, {x}; add.rn.f16x2 {x}, {t}, {b};", focus=("MUFU",)),
    _a("rcp.approx.ftz.f64", "mufu", "rcp.approx.ftz.f64 {t}, {x}; add.f64 {x}, {t}, {b};", reg="b64", focus=("MUFU",)),
    # IEEE-rounded division, reciprocal and square root: emulated sequences. The atlas chains the divisor, since
    # x / b with b from a pool of four becomes x * rcp(b) with the four reciprocals hoisted. The dynamic steps are
    # the sequences ptxas emits (fast path + FCHK/range test and a call to the slow path, never taken here; the
    # count per step is of the listed opcodes: FCHK + MUFU.RCP + 5 FFMA; MUFU.RSQ + 2 FMUL + 2 FFMA; the
    # BSSY/BRA/BSYNC around the slow-path CALL are in each step too)
    _a(
        "div.rn.f32",
        "ieee",
        "div.rn.f32 {x}, {b}, {x};",
        sequence=True,
        ops=[
            Op(
                "fdiv_rn",
                "fp32-seq",
                "f32",
                "div.rn.f32 $0, $1, $2;",
                "FCHK+MUFU.RCP+FFMA",
                lambda x, b, c: np.float32(x) / np.float32(b),
                (1.0, 1.0009765625, 0.9990234375, 1.000244140625),
                {"*": (("FCHK", "MUFU", "FFMA"), 7.0)},
            )
        ],
    ),
    _a("div.approx.f32", "ieee", "div.approx.f32 {x}, {b}, {x};"),
    _a("div.full.f32", "ieee", "div.full.f32 {x}, {b}, {x};", sequence=True),
    _a("rcp.rn.f32", "ieee", "rcp.rn.f32 {t}, {x}; " + _MUFU_MIX, sequence=True),
    _a(
        "sqrt.rn.f32",
        "ieee",
        "sqrt.rn.f32 {t}, {x}; " + _MUFU_MIX,
        sequence=True,
        ops=[
            Op(
                "fsqrt_rn",
                "fp32-seq",
                "f32",
                "{ .reg .f32 t; sqrt.rn.f32 t, $1; add.f32 $0, t, $2; }",
                "MUFU.RSQ+FMUL+FFMA",
                _sqrt_rn,
                (1.0, 1.0, 1.0, 1.0),
                {"*": (("MUFU", "FMUL", "FFMA"), 5.0)},
                mix="FADD",
            )
        ],
    ),
    _a("div.rn.f64", "ieee", "div.rn.f64 {x}, {b}, {x};", reg="b64", sequence=True),
    _a("rcp.rn.f64", "ieee", "rcp.rn.f64 {t}, {x}; add.f64 {x}, {t}, {b};", reg="b64", sequence=True),
    _a("sqrt.rn.f64", "ieee", "sqrt.rn.f64 {t}, {x}; add.f64 {x}, {t}, {b};", reg="b64", sequence=True),
    # warp-level: in the dynamic steps every lane holds the same value, so the host step is the lane-local
    # arithmetic; shfl.idx from a uniform lane commutes with uniform adds (ptxas hoists them): add x itself as well
    _a(
        "shfl.sync.idx.b32",
        "warp",
        "shfl.sync.idx.b32 {x}, {x}, {b}, 31, -1;",
        focus=("SHFL",),
        ops=[
            Op(
                "shfl_idx",
                "warp",
                "u32",
                "{ .reg .b32 t; shfl.sync.idx.b32 t, $1, $3, 31, -1; add.u32 t, t, $1; add.u32 $0, t, $2; }",
                "SHFL.IDX",
                _u32(lambda x, b, c: 2 * x + b),
                (1, 3, 5, 7),
                {"*": (("SHFL",), 1.0)},
                mix="IADD3",
                claim="shfl",
                warp_uniform=True,
            )
        ],
    ),
    _a(
        "shfl.sync.up.b32",
        "warp",
        "shfl.sync.up.b32 {x}, {x}, {lane}, 0, -1;",
        focus=("SHFL",),
        ops=[
            Op(
                "shfl_up",
                "warp",
                "u32",
                "{ .reg .b32 t; shfl.sync.up.b32 t, $1, 1, 0, -1; add.u32 $0, t, $2; }",
                "SHFL.UP",
                _u32(lambda x, b, c: x + b),
                (1, 3, 5, 7),
                {"*": (("SHFL",), 1.0)},
                mix="IADD3",
                claim="shfl",
                warp_uniform=True,
            )
        ],
    ),
    _a(
        "shfl.sync.down.b32",
        "warp",
        "shfl.sync.down.b32 {x}, {x}, {lane}, 31, -1;",
        focus=("SHFL",),
        ops=[
            Op(
                "shfl_down",
                "warp",
                "u32",
                "{ .reg .b32 t; shfl.sync.down.b32 t, $1, 1, 31, -1; add.u32 $0, t, $2; }",
                "SHFL.DOWN",
                _u32(lambda x, b, c: x + b),
                (1, 3, 5, 7),
                {"*": (("SHFL",), 1.0)},
                mix="IADD3",
                claim="shfl",
                warp_uniform=True,
            )
        ],
    ),
    _a(
        "shfl.sync.bfly.b32",
        "warp",
        "shfl.sync.bfly.b32 {x}, {x}, {lane}, 31, -1;",
        focus=("SHFL",),
        ops=[
            Op(
                "shfl_bfly",
                "warp",
                "u32",
                "{ .reg .b32 t; shfl.sync.bfly.b32 t, $1, 1, 31, -1; add.u32 $0, t, $2; }",
                "SHFL.BFLY",
                _u32(lambda x, b, c: x + b),
                (1, 3, 5, 7),
                {"*": (("SHFL",), 1.0)},
                mix="IADD3",
                claim="shfl",
                warp_uniform=True,
            )
        ],
    ),
    _a(
        "vote.sync.ballot.b32",
        "warp",
        "setp.ne.u32 {p}, {x}, {b}; vote.sync.ballot.b32 {t}, {p}, -1; xor.b32 {x}, {t}, {c};",
        focus=("VOTE", "VOTEU"),
        ops=[
            Op(
                "vote_ballot",
                "warp",
                "u32",
                "{ .reg .pred p; .reg .b32 t; setp.ne.u32 p, $1, 0; "
                "vote.sync.ballot.b32 t, p, -1; add.u32 t, t, $1; add.u32 $0, t, $2; }",
                "VOTE.ANY",
                _u32(lambda x, b, c: (M32 if x else 0) + x + b),
                (1, 3, 5, 7),
                {"*": (("VOTE",), 1.0)},
                mix="ISETP + IADD3",
                warp_uniform=True,
            )
        ],
    ),
    _a(
        "match.any.sync.b32",
        "warp",
        "match.any.sync.b32 {t}, {x}, -1; xor.b32 {x}, {t}, {b};",
        focus=("MATCH",),
        ops=[
            Op(
                "match_any",
                "warp",
                "u32",
                "{ .reg .b32 t; match.any.sync.b32 t, $1, -1; add.u32 t, t, $1; add.u32 $0, t, $2; }",
                "MATCH.ANY",
                _u32(lambda x, b, c: M32 + x + b),
                (1, 3, 5, 7),
                {"*": (("MATCH",), 1.0)},
                mix="IADD3",
                warp_uniform=True,
            )
        ],
    ),
    _a(
        "redux.sync.add.u32",
        "warp",
        "redux.sync.add.u32 {t}, {x}, -1; xor.b32 {x}, {t}, {b};",
        focus=("REDUX",),
        ops=[
            Op(
                "redux_add",
                "warp",
                "u32",
                "{ .reg .b32 t; redux.sync.add.u32 t, $1, -1; add.u32 $0, t, $2; }",
                "REDUX.SUM",
                _u32(lambda x, b, c: 32 * x + b),
                (1, 3, 5, 7),
                {"*": (("REDUX",), 1.0)},
                mix="IADD3",
                warp_uniform=True,
            )
        ],
    ),
    _a("redux.sync.min.u32", "warp", "redux.sync.min.u32 {t}, {x}, -1; xor.b32 {x}, {t}, {b};", focus=("REDUX",)),
    # memory: dependent chains (the loaded value is the next address)
    _a("ld.global.b64", "memory", "ld.global.u64 {x}, [{x}];", name="ld.global.u64", reg="b64"),
    _a("ld.global.nc.b64", "memory", "ld.global.nc.u64 {x}, [{x}];", name="ld.global.nc.u64", reg="b64"),
    _a(
        "ld.shared.b32",
        "memory",
        "ld.shared.u32 {x}, [{x}];",
        name="ld.shared.u32",
        setup="and.b32 {x}, {x}, 4092; add.u32 {x}, {x}, {sbase};",
        shared=4096,
    ),
    # atomics and reductions: the atlas chains through the returned value; the dynamic steps run each lane on its
    # own word or (_contended) all 32 lanes of a warp on one word, built so that lane order cannot matter
    _a("atom.shared.add.u32", "atomic", "atom.shared.add.u32 {x}, [{saddr}], {x};", shared=4096),
    _a("atom.shared.cas.b32", "atomic", "atom.shared.cas.b32 {x}, [{saddr}], {b}, {x};", shared=4096),
    _a("atom.global.add.u32", "atomic", "atom.global.add.u32 {x}, [{gaddr}], {x};"),
    _a("atom.global.add.f32", "atomic", "atom.global.add.f32 {x}, [{gaddr}], {x};"),
    _a("atom.global.exch.b64", "atomic", "atom.global.exch.b64 {x}, [{gaddr}], {x};", reg="b64"),
    *(
        _d(
            f"{'red' if fn == 'red' else 'atom'}.{space}.{'add' if fn == 'red' else fn}",
            *(_memory_op(space, fn, contended) for contended in (False, True)),
        )
        for space in ("shared", "global")
        for fn in ("add", "min", "cas", "red")
    ),
    # barrier (+ an add, so the stop clock has a chain value to wait for): cycles per bar.sync of a block of
    # `block_warps` warps in the latency probe; in the throughput probe the block is the warps_per_sm sweep's block
    _d(
        "bar.sync",
        Op(
            "bar_sync",
            "sync",
            "u32",
            "{ bar.sync 0; add.u32 $0, $1, $2; }",
            "BAR.SYNC",
            _u32(lambda x, b, c: x + b),
            (1, 3, 5, 7),
            {"*": (("BAR",), 1.0)},
            mix="IADD3",
            warp_uniform=True,
            block_warps=4,
        ),
    ),
    # tensor cores (each arch's legal shapes survive in the atlas; the rest are recorded as rejected). The dynamic
    # steps: warp-wide mma.sync, latency through the accumulator, throughput in FLOP/clk/SM (`results`)
    _mma_link("m8n8k4", "f32.f16.f16.f32", 2, 2, 8),
    _mma_link("m16n8k8", "f32.f16.f16.f32", 2, 1, 4),
    _mma_link("m16n8k16", "f32.f16.f16.f32", 4, 2, 4),
    _mma_link("m16n8k16", "f16.f16.f16.f16", 4, 2, 2),
    _mma_link("m16n8k16", "f32.bf16.bf16.f32", 4, 2, 4),
    _mma_link("m16n8k8", "f32.tf32.tf32.f32", 4, 2, 4),
    _mma_link("m8n8k4", "f64.f64.f64.f64", 1, 1, 2, reg="b64"),
    _mma_link("m8n8k16", "s32.s8.s8.s32", 1, 1, 2),
    _mma_link("m16n8k32", "s32.s8.s8.s32", 4, 2, 4),
    _mma_link("m16n8k32", "f32.e4m3.e4m3.f32", 4, 2, 4, a_from_acc=True),
    _mma_link("m8n8k128", "s32.b1.b1.s32.and.popc", 1, 1, 2),
    _d(
        "mma.sync.m16n8k16.f32.f16",
        _mma_op("mma_f16", "f16", "m16n8k16", 16, _halves_f16, h2(0.5, 0.25), h2(0.125, 1.0)),
    ),
    _d(
        "mma.sync.m16n8k16.f32.bf16",
        _mma_op("mma_bf16", "bf16", "m16n8k16", 16, _halves_bf16, bf2(0.5, 0.25), bf2(0.125, 1.0)),
    ),
    _d(
        "mma.sync.m16n8k8.f32.tf32", _mma_op("mma_tf32", "tf32", "m16n8k8", 8, _tf32_pair, 0x3F000000, 0x3E000000)
    ),  # tf32 0.5, 0.125
)  # end of TABLE

MISSING = (
    "wgmma (sm_90a) and mma.sync int8/fp8/f64 shapes",
    "cvt to/from 8/16-bit integers",
    "atomics other than 32-bit add/min/CAS/red.add (exch, and/or/xor, inc, 64-bit, float)",
    "add.rn.bf16x2 before sm_90 (no such PTX: bf16 add is fma.rn.bf16x2 there, op hfma2_bf16)",
)


# --- the views: what each generator reads -----------------------------------------------------------------------

ATLAS: tuple[InstructionSpec, ...] = tuple(r.link for r in TABLE if r.link is not None)
OPS: tuple[Op, ...] = tuple(op for r in TABLE for op in r.ops)
BY_NAME: dict[str, Op] = {op.name: op for op in OPS}
BY_KEY: dict[str, Row] = {r.key: r for r in TABLE}
assert len(BY_KEY) == len(TABLE), "duplicate keys in the instruction table"
assert len(BY_NAME) == len(OPS), "duplicate op names in the instruction table"
assert len({s.name for s in ATLAS}) == len(ATLAS), "duplicate atlas names in the instruction table"


def templates() -> list[tuple[str, str, str]]:
    """(name, group, template) of the rows that define their own PTX `template`: probes/static/variants.py makes
    them variants of its table (this module imports nothing of variants.py, so the two form no circle)."""
    return [(r.key, r.group or (r.link.group if r.link else "table"), r.template) for r in TABLE if r.template]
