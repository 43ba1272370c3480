"""Global-memory latency ladder: one thread walks a random single-cycle pointer chain; cycles per load vs footprint.

Method: memory holds absolute addresses, so each step is one `LDG.E.64` whose result is the next address (no
address arithmetic in the chain). The chain is a random cyclic permutation of the footprint's slots (Sattolo's
algorithm, built on the host, one slot per `stride_bytes`). A first pass warms caches/TLBs, then timed passes of
`steps` and `2*steps` loads; per-load latency = (t(2n) - t(n)) / n cancels loop and timer overhead (nanoBench).
`%clock64` gives cycles, `%globaltimer` ns; every clock read comes after a branch on the last loaded value, so the
start waits for the warm pass and each stop for the last chained load (probes/kernel/timed_pass.py). The loop runs
16 chained loads per trip of a uint32 counter (steps is a multiple of 16), so no loop bookkeeping sits between
chained loads. Each launch continues from the slot where the previous one ended (its end checked against the
host's walk from there), so successive samples walk successive stretches of the cycle and the lines the samples
touch grow with the footprint; footprints within 4x L2 whose launch does not cover the chain get one untimed full
lap first. Each sample records its start rank and the fraction of the chain it visited. The kernel asks for the
largest L1 (preferred shared-memory carve-out 0 %; applies from a point's second launch, recorded per sample). Footprints are log-spaced
(`points_per_octave`) from `min_footprint_bytes` to max(64x L2, 256 MiB) capped at 4 GiB and 1/4 of memory, plus
`dense_points` per octave within 1.5x either side of the driver's L2 size, half of it (the near segment of a
partitioned L2) and the shared memory per SM (L1 and shared memory are one array), where the transitions are.

Variants: `.ca`, `.cg` and `.nc` issue `ld.global.ca/.cg/.nc.u64` for every step (SASS `LDG.E.64.STRONG.SM`,
`.STRONG.GPU`, `.CONSTANT` on sm_80/sm_90 per reports/static/cache-hints-sass.csv): `.cg` caches in L2 only, so its
ladder has no L1 plateau; `.nc` goes through the read-only (texture) path.
"""

from __future__ import annotations

from probes.kernel import timed_pass as T
from probes.kernel.chase import (
    Chain,
    ChainCache,
    chase_kernels,
    chase_plan,
    chase_step,
    cycle_of,
    page_positions,
    pass_steps,
    run_chase,
    sattolo_cycle,
    sattolo_order,
    warm_lap,
)
from probes.spec import (
    Axis,
    GiB,
    KiB,
    MiB,
    Param,
    Probe,
    ProbeSpecError,
    Sweep,
    fits_in_free_memory,
    geometric,
    min_cc,
    multiple_of,
    positive,
)
from probes.static.kernel_checks import Expect

__all__ = ["sattolo_cycle", "measure", "PROBES"]

# variant suffix -> (PTX qualifier, SASS opcode of every chase load on sm_80/sm_90; reports/static/cache-hints-sass.csv)
VARIANTS = {
    "": ("", "LDG.E.64"),
    "ca": (".ca", "LDG.E.64.STRONG.SM"),
    "cg": (".cg", "LDG.E.64.STRONG.GPU"),
    "nc": (".nc", "LDG.E.64.CONSTANT"),
}
DENSE_WINDOW = 1.5  # dense points cover [anchor / 1.5, anchor * 1.5]

_CHAINS = ChainCache()


def plan(env: dict, point: dict, params: dict, launches: int = 1) -> dict:
    """What the samples of one point visit of its chain (probes/kernel/chase.chase_plan)."""
    footprint, stride = point["footprint_bytes"], params["stride_bytes"]
    slots = footprint // stride
    return chase_plan(slots, pass_steps(slots, params["max_steps"]), footprint, env.get("l2_cache_bytes"), launches)


def measure_with(qualifier: str):
    step = chase_step(qualifier)

    def measure(ctx, point: dict, params: dict) -> dict:
        footprint, stride = point["footprint_bytes"], params["stride_bytes"]
        slots = footprint // stride
        if slots < 2:
            raise ProbeSpecError(f"footprint {footprint} B holds fewer than 2 slots of stride {stride} B")

        def build():
            order = sattolo_order(slots, ctx.rng(footprint, stride))
            return Chain(ctx, footprint, page_positions(slots, stride), cycle_of(order), order)

        chain = _CHAINS.get((id(ctx), ctx.seed, footprint, stride), build)
        how = plan(ctx.env, point, params)
        if how["warm_lap"] and not getattr(chain, "warmed", False):
            warm_lap(ctx, f"chase{qualifier}", step, chain)
            chain.warmed = True
        sample = run_chase(ctx, f"chase{qualifier}", step, chain, how["steps"])
        return {**sample, "warm_lap": how["warm_lap"]}

    return measure


