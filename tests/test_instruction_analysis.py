"""Instruction analysis on synthetic data: estimator, saturation, labels, claims registry, table and report section."""

import numpy as np
import pytest

from probes.analysis import claims as C
from probes.analysis import instructions as A


def test_two_unroll_estimator_recovers_latency_despite_overhead_and_noise():
    rng = np.random.default_rng(1)
    steps, latency, overhead = 512, 4.5, 180.0  # fixed cost of loop entry + clock reads per pass
    t_n = overhead + latency * steps + rng.normal(0, 20, 200)
    t_2n = overhead + latency * 2 * steps + rng.normal(0, 20, 200)
    est = A.two_unroll_estimate(t_n, t_2n, steps)
    assert est.ci_low <= latency <= est.ci_high
    assert abs(est.value - latency) < 0.05
    assert est.ci_high - est.ci_low < 0.1
    naive = np.median(t_2n) / (2 * steps)  # what a single run length would report
    assert naive > latency + 0.1


def test_estimator_rejects_unpaired_timings():
    with pytest.raises(ValueError, match="pair"):
        A.two_unroll_estimate([1, 2], [3], 8)


def _curve(peak, half_at, warps=(1, 2, 4, 8, 16, 32, 64), ilps=(1, 4), noise=0.01, seed=0):
    """Results/clk/SM of a pipe saturating at `peak` once warps x ilp reaches about `half_at` x 2."""
    rng = np.random.default_rng(seed)
    pts = []
    for w in warps:
        for i in ilps:
            true = min(peak, peak * w * i / (2 * half_at))
            pts.append({"warps_per_sm": w, "ilp": i, "values": true * (1 + rng.normal(0, noise, 30))})
    return pts


def test_saturation_recovers_plateau_and_the_occupancy_that_reaches_it():
    sat = A.saturation(_curve(peak=128.0, half_at=8))
    assert sat.ci_low <= 128.0 <= sat.ci_high and abs(sat.value - 128) < 2
    assert sat.saturated and not sat.flat
    assert sat.warps_per_sm * sat.ilp == 16  # first point with w x ilp >= 16: (4 warps, ilp 4)
    assert (sat.warps_per_sm, sat.ilp) == (4, 4)


def test_saturation_of_a_flat_curve_is_reached_at_the_first_point():
    sat = A.saturation(_curve(peak=16.0, half_at=0.25))
    assert sat.flat and sat.saturated
    assert (sat.warps_per_sm, sat.ilp) == (1, 1)
    assert abs(sat.value - 16) < 0.5


def test_saturation_says_when_the_sweep_never_levels_off():
    rising = [{"warps_per_sm": w, "ilp": 1, "values": [float(w)] * 5} for w in (1, 2, 4, 8)]
    sat = A.saturation(rising)
    assert not sat.saturated and sat.value == 8.0 and sat.warps_per_sm == 8


def test_labels():
    assert A.label(127.0, 126.0, 128.5, 128.0) == ("documented & matches", pytest.approx(99.21875))
    verdict, pct = A.label(64.2, 64.0, 64.4, 128.0)
    assert verdict == "documented & differs" and pct == pytest.approx(50.15625)
    assert A.label(4.2, 4.1, 4.3, None) == ("undocumented", None)
    assert A.label(124.5, 124.0, 125.0, 128.0)[0] == "documented & matches"  # within the 3 % tolerance
    assert A.label(120.0, 119.0, 121.0, 128.0)[0] == "documented & differs"


def test_claims_registry_parses_and_every_entry_has_a_source():
    claims = C.load()
    assert len(claims) >= 20
    for c in claims:
        assert c.value > 0 and c.document and c.version and c.section and c.table_row and c.url.startswith("https://")
        assert c.transcribed_via and c.compute_capability in ("8.0", "8.6", "8.9", "9.0", "10.0", "12.0")
        assert c.compute_capability in c.source and c.table_row in c.source
    assert C.documented("fp32", (9, 0)).value > 0
    assert C.documented("no-such-claim", (9, 0)) is None


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda rows: rows[1].replace("CUDA C++ Programming Guide", ""), "field 'document' is empty"),
        (lambda rows: rows[1].replace(",8.0,", ",eight,", 1), "MAJOR.MINOR"),
        (lambda rows: rows[1].replace(",256,", ",multiple instructions,", 1), "not a number"),
    ],
)
def test_claims_loader_refuses_a_row_without_source_or_number(tmp_path, edit, message):
    rows = C.DEFAULT_PATH.read_text().splitlines()
    rows[1] = edit(rows)
    bad = tmp_path / "claims.csv"
    bad.write_text("\n".join(rows) + "\n")
    with pytest.raises(C.ClaimsError, match=message):
        C.load(bad)


