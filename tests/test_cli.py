"""CLI error paths: one line on stderr, non-zero exit, nothing stored touched."""
import subprocess
import sys

import pytest

from probes.cli import main


@pytest.mark.parametrize("argv, message", [
    (["run", "no.such.probe"], "unknown probe"),
    (["run", "latency.ladder.glob"], "did you mean latency.ladder.global"),
    (["run", "latency.ladder.global", "--param", "stride_bytes=0", "--backend", "simulator"], "must be > 0"),
    (["run", "latency.ladder.global", "--param", "stride_bytes=12", "--backend", "simulator"], "multiple of 8"),
    (["run", "latency.ladder.global", "--param", "stride_bytes=abc", "--backend", "simulator"], "expected int"),
    (["run", "latency.ladder.global", "--param", "colour=red", "--backend", "simulator"], "no parameter 'colour'"),
    (["static", "--arch", "sm_9z"], "unknown architecture"),
    (["static", "--arch", "sm_70"], "not accepted by the installed ptxas"),
    (["report", "no-such-gpu"], "no published data"),
])
def test_bad_input_is_one_error_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_run_without_a_gpu_says_so(capsys):
    from probes.engine.environment import driver_status
    if driver_status() is None:
        pytest.skip("a GPU is present")
    assert main(["run", "latency.ladder.global"]) == 2
    assert "no CUDA driver" in capsys.readouterr().err


def test_list_names_every_probe(capsys):
    assert main(["list"]) == 0
    assert "latency.ladder.global" in capsys.readouterr().out


def test_module_entry_point_runs():
    r = subprocess.run([sys.executable, "-m", "probes", "list"], capture_output=True, text=True)
    assert r.returncode == 0 and "latency.ladder.global" in r.stdout


def test_comparison_shows_published_values_with_their_source_apart_from_ours(tmp_path):
    from probes.analysis.published import PUBLISHED
    from probes.report.build import build_comparison
    text = build_comparison(tmp_path).read_text()
    assert "None yet" in text  # no GPU of ours: nothing presented as measured
    assert "Published by other projects" in text and "Not measured by gpu-probes" in text
    assert all(p.source in text for p in PUBLISHED)
