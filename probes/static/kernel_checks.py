"""Checks of our own probe kernels from ptxas's schedule (decoded SASS control bits), with no GPU (issue 20).

Five checks, each a pure function of parsed SASS (probes.static.sass) or of numbers read from the cubin:
- **clock discipline**: `%clock64` reads come in triples (start, mid, stop) around passes of n and 2n steps.
  A load issued before a mark must not be first waited on after it while timing runs (the start clock raced a
  cold load, or pass n's last load leaked into pass 2n); every load a pass issues must be waited on by the
  clock read that closes it (the stop clock waits on the last chained result). Kernel-parameter loads
  (`LDC/ULDC c[0x0][...]`) and special-register reads are not timed work and are left out;
- **step overhead**: in every loop holding a chase (loads addressed by the previous load's result), the issue
  cycles from one chained load to the next (sum of the stall fields from the load up to, not including, the next
  one, around the loop's back edge too): beyond the load's own issue slot this is loop bookkeeping that a GPU pays
  on every step when it exceeds the load's latency. Checked against a budget the probe declares;
- **occupancy**: the blocks of a throughput point fit one SM at once (registers x threads, shared memory), from
  the cubin's resource usage (`cuobjdump -res-usage`) and the SM limits of the target;
- **loop-resident loads**: a polling kernel's load sits inside a loop (ptxas did not hoist it out);
- **coverage** lives with the probe's plan (probes.catalogue): it needs no SASS.
All of this is the compiler's schedule, never a measurement.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .sass import Instruction
from .schedule import destinations, waits_on

# Per-SM limits by compute capability (CUDA C++ Programming Guide, "Technical Specifications per Compute
# Capability"): 32-bit registers per SM, resident threads per SM, max shared memory per SM (bytes), register
# allocation unit (registers, per warp), max resident blocks per SM.
SM_LIMITS = {
    (8, 0): {"registers": 65536, "threads": 2048, "shared_bytes": 164 * 1024, "reg_unit": 256, "blocks": 32},
    (8, 6): {"registers": 65536, "threads": 1536, "shared_bytes": 100 * 1024, "reg_unit": 256, "blocks": 16},
    (8, 9): {"registers": 65536, "threads": 1536, "shared_bytes": 100 * 1024, "reg_unit": 256, "blocks": 24},
    (9, 0): {"registers": 65536, "threads": 2048, "shared_bytes": 228 * 1024, "reg_unit": 256, "blocks": 32},
    (10, 0): {"registers": 65536, "threads": 2048, "shared_bytes": 228 * 1024, "reg_unit": 256, "blocks": 32},
}
LIMITS_SOURCE = "CUDA C++ Programming Guide, Technical Specifications per Compute Capability"
CHECKS = ("clock discipline", "step overhead", "occupancy", "loop-resident loads", "coverage")

_SPECIAL = ("S2R", "S2UR", "CS2R")


@dataclass(frozen=True)
class Expect:
    """What a probe declares about its kernels (`Probe(expect=...)`), for the checks above (None/''/0 = check not
    applicable). With `opcode` it is also the probe's SASS check (`check_sass`): the chase as data."""

    clock: bool = True  # the kernel times passes with %clock64 triples
    chain: str = ""  # SASS base of the chased load ('LDG', 'LDS', 'LDC', 'LDL'): step overhead
    step_budget: int = 12  # issue cycles allowed between consecutive chained loads
    polled: str = ""  # SASS base of a polled load that must stay inside a loop
    opcode: str = ""  # exact opcode of every chained load, modifiers included ('LDG.E.64.STRONG.GPU')
    unroll: int = 0  # chained steps per trip of the timed loop, at least (timed_pass.UNROLL)

    def check_sass(self, name: str, insts: list[Instruction]) -> list[str]:
        """Three %clock64 reads and a chain of `chain` loads, each addressed by a previous one's result, every one
        exactly `opcode`."""
        return chain_problems(insts, self.chain, self.opcode or None)


def chain_problems(
    insts: list[Instruction], load_base: str, opcode: str | None = None, min_chained: int = 3
) -> list[str]:
    """SASS check of a chase kernel: three %clock64 reads, and a chain of `load_base` loads each addressed by a
    previous load's result. With `opcode`, every such load must be exactly that opcode (modifiers included)."""
    problems = []
    loads = [i for i in insts if i.base == load_base and i.dest_registers]
    clocks = [i for i in insts if i.base == "CS2R" and "SR_CLOCKLO" in i.text]
    if len(clocks) < 3:
        problems.append(f"expected 3 %clock64 reads, found {len(clocks)}")
    chained = [i for i in loads if address_from_load(i, loads)]
    if len(chained) < min_chained:
        problems.append(f"expected a dependent {load_base} chain, found {len(chained)} self-addressed loads")
    if opcode:
        wrong = sorted({i.opcode for i in chained if i.opcode != opcode})
        if wrong:
            problems.append(f"chain loads are {', '.join(wrong)}, expected {opcode}")
    return problems


