"""Bulk global->shared streaming bandwidth (hand-written PTX): the TMA unit's 1D bulk copy and 2D tensor copy,
LDGSTS and a plain synchronous copy, versus transfer size, pipeline depth and L2 cache policy.

Method: `blocks_per_sm` x SMs CTAs of one warp each stream disjoint chunks of a `buffer_bytes` buffer (chunk c =
CTA + k x CTAs) through `depth` shared-memory stages of `bytes` each: `tma` issues one
`cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes` per chunk from lane 0 and waits on the stage's
mbarrier; `tma2d` views the buffer as a row-major uint32 matrix of `row_bytes`-byte rows and copies chunk c as one
box of bytes/256 rows x 64 elements (256 B) with `cp.async.bulk.tensor.2d` through a tensor map
(cuTensorMapEncodeTiled, kept in global memory), tiles in row-major tile order, so each box gathers rows
`row_bytes` apart; `ldgsts` has every lane copy 16-byte pieces with `cp.async.cg` (one commit group per chunk,
`cp.async.wait_group depth-1`); `copy` is `ld.global.v4` + `st.shared.v4`, the synchronous copy, whose best point is
the same-run ceiling every other point is shown against. `hint`: the async copies carry `.L2::cache_hint` with a
`createpolicy.fractional.L2::evict_first` or `evict_last` policy (fraction 1.0) made by every thread before the
stream, or no hint (`none`). The warp consumes each stage (sums its 32-bit words) before refilling it; the host
recomputes every CTA's checksum from the buffer (per 2D box for tma2d), so every byte copied is checked.
Bandwidth = bytes / (last CTA end - first CTA start) on `%globaltimer`, one value per launch.
Kernel: ptx/bulk_stream.ptx.
"""

from __future__ import annotations

import re

import numpy as np

from probes.kernel import ptx, tensormap
from probes.spec import KernelCheckError, KiB, MiB, Param, Point, Probe, ProbeSpecError, min_cc, positive

TEMPLATE = "ptx/bulk_stream.ptx"
MODES = {"tma": (9, 0), "tma2d": (9, 0), "ldgsts": (8, 0), "copy": (8, 0)}
HINTS = {"none": "", "evict_first": "ef", "evict_last": "el"}  # hint -> kernel-name tag
HINTED = ("tma", "tma2d", "ldgsts")  # the modes that take .L2::cache_hint (copy is the plain ceiling)
SIM_BYTES_PER_NS = 100  # the emulator's made-up transfer rate (simulator only)
MAX_DEPTH = 8
BOX_INNER_BYTES = 256  # tma2d: a box is 64 uint32 wide (a 256 B row segment), bytes/256 rows tall
BOX_INNER = BOX_INNER_BYTES // 4


def _hinted(op: str, hint: str) -> tuple[str, str]:
    """(qualifier, trailing operand) of an async copy with or without the cache policy in %rd19."""
    return (".L2::cache_hint", ", %rd19") if hint != "none" else ("", "")


def _issue(mode: str, label: str, nbytes: int, hint: str, tile_cols: int = 0) -> str:
    q, pol = _hinted(mode, hint)
    arm = f"  @%p1 mbarrier.arrive.expect_tx.shared::cta.b64 %rd20, [%r14], {nbytes};\n"
    if mode == "tma":
        return (
            arm + f"  @%p1 cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes{q} [%r13], "
            f"[%rd11], {nbytes}, [%r14]{pol};"
        )
    if mode == "tma2d":  # chunk %r12 -> box (tile row, tile column) in row-major tile order -> element coords
        return (
            arm + f"  rem.u32 %r25, %r12, {tile_cols};\n  div.u32 %r26, %r12, {tile_cols};\n"
            f"  mul.lo.u32 %r25, %r25, {BOX_INNER};\n  mul.lo.u32 %r26, %r26, {nbytes // BOX_INNER_BYTES};\n"
            f"  @%p1 cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes{q} [%r13], "
            f"[%rd1, {{%r25, %r26}}], [%r14]{pol};"
        )
    body = (
        f"  cp.async.cg.shared.global{q} [%r24], [%rd22], 16{pol};"
        if mode == "ldgsts"
        else "  ld.global.v4.u32 {%r25, %r26, %r27, %r28}, [%rd22];\n"
        "  st.shared.v4.u32 [%r24], {%r25, %r26, %r27, %r28};"
    )
    return (
        f"  shl.b32 %r23, %r2, 4;\n{label}:\n  setp.ge.u32 %p5, %r23, {nbytes};\n  @%p5 bra {label}_done;\n"
        f"  add.u32 %r24, %r13, %r23;\n  cvt.u64.u32 %rd21, %r23;\n  add.s64 %rd22, %rd11, %rd21;\n{body}\n"
        f"  add.u32 %r23, %r23, 512;\n  bra {label};\n{label}_done:"
        + ("\n  cp.async.commit_group;" if mode == "ldgsts" else "")
    )


