"""Memory descriptors: the L2 cache policy of `.L2::cache_hint` is in desc[URx], not in the opcode."""

from __future__ import annotations

import pandas as pd
import pytest

from probes.static import cache_hint_findings as F
from probes.static import cache_hints as C
from probes.static import descriptors
from probes.static.sass import parse_cuobjdump

SM90 = """
\tcode for sm_90
\t\tFunction : k
        /*0000*/                   UMOV UR4, 0xf0 ;                            /* 0x0000000000000000 */
                                                                              /* 0x000fe20000000000 */
        /*0010*/                   USHF.R.U32 UR4, UR4, 0x4, URZ ;             /* 0x0000000000000000 */
                                                                              /* 0x000fe20000000000 */
        /*0020*/                   UMOV UR5, 0x140 ;                           /* 0x0000000000000000 */
                                                                              /* 0x000fe20000000000 */
        /*0030*/                   ULOP3.LUT UR5, UR5, 0xf, UR4, 0xf8, !UPT ;  /* 0x0000000000000000 */
                                                                              /* 0x000fe20000000000 */
        /*0040*/                   USHF.L.U32 UR5, UR5, 0x14, URZ ;            /* 0x0000000000000000 */
                                                                              /* 0x000fe20000000000 */
        /*0050*/                   UMOV UR4, URZ ;                             /* 0x0000000000000000 */
                                                                              /* 0x000fe20000000000 */
        /*0060*/                   LDG.E R3, desc[UR4][R2.64] ;                /* 0x0000000000000000 */
                                                                              /* 0x000fe20000000000 */
        /*0070*/                   ULDC.64 UR4, c[0x0][0x208] ;                /* 0x0000000000000000 */
                                                                              /* 0x000fe20000000000 */
        /*0080*/                   STG.E desc[UR4][R4.64], R3 ;                /* 0x0000000000000000 */
                                                                              /* 0x000fe20000000000 */
"""


def test_uniform_arithmetic_is_evaluated_into_the_policy_word():
    k = parse_cuobjdump(SM90)["k"]
    d = descriptors.access_descriptor(k, 6)
    assert d.kind == "constant" and d.word == 0x14F0000000000000
    assert d.writers == frozenset(range(6))  # every uniform instruction that built it
    assert descriptors.access_descriptor(k, 8).kind == "default"  # from the constant bank
    assert descriptors.operand_shape(k[6]) == "R, desc[UR][R.64]"


def _rows(qual_sass):
    return pd.DataFrame(
        [
            dict(
                op="ld",
                qualifier=q,
                width="b32",
                ptx="",
                arch="sm_80",
                status="ok",
                sass=s,
                sass_text=s,
                error="",
                assembler="ptxas",
                assembler_version="x",
                operands=o,
                descriptor=d,
            )
            for q, s, o, d in qual_sass
        ]
    )


def test_same_opcode_other_descriptor_is_not_dropped():
    df = _rows(
        [
            ("plain", "LDG.E", "R, [R.64]", "none"),
            (".L2::cache_hint (evict_last policy)", "LDG.E", "R, desc[UR][R.64]", "0x14f0000000000000"),
            (".x", "LDG.E", "R, [R.64]", "none"),
        ]
    )
    assert F.dropped(df) == {("ld", ".x"): ["sm_80"]}


def test_policy_fields_from_pairs_that_differ_in_one_field():
    words = {
        ".L2::cache_hint (evict_last policy)": 0x14F0000000000000,
        ".L2::cache_hint (evict_first policy)": 0x12F0000000000000,
        ".L2::cache_hint (evict_normal policy)": 0x16F0000000000000,
        ".L2::cache_hint (evict_unchanged policy)": 0x10F0000000000000,
        ".L2::cache_hint (evict_last 0.5 policy)": 0x1470000000000000,
    }
    df = _rows([(q, "LDG.E", "R, desc[UR][R.64]", f"0x{w:016x}") for q, w in words.items()])
    fields = {f["field"]: f for f in F.policy_fields(df)}
    assert fields["primary"]["bits"] == (57, 58)
    assert fields["primary"]["values"] == {"evict_unchanged": 0, "evict_first": 1, "evict_last": 2, "evict_normal": 3}
    assert fields["fraction"]["bits"] == (55, 55)  # only what the 1.0 / 0.5 pair shows
    assert "secondary" not in fields  # no pair differs in it: nothing claimed


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_real_cache_hint_cells_keep_their_descriptor(arch):
    sel = [
        c
        for c in C.cases()
        if c.width == "b32"
        and c.op == "ld"
        and c.qualifier in ("plain", ".L2::cache_hint (evict_last policy)", ".L2::cache_hint (evict_first policy)")
    ]
    df = pd.DataFrame(C.build_arch(arch, sel), columns=C.COLUMNS)
    assert ("ld", ".L2::cache_hint (evict_last policy)") not in F.dropped(df)
    hinted = df[df.qualifier == ".L2::cache_hint (evict_last policy)"].iloc[0]
    assert hinted.descriptor == "0x14f0000000000000" and "UMOV" in hinted.sass


def test_line_operation_equivalences():
    df = pd.DataFrame(
        [
            dict(
                op="line",
                qualifier=q,
                width="-",
                ptx="",
                arch="sm_90",
                status="ok",
                sass=s,
                sass_text=s,
                error="",
                assembler="ptxas",
                assembler_version="x",
                operands="[R.64]",
                descriptor="none",
            )
            for q, s in (
                ("prefetch.global.L1", "CCTL.E.PF1"),
                ("prefetchu.L1", "CCTL.E.PF1"),
                ("prefetch.global.L2", "CCTL.E.PF2"),
                ("prefetch.global.L2::evict_normal", "CCTL.E.PF2"),
            )
        ]
    )
    eq = F.line_equivalences(df)
    assert set(map(frozenset, eq.values())) == {
        frozenset({"prefetch.global.L1", "prefetchu.L1"}),
        frozenset({"prefetch.global.L2", "prefetch.global.L2::evict_normal"}),
    }
