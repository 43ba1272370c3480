"""Cache-hint kernels: the Numba device code shared by the cache-hints.* probes, and its static checks.

One factory per kernel kind (residency, pollution, stream, bandwidth, prefetch, staleness, store, helpers), each
returning a kernel specialised to one hint; `module_ptx` compiles all hint variants of a kind into one PTX module and
`check_sass` verifies its SASS against the static atlas. The host side of each probe (buffers, launches, checks of
what the kernels computed) is its own module of this package; the hinted operations are ops.py; which hints exist
and how each is spelled is the one qualifier table, probes/static/qualifiers.py.
"""

from __future__ import annotations

import functools
import re

import numpy as np
from numba import cuda, uint32, uint64

from probes.catalogue.cache_hints import ops as H
from probes.kernel import bw_kernels
from probes.kernel import intrinsics as X
from probes.kernel import timed_pass as T
from probes.static import qualifiers as Q
from probes.static.kernel_checks import loop_resident_problems

LINE = 128  # bytes per chain slot: one L1/L2 line
MARKER_BASE = 0x4B1D00  # kernels store MARKER_BASE + hint index: check_sass finds it as an immediate


def hints_for(kind: str) -> tuple[str, ...]:
    """The hint axis of a kernel kind, in the qualifier table's order."""
    if kind == "store":
        return tuple(Q.STORE_HINTS)
    if kind == "prefetch":
        return Q.PREFETCH_HINTS
    return tuple(Q.LOAD_HINTS)


def hint_index(kind: str, hint: str) -> int:
    return hints_for(kind).index(hint)


def marker(kind: str, hint: str) -> int:
    """The immediate a kernel stores to prove (in SASS and in its output) which hint variant it is."""
    return MARKER_BASE + hint_index(kind, hint)


# ---------------------------------------------------------------------------------------------------- device code

CLOCK = (("t", "clock64()"),)  # the hint kernels time their passes with %clock64 only


def _device(name: str, lines: list[str], tag: str, **scope):
    """The device function `name` defined by the source `lines` (built from the engine's timed-pass primitive)."""
    scope = {"__name__": __name__, "uint32": np.uint32, "clock64": X.clock64, **scope}
    exec(compile("\n".join(lines), f"<cache_hints:{tag}>", "exec"), scope)
    return cuda.jit(device=True)(scope[name])


def walk_of(step, tag: str = "step"):
    """Device function `walk(mem, p, steps, out, idx) -> p`: timed passes of `steps` and 2 x `steps` chase steps
    from p, out[idx] = t(n) and out[idx + 1] = t(2n) in %clock64 cycles. The engine's one timed-pass primitive
    (probes/kernel/timed_pass.py): each clock read after a branch on the last loaded pointer, T.UNROLL chained
    steps per trip of a uint32 counter. `steps` must be whole trips (T.round_steps)."""
    lines = [
        "def walk(mem, p, steps, out, idx):",
        f"    trips = uint32(steps // {T.UNROLL})",
        *T.section(["p = step(mem, p)"] * T.UNROLL, "p == 1", "out[idx] = 7", clocks=CLOCK),
        "    out[idx] = t1 - t0",
        "    out[idx + 1] = t2 - t1",
        "    return p",
    ]
    return _device("walk", lines, f"walk:{tag}", step=step)


def lap_of(step, tag: str = "step"):
    """Device function `lap(mem, p, steps) -> p`: `steps` untimed chase steps (a warm or touch pass) on the same
    unrolled uint32 loop, so no chase loop of these kernels carries Numba's int64 range() bookkeeping."""
    lines = [
        "def lap(mem, p, steps):",
        f"    trips = uint32(steps // {T.UNROLL})",
        *T.loop(["p = step(mem, p)"] * T.UNROLL, "trips"),
        "    return p",
    ]
    return _device("lap", lines, f"lap:{tag}", step=step)


