"""L2 near/far: clustering and tests on synthetic per-(SM, window) latencies; kernel SASS; report section."""

import numpy as np
import pytest

from probes.analysis import nearfar as nf


def _bimodal(n_sm=16, n_win=32, near=250.0, far=450.0, seed=0, reps=2):
    """Each SM and each window sits in partition 0 or 1; a cell is near when they match."""
    rng = np.random.default_rng(seed)
    sm_part, win_part = rng.integers(0, 2, n_sm), rng.integers(0, 2, n_win)
    sm, win, lat, truth = [], [], [], {}
    for s in range(n_sm):
        for w in range(n_win):
            is_near = sm_part[s] == win_part[w]
            truth[(s, w)] = "near" if is_near else "far"
            for _ in range(reps):
                sm.append(s), win.append(w), lat.append((near if is_near else far) + rng.normal(0, 6))
    return np.array(sm), np.array(win), np.array(lat), truth


def test_bimodal_cells_split_into_near_and_far_with_the_right_members():
    sm, win, lat, truth = _bimodal()
    res = nf.analyse(sm, win, lat)
    assert res.split, res.reason
    assert res.dip_p < 0.01 and res.mannwhitney_p < 1e-6
    assert {k: c["class"] for k, c in res.cells.items()} == truth
    assert 250 < res.threshold < 450
    lo, hi = res.difference_ci
    assert lo <= res.difference <= hi and lo > 150 and hi < 250  # the synthetic gap is 200 cycles
    assert res.near_ci[0] <= res.near_median <= res.near_ci[1] < res.far_ci[0] <= res.far_median


def test_unimodal_cells_give_no_split():
    rng = np.random.default_rng(1)
    sm, win = np.repeat(np.arange(16), 32), np.tile(np.arange(32), 16)
    res = nf.analyse(sm, win, rng.normal(300, 10, sm.size))
    assert not res.split and "no split" in res.reason and res.dip_p >= 0.01
    assert all(c["class"] is None for c in res.cells.values())
    assert res.pooled_ci[0] <= res.pooled_median <= res.pooled_ci[1]


def test_a_lone_outlier_cell_is_not_a_far_cluster():
    rng = np.random.default_rng(2)
    sm, win = np.repeat(np.arange(8), 8), np.tile(np.arange(8), 8)
    lat = rng.normal(300, 3, sm.size)
    lat[5] = 900
    assert not nf.analyse(sm, win, lat).split


def test_too_few_cells_is_one_clear_error():
    with pytest.raises(ValueError, match="at least 4"):
        nf.analyse([0, 1], [0, 0], [1.0, 2.0])


def test_nearfar_kernel_reads_smid_claims_with_cas_and_chases_l2_only():
    from probes import catalogue
    from probes.kernel.compile import ptx_to_sass

    probe = catalogue.get("latency.l2.nearfar")
    ((name, ptx),) = probe.kernels((9, 0))
    insts = next(iter(ptx_to_sass(ptx, "sm_90").values()))
    assert probe.check_sass(name, insts) == []
    assert any("SR_VIRTUALSMID" in i.text for i in insts)
    no_cas = [i for i in insts if i.base != "ATOMG"]
    assert any("atomic CAS" in p for p in probe.check_sass(name, no_cas))


def test_windows_are_separate_cycles_at_their_offsets():
    from probes.catalogue import latency_nearfar as L

    mem, starts = L.build_windows(4, 1024, 3, 0, np.random.default_rng(0))
    for w, s in enumerate(starts):
        seen, p = set(), int(s)
        for _ in range(3):
            seen.add(p)
            p = int(mem[p])
        assert p == int(s) and len(seen) == 3  # a cycle through the window's 3 lines
        assert all(w * 1024 // 8 <= q < (w + 1) * 1024 // 8 for q in seen)
    assert (
        L.window_stride({"l2_cache_bytes": 50 << 20}, {"window_stride_bytes": 0, "windows": 32, "lines_per_window": 1})
        == (25 << 20) // 32
    )
    with pytest.raises(ValueError, match="smaller than a window"):
        L.window_stride({}, {"window_stride_bytes": 128, "windows": 4, "lines_per_window": 2})


@pytest.mark.parametrize("bimodal", [True, False])
def test_section_renders_from_synthetic_documents(tmp_path, bimodal):
    from probes.report.sections import nearfar as sec

    if bimodal:
        sm, win, lat, _ = _bimodal(n_sm=8, n_win=16)
    else:
        sm, win = np.repeat(np.arange(8), 16), np.tile(np.arange(16), 8)
        lat = np.random.default_rng(4).normal(300, 5, sm.size)
    samples = [
        {"sm": int(s), "window": int(w), "cycles_per_op": float(v), "rep": 0, "index": i, "throttled": False}
        for i, (s, w, v) in enumerate(zip(sm, win, lat))
    ]
    doc = {
        "probe": {"name": "latency.l2.nearfar"},
        "backend": "gpu",
        "environment": {},
        "_file": "data/nf.json",
        "points": [{"axes": {"window_stride_bytes": 4096}, "samples": samples, "summary": None}],
    }
    section = sec.section([doc])
    titles = [f.title for f in section.findings]
    if bimodal:
        assert titles == ["L2 near latency", "L2 far latency", "L2 far - near latency"]
        assert all(f.ci and f.ci[0] <= f.value <= f.ci[1] for f in section.findings)
    else:
        assert titles == ["L2 latency (no near/far split)"]
    assert all("dip test" in f.evidence for f in section.findings)
    for block in section.blocks:
        if type(block).__name__ == "Figure":
            block.figure.savefig(tmp_path / f"{block.name}.png")
            assert (tmp_path / f"{block.name}.png").stat().st_size > 0


def test_section_meets_the_report_builder_contract(tmp_path):
    from probes.report.build import run_sections

    sm, win, lat, _ = _bimodal(n_sm=4, n_win=8)
    samples = [
        {"sm": int(s), "window": int(w), "cycles_per_op": float(v), "rep": 0, "index": i, "throttled": False}
        for i, (s, w, v) in enumerate(zip(sm, win, lat))
    ]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "nf.json").write_text("{}")
    doc = {
        "probe": {"name": "latency.l2.nearfar"},
        "backend": "gpu",
        "environment": {},
        "_file": "data/nf.json",
        "points": [{"axes": {"window_stride_bytes": 4096}, "samples": samples, "summary": None}],
    }
    (result,) = [r for r in run_sections([doc], tmp_path) if r.family == "l2-nearfar"]
    assert [f.title for f in result.section.findings][0] == "L2 near latency"
