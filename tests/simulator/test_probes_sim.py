"""Every probe end to end under Numba's simulator: same worker, schema, analysis and report code as on a GPU.

Run in its own process with NUMBA_ENABLE_CUDASIM=1 (`make test` does this): the simulator is fixed at import.
"""
import os

import pytest

from probes import catalogue
from probes.cli import main
from probes.report.build import PublishError, build_reports
from probes.results import io

pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
                                reason="simulator tests run in their own process with NUMBA_ENABLE_CUDASIM=1")


def _smoke_args(name: str) -> list[str]:
    return sum((["--param", p] for p in catalogue.get(name).smoke), [])


@pytest.mark.parametrize("name", list(catalogue.all_probes()))
def test_probe_runs_end_to_end(name, tmp_path):
    params = _smoke_args(name)
    assert main(["run", name, "--backend", "simulator", "--out", str(tmp_path), "--quiet", *params]) == 0
    (path,) = tmp_path.glob("*.json")
    doc = io.load(path)
    assert doc["outcome"] == "ok" and doc["backend"] == "simulator"
    assert doc["points"] and all(p["summary"]["n"] > 0 for p in doc["points"])


def test_ladder_chase_ends_where_the_host_walk_ends(tmp_path):
    """measure() raises if the kernel's final pointer differs from the host walk: an ok outcome proves the chase."""
    import numpy as np

    from probes.catalogue import latency_ladder as L
    from probes.engine import environment
    from probes.engine.context import Context
    ctx = Context("simulator", environment.capture("simulator"))
    params = {"stride_bytes": 64, "max_steps": 16}
    out = L.measure(ctx, {"footprint_bytes": 2048}, params)
    assert out["steps"] == 16 and out["cycles_per_op"] > 0
    nxt = L.sattolo_cycle(8, np.random.default_rng(0))
    seen, p = set(), 0
    for _ in range(8):
        seen.add(p)
        p = nxt[p]
    assert seen == set(range(8)) and p == 0  # Sattolo: one cycle through every slot


def test_simulated_results_are_never_published(tmp_path):
    assert main(["run", "latency.ladder.global", "--backend", "simulator", "--out", str(tmp_path / "sim" / "data"),
                 "--quiet", *_smoke_args("latency.ladder.global")]) == 0
    with pytest.raises(PublishError, match="cannot be published"):
        build_reports(tmp_path)
