"""Report section: the cache-hint matrix of one GPU (static lowering joined with the cache-hints.* measurements)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from probes import verdicts as V
from probes.analysis import hints as A
from probes.report.sections import Figure, Finding, Paragraph, Section, Table

FAMILY = "cache-hints"
TITLE = "Cache hints: what each PTX cache qualifier does"
PREFIXES = ("cache-hints.",)
ORDER = 30

TABLE_COLUMNS = [
    "hint",
    "SASS",
    "L1 residency",
    "L2 residency",
    "L1 victim survived [%]",
    "L2 victim survived [%]",
    "bandwidth [% of copy]",
    "stale reads",
    "verdict",
    "ISA says",
]
HEATMAP_COLUMNS = ["L1 victim survived [%]", "L2 victim survived [%]", "bandwidth [% of copy]"]


def _heatmap(table: pd.DataFrame):
    import seaborn as sns

    from probes.report.figures import subplots

    frame = table.set_index("hint")[HEATMAP_COLUMNS].astype(float)
    l1 = table.set_index("hint")["L1 residency"]
    frame.insert(
        0, "L1-resident after touch [%]", np.where(l1 == "L1", 100.0, np.where(l1.isin(["L2", "HBM"]), 0.0, np.nan))
    )
    fig, ax = subplots(figsize=(7, 0.35 * len(frame) + 1.5))
    sns.heatmap(frame, annot=True, fmt=".0f", cmap="viridis", vmin=0, vmax=100, cbar_kws={"label": "%"}, ax=ax)
    ax.set_xlabel("metric")
    ax.set_ylabel("hint")
    fig.tight_layout()
    return fig


def _bandwidth_bars(bw: pd.DataFrame):
    from probes.report.figures import subplots

    fig, ax = subplots(figsize=(7, 0.3 * len(bw) + 1.5))
    y = np.arange(len(bw))
    err = np.vstack([bw.read_gbps - bw.ci_low, bw.ci_high - bw.read_gbps])
    ax.barh(y, bw.read_gbps, xerr=err, color="#4c72b0", capsize=3)
    ax.axvline(float(bw.copy_gbps.median()), color="k", ls="--", label="device copy ceiling (same run)")
    ax.set_yticks(y, bw.hint)
    ax.set_xlabel("read bandwidth [GB/s] (median, 95 % bootstrap CI)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


# effect name prefix -> (table column holding the headline number, its unit)
HEADLINE = {
    "residency": ("re-access [cycles]", "cycles (plain re-access after the hinted touch)"),
    "pollution-l1": ("L1 victim survived [%]", "% of an L1-resident victim surviving the hinted stream"),
    "pollution-l2": ("L2 victim survived [%]", "% of an L2-resident victim surviving the hinted stream"),
    "bandwidth": ("bandwidth [% of copy]", "% of the device-copy ceiling"),
    "prefetch": ("re-access [cycles]", "cycles (plain re-access after the hinted touch)"),
}


def _headline(r: dict) -> tuple[float, str]:
    first = r["effects"].split(", ")[0]
    column, unit = next((v for k, v in HEADLINE.items() if first.startswith(k)), HEADLINE["residency"])
    value = r.get(column)
    return (float(value) if value is not None and np.isfinite(float(value)) else float("nan")), unit


def _findings(table: pd.DataFrame, docs: list[dict]) -> list[Finding]:
    files = tuple(sorted({d.get("_file", "") for d in docs if d.get("_file")}))
    out = []
    for row in table.itertuples(index=False):
        r = dict(zip(table.columns, row))
        if r["verdict"] != V.EFFECT:
            continue
        differs = r["ISA agrees"] in (False,)  # np.bool_ from the frame; None = the ISA states nothing
        value, unit = _headline(r)
        out.append(
            Finding(
                family=FAMILY,
                title=f"{r['hint']} on {r['arch']}: {r['effects']}",
                value=value,
                unit=unit,
                label=V.DOCUMENTED_DIFFERS if differs else V.UNDOCUMENTED,
                evidence=(
                    f"SASS {r['SASS']}; Mann-Whitney vs the plain load, Holm-corrected, |Cliff's delta| >= "
                    f"{A.MIN_DELTA} in: {r['effects']}; L1 residency {r['L1 residency']}."
                ),
                surprise=1.0 if differs else 0.5,
                figure=f"{FAMILY}-heatmap",
                data=files,
                documented=f"{r['ISA says']} — {r['ISA source']}" if r["ISA says"] else None,
            )
        )
    return out


def section(docs: list[dict]) -> Section:
    sec = Section(FAMILY, TITLE)
    table = A.hint_table(docs)
    sec.blocks.append(
        Paragraph(
            "Each hint's SASS comes from the static atlas (`reports/static/cache-hints-sass.csv`); residency, pollution, "
            "bandwidth and staleness come from the `cache-hints.*` probes on this GPU. Latency bands (L1/L2/HBM) are the "
            f"same run's plain-load controls. Verdicts: {V.DROPPED} (SASS identical to the plain load), {V.NO_EFFECT}, "
            f"or {V.EFFECT} (Mann-Whitney vs the plain load, Holm-corrected, |Cliff's delta| >= {A.MIN_DELTA}). A "
            "non-significant test bounds the effect only at this sample size."
        )
    )
    if table.empty:
        sec.blocks.append(Paragraph("No completed cache-hints results for this GPU."))
        return sec
    for arch, t in table.groupby("arch"):
        sec.blocks.append(
            Table(
                t[TABLE_COLUMNS].reset_index(drop=True),
                caption=f"{arch}: per-hint matrix; 'ISA says' is sourced in the PTX ISA table below",
            )
        )
        sec.blocks.append(
            Figure(
                f"{FAMILY}-heatmap" + ("" if table.arch.nunique() == 1 else f"-{arch}"),
                _heatmap(t),
                caption=f"{arch}: residency and pollution per hint (% of lines)",
            )
        )
    stores = A.store_table(docs)
    for arch, t in stores.groupby("arch") if not stores.empty else ():
        sec.blocks.append(
            Table(
                t.drop(columns="arch").reset_index(drop=True),
                caption=f"{arch}: store hints — where a plain re-read of stored lines is served",
            )
        )
    persisting = A.persisting_summary(docs)
    if not persisting.empty:
        sec.blocks.append(
            Table(
                persisting,
                caption="L2 victim (L2/4) vs a plain streaming neighbour, without and "
                "with a persisting access-policy window (CUDA driver API)",
            )
        )
    bw = A.bandwidth_summary(docs)
    if not bw.empty:
        sec.blocks.append(
            Figure(
                f"{FAMILY}-bandwidth",
                _bandwidth_bars(bw),
                caption="streaming read bandwidth per hint with 95 % CIs; dashed: device copy",
            )
        )
    sec.blocks.append(
        Table(
            A.isa_table(),
            caption=f"What the PTX ISA says per hint and related instruction, "
            f"paraphrased from PTX ISA {A.ISA_VERSION} with its section "
            f"('{A.NOT_FOUND}' where the text is silent)",
        )
    )
    sec.findings.extend(_findings(table, docs))
    return sec
