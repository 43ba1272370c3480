"""The one instruction table: keys, its two views (static atlas entries, dynamic probe ops), and the claim that a new
instruction is one row of probes/static/instruction_table.py, seen by both generators."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from probes.static import instruction_table as T
from probes.static import instructions as S
from probes.static import variants as V


def test_every_row_is_keyed_by_a_variant_and_its_ops_carry_the_key():
    names = V.by_name()
    assert [r.key for r in T.TABLE if r.key not in names] == []
    assert len({r.key for r in T.TABLE}) == len(T.TABLE)
    for row in T.TABLE:
        assert all(op.variant == row.key for op in row.ops), row.key
    assert all(op.variant for op in T.OPS)


def test_both_catalogues_are_views_of_the_table():
    """The static atlas entries are the rows with a link, the probes' ops the rows' ops, both in table order; no
    second hand-kept list remains."""
    from probes.catalogue import instructions as I

    assert S.CATALOGUE == tuple(r.link for r in T.TABLE if r.link)
    assert len(S.CATALOGUE) == 107 and len(T.OPS) == 64
    assert list(I.selected_ops({"ops": ""}, (9, 0))) == [op for op in T.OPS if op.min_cc <= (9, 0)]
    # rows that feed both generators: the same key joins the atlas entry and the measured op
    both = {r.key for r in T.TABLE if r.link and r.ops}
    assert {"fma.rn.f32", "rcp.approx.ftz.f32", "cvt.rn.f16.f32", "shfl.sync.bfly.b32"} <= both
    assert not Path(T.__file__).with_name("_instruction_ops.py").exists()


def test_ops_whose_join_was_broken_now_name_a_variant():
    """The 21 ops that found no row of the old 107-name static join: atomics, reductions, bar.sync, mma, setp."""
    keys = {op.name: op.variant for op in T.OPS}
    assert keys["atom_global_cas_contended"] == "atom.global.cas" and keys["red_shared_add"] == "red.shared.add"
    assert keys["bar_sync"] == "bar.sync" and keys["mma_tf32"] == "mma.sync.m16n8k8.f32.tf32"
    assert keys["isetp_sel"] == "setp.lt.u32" and keys["iadd3"] == "add.u32"  # what the step runs, not add.s32


# A row added to a temporary copy of the table: a link, an op, and its own template (a variant the grammar lacks).
NEW_ROW = """
    Row("sub.rn.f32 (twice)",
        InstructionSpec("sub.rn.f32 (twice)", "fp32", "sub.rn.f32 {x}, {x}, {b}; sub.rn.f32 {x}, {x}, {c};"),
        (Op("fsub2", "fp32", "f32", "{ .reg .f32 t; sub.rn.f32 t, $1, $2; sub.rn.f32 $0, t, $3; }", "FADD",
            lambda x, b, c: np.float32(np.float32(x) - np.float32(b)) - np.float32(c), (1.0, 0.375, -0.25, 0.125),
            {"*": (("FADD",), 2.0)}),),
        template="{ sub.rn.f32 {d:b32}, {a:b32}, {b:b32}; sub.rn.f32 {d:b32}, {d:b32}, {c:b32}; }", group="fp"),
"""

PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("probes.static.instruction_table", sys.argv[1])
table = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = table
spec.loader.exec_module(table)
import probes.static
probes.static.instruction_table = table
from probes.catalogue import instructions as I
from probes.static import instructions as S, variants as V
spec_ = next(s for s in S.CATALOGUE if s.name == "sub.rn.f32 (twice)")
kernels = S.catalogue_kernels([spec_])
op = table.BY_NAME["fsub2"]
print(json.dumps({
    "atlas": [s.name for s in S.CATALOGUE],
    "kernel": kernels[(0, "chain")].text,
    "ops": list(I.latency_axes({"compute_capability": [9, 0]}, {"ops": ""})["op"]),
    "source": I.kernel_source(op, 1),
    "variant": op.variant,
    "template": V.by_name()["sub.rn.f32 (twice)"].template,
    "host": float(table.host_chain(op, 1, 3)),
}))
"""


def test_one_row_in_the_table_reaches_the_static_kernels_and_the_dynamic_ops(tmp_path):
    """README "Adding an instruction": the one file that changes is probes/static/instruction_table.py. A copy of it
    with one more row, loaded in a fresh process in place of the real one, is seen by the static atlas's kernel
    list, the dynamic probes' op axis and kernel source, and the variant table."""
    src = Path(T.__file__).read_text()
    end = "\n)  # end of TABLE\n"
    assert src.count(end) == 1
    copy = tmp_path / "instruction_table.py"
    copy.write_text(src.replace(end, "\n" + textwrap.indent(NEW_ROW.strip("\n"), "") + end))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    env.pop("NUMBA_ENABLE_CUDASIM", None)
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(copy)], capture_output=True, text=True, env=env, check=False, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["atlas"][-1] == "sub.rn.f32 (twice)" and len(got["atlas"]) == len(S.CATALOGUE) + 1
    assert got["kernel"].count("sub.rn.f32") == 2 * T.CHAIN_LINKS
    assert got["ops"][-1] == "fsub2" and "fsub2" not in T.BY_NAME
    assert "def k_fsub2_ilp1(" in got["source"] and got["variant"] == "sub.rn.f32 (twice)"
    assert got["template"].startswith("{ sub.rn.f32 {d:b32}")
    x = 1.0
    for b, c in ((0.375, -0.25), (-0.25, 0.125), (0.125, 0.375)):  # the rotation of (b, c), (c, d), (d, b)
        x = x - b - c
    assert got["host"] == x
