"""`python -m probes selftest` (`make selftest`): a one-minute check of a real GPU against what we expect of it.

Two halves. `gather()` runs small probes on the card (the clock, chase and chain probes each in a watchdog worker,
like a campaign; every probe's smoke run together in one batch worker, with what a crash leaves re-run one worker
each: five interpreter starts instead of two dozen) and collects plain observations; `decide(obs)` is a pure function from those observations to a PASS/FAIL table, so the
decision logic is tested on recorded synthetic inputs without a GPU (tests/test_selftest.py). The table is stored
with the environment as a schema-valid results document (probe `selftest.card`, written atomically).
Without a GPU: one line saying so, exit status 2.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

PASS, FAIL, SKIP, UNAVAILABLE = "PASS", "FAIL", "SKIP", "UNAVAILABLE"
CLOCK_TOLERANCE = 0.02  # %clock64/%globaltimer vs NVML SM clock (issue 12)
CHAIN_OPS = {"ffma": "FFMA", "imad": "IMAD", "dfma": "DFMA"}
CHAIN_SLACK_CYCLES = 0.25  # the CI is widened by this: cycle counts are quantised
# A 4 KiB chase is L1-resident on every Volta+ part: published L1 hit latencies are ~20-40 cycles (e.g. Jia et al.,
# "Dissecting the NVIDIA Volta GPU Architecture via Microbenchmarking", 2018; Chips and Cheese's A100/H100 articles).
# The bounds are deliberately generous: they catch a broken timer or chain, not a slow cache.
CHASE_RANGE_CYCLES = (8.0, 200.0)
CHASE_SAME_LEVEL = (0.8, 1.25)  # 1 KiB..4 KiB points: one cache level, so within this ratio of the first
CLOCK_PROBE_MODULE = "probes.engine.selftest_clock"
EXIT_NO_GPU = 2
RUN_MAX_SECONDS = 5.0  # per point of the clock, chase and chain runs (10 samples each)
SMOKE_MAX_SECONDS = 1.0  # per point of a smoke run (1 sample of a tiny kernel; a backstop)
CHASE_PARAMS = ("max_footprint_bytes=4096", "min_footprint_bytes=1024", "points_per_octave=1")


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    detail: str


# ----------------------------------------------------------------------------------------------- decision logic
def decide(obs: dict) -> list[Check]:
    """PASS/FAIL/SKIP/UNAVAILABLE per check from recorded observations (see gather() for their shape)."""
    return (
        [_clock_check(obs)]
        + _nvml_checks(obs.get("nvml") or {})
        + _chain_checks(obs)
        + [_chase_check(obs.get("chase") or {})]
        + _smoke_checks(obs.get("smoke") or {})
    )


def _clock_check(obs: dict) -> Check:
    name = "SM clock: %clock64/%globaltimer vs NVML"
    clock = obs.get("clock") or {}
    derived, nvml = clock.get("derived_sm_mhz"), clock.get("nvml_sm_mhz")
    missing = [what for what, v in (("%clock64/%globaltimer", derived), ("NVML SM clock", nvml)) if not v]
    if missing:
        why = clock.get("detail") or "not measured"
        return Check(name, UNAVAILABLE, f"{' and '.join(missing)} unavailable ({why})")
    err = derived / nvml - 1
    status = PASS if abs(err) <= CLOCK_TOLERANCE else FAIL
    return Check(name, status, f"{derived:.0f} MHz vs NVML {nvml:.0f} MHz ({err:+.1%}; limit {CLOCK_TOLERANCE:.0%})")


def _nvml_checks(nvml: dict) -> list[Check]:
    readable = nvml.get("sm_mhz") is not None and nvml.get("throttle") is not None
    if not readable:
        why = nvml.get("error") or nvml.get("why_not") or "no value"
        return [Check("clocks and throttle reasons readable (NVML)", FAIL, why)]
    out = [
        Check(
            "clocks and throttle reasons readable (NVML)",
            PASS,
            f"SM {nvml['sm_mhz']} MHz, memory {nvml.get('mem_mhz')} MHz, {nvml.get('temp_c')} C, "
            f"{nvml.get('power_w')} W",
        )
    ]
    reasons = nvml["throttle"]
    out.append(
        Check(
            "no throttle reason active",
            FAIL if reasons else PASS,
            f"throttled now: {reasons}; measurements would be flagged" if reasons else "none",
        )
    )
    return out


def _chain_checks(obs: dict) -> list[Check]:
    chains, atlas = obs.get("chains") or {}, obs.get("atlas") or {}
    out = []
    for op, opcode in CHAIN_OPS.items():
        name = f"dependent {opcode} chain vs static atlas"
        expected = atlas.get(op)
        measured = (chains.get("ops") or {}).get(op)
        if chains.get("status") not in (None, "ok"):
            out.append(
                Check(name, UNAVAILABLE if chains["status"] == "unavailable" else FAIL, chains.get("detail", ""))
            )
        elif not isinstance(expected, (int, float)):
            out.append(
                Check(
                    name,
                    UNAVAILABLE,
                    f"atlas gives no fixed latency for {opcode} on {obs.get('arch')} ({expected or 'no row'})",
                )
            )
        elif not measured:
            out.append(Check(name, UNAVAILABLE, f"instructions.latency returned no point for op={op}"))
        else:
            lo, hi = measured["ci_low"] - CHAIN_SLACK_CYCLES, measured["ci_high"] + CHAIN_SLACK_CYCLES
            ok = lo <= expected <= hi
            out.append(
                Check(
                    name,
                    PASS if ok else FAIL,
                    f"measured {measured['median']:.2f} cycles (CI {measured['ci_low']:.2f}-"
                    f"{measured['ci_high']:.2f}), ptxas schedule {expected} cycles",
                )
            )
    return out


def _chase_check(chase: dict) -> Check:
    name = "4 KiB pointer chase: final index and latency"
    if chase.get("outcome") != "ok":
        return Check(name, FAIL, chase.get("detail") or f"outcome {chase.get('outcome', 'not run')}")
    medians = [p["median"] for p in chase.get("points") or []]
    if not medians:
        return Check(name, FAIL, "no point measured")
    lo, hi = CHASE_RANGE_CYCLES
    first, last = medians[0], medians[-1]
    ratio = last / first if first else float("inf")
    ok = lo <= first <= hi and CHASE_SAME_LEVEL[0] <= ratio <= CHASE_SAME_LEVEL[1]
    return Check(
        name,
        PASS if ok else FAIL,
        f"final index verified; first point {first:.1f} cycles (expected {lo:g}-{hi:g}), 4 KiB "
        f"{last:.1f} cycles ({ratio:.2f}x the first; expected {CHASE_SAME_LEVEL[0]}-{CHASE_SAME_LEVEL[1]})",
    )


def _smoke_checks(smoke: dict) -> list[Check]:
    out = []
    for name, r in sorted(smoke.items()):
        outcome = r.get("outcome")
        status = PASS if outcome == "ok" else SKIP if outcome == "skipped" else FAIL
        detail = r.get("detail") or outcome
        if r.get("error_type") == "KernelCheckError":
            detail = f"kernel computed a wrong result: {detail}"
        out.append(Check(f"{name} launches with its smoke params", status, detail))
    return out


def passed(checks: list[Check]) -> bool:
    return all(c.status != FAIL for c in checks)


def format_table(checks: list[Check]) -> list[str]:
    width = max(len(c.name) for c in checks)
    return [f"{c.status:<11}  {c.name:<{width}}  {c.detail}" for c in checks]


# ------------------------------------------------------------------------------------------------- observations
def atlas_latencies(arch: str, path: Path, variant_csv: Path | None = None) -> dict:
    """{op: fixed latency in cycles, or the reason there is none}: ptxas's schedule of each chain op's variant.

    Joined by key, never by opcode text: an op's `variant` (probes/static/instruction_table.py) names its table row;
    a row with a static-atlas link is read from the instruction atlas `path` (instructions-sass.csv, column
    `instruction` = the link's name, every architecture), a row without one (imad's `mad.lo.u32`) from the variant
    atlas (`variant_csv`, default the committed one), as the instruction analysis does."""
    from probes.static import instruction_table as T
    from probes.static import variant_atlas

    if not path.is_file():
        return {op: f"{path} missing (make static)" for op in CHAIN_OPS}
    with open(path, newline="") as f:
        rows = {(r.get("instruction"), r.get("arch")): r for r in csv.DictReader(f)}
    out = {}
    for op in CHAIN_OPS:
        key = T.BY_NAME[op].variant
        link = T.BY_KEY[key].link
        row = rows.get((link.name, arch)) if link else variant_atlas.scheduled(key, arch, variant_csv)
        if not row or (not link and (row.get("status") != "ok" or row.get("variant") != key)):
            out[op] = f"no row for {key} on {arch}"
            continue
        value = row.get("fixed_latency_cycles") or ""
        out[op] = int(float(value)) if value else f"{row.get('latency_class') or 'no'} latency"
    return out


def _outcome_summary(outcome) -> dict:
    from probes.results import io
    from probes.results.schema import ResultsError

    r = {"outcome": outcome.outcome, "detail": outcome.detail}
    try:
        doc = io.load(outcome.path)
    except (ResultsError, TypeError):
        return r
    err = doc.get("error") or {}
    r.update(error_type=err.get("type"), detail=err.get("message") or err.get("reason") or outcome.detail)
    r["points"] = [
        {**p["axes"], **{k: p["summary"][k] for k in ("median", "ci_low", "ci_high")}}
        for p in doc["points"]
        if p.get("summary")
    ]
    r["clock_check"] = next(
        (p["summary"].get("clock_check") for p in doc["points"] if (p.get("summary") or {}).get("clock_check")), None
    )
    return r


def gather(env: dict, timeout: float, atlas_csv: Path, backend: str = "gpu", smoke_out: Path | None = None) -> dict:
    """Run the self-test probes on the GPU (one watchdog worker each) and collect observations for decide().
    `backend="simulator"` runs the same orchestration under Numba's simulator: the test suite's rehearsal.
    `smoke_out`: keep the smoke runs' results documents in this folder (default: a temporary one, removed)."""
    from probes import catalogue
    from probes.engine.campaign import RunOptions, run_batch, run_one
    from probes.engine.clocks import ClockSampler
    from probes.spec import ProbeSpecError

    arch = f"sm_{env['compute_capability'][0]}{env['compute_capability'][1]}"
    sampler = ClockSampler(backend == "gpu", uuid=env.get("uuid") or None)
    obs = {
        "arch": arch,
        "nvml": {**sampler.sample(), "why_not": sampler.why_not},
        "atlas": atlas_latencies(arch, atlas_csv),
    }

    def run(probe, params, d, count=10):
        rule_params = {"count": count, "min_samples": count, "max_seconds": RUN_MAX_SECONDS}
        opts = RunOptions(Path(d), backend, timeout, resume=False, progress=False, rule="fixed-count")
        return run_one(probe, params, opts.but(rule_params=rule_params))

    with tempfile.TemporaryDirectory(prefix="gpu-probes-selftest-") as d:
        clock = _outcome_summary(run(catalogue.get("selftest.clock"), {"iterations": 1 << 17}, d))
        obs["clock"] = {
            **(clock.get("clock_check") or {}),
            "detail": clock.get("detail") or "NVML or %globaltimer gave no value",
        }
        ladder = catalogue.get("latency.ladder.global")
        params = ladder.parse_params(CHASE_PARAMS)
        obs["chase"] = _outcome_summary(run(ladder, params, d))
        try:
            chain_probe = catalogue.get("instructions.latency")
            chain_params = chain_probe.parse_params([f"ops={','.join(CHAIN_OPS)}"])
        except ProbeSpecError as err:
            obs["chains"] = {"status": "unavailable", "detail": str(err)}
        else:
            r = _outcome_summary(run(chain_probe, chain_params, d))
            obs["chains"] = {
                "status": "ok" if r["outcome"] == "ok" else "error",
                "detail": r.get("detail", ""),
                "ops": {p["op"]: p for p in r.get("points", []) if "op" in p},
            }
        obs["smoke"], jobs = {}, []
        for probe in catalogue.all_probes().values():
            if probe.name == "selftest.clock":
                continue
            try:
                jobs.append((probe, probe.parse_params(probe.smoke)))
            except ProbeSpecError as err:
                obs["smoke"][probe.name] = {"outcome": "error", "detail": f"bad smoke params: {err}"}
        # every probe once in ONE worker (a crash or CUDA error re-runs the rest one worker each)
        smoke_rule = {"count": 1, "min_samples": 1, "max_seconds": SMOKE_MAX_SECONDS}
        smoke_dir = Path(smoke_out) if smoke_out is not None else Path(d) / "smoke"
        for (probe, _), o in zip(
            jobs, run_batch(jobs, RunOptions(smoke_dir, backend, timeout, rule="fixed-count", rule_params=smoke_rule))
        ):
            obs["smoke"][probe.name] = _outcome_summary(o)
    return obs


