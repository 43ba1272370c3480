"""Cache-hint matrix, dynamic half: what each PTX cache qualifier does to residency, pollution, bandwidth, prefetch,
visibility and stores. The static half (what ptxas lowers each qualifier to) is reports/static/cache-hints-sass.csv;
both halves read the one qualifier table, probes/static/qualifiers.py.

One module per probe (residency, pollution, bandwidth, prefetch_size, staleness, persisting, store: each a measure
function and its `PROBE` declaration); the code they share is public: host.py (hint parameter and axis, chains,
flush, timed walks with both raw series, the L2-victim experiment), kernels.py (device code and SASS checks),
ops.py (the hinted inline-PTX operations). This package lists the probes for the catalogue.
"""

from __future__ import annotations

from probes.catalogue.cache_hints import bandwidth, persisting, pollution, prefetch_size, residency, staleness, store
from probes.catalogue.cache_hints.host import kernel_expect

PROBES = tuple(m.PROBE for m in (residency, pollution, bandwidth, prefetch_size, staleness, persisting, store))
KERNEL_CHECKS = {p.name: kernel_expect for p in PROBES}  # dry-run schedule checks (probes/static/kernel_checks.py)
