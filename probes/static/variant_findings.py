"""Markdown of the variant atlas and the summary box of the static README, computed from the tables only."""

from __future__ import annotations

import pandas as pd

from probes.static.toolchain import arch_key, arch_ranges

SECTION_TITLE = "## Variant atlas: every PTX variant the assembler accepts"


def _archs(df: pd.DataFrame) -> list[str]:
    return sorted(df["arch"].unique(), key=arch_key)


def _schema_lines() -> list[str]:
    from probes.static import web

    doc = web.__doc__.split("\n\n", 1)[1]
    return [ln.rstrip() for ln in doc.strip().splitlines()]


def _verify_every() -> int:
    from probes.static import variant_atlas

    return variant_atlas.VERIFY_EVERY


def _verify() -> int:
    from probes.static import variant_atlas

    return variant_atlas.VERIFY


def readme_section(df: pd.DataFrame, csv_name: str) -> str:
    universe = _archs(df)
    ok = df[df["status"] == "ok"]
    accepted = ok["variant"].nunique()
    L = [
        SECTION_TITLE,
        "",
        f"{df['variant'].nunique()} variants generated from one declarative table (`probes/static/variants.py`: PTX "
        f"templates with typed operands, a grammar multiplying types × modifiers), assembled for {len(universe)} "
        f"targets: **{accepted} variants are accepted by at least one target** ({len(ok)} of {len(df)} cells). "
        "ptxas decides what is legal; its message is kept for every rejected cell. Targets of this build: "
        f"{arch_ranges(universe)} (every target the installed ptxas accepts and cuobjdump reads). "
        "Browse them in "
        "[`atlas.html`](atlas.html) (filters, permalinks, SASS on hover or click); data: "
        f"[`{csv_name}`]({csv_name}) (gzip CSV) and [`atlas.json`](atlas.json).",
        "",
        "Per cell: the SASS lowering (opcodes per PTX instruction: 8 independent copies, or 8 interleaved chains of "
        "3 links where the result can feed its own source, minus a baseline with the same loads), the issue "
        "interval (stall field between back-to-back copies), and for chainable variants a chain of 6 links read "
        "for the fixed latency ptxas assumes (`SB`: the result comes back through a scoreboard, variable "
        "latency). Every base target (sm_75 … sm_121) is assembled in full; a kernel whose code bytes are identical "
        "to one already read on a target of the same SASS generation (e.g. sm_88, sm_89 = sm_86) is not "
        "disassembled again, its row is the same. `a`/`f` targets are assembled for what their base target "
        f"rejects plus a sample of the rest (every {_verify_every()}th variant by hash, at least {_verify()}); "
        "where the sample lowers exactly as on the base target, the base target's rows are used (column "
        "`assembled_as`), otherwise the whole table is assembled for that target.",
        "",
        "`atlas.json` schema (also in `probes/static/web.py`):",
        "",
        "```",
        *_schema_lines(),
        "```",
        "",
        "| group | variants | accepted somewhere | accepted on | software sequences | variable latency |",
        "|---|---|---|---|---|---|",
    ]
    for group, g in df.groupby("group", sort=False):
        gok = g[g["status"] == "ok"]
        archs = sorted(gok["arch"].unique(), key=arch_key)
        seq = gok[gok["lowering_kind"] == "software sequence"]["variant"].nunique()
        var = gok[gok["latency_class"] == "variable"]["variant"].nunique()
        L.append(
            f"| {group} | {g['variant'].nunique()} | {gok['variant'].nunique()} | "
            f"{arch_ranges(archs, universe) or '—'} | {seq} | {var} |"
        )
    L.append("")
    for group, g in df.groupby("group", sort=False):
        gok = g[g["status"] == "ok"]
        L += [f"### {group} variants", ""]
        if gok.empty:
            msgs = g["error"].value_counts().head(2)
            L += [
                f"No target accepts these {g['variant'].nunique()} variants; ptxas says e.g. "
                + "; ".join(f"“{m}” ({n} cells)" for m, n in msgs.items()),
                "",
            ]
            continue
        by_archs: dict = {}
        for name, v in gok.groupby("variant", sort=False):
            by_archs.setdefault(arch_ranges(sorted(v["arch"], key=arch_key), universe), []).append(name)
        L.append("Accepted on:")
        for span, names in sorted(by_archs.items(), key=lambda kv: -len(kv[1]))[:6]:
            ex = ", ".join(f"`{n}`" for n in names[:3])
            L.append(f"- {span}: {len(names)} variants (e.g. {ex})")
        newest = max(gok["arch"], key=arch_key)
        sample = gok[gok["arch"] == newest]
        kinds = sample["lowering_kind"].value_counts()
        L.append(f"- lowering on {newest}: " + ", ".join(f"{k} {n}" for k, n in kinds.items()))
        slow = (
            sample.dropna(subset=["issue_interval_cycles"])
            .sort_values("issue_interval_cycles", ascending=False, kind="stable")
            .head(3)
        )
        if len(slow):
            L.append(
                f"- longest issue intervals on {newest}: "
                + ", ".join(
                    f"`{r.variant}` {int(r.issue_interval_cycles)} cycles (`{r.sass}`)" for r in slow.itertuples()
                )
            )
        L.append("")
    return "\n".join(L)


