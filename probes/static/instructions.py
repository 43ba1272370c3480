"""The instruction catalogue: one PTX snippet per instruction, turned into latency and throughput kernels.

Each `InstructionSpec` gives one *link* of PTX: it reads the chain state `{x}` and writes it back, so a chain of links
is a dependent sequence ptxas must schedule at the instruction's latency. Per (instruction, architecture) three
kernels go into one batched module (one ptxas and one cuobjdump call per architecture):

- `baseline`: the loads and the store with no link at all; subtracting its opcode counts leaves the lowering;
- `chain`: CHAIN_LINKS dependent links (latency);
- `indep`: INDEPENDENT_CHAINS interleaved chains of INDEPENDENT_LINKS links each (issue interval).

Operands are per-thread data loaded at the start and rotated from link to link, and every chain ends in a store, so
ptxas can neither constant-fold, CSE, nor cancel pairs such as brev(brev x) or rcp(rcp x). Where the instruction is
its own inverse or warp-uniform, the link mixes in an ALU op and names the SASS opcodes of interest in `focus`.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from .toolchain import PtxKernel

CHAIN_LINKS = 16
INDEPENDENT_CHAINS = 8
INDEPENDENT_LINKS = 4
# Emulated sequences (tens of SASS instructions per link) get half as many links: the schedule repeats itself
# after a few links, and they dominate the assembler's and disassembler's time.
SEQUENCE_CHAIN_LINKS = 8
SEQUENCE_INDEPENDENT_LINKS = 2
SHAPES = ("baseline", "chain", "indep")

_POOL = 8           # operand registers loaded per kernel ({o0}..{o7}); {b},{c},{e} rotate over the first four
_LANES = (1, 2, 4, 8, 16)
_IMMS = (3, 5, 7, 11, 13)
_LUTS = ("0xe8", "0x96", "0x6a", "0xd4")   # majority, xor3, (a&b)^c, ...: no two links cancel


class UnknownInstructionError(ValueError):
    """A name that is not in CATALOGUE."""


@dataclass(frozen=True)
class InstructionSpec:
    """One catalogue entry.

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


def _mma(shape: str, types: str, a: int, b: int, cd: int, reg: str = "b32", extra: str = "",
         a_from_acc: bool = False) -> InstructionSpec:
    """mma.sync with the accumulator as the chain: D of one link is C of the next.

    a_from_acc: also feed the accumulator into A. Where the MMA is emulated (FP8 on sm_90), ptxas otherwise
    computes the loop-invariant A*B once and turns the chain into FADDs.
    """
    acc = "{{" + ",".join(f"{{x{i}}}" for i in range(cd)) + "}}"  # {{ }}: literal braces
    ra = "{{" + ",".join(f"{{{'x' if a_from_acc and i == 0 else 'o'}{i}}}" for i in range(a)) + "}}"
    rb = "{{" + ",".join(f"{{o{a + i}}}" for i in range(b)) + "}}"
    op = f"mma.sync.aligned.{shape}.row.col{extra}.{types}"
    name = f"mma.{shape}.{types.replace('.', '_')}{extra.replace('.', '_')}"
    return InstructionSpec(name, "mma", f"{op} {acc}, {ra}, {rb}, {acc};", reg=reg, state=cd, focus=_MMA_OPCODES)


def _s(name: str, group: str, link: str, **kw) -> InstructionSpec:
    return InstructionSpec(name, group, link, **kw)


_MUFU_MIX = "add.f32 {x}, {t}, {b};"   # rcp(rcp x) and friends fold; a per-thread add keeps every link live

