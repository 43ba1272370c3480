"""Bulk global->shared streaming bandwidth (hand-written PTX): the TMA unit's 1D bulk copy, LDGSTS and a plain
synchronous copy, versus transfer size and pipeline depth.

Method: `blocks_per_sm` x SMs CTAs of one warp each stream disjoint chunks of a `buffer_bytes` buffer (chunk c =
CTA + k x CTAs) through `depth` shared-memory stages of `bytes` each: `tma` issues one
`cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes` per chunk from lane 0 and waits on the stage's
mbarrier; `ldgsts` has every lane copy 16-byte pieces with `cp.async.cg` (one commit group per chunk,
`cp.async.wait_group depth-1`); `copy` is `ld.global.v4` + `st.shared.v4`, the synchronous copy, whose best point is
the same-run ceiling every other point is shown against. The warp consumes each stage (sums its 32-bit words) before
refilling it; the host recomputes every CTA's checksum from the buffer, so every byte copied is checked. Bandwidth
= bytes / (last CTA end - first CTA start) on `%globaltimer`, one value per launch.
Kernel: ptx/bulk_stream.ptx.
"""
from __future__ import annotations

import numpy as np

from probes.engine import ptx
from probes.spec import KernelCheckError, KiB, MiB, Param, Probe, ProbeSpecError, min_cc, positive

TEMPLATE = "ptx/bulk_stream.ptx"
MODES = {"tma": (9, 0), "ldgsts": (8, 0), "copy": (8, 0)}
SIM_BYTES_PER_NS = 100          # the emulator's made-up transfer rate (simulator only)
MAX_DEPTH = 8


def _issue(mode: str, label: str) -> str:
    if mode == "tma":
        return ("  @%p1 mbarrier.arrive.expect_tx.shared::cta.b64 %rd20, [%r14], ${BYTES};\n"
                "  @%p1 cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%r13], [%rd11], ${BYTES}, "
                "[%r14];")
    body = ("  cp.async.cg.shared.global [%r24], [%rd22], 16;" if mode == "ldgsts" else
            "  ld.global.v4.u32 {%r25, %r26, %r27, %r28}, [%rd22];\n  st.shared.v4.u32 [%r24], {%r25, %r26, %r27, %r28};")
    return (f"  shl.b32 %r23, %r2, 4;\n{label}:\n  setp.ge.u32 %p5, %r23, ${{BYTES}};\n  @%p5 bra {label}_done;\n"
            f"  add.u32 %r24, %r13, %r23;\n  cvt.u64.u32 %rd21, %r23;\n  add.s64 %rd22, %rd11, %rd21;\n{body}\n"
            f"  add.u32 %r23, %r23, 512;\n  bra {label};\n{label}_done:"
            + ("\n  cp.async.commit_group;" if mode == "ldgsts" else ""))


def _wait(mode: str, depth: int) -> str:
    if mode == "tma":
        return ("stage_wait:\n  mbarrier.try_wait.parity.shared::cta.b64 %p5, [%r14], %r16;\n  @!%p5 bra stage_wait;")
    if mode == "copy":
        return "  bar.sync 0;"
    return (f"  add.u32 %r22, %r15, {depth - 1};\n  setp.lt.u32 %p6, %r22, %r1;\n  @!%p6 bra wait_all;\n"
            f"  cp.async.wait_group {depth - 1};\n  bra waited;\nwait_all:\n  cp.async.wait_all;\nwaited:\n"
            "  bar.sync 0;")


def stream_kernel(mode: str, nbytes: int, depth: int) -> ptx.PtxKernel:
    if mode not in MODES or not 1 <= depth <= MAX_DEPTH or nbytes % 512:
        raise ProbeSpecError(f"bulk stream {mode} bytes={nbytes} depth={depth}: bytes must be a multiple of 512 "
                             f"(one warp x 16 B pieces), depth 1..{MAX_DEPTH}")
    sub = lambda text: text.replace("${BYTES}", str(nbytes))   # noqa: E731  (the issue code names the size too)
    return ptx.kernel(TEMPLATE, f"stream_{mode}_{nbytes}_{depth}", emulate=emulate, BYTES=nbytes, DEPTH=depth,
                      ISSUE_PROLOGUE=sub(_issue(mode, "piece_p")), ISSUE_STEADY=sub(_issue(mode, "piece_s")),
                      WAIT=_wait(mode, depth),
                      INIT_FENCE="  fence.mbarrier_init.release.cluster;" if mode == "tma" else "",
                      PROXY_FENCE="  fence.proxy.async.shared::cta;" if mode == "tma" else "")


