"""Probe declarations: sweeps stay inside their bounds; a probe's version covers the helper code its kernels use."""
import inspect

from hypothesis import given, strategies as st

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
    fine = catalogue.get("latency.fine.chase")        # imports its _fine_ops inside functions only
    names = {f.name for f in helper_files(inspect.getmodule(fine.measure))}
    assert {"_fine_ops.py", "intrinsics.py"} <= names
    # Editing a helper changes the version: copy the package's helpers, edit one, point the scan at the copy.
    before = fine.version()
    fake = tmp_path / "probes"
    (fake / "catalogue").mkdir(parents=True)
    (fake / "engine").mkdir()
    for f in (spec.PACKAGE / "catalogue").glob("_*.py"):
        (fake / "catalogue" / f.name).write_text(f.read_text())
    (fake / "catalogue" / "_fine_ops.py").write_text("# edited\n" + (spec.PACKAGE / "catalogue" / "_fine_ops.py").read_text())
    (fake / "engine" / "intrinsics.py").write_text(spec.INTRINSICS.read_text())
    monkeypatch.setattr(spec, "PACKAGE", fake)
    monkeypatch.setattr(spec, "INTRINSICS", fake / "engine" / "intrinsics.py")
    assert fine.version() != before


def test_every_probe_declares_smoke_params_that_parse():
    for probe in catalogue.all_probes().values():
        probe.parse_params(probe.smoke)  # raises ProbeSpecError on a stale smoke declaration