CATALOGUE: tuple[InstructionSpec, ...] = (
    # FP32
    _s("add.rn.f32", "fp32", "add.rn.f32 {x}, {x}, {b};"),
    _s("mul.rn.f32", "fp32", "mul.rn.f32 {x}, {x}, {b};"),
    _s("fma.rn.f32", "fp32", "fma.rn.f32 {x}, {x}, {b}, {c};"),
    _s("min.f32", "fp32", "min.f32 {x}, {x}, {b};"),
    _s("max.f32", "fp32", "max.f32 {x}, {x}, {b};"),
    _s("fma.rn.ftz.sat.f32", "fp32", "fma.rn.ftz.sat.f32 {x}, {x}, {b}, {c};"),
    # FP16x2 / BF16x2 (packed in 32-bit registers)
    _s("add.rn.f16x2", "fp16", "add.rn.f16x2 {x}, {x}, {b};"),
    _s("mul.rn.f16x2", "fp16", "mul.rn.f16x2 {x}, {x}, {b};"),
    _s("fma.rn.f16x2", "fp16", "fma.rn.f16x2 {x}, {x}, {b}, {c};"),
    _s("add.rn.bf16x2", "bf16", "add.rn.bf16x2 {x}, {x}, {b};"),
    _s("mul.rn.bf16x2", "bf16", "mul.rn.bf16x2 {x}, {x}, {b};"),
    _s("fma.rn.bf16x2", "bf16", "fma.rn.bf16x2 {x}, {x}, {b}, {c};"),
    # FP64
    _s("add.rn.f64", "fp64", "add.rn.f64 {x}, {x}, {b};", reg="b64"),
    _s("mul.rn.f64", "fp64", "mul.rn.f64 {x}, {x}, {b};", reg="b64"),
    _s("fma.rn.f64", "fp64", "fma.rn.f64 {x}, {x}, {b}, {c};", reg="b64"),
    # INT32
    _s("add.s32", "int32", "add.s32 {x}, {x}, {b};"),
    _s("sub.s32", "int32", "sub.s32 {x}, {b}, {x};"),
    _s("mad.lo.s32", "int32", "mad.lo.s32 {x}, {x}, {b}, {c};"),
    _s("mul.lo.s32", "int32", "mul.lo.s32 {x}, {x}, {x};"),   # x*b*c would be reassociated to x*(b*c)
    _s("mul.hi.s32", "int32", "mul.hi.s32 {x}, {x}, {b};"),
    _s("mul.wide.s32", "int32", "mul.wide.s32 {q}, {x}, {b}; cvt.u32.u64 {t}, {q}; xor.b32 {x}, {t}, {c};",
       focus=("IMAD",)),
    _s("min.s32", "int32", "min.s32 {x}, {x}, {b};"),
    _s("max.u32", "int32", "max.u32 {x}, {x}, {b};"),
    _s("abs.s32", "int32", "abs.s32 {t}, {x}; xor.b32 {x}, {t}, {b};", focus=("IABS",)),
    _s("shl.b32", "int32", "shl.b32 {x}, {x}, {b};"),
    _s("shr.u32", "int32", "shr.u32 {x}, {x}, {b};"),
    _s("shr.s32", "int32", "shr.s32 {x}, {x}, {b};"),
    _s("shf.l.wrap.b32", "int32", "shf.l.wrap.b32 {x}, {x}, {b}, {c};"),
    _s("shf.r.clamp.b32", "int32", "shf.r.clamp.b32 {x}, {b}, {x}, {c};"),
    _s("lop3.b32", "int32", "lop3.b32 {x}, {x}, {b}, {c}, {lut};"),
    _s("xor.b32", "int32", "xor.b32 {x}, {x}, {b};"),
    _s("prmt.b32", "int32", "prmt.b32 {x}, {x}, {b}, {c};"),
    _s("setp+selp.s32", "int32", "setp.lt.s32 {p}, {x}, {b}; selp.b32 {x}, {x}, {c}, {p};"),
    _s("sad.u32", "int32", "sad.u32 {x}, {x}, {b}, {c};"),
    _s("dp4a.u32.u32", "int32", "dp4a.u32.u32 {x}, {x}, {b}, {c};"),
    _s("dp2a.lo.u32.u32", "int32", "dp2a.lo.u32.u32 {x}, {x}, {b}, {c};"),
    # INT64
    _s("add.s64", "int64", "add.s64 {x}, {x}, {b};", reg="b64"),
    _s("mad.lo.s64", "int64", "mad.lo.s64 {x}, {x}, {b}, {c};", reg="b64"),
    _s("mul.hi.u64", "int64", "mul.hi.u64 {x}, {x}, {b};", reg="b64"),
    _s("shl.b64", "int64", "cvt.u32.u64 {r}, {b}; shl.b64 {x}, {x}, {r};", reg="b64", focus=("SHF", "IMAD", "LEA")),
    # bit manipulation
    _s("popc.b32", "bits", "popc.b32 {t}, {x}; xor.b32 {x}, {t}, {b};", focus=("POPC",)),
    _s("clz.b32", "bits", "clz.b32 {t}, {x}; xor.b32 {x}, {t}, {b};", focus=("FLO",)),
    _s("brev.b32", "bits", "brev.b32 {t}, {x}; xor.b32 {x}, {t}, {b};", focus=("BREV",)),
    _s("bfind.u32", "bits", "bfind.u32 {t}, {x}; xor.b32 {x}, {t}, {b};", focus=("FLO",)),
    _s("bfe.u32", "bits", "bfe.u32 {x}, {x}, {b}, {c};"),
    _s("bfi.b32", "bits", "bfi.b32 {x}, {b}, {x}, {c}, {e};"),
    _s("fns.b32", "bits", "fns.b32 {x}, {x}, {b}, {c};", sequence=True),
    # conversions: round trips, so the chain comes back to its own type; both directions are reported
    _s("cvt f32<->f16", "cvt", "cvt.rn.f16.f32 {h}, {x}; cvt.f32.f16 {x}, {h};"),
    _s("cvt f32<->bf16", "cvt", "cvt.rn.bf16.f32 {h}, {x}; cvt.f32.bf16 {x}, {h};"),
    _s("cvt f32x2->f16x2", "cvt", "cvt.rn.f16x2.f32 {t}, {x}, {b}; xor.b32 {x}, {t}, {c};", focus=("F2FP",)),
    _s("cvt f64<->f32", "cvt", "cvt.rn.f32.f64 {r}, {x}; cvt.f64.f32 {x}, {r};", reg="b64"),
    _s("cvt s32<->f32", "cvt", "cvt.rn.f32.s32 {t}, {x}; cvt.rzi.s32.f32 {x}, {t};"),
    _s("cvt s32<->f64", "cvt", "cvt.rn.f64.s32 {q}, {x}; cvt.rzi.s32.f64 {x}, {q};"),
    _s("cvt.rni.f32.f32", "cvt", "cvt.rni.f32.f32 {t}, {x}; add.f32 {x}, {t}, {b};", focus=("FRND",)),
    # MUFU: the .approx forms with and without .ftz
    *(_s(f"{op}.approx{ftz}.f32", "mufu", f"{op}.approx{ftz}.f32 {{t}}, {{x}}; " + _MUFU_MIX, focus=("MUFU",))
      for op in ("ex2", "lg2", "rsqrt", "rcp", "sqrt", "sin", "cos") for ftz in (".ftz", "")),
    _s("tanh.approx.f32", "mufu", "tanh.approx.f32 {t}, {x}; " + _MUFU_MIX, focus=("MUFU",)),
    _s("ex2.approx.f16x2", "mufu", "ex2.approx.f16x2 {t}, {x}; add.rn.f16x2 {x}, {t}, {b};", focus=("MUFU",)),
    _s("tanh.approx.f16x2", "mufu", "tanh.approx.f16x2 {t}, {x}; add.rn.f16x2 {x}, {t}, {b};", focus=("MUFU",)),
    _s("rcp.approx.ftz.f64", "mufu", "rcp.approx.ftz.f64 {t}, {x}; add.f64 {x}, {t}, {b};", reg="b64",
       focus=("MUFU",)),
    # IEEE-rounded division, reciprocal and square root: emulated sequences. The chain is the divisor, since
    # x / b with b from a pool of four becomes x * rcp(b) with the four reciprocals hoisted.
    _s("div.rn.f32", "ieee", "div.rn.f32 {x}, {b}, {x};", sequence=True),
    _s("div.approx.f32", "ieee", "div.approx.f32 {x}, {b}, {x};"),
    _s("div.full.f32", "ieee", "div.full.f32 {x}, {b}, {x};", sequence=True),
    _s("rcp.rn.f32", "ieee", "rcp.rn.f32 {t}, {x}; " + _MUFU_MIX, sequence=True),
    _s("sqrt.rn.f32", "ieee", "sqrt.rn.f32 {t}, {x}; " + _MUFU_MIX, sequence=True),
    _s("div.rn.f64", "ieee", "div.rn.f64 {x}, {b}, {x};", reg="b64", sequence=True),
    _s("rcp.rn.f64", "ieee", "rcp.rn.f64 {t}, {x}; add.f64 {x}, {t}, {b};", reg="b64", sequence=True),
    _s("sqrt.rn.f64", "ieee", "sqrt.rn.f64 {t}, {x}; add.f64 {x}, {t}, {b};", reg="b64", sequence=True),
    # warp-level
    _s("shfl.sync.idx.b32", "warp", "shfl.sync.idx.b32 {x}, {x}, {b}, 31, -1;", focus=("SHFL",)),
    _s("shfl.sync.up.b32", "warp", "shfl.sync.up.b32 {x}, {x}, {lane}, 0, -1;", focus=("SHFL",)),
    _s("shfl.sync.down.b32", "warp", "shfl.sync.down.b32 {x}, {x}, {lane}, 31, -1;", focus=("SHFL",)),
    _s("shfl.sync.bfly.b32", "warp", "shfl.sync.bfly.b32 {x}, {x}, {lane}, 31, -1;", focus=("SHFL",)),
    _s("vote.sync.ballot.b32", "warp", "setp.ne.u32 {p}, {x}, {b}; vote.sync.ballot.b32 {t}, {p}, -1; "
       "xor.b32 {x}, {t}, {c};", focus=("VOTE", "VOTEU")),
    _s("match.any.sync.b32", "warp", "match.any.sync.b32 {t}, {x}, -1; xor.b32 {x}, {t}, {b};", focus=("MATCH",)),
    _s("redux.sync.add.u32", "warp", "redux.sync.add.u32 {t}, {x}, -1; xor.b32 {x}, {t}, {b};", focus=("REDUX",)),
    _s("redux.sync.min.u32", "warp", "redux.sync.min.u32 {t}, {x}, -1; xor.b32 {x}, {t}, {b};", focus=("REDUX",)),
    # memory: dependent chains (the loaded value is the next address)
    _s("ld.global.u64", "memory", "ld.global.u64 {x}, [{x}];", reg="b64"),
    _s("ld.global.nc.u64", "memory", "ld.global.nc.u64 {x}, [{x}];", reg="b64"),
    _s("ld.shared.u32", "memory", "ld.shared.u32 {x}, [{x}];", setup="and.b32 {x}, {x}, 4092; add.u32 {x}, {x}, {sbase};",
       shared=4096),
    _s("atom.shared.add.u32", "atomic", "atom.shared.add.u32 {x}, [{saddr}], {x};", shared=4096),
    _s("atom.shared.cas.b32", "atomic", "atom.shared.cas.b32 {x}, [{saddr}], {b}, {x};", shared=4096),
    _s("atom.global.add.u32", "atomic", "atom.global.add.u32 {x}, [{gaddr}], {x};"),
    _s("atom.global.add.f32", "atomic", "atom.global.add.f32 {x}, [{gaddr}], {x};"),
    _s("atom.global.exch.b64", "atomic", "atom.global.exch.b64 {x}, [{gaddr}], {x};", reg="b64"),
    # tensor cores (each arch's legal shapes survive; the rest are recorded as rejected)
    _mma("m8n8k4", "f32.f16.f16.f32", 2, 2, 8),
    _mma("m16n8k8", "f32.f16.f16.f32", 2, 1, 4),
    _mma("m16n8k16", "f32.f16.f16.f32", 4, 2, 4),
    _mma("m16n8k16", "f16.f16.f16.f16", 4, 2, 2),
    _mma("m16n8k16", "f32.bf16.bf16.f32", 4, 2, 4),
    _mma("m16n8k8", "f32.tf32.tf32.f32", 4, 2, 4),
    _mma("m8n8k4", "f64.f64.f64.f64", 1, 1, 2, reg="b64"),
    _mma("m8n8k16", "s32.s8.s8.s32", 1, 1, 2),
    _mma("m16n8k32", "s32.s8.s8.s32", 4, 2, 4),
    _mma("m16n8k32", "f32.e4m3.e4m3.f32", 4, 2, 4, a_from_acc=True),
    _mma("m8n8k128", "s32.b1.b1.s32.and.popc", 1, 1, 2),
)

