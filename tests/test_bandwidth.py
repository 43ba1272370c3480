"""Bandwidth family on the CPU: level detection on synthetic ladders with known levels, Little's law, the documented
peak, the importers and `analyze bandwidth`, the report section on synthetic documents, and the SASS of the kernels.

Nothing here is a measurement: the ladders are made up, with known levels, to check that the code recovers them.
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from probes.analysis import bandwidth as bw
from probes.analysis import bw_cmd, bw_importers
from probes.analysis.importers import LadderInputError
from probes.spec import GiB, KiB, MiB, geometric


def ladder(levels, ends, lo=16 * KiB, hi=1 * GiB, noise=0.005, seed=0, ramp=1.25):
    """Bandwidth falling from level to level; each drop is a log-linear ramp from end to end * ramp."""
    ws = np.array(geometric(lo, hi, per_octave=6), dtype=float)
    y = np.full(ws.size, np.log(levels[0]))
    for (a, b), end in zip(zip(levels, levels[1:]), ends):
        t = np.clip(np.log(ws / end) / np.log(ramp), 0, 1)
        y += t * (np.log(b) - np.log(a))
    rng = np.random.default_rng(seed)
    return ws, np.exp(y) * (1 + noise * rng.standard_normal(ws.size))


# ---- detection -----------------------------------------------------------------------------------------------------


def test_three_levels_with_their_values_and_where_they_end():
    ws, b = ladder([14000, 6000, 2000], [192 * KiB, 40 * MiB])
    levels = bw.detect_levels(ws, b)
    assert [lv.name for lv in levels] == ["L1", "L2", "DRAM"]
    for lv, want in zip(levels, (14000, 6000, 2000)):
        assert abs(lv.bandwidth_GBps / want - 1) < 0.01
        assert lv.bandwidth_ci_low <= lv.bandwidth_GBps <= lv.bandwidth_ci_high
    for lv, end in zip(levels, (192 * KiB, 40 * MiB)):
        assert end <= lv.end_bytes_high and lv.end_bytes_low <= end * 1.25  # bracket at the start of the drop
        assert lv.end_bytes_high / lv.end_bytes_low < 1.3  # adjacent points, not a wide span
    assert levels[-1].end_bytes_low is None and "end_bytes_low" not in levels[-1].to_dict()


def test_a_slow_decline_inside_dram_is_one_level_and_a_lone_low_edge_point_is_ignored():
    ws, b = ladder([5400, 1750], [28 * MiB], lo=1 * MiB, hi=4 * GiB)
    b = b * np.where(ws > 64 * MiB, (ws / (64 * MiB)) ** -0.02, 1.0)  # -2 % per octave past 64 MiB
    b[0] *= 0.8  # a cold first point
    levels = bw.detect_levels(ws, b)
    assert [lv.name for lv in levels] == ["L2", "DRAM"]
    assert abs(levels[0].bandwidth_GBps / 5400 - 1) < 0.01


def test_noise_only_or_too_few_points_gives_no_invented_levels():
    assert bw.detect_levels([], []) == []
    assert len(bw.detect_levels([1024, 2048], [5.0, 5.0])) <= 1  # two points: never two levels
    rng = np.random.default_rng(3)
    ws = np.array(geometric(16 * KiB, 1 * GiB, 6), dtype=float)
    levels = bw.detect_levels(ws, 3000 * np.exp(0.3 * rng.standard_normal(ws.size)))
    assert len(levels) <= 1
    with pytest.raises(ValueError, match="values"):
        bw.detect_levels([1, 2, 3], [1, 2])


def test_documented_peak_and_verdict():
    peak = bw.documented_peak_gbps(1_215_000, 5120)  # A100 40GB: 1215 MHz HBM2, 5120-bit
    assert peak == pytest.approx(1555.2)
    assert bw.documented_peak_gbps(None, 5120) is None and bw.documented_peak_gbps(0, 5120) is None
    lv = bw.BandwidthLevel("DRAM", 1400.0, 1390.0, 1410.0, None, None, 10, 1, 2, 1, 2)
    assert bw.peak_verdict(lv, peak)[0] == "documented & matches"
    low = bw.BandwidthLevel("DRAM", 1000.0, 990.0, 1010.0, None, None, 10, 1, 2, 1, 2)
    label, why = bw.peak_verdict(low, peak)
    assert label == "documented & differs" and "64.3 %" in why
    assert bw.peak_verdict(lv, None)[0] == "inconclusive"


def test_littles_law_finds_the_bytes_in_flight_for_90_percent():
    f = np.array([512, 1024, 2048, 4096, 8192, 16384, 32768, 65536], dtype=float)
    knee = 32768.0  # b ~ f below the knee: log-log exact
    b = 3000 * np.minimum(1, f / knee)  # latency-bound until `knee` bytes in flight per SM
    res = bw.littles_law(f, b, sms=100)
    assert res.plateau_GBps == pytest.approx(3000)
    assert res.bracket == (16384, 32768)
    assert res.bytes_in_flight_per_sm == pytest.approx(0.9 * knee, rel=0.02)
    # Little: in flight / bandwidth = latency; here 18 KB x 100 SMs / 2700 GB/s
    assert res.implied_latency_ns == pytest.approx(0.9 * knee * 100 / 2700, rel=0.02)


def test_shared_table_slowdown_is_relative_to_stride_one():
    rows = [{"access": "b32", "stride": s, "bytes_per_clk": 128 / s} for s in (1, 2, 4)]
    out = bw.shared_table(rows)
    assert [r["slowdown_vs_stride_1"] for r in out] == [1, 2, 4]


def test_nearfar_bandwidth_splits_cells_by_their_latency():
    rng = np.random.default_rng(0)
    sm, win, lat, bpc = [], [], [], []
    for s in range(16):
        for w in range(16):
            far = (s + w) % 2
            sm.append(s), win.append(w)
            lat.append((480 if far else 260) + rng.normal(0, 3))
            bpc.append((40 if far else 60) + rng.normal(0, 0.5))
    res = bw.nearfar_bandwidth(sm, win, lat, bpc)
    assert res.split
    assert res.near_bytes_per_clk == pytest.approx(60, abs=1) and res.far_bytes_per_clk == pytest.approx(40, abs=1)


# ---- importers and `analyze bandwidth` -----------------------------------------------------------------------------

L2CACHE = "     data set   exec time     spread       Eff. bw\n" + "".join(
    f"       512 kB {k:>10} kB         7ms       0.1%  {v:8.1f} GB/s        0 GB/s      0 GB/s \n"
    for k, v in [(1024 * i, 7000.0 - i) for i in range(1, 30)]
    + [(40960, 4000.0), (49152, 2600.0)]
    + [(65536 * i, 2000.0 + (i % 3)) for i in range(1, 40)]
)
GPUCACHE = (
    "     data set   exec time     spread        Eff. bw       DRAM read\n"
    "         2 kB         5ms       0.4%   13646.3 GB/s         0 GB/s\n"
    "         4 kB         5ms       0.1%   13874.2 GB/s         0 GB/s\n"
)


def cli(argv, capsys):
    parser = argparse.ArgumentParser(prog="probes")
    bw_cmd.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    rc = args.func(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_gpu_benches_l2_cache_and_gpu_cache_formats(tmp_path):
    p = tmp_path / "h.txt"
    p.write_text(L2CACHE)
    df = bw_importers.load(p)
    assert df.attrs["provenance"]["tool"] == "gpu-l2-cache" and len(df) == 29 + 2 + 39
    assert df["working_set_bytes"].iloc[0] == 1024 * 1024 and df["bandwidth_GBps"].iloc[0] == 6999.0
    q = tmp_path / "c.txt"
    q.write_text(GPUCACHE)
    d2 = bw_importers.load(q, gpu="V")
    assert list(d2["working_set_bytes"]) == [2048, 4096] and set(d2["gpu"]) == {"V"}
    assert d2.attrs["provenance"]["tool"] == "gpu-cache"
    mixed = tmp_path / "m.txt"
    mixed.write_text(L2CACHE + GPUCACHE.splitlines(keepends=True)[1])
    with pytest.raises(LadderInputError, match=r"m.txt:\d+: expected every row in the gpu-l2-cache layout"):
        bw_importers.load(mixed)


def test_json_document_levels_and_gpu_filter(tmp_path, capsys):
    ws, b = ladder([14000, 6000, 2000], [192 * KiB, 40 * MiB])
    rows = (
        ["gpu,working_set_bytes,bandwidth_GBps,extra"]
        + [f"A,{w:.0f},{v:.3f},x" for w, v in zip(ws, b)]
        + [f"B,{w:.0f},{v / 2:.3f},y" for w, v in zip(ws, b)]
    )
    p = tmp_path / "two.csv"
    p.write_text("\n".join(rows) + "\n")
    rc, out, err = cli(["analyze", "bandwidth", str(p), "--json", "--gpu", "B"], capsys)
    assert rc == 0 and err == ""
    doc = json.loads(out)
    assert doc["gpu"] == "B" and [lv["name"] for lv in doc["levels"]] == ["L1", "L2", "DRAM"]
    first = doc["levels"][0]
    for key in ("bandwidth_GBps", "bandwidth_ci_low", "bandwidth_ci_high", "end_bytes_low", "end_bytes_high"):
        assert key in first
    assert first["bandwidth_GBps"] == pytest.approx(7000, rel=0.01)
    rc, out, _ = cli(["analyze", "bandwidth", str(p), "--plot", str(tmp_path / "x.png")], capsys)
    assert rc == 2  # two GPUs: the plot needs one
    rc, out, _ = cli(["analyze", "bandwidth", str(p), "--gpu", "A", "--plot", str(tmp_path / "a.png")], capsys)
    assert rc == 0 and (tmp_path / "a.png").stat().st_size > 1000 and "A [read]: 3 level(s)" in out


@pytest.mark.parametrize(
    "text, expect",
    [
        ("working_set_bytes,bandwidth_GBps\n", "at least one data row"),
        ("working_set_bytes,bandwidth_GBps\n1024,fast\n", ":2: expected bandwidth_GBps as a positive number"),
        ("footprint_bytes,latency_cycles\n1,2\n", "unrecognised format"),
        ("     data set   exec time     spread       Eff. bw\n   nonsense\n", ":2: expected '<KiB> kB"),
        ('{"schema_version": 1}', "expected a valid results document"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, text, expect):
    p = tmp_path / "bad.txt"
    p.write_text(text)
    rc, out, err = cli(["analyze", "bandwidth", str(p)], capsys)
    assert rc == 2 and out == "" and err.count("\n") == 1 and expect in err and "Traceback" not in err


def _doc(name, points, backend="gpu", env=None):
    return {
        "schema_version": 1,
        "probe": {
            "name": name,
            "version": "v",
            "params": {},
            "unit": "GB/s",
            "method": "m",
            "value_key": "bandwidth_gbps",
        },
        "backend": backend,
        "outcome": "ok",
        "environment": {"gpu_name": "Fake GPU", "compute_capability": [9, 0], "sm_count": 100, **(env or {})},
        "started_at": "2026-11-25T00:00:00+00:00",
        "finished_at": "2026-11-25T00:01:00+00:00",
        "_file": "data/x.json",
        "points": points,
    }


def _pt(axes, value, **sample):
    return {
        "axes": axes,
        "summary": {"median": value, "ci_low": value * 0.99, "ci_high": value * 1.01, "n": 10},
        "samples": [{"bandwidth_gbps": value, "throttled": False, **sample}],
    }


def _ladder_doc(scale=1.0):
    ws, b = ladder([14000, 6000, 2000], [192 * KiB, 40 * MiB])
    pts = [
        _pt(
            {"op": op, "working_set_bytes": int(w)},
            v * scale * (1.6 if op == "copy" else 1),
            memory_clock_khz=1_593_000,
            memory_bus_width_bits=5120,
            bytes_per_clk_per_sm=v / 180,
        )
        for op in ("read", "copy")
        for w, v in zip(ws, b)
    ]
    return _doc("bandwidth.ladder", pts)


def test_results_document_one_ladder_per_op(tmp_path, capsys):
    p = tmp_path / "r.json"
    p.write_text(json.dumps({k: v for k, v in _ladder_doc().items() if k != "_file"}))
    rc, out, err = cli(["analyze", "bandwidth", str(p), "--json", "--series", "read"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["input"]["format"] == "results" and len(doc["levels"]) == 3
    sim = _ladder_doc()
    sim["backend"] = "simulator"
    p.write_text(json.dumps({k: v for k, v in sim.items() if k != "_file"}))
    rc, _, err = cli(["analyze", "bandwidth", str(p)], capsys)
    assert rc == 2 and "simulat" in err


# ---- report section --------------------------------------------------------------------------------------------------


def test_section_levels_peak_verdict_occupancy_shared_and_latency_overlay():
    import matplotlib.pyplot as plt

    from probes.report.figures import style
    from probes.report.sections import bandwidth as sec_mod

    occ = _doc(
        "bandwidth.occupancy",
        [
            _pt(
                {"op": "read", "warps_per_sm": w, "unroll": u},
                3000 * min(1, w * 32 * 16 * u / 20000),
                bytes_in_flight_per_sm=w * 32 * 16 * u,
            )
            for w in (1, 4, 16, 64)
            for u in (1, 4)
        ],
    )
    shared = _doc("bandwidth.shared", [_pt({"access": "b32", "stride": s}, 128 / s) for s in (1, 2, 4)])
    lat = _doc(
        "latency.ladder.global", [_pt({"footprint_bytes": 2**k}, 30.0 if k < 17 else 600.0) for k in range(10, 30)]
    )
    with style():
        sec = sec_mod.section([_ladder_doc(), occ, shared, lat])
    plt.close("all")
    titles = {f.title: f for f in sec.findings}
    peak = bw.documented_peak_gbps(1_593_000, 5120)  # 2039 GB/s
    dram = titles["HBM read bandwidth vs documented peak"]
    assert dram.label == "documented & matches" and abs(dram.value / 2000 - 1) < 0.01
    assert f"{peak:.1f} GB/s" in dram.documented
    assert titles["L2 read bandwidth, shared chunks"].label == "undocumented"
    assert "bytes in flight per SM for 90 % of HBM read bandwidth" in titles
    assert "shared-memory b32 bandwidth (stride 1)" in titles
    figs = [b for b in sec.blocks if type(b).__name__ == "Figure"]
    assert {f.name for f in figs} == {"bandwidth-ladder", "bandwidth-occupancy"}
    assert "latency ladder" in figs[0].caption  # overlaid on the same footprint axis


def test_section_with_only_a_latency_ladder_says_not_measured():
    from probes.report.sections import bandwidth as sec_mod

    sec = sec_mod.section([_doc("latency.ladder.global", [_pt({"footprint_bytes": 1024}, 30.0)])])
    assert sec.findings == [] and "Not measured" in sec.blocks[0].text


# ---- probes: parameters, axes, SASS ---------------------------------------------------------------------------------


def test_axes_on_a_nominal_h100():
    from probes import catalogue
    from probes.dryrun import nominal_environment

    env = nominal_environment("sm_90")
    lad = catalogue.get("bandwidth.ladder")
    ax = lad.axes(env, {p.name: p.default for p in lad.params})
    sizes = ax["working_set_bytes"]
    assert sizes[0] == 16 * KiB and sizes[-1] == 1 * GiB and 4 * env["l2_cache_bytes"] < sizes[-1]
    assert ax["op"] == ("read", "write", "copy")
    own = catalogue.get("bandwidth.ladder.own")
    assert own.axes(env, {p.name: p.default for p in own.params})["working_set_bytes"][-1] == 4 * MiB
    with pytest.raises(Exception, match="unknown"):
        lad.parse_params(["ops=read,steal"])


def test_host_checksums():
    from probes.catalogue import bandwidth as B

    assert B.vec_sum_prefix(1000) == sum(v % 251 for v in range(1000))
    region = [sum(4 * (v % 251) for v in range(10 * r, 10 * r + 10)) for r in range(3)]
    # 3 regions of 10 vectors, 4 blocks: slots 0..3 read regions 0, 1, 2, 0; twice
    assert B.expected_read_sum(10, 3, 4, 2) == 2 * (2 * region[0] + region[1] + region[2])
    # 3 regions, 2 blocks: slots 0..2, every region once
    assert B.expected_read_sum(10, 3, 2, 1) == sum(region)


@pytest.fixture(scope="module")
def sass_sm90():
    from probes import catalogue
    from probes.kernel.compile import cached_kernels, ptx_to_sass

    out = {}
    for name, kernel in (
        ("bandwidth.ladder", "region_read"),
        ("bandwidth.ladder", "region_copy"),
        ("bandwidth.shared", "shared_ldmatrix"),
        ("bandwidth.shared", "shared_b32"),
        ("bandwidth.l2.nearfar", "nearfar"),
    ):
        ptx = dict(cached_kernels(catalogue.get(name), (9, 0)))[kernel]
        out[kernel] = next(iter(ptx_to_sass(ptx, "sm_90").values()))
    return out


@pytest.mark.parametrize(
    "probe, kernel",
    [
        ("bandwidth.ladder", "region_read"),
        ("bandwidth.ladder", "region_copy"),
        ("bandwidth.shared", "shared_ldmatrix"),
        ("bandwidth.shared", "shared_b32"),
        ("bandwidth.l2.nearfar", "nearfar"),
    ],
)
def test_kernel_sass_is_clean(probe, kernel, sass_sm90):
    from probes import catalogue

    assert catalogue.get(probe).check_sass(kernel, sass_sm90[kernel]) == []


def test_sass_checks_catch_a_wrong_width_or_a_missing_access(sass_sm90):
    from probes.catalogue import bandwidth as B

    # the read kernel checked as a write: no STG.E.128 in any loop
    assert any("STG.E.128" in p for p in B.check_global("region_write", sass_sm90["region_read"]))
    # 4-byte LDS checked as ldmatrix: wrong instruction, and narrower accesses in the loop
    problems = B.check_shared("shared_ldmatrix", sass_sm90["shared_b32"])
    assert any("LDSM.16.M88.4" in p for p in problems)
    # loads hoisted/folded: a kernel whose loop lost its loads
    no_loads = [i for i in sass_sm90["region_read"] if i.base != "LDG"]
    assert any("LDG.E.128" in p for p in B.check_global("region_read", no_loads))
    no_loop = [i for i in sass_sm90["region_read"] if i.base != "BRA"]
    assert B.check_global("region_read", no_loop)[0].startswith("no loop in the kernel")


@pytest.fixture(scope="module")
def sass_sm100():
    """The unrolled occupancy and shared kernels for cc 10.0, where NVVM does not unroll a `for u in range(U)` loop:
    one access per trip until the kernels wrote their accesses out."""
    from probes import catalogue
    from probes.kernel.compile import cached_kernels, ptx_to_sass

    out = {}
    for name in ("bandwidth.occupancy", "bandwidth.shared"):
        probe = catalogue.get(name)
        for kernel, ptx in cached_kernels(probe, (10, 0)):
            out[kernel] = (probe, next(iter(ptx_to_sass(ptx, "sm_100").values())))
    return out


@pytest.mark.parametrize(
    "kernel", ["stream_read_u4", "stream_copy_u4", "shared_b32", "shared_v2", "shared_v4", "shared_ldmatrix"]
)
def test_every_unrolled_access_is_in_the_loop_on_sm_100(kernel, sass_sm100):
    probe, insts = sass_sm100[kernel]
    assert probe.check_sass(kernel, insts) == []


def test_analysis_and_report_import_no_cuda():
    import subprocess
    import sys

    code = (
        "import sys, probes.analysis.bandwidth, probes.analysis.bw_cmd, probes.analysis.bw_importers, "
        "probes.analysis.bw_validation, probes.analysis.bw_plots, probes.report.sections.bandwidth; "
        "bad=[m for m in sys.modules if m.split('.')[0] in ('numba','cuda','pynvml')]; print(bad); "
        "sys.exit(1 if bad else 0)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