@functools.cache
def _walkers():
    """(plain, .cg) timed walks."""
    return walk_of(H.chase_step("none"), "none"), walk_of(H.chase_step("cg"), "cg")


@functools.cache
def _lap(hint: str):
    """Untimed lap with the hinted load ('' = the plain ld.global of X.ld_u64_addr)."""
    return lap_of(H.chase_step(hint) if hint else X.ld_u64_addr, hint or "plain")


def _named(func, name: str):
    func.__name__ = func.__qualname__ = name.replace("-", "_")
    return func


@functools.cache
def residency_kernel(hint: str, step=None):
    """Touch T1, T2 with the hinted load, H and M plain; re-time T1 plain (L1?), T2 with .cg (L2?), H plain (L1
    band), M with .cg (L2 band), cold C with .cg (HBM band). `step` overrides the hinted load (tests only)."""
    hlap = lap_of(step, "override") if step else _lap(hint)
    plain = _lap("")
    walk_plain, walk_cg = _walkers()
    mark = marker("residency", hint)

    def kernel(mem, starts, k, out):
        n = 3 * k  # k: steps per timed pass, whole trips; each chain holds 3k lines
        p = hlap(mem, starts[0], n)
        q = hlap(mem, starts[1], n)
        h = plain(mem, starts[2], n)
        m = plain(mem, starts[3], n)
        c = starts[4]
        if q == 1 or h == 1 or m == 1 or c == 1:  # every warm chain has landed before the first start clock
            out[15] = 7  # (p: the walk's own guard)
        p = walk_plain(mem, p, k, out, 0)
        q = walk_cg(mem, q, k, out, 2)
        h = walk_plain(mem, h, k, out, 4)
        m = walk_cg(mem, m, k, out, 6)
        c = walk_cg(mem, c, k, out, 8)
        out[10] = p
        out[11] = q
        out[12] = h
        out[13] = m
        out[14] = c
        out[15] = mark

    return _named(kernel, f"residency_{hint_index('residency', hint)}")


@functools.cache
def pollution_l1_kernel(hint: str, load=None):
    """One block: thread 0 times a victim chain with .cg (L2 band), makes it L1-resident with plain loads and times it
    (L1 band: the .cg walk comes first because it may itself drop the victim's L1 copies); the block streams a
    buffer with the hinted 4-byte load (one per line); thread 0 re-times the victim."""
    hload = load or H.load_u32(hint)
    plain = _lap("")
    walk_plain, walk_cg = _walkers()
    mark = marker("pollution-l1", hint)

    def kernel(mem, start, k, stream, n_lines, out, acc):
        tid = cuda.threadIdx.x
        p = start
        if tid == 0:
            p = plain(mem, p, 3 * k)
            p = walk_cg(mem, p, k, out, 2)  # L2 band first: a .cg walk may drop the victim's L1 copies,
            p = plain(mem, p, 3 * k)  # so the victim is made L1-resident again after it
            p = walk_plain(mem, p, k, out, 0)
        cuda.syncthreads()
        s = uint64(0)
        for line in range(tid, n_lines, cuda.blockDim.x):
            s += uint64(hload(stream, line * 32))
        if cuda.atomic.add(acc, 0, s) == uint64(0xFFFFFFFFFFFFFFFF):  # never true: the atomic lands before
            out[7] = 7  # the re-timed walk (clock discipline)
        cuda.syncthreads()
        if tid == 0:
            p = walk_plain(mem, p, k, out, 4)
            out[6] = p
            out[7] = mark

    return _named(kernel, f"pollution_l1_{hint_index('pollution-l1', hint)}")


@functools.cache
def stream_kernel(hint: str, load=None):
    """Many blocks stream a buffer with the hinted 4-byte load, one per line; the sum proves every load ran."""
    hload = load or H.load_u32(hint)
    mark = marker("pollution-l2", hint)

    def kernel(stream, n_lines, acc):
        s = uint64(0)
        for line in range(cuda.grid(1), n_lines, cuda.gridsize(1)):
            s += uint64(hload(stream, line * 32))
        cuda.atomic.add(acc, 0, s)
        if cuda.grid(1) == 0:
            acc[1] = mark

    return _named(kernel, f"stream_{hint_index('pollution-l2', hint)}")