_BY_NAME = {spec.name: spec for spec in CATALOGUE}
assert len(_BY_NAME) == len(CATALOGUE), "duplicate instruction names in the catalogue"


def instruction_names() -> tuple[str, ...]:
    return tuple(_BY_NAME)


def select(names: list[str] | None) -> list[InstructionSpec]:
    """Catalogue entries by name (all when None). Unknown names raise one line listing what exists."""
    if names is None:
        return list(CATALOGUE)
    unknown = [n for n in names if n not in _BY_NAME]
    if unknown:
        raise UnknownInstructionError(
            f"unknown instruction {unknown[0]!r}: not in probes/static/instructions.py CATALOGUE; "
            f"pick one of instruction_names() (e.g. {', '.join(list(_BY_NAME)[:3])}, ...)")
    return [_BY_NAME[n] for n in names]


# --- kernel generation ---------------------------------------------------------------------------------------------

def kernel_name(index: int, spec: InstructionSpec, shape: str) -> str:
    """A legal, unique PTX identifier that still says what it is ('i012_fma_rn_f32__chain')."""
    return f"i{index:03d}_{re.sub(r'[^0-9A-Za-z]+', '_', spec.name).strip('_')}__{shape}"


def _ptx_bytes(reg: str) -> int:
    return 8 if reg == "b64" else 4


