"""Validation of level detection on real published ladders, and a stopping-rule benchmark on real per-load samples.

`build_validation(peer_dir, out_dir)` reads ../shared/peer-data (never committed here), detects the levels of every
ladder, scores them against the hand readings and the sources' own statements, runs the stopping-rule benchmark and
writes out_dir/README.md plus one plot per GPU (each file written to a temporary name, then moved into place).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from probes import verdicts as V
from probes.analysis import importers, plots
from probes.analysis.formatting import md_table, slug
from probes.analysis.levels import DetectionParams, Level, describe_sublevels, describe_transition, detect_levels
from probes.analysis.published import GPU_BENCHES_LATENCY, GPU_BENCHES_README, HOPPER_BENCH, LUO_2025
from probes.results.io import write_atomic
from probes.stats import FixedCount, MedianCI, StdRel, median_ci

LADDER_FILES = ("ladder_gpubenches_2023.csv", "ladder_hopperbench_random_latency.csv")
ASYNC_FILE = "ladder_kimbochen_async.csv"
ASYNC_SOURCE = "kimbochen/gpu-microbench@bd87adc (b200_tma @ 5eba80a):NewFeatures/TMA/Latency/mem_lat_random/data/"
KNOWN_SOURCE = (
    "../shared/peer-data/README.md, method notes on kimbochen/gpu-microbench: 'Known sizes for scoring: "
    "H200 L2 50 MiB in two partitions, L1/shared 256 KiB per SM; B200 L2 126.5 MiB as the driver reports "
    "it (two dies)'"
)
SAMPLES_FILE = "mt4g_latency_samples.csv"
READINGS_SOURCE = (
    "../shared/peer-data/README.md, section 'Reference readings of the visible ladders (by "
    "inspection, not source-reported)': medians over flat regions chosen by eye; edge brackets are the "
    "last point below and the first above 1.3x the L1 plateau (L1) or 1.1x the near-L2 plateau (L2)"
)
KiB, MiB = 1024.0, 1024.0**2
FLAT_TOL, FAR_TOL, WIDTH_FACTOR = 0.02, 0.05, 1.5


@dataclass(frozen=True)
class Reading:
    """One row of the reference-reading table (peer-data README); edges in bytes, far range in cycles."""

    dataset: str
    gpu: str
    l1: float
    l1_edge: tuple[float, float]
    l2: float
    l2_edge: tuple[float, float]
    far: tuple[float, float] | None
    dram: float
    source: str

    def expected_names(self) -> list[str]:
        return ["L1", "L2", "L2-far", "DRAM"] if self.far else ["L1", "L2", "DRAM"]


def _gb(gpu, file, l1, e1, l2, e2, far, dram):
    return Reading(
        "gpu-benches 2023",
        gpu,
        l1,
        (e1[0] * KiB, e1[1] * KiB),
        l2,
        (e2[0] * MiB, e2[1] * MiB),
        far,
        dram,
        GPU_BENCHES_LATENCY + file,
    )


def _hb(gpu, file, l1, e1, l2, e2, far, dram):
    return Reading(
        "Hopper-Benchmark",
        gpu,
        l1,
        (e1[0] * KiB, e1[1] * KiB),
        l2,
        (e2[0] * MiB, e2[1] * MiB),
        far,
        dram,
        HOPPER_BENCH + file,
    )


READINGS: tuple[Reading, ...] = (
    _gb("H100 PCIe", "h100_pcie.txt", 34.2, (216.6, 239.2), 265.5, (23.6, 25.9), (475.0, 475.0), 653.8),
    _gb("A100-SXM4-80GB", "a100_80.txt", 36.1, (144.9, 160.3), 211.0, (17.7, 19.5), (424.0, 424.0), 571.2),
    _gb("A100-SXM4-40GB", "a100_40.txt", 36.1, (144.9, 160.3), 213.0, (19.5, 21.4), (426.0, 426.0), 574.0),
    _gb("Tesla V100", "v100.txt", 30.0, (118.0, 131.0), 215.0, (5.6, 6.2), None, 432.7),
    _hb("H800 PCIe", "h800_pcie.txt", 32.2, (215.4, 227.9), 264.5, (24.7, 25.7), (463.0, 499.0), 654.2),
    _hb("A100 PCIe", "a100_pcie.txt", 32.7, (149.5, 159.4), 202.8, (19.5, 20.3), (393.0, 419.0), 565.0),
    _hb("RTX 4090", "rtx4090.txt", 36.1, (84.9, 90.2), 284.8, (69.5, 72.3), None, 571.4),
)


# --- what each source itself says (scored separately from the hand readings) ----------------------------------------


@dataclass(frozen=True)
class SourceClaim:
    gpu: str
    level: str
    quantity: str  # "latency" (cycles) or "capacity" (bytes; MB ambiguity handled by `decimal_too`)
    value: float
    source: str
    wording: str
    value_high: float | None = None
    decimal_too: bool = False  # the source prints MB/kB without saying 10^3 or 2^10: accept either
    why_differs: str = ""


_L1_CARVEOUT = (
    "the source's round number is the nominal L1/shared-memory array per SM; its own ladder leaves the L1 "
    "plateau earlier, most likely because part of the array stays reserved for shared memory (not tested "
    "here; a user reported ~146 KB on an A100, gpu-benches issue 8). Our interval follows the source's "
    "data, not its headline"
)
SOURCE_CLAIMS: tuple[SourceClaim, ...] = (
    SourceClaim(
        "H100 PCIe",
        "L1",
        "capacity",
        256 * KiB,
        GPU_BENCHES_README,
        "L1 transition at 256 kB",
        decimal_too=True,
        why_differs=_L1_CARVEOUT,
    ),
    SourceClaim(
        "A100-SXM4-80GB",
        "L1",
        "capacity",
        192 * KiB,
        GPU_BENCHES_README,
        "L1 transition at 192 kB",
        decimal_too=True,
        why_differs=_L1_CARVEOUT,
    ),
    SourceClaim(
        "A100-SXM4-40GB",
        "L1",
        "capacity",
        192 * KiB,
        GPU_BENCHES_README,
        "L1 transition at 192 kB",
        decimal_too=True,
        why_differs=_L1_CARVEOUT,
    ),
    SourceClaim(
        "Tesla V100",
        "L1",
        "capacity",
        128 * KiB,
        GPU_BENCHES_README,
        "L1 transition at 128 kB",
        decimal_too=True,
        why_differs=_L1_CARVEOUT,
    ),
    SourceClaim("H100 PCIe", "L2", "capacity", 25 * MiB, GPU_BENCHES_README, "segmented L2 2x25MB", decimal_too=True),
    SourceClaim(
        "A100-SXM4-80GB", "L2", "capacity", 20 * MiB, GPU_BENCHES_README, "segmented L2 2x20MB", decimal_too=True
    ),
    SourceClaim(
        "A100-SXM4-40GB", "L2", "capacity", 20 * MiB, GPU_BENCHES_README, "segmented L2 2x20MB", decimal_too=True
    ),
    SourceClaim("Tesla V100", "L2", "capacity", 6 * MiB, GPU_BENCHES_README, "6MB L2 cache", decimal_too=True),
    SourceClaim("H800 PCIe", "L1", "latency", 32.0, LUO_2025, "L1 32.0 cycles"),
    SourceClaim("H800 PCIe", "L2", "latency", 264.5, LUO_2025, "L2 264.5-502 cycles (near..far)"),
    SourceClaim("H800 PCIe", "L2-far", "latency", 502.0, LUO_2025, "L2 264.5-502 cycles (near..far)"),
    SourceClaim("H800 PCIe", "DRAM", "latency", 656.0, LUO_2025, "global memory 656 cycles"),
)


# --- scoring ---------------------------------------------------------------------------------------------------------


def _rel(ours: float, ref: float) -> float:
    return (ours - ref) / ref


def _capacity_check(level: Level | None, edge: tuple[float, float]) -> tuple[bool, str]:
    """A sharp transition: its interval overlaps the reading's edge bracket and is at most 1.5x as wide. A gradual
    one: its span (first rise .. next level reached) overlaps the bracket, because the bracket marks the 1.3x / 1.1x
    crossing, which lies inside the degrading region, not at its start where the interval now is."""
    if level is None or level.capacity_bytes_low is None:
        return False, "no capacity interval"
    lo, hi = level.capacity_bytes_low, level.capacity_bytes_high
    if level.transition == "gradual":
        s_lo, s_hi = level.span_bytes_low, level.span_bytes_high
        overlap = min(s_hi, edge[1]) - max(s_lo, edge[0])
        return overlap > 0, (
            f"gradual: span {_human(s_lo)} – {_human(s_hi)} overlaps it by {max(overlap, 0) / KiB:.1f} KiB"
        )
    overlap = min(hi, edge[1]) - max(lo, edge[0])
    ratio = (hi - lo) / (edge[1] - edge[0])
    ok = overlap > 0 and ratio <= WIDTH_FACTOR
    return ok, f"overlap {max(overlap, 0) / KiB:.1f} KiB, width {ratio:.2f}x the bracket"


def contains(level: Level | None, size: float) -> str | None:
    """How a level's exit contains a known size: "interval", "gradual span", or None (it does not)."""
    if level is None or level.capacity_bytes_low is None:
        return None
    if level.capacity_bytes_low <= size <= level.capacity_bytes_high:
        return "interval"
    if level.transition == "gradual" and level.span_bytes_low <= size <= level.span_bytes_high:
        return "gradual span"
    return None


