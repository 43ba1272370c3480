"""TLB ladder: one thread chases one slot per page in random order; cycles per load vs footprint up to most of memory.

Method: the chain has one 8-byte slot every `stride_bytes` (2 MiB, the large-page size the driver uses for big
allocations, or larger), visited in a random single cycle (Sattolo), so every load touches a different page while
the data itself is only `footprint / stride` words: it stays in L2 far beyond L2's capacity in bytes, and latency
steps come from address translation, not from the data caches. Slots are shifted by `spread_bytes` x slot within
their page so they do not all map to the same cache set. Loads are `ld.global.cg` (L2 only): an L1-cacheable chase
holds one line per page in L1, whose ~2k lines gave a false step inside the L2-TLB range. Same kernel and timing
as the global ladder (16 chained loads per trip of a uint32 loop, each launch continuing from the last slot): warm pass,
then (t(2n) - t(n)) / n with %clock64 and %globaltimer, stop reads after a branch on the last loaded value.
Footprints are log-spaced from `min_pages` pages to `memory_fraction` of the free device memory (or
`max_footprint_bytes`); one buffer is resident at a time. A TLB level's reach is the footprint interval where
latency leaves its plateau; its miss cost is the latency step to the next plateau (probes/analysis/tlb.py).
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
    sattolo_order,
)
from probes.spec import (
    Axis,
    KiB,
    MiB,
    Param,
    Probe,
    ProbeSpecError,
    fits_in_free_memory,
    geometric,
    min_cc,
    multiple_of,
    positive,
)
from probes.static.kernel_checks import Expect

_STEP = chase_step(".cg")  # L2 only: with L1-cacheable loads (one 128-B line per page, ~2k lines in L1) a false
#                             ~220-cycle step appeared at 3.5-4 GiB, inside the L2-TLB range (issue 20 defect 6)
_CHAINS = ChainCache()


def measure(ctx, point: dict, params: dict) -> dict:
    footprint, stride = point["footprint_bytes"], params["stride_bytes"]
    pages = footprint // stride
    key = (id(ctx), ctx.seed, footprint, stride, params["spread_bytes"])

    def build():
        order = sattolo_order(pages, ctx.rng("tlb", footprint, stride))
        return Chain(ctx, footprint, page_positions(pages, stride, params["spread_bytes"]), cycle_of(order), order)

    chain = _CHAINS.get(key, build)
    return {**run_chase(ctx, "tlb.chase", _STEP, chain, pass_steps(pages, params["max_steps"])), "pages": pages}


def plan(env: dict, point: dict, params: dict, launches: int = 1) -> dict:
    """What the samples of one point visit of its page chain (probes/kernel/chase.chase_plan)."""
    pages = point["footprint_bytes"] // params["stride_bytes"]
    return chase_plan(
        pages, pass_steps(pages, params["max_steps"]), point["footprint_bytes"], env.get("l2_cache_bytes"), launches
    )


def footprints(env: dict, params: dict) -> tuple:
    """Footprint axis: `min_pages` pages up to `memory_fraction` of free memory (or `max_footprint_bytes`)."""
    stride = params["stride_bytes"]
    lo = params["min_pages"] * stride
    if params["max_footprint_bytes"]:
        hi = params["max_footprint_bytes"]
    else:
        free = env.get("memory_free_bytes") or env.get("memory_total_bytes")
        if not free:
            raise ProbeSpecError(
                "the environment has no memory_free_bytes or memory_total_bytes: set max_footprint_bytes"
            )
        hi = int(params["memory_fraction"] * free)
    hi -= hi % stride
    if hi < lo:
        raise ProbeSpecError(
            f"largest footprint {hi} B is below min_pages={params['min_pages']} pages "
            f"of {stride} B: lower stride_bytes or min_pages"
        )
    return geometric(lo, hi, per_octave=params["points_per_octave"], multiple_of=stride)


def _fraction(v) -> str | None:
    return None if 0 < v <= 0.95 else "must be in (0, 0.95]"


def _spread(v) -> str | None:
    return None if v >= 0 and v % 8 == 0 else "must be a multiple of 8 bytes, >= 0"


PROBES = (
    Probe(
        name="latency.tlb",
        summary="page-stride pointer chase: latency vs footprint up to most of device memory (TLB reach and misses)",
        measure=measure,
        axes=(Axis("footprint_bytes", footprints),),
        unit="cycles/load",
        method=__doc__.split("\n\n")[1].replace("\n", " "),
        params=(
            Param("stride_bytes", int, 2 * MiB, "distance between chained slots: one per page", multiple_of(4 * KiB)),
            Param("min_pages", int, 2, "smallest footprint, in strides", lambda v: None if v >= 2 else "must be >= 2"),
            Param("max_footprint_bytes", int, 0, "largest footprint (0: memory_fraction of free memory)"),
            Param("memory_fraction", float, 0.75, "largest footprint as a fraction of free device memory", _fraction),
            Param("points_per_octave", int, 4, "sweep density", positive),
            Param("spread_bytes", int, 128, "shift of slot s within its page: (s * spread) mod stride", _spread),
            Param("max_steps", int, 1 << 14, "loads per timed pass at most", positive),
        ),
        requires=(min_cc(7, 0), fits_in_free_memory(0.95, lambda p: p["max_footprint_bytes"])),
        kernels=chase_kernels("tlb.chase", _STEP),
        plan=plan,
        # one dependent L2-only LDG.E.64.STRONG.GPU (`ld.global.cg`) per step; schedule checks as the ladder's
        expect=Expect(chain="LDG", opcode="LDG.E.64.STRONG.GPU", unroll=T.UNROLL, step_budget=16),
        smoke=("stride_bytes=65536", "max_footprint_bytes=262144", "points_per_octave=1", "max_steps=16"),
    ),
)
