"""The PTX variant table (grammar, lookup, join with the dynamic probes) and the variant atlas on a few targets."""

from __future__ import annotations

import re
from collections import Counter

import pandas as pd
import pytest

from probes.static import toolchain, variant_atlas, variants

REQUIRED_GROUPS = {
    "setp",
    "set",
    "atom",
    "red",
    "cvt",
    "cvt-fp8",
    "int",
    "fp",
    "mma",
    "mma.sp",
    "wmma",
    "wgmma",
    "ldmatrix",
    "cp.async",
    "cp.async.bulk",
    "cp.async.bulk.tensor",
    "mbarrier",
    "fence",
    "tcgen05",
    "video",
    "ld",
    "st",
    "prefetch",
}


def test_family_multiplies_axes_and_resolves_register_classes():
    rows = variants.family("t", "add{rnd}.{t} {d:%t}, {a:%t}, {b:%t};", rnd=("", ".rn"), t=("f32", "f64", "f16"))
    assert len(rows) == 6 and len({v.name for v in rows}) == 6
    f64 = next(v for v in rows if v.name == "add.rn.f64")
    assert [(o.name, o.klass) for o in f64.operands] == [("d", "b64"), ("a", "b64"), ("b", "b64")]
    assert f64.ptx == "add.rn.f64 d, a, b;" and f64.chainable
    setp = variants.family("t", "setp.lt.{t} {dp:pred}, {a:%t}, {b:%t};", chain=False, t=("s32",))[0]
    assert not setp.chainable and setp.operands[0].klass == "pred"


def test_table_is_large_unique_and_covers_the_issue_list():
    t = variants.table()
    assert len(t) >= 5000 and len({v.name for v in t}) == len(t)
    groups = Counter(v.group for v in t)
    assert REQUIRED_GROUPS <= set(groups), REQUIRED_GROUPS - set(groups)
    names = {v.name for v in t}
    for must in (
        "cvt.rn.satfinite.e4m3x2.f32",
        "cvt.rn.satfinite.e2m1x2.f32",
        "cvt.rz.ue8m0x2.f32",
        "add.rn.f32x2",
        "wgmma.mma_async.sync.aligned.m64n256k16.f32.f16.f16",
        "elect.sync",
        "griddepcontrol.wait",
        "setmaxnreg.inc.sync.aligned.u32",
        "tcgen05.mma.cta_group::1.kind::f16",
        "fence.acq_rel.cluster",
        "membar.gl",
        "atom.acq_rel.gpu.global.add.u32",
        "vadd4.u32.u32.u32.sat",
    ):
        assert must in names, must


def test_lookup_by_name_snippet_and_prefix():
    assert variants.lookup("add.rn.f32 $0, $1, $2;").name == "add.rn.f32"
    assert variants.lookup("{ .reg .pred p; setp.lt.u32 p, $1, $2; selp.b32 $0, $2, $3, p; }").name == "setp.lt.u32"
    assert variants.lookup("atom.shared.add").template.startswith("atom.shared.add.u32")
    assert variants.lookup("no.such.instruction") is None


def test_every_dynamic_instruction_op_finds_its_scheduled_row_by_key():
    """The join 'scheduled vs measured' is by key and never silently empty: every op of the dynamic probes names a
    variant of the table exactly (no prefix guess), and the committed variant atlas holds ptxas's schedule of that
    variant on sm_80 and sm_90 wherever the op runs (before the one table, 21 of 64 ops found no static row)."""
    from probes.static import instruction_table as T

    names = variants.by_name()
    assert [op.name for op in T.OPS if op.variant not in names] == []
    missing = [
        (op.name, arch)
        for op in T.OPS
        for arch, cc in (("sm_80", (8, 0)), ("sm_90", (9, 0)))
        if cc >= op.min_cc
        and (
            (variant_atlas.scheduled(op.variant, arch) or {}).get("variant"),
            (variant_atlas.scheduled(op.variant, arch) or {}).get("status"),
        )
        != (op.variant, "ok")
    ]
    assert missing == [], missing
    assert variants.lookup("mma.sync.m16n8k16.f32.f16").chainable  # the accumulator chain of the mma step


