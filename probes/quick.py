"""Plan-driven campaigns: `python -m probes campaign --plan FILE | --quick [--param PROBE:key=value] [budgets]`.

A plan (probes/data/plans/*.toml, read by probes.engine.campaign.load_plan) lists probes with their parameters and
time budgets, so the quick campaign is data. `--quick` (`make quick`) is the first thing to run in a short GPU
booking: the self-test, the quick plan, then publish and the per-GPU report, all stopped before `--deadline-s`.
`--dry-run` prints the plan and its upper bound on the nominal A100/H100 (the dry run's own accounting: stopping-rule
budget per point + worker start-up, plus the self-test's and an allowance for publish and report).
Without a GPU (and without `--backend simulator`) it ends with one line and exit status 2, like `make probe`.
Under the simulator everything is a rehearsal: nothing is published, the report goes to a folder beside the results.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

REPORT_ALLOWANCE_SECONDS = 60.0  # publish + per-GPU report (figures included): an allowance, not a measured bound
DEADLINE_RESERVE_SECONDS = 15.0  # with --deadline-s and no report step: margin to record the probe in flight
ARCHS = ("sm_80", "sm_90")


def add_args(p: argparse.ArgumentParser) -> None:
    """The campaign's plan and budget flags (`python -m probes campaign ...`)."""
    g = p.add_argument_group("plans and budgets")
    g.add_argument(
        "--plan", metavar="FILE|NAME", help="run a plan file (TOML; a name means probes/data/plans/NAME.toml)"
    )
    g.add_argument(
        "--quick",
        action="store_true",
        help="self-test + the quick plan + publish + per-GPU report, for a short booking (make quick)",
    )
    g.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="PROBE:K=V",
        help="a parameter of one probe of the campaign (repeatable), e.g. latency.tlb:points_per_octave=1",
    )
    g.add_argument(
        "--point-budget-s",
        type=float,
        metavar="S",
        help="stopping-rule time budget per point, every probe (default: the plan's, else the probe's)",
    )
    g.add_argument(
        "--budget-s",
        type=float,
        metavar="S",
        help="total measuring time of the campaign: no probe starts after it, the one in flight stops",
    )
    g.add_argument(
        "--deadline-s",
        type=float,
        metavar="S",
        help="the whole command ends within S seconds: it stops early enough to save what finished "
        "(and, with --quick, to publish and report it); the next run resumes",
    )
    g.add_argument(
        "--no-selftest",
        action="store_true",
        help="with --quick: skip the self-test (e.g. resuming after a deadline, once it has passed)",
    )
    g.add_argument(
        "--smoke",
        action="store_true",
        help="every probe of the plan at its smoke size (a rehearsal of the plan, e.g. under the simulator)",
    )
    g.add_argument(
        "--reports",
        type=Path,
        help="with --quick: folder to publish into and build the report in (default reports/; under the "
        "simulator <out>/report)",
    )


FLAGS = ("plan", "quick", "param", "point_budget_s", "budget_s", "deadline_s", "smoke", "reports", "no_selftest")


def wanted(args) -> bool:
    """Does this campaign use a plan, per-probe parameters, budgets or a deadline? (A Namespace built in code,
    such as `make`'s, may lack these flags: then no.)"""
    return any(getattr(args, f, None) for f in FLAGS)


def _positive(value, flag: str) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{flag} {value:g}: expected seconds > 0")


def steps_of(args):
    """The resolved plan of these arguments: [campaign.Step], and the Plan."""
    from probes import catalogue
    from probes.engine import campaign as C

    for flag, value in (
        ("--point-budget-s", args.point_budget_s),
        ("--budget-s", args.budget_s),
        ("--deadline-s", args.deadline_s),
    ):
        _positive(value, flag)
    if args.plan and args.quick:
        raise ValueError("--plan and --quick: give one (--quick is --plan quick plus self-test and report)")
    if (args.plan or args.quick) and args.probes:
        raise ValueError("--probes selects from the catalogue; with a plan, edit the plan or use --param")
    if args.plan or args.quick:
        plan = C.load_plan(args.plan or "quick")
    else:
        plan = C.plan_from_probes([p.name for p in catalogue.select(args.probes)])
    smoke = {e.probe: list(catalogue.get(e.probe).smoke) for e in plan.entries} if args.smoke else None
    steps = C.resolve_plan(plan, C.split_param_overrides(args.param), args.point_budget_s, smoke)
    return plan, steps


