"""Per-GPU reports and the cross-GPU comparison, from synthetic results in tmp_path and fake report sections.

Nothing here is a measurement: the fixtures are made-up documents, built into temporary folders only.
"""

from __future__ import annotations

import re
import types
from html.parser import HTMLParser
from pathlib import Path

import pytest

from probes.report import build, compare, sections
from probes.report.sections import Figure as FigureBlock
from probes.report.sections import Finding, Paragraph, Section, Table
from probes.results import io
from probes.results.schema import SCHEMA_VERSION

EVIL = "<script>alert(1)</script>"
ROOT = Path(__file__).resolve().parents[1]


# ---- synthetic data and fake sections ----------------------------------------------------------------------------


def make_doc(
    name: str,
    gpu: str,
    medians: dict,
    backend: str = "gpu",
    half_ci: float = 1.0,
    outcome: str = "ok",
    throttled_every: int = 0,
) -> dict:
    points = []

    def flagged(k):
        return bool(throttled_every and k % throttled_every == 0)

    for fp, med in medians.items():
        samples = [
            {
                "cycles_per_op": med + d,
                "sm_mhz_before": 1755 - k,
                "sm_mhz_after": 1755 + k,
                "throttled": flagged(k),
                "rep": k,
                "index": 0,
                "flags": "throttle:hw_slowdown,clock_change" if flagged(k) else "",
            }
            for k, d in enumerate((-0.5, 0.0, 0.5))
        ]
        points.append(
            {
                "axes": {"footprint_bytes": fp},
                "samples": samples,
                "summary": {
                    "median": med,
                    "ci_low": med - half_ci,
                    "ci_high": med + half_ci,
                    "n": 3,
                    "n_throttled": 0,
                    "stop_reason": "ci<=1%",
                },
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "probe": {
            "name": name,
            "version": "abc",
            "params": {},
            "unit": "cycles",
            "method": "synthetic `chase`",
            "value_key": "cycles_per_op",
        },
        "backend": backend,
        "outcome": outcome,
        "environment": {
            "gpu_name": gpu,
            "compute_capability": [9, 0],
            "sm_count": 132,
            "driver_version": "999.1",
            "cuda_driver_version": "13.0",
            "versions": {"numba": "0.68.1", "gpu-probes": "0.1.0"},
        },
        "started_at": "2026-11-20T10:00:00+00:00",
        "finished_at": "2026-11-21T02:00:00+00:00",
        "points": points if outcome == "ok" else [],
        "error": None if outcome == "ok" else {"reason": "too big"},
    }


def write_gpu(
    reports: Path,
    slug: str,
    gpu: str,
    ladder_medians: dict | None = None,
    backend: str = "gpu",
    half_ci: float = 1.0,
    extra: tuple = (),
) -> Path:
    data = reports / slug / "data"
    medians = ladder_medians or {1024: 30.0, 1 << 20: 250.0}
    io.save(
        make_doc("latency.ladder.global", gpu, medians, backend, half_ci, throttled_every=2),
        data / "latency.ladder.global.json",
    )
    for doc in extra:
        io.save(doc, data / f"{doc['probe']['name']}.json")
    return reports / slug


def _ladder_section(docs):
    import matplotlib.pyplot as plt
    import pandas as pd

    doc = docs[0]
    rows = [
        {
            "footprint [bytes]": p["axes"]["footprint_bytes"],
            "latency [cycles]": p["summary"]["median"],
            "note": doc["environment"]["gpu_name"],
        }
        for p in doc["points"]
    ]
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([r["footprint [bytes]"] for r in rows], [r["latency [cycles]"] for r in rows], "o-")
    ax.set_xscale("log", base=2)
    ax.set_title(doc["environment"]["gpu_name"])
    findings = []
    for p, title, label, surprise in zip(
        doc["points"], ("L1 latency", f"L2 latency {EVIL}"), ("documented & matches", "undocumented"), (0.1, 2.0)
    ):
        s = p["summary"]
        findings.append(
            Finding(
                "fakeladder",
                title,
                s["median"],
                "cycles",
                label,
                "Plateau of the synthetic ladder.",
                ci=(s["ci_low"], s["ci_high"]),
                surprise=surprise,
                figure="fakeladder-curve",
                data=(doc["_file"],),
            )
        )
    return Section(
        "fakeladder",
        "Fake ladder",
        [
            Paragraph("Walks a `chase` over footprints."),
            Table(pd.DataFrame(rows), caption="plateaus"),
            FigureBlock("fakeladder-curve", fig, "latency vs footprint"),
        ],
        findings,
    )


def _ladder_compare(docs_by_gpu):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    for gpu, docs in docs_by_gpu.items():
        pts = docs[0]["points"]
        ax.plot([p["axes"]["footprint_bytes"] for p in pts], [p["summary"]["median"] for p in pts], label=gpu)
    return [FigureBlock("fakeladder-overlay", fig, "ladders overlaid")]


def _unused_section(docs):
    raise AssertionError("a family without data must not be called")


LADDER = types.SimpleNamespace(
    FAMILY="fakeladder",
    TITLE="Fake ladder",
    PREFIXES=("latency.ladder.",),
    ORDER=10,
    section=_ladder_section,
    compare=_ladder_compare,
)
HINTS = types.SimpleNamespace(
    FAMILY="fakehints", TITLE="Fake cache hints", PREFIXES=("cache.hints.",), ORDER=40, section=_unused_section
)


@pytest.fixture
def fake_families(monkeypatch):
    monkeypatch.setattr(sections, "families", lambda: (LADDER, HINTS))


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.starts, self.ends, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.starts.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        self.ends.append(tag)

    def handle_data(self, data):
        self.text.append(data)


def _summary_rows(md: str) -> list[str]:
    part = md.split(f"## {build.SUMMARY_TITLE}")[1].split("\n## ")[0]
    return [line for line in part.splitlines() if re.match(r"\| \d+ \|", line)]


# ---- per-GPU report ----------------------------------------------------------------------------------------------


def test_every_summary_finding_links_to_existing_data_and_figure_with_its_ci(tmp_path, fake_families):
    folder = write_gpu(tmp_path, "gpu-a", "GPU A")
    written = build.build_reports(tmp_path)
    assert written == [folder / "README.md", folder / "index.html"]
    rows = _summary_rows((folder / "README.md").read_text())
    assert len(rows) == 2
    assert "undocumented" in rows[0] and "documented & matches" in rows[1]  # gaps first, then matches
    for row in rows:
        links = re.findall(r"\]\(([^)]+)\)", row)
        assert any(link.startswith("data/") for link in links)
        assert all((folder / link).is_file() for link in links)  # the data file and the figure PNG exist
        assert re.search(r"\| \d+(\.\d+)? – \d+(\.\d+)? \|", row)  # the CI is rendered
    assert "| 249 – 251 |" in rows[0] and "| 29 – 31 |" in rows[1]


def test_html_is_self_contained_parses_and_escapes_every_input(tmp_path, fake_families):
    folder = write_gpu(tmp_path, "gpu-a", f"GPU {EVIL}")  # in the GPU name, a finding title and a table cell
    build.build_reports(tmp_path)
    page = (folder / "index.html").read_text()
    parser = _Tags()
    parser.feed(page)
    parser.close()
    assert [t for t, _ in parser.starts].count("script") == 1  # only the table sorter
    assert EVIL not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert EVIL in "".join(parser.text)  # shown to the reader as text
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing fetched from elsewhere
    imgs = [a for t, a in parser.starts if t == "img"]
    assert imgs and all(a["src"].startswith("data:image/svg+xml;base64,") for a in imgs)
    assert any(t == "table" and a.get("class") == "sortable" for t, a in parser.starts)
    assert "249 – 251" in page
    md = (folder / "README.md").read_text()
    assert "<script" not in md and "&lt;script>alert(1)&lt;/script>" in md


def test_summary_puts_documentation_gaps_first_then_the_most_surprising():
    def f(title, label, surprise):
        return Finding("x", title, 1.0, "cycles", label, "e.", ci=(0.5, 1.5), surprise=surprise, data=("data/a.json",))

    sec = Section(
        "x",
        "X",
        [],
        [
            f("match", "documented & matches", 9.0),
            f("small", "undocumented", 0.1),
            f("big", "documented & differs", 3.0),
        ],
    )
    grid = build.summary_blocks([build.FamilyResult("x", "X", 10, sec)])[-1]
    assert [row[1][0] for row in grid.rows] == ["big", "small", "match"]


def test_family_without_data_is_not_measured_and_not_called(tmp_path, fake_families):
    skipped = make_doc("cache.hints.residency", "GPU A", {}, outcome="skipped")
    folder = write_gpu(tmp_path, "gpu-a", "GPU A", extra=(skipped,))
    build.build_reports(tmp_path)
    md = (folder / "README.md").read_text()
    hints = md.split("## Fake cache hints")[1].split("\n## ")[0]
    assert build.NOT_MEASURED in hints and "cache.hints.residency (skipped: too big)" in hints
    assert "Not measured on this GPU" in (folder / "index.html").read_text()


def test_probe_without_a_section_is_shown_with_its_raw_points(tmp_path, fake_families):
    other = make_doc("instructions.latency.fma", "GPU A", {64: 4.0})
    folder = write_gpu(tmp_path, "gpu-a", "GPU A", extra=(other,))
    md = build.gpu_report(folder)
    assert "## Other measurements" in md and "### instructions.latency.fma (ok)" in md
    assert "latency.ladder.global (ok)" not in md  # claimed by its section


def test_provenance_reports_clocks_throttling_dates_and_versions(tmp_path, fake_families):
    folder = write_gpu(tmp_path, "gpu-a", "GPU A")
    prov = build.gpu_report(folder).split("## Provenance")[1]
    assert "1753 / 1755 / 1757 MHz (min / median / max of 12 readings)" in prov
    assert "throttle events: 4 of 6 samples flagged (clock_change: 4, throttle: 4)" in prov
    assert "campaign date: 2026-11-20 to 2026-11-21" in prov
    assert "schema version: 1" in prov and "numba 0.68.1" in prov and "`make campaign`" in prov


def test_building_twice_gives_byte_identical_files(tmp_path, fake_families):
    folder = write_gpu(tmp_path, "gpu-a", "GPU A")
    write_gpu(tmp_path, "gpu-b", "GPU B", {1024: 31.0, 1 << 20: 400.0})

    def snapshot():
        build.build_reports(tmp_path)
        build.build_comparison(tmp_path)
        return {p: p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file() and "data" not in p.parts}

    first = snapshot()
    assert {
        folder / "README.md",
        folder / "index.html",
        folder / "fakeladder-curve.png",
        tmp_path / "README.md",
        tmp_path / "compare" / "fakeladder-overlay.png",
    } <= set(first)
    assert snapshot() == first


def test_finding_without_data_links_to_every_file_its_section_read(tmp_path, monkeypatch):
    def vague(docs):
        return Section("vague", "Vague", [], [Finding("vague", "x", 1.0, "cycles", "undocumented", "e.")])

    monkeypatch.setattr(
        sections,
        "families",
        lambda: (types.SimpleNamespace(FAMILY="vague", TITLE="Vague", PREFIXES=("latency.",), ORDER=1, section=vague),),
    )
    folder = write_gpu(tmp_path, "gpu-a", "GPU A", extra=(make_doc("latency.tlb", "GPU A", {4096: 500.0}),))
    (row,) = _summary_rows(build.gpu_report(folder))
    assert "(data/latency.ladder.global.json)" in row and "(data/latency.tlb.json)" in row and "| no CI |" in row


def test_section_citing_missing_data_fails_with_one_line(tmp_path, monkeypatch):
    def bad(docs):
        return Section(
            "bad", "Bad", [], [Finding("bad", "x", 1.0, "cycles", "undocumented", "e.", data=("data/nope.json",))]
        )

    monkeypatch.setattr(
        sections,
        "families",
        lambda: (types.SimpleNamespace(FAMILY="bad", TITLE="Bad", PREFIXES=("latency.",), ORDER=1, section=bad),),
    )
    write_gpu(tmp_path, "gpu-a", "GPU A")
    with pytest.raises(build.ReportError, match=r"cites data/nope\.json, which is not a file") as err:
        build.build_reports(tmp_path)
    assert "\n" not in str(err.value)


# ---- simulated results -------------------------------------------------------------------------------------------


def test_simulated_results_are_refused_unless_allowed_in_a_temporary_folder(tmp_path, fake_families):
    folder = write_gpu(tmp_path, "sim", "Numba CUDA simulator", backend="simulator")
    with pytest.raises(build.PublishError, match="cannot be published"):
        build.build_reports(tmp_path)
    with pytest.raises(build.PublishError, match="cannot be published"):
        build.build_comparison(tmp_path)
    build.build_reports(tmp_path, allow_simulated=True)
    assert "Simulated results: test output, not measurements" in (folder / "README.md").read_text()
    md = build.build_comparison(tmp_path, allow_simulated=True).read_text()
    assert "| Numba CUDA simulator |" in md and "Simulated results: test output, not measurements" in md


def test_allow_simulated_is_refused_for_the_repository_reports_folder():
    repo = ROOT / "reports"
    for call in (
        lambda: build.build_reports(repo, allow_simulated=True),
        lambda: build.build_comparison(repo, allow_simulated=True),
        lambda: build.load_published(repo / "some-gpu" / "data", allow_simulated=True),
    ):
        with pytest.raises(build.PublishError, match="publishes measurements only"):
            call()


# ---- comparison --------------------------------------------------------------------------------------------------


def test_comparison_flags_a_difference_only_where_cis_are_disjoint(tmp_path, fake_families):
    write_gpu(tmp_path, "gpu-a", "GPU A", {1024: 30.0, 1 << 20: 250.0})
    write_gpu(tmp_path, "gpu-b", "GPU B", {1024: 31.0, 1 << 20: 400.0})  # L1 CIs overlap, L2 CIs do not
    md = build.build_comparison(tmp_path).read_text()
    assert "[README.md](gpu-a/README.md)" in md and "[HTML](gpu-b/index.html)" in md
    (l1,) = [line for line in md.splitlines() if line.startswith("| L1 latency |")]
    (l2,) = [line for line in md.splitlines() if line.startswith("| L2 latency")]
    assert l1 == "| L1 latency | 30 cycles (29–31) | 31 cycles (30–32) | – |"
    assert "250 cycles (249–251)" in l2 and "400 cycles (399–401)" in l2 and l2.endswith("| **differs** |")
    assert "![ladders overlaid](compare/fakeladder-overlay.png)" in md
    assert "Fake cache hints" not in md  # no GPU measured it: no empty table
    assert "## Published by other projects" in md


def test_difference_needs_cis_in_the_same_unit():
    def f(lo, hi, unit="cycles"):
        return Finding("x", "t", 1.0, unit, "undocumented", "e.", ci=(lo, hi) if lo is not None else None)

    assert compare.differs([f(1, 2)]) == ""
    assert compare.differs([f(1, 2), f(3, 4)]) == "differs"
    assert compare.differs([f(1, 3), f(2, 4), f(2.5, 5)]) == "–"
    assert compare.differs([f(1, 2), f(None, None)]) == "no CI"
    assert compare.differs([f(1, 2), f(3, 4, "ns")]) == "units differ"


def test_comparison_without_gpu_data_is_the_committed_readme(tmp_path):
    """`make` rebuilds reports/README.md; with no GPU data it must not change a byte."""
    assert build.build_comparison(tmp_path).read_bytes() == (ROOT / "reports" / "README.md").read_bytes()


def test_report_builder_imports_no_cuda():
    import subprocess
    import sys

    code = (
        "import sys, probes.report.build, probes.report.html; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('numba', 'cuda', 'pynvml')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_byte_quantities_keep_the_exact_count_first():
    from probes.report.render import fmt_quantity

    assert fmt_quantity(126532, "bytes") == "126532 bytes (123.6 KiB)"
    assert fmt_quantity(30.0, "cycles") == "30 cycles"
