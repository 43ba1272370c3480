"""Static instruction atlas: per (instruction, architecture) lowering, latency class, fixed latency and issue
interval, read from ptxas's schedule. No GPU, no driver: only the assembler and the disassembler.

    build(out_dir, archs=None)  -> DataFrame, writes out_dir/instructions-sass.csv atomically
    readme_section(df)          -> the '## Instruction schedule atlas' Markdown section
    python -m probes.static.instruction_atlas --out reports/static [--arch sm_90 ...] [--instruction fma.rn.f32 ...]

Every number is the compiler's model of the hardware (labelled so in the CSV), the prior a GPU run should confirm.
One module per architecture is assembled and disassembled (one ptxas and one cuobjdump call); the rows of an
architecture are cached on disk under a hash of the kernels, the tool versions and this package's source, so a
warm rebuild only reads them back.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from probes import verdicts as V

from . import instructions, toolchain
from .instruction_table import InstructionSpec

CSV_NAME = "instructions-sass.csv"
SECTION_TITLE = "## Instruction schedule atlas"
THROUGHPUT_BASIS = "implied by ptxas schedule (4 SMSP x 32 lanes / issue cycles), not measured"

COLUMNS = [
    "instruction",
    "group",
    "ptx",
    "ptx_per_link",
    "arch",
    "status",
    "error",
    "sass_opcodes",
    "sass_lowering",
    "sass_count",
    "sass_per_ptx",
    "emulated",
    "lowering_kind",
    "lowerings",
    "focus_opcodes",
    "latency_class",
    "fixed_latency_cycles",
    "latency_min",
    "latency_max",
    "fixed_links",
    "variable_links",
    "scoreboard",
    "chain_links",
    "chain_cycles_per_link",
    "issue_interval_cycles",
    "issue_cycles_per_ptx",
    "implied_throughput_per_sm_per_clk",
    "throughput_basis",
    "ptx_per_sass",
    "latency_per_ptx_cycles",
    "sass_throughput_per_sm_per_clk",
    "verdict",
    "assembler",
    "assembler_version",
    "disassembler",
    "disassembler_version",
]
_INT_COLUMNS = [
    "ptx_per_link",
    "fixed_latency_cycles",
    "latency_min",
    "latency_max",
    "fixed_links",
    "variable_links",
    "chain_links",
    "issue_interval_cycles",
]

# Hook for the documented-claims registry of the instruction-table issue: a callable (row dict) -> one of
# V.DOCUMENTED_VERDICTS (probes/verdicts.py: documented & matches / documented & differs / undocumented /
# inconclusive), checked on the way in. Until it exists every ok row is V.UNDOCUMENTED; no documented value is written
# here by hand.
ClaimsRegistry = Callable[[dict], str]

_SOURCES = ("instruction_table.py", "instructions.py", "schedule.py", "sass.py", "toolchain.py")


def _check_archs(archs: list[str] | None) -> list[str]:
    supported = toolchain.supported_archs()
    if archs is None:
        return list(supported)
    for arch in archs:
        toolchain.arch_key(arch)  # malformed name -> ValueError with the expected form
        if arch not in supported:
            raise ValueError(
                f"architecture {arch!r} is not accepted by ptxas {toolchain.tool_version('ptxas')} "
                f"({toolchain.find_tool('ptxas')}): pick one of {supported[0]}..{supported[-1]}, "
                "or install an older CUDA toolkit for sm_70/sm_72"
            )
    return sorted(dict.fromkeys(archs), key=toolchain.arch_key)


def _cache_key(kernels: dict, arch: str) -> tuple[str, ...]:
    here = Path(__file__).parent
    source = hashlib.sha256(b"".join((here / name).read_bytes() for name in _SOURCES)).hexdigest()
    text = hashlib.sha256("\n".join(k.text for k in kernels.values()).encode()).hexdigest()
    return (
        "instruction-atlas-rows",
        arch,
        toolchain.tool_version("ptxas"),
        toolchain.tool_version("cuobjdump"),
        source,
        text,
    )


def _rows_bytes(specs: list[InstructionSpec], arch: str) -> bytes:
    """Worker: one architecture's rows as JSON (also what the disk cache stores)."""
    return json.dumps(instructions.rows_for_arch(specs, arch)).encode()


def _cached_rows(specs: list[InstructionSpec], arch: str, kernels: dict) -> list[dict] | None:
    path = _cache_path(_cache_key(kernels, arch))
    return json.loads(path.read_bytes()) if path.is_file() else None


def _cache_path(key: tuple[str, ...]) -> Path:
    digest = hashlib.sha256("\0".join(key).encode()).hexdigest()[:32]
    return toolchain.cache_dir() / "atlas" / f"{digest}.json"


