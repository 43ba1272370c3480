"""Documented claims: the Programming Guide's arithmetic-throughput table, loaded and validated. No CUDA.

Every row must name its source (document, version, section, table row, url, how it was transcribed); a row without
one is an error, never a silent default. Values are kept apart from measurements: analysis only compares.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "programming_guide_throughput.csv"
SOURCE_FIELDS = ("table_row", "document", "version", "section", "url", "transcribed_via")
FIELDS = ("claim", "compute_capability", "results_per_clk_per_sm") + SOURCE_FIELDS


class ClaimsError(ValueError):
    """The claims file is malformed; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Claim:
    claim: str
    compute_capability: str  # "9.0"
    value: float  # results per clock per SM
    table_row: str
    document: str
    version: str
    section: str
    url: str
    transcribed_via: str

    @property
    def source(self) -> str:
        """One line: where the number comes from."""
        return (
            f'{self.document} {self.version}, {self.section.split(":")[0]}, row "{self.table_row}", '
            f"cc {self.compute_capability} ({self.transcribed_via.split(':')[0]})"
        )


def load(path: Path | str = DEFAULT_PATH) -> list[Claim]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ClaimsError(f"{path}: cannot read the claims file ({err.strerror})") from None
    reader = csv.DictReader(text.splitlines())
    missing = [f for f in FIELDS if f not in (reader.fieldnames or [])]
    if missing:
        raise ClaimsError(f"{path}: missing column {missing[0]!r}; expected columns {', '.join(FIELDS)}")
    claims, seen = [], set()
    for line, row in enumerate(reader, start=2):
        empty = [f for f in FIELDS if not (row.get(f) or "").strip()]
        if empty:
            raise ClaimsError(f"{path}:{line}: field {empty[0]!r} is empty; every claim needs a value and its source")
        cc = row["compute_capability"].strip()
        if not _is_cc(cc):
            raise ClaimsError(f"{path}:{line}: compute_capability {cc!r} is not of the form MAJOR.MINOR")
        try:
            value = float(row["results_per_clk_per_sm"])
        except ValueError:
            raise ClaimsError(
                f"{path}:{line}: results_per_clk_per_sm {row['results_per_clk_per_sm']!r} is not a "
                "number (leave the row out where the Guide prints no number)"
            ) from None
        if value <= 0:
            raise ClaimsError(f"{path}:{line}: results_per_clk_per_sm must be > 0")
        key = (row["claim"].strip(), cc)
        if key in seen:
            raise ClaimsError(f"{path}:{line}: claim {key[0]!r} for cc {cc} appears twice")
        seen.add(key)
        claims.append(Claim(key[0], cc, value, *(row[f].strip() for f in SOURCE_FIELDS)))
    return claims


def _is_cc(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 2 and all(p.isdigit() for p in parts)


@functools.cache
def _default_index() -> dict:
    return {(c.claim, c.compute_capability): c for c in load()}


def documented(claim: str, compute_capability, claims: list[Claim] | None = None) -> Claim | None:
    """The documented claim for (claim key, cc) or None (undocumented). cc as "9.0", (9, 0) or [9, 0]."""
    if not claim:
        return None
    cc = compute_capability if isinstance(compute_capability, str) else ".".join(map(str, compute_capability))
    index = {(c.claim, c.compute_capability): c for c in claims} if claims is not None else _default_index()
    return index.get((claim, cc))