@functools.cache
def bandwidth_kernel(hint: str, load=None):
    """Grid-stride 16-byte hinted loads; each block records %globaltimer at its start and end."""
    hload = load or H.load_v4_sum(hint)
    mark = marker("bandwidth", hint)

    def kernel(buf, n_vec, acc, times):
        b = cuda.blockIdx.x
        cuda.syncthreads()
        if cuda.threadIdx.x == 0:
            times[2 * b] = X.globaltimer()
        s = uint64(0)
        for i in range(cuda.grid(1), n_vec, cuda.gridsize(1)):
            s += uint64(hload(buf, 4 * i))
        cuda.atomic.add(acc, 0, s)
        cuda.syncthreads()
        if cuda.threadIdx.x == 0:
            times[2 * b + 1] = X.globaltimer()
        if cuda.grid(1) == 0:
            acc[1] = mark

    return _named(kernel, f"bandwidth_{hint_index('bandwidth', hint)}")


@functools.cache
def prefetch_kernel(hint: str, step=None):
    """Per triple of cold 4 KiB groups: touch the three group bases with the hinted load, then time one `.cg` load
    at base+offset of the first group (t1) and two at base+offset of the others (t2): t2 - t1 is one load at an
    offset `offset_bytes` past a hinted access, without clock overhead."""
    hstep = step or H.chase_step(hint)
    mark = marker("prefetch", hint)
    # The timed section is the engine's primitive in straight-line form (one .cg load, then two): no loop, each
    # clock read after a branch on the last loaded pointer, so it waits for the three hinted loads too.
    lines = [
        "def kernel(mem, start, triples, out):",
        "    p = start",
        "    for r in range(triples):",
        *["        p = hstep(mem, p)"] * 3,
        *T.section(["p = cg(mem, p)"], "p == 1", "out[1] = 7", trips=None, clocks=CLOCK, indent="        "),
        "        out[2 + 2 * r] = t1 - t0",
        "        out[3 + 2 * r] = t2 - t1",
        "    out[1] = p",
        "    out[0] = mark",
    ]
    scope = {"__name__": __name__, "hstep": hstep, "cg": H.chase_step("cg"), "mark": mark, "clock64": X.clock64}
    exec(compile("\n".join(lines), f"<cache_hints:prefetch:{hint}>", "exec"), scope)
    kernel = scope["kernel"]
    return _named(kernel, f"prefetch_{hint_index('prefetch', hint)}")


@functools.cache
def staleness_kernel(hint: str, load=None):
    """Block 0 (producer) writes 1..writes to a flag with relaxed.gpu stores, `gap` cycles apart, stamping each
    write with %globaltimer; blocks 1.. (consumers) poll the flag `polls` times with the hinted load.

    The poll reads flag[m * zero], `zero` a kernel argument equal to 0: ptxas cannot prove the address loop-invariant,
    so a read-only (`.nc`) poll stays inside the loop instead of being hoisted before it (which made every `.nc`
    variant read one value and report "100 % stale" because of the compiler). `check_sass` keeps it so."""
    poll = load or H.load_u32(hint)
    publish = H.store_u32("relaxed.gpu")
    mark = marker("staleness", hint)

    def kernel(flag, writes, gap, polls, wtime, obs, otime, sm, zero):
        b = cuda.blockIdx.x
        sm[b] = X.smid()
        if b == 0:
            for i in range(1, writes + 1):
                t = X.clock64()
                while X.clock64() - t < gap:
                    pass
                publish(flag, 0, uint32(i))
                wtime[i] = X.globaltimer()
            wtime[0] = mark
        else:
            base = (b - 1) * polls
            for m in range(polls):
                obs[base + m] = poll(flag, m * zero)
                otime[base + m] = X.globaltimer()

    return _named(kernel, f"staleness_{hint_index('staleness', hint)}")


