"""Thread-block clusters (hand-written PTX, sm_90+): distributed-shared-memory chase latency and cluster-barrier
latency, per cluster size and peer.

Method, `latency.dsmem`: one cluster of `cluster_size` CTAs; every CTA lays a random single cycle over
`footprint_bytes` of its own dynamic shared memory (slot s holds the `mapa` shared::cluster address of slot
next[s]), then the cluster synchronises. Thread 0 of CTA rank 0 maps the chain into CTA rank `peer` and walks it
with `ld.shared::cluster.u32` (peer 0: its own shared memory, through the cluster window); a warm pass of n steps,
timed passes of n and 2n, (t(2n) - t(n)) / n per load. The kernel records the SM of every rank (`%smid`, a
virtual id) and `%nsmid`, so each sample carries the physical pair it measured: the scheduler may place a cluster
on other SMs at every launch, so the analysis groups samples (not points) by peer-SM distance |smid(peer) -
smid(rank 0)|. Cluster sizes above 8 are non-portable: the launch sets the kernel's non-portable-cluster
attribute and asks the driver how many such clusters fit (cuOccupancyMaxActiveClusters); where the attribute is
refused or none fits, the point is skipped and the reason stored. The default sweep is 2, 4, 8 and 16.
`latency.cluster-barrier`: every thread of every CTA of one cluster runs `barrier.cluster.arrive[.relaxed]` +
`barrier.cluster.wait` in a loop; thread 0 of rank 0 times n and 2n of them: cycles per cluster-wide barrier.
Kernels: ptx/dsmem.ptx (its header names the SASS each entry must produce).
"""

from __future__ import annotations

import numpy as np

from probes.kernel import ptx
from probes.kernel.chase import per_load_sample, sattolo_cycle, walk
from probes.spec import KernelCheckError, KiB, Param, Probe, ProbeSpecError, min_cc, multiple_of, positive

TEMPLATE = "ptx/dsmem.ptx"
SIM_CYCLES_PER_STEP, SIM_NS_PER_STEP, SIM_OVERHEAD = 4, 2, 10  # the emulators' made-up clock (simulator only)
NSMID_WORD = 8 + 2 * ptx.MAX_CLUSTER
OUT_WORDS = NSMID_WORD + 1
THREADS = 128
CLUSTER_SIZES = (2, 4, 8, 16)


def _sizes_check(value) -> str | None:
    bad = [v for v in value if v < 1 or v > ptx.MAX_CLUSTER]
    if not value:
        return "needs at least one cluster size"
    return f"cluster sizes must be 1..{ptx.MAX_CLUSTER} (got {bad[0]})" if bad else None


def emulate_chase(k: ptx.PtxKernel, cfg: ptx.LaunchConfig, args: list) -> None:
    nxt, _slots, _stride, peer, steps, out = args
    n, s = int(steps), 0
    for _ in range(4 * n):
        s = int(nxt[s])
    _write(out, n, cfg.cluster_size, [s, 0, int(peer)])
    out[NSMID_WORD] = cfg.cluster_size  # the emulator's "SMs": one per rank


def emulate_barrier(k: ptx.PtxKernel, cfg: ptx.LaunchConfig, args: list) -> None:
    steps, out = args
    _write(out, int(steps), cfg.cluster_size, [4 * int(steps), 0])


def _write(out, n: int, cluster_size: int, tail: list[int]) -> None:
    vals = [
        SIM_OVERHEAD + SIM_CYCLES_PER_STEP * n,
        SIM_NS_PER_STEP * n,
        SIM_OVERHEAD + 2 * SIM_CYCLES_PER_STEP * n,
        2 * SIM_NS_PER_STEP * n,
        0,
        *tail,
    ]
    vals += [0] * (8 - len(vals))
    for r in range(cluster_size):
        vals += [r, r]  # (rank, "SM"): the emulator puts rank r on SM r
    out[: len(vals)] = np.asarray(vals, dtype=np.uint64)


