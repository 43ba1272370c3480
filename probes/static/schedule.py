"""Read latency and issue interval out of ptxas's schedule (the decoded control bits), never out of a GPU.

Method (../shared/notes/sass-control-bits.md):
- a *link* is a producer and its first consumer found by following registers (not adjacency: ptxas interleaves
  other work into a chain, and that work's stalls count towards the distance);
- the issue distance of a link is the sum of the stall fields from the producer up to, not including, the consumer;
- a link is *variable* when the producer sets a write scoreboard (the consumer, or something before it, waits on
  it, so the stalls say nothing about latency), otherwise *fixed*: its issue distance is the latency ptxas assumes;
- the issue interval is the distance between consecutive independent copies in the interleaved kernel.
All of this is the compiler's model of the hardware: a strong prior, labelled as such, never a measurement.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass

from .sass import Instruction

SMSP_PER_SM = 4  # every Volta+ SM has four sub-partitions, each issuing one warp instruction per clock
THREADS_PER_WARP = 32

_REG = re.compile(r"(?<![\w.])(U?R\d+|U?P\d+)(\.64)?\b")
_PRED = re.compile(r"^!?U?P(\d+|T)$")
_CONTROL_FLOW_END = ("EXIT", "RET", "BRA", "JMP")
# Opcodes that make a lowering a software sequence (branches around a slow path, subroutine calls).
SEQUENCE_FLOW = {"BRA", "CALL", "BSSY", "BSYNC", "RET", "JMP", "BRX", "JMX", "WARPSYNC"}


def _registers(operand: str) -> set[str]:
    """Registers an operand names; 'R4.64' in an address is the pair R4, R5."""
    out = set()
    for m in _REG.finditer(operand):
        reg = m.group(1)
        out.add(reg)
        if m.group(2) and reg.lstrip("U").startswith("R"):
            prefix = "UR" if reg.startswith("U") else "R"
            out.add(f"{prefix}{int(reg[len(prefix) :]) + 1}")
    return out


def _is_predicate(operand: str) -> bool:
    return bool(_PRED.match(operand.strip()))


# Opcodes printed as 'OP PT, Rd, ...': a predicate output first, then the register result.
_PREDICATE_THEN_RESULT = ("SHFL", "ATOMG", "ATOM", "LOP3", "PLOP3")
_NO_RESULT = {"RED", "REDG", "REDAS", "BAR", "BRA", "EXIT", "RET", "CALL", "DEPBAR", "WARPSYNC", "BSSY", "BSYNC", "NOP"}


def _result_positions(ins: Instruction) -> tuple[int, ...]:
    """Operand positions an instruction writes.

    Operand 0, plus operand 1 when it is a second output: a carry or predicate after a register
    ('IADD3 R2, P0, ...'), a second predicate ('ISETP P0, P1, ...'), or the register after a leading predicate
    ('SHFL.IDX PT, R5, ...', 'ATOMG.E.ADD PT, R5, [...]'). 'FCHK P0, R2, R3' reads R2: only listed opcodes qualify.
    """
    ops = ins.operands
    if not ops or ins.base in _NO_RESULT or ins.base.startswith("ST") or "[" in ops[0]:
        return ()
    if len(ops) > 2:
        first, second = _is_predicate(ops[0]), _is_predicate(ops[1])
        if second or (first and ins.base in _PREDICATE_THEN_RESULT and "[" not in ops[1]):
            return (0, 1)
    return (0,)


def destinations(ins: Instruction) -> set[str]:
    """Registers an instruction writes."""
    out: set[str] = set()
    for k in _result_positions(ins):
        out |= _registers(ins.operands[k])
    return out


def sources(ins: Instruction) -> set[str]:
    """Registers an instruction reads, including its guard predicate."""
    written = _result_positions(ins)
    regs: set[str] = set()
    for k, op in enumerate(ins.operands):
        if k not in written:
            regs |= _registers(op)
    if ins.predicate:
        regs |= _registers(ins.predicate.lstrip("@!"))
    return regs


def waits_on(ins: Instruction, barrier: int) -> bool:
    """True if `ins` holds issue until scoreboard `barrier` is released (wait mask, or DEPBAR on that barrier)."""
    if ins.control.waits_on(barrier):
        return True
    return ins.base == "DEPBAR" and any(op.strip() == f"SB{barrier}" for op in ins.operands)


@dataclass(frozen=True)
class Link:
    """A producer, its first consumer among the instruction's own SASS, and the schedule between them."""

    producer: int  # index into the instruction list
    consumer: int
    cycles: int  # sum of stall fields from producer to consumer (exclusive)
    variable: bool  # producer sets a write scoreboard
    barrier: int | None
    covered: bool  # some instruction in (producer, consumer] waits on that scoreboard
    producer_stall: int


