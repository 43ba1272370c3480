"""Worker side: run one probe over its points, owning warm-up, repetition, stopping, clocks and checkpoints."""

from __future__ import annotations

import datetime as dt

import numpy as np

from probes.engine import clocks as clocklib
from probes.kernel.context import Context, PointSkipped
from probes.kernel.timed_pass import per_op
from probes.results import io
from probes.results.schema import SCHEMA_VERSION, ResultsError
from probes.stats import make_rule, median_ci


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def new_document(probe, params: dict, backend: str, env: dict) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "probe": {
            "name": probe.name,
            "version": probe.version(),
            "params": params,
            "unit": probe.unit,
            "method": probe.method,
            "value_key": probe.value_key,
        },
        "backend": backend,
        "outcome": "incomplete",
        "environment": env,
        "started_at": now(),
        "finished_at": None,
        "points": [],
        "clocks": [],
        "kernels": [],
        "stopping": {},
        "error": None,
        "analysis": None,
    }


def kernel_records(ctx, cc, done: set | None = None) -> list[dict]:
    """Provenance of the kernels this context launched (only those), best-effort per kernel: the SASS hash and
    opcode histogram of the PTX Numba actually ran (`inspect_asm` of each compiled signature), its clock-discipline
    problems and chase step overhead (probes.static.kernel_checks). Assembling and disassembling need ptxas and
    cuobjdump, which a GPU machine may lack: a kernel whose provenance cannot be built gets a record with the
    reason, and nothing here ever blocks or fails a launch. `done` holds the (kernel, signature) already recorded."""
    import hashlib
    from collections import Counter

    from probes.kernel.compile import arch_of, ptx_to_sass
    from probes.static import kernel_checks as K

    done = set() if done is None else done
    arch = arch_of(cc)
    records = []
    for key, kernel in ctx.launched().items():
        for sig in list(getattr(kernel, "overloads", {}) or {}):
            ident = (repr(key), str(sig))
            if ident in done:
                continue
            done.add(ident)
            base = {"kernel": str(key), "signature": str(sig), "arch": arch}
            try:
                funcs = ptx_to_sass(kernel.inspect_asm(sig), arch)
            except Exception as err:  # no ptxas/cuobjdump here, or a newer PTX than they read: recorded, not raised
                text = str(err).strip().splitlines()
                records.append({**base, "provenance_error": f"{type(err).__name__}: {text[0][:200] if text else ''}"})
                continue
            for fname, insts in funcs.items():
                sass_text = "\n".join(i.text for i in insts)
                reads = len(K.clock_reads(insts))
                clocked = reads > 0 and reads % 3 == 0  # n/2n passes; per-access or spacing clocks are not
                overhead = {b: o for b in ("LDG", "LDS", "LDC", "LDL") if (o := K.step_overhead(insts, b))}
                records.append(
                    {
                        **base,
                        "function": fname,
                        "sass_sha256": hashlib.sha256(sass_text.encode()).hexdigest(),
                        "opcodes": dict(Counter(i.base for i in insts)),
                        "sass_problems": K.clock_problems(insts) if clocked else [],
                        "step_overhead": overhead,
                    }
                )
    return records


def resumable_points(probe, params: dict, backend: str, env: dict, out_path) -> tuple[list, list]:
    """(points, clocks) finished by an interrupted or crashed run of the same probe version, parameters, backend
    and card; nothing when there is no such file (a complete one is the campaign's business, not ours)."""
    try:
        old = io.load(out_path)
    except ResultsError:
        return [], []
    same = (
        old["outcome"] not in ("ok", "skipped")
        and same_run(old, probe, params, backend)
        and all(old["environment"].get(k) == env.get(k) for k in ("uuid", "gpu_name", "compute_capability"))
    )
    return (old["points"], old.get("clocks") or []) if same else ([], [])


def same_run(doc: dict, probe, params: dict, backend: str) -> bool:
    """Was this stored document measured by the same probe version, parameters and backend?"""
    return (
        doc["probe"]["version"] == probe.version()
        and doc["backend"] == backend
        and io.dumps(doc["probe"]["params"]) == io.dumps(params)
    )


def _axes_key(axes: dict) -> str:
    return io.dumps(axes)


