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
5. What the PTX ISA says (ISA below, with section) is compared with the measured L1 residency only where the ISA
   states it; elsewhere the behaviour is undocumented.

What it does not prove: a test that finds no difference bounds the effect only at this run's sample size and these
sizes (a victim set, a stream length); a latency band says where a line was served from, not why.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from probes.catalogue import _hint_ops as H   # tables and the atlas only: no CUDA is imported

CONTROL = "none"
ALPHA = 0.05
MIN_DELTA = 0.33
VERDICTS = ("dropped at compile time", "kept in SASS but no measurable effect", "measurable effect", "not measured",
            "reference (plain access)")

_PTX = "https://docs.nvidia.com/cuda/parallel-thread-execution/index.html"
_COP = f"PTX ISA, Cache Operators ({_PTX}#cache-operators)"
_EVICT = f"PTX ISA, Cache Eviction Priority Hints ({_PTX}#cache-eviction-priority-hints)"
_LD = f"PTX ISA, Data Movement and Conversion Instructions: ld ({_PTX}#data-movement-and-conversion-instructions-ld)"
_NC = (f"PTX ISA, Data Movement and Conversion Instructions: ld.global.nc "
       f"({_PTX}#data-movement-and-conversion-instructions-ld-global-nc)")
_MCM = f"PTX ISA, Memory Consistency Model ({_PTX}#memory-consistency-model)"
# hint -> (does the ISA say the line is allocated in L1? True/False/None = not stated, what it says, source)
ISA = {
    "none": (True, "default ld is ld.ca: allocate in L1 and L2 with normal eviction", _COP),
    "ca": (True, "cache at all levels (L1 and L2), likely to be accessed again", _COP),
    "cg": (False, "cache at global level: L2 and below, not L1", _COP),
    "cs": (True, "cache streaming, likely accessed once: allocate with evict-first policy in L1 and L2", _COP),
    "lu": (True, "last use; on global addresses behaves as .cs (evict-first)", _COP),
    "cv": (False, "don't cache and fetch again (cached lines considered stale)", _COP),
    "nc": (None, "load via the non-coherent (read-only) cache; data must be read-only for the kernel", _NC),
    "nc.L1::no_allocate": (False, "non-coherent load; L1::no_allocate: do not allocate data to L1", _EVICT),
    "L1::evict_first": (True, "allocate in L1, first candidate for eviction", _EVICT),
    "L1::evict_last": (True, "allocate in L1, last candidate for eviction", _EVICT),
    "L1::evict_normal": (True, "allocate in L1 with normal eviction priority", _EVICT),
    "L1::evict_unchanged": (True, "allocate in L1, do not change the line's eviction priority", _EVICT),
    "L1::no_allocate": (False, "do not allocate data to L1", _EVICT),
    "L2::64B": (True, "prefetch-size hint: fetch 64 B around the access into L2", _LD),
    "L2::128B": (True, "prefetch-size hint: fetch 128 B around the access into L2", _LD),
    "L2::256B": (True, "prefetch-size hint: fetch 256 B around the access into L2", _LD),
    "nc.L1::no_allocate.L2::256B": (False, "non-coherent, no L1 allocation, 256 B L2 prefetch", _EVICT),
    "L2::cache_hint": (None, "L2 eviction policy from a createpolicy operand (here evict_last); L1 unspecified", _LD),
    "volatile": (None, "ld.volatile is treated as relaxed.sys: a strong load, caching unspecified", _MCM),
    "relaxed.gpu": (None, "strong relaxed load at gpu scope; caching unspecified", _MCM),
    "acquire.gpu": (None, "strong acquire load at gpu scope; caching unspecified", _MCM),
}
LATENCY_PROBES = ("cache-hints.residency", "cache-hints.pollution", "cache-hints.store", "cache-hints.prefetch-size")


# ---------------------------------------------------------------------------------------------------- samples

