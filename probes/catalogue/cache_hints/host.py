"""Host side shared by the cache-hints.* probes: the hint parameter and axis, buffers of pointer chains, the L2
flush, timed walks read back as both raw section times, and the L2-victim experiment two probes share.

Every latency here is a pointer chase (memory holds absolute addresses; each step is one load addressed by the
previous one's result) timed over two sections of n and 2n loads, n = k rounded up to whole trips of 16 (the
engine's timed-pass primitive: an unrolled uint32 loop, each clock read waits for the last loaded pointer):
per-load cycles = (t(2n) - t(n)) / n cancels the clock and loop-exit overhead. Each launch first streams a buffer
of twice the L2 size (the *flush* kernel) so every region starts cold, and measures its own latency bands in the
same launch: a plain re-walk of plain-touched lines (L1 band), a `.cg` walk of L2-resident lines (L2 band: strong
GPU-scope loads never hit the non-coherent L1) and a `.cg` walk of never-touched lines (HBM band). The analysis
classifies each hinted measurement against those bands.

Both raw section times of every timed walk are stored beside the per-load value (`timed()`): `<name>_n` = t(n) and
`<name>_2n` = t(2n), the headline's as `cycles_n` / `cycles_2n` like every other chase probe, and `steps` = n.
"""

from __future__ import annotations

import numpy as np

from probes.catalogue.cache_hints.kernels import LINE, helper_kernels, hints_for, marker, stream_kernel
from probes.kernel import timed_pass as T
from probes.spec import KernelCheckError, KiB, Param, ProbeSpecError, min_cc, positive
from probes.static import qualifiers as Q
from probes.static.kernel_checks import Expect


def method_text(text: str) -> str:
    return " ".join(text.split())


CHASE_METHOD = " " + method_text(__doc__.split("\n\n")[1])
K = Param(
    "k",
    int,
    32,
    f"at least k lines per timed section, rounded up to whole trips of {T.UNROLL} (the stored "
    "`steps`); each chain holds 3 x steps lines",
    positive,
)
THREADS = Param("threads", int, 0, "threads per block (0: 256; 16 in the simulator)")
BLOCKS = Param("blocks", int, 0, "blocks (0: 4 per SM; 2 in the simulator)")
REQ = (min_cc(7, 0),)


# ---------------------------------------------------------------------------------------------------- params/axes


def hints_param(kind: str, default: str = "all") -> Param:
    known = hints_for(kind)

    def valid(value: str) -> str | None:
        names = [v.strip() for v in value.split(",") if v.strip()]
        if not names:
            return "give 'all' or a comma-separated list of hints"
        if names == ["all"]:
            return None
        bad = [n for n in names if n not in known]
        return f"unknown hint {bad[0]!r} (hints: {', '.join(known)})" if bad else None

    return Param("hints", str, default, "comma-separated subset of the hint axis, or 'all'", valid)


def selected_hints(kind: str, params: dict, env: dict) -> tuple[str, ...]:
    """The `hint` axis: the requested hints, minus those ptxas rejects on this arch (per the static atlas)."""
    text = params.get("hints", "all")
    names = hints_for(kind) if text.strip() == "all" else tuple(v.strip() for v in text.split(",") if v.strip())
    cc = env.get("compute_capability") or (9, 0)
    arch = f"sm_{cc[0]}{cc[1]}"
    op, width = ("st", "b64") if kind == "store" else ("ld", "b64")
    return tuple(h for h in names if Q.supported(op, h, arch, width))


def l2_bytes(env: dict) -> int:
    if not env.get("l2_cache_bytes"):
        raise ProbeSpecError("cache-hints probes need the device's l2_cache_bytes (environment) to size buffers")
    return int(env["l2_cache_bytes"])


def l1_guess(env: dict) -> int:
    """Upper bound of the unified L1/shared capacity: the shared-memory size when known, else 256 KiB (>= every
    sm_70..sm_90 part)."""
    return int(env.get("shared_memory_per_sm_bytes") or 256 * KiB)


def flush_bytes(env: dict) -> int:
    return 2 * l2_bytes(env)


# ---------------------------------------------------------------------------------------------------- host side


def addr(base: int, word: np.ndarray | int):
    """Chains hold absolute addresses on a GPU and element indices in the simulator (base 0)."""
    return base + 8 * word if base else word