def score_ladder(reading: Reading, levels: list[Level]) -> list[dict]:
    """One row per tolerance: what was checked, ours, the reading, pass/fail."""
    by_name = {lv.name: lv for lv in levels}
    names = [lv.name for lv in levels]
    rows = [
        {
            "check": "levels",
            "ours": ", ".join(names) or "none",
            "reading": ", ".join(reading.expected_names()),
            "ok": names == reading.expected_names(),
            "detail": f"{len(names)} vs {len(reading.expected_names())}",
        }
    ]
    for name, ref in (("L1", reading.l1), ("L2", reading.l2), ("DRAM", reading.dram)):
        lv = by_name.get(name)
        ok = lv is not None and abs(_rel(lv.latency_cycles, ref)) <= FLAT_TOL
        rows.append(
            {
                "check": f"{name} latency (±2 %)",
                "ours": _fmt_lat(lv),
                "reading": f"{ref:g}",
                "ok": ok,
                "detail": f"{_rel(lv.latency_cycles, ref):+.2%}" if lv else "level missing",
            }
        )
    if reading.far:
        lv = by_name.get("L2-far")
        lo, hi = reading.far[0] * (1 - FAR_TOL), reading.far[1] * (1 + FAR_TOL)
        ok = lv is not None and lo <= lv.latency_cycles <= hi
        rng = f"{reading.far[0]:g}" if reading.far[0] == reading.far[1] else f"{reading.far[0]:g}-{reading.far[1]:g}"
        rows.append(
            {
                "check": "L2-far latency (range ±5 %)",
                "ours": _fmt_lat(lv),
                "reading": f"~{rng}",
                "ok": ok,
                "detail": f"accepted {lo:.0f}-{hi:.0f}",
            }
        )
    for name, edge, unit in (("L1", reading.l1_edge, KiB), ("L2", reading.l2_edge, MiB)):
        lv = by_name.get(name)
        ok, detail = _capacity_check(lv, edge)
        u = "KiB" if unit == KiB else "MiB"
        ours = (
            f"{lv.capacity_bytes_low / unit:.1f}-{lv.capacity_bytes_high / unit:.1f} {u}"
            if lv is not None and lv.capacity_bytes_low is not None
            else "-"
        )
        rows.append(
            {
                "check": f"{name} capacity (sharp: overlap, ≤1.5x width; gradual: span overlaps)",
                "ours": ours,
                "reading": f"{edge[0] / unit:.1f}-{edge[1] / unit:.1f} {u}",
                "ok": ok,
                "detail": detail,
            }
        )
    return rows


