"""Shared pieces of the pointer-chase probes: the random single cycle, chains laid out in device memory, the timed
three-pass kernel (its SASS check is data: `Expect(chain=..., opcode=...)` of probes/static/kernel_checks.py).

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

from probes.kernel import intrinsics as X
from probes.kernel import timed_pass as T
from probes.spec import KernelCheckError
from probes.static.kernel_checks import address_from_load, chain_problems  # noqa: F401  (the chase SASS check)

SIM_CYCLES_PER_STEP, SIM_NS_PER_STEP = 4, 2  # what the simulator's test clock charges per chase step


def sattolo_order(n: int, rng: np.random.Generator) -> np.ndarray:
    """The visiting order of a random single cycle through all n slots: slot order[i] is followed by order[i+1]."""
    if n < 1:
        raise ValueError(f"a chain needs at least one slot, got {n}")
    return rng.permutation(n)


def cycle_of(order: np.ndarray) -> np.ndarray:
    """next[s] of the cycle that visits slots in `order` (Sattolo: every slot once per lap)."""
    nxt = np.empty(len(order), dtype=np.int64)
    nxt[order] = np.roll(order, -1)
    return nxt


def sattolo_cycle(n: int, rng: np.random.Generator) -> np.ndarray:
    """next[i] for a single random cycle through all n slots (Sattolo: every slot is visited once per lap)."""
    return cycle_of(sattolo_order(n, rng))


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
        X.clock64()  # charge the simulated load on the test clock: (t(2n) - t(n)) / n == 4 exactly
        X.globaltimer()
        return load(memory, p)

    return step


def chase_step(qualifier: str = ""):
    """The 64-bit pointer-chase step for a cache qualifier ('' default, '.ca', '.cg', '.nc')."""
    load = X.ld_u64_addr_hinted(qualifier)
    return _sim_wrap(load) if X.SIMULATOR else load


def make_timed_passes(step, unroll: int = T.UNROLL):
    """Device function `timed(memory, p, steps, out) -> p`: a warm pass of n `step`s from p, then timed passes of n
    and 2n; out[0..3] = cycles(n), ns(n), cycles(2n), ns(2n). n = `steps` must be a multiple of `unroll`
    (`T.round_steps`). Built on the engine's one timed-pass primitive (probes/kernel/timed_pass.py): each clock read
    comes after a branch on the last loaded pointer, and the loop is `unroll` chained steps per trip of a uint32
    counter. Every chase kernel (global, TLB, shared, constant, local) times its chain through this one function."""
    lines = [
        "def timed(memory, p, steps, out):",
        f"    trips = uint32(steps // {unroll})",
        *T.section(["p = step(memory, p)"] * unroll, "p == 1", "out[4] = 7", warm=True),
        "    out[0] = t1 - t0",
        "    out[1] = g1 - g0",
        "    out[2] = t2 - t1",
        "    out[3] = g2 - g1",
        "    return p",
    ]
    scope = {"step": step, "uint32": np.uint32, "clock64": X.clock64, "globaltimer": X.globaltimer}
    exec(compile("\n".join(lines), f"<timed_pass:{getattr(step, '__name__', 'step')}:{unroll}>", "exec"), scope)
    return cuda.jit(device=True)(scope["timed"])


def make_chase_kernel(step):
    """Kernel function (not yet jitted) chasing global memory from `start`. out: [c(n), ns(n), c(2n), ns(2n), -, p]."""
    timed = make_timed_passes(step)

    def chase(memory, start, steps, out):
        out[5] = timed(memory, start, steps, out)

    return chase


def chase_kernels(name: str, step):
    """`kernels(cc)` of a probe whose one kernel is the global-memory chase with `step`: [(name, PTX)] for the dry
    run and the compile tests (no driver needed)."""

    def kernels(cc):
        from numba import types

        from probes.kernel.compile import kernel_ptx

        sig = (types.uint64[::1], types.uint64, types.int64, types.uint64[::1])
        return [(name, kernel_ptx(make_chase_kernel(step), sig, cc))]

    return kernels


def scatter(memory, index, value):
    """memory[index[i]] = value[i], grid-stride: writes one chain slot per element."""
    start, stride = cuda.grid(1), cuda.gridsize(1)
    for i in range(start, index.size, stride):
        memory[index[i]] = value[i]


class Chain:
    """A chase chain resident on the device: buffer, and where the next launch starts.

    Each launch continues from the slot where the previous one ended (`rank`: position in the visiting order), so
    successive samples walk successive stretches of the cycle and the set of lines the samples touch grows with the
    footprint (a chase restarted at slot 0 re-walked the same 4n slots every launch: past ~16 MiB every ladder
    point was an L2 hit). The end of every launch is checked against the host's walk from its start slot."""

    def __init__(self, ctx, footprint: int, positions: np.ndarray, nxt: np.ndarray, order: np.ndarray | None = None):
        if footprint % 8 or positions.max(initial=0) + 8 > footprint:
            raise ValueError(f"chain positions do not fit a {footprint} B buffer of 8-byte words")
        self.nxt = nxt
        self.order = order if order is not None else _order_of(nxt)
        self.rank = 0
        self.memory = ctx.device_array(footprint // 8, np.uint64)
        self.base = ctx.address_of(self.memory)
        self.positions = positions
        values = (self.base + positions[nxt]) if self.base else positions[nxt] // 8
        blocks, threads = (1, 4) if ctx.simulator else (min(1024, max(1, len(nxt) // 256)), 256)
        ctx.kernel("_chase.scatter", scatter)[blocks, threads](
            self.memory, ctx.to_device(positions // 8), ctx.to_device(values.astype(np.uint64))
        )

    @property
    def slots(self) -> int:
        return len(self.nxt)

    @property
    def start(self) -> np.uint64:
        """Pointer to the slot the next launch starts from."""
        return np.uint64(self.pointer(int(self.order[self.rank])))

    def pointer(self, slot: int) -> int:
        return int(self.base + self.positions[slot]) if self.base else int(self.positions[slot] // 8)

    def advance(self, final: int, hops: int) -> None:
        """Check a launch that started at `start` and took `hops` steps ended where the host walk ends; continue
        from there."""
        rank = (self.rank + hops) % self.slots
        want = self.pointer(int(self.order[rank]))
        if final != want:
            raise KernelCheckError(f"pointer chase ended at {final:#x}, expected {want:#x}: chain corrupted")
        self.rank = rank


def _order_of(nxt: np.ndarray) -> np.ndarray:
    order, s = np.empty(len(nxt), dtype=np.int64), 0
    for i in range(len(nxt)):
        order[i] = s
        s = int(nxt[s])
    if s != 0 or len(set(order.tolist())) != len(nxt):
        raise ValueError("next[] is not a single cycle through every slot")
    return order


class ChainCache:
    """At most one chain resident at a time: footprints reach tens of GiB."""

    def __init__(self):
        self._key, self._chain = None, None

    def get(self, key, build) -> Chain:
        if key != self._key:
            self._key, self._chain = None, None  # drop the old buffer before allocating the new one
            self._chain, self._key = build(), key
        return self._chain


MIN_PASS_STEPS = 256  # a timed pass of a small chain still walks it many times


def pass_steps(slots: int, most: int) -> int:
    """Loads per timed pass of a chase over `slots` slots: one per slot (at least MIN_PASS_STEPS), at most `most`
    (the probe's `max_steps`), in whole unrolled trips of the timed loop."""
    return T.round_steps(min(max(slots, MIN_PASS_STEPS), most))


WARM_LAP_L2_MULTIPLE = 4  # footprints up to this many x L2 get one full untimed lap before their first sample


def chase_plan(slots: int, steps: int, footprint: int, l2_bytes: int | None, launches: int = 1) -> dict:
    """What `launches` launches of `steps` loads per timed pass visit of a chain of `slots` slots.

    A launch walks 4 x steps slots (warm n, timed n and 2n) from where the previous one ended. `covers`: the
    launches together visit every slot. Where they do not, the reason is stated: within WARM_LAP_L2_MULTIPLE x L2
    a full warm lap runs first (steady state of the cycle, not a cold first touch); beyond it a stretch a sample
    walks was last touched a whole lap (> 4 x L2 of other lines) earlier, or never: each load misses L2 either way."""
    per_launch = 4 * steps
    fraction = min(1.0, per_launch / slots)
    covers = per_launch * launches >= slots
    warm_lap = not per_launch >= slots and bool(l2_bytes) and footprint <= WARM_LAP_L2_MULTIPLE * l2_bytes
    reason = ""
    if not covers:
        reason = (
            f"a full warm lap of {slots} slots runs before the first sample (footprint <= "
            f"{WARM_LAP_L2_MULTIPLE} x L2); launches continue from the previous final slot"
            if warm_lap
            else f"footprint > {WARM_LAP_L2_MULTIPLE} x L2: launches continue from the previous final slot, so "
            "each sample walks a stretch last touched a lap earlier or never"
            if l2_bytes
            else ""
        )
    return {
        "slots": slots,
        "steps": steps,
        "launch_fraction": round(fraction, 6),
        "covers": covers,
        "warm_lap": warm_lap,
        "reason": reason,
        "continues": True,
    }


def run_chase(ctx, kernel_key: str, step, chain: Chain, steps: int) -> dict:
    """Launch the chase once from where the last launch ended, verify its final pointer, return one sample."""
    if steps <= 0 or steps % T.UNROLL:
        raise ValueError(f"a timed pass is whole trips of {T.UNROLL} steps, got {steps} (use timed_pass.round_steps)")
    out = ctx.device_array(6, np.uint64)
    start_rank = chain.rank
    ctx.kernel(kernel_key, make_chase_kernel(step))[1, 1](chain.memory, chain.start, np.int64(steps), out)
    ctx.synchronize()
    c1, n1, c2, n2, _, final = (int(v) for v in out.copy_to_host())
    chain.advance(final, 4 * steps)  # warm n + timed n + timed 2n
    carveout = ctx.prefer_l1(kernel_key)  # ladder kernels want the most L1; applies from the next launch
    return {
        **per_load_sample(c1, n1, c2, n2, steps),
        "start_rank": start_rank,
        "chain_fraction": round(min(1.0, 4 * steps / chain.slots), 6),
        "l1_carveout": carveout,
    }


def warm_lap(ctx, kernel_key: str, step, chain: Chain) -> None:
    """One untimed launch that walks the whole cycle (at least one lap) from the current slot."""
    steps = T.round_steps(-(-chain.slots // 4))
    out = ctx.device_array(6, np.uint64)
    ctx.kernel(kernel_key, make_chase_kernel(step))[1, 1](chain.memory, chain.start, np.int64(steps), out)
    ctx.synchronize()
    chain.advance(int(out.copy_to_host()[5]), 4 * steps)


def per_load_sample(c1: int, n1: int, c2: int, n2: int, steps: int) -> dict:
    """(t(2n) - t(n)) / n per load (the engine's `timed_pass.per_op`); `cycles`/`ns` are the differences, so their
    ratio is the SM clock."""
    raw = {"cycles_n": c1, "cycles_2n": c2, "ns_n": n1, "ns_2n": n2, "steps": steps}
    per = T.per_op(T.per_op(raw, "cycles"), "ns")
    return {
        "cycles_per_op": per["cycles_per_op"],
        "ns_per_op": per["ns_per_op"],
        "cycles": c2 - c1,
        "ns": n2 - n1,
        **raw,
        "unroll": T.UNROLL,
    }


def _address_registers(operand: str) -> list[str]:
    inner = operand[operand.index("[") + 1 : operand.rindex("]")] if "[" in operand else operand
    return re.findall(r"\bR\d+\b", inner)


def chain_steps(insts, load_base: str) -> list[tuple[str, str]]:
    """(address register, destination) of each `load_base` load in program order: the test inspects the chain."""
    out = []
    for i in insts:
        if i.base == load_base and i.dest_registers:
            regs = [r for op in i.operands[1:] if "[" in op for r in _address_registers(op)]
            out.append((regs[0] if regs else "", i.dest_registers[0]))
    return out
