"""instructions.* kernels: every op compiles for sm_80 and sm_90 to its target SASS, and the checks can fail.

tests/test_compile.py already runs check_sass on every kernel; here: each op is present once per module with its
opcode count, a genuinely folded chain and a racing stop clock are caught, host semantics are exact, and bad
parameters give one clear error.
"""

import re
from fractions import Fraction

import numpy as np
import pytest

from probes import catalogue
from probes.catalogue import instructions as I
from probes.kernel import chain_step
from probes.kernel.compile import ptx_to_sass
from probes.spec import ProbeSpecError
from probes.static import instruction_table as O


@pytest.fixture(scope="module", params=[(8, 0), (9, 0)], ids=["sm_80", "sm_90"])
def latency_module(request):
    cc = request.param
    ((name, ptx),) = I.latency_kernels(cc)
    return cc, name, ptx_to_sass(ptx, f"sm_{cc[0]}{cc[1]}")


def test_every_op_compiles_once_with_its_target_opcode_at_the_expected_count(latency_module):
    cc, name, funcs = latency_module
    arch = f"sm_{cc[0]}{cc[1]}"
    seen = {}
    for insts in funcs.values():
        op = I._op_of(insts)
        assert op is not None, "a function without an op tag"
        seen[op.name] = seen.get(op.name, 0) + 1
        bases, per_step = op.expected(arch)
        per_step = per_step if isinstance(per_step, tuple) else (per_step,)
        counts = [sum(1 for i in insts[a : b + 1] if i.base in bases) for a, b in I.timed_loops(insts)]
        assert len(counts) == 2
        assert any(all(0 <= c - I.UNROLL[1] * p <= I.LOOP_SLACK for c in counts) for p in per_step), (op.name, counts)
        assert I.check_sass(name, insts) == [], op.name
    assert seen == {op.name: 1 for op in O.OPS if cc >= op.min_cc and op.chain}
    assert {"ffma", "imad", "dfma"} <= set(seen)  # the GPU self-test relies on these
    assert {"atom_shared_add_contended", "atom_global_cas", "bar_sync", "fdiv_rn", "mma_f16"} <= set(seen)
    assert not any(name.startswith("red_") for name in seen)  # a reduction returns nothing: no latency kernel


def test_check_sass_catches_a_folded_chain():
    """Replace the volatile step by plain arithmetic NVVM can fold ((x ^ b) ^ b == x): the loops lose every op."""
    op = O.BY_NAME["lop3"]
    src = re.sub(
        r"STEP\((x\d+), (\w), (\w)\)", r"((\1 & \2) ^ \3) ^ \3 | (\1 & \2) ^ (\1 & \2) ^ \1", I.kernel_source(op, 1)
    )
    assert "STEP(" not in src
    from numba import cuda

    from probes.kernel.compile import kernel_ptx

    scope = {"cuda": cuda, "clock64": chain_step.clock64, "smid": chain_step.smid, "uint32": np.uint32}
    exec(compile(src, "<folded>", "exec"), scope)
    ptx = kernel_ptx(scope["k_lop3_ilp1"], I.signature(op), (9, 0))
    (insts,) = ptx_to_sass(ptx, "sm_90").values()
    problems = I.check_sass("instructions.sm_90.ilp1", insts)
    assert any("folded" in p for p in problems), problems


def test_check_sass_catches_a_stop_clock_that_does_not_wait(latency_module):
    cc, name, funcs = latency_module
    insts = next(i for i in funcs.values() if I._op_of(i).name == "ffma")
    assert I.check_sass(name, insts) == []
    raced = [i for i in insts if not i.base.endswith("SETP")]
    assert any("does not wait" in p for p in I.check_sass(name, raced))
    assert I.check_sass(name, [i for i in insts if i.base != "FFMA"]) != []
    assert "no op tag" in I.check_sass(name, [])[0]