def score_claims(gpu: str, levels: list[Level]) -> list[dict]:
    """The source's own statements beside ours; verdicts from a closed vocabulary (matches / differs)."""
    by_name = {lv.name: lv for lv in levels}
    rows = []
    for c in (c for c in SOURCE_CLAIMS if c.gpu == gpu):
        lv = by_name.get(c.level)
        if lv is None:
            rows.append({**_claim_cols(c), "ours": "-", "verdict": V.INCONCLUSIVE, "why": "level not detected"})
            continue
        if c.quantity == "latency":
            ok = abs(_rel(lv.latency_cycles, c.value)) <= FLAT_TOL
            ours = _fmt_lat(lv)
        else:
            candidates = [c.value] + (
                [c.value * 1000 / 1024 if c.value < MiB else c.value * 1e6 / MiB] if c.decimal_too else []
            )
            how = next((h for h in (contains(lv, v) for v in candidates) if h), None)
            ok = how is not None
            ours = _exit_text(lv)
            if how == "gradual span":
                rows.append(
                    {
                        **_claim_cols(c),
                        "ours": ours,
                        "verdict": V.WITHIN_GRADUAL_SPAN,
                        "why": "the level degrades gradually; the size lies between the first rise and the next "
                        "level reached",
                    }
                )
                continue
        rows.append(
            {
                **_claim_cols(c),
                "ours": ours,
                "verdict": V.MATCHES if ok else V.DIFFERS,
                "why": "" if ok else (c.why_differs or "see method notes"),
            }
        )
    return rows


