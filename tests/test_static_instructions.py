"""Static instruction atlas: control-bit decode, schedule reading, table invariants and bad input.

Needs only the pip toolchain (ptxas, cuobjdump); no GPU. Builds a handful of instructions on sm_80 and sm_90 only:
the full atlas is `make static`'s job.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from probes.static import instruction_atlas, instructions, schedule, toolchain
from probes.static.instructions import InstructionSpec
from probes.static.sass import parse_cuobjdump

ARCHS = ["sm_80", "sm_90"]
FEW = [
    "fma.rn.f32",
    "ex2.approx.ftz.f32",
    "add.s32",
    "add.rn.bf16x2",
    "fma.rn.f64",
    "ld.shared.u32",
    "shfl.sync.bfly.b32",
    "mma.m16n8k16.f32_f16_f16_f32",
    "div.rn.f32",
]


def _sass(spec: InstructionSpec, arch: str) -> dict[str, list]:
    kernels = instructions.kernels_for(0, spec)
    cubin, rejected = toolchain.assemble_many(list(kernels.values()), arch)
    assert not rejected, rejected
    funcs = parse_cuobjdump(toolchain.cuobjdump_sass(cubin))
    return {shape: funcs[k.name] for shape, k in kernels.items()}


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GPU_PROBES_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module")
def atlas(tmp_path_factory, cache_dir) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("atlas")
    return instruction_atlas.build(out, ARCHS, progress=False, instruction_names=FEW)


def _row(df: pd.DataFrame, name: str, arch: str) -> pd.Series:
    sub = df[(df["instruction"] == name) & (df["arch"] == arch)]
    assert len(sub) == 1
    return sub.iloc[0]


# --- decoder: hand-checked encodings (sm_80 cuobjdump 13.5 output, fields worked out by hand from bits 105-127) ---

HAND_CHECKED = """
\tcode for sm_80
\t\tFunction : k
        /*0040*/                   IMAD.WIDE.U32 R8, R5, R4, c[0x0][0x160] ;   /* 0x0000580005087625 */
                                                                              /* 0x001fca00078e0004 */
        /*0050*/                   LDG.E R6, [R8.64] ;                         /* 0x0000000408067981 */
                                                                              /* 0x000ea8000c1e1900 */
        /*0120*/                   FFMA R6, R6, R7.reuse, R2.reuse ;           /* 0x0000000706067223 */
                                                                              /* 0x184fe40000000002 */
"""


def test_decoder_fields_of_hand_checked_encodings():
    imad, ldg, ffma = parse_cuobjdump(HAND_CHECKED)["k"]
    # hi 0x001fca00078e0004 >> 41 = 0xfe5: stall 5, yield bit 0 (hint), no barriers, waits on SB0
    assert (
        imad.control.stall,
        imad.control.yield_hint,
        imad.control.write_barrier,
        imad.control.read_barrier,
        imad.control.wait_mask,
        imad.control.reuse,
    ) == (5, True, None, None, 0b000001, 0)
    # hi 0x000ea8000c1e1900 >> 41 = 0x754: stall 4, sets write scoreboard 2, waits on nothing
    assert (
        ldg.control.stall,
        ldg.control.yield_hint,
        ldg.control.write_barrier,
        ldg.control.read_barrier,
        ldg.control.wait_mask,
    ) == (4, False, 2, None, 0)
    # hi 0x184fe40000000002 >> 41 = 0xc27f2: stall 2, waits on SB2 (the LDG), reuse 0b0110 = two .reuse operands
    assert (ffma.control.stall, ffma.control.wait_mask, ffma.control.reuse) == (2, 0b000100, 0b0110)
    assert ffma.control.waits_on(2) and not ffma.control.waits_on(0)
    assert (ffma.opcode, ffma.base, schedule.destinations(ffma), schedule.sources(ffma)) == (
        "FFMA",
        "FFMA",
        {"R6"},
        {"R6", "R7", "R2"},
    )
    assert schedule.sources(ldg) == {"R8", "R9"}  # R8.64 is a register pair


@pytest.mark.parametrize("arch", ARCHS)
def test_decode_self_checks_on_real_sass(arch, cache_dir):
    """Reuse bits == '.reuse' operands; every waited scoreboard was set by an earlier instruction."""
    funcs = _sass(instructions.select(["ex2.approx.ftz.f32"])[0], arch)
    funcs.update(_sass(instructions.select(["fma.rn.f32"])[0], arch))
    for kernel in funcs.values():
        seen: set[int] = set()
        for ins in kernel:
            assert bin(ins.control.reuse).count("1") == sum(".reuse" in op for op in ins.operands), ins.text
            for b in range(6):
                if ins.control.waits_on(b):
                    assert b in seen, f"{ins.text} waits on SB{b} that nothing set"
            seen |= {b for b in (ins.control.write_barrier, ins.control.read_barrier) if b is not None}


def test_destination_forms():
    text = (
        HAND_CHECKED.split("/*0040*/")[0]
        + """
        /*0000*/                   SHFL.BFLY PT, R5, R0, 0x1, 0x1f ;           /* 0x0000000000000000 */
                                                                              /* 0x000e2200000e0000 */
        /*0010*/                   IADD3 R2, P0, R2, R4, RZ ;                  /* 0x0000000000000000 */
                                                                              /* 0x000fe20000000000 */
        /*0020*/                   FCHK P0, R2, R3 ;                           /* 0x0000000000000000 */
                                                                              /* 0x000fe20000000000 */
        /*0030*/                   REDUX.SUM UR6, R7 ;                         /* 0x0000000000000000 */
                                                                              /* 0x000fe20000000000 */