@functools.cache
def store_kernel(hint: str, store=None):
    """Write a chain into cold lines with the hinted 8-byte store, then re-time it plain, with the same-launch bands."""
    hstore = store or H.store_u64(hint)
    plain = _lap("")
    walk_plain, walk_cg = _walkers()
    mark = marker("store", hint)

    def kernel(tmem, slots, nexts, mem, starts, k, out):
        n = 3 * k  # k: steps per timed pass, whole trips; each chain holds 3k lines
        for i in range(n):
            hstore(tmem, slots[i], nexts[i])
        h = plain(mem, starts[0], n)
        m = plain(mem, starts[1], n)
        p = slots[0]
        c = starts[2]
        if h == 1 or m == 1 or c == 1:  # the warm chains and the walks' start pointers land before the first
            out[12] = 7  # start clock (p: the walk's own guard)
        p = walk_plain(tmem, p, k, out, 0)
        h = walk_plain(mem, h, k, out, 2)
        m = walk_cg(mem, m, k, out, 4)
        c = walk_cg(mem, c, k, out, 6)
        out[8] = p
        out[9] = h
        out[10] = m
        out[11] = c
        out[12] = mark

    return _named(kernel, f"store_{hint_index('store', hint)}")


@functools.cache
def helper_kernels() -> dict:
    """Hint-independent kernels: flush, parallel touch, timed `.cg` walk, device copy."""
    walk_cg = _walkers()[1]
    copy = bw_kernels.copy_v4()  # the plain 16-byte device copy of the bandwidth family
    words_per_line = LINE // 8

    def flush(buf, n_lines, acc):
        """Read one word per line of a buffer twice the L2 size: every earlier line leaves L2 (and L1)."""
        s = uint64(0)
        for line in range(cuda.grid(1), n_lines, cuda.gridsize(1)):
            s += uint64(buf[line * 32])
        cuda.atomic.add(acc, 0, s)

    def touch(mem, n_lines, acc):
        """Plain-read the first word of every line of a region in parallel: the region becomes L2-resident."""
        s = uint64(0)
        for line in range(cuda.grid(1), n_lines, cuda.gridsize(1)):
            s += mem[line * words_per_line]
        cuda.atomic.add(acc, 0, s)

    def timed_cg(mem, start, k, out):
        """One thread: a timed `.cg` walk (L2 or HBM latency, never L1)."""
        p = walk_cg(mem, start, k, out, 0)
        out[2] = p

    def copy_v4(src, dst, n_vec, times):
        """The device-copy ceiling: plain 16-byte loads and stores, timed per block like the read kernel."""
        b = cuda.blockIdx.x
        cuda.syncthreads()
        if cuda.threadIdx.x == 0:
            times[2 * b] = X.globaltimer()
        for i in range(cuda.grid(1), n_vec, cuda.gridsize(1)):
            copy(src, dst, 4 * i)
        cuda.syncthreads()
        if cuda.threadIdx.x == 0:
            times[2 * b + 1] = X.globaltimer()

    return {f.__name__: _named(f, f"helper_{f.__name__}") for f in (flush, touch, timed_cg, copy_v4)}


# ---------------------------------------------------------------------------------------------------- SASS checks


def _signatures():
    from numba import types

    u64, u32, i64 = types.uint64[::1], types.uint32[::1], types.int64
    return {
        "residency": (u64, u64, i64, u64),
        "pollution-l1": (u64, types.uint64, i64, u32, i64, u64, u64),
        "pollution-l2": (u32, i64, u64),
        "bandwidth": (u32, i64, u64, u64),
        "prefetch": (u64, types.uint64, i64, u64),
        "staleness": (u32, i64, types.uint64, i64, u64, u32, u64, u32, i64),
        "store": (u64, u64, u64, u64, u64, i64, u64),
        "flush": (u32, i64, u64),
        "touch": (u64, i64, u64),
        "timed_cg": (u64, types.uint64, i64, u64),
        "copy_v4": (u32, u32, i64, u64),
    }