def is_padding(ins: Instruction) -> bool:
    """NOPs and never-executed instructions ('@!PT ...', '@!UPT UIADD3 URZ, ...') that ptxas uses as delay slots."""
    return ins.opcode == "NOP" or ins.predicate in ("@!PT", "@!UPT")


def lowering(kernel: list[Instruction], baseline: list[Instruction], links: int) -> dict[str, float]:
    """SASS opcodes per PTX link: opcode counts of the kernel minus those of the link-free baseline, divided by the
    number of links. Opcodes at or below a quarter per link (a slow-path subroutine emitted once, operand loads the
    links narrowed) drop out.
    """
    diff = Counter(i.opcode for i in kernel if not is_padding(i))
    diff.subtract(Counter(i.opcode for i in baseline if not is_padding(i)))
    per_link = {op: n / links for op, n in diff.items() if n * 4 > links}
    order = {i.opcode: k for k, i in reversed(list(enumerate(kernel)))}  # first appearance
    return dict(sorted(per_link.items(), key=lambda kv: order.get(kv[0], 0)))


def _is_target(ins: Instruction, targets: set[str]) -> bool:
    return ins.opcode in targets and not is_padding(ins)


def _is_focus(ins: Instruction, targets: set[str], focus: tuple[str, ...]) -> bool:
    return _is_target(ins, targets) and (not focus or ins.base in focus)


def dependent_links(kernel: list[Instruction], targets: set[str], focus: tuple[str, ...] = ()) -> list[Link]:
    """Every link whose producer is a focus instruction and whose first reader of the result is a target instruction.

    A result first read by something else (the final store, an address computation) gives no link: latency to
    another unit can differ. A result overwritten before any read gives none either.
    """
    found = []
    for p, prod in enumerate(kernel):
        if not _is_focus(prod, targets, focus):
            continue
        written = destinations(prod)
        if not written:
            continue
        barrier = prod.control.write_barrier
        covered = False
        cycles = 0
        for c in range(p + 1, len(kernel)):
            cycles += kernel[c - 1].control.stall
            cons = kernel[c]
            if barrier is not None and waits_on(cons, barrier):
                covered = True
            if sources(cons) & written:
                if _is_target(cons, targets):
                    found.append(Link(p, c, cycles, barrier is not None, barrier, covered, prod.control.stall))
                break
            written -= destinations(cons)
            if not written or (cons.base in _CONTROL_FLOW_END and not cons.predicate):
                break
    return found


def issue_gaps(kernel: list[Instruction], targets: set[str], focus: tuple[str, ...] = ()) -> list[int]:
    """Stall cycles between consecutive focus instructions in program order (the interleaved-chains kernel)."""
    idx = [k for k, ins in enumerate(kernel) if _is_focus(ins, targets, focus)]
    return [sum(kernel[k].control.stall for k in range(a, b)) for a, b in zip(idx, idx[1:])]


def mode(values: list[int]) -> int | None:
    """Most common value; ties go to the smallest (the tightest schedule ptxas found legal)."""
    if not values:
        return None
    counts = Counter(values)
    best = max(counts.values())
    return min(v for v, n in counts.items() if n == best)