def _exit_text(lv: Level) -> str:
    if lv.capacity_bytes_low is None:
        return "ramp, no level" if lv.transition == "ramp" else "-"
    out = f"{_human(lv.capacity_bytes_low)}-{_human(lv.capacity_bytes_high)}"
    if lv.transition == "gradual":
        out += f" (gradual, span to {_human(lv.span_bytes_high)})"
    return out


# --- known sizes on the H200 / B200 async-path ladders ---------------------------------------------------------------


@dataclass(frozen=True)
class KnownSize:
    gpu: str  # prefix of the ladder's gpu column ("H200", "B200")
    what: str
    level: str  # "L1": exit of L1; "L2": exit of the (near) L2; "L2 whole": exit of the last cache level
    value: float


KNOWN_SIZES: tuple[KnownSize, ...] = (
    KnownSize("H200", "L1/shared 256 KiB per SM", "L1", 256 * KiB),
    KnownSize("H200", "L2 partition 25 MiB (half of 50 MiB)", "L2", 25 * MiB),
    KnownSize("H200", "L2 50 MiB (both partitions)", "L2 whole", 50 * MiB),
    KnownSize("B200", "L2 126.5 MiB (driver, two dies)", "L2 whole", 126.5 * MiB),
)


def score_known(gpu: str, levels: list[Level]) -> list[dict]:
    """The issue-27 capacity check per known size: the interval contains it, or the transition is gradual and its
    span contains it. "L2 whole" is the exit of the last cache level before DRAM; when that misses and the L2 has a
    far level, the whole L2's span (first L2 miss .. DRAM reached, every step gradual) is scored and said so.
    A path with no such level (TMA and L1) is "n/a", not a pass."""
    names = [lv.name for lv in levels]
    rows = []
    for k in (k for k in KNOWN_SIZES if gpu.startswith(k.gpu)):
        if k.level == "L2 whole":
            lv = levels[names.index("DRAM") - 1] if "DRAM" in names and names.index("DRAM") > 0 else None
        else:
            lv = next((v for v in levels if v.name == k.level), None)
        if lv is None:
            rows.append(
                {
                    "known size": k.what,
                    "level": k.level,
                    "ours": "-",
                    "how": "no such level on this path",
                    "ok": V.NOT_APPLICABLE,
                }
            )
            continue
        how = contains(lv, k.value)
        ours = f"{lv.name}: {_exit_text(lv)}"
        if how is None and k.level == "L2 whole" and "L2" in names and lv.name != "L2":
            first = levels[names.index("L2")]
            chain = levels[names.index("L2") : names.index("DRAM")]
            if (
                all(v.transition == "gradual" for v in chain)
                and first.capacity_bytes_low <= k.value <= lv.span_bytes_high
            ):
                how = "whole-L2 gradual span"
                ours += (
                    f"; whole L2 begins to miss at {_human(first.capacity_bytes_low)} and is fully missing by "
                    f"{_human(lv.span_bytes_high)} (the {lv.name} exit alone excludes it)"
                )
        rows.append(
            {
                "known size": k.what,
                "level": k.level,
                "ours": ours,
                "how": how or "neither interval nor span contains it",
                "ok": V.PASS if how else V.FAIL,
            }
        )
    return rows


