"""Cache-hint matrix analysis (no CUDA): stored cache-hints.* results + the static atlas -> per-hint verdicts.

Method, step by step:
1. Tidy samples per probe, hint (and level / offset): `samples(docs)`.
2. Latency bands from the same run's controls, never from constants: L1 = plain re-walk of plain-touched lines,
   L2 = `.cg` walk of L2-resident lines, HBM = `.cg` walk of never-touched lines (medians over the run).
   A latency is assigned to the band nearest in log(latency) (`classify`); it is `inconclusive` unless it lies
   at least `margin` of the log-gap closer to one band than to the next, or when two bands are not distinct.
3. Each hint is compared with the plain load (`none`) of the same probe/point: two-sided Mann-Whitney U, p-values
   Holm-corrected over the hints of that comparison; effect size = Cliff's delta and the ratio of medians with a
   percentile-bootstrap 95 % CI (scipy.stats.bootstrap). A hint has a *measurable effect* when Holm p < alpha and
   |delta| >= 0.33 (a "medium" effect, Romano et al. 2006).
4. Verdict joined with the static atlas (reports/static/cache-hints-sass.csv): `dropped at compile time` (SASS
   identical to the plain load on that arch), else `measurable effect` or `kept in SASS but no measurable effect`.
5. What the PTX ISA says (ISA below: a paraphrase per hint with the ISA version and section it was read in) is
   compared with the measured L1 residency only where the ISA states it; elsewhere the behaviour is undocumented.

What it does not prove: a test that finds no difference bounds the effect only at this run's sample size and these
sizes (a victim set, a stream length); a latency band says where a line was served from, not why.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from probes import verdicts as V
from probes.static import qualifiers as Q  # the one qualifier table and its atlas lookups: no CUDA

CONTROL = "none"
ALPHA = 0.05
MIN_DELTA = 0.33
VERDICTS = V.HINT_VERDICTS  # dropped / kept but no effect / effect / not measured / reference (probes/verdicts.py)


# ---------------------------------------------------------------------------------------------------- the PTX ISA

# What the PTX ISA says about each hint, paraphrased from the PTX ISA 9.1 text (read 2026-11 in section-by-section
# Markdown copies of docs.nvidia.com/cuda/parallel-thread-execution, e.g. the ptx_9_1 tree of the public repository
# yayueLaurazhou/flashinfer-bench; the ld/st sections' own notes name 9.1 as the newest version). Section numbers
# change between ISA versions (7.6 numbers these §9.7.8.x), so every row names the version it was read in.
ISA_VERSION = "9.1"
_PTX = "https://docs.nvidia.com/cuda/parallel-thread-execution/index.html"
NOT_FOUND = "not found in the PTX ISA text we could read"


@dataclass(frozen=True)
class Section:
    number: str  # "9.7.9.1"
    title: str  # "Cache Operators"
    anchor: str  # docs anchor of the section

    def __str__(self) -> str:
        return f"§{self.number} {self.title}"


_DM = "data-movement-and-conversion-instructions"
SECTIONS = {
    "cop": Section("9.7.9.1", "Cache Operators", "cache-operators"),
    "evict": Section("9.7.9.2", "Cache Eviction Priority Hints", "cache-eviction-priority-hints"),
    "ld": Section("9.7.9.8", "Data Movement and Conversion Instructions: ld", f"{_DM}-ld"),
    "nc": Section("9.7.9.9", "Data Movement and Conversion Instructions: ld.global.nc", f"{_DM}-ld-global-nc"),
    "st": Section("9.7.9.11", "Data Movement and Conversion Instructions: st", f"{_DM}-st"),
    "prefetch": Section(
        "9.7.9.15", "Data Movement and Conversion Instructions: prefetch, prefetchu", f"{_DM}-prefetch-prefetchu"
    ),
    "applypriority": Section(
        "9.7.9.16", "Data Movement and Conversion Instructions: applypriority", f"{_DM}-applypriority"
    ),
    "discard": Section("9.7.9.17", "Data Movement and Conversion Instructions: discard", f"{_DM}-discard"),
    "createpolicy": Section(
        "9.7.9.18", "Data Movement and Conversion Instructions: createpolicy", f"{_DM}-createpolicy"
    ),
    "mcm-scope": Section("8.1", "Scope and applicability of the model", "scope-and-applicability"),
    "volatile": Section("8.4.2", "volatile Operation", "volatile-operation"),
    "acq-rel": Section("8.8", "Release and Acquire Patterns", "release-acquire-patterns"),
}


@dataclass(frozen=True)
class IsaStatement:
    """One hint as the PTX ISA describes it. `l1_allocates`: does the text say the accessed line is allocated in L1
    (True/False), or does it not say (None)? Only a True/False is ever compared with a measurement."""

    l1_allocates: bool | None
    statement: str  # a short paraphrase, not a quote
    sections: tuple[str, ...]  # keys of SECTIONS, the first one primary
    version: str = ISA_VERSION

    @property
    def section(self) -> str:
        return "; ".join(str(SECTIONS[k]) for k in self.sections)

    @property
    def source(self) -> str:
        refs = "; ".join(f"{SECTIONS[k]} ({_PTX}#{SECTIONS[k].anchor})" for k in self.sections)
        return f"PTX ISA {self.version}, {refs}"


_DEFAULT_CA = "No cache operator is given, so the default ld.ca applies: lines are allocated in L1 and L2."
_NO_CACHING = f"How it is cached: {NOT_FOUND}."
_EVICT_HINT = "Eviction priorities are performance hints (sm_70+)."
# load hint (the probes' `hint` axis) -> what the ISA says
ISA = {
    "none": IsaStatement(
        True,
        "No cache operator given: the default load is ld.ca, which allocates lines in all "
        "levels (L1 and L2) with normal eviction policy.",
        ("cop",),
    ),
    "ca": IsaStatement(
        True,
        "Cache at all levels, likely to be accessed again: allocates in L1 and L2 with normal "
        "eviction policy; L1 caches are not coherent for global data.",
        ("cop",),
    ),
    "cg": IsaStatement(False, "Cache at global level: cache in L2 and below, bypassing L1.", ("cop",)),
    "cs": IsaStatement(
        True,
        "Cache streaming, likely accessed once: allocates global lines with evict-first policy "
        "in L1 and L2 to limit pollution.",
        ("cop",),
    ),
    "lu": IsaStatement(
        True, "Last use; on global addresses it performs ld.cs (evict-first allocation in L1 and L2).", ("cop",)
    ),
    "cv": IsaStatement(
        False,
        "Don't cache and fetch again; on a global System Memory address it invalidates a "
        "matching L2 line and re-fetches it on every load.",
        ("cop",),
    ),
    "nc": IsaStatement(
        None,
        "Load from global memory, optionally cached in the non-coherent read-only cache (which "
        f"cache level that is: {NOT_FOUND}); the memory consistency model does not apply to "
        "ld.global.nc.",
        ("nc", "mcm-scope"),
    ),
    "nc.L1::no_allocate": IsaStatement(
        False,
        "ld.global.nc with the L1 eviction priority no_allocate: do not allocate the data in L1.",
        ("nc", "evict"),
    ),
    "L1::evict_first": IsaStatement(
        True,
        "Data cached with evict_first is first in the eviction order and likely "
        f"evicted when space is needed; suited to streaming data. {_EVICT_HINT}",
        ("evict", "ld"),
    ),
    "L1::evict_last": IsaStatement(
        True,
        "Data cached with evict_last is last in the eviction order, evicted only "
        "after evict_normal and evict_first data; suited to data that should persist. "
        f"{_EVICT_HINT}",
        ("evict", "ld"),
    ),
    "L1::evict_normal": IsaStatement(
        True, f"Cache data with normal eviction priority (the default). {_EVICT_HINT}", ("evict", "ld")
    ),
    "L1::evict_unchanged": IsaStatement(
        None,
        "Do not change the eviction priority order as part of this operation; "
        f"whether the line is allocated in L1: {NOT_FOUND}. {_EVICT_HINT}",
        ("evict", "ld"),
    ),
    "L1::no_allocate": IsaStatement(
        False, f"Do not allocate data in L1; suited to streaming data. {_EVICT_HINT}", ("evict", "ld")
    ),
    **{
        f"L2::{n}B": IsaStatement(
            True,
            f"Prefetch-size hint: fetch {n} bytes of additional data into L2, treated "
            f"as a performance hint only (sm_75+; 256B sm_80+). {_DEFAULT_CA}",
            ("ld", "cop"),
        )
        for n in (64, 128, 256)
    },
    "nc.L1::no_allocate.L2::256B": IsaStatement(
        False,
        "Non-coherent load (ld.global.nc) that does not allocate in "
        "L1 (no_allocate) and hints a 256-byte fetch into L2.",
        ("nc", "evict"),
    ),
    "L2::cache_hint": IsaStatement(
        True,
        "The 64-bit cache-policy operand (here createpolicy.fractional."
        "L2::evict_last, fraction 1.0: every access gets evict_last in L2) is a hint "
        "that may not be respected and does not change memory consistency (sm_80+). "
        f"{_DEFAULT_CA}",
        ("ld", "createpolicy", "cop"),
    ),
    "volatile": IsaStatement(
        None,
        "Equivalent to a relaxed load at system scope, plus: the number of volatile "
        "instructions is preserved and they are not reordered around each other; cache "
        f"operators are not allowed. {_NO_CACHING}",
        ("volatile", "ld"),
    ),
    "relaxed.gpu": IsaStatement(
        None,
        "A relaxed load: it can directly synchronize with the threads of its scope "
        "(gpu) as the memory consistency model describes; cache operators are not "
        f"allowed. {_NO_CACHING}",
        ("ld",),
    ),
    "acquire.gpu": IsaStatement(
        None,
        "An acquire load (gpu scope): it makes some operations of other threads "
        "visible to this thread's later operations; cache operators are not allowed. "
        f"{_NO_CACHING}",
        ("acq-rel", "ld"),
    ),
}
# store hint -> what the ISA says (l1_allocates: is the stored line allocated in L1?)
STORE_ISA = {
    "none": IsaStatement(
        None,
        "No cache operator given: the default store is st.wb (write back the coherent cache "
        f"levels with normal eviction policy). Whether L1 keeps the line: {NOT_FOUND}.",
        ("cop",),
    ),
    "wb": IsaStatement(
        None,
        "Cache write-back all coherent levels with normal eviction policy; another SM reading "
        "through its L1 with ld.ca may hit stale data. Whether L1 keeps the line: "
        f"{NOT_FOUND}.",
        ("cop",),
    ),
    "cg": IsaStatement(False, "Cache at global level: the store is cached in L2 and below, bypassing L1.", ("cop",)),
    "cs": IsaStatement(
        None,
        "Cache streaming, likely accessed once: allocates lines with evict-first policy to limit "
        f"pollution by streaming output (which levels: {NOT_FOUND}).",
        ("cop",),
    ),
    "wt": IsaStatement(
        None,
        "Cache write-through to system memory: on a global System Memory address the store "
        f"writes through the L2. For device memory: {NOT_FOUND}.",
        ("cop",),
    ),
    "L1::no_allocate": IsaStatement(False, f"Do not allocate the data in L1. {_EVICT_HINT}", ("evict", "st")),
    "L1::evict_first": IsaStatement(True, f"Cache in L1 first in the eviction order. {_EVICT_HINT}", ("evict", "st")),
    "L1::evict_last": IsaStatement(True, f"Cache in L1 last in the eviction order. {_EVICT_HINT}", ("evict", "st")),
    "L2::cache_hint": IsaStatement(
        None,
        "The cache-policy operand (here createpolicy evict_last) is an L2 hint that "
        "may not be respected and does not change memory consistency (sm_80+). "
        f"L1: {NOT_FOUND}.",
        ("st", "createpolicy"),
    ),
    "volatile": IsaStatement(
        None,
        "Equivalent to a relaxed store at system scope, plus: the number of volatile "
        "instructions is preserved and they are not reordered around each other; cache "
        f"operators are not allowed. {_NO_CACHING}",
        ("volatile", "st"),
    ),
    "relaxed.gpu": IsaStatement(
        None,
        "A relaxed store: it can directly synchronize with the threads of its scope "
        f"(gpu); cache operators are not allowed. {_NO_CACHING}",
        ("st",),
    ),
    "release.gpu": IsaStatement(
        None,
        "A release store (gpu scope): it makes this thread's earlier operations "
        "visible to some operations of other threads; cache operators are not allowed. "
        f"{_NO_CACHING}",
        ("acq-rel", "st"),
    ),
}
# Related instructions and qualifiers the probes do not put on their hint axis, for the report's citation table.
ISA_RELATED = {
    "ld .L2::evict_first/last/normal": IsaStatement(
        None,
        "ld and ld.global.nc accept an L2 eviction priority only "
        "on 256-bit vectors (.v8.b32, .v4.b64), sm_100+: why the "
        "hint axis leaves them out.",
        ("ld", "nc"),
    ),
    "prefetch": IsaStatement(
        None,
        "Brings the line holding a global or local address into L1 or L2; "
        "prefetch.global.L2::evict_last/evict_normal also sets its L2 eviction priority "
        "(sm_80+).",
        ("prefetch",),
    ),
    "applypriority": IsaStatement(
        None,
        "Applies the L2 evict_normal priority to a 128-byte, 128-byte-aligned range in L2 (sm_80+).",
        ("applypriority",),
    ),
    "discard": IsaStatement(
        None,
        "Acts as a weak write of unstable indeterminate values to a 128-byte range and "
        "hints that the L2 copy may be dropped without write-back (sm_80+).",
        ("discard",),
    ),
    "createpolicy": IsaStatement(
        None,
        "Builds an opaque 64-bit L2 eviction policy for .L2::cache_hint accesses: "
        "range-based (primary and secondary ranges) or fraction-based (the primary "
        "priority applies to that fraction of accesses, default 1.0); sm_80+.",
        ("createpolicy",),
    ),
}


def isa_table() -> pd.DataFrame:
    """Every ISA statement the analysis uses, with its source: the report's citation table."""
    rows = []
    for kind, table in (("load", ISA), ("store", STORE_ISA), ("related", ISA_RELATED)):
        for name, s in table.items():
            l1 = {True: "allocates", False: "does not allocate", None: "not stated"}[s.l1_allocates]
            rows.append(
                {
                    "access": kind,
                    "hint": name,
                    "L1 (per the ISA)": l1,
                    "ISA says": s.statement,
                    "PTX ISA": s.version,
                    "section": s.section,
                    "url": f"{_PTX}#{SECTIONS[s.sections[0]].anchor}",
                }
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------- samples


def samples(docs: list[dict]) -> pd.DataFrame:
    """One row per stored sample with the probe name, GPU, arch and axis values as columns."""
    rows = []
    for doc in docs:
        if doc.get("outcome") != "ok":
            continue
        cc = doc["environment"].get("compute_capability") or [0, 0]
        common = {
            "probe": doc["probe"]["name"],
            "gpu": doc["environment"].get("gpu_name", "?"),
            "arch": f"sm_{cc[0]}{cc[1]}",
            "file": doc.get("_file", ""),
        }
        for point in doc["points"]:
            for s in point["samples"]:
                if s.get("throttled"):
                    continue
                rows.append({**common, **point["axes"], **s})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------- bands


def bands(df: pd.DataFrame) -> dict[str, float]:
    """Median L1 / L2 / HBM latency of the run's controls present in `df` (band_*_cycles columns)."""
    out = {}
    for level in ("l1", "l2", "hbm"):
        col = f"band_{level}_cycles"
        if col in df and df[col].notna().any():
            out[level.upper()] = float(df[col].median())
    return out


def classify(latency: float, band: dict[str, float], margin: float = 0.25) -> str:
    """The band nearest in log(latency), or V.INCONCLUSIVE (within `margin` of the midpoint, or bands not distinct)."""
    levels = sorted(((v, k) for k, v in band.items() if v and v > 0), key=lambda t: t[0])
    if not levels or latency is None or not np.isfinite(latency) or latency <= 0:
        return V.INCONCLUSIVE
    x = np.log(latency)
    logs = [np.log(v) for v, _ in levels]
    i = int(np.argmin([abs(x - v) for v in logs]))
    for j in (i - 1, i + 1):
        if 0 <= j < len(logs):
            gap = abs(logs[j] - logs[i])
            if gap < np.log(1.2):  # bands closer than 1.2x: they cannot be told apart
                return V.INCONCLUSIVE
            if abs(x - logs[i]) > (0.5 - margin / 2) * gap and (x - logs[i]) * (logs[j] - logs[i]) > 0:
                return V.INCONCLUSIVE
    return levels[i][1]


def survived(after: float, resident: float, evicted: float) -> float | None:
    """Fraction of a victim set still resident, from where its re-timed latency lies between the two bands."""
    if evicted is None or resident is None or evicted <= resident * 1.2:
        return None
    return float(np.clip((evicted - after) / (evicted - resident), 0.0, 1.0))


# ---------------------------------------------------------------------------------------------------- statistics


def holm(pvalues: dict) -> dict:
    """Holm-Bonferroni step-down adjusted p-values (family-wise error control over the given tests)."""
    keys = sorted(pvalues, key=lambda k: pvalues[k])
    m, running, out = len(keys), 0.0, {}
    for rank, key in enumerate(keys):
        running = max(running, min(1.0, (m - rank) * pvalues[key]))
        out[key] = running
    return out


def _median_ratio_ci(x, y, seed: int = 0) -> tuple[float, float, float]:
    if np.median(y) == 0 or np.any(np.asarray(y) == 0):
        return float("nan"), float("nan"), float("nan")  # a ratio to zero (e.g. no stale reads) is undefined
    ratio = float(np.median(x) / np.median(y))
    if len(x) < 3 or len(y) < 3 or np.ptp(np.concatenate([x, y])) == 0:
        return ratio, ratio, ratio
    res = stats.bootstrap(
        (x, y),
        lambda a, b, axis=-1: np.median(a, axis=axis) / np.median(b, axis=axis),
        n_resamples=999,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng(seed),
    )
    return ratio, float(res.confidence_interval.low), float(res.confidence_interval.high)


def compare(groups: dict[str, np.ndarray], control: str = CONTROL) -> pd.DataFrame:
    """Each hint vs the control: Mann-Whitney U (two-sided), Holm over the hints, Cliff's delta, median ratio CI."""
    if control not in groups:
        raise ValueError(f"no '{control}' samples to compare the hints with")
    y = np.asarray(groups[control], dtype=float)
    rows, pvals = {}, {}
    for hint, x in groups.items():
        if hint == control:
            continue
        x = np.asarray(x, dtype=float)
        if len(x) == 0 or len(y) == 0:
            continue
        if np.ptp(np.concatenate([x, y])) == 0:
            u, p = len(x) * len(y) / 2, 1.0  # all values equal: no evidence of a difference
        else:
            u, p = stats.mannwhitneyu(x, y, alternative="two-sided")
        ratio, lo, hi = _median_ratio_ci(x, y)
        rows[hint] = {
            "hint": hint,
            "n": len(x),
            "n_control": len(y),
            "p": float(p),
            "cliffs_delta": float(2 * u / (len(x) * len(y)) - 1),
            "median_ratio": ratio,
            "ratio_ci_low": lo,
            "ratio_ci_high": hi,
        }
        pvals[hint] = float(p)
    adjusted = holm(pvals)
    for hint, row in rows.items():
        row["p_holm"] = adjusted[hint]
        row["effect"] = bool(adjusted[hint] < ALPHA and abs(row["cliffs_delta"]) >= MIN_DELTA)
    cols = [
        "hint",
        "n",
        "n_control",
        "p",
        "p_holm",
        "cliffs_delta",
        "median_ratio",
        "ratio_ci_low",
        "ratio_ci_high",
        "effect",
    ]
    return pd.DataFrame(list(rows.values()), columns=cols)


# ---------------------------------------------------------------------------------------------------- static join


def static_lowering(hint: str, arch: str, op: str = "ld", width: str = "b64") -> tuple[str, bool | None]:
    """(SASS as the atlas records it, dropped = same SASS as the plain access) for a hint on arch."""
    cell = Q.lowering(op, hint, width, arch)
    plain = Q.lowering(op, CONTROL, width, arch)
    if cell is None or plain is None:
        return "not in atlas", None
    if cell[0] != "ok":
        return "rejected by ptxas", None
    return cell[1], (hint != CONTROL and cell[1] == plain[1])


def verdict(dropped: bool | None, effects: list[str], measured: bool, hint: str = "") -> str:
    """Three-way verdict from static and dynamic evidence (VERDICTS); the plain access is the reference."""
    if hint == CONTROL:
        return V.REFERENCE
    if dropped:
        return V.DROPPED
    if not measured:
        return V.NOT_MEASURED
    return V.EFFECT if effects else V.NO_EFFECT


def isa_agrees(hint: str, l1_class: str) -> bool | None:
    """Does the measured L1 residency match the ISA's statement? None when the ISA states nothing or the
    measurement is inconclusive."""
    expected = ISA[hint].l1_allocates if hint in ISA else None
    if expected is None or l1_class not in ("L1", "L2", "HBM"):
        return None
    return (l1_class == "L1") == expected


# ---------------------------------------------------------------------------------------------------- the table


def _metric(df: pd.DataFrame, probe: str, **axes) -> pd.DataFrame:
    sub = df[df.probe == probe] if "probe" in df else df.iloc[0:0]
    for k, v in axes.items():
        sub = sub[sub[k] == v] if k in sub else sub.iloc[0:0]
    return sub


def _compare_on(sub: pd.DataFrame, column: str) -> pd.DataFrame:
    if sub.empty or CONTROL not in set(sub.hint) or column not in sub:
        return pd.DataFrame(columns=["hint", "effect"])
    groups = {h: g[column].dropna().to_numpy(float) for h, g in sub.groupby("hint")}
    return compare(groups)


def hint_table(docs: list[dict]) -> pd.DataFrame:
    """Per GPU arch and hint: SASS lowering, residency (L1/L2), pollution survived %, bandwidth % of the copy
    ceiling, stale reads, the three-way verdict, what the ISA says and whether the measurement agrees."""
    df = samples(docs)
    if df.empty:
        return pd.DataFrame()
    rows = []
    for arch, adf in df.groupby("arch"):
        loads = adf[~adf.probe.isin(["cache-hints.store", "cache-hints.persisting"])]
        hints = [h for h in Q.LOAD_HINTS if h in set(loads.get("hint", pd.Series(dtype=str)))]
        res = _metric(adf, "cache-hints.residency")
        res_bands = bands(res)
        tests = {
            "residency": _compare_on(res, "cycles_per_op"),
            "residency-l2": _compare_on(res, "l2_reaccess_cycles"),
            "pollution-l1": _compare_on(_metric(adf, "cache-hints.pollution", level="l1"), "cycles_per_op"),
            "pollution-l2": _compare_on(_metric(adf, "cache-hints.pollution", level="l2"), "cycles_per_op"),
            "bandwidth": _compare_on(_metric(adf, "cache-hints.bandwidth"), "read_gbps"),
            "staleness": _compare_on(_metric(adf, "cache-hints.staleness"), "stale_fraction"),
        }
        pf = _metric(adf, "cache-hints.prefetch-size")
        for off in sorted(set(pf.offset_bytes)) if "offset_bytes" in pf else ():
            tests[f"prefetch+{int(off)}B"] = _compare_on(pf[pf.offset_bytes == off], "cycles_per_op")
        for hint in hints:
            row = {"arch": arch, "hint": hint}
            sass, dropped = static_lowering(hint, arch)
            row["SASS"] = sass
            r = res[res.hint == hint]
            row["L1 residency"] = classify(float(r.cycles_per_op.median()), res_bands) if len(r) else "–"
            row["L2 residency"] = classify(float(r.l2_reaccess_cycles.median()), res_bands) if len(r) else "–"
            row["re-access [cycles]"] = float(r.cycles_per_op.median()) if len(r) else None
            for level in ("l1", "l2"):
                p = _metric(adf, "cache-hints.pollution", level=level, hint=hint)
                if len(p):
                    b = bands(p)
                    resident, evicted = (b.get("L1"), b.get("L2")) if level == "l1" else (b.get("L2"), b.get("HBM"))
                    s = survived(float(p.cycles_per_op.median()), resident, evicted)
                    row[f"{level.upper()} victim survived [%]"] = None if s is None else 100 * s
                else:
                    row[f"{level.upper()} victim survived [%]"] = None
            bw = _metric(adf, "cache-hints.bandwidth", hint=hint)
            row["bandwidth [% of copy]"] = float(100 * bw.fraction_of_copy.median()) if len(bw) else None
            st = _metric(adf, "cache-hints.staleness", hint=hint)
            row["stale reads"] = f"{int(st.stale_reads.sum())}/{int(st.polls.sum() - len(st))}" if len(st) else None
            effects = [name for name, t in tests.items() if not t.empty and bool(t[t.hint == hint].effect.any())]
            measured = any(not t.empty and hint in set(t.hint) for t in tests.values()) or hint == CONTROL
            row["effects"] = ", ".join(effects)
            row["verdict"] = verdict(dropped, effects, measured, hint)
            isa = ISA.get(hint)
            row["ISA says"] = isa.statement if isa else NOT_FOUND
            row["ISA source"] = isa.source if isa else ""
            row["ISA agrees"] = isa_agrees(hint, row["L1 residency"])
            rows.append(row)
    return pd.DataFrame(rows)


def store_table(docs: list[dict]) -> pd.DataFrame:
    """Per arch and store hint: SASS, where a plain re-read of the stored lines is served from, and the verdict."""
    df = samples(docs)
    st = _metric(df, "cache-hints.store")
    rows = []
    for arch, g in st.groupby("arch"):
        test = _compare_on(g, "cycles_per_op")
        b = bands(g)
        for hint in [h for h in Q.STORE_HINTS if h in set(g.hint)]:
            sass, dropped = static_lowering(hint, arch, op="st")
            lat = float(g[g.hint == hint].cycles_per_op.median())
            effect = bool(test[test.hint == hint].effect.any()) if not test.empty else False
            isa = STORE_ISA.get(hint)
            rows.append(
                {
                    "arch": arch,
                    "hint": hint,
                    "SASS": sass,
                    "re-read [cycles]": lat,
                    "re-read served from": classify(lat, b),
                    "verdict": verdict(dropped, ["re-read"] if effect else [], True, hint),
                    "ISA says": isa.statement if isa else NOT_FOUND,
                    "ISA section": isa.section if isa else "",
                }
            )
    return pd.DataFrame(rows)


def persisting_summary(docs: list[dict]) -> pd.DataFrame:
    """Per arch: L2-victim survival against a streaming neighbour without and with a persisting access-policy
    window, and the Mann-Whitney test between the two (re-timed latencies)."""
    df = samples(docs)
    pe = _metric(df, "cache-hints.persisting")
    rows = []
    for arch, g in pe.groupby("arch"):
        row = {"arch": arch}
        groups = {}
        for window, w in g.groupby("window"):
            b = bands(w)
            s = survived(float(w.cycles_per_op.median()), b.get("L2"), b.get("HBM"))
            row[f"survived {window} [%]"] = None if s is None else 100 * s
            groups["none" if window == "off" else window] = w.cycles_per_op.to_numpy(float)
        applied = bool(g[g.window == "persisting"].get("policy_applied", pd.Series([False])).all())
        row["window applied"] = applied
        if "none" in groups and "persisting" in groups:
            t = compare(groups).set_index("hint")
            row["p (Mann-Whitney)"] = float(t.loc["persisting", "p"])
            row["measurable effect"] = bool(t.loc["persisting", "effect"]) and applied
        rows.append(row)
    return pd.DataFrame(rows)


def bandwidth_summary(docs: list[dict]) -> pd.DataFrame:
    """Per arch and hint: median read GB/s with its bootstrap CI, and the copy ceiling's median."""
    from probes.stats import median_ci

    df = samples(docs)
    bw = _metric(df, "cache-hints.bandwidth")
    rows = []
    for (arch, hint), g in bw.groupby(["arch", "hint"], sort=False):
        med, lo, hi = median_ci(g.read_gbps.to_numpy(float))
        rows.append(
            {
                "arch": arch,
                "hint": hint,
                "read_gbps": med,
                "ci_low": lo,
                "ci_high": hi,
                "copy_gbps": float(g.copy_gbps.median()),
            }
        )
    return pd.DataFrame(rows)


def staleness_ci(stale: int, polls: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval of a stale-read fraction: counts are reported with CIs, nothing more is claimed."""
    if polls <= 0:
        return (0.0, 1.0)
    ci = stats.binomtest(int(stale), int(polls)).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)