def _store_rows(kernels: dict, arch: str, data: bytes) -> None:
    path = _cache_path(_cache_key(kernels, arch))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs speed


def _frame(rows: list[dict], claims: ClaimsRegistry | None) -> pd.DataFrame:
    versions = {"ptxas": toolchain.tool_version("ptxas"), "cuobjdump": toolchain.tool_version("cuobjdump")}
    for row in rows:
        row["assembler"], row["assembler_version"] = "ptxas", versions["ptxas"]
        row["disassembler"], row["disassembler_version"] = "cuobjdump", versions["cuobjdump"]
        ok = row["status"] == "ok"
        row["throughput_basis"] = THROUGHPUT_BASIS if ok and row.get("implied_throughput_per_sm_per_clk") else ""
        row["verdict"] = V.check(claims(row) if claims else V.UNDOCUMENTED) if ok else ""
    df = pd.DataFrame(rows).reindex(columns=COLUMNS)
    for col in _INT_COLUMNS:
        df[col] = df[col].astype("Int64")
    return df


def _write_atomic(df: pd.DataFrame, path: Path) -> None:
    """Write a temp file beside the target, then os.replace: a failure never leaves half a CSV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        df.to_csv(tmp, index=False)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def build(
    out_dir: Path,
    archs: list[str] | None = None,
    progress: bool = True,
    instruction_names: list[str] | None = None,
    claims: ClaimsRegistry | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Build the atlas for `archs` (default: every architecture the installed ptxas accepts) and the named
    catalogue entries (default: all), write out_dir/instructions-sass.csv atomically and return the frame.

    Raises ValueError (unknown architecture or instruction) or ToolchainError (a tool is missing) before anything
    is written, so an existing CSV survives any failure.
    """
    specs = instructions.select(instruction_names)
    for tool in ("ptxas", "cuobjdump"):
        toolchain.find_tool(tool)  # fail first, with the tool's name and the fix
    archs = _check_archs(archs)
    kernels = instructions.catalogue_kernels(specs)
    start = time.perf_counter()

    def say(msg: str) -> None:
        if progress:
            print(f"instruction atlas: {msg} ({time.perf_counter() - start:.1f} s)", file=sys.stderr)

    by_arch: dict[str, list[dict]] = {}
    todo = []
    for arch in archs:
        cached = _cached_rows(specs, arch, kernels)
        if cached is None:
            todo.append(arch)
        else:
            by_arch[arch] = cached
    if by_arch:
        say(f"{len(by_arch)} architecture(s) from cache")
    workers = workers or min(len(todo), os.cpu_count() or 1)
    if workers > 1:
        # ptxas, cuobjdump and the Python decode all overlap across processes; each call is one architecture.
        with concurrent.futures.ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_rows_bytes, specs, arch): arch for arch in todo}
            for fut in concurrent.futures.as_completed(futures):
                arch = futures[fut]
                data = fut.result()
                _store_rows(kernels, arch, data)
                by_arch[arch] = json.loads(data)
                say(f"{arch} scheduled")
    else:
        for arch in todo:
            data = _rows_bytes(specs, arch)
            _store_rows(kernels, arch, data)
            by_arch[arch] = json.loads(data)
            say(f"{arch} scheduled")

    rows = [row for arch in archs for row in by_arch[arch]]
    df = _frame(rows, claims)
    _write_atomic(df, Path(out_dir) / CSV_NAME)
    say(f"wrote {Path(out_dir) / CSV_NAME}: {len(df)} rows, {len(specs)} instructions x {len(archs)} architectures")
    return df


# --- README section ------------------------------------------------------------------------------------------------


def _num(value) -> str:
    """4.0 -> '4', 2.5 -> '2.5' (a CSV read back turns nullable ints into floats)."""
    return f"{float(value):g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value)


_KIND_MARK = {"software sequence": "*", "fixed sequence": "+", "merged": "m"}


def _mixed_latencies(lowerings: str) -> str:
    """'HADD2 47% 6; HFMA2.MMA 53% 10' -> '6,10' (the latency of each alternating lowering)."""
    lats = []
    for part in str(lowerings).split(";"):
        toks = part.split()
        if len(toks) >= 3 and toks[1].endswith("%"):
            lats.append(toks[2])
    return ",".join(sorted(dict.fromkeys(lats), key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v)))


def _cell(row: pd.Series) -> str:
    if row["status"] != "ok":
        return "—"
    klass = row["latency_class"]
    kind = row.get("lowering_kind", "")
    if kind == "mixed" and _mixed_latencies(row.get("lowerings", "")):
        head = _mixed_latencies(row["lowerings"])
    elif klass == "fixed":
        head = _num(row["fixed_latency_cycles"])
    elif klass == "variable":
        head = "SB"
    elif klass == "mixed":
        head = "mix"
    else:
        head = "?"
    interval = row["issue_interval_cycles"]
    tail = f"/{_num(interval)}" if pd.notna(interval) else ""
    return f"{head}{tail}{_KIND_MARK.get(kind, '')}"


