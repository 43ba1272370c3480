"""The static cache-hint atlas: a representative subset assembled for real; invariants, not the whole table."""

import pandas as pd
import pytest

from probes.static import cache_hint_findings as F
from probes.static import cache_hints as C
from probes.static import toolchain

SUBSET = [
    c
    for c in C.cases()
    if c.width in ("b32", "v8.b32", "-")
    and c.qualifier
    in (
        "plain",
        ".nc",
        ".cg",
        ".relaxed.gpu",
        ".L1::evict_normal",
        ".L2::256B",
        ".nc.L1::no_allocate.L2::256B (DeepEP)",
        ".L2::evict_last",
        ".acquire.gpu",
        "prefetch.global.L2",
        "discard.global.L2",
    )
]


@pytest.fixture(scope="module")
def table():
    rows = []
    for arch in ("sm_75", "sm_80", "sm_90", "sm_100"):
        rows += C.build_arch(arch, SUBSET)
    return pd.DataFrame(rows, columns=C.COLUMNS)


def cell(df, op, q, w, arch):
    r = df[(df.op == op) & (df.qualifier == q) & (df.width == w) & (df.arch == arch)]
    assert len(r) == 1
    return r.iloc[0]


def test_plain_and_nc_loads_differ_on_sm90(table):
    plain, nc = cell(table, "ld", "plain", "b32", "sm_90"), cell(table, "ld", ".nc", "b32", "sm_90")
    assert plain.status == nc.status == "ok"
    assert plain.sass != nc.sass and nc.sass.startswith("LDG")


def test_every_accepted_load_lowers_to_an_ldg(table):
    ok = table[(table.op == "ld") & (table.status == "ok")]
    assert len(ok) > 0 and ok.sass.str.contains("LDG").all()


def test_rejected_entries_carry_ptxas_text(table):
    rej = table[table.status == "rejected"]
    assert len(rej) > 0 and (rej.error.str.len() > 10).all() and (rej.sass == "").all()
    assert cell(table, "ld", ".L2::256B", "b32", "sm_75").status == "rejected"  # sm_80+ modifier
    assert cell(table, "ld", "plain", "v8.b32", "sm_90").status == "rejected"  # 256-bit loads: sm_100+
    assert cell(table, "ld", "plain", "v8.b32", "sm_100").status == "ok"


def test_findings_are_computed_from_the_table(table):
    drops = F.dropped(table)
    assert ("ld", ".L1::evict_normal") in drops  # identical to plain wherever accepted
    merges = F.merged(table)
    assert any({".cg", ".relaxed.gpu"} <= set(qs) for qs in merges.values())
    text = F.readme_section(table)
    assert "## Cache-hint atlas" in text and "sm_90" in text


def test_a_synthetic_table_drives_the_findings():
    """Findings follow the data: flip one cell and the 'dropped' finding appears or disappears."""
    rows = [
        dict(
            op="ld",
            qualifier=q,
            width="b32",
            ptx="",
            arch="sm_90",
            status="ok",
            sass=s,
            sass_text=s,
            error="",
            assembler="ptxas",
            assembler_version="x",
        )
        for q, s in (("plain", "LDG.E"), (".x", "LDG.E"), (".y", "LDG.E.Y"))
    ]
    df = pd.DataFrame(rows)
    assert F.dropped(df) == {("ld", ".x"): ["sm_90"]}
    df.loc[1, "sass"] = "LDG.E.X"
    assert F.dropped(df) == {}


def test_build_writes_csv_atomically_and_keeps_old_file_on_failure(tmp_path, monkeypatch):
    df = C.build(tmp_path, ["sm_90"], progress=False)
    csv = tmp_path / "cache-hints-sass.csv"
    assert list(pd.read_csv(csv).columns)[:6] == ["op", "qualifier", "width", "ptx", "arch", "status"]
    before = csv.read_bytes()
    monkeypatch.setenv("GPU_PROBES_CUOBJDUMP", str(tmp_path / "missing"))
    toolchain.find_tool.cache_clear()
    monkeypatch.setenv("GPU_PROBES_CACHE", str(tmp_path / "empty-cache"))
    try:
        with pytest.raises(toolchain.ToolchainError, match="does not exist"):
            C.build(tmp_path, ["sm_90"], progress=False)
    finally:
        toolchain.find_tool.cache_clear()
    assert csv.read_bytes() == before and len(df) > 0


def test_unknown_architecture_is_one_clear_error():
    with pytest.raises(ValueError, match="unknown architecture"):
        C.build_arch("sm_9x")