measure = measure_with("")


def transition_anchors(env: dict) -> list[int]:
    """Sizes where a ladder transition is expected, from the driver's properties (missing ones are skipped)."""
    l2, smem = env.get("l2_cache_bytes"), env.get("shared_memory_per_sm_bytes")
    return [int(a) for a in (l2, l2 // 2 if l2 else None, smem) if a]


def footprint_sizes(env: dict, params: dict) -> tuple:
    """Footprint axis: log-spaced, denser around the transitions the device's properties announce."""
    stride, lo = params["stride_bytes"], params["min_footprint_bytes"]
    if not params["max_footprint_bytes"] and not (env.get("memory_total_bytes") and env.get("l2_cache_bytes")):
        raise ProbeSpecError("the environment has no memory_total_bytes/l2_cache_bytes: set max_footprint_bytes")
    hi = params["max_footprint_bytes"] or int(
        min(4 * GiB, 0.25 * env["memory_total_bytes"], max(64 * env["l2_cache_bytes"], 256 * MiB))
    )
    if hi < max(lo, 2 * stride):
        raise ProbeSpecError(f"max_footprint_bytes={hi} is below min_footprint_bytes={lo} or 2 strides")
    sizes = set(geometric(lo, hi, per_octave=params["points_per_octave"], multiple_of=stride))
    if params["dense_points"]:
        for anchor in transition_anchors(env):
            a, b = max(lo, int(anchor / DENSE_WINDOW)), min(hi, int(anchor * DENSE_WINDOW))
            if a < b:
                sizes |= set(geometric(a, b, per_octave=params["dense_points"], multiple_of=stride))
    return tuple(sorted(s for s in sizes if s >= 2 * stride))  # a chain needs 2 slots


footprints = Sweep((Axis("footprint_bytes", footprint_sizes),))  # the ladder's sweep (the async ladders share it)


PARAMS = (
    Param("stride_bytes", int, 64, "distance between chained slots", multiple_of(8)),
    Param("min_footprint_bytes", int, 1 * KiB, "smallest working set", positive),
    Param("max_footprint_bytes", int, 0, "largest working set (0: derived from L2 and memory size)"),
    Param("points_per_octave", int, 6, "sweep density", positive),
    Param(
        "dense_points",
        int,
        16,
        "points per octave within 1.5x of the L2 size, L2/2 and shared memory per SM (0: none)",
        lambda v: None if v >= 0 else "must be >= 0",
    ),
    Param("max_steps", int, 1 << 16, "loads per timed pass at most", positive),
)


def _probe(variant: str) -> Probe:
    qualifier, opcode = VARIANTS[variant]
    what = f"ld.global{qualifier}" if qualifier else "default loads"
    return Probe(
        name="latency.ladder.global" + (f".{variant}" if variant else ""),
        summary=f"pointer-chase latency vs footprint with {what}, one thread, random single cycle",
        measure=measure if not variant else measure_with(qualifier),
        unit="cycles/load",
        axes=footprints,
        method=" ".join(p.replace("\n", " ") for p in __doc__.split("\n\n")[1:]),
        params=PARAMS,
        requires=(min_cc(7, 0), fits_in_free_memory(0.8, lambda p: p["max_footprint_bytes"])),
        kernels=chase_kernels(f"chase{qualifier}", chase_step(qualifier)),
        plan=plan,
        # SASS check and dry-run schedule checks (probes/static/kernel_checks.py): every chained load is `opcode`,
        # addressed by the previous one's result; clock discipline; 16 chained loads per loop trip; at most 16
        # issue cycles from one chained LDG to the next (ptxas schedules 4, and 13 across the loop's back edge: far
        # below an L1 hit's ~32 cycles).
        expect=Expect(chain="LDG", opcode=opcode, unroll=T.UNROLL, step_budget=16),
        smoke=("max_footprint_bytes=4096", "points_per_octave=1", "dense_points=0", "max_steps=32"),
    )


PROBES = tuple(_probe(v) for v in VARIANTS)