def _arch_span(archs: list[str]) -> str:
    """'sm_75–sm_89, sm_100a': runs of consecutive targets as ranges."""
    return toolchain.arch_ranges(list(archs))


def _matrix(df: pd.DataFrame) -> list[str]:
    """One table per instruction group (### subheading), columns = groups of identical architecture columns, named
    as ranges of consecutive targets ('sm_100–sm_103f')."""
    cells = df.assign(cell=df.apply(_cell, axis=1)).pivot(index="instruction", columns="arch", values="cell")
    order = list(dict.fromkeys(df["instruction"]))
    archs = sorted(cells.columns, key=toolchain.arch_key)
    cells = cells.reindex(index=order, columns=archs)
    groups: list[list[str]] = []
    for arch in archs:  # collapse architectures whose whole column is identical
        for g in groups:
            if cells[g[0]].equals(cells[arch]):
                g.append(arch)
                break
        else:
            groups.append([arch])
    head = ["instruction"] + [toolchain.arch_ranges(g, archs) for g in groups]
    group_of = dict(zip(df["instruction"], df["group"]))
    lines: list[str] = []
    current = None
    for name in order:
        if group_of[name] != current:
            current = group_of[name]
            lines += ["", f"### {current}", ""] if lines else [f"### {current}", ""]
            lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines.append("| `" + name + "` | " + " | ".join(cells.loc[name, g[0]] for g in groups) + " |")
    return lines


def _spans(values: dict[str, object]) -> str:
    """'4 on sm_75, sm_80; 6 on sm_90' from {arch: value}."""
    by_value: dict[str, list[str]] = {}
    for arch, v in values.items():
        by_value.setdefault(_num(v), []).append(arch)
    return "; ".join(f"{v} on {_arch_span(a)}" for v, a in by_value.items())


def _findings(df: pd.DataFrame) -> list[str]:
    ok = df[df["status"] == "ok"]
    out = []
    order = list(dict.fromkeys(df["instruction"]))

    def per_arch(name: str, column: str) -> dict[str, object]:
        sub = ok[ok["instruction"] == name].sort_values("arch", key=lambda s: s.map(toolchain.arch_key))
        return dict(zip(sub["arch"], sub[column]))

    changed_class = [n for n in order if len(set(per_arch(n, "latency_class").values())) > 1]
    if changed_class:
        out.append(f"**Latency class changes across architectures** ({len(changed_class)} instructions):")
        out += [f"  - `{n}`: {_spans(per_arch(n, 'latency_class'))}" for n in changed_class]
    fixed = ok[ok["latency_class"] == "fixed"]
    is_mixed = set(ok[ok["lowering_kind"] == "mixed"]["instruction"]) if "lowering_kind" in ok else set()
    changed_lat = [
        n
        for n in order
        if n not in is_mixed and fixed[fixed["instruction"] == n]["fixed_latency_cycles"].dropna().nunique() > 1
    ]
    if changed_lat:
        out.append(f"**Fixed latency changes across architectures** ({len(changed_lat)} instructions, cycles):")
        for n in changed_lat:
            sub = fixed[fixed["instruction"] == n]
            out.append(f"  - `{n}`: {_spans(dict(zip(sub['arch'], sub['fixed_latency_cycles'])))}")
    changed_issue = [n for n in order if ok[ok["instruction"] == n]["issue_interval_cycles"].dropna().nunique() > 1]
    if changed_issue:
        out.append(
            f"**Issue interval changes across architectures** ({len(changed_issue)} instructions, cycles "
            "between independent copies):"
        )
        out += [f"  - `{n}`: {_spans(per_arch(n, 'issue_interval_cycles'))}" for n in changed_issue]
    kinds = ok["lowering_kind"].fillna("") if "lowering_kind" in ok else pd.Series("", index=ok.index)
    mixed = ok[kinds == "mixed"]
    if len(mixed):
        out.append(
            f"**Mixed lowerings** ({mixed['instruction'].nunique()} instructions): ptxas alternates two SASS "
            "lowerings of the same PTX op along a chain; each is given with its share of the links and its "
            "fixed latency, since one number (a mode) would describe only the majority:"
        )
        for n, sub in mixed.groupby("instruction", sort=False):
            out.append(f"  - `{n}`: {_spans(dict(zip(sub['arch'], sub['lowerings'])))}")
    merged = ok[kinds == "merged"]
    if len(merged):
        out.append(
            f"**Merged operations** ({merged['instruction'].nunique()} instructions): one SASS instruction does "
            "several PTX ops of the chain (two adds in one IADD3, two mins in one VIMNMX3), so latency and "
            "issue interval per SASS instruction are not per PTX op. Per PTX op:"
        )
        for n, sub in merged.groupby("instruction", sort=False):
            vals = {
                r["arch"]: f"{_num(r['ptx_per_sass'])} PTX ops per {r['focus_opcodes']}, "
                f"{_num(r['latency_per_ptx_cycles'])} cycles of chain latency and "
                f"{_num(r['implied_throughput_per_sm_per_clk'])} ops/clk/SM per PTX op "
                f"({_num(r['sass_throughput_per_sm_per_clk'])} SASS/clk/SM)"
                for _, r in sub.iterrows()
            }
            out.append(f"  - `{n}`: {_spans(vals)}")
    for kind, title in (
        (
            "software sequence",
            "**Software sequences** (the lowering branches around a slow path "
            "or calls a subroutine; `*` in the matrix)",
        ),
        (
            "fixed sequence",
            "**Short fixed lowerings** (a few straight-line SASS instructions per PTX "
            "op, no branch or call, e.g. FMUL.RZ + MUFU.SIN; `+` in the matrix)",
        ),
    ):
        sub = ok[kinds == kind]
        if not len(sub):
            continue
        out.append(f"{title}: {sub['instruction'].nunique()} instructions:")
        for n in dict.fromkeys(sub["instruction"]):
            s2 = sub[sub["instruction"] == n]
            lo, hi = s2["sass_per_ptx"].min(), s2["sass_per_ptx"].max()
            rng = f"{lo:g}" if lo == hi else f"{lo:g}–{hi:g}"
            out.append(f"  - `{n}`: {rng} SASS per PTX instruction on {_arch_span(list(s2['arch']))}")
    rejected = df[df["status"] == "rejected"]
    if len(rejected):
        out.append(f"**Rejected by the assembler** ({len(rejected)} of {len(df)} cells):")
        for (n, err), sub in rejected.groupby(["instruction", "error"], sort=False):
            out.append(f"  - `{n}` on {_arch_span(list(sub['arch']))}: {err}")
    return out