def test_round_exact_is_single_rounding_ties_to_even():
    one = np.float32(1.0)
    ulp = Fraction(2) ** -23
    assert O.round_exact(Fraction(1) + ulp / 2, np.float32) == one  # tie -> even (1.0)
    assert O.round_exact(Fraction(1) + 3 * ulp / 2, np.float32) == np.float32(1 + 2 * 2.0**-23)  # tie -> even
    assert O.round_exact(Fraction(1) + ulp / 2 + Fraction(2) ** -60, np.float32) == np.nextafter(one, np.float32(2))
    # fma rounds once: a*b+c where the separate product would round away the answer
    a = np.float32(1 + 2.0**-12)
    fused = O.BY_NAME["ffma"].host(a, a, np.float32(-(1 + 2.0**-11)))
    assert fused == np.float32(2.0**-24)
    assert np.float32(a * a) + np.float32(-(1 + 2.0**-11)) == np.float32(0.0)


def test_bf16_rounding_keeps_8_significant_bits_ties_to_even():
    assert O.round_bf16(Fraction(1) + Fraction(1, 256)) == np.float32(1.0)  # tie -> even
    assert O.round_bf16(Fraction(1) + Fraction(3, 256)) == np.float32(1 + 2 / 128)  # tie -> even (up)
    assert O.round_bf16(Fraction(-3, 1000)) == np.float32(-0.0030059814453125)
    assert list(O.bf16_halves(O.bf2(1.0, -2.5))) == [1.0, -2.5]


def test_host_semantics_of_integer_and_packed_ops():
    assert O.BY_NAME["iadd3"].host(np.uint32(0xFFFFFFFF), np.uint32(2), np.uint32(0)) == 1
    assert O.BY_NAME["imul_hi"].host(np.uint32(0x80000000), np.uint32(4), np.uint32(0)) == 2
    assert (
        O.BY_NAME["prmt"].host(np.uint32(0x33221100), np.uint32(0x77665544), np.uint32(0x0415)) == 0x00441155
    )  # bytes 5, 1, 4, 0 of b:a
    assert O.BY_NAME["flo"].host(np.uint32(1), np.uint32(0), np.uint32(0)) == 31
    h = O.BY_NAME["hadd2"].host(np.uint32(O.h2(1.0, 2.0)), np.uint32(O.h2(0.5, -4.0)), np.uint32(0))
    assert list(O.halves(h)) == [1.5, -2.0]


def test_mufu_chains_converge_to_their_fixed_points():
    """The MUFU chains contract, so an approximate hardware op still ends within rtol of the host value."""
    golden = (1 + 5**0.5) / 2
    assert float(O.host_chain(O.BY_NAME["rcp"], 3, 16)) == pytest.approx(golden, rel=1e-6)
    assert float(O.host_chain(O.BY_NAME["lg2"], 3, 16)) == pytest.approx(4.0, rel=1e-6)
    assert float(O.host_chain(O.BY_NAME["cos"], 3, 16)) == pytest.approx(0.7390851, rel=1e-5)


def test_parameters_fail_with_one_line():
    lat = catalogue.get("instructions.latency")
    with pytest.raises(ProbeSpecError, match="unknown op 'fma'"):
        lat.parse_params(["ops=ffma,fma"])
    thr = catalogue.get("instructions.throughput")
    with pytest.raises(ProbeSpecError, match="ilp 3 has no kernel"):
        thr.parse_params(["ilp=1,3"])
    assert lat.parse_params(["ops=ffma"])["ops"] == "ffma"


def test_axes_derive_from_the_device():
    thr = catalogue.get("instructions.throughput")
    params = thr.parse_params(["ops=ffma,dfma"])
    a100 = thr.axes({"compute_capability": [8, 0], "sm_count": 108}, params)
    ada = thr.axes({"compute_capability": [8, 9], "sm_count": 128}, params)
    assert a100["op"] == ("ffma", "dfma") and max(a100["warps_per_sm"]) == 64 and max(ada["warps_per_sm"]) == 48
    lat = catalogue.get("instructions.latency")
    assert len(lat.axes({"compute_capability": [9, 0]}, lat.parse_params([]))["op"]) == len(
        [op for op in O.OPS if op.chain]
    )
    sm80 = thr.axes({"compute_capability": [8, 0]}, thr.parse_params([]))["op"]
    assert "red_global_add_contended" in sm80 and "hadd2_bf16" not in sm80  # add.rn.bf16x2 needs sm_90
    with pytest.raises(ProbeSpecError, match="reductions return nothing"):
        lat.axes({"compute_capability": [9, 0]}, lat.parse_params(["ops=red_shared_add"]))


