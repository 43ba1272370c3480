"""CLI error paths: one line on stderr, non-zero exit, nothing stored touched."""

import subprocess
import sys
from pathlib import Path

import pytest

from probes.cli import main


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "no.such.probe"], "unknown probe"),
        (["run", "latency.ladder.glob"], "did you mean latency.ladder.global"),
        (["run", "latency.ladder.global", "--param", "stride_bytes=0", "--backend", "simulator"], "must be > 0"),
        (["run", "latency.ladder.global", "--param", "stride_bytes=12", "--backend", "simulator"], "multiple of 8"),
        (["run", "latency.ladder.global", "--param", "stride_bytes=abc", "--backend", "simulator"], "expected int"),
        (["run", "latency.ladder.global", "--param", "colour=red", "--backend", "simulator"], "no parameter 'colour'"),
        (["static", "--arch", "sm_9z"], "unknown architecture"),
        (["static", "--arch", "sm_70"], "not accepted by the installed ptxas"),
        (["report", "no-such-gpu"], "no published data"),
    ],
)
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


def test_run_accepts_a_family_and_gives_each_probe_its_own_parameters(tmp_path, fault_catalogue):
    assert (
        main(
            [
                "run",
                "okfam",
                "--backend",
                "simulator",
                "--out",
                str(tmp_path),
                "--quiet",
                "--rule",
                "fixed-count",
                "--param",
                "scale=3",
            ]
        )
        == 0
    )
    from probes.results import io

    docs = {d["probe"]["name"]: d for d in map(io.load, tmp_path.glob("*.json"))}
    assert set(docs) == {"okfam.scaled", "okfam.plain"}
    assert docs["okfam.scaled"]["probe"]["params"] == {"scale": 3} and docs["okfam.plain"]["probe"]["params"] == {}
    assert docs["okfam.scaled"]["points"][0]["summary"]["median"] == 3.0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "okfam", "--param", "colour=red"], "no probe of this selection has a parameter 'colour'"),
        (["run", "okfam", "--param", "scale=0"], "must be > 0"),
        (["run", "okfam", "--param", "scale"], "expected name=value"),
        (["run", "nofam"], "unknown probe 'nofam'"),
    ],
)
def test_family_run_bad_parameters_are_one_error_line(argv, message, fault_catalogue, capsys):
    assert main([*argv, "--backend", "simulator"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_working_set_beyond_free_memory_is_one_error_line(tmp_path, capsys):
    argv = [
        "run",
        "latency.ladder.global",
        "--backend",
        "simulator",
        "--out",
        str(tmp_path),
        "--quiet",
        "--param",
        f"max_footprint_bytes={1 << 40}",
    ]
    assert main(argv) == 2
    errors = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: probe latency.ladder.global not run")
    assert "exceeds 80% of free device memory" in errors[0]


def test_make_probe_without_a_gpu_is_one_line(tmp_path):
    from probes.engine.environment import driver_status

    if driver_status() is None:
        pytest.skip("a GPU is present")
    r = subprocess.run(
        ["make", "-s", "probe", "PROBE=latency", f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "use --backend simulator" in lines[0]


def test_make_help_lists_the_new_targets_and_gpu_choice():
    r = subprocess.run(
        ["make", "-s", "help", f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert "make selftest" in r.stdout and "DRY_RUN=1" in r.stdout and "GPU=N" in r.stdout


def test_make_gpu_exports_cuda_visible_devices_to_every_target():
    r = subprocess.run(
        ["make", "-s", "env", "GPU=3", f"PYTHON={sys.executable}"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert "CUDA_VISIBLE_DEVICES: 3" in r.stdout
