"""Cache-hint probes without a GPU: hint axis vs the static atlas, SASS modifiers per arch, parameter errors,
the PTX merge, the staleness counting rule and the split between kernels and host side (tests/test_compile.py
already runs every check_sass)."""
import numpy as np
import pytest

from probes import catalogue
from probes.analysis.hints import static_lowering
from probes.catalogue import _hint_kernels as K
from probes.catalogue import _hint_ops as H
from probes.catalogue import cache_hints as C
from probes.engine.compile import kernel_ptx, ptx_to_sass
from probes.spec import ProbeSpecError

ARCHS = {(8, 0): "sm_80", (9, 0): "sm_90"}


def test_hint_axis_is_what_ptxas_accepts_per_the_atlas():
    for arch in ARCHS.values():
        for hint in H.LOAD_HINTS:
            for width in ("b32", "b64", "v4.b32"):
                assert H.lowering("ld", hint, width, arch)[0] == "ok", (hint, width, arch)
        for hint in H.STORE_HINTS:
            assert H.lowering("st", hint, "b64", arch)[0] == "ok", (hint, arch)
    # The qualifiers left out of the axis are left out because ptxas rejects them for these widths.
    df = H.atlas()
    for q in (".L2::evict_first", ".L2::evict_last", ".L2::evict_normal"):
        rows = df[(df.op == "ld") & (df.qualifier == q) & (df.width.isin(["b32", "b64"]))
                  & (df.arch.isin(list(ARCHS.values())))]
        assert len(rows) and set(rows.status) == {"rejected"}


def test_hint_axis_drops_hints_the_atlas_rejects_on_the_device_arch():
    df = H.atlas()
    rejected = set(df[(df.op == "ld") & (df.width == "b64") & (df.arch == "sm_75") & (df.status == "rejected")]
                   .qualifier)
    axis = C.selected_hints("residency", {"hints": "all"}, {"compute_capability": [7, 5]})
    assert axis and all(H.LOAD_HINTS[h] not in rejected for h in axis)
    assert set(axis) == {h for h, q in H.LOAD_HINTS.items() if q not in rejected}


@pytest.fixture(scope="module")
def residency_sass():
    out = {}
    for cc, arch in ARCHS.items():
        out[arch] = ptx_to_sass(K.module_ptx("residency", cc), arch)
    return out


@pytest.mark.parametrize("arch", ARCHS.values())
def test_every_hint_kernel_carries_the_atlas_modifier(residency_sass, arch):
    funcs = residency_sass[arch]
    seen = {}
    for insts in funcs.values():
        hint = K._hints_for("residency")[K._marker_of(insts)]
        main, extras = K.expected_sass("residency", hint, arch)
        opcodes = {i.opcode for i in insts}
        assert main in opcodes and set(extras) <= opcodes, (hint, main, extras)
        seen[hint] = (main, *extras)
    assert set(seen) == set(H.LOAD_HINTS)
    # Where the atlas says the hint is kept, the hinted load differs from the plain one.
    for hint, main in seen.items():
        _, dropped = static_lowering(hint, arch)
        assert (main == seen["none"]) == bool(dropped or hint == "none"), hint
    assert seen["nc.L1::no_allocate"] == ("LDG.E.NA.64.CONSTANT",)
    assert seen["nc.L1::no_allocate.L2::256B"] == ({"sm_80": "LDG.E.NA.LTC128B.64.CONSTANT",
                                                    "sm_90": "LDG.E.NA.LTC256B.64.CONSTANT"}[arch],)


def test_check_sass_rejects_a_plain_load_in_place_of_a_hinted_one():
    from numba import types

    from probes.engine import intrinsics as X
    fake = K.residency_kernel("nc.L1::no_allocate", step=X.ld_u64_addr)   # nc's marker, plain loads
    sig = (types.uint64[::1], types.uint64[::1], types.int64, types.uint64[::1])
    (insts,) = ptx_to_sass(kernel_ptx(fake, sig, (9, 0)), "sm_90").values()
    problems = K.check_sass("residency@sm_90", insts)
    assert problems and "LDG.E.NA.64.CONSTANT" in problems[0]


def test_check_sass_needs_the_marker_and_a_load():
    assert "marker" in K.check_sass("residency@sm_90", [])[0]
    assert K.check_sass("helpers@sm_90", []) != []


