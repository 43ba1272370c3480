"""Toolchain wrapper and SASS parsing: assembly, batching with rejections, control-bit decoding."""

import pytest

from probes.static import sass, toolchain

KERNEL = """.visible .entry {name}(.param .u64 p)
{{
  .reg .b64 %rd<3>; .reg .b32 %r<3>;
  ld.param.u64 %rd1, [p]; cvta.to.global.u64 %rd1, %rd1;
  {load}
  st.global.b32 [%rd1+4], %r1;
  ret;
}}
"""


def kernel(name, load="ld.global.b32 %r1, [%rd1];"):
    return toolchain.PtxKernel(name, KERNEL.format(name=name, load=load))


def test_assemble_many_drops_only_the_bad_kernel(cache_dir):
    cubin, rejected = toolchain.assemble_many(
        [kernel("good"), kernel("bad", "ld.global.bogus.b32 %r1, [%rd1];"), kernel("good2")], "sm_90"
    )
    assert set(rejected) == {"bad"} and "bogus" in rejected["bad"]
    funcs = sass.parse_cuobjdump(toolchain.cuobjdump_sass(cubin))
    assert set(funcs) == {"good", "good2"}


def test_ptx_that_does_not_assemble_raises_with_ptxas_text(cache_dir):
    with pytest.raises(toolchain.AssemblyError, match="ptxas rejected the PTX for sm_90"):
        toolchain.assemble(".version 9.0\n.target sm_90\nthis is not ptx\n", "sm_90")


def test_supported_archs_include_the_targets_we_publish():
    archs = toolchain.supported_archs()
    assert {"sm_80", "sm_90", "sm_90a"} <= set(archs)
    assert "sm_70" not in archs or toolchain.tool_version("ptxas").startswith("12")


def test_control_bits_decode_a_hand_checked_encoding():
    # High word 0x001ea4000c1e9d00: bits 105-127 -> ctrl 0xf52 = 0b0_0000_000001_111_010_1_0010, decoded by hand:
    # stall 2, yield bit 1 (no yield hint), write scoreboard 2, read scoreboard 7 (none), waits on SB0, no reuse.
    c = sass.Control.decode(0x001EA4000C1E9D00)
    assert (c.stall, c.yield_hint, c.write_barrier, c.read_barrier, c.wait_mask, c.reuse) == (2, False, 2, None, 1, 0)
    assert c.waits_on(0) and not c.waits_on(2)
    with pytest.raises(sass.SassFormatError):
        sass.Control.decode(1 << 63)  # bits 126-127 must be zero on Volta+


def test_reuse_bits_match_printed_reuse_operands(cache_dir):
    ptx = (
        ".version 9.0\n.target sm_90\n.address_size 64\n.visible .entry f(.param .u64 p)\n{\n"
        " .reg .b64 %rd<3>; .reg .f32 %f<9>;\n ld.param.u64 %rd1, [p]; cvta.to.global.u64 %rd1, %rd1;\n"
        " ld.global.v4.f32 {%f1,%f2,%f3,%f4}, [%rd1];\n fma.rn.f32 %f5, %f1, %f2, %f3;\n"
        " fma.rn.f32 %f6, %f1, %f2, %f4;\n fma.rn.f32 %f7, %f1, %f5, %f6;\n st.global.f32 [%rd1], %f7;\n ret;\n}\n"
    )
    insts = sass.parse_cuobjdump(toolchain.cuobjdump_sass(toolchain.assemble(ptx, "sm_90")))["f"]
    for i in insts:
        assert bin(i.control.reuse).count("1") == sum(".reuse" in op for op in i.operands), i.text
    for n, i in enumerate(insts):  # every wait-mask bit is set earlier by some producer
        for b in range(6):
            if i.control.waits_on(b):
                assert any(b in (p.control.write_barrier, p.control.read_barrier) for p in insts[:n]), i.text


def test_pre_volta_sass_is_refused():
    with pytest.raises(sass.SassFormatError, match="pre-Volta"):
        sass.parse_cuobjdump("\tcode for sm_61\n\t\tFunction : f\n")


def test_two_processes_wanting_one_cache_entry_produce_it_once(cache_dir, tmp_path):
    """pytest-xdist workers compile the same kernels: the second waits for the first's entry instead of redoing it."""
    import subprocess
    import sys

    log = tmp_path / "produced"
    code = (
        "import sys, time; from probes.static import toolchain\n"
        "def produce():\n"
        f"    open({str(log)!r}, 'a').write('x')\n"
        "    time.sleep(1.5)\n"
        "    return b'entry'\n"
        "sys.stdout.write(toolchain.cached('test', ('one key',), produce, '.bin').decode())\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    assert [p.communicate(timeout=120)[0] for p in procs] == ["entry", "entry"]
    assert log.read_text() == "x", "produced twice"
    assert [p.name for p in (cache_dir / "test").iterdir()] == [next((cache_dir / "test").glob("*.bin")).name], (
        "only the entry is left: no lock or temporary file"
    )
