"""Issue 26, item 6: make passes user paths as one word (mt4g's own file names have spaces) and keeps the stdout of
data recipes clean (`make analyze ... ARGS=--json | python -m json.tool`)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / "tests" / "data" / "peer_formats"


def make(*args):
    # no -s: what make itself echoes must not reach stdout either
    # as a user types it, not as a sub-make of `make test` (which would print "Entering directory" on stdout)
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")}
    return subprocess.run(
        ["make", *args, f"PYTHON={sys.executable}"], capture_output=True, text=True, cwd=ROOT, timeout=120, env=env
    )


def test_analyze_a_file_whose_name_has_spaces_and_quotes_and_pipe_its_json(tmp_path):
    name = tmp_path / "H200 cp 'async' (1).csv"
    shutil.copy(PEER / "tidy_two_gpus.csv", name)
    r = make("analyze", f"FILE={name}", "ARGS=--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)  # the whole stdout is the document: make echoed nothing into it
    assert doc["input"]["file"] == str(name) and doc["tool"] == "gpu-probes"


def test_fleet_status_folder_with_spaces_is_one_word(tmp_path):
    out = tmp_path / "my fleet"
    r = make("fleet-status", f"FLEET_OUT={out}")
    assert r.returncode != 0 and r.stdout == ""
    assert f"error: {out}/fleet.json not found" in r.stderr
