"""Campaign controls: plan files, --param PROBE:k=v, per-point and total budgets, the deadline, the quick plan's
upper bound, the self-test's batch worker, optional dependencies, the driver check and the carry kit (no GPU)."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from probes import catalogue, quick
from probes.cli import main
from probes.engine import campaign as C
from probes.engine import environment
from probes.results import io

ROOT = Path(__file__).resolve().parents[1]


def _plan(tmp_path, text: str) -> Path:
    path = tmp_path / "plan.toml"
    path.write_text(text)
    return path


# ---- the quick plan -------------------------------------------------------------------------------------------------
def test_quick_plan_resolves_and_touches_every_family():
    plan = C.load_plan("quick")
    steps = C.resolve_plan(plan)
    assert plan.name == "quick" and plan.total_budget_s == 480 and len(plan.entries) >= 10
    assert [s.probe.name for s in steps][: len(plan.entries)] == [e.probe for e in plan.entries]
    # every family, listed or not: a family the plan does not name runs its probes at their smoke size
    assert plan.unlisted_families == "smoke"
    assert {s.probe.name.split(".")[0] for s in steps} == {p.split(".")[0] for p in catalogue.all_probes()}
    for s in steps[len(plan.entries) :]:
        assert s.params == s.probe.parse_params(s.probe.smoke)
    by = {s.probe.name: s for s in steps}
    assert by["latency.ladder.global"].params["points_per_octave"] == 2
    assert by["latency.ladder.global"].params["dense_points"] == 0
    assert by["instructions.throughput"].params["warps_per_sm"] == (4, 16, 32, 48)
    assert "nc.L1::no_allocate.L2::256B" in by["cache-hints.residency"].params["hints"]  # DeepEP's
    assert all(s.point_budget_s == plan.point_budget_s for s in steps)


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_quick_upper_bound_on_the_nominal_card_fits_eight_minutes(arch):
    steps = C.resolve_plan(C.load_plan("quick"))
    ub = quick.upper_bound(steps, arch, with_selftest=True)
    assert not ub["failures"] and ub["selftest_s"] > 0 and ub["report_s"] > 0
    assert ub["total_s"] == pytest.approx(ub["campaign_s"] + ub["selftest_s"] + ub["report_s"])
    assert ub["total_s"] <= 8 * 60, ub
    assert 100 <= ub["points"] <= 160


def test_dry_run_prints_the_plan_and_its_bound_and_fails_a_plan_over_its_limit(tmp_path):
    lines = []
    plan = C.load_plan("quick")
    assert quick.dry_run(plan, C.resolve_plan(plan), ["sm_90"], True, compile_kernels=False, echo=lines.append) == 0
    text = "\n".join(lines)
    assert "latency.tlb: points_per_octave=1" in text and "upper bound sm_90:" in text and "EXCEEDED" not in text
    tight = C.load_plan(_plan(tmp_path, 'name = "tight"\ntotal_budget_s = 10\n[[probe]]\nname = "latency.shared"\n'))
    lines.clear()
    assert quick.dry_run(tight, C.resolve_plan(tight), ["sm_90"], False, compile_kernels=False, echo=lines.append) == 1
    assert "EXCEEDED" in lines[-1]


# ---- plan files and --param -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, says",
    [
        ("name = [", "not valid TOML"),
        ('name = "x"\n', "no [[probe]] table"),
        ('colour = 1\n[[probe]]\nname = "latency.shared"\n', "unknown key 'colour'"),
        ('[[probe]]\nname = "latency.shared"\nspeed = 2\n', "unknown key 'speed'"),
        ('[[probe]]\nname = "latency.shared"\n[[probe]]\nname = "latency.shared"\n', "listed twice"),
        ('point_budget_s = -1\n[[probe]]\nname = "latency.shared"\n', "seconds > 0"),
        ('[[probe]]\nname = "latency.shared"\nparams = { points_per_octave = { a = 1 } }\n', "not a parameter value"),
    ],
)
def test_bad_plan_files_are_one_line_errors(tmp_path, text, says):
    with pytest.raises(C.PlanError) as err:
        C.load_plan(_plan(tmp_path, text))
    assert says in str(err.value) and "\n" not in str(err.value)


def test_param_overrides_win_over_the_plan_and_are_checked():
    plan = C.load_plan("quick")
    steps = C.resolve_plan(
        plan,
        C.split_param_overrides(["latency.tlb:points_per_octave=3", "latency.shared:max_steps=128"]),
        point_budget_s=0.5,
    )
    by = {s.probe.name: s for s in steps}
    assert by["latency.tlb"].params["points_per_octave"] == 3 and by["latency.shared"].params["max_steps"] == 128
    assert all(s.point_budget_s == 0.5 for s in steps)
    with pytest.raises(C.PlanError, match="not in plan quick"):
        C.resolve_plan(plan, C.split_param_overrides(["latency.local:max_steps=4"]))
    with pytest.raises(C.PlanError, match="PROBE:key=value"):
        C.split_param_overrides(["points_per_octave=3"])


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--quick", "--param", "latency.tlb:points_per_octave=x"], "expected int"),
        (["--quick", "--param", "latency.tlb:nope=1"], "has no parameter 'nope'"),
        (["--quick", "--plan", "quick"], "give one"),
        (["--plan", "no-such-plan"], "no such file"),
        (["--quick", "--deadline-s", "0"], "expected seconds > 0"),
        (["--probes", "latency.shared", "--reports", "x"], "apply to --quick"),
    ],
)
def test_cli_plan_errors_are_one_line_exit_2(capsys, argv, says):
    assert main(["campaign", *argv, "--backend", "simulator", "--out", "/nonexistent/never-written"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and says in err[0]
    assert not Path("/nonexistent/never-written").exists()


def test_plan_params_and_point_budget_reach_the_worker(tmp_path, fault_catalogue):
    plan = C.load_plan(
        _plan(tmp_path, 'name = "t"\npoint_budget_s = 3\n[[probe]]\nname = "okfam.scaled"\nparams = { scale = 2 }\n')
    )
    (o,) = C.run_plan(
        C.resolve_plan(plan, point_budget_s=None), C.RunOptions(tmp_path / "r", "simulator", 60, progress=False)
    )
    doc = io.load(o.path)
    assert o.outcome == "ok" and doc["probe"]["params"]["scale"] == 2 and doc["stopping"]["max_seconds"] == 3
    assert [p["summary"]["median"] for p in doc["points"]] == [2.0, 4.0, 6.0]


# ---- the deadline -----------------------------------------------------------------------------------------------
def test_deadline_stops_the_campaign_on_time_and_the_next_run_resumes(tmp_path, fault_catalogue, monkeypatch):
    hold = tmp_path / "hold"
    hold.touch()
    monkeypatch.setenv("FAULT_HOLD_FILE", str(hold))
    # shorter margins than the defaults (15 s reserve, 10 s to start a probe), so the test waits 9 s, not 20 s
    monkeypatch.setattr(quick, "DEADLINE_RESERVE_SECONDS", 5.0)
    monkeypatch.setattr(C, "MIN_START_SECONDS", 6.0)
    plan = _plan(tmp_path, 'name = "t"\n[[probe]]\nname = "fault.hold"\n[[probe]]\nname = "fault.ok"\n')
    out = tmp_path / "r"
    argv = ["campaign", "--plan", str(plan), "--backend", "simulator", "--out", str(out), "--quiet"]
    t0 = time.monotonic()
    assert main([*argv, "--deadline-s", "14"]) == 0  # campaign deadline: 14 s - 5 s reserve
    wall = time.monotonic() - t0
    assert wall < 14, f"ran {wall:.0f} s past a 14 s deadline"
    doc = io.load(out / "fault.hold.json")
    assert doc["outcome"] == "incomplete" and doc["error"]["reason"] == C.DEADLINE_REASON
    assert len(doc["points"]) == 1, "the point finished before the deadline is saved"
    assert not (out / "fault.ok.json").exists(), "a probe not started leaves nothing behind"
    hold.unlink()
    assert main(argv) == 0
    doc = io.load(out / "fault.hold.json")
    assert doc["outcome"] == "ok" and [bool(p.get("resumed")) for p in doc["points"]] == [True, False, False]
    assert io.load(out / "fault.ok.json")["outcome"] == "ok"


def test_a_probe_is_deferred_when_too_little_time_is_left(tmp_path, fault_catalogue):
    probe = catalogue.get("fault.ok")
    opts = C.RunOptions(tmp_path, "simulator", 60, progress=False, deadline=time.monotonic() + C.MIN_START_SECONDS / 2)
    (o,) = C.run_campaign([probe], lambda p: {}, opts)
    assert o.outcome == "deferred" and o.path is None and not list(tmp_path.glob("*.json"))
    assert C.tally([o]) == {"ok": 0, "failed": 0, "skipped": 0, "incomplete": 0, "deferred": 1}


# ---- the self-test's batch worker --------------------------------------------------------------------------------
def test_batch_runs_jobs_in_one_worker_and_reruns_what_a_crash_left(tmp_path, fault_catalogue):
    names = ["fault.ok", "fault.raise", "fault.crash", "okfam.plain"]
    jobs = [(catalogue.get(n), {}) for n in names]
    outcomes = C.run_batch(
        jobs, C.RunOptions(tmp_path, "simulator", 60, rule="fixed-count", rule_params={"count": 1, "min_samples": 1})
    )
    assert [o.outcome for o in outcomes] == ["ok", "error", "crashed", "ok"]
    assert "illegal address" in outcomes[1].detail
    assert not list(tmp_path.glob(".batch*")), "the batch's spec, status and log are removed"


# ---- optional dependencies ---------------------------------------------------------------------------------------
def _bare(code: str, blocked="ruptures,diptest,submitit,seaborn,jinja2,matplotlib") -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "import_blocker"), str(ROOT)]),
        "GPU_PROBES_BLOCK_IMPORTS": blocked,
    }
    return subprocess.run([sys.executable, *code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_probes_and_the_campaign_import_without_the_extras():
    r = _bare(
        [
            "-c",
            "import probes, probes.cli, probes.quick, probes.selftest, probes.engine.campaign, "
            "probes.engine.worker, probes.analysis.levels, probes.fleet.cmd; import sys; "
            "bad = [m for m in ('ruptures', 'diptest', 'submitit', 'seaborn', 'jinja2', 'matplotlib') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)",
        ]
    )
    assert r.returncode == 0, r.stderr[-2000:]


def test_a_missing_extra_is_one_line_naming_it(tmp_path):
    r = _bare(["-m", "probes", "report", "--reports", str(tmp_path)])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: ") and "pip install 'gpu-probes[report]'" in line


def test_lazy_module_raises_missing_extra_on_first_use(monkeypatch):
    from probes import optional

    monkeypatch.setitem(optional.EXTRAS, "no_such_pkg_xyz", ("fleet", "testing"))
    mod = optional.lazy("no_such_pkg_xyz")
    with pytest.raises(optional.MissingExtra, match=r"pip install 'gpu-probes\[fleet\]'"):
        mod.anything  # noqa: B018  (the attribute access is what raises)
    assert optional.explain(ModuleNotFoundError("x", name="jinja2")).endswith("'gpu-probes[report]'")
    assert optional.explain(ModuleNotFoundError("x", name="probes_typo")) is None
    assert optional.available("json")


def test_file_lock_works_without_the_singleton_flag(monkeypatch, tmp_path):
    import types

    import filelock

    calls = []

    def old_file_lock(path, **kw):  # filelock < 3.13: no is_singleton keyword
        calls.append(kw)
        if "is_singleton" in kw:
            raise TypeError("__init__() got an unexpected keyword argument 'is_singleton'")
        return filelock.FileLock(path)

    monkeypatch.setattr(C, "filelock", types.SimpleNamespace(FileLock=old_file_lock, Timeout=filelock.Timeout))
    with C.campaign_lock(tmp_path, "simulator"):
        assert (tmp_path / C.LOCK_NAME).exists()
    assert calls == [{"is_singleton": False}, {}]


# ---- the driver check --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "driver, toolkit, linker, refused",
    [
        ((13, 0), (13, 5), (13, 5), False),  # minor-version compatibility: the cubin runs
        ((13, 5), (13, 5), (13, 5), False),
        ((14, 1), (13, 5), (13, 5), False),
        ((12, 8), (13, 5), (13, 5), True),  # an older major release cannot run a CUDA 13 cubin
        ((13, 0), (13, 5), None, True),  # no nvJitLink: the driver JIT-compiles PTX newer than it knows
        (None, (13, 5), (13, 5), False),
    ],
)
def test_driver_check_accepts_what_nvjitlink_links(driver, toolkit, linker, refused):
    why = environment.driver_too_old(driver, toolkit, linker)
    assert bool(why) == refused
    if why:
        assert "\n" not in why and "update the NVIDIA driver" in why


def test_nvjitlink_version_is_read_or_none():
    v = environment.nvjitlink_version()
    assert v is None or (len(v) == 2 and v >= (12, 3))


# ---- no GPU; the carry kit ---------------------------------------------------------------------------------------
def test_quick_without_a_gpu_exits_2_with_one_line(capsys):
    if environment.driver_status() is None:
        pytest.skip("a GPU is present")
    assert main(["campaign", "--quick"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: ") and "--backend simulator" in line


def _wheels(*args, stdin=None):
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gpu-wheels"), *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=120,
    )


def test_gpu_wheels_lists_what_the_image_lacks_or_holds_too_old():
    have = (
        "numpy==2.5.2\nscipy==1.16.0\npandas==2.3.0\nnumba==0.62.0\nnumba-cuda==0.20.0\ncuda_bindings==13.0.1\n"
        "cuda-core==0.6\nnvidia-ml-py==13.580\nFileLock==3.20\ntqdm\nmatplotlib==3.10\nseaborn==0.13.2\n"
    )
    r = _wheels("--have", "-", "--dry-run", stdin=have)
    assert r.returncode == 0, r.stderr
    missing = sorted(
        ln.split()[1].split(">")[0].split("[")[0] for ln in r.stdout.splitlines() if ln.startswith("missing ")
    )
    assert missing == ["diptest", "jinja2", "numba-cuda", "ruptures"]  # numba-cuda 0.20 is below 0.30
    r = _wheels("--have", "-", "--dry-run", "--extras", "report,gpu,fleet", stdin=have)
    assert {"submitit>=1.5", "nvidia-cuda-nvcc>=13.0"} <= {
        ln.split()[1] for ln in r.stdout.splitlines() if ln.startswith("missing ")
    }


def test_gpu_wheels_bad_input_is_one_line(tmp_path):
    r = _wheels("--have", str(tmp_path / "none.txt"), "--dry-run")
    assert r.returncode == 2 and r.stderr.strip().startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
    r = _wheels("--have", "-", "--python-version", "twelve", "--dry-run", stdin="")
    assert r.returncode == 2 and "expected e.g. 3.12" in r.stderr


def test_a_campaign_namespace_without_the_plan_flags_is_a_plain_campaign():
    import argparse

    assert not quick.wanted(argparse.Namespace(probes=None, backend="gpu", out=None, dry_run=False, arch=None))
    assert quick.wanted(argparse.Namespace(param=["latency.tlb:points_per_octave=1"]))


def test_kernel_provenance_without_ptxas_or_cuobjdump_does_not_stop_a_probe(tmp_path):
    """On a GPU the worker records each kernel's SASS; with no ptxas/cuobjdump that must degrade, not fail."""
    env = {
        **os.environ,
        "GPU_PROBES_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": str(ROOT),
        **{f"GPU_PROBES_{t.upper()}": "/nonexistent/" + t for t in ("ptxas", "cuobjdump", "nvdisasm")},
    }
    env["PATH"] = os.pathsep.join(
        d
        for d in env.get("PATH", "").split(os.pathsep)
        if not any((Path(d) / t).exists() for t in ("ptxas", "cuobjdump"))
    )
    script = "\n".join(
        [
            "from probes import catalogue",
            "from probes.engine.measure import kernel_records",
            "class K:  # a launched kernel as measure sees it: its signatures and the PTX Numba ran for each",
            "    def __init__(self, ptx): self.ptx, self.overloads = ptx, {'sig': None}",
            "    def inspect_asm(self, sig): return self.ptx",
            "class Ctx:",
            "    def launched(self): return {n: K(p) for n, p in catalogue.get('latency.shared').kernels((9, 0))}",
            "recs = kernel_records(Ctx(), (9, 0))",
            "assert recs and all('provenance_error' in r for r in recs), recs",
            "print(len(recs))",
        ]
    )
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr.strip().splitlines()[-1:]
    assert int(r.stdout.strip()) >= 1


def test_first_gpu_without_a_gpu_ends_with_its_one_line_summary(tmp_path):
    if environment.driver_status() is None:
        pytest.skip("a GPU is present")
    env = {**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [
            str(ROOT / "scripts" / "first-gpu"),
            str(tmp_path / "out"),
            "--deadline-s",
            "120",
            "--wheels",
            str(tmp_path / "no-wheels"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("first-gpu: 0 ok, 0 failed, 0 skipped") and "wall " in last
    log = (tmp_path / "out" / "log.txt").read_text()
    assert "error: no CUDA driver" in log or "error: " in log
    bad = subprocess.run(
        [str(ROOT / "scripts" / "first-gpu"), str(tmp_path / "o2"), "--deadline-s", "soon"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: --deadline-s soon")
