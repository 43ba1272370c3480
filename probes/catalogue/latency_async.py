"""Asynchronous-copy latency ladders (hand-written PTX): the global ladder's random single-cycle pointer chain, walked
through `cp.async` (LDGSTS, sm_80+) and through the TMA unit's bulk copy (`cp.async.bulk` + mbarrier, sm_90+).

Method: the chain, footprints and timing are those of latency.ladder.global (same Chain layout, same footprint
sweep and parameters, warm pass then timed passes of n and 2n steps, (t(2n) - t(n)) / n), so the report overlays LDG,
cp.async and TMA per level. One step of `latency.ladder.cp-async.ca` copies the 8-byte slot into shared memory
with `cp.async.ca.shared.global` (L1-allocating), waits for it (`cp.async.wait_all`) and reads the next address
with `ld.shared`; `.cg` copies 16 bytes bypassing L1 (`cp.async.cg`, 16 B is its only size). One step of
`latency.ladder.tma` arms an mbarrier with the expected 16 bytes (`mbarrier.arrive.expect_tx`), issues
`cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes` of the slot, spins on
`mbarrier.try_wait.parity` and reads the next address from shared memory. A step therefore costs the copy plus its
completion mechanism plus one shared load: what a consumer waiting on one async copy sees, not the raw LDG path.
Kernels: ptx/async_copy.ptx and ptx/bulk_copy.ptx (their headers name the SASS each must produce).
"""

from __future__ import annotations

import numpy as np

from probes.catalogue.latency_ladder import PARAMS, footprints
from probes.kernel import ptx
from probes.kernel.chase import Chain, ChainCache, page_positions, per_load_sample, sattolo_cycle
from probes.spec import KernelCheckError, Probe, ProbeSpecError, fits_in_free_memory, min_cc

SIM_CYCLES_PER_STEP, SIM_NS_PER_STEP, SIM_OVERHEAD = 4, 2, 10  # the emulator's made-up clock (simulator only)

# probe name suffix -> (template, substitutions, opcode of every copy on sm_80/sm_90a/sm_100a, min cc)
VARIANTS = {
    "cp-async.ca": ("ptx/async_copy.ptx", {"CACHE": "ca", "BYTES": 8}, r"^LDGSTS\.E\.64$", (8, 0)),
    "cp-async.cg": ("ptx/async_copy.ptx", {"CACHE": "cg", "BYTES": 16}, r"^LDGSTS\.E\.BYPASS\.128$", (8, 0)),
    "tma": ("ptx/bulk_copy.ptx", {"BYTES": 16}, r"^UBLKCP\.S\.G$", (9, 0)),
}

_CHAINS = ChainCache()


def emulate_chase(k: ptx.PtxKernel, cfg: ptx.LaunchConfig, args: list) -> None:
    """Simulator stand-in for both chase kernels: walk the (index) chain 4n steps, charge a made-up clock."""
    memory, start, steps, out = args
    p, n = int(start), int(steps)
    for _ in range(4 * n):
        p = int(memory[p])
    vals = [
        SIM_OVERHEAD + SIM_CYCLES_PER_STEP * n,
        SIM_NS_PER_STEP * n,
        SIM_OVERHEAD + 2 * SIM_CYCLES_PER_STEP * n,
        2 * SIM_NS_PER_STEP * n,
        0,
        p,
        4 * n,
    ]
    out[: len(vals)] = np.asarray(vals, dtype=np.uint64)


def chase_kernel(variant: str) -> ptx.PtxKernel:
    template, subs, _op, _cc = VARIANTS[variant]
    return ptx.kernel(template, "chase_" + variant.replace("-", "_").replace(".", "_"), emulate=emulate_chase, **subs)


def check_chase(out: np.ndarray, chain: Chain, steps: int, phases: bool) -> None:
    """Host reference model: the walk ends where the host walk of 4n hops from this launch's start slot ends (the
    next launch continues from there, as every chase does: the set of lines touched grows with the footprint);
    TMA: every phase completed."""
    chain.advance(int(out[5]), 4 * steps)
    if phases and int(out[6]) != 4 * steps:
        raise KernelCheckError(f"bulk-copy chase completed {int(out[6])} mbarrier phases, expected {4 * steps}")