def _claim_cols(c: SourceClaim) -> dict:
    return {"level": c.level, "source says": c.wording, "source": c.source}


def _fmt_lat(lv: Level | None) -> str:
    return "-" if lv is None else f"{lv.latency_cycles:.1f} [{lv.latency_ci_low:.1f}, {lv.latency_ci_high:.1f}]"


def _human(b: float) -> str:
    return f"{b / MiB:.1f} MiB" if b >= MiB else f"{b / KiB:.1f} KiB"


# --- stopping-rule benchmark -----------------------------------------------------------------------------------------


def _run_rule(rule, draws: np.ndarray) -> int:
    """Feed resampled loads one at a time up to 64, then in ~5 % steps (keeps the bootstrap affordable)."""
    rule.reset()
    n = 0
    while n < draws.size:
        step = 1 if n < 64 else max(1, int(n * 0.05))
        rule.add(draws[n : n + step])
        n = min(n + step, draws.size)
        if rule.done():
            return n
    return n


def stopping_benchmark(
    samples: pd.DataFrame, seed: int = 0, reps: int = 5, max_samples: int = 4000, fixed_count: int = 100
) -> pd.DataFrame:
    """Per real distribution: samples each rule takes, and the CI half-width / median error it ends with."""
    rows = []
    rng = np.random.default_rng(seed)
    for (gpu, bench), grp in samples.groupby(["gpu", "benchmark"], sort=True):
        real = grp["latency_cycles"].to_numpy(dtype=float)
        truth = float(np.median(real))
        row = {
            "gpu": gpu,
            "benchmark": bench,
            "n_real": real.size,
            "median": truth,
            "spread_p95_p05": float(np.percentile(real, 95) / max(np.percentile(real, 5), 1e-9)),
        }
        rules = {
            "median-ci 1 %": lambda: MedianCI(
                rel_halfwidth=0.01, min_samples=10, max_samples=max_samples, max_seconds=math.inf, n_resamples=400
            ),
            "stdrel 0.5 %": lambda: StdRel(
                max_noise=0.005, min_samples=10, max_samples=max_samples, max_seconds=math.inf
            ),
            f"fixed {fixed_count}": lambda: FixedCount(count=fixed_count, max_seconds=math.inf),
        }
        for label, make in rules.items():
            ns, halfs, errs, capped = [], [], [], 0
            for _ in range(reps):
                draws = rng.choice(real, size=max_samples, replace=True)
                rule = make()
                n = _run_rule(rule, draws)
                med, lo, hi = median_ci(draws[:n], n_resamples=400)
                ns.append(n)
                halfs.append((hi - lo) / 2 / abs(med) if med else math.inf)
                errs.append(abs(med - truth) / abs(truth) if truth else 0.0)
                capped += rule.reason.startswith("sample-count")
            row[f"{label}: n"] = int(np.median(ns))
            row[f"{label}: CI half-width"] = float(np.median(halfs))
            row[f"{label}: max median error"] = float(np.max(errs))
            row[f"{label}: hit cap"] = f"{capped}/{reps}"
        rows.append(row)
    return pd.DataFrame(rows)


# --- report ----------------------------------------------------------------------------------------------------------


def tally(checks: list[dict]) -> dict:
    """{"checks passed": "n/m", "verdict": pass|FAIL} of one ladder's checks (each with a boolean "ok"), which are then
    marked "pass"/"FAIL" for their table. Shared with the bandwidth validation."""
    ok = all(c["ok"] for c in checks)
    row = {"checks passed": f"{sum(bool(c['ok']) for c in checks)}/{len(checks)}", "verdict": V.PASS if ok else V.FAIL}
    for c in checks:
        c["ok"] = V.PASS if c["ok"] else V.FAIL
    return row


def detect_all(
    peer_dir: Path, params: DetectionParams | None = None
) -> list[tuple[Reading, pd.DataFrame, list[Level]]]:
    out = []
    frames = {f: importers.read_tidy_csv(peer_dir / f) for f in LADDER_FILES}
    for reading in READINGS:
        file = LADDER_FILES[0] if reading.dataset.startswith("gpu-benches") else LADDER_FILES[1]
        df = frames[file]
        d = df[df["gpu"] == reading.gpu]
        out.append((reading, d, detect_levels(d["footprint_bytes"], d["latency_cycles"], params)))
    return out