def _docs(tmp_path):
    """Stored GPU results (tmp only) for three ops: FFMA matches the Guide, DADD differs, IMAD is undocumented."""
    from probes import catalogue
    from probes.engine.measure import new_document
    from probes.results import io

    env = {"gpu_name": "Synthetic H100", "gpu_slug": "synthetic-h100", "compute_capability": [9, 0], "sm_count": 132}
    rng = np.random.default_rng(7)
    lat = new_document(catalogue.get("instructions.latency"), {"ops": "ffma,dfma,imad", "iterations": 64}, "gpu", env)
    true_lat = {
        "ffma": ("FFMA", "fp32", "fma.rn.f32", 4.0),
        "dfma": ("DFMA", "fp64", "fma.rn.f64", 8.0),
        "imad": ("IMAD", "int_mad", "mad.lo.s32", 4.0),
    }
    for op, (sass, claim, static, cyc) in true_lat.items():
        samples = []
        for rep in range(20):
            c1 = 150 + cyc * 1024 + rng.normal(0, 5)
            c2 = 150 + cyc * 2048 + rng.normal(0, 5)
            samples.append(
                {
                    "cycles_per_op": (c2 - c1) / 1024,
                    "cycles_n": c1,
                    "cycles_2n": c2,
                    "steps": 1024,
                    "sass_opcode": sass,
                    "mix": "",
                    "claim": claim,
                    "static_instruction": static,
                    "rep": rep,
                    "throttled": False,
                }
            )
        lat["points"].append({"axes": {"op": op}, "samples": samples, "summary": None})
    thr = new_document(catalogue.get("instructions.throughput"), {"ops": "ffma,dfma,imad"}, "gpu", env)
    peaks = {"ffma": 127.5, "dfma": 40.0, "imad": 64.0}
    for op, (sass, claim, static, _) in true_lat.items():
        for p in _curve(peak=peaks[op], half_at=4, warps=(1, 4, 16, 64)):
            samples = [
                {
                    "results_per_clk_per_sm": float(v),
                    "ops_per_clk_per_sm": float(v),
                    "sass_opcode": sass,
                    "mix": "",
                    "claim": claim,
                    "static_instruction": static,
                    "throttled": False,
                }
                for v in p["values"]
            ]
            thr["points"].append(
                {
                    "axes": {"op": op, "ilp": p["ilp"], "warps_per_sm": p["warps_per_sm"]},
                    "samples": samples,
                    "summary": None,
                }
            )
    data = tmp_path / "synthetic-h100" / "data"
    for doc in (lat, thr):
        doc.update(outcome="ok", finished_at=doc["started_at"])
        io.save(doc, data / f"{doc['probe']['name']}.json")
    return data


def test_table_from_stored_results(tmp_path):
    from probes.results import io

    data = _docs(tmp_path)
    frame = A.instruction_table(io.load_dir(data))
    rows = {r["instruction"]: r for r in frame.to_dict("records")}
    assert set(rows) == {"ffma", "dfma", "imad"}
    ffma, dfma, imad = rows["ffma"], rows["dfma"], rows["imad"]
    assert ffma["latency CI low"] <= 4.0 <= ffma["latency CI high"]
    assert ffma["label"] == "documented & matches" and ffma["documented [results/clk/SM]"] == 128.0
    assert "Programming Guide" in ffma["documented source"]
    assert ffma["static latency [cycles]"] == 4.0  # ptxas's schedule for fma.rn.f32 on sm_90
    assert ffma["static differs"] is False and dfma["static differs"] is False
    assert imad["label"] == "undocumented" and imad["documented source"] == ""
    fp64 = C.documented("fp64", (9, 0))  # the registry has no 9.0 FP64 value (yet)
    assert dfma["label"] == ("undocumented" if fp64 is None else "documented & differs")
    paths = A.write_table(frame, tmp_path / "out")
    assert [p.suffix for p in paths] == [".csv", ".md", ".png"] and all(p.stat().st_size > 0 for p in paths)
    md = paths[1].read_text()
    assert md.count("\n") == 2 + 3 and "| ffma | fma.rn.f32 | FFMA |" in md


def test_scheduled_columns_come_from_the_variant_atlas_by_key(tmp_path):
    """ptxas's schedule sits beside every measured op, joined by the op's variant key (stored with its samples;
    for older results the key of the op's row): issue interval as well as latency."""
    from probes.results import io

    frame = A.instruction_table(io.load_dir(_docs(tmp_path)))
    rows = {r["instruction"]: r for r in frame.to_dict("records")}
    assert rows["imad"]["variant"] == "mad.lo.u32"  # the PTX the step runs (not the atlas's mad.lo.s32)
    for op in ("ffma", "dfma", "imad"):
        want = A.scheduled(rows[op]["variant"], "sm_90")
        assert want["latency_class"] == "fixed" and want["interval"] is not None
        assert rows[op]["static latency class"] == "fixed"
        assert rows[op]["static issue interval [cycles]"] == want["interval"]
    assert A.scheduled("fma.rn.f32", "sm_89")["latency_class"] == "fixed"  # the variant atlas covers every target
    assert A.scheduled("fma.rn.f32", "sm_1") == {"latency_class": None, "latency": None, "interval": None}
    assert A.scheduled("", "sm_90")["latency"] is None and A.scheduled("no.such.variant", "sm_90")["latency"] is None
    assert A.variant_of("ffma", {"variant": "fma.rn.ftz.f32"}) == "fma.rn.ftz.f32"  # the stored key wins
    assert A.variant_of("retired_op", {}) == ""