def measure_with(variant: str):
    k = chase_kernel(variant)
    phases = variant == "tma"

    def measure(ctx, point: dict, params: dict) -> dict:
        footprint, stride = point["footprint_bytes"], params["stride_bytes"]
        slots = footprint // stride
        if slots < 2:
            raise ProbeSpecError(f"footprint {footprint} B holds fewer than 2 slots of stride {stride} B")
        if phases and stride % 16:
            raise ProbeSpecError(f"stride_bytes={stride}: a bulk copy needs 16-byte aligned slots")
        chain = _CHAINS.get(
            (id(ctx), ctx.seed, footprint, stride),
            lambda: Chain(
                ctx, footprint, page_positions(slots, stride), sattolo_cycle(slots, ctx.rng(footprint, stride))
            ),
        )
        steps = int(min(max(slots, 256), params["max_steps"]))
        out = ctx.device_array(8, np.uint64)
        host = {}

        def check():
            host["out"] = out.copy_to_host()
            check_chase(host["out"], chain, steps, phases)

        start_rank = chain.rank
        ptx.launch(ctx, k, ptx.config(), [chain.memory, np.uint64(chain.start), np.uint64(steps), out], check)
        c1, n1, c2, n2 = (int(v) for v in host["out"][:4])
        sample = per_load_sample(c1, n1, c2, n2, steps)
        sample.update(
            start_rank=start_rank, chain_fraction=round(min(1.0, 4 * steps / chain.slots), 6), unroll=1
        )  # the PTX loop takes one chained step per trip
        return sample

    return measure


def required_sass(variant: str):
    _t, _s, opcode, _cc = VARIANTS[variant]
    if variant == "tma":
        return lambda name: {opcode: 3, r"^SYNCS\.ARRIVE\.TRANS64": 3, r"^SYNCS\.PHASECHK\.TRANS64": 3, r"^LDS\.64$": 3}
    return lambda name: {opcode: 3, r"^LDGDEPBAR$": 3, r"^DEPBAR\.LE$": 3, r"^LDS\.64$": 3}


def check_sass_for(variant: str):
    base = ptx.sass_check(required_sass(variant))

    def check_sass(name: str, insts) -> list[str]:
        problems = base(name, insts)
        if variant != "tma":  # the LDGSTS of each step is addressed by the previous step's LDS result
            fed = ptx.fed_by(insts, r"^LDGSTS", r"^LDS")
            if fed < 3:
                problems.append(f"expected LDGSTS addressed by a previous LDS (a chase), found {fed}")
        return problems

    return check_sass


def _probe(variant: str) -> Probe:
    template, subs, opcode, cc = VARIANTS[variant]
    what = (
        "cp.async.bulk (TMA 1D) completing on an mbarrier"
        if variant == "tma"
        else f"cp.async.{subs['CACHE']} ({subs['BYTES']} B, LDGSTS) + wait"
    )
    return Probe(
        name=f"latency.ladder.{variant}",
        summary=f"pointer-chase latency vs footprint, every step a {what} then a shared load",
        measure=measure_with(variant),
        axes=footprints,
        unit="cycles/load",
        method=" ".join(p.replace("\n", " ") for p in __doc__.split("\n\n")[1:]),
        params=PARAMS,
        requires=(min_cc(*cc), fits_in_free_memory(0.8, lambda p: p["max_footprint_bytes"])),
        kernels=ptx.probe_kernels(lambda _cc, v=variant: [chase_kernel(v)]),
        check_sass=check_sass_for(variant),
        smoke=("max_footprint_bytes=4096", "points_per_octave=1", "dense_points=0", "max_steps=32"),
        ptx=template,
    )


PROBES = tuple(_probe(v) for v in VARIANTS)
