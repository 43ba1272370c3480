"""Cache-hint analysis on synthetic samples (no CUDA): band classification, Holm, effects, verdict join, and the
hint table / report section built from results files written in tmp_path."""

import re
import sys

import numpy as np
import pytest

from probes import catalogue
from probes.analysis import hints as A
from probes.engine.measure import new_document
from probes.results import io

BANDS = {"L1": 30.0, "L2": 250.0, "HBM": 600.0}


@pytest.mark.parametrize(
    "latency, level",
    [(31, "L1"), (240, "L2"), (620, "HBM"), (87, "inconclusive"), (390, "inconclusive"), (0, "inconclusive")],
)
def test_classify_against_the_runs_bands(latency, level):
    assert A.classify(latency, BANDS) == level


def test_classify_refuses_bands_it_cannot_tell_apart():
    assert A.classify(30, {"L1": 30.0, "L2": 32.0}) == "inconclusive"


def test_survived_fraction_between_resident_and_evicted_bands():
    assert A.survived(30, 30, 250) == 1.0 and A.survived(250, 30, 250) == 0.0
    assert A.survived(140, 30, 250) == pytest.approx(0.5)
    assert A.survived(100, 30, 31) is None  # bands not distinct: no fraction claimed


def test_holm_step_down():
    adj = A.holm({"a": 0.01, "b": 0.04, "c": 0.03})
    assert adj == pytest.approx({"a": 0.03, "c": 0.06, "b": 0.06})
    assert A.holm({"x": 0.6, "y": 0.7}) == pytest.approx({"x": 1.0, "y": 1.0})


def test_compare_finds_the_effect_and_the_no_effect_case():
    rng = np.random.default_rng(1)
    groups = {"none": rng.normal(30, 1, 40), "ca": rng.normal(30, 1, 40), "cg": rng.normal(250, 5, 40)}
    t = A.compare(groups).set_index("hint")
    assert bool(t.loc["cg", "effect"]) and t.loc["cg", "p_holm"] < 1e-6
    assert t.loc["cg", "cliffs_delta"] == pytest.approx(1.0)
    assert t.loc["cg", "ratio_ci_low"] > 7 and t.loc["cg", "ratio_ci_high"] < 9.5
    assert not bool(t.loc["ca", "effect"]) and t.loc["ca", "ratio_ci_low"] < 1 < t.loc["ca", "ratio_ci_high"]
    with pytest.raises(ValueError, match="no 'none' samples"):
        A.compare({"ca": [1.0]})


def test_verdict_join_with_the_static_atlas():
    sass, dropped = A.static_lowering("L1::evict_normal", "sm_90")
    assert sass == "LDG.E.64" and dropped is True  # atlas: same SASS as the plain load
    assert A.verdict(dropped, ["residency"], True, "L1::evict_normal") == "dropped at compile time"
    sass, dropped = A.static_lowering("cg", "sm_90")
    assert dropped is False
    assert A.verdict(dropped, [], True, "cg") == "kept in SASS but no measurable effect"
    assert A.verdict(dropped, ["residency"], True, "cg") == "measurable effect"
    assert A.verdict(False, [], True, "none") == "reference (plain access)"
    assert A.isa_agrees("cg", "L2") is True and A.isa_agrees("cs", "L2") is False
    assert A.isa_agrees("volatile", "L2") is None  # the ISA states no caching for strong loads
    assert A.isa_agrees("L1::evict_unchanged", "L1") is None  # "do not change the priority": allocation not stated
    assert A.isa_agrees("nc.L1::no_allocate", "L1") is False and A.isa_agrees("cg", "inconclusive") is None


def _doc(name, points, cc=(9, 0)):
    probe = catalogue.get(name)
    env = {"gpu_name": "Synthetic GPU", "compute_capability": list(cc), "l2_cache_bytes": 50 << 20}
    doc = new_document(probe, {}, "gpu", env)
    doc["outcome"] = "ok"
    for axes, rows in points:
        doc["points"].append(
            {
                "axes": axes,
                "samples": [dict(r, rep=i, index=0, throttled=False) for i, r in enumerate(rows)],
                "summary": None,
            }
        )
    return doc


