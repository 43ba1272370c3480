"""Shared pieces of the pointer-chase probes: the random single cycle, chains laid out in device memory, the timed
three-pass kernel, and its SASS check.

Layout: slot s of a chain sits at byte `positions[s]` of one device buffer and holds the absolute address of slot
`next[s]` (in the simulator: its 8-byte word index), so a chase step is one load whose result is the next address.
The buffer is filled on the device by a grid-stride scatter kernel, so a chain spanning tens of GiB (TLB ladder)
never needs a host copy of the whole footprint.

Timing: a warm pass of n loads, then timed passes of n and 2n loads; per-load latency = (t(2n) - t(n)) / n, which
cancels the fixed cost of the clock reads and the loop exit (nanoBench's two-length trick). Both raw pass times are
returned too. Under the simulator each chase step also advances the test clock (+4) and test timer (+2), so the
two-length arithmetic is checkable there: a simulated chase must give exactly 4 "cycles" and 2 "ns" per load.
"""
from __future__ import annotations

import re

import numpy as np
from numba import cuda

from probes.engine import intrinsics as X
from probes.spec import KernelCheckError

SIM_CYCLES_PER_STEP, SIM_NS_PER_STEP = 4, 2   # what the simulator's test clock charges per chase step


def sattolo_cycle(n: int, rng: np.random.Generator) -> np.ndarray:
    """next[i] for a single random cycle through all n slots (Sattolo: every slot is visited once per lap)."""
    if n < 1:
        raise ValueError(f"a chain needs at least one slot, got {n}")
    order = rng.permutation(n)
    nxt = np.empty(n, dtype=np.int64)
    nxt[order] = np.roll(order, -1)
    return nxt


def walk(nxt: np.ndarray, start: int, hops: int) -> int:
    """Slot reached from `start` after `hops` steps: the host-side expectation a kernel's final pointer must meet."""
    s = int(start)
    for _ in range(hops):
        s = int(nxt[s])
    return s


def page_positions(slots: int, stride: int, spread_bytes: int = 0) -> np.ndarray:
    """Byte offset of each slot: one slot per `stride`, shifted within its stride by (s * spread) mod stride when
    `spread_bytes` > 0, so page-strided slots do not all fall into the same cache set (they stay on their own page)."""
    pos = np.arange(slots, dtype=np.int64) * stride
    if spread_bytes:
        pos += (np.arange(slots, dtype=np.int64) * spread_bytes) % stride
    return pos


def _sim_wrap(load):
    def step(memory, p):
        X.clock64()        # charge the simulated load on the test clock: (t(2n) - t(n)) / n == 4 exactly
        X.globaltimer()
        return load(memory, p)
    return step


def chase_step(qualifier: str = ""):
    """The 64-bit pointer-chase step for a cache qualifier ('' default, '.ca', '.cg', '.nc')."""
    load = X.ld_u64_addr_hinted(qualifier)
    return _sim_wrap(load) if X.SIMULATOR else load


def make_timed_passes(step):
    """Device function `timed(memory, p, steps, out) -> p`: a warm pass of n `step`s from p, then timed passes of n
    and 2n; out[0..3] = cycles(n), ns(n), cycles(2n), ns(2n). The stop reads come after a branch on the last loaded
    value (a bare stop-clock read races the final load). Every chase kernel (global, TLB, shared, constant, local)
    times its chain through this one function, so the method cannot drift between paths."""
    @cuda.jit(device=True)
    def timed(memory, p, steps, out):
        for _ in range(steps):              # warm pass
            p = step(memory, p)
        t0 = X.clock64()
        g0 = X.globaltimer()
        for _ in range(steps):
            p = step(memory, p)
        if p == 1:                          # consume the last load before the stop reads
            out[4] = 7
        t1 = X.clock64()
        g1 = X.globaltimer()
        for _ in range(2 * steps):
            p = step(memory, p)
        if p == 1:
            out[4] = 7
        t2 = X.clock64()
        g2 = X.globaltimer()
        out[0] = t1 - t0
        out[1] = g1 - g0
        out[2] = t2 - t1
        out[3] = g2 - g1
        return p
    return timed


def make_chase_kernel(step):
    """Kernel function (not yet jitted) chasing global memory from `start`. out: [c(n), ns(n), c(2n), ns(2n), -, p]."""
    timed = make_timed_passes(step)

    def chase(memory, start, steps, out):
        out[5] = timed(memory, start, steps, out)
    return chase