def detect_async(peer_dir: Path, params: DetectionParams | None = None) -> list[tuple[str, pd.DataFrame, list[Level]]]:
    """(gpu, frame, levels) per ladder of the kimbochen H200/B200 file, in file order; [] when it is absent."""
    path = Path(peer_dir) / ASYNC_FILE
    if not path.is_file():
        return []
    df = importers.read_tidy_csv(path)
    out = []
    for gpu in pd.unique(df["gpu"]):
        d = df[df["gpu"] == gpu]
        out.append((str(gpu), d, detect_levels(d["footprint_bytes"], d["latency_cycles"], params)))
    return out


def _async_sections(peer_dir: Path, out_dir: Path, params: DetectionParams) -> tuple[list[dict], list[str], bool]:
    summary, sections, all_ok = [], [], True
    for gpu, d, levels in detect_async(peer_dir, params):
        rows = score_known(gpu, levels)
        ok = all(r["ok"] != V.FAIL for r in rows)
        all_ok &= ok
        png = f"{slug(gpu)}.png"
        plots.plot_ladder(
            d["footprint_bytes"],
            d["latency_cycles"],
            levels,
            out_dir / png,
            title=f"{gpu} (data published by kimbochen/gpu-microbench)",
        )
        summary.append(
            {
                "GPU (path)": gpu,
                "levels": ", ".join(f"{lv.name} {lv.latency_cycles:.1f}" for lv in levels),
                "capacity checks": f"{sum(r['ok'] == V.PASS for r in rows)} pass, "
                f"{sum(r['ok'] == V.FAIL for r in rows)} fail, "
                f"{sum(r['ok'] == V.NOT_APPLICABLE for r in rows)} n/a",
                "verdict": V.PASS if ok else V.FAIL,
            }
        )
        notes = [
            f"- {w}"
            for lv, nxt in zip(levels, [*levels[1:], None])
            for w in (describe_transition(lv, nxt.name if nxt else None, _human), describe_sublevels(lv, _human))
            if w
        ]
        src_file = str(d["source_path"].iloc[0]).rsplit("/", 1)[-1] if "source_path" in d.columns else ""
        sections.append(
            "\n".join(
                [
                    f"### {gpu}",
                    "",
                    f"Data published by `{ASYNC_SOURCE}{src_file}` (read from ../shared/peer-data).",
                    "",
                    md_table(
                        [
                            {
                                "level": lv.name,
                                "latency (cycles) [95 % CI]": _fmt_lat(lv),
                                "exit": _exit_text(lv),
                                "plateau core": f"{_human(lv.plateau_bytes_low)} – {_human(lv.plateau_bytes_high)}",
                            }
                            for lv in levels
                        ],
                        ["level", "latency (cycles) [95 % CI]", "exit", "plateau core"],
                    ),
                    "",
                    *notes,
                    "",
                    "Known sizes:",
                    "",
                    md_table(rows, ["known size", "level", "ours", "how", "ok"]),
                    "",
                    f"![{gpu} ladder]({png})",
                    "",
                ]
            )
        )
    return summary, sections, all_ok