def run_probe(
    probe,
    params: dict,
    backend: str,
    env: dict,
    out_path,
    rule: str = "median-ci",
    rule_params: dict | None = None,
    progress: bool = True,
    warmup: int = 1,
    resume: bool = True,
    sampler=None,
) -> dict:
    doc = new_document(probe, params, backend, env)
    done = {}
    if resume:
        finished, old_clocks = resumable_points(probe, params, backend, env, out_path)
        done = {_axes_key(p["axes"]): p for p in finished}
        doc["clocks"] += old_clocks
    unmet = probe.unmet(env, params)
    if unmet:
        doc.update(outcome="skipped", finished_at=now(), error={"reason": "; ".join(unmet)})
        io.save(doc, out_path)
        return doc
    ctx = Context(backend, env)
    recorded: set = set()

    def record_kernels():  # after each point: provenance of what ran, never before or instead of a launch
        if backend == "gpu" and env.get("compute_capability"):
            doc["kernels"] += kernel_records(ctx, env["compute_capability"], recorded)

    sampler = sampler or clocklib.ClockSampler(enabled=backend == "gpu", uuid=env.get("uuid") or None)
    points = probe.points(env, params)
    rule_params = {"max_seconds": probe.budget_seconds, **(rule_params or {})}
    doc["stopping"] = make_rule(rule, **rule_params).describe()
    bar = _progress(len(points), probe.name, progress)
    for point in points:
        axes = point.as_dict()
        if _axes_key(axes) in done:  # finished before an interruption: kept, never measured again
            doc["points"].append({**done[_axes_key(axes)], "resumed": True})
            bar.update(1)
            continue
        try:
            samples, stop, clocks, per_launch = _measure_point(
                probe, ctx, axes, params, rule, rule_params, sampler, warmup
            )
        except PointSkipped as why:  # cannot run as planned here (not co-resident, does not compile): say so
            doc["points"].append({"axes": axes, "samples": [], "summary": None, "skipped": str(why)})
            record_kernels()
            io.save(doc, out_path)
            bar.update(1)
            continue
        doc["clocks"] += clocks
        doc["points"].append(
            {"axes": axes, "samples": samples, "summary": summarize(samples, probe.value_key, stop.reason, per_launch)}
        )
        record_kernels()
        io.save(doc, out_path)  # checkpoint: a crash later keeps every finished point
        bar.update(1)
    bar.close()
    doc.update(outcome="ok", finished_at=now())
    io.save(doc, out_path)
    return doc


def derive_per_op(batch: dict) -> dict:
    """A probe's batch with its per-op values derived where it hands back only the raw pass times: `cycles_per_op`
    from `cycles_n`, `cycles_2n` and `steps` (and `ns_per_op` from `ns_n`, `ns_2n`), (t(2n) - t(n)) / steps, by
    the one function that writes that arithmetic (`timed_pass.per_op`, which the chase and cache-hint probes call
    too). Values a probe computed are kept as they are."""
    return per_op(per_op(batch, "cycles"), "ns")


def _measure_point(probe, ctx, axes: dict, params: dict, rule: str, rule_params: dict, sampler, warmup: int):
    """Warm-up launches, then samples until the stopping rule is met: (samples, rule, clock samples, per_launch)."""
    for _ in range(warmup):
        probe.measure(ctx, axes, params)
    stop = make_rule(rule, **rule_params)
    samples, rep, per_launch = [], 0, False
    while True:
        before = sampler.sample()
        batch = derive_per_op(probe.measure(ctx, axes, params))
        after = sampler.sample()
        rows = _rows(batch, rep, before, after)
        samples += rows
        rep += 1
        per_launch = per_launch or _per_launch(batch, probe.value_key)
        heads = _headline_rows(rows, per_launch)
        stop.add([r[probe.value_key] for r in heads if not r["throttled"]])
        stop.flagged(sum(1 for r in heads if r["throttled"]))
        if stop.done():
            break
    return samples, stop, [before, after], per_launch


def _per_launch(batch: dict, value_key: str) -> bool:
    """A scalar headline beside per-access columns (a latency trace, a per-SM map) is one value per launch: the
    stopping rule and the median count it once per launch, not once per row it was broadcast to."""
    if value_key not in batch or np.ndim(batch[value_key]) != 0:
        return False
    return any(np.ndim(v) > 0 and np.size(v) > 1 for v in batch.values())


def _headline_rows(samples: list[dict], per_launch: bool) -> list[dict]:
    return [r for r in samples if r.get("index", 0) == 0] if per_launch else samples


def summarize(samples: list[dict], value_key: str, stop_reason: str = "", per_launch: bool = False) -> dict:
    """Median and CI over the clean samples; flagged ones (throttled, clock change, clock ratio off) are excluded.
    If every sample is flagged the summary uses them all and says so (`all_flagged`): never silently."""
    heads = _headline_rows(samples, per_launch)
    clean = [r[value_key] for r in heads if not r["throttled"] and r.get(value_key) is not None]
    all_flagged = not clean
    values = clean or [r[value_key] for r in heads if r.get(value_key) is not None]
    med, lo, hi = median_ci(values)
    check = clocklib.point_clock_check(samples)
    return {
        "median": med,
        "ci_low": lo,
        "ci_high": hi,
        "n": len(values),
        "n_throttled": sum(bool(r["throttled"]) for r in samples),
        "all_flagged": all_flagged,
        "clock_check": check,
        "clock_mismatch": bool(check and not check["ok"]),
        "stop_reason": stop_reason,
        "value_scope": "launch" if per_launch else "row",
    }


def _rows(batch: dict, rep: int, before: dict, after: dict) -> list[dict]:
    columns = {k: np.atleast_1d(np.asarray(v)) for k, v in batch.items()}
    n = max(len(v) for v in columns.values())
    rows = []
    for i in range(n):
        row = {k: _scalar(v[i if len(v) > 1 else 0]) for k, v in columns.items()}
        row.update(rep=rep, index=i, sm_mhz_before=before["sm_mhz"], sm_mhz_after=after["sm_mhz"])
        if row.get("cycles") and row.get("ns"):
            row["sm_clock_mhz_derived"] = row["cycles"] / row["ns"] * 1e3  # %clock64 / %globaltimer ratio
        flags = clocklib.sample_flags(row, before, after)
        row.update(throttled=bool(flags), flags=",".join(flags))
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
