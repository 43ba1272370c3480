"""Findings of the cache-hint atlas, computed from its table (never written by hand), and its Markdown section."""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from probes.static.toolchain import arch_key

REJECTED = "✗"


def arch_groups(df: pd.DataFrame, value: str = "sass") -> list[list[str]]:
    """Architectures whose every cell (status and SASS, all rows) is identical, grouped, in arch order."""
    archs = sorted(df["arch"].unique(), key=arch_key)
    signature = {
        a: tuple(df[df.arch == a].sort_values(["op", "width", "qualifier"])[["status", value]].itertuples(index=False))
        for a in archs
    }
    groups: dict = {}
    for a in archs:
        groups.setdefault(signature[a], []).append(a)
    return sorted(groups.values(), key=lambda g: arch_key(g[0]))


def group_label(group: list[str]) -> str:
    from probes.static.toolchain import arch_ranges

    return group[0] if len(group) == 1 else f"{group[0]} (= {arch_ranges(group[1:])})"


def cell(row) -> str:
    return row["sass"] if row["status"] == "ok" else REJECTED


def matrix(df: pd.DataFrame, op: str, width: str, groups: list[list[str]]) -> str:
    sub = df[(df.op == op) & (df.width == width)]
    reps = [g[0] for g in groups]
    header = "| qualifier | " + " | ".join(f"`{g[0]}`" + ("+" if len(g) > 1 else "") for g in groups) + " |"
    lines = [header, "|" + "---|" * (len(groups) + 1)]
    from probes.static.cache_hints import LINE_OPS
    from probes.static.qualifiers import LOAD_QUALIFIERS, STORE_QUALIFIERS

    order = {"ld": LOAD_QUALIFIERS, "st": STORE_QUALIFIERS, "line": LINE_OPS}[op]
    for qual in [q for q in order if q in set(sub["qualifier"])]:
        cells = []
        for a in reps:
            r = sub[(sub.qualifier == qual) & (sub.arch == a)]
            cells.append(cell(r.iloc[0]).replace("; ", " ; ") if len(r) else "")
        lines.append(f"| `{qual}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def signature(df: pd.DataFrame) -> pd.Series:
    """What two cells must share to be the same lowering: opcodes, the access's operand form and its memory
    descriptor (an L2 cache policy lives in the descriptor, not in the opcode). Older tables lack the last two."""
    extra = [c for c in ("operands", "descriptor") if c in df.columns]
    if not extra:
        return df["sass"]
    return df[["sass", *extra]].fillna("").astype(str).agg(" | ".join, axis=1)


def dropped(df: pd.DataFrame) -> dict[tuple[str, str], list[str]]:
    """{(op, qualifier): archs} where the qualifier's lowering (opcodes, operands and memory descriptor) equals the
    plain access's (same width, same arch): the qualifier leaves no trace in the SASS."""
    ok = df[(df.status == "ok") & (df.op != "line")]
    ok = ok.assign(sig_=signature(ok))
    plain = ok[ok.qualifier == "plain"].set_index(["op", "width", "arch"])["sig_"]
    out: dict = defaultdict(set)
    for r in ok[ok.qualifier != "plain"].itertuples():
        if plain.get((r.op, r.width, r.arch)) == r.sig_:
            out[(r.op, r.qualifier)].add(r.arch)
    return {k: sorted(v, key=arch_key) for k, v in sorted(out.items())}


def merged(df: pd.DataFrame, width: str = "b32") -> dict[tuple[str, str], list[tuple[str, ...]]]:
    """{(op, SASS): [qualifier groups]} of distinct non-plain qualifiers lowered identically (opcodes, operands,
    descriptor) on every arch where both are accepted (the hardware cannot tell them apart).
    width '-' compares the line operations (prefetch, discard, applypriority)."""
    ok = df[(df.status == "ok") & (df.width == width) & (df.qualifier != "plain")]
    ok = ok.assign(sig_=signature(ok))
    out = {}
    for op, sub in ok.groupby("op", sort=True):
        by_qual = {q: dict(zip(g.arch, g.sig_)) for q, g in sub.groupby("qualifier", sort=False)}
        sass_of = {q: dict(zip(g.arch, g.sass)) for q, g in sub.groupby("qualifier", sort=False)}
        seen: list[tuple[str, ...]] = []
        for q, m in by_qual.items():
            same = tuple(sorted(q2 for q2, m2 in by_qual.items() if m2 == m))
            if len(same) > 1 and same not in seen:
                seen.append(same)
                newest = max(m, key=arch_key)
                out[(op, sass_of[q][newest])] = same  # SASS as on the newest accepting target
    return out


def line_equivalences(df: pd.DataFrame) -> dict[tuple[str, str], list[tuple[str, ...]]]:
    """Line operations that lower identically wherever all are accepted (`prefetchu.L1` = `prefetch.global.L1`)."""
    return merged(df, "-")


_PRIORITY_NAMES = ("evict_unchanged", "evict_first", "evict_last", "evict_normal")


def policy_fields(df: pd.DataFrame) -> list[dict]:
    """Bit fields of the L2 cache-policy descriptor word that the data pins down.

    For every pair of policies (cache_hints.POLICIES) that differ in exactly one PTX field (primary priority,
    secondary priority or fraction) and whose descriptors are constants on the same target, the bits where the two
    descriptors differ belong to that field. A field's bits are the union over its pairs; they are reported only
    where no other field's pairs touch them, with each PTX value's content of those bits:
    {field, bits (lo, hi), values {PTX value: bits}, archs}. Bits that never vary are not claimed."""
    from probes.static.cache_hints import POLICIES

    if "descriptor" not in df.columns:
        return []
    rows = df[(df.status == "ok") & df.qualifier.isin(list(POLICIES)) & df.descriptor.astype(str).str.startswith("0x")]
    names = ("primary", "secondary", "fraction")
    mask: dict = defaultdict(int)
    archs: dict = defaultdict(set)
    words: list = []
    for (_op, arch), g in rows.groupby(["op", "arch"], sort=False):
        word = {q: int(d, 16) for q, d in zip(g.qualifier, g.descriptor)}
        words.append(word)
        for a in word:
            for b in word:
                diff = [i for i in range(3) if POLICIES[a][i] != POLICIES[b][i]]
                if a < b and len(diff) == 1 and word[a] != word[b]:
                    mask[names[diff[0]]] |= word[a] ^ word[b]
                    archs[names[diff[0]]].add(arch)
    out = []
    for field, m in mask.items():
        if any(m & m2 for f2, m2 in mask.items() if f2 != field):
            continue  # two PTX fields move the same bits: claim nothing about either
        lo, hi = (m & -m).bit_length() - 1, m.bit_length() - 1
        if m != ((1 << (hi + 1)) - 1) ^ ((1 << lo) - 1):
            continue  # not one contiguous run
        values: dict = {}
        ok = True
        for word in words:
            for q, w in word.items():
                key = POLICIES[q][names.index(field)] or "(none)"
                v = (w >> lo) & ((1 << (hi - lo + 1)) - 1)
                if values.setdefault(key, v) != v:
                    ok = False  # one PTX value, two encodings (other targets, other fields): no clean field
        if ok:
            out.append(
                {
                    "field": field,
                    "bits": (lo, hi),
                    "values": dict(sorted(values.items(), key=lambda kv: kv[1])),
                    "archs": sorted(archs[field], key=arch_key),
                }
            )
    return sorted(out, key=lambda f: f["bits"])


def descriptor_words(df: pd.DataFrame) -> dict[str, dict[str, str]]:
    """{policy label: {descriptor: arch span}} of the b32 loads (what the policy word is on each target)."""
    from probes.static.cache_hints import POLICIES

    if "descriptor" not in df.columns:
        return {}
    rows = df[(df.status == "ok") & (df.op == "ld") & (df.width == "b32") & df.qualifier.isin(list(POLICIES))]
    out: dict = {}
    for q in POLICIES:
        g = rows[rows.qualifier == q]
        by: dict = defaultdict(list)
        for a, d in zip(g.arch, g.descriptor):
            by[d].append(a)
        if by:
            out[q] = {d: _arch_span(sorted(a, key=arch_key)) for d, a in by.items()}
    return out


def sequences(df: pd.DataFrame, width: str = "b32") -> dict[tuple[str, str], str]:
    """Qualifiers lowered to more than one instruction: {(op, qualifier): SASS on the newest arch accepting it}."""
    ok = df[(df.status == "ok") & (df.width == width) & df.sass.str.contains(";")]
    out = {}
    for (op, q), g in ok.groupby(["op", "qualifier"], sort=False):
        newest = max(g.arch, key=arch_key)
        out[(op, q)] = g[g.arch == newest].sass.iloc[0]
    return out


def availability(df: pd.DataFrame) -> list[tuple[str, str, str, str, str]]:
    """(op, qualifier, width, first accepting arch or 'never', ptxas's message on the last rejecting arch)."""
    out = []
    for (op, q, w), g in df.groupby(["op", "qualifier", "width"], sort=False):
        rej = g[g.status == "rejected"]
        if rej.empty:
            continue
        acc = g[g.status == "ok"]
        first = min(acc.arch, key=arch_key) if len(acc) else "never"
        last_rej = (
            rej.loc[rej.arch.map(arch_key).idxmax()]
            if first == "never"
            else rej[rej.arch.map(arch_key) < arch_key(first)].pipe(
                lambda r: r.loc[r.arch.map(arch_key).idxmax()] if len(r) else rej.iloc[0]  # noqa: B023
            )
        )
        out.append((op, q, w, first, last_rej["error"]))
    return out


def default_scope(df: pd.DataFrame) -> dict[str, list[str]]:
    """{modifier: archs} for scope modifiers that a *plain* access carries on some targets (e.g. `.SYS`)."""
    plain = df[(df.status == "ok") & (df.qualifier == "plain") & (df.width == "b32") & (df.op != "line")]
    out: dict = defaultdict(set)
    for r in plain.itertuples():
        for mod in ("SYS", "GPU", "CTA"):
            if mod in r.sass.split(";")[-1].strip().split("."):
                out[mod].add(r.arch)
    return {k: sorted(v, key=arch_key) for k, v in out.items()}


def _without(sass: str, mods: set[str]) -> str:
    """SASS with an implicit default-scope modifier removed (kept where it is an explicit STRONG scope)."""

    def strip(ins: str) -> str:
        toks = ins.strip().split(".")
        return ".".join(toks if "STRONG" in toks else [t for t in toks if t not in mods])

    return "; ".join(strip(ins) for ins in sass.split(";"))


def changes_across_archs(df: pd.DataFrame, width: str = "b32") -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(op, qualifier, [(SASS, arch range)]) for qualifiers whose lowering differs between architectures,
    ignoring a scope modifier that every plain access of that target carries (reported once, by default_scope)."""
    implicit = default_scope(df)
    out = []
    ok = df[(df.status == "ok") & (df.width == width)]
    for (op, q), g in ok.groupby(["op", "qualifier"], sort=False):
        g = g.sort_values("arch", key=lambda c: c.map(arch_key))
        norm = [_without(s, {m for m, archs in implicit.items() if a in archs}) for a, s in zip(g.arch, g.sass)]
        if len(set(norm)) < 2:
            continue
        runs, prev = [], None
        for a, s in zip(g.arch, g.sass):
            key = _without(s, {m for m, archs in implicit.items() if a in archs})
            if key != prev:
                runs.append([s, a, a])
            else:
                runs[-1][2] = a
            prev = key
        out.append((op, q, [(s, lo if lo == hi else f"{lo}…{hi}") for s, lo, hi in runs]))
    return out


def readme_section(df: pd.DataFrame) -> str:
    groups = arch_groups(df)
    L = [
        "## Cache-hint atlas: PTX qualifier → SASS",
        "",
        f"{len(df)} cases ({df[['op', 'qualifier', 'width']].drop_duplicates().shape[0]} PTX operations × "
        f"{df.arch.nunique()} architectures), assembled with ptxas {df.assembler_version.iloc[0]} and read with "
        "cuobjdump. Data: [`cache-hints-sass.csv`](cache-hints-sass.csv). Every statement below is computed from it.",
        "",
        "Architectures with identical columns are merged: "
        + "; ".join(group_label(g) for g in groups if len(g) > 1)
        + ".",
        "",
    ]
    L += ["### Findings", ""]
    drops = dropped(df)
    if drops:
        L.append(
            "**Dropped**: the qualifier produces exactly the SASS of the plain access (it does nothing in "
            "the encoding):"
        )
        L += [f"- `{op} {q}` on {_arch_span(a)}" for (op, q), a in drops.items()]
        L.append("")
    merges = merged(df)
    if merges:
        L.append(
            "**Indistinguishable** (b32, identical SASS on every architecture accepting both; SASS of the newest):"
        )
        L += [f"- `{op}`: " + " = ".join(f"`{q}`" for q in qs) + f" → `{s}`" for (op, s), qs in merges.items()]
        L.append("")
    lines = line_equivalences(df)
    if lines:
        L.append("**Equivalent line operations** (identical SASS on every architecture accepting both):")
        L += ["- " + " = ".join(f"`{q}`" for q in qs) + f" → `{s}`" for (op, s), qs in lines.items()]
        L.append("")
    from probes.static.cache_hints import POLICIES
    from probes.static.qualifiers import LOAD_QUALIFIERS

    extra = [q for q in POLICIES if q not in LOAD_QUALIFIERS]
    main = df[~df.qualifier.isin(extra)]
    words = descriptor_words(df)
    if words:
        L += [
            "**L2 cache policy in the memory descriptor** (`.L2::cache_hint`): the opcode is the plain one, the "
            "policy travels in the 64-bit descriptor `desc[URx]` of the access, built from immediates on sm_80–sm_89 "
            "and by uniform arithmetic (`UMOV; USHF; ULOP3.LUT; USHF`) from sm_90 on; a plain access uses no "
            "descriptor (sm_80–sm_89) or the default one from the constant bank (sm_90+). Descriptor per policy "
            "(b32 loads; stores carry the same word):",
            "",
            "| policy (createpolicy.fractional) | descriptor |",
            "|---|---|",
        ]
        for q, by in words.items():
            L.append(
                f"| `{q.split('(', 1)[1].rstrip(')')}` | " + "; ".join(f"`{d}` on {a}" for d, a in by.items()) + " |"
            )
        L.append("")
        fields = policy_fields(df)
        if fields:
            L.append(
                "Bit fields pinned down by pairs of policies that differ in one PTX field (bits where their "
                "descriptors differ; only fields on which every such pair agrees):"
            )
            for f in fields:
                lo, hi = f["bits"]
                vals = ", ".join(f"{k} = {v}" for k, v in f["values"].items())
                L.append(
                    f"- {f['field']} priority: bit{'s' if hi > lo else ''} {lo}{'–' + str(hi) if hi > lo else ''} "
                    f"of the descriptor (bit{'s' if hi > lo else ''} {lo - 32}{'–' + str(hi - 32) if hi > lo else ''}"
                    f" of the upper word): {vals} on {_arch_span(f['archs'])}".replace("fraction priority", "fraction")
                )
            L.append(
                "Bits that no pair changes are not interpreted (e.g. the set bits next to the fraction's: the "
                "data show they do not move for fractions 1.0, 0.5 and 0.25, not what they mean)."
            )
            L.append("")
    seqs = sequences(main)
    if seqs:
        L.append("**Rewritten into a sequence** (b32, newest architecture):")
        L += [f"- `{op} {q}` → `{s}`" for (op, q), s in seqs.items()]
        L.append("")
    for mod, archs in default_scope(df).items():
        L += [
            f"**Default scope**: on {_arch_span(archs)} a plain access already carries `.{mod}` "
            f"(e.g. `{_plain_example(df, archs[0])}`); later targets drop it. Changes below ignore it.",
            "",
        ]
    chg = changes_across_archs(main)
    if chg:
        L.append("**Lowering changes between architectures** (b32):")
        L += [f"- `{op} {q}`: " + "; ".join(f"`{s}` on {r}" for s, r in runs) for op, q, runs in chg]
        L.append("")
    avail = availability(main)
    if avail:
        L += [
            "**Accepted only from some architecture on** (ptxas's own message on the last rejecting target):",
            "",
            "| op | qualifier | width | first accepted | ptxas says |",
            "|---|---|---|---|---|",
        ]
        by_qual: dict = {}
        for op, q, w, first, msg in avail:
            by_qual.setdefault((op, q, first, msg), []).append(w)
        by_widths: dict = {}
        for (op, q, first, msg), ws in by_qual.items():
            by_widths.setdefault((op, ", ".join(ws), first, msg), []).append(q)
        n_quals = main.groupby("op")["qualifier"].nunique().to_dict()
        for (op, ws, first, msg), qs in by_widths.items():
            names = f"every {op} qualifier" if len(qs) == n_quals[op] else ", ".join(f"`{q}`" for q in qs)
            L.append(f"| {op} | {names} | {ws} | {first} | {msg.replace('|', '/')} |")
        L.append("")
    for op, title in (("ld", "Loads"), ("st", "Stores"), ("line", "Prefetch, discard, priority")):
        width = "-" if op == "line" else "b32"
        L += [
            f"### {title} ({width if width != '-' else 'per line'}); `+` marks a merged column group",
            "",
            matrix(df, op, width, groups),
            "",
        ]
    L += [
        "Other widths (b64, v4.b32, b128, v4.b64, v8.b32) are in the CSV. `✗` = rejected by ptxas (message in "
        "the CSV). Frame instructions (parameter loads, address arithmetic) are removed from each cell.",
        "",
    ]
    return "\n".join(L)


def _plain_example(df: pd.DataFrame, arch: str) -> str:
    r = df[(df.arch == arch) & (df.qualifier == "plain") & (df.op == "ld") & (df.width == "b32")]
    return r.sass.iloc[0] if len(r) else "?"


def _arch_span(archs: list[str], universe=None) -> str:
    from probes.static.toolchain import arch_ranges

    return arch_ranges(archs, universe)
