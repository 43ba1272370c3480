"""The PTX probe path on the CPU: templates, launch configuration, host reference models through a fake launcher,
SASS/clock-discipline checks, and the PTX dry run for sm_80, sm_90a and sm_100a.

No PTX runs here (there is no simulator for PTX): the fake launcher is each kernel's emulator, or a corrupted copy
of it, so what is tested is that every launch is checked and that a wrong output word is caught.
"""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest

from probes import catalogue, ptx_dryrun
from probes.kernel import ptx
from probes.kernel.context import Context
from probes.spec import KernelCheckError, KiB, ProbeSpecError
from probes.static.sass import Instruction

PTX_PROBES = sorted(n for n, p in catalogue.all_probes().items() if p.ptx)


# ---- a fake context: host arrays for device arrays, the chain scatter done on the host ------------------------------


class HostArray(np.ndarray):
    def copy_to_host(self):
        return np.array(self)


class _Scatter:
    def __getitem__(self, _launch):
        def run(memory, index, value):
            memory[np.asarray(index)] = np.asarray(value)

        return run


class FakeContext(Context):
    """The simulator's Context without Numba: what the emulators see under NUMBA_ENABLE_CUDASIM."""

    def __init__(self):
        super().__init__(
            "simulator",
            {
                "compute_capability": [9, 0],
                "sm_count": 2,
                "l2_cache_bytes": 16 * KiB,
                "memory_total_bytes": 64 << 20,
                "memory_free_bytes": 64 << 20,
            },
        )

    def kernel(self, key, func):
        assert key == "_chase.scatter", key
        return _Scatter()

    def to_device(self, host):
        return np.array(host).view(HostArray)

    def device_array(self, n, dtype):
        return np.zeros(n, dtype=dtype).view(HostArray)

    def synchronize(self):
        pass


def corrupting(word: int, delta: int = 1):
    """A fake launcher that runs the emulator, then corrupts one output word (the last argument is `out`)."""

    def launcher(ctx, k, cfg, args):  # noqa: ARG001
        k.emulate(k, cfg, args)
        args[-1][word] += delta

    return launcher


def smoke_run(name: str, launcher=None):
    probe = catalogue.get(name)
    params = probe.parse_params(probe.smoke)
    ctx = FakeContext()
    point = probe.points(ctx.env, params)[0].as_dict()
    if launcher is None:
        return probe.measure(ctx, point, params)
    with ptx.using_launcher(launcher):
        return probe.measure(ctx, point, params)


# ---- templates ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(p.name for p in ptx.PTX_DIR.glob("*.ptx") if p.name != "cache_hint_kernel.ptx"))
def test_every_template_says_what_it_measures_and_which_sass_it_must_produce(path):
    head = ptx.header(f"ptx/{path}")
    assert "SASS it must produce" in head and len(head.splitlines()) >= 5
    assert {"PTX_VERSION", "TARGET", "NAME"} <= ptx.placeholders(f"ptx/{path}")


def test_render_fills_every_placeholder_and_names_the_missing_or_unknown_ones():
    text = ptx.render("ptx/async_copy.ptx", "sm_90a", NAME="k", CACHE="cg", BYTES=16)
    assert "${" not in text and ".target sm_90a" in text and "cp.async.cg.shared.global [%r1], [%rd1], 16;" in text
    assert not any(line.lstrip().startswith("//") for line in text.splitlines())  # the header is not shipped
    with pytest.raises(ptx.PtxTemplateError, match="not filled: BYTES"):
        ptx.render("ptx/async_copy.ptx", "sm_90a", NAME="k", CACHE="cg")
    with pytest.raises(ptx.PtxTemplateError, match="not placeholders of this template: BOGUS"):
        ptx.render("ptx/async_copy.ptx", "sm_90a", NAME="k", CACHE="cg", BYTES=16, BOGUS=1)
    with pytest.raises(ptx.PtxTemplateError, match="expected ptx/<name>.ptx"):
        ptx.render("probes/spec.py", "sm_90a")


