"""Probe declarations: sweeps stay inside their bounds; a probe's version covers the helper code its kernels use."""

import inspect

from hypothesis import given
from hypothesis import strategies as st

from probes import catalogue
from probes.spec import geometric, helper_files


@given(st.integers(1, 1 << 20), st.integers(0, 1 << 24), st.integers(1, 12), st.sampled_from([1, 4, 8, 64, 4096]))
def test_geometric_sweep_is_sorted_unique_and_never_passes_its_top(lo, extra, per_octave, multiple):
    hi = lo + extra
    vals = geometric(lo, hi, per_octave, multiple)
    assert list(vals) == sorted(set(vals))
    top = hi - hi % multiple or multiple
    assert vals[-1] == top and all(v % multiple == 0 for v in vals)


def test_probe_version_covers_private_helper_modules_even_when_imported_lazily(tmp_path, monkeypatch):
    import probes.spec as spec

    fine = catalogue.get("latency.fine.chase")  # imports its fine_ops kernels inside functions only
    files = helper_files(inspect.getmodule(fine.measure))
    names = {f.name for f in files}
    ops = next(f for f in files if f.stem.lstrip("_") == "fine_ops")
    assert "intrinsics.py" in names
    # Editing a helper changes the version: copy the package's helpers, edit one, point the scan at the copy.
    before = fine.version()
    fake, real = tmp_path / "probes", spec.PACKAGE
    for f in [*real.glob("catalogue/_*.py"), *real.glob(f"{spec.KERNEL_PACKAGE}/*.py"), spec.INTRINSICS]:
        (fake / f.relative_to(real)).parent.mkdir(parents=True, exist_ok=True)
        (fake / f.relative_to(real)).write_text(f.read_text())
    monkeypatch.setattr(spec, "PACKAGE", fake)
    monkeypatch.setattr(spec, "INTRINSICS", fake / spec.INTRINSICS.relative_to(real))
    assert fine.version() == before  # the copy alone changes nothing
    (fake / ops.relative_to(real)).write_text("# edited\n" + ops.read_text())
    assert fine.version() != before


def test_probe_version_follows_kernel_toolkit_imports():
    import probes.spec as spec

    text = (
        "from probes.kernel import chase as C, timed_pass\n"
        "from probes.kernel.compile import kernel_ptx\n"
        "from probes.kernel import (\n    ptx,\n    context)\n"
        "x = probes.kernel.tensormap.encode_tiled\n"
    )
    assert spec.kernel_modules_named(text) == {"chase", "timed_pass", "compile", "ptx", "context", "tensormap"}
    assert spec.kernel_modules_named("from probes.engine import campaign  # probes/kernel/chase.py\n") == set()


def test_every_probe_declares_smoke_params_that_parse():
    for probe in catalogue.all_probes().values():
        probe.parse_params(probe.smoke)  # raises ProbeSpecError on a stale smoke declaration


def test_declared_axes_carry_units_and_resolve_from_data_functions_and_parameters():
    import pytest

    from probes.spec import Axis, Probe, ProbeSpecError

    probe = Probe(
        name="toy.axes",
        summary="s",
        measure=lambda ctx, point, params: {},
        unit="cycles",
        method="m",
        axes=(
            Axis("footprint_bytes", lambda env, params: (env["l2"], 2 * env["l2"])),
            Axis("stride_bytes", param="strides"),
            Axis("load", ("ld", "ld.cg"), category=True),
        ),
    )
    assert probe.axis_units() == {"footprint_bytes": "bytes", "stride_bytes": "bytes", "load": ""}
    points = probe.points({"l2": 8}, {"strides": [4, 64]})  # the worker passes tuple parameters as JSON lists
    assert [p.as_dict() for p in points][:2] == [
        {"footprint_bytes": 8, "stride_bytes": 4, "load": "ld"},
        {"footprint_bytes": 8, "stride_bytes": 4, "load": "ld.cg"},
    ]
    assert len(points) == 8
    with pytest.raises(ProbeSpecError, match="carries no unit"):
        Axis("steps", (1, 2))
    with pytest.raises(ProbeSpecError, match="exactly one of"):
        Axis("footprint_bytes")


def test_converted_probes_declare_their_sweep_and_kernel_expectations_as_data():
    """Issue 21 §3: the chase probes' SASS check is their `expect` (chain load, exact opcode, unroll, budget); the
    modules keep no KERNEL_CHECKS/PLANS/OCCUPANCY tables beside PROBES."""
    import importlib

    from probes.static.kernel_checks import Expect

    converted = ("latency_ladder", "latency_tlb", "latency_paths", "latency_nearfar", "latency_fine", "instructions")
    for stem in converted:
        module = importlib.import_module(f"probes.catalogue.{stem}")
        assert not {"KERNEL_CHECKS", "PLANS", "OCCUPANCY"} & set(vars(module)), stem
        for probe in module.PROBES:
            assert probe.axis_units(), probe.name
    tlb = catalogue.get("latency.tlb")
    assert tlb.expect == Expect(chain="LDG", opcode="LDG.E.64.STRONG.GPU", unroll=16, step_budget=16)
    assert tlb.check_sass == tlb.expect.check_sass and tlb.plan is not None
    assert catalogue.get("latency.ladder.global.nc").expect.opcode == "LDG.E.64.CONSTANT"
    assert catalogue.get("instructions.throughput").occupancy is not None
    assert catalogue.get("instructions.throughput").axis_units()["warps_per_sm"] == "warps per SM"