def _link_text(spec: InstructionSpec, chain: int, link: int) -> str:
    """One link of one chain, with rotating operands and per-chain temporaries."""
    w = _ptx_bytes(spec.reg)
    rot = link + chain  # chains start at different rotations so no two chains compute the same thing
    fields = {f"x{i}": f"%x{chain * spec.state + i}" for i in range(spec.state)}
    fields.update({f"o{i}": f"%o{i}" for i in range(_POOL)})
    fields.update(
        x=fields["x0"], b=f"%o{rot % 4}", c=f"%o{(rot + 1) % 4}", e=f"%o{(rot + 2) % 4}",
        t=f"%t{chain}", t2=f"%u{chain}", r=f"%r{chain}", h=f"%h{chain}", q=f"%q{chain}", p=f"%p{chain}",
        lane=str(_LANES[rot % len(_LANES)]), imm=str(_IMMS[rot % len(_IMMS)]), lut=_LUTS[rot % len(_LUTS)],
        gaddr=f"%ain+{256 + chain * w}", saddr=f"%sa+{chain * 4}", sbase="%sa",
    )
    return spec.link.format(**fields)


@functools.cache
def _operands_used(spec: InstructionSpec) -> list[int]:
    text = "".join(_link_text(spec, c, k) for c in range(INDEPENDENT_CHAINS) for k in range(CHAIN_LINKS))
    return sorted({int(m) for m in re.findall(r"%o(\d+)", text)})