def test_a_multi_entry_template_ships_only_the_launched_entry():
    from probes.catalogue.latency_cluster import barrier_kernel, chase_kernel

    chase, barrier = chase_kernel().ptx("sm_90a"), barrier_kernel(True).ptx("sm_90a")
    assert re.findall(r"\.entry (\w+)", chase) == ["dsmem_chase"]
    assert re.findall(r"\.entry (\w+)", barrier) == ["cluster_bar_relaxed_barrier"]
    assert "barrier.cluster.arrive.relaxed.aligned" in barrier
    with pytest.raises(ptx.PtxTemplateError, match="no entry"):
        ptx.only_entry(chase, "nope")


def test_probe_declares_its_template_and_keeps_older_probes_on_the_family_glob():
    probe = catalogue.get("latency.ladder.tma")
    assert probe.ptx == "ptx/bulk_copy.ptx" and [p.name for p in probe.templates()] == ["bulk_copy.ptx"]
    # an older probe without `ptx` keeps the family glob, so its version is unchanged by the new templates
    assert all(p.name.startswith("latency") for p in catalogue.get("latency.ladder.global").templates())


def test_targets_are_architecture_specific_where_wgmma_and_tcgen05_need_it():
    assert ptx.target_for((9, 0)) == "sm_90a" and ptx.target_for((10, 0)) == "sm_100a"
    assert ptx.target_for((8, 0)) == "sm_80" and ptx.target_for((8, 9)) == "sm_89"
    assert ptx.cc_of("sm_100a") == (10, 0) and ptx.cc_of("sm_90") == (9, 0)
    with pytest.raises(ValueError):
        ptx.cc_of("hopper")


# ---- launch configuration ----------------------------------------------------------------------------------------


def test_cluster_launch_counts_the_grid_in_clusters_for_cuda_core():
    cfg = ptx.config(grid=16, block=128, cluster=8, shared_bytes=4 * KiB)
    assert cfg.grid == (16, 1, 1) and cfg.cluster_size == 8 and not cfg.non_portable_cluster
    assert cfg.core_kwargs() == {"grid": (2, 1, 1), "cluster": (8, 1, 1), "block": (128, 1, 1), "shmem_size": 4096}
    assert ptx.config(grid=(4, 2), block=(32, 4)).core_kwargs() == {
        "grid": (4, 2, 1),
        "block": (32, 4, 1),
        "shmem_size": 0,
    }
    big = ptx.config(grid=16, block=128, cluster=16, shared_bytes=100 * KiB)
    assert big.non_portable_cluster and big.needs_shared_opt_in


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(grid=6, cluster=4), "does not divide grid"),
        (dict(block=(32, 33)), "1056 threads > 1024"),
        (dict(grid=32, cluster=32), "cluster of 32 blocks > 16"),
        (dict(grid=0), "three dimensions >= 1"),
        (dict(shared_bytes=-1), "< 0"),
    ],
)
def test_impossible_launch_configurations_are_refused_in_one_line(kwargs, message):
    with pytest.raises(ptx.LaunchConfigError, match=re.escape(message)):
        ptx.config(**kwargs)


def test_dsmem_launch_is_one_cluster_with_the_chain_in_dynamic_shared_memory():
    from probes.catalogue.latency_cluster import THREADS, chase_config

    cfg = chase_config(4, 8 * KiB)
    assert cfg.core_kwargs() == {"grid": (1, 1, 1), "cluster": (4, 1, 1), "block": (THREADS, 1, 1), "shmem_size": 8192}


def test_kernel_arguments_are_pointers_and_typed_scalars():
    class Dev:
        device_ctypes_pointer = type("P", (), {"value": 0x7F0000001000})()

    ctx = Context("gpu", {"compute_capability": [9, 0]})
    assert ptx.kernel_argument(ctx, Dev()) == np.uint64(0x7F0000001000)
    assert ptx.kernel_argument(ctx, np.uint32(5)).dtype == np.uint32
    with pytest.raises(TypeError, match="numpy scalar"):
        ptx.kernel_argument(ctx, 5)


# ---- host reference models through a fake launcher ---------------------------------------------------------------

# the output word a wrong kernel would get wrong: final slot / phase count, first accumulator, CTA 0's checksum
CHECKED_WORD = {"tensor.wgmma.latency": 8, "tensor.wgmma.throughput": 8, "bandwidth.bulk": 2}


