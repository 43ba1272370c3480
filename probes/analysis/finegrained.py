"""Cache geometry from per-access latency traces (fine-grained chase, Mei & Chu style). No CUDA.

Every access is classified hit or miss by one latency threshold (Otsu's split of the pooled latencies, accepted
only when the two groups are clearly apart; otherwise everything below is "unknown"). Then:
- fetch (sector) granularity: in first-touch sweeps at stride s, misses recur every G bytes; G > s is a measurement,
  G == s only says G <= s.
- line size: in a steady pass (after the first) that misses only partly, evicted lines miss on every sector, so
  misses come in whole aligned blocks of the line size; a block twice that size is only partly missed (the
  smallest such block over all passes: neighbouring lines can be evicted together by coincidence).
- associativity: with sequential set mapping, a sweep of n lines over a cache of N lines and W ways misses on
  (n - N)(W + 1) lines per steady pass (each overflowed set thrashes), so two partly-missing footprints give
  W + 1 = (m2 - m1) / (n2 - n1) and N.
- replacement: LRU (and FIFO, which a cyclic sweep cannot tell apart) misses on the same lines in every steady
  pass and fits the model above; a miss set that changes between passes means another policy.
What this does not prove: hashed set indexing (as in NVIDIA's L2) breaks the sequential-mapping model; the
inference then says "unknown" rather than guessing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Trace:
    footprint_bytes: int
    stride_bytes: int
    offset_bytes: np.ndarray  # byte offset of each access, in access order
    pass_index: np.ndarray  # which walk over the footprint each access belongs to
    latency: np.ndarray  # cycles

    @property
    def slots(self) -> int:
        return self.footprint_bytes // self.stride_bytes


@dataclass(frozen=True)
class Inference:
    quantity: str  # "sector size", "line size", "associativity", "capacity", "replacement"
    value: object  # number or policy name; None when unknown
    unit: str
    evidence: str

    @property
    def known(self) -> bool:
        return self.value is not None


def hit_miss_threshold(latency, min_ratio: float = 1.2, min_separation: float = 4.0) -> tuple[float | None, str]:
    """Otsu's threshold between hit and miss latencies, or None when the data do not show two groups.

    Accepted when the groups' medians differ by >= `min_ratio` x and by >= `min_separation` robust spreads
    (1.4826 MAD of the wider group), and each group has at least 3 samples."""
    x = np.sort(np.asarray(latency, dtype=float))
    if x.size < 6 or x[0] == x[-1]:
        return None, f"{x.size} latencies, no spread: one group"
    cut = otsu_cut(x)
    lo, hi = x[:cut], x[cut:]
    m_lo, m_hi = np.median(lo), np.median(hi)
    spread = 1.4826 * max(np.median(np.abs(lo - m_lo)), np.median(np.abs(hi - m_hi)), 0.5)
    ok = min(lo.size, hi.size) >= 3 and m_hi >= min_ratio * m_lo and (m_hi - m_lo) >= min_separation * spread
    threshold = (lo[-1] + hi[0]) / 2
    why = (
        f"Otsu split at {threshold:.1f} cycles: hits median {m_lo:.1f} (n={lo.size}), misses median {m_hi:.1f} "
        f"(n={hi.size}), separation {(m_hi - m_lo) / spread:.1f} robust spreads"
    )
    return (threshold if ok else None), why if ok else f"no clear hit/miss split ({why})"


def otsu_cut(sorted_x: np.ndarray) -> int:
    """Index splitting sorted values into two groups with the largest between-group variance (exact 1-D 2-means)."""
    x = np.asarray(sorted_x, dtype=float)
    n = x.size
    k = np.arange(1, n)
    csum = np.cumsum(x)[:-1]
    mean_lo, mean_hi = csum / k, (x.sum() - csum) / (n - k)
    between = k * (n - k) * (mean_lo - mean_hi) ** 2
    between[x[1:] == x[:-1]] = -1  # never split between equal values
    return int(np.argmax(between)) + 1


def infer_sector_size(traces: list[Trace], threshold: float) -> Inference:
    """Fetch granularity from first-touch traces: the byte gap between consecutive misses."""
    found, bounds, notes = [], [], []
    for t in sorted(traces, key=lambda t: t.stride_bytes):
        miss = t.latency > threshold
        off = t.offset_bytes[miss]
        gaps = np.diff(off)
        gaps = gaps[gaps > 0]  # a wrap to the footprint's start is no gap
        if gaps.size < 3:
            continue
        gap, count = Counter(gaps.tolist()).most_common(1)[0]
        if count < 0.8 * gaps.size:
            notes.append(f"stride {t.stride_bytes} B: irregular miss gaps")
            continue
        if gap > t.stride_bytes:
            found.append(int(gap))
            notes.append(f"stride {t.stride_bytes} B: a miss every {gap // t.stride_bytes} accesses ({gap} B)")
        else:
            bounds.append(t.stride_bytes)
    if found:
        value, count = Counter(found).most_common(1)[0]
        if count == len(found) and all(b >= value for b in bounds):
            return Inference(
                "sector size",
                value,
                "B",
                "; ".join(notes[:4]) + (f"; strides >= {min(bounds)} B miss on every access" if bounds else ""),
            )
        return Inference("sector size", None, "B", f"strides disagree: {sorted(set(found))} B")
    if bounds:
        return Inference(
            "sector size",
            None,
            "B",
            f"every stride tried misses on every access: sector <= {min(bounds)} B; try smaller strides",
        )
    return Inference("sector size", None, "B", "no trace with enough misses")


def _steady_passes(t: Trace):
    """(pass number, offsets, miss mask) of every pass after the first that the trace holds completely."""
    for p in np.unique(t.pass_index):
        sel = t.pass_index == p
        if p >= 1 and sel.sum() == t.slots:
            yield int(p), t.offset_bytes[sel], sel


def infer_line_size(
    traces: list[Trace], threshold: float, sector: int | None = None, max_line: int = 64 * 1024
) -> Inference:
    """Largest aligned block that is missed whole in partly-missing steady passes."""
    found, notes = [], []
    for t in traces:
        unit = max(t.stride_bytes, sector or 0)
        for p, off, sel in _steady_passes(t):
            miss = t.latency[sel] > threshold
            first = off % unit == 0  # first access to each sector: later ones hit by design
            off, miss = off[first], miss[first]
            if not 0 < miss.mean() < 0.5:
                continue
            line = None
            size = 2 * unit
            while size <= max_line:
                blocks = off // size
                hit_blocks = np.isin(blocks, np.unique(blocks[miss]))
                if miss[hit_blocks].mean() < 0.95:
                    break
                line = size
                size *= 2
            if line:
                found.append(line)
                notes.append(
                    f"footprint {t.footprint_bytes} B pass {p}: {miss.sum()} of {miss.size} "
                    f"{unit}-B units miss, in whole {line}-B blocks; {2 * line}-B blocks only partly"
                )
    if not found:
        return Inference(
            "line size",
            None,
            "B",
            "no steady pass that misses partly at a stride below the line "
            "size (footprints just above capacity, strides < line, needed)",
        )
    # Misses are unions of whole lines, so each pass gives an upper bound (neighbouring lines can be missed
    # together by coincidence): the smallest bound is the line size.
    value = min(found)
    return Inference(
        "line size",
        value,
        "B",
        notes[found.index(value)] + (f" (per pass: {dict(sorted(Counter(found).items()))})" if len(found) > 1 else ""),
    )


def _line_misses(traces: list[Trace], threshold: float, line: int):
    """footprint -> (lines touched, missed line sets of each complete steady pass)."""
    out = {}
    for t in sorted(traces, key=lambda t: t.footprint_bytes):
        if t.stride_bytes > line:
            continue
        sets = [frozenset((off[t.latency[sel] > threshold] // line).tolist()) for _, off, sel in _steady_passes(t)]
        if sets:
            out[t.footprint_bytes] = (-(-t.slots * t.stride_bytes // line), sets)
    return out


def infer_associativity(traces: list[Trace], threshold: float, line: int) -> tuple[Inference, Inference]:
    """(associativity, capacity) from two or more partly-missing footprints: m = (n - N)(W + 1)."""
    data = _line_misses(traces, threshold, line)
    partial = [(n, len(sets[-1])) for n, sets in data.values() if 0 < len(sets[-1]) < n]
    if len(partial) < 2:
        why = (
            f"{len(partial)} footprint(s) miss partly in a steady pass; two are needed (footprints between "
            "capacity and capacity + sets x line)"
        )
        return Inference("associativity", None, "ways", why), Inference("capacity", None, "B", why)
    fits = []
    for (n1, m1), (n2, m2) in zip(partial, partial[1:]):
        if n2 > n1:
            fits.append((m2 - m1) / (n2 - n1))
    ways_plus_one = np.array(fits)
    w1 = round(float(np.median(ways_plus_one)))
    if w1 < 2 or np.any(np.abs(ways_plus_one - w1) > 0.05 * w1):
        why = f"missed lines do not grow linearly: (m2-m1)/(n2-n1) = {np.round(ways_plus_one, 2).tolist()}"
        return Inference("associativity", None, "ways", why), Inference("capacity", None, "B", why)
    lines = [n - m / w1 for n, m in partial]
    n_cap = round(float(np.median(lines)))
    ev = (
        f"steady passes miss on {', '.join(f'{m} of {n}' for n, m in partial)} lines: each extra line adds "
        f"{w1} missed lines (W + 1), so W = {w1 - 1}"
    )
    cap_ev = f"N = n - m/(W+1) = {n_cap} lines of {line} B from the same passes"
    if any(abs(v - n_cap) > 0.5 for v in lines):
        cap_ev += f" (per footprint: {np.round(lines, 1).tolist()})"
    return Inference("associativity", w1 - 1, "ways", ev), Inference("capacity", n_cap * line, "B", cap_ev)


def infer_replacement(traces: list[Trace], threshold: float, line: int, assoc: Inference) -> Inference:
    """LRU(/FIFO) when steady passes repeat the same miss set and the associativity model fits; else not LRU."""
    data = _line_misses(traces, threshold, line)
    compared, changed = 0, []
    for fp, (n, sets) in data.items():
        if len(sets) < 2 or not any(0 < len(s) < n for s in sets):
            continue
        compared += 1
        for a, b in zip(sets, sets[1:]):
            if a != b:
                jac = len(a & b) / max(len(a | b), 1)
                changed.append(f"footprint {fp} B: consecutive passes share {jac:.0%} of missed lines")
                break
    if changed:
        return Inference("replacement", "not LRU", "", changed[0] + " (LRU would repeat them exactly)")
    if compared and assoc.known:
        return Inference(
            "replacement",
            "LRU",
            "",
            f"{compared} partly-missing footprint(s) miss on the same lines in "
            "every steady pass, as the LRU thrash model predicts (FIFO gives the same on a cyclic sweep)",
        )
    return Inference(
        "replacement",
        None,
        "",
        "needs two complete steady passes of a partly-missing footprint (more passes or a larger stride)",
    )


def infer_all(chase: list[Trace], sweep: list[Trace]) -> dict:
    """Every inference with its evidence; {'threshold': ..., 'inferences': [Inference, ...]}."""
    # The chase's own split first: beyond L2 a sweep also holds L1 hits (three groups), while the chase, one
    # access per sector or more, shows just this level's hits and misses.
    threshold, why = hit_miss_threshold(np.concatenate([t.latency for t in chase])) if chase else (None, "")
    if threshold is None:
        pooled = np.concatenate([t.latency for t in chase + sweep]) if chase or sweep else np.array([])
        threshold, why = hit_miss_threshold(pooled)
    names = ("sector size", "line size", "associativity", "capacity", "replacement")
    if threshold is None:
        return {
            "threshold": None,
            "threshold_evidence": why,
            "inferences": [Inference(q, None, "", why) for q in names],
        }
    sector = infer_sector_size(sweep or [t for t in chase if t.pass_index.max() == 0], threshold)
    line = infer_line_size(chase, threshold, sector.value if sector.known else None)
    if line.known:
        assoc, cap = infer_associativity(chase, threshold, line.value)
        repl = infer_replacement(chase, threshold, line.value, assoc)
    else:
        assoc = Inference("associativity", None, "ways", "line size unknown")
        cap = Inference("capacity", None, "B", "line size unknown")
        repl = Inference("replacement", None, "", "line size unknown")
    return {"threshold": threshold, "threshold_evidence": why, "inferences": [sector, line, assoc, cap, repl]}


def traces_from_doc(doc: dict) -> list[Trace]:
    """One Trace per point (its first measured launch) of a latency.fine.* results document."""
    out = []
    for point in doc["points"]:
        rows = point["samples"]
        if not rows:
            continue
        rep = min(r["rep"] for r in rows)
        rows = sorted((r for r in rows if r["rep"] == rep), key=lambda r: r["index"])
        out.append(
            Trace(
                int(point["axes"]["footprint_bytes"]),
                int(point["axes"]["stride_bytes"]),
                np.array([r["offset_bytes"] for r in rows], dtype=np.int64),
                np.array([r["pass_index"] for r in rows], dtype=np.int64),
                np.array([r["latency_cycles"] for r in rows], dtype=float),
            )
        )
    return out


def mean_latency_by_stride(traces: list[Trace]) -> dict[int, list[tuple[int, float]]]:
    """footprint -> [(stride, mean latency)], the stride-sweep curve."""
    out: dict[int, list] = {}
    for t in sorted(traces, key=lambda t: (t.footprint_bytes, t.stride_bytes)):
        out.setdefault(t.footprint_bytes, []).append((t.stride_bytes, float(np.mean(t.latency))))
    return out
