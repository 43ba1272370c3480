"""Instruction latency/throughput analysis: estimators, saturation, labels and the per-GPU table. No CUDA.

- `two_unroll_estimate`: per-op cycles = (t(2n) - t(n)) / steps per sample; median with a bootstrap CI.
- `saturation`: throughput vs parallelism (ilp x warps per SM) -> the plateau's value (pooled median, bootstrap CI)
  and the smallest occupancy that reaches it. It says nothing about *why* a curve is flat (issue-bound from the
  first point, or a bottleneck the sweep cannot relieve): `flat` only reports that the first point is on the plateau.
- `label`: the verdict against the Programming Guide (probes.verdicts.against_documented: documented & matches
  when the documented value lies inside the CI widened by `rel_tol`, documented & differs with the signed % of
  documented, undocumented). Latencies are always undocumented: the Guide gives none.
- `scheduled`: ptxas's schedule of an op's variant (its key in probes/static/instruction_table.py), from the
  variant atlas (reports/static/variants-sass.csv.gz): the join of measured and scheduled is by that key.
- `instruction_table`: stored result documents -> one row per op (CSV, Markdown, figure).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from probes import stats, verdicts
from probes.analysis import claims as claimslib
from probes.static import instruction_table as itable
from probes.static import variant_atlas

LABELS = (verdicts.UNDOCUMENTED, verdicts.DOCUMENTED_DIFFERS, verdicts.DOCUMENTED_MATCHES)
REL_TOL = 0.03  # clock-rate bias and rounding in the documented table; larger gaps are "differs"
PLATEAU_TOL = 0.05  # points within 5 % of the best median belong to the plateau


@dataclass(frozen=True)
class Estimate:
    value: float
    ci_low: float
    ci_high: float
    n: int


def median_ci(values, confidence: float = 0.95, n_resamples: int = 1000, seed: int = 0) -> Estimate:
    """Median with a percentile-bootstrap CI of the finite values (probes.stats.median_ci: fixed seed,
    identical samples give a zero-width CI), with the sample count."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if x.size == 0:
        raise ValueError("median_ci: no finite sample")
    return Estimate(*stats.median_ci(x, confidence, n_resamples, seed), int(x.size))


def two_unroll_estimate(t_n, t_2n, steps: int) -> Estimate:
    """Cycles per op from paired timings of n and 2n loop trips (`steps` ops in the difference): the fixed cost of
    entering the loop and reading the clock cancels; a per-trip overhead (loop counter) does not, but runs in
    parallel with a dependent chain."""
    t_n, t_2n = np.asarray(t_n, dtype=float), np.asarray(t_2n, dtype=float)
    if t_n.shape != t_2n.shape or steps <= 0:
        raise ValueError("two_unroll_estimate: t_n and t_2n must pair up and steps must be > 0")
    return median_ci((t_2n - t_n) / steps)


@dataclass(frozen=True)
class Saturation:
    value: float  # plateau results/clk/SM (pooled median of the plateau points)
    ci_low: float
    ci_high: float
    warps_per_sm: int  # smallest occupancy on the plateau (then smallest ilp)
    ilp: int
    saturated: bool  # the plateau holds >= 2 points: the curve levelled off inside the sweep
    flat: bool  # the least parallel point is already on the plateau


def saturation(points: list[dict], tol: float = PLATEAU_TOL) -> Saturation:
    """points: [{"warps_per_sm", "ilp", "values": [...]}] of one op. The plateau = points whose median is within
    `tol` of the best median; it is reached at the least parallel plateau point (fewest warps, then lowest ilp)."""
    pts = [p for p in points if len(p["values"])]
    if not pts:
        raise ValueError("saturation: no point with samples")
    medians = [float(np.median(p["values"])) for p in pts]
    best = max(medians)
    plateau = [p for p, m in zip(pts, medians) if m >= (1 - tol) * best]
    first = min(plateau, key=lambda p: (p["warps_per_sm"] * p["ilp"], p["warps_per_sm"], p["ilp"]))
    least = min(pts, key=lambda p: (p["warps_per_sm"] * p["ilp"], p["warps_per_sm"], p["ilp"]))
    est = median_ci(np.concatenate([np.asarray(p["values"], dtype=float) for p in plateau]))
    return Saturation(
        est.value,
        est.ci_low,
        est.ci_high,
        int(first["warps_per_sm"]),
        int(first["ilp"]),
        saturated=len(plateau) >= 2,
        flat=first is least,
    )