# ---- dry run -------------------------------------------------------------------------------------------------------


def upper_bound(steps, arch: str, with_selftest: bool) -> dict:
    """The dry run's accounting on the nominal device of `arch`: plan rows, campaign, self-test, report, total."""
    from dataclasses import replace

    from probes import dryrun, selftest

    env = dryrun.nominal_environment(arch)
    by_name = {s.probe.name: s for s in steps}
    rows, failures = dryrun.plan_rows([s.probe for s in steps], env, lambda p: by_name[p.name].params)
    rows = [replace(r, budget_seconds=by_name[r.probe].point_budget_s) for r in rows]
    campaign = sum(r.points * r.budget_seconds + dryrun.WORKER_START_SECONDS for r in rows if not r.skipped)
    # the self-test, and the two environment captures of --quick (results folder, self-test), one worker each
    self_s = (
        selftest.upper_bound_seconds(env, dryrun.WORKER_START_SECONDS) + 2 * dryrun.WORKER_START_SECONDS
        if with_selftest
        else 0.0
    )
    report = REPORT_ALLOWANCE_SECONDS if with_selftest else 0.0
    return {
        "rows": rows,
        "failures": failures,
        "campaign_s": campaign,
        "selftest_s": self_s,
        "report_s": report,
        "total_s": campaign + self_s + report,
        "points": sum(r.points for r in rows),
    }


def dry_run(plan, steps, archs, quick: bool, compile_kernels: bool = True, echo=print) -> int:
    """Compile and SASS-check the plan's kernels, print the plan and its upper bound per architecture.
    Exit status 1 on a failure, or when the bound exceeds the plan's total_budget_s."""
    from probes import dryrun

    for arch in archs:
        dryrun.nominal_environment(arch)  # an unknown arch: one clear error before any work
    echo(
        f"plan {plan.name}"
        + (f" ({plan.source})" if plan.source else "")
        + (f": {plan.description}" if plan.description else "")
    )
    for s in steps:
        changed = " ".join(f"{k}={_text(v)}" for k, v in s.params.items() if v != _default(s.probe, k))
        echo(f"  {s.probe.name}: {changed or '(defaults)'}  [<= {s.point_budget_s:g} s per point]")
    bad = 0
    for arch in archs:
        failures = []
        if compile_kernels:
            for s in steps:
                failures += dryrun.check_kernels(s.probe, arch)[1]
        ub = upper_bound(steps, arch, quick)
        failures += ub["failures"]
        for line in failures + dryrun.format_plan(ub["rows"], arch):
            echo(line)
        parts = [f"campaign {ub['campaign_s']:.0f} s ({ub['points']} points)"]
        if quick:
            parts += [f"self-test {ub['selftest_s']:.0f} s", f"publish+report allowance {ub['report_s']:.0f} s"]
        over = plan.total_budget_s is not None and ub["total_s"] > plan.total_budget_s
        limit = (
            f"; plan limit {plan.total_budget_s:.0f} s" + (" EXCEEDED" if over else "") if plan.total_budget_s else ""
        )
        echo(f"upper bound {arch}: {ub['total_s']:.0f} s = {ub['total_s'] / 60:.1f} min ({', '.join(parts)}{limit})")
        bad += len(failures) + over
    return 1 if bad else 0


def _default(probe, key):
    return next(p.default for p in probe.params if p.name == key)


def _text(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, tuple) else str(v)


# ---- running -------------------------------------------------------------------------------------------------------


def _deadline(args, start: float, reserve: float) -> float | None:
    ends = []
    if args.budget_s:
        ends.append(time.monotonic() + args.budget_s)
    if args.deadline_s:
        ends.append(start + args.deadline_s - reserve)
    return min(ends) if ends else None