def address_from_load(inst: Instruction, loads: list[Instruction]) -> bool:
    """True when the load's address register is the destination of some load of the same kind (a chase step)."""
    dests = {d for i in loads for d in i.dest_registers[:1]}
    return bool(_address_registers(inst) & dests)


def clock_reads(insts: list[Instruction]) -> list[int]:
    return [k for k, i in enumerate(insts) if i.base == "CS2R" and "SR_CLOCKLO" in i.text]


def _is_timed_producer(ins: Instruction) -> bool:
    if ins.control.write_barrier is None or ins.base in _SPECIAL:
        return False
    return not (ins.base in ("LDC", "ULDC") and any("c[0x0]" in op for op in ins.operands))


def _first_wait(insts: list[Instruction], p: int) -> int | None:
    barrier = insts[p].control.write_barrier
    return next((k for k in range(p + 1, len(insts)) if waits_on(insts[k], barrier)), None)


def clock_problems(insts: list[Instruction]) -> list[str]:
    """Clock discipline (see the module text); one line per violation."""
    clocks = clock_reads(insts)
    if not clocks:
        return ["no %clock64 read"]
    if len(clocks) % 3:
        return [f"{len(clocks)} %clock64 reads: not triples of start, mid and stop marks"]
    problems = []
    producers = [(p, _first_wait(insts, p)) for p, ins in enumerate(insts) if _is_timed_producer(ins)]
    for t in range(0, len(clocks), 3):
        c0, c1, c2 = clocks[t : t + 3]
        for mark in (c0, c1):
            for p, w in producers:
                if p < mark and w is not None and mark < w <= c2:
                    problems.append(
                        f"clock read at {insts[mark].address:#x} does not wait for "
                        f"{insts[p].opcode} at {insts[p].address:#x} (first waited on at "
                        f"{insts[w].address:#x}, inside the timed passes)"
                    )
        for lo, hi in ((c0, c1), (c1, c2)):
            for p, w in producers:
                if lo < p < hi and (w is None or w > hi):
                    problems.append(
                        f"stop clock at {insts[hi].address:#x} does not wait for {insts[p].opcode} at "
                        f"{insts[p].address:#x}, issued in the pass it closes"
                    )
    return problems


def _branch_target(ins: Instruction) -> int | None:
    if ins.base != "BRA" or not ins.operands:
        return None
    m = re.match(r"\s*(?:`\()?\s*(0x[0-9a-f]+)", ins.operands[-1])
    return int(m.group(1), 16) if m else None


def loops(insts: list[Instruction]) -> list[tuple[int, int]]:
    """(head, back-branch) instruction indices of every loop closed by a backward branch."""
    by_address = {i.address: k for k, i in enumerate(insts)}
    out = []
    for k, ins in enumerate(insts):
        target = _branch_target(ins)
        if target is not None and target <= ins.address and target in by_address:
            out.append((by_address[target], k))
    return out


def _address_registers(ins: Instruction) -> set[str]:
    regs = set()
    for op in ins.operands[1:]:
        if "[" in op:
            inner = op[op.index("[") + 1 : op.rindex("]")]
            regs |= set(re.findall(r"\bR\d+\b", inner))
    return regs


def step_gaps(insts: list[Instruction], load_base: str) -> list[list[int]]:
    """Per innermost chase loop: issue cycles from each chained load to the next one, the back edge included when
    the loop's first load chases its last. A pair is chained when the later load is addressed by the earlier one's
    result (consecutive `load_base` loads in program order)."""
    out = []
    spans = loops(insts)
    innermost = [(h, b) for h, b in spans if not any((h2, b2) != (h, b) and h <= h2 and b2 <= b for h2, b2 in spans)]
    stall = [i.control.stall for i in insts]

    def chases(a: int, b: int) -> bool:  # b's address is a's result, not rewritten in between
        dest = insts[a].dest_registers[:1]
        if not dest or dest[0] not in _address_registers(insts[b]):
            return False
        between = range(a + 1, b) if a < b else [*range(a + 1, back + 1), *range(head, b)]
        return not any(dest[0] in destinations(insts[k]) for k in between)

    for head, back in innermost:
        body = [k for k in range(head, back + 1) if insts[k].base == load_base and insts[k].dest_registers]
        gaps = [sum(stall[a:b]) for a, b in zip(body, body[1:]) if chases(a, b)]
        if len(body) > 1 and chases(body[-1], body[0]):
            gaps.append(sum(stall[body[-1] : back + 1]) + sum(stall[head : body[0]]))
        if len(gaps) >= 2:
            out.append(gaps)
    return out