def kernel_text(spec: InstructionSpec, name: str, chains: int, links: int) -> str:
    """A complete `.entry`: per-thread loads, `chains` interleaved chains of `links` links, a store of every chain."""
    w, reg = _ptx_bytes(spec.reg), spec.reg
    n_state = chains * spec.state
    lines = [
        f".visible .entry {name}(.param .u64 pin, .param .u64 pout)",
        "{",
        f"  .reg .{reg} %x<{n_state}>; .reg .{reg} %o<{_POOL}>; .reg .{reg} %t<{chains}>; .reg .{reg} %u<{chains}>;",
        f"  .reg .b32 %r<{chains}>; .reg .b16 %h<{chains}>; .reg .b64 %q<{chains}>; .reg .pred %p<{chains}>;",
        "  .reg .b32 %ix, %sa; .reg .b64 %ain, %aout, %off;",
    ]
    if spec.shared:
        lines.append(f"  .shared .align 16 .b8 {name}_smem[{spec.shared}];")
    lines += [
        "  ld.param.u64 %ain, [pin]; ld.param.u64 %aout, [pout];",
        "  cvta.to.global.u64 %ain, %ain; cvta.to.global.u64 %aout, %aout;",
        "  mov.u32 %ix, %tid.x; mul.wide.u32 %off, %ix, 512;",
        "  add.s64 %ain, %ain, %off; add.s64 %aout, %aout, %off;",
    ]
    if spec.shared:
        lines.append(f"  mov.u32 %sa, {name}_smem; and.b32 %ix, %ix, 31; shl.b32 %ix, %ix, 6; add.u32 %sa, %sa, %ix;")
    # Per-thread data: the state of every chain and the operand pool; nothing is known at compile time.
    lines += [f"  ld.global.{reg} %x{i}, [%ain+{i * w}];" for i in range(n_state)]
    lines += [f"  ld.global.{reg} %o{i}, [%ain+{(n_state + i) * w}];" for i in range(_POOL)]
    if spec.setup:
        lines += ["  " + spec.setup.format(x=f"%x{c * spec.state}", sbase="%sa") for c in range(chains)]
    for link in range(links):
        for chain in range(chains):
            lines.append("  " + _link_text(spec, chain, link))
    lines += [f"  st.global.{reg} [%aout+{i * w}], %x{i};" for i in range(n_state)]
    if links == 0:  # the baseline keeps the operands the links use alive, so its load count matches theirs
        lines += [f"  st.global.{reg} [%aout+{(n_state + i) * w}], %o{i};" for i in _operands_used(spec)]
    lines += ["  ret;", "}"]
    return "\n".join(lines) + "\n"


