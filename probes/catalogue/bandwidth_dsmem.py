"""Distributed shared memory bandwidth (hand-written PTX, sm_90+): how fast the CTAs of a thread-block cluster read
one another's shared memory, per cluster size and peer.

Method: `clusters` clusters of `cluster_size` CTAs of `threads` threads (default: as many clusters as the SMs hold
one CTA each, capped at the number the driver runs at once, cuOccupancyMaxActiveClusters, so every cluster is
resident). Every CTA fills `footprint_bytes` of its dynamic shared memory, the cluster synchronises, and every
thread reads the buffer of rank (rank + `peer_shift`) mod cluster size through the cluster window (`mapa` +
`ld.shared::cluster.v4.u32`, four independent 16-byte loads per thread per trip) `iters` times; peer_shift 0 reads
the CTA's own buffer through the same window (the local baseline). Every thread sums the words it read and the
host checks every CTA's checksum against the peer's buffer (and that CTA g is rank g mod cluster size), so every
byte read is checked. GB/s = all bytes read / (last CTA end - first CTA start) on `%globaltimer`;
bytes/clk/CTA = one CTA's bytes / its own `%clock64` span (median over CTAs), independent of how the clusters
overlap. Cluster sizes above 8 are non-portable: where the driver refuses or fits none, the point is skipped and
the reason stored.
Kernel: ptx/dsmem_stream.ptx.
"""

from __future__ import annotations

import numpy as np

from probes.catalogue.latency_cluster import require_cluster
from probes.kernel import ptx
from probes.spec import KernelCheckError, KiB, Param, Point, Probe, ProbeSpecError, min_cc, positive

TEMPLATE = "ptx/dsmem_stream.ptx"
OUT_PER_CTA = 6
SIM_BYTES_PER_NS, SIM_BYTES_PER_CLK = 64, 32  # the emulator's made-up rates (simulator only)
CLUSTER_SIZES = (2, 4, 8, 16)
LOADS_PER_TRIP = 4


def stream_kernel(threads: int, footprint: int) -> ptx.PtxKernel:
    if threads % 32 or not 32 <= threads <= ptx.MAX_THREADS_PER_BLOCK or footprint % (threads * 16 * LOADS_PER_TRIP):
        raise ProbeSpecError(
            f"bandwidth.dsmem: threads={threads} must be a multiple of 32 up to "
            f"{ptx.MAX_THREADS_PER_BLOCK}, footprint_bytes={footprint} a multiple of "
            f"{LOADS_PER_TRIP} x 16 B x threads = {threads * 16 * LOADS_PER_TRIP}"
        )
    step = threads * 16
    return ptx.kernel(
        TEMPLATE,
        f"dsmem_stream_{threads}_{footprint}",
        emulate=emulate,
        WORDS=footprint // 4,
        BYTES=footprint,
        THREADS=threads,
        STEP1=step,
        STEP2=2 * step,
        STEP3=3 * step,
        TRIP=LOADS_PER_TRIP * step,
    )


def stream_config(cluster_size: int, clusters: int, threads: int, footprint: int) -> ptx.LaunchConfig:
    return ptx.config(grid=cluster_size * clusters, block=threads, cluster=cluster_size, shared_bytes=footprint)


def peer_of(cta: np.ndarray | int, cluster_size: int, shift: int):
    """Grid index of the CTA whose buffer CTA `cta` reads (same cluster, rank + shift mod cluster size)."""
    base = np.asarray(cta) // cluster_size * cluster_size
    return base + (np.asarray(cta) % cluster_size + shift) % cluster_size


def checksums(src_words: np.ndarray, ctas: int, cluster_size: int, shift: int, iters: int) -> np.ndarray:
    """Host reference model: per CTA, iters x the sum of the words of its peer's buffer, mod 2^32 (the buffer of
    rank r is src[r x words : (r + 1) x words], in every cluster)."""
    per_rank = np.asarray(src_words, dtype=np.uint64).reshape(cluster_size, -1).sum(axis=1)
    ranks = peer_of(np.arange(ctas), cluster_size, shift) % cluster_size
    return (per_rank[ranks] * np.uint64(iters)) % (1 << 32)


