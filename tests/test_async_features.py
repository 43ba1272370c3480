"""Analysis and report section of the PTX-probe family on synthetic result documents (made up, with known answers:
nothing here is a measurement)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pytest

from probes.analysis import async_features as A
from probes.report.figures import style
from probes.report.sections import Figure, Table
from probes.report.sections import async_features as S
from probes.spec import KiB, MiB, geometric


def doc(name, points, gpu="NVIDIA H200", started="2026-11-25T00:00:00+00:00"):
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
        "environment": {"gpu_name": gpu, "compute_capability": [9, 0]},
        "started_at": started,
        "finished_at": started,
        "_file": f"data/{name}.json",
        "points": points,
    }


def point(axes, value, extra=None, spread=0.0):
    samples = [
        {
            "cycles_per_op": value * (1 + spread * (k - 2)),
            "ns_per_op": value / 1.98,
            "throttled": False,
            **(extra or {}),
        }
        for k in range(5)
    ]
    return {
        "axes": axes,
        "samples": samples,
        "summary": {"median": value, "ci_low": value * 0.99, "ci_high": value * 1.01, "n": 5},
    }


def ladder(name, levels):
    """levels: [(last footprint of the level, latency)], the last one open-ended."""
    pts = []
    for fp in geometric(1 * KiB, 1024 * MiB, per_octave=4, multiple_of=64):
        lat = next(lv for edge, lv in levels if fp <= edge)
        pts.append(point({"footprint_bytes": fp}, lat))
    return doc(name, pts)


LDG = [(200 * KiB, 32.0), (20 * MiB, 300.0), (float("inf"), 700.0)]
CPA = [(200 * KiB, 75.0), (20 * MiB, 315.0), (float("inf"), 690.0)]
TMA = [(20 * MiB, 385.0), (float("inf"), 760.0)]


def test_path_levels_put_ldg_cp_async_and_tma_side_by_side_per_level():
    frame = A.path_levels(
        [
            ladder("latency.ladder.global", LDG),
            ladder("latency.ladder.cp-async.ca", CPA),
            ladder("latency.ladder.tma", TMA),
        ]
    )
    got = {(r["path"], r["level (inferred)"]): r for r in frame.to_dict("records")}
    assert got[("cp.async.ca", "L1")]["latency [cycles]"] == pytest.approx(75.0, rel=0.02)
    assert got[("cp.async.ca", "L1")]["minus LDG [cycles]"] == pytest.approx(43.0, abs=2)
    assert got[("LDG (default)", "DRAM")]["latency [cycles]"] == pytest.approx(700.0, rel=0.02)
    tma = [r for r in frame.to_dict("records") if r["probe"] == "latency.ladder.tma"]
    assert [r["latency [cycles]"] for r in tma] == pytest.approx([385.0, 760.0], rel=0.02)  # no L1 level via TMA


def test_published_ladder_values_appear_only_for_their_gpu_and_carry_their_source():
    docs = [ladder("latency.ladder.cp-async.ca", CPA)]
    frame = A.path_levels(docs)
    rows = A.published_ladder_rows("NVIDIA H200", frame)
    assert rows and all(r["published by"].startswith("kimbochen/gpu-microbench@bd87adc") for r in rows)
    l1 = next(r for r in rows if r["path"] == "cp-async.ca" and r["level"] == "L1")
    assert l1["published [cycles]"] == 75.3 and l1["ours [cycles]"] == pytest.approx(75.0, rel=0.02)
    assert A.published_ladder_rows("NVIDIA A100-SXM4-40GB", frame) == []


def dsmem_doc():
    pts = []
    for cs, remote in ((2, [181.0]), (4, [207.0, 206.0, 205.0])):
        pts.append(point({"cluster_size": cs, "peer": 0}, 33.0, {"sm_self": 0, "sm_peer": 0}))
        for peer, v in enumerate(remote, start=1):
            pts.append(point({"cluster_size": cs, "peer": peer}, v, {"sm_self": 0, "sm_peer": 2 * peer}))
    return doc("latency.dsmem", pts)


def test_dsmem_summary_separates_local_and_remote_per_cluster_size():
    frame = A.point_table([dsmem_doc()], "latency.dsmem", modes=("sm_peer",))
    assert list(frame["sm_peer"])[:2] == [0, 2]
    summary = {r["cluster size"]: r for r in A.dsmem_summary(frame).to_dict("records")}
    assert summary[2]["local [cycles]"] == 33.0 and summary[2]["remote median [cycles]"] == 181.0
    assert summary[4]["remote median [cycles]"] == 206.0 and summary[4]["remote peers"] == 3
    assert (summary[4]["remote min [cycles]"], summary[4]["remote max [cycles]"]) == (205.0, 207.0)
    assert summary[4]["published remote [cycles]"] == "201 – 207" and "HPMLL" in summary[4]["published by"]


def wgmma_docs():
    lat, tput = [], []
    for dtype, k in (("f16", 16), ("e4m3", 32)):
        for n in (64, 256):
            for ops in ("ss", "rs"):
                lat.append(point({"dtype": dtype, "n": n, "operands": ops}, 100.0 + n / 4))
                cycles = 2 * 2 * 64 * n * k / (A.PEAK_FLOP_PER_CLK_SM[dtype] * (0.95 if ops == "ss" else 0.5))
                tput.append(
                    point(
                        {"dtype": dtype, "n": n, "operands": ops},
                        cycles,
                        {"flop_per_clk_sm": 2 * 2 * 64 * n * k / cycles},
                    )
                )
    return [doc("tensor.wgmma.latency", lat), doc("tensor.wgmma.throughput", tput)]


def test_wgmma_table_reports_flop_per_clock_against_the_documented_peak():
    docs = wgmma_docs()
    frame = A.wgmma_table(
        A.point_table(docs, "tensor.wgmma.latency"),
        A.point_table(docs, "tensor.wgmma.throughput", medians=("flop_per_clk_sm",)),
    )
    row = frame[(frame["dtype"] == "f16") & (frame["n"] == 256) & (frame["operands"] == "ss")].iloc[0]
    assert row["latency [cycles]"] == 164.0 and row["% of peak"] == pytest.approx(95.0)
    rs = frame[(frame["dtype"] == "e4m3") & (frame["operands"] == "rs")]
    assert (rs["% of peak"] == 50.0).all() and (rs["documented peak [FLOP/clk/SM]"] == 8192).all()
    assert A.flop_per_clk(256, 16, 2, 64.0) == 2 * 2 * 64 * 256 * 16 / 64.0
    with pytest.raises(ValueError):
        A.flop_per_clk(8, 16, 1, 0.0)


def render(docs):
    with style():
        sec = S.section(docs)
    names = {b.name for b in sec.blocks if isinstance(b, Figure)}
    plt.close("all")
    return sec, names


def test_section_findings_cite_their_data_and_published_values_keep_their_source():
    docs = (
        [ladder("latency.ladder.global", LDG), ladder("latency.ladder.tma", TMA), dsmem_doc()]
        + wgmma_docs()
        + [
            doc(
                "latency.mbarrier",
                [point({"op": op}, v) for op, v in (("arrive-test", 40.0), ("arrive-try", 44.0), ("expect-tx", 60.0))],
            ),
            doc("latency.cluster-barrier", [point({"cluster_size": 2, "relaxed": r}, 190.0 - 20 * r) for r in (0, 1)]),
        ]
    )
    sec, figures = render(docs)
    titles = {f.title: f for f in sec.findings}
    remote = titles["DSMEM remote load latency, cluster of 4"]
    assert remote.value == 206.0 and remote.ci == (205.0, 207.0) and remote.figure in figures
    assert remote.documented.startswith("published by HPMLL/NVIDIA-Hopper-Benchmark@c6dc151")
    assert titles["mbarrier phase round trip (op expect-tx)"].value == 60.0
    assert titles["cluster barrier latency (cluster_size 2, relaxed 1)"].value == 170.0
    tput = titles["wgmma throughput, m64n256 f16 SS"]
    assert tput.label == "documented & matches" and tput.documented.startswith("4096 FLOP/clk/SM")
    assert titles["wgmma throughput, m64n256 f16 RS"].label == "documented & differs"
    assert all(f.data and all(d.startswith("data/") for d in f.data) for f in sec.findings)
    tables = [b for b in sec.blocks if isinstance(b, Table)]
    published = [t for t in tables if "published by kimbochen" in t.caption]
    assert published and set(published[0].frame["published by"].str[:25]) == {"kimbochen/gpu-microbench@"}


def test_section_with_only_the_ldg_baseline_claims_nothing():
    sec, _ = render([ladder("latency.ladder.global", LDG)])
    assert sec.findings == [] and "only the LDG baseline" in sec.blocks[-1].text


@pytest.mark.parametrize(
    "name",
    [
        "latency.dsmem",
        "latency.mbarrier",
        "tensor.wgmma.latency",
        "bandwidth.dsmem",
        "tensor.wgmma.throughput",
        "latency.cluster-barrier",
        "latency.ladder.tma",
    ],
)
def test_section_survives_a_result_with_axes_it_does_not_know(name):
    sec, _ = render([doc(name, [point({"unrelated": 1}, 4.0)])])
    assert all(math.isfinite(f.value) for f in sec.findings)
    assert not any("DSMEM" in f.title or "wgmma" in f.title for f in sec.findings)


def test_bulk_bandwidth_is_shown_against_the_same_runs_copy_ceiling():
    pts = [
        point({"mode": m, "bytes": b, "depth": d}, v)
        for m, b, d, v in (
            ("copy", 4096, 2, 2000.0),
            ("copy", 8192, 2, 2500.0),
            ("tma", 4096, 2, 2400.0),
            ("tma", 8192, 4, 3000.0),
            ("ldgsts", 4096, 2, 1000.0),
        )
    ]
    frame = A.bulk_table(A.point_table([doc("bandwidth.bulk", pts)], "bandwidth.bulk"))
    pct = {(r["mode"], r["bytes"], r["depth"]): r["% of copy ceiling"] for r in frame.to_dict("records")}
    assert pct[("tma", 8192, 4)] == 120.0 and pct[("ldgsts", 4096, 2)] == 40.0 and pct[("copy", 8192, 2)] == 100.0
    sec, _ = render([doc("bandwidth.bulk", pts)])
    best = {f.title: f for f in sec.findings}["bulk global->shared bandwidth, tma"]
    assert best.value == 3000.0 and "8192 B per transfer, depth 4, 120 %" in best.evidence


def test_cache_hinted_and_2d_bulk_points_are_compared_with_the_same_point_without_a_hint():
    pts = [
        point({"mode": m, "hint": h, "bytes": 4096, "depth": 2}, v)
        for m, h, v in (
            ("copy", "none", 2000.0),
            ("tma", "none", 2400.0),
            ("tma", "evict_first", 1800.0),
            ("tma2d", "none", 2200.0),
            ("tma2d", "evict_last", 2420.0),
            ("ldgsts", "evict_last", 900.0),
        )
    ]
    frame = A.bulk_table(A.point_table([doc("bandwidth.bulk", pts)], "bandwidth.bulk"))
    got = {(r["mode"], r["hint"]): r for r in frame.to_dict("records")}
    assert got[("tma", "evict_first")]["vs no hint"] == 0.75 and got[("tma2d", "evict_last")]["vs no hint"] == 1.1
    assert math.isnan(got[("tma", "none")]["vs no hint"]) and math.isnan(got[("ldgsts", "evict_last")]["vs no hint"])
    assert got[("tma2d", "none")]["% of copy ceiling"] == 110.0
    old = A.bulk_table(
        A.point_table(
            [doc("bandwidth.bulk", [point({"mode": "tma", "bytes": 4096, "depth": 2}, 1.0)])], "bandwidth.bulk"
        )
    )
    assert list(old["hint"]) == ["none"]  # results from before the hint axis
    sec, _ = render([doc("bandwidth.bulk", pts)])
    titles = {f.title: f for f in sec.findings}
    hinted = titles["bulk global->shared bandwidth, tma, L2 evict_first"]
    assert "0.75x the same point without a cache hint" in hinted.evidence
    assert titles["bulk global->shared bandwidth, tma2d"].evidence.startswith("TMA 2D (cp.async.bulk.tensor.2d)")


def dsmem_placed_doc():
    """Made-up samples: a cluster of 4 on SMs 0, 1, 14, 15 in one launch and on 20, 21, 22, 23 in another (the
    scheduler's choice), remote latency rising with |Δ smid| by construction."""
    pts = []
    for peer in range(4):
        samples = []
        for base, ids in ((0, (0, 1, 14, 15)), (20, (20, 21, 22, 23))):
            d = abs(ids[peer] - base)
            v = 33.0 if peer == 0 else 190.0 + d
            samples += [
                {"cycles_per_op": v, "sm_self": base, "sm_peer": ids[peer], "nsmid": 132, "throttled": False}
            ] * 3
        pts.append(
            {
                "axes": {"cluster_size": 4, "peer": peer},
                "samples": samples,
                "summary": {"median": samples[0]["cycles_per_op"], "ci_low": 1.0, "ci_high": 2.0, "n": 6},
            }
        )
    return doc("latency.dsmem", pts)


def test_dsmem_latency_is_grouped_by_peer_sm_distance_per_sample():
    table = A.dsmem_distance_table([dsmem_placed_doc()])
    got = {(r["peer"], r["|Δ smid|"]): r for r in table.to_dict("records")}
    assert set(got) == {("local", 0), ("remote", 1), ("remote", 2), ("remote", 3), ("remote", 14), ("remote", 15)}
    assert got[("remote", 1)]["samples"] == 6 and got[("remote", 1)]["SM pairs"] == 2  # (0,1) and (20,21)
    assert got[("remote", 15)]["median [cycles]"] == 205.0 and got[("local", 0)]["median [cycles]"] == 33.0
    assert got[("remote", 14)]["%nsmid"] == "132" and got[("remote", 14)]["cluster sizes"] == "4"
    assert A.dsmem_distance_table([doc("latency.dsmem", [point({"unrelated": 1}, 4.0)])]).empty


def test_dsmem_distance_section_has_its_table_figure_and_spread_finding():
    sec, figures = render([dsmem_placed_doc()])
    assert "async-dsmem-distance" in figures
    spread = {f.title: f for f in sec.findings}["DSMEM remote load latency across peer-SM distances"]
    assert spread.value == 14.0 and "virtual SM id" in spread.evidence and spread.figure == "async-dsmem-distance"
    assert any(isinstance(b, Table) and "peer-SM distance" in b.caption for b in sec.blocks)


def test_dsmem_bandwidth_is_shown_against_the_local_read_of_the_same_cluster_size():
    pts = [
        point({"cluster_size": cs, "peer_shift": sh}, v, {"bytes_per_clk_cta": v / 100, "clusters": 66 // cs})
        for cs, sh, v in ((2, 0, 4000.0), (2, 1, 3000.0), (4, 0, 4200.0), (4, 1, 2100.0), (8, 1, 1000.0))
    ]
    docs = [doc("bandwidth.dsmem", pts)]
    frame = A.dsmem_bandwidth_table(A.point_table(docs, "bandwidth.dsmem", medians=("bytes_per_clk_cta",)))
    got = {(r["cluster_size"], r["peer_shift"]): r for r in frame.to_dict("records")}
    assert got[(2, 1)]["% of local"] == 75.0 and got[(4, 1)]["% of local"] == 50.0
    assert math.isnan(got[(8, 1)]["% of local"]) and got[(4, 1)]["bytes/clk/CTA"] == 21.0
    sec, _ = render(docs)
    f = {f.title: f for f in sec.findings}["DSMEM read bandwidth, cluster of 4, peer shift 1"]
    assert f.value == 2100.0 and "50 % of the local read" in f.evidence and "16 resident clusters" in f.evidence
    assert f.data == ("data/bandwidth.dsmem.json",)