def label(
    value: float, ci_low: float, ci_high: float, documented: float | None, rel_tol: float = REL_TOL
) -> tuple[str, float | None]:
    """(label, measured as % of documented). Matches when the documented value lies in [ci_low, ci_high]
    widened by rel_tol of the documented value; a difference is reported with its sign, never rounded away."""
    verdict = verdicts.against_documented(documented, ci_low, ci_high, rel_tol)
    return verdict, (None if documented is None else 100.0 * value / documented)


def variant_of(op: str, sample: dict) -> str:
    """The variant key of a measured op: stored with its samples; for results stored before the key was, the key of
    the op's row in today's instruction table ('' when the op is no longer there)."""
    if sample.get("variant"):
        return sample["variant"]
    known = itable.BY_NAME.get(op)
    return known.variant if known else ""


def _number(row: dict | None, column: str) -> float | None:
    try:
        return float(row[column]) if row and row.get(column) else None
    except ValueError:
        return None


def scheduled(key: str, arch: str, csv: Path | None = None) -> dict:
    """ptxas's schedule of variant `key` on `arch` from the variant atlas: {'latency_class', 'latency', 'interval'}
    (None where the atlas has no ok cell: the arch is not one it was built for, or ptxas rejects the variant)."""
    row = variant_atlas.scheduled(key, arch, csv) if key else None
    if not row or row.get("status") != "ok" or row.get("variant") != key:
        return {"latency_class": None, "latency": None, "interval": None}
    return {
        "latency_class": row.get("latency_class") or None,
        "latency": _number(row, "fixed_latency_cycles"),
        "interval": _number(row, "issue_interval_cycles"),
    }


# --- result documents -> table ------------------------------------------------------------------------------------


def _cc(doc: dict) -> tuple[int, int]:
    return tuple(doc["environment"].get("compute_capability") or (0, 0))


def latency_rows(doc: dict) -> dict:
    """{op: (Estimate, first sample)} from an instructions.latency document."""
    out = {}
    for point in doc["points"]:
        samples = [s for s in point["samples"] if not s.get("throttled")] or point["samples"]
        if not samples:
            continue
        est = two_unroll_estimate(
            [s["cycles_n"] for s in samples], [s["cycles_2n"] for s in samples], int(samples[0]["steps"])
        )
        out[point["axes"]["op"]] = (est, samples[0])
    return out


def throughput_rows(doc: dict) -> dict:
    """{op: (Saturation, first sample)} from an instructions.throughput document (results/clk/SM)."""
    by_op: dict = {}
    for point in doc["points"]:
        samples = [s for s in point["samples"] if not s.get("throttled")] or point["samples"]
        if not samples:
            continue
        by_op.setdefault(point["axes"]["op"], []).append(
            {
                "warps_per_sm": point["axes"]["warps_per_sm"],
                "ilp": point["axes"]["ilp"],
                "sample": samples[0],
                "values": [s.get("results_per_clk_per_sm", s.get("ops_per_clk_per_sm")) for s in samples],
            }
        )
    return {op: (saturation(pts), pts[0]["sample"]) for op, pts in by_op.items()}


TABLE_COLUMNS = (
    "instruction",
    "variant",
    "sass_opcode",
    "mix",
    "conditions",
    "latency [cycles]",
    "latency CI low",
    "latency CI high",
    "static latency class",
    "static latency [cycles]",
    "static differs",
    "static issue interval [cycles]",
    "throughput [results/clk/SM]",
    "throughput CI low",
    "throughput CI high",
    "result unit",
    "saturated at [warps/SM]",
    "saturated at [ilp]",
    "documented [results/clk/SM]",
    "% of documented",
    "label",
    "documented source",
)


def conditions(sample: dict, latency: dict | None = None) -> str:
    """What a number depends on beyond the op (stored sample fields; older results have none of them)."""
    parts = []
    if sample.get("memory"):
        share = "all 32 lanes of a warp on one word" if sample.get("contended") else "each lane its own word"
        parts.append(f"{sample['memory']} memory, {share}")
    if (latency or {}).get("block_warps", 1) > 1:
        parts.append(f"latency = cycles per barrier of a block of {latency['block_warps']} warps")
    if sample.get("result_unit") == "FLOP":
        parts.append("throughput in FLOP (2 per multiply-add of the warp-wide mma)")
    return "; ".join(parts)


