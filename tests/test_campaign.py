"""Worker isolation: a probe that crashes, hangs, raises or dies mid-write costs itself, never the campaign."""

import json

import pytest

from probes import catalogue
from probes.engine.campaign import RunOptions, result_path, run_campaign, run_one
from probes.results import io


@pytest.fixture
def run(tmp_path, fault_catalogue):
    def _run(name, timeout=60):
        probe = catalogue.get(name)
        opts = RunOptions(tmp_path, "simulator", timeout, progress=False, rule="fixed-count")
        return run_one(probe, {}, opts.but(rule_params={"count": 3, "min_samples": 3}))

    return _run


def test_ok_probe_writes_a_complete_result(run):
    o = run("fault.ok")
    doc = io.load(o.path)
    assert o.outcome == "ok" and doc["outcome"] == "ok" and doc["backend"] == "simulator"
    assert [p["axes"]["step"] for p in doc["points"]] == [0, 1, 2]
    assert all(len(p["samples"]) >= 3 for p in doc["points"])


def test_crashing_worker_is_reported_and_partial_samples_kept(run):
    o = run("fault.crash")
    assert o.outcome == "crashed"
    doc = io.load(o.path)
    assert doc["outcome"] == "crashed"
    assert len(doc["points"]) == 1 and doc["error"]["complete_points"] == 1
    assert doc["error"]["exit_code"] != 0


def test_hanging_worker_is_killed_by_the_watchdog(run):
    o = run("fault.hang", timeout=8)
    assert o.outcome == "timeout"
    doc = io.load(o.path)
    assert doc["outcome"] == "timeout" and len(doc["points"]) == 1


def test_raising_probe_is_an_error_with_its_message(run):
    o = run("fault.raise")
    doc = io.load(o.path)
    assert o.outcome == "error" and "illegal address" in doc["error"]["message"]


def test_worker_dying_mid_write_leaves_a_whole_file(run, tmp_path):
    o = run("fault.exit-mid-write")
    assert o.outcome == "crashed"
    doc = io.load(o.path)  # loads: the half-written temp file never replaced the checkpoint
    assert len(doc["points"]) == 1


def test_campaign_continues_after_failures_and_resumes(tmp_path, fault_catalogue):
    probes = [catalogue.get(n) for n in ("fault.crash", "fault.ok")]
    opts = RunOptions(
        tmp_path, "simulator", 60, progress=False, rule="fixed-count", rule_params={"count": 3, "min_samples": 3}
    )
    first = run_campaign(probes, lambda p: {}, opts)
    assert [o.outcome for o in first] == ["crashed", "ok"]
    again = run_campaign(probes, lambda p: {}, opts)
    assert [o.outcome for o in again] == ["crashed", "cached"]  # complete results are never measured again


def test_truncated_result_is_quarantined_not_loaded(tmp_path, fault_catalogue, capsys):
    probe = catalogue.get("fault.ok")
    path = result_path(tmp_path, probe, {})
    path.write_text('{"schema_version": 1, "probe": {"na')
    opts = RunOptions(tmp_path, "simulator", 60, progress=False, rule="fixed-count")
    o = run_one(probe, {}, opts.but(rule_params={"count": 3, "min_samples": 3}))
    assert o.outcome == "ok"
    assert path.with_suffix(".json.corrupt").exists()
    assert "truncated" in capsys.readouterr().err
    assert json.loads(path.read_text())["outcome"] == "ok"