def summary_box(
    instr: pd.DataFrame | None,
    hints: pd.DataFrame | None,
    variant_df: pd.DataFrame | None,
    history_changes: pd.DataFrame | None,
) -> list[str]:
    """The most surprising facts, each computed from the data (no hand-written numbers)."""
    facts: list[str] = []
    if instr is not None and len(instr):
        ok = instr[instr["status"] == "ok"]
        universe = sorted(instr["arch"].unique(), key=arch_key)
        ii = ok.dropna(subset=["issue_interval_cycles"])
        for r in (
            ii.sort_values("issue_interval_cycles", ascending=False, kind="stable")
            .drop_duplicates("instruction")
            .head(2)
            .itertuples()
        ):
            archs = ii[(ii.instruction == r.instruction) & (ii.issue_interval_cycles == r.issue_interval_cycles)][
                "arch"
            ]
            facts.append(
                f"`{r.instruction}` ({r.focus_opcodes}) has ptxas's longest issue interval, "
                f"{int(r.issue_interval_cycles)} cycles, on {arch_ranges(list(archs), universe)}"
            )
        fx = ok.dropna(subset=["fixed_latency_cycles"])
        mma = fx[fx["group"] == "mma"]
        if len(mma):
            r = mma.sort_values("fixed_latency_cycles", ascending=False, kind="stable").iloc[0]
            archs = mma[(mma.instruction == r.instruction) & (mma.fixed_latency_cycles == r.fixed_latency_cycles)][
                "arch"
            ]
            facts.append(
                f"the longest fixed MMA latency ptxas assumes is {int(r.fixed_latency_cycles)} cycles "
                f"(`{r.instruction}`, {r.focus_opcodes}) on {arch_ranges(list(archs), universe)}"
            )
        # a lowering that becomes a single native instruction on some targets only
        for name, g in ok.groupby("instruction", sort=False):
            single = g[g["sass_per_ptx"] <= 1.0]
            multi = g[g["sass_per_ptx"] > 1.0]
            if len(single) and len(multi) and g["group"].iloc[0] == "mufu":
                facts.append(
                    f"`{name}` lowers to `{single['sass_opcodes'].iloc[0]}` "
                    f"({single['sass_per_ptx'].max():g} SASS per PTX op of its link) on "
                    f"{arch_ranges(list(single['arch']), universe)}, but to "
                    f"{multi['sass_per_ptx'].min():g}+ SASS per PTX op elsewhere"
                )
                break
        merged = ok[ok.get("lowering_kind", pd.Series(dtype=str)) == "merged"]["instruction"].unique()
        if len(merged):
            facts.append(
                f"{len(merged)} instructions are merged by ptxas (two PTX ops in one SASS instruction, "
                f"e.g. `{merged[0]}`): their per-SASS rates are not per-PTX-op rates"
            )
    if hints is not None and len(hints):
        from probes.static.cache_hint_findings import dropped

        d = dropped(hints)
        if d:
            facts.append(
                f"{len(d)} cache qualifiers leave no trace in the SASS on some target (e.g. "
                f"`{next(iter(d))[0]} {next(iter(d))[1]}`); `.L2::cache_hint` is not one of them: its "
                "policy travels in the memory descriptor"
            )
    if variant_df is not None and len(variant_df):
        ok = variant_df[variant_df["status"] == "ok"]
        only_af = [n for n, g in ok.groupby("variant") if all(arch_key(a)[1] for a in g["arch"])]
        facts.append(
            f"{ok['variant'].nunique()} PTX variants are accepted by some target; {len(only_af)} of them "
            "only by `a`/`f` targets (wgmma, tcgen05, setmaxnreg, ...)"
        )
    if history_changes is not None and len(history_changes):
        steps = release_order(history_changes["step"].unique())
        facts.append(
            f"the compiler's model is release-sensitive: {len(history_changes)} cells of the two atlases "
            f"changed over {len(steps)} release steps ({steps[0].split('→')[0]} → "
            f"{steps[-1].split('→')[1]}); see [history/](history/README.md)"
        )
    if not facts:
        return []
    return ["> **Surprising, computed from the data**", ">", *[f"> - {f}" for f in facts], ""]


def release_order(steps) -> list[str]:
    from probes.static.history import RELEASES

    order = list(RELEASES)
    return sorted(steps, key=lambda st: order.index(st.split("→")[0]) if st.split("→")[0] in order else 99)


def toc(text: str) -> list[str]:
    import re

    out = ["## Contents", ""]
    for line in text.splitlines():
        m = re.match(r"^(##|###) (.+)$", line)
        if not m or m.group(2) == "Contents":
            continue
        slug = re.sub(r"[^\w\- ]", "", m.group(2).lower()).strip().replace(" ", "-")
        out.append(("  " if m.group(1) == "###" else "") + f"- [{m.group(2)}](#{slug})")
    return out + [""]
