"""Every bandwidth probe under Numba's simulator at smoke size: the kernels run, the host checks pass (and catch a
wrong expectation), samples carry the fields the analysis reads, and one probe runs end to end through the engine.

Run in its own process with NUMBA_ENABLE_CUDASIM=1. The simulator's clock is a test clock: these numbers check
code, not hardware.
"""

import os

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
    reason="simulator tests run in their own process with NUMBA_ENABLE_CUDASIM=1",
)

NAMES = ("bandwidth.ladder", "bandwidth.ladder.own", "bandwidth.occupancy", "bandwidth.shared", "bandwidth.l2.nearfar")


@pytest.fixture
def ctx():
    from probes.engine import environment
    from probes.kernel.context import Context

    return Context("simulator", environment.capture("simulator"))


def _smoke(name):
    from probes import catalogue

    probe = catalogue.get(name)
    return probe, probe.parse_params(list(probe.smoke))


@pytest.mark.parametrize("name", NAMES)
def test_every_point_runs_and_is_checked(name, ctx):
    probe, params = _smoke(name)
    points = probe.points(ctx.env, params)
    assert points
    for point in points:
        out = probe.measure(ctx, point.as_dict(), params)
        assert np.all(np.asarray(out[probe.value_key]) > 0)
        if name != "bandwidth.l2.nearfar":
            assert out["bytes"] > 0 and out["ns"] > 0 and out["cycles"] > 0
            assert out["bandwidth_gbps"] == pytest.approx(out["bytes"] / out["ns"])


def test_ladder_bytes_follow_the_layout(ctx):
    probe, params = _smoke("bandwidth.ladder")
    out = probe.measure(ctx, {"op": "copy", "working_set_bytes": 8192}, params)
    # 2 chunks of 4 KiB read by 2 blocks, passes until >= 8 KiB per launch; a copy counts read + write
    assert out["regions"] == 2 and out["region_bytes"] == 4096 and out["distinct_bytes"] == 8192
    assert out["passes"] == 1 and out["bytes"] == 2 * 8192


def test_a_wrong_read_expectation_is_caught(ctx, monkeypatch):
    from probes.catalogue import bandwidth as B
    from probes.spec import KernelCheckError

    probe, params = _smoke("bandwidth.ladder.own")
    monkeypatch.setattr(B, "expected_read_sum", lambda *a: 1)
    with pytest.raises(KernelCheckError, match="read checksum"):
        probe.measure(ctx, {"op": "read", "working_set_bytes": 4096}, params)


def test_wrong_written_data_is_caught(ctx, monkeypatch):
    from probes.catalogue import bandwidth as B
    from probes.kernel import bw_kernels as K
    from probes.spec import KernelCheckError

    probe, params = _smoke("bandwidth.ladder")
    B._VERIFIED.clear()
    ctx._kernels.pop(("bw-region", "write", params["unroll"]), None)
    real = K.st_v4

    def off_by_one():
        store = real()
        return lambda arr, i, v: store(arr, i, v + 1)

    monkeypatch.setattr(K, "st_v4", off_by_one)
    K.region_kernel.cache_clear()
    try:
        with pytest.raises(KernelCheckError, match="write: vector 0 holds"):
            probe.measure(ctx, {"op": "write", "working_set_bytes": 4096}, params)
    finally:
        K.region_kernel.cache_clear()
        ctx._kernels.pop(("bw-region", "write", params["unroll"]), None)


def test_shared_checksum_matches_the_host_model_for_every_access(ctx, monkeypatch):
    from probes.kernel import bw_kernels as K
    from probes.spec import KernelCheckError

    probe, params = _smoke("bandwidth.shared")
    for access in ("b32", "v2", "v4", "ldmatrix"):
        out = probe.measure(ctx, {"access": access, "stride": 2}, params)
        assert out["access_bytes"] == {"b32": 4, "v2": 8, "v4": 16, "ldmatrix": 16}[access]
    monkeypatch.setattr(K, "shared_expected", lambda *a: 0)
    with pytest.raises(KernelCheckError, match="shared v4 checksum"):
        probe.measure(ctx, {"access": "v4", "stride": 1}, params)


def test_nearfar_map_has_one_cell_per_sm_and_window(ctx):
    probe, params = _smoke("bandwidth.l2.nearfar")
    (point,) = probe.points(ctx.env, params)
    out = probe.measure(ctx, point.as_dict(), params)
    assert out["sms_claimed"] == ctx.env["sm_count"]
    assert sorted(zip(out["sm"].tolist(), out["window"].tolist())) == [
        (s, w) for s in range(ctx.env["sm_count"]) for w in range(params["windows"])
    ]
    assert np.all(out["bytes_per_clk"] > 0) and np.all(out["cycles_per_op"] > 0)


def test_end_to_end_through_the_engine(tmp_path):
    from probes import catalogue
    from probes.engine import environment
    from probes.engine.measure import run_probe
    from probes.report.sections import bandwidth as section

    probe = catalogue.get("bandwidth.shared")
    params = probe.parse_params(list(probe.smoke) + ["accesses=b32", "strides=1"])
    env = environment.capture("simulator")
    doc = run_probe(
        probe,
        params,
        "simulator",
        env,
        tmp_path / "r.json",
        rule="fixed-count",
        rule_params={"count": 3, "min_samples": 3},
        progress=False,
    )
    assert doc["outcome"] == "ok" and [p["axes"] for p in doc["points"]] == [{"access": "b32", "stride": 1}]
    assert doc["points"][0]["summary"]["n"] == 3 and doc["backend"] == "simulator"
    sec = section.section([{**doc, "_file": "data/r.json"}])
    assert any(f.title == "shared-memory b32 bandwidth (stride 1)" for f in sec.findings)
