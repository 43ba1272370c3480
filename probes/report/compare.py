"""Side-by-side findings of several GPUs, keyed by (family, title), with differences flagged only on disjoint CIs.

What the flag does not prove: overlapping 95 % CIs do not show two GPUs are equal, and disjoint ones say nothing
about a bias both share (same method, same clock). A finding without a CI is never flagged.
"""

from __future__ import annotations

from probes.report.render import Grid, Strong, fmt_number, fmt_quantity


def value_text(f) -> str:
    """'value unit (lo–hi)': the CI in parentheses, or 'no CI'."""
    ci = f"({fmt_number(f.ci[0])}–{fmt_number(f.ci[1])})" if f.ci else "(no CI)"
    return f"{fmt_quantity(f.value, f.unit)} {ci}"


def differs(findings) -> str:
    """'' for fewer than two GPUs; otherwise whether the CIs are disjoint (1-D intervals overlap pairwise iff
    max(low) <= min(high)), computed over the GPUs that have a CI in the same unit."""
    if len(findings) < 2:
        return ""
    if len({f.unit for f in findings}) > 1:
        return "units differ"
    with_ci = [f.ci for f in findings if f.ci]
    if len(with_ci) >= 2 and max(lo for lo, _ in with_ci) > min(hi for _, hi in with_ci):
        return "differs"
    return "no CI" if len(with_ci) < len(findings) else "–"


def table(findings_by_gpu: dict[str, list], family: str) -> Grid | None:
    """One family's findings: a row per title, a column per GPU (in the dict's order), and the flag."""
    gpus = list(findings_by_gpu)
    rows: dict[str, dict] = {}
    for gpu in gpus:
        for f in findings_by_gpu[gpu]:
            if f.family == family:
                rows.setdefault(f.title, {})[gpu] = f
    if not rows:
        return None
    out = []
    for title in sorted(rows):
        by_gpu = rows[title]
        flag = differs(list(by_gpu.values()))
        out.append(
            (
                (title,),
                *((value_text(by_gpu[g]),) if g in by_gpu else ("–",) for g in gpus),
                (Strong(flag),) if flag == "differs" else (flag,),
            )
        )
    return Grid(
        ("finding", *gpus, "differs (95 % CIs disjoint)"),
        tuple(out),
        caption="median (95 % CI) per GPU; '–' where a GPU has no such finding",
    )