def scatter(memory, index, value):
    """memory[index[i]] = value[i], grid-stride: writes one chain slot per element."""
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, index.size, stride):
        memory[index[i]] = value[i]


class Chain:
    """A chase chain resident on the device: buffer, start pointer, and the host `next` for the expected end."""

    def __init__(self, ctx, footprint: int, positions: np.ndarray, nxt: np.ndarray):
        if footprint % 8 or positions.max(initial=0) + 8 > footprint:
            raise ValueError(f"chain positions do not fit a {footprint} B buffer of 8-byte words")
        self.nxt = nxt
        self._ends: dict = {}
        self.memory = ctx.device_array(footprint // 8, np.uint64)
        self.base = ctx.address_of(self.memory)
        self.positions = positions
        values = (self.base + positions[nxt]) if self.base else positions[nxt] // 8
        blocks, threads = (1, 4) if ctx.simulator else (min(1024, max(1, len(nxt) // 256)), 256)
        ctx.kernel("_chase.scatter", scatter)[blocks, threads](
            self.memory, ctx.to_device(positions // 8), ctx.to_device(values.astype(np.uint64)))
        self.start = np.uint64(self.pointer(0))

    def pointer(self, slot: int) -> int:
        return int(self.base + self.positions[slot]) if self.base else int(self.positions[slot] // 8)

    def check_end(self, final: int, hops: int) -> None:
        if hops not in self._ends:   # host walk once per chain and length, not once per sample
            self._ends[hops] = self.pointer(walk(self.nxt, 0, hops))
        want = self._ends[hops]
        if final != want:
            raise KernelCheckError(f"pointer chase ended at {final:#x}, expected {want:#x}: chain corrupted")


class ChainCache:
    """At most one chain resident at a time: footprints reach tens of GiB."""

    def __init__(self):
        self._key, self._chain = None, None

    def get(self, key, build) -> Chain:
        if key != self._key:
            self._key, self._chain = None, None   # drop the old buffer before allocating the new one
            self._chain, self._key = build(), key
        return self._chain


def run_chase(ctx, kernel_key: str, step, chain: Chain, steps: int) -> dict:
    """Launch the chase once, verify its final pointer, return one sample (cycles/ns per load and raw passes)."""
    out = ctx.device_array(6, np.uint64)
    ctx.kernel(kernel_key, make_chase_kernel(step))[1, 1](chain.memory, chain.start, steps, out)
    ctx.synchronize()
    c1, n1, c2, n2, _, final = (int(v) for v in out.copy_to_host())
    chain.check_end(final, 4 * steps)   # warm n + timed n + timed 2n
    return per_load_sample(c1, n1, c2, n2, steps)


def per_load_sample(c1: int, n1: int, c2: int, n2: int, steps: int) -> dict:
    """(t(2n) - t(n)) / n per load; `cycles`/`ns` are the differences, so their ratio is the SM clock."""
    return {"cycles_per_op": (c2 - c1) / steps, "ns_per_op": (n2 - n1) / steps, "cycles": c2 - c1, "ns": n2 - n1,
            "cycles_n": c1, "cycles_2n": c2, "ns_n": n1, "ns_2n": n2, "steps": steps}


def chain_problems(insts, load_base: str, opcode: str | None = None, min_chained: int = 3) -> list[str]:
    """SASS check shared by the chase kernels: three %clock64 reads, and a chain of `load_base` loads each addressed
    by a previous load's result. With `opcode`, every such load must be exactly that opcode (modifiers included)."""
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


def address_from_load(inst, loads) -> bool:
    """True when the load's address register is the destination of some load of the same kind (a chase step)."""
    dests = {d for i in loads for d in i.dest_registers[:1]}
    addr = [op for op in inst.operands[1:] if "[" in op]
    return any(r in dests for op in addr for r in _address_registers(op))


def _address_registers(operand: str) -> list[str]:
    inner = operand[operand.index("[") + 1:operand.rindex("]")] if "[" in operand else operand
    return re.findall(r"\bR\d+\b", inner)


def chain_steps(insts, load_base: str) -> list[tuple[str, str]]:
    """(address register, destination) of each `load_base` load in program order: the test inspects the chain."""
    out = []
    for i in insts:
        if i.base == load_base and i.dest_registers:
            regs = [r for op in i.operands[1:] if "[" in op for r in _address_registers(op)]
            out.append((regs[0] if regs else "", i.dest_registers[0]))
    return out