def upper_bound_seconds(env: dict, worker_start_seconds: float) -> float:
    """What gather() costs at most on a device like `env` by the dry run's accounting: the rule's time budget per
    point plus one worker start per launch (clock, chase, chains, and one batch for every probe's smoke run)."""
    from probes import catalogue
    from probes.spec import ProbeSpecError

    seconds = 4 * worker_start_seconds + RUN_MAX_SECONDS * (1 + len(CHAIN_OPS))  # clock: 1 point; chains: 1 per op
    seconds += RUN_MAX_SECONDS * len(
        catalogue.get("latency.ladder.global").points(
            env, catalogue.get("latency.ladder.global").parse_params(CHASE_PARAMS)
        )
    )
    for probe in catalogue.all_probes().values():
        if probe.name == "selftest.clock":
            continue
        try:
            seconds += SMOKE_MAX_SECONDS * len(probe.points(env, probe.parse_params(probe.smoke)))
        except ProbeSpecError:
            continue
    return seconds


def rehearse(atlas_csv: Path, timeout: float = 120) -> list[Check]:
    """gather() + decide() under Numba's simulator (the orchestration of a GPU self-test; timings decide nothing)."""
    from probes import catalogue
    from probes.engine.environment import capture

    extra = os.environ.get("GPU_PROBES_EXTRA_CATALOGUE", "")
    os.environ["GPU_PROBES_EXTRA_CATALOGUE"] = ",".join(filter(None, [extra, CLOCK_PROBE_MODULE]))
    catalogue.all_probes.cache_clear()
    try:
        return decide(gather(capture("simulator"), timeout, atlas_csv, backend="simulator"))
    finally:
        os.environ["GPU_PROBES_EXTRA_CATALOGUE"] = extra
        catalogue.all_probes.cache_clear()