FACTORIES = {
    "residency": residency_kernel,
    "pollution-l1": pollution_l1_kernel,
    "pollution-l2": stream_kernel,
    "bandwidth": bandwidth_kernel,
    "prefetch": prefetch_kernel,
    "staleness": staleness_kernel,
    "store": store_kernel,
}
# (op, atlas width) of the hinted access in each kernel kind, and whether it is a dependent chain.
ACCESS = {
    "residency": ("ld", "b64", True),
    "pollution-l1": ("ld", "b32", False),
    "pollution-l2": ("ld", "b32", False),
    "bandwidth": ("ld", "v4.b32", False),
    "prefetch": ("ld", "b64", True),
    "staleness": ("ld", "b32", False),
    "store": ("st", "b64", False),
}
TIMED = {"residency": 15, "pollution-l1": 9, "prefetch": 3, "store": 12, "timed-cg": 3}  # %clock64 reads, at least
HELPERS = ("helpers", "timed-cg")  # hint-independent modules: flush/touch/copy, and the timed .cg walk


def merge_ptx(modules: list[str]) -> str:
    """Several Numba PTX modules as one (one ptxas + one disassembly for all hint variants): one header, each
    top-level declaration or function once."""
    head, seen, chunks = None, set(), []
    for ptx in modules:
        lines = ptx.splitlines()
        start = next(n for n, ln in enumerate(lines) if ln.startswith(".address_size"))
        if head is None:
            head = "\n".join(ln for ln in lines[: start + 1] if not ln.startswith("//"))
        cur, depth = [], 0
        for ln in lines[start + 1 :]:
            s = ln.strip()
            if not cur and (not s or s.startswith("//")):
                continue
            cur.append(ln)
            depth += ln.count("{") - ln.count("}")
            if depth == 0 and (s.endswith(";") or s == "}"):
                text = "\n".join(cur)
                cur = []
                if text not in seen:
                    seen.add(text)
                    chunks.append(text)
    return head + "\n\n" + "\n\n".join(chunks) + "\n"


@functools.cache
def module_ptx(kind: str, cc: tuple[int, int], hints: tuple[str, ...] | None = None) -> str:
    """All hint variants of one kernel kind (or the helpers) for cc, merged into one PTX module."""
    from importlib import metadata
    from pathlib import Path

    from probes.kernel.compile import kernel_ptx
    from probes.static import toolchain

    def produce() -> bytes:
        sigs = _signatures()
        if kind in HELPERS:  # the timed .cg walk apart: only it is a chase, checked for step overhead
            walk = kind == "timed-cg"
            funcs = [(f, sigs[name]) for name, f in helper_kernels().items() if (name == "timed_cg") == walk]
        else:
            funcs = [(FACTORIES[kind](h), sigs[kind]) for h in (hints or hints_for(kind))]
        return merge_ptx([kernel_ptx(f, sig, tuple(cc)) for f, sig in funcs]).encode()

    # compile_ptx has no disk cache (~0.1 s a kernel, ~120 kernels per arch): key ours by the sources it depends on.
    sources = [Path(__file__), Path(H.__file__), Path(X.__file__), Path(Q.__file__), Path(T.__file__)]
    key = (kind, str(cc), ",".join(hints or ()), metadata.version("numba-cuda"), *(p.read_text() for p in sources))
    return toolchain.cached("hint-ptx", key, produce, ".ptx").decode()