"""
    )
    shfl, iadd, fchk, redux = parse_cuobjdump(text)["k"]
    assert schedule.destinations(shfl) == {"R5"} and schedule.sources(shfl) == {"R0"}
    assert schedule.destinations(iadd) == {"R2", "P0"}
    assert schedule.destinations(fchk) == {"P0"} and schedule.sources(fchk) == {"R2", "R3"}
    assert schedule.destinations(redux) == {"UR6"}


# --- classification ------------------------------------------------------------------------------------------------


def test_ffma_chain_on_sm80_is_fixed_latency_4(atlas):
    row = _row(atlas, "fma.rn.f32", "sm_80")
    assert row["sass_opcodes"] == "FFMA"
    assert row["latency_class"] == "fixed"
    assert row["fixed_latency_cycles"] == 4 and row["latency_min"] == 4
    assert row["fixed_links"] >= instructions.CHAIN_LINKS - 2


def test_mufu_ex2_chain_on_sm90_is_variable(atlas):
    row = _row(atlas, "ex2.approx.ftz.f32", "sm_90")
    assert "MUFU.EX2" in row["sass_opcodes"].split()
    assert row["latency_class"] == "variable"
    assert row["scoreboard"].startswith("SB")
    assert pd.isna(row["fixed_latency_cycles"])
    assert "producer_stall" not in row.index  # described the test kernel, not the instruction: dropped


def test_interleaved_chain_is_measured_per_link(cache_dir):
    """An FFMA chain with an independent integer chain woven in: links are found through registers, so the
    latency stays 4 even where the FFMA's own stall is shorter because other work fills the gap."""
    spec = InstructionSpec(
        "interleaved",
        "test",
        "fma.rn.f32 {x0}, {x0}, {b}, {c}; mad.lo.s32 {x1}, {x1}, {c}, {e};",
        state=2,
        focus=("FFMA",),
    )
    sass = _sass(spec, "sm_80")
    low = schedule.lowering(sass["chain"], sass["baseline"], spec.chain_links)
    links = schedule.dependent_links(sass["chain"], set(low), spec.focus)
    assert links and all(not lk.variable for lk in links)
    assert any(lk.consumer - lk.producer > 1 for lk in links), "ptxas did not interleave: test is vacuous"
    assert any(lk.producer_stall < lk.cycles for lk in links)  # adjacency would read the short stall
    sched = schedule.read_schedule(sass["baseline"], sass["chain"], sass["indep"], spec.chain_links, spec.focus)
    assert sched.fixed_latency_cycles == 4 and sched.latency_class == "fixed"


# --- invariants over the whole table -------------------------------------------------------------------------------


def test_table_invariants(atlas):
    assert set(atlas["status"]) <= {"ok", "rejected"}
    assert len(atlas) == len(FEW) * len(ARCHS)
    assert (atlas["assembler"] == "ptxas").all() and atlas["assembler_version"].str.match(r"\d+\.\d+").all()
    ok, rej = atlas[atlas["status"] == "ok"], atlas[atlas["status"] == "rejected"]
    assert (rej["error"].str.len() > 0).all() and rej["sass_opcodes"].isna().all()
    assert (ok["sass_count"] > 0).all() and (ok["sass_opcodes"].str.len() > 0).all()
    assert set(ok["latency_class"]) <= {"fixed", "variable", "mixed", "unknown"}
    fixed = ok[ok["latency_class"].isin(["fixed", "mixed"])]
    assert fixed["fixed_latency_cycles"].notna().all()
    assert (
        (fixed["latency_min"] <= fixed["fixed_latency_cycles"])
        & (fixed["fixed_latency_cycles"] <= fixed["latency_max"])
    ).all()
    assert (fixed["latency_min"] >= 1).all()
    var = ok[ok["latency_class"] == "variable"]
    assert var["fixed_latency_cycles"].isna().all() and var["scoreboard"].str.startswith("SB").all()
    thr = ok.dropna(subset=["implied_throughput_per_sm_per_clk"])
    assert ((thr["implied_throughput_per_sm_per_clk"] * thr["issue_cycles_per_ptx"] - 128).abs() < 0.5).all()
    assert (thr["throughput_basis"].str.contains("implied by ptxas schedule")).all()
    assert set(ok["verdict"]) == {"undocumented"}  # no claims registry given: nothing invented


