"""Report section: instruction latency and throughput per GPU, beside the Programming Guide. Stored results only.

Latency: one dependent chain per thread (two run lengths, the difference cancels overhead); the Guide documents no
latency, so every latency is "undocumented". Beside each: ptxas's schedule of the op's PTX variant (the key of its
row in probes/static/instruction_table.py), from the variant atlas. Throughput: the plateau of results/clk/SM over independent chains x warps
per SM, labelled against the Guide's arithmetic-throughput table (probes/data/programming_guide_throughput.csv).
"""

from __future__ import annotations

import math

from probes import verdicts
from probes.analysis import instructions as A
from probes.report.sections import Figure, Finding, Paragraph, Section, Table

FAMILY = "instructions"
TITLE = "Instruction latency and throughput"
PREFIXES = ("instructions.",)
ORDER = 40


def _files(docs: list[dict]) -> tuple[str, ...]:
    return tuple(d["_file"] for d in docs if d.get("_file"))


def _num(v) -> str | None:
    return f"{v:g}" if v is not None and isinstance(v, (int, float)) and math.isfinite(v) else None


def _schedule(row: dict) -> str:
    """What ptxas's schedule says about the op's variant, for the evidence text (the compiler's model, not a
    measurement)."""
    key = row.get("variant") or ""
    if not key:
        return "No variant key stored: no schedule to compare with."
    klass, lat, interval = (
        row.get("static latency class"),
        _num(row.get("static latency [cycles]")),
        _num(row.get("static issue interval [cycles]")),
    )
    if not isinstance(klass, str) or not klass:
        return f"ptxas's schedule of `{key}`: not in the variant atlas for this architecture."
    parts = [f"{lat} cycles fixed latency" if lat else f"latency class {klass}"]
    if interval:
        parts.append(f"issue interval {interval} cycles")
    return f"ptxas's schedule of `{key}` (compiler model, not measured): {', '.join(parts)}."


def findings_of(frame, docs: list[dict]) -> list[Finding]:
    out, data = [], _files(docs)
    for row in frame.to_dict("records"):
        op, sass = row["instruction"], row["sass_opcode"]
        detail = f" (step includes {row['mix']})" if row["mix"] else ""
        detail += f"; {row['conditions']}" if row.get("conditions") else ""
        unit = f"{row.get('result unit') or 'results'}/clk/SM"
        lat = row["latency [cycles]"]
        if lat is not None and math.isfinite(lat):
            out.append(
                Finding(
                    FAMILY,
                    f"{sass} latency ({op})",
                    lat,
                    "cycles",
                    verdicts.UNDOCUMENTED,
                    f"Median cycles per dependent step of one chain{detail}, (t(2n) - t(n)) / steps. {_schedule(row)}",
                    ci=(row["latency CI low"], row["latency CI high"]),
                    figure="instructions-table",
                    data=data,
                )
            )
        thr = row["throughput [results/clk/SM]"]
        if thr is not None and math.isfinite(thr):
            pct = row["% of documented"]
            surprise = abs(pct / 100 - 1) if pct is not None and math.isfinite(pct) else 0.0
            documented = None
            if row["documented [results/clk/SM]"] is not None and math.isfinite(row["documented [results/clk/SM]"]):
                documented = f"{row['documented [results/clk/SM]']:g} results/clk/SM: {row['documented source']}"
            out.append(
                Finding(
                    FAMILY,
                    f"{sass} throughput ({op})",
                    thr,
                    unit,
                    row["label"],
                    f"Plateau over ilp x warps per SM, first reached at {row['saturated at [warps/SM]']} "
                    f"warps/SM x ilp {row['saturated at [ilp]']}{detail}. {_schedule(row)}",
                    ci=(row["throughput CI low"], row["throughput CI high"]),
                    surprise=surprise,
                    figure="instructions-table",
                    data=data,
                    documented=documented,
                )
            )
    return out


def section(docs: list[dict]) -> Section:
    frame = A.instruction_table(docs)
    blocks: list = [
        Paragraph(
            "Each op's chain step is one inline-PTX instruction (plus, where named in `mix`, a helper op that keeps "
            "ptxas from folding the chain; IEEE div/sqrt and bfe/bfi are the sequences ptxas emits, named by their "
            "opcodes); its SASS was checked at build time. Latency: one warp, one chain, "
            "(t(2n) - t(n)) / steps; atomics chain through the value they return (reductions return none: throughput "
            "only), bar.sync runs in a block of several warps, mma.sync chains through its accumulator. "
            "Throughput: results (FLOP for mma.sync) per clock per SM at the plateau of the ilp x warps-per-SM sweep. "
            "Documented values come from the CUDA C++ Programming Guide's arithmetic-throughput table (source per row); "
            "the Guide gives no latencies. Static latency and issue interval: ptxas's schedule of the op's PTX variant "
            "(column `variant`, the op's key in the instruction table) from the variant atlas "
            "(reports/static/variants-sass.csv.gz); empty where that atlas was not built for the GPU's architecture. "
            "It is the compiler's model, not a measurement."
        )
    ]
    if frame.empty:
        blocks.append(Paragraph("No completed instructions run among these results."))
        return Section(FAMILY, TITLE, blocks, [])
    blocks.append(Table(frame, caption="Per-op latency [CI], throughput [CI], documented value and label"))
    blocks.append(
        Figure(
            "instructions-table",
            A.figure(frame),
            "Top: latency per dependent step with 95 % CI; ticks: ptxas's scheduled latency. "
            "Bottom: plateau results/clk/SM; ticks: Programming Guide value.",
        )
    )
    return Section(FAMILY, TITLE, blocks, findings_of(frame, docs))
