"""Campaign dry run without a GPU: compile every catalogue kernel for an architecture, check its SASS, print the plan.

`python -m probes campaign --dry-run --arch sm_90` (`make campaign DRY_RUN=1 ARCH=sm_90`). Works for any catalogue
probe through its declared `kernels(cc)`, `check_sass`, `axes`, and `expect`/`plan`/`occupancy` (Probe fields): no
probe is special-cased.
Axes need device properties, so the plan uses a *nominal* device per architecture (the table below, each number
with its source); a real card's sizes differ and the real campaign derives its plan from the card itself.
Compiled PTX is cached on disk by probes.kernel.compile.cached_kernels (keyed by probe version, compile.py, numba-cuda
and toolchain versions and architecture); ptxas and cuobjdump outputs are cached by the toolchain itself.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from probes.kernel.compile import cached_kernels, ptx_to_cubin_sass
from probes.spec import GiB, KiB, MiB
from probes.static import sass as sasslib

_A100 = "NVIDIA A100 Tensor Core GPU Architecture whitepaper (2020), A100 SXM4 40GB column"
_H100 = "NVIDIA H100 Tensor Core GPU Architecture whitepaper (2022), H100 SXM5 column"
_B200_SM = "NVIDIA technical blog 'Inside NVIDIA Blackwell Ultra' (2025), Blackwell (B200) column: 148 SMs"
_B200_L2 = (
    "L2 size the driver reports on a B200 (126.5 MiB, two dies), as quoted in ../shared/peer-data/README.md "
    "(kimbochen/gpu-microbench notes)"
)
_B200_MEM = "NVIDIA DGX B200 datasheet (2024): 1,440 GB of HBM3e for 8 GPUs, 180 GB per GPU"
_CC100_SMEM = "CUDA C++ Programming Guide, compute capability 10.0: 228 KB shared memory per SM"

# arch -> nominal properties, and the source of each number. Memory 'GB' of the datasheets is taken as GiB.
NOMINAL_DEVICES = {
    "sm_80": {
        "gpu_name": "A100-SXM4-40GB",
        "compute_capability": [8, 0],
        "sm_count": 108,
        "l2_cache_bytes": 40 * MiB,
        "memory_total_bytes": 40 * GiB,
        "shared_memory_per_sm_bytes": 164 * KiB,
        "sources": {
            "sm_count": _A100,
            "l2_cache_bytes": _A100,
            "memory_total_bytes": _A100,
            "shared_memory_per_sm_bytes": _A100,
        },
    },
    "sm_100": {
        "gpu_name": "B200",
        "compute_capability": [10, 0],
        "sm_count": 148,
        "l2_cache_bytes": 126 * MiB + 512 * KiB,
        "memory_total_bytes": 180 * GiB,
        "shared_memory_per_sm_bytes": 228 * KiB,
        "sources": {
            "sm_count": _B200_SM,
            "l2_cache_bytes": _B200_L2,
            "memory_total_bytes": _B200_MEM,
            "shared_memory_per_sm_bytes": _CC100_SMEM,
        },
    },
    "sm_90": {
        "gpu_name": "H100-SXM5-80GB",
        "compute_capability": [9, 0],
        "sm_count": 132,
        "l2_cache_bytes": 50 * MiB,
        "memory_total_bytes": 80 * GiB,
        "shared_memory_per_sm_bytes": 228 * KiB,
        "sources": {
            "sm_count": _H100,
            "l2_cache_bytes": _H100,
            "memory_total_bytes": _H100,
            "shared_memory_per_sm_bytes": _H100,
        },
    },
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
    axes: str = ""  # the declared axes with their units, e.g. "footprint_bytes [bytes]"


def nominal_device(arch: str) -> dict:
    """The nominal device of an architecture; an architecture-specific target (sm_90a, sm_100a, sm_100f) has the
    device of its base architecture (ptxas assembles for the suffixed target itself)."""
    base = re.sub(r"(?<=\d)[af]$", "", arch)
    if base not in NOMINAL_DEVICES:
        raise ValueError(
            f"no nominal device for {arch}: the dry run knows {', '.join(sorted(NOMINAL_DEVICES))} "
            "(and their a/f targets)"
        )
    return NOMINAL_DEVICES[base]


def nominal_environment(arch: str) -> dict:
    dev = nominal_device(arch)
    env = {k: v for k, v in dev.items() if k != "sources"}
    # An idle card: all memory free. Marked nominal so nothing mistakes it for a captured environment.
    env.update(
        backend="nominal", nominal=True, gpu_slug=dev["gpu_name"].lower(), memory_free_bytes=dev["memory_total_bytes"]
    )
    return env


def check_kernels(probe, arch: str, compiled: dict | None = None) -> tuple[int, list[str]]:
    """(kernels checked, one line per failure) for one probe on one architecture. With `compiled`, each kernel's
    (cubin, SASS text, parsed functions) is stored there under its name for the kernel checks and --emit-sass."""
    if not probe.kernels:
        return 0, []
    cc = tuple(nominal_device(arch)["compute_capability"])
    if probe.ptx and probe.unmet(nominal_environment(arch), {p.name: p.default for p in probe.params}):
        return 0, []  # a PTX probe not legal on this architecture (tcgen05 on sm_90): the plan lists it as skipped
    try:
        kernels = cached_kernels(probe, cc)
    except Exception as err:  # a compile failure is a finding of the dry run, reported as one line
        return 0, [f"FAIL {probe.name} {arch}: kernels do not compile: {_one_line(err)}"]
    if not kernels:
        return 0, [f"FAIL {probe.name} {arch}: kernels(cc) returned no kernel"]
    failures = []
    for name, ptx in kernels:
        try:
            cubin, text = ptx_to_cubin_sass(ptx, arch)
            funcs = sasslib.parse_cuobjdump(text)
        except Exception as err:
            failures.append(f"FAIL {probe.name} {arch} kernel {name}: does not assemble: {_one_line(err)}")
            continue
        if compiled is not None:
            compiled[name] = (cubin, text, funcs)
        if not funcs:
            failures.append(f"FAIL {probe.name} {arch} kernel {name}: no function in the cubin")
        for insts in funcs.values():
            for problem in probe.check_sass(name, insts) if probe.check_sass else []:
                failures.append(f"FAIL {probe.name} {arch} kernel {name}: SASS check: {problem}")
    return len(kernels), failures


_FIELDS = {"KERNEL_CHECKS": "expect", "PLANS": "plan", "OCCUPANCY": "occupancy"}


def _declared(probe, table: str):
    """What a probe declares for a check: its field (`expect`, `plan`, `occupancy`), else its entry in its module's
    table of that name (KERNEL_CHECKS, PLANS, OCCUPANCY: the older form, still read), or None."""
    import importlib

    own = getattr(probe, _FIELDS[table], None)
    if own is not None:
        return own
    module = getattr(probe, "module", None)
    if not module:
        return None
    return getattr(importlib.import_module(module), table, {}).get(probe.name)


def kernel_checks(probe, arch: str, compiled: dict, env: dict) -> dict[str, tuple[int, list[str], list[str]]]:
    """The five schedule checks of probes.static.kernel_checks on one probe's compiled kernels:
    {check: (items checked, failure lines, notes)}."""
    from probes.static import kernel_checks as K
    from probes.static import toolchain

    out = {c: [0, [], []] for c in K.CHECKS}
    cc = tuple(nominal_device(arch)["compute_capability"])
    expect_of = _declared(probe, "KERNEL_CHECKS")
    where = f"FAIL {probe.name} {arch}"
    for name, (_cubin, _, funcs) in compiled.items():
        expect = expect_of(name) if callable(expect_of) else expect_of
        if expect is None:
            continue
        for _fname, insts in funcs.items():
            if expect.clock and K.clock_reads(insts):
                out["clock discipline"][0] += 1
                out["clock discipline"][1] += [
                    f"{where} kernel {name}: clock discipline: {p}" for p in K.clock_problems(insts)
                ]
            if expect.chain:
                out["step overhead"][0] += 1
                over = K.step_overhead(insts, expect.chain)
                problems = K.step_problems(insts, expect.chain, expect.step_budget, expect.unroll)
                out["step overhead"][1] += [f"{where} kernel {name}: step overhead: {p}" for p in problems]
                if over:
                    out["step overhead"][2].append(over["max_cycles"])
            if expect.polled:
                out["loop-resident loads"][0] += 1
                out["loop-resident loads"][1] += [
                    f"{where} kernel {name}: loop-resident loads: {p}"
                    for p in K.loop_resident_problems(insts, expect.polled)
                ]
    params = {p.name: p.default for p in probe.params}
    occupancy = _declared(probe, "OCCUPANCY")
    if occupancy:
        usage = {}
        try:
            for cubin, _, _ in compiled.values():
                usage.update(K.resource_usage(cubin, toolchain.find_tool("cuobjdump")))
        except Exception as err:
            out["occupancy"][1].append(f"{where}: occupancy: no resource usage from the cubin: {_one_line(err)}")
        for function, threads, blocks in occupancy(env, params) if usage else ():
            out["occupancy"][0] += 1
            hit = [u for f, u in usage.items() if function in f]
            if len(hit) != 1:
                out["occupancy"][1].append(f"{where}: occupancy: {len(hit)} functions match {function!r}")
                continue
            problem = K.occupancy_problem(hit[0], threads, blocks, cc)
            if problem:  # the probe skips and records such a point at run time (PointSkipped): planned, not a bug
                out["occupancy"][2].append(f"{function} {blocks}x{threads}")
    plan = _declared(probe, "PLANS")
    if plan:
        from probes.stats import make_rule

        launches = make_rule("median-ci").min_samples + 1  # warm-up launch + the fewest samples a point takes
        for point in probe.points(env, params):
            out["coverage"][0] += 1
            how = plan(env, point.as_dict(), params, launches)
            if not how["covers"] and not how["reason"]:
                out["coverage"][1].append(
                    f"{where} point {point.as_dict()}: coverage: {launches} launches visit "
                    f"{min(1.0, how['launch_fraction'] * launches):.0%} of the chain and the "
                    "plan says nothing about the rest"
                )
            elif not how["covers"]:
                out["coverage"][2].append(how["reason"])
    return {c: tuple(v) for c, v in out.items()}


def format_checks(totals: dict, arch: str) -> list[str]:
    lines = [f"kernel checks {arch} (ptxas's schedule from the control bits, not a measurement):"]
    for check, (n, failures, notes) in totals.items():
        extra = ""
        if check == "step overhead" and notes:
            extra = f"; worst gap between chained loads {max(notes)} issue cycles"
        elif check == "occupancy" and notes:
            extra = f"; {len(notes)} points not co-resident, skipped and recorded at run time"
        elif check == "coverage" and notes:
            extra = f"; {len(notes)} points covered in part, the plan says why"
        lines.append(f"  {check:<20} {n:>5} checked  {len(failures)} failures{extra}")
    return lines


def write_sass(directory, probe_name: str, compiled: dict) -> int:
    """Write `<probe>__<kernel>.sass` (cuobjdump text) for each compiled kernel; the number written."""
    from pathlib import Path

    from probes.results.io import write_atomic

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, (_, text, _) in compiled.items():
        safe = "".join(c if c.isalnum() or c in "._-@" else "_" for c in f"{probe_name}__{name}")
        write_atomic(directory / f"{safe}.sass", text)
    return len(compiled)


def plan_rows(probes, env: dict, params_of=None) -> tuple[list[PlanRow], list[str]]:
    """Per probe: axis points, minimum samples and time budget on the nominal device (default parameters, or
    `params_of(probe)`: a campaign plan's)."""
    from probes.stats import make_rule

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
        axes = ", ".join(f"{a} [{u}]" if u else a for a, u in probe.axis_units().items())
        rows.append(
            PlanRow(
                probe.name,
                probe.name.split(".")[0],
                0 if skipped else n,
                min_samples,
                probe.budget_seconds,
                skipped,
                axes,
            )
        )
    return rows, failures


def format_plan(rows: list[PlanRow], arch: str) -> list[str]:
    dev = nominal_device(arch)
    width = max([len(r.probe) for r in rows] + [5])
    lines = [
        f"plan for {arch} on a NOMINAL {dev['gpu_name']} (properties from its datasheet, not a real card: "
        f"{dev['sm_count']} SMs, L2 {dev['l2_cache_bytes'] // MiB} MiB, memory "
        f"{dev['memory_total_bytes'] // GiB} GiB; source: {dev['sources']['l2_cache_bytes']})",
        f"  {'probe':<{width}}  {'points':>6}  {'samples>=':>9}  {'time<= s':>8}  axes [unit]",
    ]
    families = defaultdict(list)
    for r in rows:
        families[r.family].append(r)
        if r.skipped:
            lines.append(f"  {r.probe:<{width}}  skipped on this device: {r.skipped}")
        else:
            lines.append(
                f"  {r.probe:<{width}}  {r.points:>6}  {r.points * r.min_samples:>9}  "
                f"{r.points * r.budget_seconds:>8.0f}" + (f"  {r.axes}" if r.axes else "")
            )
    lines.append(
        "  per family (time: stopping-rule budget per point + worker start-up; an upper bound, most "
        "points stop earlier):"
    )
    total = 0.0
    for fam, rs in sorted(families.items()):
        points = sum(r.points for r in rs)
        seconds = sum(r.points * r.budget_seconds + WORKER_START_SECONDS for r in rs if not r.skipped)
        total += seconds
        lines.append(
            f"  {fam:<{width}}  {points:>6}  {sum(r.points * r.min_samples for r in rs):>9}  "
            f"{seconds:>8.0f}  ({len(rs)} probes, <= {seconds / 60:.1f} min)"
        )
    lines.append(f"  total <= {total / 3600:.2f} h")
    return lines


def dry_run(archs: list[str], patterns: list[str] | None = None, echo=print, emit_sass=None) -> int:
    """Compile and check every kernel, run the five schedule checks, print one line per failure and the plan; 0 if
    all pass, 1 otherwise. With `emit_sass` (a folder), write every compiled kernel's SASS there."""
    from pathlib import Path

    from probes import catalogue
    from probes.static.kernel_checks import CHECKS

    for arch in archs:
        nominal_environment(arch)  # unknown arch -> one clear error before any work
    probes = catalogue.select(patterns)
    failed = 0
    for arch in archs:
        env = nominal_environment(arch)
        checked, failures = 0, []
        totals = {c: [0, [], []] for c in CHECKS}
        emitted = 0
        for probe in probes:
            compiled: dict = {}
            n, bad = check_kernels(probe, arch, compiled)
            checked += n
            failures += bad
            try:
                results = kernel_checks(probe, arch, compiled, env)
            except Exception as err:
                failures.append(f"FAIL {probe.name} {arch}: kernel checks fail: {_one_line(err)}")
                results = {}
            for check, (k, fails, notes) in results.items():
                totals[check][0] += k
                totals[check][1] += fails
                totals[check][2] += notes
                failures += fails
            if emit_sass is not None:
                folder = Path(emit_sass) / arch if len(archs) > 1 else Path(emit_sass)
                emitted += write_sass(folder, probe.name, compiled)
        rows, plan_failures = plan_rows(probes, env)
        failures += plan_failures
        for line in failures:
            echo(line)
        for line in format_checks(totals, arch):
            echo(line)
        for line in format_plan(rows, arch):
            echo(line)
        if emit_sass is not None:
            echo(f"wrote {emitted} SASS files to {Path(emit_sass) / arch if len(archs) > 1 else Path(emit_sass)}")
        echo(
            f"dry run {arch}: {len(probes)} probes, {checked} kernels compiled and SASS-checked, "
            f"{len(failures)} failures"
        )
        failed += len(failures)
    return 1 if failed else 0


def _one_line(err: BaseException) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"[:300]
