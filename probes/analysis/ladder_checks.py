"""Input checks of a latency ladder before level detection: what the detector would otherwise drop or misread.

- a row with zero or negative footprint or latency cannot sit on a log-log ladder: refused with its file and line
  (the detector used to drop such rows silently, and the reported point count was then wrong);
- a ladder whose latency *falls* as its footprint grows is not a latency ladder (columns swapped, a throughput or a
  bandwidth file): refused with what was seen, instead of being analysed into "levels".

Both raise importers.LadderInputError (one line), so `analyze ladder` exits 2 with `error: ...`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from probes.analysis.importers import LadderInputError

FALL_RATIO = 0.8  # largest-footprint latency below 80 % of the smallest-footprint latency ...
FALL_RHO = -0.5  # ... and a clearly negative rank correlation: latency falls with footprint
MIN_FOOTPRINTS = 4


def latency_column(df: pd.DataFrame) -> str:
    return "latency_cycles" if df["latency_cycles"].notna().any() else "latency_ns"


def check_ladder(df: pd.DataFrame) -> None:
    """Raise LadderInputError for non-positive rows or a falling ladder; frames that are not ladders pass."""
    if df.attrs.get("kind", "ladder") != "ladder" or df.empty:
        return
    path = df.attrs.get("provenance", {}).get("file", "input")
    col = latency_column(df)
    d = df[df[col].notna()]
    bad = (d["footprint_bytes"] <= 0) | (d[col] <= 0)
    if bad.any():
        row = d[bad].iloc[0]
        line = row.get("source_line")
        line = int(line) if isinstance(line, (int, float, np.number)) and np.isfinite(line) else None
        raise LadderInputError(
            path,
            f"expected positive footprint_bytes and {col}, found {row['footprint_bytes']:g} "
            f"and {row[col]:g} ({int(bad.sum())} such row(s) of {len(d)}; a ladder's "
            "points must be > 0 to be analysed)",
            line,
        )
    for gpu, part in d.groupby("gpu", sort=False):
        med = part.groupby("footprint_bytes")[col].median().sort_index()
        if med.size < MIN_FOOTPRINTS:
            continue
        q = max(1, med.size // 4)
        small, large = float(med.iloc[:q].median()), float(med.iloc[-q:].median())
        rho = stats.spearmanr(med.index.to_numpy(), med.to_numpy()).statistic
        if large < FALL_RATIO * small and rho < FALL_RHO:
            unit = "cycles" if col == "latency_cycles" else "ns"
            raise LadderInputError(
                path,
                f"latency falls as the footprint grows for GPU {gpu!r} ({small:.4g} {unit} "
                f"at the smallest footprints, {large:.4g} at the largest, rank correlation "
                f"{rho:.2f}): not a latency ladder; check the file's columns (footprint "
                "and latency swapped?) or whether it holds bandwidth",
            )
