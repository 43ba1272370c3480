"""Every probe end to end under Numba's simulator: same worker, schema, analysis and report code as on a GPU.

Run in its own process with NUMBA_ENABLE_CUDASIM=1 (`make test` does this): the simulator is fixed at import.
"""

import os

import pytest

from probes import catalogue
from probes.cli import main
from probes.report.build import PublishError, build_reports
from probes.results import io

pytestmark = pytest.mark.skipif(
    os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
    reason="simulator tests run in their own process with NUMBA_ENABLE_CUDASIM=1",
)


def _smoke_args(name: str) -> list[str]:
    return sum((["--param", p] for p in catalogue.get(name).smoke), [])


@pytest.fixture(scope="module")
def smoke_results(catalogue_run):
    """Every probe once, at its smoke size, in the suite's one catalogue run (tests/simulator/conftest.py: the
    self-test's batch worker, running the worker code, schema and stopping-rule plumbing of a campaign, one sample
    per point), its results documents in <tmp>/sim/data: the layout the report builder reads.
    (root, {probe: (outcome, [its documents])})."""
    root, obs = catalogue_run
    docs = io.load_dir(root / "sim" / "data")
    return root, {
        name: (r["outcome"], [d for d in docs if d["probe"]["name"] == name]) for name, r in obs["smoke"].items()
    }


@pytest.fixture(scope="module")
def sim_env():
    from probes.engine.environment import capture

    return capture("simulator")


@pytest.mark.parametrize("name", list(catalogue.all_probes()))
def test_probe_runs_end_to_end(name, smoke_results, sim_env):
    probe = catalogue.get(name)
    outcome, docs = smoke_results[1][name]
    unmet = probe.unmet(sim_env, probe.parse_params(probe.smoke))
    if unmet:  # e.g. tcgen05 (cc 10.x) on the simulator's cc 9.0: skipped with its reason, never run
        assert outcome == "skipped", unmet
        return
    assert outcome == "ok"
    (doc,) = docs
    assert doc["outcome"] == "ok" and doc["backend"] == "simulator"
    assert doc["points"] and all(p["summary"]["n"] > 0 for p in doc["points"])


def test_every_family_renders_from_simulated_results_in_a_temporary_folder_only(smoke_results, tmp_path):
    """Probe -> raw samples -> analysis -> findings -> report, for every family, on the simulator's output."""
    import shutil
    from html.parser import HTMLParser

    from probes.report import sections

    shutil.copytree(smoke_results[0] / "sim" / "data", tmp_path / "sim" / "data")  # the shared run stays as it was
    written = build_reports(tmp_path, allow_simulated=True)
    readme = (tmp_path / "sim" / "README.md").read_text()
    assert tmp_path / "sim" / "index.html" in written and "Never published" in readme
    for family in sections.families():
        heading = f"## {family.TITLE}"
        assert heading in readme, f"section {family.FAMILY} missing"
        body = readme.split(heading, 1)[1].split("\n## ", 1)[0]
        assert "Not measured on this GPU" not in body, f"section {family.FAMILY} found no data"
    HTMLParser().feed((tmp_path / "sim" / "index.html").read_text())


def test_cli_run_accepts_a_probe_and_records_a_simulated_result(tmp_path):
    assert (
        main(
            [
                "run",
                "latency.shared",
                "--backend",
                "simulator",
                "--out",
                str(tmp_path),
                "--quiet",
                *_smoke_args("latency.shared"),
            ]
        )
        == 0
    )
    (path,) = tmp_path.glob("*.json")
    assert io.load(path)["backend"] == "simulator"


def test_ladder_chase_ends_where_the_host_walk_ends(tmp_path):
    """measure() raises if the kernel's final pointer differs from the host walk: an ok outcome proves the chase."""
    import numpy as np

    from probes.catalogue import latency_ladder as L
    from probes.engine import environment
    from probes.kernel.context import Context

    ctx = Context("simulator", environment.capture("simulator"))
    params = {"stride_bytes": 64, "max_steps": 16}
    out = L.measure(ctx, {"footprint_bytes": 2048}, params)
    assert out["steps"] == 16 and out["cycles_per_op"] > 0
    nxt = L.sattolo_cycle(8, np.random.default_rng(0))
    seen, p = set(), 0
    for _ in range(8):
        seen.add(p)
        p = nxt[p]
    assert seen == set(range(8)) and p == 0  # Sattolo: one cycle through every slot


def test_simulated_results_are_never_published(tmp_path):
    assert (
        main(
            [
                "run",
                "latency.ladder.global",
                "--backend",
                "simulator",
                "--out",
                str(tmp_path / "sim" / "data"),
                "--quiet",
                *_smoke_args("latency.ladder.global"),
            ]
        )
        == 0
    )
    with pytest.raises(PublishError, match="cannot be published"):
        build_reports(tmp_path)