def store(checks: list[Check], obs: dict, env: dict, path: Path) -> None:
    """The table and observations, with the environment, as a schema-valid results document (atomic write)."""
    from probes.engine.measure import now
    from probes.results import io
    from probes.results.schema import SCHEMA_VERSION

    failed = [c.name for c in checks if c.status == FAIL]
    doc = {
        "schema_version": SCHEMA_VERSION,
        "probe": {
            "name": "selftest.card",
            "version": "1",
            "params": {},
            "unit": "",
            "method": __doc__.split("\n\n")[0].replace("\n", " "),
            "value_key": "",
        },
        "backend": "gpu",
        "outcome": "error" if failed else "ok",
        "environment": env,
        "started_at": now(),
        "finished_at": now(),
        "points": [],
        "clocks": [obs.get("nvml") or {}],
        "kernels": [],
        "stopping": {},
        "error": {"reason": f"failed: {', '.join(failed)}"} if failed else None,
        "analysis": {"selftest": [asdict(c) for c in checks], "observations": obs},
    }
    io.save(doc, path)


def main(out: Path | None, timeout: float, atlas_csv: Path, echo=print) -> int:
    from probes.engine.campaign import campaign_lock, capture_environment
    from probes.engine.environment import driver_status

    reason = driver_status()
    if reason:
        print(f"error: selftest needs a GPU: {reason}", file=sys.stderr)
        return EXIT_NO_GPU
    extra = os.environ.get("GPU_PROBES_EXTRA_CATALOGUE", "")
    if CLOCK_PROBE_MODULE not in extra.split(","):
        os.environ["GPU_PROBES_EXTRA_CATALOGUE"] = ",".join(filter(None, [extra, CLOCK_PROBE_MODULE]))
        from probes import catalogue

        catalogue.all_probes.cache_clear()
    try:
        env = capture_environment("gpu")
    except RuntimeError as err:  # the worker's one-line reason (driver too old, device lost...)
        print(f"error: selftest needs a working GPU: {err}", file=sys.stderr)
        return EXIT_NO_GPU
    out = out or Path(__file__).resolve().parent.parent / "results" / env["gpu_slug"]
    with campaign_lock(out, "gpu"):  # never beside a campaign on the same card or folder
        obs = gather(env, timeout, atlas_csv)
    checks = decide(obs)
    for line in format_table(checks):
        echo(line)
    store(checks, obs, env, out / "selftest.json")
    echo(
        f"selftest {'PASSED' if passed(checks) else 'FAILED'} on {env['gpu_name']} ({env.get('uuid')}); "
        f"table stored in {out / 'selftest.json'}"
    )
    return 0 if passed(checks) else 1