def test_report_section_labels_latency_undocumented_and_throughput_against_the_guide(tmp_path):
    from probes.report.sections import instructions as S
    from probes.results import io

    docs = io.load_dir(_docs(tmp_path))
    for d in docs:
        d["_file"] = "data/x.json"
    sec = S.section(docs)
    by_title = {f.title: f for f in sec.findings}
    assert by_title["FFMA latency (ffma)"].label == "undocumented"
    assert by_title["FFMA throughput (ffma)"].label == "documented & matches"
    assert by_title["FFMA throughput (ffma)"].documented.startswith("128 results/clk/SM")
    assert by_title["IMAD throughput (imad)"].label == "undocumented"
    import matplotlib.pyplot as plt

    plt.close("all")


def test_conditions_name_memory_sharing_barrier_block_and_flop():
    assert A.conditions({}) == ""  # results stored before these fields
    assert A.conditions({"memory": "shared", "contended": True}) == "shared memory, all 32 lanes of a warp on one word"
    assert A.conditions({"memory": "global", "contended": False}).endswith("each lane its own word")
    assert "block of 4 warps" in A.conditions({}, {"block_warps": 4})
    assert "FLOP" in A.conditions({"result_unit": "FLOP"})


def test_mma_and_atomic_rows_carry_their_units_and_conditions_into_the_report(tmp_path):
    """Synthetic stored results (tmp only) for mma_f16, a contended shared atomic and bar.sync."""
    from probes import catalogue
    from probes.engine.measure import new_document
    from probes.report.sections import instructions as S
    from probes.results import io

    env = {"gpu_name": "Synthetic H100", "gpu_slug": "synthetic-h100", "compute_capability": [9, 0], "sm_count": 132}
    extra = {
        "mma_f16": {"result_unit": "FLOP", "sass_opcode": "HMMA.16816.F32"},
        "atom_shared_add_contended": {"memory": "shared", "contended": True, "sass_opcode": "ATOMS.ADD"},
        "bar_sync": {"sass_opcode": "BAR.SYNC", "block_warps": 4},
    }
    ops = ",".join(extra)
    lat = new_document(catalogue.get("instructions.latency"), {"ops": ops, "iterations": 64}, "gpu", env)
    thr = new_document(catalogue.get("instructions.throughput"), {"ops": ops}, "gpu", env)
    for op, fields in extra.items():
        base = {"mix": "", "claim": "", "static_instruction": "", "throttled": False, **fields}
        lat["points"].append(
            {
                "axes": {"op": op},
                "samples": [
                    {
                        "cycles_per_op": 30.0 + r,
                        "cycles_n": 100 + 30.0 * 1024,
                        "cycles_2n": 100 + (60.0 + r) * 1024,
                        "steps": 1024,
                        "rep": r,
                        **base,
                    }
                    for r in range(5)
                ],
                "summary": None,
            }
        )
        for p in _curve(peak=1024.0, half_at=4, warps=(1, 4, 16)):
            thr["points"].append(
                {
                    "axes": {"op": op, "ilp": p["ilp"], "warps_per_sm": p["warps_per_sm"]},
                    "samples": [
                        {"results_per_clk_per_sm": float(v), "ops_per_clk_per_sm": float(v), **base}
                        for v in p["values"]
                    ],
                    "summary": None,
                }
            )
    data = tmp_path / "synthetic-h100" / "data"
    for doc in (lat, thr):
        doc.update(outcome="ok", finished_at=doc["started_at"])
        io.save(doc, data / f"{doc['probe']['name']}.json")
    docs = io.load_dir(data)
    frame = A.instruction_table(docs)
    rows = {r["instruction"]: r for r in frame.to_dict("records")}
    assert rows["mma_f16"]["result unit"] == "FLOP" and rows["bar_sync"]["result unit"] == "results"
    assert "block of 4 warps" in rows["bar_sync"]["conditions"]
    assert "one word" in rows["atom_shared_add_contended"]["conditions"]
    # the ops the old name join missed (atomics, bar.sync, mma) now have ptxas's schedule beside them
    assert {op: rows[op]["variant"] for op in extra} == {
        "mma_f16": "mma.sync.m16n8k16.f32.f16",
        "atom_shared_add_contended": "atom.shared.add",
        "bar_sync": "bar.sync",
    }
    assert all(rows[op]["static latency class"] for op in extra)
    findings = {f.title: f for f in S.findings_of(frame, docs)}
    assert findings["HMMA.16816.F32 throughput (mma_f16)"].unit == "FLOP/clk/SM"
    assert findings["HMMA.16816.F32 throughput (mma_f16)"].label == "undocumented"
    assert "all 32 lanes" in findings["ATOMS.ADD latency (atom_shared_add_contended)"].evidence
