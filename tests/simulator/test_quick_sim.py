"""`campaign --quick` end to end under the simulator, on a bare image: the optional dependencies blocked from import
and ptxas/cuobjdump hidden from PATH and the wheels, in the CLI process and in every worker it starts.

The quick plan runs at its probes' smoke sizes (`--smoke`): the orchestration is what is tested (self-test
rehearsal, whose smoke batch launches every probe; plan; resume; report), not simulated timings.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from probes import catalogue
from probes.engine import campaign as C
from probes.results import io

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
    reason="simulator tests run in their own process with NUMBA_ENABLE_CUDASIM=1",
)
ROOT = Path(__file__).resolve().parents[2]
BLOCKED = "ruptures,diptest,submitit,seaborn,jinja2"


def bare_env() -> dict:
    """The environment of a bare GPU image: extras blocked, no ptxas/cuobjdump/nvdisasm anywhere."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "tests" / "import_blocker"), str(ROOT)])
    env["GPU_PROBES_BLOCK_IMPORTS"] = BLOCKED
    for tool in ("ptxas", "cuobjdump", "nvdisasm"):
        env[f"GPU_PROBES_{tool.upper()}"] = "/nonexistent/" + tool  # hides the pip wheels' copies
    env["PATH"] = os.pathsep.join(
        d
        for d in env.get("PATH", "").split(os.pathsep)
        if not any((Path(d) / t).exists() for t in ("ptxas", "cuobjdump", "nvdisasm"))
    )
    env.pop("NUMBA_ENABLE_CUDASIM", None)  # --backend simulator sets it in the workers, as on a user's machine
    return env


@pytest.fixture(scope="module")
def bare_quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick") / "results"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "probes",
            "campaign",
            "--quick",
            "--smoke",
            "--backend",
            "simulator",
            "--out",
            str(out),
            "--quiet",
        ],
        cwd=ROOT,
        env=bare_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    return out, r


def test_quick_runs_on_a_bare_image_and_every_probe_launches(bare_quick):
    out, r = bare_quick
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr + r.stdout
    plan = C.load_plan("quick")
    summary = [ln for ln in r.stdout.splitlines() if ln.startswith("quick: ")]
    assert summary and summary[-1].startswith(f"quick: {len(plan.entries)} ok, 0 failed, 0 skipped"), r.stdout
    docs = {d["probe"]["name"]: d for d in io.load_dir(out)}
    # the self-test's smoke batch launched every catalogue probe the simulator's device meets (tcgen05 needs cc
    # 10.x: skipped with its reason) with the tools hidden and the extras blocked
    env = next(iter(docs.values()))["environment"]
    n = len(catalogue.all_probes())
    unmet = [name for name in catalogue.all_probes() if (p := catalogue.get(name)).unmet(env, p.parse_params(p.smoke))]
    assert f"self-test rehearsal under the simulator: {n - len(unmet)}/{n} probes launch" in r.stdout, r.stdout
    assert set(docs) == {e.probe for e in plan.entries}
    assert all(d["outcome"] == "ok" and d["backend"] == "simulator" and d["points"] for d in docs.values())
    assert all(d["environment"]["versions"]["ptxas"] == "not found" for d in docs.values()), "tools were not hidden"
    # without jinja2/seaborn the report is not built: one line names the extra that installs them
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("report not built: "))
    assert "pip install 'gpu-probes[report]'" in line
    assert not (out / "report" / "simulator" / "README.md").exists()


def test_quick_resumes_its_results_and_builds_the_report_in_a_temporary_folder(bare_quick, tmp_path):
    from probes.cli import main

    out, r = bare_quick
    assert r.returncode == 0
    before = {p.name: p.read_bytes() for p in out.glob("*.json")}
    rc = main(
        [
            "campaign",
            "--quick",
            "--smoke",
            "--backend",
            "simulator",
            "--out",
            str(out),
            "--no-selftest",
            "--reports",
            str(tmp_path / "rep"),
            "--quiet",
        ]
    )
    assert rc == 0
    assert {p.name: p.read_bytes() for p in out.glob("*.json")} == before, "complete results are not measured again"
    readme = (tmp_path / "rep" / "simulator" / "README.md").read_text()
    assert "Never published" in readme and (tmp_path / "rep" / "simulator" / "index.html").is_file()
    assert sorted(p.name for p in (tmp_path / "rep" / "simulator" / "data").glob("*.json")) == sorted(before)


def test_quick_refuses_to_put_simulated_results_into_the_repository_reports(bare_quick):
    from probes.cli import main

    out, _ = bare_quick
    assert (
        main(
            [
                "campaign",
                "--quick",
                "--smoke",
                "--backend",
                "simulator",
                "--out",
                str(out),
                "--no-selftest",
                "--reports",
                str(ROOT / "reports"),
                "--quiet",
            ]
        )
        == 2
    )
    assert not (ROOT / "reports" / "simulator").exists()