def test_merge_keeps_one_copy_of_shared_declarations():
    a = ".version 9.5\n.target sm_90\n.address_size 64\n\n.global .u64 env;\n\n.visible .entry a()\n{\n ret;\n}\n"
    b = ".version 9.5\n.target sm_90\n.address_size 64\n\n.global .u64 env;\n\n.visible .entry b()\n{\n ret;\n}\n"
    merged = K.merge_ptx([a, b])
    assert merged.count(".global .u64 env;") == 1 and merged.count(".version") == 1
    assert ".entry a()" in merged and ".entry b()" in merged


@pytest.mark.parametrize("name, pair, match", [
    ("cache-hints.residency", "hints=none,bogus", "unknown hint 'bogus'"),
    ("cache-hints.store", "hints=nc", "unknown hint 'nc'"),
    ("cache-hints.residency", "hints=", "comma-separated"),
    ("cache-hints.residency", "k=0", "must be > 0"),
])
def test_bad_parameters_are_one_line_errors(name, pair, match):
    with pytest.raises(ProbeSpecError, match=match) as err:
        catalogue.get(name).parse_params([pair])
    assert "\n" not in str(err.value)


def test_axes_errors_and_env_derived_sizes():
    env = {"compute_capability": [9, 0], "l2_cache_bytes": 50 << 20, "memory_free_bytes": 80 << 30, "sm_count": 132}
    probe = catalogue.get("cache-hints.prefetch-size")
    with pytest.raises(ProbeSpecError, match="multiple of 8"):
        probe.points(env, probe.parse_params(["offsets_bytes=12"]))
    pol = catalogue.get("cache-hints.pollution")
    with pytest.raises(ProbeSpecError, match="levels"):
        pol.points(env, pol.parse_params(["levels=l3"]))
    bw = catalogue.get("cache-hints.bandwidth")
    assert C.bandwidth_bytes(env, bw.parse_params([])) == 400 << 20                # 8x L2
    assert C.bandwidth_bytes({**env, "l2_cache_bytes": 4 << 20}, bw.parse_params([])) == 64 << 20
    with pytest.raises(ProbeSpecError, match="l2_cache_bytes"):
        C.flush_bytes({"l2_cache_bytes": None})
    points = pol.points(env, pol.parse_params(["hints=none,cs"]))
    assert {p.as_dict()["level"] for p in points} == {"l1", "l2"} and len(points) == 4


def test_litmus_counts_stale_reads_regressions_and_visibility():
    wtime = np.array([0, 100, 200, 300])                 # values 1, 2, 3 written at t = 100, 200, 300 ns
    obs = np.array([0, 0, 1, 1, 1, 3, 2])
    otime = np.array([50, 120, 150, 230, 260, 320, 400])
    c = C.litmus_counts(obs, otime, wtime)
    # poll 2 (t=150, previous 120 > write 1) -> 1 ok; poll 1 (prev 50) ok; poll 4 (prev 230 > write 2) -> stale;
    # poll 5 ok (3); poll 6 (prev 320 > write 3) -> 2 stale. poll 3 (prev 150: only write 1 issued) -> ok.
    assert c["stale_reads"] == 2 and c["regressions"] == 1 and c["last_seen"] == 3
    assert c["visibility_ns"] == 50.0                    # value 1: 150-100, 2: 320-200, 3: 320-300 -> median 50
    assert c["stale_fraction"] == pytest.approx(2 / 6) and c["fresh_fraction"] == pytest.approx(4 / 6)


def test_kernels_live_in_the_private_module_and_enter_the_probe_version():
    """Issue 15 split: kernels and their SASS checks in _hint_kernels, host side in cache_hints, one-way imports."""
    import ast
    import inspect

    from probes.spec import helper_files
    for probe in C.PROBES:
        assert catalogue.get(probe.name) is probe and probe.check_sass is K.check_sass
        assert probe.measure.__module__ == C.__name__
    own_kernels = [n for n, v in vars(C).items() if callable(v) and getattr(v, "__module__", "") == C.__name__
                   and n.endswith("_kernel")]
    assert own_kernels == [] and all(f.__module__ == K.__name__ for f in K.FACTORIES.values())
    imports = {n.module for n in ast.walk(ast.parse(inspect.getsource(K))) if isinstance(n, ast.ImportFrom)}
    assert C.__name__ not in imports                        # data flows one way: kernels never import the host side
    assert {"_hint_kernels.py", "_hint_ops.py", "intrinsics.py"} <= {f.name for f in helper_files(C)}
