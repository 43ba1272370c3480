"""`analyze ladder` end to end through a tiny argparse parser (the lead wires it into `python -m probes`)."""

import argparse
import json
from pathlib import Path

import pytest

import probes
from probes.analysis import ladder_args

DATA = Path(__file__).parent / "data" / "peer_formats"


def cli(argv, capsys):
    parser = argparse.ArgumentParser(prog="probes")
    ladder_args.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    rc = args.func(args)
    out, err = capsys.readouterr()
    return rc, out, err


def test_json_document(capsys):
    rc, out, err = cli(["analyze", "ladder", str(DATA / "gpu_latency_fake.txt"), "--json"], capsys)
    assert rc == 0 and err == ""
    doc = json.loads(out)
    assert doc["tool_version"] == probes.__version__ and doc["input"]["format"] == "gpu-benches"
    assert "pelt-l2" in doc["method"]["name"]  # PELT (ruptures' recursion, vectorised in levels.pelt_l2)
    names = [lv["name"] for lv in doc["levels"]]
    assert names == ["L1", "L2", "DRAM"]
    first, last = doc["levels"][0], doc["levels"][-1]
    for key in (
        "latency_cycles",
        "latency_ci_low",
        "latency_ci_high",
        "capacity_bytes_low",
        "capacity_bytes_high",
        "n_points",
    ):
        assert key in first
    assert "capacity_bytes_low" not in last and "capacity_bytes_high" not in last
    assert first["capacity_bytes_low"] <= 64 * 1024 < first["capacity_bytes_high"]


@pytest.mark.parametrize(
    "name",
    [
        "tidy_two_gpus.csv",
        "FakeGPU X1 - L1 Size.txt",
        "FakeGPU X1 - L2 Latency.txt",
        "fake_mt4g.json",
        "results_fake.json",
        "gpu_latency_fake.txt",
    ],
)
def test_table_for_every_format(capsys, name):
    rc, out, err = cli(["analyze", "ladder", str(DATA / name)], capsys)
    assert rc == 0 and err == "" and "level" in out


def test_gpu_filter_and_plot(tmp_path, capsys):
    png = tmp_path / "ladder.png"
    rc, out, _ = cli(
        ["analyze", "ladder", str(DATA / "tidy_two_gpus.csv"), "--gpu", "Fake B", "--json", "--plot", str(png)], capsys
    )
    assert rc == 0 and json.loads(out)["gpu"] == "Fake B"
    first = png.read_bytes()
    assert first.startswith(b"\x89PNG")
    cli(["analyze", "ladder", str(DATA / "tidy_two_gpus.csv"), "--gpu", "Fake B", "--plot", str(png)], capsys)
    assert png.read_bytes() == first  # deterministic output


@pytest.mark.parametrize(
    "argv_tail, expect",
    [
        (["--gpu", "nope"], "expected GPU 'nope'"),
        (["--plot", "PLOT"], "expected exactly one ladder to plot"),
        (["--format", "gpu-benches"], "expected gpu-benches gpu-latency output"),
    ],
)
def test_errors_are_one_line_exit_2(tmp_path, capsys, argv_tail, expect):
    argv_tail = [str(tmp_path / "x.png") if a == "PLOT" else a for a in argv_tail]
    rc, out, err = cli(["analyze", "ladder", str(DATA / "tidy_two_gpus.csv"), *argv_tail], capsys)
    assert rc == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and expect in err and "Traceback" not in err


def test_missing_file(capsys, tmp_path):
    rc, _, err = cli(["analyze", "ladder", str(tmp_path / "absent.csv")], capsys)
    assert rc == 2 and "cannot read file" in err


def test_analysis_imports_no_cuda():
    import subprocess
    import sys

    code = (
        "import sys, probes.analysis.ladder_cmd, probes.analysis.validation, probes.analysis.plots; "
        "bad=[m for m in sys.modules if m.split('.')[0] in ('numba','cuda','pynvml')]; print(bad); "
        "sys.exit(1 if bad else 0)"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
