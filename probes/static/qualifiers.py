"""The one cache-qualifier table: every PTX cache qualifier the project lowers (static atlas) or measures (the
cache-hints.* probes), one row each, and the lookups into the atlas those rows produced.

A row says how the qualifier is spelled in PTX (the opcode up to the type, and whether it takes an L2 cache-policy
operand) and, where a probe measures it, its name on the probes' `hint` axis. The static atlas
(probes/static/cache_hints.py) assembles every row; the hint probes (probes/catalogue/cache_hints/) build their
inline PTX from the same spelling; the analysis (probes/analysis/hints.py) joins measurements to the atlas by the
same hint name. A new qualifier is one row here. Row order is the atlas's row order and the hint axis's order.

No CUDA is imported here; `atlas()` reads the committed table with pandas.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

ATLAS = Path(__file__).resolve().parents[2] / "reports" / "static" / "cache-hints-sass.csv"
# The cache policy of every `.L2::cache_hint` row, into %rd9 (the atlas kernels' register; the probes rename it).
POLICY = "createpolicy.fractional.L2::evict_last.b64 %rd9, 1.0;"


@dataclass(frozen=True)
class Qualifier:
    op: str  # "ld" or "st"
    label: str  # the atlas's qualifier label ("plain", ".cg", ...)
    prefix: str  # PTX up to the type: "ld.global.cg"
    policy: bool = False  # takes an L2 cache-policy operand (POLICY)
    hint: str | None = None  # name on the probes' `hint` axis; None: the probes do not measure it (reason below)


# Not on the load hint axis: `.L2::evict_first/last/normal` (ptxas rejects them below 256-bit vectors on every arch,
# atlas: "requires .v8.b32/.v4.b64"); `.relaxed.sys` (adds nothing over `.volatile` on a single GPU).
TABLE = (
    Qualifier("ld", "plain", "ld.global", hint="none"),
    Qualifier("ld", ".ca", "ld.global.ca", hint="ca"),
    Qualifier("ld", ".cg", "ld.global.cg", hint="cg"),
    Qualifier("ld", ".cs", "ld.global.cs", hint="cs"),
    Qualifier("ld", ".lu", "ld.global.lu", hint="lu"),
    Qualifier("ld", ".cv", "ld.global.cv", hint="cv"),
    Qualifier("ld", ".nc", "ld.global.nc", hint="nc"),
    Qualifier("ld", ".nc.L1::no_allocate", "ld.global.nc.L1::no_allocate", hint="nc.L1::no_allocate"),
    Qualifier("ld", ".L1::evict_first", "ld.global.L1::evict_first", hint="L1::evict_first"),
    Qualifier("ld", ".L1::evict_last", "ld.global.L1::evict_last", hint="L1::evict_last"),
    Qualifier("ld", ".L1::evict_normal", "ld.global.L1::evict_normal", hint="L1::evict_normal"),
    Qualifier("ld", ".L1::evict_unchanged", "ld.global.L1::evict_unchanged", hint="L1::evict_unchanged"),
    Qualifier("ld", ".L1::no_allocate", "ld.global.L1::no_allocate", hint="L1::no_allocate"),
    Qualifier("ld", ".L2::evict_first", "ld.global.L2::evict_first"),
    Qualifier("ld", ".L2::evict_last", "ld.global.L2::evict_last"),
    Qualifier("ld", ".L2::evict_normal", "ld.global.L2::evict_normal"),
    Qualifier("ld", ".L2::64B", "ld.global.L2::64B", hint="L2::64B"),
    Qualifier("ld", ".L2::128B", "ld.global.L2::128B", hint="L2::128B"),
    Qualifier("ld", ".L2::256B", "ld.global.L2::256B", hint="L2::256B"),
    Qualifier("ld", ".L2::cache_hint (evict_last policy)", "ld.global.L2::cache_hint", True, hint="L2::cache_hint"),
    Qualifier(
        "ld",
        ".nc.L1::no_allocate.L2::256B (DeepEP)",
        "ld.global.nc.L1::no_allocate.L2::256B",
        hint="nc.L1::no_allocate.L2::256B",
    ),
    Qualifier("ld", ".volatile", "ld.volatile.global", hint="volatile"),
    Qualifier("ld", ".relaxed.gpu", "ld.relaxed.gpu.global", hint="relaxed.gpu"),
    Qualifier("ld", ".acquire.gpu", "ld.acquire.gpu.global", hint="acquire.gpu"),
    Qualifier("ld", ".relaxed.sys", "ld.relaxed.sys.global"),
    Qualifier("st", "plain", "st.global", hint="none"),
    Qualifier("st", ".wb", "st.global.wb", hint="wb"),
    Qualifier("st", ".cg", "st.global.cg", hint="cg"),
    Qualifier("st", ".cs", "st.global.cs", hint="cs"),
    Qualifier("st", ".wt", "st.global.wt", hint="wt"),
    Qualifier("st", ".L1::no_allocate", "st.global.L1::no_allocate", hint="L1::no_allocate"),
    Qualifier("st", ".L1::evict_first", "st.global.L1::evict_first", hint="L1::evict_first"),
    Qualifier("st", ".L1::evict_last", "st.global.L1::evict_last", hint="L1::evict_last"),
    Qualifier("st", ".L2::cache_hint (evict_last policy)", "st.global.L2::cache_hint", True, hint="L2::cache_hint"),
    Qualifier("st", ".volatile", "st.volatile.global", hint="volatile"),
    Qualifier("st", ".relaxed.gpu", "st.relaxed.gpu.global", hint="relaxed.gpu"),
    Qualifier("st", ".release.gpu", "st.release.gpu.global", hint="release.gpu"),
)

# Views of TABLE: atlas label -> (PTX prefix, needs a policy operand), and hint name -> atlas label.
LOAD_QUALIFIERS = {q.label: (q.prefix, q.policy) for q in TABLE if q.op == "ld"}
STORE_QUALIFIERS = {q.label: (q.prefix, q.policy) for q in TABLE if q.op == "st"}
LOAD_HINTS = {q.hint: q.label for q in TABLE if q.op == "ld" and q.hint}
STORE_HINTS = {q.hint: q.label for q in TABLE if q.op == "st" and q.hint}
# The hints of the prefetch-size probe: the L2 prefetch-size qualifiers and the plain load they are compared with.
PREFETCH_HINTS = ("none", "L2::64B", "L2::128B", "L2::256B", "nc.L1::no_allocate.L2::256B")


def row(op: str, hint: str) -> Qualifier:
    """The table row of a hint (KeyError naming the hint when it is not on the axis)."""
    label = (LOAD_HINTS if op == "ld" else STORE_HINTS)[hint]
    return next(q for q in TABLE if q.op == op and q.label == label)


@functools.cache
def atlas():
    """The static atlas table (reports/static/cache-hints-sass.csv): what each qualifier lowers to, per arch."""
    import pandas as pd

    if not ATLAS.is_file():
        raise FileNotFoundError(f"{ATLAS}: static cache-hint atlas missing; build it with `make static`")
    return pd.read_csv(ATLAS, keep_default_na=False)


def lowering(op: str, hint: str, width: str, arch: str) -> tuple[str, str] | None:
    """(status, SASS) the atlas records for a hint, or None when the atlas has no such cell."""
    label = (LOAD_HINTS if op == "ld" else STORE_HINTS)[hint]
    df = atlas()
    cell = df[(df.op == op) & (df.qualifier == label) & (df.width == width) & (df.arch == arch)]
    return (cell.status.iloc[0], cell.sass.iloc[0]) if len(cell) else None


def supported(op: str, hint: str, arch: str, width: str = "b32") -> bool:
    """True unless the atlas records ptxas rejecting the hint on arch (unknown archs are tried)."""
    cell = lowering(op, hint, width, arch)
    return cell is None or cell[0] == "ok"