def test_known_cells(atlas):
    assert _row(atlas, "add.rn.bf16x2", "sm_80")["status"] == "rejected"
    assert "sm_90" in _row(atlas, "add.rn.bf16x2", "sm_80")["error"]
    assert _row(atlas, "add.rn.bf16x2", "sm_90")["status"] == "ok"
    assert _row(atlas, "ld.shared.u32", "sm_90")["latency_class"] == "variable"
    assert _row(atlas, "div.rn.f32", "sm_80")["emulated"]
    assert _row(atlas, "fma.rn.f64", "sm_90")["sass_opcodes"] == "DFMA"


def test_csv_written_and_readme_section(atlas, tmp_path):
    df = instruction_atlas.build(tmp_path, ARCHS, progress=False, instruction_names=FEW)
    path = tmp_path / instruction_atlas.CSV_NAME
    assert path.is_file() and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    back = pd.read_csv(path)
    assert list(back.columns) == instruction_atlas.COLUMNS and len(back) == len(df)
    for frame in (df, back):
        text = instruction_atlas.readme_section(frame)
        assert text.startswith("## Instruction schedule atlas")
        assert "| `fma.rn.f32` |" in text and "ptxas " in text
        assert "### Findings" in text and "add.rn.bf16x2" in text  # the rejection is a computed finding


def test_readme_collapses_identical_architectures(atlas):
    twin = atlas[atlas["arch"] == "sm_90"].assign(arch="sm_90a")
    text = instruction_atlas.readme_section(pd.concat([atlas, twin]))
    header = next(line for line in text.splitlines() if line.startswith("| instruction"))
    assert "sm_90–sm_90a" in header and header.count("|") == 4  # instruction, sm_80, sm_90–sm_90a


# --- bad input -----------------------------------------------------------------------------------------------------


@pytest.fixture
def existing_csv(tmp_path) -> Path:
    path = tmp_path / instruction_atlas.CSV_NAME
    path.write_text("instruction,arch\nkeep,me\n")
    return path


def _one_line(err: BaseException) -> str:
    msg = str(err)
    assert msg and "\n" not in msg
    return msg


@pytest.mark.parametrize(
    "arch, words",
    [("sm_99x", "unknown architecture"), ("sm_70", "not accepted by ptxas"), ("gfx90a", "unknown architecture")],
)
def test_unknown_arch(existing_csv, arch, words):
    with pytest.raises(ValueError) as err:
        instruction_atlas.build(existing_csv.parent, [arch], progress=False, instruction_names=["fma.rn.f32"])
    assert words in _one_line(err.value)
    assert existing_csv.read_text() == "instruction,arch\nkeep,me\n"


def test_unknown_instruction(existing_csv):
    with pytest.raises(ValueError) as err:
        instruction_atlas.build(existing_csv.parent, ["sm_80"], progress=False, instruction_names=["fma.rn.f33"])
    assert "unknown instruction 'fma.rn.f33'" in _one_line(err.value)
    assert existing_csv.read_text() == "instruction,arch\nkeep,me\n"


def test_ptx_that_does_not_assemble(cache_dir):
    bogus = InstructionSpec("bogus", "test", "bogus.op.f32 {x}, {x};")
    row = instructions.rows_for_arch([bogus], "sm_80")[0]
    assert row["status"] == "rejected" and "'.op'" in row["error"] and "\n" not in row["error"]
    with pytest.raises(toolchain.AssemblyError) as err:
        toolchain.assemble(instructions.kernels_for(0, bogus)["chain"].text, "sm_80")
    assert "ptxas rejected the PTX for sm_80" in _one_line(err.value)


@pytest.fixture
def no_disassembler(monkeypatch, tmp_path):
    toolchain.find_tool.cache_clear()
    monkeypatch.setenv("GPU_PROBES_CUOBJDUMP", str(tmp_path / "missing" / "cuobjdump"))
    yield
    monkeypatch.undo()
    toolchain.find_tool.cache_clear()


def test_missing_disassembler(existing_csv, no_disassembler, capsys):
    with pytest.raises(toolchain.ToolchainError) as err:
        instruction_atlas.build(existing_csv.parent, ["sm_80"], progress=False, instruction_names=["fma.rn.f32"])
    assert "GPU_PROBES_CUOBJDUMP" in _one_line(err.value)
    assert existing_csv.read_text() == "instruction,arch\nkeep,me\n"
    # the command line says it in one line and exits non-zero
    code = instruction_atlas.main(["--out", str(existing_csv.parent), "--arch", "sm_80", "--quiet"])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and lines[0].startswith("error: ")
    assert existing_csv.read_text() == "instruction,arch\nkeep,me\n"


def test_catalogue_coverage():
    names = instructions.instruction_names()
    assert len(names) >= 60
    groups = Counter(spec.group for spec in instructions.CATALOGUE)
    for g in (
        "fp32",
        "fp16",
        "bf16",
        "fp64",
        "int32",
        "int64",
        "bits",
        "cvt",
        "mufu",
        "ieee",
        "warp",
        "memory",
        "atomic",
        "mma",
    ):
        assert groups[g] > 0, g
    assert os.path.basename(instructions.__file__) == "instructions.py"
