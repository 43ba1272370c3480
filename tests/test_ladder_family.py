"""Ladder family on the CPU: chain construction, SASS of every chase kernel (sm_90), TLB analysis on synthetic
ladders, and the ladder/TLB report sections rendered from synthetic result documents in tmp_path.

Nothing here is a measurement: the ladders are made up, with known levels, to check that the code recovers them.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from probes import catalogue
from probes import verdicts as V
from probes.analysis.tlb import NO_TRANSITION, analyse_tlb
from probes.kernel.chase import chain_steps, page_positions, sattolo_cycle, walk
from probes.kernel.compile import ptx_to_sass
from probes.spec import GiB, KiB, MiB, geometric

# probe -> (SASS load kind, exact opcode of every chase load on sm_90)
CHASES = {
    "latency.ladder.global": ("LDG", "LDG.E.64"),
    "latency.ladder.global.ca": ("LDG", "LDG.E.64.STRONG.SM"),
    "latency.ladder.global.cg": ("LDG", "LDG.E.64.STRONG.GPU"),
    "latency.ladder.global.nc": ("LDG", "LDG.E.64.CONSTANT"),
    "latency.tlb": ("LDG", "LDG.E.64.STRONG.GPU"),  # .cg: no false L1 step (issue 20 defect 6)
    "latency.shared": ("LDS", "LDS"),
    "latency.constant": ("LDC", "LDC"),
    "latency.local": ("LDL", "LDL"),
}


# ---- chains ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [2, 3, 17, 1000])
def test_sattolo_is_one_cycle_through_every_slot(n):
    nxt = sattolo_cycle(n, np.random.default_rng(n))
    seen, s = [], 0
    for _ in range(n):
        seen.append(s)
        s = int(nxt[s])
    assert sorted(seen) == list(range(n)) and s == 0  # every slot once, back home after exactly n hops
    assert all(nxt[i] != i for i in range(n))  # no fixed point (a plain permutation would allow one)
    assert walk(nxt, 0, n) == 0 and walk(nxt, 0, 3 * n + 1) == int(nxt[0])


def test_page_stride_chain_puts_one_slot_on_each_page():
    stride = 2 * MiB
    pos = page_positions(300, stride, spread_bytes=128)
    assert np.array_equal(pos // stride, np.arange(300))  # one slot per page, in page order
    assert len({int(p) % stride for p in pos}) > 1  # spread over cache sets
    assert np.all(pos % 8 == 0)
    nxt = sattolo_cycle(300, np.random.default_rng(1))
    pages, s = set(), 0
    for _ in range(300):
        pages.add(int(pos[s] // stride))
        s = int(nxt[s])
    assert pages == set(range(300))  # the chase visits every page once per lap


def test_sattolo_rejects_an_empty_chain():
    with pytest.raises(ValueError, match="at least one slot"):
        sattolo_cycle(0, np.random.default_rng(0))


# ---- kernels: compile for sm_90, one dependent load per chase step ----------------------------------------------


@pytest.fixture(scope="module")
def sass_sm90():
    out = {}
    for name in CHASES:
        probe = catalogue.get(name)
        ((kname, ptx),) = probe.kernels((9, 0))
        out[name] = next(iter(ptx_to_sass(ptx, "sm_90").values()))
    return out


def _basic_blocks(insts):
    """Instructions split at branches and branch targets (chase loops are unrolled inside one block)."""
    targets = {
        int(m.group(1), 16) for i in insts if i.base == "BRA" for m in [re.search(r"0x([0-9a-f]+)", i.text)] if m
    }
    blocks, cur = [], []
    for i in insts:
        if i.address in targets and cur:
            blocks.append(cur)
            cur = []
        cur.append(i)
        if i.base in ("BRA", "EXIT"):
            blocks.append(cur)
            cur = []
    return blocks + ([cur] if cur else [])


@pytest.mark.parametrize("name", list(CHASES))
def test_kernel_is_one_dependent_load_per_step(name, sass_sm90):
    kind, opcode = CHASES[name]
    insts = sass_sm90[name]
    chain_loads = 0
    for block in _basic_blocks(insts):
        loads = [i for i in block if i.base == kind and re.search(r"\[R\d+", " ".join(i.operands[1:]))]
        for prev, cur in zip(loads, loads[1:]):
            ((addr, _),) = chain_steps([cur], kind)
            # the next load is addressed by the previous load's result: nothing was hoisted or folded in between
            assert addr == prev.dest_registers[0], f"{name}: {cur.text} does not chase {prev.text}"
            between = block[block.index(prev) + 1 : block.index(cur)]
            assert not any(addr in i.dest_registers for i in between), f"{name}: arithmetic inside the chain"
            chain_loads += 1
        assert all(i.opcode == opcode for i in loads), f"{name}: {[i.opcode for i in loads]}"
    assert chain_loads >= 8, f"{name}: only {chain_loads} chained loads: the chase was folded away"
    assert catalogue.get(name).check_sass(name, insts) == []


@pytest.mark.parametrize(
    "compiled, checked",
    [
        ("latency.ladder.global.cg", "latency.ladder.global"),
        ("latency.ladder.global.cg", "latency.ladder.global.nc"),
        ("latency.ladder.global", "latency.ladder.global.ca"),
        ("latency.ladder.global", "latency.tlb"),
    ],
)
def test_sass_check_rejects_a_wrong_cache_modifier(compiled, checked, sass_sm90):
    problems = catalogue.get(checked).check_sass(checked, sass_sm90[compiled])
    assert any(CHASES[checked][1] in p for p in problems), problems


def test_sass_check_rejects_a_missing_chain(sass_sm90):
    insts = [i for i in sass_sm90["latency.shared"] if i.base != "LDS"]
    assert any("dependent LDS chain" in p for p in catalogue.get("latency.shared").check_sass("x", insts))


# ---- sweeps derive from the environment -------------------------------------------------------------------------

H100_ENV = {
    "l2_cache_bytes": 50 * MiB,
    "memory_total_bytes": 80 * GiB,
    "memory_free_bytes": 79 * GiB,
    "shared_memory_per_sm_bytes": 228 * KiB,
    "compute_capability": [9, 0],
}


def test_ladder_sweep_passes_l2_and_is_dense_around_it():
    probe = catalogue.get("latency.ladder.global")
    fps = probe.axes(H100_ENV, probe.parse_params([]))["footprint_bytes"]
    assert fps[-1] >= 2 * H100_ENV["l2_cache_bytes"] and fps[0] == 1 * KiB
    near = [f for f in fps if 50 * MiB / 1.5 <= f <= 50 * MiB * 1.5]
    far = [f for f in fps if 200 * MiB / 1.5 <= f <= 200 * MiB * 1.5]
    assert len(near) > 2 * len(far)  # refinement around the driver's L2 size
    sparse = probe.axes(H100_ENV, probe.parse_params(["dense_points=0"]))["footprint_bytes"]
    assert set(sparse) < set(fps)


def test_tlb_sweep_reaches_most_of_free_memory_one_page_per_slot():
    probe = catalogue.get("latency.tlb")
    params = probe.parse_params([])
    fps = probe.axes(H100_ENV, params)["footprint_bytes"]
    assert fps[0] == 2 * params["stride_bytes"] and all(f % params["stride_bytes"] == 0 for f in fps)
    assert 0.6 * H100_ENV["memory_free_bytes"] < fps[-1] <= 0.75 * H100_ENV["memory_free_bytes"]
    too_big = probe.parse_params(["max_footprint_bytes=2147483648"])
    assert probe.unmet({**H100_ENV, "memory_free_bytes": 1 * GiB}, too_big)


def test_bad_parameters_are_one_line_errors():
    from probes.spec import ProbeSpecError

    with pytest.raises(ProbeSpecError, match="multiple of 4096"):
        catalogue.get("latency.tlb").parse_params(["stride_bytes=1000"])
    with pytest.raises(ProbeSpecError, match=r"in \(0, 49152\]"):
        catalogue.get("latency.shared").parse_params(["max_footprint_bytes=65536"])
    with pytest.raises(ProbeSpecError, match="set max_footprint_bytes"):
        catalogue.get("latency.tlb").axes({}, catalogue.get("latency.tlb").parse_params([]))


# ---- TLB analysis on synthetic ladders --------------------------------------------------------------------------


def _synthetic_tlb(noise: float, seed: int = 3):
    fp = np.array(geometric(4 * MiB, 64 * GiB, per_octave=4, multiple_of=2 * MiB), float)
    lat = np.where(fp <= 64 * MiB, 300.0, np.where(fp <= 8 * GiB, 360.0, 760.0))
    return fp, lat * (1 + np.random.default_rng(seed).normal(0, noise, fp.size))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_tlb_analysis_recovers_reach_and_miss_cost(seed):
    fp, lat = _synthetic_tlb(0.01, seed)
    res = analyse_tlb(fp, lat, 2 * MiB)
    assert res.verdict == V.TRANSITIONS and res.describe() == "2 transitions"
    assert [lv.name for lv in res.levels] == ["TLB-1", "TLB-2", "beyond TLB-2"]
    one, two, _ = res.levels
    assert one.reach_bytes_low <= 64 * MiB < one.reach_bytes_high <= 64 * MiB * 2**0.5
    assert one.reach_pages_low <= 32 < one.reach_pages_high
    assert two.reach_bytes_low <= 8 * GiB < two.reach_bytes_high
    assert one.miss_cost_cycles == pytest.approx(60, rel=0.15) and one.miss_cost_low < 60 < one.miss_cost_high
    assert two.miss_cost_cycles == pytest.approx(400, rel=0.05)
    assert one.latency_ci_low <= 300 * 1.01 and one.latency_ci_high >= 300 * 0.99


def test_tlb_analysis_says_no_transition_on_flat_data():
    fp, _ = _synthetic_tlb(0.0)
    flat = 300 * (1 + np.random.default_rng(0).normal(0, 0.01, fp.size))
    res = analyse_tlb(fp, flat, 2 * MiB)
    assert res.verdict == NO_TRANSITION and res.transitions == 0 and res.levels[0].miss_cost_cycles is None
    empty = analyse_tlb([], [], 2 * MiB)
    assert empty.verdict == V.INCONCLUSIVE and empty.reason == "no plateau" and empty.to_dict()["transitions"] == 0
    with pytest.raises(ValueError, match="stride_bytes"):
        analyse_tlb(fp, flat, 0)


# ---- report sections from synthetic documents -------------------------------------------------------------------


def _ladder(levels, fps):
    """Step ladder: latency of the first level whose capacity holds the footprint, 0.5 % noise."""
    rng = np.random.default_rng(7)
    out = {}
    for f in fps:
        lat = next(v for cap, v in levels if f <= cap)
        out[int(f)] = lat * (1 + rng.normal(0, 0.005))
    return out


def _doc(name, medians, env, params=None):
    from probes.results.schema import SCHEMA_VERSION

    points = []
    for fp, med in medians.items():
        samples = [
            {"cycles_per_op": med + d, "ns_per_op": (med + d) / 1.755, "throttled": False, "rep": k, "index": 0}
            for k, d in enumerate((-0.2, 0.0, 0.2))
        ]
        points.append(
            {
                "axes": {"footprint_bytes": fp},
                "samples": samples,
                "summary": {"median": med, "ci_low": med - 0.2, "ci_high": med + 0.2, "n": 3},
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "probe": {
            "name": name,
            "version": "synthetic",
            "params": params or {},
            "unit": "cycles/load",
            "method": "synthetic ladder",
            "value_key": "cycles_per_op",
        },
        "backend": "gpu",
        "outcome": "ok",
        "environment": env,
        "started_at": "2026-11-25T00:00:00+00:00",
        "finished_at": "2026-11-25T00:01:00+00:00",
        "points": points,
    }


def _write_gpu(tmp_path, l2_driver):
    from probes.results import io

    env = {
        "gpu_name": "Synthetic GPU",
        "compute_capability": [9, 0],
        "l2_cache_bytes": l2_driver,
        "sm_count": 132,
        "versions": {},
    }
    fps = geometric(1 * KiB, 512 * MiB, per_octave=6, multiple_of=64)
    glob = [(192 * KiB, 38.0), (40 * MiB, 260.0), (1 << 62, 600.0)]
    docs = {
        "latency.ladder.global": _doc("latency.ladder.global", _ladder(glob, fps), env),
        "latency.ladder.global.cg": _doc("latency.ladder.global.cg", _ladder(glob[1:], fps), env),
        "latency.shared": _doc("latency.shared", _ladder([(1 << 62, 30.0)], geometric(1 * KiB, 48 * KiB, 4, 4)), env),
        "latency.tlb": _doc(
            "latency.tlb",
            dict(zip(*[list(map(int, a)) if i == 0 else list(a) for i, a in enumerate(_synthetic_tlb(0.005))])),
            env,
            {"stride_bytes": 2 * MiB},
        ),
    }
    data = tmp_path / "synthetic-gpu" / "data"
    for name, doc in docs.items():
        io.save(doc, data / f"{name}.json")
    return tmp_path / "synthetic-gpu"


def _load(folder):
    from probes.report.build import load_published

    return load_published(folder / "data")


@pytest.mark.parametrize("l2_driver, label", [(48 * MiB, "documented & matches"), (160 * MiB, "documented & differs")])
def test_ladder_section_finds_levels_and_compares_l2_with_the_driver(tmp_path, l2_driver, label):
    from probes.report.sections import Figure, Table, docs_for, ladder

    docs = docs_for(ladder, _load(_write_gpu(tmp_path, l2_driver)))
    assert {d["probe"]["name"] for d in docs} == {"latency.ladder.global", "latency.ladder.global.cg", "latency.shared"}
    sec = ladder.section(docs)
    by_title = {f.title: f for f in sec.findings}
    l2 = by_title["L2 capacity (last cache level before DRAM)"]
    assert l2.label == label and l2.ci[0] <= 40 * MiB < l2.ci[1] and str(l2_driver) in l2.documented
    assert by_title["L1 latency, global (default)"].value == pytest.approx(38, rel=0.02)
    assert by_title["L1 latency, global (default)"].label == "undocumented"
    assert by_title["DRAM latency, global (default)"].value == pytest.approx(600, rel=0.02)
    assert by_title["level-1 latency, shared memory"].value == pytest.approx(30, rel=0.02)
    assert not any("L1" in t and "ld.cg" in t for t in by_title)  # .cg: no L1 plateau
    assert all(f.data and f.data[0].startswith("data/") for f in sec.findings)
    figures = {b.name for b in sec.blocks if isinstance(b, Figure)}
    assert figures == {"ladder-global", "ladder-paths"} and {f.figure for f in sec.findings} <= figures
    table = next(b.frame for b in sec.blocks if isinstance(b, Table))
    assert {"latency [cycles]", "latency [ns]", "capacity interval", "95 % CI [cycles]"} <= set(table.columns)
    ns_ok = table.dropna(subset=["latency [ns]"])  # synthetic samples: ns = cycles / 1.755
    assert (ns_ok["latency [ns]"] - ns_ok["latency [cycles]"] / 1.755).abs().max() < 0.5 and len(ns_ok) >= 6
    _close(sec)


def test_tlb_section_reports_reach_and_miss_cost(tmp_path):
    from probes.report.sections import docs_for, tlb

    sec = tlb.section(docs_for(tlb, _load(_write_gpu(tmp_path, 48 * MiB))))
    titles = [f.title for f in sec.findings]
    assert titles == [
        "TLB-1 reach (2 MiB stride)",
        "TLB-1 miss cost (2 MiB stride)",
        "TLB-2 reach (2 MiB stride)",
        "TLB-2 miss cost (2 MiB stride)",
    ]
    reach = sec.findings[0]
    assert reach.ci[0] <= 64 * MiB < reach.ci[1] and all(f.label == "undocumented" for f in sec.findings)
    _close(sec)


def test_sections_pass_the_report_builders_contract(tmp_path, monkeypatch):
    from probes.report import build, sections
    from probes.report.sections import ladder, tlb

    folder = _write_gpu(tmp_path, 48 * MiB)
    monkeypatch.setattr(sections, "families", lambda: (ladder, tlb))
    results = build.run_sections(_load(folder), folder)  # raises on a broken figure name or data link
    assert [r.family for r in results] == ["ladder", "tlb"] and all(r.section for r in results)
    build._close_figures(results)


def _close(sec):
    import matplotlib.pyplot as plt

    from probes.report.sections import Figure

    for b in sec.blocks:
        if isinstance(b, Figure):
            plt.close(b.figure)


def test_published_values_are_a_separate_table_labelled_with_their_source():
    from probes.report.sections import ladder

    table = ladder.published_table([{"environment": {"gpu_name": "H100 NVL"}}])
    assert table is not None and "published by" in table.frame.columns
    assert table.frame["published by"].str.contains("mt4g").all() and "Published by other projects" in table.caption
    assert ladder.published_table([{"environment": {"gpu_name": "Synthetic GPU"}}]) is None


def test_ladder_section_reports_its_targets_from_the_stored_run(tmp_path):
    from probes.report.sections import Table, docs_for, ladder

    sec = ladder.section(docs_for(ladder, _load(_write_gpu(tmp_path, 48 * MiB))))
    targets = next(b.frame for b in sec.blocks if isinstance(b, Table) and "wall time [s]" in b.frame.columns)
    row = targets.set_index("probe").loc["latency.ladder.global"]
    assert row["wall time [s]"] == 60.0 and row["wall-time target met"] == "yes"  # started 00:00, finished 00:01
    assert row["CI target met"] in ("yes", "no") and row["worst plateau CI half-width [% of median]"] >= 0
    _close(sec)


def test_our_plateaus_sit_beside_published_values_and_a_gap_says_why(tmp_path):
    """A synthetic 'H100 SXM5' ladder with an L2 plateau far from the published ones: the gap is explained."""
    from probes.report.sections import Paragraph, Table, ladder

    docs = _load(_write_gpu(tmp_path, 48 * MiB))
    for d in docs:
        d["environment"]["gpu_name"] = "NVIDIA H100 80GB HBM3"
    analysed = ladder.analyse([d for d in docs if d["probe"]["name"].startswith("latency.ladder.global")])
    blocks = ladder.published_comparison(analysed, docs)
    table = next(b.frame for b in blocks if isinstance(b, Table))
    assert set(table["level"]) >= {"L1", "L2", "DRAM"} and table["published by"].str.len().min() > 0
    dram = table[(table.level == "DRAM") & (table.comparison == V.DIFFERS)]  # ours: DRAM 600 vs 864 (mt4g)
    assert len(dram) and set(dram.why) == {"differs by more than 10 %"}
    assert set(table.comparison) <= set(V.PEER_VERDICTS)
    gaps = [b.text for b in blocks if isinstance(b, Paragraph)]
    assert gaps and all("published by" in g and "stride" in g for g in gaps)


def test_cross_gpu_comparison_overlays_every_gpus_global_ladder(tmp_path):
    import matplotlib.pyplot as plt

    from probes.report.sections import Figure, ladder

    docs = _load(_write_gpu(tmp_path, 48 * MiB))
    (fig,) = ladder.compare({"gpu-a": docs, "gpu-b": docs})
    assert isinstance(fig, Figure) and len(fig.figure.axes[0].get_lines()) == 2
    plt.close(fig.figure)
    assert ladder.compare({"gpu-a": [d for d in docs if d["probe"]["name"] == "latency.shared"]}) == []
