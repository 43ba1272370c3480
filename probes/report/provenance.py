"""What a GPU's results were measured on and under: the report's provenance block, read from stored results only."""

from __future__ import annotations

from collections import Counter

import numpy as np

from probes.report.render import Bullets, Code, Heading


def _spread(values, unit: str) -> str:
    v = np.asarray([x for x in values if isinstance(x, (int, float)) and not isinstance(x, bool)], dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return ""
    return f"{v.min():.0f} / {np.median(v):.0f} / {v.max():.0f} {unit} (min / median / max of {v.size} readings)"


def _samples(docs):
    for doc in docs:
        for point in doc["points"]:
            yield from point["samples"]


def _versions(docs) -> list[str]:
    seen: dict[str, list[str]] = {}
    for doc in docs:
        for name, v in doc["environment"].get("versions", {}).items():
            if str(v) not in seen.setdefault(name, []):
                seen[name].append(str(v))
    return [f"{name} {' / '.join(vs)}" for name, vs in sorted(seen.items())]


def _distinct(docs, key) -> str:
    vals = []
    for doc in docs:
        v = doc["environment"].get(key)
        v = ".".join(map(str, v)) if isinstance(v, list) else v
        if v is not None and str(v) not in vals:
            vals.append(str(v))
    return " / ".join(vals) or "not recorded"


def campaign_dates(docs) -> str:
    """First start to last finish, as dates from the results (the report carries no date of its own)."""
    days = sorted({d[k][:10] for d in docs for k in ("started_at", "finished_at") if d.get(k)})
    if not days:
        return "not recorded"
    return days[0] if days[0] == days[-1] else f"{days[0]} to {days[-1]}"


def block(docs) -> list:
    samples = list(_samples(docs))
    nvml = _spread([s.get(k) for s in samples for k in ("sm_mhz_before", "sm_mhz_after")], "MHz")
    derived = _spread([s.get("sm_clock_mhz_derived") for s in samples], "MHz")
    throttled = sum(bool(s.get("throttled")) for s in samples)
    outcomes = Counter(d["outcome"] for d in docs)
    items = [
        (
            "GPU: "
            + _distinct(docs, "gpu_name")
            + ", compute capability "
            + _distinct(docs, "compute_capability")
            + ", "
            + _distinct(docs, "sm_count")
            + " SMs",
        ),
        (
            "driver: "
            + _distinct(docs, "driver_version")
            + "; CUDA driver API: "
            + _distinct(docs, "cuda_driver_version"),
        ),
        ("SM clock seen (NVML, before and after each sample): " + (nvml or "not recorded (NVML unavailable)"),),
    ]
    if derived:
        items.append(("SM clock derived from %clock64 / %globaltimer: " + derived,))
    kinds = Counter(f.split(":")[0] for s in samples for f in str(s.get("flags") or "").split(",") if f)
    why = f" ({', '.join(f'{k}: {n}' for k, n in sorted(kinds.items()))})" if kinds else ""
    mismatched = sum(bool((p["summary"] or {}).get("clock_mismatch")) for d in docs for p in d["points"])
    items += [
        (
            f"throttle events: {throttled} of {len(samples)} samples flagged{why} "
            "(kept in the data, left out of the statistics)",
        ),
        *(
            [(f"clock cross-check: {mismatched} points whose %clock64 / %globaltimer clock differs from NVML's",)]
            if mismatched
            else []
        ),
        ("campaign date: " + campaign_dates(docs),),
        ("schema version: " + (" / ".join(str(v) for v in sorted({d["schema_version"] for d in docs})) or "–"),),
        (
            "results: " + ", ".join(f"{n} {o}" for o, n in sorted(outcomes.items())) + f" ({len(docs)} files under ",
            Code("data/"),
            ")",
        ),
        ("tool versions: " + ("; ".join(_versions(docs)) or "not recorded"),),
        (
            "reproduce: ",
            Code("make campaign"),
            " on the same GPU, commit ",
            Code("reports/<gpu>/data/"),
            ", then ",
            Code("make report"),
            " and ",
            Code("make compare"),
            " (no GPU needed)",
        ),
    ]
    return [Heading(2, "Provenance", "provenance"), Bullets(tuple(items))]
