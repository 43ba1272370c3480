"""`analyze bandwidth FILE`: bandwidth levels of anyone's bandwidth-vs-working-set ladder, as a table or JSON.

`add_parser(subparsers)` registers the command under `analyze` (building the parser imports no pandas/scipy);
`run(args)` returns the exit code (2 on bad input, with one `error: ...` line on stderr and no traceback).
JSON: {"levels": [{"name", "bandwidth_GBps", "bandwidth_ci_low", "bandwidth_ci_high", "end_bytes_low",
"end_bytes_high", ...}], "gpu", "ladders": [...one per (gpu, series)], "method", "input"}.
"""

from __future__ import annotations

import argparse
import json
import sys

from probes.analysis.formatting import analysis_document, fmt_bytes, json_safe

FORMAT_CHOICES = ("auto", "tidy", "gpu-benches", "results")


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register `analyze bandwidth` beside `analyze ladder` (creating `analyze` if nobody has)."""
    analyze = subparsers.choices.get("analyze") or subparsers.add_parser(
        "analyze", help="analyse stored or imported results"
    )
    inner = next((a for a in analyze._actions if isinstance(a, argparse._SubParsersAction)), None)
    if inner is None:
        inner = analyze.add_subparsers(dest="analyze_command", required=True)
    p = inner.add_parser("bandwidth", help="detect bandwidth levels and where they end in a bandwidth ladder")
    p.add_argument(
        "file",
        metavar="FILE",
        help="tidy CSV (working_set_bytes,bandwidth_GBps[,gpu]), gpu-benches "
        "gpu-l2-cache/gpu-cache output, or a bandwidth.ladder results JSON",
    )
    p.add_argument("--format", default="auto", choices=FORMAT_CHOICES, help="input format (default: guess)")
    p.add_argument("--gpu", default=None, help="analyse only this GPU (files holding several)")
    p.add_argument("--series", default=None, help="only this series (our results: read, write or copy)")
    p.add_argument("--json", action="store_true", help="print a JSON document instead of a table")
    p.add_argument("--plot", metavar="OUT.png", default=None, help="write the ladder plot here (one ladder only)")
    p.set_defaults(func=run)
    return p


def build_document(df, gpu: str | None = None, series: str | None = None, params=None) -> dict:
    from probes.analysis import bandwidth as bw
    from probes.analysis.importers import LadderInputError

    params = params or bw.BandwidthParams()
    where = df.attrs.get("provenance", {}).get("file", "input")
    for col, want in (("gpu", gpu), ("series", series)):
        if want is not None:
            df = df[df[col] == want]
            if df.empty:
                raise LadderInputError(where, f"expected {col} {want!r} in the file")
    ladders = []
    for (g, s), part in df.groupby(["gpu", "series"], sort=False):
        levels = bw.detect_levels(part["working_set_bytes"], part["bandwidth_GBps"], params)
        ladders.append(
            {
                "gpu": str(g),
                "series": str(s),
                "n_points": int(part["working_set_bytes"].nunique()),
                "levels": [lv.to_dict() for lv in levels],
                "_levels": levels,
                "_frame": part,
            }
        )
    return analysis_document(df.attrs.get("provenance", {}), params.describe(), ladders, unit="GB/s")


def format_table(doc: dict) -> str:
    lines = [
        f"# {doc['input'].get('file', '')} ({doc['input'].get('format', '')}); method: "
        f"{doc['method']['name']}; gpu-probes {doc['tool_version']}"
    ]
    for lad in doc["ladders"]:
        lines.append(
            f"\n{lad['gpu']} [{lad['series']}]: {len(lad['levels'])} level(s) from {lad['n_points']} points (GB/s)"
        )
        if not lad["levels"]:
            lines.append("  no plateau found (too few points, or no flat stretch)")
            continue
        lines.append(f"  {'level':<10}{'GB/s':>10}  {'95 % CI':<22}{'ends between':<26}{'points':>6}")
        for lv in lad["levels"]:
            ci = f"[{lv['bandwidth_ci_low']:.1f}, {lv['bandwidth_ci_high']:.1f}]"
            end = (
                f"{fmt_bytes(lv['end_bytes_low'])} - {fmt_bytes(lv['end_bytes_high'])}"
                if "end_bytes_low" in lv
                else "-"
            )
            lines.append(f"  {lv['name']:<10}{lv['bandwidth_GBps']:>10.1f}  {ci:<22}{end:<26}{lv['n_points']:>6}")
    return "\n".join(lines)


def run(args) -> int:
    from probes.analysis import bw_importers
    from probes.analysis.importers import LadderInputError

    try:
        df = bw_importers.load(args.file, getattr(args, "format", "auto"), getattr(args, "gpu", None))
        doc = build_document(df, getattr(args, "gpu", None), getattr(args, "series", None))
        if getattr(args, "plot", None):
            _plot(doc, args.plot)
    except LadderInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(json.dumps(json_safe(doc), indent=2) if getattr(args, "json", False) else format_table(json_safe(doc)))
    return 0


def _plot(doc: dict, out: str) -> None:
    from probes.analysis import bw_plots
    from probes.analysis.importers import LadderInputError

    if len(doc["ladders"]) != 1:
        raise LadderInputError(
            doc["input"].get("file", "input"), "expected exactly one ladder to plot (pick one with --gpu / --series)"
        )
    lad = doc["ladders"][0]
    d = lad["_frame"]
    bw_plots.plot_bandwidth(
        d["working_set_bytes"],
        d["bandwidth_GBps"],
        lad["_levels"],
        out,
        title=f"{lad['gpu']} [{lad['series']}] ({doc['input'].get('format', '')}: {doc['input'].get('file', '')})",
    )
