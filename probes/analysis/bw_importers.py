"""Readers for bandwidth-vs-working-set ladders, each returning one tidy pandas frame. No CUDA.

Columns: working_set_bytes, bandwidth_GBps, gpu, series (what was measured: read/write/copy for our results,
the tool for others), source_format, source_file, source_line; `frame.attrs["provenance"]` says where it came from.

Formats:
- tidy CSV: a header with working_set_bytes and bandwidth_GBps; extra columns are ignored; an optional gpu column
  (several GPUs per file: pick one with --gpu).
- gpu-benches `gpu-l2-cache` output (RRZE-HPC/gpu-benches): a header line `data set  exec time  spread  Eff. bw`,
  then rows `<per-block> kB  <working set> kB  <t>ms  <spread>%  <bw> GB/s  ...`; `gpu-cache` output has one
  `<data set> kB` column. kB are KiB there (the working sets are 512 KiB x blockRun), the first `GB/s` value is the
  effective bandwidth (further columns are performance counters, ignored).
- our results document of `bandwidth.ladder` / `bandwidth.ladder.own`: one row per point and op, its stored median.

Every malformed input raises importers.LadderInputError with one line: file, line and what was expected.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from probes.analysis.importers import LadderInputError, gpu_results, json_document, read_text, tidy_frame

COLUMNS = ["working_set_bytes", "bandwidth_GBps", "gpu", "series", "source_format", "source_file", "source_line"]
FORMATS = ("tidy", "gpu-benches", "results")
_KB = re.compile(r"^\s*([0-9.]+)\s*kB\s+(?:([0-9.]+)\s*kB\s+)?([0-9.]+)\s*ms\s+([0-9.]+)\s*%\s+([0-9.]+)\s*GB/s")


def _frame(rows: list[dict], path, fmt: str, text: str | None, extra: dict | None = None) -> pd.DataFrame:
    sha = {} if text is None else {"sha256": hashlib.sha256(text.encode()).hexdigest()}
    return tidy_frame(rows, COLUMNS, path, fmt, {**(extra or {}), **sha}, keep_other=False)


def read_tidy_csv(path) -> pd.DataFrame:
    path = Path(path)
    text = read_text(path)
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LadderInputError(path, f"expected CSV with a header row ({first[:80]})") from None
    raw.columns = [c.strip() for c in raw.columns]
    if not {"working_set_bytes", "bandwidth_GBps"} <= set(raw.columns):
        raise LadderInputError(
            path,
            f"expected CSV header with working_set_bytes and bandwidth_GBps (found {', '.join(raw.columns)[:80]})",
            1,
        )
    if raw.empty:
        raise LadderInputError(path, "expected at least one data row after the header", 2)
    out = {}
    for col in ("working_set_bytes", "bandwidth_GBps"):
        values = raw[col].str.strip()
        num = pd.to_numeric(values, errors="coerce")
        bad = num.isna() | ~np.isfinite(num.fillna(0)) | (num.fillna(0) <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise LadderInputError(path, f"expected {col} as a positive number, found {values.iloc[i][:40]!r}", i + 2)
        out[col] = num.astype(float).to_numpy()
    gpu = raw["gpu"].str.strip().to_numpy() if "gpu" in raw.columns else np.full(len(raw), path.stem)
    series = raw["series"].str.strip().to_numpy() if "series" in raw.columns else np.full(len(raw), "read")
    rows = [
        {"working_set_bytes": w, "bandwidth_GBps": b, "gpu": g, "series": s, "source_line": i + 2}
        for i, (w, b, g, s) in enumerate(zip(out["working_set_bytes"], out["bandwidth_GBps"], gpu, series))
    ]
    return _frame(rows, path, "tidy", text)


def read_gpu_benches(path, gpu: str | None = None) -> pd.DataFrame:
    """gpu-benches gpu-l2-cache (two kB columns) or gpu-cache (one) output."""
    path = Path(path)
    text = read_text(path)
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None or "data set" not in lines[first] or "bw" not in lines[first]:
        raise LadderInputError(
            path,
            "expected gpu-benches gpu-l2-cache/gpu-cache output starting with a 'data set ... Eff. bw' header",
            (first or 0) + 1,
        )
    rows, tool = [], None
    for i, ln in enumerate(lines[first + 1 :], start=first + 2):
        if not ln.strip():
            continue
        m = _KB.match(ln)
        if not m:
            raise LadderInputError(path, "expected '<KiB> kB [<KiB> kB] <t>ms <spread>% <bw> GB/s ...'", i)
        per_block, ws, _ms, spread, bw = m.groups()
        this = "gpu-l2-cache" if ws is not None else "gpu-cache"
        if tool and tool != this:
            raise LadderInputError(path, f"expected every row in the {tool} layout", i)
        tool = this
        kib = float(ws if ws is not None else per_block)
        value = float(bw)
        if kib <= 0 or value <= 0 or not math.isfinite(value):
            raise LadderInputError(path, "expected a positive working set and bandwidth", i)
        rows.append(
            {
                "working_set_bytes": kib * 1024,
                "bandwidth_GBps": value,
                "gpu": gpu or path.stem,
                "series": tool,
                "source_line": i,
            }
        )
    if not rows:
        raise LadderInputError(path, "expected data rows after the header", first + 2)
    method = (
        "gpu-benches gpu-l2-cache: 512 KiB chunks per block, working set = chunk x blockRun, host timer, min of 11"
        if tool == "gpu-l2-cache"
        else "gpu-benches gpu-cache: every block re-reads its data set, host timer"
    )
    return _frame(rows, path, "gpu-benches", text, {"tool": tool, "footprint_resolution_bytes": 1024, "method": method})


def from_results(source) -> pd.DataFrame:
    """A gpu-probes results document of a bandwidth ladder: one row per (point, op), the stored median GB/s."""
    doc, label, text = json_document(source)
    doc = gpu_results(doc, label)
    if not doc["probe"]["name"].startswith("bandwidth.ladder"):
        raise LadderInputError(label, f"expected a bandwidth.ladder result, got {doc['probe']['name']!r}")
    gpu = str(doc["environment"].get("gpu_name", "unknown"))
    rows = []
    for i, pt in enumerate(doc["points"]):
        ws, summary = pt["axes"].get("working_set_bytes"), pt.get("summary") or {}
        if not isinstance(ws, (int, float)) or not isinstance(summary.get("median"), (int, float)):
            raise LadderInputError(label, f"expected points[{i}] with axes.working_set_bytes and summary.median")
        rows.append(
            {
                "working_set_bytes": float(ws),
                "bandwidth_GBps": float(summary["median"]),
                "gpu": gpu,
                "series": str(pt["axes"].get("op", "read")),
                "source_line": np.nan,
                "ci_low": summary.get("ci_low"),
                "ci_high": summary.get("ci_high"),
            }
        )
    if not rows:
        raise LadderInputError(label, "expected at least one point in 'points'")
    return _frame(rows, label, "results", text, {"probe": doc["probe"]["name"]})


def detect_format(path) -> str:
    path = Path(path)
    text = read_text(path)
    head = text.lstrip()[:4096]
    if head.startswith("{"):
        return "results"
    first = head.splitlines()[0] if head else ""
    if "data set" in first and "bw" in first:
        return "gpu-benches"
    if "working_set_bytes" in first:
        return "tidy"
    raise LadderInputError(
        path,
        "unrecognised format: expected a tidy CSV header (working_set_bytes,"
        "bandwidth_GBps), gpu-benches gpu-l2-cache/gpu-cache output or a results "
        "JSON document; pass --format",
        1,
    )


def load(path, fmt: str = "auto", gpu: str | None = None) -> pd.DataFrame:
    path = Path(path)
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "tidy":
        return read_tidy_csv(path)
    if fmt == "gpu-benches":
        return read_gpu_benches(path, gpu)
    if fmt == "results":
        return from_results(path)
    raise LadderInputError(path, f"unknown format {fmt!r}: expected one of auto, {', '.join(FORMATS)}")
