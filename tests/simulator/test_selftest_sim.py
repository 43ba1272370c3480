"""The GPU self-test's orchestration rehearsed under the simulator: the same workers, probes and decision code as on
a card, so a first `make selftest` on a GPU does not discover a wiring bug. Simulated timings decide nothing here."""
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
                                reason="simulator tests run in their own process with NUMBA_ENABLE_CUDASIM=1")

ATLAS = Path(__file__).resolve().parents[2] / "reports" / "static" / "instructions-sass.csv"


def test_selftest_gathers_every_observation_and_launches_every_probe_once(monkeypatch):
    from probes import catalogue, selftest
    from probes.engine.environment import capture
    monkeypatch.setenv("GPU_PROBES_EXTRA_CATALOGUE", selftest.CLOCK_PROBE_MODULE)
    catalogue.all_probes.cache_clear()
    try:
        obs = selftest.gather(capture("simulator"), timeout=120, atlas_csv=ATLAS, backend="simulator")
    finally:
        catalogue.all_probes.cache_clear()
    assert obs["arch"] == "sm_90" and obs["atlas"], "FFMA/IMAD/DFMA latencies read from the static atlas"
    assert obs["chase"]["outcome"] == "ok"
    assert set(obs["chains"]["ops"]) == set(selftest.CHAIN_OPS) and obs["chains"]["status"] == "ok"
    smoke = obs["smoke"]
    assert set(smoke) == set(catalogue.all_probes()) - {"selftest.clock"}
    assert all(r["outcome"] == "ok" for r in smoke.values()), {n: r for n, r in smoke.items() if r["outcome"] != "ok"}
    checks = selftest.decide(obs)
    launches = [c for c in checks if c.name.endswith("launches with its smoke params")]
    assert len(launches) == len(smoke) and all(c.status == selftest.PASS for c in launches), selftest.format_table(checks)