def chase_kernel() -> ptx.PtxKernel:
    return ptx.kernel(TEMPLATE, "dsmem", entry="dsmem_chase", emulate=emulate_chase, RELAXED="")


def barrier_kernel(relaxed: bool) -> ptx.PtxKernel:
    name = "cluster_bar_relaxed" if relaxed else "cluster_bar"
    return ptx.kernel(
        TEMPLATE, name, entry=f"{name}_barrier", emulate=emulate_barrier, RELAXED=".relaxed" if relaxed else ""
    )


def check_ranks(out: np.ndarray, cluster_size: int) -> list[int]:
    """Host reference model of the launch: CTA r of the first cluster reports rank r. Returns the SM of each rank."""
    ranks = [int(out[8 + 2 * r]) for r in range(cluster_size)]
    if ranks != list(range(cluster_size)):
        raise KernelCheckError(f"cluster ranks reported {ranks}, expected 0..{cluster_size - 1}: launch not clustered")
    return [int(out[9 + 2 * r]) for r in range(cluster_size)]


def chase_config(cluster_size: int, footprint: int) -> ptx.LaunchConfig:
    return ptx.config(grid=cluster_size, block=THREADS, cluster=cluster_size, shared_bytes=footprint)


def require_cluster(ctx, k: ptx.PtxKernel, cfg: ptx.LaunchConfig) -> int | None:
    """Skip the point (PointSkipped, the reason stored) when the driver runs no cluster of this shape here, e.g. a
    non-portable size of 16 it does not allow; else the number of such clusters it runs at once (None: unknown)."""
    from probes.kernel.context import PointSkipped

    n, why = ptx.cluster_capacity(ctx, k, cfg)
    if why:
        raise PointSkipped(why)
    return n


def measure_chase(ctx, point: dict, params: dict) -> dict:
    cs, peer = point["cluster_size"], point["peer"]
    footprint, stride = params["footprint_bytes"], params["stride_bytes"]
    slots = footprint // stride
    if slots < 2 or peer >= cs:
        raise ProbeSpecError(f"need >= 2 slots and peer < cluster size (slots {slots}, peer {peer}, cluster {cs})")
    nxt = sattolo_cycle(slots, ctx.rng("dsmem", footprint, stride)).astype(np.uint32)
    steps = int(params["steps"])
    d_next, out = ctx.to_device(nxt), ctx.device_array(OUT_WORDS, np.uint64)
    host = {}

    def check():
        o = host["out"] = out.copy_to_host()
        want = walk(nxt, 0, 4 * steps)
        if int(o[5]) != want:
            raise KernelCheckError(f"DSMEM chase ended at slot {int(o[5])}, expected {want}: chain corrupted")
        host["sms"] = check_ranks(o, cs)

    cfg = chase_config(cs, footprint)
    require_cluster(ctx, chase_kernel(), cfg)
    ptx.launch(
        ctx,
        chase_kernel(),
        cfg,
        [d_next, np.uint32(slots), np.uint32(stride), np.uint32(peer), np.uint64(steps), out],
        check,
    )
    o = host["out"]
    sample = per_load_sample(*(int(v) for v in o[:4]), steps)
    sample.update(
        sm_self=int(o[6]),
        sm_peer=int(o[7]),
        sm_distance=abs(int(o[7]) - int(o[6])),
        nsmid=int(o[NSMID_WORD]),
        sm_of_ranks=",".join(map(str, host["sms"])),
    )
    return sample


