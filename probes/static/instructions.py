"""The static instruction atlas's kernels: one PTX link per instruction, turned into latency and throughput kernels.

The catalogue is a view of the one instruction table (probes/static/instruction_table.py): the rows that have a
`link`, in table order; a new entry is a row there, not here. Each `InstructionSpec` gives one *link* of PTX: it
reads the chain state `{x}` and writes it back, so a chain of links is a dependent sequence ptxas must schedule at
the instruction's latency. Per (instruction, architecture) three
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

from . import instruction_table
from .instruction_table import (  # noqa: F401  (the atlas's constants, re-exported)
    CHAIN_LINKS,
    INDEPENDENT_CHAINS,
    INDEPENDENT_LINKS,
    SEQUENCE_CHAIN_LINKS,
    SEQUENCE_INDEPENDENT_LINKS,
    InstructionSpec,
)
from .toolchain import PtxKernel

SHAPES = ("baseline", "chain", "indep")

_POOL = 8  # operand registers loaded per kernel ({o0}..{o7}); {b},{c},{e} rotate over the first four
_LANES = (1, 2, 4, 8, 16)
_IMMS = (3, 5, 7, 11, 13)
_LUTS = ("0xe8", "0x96", "0x6a", "0xd4")  # majority, xor3, (a&b)^c, ...: no two links cancel


class UnknownInstructionError(ValueError):
    """A name that is not in CATALOGUE."""


# The catalogue is a view of the one instruction table: its rows that have a link, in table order.
CATALOGUE: tuple[InstructionSpec, ...] = instruction_table.ATLAS

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
            f"unknown instruction {unknown[0]!r}: no row of probes/static/instruction_table.py has that link name; "
            f"pick one of instruction_names() (e.g. {', '.join(list(_BY_NAME)[:3])}, ...)"
        )
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
        x=fields["x0"],
        b=f"%o{rot % 4}",
        c=f"%o{(rot + 1) % 4}",
        e=f"%o{(rot + 2) % 4}",
        t=f"%t{chain}",
        t2=f"%u{chain}",
        r=f"%r{chain}",
        h=f"%h{chain}",
        q=f"%q{chain}",
        p=f"%p{chain}",
        lane=str(_LANES[rot % len(_LANES)]),
        imm=str(_IMMS[rot % len(_IMMS)]),
        lut=_LUTS[rot % len(_LUTS)],
        gaddr=f"%ain+{256 + chain * w}",
        saddr=f"%sa+{chain * 4}",
        sbase="%sa",
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


_MOVES = {"MOV", "UMOV", "MOV32I"}  # register moves: never one of two alternating lowerings


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
    partial = [
        f for f in focus if 0 < f[1] < 1 - 1e-9 and f[0].split(".")[0] not in _MOVES and not f[0].startswith("IMAD.MOV")
    ]
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
    for op, n, nf, mode, lo, hi, nv in sorted(focus) if kind == "mixed" else focus:
        share = f" {100 * n / total:.0f}%" if kind == "mixed" and 0 < n < 1 else ""
        if nf and mode is not None:
            lat = f" {mode}" + (f" [{lo}–{hi}]" if lo != hi else "")
        elif nv:
            lat = " SB"
        else:
            lat = ""
        parts.append(f"{op}{share}{lat}")
    out = {
        "lowering_kind": kind,
        "lowerings": "; ".join(parts),
        "ptx_per_sass": None,
        "latency_per_ptx_cycles": None,
        "sass_throughput_per_sm_per_clk": None,
    }
    if sched.issue_interval_cycles:
        from .schedule import SMSP_PER_SM, THREADS_PER_WARP

        out["sass_throughput_per_sm_per_clk"] = round(SMSP_PER_SM * THREADS_PER_WARP / sched.issue_interval_cycles, 2)
    if kind == "merged" and focus_per_link:
        out["ptx_per_sass"] = round(1 / focus_per_link, 3)
        if sched.fixed_latency_cycles:
            out["latency_per_ptx_cycles"] = round(sched.fixed_latency_cycles * focus_per_link, 3)
    return out


def _empty_row(spec: InstructionSpec, arch: str, status: str, error: str = "") -> dict:
    return {
        "instruction": spec.name,
        "group": spec.group,
        "ptx": spec.ptx,
        "arch": arch,
        "status": status,
        "error": error,
        "ptx_per_link": ptx_per_link(spec),
    }


def catalogue_kernels(specs: list[InstructionSpec]) -> dict[tuple[int, str], PtxKernel]:
    """{(entry index, shape): kernel} for a list of entries; the same text serves every architecture."""
    return {(i, shape): k for i, spec in enumerate(specs) for shape, k in kernels_for(i, spec).items()}


def rows_for_arch(
    specs: list[InstructionSpec], arch: str, kernels: dict[tuple[int, str], PtxKernel] | None = None
) -> list[dict]:
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
                "clear the cache (GPU_PROBES_CACHE) and rebuild"
            )
        sched = schedule.read_schedule(
            functions[names["baseline"]],
            functions[names["chain"]],
            functions[names["indep"]],
            spec.chain_links,
            spec.focus,
        )
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
