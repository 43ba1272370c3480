"""Validation of bandwidth-level detection on bandwidth ladders published by gpu-benches (gpu-l2-cache).

`build_validation(peer_dir, out_dir)` reads ../shared/peer-data/bw_ladder_gpubenches_l2cache.csv (never committed
here), detects the levels of each GPU's ladder with probes.analysis.bandwidth, scores them against hand readings of
the same data (below) and writes out_dir/bandwidth.md plus one figure per GPU (bandwidth-<gpu>.png), each file
written to a temporary name and moved into place. Every number in it was measured and published by gpu-benches;
the "ours" columns are our analysis of that published data, not our measurements.

Tolerances (issue 25): the same number of levels as the reading; each plateau within 3 % of the reading's value;
the working-set interval where the L2 plateau ends (end_bytes_low..end_bytes_high) inside the reading's bracket.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from probes.analysis import bw_importers, bw_plots
from probes.analysis.bandwidth import BandwidthLevel, BandwidthParams, detect_levels
from probes.analysis.formatting import fmt_bytes, md_table, slug
from probes.analysis.validation import tally
from probes.results.io import write_atomic

FILE = "bw_ladder_gpubenches_l2cache.csv"
GB_L2 = "RRZE-HPC/gpu-benches"
PLATEAU_TOL = 0.03
KiB, MiB, GiB = 1024.0, 1024.0**2, 1024.0**3
READING_METHOD = (
    "read by inspection of the published points (gpu-probes, not the source): each plateau is the "
    "median over the flat stretch named beside it, [min-max] over those points; the L2 end bracket "
    "is the last point at or above 0.9x the L2 reading and the first point below it"
)


@dataclass(frozen=True)
class Reading:
    gpu: str
    source: str
    levels: tuple[tuple[str, float, float, float, float, float], ...]  # name, value, min, max, from, to (bytes)
    l2_end: tuple[float, float]  # bracket (bytes)

    def names(self) -> list[str]:
        return [lv[0] for lv in self.levels]


READINGS: tuple[Reading, ...] = (
    Reading(
        "A100-SXM4-80GB",
        f"{GB_L2}@3088b3337998d1d9fff53c7af665f587af83a178:gpu-l2-cache/a100_80.txt",
        (
            ("L2", 5410.85, 5264.0, 5481.9, 2048 * KiB, 25600 * KiB),
            ("DRAM", 1731.1, 1727.5, 1739.4, 727552 * KiB, 4881920 * KiB),
        ),
        (28160 * KiB, 30720 * KiB),
    ),
    Reading(
        "H100 PCIe",
        f"{GB_L2}@f54baaa60a142990dbaa3ad1fa3eaefa67595e46:gpu-l2-cache/h100_pcie.txt",
        (
            ("L2", 6981.9, 6847.1, 7130.2, 4096 * KiB, 36864 * KiB),
            ("DRAM", 1988.5, 1979.5, 2019.4, 69632 * KiB, 2071552 * KiB),
        ),
        (36864 * KiB, 40448 * KiB),
    ),
)


def _human(b: float | None) -> str:
    return fmt_bytes(b, none="–")


def score(reading: Reading, levels: list[BandwidthLevel]) -> list[dict]:
    """One row per tolerance: check, ours, reading, ok, detail."""
    names = [lv.name for lv in levels]
    rows = [
        {
            "check": "levels",
            "ours": ", ".join(names) or "none",
            "reading": ", ".join(reading.names()),
            "ok": names == reading.names(),
            "detail": f"{len(names)} vs {len(reading.levels)}",
        }
    ]
    by_name = {lv.name: lv for lv in levels}
    for name, value, *_ in reading.levels:
        lv = by_name.get(name)
        rel = (lv.bandwidth_GBps - value) / value if lv else None
        rows.append(
            {
                "check": f"{name} plateau (±3 %)",
                "ours": _fmt(lv),
                "reading": f"{value:g}",
                "ok": rel is not None and abs(rel) <= PLATEAU_TOL,
                "detail": f"{rel:+.2%}" if rel is not None else "level missing",
            }
        )
    lv = by_name.get("L2")
    lo, hi = reading.l2_end
    ok = lv is not None and lv.end_bytes_low is not None and lo <= lv.end_bytes_low and lv.end_bytes_high <= hi
    rows.append(
        {
            "check": "L2 end inside the bracket",
            "ours": f"{_human(lv.end_bytes_low)} – {_human(lv.end_bytes_high)}" if lv and lv.end_bytes_low else "–",
            "reading": f"{_human(lo)} – {_human(hi)}",
            "ok": ok,
            "detail": "inside" if ok else "outside or missing",
        }
    )
    return rows


def _fmt(lv: BandwidthLevel | None) -> str:
    return "–" if lv is None else f"{lv.bandwidth_GBps:.1f} [{lv.bandwidth_ci_low:.1f}, {lv.bandwidth_ci_high:.1f}]"


def detect_all(peer_dir: Path, params: BandwidthParams | None = None):
    df = bw_importers.read_tidy_csv(Path(peer_dir) / FILE)
    out = []
    for reading in READINGS:
        d = df[df["gpu"] == reading.gpu]
        out.append((reading, d, detect_levels(d["working_set_bytes"], d["bandwidth_GBps"], params)))
    return out


def build_validation(peer_dir: Path, out_dir: Path) -> Path:
    """Write out_dir/bandwidth.md and out_dir/bandwidth-<gpu>.png; return the Markdown path."""
    params = BandwidthParams()
    out_dir = Path(out_dir)
    summary, sections, all_ok = [], [], True
    for reading, d, levels in detect_all(peer_dir, params):
        checks = score(reading, levels)
        ok = all(c["ok"] for c in checks)
        all_ok &= ok
        png = f"bandwidth-{slug(reading.gpu)}.png"
        bw_plots.plot_bandwidth(
            d["working_set_bytes"],
            d["bandwidth_GBps"],
            levels,
            out_dir / png,
            title=f"{reading.gpu}: gpu-l2-cache read bandwidth (data published by {reading.source.split('@')[0]})",
            reference=[(f"reading {n} {v:g}", v, (a, b)) for n, v, _lo, _hi, a, b in reading.levels],
        )
        summary.append(
            {
                "GPU": reading.gpu,
                "levels": ", ".join(f"{lv.name} {lv.bandwidth_GBps:.0f}" for lv in levels),
                **tally(checks),
            }
        )
        sections.append(
            "\n".join(
                [
                    f"### {reading.gpu}",
                    "",
                    f"Data published by `{reading.source}` (read from ../shared/peer-data, not committed here).",
                    "",
                    md_table(
                        [
                            {
                                "level": lv.name,
                                "bandwidth (GB/s) [95 % CI]": _fmt(lv),
                                "ends between": (
                                    f"{_human(lv.end_bytes_low)} – {_human(lv.end_bytes_high)}"
                                    if lv.end_bytes_low is not None
                                    else "–"
                                ),
                                "plateau points": lv.n_points,
                                "plateau core": f"{_human(lv.plateau_bytes_low)} – {_human(lv.plateau_bytes_high)}",
                            }
                            for lv in levels
                        ],
                        ["level", "bandwidth (GB/s) [95 % CI]", "ends between", "plateau points", "plateau core"],
                    ),
                    "",
                    "Reading of the same data (by inspection):",
                    "",
                    md_table(
                        [
                            {
                                "level": n,
                                "reading (GB/s)": f"{v:g} [{lo:g}–{hi:g}]",
                                "flat stretch": f"{_human(a)} – {_human(b)}",
                            }
                            for n, v, lo, hi, a, b in reading.levels
                        ],
                        ["level", "reading (GB/s)", "flat stretch"],
                    ),
                    "",
                    f"L2 end bracket: {_human(reading.l2_end[0])} – {_human(reading.l2_end[1])}.",
                    "",
                    "Against the reading:",
                    "",
                    md_table(checks, ["check", "ours", "reading", "ok", "detail"]),
                    "",
                    f"![{reading.gpu} bandwidth ladder]({png})",
                    "",
                ]
            )
        )
    p = params.describe()
    text = "\n".join(
        [
            "# Validation of bandwidth-level detection on published real-GPU data",
            "",
            "Generated by `probes.analysis.bw_validation.build_validation` (`make validate`) from "
            f"../shared/peer-data/{FILE}. The data points were measured and published by gpu-benches (gpu-l2-cache: "
            "200 000 blocks of 1024 threads, each reading a 512 KiB chunk of doubles; working set = 512 KiB x blockRun "
            "distinct chunks; host timer, minimum of 11 runs); the *ours* columns are gpu-probes' analysis of that "
            "published data, not our own measurements.",
            "",
            f"Detection: {p['name']}; parameters: " + ", ".join(f"{k}={v}" for k, v in p.items() if k != "name") + ".",
            "",
            "Tolerances (issue 25): same number of levels as the reading; each plateau within 3 % of the reading; the "
            "working-set interval where the L2 plateau ends (end_bytes_low – end_bytes_high: the last point still "
            "served by L2 and the first measurably served by DRAM) inside the reading's bracket.",
            "",
            f"Readings: {READING_METHOD}.",
            "",
            "## Summary",
            "",
            md_table(summary, ["GPU", "levels", "checks passed", "verdict"]),
            "",
            f"All tolerances met: **{'yes' if all_ok else 'no'}**.",
            "",
            "## Per ladder",
            "",
            *sections,
        ]
    )
    write_atomic(out_dir / "bandwidth.md", text)
    return out_dir / "bandwidth.md"