def measure_barrier(ctx, point: dict, params: dict) -> dict:
    cs, steps = point["cluster_size"], int(params["steps"])
    out = ctx.device_array(OUT_WORDS, np.uint64)
    host = {}

    def check():
        o = host["out"] = out.copy_to_host()
        if int(o[5]) != 4 * steps:
            raise KernelCheckError(f"cluster barrier loop ran {int(o[5])} barriers, expected {4 * steps}")
        check_ranks(o, cs)

    k, cfg = barrier_kernel(bool(point["relaxed"])), ptx.config(grid=cs, block=THREADS // 4, cluster=cs)
    require_cluster(ctx, k, cfg)
    ptx.launch(ctx, k, cfg, [np.uint64(steps), out], check)
    return per_load_sample(*(int(v) for v in host["out"][:4]), steps)


def chase_axes(env: dict, params: dict) -> dict:
    """The axes' values; the points are only the pairs with peer < cluster size (_DsmemProbe.points)."""
    return {"cluster_size": tuple(params["cluster_sizes"]), "peer": tuple(range(max(params["cluster_sizes"])))}


def required(name: str) -> dict[str, int]:
    if name.endswith("_chase"):
        return {r"^LD\.E$": 3, r"^UCGABAR_ARV$": 2, r"^UCGABAR_WAIT$": 2}
    return {r"^UCGABAR_ARV$": 3, r"^UCGABAR_WAIT$": 3}


def check_sass(name: str, insts) -> list[str]:
    problems = ptx.sass_check(required)(name, insts)
    if name.endswith("_chase"):
        fed = ptx.fed_by(insts, r"^LD\.E$", r"^LD\.E$")
        if fed < 3:
            problems.append(f"expected a chain of LD.E through the cluster window, found {fed} self-addressed loads")
    return problems


COMMON = (Param("steps", int, 1024, "loads (barriers) per timed pass", positive),)


class _DsmemProbe(Probe):
    """latency.dsmem sweeps (cluster size, peer < cluster size) pairs, not the full product of the two axes."""

    def points(self, env: dict, params: dict):
        from probes.spec import Point

        return [Point((("cluster_size", cs), ("peer", p))) for cs in params["cluster_sizes"] for p in range(cs)]


PROBES = (
    _DsmemProbe(
        name="latency.dsmem",
        summary="distributed shared memory: pointer chase in a peer CTA's shared memory, per cluster size and peer",
        measure=measure_chase,
        axes=chase_axes,
        unit="cycles/load",
        method=" ".join(p.replace("\n", " ") for p in __doc__.split("\n\n")[1:]),
        params=COMMON
        + (
            Param(
                "cluster_sizes",
                tuple,
                CLUSTER_SIZES,
                "cluster sizes (16 is non-portable: skipped with the driver's reason where it does not allow it)",
                _sizes_check,
            ),
            Param("footprint_bytes", int, 4 * KiB, "chain size in each CTA's shared memory", multiple_of(8)),
            Param("stride_bytes", int, 64, "distance between chained slots", multiple_of(8)),
        ),
        requires=(min_cc(9, 0),),
        kernels=ptx.probe_kernels(lambda cc: [chase_kernel()]),
        check_sass=check_sass,
        smoke=("cluster_sizes=2", "footprint_bytes=1024", "steps=32"),
        ptx=TEMPLATE,
    ),
    Probe(
        name="latency.cluster-barrier",
        summary="cluster-wide barrier (barrier.cluster.arrive[.relaxed] + wait) latency per cluster size",
        measure=measure_barrier,
        axes=lambda env, params: {"cluster_size": tuple(params["cluster_sizes"]), "relaxed": (0, 1)},
        unit="cycles/barrier",
        method=" ".join(p.replace("\n", " ") for p in __doc__.split("\n\n")[1:]),
        params=COMMON + (Param("cluster_sizes", tuple, (2, 4, 8), "cluster sizes (16 is non-portable)", _sizes_check),),
        requires=(min_cc(9, 0),),
        kernels=ptx.probe_kernels(lambda cc: [barrier_kernel(False), barrier_kernel(True)]),
        check_sass=check_sass,
        smoke=("cluster_sizes=2", "steps=32"),
        ptx=TEMPLATE,
    ),
)