def kernels_for(*kinds):
    """A probe's `kernels(cc)`: one merged module per kernel kind (the hints ptxas accepts there), the helpers, and
    the timed .cg walk where the probe runs the L2-victim experiment (kind pollution-l2)."""

    def kernels(cc):
        arch = f"sm_{cc[0]}{cc[1]}"
        out = []
        for kind in (*kinds, "helpers", *(("timed-cg",) if "pollution-l2" in kinds else ())):
            op, width = ACCESS.get(kind, ("ld", "b64", False))[:2]
            hints = tuple(h for h in hints_for(kind) if Q.supported(op, h, arch, width)) if kind in ACCESS else None
            out.append((f"{kind}@{arch}", module_ptx(kind, tuple(cc), hints)))
        return out

    return kernels


def marker_of(insts) -> int | None:
    for inst in insts:
        for operand in inst.operands:
            try:
                value = int(operand.strip(), 16) if operand.strip().startswith("0x") else None
            except ValueError:
                continue
            if value is not None and MARKER_BASE <= value < MARKER_BASE + 64:
                return value - MARKER_BASE
    return None


def expected_sass(kind: str, hint: str, arch: str) -> tuple[str, list[str]] | None:
    """(hinted LDG/STG opcode, other opcodes the lowering adds) as the static atlas records them, or None."""
    op, width, _ = ACCESS[kind]
    cell = Q.lowering(op, hint, width, arch)
    if cell is None or cell[0] != "ok":
        return None
    parts = [p.strip() for p in cell[1].split(";")]
    main = next(p for p in parts if p.split(".")[0] in ("LDG", "STG"))
    return main, [p for p in parts if p != main and not p.startswith(("MEMBAR", "ERRBAR", "CGAERRBAR"))]


def check_sass(name: str, insts) -> list[str]:
    """The hinted access carries the modifiers the static atlas records for this hint and arch; chases are
    dependent; timed kernels read %clock64 around them. Kernel variants are identified by their marker immediate."""
    kind, _, arch = name.partition("@")
    loads = [i for i in insts if i.base in ("LDG", "STG")]
    if kind == "helpers":
        return [] if loads else ["helper kernel has no global load or store"]
    if kind == "timed-cg":
        clocks = sum(1 for i in insts if i.base == "CS2R" and "SR_CLOCKLO" in i.text)
        return ([] if loads else ["timed .cg walk has no global load"]) + (
            [] if clocks >= TIMED[kind] else [f"timed .cg walk: expected >= 3 %clock64 reads, found {clocks}"]
        )
    idx = marker_of(insts)
    hints = hints_for(kind)
    if idx is None or idx >= len(hints):
        return [f"{name}: no hint marker immediate (0x{MARKER_BASE:x}+i) found: cannot tell which hint this is"]
    hint = hints[idx]
    want = expected_sass(kind, hint, arch)
    if want is None:
        return [f"{name}: hint {hint} has no accepted lowering in the static atlas for {arch}"]
    main, extras = want
    problems = []
    hinted = [i for i in loads if i.opcode == main]
    if not hinted:
        seen = sorted({i.opcode for i in loads})
        problems.append(f"{name} [{hint}]: expected {main} (static atlas), found only {', '.join(seen) or 'none'}")
    present = {i.opcode for i in insts}
    problems += [f"{name} [{hint}]: the atlas lowering adds {e}, missing here" for e in extras if e not in present]
    if ACCESS[kind][2] and hinted:
        dests = set()
        chained = 0
        for i in loads:
            if i.opcode == main and any(re.search(rf"\b{r}\b", op) for r in dests for op in i.operands[1:]):
                chained += 1
            dests.update(i.dest_registers)
        if chained < 1:
            problems.append(f"{name} [{hint}]: the hinted {main} loads are not a dependent chain")
    if kind == "staleness" and hinted:  # the poll must stay inside the poll loop (issue 20 defect 5)
        problems += [f"{name} [{hint}]: {p}" for p in loop_resident_problems(insts, "LDG", main)]
    clocks = sum(1 for i in insts if i.base == "CS2R" and "SR_CLOCKLO" in i.text)
    if clocks < TIMED.get(kind, 0):
        problems.append(f"{name} [{hint}]: expected >= {TIMED[kind]} %clock64 reads, found {clocks}")
    return problems