def build_validation(peer_dir: Path, out_dir: Path, reps: int = 5) -> dict:
    """Write out_dir/README.md and out_dir/<gpu>.png; return {"ladders": ..., "stopping": DataFrame, "all_ok": bool}."""
    peer_dir, out_dir = Path(peer_dir), Path(out_dir)
    params = DetectionParams()
    results = detect_all(peer_dir, params)
    summary, sections, all_ok = [], [], True
    for reading, d, levels in results:
        checks = score_ladder(reading, levels)
        ok = all(c["ok"] for c in checks)
        all_ok &= ok
        png = f"{slug(reading.gpu)}.png"
        plots.plot_ladder(
            d["footprint_bytes"],
            d["latency_cycles"],
            levels,
            out_dir / png,
            title=f"{reading.gpu} ({reading.dataset}; data published by {reading.source.split('@')[0]})",
        )
        summary.append(
            {
                "dataset": reading.dataset,
                "GPU": reading.gpu,
                "levels": ", ".join(f"{lv.name} {lv.latency_cycles:.1f}" for lv in levels),
                **tally(checks),
            }
        )
        claims = score_claims(reading.gpu, levels)
        sec = [
            f"### {reading.gpu} — {reading.dataset}",
            "",
            f"Data published by `{reading.source}` (read from ../shared/peer-data, not committed here).",
            "",
            md_table(
                [
                    {
                        "level": lv.name,
                        "latency (cycles) [95 % CI]": _fmt_lat(lv),
                        "capacity interval": (
                            f"{_human(lv.capacity_bytes_low)} – {_human(lv.capacity_bytes_high)}"
                            if lv.capacity_bytes_low is not None
                            else "–"
                        ),
                        "plateau points": lv.n_points,
                        "plateau core": f"{_human(lv.plateau_bytes_low)} – {_human(lv.plateau_bytes_high)}",
                    }
                    for lv in levels
                ],
                ["level", "latency (cycles) [95 % CI]", "capacity interval", "plateau points", "plateau core"],
            ),
            "",
            "Against the reference readings:",
            "",
            md_table(checks, ["check", "ours", "reading", "ok", "detail"]),
            "",
        ]
        if claims:
            sec += [
                "Against what the source itself reports (*published by* the cited source, not ours):",
                "",
                md_table(claims, ["level", "source says", "ours", "verdict", "why", "source"]),
                "",
            ]
        else:
            sec += ["The source reports no level values of its own for this ladder beyond the data.", ""]
        sec += [f"![{reading.gpu} ladder]({png})", ""]
        sections.append("\n".join(sec))

    async_summary, async_sections, async_ok = _async_sections(peer_dir, out_dir, params)
    samples = pd.read_csv(peer_dir / SAMPLES_FILE)
    stop = stopping_benchmark(samples, reps=reps)
    text = _render(summary, sections, stop, params, all_ok, reps, async_summary, async_sections, async_ok)
    write_atomic(out_dir / "README.md", text)
    return {"ladders": results, "stopping": stop, "all_ok": all_ok, "async_ok": async_ok}


def stopping_table(stop: pd.DataFrame) -> str:
    def n_col(r, label):
        capped = r[f"{label}: hit cap"]
        return f"{r[f'{label}: n']}" + ("" if capped.startswith("0/") else f" ({capped} capped)")

    rows = []
    for r in stop.to_dict("records"):
        rows.append(
            {
                "GPU": r["gpu"],
                "distribution": r["benchmark"],
                "median": f"{r['median']:g}",
                "p95/p05": f"{r['spread_p95_p05']:.2f}",
                "median-ci 1 %: n": n_col(r, "median-ci 1 %"),
                "median-ci: err": f"{r['median-ci 1 %: max median error']:.2%}",
                "stdrel 0.5 %: n": n_col(r, "stdrel 0.5 %"),
                "stdrel: err": f"{r['stdrel 0.5 %: max median error']:.2%}",
                "fixed 100: CI half-width": f"{r['fixed 100: CI half-width']:.2%}",
                "fixed 100: err": f"{r['fixed 100: max median error']:.2%}",
            }
        )
    return md_table(rows, list(rows[0]) if rows else [])