def samples(docs: list[dict]) -> pd.DataFrame:
    """One row per stored sample with the probe name, GPU, arch and axis values as columns."""
    rows = []
    for doc in docs:
        if doc.get("outcome") != "ok":
            continue
        cc = doc["environment"].get("compute_capability") or [0, 0]
        common = {"probe": doc["probe"]["name"], "gpu": doc["environment"].get("gpu_name", "?"),
                  "arch": f"sm_{cc[0]}{cc[1]}", "file": doc.get("_file", "")}
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
    """The band nearest in log(latency), or 'inconclusive' (within `margin` of the midpoint, or bands not distinct)."""
    levels = sorted(((v, k) for k, v in band.items() if v and v > 0), key=lambda t: t[0])
    if not levels or latency is None or not np.isfinite(latency) or latency <= 0:
        return "inconclusive"
    x = np.log(latency)
    logs = [np.log(v) for v, _ in levels]
    i = int(np.argmin([abs(x - v) for v in logs]))
    for j in (i - 1, i + 1):
        if 0 <= j < len(logs):
            gap = abs(logs[j] - logs[i])
            if gap < np.log(1.2):                      # bands closer than 1.2x: they cannot be told apart
                return "inconclusive"
            if abs(x - logs[i]) > (0.5 - margin / 2) * gap and (x - logs[i]) * (logs[j] - logs[i]) > 0:
                return "inconclusive"
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
        return float("nan"), float("nan"), float("nan")   # a ratio to zero (e.g. no stale reads) is undefined
    ratio = float(np.median(x) / np.median(y))
    if len(x) < 3 or len(y) < 3 or np.ptp(np.concatenate([x, y])) == 0:
        return ratio, ratio, ratio
    res = stats.bootstrap((x, y), lambda a, b, axis=-1: np.median(a, axis=axis) / np.median(b, axis=axis),
                          n_resamples=999, method="percentile", vectorized=True,
                          random_state=np.random.default_rng(seed))
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
            u, p = len(x) * len(y) / 2, 1.0        # all values equal: no evidence of a difference
        else:
            u, p = stats.mannwhitneyu(x, y, alternative="two-sided")
        ratio, lo, hi = _median_ratio_ci(x, y)
        rows[hint] = {"hint": hint, "n": len(x), "n_control": len(y), "p": float(p),
                      "cliffs_delta": float(2 * u / (len(x) * len(y)) - 1), "median_ratio": ratio,
                      "ratio_ci_low": lo, "ratio_ci_high": hi}
        pvals[hint] = float(p)
    adjusted = holm(pvals)
    for hint, row in rows.items():
        row["p_holm"] = adjusted[hint]
        row["effect"] = bool(adjusted[hint] < ALPHA and abs(row["cliffs_delta"]) >= MIN_DELTA)
    cols = ["hint", "n", "n_control", "p", "p_holm", "cliffs_delta", "median_ratio", "ratio_ci_low",
            "ratio_ci_high", "effect"]
    return pd.DataFrame(list(rows.values()), columns=cols)


# ---------------------------------------------------------------------------------------------------- static join

def static_lowering(hint: str, arch: str, op: str = "ld", width: str = "b64") -> tuple[str, bool | None]:
    """(SASS as the atlas records it, dropped = same SASS as the plain access) for a hint on arch."""
    cell = H.lowering(op, hint, width, arch)
    plain = H.lowering(op, CONTROL, width, arch)
    if cell is None or plain is None:
        return "not in atlas", None
    if cell[0] != "ok":
        return "rejected by ptxas", None
    return cell[1], (hint != CONTROL and cell[1] == plain[1])


def verdict(dropped: bool | None, effects: list[str], measured: bool, hint: str = "") -> str:
    """Three-way verdict from static and dynamic evidence (VERDICTS); the plain access is the reference."""
    if hint == CONTROL:
        return VERDICTS[4]
    if dropped:
        return VERDICTS[0]
    if not measured:
        return VERDICTS[3]
    return VERDICTS[2] if effects else VERDICTS[1]


def isa_agrees(hint: str, l1_class: str) -> bool | None:
    """Does the measured L1 residency match the ISA's statement? None when the ISA states nothing or the
    measurement is inconclusive."""
    expected = ISA.get(hint, (None,))[0]
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
        hints = [h for h in H.LOAD_HINTS if h in set(loads.get("hint", pd.Series(dtype=str)))]
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
            row["L2 residency"] = (classify(float(r.l2_reaccess_cycles.median()), res_bands) if len(r) else "–")
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
            row["stale reads"] = (f"{int(st.stale_reads.sum())}/{int(st.polls.sum() - len(st))}" if len(st) else None)
            effects = [name for name, t in tests.items() if not t.empty and bool(t[t.hint == hint].effect.any())]
            measured = any(not t.empty and hint in set(t.hint) for t in tests.values()) or hint == CONTROL
            row["effects"] = ", ".join(effects)
            row["verdict"] = verdict(dropped, effects, measured, hint)
            expected, says, source = ISA.get(hint, (None, "", ""))
            row["ISA says"] = says
            row["ISA source"] = source
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
        for hint in [h for h in H.STORE_HINTS if h in set(g.hint)]:
            sass, dropped = static_lowering(hint, arch, op="st")
            lat = float(g[g.hint == hint].cycles_per_op.median())
            effect = bool(test[test.hint == hint].effect.any()) if not test.empty else False
            rows.append({"arch": arch, "hint": hint, "SASS": sass, "re-read [cycles]": lat,
                         "re-read served from": classify(lat, b),
                         "verdict": verdict(dropped, ["re-read"] if effect else [], True, hint)})
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
    from probes.engine.stopping import median_ci
    df = samples(docs)
    bw = _metric(df, "cache-hints.bandwidth")
    rows = []
    for (arch, hint), g in bw.groupby(["arch", "hint"], sort=False):
        med, lo, hi = median_ci(g.read_gbps.to_numpy(float))
        rows.append({"arch": arch, "hint": hint, "read_gbps": med, "ci_low": lo, "ci_high": hi,
                     "copy_gbps": float(g.copy_gbps.median())})
    return pd.DataFrame(rows)


def staleness_ci(stale: int, polls: int, confidence: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval of a stale-read fraction: counts are reported with CIs, nothing more is claimed."""
    if polls <= 0:
        return (0.0, 1.0)
    ci = stats.binomtest(int(stale), int(polls)).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)
