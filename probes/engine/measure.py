"""Worker side: run one probe over its points, owning warm-up, repetition, stopping, clocks and checkpoints."""
from __future__ import annotations

import datetime as dt

import numpy as np

from probes.engine import clocks as clocklib
from probes.engine.context import Context
from probes.engine.stopping import make_rule, median_ci
from probes.results import io
from probes.results.schema import SCHEMA_VERSION


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_document(probe, params: dict, backend: str, env: dict) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "probe": {"name": probe.name, "version": probe.version(), "params": params, "unit": probe.unit,
                  "method": probe.method, "value_key": probe.value_key},
        "backend": backend, "outcome": "incomplete", "environment": env,
        "started_at": now(), "finished_at": None, "points": [], "clocks": [], "kernels": [],
        "stopping": {}, "error": None, "analysis": None,
    }


def kernel_records(probe, cc) -> list[dict]:
    """SASS hash and opcode histogram of each kernel as compiled for this device (provenance of what ran)."""
    import hashlib
    from collections import Counter

    from probes.engine.compile import arch_of, ptx_to_sass

    records = []
    for name, ptx in probe.kernels(tuple(cc)):
        funcs = ptx_to_sass(ptx, arch_of(cc))
        for fname, insts in funcs.items():
            text = "\n".join(i.text for i in insts)
            problems = probe.check_sass(name, insts) if probe.check_sass else []
            records.append({"kernel": name, "function": fname, "arch": arch_of(cc),
                            "sass_sha256": hashlib.sha256(text.encode()).hexdigest(),
                            "opcodes": dict(Counter(i.base for i in insts)), "sass_problems": problems})
    return records


def run_probe(probe, params: dict, backend: str, env: dict, out_path, rule: str = "median-ci",
              rule_params: dict | None = None, progress: bool = True, warmup: int = 1) -> dict:
    doc = new_document(probe, params, backend, env)
    unmet = probe.unmet(env, params)
    if unmet:
        doc.update(outcome="skipped", finished_at=now(), error={"reason": "; ".join(unmet)})
        io.save(doc, out_path)
        return doc
    if probe.kernels and backend == "gpu":
        doc["kernels"] = kernel_records(probe, env["compute_capability"])
    ctx = Context(backend, env)
    sampler = clocklib.ClockSampler(enabled=backend == "gpu")
    points = probe.points(env, params)
    rule_params = {"max_seconds": probe.budget_seconds, **(rule_params or {})}
    doc["stopping"] = make_rule(rule, **rule_params).describe()
    bar = _progress(len(points), probe.name, progress)
    for point in points:
        axes = point.as_dict()
        for _ in range(warmup):
            probe.measure(ctx, axes, params)
        stop = make_rule(rule, **rule_params)
        samples, rep = [], 0
        while True:
            before = sampler.sample()
            batch = probe.measure(ctx, axes, params)
            after = sampler.sample()
            suspect = clocklib.throttled(before, after)
            rows = _rows(batch, rep, before, after, suspect)
            samples += rows
            rep += 1
            stop.add([r[probe.value_key] for r in rows if not r["throttled"]])
            if stop.done():
                break
        doc["clocks"] += [before, after]
        values = [r[probe.value_key] for r in samples if not r["throttled"]] or [r[probe.value_key] for r in samples]
        med, lo, hi = median_ci(values)
        doc["points"].append({"axes": axes, "samples": samples, "summary": {
            "median": med, "ci_low": lo, "ci_high": hi, "n": len(values),
            "n_throttled": sum(r["throttled"] for r in samples), "stop_reason": stop.reason}})
        io.save(doc, out_path)  # checkpoint: a crash later keeps every finished point
        bar.update(1)
    bar.close()
    doc.update(outcome="ok", finished_at=now())
    io.save(doc, out_path)
    return doc


def _rows(batch: dict, rep: int, before: dict, after: dict, suspect: bool) -> list[dict]:
    columns = {k: np.atleast_1d(np.asarray(v)) for k, v in batch.items()}
    n = max(len(v) for v in columns.values())
    rows = []
    for i in range(n):
        row = {k: _scalar(v[i if len(v) > 1 else 0]) for k, v in columns.items()}
        row.update(rep=rep, index=i, sm_mhz_before=before["sm_mhz"], sm_mhz_after=after["sm_mhz"],
                   throttled=bool(suspect))
        if row.get("cycles") and row.get("ns"):
            row["sm_clock_mhz_derived"] = row["cycles"] / row["ns"] * 1e3  # %clock64 / %globaltimer ratio
        rows.append(row)
    return rows


def _scalar(x):
    x = x.item() if hasattr(x, "item") else x
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, unit="point", disable=not enabled, leave=False, mininterval=0.5)