def _wait(mode: str, depth: int) -> str:
    if mode in ("tma", "tma2d"):
        return "stage_wait:\n  mbarrier.try_wait.parity.shared::cta.b64 %p5, [%r14], %r16;\n  @!%p5 bra stage_wait;"
    if mode == "copy":
        return "  bar.sync 0;"
    return (
        f"  add.u32 %r22, %r15, {depth - 1};\n  setp.lt.u32 %p6, %r22, %r1;\n  @!%p6 bra wait_all;\n"
        f"  cp.async.wait_group {depth - 1};\n  bra waited;\nwait_all:\n  cp.async.wait_all;\nwaited:\n"
        "  bar.sync 0;"
    )


def _policy(hint: str) -> str:
    return f"  createpolicy.fractional.L2::{hint}.b64 %rd19, 1.0;" if hint != "none" else ""


def kernel_name(mode: str, hint: str, nbytes: int, depth: int) -> str:
    return "_".join(["stream", mode] + ([HINTS[hint]] if HINTS[hint] else []) + [str(nbytes), str(depth)])


_NAME_RE = re.compile(r"^stream_(?P<mode>tma2d|tma|ldgsts|copy)(?:_(?P<hint>ef|el))?_\d+_\d+$")


def stream_kernel(mode: str, nbytes: int, depth: int, hint: str = "none", row_bytes: int = 4 * KiB) -> ptx.PtxKernel:
    if mode not in MODES or not 1 <= depth <= MAX_DEPTH or nbytes % 512:
        raise ProbeSpecError(
            f"bulk stream {mode} bytes={nbytes} depth={depth}: bytes must be a multiple of 512 "
            f"(one warp x 16 B pieces), depth 1..{MAX_DEPTH}"
        )
    if hint not in HINTS or (hint != "none" and mode not in HINTED):
        raise ProbeSpecError(
            f"bulk stream {mode}: cache hint {hint!r} (hints {', '.join(HINTS)} apply to {', '.join(HINTED)} only)"
        )
    cols = 0
    if mode == "tma2d":
        tma2d_fields(nbytes, row_bytes, rows=nbytes // BOX_INNER_BYTES)  # refuses an impossible box here
        cols = row_bytes // BOX_INNER_BYTES
    tma = mode in ("tma", "tma2d")
    return ptx.kernel(
        TEMPLATE,
        kernel_name(mode, hint, nbytes, depth),
        emulate=_emulator(mode, row_bytes),
        BYTES=nbytes,
        DEPTH=depth,
        ISSUE_PROLOGUE=_issue(mode, "piece_p", nbytes, hint, cols),
        ISSUE_STEADY=_issue(mode, "piece_s", nbytes, hint, cols),
        WAIT=_wait(mode, depth),
        INIT_FENCE="  fence.mbarrier_init.release.cluster;"
        + ("\n  fence.proxy.tensormap::generic.acquire.gpu [%rd1], 128;" if mode == "tma2d" else "")
        if tma
        else "",
        PROXY_FENCE="  fence.proxy.async.shared::cta;" if tma else "",
        POLICY=_policy(hint),
    )


def tma2d_fields(nbytes: int, row_bytes: int, rows: int) -> tensormap.TiledFields:
    """Tensor-map fields of the tma2d mode: a row-major uint32 matrix of `rows` rows of `row_bytes` bytes, copied
    in boxes of nbytes/256 rows x 64 elements (one box = one chunk of `nbytes`)."""
    if nbytes % BOX_INNER_BYTES or row_bytes % BOX_INNER_BYTES:
        raise ProbeSpecError(
            f"tma2d: bytes={nbytes} and row_bytes={row_bytes} must be multiples of "
            f"{BOX_INNER_BYTES} (a box is {BOX_INNER} uint32 wide)"
        )
    box_rows = nbytes // BOX_INNER_BYTES
    if rows % box_rows:
        raise ProbeSpecError(f"tma2d: {rows} rows of {row_bytes} B do not split into boxes of {box_rows} rows")
    return tensormap.tiled_fields((rows, row_bytes // 4), "uint32", (box_rows, BOX_INNER))


def chunk_sums(buffer_words: np.ndarray, nbytes: int, row_bytes: int | None = None) -> np.ndarray:
    """Host reference model of one chunk: the sum of its u32 words, chunk c in order. 1D: bytes [c x nbytes, (c+1) x
    nbytes); 2D (row_bytes given): box c of the row-major tile order of a matrix of row_bytes-byte rows."""
    w = np.asarray(buffer_words, dtype=np.uint64)
    if row_bytes is None:
        per = nbytes // 4
        return w[: len(w) // per * per].reshape(-1, per).sum(axis=1)
    width, box_rows = row_bytes // 4, nbytes // BOX_INNER_BYTES
    rows = len(w) // width // box_rows * box_rows
    tiles = w[: rows * width].reshape(rows // box_rows, box_rows, width // BOX_INNER, BOX_INNER)
    return tiles.sum(axis=(1, 3)).ravel()


def checksums(buffer_words: np.ndarray, ctas: int, iters: int, nbytes: int, row_bytes: int | None = None) -> np.ndarray:
    """Host reference model: per CTA, the sum mod 2^32 of the u32 words of its chunks (c = cta + k x ctas)."""
    sums = chunk_sums(buffer_words, nbytes, row_bytes)[: ctas * iters].reshape(iters, ctas)
    return (sums.sum(axis=0) % (1 << 32)).astype(np.uint64)


def _emulator(mode: str, row_bytes: int):
    def emulate(k: ptx.PtxKernel, cfg: ptx.LaunchConfig, args: list) -> None:
        src, iters, out = args  # the simulator has no driver to encode a tensor map: tma2d gets the buffer
        nbytes, ctas = int(k.params["BYTES"]), cfg.blocks
        sums = checksums(
            np.asarray(src.copy_to_host()), ctas, int(iters), nbytes, row_bytes if mode == "tma2d" else None
        )
        span = max(1, ctas * int(iters) * nbytes // SIM_BYTES_PER_NS)
        rows = np.stack([np.zeros(ctas), np.full(ctas, span), sums, np.full(ctas, 2 * span)], axis=1)
        out[: 4 * ctas] = rows.astype(np.uint64).ravel()

    return emulate


def tensor_map_argument(ctx, fields: tensormap.TiledFields, words):
    """psrc of the tma2d kernel: a device copy of the 128-byte tensor map of `words` (64-byte aligned, as the TMA
    unit requires). Under the simulator, which has no driver to encode one, the buffer itself (the emulator reads
    it)."""
    if ctx.simulator:
        return words
    tmap = ctx.to_device(np.frombuffer(tensormap.encode_tiled(fields, ctx.address_of(words)), dtype=np.uint64).copy())
    if ctx.address_of(tmap) % 64:
        raise ProbeSpecError(f"tensor map at {ctx.address_of(tmap):#x}: the TMA unit needs 64-byte alignment")
    return tmap


def measure(ctx, point: dict, params: dict) -> dict:
    mode, nbytes, depth = point["mode"], point["bytes"], point["depth"]
    hint = point.get("hint", "none")
    if ctx.cc < MODES[mode]:
        raise ProbeSpecError(f"mode {mode} needs cc >= {MODES[mode][0]}.{MODES[mode][1]}")
    ctas = int(params["blocks_per_sm"]) * int(ctx.env.get("sm_count") or 1)
    chunks = int(params["buffer_bytes"]) // nbytes
    row_bytes = int(params["row_bytes"]) if mode == "tma2d" else None
    if mode == "tma2d":  # the boxes that tile whole rows of the 2D view (a ragged tail is never copied)
        rows = int(params["buffer_bytes"]) // row_bytes
        rows -= rows % (nbytes // BOX_INNER_BYTES)
        chunks = rows // (nbytes // BOX_INNER_BYTES) * (row_bytes // BOX_INNER_BYTES)
    iters = chunks // ctas
    if iters < depth:
        raise ProbeSpecError(f"buffer_bytes={params['buffer_bytes']} gives {iters} chunks per CTA (< depth {depth})")
    words = _BUFFER.get(ctx, int(params["buffer_bytes"]))
    src = words
    if mode == "tma2d":
        src = tensor_map_argument(ctx, tma2d_fields(nbytes, row_bytes, rows), words)
    out = ctx.device_array(4 * ctas, np.uint64)
    host = {}

    def check():
        o = host["out"] = out.copy_to_host().reshape(ctas, 4)
        want = checksums(_BUFFER.host, ctas, iters, nbytes, row_bytes)
        bad = np.flatnonzero(o[:, 2] != want)
        if bad.size:
            raise KernelCheckError(
                f"CTA {int(bad[0])} checksum {int(o[bad[0], 2]):#x}, expected "
                f"{int(want[bad[0]]):#x} ({bad.size} of {ctas} CTAs wrong): bytes lost or stale"
            )

    cfg = ptx.config(grid=ctas, block=32, shared_bytes=depth * nbytes)
    ptx.launch(
        ctx, stream_kernel(mode, nbytes, depth, hint, row_bytes or 4 * KiB), cfg, [src, np.uint32(iters), out], check
    )
    o = host["out"]
    span = int(o[:, 1].max()) - int(o[:, 0].min())
    total = ctas * iters * nbytes
    return {
        "gbps": total / span if span > 0 else None,
        "bytes": total,
        "ns": span,
        "cycles_median_cta": float(np.median(o[:, 3])),
        "ctas": ctas,
        "iters": iters,
    }


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
    return {
        "mode": tuple(m for m, need in MODES.items() if cc >= need),
        "hint": tuple(params["hints"]),
        "bytes": tuple(params["sizes"]),
        "depth": tuple(params["depths"]),
    }


def _sizes(value) -> str | None:
    bad = [v for v in value if v <= 0 or v % 512]
    return f"sizes must be multiples of 512 B (got {bad[0]})" if bad else (None if value else "need a size")


def _depths(value) -> str | None:
    bad = [v for v in value if not 1 <= v <= MAX_DEPTH]
    return f"depths must be 1..{MAX_DEPTH} (got {bad[0]})" if bad else (None if value else "need a depth")


def _hints(value) -> str | None:
    bad = [v for v in value if v not in HINTS]
    return f"unknown hint {bad[0]!r} (known: {', '.join(HINTS)})" if bad else (None if value else "need a hint")


def _row_bytes(value) -> str | None:
    return None if value > 0 and value % BOX_INNER_BYTES == 0 else f"must be a positive multiple of {BOX_INNER_BYTES}"


class NamesParam(Param):
    """A tuple of names (`--param hints=none,evict_first`)."""

    def parse(self, text: str):
        return self.validate(tuple(v.strip() for v in text.split(",") if v.strip()))


def required(name: str) -> dict[str, int]:
    m = _NAME_RE.match(name)
    mode = m.group("mode") if m else name
    common = {r"^LDS$": 1}
    return {
        **common,
        **{
            "tma": {r"^UBLKCP\.S\.G$": 2, r"^SYNCS\.PHASECHK\.TRANS64": 1},
            "tma2d": {r"^UTMALDG\.2D$": 2, r"^SYNCS\.PHASECHK\.TRANS64": 1},
            "ldgsts": {r"^LDGSTS\.E\.BYPASS(\.LTC128B)?\.128$": 2, r"^LDGDEPBAR$": 2, r"^DEPBAR\.LE$": 1},
            "copy": {r"^LDG\.E\.128$": 2, r"^STS\.128$": 2},
        }[mode],
    }


COPY_OPCODE = {"tma": r"^UBLKCP\.", "tma2d": r"^UTMALDG\.", "ldgsts": r"^LDGSTS\."}


def carries_policy(mode: str, insts) -> bool | None:
    """Whether the first async copy takes the createpolicy descriptor (None: no such copy). UBLKCP/UTMALDG name it
    as an extra `desc[URn]` operand only with a hint; LDGSTS always has `desc[URn]`, but without a hint that pair is
    the default global-memory descriptor loaded from the constant bank (ULDC.64 on sm_90, LDCU.64 on sm_100), with
    one it is built from the policy's immediates (UMOV/ULOP3/USHF), so the last writer of URn before the copy tells
    them apart."""
    first = next((k for k, i in enumerate(insts) if re.match(COPY_OPCODE[mode], i.opcode)), None)
    if first is None:
        return None
    desc = re.search(r"desc\[(UR\d+)\]", insts[first].text)
    if mode != "ldgsts" or desc is None:
        return desc is not None
    writer = next((i for i in reversed(insts[:first]) if desc.group(1) in i.dest_registers), None)
    return writer is not None and "c[0x0]" not in writer.text


def check_sass(name: str, insts) -> list[str]:
    problems = ptx.opcode_problems(insts, required(name))
    timers = [i for i in insts if i.base == "CS2R" and "SR_GLOBALTIMERLO" in i.text]
    if len(timers) < 2:
        problems.append(f"expected 2 %globaltimer reads, found {len(timers)}")
    m = _NAME_RE.match(name)
    if m and m.group("mode") in COPY_OPCODE:
        has, want = carries_policy(m.group("mode"), insts), m.group("hint") is not None
        if has is not None and has != want:
            problems.append(
                "the async copy "
                + (
                    "does not carry the createpolicy descriptor (.L2::cache_hint lost)"
                    if want
                    else "carries a cache-policy descriptor it was not given"
                )
            )
    return problems


def dry_run_kernels(cc) -> list[ptx.PtxKernel]:
    """One kernel per (mode, hint) at 4 KiB, depth 2: sizes and depths change only immediates."""
    return [
        stream_kernel(m, 4 * KiB, 2, h)
        for m, need in MODES.items()
        if tuple(cc) >= need
        for h in HINTS
        if h == "none" or m in HINTED
    ]


class _BulkProbe(Probe):
    """bandwidth.bulk: the copy ceiling has no cache-hint variants: its points are hint `none` whatever `hints`
    says, so every run measures its ceiling."""

    def points(self, env: dict, params: dict):
        ax = self.axes(env, params)
        return [
            Point((("mode", m), ("hint", h), ("bytes", b), ("depth", d)))
            for m in ax["mode"]
            for h in (ax["hint"] if m in HINTED else ("none",))
            for b in ax["bytes"]
            for d in ax["depth"]
        ]


PROBES = (
    _BulkProbe(
        name="bandwidth.bulk",
        summary="global->shared streaming bandwidth: TMA 1D/2D bulk copy vs LDGSTS vs a synchronous copy, by size, "
        "depth and L2 cache policy",
        measure=measure,
        axes=axes,
        unit="GB/s",
        method=" ".join(p.replace("\n", " ") for p in __doc__.split("\n\n")[1:]),
        params=(
            Param("sizes", tuple, (1 * KiB, 4 * KiB, 8 * KiB), "bytes per transfer (multiples of 512)", _sizes),
            Param("depths", tuple, (1, 2, 4), "stages in flight per CTA", _depths),
            NamesParam("hints", tuple, tuple(HINTS), f"L2 cache policies ({', '.join(HINTS)})", _hints),
            Param("blocks_per_sm", int, 4, "one-warp CTAs per SM", positive),
            Param("buffer_bytes", int, 256 * MiB, "source buffer streamed once per launch", positive),
            Param("row_bytes", int, 4 * KiB, "tma2d: bytes per row of the 2D view of the buffer", _row_bytes),
        ),
        requires=(min_cc(8, 0),),
        kernels=ptx.probe_kernels(dry_run_kernels),
        check_sass=check_sass,
        value_key="gbps",
        smoke=("sizes=512", "depths=2", "hints=none", "blocks_per_sm=1", "buffer_bytes=8192"),
        ptx=TEMPLATE,
    ),
)