def chains(ctx, words: int, cycles: list[np.ndarray]):
    """Device memory of `words` u64 where each array of word offsets in `cycles` is one closed pointer chain.
    Returns (device array, host copy, start address of each chain)."""
    host = np.zeros(words, dtype=np.uint64)
    d_mem = ctx.device_array(words, np.uint64)
    base = ctx.address_of(d_mem)
    starts = []
    for order in cycles:
        order = np.asarray(order, dtype=np.int64)
        host[order] = np.asarray(addr(base, np.roll(order, -1)), dtype=np.uint64)
        starts.append(int(addr(base, int(order[0]))))
    d_mem.copy_to_device(host)
    return d_mem, host, np.array(starts, dtype=np.uint64)


def region_cycles(ctx, key, regions: int, lines: int) -> list[np.ndarray]:
    """`regions` chains, each a random order of `lines` consecutive LINE-sized slots of its own region."""
    rng = ctx.rng(*key)
    per_line = LINE // 8
    return [(r * lines + rng.permutation(lines)) * per_line for r in range(regions)]


CACHE: dict = {}


def cached(key, build):
    """One buffer set per probe point at a time (device memory is reused across the engine's repetitions)."""
    if key not in CACHE:
        for old in [k for k in CACHE if k[0] == key[0]]:
            del CACHE[old]
        CACHE[key] = build()
    return CACHE[key]


def grid(ctx, params: dict) -> tuple[int, int]:
    # The simulator runs one Python thread per CUDA thread: its default grid is tiny (sizes still come from env).
    blocks = params.get("blocks") or (2 if ctx.simulator else 4 * int(ctx.env.get("sm_count") or 1))
    threads = params.get("threads") or (16 if ctx.simulator else 256)
    return blocks, threads


def flush(ctx) -> None:
    """Stream a buffer of 2x L2 through L2 (every region of the launch that follows starts cold)."""
    lines = flush_bytes(ctx.env) // LINE
    d_buf = cached(("flush", lines), lambda: ctx.to_device(np.ones(lines * 32, dtype=np.uint32)))
    acc = ctx.to_device(np.zeros(1, dtype=np.uint64))
    blocks, threads = grid(ctx, {})
    ctx.kernel("helper-flush", helper_kernels()["flush"])[blocks, threads](d_buf, lines, acc)
    ctx.synchronize()
    got = int(acc.copy_to_host()[0])
    if got != lines:
        raise KernelCheckError(f"flush kernel summed {got}, expected {lines}: not every line was read")


def steps_of(params: dict) -> int:
    """Steps per timed pass: parameter k rounded up to whole trips of the timed-pass loop."""
    return T.round_steps(params["k"])


def timed(out: np.ndarray, idx: int, steps: int, name: str = "cycles_per_op") -> dict:
    """A timed walk's two raw section times, out[idx] = t(n) and out[idx + 1] = t(2n), and its per-load value
    (t(2n) - t(n)) / n (n = `steps`, derived by the engine's `timed_pass.per_op`), as sample columns: the headline
    `cycles_per_op` beside `cycles_n` / `cycles_2n`, any other `<name>` beside `<name>_n` / `<name>_2n`."""
    raw = "cycles" if name == "cycles_per_op" else name
    sample = T.per_op({f"{raw}_n": int(out[idx]), f"{raw}_2n": int(out[idx + 1]), "steps": steps}, raw, name)
    return {key: sample[key] for key in (name, f"{raw}_n", f"{raw}_2n")}


def check(what: str, got, expected) -> None:
    if int(got) != int(expected):
        raise KernelCheckError(f"{what}: kernel returned {int(got):#x}, expected {int(expected):#x}")


def check_k(k: int, lines_available: int | None = None, where: str = "the region holds") -> None:
    steps = T.round_steps(k)
    if lines_available is not None and 3 * steps > lines_available:
        raise ProbeSpecError(
            f"parameter k={k}: {steps} steps per pass need {3 * steps} lines but {where} {lines_available}; lower k"
        )