def _render(summary, sections, stop, params, all_ok, reps, async_summary=(), async_sections=(), async_ok=True) -> str:
    p = params.describe()
    known = (
        []
        if not async_summary
        else [
            "## Known sizes on the H200 / B200 async-path ladders (issue 27)",
            "",
            f"Data: `{ASYNC_FILE}` (p-chase through `ld.global.cs`, `cp.async.ca` and TMA, published by {ASYNC_SOURCE}). "
            f"Known sizes: {KNOWN_SOURCE}. Check: the capacity interval contains the known size, or the transition is "
            "reported gradual and its span (last point on the plateau .. next level reached) contains it. *L2 whole* is "
            "scored on the exit of the last cache level before DRAM; where that exit alone misses and every L2 step is "
            "gradual, the whole L2's span (first L2 miss .. DRAM reached) is scored and the row says so. A span is a "
            "weak check (it can be wide); the rows show it in full. *n/a*: the path has no such level (TMA bypasses "
            "L1).",
            "",
            md_table(list(async_summary), ["GPU (path)", "levels", "capacity checks", "verdict"]),
            "",
            f"All known-size capacity checks met: **{'yes' if async_ok else 'no'}**.",
            "",
            *async_sections,
        ]
    )
    return "\n".join(
        [
            "# Validation of ladder analysis on published real-GPU data",
            "",
            "Generated by `probes.analysis.validation.build_validation` (`make validate`) from ../shared/peer-data. "
            "Every number in the *reading* and *source says* columns was published by the cited project; the "
            "*ours* columns are gpu-probes' analysis of that same published data, not our own measurements.",
            "",
            f"Detection: {p['name']}; parameters: " + ", ".join(f"{k}={v}" for k, v in p.items() if k != "name") + ".",
            "",
            "Tolerances (issue 11): same level count as the reading; each flat plateau within 2 % of the reading; the "
            "far-L2 plateau (not flat) inside its stated range ±5 %; each capacity interval overlapping the reading's "
            "edge bracket and no wider than 1.5x it. Since issue 27 the last one applies to sharp transitions; for a "
            "gradual one the span must overlap the bracket (the bracket marks the 1.3x / 1.1x crossing, inside the "
            "degrading region; the interval now marks where the plateau ends).",
            "",
            f"Reference readings: {READINGS_SOURCE}.",
            "",
            "Bandwidth ladders (gpu-benches' gpu-l2-cache, issue 25) are scored in [bandwidth.md](bandwidth.md).",
            "",
            "## Summary",
            "",
            md_table(summary, ["dataset", "GPU", "levels", "checks passed", "verdict"]),
            "",
            f"All tolerances met: **{'yes' if all_ok else 'no'}**.",
            "",
            "Capacity here is the interval from the last point still inside the plateau's CI (where the plateau ends) to "
            "the first point measurably above it (above the CI and every plateau point); a transition is *gradual* when "
            "the next level is reached more than 10 % of footprint after that, and its span runs to the first point "
            "inside the next plateau's CI. Where the source's own headline differs (L1 sizes quoted as round nominal "
            "numbers), the row says why; *within gradual span* means the headline lies in the degrading region.",
            "",
            "## Per ladder",
            "",
            *sections,
            *known,
            "## Stopping rules on real per-load samples",
            "",
            f"Data: `{SAMPLES_FILE}` (raw per-load cycles published by caps-tum/mt4g@4cc5566, sample_results/). For each "
            f"distribution, loads are resampled with replacement (numpy default_rng, seed 0, {reps} repetitions; "
            "median n shown) and fed to each rule: one at a time up to 64, then in ~5 % steps (so n is exact to 5 %). "
            "Cap: 4000 samples. *err* is the largest |median at stop − median of all real samples| / median over "
            "the repetitions; *fixed 100: CI half-width* is the bootstrap 95 % CI half-width of the median that a "
            "fixed count of 100 loads ends with.",
            "",
            stopping_table(stop),
            "",
            "Reading: on single-valued distributions (L1, read-only, constant L1.5) every rule stops at its 10-sample "
            "floor and is right. On wide or multi-modal ones (L2 with its near/far mix, main memory) stdrel 0.5 % "
            "almost never stops (the spread is the hardware's, not noise) and a fixed count of 100 ends with a CI "
            "half-width of 1-10 % and median errors up to 15 %, while the median-CI rule stops after a few hundred to "
            "a few thousand loads with the median within ~1 %. Where the mass sits on two discrete values either side "
            "of the median (texture, V100 constant L1, some L2), the sample median flips between them: no count pins "
            "it to 1 %, the median-CI rule runs to the cap (it does not claim 1 %), and every rule's median can be off "
            "by the gap between the two values; such a result must be reported with its CI, not as a single number. "
            "The percentile bootstrap can also collapse on small discrete samples (H100 SXM5 L2 stopped at 11 loads, "
            "0.9 % off): the engine's sample floor, not the CI alone, guards against that. What the median CI does "
            "not prove: it covers the sampling of this distribution, not the method's bias (timer placement, clock).",
            "",
        ]
    )