def instruction_table(docs: list[dict], claims: list | None = None, variant_csv: Path | None = None):
    """One row per op measured on one GPU (the latest document of each probe wins), beside ptxas's schedule of its
    variant (`scheduled`; variant_csv: the variant atlas, default the committed one)."""
    import pandas as pd

    lat = [d for d in docs if d["probe"]["name"] == "instructions.latency" and d["outcome"] == "ok"]
    thr = [d for d in docs if d["probe"]["name"] == "instructions.throughput" and d["outcome"] == "ok"]
    latency = latency_rows(max(lat, key=lambda d: d["started_at"])) if lat else {}
    through = throughput_rows(max(thr, key=lambda d: d["started_at"])) if thr else {}
    if not latency and not through:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    cc = _cc((lat or thr)[0])
    arch = f"sm_{cc[0]}{cc[1]}"
    rows = []
    for op in list(dict.fromkeys([*latency, *through])):
        sample = (latency.get(op) or through.get(op))[1]
        row = {c: None for c in TABLE_COLUMNS}
        key = variant_of(op, sample)
        row.update(
            {
                "instruction": op,
                "variant": key,
                "sass_opcode": sample.get("sass_opcode"),
                "mix": sample.get("mix") or "",
                "conditions": conditions(sample, latency[op][1] if op in latency else None),
                "result unit": sample.get("result_unit") or "results",
            }
        )
        if op in latency:
            est = latency[op][0]
            row.update({"latency [cycles]": est.value, "latency CI low": est.ci_low, "latency CI high": est.ci_high})
        sched = scheduled(key, arch, variant_csv)
        static = sched["latency"]
        row.update(
            {
                "static latency class": sched["latency_class"],
                "static latency [cycles]": static,
                "static issue interval [cycles]": sched["interval"],
            }
        )
        if static is not None and op in latency and not row["mix"]:
            # ptxas's scheduled latency outside the measured CI (half a cycle of slack for the clock read)
            row["static differs"] = not (row["latency CI low"] - 0.5 <= static <= row["latency CI high"] + 0.5)
        doc_claim = claimslib.documented(sample.get("claim") or "", cc, claims)
        if op in through:
            sat = through[op][0]
            documented = doc_claim.value if doc_claim else None
            verdict, pct = label(sat.value, sat.ci_low, sat.ci_high, documented)
            row.update(
                {
                    "throughput [results/clk/SM]": sat.value,
                    "throughput CI low": sat.ci_low,
                    "throughput CI high": sat.ci_high,
                    "saturated at [warps/SM]": sat.warps_per_sm,
                    "saturated at [ilp]": sat.ilp,
                    "documented [results/clk/SM]": documented,
                    "% of documented": pct,
                    "label": verdict,
                    "documented source": doc_claim.source if doc_claim else "",
                }
            )
        else:
            row.update({"label": verdicts.UNDOCUMENTED, "documented source": ""})
        rows.append(row)
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _cell(v) -> str:
    if v is None or (isinstance(v, (float, np.floating)) and not np.isfinite(v)):
        return "–"
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    return str(v).replace("|", "\\|")


def to_markdown(frame) -> str:
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def figure(frame):
    """Two panels: latency [cycles] with CI, and throughput as % of documented (or results/clk/SM if undocumented)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7), dpi=110)
    f = frame.reset_index(drop=True)
    x = np.arange(len(f))
    lat = f["latency [cycles]"].astype(float)
    err = np.vstack([lat - f["latency CI low"].astype(float), f["latency CI high"].astype(float) - lat])
    ax1.bar(x, lat, yerr=np.nan_to_num(err), color="tab:blue", capsize=2)
    ax1.scatter(
        x,
        f["static latency [cycles]"].astype(float),
        marker="_",
        s=200,
        color="k",
        label="ptxas scheduled latency (static)",
    )
    ax1.set_ylabel("latency [cycles]")
    ax1.legend(fontsize=7)
    thr = f["throughput [results/clk/SM]"].astype(float)
    ax2.bar(x, thr, color="tab:green")
    ax2.scatter(
        x, f["documented [results/clk/SM]"].astype(float), marker="_", s=200, color="k", label="Programming Guide"
    )
    ax2.set_ylabel("results / clk / SM")
    ax2.set_yscale("log", base=2)
    ax2.legend(fontsize=7)
    for ax in (ax1, ax2):
        ax.set_xticks(x)
        ax.set_xticklabels(f["instruction"], rotation=60, fontsize=7)
    fig.tight_layout()
    return fig


def write_table(frame, folder: Path, stem: str = "instructions") -> list[Path]:
    """CSV + Markdown + PNG figure into `folder` (atomic writes). Returns the paths written."""
    import matplotlib.pyplot as plt

    from probes.results.io import write_atomic

    folder = Path(folder)
    paths = [folder / f"{stem}.csv", folder / f"{stem}.md", folder / f"{stem}.png"]
    write_atomic(paths[0], frame.to_csv(index=False))
    write_atomic(paths[1], to_markdown(frame))
    fig, png = figure(frame), io.BytesIO()
    try:
        fig.savefig(png, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)
    write_atomic(paths[2], png.getvalue())
    return paths