def emulate(k: ptx.PtxKernel, cfg: ptx.LaunchConfig, args: list) -> None:
    src, shift, iters, out = args
    cs, ctas, nbytes = cfg.cluster_size, cfg.blocks, int(k.params["BYTES"])
    sums = checksums(np.asarray(src.copy_to_host()), ctas, cs, int(shift), int(iters))
    ns, clk = int(iters) * nbytes // SIM_BYTES_PER_NS, int(iters) * nbytes // SIM_BYTES_PER_CLK
    g = np.arange(ctas)
    rows = np.stack([np.zeros(ctas), np.full(ctas, ns), sums, np.full(ctas, clk), g, g % cs], axis=1)
    out[: OUT_PER_CTA * ctas] = rows.astype(np.uint64).ravel()


def check_launch(o: np.ndarray, want: np.ndarray, cluster_size: int) -> None:
    """The host reference check of one launch: every CTA's rank and checksum."""
    ranks = o[:, 5].astype(np.int64)
    bad = np.flatnonzero(ranks != np.arange(len(o)) % cluster_size)
    if bad.size:
        raise KernelCheckError(
            f"CTA {int(bad[0])} reports cluster rank {int(ranks[bad[0]])}, expected "
            f"{int(bad[0]) % cluster_size}: launch not clustered as configured"
        )
    got = o[:, 2] & 0xFFFFFFFF
    bad = np.flatnonzero(got != want)
    if bad.size:
        raise KernelCheckError(
            f"CTA {int(bad[0])} checksum {int(got[bad[0]]):#x}, expected {int(want[bad[0]]):#x} "
            f"({bad.size} of {len(o)} CTAs wrong): peer words lost or stale"
        )


