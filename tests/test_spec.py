"""Probe declarations: sweeps stay inside their bounds; a probe's version covers the helper code its kernels use."""
import inspect

from hypothesis import given, strategies as st

from probes import catalogue
from probes.spec import _private_helpers, geometric


@given(st.integers(1, 1 << 20), st.integers(0, 1 << 24), st.integers(1, 12), st.sampled_from([1, 4, 8, 64, 4096]))
def test_geometric_sweep_is_sorted_unique_and_never_passes_its_top(lo, extra, per_octave, multiple):
    hi = lo + extra
    vals = geometric(lo, hi, per_octave, multiple)
    assert list(vals) == sorted(set(vals))
    top = hi - hi % multiple or multiple
    assert vals[-1] == top and all(v % multiple == 0 for v in vals)


def test_probe_version_covers_private_helper_modules():
    probe = catalogue.get("latency.ladder.global")
    helpers = [m.__name__ for m in _private_helpers(inspect.getmodule(probe.measure))]
    assert "probes.engine.intrinsics" in helpers or any(h.startswith("probes.catalogue._") for h in helpers)


def test_every_probe_declares_smoke_params_that_parse():
    for probe in catalogue.all_probes().values():
        probe.parse_params(probe.smoke)  # raises ProbeSpecError on a stale smoke declaration