def _write_results(folder):
    rng = np.random.default_rng(7)
    band = {"band_l1_cycles": 33.0, "band_l2_cycles": 260.0, "band_hbm_cycles": 640.0}
    lat = {"none": 33, "ca": 33, "cg": 260, "cs": 260}  # cs: the ISA says L1-allocating; here it is not
    draws = {h: rng.normal(v, 1, 20) for h, v in lat.items()}
    draws["ca"] = rng.permutation(draws["none"])  # the no-effect case: same values, another order
    l2 = rng.normal(260, 2, 20)
    res = [
        (
            {"hint": h},
            [
                dict(band, cycles_per_op=float(x), l2_reaccess_cycles=float(y))
                for x, y in zip(draws[h], rng.permutation(l2))
            ],
        )
        for h in lat
    ]
    bw = [
        (
            {"hint": h},
            [
                {"read_gbps": float(rng.normal(v, 5)), "copy_gbps": 2000.0, "fraction_of_copy": v / 2000.0}
                for _ in range(12)
            ],
        )
        for h, v in {"none": 1900.0, "cg": 1880.0}.items()
    ]
    pol = [
        (
            {"hint": h, "level": "l1"},
            [
                {"cycles_per_op": float(rng.normal(v, 1)), "band_l1_cycles": 33.0, "band_l2_cycles": 260.0}
                for _ in range(12)
            ],
        )
        for h, v in {"none": 260.0, "cs": 33.0}.items()
    ]
    st = [
        (
            {"hint": h},
            [
                {"stale_reads": s, "polls": 101, "stale_fraction": s / 100, "fresh_fraction": 1 - s / 100}
                for s in (0, 1, 0, 2)
            ],
        )
        for h, _ in {"none": 0, "cg": 0}.items()
    ]
    pe = [
        (
            {"window": w},
            [
                {
                    "cycles_per_op": float(rng.normal(v, 2)),
                    "band_l2_cycles": 260.0,
                    "band_hbm_cycles": 640.0,
                    "policy_applied": w == "persisting",
                }
                for _ in range(12)
            ],
        )
        for w, v in {"off": 640.0, "persisting": 260.0}.items()
    ]
    docs = [
        _doc("cache-hints.residency", res),
        _doc("cache-hints.bandwidth", bw),
        _doc("cache-hints.pollution", pol),
        _doc("cache-hints.staleness", st),
        _doc("cache-hints.persisting", pe),
    ]
    for i, doc in enumerate(docs):
        io.save(doc, folder / f"{i}.json")
    return folder


def test_hint_table_from_stored_results(tmp_path):
    docs = io.load_dir(_write_results(tmp_path / "synthetic" / "data"))
    t = A.hint_table(docs).set_index("hint")
    assert list(t.index) == ["none", "ca", "cg", "cs"]
    assert t.loc["none", "L1 residency"] == "L1" and t.loc["cg", "L1 residency"] == "L2"
    assert t.loc["cg", "L2 residency"] == "L2"
    assert t.loc["cg", "verdict"] == "measurable effect" and "residency" in t.loc["cg", "effects"]
    assert t.loc["ca", "verdict"] == "kept in SASS but no measurable effect"  # the no-effect case
    assert t.loc["cg", "ISA agrees"] == True and t.loc["cs", "ISA agrees"] == False  # noqa: E712
    assert t.loc["cs", "L1 victim survived [%]"] == pytest.approx(100, abs=2)
    assert t.loc["none", "L1 victim survived [%]"] == pytest.approx(0, abs=2)
    assert t.loc["none", "bandwidth [% of copy]"] == pytest.approx(95)
    assert t.loc["none", "stale reads"] == "3/400"
    assert "cache-operators" in t.loc["cg", "ISA source"] and "PTX ISA 9.1, §9.7.9.1" in t.loc["cg", "ISA source"]
    assert A.staleness_ci(3, 400)[0] < 3 / 400 < A.staleness_ci(3, 400)[1]
    (p,) = A.persisting_summary(docs).to_dict("records")
    assert p["survived off [%]"] == pytest.approx(0, abs=2)
    assert p["survived persisting [%]"] == pytest.approx(100, abs=2)
    assert p["window applied"] and p["measurable effect"] and p["p (Mann-Whitney)"] < 1e-3