def step_overhead(insts: list[Instruction], load_base: str) -> dict | None:
    """{max, mean, loops, steps_per_trip} of the issue cycles between consecutive chained loads, or None."""
    per_loop = step_gaps(insts, load_base)
    if not per_loop:
        return None
    gaps = [g for loop in per_loop for g in loop]
    return {
        "max_cycles": max(gaps),
        "mean_cycles": round(sum(gaps) / len(gaps), 2),
        "loops": len(per_loop),
        "steps_per_trip": min(len(loop) for loop in per_loop),
    }


def step_problems(insts: list[Instruction], load_base: str, budget: int, unroll: int = 0) -> list[str]:
    over = step_overhead(insts, load_base)
    if over is None:
        return [f"no loop holding a chain of {load_base} loads"]
    problems = []
    if over["max_cycles"] > budget:
        problems.append(
            f"{over['max_cycles']} issue cycles between consecutive chained {load_base} loads "
            f"(budget {budget}, mean {over['mean_cycles']}): loop overhead inside the chase"
        )
    if over["steps_per_trip"] < unroll:
        problems.append(
            f"{over['steps_per_trip']} chained {load_base} loads per loop trip, declared {unroll}: "
            "the unrolled loop was rolled up or split"
        )
    return problems


def loop_resident_problems(insts: list[Instruction], load_base: str, opcode: str = "") -> list[str]:
    """Every `load_base` load (exactly `opcode`, when given) sits inside some loop."""
    spans = loops(insts)
    loads = [k for k, i in enumerate(insts) if i.base == load_base and (not opcode or i.opcode == opcode)]
    if not loads:
        return [f"no {opcode or load_base} load at all"]
    outside = [k for k in loads if not any(h <= k <= b for h, b in spans)]
    return [f"{insts[k].opcode} at {insts[k].address:#x} is outside every loop: the poll was hoisted" for k in outside]


_RES_FUNC = re.compile(r"^\s*Function\s+(\S+):\s*$")
_RES_FIELD = re.compile(r"\b(REG|SHARED|LOCAL|STACK):(\d+)")


def parse_resource_usage(text: str) -> dict[str, dict[str, int]]:
    """{function: {registers, shared_bytes, local_bytes, stack_bytes}} from `cuobjdump -res-usage` text."""
    out, current = {}, None
    for line in text.splitlines():
        m = _RES_FUNC.match(line)
        if m:
            current = m.group(1)
            continue
        if current and "REG:" in line:
            fields = dict(_RES_FIELD.findall(line))
            out[current] = {
                "registers": int(fields.get("REG", 0)),
                "shared_bytes": int(fields.get("SHARED", 0)),
                "local_bytes": int(fields.get("LOCAL", 0)),
                "stack_bytes": int(fields.get("STACK", 0)),
            }
            current = None
    return out


def resource_usage(cubin: bytes, cuobjdump: Path) -> dict[str, dict[str, int]]:
    """Registers and static shared memory per function of a cubin (`cuobjdump -res-usage`)."""
    with tempfile.TemporaryDirectory(prefix="gpu-probes-") as d:
        path = Path(d) / "in.cubin"
        path.write_bytes(cubin)
        r = subprocess.run([str(cuobjdump), "-res-usage", str(path)], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"cuobjdump -res-usage failed: {(r.stderr or r.stdout).strip()[:200]}")
    return parse_resource_usage(r.stdout)


def blocks_per_sm_limit(usage: dict, threads_per_block: int, cc: tuple[int, int], dynamic_shared: int = 0) -> int:
    """Blocks of this kernel one SM can hold at once, by registers, threads, shared memory and the block limit."""
    lim = SM_LIMITS.get(tuple(cc)) or SM_LIMITS[(9, 0)]
    warps = -(-threads_per_block // 32)
    regs_per_warp = -(-max(usage["registers"], 1) * 32 // lim["reg_unit"]) * lim["reg_unit"]
    by_regs = lim["registers"] // (regs_per_warp * warps)
    by_threads = lim["threads"] // (warps * 32)
    shared = usage.get("shared_bytes", 0) + dynamic_shared
    by_shared = lim["shared_bytes"] // shared if shared else lim["blocks"]
    return min(by_regs, by_threads, by_shared, lim["blocks"])


def occupancy_problem(
    usage: dict, threads_per_block: int, blocks_per_sm: int, cc: tuple[int, int], dynamic_shared: int = 0
) -> str | None:
    """None when `blocks_per_sm` blocks of `threads_per_block` threads are co-resident on one SM, else why not."""
    fit = blocks_per_sm_limit(usage, threads_per_block, cc, dynamic_shared)
    if blocks_per_sm <= fit:
        return None
    return (
        f"{blocks_per_sm} blocks of {threads_per_block} threads per SM do not fit at once: {usage['registers']} "
        f"registers/thread and {usage.get('shared_bytes', 0) + dynamic_shared} B shared allow {fit} "
        f"on cc {cc[0]}.{cc[1]} (a second wave would run)"
    )
