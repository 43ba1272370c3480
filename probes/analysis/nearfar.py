"""L2 near/far: is the per-(SM, address window) L2 latency bimodal, and which cells are near or far? No CUDA.

Method: one value per (SM, window) cell (the median of its samples, so repeated launches do not inflate n).
Hartigan's dip test (the `diptest` package) asks whether the cell latencies are unimodal; the exact 1-D two-means
split (Otsu's threshold) divides them in two; a Mann-Whitney U test compares the two groups. A split is declared
only when the dip test rejects unimodality at `alpha` and each group holds at least `min_fraction` of the cells.
What this does not prove: Mann-Whitney on groups chosen by a threshold is always optimistic (the split was made to
separate them), so it is reported, not used as the gate; the dip test is the gate. Near/far is a label for the
lower/higher group; which physical L2 partition each group is cannot be read from latencies alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from probes.analysis.finegrained import otsu_cut


@dataclass
class NearFar:
    split: bool
    reason: str  # one line: why split / why not
    n_cells: int
    dip: float
    dip_p: float
    threshold: float | None = None
    mannwhitney_p: float | None = None
    near_median: float | None = None
    near_ci: tuple[float, float] | None = None
    far_median: float | None = None
    far_ci: tuple[float, float] | None = None
    difference: float | None = None
    difference_ci: tuple[float, float] | None = None
    pooled_median: float | None = None
    pooled_ci: tuple[float, float] | None = None
    cells: dict = field(default_factory=dict)  # (sm, window) -> {"latency": median, "class": "near"/"far"/None}


def cell_medians(sm, window, latency) -> dict[tuple[int, int], float]:
    sm, window, latency = (np.asarray(a) for a in (sm, window, latency))
    out: dict[tuple[int, int], list] = {}
    for s, w, v in zip(sm.tolist(), window.tolist(), latency.tolist()):
        if v is not None and np.isfinite(v):
            out.setdefault((int(s), int(w)), []).append(v)
    return {k: float(np.median(v)) for k, v in sorted(out.items())}


def per_sm(cells: dict) -> dict[int, np.ndarray]:
    """SM -> latencies of its windows: the per-SM distribution."""
    out: dict[int, list] = {}
    for (s, _), v in cells.items():
        out.setdefault(s, []).append(v)
    return {s: np.array(v) for s, v in sorted(out.items())}


def _median_ci(x, seed: int, confidence: float = 0.95) -> tuple[float, float]:
    x = np.asarray(x, dtype=float)
    if x.size < 2 or np.ptp(x) == 0:
        return float(np.median(x)), float(np.median(x))
    res = stats.bootstrap(
        (x,),
        np.median,
        confidence_level=confidence,
        n_resamples=2000,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _diff_ci(far, near, seed: int, confidence: float = 0.95) -> tuple[float, float]:
    def diff(a, b, axis=-1):
        return np.median(a, axis=axis) - np.median(b, axis=axis)

    res = stats.bootstrap(
        (np.asarray(far, float), np.asarray(near, float)),
        diff,
        confidence_level=confidence,
        n_resamples=2000,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def analyse(sm, window, latency, alpha: float = 0.01, min_fraction: float = 0.05, seed: int = 0) -> NearFar:
    """Near/far split of per-(SM, window) L2 latencies with its tests and bootstrap CIs."""
    import diptest

    cells = cell_medians(sm, window, latency)
    x = np.array(list(cells.values()), dtype=float)
    if x.size < 4:
        raise ValueError(f"near/far analysis needs at least 4 (SM, window) cells, got {x.size}")
    dip, dip_p = diptest.diptest(x)
    pooled_ci = _median_ci(x, seed)
    result = NearFar(
        split=False,
        reason="",
        n_cells=int(x.size),
        dip=float(dip),
        dip_p=float(dip_p),
        pooled_median=float(np.median(x)),
        pooled_ci=pooled_ci,
        cells={k: {"latency": v, "class": None} for k, v in cells.items()},
    )
    order = np.sort(x)
    if order[0] == order[-1]:
        result.reason = "all cells have the same latency: no split"
        return result
    cut = otsu_cut(order)
    threshold = float((order[cut - 1] + order[cut]) / 2)
    near, far = x[x <= threshold], x[x > threshold]
    result.threshold = threshold
    result.mannwhitney_p = float(stats.mannwhitneyu(far, near, alternative="greater").pvalue)
    if dip_p >= alpha:
        result.reason = f"dip test p = {dip_p:.3g} >= {alpha}: unimodal, no split"
        return result
    if min(near.size, far.size) < max(2, min_fraction * x.size):
        result.reason = f"bimodal (dip p = {dip_p:.3g}) but one group has only {min(near.size, far.size)} cells"
        return result
    result.split = True
    result.reason = (
        f"dip test p = {dip_p:.3g} < {alpha}; threshold {threshold:.1f} cycles; "
        f"{near.size} near and {far.size} far cells; Mann-Whitney p = {result.mannwhitney_p:.3g}"
    )
    result.near_median, result.far_median = float(np.median(near)), float(np.median(far))
    result.near_ci, result.far_ci = _median_ci(near, seed), _median_ci(far, seed + 1)
    result.difference = result.far_median - result.near_median
    result.difference_ci = _diff_ci(far, near, seed + 2)
    for k, v in cells.items():
        result.cells[k]["class"] = "near" if v <= threshold else "far"
    return result


def from_doc(doc: dict, **kw) -> NearFar:
    """Analyse a latency.l2.nearfar results document (every point's samples pooled per cell)."""
    rows = [r for p in doc["points"] for r in p["samples"] if not r.get("throttled")]
    return analyse([r["sm"] for r in rows], [r["window"] for r in rows], [r["cycles_per_op"] for r in rows], **kw)
