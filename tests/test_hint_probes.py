"""Cache-hint probes without a GPU: hint axis vs the static atlas, SASS modifiers per arch, parameter errors,
the PTX merge, the staleness counting rule and the split between kernels and host side (tests/test_compile.py
already runs every check_sass)."""

import numpy as np
import pytest

from probes import catalogue
from probes.analysis.hints import static_lowering
from probes.catalogue import cache_hints as C
from probes.catalogue.cache_hints import bandwidth, host, staleness
from probes.catalogue.cache_hints import kernels as K
from probes.kernel.compile import kernel_ptx, ptx_to_sass
from probes.spec import ProbeSpecError
from probes.static import qualifiers as H

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
        rows = df[
            (df.op == "ld")
            & (df.qualifier == q)
            & (df.width.isin(["b32", "b64"]))
            & (df.arch.isin(list(ARCHS.values())))
        ]
        assert len(rows) and set(rows.status) == {"rejected"}


def test_hint_axis_drops_hints_the_atlas_rejects_on_the_device_arch():
    df = H.atlas()
    rejected = set(
        df[(df.op == "ld") & (df.width == "b64") & (df.arch == "sm_75") & (df.status == "rejected")].qualifier
    )
    axis = host.selected_hints("residency", {"hints": "all"}, {"compute_capability": [7, 5]})
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
        hint = K.hints_for("residency")[K.marker_of(insts)]
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
    assert seen["nc.L1::no_allocate.L2::256B"] == (
        {"sm_80": "LDG.E.NA.LTC128B.64.CONSTANT", "sm_90": "LDG.E.NA.LTC256B.64.CONSTANT"}[arch],
    )


def test_check_sass_rejects_a_plain_load_in_place_of_a_hinted_one():
    from numba import types

    from probes.kernel import intrinsics as X

    fake = K.residency_kernel("nc.L1::no_allocate", step=X.ld_u64_addr)  # nc's marker, plain loads
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


@pytest.mark.parametrize(
    "name, pair, match",
    [
        ("cache-hints.residency", "hints=none,bogus", "unknown hint 'bogus'"),
        ("cache-hints.store", "hints=nc", "unknown hint 'nc'"),
        ("cache-hints.residency", "hints=", "comma-separated"),
        ("cache-hints.residency", "k=0", "must be > 0"),
    ],
)
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
    assert bandwidth.bandwidth_bytes(env, bw.parse_params([])) == 400 << 20  # 8x L2
    assert bandwidth.bandwidth_bytes({**env, "l2_cache_bytes": 4 << 20}, bw.parse_params([])) == 64 << 20
    with pytest.raises(ProbeSpecError, match="l2_cache_bytes"):
        host.flush_bytes({"l2_cache_bytes": None})
    points = pol.points(env, pol.parse_params(["hints=none,cs"]))
    assert {p.as_dict()["level"] for p in points} == {"l1", "l2"} and len(points) == 4


def test_k_asks_for_at_least_k_steps_in_whole_trips_and_the_smoke_params_stay_valid():
    """Timed passes are whole trips of the unrolled loop: k = 2 (the smoke value) runs 16 steps, 17 runs 32."""
    from probes.kernel import timed_pass as T

    assert [host.steps_of({"k": k}) for k in (1, 2, 16, 17, 32)] == [16, 16, 16, 32, 32]
    assert "at least k" in host.K.help and str(T.UNROLL) in host.K.help
    for probe in C.PROBES:
        params = probe.parse_params(list(probe.smoke))
        assert params.get("k", 16) > 0, probe.name
    host.check_k(2, 48)  # one trip: 3 x 16 lines
    with pytest.raises(ProbeSpecError, match="k=2: 16 steps per pass need 48 lines"):
        host.check_k(2, 47)


def test_litmus_counts_stale_reads_regressions_and_visibility():
    wtime = np.array([0, 100, 200, 300])  # values 1, 2, 3 written at t = 100, 200, 300 ns
    obs = np.array([0, 0, 1, 1, 1, 3, 2])
    otime = np.array([50, 120, 150, 230, 260, 320, 400])
    c = staleness.litmus_counts(obs, otime, wtime)
    # poll 2 (t=150, previous 120 > write 1) -> 1 ok; poll 1 (prev 50) ok; poll 4 (prev 230 > write 2) -> stale;
    # poll 5 ok (3); poll 6 (prev 320 > write 3) -> 2 stale. poll 3 (prev 150: only write 1 issued) -> ok.
    assert c["stale_reads"] == 2 and c["regressions"] == 1 and c["last_seen"] == 3
    assert c["visibility_ns"] == 50.0  # value 1: 150-100, 2: 320-200, 3: 320-300 -> median 50
    assert c["stale_fraction"] == pytest.approx(2 / 6) and c["fresh_fraction"] == pytest.approx(4 / 6)


def test_one_module_per_probe_sharing_public_kernel_code():
    """Issue 21 §3: one module per probe in the family package, kernels and their SASS checks in the public
    kernels module, the shared host side in host.py; data flows one way (kernels never import a probe or the host
    side); no module imports a `_`-prefixed module; editing the shared code changes every probe's version."""
    import ast
    import importlib
    import inspect
    import pkgutil

    from probes.spec import helper_files

    modules = [i.name for i in pkgutil.iter_modules(C.__path__)]
    probe_modules = [m for m in modules if hasattr(importlib.import_module(f"{C.__name__}.{m}"), "PROBE")]
    assert len(probe_modules) == len(C.PROBES) == 7
    for probe in C.PROBES:
        module = inspect.getmodule(probe.measure)
        assert catalogue.get(probe.name) is probe and probe.check_sass is K.check_sass
        assert module.PROBE is probe and module.__name__.rpartition(".")[2] in probe_modules
        assert {"host.py", "kernels.py", "ops.py", "intrinsics.py"} <= {f.name for f in helper_files(module)}
        assert module.__file__ not in {str(f) for f in helper_files(module)}
    for name in modules:
        source = inspect.getsource(importlib.import_module(f"{C.__name__}.{name}"))
        imported = {n.module for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)}
        imported |= {
            a.name
            for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.ImportFrom)
            for a in n.names
            if n.module == C.__name__
        }
        assert not [m for m in imported if m and m.rpartition(".")[2].startswith("_") and m != "__future__"], name
        if name in ("kernels", "ops"):  # kernels never import a probe or the host side
            assert not {m for m in imported if m} & {f"{C.__name__}.{p}" for p in [*probe_modules, "host"]}, name


def test_the_qualifier_table_is_the_one_source_for_the_atlas_the_probes_and_the_analysis():
    from probes.analysis import hints as A
    from probes.catalogue.cache_hints import ops
    from probes.static import cache_hints as atlas

    assert atlas.LOAD_QUALIFIERS is H.LOAD_QUALIFIERS and atlas.STORE_QUALIFIERS is H.STORE_QUALIFIERS
    assert A.Q is H
    for q in H.TABLE:  # every hint on the axis is spelled in PTX exactly as the atlas row
        if q.hint:
            prefix = ops.load_prefix(q.hint) if q.op == "ld" else ops.store_prefix(q.hint)
            assert prefix == (q.prefix, q.policy) and H.row(q.op, q.hint) is q
    assert len({(q.op, q.label) for q in H.TABLE}) == len(H.TABLE)
    assert len({(q.op, q.hint) for q in H.TABLE if q.hint}) == len(H.LOAD_HINTS) + len(H.STORE_HINTS)
    assert set(H.PREFETCH_HINTS) <= set(H.LOAD_HINTS)
