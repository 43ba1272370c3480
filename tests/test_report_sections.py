"""Every real report section survives a stored result it cannot use (other axes, no fields it knows): it renders
what it can instead of failing the whole GPU report."""

import matplotlib.pyplot as plt
import pytest

from probes.report import sections
from probes.report.figures import style


def _foreign_doc(name: str) -> dict:
    return {
        "schema_version": 1,
        "probe": {
            "name": name,
            "version": "x",
            "params": {},
            "unit": "cycles",
            "method": "m",
            "value_key": "cycles_per_op",
        },
        "backend": "gpu",
        "outcome": "ok",
        "environment": {"gpu_name": "Some GPU", "compute_capability": [9, 0]},
        "started_at": "2026-11-25T00:00:00+00:00",
        "finished_at": "2026-11-25T00:01:00+00:00",
        "_file": "data/x.json",
        "points": [
            {
                "axes": {"unrelated": 1},
                "samples": [{"cycles_per_op": 4.0, "throttled": False}],
                "summary": {"median": 4.0, "ci_low": 4.0, "ci_high": 4.0, "n": 1},
            }
        ],
    }


@pytest.mark.parametrize("family", sections.families(), ids=lambda m: m.FAMILY)
def test_section_renders_a_result_it_cannot_use_without_failing(family):
    prefix = family.PREFIXES[0]
    with style():
        sec = family.section([_foreign_doc(prefix + "x" if prefix.endswith(".") else prefix)])
    plt.close("all")
    assert sec.family == family.FAMILY and sec.findings == []  # nothing it could not support is claimed