def readme_section(df: pd.DataFrame) -> str:
    """Markdown: a matrix (rows instruction, columns architecture groups) and findings computed from `df`."""
    versions = ", ".join(
        sorted(
            {f"{a} {v}" for a, v in zip(df["assembler"], df["assembler_version"])}
            | {f"{a} {v}" for a, v in zip(df["disassembler"], df["disassembler_version"])}
        )
    )
    n_instr, n_arch = df["instruction"].nunique(), df["arch"].nunique()
    lines = [
        SECTION_TITLE,
        "",
        f"What ptxas's schedule says about {n_instr} PTX instructions on {n_arch} architectures, read from the "
        f"control bits of the SASS it emits ({versions}; no GPU involved). This is the compiler's model of the "
        "hardware, the prior a measurement should confirm, not a measurement. Data: "
        f"[`{CSV_NAME}`]({CSV_NAME}).",
        "",
        "Method: per instruction, a chain of dependent links and 8 interleaved independent chains, per-thread "
        "operands loaded at the start and a store at the end. A link is a producer and its first consumer found by "
        "following registers; its latency is the sum of stall fields between them when the producer sets no "
        "scoreboard (fixed latency, mode over links), else the consumer waits on a scoreboard (variable). The issue "
        "interval is the mode of the stall distance between consecutive independent copies.",
        "",
        "Cells: fixed latency in cycles / issue interval; `6,10` a mixed lowering (two alternating SASS forms, their "
        "latencies; shares below); `SB` variable latency (scoreboard); `mix` a sequence with both; `*` a software "
        "sequence (branches or calls), `+` a short fixed lowering, `m` merged (one SASS instruction does several PTX "
        "ops; per-op figures below); `—` rejected by the assembler. Architectures with identical columns share one "
        "(named as a range of consecutive targets).",
        "",
    ]
    lines += _matrix(df)
    lines += ["", "### Findings (computed from the table)", ""]
    lines += [f"- {f}" if not f.startswith("  ") else f for f in _findings(df)]
    return "\n".join(lines) + "\n"


# --- command line --------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m probes.static.instruction_atlas", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--out", type=Path, default=Path("reports/static"))
    parser.add_argument("--arch", action="append", help="repeatable; default: every architecture ptxas accepts")
    parser.add_argument("--instruction", action="append", help="repeatable; default: the whole catalogue")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    try:
        build(args.out, args.arch, progress=not args.quiet, instruction_names=args.instruction)
    except (ValueError, toolchain.ToolchainError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