def stream_buffer(ctx, nbytes: int):
    lines = max(1, nbytes // LINE)
    return lines, cached(("stream", lines), lambda: ctx.to_device(np.ones(lines * 32, dtype=np.uint32)))


def l2_victim(ctx, hint: str, params: dict, window=None) -> dict:
    """Level l2: a victim of L2/4 (at least the chain's 3n lines: only the simulator's 16 KiB "L2" needs more; the
    chain may not exceed L2/2) made resident by a parallel touch; bands from .cg walks; many blocks stream
    `stream_bytes` with the hint. `window(d_mem, victim_bytes)` returns a stream carrying an access-policy
    window over the victim (or None to run on the default stream). Shared by cache-hints.pollution (level l2) and
    cache-hints.persisting."""
    k = steps_of(params)
    l2_lines = l2_bytes(ctx.env) // LINE
    check_k(params["k"], l2_lines // 2, "a victim that stays L2-resident holds at most L2/2 =")
    victim_lines = max(l2_lines // 4, 3 * k)

    def build():
        rng = ctx.rng("pollution-l2", k, victim_lines)
        per_line = LINE // 8
        victim = rng.choice(victim_lines, 3 * k, replace=False) * per_line
        cold = (victim_lines + rng.permutation(3 * k)) * per_line
        return chains(ctx, (victim_lines + 3 * k) * per_line, [victim, cold])

    d_mem, host, starts = cached(("pollution-l2", k, victim_lines), build)
    lines, d_stream = stream_buffer(ctx, params["stream_bytes"] or l2_bytes(ctx.env))
    blocks, threads = grid(ctx, params)
    helpers = helper_kernels()
    timed_cg = ctx.kernel("helper-timed-cg", helpers["timed_cg"])
    flush(ctx)
    stream = window(d_mem, victim_lines * LINE) if window else None
    launch, one = ((blocks, threads), (1, 1)) if stream is None else ((blocks, threads, stream), (1, 1, stream))
    walks = {}
    for name, start in (
        ("hbm", starts[1]),
        ("touch", None),
        ("before", starts[0]),
        ("stream", None),
        ("after", starts[0]),
    ):
        if name == "touch":
            acc = ctx.to_device(np.zeros(1, dtype=np.uint64))
            ctx.kernel("helper-touch", helpers["touch"])[launch](d_mem, victim_lines, acc)
            ctx.synchronize()
            expected = int(np.sum(host[: victim_lines * (LINE // 8) : LINE // 8], dtype=np.uint64))
            check("victim touch sum", acc.copy_to_host()[0], expected)
            continue
        if name == "stream":
            acc = ctx.to_device(np.zeros(2, dtype=np.uint64))
            ctx.kernel(("stream", hint), stream_kernel(hint))[launch](d_stream, lines, acc)
            ctx.synchronize()
            a = acc.copy_to_host()
            check("hinted stream sum", a[0], lines)
            check("stream hint marker", a[1], marker("pollution-l2", hint))
            continue
        out = ctx.to_device(np.zeros(3, dtype=np.uint64))
        timed_cg[one](d_mem, start, k, out)
        ctx.synchronize()
        o = out.copy_to_host()
        check(f"{name} walk end", o[2], start)
        walks[name] = o
    return {
        **timed(walks["after"], 0, k),
        **timed(walks["before"], 0, k, "band_l2_cycles"),
        **timed(walks["hbm"], 0, k, "band_hbm_cycles"),
        "stream_bytes": lines * LINE,
        "k": params["k"],
        "steps": k,
    }


# ---------------------------------------------------------------------------------------------------- declarations


def hint_axes(kind: str, **extra):
    """A probe's axes: `hint` (the requested hints ptxas accepts here) and each `extra` (name -> fn(env, params))."""

    def axes(env: dict, params: dict) -> dict:
        out = {"hint": selected_hints(kind, params, env)}
        if not out["hint"]:
            raise ProbeSpecError(f"no hint of {params.get('hints')!r} is accepted by ptxas for this device")
        for name, fn in extra.items():
            out[name] = fn(env, params)
        return out

    return axes


CHASE_KINDS = ("residency", "store", "pollution-l1", "timed-cg")  # kernels whose timed passes are chase loops
# Issue cycles allowed between consecutive chained LDGs of any chase loop (timed passes and warm laps). ptxas
# schedules 4 inside a trip and 12-17 across the loop's back edge (counter, compare, branch: once per 16 steps);
# any gap under the fastest latency these probes time (an L1 hit, ~30 cycles) is hidden behind the dependency.
# Numba's int64 range() walks these kernels had before put 20-41 cycles between chained loads.
STEP_BUDGET = 20


def kernel_expect(kernel_name: str) -> Expect:
    """Dry-run schedule checks of a hint kernel module (probes/static/kernel_checks.py). Every %clock64 triple:
    clock discipline. Chase kinds (every chase loop, warm laps included): step overhead within STEP_BUDGET.
    prefetch's timed passes are straight-line (one load, two loads, no loop): clock discipline only. staleness
    (clock reads only space the producer's writes): its poll loads stay inside the poll loop."""
    kind = kernel_name.partition("@")[0]
    if kind == "staleness":
        return Expect(clock=False, polled="LDG")
    return Expect(chain="LDG", step_budget=STEP_BUDGET) if kind in CHASE_KINDS else Expect()