def kernels_for(index: int, spec: InstructionSpec) -> dict[str, PtxKernel]:
    """{shape: kernel} for one catalogue entry."""
    plan = {"baseline": (1, 0), "chain": (1, spec.chain_links), "indep": (INDEPENDENT_CHAINS, spec.independent_links)}
    out = {}
    for shape, (chains, links) in plan.items():
        name = kernel_name(index, spec, shape)
        out[shape] = PtxKernel(name, kernel_text(spec, name, chains, links))
    return out


# --- one batched module per architecture -> rows ----------------------------------------------------------------

def ptx_per_link(spec: InstructionSpec) -> int:
    """PTX instructions in one link (a round trip or a mixed-in ALU op counts)."""
    return spec.link.count(";")


def _format_lowering(lowering: dict[str, float]) -> str:
    """'MUFU.EX2 + FADD', '0.5×IADD3', '4×FFMA + MUFU.RCP + ...' (instances per link)."""
    parts = []
    for op, n in lowering.items():
        n = round(n, 2)
        parts.append(op if n == 1 else f"{n:g}×{op}")
    return " + ".join(parts)


_MOVES = {"MOV", "UMOV", "MOV32I"}   # register moves: never one of two alternating lowerings


def lowering_figures(sched, per_ptx: float) -> dict:
    """How the PTX op maps onto SASS, from one Schedule:

    lowering_kind: 'single' (one SASS instruction per PTX op), 'merged' (ptxas folds several PTX ops into one SASS
    instruction, e.g. two add.s32 into one IADD3: the figures per SASS instruction are not per PTX op),
    'mixed' (ptxas alternates two or more lowerings of the same op, e.g. HADD2 and HFMA2.MMA, each with its own
    share and latency), 'fixed sequence' (a short straight-line sequence: FMUL.RZ + MUFU.SIN) or 'software sequence'
    (the lowering branches or calls: a fast path with a slow-path subroutine).
    lowerings: per focus opcode 'OPCODE share latency' ('HADD2 47% 6 [6–6]; HFMA2.MMA 53% 10 [10–10]').
    ptx_per_sass, latency_per_ptx_cycles, sass_throughput_per_sm_per_clk: the merged case stated per PTX op and
    per SASS instruction."""
    focus = list(sched.per_opcode)
    partial = [f for f in focus if 0 < f[1] < 1 - 1e-9 and f[0].split(".")[0] not in _MOVES
               and not f[0].startswith("IMAD.MOV")]
    focus_per_link = sum(f[1] for f in focus)
    if sched.has_control_flow:
        kind = "software sequence"
    elif len(partial) >= 2:
        kind = "mixed"
    elif focus_per_link < 1 - 1e-9 and per_ptx < 1 - 1e-9:
        kind = "merged"
    elif per_ptx > 1 + 1e-9:
        kind = "fixed sequence"
    else:
        kind = "single"
    total = sum(f[1] for f in (partial if kind == "mixed" else focus)) or 1.0
    parts = []
    for op, n, nf, mode, lo, hi, nv in (sorted(focus) if kind == "mixed" else focus):
        share = f" {100 * n / total:.0f}%" if kind == "mixed" and 0 < n < 1 else ""
        if nf and mode is not None:
            lat = f" {mode}" + (f" [{lo}–{hi}]" if lo != hi else "")
        elif nv:
            lat = " SB"
        else:
            lat = ""
        parts.append(f"{op}{share}{lat}")
    out = {"lowering_kind": kind, "lowerings": "; ".join(parts), "ptx_per_sass": None,
           "latency_per_ptx_cycles": None, "sass_throughput_per_sm_per_clk": None}
    if sched.issue_interval_cycles:
        from .schedule import SMSP_PER_SM, THREADS_PER_WARP
        out["sass_throughput_per_sm_per_clk"] = round(SMSP_PER_SM * THREADS_PER_WARP / sched.issue_interval_cycles, 2)
    if kind == "merged" and focus_per_link:
        out["ptx_per_sass"] = round(1 / focus_per_link, 3)
        if sched.fixed_latency_cycles:
            out["latency_per_ptx_cycles"] = round(sched.fixed_latency_cycles * focus_per_link, 3)
    return out


