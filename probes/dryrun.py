"""Campaign dry run without a GPU: compile every catalogue kernel for an architecture, check its SASS, print the plan.

`python -m probes campaign --dry-run --arch sm_90` (`make campaign DRY_RUN=1 ARCH=sm_90`). Works for any catalogue
probe through its declared `kernels(cc)`, `check_sass` and `axes(env, params)`: no probe is special-cased.
Axes need device properties, so the plan uses a *nominal* device per architecture (the table below, each number
with its source); a real card's sizes differ and the real campaign derives its plan from the card itself.
Compiled PTX is cached on disk by probes.engine.compile.cached_kernels (keyed by probe version, compile.py, numba-cuda
and toolchain versions and architecture); ptxas and cuobjdump outputs are cached by the toolchain itself.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from probes.engine.compile import cached_kernels, ptx_to_sass
from probes.spec import GiB, KiB, MiB

_A100 = "NVIDIA A100 Tensor Core GPU Architecture whitepaper (2020), A100 SXM4 40GB column"
_H100 = "NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022), H100 SXM5 column"

# arch -> nominal properties, and the source of each number. Memory 'GB' of the datasheets is taken as GiB.
NOMINAL_DEVICES = {
    "sm_80": {"gpu_name": "A100-SXM4-40GB", "compute_capability": [8, 0], "sm_count": 108,
              "l2_cache_bytes": 40 * MiB, "memory_total_bytes": 40 * GiB, "shared_memory_per_sm_bytes": 164 * KiB,
              "sources": {"sm_count": _A100, "l2_cache_bytes": _A100, "memory_total_bytes": _A100,
                          "shared_memory_per_sm_bytes": _A100}},
    "sm_90": {"gpu_name": "H100-SXM5-80GB", "compute_capability": [9, 0], "sm_count": 132,
              "l2_cache_bytes": 50 * MiB, "memory_total_bytes": 80 * GiB, "shared_memory_per_sm_bytes": 228 * KiB,
              "sources": {"sm_count": _H100, "l2_cache_bytes": _H100, "memory_total_bytes": _H100,
                          "shared_memory_per_sm_bytes": _H100}},
}
WORKER_START_SECONDS = 5.0  # a worker imports numba and compiles before its first launch (rough, per probe)


@dataclass
class PlanRow:
    probe: str
    family: str
    points: int
    min_samples: int
    budget_seconds: float
    skipped: str = ""


def nominal_environment(arch: str) -> dict:
    if arch not in NOMINAL_DEVICES:
        raise ValueError(f"no nominal device for {arch}: the dry run knows {', '.join(sorted(NOMINAL_DEVICES))}")
    dev = NOMINAL_DEVICES[arch]
    env = {k: v for k, v in dev.items() if k != "sources"}
    # An idle card: all memory free. Marked nominal so nothing mistakes it for a captured environment.
    env.update(backend="nominal", nominal=True, gpu_slug=dev["gpu_name"].lower(),
               memory_free_bytes=dev["memory_total_bytes"])
    return env


def check_kernels(probe, arch: str) -> tuple[int, list[str]]:
    """(kernels checked, one line per failure) for one probe on one architecture."""
    if not probe.kernels:
        return 0, []
    cc = tuple(NOMINAL_DEVICES[arch]["compute_capability"])
    if probe.ptx and probe.unmet(nominal_environment(arch), {p.name: p.default for p in probe.params}):
        return 0, []   # a PTX probe not legal on this architecture (tcgen05 on sm_90): the plan lists it as skipped
    try:
        kernels = cached_kernels(probe, cc)
    except Exception as err:  # a compile failure is a finding of the dry run, reported as one line
        return 0, [f"FAIL {probe.name} {arch}: kernels do not compile: {_one_line(err)}"]
    if not kernels:
        return 0, [f"FAIL {probe.name} {arch}: kernels(cc) returned no kernel"]
    failures = []
    for name, ptx in kernels:
        try:
            funcs = ptx_to_sass(ptx, arch)
        except Exception as err:
            failures.append(f"FAIL {probe.name} {arch} kernel {name}: does not assemble: {_one_line(err)}")
            continue
        if not funcs:
            failures.append(f"FAIL {probe.name} {arch} kernel {name}: no function in the cubin")
        for insts in funcs.values():
            for problem in (probe.check_sass(name, insts) if probe.check_sass else []):
                failures.append(f"FAIL {probe.name} {arch} kernel {name}: SASS check: {problem}")
    return len(kernels), failures


def plan_rows(probes, env: dict, params_of=None) -> tuple[list[PlanRow], list[str]]:
    """Per probe: axis points, minimum samples and time budget on the nominal device (default parameters, or
    `params_of(probe)`: a campaign plan's)."""
    from probes.engine.stopping import make_rule
    min_samples = make_rule("median-ci").min_samples
    rows, failures = [], []
    for probe in probes:
        params = params_of(probe) if params_of else {p.name: p.default for p in probe.params}
        try:
            n = len(probe.points(env, params))
            skipped = "; ".join(probe.unmet(env, params))
        except Exception as err:
            failures.append(f"FAIL {probe.name}: axes(env, params) fails on the nominal device: {_one_line(err)}")
            continue
        rows.append(PlanRow(probe.name, probe.name.split(".")[0], 0 if skipped else n, min_samples,
                            probe.budget_seconds, skipped))
    return rows, failures


def format_plan(rows: list[PlanRow], arch: str) -> list[str]:
    dev = NOMINAL_DEVICES[arch]
    width = max([len(r.probe) for r in rows] + [5])
    lines = [f"plan for {arch} on a NOMINAL {dev['gpu_name']} (properties from its datasheet, not a real card: "
             f"{dev['sm_count']} SMs, L2 {dev['l2_cache_bytes'] // MiB} MiB, memory "
             f"{dev['memory_total_bytes'] // GiB} GiB; source: {dev['sources']['l2_cache_bytes']})",
             f"  {'probe':<{width}}  {'points':>6}  {'samples>=':>9}  {'time<= s':>8}"]
    families = defaultdict(list)
    for r in rows:
        families[r.family].append(r)
        if r.skipped:
            lines.append(f"  {r.probe:<{width}}  skipped on this device: {r.skipped}")
        else:
            lines.append(f"  {r.probe:<{width}}  {r.points:>6}  {r.points * r.min_samples:>9}  "
                         f"{r.points * r.budget_seconds:>8.0f}")
    lines.append("  per family (time: stopping-rule budget per point + worker start-up; an upper bound, most "
                 "points stop earlier):")
    total = 0.0
    for fam, rs in sorted(families.items()):
        points = sum(r.points for r in rs)
        seconds = sum(r.points * r.budget_seconds + WORKER_START_SECONDS for r in rs if not r.skipped)
        total += seconds
        lines.append(f"  {fam:<{width}}  {points:>6}  {sum(r.points * r.min_samples for r in rs):>9}  "
                     f"{seconds:>8.0f}  ({len(rs)} probes, <= {seconds / 60:.1f} min)")
    lines.append(f"  total <= {total / 3600:.2f} h")
    return lines


def dry_run(archs: list[str], patterns: list[str] | None = None, echo=print) -> int:
    """Compile and check every kernel, print one line per failure and the plan; 0 if all pass, 1 otherwise."""
    from probes import catalogue
    for arch in archs:
        nominal_environment(arch)  # unknown arch -> one clear error before any work
    probes = catalogue.select(patterns)
    failed = 0
    for arch in archs:
        checked, failures = 0, []
        for probe in probes:
            n, bad = check_kernels(probe, arch)
            checked += n
            failures += bad
        rows, plan_failures = plan_rows(probes, nominal_environment(arch))
        failures += plan_failures
        for line in failures:
            echo(line)
        for line in format_plan(rows, arch):
            echo(line)
        echo(f"dry run {arch}: {len(probes)} probes, {checked} kernels compiled and SASS-checked, "
             f"{len(failures)} failures")
        failed += len(failures)
    return 1 if failed else 0


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"[:300]
