"""Publishing moves finished GPU measurements from results/ into reports/<gpu>/data/, and nothing else."""

import pytest

from probes.cli import main
from probes.results import io
from probes.results.publish import PublishRefused, publish


def _doc(name, outcome="ok", backend="gpu"):
    return {
        "schema_version": 1,
        "probe": {
            "name": name,
            "version": "x",
            "params": {},
            "unit": "cycles",
            "method": "m",
            "value_key": "cycles_per_op",
        },
        "backend": backend,
        "outcome": outcome,
        "environment": {"gpu_name": "NVIDIA H100 80GB HBM3", "gpu_slug": "nvidia-h100-80gb-hbm3"},
        "started_at": "2026-11-25T00:00:00+00:00",
        "finished_at": "2026-11-25T00:01:00+00:00",
        "points": [
            {
                "axes": {"x": 1},
                "samples": [{"cycles_per_op": 4.0, "throttled": False}],
                "summary": {"median": 4.0, "ci_low": 4.0, "ci_high": 4.0, "n": 1},
            }
        ],
    }


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "results" / "nvidia-h100-80gb-hbm3"
    io.save(_doc("latency.shared"), folder / "latency.shared.json")
    io.save(_doc("latency.tlb", outcome="timeout"), folder / "latency.tlb.json")
    io.save(_doc("selftest.table"), folder / "selftest.json")
    return folder


def test_only_finished_gpu_results_are_published_and_a_second_run_changes_nothing(results, tmp_path):
    reports = tmp_path / "reports"
    first = {r.source.name: r.why for r in publish(results, reports)}
    assert first["latency.shared.json"] == "published"
    assert first["latency.tlb.json"].startswith("outcome timeout") and first["selftest.json"].startswith("self-test")
    data = reports / "nvidia-h100-80gb-hbm3" / "data"
    assert sorted(p.name for p in data.iterdir()) == ["latency.shared.json"]
    assert io.load(data / "latency.shared.json") == io.load(results / "latency.shared.json")
    mtime = (data / "latency.shared.json").stat().st_mtime_ns
    assert {r.why for r in publish(results, reports) if r.dest} == {"unchanged"}
    assert (data / "latency.shared.json").stat().st_mtime_ns == mtime


def test_a_simulated_result_is_refused_and_nothing_is_written(results, tmp_path):
    io.save(_doc("latency.local", backend="simulator"), results / "a-latency.local.json")
    with pytest.raises(PublishRefused, match="cannot be published"):
        publish(results, tmp_path / "reports")
    assert not (tmp_path / "reports").exists()


def test_cli_publish_then_report(results, tmp_path, capsys):
    reports = tmp_path / "reports"
    assert main(["publish", "--results", str(results.parent), "--reports", str(reports)]) == 0
    assert "1 result file(s) published" in capsys.readouterr().out
    assert main(["report", "--reports", str(reports)]) == 0
    assert (reports / "nvidia-h100-80gb-hbm3" / "README.md").is_file()
    assert main(["publish", "--results", str(tmp_path / "nowhere"), "--reports", str(reports)]) == 2
    assert "run `make campaign`" in capsys.readouterr().err