def _empty_row(spec: InstructionSpec, arch: str, status: str, error: str = "") -> dict:
    return {"instruction": spec.name, "group": spec.group, "ptx": spec.ptx, "arch": arch, "status": status,
            "error": error, "ptx_per_link": ptx_per_link(spec)}


def catalogue_kernels(specs: list[InstructionSpec]) -> dict[tuple[int, str], PtxKernel]:
    """{(entry index, shape): kernel} for a list of entries; the same text serves every architecture."""
    return {(i, shape): k for i, spec in enumerate(specs) for shape, k in kernels_for(i, spec).items()}


def rows_for_arch(specs: list[InstructionSpec], arch: str,
                  kernels: dict[tuple[int, str], PtxKernel] | None = None) -> list[dict]:
    """Assemble every entry's kernels for `arch` in one module, disassemble once, and read each schedule.

    An entry ptxas rejects (not legal on this architecture) becomes a 'rejected' row with ptxas's message.
    """
    from . import schedule, toolchain
    from .sass import parse_cuobjdump

    kernels = kernels or catalogue_kernels(specs)
    cubin, rejected = toolchain.assemble_many(list(kernels.values()), arch)
    functions = parse_cuobjdump(toolchain.cuobjdump_sass(cubin)) if cubin else {}
    rows = []
    for i, spec in enumerate(specs):
        names = {shape: kernels[(i, shape)].name for shape in SHAPES}
        errors = [re.sub(r"^(error|fatal)\s*:\s*", "", rejected[n]) for n in names.values() if n in rejected]
        if errors:
            rows.append(_empty_row(spec, arch, "rejected", errors[0]))
            continue
        missing = [n for n in names.values() if n not in functions]
        if missing:
            raise toolchain.ToolchainError(
                f"cuobjdump output for {arch} lacks kernel {missing[0]}: the disassembly is incomplete; "
                "clear the cache (GPU_PROBES_CACHE) and rebuild")
        sched = schedule.read_schedule(functions[names["baseline"]], functions[names["chain"]],
                                       functions[names["indep"]], spec.chain_links, spec.focus)
        per_ptx = sched.sass_count / ptx_per_link(spec)
        row = _empty_row(spec, arch, "ok")
        row.update(lowering_figures(sched, per_ptx))
        row.update(
            sass_opcodes=" ".join(sched.lowering),
            sass_lowering=_format_lowering(sched.lowering),
            sass_count=sched.sass_count,
            sass_per_ptx=round(per_ptx, 3),
            emulated=row["lowering_kind"] == "software sequence",
            focus_opcodes=" ".join(sched.focus_opcodes),
            latency_class=sched.latency_class,
            fixed_latency_cycles=sched.fixed_latency_cycles,
            latency_min=sched.latency_min,
            latency_max=sched.latency_max,
            fixed_links=sched.fixed_links,
            variable_links=sched.variable_links,
            scoreboard=" ".join(f"SB{b}" for b in sched.scoreboards),
            chain_links=spec.chain_links,
            chain_cycles_per_link=sched.chain_cycles_per_link,
            issue_interval_cycles=sched.issue_interval_cycles,
            issue_cycles_per_ptx=sched.issue_cycles_per_ptx,
            implied_throughput_per_sm_per_clk=sched.implied_throughput_per_sm_per_clk,
        )
        rows.append(row)
    return rows
