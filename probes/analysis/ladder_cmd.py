"""`analyze ladder FILE`: detect levels in anyone's latency ladder and print a table or a JSON document.

`probes.analysis.ladder_args.add_parser` registers the command and imports this module only when it runs
(this module never imports it back); `run(args)` returns the exit code (2 on bad input, with one
`error: ...` line on stderr and no traceback).
"""

from __future__ import annotations

import json
import sys

import pandas as pd

from probes.analysis import importers
from probes.analysis.formatting import analysis_document, fmt_bytes, json_safe
from probes.analysis.levels import (
    DetectionParams,
    LadderTooLarge,
    decimation,
    describe_sublevels,
    describe_transition,
    detect_levels,
)
from probes.stats import median_ci


def _latency_column(df: pd.DataFrame) -> tuple[str, str]:
    if df["latency_cycles"].notna().any():
        return "latency_cycles", "cycles"
    return "latency_ns", "ns"


def _analyse_ladder(df: pd.DataFrame, params: DetectionParams) -> dict:
    col, unit = _latency_column(df)
    d = df[df[col].notna()]
    levels = detect_levels(d["footprint_bytes"], d[col], params)
    out = [lv.to_dict() for lv in levels]
    if unit == "ns":  # keep the field names stable; say what unit they are in
        for lv in out:
            lv["unit"] = "ns"
    n_fp = int(d["footprint_bytes"].nunique())
    notes = [
        w
        for lv, nxt in zip(levels, [*levels[1:], None])
        for w in (describe_transition(lv, nxt.name if nxt else None, fmt_bytes), describe_sublevels(lv, fmt_bytes))
        if w
    ]
    doc = {
        "gpu": str(d["gpu"].iloc[0]) if len(d) else "",
        "unit": unit,
        "n_points": n_fp,
        "levels": out,
        "notes": notes,
        "_levels": levels,
        "_frame": d,
        "_col": col,
    }
    if decimation(n_fp, params):
        doc["decimation"] = decimation(n_fp, params)
    return doc


def _analyse_samples(df: pd.DataFrame) -> dict:
    med, lo, hi = median_ci(df["latency_cycles"].to_numpy(dtype=float))
    bench = df["benchmark"].iloc[0] if "benchmark" in df.columns else "samples"
    return {
        "gpu": str(df["gpu"].iloc[0]),
        "unit": "cycles",
        "n_points": int(len(df)),
        "levels": [
            {
                "name": str(bench),
                "latency_cycles": med,
                "latency_ci_low": lo,
                "latency_ci_high": hi,
                "n_points": int(len(df)),
            }
        ],
    }


def _reported(df: pd.DataFrame) -> dict:
    levels = []
    for r in df.to_dict("records"):
        lv = {"name": r["level"], "latency_cycles": r["latency_cycles"], "n_points": r.get("n_samples")}
        if not pd.isna(r.get("capacity_bytes")):
            lv["capacity_bytes_reported"] = r["capacity_bytes"]
        if not pd.isna(r.get("segment_bytes")):
            lv["segment_bytes_reported"] = r["segment_bytes"]
        levels.append(lv)
    return {"gpu": str(df["gpu"].iloc[0]), "unit": "cycles", "n_points": int(len(df)), "levels": levels}


def _method(kind: str, params: DetectionParams) -> dict:
    if kind == "ladder":
        return params.describe()
    if kind == "samples":
        return {"name": "median with percentile-bootstrap 95 % CI (scipy.stats.bootstrap) of per-load samples"}
    return {"name": "values as reported by the source tool (no detection)"}


def build_document(df: pd.DataFrame, gpu: str | None = None, params: DetectionParams | None = None) -> dict:
    params = params or DetectionParams()
    kind = df.attrs.get("kind", "ladder")
    if gpu is not None:
        df = df[df["gpu"] == gpu]
        if df.empty:
            raise importers.LadderInputError(
                df.attrs.get("provenance", {}).get("file", "input"), f"expected GPU {gpu!r} in the file"
            )
    analyses = []
    for name in pd.unique(df["gpu"]):
        part = df[df["gpu"] == name]
        part.attrs = df.attrs
        analyses.append(
            _analyse_ladder(part, params)
            if kind == "ladder"
            else _analyse_samples(part)
            if kind == "samples"
            else _reported(part)
        )
    return analysis_document(df.attrs.get("provenance", {}), _method(kind, params), analyses, kind=kind)


def format_table(doc: dict) -> str:
    lines = [
        f"# {doc['input'].get('file', '')} ({doc['input'].get('format', '')}, {doc['kind']}); "
        f"method: {doc['method']['name']}; gpu-probes {doc['tool_version']}"
    ]
    for lad in doc["ladders"]:
        lines.append(f"\n{lad['gpu']}: {len(lad['levels'])} level(s) from {lad['n_points']} points ({lad['unit']})")
        if not lad["levels"]:
            lines.append("  no plateau found (too few points, or no flat stretch)")
            continue
        lines.append(f"  {'level':<14}{'latency':>10}  {'95 % CI':<20}{'capacity interval':<36}{'points':>6}")
        for lv in lad["levels"]:
            ci = f"[{lv['latency_ci_low']:.1f}, {lv['latency_ci_high']:.1f}]" if "latency_ci_low" in lv else "-"
            if "capacity_bytes_low" in lv:
                cap = f"{fmt_bytes(lv['capacity_bytes_low'])} - {fmt_bytes(lv['capacity_bytes_high'])}"
                cap += " (gradual)" if lv.get("transition") == "gradual" else ""
            elif lv.get("transition") == "ramp":
                cap = "ramp, no level"
            elif "capacity_bytes_reported" in lv:
                cap = f"{fmt_bytes(lv['capacity_bytes_reported'])} (reported)"
            else:
                cap = "-"
            lines.append(f"  {lv['name']:<14}{lv['latency_cycles']:>10.1f}  {ci:<20}{cap:<36}{lv['n_points'] or 0:>6}")
        lines += [f"  note: {n}" for n in lad.get("notes", [])]
        if lad.get("decimation"):
            lines.append(f"  decimation: {lad['decimation']}")
    return "\n".join(lines)


def run(args) -> int:
    try:
        df = importers.load(args.file, getattr(args, "format", "auto"), getattr(args, "gpu", None))
        from probes.analysis.ladder_checks import check_ladder

        check_ladder(df)  # non-positive rows and falling ladders: refused, not dropped or misread
        doc = build_document(df, getattr(args, "gpu", None))
        if getattr(args, "plot", None):
            _plot(doc, args.plot)
    except importers.LadderInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except LadderTooLarge as exc:
        print(f"error: {getattr(args, 'file', 'input')}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the plot's folder cannot be written
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if getattr(args, "json", False):
        print(json.dumps(json_safe(doc), indent=2, sort_keys=False))
    else:
        print(format_table(json_safe(doc)))
    return 0


def _plot(doc: dict, out: str) -> None:
    from probes.analysis import plots  # matplotlib only when a plot is asked for

    ladders = [lad for lad in doc["ladders"] if "_levels" in lad]
    if len(ladders) != 1:
        raise importers.LadderInputError(
            doc["input"].get("file", "input"), "expected exactly one ladder to plot (pick one with --gpu)"
        )
    lad = ladders[0]
    d = lad["_frame"]
    plots.plot_ladder(
        d["footprint_bytes"],
        d[lad["_col"]],
        lad["_levels"],
        out,
        title=f"{lad['gpu']} ({doc['input'].get('format', '')}: {doc['input'].get('file', '')})",
        unit=lad["unit"],
    )