@pytest.mark.parametrize(
    "name", [n for n in PTX_PROBES if n not in ("tensor.tcgen05.latency", "bandwidth.bulk", "bandwidth.dsmem")]
)
def test_every_launch_is_checked_against_its_reference_model(name):
    sample = smoke_run(name)
    assert sample["cycles_per_op"] == 4 and sample["ns_per_op"] == 2  # the emulator's made-up clock
    with pytest.raises(KernelCheckError):
        smoke_run(name, corrupting(word=CHECKED_WORD.get(name, 5)))


def test_bulk_stream_checks_every_ctas_checksum_and_reports_bandwidth_over_the_grid():
    from probes.catalogue.bandwidth_bulk import SIM_BYTES_PER_NS, checksums

    sample = smoke_run("bandwidth.bulk")
    assert (
        sample["gbps"] == pytest.approx(SIM_BYTES_PER_NS, rel=0.02) and sample["bytes"] == 8192 and sample["ctas"] == 2
    )
    with pytest.raises(KernelCheckError, match="CTA 1 checksum"):
        smoke_run("bandwidth.bulk", corrupting(word=4 + 2))
    words = np.arange(16, dtype=np.uint32)  # 2 CTAs x 2 chunks of 16 B: CTA 0 gets chunks 0 and 2
    assert list(checksums(words, 2, 2, 16)) == [
        sum(range(0, 4)) + sum(range(8, 12)),
        sum(range(4, 8)) + sum(range(12, 16)),
    ]


def test_bulk_stream_refuses_a_buffer_too_small_for_its_depth():
    probe = catalogue.get("bandwidth.bulk")
    params = probe.parse_params(["buffer_bytes=1024", "blocks_per_sm=1", "sizes=512", "depths=4"])
    with pytest.raises(ProbeSpecError, match="chunks per CTA"):
        probe.measure(FakeContext(), {"mode": "tma", "bytes": 512, "depth": 4}, params)


def test_tcgen05_reference_model_catches_a_wrong_accumulator_and_a_short_loop():
    from probes.catalogue.tensor_async import measure_tcgen05

    ctx = FakeContext()
    with ptx.using_launcher(ptx.EmulatedLauncher()):
        assert measure_tcgen05(ctx, {"n": 128}, {"steps": 8})["cycles_per_op"] == 4
    for word in (5, 8 + 31):
        with ptx.using_launcher(corrupting(word)), pytest.raises(KernelCheckError):
            measure_tcgen05(ctx, {"n": 128}, {"steps": 8})


def test_dsmem_check_catches_an_unclustered_launch():
    with pytest.raises(KernelCheckError, match="cluster ranks"):
        smoke_run("latency.dsmem", corrupting(word=8 + 2 * 1, delta=5))  # rank 1 reports rank 6


def test_accumulator_reference_is_exact_for_every_input_type():
    from probes.catalogue.tensor_async import TYPES, accumulator_word

    assert accumulator_word("f16", 32) == struct.unpack("<I", struct.pack("<f", 512.0))[0]
    assert accumulator_word("tf32", 32) == struct.unpack("<I", struct.pack("<f", 256.0))[0]
    assert accumulator_word("s8", 32) == 1024
    for dtype, (k, *_rest) in TYPES.items():  # every partial sum up to 4 x 4096 MMAs is exact in f32
        v = accumulator_word(dtype, 4 * 4096)
        assert (v if dtype == "s8" else struct.unpack("<f", struct.pack("<I", v))[0]) == 4 * 4096 * k


def test_wgmma_probe_reports_flop_per_clock_per_sm():
    sample = smoke_run("tensor.wgmma.throughput")
    assert sample["warpgroups"] == 2 and sample["flop_per_clk_sm"] == 2 * 2 * 64 * 8 * 16 / 4


def test_no_emulator_means_no_simulated_launch():
    k = ptx.kernel("ptx/mbarrier.ptx", "x", **{f"STEP_{p}": "" for p in ("warm", "pass1", "pass2")})
    with pytest.raises(RuntimeError, match="no emulator"):
        ptx.EmulatedLauncher()(FakeContext(), k, ptx.config(), [])


def test_unaligned_tma_stride_is_refused():
    probe = catalogue.get("latency.ladder.tma")
    params = probe.parse_params(["stride_bytes=24", "max_footprint_bytes=4096", "dense_points=0"])
    with pytest.raises(ProbeSpecError, match="16-byte aligned"):
        probe.measure(FakeContext(), {"footprint_bytes": 2400}, params)