def test_report_section_tables_figures_and_findings(tmp_path):
    from probes.report.sections import Figure, Table, families
    from probes.report.sections import cache_hints as S

    docs = io.load_dir(_write_results(tmp_path / "synthetic" / "data"))
    sec = S.section(docs)
    tables = [b for b in sec.blocks if isinstance(b, Table)]
    figures = [b.name for b in sec.blocks if isinstance(b, Figure)]
    assert tables and list(tables[0].frame.columns) == S.TABLE_COLUMNS
    assert figures == ["cache-hints-heatmap", "cache-hints-bandwidth"]
    isa = next(t.frame for t in tables if "PTX ISA" in t.frame.columns)  # every "ISA says" carries its source
    assert {"cg", "prefetch", "discard"} <= set(isa.hint) and isa.section.str.startswith("§").all()
    labels = {f.title.split(" on ")[0]: f.label for f in sec.findings}
    assert labels["cs"] == "documented & differs" and labels["cg"] == "undocumented"
    assert all(f.documented and "PTX ISA" in f.documented for f in sec.findings)
    cs = next(f for f in sec.findings if f.title.startswith("cs"))
    assert cs.unit.startswith("cycles") and cs.value == pytest.approx(260, abs=2)
    assert S in families()  # discovered by the report builder


def test_analysis_imports_no_cuda():
    import subprocess

    code = (
        "import sys, probes.analysis.hints, probes.report.sections.cache_hints; "
        "bad = [m for m in sys.modules if m.startswith(('numba.cuda', 'cuda', 'probes.catalogue'))]; "
        "assert not bad, bad"
    )  # the qualifier table is on the static floor: no catalogue module is needed
    subprocess.run([sys.executable, "-c", code], check=True)


SECTION_REF = re.compile(r"^§\d+(\.\d+)* [A-Za-z][^;§]*$")  # "§9.7.9.1 Cache Operators"


def _all_isa_rows():
    return [
        (table, hint, row)
        for table, rows in (("ld", A.ISA), ("st", A.STORE_ISA), ("related", A.ISA_RELATED))
        for hint, row in rows.items()
    ]


@pytest.mark.parametrize("table, hint, row", _all_isa_rows(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_isa_row_has_version_section_and_statement(table, hint, row):
    assert re.fullmatch(r"\d+\.\d+", row.version), row.version
    assert len(row.statement.split()) >= 5 and "\n" not in row.statement
    assert row.sections and all(k in A.SECTIONS for k in row.sections)
    for part in row.section.split("; "):
        assert SECTION_REF.match(part), part
    assert row.source.startswith(f"PTX ISA {row.version}, §") and "docs.nvidia.com" in row.source
    if row.l1_allocates is None and table != "related":  # silence about L1 is said, never filled in
        assert A.NOT_FOUND in row.statement
    else:
        assert A.NOT_FOUND not in row.statement


def test_isa_covers_every_hint_and_cites_consistent_sections():
    from probes.static import qualifiers as H

    assert set(A.ISA) == set(H.LOAD_HINTS) and set(A.STORE_ISA) == set(H.STORE_HINTS)
    numbers = [s.number for s in A.SECTIONS.values()]
    assert len(set(numbers)) == len(numbers)  # one number per section
    assert len({s.anchor for s in A.SECTIONS.values()}) == len(numbers)
    # The data-movement sections of one ISA version share one chapter number (7.6 used 9.7.8, 9.1 uses 9.7.9).
    assert {
        s.number.rsplit(".", 1)[0]
        for s in A.SECTIONS.values()
        if s.anchor.startswith("data-movement") or s.anchor.startswith("cache-")
    } == {"9.7.9"}
    frame = A.isa_table()
    assert len(frame) == len(A.ISA) + len(A.STORE_ISA) + len(A.ISA_RELATED)
    assert frame.section.str.match(r"^§\d").all() and (frame["PTX ISA"] == A.ISA_VERSION).all()
