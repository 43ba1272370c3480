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
from probes.catalogue import _instruction_ops as O
from probes.catalogue import instructions as I
from probes.engine.compile import ptx_to_sass
from probes.spec import ProbeSpecError


@pytest.fixture(scope="module", params=[(8, 0), (9, 0)], ids=["sm_80", "sm_90"])
def latency_module(request):
    cc = request.param
    (name, ptx), = I.latency_kernels(cc)
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
        counts = [sum(1 for i in insts[a:b + 1] if i.base in bases) for a, b in I.timed_loops(insts)]
        assert len(counts) == 2
        assert any(all(0 <= c - I.UNROLL[1] * p <= I.LOOP_SLACK for c in counts) for p in per_step), (op.name, counts)
        assert I.check_sass(name, insts) == [], op.name
    assert seen == {op.name: 1 for op in O.OPS if cc >= op.min_cc}
    assert {"ffma", "imad", "dfma"} <= set(seen)        # the GPU self-test relies on these


def test_check_sass_catches_a_folded_chain():
    """Replace the volatile step by plain arithmetic NVVM can fold ((x ^ b) ^ b == x): the loops lose every op."""
    op = O.BY_NAME["lop3"]
    src = re.sub(r"STEP\((x\d+), (\w), (\w)\)", r"((\1 & \2) ^ \3) ^ \3 | (\1 & \2) ^ (\1 & \2) ^ \1",
                 I.kernel_source(op, 1))
    assert "STEP(" not in src
    from numba import cuda

    from probes.engine.compile import kernel_ptx
    scope = {"cuda": cuda, "clock64": O.clock64, "smid": O.smid}
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
    assert O.round_exact(Fraction(1) + ulp / 2, np.float32) == one                       # tie -> even (1.0)
    assert O.round_exact(Fraction(1) + 3 * ulp / 2, np.float32) == np.float32(1 + 2 * 2.0 ** -23)  # tie -> even
    assert O.round_exact(Fraction(1) + ulp / 2 + Fraction(2) ** -60, np.float32) == np.nextafter(one, np.float32(2))
    # fma rounds once: a*b+c where the separate product would round away the answer
    a = np.float32(1 + 2.0 ** -12)
    fused = O.BY_NAME["ffma"].host(a, a, np.float32(-(1 + 2.0 ** -11)))
    assert fused == np.float32(2.0 ** -24)
    assert np.float32(a * a) + np.float32(-(1 + 2.0 ** -11)) == np.float32(0.0)


def test_bf16_rounding_keeps_8_significant_bits_ties_to_even():
    assert O.round_bf16(Fraction(1) + Fraction(1, 256)) == np.float32(1.0)                 # tie -> even
    assert O.round_bf16(Fraction(1) + Fraction(3, 256)) == np.float32(1 + 2 / 128)         # tie -> even (up)
    assert O.round_bf16(Fraction(-3, 1000)) == np.float32(-0.0030059814453125)
    assert list(O._bf16_halves(O._bf2(1.0, -2.5))) == [1.0, -2.5]


def test_host_semantics_of_integer_and_packed_ops():
    assert O.BY_NAME["iadd3"].host(np.uint32(0xFFFFFFFF), np.uint32(2), np.uint32(0)) == 1
    assert O.BY_NAME["imul_hi"].host(np.uint32(0x80000000), np.uint32(4), np.uint32(0)) == 2
    assert O.BY_NAME["prmt"].host(np.uint32(0x33221100), np.uint32(0x77665544), np.uint32(0x0415)) == 0x00441155   # bytes 5, 1, 4, 0 of b:a
    assert O.BY_NAME["flo"].host(np.uint32(1), np.uint32(0), np.uint32(0)) == 31
    h = O.BY_NAME["hadd2"].host(np.uint32(O._h2(1.0, 2.0)), np.uint32(O._h2(0.5, -4.0)), np.uint32(0))
    assert list(O._halves(h)) == [1.5, -2.0]


def test_mufu_chains_converge_to_their_fixed_points():
    """The MUFU chains contract, so an approximate hardware op still ends within rtol of the host value."""
    golden = (1 + 5 ** 0.5) / 2
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
    assert len(lat.axes({"compute_capability": [9, 0]}, lat.parse_params([]))["op"]) == len(O.OPS)
