"""`analyze ladder` on the issue-27 rules: gradual transitions and sub-levels in the JSON and the table; too many
points refused with one line."""

import argparse
import json

import numpy as np
import pandas as pd

from probes.analysis import ladder_args, ladder_cmd
from probes.analysis.levels import DetectionParams

KiB, MiB = 1024, 1024**2


def cli(argv, capsys):
    parser = argparse.ArgumentParser(prog="probes")
    ladder_args.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    rc = args.func(args)
    out, err = capsys.readouterr()
    return rc, out, err


def write_gradual(path):
    """Synthetic: flat L1, flat L2 at 280 then 299 cycles (merged plateaus), a ramp 12 -> 50 MiB into DRAM."""
    fp = np.unique(np.round(np.geomspace(2 * KiB, 2**32, 21 * 12 + 1)))
    x = np.log2(fp)
    frac = np.clip((x - np.log2(12 * MiB)) / (np.log2(50 * MiB) - np.log2(12 * MiB)), 0, 1)
    lat = np.where(fp <= 192 * KiB, 32.0, np.where(fp <= 6 * MiB, 280.0, 299.0 * (650 / 299) ** frac))
    pd.DataFrame({"gpu": "synthetic", "footprint_bytes": fp, "latency_cycles": lat}).to_csv(path, index=False)
    return path


def test_json_has_transition_span_and_sublevels(tmp_path, capsys):
    rc, out, err = cli(["analyze", "ladder", str(write_gradual(tmp_path / "g.csv")), "--json"], capsys)
    assert rc == 0, err
    doc = json.loads(out)
    l1, l2, dram = doc["levels"]
    assert l1["transition"] == "sharp" and "span_bytes_low" not in l1
    assert l2["transition"] == "gradual"
    assert l2["capacity_bytes_low"] <= 12 * MiB * 1.06 and l2["capacity_bytes_high"] < 14 * MiB
    assert l2["span_bytes_low"] <= 12 * MiB * 1.06 and l2["span_bytes_high"] >= 50 * MiB * 0.99
    assert [round(s["latency_cycles"]) for s in l2["sublevels"]] == [280, 299]
    assert "transition" not in dram and "capacity_bytes_low" not in dram
    assert any(n.startswith("two plateaus, merged into L2") for n in doc["ladders"][0]["notes"])


def test_table_says_gradual_and_merged(tmp_path, capsys):
    rc, out, _ = cli(["analyze", "ladder", str(write_gradual(tmp_path / "g.csv"))], capsys)
    assert rc == 0
    assert "(gradual)" in out and "note: gradual: L2 begins to miss at" in out
    assert "note: two plateaus, merged into L2: 280.0" in out


def test_too_many_points_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(ladder_cmd, "DetectionParams", lambda: DetectionParams(max_points=50))
    rc, out, err = cli(["analyze", "ladder", str(write_gradual(tmp_path / "g.csv"))], capsys)
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and "more than the 50 this analysis accepts" in err