def checksums(buffer_words: np.ndarray, ctas: int, iters: int, nbytes: int) -> np.ndarray:
    """Host reference model: per CTA, the sum mod 2^32 of the u32 words of its chunks (c = cta + k x ctas)."""
    w = buffer_words[:ctas * iters * nbytes // 4].astype(np.uint64).reshape(iters, ctas, nbytes // 4)
    return (w.sum(axis=(0, 2)) % (1 << 32)).astype(np.uint64)


def emulate(k: ptx.PtxKernel, cfg: ptx.LaunchConfig, args: list) -> None:
    src, iters, out = args
    nbytes, ctas = int(k.params["BYTES"]), cfg.blocks
    sums = checksums(np.asarray(src.copy_to_host()), ctas, int(iters), nbytes)
    span = max(1, ctas * int(iters) * nbytes // SIM_BYTES_PER_NS)
    rows = np.stack([np.zeros(ctas), np.full(ctas, span), sums, np.full(ctas, 2 * span)], axis=1)
    out[:4 * ctas] = rows.astype(np.uint64).ravel()


def measure(ctx, point: dict, params: dict) -> dict:
    mode, nbytes, depth = point["mode"], point["bytes"], point["depth"]
    if ctx.cc < MODES[mode]:
        raise ProbeSpecError(f"mode {mode} needs cc >= {MODES[mode][0]}.{MODES[mode][1]}")
    ctas = int(params["blocks_per_sm"]) * int(ctx.env.get("sm_count") or 1)
    iters = int(params["buffer_bytes"]) // (ctas * nbytes)
    if iters < depth:
        raise ProbeSpecError(f"buffer_bytes={params['buffer_bytes']} gives {iters} chunks per CTA (< depth {depth})")
    words = _BUFFER.get(ctx, int(params["buffer_bytes"]))
    out = ctx.device_array(4 * ctas, np.uint64)
    host = {}

    def check():
        o = host["out"] = out.copy_to_host().reshape(ctas, 4)
        want = checksums(_BUFFER.host, ctas, iters, nbytes)
        bad = np.flatnonzero(o[:, 2] != want)
        if bad.size:
            raise KernelCheckError(f"CTA {int(bad[0])} checksum {int(o[bad[0], 2]):#x}, expected "
                                   f"{int(want[bad[0]]):#x} ({bad.size} of {ctas} CTAs wrong): bytes lost or stale")

    cfg = ptx.config(grid=ctas, block=32, shared_bytes=depth * nbytes)
    ptx.launch(ctx, stream_kernel(mode, nbytes, depth), cfg, [words, np.uint32(iters), out], check)
    o = host["out"]
    span = int(o[:, 1].max()) - int(o[:, 0].min())
    total = ctas * iters * nbytes
    return {"gbps": total / span if span > 0 else None, "bytes": total, "ns": span,
            "cycles_median_cta": float(np.median(o[:, 3])), "ctas": ctas, "iters": iters}


class _Buffer:
    """One random source buffer per process and size (host copy kept for the checksums)."""

    def __init__(self):
        self.key, self.host, self.dev = None, None, None

    def get(self, ctx, nbytes: int):
        if self.key != (id(ctx), nbytes):
            self.dev = None
            self.host = np.random.default_rng(7).integers(0, 1 << 32, nbytes // 4, dtype=np.uint64).astype(np.uint32)
            self.dev, self.key = ctx.to_device(self.host), (id(ctx), nbytes)
        return self.dev


_BUFFER = _Buffer()


def axes(env: dict, params: dict) -> dict:
    cc = tuple(env.get("compute_capability") or (0, 0))
    return {"mode": tuple(m for m, need in MODES.items() if cc >= need), "bytes": tuple(params["sizes"]),
            "depth": tuple(params["depths"])}


def _sizes(value) -> str | None:
    bad = [v for v in value if v <= 0 or v % 512]
    return f"sizes must be multiples of 512 B (got {bad[0]})" if bad else (None if value else "need a size")


def _depths(value) -> str | None:
    bad = [v for v in value if not 1 <= v <= MAX_DEPTH]
    return f"depths must be 1..{MAX_DEPTH} (got {bad[0]})" if bad else (None if value else "need a depth")


def required(name: str) -> dict[str, int]:
    mode = name.split("_")[1]
    common = {r"^LDS$": 1}
    return {**common, **{"tma": {r"^UBLKCP\.S\.G$": 2, r"^SYNCS\.PHASECHK\.TRANS64": 1},
                         "ldgsts": {r"^LDGSTS\.E\.BYPASS\.128$": 2, r"^LDGDEPBAR$": 2, r"^DEPBAR\.LE$": 1},
                         "copy": {r"^LDG\.E\.128$": 2, r"^STS\.128$": 2}}[mode]}


def check_sass(name: str, insts) -> list[str]:
    problems = ptx.opcode_problems(insts, required(name))
    timers = [i for i in insts if i.base == "CS2R" and "SR_GLOBALTIMERLO" in i.text]
    if len(timers) < 2:
        problems.append(f"expected 2 %globaltimer reads, found {len(timers)}")
    return problems


PROBES = (
    Probe(
        name="bandwidth.bulk",
        summary="global->shared streaming bandwidth: TMA 1D bulk copy vs LDGSTS vs a synchronous copy, by size and depth",
        measure=measure, axes=axes, unit="GB/s",
        method=" ".join(p.replace("\n", " ") for p in __doc__.split("\n\n")[1:]),
        params=(Param("sizes", tuple, (1 * KiB, 4 * KiB, 8 * KiB), "bytes per transfer (multiples of 512)", _sizes),
                Param("depths", tuple, (1, 2, 4), "stages in flight per CTA", _depths),
                Param("blocks_per_sm", int, 4, "one-warp CTAs per SM", positive),
                Param("buffer_bytes", int, 256 * MiB, "source buffer streamed once per launch", positive)),
        requires=(min_cc(8, 0),),
        kernels=ptx.probe_kernels(lambda cc: [stream_kernel(m, 4 * KiB, 2) for m, need in MODES.items()
                                              if tuple(cc) >= need]),
        check_sass=check_sass, value_key="gbps",
        smoke=("sizes=512", "depths=2", "blocks_per_sm=1", "buffer_bytes=8192"),
        ptx=TEMPLATE,
    ),
)
