"""On a real GPU only (skipped with the reason when there is none): the PTX probes launch through cuda.core, pass
their host reference checks on every launch, and order as the hardware must. Orderings only, never a hard-coded
measurement."""

import pytest

from probes.cli import main
from probes.results import io

pytestmark = pytest.mark.gpu


def _run(tmp_path, name: str, *params: str) -> dict:
    out = tmp_path / name
    args = sum((["--param", p] for p in params), [])
    rc = main(["run", name, "--backend", "gpu", "--out", str(out), "--quiet", *args])
    doc = io.load(next(out.glob("*.json")))
    if doc["outcome"] == "skipped":
        pytest.skip(doc["error"]["reason"])
    assert rc == 0 and doc["outcome"] == "ok", doc.get("error")
    assert doc["kernels"] and all(k["sass_problems"] == [] for k in doc["kernels"])
    return doc


def _medians(doc, key):
    return {p["axes"][key]: p["summary"]["median"] for p in doc["points"]}


def test_cp_async_and_tma_ladders_cost_more_than_ldg_at_the_smallest_footprint(tmp_path):
    params = ("max_footprint_bytes=65536", "points_per_octave=1", "dense_points=0")
    ldg = _medians(_run(tmp_path, "latency.ladder.global", *params), "footprint_bytes")
    for name in ("latency.ladder.cp-async.ca", "latency.ladder.tma"):
        got = _medians(_run(tmp_path, name, *params), "footprint_bytes")
        small = min(got)
        assert got[small] > ldg[small], f"{name}: a copy + wait + LDS cannot beat one LDG"


def test_dsmem_remote_is_slower_than_local_and_every_peer_ran_in_the_cluster(tmp_path):
    doc = _run(tmp_path, "latency.dsmem", "cluster_sizes=2,4", "steps=256")
    lat = {(p["axes"]["cluster_size"], p["axes"]["peer"]): p["summary"]["median"] for p in doc["points"]}
    for cs in (2, 4):
        assert all(lat[(cs, peer)] > lat[(cs, 0)] for peer in range(1, cs))
    sms = {p["samples"][0]["sm_peer"] for p in doc["points"] if p["axes"]["cluster_size"] == 4}
    assert len(sms) == 4  # four CTAs on four SMs


def test_mbarrier_expect_tx_costs_at_least_a_plain_arrive(tmp_path):
    lat = _medians(_run(tmp_path, "latency.mbarrier", "steps=256"), "op")
    assert lat["expect-tx"] >= 0.9 * lat["arrive-try"] > 0


def test_wgmma_pipelined_beats_serialised_and_stays_under_the_documented_peak(tmp_path):
    from probes.analysis.async_features import PEAK_FLOP_PER_CLK_SM

    params = ("n_values=64,256", "dtypes=f16", "steps=64")
    lat = _run(tmp_path, "tensor.wgmma.latency", *params)
    tput = _run(tmp_path, "tensor.wgmma.throughput", *params)
    by = lambda d: {(p["axes"]["n"], p["axes"]["operands"]): p for p in d["points"]}  # noqa: E731
    for key, p in by(tput).items():
        assert p["summary"]["median"] < by(lat)[key]["summary"]["median"]
        flops = [s["flop_per_clk_sm"] for s in p["samples"]]
        assert max(flops) <= 1.05 * PEAK_FLOP_PER_CLK_SM["f16"]


def test_tcgen05_runs_only_on_blackwell(tmp_path):
    doc = _run(tmp_path, "tensor.tcgen05.latency", "steps=16")
    assert all(p["summary"]["median"] > 0 for p in doc["points"])


def test_bulk_streaming_bandwidth_grows_with_depth_for_tma(tmp_path):
    doc = _run(tmp_path, "bandwidth.bulk", "sizes=4096", "depths=1,4", "buffer_bytes=268435456")
    gbps = {(p["axes"]["mode"], p["axes"]["depth"]): p["summary"]["median"] for p in doc["points"]}
    assert gbps[("tma", 4)] > gbps[("tma", 1)] > 0


def test_tma2d_and_cache_hinted_streams_pass_their_checks_and_pipeline_with_depth(tmp_path):
    doc = _run(
        tmp_path, "bandwidth.bulk", "sizes=4096", "depths=1,4", "hints=none,evict_first", "buffer_bytes=268435456"
    )
    gbps = {(p["axes"]["mode"], p["axes"]["hint"], p["axes"]["depth"]): p["summary"]["median"] for p in doc["points"]}
    assert all(v > 0 for v in gbps.values())
    for hint in ("none", "evict_first"):
        assert gbps[("tma2d", hint, 4)] > gbps[("tma2d", hint, 1)], hint
    assert ("copy", "evict_first", 1) not in gbps  # the ceiling is measured without a hint only


def test_dsmem_bandwidth_of_a_remote_peer_stays_below_the_local_read(tmp_path):
    doc = _run(tmp_path, "bandwidth.dsmem", "cluster_sizes=2,4", "peer_shifts=0,1", "iters=32")
    gbps = {(p["axes"]["cluster_size"], p["axes"]["peer_shift"]): p["summary"]["median"] for p in doc["points"]}
    for cs in (2, 4):
        assert 0 < gbps[(cs, 1)] < gbps[(cs, 0)], cs


def test_dsmem_cluster_of_16_runs_or_is_skipped_with_the_drivers_reason(tmp_path):
    from probes.analysis.async_features import dsmem_distance_table

    doc = _run(tmp_path, "latency.dsmem", "cluster_sizes=16", "steps=128")
    skipped = [p for p in doc["points"] if p.get("skipped")]
    if skipped:
        assert len(skipped) == 16 and all("cluster of 16 blocks" in p["skipped"] for p in skipped)
        pytest.skip(skipped[0]["skipped"])
    for p in doc["points"]:
        for s in p["samples"]:
            assert s["sm_distance"] == abs(s["sm_peer"] - s["sm_self"]) and s["nsmid"] > max(s["sm_peer"], s["sm_self"])
    doc["_file"] = "data/latency.dsmem.json"
    table = dsmem_distance_table([doc])
    assert (table["peer"] == "remote").any() and table["samples"].sum() == sum(len(p["samples"]) for p in doc["points"])
