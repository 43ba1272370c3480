"""Readers for latency ladders and samples from other tools, each returning one tidy pandas frame.

Columns: footprint_bytes, latency_cycles, latency_ns (NaN where unknown), gpu, stride_bytes, clock_mhz, plus
provenance columns source_format, source_file, source_line. `frame.attrs` holds `kind` ("ladder": latency vs
footprint; "samples": per-load latencies without a footprint; "reported-levels": a tool's own level summary, which
is never re-detected) and `provenance`.

Formats, learned from the tools' public repositories:
- tidy CSV: a header with footprint_bytes and latency_cycles and/or latency_ns; optional gpu, stride_bytes, clock_mhz.
- gpu-benches `gpu-latency` output (RRZE-HPC/gpu-benches): a `clock:` line, then rows
  `iters clock_MHz footprint_KiB time_ms cycles_per_load`; the KiB are floor(bytes / 1024), so footprints are exact
  only to 1 KiB, and ns per load = time_ms * 1e6 / iters.
- mt4g (caps-tum/mt4g) per-GPU JSON summary: `general` (name, clockRate) and `memory.<level>.latency/size`.
- mt4g raw `.txt` files, named `<GPU> - <benchmark>.txt`: size windows have lines `footprint_bytes,lat,lat,...`;
  latency files have one per-load latency per line.
- our own results document: {"samples": [{"footprint_bytes": ..., "cycles_per_load" | "latency_cycles": ...}]}.

Every malformed input raises LadderInputError with one line: file, line and what was expected.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = [
    "footprint_bytes",
    "latency_cycles",
    "latency_ns",
    "gpu",
    "stride_bytes",
    "clock_mhz",
    "source_format",
    "source_file",
    "source_line",
]
FORMATS = ("tidy", "gpu-benches", "mt4g", "results")


class LadderInputError(ValueError):
    """One-line description of unreadable input: where (file, line) and what was expected."""

    def __init__(self, path, expected: str, line: int | None = None):
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {expected}")


def tidy_frame(
    rows: list[dict] | pd.DataFrame,
    columns: list[str],
    path,
    fmt: str,
    extra: dict | None = None,
    kind: str | None = None,
    keep_other: bool = True,
) -> pd.DataFrame:
    """`rows` as a frame with `columns` first (missing ones NaN, source_format and source_file set), the rows' other
    columns after them (or dropped), `attrs["kind"]` when given and `attrs["provenance"]` = {file, format, **extra}.
    The one frame builder of the latency and the bandwidth importers."""
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    for col in columns:
        if col not in df.columns:
            df[col] = np.nan
    df["source_format"] = fmt
    df["source_file"] = str(path)
    other = [c for c in df.columns if c not in columns] if keep_other else []
    df = df[columns + other]
    if kind is not None:
        df.attrs["kind"] = kind
    df.attrs["provenance"] = {"file": str(path), "format": fmt, **(extra or {})}
    return df


def _frame(rows: list[dict] | pd.DataFrame, kind: str, path, fmt: str, extra: dict | None = None) -> pd.DataFrame:
    return tidy_frame(rows, COLUMNS, path, fmt, extra, kind=kind)


def read_text(path: Path) -> str:
    """The UTF-8 text of a file; unreadable or binary input raises LadderInputError (one line)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LadderInputError(path, f"cannot read file ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise LadderInputError(path, "expected a UTF-8 text file, found binary data") from None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _number(token: str, path, line: int, what: str) -> float:
    try:
        value = float(token)
    except ValueError:
        raise LadderInputError(path, f"expected {what} as a number, found {token[:40]!r}", line) from None
    if not math.isfinite(value):
        raise LadderInputError(path, f"expected {what} as a finite number, found {token[:40]!r}", line)
    return value


# --- tidy CSV -------------------------------------------------------------------------------------------------------


def read_tidy_csv(path) -> pd.DataFrame:
    path = Path(path)
    text = read_text(path)
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LadderInputError(path, f"expected CSV with a header row ({first[:80]})") from None
    cols = [c.strip() for c in raw.columns]
    raw.columns = cols
    if "footprint_bytes" not in cols or not ({"latency_cycles", "latency_ns"} & set(cols)):
        raise LadderInputError(
            path,
            f"expected CSV header with footprint_bytes and latency_cycles or latency_ns (found {', '.join(cols)[:80]})",
            1,
        )
    if raw.empty:
        raise LadderInputError(path, "expected at least one data row after the header", 2)
    out = pd.DataFrame(index=raw.index)
    for col in ("footprint_bytes", "latency_cycles", "latency_ns", "stride_bytes", "clock_mhz"):
        if col not in raw.columns:
            out[col] = np.nan
            continue
        values = raw[col].str.strip()
        num = pd.to_numeric(values, errors="coerce")
        bad = (num.isna() & (values != "")) | ~np.isfinite(num.fillna(0))
        if col == "footprint_bytes":
            bad |= values == ""
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise LadderInputError(path, f"expected {col} as a number, found {values.iloc[i][:40]!r}", i + 2)
        out[col] = num.astype(float)
    if out[["latency_cycles", "latency_ns"]].isna().all(axis=1).any():
        i = int(np.flatnonzero(out[["latency_cycles", "latency_ns"]].isna().all(axis=1).to_numpy())[0])
        raise LadderInputError(path, "expected latency_cycles or latency_ns on every row", i + 2)
    out["gpu"] = raw["gpu"].str.strip() if "gpu" in raw.columns else path.stem
    out["source_line"] = out.index + 2
    for col in ("source_repo", "source_path", "source_commit"):
        if col in raw.columns:
            out[col] = raw[col]
    return _frame(out.reset_index(drop=True), "ladder", path, "tidy", {"sha256": _sha256(text)})


# --- gpu-benches gpu-latency ----------------------------------------------------------------------------------------


def read_gpu_benches(path, gpu: str | None = None) -> pd.DataFrame:
    path = Path(path)
    text = read_text(path)
    lines = text.splitlines()
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None or not lines[first].lstrip().startswith("clock:"):
        raise LadderInputError(
            path, "expected gpu-benches gpu-latency output starting with a 'clock:' line", (first or 0) + 1
        )
    rows = []
    for i, ln in enumerate(lines[first + 1 :], start=first + 2):
        tokens = ln.split()
        if not tokens:
            continue
        if len(tokens) != 5:
            raise LadderInputError(
                path, f"expected 5 columns 'iters clock_MHz footprint_KiB time_ms cycles', found {len(tokens)}", i
            )
        iters, clock, kib, ms, cycles = (
            _number(t, path, i, w) for t, w in zip(tokens, ("iters", "clock_MHz", "footprint_KiB", "time_ms", "cycles"))
        )
        if iters <= 0 or kib < 0:
            raise LadderInputError(path, "expected positive iters and non-negative footprint_KiB", i)
        rows.append(
            {
                "footprint_bytes": kib * 1024,
                "latency_cycles": cycles,
                "latency_ns": ms * 1e6 / iters,
                "gpu": gpu or path.stem,
                "stride_bytes": 64.0,
                "clock_mhz": clock,
                "source_line": i,
                "iters": iters,
            }
        )
    if not rows:
        raise LadderInputError(path, "expected data rows after the 'clock:' line", first + 2)
    # gpu-latency chases int64 pointers spread 8 slots apart (skip_factor 8): one load per 64 B.
    return _frame(
        rows,
        "ladder",
        path,
        "gpu-benches",
        {
            "sha256": _sha256(text),
            "footprint_resolution_bytes": 1024,
            "method": "gpu-benches gpu-latency: one block of 64 threads chasing one random cycle, 64 B stride, "
            "host timer, min of 7, cycles from the reported clock",
        },
    )


# --- mt4g -----------------------------------------------------------------------------------------------------------

_MT4G_LEVELS = {
    "l1": "L1",
    "l2": "L2",
    "main": "DRAM",
    "shared": "shared",
    "readOnly": "read-only",
    "texture": "texture",
    "constant.l1": "constant-L1",
    "constant.l1.5": "constant-L1.5",
}


def _bytes(node) -> float:
    """mt4g sizes are {"size": n, "unit": "bytes"} (measured) or {"value": n, "unit": "bytes"} (property)."""
    if not isinstance(node, dict) or node.get("unit") not in (None, "bytes", "B"):
        return np.nan
    value = node.get("size", node.get("value"))
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan


def read_mt4g_json(path) -> pd.DataFrame:
    path = Path(path)
    text = read_text(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LadderInputError(path, f"expected JSON ({exc.msg})", exc.lineno) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("memory"), dict) or not isinstance(doc.get("general"), dict):
        raise LadderInputError(path, "expected an mt4g summary with 'general' and 'memory' objects")
    general = doc["general"]
    name = general.get("name") if isinstance(general.get("name"), str) else path.stem
    clock = general.get("clockRate")
    clock_mhz = (
        float(clock["value"]) / 1000
        if isinstance(clock, dict) and clock.get("unit") == "kHz" and isinstance(clock.get("value"), (int, float))
        else np.nan
    )
    rows = []
    for key, label in _MT4G_LEVELS.items():
        node = doc["memory"]
        for part in key.split(".", 1) if key.startswith("constant") else [key]:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            continue
        lat = node.get("latency")
        if not isinstance(lat, dict) or lat.get("unit", "cycles") != "cycles":
            continue
        p50, mean = lat.get("p50"), lat.get("mean")
        if not isinstance(p50, (int, float)) and not isinstance(mean, (int, float)):
            raise LadderInputError(path, f"expected memory.{key}.latency.p50 or .mean as a number")
        rows.append(
            {
                "level": label,
                "footprint_bytes": np.nan,
                "latency_cycles": float(p50 if isinstance(p50, (int, float)) else mean),
                "latency_mean_cycles": float(mean) if isinstance(mean, (int, float)) else np.nan,
                "n_samples": lat.get("measurements"),
                "capacity_bytes": _bytes(node.get("size")),
                "segment_bytes": _bytes(node.get("segmentSize")),
                "method": str(lat.get("method", "")),
                "gpu": name,
                "clock_mhz": clock_mhz,
            }
        )
    if not rows:
        raise LadderInputError(path, "expected at least one memory.<level>.latency entry in cycles")
    return _frame(
        rows,
        "reported-levels",
        path,
        "mt4g",
        {
            "sha256": _sha256(text),
            "method": "values as reported by mt4g (not re-detected): p50 latency, "
            "measured sizes; L2 total is a device property",
        },
    )


def read_mt4g_txt(path, gpu: str | None = None) -> pd.DataFrame:
    """A size window (`footprint,lat,lat,...` per line) is a ladder; one latency per line is a sample set."""
    path = Path(path)
    text = read_text(path)
    gpu_name, _, benchmark = path.stem.partition(" - ")
    gpu_name = gpu or gpu_name
    lines = [(i, ln.strip()) for i, ln in enumerate(text.splitlines(), start=1) if ln.strip()]
    if not lines:
        raise LadderInputError(path, "expected mt4g samples (one latency per line, or 'footprint,lat,...' lines)", 1)
    windowed = "," in lines[0][1]
    rows = []
    for i, ln in lines:
        tokens = [t.strip() for t in ln.split(",")]
        if windowed:
            if len(tokens) < 2:
                raise LadderInputError(path, "expected 'footprint_bytes,latency,latency,...'", i)
            fp = _number(tokens[0], path, i, "footprint_bytes")
            rows.extend(
                {"footprint_bytes": fp, "latency_cycles": _number(t, path, i, "latency"), "source_line": i}
                for t in tokens[1:]
                if t != ""
            )
        else:
            if len(tokens) != 1:
                raise LadderInputError(path, "expected one latency per line", i)
            rows.append(
                {"footprint_bytes": np.nan, "latency_cycles": _number(tokens[0], path, i, "latency"), "source_line": i}
            )
    for r in rows:
        r.update(gpu=gpu_name, benchmark=benchmark)
    return _frame(
        rows,
        "ladder" if windowed else "samples",
        path,
        "mt4g",
        {
            "sha256": _sha256(text),
            "benchmark": benchmark,
            "method": "mt4g: one thread, %clock around each load, per-load samples",
        },
    )


def _optional(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else np.nan


# --- our own results document ---------------------------------------------------------------------------------------


def json_document(source) -> tuple[object, object, str | None]:
    """(document, label, text) of a JSON document given as a dict or a path: the label is the path ("<results>" for
    a dict, whose text is None); a file that is not JSON raises LadderInputError with its line."""
    if isinstance(source, dict):
        return source, "<results>", None
    path = Path(source)
    text = read_text(path)
    try:
        return json.loads(text), path, text
    except json.JSONDecodeError as exc:
        raise LadderInputError(path, f"expected JSON ({exc.msg})", exc.lineno) from None


def gpu_results(doc: dict, label) -> dict:
    """A results document upgraded and validated by probes.results.schema, refused unless measured on a GPU."""
    from probes.results.schema import ResultsError, upgrade, validate

    try:
        doc = validate(upgrade(doc, str(label)), str(label))
    except ResultsError as err:
        raise LadderInputError(label, f"expected a valid results document ({err})") from None
    if doc["backend"] != "gpu":
        raise LadderInputError(
            label,
            f"expected GPU measurements, got backend {doc['backend']!r} "
            "(simulated results use a test clock and are not analysed)",
        )
    return doc


def from_results_json(source) -> pd.DataFrame:
    """Rows of a gpu-probes results document (kept small and apart: the schema module owns the full format)."""
    doc, label, text = json_document(source)
    if isinstance(doc, dict) and "points" in doc:
        return _from_schema(doc, label, text)
    if not isinstance(doc, dict) or not isinstance(doc.get("samples"), list):
        raise LadderInputError(label, "expected a results document with a 'samples' list")
    run = doc.get("run") if isinstance(doc.get("run"), dict) else {}
    run_gpu = doc.get("gpu") or run.get("gpu")
    if isinstance(run_gpu, dict):
        run_gpu = run_gpu.get("name")
    rows = []
    for i, s in enumerate(doc["samples"]):
        if not isinstance(s, dict):
            raise LadderInputError(label, f"expected samples[{i}] to be an object")
        cyc = s.get("cycles_per_load", s.get("latency_cycles"))
        fp = s.get("footprint_bytes")
        for value, what in ((fp, "footprint_bytes"), (cyc, "cycles_per_load or latency_cycles")):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise LadderInputError(label, f"expected samples[{i}].{what.split(' ')[0]} as a number (field {what})")
        rows.append(
            {
                "footprint_bytes": float(fp),
                "latency_cycles": float(cyc),
                "latency_ns": _optional(s.get("ns_per_load", s.get("latency_ns"))),
                "gpu": str(s.get("gpu") or run_gpu or "unknown"),
                "stride_bytes": _optional(s.get("stride_bytes")),
                "clock_mhz": _optional(s.get("clock_mhz")),
                "source_line": np.nan,
            }
        )
    if not rows:
        raise LadderInputError(label, "expected at least one sample in 'samples'")
    extra = {"sha256": _sha256(text)} if text is not None else {}
    return _frame(rows, "ladder", label, "results", extra)


def _from_schema(doc: dict, label, text) -> pd.DataFrame:
    """A full gpu-probes results document (probes.results.schema): one row per point, its median latency."""
    doc = gpu_results(doc, label)
    gpu = str(doc["environment"].get("gpu_name", "unknown"))
    stride = doc["probe"]["params"].get("stride_bytes")
    rows = []
    for i, pt in enumerate(doc["points"]):
        fp, summary = pt["axes"].get("footprint_bytes"), pt.get("summary") or {}
        if not isinstance(fp, (int, float)) or not isinstance(summary.get("median"), (int, float)):
            raise LadderInputError(label, f"expected points[{i}] with axes.footprint_bytes and summary.median")
        ns = [s.get("ns_per_op") for s in pt["samples"] if isinstance(s.get("ns_per_op"), (int, float))]
        rows.append(
            {
                "footprint_bytes": float(fp),
                "latency_cycles": float(summary["median"]),
                "latency_ns": float(np.median(ns)) if ns else np.nan,
                "gpu": gpu,
                "stride_bytes": _optional(stride),
                "clock_mhz": np.nan,
                "source_line": np.nan,
            }
        )
    if not rows:
        raise LadderInputError(label, "expected at least one point in 'points'")
    extra = {"sha256": _sha256(text)} if text is not None else {}
    return _frame(rows, "ladder", label, "results", extra)


# --- dispatch -------------------------------------------------------------------------------------------------------


def detect_format(path) -> str:
    path = Path(path)
    text = read_text(path)
    head = text.lstrip()[:4096]
    if head.startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise LadderInputError(path, f"expected JSON ({exc.msg})", exc.lineno) from None
        if isinstance(doc, dict) and ("samples" in doc or "points" in doc):
            return "results"
        if isinstance(doc, dict) and "memory" in doc and "general" in doc:
            return "mt4g"
        raise LadderInputError(path, "expected a results document ('samples') or an mt4g summary ('memory')")
    first = head.splitlines()[0] if head else ""
    if first.startswith("clock:"):
        return "gpu-benches"
    if "footprint_bytes" in first:
        return "tidy"
    if first and all(tok.strip().replace(".", "", 1).isdigit() for tok in first.split(",")):
        return "mt4g"
    raise LadderInputError(
        path,
        "unrecognised format: expected a tidy CSV header, a gpu-benches 'clock:' line, "
        "mt4g samples or a JSON document; pass --format",
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
    if fmt == "mt4g":
        return read_mt4g_json(path) if read_text(path).lstrip().startswith("{") else read_mt4g_txt(path, gpu)
    if fmt == "results":
        return from_results_json(path)
    raise LadderInputError(path, f"unknown format {fmt!r}: expected one of auto, {', '.join(FORMATS)}")