@dataclass(frozen=True)
class Schedule:
    """What the schedule says about one instruction on one architecture."""

    lowering: dict[str, float]  # SASS opcode -> instances per PTX link
    focus_opcodes: tuple[str, ...]  # the opcodes the latency and interval describe
    latency_class: str  # fixed / variable / mixed / unknown
    fixed_latency_cycles: int | None  # mode over fixed links
    latency_min: int | None
    latency_max: int | None
    fixed_links: int
    variable_links: int
    scoreboards: tuple[int, ...]  # write scoreboards used by variable links
    producer_stall: int | None  # mode of a variable producer's own stall (its issue gap, not its latency)
    chain_cycles_per_link: float | None  # stall cycles along the whole chain / links (scoreboard waits excluded)
    issue_interval_cycles: int | None  # mode of gaps between consecutive independent focus instructions
    issue_cycles_per_ptx: float | None
    implied_throughput_per_sm_per_clk: float | None
    # Per focus opcode: (instances per link, fixed links, fixed-latency mode, min, max, variable links). Where
    # ptxas alternates two lowerings of one PTX op (HADD2 and HFMA2.MMA) each has its own share and latency.
    per_opcode: tuple = ()
    has_control_flow: bool = False  # the lowering branches or calls (a software sequence, not a fixed one)

    @property
    def sass_count(self) -> float:
        return round(sum(self.lowering.values()), 3)


def read_schedule(
    baseline: list[Instruction],
    chain: list[Instruction],
    indep: list[Instruction] | None,
    chain_links: int,
    focus: tuple[str, ...] = (),
    indep_ptx: int | None = None,
) -> Schedule:
    """Combine the three kernels of one catalogue entry into a Schedule."""
    low = lowering(chain, baseline, chain_links)
    targets = set(low)
    if focus and not any(op.split(".")[0] in focus for op in targets):
        focus = ()  # the expected opcode is not there (renamed on this arch): describe the whole lowering
    focus_ops = tuple(op for op in low if not focus or op.split(".")[0] in focus)

    links = dependent_links(chain, targets, focus)
    fixed = [lk.cycles for lk in links if not lk.variable]
    variable = [lk for lk in links if lk.variable]
    if fixed and variable:
        klass = "mixed"
    elif fixed:
        klass = "fixed"
    elif variable:
        klass = "variable"
    else:
        klass = "unknown"

    marks = [k for k, ins in enumerate(chain) if ins.opcode in targets]
    chain_cycles = None
    if len(marks) > 1 and chain_links > 1:
        span = sum(chain[k].control.stall for k in range(marks[0], marks[-1]))
        chain_cycles = round(span / (chain_links - 1), 2)

    interval = per_ptx = throughput = None
    if indep is not None:
        gaps = issue_gaps(indep, targets, focus)
        interval = mode(gaps)
        focus_per_link = sum(low[op] for op in focus_ops)
        if gaps and focus_per_link:
            # One focus instruction per link or fewer: the pipe's interval is the cost. A sequence: its mean gap,
            # since the steps of one copy sit on different pipes and wait on each other.
            step = interval if focus_per_link <= 1 else statistics.fmean(gaps)
            per_ptx = round(step * focus_per_link, 3) if step else None
            if per_ptx:
                throughput = round(SMSP_PER_SM * THREADS_PER_WARP / per_ptx, 2)

    per_opcode = []
    for op in focus_ops:
        mine = [lk for lk in links if chain[lk.producer].opcode == op]
        fx = [lk.cycles for lk in mine if not lk.variable]
        per_opcode.append(
            (
                op,
                round(low[op], 3),
                len(fx),
                mode(fx),
                min(fx) if fx else None,
                max(fx) if fx else None,
                sum(1 for lk in mine if lk.variable),
            )
        )
    control = any(op.split(".")[0] in SEQUENCE_FLOW for op in low) or bool(
        marks and any(ins.base in SEQUENCE_FLOW for ins in chain[marks[0] : marks[-1] + 1])
    )

    return Schedule(
        per_opcode=tuple(per_opcode),
        has_control_flow=bool(control),
        lowering=low,
        focus_opcodes=focus_ops,
        latency_class=klass,
        fixed_latency_cycles=mode(fixed),
        latency_min=min(fixed) if fixed else None,
        latency_max=max(fixed) if fixed else None,
        fixed_links=len(fixed),
        variable_links=len(variable),
        scoreboards=tuple(sorted({lk.barrier for lk in variable if lk.barrier is not None})),
        producer_stall=mode([lk.producer_stall for lk in variable]),
        chain_cycles_per_link=chain_cycles,
        issue_interval_cycles=interval,
        issue_cycles_per_ptx=per_ptx,
        implied_throughput_per_sm_per_clk=throughput,
    )