def run(args, root: Path, backend_of, out_dir_of, echo=print) -> int:
    """Run a plan (and, with --quick, the self-test before it and publish + report after it)."""
    start = time.monotonic()
    plan, steps = steps_of(args)
    if args.dry_run:
        return dry_run(plan, steps, args.arch or list(ARCHS), args.quick)
    if (args.reports or args.no_selftest) and not args.quick:
        raise ValueError("--reports and --no-selftest apply to --quick (a campaign alone publishes nothing)")
    backend = backend_of(args.backend)  # no GPU: CliError, one line, exit 2
    out = out_dir_of(args, backend)
    if args.quick and backend != "gpu":
        _rehearsal_reports(args, out, root)  # refuse a repository folder before measuring anything
    summary = {"selftest": "not run"}
    if args.quick and not args.no_selftest:
        summary["selftest"] = _selftest(args, out, backend, root, echo)
        if summary["selftest"] == "NO_GPU":  # the self-test has said why, in one line
            return 2
    from probes.engine import campaign as C

    reserve = REPORT_ALLOWANCE_SECONDS if args.quick else DEADLINE_RESERVE_SECONDS
    opts = C.RunOptions(
        out,
        backend,
        args.timeout,
        resume=not args.no_resume,
        progress=not args.quiet,
        rule=args.rule,
        deadline=_deadline(args, start, reserve),
    )
    outcomes = C.run_plan(steps, opts)
    counts = C.tally(outcomes)
    report = _publish_and_report(args, out, backend, root, echo) if args.quick else None
    line = (
        f"{plan.name}: {counts['ok']} ok, {counts['failed']} failed, {counts['skipped']} skipped"
        + "".join(f", {counts[k]} {k}" for k in ("incomplete", "deferred") if counts[k])
        + (f"; self-test {summary['selftest']}" if args.quick else "")
        + (f"; report {report}" if report else "")
        + f"; {time.monotonic() - start:.0f} s; results in {out}"
    )
    echo(line)
    if counts["incomplete"] or counts["deferred"]:
        echo("the deadline stopped the campaign: run the same command again to resume after the last finished point")
    return 1 if counts["failed"] or summary["selftest"] == "FAILED" else 0


def _selftest(args, out: Path, backend: str, root: Path, echo) -> str:
    from probes import selftest

    atlas = root / "reports" / "static" / "instructions-sass.csv"
    if backend == "gpu":
        code = selftest.main(out, 60, atlas, echo=echo)
        return {0: "PASSED", selftest.EXIT_NO_GPU: "NO_GPU"}.get(code, "FAILED")
    checks = selftest.rehearse(atlas, timeout=120)
    launched = [c for c in checks if c.name.endswith("launches with its smoke params")]
    ok = sum(c.status == selftest.PASS for c in launched)
    echo(f"self-test rehearsal under the simulator: {ok}/{len(launched)} probes launch (timings decide nothing)")
    return f"rehearsed ({ok}/{len(launched)} launch)"


def _publish_and_report(args, out: Path, backend: str, root: Path, echo) -> str:
    """Publish the finished results and build their GPU's report; under the simulator, into a scratch folder."""
    from probes.optional import explain
    from probes.results import io

    if backend == "gpu":
        from probes.results.publish import publish

        reports = args.reports or root / "reports"
        published = [r for r in publish(out, reports) if r.dest]
        slugs = sorted({r.dest.parent.parent.name for r in published})
    else:  # a rehearsal: the ok results are copied beside the results, never into reports/
        reports = _rehearsal_reports(args, out, root)
        slugs = []
        for path in sorted(Path(out).glob("*.json")):
            doc = io.load(path)
            if doc["outcome"] == "ok" and not doc["probe"]["name"].startswith("selftest"):
                slug = doc["environment"].get("gpu_slug") or "simulator"
                io.write_atomic(reports / slug / "data" / path.name, path.read_bytes())
                slugs = sorted(set(slugs) | {slug})
    if not slugs:
        return "not built (no finished result)"
    try:
        from probes.report import build

        written = [p for slug in slugs for p in build.build_reports(reports, slug, allow_simulated=backend != "gpu")]
    except ImportError as err:
        why = explain(err)
        if why is None:
            raise
        echo(f"report not built: {why}")
        return f"not built ({why.split('; ')[0]})"
    for path in written:
        echo(f"report written: {path}")
    return f"in {reports / slugs[0]}" if len(slugs) == 1 else f"in {reports}"


def _rehearsal_reports(args, out: Path, root: Path) -> Path:
    """Where a simulated --quick builds its report: --reports or <out>/report, never the repository's reports/."""
    reports = Path(args.reports or Path(out) / "report")
    repo = (root / "reports").resolve()
    if reports.resolve() == repo or repo in reports.resolve().parents:
        raise ValueError(
            f"--reports {reports}: simulated results are test output and never go into the "
            f"repository's reports/; give a scratch folder"
        )
    return reports