# ---- SASS checks ---------------------------------------------------------------------------------------------------


def _ins(addr, text, wbar=7, wait=0):
    opcode, _, ops = text.partition(" ")
    hi = ((wait << 11) | (7 << 8) | (wbar << 5)) << 41
    return Instruction(addr, text, "", opcode, tuple(o.strip() for o in ops.split(",")) if ops else (), 0, hi)


def test_clock_discipline_flags_a_clock_read_racing_a_load_and_accepts_a_waited_one():
    load = _ins(0x10, "LDS.64 R6, [R0]", wbar=2)
    racing = [load, _ins(0x20, "CS2R R8, SR_CLOCKLO")]
    waited = [load, _ins(0x20, "ISETP.NE.U32.AND P0, PT, R6, 0x1, PT", wait=1 << 2), _ins(0x30, "CS2R R8, SR_CLOCKLO")]
    drained = [_ins(0x10, "LDGDEPBAR", wbar=0), _ins(0x20, "DEPBAR.LE SB0, 0x0"), _ins(0x30, "CS2R R8, SR_CLOCKLO")]
    assert any("does not wait on LDS.64@0x10 (SB2)" in p for p in ptx.clock_discipline(racing, 1))
    assert ptx.clock_discipline(waited, 1) == [] and ptx.clock_discipline(drained, 1) == []
    assert ptx.clock_discipline(waited, 3) == ["expected 3 %clock64 reads, found 1"]


def test_chase_link_through_two_instructions_is_found():
    insts = [
        _ins(0, "LDS.64 R6, [R0]"),
        _ins(16, "LDGSTS.E.64 [R0], desc[UR6][R6.64]"),
        _ins(32, "LDGSTS.E.64 [R0], desc[UR6][R8.64]"),
    ]
    assert ptx.fed_by(insts, r"^LDGSTS", r"^LDS") == 1


def test_ptx_dry_run_assembles_and_checks_every_ptx_probe_for_sm80_sm90a_sm100a():
    checked, failures, skipped = ptx_dryrun.dry_run()
    assert failures == []
    assert checked >= len(PTX_PROBES)
    # wgmma only on sm_90a, tcgen05 only on sm_100a, cp.async everywhere
    assert any(s.startswith("skip tensor.wgmma.latency sm_100a") for s in skipped)
    assert any(s.startswith("skip tensor.tcgen05.latency sm_90a") for s in skipped)
    assert not any("cp-async" in s for s in skipped)


def test_ptx_dry_run_reports_a_broken_kernel_in_one_line():
    probe = catalogue.get("latency.mbarrier")
    broken = type(probe)(
        **{
            **probe.__dict__,
            "name": "latency.broken",
            "kernels": lambda cc: [("mbar_arrive_test", ".version 8.7\n.target sm_90a\nbogus;\n")],
        }
    )
    checked, failures, _ = ptx_dryrun.dry_run(("sm_90a",), [broken])
    assert checked == 0 and len(failures) == 1 and "does not assemble" in failures[0] and "\n" not in failures[0]