# --- the ops of issue 16's second round: memory, barrier, sequences, tensor cores, emulated bit fields -------------


def test_memory_kernels_get_a_word_per_chain_and_contended_ones_share_it_per_warp():
    shared = I.kernel_source(O.BY_NAME["atom_shared_add"], 4)
    assert ", mem):" in shared and "cuda.shared.array(4096, uint32)" in shared and "ADDRESS(words, w3)" in shared
    assert "lane = cuda.threadIdx.x\n" in shared and "mem[cuda.blockIdx.x * lanes * 4 + w3] = words[w3]" in shared
    contended = I.kernel_source(O.BY_NAME["atom_global_min_contended"], 1)
    assert "lane = tid // 32" in contended and "ADDRESS(mem, w0)" in contended
    assert ", mem)" not in I.kernel_source(O.BY_NAME["ffma"], 1)  # register ops keep their signature
    assert len(I.signature(O.BY_NAME["red_global_add"])) == len(I.signature(O.BY_NAME["ffma"])) + 1


@pytest.mark.parametrize("name", [op.name for op in O.OPS if op.memory and op.contended])
def test_contended_memory_ops_give_the_same_results_in_any_lane_order(name):
    """The design claim the GPU check relies on: 32 lanes on one word, in any order, return the same value each
    step and leave the word where the host model (lane 0 first) says. A racy op (e.g. CAS swapping in b) fails."""
    op = O.BY_NAME[name]
    rng = np.random.default_rng(16)
    _, b, c, d = (int(v) for v in O.operand_values(op))
    x, word = [int(O.operand_values(op)[0])] * 32, op.mem_init
    for k in range(48):
        ops = (None, None, b, c, d)
        i, j = O.ROTATION[k % 3]
        returned = [0] * 32
        for lane in rng.permutation(32):
            word, returned[lane] = op.memop(word, x[lane], ops[i], ops[j])
            word &= O.M32
        assert len(set(returned)) == 1, (name, k, set(returned))
        x = returned
    want_x, want_word = O.host_final(op, 1, 48, sharers=32)
    assert x[0] == want_x and word == want_word
    racy = O.Op(
        "racy",
        "atomic",
        "u32",
        "",
        "",
        None,
        (1, 3, 5, 7),
        memop=lambda w, x, b, c: (b if w == x else w, w),
        mem_init=1,
    )
    word, seen = 1, set()
    for _lane in range(32):
        word, got = racy.memop(word, 1, 3, 5)
        seen.add(got)
    assert len(seen) > 1  # the property above is not vacuous


def test_memory_op_host_model():
    red = O.BY_NAME["red_shared_add_contended"]
    x, word = O.host_final(red, 2, 16, sharers=32)
    assert x == 1 and word == 32 * 2 * (6 * 3 + 5 * 5 + 5 * 7)  # 16 steps rotate b,c,d: 6x b, 5x c, 5x d
    cas = O.BY_NAME["atom_global_cas"]
    assert O.host_final(cas, 1, 3) == (O.ATOM_WORD, O.ATOM_WORD)  # fails once (x=1), then swaps the word for itself
    mn = O.BY_NAME["atom_shared_min"]
    assert O.host_final(mn, 1, 2) == (O.ATOM_WORD, O.ATOM_WORD)


