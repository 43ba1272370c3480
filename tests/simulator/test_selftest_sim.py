"""The GPU self-test's orchestration rehearsed under the simulator: the same workers, probes and decision code as on
a card, so a first `make selftest` on a GPU does not discover a wiring bug. Simulated timings decide nothing here."""

import os

import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
    reason="simulator tests run in their own process with NUMBA_ENABLE_CUDASIM=1",
)


def test_selftest_gathers_every_observation_and_launches_every_probe_once(catalogue_run):
    """gather() itself runs once for the suite (tests/simulator/conftest.py); its smoke results feed test_probes_sim."""
    from probes import catalogue, selftest
    from probes.engine.environment import capture

    _, obs = catalogue_run
    assert obs["arch"] == "sm_90" and obs["atlas"], "FFMA/IMAD/DFMA latencies read from the static atlas"
    assert obs["chase"]["outcome"] == "ok"
    assert set(obs["chains"]["ops"]) == set(selftest.CHAIN_OPS) and obs["chains"]["status"] == "ok"
    smoke = obs["smoke"]
    assert set(smoke) == set(catalogue.all_probes()) - {"selftest.clock"}
    # a probe the simulator's cc 9.0 does not meet (tcgen05: cc 10.x) is skipped with its reason, never run
    env = capture("simulator")
    unmet = {n for n in smoke if (p := catalogue.get(n)).unmet(env, p.parse_params(p.smoke))}
    want = {n: "skipped" if n in unmet else "ok" for n in smoke}
    assert all(r["outcome"] == want[n] for n, r in smoke.items()), {
        n: r for n, r in smoke.items() if r["outcome"] != want[n]
    }
    checks = selftest.decide(obs)
    launches = [c for c in checks if c.name.endswith("launches with its smoke params")]
    assert len(launches) == len(smoke) and all(
        c.status == (selftest.SKIP if c.name.split(" ")[0] in unmet else selftest.PASS) for c in launches
    ), selftest.format_table(checks)