def measure(ctx, point: dict, params: dict) -> dict:
    cs, shift = int(point["cluster_size"]), int(point["peer_shift"])
    threads, footprint, iters = int(params["threads"]), int(params["footprint_bytes"]), int(params["iters"])
    k = stream_kernel(threads, footprint)
    wanted = int(params["clusters"]) or max(1, int(ctx.env.get("sm_count") or cs) // cs)
    n = require_cluster(ctx, k, stream_config(cs, 1, threads, footprint))  # skips a cluster the driver cannot run
    clusters = min(wanted, n) if n else wanted
    cfg = stream_config(cs, clusters, threads, footprint)
    src = _SOURCE.get(ctx, cs, footprint)
    out = ctx.to_device(np.zeros(OUT_PER_CTA * cfg.blocks, dtype=np.uint64))  # the checksum word is red.add'ed
    host = {}

    def check():
        o = host["out"] = out.copy_to_host().reshape(cfg.blocks, OUT_PER_CTA)
        check_launch(o, checksums(_SOURCE.host, cfg.blocks, cs, shift, iters), cs)

    ptx.launch(ctx, k, cfg, [src, np.uint32(shift), np.uint32(iters), out], check)
    o = host["out"]
    span = int(o[:, 1].max()) - int(o[:, 0].min())
    per_cta = iters * footprint
    cycles = o[:, 3].astype(np.float64)
    sms = o[:, 4].astype(np.int64)
    return {
        "gbps": cfg.blocks * per_cta / span if span > 0 else None,
        "bytes": cfg.blocks * per_cta,
        "ns": span,
        "bytes_per_clk_cta": float(np.median(per_cta / cycles)) if (cycles > 0).all() else None,
        "clusters": clusters,
        "ctas": cfg.blocks,
        "distinct_sms": int(len(set(sms.tolist()))),
        "peer_distance_median": float(np.median(np.abs(sms[peer_of(np.arange(cfg.blocks), cs, shift)] - sms))),
    }


class _Source:
    """One random source buffer per process, cluster size and footprint (host copy kept for the checksums)."""

    def __init__(self):
        self.key, self.host, self.dev = None, None, None

    def get(self, ctx, cluster_size: int, footprint: int):
        if self.key != (id(ctx), cluster_size, footprint):
            self.dev = None
            self.host = (
                np.random.default_rng(11)
                .integers(0, 1 << 32, cluster_size * footprint // 4, dtype=np.uint64)
                .astype(np.uint32)
            )
            self.dev, self.key = ctx.to_device(self.host), (id(ctx), cluster_size, footprint)
        return self.dev


_SOURCE = _Source()


def _sizes_check(value) -> str | None:
    bad = [v for v in value if not 2 <= v <= ptx.MAX_CLUSTER]
    if not value:
        return "needs at least one cluster size"
    return f"cluster sizes must be 2..{ptx.MAX_CLUSTER} (got {bad[0]})" if bad else None


def _shifts_check(value) -> str | None:
    bad = [v for v in value if v < 0]
    return f"peer shifts must be >= 0 (got {bad[0]})" if bad else (None if value else "needs a peer shift")


def _non_negative(value) -> str | None:
    return None if value >= 0 else "must be >= 0 (0: as many clusters as the SMs hold)"


class _DsmemStreamProbe(Probe):
    """Points: (cluster size, peer shift) with the shift taken mod the cluster size, duplicates dropped."""

    def points(self, env: dict, params: dict):
        pts = []
        for cs in params["cluster_sizes"]:
            for shift in sorted({s % cs for s in params["peer_shifts"]}):
                pts.append(Point((("cluster_size", cs), ("peer_shift", shift))))
        return pts


def check_sass(name: str, insts) -> list[str]:
    """LD.E.128 x 4 (the loads through the cluster window; `mapa` itself becomes ALU code, no MAPA opcode, on
    sm_90a and sm_100a), cluster barriers, the checksum's REDG and both %globaltimer reads."""
    problems = ptx.opcode_problems(
        insts,
        {r"^LD\.E\.128$": LOADS_PER_TRIP, r"^UCGABAR_ARV": 2, r"^UCGABAR_WAIT": 2, r"^REDG?\.E\.ADD\.64": 1},
        forbidden=(r"^LDS",),
    )  # a plain shared load would not cross the cluster
    timers = [i for i in insts if i.base == "CS2R" and "SR_GLOBALTIMERLO" in i.text]
    if len(timers) < 2:
        problems.append(f"expected 2 %globaltimer reads, found {len(timers)}")
    return problems


PROBES = (
    _DsmemStreamProbe(
        name="bandwidth.dsmem",
        summary="distributed shared memory read bandwidth: every CTA of a cluster streams a peer's shared memory",
        measure=measure,
        axes=lambda env, params: {
            "cluster_size": tuple(params["cluster_sizes"]),
            "peer_shift": tuple(params["peer_shifts"]),
        },
        unit="GB/s",
        method=" ".join(p.replace("\n", " ") for p in __doc__.split("\n\n")[1:]),
        params=(
            Param(
                "cluster_sizes",
                tuple,
                CLUSTER_SIZES,
                "cluster sizes (16 is non-portable: skipped with the driver's reason where it does not allow it)",
                _sizes_check,
            ),
            Param(
                "peer_shifts", tuple, (0, 1), "read rank (rank + shift) mod cluster size; 0 = own buffer", _shifts_check
            ),
            Param("threads", int, 256, "threads per CTA", positive),
            Param("footprint_bytes", int, 32 * KiB, "shared memory each CTA holds and its peer reads", positive),
            Param("iters", int, 64, "sweeps over the peer's buffer per launch", positive),
            Param(
                "clusters",
                int,
                0,
                "clusters per launch (0: SMs / cluster size, capped at what runs at once)",
                _non_negative,
            ),
        ),
        requires=(min_cc(9, 0),),
        kernels=ptx.probe_kernels(lambda cc: [stream_kernel(256, 32 * KiB)]),
        check_sass=check_sass,
        value_key="gbps",
        smoke=("cluster_sizes=2", "peer_shifts=1", "threads=32", "footprint_bytes=2048", "iters=2", "clusters=2"),
        ptx=TEMPLATE,
    ),
)