def test_kernel_text_loads_sources_and_stores_results():
    v = variants.by_name()["fma.rn.f32"]
    ks = variant_atlas.kernels_for(v)
    assert set(ks) == {"indep", "baseline-indep", "chain", "baseline-chain"}
    chain = ks["chain"].text
    assert chain.count("fma.rn.f32") == variant_atlas.CHAIN and "ld.global.b32" in chain and "st.global" in chain
    assert ks["indep"].text.count("fma.rn.f32") == variant_atlas.CHAINS * variant_atlas.LINKS
    assert "fma" not in ks["baseline-indep"].text
    setp = variant_atlas.kernels_for(variants.by_name()["setp.lt.s32"])
    assert set(setp) == {"indep", "baseline-indep"} and setp["indep"].text.count("setp.lt.s32") == variant_atlas.COPIES
    # the baseline keeps the operands alive with stores the lowering count leaves out
    offsets = lambda text: [int(m) for m in re.findall(r"\[%aout\+(\d+)\]", text)]  # noqa: E731
    assert max(offsets(setp["baseline-indep"].text)) >= variant_atlas.KEEP_OFFSET
    assert max(offsets(setp["indep"].text)) < variant_atlas.KEEP_OFFSET
    other = variant_atlas.kernels_for(variants.by_name()["add.rn.f32"])
    # same operand signature -> the same (shared) baseline kernel
    assert other["baseline-indep"].name == ks["baseline-indep"].name or len(
        variants.by_name()["add.rn.f32"].operands
    ) != len(v.operands)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    names = [
        "fma.rn.f32",
        "add.s32",
        "setp.lt.s32",
        "wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16",
        "tcgen05.fence::after_thread_sync",
        "cvt.rn.satfinite.e4m3x2.f32",
        "ld.global.nc.b32",
        "atom.global.add.u32",
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GPU_PROBES_CACHE", str(tmp_path_factory.mktemp("vcache")))
        mp.setattr(variant_atlas, "VERIFY", 2)
        df = variant_atlas.build(None, ["sm_90", "sm_90a", "sm_100", "sm_100a"], progress=False, names=names, workers=1)
        yield df, names


def _cell(df, name, arch):
    r = df[(df.variant == name) & (df.arch == arch)]
    assert len(r) == 1
    return r.iloc[0]


def test_small_atlas_cells(small):
    df, names = small
    assert len(df) == len(names) * 4
    w = "wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16"
    assert _cell(df, w, "sm_90").status == "rejected" and "sm_90" in _cell(df, w, "sm_90").error
    assert _cell(df, w, "sm_90a").status == "ok" and "HGMMA" in _cell(df, w, "sm_90a").sass
    assert _cell(df, "tcgen05.fence::after_thread_sync", "sm_100a").status == "ok"
    assert _cell(df, "tcgen05.fence::after_thread_sync", "sm_90a").status == "rejected"
    f = _cell(df, "fma.rn.f32", "sm_90")
    assert f.sass == "FFMA" and f.latency_class == "fixed" and f.fixed_latency_cycles == 4
    assert _cell(df, "add.s32", "sm_90").lowering_kind == "merged"
    assert _cell(df, "ld.global.nc.b32", "sm_100").latency_class == "variable"
    assert _cell(df, "setp.lt.s32", "sm_90").sass.startswith("ISETP")
    # a/f targets: only what the base rejects, plus a verified sample, is assembled; the rest is the base's row
    copied = df[(df.arch == "sm_100a") & (df.assembled_as == "sm_100")]
    assert len(copied) >= 1 and (copied.status == "ok").all()


def test_second_build_is_served_from_the_cache(small, monkeypatch):
    df, names = small

    def boom(*a, **k):
        raise AssertionError("ptxas called on a warm cache")

    monkeypatch.setattr(toolchain, "assemble_many", boom)
    again = variant_atlas.build(None, ["sm_90", "sm_90a", "sm_100", "sm_100a"], progress=False, names=names, workers=1)
    pd.testing.assert_frame_equal(df.reset_index(drop=True), again.reset_index(drop=True))


def test_csv_is_gzip_and_deterministic(small, tmp_path):
    df, _ = small
    a = variant_atlas.write_csv(df, tmp_path / "a").read_bytes()
    b = variant_atlas.write_csv(df, tmp_path / "b").read_bytes()
    assert a == b and a[:2] == b"\x1f\x8b"
    row = variant_atlas.scheduled("fma.rn.f32 $0, $1, $2, $3;", "sm_90", tmp_path / "a" / variant_atlas.CSV_NAME)
    assert row["sass"] == "FFMA"


def test_emptied_code_sections_disassemble_only_the_kept_kernels_unchanged():
    from probes.static.sass import parse_cuobjdump

    ks = [
        k
        for n in ("fma.rn.f32", "add.s32", "setp.lt.s32")
        for k in variant_atlas.kernels_for(variants.by_name()[n]).values()
    ]
    cubin, rejected = toolchain.assemble_many(ks, "sm_90", prelude=variant_atlas.PRELUDE, cache=False)
    assert not rejected and cubin
    sections = variant_atlas.code_sections(cubin)
    assert set(sections) == {k.name for k in ks} and len(set(sections.values())) > 1
    full = parse_cuobjdump(toolchain.cuobjdump_sass(cubin, cache=False))
    keep = {ks[0].name, ks[-1].name}
    cut = parse_cuobjdump(toolchain.cuobjdump_sass(variant_atlas.keep_code_of(cubin, keep), cache=False))
    assert {n for n, ins in cut.items() if ins} == keep
    for n in keep:
        assert cut[n] == full[n] and len(full[n]) > 10


def test_sass_family_groups_one_generation():
    fam = variant_atlas.sass_family
    assert fam("sm_86") == fam("sm_89") == fam("sm_80") != fam("sm_90") == fam("sm_90a")
    assert fam("sm_100") == fam("sm_103f") != fam("sm_120") == fam("sm_121a") and fam("sm_75") != fam("sm_80")


def test_identical_code_on_a_sibling_target_is_not_disassembled_again(tmp_path, monkeypatch):
    """sm_88 emits byte-identical code to sm_86 for these variants: its kernels are assembled (the cells are
    real), but nothing new is disassembled, and its rows equal sm_86's."""
    monkeypatch.setenv("GPU_PROBES_CACHE", str(tmp_path))
    names = ["fma.rn.f32", "add.s32", "setp.lt.s32", "ld.global.nc.b32"]
    one = variant_atlas.build(None, ["sm_86"], progress=False, names=names, workers=1)
    assert variant_atlas.LAST_STATS["disassembled"] >= 1
    both = variant_atlas.build(None, ["sm_86", "sm_88"], progress=False, names=names, workers=1)
    assert variant_atlas.LAST_STATS["modules"] >= 1 and variant_atlas.LAST_STATS["disassembled"] == 0
    a = both[both.arch == "sm_86"].drop(columns="arch").reset_index(drop=True)
    b = both[both.arch == "sm_88"].drop(columns="arch").reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    assert (b.assembled_as == "").all()  # assembled for real, not copied
    pd.testing.assert_frame_equal(one.reset_index(drop=True), a.assign(arch="sm_86")[one.columns])


def test_af_verification_sample_does_not_depend_on_what_else_is_in_the_table():
    keys = {f"v{i}": f"{i * 2654435761 % 2**32:08x}" + "0" * 16 for i in range(5000)}
    names = list(keys)
    s1 = variant_atlas._sample(keys, names)
    keys["extra"] = "00000000" + "1" * 16
    s2 = variant_atlas._sample(keys, names + ["extra"])
    assert len(s1) >= variant_atlas.VERIFY and set(s2) - set(s1) == {"extra"}


def test_every_instruction_of_the_ptx_kernels_has_a_variant_row():
    """Issue 24 section 3: the hand-written PTX kernels' instructions are in the static atlas."""
    import csv
    from pathlib import Path

    listed = Path(__file__).resolve().parents[1] / "ptx" / "atlas-instructions.csv"
    if not listed.is_file():
        pytest.skip("no ptx/atlas-instructions.csv in this tree")
    names = variants.by_name()
    wanted = {r["ptx_instruction"] for r in csv.DictReader(listed.open())}
    missing = sorted(
        i for i in wanted if i not in names and not any(n.startswith(i + " [") or n == i + " 0" for n in names)
    )
    assert not missing, missing


def test_async_copies_carry_every_hint_qualifier():
    names = set(variants.by_name())
    for must in (
        "cp.async.ca.shared.global.L2::cache_hint [16]",
        "cp.async.cg.shared.global.L2::cache_hint.L2::256B [16]",
        "cp.async.ca.shared.global.L2::128B [4]",
        "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint",
        "cp.async.bulk.prefetch.L2.global.L2::cache_hint",
        "cp.reduce.async.bulk.global.shared::cta.bulk_group.L2::cache_hint.add.u32",
        "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes.L2::cache_hint",
        "cp.async.bulk.tensor.3d.global.shared::cta.tile.bulk_group.L2::cache_hint",
        "cp.async.bulk.prefetch.tensor.5d.L2.global.tile.L2::cache_hint",
    ):
        assert must in names, must
    # the floating-point wgmma rows take imm-scale-a/b (without them ptxas rejects every one of them)
    assert variants.by_name()["wgmma.mma_async.sync.aligned.m64n64k8.f32.tf32.tf32"].template.endswith(", 1, 1;")


def test_adding_a_variant_assembles_only_its_own_new_kernels(tmp_path, monkeypatch):
    monkeypatch.setenv("GPU_PROBES_CACHE", str(tmp_path))
    names = ["fma.rn.f32", "add.rn.f32", "setp.lt.s32"]
    variant_atlas.build(None, ["sm_90"], progress=False, names=names, workers=1)
    variant_atlas.build(None, ["sm_90"], progress=False, names=names + ["mul.rn.f32"], workers=1)
    # mul.rn.f32 shares its baselines with fma/add: only its indep and chain kernels are new
    assert variant_atlas.LAST_STATS["kernels"] == 2


def test_a_build_stopped_before_disassembly_is_repaired(tmp_path, monkeypatch):
    """Kernel codes cached without their SASS (a build killed between assembly and disassembly) are assembled
    again, not read as missing SASS."""
    monkeypatch.setenv("GPU_PROBES_CACHE", str(tmp_path))
    names = ["fma.rn.f32", "setp.lt.s32"]
    first = variant_atlas.build(None, ["sm_90"], progress=False, names=names, workers=1)
    cache = variant_atlas._Cache()
    with cache.db:
        cache.db.execute("DELETE FROM sass")
        cache.db.execute("DELETE FROM cells")
        cache.db.execute("DELETE FROM rows")
    again = variant_atlas.build(None, ["sm_90"], progress=False, names=names, workers=1)
    assert variant_atlas.LAST_STATS["kernels"] >= 3
    pd.testing.assert_frame_equal(first.reset_index(drop=True), again.reset_index(drop=True))