def test_ptx_dry_run_cli_rejects_an_unknown_arch_in_one_line(capsys):
    assert ptx_dryrun.main(["--arch", "hopper"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_the_static_atlas_list_of_ptx_instructions_is_current():
    """ptx/atlas-instructions.csv is what the static atlas reads; regenerate with
    `python -m probes.ptx_dryrun --write-atlas-list` after editing a template or a probe's kernels."""
    assert ptx_dryrun.ATLAS_LIST.read_text() == ptx_dryrun.atlas_csv()
    rows = ptx_dryrun.atlas_rows()
    ops = {r["ptx_instruction"] for r in rows}
    assert {
        "cp.async.ca.shared.global",
        "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes",
        "mapa.shared::cluster.u32",
        "ld.shared::cluster.u32",
        "mbarrier.complete_tx.shared::cta.b64",
    } <= ops
    assert any(o.startswith("wgmma.mma_async.sync.aligned.m64n64k32.f32.e4m3.e4m3") for o in ops)
    assert any(o.startswith("tcgen05.mma.cta_group::1.kind::f16") for o in ops)
    assert not any(r["target"] == "sm_100a" and r["ptx_instruction"].startswith("wgmma") for r in rows)


def test_a_probe_version_covers_its_declared_template():
    import dataclasses

    probe = catalogue.get("latency.mbarrier")
    assert dataclasses.replace(probe, ptx="ptx/bulk_copy.ptx").version() != probe.version()


# ---- bandwidth.bulk: TMA 2D through a tensor map, cache-hint variants ---------------------------------------------


def recording(into: list):
    """A fake launcher that records (kernel, config) and runs the emulator."""

    def launcher(ctx, k, cfg, args):  # noqa: ARG001
        into.append((k, cfg))
        k.emulate(k, cfg, args)

    return launcher


def test_tma2d_chunks_are_boxes_of_a_row_major_matrix_in_tile_order():
    from probes.catalogue.bandwidth_bulk import chunk_sums

    words = np.arange(4 * 128, dtype=np.uint32)  # 4 rows of 512 B; boxes of 2 rows x 64 elements
    m = words.reshape(4, 128).astype(np.uint64)
    want = [m[0:2, 0:64].sum(), m[0:2, 64:128].sum(), m[2:4, 0:64].sum(), m[2:4, 64:128].sum()]
    assert list(chunk_sums(words, 512, row_bytes=512)) == want
    assert list(chunk_sums(words, 512)) != want  # 1D chunks are contiguous runs: another model


def test_tma2d_stream_is_checked_per_box_and_launches_its_tensor_map_geometry():
    from probes.catalogue.bandwidth_bulk import checksums, tma2d_fields

    probe = catalogue.get("bandwidth.bulk")
    params = probe.parse_params(["sizes=512", "depths=2", "blocks_per_sm=1", "buffer_bytes=8192", "row_bytes=1024"])
    seen = []
    with ptx.using_launcher(recording(seen)):
        sample = probe.measure(FakeContext(), {"mode": "tma2d", "hint": "none", "bytes": 512, "depth": 2}, params)
    ((k, cfg),) = seen
    assert sample["ctas"] == 2 and sample["iters"] == 8 and sample["bytes"] == 8192
    assert cfg.core_kwargs() == {"grid": (2, 1, 1), "block": (32, 1, 1), "shmem_size": 1024}
    text = k.ptx("sm_90a")
    assert (
        "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%r13], "
        "[%rd1, {%r25, %r26}], [%r14];" in text
    )
    assert "rem.u32 %r25, %r12, 4;" in text and "mul.lo.u32 %r26, %r26, 2;" in text  # 4 tile columns, 2 rows
    assert "fence.proxy.tensormap::generic.acquire.gpu [%rd1], 128;" in text
    f = tma2d_fields(512, 1024, rows=8)
    assert f.global_dims == (256, 8) and f.global_strides == (1024,) and f.box_dims == (64, 2)
    assert f.data_type == "UINT32" and f.box_bytes == 512
    with ptx.using_launcher(corrupting(word=2)), pytest.raises(KernelCheckError, match="CTA 0 checksum"):
        probe.measure(FakeContext(), {"mode": "tma2d", "hint": "none", "bytes": 512, "depth": 2}, params)
    words = np.arange(2048, dtype=np.uint32)
    assert list(checksums(words, 2, 8, 512, 1024)) != list(checksums(words, 2, 8, 512))


@pytest.mark.parametrize(
    "nbytes, row_bytes, rows, message",
    [
        (640, 4096, 64, "multiples of 256"),
        (1024, 4096, 6, "do not split into boxes of 4 rows"),
        (128 * KiB, 4096, 1024, "boxDim[1] = 512: must be 1..256"),
        (4096, 4096 + 256, 64, None),
    ],
)
def test_tma2d_tensor_maps_the_driver_would_refuse_are_refused_before_any_launch(nbytes, row_bytes, rows, message):
    from probes.catalogue.bandwidth_bulk import tma2d_fields
    from probes.kernel.tensormap import TensorMapError

    if message is None:
        assert tma2d_fields(nbytes, row_bytes, rows).global_strides == (row_bytes,)
        return
    with pytest.raises((ProbeSpecError, TensorMapError), match=re.escape(message)):
        tma2d_fields(nbytes, row_bytes, rows)


def test_cache_hint_variants_make_a_policy_and_pass_it_to_every_async_copy():
    from probes.catalogue.bandwidth_bulk import stream_kernel

    for mode, copy in (
        ("tma", "cp.async.bulk.shared::cluster"),
        ("tma2d", "cp.async.bulk.tensor.2d"),
        ("ldgsts", "cp.async.cg"),
    ):
        plain, hinted = (stream_kernel(mode, 1024, 2, h).ptx("sm_90a") for h in ("none", "evict_last"))
        copies = [ln for ln in hinted.splitlines() if copy in ln]
        assert len(copies) == 2 and all(".L2::cache_hint" in ln and ln.rstrip().endswith(", %rd19;") for ln in copies)
        assert "createpolicy.fractional.L2::evict_last.b64 %rd19, 1.0;" in hinted
        assert "cache_hint" not in plain and "createpolicy" not in plain
    assert stream_kernel("tma", 1024, 2, "evict_first").entry == "stream_tma_ef_1024_2"
    with pytest.raises(ProbeSpecError, match="apply to tma, tma2d, ldgsts only"):
        stream_kernel("copy", 1024, 2, "evict_first")


def test_bulk_sweep_measures_the_copy_ceiling_once_per_size_and_depth_whatever_the_hints():
    probe = catalogue.get("bandwidth.bulk")
    params = probe.parse_params(["sizes=1024,4096", "depths=2", "hints=evict_first,evict_last"])
    pts = [p.as_dict() for p in probe.points({"compute_capability": [9, 0]}, params)]
    assert [(p["hint"], p["bytes"]) for p in pts if p["mode"] == "copy"] == [("none", 1024), ("none", 4096)]
    assert {p["hint"] for p in pts if p["mode"] == "tma2d"} == {"evict_first", "evict_last"}
    assert not any(p.as_dict()["mode"].startswith("tma") for p in probe.points({"compute_capability": [8, 0]}, params))
    with pytest.raises(ProbeSpecError, match="unknown hint 'evict_most'"):
        probe.parse_params(["hints=evict_most"])


def test_a_lost_or_stray_cache_policy_descriptor_fails_the_sass_check():
    from probes.catalogue.bandwidth_bulk import carries_policy, check_sass

    default = [_ins(0, "ULDC.64 UR4, c[0x0][0x208]"), _ins(16, "LDGSTS.E.BYPASS.128 [R15], desc[UR4][R12.64]")]
    policy = [
        _ins(0, "UMOV UR5, 0x120"),
        _ins(8, "UMOV UR4, URZ"),
        _ins(16, "LDGSTS.E.BYPASS.128 [R15], desc[UR4][R12.64]"),
    ]
    assert carries_policy("ldgsts", default) is False and carries_policy("ldgsts", policy) is True
    assert carries_policy("tma", [_ins(0, "UBLKCP.S.G [UR10], [UR6], UR19, desc[UR8]")]) is True
    assert carries_policy("tma2d", [_ins(0, "UTMALDG.2D [UR8], [UR18]")]) is False
    assert carries_policy("tma", default) is None
    assert any("cache_hint lost" in p for p in check_sass("stream_ldgsts_ef_4096_2", default))
    assert any("not given" in p for p in check_sass("stream_ldgsts_4096_2", policy))


# ---- clusters: the non-portable size 16, per-SM-distance records ----------------------------------------------------


class _Refusing:
    """A fake launcher whose driver runs no cluster above `limit` blocks."""

    def __init__(self, limit: int):
        self.limit, self.asked = limit, []

    def cluster_capacity(self, ctx, k, cfg):  # noqa: ARG002
        self.asked.append((k.entry, cfg.cluster_size, cfg.non_portable_cluster))
        return (0, ptx.cluster_refused(cfg)) if cfg.cluster_size > self.limit else (7, None)

    def __call__(self, ctx, k, cfg, args):  # noqa: ARG002
        k.emulate(k, cfg, args)


def test_default_dsmem_sweep_reaches_the_non_portable_cluster_of_16():
    probe = catalogue.get("latency.dsmem")
    params = probe.parse_params([])
    pts = [p.as_dict() for p in probe.points({"compute_capability": [9, 0]}, params)]
    assert sorted({p["cluster_size"] for p in pts}) == [2, 4, 8, 16] and len(pts) == 2 + 4 + 8 + 16
    from probes.catalogue.latency_cluster import chase_config

    cfg = chase_config(16, 4 * KiB)
    assert cfg.non_portable_cluster and cfg.core_kwargs() == {
        "grid": (1, 1, 1),
        "cluster": (16, 1, 1),
        "block": (128, 1, 1),
        "shmem_size": 4096,
    }


@pytest.mark.parametrize(
    "name, point",
    [
        ("latency.dsmem", {"cluster_size": 16, "peer": 15}),
        ("latency.cluster-barrier", {"cluster_size": 16, "relaxed": 1}),
        ("bandwidth.dsmem", {"cluster_size": 16, "peer_shift": 1}),
    ],
)
def test_a_cluster_the_driver_does_not_run_skips_its_point_with_the_reason(name, point):
    from probes.kernel.context import PointSkipped

    probe = catalogue.get(name)
    params = probe.parse_params(probe.smoke)
    fake = _Refusing(limit=8)
    with ptx.using_launcher(fake), pytest.raises(PointSkipped, match="no cluster of 16 blocks .* non-portable"):
        probe.measure(FakeContext(), point, params)
    assert fake.asked[-1][1:] == (16, True)
    with ptx.using_launcher(_Refusing(limit=16)):
        sample = probe.measure(FakeContext(), point, params)
    assert sample.get("cycles_per_op", 4) == 4 and sample.get("gbps", 1) > 0


def test_core_launcher_turns_a_refused_attribute_or_zero_occupancy_into_a_reason():
    from probes.catalogue.latency_cluster import chase_config, chase_kernel

    cfg, k = chase_config(16, 4 * KiB), chase_kernel()
    launcher = object.__new__(ptx.CoreLauncher)
    launcher.stream = "stream"
    launcher.core_config = lambda c: c.core_kwargs()  # cuda.core's LaunchConfig asks the driver about clusters

    def refused(*_):
        raise RuntimeError("cuKernelSetAttribute(CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED, 1) failed")

    launcher._kernel = refused
    n, why = launcher.cluster_capacity(FakeContext(), k, cfg)
    assert n == 0 and why.startswith("cluster of 16 blocks refused by the driver: cuKernelSetAttribute")

    class Occupancy:
        def __init__(self, n):
            self.n, self.seen = n, []

        def max_active_clusters(self, config, stream):
            self.seen.append((config, stream))
            return self.n

    for active, reason in ((0, "max active clusters 0, with the non-portable cluster size allowed"), (3, None)):
        occ = Occupancy(active)
        launcher._kernel = lambda *_, occ=occ: type("Fn", (), {"occupancy": occ})()
        n, why = launcher.cluster_capacity(FakeContext(), k, cfg)
        assert n == active and (why is None if reason is None else reason in why)
        assert occ.seen[0] == (cfg.core_kwargs(), "stream")


def test_dsmem_samples_carry_the_sm_pair_its_distance_and_nsmid():
    sample = smoke_run("latency.dsmem")
    assert (sample["sm_self"], sample["sm_peer"], sample["sm_distance"], sample["nsmid"]) == (0, 0, 0, 2)
    probe = catalogue.get("latency.dsmem")
    params = probe.parse_params(["cluster_sizes=4", "footprint_bytes=1024", "steps=32"])
    s = probe.measure(FakeContext(), {"cluster_size": 4, "peer": 3}, params)
    assert (s["sm_peer"], s["sm_distance"], s["sm_of_ranks"]) == (3, 3, "0,1,2,3")


# ---- bandwidth.dsmem -------------------------------------------------------------------------------------------------


def test_dsmem_stream_reference_model_is_the_peers_buffer_times_the_sweeps():
    from probes.catalogue.bandwidth_dsmem import checksums, peer_of

    src = np.arange(4 * 8, dtype=np.uint32)  # 4 ranks x 8 words
    per_rank = [int(src[r * 8 : (r + 1) * 8].sum()) for r in range(4)]
    assert list(peer_of(np.arange(8), 4, 1)) == [1, 2, 3, 0, 5, 6, 7, 4]
    assert list(checksums(src, 8, 4, 1, 3)) == [3 * per_rank[(g % 4 + 1) % 4] for g in range(8)]
    assert list(checksums(src, 4, 4, 0, 1)) == per_rank
    big = np.full(2 * 4, 0xFFFFFFFF, dtype=np.uint32)
    assert int(checksums(big, 2, 2, 1, 5)[0]) == (5 * 4 * 0xFFFFFFFF) % (1 << 32)


def test_dsmem_stream_checks_every_ctas_checksum_and_rank_and_fills_the_device_with_resident_clusters():
    probe = catalogue.get("bandwidth.dsmem")
    params = probe.parse_params(probe.smoke)
    from probes.catalogue.bandwidth_dsmem import SIM_BYTES_PER_CLK, SIM_BYTES_PER_NS

    seen = []
    with ptx.using_launcher(recording(seen)):
        sample = probe.measure(FakeContext(), {"cluster_size": 2, "peer_shift": 1}, params)
    ((k, cfg),) = seen
    assert cfg.core_kwargs() == {"grid": (2, 1, 1), "cluster": (2, 1, 1), "block": (32, 1, 1), "shmem_size": 2048}
    assert sample["ctas"] == 4 and sample["bytes"] == 4 * 2 * 2048
    assert sample["gbps"] == 4 * SIM_BYTES_PER_NS  # the emulator's 4 CTAs run side by side
    assert sample["bytes_per_clk_cta"] == SIM_BYTES_PER_CLK
    assert "[%r22+512];" in k.ptx("sm_90a") and "setp.ge.u32 %p3, %r21, 2048;" in k.ptx("sm_90a")
    with ptx.using_launcher(corrupting(word=6 * 1 + 2)), pytest.raises(KernelCheckError, match="CTA 1 checksum"):
        probe.measure(FakeContext(), {"cluster_size": 2, "peer_shift": 1}, params)
    with ptx.using_launcher(corrupting(word=6 * 3 + 5)), pytest.raises(KernelCheckError, match="CTA 3 reports"):
        probe.measure(FakeContext(), {"cluster_size": 2, "peer_shift": 1}, params)
    auto = probe.parse_params([*probe.smoke, "clusters=0"])  # 2 SMs / cluster of 2 = 1 cluster
    assert probe.measure(FakeContext(), {"cluster_size": 2, "peer_shift": 0}, auto)["clusters"] == 1

    class Capped(_Refusing):
        def cluster_capacity(self, ctx, k, cfg):  # noqa: ARG002
            return 1, None

    more = probe.parse_params([*probe.smoke, "clusters=5"])
    with ptx.using_launcher(Capped(16)):
        assert probe.measure(FakeContext(), {"cluster_size": 2, "peer_shift": 1}, more)["clusters"] == 1


def test_dsmem_stream_points_and_kernel_shapes():
    from probes.catalogue.bandwidth_dsmem import stream_kernel

    probe = catalogue.get("bandwidth.dsmem")
    pts = [p.as_dict() for p in probe.points({}, probe.parse_params(["cluster_sizes=2,4", "peer_shifts=0,1,2"]))]
    assert pts == [
        {"cluster_size": 2, "peer_shift": 0},
        {"cluster_size": 2, "peer_shift": 1},
        {"cluster_size": 4, "peer_shift": 0},
        {"cluster_size": 4, "peer_shift": 1},
        {"cluster_size": 4, "peer_shift": 2},
    ]
    assert sorted({p.as_dict()["cluster_size"] for p in probe.points({}, probe.parse_params([]))}) == [2, 4, 8, 16]
    with pytest.raises(ProbeSpecError, match="multiple of 4 x 16 B x threads = 16384"):
        stream_kernel(256, 24 * KiB)
    with pytest.raises(ProbeSpecError, match="multiple of 32"):
        stream_kernel(48, 3 * KiB)


def test_tma2d_copies_only_the_boxes_of_whole_rows_when_the_buffer_has_a_ragged_tail():
    probe = catalogue.get("bandwidth.bulk")
    # 9216 B = 9 rows of 1024 B; boxes of 2 rows: 4 box rows x 4 tile columns = 16 boxes, 8 per CTA, row 9 unused
    params = probe.parse_params(["sizes=512", "depths=2", "blocks_per_sm=1", "buffer_bytes=9216", "row_bytes=1024"])
    sample = probe.measure(FakeContext(), {"mode": "tma2d", "hint": "none", "bytes": 512, "depth": 2}, params)
    assert sample["iters"] == 8 and sample["bytes"] == 16 * 512