def test_host_semantics_of_sequences_and_emulated_ops():
    assert O.bfe_u32(0x12345678, 4, 12) == 0x567
    assert O.bfe_u32(0x12345678, 40, 4) == 0 and O.bfe_u32(0x80000000, 28, 8) == 0x8  # past bit 31: zeros
    assert O.bfi_b32(0b10101, 0xFFFFFFFF, 3, 5) == 0xFFFFFFFF & ~(0b01010 << 3)
    assert O.bfi_b32(0xFF, 0, 30, 5) == 0xC0000000  # bits past 31 dropped
    sel = O.BY_NAME["isetp_sel"].host
    assert sel(np.uint32(4), np.uint32(5), np.uint32(9)) == 5 and sel(np.uint32(6), np.uint32(5), np.uint32(9)) == 9
    assert O.BY_NAME["imul"].host(np.uint32(0x10000), np.uint32(3), np.uint32(0)) == 0  # x*x mod 2^32
    one = np.float32(1.0)
    assert O.BY_NAME["mma_f16"].host(one, None, None) == np.float32(3.5)  # 1 + 8 * (0.5*0.125 + 0.25*1.0)
    assert O.BY_NAME["mma_bf16"].host(one, None, None) == np.float32(3.5)
    assert O.BY_NAME["mma_tf32"].host(one, None, None) == np.float32(1.5)  # 1 + 8 * 0.5 * 0.125
    assert O.BY_NAME["fdiv_rn"].host(np.float32(1.0), np.float32(3.0), None) == np.float32(1) / np.float32(3)
    h = O.BY_NAME["hadd2_bf16"].host(np.uint32(O.bf2(1.0, 2.0)), np.uint32(O.bf2(1 / 256, -0.5)), None)
    assert list(O.bf16_halves(h)) == [1.0, 1.5]  # 1 + 2^-8 ties to even: 1.0


def test_mma_reports_flop_and_its_ptx_names_the_shape():
    f16, tf32 = O.BY_NAME["mma_f16"], O.BY_NAME["mma_tf32"]
    assert "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32" in f16.ptx and f16.results == 128  # 4096 FLOP/warp
    assert "m16n8k8.row.col.f32.tf32.tf32.f32" in tf32.ptx and tf32.results == 64


def test_check_sass_of_a_reduction_does_not_ask_the_clock_to_wait_but_an_atomic_does(latency_module):
    cc, name, funcs = latency_module
    atom = next(i for i in funcs.values() if I._op_of(i).name == "atom_shared_add")
    assert any("does not wait" in p for p in I.check_sass(name, [i for i in atom if not i.base.endswith("SETP")]))
    assert any("folded" in p for p in I.check_sass(name, [i for i in atom if i.base != "ATOMS"]))
    arch = f"sm_{cc[0]}{cc[1]}"
    (red,) = ptx_to_sass(I._ptx("red_global_add", 1, cc), arch).values()
    assert I.check_sass(f"instructions.{arch}.ilp1", red) == []
    assert I.check_sass(f"instructions.{arch}.ilp1", [i for i in red if not i.base.endswith("SETP")]) == []
    assert I.check_sass(f"instructions.{arch}.ilp1", [i for i in red if i.base not in ("RED", "REDG")]) != []


def test_missing_lists_only_what_is_not_covered():
    covered = ("HADD2 bf16x2", "IMUL", "ISETP", "BFE", "shared/global atomics", "BAR.SYNC", "div/sqrt", "mma.sync /")
    assert not [m for m in O.MISSING for word in covered if word in m]
    assert {"bar_sync", "fdiv_rn", "fsqrt_rn", "imul", "isetp_sel", "bfe", "bfi", "hadd2_bf16", "mma_f16"} <= set(
        O.BY_NAME
    )


def test_merged_modules_keep_each_kernels_shared_array_apart():
    """Numba names shared arrays per module: merged as-is, two sizes of `_cudapy_smem_1` would not assemble."""
    mod = (
        ".version 9.5\n.target sm_90\n.address_size 64\n.shared .align 4 .b8 _cudapy_smem_1[{n}];\n"
        "mov.u64 %rd1, _cudapy_smem_1;\n"
    )
    merged = I.merge_ptx([mod.format(n=4096), mod.format(n=16384)])
    assert "_cudapy_smem_1_m0[4096]" in merged and "_cudapy_smem_1_m1[16384]" in merged
    assert "_cudapy_smem_1_m1;" in merged and merged.count(".version") == 1
